//! Content rules IPL01–IPL28 of the IPLOS 56.0.0 checker.
//!
//! [`valid`] builds a content-correct message for Bergen (4601), data year 2024: a
//! long-term stay (tjenestetype 21) that starts, stops for two weeks, changes provider and
//! ends, plus an M correction of the start. It must check without a single finding. Every
//! other test applies one minimal mutation and asserts that exactly one rule fires, at the
//! right line and path, with a message naming the offending value.
//!
//! Person ids are synthetic (Test-Norge, month + 80) except in the IPL24 tests, which need
//! a real-looking id on purpose.

use chrono::NaiveDate;
use iplos_model::ids::{OrgNr, PersonId, PersonIdKind, Sex};
use iplos_model::message::{
    Bruker, EMPTY_GUID, Event, EventKind, Header, Kontaktperson, Melding, Notifikasjon,
    OutputEncoding, Status, write_message,
};
use iplos_model::rules::{self, CheckOptions, CheckReport, ContentState, Finding};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------------------
// The valid message
// ---------------------------------------------------------------------------------------

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("test date exists")
}

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(0x1905_2024)
}

/// A deterministic GUID (with hex letters, so case matters in the text): `family` tells
/// notifications (1), events (2), persons (3) apart.
fn guid(family: u32, n: u32) -> String {
    format!("{family:08x}-abcd-4ef0-8a1b-{n:012x}")
}

/// The synthetic fødselsnummer of the person in [`valid`].
fn synthetic_fnr() -> String {
    let id = PersonId::generate_synthetic(
        &mut rng(),
        date(1938, 4, 12),
        Sex::Female,
        PersonIdKind::Fodselsnummer,
    )
    .expect("synthetic fnr");
    assert!(id.is_synthetic());
    id.to_string()
}

/// Two valid organisation numbers: the nursing home, and the one that takes over.
fn orgnrs() -> (String, String) {
    let mut r = rng();
    let a = OrgNr::generate(&mut r).to_string();
    let mut b = OrgNr::generate(&mut r).to_string();
    while b == a {
        b = OrgNr::generate(&mut r).to_string();
    }
    (a, b)
}

fn bruker() -> Bruker {
    Bruker {
        pasient_guid: guid(3, 1),
        bruker_nr: "B-1001".into(),
        fid: synthetic_fnr(),
        type_id: "1".into(),
        bydel: Some("460103".into()),
    }
}

const TJENESTE: &str = "LTO-2024-0017";
const STOPP: &str = "STOPP-1";

fn event(kind: EventKind, n: u32, dato: &str, orgnr: Option<&str>) -> Event {
    Event {
        kind,
        tjeneste_type: "21".into(),
        tjeneste_id: TJENESTE.into(),
        hendelse_guid: guid(2, n),
        hendelse_dato: dato.into(),
        hendelse_reg_tid: format!("{dato}T09:{:02}:00", n % 60),
        tjeneste_org_nr: orgnr.map(str::to_string),
        midlertidig_stopp_id: kind.is_stop().then(|| STOPP.to_string()),
        bruker: bruker(),
    }
}

/// Notification number `n` (1-based) of a chain: GUID `guid(1, n)`, previous
/// `guid(1, n - 1)` or the empty GUID, løpenummer `100 + n`.
fn notifikasjon(n: u32, status: Status, referanse: Option<String>, e: Event) -> Notifikasjon {
    Notifikasjon {
        status,
        tid: format!("2024-12-02T08:00:{:02}", n % 60),
        guid: guid(1, n),
        forrige_guid: if n == 1 {
            EMPTY_GUID.to_string()
        } else {
            guid(1, n - 1)
        },
        lopenr: (100 + n).to_string(),
        referanse,
        events: vec![e],
    }
}

fn contact(name: &str, email: &str, kind: &str) -> Kontaktperson {
    Kontaktperson {
        navn: name.into(),
        telefon: Some("+4791234567".into()),
        epost1: email.into(),
        epost2: None,
        type_kontaktperson: kind.into(),
    }
}

/// The valid, content-correct message. Notifications (index: what):
/// 0 N TjenesteStart · 1 N MidlertidigStoppFra · 2 N MidlertidigStoppTil ·
/// 3 N TjenesteutforerEndret · 4 N TjenesteSlutt · 5 M TjenesteStart correcting 0.
fn valid() -> Melding {
    let (org_a, org_b) = orgnrs();
    let (a, b) = (Some(org_a.as_str()), Some(org_b.as_str()));
    use EventKind::*;
    let mut header = Header::new("Øvre Fagsystem AS €", "OmsorgEPJ", "12.4.1", "3.0.2");
    header.lokalident = Some("bergen-2024-12".into());
    Melding {
        header,
        notifikasjoner: vec![
            notifikasjon(1, Status::N, None, event(TjenesteStart, 1, "2024-01-10", a)),
            notifikasjon(
                2,
                Status::N,
                None,
                event(MidlertidigStoppFra, 2, "2024-03-01", a),
            ),
            notifikasjon(
                3,
                Status::N,
                None,
                event(MidlertidigStoppTil, 3, "2024-03-15", a),
            ),
            notifikasjon(
                4,
                Status::N,
                None,
                event(TjenesteutforerEndret, 4, "2024-05-01", b),
            ),
            notifikasjon(5, Status::N, None, event(TjenesteSlutt, 5, "2024-11-30", b)),
            notifikasjon(
                6,
                Status::M,
                Some(guid(1, 1)),
                event(TjenesteStart, 6, "2024-01-09", a),
            ),
        ],
        kontaktpersoner: vec![
            contact("Åse Ødegård", "ase.odegard@bergen.kommune.test", "16"),
            contact("Kåre Ærlig", "kare.aerlig@bergen.kommune.test", "17"),
        ],
        kommuner: vec!["4601".into()],
    }
}

fn options() -> CheckOptions {
    CheckOptions {
        data_year: Some(2024),
        ..CheckOptions::default()
    }
}

fn write(m: &Melding, enc: OutputEncoding) -> Vec<u8> {
    write_message(m, Vec::new(), enc).expect("writing to a Vec")
}

fn check_with(m: &Melding, opts: &CheckOptions) -> (String, CheckReport) {
    let bytes = write(m, OutputEncoding::Utf8);
    let report = rules::check(&bytes[..], opts);
    (String::from_utf8(bytes).expect("UTF-8 output"), report)
}

fn rule_set(findings: &[Finding]) -> BTreeSet<&'static str> {
    findings.iter().map(|f| f.rule).collect()
}

fn show(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "  {} line {} {}: {}",
                f.rule, f.location.line, f.location.path, f.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The 1-based line of the first line of `xml` containing `needle`.
fn line_of(xml: &str, needle: &str) -> u64 {
    let i = xml
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} is not in the message:\n{xml}"));
    i as u64 + 1
}

