//! The report: each kommune judged in each phase, the failures grouped by cause, the daily
//! counts, the receipts' delays, and the timing of the steps.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use iplos_reports::{
    KommunePhase, KommuneResult, PhaseStatus, PhaseSummary, RehearsalReport, TimelineEvent,
};

use super::days::at_oslo;
use super::plan::faults_for;
use super::queue::Kind;
use super::world::{Agent, Channel, EngineConfig, RECEIPT, Sent, World};
use crate::scenario::{ChannelSpec, Fault, PhaseId, Scenario};

/// An instant as the report writes it.
fn fixed(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&FixedOffset::east_opt(0).expect("UTC offset"))
}

/// A phase the kommuner are judged on: (id, name, first day, last day, deadline).
type Judged = (
    &'static str,
    String,
    NaiveDate,
    NaiveDate,
    Option<DateTime<Utc>>,
);

/// The report of a finished run (the timing section is the caller's).
pub(crate) fn build_report(
    cfg: &EngineConfig,
    w: &World,
    agents: &[Agent],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<RehearsalReport> {
    use iplos_reports::{DailyCounts, FailureGroup, ReceiptDelay, RunInfo, Tool};
    let sc = &cfg.scenario;
    let channel = sc.season.channel;
    let mut report = RehearsalReport::new(
        Tool {
            name: "iplos-harness".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        RunInfo {
            season: sc.season.data_year,
            scenario: sc.name.clone(),
            seed: cfg.seed,
            scale: cfg.scale,
            channel: match channel {
                ChannelSpec::Sendemodul => iplos_reports::Channel::Sendemodul,
                ChannelSpec::Servicebus => iplos_reports::Channel::Amqp,
            },
            kommuner: 0,
            virtual_start: fixed(start),
            virtual_end: fixed(end),
        },
    );
    // The phases judged, in season order, with their deadlines.
    let deadline_of = |id: PhaseId| -> Option<DateTime<Utc>> {
        sc.phase(id)
            .and_then(|p| at_oslo(p.last_day + Duration::days(1), 0, 0).ok())
    };
    let mut judged: Vec<Judged> = Vec::new();
    for p in &sc.season.phases {
        match p.id {
            PhaseId::Publication | PhaseId::Extension => continue,
            _ => {}
        }
        let id: &'static str = match p.id {
            PhaseId::TestSubmission => "test_submission",
            PhaseId::TestFeedback => "test_feedback",
            PhaseId::OrdinarySubmission => "ordinary_submission",
            PhaseId::Feedback => "feedback",
            PhaseId::Corrections => "corrections",
            _ => continue,
        };
        let deadline = deadline_of(p.id);
        judged.push((id, p.name.clone(), p.first_day, p.last_day, deadline));
        if p.id == PhaseId::OrdinarySubmission {
            judged.push((
                RECEIPT,
                if channel == ChannelSpec::Sendemodul {
                    "receipt by e-mail at 08:00 the first working day after arrival".into()
                } else {
                    "AppRec receipt over the service bus".into()
                },
                p.first_day,
                p.last_day,
                None,
            ));
        }
    }
    judged.sort_by_key(|(id, _, first, _, _)| (*first, *id == RECEIPT));
    for (id, name, first, last, deadline) in &judged {
        report.phases.push(PhaseSummary::new(
            *id,
            name.clone(),
            *first,
            *last,
            deadline.map(fixed),
        ));
    }

    let mut daily: BTreeMap<NaiveDate, DailyCounts> = BTreeMap::new();
    let day =
        |t: DateTime<Utc>| -> NaiveDate { iplos_model::calendar::oslo_date(t).unwrap_or_default() };
    let bump = |daily: &mut BTreeMap<NaiveDate, DailyCounts>,
                d: NaiveDate,
                f: &dyn Fn(&mut DailyCounts)| {
        let e = daily.entry(d).or_insert(DailyCounts {
            date: d,
            submissions: 0,
            receipts: 0,
            rejections: 0,
            feedback: 0,
            corrections: 0,
        });
        f(e);
    };
    let mut failures: BTreeMap<String, FailureGroup> = BTreeMap::new();
    for a in agents {
        let mut phases = Vec::new();
        for (id, _, _, _, deadline) in &judged {
            let (status, at, reason) = judge(a, id, *deadline, sc);
            let causes: Vec<&Fault> = a
                .causes
                .get(*id)
                .map(|c| c.iter().collect())
                .unwrap_or_default();
            let cause = (!causes.is_empty()).then(|| {
                causes
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            });
            for f in &causes {
                let g = failures
                    .entry(f.as_str().to_string())
                    .or_insert_with(|| FailureGroup {
                        cause: f.as_str().into(),
                        title: f.title().into(),
                        consequence: consequence(**f).into(),
                        phases: Vec::new(),
                        kommuner: Vec::new(),
                    });
                g.kommuner.push(a.plan.knr.clone());
                if !g.phases.iter().any(|p| p == id) {
                    g.phases.push(id.to_string());
                }
            }
            phases.push(KommunePhase {
                phase: id.to_string(),
                status,
                at: at.map(fixed),
                reason,
                cause,
            });
        }
        for s in &a.sent {
            let d = day(s.arrived);
            match s.kind {
                Kind::Correction => bump(&mut daily, d, &|e| e.corrections += 1),
                _ => bump(&mut daily, d, &|e| e.submissions += 1),
            }
            if s.rejected {
                bump(&mut daily, d, &|e| e.rejections += 1);
            }
        }
        for t in a.feedback_at.values() {
            bump(&mut daily, day(*t), &|e| e.feedback += 1);
        }
        report.kommuner.push(KommuneResult {
            kommunenr: a.plan.knr.clone(),
            name: a.plan.name.clone(),
            vendor: a.vendor.clone(),
            channel: report.run.channel,
            phases,
            faults: faults_for(&a.plan, channel),
            timeline: a
                .timeline
                .iter()
                .map(|(t, k, d)| TimelineEvent {
                    at: fixed(*t),
                    kind: k.clone(),
                    detail: d.clone(),
                })
                .collect(),
            findings: a.findings.clone(),
            conflicting_apprecs: conflicting(&a.apprecs),
        });
    }
    // Service bus: the AppRec is the receipt.
    for a in agents {
        for sent in &a.sent {
            if let Some(r) = sent.receipted {
                bump(&mut daily, day(r), &|e| e.receipts += 1);
                report.receipt_delays.delays.push(ReceiptDelay::new(
                    a.plan.knr.clone(),
                    fixed(sent.arrived),
                    fixed(r),
                ));
            }
        }
    }
    if let Channel::Sendemodul = &w.channel {
        for sub in w.intake()?.all_submissions()? {
            if sub.channel == iplos_mocks::intake::Channel::Test {
                continue;
            }
            if let Some(sent) = sub.receipt_sent {
                bump(&mut daily, day(sent), &|e| e.receipts += 1);
                report.receipt_delays.delays.push(ReceiptDelay::new(
                    sub.kommunenr.clone(),
                    fixed(sub.arrived),
                    fixed(sent),
                ));
            }
        }
    }
    report.daily = daily.into_values().collect();
    report.failures = failures.into_values().collect();
    let messages: BTreeMap<String, u64> = agents
        .iter()
        .map(|a| {
            (
                a.plan.knr.clone(),
                a.sent.iter().filter(|s| s.kind != Kind::Test).count() as u64,
            )
        })
        .collect();
    report.derive_findings(iplos_reports::rehearsal::catalogue_rule_info, &messages);
    report.normalise();
    Ok(report)
}

/// A kommune's status in one phase.
fn judge(
    a: &Agent,
    id: &str,
    deadline: Option<DateTime<Utc>>,
    sc: &Scenario,
) -> (PhaseStatus, Option<DateTime<Utc>>, Option<String>) {
    let on_time = |t: DateTime<Utc>| deadline.is_none_or(|d| t < d);
    match id {
        "test_submission" => {
            if !a.plan.tests {
                return (PhaseStatus::NotAttempted, None, Some("did not take part in the test".into()));
            }
            match a.sent.iter().find(|s| s.kind == Kind::Test) {
                // The test is for finding this out: the register rejected the file; its
                // feilliste says why.
                Some(s) if s.rejected => (PhaseStatus::Failed, Some(s.arrived), Some("the test file was rejected; the test feedback lists the errors".into())),
                Some(s) if on_time(s.arrived) => (PhaseStatus::OnTime, Some(s.arrived), None),
                Some(s) => (PhaseStatus::Late, Some(s.arrived), Some("test file after the test week".into())),
                None => (PhaseStatus::Failed, None, Some("no test file arrived".into())),
            }
        }
        "test_feedback" | "feedback" => {
            let test = id == "test_feedback";
            let sent_any = a.sent.iter().any(|s| (s.kind == Kind::Test) == test);
            if !sent_any {
                return (PhaseStatus::NotApplicable, None, Some("nothing submitted".into()));
            }
            match a.feedback_at.get(&test) {
                Some(t) if on_time(*t) => (PhaseStatus::OnTime, Some(*t), None),
                Some(t) => (PhaseStatus::Late, Some(*t), Some("feedback opened after the feedback week".into())),
                None => (PhaseStatus::Failed, None, Some("the feedback zip was never opened".into())),
            }
        }
        "ordinary_submission" => {
            let ok = a
                .sent
                .iter()
                .filter(|s| s.kind != Kind::Test && !s.rejected)
                .map(|s| s.arrived)
                .min();
            let rejected = a.sent.iter().any(|s| s.kind == Kind::Ordinary && s.rejected);
            match ok {
                Some(t) if on_time(t) => (PhaseStatus::OnTime, Some(t), None),
                Some(t) if rejected && a.export_fixed => (PhaseStatus::Late, Some(t), Some("the first file was rejected; the fixed file came after the deadline".into())),
                Some(t) if rejected => (PhaseStatus::Failed, Some(t), Some("the file sent in the window was rejected; an accepted file came only with the corrections".into())),
                Some(t) => {
                    let ext = sc
                        .phase(PhaseId::Extension)
                        .and_then(|p| at_oslo(p.last_day + Duration::days(1), 0, 0).ok())
                        .is_some_and(|e| t < e);
                    (PhaseStatus::Late, Some(t), Some(if ext { "sent in the extension".into() } else { "sent after the deadline".into() }))
                }
                None if rejected => (PhaseStatus::Failed, None, Some("every file sent was rejected".into())),
                None => (PhaseStatus::Failed, None, Some("no file arrived".into())),
            }
        }
        "receipt" => match a.receipt {
            Some(Some(due)) => (PhaseStatus::OnTime, Some(due), None),
            Some(None) => (PhaseStatus::Failed, None, Some("no receipt seen by 08:00 the first working day after arrival; the kommune contacted SSB".into())),
            None if a.sent.iter().any(|s| s.kind != Kind::Test) => (PhaseStatus::Failed, None, Some("the receipt was never checked".into())),
            None => (PhaseStatus::NotApplicable, None, None),
        },
        "corrections" => {
            let corr: Vec<&Sent> = a.sent.iter().filter(|s| s.kind == Kind::Correction).collect();
            if corr.is_empty() {
                if a.needs_resend || a.has_corrections {
                    return (PhaseStatus::Failed, None, Some("corrections were due but none arrived".into()));
                }
                return (PhaseStatus::NotApplicable, None, Some("nothing to correct".into()));
            }
            let last = corr.iter().map(|s| s.arrived).max().unwrap_or_default();
            if on_time(last) {
                (PhaseStatus::OnTime, Some(last), None)
            } else {
                (PhaseStatus::Late, Some(last), Some("corrections after the deadline miss the publication".into()))
            }
        }
        _ => (PhaseStatus::NotApplicable, None, None),
    }
}

/// The documented consequence of a fault (scenarios/README.md).
fn consequence(f: Fault) -> &'static str {
    match f {
        Fault::NeverTested => "test submission not attempted; no test feedback",
        Fault::PostmottakLate => {
            "SSB's mails reach the contact a working day late; the password link expires and a new one is requested"
        }
        Fault::PostmottakNever => {
            "no feedback mail reaches the contact; on Friday of the feedback week the contact asks SSB, gets a temporary password and opens the feedback the next working day (late)"
        }
        Fault::SpamFilter => {
            "as postmottak_never: the mail sits in a spam folder; feedback late after contacting SSB"
        }
        Fault::LinkExpired => {
            "the password link is refused after 60 minutes; a new link is requested and used at once"
        }
        Fault::WrongPin | Fault::WrongOrgnr | Fault::WrongBydel => {
            "the first Sendemodul login is refused with the generic answer; the kommune submits one working day later"
        }
        Fault::NoReceipt => {
            "the receipt phase fails: no receipt seen by 08:00, the kommune contacts SSB"
        }
        Fault::FirewallClosed | Fault::DnsNotResolving => {
            "the first submission cannot reach the endpoint; IT fixes it and the kommune submits some working days later"
        }
        Fault::ServicebusNotActivated => {
            "the first AMQP connection is refused; access is activated and the kommune sends some working days later"
        }
        Fault::EpjNotUpgraded => "the ordinary submission is sent in the extension (late)",
        Fault::DefectiveExport => {
            "the export breaks the schema (Sendemodul: the file is received, the feilliste lists the errors and the fixed file goes with the corrections; service bus: AppRec status 2, the fixed file is sent 3 working days later)"
        }
        Fault::WrongUnzipTool => {
            "the feedback zip cannot be opened; the contact installs 7-Zip and opens it the next working day"
        }
        Fault::OldKommunenummer => {
            "the ordinary file reports a number not valid for the year (IPL22; Sendemodul: received, the feilliste lists it and the right file goes with the corrections; service bus: AppRec status 2, sent again 3 working days later)"
        }
        Fault::LateCorrection => {
            "the corrections arrive after the deadline (late) and miss the publication"
        }
    }
}

