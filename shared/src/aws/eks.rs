//! The EKS calls every remediation shares: read the live cluster, follow an update, and the
//! idempotency token for mutating calls.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::aws::{AwsError, FaultKind};
use crate::event::gate::Exposure;

/// The live cluster, as `DescribeCluster` reports it. The finding is a hint; this is the truth.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClusterState {
    pub name: String,
    pub status: String,
    pub version: Option<String>,
    pub platform_version: Option<String>,
    pub endpoint_public_access: bool,
    pub endpoint_private_access: bool,
    /// As reported; empty with public access on means the AWS default `0.0.0.0/0`.
    pub public_access_cidrs: Vec<String>,
    pub encryption: Vec<EncryptionEntry>,
    pub support_type: Option<String>,
    /// The cluster's IAM role (key policies name it).
    pub role_arn: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EncryptionEntry {
    pub resources: Vec<String>,
    pub key_arn: Option<String>,
}

impl ClusterState {
    /// Stand-in for a cluster that could not be read: no tags, status `UNKNOWN`.
    pub fn unread(name: &str) -> Self {
        ClusterState {
            name: name.to_string(),
            status: "UNKNOWN".to_string(),
            ..ClusterState::default()
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }

    /// The customer-managed KMS key the cluster is envelope-encrypted with, if any: the first
    /// `encryptionConfig` entry that names a provider key. `resources` plays no part: the EKS API
    /// deprecated it on 2025-03-05 ("Amazon EKS encrypts all Kubernetes API data by default, so
    /// this value no longer determines which resources are encrypted"), and EKS refuses a second
    /// association on a cluster that has any entry ("Encryption is already enabled on the cluster").
    /// https://docs.aws.amazon.com/eks/latest/APIReference/API_EncryptionConfig.html
    pub fn customer_key(&self) -> Option<&EncryptionEntry> {
        self.encryption
            .iter()
            .find(|e| e.key_arn.as_deref().is_some_and(|k| !k.trim().is_empty()))
    }

    pub fn from_sdk(cluster: &aws_sdk_eks::types::Cluster) -> Self {
        let vpc = cluster.resources_vpc_config();
        ClusterState {
            name: cluster.name().unwrap_or_default().to_string(),
            status: cluster
                .status()
                .map_or("UNKNOWN".to_string(), |s| s.as_str().to_string()),
            version: cluster.version().map(str::to_string),
            platform_version: cluster.platform_version().map(str::to_string),
            endpoint_public_access: vpc.is_some_and(|v| v.endpoint_public_access()),
            endpoint_private_access: vpc.is_some_and(|v| v.endpoint_private_access()),
            public_access_cidrs: vpc
                .map(|v| v.public_access_cidrs().to_vec())
                .unwrap_or_default(),
            // `resources` is deprecated in the SDK because EKS now encrypts all API data; it is
            // kept for reports only, never for deciding compliance (see `customer_key`).
            #[allow(deprecated)]
            encryption: cluster
                .encryption_config()
                .iter()
                .map(|e| EncryptionEntry {
                    resources: e.resources().to_vec(),
                    key_arn: e.provider().and_then(|p| p.key_arn()).map(str::to_string),
                })
                .collect(),
            support_type: cluster
                .upgrade_policy()
                .and_then(|u| u.support_type())
                .map(|s| s.as_str().to_string()),
            role_arn: cluster.role_arn().map(str::to_string),
            tags: cluster
                .tags()
                .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        }
    }
}

/// `DescribeCluster`; `Ok(None)` when the cluster does not exist.
pub async fn describe_cluster(
    eks: &aws_sdk_eks::Client,
    name: &str,
) -> Result<Option<ClusterState>, AwsError> {
    match eks.describe_cluster().name(name).send().await {
        Ok(out) => Ok(out.cluster().map(ClusterState::from_sdk)),
        Err(e) => {
            let err = AwsError::from_sdk("eks:DescribeCluster", e);
            if err.kind == FaultKind::NotFound {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// The state of an EKS update, as `DescribeUpdate` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UpdateState {
    pub id: String,
    pub status: String,
    pub kind: Option<String>,
    pub errors: Vec<String>,
}

impl UpdateState {
    pub fn failed(&self) -> bool {
        self.status == "Failed" || self.status == "Cancelled"
    }

    pub fn from_sdk(update: &aws_sdk_eks::types::Update) -> Self {
        UpdateState {
            id: update.id().unwrap_or_default().to_string(),
            status: update
                .status()
                .map_or("Unknown".to_string(), |s| s.as_str().to_string()),
            kind: update.r#type().map(|t| t.as_str().to_string()),
            errors: update
                .errors()
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.error_code().map_or("error", |c| c.as_str()),
                        e.error_message().unwrap_or("no message")
                    )
                })
                .collect(),
        }
    }

    /// One sentence for reports and messages.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "DescribeUpdate reports update {} as {}",
            self.id, self.status
        );
        if !self.errors.is_empty() {
            s.push_str(&format!(" with errors: {}", self.errors.join("; ")));
        }
        s
    }
}

