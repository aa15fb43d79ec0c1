//! AppRecs: each status (1, 2, 3) and each error code the receiver produces, from a
//! minimal faulty message sent by the reference sender over AMQP.

use crate::receiver_support;
use iplos_mocks::receiver::{MessageState, Outcome, Stage};
use iplos_mocks::sender::{Answer, Fault, ReceivedAppRec, ReferenceSender, melding_xml};
use iplos_model::message::{AppRecStatus, Melding, Status};
use receiver_support::*;

async fn apprec(sender: &mut ReferenceSender, iplos: &[u8], faults: &[Fault]) -> ReceivedAppRec {
    match sender.submit(iplos, faults).await.unwrap() {
        Answer::AppRec(a) => *a,
        Answer::Error(e) => panic!("expected an AppRec, got an error message: {e:?}"),
    }
}

/// The AppRec for one message from Oslo to a fresh receiver (each case starts the kommune's
/// chain anew).
async fn fresh(iplos: &[u8], faults: &[Fault]) -> ReceivedAppRec {
    let env = Env::start().await;
    let mut s = env.sender(OSLO).await;
    let a = apprec(&mut s, iplos, faults).await;
    s.close().await;
    a
}

fn codes(a: &ReceivedAppRec) -> Vec<String> {
    a.apprec.errors.iter().map(|e| e.code.clone()).collect()
}