/// What a case expects: the rule, and where and what the finding names.
struct Expect<'a> {
    rule: &'static str,
    /// Rules that necessarily fire together with `rule` (documented per case).
    also: &'a [&'static str],
    path: &'a str,
    /// A text on the line the finding must point at (in the UTF-8 output).
    line_needle: &'a str,
    /// The offending value, which the message must name.
    value: &'a str,
}

fn expect_with(m: &Melding, opts: &CheckOptions, e: Expect<'_>) -> Finding {
    let (xml, report) = check_with(m, opts);
    let mut want: BTreeSet<&str> = e.also.iter().copied().collect();
    want.insert(e.rule);
    assert_eq!(
        rule_set(&report.findings),
        want,
        "rules found (expected exactly {want:?}):\n{}",
        show(&report.findings)
    );
    let hits: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.rule == e.rule)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "expected one {} finding:\n{}",
        e.rule,
        show(&report.findings)
    );
    let f = hits[0].clone();
    assert_eq!(
        f.location.path,
        e.path,
        "path of {}",
        show(std::slice::from_ref(&f))
    );
    assert_eq!(
        f.location.line,
        line_of(&xml, e.line_needle),
        "line of {} (should be the line holding {:?})",
        show(std::slice::from_ref(&f)),
        e.line_needle
    );
    assert!(
        f.message.contains(e.value),
        "the message of {} should name {:?}",
        show(std::slice::from_ref(&f)),
        e.value
    );
    let rule = rules::catalogue::by_id(e.rule).expect("rule in catalogue");
    assert_eq!(f.severity, rule.severity);
    assert_eq!(f.consequence, rule.consequence);
    assert_eq!(f.category, rules::Category::Content);
    assert_eq!(
        report.conformant,
        report
            .findings
            .iter()
            .all(|f| f.severity == rules::Severity::Warning)
    );
    f
}

fn expect(m: &Melding, e: Expect<'_>) -> Finding {
    expect_with(m, &options(), e)
}

const N: &str = "/Melding/Notifikasjon";

fn guid_attr(n: u32) -> String {
    format!("notifikasjonGUID=\"{}\"", guid(1, n))
}

fn hendelse_attr(n: u32) -> String {
    format!("hendelseGUID=\"{}\"", guid(2, n))
}

/// Every content rule of the catalogue has at least one named case below; a new rule
/// fails here until it gets one.
#[test]
fn every_content_rule_has_a_case() {
    const COVERED: [&str; 29] = [
        "IPL01", "IPL02", "IPL03", "IPL04", "IPL05", "IPL06", "IPL07", "IPL08", "IPL09", "IPL10",
        "IPL11", "IPL12", "IPL13", "IPL14", "IPL15", "IPL16", "IPL17", "IPL18", "IPL19", "IPL20",
        "IPL21", "IPL22", "IPL23", "IPL24", "IPL25", "IPL26", "IPL27", "IPL28", "IPL29",
    ];
    let content: Vec<&str> = rules::catalogue::ALL
        .iter()
        .filter(|r| r.category == rules::Category::Content)
        .map(|r| r.id)
        .collect();
    assert_eq!(content, COVERED);
}

// ---------------------------------------------------------------------------------------
// The valid message is clean
// ---------------------------------------------------------------------------------------

#[test]
fn the_builder_uses_synthetic_ids_and_valid_orgnr() {
    let m = valid();
    for n in &m.notifikasjoner {
        for e in &n.events {
            let id = PersonId::parse(&e.bruker.fid).expect("valid fid");
            assert!(id.is_synthetic());
            assert_eq!(id.kind(), PersonIdKind::Fodselsnummer);
            if let Some(o) = &e.tjeneste_org_nr {
                OrgNr::parse(o).expect("valid orgnr");
            }
        }
    }
}

#[test]
fn valid_message_has_no_findings_in_utf8_and_latin1() {
    let m = valid();
    for enc in [OutputEncoding::Utf8, OutputEncoding::Latin1] {
        let bytes = write(&m, enc);
        let report = rules::check(&bytes[..], &options());
        assert!(
            report.findings.is_empty(),
            "{enc:?}:\n{}",
            show(&report.findings)
        );
        assert!(report.conformant);
        assert_eq!(report.findings_omitted, 0);
        assert_eq!(report.notifications, 6);
        assert_eq!(report.data_year, Some(2024));
    }
}

#[test]
fn valid_message_reads_back_identically_in_both_encodings() {
    let m = valid();
    for enc in [OutputEncoding::Utf8, OutputEncoding::Latin1] {
        let bytes = write(&m, enc);
        let (back, report) = rules::read_message(&bytes[..], &options());
        assert!(report.findings.is_empty(), "{}", show(&report.findings));
        assert_eq!(back, m, "{enc:?}");
    }
    // Latin-1 output really is Latin-1: Å is one byte, € (not in Latin-1) a reference.
    let latin1 = write(&m, OutputEncoding::Latin1);
    assert!(latin1.windows(2).any(|w| w == [0xC5, b's']));
    assert!(latin1.windows(7).any(|w| w == b"&#8364;"));
}

#[test]
fn data_year_defaults_to_the_latest_event_date() {
    let (_, report) = check_with(&valid(), &CheckOptions::default());
    assert!(report.findings.is_empty(), "{}", show(&report.findings));
    assert_eq!(report.data_year, Some(2024));
}

// ---------------------------------------------------------------------------------------
// IPL01 exactly one event
// ---------------------------------------------------------------------------------------

#[test]
fn ipl01_notification_without_event() {
    let mut m = valid();
    m.notifikasjoner[3].events.clear();
    expect(
        &m,
        Expect {
            rule: "IPL01",
            also: &[],
            path: &format!("{N}[4]"),
            line_needle: &guid_attr(4),
            value: "no event",
        },
    );
}

#[test]
fn ipl01_notification_with_two_events() {
    let mut m = valid();
    // TjenesteStart and TjenesteSlutt in schema order: the XSD accepts it, IPL01 does not.
    let (org_a, _) = orgnrs();
    let extra = event(EventKind::TjenesteSlutt, 99, "2024-12-01", Some(&org_a));
    m.notifikasjoner[0].events.push(extra);
    let f = expect(
        &m,
        Expect {
            rule: "IPL01",
            also: &[],
            path: &format!("{N}[1]"),
            line_needle: &guid_attr(1),
            value: "2 events",
        },
    );
    assert!(f.message.contains("TjenesteStart, TjenesteSlutt"), "{f:?}");
}

// ---------------------------------------------------------------------------------------
// IPL02 notifikasjonLopeNr
// ---------------------------------------------------------------------------------------

