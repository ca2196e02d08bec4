use std::time::Duration;

use aws_sdk_securityhub::config::timeout::TimeoutConfig;
use container_vulnerabilities::{ContainerVulnerabilities, Settings};
use shared::pipeline::Remediation;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::output::telemetry::init();
    let config = shared::CommonConfig::from_env(&shared::config::ProcessEnv)?;
    let settings = Settings::from_env(&shared::config::ProcessEnv)?;
    let sdk = shared::aws::load_sdk_config().await;
    // Enrichment reads the contributing findings where the exposure was aggregated: the
    // function's own (home) Region. Each call is bounded tighter than the shared default, so a
    // slow Security Hub degrades the message instead of timing the function out.
    let securityhub = aws_sdk_securityhub::Client::from_conf(
        shared::aws::securityhub_config(&sdk)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .operation_timeout(Duration::from_secs(20))
                    .build(),
            )
            .build(),
    );
    let deps = shared::Deps::from_sdk(&sdk, config, ContainerVulnerabilities::FUNCTION);
    shared::lambda::serve(ContainerVulnerabilities::new(settings, securityhub), deps).await
}
