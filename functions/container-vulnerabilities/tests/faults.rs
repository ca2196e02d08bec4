//! Fault matrix of container-vulnerabilities: every AWS call the function
//! makes, under throttling (recovering and exhausted), 5xx, a real transport timeout,
//! AccessDenied and not-found, ends as `expected` says. Enrichment (`GetFindingsV2`) is optional
//! by design: every fault there degrades to the hand-off proposal, saying which details are
//! missing and why, never to a Lambda error. No cell panics, none outlives its bound, and no cell
//! makes any EKS call but DescribeCluster (the function never changes a cluster).
//!
//! The clean path: sample event `eks-high-priority-vulnerability.json` (cluster payments-prod,
//! one exploitable CVE, CVE-2023-44487), MODE apply (it still only hands off), and the Inspector
//! finding of that CVE served by GetFindingsV2.

use aws_sdk_eks::operation::describe_cluster::{DescribeClusterInput, DescribeClusterOutput};
use aws_sdk_securityhub::operation::get_findings_v2::GetFindingsV2Output;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use serde_json::Value;
use shared::aws::value_to_document;

use container_vulnerabilities::{ContainerVulnerabilities, Settings};
use shared::config::Mode;
use shared::faulty_rule;
use shared::output::report::{EffectStatus, Outcome, Report};
use shared::pipeline::{ResponderError, respond};
use shared::testing::{
    ClusterFixture, Executions, Fault, assert_attempts, assert_effects, assert_effects_done,
    assert_outcome, assert_retryable, config, eks_client_at, event, every_cell, expect_report,
    fast_retry, json_fault, mocked_deps_with, not_checked, own_retry_quota, recorder_for_cell,
    scripted_server, securityhub_client_at, sns_for_cell,
};

const EVENT: &str = "eks-high-priority-vulnerability.json";
const CLUSTER: &str = "payments-prod";
/// No cell may take longer: far below the function's timeout, far above a cell's real time.
/// The not-checked line of an unenriched CVE starts with what is missing, for which CVE.
const MISSING: &str = "CVSS score and vector, EPSS score, exploit and fix availability, installed and fixed package versions, package manager, image tags and in-use count for 1 vulnerability (CVE-2023-44487): ";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Call {
    DescribeCluster,
    GetFindingsV2,
    Publish,
    BatchUpdateFindingsV2,
}

const CALLS: [Call; 4] = [
    Call::DescribeCluster,
    Call::GetFindingsV2,
    Call::Publish,
    Call::BatchUpdateFindingsV2,
];

impl Call {
    /// The operation as `AwsError` names it (and so as a Lambda error message names it).
    fn operation(self) -> &'static str {
        match self {
            Call::DescribeCluster => "eks:DescribeCluster",
            Call::GetFindingsV2 => "securityhub:GetFindings",
            Call::Publish => "sns:Publish",
            Call::BatchUpdateFindingsV2 => "securityhub:BatchUpdateFindings",
        }
    }
}

