//! The chat message: an Amazon Q Developer in chat applications custom notification (Slack,
//! Microsoft Teams). Its documented schema: `version` "1.0" and `source` "custom" (required),
//! `id`, `content` {`textType` "client-markdown", `title`, `description`, `nextSteps`,
//! `keywords`} and `metadata` {`threadId`, `summary`, `eventType`, `relatedResources`,
//! `additionalContext`}. The service forwards nothing else from an SNS topic, so a chat topic
//! carries only these. docs/schema/chat-custom-notification-v1.json is the schema the tests hold
//! every message to.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::output::notify::{clean_line, subject};
use crate::output::report::{Outcome, Priority, Report};

/// The documentation gives no length limits; these bounds are ours, so a chat message stays a
/// screenful however large the report.
pub const TITLE_MAX: usize = 250;
pub const DESCRIPTION_MAX: usize = 3000;
pub const NEXT_STEPS_MAX: usize = 5;
pub const STEP_MAX: usize = 500;
pub const KEYWORDS_MAX: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatNotification {
    pub version: &'static str,
    pub source: &'static str,
    pub id: String,
    pub content: ChatContent,
    pub metadata: ChatMetadata,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatContent {
    pub text_type: &'static str,
    pub title: String,
    pub description: String,
    pub next_steps: Vec<String>,
    pub keywords: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMetadata {
    /// Messages with one thread id are threaded together (when the channel allows it).
    pub thread_id: String,
    pub summary: String,
    pub event_type: String,
    pub related_resources: Vec<String>,
    pub additional_context: BTreeMap<String, String>,
}

impl ChatNotification {
    /// A notification in the documented shape, every text bounded. The title is made safe for
    /// markdown here; the description and steps are built by the caller, who marks up its own
    /// text and passes what came from a finding through [`markdown_safe`].
    pub fn new(
        id: &str,
        title: &str,
        description: &str,
        next_steps: &[String],
        keywords: &[String],
        metadata: ChatMetadata,
    ) -> Self {
        let mut keywords: Vec<String> = keywords
            .iter()
            .map(|k| clean_line(k))
            .filter(|k| !k.trim().is_empty())
            .collect();
        keywords.dedup();
        keywords.truncate(KEYWORDS_MAX);
        ChatNotification {
            version: "1.0",
            source: "custom",
            id: clean_line(id),
            content: ChatContent {
                text_type: "client-markdown",
                title: bound(&markdown_safe(&clean_line(title)), TITLE_MAX),
                description: bound(description, DESCRIPTION_MAX),
                next_steps: next_steps
                    .iter()
                    .take(NEXT_STEPS_MAX)
                    .map(|s| bound(&clean_line(s), STEP_MAX))
                    .collect(),
                keywords,
            },
            metadata,
        }
    }

    pub fn to_json(&self) -> String {
        // String keys and values only: serialising cannot fail; a marker, never a panic.
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"version":"1.0","source":"custom"}"#.into())
    }
}

/// Text from a finding must not turn into markup (a link, a mention, a code fence that swallows
/// the rest): the characters Slack and Teams markdown act on are neutralised.
pub fn markdown_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '`' => '\'',
            '<' => '‹',
            '>' => '›',
            c => c,
        })
        .collect()
}

/// At most `max` characters, saying so when cut.
fn bound(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn emoji(report: &Report) -> &'static str {
    if report.priority == Some(Priority::Urgent) {
        return ":rotating_light:";
    }
    match report.outcome {
        Outcome::Applied => ":white_check_mark:",
        Outcome::Failed => ":x:",
        Outcome::Proposed => ":memo:",
        Outcome::Deferred => ":hourglass:",
        Outcome::AlreadyCompliant | Outcome::Skipped => ":information_source:",
    }
}

