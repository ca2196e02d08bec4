use std::collections::HashMap;

use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::list_updates::ListUpdatesOutput;
use aws_sdk_eks::operation::update_cluster_config::{
    UpdateClusterConfigError, UpdateClusterConfigOutput,
};
use aws_sdk_eks::types::error::{ResourceInUseException, ServerException};
use aws_sdk_eks::types::{
    ClusterStatus, Update, UpdateParam, UpdateParamType, UpdateStatus, UpdateType,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;
use shared::aws::eks::ClusterState;
use shared::config::Mode;
use shared::output::report::{EffectStatus, Outcome, Stage};
use shared::pipeline::respond;
use shared::testing::{
    ClusterFixture, config, describe_update_rule, eks_client, event, mocked_deps, mocked_deps_with,
};

use endpoint_access::*;

fn fix() -> EndpointAccess {
    EndpointAccess::new(Settings {
        stage_soak_minutes: 0,
        ..Settings::default()
    })
}

fn with_allowlist(cidrs: &[&str]) -> EndpointAccess {
    EndpointAccess::new(Settings {
        allowed_public_cidrs: cidrs
            .iter()
            .map(|c| Cidr::parse(c).expect("cidr"))
            .collect(),
        stage_soak_minutes: 0,
    })
}

/// The default soak of a day, as deployed.
fn with_soak() -> EndpointAccess {
    EndpointAccess::new(Settings::default())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// ListUpdates naming `updates`, and DescribeUpdate answering each as a successful endpoint
/// access update created `age_minutes` ago that set private access as given.
fn history(updates: &'static [(&'static str, i64, bool)]) -> (Rule, Rule) {
    let list = mock!(aws_sdk_eks::Client::list_updates).then_output(move || {
        ListUpdatesOutput::builder()
            .set_update_ids(Some(updates.iter().map(|u| u.0.to_string()).collect()))
            .build()
    });
    let created = now();
    let describe = mock!(aws_sdk_eks::Client::describe_update)
        .match_requests(move |req| updates.iter().any(|u| Some(u.0) == req.update_id()))
        .then_compute_output(move |req| {
            let (id, age_minutes, private) = updates
                .iter()
                .find(|u| Some(u.0) == req.update_id())
                .copied()
                .expect("a listed update");
            DescribeUpdateOutput::builder()
                .update(
                    Update::builder()
                        .id(id)
                        .status(UpdateStatus::Successful)
                        .r#type(UpdateType::EndpointAccessUpdate)
                        .params(
                            UpdateParam::builder()
                                .r#type(UpdateParamType::EndpointPrivateAccess)
                                .value(private.to_string())
                                .build(),
                        )
                        .created_at(DateTime::from_secs(created - age_minutes * 60))
                        .build(),
                )
                .build()
        });
    (list, describe)
}

fn state(public: bool, private: bool, cidrs: &[&str]) -> ClusterState {
    ClusterState {
        status: "ACTIVE".into(),
        endpoint_public_access: public,
        endpoint_private_access: private,
        public_access_cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
        ..ClusterState::default()
    }
}

fn update_rule(id: &'static str) -> Rule {
    mock!(aws_sdk_eks::Client::update_cluster_config).then_output(move || {
        UpdateClusterConfigOutput::builder()
            .update(
                Update::builder()
                    .id(id)
                    .status(UpdateStatus::InProgress)
                    .r#type(UpdateType::EndpointAccessUpdate)
                    .build(),
            )
            .build()
    })
}

// ---- the pure decision ----

#[test]
fn public_off_is_compliant() {
    assert!(matches!(
        plan_endpoint(&state(false, true, &["0.0.0.0/0"]), &[]),
        EndpointPlan::Compliant(_)
    ));
}

#[test]
fn private_off_gives_stage_one_that_keeps_public_on() {
    let EndpointPlan::Change { desired, stage, .. } = plan_endpoint(&state(true, false, &[]), &[])
    else {
        panic!("expected a change");
    };
    assert!(
        desired.public,
        "lock-out guard: public stays on while private is off"
    );
    assert!(desired.private);
    assert_eq!(stage, Some(Stage { number: 1, of: 2 }));
}

