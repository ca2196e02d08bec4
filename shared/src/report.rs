//! The report: the Lambda's JSON response, the SNS JSON payload and the source of every message.
//! Its field names are a documented, stable interface (README "Report schema").

use serde::Serialize;

use crate::cluster::ClusterRef;
use crate::config::Mode;
use crate::gate::Exposure;
use crate::traits::Trait;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    Proposed,
    AlreadyCompliant,
    Deferred,
    Skipped,
    Failed,
}

impl Outcome {
    pub fn id(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Proposed => "proposed",
            Outcome::AlreadyCompliant => "already_compliant",
            Outcome::Deferred => "deferred",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }

    /// The tag at the start of an SNS subject.
    pub fn banner(self) -> &'static str {
        match self {
            Outcome::Applied => "[APPLIED]",
            Outcome::Proposed => "[PROPOSED]",
            Outcome::AlreadyCompliant => "[COMPLIANT]",
            Outcome::Deferred => "[DEFERRED]",
            Outcome::Skipped => "[SKIPPED]",
            Outcome::Failed => "[FAILED]",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FindingRef {
    pub metadata_uid: String,
    pub finding_uid: Option<String>,
    pub severity: String,
    pub title: Option<String>,
}

impl FindingRef {
    pub fn of(e: &Exposure) -> Self {
        FindingRef {
            metadata_uid: e.metadata_uid.clone(),
            finding_uid: e.finding_uid.clone(),
            severity: e.severity_label().to_string(),
            title: e.title.clone(),
        }
    }
}

/// One step of a plan: what it does, the API call with its parameters, and the equivalent
/// AWS CLI command (every value shell-quoted).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanStep {
    pub description: String,
    pub api_call: String,
    pub parameters: serde_json::Value,
    pub cli: String,
}

/// A check that refuses an apply; `defers` when waiting is the fix (an update in progress).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Blocker {
    pub code: String,
    pub message: String,
    pub defers: bool,
}

impl Blocker {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Blocker {
            code: code.to_string(),
            message: message.into(),
            defers: false,
        }
    }

    pub fn deferring(code: &str, message: impl Into<String>) -> Self {
        Blocker {
            defers: true,
            ..Blocker::new(code, message)
        }
    }
}

/// How to undo what was applied: the previous state and the command that restores it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Revert {
    pub description: String,
    pub previous: serde_json::Value,
    pub cli: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub number: u8,
    pub of: u8,
}

impl Stage {
    pub fn is_last(self) -> bool {
        self.number >= self.of
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectStatus {
    Done,
    NotAttempted,
    Failed,
}

/// What happened to a side effect (notification, finding update).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Effect {
    pub status: EffectStatus,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Effect {
    pub fn done(detail: impl Into<String>, id: Option<String>) -> Self {
        Effect {
            status: EffectStatus::Done,
            detail: detail.into(),
            id,
        }
    }

    pub fn not_attempted(detail: impl Into<String>) -> Self {
        Effect {
            status: EffectStatus::NotAttempted,
            detail: detail.into(),
            id: None,
        }
    }

    pub fn failed(detail: impl Into<String>) -> Self {
        Effect {
            status: EffectStatus::Failed,
            detail: detail.into(),
            id: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub function: &'static str,
    pub finding: FindingRef,
    pub cluster: ClusterRef,
    /// The traits of the finding this function handled.
    pub traits: Vec<Trait>,
    /// Every trait on the finding (known ids, unknown ones verbatim).
    pub finding_traits: Vec<String>,
    /// The effective mode after guardrails.
    pub mode: Mode,
    pub configured_mode: Mode,
    pub outcome: Outcome,
    /// Machine-readable reason (e.g. `not_new`, `update_in_progress`, `mode_propose`).
    pub reason_code: String,
    pub reason: String,
    /// `urgent` or `routine` where the function ranks its work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<&'static str>,
    pub live_state: serde_json::Value,
    /// Live state and context as sentences.
    pub facts: Vec<String>,
    pub plan: Vec<PlanStep>,
    /// Steps that come after this one (later stages, node groups, add-ons, the upgrade path).
    pub follow_ups: Vec<PlanStep>,
    pub blockers: Vec<Blocker>,
    /// Guardrails that lowered the mode.
    pub held_back: Vec<String>,
    /// What could not be checked, and why.
    pub not_checked: Vec<String>,
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revert: Option<Revert>,
    pub irreversible: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<String>,
    /// Function-specific machine-readable detail (e.g. the ranked CVE list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// Function-specific lines for the email body.
    #[serde(skip)]
    pub details_text: Vec<String>,
    pub finding_update: Effect,
    /// Absent from the copy published to SNS (it is that message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification: Option<Effect>,
}

impl Report {
    /// A report with the identity filled in and everything else empty.
    pub fn new(function: &'static str, exposure: &Exposure, mode: Mode, configured: Mode) -> Self {
        let mut finding_traits: Vec<String> =
            exposure.traits.iter().map(|t| t.id().to_string()).collect();
        finding_traits.extend(exposure.unknown_traits.iter().cloned());
        Report {
            function,
            finding: FindingRef::of(exposure),
            cluster: exposure.cluster.clone(),
            traits: exposure.handled.clone(),
            finding_traits,
            mode,
            configured_mode: configured,
            outcome: Outcome::Skipped,
            reason_code: String::new(),
            reason: String::new(),
            priority: None,
            live_state: serde_json::Value::Null,
            facts: Vec::new(),
            plan: Vec::new(),
            follow_ups: Vec::new(),
            blockers: Vec::new(),
            held_back: Vec::new(),
            not_checked: Vec::new(),
            notes: Vec::new(),
            revert: None,
            irreversible: false,
            stage: None,
            update_id: None,
            verification: None,
            details: None,
            details_text: Vec::new(),
            finding_update: Effect::not_attempted("not yet"),
            notification: None,
        }
    }

    pub fn with_outcome(mut self, outcome: Outcome, code: &str, reason: impl Into<String>) -> Self {
        self.outcome = outcome;
        self.reason_code = code.to_string();
        self.reason = reason.into();
        self
    }

    /// The trait the message leads with: the most severe one handled.
    pub fn lead_trait(&self) -> Option<Trait> {
        let mut t = self.traits.clone();
        t.sort_by_key(|t| match t {
            Trait::ExploitableVulnerability => 0,
            Trait::PublicEndpoint => 1,
            Trait::UnencryptedSecrets => 2,
            Trait::UnsupportedVersion => 3,
            Trait::Vulnerability => 4,
        });
        t.first().copied()
    }
}

impl Report {
    /// Where the finding lives (the aggregation home Region), when known.
    pub fn finding_home_region(&self) -> Option<&str> {
        self.finding
            .finding_uid
            .as_deref()
            .and_then(|u| u.split(':').nth(3))
            .filter(|r| !r.is_empty())
    }
}
