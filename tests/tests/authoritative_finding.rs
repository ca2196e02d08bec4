//! Only an authoritative finding is acted on: the event must come from Security Hub's own
//! exposure product, name the cluster's account consistently, have been emitted in the
//! function's own account, and Security Hub's own copy of the finding (read back by its metadata
//! uid) must confirm it before anything is changed. The AWS calls are mocked.

use aws_sdk_eks::operation::update_cluster_config::UpdateClusterConfigOutput;
use aws_sdk_eks::types::{Update, UpdateStatus, UpdateType};
use serde_json::{Value, json};
use shared::event::gate::{Gate, InvalidFinding, confirm_json, event_from_value, gate};
use shared::output::report::Outcome;
use shared::pipeline::{ResponderError, respond};
use shared::testing::aws_smithy_mocks::{RuleMode, mock, mock_client};
use shared::testing::{
    ClusterFixture, Executions, capturing_clients, config, event, held_findings,
    held_findings_rule, mocked_deps_with,
};
use shared::{Mode, Trait};

const OWNS: &[Trait] = &[Trait::PublicEndpoint];

fn invalid(v: Value) -> InvalidFinding {
    let e = event_from_value(v).expect("parses");
    gate(&e, OWNS).expect_err("the gate refuses it")
}

#[test]
fn a_finding_of_another_product_is_refused() {
    let mut v = event("eks-public-access.json");
    v["detail"]["findings"][0]["metadata"]["product"]["uid"] =
        json!("arn:aws:securityhub:us-east-1:999988887777:product/999988887777/default");
    let e = invalid(v);
    assert_eq!(e.path(), "$.detail.findings[0].metadata.product.uid", "{e}");
    let mut v = event("eks-public-access.json");
    v["detail"]["findings"][0]["metadata"]["product"]
        .as_object_mut()
        .expect("product")
        .remove("uid");
    assert_eq!(
        invalid(v).path(),
        "$.detail.findings[0].metadata.product.uid"
    );
    // Security Hub's own products pass, in any partition and Region, GA and preview.
    for sample in ["eks-public-access.json", "eks-preview-shape.json"] {
        let e = event_from_value(event(sample)).expect("parses");
        assert!(
            matches!(gate(&e, OWNS), Ok(Gate::Actionable(_))),
            "{sample}"
        );
    }
}

#[test]
fn a_cloud_account_that_contradicts_the_cluster_arn_is_refused() {
    // The reviewer's event: cloud account 999988887777, cluster ARN in 444455556666.
    let mut v = event("eks-public-access.json");
    v["detail"]["findings"][0]["cloud"]["account"]["uid"] = json!("999988887777");
    let e = invalid(v);
    assert_eq!(e.path(), "$.detail.findings[0].cloud.account.uid", "{e}");
    assert!(e.to_string().contains("999988887777"), "{e}");
    let mut v = event("eks-public-access.json");
    v["detail"]["findings"][0]["cloud"]
        .as_object_mut()
        .expect("cloud")
        .remove("account");
    assert_eq!(invalid(v).path(), "$.detail.findings[0].cloud.account.uid");
}

#[tokio::test]
async fn an_event_emitted_in_another_account_is_refused() {
    let cluster = ClusterFixture::new("payments-prod");
    let eks = shared::testing::eks_client(&[
        &cluster.describe_rule(),
        &mock!(aws_sdk_eks::Client::update_cluster_config).then_output(|| {
            UpdateClusterConfigOutput::builder()
                .update(
                    Update::builder()
                        .id("u-3")
                        .status(UpdateStatus::InProgress)
                        .build(),
                )
                .build()
        }),
        &shared::testing::describe_update_rule("u-3", UpdateType::EndpointAccessUpdate),
    ]);
    let (sns, securityhub, cap) = capturing_clients();
    let deps = mocked_deps_with(config(Mode::Apply), eks, sns, securityhub);
    let fix = endpoint_access::EndpointAccess::new(endpoint_access::Settings::default());
    // The samples' envelope account is 444455556666; the function runs in 123456789012.
    let err = respond(
        &fix,
        &deps,
        event("eks-public-access.json"),
        Some("123456789012"),
    )
    .await
    .expect_err("refused");
    match err {
        ResponderError::InvalidFinding(e) => {
            assert_eq!(e.path(), "$.account");
            assert!(e.to_string().contains("123456789012"), "{e}");
        }
        other => panic!("expected an invalid finding, got {other}"),
    }
    assert!(cap.published().is_empty() && cap.recorded().is_empty());
    // Emitted in the function's own account: handled.
    let r = respond(
        &fix,
        &deps,
        event("eks-public-access.json"),
        Some("444455556666"),
    )
    .await
    .expect("report");
    assert_eq!(r.outcome, Outcome::Applied, "{}", r.reason);
}

