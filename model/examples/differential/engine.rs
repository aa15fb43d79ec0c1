//! Differential testing of `check` against libxml2: mutants of generated messages and of
//! the agreement corpus, each checked in-process and by `xmllint --noout --schema`, with
//! the verdict (valid / schema-invalid / not well-formed) compared.
//!
//! xmllint runs once per batch of files (`xmllint --noout --schema XSD f1 f2 …`): the XSD
//! is compiled once per process and the per-file verdicts are read back from its output
//! (`F validates`, `F fails to validate`, `F:LINE: parser error`, `F:LINE: namespace
//! error`). Running xmllint as a process rather than linking libxml2 keeps the workspace
//! free of C bindings and `unsafe`, and tests the very tool the corpus README quotes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use iplos_generators::{GenConfig, generate_kommune};
use iplos_model::message::{Melding, OutputEncoding, write_message};
use iplos_model::municipality::lookup;
use iplos_model::rules::{Category, CheckOptions, CheckReport, check};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A verdict on one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Well-formed and schema-valid.
    Valid,
    /// Well-formed but not schema-valid.
    Invalid,
    /// Not (namespace-)well-formed.
    Malformed,
}

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct Config {
    /// How many mutants to check.
    pub inputs: usize,
    /// Seed of the mutator.
    pub seed: u64,
    /// Where disagreements are written (`None`: not written).
    pub out: Option<PathBuf>,
    /// Files per xmllint process.
    pub batch: usize,
    /// The official XSD.
    pub xsd: PathBuf,
}

/// One input on which the two disagree.
#[derive(Debug, Clone)]
pub struct Disagreement {
    /// The input.
    pub bytes: Vec<u8>,
    /// The mutations applied.
    pub mutations: Vec<String>,
    /// libxml2's verdict and output.
    pub xmllint: Verdict,
    /// xmllint's lines for this file.
    pub xmllint_output: String,
    /// Our verdict.
    pub ours: Verdict,
    /// Our well-formedness and schema findings, one a line.
    pub our_findings: String,
}

/// The result of a run.
#[derive(Debug, Default)]
pub struct Summary {
    /// Inputs checked.
    pub inputs: usize,
    /// Inputs per xmllint verdict.
    pub by_verdict: HashMap<String, usize>,
    /// Disagreements outside the README's named deviations.
    pub disagreements: Vec<Disagreement>,
    /// Disagreements explained by a named deviation (entity declarations, UTF-16, limits).
    pub deviations: usize,
    /// Wall time.
    pub elapsed: Duration,
}

