use secrets_encryption::{SecretsEncryption, Settings};
use shared::config::ProcessEnv;
use shared::pipeline::Remediation;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::output::telemetry::init();
    let config = shared::CommonConfig::from_env(&ProcessEnv)?;
    let settings = Settings::from_env(&ProcessEnv)?;
    let sdk = shared::aws::load_sdk_config().await;
    let deps = shared::Deps::from_sdk(&sdk, config, SecretsEncryption::FUNCTION);
    shared::lambda::serve(SecretsEncryption::new(settings), deps).await
}
