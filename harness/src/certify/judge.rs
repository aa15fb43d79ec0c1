//! Deciding the plan's tests from what a transport session observed ([`Recording`]).
//!
//! Every verdict comes with its evidence: the messages (by message-id), the register's
//! answers, rule findings with their location and an excerpt of the offending XML, expected
//! vs received events, connection attempts with their times. What each kind of test
//! requires is documented on [`judge_test`]; the phases are in [`super::phases`].

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use iplos_mocks::nhn::ErrorCondition;
use iplos_mocks::receiver::{Outcome, Stage};
use iplos_mocks::servicebus::ConnEventKind;
use iplos_model::compare::{CompareOptions, Comparison, compare, compare_corrections};
use iplos_model::message::{Melding, Notifikasjon, Status};
use iplos_reports::certification::{Evidence, TestResult, TestVerdict, Timings};

use super::phases::PhaseKind;
use super::plan::{CheckKind, Plan, Test};
use super::record::{Msg, Recording, norm_guid};

/// How many notifications an injected AppRec status 3 names (the last ones of the message).
pub const STATUS3_NAMED: usize = 2;

/// At most this many evidence items per test (the bundle has the rest).
const MAX_EVIDENCE: usize = 40;

/// The answer key.
pub struct Expected {
    pub ordinary: Melding,
    pub corrections: Melding,
    /// The first `initial_load` notifications of `ordinary` are the initial load.
    pub initial_load: usize,
}

impl Expected {
    /// The session's answer key (`harness/expected/`), read once for everyone who needs it
    /// (`certify run`, `certify check`, the reference EPJ).
    pub fn load(
        dir: &std::path::Path,
        session: &super::session::Session,
    ) -> anyhow::Result<Expected> {
        use anyhow::Context as _;
        let read = |p: std::path::PathBuf| -> anyhow::Result<Melding> {
            let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
            Ok(iplos_model::compare::read_received(
                &bytes,
                &iplos_model::rules::CheckOptions::default(),
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
            .melding)
        };
        let ordinary = read(super::session::Session::expected_ordinary(dir))?;
        let initial_load = if session.initial_load > 0 {
            session.initial_load
        } else {
            // Sessions made before the count was kept: the initial load is dated at the
            // cut-off and comes first.
            let cutoff = format!("{}-01-01", session.year);
            ordinary
                .notifikasjoner
                .iter()
                .take_while(|n| n.tid.starts_with(&cutoff))
                .count()
        };
        Ok(Expected {
            ordinary,
            corrections: read(super::session::Session::expected_corrections(dir))?,
            initial_load,
        })
    }

    fn part(&self, range: std::ops::Range<usize>) -> Melding {
        let mut m = self.ordinary.clone();
        m.notifikasjoner = self.ordinary.notifikasjoner[range].to_vec();
        m
    }

    /// The expected initial load.
    pub fn initial(&self) -> Melding {
        self.part(0..self.initial_load.min(self.ordinary.notifikasjoner.len()))
    }

    /// The expected year's events.
    pub fn year(&self) -> Melding {
        let n = self.ordinary.notifikasjoner.len();
        self.part(self.initial_load.min(n)..n)
    }
}

/// Messages merged into one (notifications in arrival order; the first one's header).
pub fn merged<'a>(msgs: impl IntoIterator<Item = &'a Msg>) -> Option<Melding> {
    let mut out: Option<Melding> = None;
    for m in msgs {
        let Some(mel) = &m.melding else { continue };
        match &mut out {
            None => out = Some(mel.clone()),
            Some(o) => o.notifikasjoner.extend(mel.notifikasjoner.iter().cloned()),
        }
    }
    out
}

/// A notification's content as compared for "the same event sent again": its events
/// (kind, service, person, date, codes), without the GUIDs, numbering and registration
/// time an EPJ may make anew when it exports again.
pub fn content_key(n: &Notifikasjon) -> String {
    let mut k = format!("{:?}", n.status);
    for e in &n.events {
        let _ = write!(
            k,
            "|{:?} {} {} {} {:?} {:?} {:?}",
            e.kind,
            e.tjeneste_type,
            e.tjeneste_id,
            e.hendelse_dato,
            e.tjeneste_org_nr,
            e.midlertidig_stopp_id,
            e.bruker
        );
    }
    k
}

type Judged = (TestVerdict, String, Vec<Evidence>);

fn pass(reason: impl Into<String>, ev: Vec<Evidence>) -> Judged {
    (TestVerdict::Pass, reason.into(), ev)
}

fn fail(reason: impl Into<String>, ev: Vec<Evidence>) -> Judged {
    (TestVerdict::Fail, reason.into(), ev)
}

