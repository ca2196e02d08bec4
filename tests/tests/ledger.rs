//! The decision ledger's DynamoDB adapter against moto_server: the conditional write that lets
//! exactly one of two concurrent deliveries decide, the dedupe window over stored entries, the
//! apply counter, the circuit breaker and its reset, and the documented history queries.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{ledger_table, sdk, unique};
use shared::aws::AwsAccess;
use shared::ledger::LedgerSettings;
use shared::ledger::decide::{Breaker, finding_record, hour_bucket};
use shared::ledger::dynamo::{BY_DAY_INDEX, cluster_pk};
use shared::ledger::{
    Candidate, Claim, Decision, DecisionLedger, DynamoLedger, Entry, FindingDecisions, FindingKey,
    Judgement, Ledger, judge,
};
use shared::output::notify::SnsNotifier;
use shared::output::record::FindingRecorder;
use shared::pipeline::respond;
use shared::{Deps, Mode, Outcome, Report};

const DAY_MS: i64 = 86_400_000;

fn key(cluster: &str) -> FindingKey {
    FindingKey {
        cluster_arn: format!("arn:aws:eks:us-east-1:444455556666:cluster/{cluster}"),
        metadata_uid: format!("meta-{cluster}"),
    }
}

/// A decision of `function` on the finding, numbered after `seen`.
fn decision(
    key: &FindingKey,
    function: &str,
    seen: &FindingDecisions,
    digest: &str,
    outcome: &str,
    revision: &str,
    at_ms: i64,
) -> Decision {
    let decision_id = shared::ledger::decide::decision_id(key, function, seen.version + 1);
    let traits = vec![
        match function {
            "endpoint-access" => "public_endpoint",
            "kubernetes-version" => "unsupported_version",
            _ => "exploitable_vulnerability",
        }
        .to_string(),
    ];
    Decision {
        decision_id: decision_id.clone(),
        function: function.into(),
        cluster_arn: key.cluster_arn.clone(),
        account: "444455556666".into(),
        region: "us-east-1".into(),
        metadata_uid: key.metadata_uid.clone(),
        revision: Some(revision.into()),
        severity: "High".into(),
        traits: traits.clone(),
        plan_digest: digest.into(),
        outcome: outcome.into(),
        reason_code: "mode_propose".into(),
        reason: "restrict the endpoint".into(),
        subject: format!("[PROPOSED] {function}"),
        decided_at_ms: at_ms,
        expires_at: at_ms / 1000 + 400 * 86_400,
        entry: Entry {
            decision_id,
            function: function.into(),
            plan_digest: digest.into(),
            outcome: outcome.into(),
            reason_code: "mode_propose".into(),
            revision: Some(revision.into()),
            decided_at_ms: at_ms,
            settles: outcome == "proposed",
            traits,
            line: format!("{function} {outcome}"),
            reason: "restrict the endpoint".into(),
            ..Entry::default()
        },
        ..Decision::default()
    }
}

fn candidate<'a>(digest: &'a str, revision: &'a str) -> Candidate<'a> {
    Candidate {
        plan_digest: digest,
        outcome: "proposed",
        reason_code: "mode_propose",
        revision: Some(revision),
    }
}

