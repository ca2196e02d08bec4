//! kubernetes-version's apply path against a service: moto_server with the AWS stand-in in front
//! (scripts/aws_standin.py), which answers DescribeClusterVersions from its catalogue, the
//! upgrade insights each test sets, UpdateClusterVersion / DescribeUpdate, and keeps the finding
//! record (BatchUpdateFindingsV2). Nothing is mocked: the real function code and pipeline, the
//! cluster and node group in moto, a real SNS topic with an SQS subscriber.

mod common;
#[path = "common/standin.rs"]
mod standin;

use common::{Inbox, config, consent_to_one_way_doors, create_cluster, event_for, unique};
use kubernetes_version::KubernetesVersion;
use shared::output::report::EffectStatus;
use shared::pipeline::respond;
use shared::{Deps, Mode, Outcome};

const EVENT: &str = "eks-unsupported-kubernetes-version.json";
const CHECKS: [&str; 3] = [
    "Deprecated APIs removed in Kubernetes v1.25",
    "Kubelet version skew",
    "EKS add-on version compatibility",
];

/// A 1.24 cluster with a managed node group at 1.24, its finding in Security Hub, and its event.
async fn legacy_cluster(eks: &aws_sdk_eks::Client) -> (String, serde_json::Value, String) {
    let name = unique("batch-legacy");
    create_cluster(eks, &name, "1.24", false, true, None).await;
    consent_to_one_way_doors(eks, &name).await;
    eks.create_nodegroup()
        .cluster_name(&name)
        .nodegroup_name("workers")
        .node_role("arn:aws:iam::123456789012:role/eks-nodes")
        .subnets("subnet-0a1b2c3d")
        .version("1.24")
        .send()
        .await
        .expect("create node group");
    let event = standin::own_exposure(event_for(EVENT, &name), &name);
    let uid = standin::load_finding(&event);
    (name, event, uid)
}

async fn cluster(eks: &aws_sdk_eks::Client, name: &str) -> (String, String) {
    let c = eks
        .describe_cluster()
        .name(name)
        .send()
        .await
        .expect("describe cluster");
    let c = c.cluster().expect("cluster");
    (
        c.status().expect("status").as_str().to_string(),
        c.version().expect("version").to_string(),
    )
}

#[tokio::test]
async fn with_passing_insights_one_minor_is_applied_and_the_finding_records_it() {
    let sdk = standin::sdk().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let inbox = Inbox::new(&sdk).await;
    let (name, event, uid) = legacy_cluster(&eks).await;
    let passing: Vec<(&str, &str)> = CHECKS.iter().map(|c| (*c, "PASSING")).collect();
    standin::set_insights(&name, "1.25", &passing);
    let deps = Deps::from_sdk(
        &sdk,
        config(Mode::Apply, &inbox.topic_arn),
        "kubernetes-version",
    );

    let r = respond(&KubernetesVersion::new(), &deps, event.clone(), None)
        .await
        .expect("report");

    assert_eq!(
        r.outcome,
        Outcome::Applied,
        "{}: {:?}",
        r.reason,
        r.blockers
    );
    assert!(r.blockers.is_empty(), "{:?}", r.blockers);
    assert!(
        shared::testing::not_checked(&r).is_empty(),
        "every read was answered: {:?}",
        r.not_checked
    );
    assert!(
        r.facts
            .iter()
            .any(|f| f.starts_with("EKS lists 1.24 as") && f.contains("2025-01-31")),
        "the catalogue's dates reach the report: {:?}",
        r.facts
    );
    assert!(
        r.facts
            .iter()
            .any(|f| f == "Upgrade insights for 1.25: 0 ERROR, 0 WARNING, 0 UNKNOWN, 3 PASSING"),
        "{:?}",
        r.facts
    );
    let update_id = r.update_id.clone().expect("the update id");
    let verification = r.verification.as_deref().unwrap_or_default();
    assert!(
        verification.contains(&format!("update {update_id} as InProgress")),
        "{verification}"
    );
    // EKS runs the update: the cluster is UPDATING at its old version until it finishes.
    assert_eq!(
        cluster(&eks, &name).await,
        ("UPDATING".to_string(), "1.24".to_string())
    );

    // The finding's record: the comment names the outcome and the update, status In Progress.
    assert_eq!(
        r.finding_update.status,
        EffectStatus::Done,
        "{:?}",
        r.finding_update
    );
    let record = standin::finding_record(&uid);
    assert_eq!(record["status_id"], 2, "{record}");
    assert_eq!(record["status"], "In Progress");
    let comment = record["comment"].as_str().expect("comment");
    assert!(
        comment.starts_with("eks-exposure-responder/kubernetes-version: applied"),
        "{comment}"
    );
    assert!(comment.contains(&update_id), "{comment}");
    let msgs = inbox.drain().await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].attributes["outcome"]["Value"], "applied");

    // The same finding delivered again while EKS works: deferred, no second update.
    let again = respond(&KubernetesVersion::new(), &deps, event, None)
        .await
        .expect("report");
    assert_eq!(again.outcome, Outcome::Deferred, "{}", again.reason);
    assert!(again.update_id.is_none());
    assert_eq!(
        standin::finding_record(&uid)["history"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "a deferral records nothing"
    );

    assert!(standin::settle_updates().contains(&update_id));
    assert_eq!(
        cluster(&eks, &name).await,
        ("ACTIVE".to_string(), "1.25".to_string())
    );
    let update = eks
        .describe_update()
        .name(&name)
        .update_id(&update_id)
        .send()
        .await
        .expect("describe update");
    assert_eq!(
        update.update().and_then(|u| u.status()).map(|s| s.as_str()),
        Some("Successful")
    );
}

#[tokio::test]
async fn an_error_insight_refuses_the_upgrade_and_the_finding_says_so() {
    let sdk = standin::sdk().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let inbox = Inbox::new(&sdk).await;
    let (name, event, uid) = legacy_cluster(&eks).await;
    standin::set_insights(
        &name,
        "1.25",
        &[
            (CHECKS[0], "ERROR"),
            (CHECKS[1], "PASSING"),
            (CHECKS[2], "PASSING"),
        ],
    );
    let deps = Deps::from_sdk(
        &sdk,
        config(Mode::Apply, &inbox.topic_arn),
        "kubernetes-version",
    );

    let r = respond(&KubernetesVersion::new(), &deps, event, None)
        .await
        .expect("report");

    assert_eq!(r.outcome, Outcome::Proposed, "{}", r.reason);
    assert_eq!(r.reason_code, "upgrade_insight_error", "{:?}", r.blockers);
    let blocker = &r.blockers[0];
    assert!(
        blocker
            .message
            .contains(&format!("'{}' is ERROR for 1.25", CHECKS[0])),
        "{}",
        blocker.message
    );
    assert!(
        blocker.message.contains(&format!("review {}", CHECKS[0])),
        "DescribeInsight's recommendation: {}",
        blocker.message
    );
    assert!(r.update_id.is_none());
    assert_eq!(
        cluster(&eks, &name).await,
        ("ACTIVE".to_string(), "1.24".to_string()),
        "nothing was started"
    );
    let record = standin::finding_record(&uid);
    assert_eq!(record["status_id"], 2, "{record}");
    let comment = record["comment"].as_str().expect("comment");
    assert!(
        comment.starts_with("eks-exposure-responder/kubernetes-version: proposed"),
        "{comment}"
    );
    assert!(comment.contains(CHECKS[0]), "{comment}");
    assert_eq!(inbox.drain().await.len(), 1);
}
