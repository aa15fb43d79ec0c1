//! `index.html` of a certification (see the [module docs](crate::certification) for the
//! order it reads in), built from the blocks of [`crate::html`].

use std::fmt::Write as _;

use super::types::{CertificationReport, Evidence, TestResult, TestVerdict, Verdict};
use crate::html::{esc, page, section, table};

const CERT_CSS: &str = r#"
.big-verdict{display:flex;align-items:center;gap:28px;flex-wrap:wrap}
.big-verdict .word{font-size:56px;font-weight:800;letter-spacing:2px;padding:6px 26px;border-radius:8px;color:#fff}
.v-pass{background:var(--ok)}.v-fail{background:var(--fail)}.v-incomplete{background:var(--late)}
.tv-pass{background:var(--ok)}.tv-fail{background:var(--fail)}.tv-skip{background:var(--na);color:#333}.tv-error{background:var(--none)}
.test{border-top:1px solid var(--line);padding:10px 0}
.test h3{margin:0 0 4px;font-size:15px}
.test .req{color:var(--muted);font-size:12.5px}
.test .reason{margin:6px 0;font-weight:600}
.test ul.evidence{margin:6px 0;padding-left:18px}
pre.xml{background:#f6f8fa;border:1px solid var(--line);border-radius:4px;padding:8px;overflow:auto;font-size:12px;max-height:320px}
.er{display:grid;grid-template-columns:1fr 1fr;gap:10px;margin:4px 0}
.er pre{margin:0;background:#f6f8fa;border:1px solid var(--line);border-radius:4px;padding:6px;white-space:pre-wrap;font-size:12px}
.er .exp pre{border-left:4px solid var(--ok)}.er .rec pre{border-left:4px solid var(--fail)}
.er h4{margin:0 0 2px;font-size:12px;color:var(--muted)}
code.hash{font-size:12px;word-break:break-all}
"#;

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Incomplete => "INCOMPLETE",
    }
}

/// How the page names the session's time scale.
fn time_scale_text(scale: Option<f64>) -> String {
    match scale {
        None => String::new(),
        Some(1.0) => " · <span id=\"time-scale\">time scale 1</span>".into(),
        Some(f) => format!(
            " · <span id=\"time-scale\"><b>time scale {f}</b> (timeouts and faults shortened: not a certificate)</span>"
        ),
    }
}

/// The page of a normalised report.
pub(super) fn render(r: &CertificationReport) -> String {
    let title = format!(
        "{} — {} {} — {}",
        verdict_word(r.verdict),
        r.vendor.product,
        r.vendor.version,
        r.plan.name
    );
    let meta = format!(
        "vendor <b>{}</b> · product {} {} · plan {} version {} (sha256 <code class=\"hash\" id=\"plan-sha256\">{}</code>) · kommune {} {}{} · channel {} · {} {}{}",
        esc(&r.vendor.name),
        esc(&r.vendor.product),
        esc(&r.vendor.version),
        esc(&r.plan.name),
        esc(&r.plan.version),
        esc(&r.plan.sha256),
        esc(&r.session.kommune),
        esc(&r.session.kommune_name),
        r.session
            .her_id
            .map(|h| format!(" (HER-id {h})"))
            .unwrap_or_default(),
        esc(&r.session.channel),
        esc(&r.tool.name),
        esc(&r.tool.version),
        time_scale_text(r.session.time_scale),
    );
    let mut body = String::with_capacity(64 * 1024);
    let _ = writeln!(body, "<style>{CERT_CSS}</style>");
    body.push_str(&verdict_section(r));
    for note in &r.session.notes {
        let _ = writeln!(body, "<p class=\"note\"><b>Note:</b> {}</p>", esc(note));
    }
    // Root causes first: the failed tests; then what they blocked.
    let required_failed: Vec<&TestResult> = r
        .tests
        .iter()
        .filter(|t| t.required && t.verdict == TestVerdict::Fail)
        .collect();
    body.push_str(&section(
        "required-failures",
        &format!(
            "Root causes: failed required tests ({})",
            required_failed.len()
        ),
        &tests_block(&required_failed, "No required test failed."),
    ));
    let blocked: Vec<&TestResult> = r
        .tests
        .iter()
        .filter(|t| t.verdict == TestVerdict::Blocked)
        .collect();
    if !blocked.is_empty() {
        body.push_str(&section(
            "blocked",
            &format!("Blocked by a failed test ({})", blocked.len()),
            &blocked_list(&blocked),
        ));
    }
    let not_run: Vec<&TestResult> = r
        .tests
        .iter()
        .filter(|t| t.required && matches!(t.verdict, TestVerdict::Skip | TestVerdict::Error))
        .collect();
    body.push_str(&section(
        "not-run",
        &format!("Required tests that did not run ({})", not_run.len()),
        &tests_block(&not_run, "Every required test ran."),
    ));
    let optional_failed: Vec<&TestResult> = r
        .tests
        .iter()
        .filter(|t| !t.required && matches!(t.verdict, TestVerdict::Fail | TestVerdict::Error))
        .collect();
    body.push_str(&section(
        "optional-failures",
        &format!("Failed optional tests ({})", optional_failed.len()),
        &tests_block(&optional_failed, "No optional test failed."),
    ));
    body.push_str(&all_tests(r));
    body.push_str(&timings_section(r));
    body.push_str(&bundle_section(r));
    let mut footer = format!(
        "Written by {} {} · certification report format {} · plan sha256 <code class=\"hash\">{}</code>",
        esc(&r.tool.name),
        esc(&r.tool.version),
        r.schema_version,
        esc(&r.plan.sha256)
    );
    if let Some(s) = r.timings.started {
        let _ = write!(footer, " · session started {}", esc(&s.to_rfc3339()));
    }
    page(&title, &meta, &body, &footer)
}

fn verdict_section(r: &CertificationReport) -> String {
    let s = &r.summary;
    let why = match r.verdict {
        Verdict::Pass => "Every required test passed.".to_string(),
        Verdict::Fail if s.required_blocked > 0 => format!(
            "{} of {} required tests failed; {} more could not be judged because of them (blocked).",
            s.required_failed, s.required, s.required_blocked
        ),
        Verdict::Fail => format!(
            "{} of {} required tests failed.",
            s.required_failed, s.required
        ),
        Verdict::Incomplete => format!(
            "No required test failed, but {} of {} required tests did not run.",
            s.required_not_run, s.required
        ),
    };
    let content = format!(
        "<div class=\"big-verdict\"><div id=\"verdict-word\" class=\"word v-{}\">{}</div>\
<div><p id=\"verdict-why\"><b>{}</b></p>\
<div class=\"stats\" id=\"verdict-counts\"><div><b>{}</b>tests</div><div><b>{}</b>passed</div>\
<div><b>{}</b>failed</div><div><b>{}</b>blocked</div><div><b>{}</b>skipped</div><div><b>{}</b>errors</div>\
<div><b>{}/{}</b>required passed</div></div></div></div>",
        r.verdict.as_str(),
        verdict_word(r.verdict),
        esc(&why),
        s.tests,
        s.passed,
        s.failed,
        s.blocked,
        s.skipped,
        s.errors,
        s.required_passed,
        s.required
    );
    section("verdict", "Verdict", &content)
}

fn tv_badge(v: TestVerdict) -> String {
    format!(
        "<span class=\"badge tv-{}\">{}</span>",
        v.as_str(),
        v.as_str()
    )
}

fn tests_block(tests: &[&TestResult], none: &str) -> String {
    if tests.is_empty() {
        return format!("<p class=\"note\">{}</p>", esc(none));
    }
    let mut o = String::new();
    for t in tests {
        let _ = write!(
            o,
            "<div class=\"test\" id=\"t-{id}\"><h3>{badge} {id} {title}</h3>\
<div class=\"req\">{req} · check <code>{kind}</code> · {reqd} · suite {suite} / {group}</div>",
            id = esc(&t.id),
            badge = tv_badge(t.verdict),
            title = esc(&t.title),
            req = esc(&t.requirement),
            kind = esc(&t.kind),
            reqd = if t.required { "required" } else { "optional" },
            suite = esc(&t.suite),
            group = esc(&t.group),
        );
        if let Some(reason) = &t.reason {
            let _ = write!(o, "<p class=\"reason\">{}</p>", esc(reason));
        }
        if !t.evidence.is_empty() {
            o.push_str("<ul class=\"evidence\">");
            for e in &t.evidence {
                o.push_str("<li>");
                o.push_str(&evidence_html(e));
                o.push_str("</li>");
            }
            o.push_str("</ul>");
        }
        o.push_str("</div>\n");
    }
    o
}

/// Blocked tests, one line each with the tests at their root.
fn blocked_list(tests: &[&TestResult]) -> String {
    let mut o = String::from("<ul class=\"blocked\">");
    for t in tests {
        let roots: Vec<String> = t
            .blocked_by
            .iter()
            .map(|id| format!("<a href=\"#t-{0}\">{0}</a>", esc(id)))
            .collect();
        let _ = write!(
            o,
            "<li id=\"t-{id}\">{badge} {id} {title} — blocked by {roots}</li>",
            id = esc(&t.id),
            badge = tv_badge(t.verdict),
            title = esc(&t.title),
            roots = roots.join(", "),
        );
    }
    o.push_str("</ul>");
    o
}

fn evidence_html(e: &Evidence) -> String {
    let opt = |o: &Option<String>| match o {
        Some(s) => esc(s),
        None => "<i>(none)</i>".into(),
    };
    match e {
        Evidence::Message { message_id, note } => {
            format!("message <code>{}</code>: {}", esc(message_id), esc(note))
        }
        Evidence::Rule {
            rule,
            title,
            message_id,
            location,
        } => {
            let mut s = format!("rule <b>{}</b> {}", esc(rule), esc(title));
            if let Some(m) = message_id {
                let _ = write!(s, " — message <code>{}</code>", esc(m));
            }
            if let Some(l) = location {
                let _ = write!(s, " at <code>{}</code>", esc(l));
            }
            s
        }
        Evidence::Excerpt {
            message_id,
            line,
            xml,
        } => {
            let mut s = String::from("XML excerpt");
            if let Some(m) = message_id {
                let _ = write!(s, " of message <code>{}</code>", esc(m));
            }
            if let Some(l) = line {
                let _ = write!(s, " from line {l}");
            }
            let _ = write!(s, "<pre class=\"xml\">{}</pre>", esc(xml));
            s
        }
        Evidence::ExpectedReceived {
            subject,
            field,
            expected,
            received,
        } => {
            let what = match field {
                Some(f) => format!("{} — <b>{}</b>", esc(subject), esc(f)),
                None => esc(subject),
            };
            format!(
                "{what}<div class=\"er\"><div class=\"exp\"><h4>expected</h4><pre>{}</pre></div>\
<div class=\"rec\"><h4>received</h4><pre>{}</pre></div></div>",
                opt(expected),
                opt(received)
            )
        }
        Evidence::File { path, note } => {
            format!("file <code>{}</code>: {}", esc(path), esc(note))
        }
    }
}

fn all_tests(r: &CertificationReport) -> String {
    let rows: Vec<Vec<String>> = r
        .tests
        .iter()
        .map(|t| {
            vec![
                esc(&t.id),
                tv_badge(t.verdict),
                esc(&t.title),
                if t.required { "required" } else { "optional" }.into(),
                format!("{} / {}", esc(&t.suite), esc(&t.group)),
                esc(t.reason.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    section(
        "all-tests",
        &format!("All tests ({})", r.tests.len()),
        &table(
            "tests-table",
            &["id", "verdict", "title", "", "suite / group", "reason"],
            &rows,
        ),
    )
}

fn timings_section(r: &CertificationReport) -> String {
    let t = &r.timings;
    let f = |v: Option<f64>, unit: &str| match v {
        Some(x) => format!("{x:.2} {unit}"),
        None => "—".into(),
    };
    let rows = vec![
        vec![
            "time to first AppRec".into(),
            t.time_to_first_apprec_ms
                .map(|x| format!("{x} ms"))
                .unwrap_or_else(|| "—".into()),
        ],
        vec![
            "notifications per second".into(),
            f(t.notifications_per_second, "/s"),
        ],
        vec!["latency p50 (arrival → AppRec)".into(), f(t.p50_ms, "ms")],
        vec!["latency p99 (arrival → AppRec)".into(), f(t.p99_ms, "ms")],
        vec!["latency samples".into(), t.latency_samples.to_string()],
        vec!["session length".into(), f(t.wall_seconds, "s")],
    ];
    section(
        "timings",
        "Timings",
        &format!(
            "<p class=\"note\">Measured on the wall clock during the session.</p>{}",
            table("timings-table", &["measure", "#value"], &rows)
        ),
    )
}

fn bundle_section(r: &CertificationReport) -> String {
    let b = &r.evidence_bundle;
    let rows: Vec<Vec<String>> = b
        .files
        .iter()
        .map(|f| {
            vec![
                format!("<code>{}</code>", esc(&f.path)),
                f.bytes.to_string(),
                format!("<code class=\"hash\">{}</code>", esc(&f.sha256)),
            ]
        })
        .collect();
    section(
        "bundle",
        "Evidence bundle",
        &format!(
            "<p>Bundle sha256: <code class=\"hash\" id=\"bundle-sha256\">{}</code></p>\
<p class=\"note\">The sha256 of the manifest: one line <code>&lt;sha256&gt;  &lt;path&gt;</code> per file, \
sorted by path, as <code>sha256sum</code> prints it. Check the files with <code>sha256sum -c</code>.</p>{}",
            esc(&b.sha256),
            table("bundle-table", &["path", "#bytes", "sha256"], &rows)
        ),
    )
}
