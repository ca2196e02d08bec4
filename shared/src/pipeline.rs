//! gate → guardrails → evaluate → plan → act → verify → record → notify → report.
//! Each function supplies only `assess` (evaluate + plan) and `apply`; the rest is here, once.

use serde::Serialize;

use crate::aws::eks::{ClusterState, describe_cluster};
use crate::aws::{AwsError, ClusterAccess, ClusterSession, FaultKind};
use crate::config::{CommonConfig, Mode};
use crate::event::exposure::Trait;
use crate::event::gate::{Exposure, Gate, IncomingEvent, InvalidFinding, SkipReason, gate};
use crate::guardrails::{ModeDecision, decide_mode, one_way_door_consent};
use crate::output::notify::{SnsNotifier, render};
use crate::output::record::{FindingRecorder, record_for};
use crate::output::report::{
    Blocker, DecisionCode, Effect, Outcome, PlanStep, Priority, ReasonCode, Report, Revert, Stage,
};

/// What a function knows about the live cluster, and its verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment<A> {
    pub live_state: serde_json::Value,
    pub facts: Vec<String>,
    pub not_checked: Vec<String>,
    pub notes: Vec<String>,
    pub details: Option<serde_json::Value>,
    pub details_text: Vec<String>,
    pub priority: Option<Priority>,
    pub verdict: Verdict<A>,
}

impl<A> Default for Assessment<A> {
    fn default() -> Self {
        Assessment {
            live_state: serde_json::Value::Null,
            facts: Vec::new(),
            not_checked: Vec::new(),
            notes: Vec::new(),
            details: None,
            details_text: Vec::new(),
            priority: None,
            verdict: Verdict::Compliant(String::new()),
        }
    }
}

/// What the function concluded from the live cluster.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict<A> {
    /// The live cluster does not have the exposure, and why.
    Compliant(String),
    /// A change the responder makes in apply mode: `apply` receives the plan's action.
    Act(Plan<A>),
    /// A plan no cluster API applies: it is handed to the people and pipelines subscribed.
    HandOff(Plan<()>),
}

impl<A> Verdict<A> {
    /// The blockers of the plan, if there is one.
    pub fn blockers(&self) -> &[Blocker] {
        match self {
            Verdict::Compliant(_) => &[],
            Verdict::Act(p) => &p.blockers,
            Verdict::HandOff(p) => &p.blockers,
        }
    }
}

/// The action of a function that never changes a cluster: it cannot be built, so such a
/// function can only hand its plan off, and its `apply` is `match *action {}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandOff {}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan<A> {
    /// One sentence: what the plan does.
    pub summary: String,
    pub steps: Vec<PlanStep>,
    pub follow_ups: Vec<PlanStep>,
    pub blockers: Vec<Blocker>,
    pub revert: Option<Revert>,
    pub irreversible: bool,
    pub stage: Option<Stage>,
    /// What `apply` does, as the function planned it.
    pub action: A,
}

impl<A> Plan<A> {
    /// Put the plan into the report; what remains is its summary and action.
    fn into_report(self, report: &mut Report) -> (String, A) {
        report.plan = self.steps;
        report.follow_ups = self.follow_ups;
        report.blockers = self.blockers;
        report.revert = self.revert;
        report.irreversible = self.irreversible;
        report.stage = self.stage;
        (self.summary, self.action)
    }
}

/// The result of an apply: the update started and how it was verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub update_id: Option<String>,
    pub verification: String,
    /// The update was accepted but EKS reports it failed or cancelled.
    pub failed: bool,
}

/// What the pipeline hands a function: the exposure and the live situation of its cluster.
pub struct Situation<'a> {
    pub exposure: &'a Exposure,
    pub cluster: &'a ClusterState,
    pub session: &'a ClusterSession,
    pub mode: &'a ModeDecision,
}

/// Why a function could not assess or apply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RemediationError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The live cluster lacks what the decision needs (e.g. DescribeCluster gave no version).
    #[error("{operation} failed (no error code): {message}")]
    LiveState {
        operation: &'static str,
        message: String,
    },
    /// An irreversible call refused by its own last check, before it was made.
    #[error("{operation} failed (no error code): not called: {why}")]
    NotCalled {
        operation: &'static str,
        why: String,
    },
}

impl RemediationError {
    /// What the pipeline does with it: the same as with an AWS fault of this kind.
    pub fn kind(&self) -> FaultKind {
        match self {
            RemediationError::Aws(e) => e.kind,
            RemediationError::LiveState { .. } => FaultKind::Other,
            RemediationError::NotCalled { .. } => FaultKind::Invalid,
        }
    }

    fn operation(&self) -> &'static str {
        match self {
            RemediationError::Aws(e) => e.operation,
            RemediationError::LiveState { operation, .. }
            | RemediationError::NotCalled { operation, .. } => operation,
        }
    }
}

/// One remediation topic.
#[allow(async_fn_in_trait)] // handlers run on the Lambda runtime's single task; no Send needed
pub trait Remediation {
    /// What `apply` does, as `assess` planned it ([`HandOff`] for a function that changes nothing).
    type Action;
    const FUNCTION: &'static str;
    const OWNS: &'static [Trait];
    /// Whether the fix changes the cluster (and so needs it ACTIVE, deferring otherwise).
    const MUTATES: bool = true;
    /// Whether every change of this function is a one-way door (applied only with the cluster
    /// owner's consent tag), even where its plan is not marked irreversible.
    const ONE_WAY_DOOR: bool = false;

