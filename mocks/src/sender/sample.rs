//! A small, content-correct IPLOS message for any kommune and data year: what the reference
//! sender sends when a test or a smoke check needs "a correct message" and nothing more.

use chrono::NaiveDate;
use iplos_model::ids::{OrgNr, PersonId, PersonIdKind, Sex};
use iplos_model::message::{
    Bruker, EMPTY_GUID, Event, EventKind, Header, Kontaktperson, Melding, Notifikasjon,
    OutputEncoding, Status, write_message,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

fn guid(rng: &mut ChaCha8Rng) -> String {
    let b: [u8; 16] = rng.r#gen();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn rng_for(kommune_nr: &str, year: i32, seed: u64) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(b"iplos-harness sample message");
    h.update(kommune_nr.as_bytes());
    h.update(year.to_le_bytes());
    h.update(seed.to_le_bytes());
    let d = h.finalize();
    let mut s = [0u8; 32];
    s.copy_from_slice(&d);
    ChaCha8Rng::from_seed(s)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

/// A content-correct message for `kommune_nr` in data year `year`: one long-term stay
/// (tjenestetype 21) started on 10 January and ended on 30 November, for one synthetic
/// person (Test-Norge fødselsnummer), with an IPLOS kontaktperson (16) and an
/// innsendingsansvarlig (17). `seed` varies the GUIDs, ids and orgnr (the same inputs
/// always give the same message). It checks without findings when `kommune_nr` is valid in
/// `year`.
pub fn sample_melding(kommune_nr: &str, year: i32, seed: u64) -> Melding {
    let mut rng = rng_for(kommune_nr, year, seed);
    let fid = PersonId::generate_synthetic(
        &mut rng,
        date(1938, 4, 12),
        Sex::Female,
        PersonIdKind::Fodselsnummer,
    )
    .map(|p| p.to_string())
    .unwrap_or_default();
    let orgnr = OrgNr::generate(&mut rng).to_string();
    let bruker = Bruker {
        pasient_guid: guid(&mut rng),
        bruker_nr: format!("B-{}", rng.gen_range(1000..9999)),
        fid,
        type_id: "1".into(),
        bydel: None,
    };
    let tjeneste_id = format!("LTO-{year}-{:04}", rng.gen_range(1..9999));
    let mut event = |kind: EventKind, dato: NaiveDate, n: u32| Event {
        kind,
        tjeneste_type: "21".into(),
        tjeneste_id: tjeneste_id.clone(),
        hendelse_guid: guid(&mut rng),
        hendelse_dato: dato.format("%Y-%m-%d").to_string(),
        hendelse_reg_tid: format!("{}T09:{n:02}:00", dato.format("%Y-%m-%d")),
        tjeneste_org_nr: Some(orgnr.clone()),
        midlertidig_stopp_id: None,
        bruker: bruker.clone(),
    };
    let e1 = event(EventKind::TjenesteStart, date(year, 1, 10), 1);
    let e2 = event(EventKind::TjenesteSlutt, date(year, 11, 30), 2);
    let g1 = guid(&mut rng);
    let g2 = guid(&mut rng);
    let tid = format!("{year}-12-02T08:00:0");
    let base: u32 = rng.gen_range(100..10_000);
    let domain = format!("k{kommune_nr}.kommune.test");
    Melding {
        header: Header::new(
            "iplos-harness",
            "Referanseavsender",
            env!("CARGO_PKG_VERSION"),
            "1.0",
        ),
        notifikasjoner: vec![
            Notifikasjon {
                status: Status::N,
                tid: format!("{tid}1"),
                guid: g1.clone(),
                forrige_guid: EMPTY_GUID.into(),
                lopenr: base.to_string(),
                referanse: None,
                events: vec![e1],
            },
            Notifikasjon {
                status: Status::N,
                tid: format!("{tid}2"),
                guid: g2,
                forrige_guid: g1,
                lopenr: (base + 1).to_string(),
                referanse: None,
                events: vec![e2],
            },
        ],
        kontaktpersoner: vec![
            Kontaktperson {
                navn: "Iplos Kontakt".into(),
                telefon: Some("+4791234567".into()),
                epost1: format!("iplos@{domain}"),
                epost2: None,
                type_kontaktperson: "16".into(),
            },
            Kontaktperson {
                navn: "Innsending Ansvarlig".into(),
                telefon: Some("+4791234568".into()),
                epost1: format!("innsending@{domain}"),
                epost2: None,
                type_kontaktperson: "17".into(),
            },
        ],
        kommuner: vec![kommune_nr.to_string()],
    }
}

/// [`sample_melding`] written as UTF-8 XML.
pub fn sample_iplos(kommune_nr: &str, year: i32, seed: u64) -> Vec<u8> {
    melding_xml(&sample_melding(kommune_nr, year, seed))
}

/// A message written as UTF-8 XML.
pub fn melding_xml(m: &Melding) -> Vec<u8> {
    write_message(m, Vec::new(), OutputEncoding::Utf8).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use iplos_model::rules::{CheckOptions, check};

    #[test]
    fn the_sample_is_conformant() {
        for (knr, year) in [
            ("0301", 2024),
            ("4601", 2024),
            ("1151", 2019),
            ("5001", 2020),
        ] {
            let xml = sample_iplos(knr, year, 7);
            let report = check(
                &xml[..],
                &CheckOptions {
                    data_year: Some(year),
                    ..CheckOptions::default()
                },
            );
            assert!(
                report.findings.is_empty(),
                "{knr} {year}: {:#?}",
                report.findings
            );
            assert_eq!(xml, sample_iplos(knr, year, 7));
            assert_ne!(xml, sample_iplos(knr, year, 8));
        }
    }
}
