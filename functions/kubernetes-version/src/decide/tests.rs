//! Unit tests of the pure decision: every branch of the plan, without any AWS client.

use super::*;
use crate::version::Day;

const NOW: i64 = 1_790_000_000; // 2026-09-21
const DAY: i64 = 86_400;

fn day(offset_days: i64) -> Option<Day> {
    let secs = NOW + offset_days * DAY;
    // Dates are only displayed; the exact text is built by the reader from the API.
    Some(Day {
        epoch_secs: secs,
        date: format!("D{offset_days:+}"),
    })
}

/// 1.23 … 1.35: below `extended_from` unsupported, below `standard_from` extended, then standard.
fn catalogue(extended_from: u32, standard_from: u32) -> Vec<VersionInfo> {
    (23..=35)
        .map(|m| {
            let status = if m < extended_from {
                Support::Unsupported
            } else if m < standard_from {
                Support::ExtendedSupport
            } else {
                Support::StandardSupport
            };
            let age = i64::from(standard_from) - i64::from(m); // releases ~4 months apart
            VersionInfo {
                version: Minor::new(1, m),
                status,
                end_of_standard_support: day(120 - age * 120),
                end_of_extended_support: day(485 - age * 120),
            }
        })
        .collect()
}

fn group(name: &str, version: &str, status: &str) -> NodeGroup {
    NodeGroup {
        name: name.to_string(),
        version: Some(version.to_string()),
        status: status.to_string(),
    }
}

fn insight(name: &str, level: InsightLevel) -> Insight {
    Insight {
        id: format!("id-{name}"),
        name: name.to_string(),
        level,
        reason: Some(format!("reason for {name}")),
        description: Some(format!("description of {name}")),
        recommendation: Some(format!("recommendation for {name}")),
        detail_missing: None,
    }
}

fn inputs(version: (u32, u32), versions: Vec<VersionInfo>) -> Inputs {
    let current = Minor::new(version.0, version.1);
    Inputs {
        cluster: "batch-legacy".to_string(),
        region: "us-east-1".to_string(),
        status: "ACTIVE".to_string(),
        version: current,
        platform_version: Some("eks.4".to_string()),
        support_type: Some("EXTENDED".to_string()),
        now_secs: NOW,
        versions: Ok(versions),
        nodegroups: Some(Ok(NodeGroupScan {
            groups: vec![group("ng-a", &current.to_string(), "ACTIVE")],
            ..NodeGroupScan::default()
        })),
        insights: Some(Ok(InsightScan {
            target: current.next(),
            insights: vec![insight("Kubelet version skew", InsightLevel::Passing)],
            list_truncated: false,
        })),
        token: "eer-token".to_string(),
    }
}

fn denied(operation: &'static str) -> AwsError {
    AwsError {
        operation,
        kind: FaultKind::AccessDenied,
        code: Some("AccessDeniedException".to_string()),
        message: "not authorized".to_string(),
    }
}

fn plan(a: &Assessment<VersionUpgrade>) -> &Plan<VersionUpgrade> {
    match &a.verdict {
        Verdict::Act(p) => p,
        other => panic!("a plan expected, got {other:?}"),
    }
}

fn compliant_reason(a: &Assessment<VersionUpgrade>) -> &str {
    match &a.verdict {
        Verdict::Compliant(r) => r,
        other => panic!("compliant expected, got {other:?}"),
    }
}

fn codes(p: &Plan<VersionUpgrade>) -> Vec<&str> {
    p.blockers.iter().map(|b| b.code.as_str()).collect()
}

