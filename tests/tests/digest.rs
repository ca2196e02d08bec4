//! The digest against moto_server: decisions written through the ledger's DynamoDB adapter,
//! read back from the `by-day` index, summarised in one SNS message, and a chat notification
//! on the chat topic only for what a person reads.

mod common;

use common::{Inbox, ledger_table, sdk, unique};
use decision_digest::{LedgerHistory, Window, run};
use shared::ledger::decide::decision_id;
use shared::ledger::{Claim, Decision, DecisionLedger, DynamoLedger, Entry, FindingKey};
use shared::output::notify::SnsNotifier;

/// 2026-11-27T11:00:00Z: the end of the digest's hour.
const ELEVEN: i64 = 1_795_777_200_000;
const MINUTE: i64 = 60_000;

struct Made<'a> {
    cluster: &'a str,
    function: &'a str,
    outcome: &'a str,
    reason_code: &'a str,
    urgent: bool,
    at_ms: i64,
}

/// Record one decision through the adapter, as the pipeline does.
async fn record(ledger: &DynamoLedger, run_id: &str, m: &Made<'_>) {
    let key = FindingKey {
        cluster_arn: format!(
            "arn:aws:eks:us-east-1:444455556666:cluster/{run_id}-{}",
            m.cluster
        ),
        metadata_uid: format!("meta-{run_id}-{}-{}", m.cluster, m.function),
    };
    let seen = ledger.finding(&key).await.expect("read the finding");
    let id = decision_id(&key, m.function, seen.version + 1);
    let trait_id = match m.function {
        "container-vulnerabilities" => "exploitable_vulnerability",
        _ => "public_endpoint",
    };
    let urgent = if m.urgent { "[URGENT]" } else { "" };
    let decision = Decision {
        decision_id: id.clone(),
        function: m.function.into(),
        cluster_arn: key.cluster_arn.clone(),
        account: "444455556666".into(),
        region: "us-east-1".into(),
        metadata_uid: key.metadata_uid.clone(),
        severity: "High".into(),
        traits: vec![trait_id.into()],
        plan_digest: "d".into(),
        outcome: m.outcome.into(),
        reason_code: m.reason_code.into(),
        reason: "why".into(),
        subject: format!(
            "[{}]{urgent} {run_id}-{} 444455556666/us-east-1: x",
            m.outcome.to_uppercase(),
            m.cluster
        ),
        decided_at_ms: m.at_ms,
        expires_at: m.at_ms / 1000 + 86_400,
        entry: Entry {
            decision_id: id,
            function: m.function.into(),
            outcome: m.outcome.into(),
            decided_at_ms: m.at_ms,
            ..Entry::default()
        },
        ..Decision::default()
    };
    let claim = ledger.claim(&key, &seen, &decision).await.expect("claim");
    assert!(matches!(claim, Claim::Won(_)), "{claim:?}");
}

