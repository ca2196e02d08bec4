//! The pipeline with the decision ledger (in memory): dedupe, the apply limit and breaker, the
//! release of a decision whose message failed, and one expected result per (ledger call ×
//! fault) cell.

use std::cell::Cell;

use super::*;
use crate::ledger::LedgerSettings;
use crate::ledger::memory::MemoryLedger;
use crate::testing::{
    Captures, ClusterFixture, Fault, StaticAccess, capturing_clients_holding, config, eks_client,
    env_of, event, mocked_deps, mocked_deps_with, recorder_for_cell, sns_for_cell,
};

const T0: i64 = 1_778_645_600_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum ApplyResult {
    Verified,
    Refused,
}

/// A remediation with one step whose apply is counted.
struct Fake {
    applies: Cell<usize>,
    result: ApplyResult,
}

impl Fake {
    fn new(result: ApplyResult) -> Self {
        Fake {
            applies: Cell::new(0),
            result,
        }
    }
}

impl Remediation for Fake {
    type Action = ();
    const FUNCTION: &'static str = "endpoint-access";
    const OWNS: &'static [Trait] = &[Trait::PublicEndpoint];

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

    async fn apply(&self, _: &Situation<'_>, _: &()) -> Result<Applied, RemediationError> {
        self.applies.set(self.applies.get() + 1);
        match self.result {
            ApplyResult::Verified => Ok(Applied {
                update_id: Some("u-1".into()),
                verification: "Successful".into(),
                failed: false,
            }),
            ApplyResult::Refused => Err(RemediationError::Aws(AwsError {
                operation: "eks:UpdateClusterConfig",
                kind: FaultKind::Invalid,
                code: Some("InvalidParameterException".into()),
                message: "refused".into(),
            })),
        }
    }
}

fn ledger_of(store: &MemoryLedger) -> Ledger<MemoryLedger> {
    Ledger {
        store: store.clone(),
        settings: LedgerSettings::from_env(&env_of(&[
            ("LEDGER_TABLE", "ledger"),
            ("MAX_APPLIES_PER_HOUR", "2"),
        ]))
        .expect("valid")
        .expect("set"),
        clock: || T0,
    }
}

fn eks() -> aws_sdk_eks::Client {
    eks_client(&[&ClusterFixture::new("payments-prod").describe_rule()])
}

/// Security Hub's copies of the findings the tests make up, so the read-back before an apply
/// confirms them.
fn held() -> Vec<serde_json::Value> {
    (0..8)
        .map(|n| finding(n, 1)["detail"]["findings"][0].clone())
        .collect()
}

fn with_ledger(mode: Mode, store: &MemoryLedger) -> (Deps<StaticAccess, MemoryLedger>, Captures) {
    let (sns, securityhub, captures) = capturing_clients_holding(held());
    (deps_on(mode, store, sns, securityhub), captures)
}

/// The pipeline's dependencies with the ledger `store` and these SNS and Security Hub clients.
fn deps_on(
    mode: Mode,
    store: &MemoryLedger,
    sns: aws_sdk_sns::Client,
    securityhub: aws_sdk_securityhub::Client,
) -> Deps<StaticAccess, MemoryLedger> {
    let d = mocked_deps_with(config(mode), eks(), sns, securityhub);
    Deps {
        config: d.config,
        access: d.access,
        notifier: d.notifier,
        recorder: d.recorder,
        emit_metrics: false,
        ledger: Some(ledger_of(store)),
    }
}

/// The public-access sample as finding `n` (its own metadata uid), at revision `revision`.
fn finding(n: usize, revision: i64) -> serde_json::Value {
    let mut e = event("eks-public-access.json");
    let f = &mut e["detail"]["findings"][0];
    f["metadata"]["uid"] = serde_json::json!(format!("finding-{n}"));
    f["finding_info"]["modified_time"] = serde_json::json!(revision);
    f["finding_info"]["modified_time_dt"] = serde_json::json!(format!("revision {revision}"));
    e
}

#[tokio::test]
async fn without_a_ledger_every_report_says_so_and_records_as_before() {
    let (deps, captures) = mocked_deps(config(Mode::Propose), eks());
    let r = respond(
        &Fake::new(ApplyResult::Verified),
        &deps,
        finding(1, 1),
        None,
    )
    .await
    .expect("report");
    assert_eq!(r.outcome, Outcome::Proposed);
    assert_eq!(r.not_checked.last().map(String::as_str), Some(NO_LEDGER));
    assert_eq!(r.decision_id, None);
    let recorded = captures.recorded();
    assert_eq!(recorded.len(), 1);
    assert!(
        recorded[0]
            .comment()
            .is_some_and(|c| c.starts_with("eks-exposure-responder/endpoint-access: proposed"))
    );
    assert_eq!(recorded[0].status_id(), Some(2));
    // A skipped report says it too.
    let mut closed = finding(1, 2);
    closed["detail"]["findings"][0]["activity_name"] = serde_json::json!("Close");
    let r = respond(&Fake::new(ApplyResult::Verified), &deps, closed, None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Skipped);
    assert_eq!(r.not_checked, [NO_LEDGER]);
}