#[test]
fn private_on_gives_stage_two_that_turns_public_off() {
    let EndpointPlan::Change { desired, stage, .. } = plan_endpoint(&state(true, true, &[]), &[])
    else {
        panic!("expected a change");
    };
    assert!(!desired.public);
    assert!(desired.private);
    assert_eq!(stage, Some(Stage { number: 2, of: 2 }));
}

#[test]
fn allowlist_rules() {
    let allow = [Cidr::parse("203.0.113.0/24").expect("cidr")];
    // Within the allowlist: compliant.
    assert!(matches!(
        plan_endpoint(&state(true, false, &["203.0.113.128/25"]), &allow),
        EndpointPlan::Compliant(_)
    ));
    // Empty CIDRs mean 0.0.0.0/0: not compliant; restrict and enable private access, one step.
    let EndpointPlan::Change { desired, stage, .. } =
        plan_endpoint(&state(true, false, &[]), &allow)
    else {
        panic!("expected a change");
    };
    assert_eq!(
        desired,
        EndpointConfig {
            public: true,
            private: true,
            public_cidrs: Some(vec!["203.0.113.0/24".into()])
        }
    );
    assert_eq!(stage, None);
    // Partly outside the allowlist: not compliant.
    assert!(matches!(
        plan_endpoint(
            &state(true, true, &["203.0.113.0/24", "198.51.100.0/24"]),
            &allow
        ),
        EndpointPlan::Change { .. }
    ));
}

#[test]
fn settings_validate_every_cidr() {
    let env = |v: &str| HashMap::from([("ALLOWED_PUBLIC_CIDRS".to_string(), v.to_string())]);
    let s = Settings::from_env(&env("203.0.113.0/24, 2001:db8::/32")).expect("valid");
    assert_eq!(s.allowed_public_cidrs.len(), 2);
    for bad in ["203.0.113.0", "0.0.0.0/0", "::/0", "10.0.0.1/8"] {
        let e = Settings::from_env(&env(bad)).expect_err(bad);
        assert_eq!(e.variable, "ALLOWED_PUBLIC_CIDRS");
    }
    assert_eq!(Settings::from_env(&HashMap::new()), Ok(Settings::default()));
}

// ---- through the pipeline, AWS mocked ----

#[tokio::test]
async fn propose_mode_proposes_stage_one_and_records_it() {
    let cluster = ClusterFixture::new("payments-prod");
    let no_update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_config,
        UpdateClusterConfigOutput
    );
    let eks = eks_client(&[&cluster.describe_rule(), &no_update]);
    let (deps, cap) = mocked_deps(config(Mode::Propose), eks);
    let report = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");

    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(report.reason_code, "mode_propose");
    assert_eq!(report.stage, Some(Stage { number: 1, of: 2 }));
    assert_eq!(report.plan.len(), 1);
    assert_eq!(report.plan[0].api_call, "eks:UpdateClusterConfig");
    assert_eq!(
        report.plan[0].parameters["resourcesVpcConfig"]["endpointPublicAccess"],
        true
    );
    assert_eq!(
        report.plan[0].parameters["resourcesVpcConfig"]["endpointPrivateAccess"],
        true
    );
    assert!(report.plan[0].cli.starts_with("aws eks update-cluster-config --region us-east-1 --name payments-prod --resources-vpc-config '{"));
    let revert = report.revert.as_ref().expect("revert");
    assert_eq!(revert.previous["endpointPrivateAccess"], false);
    assert_eq!(revert.previous["publicAccessCidrs"][0], "0.0.0.0/0");

    let published = cap.published();
    assert_eq!(published.len(), 1);
    let msg = &published[0];
    assert_eq!(
        msg.subject(),
        Some("[PROPOSED] payments-prod 444455556666/us-east-1: public API endpoint")
    );
    assert_eq!(msg.message_structure(), Some("json"));
    let attrs = msg.message_attributes().expect("attributes");
    for (k, v) in [
        ("function", "endpoint-access"),
        ("trait", "public_endpoint"),
        ("outcome", "proposed"),
        ("severity", "Medium"),
        ("account", "444455556666"),
        ("cluster", "payments-prod"),
        ("mode", "propose"),
    ] {
        assert_eq!(
            attrs.get(k).and_then(|a| a.string_value()),
            Some(v),
            "attribute {k}"
        );
    }
    let email = cap.email();
    assert!(
        email.contains("Decision: proposed — stage 1 of 2: enable private endpoint access"),
        "{email}"
    );
    assert!(
        email.contains("public endpoint: ON, reachable from 0.0.0.0/0"),
        "{email}"
    );
    assert!(
        email.contains("aws eks update-cluster-config --region us-east-1 --name payments-prod"),
        "{email}"
    );
    assert!(email.contains("How to revert:"), "{email}");
    assert!(email.contains("\"endpointPrivateAccess\":false"), "{email}");
    assert_eq!(cap.json()["outcome"], "proposed");

    let recorded = cap.recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].metadata_uids(),
        ["c3b36eee5ddd49903dd93f175abe24db672f75e185165f6ed293515b200e451a"]
    );
    assert_eq!(recorded[0].status_id(), Some(2));
    let comment = recorded[0].comment().unwrap_or_default();
    assert!(
        comment.starts_with("eks-exposure-responder/endpoint-access: proposed (stage 1 of 2)"),
        "{comment}"
    );
    assert!(comment.chars().count() <= 512);
}

