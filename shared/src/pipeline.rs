//! gate → guardrails → evaluate → plan → act → verify → record → notify → report.
//! Each function supplies only `assess` (evaluate + plan) and `apply`; the rest is here, once.

use serde::Serialize;

use crate::aws::{AwsError, ClusterAccess, ClusterSession, FaultKind};
use crate::config::{CommonConfig, Mode};
use crate::eks::{ClusterState, describe_cluster};
use crate::gate::{Exposure, Gate, IncomingEvent, InvalidFinding, SkipReason, gate};
use crate::guardrails::{ModeDecision, decide_mode};
use crate::notify::{SnsNotifier, render};
use crate::record::{FindingRecorder, record_for};
use crate::report::{Blocker, Effect, Outcome, PlanStep, Report, Revert, Stage};
use crate::traits::Trait;

/// What a function knows about the live cluster, and what it would do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Assessment {
    pub live_state: serde_json::Value,
    pub facts: Vec<String>,
    pub not_checked: Vec<String>,
    pub notes: Vec<String>,
    pub details: Option<serde_json::Value>,
    pub details_text: Vec<String>,
    pub priority: Option<&'static str>,
    /// `None`: the live cluster does not have the exposure (the reason is in `compliant_reason`).
    pub plan: Option<Plan>,
    pub compliant_reason: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// One sentence: what the plan does.
    pub summary: String,
    pub steps: Vec<PlanStep>,
    pub follow_ups: Vec<PlanStep>,
    pub blockers: Vec<Blocker>,
    pub revert: Option<Revert>,
    pub irreversible: bool,
    pub stage: Option<Stage>,
    /// False where no API applies the fix (container images): the plan is a hand-off.
    pub applicable: bool,
}

/// The result of an apply: the update started and how it was verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub update_id: Option<String>,
    pub verification: String,
    /// The update was accepted but EKS reports it failed or cancelled.
    pub failed: bool,
}

/// What the pipeline hands a function.
pub struct Context<'a> {
    pub exposure: &'a Exposure,
    pub cluster: &'a ClusterState,
    pub session: &'a ClusterSession,
    pub mode: &'a ModeDecision,
}

/// One remediation topic.
#[allow(async_fn_in_trait)] // handlers run on the Lambda runtime's single task; no Send needed
pub trait Remediation {
    const FUNCTION: &'static str;
    const OWNS: &'static [Trait];
    /// Whether the fix changes the cluster (and so needs it ACTIVE, deferring otherwise).
    const MUTATES: bool = true;

