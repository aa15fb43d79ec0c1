//! The event loop: the season set up, then take, do, commit — one event at a time.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use iplos_model::calendar::{Clock, VirtualClock, is_working_day};
use iplos_model::municipality::{self, Municipality};
use iplos_reports::RehearsalReport;

use super::days::{at_oslo, working_day_on_or_after};
use super::national::start_world;
use super::plan::plan;
use super::queue::{Ev, Kind, Queue};
use super::report::{Stats, build_report, step_stats};
use super::store::EngineStore;
use super::world::{Agent, Channel, EngineConfig, World};
use super::{agent, ssb};
use crate::scenario::{Fault, PhaseId};

/// The environment variable that aborts the process after the effects of the event with
/// this label and occurrence (`LABEL#N`, e.g. `kommune: ordinary submission#5`) and before
/// its commit: the `--resume` tests.
pub const ABORT_ENV: &str = "IPLOS_REHEARSE_ABORT";

/// Runs the season; returns the report (the caller writes it).
pub async fn run(cfg: EngineConfig) -> Result<RehearsalReport> {
    let sc = &cfg.scenario;
    let year = u16::try_from(sc.season.data_year).context("data year")?;
    let all = municipality::municipalities(year)?;
    let chosen: Vec<&'static Municipality> = match &cfg.kommuner {
        None => all.iter().collect(),
        Some(list) => {
            let mut v = Vec::new();
            for k in list {
                v.push(
                    municipality::lookup(year, k).with_context(|| format!("--municipality {k}"))?,
                );
            }
            v
        }
    };
    let first_day = sc
        .season
        .phases
        .iter()
        .map(|p| p.first_day)
        .min()
        .ok_or_else(|| anyhow!("the scenario has no phases"))?;
    let last_day = sc
        .season
        .phases
        .iter()
        .map(|p| p.last_day)
        .max()
        .unwrap_or(first_day);
    let start = at_oslo(first_day - Duration::days(7), 0, 0)?;
    let end = at_oslo(last_day + Duration::days(14), 0, 0)?;
    let clock = Arc::new(VirtualClock::new(start));
    std::fs::create_dir_all(&cfg.state_dir)?;
    let world = start_world(&cfg, clock.clone(), &chosen).await?;
    let fingerprint = format!(
        "{} ({}) seed {} scale {} kommuner {}",
        sc.name,
        sc.season.data_year,
        cfg.seed,
        cfg.scale,
        chosen
            .iter()
            .map(|m| m.number())
            .collect::<Vec<_>>()
            .join(",")
    );
    if cfg.resume {
        let mut store = EngineStore::open(&cfg.state_dir, &fingerprint)?;
        let saved = store.load::<Agent, Ev>()?;
        if saved.agents.len() != chosen.len() {
            return Err(anyhow!(
                "the run store has {} kommuner, the run {}",
                saved.agents.len(),
                chosen.len()
            ));
        }
        let mut agents = saved.agents;
        let mut q = Queue::restore(saved.seq, saved.queue);
        if cfg.progress {
            eprintln!(
                "rehearse: resuming after {} events ({} waiting)",
                saved.done,
                q.len()
            );
        }
        let stats = drain_loop(
            &cfg,
            &world,
            &mut agents,
            &mut q,
            &mut store,
            saved.done,
            true,
            end,
            &clock,
        )
        .await?;
        return finish(&cfg, world, agents, start, end, clock, stats).await;
    }
    let mut store = EngineStore::create(&cfg.state_dir, &fingerprint)?;

    let mut agents: Vec<Agent> = chosen
        .iter()
        .map(|m| Agent::new(plan(sc, m, cfg.seed)))
        .collect();

    // Filsluse users: one per kommune (its postmottak), created at the start of the season
    // with the "Ny bruker" mail.
    for (a, m) in agents.iter().zip(&chosen) {
        let spec = iplos_mocks::filsluse::UserSpec::for_municipality(m)
            .with_username(a.plan.postmottak.clone());
        world
            .filsluse()?
            .create_user(&spec)
            .with_context(|| format!("creating the filsluse user of {}", a.plan.knr))?;
    }

    let sendemodul = matches!(world.channel, Channel::Sendemodul);
    let mut q = first_events(&cfg, &mut agents, sendemodul, first_day, last_day)?;

    // The "Ny bruker" mails are out before the run's first commit.
    world.flush().await?;
    let everyone: Vec<(usize, &Agent)> = agents.iter().enumerate().collect();
    let pushed = q.take_pushed();
    store.commit(0, q.seq(), None, &pushed, &everyone)?;
    let stats = drain_loop(
        &cfg,
        &world,
        &mut agents,
        &mut q,
        &mut store,
        0,
        false,
        end,
        &clock,
    )
    .await?;
    finish(&cfg, world, agents, start, end, clock, stats).await
}

