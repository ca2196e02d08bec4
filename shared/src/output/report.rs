//! The report: the Lambda's JSON response, the SNS JSON payload and the source of every message.
//! Its field names are a documented, stable interface (README "Report schema").

use serde::Serialize;

use crate::aws::FaultKind;
use crate::config::Mode;
use crate::event::cluster::ClusterRef;
use crate::event::exposure::Trait;
use crate::event::gate::Exposure;

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

/// A machine-readable code: one enum variant, one snake_case string on the wire.
macro_rules! wire_codes {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant,)*
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)*
                }
            }

            /// The code a wire string names, if any (e.g. read back from the decision ledger).
            pub fn from_wire(wire: &str) -> Option<Self> {
                match wire {
                    $($wire => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

wire_codes! {
    /// Why an apply is refused (or deferred): the first one is the report's reason code.
    pub enum BlockerCode {
        // kubernetes-version
        UpgradeInsightError = "upgrade_insight_error",
        UpgradeInsightUnknown = "upgrade_insight_unknown",
        NodesNotVerified = "nodes_not_verified",
        InsightsNotChecked = "insights_not_checked",
        NodegroupsNotChecked = "nodegroups_not_checked",
        NodegroupVersionSkew = "nodegroup_version_skew",
        NodegroupUpdateInProgress = "nodegroup_update_in_progress",
        NodegroupNotActive = "nodegroup_not_active",
        VersionsNotChecked = "versions_not_checked",
        VersionStatusUnknown = "version_status_unknown",
        NextVersionUnavailable = "next_version_unavailable",
        ExtendedSupportRoutine = "extended_support_routine",
        // secrets-encryption
        NoKeyConfigured = "no_key_configured",
        KeyNotChecked = "key_not_checked",
        KeyNotFound = "key_not_found",
        KeyNotEnabled = "key_not_enabled",
        KeyPendingDeletion = "key_pending_deletion",
        KeyNotSymmetric = "key_not_symmetric",
        KeyWrongUsage = "key_wrong_usage",
        KeyOtherRegion = "key_other_region",
        KeyOtherAccount = "key_other_account",
        // endpoint-access
        NoAllowedPublicCidrs = "no_allowed_public_cidrs",
        StageSoakPending = "stage_soak_pending",
        StageSoakUnknown = "stage_soak_unknown",
        KeyNotCustomerManaged = "key_not_customer_managed",
    }
}

wire_codes! {
    /// The report's `reason_code` where no blocker or fault gives it.
    pub enum DecisionCode {
        // skipped
        Closed = "closed",
        NotNew = "not_new",
        NoHandledTraits = "no_handled_traits",
        AccountNotAllowed = "account_not_allowed",
        IgnoredByTag = "ignored_by_tag",
        ClusterNotFound = "cluster_not_found",
        // failed before the function ran
        ClusterUnreachable = "cluster_unreachable",
        // deferred
        ClusterNotActive = "cluster_not_active",
        UpdateInProgress = "update_in_progress",
        // the decision
        AlreadyCompliant = "already_compliant",
        HandOff = "hand_off",
        Guardrail = "guardrail",
        ModePropose = "mode_propose",
        /// Security Hub's own copy of the finding did not confirm the event, so nothing changed.
        Unconfirmed = "finding_unconfirmed",
        Applied = "applied",
        UpdateFailed = "update_failed",
        // the decision ledger
        AlreadyDecided = "already_decided",
        DuplicateDelivery = "duplicate_delivery",
        ApplyLimitReached = "apply_limit_reached",
        CircuitOpen = "circuit_open",
        LedgerUnavailable = "ledger_unavailable",
        // plan-bound approvals (`approve` mode)
        /// Proposed with an approval that applies exactly this plan.
        AwaitingApproval = "awaiting_approval",
        /// An approval was refused: the decision made now yields another plan.
        PlanChanged = "plan_changed",
        ApprovalExpired = "expired",
        ApprovalUsed = "already_used",
        /// An approval was refused: a guardrail or pre-flight check holds the plan back now.
        ApprovalBlocked = "blocked",
    }
}

wire_codes! {
    /// How soon the work should be done, where a function ranks it.
    pub enum Priority {
        Urgent = "urgent",
        Routine = "routine",
        /// For the record only: nothing to do unless the reason is a surprise (e.g. a cluster
        /// exempted by its tag).
        Low = "low",
    }
}

/// The report's machine-readable reason: a decision, the blocker that stopped an apply, or the
/// kind of AWS fault a failure ended in (`<fault>_failed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReasonCode {
    Decision(DecisionCode),
    Blocked(BlockerCode),
    Failed(FaultKind),
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Decision(c) => c.as_str(),
            ReasonCode::Blocked(c) => c.as_str(),
            ReasonCode::Failed(kind) => match kind {
                FaultKind::AccessDenied => "access_denied_failed",
                FaultKind::NotFound => "not_found_failed",
                FaultKind::InUse => "in_use_failed",
                FaultKind::Invalid => "invalid_request_failed",
                FaultKind::NotImplemented => "not_implemented_failed",
                FaultKind::Transient => "transient_failed",
                FaultKind::Other => "aws_failed",
            },
        }
    }
}

