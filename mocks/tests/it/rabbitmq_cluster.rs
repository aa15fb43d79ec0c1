//! A three-node RabbitMQ cluster with quorum queues loses a node (`kill -9`) in the middle
//! of the traffic: no message is lost, and no kommune gets two different AppRecs for one
//! message. The kommuner and the register's receiver are given every node and move on
//! to another when theirs dies; a kommune whose send or wait failed sends the same message
//! (same message-id) again on its new connection, as an EPJ does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use iplos_mocks::rabbitmq::{QueueType, RunPlan, provision};
use iplos_mocks::receiver::RunStore;
use iplos_mocks::receiver::client::{ClientReceiver, ClientReceiverConfig};
use iplos_mocks::sender::{Answer, ReferenceSender, SenderConfig};
use iplos_mocks::servicebus::Participant;
use iplos_model::calendar::SystemClock;

use super::rabbitmq_support::{Rabbit, available};
use super::receiver_support::{
    BERGEN, KPR, KPR_PROD, NS, OSLO, Options, fixture, her, pass, receiver_config, sample,
};

const PER_KOMMUNE: usize = 12;

/// Sends `PER_KOMMUNE` messages in order; returns, per message-id, the AMQP message-ids
/// of the AppRecs received for it.
async fn kommune(h: u32, knr: &'static str, url: String) -> HashMap<String, HashSet<String>> {
    let config = || {
        let mut cfg = SenderConfig::new(url.clone(), fixture().identity(h, KPR));
        cfg.timeout = Duration::from_secs(8);
        cfg
    };
    let mut answers: HashMap<String, HashSet<String>> = HashMap::new();
    let mut sender: Option<ReferenceSender> = None;
    for _ in 0..PER_KOMMUNE {
        let out = match &sender {
            Some(s) => s.build(&sample(knr), &[]).unwrap(),
            None => {
                let s = ReferenceSender::connect(config()).await.unwrap();
                let out = s.build(&sample(knr), &[]).unwrap();
                sender = Some(s);
                out
            }
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(
                attempts <= 10,
                "{h}: no AppRec for {} after 10 attempts",
                out.message_id
            );
            let s = match &mut sender {
                Some(s) => s,
                None => match ReferenceSender::connect(config()).await {
                    Ok(s) => sender.insert(s),
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                },
            };
            let result = match s.send(&out).await {
                Ok(()) => s.wait_answer(&out.message_id, Duration::from_secs(8)).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(Answer::AppRec(a)) => {
                    answers
                        .entry(out.message_id.clone())
                        .or_default()
                        .insert(a.message_id.clone().unwrap_or_default());
                    break;
                }
                Ok(Answer::Error(e)) => panic!("{h}: error message {e:?}"),
                Err(_) => {
                    // The node died under us: a new connection (another node), same message.
                    if let Some(s) = sender.take() {
                        s.close().await;
                    }
                }
            }
        }
    }
    if let Some(s) = sender {
        s.close().await;
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_traffic_loses_nothing_and_answers_once() {
    if !available() {
        return;
    }
    let mut rabbit = tokio::task::spawn_blocking(|| Rabbit::start(3))
        .await
        .unwrap();
    let api = rabbit.api(1);
    let vhost = "iplos-cluster";
    let plan = RunPlan {
        vhost: vhost.into(),
        namespace: NS.into(),
        queue_type: QueueType::Auto,
        participants: [KPR, KPR_PROD, OSLO, BERGEN]
            .iter()
            .map(|h| Participant::new(her(*h), format!("{vhost}-u{h}"), pass(*h)))
            .collect(),
        register: vec![her(KPR), her(KPR_PROD)],
    };
    assert!(
        provision(&api, &plan).await.unwrap(),
        "a cluster gets quorum queues"
    );
    let stats = api.queues(vhost).await.unwrap();
    let kpr_q = stats
        .iter()
        .find(|q| q.name == format!("{KPR}_async"))
        .unwrap();
    assert_eq!(kpr_q.queue_type, "quorum");
    assert_eq!(kpr_q.arguments["x-delivery-limit"], serde_json::json!(10));

    let state = tempfile::tempdir().unwrap();
    let store =
        Arc::new(RunStore::open(&state.path().join("run.sqlite"), Arc::new(SystemClock)).unwrap());
    let f = fixture();
    let mut broker = rabbit.broker_url();
    broker.vhost = Some(vhost.into());
    let login = |h: u32| {
        let p = plan
            .participants
            .iter()
            .find(|p| p.her_id == her(h))
            .unwrap();
        (p.username.clone(), p.password.clone())
    };
    // KPR Validering's consumer starts on node 0, the one that is killed.
    let receiver = ClientReceiver::start(
        ClientReceiverConfig {
            nodes: broker
                .nodes
                .iter()
                .map(|n| (n.host.clone(), n.port))
                .collect(),
            vhost: broker.vhost.clone(),
            namespace: NS.into(),
            logins: [(her(KPR), login(KPR)), (her(KPR_PROD), login(KPR_PROD))].into(),
            queues: plan.queues().into_iter().collect(),
            tls: None,
        },
        store.clone(),
        f.register.clone(),
        Arc::new(f.directory()),
        receiver_config(&Options::default()),
    )
    .unwrap();

    // Both kommuner list node 0 first.
    let mut tasks = Vec::new();
    for (h, knr) in [(OSLO, "0301"), (BERGEN, "4601")] {
        let (u, p) = login(h);
        let url = broker.connection_string(NS, vhost, &u, &p);
        tasks.push(tokio::spawn(kommune(h, knr, url)));
    }
    // Kill node 0 in the middle of the traffic.
    for _ in 0..600 {
        if store.messages().unwrap().len() >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        store.messages().unwrap().len() < 2 * PER_KOMMUNE,
        "too late to kill"
    );
    rabbit.nodes[0].kill9();

    let mut two_apprecs = Vec::new();
    let mut answered = 0;
    for (t, h) in tasks.into_iter().zip([OSLO, BERGEN]) {
        let answers = t.await.unwrap();
        answered += answers.len();
        if answers.values().any(|ids| ids.len() > 1) {
            two_apprecs.push(h);
        }
    }
    // 0 messages lost: every message sent got its AppRec, and the register has each once.
    assert_eq!(answered, 2 * PER_KOMMUNE, "messages without an AppRec");
    let messages = store.messages().unwrap();
    assert_eq!(messages.len(), 2 * PER_KOMMUNE);
    // (The same sample each time: the later ones are AppRec 3 for the broken chain.)
    let not_apprec = messages
        .iter()
        .filter(|m| m.outcome != Some(iplos_mocks::receiver::Outcome::AppRec))
        .count();
    assert_eq!(
        not_apprec, 0,
        "messages answered otherwise than with an AppRec"
    );
    // 0 kommuner with two different AppRecs for one message.
    assert!(
        two_apprecs.is_empty(),
        "kommuner with two different AppRecs: {two_apprecs:?}"
    );
    let reply_ids: HashSet<_> = messages
        .iter()
        .filter_map(|m| m.reply_message_id.clone())
        .collect();
    assert_eq!(reply_ids.len(), 2 * PER_KOMMUNE, "one reply per message");
    eprintln!(
        "cluster: {} deliveries for {} messages, receiver reconnects {}",
        messages.iter().map(|m| m.deliveries).sum::<u32>(),
        messages.len(),
        receiver.reconnects()
    );
    receiver.shutdown().await;
}
