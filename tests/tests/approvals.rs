//! Plan-bound approvals end to end against moto_server and the AWS stand-in: a proposal in
//! `approve` mode carries an approval; the function URL request that redeems it makes the
//! decision again on Security Hub's copy of the finding and the live cluster, and applies exactly
//! the approved plan, once, naming the approver in the response, the SNS message, the finding
//! comment and the ledger. IAM itself (the function URL's SigV4 check) is AWS's: here the
//! request is the payload Lambda hands the function, from events/function-url/.

mod common;
#[path = "common/standin.rs"]
mod standin;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use common::{Inbox, config, create_cluster, event_for, unique};
use endpoint_access::{EndpointAccess, Settings};
use serde_json::Value;
use shared::approval::url::{UrlResponse, answer};
use shared::aws::AwsAccess;
use shared::ledger::{DynamoLedger, Ledger, LedgerSettings, system_clock};
use shared::pipeline::respond;
use shared::{Deps, Mode, Outcome};

const ALICE: &str = "arn:aws:sts::444455556666:assumed-role/PlatformApprover/alice";
const BOB: &str = "arn:aws:sts::444455556666:assumed-role/PlatformApprover/bob";
const DAY_MS: i64 = 86_400_000;

struct Setup {
    sdk: aws_config::SdkConfig,
    eks: aws_sdk_eks::Client,
    inbox: Inbox,
    name: String,
    event: Value,
    uid: String,
    table: String,
}

impl Setup {
    /// A cluster with a public endpoint (and private access on, so the plan is one stage), the
    /// finding in the stand-in's Security Hub, a ledger table and an inbox.
    async fn new() -> Self {
        let sdk = standin::sdk().await;
        let eks = aws_sdk_eks::Client::new(&sdk);
        let inbox = Inbox::new(&sdk).await;
        let name = unique("approve");
        create_cluster(&eks, &name, "1.31", true, true, None).await;
        let event = standin::own_exposure(event_for("eks-public-access.json", &name), &name);
        let uid = standin::load_finding(&event);
        let table = ledger_table(&aws_sdk_dynamodb::Client::new(&sdk)).await;
        Setup {
            sdk,
            eks,
            inbox,
            name,
            event,
            uid,
            table,
        }
    }

    fn deps(&self, clock: fn() -> i64) -> Deps<AwsAccess> {
        let mut config = config(Mode::Approve, &self.inbox.topic_arn);
        let settings = LedgerSettings::from_env(&shared::testing::env_of(&[
            ("LEDGER_TABLE", self.table.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", "responder-EndpointAccess"),
            ("AWS_REGION", "us-east-1"),
        ]))
        .expect("valid")
        .expect("set");
        config.ledger = Some(settings.clone());
        let mut deps = Deps::from_sdk(&self.sdk, config, "endpoint-access");
        deps.emit_metrics = false;
        deps.ledger = Some(Ledger {
            store: DynamoLedger::new(aws_sdk_dynamodb::Client::new(&self.sdk), &self.table),
            settings,
            clock,
        });
        deps
    }

    async fn public_access(&self) -> bool {
        self.eks
            .describe_cluster()
            .name(&self.name)
            .send()
            .await
            .expect("describe")
            .cluster()
            .and_then(|c| c.resources_vpc_config())
            .map(|v| v.endpoint_public_access())
            .expect("public access flag")
    }

    /// The proposal: its report's `approval.request`, after checking what the proposal says.
    async fn propose(&self, fix: &EndpointAccess, deps: &Deps<AwsAccess>) -> Value {
        let report = respond(fix, deps, self.event.clone(), None)
            .await
            .expect("report");
        assert_eq!(report.outcome, Outcome::Proposed, "{}", report.reason);
        assert_eq!(report.reason_code, "awaiting_approval", "{}", report.reason);
        let approval = report
            .approval
            .as_ref()
            .expect("a proposal with an approval");
        assert_eq!(
            approval.plan_digest,
            shared::ledger::plan_digest(&report.plan)
        );
        let command = approval.command.as_deref().expect("command");
        assert!(
            command.contains("--function-name responder-EndpointAccess")
                && command.contains("aws:amz:us-east-1:lambda"),
            "{command}"
        );
        assert!(self.public_access().await, "a proposal changes nothing");
        // The JSON message carries the same approval.
        let delivered = self.inbox.drain().await;
        assert_eq!(delivered.len(), 1, "one message for the proposal");
        let sent = delivered[0].report();
        assert_eq!(sent["approval"]["id"], approval.id.as_str());
        serde_json::to_value(approval.request.as_ref().expect("request")).expect("json")
    }
}

/// The table as template.yaml declares it (its keys; the by-day index is not used here).
async fn ledger_table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = unique("approvals");
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("key")
    };
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .expect("create the ledger table in moto");
    name
}

