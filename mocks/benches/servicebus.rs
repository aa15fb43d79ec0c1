//! Broker throughput (criterion): 10 kB NHN-shaped messages through our AMQP 1.0 broker on
//! loopback, with the SQLite store in a temp directory, client fe2o3-amqp.
//!
//! - `servicebus/send`: unsettled sends (16 in flight) until every Accepted outcome is back.
//! - `servicebus/send_consume`: the same, with a consumer (credit 200) receiving and
//!   accepting all of them.
//!
//! The comparison with RabbitMQ (a separate process, so not a criterion bench) is
//! `scripts/servicebus-bench.sh`, driving `examples/sb_load.rs`.
//!
//! `cargo bench -p iplos-mocks --bench servicebus`

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::link::receiver::CreditMode;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::messaging::Outcome;
use fe2o3_amqp::{Receiver, Sender, Session};
use fe2o3_amqp_types::messaging::{
    ApplicationProperties, Body, Data, Header, Message, MessageId, Properties,
};
use fe2o3_amqp_types::primitives::{Binary, Value};
use iplos_mocks::servicebus::{AmqpMessage, BrokerConfig, BrokerHandle};
use iplos_model::ids::HerId;

const NS: &str = "NHNTESTServiceBus";
const MESSAGES: usize = 200;
const SIZE: usize = 10 * 1024;
const WINDOW: usize = 16;

fn message(i: usize, body: &Binary) -> AmqpMessage {
    Message::builder()
        .header(Header {
            durable: true,
            ..Default::default()
        })
        .properties(
            Properties::builder()
                .message_id(MessageId::String(format!(
                    "6f1a3c1e-0000-4000-8000-{i:012}"
                )))
                .to("131725_async")
                .reply_to("123_async")
                .subject("IPLOS")
                .content_type("application/pkcs7-mime; smime-type=signed-and-enveloped-data")
                .build(),
        )
        .application_properties(
            ApplicationProperties::builder()
                .insert("fromHerId", "123")
                .insert("toHerId", "131725")
                .insert("applicationTimeStamp", "2019-01-03T08:15:00+01:00")
                .build(),
        )
        .body(Body::Data(vec![Data(body.clone())].into()))
        .build()
}

async fn connect(broker: &BrokerHandle, user: &str) -> (ConnectionHandle<()>, SessionHandle<()>) {
    let tcp = tokio::net::TcpStream::connect(broker.local_addr())
        .await
        .unwrap();
    tcp.set_nodelay(true).unwrap();
    let mut conn = fe2o3_amqp::Connection::builder()
        .container_id(format!("bench-{user}"))
        .sasl_profile(fe2o3_amqp::sasl_profile::SaslProfile::Plain {
            username: user.to_string(),
            password: "bench".to_string(),
        })
        .open_with_stream(tcp)
        .await
        .unwrap();
    let session = Session::begin(&mut conn).await.unwrap();
    (conn, session)
}

/// Sends `MESSAGES` messages with `WINDOW` unsettled at once; all Accepted.
async fn send_all(sender: &mut Sender, body: &Binary) {
    let mut pending = std::collections::VecDeque::new();
    for i in 0..MESSAGES {
        if pending.len() >= WINDOW {
            let fut: fe2o3_amqp::link::delivery::DeliveryFut<_> = pending.pop_front().unwrap();
            assert!(matches!(fut.await, Ok(Outcome::Accepted(_))));
        }
        pending.push_back(sender.send_batchable(message(i, body)).await.unwrap());
    }
    for fut in pending {
        assert!(matches!(fut.await, Ok(Outcome::Accepted(_))));
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let state = tempfile::tempdir().unwrap();
    let broker = rt.block_on(async {
        BrokerConfig::new()
            .with_namespace(NS)
            .with_state_dir(state.path())
            .with_participant(HerId::new(123).unwrap(), "kommune", "bench")
            .with_participant(HerId::new(131725).unwrap(), "kpr", "bench")
            .start()
            .await
            .unwrap()
    });
    let body = Binary::from(
        (0..SIZE)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8)
            .collect::<Vec<_>>(),
    );
    let target = format!("/exchange/{NS}/131725_async");
    let (mut sconn, mut ssession, mut sender) = rt.block_on(async {
        let (conn, mut session) = connect(&broker, "kommune").await;
        let sender = Sender::attach(&mut session, "bench-sender", target.as_str())
            .await
            .unwrap();
        (conn, session, sender)
    });
    let (mut rconn, mut rsession, mut receiver) = rt.block_on(async {
        let (conn, mut session) = connect(&broker, "kpr").await;
        let receiver = Receiver::builder()
            .name("bench-receiver")
            .source("/amq/queue/131725_async")
            .credit_mode(CreditMode::Auto(200))
            .attach(&mut session)
            .await
            .unwrap();
        (conn, session, receiver)
    });
    let bus = broker.bus();

    let mut group = c.benchmark_group("servicebus");
    group.throughput(Throughput::Elements(MESSAGES as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));

    // The receiver is attached throughout: it takes messages off the queue as they come, so
    // `send` is measured with a consumer present; it is drained outside the timing.
    group.bench_function("send", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    send_all(&mut sender, &body).await;
                    elapsed += t.elapsed();
                    for _ in 0..MESSAGES {
                        let d = receiver.recv::<Body<Value>>().await.unwrap();
                        receiver.accept(&d).await.unwrap();
                    }
                }
                elapsed
            })
        })
    });

    group.bench_function("send_consume", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    let consume = async {
                        for _ in 0..MESSAGES {
                            let d = receiver.recv::<Body<Value>>().await.unwrap();
                            receiver.accept(&d).await.unwrap();
                        }
                    };
                    tokio::join!(send_all(&mut sender, &body), consume);
                }
                t.elapsed()
            })
        })
    });
    group.finish();

    rt.block_on(async {
        assert_eq!(bus.waiting("131725_async").unwrap(), 0);
        let _ = sender.close().await;
        let _ = ssession.end().await;
        let _ = sconn.close().await;
        let _ = receiver.close().await;
        let _ = rsession.end().await;
        let _ = rconn.close().await;
        broker.shutdown().await;
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
