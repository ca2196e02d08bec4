//! The digest itself, pure: the period's decisions in, one message out (counts by outcome,
//! trait and function; the clusters that need a person, with links; what could not be read).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use shared::ledger::decide::{day, rfc3339};
use shared::output::chat::{ChatMetadata, ChatNotification, markdown_safe};
use shared::output::notify::{
    KIND_DIGEST, MESSAGE_BUDGET, Message, URGENT_MARK, clean_line, structured_body, subject_safe,
    truncate_text,
};
use shared::{BlockerCode, ClusterRef, DecisionCode};

/// The `function` attribute and report name of the digest.
pub const FUNCTION: &str = "decision-digest";
/// Changes only on an incompatible change of the JSON below.
pub const SCHEMA: &str = "eks-exposure-responder/digest/v1";
/// Clusters listed in full in the JSON; the email lists fewer.
pub const JSON_CLUSTERS_MAX: usize = 200;
pub const EMAIL_CLUSTERS_MAX: usize = 50;

const MINUTE_MS: i64 = 60_000;

/// The period one digest covers: `[from_ms, to_ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from_ms: i64,
    pub to_ms: i64,
}

impl Window {
    /// The period of `period_minutes` that ends at `to_ms`, the schedule's time, cut to the
    /// minute so that a retried invocation covers the same decisions.
    pub fn ending_at(to_ms: i64, period_minutes: u32) -> Self {
        let to_ms = to_ms - to_ms.rem_euclid(MINUTE_MS);
        Window {
            from_ms: to_ms - i64::from(period_minutes) * MINUTE_MS,
            to_ms,
        }
    }

    /// The `by-day` partitions the window spans, in order.
    pub fn days(&self) -> Vec<String> {
        let mut days = vec![day(self.from_ms)];
        let last = day(self.to_ms - 1);
        if last != days[0] {
            days.push(last);
        }
        days
    }

    /// The inclusive `decided_at` bounds of the index query.
    pub fn bounds(&self) -> (String, String) {
        (rfc3339(self.from_ms), rfc3339(self.to_ms - 1))
    }

    fn label(&self) -> String {
        let (from, to) = (rfc3339(self.from_ms), rfc3339(self.to_ms));
        format!("{} {} to {} UTC", &from[..10], &from[11..16], &to[11..16])
    }
}

/// One decision as the `by-day` index projects it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decided {
    pub decision_id: String,
    pub function: String,
    pub cluster_arn: String,
    pub outcome: String,
    pub reason_code: String,
    pub traits: Vec<String>,
    pub severity: String,
    /// The subject it was announced with: `[URGENT]` marks an urgent one.
    pub subject: String,
    pub decided_at: String,
}

/// Why a cluster needs a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    Failed,
    Urgent,
    Blocked,
    BreakerOpen,
    HandOff,
}

impl Need {
    fn label(self) -> &'static str {
        match self {
            Need::Failed => "failed",
            Need::Urgent => "urgent",
            Need::Blocked => "blocked by a pre-flight check",
            Need::BreakerOpen => "circuit breaker open",
            Need::HandOff => "hand-off (rebuild images)",
        }
    }
}

/// What a decision asks of a person, if anything.
pub fn needs(d: &Decided) -> BTreeSet<Need> {
    let mut n = BTreeSet::new();
    if d.outcome == "failed" {
        n.insert(Need::Failed);
    }
    if d.subject.contains(URGENT_MARK) {
        n.insert(Need::Urgent);
    }
    // A blocker held an apply back; an extended-support version proposed as routine work is no
    // blocker a person must clear.
    let blocked = BlockerCode::from_wire(&d.reason_code)
        .is_some_and(|b| b != BlockerCode::ExtendedSupportRoutine);
    if blocked && d.outcome != "deferred" {
        n.insert(Need::Blocked);
    }
    match DecisionCode::from_wire(&d.reason_code) {
        Some(DecisionCode::CircuitOpen) => {
            n.insert(Need::BreakerOpen);
        }
        Some(DecisionCode::HandOff) => {
            n.insert(Need::HandOff);
        }
        _ => {}
    }
    n
}

