//! kubernetes-version end to end against moto_server: the real function code and pipeline, a real
//! SNS topic with an SQS subscriber, and the cluster and node groups as moto stores them.
//!
//! moto implements DescribeCluster and the node group calls, but not DescribeClusterVersions,
//! ListInsights, UpdateClusterVersion or BatchUpdateFindingsV2. The function must say exactly
//! what it could not check, refuse the apply, still propose the next minor from the live
//! version, and report the failed finding update instead of crashing.

mod common;

use common::{Inbox, config, consent_to_one_way_doors, create_cluster, event_for, sdk, unique};
use kubernetes_version::KubernetesVersion;
use shared::pipeline::respond;
use shared::{Deps, Mode, Outcome, Report};

const EVENT: &str = "eks-unsupported-kubernetes-version.json";

async fn create_nodegroup(eks: &aws_sdk_eks::Client, cluster: &str, name: &str, version: &str) {
    eks.create_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .node_role("arn:aws:iam::123456789012:role/eks-nodes")
        .subnets("subnet-0a1b2c3d")
        .version(version)
        .send()
        .await
        .expect("create node group in moto");
}

async fn cluster_version(eks: &aws_sdk_eks::Client, name: &str) -> String {
    eks.describe_cluster()
        .name(name)
        .send()
        .await
        .expect("describe cluster")
        .cluster()
        .and_then(|c| c.version())
        .expect("version")
        .to_string()
}

async fn nodegroup_version(eks: &aws_sdk_eks::Client, cluster: &str, name: &str) -> String {
    eks.describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
        .expect("describe node group")
        .nodegroup()
        .and_then(|g| g.version())
        .expect("node group version")
        .to_string()
}

fn codes(r: &Report) -> Vec<&str> {
    r.blockers.iter().map(|b| b.code.as_str()).collect()
}

/// What moto cannot answer is reported as not checked, never as passed.
fn assert_honest_about_moto(r: &Report) {
    let versions = r
        .not_checked
        .iter()
        .find(|n| n.starts_with("DescribeClusterVersions: "))
        .unwrap_or_else(|| panic!("DescribeClusterVersions not reported: {:?}", r.not_checked));
    assert!(
        versions.contains("does not implement eks:DescribeClusterVersions"),
        "{versions}"
    );
    assert!(versions.contains("were not verified"), "{versions}");
    let insights = r
        .not_checked
        .iter()
        .find(|n| n.starts_with("ListInsights (UPGRADE_READINESS for 1.25): "))
        .unwrap_or_else(|| panic!("ListInsights not reported: {:?}", r.not_checked));
    assert!(
        insights.contains("does not implement eks:ListInsights"),
        "{insights}"
    );
    assert!(insights.contains("was not checked"), "{insights}");
    assert!(
        r.not_checked
            .iter()
            .any(|n| n.starts_with("ListAddons: ")
                && n.contains("does not implement eks:ListAddons")),
        "{:?}",
        r.not_checked
    );
    assert!(codes(r).contains(&"versions_not_checked"), "{:?}", codes(r));
    assert!(codes(r).contains(&"insights_not_checked"), "{:?}", codes(r));
    assert_eq!(r.live_state["version_status"], serde_json::Value::Null);
    // moto has no BatchUpdateFindingsV2: reported, not fatal.
    assert_eq!(
        serde_json::to_value(r.finding_update.status).ok(),
        Some(serde_json::json!("failed")),
        "{:?}",
        r.finding_update
    );
}