fn texts(a: &ReceivedAppRec) -> String {
    a.apprec
        .errors
        .iter()
        .map(|e| format!("{} {}", e.code, e.details.as_deref().unwrap_or("")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn melding() -> Melding {
    iplos_mocks::sender::sample_melding("0301", YEAR, 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_message_gets_status_1_signed_and_encrypted_for_the_sender() {
    let env = Env::start().await;
    let mut s = env.sender(OSLO).await;
    let out = s.build(&sample("0301"), &[]).unwrap();
    s.send(&out).await.unwrap();
    let answer = s
        .wait_answer(&out.message_id, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let a = answer.apprec().expect("an AppRec").clone();
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{}", texts(&a));
    assert!(a.apprec.errors.is_empty());
    assert_eq!(a.correlation_id.as_deref(), Some(out.message_id.as_str()));
    assert_eq!(a.subject.as_deref(), Some("APPREC"));
    assert_eq!(a.apprec.original.id, out.msg_id);
    assert_eq!(a.apprec.original.msg_type.v, "IPLOS");
    assert_eq!(a.apprec.sender.her_id.as_deref(), Some("131725"));
    assert_eq!(a.apprec.receiver.her_id.as_deref(), Some("9000301"));
    assert_eq!(a.apprec.receiver.name, "Oslo kommune");
    assert!(
        std::str::from_utf8(&a.xml)
            .unwrap()
            .contains("http://www.kith.no/xmlstds/apprec/2012-02-15")
    );
    s.close().await;

    // The run store has the message, its verdict and one reply.
    let rec = env.store.message_by_id(&out.message_id).unwrap().unwrap();
    assert_eq!(rec.state, MessageState::Checked);
    assert_eq!(rec.outcome, Some(Outcome::AppRec));
    assert_eq!(rec.status.as_deref(), Some("1"));
    assert_eq!(rec.stage, Some(Stage::Iplos));
    assert_eq!(rec.reply_queue.as_deref(), Some("9000301_async"));
    assert_eq!(rec.deliveries, 1);
    assert_eq!(rec.replies_sent, 1);
    let verdict: serde_json::Value = serde_json::from_str(rec.verdict.as_deref().unwrap()).unwrap();
    assert_eq!(verdict["report"]["conformant"], true);
    assert_eq!(verdict["answer"]["kind"], "app-rec");
    // Nothing left in the register's queue.
    assert!(env.waiting("131725_async").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_register_her_ids_answer_as_themselves() {
    let env = Env::start().await;
    let mut s = env.sender_to(BERGEN, KPR_PROD).await;
    let a = apprec(&mut s, &sample("4601"), &[]).await;
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{}", texts(&a));
    assert_eq!(a.apprec.sender.her_id.as_deref(), Some("134197"));
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_2_for_reject_message_findings_with_t01_t02_t10_and_x99() {
    // T02: a fixed attribute with another value (XSD07).
    let mut m = melding();
    m.header.versjon = "55.0.0".into();
    let a = fresh(&melding_xml(&m), &[]).await;
    assert_eq!(a.apprec.status, AppRecStatus::Rejected);
    assert_eq!(codes(&a), ["T02"], "{}", texts(&a));
    assert!(
        a.apprec.errors[0]
            .details
            .as_deref()
            .unwrap()
            .starts_with("XSD07 ")
    );

    // T01: a parser limit of the IPLOS check (an element name longer than 1000 bytes;
    // well-formed, so the MsgHead reader lets it through).
    let xml = String::from_utf8(sample("0301")).unwrap();
    let long = "x".repeat(1500);
    let xml = xml.replacen("<Kommune ", &format!("<{long}/><Kommune "), 1);
    let a = fresh(xml.as_bytes(), &[]).await;
    assert_eq!(a.apprec.status, AppRecStatus::Rejected);
    assert_eq!(codes(&a)[0], "T01", "{}", texts(&a));
    assert!(
        a.apprec.errors[0]
            .details
            .as_deref()
            .unwrap()
            .starts_with("WF05 ")
    );

    // T10: the document is another IPLOS element than Melding (IPL28).
    let xml = "<Kommune xmlns=\"http://www.npr.no/xmlstds/56_0_0_ipl\" kommuneNr=\"0301\"/>";
    let a = fresh(xml.as_bytes(), &[]).await;
    assert_eq!(a.apprec.status, AppRecStatus::Rejected, "{}", texts(&a));
    assert!(codes(&a).contains(&"T10".to_string()), "{}", texts(&a));

    // X99: a content rule that discards the message (IPL22: kommune not valid in the year).
    let mut m = melding();
    m.kommuner = vec!["1601".into()];
    let a = fresh(&melding_xml(&m), &[]).await;
    assert_eq!(a.apprec.status, AppRecStatus::Rejected);
    assert_eq!(codes(&a), ["X99"], "{}", texts(&a));
    assert!(
        a.apprec.errors[0]
            .details
            .as_deref()
            .unwrap()
            .starts_with("IPL22 ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_2_from_the_msghead_with_e10_e21_t10() {
    let doc = sample("0301");

    let a = fresh(&doc, &[Fault::MsgId("not-a-guid".into())]).await;
    assert_eq!(a.apprec.status, AppRecStatus::Rejected);
    assert_eq!(codes(&a), ["E10"], "{}", texts(&a));
    assert_eq!(a.apprec.original.id, "not-a-guid");

    let a = fresh(&doc, &[Fault::WrongReceiver(her(122_612))]).await;
    assert_eq!(a.apprec.status, AppRecStatus::Rejected);
    assert_eq!(codes(&a), ["E21"], "{}", texts(&a));
    assert!(texts(&a).contains("122612"));

    let a = fresh(&doc, &[Fault::MsgType("DIALOG".into())]).await;
    assert_eq!(a.apprec.status, AppRecStatus::Rejected);
    assert_eq!(codes(&a), ["T10"], "{}", texts(&a));

    // T02: a MsgHead without a required part (no Sender organisation name is fine, no
    // MIGversion is not).
    let head = String::from_utf8(
        iplos_model::message::write_msghead(
            &iplos_model::message::MsgHead::iplos(
                "6f1a3c1e-0000-4000-8000-00000000aaaa",
                "2024-12-02T08:00:00+01:00",
                iplos_model::message::Organisation::new("Oslo kommune", "9000301"),
                iplos_model::message::Organisation::new("KPR", "131725"),
            ),
            &doc,
        )
        .unwrap(),
    )
    .unwrap();
    let cut = head.replace("<mh:MIGversion>v1.2 2006-05-24</mh:MIGversion>", "");
    let a = fresh(&doc, &[Fault::Content(cut.into_bytes())]).await;
    assert_eq!(a.apprec.status, AppRecStatus::Rejected);
    assert_eq!(codes(&a), ["T02"], "{}", texts(&a));
    assert!(texts(&a).contains("MIGversion"));
    // The document referenced by FileReference instead of included: T10.
    let a_start = head.find("<mh:Content>").unwrap();
    let a_end = head.find("</mh:Content>").unwrap() + "</mh:Content>".len();
    let by_reference = format!(
        "{}<mh:FileReference>iplos-0301.xml</mh:FileReference>{}",
        &head[..a_start],
        &head[a_end..]
    );
    let a = fresh(&doc, &[Fault::Content(by_reference.into_bytes())]).await;
    assert_eq!(a.apprec.status, AppRecStatus::Rejected);
    assert_eq!(codes(&a), ["T10"], "{}", texts(&a));
    // Without MsgId the receipt names the AMQP message-id as the original.
    let cut = head.replace(
        "<mh:MsgId>6f1a3c1e-0000-4000-8000-00000000aaaa</mh:MsgId>",
        "",
    );
    let env = Env::start().await;
    let mut s = env.sender(OSLO).await;
    let out = s.build(&doc, &[Fault::Content(cut.into_bytes())]).unwrap();
    s.send(&out).await.unwrap();
    let a = s
        .wait_answer(&out.message_id, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let a = a.apprec().unwrap();
    assert_eq!(codes(a), ["E10"], "{}", texts(a));
    assert_eq!(a.apprec.original.id, out.message_id);
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_3_for_row_level_errors_with_e30_e31_x99_and_rule_ids() {
    // E31: an invalid fødselsnummer (IPL18, the row is discarded).
    let mut m = melding();
    m.notifikasjoner[1].events[0].bruker.fid = "01018012345".into();
    let a = fresh(&melding_xml(&m), &[]).await;
    assert_eq!(a.apprec.status, AppRecStatus::OkWithErrors, "{}", texts(&a));
    assert_eq!(codes(&a), ["E31"], "{}", texts(&a));
    let ot = a.apprec.errors[0].details.as_deref().unwrap();
    assert!(ot.starts_with("IPL18 /Melding/Notifikasjon[2]/"), "{ot}");
    assert!(ot.contains("01018012345"), "{ot}");

    // E30: an empty fid.
    let mut m = melding();
    m.notifikasjoner[0].events[0].bruker.fid = String::new();
    m.notifikasjoner[1].events[0].bruker.fid = String::new();
    let a = fresh(&melding_xml(&m), &[]).await;
    assert_eq!(a.apprec.status, AppRecStatus::OkWithErrors, "{}", texts(&a));
    assert_eq!(codes(&a), ["E30", "E30"], "{}", texts(&a));

    // X99: an invalid orgnr (IPL17, the value is set to NULL).
    let mut m = melding();
    m.notifikasjoner[0].events[0].tjeneste_org_nr = Some("123456789".into());
    let a = fresh(&melding_xml(&m), &[]).await;
    assert_eq!(a.apprec.status, AppRecStatus::OkWithErrors, "{}", texts(&a));
    assert_eq!(codes(&a), ["X99"], "{}", texts(&a));
    assert!(
        a.apprec.errors[0]
            .details
            .as_deref()
            .unwrap()
            .starts_with("IPL17 ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrections_are_checked_as_continuations_of_the_kommunes_chain() {
    let env = Env::start().await;
    let mut s = env.sender(OSLO).await;
    let first = melding();
    let a = apprec(&mut s, &melding_xml(&first), &[]).await;
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{}", texts(&a));

    // A correction (M) of the first notification, continuing the chain.
    let mut corr = first.clone();
    let mut n = first.notifikasjoner[0].clone();
    n.status = Status::M;
    n.referanse = Some(first.notifikasjoner[0].guid.clone());
    n.guid = "0c0c0c0c-0000-4000-8000-000000000001".into();
    n.forrige_guid = first.notifikasjoner[1].guid.clone();
    n.lopenr = (first.notifikasjoner[1].lopenr.parse::<u32>().unwrap() + 1).to_string();
    n.events[0].hendelse_guid = "0c0c0c0c-0000-4000-8000-000000000002".into();
    n.events[0].hendelse_dato = format!("{YEAR}-01-09");
    corr.notifikasjoner = vec![n];
    let a = apprec(&mut s, &melding_xml(&corr), &[]).await;
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{}", texts(&a));

    // The same correction from a kommune without the original: its reference and chain
    // are wrong (IPL03 deficiency, IPL06 warning) → status 3.
    let mut s2 = env.sender(BERGEN).await;
    let a = apprec(&mut s2, &melding_xml(&corr), &[]).await;
    assert_eq!(a.apprec.status, AppRecStatus::OkWithErrors, "{}", texts(&a));
    assert!(texts(&a).contains("IPL03"), "{}", texts(&a));
    s.close().await;
    s2.close().await;
}
