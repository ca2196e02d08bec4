//! Fault matrix of kubernetes-version: every AWS call the function makes,
//! under throttling (recovering and exhausted), 5xx, a real transport timeout, AccessDenied and
//! not-found, ends as `expected` says — a report with a given outcome and reason code, a Lambda
//! error EventBridge retries and dead-letters, or an applied upgrade whose notification, finding
//! record or verification is reported as it went. No cell panics, none outlives its bound, and no
//! cell starts an upgrade after a failed precondition.
//!
//! The clean path: sample event `eks-unsupported-kubernetes-version.json` (cluster batch-legacy),
//! MODE apply, the cluster at 1.24, DescribeClusterVersions listing 1.23–1.24 UNSUPPORTED and
//! 1.25–1.35 in standard support, one managed node group at 1.24, and one WARNING upgrade insight
//! (non-passing, so DescribeInsight is called; a warning does not block the upgrade).

use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
use aws_sdk_eks::operation::describe_cluster_versions::DescribeClusterVersionsOutput;
use aws_sdk_eks::operation::describe_insight::DescribeInsightOutput;
use aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::list_addons::ListAddonsOutput;
use aws_sdk_eks::operation::list_insights::ListInsightsOutput;
use aws_sdk_eks::operation::list_nodegroups::ListNodegroupsOutput;
use aws_sdk_eks::operation::update_cluster_version::{
    UpdateClusterVersionInput, UpdateClusterVersionOutput,
};
use aws_sdk_eks::types::{
    Insight, InsightStatus, InsightStatusValue, InsightSummary, Nodegroup, NodegroupStatus, Update,
    UpdateStatus, UpdateType,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use kubernetes_version::KubernetesVersion;
use shared::config::Mode;
use shared::faulty_rule;
use shared::output::report::{EffectStatus, Outcome, Report};
use shared::pipeline::{ResponderError, respond};
use shared::testing::{
    ClusterFixture, Executions, Fault, assert_attempts, assert_effects, assert_effects_done,
    assert_outcome, assert_refused, assert_retryable, config, event, every_cell, expect_report,
    fast_retry, json_fault, mocked_deps_with, not_checked, own_retry_quota, recorder_for_cell,
    sns_for_cell, update_json, version_catalogue,
};

const EVENT: &str = "eks-unsupported-kubernetes-version.json";
const CLUSTER: &str = "batch-legacy";
/// No cell may take longer: far below the function's timeout, far above a cell's real time.

#[derive(Clone, Copy, Debug, PartialEq)]
enum Call {
    DescribeCluster,
    DescribeClusterVersions,
    ListNodegroups,
    DescribeNodegroup,
    ListInsights,
    DescribeInsight,
    ListAddons,
    UpdateClusterVersion,
    DescribeUpdate,
    Publish,
    BatchUpdateFindingsV2,
}

const CALLS: [Call; 11] = [
    Call::DescribeCluster,
    Call::DescribeClusterVersions,
    Call::ListNodegroups,
    Call::DescribeNodegroup,
    Call::ListInsights,
    Call::DescribeInsight,
    Call::ListAddons,
    Call::UpdateClusterVersion,
    Call::DescribeUpdate,
    Call::Publish,
    Call::BatchUpdateFindingsV2,
];

impl Call {
    /// The operation as `AwsError` names it (and so as a Lambda error message names it).
    fn operation(self) -> &'static str {
        match self {
            Call::DescribeCluster => "eks:DescribeCluster",
            Call::DescribeClusterVersions => "eks:DescribeClusterVersions",
            Call::ListNodegroups => "eks:ListNodegroups",
            Call::DescribeNodegroup => "eks:DescribeNodegroup",
            Call::ListInsights => "eks:ListInsights",
            Call::DescribeInsight => "eks:DescribeInsight",
            Call::ListAddons => "eks:ListAddons",
            Call::UpdateClusterVersion => "eks:UpdateClusterVersion",
            Call::DescribeUpdate => "eks:DescribeUpdate",
            Call::Publish => "sns:Publish",
            Call::BatchUpdateFindingsV2 => "securityhub:BatchUpdateFindings",
        }
    }
}

