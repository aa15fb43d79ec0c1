//! Recordings built in memory for the judges' table tests: a session whose phases each last
//! 100 s, messages and connection events placed in them, an answer key, and a runner for a
//! table of cases (each asserts the verdict, a word of the reason and what the evidence
//! names).

use std::net::SocketAddr;

use chrono::{DateTime, TimeZone, Utc};
use iplos_mocks::servicebus::{ConnEvent, ConnEventKind};
use iplos_model::message::{Bruker, Event, EventKind, Header, Melding, Notifikasjon, Status};
use iplos_model::rules::{CheckReport, Finding, Location};
use iplos_reports::certification::TestVerdict;

use super::common::{Ctx, Judged};
use super::expected::Expected;
use crate::certify::phases::{PhaseKind, Timing};
use crate::certify::plan::{CheckKind, Plan, Test};
use crate::certify::record::{Msg, PhaseRecord, Recording};

/// The kommune's HER-id in the fixtures.
pub const KOMMUNE_HER: u32 = 9_004_601;
/// The kommune's broker user name.
pub const USER: &str = "kommune4601";
/// Each phase's length, seconds.
pub const PHASE_SECS: i64 = 100;

/// The session's start.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0)
        .single()
        .unwrap_or_default()
}

/// `secs` seconds into a phase.
pub fn at(phase: PhaseKind, secs: f64) -> DateTime<Utc> {
    let i = PhaseKind::ALL.iter().position(|p| *p == phase).unwrap() as i64;
    t0() + chrono::Duration::seconds(i * PHASE_SECS)
        + chrono::Duration::milliseconds((secs * 1000.0) as i64)
}

/// A session that walked every phase (each completed), with nothing observed yet.
pub fn recording() -> Recording {
    let phases = PhaseKind::ALL
        .iter()
        .map(|&kind| PhaseRecord {
            kind,
            started: at(kind, 0.0),
            ended: at(kind, PHASE_SECS as f64),
            completed: true,
            timeout_seconds: PHASE_SECS as f64,
            note: "done".into(),
        })
        .collect();
    Recording {
        kommune: "4601".into(),
        kommune_her: KOMMUNE_HER,
        username: USER.into(),
        timing: Timing::new(1.0),
        started: t0(),
        ended: at(PhaseKind::SendemodulRefused, PHASE_SECS as f64),
        phases,
        messages: Vec::new(),
        connections: Vec::new(),
        wrong_host: Vec::new(),
        error_queue_left: None,
        sendemodul: None,
    }
}

/// Adds a message of the kommune, `secs` into `phase`, addressed right and accepted
/// (AppRec status 1 a second later, decided by the IPLOS stage, AES-256-CBC); `f` changes
/// it. Its message-id is `m<row>`.
pub fn push(rec: &mut Recording, phase: PhaseKind, secs: f64, f: impl FnOnce(&mut Msg)) {
    let row = rec.messages.len() as i64 + 1;
    let register = if phase.production() {
        "134197"
    } else {
        "131725"
    };
    let mut m = Msg {
        row,
        resend_of: None,
        phase: Some(phase),
        queue: format!("nhn/{register}_async"),
        message_id: Some(format!("m{row}")),
        to_her: Some(register.into()),
        reply_to: Some(format!("nhn/{KOMMUNE_HER}_async")),
        received: at(phase, secs),
        replied: Some(at(phase, secs + 1.0)),
        duplicates: 0,
        outcome: Some("apprec".parse().expect("a known name")),
        status: Some("1".into()),
        error_condition: None,
        error_data: None,
        error_description: None,
        stage: Some("iplos".parse().expect("a known name")),
        msg_id: Some(format!("msghead-{row}")),
        content_encryption: Some(iplos_mocks::cms::OID_AES256_CBC.into()),
        injected: None,
        report: Some(report(&[])),
        melding: None,
        lines: None,
        iplos: None,
        evidence_file: None,
    };
    f(&mut m);
    rec.messages.push(m);
}

/// Adds a broker event `secs` into `phase`.
pub fn event(
    rec: &mut Recording,
    phase: PhaseKind,
    secs: f64,
    connection: u64,
    kind: ConnEventKind,
) {
    rec.connections.push(ConnEvent {
        at: at(phase, secs),
        connection,
        peer: SocketAddr::from(([127, 0, 0, 1], 40_000)),
        kind,
    });
}

/// The kommune's authenticated TLS connection.
pub fn opened() -> ConnEventKind {
    ConnEventKind::Opened {
        username: USER.into(),
        tls: true,
        container_id: "epj-1".into(),
    }
}

