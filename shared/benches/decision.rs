//! The pure decision path, no I/O: parse the EventBridge event as the Lambda runtime and the
//! pipeline do (request body → the runtime's `RawValue` payload → typed event), gate it (which classifies every
//! contributing finding into a trait), decide the mode from the cluster's tags, plan, render the
//! SNS message (`shared::output::notify::render`) and the finding comment (`shared::output::record::record_for`).
//!
//! `make bench` runs it (`cargo bench -p eks-exposure-shared --bench decision`) and reads
//! criterion's estimates from `target/criterion/decision/<id>/new/estimates.json`:
//!
//! * `small`        events/eks-public-access.json (one signal), as endpoint-access decides it
//! * `multi-trait/<function>`  events/eks-multi-trait.json (five signals, every known trait)
//!   as each function decides it (its own traits), and `multi-trait/all-traits`: one decision
//!   over every trait, which no function makes (the sum of their work, for reference)
//! * `cves/<n>`     eks-high-priority-vulnerability.json with its CVE signal cloned to n
//!   distinct CVEs over n/20 images (n = 10, 100, 1000), as container-vulnerabilities decides
//!   it: the growth from small to large.
//! * `stages/*`     the multi-trait decision one stage at a time (what dominates), and the
//!   parse this replaced (bytes → `serde_json::Value` → typed event) for comparison.
//!
//! The gate runs with the function's own traits (`Remediation::OWNS`), as in the pipeline.
//! The plan is a pure function of plain data written here in the shape the functions' own
//! planners have (one EKS step per cluster trait, a ranked per-image rebuild list for CVEs):
//! the function crates depend on `shared`, so `shared`'s benches cannot call them.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

use shared::Trait;
use shared::aws::eks::{ClusterState, client_request_token};
use shared::config::Mode;
use shared::event::exposure::Signal;
use shared::event::gate::{Exposure, ExposureEvent, Gate, IncomingEvent, event_from_value, gate};
use shared::guardrails::{ModeDecision, decide_mode};
use shared::output::notify::{Message, email_text, render, structured_body};
use shared::output::record::{FindingRecord, record_for};
use shared::output::report::{Outcome, PlanStep, Report, Revert, Stage};
use shared::output::shell::Cli;

/// A sample event as Lambda delivers it: EventBridge sends compact JSON (the files in
/// `events/` are indented for people: 9.8 KB for the multi-trait finding, 6.3 KB compact).
fn read_event(name: &str) -> Vec<u8> {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let pretty = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value: Value = serde_json::from_slice(&pretty).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::to_vec(&value).unwrap()
}

/// eks-high-priority-vulnerability.json with `n` CVE signals (distinct CVE ids, every 20th
/// signal on a new image, one in five exploitable) and its public-endpoint signal.
pub fn cve_event(n: usize) -> Vec<u8> {
    let mut event: Value =
        serde_json::from_slice(&read_event("eks-high-priority-vulnerability.json")).unwrap();
    let info = &mut event["detail"]["findings"][0]["finding_info"];
    let related = info["related_events"].as_array().unwrap().clone();
    let (cves, others): (Vec<Value>, Vec<Value>) = related
        .into_iter()
        .partition(|e| e["title"].as_str().is_some_and(|t| t.starts_with("CVE-")));
    let template = &cves[0];
    let mut out = Vec::with_capacity(n + others.len());
    for i in 0..n {
        let mut e = template.clone();
        e["uid"] = json!(format!(
            "arn:aws:inspector2:us-east-1:444455556666:finding/{i:032x}"
        ));
        e["title"] = json!(format!("CVE-2024-{:05} - libexample{}", 10000 + i, i % 7));
        e["severity"] = json!(["Critical", "High", "Medium", "Low"][i % 4]);
        e["observables"][0]["value"] = json!(format!(
            "arn:aws:ecr:us-east-1:444455556666:repository/service-{:03}/sha256:{:064x}",
            i / 20,
            i / 20
        ));
        if i % 5 != 0 {
            // Ordinary vulnerability (trait 5): only the `Vulnerable` value.
            e["traits"][0]["name"] =
                json!("The Amazon EKS cluster has a container with software vulnerabilities");
            e["traits"][0]["values"] = json!(["Vulnerable"]);
        }
        out.push(e);
    }
    out.extend(others);
    info["related_events_count"] = json!(out.len());
    info["related_events"] = Value::Array(out);
    serde_json::to_vec(&event).unwrap()
}

