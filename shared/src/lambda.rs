//! The Lambda glue every `main.rs` calls: build the shared dependencies once, then serve.

use lambda_runtime::{LambdaEvent, service_fn};

use crate::aws::{AwsAccess, account_of_function_arn};
use crate::config::CommonConfig;
use crate::notify::SnsNotifier;
use crate::pipeline::{Deps, Remediation, ResponderError, respond};
use crate::report::Report;

impl Deps<AwsAccess> {
    /// Production dependencies from one `SdkConfig`.
    pub fn from_sdk(sdk: &aws_config::SdkConfig, config: CommonConfig, function: &str) -> Self {
        Deps {
            access: AwsAccess::new(sdk.clone(), config.member_role_name.clone(), function),
            notifier: SnsNotifier::new(aws_sdk_sns::Client::new(sdk), config.sns_topic_arn.clone()),
            recorder: crate::record::FindingRecorder::new(aws_sdk_securityhub::Client::new(sdk)),
            config,
            emit_metrics: true,
        }
    }
}

/// Translate one invocation: event in, report or classified error out.
pub async fn handle<R: Remediation, A: crate::aws::ClusterAccess>(
    remediation: &R,
    deps: &Deps<A>,
    event: LambdaEvent<serde_json::Value>,
) -> Result<Report, ResponderError> {
    let home = account_of_function_arn(&event.context.invoked_function_arn);
    let result = respond(remediation, deps, event.payload, home).await;
    if let Err(e) = &result {
        tracing::error!(function = R::FUNCTION, error_type = e.error_type(), error = %e, "event not handled");
    }
    result
}

/// Run the function under the Lambda runtime.
pub async fn serve<R: Remediation>(
    remediation: R,
    deps: Deps<AwsAccess>,
) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event| handle(&remediation, &deps, event))).await
}
