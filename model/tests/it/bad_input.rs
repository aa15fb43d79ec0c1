//! Hostile and broken input to the IPLOS checker: every case must end in a finding (or a
//! clean report), never a panic, and with memory bounded by the parser limits. Large
//! inputs are generated lazily by [`Lazy`], so a test never holds them in memory, and the
//! number of bytes the checker pulled shows that it stopped early.

use std::collections::BTreeSet;
use std::io::{self, Read};

use chrono::NaiveDate;
use iplos_model::ids::{OrgNr, PersonId, PersonIdKind, Sex};
use iplos_model::message::EMPTY_GUID;
use iplos_model::rules::{self, Category, CheckOptions, CheckReport, Finding, Item};
use iplos_model::schema::NS_IPL;
use iplos_model::xml_input::DEFAULT_TOKEN_LIMIT;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A reader that asks `next` for one chunk at a time, and counts the bytes it handed out.
struct Lazy<F: FnMut() -> Option<Vec<u8>>> {
    next: F,
    chunk: Vec<u8>,
    pos: usize,
    produced: u64,
}

impl<F: FnMut() -> Option<Vec<u8>>> Lazy<F> {
    fn new(next: F) -> Self {
        Lazy {
            next,
            chunk: Vec::new(),
            pos: 0,
            produced: 0,
        }
    }
}

impl<F: FnMut() -> Option<Vec<u8>>> Read for Lazy<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match (self.next)() {
                Some(c) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        self.produced += n as u64;
        Ok(n)
    }
}

/// A lazy document: `head`, then `count` copies of `unit` (in chunks of about 64 KiB),
/// then `tail`.
fn repeat(
    head: &[u8],
    unit: &[u8],
    count: u64,
    tail: &[u8],
) -> Lazy<impl FnMut() -> Option<Vec<u8>> + use<>> {
    let (head, unit, tail) = (head.to_vec(), unit.to_vec(), tail.to_vec());
    let per_chunk = (64 * 1024 / unit.len().max(1)).max(1) as u64;
    let mut stage = 0;
    let mut left = count;
    Lazy::new(move || {
        loop {
            match stage {
                0 => {
                    stage = 1;
                    return Some(head.clone());
                }
                1 if left > 0 => {
                    let n = left.min(per_chunk);
                    left -= n;
                    return Some(unit.repeat(n as usize));
                }
                1 => stage = 2,
                2 => {
                    stage = 3;
                    return Some(tail.clone());
                }
                _ => return None,
            }
        }
    })
}

fn options() -> CheckOptions {
    CheckOptions {
        data_year: Some(2024),
        ..CheckOptions::default()
    }
}

