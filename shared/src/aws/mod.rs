//! AWS access: one `SdkConfig` per cold start with bounded calls, per-cluster sessions
//! (`session`), SDK faults classified into what the pipeline does with them (`error`), and the
//! EKS calls every remediation shares (`eks`).

mod document;
pub mod eks;
mod error;
mod session;

pub use document::{document_to_value, value_to_document};
pub use error::{AwsError, FaultKind, advice};
pub use session::{AccessError, AwsAccess, ClusterAccess, ClusterSession, account_of_function_arn};

use aws_config::{BehaviorVersion, SdkConfig};

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

/// Retries of the Security Hub clients. Every function records on the finding (and reads it) in
/// the one administrator account, whose quotas (10 requests per second for
/// `BatchUpdateFindings`, 3 for `GetFindings`) all functions and all their concurrent instances
/// share: an onboarding burst meets them. Adaptive mode (documented as experimental) adds a
/// client-side rate limiter that slows each instance once it is throttled; each client talks to
/// that one account's quota only, the case it is meant for. In the load model it cuts the
/// throttled calls about fivefold at the same drain time. Ten attempts stay within the 30 s
/// operation timeout; a record still throttled after them is retried by Lambda.
pub fn securityhub_retry() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::adaptive().with_max_attempts(10)
}

/// A Security Hub client with [`securityhub_retry`].
pub fn securityhub_client(sdk: &SdkConfig) -> aws_sdk_securityhub::Client {
    aws_sdk_securityhub::Client::from_conf(securityhub_config(sdk).build())
}

/// The Security Hub client configuration every function starts from.
pub fn securityhub_config(sdk: &SdkConfig) -> aws_sdk_securityhub::config::Builder {
    aws_sdk_securityhub::config::Builder::from(sdk).retry_config(securityhub_retry())
}

/// Load the SDK configuration once at cold start, on the SDK's default HTTPS client (its
/// trusted roots are the platform's, or `SSL_CERT_FILE`/`SSL_CERT_DIR` when set). Honours
/// `AWS_ENDPOINT_URL[_<SERVICE>]`.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(behavior_version())
        .timeout_config(timeouts())
        .load()
        .await
}
