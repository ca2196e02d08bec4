//! AWS access: one `SdkConfig` per cold start, per-cluster sessions cached per (account, Region),
//! member-account roles assumed where the cluster lives elsewhere, and SDK faults classified into
//! what the pipeline does with them.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_eks::config::http::HttpResponse;
use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};
use serde::Serialize;

use crate::cluster::ClusterRef;

/// The behaviour version every client uses (pinned: retries and timeouts do not move under us).
pub fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

/// Bounds on every AWS call. The SDK only sets a connect timeout by default, so an endpoint that
/// accepts and never answers would otherwise hold the invocation until the Lambda timeout.
/// Three attempts of 10 s fit inside the functions' 60 s timeout with room to report.
pub fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_millis(3100))
        .operation_attempt_timeout(std::time::Duration::from_secs(10))
        .operation_timeout(std::time::Duration::from_secs(30))
        .build()
}

/// Load the SDK configuration once at cold start. Honours `AWS_ENDPOINT_URL[_<SERVICE>]`.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(behavior_version())
        .http_client(crate::https::https_client())
        .timeout_config(timeouts())
        .load()
        .await
}

/// What kind of fault an AWS call ended in, after the SDK's own retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Throttling, 5xx, timeouts, connection errors: worth retrying later.
    Transient,
    AccessDenied,
    NotFound,
    /// Another update is in progress (EKS `ResourceInUseException`, HTTP 409).
    InUse,
    /// The request was refused as invalid for the resource's current state or parameters.
    Invalid,
    /// The endpoint does not implement the call (seen on local emulators).
    NotImplemented,
    Other,
}

/// A failed AWS call, classified, with the service's own code and message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{operation} failed ({}): {message}", code.as_deref().unwrap_or("no error code"))]
pub struct AwsError {
    pub operation: &'static str,
    pub kind: FaultKind,
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    pub fn is_transient(&self) -> bool {
        self.kind == FaultKind::Transient
    }

    /// Classify an SDK error of any service.
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        // Modeled errors built without metadata (and some emulators) carry the error's name
        // only in its Display text: "ResourceInUseException: …".
        let service_text = err.as_service_error().map(|e| e.to_string());
        let code = err.code().map(str::to_string).or_else(|| {
            service_text
                .as_deref()
                .and_then(|t| t.split([':', ' ']).next())
                .filter(|n| n.ends_with("Exception") || n.ends_with("Error"))
                .map(str::to_string)
        });
        let message = err
            .message()
            .map(str::to_string)
            .or(service_text)
            .unwrap_or_else(|| match &err {
                SdkError::TimeoutError(_) => "the call timed out".to_string(),
                SdkError::DispatchFailure(e) => format!("could not reach the endpoint: {e:?}"),
                other => format!("{other}"),
            });
        let transport = matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        );
        let kind = classify(code.as_deref(), status, transport);
        let message = match (kind, &code, status) {
            (FaultKind::NotImplemented, None, Some(s)) => format!(
                "the endpoint does not implement this operation (HTTP {s} without an AWS error)"
            ),
            _ => message,
        };
        AwsError {
            operation,
            kind,
            code,
            message,
        }
    }
}

/// What an operator can do about a failed call of this kind, where one sentence fits every call.
pub fn advice(kind: FaultKind, operation: &str) -> Option<String> {
    match kind {
        FaultKind::AccessDenied => Some(format!(
            "Grant the function's role (or the member role) permission for {operation}."
        )),
        FaultKind::NotImplemented => Some("The endpoint does not implement this call.".to_string()),
        _ => None,
    }
}

fn classify(code: Option<&str>, status: Option<u16>, transport: bool) -> FaultKind {
    let code = code.unwrap_or("");
    let c = code.to_ascii_lowercase();
    if c.contains("throttl")
        || c == "toomanyrequestsexception"
        || c == "requestlimitexceeded"
        || c == "slowdown"
        || status == Some(429)
    {
        return FaultKind::Transient;
    }
    if c.contains("accessdenied")
        || c.contains("unauthorized")
        || c == "notauthorizedexception"
        || status == Some(403)
    {
        return FaultKind::AccessDenied;
    }
    if c == "resourceinuseexception" || c == "conflictexception" || status == Some(409) {
        return FaultKind::InUse;
    }
    // A 404 with no AWS error code is a route the endpoint does not have (local emulators answer
    // unknown operations this way); a real "not found" always names its exception.
    if c == "notimplemented"
        || c == "notimplementedexception"
        || status == Some(501)
        || (code.is_empty() && status == Some(404))
    {
        return FaultKind::NotImplemented;
    }
    if c.contains("notfound") || status == Some(404) {
        return FaultKind::NotFound;
    }
    if c == "serverexception"
        || c == "internalserverexception"
        || c == "internalfailure"
        || c == "serviceunavailableexception"
        || c == "serviceunavailable"
        || c == "internalerror"
        || status.is_some_and(|s| s >= 500)
        || transport && status.is_none()
    {
        return FaultKind::Transient;
    }
    if c.contains("invalid")
        || c.contains("validation")
        || c == "clientexception"
        || c == "badrequestexception"
        || status == Some(400)
    {
        return FaultKind::Invalid;
    }
    FaultKind::Other
}

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
                let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
                    .session_name(self.session_name.clone())
                    .configure(&self.base)
                    .build()
                    .await;
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
    crate::cluster::is_account_id(account).then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_classified_by_code_then_status() {
        assert_eq!(
            classify(Some("ThrottlingException"), Some(400), false),
            FaultKind::Transient
        );
        assert_eq!(
            classify(Some("TooManyRequestsException"), None, false),
            FaultKind::Transient
        );
        assert_eq!(classify(None, Some(503), false), FaultKind::Transient);
        assert_eq!(classify(None, None, true), FaultKind::Transient);
        assert_eq!(
            classify(Some("AccessDeniedException"), Some(403), false),
            FaultKind::AccessDenied
        );
        assert_eq!(
            classify(Some("ResourceInUseException"), Some(409), false),
            FaultKind::InUse
        );
        assert_eq!(
            classify(Some("ResourceNotFoundException"), Some(404), false),
            FaultKind::NotFound
        );
        assert_eq!(
            classify(Some("InvalidParameterException"), Some(400), false),
            FaultKind::Invalid
        );
        assert_eq!(
            classify(Some("InvalidRequestException"), Some(400), false),
            FaultKind::Invalid
        );
        assert_eq!(
            classify(Some("ServerException"), Some(500), false),
            FaultKind::Transient
        );
        assert_eq!(classify(None, Some(501), false), FaultKind::NotImplemented);
        assert_eq!(classify(None, Some(404), false), FaultKind::NotImplemented);
    }

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
