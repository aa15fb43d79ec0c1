//! A kommune's profile: its EPJ vendor (the message header), its IPLOS contacts, the
//! provider organisations that deliver its services, and when it sends in the season.
//! Everything is drawn from the kommune's own streams (`"profile"`, `"providers"`).

use chrono::{Datelike, Duration, NaiveDate};
use iplos_model::calendar::{PhaseKind, Season, is_working_day};
use iplos_model::ids::OrgNr;
use iplos_model::message::{Header, Kontaktperson};
use iplos_model::municipality::Municipality;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::GenError;
use crate::seed::{GenRng, stream_rng};
use crate::services::ProviderKind;

/// An EPJ product as it appears in the message header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vendor {
    /// `leverandor`.
    pub leverandor: &'static str,
    /// `navnEPJ`.
    pub navn_epj: &'static str,
    /// Major versions the product is drawn from (`versjonEPJ` = `<major>.<minor>.<patch>`).
    pub majors: &'static [u32],
    /// Market share among kommuner.
    pub share: f64,
}

/// **\[model\]** EPJ vendors of the municipal care services and their market shares among
/// kommuner (rough public knowledge: Gerica ≈ 45 %, Profil ≈ 30 %, CosDoc ≈ 15 %, DIPS Front
/// ≈ 5 %, others). Vendor names and version numbers are plausible stand-ins, not a register.
pub const VENDORS: &[Vendor] = &[
    Vendor {
        leverandor: "Visma Tieto",
        navn_epj: "Gerica",
        majors: &[10, 11, 12],
        share: 0.45,
    },
    Vendor {
        leverandor: "Sopra Steria AS",
        navn_epj: "Profil",
        majors: &[7, 8],
        share: 0.30,
    },
    Vendor {
        leverandor: "CosDoc AS",
        navn_epj: "CosDoc",
        majors: &[5, 6],
        share: 0.15,
    },
    Vendor {
        leverandor: "DIPS AS",
        navn_epj: "DIPS Front",
        majors: &[2, 3],
        share: 0.05,
    },
    Vendor {
        leverandor: "Omsorgsdata AS",
        navn_epj: "OmsorgJournal",
        majors: &[24],
        share: 0.05,
    },
];

/// A provider organisation of the kommune.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    /// Organisation number (valid check digit).
    pub orgnr: String,
    /// Name, e.g. "Utsira sjukeheim" or "Hjemmetjenesten sone 2".
    pub name: String,
    /// What it delivers.
    pub kind: ProviderKind,
}

/// The kommune's profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// `leverandor`.
    pub leverandor: String,
    /// `navnEPJ`.
    pub navn_epj: String,
    /// `versjonEPJ`.
    pub versjon_epj: String,
    /// `versjonUt`.
    pub versjon_ut: String,
    /// The contacts (at least one of type 16 and one of type 17).
    pub contacts: Vec<Kontaktperson>,
    /// The provider organisations.
    pub providers: Vec<Provider>,
    /// **\[model\]** The day the ordinary submission is extracted and sent: a working day of
    /// 2–15 January after the data year, most often early.
    pub ordinary_submission: NaiveDate,
    /// **\[model\]** The day the corrections message is sent: after its last correction,
    /// no later than the corrections deadline.
    pub corrections_submission: NaiveDate,
}

impl Profile {
    /// The message header of this kommune's EPJ.
    pub fn header(&self, lokalident: Option<String>) -> Header {
        let mut h = Header::new(
            &self.leverandor,
            &self.navn_epj,
            &self.versjon_epj,
            &self.versjon_ut,
        );
        h.lokalident = lokalident;
        h
    }
}

const FIRST_NAMES: &[&str] = &[
    "Anne", "Inger", "Kari", "Marit", "Ingrid", "Liv", "Eva", "Berit", "Astrid", "Bjørg", "Hilde",
    "Nina", "Randi", "Solveig", "Silje", "Ida", "Ingeborg", "Marianne", "Tone", "Hege", "Camilla",
    "Kristin", "Nora", "Sigrid", "Åse", "Jan", "Per", "Bjørn", "Ole", "Lars", "Kjell", "Knut",
    "Arne", "Svein", "Hans", "Geir", "Terje", "Odd", "Morten", "Thomas", "Espen", "Øyvind",
    "Jonas", "Håkon", "Magnus", "Sindre", "Erlend", "Trond", "Rune", "Tor",
];