#[tokio::test]
async fn of_two_concurrent_deliveries_exactly_one_decides() {
    let sdk = sdk().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let ledger = DynamoLedger::new(client.clone(), ledger_table(&client).await);
    let k = key(&unique("race"));
    let now = 1_778_645_550_776;

    // Both deliveries read the same (empty) state and judge the decision new.
    let (a, b) = tokio::join!(ledger.finding(&k), ledger.finding(&k));
    let (seen_a, seen_b) = (a.expect("read"), b.expect("read"));
    assert_eq!(seen_a.version, 0);
    for seen in [&seen_a, &seen_b] {
        let mine = seen.of("endpoint-access");
        assert_eq!(
            judge(mine, &candidate("abc", "r1"), now, 7 * DAY_MS),
            Judgement::New
        );
    }
    let da = decision(&k, "endpoint-access", &seen_a, "abc", "proposed", "r1", now);
    let db = decision(
        &k,
        "endpoint-access",
        &seen_b,
        "abc",
        "proposed",
        "r1",
        now + 1,
    );
    let (ra, rb) = tokio::join!(
        ledger.claim(&k, &seen_a, &da),
        ledger.claim(&k, &seen_b, &db)
    );
    let results = [ra.expect("claim"), rb.expect("claim")];
    let won: Vec<&FindingDecisions> = results
        .iter()
        .filter_map(|c| match c {
            Claim::Won(d) => Some(d),
            Claim::Conflict => None,
        })
        .collect();
    assert_eq!(won.len(), 1, "exactly one winner: {results:?}");
    assert!(results.contains(&Claim::Conflict));
    assert_eq!(won[0].version, 1);

    // The loser reads again and finds the same event decided: duplicate_delivery.
    let after = ledger.finding(&k).await.expect("read");
    assert_eq!(&after, won[0], "what the winner computed is what is stored");
    let stored = after.of("endpoint-access").expect("entry");
    assert!(matches!(
        judge(Some(stored), &candidate("abc", "r1"), now + 2, 7 * DAY_MS),
        Judgement::DuplicateDelivery { .. }
    ));

    // Exactly one decision item was written.
    let items = client
        .query()
        .table_name(ledger.table())
        .key_condition_expression("pk = :c AND begins_with(sk, :d)")
        .expression_attribute_values(":c", AttributeValue::S(cluster_pk(&k.cluster_arn)))
        .expression_attribute_values(":d", AttributeValue::S("decision#".into()))
        .send()
        .await
        .expect("history");
    assert_eq!(items.count(), 1);
}

#[tokio::test]
async fn stored_entries_drive_the_window_and_a_stale_claim_conflicts() {
    let sdk = sdk().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let ledger = DynamoLedger::new(client.clone(), ledger_table(&client).await);
    let k = key(&unique("window"));
    let t0 = 1_778_645_550_776;
    let week = 7 * DAY_MS;

    let seen = ledger.finding(&k).await.expect("read");
    let first = decision(&k, "endpoint-access", &seen, "abc", "proposed", "r1", t0);
    let Claim::Won(v1) = ledger.claim(&k, &seen, &first).await.expect("claim") else {
        panic!("first claim conflicts");
    };
    // An echo (new revision) within the window repeats it.
    let read = ledger.finding(&k).await.expect("read");
    assert_eq!(read, v1);
    let prev = read.of("endpoint-access");
    assert_eq!(
        judge(prev, &candidate("abc", "r2"), t0 + DAY_MS, week),
        Judgement::AlreadyDecided {
            of: first.decision_id.clone()
        }
    );
    // After the window: one reminder, recorded as such.
    assert_eq!(
        judge(prev, &candidate("abc", "r3"), t0 + week, week),
        Judgement::Reminder {
            of: first.decision_id.clone()
        }
    );
    let mut reminder = decision(
        &k,
        "endpoint-access",
        &read,
        "abc",
        "proposed",
        "r3",
        t0 + week,
    );
    reminder.entry.reminded = true;
    reminder.reminder_of = Some(first.decision_id.clone());
    // A claim made on the state before the first decision is stale: it conflicts.
    let stale = decision(
        &k,
        "endpoint-access",
        &seen,
        "def",
        "proposed",
        "r3",
        t0 + week,
    );
    assert_eq!(
        ledger.claim(&k, &seen, &stale).await.expect("claim"),
        Claim::Conflict
    );
    assert!(matches!(
        ledger.claim(&k, &read, &reminder).await.expect("claim"),
        Claim::Won(_)
    ));
    let read = ledger.finding(&k).await.expect("read");
    assert_eq!(read.version, 2);
    assert!(matches!(
        judge(
            read.of("endpoint-access"),
            &candidate("abc", "r4"),
            t0 + 5 * week,
            week
        ),
        Judgement::AlreadyDecided { .. }
    ));
    // A changed plan is news again.
    assert_eq!(
        judge(
            read.of("endpoint-access"),
            &candidate("def", "r4"),
            t0 + week + 1,
            week
        ),
        Judgement::New
    );
}