#[test]
fn ipl02_lopenr_not_a_number() {
    let mut m = valid();
    m.notifikasjoner[2].lopenr = "103a".into();
    expect(
        &m,
        Expect {
            rule: "IPL02",
            also: &[],
            path: &format!("{N}[3]/@notifikasjonLopeNr"),
            line_needle: &guid_attr(3),
            value: "\"103a\"",
        },
    );
}

#[test]
fn ipl02_lopenr_not_increasing() {
    let mut m = valid();
    m.notifikasjoner[2].lopenr = "102".into(); // same as the one before
    let f = expect(
        &m,
        Expect {
            rule: "IPL02",
            also: &[],
            path: &format!("{N}[3]/@notifikasjonLopeNr"),
            line_needle: &guid_attr(3),
            value: "102",
        },
    );
    assert!(
        f.message.contains("not greater than the previous 102"),
        "{f:?}"
    );
}

#[test]
fn ipl02_lopenr_compares_as_numbers_not_text() {
    // 99 < 100 as numbers although "99" > "100" as text; leading zeros do not count.
    let mut m = valid();
    for (n, l) in m
        .notifikasjoner
        .iter_mut()
        .zip(["98", "0099", "100", "101", "1000", "1001"])
    {
        n.lopenr = l.into();
    }
    let (_, report) = check_with(&m, &options());
    assert!(report.findings.is_empty(), "{}", show(&report.findings));

    m.notifikasjoner[4].lopenr = "0101".into(); // = 101
    expect(
        &m,
        Expect {
            rule: "IPL02",
            also: &[],
            path: &format!("{N}[5]/@notifikasjonLopeNr"),
            line_needle: &guid_attr(5),
            value: "0101",
        },
    );
}

// ---------------------------------------------------------------------------------------
// IPL03 chain
// ---------------------------------------------------------------------------------------

#[test]
fn ipl03_first_notification_not_the_empty_guid() {
    let mut m = valid();
    let stranger = guid(9, 9);
    m.notifikasjoner[0].forrige_guid = stranger.clone();
    let f = expect(
        &m,
        Expect {
            rule: "IPL03",
            also: &[],
            path: &format!("{N}[1]/@notifikasjonForrigeGUID"),
            line_needle: &guid_attr(1),
            value: &stranger,
        },
    );
    assert!(f.message.contains(EMPTY_GUID), "{f:?}");
}

#[test]
fn ipl03_broken_chain() {
    let mut m = valid();
    // Notification 3 points back to 1, skipping 2.
    m.notifikasjoner[2].forrige_guid = guid(1, 1);
    let f = expect(
        &m,
        Expect {
            rule: "IPL03",
            also: &[],
            path: &format!("{N}[3]/@notifikasjonForrigeGUID"),
            line_needle: &guid_attr(3),
            value: &guid(1, 1),
        },
    );
    assert!(
        f.message.contains(&guid(1, 2)),
        "names the expected GUID: {f:?}"
    );
}

#[test]
fn ipl03_guid_comparison_ignores_case_and_braces() {
    let mut m = valid();
    m.notifikasjoner[2].forrige_guid = format!("{{{}}}", guid(1, 2).to_ascii_uppercase());
    m.notifikasjoner[5].referanse = Some(guid(1, 1).to_ascii_uppercase());
    let (_, report) = check_with(&m, &options());
    assert!(report.findings.is_empty(), "{}", show(&report.findings));
}

// ---------------------------------------------------------------------------------------
// IPL04–IPL09 status and references
// ---------------------------------------------------------------------------------------

#[test]
fn ipl04_correction_without_reference() {
    let mut m = valid();
    m.notifikasjoner[5].referanse = None;
    expect(
        &m,
        Expect {
            rule: "IPL04",
            also: &[],
            path: &format!("{N}[6]/@notifikasjonRef"),
            line_needle: &guid_attr(6),
            value: "status M",
        },
    );
}

#[test]
fn ipl04_cancellation_without_reference() {
    let mut m = valid();
    m.notifikasjoner[5].status = Status::C;
    m.notifikasjoner[5].referanse = None;
    expect(
        &m,
        Expect {
            rule: "IPL04",
            also: &[],
            path: &format!("{N}[6]/@notifikasjonRef"),
            line_needle: &guid_attr(6),
            value: "status C",
        },
    );
}

#[test]
fn ipl05_reference_to_a_correction() {
    let mut m = valid();
    // A seventh notification cancels the M correction instead of the original.
    let (org_a, _) = orgnrs();
    let e = event(EventKind::TjenesteStart, 7, "2024-01-09", Some(&org_a));
    m.notifikasjoner
        .push(notifikasjon(7, Status::C, Some(guid(1, 6)), e));
    expect(
        &m,
        Expect {
            rule: "IPL05",
            also: &[],
            path: &format!("{N}[7]/@notifikasjonRef"),
            line_needle: &guid_attr(7),
            value: &guid(1, 6),
        },
    );
}

#[test]
fn ipl06_reference_to_an_unknown_notification() {
    let mut m = valid();
    let unknown = guid(1, 4711);
    m.notifikasjoner[5].referanse = Some(unknown.clone());
    let f = expect(
        &m,
        Expect {
            rule: "IPL06",
            also: &[],
            path: &format!("{N}[6]/@notifikasjonRef"),
            line_needle: &guid_attr(6),
            value: &unknown,
        },
    );
    assert_eq!(f.severity, rules::Severity::Warning);
}

#[test]
fn ipl06_reference_to_a_later_notification() {
    // A correction must come after its original: a reference forwards is unknown.
    let mut m = valid();
    m.notifikasjoner[5].referanse = None;
    m.notifikasjoner[5].status = Status::N;
    m.notifikasjoner[1].status = Status::M;
    m.notifikasjoner[1].referanse = Some(guid(1, 5));
    expect(
        &m,
        Expect {
            rule: "IPL06",
            also: &[],
            path: &format!("{N}[2]/@notifikasjonRef"),
            line_needle: &guid_attr(2),
            value: &guid(1, 5),
        },
    );
}

#[test]
fn ipl07_original_with_reference() {
    let mut m = valid();
    m.notifikasjoner[1].referanse = Some(guid(1, 1));
    expect(
        &m,
        Expect {
            rule: "IPL07",
            also: &[],
            path: &format!("{N}[2]/@notifikasjonRef"),
            line_needle: &guid_attr(2),
            value: &guid(1, 1),
        },
    );
}

#[test]
fn ipl08_status_t_is_not_to_be_used() {
    let mut m = valid();
    m.notifikasjoner[5].status = Status::T;
    expect(
        &m,
        Expect {
            rule: "IPL08",
            also: &[],
            path: &format!("{N}[6]/@statusNotifikasjon"),
            line_needle: &guid_attr(6),
            value: "status T",
        },
    );
}

