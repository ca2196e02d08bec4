//! Reliability properties of endpoint-access: duplicate and concurrent deliveries start at most
//! one update, the echo of its own stage-1 record never acts again, and every AWS call it makes
//! has an asserted result under throttling, 5xx, timeouts, AccessDenied and not-found.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::update_cluster_config::{
    UpdateClusterConfigError, UpdateClusterConfigOutput,
};
use aws_sdk_eks::types::error::ResourceInUseException;
use aws_sdk_eks::types::{ClusterStatus, Update, UpdateStatus};
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use endpoint_access::{EndpointAccessFix, Settings};
use shared::config::Mode;
use shared::pipeline::{ResponderError, respond};
use shared::report::{EffectStatus, Outcome, Report};
use shared::testing::{ClusterFixture, config, deps as mocked, deps_with, event};

fn fix() -> EndpointAccessFix {
    EndpointAccessFix::new(Settings::default())
}

/// A fake EKS control plane with the semantics that matter here: an accepted update makes the
/// cluster UPDATING; a second request with the same clientRequestToken returns the same update;
/// any other request while UPDATING is ResourceInUseException.
#[derive(Default)]
struct FakeEks {
    updating: bool,
    accepted_tokens: Vec<String>,
    updates_started: usize,
    refused: usize,
}

fn stateful_eks(state: Arc<Mutex<FakeEks>>) -> (aws_sdk_eks::Client, Vec<Rule>) {
    let s1 = state.clone();
    let describe = mock!(aws_sdk_eks::Client::describe_cluster).then_compute_output(move |_| {
        let mut fixture = ClusterFixture::new("payments-prod");
        if s1.lock().map(|s| s.updating).unwrap_or(false) {
            fixture.status = ClusterStatus::Updating;
        }
        DescribeClusterOutput::builder()
            .cluster(fixture.cluster())
            .build()
    });
    let s2 = state.clone();
    let update =
        mock!(aws_sdk_eks::Client::update_cluster_config).then_compute_response(move |req| {
            let mut s = s2.lock().expect("state");
            let token = req.client_request_token().unwrap_or_default().to_string();
            if s.accepted_tokens.contains(&token) {
                return MockResponse::Output(
                    UpdateClusterConfigOutput::builder()
                        .update(
                            Update::builder()
                                .id("upd-1")
                                .status(UpdateStatus::InProgress)
                                .build(),
                        )
                        .build(),
                );
            }
            if s.updating {
                s.refused += 1;
                return MockResponse::Error(UpdateClusterConfigError::ResourceInUseException(
                    ResourceInUseException::builder()
                        .message("The specified resource is in use")
                        .build(),
                ));
            }
            s.updating = true;
            s.updates_started += 1;
            s.accepted_tokens.push(token);
            MockResponse::Output(
                UpdateClusterConfigOutput::builder()
                    .update(
                        Update::builder()
                            .id("upd-1")
                            .status(UpdateStatus::InProgress)
                            .build(),
                    )
                    .build(),
            )
        });
    let describe_update = mock!(aws_sdk_eks::Client::describe_update).then_output(|| {
        DescribeUpdateOutput::builder()
            .update(
                Update::builder()
                    .id("upd-1")
                    .status(UpdateStatus::InProgress)
                    .build(),
            )
            .build()
    });
    let client = mock_client!(
        aws_sdk_eks,
        RuleMode::MatchAny,
        &[&describe, &update, &describe_update]
    );
    (client, vec![describe, update, describe_update])
}

#[tokio::test]
async fn the_same_event_twice_concurrently_starts_one_update_and_both_report() {
    let state = Arc::new(Mutex::new(FakeEks::default()));
    let (eks, _rules) = stateful_eks(state.clone());
    let (deps, _cap) = mocked(config(Mode::Apply), eks);
    let f = fix();
    let (a, b) = tokio::join!(
        respond(&f, &deps, event("eks-public-access.json"), None),
        respond(&f, &deps, event("eks-public-access.json"), None),
    );
    let (a, b) = (a.expect("report a"), b.expect("report b"));
    assert_eq!(state.lock().expect("state").updates_started, 1);
    for r in [&a, &b] {
        assert!(
            matches!(r.outcome, Outcome::Applied | Outcome::Deferred),
            "{:?}: {}",
            r.outcome,
            r.reason
        );
    }
}

