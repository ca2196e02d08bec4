//! The whole pipeline (gate → DescribeCluster → assess → apply → record → notify) for the
//! kubernetes-version function, with EKS mocked by aws-smithy-mocks and the sample event
//! `events/eks-unsupported-kubernetes-version.json` (cluster batch-legacy).

use std::sync::{Arc, Mutex};

use aws_sdk_eks::operation::describe_cluster_versions::DescribeClusterVersionsOutput;
use aws_sdk_eks::operation::describe_insight::DescribeInsightOutput;
use aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput;
use aws_sdk_eks::operation::list_insights::{ListInsightsInput, ListInsightsOutput};
use aws_sdk_eks::operation::list_nodegroups::ListNodegroupsOutput;
use aws_sdk_eks::operation::update_cluster_version::{
    UpdateClusterVersionInput, UpdateClusterVersionOutput,
};
use aws_sdk_eks::primitives::DateTime;
use aws_sdk_eks::types::{
    ClusterStatus, ClusterVersionInformation, Insight, InsightStatus, InsightStatusValue,
    InsightSummary, Nodegroup, NodegroupStatus, Update, UpdateStatus, UpdateType,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use kubernetes_version::KubernetesVersion;
use shared::config::Mode;
use shared::pipeline::{ResponderError, respond};
use shared::testing::{
    Captures, ClusterFixture, DAY, config, describe_update_rule, eks_client, event, mocked_deps,
    not_checked, now, support_dates, version_catalogue,
};
use shared::{Outcome, Remediation, Report};

const EVENT: &str = "eks-unsupported-kubernetes-version.json";
/// The date DescribeClusterVersions gives for a version's end of extended support.
fn end_of_extended(m: u32, extended_from: u32, standard_from: u32) -> String {
    let (_, ext) = support_dates(m, extended_from, standard_from);
    DateTime::from_secs(now() + ext * DAY)
        .fmt(aws_sdk_eks::primitives::DateTimeFormat::DateTime)
        .map(|s| s[..10].to_string())
        .unwrap_or_default()
}

/// DescribeClusterVersions answering `list` in two pages (the function must follow nextToken).
fn versions_rule(list: Vec<ClusterVersionInformation>) -> Rule {
    mock!(aws_sdk_eks::Client::describe_cluster_versions)
        .match_requests(|req| req.include_all() == Some(true) && req.version_status().is_none())
        .then_compute_output(move |req| {
            let (first, second) = list.split_at(list.len() / 2);
            match req.next_token() {
                None => DescribeClusterVersionsOutput::builder()
                    .set_cluster_versions(Some(first.to_vec()))
                    .next_token("page-2")
                    .build(),
                Some("page-2") => DescribeClusterVersionsOutput::builder()
                    .set_cluster_versions(Some(second.to_vec()))
                    .build(),
                Some(other) => panic!("unexpected nextToken {other}"),
            }
        })
}

/// An error as EKS sends it on the wire (status, `__type`, message).
fn wire_error(code: &str) -> Option<String> {
    Some(format!(
        r#"{{"__type":"{code}","message":"simulated {code}"}}"#
    ))
}

fn nodegroup_rules(groups: &[(&str, &str, NodegroupStatus)]) -> (Rule, Rule) {
    let names: Vec<String> = groups.iter().map(|g| g.0.to_string()).collect();
    let list = mock!(aws_sdk_eks::Client::list_nodegroups).then_output(move || {
        ListNodegroupsOutput::builder()
            .set_nodegroups(Some(names.clone()))
            .build()
    });
    let owned: Vec<(String, String, NodegroupStatus)> = groups
        .iter()
        .map(|(n, v, s)| (n.to_string(), v.to_string(), s.clone()))
        .collect();
    let describe = mock!(aws_sdk_eks::Client::describe_nodegroup).then_compute_output(move |req| {
        let name = req.nodegroup_name().unwrap_or_default();
        let (n, v, s) = owned
            .iter()
            .find(|g| g.0 == name)
            .cloned()
            .unwrap_or_else(|| panic!("DescribeNodegroup for unknown node group {name}"));
        DescribeNodegroupOutput::builder()
            .nodegroup(
                Nodegroup::builder()
                    .nodegroup_name(n)
                    .cluster_name("batch-legacy")
                    .version(v)
                    .status(s)
                    .build(),
            )
            .build()
    });
    (list, describe)
}

/// (id, name, status, reason, recommendation)
type InsightRow = (
    &'static str,
    &'static str,
    InsightStatusValue,
    &'static str,
    &'static str,
);

/// ListInsights answering `rows`, capturing each request; DescribeInsight by id.
fn insight_rules(rows: Vec<InsightRow>) -> (Rule, Rule, Arc<Mutex<Vec<ListInsightsInput>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let capture = seen.clone();
    let summaries = rows.clone();
    let list = mock!(aws_sdk_eks::Client::list_insights)
        .match_requests(move |req| {
            capture.lock().expect("capture").push(req.clone());
            true
        })
        .then_output(move || {
            ListInsightsOutput::builder()
                .set_insights(Some(
                    summaries
                        .iter()
                        .map(|(id, name, status, reason, _)| {
                            InsightSummary::builder()
                                .id(*id)
                                .name(*name)
                                .kubernetes_version("1.25")
                                .insight_status(
                                    InsightStatus::builder()
                                        .status(status.clone())
                                        .reason(*reason)
                                        .build(),
                                )
                                .build()
                        })
                        .collect(),
                ))
                .build()
        });
    let describe = mock!(aws_sdk_eks::Client::describe_insight).then_compute_output(move |req| {
        let id = req.id().unwrap_or_default();
        let (id, name, status, reason, recommendation) = rows
            .iter()
            .find(|r| r.0 == id)
            .cloned()
            .unwrap_or_else(|| panic!("DescribeInsight for unknown insight {id}"));
        DescribeInsightOutput::builder()
            .insight(
                Insight::builder()
                    .id(id)
                    .name(name)
                    .insight_status(
                        InsightStatus::builder()
                            .status(status)
                            .reason(reason)
                            .build(),
                    )
                    .recommendation(recommendation)
                    .build(),
            )
            .build()
    });
    (list, describe, seen)
}

/// UpdateClusterVersion answering update `upd-1`, capturing each request.
fn update_rule() -> (Rule, Arc<Mutex<Vec<UpdateClusterVersionInput>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let capture = seen.clone();
    let rule = mock!(aws_sdk_eks::Client::update_cluster_version)
        .match_requests(move |req| {
            capture.lock().expect("capture").push(req.clone());
            true
        })
        .then_output(|| {
            UpdateClusterVersionOutput::builder()
                .update(
                    Update::builder()
                        .id("upd-1")
                        .status(UpdateStatus::InProgress)
                        .r#type(UpdateType::VersionUpdate)
                        .build(),
                )
                .build()
        });
    (rule, seen)
}

fn cluster(version: &str) -> ClusterFixture {
    ClusterFixture {
        version: version.to_string(),
        ..ClusterFixture::new("batch-legacy").with_owner_consent()
    }
}

/// ListAddons naming the three core add-ons as EKS add-ons: nothing self-managed.
fn eks_addons_rule() -> Rule {
    mock!(aws_sdk_eks::Client::list_addons).then_output(|| {
        aws_sdk_eks::operation::list_addons::ListAddonsOutput::builder()
            .addons("vpc-cni")
            .addons("coredns")
            .addons("kube-proxy")
            .build()
    })
}

async fn run(mode: Mode, rules: &[&Rule]) -> (Report, Captures) {
    let addons = eks_addons_rule();
    let mut rules = rules.to_vec();
    rules.push(&addons);
    let (deps, captures) = mocked_deps(config(mode), eks_client(&rules));
    let report = respond(&KubernetesVersion::new(), &deps, event(EVENT), None)
        .await
        .expect("a report");
    (report, captures)
}

/// Most cases: the sample's cluster on 1.24 with these node groups, insights and version
/// catalogue, plus the case's own rules (the update and what follows it).
async fn run_on_124(
    mode: Mode,
    groups: &[(&str, &str, NodegroupStatus)],
    insights: Vec<InsightRow>,
    versions: &Rule,
    more: &[&Rule],
) -> (Report, Captures) {
    let describe = cluster("1.24").describe_rule();
    let (list_ng, describe_ng) = nodegroup_rules(groups);
    let (list_ins, describe_ins, _) = insight_rules(insights);
    let mut rules: Vec<&Rule> = vec![
        &describe,
        versions,
        &list_ng,
        &describe_ng,
        &list_ins,
        &describe_ins,
    ];
    rules.extend_from_slice(more);
    run(mode, &rules).await
}

fn assert_recorded_in_progress(captures: &Captures, needles: &[&str]) {
    let recorded = captures.recorded();
    assert_eq!(recorded.len(), 1, "one BatchUpdateFindingsV2");
    let r = &recorded[0];
    assert_eq!(
        r.metadata_uids(),
        ["a65525378da510aa686420b588f3329b76527618e94251c8e85cf9b117f7aa30"]
    );
    assert_eq!(r.status_id(), Some(2));
    let comment = r.comment().unwrap_or_default();
    assert!(
        comment.starts_with("eks-exposure-responder/kubernetes-version: "),
        "{comment}"
    );
    for n in needles {
        assert!(comment.contains(n), "comment lacks {n:?}: {comment}");
    }
}

fn no_insight_rows() -> Vec<InsightRow> {
    vec![(
        "ins-pass",
        "Kubelet version skew",
        InsightStatusValue::Passing,
        "All nodes match",
        "",
    )]
}

#[tokio::test]
async fn standard_support_is_already_compliant() {
    let fixture = cluster("1.31");
    let (list_ng, describe_ng) = nodegroup_rules(&[("ng-a", "1.31", NodegroupStatus::Active)]);
    let (list_ins, describe_ins, _) = insight_rules(no_insight_rows());
    let update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_version,
        UpdateClusterVersionOutput
    );
    let versions = versions_rule(version_catalogue(28, 31));
    let (report, captures) = run(
        Mode::Apply,
        &[
            &fixture.describe_rule(),
            &versions,
            &list_ng,
            &describe_ng,
            &list_ins,
            &describe_ins,
            &update,
        ],
    )
    .await;
    assert_eq!(report.outcome, Outcome::AlreadyCompliant);
    assert!(report.plan.is_empty());
    assert!(
        report
            .reason
            .starts_with("Kubernetes 1.31 is in standard support until "),
        "{}",
        report.reason
    );
    assert_eq!(
        versions.num_calls(),
        2,
        "both pages of DescribeClusterVersions are read"
    );
    // Nothing else is read for a supported version.
    assert_eq!(list_ng.num_calls(), 0);
    assert_eq!(list_ins.num_calls(), 0);
    assert_eq!(update.num_calls(), 0);
    let email = captures.email();
    assert!(
        email.starts_with(
            "[COMPLIANT] batch-legacy 444455556666/us-east-1: unsupported Kubernetes version"
        ),
        "{email}"
    );
    assert!(email.contains("Decision: already_compliant — Kubernetes 1.31 is in standard support"));
    assert!(email.contains("EKS lists 1.31 as STANDARD_SUPPORT"));
    assert!(!email.contains("update-cluster-version"));
    // Already compliant: nothing is written on the finding.
    assert!(captures.recorded().is_empty());
}