#[test]
fn ipl09_status_not_in_kodeverk_7316() {
    let mut m = valid();
    m.notifikasjoner[5].status = Status::Other("X".into());
    expect(
        &m,
        Expect {
            rule: "IPL09",
            also: &[],
            path: &format!("{N}[6]/@statusNotifikasjon"),
            line_needle: &guid_attr(6),
            value: "\"X\"",
        },
    );
}

// ---------------------------------------------------------------------------------------
// IPL10–IPL12 events
// ---------------------------------------------------------------------------------------

#[test]
fn ipl10_hendelse_guid_reused() {
    let mut m = valid();
    m.notifikasjoner[2].events[0].hendelse_guid = guid(2, 2);
    expect(
        &m,
        Expect {
            rule: "IPL10",
            also: &[],
            path: &format!("{N}[3]/MidlertidigStoppTil/@hendelseGUID"),
            // The second use: both carry the GUID, the finding is on the later one.
            line_needle: "<MidlertidigStoppTil",
            value: &guid(2, 2),
        },
    );
}

#[test]
fn ipl11_stop_end_without_stop_start() {
    let mut m = valid();
    m.notifikasjoner[2].events[0].midlertidig_stopp_id = Some("STOPP-2".into());
    expect(
        &m,
        Expect {
            rule: "IPL11",
            also: &[],
            path: &format!("{N}[3]/MidlertidigStoppTil/@midlertidigStoppID"),
            line_needle: "midlertidigStoppID=\"STOPP-2\"",
            value: "\"STOPP-2\"",
        },
    );
}

#[test]
fn ipl11_stop_end_for_another_service() {
    // Same midlertidigStoppID, but on another tjenesteID: not a pair.
    let mut m = valid();
    m.notifikasjoner[2].events[0].tjeneste_id = "LTO-2024-0099".into();
    expect(
        &m,
        Expect {
            rule: "IPL11",
            also: &[],
            path: &format!("{N}[3]/MidlertidigStoppTil/@midlertidigStoppID"),
            line_needle: "tjenesteID=\"LTO-2024-0099\"",
            value: "LTO-2024-0099",
        },
    );
}

#[test]
fn ipl11_stop_end_before_stop_start() {
    let mut m = valid();
    m.notifikasjoner[2].events[0].hendelse_dato = "2024-02-20".into();
    let f = expect(
        &m,
        Expect {
            rule: "IPL11",
            also: &[],
            path: &format!("{N}[3]/MidlertidigStoppTil/@hendelseDato"),
            line_needle: "hendelseDato=\"2024-02-20\"",
            value: "2024-02-20",
        },
    );
    assert!(
        f.message.contains("2024-03-01"),
        "names the Fra date: {f:?}"
    );
}

#[test]
fn ipl11_stop_end_on_the_day_of_the_stop_start_is_fine() {
    let mut m = valid();
    m.notifikasjoner[2].events[0].hendelse_dato = "2024-03-01".into();
    let (_, report) = check_with(&m, &options());
    assert!(report.findings.is_empty(), "{}", show(&report.findings));
}

#[test]
fn ipl12_service_ends_before_it_starts() {
    let mut m = valid();
    m.notifikasjoner[4].events[0].hendelse_dato = "2024-01-05".into();
    let f = expect(
        &m,
        Expect {
            rule: "IPL12",
            also: &[],
            path: &format!("{N}[5]/TjenesteSlutt/@hendelseDato"),
            line_needle: "<TjenesteSlutt",
            value: "2024-01-05",
        },
    );
    assert!(f.message.contains(TJENESTE) && f.message.contains("2024-01-10"));
}

// ---------------------------------------------------------------------------------------
// IPL13–IPL17 service type and organisation number
// ---------------------------------------------------------------------------------------

#[test]
fn ipl13_service_type_not_in_kodeverk_9151() {
    let mut m = valid();
    m.notifikasjoner[4].events[0].tjeneste_type = "99".into();
    expect(
        &m,
        Expect {
            rule: "IPL13",
            also: &[],
            path: &format!("{N}[5]/TjenesteSlutt/@tjenesteType"),
            line_needle: "<TjenesteSlutt",
            value: "\"99\"",
        },
    );
}

#[test]
fn ipl14_retired_service_type() {
    let mut m = valid();
    // 6 Trygghetsalarm: retired, and orgnr is optional for it, so nothing else fires.
    m.notifikasjoner[4].events[0].tjeneste_type = "6".into();
    let f = expect(
        &m,
        Expect {
            rule: "IPL14",
            also: &[],
            path: &format!("{N}[5]/TjenesteSlutt/@tjenesteType"),
            line_needle: "<TjenesteSlutt",
            value: "tjenesteType 6",
        },
    );
    assert!(f.message.contains("Trygghetsalarm"), "{f:?}");
}

#[test]
fn ipl15_orgnr_missing_for_long_term_stay() {
    let mut m = valid();
    m.notifikasjoner[0].events[0].tjeneste_org_nr = None;
    expect(
        &m,
        Expect {
            rule: "IPL15",
            also: &[],
            path: &format!("{N}[1]/TjenesteStart/@tjenesteOrgNr"),
            line_needle: &hendelse_attr(1),
            value: "tjenesteType 21",
        },
    );
}

#[test]
fn ipl16_orgnr_given_for_housing() {
    let mut m = valid();
    m.notifikasjoner[0].events[0].tjeneste_type = "29".into();
    let org = m.notifikasjoner[0].events[0]
        .tjeneste_org_nr
        .clone()
        .expect("has orgnr");
    let f = expect(
        &m,
        Expect {
            rule: "IPL16",
            also: &[],
            path: &format!("{N}[1]/TjenesteStart/@tjenesteOrgNr"),
            line_needle: &hendelse_attr(1),
            value: &org,
        },
    );
    assert!(f.message.contains("29"), "{f:?}");
}

#[test]
fn ipl17_orgnr_with_wrong_check_digit() {
    let mut m = valid();
    let good = m.notifikasjoner[3].events[0]
        .tjeneste_org_nr
        .clone()
        .expect("has orgnr");
    let last = good.as_bytes()[8] - b'0';
    let bad = format!("{}{}", &good[..8], (last + 1) % 10);
    m.notifikasjoner[3].events[0].tjeneste_org_nr = Some(bad.clone());
    expect(
        &m,
        Expect {
            rule: "IPL17",
            also: &[],
            path: &format!("{N}[4]/TjenesteutforerEndret/@tjenesteOrgNr"),
            line_needle: "<TjenesteutforerEndret",
            value: &bad,
        },
    );
}