/// What each cell must end in.
#[derive(Debug, PartialEq)]
enum Expect {
    /// Upgrade started (update upd-1), verified by DescribeUpdate, published and recorded.
    Applied,
    /// Applied, and the report says what could not be checked (a line containing the text).
    AppliedNotChecked(&'static str),
    /// Applied, but DescribeUpdate could not read the update back: reported, neither failed
    /// nor retried (the upgrade was started).
    AppliedUnverified,
    AppliedButNotified(EffectStatus),
    AppliedButRecorded(EffectStatus),
    /// A read the apply depends on failed: the upgrade is proposed, refused by the blocker
    /// `code`, and a not-checked line contains the text.
    Refused {
        code: &'static str,
        not_checked: &'static str,
    },
    Outcome(Outcome, &'static str),
    /// `AwsTransientError` naming the call: EventBridge retries, then dead-letters.
    LambdaError,
}

/// The contract, cell by cell.
fn expected(call: Call, fault: Fault) -> Expect {
    use Call::*;
    use Fault::*;
    match (call, fault) {
        // Side effects after the decision: reported on the report, never raised.
        (Publish, ThrottleThenOk) => Expect::AppliedButNotified(EffectStatus::Done),
        (Publish, _) => Expect::AppliedButNotified(EffectStatus::Failed),
        (BatchUpdateFindingsV2, ThrottleThenOk) => Expect::AppliedButRecorded(EffectStatus::Done),
        (BatchUpdateFindingsV2, _) => Expect::AppliedButRecorded(EffectStatus::Failed),
        // The SDK's retry absorbs one throttle.
        (_, ThrottleThenOk) => Expect::Applied,
        // An update EKS accepted ends `applied` whatever DescribeUpdate does: unverified, with
        // the update id, never a retried error (the retry would see UPDATING and say deferred).
        (DescribeUpdate, _) => Expect::AppliedUnverified,
        // Transient after the SDK's retries: the event is retried (for UpdateClusterVersion with
        // the same clientRequestToken, so no second upgrade starts).
        (_, ThrottleExhausted | ServerError | Timeout) => Expect::LambdaError,
        (DescribeCluster, AccessDenied) => Expect::Outcome(Outcome::Failed, "access_denied_failed"),
        (DescribeCluster, NotFound) => Expect::Outcome(Outcome::Skipped, "cluster_not_found"),
        (DescribeClusterVersions, AccessDenied) => Expect::Refused {
            code: "versions_not_checked",
            not_checked: "DescribeClusterVersions: access denied (AccessDeniedException)",
        },
        (DescribeClusterVersions, NotFound) => Expect::Refused {
            code: "versions_not_checked",
            not_checked: "DescribeClusterVersions: eks:DescribeClusterVersions failed (ResourceNotFoundException)",
        },
        (ListNodegroups, AccessDenied) => Expect::Refused {
            code: "nodegroups_not_checked",
            not_checked: "ListNodegroups: access denied (AccessDeniedException)",
        },
        (ListNodegroups, NotFound) => Expect::Refused {
            code: "nodegroups_not_checked",
            not_checked: "ListNodegroups: eks:ListNodegroups failed (ResourceNotFoundException)",
        },
        (DescribeNodegroup, AccessDenied) => Expect::Refused {
            code: "nodegroups_not_checked",
            not_checked: "DescribeNodegroup 'ng-a': access denied (AccessDeniedException)",
        },
        // The node group vanished between ListNodegroups and DescribeNodegroup: its version is
        // unknown, so the upgrade EKS would refuse for a lagging group is not started.
        (DescribeNodegroup, NotFound) => Expect::Refused {
            code: "nodegroups_not_checked",
            not_checked: "DescribeNodegroup 'ng-a': eks:DescribeNodegroup failed (ResourceNotFoundException)",
        },
        (ListInsights, AccessDenied) => Expect::Refused {
            code: "insights_not_checked",
            not_checked: "ListInsights (UPGRADE_READINESS for 1.25): access denied (AccessDeniedException)",
        },
        (ListInsights, NotFound) => Expect::Refused {
            code: "insights_not_checked",
            not_checked: "ListInsights (UPGRADE_READINESS for 1.25): eks:ListInsights failed (ResourceNotFoundException)",
        },
        // ListInsights already gave the insight's level (WARNING, which does not block); only
        // its recommendation is missing, and the report says so.
        (DescribeInsight, AccessDenied) => Expect::AppliedNotChecked(
            "DescribeInsight for 'Deprecated APIs removed in Kubernetes v1.25' (WARNING): access denied (AccessDeniedException)",
        ),
        (DescribeInsight, NotFound) => Expect::AppliedNotChecked(
            "DescribeInsight for 'Deprecated APIs removed in Kubernetes v1.25' (WARNING): eks:DescribeInsight failed (ResourceNotFoundException)",
        ),
        // Which core add-ons are self-managed is advice, not a precondition of the upgrade.
        (ListAddons, AccessDenied) => {
            Expect::AppliedNotChecked("ListAddons: access denied (AccessDeniedException)")
        }
        (ListAddons, NotFound) => Expect::AppliedNotChecked(
            "ListAddons: eks:ListAddons failed (ResourceNotFoundException)",
        ),
        (UpdateClusterVersion, AccessDenied) => {
            Expect::Outcome(Outcome::Failed, "access_denied_failed")
        }
        (UpdateClusterVersion, NotFound) => Expect::Outcome(Outcome::Failed, "not_found_failed"),
    }
}

/// UpdateClusterVersion executions per cell: one wherever the upgrade is reached (its own cells
/// included: the SDK's retries are one execution), none after a failed precondition.
fn upgrades_requested(call: Call, fault: Fault) -> usize {
    match expected(call, fault) {
        Expect::LambdaError | Expect::Outcome(..) => match call {
            Call::UpdateClusterVersion | Call::DescribeUpdate => 1,
            _ => 0,
        },
        Expect::Refused { .. } => 0,
        _ => 1,
    }
}

// ---- the clean path ----

/// 1.23 and 1.24 UNSUPPORTED, the rest STANDARD_SUPPORT (as tests/pipeline.rs lists them with
/// `version_catalogue(25, 25)`). One page.
fn versions_ok() -> DescribeClusterVersionsOutput {
    DescribeClusterVersionsOutput::builder()
        .set_cluster_versions(Some(version_catalogue(25, 25)))
        .build()
}

fn describe_cluster_ok() -> DescribeClusterOutput {
    let fixture = ClusterFixture {
        version: "1.24".to_string(),
        ..ClusterFixture::new(CLUSTER).with_owner_consent()
    };
    fixture.describe_output()
}

fn list_nodegroups_ok() -> ListNodegroupsOutput {
    ListNodegroupsOutput::builder().nodegroups("ng-a").build()
}

fn describe_nodegroup_ok() -> DescribeNodegroupOutput {
    DescribeNodegroupOutput::builder()
        .nodegroup(
            Nodegroup::builder()
                .nodegroup_name("ng-a")
                .cluster_name(CLUSTER)
                .version("1.24")
                .status(NodegroupStatus::Active)
                .build(),
        )
        .build()
}

const INSIGHT: &str = "Deprecated APIs removed in Kubernetes v1.25";

fn warning() -> InsightStatus {
    InsightStatus::builder()
        .status(InsightStatusValue::Warning)
        .reason("Deprecated API usage detected within the last 30 days")
        .build()
}

fn list_insights_ok() -> ListInsightsOutput {
    ListInsightsOutput::builder()
        .insights(
            InsightSummary::builder()
                .id("ins-warn")
                .name(INSIGHT)
                .kubernetes_version("1.25")
                .insight_status(warning())
                .build(),
        )
        // The responder is the only readiness gate: it needs the kubelet check to pass.
        .insights(
            InsightSummary::builder()
                .id("ins-kubelet")
                .name("Kubelet version skew")
                .kubernetes_version("1.25")
                .insight_status(
                    InsightStatus::builder()
                        .status(InsightStatusValue::Passing)
                        .reason("Node kubelet versions match the cluster control plane version")
                        .build(),
                )
                .build(),
        )
        .build()
}

fn list_addons_ok() -> ListAddonsOutput {
    ListAddonsOutput::builder()
        .addons("vpc-cni")
        .addons("coredns")
        .addons("kube-proxy")
        .build()
}

fn describe_insight_ok() -> DescribeInsightOutput {
    DescribeInsightOutput::builder()
        .insight(
            Insight::builder()
                .id("ins-warn")
                .name(INSIGHT)
                .insight_status(warning())
                .recommendation("Update manifests and API clients to use newer Kubernetes APIs")
                .build(),
        )
        .build()
}

fn update() -> Update {
    Update::builder()
        .id("upd-1")
        .status(UpdateStatus::InProgress)
        .r#type(UpdateType::VersionUpdate)
        .build()
}

fn update_ok() -> UpdateClusterVersionOutput {
    UpdateClusterVersionOutput::builder()
        .update(update())
        .build()
}

fn describe_update_ok() -> DescribeUpdateOutput {
    DescribeUpdateOutput::builder().update(update()).build()
}

// ---- the wire, for real timeouts ----

/// The same clean path as JSON on a loopback server, hanging on exactly `call`. Prefixes are
/// matched in order, so a Describe route comes before the List route it extends.
async fn eks_timing_out_on(call: Call) -> aws_sdk_eks::Client {
    let versions: Vec<String> = (23..=35)
        .map(|m| {
            let status = if m < 25 {
                "UNSUPPORTED"
            } else {
                "STANDARD_SUPPORT"
            };
            format!(
                r#"{{"clusterVersion":"1.{m}","clusterType":"eks","versionStatus":"{status}"}}"#
            )
        })
        .collect();
    let insight_status =
        r#"{"status":"WARNING","reason":"Deprecated API usage detected within the last 30 days"}"#;
    let update = update_json("upd-1", UpdateType::VersionUpdate);
    let routes = vec![
        (
            "GET /cluster-versions".to_string(),
            format!(r#"{{"clusterVersions":[{}]}}"#, versions.join(",")),
        ),
        (
            "GET /clusters/batch-legacy/node-groups/".to_string(),
            r#"{"nodegroup":{"nodegroupName":"ng-a","clusterName":"batch-legacy","version":"1.24","status":"ACTIVE"}}"#.to_string(),
        ),
        (
            "GET /clusters/batch-legacy/node-groups".to_string(),
            r#"{"nodegroups":["ng-a"]}"#.to_string(),
        ),
        (
            "GET /clusters/batch-legacy/insights/".to_string(),
            format!(
                r#"{{"insight":{{"id":"ins-warn","name":"{INSIGHT}","insightStatus":{insight_status},"recommendation":"Update manifests"}}}}"#
            ),
        ),
        (
            "POST /clusters/batch-legacy/insights".to_string(),
            format!(
                r#"{{"insights":[{{"id":"ins-warn","name":"{INSIGHT}","kubernetesVersion":"1.25","insightStatus":{insight_status}}},{{"id":"ins-kubelet","name":"Kubelet version skew","kubernetesVersion":"1.25","insightStatus":{{"status":"PASSING","reason":"Node kubelet versions match"}}}}]}}"#
            ),
        ),
        (
            "GET /clusters/batch-legacy/addons".to_string(),
            r#"{"addons":["vpc-cni","coredns","kube-proxy"]}"#.to_string(),
        ),
        ("POST /clusters/batch-legacy/updates".to_string(), update.clone()),
    ];
    let hang_on = match call {
        Call::DescribeCluster => "GET /clusters/batch-legacy ",
        Call::DescribeClusterVersions => "GET /cluster-versions",
        Call::ListNodegroups => "GET /clusters/batch-legacy/node-groups ",
        Call::DescribeNodegroup => "GET /clusters/batch-legacy/node-groups/",
        Call::ListInsights => "POST /clusters/batch-legacy/insights",
        Call::DescribeInsight => "GET /clusters/batch-legacy/insights/",
        Call::ListAddons => "GET /clusters/batch-legacy/addons",
        Call::UpdateClusterVersion => "POST /clusters/batch-legacy/updates",
        Call::DescribeUpdate => "GET /clusters/batch-legacy/updates/",
        Call::Publish | Call::BatchUpdateFindingsV2 => "never",
    };
    let cluster = ClusterFixture {
        version: "1.24".to_string(),
        ..ClusterFixture::new(CLUSTER).with_owner_consent()
    };
    shared::testing::eks_timing_out_on(&cluster, &update, routes, hang_on).await
}

// ---- the cell ----

/// A retry quota of its own per cell: the SDK's token bucket is process-wide per service, and
/// sixty-six cells of exhausted retries would drain it and change later cells' retries.
struct Cell {
    result: Result<Report, ResponderError>,
    upgrades: usize,
    /// Calls of the faulted mock rule, where the fault was mocked.
    faulted_calls: Option<usize>,
}

async fn run_cell(call: Call, fault: Fault) -> Cell {
    let upgrades = Executions::<UpdateClusterVersionInput>::new();
    let timeout = fault == Fault::Timeout;
    let eks_call = !matches!(call, Call::Publish | Call::BatchUpdateFindingsV2);

    // EKS: every operation answers the clean path, except `call`, which answers `fault`.
    let mut faulted: Option<Rule> = None;
    macro_rules! rule {
        ($which:expr, $op:expr, $ok:expr) => {
            if call == $which && !timeout {
                let r = faulty_rule!($op, fault, $ok, json_fault);
                faulted = Some(r.clone());
                r
            } else {
                mock!($op).then_output($ok)
            }
        };
    }
    let eks = if eks_call && timeout {
        let c = eks_timing_out_on(call).await;
        aws_sdk_eks::Client::from_conf(
            c.config()
                .to_builder()
                .interceptor(upgrades.clone())
                .retry_partition(own_retry_quota(&format!("{call:?}-{fault:?}")))
                .build(),
        )
    } else {
        let rules = [
            rule!(
                Call::DescribeCluster,
                aws_sdk_eks::Client::describe_cluster,
                describe_cluster_ok
            ),
            rule!(
                Call::DescribeClusterVersions,
                aws_sdk_eks::Client::describe_cluster_versions,
                versions_ok
            ),
            rule!(
                Call::ListNodegroups,
                aws_sdk_eks::Client::list_nodegroups,
                list_nodegroups_ok
            ),
            rule!(
                Call::DescribeNodegroup,
                aws_sdk_eks::Client::describe_nodegroup,
                describe_nodegroup_ok
            ),
            rule!(
                Call::ListInsights,
                aws_sdk_eks::Client::list_insights,
                list_insights_ok
            ),
            rule!(
                Call::DescribeInsight,
                aws_sdk_eks::Client::describe_insight,
                describe_insight_ok
            ),
            rule!(
                Call::ListAddons,
                aws_sdk_eks::Client::list_addons,
                list_addons_ok
            ),
            rule!(
                Call::UpdateClusterVersion,
                aws_sdk_eks::Client::update_cluster_version,
                update_ok
            ),
            rule!(
                Call::DescribeUpdate,
                aws_sdk_eks::Client::describe_update,
                describe_update_ok
            ),
        ];
        let counter = upgrades.clone();
        let partition = own_retry_quota(&format!("{call:?}-{fault:?}"));
        mock_client!(aws_sdk_eks, RuleMode::MatchAny, &rules, |b| b
            .retry_config(fast_retry())
            .retry_partition(partition.clone())
            .interceptor(counter.clone()))
    };

    let (sns, publish_rule) = sns_for_cell(call == Call::Publish, fault).await;
    let (securityhub, record_rule) =
        recorder_for_cell(call == Call::BatchUpdateFindingsV2, fault).await;
    faulted = faulted.or(publish_rule).or(record_rule);

    let deps = mocked_deps_with(config(Mode::Apply), eks, sns, securityhub);
    let result = respond(&KubernetesVersion::new(), &deps, event(EVENT), None).await;
    Cell {
        result,
        upgrades: upgrades.count(),
        faulted_calls: faulted.map(|r| r.num_calls()),
    }
}

fn assert_applied(r: &Report, ctx: &str) {
    assert_eq!(
        (r.outcome, r.reason_code.as_str()),
        (Outcome::Applied, "applied"),
        "{ctx}: {}",
        r.reason
    );
    assert_eq!(r.update_id.as_deref(), Some("upd-1"), "{ctx}");
}

fn assert_verified(r: &Report, ctx: &str) {
    assert!(
        r.verification
            .as_deref()
            .is_some_and(|v| v.starts_with("DescribeUpdate reports update upd-1 as InProgress")),
        "{ctx}: {:?}",
        r.verification
    );
}

#[tokio::test]
async fn every_call_under_every_fault_ends_as_specified() {
    let cells = every_cell(&CALLS, run_cell, |call, fault, ctx, cell| {
        let want = expected(call, fault);
        assert_eq!(
            cell.upgrades,
            upgrades_requested(call, fault),
            "{ctx}: UpdateClusterVersion executions"
        );
        assert_attempts(cell.faulted_calls, fault, ctx);
        if want == Expect::LambdaError {
            return assert_retryable(cell.result, call.operation(), fault, ctx);
        }
        let r = expect_report(cell.result, ctx);
        match &want {
            Expect::LambdaError => unreachable!(),
            Expect::Applied => {
                assert_applied(&r, ctx);
                assert_verified(&r, ctx);
                assert!(not_checked(&r).is_empty(), "{ctx}: {:?}", r.not_checked);
                assert_effects_done(&r, ctx);
            }
            Expect::AppliedNotChecked(line) => {
                assert_applied(&r, ctx);
                assert_verified(&r, ctx);
                assert!(
                    r.not_checked.iter().any(|n| n.contains(line)),
                    "{ctx}: {:?}",
                    r.not_checked
                );
                assert_effects_done(&r, ctx);
            }
            Expect::AppliedUnverified => {
                assert_applied(&r, ctx);
                assert!(
                    r.verification
                        .as_deref()
                        .is_some_and(|v| v.contains("could not be read back")
                            && v.contains(call.operation())),
                    "{ctx}: {:?}",
                    r.verification
                );
                assert_effects_done(&r, ctx);
            }
            Expect::AppliedButNotified(s) => {
                assert_applied(&r, ctx);
                assert_effects(&r, *s, EffectStatus::Done, fault, ctx);
            }
            Expect::AppliedButRecorded(s) => {
                assert_applied(&r, ctx);
                assert_effects(&r, EffectStatus::Done, *s, fault, ctx);
            }
            Expect::Refused { code, not_checked } => assert_refused(&r, code, not_checked, ctx),
            Expect::Outcome(o, code) => assert_outcome(&r, *o, code, ctx),
        }
    })
    .await;
    assert_eq!(cells, 66);
}