#[tokio::test]
async fn a_redelivery_writes_the_comment_again_and_an_echo_records_nothing_and_neither_sends() {
    let store = MemoryLedger::new();
    let (deps, captures) = with_ledger(Mode::Propose, &store);
    let fix = Fake::new(ApplyResult::Verified);
    let first = respond(&fix, &deps, finding(1, 100), None)
        .await
        .expect("report");
    assert_eq!(first.outcome, Outcome::Proposed);
    let id = first.decision_id.clone().expect("decision id");
    assert!(!first.not_checked.iter().any(|n| n == NO_LEDGER));
    // The one trait on the finding has a decision: In Progress, with the combined comment.
    let recorded = captures.recorded();
    assert_eq!(recorded[0].status_id(), Some(2));
    assert_eq!(
        recorded[0].comment(),
        Some(
            "eks-exposure-responder: endpoint-access proposed - turn public access off — not applied: the function runs in propose mode (MODE=propose)"
        )
    );

    let again = respond(&fix, &deps, finding(1, 100), None)
        .await
        .expect("report");
    assert_eq!(
        (again.outcome, again.reason_code),
        (Outcome::Skipped, DecisionCode::DuplicateDelivery.into())
    );
    assert_eq!(again.duplicate_of.as_deref(), Some(id.as_str()));
    let echo = respond(&fix, &deps, finding(1, 200), None)
        .await
        .expect("report");
    assert_eq!(
        echo.reason_code,
        ReasonCode::Decision(DecisionCode::AlreadyDecided)
    );
    assert_eq!(echo.duplicate_of.as_deref(), Some(id.as_str()));
    assert_eq!(captures.published().len(), 1, "one message");
    // The redelivery wrote the same combined comment again (a retried attempt's record may have
    // been lost); the echo wrote nothing.
    let recorded = captures.recorded();
    assert_eq!(recorded.len(), 2, "the first record and the redelivery's");
    assert_eq!(recorded[1].comment(), recorded[0].comment());
    assert_eq!(store.decisions().len(), 1, "one decision");
}

#[tokio::test]
async fn a_record_overtaken_by_another_function_and_throttled_is_sent_then_retried_to_record_it() {
    let store = MemoryLedger::new();
    let key = crate::ledger::FindingKey {
        cluster_arn: "arn:aws:eks:us-east-1:444455556666:cluster/payments-prod".into(),
        metadata_uid: "finding-1".into(),
    };
    // While this function records, another decides on the same finding, and Security Hub in
    // the administrator account stays throttled: the decision cannot be released any more.
    let elsewhere = store.clone();
    let (status, body) = crate::testing::json_fault(Fault::ThrottleExhausted);
    let throttled = crate::testing::aws_smithy_mocks::mock!(
        aws_sdk_securityhub::Client::batch_update_findings_v2
    )
    .sequence()
    .http_response(move || {
        elsewhere.decided_elsewhere(
            &key,
            crate::ledger::Entry {
                decision_id: "d-secrets".into(),
                function: "secrets-encryption".into(),
                outcome: "proposed".into(),
                line: "secrets-encryption proposed - encrypt Kubernetes secrets".into(),
                settles: true,
                traits: vec!["unencrypted_secrets".into()],
                ..Default::default()
            },
        );
        crate::testing::http(status, &body)
    })
    .times(10)
    .build();
    let securityhub = crate::testing::aws_smithy_mocks::mock_client!(
        aws_sdk_securityhub,
        crate::testing::aws_smithy_mocks::RuleMode::MatchAny,
        &[&throttled, &crate::testing::held_findings_rule(held())],
        |b| b
            .retry_config(crate::testing::fast_retry())
            .retry_partition(crate::testing::own_retry_quota("record-overtaken"))
    );
    let (sns, _, failing_captures) = crate::testing::capturing_clients();
    let deps_failing = deps_on(Mode::Propose, &store, sns, securityhub);
    let fix = Fake::new(ApplyResult::Verified);
    let err = respond(&fix, &deps_failing, finding(1, 1), None)
        .await
        .expect_err("retried to record");
    assert_eq!(err.error_type(), "AwsTransientError");
    assert_eq!(
        failing_captures.published().len(),
        1,
        "the decision stays, so its message is sent at once"
    );
    // Lambda's retry (same event) sends nothing and writes both functions' decisions.
    let (deps, captures) = with_ledger(Mode::Propose, &store);
    let r = respond(&fix, &deps, finding(1, 1), None)
        .await
        .expect("report");
    assert_eq!(
        (r.outcome, r.reason_code),
        (Outcome::Skipped, DecisionCode::DuplicateDelivery.into())
    );
    assert!(captures.published().is_empty());
    let recorded = captures.recorded();
    assert_eq!(recorded.len(), 1);
    let comment = recorded[0].comment().unwrap_or_default();
    assert!(
        comment.contains("endpoint-access proposed")
            && comment.contains("secrets-encryption proposed"),
        "{comment}"
    );
}

