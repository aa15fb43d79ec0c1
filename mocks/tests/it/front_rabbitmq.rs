//! The AMQP front (`iplos_mocks::front`) in front of a real RabbitMQ node, with
//! fe2o3-amqp as the client: the connection log it writes, and one fault each — a refused
//! login (answered by the front), a connection cut after RabbitMQ stored a message (which
//! stays on RabbitMQ), and unavailable (the port refuses, open connections are cut).

use std::time::{Duration, Instant};

use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::{Connection, Sender, Session};
use fe2o3_amqp_types::messaging::{AmqpValue, Message, Properties};
use iplos_mocks::front::{AmqpFront, FrontConfig};
use iplos_mocks::rabbitmq::{QueueType, RunPlan, count_messages, provision, teardown};
use iplos_mocks::servicebus::{BrokerFaults, ConnEventKind, Participant};

use super::rabbitmq_support::shared_node;
use super::receiver_support::{KPR, NS, OSLO, her, pass};

async fn connect(front: &AmqpFront, user: &str) -> Result<ConnectionHandle<()>, String> {
    Connection::builder()
        .container_id(format!("epj-{user}"))
        .sasl_profile(fe2o3_amqp::sasl_profile::SaslProfile::Plain {
            username: user.to_string(),
            password: pass(OSLO),
        })
        .open(format!("amqp://{}", front.addr()).as_str())
        .await
        .map_err(|e| format!("{e:?}"))
}

fn message(id: &str) -> Message<AmqpValue<String>> {
    Message::builder()
        .properties(Properties::builder().message_id(id.to_string()).build())
        .value("hei".to_string())
        .build()
}

/// Each step within 20 s, so that a hang names itself.
async fn step<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    eprintln!("step: {what}");
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("{what} hangs"))
}