fn check(bytes: &[u8]) -> CheckReport {
    rules::check(bytes, &options())
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

/// Finding messages end up in reports, AppRec XML and mails: they must not carry the
/// control characters of the input.
fn assert_printable(report: &CheckReport) {
    for f in &report.findings {
        assert!(
            !f.message.chars().any(char::is_control)
                && !f.location.path.chars().any(char::is_control),
            "control character in {:?}",
            f
        );
    }
}

/// Asserts the report has exactly the rules `want`, and returns the first finding of
/// `want[0]`.
fn only<'a>(report: &'a CheckReport, want: &[&'static str]) -> &'a Finding {
    let want_set: BTreeSet<&str> = want.iter().copied().collect();
    assert_eq!(
        rule_set(&report.findings),
        want_set,
        "expected exactly {want:?}:\n{}",
        show(&report.findings)
    );
    assert!(!report.conformant);
    assert_printable(report);
    report
        .findings
        .iter()
        .find(|f| f.rule == want[0])
        .expect("present")
}

fn synthetic_fnr() -> String {
    let id = PersonId::generate_synthetic(
        &mut ChaCha8Rng::seed_from_u64(7),
        NaiveDate::from_ymd_opt(1941, 9, 3).expect("date"),
        Sex::Male,
        PersonIdKind::Fodselsnummer,
    )
    .expect("synthetic");
    assert!(id.is_synthetic());
    id.to_string()
}

fn orgnr() -> String {
    OrgNr::generate(&mut ChaCha8Rng::seed_from_u64(7)).to_string()
}

const MELDING_ATTRS: &str = "versjon=\"56.0.0\" meldingstype=\"K\" leverandor=\"Øvre Fagsystem AS\" navnEPJ=\"OmsorgEPJ\" versjonEPJ=\"12.4\" versjonUt=\"3.0\"";

/// The contacts and kommune that end every message here.
const TAIL: &str = "  <Kontaktperson kontPerson=\"Åse Ødegård\" meldEpost1=\"ase@bergen.kommune.test\" typeKontaktperson=\"16\"/>\n  <Kontaktperson kontPerson=\"Kåre Ærlig\" meldEpost1=\"kare@bergen.kommune.test\" typeKontaktperson=\"17\"/>\n  <Kommune kommuneNr=\"4601\"/>\n</Melding>\n";

fn head(encoding: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"{encoding}\"?>\n<Melding xmlns=\"{NS_IPL}\" {MELDING_ATTRS}>\n"
    )
}

fn guid(family: u32, n: u64) -> String {
    format!("{family:08x}-0000-4000-8000-{n:012x}")
}

/// Notification `n` (1-based) of a chain: a TjenesteStart of service `LTO-n`.
fn notification(n: u64, fid: &str, org: &str) -> String {
    let prev = if n == 1 {
        EMPTY_GUID.to_string()
    } else {
        guid(1, n - 1)
    };
    format!(
        "  <Notifikasjon statusNotifikasjon=\"N\" notifikasjonTid=\"2024-12-02T08:00:00\" notifikasjonGUID=\"{}\" notifikasjonForrigeGUID=\"{prev}\" notifikasjonLopeNr=\"{n}\">\n    <TjenesteStart tjenesteType=\"21\" tjenesteID=\"LTO-{n}\" hendelseGUID=\"{}\" hendelseDato=\"2024-01-10\" hendelseRegTid=\"2024-01-10T09:00:00\" tjenesteOrgNr=\"{org}\">\n      <Bruker pasientGUID=\"{}\" brukerNr=\"B-{n}\" fid=\"{fid}\" typeID=\"1\"/>\n    </TjenesteStart>\n  </Notifikasjon>\n",
        guid(1, n),
        guid(2, n),
        guid(3, n),
    )
}

/// A small valid message (with a comment), in UTF-8.
fn small_valid() -> String {
    let (fid, org) = (synthetic_fnr(), orgnr());
    format!(
        "{}  <!-- initial load, Bergen -->\n{}{}{TAIL}",
        head("UTF-8"),
        notification(1, &fid, &org),
        notification(2, &fid, &org)
    )
}

fn latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("Latin-1 character"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The baseline
// ---------------------------------------------------------------------------------------

#[test]
fn the_small_message_is_valid() {
    let report = check(small_valid().as_bytes());
    assert!(report.findings.is_empty(), "{}", show(&report.findings));
    assert_eq!(report.notifications, 2);
}

// ---------------------------------------------------------------------------------------
// Not XML at all
// ---------------------------------------------------------------------------------------

#[test]
fn random_bytes() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for len in [1, 2, 3, 4, 7, 100, 4096, 100_000] {
        for _ in 0..20 {
            let bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
            let report = check(&bytes);
            assert!(!report.conformant, "{len} random bytes");
            assert_printable(&report);
            assert!(
                report
                    .findings
                    .iter()
                    .any(|f| f.category == Category::Wellformed),
                "{len} random bytes:\n{}",
                show(&report.findings)
            );
        }
    }
}

#[test]
fn random_ascii_and_markup_characters() {
    // Strings of XML's own punctuation stress the parser more than random bytes do.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let alphabet = b"<>/?!-[]&;#x=\"' \nMelding:ab";
    for _ in 0..2000 {
        let len = rng.gen_range(0..60);
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
            .collect();
        let report = check(&bytes);
        assert_printable(&report);
        assert!(
            !report.findings.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

/// A zip archive holding one stored file `a.txt` with "hello\n", written by hand.
fn small_zip() -> Vec<u8> {
    let data = b"hello\n";
    let crc: u32 = 0x363A_3020; // CRC-32 of "hello\n"
    let name = b"a.txt";
    let mut z = Vec::new();
    // local file header
    z.extend_from_slice(b"PK\x03\x04");
    z.extend_from_slice(&20u16.to_le_bytes()); // version needed
    z.extend_from_slice(&0u16.to_le_bytes()); // flags
    z.extend_from_slice(&0u16.to_le_bytes()); // stored
    z.extend_from_slice(&0u16.to_le_bytes()); // time
    z.extend_from_slice(&0x5821u16.to_le_bytes()); // date 2024-01-01
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&(data.len() as u32).to_le_bytes());
    z.extend_from_slice(&(data.len() as u32).to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(name);
    z.extend_from_slice(data);
    let central = z.len() as u32;
    // central directory header
    z.extend_from_slice(b"PK\x01\x02");
    z.extend_from_slice(&20u16.to_le_bytes()); // made by
    z.extend_from_slice(&20u16.to_le_bytes()); // needed
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(&0x5821u16.to_le_bytes());
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&(data.len() as u32).to_le_bytes());
    z.extend_from_slice(&(data.len() as u32).to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&[0; 2 + 2 + 2 + 2]); // extra, comment, disk, internal attrs
    z.extend_from_slice(&0u32.to_le_bytes()); // external attrs
    z.extend_from_slice(&0u32.to_le_bytes()); // offset of local header
    z.extend_from_slice(name);
    let central_len = z.len() as u32 - central;
    // end of central directory
    z.extend_from_slice(b"PK\x05\x06");
    z.extend_from_slice(&[0; 4]);
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&central_len.to_le_bytes());
    z.extend_from_slice(&central.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

#[test]
fn a_zip_file_is_not_xml() {
    let z = small_zip();
    assert_eq!(&z[..4], b"PK\x03\x04");
    let report = check(&z);
    let f = only(&report, &["WF01"]);
    assert_eq!(f.location.line, 1);
    assert!(f.message.contains("U+0003"), "{f:?}");
}

#[test]
fn empty_and_whitespace_only_input() {
    for input in [
        &b""[..],
        b" ",
        b"\n\n\t",
        b"\xEF\xBB\xBF",
        b"<?xml version=\"1.0\"?>\n",
    ] {
        let report = check(input);
        let f = only(&report, &["WF03"]);
        assert!(f.message.contains("no root element"), "{f:?}");
    }
}

#[test]
fn a_reader_that_fails_gives_a_finding() {
    struct Broken(usize);
    impl Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let doc = head("UTF-8");
            let n = buf.len().min(self.0).min(doc.len());
            buf[..n].copy_from_slice(&doc.as_bytes()[..n]);
            self.0 -= n;
            Ok(n)
        }
    }
    for ok_bytes in [0, 10, 80] {
        let report = rules::check(Broken(ok_bytes), &options());
        assert_eq!(report.findings.len(), 1, "{}", show(&report.findings));
        assert!(
            report.findings[0].message.contains("disk on fire"),
            "{}",
            show(&report.findings)
        );
        assert!(!report.conformant);
    }
}

// ---------------------------------------------------------------------------------------
// Truncation
// ---------------------------------------------------------------------------------------

#[test]
fn truncated_at_every_byte_offset() {
    let doc = small_valid();
    let bytes = doc.as_bytes();
    let complete = doc.find("</Melding>").expect("end tag") + "</Melding>".len();
    for cut in 0..=bytes.len() {
        let report = check(&bytes[..cut]);
        if cut >= complete {
            assert!(
                report.findings.is_empty(),
                "cut at {cut}:\n{}",
                show(&report.findings)
            );
            continue;
        }
        // Cutting inside a multi-byte character leaves invalid UTF-8 at the end.
        let mid_char = !doc.is_char_boundary(cut);
        let allowed: &[&str] = if mid_char { &["WF02"] } else { &["WF03"] };
        assert_eq!(
            report.findings.len(),
            1,
            "cut at {cut} ({:?}):\n{}",
            &doc[cut.saturating_sub(20)..doc.floor_char_boundary(cut)],
            show(&report.findings)
        );
        let f = &report.findings[0];
        assert!(
            allowed.contains(&f.rule),
            "cut at {cut} ({:?}): {}",
            &doc[cut.saturating_sub(20)..doc.floor_char_boundary(cut)],
            show(&report.findings)
        );
        assert!(!report.conformant);
    }
}

#[test]
fn truncated_inside_the_encoding_declaration() {
    // `encoding="UT` is a cut-off declaration, not a request for encoding "UT".
    let doc = b"<?xml version=\"1.0\" encoding=\"UT";
    let report = check(doc);
    assert_eq!(report.findings.len(), 1, "{}", show(&report.findings));
    assert_ne!(
        report.findings[0].rule,
        "WF02",
        "{}",
        show(&report.findings)
    );
}

// ---------------------------------------------------------------------------------------
// Parser limits
// ---------------------------------------------------------------------------------------

#[test]
fn deeply_nested_elements_inside_melding() {
    let levels = 100_000;
    let mut input = repeat(
        head("UTF-8").as_bytes(),
        b"<a>",
        levels,
        &b"</a>".repeat(levels as usize),
    );
    let report = rules::check(&mut input, &options());
    let f = only(&report, &["WF05", "XSD02"]);
    assert!(f.message.contains("256"), "{f:?}");
    // The checker stopped at depth 256, long before the end of the 300 kB of start tags.
    assert!(
        input.produced < 3 * levels / 2,
        "read {} bytes",
        input.produced
    );
}

#[test]
fn deeply_nested_elements_as_root() {
    let mut input = repeat(b"", b"<x:a xmlns:x=\"urn:x\">", 100_000, b"");
    let report = rules::check(&mut input, &options());
    only(&report, &["WF05", "XSD01"]);
    assert!(input.produced < 1_000_000, "read {} bytes", input.produced);
}

/// 100 MB in one token: the reader must stop at the 16 MiB limit.
const HUGE: u64 = 100_000_000;

fn assert_stopped_at_token_limit(report: &CheckReport, produced: u64) {
    let f = report
        .findings
        .iter()
        .find(|f| f.rule == "WF05")
        .unwrap_or_else(|| panic!("no WF05:\n{}", show(&report.findings)));
    assert!(
        f.message.contains(&DEFAULT_TOKEN_LIMIT.to_string()),
        "{f:?}"
    );
    assert_eq!(report.findings.last().map(|f| f.rule), Some("WF05"));
    assert!(!report.conformant);
    let limit = DEFAULT_TOKEN_LIMIT as u64;
    assert!(
        produced < limit + 4 * 1024 * 1024,
        "read {produced} bytes for a token limit of {limit}"
    );
}

#[test]
fn a_100_mb_attribute_value() {
    let mut input = repeat(
        format!("<?xml version=\"1.0\"?>\n<Melding xmlns=\"{NS_IPL}\" lokalident=\"").as_bytes(),
        b"x",
        HUGE,
        format!("\" {MELDING_ATTRS}>\n{TAIL}").as_bytes(),
    );
    let report = rules::check(&mut input, &options());
    assert_stopped_at_token_limit(&report, input.produced);
}

#[test]
fn a_100_mb_text_node() {
    let mut input = repeat(
        head("UTF-8").as_bytes(),
        b"lorem ipsum ",
        HUGE / 12,
        TAIL.as_bytes(),
    );
    let report = rules::check(&mut input, &options());
    assert_stopped_at_token_limit(&report, input.produced);
}

#[test]
fn a_100_mb_attribute_value_full_of_gt_signs() {
    // '>' is allowed in an attribute value: the token is still one tag.
    let mut input = repeat(
        format!("<?xml version=\"1.0\"?>\n<Melding xmlns=\"{NS_IPL}\" lokalident=\"").as_bytes(),
        b"a>",
        HUGE / 2,
        format!("\" {MELDING_ATTRS}>\n{TAIL}").as_bytes(),
    );
    let report = rules::check(&mut input, &options());
    assert_stopped_at_token_limit(&report, input.produced);
}

#[test]
fn a_100_mb_text_node_full_of_gt_signs() {
    // '>' is allowed in text: the text node is still one token.
    let mut input = repeat(
        head("UTF-8").as_bytes(),
        b"1 > 0 ",
        HUGE / 6,
        TAIL.as_bytes(),
    );
    let report = rules::check(&mut input, &options());
    assert_stopped_at_token_limit(&report, input.produced);
}

#[test]
fn a_100_mb_comment() {
    // A comment may hold '<' and '>' freely.
    let mut input = repeat(
        format!("{}  <!--", head("UTF-8")).as_bytes(),
        b"<a></a>",
        HUGE / 7,
        format!("-->\n{TAIL}").as_bytes(),
    );
    let report = rules::check(&mut input, &options());
    assert_stopped_at_token_limit(&report, input.produced);
}

#[test]
fn a_100_mb_latin1_attribute_value() {
    // Every Latin-1 byte above 0x7F becomes two bytes of UTF-8 for the parser.
    let mut input = repeat(
        format!(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<Melding xmlns=\"{NS_IPL}\" lokalident=\""
        )
        .as_bytes(),
        b"\xE6",
        HUGE,
        format!("\" {MELDING_ATTRS}>\n</Melding>\n").as_bytes(),
    );
    let report = rules::check(&mut input, &options());
    assert_stopped_at_token_limit(&report, input.produced);
}

/// How many notifications the big-message test writes (≈ 581 bytes each, so ≈ 102 MB).
/// 175 000 keeps the test near 25 s in a debug build on a small machine (200 000 took
/// 25-40 s depending on what else ran).
const MANY: u64 = 175_000;

#[test]
fn a_big_valid_message_streams_through() {
    let (fid, org) = (synthetic_fnr(), orgnr());
    let mut n = 0u64;
    let mut stage = 0;
    let mut input = Lazy::new(move || match stage {
        0 => {
            stage = 1;
            Some(head("UTF-8").into_bytes())
        }
        1 if n < MANY => {
            let mut chunk = String::with_capacity(64 * 1024);
            while n < MANY && chunk.len() < 60 * 1024 {
                n += 1;
                chunk.push_str(&notification(n, &fid, &org));
            }
            Some(chunk.into_bytes())
        }
        1 => {
            stage = 2;
            Some(TAIL.as_bytes().to_vec())
        }
        _ => None,
    });
    let mut items = 0u64;
    let report = rules::check_stream(
        &mut input,
        &options(),
        &mut rules::ContentState::new(),
        &mut |item| {
            if let Item::Notifikasjon(_) = item {
                items += 1;
            }
        },
    );
    assert!(report.findings.is_empty(), "{}", show(&report.findings));
    assert_eq!(report.notifications, MANY);
    assert_eq!(items, MANY);
    assert!(input.produced > 100_000_000, "{} bytes", input.produced);
}

// ---------------------------------------------------------------------------------------
// Entities and DTDs
// ---------------------------------------------------------------------------------------

#[test]
fn billion_laughs() {
    let doc = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE Melding [\n <!ENTITY lol \"lol\">\n{}]>\n<Melding xmlns=\"{NS_IPL}\" {MELDING_ATTRS} leverandor2=\"&lol9;\">\n{TAIL}",
        (1..10)
            .map(|i| format!(
                " <!ENTITY lol{i} \"{}\">\n",
                format!(
                    "&lol{};",
                    if i == 1 {
                        String::new()
                    } else {
                        (i - 1).to_string()
                    }
                )
                .repeat(10)
            ))
            .collect::<String>()
    );
    let report = check(doc.as_bytes());
    let f = only(&report, &["WF04"]);
    assert_eq!(f.location.line, 2);
    assert!(f.message.contains("entity"), "{f:?}");
}

#[test]
fn external_entity_is_not_resolved() {
    // An external DTD is not fetched, and the undeclared entity is refused.
    let doc = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE Melding SYSTEM \"file:///etc/passwd\">\n<Melding xmlns=\"{NS_IPL}\" {MELDING_ATTRS}>\n  <Kontaktperson kontPerson=\"&xxe;\" meldEpost1=\"a@b.no\" typeKontaktperson=\"16\"/>\n{TAIL}"
    );
    let report = check(doc.as_bytes());
    let f = only(&report, &["WF04"]);
    assert_eq!(f.location.line, 4);
    assert!(f.message.contains("&xxe;"), "{f:?}");
    for f in &report.findings {
        assert!(!f.message.contains("root:"), "the file was read: {f:?}");
    }

    // The same entity in text.
    let doc = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE Melding SYSTEM \"file:///etc/passwd\">\n<Melding xmlns=\"{NS_IPL}\" {MELDING_ATTRS}>&xxe;\n{TAIL}"
    );
    let report = check(doc.as_bytes());
    let f = only(&report, &["WF04"]);
    assert!(f.message.contains("&xxe;"), "{f:?}");
}