/// The live cluster the plan is made for: every exposure present.
fn live_cluster(name: &str) -> ClusterState {
    ClusterState {
        name: name.to_string(),
        status: "ACTIVE".into(),
        version: Some("1.24".into()),
        platform_version: Some("eks.20".into()),
        endpoint_public_access: true,
        endpoint_private_access: false,
        public_access_cidrs: vec!["0.0.0.0/0".into()],
        encryption: Vec::new(),
        support_type: Some("EXTENDED".into()),
        role_arn: None,
        tags: BTreeMap::from([
            ("team".to_string(), "payments".to_string()),
            ("environment".to_string(), "prod".to_string()),
        ]),
    }
}

fn eks_step(e: &Exposure, description: &str, command: &str, api: &str, params: Value) -> PlanStep {
    let desired = params.to_string();
    let token = client_request_token(e, api, &desired);
    let c = &e.cluster;
    let mut cli = Cli::aws("eks", command)
        .arg("--region", &c.region)
        .arg("--name", &c.name);
    if let Value::Object(map) = &params {
        for (k, v) in map {
            let flag = format!("--{}", k.replace('_', "-"));
            let value = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            cli = cli.arg(&flag, &value);
        }
    }
    let mut parameters = params;
    parameters["name"] = json!(c.name);
    parameters["clientRequestToken"] = json!(token);
    PlanStep {
        description: description.to_string(),
        api_call: format!("eks:{api}"),
        parameters,
        cli: cli.arg("--client-request-token", &token).build(),
    }
}

/// One image to rebuild and the CVEs that make it so.
struct ImageWork<'a> {
    image: &'a str,
    exploitable: usize,
    cves: Vec<&'a Signal>,
}

fn severity_rank(s: &Signal) -> u8 {
    let title = s.title.as_deref().unwrap_or("");
    // The signal keeps no severity; the rank falls back on exploitability and the CVE id.
    u8::from(s.trait_id() != Some(Trait::ExploitableVulnerability)) * 2 + u8::from(title.is_empty())
}