#[tokio::test]
async fn extended_support_is_proposed_as_routine_and_not_applied() {
    let fixture = cluster("1.29");
    let (list_ng, describe_ng) = nodegroup_rules(&[("ng-a", "1.29", NodegroupStatus::Active)]);
    let (list_ins, describe_ins, _) = insight_rules(no_insight_rows());
    let update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_version,
        UpdateClusterVersionOutput
    );
    let (report, captures) = run(
        Mode::Apply,
        &[
            &fixture.describe_rule(),
            &versions_rule(version_catalogue(26, 31)),
            &list_ng,
            &describe_ng,
            &list_ins,
            &describe_ins,
            &update,
        ],
    )
    .await;
    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(report.reason_code, "extended_support_routine");
    assert_eq!(report.priority, Some(shared::Priority::Routine));
    assert_eq!(update.num_calls(), 0);
    assert_eq!(report.plan.len(), 1);
    assert_eq!(report.plan[0].parameters["version"], "1.30");
    assert_eq!(
        report.plan[0].cli,
        "aws eks update-cluster-version --region us-east-1 --name batch-legacy --kubernetes-version 1.30"
    );
    let ends = end_of_extended(29, 26, 31);
    let email = captures.email();
    for needle in [
        "[PROPOSED] batch-legacy 444455556666/us-east-1: unsupported Kubernetes version",
        "EKS lists 1.29 as EXTENDED_SUPPORT",
        &format!("extended support ends {ends}"),
        "$0.60 per cluster-hour instead of $0.10",
        "not an unsupported version",
        "Held back by (the apply was refused):",
        "Within 7 days of the upgrade completing, EKS can roll the control plane back to 1.29",
    ] {
        assert!(email.contains(needle), "email lacks {needle:?}:\n{email}");
    }
    assert!(!email.contains("[URGENT]"));
    assert_recorded_in_progress(
        &captures,
        &[
            "proposed",
            "Routine: upgrade batch-legacy from Kubernetes 1.29",
        ],
    );
}

