//! What SSB does with the intake: building a kommune's feedback from the files it sent
//! (the operator API, and the season engine's week-6 publication).

use iplos_model::rules::CheckReport;

use super::error::NationalError;
use crate::feedback::{Content, FeedbackFile, FeedbackInput, FeedbackKind};
use crate::intake::{Channel, Intake};

/// The feedback input of kommune `knr` from every file it sent on `channel` (test feedback
/// from the test channel with key `test_key`; ordinary feedback with the key given with
/// its latest file). `None` when it sent nothing.
pub fn feedback_from_intake(
    intake: &Intake,
    knr: &str,
    kommune_name: &str,
    season_year: i32,
    channel: Channel,
    test_key: &str,
) -> Result<Option<FeedbackInput>, NationalError> {
    // The files that make up the kommune's data now (a complete extract sent again
    // replaces the earlier one).
    let subs = intake.current_submissions_of(knr, channel)?;
    let Some(last) = subs.last() else {
        return Ok(None);
    };
    let data_year = channel.checked_year(season_year);
    let mut input = match channel {
        Channel::Test => FeedbackInput {
            key: test_key.to_string(),
            ..FeedbackInput::test(knr, kommune_name, data_year)
        },
        Channel::Ordinary => {
            FeedbackInput::ordinary(knr, kommune_name, data_year, &last.feedback_key)
        }
    }
    .with_bydel(&last.bydel);
    debug_assert!(matches!(
        (channel, input.kind),
        (Channel::Test, FeedbackKind::Test) | (Channel::Ordinary, FeedbackKind::Ordinary)
    ));
    for sub in &subs {
        let bytes = intake.raw_bytes(sub.id)?.ok_or_else(|| {
            NationalError::Data(format!("submission {} of {knr} has no bytes", sub.id.0))
        })?;
        let report: CheckReport = match sub.report_json.as_deref() {
            Some(json) => serde_json::from_str(json).map_err(|e| {
                NationalError::Data(format!("the check report of submission {}: {e}", sub.id.0))
            })?,
            None => CheckReport::default(),
        };
        input = input.with_file(FeedbackFile::new(
            sub.file_name.clone(),
            sub.arrived,
            report,
            Content::Bytes(bytes),
        ));
    }
    Ok(Some(input))
}