#[tokio::test]
async fn a_redelivery_reuses_the_token_so_eks_returns_the_same_update() {
    // DescribeCluster is eventually consistent: the second delivery may still see ACTIVE.
    let state = Arc::new(Mutex::new(FakeEks::default()));
    let (eks, rules) = stateful_eks(state.clone());
    let (deps, cap) = mocked(config(Mode::Apply), eks);
    let first = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("first");
    state.lock().expect("state").updating = false; // the stale read
    let second = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("second");
    let s = state.lock().expect("state");
    assert_eq!(
        s.updates_started, 1,
        "the same token must not start a second update"
    );
    assert_eq!(s.accepted_tokens.len(), 1);
    assert_eq!(rules[1].num_calls(), 2);
    assert_eq!(
        (first.outcome, second.outcome),
        (Outcome::Applied, Outcome::Applied)
    );
    assert_eq!(first.update_id, second.update_id);
    assert_eq!(
        cap.published().len(),
        2,
        "every delivery produces its report and message"
    );
}

#[tokio::test]
async fn the_echo_of_a_stage_one_record_is_deferred_and_never_recorded_again() {
    // Stage 1 leaves the finding New (comment only): its echo arrives while EKS is updating.
    let state = Arc::new(Mutex::new(FakeEks::default()));
    let (eks, _rules) = stateful_eks(state.clone());
    let (deps, cap) = mocked(config(Mode::Apply), eks);
    let first = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("first");
    assert_eq!(first.outcome, Outcome::Applied);
    let echo = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("echo");
    assert_eq!(echo.outcome, Outcome::Deferred);
    assert_eq!(
        cap.recorded().len(),
        1,
        "a deferral writes nothing, so no further echo"
    );
    assert_eq!(state.lock().expect("state").updates_started, 1);
    // And the echo of a proposal (status In Progress) is skipped outright.
    let skipped = respond(&fix(), &deps, event("eks-in-progress-echo.json"), None)
        .await
        .expect("skip");
    assert_eq!(skipped.outcome, Outcome::Skipped);
    assert_eq!(cap.published().len(), 2);
}

// ---- the fault matrix ----

#[derive(Clone, Copy, Debug)]
enum Fault {
    ThrottleThenOk,
    ThrottleExhausted,
    ServerError,
    Timeout,
    AccessDenied,
    NotFound,
}