impl Summary {
    /// One line for people.
    pub fn line(&self) -> String {
        let mut v: Vec<_> = self.by_verdict.iter().collect();
        v.sort();
        format!(
            "{} inputs in {:.1} s: {} disagreements, {} named deviations (xmllint: {})",
            self.inputs,
            self.elapsed.as_secs_f64(),
            self.disagreements.len(),
            self.deviations,
            v.iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// The official XSD, next to the workspace.
pub fn default_xsd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/iplos-56.0.0/XPR(ipl).xsd")
}

/// The agreement corpus.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/documents/schema")
}

/// Whether xmllint can be run.
pub fn have_xmllint() -> bool {
    Command::new("xmllint").arg("--version").output().is_ok()
}

fn small(m: &Melding, keep: usize) -> Melding {
    let mut m = m.clone();
    m.notifikasjoner.truncate(keep);
    m
}

/// The seeds: small generated messages (UTF-8 and ISO-8859-1) and the corpus files.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (year, nr, seed) in [(2024u16, "1151", 1u64), (2017, "1151", 2)] {
        let Ok(m) = lookup(year, nr) else { continue };
        let Ok(data) = generate_kommune(year, m, &GenConfig::with_scale(1.0), seed) else {
            continue;
        };
        for (keep, enc) in [
            (3, OutputEncoding::Utf8),
            (1, OutputEncoding::Latin1),
            (6, OutputEncoding::Utf8),
        ] {
            for msg in [&data.melding, &data.korreksjoner] {
                if let Ok(bytes) = write_message(&small(msg, keep), Vec::new(), enc) {
                    out.push(bytes);
                }
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir(corpus_dir()) {
        let mut files: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        files.sort();
        for f in files {
            if let Ok(b) = std::fs::read(&f)
                && b.len() < 64 * 1024
            {
                out.push(b);
            }
        }
    }
    out
}

/// Our verdict on a report.
pub fn our_verdict(r: &CheckReport) -> Verdict {
    if r.findings
        .iter()
        .any(|f| f.category == Category::Wellformed)
    {
        Verdict::Malformed
    } else if r.findings.iter().any(|f| f.category == Category::Schema) {
        Verdict::Invalid
    } else {
        Verdict::Valid
    }
}

/// Whether our verdict is one of the README's named deviations: DTD declarations,
/// UTF-16/UTF-32 and encodings other than UTF-8, ISO-8859-1, windows-1252 and US-ASCII
/// (libxml2 reads whatever iconv knows), parser limits.
fn deviation(r: &CheckReport) -> bool {
    r.findings.iter().any(|f| {
        f.rule == "WF05"
            || (f.rule == "WF04" && !f.message.starts_with("undefined entity"))
            || (f.rule == "WF02"
                && (f.message.contains("UTF-16") || f.message.contains("is not supported")))
    })
}

/// Runs xmllint on `files` (in `dir`) in one process; the verdict of each.
pub fn xmllint_batch(
    xsd: &Path,
    dir: &Path,
    files: &[String],
) -> std::io::Result<Vec<(Verdict, String)>> {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd)
        .args(files)
        .current_dir(dir)
        .output()?;
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let index: HashMap<&str, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_str(), i))
        .collect();
    let mut lines: Vec<String> = vec![String::new(); files.len()];
    let mut wf = vec![false; files.len()];
    let mut done: Vec<Option<Verdict>> = vec![None; files.len()];
    let mut current: Option<usize> = None;
    for line in text.lines() {
        // File names are NNNNNN.xml: a line naming one starts with it.
        let named = line
            .get(..10)
            .filter(|p| p.ends_with(".xml"))
            .and_then(|p| index.get(p).copied());
        if let Some(i) = named {
            current = Some(i);
            let rest = &line[10..];
            if rest == " validates" {
                done[i] = Some(Verdict::Valid);
            } else if rest == " fails to validate" {
                done[i] = Some(Verdict::Invalid);
            } else if rest.contains(": parser error : ") || rest.contains(": namespace error : ") {
                wf[i] = true;
            }
        }
        if let Some(i) = current {
            lines[i].push_str(line);
            lines[i].push('\n');
        }
    }
    Ok((0..files.len())
        .map(|i| {
            let v = if wf[i] {
                Verdict::Malformed
            } else {
                // A file with neither line: xmllint could not even start on it.
                done[i].unwrap_or(Verdict::Malformed)
            };
            (v, std::mem::take(&mut lines[i]))
        })
        .collect())
}

/// Runs the comparison.
pub fn run(cfg: &Config) -> std::io::Result<Summary> {
    let start = Instant::now();
    let seeds = seeds();
    assert!(!seeds.is_empty(), "no seeds");
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let dir = tempfile::tempdir()?;
    let mut summary = Summary::default();
    if let Some(out) = &cfg.out {
        std::fs::create_dir_all(out)?;
    }
    let mut done = 0;
    while done < cfg.inputs {
        let n = cfg.batch.min(cfg.inputs - done);
        let mut batch = Vec::with_capacity(n);
        let mut names = Vec::with_capacity(n);
        for i in 0..n {
            let seed = seeds.choose(&mut rng).expect("seeds");
            let (bytes, muts) = mutate(seed, &mut rng);
            let name = format!("{i:06}.xml");
            std::fs::write(dir.path().join(&name), &bytes)?;
            names.push(name);
            batch.push((bytes, muts));
        }
        let theirs = xmllint_batch(&cfg.xsd, dir.path(), &names)?;
        for ((bytes, muts), (verdict, output)) in batch.into_iter().zip(theirs) {
            let report = check(&bytes[..], &CheckOptions::default());
            let ours = our_verdict(&report);
            *summary
                .by_verdict
                .entry(format!("{verdict:?}").to_lowercase())
                .or_default() += 1;
            if ours == verdict {
                continue;
            }
            if deviation(&report) {
                summary.deviations += 1;
                continue;
            }
            let mut our_findings = String::new();
            for f in report
                .findings
                .iter()
                .filter(|f| f.category != Category::Content)
            {
                let _ = writeln!(
                    our_findings,
                    "{}:{} {} [{}]",
                    f.rule, f.location.line, f.message, f.location.path
                );
            }
            let d = Disagreement {
                bytes,
                mutations: muts,
                xmllint: verdict,
                xmllint_output: output,
                ours,
                our_findings,
            };
            if let Some(out) = &cfg.out {
                let k = summary.disagreements.len();
                std::fs::write(out.join(format!("d{k:05}.xml")), &d.bytes)?;
                std::fs::write(
                    out.join(format!("d{k:05}.txt")),
                    format!(
                        "xmllint: {:?}\nours: {:?}\nmutations: {}\n--- xmllint\n{}--- ours\n{}",
                        d.xmllint,
                        d.ours,
                        d.mutations.join("; "),
                        d.xmllint_output,
                        d.our_findings
                    ),
                )?;
            }
            summary.disagreements.push(d);
        }
        done += n;
        summary.inputs = done;
    }
    summary.elapsed = start.elapsed();
    Ok(summary)
}

