//! gate → guardrails → evaluate → plan → act → verify → record → notify → report.
//! Each function supplies only `assess` (evaluate + plan) and `apply`; the rest is here, once.

use serde::Serialize;

use crate::aws::eks::{ClusterState, describe_cluster};
use crate::aws::{AwsError, ClusterAccess, ClusterSession, FaultKind};
use crate::config::{CommonConfig, Mode};
use crate::event::exposure::Trait;
use crate::event::gate::{
    Exposure, Gate, IncomingEvent, InvalidFinding, SkipReason, check_envelope_account,
    confirm_json, gate,
};
use crate::guardrails::{ModeDecision, decide_mode, one_way_door_consent};
use crate::ledger::{ApplyGate, Claimed, DecisionLedger, DynamoLedger, Ledger, Settled};
use crate::output::notify::{SnsNotifier, render};
use crate::output::record::{FindingRecord, FindingRecorder, STATUS_IN_PROGRESS, record_for};
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
    /// The invocation had too little time left to make the change and still report it.
    #[error(
        "only {left_ms} ms of the invocation were left, fewer than the {needed_ms} ms a change and its report need; nothing was changed, retry later"
    )]
    OutOfTime { left_ms: u128, needed_ms: u128 },
}

impl ResponderError {
    pub fn error_type(&self) -> &'static str {
        match self {
            ResponderError::InvalidFinding(_) => "InvalidFinding",
            ResponderError::Transient(_) => "AwsTransientError",
            ResponderError::OutOfTime { .. } => "OutOfTime",
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
pub struct Deps<A, L = DynamoLedger> {
    pub config: CommonConfig,
    pub access: A,
    pub notifier: SnsNotifier,
    pub recorder: FindingRecorder,
    /// Print EMF metric lines to stdout (on in Lambda; off where a test loop would flood it).
    pub emit_metrics: bool,
    /// The decision ledger; `None` when `LEDGER_TABLE` is unset (local runs).
    pub ledger: Option<Ledger<L>>,
}

tokio::task_local! {
    /// When the invocation must have returned (the Lambda context's deadline), set by
    /// [`with_deadline`] around one event.
    static DEADLINE: std::time::Instant;
}

/// What a mutating call and the report after it need: the call's own operation timeout (every
/// client's bound) and a few seconds to verify, record and notify.
pub const CHANGE_RESERVE: std::time::Duration = std::time::Duration::from_secs(35);

/// Run `f` (one event) knowing the invocation's deadline, so no change starts that could not
/// finish and be reported before the function times out.
pub async fn with_deadline<F: std::future::Future>(
    deadline: std::time::Instant,
    f: F,
) -> F::Output {
    DEADLINE.scope(deadline, f).await
}

/// Time left before the invocation's deadline; `None` outside [`with_deadline`] (tests).
pub fn time_left() -> Option<std::time::Duration> {
    DEADLINE
        .try_with(|d| d.saturating_duration_since(std::time::Instant::now()))
        .ok()
}

/// `Err` when the invocation cannot fit a change and its report any more.
pub(crate) fn budget_for_change() -> Result<(), ResponderError> {
    match time_left() {
        Some(left) if left < CHANGE_RESERVE => Err(ResponderError::OutOfTime {
            left_ms: left.as_millis(),
            needed_ms: CHANGE_RESERVE.as_millis(),
        }),
        _ => Ok(()),
    }
}

/// Handle one event end to end.
pub async fn respond<R: Remediation, A: ClusterAccess, L: DecisionLedger>(
    remediation: &R,
    deps: &Deps<A, L>,
    event: impl IncomingEvent,
    home_account: Option<&str>,
) -> Result<Report, ResponderError> {
    let event = event.parse()?;
    let (exposure, skip) = match gate(&event, R::OWNS)? {
        Gate::Actionable(e) => (e, None),
        Gate::Skip(e, reason) => (e, Some(reason)),
    };
    // The Lambda runtime always names the function's own account; a caller without one (a
    // test driving the pipeline directly) has no envelope to check it against.
    if let Some(own) = home_account {
        check_envelope_account(&event, own)?;
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
    if let Some(reason) = skip {
        return finish(deps, skipped(base, &reason), None).await;
    }
    let report = decide(remediation, deps, &exposure, base, home_account).await?;
    finish(deps, report, exposure.modified_time.as_deref()).await
}

pub(crate) fn skipped(base: Report, reason: &SkipReason) -> Report {
    let mut r = base.with_outcome(Outcome::Skipped, reason.code(), reason.describe());
    r.finding_update = Effect::not_attempted("nothing is recorded on a skipped finding");
    r
}

/// Skipped, and still told: anyone who may tag the cluster can exempt it, so the exemption is
/// never silent. Low priority, so a subscription filter can route it away from the urgent.
fn ignored_by_tag(report: Report) -> Report {
    let mut r = skipped(report, &SkipReason::IgnoredByTag);
    r.priority = Some(Priority::Low);
    r
}

/// Whether a report is published: everything but a skip, except a cluster exempted by its tag.
fn is_told(report: &Report) -> bool {
    report.outcome != Outcome::Skipped
        || report.reason_code == ReasonCode::Decision(DecisionCode::IgnoredByTag)
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
async fn decide<R: Remediation, A: ClusterAccess, L: DecisionLedger>(
    remediation: &R,
    deps: &Deps<A, L>,
    exposure: &Exposure,
    base: Report,
    home_account: Option<&str>,
) -> Result<Report, ResponderError> {
    let ready = match evaluate(remediation, deps, exposure, base, home_account).await? {
        Decided::Done(report) => return Ok(*report),
        Decided::Ready(ready) => ready,
    };
    if ready.mode.effective == Mode::Approve {
        return Ok(crate::approval::redeem::awaiting_approval::<R, A, L>(
            deps, *ready,
        ));
    }
    budget_for_change()?;
    if let Some(why) = unconfirmed(deps, exposure, R::OWNS).await {
        let summary = ready.summary.clone();
        return Ok(ready.report.with_outcome(
            Outcome::Proposed,
            DecisionCode::Unconfirmed,
            format!("{summary} — not applied: {why}"),
        ));
    }
    act(remediation, deps, exposure, *ready).await
}

/// What [`evaluate`] concluded.
pub(crate) enum Decided<Act> {
    /// The report is final: nothing to apply (compliant, skipped, deferred, failed, or proposed
    /// because a guardrail or blocker holds the plan back or the mode is `propose`).
    Done(Box<Report>),
    /// A plan that may be applied now (`apply`) or once approved (`approve`).
    Ready(Box<Ready<Act>>),
}

/// A plan that passed every guardrail and pre-flight check, with what applying it needs.
pub(crate) struct Ready<Act> {
    pub report: Report,
    pub summary: String,
    pub action: Act,
    /// The change is a one-way door (irreversible plan, or a function whose every change is).
    pub one_way_door: bool,
    pub cluster: ClusterState,
    pub session: ClusterSession,
    pub mode: ModeDecision,
}

/// Live state, guardrails and plan: a final report, or a plan ready to apply.
pub(crate) async fn evaluate<R: Remediation, A: ClusterAccess, L: DecisionLedger>(
    remediation: &R,
    deps: &Deps<A, L>,
    exposure: &Exposure,
    base: Report,
    home_account: Option<&str>,
) -> Result<Decided<R::Action>, ResponderError> {
    let done = |r: Report| Ok(Decided::Done(Box::new(r)));
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
            if let Some(fault) = e.transient() {
                return Err(ResponderError::Transient(fault.clone()));
            }
            return done(base.with_outcome(
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
        (None, Ok(None)) => return done(skipped(base, &SkipReason::ClusterNotFound)),
        (None, Err(e)) if e.is_transient() => return Err(ResponderError::Transient(e)),
        (None, Err(e)) if !R::MUTATES => {
            unread = Some(e.to_string());
            ClusterState::unread(&exposure.cluster.name)
        }
        (None, Err(e)) => return done(failed(base, &e.into(), "could not read the live cluster")),
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
        return done(ignored_by_tag(report));
    }
    if R::MUTATES && !cluster.is_active() {
        report.live_state = serde_json::json!({ "status": cluster.status });
        return done(report.with_outcome(
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
        Err(e) => return done(failed(report, &e, "could not evaluate the cluster")),
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
            return done(report.with_outcome(
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
        return done(report.with_outcome(Outcome::Deferred, b.code, b.message));
    }
    let Some(action) = action else {
        return done(report.with_outcome(
            Outcome::Proposed,
            DecisionCode::HandOff,
            format!("{summary} — not applied: no cluster API applies this fix; it is handed to the people and pipelines subscribed"),
        ));
    };
    let is_one_way_door = one_way_door.is_some();
    let no_consent = one_way_door
        .filter(|_| mode.effective >= Mode::Approve)
        .and_then(|change| one_way_door_consent(&cluster.tags, &change).err());
    if let Some(why) = &no_consent {
        report.mode = Mode::Propose;
        report.held_back.push(why.clone());
    }
    if mode.effective < Mode::Approve || !report.blockers.is_empty() || no_consent.is_some() {
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
        } else if mode.configured >= Mode::Approve {
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
        return done(report.with_outcome(
            Outcome::Proposed,
            code,
            format!("{summary} — not applied: {why}"),
        ));
    }
    Ok(Decided::Ready(Box::new(Ready {
        report,
        summary,
        action,
        one_way_door: is_one_way_door,
        cluster,
        session,
        mode,
    })))
}

/// Apply a ready plan: the blast-radius limit and the breaker, the change, its count.
pub(crate) async fn act<R: Remediation, A: ClusterAccess, L: DecisionLedger>(
    remediation: &R,
    deps: &Deps<A, L>,
    exposure: &Exposure,
    ready: Ready<R::Action>,
) -> Result<Report, ResponderError> {
    let Ready {
        mut report,
        summary,
        action,
        cluster,
        session,
        mode,
        ..
    } = ready;
    let situation = Situation {
        exposure,
        cluster: &cluster,
        session: &session,
        mode: &mode,
    };
    // The blast-radius limit and the circuit breaker, kept in the ledger.
    let before = match &deps.ledger {
        None => None,
        Some(ledger) => match ledger.may_apply(R::FUNCTION).await {
            Ok(ApplyGate::Go { breaker }) => Some(breaker),
            Ok(ApplyGate::Hold { hold, why }) => {
                return Ok(report.with_outcome(
                    Outcome::Proposed,
                    hold.code(),
                    format!("{summary} — not applied: {why}"),
                ));
            }
            Err(e) => return Err(ResponderError::Transient(e)),
        },
    };
    let mut report = match remediation.apply(&situation, &action).await {
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
    }?;
    if let (Some(ledger), Some(before)) = (&deps.ledger, before)
        && matches!(report.outcome, Outcome::Applied | Outcome::Failed)
    {
        let failed = report.outcome == Outcome::Failed;
        if let Some(line) = ledger
            .count_apply(R::FUNCTION, failed, &report.reason, before)
            .await
        {
            report.not_checked.push(line);
        }
    }
    Ok(report)
}

/// Said in every report of a function without a decision ledger.
pub const NO_LEDGER: &str = "the decision ledger (LEDGER_TABLE) is not configured: this decision was not checked against earlier ones (a repeated delivery sends its message again), and no apply limit or circuit breaker applies";

/// Record on the finding, notify, log, count. With the ledger, a decision that repeats the
/// function's last one (or the same event decided by another delivery) ends here as `skipped`;
/// a new one is recorded in the ledger before anything is sent, and the finding gets every
/// function's latest decision. A record that failed transiently is raised like a notification
/// (below) when its decision can be released; any other failed record is reported. A
/// notification that failed transiently is raised (so Lambda retries the event) only when
/// nothing was changed on the cluster: then the message is the whole result and must not be
/// lost, its decision is released in the ledger, and a retry repeats nothing but the reads, the
/// record and the message. After an apply it is reported instead, so a retry cannot turn "applied" into
/// "deferred" behind the operator's back.
pub(crate) async fn finish<A, L: DecisionLedger>(
    deps: &Deps<A, L>,
    mut report: Report,
    revision: Option<&str>,
) -> Result<Report, ResponderError> {
    let Some(ledger) = &deps.ledger else {
        report.not_checked.push(NO_LEDGER.to_string());
        if report.outcome != Outcome::Skipped {
            report.finding_update = record_alone(deps, &report).await;
        }
        return notify(deps, report, None).await;
    };
    if report.outcome == Outcome::Skipped {
        return notify(deps, report, None).await;
    }
    // Security Hub did not confirm the event: the finding it names may be another one (or none),
    // so it leaves no decision in the ledger and no comment; the message still tells the operator.
    if record_for(&report).is_none()
        && report.reason_code == ReasonCode::Decision(DecisionCode::Unconfirmed)
    {
        report.finding_update = Effect::not_attempted(
            "Security Hub did not confirm the event: nothing is recorded in the ledger or on the finding",
        );
        return notify(deps, report, None).await;
    }
    // The cluster was changed (or an update started): a retry must not re-decide it.
    let acted = report.outcome == Outcome::Applied || report.update_id.is_some();
    let base = report.clone();
    let subject = move |of: Option<&str>| {
        let mut r = base.clone();
        r.reminder_of = of.map(str::to_string);
        crate::output::notify::subject(&r)
    };
    match ledger.decide(&report, subject, revision).await {
        Ok(Settled::Skip { code, of, rewrite }) => {
            let why = match code {
                DecisionCode::DuplicateDelivery => format!(
                    "another delivery of this event already decided it ({of}); nothing is sent or recorded again"
                ),
                _ => format!(
                    "the same decision ({}, {}, same plan) was already made as {of} within the last {} days; nothing is sent or recorded again",
                    report.outcome.id(),
                    report.reason_code,
                    ledger.settings.dedupe_window_days
                ),
            };
            report.duplicate_of = Some(of);
            // The approval of the decision repeated stands; this one was never stored.
            report.approval = None;
            let mut report = report.with_outcome(Outcome::Skipped, code, why);
            report.finding_update = match rewrite {
                Some(now) if deps.config.update_findings => {
                    let recorded = ledger
                        .record(&report, &now, async |plan| {
                            let record = FindingRecord {
                                comment: plan.comment.clone(),
                                status_id: plan.in_progress.then_some(STATUS_IN_PROGRESS),
                            };
                            deps.recorder
                                .record(&report.finding.metadata_uid, &record)
                                .await
                        })
                        .await;
                    match recorded.result {
                        Ok(()) => Effect::done(
                            "comment written again with every function's latest decision (an earlier attempt's record may have been overtaken); nothing is sent again",
                            None,
                        ),
                        Err(e) if e.is_transient() => {
                            tracing::error!(function = report.function, error = %e, "finding record failed again; the event will be retried");
                            return Err(ResponderError::Transient(e));
                        }
                        Err(e) => Effect::failed(format!("the finding was not updated: {e}")),
                    }
                }
                _ => Effect::not_attempted("nothing is recorded for a decision already made"),
            };
            notify(deps, report, None).await
        }
        Ok(Settled::Decided(claim)) => {
            report.decision_id = Some(claim.decision.decision_id.clone());
            report.reminder_of = claim.decision.reminder_of.clone();
            let (effect, transient) = record_combined(deps, ledger, &mut report, &claim).await;
            // Security Hub in the administrator account is the quota every function and
            // instance shares: a record still throttled after the SDK's retries, with nothing
            // changed or sent yet, releases the decision and raises, so Lambda's retry (a
            // minute later) records and sends it instead of leaving the finding without it.
            if let Some(e) = transient.clone()
                && !acted
                && release(ledger, &report, &claim).await
            {
                tracing::error!(function = report.function, error = %e, "finding record failed; the event will be retried");
                return Err(ResponderError::Transient(e));
            }
            report.finding_update = effect;
            let report = notify(deps, report, Some((ledger, &claim))).await?;
            // Nothing was changed, but the decision stays (another function decided since, or
            // the ledger could not release it): the message is sent, and the error makes Lambda
            // deliver the event again, whose duplicate delivery writes the combined comment
            // again. After a change the record's failure is reported instead: a retry would
            // re-assess a cluster that is changing and announce it a second time.
            match transient {
                Some(e) if !acted => {
                    tracing::error!(function = report.function, error = %e, "finding record failed after the decision was sent; the event will be retried to record it");
                    Err(ResponderError::Transient(e))
                }
                _ => Ok(report),
            }
        }
        Err(e) if e.is_transient() && !acted => {
            tracing::error!(function = report.function, error = %e, "decision ledger failed; the event will be retried");
            Err(ResponderError::Transient(e))
        }
        Err(e) => {
            tracing::error!(function = report.function, error = %e, "decision ledger failed; the decision is sent unrecorded");
            report.not_checked.push(format!(
                "the decision ledger could not be used ({e}): this decision was not checked against earlier ones nor recorded there, and the finding was not updated (a comment that cannot be deduplicated could come back as a new delivery)"
            ));
            report.finding_update = Effect::not_attempted(
                "the decision ledger is unavailable: nothing is recorded on the finding",
            );
            if report.approval.take().is_some() {
                report.not_checked.push(
                    "the approval could not be stored in the decision ledger, so this proposal carries none; the next delivery of the finding proposes again".into(),
                );
            }
            notify(deps, report, None).await
        }
    }
}

/// Why Security Hub's own copy of the finding does not confirm the event, if it does not. Anyone
/// who may invoke the function can hand it any JSON; only the finding Security Hub holds says
/// what it found, so nothing is changed on a cluster unless that copy agrees.
async fn unconfirmed<A, L>(
    deps: &Deps<A, L>,
    exposure: &Exposure,
    owned: &[Trait],
) -> Option<String> {
    match deps.recorder.read(&exposure.metadata_uid).await {
        Ok(Some(copy)) => confirm_json(&copy, exposure, owned)
            .err()
            .map(|why| format!("{why}, so the event was not confirmed")),
        Ok(None) => Some(format!(
            "Security Hub holds no finding with metadata uid {}, so the event was not confirmed",
            exposure.metadata_uid
        )),
        Err(e) => Some(format!(
            "Security Hub's copy of the finding could not be read ({e}), so the event was not confirmed"
        )),
    }
}

/// Without a ledger: this function's own comment, the status by its own outcome.
async fn record_alone<A, L>(deps: &Deps<A, L>, report: &Report) -> Effect {
    match record_for(report) {
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
    }
}

/// With the ledger: every function's latest decision in one comment; In Progress once every
/// trait on the finding is settled.
async fn record_combined<A, L: DecisionLedger>(
    deps: &Deps<A, L>,
    ledger: &Ledger<L>,
    report: &mut Report,
    claim: &Claimed,
) -> (Effect, Option<AwsError>) {
    if !deps.config.update_findings {
        return (
            Effect::not_attempted("UPDATE_FINDINGS=false: the finding was not updated"),
            None,
        );
    }
    let uid = report.finding.metadata_uid.clone();
    // An approved earlier stage: its proposal set the finding In Progress, and only a New
    // finding is evaluated again, which proposes the next stage.
    let reopen = crate::approval::reopens_for_next_stage(report);
    let recorded = ledger
        .record(report, &claim.claimed, async |plan| {
            let record = FindingRecord {
                comment: plan.comment.clone(),
                status_id: if plan.in_progress {
                    Some(STATUS_IN_PROGRESS)
                } else {
                    reopen.then_some(crate::output::record::STATUS_NEW)
                },
            };
            deps.recorder.record(&uid, &record).await
        })
        .await;
    report.not_checked.extend(recorded.not_checked);
    let transient = recorded
        .result
        .as_ref()
        .err()
        .filter(|e| e.is_transient())
        .cloned();
    let effect = match recorded.result {
        Ok(()) if recorded.plan.in_progress => Effect::done(
            "comment with every function's latest decision; status set to In Progress (every trait on the finding has a decision)",
            None,
        ),
        Ok(()) => Effect::done(
            format!(
                "comment with every function's latest decision; status left New until {} {} settled",
                recorded.plan.waiting_for.join(", "),
                if recorded.plan.waiting_for.len() == 1 {
                    "is"
                } else {
                    "are"
                }
            ),
            None,
        ),
        Err(e) => {
            tracing::error!(function = report.function, error = %e, "finding update failed");
            Effect::failed(format!("the finding was not updated: {e}"))
        }
    };
    (effect, transient)
}

/// Undo a decision whose record or message failed, so the retried event decides again; false
/// when it stays (another decision was recorded since, or the ledger failed), and then the
/// retry would be judged against it.
async fn release<L: DecisionLedger>(ledger: &Ledger<L>, report: &Report, c: &Claimed) -> bool {
    match ledger
        .release(report, &c.claimed, c.previous.as_ref(), &c.decision)
        .await
    {
        Ok(true) => true,
        Ok(false) => {
            tracing::warn!(
                function = report.function,
                "the decision was not released: another was recorded since, and the retry is judged against it"
            );
            false
        }
        Err(le) => {
            tracing::error!(function = report.function, error = %le, "the decision could not be released: the retry may be skipped as already decided");
            false
        }
    }
}

/// Send the message (none for a skipped finding), then log and count.
pub(crate) async fn notify<A, L: DecisionLedger>(
    deps: &Deps<A, L>,
    mut report: Report,
    claim: Option<(&Ledger<L>, &Claimed)>,
) -> Result<Report, ResponderError> {
    if !is_told(&report) {
        report.notification = Some(Effect::not_attempted("no message for a skipped finding"));
    } else {
        let message = render(&report);
        report.notification = Some(match deps.notifier.publish(&message).await {
            Ok(id) => {
                let chat = deps
                    .notifier
                    .publish_chat(&message.attributes, || {
                        crate::output::chat::of_report(&report, &message.attributes)
                    })
                    .await;
                Effect::done(
                    format!("published: {}{}", message.subject, chat.clause()),
                    Some(id),
                )
            }
            Err(e) if e.is_transient() && report.outcome != Outcome::Applied => {
                tracing::error!(function = report.function, outcome = report.outcome.id(), error = %e, "notification failed; the event will be retried");
                if let Some((ledger, c)) = claim {
                    release(ledger, &report, c).await;
                }
                return Err(ResponderError::Transient(e));
            }
            Err(e) => {
                tracing::error!(function = report.function, error = %e, "notification failed");
                Effect::failed(format!("the SNS message was not published: {e}"))
            }
        });
    }
    crate::output::telemetry::log_decision(&report);
    if deps.emit_metrics {
        crate::output::telemetry::emit_metrics(&report);
    }
    Ok(report)
}

#[cfg(test)]
mod ledger_tests;

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
