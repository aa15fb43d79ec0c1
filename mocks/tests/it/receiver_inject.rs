//! Injected answers (certification sessions): each [`Injection`] as the sender sees it over
//! AMQP, the content state it leaves, `reset_content`, and what the run store records.

use crate::receiver_support;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iplos_mocks::nhn::ErrorCondition;
use iplos_mocks::receiver::{
    Failpoint, Injection, Injector, Receiver, ReceiverHandle, RunStore, Stage,
};
use iplos_mocks::sender::{Answer, ReceivedAppRec, ReferenceSender, SenderConfig, melding_xml};
use iplos_mocks::servicebus::{BrokerConfig, BrokerHandle};
use iplos_model::calendar::SystemClock;
use iplos_model::ids::HerId;
use iplos_model::message::{AppRecStatus, Melding, Notifikasjon};
use receiver_support::*;

/// What the injector was asked: own, from, message-id.
type Asked = (HerId, Option<HerId>, Option<String>);

/// Injections planned per AMQP message-id; records what it was asked.
#[derive(Default)]
struct Plan {
    planned: Mutex<HashMap<String, Injection>>,
    asked: Mutex<Vec<Asked>>,
}

impl Plan {
    fn set(&self, message_id: &str, i: Injection) {
        self.planned
            .lock()
            .unwrap()
            .insert(message_id.to_string(), i);
    }
}

impl Injector for Plan {
    fn inject(
        &self,
        own: HerId,
        from: Option<HerId>,
        message_id: Option<&str>,
    ) -> Option<Injection> {
        self.asked
            .lock()
            .unwrap()
            .push((own, from, message_id.map(str::to_string)));
        self.planned.lock().unwrap().get(message_id?).cloned()
    }
}

struct InjectEnv {
    _state: tempfile::TempDir,
    broker: BrokerHandle,
    receiver: ReceiverHandle,
    store: Arc<RunStore>,
    plan: Arc<Plan>,
}

impl InjectEnv {
    async fn start() -> InjectEnv {
        InjectEnv::start_on(
            tempfile::tempdir().unwrap(),
            Arc::new(Plan::default()),
            Options::default(),
        )
        .await
    }

    /// Drops broker and receiver at once (as a crash would) and starts both again on the
    /// same state directory, with the same plan.
    async fn restart(self) -> InjectEnv {
        self.restart_with(Options::default()).await
    }

    async fn restart_with(self, opts: Options) -> InjectEnv {
        let InjectEnv {
            _state: state,
            broker,
            receiver,
            store,
            plan,
        } = self;
        drop(receiver);
        drop(broker);
        drop(store);
        tokio::time::sleep(Duration::from_millis(100)).await;
        InjectEnv::start_on(state, plan, opts).await
    }

    async fn start_on(state: tempfile::TempDir, plan: Arc<Plan>, opts: Options) -> InjectEnv {
        let store = Arc::new(
            RunStore::open(&state.path().join("run.sqlite"), Arc::new(SystemClock)).unwrap(),
        );
        let mut cfg = BrokerConfig::new()
            .with_namespace(NS)
            .with_store(store.clone());
        for p in PARTICIPANTS {
            cfg = cfg.with_participant(her(p), &user(p), &pass(p));
        }
        let broker = cfg.start().await.unwrap();
        let mut config = receiver_config(&opts);
        config.injector = Some(plan.clone());
        let f = fixture();
        let receiver = Receiver::start(
            broker.bus(),
            store.clone(),
            f.register.clone(),
            Arc::new(f.directory()),
            config,
        )
        .await
        .unwrap();
        InjectEnv {
            _state: state,
            broker,
            receiver,
            store,
            plan,
        }
    }

    async fn sender(&self, h: u32) -> ReferenceSender {
        let url = format!(
            "amqp://{}:{}@{}/{NS}",
            user(h),
            pass(h),
            self.broker.local_addr()
        );
        let mut cfg = SenderConfig::new(url, fixture().identity(h, KPR));
        cfg.timeout = Duration::from_secs(30);
        ReferenceSender::connect(cfg).await.unwrap()
    }

    async fn waiting(&self, queue: &str) -> usize {
        self.broker.bus().browse(queue).await.unwrap().len()
    }
}