const FAULTS: [Fault; 6] = [
    Fault::ThrottleThenOk,
    Fault::ThrottleExhausted,
    Fault::ServerError,
    Fault::Timeout,
    Fault::AccessDenied,
    Fault::NotFound,
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Call {
    DescribeCluster,
    UpdateClusterConfig,
    DescribeUpdate,
    Publish,
    BatchUpdateFindingsV2,
}

/// What each cell must end in.
#[derive(Debug, PartialEq)]
enum Expect {
    Outcome(Outcome, &'static str),
    LambdaError,
    AppliedButNotified(EffectStatus),
    AppliedButRecorded(EffectStatus),
    AppliedUnverified,
}

fn expected(call: Call, fault: Fault) -> Expect {
    use Call::*;
    use Fault::*;
    match (call, fault) {
        (Publish, ThrottleThenOk) => Expect::AppliedButNotified(EffectStatus::Done),
        (Publish, _) => Expect::AppliedButNotified(EffectStatus::Failed),
        (BatchUpdateFindingsV2, ThrottleThenOk) => Expect::AppliedButRecorded(EffectStatus::Done),
        (BatchUpdateFindingsV2, _) => Expect::AppliedButRecorded(EffectStatus::Failed),
        (_, ThrottleThenOk) => Expect::Outcome(Outcome::Applied, "applied"),
        (_, ThrottleExhausted | ServerError | Timeout) => Expect::LambdaError,
        (DescribeCluster, AccessDenied) => Expect::Outcome(Outcome::Failed, "access_denied_failed"),
        (DescribeCluster, NotFound) => Expect::Outcome(Outcome::Skipped, "cluster_not_found"),
        (UpdateClusterConfig, AccessDenied) => {
            Expect::Outcome(Outcome::Failed, "access_denied_failed")
        }
        (UpdateClusterConfig, NotFound) => Expect::Outcome(Outcome::Failed, "not_found_failed"),
        (DescribeUpdate, AccessDenied | NotFound) => Expect::AppliedUnverified,
    }
}

fn http(status: u16, body: &str) -> aws_smithy_runtime_api::http::Response {
    let mut r = aws_smithy_runtime_api::http::Response::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(status).expect("status"),
        aws_smithy_types::body::SdkBody::from(body.to_string()),
    );
    r.headers_mut().insert("content-type", "application/json");
    r
}

/// The faulty response for a REST-JSON service (EKS, Security Hub).
fn json_fault(fault: Fault) -> (u16, String) {
    match fault {
        Fault::ThrottleThenOk | Fault::ThrottleExhausted => (
            429,
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into(),
        ),
        Fault::ServerError => (
            500,
            r#"{"__type":"ServerException","message":"internal"}"#.into(),
        ),
        Fault::AccessDenied => (
            403,
            r#"{"__type":"AccessDeniedException","message":"not authorized"}"#.into(),
        ),
        Fault::NotFound => (
            404,
            r#"{"__type":"ResourceNotFoundException","message":"No cluster found"}"#.into(),
        ),
        Fault::Timeout => (599, String::new()), // unused: timeouts hang a real socket
    }
}

/// The faulty response for SNS (AWS Query XML).
fn xml_fault(fault: Fault) -> (u16, String) {
    let (status, code) = match fault {
        Fault::ThrottleThenOk | Fault::ThrottleExhausted => (400, "Throttling"),
        Fault::ServerError => (500, "InternalError"),
        Fault::AccessDenied => (403, "AuthorizationError"),
        Fault::NotFound => (404, "NotFound"),
        Fault::Timeout => (599, "Unused"), // timeouts hang a real socket
    };
    (
        status,
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{code}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        ),
    )
}

/// A rule for `call` that answers with `fault` (then succeeds, for ThrottleThenOk).
macro_rules! faulty {
    ($op:expr, $fault:expr, $ok:expr, $render:expr) => {{
        let (status, body) = $render($fault);
        let seq = mock!($op).sequence();
        match $fault {
            Fault::ThrottleThenOk => seq
                .http_response(move || http(status, &body))
                .output($ok)
                .build(),
            _ => seq
                .http_response(move || http(status, &body))
                .times(10)
                .build(),
        }
    }};
}

fn update_ok() -> UpdateClusterConfigOutput {
    UpdateClusterConfigOutput::builder()
        .update(
            Update::builder()
                .id("upd-1")
                .status(UpdateStatus::InProgress)
                .build(),
        )
        .build()
}

fn describe_update_ok() -> DescribeUpdateOutput {
    DescribeUpdateOutput::builder()
        .update(
            Update::builder()
                .id("upd-1")
                .status(UpdateStatus::InProgress)
                .build(),
        )
        .build()
}

/// A loopback server that accepts connections and never answers: a real timeout.
async fn silent_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock); // keep it open, say nothing
        }
    });
    format!("http://{addr}")
}

fn fast_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_millis(200))
        .operation_timeout(Duration::from_millis(700))
        .build()
}

fn retry() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
}

fn ok_eks_rules() -> [Rule; 3] {
    [
        ClusterFixture::new("payments-prod").describe_rule(),
        mock!(aws_sdk_eks::Client::update_cluster_config).then_output(update_ok),
        mock!(aws_sdk_eks::Client::describe_update).then_output(describe_update_ok),
    ]
}