/// The chat notification of one decision.
pub fn of_report(report: &Report, attributes: &BTreeMap<&'static str, String>) -> ChatNotification {
    let c = &report.cluster;
    let subject = subject(report);
    let safe = |s: &str| markdown_safe(&clean_line(s));
    let mut description = format!(
        "*Decision:* {} — {}\n*Cluster:* {} · account {} · {}\n*Severity:* {}",
        report.outcome.id(),
        safe(&report.reason),
        safe(&c.name),
        c.account,
        c.region,
        safe(&report.finding.severity),
    );
    if report.irreversible {
        description.push_str("\n*This change cannot be undone.*");
    }
    if let Some(id) = &report.update_id {
        description.push_str(&format!("\n*EKS update:* {}", safe(id)));
    }
    for line in report.not_checked.iter().take(3) {
        description.push_str(&format!("\n*Not checked:* {}", safe(line)));
    }
    description.push_str(&format!("\n*Cluster console:* {}", c.console_url()));
    let mut next_steps: Vec<String> = report
        .plan
        .iter()
        .map(|s| format!("{}: `{}`", safe(&s.description), safe(&s.cli)))
        .collect();
    if report.outcome == Outcome::Applied {
        next_steps.clear();
        if let Some(cli) = report.revert.as_ref().and_then(|r| r.cli.as_ref()) {
            next_steps.push(format!("To revert: `{}`", safe(cli)));
        }
    }
    if next_steps.is_empty() {
        next_steps.push(format!(
            "See the email or the report of decision {}",
            report.decision_id.as_deref().unwrap_or("(unrecorded)")
        ));
    }
    let mut keywords = vec![
        report.outcome.id().to_string(),
        report
            .lead_trait()
            .map_or("unknown".to_string(), |t| t.id().to_string()),
        c.account.clone(),
        c.region.clone(),
    ];
    if let Some(p) = report.priority {
        keywords.push(p.to_string());
    }
    let mut related = vec![c.arn.clone(), report.finding.metadata_uid.clone()];
    related.retain(|r| !r.is_empty());
    ChatNotification::new(
        report
            .decision_id
            .as_deref()
            .unwrap_or(&report.finding.metadata_uid),
        &format!("{} {subject}", emoji(report)),
        &description,
        &next_steps,
        &keywords,
        ChatMetadata {
            thread_id: c.arn.clone(),
            summary: subject.clone(),
            event_type: crate::output::notify::KIND_DECISION.to_string(),
            related_resources: related.iter().map(|r| clean_line(r)).collect(),
            additional_context: attributes
                .iter()
                .map(|(k, v)| ((*k).to_string(), clean_line(v)))
                .collect(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_text_cannot_become_markup_or_overflow() {
        let long = "x".repeat(10_000);
        let n = ChatNotification::new(
            "id",
            "<!channel> `rm -rf`",
            &markdown_safe(&long),
            &vec!["a\nb".to_string(); 9],
            &["k".to_string(), "k".to_string(), " ".to_string()],
            ChatMetadata {
                thread_id: "t".into(),
                summary: "s".into(),
                event_type: "decision".into(),
                related_resources: vec![],
                additional_context: BTreeMap::new(),
            },
        );
        assert_eq!(n.content.title, "‹!channel› 'rm -rf'");
        assert_eq!(n.content.description.chars().count(), DESCRIPTION_MAX);
        assert!(n.content.description.ends_with('…'));
        assert_eq!(n.content.next_steps.len(), NEXT_STEPS_MAX);
        assert_eq!(n.content.next_steps[0], "a b");
        assert_eq!(markdown_safe("<@U1> `x`"), "‹@U1› 'x'");
        assert_eq!(n.content.keywords, vec!["k".to_string()]);
        let json: serde_json::Value = serde_json::from_str(&n.to_json()).expect("JSON");
        assert_eq!(json["version"], "1.0");
        assert_eq!(json["source"], "custom");
        assert_eq!(json["content"]["textType"], "client-markdown");
        assert!(json["content"]["nextSteps"].is_array());
        assert!(json["metadata"]["threadId"].is_string());
    }
}
