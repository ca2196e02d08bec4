//! The SNS summary: an email-readable text, the JSON report for everything else, and message
//! attributes for subscription filter policies. Always within SNS limits.

use std::collections::BTreeMap;

use aws_sdk_sns::types::MessageAttributeValue;

use crate::aws::AwsError;
use crate::report::{Outcome, Report};

/// SNS rejects subjects over 100 characters, non-ASCII or with line breaks.
pub const SUBJECT_MAX: usize = 100;
/// SNS accepts 256 KiB for message plus attributes; keep room for the attributes and envelope.
pub const MESSAGE_BUDGET: usize = 240 * 1024;
/// The email text gets at most this much of the budget; the JSON report the rest.
const EMAIL_BUDGET: usize = 96 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub email_text: String,
    /// The JSON report (what every non-email protocol receives).
    pub json: String,
    pub attributes: BTreeMap<&'static str, String>,
    /// What is published: `structured_body` of the two above, built once.
    pub body: String,
}

/// The `MessageStructure=json` body: email gets text, every other protocol the JSON report.
pub fn structured_body(email_text: &str, json: &str) -> String {
    serde_json::json!({ "default": json, "email": email_text }).to_string()
}

/// Make any text a valid SNS subject: printable ASCII, one line, at most 100 characters.
pub fn subject_safe(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| match c {
            c if c.is_whitespace() => ' ',
            c if c.is_ascii_graphic() => c,
            _ => '?',
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if s.len() > SUBJECT_MAX {
        s.truncate(SUBJECT_MAX - 3);
        s.push_str("...");
    }
    if s.is_empty() {
        s.push_str("eks-exposure-responder");
    }
    s
}

/// Cut text at a char boundary to at most `max` bytes, saying so.
pub fn truncate_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let note = "\n\n… (message shortened to fit SNS limits; the full report is in the function's log and response)\n";
    let mut cut = max.saturating_sub(note.len());
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{note}", &text[..cut])
}

/// Keep a list readable: the first `keep` items, then "… and N more".
pub fn bounded<T: AsRef<str>>(items: &[T], keep: usize) -> Vec<String> {
    let mut out: Vec<String> = items
        .iter()
        .take(keep)
        .map(|s| s.as_ref().to_string())
        .collect();
    if items.len() > keep {
        out.push(format!("… and {} more", items.len() - keep));
    }
    out
}

/// Single-line, control-free rendering of text that came from a finding or the cluster.
pub fn clean_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

pub fn subject(report: &Report) -> String {
    let label = report.lead_trait().map_or("EKS exposure", |t| t.label());
    let urgent = if report.priority == Some("urgent") {
        "[URGENT]"
    } else {
        ""
    };
    subject_safe(&format!(
        "{}{urgent} {} {}/{}: {label}",
        report.outcome.banner(),
        report.cluster.name,
        report.cluster.account,
        report.cluster.region
    ))
}

fn what_to_do(report: &Report) -> &'static str {
    match report.outcome {
        Outcome::Applied if report.irreversible => {
            "Nothing to run. This change cannot be undone: read the warnings below."
        }
        Outcome::Applied => {
            "Nothing, unless the change breaks something: the revert command is below."
        }
        Outcome::Proposed if report.reason_code == "hand_off" => {
            "Rebuild and redeploy the images below (or let the subscribed CI pipeline do it); nothing on the cluster was changed."
        }
        Outcome::Proposed => {
            "Review the plan and run the commands below, or clear the guardrail that held it back."
        }
        Outcome::AlreadyCompliant => {
            "Nothing: the live cluster no longer has this exposure. Security Hub closes the finding on its next evaluation."
        }
        Outcome::Deferred => {
            "Nothing now: the responder acts on the next delivery of this finding once the cluster is free."
        }
        Outcome::Skipped => "Nothing.",
        Outcome::Failed => {
            "Act on the reason below; the responder changed nothing it did not report."
        }
    }
}