/// `DescribeUpdate` for a cluster-level update.
pub async fn describe_update(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    update_id: &str,
) -> Result<UpdateState, AwsError> {
    let out = eks
        .describe_update()
        .name(cluster)
        .update_id(update_id)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("eks:DescribeUpdate", e))?;
    Ok(out.update().map_or_else(
        || UpdateState {
            id: update_id.to_string(),
            status: "Unknown".to_string(),
            kind: None,
            errors: vec!["DescribeUpdate returned no update".to_string()],
        },
        UpdateState::from_sdk,
    ))
}

/// The `clientRequestToken` of a mutating call: the same finding revision, action and desired
/// state always give the same token, so a re-delivered event cannot start a second update.
pub fn client_request_token(exposure: &Exposure, action: &str, desired: &str) -> String {
    let key = format!(
        "{}|{}|{}|{}",
        exposure.metadata_uid,
        exposure.modified_time.as_deref().unwrap_or(""),
        action,
        desired
    );
    // 128 bits of SHA-256 in hex: 36 characters, well inside the token's 64.
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("eer-{hex}")
}

/// How a change EKS accepted was confirmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// `DescribeUpdate` answered for the update EKS returned.
    Update {
        update_id: String,
        state: UpdateState,
    },
    /// EKS returned an update id but it could not be read back: the change was made all the same.
    UpdateUnread { update_id: String, error: AwsError },
    /// EKS returned no update id (some emulators): the cluster as `DescribeCluster` now reports
    /// it (`Ok(None)`: gone), or why it could not be re-read.
    Reread(Result<Option<ClusterState>, AwsError>),
}

/// Verify an update EKS accepted, or re-read the cluster when EKS returned no update id. Any
/// failure to read back, transient or not, is a `Confirmation`, never an error: the change was
/// made, and a retried event would find the cluster updating and report `deferred`, losing the
/// `applied` report and its update id.
pub async fn confirm_update(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    update_id: Option<&str>,
) -> Result<Confirmation, AwsError> {
    Ok(match update_id {
        Some(id) => match describe_update(eks, cluster, id).await {
            Ok(state) => Confirmation::Update {
                update_id: id.to_string(),
                state,
            },
            Err(error) => Confirmation::UpdateUnread {
                update_id: id.to_string(),
                error,
            },
        },
        None => Confirmation::Reread(describe_cluster(eks, cluster).await),
    })
}

impl Confirmation {
    /// The `Applied` in the shared words; `reread` words what a re-read without update id found.
    pub fn applied(
        self,
        cluster: &str,
        reread: impl FnOnce(Result<Option<&ClusterState>, &AwsError>) -> String,
    ) -> crate::pipeline::Applied {
        use crate::pipeline::Applied;
        match self {
            Confirmation::Update { update_id, state } => {
                let mut verification = state.describe();
                if state.status == "InProgress" {
                    verification.push_str("; EKS applies it asynchronously");
                }
                Applied {
                    update_id: Some(update_id),
                    failed: state.failed(),
                    verification,
                }
            }
            Confirmation::UpdateUnread { update_id, error } => Applied {
                verification: format!(
                    "unverified: EKS accepted update {update_id} but it could not be read back ({error}); check it with: aws eks describe-update --name {} --update-id {update_id}",
                    crate::output::shell::quote(cluster)
                ),
                update_id: Some(update_id),
                failed: false,
            },
            Confirmation::Reread(state) => Applied {
                update_id: None,
                verification: reread(state.as_ref().map(Option::as_ref)),
                failed: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(entries: Vec<EncryptionEntry>) -> ClusterState {
        ClusterState {
            encryption: entries,
            ..ClusterState::unread("c")
        }
    }

    #[test]
    fn any_entry_with_a_provider_key_is_the_customer_key_whatever_its_resources() {
        let key = "arn:aws:kms:us-east-1:444455556666:key/k";
        for resources in [
            vec![],
            vec!["configmaps".to_string()],
            vec!["secrets".to_string()],
        ] {
            let state = with(vec![EncryptionEntry {
                resources: resources.clone(),
                key_arn: Some(key.to_string()),
            }]);
            assert_eq!(
                state.customer_key().and_then(|e| e.key_arn.as_deref()),
                Some(key),
                "resources {resources:?}"
            );
        }
        let keyless = with(vec![EncryptionEntry {
            resources: vec!["secrets".to_string()],
            key_arn: None,
        }]);
        assert!(keyless.customer_key().is_none());
        assert!(with(vec![]).customer_key().is_none());
    }
}