#[tokio::test]
async fn an_upgrade_without_the_owner_tag_is_proposed_naming_the_tag() {
    // MODE=apply and a clean path, but the cluster owner has not tagged the cluster apply: an
    // upgrade is a one-way door, so it is proposed and UpdateClusterVersion is never called.
    let fixture = ClusterFixture {
        tags: Vec::new(),
        ..cluster("1.24")
    };
    let (list_ng, describe_ng) = nodegroup_rules(&[("ng-a", "1.24", NodegroupStatus::Active)]);
    let (list_ins, describe_ins, _) = insight_rules(no_insight_rows());
    let update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_version,
        UpdateClusterVersionOutput
    );
    let (report, captures) = run(
        Mode::Apply,
        &[
            &fixture.describe_rule(),
            &versions_rule(version_catalogue(25, 25)),
            &list_ng,
            &describe_ng,
            &list_ins,
            &describe_ins,
            &update,
        ],
    )
    .await;
    assert_eq!(report.outcome, Outcome::Proposed, "{}", report.reason);
    assert_eq!(report.reason_code, "guardrail");
    assert_eq!(report.mode, Mode::Propose);
    assert!(
        report
            .reason
            .contains("set the cluster tag eks-exposure-responder/mode=apply"),
        "{}",
        report.reason
    );
    assert!(
        captures
            .email()
            .contains("eks:UpdateClusterVersion is a one-way door"),
        "{}",
        captures.email()
    );
}

