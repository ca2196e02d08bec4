//! Approvals through the pipeline with the in-memory ledger and mocked AWS: what a proposal in
//! `approve` mode carries and stores, and what a redemption decides, for a reversible change
//! and a one-way door.

use std::cell::Cell;

use super::redeem::{ONE_WAY_DOOR, Redeemed, redeem};
use super::{ApprovalRequest, url};
use crate::aws::{AwsError, FaultKind};
use crate::ledger::memory::MemoryLedger;
use crate::ledger::{ApprovalStore, Ledger, LedgerSettings};
use crate::pipeline::{
    Applied, Assessment, Deps, Plan, Remediation, RemediationError, Situation, Verdict, respond,
};
use crate::testing::{
    Captures, ClusterFixture, StaticAccess, capturing_clients_holding, config, eks_client, env_of,
    event, mocked_deps, mocked_deps_with,
};
use crate::{DecisionCode, Mode, Outcome, PlanStep, Report, Trait};

const T0: i64 = 1_795_777_200_000;
const ALICE: &str = "arn:aws:sts::444455556666:assumed-role/PlatformApprover/alice";

/// One step, applied and counted; `ONE_WAY` makes every change a one-way door.
struct Fake<const ONE_WAY: bool> {
    applies: Cell<usize>,
}

impl<const ONE_WAY: bool> Fake<ONE_WAY> {
    fn new() -> Self {
        Fake {
            applies: Cell::new(0),
        }
    }
}

impl<const ONE_WAY: bool> Remediation for Fake<ONE_WAY> {
    type Action = ();
    const FUNCTION: &'static str = "endpoint-access";
    const OWNS: &'static [Trait] = &[Trait::PublicEndpoint];
    const ONE_WAY_DOOR: bool = ONE_WAY;

    async fn assess(&self, _: &Situation<'_>) -> Result<Assessment<()>, RemediationError> {
        Ok(Assessment {
            verdict: Verdict::Act(Plan {
                summary: "turn public access off".into(),
                steps: vec![PlanStep {
                    description: "turn public access off".into(),
                    api_call: "eks:UpdateClusterConfig".into(),
                    parameters: serde_json::json!({"name": "payments-prod", "endpointPublicAccess": false}),
                    cli: "aws eks update-cluster-config ...".into(),
                }],
                ..Plan::default()
            }),
            ..Assessment::default()
        })
    }

    async fn apply(&self, s: &Situation<'_>, _: &()) -> Result<Applied, RemediationError> {
        // An approved plan is applied as in apply mode (an irreversible apply checks it again).
        if s.mode.effective != Mode::Apply {
            return Err(RemediationError::Aws(AwsError {
                operation: "eks:UpdateClusterConfig",
                kind: FaultKind::Invalid,
                code: None,
                message: "not in apply mode".into(),
            }));
        }
        self.applies.set(self.applies.get() + 1);
        Ok(Applied {
            update_id: Some("u-1".into()),
            verification: "Successful".into(),
            failed: false,
        })
    }
}

fn deps(
    store: &MemoryLedger,
    cluster: ClusterFixture,
    clock: fn() -> i64,
) -> (Deps<StaticAccess, MemoryLedger>, Captures) {
    let held = vec![event("eks-public-access.json")["detail"]["findings"][0].clone()];
    let (sns, securityhub, captures) = capturing_clients_holding(held);
    let d = mocked_deps_with(
        config(Mode::Approve),
        eks_client(&[&cluster.describe_rule()]),
        sns,
        securityhub,
    );
    let settings = LedgerSettings::from_env(&env_of(&[("LEDGER_TABLE", "ledger")]))
        .expect("valid")
        .expect("set");
    (
        Deps {
            config: d.config,
            access: d.access,
            notifier: d.notifier,
            recorder: d.recorder,
            ledger: Some(Ledger {
                store: store.clone(),
                settings,
                clock,
            }),
            emit_metrics: false,
        },
        captures,
    )
}

async fn propose<const ONE_WAY: bool>(
    fix: &Fake<ONE_WAY>,
    deps: &Deps<StaticAccess, MemoryLedger>,
) -> Report {
    respond(fix, deps, event("eks-public-access.json"), None)
        .await
        .expect("report")
}

fn request_of(report: &Report) -> ApprovalRequest {
    report
        .approval
        .as_ref()
        .and_then(|a| a.request.clone())
        .expect("a proposal with an approval")
}