/// What is on the calendar at the start: each kommune's test and ordinary submission, and
/// the national jobs — SSB's 08:00 receipts on every working day (Sendemodul years) and the
/// days the feedback is published. Sets the causes of the faults that act before the season
/// (a kommune that never tests, an EPJ not upgraded).
fn first_events(
    cfg: &EngineConfig,
    agents: &mut [Agent],
    sendemodul: bool,
    first_day: NaiveDate,
    last_day: NaiveDate,
) -> Result<Queue> {
    let sc = &cfg.scenario;
    let mut q = Queue::default();
    for (i, a) in agents.iter_mut().enumerate() {
        if a.plan.tests && a.plan.has(Fault::EpjNotUpgraded) {
            // An EPJ that cannot send over the service bus cannot take part in the test.
            a.plan.tests = false;
            a.cause("test_submission", Fault::EpjNotUpgraded);
        }
        if a.plan.tests {
            q.push(
                at_oslo(a.plan.test_day, 8, a.plan.minute)?,
                Ev::Submit(i, Kind::Test),
            );
        }
        let ordinary_day = if a.plan.has(Fault::EpjNotUpgraded) {
            // The EPJ is upgraded during the extension.
            sc.phase(PhaseId::Extension)
                .map(|p| working_day_on_or_after(p.first_day + Duration::days(7)))
                .unwrap_or(a.plan.ordinary_day)
        } else {
            a.plan.ordinary_day
        };
        q.push(
            at_oslo(ordinary_day, 8, a.plan.minute)?,
            Ev::Submit(i, Kind::Ordinary),
        );
        if !a.plan.tests && a.plan.has(Fault::NeverTested) {
            a.cause("test_submission", Fault::NeverTested);
        }
        if ordinary_day != a.plan.ordinary_day {
            a.cause("ordinary_submission", Fault::EpjNotUpgraded);
        }
    }
    if sendemodul {
        let mut d = first_day;
        while d <= last_day + Duration::days(14) {
            if is_working_day(d) {
                q.push(at_oslo(d, 8, 0)?, Ev::SendReceipts);
            }
            d += Duration::days(1);
        }
    }
    if let Some(p) = sc.phase(PhaseId::TestFeedback) {
        q.push(
            at_oslo(working_day_on_or_after(p.first_day), 9, 0)?,
            Ev::PublishFeedback(true),
        );
    }
    if let Some(p) = sc.phase(PhaseId::Feedback) {
        q.push(
            at_oslo(working_day_on_or_after(p.first_day), 9, 0)?,
            Ev::PublishFeedback(false),
        );
    }
    Ok(q)
}

