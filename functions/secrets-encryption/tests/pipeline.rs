//! The whole function through the shared pipeline, EKS and KMS mocked with aws-smithy-mocks.

use aws_sdk_eks::operation::associate_encryption_config::AssociateEncryptionConfigOutput;
use aws_sdk_eks::types::{Update, UpdateStatus, UpdateType};
use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
use aws_sdk_kms::types::{KeyManagerType, KeyMetadata, KeySpec, KeyState, KeyUsageType};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use shared::config::Mode;
use shared::event::gate::{Gate, event_from_value, gate};
use shared::output::report::{EffectStatus, Outcome, Report};
use shared::pipeline::respond;
use shared::testing::{
    Captures, ClusterFixture, config, describe_update_rule, eks_client, event, mocked_deps,
};

use secrets_encryption::*;
use shared::aws::eks::client_request_token;
use shared::pipeline::{Remediation, RemediationError, Situation};

const EVENT: &str = "eks-unencrypted-secrets.json";
const CLUSTER: &str = "orders-staging";
const KEY: &str = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ALIAS: &str = "arn:aws:kms:us-east-1:444455556666:alias/eks/orders-staging";
const ROLE: &str = "arn:aws:iam::444455556666:role/orders-staging-cluster";

fn settings(key: Option<&str>) -> Settings {
    Settings {
        key: key.map(|k| KmsKeyArn::parse(k).expect("key ARN")),
    }
}

fn metadata(state: KeyState, spec: KeySpec, usage: KeyUsageType, arn: &str) -> KeyMetadata {
    KeyMetadata::builder()
        .key_id("1234abcd-12ab-34cd-56ef-1234567890ab")
        .arn(arn)
        .key_state(state)
        .enabled(false)
        .key_spec(spec)
        .key_usage(usage)
        .key_manager(KeyManagerType::Customer)
        .build()
        .expect("key metadata")
}

fn good_metadata() -> KeyMetadata {
    metadata(
        KeyState::Enabled,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
        KEY,
    )
}

fn describe_key_rule(m: KeyMetadata) -> Rule {
    mock!(aws_sdk_kms::Client::describe_key)
        .then_output(move || DescribeKeyOutput::builder().key_metadata(m.clone()).build())
}

