//! The approval's two ends in the pipeline: a proposal in `approve` mode gets its approval
//! ([`awaiting_approval`]); an approval sent back is redeemed ([`redeem`]): the whole decision
//! is made again on Security Hub's copy of the finding and the live cluster, and the plan is
//! applied only if it is the one approved, once.

use super::{
    Approval, ApprovalRequest, ApprovalTarget, Now, Refusal, StoredApproval, issue, judge, matches,
};
use crate::aws::ClusterAccess;
use crate::config::Mode;
use crate::event::gate::{Gate, IncomingEvent, SkipReason, gate};
use crate::ledger::decide::rfc3339;
use crate::ledger::{ApprovalStore, DecisionLedger, Ledger, LedgerSettings, plan_digest};
use crate::output::report::{DecisionCode, Effect, Outcome, Report};
use crate::pipeline::{
    Decided, Deps, Ready, Remediation, ResponderError, act, budget_for_change, evaluate, finish,
    notify, skipped,
};

/// Said again wherever a one-way door is proposed for approval or approved.
pub const ONE_WAY_DOOR: &str = "this change is a one-way door: once applied it cannot be undone (see the plan); approving it accepts that";

/// The proposal of a ready plan in `approve` mode, with its approval (stored with the decision
/// by the ledger). Without a ledger there is nowhere to keep it: the proposal carries none.
pub(crate) fn awaiting_approval<R: Remediation, A, L: DecisionLedger>(
    deps: &Deps<A, L>,
    ready: Ready<R::Action>,
) -> Report {
    let Ready {
        mut report,
        summary,
        one_way_door,
        ..
    } = ready;
    if one_way_door {
        report.notes.push(ONE_WAY_DOOR.to_string());
    }
    let Some(ledger) = &deps.ledger else {
        return report.with_outcome(
            Outcome::Proposed,
            DecisionCode::LedgerUnavailable,
            format!(
                "{summary} — not applied: approvals are kept in the decision ledger (LEDGER_TABLE), which is not configured, so this proposal carries no approval"
            ),
        );
    };
    let approval = new_approval(R::FUNCTION, &report, ledger);
    let until = approval.expires.clone();
    report.approval = Some(approval);
    report.with_outcome(
        Outcome::Proposed,
        DecisionCode::AwaitingApproval,
        format!(
            "{summary} — not applied: waiting for an approver (MODE=approve); the approval applies exactly this plan, once, until {until}"
        ),
    )
}

fn new_approval<L: DecisionLedger>(
    function: &str,
    report: &Report,
    ledger: &Ledger<L>,
) -> Approval {
    issue(
        function,
        &report.cluster.arn,
        &report.finding.metadata_uid,
        &plan_digest(&report.plan),
        ledger.now(),
        ledger.settings.approval_expiry_days,
        &target(function, report, &ledger.settings),
    )
}

/// Outside Lambda (no `AWS_LAMBDA_FUNCTION_NAME`): the package name and the cluster's Region.
fn target(function: &str, report: &Report, settings: &LedgerSettings) -> ApprovalTarget {
    settings
        .approval_target
        .clone()
        .unwrap_or_else(|| ApprovalTarget {
            function_name: function.to_string(),
            region: report.cluster.region.clone(),
        })
}

/// What a redemption ended in.
#[derive(Debug)]
pub enum Redeemed {
    /// The resulting report: `applied`, or refused with its reason code.
    Report(Box<Report>),
    /// Refused before any finding or cluster was read (`code` says why).
    Refused {
        status: u16,
        code: &'static str,
        message: String,
    },
}

impl Redeemed {
    fn refused(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Redeemed::Refused {
            status,
            code,
            message: message.into(),
        }
    }
}

/// Redeem `request`, sent by the IAM principal `approver`.
pub async fn redeem<R, A, L>(
    remediation: &R,
    deps: &Deps<A, L>,
    request: &ApprovalRequest,
    approver: &str,
    home_account: Option<&str>,
) -> Redeemed
where
    R: Remediation,
    A: ClusterAccess,
    L: DecisionLedger + ApprovalStore,
{
    let Some(ledger) = &deps.ledger else {
        return Redeemed::refused(
            503,
            "approvals_unavailable",
            "approvals are kept in the decision ledger (LEDGER_TABLE), which is not configured",
        );
    };
    if request.function != R::FUNCTION {
        return Redeemed::refused(
            400,
            "wrong_function",
            format!(
                "this is {}; the approval is for {}",
                R::FUNCTION,
                request.function
            ),
        );
    }
    let stored = match ledger
        .store
        .approval(&request.cluster_arn, &request.approval_id)
        .await
    {
        Ok(Some(a)) if matches(request, &a) => a,
        Ok(_) => {
            return Redeemed::refused(
                404,
                "unknown_approval",
                "the decision ledger holds no approval with this id for this function, finding and plan digest",
            );
        }
        Err(e) => {
            return Redeemed::refused(
                503,
                "ledger_unavailable",
                format!("the approval could not be read ({e}); nothing was changed, try again"),
            );
        }
    };
    tracing::info!(function = R::FUNCTION, approval = %stored.approval_id, approver, "approval received");
    match decide_again(remediation, deps, ledger, &stored, approver, home_account).await {
        Ok(report) => Redeemed::Report(Box::new(report)),
        Err(e) => {
            // After the single-use write the approval stays used, whatever the change did.
            let used = matches!(
                ledger.store.approval(&stored.cluster_arn, &stored.approval_id).await,
                Ok(Some(a)) if a.used_by.as_deref() == Some(approver)
            );
            let message = if used {
                format!(
                    "{e}: the approval {} was used but the change was not confirmed; check the cluster, and set the finding back to New to have it proposed again",
                    stored.approval_id
                )
            } else {
                format!(
                    "{e}; nothing was changed and the approval {} is unused: try again",
                    stored.approval_id
                )
            };
            tracing::error!(function = R::FUNCTION, approval = %stored.approval_id, approver, error = %e, "approval not completed");
            Redeemed::refused(503, e.error_type(), message)
        }
    }
}