pub fn email_text(report: &Report) -> String {
    let mut t = String::new();
    let line = |t: &mut String, s: &str| {
        t.push_str(s);
        t.push('\n');
    };
    let c = &report.cluster;
    line(&mut t, &subject(report));
    line(&mut t, "");
    line(&mut t, &format!("What to do:  {}", what_to_do(report)));
    line(&mut t, "");
    line(&mut t, &format!("Cluster:     {}", c.name));
    line(&mut t, &format!("Account:     {}", c.account));
    line(&mut t, &format!("Region:      {}", c.region));
    line(
        &mut t,
        &format!("Severity:    {}", clean_line(&report.finding.severity)),
    );
    let traits: Vec<String> = report
        .traits
        .iter()
        .map(|t| format!("{} ({})", t.id(), t.label()))
        .collect();
    line(&mut t, &format!("Trait:       {}", traits.join(", ")));
    if report.finding_traits.len() > report.traits.len() {
        line(
            &mut t,
            &format!(
                "Also on the finding: {}",
                clean_line(&bounded(&report.finding_traits, 10).join(", "))
            ),
        );
    }
    line(
        &mut t,
        &format!(
            "Mode:        {} (configured: {})",
            report.mode.id(),
            report.configured_mode.id()
        ),
    );
    line(&mut t, &format!("Function:    {}", report.function));
    line(&mut t, "");
    line(
        &mut t,
        &format!(
            "Decision: {} — {}",
            report.outcome.id(),
            clean_line(&report.reason)
        ),
    );
    if let Some(stage) = report.stage {
        line(&mut t, &format!("Stage {} of {}.", stage.number, stage.of));
    }
    if let Some(id) = &report.update_id {
        line(&mut t, &format!("EKS update id: {id}"));
    }
    if let Some(v) = &report.verification {
        line(&mut t, &format!("Verification: {}", clean_line(v)));
    }
    if report.irreversible {
        line(&mut t, "");
        line(&mut t, "!! This change CANNOT BE UNDONE once applied.");
    }
    let section = |t: &mut String, title: &str, items: &[String]| {
        if items.is_empty() {
            return;
        }
        t.push('\n');
        t.push_str(title);
        t.push('\n');
        for i in bounded(items, 25) {
            t.push_str("  - ");
            t.push_str(&clean_line(&i));
            t.push('\n');
        }
    };
    section(&mut t, "Live state:", &report.facts);
    let blockers: Vec<String> = report.blockers.iter().map(|b| b.message.clone()).collect();
    section(&mut t, "Held back by (the apply was refused):", &blockers);
    section(
        &mut t,
        "Guardrails that lowered the mode:",
        &report.held_back,
    );
    section(&mut t, "Could not check:", &report.not_checked);
    let step_lines = |t: &mut String, title: &str, steps: &[crate::report::PlanStep]| {
        if steps.is_empty() {
            return;
        }
        t.push('\n');
        t.push_str(title);
        t.push('\n');
        for (i, s) in steps.iter().take(25).enumerate() {
            t.push_str(&format!(
                "  {}. {}\n     {}\n",
                i + 1,
                clean_line(&s.description),
                clean_line(&s.cli)
            ));
        }
        if steps.len() > 25 {
            t.push_str(&format!("  … and {} more\n", steps.len() - 25));
        }
    };
    let plan_title = match report.outcome {
        Outcome::Applied => "What was done:",
        _ => "Plan (commands to run):",
    };
    step_lines(&mut t, plan_title, &report.plan);
    step_lines(&mut t, "After that:", &report.follow_ups);
    if let Some(r) = &report.revert {
        t.push_str("\nHow to revert:\n");
        t.push_str(&format!("  {}\n", clean_line(&r.description)));
        if let Some(cli) = &r.cli {
            t.push_str(&format!("  {}\n", clean_line(cli)));
        }
    }
    if !report.details_text.is_empty() {
        t.push('\n');
        for l in &report.details_text {
            t.push_str(&clean_line(l));
            t.push('\n');
        }
    }
    section(&mut t, "Notes:", &report.notes);
    t.push_str("\nLinks:\n");
    t.push_str(&format!("  Cluster: {}\n", c.console_url()));
    let home = report.finding_home_region().unwrap_or(&c.region);
    t.push_str(&format!(
        "  Security Hub: https://{home}.console.aws.amazon.com/securityhub/v2/home?region={home}#/exposure\n"
    ));
    t.push_str(&format!(
        "  Finding metadata uid: {}\n",
        clean_line(&report.finding.metadata_uid)
    ));
    t.push_str(&format!(
        "\nFinding record: {}\n",
        clean_line(&report.finding_update.detail)
    ));
    truncate_text(&t, EMAIL_BUDGET)
}

pub fn attributes(report: &Report) -> BTreeMap<&'static str, String> {
    let mut a = BTreeMap::new();
    a.insert("function", report.function.to_string());
    a.insert(
        "trait",
        report
            .lead_trait()
            .map_or("unknown".to_string(), |t| t.id().to_string()),
    );
    a.insert("outcome", report.outcome.id().to_string());
    a.insert("severity", report.finding.severity.clone());
    a.insert("account", report.cluster.account.clone());
    a.insert("cluster", report.cluster.name.clone());
    a.insert("mode", report.mode.id().to_string());
    if let Some(p) = report.priority {
        a.insert("priority", p.to_string());
    }
    // SNS refuses empty attribute values.
    a.retain(|_, v| !v.trim().is_empty());
    a
}

