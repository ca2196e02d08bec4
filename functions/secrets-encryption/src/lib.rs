//! secrets-encryption: the unencrypted Kubernetes secrets trait (Security Hub control EKS.3).
//!
//! Associates a customer-managed KMS key with the cluster's secrets (`AssociateEncryptionConfig`),
//! treated as the one-way door it is: the key must be configured by the operator and pass a
//! `kms:DescribeKey` pre-flight before any apply, and every message says the change cannot be
//! undone and that losing the key breaks the cluster.
//!
//! Layout: [`settings`] validates `SECRETS_KMS_KEY_ARN`; [`live`] is the KMS port; [`preflight`]
//! and [`decide`] are the pure decision; this file wires them to the shared pipeline.

pub mod decide;
pub mod live;
pub mod preflight;
pub mod settings;

use aws_sdk_eks::types::{EncryptionConfig, Provider};

use shared::Trait;
use shared::aws::eks::{Confirmation, client_request_token, confirm_update};
use shared::aws::{AwsError, FaultKind};
use shared::config::Mode;
use shared::pipeline::{Applied, Assessment, Remediation, RemediationError, Situation};

pub use live::{KeyFacts, KmsAccess};
pub use preflight::KeyStatus;
pub use settings::{KmsKeyArn, Settings};

pub use decide::AssociateKey;
use decide::{ACTION, Inputs};
use preflight::configured_in_cluster_region;

/// The secrets-encryption remediation.
pub struct SecretsEncryption {
    settings: Settings,
    kms: KmsAccess,
}

impl SecretsEncryption {
    /// Production: KMS clients are built from each cluster's session.
    pub fn new(settings: Settings) -> Self {
        SecretsEncryption {
            settings,
            kms: KmsAccess::from_session(),
        }
    }

    /// With a given KMS access (tests pass a mocked client).
    pub fn with_kms(settings: Settings, kms: KmsAccess) -> Self {
        SecretsEncryption { settings, kms }
    }

    /// The key pre-flight's first half: where the key is, and what DescribeKey says about it.
    /// Only a transient DescribeKey fault is an error (the event is retried).
    async fn key_status(&self, situation: &Situation<'_>) -> Result<KeyStatus, AwsError> {
        let cluster = &situation.exposure.cluster;
        let Some(configured) = self.settings.key.clone() else {
            return Ok(KeyStatus::NotConfigured);
        };
        if !configured_in_cluster_region(&configured, &cluster.partition, &cluster.region) {
            return Ok(KeyStatus::OtherRegion { configured });
        }
        match self
            .kms
            .describe_key(&situation.session.config, &configured.arn)
            .await
        {
            Ok(facts) => {
                tracing::info!(
                    cluster = %cluster.name,
                    key = %configured.arn,
                    resolved = %facts.arn,
                    state = %facts.state,
                    spec = facts.spec.as_deref().unwrap_or("unknown"),
                    usage = facts.usage.as_deref().unwrap_or("unknown"),
                    "key pre-flight: DescribeKey"
                );
                Ok(KeyStatus::Described { configured, facts })
            }
            Err(e) if e.is_transient() => Err(e),
            Err(error) => {
                tracing::warn!(cluster = %cluster.name, key = %configured.arn, error = %error, "key pre-flight: DescribeKey failed");
                Ok(KeyStatus::Unreadable { configured, error })
            }
        }
    }

    /// The cluster's IAM role, for the key policy. Advisory: a missing role is a reason, not an error.
    fn cluster_role(situation: &Situation<'_>) -> Result<String, String> {
        situation
            .cluster
            .role_arn
            .clone()
            .ok_or_else(|| "DescribeCluster returned no roleArn".to_string())
    }
}

/// Make an `AssociateEncryptionConfig` refusal actionable; the kind (and so what the pipeline
/// does with it) is kept.
pub fn explain_associate_error(err: AwsError, key: &str, region: &str) -> AwsError {
    // EKS allows one encryptionConfig per cluster, for good: a second association is refused
    // with "Encryption is already enabled on the cluster" (seen as InvalidParameterException).
    if err.kind == FaultKind::Invalid
        && err.message.to_ascii_lowercase().contains("already enabled")
    {
        return AwsError {
            message: format!(
                "{} — the cluster already has a KMS key associated (EKS allows one, and it cannot be changed): nothing more can be associated; aws eks describe-cluster shows the key in encryptionConfig",
                err.message
            ),
            ..err
        };
    }
    let advice = match err.kind {
        FaultKind::AccessDenied => format!(
            " — the caller (this function's role, or the member role) needs eks:AssociateEncryptionConfig, and it and the cluster role need kms:CreateGrant and kms:DescribeKey on {key}: allow them in the key policy (and in IAM for roles of the key's account)"
        ),
        FaultKind::Invalid => format!(
            " — EKS rejected the request: check that {key} is an enabled, symmetric ENCRYPT_DECRYPT key in {region}, that the cluster role may use it (kms:CreateGrant, kms:DescribeKey in the key policy) and that the cluster has no encryptionConfig yet (aws eks describe-cluster)"
        ),
        _ => return err,
    };
    AwsError {
        message: format!("{}{advice}", err.message),
        ..err
    }
}

