//! endpoint-access's two-stage apply against a service, with the finding record asserted end to
//! end: moto_server changes the cluster (UpdateClusterConfig), the AWS stand-in in front of it
//! (scripts/aws_standin.py) keeps the finding and the BatchUpdateFindingsV2 records.

mod common;
#[path = "common/standin.rs"]
mod standin;

use common::{Inbox, config, create_cluster, event_for, unique};
use endpoint_access::{EndpointAccess, Settings};
use shared::pipeline::respond;
use shared::{Deps, Mode, Outcome};

#[tokio::test]
async fn stage_one_leaves_the_finding_new_and_stage_two_marks_it_in_progress() {
    let sdk = standin::sdk().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let inbox = Inbox::new(&sdk).await;
    let name = unique("payments");
    create_cluster(&eks, &name, "1.31", true, false, None).await;
    let event = standin::own_exposure(event_for("eks-public-access.json", &name), &name);
    let uid = standin::load_finding(&event);
    let fix = EndpointAccess::new(Settings {
        stage_soak_minutes: 0,
        ..Settings::default()
    });
    let deps = Deps::from_sdk(
        &sdk,
        config(Mode::Apply, &inbox.topic_arn),
        "endpoint-access",
    );

    let first = respond(&fix, &deps, event.clone(), None)
        .await
        .expect("report");
    assert_eq!(first.outcome, Outcome::Applied, "{}", first.reason);
    assert_eq!(first.stage.map(|s| (s.number, s.of)), Some((1, 2)));
    let record = standin::finding_record(&uid);
    assert_eq!(
        (record["status_id"].as_i64(), record["status"].as_str()),
        (Some(1), Some("New")),
        "an earlier stage keeps the finding New so the next evaluation takes the next stage: {record}"
    );
    let comment = record["comment"].as_str().expect("comment");
    assert!(
        comment.starts_with("eks-exposure-responder/endpoint-access: applied (stage 1 of 2)"),
        "{comment}"
    );

    let second = respond(&fix, &deps, event, None).await.expect("report");
    assert_eq!(second.outcome, Outcome::Applied, "{}", second.reason);
    assert_eq!(second.stage.map(|s| (s.number, s.of)), Some((2, 2)));
    let record = standin::finding_record(&uid);
    assert_eq!(record["status_id"], 2, "{record}");
    assert!(
        record["comment"]
            .as_str()
            .is_some_and(|c| c.contains("(stage 2 of 2)")),
        "{record}"
    );
    assert_eq!(record["history"].as_array().map(Vec::len), Some(2));
    assert_eq!(inbox.drain().await.len(), 2);
}

/// Whether the cluster's public endpoint is still on, as the service reports it.
async fn public_endpoint(eks: &aws_sdk_eks::Client, name: &str) -> bool {
    eks.describe_cluster()
        .name(name)
        .send()
        .await
        .expect("DescribeCluster")
        .cluster()
        .and_then(|c| c.resources_vpc_config())
        .map(|v| v.endpoint_public_access())
        .expect("endpoint flags")
}

#[tokio::test]
async fn an_event_security_hub_does_not_confirm_changes_nothing() {
    let sdk = standin::sdk().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let inbox = Inbox::new(&sdk).await;
    // No soak: these clusters have private access from the start (no stage-1 update to count from).
    let fix = EndpointAccess::new(Settings {
        stage_soak_minutes: 0,
        ..Settings::default()
    });
    let deps = Deps::from_sdk(
        &sdk,
        config(Mode::Apply, &inbox.topic_arn),
        "endpoint-access",
    );

    // Handed to the function directly: Security Hub holds no such finding.
    let crafted_name = unique("crafted");
    create_cluster(&eks, &crafted_name, "1.31", true, true, None).await;
    let crafted = standin::own_exposure(
        event_for("eks-public-access.json", &crafted_name),
        &crafted_name,
    );
    let r = respond(&fix, &deps, crafted, None).await.expect("report");
    assert_eq!(
        (r.outcome, r.reason_code.as_str()),
        (Outcome::Proposed, "finding_unconfirmed"),
        "{}",
        r.reason
    );
    assert!(
        public_endpoint(&eks, &crafted_name).await,
        "nothing changed"
    );

    // Security Hub holds the finding, but resolved: the event is stale.
    let name = unique("resolved");
    create_cluster(&eks, &name, "1.31", true, true, None).await;
    let event = standin::own_exposure(event_for("eks-public-access.json", &name), &name);
    let mut resolved = event.clone();
    resolved["detail"]["findings"][0]["status"] = serde_json::json!("Resolved");
    resolved["detail"]["findings"][0]["status_id"] = serde_json::json!(4);
    let uid = standin::load_finding(&resolved);
    let r = respond(&fix, &deps, event.clone(), None)
        .await
        .expect("report");
    assert_eq!(
        (r.outcome, r.reason_code.as_str()),
        (Outcome::Proposed, "finding_unconfirmed"),
        "{}",
        r.reason
    );
    assert!(r.reason.contains("Resolved"), "{}", r.reason);
    assert!(public_endpoint(&eks, &name).await, "nothing changed");

    // The same finding, open in Security Hub: now it is acted on.
    standin::load_finding(&event);
    let r = respond(&fix, &deps, event, None).await.expect("report");
    assert_eq!(r.outcome, Outcome::Applied, "{}", r.reason);
    assert!(
        !public_endpoint(&eks, &name).await,
        "public access turned off"
    );
    assert_eq!(standin::finding_record(&uid)["status_id"], 2);
    assert_eq!(inbox.drain().await.len(), 3);
}

#[tokio::test]
async fn stage_two_waits_for_the_soak_counted_from_the_stage_one_update() {
    let sdk = standin::sdk().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let inbox = Inbox::new(&sdk).await;
    let name = unique("payments");
    create_cluster(&eks, &name, "1.31", true, false, None).await;
    let event = standin::own_exposure(event_for("eks-public-access.json", &name), &name);
    let uid = standin::load_finding(&event);
    // The deployed default: a day between private access on and public access off.
    let fix = EndpointAccess::new(Settings::default());
    let deps = Deps::from_sdk(
        &sdk,
        config(Mode::Apply, &inbox.topic_arn),
        "endpoint-access",
    );

    let first = respond(&fix, &deps, event.clone(), None)
        .await
        .expect("report");
    assert_eq!(first.outcome, Outcome::Applied, "{}", first.reason);
    let stage_one = first.update_id.clone().expect("the stage-1 update id");

    // The very next delivery (the echo of stage 1's record, or a retry) must not cut anyone off.
    let second = respond(&fix, &deps, event, None).await.expect("report");
    assert_eq!(second.outcome, Outcome::Deferred, "{}", second.reason);
    assert_eq!(second.reason_code, "stage_soak_pending");
    assert!(
        second.reason.contains(&format!("(update {stage_one})"))
            && second.reason.contains("1440 minutes"),
        "{}",
        second.reason
    );
    let cluster = eks
        .describe_cluster()
        .name(&name)
        .send()
        .await
        .expect("describe");
    let vpc = cluster
        .cluster()
        .and_then(|c| c.resources_vpc_config())
        .expect("vpc config");
    assert!(vpc.endpoint_public_access(), "public access stays on");
    assert_eq!(
        standin::finding_record(&uid)["history"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "nothing more is recorded while the soak runs"
    );
}