fn fix() -> EndpointAccess {
    EndpointAccess::new(Settings {
        stage_soak_minutes: 0,
        ..Settings::default()
    })
}

/// The payload Lambda hands the function for a signed function URL request with `body`, from
/// `approver` (`None`: no IAM caller in the request context).
fn url_request(body: &Value, approver: Option<&str>) -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/function-url/approval-request.json"
    ))
    .expect("fixture");
    let mut v: Value = serde_json::from_str(&text).expect("json");
    v["body"] = body.to_string().into();
    match approver {
        Some(arn) => v["requestContext"]["authorizer"]["iam"]["userArn"] = arn.into(),
        None => {
            v["requestContext"]
                .as_object_mut()
                .expect("context")
                .remove("authorizer");
        }
    }
    v.to_string()
}

fn body(r: &UrlResponse) -> Value {
    serde_json::from_str(&r.body).expect("a JSON body")
}

async fn approval_item(s: &Setup, cluster_arn: &str, id: &str) -> Option<String> {
    let out = aws_sdk_dynamodb::Client::new(&s.sdk)
        .get_item()
        .table_name(&s.table)
        .key("pk", AttributeValue::S(format!("cluster#{cluster_arn}")))
        .key("sk", AttributeValue::S(format!("approval#{id}")))
        .send()
        .await
        .expect("get item");
    let item = out.item().expect("the approval item");
    item.get("used_by").and_then(|v| v.as_s().ok()).cloned()
}

#[tokio::test]
async fn an_approved_proposal_is_applied_once_and_names_the_approver() {
    let s = Setup::new().await;
    let fix = fix();
    let deps = s.deps(system_clock);
    let request = s.propose(&fix, &deps).await;
    let cluster_arn = request["cluster_arn"].as_str().expect("arn").to_string();
    let id = request["approval_id"].as_str().expect("id").to_string();
    assert_eq!(approval_item(&s, &cluster_arn, &id).await, None);

    let response = answer(&fix, &deps, &url_request(&request, Some(ALICE)), None).await;
    let report = body(&response);
    assert_eq!(response.status_code, 200, "{report}");
    assert_eq!(report["outcome"], "applied", "{report}");
    assert_eq!(report["approval"]["approved_by"], ALICE);
    assert_eq!(report["approval"]["id"], id.as_str());
    assert!(
        !s.public_access().await,
        "the approved plan was applied in moto"
    );
    assert_eq!(
        approval_item(&s, &cluster_arn, &id).await.as_deref(),
        Some(ALICE),
        "the ledger records the approver"
    );
    let delivered = s.inbox.drain().await;
    assert_eq!(delivered.len(), 1, "one message for the apply");
    assert!(
        delivered[0].subject.starts_with("[APPLIED]"),
        "{}",
        delivered[0].subject
    );
    assert_eq!(delivered[0].report()["approval"]["approved_by"], ALICE);
    let record = standin::finding_record(&s.uid);
    let comment = record["comment"].as_str().expect("comment");
    assert!(
        comment.contains("endpoint-access applied") && comment.contains(ALICE),
        "{comment}"
    );

    // Used once: the same request again, by anyone, changes nothing.
    let again = answer(&fix, &deps, &url_request(&request, Some(BOB)), None).await;
    let refused = body(&again);
    assert_eq!(again.status_code, 409, "{refused}");
    assert_eq!(refused["reason_code"], "already_used", "{refused}");
    assert_eq!(refused["approval"]["approved_by"], BOB);
    assert_eq!(
        approval_item(&s, &cluster_arn, &id).await.as_deref(),
        Some(ALICE)
    );
}

