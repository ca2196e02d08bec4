//! container-vulnerabilities through the shared pipeline: sample events, Inspector OCSF findings
//! served by a mocked `GetFindingsV2`, and what is published, recorded and returned.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_securityhub::config::retry::RetryConfig;
use aws_sdk_securityhub::config::{AsyncSleep, SharedAsyncSleep, Sleep};
use aws_sdk_securityhub::operation::get_findings_v2::{
    GetFindingsV2Error, GetFindingsV2Input, GetFindingsV2Output,
};
use aws_sdk_securityhub::types::error::AccessDeniedException;
use aws_sdk_securityhub::types::{AllowedOperators, OcsfStringField, StringFilterComparison};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::Document;
use aws_smithy_types::error::ErrorMetadata;
use container_vulnerabilities::decide::SCHEMA;
use container_vulnerabilities::{ContainerVulnerabilities, Settings};
use serde_json::{Value, json};
use shared::aws::value_to_document;
use shared::output::report::Report;
use shared::testing::{ClusterFixture, config, eks_client, event, mocked_deps, not_checked};
use shared::{Mode, Outcome, Trait};

const HIGH: &str = "eks-high-priority-vulnerability.json";
const LOW: &str = "eks-low-priority-vulnerability.json";
const MULTI: &str = "eks-multi-trait.json";
const SNS_LIMIT: usize = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// Helpers

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

fn all_fixtures() -> Vec<Value> {
    [
        "inspector-CVE-2023-44487.json",
        "inspector-CVE-2024-0727.json",
        "inspector-CVE-2022-40897.json",
        "inspector-CVE-2023-29383.json",
        "inspector-CVE-2021-44228.json",
        "inspector-CVE-2023-7104.json",
    ]
    .into_iter()
    .map(fixture)
    .collect()
}

/// The uids a GetFindingsV2 request asks for, checking the filter's shape on the way.
fn requested_uids(req: &GetFindingsV2Input) -> Vec<String> {
    let filters = req.filters().expect("filters");
    assert_eq!(filters.composite_filters().len(), 1);
    let c = &filters.composite_filters()[0];
    assert_eq!(c.operator(), Some(&AllowedOperators::Or), "uids are OR-ed");
    assert!(c.string_filters().len() <= 20, "at most 20 string filters");
    c.string_filters()
        .iter()
        .map(|s| {
            assert_eq!(s.field_name(), Some(&OcsfStringField::FindingInfoUid));
            let f = s.filter().expect("filter");
            assert_eq!(f.comparison(), Some(&StringFilterComparison::Equals));
            f.value().expect("value").to_string()
        })
        .collect()
}

type Requests = Arc<Mutex<Vec<Vec<String>>>>;

/// GetFindingsV2 answering with whichever of `findings` the request asks for (via `make` for
/// generated ones), recording every request.
fn serving(make: impl Fn(&str) -> Option<Value> + Send + Sync + 'static) -> (Rule, Requests) {
    let requests: Requests = Arc::default();
    let seen = requests.clone();
    let rule =
        mock!(aws_sdk_securityhub::Client::get_findings_v2).then_compute_output(move |req| {
            let uids = requested_uids(req);
            let docs: Vec<Document> = uids
                .iter()
                .filter_map(|u| make(u))
                .map(|v| value_to_document(&v))
                .collect();
            seen.lock().expect("lock").push(uids);
            GetFindingsV2Output::builder()
                .set_findings(Some(docs))
                .build()
        });
    (rule, requests)
}

fn serving_fixtures() -> (Rule, Requests) {
    let fixtures = all_fixtures();
    serving(move |uid| {
        fixtures
            .iter()
            .find(|f| f["finding_info"]["uid"] == uid)
            .cloned()
    })
}

fn hub(rules: &[&Rule]) -> aws_sdk_securityhub::Client {
    mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, rules)
}

#[derive(Debug)]
struct NoSleep;

impl AsyncSleep for NoSleep {
    fn sleep(&self, _: Duration) -> Sleep {
        Sleep::new(std::future::ready(()))
    }
}

/// A client that retries like production (3 attempts), without waiting between attempts.
fn retrying_hub(rules: &[&Rule]) -> aws_sdk_securityhub::Client {
    mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, rules, |b| b
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .sleep_impl(SharedAsyncSleep::new(NoSleep)))
}

fn cluster_of(file: &str) -> &'static str {
    match file {
        HIGH => "payments-prod",
        LOW => "analytics-dev",
        MULTI => "platform-shared",
        _ => "payments-prod",
    }
}