#[test]
fn external_entity_declaration_is_refused() {
    let doc = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE Melding [\n  <!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n]>\n<Melding xmlns=\"{NS_IPL}\" {MELDING_ATTRS} lokalident=\"&xxe;\">\n{TAIL}"
    );
    let report = check(doc.as_bytes());
    let f = only(&report, &["WF04"]);
    assert_eq!(f.location.line, 2);
    for f in &report.findings {
        assert!(!f.message.contains("root:"), "the file was read: {f:?}");
    }
}

#[test]
fn predefined_entities_and_character_references_are_fine() {
    let doc = small_valid().replace(
        "Øvre Fagsystem AS",
        "&#216;vre &amp; S&#xF8;nn &lt;AS&gt; &quot;&apos;",
    );
    let (m, report) = rules::read_message(doc.as_bytes(), &options());
    assert!(report.findings.is_empty(), "{}", show(&report.findings));
    assert_eq!(m.header.leverandor, "Øvre & Sønn <AS> \"'");
}

// ---------------------------------------------------------------------------------------
// Namespace and encoding
// ---------------------------------------------------------------------------------------

#[test]
fn wrong_namespace() {
    for ns in [
        "http://www.npr.no/xmlstds/56_0_0",
        "http://www.npr.no/xmlstds/55_0_0_ipl",
        "",
    ] {
        let doc = small_valid().replace(NS_IPL, ns);
        let report = check(doc.as_bytes());
        let f = only(&report, &["XSD01"]);
        assert_eq!(f.location.line, 2);
        assert_eq!(f.location.path, "/Melding");
        if !ns.is_empty() {
            assert!(f.message.contains(ns), "{f:?}");
        }
    }
    // No namespace declaration at all.
    let doc = small_valid().replace(&format!(" xmlns=\"{NS_IPL}\""), "");
    let report = check(doc.as_bytes());
    let f = only(&report, &["XSD01"]);
    assert!(f.message.contains("no namespace"), "{f:?}");
}

