//! Per-cluster sessions: the function's own credentials in its own account, the member role
//! assumed in any other, cached per (account, Region) across warm invocations.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::{Region, SdkConfig};
use aws_sdk_eks::config::ProvideCredentials;

use crate::aws::{AwsError, FaultKind};
use crate::event::cluster::ClusterRef;

/// What the responder uses to reach one cluster.
#[derive(Clone, Debug)]
pub struct ClusterSession {
    pub eks: aws_sdk_eks::Client,
    /// Credentials and Region for the cluster's account; functions build their other clients
    /// (KMS, …) from it.
    pub config: SdkConfig,
    /// The member role assumed to reach the cluster, if any.
    pub assumed_role: Option<String>,
}

/// Why a cluster could not be reached.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error(
        "the cluster is in account {account} but MEMBER_ROLE_NAME is not set, so the responder (in account {home}) cannot reach it: deploy member-role.yaml in {account} and set MemberRoleName"
    )]
    NoMemberRole { account: String, home: String },
    /// STS refused the member role: it does not exist, or its trust policy does not name this
    /// function's role. Retrying cannot help; someone has to fix the role.
    #[error(
        "the member role {role} could not be assumed ({code}: {message}): deploy member-role.yaml in account {account} with this function's role ARN ({function} role) as its trusted principal (the role's trust policy must allow sts:AssumeRole for aws:PrincipalArn = this function's execution role), and check that no SCP or permissions boundary denies sts:AssumeRole"
    )]
    RoleDenied {
        role: String,
        account: String,
        function: String,
        code: String,
        message: String,
    },
    /// STS could not be asked, or answered with something other than a refusal.
    #[error("the member role {role} could not be assumed: {source}")]
    RoleUnavailable { role: String, source: AwsError },
}

impl AccessError {
    /// Worth retrying the event later (STS throttled, timed out or failed on its side).
    pub fn transient(&self) -> Option<&AwsError> {
        match self {
            AccessError::RoleUnavailable { source, .. } if source.is_transient() => Some(source),
            _ => None,
        }
    }
}

/// The AssumeRole fault inside a credentials error, classified by its code.
fn assume_role_fault(err: &aws_credential_types::provider::error::CredentialsError) -> AwsError {
    use aws_credential_types::provider::error::CredentialsError;
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    let sdk = std::error::Error::source(err).and_then(|s| {
        s.downcast_ref::<aws_sdk_sts::error::SdkError<AssumeRoleError, aws_sdk_eks::config::http::HttpResponse>>()
    });
    if let Some(sdk) = sdk {
        return AwsError::from_sdk_ref(ASSUME_ROLE, sdk);
    }
    let (kind, message) = match err {
        CredentialsError::ProviderTimedOut(_) => (
            FaultKind::Transient,
            "STS did not answer in time".to_string(),
        ),
        CredentialsError::InvalidConfiguration(_) => (FaultKind::Invalid, format!("{err}")),
        other => (FaultKind::Other, format!("{other}")),
    };
    AwsError {
        operation: ASSUME_ROLE,
        kind,
        code: None,
        message,
    }
}

const ASSUME_ROLE: &str = "sts:AssumeRole";

/// Credentials kept until shortly before they expire. The session checks the member role
/// eagerly and the SDK's identity cache asks again on the first call; both go through this one
/// cache, so a new session costs one AssumeRole, not two.
#[derive(Debug)]
struct FetchedOnce<P> {
    inner: P,
    kept: Mutex<Option<aws_credential_types::Credentials>>,
}

/// Credentials this close to expiry are fetched again (the SDK's own cache refreshes within
/// seconds of expiry; this margin keeps the two from handing out credentials about to lapse).
const REFRESH_BEFORE_EXPIRY: std::time::Duration = std::time::Duration::from_secs(300);

impl<P> FetchedOnce<P> {
    fn new(inner: P) -> Self {
        FetchedOnce {
            inner,
            kept: Mutex::new(None),
        }
    }

    fn fresh(&self) -> Option<aws_credential_types::Credentials> {
        let kept = self.kept.lock().ok()?.clone()?;
        let fresh = kept
            .expiry()
            .is_none_or(|expiry| std::time::SystemTime::now() + REFRESH_BEFORE_EXPIRY < expiry);
        fresh.then_some(kept)
    }
}

impl<P: ProvideCredentials> ProvideCredentials for FetchedOnce<P> {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::new(async move {
            if let Some(kept) = self.fresh() {
                return Ok(kept);
            }
            let fetched = self.inner.provide_credentials().await?;
            if let Ok(mut kept) = self.kept.lock() {
                *kept = Some(fetched.clone());
            }
            Ok(fetched)
        })
    }
}

