//! `iplos-harness serve` with an independent vendor client: Qpid Proton and the openssl
//! command line (`tests/peers/vendor.py`, Debian's /usr/bin/python3), configured from
//! endpoints.json only.

use crate::serve_support;
use iplos_mocks::nhn;
use iplos_mocks::sender::sample_iplos;
use iplos_model::message::{AppRecStatus, MsgHead, Organisation, read_apprec, write_msghead};
use serve_support::*;

#[test]
fn a_vendor_gets_an_invalid_field_value_error_and_an_apprec_with_status_1() {
    require_proton();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--certs", "0301", "--seed", "7"], &[]);
    let ep = server.endpoints();
    let ep_path = dir.path().join("endpoints.json");
    let ep_path = ep_path.to_str().unwrap();
    assert_eq!(ep["data_year"], 2024);
    assert_eq!(ep["kommuner"].as_array().unwrap().len(), 357);
    let oslo = kommune(&ep, "0301");
    assert_eq!(oslo["her_id"], 9_000_301);
    assert_eq!(oslo["certificates"]["issued"], true);
    assert_eq!(kommune(&ep, "4601")["certificates"]["issued"], false);

    // (a) A message without toHerId: transport:invalid-field-value on the _error queue.
    let out = run_vendor(&["missing-to", ep_path, "0301", "131725"]);
    let sent = out[0]["sent"].as_str().unwrap().to_string();
    assert!(
        out[0]["state"].as_str().unwrap().contains("ACCEPTED"),
        "{out:?}"
    );
    let err = &out[1]["error"];
    let props = &err["properties"];
    assert_eq!(
        props["errorCondition"], "transport:invalid-field-value",
        "{err}"
    );
    assert!(
        props["errorDescription"]
            .as_str()
            .unwrap()
            .contains("toHerId"),
        "{err}"
    );
    assert_eq!(props["errorConditionData"], "toHerId");
    assert_eq!(props["originalMessageId"], sent.as_str());
    assert!(nhn::check_timestamp(props["receiverTimeStamp"].as_str().unwrap()).is_ok());
    assert_eq!(err["body"], serde_json::Value::Null, "empty body: {err}");

    // (b) A correct message, signed and encrypted with openssl: AppRec status 1.
    let mut sender = Organisation::new(oslo["name"].as_str().unwrap(), "9000301");
    sender.orgnr = Some(oslo["orgnr"].as_str().unwrap().to_string());
    let msg_id = nhn::new_guid();
    let head = MsgHead::iplos(
        &msg_id,
        &nhn::format_timestamp(chrono::Utc::now()),
        sender,
        Organisation::new("Helsedirektoratet KPR", "131725"),
    );
    let xml = write_msghead(&head, &sample_iplos("0301", 2024, 3)).unwrap();
    let msghead_file = dir.path().join("msghead.xml");
    std::fs::write(&msghead_file, xml).unwrap();
    let out = run_vendor(&[
        "submit",
        ep_path,
        "0301",
        "131725",
        msghead_file.to_str().unwrap(),
    ]);
    let sent = out[0]["sent"].as_str().unwrap();
    let answer = &out[1]["answer"];
    assert_eq!(answer["status"], "1", "{answer}");
    assert_eq!(answer["correlation_id"], sent);
    assert_eq!(answer["subject"], "APPREC");
    assert_eq!(answer["content_type"], nhn::CONTENT_TYPE_SIGNED_ENVELOPED);
    assert_eq!(answer["properties"]["fromHerId"], "131725");
    assert_eq!(answer["properties"]["toHerId"], "9000301");
    let apprec = read_apprec(answer["apprec"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(apprec.status, AppRecStatus::Ok);
    assert_eq!(apprec.original.id, msg_id);
    assert!(apprec.errors.is_empty());

    // Ctrl-C-like stop: clean exit.
    let lines = server.stop();
    assert!(lines.iter().any(|l| l == "stopped"), "{lines:?}");
    // Everything is in the run store.
    let store = iplos_mocks::receiver::RunStore::open(
        &dir.path().join("run.sqlite"),
        std::sync::Arc::new(iplos_model::calendar::SystemClock),
    )
    .unwrap();
    let recs = store.messages().unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(
        recs[0].error_condition,
        Some(nhn::ErrorCondition::InvalidFieldValue)
    );
    assert_eq!(recs[1].status.as_deref(), Some("1"));
    assert!(recs.iter().all(|r| r.replies_sent == 1));
}