#[test]
fn declared_latin1_holding_utf8_is_valid_latin1_mojibake() {
    let doc = small_valid().replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"");
    let (m, report) = rules::read_message(doc.as_bytes(), &options());
    assert!(report.findings.is_empty(), "{}", show(&report.findings));
    let mojibake: String = "Åse Ødegård".bytes().map(char::from).collect();
    assert_eq!(m.kontaktpersoner[0].navn, mojibake);
    assert_ne!(m.kontaktpersoner[0].navn, "Åse Ødegård");
}

#[test]
fn declared_utf8_holding_latin1_is_an_encoding_error_with_offset() {
    let doc = small_valid();
    let bytes = latin1(&doc);
    let offset = bytes
        .iter()
        .position(|&b| b >= 0x80)
        .expect("a non-ASCII byte");
    let line = bytes[..offset].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let report = check(&bytes);
    let f = only(&report, &["WF02"]);
    assert!(
        f.message.contains(&format!("byte offset {offset}")),
        "offset {offset}: {f:?}"
    );
    assert!(
        f.message.contains(&format!("0x{:02X}", bytes[offset])),
        "{f:?}"
    );
    assert_eq!(f.location.line, line, "{f:?}");

    // Without a declaration UTF-8 is assumed, with the same result.
    let doc = doc.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", "");
    let bytes = latin1(&doc);
    let offset = bytes
        .iter()
        .position(|&b| b >= 0x80)
        .expect("a non-ASCII byte");
    let f = only(&check(&bytes), &["WF02"]).clone();
    assert!(
        f.message.contains(&format!("byte offset {offset}")),
        "offset {offset}: {f:?}"
    );
}