#[tokio::test]
async fn unsupported_with_a_clean_path_applies_the_next_minor() {
    let fixture = cluster("1.24");
    let (list_ng, describe_ng) = nodegroup_rules(&[("ng-a", "1.24", NodegroupStatus::Active)]);
    let (list_ins, describe_ins, _) = insight_rules(no_insight_rows());
    let (update, updates) = update_rule();
    let describe_update = describe_update_rule("upd-1", UpdateType::VersionUpdate);
    let (report, captures) = run(
        Mode::Apply,
        &[
            &fixture.describe_rule(),
            &versions_rule(version_catalogue(25, 25)),
            &list_ng,
            &describe_ng,
            &list_ins,
            &describe_ins,
            &update,
            &describe_update,
        ],
    )
    .await;
    assert_eq!(report.outcome, Outcome::Applied, "{}", report.reason);
    assert_eq!(report.update_id.as_deref(), Some("upd-1"));
    assert_eq!(describe_update.num_calls(), 1);
    // Only non-passing insights are described.
    assert_eq!(describe_ins.num_calls(), 0);

    let sent = updates.lock().expect("updates").clone();
    assert_eq!(sent.len(), 1, "exactly one UpdateClusterVersion");
    assert_eq!(sent[0].name(), Some("batch-legacy"));
    assert_eq!(sent[0].version(), Some("1.25"));
    assert_eq!(sent[0].force(), None, "force must never be set");
    let token = sent[0]
        .client_request_token()
        .expect("a clientRequestToken");
    assert!(token.starts_with("eer-"), "{token}");
    assert_eq!(report.plan[0].parameters["clientRequestToken"], token);
    // Derived from the finding revision, the action and the target version, so a re-delivered
    // event sends the same token and cannot start a second update.
    let exposure = match shared::event::gate::gate(
        &shared::event::gate::event_from_value(event(EVENT)).expect("event"),
        KubernetesVersion::OWNS,
    ) {
        Ok(shared::Gate::Actionable(e)) => e,
        other => panic!("the sample event is actionable, got {other:?}"),
    };
    assert_eq!(
        token,
        shared::aws::eks::client_request_token(&exposure, "UpdateClusterVersion", "1.25")
    );

    assert_eq!(report.plan.len(), 1);
    assert_eq!(report.plan[0].api_call, "eks:UpdateClusterVersion");
    assert!(
        report.irreversible,
        "1.24 is unsupported: no rollback to it"
    );
    let email = captures.email();
    for needle in [
        "[APPLIED][URGENT] batch-legacy 444455556666/us-east-1",
        "Decision: applied — Upgrade batch-legacy from Kubernetes 1.24 (UNSUPPORTED) to 1.25",
        "EKS update id: upd-1",
        "Verification: DescribeUpdate reports update upd-1 as InProgress",
        "aws eks describe-update --region us-east-1 --name batch-legacy --update-id upd-1",
        "What was done:",
        "After that:",
        "aws eks update-nodegroup-version --region us-east-1 --cluster-name batch-legacy --nodegroup-name ng-a --kubernetes-version 1.25",
        "aws eks describe-addon-versions --kubernetes-version 1.25 --addon-name NAME",
        "within 7 days of an upgrade, but only to a version it still supports, and 1.24 is UNSUPPORTED",
        "force is never set",
    ] {
        assert!(email.contains(needle), "email lacks {needle:?}:\n{email}");
    }
    assert_recorded_in_progress(&captures, &["applied", "EKS update upd-1"]);
}