/// A KMS error as the service sends it (awsJson1.1: the code in `__type`).
fn describe_key_fault(status: u16, code: &str, message: &str, times: usize) -> Rule {
    mock!(aws_sdk_kms::Client::describe_key)
        .sequence()
        .http_status(
            status,
            Some(format!(r#"{{"__type":"{code}","message":"{message}"}}"#)),
        )
        .times(times)
        .build()
}

fn forbidden_describe_key() -> Rule {
    mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(|_| panic!("DescribeKey must not be called here"))
        .then_output(|| DescribeKeyOutput::builder().build())
}

fn kms(rules: &[&Rule]) -> KmsAccess {
    KmsAccess::fixed(mock_client!(aws_sdk_kms, RuleMode::MatchAny, rules))
}

/// An AssociateEncryptionConfig rule that fails the test if called.
fn forbidden_associate() -> Rule {
    mock!(aws_sdk_eks::Client::associate_encryption_config)
        .match_requests(|_| panic!("AssociateEncryptionConfig must not be called here"))
        .then_output(|| AssociateEncryptionConfigOutput::builder().build())
}

/// An EKS error as the service sends it (restJson1).
fn associate_fault(status: u16, code: &str, message: &str) -> Rule {
    mock!(aws_sdk_eks::Client::associate_encryption_config)
        .sequence()
        .http_status(
            status,
            Some(format!(r#"{{"__type":"{code}","message":"{message}"}}"#)),
        )
        .build()
}

/// DescribeCluster with the cluster role this crate's tests expect.
fn describe_with_role(fixture: &ClusterFixture) -> Rule {
    let mut f = fixture.clone();
    f.role_arn = ROLE.to_string();
    f.describe_rule()
}

/// The token the function must send for `key`, from the same event.
fn expected_token(key: &str) -> String {
    let parsed = event_from_value(event(EVENT)).expect("event");
    let Ok(Gate::Actionable(exposure)) = gate(&parsed, SecretsEncryption::OWNS) else {
        panic!("the sample event is actionable");
    };
    client_request_token(&exposure, "AssociateEncryptionConfig", key)
}

async fn run(fix: &SecretsEncryption, mode: Mode, eks_rules: &[&Rule]) -> (Report, Captures) {
    let (deps, cap) = mocked_deps(config(mode), eks_client(eks_rules));
    let report = respond(fix, &deps, event(EVENT), None)
        .await
        .expect("a report");
    (report, cap)
}

/// Every proposal and apply says the change is one-way and what losing the key does.
fn assert_warns(report: &Report, email: &str) {
    assert!(report.irreversible);
    for needle in [
        "CANNOT BE UNDONE",
        "This change cannot be undone",
        "KMS_GRANT_REVOKED",
        "unrecoverable",
        "RevokeGrant",
        "RetireGrant",
        "key-loss alarm",
        "ScheduleKeyDeletion",
        "DisableKey",
        "aws events put-rule",
        "How to revert:",
        "none: EKS cannot remove secrets encryption",
    ] {
        assert!(email.contains(needle), "email lacks {needle:?}:\n{email}");
    }
}

/// A proposal is recorded on the finding: In Progress, naming the function and the danger.
fn assert_recorded_proposal(cap: &Captures) {
    let recorded = cap.recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].metadata_uids(),
        ["b21fa87a9d24c1708f79444f2d34b2eba2d665ec967d6005f36a9d5f2fd2ae91"]
    );
    assert_eq!(recorded[0].status_id(), Some(2));
    let comment = recorded[0].comment().unwrap_or_default();
    assert!(
        comment.starts_with("eks-exposure-responder/secrets-encryption: proposed - "),
        "{comment}"
    );
    assert!(comment.contains("IRREVERSIBLE"), "{comment}");
    assert!(comment.chars().count() <= 512);
}

#[tokio::test]
async fn an_encrypted_cluster_is_already_compliant_naming_its_key() {
    let mut cluster = ClusterFixture::new(CLUSTER).with_owner_consent();
    cluster.secrets_key = Some(KEY.to_string());
    let associate = forbidden_associate();
    let fix = SecretsEncryption::with_kms(settings(Some(KEY)), kms(&[&forbidden_describe_key()]));
    let (report, cap) = run(&fix, Mode::Apply, &[&cluster.describe_rule(), &associate]).await;

    assert_eq!(report.outcome, Outcome::AlreadyCompliant);
    assert_eq!(report.reason_code, "already_compliant");
    assert_eq!(
        report.reason,
        format!("Kubernetes secrets are already envelope-encrypted with KMS key {KEY}")
    );
    assert_eq!(report.live_state["secretsEncrypted"], true);
    assert!(
        cap.recorded().is_empty(),
        "nothing is recorded on a compliant cluster"
    );
    assert_eq!(report.finding_update.status, EffectStatus::NotAttempted);
    let email = cap.email();
    assert!(
        email.starts_with("[COMPLIANT] orders-staging 444455556666/us-east-1"),
        "{email}"
    );
    assert!(
        email.contains(&format!("envelope-encrypted with KMS key {KEY}")),
        "{email}"
    );
    assert!(email.contains("ScheduleKeyDeletion"), "{email}");
}

#[tokio::test]
async fn propose_mode_with_a_good_key_proposes_and_never_associates() {
    let cluster = ClusterFixture::new(CLUSTER).with_owner_consent();
    let associate = forbidden_associate();
    let describe_key = describe_key_rule(good_metadata());
    let fix = SecretsEncryption::with_kms(settings(Some(KEY)), kms(&[&describe_key]));
    let (report, cap) = run(
        &fix,
        Mode::Propose,
        &[&describe_with_role(&cluster), &associate],
    )
    .await;

    assert_eq!(report.outcome, Outcome::Proposed, "{}", report.reason);
    assert_eq!(report.reason_code, "mode_propose");
    assert_eq!(associate.num_calls(), 0);
    assert_eq!(
        describe_key.num_calls(),
        1,
        "the pre-flight runs in propose mode too"
    );
    assert!(report.blockers.is_empty(), "{:?}", report.blockers);
    assert!(report.reason.starts_with(&format!(
        "encrypt the Kubernetes secrets of orders-staging with KMS key {KEY} (AssociateEncryptionConfig); IRREVERSIBLE"
    )));
    assert_eq!(report.plan.len(), 1);
    let step = &report.plan[0];
    assert_eq!(step.api_call, "eks:AssociateEncryptionConfig");
    assert_eq!(
        step.parameters["encryptionConfig"][0]["resources"][0],
        "secrets"
    );
    assert_eq!(
        step.parameters["encryptionConfig"][0]["provider"]["keyArn"],
        KEY
    );
    assert_eq!(step.parameters["clientRequestToken"], expected_token(KEY));
    assert!(step.cli.starts_with(&format!(
        "aws eks associate-encryption-config --region us-east-1 --cluster-name orders-staging --encryption-config '[{{\"resources\":[\"secrets\"],\"provider\":{{\"keyArn\":\"{KEY}\"}}}}]'"
    )), "{}", step.cli);
    assert!(
        report
            .facts
            .iter()
            .any(|f| f.contains("Kubernetes 1.31 (1.28 or later)")
                && f.contains("AWS-owned key")
                && f.contains("customer-managed KMS key"))
    );
    assert!(
        report.not_checked.iter().any(|n| n.contains(ROLE)),
        "{:?}",
        report.not_checked
    );

    let email = cap.email();
    assert!(
        email.starts_with(
            "[PROPOSED] orders-staging 444455556666/us-east-1: unencrypted Kubernetes secrets"
        ),
        "{email}"
    );
    assert!(
        email.contains("key pre-flight 'enabled': passed (KeyState is Enabled)"),
        "{email}"
    );
    assert!(
        email.contains("aws eks associate-encryption-config --region us-east-1"),
        "{email}"
    );
    // 1.31: the EKS rewrite procedure is for 1.27 and lower only.
    assert!(!email.contains("kubectl annotate secrets"), "{email}");
    assert!(
        email.contains("documented for 1.27 and lower only"),
        "{email}"
    );
    assert_warns(&report, &email);
    assert_recorded_proposal(&cap);
    assert_eq!(cap.json()["irreversible"], true);
}

#[tokio::test]
async fn apply_without_a_key_proposes_how_to_create_one() {
    let cluster = ClusterFixture::new(CLUSTER).with_owner_consent();
    let associate = forbidden_associate();
    let fix = SecretsEncryption::with_kms(settings(None), kms(&[&forbidden_describe_key()]));
    let (report, cap) = run(
        &fix,
        Mode::Apply,
        &[&describe_with_role(&cluster), &associate],
    )
    .await;

    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(report.reason_code, "no_key_configured");
    assert_eq!(associate.num_calls(), 0);
    assert_eq!(report.blockers.len(), 1);
    assert!(report.blockers[0].message.contains("SecretsKmsKeyArn"));
    assert!(report.blockers[0].message.contains("SECRETS_KMS_KEY_ARN"));
    assert_eq!(report.plan[0].api_call, "kms:CreateKey");
    assert_eq!(
        report.plan[0].parameters["Policy"]["Statement"][1]["Principal"]["AWS"], ROLE,
        "the key policy names the cluster role DescribeCluster reports"
    );

    let email = cap.email();
    for needle in [
        "aws kms create-key --region us-east-1 --key-spec SYMMETRIC_DEFAULT --key-usage ENCRYPT_DECRYPT",
        "--policy file://eks-secrets-key-policy.json",
        "Key policy for the new key (save as eks-secrets-key-policy.json",
        "\"kms:Encrypt\"",
        "\"kms:Decrypt\"",
        "\"kms:DescribeKey\"",
        "\"kms:CreateGrant\"",
        ROLE,
        "set the SAM parameter SecretsKmsKeyArn (SECRETS_KMS_KEY_ARN)",
        "Held back by (the apply was refused):",
        "--encryption-config '[{\"resources\":[\"secrets\"],\"provider\":{\"keyArn\":\"<key-arn>\"}}]'",
    ] {
        assert!(email.contains(needle), "email lacks {needle:?}:\n{email}");
    }
    assert_warns(&report, &email);
    assert_recorded_proposal(&cap);
}

/// Apply mode with a key that fails the pre-flight: proposed, the check named, no association.
async fn refused_by_preflight(
    configured: &str,
    kms_rule: Rule,
    code: &str,
    check: &str,
) -> (Report, String) {
    let cluster = ClusterFixture::new(CLUSTER).with_owner_consent();
    let associate = forbidden_associate();
    let fix = SecretsEncryption::with_kms(settings(Some(configured)), kms(&[&kms_rule]));
    let (report, cap) = run(&fix, Mode::Apply, &[&cluster.describe_rule(), &associate]).await;

    assert_eq!(
        report.outcome,
        Outcome::Proposed,
        "{code}: {}",
        report.reason
    );
    assert_eq!(report.reason_code, code);
    assert_eq!(associate.num_calls(), 0);
    assert!(
        report
            .reason
            .contains("not applied: the apply was refused by 1 pre-flight check(s)")
    );
    assert_eq!(report.blockers.len(), 1, "{:?}", report.blockers);
    assert_eq!(report.blockers[0].code, code);
    assert!(
        report.blockers[0].message.contains(check),
        "{}",
        report.blockers[0].message
    );
    let email = cap.email();
    assert!(
        email.contains("Held back by (the apply was refused):"),
        "{email}"
    );
    assert!(email.contains(check), "{email}");
    assert_warns(&report, &email);
    assert_recorded_proposal(&cap);
    (report, email)
}

#[tokio::test]
async fn a_disabled_key_is_refused() {
    let rule = describe_key_rule(metadata(
        KeyState::Disabled,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
        KEY,
    ));
    let (_, email) = refused_by_preflight(
        KEY,
        rule,
        "key_not_enabled",
        "pre-flight check 'enabled' failed",
    )
    .await;
    assert!(email.contains("KeyState is Disabled"));
    assert!(email.contains("aws kms enable-key --key-id"));
}

#[tokio::test]
async fn a_key_pending_deletion_is_refused() {
    let rule = describe_key_rule(metadata(
        KeyState::PendingDeletion,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
        KEY,
    ));
    let (_, email) = refused_by_preflight(
        KEY,
        rule,
        "key_pending_deletion",
        "pre-flight check 'not pending deletion' failed",
    )
    .await;
    assert!(email.contains("aws kms cancel-key-deletion"));

    let replica = describe_key_rule(metadata(
        KeyState::PendingReplicaDeletion,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
        KEY,
    ));
    refused_by_preflight(
        KEY,
        replica,
        "key_pending_deletion",
        "KeyState is PendingReplicaDeletion",
    )
    .await;
}

#[tokio::test]
async fn an_asymmetric_or_signing_key_is_refused() {
    let cluster = ClusterFixture::new(CLUSTER).with_owner_consent();
    let associate = forbidden_associate();
    let rule = describe_key_rule(metadata(
        KeyState::Enabled,
        KeySpec::Rsa2048,
        KeyUsageType::SignVerify,
        KEY,
    ));
    let fix = SecretsEncryption::with_kms(settings(Some(KEY)), kms(&[&rule]));
    let (report, cap) = run(&fix, Mode::Apply, &[&cluster.describe_rule(), &associate]).await;
    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(associate.num_calls(), 0);
    let codes: Vec<&str> = report.blockers.iter().map(|b| b.code.as_str()).collect();
    assert_eq!(codes, ["key_not_symmetric", "key_wrong_usage"]);
    assert_eq!(report.reason_code, "key_not_symmetric");
    let email = cap.email();
    assert!(
        email.contains("pre-flight check 'symmetric' failed"),
        "{email}"
    );
    assert!(email.contains("KeySpec is RSA_2048"), "{email}");
    assert!(
        email.contains("pre-flight check 'encrypt/decrypt usage' failed"),
        "{email}"
    );
    assert!(email.contains("KeyUsage is SIGN_VERIFY"), "{email}");

    // A symmetric key for another use (HMAC) fails only the usage and spec it has wrong.
    let mac = describe_key_rule(metadata(
        KeyState::Enabled,
        KeySpec::SymmetricDefault,
        KeyUsageType::GenerateVerifyMac,
        KEY,
    ));
    refused_by_preflight(
        KEY,
        mac,
        "key_wrong_usage",
        "pre-flight check 'encrypt/decrypt usage' failed",
    )
    .await;
}

#[tokio::test]
async fn a_key_in_another_region_is_refused_without_calling_kms() {
    let west = KEY.replace("us-east-1", "us-west-2");
    let (report, _) = refused_by_preflight(
        &west,
        forbidden_describe_key(),
        "key_other_region",
        "pre-flight check 'same Region' failed",
    )
    .await;
    assert!(
        report.blockers[0]
            .message
            .contains("the key is in us-west-2 (aws), the cluster in us-east-1 (aws)")
    );
    assert!(
        report
            .not_checked
            .iter()
            .any(|n| n.contains("DescribeKey was not called"))
    );
    // The alarm goes where the key's CloudTrail events are: the key's Region.
    assert!(
        report
            .follow_ups
            .iter()
            .any(|s| s.cli.starts_with("aws events put-rule --region us-west-2"))
    );

    // An alias in the cluster's Region that resolves to a key elsewhere is caught on the
    // DescribeKey answer.
    let rule = describe_key_rule(metadata(
        KeyState::Enabled,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
        &west,
    ));
    refused_by_preflight(
        ALIAS,
        rule,
        "key_other_region",
        "pre-flight check 'same Region' failed",
    )
    .await;
}

#[tokio::test]
async fn a_key_that_cannot_be_described_is_refused_saying_why() {
    let denied = describe_key_fault(
        400,
        "AccessDeniedException",
        "User is not authorized to perform: kms:DescribeKey",
        1,
    );
    let (report, email) =
        refused_by_preflight(KEY, denied, "key_not_checked", "could not check KMS key").await;
    assert!(
        report.blockers[0]
            .message
            .contains("kms:DescribeKey was denied")
    );
    assert!(report.blockers[0].message.contains("AccessDeniedException"));
    assert!(email.contains("Could not check:"), "{email}");

    let missing = describe_key_fault(400, "NotFoundException", "Key does not exist", 1);
    let (report, _) =
        refused_by_preflight(KEY, missing, "key_not_found", "could not check KMS key").await;
    assert!(
        report.blockers[0]
            .message
            .contains("no such key in account 444455556666 / us-east-1")
    );
}

#[tokio::test]
async fn a_transient_kms_fault_is_retried_not_decided() {
    let cluster = ClusterFixture::new(CLUSTER).with_owner_consent();
    let associate = forbidden_associate();
    let busy = describe_key_fault(500, "KMSInternalException", "internal error", 5);
    let fix = SecretsEncryption::with_kms(settings(Some(KEY)), kms(&[&busy]));
    let (deps, cap) = mocked_deps(
        config(Mode::Apply),
        eks_client(&[&cluster.describe_rule(), &associate]),
    );
    let err = respond(&fix, &deps, event(EVENT), None)
        .await
        .expect_err("retryable");
    assert_eq!(err.error_type(), "AwsTransientError");
    assert!(err.to_string().contains("kms:DescribeKey"), "{err}");
    assert_eq!(associate.num_calls(), 0);
    assert!(cap.published().is_empty() && cap.recorded().is_empty());
}

#[tokio::test]
async fn apply_mode_without_the_owner_tag_proposes_and_names_the_tag() {
    // An untagged cluster (Terraform, Pulumi and Crossplane add no tags) under MODE=apply: the
    // association cannot be undone, so only the cluster owner's tag lets it through.
    let cluster = ClusterFixture::new(CLUSTER);
    let associate = shared::forbidden_rule!(
        aws_sdk_eks::Client::associate_encryption_config,
        AssociateEncryptionConfigOutput
    );
    let fix = SecretsEncryption::with_kms(
        settings(Some(KEY)),
        kms(&[&describe_key_rule(good_metadata())]),
    );
    let (report, cap) = run(&fix, Mode::Apply, &[&cluster.describe_rule(), &associate]).await;
    assert_eq!(report.outcome, Outcome::Proposed, "{}", report.reason);
    assert_eq!(report.reason_code, "guardrail");
    assert!(report.blockers.is_empty(), "{:?}", report.blockers);
    assert!(
        report.reason.contains(
            "eks:AssociateEncryptionConfig is a one-way door (it cannot be undone, or only briefly), so the responder takes it only with the cluster owner's consent: set the cluster tag eks-exposure-responder/mode=apply"
        ),
        "{}",
        report.reason
    );
    assert!(cap.email().contains("eks-exposure-responder/mode=apply"));
}

#[tokio::test]
async fn apply_associates_the_checked_key_with_a_token_and_verifies() {
    let cluster = ClusterFixture::new(CLUSTER).with_owner_consent();
    let token = expected_token(KEY);
    let associate = mock!(aws_sdk_eks::Client::associate_encryption_config)
        .match_requests(move |r| {
            #[allow(deprecated)]
            let shape_ok = r.encryption_config().len() == 1
                && r.encryption_config()[0].resources() == ["secrets"]
                && r.encryption_config()[0]
                    .provider()
                    .and_then(|p| p.key_arn())
                    == Some(KEY);
            shape_ok
                && r.cluster_name() == Some(CLUSTER)
                && r.client_request_token() == Some(token.as_str())
        })
        .then_output(|| {
            AssociateEncryptionConfigOutput::builder()
                .update(
                    Update::builder()
                        .id("upd-enc-1")
                        .status(UpdateStatus::InProgress)
                        .r#type(UpdateType::AssociateEncryptionConfig)
                        .build(),
                )
                .build()
        });
    // Configured as an alias: the key it resolves to is what is associated.
    let fix = SecretsEncryption::with_kms(
        settings(Some(ALIAS)),
        kms(&[&describe_key_rule(good_metadata())]),
    );
    let (report, cap) = run(
        &fix,
        Mode::Apply,
        &[
            &cluster.describe_rule(),
            &associate,
            &describe_update_rule("upd-enc-1", UpdateType::AssociateEncryptionConfig),
        ],
    )
    .await;

    assert_eq!(report.outcome, Outcome::Applied, "{}", report.reason);
    assert_eq!(associate.num_calls(), 1);
    assert_eq!(report.update_id.as_deref(), Some("upd-enc-1"));
    assert!(
        report
            .verification
            .as_deref()
            .is_some_and(|v| v.contains("DescribeUpdate reports update upd-enc-1 as InProgress"))
    );
    let recorded = cap.recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status_id(), Some(2));
    let comment = recorded[0].comment().unwrap_or_default();
    assert!(
        comment.starts_with("eks-exposure-responder/secrets-encryption: applied, EKS update upd-enc-1 - encrypt the Kubernetes secrets"),
        "{comment}"
    );
    assert!(comment.contains("IRREVERSIBLE"), "{comment}");
    let email = cap.email();
    assert!(email.starts_with("[APPLIED] orders-staging"), "{email}");
    assert!(email.contains("EKS update id: upd-enc-1"), "{email}");
    assert!(
        email.contains(&format!("alias {ALIAS} points at key {KEY}")),
        "{email}"
    );
    assert_warns(&report, &email);
}

#[tokio::test]
async fn associate_resource_in_use_is_deferred() {
    let cluster = ClusterFixture::new(CLUSTER).with_owner_consent();
    let busy = associate_fault(
        409,
        "ResourceInUseException",
        "The specified resource is in use",
    );
    let fix = SecretsEncryption::with_kms(
        settings(Some(KEY)),
        kms(&[&describe_key_rule(good_metadata())]),
    );
    let (report, cap) = run(&fix, Mode::Apply, &[&cluster.describe_rule(), &busy]).await;
    assert_eq!(busy.num_calls(), 1);
    assert_eq!(report.outcome, Outcome::Deferred);
    assert_eq!(report.reason_code, "update_in_progress");
    assert!(cap.recorded().is_empty(), "a deferred finding stays New");
    assert!(cap.email().contains("[DEFERRED] orders-staging"));
}

#[tokio::test]
async fn associate_invalid_parameter_fails_with_what_to_check() {
    let cluster = ClusterFixture::new(CLUSTER).with_owner_consent();
    let invalid = associate_fault(
        400,
        "InvalidParameterException",
        "Cluster already has an encryption configuration",
    );
    let fix = SecretsEncryption::with_kms(
        settings(Some(KEY)),
        kms(&[&describe_key_rule(good_metadata())]),
    );
    let (report, cap) = run(&fix, Mode::Apply, &[&cluster.describe_rule(), &invalid]).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.reason_code, "invalid_request_failed");
    assert!(
        report.reason.contains("InvalidParameterException"),
        "{}",
        report.reason
    );
    assert!(
        report.reason.contains("EKS rejected the request"),
        "{}",
        report.reason
    );
    assert!(
        report
            .reason
            .contains("symmetric ENCRYPT_DECRYPT key in us-east-1"),
        "{}",
        report.reason
    );
    assert!(cap.recorded().is_empty());
    let email = cap.email();
    assert!(email.starts_with("[FAILED] orders-staging"), "{email}");
    assert!(
        email.contains("cannot be undone"),
        "the warnings travel with every message"
    );
}