/// A check report with findings of these rules (each at line 7 of notification 1).
pub fn report(rules: &[&str]) -> CheckReport {
    let findings = rules
        .iter()
        .map(|id| {
            let r = iplos_model::rules::catalogue::ALL
                .iter()
                .find(|r| r.id == *id)
                .unwrap();
            Finding {
                rule: r.id,
                category: r.category,
                severity: r.severity,
                consequence: r.consequence,
                location: Location {
                    line: 7,
                    path: "/Melding/Notifikasjon[1]".into(),
                },
                message: format!("a finding of {id}"),
            }
        })
        .collect();
    CheckReport {
        conformant: rules.is_empty(),
        data_year: Some(2024),
        notifications: 1,
        findings,
        findings_omitted: 0,
    }
}

/// A notification: a service start for service `service` of person `fid`, with `guid`.
pub fn notification(service: u32, guid: &str) -> Notifikasjon {
    Notifikasjon {
        status: Status::N,
        tid: "2024-01-01T08:00:00".into(),
        guid: guid.into(),
        forrige_guid: String::new(),
        lopenr: "1".into(),
        referanse: None,
        events: vec![Event {
            kind: EventKind::TjenesteStart,
            tjeneste_type: "1".into(),
            tjeneste_id: format!("svc-{service}"),
            hendelse_guid: format!("h-{guid}"),
            hendelse_dato: "2024-01-01".into(),
            hendelse_reg_tid: "2024-01-01T08:00:00".into(),
            tjeneste_org_nr: None,
            midlertidig_stopp_id: None,
            bruker: Bruker {
                pasient_guid: format!("p-{service}"),
                bruker_nr: service.to_string(),
                fid: format!("{:011}", 10_000_000_000u64 + u64::from(service)),
                type_id: "1".into(),
                bydel: None,
            },
        }],
    }
}

/// A message of these services' starts, the GUID of each `g<service><suffix>`.
pub fn melding(services: &[u32], suffix: &str) -> Melding {
    Melding {
        header: Header::new("Leverandør", "EPJ", "1.0", "1"),
        notifikasjoner: services
            .iter()
            .map(|&s| notification(s, &format!("g{s}{suffix}")))
            .collect(),
        kontaktpersoner: Vec::new(),
        kommuner: vec!["4601".into()],
    }
}

/// The answer key: services 1–4, the first two the initial load; one correction (M of
/// service 1) and one annulment (C of service 2).
pub fn expected() -> Expected {
    let mut corrections = melding(&[1, 2], "-k");
    corrections.notifikasjoner[0].status = Status::M;
    corrections.notifikasjoner[0].referanse = Some("g1".into());
    corrections.notifikasjoner[1].status = Status::C;
    corrections.notifikasjoner[1].referanse = Some("g2".into());
    Expected {
        ordinary: melding(&[1, 2, 3, 4], ""),
        corrections,
        initial_load: 2,
        // The throughput load: the same two first notifications (its own kommune's in a
        // session).
        perf: Some(melding(&[1, 2], "")),
    }
}

/// The shipped plan's first test of a kind.
pub fn test(kind: CheckKind) -> Test {
    Plan::embedded()
        .unwrap()
        .tests()
        .find(|t| t.test.kind == kind)
        .map(|t| t.test.clone())
        .unwrap()
}

/// One row of a judge's table.
pub struct Case {
    pub name: &'static str,
    /// Builds what the session observed.
    pub setup: fn(&mut Recording),
    pub verdict: TestVerdict,
    /// Words of the reason.
    pub reason: &'static str,
    /// What the evidence must name (a message-id, a field, a connection); empty: the
    /// evidence must be empty.
    pub names: &'static str,
}

/// Runs every case through `judge` (with [`expected`], the shipped plan and every phase
/// walked) and asserts its verdict, reason and evidence.
pub fn run_cases(cases: &[Case], judge: impl Fn(&Ctx<'_>) -> Judged) {
    let plan = Plan::embedded().unwrap();
    let expected = expected();
    for c in cases {
        let mut rec = recording();
        (c.setup)(&mut rec);
        let ctx = Ctx {
            rec: &rec,
            expected: &expected,
            plan: &plan,
            selected: &PhaseKind::ALL,
        };
        let j = judge(&ctx);
        assert_eq!(j.verdict, c.verdict, "{}: {}", c.name, j.reason);
        assert!(
            j.reason.contains(c.reason),
            "{}: the reason {:?} says {:?}",
            c.name,
            j.reason,
            c.reason
        );
        let ev = format!("{:?}", j.evidence);
        if c.names.is_empty() {
            assert!(j.evidence.is_empty(), "{}: evidence {ev}", c.name);
        } else {
            assert!(
                ev.contains(c.names),
                "{}: the evidence {ev} names {:?}",
                c.name,
                c.names
            );
        }
    }
}
