//! The KMS side: `DescribeKey` for the key pre-flight, turned into plain [`KeyFacts`].

use aws_config::SdkConfig;

use shared::aws::AwsError;

/// What `DescribeKey` says about a key, without SDK types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyFacts {
    /// The key ARN (an alias resolves to its target key here).
    pub arn: String,
    pub key_id: String,
    /// `KeyState`: Enabled, Disabled, PendingDeletion, PendingReplicaDeletion, …
    pub state: String,
    /// `KeySpec`: SYMMETRIC_DEFAULT, RSA_2048, …
    pub spec: Option<String>,
    /// `KeyUsage`: ENCRYPT_DECRYPT, SIGN_VERIFY, …
    pub usage: Option<String>,
    /// `KeyManager`: CUSTOMER or AWS.
    pub manager: Option<String>,
    /// When a key pending deletion will be deleted (RFC 3339).
    pub deletion_date: Option<String>,
    pub multi_region: bool,
}

impl KeyFacts {
    pub fn from_sdk(m: &aws_sdk_kms::types::KeyMetadata) -> Self {
        KeyFacts {
            arn: m.arn().unwrap_or_default().to_string(),
            key_id: m.key_id().to_string(),
            state: m
                .key_state()
                .map_or_else(|| "Unknown".to_string(), |s| s.as_str().to_string()),
            spec: m.key_spec().map(|s| s.as_str().to_string()),
            usage: m.key_usage().map(|u| u.as_str().to_string()),
            manager: m.key_manager().map(|k| k.as_str().to_string()),
            deletion_date: m.deletion_date().and_then(|d| {
                d.fmt(aws_sdk_kms::primitives::DateTimeFormat::DateTime)
                    .ok()
            }),
            multi_region: m.multi_region().unwrap_or(false),
        }
    }
}

/// Where the KMS client comes from: the cluster's session (production), or a fixed client
/// (tests, with aws-smithy-mocks).
#[derive(Clone, Debug, Default)]
pub struct KmsAccess {
    fixed: Option<aws_sdk_kms::Client>,
}

impl KmsAccess {
    /// Build a client for each cluster from its session's `SdkConfig` (its account, Region and
    /// member-role credentials).
    pub fn from_session() -> Self {
        KmsAccess { fixed: None }
    }

    /// Always use this client.
    pub fn fixed(client: aws_sdk_kms::Client) -> Self {
        KmsAccess {
            fixed: Some(client),
        }
    }

    fn client(&self, session_config: &SdkConfig) -> aws_sdk_kms::Client {
        self.fixed
            .clone()
            .unwrap_or_else(|| aws_sdk_kms::Client::new(session_config))
    }

    /// `kms:DescribeKey` for a key or alias ARN.
    pub async fn describe_key(
        &self,
        session_config: &SdkConfig,
        key: &str,
    ) -> Result<KeyFacts, AwsError> {
        let out = self
            .client(session_config)
            .describe_key()
            .key_id(key)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("kms:DescribeKey", e))?;
        out.key_metadata()
            .map(KeyFacts::from_sdk)
            .ok_or_else(|| AwsError {
                operation: "kms:DescribeKey",
                kind: shared::aws::FaultKind::Other,
                code: None,
                message: "DescribeKey returned no KeyMetadata".to_string(),
            })
    }
}
