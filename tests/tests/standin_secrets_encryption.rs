//! secrets-encryption's apply path against a service: moto_server (clusters, KMS keys) with the
//! AWS stand-in in front (scripts/aws_standin.py), which answers AssociateEncryptionConfig and
//! DescribeUpdate, lays the association over moto's cluster once the update finishes, and keeps
//! the finding record (BatchUpdateFindingsV2).

mod common;
#[path = "common/standin.rs"]
mod standin;

use common::{Inbox, config, consent_to_one_way_doors, create_cluster, event_for, unique};
use secrets_encryption::{KmsKeyArn, SecretsEncryption, Settings};
use shared::output::report::EffectStatus;
use shared::pipeline::{Remediation, respond};
use shared::{Deps, Mode, Outcome};

const EVENT: &str = "eks-unencrypted-secrets.json";
/// The account of moto's default credentials.
const MOTO_ACCOUNT: &str = "123456789012";

fn with_key(key: &str) -> SecretsEncryption {
    SecretsEncryption::new(Settings {
        key: Some(KmsKeyArn::parse(key).expect("key ARN")),
    })
}

/// An unencrypted cluster, its finding in Security Hub, and its event.
async fn unencrypted_cluster(eks: &aws_sdk_eks::Client) -> (String, serde_json::Value, String) {
    let name = unique("orders");
    create_cluster(eks, &name, "1.31", false, true, None).await;
    consent_to_one_way_doors(eks, &name).await;
    // The sample's cluster account is 444455556666; moto holds this cluster, and the key the
    // tests create, in the account of its default credentials. A key must be in the cluster's
    // account, so the finding names that account.
    let event: serde_json::Value = serde_json::from_str(
        &event_for(EVENT, &name)
            .to_string()
            .replace("444455556666", MOTO_ACCOUNT),
    )
    .expect("json");
    let event = standin::own_exposure(event, &name);
    let uid = standin::load_finding(&event);
    (name, event, uid)
}

/// The cluster's status and the key encrypting its secrets, as DescribeCluster reports them.
async fn secrets_key(eks: &aws_sdk_eks::Client, name: &str) -> (String, Option<String>) {
    let out = eks
        .describe_cluster()
        .name(name)
        .send()
        .await
        .expect("describe");
    let c = out.cluster().expect("cluster");
    let key = c
        .encryption_config()
        .iter()
        .find_map(|e| e.provider().and_then(|p| p.key_arn()).map(str::to_string));
    (c.status().expect("status").as_str().to_string(), key)
}

#[tokio::test]
async fn an_enabled_key_passes_the_pre_flight_and_is_associated() {
    let sdk = standin::sdk().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let inbox = Inbox::new(&sdk).await;
    // Usage and spec given explicitly: moto reports no KeyUsage for a key created without it,
    // and the pre-flight rightly refuses a key whose usage it cannot see.
    let key = kms
        .create_key()
        .key_usage(aws_sdk_kms::types::KeyUsageType::EncryptDecrypt)
        .key_spec(aws_sdk_kms::types::KeySpec::SymmetricDefault)
        .send()
        .await
        .expect("create key")
        .key_metadata()
        .expect("metadata")
        .arn()
        .expect("arn")
        .to_string();
    let (name, event, uid) = unencrypted_cluster(&eks).await;
    let deps = Deps::from_sdk(
        &sdk,
        config(Mode::Apply, &inbox.topic_arn),
        SecretsEncryption::FUNCTION,
    );

    let r = respond(&with_key(&key), &deps, event, None)
        .await
        .expect("report");

    assert_eq!(
        r.outcome,
        Outcome::Applied,
        "{}: {:?}",
        r.reason,
        r.blockers
    );
    assert!(r.irreversible);
    let update_id = r.update_id.clone().expect("the update id");
    assert_eq!(
        secrets_key(&eks, &name).await,
        ("UPDATING".to_string(), None),
        "associated once EKS finishes"
    );
    assert_eq!(
        r.finding_update.status,
        EffectStatus::Done,
        "{:?}",
        r.finding_update
    );
    let record = standin::finding_record(&uid);
    assert_eq!(record["status_id"], 2, "{record}");
    let comment = record["comment"].as_str().expect("comment");
    assert!(
        comment.starts_with("eks-exposure-responder/secrets-encryption: applied"),
        "{comment}"
    );
    assert!(comment.contains(&update_id), "{comment}");
    let msgs = inbox.drain().await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].attributes["outcome"]["Value"], "applied");

    assert!(standin::settle_updates().contains(&update_id));
    assert_eq!(
        secrets_key(&eks, &name).await,
        ("ACTIVE".to_string(), Some(key))
    );
}

#[tokio::test]
async fn a_disabled_key_is_refused_by_the_pre_flight_and_nothing_is_associated() {
    let sdk = standin::sdk().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let inbox = Inbox::new(&sdk).await;
    let created = kms
        .create_key()
        .key_usage(aws_sdk_kms::types::KeyUsageType::EncryptDecrypt)
        .key_spec(aws_sdk_kms::types::KeySpec::SymmetricDefault)
        .send()
        .await
        .expect("create key");
    let meta = created.key_metadata().expect("metadata");
    kms.disable_key()
        .key_id(meta.key_id())
        .send()
        .await
        .expect("disable key");
    let key = meta.arn().expect("arn").to_string();
    let (name, event, uid) = unencrypted_cluster(&eks).await;
    let deps = Deps::from_sdk(
        &sdk,
        config(Mode::Apply, &inbox.topic_arn),
        SecretsEncryption::FUNCTION,
    );

    let r = respond(&with_key(&key), &deps, event, None)
        .await
        .expect("report");

    assert_eq!(r.outcome, Outcome::Proposed, "{}", r.reason);
    assert_eq!(r.reason_code, "key_not_enabled", "{:?}", r.blockers);
    assert!(r.update_id.is_none());
    assert_eq!(
        secrets_key(&eks, &name).await,
        ("ACTIVE".to_string(), None),
        "nothing was associated"
    );
    let record = standin::finding_record(&uid);
    assert_eq!(record["status_id"], 2, "{record}");
    assert!(
        record["comment"]
            .as_str()
            .is_some_and(|c| c.starts_with("eks-exposure-responder/secrets-encryption: proposed")),
        "{record}"
    );
    assert_eq!(inbox.drain().await.len(), 1);
}
