use decision_digest::{LedgerHistory, Settings, Window, run, window_end_ms};
use lambda_runtime::{LambdaEvent, service_fn};
use shared::config::ProcessEnv;
use shared::output::notify::SnsNotifier;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::output::telemetry::init();
    let settings = Settings::from_env(&ProcessEnv)?;
    let sdk = shared::aws::load_sdk_config().await;
    let history = LedgerHistory::new(aws_sdk_dynamodb::Client::new(&sdk), settings.table.clone());
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&sdk), settings.topic_arn.clone())
        .with_chat_topic(settings.chat_topic_arn.clone());
    let period = settings.period_minutes;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let (history, notifier) = (&history, &notifier);
        async move {
            let now_ms = shared::ledger::system_clock();
            let window = Window::ending_at(window_end_ms(&event.payload, now_ms)?, period);
            let result = run(history, notifier, window).await;
            if let Err(e) = &result {
                tracing::error!(error = %e, "digest not sent");
            }
            result
        }
    }))
    .await
}