#[tokio::test]
async fn unsupported_with_an_error_insight_is_proposed_and_names_it() {
    let fixture = cluster("1.24");
    let (list_ng, describe_ng) = nodegroup_rules(&[("ng-a", "1.24", NodegroupStatus::Active)]);
    let (list_ins, describe_ins, _) = insight_rules(vec![
        (
            "ins-pass",
            "Kubelet version skew",
            InsightStatusValue::Passing,
            "All nodes match",
            "",
        ),
        (
            "ins-err",
            "Deprecated APIs removed in Kubernetes v1.25",
            InsightStatusValue::Error,
            "Deprecated API usage detected within last 30 days",
            "Migrate PodSecurityPolicy and batch/v1beta1 CronJob clients to the v1.25 APIs",
        ),
    ]);
    let update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_version,
        UpdateClusterVersionOutput
    );
    let (report, captures) = run(
        Mode::Apply,
        &[
            &fixture.describe_rule(),
            &versions_rule(version_catalogue(25, 27)),
            &list_ng,
            &describe_ng,
            &list_ins,
            &describe_ins,
            &update,
        ],
    )
    .await;
    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(report.reason_code, "upgrade_insight_error");
    assert_eq!(update.num_calls(), 0);
    assert_eq!(
        describe_ins.num_calls(),
        1,
        "only the ERROR insight is described"
    );
    assert_eq!(report.blockers.len(), 1);
    let blocker = &report.blockers[0].message;
    for needle in [
        "Deprecated APIs removed in Kubernetes v1.25",
        "Deprecated API usage detected within last 30 days",
        "Migrate PodSecurityPolicy",
    ] {
        assert!(
            blocker.contains(needle),
            "blocker lacks {needle:?}: {blocker}"
        );
    }
    assert!(report.plan[0].description.starts_with(
        "BLOCKED until the ERROR upgrade insight 'Deprecated APIs removed in Kubernetes v1.25' is resolved"
    ));

    let email = captures.email();
    for needle in [
        "[PROPOSED][URGENT] batch-legacy",
        "Held back by (the apply was refused):",
        "EKS upgrade insight 'Deprecated APIs removed in Kubernetes v1.25' is ERROR for 1.25",
        "Recommendation: Migrate PodSecurityPolicy",
        "BLOCKED until the ERROR upgrade insight",
    ] {
        assert!(email.contains(needle), "email lacks {needle:?}:\n{email}");
    }
    // No upgrade command is presented as runnable: every one is commented out and labelled.
    for line in email
        .lines()
        .filter(|l| l.contains("update-cluster-version") || l.contains("update-nodegroup-version"))
    {
        assert!(
            line.trim_start().starts_with("# BLOCKED until"),
            "runnable upgrade command in the email: {line}"
        );
    }
    assert_recorded_in_progress(
        &captures,
        &["proposed", "Deprecated APIs removed in Kubernetes v1.25"],
    );
}