#[tokio::test]
async fn a_released_claim_restores_the_previous_entry() {
    let sdk = sdk().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let ledger = DynamoLedger::new(client.clone(), ledger_table(&client).await);
    let k = key(&unique("release"));
    let t0 = 1_778_645_550_776;
    let seen = ledger.finding(&k).await.expect("read");
    let d = decision(&k, "kubernetes-version", &seen, "abc", "proposed", "r1", t0);
    let Claim::Won(claimed) = ledger.claim(&k, &seen, &d).await.expect("claim") else {
        panic!("conflict");
    };
    assert!(
        ledger
            .release(&k, &claimed, None, &d)
            .await
            .expect("release")
    );
    let read = ledger.finding(&k).await.expect("read");
    assert_eq!(
        read.of("kubernetes-version"),
        None,
        "the retry decides afresh"
    );
    assert_eq!(read.version, 2);
    // A release on a state that moved on does nothing.
    assert!(
        !ledger
            .release(&k, &claimed, None, &d)
            .await
            .expect("release")
    );
}

#[tokio::test]
async fn every_function_shares_one_finding_summary() {
    let sdk = sdk().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let ledger = DynamoLedger::new(client.clone(), ledger_table(&client).await);
    let k = key(&unique("multi"));
    let t0 = 1_778_645_550_776;
    let owned = [
        "public_endpoint",
        "unsupported_version",
        "exploitable_vulnerability",
    ];
    for (i, function) in [
        "kubernetes-version",
        "container-vulnerabilities",
        "endpoint-access",
    ]
    .into_iter()
    .enumerate()
    {
        let seen = ledger.finding(&k).await.expect("read");
        assert!(!finding_record(&seen, &owned).in_progress, "{function}");
        let d = decision(&k, function, &seen, "abc", "proposed", "r1", t0 + i as i64);
        assert!(matches!(
            ledger.claim(&k, &seen, &d).await.expect("claim"),
            Claim::Won(_)
        ));
    }
    let all = ledger.finding(&k).await.expect("read");
    assert_eq!(all.entries.len(), 3);
    let record = finding_record(&all, &owned);
    assert!(record.in_progress, "{record:?}");
    for f in [
        "kubernetes-version",
        "container-vulnerabilities",
        "endpoint-access",
    ] {
        assert!(record.comment.contains(f), "{}", record.comment);
    }
}

#[tokio::test]
async fn the_apply_counter_stops_at_the_hourly_limit() {
    let sdk = sdk().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let ledger = DynamoLedger::new(client.clone(), ledger_table(&client).await);
    let function = unique("fn");
    let hour = hour_bucket(1_778_645_550_776);
    let exp = 1_778_645_550 + 2 * 86_400;
    // Four concurrent reservations against a limit of 3: exactly three get through.
    let (a, b, c, d) = tokio::join!(
        ledger.reserve_apply(&function, &hour, 3, exp),
        ledger.reserve_apply(&function, &hour, 3, exp),
        ledger.reserve_apply(&function, &hour, 3, exp),
        ledger.reserve_apply(&function, &hour, 3, exp),
    );
    let granted = [a, b, c, d]
        .into_iter()
        .map(|r| r.expect("reserve"))
        .filter(|g| *g)
        .count();
    assert_eq!(granted, 3);
    assert!(
        !ledger
            .reserve_apply(&function, &hour, 3, exp)
            .await
            .expect("reserve")
    );
    // The next hour counts afresh; a limit of 0 never applies.
    let next = hour_bucket(1_778_645_550_776 + 3_600_000);
    assert!(
        ledger
            .reserve_apply(&function, &next, 3, exp)
            .await
            .expect("reserve")
    );
    assert!(
        !ledger
            .reserve_apply(&function, &next, 0, exp)
            .await
            .expect("reserve")
    );
}

#[tokio::test]
async fn the_breaker_opens_after_failures_in_a_row_and_the_documented_reset_closes_it() {
    let sdk = sdk().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = ledger_table(&client).await;
    let ledger = DynamoLedger::new(client.clone(), table.clone());
    let function = unique("fn");
    assert_eq!(
        ledger.breaker(&function).await.expect("read"),
        Breaker::default()
    );
    for n in 1..=2 {
        let b = ledger
            .count_apply_result(&function, true, "UpdateClusterConfig refused")
            .await
            .expect("count");
        assert_eq!(b.consecutive_failures, n);
    }
    // A success in between starts the count again.
    let b = ledger
        .count_apply_result(&function, false, "")
        .await
        .expect("count");
    assert_eq!(b.consecutive_failures, 0);
    for _ in 0..3 {
        ledger
            .count_apply_result(&function, true, "update failed")
            .await
            .expect("count");
    }
    assert!(ledger.breaker(&function).await.expect("read").is_open(3));

    // The reset the README documents: delete the breaker item.
    client
        .delete_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("function#{function}")))
        .key("sk", AttributeValue::S("breaker".into()))
        .send()
        .await
        .expect("reset");
    assert!(!ledger.breaker(&function).await.expect("read").is_open(3));
}