async fn run_cell(call: Call, fault: Fault) -> Result<Report, ResponderError> {
    let cluster = ClusterFixture::new("payments-prod").cluster();
    let describe_ok = move || {
        DescribeClusterOutput::builder()
            .cluster(cluster.clone())
            .build()
    };
    let silent = silent_endpoint().await;
    let eks_rule = match call {
        Call::DescribeCluster => Some(faulty!(
            aws_sdk_eks::Client::describe_cluster,
            fault,
            describe_ok,
            json_fault
        )),
        Call::UpdateClusterConfig => Some(faulty!(
            aws_sdk_eks::Client::update_cluster_config,
            fault,
            update_ok,
            json_fault
        )),
        Call::DescribeUpdate => Some(faulty!(
            aws_sdk_eks::Client::describe_update,
            fault,
            describe_update_ok,
            json_fault
        )),
        _ => None,
    };
    let [d, u, du] = ok_eks_rules();
    let rules: Vec<&Rule> = match (call, &eks_rule) {
        (Call::DescribeCluster, Some(r)) => vec![r, &u, &du],
        (Call::UpdateClusterConfig, Some(r)) => vec![&d, r, &du],
        (Call::DescribeUpdate, Some(r)) => vec![&d, &u, r],
        _ => vec![&d, &u, &du],
    };
    let timeout_here = matches!(fault, Fault::Timeout);
    let eks_silent = timeout_here
        && matches!(
            call,
            Call::DescribeCluster | Call::UpdateClusterConfig | Call::DescribeUpdate
        );
    let eks = if eks_silent {
        timeout_eks(call, &silent).await
    } else {
        mock_client!(aws_sdk_eks, RuleMode::MatchAny, &rules, |b| b
            .retry_config(retry()))
    };
    let publish_ok = || {
        aws_sdk_sns::operation::publish::PublishOutput::builder()
            .message_id("m")
            .build()
    };
    let sns = if call == Call::Publish && timeout_here {
        silent_client_sns(&silent)
    } else if call == Call::Publish {
        let r = faulty!(aws_sdk_sns::Client::publish, fault, publish_ok, xml_fault);
        mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&r], |b| b
            .retry_config(retry()))
    } else {
        let r = mock!(aws_sdk_sns::Client::publish).then_output(publish_ok);
        mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&r])
    };
    let record_ok = || {
        aws_sdk_securityhub::operation::batch_update_findings_v2::BatchUpdateFindingsV2Output::builder().build()
    };
    let securityhub = if call == Call::BatchUpdateFindingsV2 && timeout_here {
        silent_client_securityhub(&silent)
    } else if call == Call::BatchUpdateFindingsV2 {
        let r = faulty!(
            aws_sdk_securityhub::Client::batch_update_findings_v2,
            fault,
            record_ok,
            json_fault
        );
        mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, &[&r], |b| b
            .retry_config(retry()))
    } else {
        let r = mock!(aws_sdk_securityhub::Client::batch_update_findings_v2).then_output(record_ok);
        mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, &[&r])
    };
    let deps = deps_with(config(Mode::Apply), eks, sns, securityhub);
    respond(&fix(), &deps, event("eks-public-access.json"), None).await
}

/// An EKS client whose `call` hangs on a silent endpoint while earlier calls are answered by a
/// tiny loopback server: a real transport timeout for exactly that call.
async fn timeout_eks(call: Call, _silent: &str) -> aws_sdk_eks::Client {
    let hang_on: &'static str = match call {
        Call::DescribeCluster => "GET /clusters/payments-prod ",
        Call::UpdateClusterConfig => "POST /clusters/payments-prod/update-config",
        _ => "GET /clusters/payments-prod/updates/",
    };
    let url = scripted_eks(hang_on).await;
    let conf = aws_sdk_eks::Config::builder()
        .behavior_version(shared::aws::behavior_version())
        .region(aws_sdk_eks::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_eks::config::Credentials::for_tests())
        .endpoint_url(url)
        .timeout_config(fast_timeouts())
        .retry_config(retry())
        .build();
    aws_sdk_eks::Client::from_conf(conf)
}

