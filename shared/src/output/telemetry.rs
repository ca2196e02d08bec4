//! One structured log line per decision, and CloudWatch Embedded Metric Format counts.

use std::io::Write;

use crate::output::report::{EffectStatus, Report};

pub const METRIC_NAMESPACE: &str = "EksExposureResponder";

/// JSON logs on Lambda (`AWS_LAMBDA_LOG_FORMAT=JSON`), text locally.
pub fn init() {
    lambda_runtime::tracing::init_default_subscriber();
}

pub fn log_decision(r: &Report) {
    let traits: Vec<&str> = r.traits.iter().map(|t| t.id()).collect();
    tracing::info!(
        function = r.function,
        metadata_uid = %r.finding.metadata_uid,
        cluster = %r.cluster.name,
        account = %r.cluster.account,
        region = %r.cluster.region,
        traits = %traits.join(","),
        mode = r.mode.id(),
        outcome = r.outcome.id(),
        reason_code = %r.reason_code,
        update_id = r.update_id.as_deref().unwrap_or(""),
        finding_update = ?r.finding_update.status,
        notification = ?r.notification.as_ref().map(|n| n.status),
        reason = %r.reason,
        "decision"
    );
}

/// The EMF documents for a report: one `Findings` count per handled trait, plus side-effect
/// failure counts.
pub fn metric_lines(r: &Report, timestamp_ms: u128) -> Vec<String> {
    let traits: Vec<&str> = if r.traits.is_empty() {
        vec!["none"]
    } else {
        r.traits.iter().map(|t| t.id()).collect()
    };
    let failures = |e: Option<EffectStatus>| u8::from(e == Some(EffectStatus::Failed));
    traits
        .into_iter()
        .map(|t| {
            serde_json::json!({
                "_aws": {
                    "Timestamp": timestamp_ms as u64,
                    "CloudWatchMetrics": [{
                        "Namespace": METRIC_NAMESPACE,
                        // `Function` alone: one alarm per function on failed notifications,
                        // whatever the outcome.
                        "Dimensions": [["Function", "Trait", "Outcome"], ["Function", "Outcome"], ["Function"]],
                        "Metrics": [
                            {"Name": "Findings", "Unit": "Count"},
                            {"Name": "NotificationFailures", "Unit": "Count"},
                            {"Name": "FindingUpdateFailures", "Unit": "Count"}
                        ]
                    }]
                },
                "Function": r.function,
                "Trait": t,
                "Outcome": r.outcome.id(),
                "Findings": 1,
                "NotificationFailures": failures(r.notification.as_ref().map(|n| n.status)),
                "FindingUpdateFailures": failures(Some(r.finding_update.status)),
            })
            .to_string()
        })
        .collect()
}

pub fn emit_metrics(r: &Report) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    for line in metric_lines(r, now) {
        // EMF is read from stdout; a closed stdout must not fail the invocation.
        let _ = writeln!(out, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use crate::output::report::{Effect, Outcome};

    #[test]
    fn one_emf_document_per_trait_with_failure_counts() {
        let bytes = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/eks-multi-trait.json"),
        )
        .expect("event");
        let event = crate::event::gate::parse_event(&bytes).expect("parse");
        let Ok(crate::event::gate::Gate::Actionable(e)) = crate::event::gate::gate(
            &event,
            &[
                crate::Trait::ExploitableVulnerability,
                crate::Trait::Vulnerability,
            ],
        ) else {
            panic!("actionable");
        };
        let mut r = Report::new(
            "container-vulnerabilities",
            &e,
            Mode::Propose,
            Mode::Propose,
        )
        .with_outcome(
            Outcome::Proposed,
            crate::output::report::DecisionCode::HandOff,
            "x",
        );
        r.notification = Some(Effect::failed("down"));
        let lines = metric_lines(&r, 1_700_000_000_000);
        assert_eq!(lines.len(), 2);
        let doc: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            METRIC_NAMESPACE
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(doc["Function"], "container-vulnerabilities");
        assert_eq!(doc["Trait"], "exploitable_vulnerability");
        assert_eq!(doc["Outcome"], "proposed");
        assert_eq!(doc["Findings"], 1);
        assert_eq!(doc["NotificationFailures"], 1);
        assert_eq!(doc["FindingUpdateFailures"], 0);
        assert!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
                .as_array()
                .is_some_and(|d| d.contains(&serde_json::json!(["Function"]))),
            "the notification-failure alarm's dimension set"
        );
    }
}