// ---------------------------------------------------------------- the mutator

/// Bytes worth putting anywhere.
const BYTES: &[u8] = b"<>&;\"'=/?![]-: \t\r\n\0\x01\x7f\x80\xbf\xc3\xe6\xff(#xX";

/// Snippets worth inserting anywhere.
const SNIPPETS: &[&str] = &[
    "<!DOCTYPE Melding>",
    "<!DOCTYPE Melding SYSTEM \"x.dtd\">",
    "<!DOCTYPE Melding [<!ENTITY e \"v\">]>",
    "<!DOCTYPE Melding [<!ELEMENT Melding ANY>]>",
    "<!DOCTYPE Melding []>",
    "<!DOCTYPE>",
    "<?pi data?>",
    "<?pi?>",
    "<? pi?>",
    "<?1pi x?>",
    "<?xml-stylesheet href=\"a.xsl\" encoding=\"ISO-8859-1\"?>",
    "<?xml version=\"1.0\"?>",
    "<?XML x?>",
    "<?xmlfoo x?>",
    "<!-- c -->",
    "<!---->",
    "<!-- - -->",
    "<!-- -- -->",
    "<!--->",
    "<![CDATA[x]]>",
    "<![CDATA[]]>",
    "<![CDATA[ ]]>",
    "&#x20;",
    "&#9;",
    "&#10;",
    "&#xD;",
    "&#32;",
    "&#x41;",
    "&#0;",
    "&#x0;",
    "&#xD800;",
    "&#xFFFE;",
    "&#x110000;",
    "&#;",
    "&#x;",
    "&#12a;",
    "&amp;",
    "&lt;",
    "&gt;",
    "&quot;",
    "&apos;",
    "&foo;",
    "&e;",
    "&",
    "&amp",
    "]]>",
    "]]",
    "\u{FEFF}",
    "\u{85}",
    "\u{2028}",
    "\u{D7}",
    "\u{B7}",
    "\u{300}",
    "\u{FFFD}",
    "\0",
    " xmlns:p=\"urn:x\"",
    " xmlns=\"\"",
    " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
    " xsi:schemaLocation=\"a b\"",
    " a=\"1\"",
    " a='1'",
    " a=1",
    " a",
    "=\"x\"",
    " p:a=\"1\"",
    " xml:lang=\"nb\"",
    " xml:space=\"preserve\"",
    " xmlns:xml=\"http://www.w3.org/XML/1998/namespace\"",
    " xmlns:p=\"\"",
    "<a/>",
    "<p:a/>",
    "</a>",
    "<a>",
    "< a/>",
    "<a />",
    "<a/ >",
    "</ a>",
    "<1/>",
    "<-a/>",
    "<a:/>",
    "<:a/>",
    "<a:b:c/>",
    "\r\n",
    "\r",
];