#[tokio::test]
async fn node_group_skew_blocks_and_the_catch_up_comes_first() {
    let fixture = cluster("1.24");
    let (list_ng, describe_ng) = nodegroup_rules(&[
        ("ng-a", "1.24", NodegroupStatus::Active),
        ("ng-old", "1.22", NodegroupStatus::Active),
    ]);
    let (list_ins, describe_ins, _) = insight_rules(no_insight_rows());
    let update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_version,
        UpdateClusterVersionOutput
    );
    let (report, captures) = run(
        Mode::Apply,
        &[
            &fixture.describe_rule(),
            &versions_rule(version_catalogue(25, 25)),
            &list_ng,
            &describe_ng,
            &list_ins,
            &describe_ins,
            &update,
        ],
    )
    .await;
    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(report.reason_code, "nodegroup_version_skew");
    assert_eq!(update.num_calls(), 0);
    assert_eq!(describe_ng.num_calls(), 2);
    let steps: Vec<&str> = report.plan.iter().map(|s| s.api_call.as_str()).collect();
    assert_eq!(
        steps,
        ["eks:UpdateNodegroupVersion", "eks:UpdateClusterVersion"]
    );
    assert_eq!(report.plan[0].parameters["nodegroupName"], "ng-old");
    assert_eq!(report.plan[0].parameters["version"], "1.24");
    let email = captures.email();
    for needle in [
        "Managed node group 'ng-old' runs Kubernetes 1.22: upgrading the control plane to 1.25 would put it 3 minor versions ahead, beyond the documented kubelet skew of 2",
        "1. First: upgrade managed node group 'ng-old' from 1.22 to 1.24",
        "aws eks update-nodegroup-version --region us-east-1 --cluster-name batch-legacy --nodegroup-name ng-old --kubernetes-version 1.24",
        "2. BLOCKED until node group 'ng-old' runs 1.24",
    ] {
        assert!(email.contains(needle), "email lacks {needle:?}:\n{email}");
    }
    assert_recorded_in_progress(
        &captures,
        &["proposed", "blocked until node group 'ng-old' runs 1.24"],
    );
}

#[tokio::test]
async fn several_minors_behind_lists_the_path_to_standard_support() {
    let fixture = cluster("1.24");
    let (list_ng, describe_ng) = nodegroup_rules(&[("ng-a", "1.24", NodegroupStatus::Active)]);
    let (list_ins, describe_ins, seen) = insight_rules(no_insight_rows());
    let update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_version,
        UpdateClusterVersionOutput
    );
    let (report, captures) = run(
        Mode::Propose,
        &[
            &fixture.describe_rule(),
            &versions_rule(version_catalogue(25, 28)),
            &list_ng,
            &describe_ng,
            &list_ins,
            &describe_ins,
            &update,
        ],
    )
    .await;
    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(report.reason_code, "mode_propose");
    assert_eq!(update.num_calls(), 0);
    // Insights are asked for the next version only, in the upgrade-readiness category.
    let asked = seen.lock().expect("seen").clone();
    assert_eq!(asked.len(), 1);
    let filter = asked[0].filter().expect("a filter");
    assert_eq!(filter.kubernetes_versions(), ["1.25"]);
    assert_eq!(
        filter.categories(),
        [aws_sdk_eks::types::Category::UpgradeReadiness]
    );

    assert_eq!(report.plan.len(), 1);
    assert_eq!(report.plan[0].parameters["version"], "1.25");
    let later: Vec<&str> = report
        .follow_ups
        .iter()
        .filter(|s| s.api_call == "eks:UpdateClusterVersion")
        .map(|s| s.parameters["version"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(later, ["1.26", "1.27", "1.28"]);
    let email = captures.email();
    for needle in [
        "Oldest version in standard support: 1.28; path, one minor version per update: 1.24 → 1.25 → 1.26 → 1.27 → 1.28 (4 control-plane updates)",
        "Decision: proposed — Upgrade batch-legacy from Kubernetes 1.24 (UNSUPPORTED) to 1.25, step 1 of 4 toward 1.28",
        "not applied: the function runs in propose mode",
        "aws eks update-cluster-version --region us-east-1 --name batch-legacy --kubernetes-version 1.25",
        "Then upgrade the control plane from 1.27 to 1.28",
    ] {
        assert!(email.contains(needle), "email lacks {needle:?}:\n{email}");
    }
    assert!(!email.contains("BLOCKED"));
    assert_recorded_in_progress(&captures, &["proposed", "step 1 of 4 toward 1.28"]);
}

#[tokio::test]
async fn a_node_group_update_in_progress_defers() {
    let update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_version,
        UpdateClusterVersionOutput
    );
    let (report, captures) = run_on_124(
        Mode::Apply,
        &[("ng-a", "1.24", NodegroupStatus::Updating)],
        no_insight_rows(),
        &versions_rule(version_catalogue(25, 25)),
        &[&update],
    )
    .await;
    assert_eq!(report.outcome, Outcome::Deferred);
    assert_eq!(report.reason_code, "nodegroup_update_in_progress");
    assert!(
        report
            .reason
            .contains("Managed node group 'ng-a' is UPDATING")
    );
    assert_eq!(update.num_calls(), 0);
    let email = captures.email();
    assert!(email.starts_with("[DEFERRED]"), "{email}");
    assert!(email.contains("Decision: deferred — Managed node group 'ng-a' is UPDATING"));
    // Deferred: the finding stays New, so nothing is recorded.
    assert!(captures.recorded().is_empty());
}