fn redeemed(r: Redeemed) -> Report {
    match r {
        Redeemed::Report(report) => *report,
        Redeemed::Refused { code, message, .. } => panic!("refused early: {code}: {message}"),
    }
}

#[tokio::test]
async fn an_approve_mode_proposal_stores_its_approval_and_a_repeat_keeps_the_first() {
    let store = MemoryLedger::new();
    let (deps, captures) = deps(&store, ClusterFixture::new("payments-prod"), || T0);
    let fix = Fake::<false>::new();
    let first = propose(&fix, &deps).await;
    assert_eq!(
        (first.outcome, first.reason_code),
        (Outcome::Proposed, DecisionCode::AwaitingApproval.into()),
        "{}",
        first.reason
    );
    let approval = first.approval.clone().expect("approval");
    assert_eq!(
        approval.plan_digest,
        crate::ledger::plan_digest(&first.plan)
    );
    assert_eq!(approval.expires_ms, T0 + 7 * 86_400_000);
    let decision = &store.decisions()[0];
    assert_eq!(decision.approval_id.as_deref(), Some(approval.id.as_str()));
    let stored = store
        .approval(&first.cluster.arn, &approval.id)
        .await
        .expect("read")
        .expect("the approval item");
    assert_eq!(stored.plan_digest, approval.plan_digest);
    assert_eq!(stored.used_by, None);
    assert!(captures.email().contains("To apply exactly this plan"));
    assert_eq!(captures.json()["approval"]["id"], approval.id.as_str());

    let again = propose(&fix, &deps).await;
    assert_eq!(again.outcome, Outcome::Skipped);
    assert_eq!(again.approval, None, "a repeat issues no approval");
    assert_eq!(
        fix.applies.get(),
        0,
        "nothing is applied before an approval"
    );
}

#[tokio::test]
async fn without_a_ledger_approve_mode_proposes_without_an_approval() {
    let (deps, _) = mocked_deps(
        config(Mode::Approve),
        eks_client(&[&ClusterFixture::new("payments-prod").describe_rule()]),
    );
    let r = respond(
        &Fake::<false>::new(),
        &deps,
        event("eks-public-access.json"),
        None,
    )
    .await
    .expect("report");
    assert_eq!(
        (r.outcome, r.reason_code),
        (Outcome::Proposed, DecisionCode::LedgerUnavailable.into())
    );
    assert_eq!(r.approval, None);
}

#[tokio::test]
async fn an_approved_plan_is_applied_once_and_a_tag_that_lowers_the_mode_blocks_it() {
    let store = MemoryLedger::new();
    let (deps_now, _) = deps(&store, ClusterFixture::new("payments-prod"), || T0);
    let fix = Fake::<false>::new();
    let request = request_of(&propose(&fix, &deps_now).await);

    // The cluster owner tags the cluster `propose` before anyone approves: blocked.
    let mut tagged = ClusterFixture::new("payments-prod");
    tagged
        .tags
        .push((crate::guardrails::MODE_TAG.into(), "propose".into()));
    let (deps_tagged, captures) = deps(&store, tagged, || T0 + 1);
    let r = redeemed(redeem(&fix, &deps_tagged, &request, ALICE, None).await);
    assert_eq!(
        r.reason_code,
        crate::ReasonCode::Decision(DecisionCode::ApprovalBlocked),
        "{}",
        r.reason
    );
    assert_eq!(fix.applies.get(), 0);
    assert!(captures.email().contains(ALICE), "the refusal is told");

    // Untagged again: applied, once.
    let (deps_later, captures) = deps(&store, ClusterFixture::new("payments-prod"), || T0 + 2);
    let r = redeemed(redeem(&fix, &deps_later, &request, ALICE, None).await);
    assert_eq!(r.outcome, Outcome::Applied, "{}", r.reason);
    assert!(
        r.reason.starts_with(&format!("approved by {ALICE}")),
        "{}",
        r.reason
    );
    assert_eq!(fix.applies.get(), 1);
    assert!(
        captures.recorded()[0]
            .comment()
            .is_some_and(|c| c.contains(ALICE)),
        "the finding comment names the approver"
    );
    let r = redeemed(redeem(&fix, &deps_later, &request, ALICE, None).await);
    assert_eq!(
        r.reason_code,
        crate::ReasonCode::Decision(DecisionCode::ApprovalUsed)
    );
    assert_eq!(fix.applies.get(), 1);
}

