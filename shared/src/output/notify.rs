//! The SNS summary: an email-readable text, the JSON report for everything else, and message
//! attributes for subscription filter policies. Always within SNS limits.

use std::collections::BTreeMap;

use aws_sdk_sns::types::MessageAttributeValue;

use crate::aws::AwsError;
use crate::output::report::{DecisionCode, Outcome, Priority, ReasonCode, Report};

/// SNS takes subjects of printable ASCII on one line, "less than 100 characters" (a subject of
/// exactly 100 is refused).
pub const SUBJECT_MAX: usize = 99;
/// SNS accepts 256 KiB for message plus attributes; keep room for the attributes and envelope.
pub const MESSAGE_BUDGET: usize = 240 * 1024;
/// The email text gets at most this much of the budget; the JSON report the rest.
const EMAIL_BUDGET: usize = 96 * 1024;

/// The `kind` message attribute: a per-decision message, or the periodic digest.
pub const KIND_DECISION: &str = "decision";
pub const KIND_DIGEST: &str = "digest";
/// The subject's mark of an urgent decision (the digest reads it back from the ledger).
pub const URGENT_MARK: &str = "[URGENT]";

/// Whether a person should read this message (email, chat) rather than only a machine: the
/// digest, urgent CVEs, failures and applied changes. The email subscription's filter policy in
/// template.yaml says the same in SNS's terms (tests/template/test_filter_policy.py holds the two
/// to every sample's attributes); the chat topic gets exactly these, since a Q Developer
/// subscription takes no filter policy of ours.
pub fn for_people(attributes: &BTreeMap<&'static str, String>) -> bool {
    let is = |name: &str, values: &[&str]| {
        attributes
            .get(name)
            .is_some_and(|v| values.contains(&v.as_str()))
    };
    is("kind", &[KIND_DIGEST])
        || is("priority", &["urgent"])
        || is("outcome", &["failed", "applied"])
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub email_text: String,
    pub attributes: BTreeMap<&'static str, String>,
    /// What is published (`MessageStructure=json`): the email text for email subscribers, the
    /// JSON report for every other protocol; see `structured_body`.
    pub body: String,
}

impl Message {
    /// The JSON report every non-email protocol receives (the body's `default`).
    pub fn json_report(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Body {
            default: String,
        }
        serde_json::from_str::<Body>(&self.body).map_or_else(|_| String::new(), |b| b.default)
    }
}

/// The `MessageStructure=json` body: email gets text, every other protocol the JSON report.
pub fn structured_body(email_text: &str, json: &str) -> String {
    serde_json::json!({ "default": json, "email": email_text }).to_string()
}

/// The body for a report: its JSON inside `structured_body`.
fn report_body(report: &Report, email_text: &str) -> String {
    // Not expected to fail (the report has string keys only); a body that says so, never a panic.
    let json = serde_json::to_string(report)
        .unwrap_or_else(|_| r#"{"error":"report could not be serialised"}"#.to_string());
    structured_body(email_text, &json)
}

/// Make any text a valid SNS subject: printable ASCII, one line, fewer than 100 characters.
pub fn subject_safe(raw: &str) -> String {
    let mut s = String::with_capacity(raw.len().min(SUBJECT_MAX + 8));
    // One pass: whitespace runs become one space (none at either end), other non-printable
    // characters a '?'.
    let mut pending_space = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            pending_space = !s.is_empty();
            continue;
        }
        if pending_space {
            s.push(' ');
            pending_space = false;
        }
        s.push(if c.is_ascii_graphic() { c } else { '?' });
    }
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
    let mut out = String::with_capacity(s.len());
    push_clean(&mut out, s);
    out
}

/// `clean_line` appended to `out` without an intermediate string.
pub fn push_clean(out: &mut String, s: &str) {
    // Control characters are C0 (< 0x20), DEL and C1 (U+0080..U+009F, UTF-8 lead byte 0xC2);
    // the line separators and bidi controls all start with 0xE2. A byte scan rules them out for
    // almost every line before any char is decoded.
    let may_have_control = s
        .bytes()
        .any(|b| b < 0x20 || b == 0x7F || b == 0xC2 || b == 0xE2);
    if may_have_control && s.chars().any(|c| c.is_control() || is_spoofing(c)) {
        for c in s.chars() {
            match c {
                c if c.is_control() || is_line_separator(c) => out.push(' '),
                c if is_spoofing(c) => {}
                c => out.push(c),
            }
        }
    } else {
        out.push_str(s);
    }
}