#[test]
fn ipl17_orgnr_with_spaces() {
    let mut m = valid();
    m.notifikasjoner[0].events[0].tjeneste_org_nr = Some("974 760 673".into());
    expect(
        &m,
        Expect {
            rule: "IPL17",
            also: &[],
            path: &format!("{N}[1]/TjenesteStart/@tjenesteOrgNr"),
            line_needle: &hendelse_attr(1),
            value: "974 760 673",
        },
    );
}

// ---------------------------------------------------------------------------------------
// IPL18–IPL21, IPL24 person ids
// ---------------------------------------------------------------------------------------

/// Changes the last (check) digit of an 11-digit id.
fn break_check_digit(id: &str) -> String {
    let last = id.as_bytes()[10] - b'0';
    let bad = format!("{}{}", &id[..10], (last + 1) % 10);
    assert!(PersonId::parse(&bad).is_err());
    bad
}

/// Sets fid and typeID of the person in the TjenesteSlutt (notification 5) and expects
/// `rule` (plus `also`) on the `@fid` or `@typeID` attribute there.
fn expect_person(
    fid: &str,
    type_id: &str,
    rule: &'static str,
    also: &[&'static str],
    attr: &str,
    value: &str,
) -> Finding {
    expect_person_with(fid, type_id, rule, also, attr, value, &options())
}

fn expect_person_with(
    fid: &str,
    type_id: &str,
    rule: &'static str,
    also: &[&'static str],
    attr: &str,
    value: &str,
    opts: &CheckOptions,
) -> Finding {
    let mut m = valid();
    m.notifikasjoner[4].events[0].bruker.fid = fid.into();
    m.notifikasjoner[4].events[0].bruker.type_id = type_id.into();
    let needle = format!("fid=\"{fid}\" typeID=\"{type_id}\"");
    expect_with(
        &m,
        opts,
        Expect {
            rule,
            also,
            path: &format!("{N}[5]/TjenesteSlutt/Bruker/@{attr}"),
            line_needle: &needle,
            value,
        },
    )
}

#[test]
fn ipl18_invalid_fodselsnummer_typeid_1() {
    let bad = break_check_digit(&synthetic_fnr());
    expect_person(&bad, "1", "IPL18", &[], "fid", &bad);
}

#[test]
fn ipl18_fodselsnummer_with_impossible_date_typeid_1() {
    // 31 February (synthetic month 82), made valid in its check digits.
    let bad = (0..1000)
        .map(|i| format!("318238{i:03}"))
        .find_map(|body| {
            (0..100).map(|k| format!("{body}{k:02}")).find(|s| {
                matches!(
                    PersonId::parse(s),
                    Err(iplos_model::ids::IdError::InvalidDate { .. })
                )
            })
        })
        .expect("some 31.02.38 id with good check digits");
    let f = expect_person(&bad, "1", "IPL18", &[], "fid", &bad);
    assert!(f.message.contains("does not exist"), "{f:?}");
}

#[test]
fn ipl18_invalid_d_nummer_typeid_2() {
    let d = PersonId::generate_synthetic(
        &mut rng(),
        date(1990, 7, 30),
        Sex::Male,
        PersonIdKind::DNummer,
    )
    .expect("synthetic D-nummer")
    .to_string();
    let bad = break_check_digit(&d);
    expect_person(&bad, "2", "IPL18", &[], "fid", &bad);
}

#[test]
fn ipl18_invalid_h_nummer_typeid_3() {
    // typeID 3 always gives IPL20 as well (H-nummer gives no KPR-ID).
    let h = PersonId::generate_real_looking(
        &mut rng(),
        date(1950, 1, 1),
        Sex::Male,
        PersonIdKind::HNummer,
    )
    .expect("H-nummer")
    .to_string();
    let bad = break_check_digit(&h);
    expect_person(&bad, "3", "IPL18", &["IPL20"], "fid", &bad);
}

#[test]
fn ipl18_invalid_fh_nummer_typeid_12() {
    // typeID 12 always gives IPL20 as well.
    let bad = break_check_digit(&PersonId::generate_fh(&mut rng()).to_string());
    expect_person(&bad, "12", "IPL18", &["IPL20"], "fid", &bad);
}

#[test]
fn ipl18_invalid_duf_nummer_typeid_10() {
    expect_person("2017-123456", "10", "IPL18", &[], "fid", "2017-123456");
}

#[test]
fn ipl18_invalid_birth_date_typeid_9() {
    // typeID 9 always gives IPL20 as well. 31.02.38 does not exist.
    expect_person("310238", "9", "IPL18", &["IPL20"], "fid", "310238");
}

#[test]
fn ipl18_valid_ids_of_every_kind_pass() {
    let mut r = rng();
    let cases: Vec<(String, &str, &[&str])> = vec![
        (synthetic_fnr(), "1", &[]),
        (
            PersonId::generate_synthetic(
                &mut r,
                date(1999, 12, 31),
                Sex::Male,
                PersonIdKind::DNummer,
            )
            .expect("D")
            .to_string(),
            "2",
            &[],
        ),
        ("201712345678".into(), "10", &[]),
        ("120438".into(), "9", &["IPL20"]),
        // An FH-nummer has no synthetic form: in test mode it may be a real person's.
        (
            PersonId::generate_fh(&mut r).to_string(),
            "12",
            &["IPL20", "IPL24"],
        ),
    ];
    for (fid, type_id, want) in cases {
        let mut m = valid();
        m.notifikasjoner[4].events[0].bruker.fid = fid.clone();
        m.notifikasjoner[4].events[0].bruker.type_id = type_id.into();
        let (_, report) = check_with(&m, &options());
        let want: BTreeSet<&str> = want.iter().copied().collect();
        assert_eq!(
            rule_set(&report.findings),
            want,
            "{fid} typeID {type_id}:\n{}",
            show(&report.findings)
        );
    }
}

#[test]
fn ipl19_d_nummer_given_as_fodselsnummer() {
    let d = PersonId::generate_synthetic(
        &mut rng(),
        date(1990, 7, 30),
        Sex::Male,
        PersonIdKind::DNummer,
    )
    .expect("synthetic D-nummer")
    .to_string();
    let f = expect_person(&d, "1", "IPL19", &[], "fid", "D-nummer");
    assert!(f.message.contains("typeID 1"), "{f:?}");
}

#[test]
fn ipl19_fodselsnummer_given_as_d_nummer() {
    let fnr = synthetic_fnr();
    let f = expect_person(&fnr, "2", "IPL19", &[], "fid", "fødselsnummer");
    assert!(f.message.contains("typeID 2"), "{f:?}");
}

#[test]
fn ipl20_passport_number_gives_no_kpr_id() {
    let f = expect_person("NO1234567", "4", "IPL20", &[], "typeID", "typeID 4");
    assert_eq!(f.severity, rules::Severity::Warning);
}

#[test]
fn ipl21_type_id_not_in_kodeverk_9032() {
    // 11 is the gap in kodeverk 9032 (1-10, 12).
    expect_person("NO1234567", "11", "IPL21", &[], "typeID", "\"11\"");
}

#[test]
fn ipl24_real_looking_fodselsnummer_in_test_mode() {
    let real = PersonId::generate_real_looking(
        &mut rng(),
        date(1938, 4, 12),
        Sex::Female,
        PersonIdKind::Fodselsnummer,
    )
    .expect("real-looking fnr");
    assert!(!real.is_synthetic());
    let real = real.to_string();
    let f = expect_person(&real, "1", "IPL24", &[], "fid", "fødselsnummer");
    // The message must not repeat a possibly real person's id.
    assert!(!f.message.contains(&real), "{f:?}");
}

#[test]
fn ipl24_real_looking_d_nummer_in_test_mode() {
    let real = PersonId::generate_real_looking(
        &mut rng(),
        date(1985, 6, 1),
        Sex::Male,
        PersonIdKind::DNummer,
    )
    .expect("real-looking D-nummer")
    .to_string();
    expect_person(&real, "2", "IPL24", &[], "fid", "D-nummer");
}

#[test]
fn ipl24_h_and_fh_nummer_have_no_synthetic_form_so_are_possibly_real() {
    let h = PersonId::generate_real_looking(
        &mut rng(),
        date(1950, 1, 1),
        Sex::Male,
        PersonIdKind::HNummer,
    )
    .expect("H-nummer")
    .to_string();
    expect_person(&h, "3", "IPL24", &["IPL20"], "fid", "H-nummer");
    let fh = PersonId::generate_fh(&mut rng()).to_string();
    expect_person(&fh, "12", "IPL24", &["IPL20"], "fid", "FH-nummer");
}

#[test]
fn ipl24_is_silenced_outside_test_mode() {
    let real = PersonId::generate_real_looking(
        &mut rng(),
        date(1938, 4, 12),
        Sex::Female,
        PersonIdKind::Fodselsnummer,
    )
    .expect("real-looking fnr")
    .to_string();
    let mut m = valid();
    for n in &mut m.notifikasjoner {
        n.events[0].bruker.fid = real.clone();
    }
    let opts = CheckOptions {
        test_mode: false,
        ..options()
    };
    let (_, report) = check_with(&m, &opts);
    assert!(report.findings.is_empty(), "{}", show(&report.findings));
    let (_, report) = check_with(&m, &options());
    assert_eq!(rule_set(&report.findings), BTreeSet::from(["IPL24"]));
    assert_eq!(report.findings.len(), 6, "one per event");
    assert!(!report.conformant);
}

// ---------------------------------------------------------------------------------------
// IPL22, IPL23, IPL25, IPL26 message level
// ---------------------------------------------------------------------------------------

/// Checks `kommune` for data year `year` and expects IPL22 on it.
fn expect_kommune_invalid(kommune: &str, year: i32) {
    let mut m = valid();
    m.kommuner = vec![kommune.into()];
    let opts = CheckOptions {
        data_year: Some(year),
        ..options()
    };
    let f = expect_with(
        &m,
        &opts,
        Expect {
            rule: "IPL22",
            also: &[],
            path: "/Melding/Kommune[1]/@kommuneNr",
            line_needle: &format!("kommuneNr=\"{kommune}\""),
            value: &format!("\"{kommune}\""),
        },
    );
    assert!(f.message.contains(&year.to_string()), "{f:?}");
}

#[test]
fn ipl22_trondheim_1601_in_2018() {
    // 1601 was Trondheim until 2017; from 2018 it is 5001.
    expect_kommune_invalid("1601", 2018);
}

#[test]
fn ipl22_kommune_9999_never_existed() {
    expect_kommune_invalid("9999", 2018);
}

#[test]
fn ipl22_bergen_4601_before_2020() {
    // Bergen was 1201 until the 2020 reform.
    expect_kommune_invalid("4601", 2019);
}

#[test]
fn ipl22_kommune_valid_in_the_data_year_passes() {
    // 1601 was valid in 2017, 5001 from 2018, 1201 (Bergen) in 2019.
    for (k, year) in [("1601", 2017), ("5001", 2018), ("1201", 2019)] {
        let mut m = valid();
        m.kommuner = vec![k.into()];
        let opts = CheckOptions {
            data_year: Some(year),
            ..options()
        };
        let (_, report) = check_with(&m, &opts);
        assert!(
            report.findings.is_empty(),
            "{k} in {year}:\n{}",
            show(&report.findings)
        );
    }
}

#[test]
fn ipl23_no_innsendingsansvarlig() {
    let mut m = valid();
    m.kontaktpersoner.retain(|k| k.type_kontaktperson != "17");
    expect(
        &m,
        Expect {
            rule: "IPL23",
            also: &[],
            path: "/Melding",
            line_needle: "<Melding",
            value: "17",
        },
    );
}

#[test]
fn ipl23_no_kontaktperson_of_type_16() {
    let mut m = valid();
    m.kontaktpersoner.retain(|k| k.type_kontaktperson != "16");
    expect(
        &m,
        Expect {
            rule: "IPL23",
            also: &[],
            path: "/Melding",
            line_needle: "<Melding",
            value: "16",
        },
    );
}

#[test]
fn ipl23_one_person_may_have_both_roles() {
    let mut m = valid();
    let mut both = m.kontaktpersoner[0].clone();
    both.type_kontaktperson = "17".into();
    m.kontaktpersoner = vec![m.kontaktpersoner[0].clone(), both];
    let (_, report) = check_with(&m, &options());
    assert!(report.findings.is_empty(), "{}", show(&report.findings));
}

#[test]
fn ipl25_contact_type_not_in_kodeverk_8471() {
    let mut m = valid();
    m.kontaktpersoner
        .push(contact("Per Hansen", "per@bergen.kommune.test", "20"));
    expect(
        &m,
        Expect {
            rule: "IPL25",
            also: &[],
            path: "/Melding/Kontaktperson[3]/@typeKontaktperson",
            line_needle: "per@bergen.kommune.test",
            value: "\"20\"",
        },
    );
}

#[test]
fn ipl26_two_kommuner_in_one_message() {
    let mut m = valid();
    m.kommuner.push("4602".into());
    let f = expect(
        &m,
        Expect {
            rule: "IPL26",
            also: &[],
            path: "/Melding/Kommune[2]",
            line_needle: "kommuneNr=\"4602\"",
            value: "4602",
        },
    );
    assert!(f.message.contains("4601"), "{f:?}");
}

// ---------------------------------------------------------------------------------------
// IPL27 string length
// ---------------------------------------------------------------------------------------

/// 101 characters, of which many are two bytes in UTF-8 (length counts characters).
fn long_text() -> String {
    "æ".repeat(101)
}

#[test]
fn ipl27_long_leverandor() {
    let mut m = valid();
    m.header.leverandor = long_text();
    expect(
        &m,
        Expect {
            rule: "IPL27",
            also: &[],
            path: "/Melding/@leverandor",
            line_needle: "<Melding",
            value: "leverandor is 101 characters",
        },
    );
}

#[test]
fn ipl27_long_kontperson() {
    let mut m = valid();
    m.kontaktpersoner[1].navn = long_text();
    expect(
        &m,
        Expect {
            rule: "IPL27",
            also: &[],
            path: "/Melding/Kontaktperson[2]/@kontPerson",
            line_needle: "kare.aerlig@",
            value: "kontPerson is 101 characters",
        },
    );
}

#[test]
fn ipl27_long_bruker_nr() {
    let mut m = valid();
    m.notifikasjoner[1].events[0].bruker.bruker_nr = long_text();
    expect(
        &m,
        Expect {
            rule: "IPL27",
            also: &[],
            path: &format!("{N}[2]/MidlertidigStoppFra/Bruker/@brukerNr"),
            line_needle: &format!("brukerNr=\"{}\"", long_text()),
            value: "brukerNr is 101 characters",
        },
    );
}

#[test]
fn ipl27_exactly_100_characters_pass() {
    let mut m = valid();
    m.header.leverandor = "æ".repeat(100);
    m.kontaktpersoner[0].navn = "ø".repeat(100);
    m.notifikasjoner[0].events[0].bruker.bruker_nr = "x".repeat(100);
    for n in &mut m.notifikasjoner {
        n.events[0].bruker.bruker_nr = "x".repeat(100);
    }
    let (_, report) = check_with(&m, &options());
    assert!(report.findings.is_empty(), "{}", show(&report.findings));
}

// ---------------------------------------------------------------------------------------
// IPL28 root element
// ---------------------------------------------------------------------------------------

#[test]
fn ipl28_root_is_another_global_element_of_the_schema() {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Kontaktperson xmlns=\"{}\" kontPerson=\"Åse Ødegård\" \
         meldEpost1=\"ase@bergen.kommune.test\" typeKontaktperson=\"16\"/>\n",
        iplos_model::schema::NS_IPL
    );
    let report = rules::check(xml.as_bytes(), &options());
    assert_eq!(
        rule_set(&report.findings),
        BTreeSet::from(["IPL28"]),
        "{}",
        show(&report.findings)
    );
    let f = &report.findings[0];
    assert_eq!(f.location.path, "/Kontaktperson");
    assert_eq!(f.location.line, 2);
    assert!(f.message.contains("Kontaktperson"), "{f:?}");
    assert!(!report.conformant);
}

// ---------------------------------------------------------------------------------------
// check_stream: a corrections message continues the kommune's state
// ---------------------------------------------------------------------------------------

/// A corrections message following [`valid`]: M of the TjenesteStart, C of the
/// TjenesteSlutt, M of the TjenesteutforerEndret, chained on from notification 6.
fn corrections() -> Melding {
    let (org_a, org_b) = orgnrs();
    let mut m = valid();
    let fix = |n: u32, status: Status, of: u32, e: Event| {
        let mut x = notifikasjon(n, status, Some(guid(1, of)), e);
        x.tid = format!("2025-02-10T08:00:{:02}", n);
        x
    };
    m.notifikasjoner = vec![
        fix(
            7,
            Status::M,
            1,
            event(EventKind::TjenesteStart, 7, "2024-01-08", Some(&org_a)),
        ),
        fix(
            8,
            Status::C,
            5,
            event(EventKind::TjenesteSlutt, 8, "2024-11-30", Some(&org_b)),
        ),
        fix(
            9,
            Status::M,
            4,
            event(
                EventKind::TjenesteutforerEndret,
                9,
                "2024-05-02",
                Some(&org_b),
            ),
        ),
    ];
    m
}

#[test]
fn check_stream_continues_the_chain_from_the_earlier_message() {
    let first = write(&valid(), OutputEncoding::Latin1);
    let second = write(&corrections(), OutputEncoding::Utf8);
    let mut state = ContentState::new();
    let mut seen = 0;
    let r1 = rules::check_stream(&first[..], &options(), &mut state, &mut |_| seen += 1);
    assert!(r1.findings.is_empty(), "{}", show(&r1.findings));
    // header + 6 notifications + 2 contacts + 1 kommune
    assert_eq!(seen, 10);
    let r2 = rules::check_stream(&second[..], &options(), &mut state, &mut |_| {});
    assert!(r2.findings.is_empty(), "{}", show(&r2.findings));
    assert_eq!(r2.notifications, 3);
}

#[test]
fn check_stream_state_is_reusable_and_cloneable() {
    // The same state, cloned, checks the second message the same way twice.
    let first = write(&valid(), OutputEncoding::Utf8);
    let second = write(&corrections(), OutputEncoding::Utf8);
    let mut state = ContentState::new();
    rules::check_stream(&first[..], &options(), &mut state, &mut |_| {});
    let mut copy = state.clone();
    let a = rules::check_stream(&second[..], &options(), &mut state, &mut |_| {});
    let b = rules::check_stream(&second[..], &options(), &mut copy, &mut |_| {});
    assert!(a.findings.is_empty() && b.findings.is_empty());
    // Sending the same corrections again breaks the chain and repeats løpenumre and
    // GUIDs.
    let c = rules::check_stream(&second[..], &options(), &mut state, &mut |_| {});
    assert_eq!(
        rule_set(&c.findings),
        BTreeSet::from(["IPL02", "IPL03", "IPL10", "IPL29"]),
        "{}",
        show(&c.findings)
    );
}

#[test]
fn corrections_message_alone_breaks_chain_and_references() {
    let second = write(&corrections(), OutputEncoding::Utf8);
    let xml = String::from_utf8(second.clone()).expect("UTF-8");
    let report = rules::check(&second[..], &options());
    assert_eq!(
        rule_set(&report.findings),
        BTreeSet::from(["IPL03", "IPL06"]),
        "{}",
        show(&report.findings)
    );
    let chain: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.rule == "IPL03")
        .collect();
    assert_eq!(
        chain.len(),
        1,
        "only the first notification breaks the chain"
    );
    assert_eq!(
        chain[0].location.path,
        format!("{N}[1]/@notifikasjonForrigeGUID")
    );
    assert_eq!(chain[0].location.line, line_of(&xml, &guid_attr(7)));
    let refs: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.rule == "IPL06")
        .collect();
    assert_eq!(refs.len(), 3, "one per correction");
    for (f, of) in refs.iter().zip([1, 5, 4]) {
        assert!(f.message.contains(&guid(1, of)), "{f:?}");
        assert_eq!(f.severity, rules::Severity::Warning);
    }
}

