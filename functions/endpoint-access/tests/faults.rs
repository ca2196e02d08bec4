//! Reliability properties of endpoint-access: duplicate and concurrent deliveries start at most
//! one update, the echo of its own stage-1 record never acts again, and every AWS call it makes
//! has an asserted result under throttling, 5xx, timeouts, AccessDenied and not-found.

use std::sync::{Arc, Mutex};

use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::update_cluster_config::{
    UpdateClusterConfigError, UpdateClusterConfigOutput,
};
use aws_sdk_eks::types::error::ResourceInUseException;
use aws_sdk_eks::types::{ClusterStatus, Update, UpdateStatus, UpdateType};
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use endpoint_access::{EndpointAccess, Settings};
use shared::config::Mode;
use shared::faulty_rule;
use shared::output::report::{EffectStatus, Outcome, Report};
use shared::pipeline::{ResponderError, respond};
use shared::testing::{
    ClusterFixture, Fault, assert_effects, config, describe_cluster_route, describe_update_route,
    event, every_cell, fast_retry, json_fault, mocked_deps, mocked_deps_with, recorder_for_cell,
    sns_for_cell, update_json,
};

fn fix() -> EndpointAccess {
    EndpointAccess::new(Settings {
        stage_soak_minutes: 0,
        ..Settings::default()
    })
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
    let (deps, _cap) = mocked_deps(config(Mode::Apply), eks);
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
    let (deps, cap) = mocked_deps(config(Mode::Apply), eks);
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
    let (deps, cap) = mocked_deps(config(Mode::Apply), eks);
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
        // An update EKS accepted ends `applied` whatever DescribeUpdate does: unverified, with
        // the update id, never a retried error (the retry would see UPDATING and say deferred).
        (DescribeUpdate, _) => Expect::AppliedUnverified,
        (_, ThrottleExhausted | ServerError | Timeout) => Expect::LambdaError,
        (DescribeCluster, AccessDenied) => Expect::Outcome(Outcome::Failed, "access_denied_failed"),
        (DescribeCluster, NotFound) => Expect::Outcome(Outcome::Skipped, "cluster_not_found"),
        (UpdateClusterConfig, AccessDenied) => {
            Expect::Outcome(Outcome::Failed, "access_denied_failed")
        }
        (UpdateClusterConfig, NotFound) => Expect::Outcome(Outcome::Failed, "not_found_failed"),
    }
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

fn ok_eks_rules() -> [Rule; 3] {
    [
        ClusterFixture::new("payments-prod").describe_rule(),
        mock!(aws_sdk_eks::Client::update_cluster_config).then_output(update_ok),
        mock!(aws_sdk_eks::Client::describe_update).then_output(describe_update_ok),
    ]
}

/// EKS answered by a loopback server, hanging on exactly `call`: a real timeout for that call.
async fn eks_timing_out_on(call: Call) -> aws_sdk_eks::Client {
    let cluster = ClusterFixture::new("payments-prod");
    let update_config = "POST /clusters/payments-prod/update-config";
    let update = update_json("upd-1", UpdateType::EndpointAccessUpdate);
    let hang_on = match call {
        Call::DescribeCluster => describe_cluster_route(&cluster.name),
        Call::UpdateClusterConfig => update_config.to_string(),
        _ => describe_update_route(&cluster.name),
    };
    let routes = vec![(update_config.to_string(), update.clone())];
    shared::testing::eks_timing_out_on(&cluster, &update, routes, &hang_on).await
}

async fn run_cell(call: Call, fault: Fault) -> Result<Report, ResponderError> {
    let cluster = ClusterFixture::new("payments-prod").cluster();
    let describe_ok = move || {
        DescribeClusterOutput::builder()
            .cluster(cluster.clone())
            .build()
    };
    let timeout = fault == Fault::Timeout;
    let [d, u, du] = ok_eks_rules();
    let eks = match call {
        Call::DescribeCluster | Call::UpdateClusterConfig | Call::DescribeUpdate if timeout => {
            eks_timing_out_on(call).await
        }
        Call::DescribeCluster => {
            let r = faulty_rule!(
                aws_sdk_eks::Client::describe_cluster,
                fault,
                describe_ok,
                json_fault
            );
            mock_client!(aws_sdk_eks, RuleMode::MatchAny, &[&r, &u, &du], |b| b
                .retry_config(fast_retry()))
        }
        Call::UpdateClusterConfig => {
            let r = faulty_rule!(
                aws_sdk_eks::Client::update_cluster_config,
                fault,
                update_ok,
                json_fault
            );
            mock_client!(aws_sdk_eks, RuleMode::MatchAny, &[&d, &r, &du], |b| b
                .retry_config(fast_retry()))
        }
        Call::DescribeUpdate => {
            let r = faulty_rule!(
                aws_sdk_eks::Client::describe_update,
                fault,
                describe_update_ok,
                json_fault
            );
            mock_client!(aws_sdk_eks, RuleMode::MatchAny, &[&d, &u, &r], |b| b
                .retry_config(fast_retry()))
        }
        _ => mock_client!(aws_sdk_eks, RuleMode::MatchAny, &[&d, &u, &du]),
    };
    let (sns, _) = sns_for_cell(call == Call::Publish, fault).await;
    let (securityhub, _) = recorder_for_cell(call == Call::BatchUpdateFindingsV2, fault).await;
    let deps = mocked_deps_with(config(Mode::Apply), eks, sns, securityhub);
    respond(&fix(), &deps, event("eks-public-access.json"), None).await
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
    let cells = every_cell(&calls, run_cell, |call, fault, ctx, got| {
        let want = expected(call, fault);
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
                assert_effects(&r, *s, EffectStatus::Done, fault, ctx);
            }
            (Expect::AppliedButRecorded(s), Ok(r)) => {
                assert_eq!(r.outcome, Outcome::Applied, "{ctx}");
                assert_effects(&r, EffectStatus::Done, *s, fault, ctx);
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
    })
    .await;
    assert_eq!(cells, 30);
}
