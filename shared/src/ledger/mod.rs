//! The decision ledger: what each function decided about each finding, kept in one DynamoDB
//! table so that re-deliveries and echoes send nothing new, several functions share one finding
//! record, and applies can be limited and stopped.
//!
//! The policy (dedupe window, combined comment, status rule, apply limit, breaker) is pure code
//! in [`decide`]; [`DecisionLedger`] is the narrow port for its storage and [`dynamo`] the
//! adapter around the DynamoDB client.
//!
//! # Table design
//!
//! One on-demand table, key `pk` (partition) + `sk` (sort), all strings:
//!
//! | item | `pk` | `sk` | what it holds |
//! |---|---|---|---|
//! | finding summary | `cluster#<cluster ARN>` | `finding#<finding metadata uid>` | `version` (a counter every decision moves on), one attribute `fn#<function>` per function with its latest decision (JSON) |
//! | decision | `cluster#<cluster ARN>` | `decision#<decided at, RFC 3339>#<function>#<decision id>` | one decision: identity, digest, outcome, reason, update id, the report |
//! | apply counter | `function#<function>` | `applies#<hour, YYYY-MM-DDTHH>` | `applies`: applies started in that hour |
//! | breaker | `function#<function>` | `breaker` | `consecutive_failures`: failed applies in a row |
//! | approval | `cluster#<cluster ARN>` | `approval#<approval id>` | one plan-bound approval (`approve` mode): function, finding, `plan_digest`, `decision_id` of the proposal, `approval_expires_ms`; `used_by` (the approver's IAM ARN) and `used_at` once redeemed |
//!
//! - Everything about cluster X is one query on the partition `cluster#<ARN>` (the summaries
//!   and, under `decision#`, every decision in time order).
//! - The global secondary index `by-day` (partition `day` = `YYYY-MM-DD`, sort `decided_at`)
//!   holds decisions only (summaries and counters carry no `day`): a digest reads one period
//!   with one query per day it spans.
//! - `expires_at` (epoch seconds) is the TTL attribute: decisions, summaries and counters age
//!   out; the breaker never does (an operator resets it).
//!
//! A decision is written in one transaction: the summary, on condition that its `version` is
//! still the one read (so of two concurrent deliveries exactly one wins), and the decision
//! item, on condition that it does not exist yet; a proposal in `approve` mode writes its
//! approval item in the same transaction. An approval is redeemed by one conditional update
//! (unused and unexpired), so of any number of concurrent redemptions exactly one applies.

pub mod decide;
pub mod dynamo;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;
pub mod steps;

use serde::{Deserialize, Serialize};

use crate::approval::StoredApproval;
use crate::aws::AwsError;
pub use decide::{
    Breaker, Candidate, FindingRecordPlan, Judgement, LedgerSettings, judge, plan_digest,
};
pub use dynamo::DynamoLedger;
pub use steps::{ApplyGate, Claimed, Hold, Ledger, Settled, system_clock};

/// Which finding the ledger is asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindingKey {
    pub cluster_arn: String,
    pub metadata_uid: String,
}

/// One function's latest decision on a finding, as the finding summary keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub decision_id: String,
    pub function: String,
    pub plan_digest: String,
    pub outcome: String,
    pub reason_code: String,
    /// The finding's `modified_time` the decision was made on (same revision, same event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub decided_at_ms: i64,
    /// This entry is the one reminder of an open decision: the next repeat stays silent.
    #[serde(default)]
    pub reminded: bool,
    /// The decision settles the function's traits for the finding's status (see
    /// [`decide::settles`]).
    pub settles: bool,
    /// Trait ids the function handled.
    pub traits: Vec<String>,
    /// The function's part of the combined comment: function, outcome, stage, update id.
    pub line: String,
    /// Why, on one line; the comment gives it what room is left.
    pub reason: String,
    /// Sort rank in the combined comment: lower comes first.
    pub rank: u8,
}

/// Every function's latest decision on one finding, and the version they were read at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FindingDecisions {
    /// 0: nothing was ever decided on this finding.
    pub version: u64,
    pub entries: Vec<Entry>,
}

impl FindingDecisions {
    pub fn of(&self, function: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.function == function)
    }

    /// The state after `entry` replaced its function's entry, one version on.
    pub fn with(&self, entry: Entry) -> FindingDecisions {
        let mut entries: Vec<Entry> = self
            .entries
            .iter()
            .filter(|e| e.function != entry.function)
            .cloned()
            .collect();
        entries.push(entry);
        entries.sort_by(|a, b| a.function.cmp(&b.function));
        FindingDecisions {
            version: self.version + 1,
            entries,
        }
    }
}