fn copy_of(sample: &str) -> Value {
    event(sample)["detail"]["findings"][0].clone()
}

fn check(copy: &Value, sample: &str) -> Result<(), String> {
    let e = event_from_value(event(sample)).expect("parses");
    let Ok(Gate::Actionable(exposure)) = gate(&e, OWNS) else {
        panic!("{sample} is actionable");
    };
    confirm_json(copy, &exposure, OWNS)
}

#[test]
fn only_a_matching_open_copy_confirms_the_event() {
    let s = "eks-public-access.json";
    assert_eq!(check(&copy_of(s), s), Ok(()));
    let mut in_progress = copy_of(s);
    in_progress["status"] = json!("In Progress");
    in_progress["status_id"] = json!(2);
    assert_eq!(
        check(&in_progress, s),
        Ok(()),
        "another function recorded first"
    );

    let mut other_cluster = copy_of(s);
    other_cluster["resources"][0]["uid"] =
        json!("arn:aws:eks:us-east-1:444455556666:cluster/other");
    other_cluster["resources"][0]["name"] = json!("other");
    let why = check(&other_cluster, s).expect_err("another cluster");
    assert!(why.contains("cluster/other"), "{why}");

    for (status, id) in [("Resolved", 4), ("Suppressed", 3), ("Archived", 5)] {
        let mut settled = copy_of(s);
        settled["status"] = json!(status);
        settled["status_id"] = json!(id);
        let why = check(&settled, s).expect_err(status);
        assert!(why.contains(status), "{why}");
    }
    let mut closed = copy_of(s);
    closed["activity_id"] = json!(3);
    closed["activity_name"] = json!("Close");
    assert!(check(&closed, s).expect_err("closed").contains("closed"));

    let mut other_trait = copy_of("eks-unencrypted-secrets.json");
    other_trait["metadata"]["uid"] = copy_of(s)["metadata"]["uid"].clone();
    other_trait["resources"] = copy_of(s)["resources"].clone();
    other_trait["cloud"] = copy_of(s)["cloud"].clone();
    let why = check(&other_trait, s).expect_err("no owned trait");
    assert!(why.contains("traits"), "{why}");

    let mut other_uid = copy_of(s);
    other_uid["metadata"]["uid"] = json!("0".repeat(64));
    assert!(
        check(&other_uid, s)
            .expect_err("another finding")
            .contains("another finding")
    );
}

/// Endpoint-access in apply mode, Security Hub holding `held`: the report, and how many times
/// UpdateClusterConfig ran.
async fn apply_with_held(held: Vec<Value>) -> (shared::Report, usize) {
    let cluster = ClusterFixture::new("payments-prod");
    let update = mock!(aws_sdk_eks::Client::update_cluster_config).then_output(|| {
        UpdateClusterConfigOutput::builder()
            .update(
                Update::builder()
                    .id("u-1")
                    .status(UpdateStatus::InProgress)
                    .r#type(UpdateType::EndpointAccessUpdate)
                    .build(),
            )
            .build()
    });
    let updates = Executions::<
        aws_sdk_eks::operation::update_cluster_config::UpdateClusterConfigInput,
    >::new();
    let eks = mock_client!(
        aws_sdk_eks,
        RuleMode::MatchAny,
        &[
            &cluster.describe_rule(),
            &update,
            &shared::testing::describe_update_rule("u-1", UpdateType::EndpointAccessUpdate)
        ],
        |b| b.interceptor(updates.clone())
    );
    let (sns, _, _) = capturing_clients();
    let record = mock!(aws_sdk_securityhub::Client::batch_update_findings_v2).then_output(|| {
        aws_sdk_securityhub::operation::batch_update_findings_v2::BatchUpdateFindingsV2Output::builder().build()
    });
    let read = held_findings_rule(held);
    let securityhub = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, &[&record, &read]);
    let deps = mocked_deps_with(config(Mode::Apply), eks, sns, securityhub);
    let fix = endpoint_access::EndpointAccess::new(endpoint_access::Settings::default());
    let r = respond(&fix, &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    (r, updates.count())
}

