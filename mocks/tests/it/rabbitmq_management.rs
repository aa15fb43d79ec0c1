//! The RabbitMQ management client against a mock HTTP server (wiremock): what
//! provisioning asks RabbitMQ for, and how a refusal is reported.

use iplos_mocks::rabbitmq::{
    Management, ManagementError, ManagementUrl, QueueType, RunPlan, provision,
};
use iplos_mocks::servicebus::Participant;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::receiver_support::her;

fn plan() -> RunPlan {
    RunPlan {
        vhost: "iplos-w".into(),
        namespace: "NHNTESTServiceBus".into(),
        queue_type: QueueType::Auto,
        participants: vec![
            Participant::new(her(131725), "iplos-w.kpr", "p1"),
            Participant::new(her(9000301), "iplos-w.kommune0301", "p2"),
        ],
        register: vec![her(131725)],
    }
}

fn api(server: &MockServer) -> Management {
    let uri = server.uri().replace("http://", "http://admin:secret@");
    Management::new(ManagementUrl::parse(&uri).unwrap()).unwrap()
}

#[tokio::test]
async fn provisioning_a_cluster_asks_for_quorum_queues_and_narrow_permissions() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/nodes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"name": "a@h", "running": true}, {"name": "b@h", "running": true}, {"name": "c@h", "running": true}
        ])))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;

    assert!(
        provision(&api(&server), &plan()).await.unwrap(),
        "three nodes: quorum"
    );

    let requests = server.received_requests().await.unwrap();
    let body = |p: &str| -> Value {
        let r = requests
            .iter()
            .find(|r| r.url.path() == p)
            .unwrap_or_else(|| panic!("no request to {p}"));
        serde_json::from_slice(&r.body).unwrap()
    };
    // Every call is authenticated as the management user.
    assert!(
        requests
            .iter()
            .all(|r| r.headers.get("authorization").is_some())
    );
    assert!(
        requests
            .iter()
            .any(|r| r.url.path() == "/api/vhosts/iplos-w")
    );
    assert_eq!(
        body("/api/exchanges/iplos-w/NHNTESTServiceBus")["type"],
        "topic"
    );
    let q = body("/api/queues/iplos-w/131725_async");
    assert_eq!(q["durable"], true);
    assert_eq!(q["arguments"]["x-queue-type"], "quorum");
    assert_eq!(q["arguments"]["x-delivery-limit"], 10);
    assert_eq!(q["arguments"]["x-dead-letter-routing-key"], "131725_dl");
    assert_eq!(
        body("/api/bindings/iplos-w/e/NHNTESTServiceBus/q/9000301_error")["routing_key"],
        "9000301_error"
    );
    assert_eq!(body("/api/users/iplos-w.kommune0301")["password"], "p2");
    let perm = body("/api/permissions/iplos-w/iplos-w.kommune0301");
    assert_eq!(perm["configure"], "^$");
    assert_eq!(perm["write"], "^NHNTESTServiceBus$");
    assert_eq!(perm["read"], "^9000301_(async|sync|error|dl|syncreply)$");
    let topic = body("/api/topic-permissions/iplos-w/iplos-w.kommune0301");
    assert_eq!(topic["write"], "^(131725)_async$");
    // 2 participants × 5 queues, each declared and bound.
    let queue_puts = requests
        .iter()
        .filter(|r| r.url.path().starts_with("/api/queues/"))
        .count();
    assert_eq!(queue_puts, 10);
}

#[tokio::test]
async fn a_refusal_is_reported_with_rabbitmqs_reason() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_string(r#"{"error":"not_authorised","reason":"Not management user"}"#),
        )
        .mount(&server)
        .await;
    match api(&server).create_vhost("iplos-x").await {
        Err(ManagementError::Status {
            status: 401, body, ..
        }) => assert!(body.contains("Not management user")),
        other => panic!("expected a 401, got {other:?}"),
    }
}
