//! Cross-account access against moto_server: moto attributes requests made with assumed-role
//! credentials to the role's account, so a cluster created in account 111122223333 is visible only
//! through that account's member role.

mod common;

use aws_config::Region;
use common::{Inbox, config, create_cluster, event_for, sdk, unique};
use endpoint_access::{EndpointAccess, Settings};
use shared::pipeline::respond;
use shared::{Deps, Mode, Outcome};

const MEMBER: &str = "111122223333";
const ROLE: &str = "EksExposureResponderMember";

/// An SDK config acting inside the member account, through STS on moto.
async fn member_sdk(base: &aws_config::SdkConfig) -> aws_config::SdkConfig {
    let provider =
        aws_config::sts::AssumeRoleProvider::builder(format!("arn:aws:iam::{MEMBER}:role/{ROLE}"))
            .session_name("integration-test-setup")
            .configure(base)
            .build()
            .await;
    base.to_builder()
        .credentials_provider(aws_sdk_eks::config::SharedCredentialsProvider::new(
            provider,
        ))
        .region(Region::new("eu-west-1"))
        .build()
}

#[tokio::test]
async fn a_member_account_cluster_is_reached_through_the_member_role() {
    let base = sdk().await;
    let member = member_sdk(&base).await;
    let name = unique("checkout");
    // The cluster exists only in the member account, eu-west-1.
    create_cluster(
        &aws_sdk_eks::Client::new(&member),
        &name,
        "1.31",
        true,
        false,
        None,
    )
    .await;
    let home_eks = aws_sdk_eks::Client::from_conf(
        aws_sdk_eks::config::Builder::from(&base)
            .region(Region::new("eu-west-1"))
            .build(),
    );
    assert!(
        home_eks
            .describe_cluster()
            .name(&name)
            .send()
            .await
            .is_err(),
        "precondition: the home account cannot see the member cluster"
    );

    let inbox = Inbox::new(&base).await;
    let mut event = event_for("eks-cross-account-uid-alt.json", &name);
    // Security Hub emits the event in the function's own account (moto's default).
    event["account"] = serde_json::json!("123456789012");
    let fix = EndpointAccess::new(Settings::default());
    let home = Some("123456789012"); // moto's default account: the function's own

    // With the member role: reached, evaluated, proposed.
    let mut cfg = config(Mode::Propose, &inbox.topic_arn);
    cfg.member_role_name = Some(ROLE.into());
    let deps = Deps::from_sdk(&base, cfg, "endpoint-access");
    let r = respond(&fix, &deps, event.clone(), home)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Proposed, "{}", r.reason);
    assert_eq!(
        (r.cluster.account.as_str(), r.cluster.region.as_str()),
        (MEMBER, "eu-west-1")
    );
    let role_note = format!("reached the cluster through arn:aws:iam::{MEMBER}:role/{ROLE}");
    assert!(r.notes.iter().any(|n| n == &role_note), "{:?}", r.notes);
    assert_eq!(
        r.live_state["resourcesVpcConfig"]["endpointPublicAccess"],
        true
    );

    // Without it: an honest failure naming what to deploy, and no guess with the wrong account.
    let deps = Deps::from_sdk(
        &base,
        config(Mode::Propose, &inbox.topic_arn),
        "endpoint-access",
    );
    let r = respond(&fix, &deps, event.clone(), home)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.reason_code, "cluster_unreachable");
    assert!(
        r.reason.contains("MEMBER_ROLE_NAME is not set"),
        "{}",
        r.reason
    );

    // Outside ALLOWED_ACCOUNTS: skipped before any AWS call.
    let mut cfg = config(Mode::Apply, &inbox.topic_arn);
    cfg.member_role_name = Some(ROLE.into());
    cfg.allowed_accounts = vec!["444455556666".into()];
    let real = Deps::from_sdk(&base, cfg, "endpoint-access");
    // The same dependencies with an access that records every session asked for and an EKS
    // client that panics on any call.
    let no_call = shared::forbidden_rule!(
        aws_sdk_eks::Client::describe_cluster,
        aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput
    );
    let deps: Deps<_> = Deps {
        access: shared::testing::StaticAccess::new(shared::testing::eks_client(&[&no_call])),
        notifier: real.notifier,
        recorder: real.recorder,
        config: real.config,
        emit_metrics: false,
        ledger: None,
    };
    let r = respond(&fix, &deps, event, home).await.expect("report");
    assert_eq!(
        (r.outcome, r.reason_code.as_str()),
        (Outcome::Skipped, "account_not_allowed")
    );
    assert!(
        deps.access.requests.lock().expect("requests").is_empty(),
        "no session was asked for the disallowed account"
    );
    let delivered = inbox.drain().await;
    assert_eq!(
        delivered.len(),
        2,
        "propose and failure are told; the skip is not"
    );
}

#[tokio::test]
async fn a_cve_hand_off_is_not_lost_when_the_cluster_cannot_be_reached() {
    // No member role: endpoint-access must fail (it changes clusters), but the CVE hand-off needs
    // only Security Hub in the home Region, so it is still delivered and says what it missed.
    let base = sdk().await;
    let inbox = Inbox::new(&base).await;
    let event = event_for("eks-cross-account-uid-alt.json", &unique("checkout"));
    let mut v = event;
    v["account"] = serde_json::json!("123456789012");
    // Give the exposure a CVE signal of the member account.
    let signal = serde_json::json!({
        "uid": format!("arn:aws:inspector2:eu-west-1:{MEMBER}:finding/0316527ac3d2b7864cc74e683ce2f010"),
        "product": { "uid": "arn:aws:securityhub:eu-west-1::productv2/aws/inspector" },
        "title": "CVE-2023-44487 - golang.org/x/net",
        "traits": [{ "category": "Vulnerability", "values": ["Exploit Available", "EPSS Level >= High"] }]
    });
    v["detail"]["findings"][0]["finding_info"]["related_events"] = serde_json::json!([signal]);
    let deps = Deps::from_sdk(
        &base,
        config(Mode::Propose, &inbox.topic_arn),
        "container-vulnerabilities",
    );
    let no_enrichment =
        std::collections::HashMap::from([("MAX_ENRICHED_SIGNALS".to_string(), "0".to_string())]);
    let fix = container_vulnerabilities::ContainerVulnerabilities::new(
        container_vulnerabilities::Settings::from_env(&no_enrichment).expect("settings"),
        aws_sdk_securityhub::Client::new(&base),
    );
    let r = respond(&fix, &deps, v, Some("123456789012"))
        .await
        .expect("report");
    assert_eq!(
        (r.outcome, r.reason_code.as_str()),
        (Outcome::Proposed, "hand_off"),
        "{}",
        r.reason
    );
    assert!(
        r.not_checked
            .iter()
            .any(|n| n.contains("MEMBER_ROLE_NAME is not set")
                && n.contains("eks-exposure-responder/mode")),
        "{:?}",
        r.not_checked
    );
    let delivered = inbox.drain().await;
    assert_eq!(delivered.len(), 1);
    assert!(
        delivered[0].subject.starts_with("[PROPOSED][URGENT]"),
        "{}",
        delivered[0].subject
    );
}
