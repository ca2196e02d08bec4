//! The finding record: `BatchUpdateFindingsV2` with a comment and, after acting or proposing,
//! `StatusId` 2 (In Progress). Never Resolved: Security Hub closes the exposure itself when the
//! traits are gone.

use crate::aws::{AwsError, FaultKind};
use crate::output::report::{DecisionCode, Outcome, ReasonCode, Report};

/// `GetFindingsV2`, labelled with the IAM action that authorises it.
pub const READ_OPERATION: &str = "securityhub:GetFindings";
/// BatchUpdateFindingsV2 accepts 1–512 characters.
pub const COMMENT_MAX: usize = 512;
/// OCSF status id "In Progress".
pub const STATUS_IN_PROGRESS: i32 = 2;
/// OCSF status id "New".
pub const STATUS_NEW: i32 = 1;

/// What to write on the finding for a report, if anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindingRecord {
    pub comment: String,
    /// `Some(2)` moves the finding out of `New`, which also stops the rules (and so the echo of
    /// this very update) from delivering it again.
    pub status_id: Option<i32>,
}

/// The recording policy:
/// - applied (last stage) and proposed: comment + In Progress;
/// - an earlier stage of a staged apply: comment only, so the finding stays New and the next
///   evaluation can take the next stage;
/// - a proposal because Security Hub did not confirm the event: nothing (see below);
/// - skipped, deferred, already compliant, failed: nothing (a comment would echo back as a New
///   finding and loop; deferred and failed must stay New to be retried).
pub fn record_for(report: &Report) -> Option<FindingRecord> {
    // Security Hub did not confirm the event: the finding it names may be another one (or none),
    // and must not be moved out of New by whoever sent the event.
    if report.reason_code == ReasonCode::Decision(DecisionCode::Unconfirmed) {
        return None;
    }
    let status_id = match report.outcome {
        Outcome::Applied if report.stage.is_some_and(|s| !s.is_last()) => None,
        Outcome::Applied | Outcome::Proposed => Some(STATUS_IN_PROGRESS),
        _ => return None,
    };
    use std::fmt::Write as _;
    let mut comment = String::with_capacity(160 + report.reason.len());
    // `fmt::Write` for `String` never fails.
    let _ = write!(
        comment,
        "eks-exposure-responder/{}: {}",
        report.function,
        report.outcome.id()
    );
    if let Some(stage) = report.stage {
        let _ = write!(comment, " (stage {} of {})", stage.number, stage.of);
    }
    if let Some(id) = &report.update_id {
        let _ = write!(comment, ", EKS update {id}");
    }
    comment.push_str(" - ");
    crate::output::notify::push_clean(&mut comment, &report.reason);
    truncate_chars(&mut comment, COMMENT_MAX);
    Some(FindingRecord { comment, status_id })
}

/// Cut to at most `max` characters, the last one an ellipsis when anything was cut.
fn truncate_chars(s: &mut String, max: usize) {
    if s.len() <= max {
        return; // Fewer bytes than `max` means fewer characters.
    }
    let mut starts = s.char_indices().map(|(i, _)| i);
    // The start of character `max` exists only when there are more than `max` characters.
    if let (Some(cut), Some(_)) = (starts.nth(max - 1), starts.next()) {
        s.truncate(cut);
        s.push('…');
    }
}

/// Writes records on exposure findings in the aggregation home Region.
#[derive(Clone, Debug)]
pub struct FindingRecorder {
    client: aws_sdk_securityhub::Client,
}

impl FindingRecorder {
    pub fn new(client: aws_sdk_securityhub::Client) -> Self {
        FindingRecorder { client }
    }

    /// Security Hub's own copy of the finding with this metadata uid, as JSON: `None` when it
    /// has none.
    pub async fn read(&self, metadata_uid: &str) -> Result<Option<serde_json::Value>, AwsError> {
        use aws_sdk_securityhub::types::{
            CompositeFilter, OcsfFindingFilters, OcsfStringField, OcsfStringFilter, StringFilter,
            StringFilterComparison,
        };
        let filter = OcsfStringFilter::builder()
            .field_name(OcsfStringField::MetadataUid)
            .filter(
                StringFilter::builder()
                    .value(metadata_uid)
                    .comparison(StringFilterComparison::Equals)
                    .build(),
            )
            .build();
        let out = self
            .client
            .get_findings_v2()
            .filters(
                OcsfFindingFilters::builder()
                    .composite_filters(CompositeFilter::builder().string_filters(filter).build())
                    .build(),
            )
            .max_results(10)
            .send()
            .await
            // `GetFindingsV2`, labelled with the IAM action that authorises it.
            .map_err(|e| AwsError::from_sdk(READ_OPERATION, e))?;
        // The filter is exact, but only a finding with this very uid is taken as its copy.
        Ok(out
            .findings()
            .iter()
            .map(crate::aws::document_to_value)
            .find(|f| f["metadata"]["uid"].as_str() == Some(metadata_uid)))
    }

    pub async fn record(&self, metadata_uid: &str, record: &FindingRecord) -> Result<(), AwsError> {
        let mut req = self
            .client
            .batch_update_findings_v2()
            .metadata_uids(metadata_uid)
            .comment(&record.comment);
        if let Some(status) = record.status_id {
            req = req.status_id(status);
        }
        let out = req
            .send()
            .await
            // `BatchUpdateFindingsV2`, labelled with the IAM action that authorises it.
            .map_err(|e| AwsError::from_sdk("securityhub:BatchUpdateFindings", e))?;
        if let Some(u) = out.unprocessed_findings().first() {
            let code = u.error_code().map(|c| c.as_str().to_string());
            let kind = match code.as_deref() {
                Some("InternalServerException") => FaultKind::Transient,
                Some("ResourceNotFoundException") => FaultKind::NotFound,
                Some("ConflictException") => FaultKind::InUse,
                _ => FaultKind::Invalid,
            };
            return Err(AwsError {
                operation: "securityhub:BatchUpdateFindings",
                kind,
                code,
                message: u
                    .error_message()
                    .unwrap_or("the finding was not processed")
                    .to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::truncate_chars;

    #[test]
    fn comments_are_cut_by_characters_not_bytes() {
        // 512 two-byte characters: 1,024 bytes, yet within the limit.
        let mut exact = "é".repeat(512);
        truncate_chars(&mut exact, 512);
        assert_eq!(exact, "é".repeat(512));
        let mut over = "é".repeat(513);
        truncate_chars(&mut over, 512);
        assert_eq!(over.chars().count(), 512);
        assert_eq!(over, format!("{}…", "é".repeat(511)));
        let mut short = "short".to_string();
        truncate_chars(&mut short, 512);
        assert_eq!(short, "short");
    }
}