/// Wall-clock time of each kind of step (the report's timing section; a resumed run times
/// the steps it took itself).
pub(crate) type Stats = BTreeMap<&'static str, Vec<std::time::Duration>>;

/// The timing section: each kind of step's count and wall-clock percentiles (each step is
/// one or more requests to the endpoints, done one at a time).
pub(crate) fn step_stats(stats: &Stats) -> Vec<iplos_reports::EndpointStats> {
    stats
        .iter()
        .map(|(name, v)| {
            let mut ms: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
            ms.sort_by(f64::total_cmp);
            let total: f64 = ms.iter().sum();
            let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
            iplos_reports::EndpointStats {
                endpoint: (*name).to_string(),
                requests: ms.len() as u64,
                errors: 0,
                per_second: if total > 0.0 {
                    ms.len() as f64 / (total / 1000.0)
                } else {
                    0.0
                },
                p50_ms: pct(0.5),
                p90_ms: pct(0.9),
                p99_ms: pct(0.99),
                max_ms: *ms.last().unwrap_or(&0.0),
            }
        })
        .collect()
}

/// The messages a kommune read two or more different AppRecs for (`Agent::apprecs`).
fn conflicting(
    apprecs: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<iplos_reports::ConflictingAppRecs> {
    apprecs
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(m, ids)| iplos_reports::ConflictingAppRecs {
            message_id: m.clone(),
            apprec_ids: ids.iter().cloned().collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// Oslo (0301) in the 2026 season (ordinary submission 2-15 January 2027, extension to
    /// 15 February).
    fn season() -> (Scenario, Agent) {
        let sc = Scenario::for_season(2026).unwrap();
        let m = iplos_model::municipality::lookup(2026, "0301").unwrap();
        let a = Agent::new(super::super::plan::plan(&sc, m, 1));
        (sc, a)
    }

    fn utc(mo: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, mo, d, 8, 0, 0).unwrap()
    }

    fn sent(a: &mut Agent, kind: Kind, arrived: DateTime<Utc>, rejected: bool) {
        a.sent.push(Sent {
            kind,
            arrived,
            rejected,
            receipted: None,
        });
    }

    /// The ordinary submission's deadline: midnight after 15 January 2027, Oslo.
    fn deadline() -> Option<DateTime<Utc>> {
        Some(Utc.with_ymd_and_hms(2027, 1, 15, 23, 0, 0).unwrap())
    }

    #[test]
    fn a_test_file_the_register_rejected_is_not_on_time() {
        let (sc, mut a) = season();
        a.plan.tests = true;
        sent(&mut a, Kind::Test, utc(1, 5), true);
        let (status, at, reason) = judge(&a, "test_submission", deadline(), &sc);
        assert_eq!(status, PhaseStatus::Failed);
        assert_eq!(at, Some(utc(1, 5)));
        assert!(reason.is_some_and(|r| r.contains("rejected")));
    }

    #[test]
    fn an_accepted_file_by_the_deadline_is_on_time_at_its_arrival() {
        let (sc, mut a) = season();
        sent(&mut a, Kind::Ordinary, utc(1, 5), false);
        let (status, at, reason) = judge(&a, "ordinary_submission", deadline(), &sc);
        assert_eq!(status, PhaseStatus::OnTime);
        assert_eq!(at, Some(utc(1, 5)));
        assert_eq!(reason, None);
    }

    #[test]
    fn late_files_say_whether_they_came_in_the_extension() {
        let (sc, mut a) = season();
        sent(&mut a, Kind::Ordinary, utc(2, 1), false);
        let (status, _, reason) = judge(&a, "ordinary_submission", deadline(), &sc);
        assert_eq!(status, PhaseStatus::Late);
        assert_eq!(reason.as_deref(), Some("sent in the extension"));

        let (sc, mut a) = season();
        sent(&mut a, Kind::Ordinary, utc(2, 20), false);
        let (status, _, reason) = judge(&a, "ordinary_submission", deadline(), &sc);
        assert_eq!(status, PhaseStatus::Late);
        assert_eq!(reason.as_deref(), Some("sent after the deadline"));
    }

    #[test]
    fn a_rejected_file_fails_unless_the_fixed_export_was_sent_again() {
        // Sendemodul's way: the accepted file only comes with the corrections.
        let (sc, mut a) = season();
        sent(&mut a, Kind::Ordinary, utc(1, 5), true);
        sent(&mut a, Kind::Correction, utc(2, 20), false);
        let (status, at, _) = judge(&a, "ordinary_submission", deadline(), &sc);
        assert_eq!((status, at), (PhaseStatus::Failed, Some(utc(2, 20))));

        // The service bus way: the vendor fixed the export, sent again after the deadline.
        let (sc, mut a) = season();
        sent(&mut a, Kind::Ordinary, utc(1, 14), true);
        sent(&mut a, Kind::Ordinary, utc(1, 19), false);
        a.export_fixed = true;
        let (status, at, _) = judge(&a, "ordinary_submission", deadline(), &sc);
        assert_eq!((status, at), (PhaseStatus::Late, Some(utc(1, 19))));

        // Nothing accepted at all.
        let (sc, mut a) = season();
        sent(&mut a, Kind::Ordinary, utc(1, 5), true);
        let (status, at, _) = judge(&a, "ordinary_submission", deadline(), &sc);
        assert_eq!((status, at), (PhaseStatus::Failed, None));
    }

    #[test]
    fn corrections_due_but_never_sent_fail() {
        let (sc, mut a) = season();
        sent(&mut a, Kind::Ordinary, utc(1, 5), false);
        let (status, _, _) = judge(&a, "corrections", None, &sc);
        assert_eq!(status, PhaseStatus::NotApplicable);
        a.has_corrections = true;
        let (status, _, _) = judge(&a, "corrections", None, &sc);
        assert_eq!(status, PhaseStatus::Failed);
        sent(&mut a, Kind::Correction, utc(3, 25), false);
        let by_21_march = Some(Utc.with_ymd_and_hms(2027, 3, 21, 23, 0, 0).unwrap());
        let (status, at, _) = judge(&a, "corrections", by_21_march, &sc);
        assert_eq!((status, at), (PhaseStatus::Late, Some(utc(3, 25))));
    }

    #[test]
    fn a_message_with_two_different_apprecs_is_a_conflict() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let apprecs: BTreeMap<String, BTreeSet<String>> = [
            ("m1".to_string(), ids(&["a1"])),
            // Unanswered: not a conflict (the cluster test counts it as lost).
            ("m2".to_string(), ids(&[])),
            ("m3".to_string(), ids(&["a3", "b3"])),
        ]
        .into();
        let c = conflicting(&apprecs);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].message_id, "m3");
        assert_eq!(c[0].apprec_ids, ["a3", "b3"]);
    }
}