/// What each cell must end in.
#[derive(Debug, PartialEq)]
enum Expect {
    /// The hand-off, enriched (CVSS 7.5 from the Inspector finding), published and recorded.
    HandOff,
    /// The hand-off from what the exposure carries: the CVE's details are missing, the report
    /// says which and why (a not-checked line with the text), and gives the command to read them.
    HandOffMissing(&'static str),
    /// The hand-off without the live cluster: enriched and published, and the report says the
    /// cluster (its mode tag and status) could not be read, and why.
    HandOffClusterUnread(&'static str),
    HandOffButNotified(EffectStatus),
    HandOffButRecorded(EffectStatus),
    Outcome(Outcome, &'static str),
    /// `AwsTransientError` naming the call: EventBridge retries, then dead-letters.
    LambdaError,
}

/// The contract, cell by cell.
fn expected(call: Call, fault: Fault) -> Expect {
    use Call::*;
    use Fault::*;
    match (call, fault) {
        // The message is the hand-off itself: a transient publish failure is raised so EventBridge
        // retries the event; a refusal (retrying cannot help) is reported.
        (Publish, ThrottleThenOk) => Expect::HandOffButNotified(EffectStatus::Done),
        (Publish, ThrottleExhausted | ServerError | Timeout) => Expect::LambdaError,
        (Publish, AccessDenied | NotFound) => Expect::HandOffButNotified(EffectStatus::Failed),
        // The finding record is reported, never raised.
        (BatchUpdateFindingsV2, ThrottleThenOk) => Expect::HandOffButRecorded(EffectStatus::Done),
        (BatchUpdateFindingsV2, _) => Expect::HandOffButRecorded(EffectStatus::Failed),
        // The SDK's retry absorbs one throttle.
        (_, ThrottleThenOk) => Expect::HandOff,
        // Enrichment degrades, whatever the fault.
        (GetFindingsV2, ThrottleExhausted) => Expect::HandOffMissing(
            "Security Hub was still throttling or failing after the SDK's retries (ThrottlingException: Rate exceeded)",
        ),
        (GetFindingsV2, ServerError) => Expect::HandOffMissing(
            "Security Hub was still throttling or failing after the SDK's retries (ServerException: internal)",
        ),
        (GetFindingsV2, Timeout) => Expect::HandOffMissing(
            "Security Hub was still throttling or failing after the SDK's retries (no error code: the call timed out)",
        ),
        (GetFindingsV2, AccessDenied) => Expect::HandOffMissing(
            "Security Hub denied securityhub:GetFindings (AccessDeniedException: not authorized); grant the function's role securityhub:GetFindings",
        ),
        // A named not-found error is the service's answer, reported as such (a bare 404 is an
        // endpoint without the operation: tests/pipeline.rs).
        (GetFindingsV2, NotFound) => Expect::HandOffMissing(
            "securityhub:GetFindings failed (ResourceNotFoundException: not found)",
        ),
        // The live cluster is read by the shared pipeline for every function.
        (DescribeCluster, ThrottleExhausted | ServerError | Timeout) => Expect::LambdaError,
        // Reading the cluster only serves its mode tag: a refusal must not lose the hand-off.
        (DescribeCluster, AccessDenied) => Expect::HandOffClusterUnread("AccessDeniedException"),
        (DescribeCluster, NotFound) => Expect::Outcome(Outcome::Skipped, "cluster_not_found"),
    }
}

// ---- the clean path ----

/// The Inspector finding of the event's one CVE, as GetFindingsV2 returns it.
fn get_findings_ok() -> GetFindingsV2Output {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inspector-CVE-2023-44487.json");
    let finding: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    GetFindingsV2Output::builder()
        .findings(value_to_document(&finding))
        .build()
}

fn describe_cluster_ok() -> DescribeClusterOutput {
    ClusterFixture::new(CLUSTER).describe_output()
}

// ---- the cell ----

/// A retry quota of its own per cell: the SDK's token bucket is process-wide per service, and
/// cells of exhausted retries would drain it and change later cells' retries.
struct Cell {
    result: Result<Report, ResponderError>,
    /// Every EKS execution: only DescribeCluster is ever called.
    eks_calls: usize,
    /// Calls of the faulted mock rule, where the fault was mocked.
    faulted_calls: Option<usize>,
}

async fn run_cell(call: Call, fault: Fault) -> Cell {
    let eks_calls = Executions::<DescribeClusterInput>::new();
    let timeout = fault == Fault::Timeout;
    let mut faulted: Option<Rule> = None;
    let silent = scripted_server(Vec::new(), "").await;

    let eks = match call {
        Call::DescribeCluster if timeout => {
            // Every EKS request hangs; DescribeCluster is the only one there is.
            let c = eks_client_at(&silent);
            aws_sdk_eks::Client::from_conf(
                c.config()
                    .to_builder()
                    .interceptor(eks_calls.clone())
                    .retry_partition(own_retry_quota(&format!("{call:?}-{fault:?}")))
                    .build(),
            )
        }
        _ => {
            let r = if call == Call::DescribeCluster {
                let r = faulty_rule!(
                    aws_sdk_eks::Client::describe_cluster,
                    fault,
                    describe_cluster_ok,
                    json_fault
                );
                faulted = Some(r.clone());
                r
            } else {
                mock!(aws_sdk_eks::Client::describe_cluster).then_output(describe_cluster_ok)
            };
            let counter = eks_calls.clone();
            let partition = own_retry_quota(&format!("{call:?}-{fault:?}"));
            mock_client!(aws_sdk_eks, RuleMode::MatchAny, &[&r], |b| b
                .retry_config(fast_retry())
                .retry_partition(partition.clone())
                .interceptor(counter.clone()))
        }
    };

    // The enrichment's own Security Hub client (the aggregation home Region).
    let enrichment = match call {
        Call::GetFindingsV2 if timeout => securityhub_client_at(&silent),
        Call::GetFindingsV2 => {
            let r = faulty_rule!(
                aws_sdk_securityhub::Client::get_findings_v2,
                fault,
                get_findings_ok,
                json_fault
            );
            faulted = Some(r.clone());
            mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, &[&r], |b| b
                .retry_config(fast_retry())
                .retry_partition(own_retry_quota(&format!("{call:?}-{fault:?}"))))
        }
        _ => {
            let r =
                mock!(aws_sdk_securityhub::Client::get_findings_v2).then_output(get_findings_ok);
            mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, &[&r])
        }
    };
    let (sns, publish_rule) = sns_for_cell(call == Call::Publish, fault).await;
    let (recorder, record_rule) =
        recorder_for_cell(call == Call::BatchUpdateFindingsV2, fault).await;
    faulted = faulted.or(publish_rule).or(record_rule);

    let fix = ContainerVulnerabilities::new(Settings::default(), enrichment);
    let deps = mocked_deps_with(config(Mode::Apply), eks, sns, recorder);
    let result = respond(&fix, &deps, event(EVENT), None).await;
    Cell {
        result,
        eks_calls: eks_calls.count(),
        faulted_calls: faulted.map(|r| r.num_calls()),
    }
}

fn assert_hand_off(r: &Report, ctx: &str) {
    assert_eq!(
        (r.outcome, r.reason_code.as_str()),
        (Outcome::Proposed, "hand_off"),
        "{ctx}: {}",
        r.reason
    );
    assert_eq!(r.priority, Some(shared::Priority::Urgent), "{ctx}");
    assert_eq!(r.update_id, None, "{ctx}");
    assert!(!r.plan.is_empty(), "{ctx}: a step per image");
    assert!(
        r.plan.iter().all(|s| s.api_call == "none (hand-off)"),
        "{ctx}"
    );
}

fn cve(r: &Report) -> Value {
    r.details
        .as_ref()
        .map(|d| d["cves"][0].clone())
        .unwrap_or_default()
}

fn assert_enriched(r: &Report, ctx: &str) {
    assert!(
        r.not_checked.iter().all(|n| !n.starts_with(MISSING)),
        "{ctx}: {:?}",
        r.not_checked
    );
    let c = cve(r);
    assert_eq!(c["id"], "CVE-2023-44487", "{ctx}");
    assert_eq!(c["enriched"], true, "{ctx}");
    assert_eq!(c["cvss"], 7.5, "{ctx}");
}

#[tokio::test]
async fn every_call_under_every_fault_ends_as_specified() {
    let cells = every_cell(&CALLS, run_cell, |call, fault, ctx, cell| {
        let want = expected(call, fault);
        assert_eq!(cell.eks_calls, 1, "{ctx}: DescribeCluster and nothing else");
        assert_attempts(cell.faulted_calls, fault, ctx);
        if want == Expect::LambdaError {
            return assert_retryable(cell.result, call.operation(), fault, ctx);
        }
        let r = expect_report(cell.result, ctx);
        match &want {
            Expect::LambdaError => unreachable!(),
            Expect::HandOff => {
                assert_hand_off(&r, ctx);
                assert!(not_checked(&r).is_empty(), "{ctx}: {:?}", r.not_checked);
                assert_enriched(&r, ctx);
                assert_effects_done(&r, ctx);
            }
            Expect::HandOffClusterUnread(why) => {
                assert_hand_off(&r, ctx);
                assert_enriched(&r, ctx);
                assert_effects_done(&r, ctx);
                assert!(
                    r.not_checked
                        .iter()
                        .any(|n| n.starts_with("the live cluster could not be read")
                            && n.contains(why)
                            && n.contains("eks-exposure-responder/mode")),
                    "{ctx}: {:?}",
                    r.not_checked
                );
            }
            Expect::HandOffMissing(why) => {
                assert_hand_off(&r, ctx);
                assert_eq!(not_checked(&r).len(), 1, "{ctx}: {:?}", r.not_checked);
                let line = &r.not_checked[0];
                assert!(
                    line.starts_with(MISSING) && line.contains(why),
                    "{ctx}: {line}"
                );
                let c = cve(&r);
                assert_eq!(c["id"], "CVE-2023-44487", "{ctx}");
                assert_eq!(c["enriched"], false, "{ctx}");
                assert!(
                    c["missing"].as_str().is_some_and(|m| m.contains(why)),
                    "{ctx}: {c}"
                );
                // And the command that reads the missing details later.
                assert!(
                    r.follow_ups
                        .iter()
                        .any(|s| s.cli.starts_with("aws securityhub get-findings-v2 ")),
                    "{ctx}: {:?}",
                    r.follow_ups
                );
                assert_effects_done(&r, ctx);
            }
            Expect::HandOffButNotified(s) => {
                assert_hand_off(&r, ctx);
                assert_enriched(&r, ctx);
                assert_effects(&r, *s, EffectStatus::Done, fault, ctx);
            }
            Expect::HandOffButRecorded(s) => {
                assert_hand_off(&r, ctx);
                assert_enriched(&r, ctx);
                assert_effects(&r, EffectStatus::Done, *s, fault, ctx);
            }
            Expect::Outcome(o, code) => assert_outcome(&r, *o, code, ctx),
        }
    })
    .await;
    assert_eq!(cells, 24);
}