fn msg_ev(m: &Msg, note: impl Into<String>) -> Evidence {
    Evidence::Message {
        message_id: m.name(),
        note: format!(
            "{} [{}; arrived {}{}{}]",
            note.into(),
            m.queue,
            m.received.format("%H:%M:%S%.3f"),
            m.evidence_file
                .as_deref()
                .map(|f| format!("; content in {f}"))
                .unwrap_or_default(),
            m.injected
                .as_deref()
                .map(|i| format!("; injected: {i}"))
                .unwrap_or_default(),
        ),
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn since(a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
    (b - a).to_std().unwrap_or_default()
}

/// The session's context for judging.
pub struct Ctx<'a> {
    pub rec: &'a Recording,
    pub expected: &'a Expected,
    pub plan: &'a Plan,
    /// Phases the session was asked to walk (`--only`); the others' tests are skipped.
    pub selected: &'a [PhaseKind],
}

/// Decides every test of the plan.
/// Decides every test of the plan, and measures the vendor's timings.
pub fn judge_all(ctx: &Ctx<'_>) -> (Vec<TestResult>, Timings) {
    let mut results = ctx.plan.skeleton_results();
    let mut rate = None;
    for r in &mut results {
        let Some(t) = ctx.plan.test(&r.id) else {
            continue;
        };
        let ((verdict, reason, mut evidence), throughput) = judge_test(ctx, t.test);
        rate = rate.or(throughput);
        evidence.truncate(MAX_EVIDENCE);
        r.verdict = verdict;
        r.reason = Some(reason);
        r.evidence = evidence;
    }
    (results, timings(ctx, rate))
}

/// Decides one test.
///
/// - `connect`: the kommune opened an authenticated AMQP connection in the test submission.
/// - `sasl`: it logged in with the issued credentials; while its password was refused it
///   tried at least once and never twice within the back-off gap.
/// - `tls`: every connection of the kommune was TLS; the wrong-host listener saw an attempt
///   and no client completed the handshake with its certificate.
/// - `certificate`, `properties`, `cms`, `msghead`: no message of the kommune was answered
///   with an error of that stage (certificate conditions; header/body; signature and
///   encryption; MsgHead), and at least one got past the stage.
/// - `addressing`: the test submissions went to KPR Validering, the content to KPR, nothing
///   of the fault phases reached production, reply-to is the kommune's own `_async` queue.
/// - `schema`, `content_rules`: no finding of the test's rules in the content phases'
///   messages.
/// - `completeness`, `initial_load`, `year_events`: the accepted messages of the phases
///   compared with the expected events (missing, extra, wrong field).
/// - `corrections`, `annulments`: the accepted corrections compared with the expected
///   ones, references resolved against the received ordinary messages (M and C apart).
/// - `chain`: at least three accepted messages to KPR, no chain, numbering or GUID finding.
/// - the fault kinds: see the phase table in [`super::phases`] and the plan's `checks`.
///
/// The throughput test also gives the notifications per second it measured.
fn judge_test(ctx: &Ctx<'_>, t: &Test) -> (Judged, Option<f64>) {
    let Some(phase) = PhaseKind::for_test(t) else {
        return (
            (
                TestVerdict::Skip,
                "no phase of the session decides this test".into(),
                Vec::new(),
            ),
            None,
        );
    };
    let needs: Vec<PhaseKind> = match t.kind {
        CheckKind::Schema | CheckKind::ContentRules => {
            PhaseKind::ALL.into_iter().filter(|p| p.content()).collect()
        }
        CheckKind::Completeness
        | CheckKind::Corrections
        | CheckKind::Annulments
        | CheckKind::Chain => vec![
            PhaseKind::InitialLoad,
            PhaseKind::YearEvents,
            PhaseKind::Corrections,
        ],
        _ => vec![phase],
    };
    let missing: Vec<&str> = needs
        .iter()
        .filter(|p| !ctx.selected.contains(p))
        .map(|p| p.as_str())
        .collect();
    if !missing.is_empty() {
        return (
            (
                TestVerdict::Skip,
                format!(
                    "not run: the session did not walk the phase(s) {} (--only)",
                    missing.join(", ")
                ),
                Vec::new(),
            ),
            None,
        );
    }
    let rec = ctx.rec;
    let timed_out = |p: PhaseKind| {
        rec.phase(p).filter(|r| !r.completed).map(|r| {
            format!(
                " (the {} phase timed out after {:.1} s: {})",
                p.as_str(),
                r.timeout_seconds,
                r.note
            )
        })
    };
    let mut rate = None;
    let mut j = match t.kind {
        CheckKind::Connect => connect(rec),
        CheckKind::Sasl => sasl(rec),
        CheckKind::Tls => tls(rec),
        CheckKind::Certificate => stage_test(
            rec,
            "the certificate check",
            |m| {
                matches!(
                    m.error_condition,
                    Some(
                        ErrorCondition::MissingCertificate
                            | ErrorCondition::SpoofingAttack
                            | ErrorCondition::UnverifiedCertificate
                            | ErrorCondition::ExpiredCertificate
                            | ErrorCondition::RevokedCertificate
                    )
                ) || (m.error_data.as_deref() == Some("WrongKeyUsage"))
            },
            |m| matches!(m.stage, Some(Stage::MsgHead | Stage::Iplos)),
        ),
        CheckKind::Properties => stage_test(
            rec,
            "the header check",
            |m| {
                matches!(m.stage, Some(Stage::Header | Stage::Body))
                    && m.outcome != Some(Outcome::AppRec)
            },
            |m| !matches!(m.stage, Some(Stage::Header | Stage::Body) | None),
        ),
        CheckKind::Cms => cms(rec),
        CheckKind::Msghead => stage_test(
            rec,
            "the MsgHead",
            |m| m.stage == Some(Stage::MsgHead),
            |m| m.stage == Some(Stage::Iplos),
        ),
        CheckKind::Addressing => addressing(rec),
        CheckKind::Schema | CheckKind::ContentRules => rules(rec, t),
        CheckKind::Completeness => {
            let got: Vec<&Msg> = accepted_in(rec, &[PhaseKind::InitialLoad, PhaseKind::YearEvents]);
            completeness(&ctx.expected.ordinary, &got, "the ordinary submission")
        }
        CheckKind::InitialLoad => completeness(
            &ctx.expected.initial(),
            &accepted_in(rec, &[PhaseKind::InitialLoad]),
            "the initial load",
        ),
        CheckKind::YearEvents => completeness(
            &ctx.expected.year(),
            &accepted_in(rec, &[PhaseKind::YearEvents]),
            "the year's events",
        ),
        CheckKind::Corrections => corrections(ctx, Status::M),
        CheckKind::Annulments => corrections(ctx, Status::C),
        CheckKind::Chain => chain(rec, t),
        CheckKind::ApprecStatus2Resend => status2(rec),
        CheckKind::ApprecStatus3 => status3(rec),
        CheckKind::ErrorQueue => error_queue(rec),
        CheckKind::Duplicate => lost_apprec(rec),
        CheckKind::ResilienceDrop => drop_connection(rec),
        CheckKind::ResilienceUnavailable => unavailable(rec, t),
        CheckKind::ResilienceSlow => slow(rec),
        CheckKind::Throughput => {
            let (j, _, r) = throughput(ctx, t);
            rate = r;
            j
        }
        CheckKind::SendemodulLogin if phase == PhaseKind::SendemodulRefused => sm_refused(rec),
        CheckKind::SendemodulLogin => sm_login(rec),
        CheckKind::SendemodulSplit => sm_split(ctx),
    };
    if j.0 == TestVerdict::Fail
        && let Some(why) = timed_out(phase)
    {
        j.1.push_str(&why);
    }
    (j, rate)
}

fn kommune_msgs(rec: &Recording) -> impl Iterator<Item = &Msg> {
    rec.messages.iter()
}

fn accepted_in<'a>(rec: &'a Recording, phases: &[PhaseKind]) -> Vec<&'a Msg> {
    rec.messages
        .iter()
        .filter(|m| m.phase.is_some_and(|p| phases.contains(&p)) && m.accepted())
        .collect()
}

