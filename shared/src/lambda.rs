//! The Lambda glue every `main.rs` calls: build the shared dependencies once, then serve.

use lambda_runtime::{LambdaEvent, service_fn};

use crate::aws::{AwsAccess, account_of_function_arn};
use crate::config::CommonConfig;
use crate::output::notify::SnsNotifier;
use crate::output::report::Report;
use crate::pipeline::{Deps, Remediation, ResponderError, respond};

impl Deps<AwsAccess> {
    /// Production dependencies from one `SdkConfig`.
    pub fn from_sdk(sdk: &aws_config::SdkConfig, config: CommonConfig, function: &str) -> Self {
        let ledger = match &config.ledger {
            Some(settings) => Some(crate::ledger::Ledger {
                store: crate::ledger::DynamoLedger::new(
                    aws_sdk_dynamodb::Client::new(sdk),
                    settings.table.clone(),
                ),
                settings: settings.clone(),
                clock: crate::ledger::system_clock,
            }),
            None => {
                tracing::warn!(
                    function,
                    "LEDGER_TABLE is not set: no decision ledger, so repeated deliveries are not deduplicated and no apply limit or circuit breaker applies"
                );
                None
            }
        };
        Deps {
            ledger,
            access: AwsAccess::new(sdk.clone(), config.member_role_name.clone(), function),
            notifier: SnsNotifier::new(aws_sdk_sns::Client::new(sdk), config.sns_topic_arn.clone())
                .with_chat_topic(config.chat_topic_arn.clone()),
            recorder: crate::output::record::FindingRecorder::new(crate::aws::securityhub_client(
                sdk,
            )),
            config,
            emit_metrics: true,
        }
    }
}

/// What the runtime hands the handler: the event's JSON text, checked for well-formedness but
/// not parsed. `respond` parses it in one place, `IncomingEvent::parse`, into `aws_lambda_events`'
/// EventBridge envelope (the detail still text, so an invalid event's field is named by its
/// path), and the gate parses the detail once into the finding model.
pub type Payload = Box<serde_json::value::RawValue>;

/// Translate one invocation: event in, report or classified error out.
pub async fn handle<R: Remediation, A: crate::aws::ClusterAccess>(
    remediation: &R,
    deps: &Deps<A>,
    event: LambdaEvent<Payload>,
) -> Result<Report, ResponderError> {
    let home = account_of_function_arn(&event.context.invoked_function_arn);
    // Boxed: the whole decision is one deep future; on the heap it keeps every function's `main`
    // future within the compiler's layout depth (one allocation per event).
    let respond = Box::pin(respond(remediation, deps, event.payload, home));
    let result = match deadline_of(&event.context) {
        Some(deadline) => crate::pipeline::with_deadline(deadline, respond).await,
        None => respond.await,
    };
    if let Err(e) = &result {
        tracing::error!(function = R::FUNCTION, error_type = e.error_type(), error = %e, "event not handled");
    }
    result
}

/// The invocation's deadline (epoch milliseconds in the context) as an `Instant`.
fn deadline_of(context: &lambda_runtime::Context) -> Option<std::time::Instant> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    // No deadline given, or one already past when the event arrives: a local runner's
    // placeholder (`cargo lambda watch` sends 600000, ten minutes after the epoch).
    if u128::from(context.deadline) <= now_ms {
        return None;
    }
    let left = u128::from(context.deadline).saturating_sub(now_ms);
    std::time::Instant::now()
        .checked_add(std::time::Duration::from_millis(u64::try_from(left).ok()?))
}

/// Run the function under the Lambda runtime.
pub async fn serve<R: Remediation>(
    remediation: R,
    deps: Deps<AwsAccess>,
) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event| dispatch(&remediation, &deps, event))).await
}

/// One invocation by its shape: a function URL request (an approval, see `crate::approval`) or
/// an EventBridge event.
pub async fn dispatch<R: Remediation, A: crate::aws::ClusterAccess>(
    remediation: &R,
    deps: &Deps<A>,
    event: LambdaEvent<Payload>,
) -> Result<crate::approval::url::Response, ResponderError> {
    use crate::approval::url::{Response, answer, is_url_request};
    if !is_url_request(event.payload.get()) {
        return handle(remediation, deps, event)
            .await
            .map(|r| Response::Report(Box::new(r)));
    }
    let home = account_of_function_arn(&event.context.invoked_function_arn);
    let answer = Box::pin(answer(remediation, deps, event.payload.get(), home));
    Ok(Response::Url(match deadline_of(&event.context) {
        Some(deadline) => crate::pipeline::with_deadline(deadline, answer).await,
        None => answer.await,
    }))
}

#[cfg(test)]
mod tests {
    use super::Payload;
    use crate::event::gate::{IncomingEvent, InvalidFinding, findings_of};

    /// What `lambda_runtime` 1.x does with the request body (its `deserializer::deserialize`,
    /// which is crate-private): serde_path_to_error over a slice deserializer.
    fn as_the_runtime_does(body: &[u8]) -> Payload {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).expect("the runtime accepts well-formed JSON")
    }

    #[test]
    fn the_runtime_payload_is_the_event_text_and_parses_like_a_value() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/eks-multi-trait.json"
        ))
        .expect("sample event");
        let payload = as_the_runtime_does(&body);
        let value: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        let from_raw = payload.parse().expect("the sample parses");
        let from_value = value.parse().expect("the sample parses");
        assert_eq!(
            serde_json::to_value(&from_raw).expect("serialize"),
            serde_json::to_value(&from_value).expect("serialize")
        );
        assert_eq!(from_raw.account.as_deref(), Some("444455556666"));
        let detail = findings_of(&from_raw).expect("the detail parses");
        assert_eq!(
            detail.findings[0]
                .finding_info
                .as_ref()
                .map(|i| i.related_events.len()),
            Some(5)
        );
    }

    #[test]
    fn an_invalid_event_from_the_runtime_still_names_its_field() {
        let body = br#"{"version":"0","id":"x","detail-type":"Findings Imported V2","source":"aws.securityhub","account":"444455556666","time":"2025-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{"findings":[{"finding_info":{"related_events":[{"traits":"not-a-list"}]}}]}}"#;
        let event = as_the_runtime_does(body)
            .parse()
            .expect("the envelope is well formed");
        let err = findings_of(&event).expect_err("traits must be a list");
        match err {
            InvalidFinding::Malformed { path, .. } => {
                assert_eq!(
                    path,
                    "$.detail.findings[0].finding_info.related_events[0].traits"
                )
            }
            other => panic!("expected a malformed-event error, got {other:?}"),
        }
    }

    fn context_with_deadline(deadline: u64) -> lambda_runtime::Context {
        let mut context = lambda_runtime::Context::default();
        context.deadline = deadline;
        context
    }

    #[test]
    fn a_deadline_already_past_on_arrival_is_no_deadline() {
        // What `cargo lambda watch` sends: 600000 ms after the epoch.
        assert!(super::deadline_of(&context_with_deadline(600_000)).is_none());
        assert!(super::deadline_of(&context_with_deadline(0)).is_none());
    }

    #[test]
    fn a_future_deadline_leaves_the_time_until_it() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after the epoch")
            .as_millis();
        let in_ten_minutes = u64::try_from(now_ms + 600_000).expect("fits");
        let deadline = super::deadline_of(&context_with_deadline(in_ten_minutes))
            .expect("a future deadline is kept");
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(
            left > std::time::Duration::from_secs(60)
                && left <= std::time::Duration::from_secs(600)
        );
    }
}
