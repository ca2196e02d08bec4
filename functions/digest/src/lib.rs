//! digest: one message per period instead of one per decision. Reads the period's decisions
//! from the decision ledger's `by-day` index and publishes one summary (counts by outcome,
//! trait and function; the clusters that need a person, with links; what could not be read) to
//! the notification topic, where the email subscription's filter policy lets it through, and
//! to the chat topic when one is configured.

pub mod decide;
pub mod live;
pub mod settings;

use serde::Serialize;
use shared::aws::AwsError;
use shared::output::notify::{ChatDelivery, SnsNotifier};

pub use decide::{Decided, Digest, Window, summarise};
pub use live::{DecisionHistory, History, LedgerHistory};
pub use settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(
        "the decision ledger could not be read ({0}); the invocation fails so that it is retried"
    )]
    LedgerUnavailable(AwsError),
    #[error("the digest was not published ({0}); the invocation fails so that it is retried")]
    NotPublished(AwsError),
    #[error("the event's scheduled_time '{0}' is not an RFC 3339 time")]
    BadScheduledTime(String),
}

impl DigestError {
    /// The Lambda error type operators route and alarm on.
    pub fn error_type(&self) -> &'static str {
        match self {
            DigestError::LedgerUnavailable(_) => "LedgerUnavailable",
            DigestError::NotPublished(_) => "DigestNotPublished",
            DigestError::BadScheduledTime(_) => "InvalidScheduleInput",
        }
    }
}

impl From<DigestError> for lambda_runtime::Diagnostic {
    fn from(e: DigestError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// What one run did: the invocation's response and its log line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DigestRun {
    pub function: &'static str,
    pub from: String,
    pub to: String,
    pub decisions: usize,
    pub clusters_needing_a_person: usize,
    /// The SNS message id; `None` when nothing was worth sending.
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub chat: String,
    pub not_read: Vec<String>,
}

/// The end of the period: the schedule's time (`{"scheduled_time": "<aws.scheduler.scheduled-time>"}`
/// in the schedule's input), or now when the event carries none (a manual run).
pub fn window_end_ms(event: &serde_json::Value, now_ms: i64) -> Result<i64, DigestError> {
    let Some(raw) = event.get("scheduled_time").and_then(|v| v.as_str()) else {
        return Ok(now_ms);
    };
    aws_smithy_types::DateTime::from_str(raw, aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .and_then(|t| t.to_millis().ok())
        .ok_or_else(|| DigestError::BadScheduledTime(raw.to_string()))
}

/// Read the window's decisions and publish the digest (none for a period with nothing in it).
pub async fn run(
    history: &impl DecisionHistory,
    notifier: &SnsNotifier,
    window: Window,
) -> Result<DigestRun, DigestError> {
    let read = history.decided_in(window).await;
    let days = window.days().len();
    // Nothing read and a fault that may pass: a retry does better than a digest of nothing.
    if read.decisions.is_empty()
        && read.faults.len() == days
        && let Some(e) = read.faults.iter().find(|e| e.is_transient())
    {
        return Err(DigestError::LedgerUnavailable(e.clone()));
    }
    let digest = summarise(window, &read.decisions, read.not_read);
    let mut run = DigestRun {
        function: decide::FUNCTION,
        from: digest.from.clone(),
        to: digest.to.clone(),
        decisions: digest.decisions,
        clusters_needing_a_person: digest.attention.len() + digest.attention_omitted,
        message_id: None,
        subject: None,
        chat: "not sent: nothing to report".to_string(),
        not_read: digest.not_read.clone(),
    };
    if digest.is_empty() {
        tracing::info!(from = %run.from, to = %run.to, "no decisions in the period: no digest");
        return Ok(run);
    }
    let message = decide::render(&digest, window);
    let id = notifier
        .publish(&message)
        .await
        .map_err(DigestError::NotPublished)?;
    let chat = notifier
        .publish_chat(&message.attributes, || decide::chat(&digest, &message))
        .await;
    run.chat = match chat {
        ChatDelivery::Off => "off".to_string(),
        ChatDelivery::NotForPeople => "not sent: not for people".to_string(),
        ChatDelivery::Sent(id) => format!("sent: {id}"),
        ChatDelivery::Failed(e) => format!("not sent: {e}"),
    };
    tracing::info!(
        from = %run.from,
        to = %run.to,
        decisions = run.decisions,
        clusters_needing_a_person = run.clusters_needing_a_person,
        not_read = run.not_read.len(),
        chat = %run.chat,
        "digest published"
    );
    run.message_id = Some(id);
    run.subject = Some(message.subject);
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_ends_at_the_scheduled_time_or_now() {
        let event = serde_json::json!({"scheduled_time": "2026-11-27T11:00:00Z"});
        assert_eq!(window_end_ms(&event, 5).expect("valid"), 1_795_777_200_000);
        assert_eq!(window_end_ms(&serde_json::json!({}), 5).expect("now"), 5);
        assert!(matches!(
            window_end_ms(&serde_json::json!({"scheduled_time": "yesterday"}), 5),
            Err(DigestError::BadScheduledTime(_))
        ));
    }
}