impl Remediation for SecretsEncryption {
    /// `None` when the plan names no key yet (it is blocked until one is configured).
    type Action = Option<AssociateKey>;
    const FUNCTION: &'static str = "secrets-encryption";
    const OWNS: &'static [Trait] = &[Trait::UnencryptedSecrets];
    // A key, once associated, can never be removed or replaced.
    const ONE_WAY_DOOR: bool = true;

    async fn assess(
        &self,
        situation: &Situation<'_>,
    ) -> Result<Assessment<Option<AssociateKey>>, RemediationError> {
        let cluster = &situation.exposure.cluster;
        if situation.cluster.customer_key().is_some() {
            return Ok(decide::compliant(
                situation.cluster,
                self.settings.key.as_ref(),
            ));
        }
        let key = self.key_status(situation).await?;
        let cluster_role = Self::cluster_role(situation);
        let token = |k: &str| client_request_token(situation.exposure, ACTION, k);
        let assessment = decide::remediation(&Inputs {
            cluster,
            state: situation.cluster,
            key: &key,
            cluster_role,
            managed_by: situation.mode.managed_by.as_deref(),
            token: &token,
        });
        let codes: Vec<&str> = assessment
            .verdict
            .blockers()
            .iter()
            .map(|b| b.code.as_str())
            .collect();
        tracing::info!(
            cluster = %cluster.name,
            key = key.key_to_associate().unwrap_or("none"),
            blockers = ?codes,
            "secrets encryption planned"
        );
        Ok(assessment)
    }

    async fn apply(
        &self,
        situation: &Situation<'_>,
        action: &Option<AssociateKey>,
    ) -> Result<Applied, RemediationError> {
        let cluster = &situation.exposure.cluster;
        let refuse = |why: &str| RemediationError::NotCalled {
            operation: "eks:AssociateEncryptionConfig",
            why: why.to_string(),
        };
        // The pipeline calls apply only in apply mode; an irreversible call checks again.
        if situation.mode.effective != Mode::Apply {
            return Err(refuse("the effective mode is not apply"));
        }
        let Some(AssociateKey { key, token }) = action else {
            return Err(refuse("the plan names no KMS key to associate"));
        };
        #[allow(deprecated)]
        // `resources` is deprecated (EKS encrypts all API data); EKS.3 needs it
        let config = EncryptionConfig::builder()
            .resources("secrets")
            .provider(Provider::builder().key_arn(key).build())
            .build();
        tracing::warn!(cluster = %cluster.name, key = %key, token = %token, "AssociateEncryptionConfig: irreversible change");
        let out = situation
            .session
            .eks
            .associate_encryption_config()
            .cluster_name(&cluster.name)
            .encryption_config(config)
            .client_request_token(token)
            .send()
            .await
            .map_err(|e| {
                explain_associate_error(
                    AwsError::from_sdk("eks:AssociateEncryptionConfig", e),
                    key,
                    &cluster.region,
                )
            })?;
        let update_id = out.update().and_then(|u| u.id());
        if let Some(id) = update_id {
            tracing::info!(cluster = %cluster.name, update_id = %id, "AssociateEncryptionConfig accepted");
        }
        let confirmation = confirm_update(&situation.session.eks, &cluster.name, update_id).await?;
        if let Confirmation::Update { update_id, state } = &confirmation {
            return Ok(Applied {
                update_id: Some(update_id.clone()),
                failed: state.failed(),
                verification: format!(
                    "{}; the association runs asynchronously (the cluster is UPDATING meanwhile), then follow the steps under 'After that'",
                    state.describe()
                ),
            });
        }
        Ok(confirmation.applied(&cluster.name, |after| match after {
            Ok(Some(after)) => match after.customer_key().and_then(|e| e.key_arn.clone()) {
                Some(k) if &k == key => format!(
                    "the endpoint returned no update id; DescribeCluster now reports secrets encrypted with {k}"
                ),
                Some(k) => format!(
                    "the endpoint returned no update id; DescribeCluster reports secrets encrypted with {k}, not {key}: check the cluster"
                ),
                None => "the endpoint returned no update id and DescribeCluster does not yet show secrets encryption; check the cluster".to_string(),
            },
            Ok(None) => "the endpoint returned no update id and DescribeCluster no longer finds the cluster".to_string(),
            Err(e) => format!(
                "the endpoint returned no update id and DescribeCluster could not confirm the change ({e})"
            ),
        }))
    }
}