    /// Evaluate live state and plan. Transient errors are returned; anything the function can
    /// live without goes into `not_checked` instead.
    async fn assess(&self, ctx: &Context<'_>) -> Result<Assessment, AwsError>;

    /// Apply a plan with no blockers, in effective mode `apply`, and verify it.
    async fn apply(&self, ctx: &Context<'_>, plan: &Plan) -> Result<Applied, AwsError>;
}

/// An error the Lambda runtime reports, so EventBridge retries and then dead-letters the event.
#[derive(Debug, thiserror::Error)]
pub enum ResponderError {
    #[error("invalid finding: {0}")]
    InvalidFinding(#[from] InvalidFinding),
    #[error("AWS is failing transiently, retry later: {0}")]
    Transient(AwsError),
}

impl ResponderError {
    pub fn error_type(&self) -> &'static str {
        match self {
            ResponderError::InvalidFinding(_) => "InvalidFinding",
            ResponderError::Transient(_) => "AwsTransientError",
        }
    }
}

impl From<ResponderError> for lambda_runtime::Diagnostic {
    fn from(e: ResponderError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// The AWS effects the pipeline needs.
pub struct Deps<A> {
    pub config: CommonConfig,
    pub access: A,
    pub notifier: SnsNotifier,
    pub recorder: FindingRecorder,
    /// Print EMF metric lines to stdout (on in Lambda; off where a test loop would flood it).
    pub emit_metrics: bool,
}

/// Handle one event end to end.
pub async fn respond<R: Remediation, A: ClusterAccess>(
    remediation: &R,
    deps: &Deps<A>,
    event: impl IncomingEvent,
    home_account: Option<&str>,
) -> Result<Report, ResponderError> {
    let event = event.parse()?;
    let (exposure, skip) = match gate(&event, R::OWNS)? {
        Gate::Actionable(e) => (e, None),
        Gate::Skip(e, reason) => (e, Some(reason)),
    };
    let configured = deps.config.mode;
    let base = Report::new(R::FUNCTION, &exposure, configured, configured);
    let skip = skip.or_else(|| {
        (!deps.config.account_allowed(&exposure.cluster.account)).then(|| {
            SkipReason::AccountNotAllowed {
                account: exposure.cluster.account.clone(),
            }
        })
    });
    if let Some(reason) = skip {
        return finish(deps, skipped(base, &reason)).await;
    }
    let report = decide(remediation, deps, &exposure, base, home_account).await?;
    finish(deps, report).await
}

fn skipped(base: Report, reason: &SkipReason) -> Report {
    let mut r = base.with_outcome(Outcome::Skipped, reason.code(), reason.describe());
    r.finding_update = Effect::not_attempted("nothing is recorded on a skipped finding");
    r
}

fn failed(base: Report, err: &AwsError, what: &str) -> Report {
    let advice = match err.kind {
        FaultKind::AccessDenied => format!(
            " Grant the function's role (or the member role) permission for {}.",
            err.operation
        ),
        FaultKind::NotImplemented => " The endpoint does not implement this call.".to_string(),
        _ => String::new(),
    };
    base.with_outcome(
        Outcome::Failed,
        &format!("{}_failed", fault_code(err)),
        format!("{what}: {err}.{advice}"),
    )
}

fn fault_code(err: &AwsError) -> &'static str {
    match err.kind {
        FaultKind::AccessDenied => "access_denied",
        FaultKind::NotFound => "not_found",
        FaultKind::InUse => "in_use",
        FaultKind::Invalid => "invalid_request",
        FaultKind::NotImplemented => "not_implemented",
        FaultKind::Transient => "transient",
        FaultKind::Other => "aws",
    }
}

/// Live state, guardrails, plan and action; every path ends in a report or a retryable error.
async fn decide<R: Remediation, A: ClusterAccess>(
    remediation: &R,
    deps: &Deps<A>,
    exposure: &Exposure,
    base: Report,
    home_account: Option<&str>,
) -> Result<Report, ResponderError> {
    // A function that changes nothing on the cluster (a hand-off) needs the live cluster only for
    // its mode tag: if the cluster cannot be read it still hands off, and says what it could not
    // check, rather than lose the message.
    let mut unread = None;
    let session = match deps.access.session(&exposure.cluster, home_account).await {
        Ok(s) => s,
        Err(e) if !R::MUTATES => {
            unread = Some(e.to_string());
            deps.access.home_session(&exposure.cluster)
        }
        Err(e) => {
            return Ok(base.with_outcome(Outcome::Failed, "cluster_unreachable", e.to_string()));
        }
    };
    let cluster = match (
        &unread,
        describe_cluster(&session.eks, &exposure.cluster.name).await,
    ) {
        (Some(_), _) => ClusterState::unread(&exposure.cluster.name),
        (None, Ok(Some(c))) => c,
        (None, Ok(None)) => return Ok(skipped(base, &SkipReason::ClusterNotFound)),
        (None, Err(e)) if e.is_transient() => return Err(ResponderError::Transient(e)),
        (None, Err(e)) if !R::MUTATES => {
            unread = Some(e.to_string());
            ClusterState::unread(&exposure.cluster.name)
        }
        (None, Err(e)) => return Ok(failed(base, &e, "could not read the live cluster")),
    };
    let mode = decide_mode(
        deps.config.mode,
        &cluster.tags,
        deps.config.apply_to_iac_managed,
    );
    let mut report = base;
    report.mode = mode.effective;
    report.held_back = mode.held_back.clone();
    if let Some(why) = unread {
        report.not_checked.push(format!(
            "the live cluster could not be read ({why}), so its {} tag and status were not checked",
            crate::guardrails::MODE_TAG
        ));
    }
    if let Some(role) = &session.assumed_role {
        report
            .notes
            .push(format!("reached the cluster through {role}"));
    }
    if mode.effective == Mode::Ignore {
        return Ok(skipped(report, &SkipReason::IgnoredByTag));
    }
    if R::MUTATES && !cluster.is_active() {
        report.live_state = serde_json::json!({ "status": cluster.status });
        return Ok(report.with_outcome(
            Outcome::Deferred,
            "cluster_not_active",
            format!(
                "the cluster is {} (not ACTIVE), most likely another update is in progress; the responder re-evaluates on the next delivery of this finding",
                cluster.status
            ),
        ));
    }
    let ctx = Context {
        exposure,
        cluster: &cluster,
        session: &session,
        mode: &mode,
    };
    let assessment = match remediation.assess(&ctx).await {
        Ok(a) => a,
        Err(e) if e.is_transient() => return Err(ResponderError::Transient(e)),
        Err(e) => return Ok(failed(report, &e, "could not evaluate the cluster")),
    };
    report.live_state = assessment.live_state;
    report.facts = assessment.facts;
    report.not_checked.extend(assessment.not_checked);
    report.notes.extend(assessment.notes);
    report.details = assessment.details;
    report.details_text = assessment.details_text;
    report.priority = assessment.priority;
    let Some(plan) = assessment.plan else {
        return Ok(report.with_outcome(
            Outcome::AlreadyCompliant,
            "already_compliant",
            assessment.compliant_reason,
        ));
    };
    report.plan = plan.steps.clone();
    report.follow_ups = plan.follow_ups.clone();
    report.blockers = plan.blockers.clone();
    report.revert = plan.revert.clone();
    report.irreversible = plan.irreversible;
    report.stage = plan.stage;

    if let Some(b) = plan.blockers.iter().find(|b| b.defers) {
        return Ok(report.with_outcome(Outcome::Deferred, &b.code, b.message.clone()));
    }
    if mode.effective != Mode::Apply || !plan.applicable || !plan.blockers.is_empty() {
        let (code, why) = if !plan.applicable {
            (
                "hand_off".to_string(),
                "no cluster API applies this fix; it is handed to the people and pipelines subscribed".to_string(),
            )
        } else if !plan.blockers.is_empty() {
            (
                plan.blockers[0].code.clone(),
                format!(
                    "the apply was refused by {} pre-flight check(s)",
                    plan.blockers.len()
                ),
            )
        } else if mode.configured == Mode::Apply {
            (
                "guardrail".to_string(),
                "a guardrail lowered the mode to propose".to_string(),
            )
        } else {
            (
                "mode_propose".to_string(),
                "the function runs in propose mode (MODE=propose)".to_string(),
            )
        };
        return Ok(report.with_outcome(
            Outcome::Proposed,
            &code,
            format!("{} — not applied: {why}", plan.summary),
        ));
    }
    match remediation.apply(&ctx, &plan).await {
        Ok(applied) => {
            report.update_id = applied.update_id.clone();
            report.verification = Some(applied.verification.clone());
            if applied.failed {
                Ok(report.with_outcome(
                    Outcome::Failed,
                    "update_failed",
                    format!("{} — EKS accepted the update but it did not succeed: {}", plan.summary, applied.verification),
                ))
            } else {
                Ok(report.with_outcome(Outcome::Applied, "applied", plan.summary))
            }
        }
        Err(e) if e.kind == FaultKind::InUse => Ok(report.with_outcome(
            Outcome::Deferred,
            "update_in_progress",
            format!(
                "EKS refused the change because another update is in progress ({e}); the responder re-evaluates on the next delivery of this finding"
            ),
        )),
        Err(e) if e.is_transient() => Err(ResponderError::Transient(e)),
        Err(e) => Ok(failed(report, &e, "the change was refused")),
    }
}

/// Record on the finding, notify, log, count. A failed record is reported, never raised. A
/// notification that failed transiently is raised (so EventBridge retries the event) only when
/// nothing was changed on the cluster: then the message is the whole result and must not be lost,
/// and a retry repeats nothing but the read, the record and the message. After an apply it is
/// reported instead, so a retry cannot turn "applied" into "deferred" behind the operator's back.
async fn finish<A>(deps: &Deps<A>, mut report: Report) -> Result<Report, ResponderError> {
    if report.outcome != Outcome::Skipped {
        report.finding_update = match record_for(&report) {
            None => Effect::not_attempted(format!(
                "nothing recorded (outcome {}): the finding stays New so it is evaluated again",
                report.outcome.id()
            )),
            Some(_) if !deps.config.update_findings => {
                Effect::not_attempted("UPDATE_FINDINGS=false: the finding was not updated")
            }
            Some(record) => match deps
                .recorder
                .record(&report.finding.metadata_uid, &record)
                .await
            {
                Ok(()) => Effect::done(
                    format!(
                        "comment added{}",
                        if record.status_id.is_some() {
                            " and status set to In Progress"
                        } else {
                            "; status left New for the next stage"
                        }
                    ),
                    None,
                ),
                Err(e) => {
                    tracing::error!(function = report.function, error = %e, "finding update failed");
                    Effect::failed(format!("the finding was not updated: {e}"))
                }
            },
        };
        let message = render(&report);
        report.notification = Some(match deps.notifier.publish(&message).await {
            Ok(id) => Effect::done(format!("published: {}", message.subject), Some(id)),
            Err(e) if e.is_transient() && report.outcome != Outcome::Applied => {
                tracing::error!(function = report.function, outcome = report.outcome.id(), error = %e, "notification failed; the event will be retried");
                return Err(ResponderError::Transient(e));
            }
            Err(e) => {
                tracing::error!(function = report.function, error = %e, "notification failed");
                Effect::failed(format!("the SNS message was not published: {e}"))
            }
        });
    } else {
        report.notification = Some(Effect::not_attempted("no message for a skipped finding"));
    }
    crate::telemetry::log_decision(&report);
    if deps.emit_metrics {
        crate::telemetry::emit_metrics(&report);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_errors_carry_an_error_type_operators_can_route_on() {
        let invalid = ResponderError::from(InvalidFinding::Missing {
            path: "$.detail.findings[0].metadata.uid".into(),
            what: "the finding's metadata uid".into(),
        });
        let d = lambda_runtime::Diagnostic::from(invalid);
        assert_eq!(d.error_type, "InvalidFinding");
        assert!(
            d.error_message
                .contains("$.detail.findings[0].metadata.uid")
        );

        let transient = ResponderError::Transient(AwsError {
            operation: "eks:DescribeCluster",
            kind: FaultKind::Transient,
            code: Some("ThrottlingException".into()),
            message: "Rate exceeded".into(),
        });
        let d = lambda_runtime::Diagnostic::from(transient);
        assert_eq!(d.error_type, "AwsTransientError");
        assert!(
            d.error_message
                .contains("eks:DescribeCluster failed (ThrottlingException): Rate exceeded")
        );
    }
}