async fn run(
    fix: &ContainerVulnerabilities,
    event: Value,
    cluster: &str,
) -> (Report, shared::testing::Captures) {
    run_mode(fix, event, cluster, Mode::Propose).await
}

async fn run_mode(
    fix: &ContainerVulnerabilities,
    event: Value,
    cluster: &str,
    mode: Mode,
) -> (Report, shared::testing::Captures) {
    let describe = ClusterFixture::new(cluster).describe_rule();
    let eks = eks_client(&[&describe]);
    let (deps, captures) = mocked_deps(config(mode), eks);
    let report = shared::pipeline::respond(fix, &deps, event, None)
        .await
        .expect("a report, never an error");
    (report, captures)
}

async fn run_file(
    fix: &ContainerVulnerabilities,
    file: &str,
) -> (Report, shared::testing::Captures) {
    run(fix, event(file), cluster_of(file)).await
}

fn attribute(c: &shared::testing::Captures, name: &str) -> Option<String> {
    let p = c.published();
    p[0].message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
        .map(str::to_string)
}

fn cve_ids(details: &Value) -> Vec<String> {
    details["cves"]
        .as_array()
        .expect("cves")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect()
}

/// SNS counts the message, the subject and the attributes (names, types, values).
fn published_size(c: &shared::testing::Captures) -> usize {
    let p = &c.published()[0];
    let attrs: usize = p
        .message_attributes()
        .map(|a| {
            a.iter()
                .map(|(k, v)| {
                    k.len() + v.data_type().len() + v.string_value().unwrap_or_default().len()
                })
                .sum()
        })
        .unwrap_or(0);
    p.message().unwrap_or_default().len() + p.subject().unwrap_or_default().len() + attrs
}

/// `eks-high-priority-vulnerability.json` with `n` generated CVE signals (every fifth one
/// network-exploitable, trait 4), spread over 30 images, plus the event's EKS.1 signal.
fn many_cves_event(n: usize) -> Value {
    let mut ev = event(HIGH);
    let related = &mut ev["detail"]["findings"][0]["finding_info"]["related_events"];
    let template = related[0].clone();
    let eks1 = related[1].clone();
    let mut out = Vec::new();
    for i in 0..n {
        let mut r = template.clone();
        r["uid"] = json!(format!(
            "arn:aws:inspector2:us-east-1:444455556666:finding/{:032x}",
            i
        ));
        r["title"] = json!(format!("CVE-2026-{:05} - lib{}", 10000 + i, i % 9));
        r["observables"][0]["value"] = json!(image_arn(i % 30));
        if i % 5 != 0 {
            r["traits"][0]["name"] = json!(Trait::Vulnerability.title());
            r["traits"][0]["values"] = json!(["Vulnerable"]);
        }
        out.push(r);
    }
    out.push(eks1);
    *related = Value::Array(out);
    ev["detail"]["findings"][0]["finding_info"]["related_events_count"] = json!(n + 1);
    ev
}

fn image_arn(k: usize) -> String {
    format!(
        "arn:aws:ecr:us-east-1:444455556666:repository/svc-{k:02}/sha256:{:064x}",
        k + 1
    )
}

