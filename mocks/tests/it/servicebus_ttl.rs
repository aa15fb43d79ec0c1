//! Expired messages go to `<herid>_dl` with reason `expired`, on the injected clock.

use crate::common;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use fe2o3_amqp_types::messaging::Header;
use fe2o3_amqp_types::primitives::Value;
use iplos_mocks::servicebus::{ANNOTATION_DEAD_LETTER_REASON, BrokerConfig};
use iplos_model::calendar::VirtualClock;

fn clocked(clock: &VirtualClock) -> BrokerConfig {
    let mut config = config().with_clock(Arc::new(clock.clone()));
    config.expiry_sweep_interval = None;
    config
}

#[tokio::test]
async fn header_ttl_expires_to_dead_letter() {
    let clock = VirtualClock::new("2019-01-02T08:00:00Z".parse().unwrap());
    let broker = clocked(&clock).start().await.unwrap();
    let bus = broker.bus();
    let queue = format!("{KPR_HER}_async");
    let mut short = nhn_message("short", b"s");
    short.header = Some(Header {
        ttl: Some(60_000),
        ..Default::default()
    });
    bus.publish(&queue, &short).await.unwrap();
    bus.publish(&queue, &nhn_message("forever", b"f"))
        .await
        .unwrap();

    clock.advance(chrono::Duration::seconds(59)).unwrap();
    assert_eq!(bus.sweep_expired().await, 0);
    clock.advance(chrono::Duration::seconds(2)).unwrap();
    assert_eq!(bus.sweep_expired().await, 1);

    let dl = bus.browse(&format!("{KPR_HER}_dl")).await.unwrap();
    assert_eq!(dl.len(), 1);
    assert_eq!(message_id_of(&dl[0]), "short");
    assert_eq!(
        annotation(&dl[0], ANNOTATION_DEAD_LETTER_REASON),
        Some(Value::String("expired".into()))
    );
    let left = bus.browse(&queue).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(message_id_of(&left[0]), "forever");
    broker.shutdown().await;
}

#[tokio::test]
async fn default_ttl_applies_and_expiry_is_checked_at_the_head() {
    let clock = VirtualClock::new("2019-01-02T08:00:00Z".parse().unwrap());
    let broker = clocked(&clock)
        .with_default_ttl(Some(Duration::from_secs(3600)))
        .start()
        .await
        .unwrap();
    let bus = broker.bus();
    let queue = format!("{KOMMUNE_HER}_async");
    bus.publish(&queue, &nhn_message("old", b"o"))
        .await
        .unwrap();
    clock.advance(chrono::Duration::minutes(61)).unwrap();
    bus.publish(&queue, &nhn_message("new", b"n"))
        .await
        .unwrap();
    // No sweep: the consumer skips the expired head.
    let mut consumer = bus.consumer(&queue).unwrap();
    let d = consumer.next().await.unwrap();
    assert_eq!(message_id_of(d.message()), "new");
    d.accept().await.unwrap();
    eventually("expired message dead-lettered", || {
        bus.len(&format!("{KOMMUNE_HER}_dl")).unwrap() == 1
    })
    .await;
    broker.shutdown().await;
}