#[tokio::test]
async fn applies_stop_at_the_hourly_limit_and_say_why() {
    let store = MemoryLedger::new();
    let (deps, _captures) = with_ledger(Mode::Apply, &store);
    let fix = Fake::new(ApplyResult::Verified);
    for n in 0..2 {
        let r = respond(&fix, &deps, finding(n, 1), None)
            .await
            .expect("report");
        assert_eq!(r.outcome, Outcome::Applied, "{}", r.reason);
    }
    let r = respond(&fix, &deps, finding(2, 1), None)
        .await
        .expect("report");
    assert_eq!(
        (r.outcome, r.reason_code),
        (Outcome::Proposed, DecisionCode::ApplyLimitReached.into())
    );
    assert!(r.reason.contains("MAX_APPLIES_PER_HOUR=2"), "{}", r.reason);
    assert_eq!(fix.applies.get(), 2);
}

#[tokio::test]
async fn failed_applies_in_a_row_open_the_breaker_until_it_is_reset() {
    let store = MemoryLedger::new();
    let (mut deps, _captures) = with_ledger(Mode::Apply, &store);
    if let Some(l) = deps.ledger.as_mut() {
        l.settings.max_applies_per_hour = 100;
    }
    let refused = Fake::new(ApplyResult::Refused);
    for n in 0..3 {
        let r = respond(&refused, &deps, finding(n, 1), None)
            .await
            .expect("report");
        assert_eq!(r.outcome, Outcome::Failed, "{}", r.reason);
    }
    let r = respond(&refused, &deps, finding(3, 1), None)
        .await
        .expect("report");
    assert_eq!(
        (r.outcome, r.reason_code),
        (Outcome::Proposed, DecisionCode::CircuitOpen.into())
    );
    assert!(
        r.reason.contains("aws dynamodb delete-item"),
        "{}",
        r.reason
    );
    assert_eq!(refused.applies.get(), 3, "no apply while open");
    // The operator's reset (the breaker item deleted) closes it; a success keeps it closed.
    store.set_breaker("endpoint-access", 0);
    let fix = Fake::new(ApplyResult::Verified);
    let r = respond(&fix, &deps, finding(4, 1), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Applied);
}

#[tokio::test]
async fn a_message_that_failed_is_retried_and_then_sent() {
    let store = MemoryLedger::new();
    let (sns, _) = sns_for_cell(true, Fault::ThrottleExhausted).await;
    let (_, securityhub, _) = crate::testing::capturing_clients();
    let deps_failing = deps_on(Mode::Propose, &store, sns, securityhub);
    let fix = Fake::new(ApplyResult::Verified);
    let err = respond(&fix, &deps_failing, finding(1, 1), None)
        .await
        .expect_err("retried");
    assert_eq!(err.error_type(), "AwsTransientError");
    // The retry (same event) decides again and sends.
    let (deps, captures) = with_ledger(Mode::Propose, &store);
    let r = respond(&fix, &deps, finding(1, 1), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Proposed, "{}", r.reason);
    assert_eq!(captures.published().len(), 1);
}

#[tokio::test]
async fn a_record_still_throttled_is_retried_and_then_recorded_and_sent() {
    let store = MemoryLedger::new();
    let (securityhub, _) = recorder_for_cell(true, Fault::ThrottleExhausted).await;
    let (sns, _, failing_captures) = crate::testing::capturing_clients();
    let deps_failing = deps_on(Mode::Propose, &store, sns, securityhub);
    let fix = Fake::new(ApplyResult::Verified);
    let err = respond(&fix, &deps_failing, finding(1, 1), None)
        .await
        .expect_err("retried");
    assert_eq!(err.error_type(), "AwsTransientError");
    assert!(
        failing_captures.published().is_empty(),
        "nothing sent before the record"
    );
    // The retry (same event) decides again, records and sends, once.
    let (deps, captures) = with_ledger(Mode::Propose, &store);
    let r = respond(&fix, &deps, finding(1, 1), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Proposed, "{}", r.reason);
    assert_eq!(captures.recorded().len(), 1);
    assert_eq!(captures.published().len(), 1);
}