// ---------------------------------------------------------------------------------------
// Empty values: an attribute that is present but empty is a value to check (the XSD
// accepts "" for every string and code type); a missing one is the schema's finding.
// ---------------------------------------------------------------------------------------

#[test]
fn ipl09_empty_status() {
    let mut m = valid();
    m.notifikasjoner[1].status = Status::Other(String::new());
    expect(
        &m,
        Expect {
            rule: "IPL09",
            also: &[],
            path: &format!("{N}[2]/@statusNotifikasjon"),
            line_needle: &guid_attr(2),
            value: "\"\"",
        },
    );
}

#[test]
fn ipl02_empty_lopenr() {
    let mut m = valid();
    m.notifikasjoner[1].lopenr = String::new();
    expect(
        &m,
        Expect {
            rule: "IPL02",
            also: &[],
            path: &format!("{N}[2]/@notifikasjonLopeNr"),
            line_needle: &guid_attr(2),
            value: "\"\"",
        },
    );
}

#[test]
fn ipl13_empty_service_type() {
    let mut m = valid();
    m.notifikasjoner[4].events[0].tjeneste_type = String::new();
    expect(
        &m,
        Expect {
            rule: "IPL13",
            also: &[],
            path: &format!("{N}[5]/TjenesteSlutt/@tjenesteType"),
            line_needle: "<TjenesteSlutt",
            value: "\"\"",
        },
    );
}