#[tokio::test]
async fn history_is_one_query_per_cluster_and_one_per_day() {
    let sdk = sdk().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = ledger_table(&client).await;
    let ledger = DynamoLedger::new(client.clone(), table.clone());
    let k = key(&unique("history"));
    let day1 = 1_778_645_550_776; // 2026-05-13T04:12:30.776Z
    let outcomes = [
        ("endpoint-access", "proposed", day1),
        ("kubernetes-version", "deferred", day1 + 60_000),
        ("kubernetes-version", "proposed", day1 + DAY_MS),
    ];
    for (function, outcome, at) in outcomes {
        let seen = ledger.finding(&k).await.expect("read");
        let d = decision(&k, function, &seen, "abc", outcome, "r", at);
        assert!(matches!(
            ledger.claim(&k, &seen, &d).await.expect("claim"),
            Claim::Won(_)
        ));
    }
    // Everything about the cluster, oldest first (the README's one-line query).
    let out = client
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :c AND begins_with(sk, :d)")
        .expression_attribute_values(":c", AttributeValue::S(cluster_pk(&k.cluster_arn)))
        .expression_attribute_values(":d", AttributeValue::S("decision#".into()))
        .send()
        .await
        .expect("history");
    let seen: Vec<(String, String)> = out
        .items()
        .iter()
        .map(|i| {
            let s = |n: &str| i[n].as_s().expect("string").clone();
            (s("function"), s("outcome"))
        })
        .collect();
    assert_eq!(
        seen,
        outcomes
            .map(|(f, o, _)| (f.to_string(), o.to_string()))
            .to_vec()
    );
    // A digest's period: the decisions of one day, by time.
    let out = client
        .query()
        .table_name(&table)
        .index_name(BY_DAY_INDEX)
        .key_condition_expression("#d = :day AND decided_at BETWEEN :from AND :to")
        .expression_attribute_names("#d", "day")
        .expression_attribute_values(":day", AttributeValue::S("2026-05-13".into()))
        .expression_attribute_values(":from", AttributeValue::S("2026-05-13T04:00".into()))
        .expression_attribute_values(":to", AttributeValue::S("2026-05-13T05:00".into()))
        .send()
        .await
        .expect("by day");
    let mine: Vec<&str> = out
        .items()
        .iter()
        .filter(|i| i["cluster_arn"].as_s().is_ok_and(|c| c == &k.cluster_arn))
        .map(|i| i["outcome"].as_s().expect("outcome").as_str())
        .collect();
    assert_eq!(mine, ["proposed", "deferred"]);
}

// ------------------------------------------------------------------------------------------
// The multi-trait finding: four functions, one finding, one record
// ------------------------------------------------------------------------------------------

/// The four functions as one enum, so a test can run them in any order.
#[derive(Clone, Copy, Debug)]
enum Function {
    Endpoint,
    Version,
    Secrets,
    Vulnerabilities,
}

const FUNCTIONS: [Function; 4] = [
    Function::Endpoint,
    Function::Version,
    Function::Secrets,
    Function::Vulnerabilities,
];

impl Function {
    fn name(self) -> &'static str {
        match self {
            Function::Endpoint => "endpoint-access",
            Function::Version => "kubernetes-version",
            Function::Secrets => "secrets-encryption",
            Function::Vulnerabilities => "container-vulnerabilities",
        }
    }
}

/// What the functions share: moto for EKS and the ledger, capturing SNS and Security Hub.
struct Stack {
    sdk: aws_config::SdkConfig,
    table: String,
    sns: aws_sdk_sns::Client,
    securityhub: aws_sdk_securityhub::Client,
    captures: shared::testing::Captures,
}