#[tokio::test]
async fn apply_stage_one_enables_private_access_and_keeps_the_finding_new() {
    let cluster = ClusterFixture::new("payments-prod");
    let update = mock!(aws_sdk_eks::Client::update_cluster_config)
        .match_requests(|r| {
            let v = r.resources_vpc_config().expect("vpc config");
            v.endpoint_public_access() == Some(true)
                && v.endpoint_private_access() == Some(true)
                && v.public_access_cidrs().is_empty()
                && r.client_request_token()
                    .is_some_and(|t| t.starts_with("eer-"))
        })
        .then_output(|| {
            UpdateClusterConfigOutput::builder()
                .update(
                    Update::builder()
                        .id("upd-1")
                        .status(UpdateStatus::InProgress)
                        .build(),
                )
                .build()
        });
    let eks = eks_client(&[
        &cluster.describe_rule(),
        &update,
        &describe_update_rule("upd-1", UpdateType::EndpointAccessUpdate),
    ]);
    let (deps, cap) = mocked_deps(config(Mode::Apply), eks);
    let report = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");

    assert_eq!(report.outcome, Outcome::Applied, "{}", report.reason);
    assert_eq!(update.num_calls(), 1);
    assert_eq!(report.update_id.as_deref(), Some("upd-1"));
    assert!(
        report
            .verification
            .as_deref()
            .is_some_and(|v| v.contains("update upd-1 as InProgress"))
    );
    assert_eq!(report.stage, Some(Stage { number: 1, of: 2 }));
    assert_eq!(report.follow_ups.len(), 1, "stage 2 is announced");
    // Stage 1 keeps the finding New so the next evaluation can take stage 2.
    let recorded = cap.recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status_id(), None);
    assert!(
        recorded[0]
            .comment()
            .is_some_and(|c| c.contains("applied (stage 1 of 2), EKS update upd-1"))
    );
    assert!(
        cap.published()[0]
            .subject()
            .is_some_and(|s| s.starts_with("[APPLIED] payments-prod"))
    );
}

#[tokio::test]
async fn apply_stage_two_turns_public_access_off() {
    let mut cluster = ClusterFixture::new("payments-prod");
    cluster.private = true;
    let update = mock!(aws_sdk_eks::Client::update_cluster_config)
        .match_requests(|r| {
            let v = r.resources_vpc_config().expect("vpc config");
            v.endpoint_public_access() == Some(false) && v.endpoint_private_access() == Some(true)
        })
        .then_output(|| {
            UpdateClusterConfigOutput::builder()
                .update(
                    Update::builder()
                        .id("upd-2")
                        .status(UpdateStatus::InProgress)
                        .build(),
                )
                .build()
        });
    let eks = eks_client(&[
        &cluster.describe_rule(),
        &update,
        &describe_update_rule("upd-2", UpdateType::EndpointAccessUpdate),
    ]);
    let (deps, cap) = mocked_deps(config(Mode::Apply), eks);
    let report = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");

    assert_eq!(report.outcome, Outcome::Applied);
    assert_eq!(update.num_calls(), 1);
    assert_eq!(report.stage, Some(Stage { number: 2, of: 2 }));
    assert_eq!(cap.recorded()[0].status_id(), Some(2));
    let revert = report.revert.expect("revert");
    assert!(
        revert
            .cli
            .is_some_and(|c| c.contains("\"endpointPublicAccess\":true"))
    );
    assert!(
        cap.email()
            .contains("must reach the API server from inside the VPC")
    );
}