/// The Inspector finding behind generated signal `uid`: scores vary, some EPSS are missing,
/// half have a fix.
fn generated_finding(uid: &str) -> Option<Value> {
    let i = usize::from_str_radix(uid.rsplit('/').next()?, 16).ok()?;
    let fix = i % 2 == 0;
    let mut cve = json!({
        "uid": format!("CVE-2026-{:05}", 10000 + i),
        "cvss": [{"base_score": 4.0 + ((i * 37) % 60) as f64 / 10.0, "vendor_name": "NVD",
                  "version": "3.1", "vector_string": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    });
    if i % 7 != 0 {
        cve["epss"] = json!({"score": format!("{:.5}", ((i * 7919) % 1000) as f64 / 1000.0)});
    }
    let mut package = json!({"name": format!("lib{}", i % 9), "version": format!("1.{}.0", i % 5),
                             "package_manager": "OS"});
    if fix {
        package["fixed_in_version"] = json!(format!("1.{}.{}", i % 5, i % 4 + 1));
    }
    Some(json!({
        "class_uid": 2002,
        "finding_info": {"uid": uid},
        "vulnerabilities": [{"cve": cve, "is_exploit_available": i % 3 == 0,
                             "is_fix_available": fix, "affected_packages": [package]}],
        "resources": [{"type": "AWS::ECR::ContainerImage", "uid": image_arn(i % 30),
                       "image": {"in_use_count": i % 4}}],
    }))
}

// ---------------------------------------------------------------------------------------------
// Trait 4: urgent, enriched

#[tokio::test]
async fn trait_4_is_an_urgent_enriched_hand_off() {
    let (rule, requests) = serving_fixtures();
    let fix = ContainerVulnerabilities::new(Settings::default(), hub(&[&rule]));
    let (report, captures) = run_file(&fix, HIGH).await;

    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(report.reason_code, "hand_off");
    assert_eq!(report.traits, [Trait::ExploitableVulnerability]);
    assert_eq!(report.priority, Some(shared::Priority::Urgent));
    assert!(not_checked(&report).is_empty(), "{:?}", report.not_checked);

    // One call for the one signal, for its uid.
    assert_eq!(rule.num_calls(), 1);
    assert_eq!(
        requests.lock().expect("lock")[0],
        ["arn:aws:inspector2:us-east-1:444455556666:finding/0316527ac3d2b7864cc74e683ce2f010"]
    );

    // Subject and attributes mark it urgent.
    let p = captures.published();
    assert_eq!(
        p[0].subject(),
        Some(
            "[PROPOSED][URGENT] payments-prod 444455556666/us-east-1: exploitable container vulnerabilities"
        )
    );
    assert_eq!(attribute(&captures, "priority").as_deref(), Some("urgent"));
    assert_eq!(
        attribute(&captures, "trait").as_deref(),
        Some("exploitable_vulnerability")
    );
    assert_eq!(
        attribute(&captures, "function").as_deref(),
        Some("container-vulnerabilities")
    );

    // One step for the one image: the bumps, the rebuild, the command to see the findings.
    assert_eq!(report.plan.len(), 1);
    let step = &report.plan[0];
    assert_eq!(step.api_call, "none (hand-off)");
    assert!(
        step.description.starts_with(
            "[urgent] Image payments-api@sha256:9d975b9c9a48 (tags v1.42.0, latest; in use by 3 pod(s)/task(s)): bump golang.org/x/net 0.7.0 -> 0.17.0, google.golang.org/grpc 1.53.0 -> 1.56.3."
        ),
        "{}",
        step.description
    );
    assert!(
        step.description
            .contains("Rebuild the image and redeploy the workloads running this image. Fixes CVE-2023-44487 (1 CVE(s)).")
    );
    assert_eq!(
        step.cli,
        r#"aws inspector2 list-findings --region us-east-1 --filter-criteria '{"ecrImageHash":[{"comparison":"EQUALS","value":"sha256:9d975b9c9a48fa7f6ec9894a93f9417ff769741031462765f5d9dfdfddfb1f62"}],"ecrImageRepositoryName":[{"comparison":"EQUALS","value":"payments-api"}],"findingStatus":[{"comparison":"EQUALS","value":"ACTIVE"}]}'"#
    );
    assert!(report.follow_ups.is_empty());

    // The JSON for CI pipelines.
    let json = captures.json();
    let d = &json["details"];
    assert_eq!(d["schema"], SCHEMA);
    assert_eq!(d["priority"], "urgent");
    assert_eq!(d["total"], 1);
    assert_eq!(d["shown"], 1);
    let cve = &d["cves"][0];
    assert_eq!(cve["id"], "CVE-2023-44487");
    assert_eq!(cve["epss"], 0.94422, "the EPSS string is parsed");
    assert_eq!(cve["cvss"], 7.5, "NVD's score, not the lower GHSA one");
    assert_eq!(cve["exploit_available"], true);
    assert_eq!(cve["fix_available"], true);
    assert_eq!(cve["enriched"], true);
    assert_eq!(
        cve["images"][0],
        "payments-api@sha256:9d975b9c9a48fa7f6ec9894a93f9417ff769741031462765f5d9dfdfddfb1f62"
    );
    let image = &d["images"][0];
    assert_eq!(image["repository"], "payments-api");
    assert_eq!(image["in_use_count"], 3);
    assert_eq!(image["priority"], "urgent");
    assert_eq!(image["fix"], "available");
    assert_eq!(
        image["packages"],
        json!([
            {"name": "golang.org/x/net", "installed": "0.7.0", "fixed_in": "0.17.0", "package_manager": "GOBINARY"},
            {"name": "google.golang.org/grpc", "installed": "1.53.0", "fixed_in": "1.56.3", "package_manager": "GOBINARY"}
        ])
    );
    assert_eq!(image["cves"], json!(["CVE-2023-44487"]));

    // The email.
    let email = captures.email();
    assert!(
        email.contains("  1. CVE-2023-44487 [exploitable] CVSS 7.5, EPSS 94.42%, exploit available, fix available | golang.org/x/net 0.7.0 -> 0.17.0, google.golang.org/grpc 1.53.0 -> 1.56.3 | payments-api@sha256:9d975b9c9a48"),
        "{email}"
    );
    assert!(email.contains("redeploy the workloads running this image"));
    // Everything was checked (only the harness's missing decision ledger is said).
    let gaps = email.split("Could not check:").nth(1).unwrap_or_default();
    let gaps = gaps.split("\n\n").next().unwrap_or_default();
    assert_eq!(
        gaps.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "{email}"
    );
    assert!(
        gaps.contains("decision ledger (LEDGER_TABLE) is not configured"),
        "{email}"
    );

    // Recorded as In Progress with the hand-off.
    let recorded = captures.recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status_id(), Some(2));
    assert!(
        recorded[0]
            .comment()
            .unwrap_or_default()
            .starts_with("eks-exposure-responder/container-vulnerabilities: proposed - Urgent: Rebuild and redeploy 1 container image(s) to fix 1 vulnerability (1 network-exploitable with a high likelihood of exploitation; a fix is published for 1)")
    );
}

// ---------------------------------------------------------------------------------------------
// Trait 5: routine; several packages, missing EPSS, no fix

#[tokio::test]
async fn trait_5_is_routine_ranked_by_epss_then_cvss_with_missing_epss_and_no_fix() {
    let (rule, requests) = serving_fixtures();
    let fix = ContainerVulnerabilities::new(Settings::default(), hub(&[&rule]));
    let (report, captures) = run_file(&fix, LOW).await;

    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(report.priority, Some(shared::Priority::Routine));
    // Three signals, one batched call.
    assert_eq!(rule.num_calls(), 1);
    assert_eq!(requests.lock().expect("lock")[0].len(), 3);

    let p = captures.published();
    let subject = p[0].subject().unwrap_or_default();
    assert_eq!(
        subject,
        "[PROPOSED] analytics-dev 444455556666/us-east-1: container vulnerabilities"
    );
    assert_eq!(attribute(&captures, "priority").as_deref(), Some("routine"));

    // EPSS 0.00131, EPSS 0.00044, then the one without EPSS (despite its higher CVSS).
    let d = captures.json()["details"].clone();
    assert_eq!(
        cve_ids(&d),
        ["CVE-2024-0727", "CVE-2023-29383", "CVE-2022-40897"]
    );
    assert_eq!(
        d["cves"][2]["epss"],
        Value::Null,
        "missing EPSS stays missing"
    );
    assert_eq!(d["cves"][1]["fix_available"], false);
    assert_eq!(d["cves"][1]["fix"], "none");

    // Grouped per image, in the same order; each image says whether a fix exists.
    let images: Vec<(&str, &str)> = d["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| {
            (
                i["repository"].as_str().expect("repo"),
                i["fix"].as_str().expect("fix"),
            )
        })
        .collect();
    assert_eq!(
        images,
        [
            ("analytics-etl", "available"),
            ("report-builder", "none"),
            ("notebook-runner", "available")
        ]
    );
    assert_eq!(
        d["images"][0]["packages"][1],
        json!({"name": "openssl-libs", "installed": "1:3.0.8-1.amzn2023.0.9",
               "fixed_in": "1:3.0.8-1.amzn2023.0.11", "package_manager": "OS"})
    );

    assert_eq!(report.plan.len(), 3);
    assert!(report.plan[0].description.starts_with("[routine] Image analytics-etl@sha256:ada757092f81 (tags 2026.05.01; in use by 1 pod(s)/task(s)): bump openssl 1:3.0.8-1.amzn2023.0.9 -> 1:3.0.8-1.amzn2023.0.11, openssl-libs 1:3.0.8-1.amzn2023.0.9 -> 1:3.0.8-1.amzn2023.0.11."), "{}", report.plan[0].description);
    assert!(
        report.plan[1].description.contains(
            "no fixed version is published for login 1:4.13-4.el9, passwd 1:4.13-4.el9: rebuild on a newer base image, drop the package, or mitigate."
        ),
        "{}",
        report.plan[1].description
    );
    assert!(
        report.plan[2]
            .description
            .contains("bump setuptools 58.1.0 -> 65.5.1")
    );

    let email = captures.email();
    assert!(
        email.contains("CVE-2022-40897 CVSS 5.9, EPSS ?, no known exploit, fix available"),
        "{email}"
    );
    assert!(
        email.contains("CVE-2023-29383 CVSS 3.3, EPSS 0.04%, no known exploit, no fix"),
        "{email}"
    );
    assert!(!email.contains("[URGENT]"));
}