#[tokio::test]
async fn a_cluster_being_updated_defers_before_any_version_read() {
    let fixture = ClusterFixture {
        status: ClusterStatus::Updating,
        ..cluster("1.24")
    };
    let versions = versions_rule(version_catalogue(25, 25));
    let update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_version,
        UpdateClusterVersionOutput
    );
    let (report, captures) =
        run(Mode::Apply, &[&fixture.describe_rule(), &versions, &update]).await;
    assert_eq!(report.outcome, Outcome::Deferred);
    assert_eq!(report.reason_code, "cluster_not_active");
    assert_eq!(versions.num_calls(), 0);
    assert_eq!(update.num_calls(), 0);
    assert!(
        captures
            .email()
            .contains("the cluster is UPDATING (not ACTIVE)")
    );
    assert!(captures.recorded().is_empty());
}

#[tokio::test]
async fn an_update_refused_as_in_use_defers() {
    let update = mock!(aws_sdk_eks::Client::update_cluster_version)
        .sequence()
        .http_status(409, wire_error("ResourceInUseException"))
        .repeatedly()
        .build();
    let (report, captures) = run_on_124(
        Mode::Apply,
        &[("ng-a", "1.24", NodegroupStatus::Active)],
        no_insight_rows(),
        &versions_rule(version_catalogue(25, 25)),
        &[&update],
    )
    .await;
    assert_eq!(report.outcome, Outcome::Deferred);
    assert_eq!(report.reason_code, "update_in_progress");
    assert_eq!(update.num_calls(), 1);
    assert!(captures.recorded().is_empty());
}

#[tokio::test]
async fn eks_readiness_refusal_is_reported_not_forced() {
    let update = mock!(aws_sdk_eks::Client::update_cluster_version)
        .sequence()
        .http_status(400, wire_error("InvalidStateException"))
        .repeatedly()
        .build();
    let (report, captures) = run_on_124(
        Mode::Apply,
        &[("ng-a", "1.24", NodegroupStatus::Active)],
        no_insight_rows(),
        &versions_rule(version_catalogue(25, 25)),
        &[&update],
    )
    .await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(update.num_calls(), 1, "tried once, never again with force");
    assert!(
        report.reason.contains("EKS refused the upgrade to 1.25"),
        "{}",
        report.reason
    );
    assert!(report.reason.contains("aws eks list-insights"));
    assert!(captures.recorded().is_empty());
}

#[tokio::test]
async fn describe_cluster_versions_denied_is_proposed_from_what_is_known() {
    let fixture = cluster("1.24");
    let versions = mock!(aws_sdk_eks::Client::describe_cluster_versions)
        .sequence()
        .http_status(403, wire_error("AccessDeniedException"))
        .repeatedly()
        .build();
    let (list_ng, describe_ng) = nodegroup_rules(&[("ng-a", "1.24", NodegroupStatus::Active)]);
    let (list_ins, describe_ins, _) = insight_rules(no_insight_rows());
    let update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_version,
        UpdateClusterVersionOutput
    );
    let (report, captures) = run(
        Mode::Apply,
        &[
            &fixture.describe_rule(),
            &versions,
            &list_ng,
            &describe_ng,
            &list_ins,
            &describe_ins,
            &update,
        ],
    )
    .await;
    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(report.reason_code, "versions_not_checked");
    assert_eq!(update.num_calls(), 0);
    assert_eq!(versions.num_calls(), 1);
    assert_eq!(not_checked(&report).len(), 1);
    assert!(
        report.not_checked[0].starts_with(
            "DescribeClusterVersions: access denied (AccessDeniedException): grant eks:DescribeClusterVersions to the function's role"
        ),
        "{}",
        report.not_checked[0]
    );
    // Still proposes from what it knows: the next minor of the live version.
    assert_eq!(
        report.plan.last().map(|s| s.parameters["version"].clone()),
        Some("1.25".into())
    );
    let email = captures.email();
    for needle in [
        "Could not check:",
        "the support status of 1.24, its end-of-support dates and the path to the oldest version in standard support were not verified",
        "DescribeClusterVersions could not be called",
        "aws eks describe-cluster-versions --region us-east-1 --include-all",
    ] {
        assert!(email.contains(needle), "email lacks {needle:?}:\n{email}");
    }
    assert_recorded_in_progress(
        &captures,
        &["proposed", "the rest of the path could not be computed"],
    );
}