#[tokio::test]
async fn already_private_cluster_is_compliant_and_nothing_is_recorded() {
    let mut cluster = ClusterFixture::new("ledger-internal");
    cluster.public = false;
    cluster.private = true;
    let no_update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_config,
        UpdateClusterConfigOutput
    );
    let eks = eks_client(&[&cluster.describe_rule(), &no_update]);
    let (deps, cap) = mocked_deps(config(Mode::Apply), eks);
    let report = respond(&fix(), &deps, event("eks-public-access-stale.json"), None)
        .await
        .expect("report");
    assert_eq!(report.outcome, Outcome::AlreadyCompliant);
    assert!(
        report
            .reason
            .contains("public access to the API server endpoint is off")
    );
    assert!(
        cap.recorded().is_empty(),
        "a comment would echo back as New and loop"
    );
    assert_eq!(report.finding_update.status, EffectStatus::NotAttempted);
    assert!(
        cap.published()[0]
            .subject()
            .is_some_and(|s| s.starts_with("[COMPLIANT] ledger-internal"))
    );
}

#[tokio::test]
async fn allowlisted_cidrs_are_compliant_and_an_open_endpoint_is_restricted() {
    let mut cluster = ClusterFixture::new("payments-prod");
    cluster.cidrs = vec!["203.0.113.0/26".into()];
    let eks = eks_client(&[
        &cluster.describe_rule(),
        &shared::forbidden_rule!(
            aws_sdk_eks::Client::update_cluster_config,
            UpdateClusterConfigOutput
        ),
    ]);
    let (deps, _cap) = mocked_deps(config(Mode::Apply), eks);
    let report = respond(
        &with_allowlist(&["203.0.113.0/24"]),
        &deps,
        event("eks-public-access.json"),
        None,
    )
    .await
    .expect("report");
    assert_eq!(report.outcome, Outcome::AlreadyCompliant);

    let open = ClusterFixture::new("payments-prod");
    let update = mock!(aws_sdk_eks::Client::update_cluster_config)
        .match_requests(|r| {
            let v = r.resources_vpc_config().expect("vpc");
            v.public_access_cidrs() == ["203.0.113.0/24"]
                && v.endpoint_public_access() == Some(true)
        })
        .then_output(|| {
            UpdateClusterConfigOutput::builder()
                .update(Update::builder().id("u3").build())
                .build()
        });
    let eks = eks_client(&[
        &open.describe_rule(),
        &update,
        &describe_update_rule("u3", UpdateType::EndpointAccessUpdate),
    ]);
    let (deps, _cap) = mocked_deps(config(Mode::Apply), eks);
    let report = respond(
        &with_allowlist(&["203.0.113.0/24"]),
        &deps,
        event("eks-public-access.json"),
        None,
    )
    .await
    .expect("report");
    assert_eq!(report.outcome, Outcome::Applied);
    assert_eq!(report.stage, None);
    assert_eq!(update.num_calls(), 1);
}