impl Stack {
    async fn new() -> Self {
        let sdk = sdk().await;
        let table = ledger_table(&aws_sdk_dynamodb::Client::new(&sdk)).await;
        let (sns, securityhub, captures) = shared::testing::capturing_clients();
        Stack {
            sdk,
            table,
            sns,
            securityhub,
            captures,
        }
    }

    fn deps(&self, function: Function, clock: fn() -> i64) -> Deps<AwsAccess> {
        let mut config = common::config(Mode::Propose, shared::testing::TOPIC_ARN);
        let settings = LedgerSettings::from_env(&shared::testing::env_of(&[(
            "LEDGER_TABLE",
            self.table.as_str(),
        )]))
        .expect("valid")
        .expect("set");
        config.ledger = Some(settings.clone());
        Deps {
            access: AwsAccess::new(self.sdk.clone(), None, function.name()),
            notifier: SnsNotifier::new(self.sns.clone(), config.sns_topic_arn.clone()),
            recorder: FindingRecorder::new(self.securityhub.clone()),
            config,
            emit_metrics: false,
            ledger: Some(Ledger {
                store: DynamoLedger::new(
                    aws_sdk_dynamodb::Client::new(&self.sdk),
                    self.table.clone(),
                ),
                settings,
                clock,
            }),
        }
    }

    async fn run(
        &self,
        function: Function,
        event: &serde_json::Value,
        clock: fn() -> i64,
    ) -> Report {
        let deps = self.deps(function, clock);
        let event = event.clone();
        match function {
            Function::Endpoint => {
                respond(
                    &endpoint_access::EndpointAccess::new(endpoint_access::Settings::default()),
                    &deps,
                    event,
                    None,
                )
                .await
            }
            Function::Version => {
                respond(
                    &kubernetes_version::KubernetesVersion::new(),
                    &deps,
                    event,
                    None,
                )
                .await
            }
            Function::Secrets => {
                respond(
                    &secrets_encryption::SecretsEncryption::new(
                        secrets_encryption::Settings::default(),
                    ),
                    &deps,
                    event,
                    None,
                )
                .await
            }
            Function::Vulnerabilities => {
                respond(
                    &container_vulnerabilities::ContainerVulnerabilities::new(
                        container_vulnerabilities::Settings::default(),
                        aws_sdk_securityhub::Client::new(&self.sdk),
                    ),
                    &deps,
                    event,
                    None,
                )
                .await
            }
        }
        .expect("a report")
    }

    /// (comment, status id) of every BatchUpdateFindingsV2 so far.
    fn records(&self) -> Vec<(String, Option<i32>)> {
        self.captures
            .recorded()
            .iter()
            .map(|r| (r.comment().unwrap_or_default().to_string(), r.status_id()))
            .collect()
    }
}

fn clock_t0() -> i64 {
    1_778_645_600_000
}

fn clock_next_day() -> i64 {
    1_778_645_600_000 + DAY_MS
}

/// The same finding, later: Security Hub's echo of a record (a new modified time).
fn echo_of(event: &serde_json::Value) -> serde_json::Value {
    let mut echo = event.clone();
    let f = &mut echo["detail"]["findings"][0]["finding_info"];
    f["modified_time"] = serde_json::json!(1_778_645_999_000_i64);
    f["modified_time_dt"] = serde_json::json!("2026-05-13T04:19:59.000Z");
    echo
}

/// Every permutation of the four functions.
fn orders() -> Vec<Vec<Function>> {
    let mut out = Vec::new();
    for a in 0..4 {
        for b in (0..4).filter(|b| *b != a) {
            for c in (0..4).filter(|c| *c != a && *c != b) {
                let d = 6 - a - b - c;
                out.push([a, b, c, d].map(|i| FUNCTIONS[i]).to_vec());
            }
        }
    }
    out
}