// ---------------------------------------------------------------------------------------------
// Both traits on one exposure with other traits

#[tokio::test]
async fn a_multi_trait_exposure_handles_both_vulnerability_traits_only() {
    let (rule, _) = serving_fixtures();
    let fix = ContainerVulnerabilities::new(Settings::default(), hub(&[&rule]));
    let (report, captures) = run_file(&fix, MULTI).await;

    assert_eq!(
        report.traits,
        [Trait::ExploitableVulnerability, Trait::Vulnerability]
    );
    assert_eq!(report.priority, Some(shared::Priority::Urgent));
    let d = captures.json()["details"].clone();
    assert_eq!(cve_ids(&d), ["CVE-2021-44228", "CVE-2023-7104"]);
    assert_eq!(d["cves"][0]["trait"], "exploitable_vulnerability");
    assert_eq!(d["cves"][1]["trait"], "vulnerability");
    assert_eq!(d["images"][0]["repository"], "platform-gateway");
    assert_eq!(d["images"][0]["priority"], "urgent");
    assert_eq!(d["images"][1]["repository"], "platform-jobs");
    assert_eq!(d["images"][1]["priority"], "routine");
    assert_eq!(d["exploitable"], 1);
    assert!(
        report.plan[0]
            .description
            .starts_with("[urgent] Image platform-gateway@")
    );
    assert!(
        report.plan[1]
            .description
            .starts_with("[routine] Image platform-jobs@")
    );
    assert!(
        captures.published()[0]
            .subject()
            .unwrap_or_default()
            .starts_with("[PROPOSED][URGENT] platform-shared ")
    );
}