impl From<DecisionCode> for ReasonCode {
    fn from(c: DecisionCode) -> Self {
        ReasonCode::Decision(c)
    }
}

impl From<BlockerCode> for ReasonCode {
    fn from(c: BlockerCode) -> Self {
        ReasonCode::Blocked(c)
    }
}

impl Serialize for ReasonCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ReasonCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A check that refuses an apply; `defers` when waiting is the fix (an update in progress).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Blocker {
    pub code: BlockerCode,
    pub message: String,
    pub defers: bool,
}

impl Blocker {
    pub fn new(code: BlockerCode, message: impl Into<String>) -> Self {
        Blocker {
            code,
            message: message.into(),
            defers: false,
        }
    }

    pub fn deferring(code: BlockerCode, message: impl Into<String>) -> Self {
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
    pub reason_code: ReasonCode,
    pub reason: String,
    /// `urgent` or `routine` where the function ranks its work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
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
    /// The decision ledger's id of this decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    /// The earlier decision this delivery repeats (`already_decided`, `duplicate_delivery`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// The earlier decision this one repeats as a reminder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminder_of: Option<String>,
    /// The plan-bound approval (`approve` mode): on a proposal, how to approve it; on the
    /// response to an approval, who approved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<crate::approval::Approval>,
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
            reason_code: ReasonCode::Decision(DecisionCode::Closed),
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
            decision_id: None,
            duplicate_of: None,
            reminder_of: None,
            approval: None,
            finding_update: Effect::not_attempted("not yet"),
            notification: None,
        }
    }

    pub fn with_outcome(
        mut self,
        outcome: Outcome,
        code: impl Into<ReasonCode>,
        reason: impl Into<String>,
    ) -> Self {
        self.outcome = outcome;
        self.reason_code = code.into();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_snake_case_strings_of_the_report_schema() {
        assert_eq!(
            wire(&ReasonCode::Failed(FaultKind::AccessDenied)),
            "\"access_denied_failed\""
        );
        assert_eq!(
            wire(&ReasonCode::Failed(FaultKind::Other)),
            "\"aws_failed\""
        );
        assert_eq!(
            wire(&ReasonCode::Blocked(BlockerCode::NodegroupsNotChecked)),
            "\"nodegroups_not_checked\""
        );
        assert_eq!(
            wire(&ReasonCode::Decision(DecisionCode::ModePropose)),
            "\"mode_propose\""
        );
        assert_eq!(
            wire(&Blocker::new(BlockerCode::KeyWrongUsage, "m")),
            r#"{"code":"key_wrong_usage","message":"m","defers":false}"#
        );
        assert_eq!(wire(&Some(Priority::Urgent)), "\"urgent\"");
        assert_eq!(ReasonCode::Decision(DecisionCode::HandOff), "hand_off");
    }

    fn wire(value: &impl Serialize) -> String {
        serde_json::to_string(value).unwrap_or_default()
    }
}