/// Hands out the session for a cluster. The production implementation assumes member roles;
/// tests hand out mocked clients.
pub trait ClusterAccess {
    fn session(
        &self,
        cluster: &ClusterRef,
        home_account: Option<&str>,
    ) -> impl std::future::Future<Output = Result<ClusterSession, AccessError>>;

    /// A session with the function's own credentials in the cluster's Region, for work that
    /// does not need the cluster's account (a hand-off whose cluster could not be reached).
    fn home_session(&self, cluster: &ClusterRef) -> ClusterSession;
}

/// Production access: the function's own credentials for its own account, `MEMBER_ROLE_NAME`
/// assumed in any other; sessions cached across warm invocations.
pub struct AwsAccess {
    base: SdkConfig,
    member_role_name: Option<String>,
    session_name: String,
    cache: Mutex<HashMap<(String, String), ClusterSession>>,
}

impl AwsAccess {
    pub fn new(base: SdkConfig, member_role_name: Option<String>, function: &str) -> Self {
        // STS session names: 2-64 of [\w+=,.@-].
        let mut session_name = format!("eks-exposure-responder-{function}");
        session_name.truncate(64);
        AwsAccess {
            base,
            member_role_name,
            session_name,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn refused(&self, role: &str, cluster: &ClusterRef, fault: &AwsError) -> AccessError {
        if fault.kind == FaultKind::AccessDenied {
            AccessError::RoleDenied {
                role: role.to_string(),
                account: cluster.account.clone(),
                function: self.session_name.clone(),
                code: fault.code.clone().unwrap_or_else(|| "AccessDenied".into()),
                message: fault.message.clone(),
            }
        } else {
            AccessError::RoleUnavailable {
                role: role.to_string(),
                source: fault.clone(),
            }
        }
    }

    fn cached(&self, key: &(String, String)) -> Option<ClusterSession> {
        self.cache.lock().ok().and_then(|c| c.get(key).cloned())
    }
}

impl ClusterAccess for AwsAccess {
    fn home_session(&self, cluster: &ClusterRef) -> ClusterSession {
        let config = self
            .base
            .to_builder()
            .region(Region::new(cluster.region.clone()))
            .build();
        ClusterSession {
            eks: aws_sdk_eks::Client::new(&config),
            config,
            assumed_role: None,
        }
    }

    async fn session(
        &self,
        cluster: &ClusterRef,
        home_account: Option<&str>,
    ) -> Result<ClusterSession, AccessError> {
        let key = (cluster.account.clone(), cluster.region.clone());
        if let Some(hit) = self.cached(&key) {
            return Ok(hit);
        }
        let region = Region::new(cluster.region.clone());
        let foreign = home_account.is_some_and(|home| home != cluster.account);
        let (config, assumed_role) = match (&self.member_role_name, foreign) {
            (Some(role), true) => {
                let role_arn = format!(
                    "arn:{}:iam::{}:role/{role}",
                    cluster.partition, cluster.account
                );
                let provider = FetchedOnce::new(
                    aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
                        .session_name(self.session_name.clone())
                        .configure(&self.base)
                        .build()
                        .await,
                );
                // Resolve now, not inside the first EKS call: there a refusal would look like a
                // connection failure (no HTTP status) and be retried as transient.
                if let Err(e) = provider.provide_credentials().await {
                    return Err(self.refused(&role_arn, cluster, &assume_role_fault(&e)));
                }
                let config = self
                    .base
                    .to_builder()
                    .credentials_provider(aws_sdk_eks::config::SharedCredentialsProvider::new(
                        provider,
                    ))
                    .region(region)
                    .build();
                (config, Some(role_arn))
            }
            (None, true) => {
                return Err(AccessError::NoMemberRole {
                    account: cluster.account.clone(),
                    home: home_account.unwrap_or("unknown").to_string(),
                });
            }
            _ => (self.base.to_builder().region(region).build(), None),
        };
        let session = ClusterSession {
            eks: aws_sdk_eks::Client::new(&config),
            config,
            assumed_role,
        };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, session.clone());
        }
        Ok(session)
    }
}

/// The account id in a Lambda function ARN (`arn:aws:lambda:<region>:<account>:function:<name>`).
pub fn account_of_function_arn(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    crate::event::cluster::is_account_id(account).then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_account_of_a_function_arn() {
        assert_eq!(
            account_of_function_arn(
                "arn:aws:lambda:us-east-1:444455556666:function:endpoint-access"
            ),
            Some("444455556666")
        );
        assert_eq!(account_of_function_arn(""), None);
    }
}