// ---------------------------------------------------------------------------------------------
// Enrichment failures degrade the message, never the invocation

#[tokio::test]
async fn access_denied_still_yields_a_useful_proposal_naming_what_is_missing() {
    let denied = mock!(aws_sdk_securityhub::Client::get_findings_v2).then_error(|| {
        GetFindingsV2Error::AccessDeniedException(
            AccessDeniedException::builder()
                .message("User is not authorized to perform: securityhub:GetFindings")
                .meta(
                    ErrorMetadata::builder()
                        .code("AccessDeniedException")
                        .message("User is not authorized to perform: securityhub:GetFindings")
                        .build(),
                )
                .build(),
        )
    });
    let fix = ContainerVulnerabilities::new(Settings::default(), hub(&[&denied]));
    let (report, captures) = run_file(&fix, HIGH).await;

    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(report.priority, Some(shared::Priority::Urgent));
    assert_eq!(denied.num_calls(), 1);
    assert_eq!(
        not_checked(&report),
        [
            "CVSS score and vector, EPSS score, exploit and fix availability, installed and fixed package versions, package manager, image tags and in-use count for 1 vulnerability (CVE-2023-44487): Security Hub denied securityhub:GetFindings (AccessDeniedException: User is not authorized to perform: securityhub:GetFindings); grant the function's role securityhub:GetFindings. Ranked on what the exposure carries (trait values, title, image)."
        ]
    );
    // Still a plan per image, from what the exposure carries.
    let step = &report.plan[0];
    assert!(
        step.description.starts_with("[urgent] Image payments-api@sha256:9d975b9c9a48: fixed versions not known for golang.org/x/net, google.golang.org/grpc (the details could not be fetched; see the command)."),
        "{}",
        step.description
    );
    // And the command to read the missing details.
    assert_eq!(report.follow_ups.len(), 1);
    assert_eq!(
        report.follow_ups[0].cli,
        r#"aws securityhub get-findings-v2 --region us-east-1 --filters '{"CompositeFilters":[{"Operator":"OR","StringFilters":[{"FieldName":"finding_info.uid","Filter":{"Comparison":"EQUALS","Value":"arn:aws:inspector2:us-east-1:444455556666:finding/0316527ac3d2b7864cc74e683ce2f010"}}]}]}'"#
    );
    let email = captures.email();
    assert!(email.contains("Could not check:"), "{email}");
    assert!(email.contains("grant the function's role securityhub:GetFindings"));
    assert!(
        email.contains(
            "1. CVE-2023-44487 [exploitable] CVSS ?, EPSS >= High, exploit available, fix unknown | golang.org/x/net, google.golang.org/grpc | payments-api@sha256:9d975b9c9a48 (not enriched)"
        ),
        "{email}"
    );
    let d = captures.json()["details"].clone();
    assert_eq!(d["cves"][0]["enriched"], false);
    assert!(
        d["cves"][0]["missing"]
            .as_str()
            .unwrap_or_default()
            .contains("AccessDeniedException")
    );
    assert_eq!(attribute(&captures, "priority").as_deref(), Some("urgent"));
}

