//! The certification report: the result of running a certification test plan
//! (`scenarios/certification/*.toml`) against one vendor's system, as the same three files as
//! a rehearsal ([`write_certification`]):
//!
//! - **`report.json`** — the whole [`CertificationReport`]; its JSON Schema (draft 2020-12,
//!   [`certification_schema_json`]) is committed as
//!   `reports/schema/certification-report.schema.json` and a test fails when the two differ.
//! - **`junit.xml`** — first a `<testsuite name="root-causes">` with the failed required tests
//!   ([`ROOT_CAUSES_SUITE`]), then one `<testsuite>` per plan suite, one `<testcase
//!   classname="<suite>.<group>" name="<id> <title>">` per test; fail is `<failure
//!   message="<reason>" type="<kind>">` with the evidence as text, error is `<error>`, skip is
//!   `<skipped/>`, blocked is `<skipped message="blocked by <ids>"/>` (the generic [`crate::junit`]).
//! - **`index.html`** — one self-contained page ([`crate::html`]) that reads in this order: the
//!   verdict in big letters with the counts (`#verdict`; the verdict is also the page's first
//!   heading), the root causes — the failed required tests with their evidence
//!   (`#required-failures`: XML excerpts in `<pre>`, expected and received side by side) —, the
//!   tests they blocked, each naming its root causes (`#blocked`), the required tests that did
//!   not run (`#not-run`), the failed optional tests (`#optional-failures`), every test
//!   (`#all-tests`), the timings a vendor cares about (`#timings`) and the evidence bundle with
//!   its hash (`#bundle`).
//!
//! # Verdicts
//!
//! Per test: pass, fail, skip, error (the harness or environment could not run it; not a
//! judgement of the vendor), blocked (a test it depends on failed, named in `blocked_by`: what
//! it checks could not be observed). Overall ([`overall_verdict`]): **fail** when a required
//! test failed or was blocked; else **incomplete** when a required test was skipped or errored (or there are no
//! tests); else **pass**. Optional tests are reported and counted but never decide it.
//! [`CertificationReport::normalise`] (applied by every writer) recomputes the summary and
//! the verdict from the tests, so the three files cannot disagree with the tests they list.
//!
//! Evidence ([`Evidence`]) is a message id, a rule finding, an XML excerpt (cut to
//! [`MAX_EXCERPT_CHARS`] by [`Evidence::excerpt`]), expected vs received (per event or field:
//! a missing item has no `received`, an extra one no `expected`) or a file of the bundle.
//!
//! # The evidence bundle
//!
//! The evidence (received messages, AppRecs, logs) lies in files in a directory, the bundle.
//! [`bundle_from_dir`] lists every regular file under it with its sha256 and size, sorted by
//! path (`/`-separated, relative); the bundle's sha256 is the sha256 of its *manifest*
//! ([`EvidenceBundle::manifest`]): one line `<sha256>  <path>\n` per file in that order —
//! exactly what `sha256sum` prints, so a certifier can check the files with `sha256sum -c` and
//! the bundle with `sha256sum` over the manifest. [`verify_bundle`] redoes all of that and
//! lists every file missing, changed or added, and a bundle hash that does not match its
//! files. Files are hashed in 64 KiB chunks (bounded memory); symbolic links and paths that
//! are not UTF-8 or hold a newline are refused (they could not be listed unambiguously).
//!
//! # Determinism and the timings section
//!
//! **\[model\]** A certification runs against a real system on the wall clock, so everything
//! measured — start and end of the session, wall seconds, time to first AppRec, notifications
//! per second, p50/p99 latency — is in one section, `timings` ([`Timings`]); everything else is
//! a function of the plan and what was received. [`CertificationReport::without_timings`]
//! clears it for comparisons. Floats are rounded to two decimals.
//!
//! # Layout
//!
//! The types are in `types` (the report, its tests, evidence and timings, the verdict
//! rules), the evidence bundle and its hashing in `bundle`, the three writers in `output`,
//! the page in `page` and the made-up sample in `sample`; everything is re-exported here,
//! so every item is `iplos_reports::certification::<name>`.

mod bundle;
mod output;
mod page;
mod sample;
mod types;

pub use bundle::{
    BundleError, BundleFile, BundleProblem, EvidenceBundle, bundle_from_dir, sha256_hex,
    verify_bundle,
};
pub use output::{
    ROOT_CAUSES_SUITE, certification_junit_suites, certification_schema_json,
    certification_to_html, certification_to_json, certification_to_junit, write_certification,
};
pub use sample::sample;
pub use types::{
    CERTIFICATION_SCHEMA_VERSION, CertificationReport, Evidence, MAX_EXCERPT_CHARS, PlanInfo,
    Session, Summary, TestResult, TestVerdict, Timings, VendorInfo, Verdict, overall_verdict,
    percentile,
};
