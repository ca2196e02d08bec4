//! Sustained load: 10,000 events (every sample, valid and invalid, in a fixed mix) through one
//! warm in-process pipeline against moto_server. Every event must end in a report or a classified
//! error, the outcome counts must match the input mix exactly, and resident memory must stay flat.

mod common;

use std::collections::BTreeMap;

use common::{config, create_cluster, sdk};
use endpoint_access::{EndpointAccess, Settings};
use shared::pipeline::respond;
use shared::{Deps, Mode};

const EVENTS: usize = 10_000;

/// What endpoint-access must answer for each sample, in propose mode, with the demo clusters.
const EXPECTED: [(&str, &str); 17] = [
    ("eks-public-access.json", "proposed"),
    ("eks-high-priority-vulnerability.json", "proposed"),
    ("eks-multi-trait.json", "proposed"),
    ("eks-cross-account-uid-alt.json", "proposed"),
    ("eks-preview-shape.json", "proposed"),
    ("eks-unknown-trait.json", "proposed"),
    ("eks-public-access-stale.json", "already_compliant"),
    ("eks-unsupported-kubernetes-version.json", "skipped"),
    ("eks-unencrypted-secrets.json", "skipped"),
    ("eks-low-priority-vulnerability.json", "skipped"),
    ("eks-closed.json", "skipped"),
    ("eks-in-progress-echo.json", "skipped"),
    ("invalid-wrong-source.json", "error:InvalidFinding"),
    ("invalid-no-findings.json", "error:InvalidFinding"),
    ("invalid-non-cluster-arn.json", "error:InvalidFinding"),
    ("invalid-contradicting-account.json", "error:InvalidFinding"),
    ("invalid-truncated.json", "error:InvalidFinding"),
];

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn ten_thousand_events_nothing_lost_memory_flat() {
    let sdk = sdk().await;
    let us = aws_sdk_eks::Client::new(&sdk);
    let eu = aws_sdk_eks::Client::from_conf(
        aws_sdk_eks::config::Builder::from(&sdk)
            .region(aws_config::Region::new("eu-west-1"))
            .build(),
    );
    // The clusters the samples name (the cross-account sample is read with the function's own
    // credentials here: no member role is configured). Already existing is fine.
    for name in ["payments-prod", "platform-shared", "search-preview"] {
        create_cluster_if_absent(&us, name, true, false).await;
    }
    create_cluster_if_absent(&us, "ledger-internal", false, true).await;
    create_cluster_if_absent(&eu, "checkout-eu", true, false).await;

    let topic = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name("sustained-load")
        .send()
        .await
        .expect("topic")
        .topic_arn()
        .expect("arn")
        .to_string();
    let mut deps = Deps::from_sdk(&sdk, config(Mode::Propose, &topic), "endpoint-access");
    deps.emit_metrics = false;
    let fix = EndpointAccess::new(Settings {
        stage_soak_minutes: 0,
        ..Settings::default()
    });

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let samples: Vec<(String, Vec<u8>)> = EXPECTED
        .iter()
        .map(|(f, _)| (f.to_string(), std::fs::read(dir.join(f)).expect("event")))
        .collect();

    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    let mut rss_after_warmup = 0;
    let mut published = 0usize;
    for i in 0..EVENTS {
        let (file, bytes) = &samples[i % samples.len()];
        *want
            .entry(EXPECTED[i % samples.len()].1.to_string())
            .or_default() += 1;
        // The runtime hands over the event's JSON text (`Payload`); bytes that are not JSON are
        // rejected the same way.
        let result = match serde_json::from_slice::<shared::lambda::Payload>(bytes) {
            Ok(v) => respond(&fix, &deps, v, None).await.map(|r| {
                let done = r
                    .notification
                    .as_ref()
                    .is_some_and(|n| n.status == shared::output::report::EffectStatus::Done);
                published += usize::from(done);
                r.outcome.id().to_string()
            }),
            Err(_) => shared::event::gate::parse_event(bytes)
                .map(|_| "parsed".to_string())
                .map_err(shared::ResponderError::from),
        };
        let key = match result {
            Ok(outcome) => outcome,
            Err(e) => format!("error:{}", e.error_type()),
        };
        assert_eq!(key, EXPECTED[i % samples.len()].1, "event {i} ({file})");
        *got.entry(key).or_default() += 1;
        if i == 1_000 {
            rss_after_warmup = resident_kib();
        }
    }
    let rss_end = resident_kib();
    assert_eq!(got, want, "outcome counts must match the input mix");
    // Every report that is told (all but skips and refused events) reached SNS.
    let told: usize = want
        .iter()
        .filter(|(k, _)| *k != "skipped" && !k.starts_with("error:"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(published, told, "every report that is told was published");
    let growth = rss_end.saturating_sub(rss_after_warmup);
    eprintln!(
        "sustained load: {EVENTS} events, outcomes {got:?}, RSS after warm-up {rss_after_warmup} KiB, at end {rss_end} KiB (+{growth} KiB)"
    );
    assert!(
        growth < 16 * 1024,
        "resident memory grew by {growth} KiB over {EVENTS} events"
    );
}

async fn create_cluster_if_absent(
    eks: &aws_sdk_eks::Client,
    name: &str,
    public: bool,
    private: bool,
) {
    if eks.describe_cluster().name(name).send().await.is_err() {
        create_cluster(eks, name, "1.31", public, private, None).await;
    }
}
