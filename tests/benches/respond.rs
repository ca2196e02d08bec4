//! Each function's whole `respond` for its sample event, in propose mode, with every AWS call
//! mocked to answer at once: parse, gate, the live reads, the decision, the SNS message and the
//! finding record, as the Lambda runs them. What it adds to an event is this time plus the AWS
//! calls' own latency (tens of milliseconds each), which no code here can shorten.
//!
//! `make bench` runs it (`cargo bench -p integration-tests --bench respond`) and reads
//! criterion's estimates from `target/criterion/respond/<function>/new/estimates.json`.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

use shared::pipeline::{Remediation, respond};
use shared::testing::aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use shared::testing::{ClusterFixture, config, eks_client, event, mocked_deps};
use shared::{Mode, Outcome};

/// The EKS reads of every function, answering the clean path (a 1.24 cluster with no node
/// groups, no insights and no version list, so kubernetes-version plans from the finding).
fn eks_rules() -> Vec<Rule> {
    let mut cluster = ClusterFixture::new("payments-prod");
    cluster.version = "1.24".into();
    vec![
        cluster.describe_rule(),
        mock!(aws_sdk_eks::Client::describe_cluster_versions).then_output(|| {
            aws_sdk_eks::operation::describe_cluster_versions::DescribeClusterVersionsOutput::builder().build()
        }),
        mock!(aws_sdk_eks::Client::list_nodegroups).then_output(|| {
            aws_sdk_eks::operation::list_nodegroups::ListNodegroupsOutput::builder().build()
        }),
        mock!(aws_sdk_eks::Client::list_insights).then_output(|| {
            aws_sdk_eks::operation::list_insights::ListInsightsOutput::builder().build()
        }),
    ]
}

fn bench_function<R: Remediation>(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    fix: &R,
    file: &str,
) {
    let payload = serde_json::value::to_raw_value(&event(file)).expect("sample event");
    let rules = eks_rules();
    let rule_refs: Vec<&Rule> = rules.iter().collect();
    // Fresh dependencies per event (outside the timing): the capturing clients keep every
    // message they publish.
    let setup = || mocked_deps(config(Mode::Propose), eks_client(&rule_refs)).0;
    let check = runtime
        .block_on(respond(fix, &setup(), payload.clone(), None))
        .expect("a report");
    assert_eq!(check.outcome, Outcome::Proposed, "{}: {file}", R::FUNCTION);
    c.benchmark_group("respond")
        .bench_function(R::FUNCTION, |b| {
            b.iter_batched(
                setup,
                |deps| black_box(runtime.block_on(respond(fix, &deps, payload.clone(), None))),
                BatchSize::SmallInput,
            )
        });
}

fn functions(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let none: HashMap<String, String> = HashMap::new();
    bench_function(
        c,
        &runtime,
        &endpoint_access::EndpointAccess::new(endpoint_access::Settings::default()),
        "eks-public-access.json",
    );
    bench_function(
        c,
        &runtime,
        &secrets_encryption::SecretsEncryption::new(
            secrets_encryption::Settings::from_env(&none).expect("settings"),
        ),
        "eks-unencrypted-secrets.json",
    );
    bench_function(
        c,
        &runtime,
        &kubernetes_version::KubernetesVersion::new(),
        "eks-unsupported-kubernetes-version.json",
    );
    // Enrichment answered at once with no finding: the CVE path is ranked and planned from what
    // the exposure carries, plus one GetFindingsV2 round trip.
    let findings = mock!(aws_sdk_securityhub::Client::get_findings_v2).then_output(|| {
        aws_sdk_securityhub::operation::get_findings_v2::GetFindingsV2Output::builder().build()
    });
    bench_function(
        c,
        &runtime,
        &container_vulnerabilities::ContainerVulnerabilities::new(
            container_vulnerabilities::Settings::from_env(&none).expect("settings"),
            mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&findings]),
        ),
        "eks-high-priority-vulnerability.json",
    );
}

criterion_group!(benches, functions);
criterion_main!(benches);
