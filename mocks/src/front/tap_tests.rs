//! The tap's table tests: frames in, acts out (no sockets).

use std::time::{Duration, Instant};

use fe2o3_amqp_types::definitions::{Handle, ReceiverSettleMode, Role, SenderSettleMode};
use fe2o3_amqp_types::messaging::{Accepted, Body, Header, Message, Properties, Target};
use fe2o3_amqp_types::performatives::{Attach, Begin, ChannelMax, Disposition, MaxFrameSize};
use fe2o3_amqp_types::primitives::Value;

use super::*;

const NS: &str = "NS";

fn tap(faults: &BrokerFaults) -> Tap {
    Tap::new(TapConfig {
        faults: faults.clone(),
        tls: true,
        vhost: Some("v".into()),
        user_prefix: Some("v.".into()),
        namespace: NS.into(),
        frame_limit: 128 * 1024,
    })
}

fn events(acts: &[Act]) -> Vec<ConnEventKind> {
    acts.iter()
        .filter_map(|a| match a {
            Act::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn forwarded(acts: &[Act]) -> Vec<Vec<u8>> {
    acts.iter()
        .filter_map(|a| match a {
            Act::Forward(b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

fn sasl_header() -> Vec<u8> {
    b"AMQP\x03\x01\x00\x00".to_vec()
}

fn amqp_header() -> Vec<u8> {
    b"AMQP\x00\x01\x00\x00".to_vec()
}

fn plain_init(user: &str, pass: &str) -> Vec<u8> {
    let mut r = vec![0];
    r.extend_from_slice(user.as_bytes());
    r.push(0);
    r.extend_from_slice(pass.as_bytes());
    encode_frame(
        1,
        0,
        &SaslInit {
            mechanism: "PLAIN".into(),
            initial_response: Some(Binary::from(r)),
            hostname: None,
        },
    )
}

fn outcome(code: SaslCode) -> Vec<u8> {
    encode_frame(
        1,
        0,
        &SaslOutcome {
            code,
            additional_data: None,
        },
    )
}

fn open(container: &str) -> Vec<u8> {
    open_max(container, 65536)
}

fn open_max(container: &str, max: u32) -> Vec<u8> {
    encode_frame(
        0,
        0,
        &Open {
            container_id: container.into(),
            hostname: Some("localhost".into()),
            max_frame_size: MaxFrameSize(max),
            channel_max: ChannelMax(255),
            idle_time_out: None,
            outgoing_locales: None,
            incoming_locales: None,
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        },
    )
}

fn begin(channel: u16, remote: Option<u16>) -> Vec<u8> {
    encode_frame(
        0,
        channel,
        &Begin {
            remote_channel: remote,
            next_outgoing_id: 0,
            incoming_window: 100,
            outgoing_window: 100,
            handle_max: Handle(10),
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        },
    )
}

fn attach(channel: u16, role: Role, target: Option<&str>) -> Vec<u8> {
    encode_frame(
        0,
        channel,
        &Attach {
            name: "link-1".into(),
            handle: Handle(0),
            role,
            snd_settle_mode: SenderSettleMode::Unsettled,
            rcv_settle_mode: ReceiverSettleMode::First,
            source: None,
            target: target.map(|t| {
                Box::new(TargetArchetype::Target(
                    Target::builder().address(t.to_string()).build(),
                ))
            }),
            unsettled: None,
            incomplete_unsettled: false,
            initial_delivery_count: Some(0),
            max_message_size: None,
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        },
    )
}

fn message(id: &str) -> Vec<u8> {
    let m: Message<Body<Value>> = Message::builder()
        .header(Header::default())
        .properties(Properties::builder().message_id(id.to_string()).build())
        .body(Body::Value(fe2o3_amqp_types::messaging::AmqpValue(
            Value::String("x".repeat(300)),
        )))
        .build();
    crate::servicebus::encode_message(&m).unwrap()
}

/// A transfer frame with `payload`.
fn transfer(id: Option<u32>, settled: bool, more: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = encode_frame(
        0,
        0,
        &Transfer {
            handle: Handle(0),
            delivery_id: id,
            delivery_tag: id.map(|i| Binary::from(i.to_be_bytes().to_vec())),
            message_format: id.map(|_| 0),
            settled: Some(settled),
            more,
            rcv_settle_mode: None,
            state: None,
            resume: false,
            aborted: false,
            batchable: false,
        },
    );
    f.extend_from_slice(payload);
    let size = (f.len() as u32).to_be_bytes();
    f[..4].copy_from_slice(&size);
    f
}

fn disposition(channel: u16, first: u32) -> Vec<u8> {
    encode_frame(
        0,
        channel,
        &Disposition {
            role: Role::Receiver,
            first,
            last: None,
            settled: true,
            state: Some(DeliveryState::Accepted(Accepted {})),
            batchable: false,
        },
    )
}

/// Through SASL, open and a sending link on RabbitMQ's channel 1; returns the tap.
fn linked(faults: &BrokerFaults, now: Instant) -> Tap {
    let mut t = tap(faults);
    let up = [sasl_header(), plain_init("kommune", "pw")].concat();
    t.feed(Dir::Up, &up, now).unwrap();
    t.feed(
        Dir::Down,
        &[sasl_header(), outcome(SaslCode::Ok)].concat(),
        now,
    )
    .unwrap();
    t.feed(
        Dir::Up,
        &[amqp_header(), open("epj-1"), begin(0, None)].concat(),
        now,
    )
    .unwrap();
    let acts = t
        .feed(
            Dir::Up,
            &attach(0, Role::Sender, Some("/exchange/NS/134197_async")),
            now,
        )
        .unwrap();
    assert_eq!(forwarded(&acts).len(), 1);
    let acts = t
        .feed(
            Dir::Down,
            &[
                amqp_header(),
                open("rabbit"),
                begin(1, Some(0)),
                attach(1, Role::Receiver, Some("/exchange/NS/134197_async")),
            ]
            .concat(),
            now,
        )
        .unwrap();
    let ev = events(&acts);
    assert!(
        matches!(&ev[0], ConnEventKind::Opened { username, tls: true, container_id }
        if username == "kommune" && container_id == "epj-1")
    );
    assert!(
        matches!(&ev[1], ConnEventKind::SenderAttached { username, target, queue }
        if username == "kommune" && target == "/exchange/NS/134197_async" && queue == "134197_async")
    );
    t
}

#[test]
fn framer_cuts_headers_and_frames_across_reads() {
    let mut f = Framer::default();
    let bytes = [amqp_header(), begin(3, None)].concat();
    for b in &bytes[..bytes.len() - 1] {
        f.push(&[*b]);
    }
    assert_eq!(
        f.next(1024).unwrap(),
        Some(Unit::Header(amqp_header().try_into().unwrap()))
    );
    assert_eq!(f.next(1024).unwrap(), None);
    f.push(&bytes[bytes.len() - 1..]);
    assert!(matches!(f.next(1024).unwrap(), Some(Unit::Frame(fr)) if fr == begin(3, None)));
    // Too big, or impossible sizes: an error, nothing kept growing.
    for bad in [
        vec![0, 0, 0x10, 0, 2, 0, 0, 0],
        vec![0, 0, 0, 4, 2, 0, 0, 0],
        vec![0, 0, 0, 16, 0, 0, 0, 0],
    ] {
        let mut f = Framer::default();
        f.push(&bad);
        assert!(f.next(1024).is_err(), "{bad:?}");
    }
}

#[test]
fn the_message_id_is_read_from_the_start_of_a_transfer() {
    let m = message("mid-1");
    assert_eq!(message_id_of(&m).as_deref(), Some("mid-1"));
    // The body cut off: still there.
    assert_eq!(message_id_of(&m[..m.len() - 200]).as_deref(), Some("mid-1"));
    // Cut inside the properties, or garbage: none.
    assert_eq!(message_id_of(&m[..8]), None);
    assert_eq!(message_id_of(&[0xff; 20]), None);
    assert_eq!(message_id_of(&[]), None);
}

#[test]
fn the_login_and_the_open_are_rewritten_for_the_vhost() {
    let faults = BrokerFaults::new();
    let mut t = tap(&faults);
    let now = Instant::now();
    let acts = t
        .feed(
            Dir::Up,
            &[sasl_header(), plain_init("kommune", "pw")].concat(),
            now,
        )
        .unwrap();
    let f = forwarded(&acts);
    assert_eq!(f[0], sasl_header());
    let init = sasl_init(&f[1][8..]).unwrap();
    assert_eq!(
        init.initial_response.unwrap().to_vec(),
        b"\0v.kommune\0pw".to_vec()
    );
    t.feed(Dir::Down, &outcome(SaslCode::Ok), now).unwrap();
    let acts = t
        .feed(Dir::Up, &[amqp_header(), open("epj")].concat(), now)
        .unwrap();
    let f = forwarded(&acts);
    let Some((Performative::Open(o), _)) = performative(&f[1][8..]) else {
        panic!("an open")
    };
    assert_eq!(o.hostname.as_deref(), Some("vhost:v"));
    assert_eq!(o.container_id, "epj");
}

#[test]
fn a_refused_user_is_answered_by_the_front() {
    let faults = BrokerFaults::new();
    faults.set_refuse_auth(Some("kommune".into()));
    let mut t = tap(&faults);
    let acts = t
        .feed(
            Dir::Up,
            &[sasl_header(), plain_init("kommune", "pw")].concat(),
            Instant::now(),
        )
        .unwrap();
    assert_eq!(
        forwarded(&acts),
        vec![sasl_header()],
        "the init is not forwarded"
    );
    assert!(
        matches!(&events(&acts)[..], [ConnEventKind::AuthFailed { username: Some(u) }] if u == "kommune")
    );
    let Some(Act::AnswerAndEnd(answer)) = acts.last() else {
        panic!("answered: {acts:?}")
    };
    assert_eq!(sasl_outcome(&answer[8..]).unwrap().code, SaslCode::Auth);
}

#[test]
fn a_wrong_password_refused_by_the_broker_is_logged() {
    let faults = BrokerFaults::new();
    let mut t = tap(&faults);
    let now = Instant::now();
    t.feed(
        Dir::Up,
        &[sasl_header(), plain_init("kommune", "bad")].concat(),
        now,
    )
    .unwrap();
    let acts = t
        .feed(
            Dir::Down,
            &[sasl_header(), outcome(SaslCode::Auth)].concat(),
            now,
        )
        .unwrap();
    assert!(
        matches!(&events(&acts)[..], [ConnEventKind::AuthFailed { username: Some(u) }] if u == "kommune")
    );
    assert_eq!(forwarded(&acts).len(), 2, "the outcome reaches the client");
}

#[test]
fn an_accepted_multi_frame_transfer_is_stored_with_its_message_id() {
    let faults = BrokerFaults::new();
    let now = Instant::now();
    let mut t = linked(&faults, now);
    let m = message("mid-7");
    let (a, b) = m.split_at(20);
    let acts = t
        .feed(
            Dir::Up,
            &[
                transfer(Some(5), false, true, a),
                transfer(None, false, false, b),
            ]
            .concat(),
            now,
        )
        .unwrap();
    assert_eq!(forwarded(&acts).len(), 2);
    assert!(
        events(&acts).is_empty(),
        "not stored before RabbitMQ accepts"
    );
    let acts = t.feed(Dir::Down, &disposition(1, 5), now).unwrap();
    assert!(
        matches!(&events(&acts)[..], [ConnEventKind::Stored { username, queue, message_id: Some(id) }]
        if username == "kommune" && queue == "134197_async" && id == "mid-7")
    );
    assert_eq!(forwarded(&acts), vec![disposition(1, 5)]);
}

#[test]
fn a_presettled_transfer_is_stored_when_forwarded() {
    let faults = BrokerFaults::new();
    let now = Instant::now();
    let mut t = linked(&faults, now);
    let acts = t
        .feed(Dir::Up, &transfer(Some(0), true, false, &message("p")), now)
        .unwrap();
    assert!(
        matches!(&events(&acts)[..], [ConnEventKind::Stored { message_id: Some(id), .. }] if id == "p")
    );
}

#[test]
fn drop_after_store_keeps_the_disposition_and_cuts() {
    let faults = BrokerFaults::new();
    let now = Instant::now();
    let mut t = linked(&faults, now);
    faults.drop_after_store("kommune", 2);
    for id in 0..2 {
        t.feed(
            Dir::Up,
            &transfer(Some(id), false, false, &message(&format!("m{id}"))),
            now,
        )
        .unwrap();
    }
    let acts = t.feed(Dir::Down, &disposition(1, 0), now).unwrap();
    assert_eq!(forwarded(&acts).len(), 1, "the first is answered");
    let acts = t.feed(Dir::Down, &disposition(1, 1), now).unwrap();
    assert!(
        forwarded(&acts).is_empty(),
        "the second's disposition is kept"
    );
    assert!(
        matches!(&events(&acts)[..], [ConnEventKind::Stored { message_id: Some(id), .. }] if id == "m1")
    );
    assert!(
        matches!(acts.last(), Some(Act::Cut(r)) if r.contains("m1") && r.contains("drop_after_store"))
    );
}

#[test]
fn dispositions_are_held_from_the_transfers_arrival() {
    let faults = BrokerFaults::new();
    let now = Instant::now();
    let mut t = linked(&faults, now);
    faults.set_disposition_delay(Duration::from_millis(300));
    t.feed(
        Dir::Up,
        &transfer(Some(0), false, false, &message("d")),
        now,
    )
    .unwrap();
    let later = now + Duration::from_millis(100);
    let acts = t.feed(Dir::Down, &disposition(1, 0), later).unwrap();
    assert!(
        matches!(acts.last(), Some(Act::ForwardAt(_, at)) if *at == now + Duration::from_millis(300))
    );
    // The end of the session waits behind it.
    let end = encode_frame(0, 1, &fe2o3_amqp_types::performatives::End { error: None });
    let acts = t.feed(Dir::Down, &end, later).unwrap();
    assert!(
        matches!(acts.last(), Some(Act::ForwardAt(_, at)) if *at == now + Duration::from_millis(300))
    );
}

#[test]
fn a_frame_above_the_limit_ends_the_connection() {
    let faults = BrokerFaults::new();
    let now = Instant::now();
    let mut t = linked(&faults, now);
    // RabbitMQ's open said 65536.
    let big = transfer(Some(0), false, false, &vec![0u8; 70_000]);
    assert!(t.feed(Dir::Up, &big, now).is_err());
}

#[test]
fn a_broker_allowing_larger_frames_is_announced_with_the_fronts_limit() {
    let faults = BrokerFaults::new();
    let mut t = tap(&faults);
    let now = Instant::now();
    t.feed(
        Dir::Up,
        &[amqp_header(), open_max("epj", 1 << 20)].concat(),
        now,
    )
    .unwrap();
    let acts = t
        .feed(
            Dir::Down,
            &[amqp_header(), open_max("rabbit", 1 << 22)].concat(),
            now,
        )
        .unwrap();
    let f = forwarded(&acts);
    let Some((Performative::Open(o), _)) = performative(&f[1][8..]) else {
        panic!("an open")
    };
    assert_eq!(o.max_frame_size.0, 128 * 1024);
    // RabbitMQ may send frames as large as the client allowed (1 MiB here).
    let big = encode_frame(
        0,
        0,
        &Open {
            container_id: "x".repeat(300_000),
            ..o
        },
    );
    assert!(t.feed(Dir::Down, &big, now).is_ok());
}
