use kubernetes_version::KubernetesVersion;
use shared::Remediation;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::output::telemetry::init();
    let config = shared::CommonConfig::from_env(&shared::config::ProcessEnv)?;
    let sdk = shared::aws::load_sdk_config().await;
    let deps = shared::Deps::from_sdk(&sdk, config, KubernetesVersion::FUNCTION);
    shared::lambda::serve(KubernetesVersion::new(), deps).await
}