/// U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR: a line break a mail client honours.
fn is_line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// Characters that change how the text around them is displayed: line and paragraph separators,
/// the bidi marks, embeddings, overrides and isolates (U+200E/F, U+202A–U+202E, U+2066–U+2069).
/// Finding text could use them to make a cluster name or a command read as something else.
fn is_spoofing(c: char) -> bool {
    matches!(
        c,
        '\u{200E}' | '\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// OCSF severity labels; anything else a finding carries is sent as `Other`.
const SEVERITIES: [&str; 8] = [
    "Unknown",
    "Informational",
    "Low",
    "Medium",
    "High",
    "Critical",
    "Fatal",
    "Other",
];

/// The finding's severity as one of the OCSF labels, so a subscription filter can match it and
/// a strange value cannot make SNS refuse the message.
pub fn severity_attribute(severity: &str) -> &'static str {
    let s = severity.trim();
    if s.is_empty() {
        return "Unknown";
    }
    SEVERITIES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(s))
        .copied()
        .unwrap_or("Other")
}

pub fn subject(report: &Report) -> String {
    let label = report.lead_trait().map_or("EKS exposure", |t| t.label());
    let urgent = if report.priority == Some(Priority::Urgent) {
        URGENT_MARK
    } else {
        ""
    };
    // A reminder says so first: the subject is what a person sees in a list of messages.
    let reminder = if report.reminder_of.is_some() {
        "[REMINDER] "
    } else {
        ""
    };
    subject_safe(&format!(
        "{reminder}{}{urgent} {} {}/{}: {label}",
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
        Outcome::Proposed if report.reason_code == ReasonCode::Decision(DecisionCode::HandOff) => {
            "Rebuild and redeploy the images below (or let the subscribed CI pipeline do it); nothing on the cluster was changed."
        }
        Outcome::Proposed
            if report.reason_code == ReasonCode::Decision(DecisionCode::AwaitingApproval) =>
        {
            "Review the plan; to have the responder apply exactly this plan, an approver runs the approve command below."
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
    email_text_under(report, &subject(report))
}

/// The email text, written into one buffer: no string per line.
fn email_text_under(report: &Report, subject: &str) -> String {
    use std::fmt::Write as _;
    let mut t = String::with_capacity(4096);
    // `fmt::Write` for `String` never fails; the results below are discarded for that reason.
    let c = &report.cluster;
    for part in [
        subject,
        "\n\nWhat to do:  ",
        what_to_do(report),
        "\n\nCluster:     ",
        &c.name,
        "\nAccount:     ",
        &c.account,
        "\nRegion:      ",
        &c.region,
        "\nSeverity:    ",
    ] {
        t.push_str(part);
    }
    push_clean(&mut t, &report.finding.severity);
    t.push_str("\nTrait:       ");
    for (i, tr) in report.traits.iter().enumerate() {
        if i > 0 {
            t.push_str(", ");
        }
        for part in [tr.id(), " (", tr.label(), ")"] {
            t.push_str(part);
        }
    }
    t.push('\n');
    if report.finding_traits.len() > report.traits.len() {
        t.push_str("Also on the finding: ");
        for (i, name) in report.finding_traits.iter().take(10).enumerate() {
            if i > 0 {
                t.push_str(", ");
            }
            push_clean(&mut t, name);
        }
        if report.finding_traits.len() > 10 {
            // Same wording as `bounded`.
            let _ = write!(t, ", … and {} more", report.finding_traits.len() - 10);
        }
        t.push('\n');
    }
    for part in [
        "Mode:        ",
        report.mode.id(),
        " (configured: ",
        report.configured_mode.id(),
        ")\nFunction:    ",
        report.function,
        "\n\nDecision: ",
        report.outcome.id(),
        " — ",
    ] {
        t.push_str(part);
    }
    push_clean(&mut t, &report.reason);
    t.push('\n');
    if let Some(stage) = report.stage {
        let _ = writeln!(t, "Stage {} of {}.", stage.number, stage.of);
    }
    if let Some(id) = &report.update_id {
        let _ = writeln!(t, "EKS update id: {id}");
    }
    if let Some(v) = &report.verification {
        t.push_str("Verification: ");
        push_clean(&mut t, v);
        t.push('\n');
    }
    if report.irreversible {
        t.push_str("\n!! This change CANNOT BE UNDONE once applied.\n");
    }
    crate::approval::push_email_lines(&mut t, report);
    fn section<'a>(t: &mut String, title: &str, items: impl ExactSizeIterator<Item = &'a str>) {
        let total = items.len();
        if total == 0 {
            return;
        }
        t.push('\n');
        t.push_str(title);
        t.push('\n');
        for i in items.take(25) {
            t.push_str("  - ");
            push_clean(t, i);
            t.push('\n');
        }
        if total > 25 {
            // Same wording as `bounded`.
            let _ = writeln!(t, "  - … and {} more", total - 25);
        }
    }
    section(
        &mut t,
        "Live state:",
        report.facts.iter().map(String::as_str),
    );
    section(
        &mut t,
        "Held back by (the apply was refused):",
        report.blockers.iter().map(|b| b.message.as_str()),
    );
    section(
        &mut t,
        "Guardrails that lowered the mode:",
        report.held_back.iter().map(String::as_str),
    );
    section(
        &mut t,
        "Could not check:",
        report.not_checked.iter().map(String::as_str),
    );
    let step_lines = |t: &mut String, title: &str, steps: &[crate::output::report::PlanStep]| {
        if steps.is_empty() {
            return;
        }
        t.push('\n');
        t.push_str(title);
        t.push('\n');
        for (i, s) in steps.iter().take(25).enumerate() {
            let _ = write!(t, "  {}. ", i + 1);
            push_clean(t, &s.description);
            t.push_str("\n     ");
            push_clean(t, &s.cli);
            t.push('\n');
        }
        if steps.len() > 25 {
            let _ = writeln!(t, "  … and {} more", steps.len() - 25);
        }
    };
    let plan_title = match report.outcome {
        Outcome::Applied => "What was done:",
        _ => "Plan (commands to run):",
    };
    step_lines(&mut t, plan_title, &report.plan);
    step_lines(&mut t, "After that:", &report.follow_ups);
    if let Some(r) = &report.revert {
        t.push_str("\nHow to revert:\n  ");
        push_clean(&mut t, &r.description);
        t.push('\n');
        if let Some(cli) = &r.cli {
            t.push_str("  ");
            push_clean(&mut t, cli);
            t.push('\n');
        }
    }
    if !report.details_text.is_empty() {
        t.push('\n');
        for l in &report.details_text {
            push_clean(&mut t, l);
            t.push('\n');
        }
    }
    section(&mut t, "Notes:", report.notes.iter().map(String::as_str));
    let home = report.finding_home_region().unwrap_or(&c.region);
    for part in [
        "\nLinks:\n  Cluster: ",
        &c.console_url(),
        "\n  Security Hub: https://",
        home,
        ".console.aws.amazon.com/securityhub/v2/home?region=",
        home,
        "#/exposure\n  Finding metadata uid: ",
    ] {
        t.push_str(part);
    }
    push_clean(&mut t, &report.finding.metadata_uid);
    t.push_str("\n\nFinding record: ");
    push_clean(&mut t, &report.finding_update.detail);
    t.push('\n');
    // Identity fields (cluster name, account, Region) are pushed as they are, having passed the
    // gate's checks; this last pass keeps that check from being the only one between a finding
    // and a bidi override in the email.
    if t.contains(is_spoofing) {
        t = t
            .chars()
            .filter_map(|c| match c {
                c if is_line_separator(c) => Some(' '),
                c if is_spoofing(c) => None,
                c => Some(c),
            })
            .collect();
    }
    if t.len() > EMAIL_BUDGET {
        t = truncate_text(&t, EMAIL_BUDGET);
    }
    t
}

pub fn attributes(report: &Report) -> BTreeMap<&'static str, String> {
    let mut a = BTreeMap::new();
    a.insert("kind", KIND_DECISION.to_string());
    a.insert("function", report.function.to_string());
    a.insert(
        "trait",
        report
            .lead_trait()
            .map_or("unknown".to_string(), |t| t.id().to_string()),
    );
    a.insert("outcome", report.outcome.id().to_string());
    a.insert(
        "severity",
        severity_attribute(&report.finding.severity).to_string(),
    );
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
    // The message goes out before the notification's own outcome is known: the SNS copy of
    // the report never carries one. A report rendered before publishing (always, in the
    // pipeline) has none, so it is serialised as it is rather than cloned first.
    let mut copy = None;
    if report.notification.is_some() {
        let mut c = report.clone();
        c.notification = None;
        copy = Some(c);
    }
    let subject = subject(report);
    let email_text = email_text_under(report, &subject);
    let mut message = Message {
        body: report_body(copy.as_ref().unwrap_or(report), &email_text),
        subject,
        email_text,
        attributes: attributes(report),
    };
    // Shrinking is rare; the copy is made and the body rebuilt only when it happens.
    if wire_size(&message) > MESSAGE_BUDGET {
        let mut c = copy.take().unwrap_or_else(|| report.clone());
        c.notification = None;
        c.details = Some(serde_json::json!({
            "truncated": true,
            "note": "details were too large for SNS; the full report is in the function's response and log"
        }));
        c.facts = bounded(&c.facts, 25);
        c.notes = bounded(&c.notes, 25);
        c.not_checked = bounded(&c.not_checked, 25);
        c.plan.truncate(25);
        c.follow_ups.truncate(25);
        message.body = report_body(&c, &message.email_text);
        copy = Some(c);
    }
    if wire_size(&message) > MESSAGE_BUDGET {
        let room = MESSAGE_BUDGET.saturating_sub(wire_size(&message) - message.email_text.len());
        message.email_text = truncate_text(&message.email_text, room);
        message.body = report_body(copy.as_ref().unwrap_or(report), &message.email_text);
    }
    message
}

/// Publishes messages to the responder's topic, and what a person should read to the chat
/// topic when one is configured.
#[derive(Clone, Debug)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    chat_topic_arn: Option<String>,
}

