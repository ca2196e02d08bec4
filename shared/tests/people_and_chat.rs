//! Every sample event's message, for every outcome and priority: its SNS attributes and whether
//! a person reads it (`for_people`), kept in tests/template/fixtures/messages-for-people.json so
//! the template tests hold the e-mail subscription's filter policy to the same answer; and its
//! chat notification, valid against docs/schema/chat-custom-notification-v1.json.

use std::path::PathBuf;

use shared::event::gate::{Gate, gate, parse_event};
use shared::output::chat;
use shared::output::notify::{KIND_DIGEST, attributes, for_people};
use shared::{DecisionCode, Mode, Outcome, PlanStep, Priority, Report, Revert, Trait};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

const FIXTURE: &str = "tests/template/fixtures/messages-for-people.json";

#[derive(serde::Deserialize)]
struct Manifest {
    event: Vec<Row>,
}

#[derive(serde::Deserialize)]
struct Row {
    file: String,
    expect: String,
    #[serde(default)]
    routes_to: Vec<String>,
}

const OUTCOMES: [(Outcome, DecisionCode); 6] = [
    (Outcome::Applied, DecisionCode::Applied),
    (Outcome::Proposed, DecisionCode::ModePropose),
    (Outcome::AlreadyCompliant, DecisionCode::AlreadyCompliant),
    (Outcome::Deferred, DecisionCode::UpdateInProgress),
    (Outcome::Skipped, DecisionCode::IgnoredByTag),
    (Outcome::Failed, DecisionCode::UpdateFailed),
];

/// Every (sample, function, outcome, priority) report, as the functions would send it.
fn reports() -> Vec<(String, Report)> {
    let text = std::fs::read_to_string(root().join("events/manifest.toml")).expect("manifest");
    let manifest: Manifest = toml::from_str(&text).expect("manifest parses");
    let mut out = Vec::new();
    for row in manifest.event.iter().filter(|r| r.expect == "actionable") {
        let bytes = std::fs::read(root().join("events").join(&row.file)).expect("event");
        let event = parse_event(&bytes).expect("parses");
        let Ok(Gate::Actionable(exposure)) = gate(&event, &Trait::ALL) else {
            panic!("{} is actionable", row.file);
        };
        for function in &row.routes_to {
            let function: &'static str = Box::leak(function.clone().into_boxed_str());
            for (outcome, code) in OUTCOMES {
                for priority in [
                    None,
                    Some(Priority::Urgent),
                    Some(Priority::Routine),
                    Some(Priority::Low),
                ] {
                    let mut r = Report::new(function, &exposure, Mode::Apply, Mode::Apply)
                        .with_outcome(outcome, code, "the reason, with `backticks` and <!here>");
                    r.priority = priority;
                    r.decision_id = Some(format!("d-{}-{function}", row.file));
                    r.plan = vec![PlanStep {
                        description: "Restrict public access".into(),
                        api_call: "eks:UpdateClusterConfig".into(),
                        parameters: serde_json::Value::Null,
                        cli: "aws eks update-cluster-config --name 'payments-prod'".into(),
                    }];
                    r.revert = Some(Revert {
                        description: "Open it again".into(),
                        previous: serde_json::Value::Null,
                        cli: Some("aws eks update-cluster-config --name 'x'".into()),
                    });
                    let label = format!(
                        "{}/{function}/{}/{}",
                        row.file,
                        outcome.id(),
                        priority.map_or("none".to_string(), |p| p.to_string())
                    );
                    out.push((label, r));
                }
            }
        }
    }
    assert!(out.len() > 100, "{} reports", out.len());
    out
}

fn rows() -> serde_json::Value {
    let mut rows: Vec<serde_json::Value> = reports()
        .iter()
        .map(|(label, r)| {
            let a = attributes(r);
            serde_json::json!({ "message": label, "attributes": a, "for_people": for_people(&a) })
        })
        .collect();
    let digest: std::collections::BTreeMap<&'static str, String> = [
        ("kind", KIND_DIGEST.to_string()),
        ("function", "decision-digest".to_string()),
    ]
    .into();
    rows.push(serde_json::json!({ "message": "digest", "attributes": digest, "for_people": for_people(&digest) }));
    serde_json::Value::Array(rows)
}

/// `UPDATE_FIXTURES=1 cargo test -p eks-exposure-shared --test people_and_chat` rewrites it.
#[test]
fn the_template_tests_see_every_sample_message_s_attributes() {
    let text = serde_json::to_string_pretty(&rows()).expect("JSON") + "\n";
    let path = root().join(FIXTURE);
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, &text).expect("write the fixture");
    }
    let kept = std::fs::read_to_string(&path).expect("the fixture");
    assert!(
        kept == text,
        "{FIXTURE} is stale: UPDATE_FIXTURES=1 cargo test -p eks-exposure-shared --test people_and_chat"
    );
}

#[test]
fn people_read_urgent_failed_and_applied_decisions_and_the_digest_only() {
    for (label, r) in reports() {
        let expected = r.priority == Some(Priority::Urgent)
            || matches!(r.outcome, Outcome::Failed | Outcome::Applied);
        assert_eq!(for_people(&attributes(&r)), expected, "{label}");
        assert_eq!(attributes(&r)["kind"], "decision", "{label}");
    }
}

#[test]
fn every_sample_chat_message_validates_against_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/schema/chat-custom-notification-v1.json"))
            .expect("schema"),
    )
    .expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let mut checked = 0;
    for (label, r) in reports() {
        let a = attributes(&r);
        let n = chat::of_report(&r, &a);
        let json: serde_json::Value = serde_json::from_str(&n.to_json()).expect("JSON");
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{label}: {errors:?}");
        // Finding text cannot open a code span, a link or a mention.
        let description = json["content"]["description"].as_str().unwrap_or_default();
        assert!(
            !description.contains('`') && !description.contains("<!"),
            "{label}: {description}"
        );
        checked += 1;
    }
    assert!(checked > 100);
    // The schema is not a formality: a message off the documented shape fails it.
    for broken in [
        serde_json::json!({"version": "2.0", "source": "custom", "content": {"textType": "client-markdown", "title": "t", "description": "d"}}),
        serde_json::json!({"version": "1.0", "source": "custom", "content": {"textType": "markdown", "title": "t", "description": "d"}}),
        serde_json::json!({"version": "1.0", "source": "custom", "content": {"title": "t", "description": "d", "next_steps": []}}),
    ] {
        assert!(!validator.is_valid(&broken), "{broken}");
    }
}