/// The event loop: take, do, commit — until the queue is empty or past `end`.
#[allow(clippy::too_many_arguments)]
async fn drain_loop(
    cfg: &EngineConfig,
    world: &World,
    agents: &mut [Agent],
    q: &mut Queue,
    store: &mut EngineStore,
    mut done: u64,
    mut recovering: bool,
    end: DateTime<Utc>,
    clock: &VirtualClock,
) -> Result<Stats> {
    let total_events = q.len();
    let abort_at = std::env::var(ABORT_ENV).ok();
    let mut seen: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut stats = Stats::new();
    while let Some((t, seq, ev)) = q.pop() {
        if t > end {
            break;
        }
        clock.set(t).map_err(|e| anyhow!("virtual clock: {e}"))?;
        let label = ev.label();
        let touched: Vec<usize> = match &ev {
            Ev::SendReceipts => Vec::new(),
            Ev::PublishFeedback(_) => (0..agents.len()).collect(),
            Ev::Submit(i, _)
            | Ev::CheckReceipt(i)
            | Ev::Postmottak(i, _)
            | Ev::ContactMail(i)
            | Ev::ContactSsb(i)
            | Ev::RetryOpen(i)
            | Ev::RequestLink(i)
            | Ev::PublishFeedbackFor(i, _) => vec![*i],
        };
        let t0 = std::time::Instant::now();
        world
            .recovering
            .store(recovering, std::sync::atomic::Ordering::SeqCst);
        handle(cfg, world, agents, q, t, ev).await?;
        recovering = false;
        stats.entry(label).or_default().push(t0.elapsed());
        done += 1;
        let n = seen.entry(label).or_insert(0);
        *n += 1;
        if abort_at.as_deref() == Some(format!("{label}#{n}").as_str()) {
            eprintln!("rehearse: {ABORT_ENV}: aborting after {label}#{n}, before its commit");
            std::process::abort();
        }
        let changed: Vec<(usize, &Agent)> = touched.iter().map(|i| (*i, &agents[*i])).collect();
        let pushed = q.take_pushed();
        store.commit(done, q.seq(), Some((seq, t, label)), &pushed, &changed)?;
        if cfg.progress && done.is_multiple_of(500) {
            eprintln!("rehearse: {done} events (of at least {total_events}), virtual time {t}");
        }
    }
    Ok(stats)
}

/// The report, and the mocks stopped.
async fn finish(
    cfg: &EngineConfig,
    world: World,
    agents: Vec<Agent>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    clock: Arc<VirtualClock>,
    stats: Stats,
) -> Result<RehearsalReport> {
    clock
        .set(end.max(clock.now()))
        .map_err(|e| anyhow!("virtual clock: {e}"))?;
    let mut report = build_report(cfg, &world, &agents, start, end)?;
    report.timing.endpoints = step_stats(&stats);
    world.national.shutdown().await;
    Ok(report)
}

/// Does one event. When `World::recovering` is set the event was under way when the run
/// was killed, so its effects on the endpoints may be partly there; the steps that write to
/// an endpoint then look before they act.
async fn handle(
    cfg: &EngineConfig,
    w: &World,
    agents: &mut [Agent],
    q: &mut Queue,
    t: DateTime<Utc>,
    ev: Ev,
) -> Result<()> {
    match ev {
        Ev::SendReceipts => ssb::send_receipts(w, t).await?,
        Ev::PublishFeedback(test) => ssb::publish_feedback(cfg, w, agents, q, t, test).await?,
        Ev::Submit(i, kind) => agent::submit::submit(cfg, w, &mut agents[i], i, q, t, kind).await?,
        Ev::CheckReceipt(i) => agent::receipt::check_receipt(w, &mut agents[i], t).await?,
        Ev::Postmottak(i, urgent) => {
            agent::mail::postmottak(w, &mut agents[i], i, q, t, urgent).await?
        }
        Ev::ContactMail(i) => agent::mail::contact_mail(cfg, w, &mut agents[i], i, q, t).await?,
        Ev::ContactSsb(i) => agent::feedback::contact_ssb(w, &mut agents[i], i, q, t).await?,
        Ev::RetryOpen(i) => agent::feedback::retry_open(cfg, &mut agents[i], i, q, t)?,
        Ev::PublishFeedbackFor(i, test) => {
            ssb::publish_one(cfg, w, &mut agents[i], i, q, t, test).await?
        }
        Ev::RequestLink(i) => agent::mail::request_new_link(w, &mut agents[i], i, q, t).await?,
    }
    Ok(())
}