/// What became of the chat copy of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatDelivery {
    /// No chat topic is configured.
    Off,
    /// The message is for machines only (see [`for_people`]).
    NotForPeople,
    Sent(String),
    Failed(String),
}

impl ChatDelivery {
    /// A clause for the report's notification detail; empty when there is nothing to say.
    pub fn clause(&self) -> String {
        match self {
            ChatDelivery::Off | ChatDelivery::NotForPeople => String::new(),
            ChatDelivery::Sent(_) => "; chat: sent".to_string(),
            ChatDelivery::Failed(e) => format!("; chat: not sent ({e})"),
        }
    }
}

impl SnsNotifier {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsNotifier {
            client,
            topic_arn: topic_arn.into(),
            chat_topic_arn: None,
        }
    }

    /// Also send what a person should read to `chat_topic_arn` (Amazon Q Developer in chat
    /// applications), as a custom notification; `None` turns chat off.
    pub fn with_chat_topic(mut self, chat_topic_arn: Option<String>) -> Self {
        self.chat_topic_arn = chat_topic_arn;
        self
    }

    /// Publish; returns the SNS message id.
    pub async fn publish(&self, message: &Message) -> Result<String, AwsError> {
        self.publish_to(
            &self.topic_arn,
            Some(&message.subject),
            &message.body,
            true,
            &message.attributes,
        )
        .await
    }

    /// Send the chat notification for a message a person should read. Never fails the caller:
    /// the machine message is already out, and retrying the event would send it again.
    pub async fn publish_chat(
        &self,
        attributes: &BTreeMap<&'static str, String>,
        notification: impl FnOnce() -> crate::output::chat::ChatNotification,
    ) -> ChatDelivery {
        let Some(topic) = &self.chat_topic_arn else {
            return ChatDelivery::Off;
        };
        if !for_people(attributes) {
            return ChatDelivery::NotForPeople;
        }
        let body = notification().to_json();
        match self.publish_to(topic, None, &body, false, attributes).await {
            Ok(id) => ChatDelivery::Sent(id),
            Err(e) => {
                tracing::warn!(error = %e, "chat notification not sent");
                ChatDelivery::Failed(e.to_string())
            }
        }
    }

    /// One Publish: `structured` bodies carry a text per protocol (`MessageStructure=json`).
    pub async fn publish_to(
        &self,
        topic_arn: &str,
        subject: Option<&str>,
        body: &str,
        structured: bool,
        attributes: &BTreeMap<&'static str, String>,
    ) -> Result<String, AwsError> {
        let mut req = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .set_subject(subject.map(str::to_string))
            .message(body);
        if structured {
            req = req.message_structure("json");
        }
        for (name, value) in attributes {
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
    use crate::output::report::Outcome;

    fn report() -> Report {
        let bytes = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../events/eks-public-access.json"),
        )
        .expect("event");
        let event = crate::event::gate::parse_event(&bytes).expect("parse");
        let Ok(crate::event::gate::Gate::Actionable(e)) =
            crate::event::gate::gate(&event, &crate::Trait::ALL)
        else {
            panic!("actionable");
        };
        Report::new("endpoint-access", &e, Mode::Propose, Mode::Propose).with_outcome(
            Outcome::Proposed,
            DecisionCode::ModePropose,
            "x",
        )
    }

    #[test]
    fn line_separators_and_bidi_controls_never_reach_a_rendered_field() {
        let spoof = "prod\u{202E}gnp.exe\u{2028}line\u{2029}para\u{2066}iso\u{2069}\u{200F}x";
        assert_eq!(clean_line(spoof), "prodgnp.exe line paraisox");
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{2067}', '\u{2068}',
        ] {
            assert_eq!(clean_line(&format!("a{c}b")), "ab", "U+{:04X}", c as u32);
        }
        // Neighbours that are ordinary text stay.
        assert_eq!(clean_line("a\u{2027}b\u{2030}c—d"), "a\u{2027}b\u{2030}c—d");
        let mut r = report();
        r.finding.title = Some(format!("title {spoof}"));
        r.reason = format!("reason {spoof}");
        r.cluster.name = format!("name{spoof}");
        let message = render(&r);
        let email = &message.email_text;
        assert!(!email.chars().any(is_spoofing), "{email:?}");
        assert!(email.contains("prodgnp.exe line"), "{email}");
        assert!(!message.subject.chars().any(is_spoofing));
        assert!(message.subject.is_ascii(), "{}", message.subject);
    }

    #[test]
    fn severity_attributes_come_from_a_known_set() {
        assert_eq!(severity_attribute("HIGH"), "High");
        assert_eq!(severity_attribute(" critical "), "Critical");
        assert_eq!(severity_attribute(""), "Unknown");
        assert_eq!(severity_attribute("High\u{202E}; DROP"), "Other");
        assert_eq!(severity_attribute(&"x".repeat(300)), "Other");
        let mut r = report();
        r.finding.severity = "\u{1F525} very bad \u{0}".to_string();
        assert_eq!(attributes(&r)["severity"], "Other");
    }

    #[test]
    fn subjects_are_one_printable_ascii_line_of_fewer_than_100() {
        assert_eq!(subject_safe("a\nb\tc  d"), "a b c d");
        assert_eq!(subject_safe("café ☕"), "caf? ?");
        assert_eq!(subject_safe(&"x".repeat(99)), "x".repeat(99));
        let long = subject_safe(&"x".repeat(100));
        assert_eq!(long.len(), 99);
        assert!(long.ends_with("..."));
        let long = subject_safe(&"x".repeat(300));
        assert_eq!(long.len(), 99);
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
        assert!(m.json_report().contains("details were too large for SNS"));
        assert!(m.email_text.contains("message shortened to fit SNS limits"));
        // What is published is the shrunk message, not a stale body.
        assert_eq!(m.body, structured_body(&m.email_text, &m.json_report()));
        // A normal report is left whole.
        let small = render(&report());
        assert!(!small.json_report().contains("too large"));
        assert!(wire_size(&small) < 16 * 1024);
    }

    #[test]
    fn the_body_carries_the_report_and_the_email_text_through_every_escape() {
        let mut r = report();
        // Every escape serde_json knows, inside values and keys, plus text that needs none.
        r.reason =
            "quote \" backslash \\ slash / \u{8}\u{c}\n\r\t \u{1} \u{1f} \u{7f} é ☕ \u{2028}"
                .into();
        r.facts = vec!["{\"json\": [\"inside\"]}".into(), String::new()];
        r.details = Some(serde_json::json!({ "k\"ey\\": [1.5, -2, null, true, "\u{0}"] }));
        let m = render(&r);
        let body: serde_json::Value = serde_json::from_str(&m.body).expect("the body is JSON");
        assert_eq!(body["email"], m.email_text.as_str());
        let default: serde_json::Value =
            serde_json::from_str(body["default"].as_str().expect("a string")).expect("JSON");
        assert_eq!(default, serde_json::to_value(&r).expect("serialise"));
        assert_eq!(default["reason"], r.reason.as_str());
    }

    #[test]
    fn a_hand_off_says_nothing_was_changed() {
        let r = report().with_outcome(Outcome::Proposed, DecisionCode::HandOff, "rebuild");
        assert!(email_text(&r).contains("nothing on the cluster was changed"));
        assert!(email_text(&report()).contains("run the commands below"));
    }
}