#[tokio::test]
async fn throttling_after_retries_degrades_and_stops_further_calls() {
    let throttled = mock!(aws_sdk_securityhub::Client::get_findings_v2)
        .sequence()
        .http_status(
            429,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_string()),
        )
        .repeatedly()
        .build();
    let fix = ContainerVulnerabilities::new(Settings::default(), retrying_hub(&[&throttled]));
    let (report, captures) = run(&fix, many_cves_event(45), "payments-prod").await;

    // The SDK retried the first batch (3 attempts); no further batch was tried.
    assert_eq!(throttled.num_calls(), 3);
    assert_eq!(report.outcome, Outcome::Proposed, "{}", report.reason);
    assert_eq!(not_checked(&report).len(), 2, "{:?}", report.not_checked);
    assert!(
        report.not_checked[0].contains("for 20 vulnerabilities"),
        "{}",
        report.not_checked[0]
    );
    assert!(report.not_checked[0].contains(
        "Security Hub was still throttling or failing after the SDK's retries (ThrottlingException: Rate exceeded)"
    ));
    assert!(report.not_checked[1].contains("for 25 vulnerabilities"));
    assert!(
        report.not_checked[1]
            .contains("not requested after the previous call failed (securityhub:GetFindings failed (ThrottlingException)")
    );
    assert_eq!(captures.published().len(), 1);
    assert!(!report.plan.is_empty());
}

#[tokio::test]
async fn an_endpoint_without_get_findings_v2_is_said_so() {
    // moto_server answers an unknown route with an HTML 404; others say 501 NotImplemented.
    let answers = [
        (
            404,
            "<!doctype html><title>404 Not Found</title>",
            "no error code",
        ),
        (
            501,
            r#"{"__type":"NotImplemented","message":"not implemented"}"#,
            "NotImplemented",
        ),
    ];
    for (status, body, code) in answers {
        let missing = mock!(aws_sdk_securityhub::Client::get_findings_v2)
            .sequence()
            .http_status(status, Some(body.to_string()))
            .repeatedly()
            .build();
        let fix = ContainerVulnerabilities::new(Settings::default(), hub(&[&missing]));
        let (report, _) = run_file(&fix, LOW).await;
        assert_eq!(report.outcome, Outcome::Proposed, "{status}");
        assert_eq!(not_checked(&report).len(), 1, "{status}");
        let expected = format!(
            "for 3 vulnerabilities (CVE-2022-40897, CVE-2023-29383, CVE-2024-0727): the Security Hub endpoint does not implement securityhub:GetFindings ({code}; local emulators such as moto lack it)"
        );
        assert!(
            report.not_checked[0].contains(&expected),
            "{status}: {}",
            report.not_checked[0]
        );
    }
}

#[tokio::test]
async fn even_in_apply_mode_it_only_hands_off() {
    let (rule, _) = serving_fixtures();
    let fix = ContainerVulnerabilities::new(Settings::default(), hub(&[&rule]));
    let (report, captures) = run_mode(&fix, event(HIGH), "payments-prod", Mode::Apply).await;
    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(report.reason_code, "hand_off");
    assert_eq!(report.update_id, None);
    assert!(report.plan.iter().all(|s| s.api_call == "none (hand-off)"));
    assert_eq!(attribute(&captures, "outcome").as_deref(), Some("proposed"));
}

#[tokio::test]
async fn no_call_starts_once_the_time_budget_is_spent() {
    let (rule, _) = serving_fixtures();
    let settings = Settings {
        enrichment_budget: Duration::ZERO,
        ..Settings::default()
    };
    let fix = ContainerVulnerabilities::new(settings, hub(&[&rule]));
    let (report, _) = run_file(&fix, LOW).await;
    assert_eq!(rule.num_calls(), 0);
    assert_eq!(report.outcome, Outcome::Proposed);
    assert!(
        report.not_checked[0]
            .contains("for 3 vulnerabilities (CVE-2022-40897, CVE-2023-29383, CVE-2024-0727): the enrichment time budget (0s) ran out after 0 call(s)"),
        "{}",
        report.not_checked[0]
    );
}