fn kinds(faults: &BrokerFaults) -> Vec<String> {
    faults
        .events()
        .iter()
        .map(|e| {
            serde_json::to_value(&e.kind).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_logs_and_injects_faults_on_rabbitmq() {
    let Some(rabbit) = shared_node() else { return };
    let vhost = "front-test";
    let plan = RunPlan {
        vhost: vhost.into(),
        namespace: NS.into(),
        queue_type: QueueType::Classic,
        participants: vec![
            Participant::new(her(OSLO), format!("{vhost}.kommune"), pass(OSLO)),
            Participant::new(her(KPR), format!("{vhost}.kpr"), pass(KPR)),
        ],
        register: vec![her(KPR)],
    };
    let api = rabbit.api(0);
    teardown(&api, &plan).await.unwrap();
    provision(&api, &plan).await.unwrap();
    let faults = BrokerFaults::new();
    let node = ("127.0.0.1".to_string(), rabbit.nodes[0].amqp_port);
    let mut config = FrontConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        // A node that is down first: the front goes on to the next.
        vec![("127.0.0.1".to_string(), 1), node.clone()],
        faults.clone(),
        NS,
    );
    config.vhost = Some(vhost.into());
    config.user_prefix = Some(format!("{vhost}."));
    let front = AmqpFront::start(config).await.unwrap();
    let target = format!("/exchange/{NS}/{KPR}_async");

    // Through the front to RabbitMQ: logged as our broker logs it.
    let mut conn = connect(&front, "kommune").await.unwrap();
    let mut session = Session::begin(&mut conn).await.unwrap();
    let mut sender = Sender::attach(&mut session, "s", target.as_str())
        .await
        .unwrap();
    sender
        .send(message("m-1"))
        .await
        .unwrap()
        .accepted_or("accepted")
        .unwrap();
    // (RabbitMQ 3.10's answer to a detach is an illegal state to fe2o3-amqp.)
    let _ = sender.close().await;
    let _ = session.end().await;
    let _ = conn.close().await;
    let events = faults.events();
    assert!(events.iter().any(|e| matches!(&e.kind,
        ConnEventKind::Opened { username, tls: false, container_id } if username == "kommune" && container_id == "epj-kommune")));
    assert!(events.iter().any(|e| matches!(&e.kind,
        ConnEventKind::SenderAttached { queue, .. } if *queue == format!("{KPR}_async"))));
    assert!(events.iter().any(|e| matches!(&e.kind,
        ConnEventKind::Stored { message_id: Some(id), username, .. } if id == "m-1" && username == "kommune")));

    // A refused login: answered by the front, logged.
    faults.set_refuse_auth(Some("kommune".into()));
    assert!(connect(&front, "kommune").await.is_err());
    faults.set_refuse_auth(None);
    assert!(faults.events().iter().any(|e| matches!(&e.kind,
        ConnEventKind::AuthFailed { username: Some(u) } if u == "kommune")));
    // A wrong password, refused by RabbitMQ: logged too.
    let wrong = Connection::builder()
        .container_id("wrong")
        .sasl_profile(fe2o3_amqp::sasl_profile::SaslProfile::Plain {
            username: "kommune".into(),
            password: "not-it".into(),
        })
        .open(format!("amqp://{}", front.addr()).as_str())
        .await;
    assert!(wrong.is_err());
    let auth_failed = faults
        .events()
        .iter()
        .filter(|e| matches!(e.kind, ConnEventKind::AuthFailed { .. }))
        .count();
    assert_eq!(auth_failed, 2, "{:?}", kinds(&faults));

    // Drop after store: the second transfer is stored on RabbitMQ, the client never hears.
    faults.drop_after_store("kommune", 2);
    let mut conn = connect(&front, "kommune").await.unwrap();
    let mut session = Session::begin(&mut conn).await.unwrap();
    let mut sender = Sender::attach(&mut session, "s", target.as_str())
        .await
        .unwrap();
    sender
        .send(message("m-2"))
        .await
        .unwrap()
        .accepted_or("accepted")
        .unwrap();
    let lost = tokio::time::timeout(Duration::from_secs(3), sender.send(message("m-3"))).await;
    assert!(
        !matches!(lost, Ok(Ok(_))),
        "the send is not confirmed: {lost:?} {:?}",
        kinds(&faults)
    );
    let events = faults.events();
    assert!(events.iter().any(|e| matches!(&e.kind,
        ConnEventKind::Stored { message_id: Some(id), .. } if id == "m-3")));
    assert!(events.iter().any(|e| matches!(&e.kind,
        ConnEventKind::Dropped { reason } if reason.contains("m-3"))));
    drop(sender);
    drop(session);
    drop(conn);
    let on_rabbit = step(
        "count",
        count_messages(
            std::slice::from_ref(&node),
            vhost,
            (&format!("{vhost}.kpr"), &pass(KPR)),
            None,
            &format!("{KPR}_async"),
            Duration::from_millis(300),
        ),
    )
    .await
    .unwrap();
    assert_eq!(on_rabbit, 3, "m-1, m-2 and the dropped m-3 are on RabbitMQ");

    // Unavailable: the open connection is cut, new ones are refused, then it is back.
    let mut conn = step("connect before the outage", connect(&front, "kommune"))
        .await
        .unwrap();
    faults.set_unavailable_until(Some(Instant::now() + Duration::from_millis(800)));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        tokio::net::TcpStream::connect(front.addr()).await.is_err(),
        "the port refuses while unavailable"
    );
    assert!(faults.events().iter().any(|e| matches!(&e.kind,
        ConnEventKind::Dropped { reason } if reason == "unavailable")));
    let _ = step("close the cut one", conn.close()).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let mut back = None;
    for _ in 0..20 {
        if let Ok(Ok(c)) =
            tokio::time::timeout(Duration::from_secs(2), connect(&front, "kommune")).await
        {
            back = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = step("close", back.expect("available again").close()).await;
    step("front shutdown", front.shutdown()).await;
    step("teardown", teardown(&api, &plan)).await.unwrap();
}
