//! The national side on a real RabbitMQ node: the run provisioned through the management
//! API, kommuner sending over AMQP 1.0 to RabbitMQ, the register's client receiver
//! answering every message with an AppRec, the broker's counters showing the traffic,
//! each user limited to its own queues, and the run removed again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use iplos_mocks::rabbitmq::{QueueType, RunPlan, provision, teardown};
use iplos_mocks::receiver::RunStore;
use iplos_mocks::receiver::client::{ClientReceiver, ClientReceiverConfig};
use iplos_mocks::sender::{Answer, ReferenceSender, SenderConfig};
use iplos_mocks::servicebus::Participant;
use iplos_model::calendar::SystemClock;

use super::rabbitmq_support::shared_node;
use super::receiver_support::{
    BERGEN, KPR, KPR_PROD, NS, OSLO, Options, fixture, her, pass, receiver_config, sample,
};

const PER_KOMMUNE: usize = 3;

fn plan(vhost: &str) -> RunPlan {
    RunPlan {
        vhost: vhost.into(),
        namespace: NS.into(),
        queue_type: QueueType::Auto,
        participants: [KPR, KPR_PROD, OSLO, BERGEN]
            .iter()
            .map(|h| Participant::new(her(*h), format!("{vhost}-u{h}"), pass(*h)))
            .collect(),
        register: vec![her(KPR), her(KPR_PROD)],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kommuner_get_their_apprecs_through_rabbitmq() {
    let Some(rabbit) = shared_node() else { return };
    let api = rabbit.api(0);
    let plan = plan("iplos-node-season");
    let quorum = provision(&api, &plan).await.unwrap();
    assert!(!quorum, "one node: classic queues");

    // The queues and the users exist.
    let queues: HashSet<String> = api
        .queues(&plan.vhost)
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.name)
        .collect();
    for q in plan.queues() {
        assert!(queues.contains(&q), "queue {q} missing; have {queues:?}");
    }
    let users = api.users().await.unwrap();
    for p in &plan.participants {
        assert!(users.contains(&p.username), "user {} missing", p.username);
    }

    // The register as a client of RabbitMQ.
    let state = tempfile::tempdir().unwrap();
    let store =
        Arc::new(RunStore::open(&state.path().join("run.sqlite"), Arc::new(SystemClock)).unwrap());
    let f = fixture();
    let mut broker = rabbit.broker_url();
    broker.vhost = Some(plan.vhost.clone());
    let logins: HashMap<_, _> = plan
        .participants
        .iter()
        .filter(|p| plan.register.contains(&p.her_id))
        .map(|p| (p.her_id, (p.username.clone(), p.password.clone())))
        .collect();
    let receiver = ClientReceiver::start(
        ClientReceiverConfig {
            nodes: broker
                .nodes
                .iter()
                .map(|n| (n.host.clone(), n.port))
                .collect(),
            vhost: broker.vhost.clone(),
            namespace: NS.into(),
            logins,
            queues: plan.queues().into_iter().collect(),
            tls: None,
        },
        store.clone(),
        f.register.clone(),
        Arc::new(f.directory()),
        receiver_config(&Options::default()),
    )
    .unwrap();

    // Two kommuner, each sending its messages in order, side by side.
    let mut tasks = Vec::new();
    for (h, knr) in [(OSLO, "0301"), (BERGEN, "4601")] {
        let p = plan
            .participants
            .iter()
            .find(|p| p.her_id == her(h))
            .unwrap();
        let url = broker.connection_string(NS, &plan.vhost, &p.username, &p.password);
        tasks.push(tokio::spawn(async move {
            let mut cfg = SenderConfig::new(url, fixture().identity(h, KPR));
            cfg.timeout = Duration::from_secs(60);
            let mut sender = ReferenceSender::connect(cfg).await.unwrap();
            let mut statuses = Vec::new();
            for _ in 0..PER_KOMMUNE {
                match sender.submit(&sample(knr), &[]).await.unwrap() {
                    Answer::AppRec(a) => statuses.push(a.apprec.status.code().to_string()),
                    Answer::Error(e) => panic!("{h}: error message {e:?}"),
                }
            }
            sender.close().await;
            statuses
        }));
    }
    for t in tasks {
        let statuses = t.await.unwrap();
        assert_eq!(statuses.len(), PER_KOMMUNE);
    }
    assert_eq!(store.messages().unwrap().len(), 2 * PER_KOMMUNE);

    // RabbitMQ's counters show the traffic (the stats arrive every 500 ms).
    let mut last = Vec::new();
    for _ in 0..60 {
        last = api.queues(&plan.vhost).await.unwrap();
        let published = |q: String| last.iter().find(|s| s.name == q).map_or(0, |s| s.published);
        let register_in = published(format!("{KPR}_async"));
        let oslo_in = published(format!("{OSLO}_async"));
        let bergen_in = published(format!("{BERGEN}_async"));
        if register_in >= (2 * PER_KOMMUNE) as u64
            && oslo_in >= PER_KOMMUNE as u64
            && bergen_in >= PER_KOMMUNE as u64
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let kpr = last
        .iter()
        .find(|s| s.name == format!("{KPR}_async"))
        .unwrap();
    assert_eq!(kpr.published, (2 * PER_KOMMUNE) as u64, "{last:?}");
    assert_eq!(kpr.acknowledged, (2 * PER_KOMMUNE) as u64, "{last:?}");
    assert_eq!(kpr.messages, 0);

    // A kommune reads only its own queues.
    let oslo = plan
        .participants
        .iter()
        .find(|p| p.her_id == her(OSLO))
        .unwrap();
    let mut conn = fe2o3_amqp::Connection::builder()
        .container_id("peek")
        .hostname(format!("vhost:{}", plan.vhost).as_str())
        .sasl_profile(fe2o3_amqp::sasl_profile::SaslProfile::Plain {
            username: oslo.username.clone(),
            password: oslo.password.clone(),
        })
        .open(format!("amqp://127.0.0.1:{}", rabbit.nodes[0].amqp_port).as_str())
        .await
        .unwrap();
    let mut session = fe2o3_amqp::Session::begin(&mut conn).await.unwrap();
    let other =
        fe2o3_amqp::Receiver::attach(&mut session, "peek", format!("/amq/queue/{BERGEN}_async"))
            .await;
    assert!(other.is_err(), "Oslo could read Bergen's queue");
    let _ = conn.close().await;

    receiver.shutdown().await;
    teardown(&api, &plan).await.unwrap();
    let users = api.users().await.unwrap();
    assert!(
        plan.participants
            .iter()
            .all(|p| !users.contains(&p.username))
    );
    assert!(api.queues(&plan.vhost).await.is_err(), "the vhost is gone");
}

/// The builder seam: `ServicebusOptions::external` provisions the run, the register answers
/// from RabbitMQ, a kommune reaches it with `servicebus_connection_string`, and shutdown
/// removes the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_national_builder_runs_the_register_on_rabbitmq() {
    use iplos_mocks::national::{National, RegisterOptions, ServicebusOptions};
    use iplos_mocks::rabbitmq::ExternalBroker;

    let Some(rabbit) = shared_node() else { return };
    let f = fixture();
    let state = tempfile::tempdir().unwrap();
    let mut bus = ServicebusOptions::new(
        vec![
            Participant::new(her(OSLO), "kommune0301", pass(OSLO)),
            Participant::new(her(KPR), "kpr", pass(KPR)),
        ],
        RegisterOptions::new(f.register.clone(), Arc::new(f.directory()), vec![her(KPR)]),
    );
    bus.namespace = NS.into();
    bus.external = Some(ExternalBroker::new(
        rabbit.broker_url(),
        rabbit.management_of(0),
        "builder",
    ));
    let national = National::builder()
        .state_dir(state.path())
        .data_year(2024)
        .servicebus(bus)
        .start()
        .await
        .unwrap();
    assert!(national.broker().is_none(), "no broker of ours");
    let url = national
        .servicebus_connection_string("kommune0301", &pass(OSLO))
        .unwrap();
    assert!(
        url.contains("iplos-builder.kommune0301") && url.ends_with("?vhost=iplos-builder"),
        "{url}"
    );
    let mut cfg = SenderConfig::new(url, f.identity(OSLO, KPR));
    cfg.timeout = Duration::from_secs(60);
    let mut sender = ReferenceSender::connect(cfg).await.unwrap();
    let answer = sender.submit(&sample("0301"), &[]).await.unwrap();
    assert_eq!(answer.apprec().unwrap().apprec.status.code(), "1");
    sender.close().await;
    assert_eq!(national.run_store().unwrap().messages().unwrap().len(), 1);
    let api = rabbit.api(0);
    national.shutdown().await;
    assert!(
        api.queues("iplos-builder").await.is_err(),
        "the run is removed at shutdown"
    );
}
