//! The key pre-flight, as pure functions: what EKS requires of a secrets key (symmetric,
//! encrypt/decrypt, same Region) plus what keeps the cluster alive (enabled, not pending
//! deletion, a customer-managed key whose policy you control).

use shared::aws::{AwsError, FaultKind};
use shared::output::report::{Blocker, BlockerCode};

use crate::live::KeyFacts;
use crate::settings::KmsKeyArn;

/// One pre-flight check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    Enabled,
    NotPendingDeletion,
    Symmetric,
    EncryptDecrypt,
    SameRegion,
    CustomerManaged,
}

impl Check {
    pub const ALL: [Check; 6] = [
        Check::Enabled,
        Check::NotPendingDeletion,
        Check::Symmetric,
        Check::EncryptDecrypt,
        Check::SameRegion,
        Check::CustomerManaged,
    ];

    /// The name used in messages: "pre-flight check '<name>' failed".
    pub fn name(self) -> &'static str {
        match self {
            Check::Enabled => "enabled",
            Check::NotPendingDeletion => "not pending deletion",
            Check::Symmetric => "symmetric",
            Check::EncryptDecrypt => "encrypt/decrypt usage",
            Check::SameRegion => "same Region",
            Check::CustomerManaged => "customer managed",
        }
    }

    /// The blocker code when the check fails.
    pub fn code(self) -> BlockerCode {
        match self {
            Check::Enabled => BlockerCode::KeyNotEnabled,
            Check::NotPendingDeletion => BlockerCode::KeyPendingDeletion,
            Check::Symmetric => BlockerCode::KeyNotSymmetric,
            Check::EncryptDecrypt => BlockerCode::KeyWrongUsage,
            Check::SameRegion => BlockerCode::KeyOtherRegion,
            Check::CustomerManaged => BlockerCode::KeyNotCustomerManaged,
        }
    }
}

/// The outcome of one check, with the evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    pub check: Check,
    pub passed: bool,
    pub detail: String,
}

/// What is known about the configured key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    /// `SECRETS_KMS_KEY_ARN` is not set.
    NotConfigured,
    /// The configured ARN is in another Region or partition: DescribeKey was not called.
    OtherRegion { configured: KmsKeyArn },
    /// DescribeKey answered.
    Described {
        configured: KmsKeyArn,
        facts: KeyFacts,
    },
    /// DescribeKey failed for a reason that is not transient.
    Unreadable {
        configured: KmsKeyArn,
        error: AwsError,
    },
}

impl KeyStatus {
    pub fn configured(&self) -> Option<&KmsKeyArn> {
        match self {
            KeyStatus::NotConfigured => None,
            KeyStatus::OtherRegion { configured }
            | KeyStatus::Described { configured, .. }
            | KeyStatus::Unreadable { configured, .. } => Some(configured),
        }
    }

    /// The key ARN to associate: the key an alias resolves to when DescribeKey said so (what
    /// was checked is what is associated, even if the alias is re-pointed later).
    pub fn key_to_associate(&self) -> Option<&str> {
        match self {
            KeyStatus::NotConfigured => None,
            KeyStatus::Described { facts, .. } if !facts.arn.is_empty() => Some(&facts.arn),
            other => other.configured().map(|c| c.arn.as_str()),
        }
    }
}

/// Region and partition of an ARN (`arn:<partition>:<service>:<region>:…`).
fn arn_location(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.split(':');
    let _arn = parts.next()?;
    let partition = parts.next()?;
    let _service = parts.next()?;
    let region = parts.next()?;
    Some((partition, region))
}

/// Whether the configured ARN can be in the cluster's Region at all (checked before calling
/// DescribeKey, which would look in the cluster's Region).
pub fn configured_in_cluster_region(key: &KmsKeyArn, partition: &str, region: &str) -> bool {
    key.partition == partition && key.region == region
}