#[tokio::test]
async fn associate_access_denied_on_the_key_fails_naming_the_permissions() {
    let cluster = ClusterFixture::new(CLUSTER).with_owner_consent();
    let denied = associate_fault(
        403,
        "AccessDeniedException",
        "not authorized to perform kms:CreateGrant on the key",
    );
    let fix = SecretsEncryption::with_kms(
        settings(Some(KEY)),
        kms(&[&describe_key_rule(good_metadata())]),
    );
    let (report, cap) = run(&fix, Mode::Apply, &[&cluster.describe_rule(), &denied]).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.reason_code, "access_denied_failed");
    assert!(
        report
            .reason
            .contains("kms:CreateGrant and kms:DescribeKey on"),
        "{}",
        report.reason
    );
    assert!(report.reason.contains("cluster role"), "{}", report.reason);
    assert!(cap.recorded().is_empty());
    assert_eq!(cap.published().len(), 1, "a failure is always told");
}

#[tokio::test]
async fn an_iac_managed_cluster_is_proposed_with_the_tool_named() {
    let mut cluster = ClusterFixture::new(CLUSTER).with_owner_consent();
    cluster.tags = vec![("aws:cloudformation:stack-name".into(), "orders-eks".into())];
    let associate = forbidden_associate();
    let fix = SecretsEncryption::with_kms(
        settings(Some(KEY)),
        kms(&[&describe_key_rule(good_metadata())]),
    );
    let (report, cap) = run(&fix, Mode::Apply, &[&cluster.describe_rule(), &associate]).await;
    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(report.reason_code, "guardrail");
    assert_eq!(associate.num_calls(), 0);
    let email = cap.email();
    assert!(
        email.contains(
            "The cluster is managed by CloudFormation stack 'orders-eks'. CloudFormation"
        ),
        "{email}"
    );
    assert!(
        email.contains("do NOT add EncryptionConfig")
            && email.contains("'Update requires: Replacement'"),
        "{email}"
    );
    assert!(!email.contains("add the key there too"), "{email}");
}

