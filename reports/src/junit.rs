//! A small, generic JUnit XML writer: suites of cases, each passed, failed, errored or
//! skipped. The rehearsal report maps to it in [`crate::to_junit`]; certification reports
//! build their own [`Suites`].
//!
//! The output follows the de-facto JUnit format that CI systems read (the Ant/Surefire
//! shape): `<testsuites>` with `tests`/`failures`/`errors`/`skipped`/`time` totals, one
//! `<testsuite>` per suite with the same counts, and `<testcase classname name time>` with
//! an optional `<failure message type>text</failure>`, `<error .../>` or `<skipped/>`.
//! All text and attributes are escaped; characters XML 1.0 does not allow (control
//! characters other than tab, LF, CR) are replaced by U+FFFD so the file always parses.
//! Times are seconds with three decimals. **\[model\]** A rehearsal runs on a virtual clock,
//! so its cases carry time 0 unless a caller measures something real.

use std::fmt::Write as _;

use crate::escape::{Markup, escape};

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The case passed.
    Passed,
    /// The case failed: `message` (short, an attribute), `kind` (the `type` attribute),
    /// and a longer `detail` (the element text).
    Failed {
        /// Short message.
        message: String,
        /// Failure type, e.g. a cause id.
        kind: String,
        /// Longer text.
        detail: String,
    },
    /// The case could not run (an error in the harness or environment, not a verdict).
    Error {
        /// Short message.
        message: String,
        /// Error type.
        kind: String,
        /// Longer text.
        detail: String,
    },
    /// The case was skipped, with an optional reason.
    Skipped(Option<String>),
}

/// One test case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The `classname` attribute (for rehearsals: the phase id).
    pub classname: String,
    /// The `name` attribute.
    pub name: String,
    /// Seconds.
    pub time: f64,
    /// The outcome.
    pub outcome: Outcome,
    /// Optional `<system-out>` text.
    pub system_out: Option<String>,
}

impl Case {
    /// A passed case with time 0.
    pub fn passed(classname: impl Into<String>, name: impl Into<String>) -> Self {
        Case {
            classname: classname.into(),
            name: name.into(),
            time: 0.0,
            outcome: Outcome::Passed,
            system_out: None,
        }
    }

    /// The same case with another outcome.
    pub fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }
}

/// One test suite.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Suite {
    /// The `name` attribute.
    pub name: String,
    /// Optional `timestamp` attribute (ISO 8601, no zone per the Ant schema; we write what
    /// we are given).
    pub timestamp: Option<String>,
    /// `<properties>`: name → value, in order.
    pub properties: Vec<(String, String)>,
    /// The cases.
    pub cases: Vec<Case>,
}

/// Counts of a suite or of all suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Cases.
    pub tests: usize,
    /// Failed cases.
    pub failures: usize,
    /// Errored cases.
    pub errors: usize,
    /// Skipped cases.
    pub skipped: usize,
}

impl Counts {
    fn add(&mut self, o: &Outcome) {
        self.tests += 1;
        match o {
            Outcome::Passed => {}
            Outcome::Failed { .. } => self.failures += 1,
            Outcome::Error { .. } => self.errors += 1,
            Outcome::Skipped(_) => self.skipped += 1,
        }
    }
}

impl Suite {
    /// The suite's counts.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for case in &self.cases {
            c.add(&case.outcome);
        }
        c
    }

    /// Sum of the cases' times.
    pub fn time(&self) -> f64 {
        self.cases.iter().map(|c| c.time).sum()
    }
}

/// A whole JUnit file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Suites {
    /// The `name` attribute of `<testsuites>`.
    pub name: String,
    /// The suites.
    pub suites: Vec<Suite>,
}

impl Suites {
    /// Totals over all suites.
    pub fn counts(&self) -> Counts {
        let mut t = Counts::default();
        for s in &self.suites {
            let c = s.counts();
            t.tests += c.tests;
            t.failures += c.failures;
            t.errors += c.errors;
            t.skipped += c.skipped;
        }
        t
    }

    /// The XML document.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(256 + 160 * self.counts().tests);
        let t = self.counts();
        let total_time: f64 = self.suites.iter().map(Suite::time).sum();
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            attr(&self.name),
            t.tests,
            t.failures,
            t.errors,
            t.skipped,
            total_time
        );
        for (id, s) in self.suites.iter().enumerate() {
            let c = s.counts();
            let _ = write!(
                out,
                "  <testsuite id=\"{id}\" name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\"",
                attr(&s.name),
                c.tests,
                c.failures,
                c.errors,
                c.skipped,
                s.time()
            );
            if let Some(ts) = &s.timestamp {
                let _ = write!(out, " timestamp=\"{}\"", attr(ts));
            }
            out.push_str(">\n");
            if !s.properties.is_empty() {
                out.push_str("    <properties>\n");
                for (k, v) in &s.properties {
                    let _ = writeln!(
                        out,
                        "      <property name=\"{}\" value=\"{}\"/>",
                        attr(k),
                        attr(v)
                    );
                }
                out.push_str("    </properties>\n");
            }
            for case in &s.cases {
                write_case(&mut out, case);
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

fn write_case(out: &mut String, case: &Case) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
        attr(&case.classname),
        attr(&case.name),
        case.time
    );
    if case.outcome == Outcome::Passed && case.system_out.is_none() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    match &case.outcome {
        Outcome::Passed => {}
        Outcome::Failed {
            message,
            kind,
            detail,
        }
        | Outcome::Error {
            message,
            kind,
            detail,
        } => {
            let tag = if matches!(case.outcome, Outcome::Failed { .. }) {
                "failure"
            } else {
                "error"
            };
            let _ = writeln!(
                out,
                "      <{tag} message=\"{}\" type=\"{}\">{}</{tag}>",
                attr(message),
                attr(kind),
                text(detail)
            );
        }
        Outcome::Skipped(None) => out.push_str("      <skipped/>\n"),
        Outcome::Skipped(Some(m)) => {
            let _ = writeln!(out, "      <skipped message=\"{}\"/>", attr(m));
        }
    }
    if let Some(s) = &case.system_out {
        let _ = writeln!(out, "      <system-out>{}</system-out>", text(s));
    }
    out.push_str("    </testcase>\n");
}

/// Escapes element text; characters XML 1.0 forbids become U+FFFD.
pub fn text(s: &str) -> String {
    escape(s, Markup::XmlText)
}

/// Escapes an attribute value (double-quoted); tab, LF and CR become character
/// references so they survive attribute normalisation, characters XML 1.0 forbids U+FFFD.
pub fn attr(s: &str) -> String {
    escape(s, Markup::XmlAttr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_escaping() {
        let s = Suites {
            name: "x & y".into(),
            suites: vec![Suite {
                name: "a<b".into(),
                cases: vec![
                    Case::passed("c", "one"),
                    Case::passed("c", "two \"q\"").with_outcome(Outcome::Failed {
                        message: "bad\nthing \u{1}".into(),
                        kind: "k".into(),
                        detail: "<x>&".into(),
                    }),
                    Case::passed("c", "three").with_outcome(Outcome::Skipped(None)),
                ],
                ..Suite::default()
            }],
        };
        let x = s.to_xml();
        assert!(
            x.contains("name=\"x &amp; y\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\"")
        );
        assert!(x.contains("name=\"two &quot;q&quot;\""));
        assert!(x.contains("message=\"bad&#10;thing \u{FFFD}\""));
        assert!(x.contains(">&lt;x&gt;&amp;</failure>"));
        assert!(x.contains("<skipped/>"));
    }
}