/// Answers DescribeCluster / UpdateClusterConfig / DescribeUpdate like EKS, except requests whose
/// request line starts with `hang_on`, which get no answer at all.
async fn scripted_eks(hang_on: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let cluster = r#"{"cluster":{"name":"payments-prod","arn":"arn:aws:eks:us-east-1:444455556666:cluster/payments-prod","status":"ACTIVE","version":"1.31","resourcesVpcConfig":{"endpointPublicAccess":true,"endpointPrivateAccess":false,"publicAccessCidrs":["0.0.0.0/0"]}}}"#;
    let update = r#"{"update":{"id":"upd-1","status":"InProgress","type":"EndpointAccessUpdate"}}"#;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            if head.starts_with(hang_on) {
                held.push(sock);
                continue;
            }
            let body = if head.starts_with("GET /clusters/payments-prod ") {
                cluster
            } else {
                update
            };
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            held.push(sock);
        }
    });
    format!("http://{addr}")
}

fn silent_client_sns(url: &str) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::Config::builder()
            .behavior_version(shared::aws::behavior_version())
            .region(aws_sdk_sns::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sns::config::Credentials::for_tests())
            .endpoint_url(url)
            .timeout_config(fast_timeouts())
            .retry_config(retry())
            .build(),
    )
}

fn silent_client_securityhub(url: &str) -> aws_sdk_securityhub::Client {
    aws_sdk_securityhub::Client::from_conf(
        aws_sdk_securityhub::Config::builder()
            .behavior_version(shared::aws::behavior_version())
            .region(aws_sdk_securityhub::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_securityhub::config::Credentials::for_tests())
            .endpoint_url(url)
            .timeout_config(fast_timeouts())
            .retry_config(retry())
            .build(),
    )
}

#[tokio::test]
async fn every_call_under_every_fault_ends_as_specified() {
    let calls = [
        Call::DescribeCluster,
        Call::UpdateClusterConfig,
        Call::DescribeUpdate,
        Call::Publish,
        Call::BatchUpdateFindingsV2,
    ];
    let mut cells = 0;
    for call in calls {
        for fault in FAULTS {
            let want = expected(call, fault);
            let started = std::time::Instant::now();
            let got = tokio::time::timeout(Duration::from_secs(20), run_cell(call, fault))
                .await
                .unwrap_or_else(|_| panic!("{call:?} × {fault:?} hung"));
            assert!(started.elapsed() < Duration::from_secs(20));
            let ctx = format!("{call:?} × {fault:?}");
            match (&want, got) {
                (Expect::LambdaError, Err(e)) => {
                    assert_eq!(e.error_type(), "AwsTransientError", "{ctx}");
                    if matches!(fault, Fault::Timeout) {
                        assert!(e.to_string().contains("timed out"), "{ctx}: {e}");
                    }
                }
                (Expect::LambdaError, Ok(r)) => panic!(
                    "{ctx}: expected a retryable error, got {:?} {}",
                    r.outcome, r.reason
                ),
                (_, Err(e)) => panic!("{ctx}: unexpected error {e}"),
                (Expect::Outcome(o, code), Ok(r)) => {
                    assert_eq!(
                        (r.outcome, r.reason_code.as_str()),
                        (*o, *code),
                        "{ctx}: {}",
                        r.reason
                    )
                }
                (Expect::AppliedButNotified(s), Ok(r)) => {
                    assert_eq!(r.outcome, Outcome::Applied, "{ctx}");
                    let n = r.notification.as_ref().expect("notification");
                    assert_eq!(n.status, *s, "{ctx}: {}", n.detail);
                    if matches!(fault, Fault::Timeout) {
                        assert!(n.detail.contains("timed out"), "{ctx}: {}", n.detail);
                    }
                }
                (Expect::AppliedButRecorded(s), Ok(r)) => {
                    assert_eq!(r.outcome, Outcome::Applied, "{ctx}");
                    assert_eq!(
                        r.finding_update.status, *s,
                        "{ctx}: {}",
                        r.finding_update.detail
                    );
                    if matches!(fault, Fault::Timeout) {
                        assert!(r.finding_update.detail.contains("timed out"), "{ctx}");
                    }
                }
                (Expect::AppliedUnverified, Ok(r)) => {
                    assert_eq!(r.outcome, Outcome::Applied, "{ctx}");
                    assert!(
                        r.verification
                            .as_deref()
                            .is_some_and(|v| v.contains("could not be read back")),
                        "{ctx}: {:?}",
                        r.verification
                    );
                }
            }
            cells += 1;
        }
    }
    assert_eq!(cells, 30);
}