const SURNAMES: &[&str] = &[
    "Hansen",
    "Johansen",
    "Olsen",
    "Larsen",
    "Andersen",
    "Pedersen",
    "Nilsen",
    "Kristiansen",
    "Jensen",
    "Karlsen",
    "Johnsen",
    "Pettersen",
    "Eriksen",
    "Berg",
    "Haugen",
    "Hagen",
    "Johannessen",
    "Andreassen",
    "Jacobsen",
    "Dahl",
    "Jørgensen",
    "Halvorsen",
    "Henriksen",
    "Lund",
    "Sørensen",
    "Jakobsen",
    "Moen",
    "Gundersen",
    "Iversen",
    "Strand",
    "Solberg",
    "Svendsen",
    "Eide",
    "Knutsen",
    "Martinsen",
    "Paulsen",
    "Bakken",
    "Kristoffersen",
    "Mathisen",
    "Lie",
    "Amundsen",
    "Nguyen",
    "Rasmussen",
    "Ali",
    "Lunde",
    "Solheim",
    "Berge",
    "Moe",
    "Nygård",
    "Bakke",
    "Kristensen",
    "Fredriksen",
    "Holm",
    "Lien",
    "Hauge",
    "Christensen",
    "Andresen",
    "Nielsen",
    "Knudsen",
    "Evensen",
    "Sæther",
    "Aas",
    "Myhre",
    "Hanssen",
    "Ahmed",
    "Haugland",
    "Thomassen",
    "Sivertsen",
    "Simonsen",
    "Danielsen",
    "Berntsen",
    "Sandvik",
    "Rønning",
    "Arnesen",
    "Antonsen",
    "Næss",
    "Vik",
    "Haug",
    "Ellingsen",
    "Thorsen",
    "Edvardsen",
];

/// An e-mail local part from a name: lower case, æ ø å as ae o aa, spaces as dots.
fn mail_local(first: &str, last: &str) -> String {
    let mut s = String::with_capacity(first.len() + last.len() + 1);
    for (i, part) in [first, last].iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        for c in part.chars().flat_map(char::to_lowercase) {
            match c {
                'æ' => s.push_str("ae"),
                'ø' => s.push('o'),
                'å' => s.push_str("aa"),
                'é' => s.push('e'),
                ' ' => s.push('.'),
                c if c.is_ascii_alphanumeric() || c == '-' => s.push(c),
                _ => {}
            }
        }
    }
    s
}

/// A Norwegian mobile number: 8 digits starting with 4 or 9, with `+47` in front about
/// half the time.
fn mobile(rng: &mut GenRng) -> String {
    let first = if rng.gen_bool(0.5) { '4' } else { '9' };
    let mut s = String::with_capacity(11);
    if rng.gen_bool(0.5) {
        s.push_str("+47");
    }
    s.push(first);
    for _ in 0..7 {
        s.push(char::from(b'0' + rng.gen_range(0..10u8)));
    }
    s
}

/// The kommune's name for its institutions: the first of SSB's language forms
/// ("Snåase - Snåsa" → "Snåase"), without a county in brackets.
fn short_name(m: &Municipality) -> &str {
    let n = m.name();
    let n = n.split(" - ").next().unwrap_or(n);
    n.split(" (").next().unwrap_or(n).trim()
}

