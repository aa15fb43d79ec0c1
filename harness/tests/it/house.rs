//! The house rules a newcomer relies on: no import cycle between the workspace's source files
//! or top-level modules, and no source file too long to hold one concept.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cycles(extra: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(root().join("scripts/import_cycles.py"))
        .args(extra)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 scripts/import_cycles.py: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "import cycles ({}):\n{text}{}",
        extra.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn no_import_cycle_between_files_or_modules() {
    let files = cycles(&[]);
    assert!(files.contains("0 import cycle(s)"), "{files}");
    let modules = cycles(&["--modules"]);
    assert!(modules.contains("0 import cycle(s)"), "{modules}");
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_source_file_over_1200_lines() {
    let mut files = Vec::new();
    for krate in ["model", "generators", "mocks", "reports", "harness"] {
        rust_files(&root().join(krate).join("src"), &mut files);
    }
    assert!(files.len() > 100, "the sources were not found");
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).ok()?.lines().count();
            (n > 1200).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by concept: {long:?}");
}