/// The plan as a pure function of the exposure, the live cluster and the mode.
pub fn plan(exposure: &Exposure, cluster: &ClusterState, mode: &ModeDecision) -> Report {
    let mut r = Report::new("decision-bench", exposure, mode.effective, mode.configured);
    r.held_back = mode.held_back.clone();
    r.live_state = json!({
        "status": cluster.status,
        "version": cluster.version,
        "resourcesVpcConfig": {
            "endpointPublicAccess": cluster.endpoint_public_access,
            "endpointPrivateAccess": cluster.endpoint_private_access,
            "publicAccessCidrs": cluster.public_access_cidrs,
        },
        "encryptionConfig": cluster.encryption,
    });
    r.facts.push(format!("cluster status: {}", cluster.status));
    for t in &exposure.handled {
        match t {
            Trait::PublicEndpoint => {
                r.facts.push(format!(
                    "public endpoint: ON, reachable from {}",
                    cluster.public_access_cidrs.join(", ")
                ));
                r.plan.push(eks_step(
                    exposure,
                    "stage 1 of 2: enable private endpoint access; public access stays on",
                    "update-cluster-config",
                    "UpdateClusterConfig",
                    json!({ "resources_vpc_config": "endpointPublicAccess=true,endpointPrivateAccess=true" }),
                ));
                r.stage = Some(Stage { number: 1, of: 2 });
                r.revert = Some(Revert {
                    description: "restore the previous endpoint access".into(),
                    previous: json!({ "endpointPublicAccess": true, "endpointPrivateAccess": false }),
                    cli: None,
                });
            }
            Trait::UnsupportedVersion => {
                let current = cluster.version.as_deref().unwrap_or("unknown");
                r.facts.push(format!("Kubernetes version: {current}"));
                r.plan.push(eks_step(
                    exposure,
                    "upgrade the control plane one minor version",
                    "update-cluster-version",
                    "UpdateClusterVersion",
                    json!({ "kubernetes_version": "1.25" }),
                ));
            }
            Trait::UnencryptedSecrets => {
                r.facts
                    .push("secrets encryption: none (no KMS key on the cluster)".into());
                r.irreversible = true;
                r.plan.push(eks_step(
                    exposure,
                    "encrypt Kubernetes secrets with a customer KMS key (cannot be undone)",
                    "associate-encryption-config",
                    "AssociateEncryptionConfig",
                    json!({ "encryption_config": "resources=secrets,provider={keyArn=alias/eks-secrets}" }),
                ));
            }
            Trait::ExploitableVulnerability | Trait::Vulnerability => {}
        }
    }
    // CVEs: one entry per image, exploitable first, then by CVE count (the hand-off list).
    let mut images: BTreeMap<&str, ImageWork<'_>> = BTreeMap::new();
    for s in exposure.signals.iter().filter(|s| {
        s.trait_id().is_some_and(|t| {
            matches!(t, Trait::ExploitableVulnerability | Trait::Vulnerability)
                && exposure.handled.contains(&t)
        })
    }) {
        let image = s
            .resources
            .first()
            .map_or("(unknown image)", String::as_str);
        let w = images.entry(image).or_insert_with(|| ImageWork {
            image,
            exploitable: 0,
            cves: Vec::new(),
        });
        w.exploitable += usize::from(s.trait_id() == Some(Trait::ExploitableVulnerability));
        w.cves.push(s);
    }
    if !images.is_empty() {
        let mut ranked: Vec<ImageWork<'_>> = images.into_values().collect();
        ranked.sort_by(|a, b| {
            b.exploitable
                .cmp(&a.exploitable)
                .then(b.cves.len().cmp(&a.cves.len()))
                .then(a.image.cmp(b.image))
        });
        let mut list = Vec::with_capacity(ranked.len());
        for w in &mut ranked {
            w.cves
                .sort_by_key(|s| (severity_rank(s), s.title.as_deref()));
            let cves: Vec<&str> = w.cves.iter().filter_map(|s| s.title.as_deref()).collect();
            r.details_text.push(format!(
                "{}: {} CVEs ({} exploitable), first {}",
                w.image,
                w.cves.len(),
                w.exploitable,
                cves.first().copied().unwrap_or("-")
            ));
            list.push(json!({ "image": w.image, "exploitable": w.exploitable, "cves": cves }));
        }
        r.priority = Some(if ranked[0].exploitable > 0 {
            shared::Priority::Urgent
        } else {
            shared::Priority::Routine
        });
        r.facts.push(format!("{} images to rebuild", ranked.len()));
        r.details = Some(json!({ "images": list }));
    }
    let summary = format!("{} step(s) planned", r.plan.len());
    r.with_outcome(
        Outcome::Proposed,
        shared::DecisionCode::ModePropose,
        format!("{summary} — not applied: the function runs in propose mode (MODE=propose)"),
    )
}

/// What `lambda_runtime` 1.x does with the request body before calling the handler (its
/// crate-private `deserializer::deserialize`): serde_path_to_error over a slice deserializer,
/// into the handler's payload type, `shared::lambda::Payload`.
fn runtime_payload(bytes: &[u8]) -> shared::lambda::Payload {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).expect("the sample is JSON")
}

/// request body → the runtime's payload (`RawValue`) → typed event (`IncomingEvent`, as
/// `shared::pipeline::respond` does) → gate (classify) → mode → plan → render + finding comment.
/// `cluster` is what DescribeCluster returned: I/O, so made before the clock starts.
pub fn decide(
    bytes: &[u8],
    owns: &[Trait],
    cluster: &ClusterState,
) -> (Message, Option<FindingRecord>) {
    let payload = runtime_payload(bytes);
    let event = payload.parse().expect("the sample parses");
    let exposure = actionable(&event, owns);
    let mode = decide_mode(Mode::Propose, &cluster.tags, false);
    let report = plan(&exposure, cluster, &mode);
    let record = record_for(&report);
    (render(&report), record)
}

/// The live cluster of a sample event's finding.
fn cluster_of(bytes: &[u8]) -> ClusterState {
    let payload = runtime_payload(bytes);
    let event = payload.parse().expect("the sample parses");
    live_cluster(&actionable(&event, &Trait::ALL).cluster.name)
}

fn actionable(event: &ExposureEvent<'_>, owns: &[Trait]) -> Exposure {
    match gate(event, owns).expect("the sample passes the gate") {
        Gate::Actionable(e) => e,
        Gate::Skip(_, reason) => panic!("the sample is skipped: {}", reason.describe()),
    }
}

