//! The AWS stand-in (scripts/aws_standin.py) that `make test` starts in front of moto_server: it
//! answers the EKS and Security Hub calls moto lacks (DescribeClusterVersions, insights,
//! UpdateClusterVersion, AssociateEncryptionConfig, DescribeUpdate, GetFindingsV2,
//! BatchUpdateFindingsV2) and passes every other request to moto unchanged. Tests reach every
//! service through it, and set its insights, load findings, read finding records and finish
//! updates through its control endpoints.
//!
//! A test file includes it beside the shared harness:
//! `mod common; #[path = "common/standin.rs"] mod standin;`
#![allow(dead_code)] // each test file uses part of the helper

use std::io::{Read, Write};
use std::net::TcpStream;

use aws_config::SdkConfig;
use serde_json::{Value, json};

/// The stand-in's URL (scripts/with_moto.sh exports it).
pub fn endpoint() -> String {
    std::env::var("STANDIN_ENDPOINT").unwrap_or_else(|_| {
        panic!("STANDIN_ENDPOINT is not set: run the integration tests through `make test` (scripts/with_moto.sh starts moto_server and the stand-in), or start both with `make moto-start` and export MOTO_ENDPOINT=$(scripts/moto.sh url) STANDIN_ENDPOINT=$(scripts/moto.sh standin-url)")
    })
}

/// The functions' SDK configuration with every service on the stand-in.
pub async fn sdk() -> SdkConfig {
    crate::common::sdk()
        .await
        .to_builder()
        .endpoint_url(endpoint())
        .build()
}

/// One call to a control endpoint: (HTTP status, JSON body).
pub fn control(method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let url = endpoint();
    let address = url.trim_start_matches("http://").trim_end_matches('/');
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(address).expect("connect to the stand-in");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )
    .expect("send to the stand-in");
    let mut raw = String::new();
    stream
        .read_to_string(&mut raw)
        .expect("read the stand-in's answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("an HTTP status");
    (status, serde_json::from_str(body).expect("a JSON body"))
}

fn ok(method: &str, path: &str, body: Option<&Value>) -> Value {
    let (status, answer) = control(method, path, body);
    assert_eq!(status, 200, "{method} {path}: {answer}");
    answer
}

/// The event as a separate exposure: its metadata and finding uids derived from `cluster` (the
/// stand-in holds one record per metadata uid, and tests share it).
pub fn own_exposure(event: Value, cluster: &str) -> Value {
    let finding = &event["detail"]["findings"][0];
    let metadata_uid = finding["metadata"]["uid"].as_str().expect("metadata.uid");
    let risk = finding["finding_info"]["uid"]
        .as_str()
        .expect("finding_info.uid");
    let risk_hex = risk.rsplit(':').next().expect("finding_info.uid hex");
    let derived = |seed: &str| {
        let key = format!("{seed}|{cluster}");
        (0..4u64)
            .map(|round| {
                let h = key.bytes().fold(0xcbf2_9ce4_8422_2325 ^ round, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
                });
                format!("{h:016x}")
            })
            .collect::<String>()
    };
    let text = event
        .to_string()
        .replace(metadata_uid, &derived(metadata_uid))
        .replace(risk_hex, &derived(risk_hex));
    serde_json::from_str(&text).expect("json")
}

/// Security Hub now holds the event's finding (status New, no comment).
pub fn load_finding(event: &Value) -> String {
    let loaded = ok("POST", "/_standin/findings", Some(event));
    loaded["loaded"][0]
        .as_str()
        .expect("a loaded uid")
        .to_string()
}

/// The finding's record as the stand-in holds it: `status`, `status_id`, `comment`, `history`.
pub fn finding_record(metadata_uid: &str) -> Value {
    ok("GET", &format!("/_standin/findings/{metadata_uid}"), None)
}

/// The cluster's upgrade readiness insights for `version`: (name, status) pairs.
pub fn set_insights(cluster: &str, version: &str, insights: &[(&str, &str)]) {
    let rows: Vec<Value> = insights
        .iter()
        .map(|(name, status)| {
            json!({
                "name": name,
                "status": status,
                "kubernetesVersion": version,
                "reason": format!("{name}: {status}"),
                "recommendation": format!("review {name}"),
            })
        })
        .collect();
    ok(
        "PUT",
        &format!("/_standin/insights/{cluster}"),
        Some(&json!({ "insights": rows })),
    );
}

/// Finish every EKS update in progress now (the cluster leaves UPDATING with its new state).
pub fn settle_updates() -> Vec<String> {
    let settled = ok("POST", "/_standin/updates/settle", None);
    settled["settled"]
        .as_array()
        .expect("settled ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}
