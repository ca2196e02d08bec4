//! The ledger's policy as pure functions of plain data: the plan digest, the dedupe rule, the
//! combined finding comment, the status rule, the apply limit and the circuit breaker.

use std::fmt::Write as _;

use sha2::{Digest as _, Sha256};

use super::{Decision, Entry, FindingDecisions, FindingKey};
use crate::config::{ConfigError, Env};
use crate::{Outcome, PlanStep, Report};

/// BatchUpdateFindingsV2 accepts comments of 1–512 characters.
pub const COMMENT_MAX: usize = 512;
/// A stored report larger than this is left out of the decision item (DynamoDB items stop at
/// 400 KB, and a decision is read back whole); subject and reason still rebuild the message.
pub const STORED_REPORT_MAX: usize = 64 * 1024;

const DAY_MS: i64 = 86_400_000;

/// The ledger's configuration (`LEDGER_TABLE` and its limits), read once at cold start.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LedgerSettings {
    pub table: String,
    /// Applies a function may start per clock hour (UTC); beyond it, it proposes.
    pub max_applies_per_hour: u32,
    /// Failed applies in a row after which the function proposes until an operator resets it.
    pub breaker_failures: u32,
    /// A repeated decision within this window sends nothing.
    pub dedupe_window_days: u32,
    /// Decisions and summaries expire (DynamoDB TTL) this long after they were written.
    pub retention_days: u32,
    /// An approval (`approve` mode) can be redeemed this long after its proposal.
    pub approval_expiry_days: u32,
    /// Where approvals are sent (`None` outside Lambda).
    pub approval_target: Option<crate::approval::ApprovalTarget>,
}

impl LedgerSettings {
    pub const DEFAULT_MAX_APPLIES_PER_HOUR: u32 = 10;
    pub const DEFAULT_BREAKER_FAILURES: u32 = 3;
    pub const DEFAULT_DEDUPE_WINDOW_DAYS: u32 = 7;
    pub const DEFAULT_RETENTION_DAYS: u32 = 400;
    pub const DEFAULT_APPROVAL_EXPIRY_DAYS: u32 = 7;

    /// `None` when `LEDGER_TABLE` is unset (local runs): no dedupe, no limits.
    pub fn from_env(env: &impl Env) -> Result<Option<Self>, ConfigError> {
        let Some(table) = env.value("LEDGER_TABLE") else {
            return Ok(None);
        };
        let valid_name = (3..=255).contains(&table.len())
            && table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !valid_name {
            return Err(ConfigError::new(
                "LEDGER_TABLE",
                format!("'{table}' is not a DynamoDB table name (3-255 of letters, digits, _ - .)"),
            ));
        }
        Ok(Some(LedgerSettings {
            table,
            max_applies_per_hour: number(
                env,
                "MAX_APPLIES_PER_HOUR",
                Self::DEFAULT_MAX_APPLIES_PER_HOUR,
                0,
            )?,
            breaker_failures: number(
                env,
                "CIRCUIT_BREAKER_FAILURES",
                Self::DEFAULT_BREAKER_FAILURES,
                1,
            )?,
            dedupe_window_days: number(
                env,
                "DEDUPE_WINDOW_DAYS",
                Self::DEFAULT_DEDUPE_WINDOW_DAYS,
                1,
            )?,
            retention_days: number(
                env,
                "LEDGER_RETENTION_DAYS",
                Self::DEFAULT_RETENTION_DAYS,
                1,
            )?,
            approval_expiry_days: number(
                env,
                "APPROVAL_EXPIRY_DAYS",
                Self::DEFAULT_APPROVAL_EXPIRY_DAYS,
                1,
            )?,
            approval_target: crate::approval::ApprovalTarget::from_env(env),
        }))
    }

    pub fn window_ms(&self) -> i64 {
        i64::from(self.dedupe_window_days) * DAY_MS
    }

    /// TTL (epoch seconds) of an item written at `now_ms`.
    pub fn expires_at(&self, now_ms: i64) -> i64 {
        (now_ms + i64::from(self.retention_days) * DAY_MS) / 1000
    }
}

