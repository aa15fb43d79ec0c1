//! Throughput of `check` (well-formedness + XSD + content rules, streaming) on a large
//! generated message, next to `xmllint --schema` with the official XSD on the same file,
//! in the same run.
//!
//! Run: `cargo bench -p iplos-model --bench check` (set `IPLOS_BENCH_NOTIFICATIONS` to change
//! the size; default 60 000 notifications, about 40 MB).
//!
//! The group `oslo-2024` compares whole processes on the generated Oslo 2024 message at
//! scale 1.0 (seed 1): this bench binary re-run as a child that only checks the file
//! (`IPLOS_BENCH_CHILD=FILE`), next to `xmllint --noout --schema` on the same file.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Duration, NaiveDate};
use criterion::{Criterion, Throughput, criterion_group};
use iplos_model::ids::{OrgNr, PersonId, PersonIdKind, Sex};
use iplos_model::message::{
    Bruker, EMPTY_GUID, Event, EventKind, Header, Kontaktperson, MessageWriter, Notifikasjon,
    OutputEncoding, Status,
};
use iplos_model::rules::{CheckOptions, check};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn guid(rng: &mut ChaCha8Rng) -> String {
    let v: u128 = rng.r#gen();
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Writes a content-correct message with `n` notifications: each person gets a long-term
/// stay (21) start, and every third a temporary stop and its end.
fn write_message(path: &Path, n: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(56);
    let orgnr = OrgNr::generate(&mut rng).to_string();
    let out = BufWriter::new(File::create(path).expect("create bench file"));
    let header = Header::new("Bench EPJ AS", "BenchEPJ", "1.0", "1.0");
    let mut w = MessageWriter::new(out, OutputEncoding::Utf8, &header).expect("write");
    let mut prev = EMPTY_GUID.to_string();
    let base = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
    let mut i = 0;
    let mut person: i32 = 0;
    while i < n {
        person += 1;
        let birth = NaiveDate::from_ymd_opt(
            1930 + person % 60,
            1 + (person % 12) as u32,
            1 + (person % 28) as u32,
        )
        .expect("date");
        let sex = if person % 2 == 0 {
            Sex::Female
        } else {
            Sex::Male
        };
        let fid = PersonId::generate_synthetic(&mut rng, birth, sex, PersonIdKind::Fodselsnummer)
            .expect("synthetic id")
            .to_string();
        let bruker = Bruker {
            pasient_guid: guid(&mut rng),
            bruker_nr: format!("B{person}"),
            fid,
            type_id: "1".into(),
            bydel: None,
        };
        let tjeneste_id = format!("T{person}");
        let day = base + Duration::days((person % 300) as i64);
        let mut kinds = vec![EventKind::TjenesteStart];
        if person % 3 == 0 {
            kinds.push(EventKind::MidlertidigStoppFra);
            kinds.push(EventKind::MidlertidigStoppTil);
        }
        for (k, kind) in kinds.into_iter().enumerate() {
            if i >= n {
                break;
            }
            i += 1;
            let date = day + Duration::days(k as i64 * 10);
            let g = guid(&mut rng);
            let event = Event {
                kind,
                tjeneste_type: "21".into(),
                tjeneste_id: tjeneste_id.clone(),
                hendelse_guid: guid(&mut rng),
                hendelse_dato: date.to_string(),
                hendelse_reg_tid: format!("{date}T10:00:00+01:00"),
                tjeneste_org_nr: Some(orgnr.clone()),
                midlertidig_stopp_id: kind.is_stop().then(|| format!("S{person}")),
                bruker: bruker.clone(),
            };
            let notif = Notifikasjon {
                status: Status::N,
                tid: format!("{date}T12:00:00+01:00"),
                guid: g.clone(),
                forrige_guid: std::mem::replace(&mut prev, g),
                lopenr: i.to_string(),
                referanse: None,
                events: vec![event],
            };
            w.notifikasjon(&notif).expect("write");
        }
    }
    for t in ["16", "17"] {
        let k = Kontaktperson {
            navn: "Kari Kontakt".into(),
            telefon: Some("+4799999999".into()),
            epost1: "postmottak@bergen.kommune.test".into(),
            epost2: None,
            type_kontaktperson: t.into(),
        };
        w.kontaktperson(&k).expect("write");
    }
    w.finish(&["4601".to_string()]).expect("write");
}

fn xsd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/iplos-56.0.0/XPR(ipl).xsd")
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("IPLOS_BENCH_NOTIFICATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60_000);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let file = dir.join(format!("melding-{n}.xml"));
    if !file.exists() {
        write_message(&file, n);
    }
    let bytes = std::fs::metadata(&file).expect("size").len();
    let report = check(File::open(&file).expect("open"), &CheckOptions::default());
    assert!(
        report.conformant && report.findings.is_empty(),
        "bench message must be clean: {:?}",
        report.findings.first()
    );
    eprintln!(
        "bench message: {} ({} notifications, {:.1} MB)",
        file.display(),
        report.notifications,
        bytes as f64 / 1e6
    );

    let mut g = c.benchmark_group("check");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.bench_function("iplos-harness check", |b| {
        b.iter(|| {
            let r = check(File::open(&file).expect("open"), &CheckOptions::default());
            assert!(r.conformant);
        })
    });
    let xsd = xsd();
    let have_xmllint = Command::new("xmllint").arg("--version").output().is_ok();
    if have_xmllint && xsd.exists() {
        g.bench_function("xmllint --schema", |b| {
            b.iter(|| {
                let out = Command::new("xmllint")
                    .arg("--noout")
                    .arg("--schema")
                    .arg(&xsd)
                    .arg(&file)
                    .output()
                    .expect("xmllint");
                assert!(out.status.success(), "xmllint rejected the bench message");
            })
        });
    } else {
        eprintln!(
            "xmllint or ../shared missing: only our checker is measured (.ci/run installs libxml2-utils)"
        );
    }
    g.finish();
}

/// The generated Oslo 2024 message at scale 1.0.
fn oslo_2024(dir: &Path) -> PathBuf {
    let file = dir.join("oslo-2024-scale-1.0.xml");
    if !file.exists() {
        let m = iplos_model::municipality::lookup(2024, "0301").expect("Oslo");
        let data = iplos_generators::generate_kommune(
            2024,
            m,
            &iplos_generators::GenConfig::with_scale(1.0),
            1,
        )
        .expect("generate");
        let out = BufWriter::new(File::create(&file).expect("create"));
        iplos_model::message::write_message(&data.melding, out, OutputEncoding::Utf8)
            .expect("write");
    }
    file
}

fn processes(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let file = oslo_2024(&dir);
    let bytes = std::fs::metadata(&file).expect("size").len();
    eprintln!(
        "Oslo 2024 scale 1.0: {} ({:.1} MB)",
        file.display(),
        bytes as f64 / 1e6
    );
    let me = std::env::current_exe().expect("bench binary");
    let mut g = c.benchmark_group("oslo-2024");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.bench_function("check (whole process)", |b| {
        b.iter(|| {
            let st = Command::new(&me)
                .env("IPLOS_BENCH_CHILD", &file)
                .status()
                .expect("child");
            assert!(st.success(), "the check child failed");
        })
    });
    let xsd = xsd();
    if Command::new("xmllint").arg("--version").output().is_ok() && xsd.exists() {
        g.bench_function("xmllint --noout --schema (whole process)", |b| {
            b.iter(|| {
                let out = Command::new("xmllint")
                    .arg("--noout")
                    .arg("--schema")
                    .arg(&xsd)
                    .arg(&file)
                    .output()
                    .expect("xmllint");
                assert!(out.status.code().is_some(), "xmllint died");
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, processes);

fn main() {
    // The child of the `oslo-2024` group: check one file, as `iplos-harness check` does.
    if let Some(file) = std::env::var_os("IPLOS_BENCH_CHILD") {
        // As harness/src/cmd/check.rs: the file itself (the reader buffers 64 kB reads).
        let r = check(File::open(file).expect("open"), &CheckOptions::default());
        std::process::exit(i32::from(
            !r.findings
                .iter()
                .all(|f| f.category == iplos_model::rules::Category::Content),
        ));
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