#[tokio::test]
async fn a_second_association_refused_as_already_enabled_says_so() {
    let cluster = ClusterFixture::new(CLUSTER).with_owner_consent();
    let invalid = associate_fault(
        400,
        "InvalidParameterException",
        "Encryption is already enabled on the cluster",
    );
    let fix = SecretsEncryption::with_kms(
        settings(Some(KEY)),
        kms(&[&describe_key_rule(good_metadata())]),
    );
    let (report, _cap) = run(&fix, Mode::Apply, &[&cluster.describe_rule(), &invalid]).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert!(
        report
            .reason
            .contains("the cluster already has a KMS key associated"),
        "{}",
        report.reason
    );
    assert!(
        !report.reason.contains("EKS rejected the request"),
        "{}",
        report.reason
    );
}

/// A cluster whose encryptionConfig names a key is compliant whatever `resources` says: the
/// member is deprecated and no longer decides what EKS encrypts.
#[tokio::test]
async fn a_key_without_the_deprecated_secrets_resource_is_compliant() {
    for resources in [vec![], vec!["configmaps".to_string()]] {
        let mut c = ClusterFixture::new(CLUSTER).cluster();
        #[allow(deprecated)]
        let entry = aws_sdk_eks::types::EncryptionConfig::builder()
            .set_resources(Some(resources.clone()))
            .provider(aws_sdk_eks::types::Provider::builder().key_arn(KEY).build())
            .build();
        c.encryption_config = Some(vec![entry]);
        let out = aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput::builder()
            .cluster(c)
            .build();
        let describe =
            mock!(aws_sdk_eks::Client::describe_cluster).then_output(move || out.clone());
        let associate = forbidden_associate();
        let fix =
            SecretsEncryption::with_kms(settings(Some(KEY)), kms(&[&forbidden_describe_key()]));
        let (report, _cap) = run(&fix, Mode::Apply, &[&describe, &associate]).await;
        assert_eq!(
            report.outcome,
            Outcome::AlreadyCompliant,
            "{resources:?}: {}",
            report.reason
        );
        assert_eq!(associate.num_calls(), 0);
    }
}