fn number(env: &impl Env, name: &'static str, default: u32, min: u32) -> Result<u32, ConfigError> {
    match env.value(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= min && *n <= 100_000)
            .ok_or_else(|| {
                ConfigError::new(
                    name,
                    format!("'{v}' is not a whole number from {min} to 100000"),
                )
            }),
    }
}

// ------------------------------------------------------------------------------------------
// Plan digest
// ------------------------------------------------------------------------------------------

/// Parameters left out of the digest: the idempotency token carries the finding's revision,
/// which every echo of a finding record changes, so with it no echo would repeat a decision.
const NOT_DIGESTED: &[&str] = &["clientRequestToken"];

/// SHA-256 (hex) of the canonical JSON of the plan's steps: each step's API call and
/// parameters, in order. Descriptions and CLI lines are left out: they are rendered from the
/// same parameters; so are idempotency tokens ([`NOT_DIGESTED`]). Equal plans have equal
/// digests whatever order their JSON keys came in.
pub fn plan_digest(steps: &[PlanStep]) -> String {
    let mut canonical = String::from("[");
    for (i, step) in steps.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str("{\"api_call\":");
        push_json_string(&mut canonical, &step.api_call);
        canonical.push_str(",\"parameters\":");
        push_canonical(&mut canonical, &step.parameters, NOT_DIGESTED);
        canonical.push('}');
    }
    canonical.push(']');
    hex(&Sha256::digest(canonical.as_bytes()))
}

/// JSON with object keys sorted (by their UTF-8 bytes) and no insignificant whitespace.
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    push_canonical(&mut out, value, &[]);
    out
}

/// Canonical JSON of `value` without the object keys in `skip` (at any depth).
fn push_canonical(out: &mut String, value: &serde_json::Value, skip: &[&str]) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> =
                map.keys().filter(|k| !skip.contains(&k.as_str())).collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(out, k);
                out.push(':');
                push_canonical(out, &map[k], skip);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_canonical(out, v, skip);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn push_json_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::from(s).to_string());
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}"); // `fmt::Write` for `String` never fails.
    }
    s
}

// ------------------------------------------------------------------------------------------
// Dedupe
// ------------------------------------------------------------------------------------------

/// What a function is about to decide, as far as the dedupe rule is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub plan_digest: &'a str,
    pub outcome: &'a str,
    pub reason_code: &'a str,
    /// The finding's `modified_time`.
    pub revision: Option<&'a str>,
}

/// The dedupe rule's verdict on a candidate decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// A new decision: record it, send it.
    New,
    /// The same open decision after the window: send it again once, marked as a reminder.
    Reminder { of: String },
    /// The function's last decision on this finding, within the window (or already reminded):
    /// `skipped` / `already_decided`, no message, no record.
    AlreadyDecided { of: String },
    /// The same event (same finding revision) already decided this: `skipped` /
    /// `duplicate_delivery`, no message.
    DuplicateDelivery { of: String },
}

impl Judgement {
    /// The skip reason code, for the two verdicts that skip.
    pub fn skip_code(&self) -> Option<&'static str> {
        match self {
            Judgement::AlreadyDecided { .. } => Some("already_decided"),
            Judgement::DuplicateDelivery { .. } => Some("duplicate_delivery"),
            Judgement::New | Judgement::Reminder { .. } => None,
        }
    }
}

/// The dedupe rule. A decision repeats the previous one when plan digest, outcome and reason
/// code are all equal; a changed plan (the cluster changed), outcome (mode changed, next stage)
/// or reason (another guardrail holds it back) is news. A repeat of the same finding revision is
/// the same event delivered again; any other repeat within the window is already decided; after
/// the window it is sent once more as a reminder, and never again while it stays the same.
pub fn judge(
    previous: Option<&Entry>,
    candidate: &Candidate<'_>,
    now_ms: i64,
    window_ms: i64,
) -> Judgement {
    let Some(prev) = previous else {
        return Judgement::New;
    };
    let repeats = prev.plan_digest == candidate.plan_digest
        && prev.outcome == candidate.outcome
        && prev.reason_code == candidate.reason_code;
    if !repeats {
        return Judgement::New;
    }
    let of = prev.decision_id.clone();
    if prev.revision.as_deref() == candidate.revision {
        return Judgement::DuplicateDelivery { of };
    }
    if now_ms.saturating_sub(prev.decided_at_ms) < window_ms || prev.reminded {
        return Judgement::AlreadyDecided { of };
    }
    Judgement::Reminder { of }
}