#[tokio::test]
async fn nothing_changes_unless_security_hub_confirms_the_finding() {
    let (r, updates) = apply_with_held(held_findings()).await;
    assert_eq!((r.outcome, updates), (Outcome::Applied, 1), "{}", r.reason);

    // Security Hub does not hold the finding the event describes (a crafted invocation).
    let (r, updates) = apply_with_held(Vec::new()).await;
    assert_eq!(
        (r.outcome, r.reason_code.as_str(), updates),
        (Outcome::Proposed, "finding_unconfirmed", 0),
        "{}",
        r.reason
    );
    assert!(r.reason.contains("holds no finding"), "{}", r.reason);
    assert_eq!(
        r.finding_update.status,
        shared::output::report::EffectStatus::NotAttempted,
        "an unconfirmed finding is not moved out of New: {}",
        r.finding_update.detail
    );

    // Security Hub holds it, but it was resolved since the event was sent.
    let mut resolved = copy_of("eks-public-access.json");
    resolved["status"] = json!("Resolved");
    resolved["status_id"] = json!(4);
    let (r, updates) = apply_with_held(vec![resolved]).await;
    assert_eq!(
        (r.outcome, r.reason_code.as_str(), updates),
        (Outcome::Proposed, "finding_unconfirmed", 0),
        "{}",
        r.reason
    );
    assert!(r.reason.contains("Resolved"), "{}", r.reason);
}

#[tokio::test]
async fn an_unreadable_finding_means_propose() {
    let cluster = ClusterFixture::new("payments-prod");
    let no_update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_config,
        UpdateClusterConfigOutput
    );
    let eks = shared::testing::eks_client(&[&cluster.describe_rule(), &no_update]);
    let (sns, _, _) = capturing_clients();
    let record = mock!(aws_sdk_securityhub::Client::batch_update_findings_v2).then_output(|| {
        aws_sdk_securityhub::operation::batch_update_findings_v2::BatchUpdateFindingsV2Output::builder().build()
    });
    let (status, body) = shared::testing::json_fault(shared::testing::Fault::AccessDenied);
    let denied = mock!(aws_sdk_securityhub::Client::get_findings_v2)
        .then_http_response(move || shared::testing::http(status, &body));
    let securityhub = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, &[&record, &denied]);
    let deps = mocked_deps_with(config(Mode::Apply), eks, sns, securityhub);
    let fix = endpoint_access::EndpointAccess::new(endpoint_access::Settings::default());
    let r = respond(&fix, &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(
        (r.outcome, r.reason_code.as_str()),
        (Outcome::Proposed, "finding_unconfirmed"),
        "{}",
        r.reason
    );
    assert!(
        r.reason
            .contains("securityhub:GetFindings failed (AccessDeniedException)"),
        "{}",
        r.reason
    );
}

#[tokio::test]
async fn no_change_starts_without_time_to_finish_and_report_it() {
    let cluster = ClusterFixture::new("payments-prod");
    let no_update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_config,
        UpdateClusterConfigOutput
    );
    let eks = shared::testing::eks_client(&[&cluster.describe_rule(), &no_update]);
    let (sns, securityhub, cap) = capturing_clients();
    let deps = mocked_deps_with(config(Mode::Apply), eks, sns, securityhub);
    let fix = endpoint_access::EndpointAccess::new(endpoint_access::Settings::default());
    // 20 s left of the invocation: less than a mutating call and its report may take.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let err = shared::pipeline::with_deadline(
        deadline,
        respond(&fix, &deps, event("eks-public-access.json"), None),
    )
    .await
    .expect_err("out of time");
    assert_eq!(err.error_type(), "OutOfTime", "{err}");
    assert!(cap.published().is_empty(), "a retry tells");
    // With the time a change needs, the same event is applied.
    let eks = shared::testing::eks_client(&[
        &cluster.describe_rule(),
        &mock!(aws_sdk_eks::Client::update_cluster_config).then_output(|| {
            UpdateClusterConfigOutput::builder()
                .update(
                    Update::builder()
                        .id("u-2")
                        .status(UpdateStatus::InProgress)
                        .build(),
                )
                .build()
        }),
        &shared::testing::describe_update_rule("u-2", UpdateType::EndpointAccessUpdate),
    ]);
    let (sns, securityhub, _) = capturing_clients();
    let deps = mocked_deps_with(config(Mode::Apply), eks, sns, securityhub);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let r = shared::pipeline::with_deadline(
        deadline,
        respond(&fix, &deps, event("eks-public-access.json"), None),
    )
    .await
    .expect("report");
    assert_eq!(r.outcome, Outcome::Applied, "{}", r.reason);
}
