//! A made-up certification report.

use chrono::{DateTime, Utc};

use super::bundle::{BundleFile, EvidenceBundle, sha256_hex};
use super::types::{
    CERTIFICATION_SCHEMA_VERSION, CertificationReport, Evidence, PlanInfo, Session, Summary,
    TestResult, TestVerdict, Timings, VendorInfo, Verdict,
};
use crate::rehearsal::Tool;

/// A deterministic, made-up certification report for tests and for looking at the page:
/// a failing certification with every kind of evidence and every test verdict, one text full
/// of markup (to test escaping), and a bundle of three made-up files. Not the output of a run.
pub fn sample() -> CertificationReport {
    #[allow(clippy::too_many_arguments)]
    fn t(
        id: &str,
        suite: &str,
        group: &str,
        title: &str,
        kind: &str,
        required: bool,
        verdict: TestVerdict,
        reason: Option<&str>,
        evidence: Vec<Evidence>,
    ) -> TestResult {
        TestResult {
            id: id.into(),
            suite: suite.into(),
            group: group.into(),
            title: title.into(),
            requirement: match id {
                "RULE-IPL03" => "kravspesifikasjon §9.2.1 notifikasjonForrigeGUID",
                "RULE-IPL20" => "kravspesifikasjon §9.2.1 typeID; DOMAIN §6",
                "DATA-01" => "DOMAIN §6; kravspesifikasjon §9.2",
                "CHAIN-01" => "kravspesifikasjon §9.2.1; DOMAIN §6",
                "PERF-01" => "DOMAIN §7; [model] the stated time",
                "SM-03" => "DOMAIN §3",
                _ => "DOMAIN §4; seed 004",
            }
            .into(),
            kind: kind.into(),
            required,
            verdict,
            reason: reason.map(str::to_string),
            blocked_by: Vec::new(),
            evidence,
        }
    }
    use TestVerdict::{Error, Fail, Pass, Skip};
    let mid = "7d1c8a52-3f0e-4b4e-9a51-0c8e2f6d1a01";
    let tests = vec![
        t("CONN-01", "transport", "connectivity", "Connects to the broker on the AMQP port", "connect", true, Pass, None, vec![]),
        t("CONN-02", "transport", "connectivity", "Authenticates with SASL PLAIN", "sasl", true, Pass, None, vec![]),
        t("TRANSPORT-01", "transport", "addressing", "Every message carries the required properties", "properties", true, Fail,
            Some("applicationTimeStamp is missing on 1 of 4 messages"),
            vec![
                Evidence::Message { message_id: mid.into(), note: "sent without applicationTimeStamp; rejected with transport:invalid-field-value".into() },
                Evidence::ExpectedReceived { subject: "application properties".into(), field: Some("applicationTimeStamp".into()), expected: Some("2026-11-02T10:15:00+01:00".into()), received: None },
            ]),
        t("CMS-01", "transport", "payload", "The payload is signed, then encrypted", "cms", true, Pass, None, vec![]),
        t("RULE-IPL03", "content", "rules", "notifikasjonForrigeGUID must point to the previous notification", "content_rules", true, Fail,
            Some("2 notifications break the chain"),
            vec![
                Evidence::Rule { rule: "IPL03".into(), title: "notifikasjonForrigeGUID must point to the previous notification; the first is the empty GUID".into(), message_id: Some(mid.into()), location: Some("Notifikasjon[17]".into()) },
                Evidence::Excerpt { message_id: Some(mid.into()), line: Some(212), xml: "<Notifikasjon statusNotifikasjon=\"N\" notifikasjonLopeNr=\"17\"\n    notifikasjonGUID=\"3b1f…\" notifikasjonForrigeGUID=\"00000000-0000-0000-0000-000000000000\">\n  <TjenesteStart tjenesteType=\"18\" …/>\n</Notifikasjon>".into() },
            ]),
        t("RULE-IPL20", "content", "rules", "typeID other than 1, 2 or 10 gives no KPR-ID", "content_rules", false, Fail,
            Some("3 notifications with typeID 3 (H-nummer)"),
            vec![Evidence::Rule { rule: "IPL20".into(), title: "typeID other than 1, 2 or 10 gives no KPR-ID and is reported back as a deficiency".into(), message_id: Some(mid.into()), location: None }]),
        t("DATA-01", "data", "completeness", "Every expected event is sent, none extra, every field right", "completeness", true, Fail,
            Some("1 missing, 1 extra, 1 wrong field of 1 214 expected events"),
            vec![
                Evidence::ExpectedReceived { subject: "TjenesteStart tjenesteID 4711, 2026-03-01".into(), field: None, expected: Some("TjenesteStart tjenesteType 18, hendelseDato 2026-03-01".into()), received: None },
                Evidence::ExpectedReceived { subject: "TjenesteSlutt tjenesteID 815, 2026-05-12".into(), field: None, expected: None, received: Some("TjenesteSlutt tjenesteType 21, hendelseDato 2026-05-12".into()) },
                Evidence::ExpectedReceived { subject: "TjenesteStart tjenesteID 99, 2026-01-10".into(), field: Some("tjenesteOrgNr".into()), expected: Some("974760673".into()), received: Some("<script>alert(1)</script>".into()) },
                Evidence::File { path: "messages/7d1c8a52.xml".into(), note: "the decrypted message".into() },
            ]),
        t("CHAIN-01", "data", "chain", "The chain and the numbering continue across several messages", "chain", true, Pass, None, vec![]),
        t("RECEIPT-01", "receipts", "apprec", "After AppRec status 2 the sender fixes and resends", "apprec_status2_resend", true, Pass, None,
            vec![Evidence::Message { message_id: "0f4e6c1a-2b7d-4c55-8e0a-9d3b1c2e4f50".into(), note: "the resend, accepted with AppRec status 1".into() }]),
        {
            let mut b = t("MSGHEAD-01", "transport", "payload", "The MsgHead names sender, receiver and the IPLOS document", "msghead", true, TestVerdict::Blocked,
                Some("blocked by TRANSPORT-01: no message got past the transport properties"), vec![]);
            b.blocked_by = vec!["TRANSPORT-01".into()];
            b
        },
        t("RES-02", "resilience", "broker", "Waits out a broker that is unavailable for a while", "resilience_unavailable", true, Error,
            Some("the harness could not bind port 5671 for the outage window"), vec![]),
        t("PERF-01", "performance", "throughput", "The largest kommune's initial load within the stated time", "throughput", true, Pass, Some("61 214 notifications in 1 412 s"), vec![]),
        t("SM-03", "sendemodul", "upload", "A large file is split and uploaded in parts", "sendemodul_split", false, Skip, Some("the vendor delivers IPLOS 56.0.0 only"), vec![]),
    ];
    let bundle = EvidenceBundle::new(vec![
        BundleFile {
            path: "messages/7d1c8a52.xml".into(),
            sha256: sha256_hex(b"message"),
            bytes: 7,
        },
        BundleFile {
            path: "apprec/0f4e6c1a.xml".into(),
            sha256: sha256_hex(b"apprec"),
            bytes: 6,
        },
        BundleFile {
            path: "log/session.jsonl".into(),
            sha256: sha256_hex(b"log"),
            bytes: 3,
        },
    ]);
    let started = DateTime::parse_from_rfc3339("2026-11-02T09:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .ok();
    let ended = DateTime::parse_from_rfc3339("2026-11-02T11:30:00Z")
        .map(|d| d.with_timezone(&Utc))
        .ok();
    let mut timings = Timings {
        started,
        ended,
        wall_seconds: Some(9000.0),
        time_to_first_apprec_ms: Some(1840),
        notifications_per_second: Some(43.35),
        ..Timings::default()
    };
    let lat: Vec<f64> = (1..=200).map(|i| f64::from(i) * 7.5).collect();
    timings.set_latencies(&lat);
    let mut r = CertificationReport {
        schema_version: CERTIFICATION_SCHEMA_VERSION,
        tool: Tool {
            name: "iplos-harness".into(),
            version: "0.1.0".into(),
        },
        plan: PlanInfo {
            name: "IPLOS 56.0.0 vendor certification".into(),
            version: "1.0.0".into(),
            format: "iplos-56.0.0".into(),
            sha256: sha256_hex(b"plan"),
        },
        vendor: VendorInfo {
            name: "Eksempel Omsorg AS <b>".into(),
            product: "OmsorgJournal".into(),
            version: "12.4".into(),
        },
        session: Session {
            kommune: "0301".into(),
            kommune_name: "Oslo".into(),
            her_id: Some(8_123_456),
            channel: "servicebus".into(),
            notes: Vec::new(),
            time_scale: Some(1.0),
        },
        verdict: Verdict::Incomplete,
        summary: Summary::default(),
        tests,
        evidence_bundle: bundle,
        timings,
    };
    r.normalise();
    r
}