#[test]
fn latin1_declared_and_written_is_fine() {
    let doc = small_valid().replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"");
    let (m, report) = rules::read_message(&latin1(&doc)[..], &options());
    assert!(report.findings.is_empty(), "{}", show(&report.findings));
    assert_eq!(m.kontaktpersoner[0].navn, "Åse Ødegård");
}

#[test]
fn unsupported_encoding_label() {
    for label in ["EBCDIC-US", "UTF-7", "Shift_JIS", "UTF-16"] {
        let doc = small_valid().replace("encoding=\"UTF-8\"", &format!("encoding=\"{label}\""));
        let f = only(&check(doc.as_bytes()), &["WF02"]).clone();
        assert!(f.message.contains(label), "{label}: {f:?}");
    }
}

#[test]
fn utf16_is_refused() {
    let doc = small_valid().replace("encoding=\"UTF-8\"", "encoding=\"UTF-16\"");
    let le: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(doc.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(doc.encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    let le_no_bom: Vec<u8> = doc.encode_utf16().flat_map(u16::to_le_bytes).collect();
    for bytes in [le, be, le_no_bom] {
        let f = only(&check(&bytes), &["WF02"]).clone();
        assert!(f.message.contains("UTF-16"), "{f:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Characters XML does not allow, and structure outside the root
// ---------------------------------------------------------------------------------------

#[test]
fn control_characters() {
    for c in ['\u{1}', '\u{8}', '\u{B}', '\u{C}', '\u{1B}', '\u{1F}'] {
        let code = format!("U+{:04X}", u32::from(c));
        // in an attribute value
        let doc = small_valid().replace("Kåre Ærlig", &format!("Kåre{c}Ærlig"));
        let f = only(&check(doc.as_bytes()), &["WF01"]).clone();
        assert!(f.message.contains(&code), "{code}: {f:?}");
        // in text
        let doc = small_valid().replace("  <Kommune", &format!("{c}<Kommune"));
        let f = only(&check(doc.as_bytes()), &["WF01"]).clone();
        assert!(f.message.contains(&code), "{code}: {f:?}");
        // in a comment
        let doc = small_valid().replace("initial load", &format!("initial{c}load"));
        let f = only(&check(doc.as_bytes()), &["WF01"]).clone();
        assert!(f.message.contains(&code), "{code}: {f:?}");
    }
}

#[test]
fn allowed_unusual_characters() {
    // DEL and C1 controls are XML 1.0 characters; tab/CR/LF in attributes are normalised.
    let doc = small_valid().replace("Kåre Ærlig", "Kåre\u{7F}\u{85}\tÆrlig");
    let report = check(doc.as_bytes());
    assert!(report.findings.is_empty(), "{}", show(&report.findings));
}

#[test]
fn invalid_character_references() {
    for r in [
        "&#0;",
        "&#x0;",
        "&#1;",
        "&#xB;",
        "&#xD800;",
        "&#xFFFE;",
        "&#x110000;",
        "&#;",
        "&#xZZ;",
    ] {
        // in text
        let doc = small_valid().replace("  <Kommune", &format!("{r}<Kommune"));
        let report = check(doc.as_bytes());
        only(&report, &["WF01"]);
        // in an attribute value
        let doc = small_valid().replace("Kåre Ærlig", &format!("Kåre{r}"));
        let report = check(doc.as_bytes());
        only(&report, &["WF01"]);
    }
}

#[test]
fn nul_bytes() {
    let doc = small_valid();
    // in text, in an attribute value, in a tag name, at the start
    for (from, to) in [
        ("  <Kommune", "\0<Kommune"),
        ("Kåre Ærlig", "Kåre\0Ærlig"),
        ("<Kommune", "<Kom\0mune"),
        ("<?xml", "\0<?xml"),
    ] {
        let bad = doc.replacen(from, to, 1);
        let report = check(bad.as_bytes());
        assert_printable(&report);
        assert_eq!(
            report.findings.len(),
            1,
            "{to:?}:\n{}",
            show(&report.findings)
        );
        assert!(
            matches!(report.findings[0].rule, "WF01" | "WF02"),
            "{to:?}:\n{}",
            show(&report.findings)
        );
    }
    // A file of NUL bytes.
    let report = check(&[0u8; 1000]);
    assert!(!report.conformant);
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.category == Category::Wellformed)
    );
}

#[test]
fn a_second_root_element() {
    let doc = format!(
        "{}<Melding xmlns=\"{NS_IPL}\" {MELDING_ATTRS}/>\n",
        small_valid()
    );
    let report = check(doc.as_bytes());
    let f = only(&report, &["WF01"]);
    assert!(f.message.contains("second root"), "{f:?}");
    assert_eq!(f.location.line, doc.lines().count() as u64, "{f:?}");
}

#[test]
fn text_after_the_root() {
    let doc = format!("{}trailing words\n", small_valid());
    let f = only(&check(doc.as_bytes()), &["WF01"]).clone();
    assert!(f.message.contains("after the root"), "{f:?}");
    // Comments, processing instructions and whitespace after the root are fine.
    let doc = format!("{}<!-- end -->\n<?app done?>\n\n", small_valid());
    let report = check(doc.as_bytes());
    assert!(report.findings.is_empty(), "{}", show(&report.findings));
}

#[test]
fn text_before_the_root() {
    let doc = small_valid().replace("<Melding", "junk <Melding");
    let f = only(&check(doc.as_bytes()), &["WF01"]).clone();
    assert!(f.message.contains("before the root"), "{f:?}");
}

#[test]
fn mismatched_and_unclosed_tags() {
    let doc = small_valid().replace("</TjenesteStart>", "</TjenesteSlutt>");
    only(&check(doc.as_bytes()), &["WF01"]);
    let doc = small_valid().replace("</Melding>", "");
    only(&check(doc.as_bytes()), &["WF03"]);
}

#[test]
fn unknown_markup_declaration_versus_a_cut_one() {
    // quick-xml reports both as "unknown or missed symbol in markup".
    let doc = small_valid().replace("<!-- initial load, Bergen -->", "<!foo>");
    only(&check(doc.as_bytes()), &["WF01"]);
    let doc = small_valid();
    let cut = doc.find("<!--").expect("a comment") + 2;
    only(&check(&doc.as_bytes()[..cut]), &["WF03"]);
    let cut = doc.find("<!--").expect("a comment") + 3;
    only(&check(&doc.as_bytes()[..cut]), &["WF03"]);
}

#[test]
fn duplicate_attribute() {
    let doc = small_valid().replace(
        "typeKontaktperson=\"16\"",
        "typeKontaktperson=\"16\" typeKontaktperson=\"17\"",
    );
    only(&check(doc.as_bytes()), &["WF01"]);
    // The same expanded name under two prefixes.
    let doc = small_valid().replace(
        "<Melding ",
        "<Melding xmlns:p=\"urn:x\" xmlns:q=\"urn:x\" p:a=\"1\" q:a=\"2\" ",
    );
    let f = only(&check(doc.as_bytes()), &["WF01"]).clone();
    assert!(f.message.contains("{urn:x}a appears twice"), "{f:?}");
}

// ---------------------------------------------------------------------------------------
// The findings cap
// ---------------------------------------------------------------------------------------

fn many_contacts(n: usize, contact: &str) -> String {
    format!("{}{}{TAIL}", head("UTF-8"), contact.repeat(n))
}

#[test]
fn ten_thousand_content_findings_are_capped() {
    let doc = many_contacts(
        10_000,
        "  <Kontaktperson kontPerson=\"X\" meldEpost1=\"x@y.no\" typeKontaktperson=\"99\"/>\n",
    );
    let report = check(doc.as_bytes());
    assert_eq!(report.findings.len(), 1000);
    assert_eq!(report.findings_omitted, 9000);
    assert!(report.findings.iter().all(|f| f.rule == "IPL25"));
    assert!(!report.conformant);
}

#[test]
fn ten_thousand_schema_findings_are_capped() {
    let doc = many_contacts(
        10_000,
        "  <Kontaktperson kontPerson=\"X\" meldEpost1=\"x@y.no\" typeKontaktperson=\"16\" farge=\"blå\"/>\n",
    );
    let report = check(doc.as_bytes());
    assert_eq!(report.findings.len(), 1000);
    assert_eq!(report.findings_omitted, 9000);
    assert!(report.findings.iter().all(|f| f.rule == "XSD06"));
}

#[test]
fn ten_thousand_mixed_findings_are_capped_in_total() {
    // 5 000 schema findings and 5 000 content findings: the cap is per report.
    let doc = many_contacts(
        5_000,
        "  <Kontaktperson kontPerson=\"X\" meldEpost1=\"x@y.no\" typeKontaktperson=\"99\" farge=\"blå\"/>\n",
    );
    let report = check(doc.as_bytes());
    assert_eq!(
        report.findings.len(),
        1000,
        "the cap is 1000 findings per report"
    );
    assert_eq!(report.findings_omitted, 9000);
    assert_eq!(
        rule_set(&report.findings),
        BTreeSet::from(["IPL25", "XSD06"])
    );
    // The findings kept are the first in document order.
    let lines: Vec<u64> = report.findings.iter().map(|f| f.location.line).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(lines.last(), Some(&(2 + 500)));
}

#[test]
fn an_error_beyond_the_cap_still_makes_the_message_non_conformant() {
    // 1000 warnings (IPL20: typeID 4 gives no KPR-ID) fill the cap; the error (IPL13,
    // unknown service type) in notification 1001 is omitted but must still count.
    let (fid, org) = (synthetic_fnr(), orgnr());
    let mut body = String::new();
    for n in 1..=1001 {
        let mut x = notification(n, &fid, &org).replace("typeID=\"1\"", "typeID=\"4\"");
        if n == 1001 {
            x = x.replace("tjenesteType=\"21\"", "tjenesteType=\"99\"");
        }
        body.push_str(&x);
    }
    let doc = format!("{}{body}{TAIL}", head("UTF-8"));
    let report = check(doc.as_bytes());
    assert_eq!(report.findings.len(), 1000);
    // IPL20 and IPL13 of notification 1001
    assert_eq!(report.findings_omitted, 2);
    assert!(report.findings.iter().all(|f| f.rule == "IPL20"));
    assert!(!report.conformant, "the omitted IPL13 is an error");
}

#[test]
fn too_many_namespace_declarations_on_one_element() {
    // A parser limit (quick-xml keeps at most 128 bindings in scope), not a syntax error.
    let decls: String = (0..200)
        .map(|i| format!(" xmlns:p{i}=\"urn:p{i}\""))
        .collect();
    let doc = small_valid().replace("<Melding ", &format!("<Melding{decls} "));
    let f = only(&check(doc.as_bytes()), &["WF05"]).clone();
    assert!(f.message.contains("namespace"), "{f:?}");
}

#[test]
fn a_hundred_thousand_kommuner() {
    // IPL26 and the kommune checks stay linear, and the message stays short.
    let kommuner: String = (0..100_000)
        .map(|i| format!("  <Kommune kommuneNr=\"{:04}\"/>\n", i % 10_000 + 1))
        .collect();
    let doc = format!(
        "{}{}",
        head("UTF-8"),
        TAIL.replace("  <Kommune kommuneNr=\"4601\"/>\n", &kommuner)
    );
    let report = check(doc.as_bytes());
    let f = report
        .findings
        .iter()
        .find(|f| f.rule == "IPL26")
        .expect("IPL26");
    assert!(f.message.contains("10000 kommuner"), "{f:?}");
    assert!(f.message.len() < 300, "{f:?}");
    assert_eq!(report.findings.len(), 1000);
}

#[test]
fn many_distinct_unexpected_elements() {
    // Each unknown child has its own name: bookkeeping per name must stay cheap.
    let n = 100_000;
    let mut i = 0;
    let mut stage = 0;
    let mut input = Lazy::new(move || match stage {
        0 => {
            stage = 1;
            Some(head("UTF-8").into_bytes())
        }
        1 if i < n => {
            let mut chunk = String::new();
            while i < n && chunk.len() < 60_000 {
                i += 1;
                chunk.push_str(&format!("<x{i}/>"));
            }
            Some(chunk.into_bytes())
        }
        1 => {
            stage = 2;
            Some(TAIL.as_bytes().to_vec())
        }
        _ => None,
    });
    let report = rules::check(&mut input, &options());
    assert_eq!(report.findings.len(), 1000);
    assert!(report.findings.iter().all(|f| f.rule == "XSD02"));
    assert!(report.findings_omitted >= n - 1000);
}

#[test]
fn many_attributes_on_one_element() {
    for prefix in ["", "p:"] {
        let n = 50_000;
        let attrs: String = (0..n).map(|i| format!(" {prefix}a{i}=\"x\"")).collect();
        let doc =
            small_valid().replace("<Melding ", &format!("<Melding xmlns:p=\"urn:p\"{attrs} "));
        let report = check(doc.as_bytes());
        assert_eq!(report.findings.len(), 1000, "{prefix}");
        assert!(report.findings.iter().all(|f| f.rule == "XSD06"));
    }
}

#[test]
fn long_element_names_deeply_nested() {
    // Paths repeat every ancestor's name: 200 levels of 100 kB names would make the
    // open elements' paths 2 GB from 20 MB of input. Names have a length limit.
    let name = "n".repeat(100_000);
    let mut input = repeat(
        head("UTF-8").as_bytes(),
        format!("<{name}>").as_bytes(),
        200,
        b"",
    );
    let report = rules::check(&mut input, &options());
    let f = report
        .findings
        .iter()
        .find(|f| f.rule == "WF05")
        .unwrap_or_else(|| {
            panic!(
                "no WF05:\n{}",
                show(&report.findings)
                    .chars()
                    .take(2000)
                    .collect::<String>()
            )
        });
    assert!(
        f.message.contains("name"),
        "{}",
        &f.message[..f.message.len().min(300)]
    );
    assert!(input.produced < 2_000_000, "read {} bytes", input.produced);
    for f in &report.findings {
        assert!(
            f.message.len() + f.location.path.len() < 10_000,
            "{} bytes",
            f.message.len()
        );
    }
}

#[test]
fn long_attribute_name() {
    let doc = small_valid().replace(
        "<Melding ",
        &format!("<Melding {}=\"x\" ", "a".repeat(5000)),
    );
    let f = only(&check(doc.as_bytes()), &["WF05"]).clone();
    assert!(f.message.contains("5000 bytes"), "{f:?}");
    // Names up to the limit are fine (here an undeclared attribute: XSD06).
    let doc = small_valid().replace(
        "<Melding ",
        &format!("<Melding {}=\"x\" ", "a".repeat(1000)),
    );
    only(&check(doc.as_bytes()), &["XSD06"]);
}