#[tokio::test]
async fn guardrails_lower_the_mode() {
    // Tag propose under MODE=apply.
    let mut tagged = ClusterFixture::new("payments-prod");
    tagged.tags = vec![("eks-exposure-responder/mode".into(), "propose".into())];
    let eks = eks_client(&[
        &tagged.describe_rule(),
        &shared::forbidden_rule!(
            aws_sdk_eks::Client::update_cluster_config,
            UpdateClusterConfigOutput
        ),
    ]);
    let (deps, _cap) = mocked_deps(config(Mode::Apply), eks);
    let r = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Proposed);
    assert_eq!(r.reason_code, "guardrail");
    assert!(r.held_back[0].contains("eks-exposure-responder/mode=propose"));

    // Tag ignore: skipped and told (low priority), nothing recorded.
    let mut ignored = ClusterFixture::new("payments-prod");
    ignored.tags = vec![("eks-exposure-responder/mode".into(), "ignore".into())];
    let eks = eks_client(&[
        &ignored.describe_rule(),
        &shared::forbidden_rule!(
            aws_sdk_eks::Client::update_cluster_config,
            UpdateClusterConfigOutput
        ),
    ]);
    let (deps, cap) = mocked_deps(config(Mode::Apply), eks);
    let r = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Skipped);
    assert_eq!(r.reason_code, "ignored_by_tag");
    assert_eq!(cap.published().len(), 1);
    assert!(cap.recorded().is_empty());

    // IaC-managed: proposed, naming the stack.
    let mut iac = ClusterFixture::new("payments-prod");
    iac.tags = vec![(
        "aws:cloudformation:stack-name".into(),
        "payments-eks".into(),
    )];
    let eks = eks_client(&[
        &iac.describe_rule(),
        &shared::forbidden_rule!(
            aws_sdk_eks::Client::update_cluster_config,
            UpdateClusterConfigOutput
        ),
    ]);
    let (deps, cap) = mocked_deps(config(Mode::Apply), eks);
    let r = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Proposed);
    assert!(cap.email().contains("CloudFormation stack 'payments-eks'"));
}

#[tokio::test]
async fn busy_clusters_are_deferred_without_a_record() {
    let mut updating = ClusterFixture::new("payments-prod");
    updating.status = ClusterStatus::Updating;
    let eks = eks_client(&[
        &updating.describe_rule(),
        &shared::forbidden_rule!(
            aws_sdk_eks::Client::update_cluster_config,
            UpdateClusterConfigOutput
        ),
    ]);
    let (deps, cap) = mocked_deps(config(Mode::Apply), eks);
    let r = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Deferred);
    assert_eq!(r.reason_code, "cluster_not_active");
    assert!(cap.recorded().is_empty());

    let in_use = mock!(aws_sdk_eks::Client::update_cluster_config).then_error(|| {
        UpdateClusterConfigError::ResourceInUseException(
            ResourceInUseException::builder()
                .message("The specified resource is in use")
                .build(),
        )
    });
    let eks = eks_client(&[
        &ClusterFixture::new("payments-prod").describe_rule(),
        &in_use,
    ]);
    let (deps, cap) = mocked_deps(config(Mode::Apply), eks);
    let r = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Deferred);
    assert_eq!(r.reason_code, "update_in_progress");
    assert!(cap.recorded().is_empty());
}

#[tokio::test]
async fn refused_changes_fail_with_an_actionable_reason() {
    let denied = mock!(aws_sdk_eks::Client::update_cluster_config).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(403).expect("status"),
            aws_smithy_types::body::SdkBody::from(
                r#"{"message":"not authorized to perform eks:UpdateClusterConfig"}"#,
            ),
        )
    });
    let eks = eks_client(&[
        &ClusterFixture::new("payments-prod").describe_rule(),
        &denied,
    ]);
    let (deps, cap) = mocked_deps(config(Mode::Apply), eks);
    let r = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.reason_code, "access_denied_failed");
    assert!(
        r.reason.contains("Grant the function's role"),
        "{}",
        r.reason
    );
    assert!(cap.recorded().is_empty());
    assert_eq!(cap.published().len(), 1, "a failure is always told");
}

