//! Error messages: each `errorCondition` the receiver produces, from a minimal faulty
//! message (reference sender faults over AMQP, or hand-made messages published in-process),
//! on the sender's `_error` queue with the properties DOMAIN §4 names.

use crate::receiver_support;
use std::time::Duration;

use fe2o3_amqp_types::messaging::Body;
use fe2o3_amqp_types::primitives::Value;
use iplos_mocks::nhn::{self, ErrorCondition};
use iplos_mocks::receiver::{Outcome, Stage};
use iplos_mocks::sender::{
    Answer, ErrorReport, Fault, Property, ReferenceSender, SignWith, build_message,
    read_error_message,
};
use iplos_mocks::servicebus::{ANNOTATION_DEAD_LETTER_DESCRIPTION, ANNOTATION_DEAD_LETTER_REASON};
use receiver_support::*;

async fn error(s: &mut ReferenceSender, iplos: &[u8], faults: &[Fault]) -> ErrorReport {
    match s.submit(iplos, faults).await.unwrap() {
        Answer::Error(e) => e,
        Answer::AppRec(a) => panic!(
            "expected an error message, got AppRec status {:?}: {:?}",
            a.apprec.status, a.apprec.errors
        ),
    }
}

fn assert_condition(e: &ErrorReport, c: ErrorCondition) {
    assert_eq!(e.condition, Some(c), "{e:#?}");
    assert!(!e.description.is_empty());
    assert!(
        e.receiver_timestamp
            .as_deref()
            .is_some_and(|t| nhn::check_timestamp(t).is_ok())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_missing_or_invalid_property_is_an_invalid_field_value() {
    let env = Env::start().await;
    let mut s = env.sender(OSLO).await;
    let doc = sample("0301");
    let cases: Vec<(Vec<Fault>, &str)> = vec![
        (vec![Fault::Omit(Property::ToHerId)], "toHerId"),
        (vec![Fault::Omit(Property::FromHerId)], "fromHerId"),
        (vec![Fault::Omit(Property::Subject)], "subject"),
        (
            vec![Fault::Omit(Property::ApplicationTimeStamp)],
            "applicationTimeStamp",
        ),
        (vec![Fault::Omit(Property::ContentType)], "content-type"),
        (
            vec![Fault::Set(
                Property::ApplicationTimeStamp,
                "03.01.2019 08:15".into(),
            )],
            "applicationTimeStamp",
        ),
        (
            vec![Fault::Set(Property::ContentType, "application/xml".into())],
            "content-type",
        ),
        (vec![Fault::Set(Property::ToHerId, "KPR".into())], "toHerId"),
        (
            vec![Fault::Set(Property::ToHerId, "134197".into())],
            "toHerId",
        ),
        (
            vec![Fault::Set(Property::FromHerId, "".into())],
            "fromHerId",
        ),
        (
            vec![
                Fault::Omit(Property::ToHerId),
                Fault::Omit(Property::Subject),
            ],
            "toHerId,subject",
        ),
    ];
    for (faults, data) in cases {
        let out = s.build(&doc, &faults).unwrap();
        s.send(&out).await.unwrap();
        let e = s
            .wait_answer(&out.message_id, Duration::from_secs(30))
            .await
            .unwrap();
        let e = e
            .error()
            .unwrap_or_else(|| panic!("{faults:?}: not an error"));
        assert_condition(e, ErrorCondition::InvalidFieldValue);
        assert_eq!(e.data, data, "{faults:?}: {e:#?}");
        for name in data.split(',') {
            assert!(e.description.contains(name), "{faults:?}: {e:#?}");
        }
        assert_eq!(
            e.original_message_id.as_deref(),
            Some(out.message_id.as_str())
        );
    }
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_message_has_an_empty_body_and_the_nhn_properties() {
    let env = Env::start().await;
    let f = fixture();
    let out = build_message(
        &f.identity(OSLO, KPR),
        &sample("0301"),
        &[Fault::Omit(Property::ToHerId)],
        chrono::Utc::now(),
    )
    .unwrap();
    env.broker
        .bus()
        .publish("131725_async", &out.message)
        .await
        .unwrap();
    let m = env.wait_for("9000301_error", 1).await.remove(0);
    // Empty: fe2o3 writes "no body" as an amqp-value null section (clients read None).
    assert!(
        matches!(
            &m.body,
            Body::Empty | Body::Value(fe2o3_amqp_types::messaging::AmqpValue(Value::Null))
        ),
        "{:?}",
        m.body
    );
    for p in [
        nhn::ORIGINAL_MESSAGE_ID,
        nhn::RECEIVER_TIMESTAMP,
        nhn::ERROR_CONDITION,
        nhn::ERROR_DESCRIPTION,
        nhn::ERROR_CONDITION_DATA,
    ] {
        assert!(nhn::app_prop_text(&m, p).is_some(), "{p} missing: {m:?}");
    }
    assert_eq!(
        nhn::app_prop_text(&m, nhn::ERROR_CONDITION).as_deref(),
        Some("transport:invalid-field-value")
    );
    assert_eq!(
        nhn::app_prop_text(&m, nhn::ORIGINAL_MESSAGE_ID).as_deref(),
        Some(out.message_id.as_str())
    );
    assert_eq!(
        nhn::correlation_id(&m).as_deref(),
        Some(out.message_id.as_str())
    );
    assert_eq!(
        nhn::app_prop_text(&m, nhn::FROM_HER_ID).as_deref(),
        Some("131725")
    );
    // Nothing went to the sender's ordinary queue.
    assert!(env.waiting("9000301_async").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_from_her_id_reply_to_finds_the_error_queue_else_dead_letter() {
    let env = Env::start().await;
    let f = fixture();
    let bus = env.broker.bus();
    let build = |faults: &[Fault]| {
        build_message(
            &f.identity(OSLO, KPR),
            &sample("0301"),
            faults,
            chrono::Utc::now(),
        )
        .unwrap()
    };
    // reply-to names Oslo's queue: the error goes to Oslo's error queue.
    let out = build(&[Fault::Omit(Property::FromHerId)]);
    bus.publish("131725_async", &out.message).await.unwrap();
    let e = read_error_message(&env.wait_for("9000301_error", 1).await[0]);
    assert_condition(&e, ErrorCondition::InvalidFieldValue);
    assert_eq!(e.data, "fromHerId");

    // reply-to in the RabbitMQ address form also works.
    let out = build(&[
        Fault::Set(Property::FromHerId, "x".into()),
        Fault::Set(Property::ReplyTo, format!("/exchange/{NS}/9004601_async")),
    ]);
    bus.publish("131725_async", &out.message).await.unwrap();
    let e = read_error_message(&env.wait_for("9004601_error", 1).await[0]);
    assert_eq!(
        e.original_message_id.as_deref(),
        Some(out.message_id.as_str())
    );

    // Neither: dead-lettered in the register's _dl queue with the reason.
    let out = build(&[
        Fault::Omit(Property::FromHerId),
        Fault::Omit(Property::ReplyTo),
    ]);
    bus.publish("131725_async", &out.message).await.unwrap();
    let dl = env.wait_for("131725_dl", 1).await.remove(0);
    let ann = format!("{:?}", dl.message_annotations);
    assert!(
        ann.contains(ANNOTATION_DEAD_LETTER_REASON) && ann.contains("rejected"),
        "{ann}"
    );
    assert!(
        ann.contains(ANNOTATION_DEAD_LETTER_DESCRIPTION) && ann.contains("fromHerId"),
        "{ann}"
    );
    let rec = env.store.message_by_id(&out.message_id).unwrap().unwrap();
    assert_eq!(rec.outcome, Some(Outcome::DeadLetter));
    assert!(env.waiting("131725_async").await.is_empty());
    // A fromHerId without queues and no reply-to: dead letter too.
    let out = build(&[
        Fault::Set(Property::FromHerId, "8888888".into()),
        Fault::Omit(Property::ReplyTo),
    ]);
    bus.publish("131725_async", &out.message).await.unwrap();
    env.wait_for("131725_dl", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_messages() {
    let env = Env::start().await;
    let mut s = env.sender(OSLO).await;
    let doc = sample("0301");
    for (faults, data) in [
        (
            vec![Fault::Set(Property::Subject, "DIALOG_INNBYGGER".into())],
            "subject",
        ),
        (vec![Fault::Payload(b"garbage, not CMS".to_vec())], "NotCms"),
        (vec![Fault::NotEncrypted], "NotEnveloped"),
        (
            vec![Fault::Content(
                b"<?xml version=\"1.0\"?><Melding xmlns=\"urn:x\"/>".to_vec(),
            )],
            "MsgHead",
        ),
    ] {
        let e = error(&mut s, &doc, &faults).await;
        assert_condition(&e, ErrorCondition::UnsupportedMessage);
        assert_eq!(e.data, data, "{faults:?}: {e:#?}");
    }
    s.close().await;

    // A body that is not one data section (hand-made).
    let f = fixture();
    let mut out = build_message(&f.identity(OSLO, KPR), &doc, &[], chrono::Utc::now()).unwrap();
    out.message.body = Body::Value(fe2o3_amqp_types::messaging::AmqpValue(Value::String(
        "IPLOS as a string".into(),
    )));
    env.broker
        .bus()
        .publish("131725_async", &out.message)
        .await
        .unwrap();
    let e = read_error_message(&env.wait_for("9000301_error", 1).await[0]);
    assert_condition(&e, ErrorCondition::UnsupportedMessage);
    assert_eq!(e.data, "body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_over_the_receivers_limit_is_unsupported() {
    let env = Env::start_with(Options {
        max_message_bytes: 64 * 1024,
        ..Options::default()
    })
    .await;
    let mut s = env.sender(OSLO).await;
    let e = error(&mut s, &sample("0301"), &[Fault::Oversized(65 * 1024)]).await;
    assert_condition(&e, ErrorCondition::UnsupportedMessage);
    assert_eq!(e.data, "TooLarge");
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_conditions() {
    let env = Env::start().await;
    let doc = sample("0301");
    let f = fixture();
    let cases: Vec<(u32, Vec<Fault>, ErrorCondition, &str)> = vec![
        (
            OSLO,
            vec![Fault::BadSignature],
            ErrorCondition::InvalidCertificate,
            "BadSignature",
        ),
        (
            OSLO,
            vec![Fault::NotSigned],
            ErrorCondition::InvalidCertificate,
            "NotSigned",
        ),
        (
            OSLO,
            vec![Fault::EncryptFor(f.bergen.encryption.cert.clone())],
            ErrorCondition::InvalidCertificate,
            "NotForUs",
        ),
        (
            WRONG_USAGE,
            vec![],
            ErrorCondition::InvalidCertificate,
            "WrongKeyUsage",
        ),
        (
            NO_CERT,
            vec![],
            ErrorCondition::MissingCertificate,
            "fromHerId=9100005",
        ),
        (
            EXPIRED,
            vec![],
            ErrorCondition::ExpiredCertificate,
            "Expired",
        ),
        (
            REVOKED,
            vec![],
            ErrorCondition::RevokedCertificate,
            "Revoked",
        ),
        (
            WRONG_CA,
            vec![],
            ErrorCondition::UnverifiedCertificate,
            "UnknownIssuer",
        ),
        // Signed with someone else's (valid) certificate.
        (
            OSLO,
            vec![Fault::SignWith(SignWith {
                cert: f.bergen.signing.cert.clone(),
                key: f.bergen.signing.key.clone(),
            })],
            ErrorCondition::SpoofingAttack,
            "SignerMismatch",
        ),
    ];
    for (h, faults, condition, data) in cases {
        let mut s = env.sender(h).await;
        let e = error(&mut s, &doc, &faults).await;
        assert_condition(&e, condition);
        assert_eq!(e.data, data, "{h} {faults:?}: {e:#?}");
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofing_by_from_her_id_or_msghead_sender() {
    let env = Env::start().await;
    let doc = sample("0301");
    let mut s = env.sender(OSLO).await;
    // Oslo's certificate, sent as Bergen: the signer is not Bergen's registered one. The
    // error goes to the claimed sender's error queue (fromHerId), as a receiver must.
    let out = s.build(&doc, &[Fault::FromHerId(her(BERGEN))]).unwrap();
    s.send(&out).await.unwrap();
    let e = read_error_message(&env.wait_for("9004601_error", 1).await[0]);
    assert_condition(&e, ErrorCondition::SpoofingAttack);
    assert_eq!(
        e.original_message_id.as_deref(),
        Some(out.message_id.as_str())
    );

    // Right certificate and fromHerId, but the MsgHead names another sender.
    let e = error(&mut s, &doc, &[Fault::MsgHeadSender(her(BERGEN))]).await;
    assert_condition(&e, ErrorCondition::SpoofingAttack);
    assert!(e.description.contains("9004601"), "{e:#?}");
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_well_formed_xml_and_entity_tricks() {
    let env = Env::start().await;
    let mut s = env.sender(OSLO).await;
    let doc = sample("0301");
    let bomb = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\"><!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>\n<mh:MsgHead xmlns:mh=\"http://www.kith.no/xmlstds/msghead/2006-05-24\">&lol3;</mh:MsgHead>";
    let xxe =
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>";
    for content in [
        b"this is not XML at all".to_vec(),
        b"<a><b></a>".to_vec(),
        bomb.as_bytes().to_vec(),
        xxe.as_bytes().to_vec(),
        vec![0xff, 0xfe, 0x00, 0x3c],
    ] {
        let e = error(&mut s, &doc, &[Fault::Content(content.clone())]).await;
        assert_condition(&e, ErrorCondition::NotWellFormedXml);
        assert!(!e.description.contains("root:"), "{e:#?}");
    }
    // An undeclared entity inside the IPLOS content passes the envelope's reader and is
    // refused by the IPLOS check (WF04): AppRec status 2, T01.
    let bad_iplos =
        String::from_utf8(doc.clone())
            .unwrap()
            .replacen("<Kommune ", "<Kommune x=\"&lol;\" ", 1);
    let a = s.submit(bad_iplos.as_bytes(), &[]).await.unwrap();
    let a = a.apprec().expect("an AppRec");
    assert_eq!(
        a.apprec.status,
        iplos_model::message::AppRecStatus::Rejected
    );
    assert_eq!(a.apprec.errors[0].code, "T01");
    assert!(
        a.apprec.errors[0]
            .details
            .as_deref()
            .unwrap()
            .starts_with("WF04 ")
    );
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_encryption_certificate_for_the_receipt() {
    let env = Env::start().await;
    let mut s = env.sender(NO_ENCRYPTION).await;
    let e = error(&mut s, &sample("4601"), &[]).await;
    assert_condition(&e, ErrorCondition::MissingCertificate);
    assert!(e.description.contains("receipt"), "{e:#?}");
    // The verdict itself was made (status 1), only the receipt could not be encrypted.
    let rec = env.store.messages().unwrap().pop().unwrap();
    assert_eq!(rec.stage, Some(Stage::Iplos));
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_error_after_repeated_failures() {
    // The receiver "dies" after storing the message; with max_attempts 1, the second
    // attempt after the restart gives up with transport:internal-error.
    let env = Env::start_with(Options {
        failpoint: Some(iplos_mocks::receiver::Failpoint::AfterStore),
        max_attempts: 1,
        ..Options::default()
    })
    .await;
    let f = fixture();
    let out = build_message(
        &f.identity(OSLO, KPR),
        &sample("0301"),
        &[],
        chrono::Utc::now(),
    )
    .unwrap();
    env.broker
        .bus()
        .publish("131725_async", &out.message)
        .await
        .unwrap();
    let mut env = env;
    tokio::time::timeout(Duration::from_secs(30), env.receiver.crashed())
        .await
        .unwrap();
    let env = env
        .restart(Options {
            max_attempts: 1,
            ..Options::default()
        })
        .await;
    let e = read_error_message(&env.wait_for("9000301_error", 1).await[0]);
    assert_condition(&e, ErrorCondition::InternalError);
    assert_eq!(
        e.original_message_id.as_deref(),
        Some(out.message_id.as_str())
    );
    let rec = env.store.message_by_id(&out.message_id).unwrap().unwrap();
    assert_eq!(rec.attempts, 2);
    assert_eq!(rec.stage, Some(Stage::Internal));
}

/// Every condition of DOMAIN §4 is produced by one of the tests above.
#[test]
fn every_condition_is_covered() {
    let src = include_str!("receiver_errors.rs");
    use strum::IntoEnumIterator;
    for c in ErrorCondition::iter() {
        let variant = format!("{c:?}");
        assert!(
            src.matches(&format!("ErrorCondition::{variant}")).count() >= 1,
            "{variant} is not asserted"
        );
    }
}