/// **\[model\]** The provider organisations of a kommune: institutions (one per ~15 000
/// inhabitants, 1–40), home-care districts (one per ~15 000, 1–15) and day centres (one per
/// ~40 000, 1–8). The first home-care district uses the kommune's own organisation number;
/// every other provider has its own (generated, deterministic from the kommune's seed,
/// distinct within the kommune).
pub fn providers(year: u16, m: &Municipality, seed: u64) -> Vec<Provider> {
    let mut rng = stream_rng(seed, year, m.number(), "providers");
    let pop = m.population().total();
    let count = |per: u64, max: u64| (1 + pop / per).min(max) as usize;
    let name = short_name(m);
    let mut taken = vec![m.orgnr().to_string()];
    let mut fresh = |rng: &mut GenRng| loop {
        let o = OrgNr::generate(rng).to_string();
        if !taken.contains(&o) {
            taken.push(o.clone());
            return o;
        }
    };
    let mut out = Vec::new();
    const INSTITUTION_NAMES: [&str; 5] = [
        "sykehjem",
        "helsehus",
        "omsorgssenter",
        "bo- og behandlingssenter",
        "helse- og omsorgssenter",
    ];
    let n_inst = count(15_000, 40);
    for i in 0..n_inst {
        let kind_name = INSTITUTION_NAMES[i % INSTITUTION_NAMES.len()];
        let name = if i < INSTITUTION_NAMES.len() {
            format!("{name} {kind_name}")
        } else {
            format!("{name} {kind_name} {}", i / INSTITUTION_NAMES.len() + 1)
        };
        out.push(Provider {
            orgnr: fresh(&mut rng),
            name,
            kind: ProviderKind::Institution,
        });
    }
    let n_home = count(15_000, 15);
    for i in 0..n_home {
        let orgnr = if i == 0 {
            m.orgnr().to_string()
        } else {
            fresh(&mut rng)
        };
        let name = if n_home == 1 {
            format!("Hjemmetjenesten i {name}")
        } else {
            format!("Hjemmetjenesten sone {}", i + 1)
        };
        out.push(Provider {
            orgnr,
            name,
            kind: ProviderKind::HomeCare,
        });
    }
    let n_day = count(40_000, 8);
    for i in 0..n_day {
        out.push(Provider {
            orgnr: fresh(&mut rng),
            name: if n_day == 1 {
                format!("{name} dagsenter")
            } else {
                format!("{name} dagsenter {}", i + 1)
            },
            kind: ProviderKind::DayCentre,
        });
    }
    out
}

/// Draws the kommune's profile (vendor, contacts, submission days) and takes the providers.
pub fn profile(
    year: u16,
    m: &Municipality,
    seed: u64,
    providers: Vec<Provider>,
) -> Result<Profile, GenError> {
    let mut rng = stream_rng(seed, year, m.number(), "profile");
    let total: f64 = VENDORS.iter().map(|v| v.share).sum();
    let mut x = rng.r#gen::<f64>() * total;
    let mut vendor = &VENDORS[0];
    for v in VENDORS {
        if x < v.share {
            vendor = v;
            break;
        }
        x -= v.share;
    }
    let major = vendor.majors[rng.gen_range(0..vendor.majors.len())];
    let versjon_epj = format!("{major}.{}.{}", rng.gen_range(0..10), rng.gen_range(0..30));
    let versjon_ut = format!("56.0.{}", rng.gen_range(0..6));

    let domain = m
        .postmottak()
        .split_once('@')
        .map_or("kommune.test", |(_, d)| d)
        .to_string();
    let person = |rng: &mut GenRng| {
        let first = FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())];
        let last = SURNAMES[rng.gen_range(0..SURNAMES.len())];
        (format!("{first} {last}"), mail_local(first, last))
    };
    let mut contacts = Vec::new();
    let (name16, local16) = person(&mut rng);
    let phone16 = mobile(&mut rng);
    contacts.push(Kontaktperson {
        navn: name16.clone(),
        telefon: Some(phone16.clone()),
        epost1: format!("{local16}@{domain}"),
        epost2: rng.gen_bool(0.5).then(|| m.postmottak().to_string()),
        type_kontaktperson: "16".into(),
    });
    if rng.gen_bool(0.3) {
        // The same person has both roles.
        contacts.push(Kontaktperson {
            navn: name16,
            telefon: Some(phone16),
            epost1: format!("{local16}@{domain}"),
            epost2: Some(m.postmottak().to_string()),
            type_kontaktperson: "17".into(),
        });
    } else {
        let (name, local) = person(&mut rng);
        contacts.push(Kontaktperson {
            navn: name,
            telefon: rng.gen_bool(0.8).then(|| mobile(&mut rng)),
            epost1: format!("{local}@{domain}"),
            epost2: Some(m.postmottak().to_string()),
            type_kontaktperson: "17".into(),
        });
    }
    if rng.gen_bool(0.25) {
        // A second IPLOS contact, reached through the shared mailbox.
        let (name, _) = person(&mut rng);
        contacts.push(Kontaktperson {
            navn: name,
            telefon: None,
            epost1: m.postmottak().to_string(),
            epost2: None,
            type_kontaktperson: "16".into(),
        });
    }

    let season =
        Season::for_data_year(i32::from(year)).map_err(|_| GenError::UnsupportedYear { year })?;
    let ordinary = season
        .phase(PhaseKind::OrdinarySubmission)
        .ok_or(GenError::UnsupportedYear { year })?;
    let working: Vec<NaiveDate> = ordinary
        .first_day()
        .iter_days()
        .take_while(|d| *d <= ordinary.last_day())
        .filter(|d| is_working_day(*d))
        .collect();
    // Early days are likelier: each working day is skipped with probability 0.6.
    let mut ordinary_submission = *working.last().unwrap_or(&ordinary.last_day());
    for d in &working {
        if rng.gen_bool(0.4) {
            ordinary_submission = *d;
            break;
        }
    }
    let deadline = season.corrections_deadline();
    let corrections_submission = corrections_day(&mut rng, deadline);

    Ok(Profile {
        leverandor: vendor.leverandor.into(),
        navn_epj: vendor.navn_epj.into(),
        versjon_epj,
        versjon_ut,
        contacts,
        providers,
        ordinary_submission,
        corrections_submission,
    })
}