#[tokio::test]
async fn transient_faults_become_lambda_errors_so_eventbridge_retries() {
    let throttled = mock!(aws_sdk_eks::Client::describe_cluster)
        .sequence()
        .http_status(
            429,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .times(5)
        .build();
    let eks = mock_client!(aws_sdk_eks, RuleMode::Sequential, &[&throttled]);
    let (deps, cap) = mocked_deps(config(Mode::Apply), eks);
    let err = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect_err("retryable");
    assert_eq!(err.error_type(), "AwsTransientError");
    assert!(cap.published().is_empty() && cap.recorded().is_empty());
}

#[tokio::test]
async fn a_throttled_read_that_recovers_still_proposes() {
    let cluster = ClusterFixture::new("payments-prod").cluster();
    let flaky = mock!(aws_sdk_eks::Client::describe_cluster)
        .sequence()
        .http_status(
            429,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .output(move || {
            aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput::builder()
                .cluster(cluster.clone())
                .build()
        })
        .build();
    let eks = mock_client!(aws_sdk_eks, RuleMode::Sequential, &[&flaky]);
    let (deps, _cap) = mocked_deps(config(Mode::Propose), eks);
    let r = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Proposed);
    assert_eq!(flaky.num_calls(), 2);
}

#[tokio::test]
async fn failed_record_or_notification_never_undoes_the_remediation() {
    let sns_down = mock!(aws_sdk_sns::Client::publish).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(500).expect("status"),
            aws_smithy_types::body::SdkBody::from(
                "<ErrorResponse><Error><Code>InternalError</Code></Error></ErrorResponse>",
            ),
        )
    });
    let sh_down = mock!(aws_sdk_securityhub::Client::batch_update_findings_v2).then_error(|| {
        aws_sdk_securityhub::operation::batch_update_findings_v2::BatchUpdateFindingsV2Error::AccessDeniedException(
            aws_sdk_securityhub::types::error::AccessDeniedException::builder().message("denied").build(),
        )
    });
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&sns_down]);
    // Security Hub still answers the read-back of the finding; only the record is refused.
    let read = shared::testing::held_findings_rule(shared::testing::held_findings());
    let sh = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, &[&sh_down, &read]);
    let eks = eks_client(&[
        &ClusterFixture::new("payments-prod").describe_rule(),
        &update_rule("u9"),
        &describe_update_rule("u9", UpdateType::EndpointAccessUpdate),
    ]);
    let deps = mocked_deps_with(config(Mode::Apply), eks, sns, sh);
    let r = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Applied);
    assert_eq!(r.finding_update.status, EffectStatus::Failed);
    assert!(r.finding_update.detail.contains("denied"));
    assert_eq!(
        r.notification.as_ref().map(|n| n.status),
        Some(EffectStatus::Failed)
    );
}

#[tokio::test]
async fn server_errors_from_the_update_are_retried_then_raised() {
    let broken = mock!(aws_sdk_eks::Client::update_cluster_config).then_error(|| {
        UpdateClusterConfigError::ServerException(
            ServerException::builder().message("boom").build(),
        )
    });
    let eks = eks_client(&[
        &ClusterFixture::new("payments-prod").describe_rule(),
        &broken,
    ]);
    let (deps, _cap) = mocked_deps(config(Mode::Apply), eks);
    let err = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect_err("retryable");
    assert_eq!(err.error_type(), "AwsTransientError");
}

#[tokio::test]
async fn skips_touch_nothing() {
    for (file, code) in [
        ("eks-closed.json", "closed"),
        ("eks-in-progress-echo.json", "not_new"),
        (
            "eks-unsupported-kubernetes-version.json",
            "no_handled_traits",
        ),
    ] {
        let never = mock!(aws_sdk_eks::Client::describe_cluster)
            .match_requests(|_| panic!("no EKS call on a skipped finding"))
            .then_output(|| {
                aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput::builder().build()
            });
        let (deps, cap) = mocked_deps(config(Mode::Apply), eks_client(&[&never]));
        let r = respond(&fix(), &deps, event(file), None)
            .await
            .expect("report");
        assert_eq!(
            (r.outcome, r.reason_code.as_str()),
            (Outcome::Skipped, code),
            "{file}"
        );
        assert!(
            cap.published().is_empty() && cap.recorded().is_empty(),
            "{file}"
        );
    }
}

