//! `rehearse --resume` after a kill at a random moment: the resumed run gives the same
//! report (outside `timing`), the same mails (no receipt twice), the same uploads and files,
//! and leaves no temporary upload behind. A few kills run in the normal suite; the slow set
//! (`cargo test -p iplos-harness --test it -- --ignored rehearse_resume::`) kills 20 times.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_iplos-harness")
}

fn args(out: &Path) -> Vec<String> {
    [
        "rehearse",
        "--season",
        "2017",
        "--municipality",
        "0301,0403,1103,0104,1201",
        "--scale",
        "0.003",
        "--seed",
        "9",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([out.display().to_string()])
    .collect()
}

fn report(out: &Path) -> Value {
    let mut r: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    r.as_object_mut().unwrap().remove("timing");
    r
}

/// What the endpoints hold: (uploads, the mails as (to, subject), filsluse files).
fn stores(out: &Path) -> (u64, Vec<(String, String)>, u64) {
    let open = |file: &str| rusqlite::Connection::open(out.join("state").join(file)).unwrap();
    let count = |file: &str, table: &str| -> u64 {
        open(file)
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap() as u64
    };
    let conn = open("mail/mail.sqlite");
    let mut st = conn
        .prepare("SELECT rcpt_to, coalesce(subject, '') FROM messages")
        .unwrap();
    let mut mails: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    mails.sort();
    (
        count("intake.sqlite", "in_submissions"),
        mails,
        count("filsluse/filsluse.sqlite", "files"),
    )
}

/// Files under `state/sendemodul` (split uploads in progress).
fn upload_parts(out: &Path) -> BTreeSet<String> {
    let mut out_files = BTreeSet::new();
    let mut stack = vec![out.join("state").join("sendemodul")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out_files.insert(p.display().to_string());
            }
        }
    }
    out_files
}

/// Kill points drawn from the uninterrupted run's steps (`LABEL#N`), deterministic in
/// `seed`.
fn kill_points(full: &Value, n: usize, seed: u64) -> Vec<String> {
    let steps: Vec<(String, u64)> = full["timing"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["endpoint"].as_str().unwrap().to_string(),
                e["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    let total: u64 = steps.iter().map(|(_, c)| c).sum();
    let mut x = seed;
    (0..n)
        .map(|_| {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let mut k = x.wrapping_mul(0x2545_f491_4f6c_dd1d) % total;
            for (label, c) in &steps {
                if k < *c {
                    return format!("{label}#{}", k + 1);
                }
                k -= c;
            }
            unreachable!()
        })
        .collect()
}

fn kill_and_resume(kills: usize, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let o = Command::new(bin()).args(args(&full)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let with_timing: Value =
        serde_json::from_slice(&std::fs::read(full.join("report.json")).unwrap()).unwrap();
    let want = report(&full);
    let want_stores = stores(&full);
    assert!(upload_parts(&full).is_empty());
    let mut failures = Vec::new();
    for (n, point) in kill_points(&with_timing, kills, seed).iter().enumerate() {
        let out = dir.path().join(format!("cut{n}"));
        let o = Command::new(bin())
            .args(args(&out))
            .env("IPLOS_REHEARSE_ABORT", point)
            .output()
            .unwrap();
        assert!(
            !o.status.success(),
            "{point}: the run should have been killed"
        );
        let o = Command::new(bin())
            .args(args(&out))
            .arg("--resume")
            .output()
            .unwrap();
        if !o.status.success() {
            failures.push(format!(
                "{point}: resume failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
            continue;
        }
        if report(&out) != want {
            failures.push(format!("{point}: the report differs"));
        }
        let got = stores(&out);
        if got != want_stores {
            failures.push(format!(
                "{point}: (uploads, mails, files) {:?} vs {:?}",
                (got.0, got.1.len(), got.2),
                (want_stores.0, want_stores.1.len(), want_stores.2)
            ));
        }
        let stray = upload_parts(&out);
        if !stray.is_empty() {
            failures.push(format!("{point}: stray upload files {stray:?}"));
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_few_random_kills_resume_to_the_same_season() {
    kill_and_resume(3, 0x5eed_0012);
}

/// The slow set: 20 kills at random moments.
#[test]
#[ignore = "slow: 20 killed and resumed runs (about 5 minutes in a debug build)"]
fn twenty_random_kills_resume_to_the_same_season() {
    kill_and_resume(20, 0x5eed_2012);
}