#[tokio::test]
async fn enrichment_can_be_turned_off() {
    let (rule, _) = serving_fixtures();
    let settings = Settings {
        max_enriched_signals: 0,
        ..Settings::default()
    };
    let fix = ContainerVulnerabilities::new(settings, hub(&[&rule]));
    let (report, _) = run_file(&fix, LOW).await;
    assert_eq!(rule.num_calls(), 0);
    assert_eq!(report.outcome, Outcome::Proposed);
    assert!(report.not_checked[0].contains("enrichment is off (MAX_ENRICHED_SIGNALS=0)"));
}

#[tokio::test]
async fn a_finding_security_hub_does_not_return_is_reported_not_found() {
    // Serve only one of the three.
    let only = fixture("inspector-CVE-2024-0727.json");
    let (rule, _) = serving(move |uid| (only["finding_info"]["uid"] == uid).then(|| only.clone()));
    let fix = ContainerVulnerabilities::new(Settings::default(), hub(&[&rule]));
    let (report, _) = run_file(&fix, LOW).await;
    assert_eq!(not_checked(&report).len(), 1);
    assert!(
        report.not_checked[0].contains(
            "for 2 vulnerabilities (CVE-2022-40897, CVE-2023-29383): GetFindingsV2 returned no finding with this uid"
        ),
        "{}",
        report.not_checked[0]
    );
}

// ---------------------------------------------------------------------------------------------
// Hundreds of CVEs

#[tokio::test]
async fn five_hundred_cves_fit_one_message_with_the_exploitable_first() {
    let (rule, requests) = serving(generated_finding);
    let fix = ContainerVulnerabilities::new(Settings::default(), hub(&[&rule]));
    let (report, captures) = run(&fix, many_cves_event(500), "payments-prod").await;

    // Bounded enrichment: 100 signals in 5 calls of 20.
    assert_eq!(rule.num_calls(), 5);
    let reqs = requests.lock().expect("lock").clone();
    assert!(reqs.iter().all(|r| r.len() == 20));
    assert_eq!(report.outcome, Outcome::Proposed);

    // One message, under the SNS limit, with the function's own bounded details (not the
    // notifier's last-resort placeholder).
    assert_eq!(captures.published().len(), 1);
    let size = published_size(&captures);
    assert!(size < SNS_LIMIT, "published {size} bytes");
    let json = captures.json();
    let d = &json["details"];
    assert_eq!(d["schema"], SCHEMA);
    assert_eq!(d["total"], 500);
    assert_eq!(d["shown"], 50);
    assert_eq!(d["exploitable"], 100);
    assert_eq!(d["enriched"], 100, "the 100 most urgent were enriched");
    assert_eq!(d["omitted"]["count"], 450);
    assert_eq!(d["omitted"]["exploitable"], 50);
    assert_eq!(d["omitted"]["ids"].as_array().map(Vec::len), Some(450));
    assert_eq!(d["images_total"], 30);
    assert_eq!(d["images_shown"], 25);

    // The first entries are the exploitable ones, enriched, in ranking order.
    let cves = d["cves"].as_array().expect("cves");
    assert!(
        cves.iter()
            .all(|c| c["exploitable"] == true && c["enriched"] == true)
    );
    let key = |c: &Value| {
        (
            c["exploit_available"] == true,
            c["epss"].as_f64().unwrap_or(-1.0),
        )
    };
    for w in cves.windows(2) {
        let (a, b) = (key(&w[0]), key(&w[1]));
        assert!(
            (a.0 && !b.0) || (a.0 == b.0 && a.1 >= b.1),
            "{} before {}",
            w[0]["id"],
            w[1]["id"]
        );
    }
    assert_eq!(cves[0]["exploit_available"], true);

    // The email: top entries in full, then the rest counted.
    let email = captures.email();
    let first = email
        .lines()
        .find(|l| l.starts_with("  1. CVE-"))
        .expect("ranked list");
    assert!(first.contains("[exploitable]"), "{first}");
    assert!(
        email.contains("  … and 480 more (80 exploitable, "),
        "{email}"
    );
    assert!(email.contains("with fixes)"));

    // The 400 not enriched are named once, with why.
    assert!(
        report
            .not_checked
            .iter()
            .any(|l| l.contains("for 400 vulnerabilities") && l.contains("MAX_ENRICHED_SIGNALS"))
    );

    // A step per image, bounded, then one for the rest.
    assert_eq!(report.plan.len(), 21);
    assert!(
        report.plan[20]
            .description
            .starts_with("… and 10 more image(s)")
    );
    assert!(report.plan[0].description.starts_with("[urgent] "));

    let subject = captures.published()[0]
        .subject()
        .unwrap_or_default()
        .to_string();
    assert!(subject.starts_with("[PROPOSED][URGENT] payments-prod"));
    assert_eq!(attribute(&captures, "priority").as_deref(), Some("urgent"));
}