#[test]
fn ipl18_empty_fid() {
    expect_person("", "1", "IPL18", &[], "fid", "\"\"");
}

#[test]
fn ipl21_empty_type_id() {
    let fnr = synthetic_fnr();
    expect_person(&fnr, "", "IPL21", &[], "typeID", "\"\"");
}

#[test]
fn ipl25_empty_contact_type() {
    let mut m = valid();
    m.kontaktpersoner
        .push(contact("Per Hansen", "per@bergen.kommune.test", ""));
    expect(
        &m,
        Expect {
            rule: "IPL25",
            also: &[],
            path: "/Melding/Kontaktperson[3]/@typeKontaktperson",
            line_needle: "per@bergen.kommune.test",
            value: "\"\"",
        },
    );
}

#[test]
fn missing_attributes_are_only_the_schemas_finding() {
    let (xml, _) = check_with(&valid(), &options());
    let fid = synthetic_fnr();
    for attr in [
        " statusNotifikasjon=\"N\"".to_string(),
        " notifikasjonLopeNr=\"101\"".to_string(),
        " tjenesteType=\"21\"".to_string(),
        format!(" fid=\"{fid}\""),
        " typeID=\"1\"".to_string(),
        " typeKontaktperson=\"17\"".to_string(),
    ] {
        let doc = xml.replacen(&attr, "", 1);
        assert_ne!(doc, xml, "{attr} is in the message");
        let report = rules::check(doc.as_bytes(), &options());
        // Without typeKontaktperson there is no 17 either.
        let want: BTreeSet<&str> = if attr.contains("typeKontaktperson") {
            BTreeSet::from(["XSD05", "IPL23"])
        } else {
            BTreeSet::from(["XSD05"])
        };
        assert_eq!(
            rule_set(&report.findings),
            want,
            "without{attr}:\n{}",
            show(&report.findings)
        );
    } // Without its Bruker an event has no person to check: XSD03 only.
    let bruker_line = xml
        .lines()
        .find(|l| l.contains("<Bruker") && l.contains(&fid))
        .expect("a Bruker line");
    let doc = xml.replacen(&format!("{bruker_line}\n"), "", 1);
    let report = rules::check(doc.as_bytes(), &options());
    assert_eq!(
        rule_set(&report.findings),
        BTreeSet::from(["XSD03"]),
        "without Bruker:\n{}",
        show(&report.findings)
    );
}

