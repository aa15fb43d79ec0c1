//! Root causes first: which tests depend on which, and the rule that turns the failure of a
//! test whose prerequisite failed into "blocked by <the prerequisite>".
//!
//! The prerequisites follow the register's pipeline: a connection before anything is sent,
//! the header before the payload, the certificate and the CMS layer (each other's peers: the
//! register checks both while it opens the payload) before the MsgHead, and the MsgHead
//! before anything about the content, the receipts, the resilience phases or the
//! throughput. Sendemodul's split upload needs its login.
//!
//! The rule ([`resolve`]): a test that passed keeps its pass. A test that failed while one of
//! its prerequisites (followed transitively) failed outright — having seen something wrong,
//! not merely nothing — is *blocked by* those failed tests, unless the two depend on each
//! other and both failed outright (then both are root causes). Failures with nothing to
//! judge ([`super::common::not_observed`]) are never root causes.

use std::collections::BTreeSet;

use iplos_reports::certification::TestVerdict;

use super::common::Judged;
use crate::certify::plan::CheckKind;

/// The kinds of test a test of `kind` needs to have passed to be judged.
pub fn prerequisites(kind: CheckKind) -> &'static [CheckKind] {
    use CheckKind::*;
    match kind {
        Connect | Tls | SendemodulLogin => &[],
        Sasl | Properties => &[Connect],
        Addressing => &[Properties],
        Certificate => &[Properties, Cms],
        Cms => &[Properties, Certificate],
        Msghead => &[Certificate, Cms],
        Schema
        | ContentRules
        | Completeness
        | InitialLoad
        | YearEvents
        | Corrections
        | Annulments
        | Chain
        | ApprecStatus2Resend
        | ApprecStatus3
        | ErrorQueue
        | Duplicate
        | ResilienceDrop
        | ResilienceUnavailable
        | ResilienceSlow
        | Throughput => &[Msghead],
        SendemodulSplit => &[SendemodulLogin],
    }
}

/// Every kind `kind` depends on, directly or through others (without itself).
fn closure(kind: CheckKind) -> BTreeSet<CheckKind> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<CheckKind> = prerequisites(kind).to_vec();
    while let Some(k) = todo.pop() {
        if k != kind && seen.insert(k) {
            todo.extend_from_slice(prerequisites(k));
        }
    }
    seen
}

/// A test's own verdict, before blocking.
pub struct Own<'a> {
    pub id: &'a str,
    pub kind: CheckKind,
    pub judged: &'a Judged,
}