/// Make the decision again on Security Hub's copy and the live cluster; apply if the approval
/// still holds, else refuse (and tell the subscribers).
async fn decide_again<R, A, L>(
    remediation: &R,
    deps: &Deps<A, L>,
    ledger: &Ledger<L>,
    stored: &StoredApproval,
    approver: &str,
    home_account: Option<&str>,
) -> Result<Report, ResponderError>
where
    R: Remediation,
    A: ClusterAccess,
    L: DecisionLedger + ApprovalStore,
{
    let copy = match deps.recorder.read(&stored.metadata_uid).await {
        Ok(Some(copy)) => copy,
        Ok(None) => {
            return Err(ResponderError::InvalidFinding(
                crate::InvalidFinding::Missing {
                    path: "$.metadata_uid".into(),
                    what: format!(
                        "a finding Security Hub holds with metadata uid {} (none is held any more)",
                        stored.metadata_uid
                    ),
                },
            ));
        }
        Err(e) => return Err(ResponderError::Transient(e)),
    };
    let region = ledger
        .settings
        .approval_target
        .as_ref()
        .map(|t| t.region.clone());
    let event = authoritative_event(copy, region.as_deref());
    let parsed = event.parse()?;
    let (exposure, skip) = match gate(&parsed, R::OWNS)? {
        Gate::Actionable(e) => (e, None),
        // The proposal itself set the finding In Progress.
        Gate::Skip(e, SkipReason::NotNew { status }) if status == "In Progress" => (e, None),
        Gate::Skip(e, reason) => (e, Some(reason)),
    };
    if exposure.cluster.arn != stored.cluster_arn {
        return Err(ResponderError::InvalidFinding(
            crate::InvalidFinding::Unexpected {
                path: "$.detail.findings[0].resources".into(),
                expected: stored.cluster_arn.clone(),
                found: exposure.cluster.arn.clone(),
            },
        ));
    }
    let configured = deps.config.mode;
    let base = Report::new(R::FUNCTION, &exposure, configured, configured);
    let skip = skip.or_else(|| {
        (!deps.config.account_allowed(&exposure.cluster.account)).then(|| {
            SkipReason::AccountNotAllowed {
                account: exposure.cluster.account.clone(),
            }
        })
    });
    let decided = match skip {
        Some(reason) => Decided::Done(Box::new(skipped(base, &reason))),
        None => evaluate(remediation, deps, &exposure, base, home_account).await?,
    };
    let now = match &decided {
        Decided::Ready(r) if r.mode.effective >= Mode::Approve => Now::Approvable {
            digest: plan_digest(&r.report.plan),
        },
        Decided::Ready(_) => Now::HeldBack,
        Decided::Done(r) if r.outcome == Outcome::AlreadyCompliant => Now::NothingToDo,
        Decided::Done(_) => Now::HeldBack,
    };
    let refusal = judge(stored, &now, ledger.now());
    let mut ready = match (decided, refusal) {
        (Decided::Ready(ready), Ok(())) => *ready,
        (decided, Err(refusal)) => {
            return refuse::<R, A, L>(deps, ledger, decided, stored, approver, refusal).await;
        }
        (Decided::Done(report), Ok(())) => {
            // `judge` accepts only a ready plan; kept total rather than trusted.
            return refuse::<R, A, L>(
                deps,
                ledger,
                Decided::Done(report),
                stored,
                approver,
                Refusal::Blocked,
            )
            .await;
        }
    };
    budget_for_change()?;
    // Exactly once: of concurrent redemptions, one write succeeds.
    let used = ledger
        .store
        .use_approval(
            &stored.cluster_arn,
            &stored.approval_id,
            approver,
            ledger.now(),
        )
        .await
        .map_err(ResponderError::Transient)?;
    if !used {
        let refusal = match ledger
            .store
            .approval(&stored.cluster_arn, &stored.approval_id)
            .await
        {
            Ok(Some(now)) if now.used_by.is_none() => Refusal::Expired,
            _ => Refusal::AlreadyUsed,
        };
        return refuse::<R, A, L>(
            deps,
            ledger,
            Decided::Ready(Box::new(ready)),
            stored,
            approver,
            refusal,
        )
        .await;
    }
    let one_way_door = ready.one_way_door;
    // The approval is the consent for this one plan: it is applied as in `apply` mode.
    ready.mode.effective = Mode::Apply;
    let mut report = act(remediation, deps, &exposure, ready).await?;
    report.approval = Some(presented(stored, approver));
    if one_way_door {
        report.notes.push(ONE_WAY_DOOR.to_string());
    }
    report.reason = format!(
        "approved by {approver} (approval {}): {}",
        stored.approval_id, report.reason
    );
    finish(
        deps,
        report,
        Some(&format!("approval#{}", stored.approval_id)),
    )
    .await
}

