//! The finding record: `BatchUpdateFindingsV2` with a comment and, after acting or proposing,
//! `StatusId` 2 (In Progress). Never Resolved: Security Hub closes the exposure itself when the
//! traits are gone.

use crate::aws::{AwsError, FaultKind};
use crate::report::{Outcome, Report};

/// BatchUpdateFindingsV2 accepts 1–512 characters.
pub const COMMENT_MAX: usize = 512;
/// OCSF status id "In Progress".
pub const STATUS_IN_PROGRESS: i32 = 2;

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
/// - skipped, deferred, already compliant, failed: nothing (a comment would echo back as a New
///   finding and loop; deferred and failed must stay New to be retried).
pub fn record_for(report: &Report) -> Option<FindingRecord> {
    let status_id = match report.outcome {
        Outcome::Applied if report.stage.is_some_and(|s| !s.is_last()) => None,
        Outcome::Applied | Outcome::Proposed => Some(STATUS_IN_PROGRESS),
        _ => return None,
    };
    let mut comment = format!(
        "eks-exposure-responder/{}: {}",
        report.function,
        report.outcome.id()
    );
    if let Some(stage) = report.stage {
        comment.push_str(&format!(" (stage {} of {})", stage.number, stage.of));
    }
    if let Some(id) = &report.update_id {
        comment.push_str(&format!(", EKS update {id}"));
    }
    comment.push_str(" - ");
    comment.push_str(&crate::notify::clean_line(&report.reason));
    Some(FindingRecord {
        comment: truncate_chars(&comment, COMMENT_MAX),
        status_id,
    })
}

fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
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
            .map_err(|e| AwsError::from_sdk("securityhub:BatchUpdateFindingsV2", e))?;
        if let Some(u) = out.unprocessed_findings().first() {
            let code = u.error_code().map(|c| c.as_str().to_string());
            let kind = match code.as_deref() {
                Some("InternalServerException") => FaultKind::Transient,
                Some("ResourceNotFoundException") => FaultKind::NotFound,
                Some("ConflictException") => FaultKind::InUse,
                _ => FaultKind::Invalid,
            };
            return Err(AwsError {
                operation: "securityhub:BatchUpdateFindingsV2",
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
