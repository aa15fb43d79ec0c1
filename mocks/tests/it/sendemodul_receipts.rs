//! The 08:00 receipt, captured by the SMTP capture server: a Friday upload gets its receipt
//! on Monday 08:00 (nothing on Saturday), an upload on the Wednesday before Easter on the
//! Tuesday after Easter Monday; before the slot nothing goes, at the slot exactly one mail
//! dated 08:00 Oslo, and never a second — not on a second call, not after a restart.

use crate::sendemodul_support;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use iplos_mocks::intake::{Channel, Intake, Submission, SubmissionFile};
use iplos_mocks::mail::{MailConfig, MailHandle, MailServer, Outbox};
use iplos_model::calendar::{Clock, VirtualClock};
use reqwest::StatusCode;
use sendemodul_support::*;

const CONTACT: &str = "iplos@hamar.kommune.test";

async fn capture(clock: &VirtualClock) -> MailHandle {
    MailServer::start(
        MailConfig {
            http_bind: None,
            ..MailConfig::default()
        },
        Arc::new(clock.clone()),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn friday_upload_is_receipted_monday_0800_exactly_once() {
    let env = start_at(config(), friday()).await;
    let mail = capture(&env.clock).await;
    let outbox = Outbox::to_capture(&mail, Arc::new(env.clock.clone()));
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    let file = iplos_file(2017, HAMAR, 5);
    let (s, page) = env
        .upload_file(Channel::Ordinary, &cookie, "040300_2017.xml", &file)
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    // A second file the same evening shares the receipt.
    env.clock.advance(Duration::hours(6)).unwrap();
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    let (s, _) = env
        .upload_file(Channel::Ordinary, &cookie, "040300_2017_v2.xml", &file)
        .await;
    assert_eq!(s, StatusCode::OK);

    // Saturday 08:00 Oslo (07:00 UTC): nothing.
    let saturday = Utc.with_ymd_and_hms(2018, 1, 13, 7, 0, 0).unwrap();
    env.clock.set(saturday).unwrap();
    let run = env
        .intake
        .send_due_receipts(&outbox, saturday)
        .await
        .unwrap();
    assert!(run.sent.is_empty());
    // Monday 07:59:59 Oslo: nothing.
    let before = Utc.with_ymd_and_hms(2018, 1, 15, 6, 59, 59).unwrap();
    env.clock.set(before).unwrap();
    assert!(env.intake.due_receipts(before).unwrap().is_empty());
    let run = env.intake.send_due_receipts(&outbox, before).await.unwrap();
    assert!(run.sent.is_empty());
    assert!(mail.messages(CONTACT).unwrap().is_empty());
    // Monday 08:00 Oslo: exactly one mail, dated 08:00 +0100.
    let monday = Utc.with_ymd_and_hms(2018, 1, 15, 7, 0, 0).unwrap();
    env.clock.set(monday).unwrap();
    let run = env.intake.send_due_receipts(&outbox, monday).await.unwrap();
    assert_eq!(run.sent.len(), 1);
    assert_eq!(run.sent[0].submissions.len(), 2);
    let msgs = mail.messages(CONTACT).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].date, "Mon, 15 Jan 2018 08:00:00 +0100");
    let m = mail.message(msgs[0].id).unwrap().unwrap();
    let text = m.text.unwrap();
    assert!(
        text.contains("040300_2017.xml, ankommet 12.01.2018 14:00:00"),
        "{text}"
    );
    assert!(
        text.contains("040300_2017_v2.xml, ankommet 12.01.2018 20:00:00"),
        "{text}"
    );
    assert!(text.contains("0403 Hamar"), "{text}");
    // Again: nothing more.
    let run = env.intake.send_due_receipts(&outbox, monday).await.unwrap();
    assert!(run.sent.is_empty());
    env.clock.advance(Duration::days(3)).unwrap();
    let run = env
        .intake
        .send_due_receipts(&outbox, env.clock.now())
        .await
        .unwrap();
    assert!(run.sent.is_empty());
    assert_eq!(mail.messages(CONTACT).unwrap().len(), 1);
    // The history page shows it sent.
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    let (_, hist) = env.get(Channel::Ordinary, "history", &cookie).await;
    assert!(hist.contains("15.01.2018 kl. 08:00:00"), "{hist}");
}

