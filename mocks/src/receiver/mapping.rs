//! From the IPLOS checker's findings to an AppRec status and its errors (kodeverk 8258 and
//! 8221). The table is in the [module documentation of the receiver](super).

use iplos_model::message::{AppRecError, AppRecErrorCode, AppRecStatus};
use iplos_model::rules::{Category, CheckReport, Consequence, Finding, Severity};

/// The AppRec error code (kodeverk 8221) a finding is reported with.
pub fn error_code(f: &Finding) -> AppRecErrorCode {
    match (f.category, f.rule) {
        (Category::Wellformed, _) => AppRecErrorCode::T01,
        (Category::Schema, _) => AppRecErrorCode::T02,
        // The root is another document type than Melding.
        (_, "IPL28") => AppRecErrorCode::T10,
        // fid empty: the national id is missing. The checker's message for IPL18 starts
        // with the value in quotes (a test pins this).
        (_, "IPL18") if f.message.starts_with("fid \"\"") => AppRecErrorCode::E30,
        (_, "IPL18" | "IPL19" | "IPL21") => AppRecErrorCode::E31,
        _ => AppRecErrorCode::X99,
    }
}

/// The AppRec status a check report gives.
pub fn status(report: &CheckReport) -> AppRecStatus {
    if report.rejects_message() {
        AppRecStatus::Rejected
    } else if !report.conformant {
        AppRecStatus::OkWithErrors
    } else {
        AppRecStatus::Ok
    }
}

/// The free text (`OT`) of a finding's error: rule id, path, line and message.
pub fn error_text(f: &Finding) -> String {
    format!(
        "{} {} (line {}): {}",
        f.rule, f.location.path, f.location.line, f.message
    )
}

/// The AppRec errors for a report: one per error-severity finding (reject-message findings
/// first, then in document order), at most `max`; findings left out (here or by the
/// checker's cap) are summed up in a final X99.
pub fn errors(report: &CheckReport, max: usize) -> Vec<AppRecError> {
    let mut errs: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    errs.sort_by_key(|f| f.consequence != Consequence::RejectMessage);
    let total = errs.len();
    let mut out: Vec<AppRecError> = errs
        .into_iter()
        .take(max)
        .map(|f| error_code(f).error(&error_text(f)))
        .collect();
    let left = (total - out.len()) as u64 + report.findings_omitted;
    if left > 0 {
        out.push(AppRecErrorCode::X99.error(&format!(
            "{left} more finding(s) not listed here; the full list is in the run store and the feedback"
        )));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use iplos_model::rules::{Location, catalogue};

    fn finding(rule: &catalogue::Rule, message: &str) -> Finding {
        Finding {
            rule: rule.id,
            category: rule.category,
            severity: rule.severity,
            consequence: rule.consequence,
            location: Location {
                line: 7,
                path: "/Melding/x".into(),
            },
            message: message.into(),
        }
    }

    fn report(findings: Vec<Finding>) -> CheckReport {
        let conformant = !findings.iter().any(|f| f.severity == Severity::Error);
        CheckReport {
            conformant,
            data_year: Some(2024),
            notifications: 1,
            findings,
            findings_omitted: 0,
        }
    }

    /// Every rule of the catalogue has a code and a status it leads to.
    #[test]
    fn every_rule_maps() {
        for rule in catalogue::ALL {
            let f = finding(rule, "something");
            let code = error_code(&f);
            let r = report(vec![f]);
            let st = status(&r);
            match (rule.severity, rule.consequence) {
                (Severity::Warning, _) => assert_eq!(st, AppRecStatus::Ok, "{}", rule.id),
                (Severity::Error, Consequence::RejectMessage) => {
                    assert_eq!(st, AppRecStatus::Rejected, "{}", rule.id)
                }
                (Severity::Error, _) => assert_eq!(st, AppRecStatus::OkWithErrors, "{}", rule.id),
            }
            let expected = match rule.id {
                id if id.starts_with("WF") => AppRecErrorCode::T01,
                id if id.starts_with("XSD") => AppRecErrorCode::T02,
                "IPL28" => AppRecErrorCode::T10,
                "IPL18" | "IPL19" | "IPL21" => AppRecErrorCode::E31,
                _ => AppRecErrorCode::X99,
            };
            assert_eq!(code, expected, "{}", rule.id);
            let errs = errors(&r, 10);
            if rule.severity == Severity::Error {
                assert_eq!(errs.len(), 1);
                assert!(errs[0].details.as_deref().unwrap().starts_with(rule.id));
            } else {
                assert!(errs.is_empty());
            }
        }
    }

    #[test]
    fn empty_fid_is_missing() {
        let f = finding(
            &catalogue::FID_INVALID,
            "fid \"\" is not a valid fødselsnummer (typeID 1): empty",
        );
        assert_eq!(error_code(&f), AppRecErrorCode::E30);
    }

    #[test]
    fn rejects_first_and_capped() {
        let mut fs: Vec<Finding> = (0..5)
            .map(|_| finding(&catalogue::ORGNR_INVALID, "x"))
            .collect();
        fs.push(finding(&catalogue::XSD_MISSING, "y"));
        let mut r = report(fs);
        r.findings_omitted = 10;
        let errs = errors(&r, 3);
        assert_eq!(errs.len(), 4);
        assert_eq!(errs[0].code, "T02");
        assert_eq!(errs[1].code, "X99");
        assert_eq!(errs[3].code, "X99");
        assert!(errs[3].details.as_deref().unwrap().starts_with("13 more"));
        assert_eq!(status(&r), AppRecStatus::Rejected);
    }
}