/// The all-traits decision of the multi-trait finding, one stage at a time: what dominates.
fn stages(c: &mut Criterion) {
    let bytes = read_event("eks-multi-trait.json");
    let payload = runtime_payload(&bytes);
    let event = payload.parse().unwrap();
    let exposure = actionable(&event, &Trait::ALL);
    let cluster = live_cluster(&exposure.cluster.name);
    let mode = decide_mode(Mode::Propose, &cluster.tags, false);
    let report = plan(&exposure, &cluster, &mode);
    let message = render(&report);

    let mut g = c.benchmark_group("stages");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    g.bench_function("1-runtime-payload", |b| {
        b.iter(|| runtime_payload(black_box(&bytes)))
    });
    g.bench_function("2-typed-event", |b| {
        b.iter(|| black_box(&payload).parse().unwrap())
    });
    g.bench_function("3-gate-classify", |b| {
        b.iter(|| gate(black_box(&event), &Trait::ALL).unwrap())
    });
    g.bench_function("4-mode-plan", |b| {
        b.iter(|| {
            let mode = decide_mode(Mode::Propose, black_box(&cluster.tags), false);
            plan(black_box(&exposure), &cluster, &mode)
        })
    });
    g.bench_function("5-render", |b| {
        b.iter(|| (render(black_box(&report)), record_for(&report)))
    });
    g.bench_function("5a-render-email-text", |b| {
        b.iter(|| email_text(black_box(&report)))
    });
    g.bench_function("5b-render-json-report", |b| {
        b.iter(|| serde_json::to_string(black_box(&report)).unwrap())
    });
    let json = message.json_report();
    g.bench_function("6-sns-body-two-pass", |b| {
        b.iter(|| structured_body(black_box(&message.email_text), black_box(&json)))
    });
    // For comparison: the parse this replaced, bytes → `serde_json::Value` (the runtime's
    // payload type before) → typed event with the path tracked.
    g.bench_function("alt-json-value-then-typed", |b| {
        b.iter(|| {
            let value: Value = serde_json::from_slice(black_box(&bytes)).unwrap();
            event_from_value(value).unwrap()
        })
    });
    g.bench_function("alt-typed-without-payload", |b| {
        b.iter(|| serde_json::from_slice::<ExposureEvent<'_>>(black_box(&bytes)).unwrap())
    });
    g.finish();
}

/// The traits each function owns (its `Remediation::OWNS`; EventBridge routes a finding to
/// every function whose trait is on it, and each plans only its own).
const FUNCTIONS: [(&str, &[Trait]); 4] = [
    ("endpoint-access", &[Trait::PublicEndpoint]),
    ("kubernetes-version", &[Trait::UnsupportedVersion]),
    ("secrets-encryption", &[Trait::UnencryptedSecrets]),
    (
        "container-vulnerabilities",
        &[Trait::ExploitableVulnerability, Trait::Vulnerability],
    ),
];

fn decision(c: &mut Criterion) {
    let mut g = c.benchmark_group("decision");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    let small = read_event("eks-public-access.json");
    let cluster = cluster_of(&small);
    let (message, _) = decide(&small, FUNCTIONS[0].1, &cluster);
    assert!(message.subject.starts_with("[PROPOSED]"));
    g.bench_function("small", |b| {
        b.iter(|| decide(black_box(&small), FUNCTIONS[0].1, &cluster))
    });
    // The multi-trait finding as each function decides it, and as one decision over every
    // trait (no function does that; the sum of the work, for reference).
    let multi = read_event("eks-multi-trait.json");
    let cluster = cluster_of(&multi);
    for (function, owns) in FUNCTIONS
        .iter()
        .copied()
        .chain([("all-traits", &Trait::ALL[..])])
    {
        let (message, _) = decide(&multi, owns, &cluster);
        assert!(message.subject.starts_with("[PROPOSED]"), "{function}");
        g.bench_with_input(
            BenchmarkId::new("multi-trait", function),
            &multi,
            |b, bytes| b.iter(|| decide(black_box(bytes), owns, &cluster)),
        );
    }
    let cves = FUNCTIONS[3].1;
    for n in [10usize, 100, 1000] {
        let bytes = cve_event(n);
        let cluster = cluster_of(&bytes);
        let (message, _) = decide(&bytes, cves, &cluster);
        assert!(
            message
                .json_report()
                .contains(&format!("CVE-2024-{:05}", 10000 + n - 1))
        );
        // One element per finding: elements/s is findings/s for every size.
        g.bench_with_input(BenchmarkId::new("cves", n), &bytes, |b, bytes| {
            b.iter(|| decide(black_box(bytes), cves, &cluster));
        });
    }
    g.finish();
}

criterion_group!(benches, decision, stages);
criterion_main!(benches);