fn is_pending_deletion(state: &str) -> bool {
    matches!(state, "PendingDeletion" | "PendingReplicaDeletion")
}

/// Run every check on what DescribeKey returned.
pub fn run_checks(facts: &KeyFacts, partition: &str, region: &str) -> Vec<CheckResult> {
    Check::ALL
        .iter()
        .map(|&check| {
            let (passed, detail) = match check {
                // A key pending deletion is also disabled: it fails 'not pending deletion',
                // the more urgent of the two, and only that one.
                Check::Enabled if is_pending_deletion(&facts.state) => (
                    true,
                    format!("KeyState is {} (see 'not pending deletion')", facts.state),
                ),
                Check::Enabled => (
                    facts.state == "Enabled",
                    format!("KeyState is {}", facts.state),
                ),
                Check::NotPendingDeletion => {
                    let pending = is_pending_deletion(&facts.state);
                    let when = facts
                        .deletion_date
                        .as_deref()
                        .map(|d| format!(", deletion scheduled for {d}"))
                        .unwrap_or_default();
                    (!pending, format!("KeyState is {}{when}", facts.state))
                }
                Check::Symmetric => (
                    facts.spec.as_deref() == Some("SYMMETRIC_DEFAULT"),
                    format!(
                        "KeySpec is {}",
                        facts.spec.as_deref().unwrap_or("not reported")
                    ),
                ),
                Check::EncryptDecrypt => (
                    facts.usage.as_deref() == Some("ENCRYPT_DECRYPT"),
                    format!(
                        "KeyUsage is {}",
                        facts.usage.as_deref().unwrap_or("not reported")
                    ),
                ),
                Check::SameRegion => match arn_location(&facts.arn) {
                    Some((p, r)) => (
                        p == partition && r == region,
                        format!("the key is in {r} ({p}), the cluster in {region} ({partition})"),
                    ),
                    None => (
                        false,
                        format!("the key ARN '{}' does not show its Region", facts.arn),
                    ),
                },
                Check::CustomerManaged => (
                    facts.manager.as_deref() != Some("AWS"),
                    format!(
                        "KeyManager is {}",
                        facts.manager.as_deref().unwrap_or("not reported")
                    ),
                ),
            };
            CheckResult {
                check,
                passed,
                detail,
            }
        })
        .collect()
}

/// What to do about a failed check.
fn advice(check: Check, key: &str) -> String {
    match check {
        Check::Enabled => format!(
            "enable it (aws kms enable-key --key-id {key}) or configure another key"
        ),
        Check::NotPendingDeletion => format!(
            "cancel the deletion (aws kms cancel-key-deletion --key-id {key}, then enable it) or configure another key; associating a key that is about to be deleted would leave the cluster permanently unable to read its secrets"
        ),
        Check::Symmetric | Check::EncryptDecrypt => {
            "EKS needs a symmetric encryption key (KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT): create one and configure it instead".to_string()
        }
        Check::SameRegion => {
            "EKS needs a key in the cluster's Region: create one there (or a replica of a multi-Region key, aws kms replicate-key) and configure it".to_string()
        }
        Check::CustomerManaged => {
            "AWS managed keys can only be used by the service they belong to: create a customer-managed key and configure it".to_string()
        }
    }
}

/// A blocker per failed check, each naming the check.
pub fn blockers_for(results: &[CheckResult], key: &str) -> Vec<Blocker> {
    results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| {
            Blocker::new(
                r.check.code(),
                format!(
                    "pre-flight check '{}' failed for KMS key {key}: {}; {}",
                    r.check.name(),
                    r.detail,
                    advice(r.check, key)
                ),
            )
        })
        .collect()
}