#[tokio::test]
async fn accounts_outside_the_allowlist_are_skipped_before_any_aws_call() {
    let never = mock!(aws_sdk_eks::Client::describe_cluster)
        .match_requests(|_| panic!("no EKS call for a disallowed account"))
        .then_output(|| {
            aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput::builder().build()
        });
    let mut cfg = config(Mode::Apply);
    cfg.allowed_accounts = vec!["999988887777".into()];
    let (deps, cap) = mocked_deps(cfg, eks_client(&[&never]));
    let r = respond(&fix(), &deps, event("eks-cross-account-uid-alt.json"), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Skipped);
    assert_eq!(r.reason_code, "account_not_allowed");
    assert!(r.reason.contains("111122223333"));
    assert!(
        deps.access
            .requests
            .lock()
            .map(|r| r.is_empty())
            .unwrap_or(false)
    );
    assert!(cap.published().is_empty());
}

#[tokio::test]
async fn malformed_events_are_invalid_finding_errors() {
    for file in [
        "invalid-wrong-source.json",
        "invalid-non-cluster-arn.json",
        "invalid-contradicting-account.json",
        "invalid-no-findings.json",
    ] {
        let (deps, cap) = mocked_deps(
            config(Mode::Apply),
            eks_client(&[&shared::forbidden_rule!(
                aws_sdk_eks::Client::update_cluster_config,
                UpdateClusterConfigOutput
            )]),
        );
        let err = respond(&fix(), &deps, event(file), None)
            .await
            .expect_err(file);
        assert_eq!(err.error_type(), "InvalidFinding", "{file}");
        assert!(cap.published().is_empty());
    }
}