const WAIT: Duration = Duration::from_secs(30);

/// Sends `iplos` with `injection` planned for it; returns the answer and the message-id.
async fn send(
    env: &InjectEnv,
    s: &mut ReferenceSender,
    iplos: &[u8],
    injection: Option<Injection>,
) -> (Answer, String) {
    let out = s.build(iplos, &[]).unwrap();
    if let Some(i) = injection {
        env.plan.set(&out.message_id, i);
    }
    s.send(&out).await.unwrap();
    let a = s.wait_answer(&out.message_id, WAIT).await.unwrap();
    (a, out.message_id)
}

fn apprec(a: Answer) -> ReceivedAppRec {
    match a {
        Answer::AppRec(a) => *a,
        Answer::Error(e) => panic!("expected an AppRec, got an error message: {e:?}"),
    }
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
async fn rejected_answers_status_2_with_the_reason_and_leaves_the_state() {
    let env = InjectEnv::start().await;
    let mut s = env.sender(OSLO).await;
    let xml = melding_xml(&melding());
    let (a, first_id) = send(
        &env,
        &mut s,
        &xml,
        Some(Injection::Rejected {
            reason: "planned rejection 17".into(),
        }),
    )
    .await;
    let a = apprec(a);
    assert_eq!(a.apprec.status, AppRecStatus::Rejected, "{}", texts(&a));
    assert_eq!(a.apprec.errors.len(), 1, "{}", texts(&a));
    assert_eq!(a.apprec.errors[0].code, "X99");
    assert_eq!(
        a.apprec.errors[0].details.as_deref(),
        Some("planned rejection 17")
    );

    // The same IPLOS in a new message is accepted: the rejected one left no trace in the
    // kommune's chain (no IPL29 duplicate notifications).
    let (a, _) = send(&env, &mut s, &xml, None).await;
    let a = apprec(a);
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{}", texts(&a));
    s.close().await;

    // The record names the injection; the verdict is the full one (report included).
    let rec = env.store.message_by_id(&first_id).unwrap().unwrap();
    assert_eq!(rec.injected.as_deref(), Some("rejected"));
    assert_eq!(rec.status.as_deref(), Some("2"));
    assert_eq!(rec.stage, Some(Stage::Iplos));
    let verdict: serde_json::Value = serde_json::from_str(rec.verdict.as_deref().unwrap()).unwrap();
    assert_eq!(verdict["report"]["conformant"], true);
    // The injector was asked once per new message, with the queue owner and the sender.
    let asked = env.plan.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[0], (her(KPR), Some(her(OSLO)), Some(first_id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partly_rejected_names_the_last_notifications_and_their_resend_continues_the_chain() {
    let env = InjectEnv::start().await;
    let mut s = env.sender(OSLO).await;
    // Three notifications: start, a second start of another service, the end.
    let mut m = melding();
    let base: u64 = m.notifikasjoner[0].lopenr.parse().unwrap();
    let mut middle = m.notifikasjoner[0].clone();
    middle.guid = "6f1c3a52-0d7e-4c1b-9a55-3e2f1b7d9c01".into();
    middle.forrige_guid = m.notifikasjoner[0].guid.clone();
    middle.lopenr = (base + 1).to_string();
    middle.tid = format!("{YEAR}-12-02T08:00:05");
    middle.events[0].hendelse_guid = "0b6c2d1e-7f3a-4e59-8c4d-2a1b3c4d5e6f".into();
    middle.events[0].tjeneste_id = format!("{}-B", middle.events[0].tjeneste_id);
    let mut last = m.notifikasjoner[1].clone();
    last.forrige_guid = middle.guid.clone();
    last.lopenr = (base + 2).to_string();
    m.notifikasjoner = vec![m.notifikasjoner[0].clone(), middle, last];
    let guids: Vec<String> = m.notifikasjoner.iter().map(|n| n.guid.clone()).collect();

    let (a, _) = send(
        &env,
        &mut s,
        &melding_xml(&m),
        Some(Injection::PartlyRejected {
            count: 2,
            reason: "planned partial rejection".into(),
        }),
    )
    .await;
    let a = apprec(a);
    assert_eq!(a.apprec.status, AppRecStatus::OkWithErrors, "{}", texts(&a));
    assert_eq!(a.apprec.errors.len(), 2, "{}", texts(&a));
    for (e, guid) in a.apprec.errors.iter().zip(&guids[1..]) {
        assert_eq!(e.code, "X99");
        let t = e.details.as_deref().unwrap();
        assert!(t.contains(guid.as_str()), "{t}");
        assert!(t.contains("planned partial rejection"), "{t}");
    }
    assert!(
        !texts(&a).contains(guids[0].as_str()),
        "the first notification is not named: {}",
        texts(&a)
    );

    // The resend: the two rejected events as new notifications continuing from the last
    // accepted one (the first), with the same sequence numbers they had.
    let mut resend = m.clone();
    let first = resend.notifikasjoner.remove(0);
    let new_guids = [
        "3d2e1f0a-9b8c-4d7e-a6f5-1e2d3c4b5a69",
        "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
    ];
    let mut prev = first.guid.clone();
    for (n, g) in resend.notifikasjoner.iter_mut().zip(new_guids) {
        n.guid = g.to_string();
        n.forrige_guid = prev.clone();
        prev = g.to_string();
    }
    let (a, _) = send(&env, &mut s, &melding_xml(&resend), None).await;
    let a = apprec(a);
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{}", texts(&a));
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partly_rejected_of_a_message_rejected_on_its_own_keeps_the_normal_answer() {
    let env = InjectEnv::start().await;
    let mut s = env.sender(OSLO).await;
    let mut m = melding();
    m.header.versjon = "55.0.0".into();
    let (a, _) = send(
        &env,
        &mut s,
        &melding_xml(&m),
        Some(Injection::PartlyRejected {
            count: 1,
            reason: "never seen".into(),
        }),
    )
    .await;
    let a = apprec(a);
    assert_eq!(a.apprec.status, AppRecStatus::Rejected);
    assert!(!texts(&a).contains("never seen"), "{}", texts(&a));
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_error_arrives_on_the_error_queue_with_the_description() {
    let env = InjectEnv::start().await;
    let mut s = env.sender(OSLO).await;
    let xml = melding_xml(&melding());
    let (a, id) = send(
        &env,
        &mut s,
        &xml,
        Some(Injection::TransportError {
            description: "planned outage of the register".into(),
        }),
    )
    .await;
    let Answer::Error(e) = a else {
        panic!("expected an error message, got {a:?}");
    };
    assert_eq!(e.condition, Some(ErrorCondition::InternalError));
    assert_eq!(e.condition_text, "transport:internal-error");
    assert_eq!(e.description, "planned outage of the register");
    assert_eq!(e.original_message_id.as_deref(), Some(id.as_str()));
    let rec = env.store.message_by_id(&id).unwrap().unwrap();
    assert_eq!(rec.stage, Some(Stage::Internal));
    assert_eq!(rec.injected.as_deref(), Some("transport-error"));
    // Not judged: the same content is then accepted as the kommune's first.
    let (a, _) = send(&env, &mut s, &xml, None).await;
    let a = apprec(a);
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{}", texts(&a));
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withheld_reply_is_never_sent_until_the_sender_resends_the_message_id() {
    let env = InjectEnv::start().await;
    let mut s = env.sender(OSLO).await;
    let out = s.build(&melding_xml(&melding()), &[]).unwrap();
    env.plan.set(&out.message_id, Injection::WithholdReply);
    s.send(&out).await.unwrap();
    let silent = s.wait_answer(&out.message_id, Duration::from_secs(2)).await;
    assert!(silent.is_err(), "no answer expected, got {silent:?}");
    let rec = env.store.message_by_id(&out.message_id).unwrap().unwrap();
    assert_eq!(rec.status.as_deref(), Some("1"), "judged and recorded");
    assert_eq!(rec.injected.as_deref(), Some("withhold-reply"));
    assert_eq!(rec.replies_sent, 0);
    // Not owed either: no pending reply for recovery.
    assert!(
        env.store
            .pending_replies(&["131725_async".into()])
            .unwrap()
            .is_empty()
    );

    // The same message-id again: a duplicate, answered with the stored AppRec.
    s.send(&out).await.unwrap();
    let a = apprec(s.wait_answer(&out.message_id, WAIT).await.unwrap());
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{}", texts(&a));
    assert_eq!(a.apprec.original.id, out.msg_id);
    s.close().await;

    let d = env.store.deliveries().unwrap();
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|d| d.message == rec.id));
    assert!(!d[0].duplicate && d[0].withheld && d[0].replied.is_none());
    assert!(d[0].settled.is_some());
    assert!(d[1].duplicate && !d[1].withheld && d[1].replied.is_some());
    assert_eq!(env.plan.asked.lock().unwrap().len(), 1, "asked once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_reply_arrives_after_the_delay_without_holding_up_the_queue() {
    let env = InjectEnv::start().await;
    let mut s = env.sender(OSLO).await;
    let mut b = env.sender(BERGEN).await;
    let delay = Duration::from_millis(2500);
    let out = s.build(&melding_xml(&melding()), &[]).unwrap();
    env.plan.set(&out.message_id, Injection::DelayReply(delay));
    let start = Instant::now();
    s.send(&out).await.unwrap();
    // Another kommune's message behind it is answered meanwhile.
    let (other, _) = send(&env, &mut b, &sample("4601"), None).await;
    assert_eq!(apprec(other).apprec.status, AppRecStatus::Ok);
    let a = apprec(s.wait_answer(&out.message_id, WAIT).await.unwrap());
    assert!(
        start.elapsed() >= delay,
        "arrived after {:?}",
        start.elapsed()
    );
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{}", texts(&a));
    s.close().await;
    b.close().await;

    // The store's reply time is the publication's.
    let rec = env.store.message_by_id(&out.message_id).unwrap().unwrap();
    assert_eq!(rec.injected.as_deref(), Some("delay-reply"));
    let d = env.store.deliveries().unwrap();
    let mine = d.iter().find(|d| d.message == rec.id).unwrap();
    let other = d.iter().find(|d| d.message != rec.id).unwrap();
    let latency = mine.replied.unwrap() - mine.received;
    assert!(
        latency.num_milliseconds() >= delay.as_millis() as i64,
        "{latency}"
    );
    assert!(other.replied.unwrap() < mine.replied.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_content_checks_the_next_message_as_the_first() {
    let env = InjectEnv::start().await;
    let mut s = env.sender(OSLO).await;
    let xml = melding_xml(&melding());
    let a = apprec(send(&env, &mut s, &xml, None).await.0);
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{}", texts(&a));
    // Again without a reset: the notifications are already known.
    let a = apprec(send(&env, &mut s, &xml, None).await.0);
    assert_ne!(a.apprec.status, AppRecStatus::Ok);
    assert!(texts(&a).contains("IPL29"), "{}", texts(&a));
    // After the reset: a fresh register.
    env.receiver.reset_content(her(KPR), her(OSLO));
    let a = apprec(send(&env, &mut s, &xml, None).await.0);
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{}", texts(&a));
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_and_content_return_what_was_received() {
    let env = InjectEnv::start().await;
    let mut s = env.sender(OSLO).await;
    let m = melding();
    let (a, id) = send(&env, &mut s, &melding_xml(&m), None).await;
    let a = apprec(a);
    s.close().await;
    let rec = env.store.message_by_id(&id).unwrap().unwrap();
    assert_eq!(rec.injected, None);
    let content = env.store.content(rec.id).unwrap().expect("content stored");
    let text = String::from_utf8(content).unwrap();
    assert!(text.contains("MsgHead"), "{text}");
    assert!(text.contains(&a.apprec.original.id), "the MsgHead's MsgId");
    let guid: &Notifikasjon = &m.notifikasjoner[0];
    assert!(text.contains(&guid.guid), "the IPLOS content");
    assert_eq!(env.store.content(rec.id + 100).unwrap(), None);

    let d = env.store.deliveries().unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].message, rec.id);
    assert!(!d[0].duplicate && !d[0].withheld);
    let (settled, replied) = (d[0].settled.unwrap(), d[0].replied.unwrap());
    assert!(d[0].received <= settled && settled <= replied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withheld_reply_is_not_owed_after_a_restart() {
    let env = InjectEnv::start().await;
    let mut s = env.sender(OSLO).await;
    let out = s.build(&melding_xml(&melding()), &[]).unwrap();
    env.plan.set(&out.message_id, Injection::WithholdReply);
    s.send(&out).await.unwrap();
    // Wait until it is judged and settled.
    for _ in 0..600 {
        let d = env.store.deliveries().unwrap();
        if d.first().is_some_and(|d| d.settled.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.close().await;
    let env = env.restart().await;
    assert_eq!(env.receiver.recovered(), 0, "nothing owed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.waiting("9000301_async").await, 0, "no AppRec sent");
    // The sender resends the message-id: now it gets the AppRec.
    let mut s = env.sender(OSLO).await;
    s.send(&out).await.unwrap();
    let a = apprec(s.wait_answer(&out.message_id, WAIT).await.unwrap());
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{}", texts(&a));
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_only_the_accepted_part_of_a_partly_rejected_message_counts() {
    let env = InjectEnv::start().await;
    let mut s = env.sender(OSLO).await;
    let m = melding();
    let (a, _) = send(
        &env,
        &mut s,
        &melding_xml(&m),
        Some(Injection::PartlyRejected {
            count: 1,
            reason: "planned".into(),
        }),
    )
    .await;
    let a = apprec(a);
    assert_eq!(a.apprec.status, AppRecStatus::OkWithErrors, "{}", texts(&a));
    assert_eq!(a.apprec.errors.len(), 1, "{}", texts(&a));
    assert!(texts(&a).contains(m.notifikasjoner[1].guid.as_str()));
    s.close().await;

    // The kommune's chain is rebuilt from the store: the second notification is not in it.
    let env = env.restart().await;
    let mut s = env.sender(OSLO).await;
    let mut resend = m.clone();
    resend.notifikasjoner.remove(0);
    resend.notifikasjoner[0].guid = "5b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d".into();
    let (a, _) = send(&env, &mut s, &melding_xml(&resend), None).await;
    let a = apprec(a);
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{}", texts(&a));
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_injection_is_stored_with_the_message() {
    let env = InjectEnv::start().await;
    let store = env.store.clone();
    for (n, i) in [
        Injection::Rejected { reason: "r".into() },
        Injection::PartlyRejected {
            count: 3,
            reason: "p".into(),
        },
        Injection::TransportError {
            description: "t".into(),
        },
        Injection::WithholdReply,
        Injection::DelayReply(Duration::from_millis(1234)),
    ]
    .into_iter()
    .enumerate()
    {
        let key = format!("test-key-{n}");
        let (m, d) = store
            .insert_received_injected("9999_async", &key, Some(&key), None, None, b"raw", Some(&i))
            .unwrap();
        assert_eq!(store.injection(m).unwrap(), Some(i.clone()));
        assert_eq!(store.is_withheld(d).unwrap(), i == Injection::WithholdReply);
        let rec = store.message_by_id(&key).unwrap().unwrap();
        assert_eq!(rec.injected.as_deref(), Some(i.name()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injection_survives_a_crash_before_judging() {
    let env = InjectEnv::start_on(
        tempfile::tempdir().unwrap(),
        Arc::new(Plan::default()),
        Options {
            failpoint: Some(Failpoint::AfterStore),
            ..Options::default()
        },
    )
    .await;
    let mut s = env.sender(OSLO).await;
    let out = s.build(&melding_xml(&melding()), &[]).unwrap();
    env.plan.set(
        &out.message_id,
        Injection::Rejected {
            reason: "planned, across a crash".into(),
        },
    );
    s.send(&out).await.unwrap();
    let mut env = env;
    let crashed = tokio::time::timeout(WAIT, env.receiver.crashed()).await;
    assert_eq!(crashed.ok(), Some(Failpoint::AfterStore));
    s.close().await;
    // The plan is forgotten: only the store knows the injection now.
    env.plan.planned.lock().unwrap().clear();
    let env = env.restart().await;
    let mut s = env.sender(OSLO).await;
    let a = apprec(s.wait_answer(&out.message_id, WAIT).await.unwrap());
    assert_eq!(a.apprec.status, AppRecStatus::Rejected, "{}", texts(&a));
    assert_eq!(
        a.apprec.errors[0].details.as_deref(),
        Some("planned, across a crash")
    );
    s.close().await;
    assert_eq!(env.plan.asked.lock().unwrap().len(), 1, "asked once");
}