#[tokio::test]
async fn a_one_way_door_is_approvable_only_with_the_owners_consent_and_is_restated() {
    let store = MemoryLedger::new();
    let fix = Fake::<true>::new();
    let (no_consent, _) = deps(&store, ClusterFixture::new("payments-prod"), || T0);
    let r = propose(&fix, &no_consent).await;
    assert_eq!(
        r.reason_code,
        crate::ReasonCode::Decision(DecisionCode::Guardrail),
        "{}",
        r.reason
    );
    assert_eq!(
        r.approval, None,
        "a proposal that could not be applied carries none"
    );

    let (consent, _) = deps(
        &store,
        ClusterFixture::new("payments-prod").with_owner_consent(),
        || T0 + 1,
    );
    let r = propose(&fix, &consent).await;
    assert_eq!(
        r.reason_code,
        crate::ReasonCode::Decision(DecisionCode::AwaitingApproval),
        "{}",
        r.reason
    );
    assert!(r.notes.iter().any(|n| n == ONE_WAY_DOOR));
    let applied = redeemed(redeem(&fix, &consent, &request_of(&r), ALICE, None).await);
    assert_eq!(applied.outcome, Outcome::Applied, "{}", applied.reason);
    assert!(applied.notes.iter().any(|n| n == ONE_WAY_DOOR));
}

#[tokio::test]
async fn a_request_for_another_function_or_an_unknown_approval_is_refused_before_any_read() {
    let store = MemoryLedger::new();
    let (deps, _) = deps(&store, ClusterFixture::new("payments-prod"), || T0);
    let fix = Fake::<false>::new();
    let request = request_of(&propose(&fix, &deps).await);
    let other = ApprovalRequest {
        function: "kubernetes-version".into(),
        ..request.clone()
    };
    assert!(matches!(
        redeem(&fix, &deps, &other, ALICE, None).await,
        Redeemed::Refused {
            status: 400,
            code: "wrong_function",
            ..
        }
    ));
    let unknown = ApprovalRequest {
        approval_id: "a-000000000000000000000000".into(),
        ..request
    };
    assert!(matches!(
        redeem(&fix, &deps, &unknown, ALICE, None).await,
        Redeemed::Refused {
            status: 404,
            code: "unknown_approval",
            ..
        }
    ));
    assert_eq!(fix.applies.get(), 0);
}

#[tokio::test]
async fn a_url_request_that_is_not_a_post_is_refused() {
    let store = MemoryLedger::new();
    let (deps, _) = deps(&store, ClusterFixture::new("payments-prod"), || T0);
    let mut payload: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/function-url/approval-request.json"
        ))
        .expect("fixture"),
    )
    .expect("json");
    payload["requestContext"]["http"]["method"] = "GET".into();
    let r = url::answer(&Fake::<false>::new(), &deps, &payload.to_string(), None).await;
    assert_eq!(r.status_code, 405, "{}", r.body);
}

/// A function that only hands its plan off (container-vulnerabilities).
struct HandOffOnly;

impl Remediation for HandOffOnly {
    type Action = crate::HandOff;
    const FUNCTION: &'static str = "container-vulnerabilities";
    const OWNS: &'static [Trait] = &[Trait::PublicEndpoint];
    const MUTATES: bool = false;

    async fn assess(
        &self,
        _: &Situation<'_>,
    ) -> Result<Assessment<crate::HandOff>, RemediationError> {
        Ok(Assessment {
            verdict: Verdict::HandOff(Plan {
                summary: "rebuild the images".into(),
                ..Plan::default()
            }),
            ..Assessment::default()
        })
    }

    async fn apply(
        &self,
        _: &Situation<'_>,
        action: &crate::HandOff,
    ) -> Result<Applied, RemediationError> {
        match *action {}
    }
}

#[tokio::test]
async fn a_hand_off_never_carries_an_approval() {
    let store = MemoryLedger::new();
    let (deps, _) = deps(&store, ClusterFixture::new("payments-prod"), || T0);
    let r = respond(&HandOffOnly, &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(
        r.reason_code,
        crate::ReasonCode::Decision(DecisionCode::HandOff)
    );
    assert_eq!(r.approval, None);
    assert_eq!(store.decisions()[0].approval_id, None);
}
