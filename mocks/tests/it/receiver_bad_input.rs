//! Malformed input inside the envelope: garbage, blobs that only look like CMS, entity
//! tricks, deep nesting, 200 MB messages. The broker and the receiver stay up, each message
//! gets its answer, other senders are unaffected.

use crate::receiver_support;
use std::time::{Duration, Instant};

use iplos_mocks::nhn::ErrorCondition;
use iplos_mocks::sender::{Answer, Fault, SendError};
use iplos_mocks::servicebus::Limits;
use iplos_model::message::AppRecStatus;
use receiver_support::*;

fn deep(levels: usize) -> Vec<u8> {
    let mut s =
        String::from("<mh:MsgHead xmlns:mh=\"http://www.kith.no/xmlstds/msghead/2006-05-24\">");
    for _ in 0..levels {
        s.push_str("<a>");
    }
    for _ in 0..levels {
        s.push_str("</a>");
    }
    s.push_str("</mh:MsgHead>");
    s.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_payloads_get_answers_and_do_not_disturb_other_senders() {
    let env = Env::start().await;
    let doc = sample("4601");
    let hostile: Vec<(Vec<Fault>, &str)> = vec![
        (
            vec![Fault::Payload(vec![])],
            "transport:unsupported-message",
        ),
        (
            vec![Fault::Payload((0..=255u8).cycle().take(100_000).collect())],
            "transport:unsupported-message",
        ),
        // A DER header claiming a 4 GB SEQUENCE, then nothing.
        (
            vec![Fault::Payload(vec![
                0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x06,
            ])],
            "transport:unsupported-message",
        ),
        // A real EnvelopedData prefix cut short.
        (
            vec![Fault::Payload(vec![
                0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03, 0xa0,
            ])],
            "transport:unsupported-message",
        ),
        (
            vec![Fault::Content(deep(100_000))],
            "transport:not-well-formed-xml",
        ),
        (
            vec![Fault::Content(vec![b'<'; 1_000_000])],
            "transport:not-well-formed-xml",
        ),
        (
            vec![Fault::Content(Vec::new())],
            "transport:not-well-formed-xml",
        ),
    ];
    let good = env.sender(OSLO).await;
    let good_task = tokio::spawn(async move {
        let mut good = good;
        let mut statuses = Vec::new();
        for seed in 0..3 {
            // Independent samples: only the first starts the chain correctly (the others
            // are status 3); what matters here is that each is answered.
            let a = good
                .submit(&iplos_mocks::sender::sample_iplos("0301", YEAR, seed), &[])
                .await
                .unwrap();
            statuses.push(a.apprec().unwrap().apprec.status.clone());
        }
        good.close().await;
        statuses
    });
    let mut bad = env.sender(BERGEN).await;
    for (faults, condition) in hostile {
        match bad.submit(&doc, &faults).await.unwrap() {
            Answer::Error(e) => assert_eq!(e.condition_text, condition, "{faults:.60?}: {e:#?}"),
            Answer::AppRec(a) => panic!("{faults:.60?}: AppRec {:?}", a.apprec.errors),
        }
    }
    bad.close().await;
    let statuses = good_task.await.unwrap();
    assert_eq!(statuses[0], AppRecStatus::Ok);
    assert_eq!(statuses.len(), 3, "every good message answered");
    // Still serving.
    let mut s = env.sender(BERGEN).await;
    let a = s.submit(&doc, &[]).await.unwrap();
    assert_eq!(a.apprec().unwrap().apprec.status, AppRecStatus::Ok);
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_message_over_the_brokers_limit_is_refused_on_the_link() {
    // NHN-like broker limit (100 MB): the link refuses the message; nothing reaches the
    // receiver; the next message goes through.
    let env = Env::start().await;
    let mut s = env.sender(OSLO).await;
    let out = s
        .build(&sample("0301"), &[Fault::Oversized(200 * 1024 * 1024)])
        .unwrap();
    match s.send(&out).await {
        Err(SendError::NotAccepted(why)) => {
            assert!(why.contains("MessageSizeExceeded"), "{why}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    drop(out);
    s.close().await;
    let mut s = env.sender(OSLO).await;
    let a = s.submit(&sample("0301"), &[]).await.unwrap();
    assert_eq!(a.apprec().unwrap().apprec.status, AppRecStatus::Ok);
    s.close().await;
    assert!(env.store.messages().unwrap().len() == 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_message_within_the_brokers_limit_gets_an_error_and_others_go_on() {
    let env = Env::start_with(Options {
        limits: Limits {
            max_message_size: 256 * 1024 * 1024,
            ..Limits::default()
        },
        max_message_bytes: 100 * 1024 * 1024,
        ..Options::default()
    })
    .await;
    let mut big = env.sender(BERGEN).await;
    let out = big
        .build(&sample("4601"), &[Fault::Oversized(200 * 1024 * 1024)])
        .unwrap();
    let started = Instant::now();
    big.send(&out).await.unwrap();
    eprintln!("200 MB sent in {:?}", started.elapsed());
    // Meanwhile another kommune is answered.
    let mut s = env.sender(OSLO).await;
    let a = s.submit(&sample("0301"), &[]).await.unwrap();
    assert_eq!(a.apprec().unwrap().apprec.status, AppRecStatus::Ok);
    s.close().await;
    let e = big
        .wait_answer(&out.message_id, Duration::from_secs(120))
        .await
        .unwrap();
    eprintln!("200 MB answered after {:?}", started.elapsed());
    let e = e.error().expect("an error message");
    assert_eq!(e.condition, Some(ErrorCondition::UnsupportedMessage));
    assert_eq!(e.data, "TooLarge");
    big.close().await;
}