#[tokio::test]
async fn a_proposal_whose_message_cannot_be_sent_is_retried_not_lost() {
    // Nothing changed on the cluster: the message is the whole result.
    let sns_down = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_response(|| {
            shared::testing::http(
                500,
                "<ErrorResponse><Error><Code>InternalError</Code></Error></ErrorResponse>",
            )
        })
        .times(5)
        .build();
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&sns_down], |b| b
        .retry_config(shared::testing::fast_retry()));
    let (_, sh, _) = shared::testing::capturing_clients();
    let eks = eks_client(&[
        &ClusterFixture::new("payments-prod").describe_rule(),
        &shared::forbidden_rule!(
            aws_sdk_eks::Client::update_cluster_config,
            UpdateClusterConfigOutput
        ),
    ]);
    let deps = mocked_deps_with(config(Mode::Propose), eks, sns, sh);
    let err = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect_err("retryable");
    assert_eq!(err.error_type(), "AwsTransientError");
    assert!(err.to_string().contains("sns:Publish"), "{err}");

    // A refusal cannot be fixed by retrying: reported, the proposal stands.
    let denied = mock!(aws_sdk_sns::Client::publish).then_http_response(|| {
        shared::testing::http(
            403,
            "<ErrorResponse><Error><Code>AuthorizationError</Code></Error></ErrorResponse>",
        )
    });
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&denied]);
    let (_, sh, _) = shared::testing::capturing_clients();
    let eks = eks_client(&[
        &ClusterFixture::new("payments-prod").describe_rule(),
        &shared::forbidden_rule!(
            aws_sdk_eks::Client::update_cluster_config,
            UpdateClusterConfigOutput
        ),
    ]);
    let deps = mocked_deps_with(config(Mode::Propose), eks, sns, sh);
    let r = respond(&fix(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(r.outcome, Outcome::Proposed);
    assert_eq!(r.notification.map(|n| n.status), Some(EffectStatus::Failed));
}

// ---- narrow, never widen ----

#[test]
fn an_allowlist_narrows_the_cidrs_allowed_today() {
    let allow = [Cidr::parse("203.0.113.0/24").expect("cidr")];
    let EndpointPlan::Change {
        desired,
        cuts_off_everyone,
        ..
    } = plan_endpoint(
        &state(true, false, &["203.0.113.5/32", "198.51.100.0/24"]),
        &allow,
    )
    else {
        panic!("expected a change");
    };
    assert_eq!(
        desired.public_cidrs,
        Some(vec!["203.0.113.5/32".to_string()]),
        "the /32 client keeps its access and nothing is widened"
    );
    assert!(!cuts_off_everyone);
    let EndpointPlan::Change {
        cuts_off_everyone, ..
    } = plan_endpoint(&state(true, false, &["198.51.100.0/24"]), &allow)
    else {
        panic!("expected a change");
    };
    assert!(cuts_off_everyone);
}

#[tokio::test]
async fn an_allowlist_disjoint_from_today_is_proposed_not_applied() {
    let cluster = ClusterFixture {
        cidrs: vec!["198.51.100.0/24".into()],
        ..ClusterFixture::new("payments-prod")
    };
    let no_update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_config,
        UpdateClusterConfigOutput
    );
    let eks = eks_client(&[&cluster.describe_rule(), &no_update]);
    let (deps, _cap) = mocked_deps(config(Mode::Apply), eks);
    let fix = with_allowlist(&["203.0.113.0/24"]);
    let report = respond(&fix, &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(report.outcome, Outcome::Proposed, "{}", report.reason);
    assert_eq!(report.reason_code, "no_allowed_public_cidrs");
    assert!(
        report.blockers[0]
            .message
            .contains("would cut off every client"),
        "{:?}",
        report.blockers
    );
}

// ---- the soak between private on and public off ----

fn private_on_cluster() -> ClusterFixture {
    ClusterFixture {
        private: true,
        ..ClusterFixture::new("payments-prod")
    }
}

#[tokio::test]
async fn stage_two_waits_for_the_soak_from_the_update_that_enabled_private_access() {
    // Private access turned on ten minutes ago (the stage-1 update); an older update turned it
    // on before that and a later one changed something else: the newest enabling one counts.
    let (list, describe) = history(&[
        ("upd-old", 3 * 24 * 60, true),
        ("upd-stage1", 10, true),
        ("upd-cidrs", 5, false),
    ]);
    let no_update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_config,
        UpdateClusterConfigOutput
    );
    let cluster = private_on_cluster();
    let eks = eks_client(&[&cluster.describe_rule(), &list, &describe, &no_update]);
    let (deps, cap) = mocked_deps(config(Mode::Apply), eks);
    let report = respond(&with_soak(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(report.outcome, Outcome::Deferred, "{}", report.reason);
    assert_eq!(report.reason_code, "stage_soak_pending");
    assert!(
        report.reason.contains("(update upd-stage1)")
            && report
                .reason
                .contains("1440 minutes (ENDPOINT_STAGE_SOAK_MINUTES)"),
        "{}",
        report.reason
    );
    assert!(cap.recorded().is_empty(), "the finding stays New");
    assert!(cap.email().contains("ENDPOINT_STAGE_SOAK_MINUTES"));
}

#[tokio::test]
async fn stage_two_applies_once_the_soak_has_passed_and_says_so() {
    let (list, describe) = history(&[("upd-stage1", 2 * 24 * 60, true)]);
    let cluster = private_on_cluster();
    let eks = eks_client(&[
        &cluster.describe_rule(),
        &list,
        &describe,
        &update_rule("upd-2"),
        &describe_update_rule("upd-2", UpdateType::EndpointAccessUpdate),
    ]);
    let (deps, _cap) = mocked_deps(config(Mode::Apply), eks);
    let report = respond(&with_soak(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(report.outcome, Outcome::Applied, "{}", report.reason);
    assert_eq!(report.stage, Some(Stage { number: 2, of: 2 }));
    assert!(
        report
            .facts
            .iter()
            .any(|f| f.contains("(update upd-stage1), longer than the 1440-minute soak")),
        "{:?}",
        report.facts
    );
}

#[tokio::test]
async fn stage_two_without_visible_history_is_proposed_with_the_reason() {
    // A cluster created with private access on: no update ever enabled it.
    let (list, describe) = history(&[]);
    let no_update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_config,
        UpdateClusterConfigOutput
    );
    let cluster = private_on_cluster();
    let eks = eks_client(&[&cluster.describe_rule(), &list, &describe, &no_update]);
    let (deps, _cap) = mocked_deps(config(Mode::Apply), eks);
    let report = respond(&with_soak(), &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(report.outcome, Outcome::Proposed, "{}", report.reason);
    assert_eq!(report.reason_code, "stage_soak_unknown");
    assert!(
        report.blockers[0]
            .message
            .contains("ListUpdates shows no successful endpoint access update"),
        "{:?}",
        report.blockers
    );
}