/// What one (ledger call × fault) cell must end in.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    /// A Lambda error (retried, then dead-lettered); nothing applied, nothing sent.
    Retried,
    /// A report with this outcome and reason code, its message sent.
    Report(Outcome, &'static str),
}

#[tokio::test]
async fn ledger_fault_matrix() {
    use FaultKind::{AccessDenied, NotFound, Transient};
    // (mode, ledger operation, fault, applies made, expected)
    let cells: [(Mode, &str, FaultKind, usize, Expect); 12] = [
        // propose: the decision's read and conditional write
        (Mode::Propose, "GetItem", Transient, 0, Expect::Retried),
        (
            Mode::Propose,
            "GetItem",
            AccessDenied,
            0,
            Expect::Report(Outcome::Proposed, "mode_propose"),
        ),
        (
            Mode::Propose,
            "GetItem",
            NotFound,
            0,
            Expect::Report(Outcome::Proposed, "mode_propose"),
        ),
        (
            Mode::Propose,
            "TransactWriteItems",
            Transient,
            0,
            Expect::Retried,
        ),
        (
            Mode::Propose,
            "TransactWriteItems",
            AccessDenied,
            0,
            Expect::Report(Outcome::Proposed, "mode_propose"),
        ),
        // apply: the breaker read and the hourly counter come first; no apply without them
        (Mode::Apply, "GetItem", Transient, 0, Expect::Retried),
        (
            Mode::Apply,
            "GetItem",
            AccessDenied,
            0,
            Expect::Report(Outcome::Proposed, "ledger_unavailable"),
        ),
        (
            Mode::Apply,
            "GetItem",
            NotFound,
            0,
            Expect::Report(Outcome::Proposed, "ledger_unavailable"),
        ),
        (Mode::Apply, "UpdateItem", Transient, 0, Expect::Retried),
        (
            Mode::Apply,
            "UpdateItem",
            AccessDenied,
            0,
            Expect::Report(Outcome::Proposed, "ledger_unavailable"),
        ),
        // after an apply: reported, never raised (a retry must not hide the change)
        (
            Mode::Apply,
            "TransactWriteItems",
            Transient,
            1,
            Expect::Report(Outcome::Applied, "applied"),
        ),
        (
            Mode::Apply,
            "TransactWriteItems",
            AccessDenied,
            1,
            Expect::Report(Outcome::Applied, "applied"),
        ),
    ];
    for (mode, operation, kind, applies, expect) in cells {
        let ctx = format!("{mode:?} {operation} {kind:?}");
        let store = MemoryLedger::new();
        store.fail(operation, kind);
        let (deps, captures) = with_ledger(mode, &store);
        let fix = Fake::new(ApplyResult::Verified);
        let got = match respond(&fix, &deps, finding(1, 1), None).await {
            Err(e) => {
                assert_eq!(e.error_type(), "AwsTransientError", "{ctx}");
                assert!(captures.published().is_empty(), "{ctx}: nothing sent");
                Expect::Retried
            }
            Ok(r) => {
                assert_eq!(captures.published().len(), 1, "{ctx}: the message is sent");
                if r.reason_code != ReasonCode::Decision(DecisionCode::LedgerUnavailable) {
                    // The ledger failed after the decision: said, and no record that could echo.
                    assert!(
                        r.not_checked
                            .iter()
                            .any(|n| n.contains("decision ledger could not be used")),
                        "{ctx}: {:?}",
                        r.not_checked
                    );
                    assert!(captures.recorded().is_empty(), "{ctx}: nothing recorded");
                }
                Expect::Report(r.outcome, r.reason_code.as_str())
            }
        };
        assert_eq!(got, expect, "{ctx}");
        assert_eq!(fix.applies.get(), applies, "{ctx}: applies");
    }
}

#[tokio::test]
async fn an_event_security_hub_does_not_confirm_leaves_nothing_in_the_ledger() {
    let store = MemoryLedger::new();
    let (deps, captures) = with_ledger(Mode::Apply, &store);
    // Finding 9 is not among those Security Hub holds: a forged or stale event.
    let r = respond(
        &Fake::new(ApplyResult::Verified),
        &deps,
        finding(9, 1),
        None,
    )
    .await
    .expect("report");
    assert_eq!(
        (r.outcome, r.reason_code),
        (
            Outcome::Proposed,
            ReasonCode::Decision(DecisionCode::Unconfirmed)
        )
    );
    assert!(store.decisions().is_empty(), "no decision kept for it");
    assert!(
        captures.recorded().is_empty(),
        "nothing recorded on a finding"
    );
    assert_eq!(captures.published().len(), 1, "the operator is still told");
}