#[tokio::test]
async fn wednesday_before_easter_is_receipted_on_the_tuesday_after_easter_monday() {
    // Wednesday 28 March 2018, 15:00 Oslo (summer time since 25 March: 13:00 UTC).
    let wed = Utc.with_ymd_and_hms(2018, 3, 28, 13, 0, 0).unwrap();
    let env = start_at(config(), wed).await;
    let mail = capture(&env.clock).await;
    let outbox = Outbox::to_capture(&mail, Arc::new(env.clock.clone()));
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    let (s, page) = env
        .upload_file(Channel::Ordinary, &cookie, "korreksjon.xml", b"<Melding/>")
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(
        by_id(&page, "kvittering")
            .unwrap()
            .contains("03.04.2018 kl. 08:00:00")
    );
    // Every morning 08:00 from Thursday to Monday (holidays and a weekend): nothing.
    for day in 29..=31 {
        let t = Utc.with_ymd_and_hms(2018, 3, day, 6, 0, 0).unwrap();
        env.clock.set(t).unwrap();
        assert!(
            env.intake
                .send_due_receipts(&outbox, t)
                .await
                .unwrap()
                .sent
                .is_empty()
        );
    }
    for day in 1..=2 {
        let t = Utc.with_ymd_and_hms(2018, 4, day, 6, 0, 0).unwrap();
        env.clock.set(t).unwrap();
        assert!(
            env.intake
                .send_due_receipts(&outbox, t)
                .await
                .unwrap()
                .sent
                .is_empty()
        );
    }
    let tuesday = Utc.with_ymd_and_hms(2018, 4, 3, 6, 0, 0).unwrap();
    env.clock.set(tuesday).unwrap();
    let run = env
        .intake
        .send_due_receipts(&outbox, tuesday)
        .await
        .unwrap();
    assert_eq!(run.sent.len(), 1);
    let msgs = mail.messages(CONTACT).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].date, "Tue, 3 Apr 2018 08:00:00 +0200");
}

#[tokio::test]
async fn a_restart_does_not_send_a_receipt_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("intake.sqlite");
    let clock = VirtualClock::new(friday());
    let mail = capture(&clock).await;
    let outbox = Outbox::to_capture(&mail, Arc::new(clock.clone()));
    let sub = |name: &str| Submission {
        channel: Channel::Ordinary,
        kommunenr: HAMAR.into(),
        bydel: "00".into(),
        data_year: 2017,
        file_name: name.into(),
        file: SubmissionFile::Bytes(iplos_file(2017, HAMAR, 3)),
        contact_email: CONTACT.into(),
        contact_phone: None,
        feedback_key: "Hemmelig42".into(),
        arrived: None,
    };
    {
        let intake = Intake::open(&db, Arc::new(clock.clone())).unwrap();
        let a = intake.submit(sub("a.xml")).unwrap();
        assert_eq!(
            a.receipt_due,
            Utc.with_ymd_and_hms(2018, 1, 15, 7, 0, 0).unwrap()
        );
        clock.set(a.receipt_due).unwrap();
        assert_eq!(
            intake
                .send_due_receipts(&outbox, clock.now())
                .await
                .unwrap()
                .sent
                .len(),
            1
        );
    }
    // Reopen: the receipt is recorded, the file and report are there, the chain continues.
    let intake = Intake::open(&db, Arc::new(clock.clone())).unwrap();
    assert!(
        intake
            .send_due_receipts(&outbox, clock.now())
            .await
            .unwrap()
            .sent
            .is_empty()
    );
    let all = intake.all_submissions().unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].receipt_sent.is_some());
    assert!(all[0].summary.unwrap().notifications > 0);
    // The same complete file again (a kommune unsure it arrived) replaces the first: a
    // complete extract starts the chain anew, so no chain findings (issue 12, defect 8).
    let b = intake.submit(sub("b.xml")).unwrap();
    assert_eq!(b.summary.errors, 0, "{:?}", b.summary);
    assert_eq!(
        intake
            .current_submissions_of(&all[0].kommunenr, all[0].channel)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(mail.messages(CONTACT).unwrap().len(), 1);
}

#[tokio::test]
async fn the_ticker_sends_what_is_owed_without_being_called() {
    let env = start_at(config(), friday()).await;
    let mail = capture(&env.clock).await;
    let outbox = Arc::new(Outbox::to_capture(&mail, Arc::new(env.clock.clone())));
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    let (s, _) = env
        .upload_file(Channel::Ordinary, &cookie, "a.xml", b"<Melding/>")
        .await;
    assert_eq!(s, StatusCode::OK);
    env.clock
        .set(Utc.with_ymd_and_hms(2018, 1, 15, 7, 0, 0).unwrap())
        .unwrap();
    let ticker = iplos_mocks::intake::spawn_receipt_ticker(
        env.intake.clone(),
        outbox,
        Arc::new(env.clock.clone()),
    );
    let m = mail
        .wait_for(
            |m| m.subject.as_deref() == Some("Kvittering for mottatte IPLOS-data"),
            std::time::Duration::from_secs(15),
        )
        .await
        .unwrap();
    assert_eq!(m.date.as_deref(), Some("Mon, 15 Jan 2018 08:00:00 +0100"));
    // Recorded right after the SMTP server's answer.
    let mut recorded = false;
    for _ in 0..100 {
        if env.intake.all_submissions().unwrap()[0]
            .receipt_sent
            .is_some()
        {
            recorded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    ticker.abort();
    assert!(recorded);
    assert_eq!(mail.messages(CONTACT).unwrap().len(), 1);
}