#[tokio::test]
async fn apply_refuses_outside_apply_mode_even_if_called() {
    let fixture = ClusterFixture::new(CLUSTER).with_owner_consent();
    let associate = forbidden_associate();
    let access = shared::testing::StaticAccess::new(eks_client(&[&associate]));
    let parsed = event_from_value(event(EVENT)).expect("event");
    let Ok(Gate::Actionable(exposure)) = gate(&parsed, SecretsEncryption::OWNS) else {
        panic!("actionable");
    };
    let state = shared::aws::eks::ClusterState::from_sdk(&fixture.cluster());
    let mode = shared::guardrails::decide_mode(Mode::Propose, &state.tags, false);
    let situation = Situation {
        exposure: &exposure,
        cluster: &state,
        session: &access.session,
        mode: &mode,
    };
    let action = Some(AssociateKey {
        key: KEY.to_string(),
        token: "token".to_string(),
    });
    let fix = SecretsEncryption::with_kms(settings(Some(KEY)), kms(&[&forbidden_describe_key()]));
    let err = fix.apply(&situation, &action).await.expect_err("refused");
    assert!(
        matches!(&err, RemediationError::NotCalled { why, .. } if why.contains("not apply")),
        "{err}"
    );
    assert_eq!(associate.num_calls(), 0);
}