/// Like `generated_finding`, with a dozen packages of very long names and versions each.
fn fat_finding(uid: &str) -> Option<Value> {
    let mut f = generated_finding(uid)?;
    let packages: Vec<Value> = (0..12)
        .map(|k| {
            json!({"name": format!("{}-{k}", "n".repeat(280)), "version": "9".repeat(290),
                   "fixed_in_version": "8".repeat(290), "package_manager": "GENERIC"})
        })
        .collect();
    f["vulnerabilities"][0]["affected_packages"] = json!(packages);
    Some(f)
}

#[tokio::test]
async fn fat_findings_still_fit_with_fewer_entries_in_full() {
    let (rule, _) = serving(fat_finding);
    let fix = ContainerVulnerabilities::new(Settings::default(), hub(&[&rule]));
    let (report, captures) = run(&fix, many_cves_event(500), "payments-prod").await;
    assert_eq!(report.outcome, Outcome::Proposed);
    let size = published_size(&captures);
    assert!(size < SNS_LIMIT, "published {size} bytes");
    let d = captures.json()["details"].clone();
    assert_eq!(
        d["schema"], SCHEMA,
        "the function bounded its details itself"
    );
    let shown = d["shown"].as_u64().unwrap_or(0);
    assert!(shown > 0 && shown < 50, "{shown}");
    assert_eq!(shown + d["omitted"]["count"].as_u64().unwrap_or(0), 500);
    assert_eq!(d["cves"][0]["exploitable"], true);
}

// ---------------------------------------------------------------------------------------------
// The published schema of `details`

const SCHEMA_FILE: &str = "docs/schema/container-vulnerabilities-details-v1.json";

fn schema_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(SCHEMA_FILE)
}

/// The checked-in schema is the one the types generate. `UPDATE_SCHEMA=1 cargo test -p
/// container-vulnerabilities --test pipeline schema` writes it after a change to the types.
#[test]
fn the_published_schema_is_generated_from_the_details_types() {
    let generated = container_vulnerabilities::decide::details_schema();
    let text = serde_json::to_string_pretty(&generated).expect("schema JSON") + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(schema_path(), &text).expect("write the schema");
    }
    let published = std::fs::read_to_string(schema_path()).expect("the published schema");
    assert_eq!(
        published, text,
        "{SCHEMA_FILE} is stale: regenerate it with UPDATE_SCHEMA=1 cargo test -p container-vulnerabilities --test pipeline schema"
    );
}

/// Every sample event this function handles produces `details` valid against the published
/// schema, enriched or not, and so does a 500-CVE exposure cut down to fit SNS.
#[tokio::test]
async fn every_sample_output_validates_against_the_published_schema() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path()).expect("schema"))
            .expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let mut validated = Vec::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("events/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.starts_with("eks-") && f.ends_with(".json"))
        .collect();
    files.sort();
    for file in &files {
        for enriched in [true, false] {
            let (rule, _) = serving_fixtures();
            let settings = Settings {
                max_enriched_signals: if enriched { 50 } else { 0 },
                ..Settings::default()
            };
            let fix = ContainerVulnerabilities::new(settings, hub(&[&rule]));
            let (report, _) = run(&fix, event(file), cluster_of(file)).await;
            let Some(details) = report.details else {
                continue;
            };
            let errors: Vec<String> = validator
                .iter_errors(&details)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{file} (enriched {enriched}): {errors:?}"
            );
            validated.push(file.clone());
        }
    }
    for sample in [HIGH, LOW, MULTI] {
        assert!(
            validated.iter().any(|f| f == sample),
            "{sample} gave no details"
        );
    }

    let (rule, _) = serving(generated_finding);
    let fix = ContainerVulnerabilities::new(Settings::default(), hub(&[&rule]));
    let (report, _) = run(&fix, many_cves_event(500), "payments-prod").await;
    let details = report.details.expect("details");
    assert!(details["omitted"]["count"].as_u64().unwrap_or(0) > 0);
    assert!(validator.is_valid(&details));
}