/// One decision: the ledger's record of what a function decided, enough to rebuild its message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub decision_id: String,
    pub function: String,
    pub cluster_arn: String,
    pub account: String,
    pub region: String,
    pub metadata_uid: String,
    pub finding_uid: Option<String>,
    pub revision: Option<String>,
    pub severity: String,
    pub traits: Vec<String>,
    pub plan_digest: String,
    pub outcome: String,
    pub reason_code: String,
    pub reason: String,
    pub update_id: Option<String>,
    /// The SNS subject the decision was (or would have been) announced with.
    pub subject: String,
    pub decided_at_ms: i64,
    /// The decision this one repeats as a reminder.
    pub reminder_of: Option<String>,
    /// The plan-bound approval this proposal carries (`approve` mode), and until when.
    pub approval_id: Option<String>,
    pub approval_expires_ms: Option<i64>,
    /// The report as JSON, when it fits the item (`None`: too large, see `subject`/`reason`).
    pub report: Option<String>,
    /// TTL, epoch seconds.
    pub expires_at: i64,
    /// The summary entry this decision becomes.
    #[serde(skip)]
    pub entry: Entry,
}

/// How a claim ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The decision is recorded; the finding's decisions are now these.
    Won(FindingDecisions),
    /// Another decision on the finding was recorded since it was read: read again and judge.
    Conflict,
}

/// The ledger's storage. Every method is one DynamoDB request.
#[allow(async_fn_in_trait)] // handlers run on the Lambda runtime's single task; no Send needed
pub trait DecisionLedger {
    /// Every function's latest decision on the finding (a strongly consistent read).
    async fn finding(&self, key: &FindingKey) -> Result<FindingDecisions, AwsError>;

    /// Record `decision` if the finding's decisions are still at `seen.version`.
    async fn claim(
        &self,
        key: &FindingKey,
        seen: &FindingDecisions,
        decision: &Decision,
    ) -> Result<Claim, AwsError>;

    /// Undo a claim whose message could not be sent, so the retried event decides again: the
    /// function's entry goes back to `previous` if nothing was recorded since `claimed`.
    async fn release(
        &self,
        key: &FindingKey,
        claimed: &FindingDecisions,
        previous: Option<&Entry>,
        decision: &Decision,
    ) -> Result<bool, AwsError>;

    /// Count one apply in `hour` unless `max` were already counted; false when at the limit.
    async fn reserve_apply(
        &self,
        function: &str,
        hour: &str,
        max: u32,
        expires_at: i64,
    ) -> Result<bool, AwsError>;

    /// The function's failed applies in a row.
    async fn breaker(&self, function: &str) -> Result<Breaker, AwsError>;

    /// After an apply: one more failure in a row, or back to none.
    async fn count_apply_result(
        &self,
        function: &str,
        failed: bool,
        why: &str,
    ) -> Result<Breaker, AwsError>;
}

impl Decision {
    /// The approval this decision carries, as its ledger item.
    pub fn approval(&self) -> Option<StoredApproval> {
        Some(StoredApproval {
            approval_id: self.approval_id.clone()?,
            function: self.function.clone(),
            cluster_arn: self.cluster_arn.clone(),
            metadata_uid: self.metadata_uid.clone(),
            plan_digest: self.plan_digest.clone(),
            decision_id: self.decision_id.clone(),
            created_ms: self.decided_at_ms,
            expires_ms: self.approval_expires_ms?,
            used_by: None,
            used_ms: None,
        })
    }
}

/// Plan-bound approvals, kept in the ledger's table. Every method is one DynamoDB request.
#[allow(async_fn_in_trait)] // handlers run on the Lambda runtime's single task; no Send needed
pub trait ApprovalStore {
    /// The approval `approval_id` on the cluster (a strongly consistent read).
    async fn approval(
        &self,
        cluster_arn: &str,
        approval_id: &str,
    ) -> Result<Option<StoredApproval>, AwsError>;

    /// Store a new approval outside a decision (the fresh one of a `plan_changed` refusal).
    async fn put_approval(
        &self,
        approval: &StoredApproval,
        expires_at: i64,
    ) -> Result<(), AwsError>;

    /// Mark the approval used by `by`, on condition that it is unused and unexpired at
    /// `now_ms`: true for exactly one of any number of callers.
    async fn use_approval(
        &self,
        cluster_arn: &str,
        approval_id: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<bool, AwsError>;
}
