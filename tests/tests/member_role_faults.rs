//! The member role through the production access path (`AwsAccess`), with STS on a loopback
//! server: a refused AssumeRole is a `failed` report that names the role and the trust to fix
//! (never a retried "transient" error), STS throttling and timeouts are retried, and the
//! container-vulnerabilities hand-off is delivered either way.

use aws_config::SdkConfig;
use serde_json::json;
use shared::aws::{AwsAccess, FaultKind};
use shared::output::notify::SnsNotifier;
use shared::output::record::FindingRecorder;
use shared::output::report::Outcome;
use shared::pipeline::{Deps, ResponderError, respond};
use shared::testing::{
    Captures, answering_server, capturing_clients, config, event, fast_retry, fast_timeouts,
    scripted_server,
};
use shared::{Mode, Report};

const HOME: &str = "444455556666";
const MEMBER: &str = "111122223333";
const ROLE: &str = "arn:aws:iam::111122223333:role/eks-exposure-responder-endpoint-access";

/// What STS answers in a cell.
enum Sts {
    Denied,
    Throttled,
    Silent,
}

async fn sts_at(sts: Sts) -> String {
    let query_error = |code: &str, message: &str| {
        format!(
            r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"#
        )
    };
    match sts {
        Sts::Denied => {
            answering_server(
                403,
                query_error(
                    "AccessDenied",
                    &format!("User: arn:aws:sts::{HOME}:assumed-role/fn/x is not authorized to perform: sts:AssumeRole on resource: {ROLE}"),
                ),
            )
            .await
        }
        Sts::Throttled => answering_server(400, query_error("Throttling", "Rate exceeded")).await,
        Sts::Silent => scripted_server(Vec::new(), "").await,
    }
}

/// The functions' base configuration with every call (STS included) on `url`.
async fn base_at(url: &str) -> SdkConfig {
    // The defaults loader, as in production: it also provides the time source and sleep the
    // AssumeRole provider and the retries need.
    aws_config::defaults(shared::aws::behavior_version())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_eks::config::Credentials::for_tests())
        .endpoint_url(url)
        .timeout_config(fast_timeouts())
        .retry_config(fast_retry())
        .load()
        .await
}

async fn deps(sts: &str, function: &str, mode: Mode) -> (Deps<AwsAccess>, Captures) {
    let (sns, securityhub, captures) = capturing_clients();
    let mut cfg = config(mode);
    cfg.member_role_name = Some(format!("eks-exposure-responder-{function}"));
    (
        Deps {
            access: AwsAccess::new(base_at(sts).await, cfg.member_role_name.clone(), function),
            notifier: SnsNotifier::new(sns, cfg.sns_topic_arn.clone()),
            recorder: FindingRecorder::new(securityhub),
            config: cfg,
            emit_metrics: false,
            ledger: None,
        },
        captures,
    )
}

async fn endpoint_access(sts: Sts) -> (Result<Report, ResponderError>, Captures) {
    let url = sts_at(sts).await;
    let (deps, captures) = deps(&url, "endpoint-access", Mode::Apply).await;
    let fix = endpoint_access::EndpointAccess::new(endpoint_access::Settings::default());
    let r = respond(
        &fix,
        &deps,
        event("eks-cross-account-uid-alt.json"),
        Some(HOME),
    )
    .await;
    (r, captures)
}

#[tokio::test]
async fn a_refused_member_role_is_a_failed_report_naming_the_role_and_its_trust() {
    let (r, captures) = endpoint_access(Sts::Denied).await;
    let r = r.expect("a report, not a retried error");
    assert_eq!(
        (r.outcome, r.reason_code.as_str()),
        (Outcome::Failed, "cluster_unreachable"),
        "{}",
        r.reason
    );
    assert!(r.reason.contains(ROLE), "{}", r.reason);
    assert!(r.reason.contains("AccessDenied"), "{}", r.reason);
    assert!(r.reason.contains("trust policy"), "{}", r.reason);
    assert!(r.reason.contains(MEMBER), "{}", r.reason);
    assert_eq!(captures.published().len(), 1, "the failure is told");
}

#[tokio::test]
async fn a_throttled_or_silent_sts_is_retried_not_reported() {
    for (sts, what) in [(Sts::Throttled, "throttled"), (Sts::Silent, "timed out")] {
        let (r, captures) = endpoint_access(sts).await;
        match r {
            Err(ResponderError::Transient(e)) => {
                assert_eq!(e.operation, "sts:AssumeRole", "{what}: {e}");
                assert_eq!(e.kind, FaultKind::Transient, "{what}: {e}");
            }
            other => panic!("{what}: expected a transient error, got {other:?}"),
        }
        assert!(captures.published().is_empty(), "{what}: the retry tells");
    }
}

#[tokio::test]
async fn the_cve_hand_off_is_delivered_when_the_member_role_is_refused() {
    let url = sts_at(Sts::Denied).await;
    let (deps, captures) = deps(&url, "container-vulnerabilities", Mode::Propose).await;
    let mut v = event("eks-cross-account-uid-alt.json");
    v["detail"]["findings"][0]["finding_info"]["related_events"] = json!([{
        "uid": format!("arn:aws:inspector2:eu-west-1:{MEMBER}:finding/0316527ac3d2b7864cc74e683ce2f010"),
        "product": { "uid": "arn:aws:securityhub:eu-west-1::productv2/aws/inspector" },
        "title": "CVE-2023-44487 - golang.org/x/net",
        "traits": [{ "category": "Vulnerability", "values": ["Exploit Available", "EPSS Level >= High"] }]
    }]);
    let no_enrichment =
        std::collections::HashMap::from([("MAX_ENRICHED_SIGNALS".to_string(), "0".to_string())]);
    let (_, securityhub, _) = capturing_clients();
    let fix = container_vulnerabilities::ContainerVulnerabilities::new(
        container_vulnerabilities::Settings::from_env(&no_enrichment).expect("settings"),
        securityhub,
    );
    let r = respond(&fix, &deps, v, Some(HOME)).await.expect("report");
    assert_eq!(
        (r.outcome, r.reason_code.as_str()),
        (Outcome::Proposed, "hand_off"),
        "{}",
        r.reason
    );
    assert!(
        r.not_checked.iter().any(|n| n.contains("AccessDenied")),
        "{:?}",
        r.not_checked
    );
    assert_eq!(captures.published().len(), 1, "the hand-off is delivered");
}