/// Attribute values worth trying.
const VALUES: &[&str] = &[
    "",
    " ",
    "2024-02-29",
    "2023-02-29",
    "-0001-02-29",
    "-0004-02-29",
    "-0005-02-29",
    "-0401-02-29",
    "-0400-02-29",
    "-0100-02-29",
    "0000-01-01",
    "-0000-01-01",
    "10000-01-01",
    "02024-01-01",
    "2024-01-01Z",
    "2024-01-01+14:00",
    "2024-01-01-14:00",
    "2024-01-01+14:01",
    "2024-01-01+00:60",
    "2024-01-01z",
    "2024-13-01",
    "2024-00-10",
    "2024-01-00",
    "2024-12-31T24:00:00",
    "2024-12-31T24:00:00Z",
    "2024-12-31T24:00:01",
    "2024-12-31T23:59:60",
    "2024-06-30T23:59:59.",
    "2024-06-30T23:59:59.123456789012",
    "2024-06-30T23:59:59,5",
    "2024-06-30T3:00:00",
    "2024-06-30T23:59:59+01",
    "-2024-06-30T23:59:59",
    "+2024-06-30",
    "2024-6-30",
    "\t2024-06-30",
    "2024-06-30\n",
    "2024-06-30&#x20;",
    "&#x32;024-06-30",
    "00000000-0000-0000-0000-000000000000",
    "{00000000-0000-0000-0000-000000000000}",
    "{00000000-0000-0000-0000-000000000000",
    "00000000-0000-0000-0000-00000000000G",
    "0000000000000000000000000000000000000",
    "ABCDEF01-2345-6789-abcd-ef0123456789",
    "56.0.0",
    " 56.0.0",
    "56.0.0 ",
    "K",
    "k",
    "&#x4B;",
    "4601",
    "460",
    "4601031",
    "1234567",
    "æøå",
    "&lt;",
    "a&amp;b",
    "&#xD;",
    "&#xA;",
    "&#x9;",
    "a\tb",
    "a\nb",
    "a\rb",
];

/// Applies one to four random mutations to `seed`.
pub fn mutate(seed: &[u8], rng: &mut ChaCha8Rng) -> (Vec<u8>, Vec<String>) {
    let mut b = seed.to_vec();
    let mut names = Vec::new();
    let n = 1 + rng.gen_range(0..4usize).min(rng.gen_range(0..4usize));
    for _ in 0..n {
        let what = mutate_once(&mut b, rng);
        names.push(what);
    }
    if b.len() > 4 * 1024 * 1024 {
        b.truncate(4 * 1024 * 1024);
        names.push("capped".into());
    }
    (b, names)
}

/// Positions of `needle` in `hay`.
fn positions(hay: &[u8], pred: impl Fn(&[u8], usize) -> bool) -> Vec<usize> {
    (0..hay.len()).filter(|&i| pred(hay, i)).collect()
}

/// A random position, biased towards markup.
fn pos(b: &[u8], rng: &mut ChaCha8Rng) -> usize {
    if b.is_empty() {
        return 0;
    }
    if rng.gen_bool(0.5) {
        let marks = positions(b, |h, i| {
            matches!(h[i], b'<' | b'>' | b'"' | b'\'' | b'=' | b' ' | b'/' | b'?')
        });
        if let Some(&p) = marks.choose(rng) {
            return p + usize::from(rng.gen_bool(0.5));
        }
    }
    rng.gen_range(0..=b.len())
}

/// Spans `<...>` of tags.
fn tags(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'<'
            && let Some(j) = b[i..].iter().position(|&c| c == b'>')
        {
            out.push((i, i + j + 1));
            i += j + 1;
            continue;
        }
        i += 1;
    }
    out
}

/// Spans of whole elements: a start tag to its matching end tag (by name), or an empty tag.
fn elements(b: &[u8]) -> Vec<(usize, usize)> {
    let t = tags(b);
    let mut out = Vec::new();
    let mut stack: Vec<(Vec<u8>, usize)> = Vec::new();
    for &(s, e) in &t {
        let inner = &b[s + 1..e - 1];
        if inner.starts_with(b"?") || inner.starts_with(b"!") {
            continue;
        }
        if let Some(name) = inner.strip_prefix(b"/") {
            if let Some(k) = stack.iter().rposition(|(n, _)| n == name) {
                out.push((stack[k].1, e));
                stack.truncate(k);
            }
        } else if inner.ends_with(b"/") {
            out.push((s, e));
        } else {
            let name: Vec<u8> = inner
                .iter()
                .copied()
                .take_while(|c| !c.is_ascii_whitespace())
                .collect();
            stack.push((name, s));
        }
    }
    out
}

/// Spans ` name="value"` of attributes (leading space included).
fn attributes(b: &[u8]) -> Vec<(usize, usize, usize)> {
    // (start of the space, start of the value, end after the closing quote)
    let mut out = Vec::new();
    for (s, e) in tags(b) {
        let t = &b[s..e];
        let mut i = 0;
        while i < t.len() {
            if t[i] == b'='
                && i + 1 < t.len()
                && (t[i + 1] == b'"' || t[i + 1] == b'\'')
                && let Some(close) = t[i + 2..].iter().position(|&c| c == t[i + 1])
            {
                let name_start = t[..i]
                    .iter()
                    .rposition(|c| c.is_ascii_whitespace())
                    .unwrap_or(0);
                let end = i + 2 + close + 1;
                out.push((s + name_start, s + i + 2, s + end));
                i = end;
                continue;
            }
            i += 1;
        }
    }
    out
}