#[tokio::test]
async fn the_hour_s_decisions_become_one_digest_and_one_chat_message() {
    let sdk = sdk().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = ledger_table(&dynamo).await;
    let ledger = DynamoLedger::new(dynamo.clone(), table.clone());
    let run_id = unique("dg");
    let inside = ELEVEN - 30 * MINUTE;
    for m in [
        Made {
            cluster: "ok",
            function: "endpoint-access",
            outcome: "applied",
            reason_code: "applied",
            urgent: false,
            at_ms: inside,
        },
        Made {
            cluster: "denied",
            function: "endpoint-access",
            outcome: "failed",
            reason_code: "access_denied_failed",
            urgent: false,
            at_ms: inside + 1,
        },
        Made {
            cluster: "cves",
            function: "container-vulnerabilities",
            outcome: "proposed",
            reason_code: "hand_off",
            urgent: true,
            at_ms: inside + 2,
        },
        Made {
            cluster: "quiet",
            function: "endpoint-access",
            outcome: "proposed",
            reason_code: "mode_propose",
            urgent: false,
            at_ms: inside + 3,
        },
        // Outside the hour on either side: not in this digest.
        Made {
            cluster: "before",
            function: "endpoint-access",
            outcome: "failed",
            reason_code: "invalid_failed",
            urgent: false,
            at_ms: ELEVEN - 61 * MINUTE,
        },
        Made {
            cluster: "after",
            function: "endpoint-access",
            outcome: "failed",
            reason_code: "invalid_failed",
            urgent: false,
            at_ms: ELEVEN,
        },
    ] {
        record(&ledger, &run_id, &m).await;
    }

    let inbox = Inbox::new(&sdk).await;
    let chat = Inbox::new(&sdk).await;
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&sdk), inbox.topic_arn.clone())
        .with_chat_topic(Some(chat.topic_arn.clone()));
    let history = LedgerHistory::new(dynamo, table);
    let done = run(&history, &notifier, Window::ending_at(ELEVEN, 60))
        .await
        .expect("the digest runs");
    assert_eq!(done.decisions, 4, "{done:?}");
    assert_eq!(done.clusters_needing_a_person, 2, "{done:?}");
    assert!(done.not_read.is_empty(), "{:?}", done.not_read);
    assert!(done.chat.starts_with("sent"), "{}", done.chat);

    let delivered = inbox.drain().await;
    assert_eq!(delivered.len(), 1, "one message for the hour");
    let m = &delivered[0];
    assert_eq!(
        m.subject,
        "[DIGEST] 4 decisions, 2 clusters need a person, 1 failed: 2026-11-27 10:00 to 11:00 UTC"
    );
    assert_eq!(m.attributes["kind"]["Value"], "digest");
    let digest = m.report();
    assert_eq!(digest["schema"], "eks-exposure-responder/digest/v1");
    assert_eq!(digest["by_outcome"]["applied"], 1);
    assert_eq!(digest["by_outcome"]["failed"], 1);
    assert_eq!(digest["by_outcome"]["proposed"], 2);
    assert_eq!(digest["by_trait"]["exploitable_vulnerability"], 1);
    let listed: Vec<&str> = digest["attention"]
        .as_array()
        .expect("attention")
        .iter()
        .filter_map(|a| a["cluster"].as_str())
        .collect();
    assert_eq!(
        listed,
        [format!("{run_id}-denied"), format!("{run_id}-cves")]
    );
    assert_eq!(
        digest["attention"][0]["console_url"],
        format!(
            "https://us-east-1.console.aws.amazon.com/eks/home?region=us-east-1#/clusters/{run_id}-denied"
        )
    );

    let chats = chat.drain().await;
    assert_eq!(chats.len(), 1);
    let n: serde_json::Value = serde_json::from_str(&chats[0].message).expect("chat JSON");
    assert_eq!(n["version"], "1.0");
    assert_eq!(n["source"], "custom");
    assert_eq!(n["content"]["textType"], "client-markdown");
    assert_eq!(n["metadata"]["eventType"], "digest");
    assert_eq!(n["content"]["nextSteps"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn an_empty_hour_sends_nothing() {
    let sdk = sdk().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = ledger_table(&dynamo).await;
    let inbox = Inbox::new(&sdk).await;
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&sdk), inbox.topic_arn.clone());
    let done = run(
        &LedgerHistory::new(dynamo, table),
        &notifier,
        Window::ending_at(ELEVEN, 60),
    )
    .await
    .expect("runs");
    assert_eq!((done.decisions, done.message_id), (0, None));
    assert!(inbox.drain().await.is_empty());
}

#[tokio::test]
async fn a_ledger_it_cannot_read_is_said_not_hidden() {
    let sdk = sdk().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let inbox = Inbox::new(&sdk).await;
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&sdk), inbox.topic_arn.clone());
    // A table that does not exist: a lasting fault, so the digest says so rather than retry.
    let done = run(
        &LedgerHistory::new(dynamo, unique("missing")),
        &notifier,
        Window::ending_at(ELEVEN, 60),
    )
    .await
    .expect("a digest that says what it could not read");
    assert_eq!(done.not_read.len(), 1, "{:?}", done.not_read);
    assert!(done.not_read[0].contains("by-day"), "{:?}", done.not_read);
    let delivered = inbox.drain().await;
    assert_eq!(delivered.len(), 1);
    assert!(
        delivered[0].subject.contains("(incomplete)"),
        "{}",
        delivered[0].subject
    );
}