// ------------------------------------------------------------------------------------------
// The finding record: one comment for every function, one status
// ------------------------------------------------------------------------------------------

/// Whether a decision settles its traits for the finding's status: a proposal, the last stage
/// of an apply, or nothing to do. Deferred, failed and earlier stages do not: the finding must
/// stay New so that its next delivery retries them.
pub fn settles(outcome: Outcome, last_stage: bool) -> bool {
    match outcome {
        Outcome::Proposed | Outcome::AlreadyCompliant => true,
        Outcome::Applied => last_stage,
        Outcome::Deferred | Outcome::Failed | Outcome::Skipped => false,
    }
}

/// Position in the combined comment: what needs a person first (failed), then what changed,
/// what is proposed, what waits, what is fine; within each, the most severe trait first.
pub fn rank(outcome: Outcome, traits: &[&str]) -> u8 {
    let by_outcome = match outcome {
        Outcome::Failed => 0,
        Outcome::Applied => 1,
        Outcome::Proposed => 2,
        Outcome::Deferred => 3,
        Outcome::AlreadyCompliant => 4,
        Outcome::Skipped => 5,
    };
    let by_trait = traits
        .iter()
        .map(|t| match *t {
            "exploitable_vulnerability" => 0,
            "public_endpoint" => 1,
            "unencrypted_secrets" => 2,
            "unsupported_version" => 3,
            "vulnerability" => 4,
            _ => 5,
        })
        .min()
        .unwrap_or(5);
    by_outcome * 10 + by_trait
}

/// What to write on the finding, from every function's latest decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindingRecordPlan {
    pub comment: String,
    /// Move the finding to In Progress: every trait on it that a function owns is settled.
    pub in_progress: bool,
    /// Owned traits with no settling decision yet (why the finding stays New).
    pub waiting_for: Vec<String>,
}

const COMMENT_PREFIX: &str = "eks-exposure-responder: ";
const SEPARATOR: &str = " | ";
const REASON_JOIN: &str = " - ";

/// The combined comment and the status rule. `owned_traits`: the ids of the finding's traits
/// that some function owns.
pub fn finding_record(decisions: &FindingDecisions, owned_traits: &[&str]) -> FindingRecordPlan {
    let mut entries: Vec<&Entry> = decisions.entries.iter().collect();
    entries.sort_by(|a, b| (a.rank, &a.function).cmp(&(b.rank, &b.function)));
    let waiting_for: Vec<String> = owned_traits
        .iter()
        .filter(|t| {
            !entries
                .iter()
                .any(|e| e.settles && e.traits.iter().any(|h| h == *t))
        })
        .map(|t| t.to_string())
        .collect();
    FindingRecordPlan {
        comment: combined_comment(&entries),
        in_progress: waiting_for.is_empty() && !entries.is_empty(),
        waiting_for,
    }
}

/// Every entry's head (function, outcome, stage, update id) always; the reasons share what room
/// is left, the most important entry first, each cut with an ellipsis.
fn combined_comment(entries: &[&Entry]) -> String {
    let heads: usize = entries.iter().map(|e| e.line.chars().count()).sum();
    let fixed = COMMENT_PREFIX.len() + heads + SEPARATOR.len() * entries.len().saturating_sub(1);
    let mut out = String::from(COMMENT_PREFIX);
    if fixed > COMMENT_MAX {
        // Only with absurdly long heads: give up on structure, keep the limit.
        for (i, e) in entries.iter().enumerate() {
            if i > 0 {
                out.push_str(SEPARATOR);
            }
            out.push_str(&e.line);
        }
        truncate_chars(&mut out, COMMENT_MAX);
        return out;
    }
    let mut room = COMMENT_MAX - fixed;
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push_str(SEPARATOR);
        }
        out.push_str(&e.line);
        let reason = e.reason.as_str();
        let left = entries.len() - i;
        let share = room / left;
        let want = reason.chars().count() + REASON_JOIN.len();
        if reason.is_empty() || share <= REASON_JOIN.len() + 1 {
            continue;
        }
        let mut part = format!("{REASON_JOIN}{reason}");
        let used = if want <= share {
            want
        } else {
            truncate_chars(&mut part, share);
            share
        };
        out.push_str(&part);
        room -= used;
    }
    out
}