    /// Evaluate live state and decide. Transient errors are returned; anything the function can
    /// live without goes into `not_checked` instead.
    async fn assess(
        &self,
        situation: &Situation<'_>,
    ) -> Result<Assessment<Self::Action>, RemediationError>;

    /// Carry out the planned action (only for a plan with no blockers, in effective mode
    /// `apply`) and verify it.
    async fn apply(
        &self,
        situation: &Situation<'_>,
        action: &Self::Action,
    ) -> Result<Applied, RemediationError>;
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

fn failed(base: Report, err: &RemediationError, what: &str) -> Report {
    let advice = crate::aws::advice(err.kind(), err.operation())
        .map(|a| format!(" {a}"))
        .unwrap_or_default();
    base.with_outcome(
        Outcome::Failed,
        ReasonCode::Failed(err.kind()),
        format!("{what}: {err}.{advice}"),
    )
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
            return Ok(base.with_outcome(
                Outcome::Failed,
                DecisionCode::ClusterUnreachable,
                e.to_string(),
            ));
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
        (None, Err(e)) => return Ok(failed(base, &e.into(), "could not read the live cluster")),
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
            DecisionCode::ClusterNotActive,
            format!(
                "the cluster is {} (not ACTIVE), most likely another update is in progress; the responder re-evaluates on the next delivery of this finding",
                cluster.status
            ),
        ));
    }
    let situation = Situation {
        exposure,
        cluster: &cluster,
        session: &session,
        mode: &mode,
    };
    let assessment = match remediation.assess(&situation).await {
        Ok(a) => a,
        Err(RemediationError::Aws(e)) if e.is_transient() => {
            return Err(ResponderError::Transient(e));
        }
        Err(e) => return Ok(failed(report, &e, "could not evaluate the cluster")),
    };
    report.live_state = assessment.live_state;
    report.facts = assessment.facts;
    report.not_checked.extend(assessment.not_checked);
    report.notes.extend(assessment.notes);
    report.details = assessment.details;
    report.details_text = assessment.details_text;
    report.priority = assessment.priority;
    // `None`: a hand-off, which nothing applies.
    let mut one_way_door = None;
    let (summary, action) = match assessment.verdict {
        Verdict::Compliant(reason) => {
            return Ok(report.with_outcome(
                Outcome::AlreadyCompliant,
                DecisionCode::AlreadyCompliant,
                reason,
            ));
        }
        Verdict::HandOff(plan) => (plan.into_report(&mut report).0, None),
        Verdict::Act(plan) => {
            if plan.irreversible || R::ONE_WAY_DOOR {
                one_way_door = Some(
                    plan.steps
                        .first()
                        .map_or_else(|| "this change".to_string(), |s| s.api_call.clone()),
                );
            }
            let (summary, action) = plan.into_report(&mut report);
            (summary, Some(action))
        }
    };
    if let Some(b) = report.blockers.iter().find(|b| b.defers).cloned() {
        return Ok(report.with_outcome(Outcome::Deferred, b.code, b.message));
    }
    let Some(action) = action else {
        return Ok(report.with_outcome(
            Outcome::Proposed,
            DecisionCode::HandOff,
            format!("{summary} — not applied: no cluster API applies this fix; it is handed to the people and pipelines subscribed"),
        ));
    };
    let no_consent = one_way_door
        .filter(|_| mode.effective == Mode::Apply)
        .and_then(|change| one_way_door_consent(&cluster.tags, &change).err());
    if let Some(why) = &no_consent {
        report.mode = Mode::Propose;
        report.held_back.push(why.clone());
    }
    if mode.effective != Mode::Apply || !report.blockers.is_empty() || no_consent.is_some() {
        let (code, why) = if let Some(first) = report.blockers.first() {
            (
                ReasonCode::Blocked(first.code),
                format!(
                    "the apply was refused by {} pre-flight check(s)",
                    report.blockers.len()
                ),
            )
        } else if let Some(why) = no_consent {
            (DecisionCode::Guardrail.into(), why)
        } else if mode.configured == Mode::Apply {
            (
                DecisionCode::Guardrail.into(),
                "a guardrail lowered the mode to propose".to_string(),
            )
        } else {
            (
                DecisionCode::ModePropose.into(),
                "the function runs in propose mode (MODE=propose)".to_string(),
            )
        };
        return Ok(report.with_outcome(
            Outcome::Proposed,
            code,
            format!("{summary} — not applied: {why}"),
        ));
    }
    match remediation.apply(&situation, &action).await {
        Ok(applied) => {
            report.update_id = applied.update_id.clone();
            report.verification = Some(applied.verification.clone());
            if applied.failed {
                Ok(report.with_outcome(
                    Outcome::Failed,
                    DecisionCode::UpdateFailed,
                    format!("{summary} — EKS accepted the update but it did not succeed: {}", applied.verification),
                ))
            } else {
                Ok(report.with_outcome(Outcome::Applied, DecisionCode::Applied, summary))
            }
        }
        Err(e) if e.kind() == FaultKind::InUse => Ok(report.with_outcome(
            Outcome::Deferred,
            DecisionCode::UpdateInProgress,
            format!(
                "EKS refused the change because another update is in progress ({e}); the responder re-evaluates on the next delivery of this finding"
            ),
        )),
        Err(RemediationError::Aws(e)) if e.is_transient() => Err(ResponderError::Transient(e)),
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
    crate::output::telemetry::log_decision(&report);
    if deps.emit_metrics {
        crate::output::telemetry::emit_metrics(&report);
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