#[test]
fn ipl09_unknown_status_of_a_referenced_notification_is_reported_once() {
    // The M correction (notification 6) refers to notification 1: IPL09 on 1 only,
    // not also IPL05 on 6.
    let mut m = valid();
    m.notifikasjoner[0].status = Status::Other("O".into());
    expect(
        &m,
        Expect {
            rule: "IPL09",
            also: &[],
            path: &format!("{N}[1]/@statusNotifikasjon"),
            line_needle: &guid_attr(1),
            value: "\"O\"",
        },
    );
}

#[test]
fn ipl26_not_for_the_same_kommune_twice() {
    // A repeated Kommune is the schema's uniqueness finding (XSD09); it is still one
    // reporting unit.
    let mut m = valid();
    m.kommuner.push("4601".into());
    let (_, report) = check_with(&m, &options());
    assert_eq!(
        rule_set(&report.findings),
        BTreeSet::from(["XSD09"]),
        "{}",
        show(&report.findings)
    );
}

// ---------------------------------------------------------------------------------------
// IPL29 notifikasjonGUID unique
// ---------------------------------------------------------------------------------------

#[test]
fn ipl29_notification_guid_repeated_in_braces() {
    // An exact repeat is the schema's XSD09; the same GUID in braces is not.
    let mut m = valid();
    let braced = format!("{{{}}}", guid(1, 2));
    m.notifikasjoner[2].guid = braced.clone();
    m.notifikasjoner[3].forrige_guid = braced.clone();
    let f = expect(
        &m,
        Expect {
            rule: "IPL29",
            also: &[],
            path: &format!("{N}[3]/@notifikasjonGUID"),
            line_needle: &format!("notifikasjonGUID=\"{braced}\""),
            value: &braced,
        },
    );
    assert!(
        f.message.contains(&guid(1, 2)),
        "names the earlier spelling: {f:?}"
    );
}

#[test]
fn ipl29_notification_guid_of_an_earlier_message() {
    let first = write(&valid(), OutputEncoding::Utf8);
    let mut m = corrections();
    m.notifikasjoner[1].guid = guid(1, 2);
    m.notifikasjoner[2].forrige_guid = guid(1, 2);
    let second = write(&m, OutputEncoding::Utf8);
    let xml = String::from_utf8(second.clone()).expect("UTF-8");
    let mut state = ContentState::new();
    rules::check_stream(&first[..], &options(), &mut state, &mut |_| {});
    let report = rules::check_stream(&second[..], &options(), &mut state, &mut |_| {});
    assert_eq!(
        rule_set(&report.findings),
        BTreeSet::from(["IPL29"]),
        "{}",
        show(&report.findings)
    );
    let f = &report.findings[0];
    assert_eq!(f.location.path, format!("{N}[2]/@notifikasjonGUID"));
    assert_eq!(f.location.line, line_of(&xml, &guid_attr(2)));
    assert!(f.message.contains("earlier message"), "{f:?}");
}