/// Cut to at most `max` characters, the last one an ellipsis when anything was cut.
pub fn truncate_chars(s: &mut String, max: usize) {
    if s.len() <= max {
        return; // Fewer bytes than `max` means fewer characters.
    }
    let mut starts = s.char_indices().map(|(i, _)| i);
    if let (Some(cut), Some(_)) = (starts.nth(max.saturating_sub(1)), starts.next()) {
        s.truncate(cut);
        s.push('…');
    }
}

/// One line: control characters become spaces, runs of white space one space.
pub fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

// ------------------------------------------------------------------------------------------
// Building a decision from a report
// ------------------------------------------------------------------------------------------

/// The decision a report makes, numbered after `seen` (the finding's decisions it was judged
/// against).
pub fn decision_for(
    report: &Report,
    subject: &str,
    plan_digest: &str,
    seen: &FindingDecisions,
    now_ms: i64,
    settings: &LedgerSettings,
    reminder_of: Option<String>,
) -> Decision {
    let key = FindingKey {
        cluster_arn: report.cluster.arn.clone(),
        metadata_uid: report.finding.metadata_uid.clone(),
    };
    let decision_id = decision_id(&key, report.function, seen.version + 1);
    let traits: Vec<String> = report.traits.iter().map(|t| t.id().to_string()).collect();
    let trait_refs: Vec<&str> = traits.iter().map(String::as_str).collect();
    let last_stage = report.stage.is_none_or(|s| s.is_last());
    let mut line = format!("{} {}", report.function, report.outcome.id());
    if let Some(s) = report.stage {
        let _ = write!(line, " (stage {} of {})", s.number, s.of);
    }
    if let Some(id) = &report.update_id {
        let _ = write!(line, ", EKS update {id}");
    }
    let mut reason = one_line(&report.reason);
    truncate_chars(&mut reason, COMMENT_MAX);
    let entry = Entry {
        decision_id: decision_id.clone(),
        function: report.function.to_string(),
        plan_digest: plan_digest.to_string(),
        outcome: report.outcome.id().to_string(),
        reason_code: report.reason_code.to_string(),
        revision: None,
        decided_at_ms: now_ms,
        reminded: reminder_of.is_some(),
        settles: settles(report.outcome, last_stage),
        traits: traits.clone(),
        line,
        reason,
        rank: rank(report.outcome, &trait_refs),
    };
    let report_json = serde_json::to_string(report)
        .ok()
        .filter(|j| j.len() <= STORED_REPORT_MAX);
    Decision {
        decision_id,
        function: report.function.to_string(),
        cluster_arn: report.cluster.arn.clone(),
        account: report.cluster.account.clone(),
        region: report.cluster.region.clone(),
        metadata_uid: report.finding.metadata_uid.clone(),
        finding_uid: report.finding.finding_uid.clone(),
        revision: None,
        severity: report.finding.severity.clone(),
        traits,
        plan_digest: plan_digest.to_string(),
        outcome: report.outcome.id().to_string(),
        reason_code: report.reason_code.to_string(),
        reason: report.reason.clone(),
        update_id: report.update_id.clone(),
        subject: subject.to_string(),
        decided_at_ms: now_ms,
        reminder_of,
        // A proposal's approval (an approval's response carries `approved_by` and issues none).
        approval_id: report
            .approval
            .as_ref()
            .filter(|a| a.approved_by.is_none())
            .map(|a| a.id.clone()),
        approval_expires_ms: report
            .approval
            .as_ref()
            .filter(|a| a.approved_by.is_none())
            .map(|a| a.expires_ms),
        report: report_json,
        expires_at: settings.expires_at(now_ms),
        entry,
    }
}

impl Decision {
    /// The finding revision the decision was made on (kept in the decision and its entry).
    pub fn with_revision(mut self, revision: Option<String>) -> Self {
        self.entry.revision = revision.clone();
        self.revision = revision;
        self
    }
}