/// The blocker for a key in another Region or partition (DescribeKey not called).
pub fn other_region_blocker(key: &KmsKeyArn, partition: &str, region: &str) -> Blocker {
    Blocker::new(
        Check::SameRegion.code(),
        format!(
            "pre-flight check '{}' failed for KMS key {}: the key is in {} ({}), the cluster in {region} ({partition}); {}",
            Check::SameRegion.name(),
            key.arn,
            key.region,
            key.partition,
            advice(Check::SameRegion, &key.arn)
        ),
    )
}

/// A key owned by another account than the cluster: that account can disable, delete or revoke it
/// at any time and leave the cluster unrecoverable, so the responder never associates one.
pub fn other_account_blocker(key: &KmsKeyArn, cluster_account: &str) -> Blocker {
    Blocker::new(
        BlockerCode::KeyOtherAccount,
        format!(
            "KMS key {} belongs to account {}, the cluster to {cluster_account}: whoever controls that account can disable or delete the key and make the cluster unrecoverable; configure a customer managed key in {cluster_account}",
            key.arn, key.account
        ),
    )
}

/// The blocker when DescribeKey failed: the key could not be checked, and why.
pub fn unreadable_blocker(key: &KmsKeyArn, error: &AwsError, region: &str) -> Blocker {
    let (code, why) = match error.kind {
        FaultKind::AccessDenied => (
            BlockerCode::KeyNotChecked,
            format!(
                "kms:DescribeKey was denied ({error}); allow this function's role (or the member role) kms:DescribeKey and kms:CreateGrant on the key, in the key policy and in IAM"
            ),
        ),
        FaultKind::NotFound => (
            BlockerCode::KeyNotFound,
            format!(
                "KMS found no such key in account {} / {region} ({error}); check the ARN, and that an alias points at an existing key",
                key.account
            ),
        ),
        _ => (
            BlockerCode::KeyNotChecked,
            format!("kms:DescribeKey failed ({error})"),
        ),
    };
    Blocker::new(
        code,
        format!(
            "the key pre-flight could not check KMS key {}: {why}. The apply stays refused until the key passes every check",
            key.arn
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn good() -> KeyFacts {
        KeyFacts {
            arn: ARN.into(),
            key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            state: "Enabled".into(),
            spec: Some("SYMMETRIC_DEFAULT".into()),
            usage: Some("ENCRYPT_DECRYPT".into()),
            manager: Some("CUSTOMER".into()),
            deletion_date: None,
            multi_region: false,
        }
    }

    fn failed(facts: &KeyFacts) -> Vec<Check> {
        run_checks(facts, "aws", "us-east-1")
            .into_iter()
            .filter(|r| !r.passed)
            .map(|r| r.check)
            .collect()
    }

    #[test]
    fn a_good_key_passes_every_check() {
        let results = run_checks(&good(), "aws", "us-east-1");
        assert_eq!(results.len(), Check::ALL.len());
        assert!(results.iter().all(|r| r.passed), "{results:?}");
        assert!(blockers_for(&results, ARN).is_empty());
    }

    #[test]
    fn each_failure_names_its_check() {
        let disabled = KeyFacts {
            state: "Disabled".into(),
            ..good()
        };
        assert_eq!(failed(&disabled), [Check::Enabled]);

        let pending = KeyFacts {
            state: "PendingDeletion".into(),
            deletion_date: Some("2026-06-01T00:00:00Z".into()),
            ..good()
        };
        assert_eq!(
            failed(&pending),
            [Check::NotPendingDeletion],
            "reported once, precisely"
        );
        let replica = KeyFacts {
            state: "PendingReplicaDeletion".into(),
            ..good()
        };
        assert_eq!(failed(&replica), [Check::NotPendingDeletion]);

        let rsa = KeyFacts {
            spec: Some("RSA_2048".into()),
            usage: Some("SIGN_VERIFY".into()),
            ..good()
        };
        assert_eq!(failed(&rsa), [Check::Symmetric, Check::EncryptDecrypt]);
        let hmac = KeyFacts {
            spec: Some("HMAC_256".into()),
            usage: Some("GENERATE_VERIFY_MAC".into()),
            ..good()
        };
        assert_eq!(failed(&hmac), [Check::Symmetric, Check::EncryptDecrypt]);

        let west = KeyFacts {
            arn: ARN.replace("us-east-1", "us-west-2"),
            ..good()
        };
        assert_eq!(failed(&west), [Check::SameRegion]);

        let aws_managed = KeyFacts {
            manager: Some("AWS".into()),
            ..good()
        };
        assert_eq!(failed(&aws_managed), [Check::CustomerManaged]);

        let unavailable = KeyFacts {
            state: "Unavailable".into(),
            ..good()
        };
        assert_eq!(failed(&unavailable), [Check::Enabled]);

        let blockers = blockers_for(&run_checks(&pending, "aws", "us-east-1"), ARN);
        assert_eq!(blockers.len(), 1);
        assert_eq!(blockers[0].code, BlockerCode::KeyPendingDeletion);
        assert!(
            blockers[0]
                .message
                .contains("pre-flight check 'not pending deletion' failed")
        );
        assert!(blockers[0].message.contains("2026-06-01T00:00:00Z"));
        assert!(blockers[0].message.contains("aws kms cancel-key-deletion"));
        assert!(!blockers[0].defers, "a bad key is not fixed by waiting");
    }

    #[test]
    fn the_configured_arn_is_located_before_describe_key() {
        let key = KmsKeyArn::parse(&ARN.replace("us-east-1", "eu-west-1")).expect("arn");
        assert!(!configured_in_cluster_region(&key, "aws", "us-east-1"));
        assert!(configured_in_cluster_region(&key, "aws", "eu-west-1"));
        assert!(!configured_in_cluster_region(&key, "aws-cn", "eu-west-1"));
        let b = other_region_blocker(&key, "aws", "us-east-1");
        assert_eq!(b.code, BlockerCode::KeyOtherRegion);
        assert!(b.message.contains("pre-flight check 'same Region' failed"));
        assert!(
            b.message
                .contains("the key is in eu-west-1 (aws), the cluster in us-east-1 (aws)")
        );
    }

    #[test]
    fn an_alias_is_associated_as_the_key_it_resolves_to() {
        let alias =
            KmsKeyArn::parse("arn:aws:kms:us-east-1:444455556666:alias/eks").expect("alias");
        let described = KeyStatus::Described {
            configured: alias.clone(),
            facts: good(),
        };
        assert_eq!(described.key_to_associate(), Some(ARN));
        let denied = KeyStatus::Unreadable {
            configured: alias.clone(),
            error: AwsError {
                operation: "kms:DescribeKey",
                kind: FaultKind::AccessDenied,
                code: Some("AccessDeniedException".into()),
                message: "no".into(),
            },
        };
        assert_eq!(denied.key_to_associate(), Some(alias.arn.as_str()));
        assert_eq!(KeyStatus::NotConfigured.key_to_associate(), None);
    }

    #[test]
    fn an_unreadable_key_says_why() {
        let key = KmsKeyArn::parse(ARN).expect("arn");
        let err = |kind, code: &str| AwsError {
            operation: "kms:DescribeKey",
            kind,
            code: Some(code.into()),
            message: "m".into(),
        };
        let denied = unreadable_blocker(
            &key,
            &err(FaultKind::AccessDenied, "AccessDeniedException"),
            "us-east-1",
        );
        assert_eq!(denied.code, "key_not_checked");
        assert!(denied.message.contains("could not check KMS key"));
        assert!(denied.message.contains("kms:DescribeKey was denied"));
        let missing = unreadable_blocker(
            &key,
            &err(FaultKind::NotFound, "NotFoundException"),
            "us-east-1",
        );
        assert_eq!(missing.code, "key_not_found");
        assert!(
            missing
                .message
                .contains("no such key in account 444455556666 / us-east-1")
        );
    }
}
