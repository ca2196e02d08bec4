//! endpoint-access end to end against moto_server: the real function code, a real SNS topic with
//! an SQS subscriber, and the cluster's state in moto confirming each step.

mod common;

use common::{Inbox, config, create_cluster, event_for, sdk, unique};
use endpoint_access::{EndpointAccess, Settings};
use shared::pipeline::respond;
use shared::{Deps, Mode, Outcome};

async fn vpc(eks: &aws_sdk_eks::Client, name: &str) -> (bool, bool) {
    let c = eks
        .describe_cluster()
        .name(name)
        .send()
        .await
        .expect("describe");
    let v = c
        .cluster()
        .and_then(|c| c.resources_vpc_config())
        .expect("vpc config");
    (v.endpoint_public_access(), v.endpoint_private_access())
}

#[tokio::test]
async fn propose_then_two_stage_apply_then_compliant() {
    let sdk = sdk().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let inbox = Inbox::new(&sdk).await;
    let name = unique("payments");
    create_cluster(&eks, &name, "1.31", true, false, None).await;
    let event = event_for("eks-public-access.json", &name);
    let fix = EndpointAccess::new(Settings {
        stage_soak_minutes: 0,
        ..Settings::default()
    });

    // 1. Propose: nothing changes, the operator gets the plan.
    let deps = Deps::from_sdk(
        &sdk,
        config(Mode::Propose, &inbox.topic_arn),
        "endpoint-access",
    );
    let r = respond(&fix, &deps, event.clone(), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Proposed);
    assert_eq!(
        vpc(&eks, &name).await,
        (true, false),
        "propose changes nothing"
    );
    let msgs = inbox.drain().await;
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0]
            .subject
            .starts_with(&format!("[PROPOSED] {name} 444455556666/us-east-1")),
        "{}",
        msgs[0].subject
    );
    assert_eq!(msgs[0].attributes["outcome"]["Value"], "proposed");
    assert_eq!(
        msgs[0].report()["plan"][0]["api_call"],
        "eks:UpdateClusterConfig"
    );
    // moto has no BatchUpdateFindingsV2: reported, not fatal.
    assert_eq!(
        serde_json::to_value(r.finding_update.status).ok(),
        Some(serde_json::json!("failed"))
    );

    // 2. Apply, stage 1: private on, public still on.
    let mut deps = Deps::from_sdk(
        &sdk,
        config(Mode::Apply, &inbox.topic_arn),
        "endpoint-access",
    );
    deps.recorder = common::security_hub_holding(&event);
    let r = respond(&fix, &deps, event.clone(), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Applied, "{}", r.reason);
    assert_eq!(r.stage.map(|s| (s.number, s.of)), Some((1, 2)));
    assert_eq!(
        vpc(&eks, &name).await,
        (true, true),
        "stage 1 enables private access only"
    );
    assert!(
        r.verification
            .as_deref()
            .is_some_and(|v| v.contains("as requested")),
        "{:?}",
        r.verification
    );
    let msgs = inbox.drain().await;
    assert!(msgs[0].subject.starts_with("[APPLIED]"));

    // 3. Apply, stage 2: public off now that private access is confirmed.
    let r = respond(&fix, &deps, event.clone(), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Applied);
    assert_eq!(r.stage.map(|s| (s.number, s.of)), Some((2, 2)));
    assert_eq!(vpc(&eks, &name).await, (false, true));
    let revert = r.revert.expect("revert");
    assert!(
        revert
            .cli
            .is_some_and(|c| c.contains("\"endpointPublicAccess\":true"))
    );

    // 4. Again: already compliant, nothing changes.
    let r = respond(&fix, &deps, event, None).await.expect("report");
    assert_eq!(r.outcome, Outcome::AlreadyCompliant);
    assert_eq!(vpc(&eks, &name).await, (false, true));
    assert_eq!(inbox.drain().await.len(), 2);
}

#[tokio::test]
async fn a_cluster_that_no_longer_exists_is_skipped() {
    let sdk = sdk().await;
    let inbox = Inbox::new(&sdk).await;
    let deps = Deps::from_sdk(
        &sdk,
        config(Mode::Apply, &inbox.topic_arn),
        "endpoint-access",
    );
    let fix = EndpointAccess::new(Settings {
        stage_soak_minutes: 0,
        ..Settings::default()
    });
    let r = respond(
        &fix,
        &deps,
        event_for("eks-public-access.json", &unique("gone")),
        None,
    )
    .await
    .expect("report");
    assert_eq!(r.outcome, Outcome::Skipped);
    assert_eq!(r.reason_code, "cluster_not_found");
    assert!(inbox.drain().await.is_empty());
}