fn assert_one_complete_record(stack: &Stack, ctx: &str) {
    let records = stack.records();
    let (last, _) = records
        .last()
        .unwrap_or_else(|| panic!("{ctx}: nothing recorded"));
    for f in FUNCTIONS {
        assert!(
            last.contains(&format!("{} proposed", f.name())),
            "{ctx}: the last comment lacks {}: {last}",
            f.name()
        );
    }
    assert!(last.chars().count() <= 512, "{ctx}");
    // In Progress is set, and only by a comment that carries every function.
    let in_progress: Vec<&String> = records
        .iter()
        .filter(|(_, s)| *s == Some(2))
        .map(|(c, _)| c)
        .collect();
    assert!(
        !in_progress.is_empty(),
        "{ctx}: never In Progress: {records:?}"
    );
    for c in in_progress {
        assert!(
            FUNCTIONS.iter().all(|f| c.contains(f.name())),
            "{ctx}: In Progress before every trait had a decision: {c}"
        );
    }
}

#[tokio::test]
async fn four_functions_in_any_order_end_with_one_complete_comment_and_in_progress() {
    for order in orders() {
        let stack = Stack::new().await;
        let eks = aws_sdk_eks::Client::new(&stack.sdk);
        let name = unique("shared");
        common::create_cluster(&eks, &name, "1.29", true, false, None).await;
        let event = common::event_for("eks-multi-trait.json", &name);
        let ctx = format!("{:?}", order.iter().map(|f| f.name()).collect::<Vec<_>>());
        for (i, f) in order.iter().enumerate() {
            let r = stack.run(*f, &event, clock_t0).await;
            assert_eq!(
                r.outcome,
                Outcome::Proposed,
                "{ctx} {}: {}",
                f.name(),
                r.reason
            );
            assert!(r.decision_id.is_some(), "{ctx}");
            // Until the last function decided, the finding stays New.
            let (_, status) = stack.records().last().cloned().expect("recorded");
            assert_eq!(status.is_some(), i == 3, "{ctx} after {}", f.name());
        }
        assert_eq!(
            stack.captures.published().len(),
            4,
            "{ctx}: one message each"
        );
        assert_one_complete_record(&stack, &ctx);

        // The echoes of those records, and a re-delivery, send and record nothing more.
        let records = stack.records().len();
        for f in &order {
            let echo = stack.run(*f, &echo_of(&event), clock_next_day).await;
            assert_eq!(
                (echo.outcome, echo.reason_code.as_str()),
                (Outcome::Skipped, "already_decided"),
                "{ctx} {}",
                f.name()
            );
            assert!(echo.duplicate_of.is_some());
            let again = stack.run(*f, &event, clock_next_day).await;
            assert_eq!(again.reason_code.as_str(), "duplicate_delivery", "{ctx}");
        }
        assert_eq!(
            stack.captures.published().len(),
            4,
            "{ctx}: no further message"
        );
        assert_eq!(stack.records().len(), records, "{ctx}: no further record");
    }
}

#[tokio::test]
async fn four_functions_at_once_end_with_one_complete_comment() {
    let stack = Stack::new().await;
    let eks = aws_sdk_eks::Client::new(&stack.sdk);
    let name = unique("concurrent");
    common::create_cluster(&eks, &name, "1.29", true, false, None).await;
    let event = common::event_for("eks-multi-trait.json", &name);
    let (a, b, c, d) = tokio::join!(
        stack.run(Function::Endpoint, &event, clock_t0),
        stack.run(Function::Version, &event, clock_t0),
        stack.run(Function::Secrets, &event, clock_t0),
        stack.run(Function::Vulnerabilities, &event, clock_t0),
    );
    for r in [&a, &b, &c, &d] {
        assert_eq!(r.outcome, Outcome::Proposed, "{}: {}", r.function, r.reason);
    }
    assert_eq!(stack.captures.published().len(), 4);
    assert_one_complete_record(&stack, "concurrent");

    // The same event delivered twice at once to one function: one decision, one message.
    let name = unique("twice");
    common::create_cluster(&eks, &name, "1.29", true, false, None).await;
    let event = common::event_for("eks-multi-trait.json", &name);
    let before = stack.captures.published().len();
    let (x, y) = tokio::join!(
        stack.run(Function::Endpoint, &event, clock_t0),
        stack.run(Function::Endpoint, &event, clock_t0),
    );
    let mut outcomes = [x.reason_code.as_str(), y.reason_code.as_str()];
    outcomes.sort();
    assert_eq!(outcomes, ["duplicate_delivery", "mode_propose"]);
    assert_eq!(stack.captures.published().len(), before + 1);
}
