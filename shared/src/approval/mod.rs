//! Plan-bound approvals: in `approve` mode a proposal carries an approval bound to its plan
//! digest; an IAM principal redeems it through the function's URL, and the function applies only
//! if a fresh decision on Security Hub's copy of the finding and the live cluster yields the very
//! same plan, the approval has not expired and has not been used.
//!
//! The rules are pure code here ([`issue`], [`judge`]); the storage is the decision ledger's
//! (`crate::ledger::ApprovalStore`); the function URL envelope is in [`url`] and the redemption
//! path in [`redeem`].

pub mod redeem;
pub mod url;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::ledger::decide::rfc3339;
use crate::output::shell::quote;

const DAY_MS: i64 = 86_400_000;

/// The `approval` block of a report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Approval {
    pub id: String,
    /// The ledger's digest of the plan this approval applies, and nothing else.
    pub plan_digest: String,
    /// RFC 3339 (UTC).
    pub expires: String,
    /// The one line a person with AWS credentials runs to approve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The JSON document that approves, as the body of a request to the function URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<ApprovalRequest>,
    /// On the response to an approval: the IAM principal that sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// On a `plan_changed` refusal: a new approval for the plan as it is now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fresh: Option<Box<Approval>>,
    #[serde(skip)]
    pub expires_ms: i64,
}

/// The document that approves one approval (the body of the function URL request).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    pub approval_id: String,
    pub function: String,
    pub cluster_arn: String,
    pub metadata_uid: String,
    pub plan_digest: String,
}

/// An approval as the ledger keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredApproval {
    pub approval_id: String,
    pub function: String,
    pub cluster_arn: String,
    pub metadata_uid: String,
    pub plan_digest: String,
    /// The proposal that carried it.
    pub decision_id: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// Set once, by the redemption that applies it.
    pub used_by: Option<String>,
    pub used_ms: Option<i64>,
}

/// Where approvals are sent: this function's URL, found by the approver's CLI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApprovalTarget {
    pub function_name: String,
    pub region: String,
}

impl ApprovalTarget {
    /// From the variables the Lambda service sets; `None` outside Lambda (then the command names
    /// the function by its package name and the cluster's Region).
    pub fn from_env(env: &impl crate::config::Env) -> Option<Self> {
        Some(ApprovalTarget {
            function_name: env.value("AWS_LAMBDA_FUNCTION_NAME")?,
            region: env.value("AWS_REGION")?,
        })
    }
}

/// A new approval for `request`'s plan, valid `expiry_days` from `now_ms`.
pub fn issue(
    function: &str,
    cluster_arn: &str,
    metadata_uid: &str,
    plan_digest: &str,
    now_ms: i64,
    expiry_days: u32,
    target: &ApprovalTarget,
) -> Approval {
    let id = approval_id(function, cluster_arn, metadata_uid, plan_digest, now_ms);
    let request = ApprovalRequest {
        approval_id: id.clone(),
        function: function.to_string(),
        cluster_arn: cluster_arn.to_string(),
        metadata_uid: metadata_uid.to_string(),
        plan_digest: plan_digest.to_string(),
    };
    let expires_ms = now_ms + i64::from(expiry_days) * DAY_MS;
    Approval {
        command: Some(command(&request, target)),
        request: Some(request),
        id,
        plan_digest: plan_digest.to_string(),
        expires: rfc3339(expires_ms),
        approved_by: None,
        fresh: None,
        expires_ms,
    }
}

/// Unique per proposal (the time is part of it); it names the approval, it guards nothing: IAM,
/// the digest, the expiry and single use do.
fn approval_id(
    function: &str,
    cluster_arn: &str,
    metadata_uid: &str,
    plan_digest: &str,
    now_ms: i64,
) -> String {
    let mut h = Sha256::new();
    for part in [function, cluster_arn, metadata_uid, plan_digest] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(now_ms.to_be_bytes());
    let digest = h.finalize();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("a-{hex}")
}