#[tokio::test]
async fn list_insights_not_implemented_is_reported_and_blocks() {
    let fixture = cluster("1.24");
    let (list_ng, describe_ng) = nodegroup_rules(&[("ng-a", "1.24", NodegroupStatus::Active)]);
    // What moto answers for a route it does not have.
    let list_ins = mock!(aws_sdk_eks::Client::list_insights)
        .sequence()
        .http_status(
            404,
            Some("<!doctype html><title>404 Not Found</title>".to_string()),
        )
        .repeatedly()
        .build();
    let update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_version,
        UpdateClusterVersionOutput
    );
    let (report, _captures) = run(
        Mode::Apply,
        &[
            &fixture.describe_rule(),
            &versions_rule(version_catalogue(25, 25)),
            &list_ng,
            &describe_ng,
            &list_ins,
            &update,
        ],
    )
    .await;
    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(report.reason_code, "insights_not_checked");
    assert_eq!(update.num_calls(), 0);
    assert!(
        report.not_checked[0].starts_with("ListInsights (UPGRADE_READINESS for 1.25): the endpoint does not implement eks:ListInsights"),
        "{:?}",
        report.not_checked
    );
}

#[tokio::test]
async fn throttling_is_returned_so_the_event_is_retried() {
    let fixture = cluster("1.24");
    let versions = mock!(aws_sdk_eks::Client::describe_cluster_versions)
        .sequence()
        .http_status(400, wire_error("ThrottlingException"))
        .repeatedly()
        .build();
    let eks = mock_client!(
        aws_sdk_eks,
        RuleMode::MatchAny,
        &[&fixture.describe_rule(), &versions],
        |c| c.retry_config(aws_sdk_eks::config::retry::RetryConfig::disabled())
    );
    let (deps, captures) = mocked_deps(config(Mode::Apply), eks);
    let result = respond(&KubernetesVersion::new(), &deps, event(EVENT), None).await;
    match result {
        Err(ResponderError::Transient(e)) => {
            assert_eq!(e.operation, "eks:DescribeClusterVersions");
        }
        other => panic!("expected a transient error, got {other:?}"),
    }
    assert!(captures.published().is_empty());
    assert!(captures.recorded().is_empty());
}

#[tokio::test]
async fn describe_calls_are_bounded() {
    let fixture = cluster("1.24");
    let names: Vec<String> = (0..25).map(|n| format!("ng-{n:02}")).collect();
    let groups: Vec<(&str, &str, NodegroupStatus)> = names
        .iter()
        .map(|n| (n.as_str(), "1.24", NodegroupStatus::Active))
        .collect();
    let (list_ng, describe_ng) = nodegroup_rules(&groups);
    const IDS: [&str; 12] = [
        "e00", "e01", "e02", "e03", "e04", "e05", "e06", "e07", "e08", "e09", "e10", "e11",
    ];
    let rows: Vec<InsightRow> = IDS
        .iter()
        .map(|id| (*id, *id, InsightStatusValue::Error, "blocking", "fix it"))
        .collect();
    let (list_ins, describe_ins, _) = insight_rules(rows);
    let update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_version,
        UpdateClusterVersionOutput
    );
    let (report, _captures) = run(
        Mode::Apply,
        &[
            &fixture.describe_rule(),
            &versions_rule(version_catalogue(25, 25)),
            &list_ng,
            &describe_ng,
            &list_ins,
            &describe_ins,
            &update,
        ],
    )
    .await;
    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(update.num_calls(), 0);
    assert_eq!(
        describe_ng.num_calls(),
        20,
        "at most 20 DescribeNodegroup calls"
    );
    assert_eq!(
        describe_ins.num_calls(),
        10,
        "at most 10 DescribeInsight calls"
    );
    assert!(
        report.not_checked.iter().any(|n| n.starts_with(
            "5 node group(s) not described (at most 20 DescribeNodegroup calls per evaluation): ng-20, ng-21"
        )),
        "{:?}",
        report.not_checked
    );
    let undescribed = report
        .not_checked
        .iter()
        .filter(|n| n.contains("not described (at most 10 DescribeInsight calls per evaluation)"))
        .count();
    assert_eq!(undescribed, 2);
    // Every ERROR insight blocks, described or not; the unverified node groups block too.
    let codes: Vec<&str> = report.blockers.iter().map(|b| b.code.as_str()).collect();
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == "upgrade_insight_error")
            .count(),
        12
    );
    assert_eq!(codes.last(), Some(&"nodegroups_not_checked"));
}