#[tokio::test]
async fn unsupported_cluster_on_moto_is_proposed_honestly_and_never_applied() {
    let sdk = sdk().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let inbox = Inbox::new(&sdk).await;
    let name = unique("batch-legacy");
    create_cluster(&eks, &name, "1.24", true, false, None).await;
    consent_to_one_way_doors(&eks, &name).await;
    create_nodegroup(&eks, &name, "workers", "1.24").await;

    // MODE=apply: every blocker must hold, and moto's missing calls are blockers.
    let deps = Deps::from_sdk(
        &sdk,
        config(Mode::Apply, &inbox.topic_arn),
        "kubernetes-version",
    );
    let r = respond(
        &KubernetesVersion::new(),
        &deps,
        event_for(EVENT, &name),
        None,
    )
    .await
    .expect("report");

    assert_eq!(r.outcome, Outcome::Proposed, "{}", r.reason);
    assert_eq!(r.mode, Mode::Apply);
    assert_eq!(r.reason_code, "versions_not_checked");
    assert_honest_about_moto(&r);
    // What moto does answer is used: the live version and the node group at it.
    assert_eq!(r.live_state["version"], "1.24");
    assert_eq!(r.live_state["nodegroups"][0]["name"], "workers");
    assert_eq!(r.live_state["nodegroups"][0]["version"], "1.24");
    assert!(
        r.facts
            .iter()
            .any(|f| f == "Managed node group 'workers': Kubernetes 1.24, status ACTIVE"),
        "{:?}",
        r.facts
    );
    assert!(!codes(&r).contains(&"nodegroup_version_skew"));
    // Still proposes from what it knows: the next minor of the live version, labelled blocked.
    assert_eq!(r.plan.len(), 1);
    assert_eq!(r.plan[0].api_call, "eks:UpdateClusterVersion");
    assert_eq!(r.plan[0].parameters["version"], "1.25");
    assert!(
        r.plan[0].cli.starts_with("# BLOCKED until"),
        "{}",
        r.plan[0].cli
    );
    assert!(r.update_id.is_none());
    assert_eq!(
        cluster_version(&eks, &name).await,
        "1.24",
        "nothing was applied"
    );

    let msgs = inbox.drain().await;
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0]
            .subject
            .starts_with(&format!("[PROPOSED][URGENT] {name} 444455556666/us-east-1")),
        "{}",
        msgs[0].subject
    );
    assert_eq!(
        msgs[0].attributes["function"]["Value"],
        "kubernetes-version"
    );
    assert_eq!(msgs[0].attributes["outcome"]["Value"], "proposed");
    let report = msgs[0].report();
    assert_eq!(report["outcome"], "proposed");
    // DescribeClusterVersions, ListInsights and ListAddons (moto implements none of them),
    // and the note that no decision ledger is configured
    assert_eq!(report["not_checked"].as_array().map(Vec::len), Some(4));
}

#[tokio::test]
async fn node_group_skew_on_moto_blocks_and_the_catch_up_comes_first() {
    let sdk = sdk().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let inbox = Inbox::new(&sdk).await;
    let name = unique("batch-legacy");
    create_cluster(&eks, &name, "1.24", true, false, None).await;
    consent_to_one_way_doors(&eks, &name).await;
    create_nodegroup(&eks, &name, "current", "1.24").await;
    // 1.22 kubelets under a 1.25 control plane: three minors, beyond the two a kubelet
    // older than 1.25 may lag.
    create_nodegroup(&eks, &name, "behind", "1.22").await;

    let deps = Deps::from_sdk(
        &sdk,
        config(Mode::Apply, &inbox.topic_arn),
        "kubernetes-version",
    );
    let r = respond(
        &KubernetesVersion::new(),
        &deps,
        event_for(EVENT, &name),
        None,
    )
    .await
    .expect("report");

    assert_eq!(r.outcome, Outcome::Proposed, "{}", r.reason);
    assert_honest_about_moto(&r);
    assert!(
        codes(&r).contains(&"nodegroup_version_skew"),
        "{:?}",
        codes(&r)
    );
    let skew = r
        .blockers
        .iter()
        .find(|b| b.code == "nodegroup_version_skew")
        .expect("skew blocker");
    assert!(
        skew.message.contains(
            "Managed node group 'behind' runs Kubernetes 1.22: upgrading the control plane to 1.25 would put it 3 minor versions ahead"
        ),
        "{}",
        skew.message
    );
    let steps: Vec<&str> = r.plan.iter().map(|s| s.api_call.as_str()).collect();
    assert_eq!(
        steps,
        ["eks:UpdateNodegroupVersion", "eks:UpdateClusterVersion"]
    );
    assert_eq!(r.plan[0].parameters["nodegroupName"], "behind");
    assert_eq!(r.plan[0].parameters["version"], "1.24");
    // Nothing changed in moto.
    assert_eq!(cluster_version(&eks, &name).await, "1.24");
    assert_eq!(nodegroup_version(&eks, &name, "behind").await, "1.22");
    assert_eq!(inbox.drain().await.len(), 1);
}