/// One copy-paste line: SigV4-sign the request with the caller's credentials (curl 7.75+) and
/// send it to the function URL, which the AWS CLI looks up. Every value is shell-quoted.
pub fn command(request: &ApprovalRequest, target: &ApprovalTarget) -> String {
    let body = serde_json::to_string(request).unwrap_or_default();
    format!(
        "curl --silent --show-error --aws-sigv4 {} --user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\" -H \"x-amz-security-token: $AWS_SESSION_TOKEN\" -H 'content-type: application/json' --data {} \"$(aws lambda get-function-url-config --region {} --function-name {} --query FunctionUrl --output text)\"",
        quote(&format!("aws:amz:{}:lambda", target.region)),
        quote(&body),
        quote(&target.region),
        quote(&target.function_name),
    )
}

/// Why an approval is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The decision made now yields another plan (or none).
    PlanChanged,
    Expired,
    AlreadyUsed,
    /// A guardrail or pre-flight check holds the plan back now.
    Blocked,
}

impl Refusal {
    pub fn code(self) -> crate::DecisionCode {
        match self {
            Refusal::PlanChanged => crate::DecisionCode::PlanChanged,
            Refusal::Expired => crate::DecisionCode::ApprovalExpired,
            Refusal::AlreadyUsed => crate::DecisionCode::ApprovalUsed,
            Refusal::Blocked => crate::DecisionCode::ApprovalBlocked,
        }
    }
}

/// What the decision made at redemption time says about the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Now {
    /// It would propose a plan for approval, with this digest.
    Approvable { digest: String },
    /// It holds the plan back (guardrail, blocker, mode, a finding no longer actionable).
    HeldBack,
    /// The cluster is compliant now: there is no plan any more.
    NothingToDo,
}

/// The redemption rule, before the single-use write: used, then expired, then held back, then
/// the digest. The order makes the answer stable: a used approval stays `already_used`.
pub fn judge(stored: &StoredApproval, now: &Now, now_ms: i64) -> Result<(), Refusal> {
    if stored.used_by.is_some() {
        return Err(Refusal::AlreadyUsed);
    }
    if now_ms >= stored.expires_ms {
        return Err(Refusal::Expired);
    }
    match now {
        Now::HeldBack => Err(Refusal::Blocked),
        Now::NothingToDo => Err(Refusal::PlanChanged),
        Now::Approvable { digest } if *digest != stored.plan_digest => Err(Refusal::PlanChanged),
        Now::Approvable { .. } => Ok(()),
    }
}

/// Whether the request names the stored approval exactly (a tampered digest or a request made
/// for another function or finding does not).
pub fn matches(request: &ApprovalRequest, stored: &StoredApproval) -> bool {
    request.approval_id == stored.approval_id
        && request.function == stored.function
        && request.cluster_arn == stored.cluster_arn
        && request.metadata_uid == stored.metadata_uid
        && request.plan_digest == stored.plan_digest
}

/// Whether the finding goes back to New after this report: an approved apply of an earlier
/// stage (the next stage is then proposed, with its own approval, on the next evaluation).
pub fn reopens_for_next_stage(report: &crate::Report) -> bool {
    report.outcome == crate::Outcome::Applied
        && report
            .approval
            .as_ref()
            .is_some_and(|a| a.approved_by.is_some())
        && report.stage.is_some_and(|s| !s.is_last())
}

/// The approval in the e-mail: the command (no link: mail scanners follow links) or who approved.
pub fn push_email_lines(text: &mut String, report: &crate::Report) {
    let Some(a) = &report.approval else {
        return;
    };
    if let Some(by) = &a.approved_by {
        text.push_str(&format!("\nApproval {} by {by}.\n", a.id));
    }
    let offer = a.fresh.as_deref().unwrap_or(a);
    if let Some(command) = &offer.command {
        text.push_str(&format!(
            "\nTo apply exactly this plan, once, until {} (needs the stack's ApproverPolicy; the plan is decided again first):\n  {command}\n",
            offer.expires
        ));
    }
}

#[cfg(test)]
mod pipeline_tests;
#[cfg(test)]
mod tests;