/// What SNS counts against its limit: the published body, the subject and the attributes.
pub fn wire_size(message: &Message) -> usize {
    message.body.len()
        + message.subject.len()
        + message
            .attributes
            .iter()
            .map(|(k, v)| k.len() + v.len() + "String".len())
            .sum::<usize>()
}

/// Render the message, shrinking the JSON copy if the whole would exceed SNS limits.
pub fn render(report: &Report) -> Message {
    let mut copy = report.clone();
    copy.notification = None;
    let serialise = |r: &Report| {
        serde_json::to_string(r)
            .unwrap_or_else(|e| format!("{{\"error\":\"report could not be serialised: {e}\"}}"))
    };
    let (email_text, json) = (email_text(report), serialise(&copy));
    let mut message = Message {
        subject: subject(report),
        body: structured_body(&email_text, &json),
        email_text,
        json,
        attributes: attributes(report),
    };
    // Shrinking is rare; the body is rebuilt only when it happens.
    if wire_size(&message) > MESSAGE_BUDGET {
        copy.details = Some(serde_json::json!({
            "truncated": true,
            "note": "details were too large for SNS; the full report is in the function's response and log"
        }));
        copy.facts = bounded(&copy.facts, 25);
        copy.notes = bounded(&copy.notes, 25);
        copy.not_checked = bounded(&copy.not_checked, 25);
        copy.plan.truncate(25);
        copy.follow_ups.truncate(25);
        message.json = serialise(&copy);
        message.body = structured_body(&message.email_text, &message.json);
    }
    if wire_size(&message) > MESSAGE_BUDGET {
        let room = MESSAGE_BUDGET.saturating_sub(wire_size(&message) - message.email_text.len());
        message.email_text = truncate_text(&message.email_text, room);
        message.body = structured_body(&message.email_text, &message.json);
    }
    message
}

/// Publishes messages to the responder's topic.
#[derive(Clone, Debug)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsNotifier {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    /// Publish; returns the SNS message id.
    pub async fn publish(&self, message: &Message) -> Result<String, AwsError> {
        let mut req = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&message.subject)
            .message_structure("json")
            .message(&message.body);
        for (name, value) in &message.attributes {
            let attr = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| AwsError {
                    operation: "sns:Publish",
                    kind: crate::aws::FaultKind::Invalid,
                    code: None,
                    message: format!("message attribute {name}: {e}"),
                })?;
            req = req.message_attributes(*name, attr);
        }
        let out = req
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("sns:Publish", e))?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use crate::report::Outcome;

    fn report() -> Report {
        let bytes = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../events/eks-public-access.json"),
        )
        .expect("event");
        let event = crate::gate::parse_event(&bytes).expect("parse");
        let Ok(crate::gate::Gate::Actionable(e)) = crate::gate::gate(&event, &crate::Trait::ALL)
        else {
            panic!("actionable");
        };
        Report::new("endpoint-access", &e, Mode::Propose, Mode::Propose).with_outcome(
            Outcome::Proposed,
            "mode_propose",
            "x",
        )
    }

    #[test]
    fn subjects_are_one_printable_ascii_line_of_at_most_100() {
        assert_eq!(subject_safe("a\nb\tc  d"), "a b c d");
        assert_eq!(subject_safe("café ☕"), "caf? ?");
        let long = subject_safe(&"x".repeat(300));
        assert_eq!(long.len(), 100);
        assert!(long.ends_with("..."));
        assert_eq!(subject_safe("\u{7}"), "?");
        assert_eq!(subject_safe(""), "eks-exposure-responder");
    }

    #[test]
    fn oversized_reports_are_shrunk_to_fit_what_sns_counts() {
        let mut r = report();
        // JSON escaping makes quotes count twice on the wire: the check must measure the wire.
        r.details = Some(serde_json::json!({ "blob": "\"".repeat(200_000) }));
        r.details_text = vec!["y".repeat(150_000)];
        let m = render(&r);
        assert!(wire_size(&m) <= MESSAGE_BUDGET, "{}", wire_size(&m));
        assert!(m.json.contains("details were too large for SNS"));
        assert!(m.email_text.contains("message shortened to fit SNS limits"));
        // What is published is the shrunk message, not a stale body.
        assert_eq!(m.body, structured_body(&m.email_text, &m.json));
        // A normal report is left whole.
        let small = render(&report());
        assert!(!small.json.contains("too large"));
        assert!(wire_size(&small) < 16 * 1024);
    }

    #[test]
    fn a_hand_off_says_nothing_was_changed() {
        let r = report().with_outcome(Outcome::Proposed, "hand_off", "rebuild");
        assert!(email_text(&r).contains("nothing on the cluster was changed"));
        assert!(email_text(&report()).contains("run the commands below"));
    }
}