/// A decision's id: short, stable for the same finding, function and position in its history.
pub fn decision_id(key: &FindingKey, function: &str, version: u64) -> String {
    let mut h = Sha256::new();
    for part in [
        key.cluster_arn.as_bytes(),
        key.metadata_uid.as_bytes(),
        function.as_bytes(),
    ] {
        h.update(part);
        h.update([0]);
    }
    h.update(version.to_be_bytes());
    format!("d-{}", &hex(&h.finalize())[..20])
}

// ------------------------------------------------------------------------------------------
// Apply limit and circuit breaker
// ------------------------------------------------------------------------------------------

/// A function's failed applies in a row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Breaker {
    pub consecutive_failures: u32,
}

impl Breaker {
    /// Open (applies turn into proposals) once `threshold` applies in a row failed.
    pub fn is_open(self, threshold: u32) -> bool {
        self.consecutive_failures >= threshold
    }
}

/// The operator's command that closes a function's breaker.
pub fn breaker_reset_command(table: &str, function: &str) -> String {
    format!(
        "aws dynamodb delete-item --table-name {table} --key '{{\"pk\":{{\"S\":\"function#{function}\"}},\"sk\":{{\"S\":\"breaker\"}}}}'"
    )
}

/// The UTC clock hour of `now_ms` (`YYYY-MM-DDTHH`): the apply counter's bucket.
pub fn hour_bucket(now_ms: i64) -> String {
    rfc3339(now_ms)[..13].to_string()
}

