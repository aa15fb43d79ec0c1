//! The outbox sends real SMTP (lettre) to the capture server and to a second one; the
//! national side's mails arrive with the seeds' texts, Oslo dates and the receipt slot.

use crate::mail_support;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use iplos_mocks::filsluse::mails::{self, FilsluseLinks, FilsluseUser, NewFile};
use iplos_mocks::mail::national::{self, Arrival, Receipt};
use iplos_mocks::mail::{
    CapturedMessage, MailAddress, MailConfig, MailError, MailHandle, Outbox, OutboxConfig,
    OutgoingMail,
};
use iplos_model::calendar::{Clock, VirtualClock};
use mail_support::{PATIENCE, http_get, http_json, start_with};

fn oslo(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    iplos_model::calendar::OSLO
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn only_message(handle: &MailHandle, to: &str) -> CapturedMessage {
    handle
        .wait_for(|m| m.is_for(to), PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("no mail for {to}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_sends_to_the_capture_server_and_to_another() {
    let t = Utc.with_ymd_and_hms(2018, 1, 15, 7, 0, 0).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(VirtualClock::new(t));
    let a = start_with(MailConfig::default(), Arc::clone(&clock)).await;
    let b = start_with(MailConfig::default(), Arc::clone(&clock)).await;
    let to_a = Outbox::to_capture(&a, Arc::clone(&clock));
    let to_b = Outbox::new(
        OutboxConfig::new("127.0.0.1", b.smtp_addr().port()),
        Arc::clone(&clock),
    );
    let mail = OutgoingMail {
        from: MailAddress::named("Statistisk sentralbyrå", "iplos@ssb.test"),
        to: vec![
            MailAddress::named("Postmottak Hamar", "postmottak@hamar.kommune.test"),
            MailAddress::new("kopi@hamar.kommune.test"),
        ],
        subject: "Kvittering: blåbærsyltetøy".into(),
        body: "Første linje\n.en linje med punktum først\n\nSiste linje æøå ÆØÅ\n".into(),
        date: None,
        message_id: None,
    };
    let sent_a = to_a.send(&mail).await.unwrap();
    let sent_b = to_b.send(&mail).await.unwrap();
    assert!(sent_a.reply.starts_with("250 "), "{}", sent_a.reply);
    // Deterministic: the same mail at the same instant from a fresh outbox, the same id.
    assert_eq!(sent_a.message_id, sent_b.message_id);
    assert_ne!(
        to_a.send(&mail).await.unwrap().message_id,
        sent_a.message_id
    );
    assert_eq!(sent_a.date, t);

    for (server, sent) in [(&a, &sent_a), (&b, &sent_b)] {
        let base = server.http_url().unwrap();
        let (_, list) = http_json(&format!(
            "{base}/mailboxes/postmottak@hamar.kommune.test/messages"
        ))
        .await;
        let id = list[0]["id"].as_u64().expect("captured");
        assert_eq!(
            list.as_array().unwrap().len(),
            if std::ptr::eq(server, &a) { 2 } else { 1 }
        );
        let (_, m) = http_json(&format!("{base}/messages/{id}")).await;
        assert_eq!(m["envelope"]["from"], "iplos@ssb.test");
        assert_eq!(
            m["envelope"]["to"],
            serde_json::json!(["postmottak@hamar.kommune.test", "kopi@hamar.kommune.test"])
        );
        assert_eq!(m["helo"], "ssb.iplos-harness.invalid");
        assert_eq!(m["subject"], "Kvittering: blåbærsyltetøy");
        assert_eq!(m["from"], "Statistisk sentralbyrå <iplos@ssb.test>");
        assert_eq!(m["date"], "Mon, 15 Jan 2018 08:00:00 +0100");
        assert_eq!(m["message_id"], sent.message_id.as_str());
        assert_eq!(m["received"], "2018-01-15T07:00:00Z");
        let header = |name: &str| {
            m["headers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["name"].as_str().unwrap().eq_ignore_ascii_case(name))
                .map(|h| h["value"].as_str().unwrap().to_string())
        };
        assert_eq!(header("MIME-Version").as_deref(), Some("1.0"));
        assert_eq!(
            header("Content-Type").as_deref(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            header("Content-Transfer-Encoding").as_deref(),
            Some("quoted-printable")
        );
        let to = header("To").unwrap();
        assert_eq!(
            to,
            "\"Postmottak Hamar\" <postmottak@hamar.kommune.test>, kopi@hamar.kommune.test"
        );
        assert_eq!(
            m["text"],
            "Første linje\r\n.en linje med punktum først\r\n\r\nSiste linje æøå ÆØÅ\r\n"
        );
        let (_, eml) = http_get(&format!("{base}/messages/{id}.eml")).await;
        assert_eq!(eml, sent.bytes, "captured bytes are the bytes sent");
        assert_eq!(server.mailboxes().unwrap().len(), 2);
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_errors_are_reported() {
    let clock: Arc<dyn Clock> = Arc::new(iplos_model::calendar::SystemClock);
    // Nothing listens on a port we just released.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let outbox = Outbox::new(OutboxConfig::new("127.0.0.1", port), Arc::clone(&clock));
    let mail = OutgoingMail {
        from: MailAddress::new("iplos@ssb.test"),
        to: vec![MailAddress::new("x@y.no")],
        subject: "s".into(),
        body: "b".into(),
        date: None,
        message_id: None,
    };
    let err = outbox.send(&mail).await.unwrap_err();
    assert!(matches!(err, MailError::Send { .. }), "{err}");
    let bad = OutgoingMail {
        to: vec![MailAddress::new("not an address")],
        ..mail
    };
    let err = outbox.send(&bad).await.unwrap_err();
    assert!(matches!(err, MailError::Address { .. }), "{err}");
}

fn receipt(arrived: DateTime<Utc>) -> Receipt {
    Receipt {
        contact_email: "iplos.kontakt@hamar.kommune.test".into(),
        kommunenr: "0403".into(),
        bydel: "00".into(),
        kommune_name: "Hamar".into(),
        data_year: 2017,
        arrivals: vec![Arrival {
            file_name: "040300_iplos2017.dat".into(),
            arrived,
        }],
    }
}

/// Builds the receipt, lets the virtual clock reach its slot, sends it through the
/// outbox and returns what the capture server got.
async fn receipt_through_the_outbox(arrived: DateTime<Utc>) -> CapturedMessage {
    let clock = VirtualClock::new(arrived);
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let server = start_with(MailConfig::default(), Arc::clone(&shared)).await;
    let outbox = Outbox::to_capture(&server, shared);
    let mail = national::receipt_mail(&receipt(arrived)).unwrap();
    let due = mail.date.expect("a receipt is dated at its slot");
    clock.set(due).unwrap();
    outbox.send(&mail).await.unwrap();
    let m = only_message(&server, "iplos.kontakt@hamar.kommune.test").await;
    server.shutdown().await.unwrap();
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_for_a_friday_arrival_is_stamped_monday_0800() {
    // Friday 12 January 2018, 14:30 Oslo.
    let arrived = oslo(2018, 1, 12, 14, 30);
    let m = receipt_through_the_outbox(arrived).await;
    assert_eq!(m.date.as_deref(), Some("Mon, 15 Jan 2018 08:00:00 +0100"));
    assert_eq!(
        m.received,
        Utc.with_ymd_and_hms(2018, 1, 15, 7, 0, 0).unwrap()
    );
    assert_eq!(m.envelope.from, "iplos@ssb.test");
    assert_eq!(
        m.from.as_deref(),
        Some("Statistisk sentralbyrå <iplos@ssb.test>")
    );
    assert_eq!(m.subject.as_deref(), Some(national::RECEIPT_SUBJECT));
    let text = m.text.unwrap();
    assert!(
        text.contains("- 040300_iplos2017.dat, ankommet 12.01.2018 14:30:00\r\n"),
        "{text}"
    );
    assert!(text.contains("fra kommune 0403 Hamar, bydel 00"), "{text}");
    assert!(text.contains("Data er ankommet og lastet til registeret i SSB"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_for_maundy_thursday_2018_is_stamped_tuesday_3_april() {
    // Skjærtorsdag 29 March 2018, 10:00 Oslo; Good Friday, Easter and Easter Monday follow.
    let arrived = oslo(2018, 3, 29, 10, 0);
    let m = receipt_through_the_outbox(arrived).await;
    assert_eq!(m.date.as_deref(), Some("Tue, 3 Apr 2018 08:00:00 +0200"));
    assert_eq!(
        m.received,
        Utc.with_ymd_and_hms(2018, 4, 3, 6, 0, 0).unwrap()
    );
    assert!(m.text.unwrap().contains("ankommet 29.03.2018 10:00:00"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filsluse_mails_arrive_with_the_seed_texts_and_configured_links() {
    let requested = oslo(2017, 2, 6, 10, 55);
    let clock = VirtualClock::new(requested);
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let server = start_with(MailConfig::default(), Arc::clone(&shared)).await;
    let outbox = Outbox::to_capture(&server, shared);
    let links = FilsluseLinks::new("http://127.0.0.1:18443");
    let user = FilsluseUser::for_kommune("postmottak@hamar.kommune.test", "Hamar kommune");

    // New user.
    outbox
        .send(&mails::new_user_mail(&user, &links))
        .await
        .unwrap();
    let m = only_message(&server, "postmottak@hamar.kommune.test").await;
    assert_eq!(
        m.from.as_deref(),
        Some("Statistisk sentralbyrå <MoveITFilsluse@ssb.test>")
    );
    assert_eq!(
        m.subject.as_deref(),
        Some("Ny bruker for IPLOS tilbakemelding fra Statistisk sentralbyrå")
    );
    assert_eq!(m.date.as_deref(), Some("Mon, 6 Feb 2017 10:55:00 +0100"));
    let text = m.text.unwrap().replace("\r\n", "\n");
    assert!(text.starts_with("Velkommen til Statistisk sentralbyrå!\n"));
    assert!(text.contains(
        "En konto har blitt opprettet for IPLOS-kontakt i din kommune, \
         IPLOS-Tilbakemelding Hamar kommune. Kontoen gir tilgang"
    ));
    assert!(text.contains("Brukernavnet til kontoen er: postmottak@hamar.kommune.test\n"));
    assert!(text.contains(
        "\nhttp://127.0.0.1:18443/human.aspx?OrgID=5281&arg12=passchangerequest&arg11=newuser\n"
    ));
    assert!(text.contains("Epost om filnedlasting vil ha emne: New File Notifcation."));

    // Password, 60 minutes.
    let mark = server.store().latest_id();
    let pw =
        mails::password_mail(&user, &links, "13253129385627901837664078221044", requested).unwrap();
    assert_eq!(pw.expires_at, requested + chrono::Duration::minutes(60));
    outbox.send(&pw.mail).await.unwrap();
    let m = server
        .wait_for_after(
            mark,
            |m| m.is_for("postmottak@hamar.kommune.test"),
            PATIENCE,
        )
        .await
        .unwrap();
    assert_eq!(
        m.subject.as_deref(),
        Some("IPLOS-tilbakemelding: Nytt passord - NB! Utløper på tid")
    );
    let text = m.text.unwrap().replace("\r\n", "\n");
    assert!(text.starts_with(
        "Til IPLOS-kontakt/innsendingsansvarlig for IPLOS i kommunen\n\n\
         Passord må settes innen 60 minutter!\n"
    ));
    assert!(text.contains(
        "Du har bedt om nytt passord til brukerkonto for på http://127.0.0.1:18443 hos \
         Statistisk sentralbyrå."
    ));
    assert!(text.contains(&format!("\n{}\n", pw.link)));
    assert_eq!(
        pw.link,
        "http://127.0.0.1:18443/human.aspx?orgid=5281&transaction=signon&pxc=13253129385627901837664078221044"
    );

    // New file, an hour later.
    clock.advance(chrono::Duration::hours(1)).unwrap();
    let mark = server.store().latest_id();
    let file = NewFile {
        file_name: "040300_iplos.zip".into(),
        uploaded_at: clock.now(),
        size: 1_234_567,
        file_id: 330_483_371,
        tracking_id: 330_435_303,
    };
    outbox
        .send(&mails::new_file_mail(&user, &links, &file))
        .await
        .unwrap();
    let m = server
        .wait_for_after(
            mark,
            |m| m.is_for("postmottak@hamar.kommune.test"),
            PATIENCE,
        )
        .await
        .unwrap();
    assert_eq!(m.subject.as_deref(), Some(mails::NEW_FILE_SUBJECT));
    assert_eq!(m.date.as_deref(), Some("Mon, 6 Feb 2017 11:55:00 +0100"));
    let text = m.text.unwrap().replace("\r\n", "\n");
    for line in [
        "1 New File Available\n",
        "\n/Home/Ekstern/iplos/postmottak@hamar.kommune.test/frassb\n",
        "\nFile Name: 040300_iplos.zip\n",
        "\nDate and Time: 06.02.2017 11:55:00\n",
        "\nSize: 1,234,567\n",
        "\nUploaded By: frassb\n",
        "\nTracking ID: 330435303\n",
        "\nLink: http://127.0.0.1:18443/human.aspx?OrgID=5281&Arg12=fileview&Arg06=330483371&Arg07=330435303&username=postmottak%40hamar.kommune.test\n",
        "\nIntegrity Verified: YES\n",
        "\nRegards,\nStatistisk sentralbyrå\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert_eq!(
        server
            .messages("postmottak@hamar.kommune.test")
            .unwrap()
            .len(),
        3
    );
    server.shutdown().await.unwrap();
}