/// For each test (in the order given), the ids of the failed tests that block it; empty
/// when it is not blocked. The prerequisites are followed through kinds that did not pass
/// (a prerequisite that passed is what the test stands on, whatever lies behind it).
pub fn resolve(tests: &[Own<'_>]) -> Vec<Vec<String>> {
    let outright = |t: &Own<'_>| t.judged.verdict == TestVerdict::Fail && t.judged.observed;
    let passed = |k: CheckKind| {
        tests
            .iter()
            .filter(|t| t.kind == k)
            .all(|t| t.judged.verdict == TestVerdict::Pass)
    };
    tests
        .iter()
        .map(|t| {
            if t.judged.verdict != TestVerdict::Fail {
                return Vec::new();
            }
            let mut roots: BTreeSet<CheckKind> = BTreeSet::new();
            let mut seen = BTreeSet::new();
            let mut todo: Vec<CheckKind> = prerequisites(t.kind).to_vec();
            while let Some(k) = todo.pop() {
                if k == t.kind || !seen.insert(k) || passed(k) {
                    continue;
                }
                // Peers that both failed outright are both root causes.
                let peer = outright(t) && closure(k).contains(&t.kind);
                if !peer && tests.iter().any(|p| p.kind == k && outright(p)) {
                    roots.insert(k);
                }
                todo.extend_from_slice(prerequisites(k));
            }
            tests
                .iter()
                .filter(|p| roots.contains(&p.kind) && outright(p))
                .map(|p| p.id.to_string())
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::judge::common::{fail, not_observed, pass};
    use CheckKind::*;

    fn verdicts(rows: &[(&'static str, CheckKind, Judged)]) -> Vec<Vec<String>> {
        let own: Vec<Own<'_>> = rows
            .iter()
            .map(|(id, kind, judged)| Own {
                id,
                kind: *kind,
                judged,
            })
            .collect();
        resolve(&own)
    }

    #[test]
    fn every_kind_depends_on_a_connection_or_is_a_root() {
        for k in CheckKind::ALL {
            let c = closure(k);
            let root = prerequisites(k).is_empty();
            assert!(
                root || c.contains(&Connect) || c.contains(&SendemodulLogin),
                "{k:?}: {c:?}"
            );
        }
    }

    #[test]
    fn a_missing_to_her_id_blocks_everything_after_the_header() {
        let b = verdicts(&[
            ("CONN-01", Connect, pass("", vec![])),
            (
                "TRANSPORT-01",
                Properties,
                fail("toHerId is missing", vec![]),
            ),
            (
                "CONN-04",
                Certificate,
                not_observed("no message got past", vec![]),
            ),
            ("CMS-01", Cms, not_observed("no message got past", vec![])),
            (
                "MSGHEAD-01",
                Msghead,
                not_observed("no message got past", vec![]),
            ),
            ("DATA-01", Completeness, fail("12 missing events", vec![])),
            ("RECEIPT-04", Duplicate, not_observed("refused", vec![])),
        ]);
        assert!(b[0].is_empty() && b[1].is_empty(), "{b:?}");
        for (i, row) in b.iter().enumerate().skip(2) {
            assert_eq!(row, &["TRANSPORT-01"], "row {i}");
        }
    }

    #[test]
    fn an_unsigned_payload_is_the_cms_test_not_the_certificate_test() {
        let b = verdicts(&[
            (
                "CONN-04",
                Certificate,
                not_observed("no message got past", vec![]),
            ),
            (
                "CMS-01",
                Cms,
                fail("3 message(s) failed decryption", vec![]),
            ),
            (
                "MSGHEAD-01",
                Msghead,
                not_observed("no message got past", vec![]),
            ),
        ]);
        assert_eq!(
            b,
            [vec!["CMS-01".to_string()], vec![], vec!["CMS-01".into()]]
        );
    }

    #[test]
    fn a_reused_msg_id_blocks_the_receipts_it_made_unobservable_but_not_what_passed() {
        let b = verdicts(&[
            ("CMS-01", Cms, pass("", vec![])),
            ("MSGHEAD-01", Msghead, fail("MsgId reused", vec![])),
            (
                "RECEIPT-01",
                ApprecStatus2Resend,
                not_observed("never received an AppRec status 2", vec![]),
            ),
            ("RECEIPT-03", ErrorQueue, fail("no resend", vec![])),
            ("CONN-02", Sasl, pass("", vec![])),
        ]);
        assert_eq!(
            b,
            [
                vec![],
                vec![],
                vec!["MSGHEAD-01".to_string()],
                vec!["MSGHEAD-01".into()],
                vec![]
            ]
        );
    }

    #[test]
    fn ignored_apprecs_fail_each_receipt_test_on_its_own() {
        // The receipt tests do not stand on each other: each failure is its own.
        let b = verdicts(&[
            ("MSGHEAD-01", Msghead, pass("", vec![])),
            ("RECEIPT-01", ApprecStatus2Resend, fail("no resend", vec![])),
            ("RECEIPT-02", ApprecStatus3, fail("not sent again", vec![])),
            ("RECEIPT-04", Duplicate, fail("never sent again", vec![])),
        ]);
        assert!(b.iter().all(Vec::is_empty), "{b:?}");
    }

    #[test]
    fn peers_that_both_failed_outright_are_both_root_causes_and_a_pass_stays() {
        let b = verdicts(&[
            ("CONN-04", Certificate, fail("expired", vec![])),
            ("CMS-01", Cms, fail("bad signature", vec![])),
            ("MSGHEAD-01", Msghead, pass("", vec![])),
            ("RECEIPT-01", ApprecStatus2Resend, fail("no resend", vec![])),
        ]);
        assert!(b.iter().all(Vec::is_empty), "{b:?}");
        let b = verdicts(&[
            ("CONN-04", Certificate, fail("expired", vec![])),
            ("CMS-01", Cms, fail("bad signature", vec![])),
            (
                "MSGHEAD-01",
                Msghead,
                not_observed("no message got past", vec![]),
            ),
            ("RECEIPT-01", ApprecStatus2Resend, fail("no resend", vec![])),
        ]);
        assert!(b[0].is_empty() && b[1].is_empty(), "{b:?}");
        assert_eq!(b[2], ["CONN-04", "CMS-01"]);
        assert_eq!(b[3], ["CONN-04", "CMS-01"]);
    }
}