fn splice(b: &mut Vec<u8>, at: usize, len: usize, with: &[u8]) {
    let at = at.min(b.len());
    let end = (at + len).min(b.len());
    b.splice(at..end, with.iter().copied());
}

fn decl_garbage(rng: &mut ChaCha8Rng) -> String {
    let versions = [
        "version=\"1.0\"",
        "version='1.0'",
        "version=\"1.1\"",
        "version=\"2.0\"",
        "version=\"1.\"",
        "version=\"1.0a\"",
        "version=1.0",
        "version = \"1.0\"",
        "versio=\"1.0\"",
        "",
        "Version=\"1.0\"",
    ];
    let encodings = [
        "",
        " encoding=\"UTF-8\"",
        " encoding=\"utf-8\"",
        " encoding=\"utf8\"",
        " encoding=\"ISO-8859-1\"",
        " encoding=\"latin1\"",
        " encoding=\"windows-1252\"",
        " encoding=\"US-ASCII\"",
        " encoding=\"UTF 8\"",
        " encoding=\" UTF-8\"",
        " encoding=\"\"",
        " encoding=\"UTF-16\"",
        " encoding=\"EBCDIC\"",
        " encodin=\"UTF-8\"",
        " encoding=\"UTF-8\u{0}\"",
        " encoding='UTF-8'",
        " encoding=UTF-8",
        "encoding=\"UTF-8\"",
        " encoding=\"1SO\"",
        " encoding=\"ISO_8859-1:1987\"",
        " encoding=\"ascii\"",
        " encoding=\"L1\"",
    ];
    let standalones = [
        "",
        " standalone=\"yes\"",
        " standalone=\"no\"",
        " standalone=\"maybe\"",
        " standalone='yes'",
        " standalone=\"YES\"",
        " standalon=\"yes\"",
        "standalone=\"no\"",
    ];
    let extras = [
        "",
        "",
        "",
        " ",
        "\t",
        "\n",
        " foo=\"bar\"",
        "\u{1}",
        "\0",
        " ?",
        "x",
    ];
    let mut d = String::from("<?xml ");
    if rng.gen_bool(0.1) {
        d = "<?xml".into();
    }
    d.push_str(versions.choose(rng).unwrap_or(&""));
    let mut parts = vec![
        encodings.choose(rng).unwrap_or(&"").to_string(),
        standalones.choose(rng).unwrap_or(&"").to_string(),
    ];
    if rng.gen_bool(0.1) {
        parts.reverse();
    }
    for p in parts {
        d.push_str(&p);
    }
    d.push_str(extras.choose(rng).unwrap_or(&""));
    d.push_str(if rng.gen_bool(0.95) { "?>" } else { ">" });
    d
}

