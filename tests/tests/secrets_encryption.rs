//! secrets-encryption against moto_server: the real function code evaluates clusters created in
//! moto with and without `encryptionConfig`, runs the key pre-flight against moto's KMS, and
//! publishes to a real SNS topic. moto has no AssociateEncryptionConfig and no
//! BatchUpdateFindingsV2: the function runs in propose mode and the failed finding update is
//! reported, never fatal.

mod common;

use common::{Inbox, config, consent_to_one_way_doors, create_cluster, event_for, sdk, unique};
use secrets_encryption::{SecretsEncryption, Settings};
use shared::output::report::EffectStatus;
use shared::pipeline::{Remediation, respond};
use shared::{Deps, Mode, Outcome};

/// The role `common::create_cluster` gives every cluster.
const CLUSTER_ROLE: &str = "arn:aws:iam::123456789012:role/eks-cluster";
const EVENT: &str = "eks-unencrypted-secrets.json";

fn settings(key: Option<&str>) -> Settings {
    Settings {
        key: key.map(|k| secrets_encryption::KmsKeyArn::parse(k).expect("key ARN")),
    }
}

#[tokio::test]
async fn an_unencrypted_cluster_without_a_key_is_proposed_with_key_creation_steps() {
    let sdk = sdk().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let inbox = Inbox::new(&sdk).await;
    let name = unique("orders");
    create_cluster(&eks, &name, "1.31", true, false, None).await;
    let deps = Deps::from_sdk(
        &sdk,
        config(Mode::Propose, &inbox.topic_arn),
        SecretsEncryption::FUNCTION,
    );
    let fix = SecretsEncryption::new(settings(None));

    let r = respond(&fix, &deps, event_for(EVENT, &name), None)
        .await
        .expect("report");

    assert_eq!(r.outcome, Outcome::Proposed, "{}", r.reason);
    assert_eq!(r.reason_code, "no_key_configured");
    assert!(r.irreversible);
    assert_eq!(r.live_state["secretsEncrypted"], false);
    assert_eq!(r.live_state["defaultEnvelopeEncryption"], true);
    assert!(
        r.facts
            .iter()
            .any(|f| f.contains("Kubernetes 1.31 (1.28 or later)") && f.contains("AWS-owned key")),
        "{:?}",
        r.facts
    );
    assert_eq!(r.plan[0].api_call, "kms:CreateKey");
    assert_eq!(
        r.plan[0].parameters["Policy"]["Statement"][1]["Principal"]["AWS"], CLUSTER_ROLE,
        "the key policy names the role moto's DescribeCluster reports"
    );
    assert!(
        r.plan
            .last()
            .is_some_and(|s| s.api_call == "eks:AssociateEncryptionConfig")
    );
    // The cluster is untouched.
    let after = eks
        .describe_cluster()
        .name(&name)
        .send()
        .await
        .expect("describe");
    assert!(
        after
            .cluster()
            .is_some_and(|c| c.encryption_config().is_empty())
    );
    // moto has no BatchUpdateFindingsV2: reported, not fatal.
    assert_eq!(r.finding_update.status, EffectStatus::Failed);
    assert_eq!(
        r.notification.as_ref().map(|n| n.status),
        Some(EffectStatus::Done)
    );

    let msgs = inbox.drain().await;
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].subject.starts_with(&format!(
            "[PROPOSED] {name} 444455556666/us-east-1: unencrypted Kubernetes secrets"
        )),
        "{}",
        msgs[0].subject
    );
    assert_eq!(
        msgs[0].attributes["function"]["Value"],
        "secrets-encryption"
    );
    assert_eq!(msgs[0].attributes["outcome"]["Value"], "proposed");
    let report = msgs[0].report();
    assert_eq!(report["irreversible"], true);
    assert_eq!(report["blockers"][0]["code"], "no_key_configured");
}

#[tokio::test]
async fn an_encrypted_cluster_is_already_compliant_naming_its_key() {
    let sdk = sdk().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let inbox = Inbox::new(&sdk).await;
    let name = unique("orders");
    let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    create_cluster(&eks, &name, "1.27", true, false, Some(key)).await;
    let deps = Deps::from_sdk(
        &sdk,
        config(Mode::Propose, &inbox.topic_arn),
        SecretsEncryption::FUNCTION,
    );
    let fix = SecretsEncryption::new(settings(None));

    let r = respond(&fix, &deps, event_for(EVENT, &name), None)
        .await
        .expect("report");

    assert_eq!(r.outcome, Outcome::AlreadyCompliant, "{}", r.reason);
    assert_eq!(
        r.reason,
        format!("Kubernetes secrets are already envelope-encrypted with KMS key {key}")
    );
    assert_eq!(r.live_state["secretsEncrypted"], true);
    assert_eq!(
        r.live_state["encryptionConfig"][0]["provider"]["keyArn"],
        key
    );
    assert_eq!(
        r.finding_update.status,
        EffectStatus::NotAttempted,
        "nothing is recorded on a compliant cluster"
    );
    let msgs = inbox.drain().await;
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].subject.starts_with(&format!("[COMPLIANT] {name}")),
        "{}",
        msgs[0].subject
    );
}

#[tokio::test]
async fn a_configured_key_moto_does_not_know_is_refused_by_the_pre_flight() {
    let sdk = sdk().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let inbox = Inbox::new(&sdk).await;
    let name = unique("orders");
    create_cluster(&eks, &name, "1.31", true, false, None).await;
    consent_to_one_way_doors(&eks, &name).await;
    // Apply mode: only the pre-flight stands between the plan and the (irreversible) call.
    let deps = Deps::from_sdk(
        &sdk,
        config(Mode::Apply, &inbox.topic_arn),
        SecretsEncryption::FUNCTION,
    );
    let key = "arn:aws:kms:us-east-1:123456789012:key/0000abcd-12ab-34cd-56ef-1234567890ab";
    // The production KMS access: a client built from the cluster session (moto's endpoint).
    let fix = SecretsEncryption::new(settings(Some(key)));

    let r = respond(&fix, &deps, event_for(EVENT, &name), None)
        .await
        .expect("report");

    assert_eq!(r.outcome, Outcome::Proposed, "{}", r.reason);
    assert_eq!(r.reason_code, "key_not_found", "{:?}", r.blockers);
    assert!(
        r.blockers[0]
            .message
            .contains(&format!("could not check KMS key {key}")),
        "{}",
        r.blockers[0].message
    );
    assert!(r.not_checked.iter().any(|n| n.contains("kms:DescribeKey")));
    assert_eq!(
        r.plan[0].parameters["encryptionConfig"][0]["provider"]["keyArn"],
        key
    );
    let after = eks
        .describe_cluster()
        .name(&name)
        .send()
        .await
        .expect("describe");
    assert!(
        after
            .cluster()
            .is_some_and(|c| c.encryption_config().is_empty()),
        "nothing was associated"
    );
    let msgs = inbox.drain().await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].report()["blockers"][0]["code"], "key_not_found");
}