/// The UTC day of `now_ms` (`YYYY-MM-DD`): the `by-day` index partition.
pub fn day(now_ms: i64) -> String {
    rfc3339(now_ms)[..10].to_string()
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (sorts as text in time order).
pub fn rfc3339(now_ms: i64) -> String {
    let days = now_ms.div_euclid(DAY_MS);
    let ms_of_day = now_ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use crate::event::gate::{Gate, IncomingEvent, gate};
    use crate::{Stage, Trait};

    fn step(api_call: &str, parameters: serde_json::Value) -> PlanStep {
        PlanStep {
            description: "d".into(),
            api_call: api_call.into(),
            parameters,
            cli: "c".into(),
        }
    }

    fn entry(function: &str, outcome: &str, digest: &str, at: i64) -> Entry {
        Entry {
            decision_id: format!("d-{function}-{at}"),
            function: function.into(),
            plan_digest: digest.into(),
            outcome: outcome.into(),
            reason_code: "mode_propose".into(),
            revision: Some("r1".into()),
            decided_at_ms: at,
            ..Entry::default()
        }
    }

    #[test]
    fn the_digest_is_sha256_of_the_canonical_steps() {
        let a = step(
            "eks:UpdateClusterConfig",
            serde_json::json!({"name": "c", "resourcesVpcConfig": {"endpointPublicAccess": false, "endpointPrivateAccess": true}}),
        );
        // Same parameters, keys in another order, other description and CLI text.
        let mut b = step(
            "eks:UpdateClusterConfig",
            serde_json::json!({"resourcesVpcConfig": {"endpointPrivateAccess": true, "endpointPublicAccess": false}, "name": "c"}),
        );
        b.description = "other words".into();
        b.cli = "aws eks ...".into();
        assert_eq!(plan_digest(std::slice::from_ref(&a)), plan_digest(&[b]));
        // The SHA-256 of exactly this canonical text.
        assert_eq!(
            canonical_json(&a.parameters),
            r#"{"name":"c","resourcesVpcConfig":{"endpointPrivateAccess":true,"endpointPublicAccess":false}}"#
        );
        assert_eq!(
            plan_digest(&[]),
            "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945" // sha256("[]")
        );
        let changed = step(
            "eks:UpdateClusterConfig",
            serde_json::json!({"name": "c", "resourcesVpcConfig": {"endpointPublicAccess": true, "endpointPrivateAccess": true}}),
        );
        assert_ne!(
            plan_digest(std::slice::from_ref(&a)),
            plan_digest(std::slice::from_ref(&changed))
        );
        assert_ne!(
            plan_digest(&[a.clone(), changed.clone()]),
            plan_digest(&[changed, a.clone()]),
            "step order is part of the plan"
        );
        assert_eq!(plan_digest(&[a]).len(), 64);
        // The idempotency token changes with every revision of the finding: not the plan.
        let with_token = |t: &str| {
            step(
                "eks:UpdateClusterVersion",
                serde_json::json!({"name": "c", "version": "1.30", "clientRequestToken": t}),
            )
        };
        assert_eq!(
            plan_digest(&[with_token("eer-rev1")]),
            plan_digest(&[with_token("eer-rev2")])
        );
    }

    #[test]
    fn dedupe_rule() {
        let week = 7 * DAY_MS;
        let prev = entry("endpoint-access", "proposed", "abc", 1_000);
        let same = Candidate {
            plan_digest: "abc",
            outcome: "proposed",
            reason_code: "mode_propose",
            revision: Some("r2"),
        };
        assert_eq!(judge(None, &same, 2_000, week), Judgement::New);
        let of = prev.decision_id.clone();
        assert_eq!(
            judge(Some(&prev), &same, 2_000, week),
            Judgement::AlreadyDecided { of: of.clone() }
        );
        let redelivered = Candidate {
            revision: Some("r1"),
            ..same.clone()
        };
        assert_eq!(
            judge(Some(&prev), &redelivered, 2_000, week),
            Judgement::DuplicateDelivery { of: of.clone() }
        );
        for changed in [
            Candidate {
                plan_digest: "def",
                ..same.clone()
            },
            Candidate {
                outcome: "applied",
                ..same.clone()
            },
            Candidate {
                reason_code: "guardrail",
                ..same.clone()
            },
        ] {
            assert_eq!(judge(Some(&prev), &changed, 2_000, week), Judgement::New);
        }
        // The window: just inside still silent, at its end a reminder, once.
        assert_eq!(
            judge(Some(&prev), &same, 1_000 + week - 1, week),
            Judgement::AlreadyDecided { of: of.clone() }
        );
        assert_eq!(
            judge(Some(&prev), &same, 1_000 + week, week),
            Judgement::Reminder { of: of.clone() }
        );
        let reminded = Entry {
            reminded: true,
            ..prev.clone()
        };
        assert_eq!(
            judge(Some(&reminded), &same, 1_000 + 3 * week, week),
            Judgement::AlreadyDecided { of }
        );
        assert_eq!(
            Judgement::AlreadyDecided { of: "x".into() }.skip_code(),
            Some("already_decided")
        );
        assert_eq!(
            Judgement::DuplicateDelivery { of: "x".into() }.skip_code(),
            Some("duplicate_delivery")
        );
        assert_eq!(Judgement::New.skip_code(), None);
    }

    #[test]
    fn only_proposals_last_stages_and_compliance_settle_a_trait() {
        assert!(settles(Outcome::Proposed, true));
        assert!(settles(Outcome::AlreadyCompliant, true));
        assert!(settles(Outcome::Applied, true));
        assert!(!settles(Outcome::Applied, false));
        for o in [Outcome::Deferred, Outcome::Failed, Outcome::Skipped] {
            assert!(!settles(o, true), "{o:?}");
        }
    }

    fn settled(function: &str, outcome: Outcome, traits: &[&str], reason: &str) -> Entry {
        Entry {
            function: function.into(),
            outcome: outcome.id().into(),
            settles: settles(outcome, true),
            traits: traits.iter().map(|t| t.to_string()).collect(),
            line: format!("{function} {}", outcome.id()),
            reason: reason.into(),
            rank: rank(outcome, traits),
            ..Entry::default()
        }
    }

    const MULTI: [&str; 5] = [
        "exploitable_vulnerability",
        "vulnerability",
        "public_endpoint",
        "unsupported_version",
        "unencrypted_secrets",
    ];

    #[test]
    fn in_progress_only_when_every_owned_trait_is_settled() {
        let vulns = settled(
            "container-vulnerabilities",
            Outcome::Proposed,
            &["exploitable_vulnerability", "vulnerability"],
            "rebuild",
        );
        let endpoint = settled(
            "endpoint-access",
            Outcome::Proposed,
            &["public_endpoint"],
            "restrict",
        );
        let version_deferred = settled(
            "kubernetes-version",
            Outcome::Deferred,
            &["unsupported_version"],
            "updating",
        );
        let version = settled(
            "kubernetes-version",
            Outcome::Proposed,
            &["unsupported_version"],
            "upgrade",
        );
        let secrets = settled(
            "secrets-encryption",
            Outcome::Proposed,
            &["unencrypted_secrets"],
            "encrypt",
        );
        let none = FindingDecisions::default();
        assert!(!finding_record(&none, &MULTI).in_progress);
        let mut d = none.with(vulns);
        let r = finding_record(&d, &MULTI);
        assert!(!r.in_progress);
        assert_eq!(
            r.waiting_for,
            [
                "public_endpoint",
                "unsupported_version",
                "unencrypted_secrets"
            ]
        );
        d = d.with(endpoint).with(version_deferred).with(secrets);
        let r = finding_record(&d, &MULTI);
        assert!(!r.in_progress, "a deferred upgrade keeps the finding New");
        assert_eq!(r.waiting_for, ["unsupported_version"]);
        d = d.with(version);
        let r = finding_record(&d, &MULTI);
        assert!(r.in_progress, "{r:?}");
        assert_eq!(d.version, 5);
        assert_eq!(d.entries.len(), 4, "one entry per function, the latest");
        // Unknown traits are owned by no function: they never hold the status back.
        assert!(finding_record(&d, &MULTI[..4]).in_progress);
    }

    #[test]
    fn the_combined_comment_keeps_every_function_most_important_first_within_512() {
        let long = "x".repeat(400);
        let d = FindingDecisions::default()
            .with(settled(
                "kubernetes-version",
                Outcome::Proposed,
                &["unsupported_version"],
                &long,
            ))
            .with(settled(
                "endpoint-access",
                Outcome::Failed,
                &["public_endpoint"],
                &long,
            ))
            .with(settled(
                "container-vulnerabilities",
                Outcome::Proposed,
                &["exploitable_vulnerability", "vulnerability"],
                "rebuild 2 images",
            ));
        let c = finding_record(&d, &MULTI).comment;
        assert!(c.chars().count() <= COMMENT_MAX, "{}", c.chars().count());
        let at = |f: &str| c.find(f).unwrap_or_else(|| panic!("{f} missing: {c}"));
        // failed first, then the proposals by trait severity
        assert!(at("endpoint-access failed") < at("container-vulnerabilities proposed"));
        assert!(at("container-vulnerabilities proposed") < at("kubernetes-version proposed"));
        assert!(c.contains("container-vulnerabilities proposed - rebuild 2 images"));
        assert!(c.starts_with("eks-exposure-responder: "));
        assert_eq!(c.matches('…').count(), 2, "both long reasons cut: {c}");

        // Short reasons are kept whole.
        let short = FindingDecisions::default().with(settled(
            "endpoint-access",
            Outcome::Proposed,
            &["public_endpoint"],
            "restrict to 10.0.0.0/8",
        ));
        assert_eq!(
            finding_record(&short, &["public_endpoint"]).comment,
            "eks-exposure-responder: endpoint-access proposed - restrict to 10.0.0.0/8"
        );
        // Characters, not bytes.
        let wide = FindingDecisions::default().with(settled(
            "endpoint-access",
            Outcome::Proposed,
            &["public_endpoint"],
            &"é".repeat(600),
        ));
        let c = finding_record(&wide, &["public_endpoint"]).comment;
        assert_eq!(c.chars().count(), COMMENT_MAX);
        assert!(c.ends_with('…'));
    }

    #[test]
    fn settings_come_from_the_environment_with_defaults() {
        use crate::testing::env_of;
        assert_eq!(LedgerSettings::from_env(&env_of(&[])), Ok(None));
        let s = LedgerSettings::from_env(&env_of(&[("LEDGER_TABLE", "resp-Ledger-1")]))
            .expect("valid")
            .expect("set");
        assert_eq!(
            (
                s.max_applies_per_hour,
                s.breaker_failures,
                s.dedupe_window_days,
                s.retention_days
            ),
            (10, 3, 7, 400)
        );
        assert_eq!(s.window_ms(), 7 * DAY_MS);
        let s = LedgerSettings::from_env(&env_of(&[
            ("LEDGER_TABLE", "t-1"),
            ("MAX_APPLIES_PER_HOUR", "0"),
            ("CIRCUIT_BREAKER_FAILURES", "5"),
            ("DEDUPE_WINDOW_DAYS", "1"),
        ]))
        .expect("valid")
        .expect("set");
        assert_eq!(
            (
                s.max_applies_per_hour,
                s.breaker_failures,
                s.dedupe_window_days
            ),
            (0, 5, 1)
        );
        for (var, value) in [
            ("LEDGER_TABLE", "no spaces allowed"),
            ("MAX_APPLIES_PER_HOUR", "-1"),
            ("CIRCUIT_BREAKER_FAILURES", "0"),
            ("DEDUPE_WINDOW_DAYS", "seven"),
        ] {
            let mut pairs = vec![("LEDGER_TABLE", "t-1")];
            pairs.retain(|(k, _)| *k != var);
            pairs.push((var, value));
            let err = LedgerSettings::from_env(&env_of(&pairs)).expect_err(var);
            assert_eq!(err.variable, var);
        }
    }

    #[test]
    fn time_buckets_are_utc() {
        // The multi-trait sample's modified_time.
        assert_eq!(rfc3339(1_778_645_550_776), "2026-05-13T04:12:30.776Z");
        assert_eq!(hour_bucket(1_778_645_550_776), "2026-05-13T04");
        assert_eq!(day(1_778_645_550_776), "2026-05-13");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn the_breaker_opens_at_the_threshold_and_names_its_reset() {
        assert!(
            !Breaker {
                consecutive_failures: 2
            }
            .is_open(3)
        );
        assert!(
            Breaker {
                consecutive_failures: 3
            }
            .is_open(3)
        );
        assert_eq!(
            breaker_reset_command("resp-ledger", "kubernetes-version"),
            r#"aws dynamodb delete-item --table-name resp-ledger --key '{"pk":{"S":"function#kubernetes-version"},"sk":{"S":"breaker"}}'"#
        );
    }

    #[test]
    fn a_report_becomes_a_decision_and_its_entry() {
        let event = crate::testing::event("eks-multi-trait.json");
        let parsed = event.parse().expect("parses");
        let Gate::Actionable(exposure) =
            gate(&parsed, &[Trait::UnsupportedVersion]).expect("valid")
        else {
            panic!("actionable");
        };
        let mut report = Report::new("kubernetes-version", &exposure, Mode::Apply, Mode::Apply)
            .with_outcome(
                Outcome::Applied,
                crate::DecisionCode::Applied,
                "upgrade to 1.30\nstarted",
            );
        report.stage = Some(Stage { number: 1, of: 2 });
        report.update_id = Some("u-1".into());
        let settings =
            LedgerSettings::from_env(&crate::testing::env_of(&[("LEDGER_TABLE", "t-1")]))
                .expect("valid")
                .expect("set");
        let seen = FindingDecisions {
            version: 4,
            entries: vec![],
        };
        let d = decision_for(
            &report,
            "[APPLIED] x",
            "abc",
            &seen,
            1_000_000,
            &settings,
            None,
        )
        .with_revision(exposure.modified_time.clone());
        assert_eq!(d.cluster_arn, exposure.cluster.arn);
        assert_eq!(d.traits, ["unsupported_version"]);
        assert_eq!(d.outcome, "applied");
        assert_eq!(d.expires_at, (1_000_000 + 400 * DAY_MS) / 1000);
        let key = FindingKey {
            cluster_arn: exposure.cluster.arn.clone(),
            metadata_uid: exposure.metadata_uid.clone(),
        };
        assert_eq!(d.decision_id, decision_id(&key, "kubernetes-version", 5));
        assert_ne!(d.decision_id, decision_id(&key, "kubernetes-version", 6));
        assert!(
            d.report
                .as_deref()
                .is_some_and(|r| r.contains("\"update_id\":\"u-1\""))
        );
        let e = &d.entry;
        assert_eq!(
            e.line,
            "kubernetes-version applied (stage 1 of 2), EKS update u-1"
        );
        assert_eq!(e.reason, "upgrade to 1.30 started");
        assert!(!e.settles, "stage 1 of 2 leaves the finding New");
        assert_eq!(e.revision, exposure.modified_time);
        assert!(e.revision.is_some());
    }
}