fn mutate_once(b: &mut Vec<u8>, rng: &mut ChaCha8Rng) -> String {
    match rng.gen_range(0..22u32) {
        0 | 1 => {
            let p = pos(b, rng).min(b.len().saturating_sub(1));
            if b.is_empty() {
                return "flip (empty)".into();
            }
            let v = if rng.gen_bool(0.5) {
                *BYTES.choose(rng).unwrap_or(&0)
            } else {
                rng.r#gen()
            };
            b[p] = v;
            format!("byte {p} := {v:#04x}")
        }
        2..=4 => {
            let p = pos(b, rng);
            let s = *SNIPPETS.choose(rng).unwrap_or(&"");
            splice(b, p, 0, s.as_bytes());
            format!("insert {s:?} at {p}")
        }
        5 => {
            let p = pos(b, rng);
            let len = rng.gen_range(1..8);
            splice(b, p, len, b"");
            format!("delete {len} at {p}")
        }
        6 => {
            let p = rng.gen_range(0..=b.len());
            b.truncate(p);
            format!("truncate at {p}")
        }
        7 => {
            let p = pos(b, rng);
            let len = rng.gen_range(1..40).min(b.len() - p.min(b.len()));
            let copy = b[p.min(b.len())..p.min(b.len()) + len].to_vec();
            splice(b, p, 0, &copy);
            format!("duplicate {len} at {p}")
        }
        8 | 9 => {
            let els = elements(b);
            let Some(&(s, e)) = els.choose(rng) else {
                return "element (none)".into();
            };
            match rng.gen_range(0..4) {
                0 => {
                    let copy = b[s..e].to_vec();
                    splice(b, e, 0, &copy);
                    format!("duplicate element {s}..{e}")
                }
                1 => {
                    splice(b, s, e - s, b"");
                    format!("remove element {s}..{e}")
                }
                2 => {
                    let copy = b[s..e].to_vec();
                    let p = pos(b, rng);
                    splice(b, p, 0, &copy);
                    format!("copy element {s}..{e} to {p}")
                }
                _ => {
                    // swap with a sibling that follows
                    let Some(&(s2, e2)) = els.iter().find(|&&(s2, _)| s2 >= e) else {
                        return "swap (none)".into();
                    };
                    let a = b[s..e].to_vec();
                    let c = b[s2..e2].to_vec();
                    splice(b, s2, e2 - s2, &a);
                    splice(b, s, e - s, &c);
                    format!("swap elements {s}..{e} and {s2}..{e2}")
                }
            }
        }
        10..=12 => {
            let attrs = attributes(b);
            let Some(&(s, v, e)) = attrs.choose(rng) else {
                return "attribute (none)".into();
            };
            match rng.gen_range(0..6) {
                0 => {
                    let copy = b[s..e].to_vec();
                    splice(b, e, 0, &copy);
                    format!("duplicate attribute {s}..{e}")
                }
                1 => {
                    splice(b, s, e - s, b"");
                    format!("remove attribute {s}..{e}")
                }
                2 => {
                    let Some(&(s2, _, e2)) = attrs.choose(rng) else {
                        return "attr swap (none)".into();
                    };
                    if s2 <= e {
                        return "attr swap (overlap)".into();
                    }
                    let a = b[s..e].to_vec();
                    let c = b[s2..e2].to_vec();
                    splice(b, s2, e2 - s2, &a);
                    splice(b, s, e - s, &c);
                    format!("swap attributes {s}..{e} and {s2}..{e2}")
                }
                3 => {
                    let n = [100, 1000, 70_000][rng.gen_range(0..3)];
                    let c = *b"x1 -&".choose(rng).unwrap_or(&b'x');
                    let val = if c == b'&' {
                        "&amp;".repeat(n / 5)
                    } else {
                        String::from_utf8(vec![c; n]).unwrap_or_default()
                    };
                    splice(b, v, e - 1 - v, val.as_bytes());
                    format!("huge value {n}x{:?} at {v}", c as char)
                }
                4 => {
                    // drop the whitespace before the attribute
                    if s < b.len() && b[s].is_ascii_whitespace() {
                        splice(b, s, 1, b"");
                    }
                    format!("no space before attribute {s}")
                }
                _ => {
                    let val = *VALUES.choose(rng).unwrap_or(&"");
                    splice(b, v, e - 1 - v, val.as_bytes());
                    format!("value {val:?} at {v}")
                }
            }
        }
        13 | 14 => {
            // declaration garbage: replace or add the XML declaration
            let d = decl_garbage(rng);
            let start = usize::from(b.starts_with(b"\xEF\xBB\xBF")) * 3;
            if b[start..].starts_with(b"<?xml")
                && let Some(end) = b.windows(2).position(|w| w == b"?>")
            {
                splice(b, start, end + 2 - start, d.as_bytes());
            } else {
                splice(b, start, 0, d.as_bytes());
            }
            format!("declaration {d:?}")
        }
        15 => {
            let boms: [&[u8]; 5] = [
                b"\xEF\xBB\xBF",
                b"\xEF\xBB\xBF\xEF\xBB\xBF",
                b"\xFF\xFE",
                b"\xFE\xFF",
                b"\xEF\xBB",
            ];
            let bom = boms[rng.gen_range(0..boms.len())];
            splice(b, 0, 0, bom);
            format!("bom {bom:02x?}")
        }
        16 => {
            let depth = [10usize, 100, 254, 255, 256, 257, 300][rng.gen_range(0..7)];
            let p = b.windows(2).position(|w| w == b"</").unwrap_or(b.len());
            let mut ins = "<x>".repeat(depth);
            ins.push_str(&"</x>".repeat(depth));
            splice(b, p, 0, ins.as_bytes());
            format!("nest {depth} at {p}")
        }
        17 => {
            let entity = [
                "<!DOCTYPE Melding [<!ENTITY a \"aa\">]>",
                "<!DOCTYPE Melding [<!ENTITY % p \"x\"> ]>",
                "<!DOCTYPE Melding [<!ATTLIST Melding a CDATA \"1\">]>",
                "<!DOCTYPE Melding [<!-- c --><?pi x?>]>",
                "<!DOCTYPE Melding [ ]>",
                "<!DOCTYPE Melding PUBLIC \"-//x//y\" \"z.dtd\">",
                "<!DOCTYPE Melding SYSTEM>",
                "<!DOCTYPE Melding [<!NOTATION n SYSTEM \"x\">]>",
                "<!DOCTYPE Melding [<!ELEMENT Melding (a|b)*>]>",
                "<!DOCTYPE Melding [<!ELEMENT Melding (a|b>]>",
                "<!DOCTYPE Melding [<!FOO>]>",
                "<!DOCTYPE Melding [ x ]>",
                "<!DOCTYPE Melding [>",
                "<!DOCTYPE Melding]>",
                "<!DOCTYPE 1Melding>",
                "<!DOCTYPEMelding>",
            ];
            let d = *entity.choose(rng).unwrap_or(&"");
            // after the declaration if any
            let p = if b.starts_with(b"<?xml") || b.starts_with(b"\xEF\xBB\xBF<?xml") {
                b.windows(2).position(|w| w == b"?>").map_or(0, |x| x + 2)
            } else {
                0
            };
            splice(b, p, 0, d.as_bytes());
            format!("doctype {d:?} at {p}")
        }
        18 => {
            // re-encode: UTF-8 to Latin-1 (declared or not) or the reverse
            let s = String::from_utf8_lossy(b).into_owned();
            if rng.gen_bool(0.5) {
                let latin: Vec<u8> = s
                    .chars()
                    .map(|c| {
                        if (c as u32) < 256 {
                            c as u32 as u8
                        } else {
                            b'?'
                        }
                    })
                    .collect();
                *b = latin;
                "as latin-1 bytes".into()
            } else {
                let s: String = b.iter().map(|&c| c as char).collect();
                *b = s.into_bytes();
                "latin-1 bytes read as UTF-8 source".into()
            }
        }
        19 => {
            // whitespace in tags
            let ws = [" ", "\t", "\n", "\r\n", "  "];
            let w = *ws.choose(rng).unwrap_or(&" ");
            let t = tags(b);
            let Some(&(s, e)) = t.choose(rng) else {
                return "ws (none)".into();
            };
            let p = rng.gen_range(s..e);
            splice(b, p, 0, w.as_bytes());
            format!("whitespace {w:?} at {p}")
        }
        20 => {
            // text in an element
            let texts = [
                "x",
                " ",
                "\n",
                "&#x20;",
                "&#9;",
                "<![CDATA[]]>",
                "&amp;",
                "]]>",
                "&#x41;",
            ];
            let t = *texts.choose(rng).unwrap_or(&"x");
            let ends = positions(b, |h, i| h[i] == b'>');
            let Some(&p) = ends.choose(rng) else {
                return "text (none)".into();
            };
            splice(b, p + 1, 0, t.as_bytes());
            format!("text {t:?} after {p}")
        }
        _ => {
            // make a self-closed element open/close
            let t = tags(b);
            let empties: Vec<_> = t
                .iter()
                .filter(|&&(s, e)| e - s > 2 && b[e - 2] == b'/')
                .collect();
            let Some(&&(s, e)) = empties.choose(rng) else {
                return "open (none)".into();
            };
            let name: Vec<u8> = b[s + 1..e - 2]
                .iter()
                .copied()
                .take_while(|c| !c.is_ascii_whitespace() && *c != b'/')
                .collect();
            let inner =
                ["", " ", "\n  ", "&#x20;", "<!-- c -->", "<?p?>", "x"][rng.gen_range(0..7)];
            let mut rep = b[s..e - 2].to_vec();
            rep.push(b'>');
            rep.extend_from_slice(inner.as_bytes());
            rep.extend_from_slice(b"</");
            rep.extend_from_slice(&name);
            rep.push(b'>');
            splice(b, s, e - s, &rep);
            format!("open empty element at {s} with {inner:?}")
        }
    }
}