fn connect(rec: &Recording) -> Judged {
    let opened: Vec<_> = rec
        .events_in(PhaseKind::TestSubmission)
        .into_iter()
        .filter(|e| matches!(e.kind, ConnEventKind::Opened { .. }))
        .collect();
    let attached = rec
        .events_in(PhaseKind::TestSubmission)
        .into_iter()
        .find(|e| matches!(e.kind, ConnEventKind::SenderAttached { .. }));
    let mut ev: Vec<Evidence> = opened
        .iter()
        .take(3)
        .map(|e| Evidence::Message {
            message_id: format!("connection {}", e.connection),
            note: format!("opened {} from {}", e.at.format("%H:%M:%S%.3f"), e.peer),
        })
        .collect();
    // The container ids the EPJ used (evidence; NHN does not require one to be kept).
    let ids: BTreeSet<&str> = rec
        .connections
        .iter()
        .filter_map(|e| match &e.kind {
            ConnEventKind::Opened {
                username,
                container_id,
                ..
            } if *username == rec.username && !container_id.is_empty() => {
                Some(container_id.as_str())
            }
            _ => None,
        })
        .collect();
    if !ids.is_empty() {
        ev.push(Evidence::Message {
            message_id: "container-id".into(),
            note: format!(
                "{} container id(s) over the session: {}",
                ids.len(),
                ids.iter().take(5).copied().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    match (opened.first(), attached) {
        (Some(_), Some(a)) => {
            if let ConnEventKind::SenderAttached { target, queue, .. } = &a.kind {
                ev.push(Evidence::Message {
                    message_id: format!("connection {}", a.connection),
                    note: format!("sending link attached to {target} (queue {queue})"),
                });
            }
            pass(
                "the EPJ connected, logged in and attached a sending link",
                ev,
            )
        }
        (Some(_), None) => fail("the EPJ connected but attached no sending link", ev),
        (None, _) => fail(
            "no authenticated AMQP connection from the kommune during the test submission",
            ev,
        ),
    }
}

/// Attempts closer than the back-off gap: their number, with the first as evidence.
fn too_fast(rec: &Recording, attempts: &[DateTime<Utc>], ev: &mut Vec<Evidence>) -> Option<usize> {
    let fast = attempt_gaps(attempts, rec.timing.min_attempt_gap);
    let (at, gap) = fast.first()?;
    ev.push(Evidence::ExpectedReceived {
        subject: format!("attempt at {}", at.format("%H:%M:%S%.3f")),
        field: Some("time since the previous attempt".into()),
        expected: Some(format!("at least {}", secs(rec.timing.min_attempt_gap))),
        received: Some(secs(*gap)),
    });
    Some(fast.len())
}

fn attempt_gaps(times: &[DateTime<Utc>], min: Duration) -> Vec<(DateTime<Utc>, Duration)> {
    times
        .windows(2)
        .map(|w| (w[1], since(w[0], w[1])))
        .filter(|(_, d)| *d < min)
        .collect()
}

fn sasl(rec: &Recording) -> Judged {
    let logged_in = rec.connections.iter().any(
        |e| matches!(&e.kind, ConnEventKind::Opened { username, .. } if *username == rec.username),
    );
    let failed: Vec<DateTime<Utc>> = rec
        .events_in(PhaseKind::AuthRefused)
        .into_iter()
        .filter(|e| matches!(e.kind, ConnEventKind::AuthFailed { .. }))
        .map(|e| e.at)
        .collect();
    let mut ev: Vec<Evidence> = failed
        .iter()
        .take(10)
        .map(|t| Evidence::Message {
            message_id: "SASL PLAIN".into(),
            note: format!(
                "refused at {} (password refused by the harness)",
                t.format("%H:%M:%S%.3f")
            ),
        })
        .collect();
    if !logged_in {
        return fail(
            "the kommune never logged in with the issued credentials",
            ev,
        );
    }
    if failed.is_empty() {
        return fail(
            "the EPJ made no attempt while its password was refused: the error handling could not be seen",
            ev,
        );
    }
    if let Some(fast) = too_fast(rec, &failed, &mut ev) {
        return fail(
            format!(
                "{fast} of {} refused attempts came sooner than {} after the previous one (a tight loop)",
                failed.len(),
                secs(rec.timing.min_attempt_gap)
            ),
            ev,
        );
    }
    pass(
        format!(
            "logged in with the issued credentials; {} refused attempt(s), none sooner than {} after another",
            failed.len(),
            secs(rec.timing.min_attempt_gap)
        ),
        ev,
    )
}

fn tls(rec: &Recording) -> Judged {
    let plain: Vec<_> = rec
        .connections
        .iter()
        .filter(|e| matches!(&e.kind, ConnEventKind::Opened { tls: false, username, .. } if *username == rec.username))
        .collect();
    let mut ev = Vec::new();
    for e in plain.iter().take(3) {
        ev.push(Evidence::Message {
            message_id: format!("connection {}", e.connection),
            note: "logged in without TLS".into(),
        });
    }
    for a in rec.wrong_host.iter().take(5) {
        ev.push(Evidence::Message {
            message_id: "wrong-host listener".into(),
            note: format!(
                "attempt at {}: {}",
                a.at.format("%H:%M:%S%.3f"),
                if a.accepted_certificate {
                    format!(
                        "the client ACCEPTED the certificate for {}{}",
                        super::session::WRONG_HOST,
                        if a.sent_amqp {
                            " and went on to AMQP"
                        } else {
                            ""
                        }
                    )
                } else {
                    format!(
                        "refused: {}",
                        a.error.as_deref().unwrap_or("handshake not completed")
                    )
                }
            ),
        });
    }
    if !plain.is_empty() {
        return fail("credentials were sent on a connection without TLS", ev);
    }
    if rec.wrong_host.is_empty() {
        return fail(
            "no attempt reached the wrong-host port: the certificate check could not be seen",
            ev,
        );
    }
    if rec.wrong_host.iter().any(|a| a.accepted_certificate) {
        return fail(
            format!(
                "the EPJ accepted a certificate for {} (it does not verify the broker's host name)",
                super::session::WRONG_HOST
            ),
            ev,
        );
    }
    pass(
        "every login was over TLS, and the certificate for another host name was refused before SASL",
        ev,
    )
}

fn stage_test(
    rec: &Recording,
    what: &str,
    failed_here: impl Fn(&Msg) -> bool,
    got_past: impl Fn(&Msg) -> bool,
) -> Judged {
    let bad: Vec<&Msg> = kommune_msgs(rec).filter(|m| failed_here(m)).collect();
    let ok = kommune_msgs(rec).filter(|m| got_past(m)).count();
    let ev: Vec<Evidence> = bad
        .iter()
        .map(|m| msg_ev(m, format!("answered {}", m.answer_words())))
        .collect();
    if !bad.is_empty() {
        return fail(format!("{} message(s) failed {what}", bad.len()), ev);
    }
    if ok == 0 {
        return fail(format!("no message of the kommune got past {what}"), ev);
    }
    pass(format!("{ok} message(s) passed {what}, none failed it"), ev)
}

/// CMS-01: no message failed decryption or the signature, and every payload's content
/// encryption is AES-256-CBC.
fn cms(rec: &Recording) -> Judged {
    let j = stage_test(
        rec,
        "decryption and the signature",
        |m| {
            m.stage == Some(Stage::Cms)
                && matches!(
                    m.error_data.as_deref(),
                    Some(
                        "NotCms"
                            | "NotEnveloped"
                            | "NotForUs"
                            | "BadDecrypt"
                            | "NotSigned"
                            | "BadSignature"
                            | "TooLarge"
                    )
                )
        },
        |m| matches!(m.stage, Some(Stage::MsgHead | Stage::Iplos)),
    );
    if j.0 != TestVerdict::Pass {
        return j;
    }
    let other: Vec<&Msg> = kommune_msgs(rec)
        .filter(|m| {
            m.content_encryption
                .as_deref()
                .is_some_and(|a| a != iplos_mocks::cms::OID_AES256_CBC)
        })
        .collect();
    if other.is_empty() {
        return (
            j.0,
            format!("{}; content encrypted with AES-256-CBC", j.1),
            j.2,
        );
    }
    let ev = other
        .iter()
        .map(|m| Evidence::ExpectedReceived {
            subject: m.name(),
            field: Some("contentEncryptionAlgorithm".into()),
            expected: Some(format!(
                "AES-256-CBC ({})",
                iplos_mocks::cms::OID_AES256_CBC
            )),
            received: m.content_encryption.clone(),
        })
        .collect();
    fail(
        format!(
            "{} message(s) encrypted with another algorithm than AES-256-CBC",
            other.len()
        ),
        ev,
    )
}

fn queue_her(queue: &str) -> Option<&str> {
    queue.rsplit('/').next()?.strip_suffix("_async")
}

fn addressing(rec: &Recording) -> Judged {
    let mut ev = Vec::new();
    let own = format!("{}_async", rec.kommune_her);
    for m in kommune_msgs(rec) {
        let Some(phase) = m.phase else { continue };
        let want = if phase.production() {
            "134197"
        } else {
            "131725"
        };
        let got = queue_her(&m.queue).unwrap_or("?");
        if got != want {
            ev.push(Evidence::ExpectedReceived {
                subject: format!("{} ({} phase)", m.name(), phase.as_str()),
                field: Some("target queue".into()),
                expected: Some(format!("{want}_async")),
                received: Some(m.queue.clone()),
            });
        }
        let reply_ok = m
            .reply_to
            .as_deref()
            .and_then(|r| r.rsplit('/').next())
            .is_some_and(|q| q == own);
        if !reply_ok {
            ev.push(Evidence::ExpectedReceived {
                subject: m.name(),
                field: Some("reply-to".into()),
                expected: Some(own.clone()),
                received: m.reply_to.clone(),
            });
        }
        if m.to_her.as_deref().map(str::trim) != Some(got) {
            ev.push(Evidence::ExpectedReceived {
                subject: m.name(),
                field: Some("toHerId".into()),
                expected: Some(got.to_string()),
                received: m.to_her.clone(),
            });
        }
    }
    let leaked = ev.iter().any(|e| {
        matches!(e, Evidence::ExpectedReceived { expected: Some(x), .. } if x == "131725_async")
    });
    if rec.messages.is_empty() {
        return fail("no message arrived", ev);
    }
    if !ev.is_empty() {
        return fail(
            if leaked {
                "test data reached KPR production, or messages were misaddressed".to_string()
            } else {
                format!("{} addressing problem(s)", ev.len())
            },
            ev,
        );
    }
    pass(
        format!(
            "{} message(s): test submissions to 131725, content to 134197, reply-to {own}, toHerId the queue's owner",
            rec.messages.len()
        ),
        ev,
    )
}

fn excerpt(m: &Msg, line: u64) -> Option<Evidence> {
    let text = String::from_utf8_lossy(m.iplos.as_ref()?);
    let first = line.saturating_sub(2).max(1);
    let xml: Vec<&str> = text.lines().skip(first as usize - 1).take(6).collect();
    if xml.is_empty() {
        return None;
    }
    Some(Evidence::excerpt(
        Some(m.name()),
        u32::try_from(first).ok(),
        &xml.join("\n"),
    ))
}

fn rules(rec: &Recording, t: &Test) -> Judged {
    let content: Vec<&Msg> = kommune_msgs(rec)
        .filter(|m| m.phase.is_some_and(PhaseKind::content) && m.report.is_some())
        .collect();
    let mut ev = Vec::new();
    let mut n = 0usize;
    let mut excerpted = false;
    for m in &content {
        for f in &m.report.as_ref().expect("filtered").findings {
            if !t.rules.iter().any(|r| r == f.rule) {
                continue;
            }
            n += 1;
            if ev.len() < MAX_EVIDENCE - 1 {
                ev.push(Evidence::Rule {
                    rule: f.rule.to_string(),
                    title: f.message.clone(),
                    message_id: Some(m.name()),
                    location: Some(format!("{} (line {})", f.location.path, f.location.line)),
                });
            }
            if !excerpted && let Some(x) = excerpt(m, f.location.line) {
                ev.push(x);
                excerpted = true;
            }
        }
    }
    if content.is_empty() {
        return fail("no message of the content phases was checked", ev);
    }
    if n > 0 {
        return fail(
            format!(
                "{n} finding(s) of {} in the vendor's export",
                t.rules.join(", ")
            ),
            ev,
        );
    }
    pass(
        format!(
            "no finding of {} in {} message(s)",
            t.rules.join(", "),
            content.len()
        ),
        ev,
    )
}

/// An event in words, as the reports show it.
pub fn event_words(e: &iplos_model::compare::EventValue) -> String {
    format!(
        "{} status {} — tjenesteType {}, tjenesteID {}, hendelseDato {}, person typeID {} fid {}{}{}",
        e.kind,
        e.status,
        e.tjeneste_type,
        e.tjeneste_id,
        e.hendelse_dato,
        e.type_id,
        e.fid,
        e.tjeneste_org_nr
            .as_ref()
            .map(|o| format!(", tjenesteOrgNr {o}"))
            .unwrap_or_default(),
        e.bydel
            .as_ref()
            .map(|b| format!(", bydel {b}"))
            .unwrap_or_default(),
    )
}

/// Evidence for a comparison's references that point to the wrong original (those `keep`
/// accepts).
pub fn reference_evidence(
    c: &Comparison,
    file: &str,
    keep: impl Fn(&iplos_model::compare::RefProblem) -> bool,
) -> Vec<Evidence> {
    c.references
        .iter()
        .filter(|r| keep(r))
        .map(|r| Evidence::ExpectedReceived {
            subject: format!("{file}: {} {} ({:?})", r.rule, r.key, r.kind),
            field: Some("notifikasjonRef".into()),
            expected: Some(r.expected.clone()),
            received: Some(r.received.clone()),
        })
        .collect()
}

/// Evidence for a comparison's missing, extra and wrong events.
pub fn comparison_evidence(
    c: &Comparison,
    file: &str,
    keep: impl Fn(&str) -> bool,
) -> Vec<Evidence> {
    let mut ev = Vec::new();
    for d in c.missing.iter().chain(&c.extra) {
        let status = d
            .expected
            .as_ref()
            .or(d.received.as_ref())
            .map(|e| e.status.as_str())
            .unwrap_or("");
        if !keep(status) {
            continue;
        }
        ev.push(Evidence::ExpectedReceived {
            subject: format!("{file}: {} {}", d.rule, d.key),
            field: None,
            expected: d.expected.as_ref().map(event_words),
            received: d.received.as_ref().map(event_words),
        });
    }
    for d in &c.wrong {
        ev.push(Evidence::ExpectedReceived {
            subject: format!(
                "{file}: {} {} at {}{}",
                d.rule,
                d.key,
                d.location.path,
                d.location
                    .line
                    .map(|l| format!(" (line {l})"))
                    .unwrap_or_default()
            ),
            field: Some(d.field.clone()),
            expected: d.expected.clone(),
            received: d.received.clone(),
        });
    }
    ev
}

fn completeness(expected: &Melding, got: &[&Msg], what: &str) -> Judged {
    let Some(received) = merged(got.iter().copied()) else {
        return fail(format!("no accepted message carried {what}"), Vec::new());
    };
    let c = compare(expected, &received, &CompareOptions::default());
    let names: Vec<String> = got.iter().map(|m| m.name()).collect();
    let ev = comparison_evidence(&c, &names.join(" + "), |_| true);
    let n = c.missing.len() + c.extra.len() + c.wrong.len();
    if n > 0 {
        return fail(
            format!(
                "{what}: {} of {} expected events matched; {} missing, {} extra, {} wrong field(s)",
                c.matched,
                c.expected_events,
                c.missing.len(),
                c.extra.len(),
                c.wrong.len()
            ),
            ev,
        );
    }
    pass(
        format!(
            "{what}: all {} expected events received once, every field as expected ({} message(s))",
            c.expected_events,
            got.len()
        ),
        ev,
    )
}

fn corrections(ctx: &Ctx<'_>, which: Status) -> Judged {
    let rec = ctx.rec;
    let ordinary = accepted_in(rec, &[PhaseKind::InitialLoad, PhaseKind::YearEvents]);
    let corr = accepted_in(rec, &[PhaseKind::Corrections]);
    let (Some(ord), Some(cor)) = (
        merged(ordinary.iter().copied()),
        merged(corr.iter().copied()),
    ) else {
        return fail(
            "no accepted ordinary and corrections messages to compare",
            Vec::new(),
        );
    };
    let lines = (corr.len() == 1).then(|| corr[0].lines.clone()).flatten();
    let c = compare_corrections(
        &ctx.expected.ordinary,
        &ctx.expected.corrections,
        (&ord, None),
        (&cor, lines.as_deref()),
        &CompareOptions::default(),
    );
    let code = match which {
        Status::M => "M",
        _ => "C",
    };
    let is_which = |s: &str| s == code;
    let file = corr
        .iter()
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(" + ");
    let mut ev = comparison_evidence(&c, &file, is_which);
    let status_of = |i: usize| cor.notifikasjoner.get(i.wrapping_sub(1)).map(|n| &n.status);
    ev.extend(reference_evidence(&c, &file, |r| {
        status_of(r.location.notification) == Some(&which)
    }));
    let expected_n = ctx
        .expected
        .corrections
        .notifikasjoner
        .iter()
        .filter(|n| n.status == which)
        .count();
    let what = if which == Status::M {
        "corrections (M)"
    } else {
        "annulments (C)"
    };
    if !ev.is_empty() {
        return fail(format!("{} problem(s) with the {what}", ev.len()), ev);
    }
    pass(
        format!("all {expected_n} expected {what} received, each referring to the right original"),
        ev,
    )
}

fn chain(rec: &Recording, t: &Test) -> Judged {
    let prod = accepted_in(
        rec,
        &[
            PhaseKind::InitialLoad,
            PhaseKind::YearEvents,
            PhaseKind::Corrections,
        ],
    );
    let mut ev = Vec::new();
    let mut n = 0;
    for m in rec
        .messages
        .iter()
        .filter(|m| m.phase.is_some_and(PhaseKind::production))
    {
        for f in m.report.iter().flat_map(|r| &r.findings) {
            if t.rules.iter().any(|r| r == f.rule) {
                n += 1;
                ev.push(Evidence::Rule {
                    rule: f.rule.to_string(),
                    title: f.message.clone(),
                    message_id: Some(m.name()),
                    location: Some(format!("{} (line {})", f.location.path, f.location.line)),
                });
            }
        }
    }
    if n > 0 {
        return fail(
            format!("{n} chain or numbering finding(s) across the messages to KPR"),
            ev,
        );
    }
    if prod.len() < 3 {
        return fail(
            format!(
                "only {} accepted message(s) to KPR: the chain across at least three could not be seen",
                prod.len()
            ),
            ev,
        );
    }
    pass(
        format!(
            "{} accepted messages to KPR with one unbroken chain, strictly increasing løpenr and unique GUIDs",
            prod.len()
        ),
        ev,
    )
}

/// The first message of a phase that got the injection, and the ones after it.
fn injected_and_after<'a>(
    rec: &'a Recording,
    phase: PhaseKind,
    name: &str,
) -> Option<(&'a Msg, Vec<&'a Msg>)> {
    let msgs = rec.in_phase(phase);
    let first = *msgs.iter().find(|m| m.injected.as_deref() == Some(name))?;
    let after = msgs.into_iter().filter(|m| m.row > first.row).collect();
    Some((first, after))
}

fn status2(rec: &Recording) -> Judged {
    let Some((m0, after)) = injected_and_after(rec, PhaseKind::ApprecStatus2, "rejected") else {
        return fail("no message arrived to reject", Vec::new());
    };
    let mut ev = vec![msg_ev(m0, "answered AppRec status 2 by the harness")];
    for m in &after {
        ev.push(msg_ev(m, format!("then: {}", m.answer_words())));
    }
    if m0.duplicates > 0 {
        return fail(
            format!(
                "the rejected message was sent again unchanged (same message-id, {} time(s))",
                m0.duplicates
            ),
            ev,
        );
    }
    let Some(m1) = after.iter().find(|m| m.accepted()) else {
        return fail(
            "no corrected message was accepted after the AppRec status 2",
            ev,
        );
    };
    if m1.msg_id.is_some() && m1.msg_id == m0.msg_id {
        return fail("the new message reuses the rejected message's MsgId", ev);
    }
    let (g0, g1) = (m0.guids(), m1.guids());
    if g0 != g1 {
        ev.push(Evidence::ExpectedReceived {
            subject: format!("{} → {}", m0.name(), m1.name()),
            field: Some("notifikasjonGUIDs".into()),
            expected: Some(format!("the same {} GUIDs", g0.len())),
            received: Some(format!(
                "{} of them, {} others",
                g0.intersection(&g1).count(),
                g1.difference(&g0).count()
            )),
        });
        return fail(
            "the resend does not carry the same notifications (the rejected message was never received: its GUIDs must be sent again)",
            ev,
        );
    }
    pass(
        "after AppRec status 2 a new message with the same notifications was sent and accepted",
        ev,
    )
}

fn status3(rec: &Recording) -> Judged {
    let Some((m0, after)) = injected_and_after(rec, PhaseKind::ApprecStatus3, "partly-rejected")
    else {
        return fail("no message arrived to answer with status 3", Vec::new());
    };
    let Some(mel0) = &m0.melding else {
        return fail(
            "the message answered with status 3 could not be read",
            vec![msg_ev(m0, "unreadable")],
        );
    };
    let n = mel0.notifikasjoner.len();
    let named: Vec<&Notifikasjon> = mel0.notifikasjoner[n.saturating_sub(STATUS3_NAMED)..]
        .iter()
        .collect();
    let mut ev = vec![msg_ev(
        m0,
        format!(
            "answered AppRec status 3 naming {}",
            named
                .iter()
                .map(|x| x.guid.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )];
    let accepted: Vec<&Msg> = after.iter().copied().filter(|m| m.accepted()).collect();
    for m in &after {
        ev.push(msg_ev(m, format!("then: {}", m.answer_words())));
    }
    let Some(resent) = merged(accepted.iter().copied()) else {
        return fail("the rejected notifications were not sent again", ev);
    };
    let mut want = mel0.clone();
    want.notifikasjoner = named.iter().map(|x| (*x).clone()).collect();
    let c = compare(&want, &resent, &CompareOptions::default());
    ev.extend(comparison_evidence(&c, "the resend", |_| true));
    let old: BTreeSet<String> = mel0
        .notifikasjoner
        .iter()
        .map(|x| norm_guid(&x.guid))
        .collect();
    let reused: Vec<&Notifikasjon> = resent
        .notifikasjoner
        .iter()
        .filter(|x| old.contains(&norm_guid(&x.guid)))
        .collect();
    if !c.extra.is_empty() {
        return fail(
            format!(
                "{} event(s) that were accepted were sent again",
                c.extra.len()
            ),
            ev,
        );
    }
    if !c.missing.is_empty() || !c.wrong.is_empty() {
        return fail(
            "not every rejected notification was sent again as it should be",
            ev,
        );
    }
    if !reused.is_empty() {
        return fail(
            format!(
                "{} resent notification(s) reuse a GUID of the first message instead of being new notifications",
                reused.len()
            ),
            ev,
        );
    }
    pass(
        format!(
            "the {} rejected notifications were sent again as new notifications and accepted; nothing else was resent",
            named.len()
        ),
        ev,
    )
}

fn error_queue(rec: &Recording) -> Judged {
    let Some((m0, after)) = injected_and_after(rec, PhaseKind::ErrorQueue, "transport-error")
    else {
        return fail(
            "no message arrived to answer with a transport error",
            Vec::new(),
        );
    };
    let mut ev = vec![msg_ev(
        m0,
        "answered with a transport error on the _error queue",
    )];
    for m in &after {
        ev.push(msg_ev(m, format!("then: {}", m.answer_words())));
    }
    if let Some(left) = rec.error_queue_left.filter(|n| *n > 0) {
        return fail(
            format!("{left} message(s) left unread on the kommune's _error queue"),
            ev,
        );
    }
    let Some(m1) = after.iter().find(|m| m.accepted()) else {
        return fail(
            if m0.duplicates > 0 {
                "the message was only sent again with the same message-id (the register answers a message-id once: it got the same error)".to_string()
            } else {
                "no message was sent again after the transport error".to_string()
            },
            ev,
        );
    };
    // The register did not open the errored message (a transport error comes before the
    // content); when its content is known, the resend must carry the same notifications.
    if m0.melding.is_some() && m0.guids() != m1.guids() {
        return fail(
            "the message sent again does not carry the same notifications",
            ev,
        );
    }
    pass(
        "the error was read from the _error queue and the message sent again and accepted",
        ev,
    )
}

/// Later messages (new message-ids) that carry an event of `m0` again under another GUID.
fn regenerated<'a>(m0: &Msg, later: &[&'a Msg]) -> Vec<(&'a Msg, usize, usize)> {
    let Some(mel0) = &m0.melding else {
        return Vec::new();
    };
    let keys: HashMap<String, String> = mel0
        .notifikasjoner
        .iter()
        .map(|n| (content_key(n), norm_guid(&n.guid)))
        .collect();
    let mut out = Vec::new();
    for m in later {
        if m.message_id == m0.message_id {
            continue;
        }
        let Some(mel) = &m.melding else { continue };
        let (mut same_guid, mut new_guid) = (0, 0);
        for n in &mel.notifikasjoner {
            match keys.get(&content_key(n)) {
                Some(g) if *g == norm_guid(&n.guid) => same_guid += 1,
                Some(_) => new_guid += 1,
                None => {}
            }
        }
        if same_guid + new_guid > 0 {
            out.push((*m, same_guid, new_guid));
        }
    }
    out
}

fn lost_apprec(rec: &Recording) -> Judged {
    let Some((m0, after)) = injected_and_after(rec, PhaseKind::LostApprec, "withhold-reply") else {
        return fail("no message arrived", Vec::new());
    };
    let mut ev = vec![msg_ev(m0, "accepted; its AppRec withheld by the harness")];
    let again = regenerated(m0, &after);
    for (m, same, new) in &again {
        ev.push(msg_ev(
            m,
            format!("sent again with a new message-id: {same} notification(s) with the same GUID, {new} with a new GUID"),
        ));
    }
    if again.iter().any(|(_, _, new)| *new > 0) {
        return fail(
            "events of the unconfirmed message were sent again under new notifikasjonGUIDs: the register counts them twice",
            ev,
        );
    }
    let how = if m0.duplicates > 0 {
        format!(
            "sent again with the same message-id ({} time(s)), which the register recognises",
            m0.duplicates
        )
    } else if !again.is_empty() {
        "sent again with the same notifikasjonGUIDs, which the register recognises".into()
    } else {
        "not sent again".into()
    };
    pass(
        format!("the unconfirmed message was {how}; no notification got a new GUID"),
        ev,
    )
}

fn no_duplicates(rec: &Recording, phase: PhaseKind) -> Result<(&Msg, Vec<Evidence>), Judged> {
    let msgs = rec.in_phase(phase);
    let Some(m0) = msgs.first().copied() else {
        return Err(fail("no message arrived", Vec::new()));
    };
    let after: Vec<&Msg> = msgs.iter().skip(1).copied().collect();
    let mut ev = vec![msg_ev(m0, format!("first message: {}", m0.answer_words()))];
    let again = regenerated(m0, &after);
    for (m, same, new) in &again {
        ev.push(msg_ev(
            m,
            format!("the same events again under a new message-id: {same} with the same GUID, {new} with a new GUID"),
        ));
    }
    if !again.is_empty() {
        return Err(fail(
            "notifications were sent twice (again under a new message-id): unsettled messages must be resent with the same message-id",
            ev,
        ));
    }
    if !msgs.iter().any(|m| m.accepted()) {
        return Err(fail(
            "the submission was not completed (no AppRec status 1 or 3)",
            ev,
        ));
    }
    Ok((m0, ev))
}

fn drop_connection(rec: &Recording) -> Judged {
    let events = rec.events_in(PhaseKind::ConnectionDrop);
    let Some(dropped) = events
        .iter()
        .find(|e| matches!(e.kind, ConnEventKind::Dropped { .. }))
        .map(|e| e.at)
    else {
        return fail(
            "the connection was never dropped: no message was sent in the phase",
            Vec::new(),
        );
    };
    let back = events
        .iter()
        .any(|e| e.at > dropped && matches!(e.kind, ConnEventKind::Opened { .. }));
    if !back {
        return fail(
            "the EPJ did not reconnect after the broker dropped the connection",
            rec.in_phase(PhaseKind::ConnectionDrop)
                .into_iter()
                .map(|m| {
                    msg_ev(
                        m,
                        "stored before the drop; its disposition never reached the EPJ",
                    )
                })
                .collect(),
        );
    }
    match no_duplicates(rec, PhaseKind::ConnectionDrop) {
        Err(j) => j,
        Ok((m0, ev)) => pass(
            format!(
                "after the dropped connection the submission completed with every notification once{}",
                if m0.duplicates > 0 {
                    format!(
                        " (the unsettled message was resent {} time(s) with the same message-id)",
                        m0.duplicates
                    )
                } else {
                    String::new()
                }
            ),
            ev,
        ),
    }
}

fn unavailable(rec: &Recording, t: &Test) -> Judged {
    let refused: Vec<DateTime<Utc>> = rec
        .events_in(PhaseKind::BrokerUnavailable)
        .into_iter()
        .filter(|e| matches!(e.kind, ConnEventKind::RefusedUnavailable))
        .map(|e| e.at)
        .collect();
    let outage = t
        .fault
        .as_ref()
        .and_then(|f| f.duration_seconds)
        .map(|s| rec.timing.scaled(Duration::from_secs(u64::from(s))))
        .unwrap_or_default();
    let mut ev = vec![Evidence::Message {
        message_id: "broker".into(),
        note: format!(
            "refused connections for {}; {} attempt(s) refused",
            secs(outage),
            refused.len()
        ),
    }];
    if refused.is_empty() {
        return fail(
            "the EPJ made no attempt while the broker was unavailable",
            ev,
        );
    }
    if let Some(fast) = too_fast(rec, &refused, &mut ev) {
        return fail(
            format!("{fast} attempt(s) without back-off during the outage"),
            ev,
        );
    }
    match no_duplicates(rec, PhaseKind::BrokerUnavailable) {
        Err((v, r, mut e)) => {
            ev.append(&mut e);
            (v, r, ev)
        }
        Ok((_, mut e)) => {
            ev.append(&mut e);
            pass(
                format!(
                    "{} attempt(s) with back-off during the outage, then the submission completed once",
                    refused.len()
                ),
                ev,
            )
        }
    }
}

fn slow(rec: &Recording) -> Judged {
    let opened = rec
        .events_in(PhaseKind::SlowBroker)
        .into_iter()
        .filter(|e| matches!(e.kind, ConnEventKind::Opened { .. }))
        .count();
    match no_duplicates(rec, PhaseKind::SlowBroker) {
        Err(j) => j,
        Ok((_, mut ev)) => {
            ev.push(Evidence::Message {
                message_id: "broker".into(),
                note: format!("{opened} connection(s) opened during the phase"),
            });
            if opened > 3 {
                return fail(
                    format!("{opened} connections were opened while the broker was slow"),
                    ev,
                );
            }
            pass(
                "the EPJ waited for the slow broker and completed the submission once",
                ev,
            )
        }
    }
}

/// PERF-01 and the figures for the report: (verdict, seconds, notifications/s).
pub fn throughput(ctx: &Ctx<'_>, t: &Test) -> (Judged, Option<f64>, Option<f64>) {
    let rec = ctx.rec;
    let msgs = rec.in_phase(PhaseKind::InitialLoad);
    let Some(first) = msgs.first() else {
        return (
            fail("no message of the initial load arrived", Vec::new()),
            None,
            None,
        );
    };
    let want = ctx.expected.initial();
    let limit = rec.timing.scaled(Duration::from_secs(t.timeout_seconds));
    let mut taken: Vec<&Msg> = Vec::new();
    let mut done: Option<&Msg> = None;
    for m in msgs.iter().filter(|m| m.accepted()) {
        taken.push(m);
        let got = merged(taken.iter().copied()).expect("accepted messages were read");
        if compare(&want, &got, &CompareOptions::default())
            .missing
            .is_empty()
        {
            done = Some(m);
            break;
        }
    }
    let Some(last) = done else {
        return (
            fail("the initial load was never complete", Vec::new()),
            None,
            None,
        );
    };
    let end = last.replied.unwrap_or(last.received);
    let took = since(first.received, end);
    let n = want.notifikasjoner.len();
    let rate = n as f64 / took.as_secs_f64().max(0.001);
    let ev = vec![
        msg_ev(first, "first message of the initial load"),
        msg_ev(last, "the message completing it"),
        Evidence::ExpectedReceived {
            subject: format!("{n} notifications of the initial load"),
            field: Some("time from the first message's arrival to the last AppRec".into()),
            expected: Some(format!("at most {}", secs(limit))),
            received: Some(format!("{} ({rate:.0} notifications/s)", secs(took))),
        },
    ];
    let j = if took <= limit {
        pass(
            format!(
                "the initial load ({n} notifications) was received and accepted in {}",
                secs(took)
            ),
            ev,
        )
    } else {
        fail(
            format!(
                "the initial load took {}, more than the {} allowed",
                secs(took),
                secs(limit)
            ),
            ev,
        )
    };
    (j, Some(took.as_secs_f64()), Some(rate))
}

/// The vendor's timings: time to the first AppRec, notifications per second over the
/// initial load, p50/p99 of arrival → AppRec over every message answered normally.
fn timings(ctx: &Ctx<'_>, notifications_per_second: Option<f64>) -> Timings {
    let rec = ctx.rec;
    let mut t = Timings {
        started: Some(rec.started),
        ended: Some(rec.ended),
        wall_seconds: Some(since(rec.started, rec.ended).as_secs_f64()),
        ..Timings::default()
    };
    t.time_to_first_apprec_ms = rec
        .messages
        .iter()
        .find(|m| m.outcome == Some(Outcome::AppRec) && m.replied.is_some())
        .and_then(|m| m.replied.map(|r| since(m.received, r).as_millis() as u64));
    t.notifications_per_second = notifications_per_second;
    let lat: Vec<f64> = rec
        .messages
        .iter()
        .filter(|m| m.injected.is_none() && m.phase != Some(PhaseKind::SlowBroker))
        .filter_map(|m| {
            m.replied
                .map(|r| since(m.received, r).as_secs_f64() * 1000.0)
        })
        .collect();
    t.set_latencies(&lat);
    t
}

fn in_window(rec: &Recording, kind: PhaseKind, at: DateTime<Utc>) -> bool {
    rec.phase(kind)
        .is_some_and(|p| at >= p.started && at < p.ended)
}

fn attempt_ev(a: &iplos_mocks::sendemodul::LoginAttempt, portal: &str) -> Evidence {
    Evidence::Message {
        message_id: format!("{portal} login"),
        note: format!(
            "{} at {}: {:?}",
            a.kommunenr,
            a.at.format("%H:%M:%S%.3f"),
            a.outcome
        ),
    }
}

fn sm_upload_of(rec: &Recording) -> Vec<&super::record::SmSubmission> {
    rec.sendemodul
        .iter()
        .flat_map(|s| &s.submissions)
        .filter(|x| {
            x.info.kommunenr == rec.kommune
                && in_window(rec, PhaseKind::SendemodulUpload, x.info.arrived)
        })
        .collect()
}

fn submission_ev(x: &super::record::SmSubmission) -> Evidence {
    Evidence::Message {
        message_id: format!("submission {}", x.info.id.0),
        note: format!(
            "{} ({} bytes, sha256 {}), bydel {}, taken in {}",
            x.info.file_name,
            x.info.size,
            x.info.sha256,
            x.info.bydel,
            x.info.arrived.format("%H:%M:%S%.3f")
        ),
    }
}

/// SM-01: logged in with the four values and the upload was taken in.
fn sm_login(rec: &Recording) -> Judged {
    let Some(sm) = &rec.sendemodul else {
        return fail("Sendemodul was not started", Vec::new());
    };
    let attempts: Vec<_> = sm
        .attempts
        .iter()
        .filter(|a| in_window(rec, PhaseKind::SendemodulUpload, a.at))
        .collect();
    let mut ev: Vec<Evidence> = attempts
        .iter()
        .take(5)
        .map(|a| attempt_ev(a, "Sendemodul"))
        .collect();
    let ok = attempts.iter().any(|a| {
        a.kommunenr == rec.kommune && a.outcome == iplos_mocks::sendemodul::LoginOutcome::Success
    });
    if !ok {
        return fail("no successful login with the kommune's four values", ev);
    }
    let ups = sm_upload_of(rec);
    ev.extend(ups.iter().map(|x| submission_ev(x)));
    if ups.is_empty() {
        return fail("logged in, but no upload was taken in", ev);
    }
    pass(
        format!(
            "logged in with the four values; {} file(s) taken in",
            ups.len()
        ),
        ev,
    )
}

/// SM-02: the rejected login was shown, not retried blindly.
fn sm_refused(rec: &Recording) -> Judged {
    let Some(sm) = &rec.sendemodul else {
        return fail("Sendemodul was not started", Vec::new());
    };
    let attempts: Vec<_> = sm
        .refusing_attempts
        .iter()
        .filter(|a| in_window(rec, PhaseKind::SendemodulRefused, a.at))
        .collect();
    let ev: Vec<Evidence> = attempts
        .iter()
        .take(10)
        .map(|a| attempt_ev(a, "refusing Sendemodul"))
        .collect();
    match attempts.len() {
        0 => fail(
            "no login attempt on the portal that rejects the PIN: the error handling could not be seen",
            ev,
        ),
        1 | 2 => pass(
            format!(
                "{} refused login attempt(s); the client stopped",
                attempts.len()
            ),
            ev,
        ),
        n => fail(
            format!("the refused login was tried {n} times (the same values more than twice)"),
            ev,
        ),
    }
}

/// SM-03: the file larger than the part limit was split, and the reassembled file is the
/// complete export.
fn sm_split(ctx: &Ctx<'_>) -> Judged {
    let rec = ctx.rec;
    let Some(sm) = &rec.sendemodul else {
        return fail("Sendemodul was not started", Vec::new());
    };
    let ups = sm_upload_of(rec);
    let Some(last) = ups.last() else {
        return fail("no file was taken in", Vec::new());
    };
    let mut ev = vec![submission_ev(last)];
    if last.info.size <= sm.part_limit {
        return fail(
            format!(
                "the file ({} bytes) is not larger than the part limit ({} bytes): the split could not be seen",
                last.info.size, sm.part_limit
            ),
            ev,
        );
    }
    let Some(m) = &last.melding else {
        return fail(
            "the reassembled file could not be read as an IPLOS message",
            ev,
        );
    };
    let c = compare(&ctx.expected.ordinary, m, &CompareOptions::default());
    ev.extend(comparison_evidence(&c, &last.info.file_name, |_| true));
    if !c.missing.is_empty() || !c.extra.is_empty() || !c.wrong.is_empty() {
        return fail(
            format!(
                "the reassembled file is not the complete export: {} events missing, {} extra, {} wrong field(s) (a part lost, doubled or out of order — or the export itself incomplete, see the completeness tests)",
                c.missing.len(),
                c.extra.len(),
                c.wrong.len()
            ),
            ev,
        );
    }
    pass(
        format!(
            "{} bytes uploaded in parts of at most {} bytes, reassembled to the complete export ({} events)",
            last.info.size, sm.part_limit, c.expected_events
        ),
        ev,
    )
}