/// A working day in the last three weeks before the corrections deadline.
fn corrections_day(rng: &mut GenRng, deadline: NaiveDate) -> NaiveDate {
    let mut d = deadline - Duration::days(rng.gen_range(0..21));
    while !is_working_day(d) && d.month() >= 2 {
        d -= Duration::days(1);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use iplos_model::municipality::lookup;

    #[test]
    fn mail_and_names() {
        assert_eq!(mail_local("Åse", "Sæther"), "aase.saether");
        assert_eq!(mail_local("Øyvind", "Nygård"), "oyvind.nygaard");
        let m = lookup(2024, "5006").unwrap();
        assert!(!short_name(m).contains(" - "));
    }

    #[test]
    fn providers_are_distinct_and_valid() {
        for (year, nr) in [(2024, "0301"), (2024, "1151"), (2017, "1201")] {
            let m = lookup(year, nr).unwrap();
            let ps = providers(year, m, 7);
            let mut orgnrs: Vec<&str> = ps.iter().map(|p| p.orgnr.as_str()).collect();
            orgnrs.sort();
            orgnrs.dedup();
            assert_eq!(orgnrs.len(), ps.len(), "{nr}");
            for p in &ps {
                OrgNr::parse(&p.orgnr).unwrap();
            }
            for kind in [
                ProviderKind::Institution,
                ProviderKind::HomeCare,
                ProviderKind::DayCentre,
            ] {
                assert!(ps.iter().any(|p| p.kind == kind));
            }
            assert_eq!(ps, providers(year, m, 7));
        }
    }

    #[test]
    fn profile_has_both_contact_types_and_a_submission_day_in_the_phase() {
        for seed in 0..30 {
            let m = lookup(2024, "1151").unwrap();
            let p = profile(2024, m, seed, vec![]).unwrap();
            assert!(p.contacts.iter().any(|c| c.type_kontaktperson == "16"));
            assert!(p.contacts.iter().any(|c| c.type_kontaktperson == "17"));
            for c in &p.contacts {
                let t = c.telefon.as_deref().unwrap_or("40000000");
                let digits = t.strip_prefix("+47").unwrap_or(t);
                assert_eq!(digits.len(), 8);
                assert!(digits.starts_with('4') || digits.starts_with('9'));
                assert!(c.epost1.ends_with("utsira.kommune.test"), "{}", c.epost1);
            }
            let d = p.ordinary_submission;
            assert!(d >= NaiveDate::from_ymd_opt(2025, 1, 2).unwrap());
            assert!(d <= NaiveDate::from_ymd_opt(2025, 1, 15).unwrap());
            assert!(is_working_day(d));
            assert!(p.corrections_submission <= NaiveDate::from_ymd_opt(2025, 3, 21).unwrap());
        }
    }
}