/// The approval as presented, with who presented it.
fn presented(stored: &StoredApproval, approver: &str) -> Approval {
    Approval {
        id: stored.approval_id.clone(),
        plan_digest: stored.plan_digest.clone(),
        expires: rfc3339(stored.expires_ms),
        command: None,
        request: None,
        approved_by: Some(approver.to_string()),
        fresh: None,
        expires_ms: stored.expires_ms,
    }
}

/// The refusal report: the decision made now, the reason code of the refusal, and (for a plan
/// that changed and can be approved) a fresh approval. It changes nothing, so nothing is
/// recorded on the finding or in the ledger's decisions; the subscribers are told.
async fn refuse<R, A, L>(
    deps: &Deps<A, L>,
    ledger: &Ledger<L>,
    decided: Decided<R::Action>,
    stored: &StoredApproval,
    approver: &str,
    refusal: Refusal,
) -> Result<Report, ResponderError>
where
    R: Remediation,
    L: DecisionLedger + ApprovalStore,
{
    let mut approval = presented(stored, approver);
    let (mut report, now_reason) = match decided {
        Decided::Done(report) => {
            let reason = report.reason.clone();
            (*report, reason)
        }
        Decided::Ready(ready) => {
            let Ready {
                mut report,
                summary,
                one_way_door,
                ..
            } = *ready;
            if one_way_door {
                report.notes.push(ONE_WAY_DOOR.to_string());
            }
            report.outcome = Outcome::Proposed;
            if refusal == Refusal::PlanChanged {
                let fresh = new_approval(R::FUNCTION, &report, ledger);
                let item = StoredApproval {
                    approval_id: fresh.id.clone(),
                    function: R::FUNCTION.to_string(),
                    cluster_arn: report.cluster.arn.clone(),
                    metadata_uid: report.finding.metadata_uid.clone(),
                    plan_digest: fresh.plan_digest.clone(),
                    decision_id: stored.decision_id.clone(),
                    created_ms: ledger.now(),
                    expires_ms: fresh.expires_ms,
                    used_by: None,
                    used_ms: None,
                };
                match ledger
                    .store
                    .put_approval(&item, ledger.settings.expires_at(ledger.now()))
                    .await
                {
                    Ok(()) => approval.fresh = Some(Box::new(fresh)),
                    Err(e) => report.not_checked.push(format!(
                        "a fresh approval for the new plan could not be stored ({e}); the next delivery of the finding proposes it again"
                    )),
                }
            }
            (report, summary)
        }
    };
    let why = match refusal {
        Refusal::PlanChanged => "the decision made now yields another plan than the one approved",
        Refusal::Expired => "the approval has expired",
        Refusal::AlreadyUsed => "the approval was already used",
        Refusal::Blocked => {
            "a guardrail or pre-flight check holds the plan back now, or there is nothing to apply"
        }
    };
    report.reason = format!(
        "approval {} by {approver} refused ({}): {why}; nothing was changed. Now: {now_reason}",
        stored.approval_id,
        refusal.code()
    );
    report.reason_code = refusal.code().into();
    report.approval = Some(approval);
    report.finding_update = Effect::not_attempted(
        "a refused approval changes nothing: nothing is recorded on the finding",
    );
    tracing::warn!(function = R::FUNCTION, approval = %stored.approval_id, approver, refusal = %refusal.code(), "approval refused");
    notify(deps, report, None).await
}

/// An EventBridge-shaped event around Security Hub's copy of the finding, so that the gate
/// reads it exactly as it reads an event.
fn authoritative_event(copy: serde_json::Value, region: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": "approval",
        "detail-type": crate::event::gate::DETAIL_TYPE,
        "source": crate::event::gate::SOURCE,
        "region": region,
        "resources": [],
        "detail": { "findings": [copy] },
    })
}
