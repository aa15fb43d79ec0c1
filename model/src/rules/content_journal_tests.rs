//! The undo journal of [`ContentState`]: random sequences of messages, each accepted
//! (commit) or rejected (rollback), against a reference state that only ever sees the
//! accepted ones.

use proptest::prelude::*;

use super::ContentState;
use crate::message::{
    Bruker, EMPTY_GUID, Event, EventKind, Header, Kontaktperson, Melding, Notifikasjon,
    OutputEncoding, Status, write_message,
};
use crate::rules::{CheckOptions, check_stream};

fn guid(family: u32, n: u32) -> String {
    format!("{family:08x}-abcd-4ef0-8a1b-{n:012x}")
}

/// One notification drawn from small pools, so that GUIDs, løpenumre, services and stops
/// repeat across messages (the cases the state exists for).
#[derive(Debug, Clone)]
struct Draw {
    guid: u32,
    forrige: u32,
    lopenr: u32,
    status: u8,
    referanse: Option<u32>,
    kind: u8,
    event_guid: u32,
    tjeneste: u32,
    stopp: u32,
    day: u32,
    upper: bool,
}

fn draw() -> impl Strategy<Value = Draw> {
    (
        (
            0u32..10,
            0u32..11,
            1u32..25,
            0u8..4,
            proptest::option::of(0u32..10),
        ),
        (0u8..5, 0u32..12, 0u32..3, 0u32..2, 1u32..28, any::<bool>()),
    )
        .prop_map(
            |(
                (guid, forrige, lopenr, status, referanse),
                (kind, event_guid, tjeneste, stopp, day, upper),
            )| Draw {
                guid,
                forrige,
                lopenr,
                status,
                referanse,
                kind,
                event_guid,
                tjeneste,
                stopp,
                day,
                upper,
            },
        )
}

fn notifikasjon(d: &Draw) -> Notifikasjon {
    use EventKind::*;
    let kind = [
        TjenesteStart,
        MidlertidigStoppFra,
        MidlertidigStoppTil,
        TjenesteutforerEndret,
        TjenesteSlutt,
    ][usize::from(d.kind)];
    let g = guid(1, d.guid);
    Notifikasjon {
        status: [Status::N, Status::M, Status::C, Status::N][usize::from(d.status)].clone(),
        tid: "2024-12-02T08:00:00".into(),
        // GUIDs are compared without regard to case: the same one written both ways.
        guid: if d.upper { g.to_uppercase() } else { g },
        forrige_guid: if d.forrige == 10 {
            EMPTY_GUID.to_string()
        } else {
            guid(1, d.forrige)
        },
        lopenr: d.lopenr.to_string(),
        referanse: d.referanse.map(|r| guid(1, r)),
        events: vec![Event {
            kind,
            tjeneste_type: "21".into(),
            tjeneste_id: format!("T-{}", d.tjeneste),
            hendelse_guid: guid(2, d.event_guid),
            hendelse_dato: format!("2024-03-{:02}", d.day),
            hendelse_reg_tid: "2024-03-01T09:00:00".into(),
            tjeneste_org_nr: Some("974760673".into()),
            midlertidig_stopp_id: kind.is_stop().then(|| format!("S-{}", d.stopp)),
            bruker: Bruker {
                pasient_guid: guid(3, 1),
                bruker_nr: "B-1".into(),
                fid: "12345678901".into(),
                type_id: "1".into(),
                bydel: None,
            },
        }],
    }
}

fn message(draws: &[Draw]) -> Vec<u8> {
    let contact = |kind: &str| Kontaktperson {
        navn: "Kari Nordmann".into(),
        telefon: None,
        epost1: "kari@kommune.test".into(),
        epost2: None,
        type_kontaktperson: kind.into(),
    };
    let m = Melding {
        header: Header::new("Leverandør AS", "EPJ", "1.0", "3.0.2"),
        notifikasjoner: draws.iter().map(notifikasjon).collect(),
        kontaktpersoner: vec![contact("16"), contact("17")],
        kommuner: vec!["4601".into()],
    };
    write_message(&m, Vec::new(), OutputEncoding::Utf8).expect("writing to a Vec")
}

fn options() -> CheckOptions {
    CheckOptions {
        data_year: Some(2024),
        ..CheckOptions::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn rollback_restores_exactly_the_state_before(
        steps in proptest::collection::vec(
            (proptest::collection::vec(draw(), 0..6), any::<bool>()),
            1..12,
        )
    ) {
        let options = options();
        let mut state = ContentState::new();
        let mut reference = ContentState::new();
        for (draws, accept) in &steps {
            let bytes = message(draws);
            let before = state.clone();
            state.begin();
            let tentative = check_stream(&bytes[..], &options, &mut state, &mut |_| {});
            prop_assert!(state.is_tentative());
            if *accept {
                state.commit();
                let settled = check_stream(&bytes[..], &options, &mut reference, &mut |_| {});
                // The journal does not change what is found.
                prop_assert_eq!(format!("{tentative:?}"), format!("{settled:?}"));
            } else {
                state.rollback();
                prop_assert_eq!(&state, &before);
            }
            prop_assert!(!state.is_tentative());
            prop_assert_eq!(&state, &reference);
        }
    }
}

#[test]
fn a_rejected_message_leaves_no_trace_for_the_next() {
    let options = options();
    let first = Draw {
        guid: 1,
        forrige: 10,
        lopenr: 1,
        status: 0,
        referanse: None,
        kind: 0,
        event_guid: 1,
        tjeneste: 0,
        stopp: 0,
        day: 1,
        upper: false,
    };
    let second = Draw {
        guid: 2,
        forrige: 1,
        lopenr: 2,
        event_guid: 2,
        kind: 1,
        ..first.clone()
    };
    let mut state = ContentState::new();
    check_stream(
        &message(std::slice::from_ref(&first))[..],
        &options,
        &mut state,
        &mut |_| {},
    );
    // The second message is checked tentatively and rejected: sending it again is not a
    // repeat of GUIDs, løpenummer or chain.
    let second = message(std::slice::from_ref(&second));
    state.begin();
    let once = check_stream(&second[..], &options, &mut state, &mut |_| {});
    state.rollback();
    let again = check_stream(&second[..], &options, &mut state, &mut |_| {});
    assert_eq!(
        format!("{:?}", once.findings),
        format!("{:?}", again.findings)
    );
    let rules: Vec<&str> = again.findings.iter().map(|f| f.rule).collect();
    for repeated in ["IPL02", "IPL03", "IPL10", "IPL29"] {
        assert!(!rules.contains(&repeated), "{rules:?}");
    }
}