#[tokio::test]
async fn a_tampered_digest_or_a_request_without_an_iam_caller_is_refused() {
    let s = Setup::new().await;
    let fix = fix();
    let deps = s.deps(system_clock);
    let request = s.propose(&fix, &deps).await;

    let mut tampered = request.clone();
    tampered["plan_digest"] = "0".repeat(64).into();
    let response = answer(&fix, &deps, &url_request(&tampered, Some(ALICE)), None).await;
    assert_eq!(response.status_code, 404, "{}", response.body);
    assert_eq!(body(&response)["reason_code"], "unknown_approval");

    let unsigned = answer(&fix, &deps, &url_request(&request, None), None).await;
    assert_eq!(unsigned.status_code, 403, "{}", unsigned.body);
    assert_eq!(body(&unsigned)["reason_code"], "no_iam_caller");

    assert!(s.public_access().await, "nothing was applied");
    assert!(s.inbox.drain().await.is_empty(), "nothing was sent");
    // The genuine request still works afterwards.
    let genuine = answer(&fix, &deps, &url_request(&request, Some(ALICE)), None).await;
    assert_eq!(genuine.status_code, 200, "{}", genuine.body);
}

#[tokio::test]
async fn a_cluster_changed_since_the_proposal_gets_plan_changed_and_a_fresh_approval() {
    let s = Setup::new().await;
    let fix = fix();
    let deps = s.deps(system_clock);
    let request = s.propose(&fix, &deps).await;
    // Someone turns private access off: the plan is now stage 1 of 2 (enable private access).
    s.eks
        .update_cluster_config()
        .name(&s.name)
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .endpoint_public_access(true)
                .endpoint_private_access(false)
                .public_access_cidrs("0.0.0.0/0")
                .build(),
        )
        .send()
        .await
        .expect("change the cluster in moto");

    let response = answer(&fix, &deps, &url_request(&request, Some(ALICE)), None).await;
    let refused = body(&response);
    assert_eq!(response.status_code, 409, "{refused}");
    assert_eq!(refused["reason_code"], "plan_changed", "{refused}");
    assert_eq!(refused["outcome"], "proposed");
    assert_eq!(refused["stage"]["number"], 1, "the new plan: {refused}");
    assert!(s.public_access().await, "nothing was applied");
    let fresh = &refused["approval"]["fresh"];
    assert_ne!(fresh["plan_digest"], request["plan_digest"], "{refused}");
    let delivered = s.inbox.drain().await;
    assert_eq!(delivered.len(), 1, "the refusal is told");
    assert!(delivered[0].message.contains(ALICE));

    // The fresh approval applies the new plan.
    let response = answer(
        &fix,
        &deps,
        &url_request(&fresh["request"], Some(ALICE)),
        None,
    )
    .await;
    let applied = body(&response);
    assert_eq!(response.status_code, 200, "{applied}");
    assert_eq!(applied["outcome"], "applied");
    assert_eq!(applied["stage"]["number"], 1);
    // An earlier stage: the finding is New again, so its next evaluation proposes stage 2,
    // with an approval of its own.
    let record = standin::finding_record(&s.uid);
    assert_eq!(record["status_id"], 1, "{record}");
    s.inbox.drain().await;
    let stage_two = respond(&fix, &deps, s.event.clone(), None)
        .await
        .expect("report");
    assert_eq!(
        stage_two.reason_code, "awaiting_approval",
        "{}",
        stage_two.reason
    );
    assert_eq!(stage_two.stage.map(|st| st.number), Some(2));
    assert!(stage_two.approval.is_some());
}

#[tokio::test]
async fn an_expired_approval_is_refused() {
    let s = Setup::new().await;
    let fix = fix();
    let request = s.propose(&fix, &s.deps(system_clock)).await;
    let eight_days_later = s.deps(|| system_clock() + 8 * DAY_MS);
    let response = answer(
        &fix,
        &eight_days_later,
        &url_request(&request, Some(ALICE)),
        None,
    )
    .await;
    let refused = body(&response);
    assert_eq!(response.status_code, 409, "{refused}");
    assert_eq!(refused["reason_code"], "expired", "{refused}");
    assert!(s.public_access().await, "nothing was applied");
}

#[tokio::test]
async fn of_two_concurrent_approvals_exactly_one_applies() {
    let s = Setup::new().await;
    let fix = fix();
    let deps = s.deps(system_clock);
    let request = s.propose(&fix, &deps).await;
    let (a, b) = (
        url_request(&request, Some(ALICE)),
        url_request(&request, Some(BOB)),
    );
    let (first, second) =
        tokio::join!(answer(&fix, &deps, &a, None), answer(&fix, &deps, &b, None));
    let mut statuses = [first.status_code, second.status_code];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", first.body, second.body);
    let loser = if first.status_code == 409 {
        &first
    } else {
        &second
    };
    assert_eq!(body(loser)["reason_code"], "already_used", "{}", loser.body);
    assert!(!s.public_access().await);
}