fn upgrade_versions(steps: &[PlanStep]) -> Vec<String> {
    steps
        .iter()
        .filter(|s| s.api_call == UPDATE_CLUSTER_VERSION)
        .map(|s| {
            s.parameters["version"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn standard_support_is_compliant_and_plans_nothing() {
    let a = evaluate(&Inputs {
        nodegroups: None,
        insights: None,
        ..inputs((1, 31), catalogue(28, 31))
    });
    assert!(
        compliant_reason(&a)
            .contains("Kubernetes 1.31 is in standard support until D+120 (in 120 days)"),
        "{}",
        compliant_reason(&a)
    );
    assert_eq!(a.live_state["version_status"], "STANDARD_SUPPORT");
    assert!(in_standard_support(
        Minor::new(1, 31),
        &Ok(catalogue(28, 31))
    ));
    assert!(!in_standard_support(
        Minor::new(1, 30),
        &Ok(catalogue(28, 31))
    ));
    assert!(!in_standard_support(
        Minor::new(1, 31),
        &Err(denied("eks:DescribeClusterVersions"))
    ));
}

#[test]
fn standard_policy_warns_of_the_automatic_upgrade() {
    let a = evaluate(&Inputs {
        support_type: Some("STANDARD".to_string()),
        ..inputs((1, 31), catalogue(28, 31))
    });
    compliant_reason(&a);
    assert!(
        a.notes
            .iter()
            .any(|n| n.contains("EKS upgrades 1.31 automatically when its standard support ends")),
        "{:?}",
        a.notes
    );
}

#[test]
fn unsupported_with_a_clean_path_plans_the_next_minor_only() {
    let a = evaluate(&inputs((1, 24), catalogue(25, 25)));
    let p = plan(&a);
    assert!(p.blockers.is_empty(), "{:?}", p.blockers);
    assert_eq!(p.steps.len(), 1);
    let step = &p.steps[0];
    assert_eq!(step.api_call, "eks:UpdateClusterVersion");
    assert_eq!(
        step.parameters,
        json!({"name": "batch-legacy", "version": "1.25", "clientRequestToken": "eer-token"})
    );
    assert!(step.parameters.get("force").is_none());
    assert_eq!(
        step.cli,
        "aws eks update-cluster-version --region us-east-1 --name batch-legacy --kubernetes-version 1.25"
    );
    assert!(!step.description.contains("BLOCKED"));
    assert_eq!(a.priority, Some(Priority::Urgent));
    assert_eq!(p.action.version, "1.25");
    assert!(
        p.summary.starts_with(
            "Upgrade batch-legacy from Kubernetes 1.24 (UNSUPPORTED) to 1.25, step 1 of 1 toward 1.25"
        ),
        "{}",
        p.summary
    );
    // The node group and add-on follow-ups at the new version.
    assert_eq!(p.follow_ups.len(), 2);
    assert_eq!(p.follow_ups[0].api_call, "eks:UpdateNodegroupVersion");
    assert_eq!(
        p.follow_ups[0].cli,
        "aws eks update-nodegroup-version --region us-east-1 --cluster-name batch-legacy --nodegroup-name ng-a --kubernetes-version 1.25"
    );
    assert!(p.follow_ups[1].cli.contains("describe-addon-versions"));
    assert!(p.follow_ups[1].cli.contains("--kubernetes-version 1.25"));
}

#[test]
fn rolling_back_to_an_unsupported_version_is_not_offered() {
    let a = evaluate(&inputs((1, 24), catalogue(25, 25)));
    let p = plan(&a);
    let revert = p.revert.as_ref().expect("revert");
    assert!(revert.cli.is_none());
    assert!(revert.description.contains("within 7 days"));
    assert!(revert.description.contains("1.24 is UNSUPPORTED"));
    assert!(p.irreversible);
}

#[test]
fn several_minors_behind_lists_the_whole_path_in_order() {
    let mut i = inputs((1, 24), catalogue(25, 28));
    i.versions = i.versions.map(|mut v| {
        // 1.24 and older are not even listed any more: still unsupported, inferred.
        v.retain(|x| x.version > Minor::new(1, 24));
        v
    });
    let a = evaluate(&i);
    let p = plan(&a);
    assert_eq!(upgrade_versions(&p.steps), ["1.25"]);
    assert_eq!(upgrade_versions(&p.follow_ups), ["1.26", "1.27", "1.28"]);
    // Node groups follow the control plane at every step.
    let ng: Vec<&str> = p
        .follow_ups
        .iter()
        .filter(|s| s.api_call == "eks:UpdateNodegroupVersion")
        .map(|s| s.parameters["version"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ng, ["1.25", "1.26", "1.27", "1.28"]);
    assert!(
        a.facts
            .iter()
            .any(|f| f.contains("1.24 → 1.25 → 1.26 → 1.27 → 1.28 (4 control-plane updates)")),
        "{:?}",
        a.facts
    );
    assert!(a.facts.iter().any(|f| f.contains("no longer lists 1.24")));
    assert_eq!(a.live_state["version_status"], "UNSUPPORTED");
    assert!(p.summary.contains("step 1 of 4 toward 1.28"));
}

#[test]
fn an_error_insight_blocks_and_labels_every_upgrade_command() {
    let mut i = inputs((1, 24), catalogue(25, 27));
    i.insights = Some(Ok(InsightScan {
        target: Minor::new(1, 25),
        insights: vec![
            insight("Kubelet version skew", InsightLevel::Passing),
            insight(
                "Deprecated APIs removed in Kubernetes v1.25",
                InsightLevel::Error,
            ),
            insight("Add-on version compatibility", InsightLevel::Warning),
        ],
        list_truncated: false,
    }));
    let a = evaluate(&i);
    let p = plan(&a);
    assert_eq!(codes(p), ["upgrade_insight_error"]);
    let msg = &p.blockers[0].message;
    for part in [
        "Deprecated APIs removed in Kubernetes v1.25",
        "reason for Deprecated APIs",
        "recommendation for Deprecated APIs",
        "ERROR for 1.25",
    ] {
        assert!(msg.contains(part), "{part} missing from {msg}");
    }
    let step = &p.steps[0];
    assert!(
        step.description.starts_with(
            "BLOCKED until the ERROR upgrade insight 'Deprecated APIs removed in Kubernetes v1.25' is resolved"
        ),
        "{}",
        step.description
    );
    for s in p.steps.iter().chain(&p.follow_ups) {
        assert!(s.cli.starts_with("# BLOCKED until"), "{}", s.cli);
    }
    assert!(p.summary.contains(
        "blocked by the ERROR upgrade insight 'Deprecated APIs removed in Kubernetes v1.25'"
    ));
    // Non-passing insights are listed for the reader, most severe first; passing ones are not.
    assert_eq!(a.details_text.len(), 3);
    assert!(a.details_text[1].starts_with("  [ERROR] Deprecated APIs"));
    assert!(a.details_text[2].starts_with("  [WARNING] Add-on version compatibility"));
    assert!(
        a.facts
            .iter()
            .any(|f| f == "Upgrade insights for 1.25: 1 ERROR, 1 WARNING, 0 UNKNOWN, 1 PASSING")
    );
}

#[test]
fn warnings_alone_do_not_block() {
    let mut i = inputs((1, 24), catalogue(25, 25));
    i.insights = Some(Ok(InsightScan {
        target: Minor::new(1, 25),
        insights: vec![insight(
            "Add-on version compatibility",
            InsightLevel::Warning,
        )],
        list_truncated: false,
    }));
    let a = evaluate(&i);
    assert!(plan(&a).blockers.is_empty());
    assert_eq!(a.details_text.len(), 2);
}

#[test]
fn node_group_skew_blocks_and_puts_the_catch_up_first() {
    let mut i = inputs((1, 24), catalogue(25, 25));
    i.nodegroups = Some(Ok(NodeGroupScan {
        groups: vec![
            group("ng-a", "1.24", "ACTIVE"),
            group("ng-old", "1.23", "ACTIVE"),
        ],
        ..NodeGroupScan::default()
    }));
    let a = evaluate(&i);
    let p = plan(&a);
    assert_eq!(codes(p), ["nodegroup_version_skew"]);
    assert!(
        p.blockers[0]
            .message
            .contains("'ng-old' runs Kubernetes 1.23")
    );
    assert_eq!(p.steps.len(), 2);
    assert_eq!(p.steps[0].api_call, "eks:UpdateNodegroupVersion");
    assert_eq!(
        p.steps[0].cli,
        "aws eks update-nodegroup-version --region us-east-1 --cluster-name batch-legacy --nodegroup-name ng-old --kubernetes-version 1.24"
    );
    assert!(p.steps[1].cli.starts_with("# BLOCKED"));
    assert!(
        p.steps[1]
            .description
            .starts_with("BLOCKED until node group 'ng-old' runs 1.24")
    );
}

#[test]
fn a_node_group_being_updated_defers() {
    let mut i = inputs((1, 24), catalogue(25, 25));
    i.nodegroups = Some(Ok(NodeGroupScan {
        groups: vec![group("ng-a", "1.24", "UPDATING")],
        ..NodeGroupScan::default()
    }));
    let p = plan(&evaluate(&i)).clone();
    assert_eq!(codes(&p), ["nodegroup_update_in_progress"]);
    assert!(p.blockers[0].defers);
}

#[test]
fn an_unhealthy_node_group_blocks_without_deferring() {
    let mut i = inputs((1, 24), catalogue(25, 25));
    i.nodegroups = Some(Ok(NodeGroupScan {
        groups: vec![group("ng-a", "1.24", "DEGRADED")],
        ..NodeGroupScan::default()
    }));
    let p = plan(&evaluate(&i)).clone();
    assert_eq!(codes(&p), ["nodegroup_not_active"]);
    assert!(!p.blockers[0].defers);
}

#[test]
fn node_groups_over_the_budget_are_not_checked_and_block() {
    let mut i = inputs((1, 24), catalogue(25, 25));
    i.nodegroups = Some(Ok(NodeGroupScan {
        groups: vec![group("ng-a", "1.24", "ACTIVE")],
        not_described: vec!["ng-x".to_string()],
        failed: vec![("ng-y".to_string(), "access denied".to_string())],
        list_truncated: false,
    }));
    let a = evaluate(&i);
    assert_eq!(codes(plan(&a)), ["nodegroups_not_checked"]);
    assert!(a.not_checked.iter().any(|n| n.contains("ng-x")));
    assert!(
        a.not_checked
            .iter()
            .any(|n| n.contains("DescribeNodegroup 'ng-y': access denied"))
    );
}

#[test]
fn node_groups_that_cannot_be_listed_block() {
    let mut i = inputs((1, 24), catalogue(25, 25));
    i.nodegroups = Some(Err(denied("eks:ListNodegroups")));
    let a = evaluate(&i);
    assert_eq!(codes(plan(&a)), ["nodegroups_not_checked"]);
    assert!(
        a.not_checked
            .iter()
            .any(|n| n.starts_with("ListNodegroups: access denied")
                && n.contains("grant eks:ListNodegroups"))
    );
}

#[test]
fn versions_that_cannot_be_read_block_but_still_propose_the_next_minor() {
    let mut i = inputs((1, 24), Vec::new());
    i.versions = Err(denied("eks:DescribeClusterVersions"));
    let a = evaluate(&i);
    let p = plan(&a);
    assert_eq!(codes(p), ["versions_not_checked"]);
    assert_eq!(upgrade_versions(&p.steps), ["1.25"]);
    assert!(p.steps[0].cli.starts_with("# BLOCKED"));
    assert!(
        a.not_checked[0].starts_with("DescribeClusterVersions: access denied (AccessDeniedException): grant eks:DescribeClusterVersions"),
        "{}",
        a.not_checked[0]
    );
    assert!(a.not_checked[0].contains("were not verified"));
    // What it knows: the next minor, node groups and add-ons there, and how to find the rest.
    let last = p.follow_ups.last().expect("follow-up");
    assert!(
        last.cli
            .contains("aws eks describe-cluster-versions --region us-east-1 --include-all")
    );
    assert!(
        p.summary
            .contains("the rest of the path could not be computed")
    );
    assert_eq!(a.live_state["version_status"], serde_json::Value::Null);
    assert!(p.irreversible);
}

#[test]
fn insights_that_cannot_be_read_block() {
    let mut i = inputs((1, 24), catalogue(25, 25));
    i.insights = Some(Err(AwsError {
        operation: "eks:ListInsights",
        kind: FaultKind::NotImplemented,
        code: None,
        message: "service error".to_string(),
    }));
    let a = evaluate(&i);
    assert_eq!(codes(plan(&a)), ["insights_not_checked"]);
    assert!(
        a.not_checked.iter().any(|n| n.starts_with(
            "ListInsights (UPGRADE_READINESS for 1.25): the endpoint does not implement eks:ListInsights (no error code)"
        )),
        "{:?}",
        a.not_checked
    );
}

#[test]
fn extended_support_is_routine_and_never_applied() {
    let a = evaluate(&inputs((1, 29), catalogue(26, 31)));
    let p = plan(&a);
    assert_eq!(codes(p), ["extended_support_routine"]);
    assert!(
        p.blockers[0]
            .message
            .contains("in extended support until D+245")
    );
    assert!(p.blockers[0].message.contains("not an unsupported version"));
    assert_eq!(a.priority, Some(Priority::Routine));
    // Nothing else is wrong, so the commands are not labelled blocked: they are for scheduling.
    assert!(!p.steps[0].cli.starts_with('#'));
    assert!(p.summary.starts_with("Routine: upgrade batch-legacy from Kubernetes 1.29 (EXTENDED_SUPPORT until D+245) to 1.30, step 1 of 2 toward 1.31"), "{}", p.summary);
    assert!(
        a.facts
            .iter()
            .any(|f| f.contains("EKS lists 1.29 as EXTENDED_SUPPORT")
                && f.contains("extended support ends D+245 (in 245 days)")
                && f.contains("billed per cluster hour")),
        "{:?}",
        a.facts
    );
    // A version in extended support can be rolled back to within the window.
    assert!(!p.irreversible);
    let revert = p.revert.as_ref().expect("revert");
    assert_eq!(
        revert.cli.as_deref(),
        Some(
            "aws eks update-cluster-version --region us-east-1 --name batch-legacy --kubernetes-version 1.29"
        )
    );
    assert!(revert.description.contains("Within 7 days"));
}

#[test]
fn a_next_version_missing_from_the_list_blocks() {
    let mut versions = catalogue(25, 25);
    versions.retain(|v| v.version != Minor::new(1, 25));
    let a = evaluate(&inputs((1, 24), versions));
    assert_eq!(codes(plan(&a)), ["next_version_unavailable"]);
}

#[test]
fn an_unclassifiable_version_blocks() {
    let versions = vec![
        VersionInfo {
            version: Minor::new(1, 25),
            status: Support::Other("PREVIEW".to_string()),
            end_of_standard_support: None,
            end_of_extended_support: None,
        },
        VersionInfo {
            version: Minor::new(1, 24),
            status: Support::Other("PREVIEW".to_string()),
            end_of_standard_support: None,
            end_of_extended_support: None,
        },
    ];
    let a = evaluate(&inputs((1, 24), versions));
    let p = plan(&a);
    assert_eq!(codes(p), ["version_status_unknown"]);
    assert!(
        a.facts
            .iter()
            .any(|f| f.contains("no version in standard support"))
    );
}

#[test]
fn blockers_are_listed_most_important_first() {
    let mut i = inputs((1, 24), catalogue(25, 25));
    i.insights = Some(Ok(InsightScan {
        target: Minor::new(1, 25),
        insights: vec![insight("Deprecated APIs", InsightLevel::Error)],
        list_truncated: false,
    }));
    i.nodegroups = Some(Ok(NodeGroupScan {
        groups: vec![group("ng-old", "1.23", "ACTIVE")],
        ..NodeGroupScan::default()
    }));
    let p = plan(&evaluate(&i)).clone();
    assert_eq!(
        codes(&p),
        ["upgrade_insight_error", "nodegroup_version_skew"]
    );
}

#[test]
fn what_cannot_be_verified_comes_after_what_must_be_fixed() {
    let mut i = inputs((1, 24), Vec::new());
    i.versions = Err(denied("eks:DescribeClusterVersions"));
    i.insights = Some(Err(denied("eks:ListInsights")));
    i.nodegroups = Some(Ok(NodeGroupScan {
        groups: vec![group("ng-old", "1.23", "ACTIVE")],
        ..NodeGroupScan::default()
    }));
    let a = evaluate(&i);
    let p = plan(&a);
    assert_eq!(
        codes(p),
        [
            "nodegroup_version_skew",
            "versions_not_checked",
            "insights_not_checked"
        ]
    );
    assert!(
        p.summary.ends_with("; blocked until node group 'ng-old' runs 1.24; EKS's version list (aws eks describe-cluster-versions --include-all) confirms 1.25 is available; the upgrade insights for 1.25 have been reviewed"),
        "{}",
        p.summary
    );
}

#[test]
fn force_is_never_part_of_any_step() {
    for i in [
        inputs((1, 24), catalogue(25, 28)),
        inputs((1, 29), catalogue(26, 31)),
    ] {
        let a = evaluate(&i);
        let p = plan(&a);
        for s in p.steps.iter().chain(&p.follow_ups) {
            assert!(s.parameters.get("force").is_none(), "{s:?}");
            assert!(!s.cli.contains("--force"), "{}", s.cli);
        }
    }
}

#[test]
fn unavailable_says_what_to_do() {
    let e = denied("eks:ListInsights");
    assert_eq!(
        unavailable(&e),
        "access denied (AccessDeniedException): grant eks:ListInsights to the function's role (and to the member role for clusters in other accounts)"
    );
    let not_impl = AwsError {
        operation: "eks:ListInsights",
        kind: FaultKind::NotImplemented,
        code: None,
        message: "no route".to_string(),
    };
    assert!(unavailable(&not_impl).starts_with("the endpoint does not implement eks:ListInsights"));
    let real_not_found = AwsError {
        operation: "eks:ListInsights",
        kind: FaultKind::NotFound,
        code: Some("ResourceNotFoundException".to_string()),
        message: "No cluster found".to_string(),
    };
    assert!(unavailable(&real_not_found).contains("ResourceNotFoundException"));
}