/// One decision of a cluster that needs a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Line {
    pub function: String,
    pub outcome: String,
    pub reason_code: String,
    pub decided_at: String,
    pub decision_id: String,
    pub subject: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attention {
    pub cluster_arn: String,
    pub cluster: String,
    pub account: String,
    pub region: String,
    pub needs: BTreeSet<Need>,
    pub console_url: String,
    pub findings_url: String,
    pub decisions: Vec<Line>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Digest {
    pub schema: &'static str,
    pub kind: &'static str,
    pub from: String,
    pub to: String,
    pub decisions: usize,
    pub by_outcome: BTreeMap<String, usize>,
    pub by_trait: BTreeMap<String, usize>,
    pub by_function: BTreeMap<String, usize>,
    /// Clusters whose latest decision of some function in the period needs a person: failures
    /// first, then urgent CVEs, then blocked applies, open breakers and hand-offs.
    pub attention: Vec<Attention>,
    /// Clusters needing a person beyond those listed.
    pub attention_omitted: usize,
    /// What could not be read, and why: the counts leave it out.
    pub not_read: Vec<String>,
}

impl Digest {
    /// Nothing was decided and nothing was unreadable: no message is worth sending.
    pub fn is_empty(&self) -> bool {
        self.decisions == 0 && self.not_read.is_empty()
    }
}

/// Summarise the period. A cluster is listed when the latest decision of a function on it in
/// the period needs a person (a failure followed by an apply that worked is not).
pub fn summarise(window: Window, rows: &[Decided], not_read: Vec<String>) -> Digest {
    let mut by_outcome = BTreeMap::new();
    let mut by_trait = BTreeMap::new();
    let mut by_function = BTreeMap::new();
    let mut latest: BTreeMap<(&str, &str), &Decided> = BTreeMap::new();
    for d in rows {
        *by_outcome.entry(d.outcome.clone()).or_insert(0) += 1;
        *by_function.entry(d.function.clone()).or_insert(0) += 1;
        for t in &d.traits {
            *by_trait.entry(t.clone()).or_insert(0) += 1;
        }
        let slot = latest.entry((&d.cluster_arn, &d.function)).or_insert(d);
        if (&d.decided_at, &d.decision_id) > (&slot.decided_at, &slot.decision_id) {
            *slot = d;
        }
    }
    let mut by_cluster: BTreeMap<&str, Attention> = BTreeMap::new();
    let mut unparsed = 0usize;
    for d in latest.values() {
        let need = needs(d);
        if need.is_empty() {
            continue;
        }
        let Ok(cluster) = ClusterRef::parse(&d.cluster_arn) else {
            unparsed += 1;
            continue;
        };
        let entry = by_cluster
            .entry(d.cluster_arn.as_str())
            .or_insert_with(|| Attention {
                findings_url: findings_url(&cluster),
                console_url: cluster.console_url(),
                cluster_arn: cluster.arn.clone(),
                cluster: cluster.name.clone(),
                account: cluster.account.clone(),
                region: cluster.region.clone(),
                needs: BTreeSet::new(),
                decisions: Vec::new(),
            });
        entry.needs.extend(need);
        entry.decisions.push(Line {
            function: d.function.clone(),
            outcome: d.outcome.clone(),
            reason_code: d.reason_code.clone(),
            decided_at: d.decided_at.clone(),
            decision_id: d.decision_id.clone(),
            subject: d.subject.clone(),
        });
    }
    let mut not_read = not_read;
    if unparsed > 0 {
        not_read.push(format!(
            "{unparsed} decision(s) that need a person name no cluster ARN this version can read; they are counted but not listed"
        ));
    }
    let mut attention: Vec<Attention> = by_cluster.into_values().collect();
    attention.sort_by(|a, b| {
        (a.needs.iter().next(), &a.account, &a.region, &a.cluster).cmp(&(
            b.needs.iter().next(),
            &b.account,
            &b.region,
            &b.cluster,
        ))
    });
    let attention_omitted = attention.len().saturating_sub(JSON_CLUSTERS_MAX);
    attention.truncate(JSON_CLUSTERS_MAX);
    Digest {
        schema: SCHEMA,
        kind: KIND_DIGEST,
        from: rfc3339(window.from_ms),
        to: rfc3339(window.to_ms),
        decisions: rows.len(),
        by_outcome,
        by_trait,
        by_function,
        attention,
        attention_omitted,
        not_read,
    }
}

/// Security Hub's exposure view in the cluster's Region.
fn findings_url(c: &ClusterRef) -> String {
    let console = c.console_url();
    let host = console
        .split('/')
        .nth(2)
        .unwrap_or("console.aws.amazon.com")
        .to_string();
    format!(
        "https://{host}/securityhub/v2/home?region={}#/exposure",
        c.region
    )
}

fn count_line(counts: &BTreeMap<String, usize>) -> String {
    if counts.is_empty() {
        return "none".to_string();
    }
    counts
        .iter()
        .map(|(k, v)| format!("{} {v}", clean_line(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn needs_count(d: &Digest) -> usize {
    d.attention.len() + d.attention_omitted
}

pub fn subject(d: &Digest, window: Window) -> String {
    let failed = d.by_outcome.get("failed").copied().unwrap_or(0);
    let mut s = format!(
        "[DIGEST] {} decisions, {} {} need a person",
        d.decisions,
        needs_count(d),
        if needs_count(d) == 1 {
            "cluster"
        } else {
            "clusters"
        }
    );
    if failed > 0 {
        s.push_str(&format!(", {failed} failed"));
    }
    if !d.not_read.is_empty() {
        s.push_str(" (incomplete)");
    }
    s.push_str(&format!(": {}", window.label()));
    subject_safe(&s)
}

pub fn email_text(d: &Digest, subject: &str) -> String {
    use std::fmt::Write as _;
    let mut t = String::with_capacity(4096);
    // `fmt::Write` for `String` never fails.
    let _ = writeln!(t, "{subject}\n");
    let _ = writeln!(t, "Period:      {} to {} (UTC)", d.from, d.to);
    let _ = writeln!(t, "Decisions:   {}", d.decisions);
    let _ = writeln!(t, "By outcome:  {}", count_line(&d.by_outcome));
    let _ = writeln!(t, "By trait:    {}", count_line(&d.by_trait));
    let _ = writeln!(t, "By function: {}", count_line(&d.by_function));
    if !d.not_read.is_empty() {
        let _ = writeln!(t, "\nCould not read (the counts above leave it out):");
        for n in &d.not_read {
            let _ = writeln!(t, "  - {}", clean_line(n));
        }
    }
    if d.attention.is_empty() {
        let _ = writeln!(t, "\nNo cluster needs a person for this period.");
    } else {
        let _ = writeln!(
            t,
            "\nClusters that need a person ({}), most pressing first:",
            needs_count(d)
        );
        for a in d.attention.iter().take(EMAIL_CLUSTERS_MAX) {
            let needs: Vec<&str> = a.needs.iter().map(|n| n.label()).collect();
            let _ = writeln!(
                t,
                "\n  {} ({}/{}): {}",
                a.cluster,
                a.account,
                a.region,
                needs.join(", ")
            );
            for l in &a.decisions {
                let _ = writeln!(
                    t,
                    "    {} {} {} ({}) decision {}",
                    l.decided_at,
                    clean_line(&l.function),
                    clean_line(&l.outcome),
                    clean_line(&l.reason_code),
                    clean_line(&l.decision_id)
                );
            }
            let _ = writeln!(t, "    Cluster: {}", a.console_url);
            let _ = writeln!(t, "    Findings: {}", a.findings_url);
        }
        let more = needs_count(d).saturating_sub(EMAIL_CLUSTERS_MAX.min(d.attention.len()));
        if more > 0 {
            let _ = writeln!(
                t,
                "\n  … and {more} more (the JSON digest lists up to {JSON_CLUSTERS_MAX})"
            );
        }
    }
    let _ = writeln!(
        t,
        "\nEach decision's full message went to the topic's machine subscribers; the ledger keeps it\n(README, \"Decision ledger\", for the history queries)."
    );
    t
}

/// The message: the email text for email, the digest JSON for every other protocol.
pub fn render(d: &Digest, window: Window) -> Message {
    let subject = subject(d, window);
    let mut email = email_text(d, &subject);
    let json = serde_json::to_string(d)
        .unwrap_or_else(|_| r#"{"error":"digest could not be serialised"}"#.to_string());
    if json.len() + email.len() > MESSAGE_BUDGET {
        email = truncate_text(&email, MESSAGE_BUDGET.saturating_sub(json.len()));
    }
    let mut attributes = BTreeMap::new();
    attributes.insert("kind", KIND_DIGEST.to_string());
    attributes.insert("function", FUNCTION.to_string());
    Message {
        body: structured_body(&email, &json),
        subject,
        email_text: email,
        attributes,
    }
}

/// The chat notification of the digest.
pub fn chat(d: &Digest, message: &Message) -> ChatNotification {
    let mut description = format!(
        "*Decisions:* {}\n*By outcome:* {}\n*By trait:* {}",
        d.decisions,
        markdown_safe(&count_line(&d.by_outcome)),
        markdown_safe(&count_line(&d.by_trait)),
    );
    for n in d.not_read.iter().take(3) {
        description.push_str(&format!(
            "\n*Could not read:* {}",
            markdown_safe(&clean_line(n))
        ));
    }
    let next_steps: Vec<String> = d
        .attention
        .iter()
        .map(|a| {
            let needs: Vec<&str> = a.needs.iter().map(|n| n.label()).collect();
            format!(
                "{} ({}/{}): {} {}",
                markdown_safe(&a.cluster),
                a.account,
                a.region,
                needs.join(", "),
                a.console_url
            )
        })
        .collect();
    let mut keywords = vec![KIND_DIGEST.to_string()];
    keywords.extend(d.by_outcome.keys().cloned());
    ChatNotification::new(
        &format!("digest-{}", d.to),
        &format!(":bar_chart: {}", message.subject),
        &description,
        &next_steps,
        &keywords,
        ChatMetadata {
            thread_id: format!("{FUNCTION}-{}", &d.to[..10]),
            summary: message.subject.clone(),
            event_type: KIND_DIGEST.to_string(),
            related_resources: d
                .attention
                .iter()
                .take(20)
                .map(|a| a.cluster_arn.clone())
                .collect(),
            additional_context: message
                .attributes
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.clone()))
                .collect(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;
    /// 2026-11-27T11:00:00Z
    const ELEVEN: i64 = 1_795_777_200_000;

    fn row(cluster: &str, function: &str, outcome: &str, reason: &str, at: &str) -> Decided {
        Decided {
            decision_id: format!("{cluster}-{function}-{at}"),
            function: function.into(),
            cluster_arn: format!("arn:aws:eks:us-east-1:444455556666:cluster/{cluster}"),
            outcome: outcome.into(),
            reason_code: reason.into(),
            traits: vec!["public_endpoint".into()],
            severity: "High".into(),
            subject: format!(
                "[{}] {cluster} 444455556666/us-east-1: x",
                outcome.to_uppercase()
            ),
            decided_at: format!("2026-11-27T10:{at}:00.000Z"),
        }
    }

    #[test]
    fn the_window_ends_at_the_scheduled_minute_and_spans_its_days() {
        let w = Window::ending_at(ELEVEN + 42_123, 60);
        assert_eq!(
            w,
            Window {
                from_ms: ELEVEN - HOUR_MS,
                to_ms: ELEVEN
            }
        );
        assert_eq!(rfc3339(ELEVEN), "2026-11-27T11:00:00.000Z");
        assert_eq!(w.days(), vec!["2026-11-27".to_string()]);
        assert_eq!(
            w.bounds(),
            (
                "2026-11-27T10:00:00.000Z".to_string(),
                "2026-11-27T10:59:59.999Z".to_string()
            )
        );
        let midnight = Window::ending_at(ELEVEN + 14 * HOUR_MS, 120);
        assert_eq!(
            midnight.days(),
            vec!["2026-11-27".to_string(), "2026-11-28".to_string()]
        );
        let at_midnight = Window::ending_at(ELEVEN + 13 * HOUR_MS, 60);
        assert_eq!(
            at_midnight.days(),
            vec!["2026-11-27".to_string()],
            "the end is exclusive"
        );
    }

    #[test]
    fn counts_every_decision_and_lists_the_clusters_that_need_a_person() {
        let mut urgent = row(
            "payments-prod",
            "container-vulnerabilities",
            "proposed",
            "hand_off",
            "05",
        );
        urgent.subject = "[PROPOSED][URGENT] payments-prod 444455556666/us-east-1: x".into();
        urgent.traits = vec!["exploitable_vulnerability".into()];
        let rows = vec![
            row("a-ok", "endpoint-access", "applied", "applied", "01"),
            row(
                "b-failed",
                "endpoint-access",
                "failed",
                "access_denied_failed",
                "02",
            ),
            row(
                "c-blocked",
                "kubernetes-version",
                "proposed",
                "upgrade_insight_error",
                "03",
            ),
            row(
                "c-routine",
                "kubernetes-version",
                "proposed",
                "extended_support_routine",
                "03",
            ),
            row(
                "d-proposed",
                "endpoint-access",
                "proposed",
                "mode_propose",
                "04",
            ),
            urgent,
            row(
                "e-deferred",
                "endpoint-access",
                "deferred",
                "stage_soak_pending",
                "06",
            ),
            row(
                "f-breaker",
                "endpoint-access",
                "proposed",
                "circuit_open",
                "07",
            ),
            // Failed, then applied: no longer needs a person.
            row(
                "g-recovered",
                "endpoint-access",
                "failed",
                "transient_failed",
                "08",
            ),
            row("g-recovered", "endpoint-access", "applied", "applied", "09"),
        ];
        let w = Window::ending_at(ELEVEN, 60);
        let d = summarise(w, &rows, vec![]);
        assert_eq!(d.decisions, 10);
        assert_eq!(d.by_outcome["applied"], 2);
        assert_eq!(d.by_outcome["failed"], 2);
        assert_eq!(d.by_outcome["proposed"], 5);
        assert_eq!(d.by_outcome["deferred"], 1);
        assert_eq!(d.by_trait["public_endpoint"], 9);
        assert_eq!(d.by_trait["exploitable_vulnerability"], 1);
        assert_eq!(d.by_function["endpoint-access"], 7);
        let listed: Vec<(&str, Vec<Need>)> = d
            .attention
            .iter()
            .map(|a| (a.cluster.as_str(), a.needs.iter().copied().collect()))
            .collect();
        assert_eq!(
            listed,
            vec![
                ("b-failed", vec![Need::Failed]),
                ("payments-prod", vec![Need::Urgent, Need::HandOff]),
                ("c-blocked", vec![Need::Blocked]),
                ("f-breaker", vec![Need::BreakerOpen]),
            ]
        );
        let failed = &d.attention[0];
        assert_eq!(
            failed.console_url,
            "https://us-east-1.console.aws.amazon.com/eks/home?region=us-east-1#/clusters/b-failed"
        );
        assert_eq!(
            failed.findings_url,
            "https://us-east-1.console.aws.amazon.com/securityhub/v2/home?region=us-east-1#/exposure"
        );

        let m = render(&d, w);
        assert_eq!(
            m.subject,
            "[DIGEST] 10 decisions, 4 clusters need a person, 2 failed: 2026-11-27 10:00 to 11:00 UTC"
        );
        assert_eq!(m.attributes["kind"], "digest");
        assert!(shared::output::notify::for_people(&m.attributes));
        assert!(
            m.email_text
                .contains("By outcome:  applied 2, deferred 1, failed 2, proposed 5"),
            "{}",
            m.email_text
        );
        assert!(
            m.email_text
                .contains("b-failed (444455556666/us-east-1): failed"),
            "{}",
            m.email_text
        );
        assert!(!m.email_text.contains("g-recovered ("), "{}", m.email_text);
        let json: serde_json::Value = serde_json::from_str(&m.json_report()).expect("JSON");
        assert_eq!(json["schema"], SCHEMA);
        assert_eq!(
            json["attention"][1]["needs"],
            serde_json::json!(["urgent", "hand_off"])
        );
        let chat = chat(&d, &m);
        assert_eq!(chat.content.next_steps.len(), 4);
        assert_eq!(chat.metadata.event_type, "digest");
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../docs/schema/chat-custom-notification-v1.json"
            ))
            .expect("schema"),
        )
        .expect("schema JSON");
        let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
        let json: serde_json::Value = serde_json::from_str(&chat.to_json()).expect("JSON");
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn says_what_it_could_not_read_and_lists_at_most_its_bound() {
        let rows: Vec<Decided> = (0..(JSON_CLUSTERS_MAX + 5))
            .map(|i| {
                let mut r = row(
                    &format!("c{i:04}"),
                    "endpoint-access",
                    "failed",
                    "invalid_failed",
                    "10",
                );
                r.decision_id = format!("id{i}");
                r
            })
            .collect();
        let mut bad = row("x", "endpoint-access", "failed", "invalid_failed", "11");
        bad.cluster_arn = "not-an-arn".into();
        let mut all = rows.clone();
        all.push(bad);
        let w = Window::ending_at(ELEVEN, 60);
        let d = summarise(w, &all, vec!["2026-11-27: AccessDenied".into()]);
        assert_eq!(d.attention.len(), JSON_CLUSTERS_MAX);
        assert_eq!(d.attention_omitted, 5);
        assert_eq!(d.not_read.len(), 2, "{:?}", d.not_read);
        let m = render(&d, w);
        assert!(m.subject.contains("(incomplete)"), "{}", m.subject);
        assert!(m.email_text.contains("Could not read"), "{}", m.email_text);
        assert!(m.email_text.contains("… and 155 more"), "{}", m.email_text);
        assert!(shared::output::notify::wire_size(&m) <= MESSAGE_BUDGET);
    }

    #[test]
    fn an_empty_period_is_empty_unless_something_was_unreadable() {
        let w = Window::ending_at(ELEVEN, 60);
        assert!(summarise(w, &[], vec![]).is_empty());
        assert!(!summarise(w, &[], vec!["ledger: throttled".into()]).is_empty());
    }
}
