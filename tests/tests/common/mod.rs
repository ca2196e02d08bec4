//! Shared harness of the moto-backed integration tests: SDK config on the local endpoint, a topic
//! with an SQS queue subscribed (what an operator's subscription receives), clusters to act on.
#![allow(dead_code)] // each test file uses part of the harness

use std::sync::atomic::{AtomicUsize, Ordering};

use aws_config::{Region, SdkConfig};
use aws_sdk_eks::types::{EncryptionConfig, Provider, VpcConfigRequest};

/// The moto_server URL `make test` starts (scripts/with_moto.sh exports it).
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!("MOTO_ENDPOINT is not set: run the integration tests through `make test` (it starts moto_server), or start one with `make moto-start` and export MOTO_ENDPOINT=$(scripts/moto.sh url)")
    })
}

/// SDK configuration pointing at moto with the given static credentials.
pub async fn sdk_with_key(access_key: &str) -> SdkConfig {
    aws_config::defaults(shared::aws::behavior_version())
        .endpoint_url(moto_endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_eks::config::Credentials::new(
            access_key,
            "testing",
            None,
            None,
            "integration-tests",
        ))
        .load()
        .await
}

pub async fn sdk() -> SdkConfig {
    sdk_with_key("testing").await
}

/// A name unique within this test process (tests share one moto_server).
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A topic with a queue subscribed to it, as an operator's pipeline would subscribe.
pub struct Inbox {
    pub topic_arn: String,
    pub queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

/// One SNS message as delivered to a queue (raw delivery off: the SNS envelope).
#[derive(Debug)]
pub struct Delivered {
    pub subject: String,
    pub message: String,
    pub attributes: serde_json::Value,
}

impl Delivered {
    pub fn report(&self) -> serde_json::Value {
        serde_json::from_str(&self.message).expect("the sqs protocol receives the JSON report")
    }
}

impl Inbox {
    pub async fn new(sdk: &SdkConfig) -> Self {
        let sns = aws_sdk_sns::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let name = unique("inbox");
        let topic_arn = sns
            .create_topic()
            .name(&name)
            .send()
            .await
            .expect("create topic")
            .topic_arn()
            .expect("topic arn")
            .to_string();
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("create queue")
            .queue_url()
            .expect("queue url")
            .to_string();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes");
        let queue_arn = attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("queue arn")
            .clone();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("subscribe");
        Inbox {
            topic_arn,
            queue_url,
            sqs,
        }
    }

    /// Every message delivered so far (and removes them).
    pub async fn drain(&self) -> Vec<Delivered> {
        let mut out = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            let msgs = got.messages();
            if msgs.is_empty() {
                return out;
            }
            for m in msgs {
                let envelope: serde_json::Value =
                    serde_json::from_str(m.body().unwrap_or_default()).expect("sns envelope");
                out.push(Delivered {
                    subject: envelope["Subject"].as_str().unwrap_or_default().to_string(),
                    message: envelope["Message"].as_str().unwrap_or_default().to_string(),
                    attributes: envelope["MessageAttributes"].clone(),
                });
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
}

/// The cluster owner's consent to one-way doors (version upgrades, secrets encryption): the
/// cluster tag `eks-exposure-responder/mode=apply`.
pub async fn consent_to_one_way_doors(eks: &aws_sdk_eks::Client, name: &str) {
    let arn = eks
        .describe_cluster()
        .name(name)
        .send()
        .await
        .expect("describe cluster")
        .cluster()
        .and_then(|c| c.arn())
        .expect("cluster ARN")
        .to_string();
    eks.tag_resource()
        .resource_arn(arn)
        .tags(shared::guardrails::MODE_TAG, "apply")
        .send()
        .await
        .expect("tag cluster");
}

/// Create an EKS cluster in moto.
pub async fn create_cluster(
    eks: &aws_sdk_eks::Client,
    name: &str,
    version: &str,
    public: bool,
    private: bool,
    secrets_key: Option<&str>,
) {
    let mut req = eks
        .create_cluster()
        .name(name)
        .version(version)
        .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
        .resources_vpc_config(
            VpcConfigRequest::builder()
                .subnet_ids("subnet-0a1b2c3d")
                .endpoint_public_access(public)
                .endpoint_private_access(private)
                .public_access_cidrs("0.0.0.0/0")
                .build(),
        );
    if let Some(key) = secrets_key {
        #[allow(deprecated)]
        let enc = EncryptionConfig::builder()
            .resources("secrets")
            .provider(Provider::builder().key_arn(key).build())
            .build();
        req = req.encryption_config(enc);
    }
    req.send().await.expect("create cluster in moto");
}

/// A sample event with its cluster name replaced (tests share one moto_server).
pub fn event_for(file: &str, cluster: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(file);
    let text = std::fs::read_to_string(path).expect("event");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let original = v["detail"]["findings"][0]["resources"][0]["name"]
        .as_str()
        .expect("name")
        .to_string();
    serde_json::from_str(
        &text
            .replace(
                &format!("cluster/{original}\""),
                &format!("cluster/{cluster}\""),
            )
            .replace(&format!("\"{original}\""), &format!("\"{cluster}\"")),
    )
    .expect("json")
}

pub fn config(mode: shared::Mode, topic_arn: &str) -> shared::CommonConfig {
    shared::CommonConfig {
        mode,
        sns_topic_arn: topic_arn.to_string(),
        chat_topic_arn: None,
        allowed_accounts: Vec::new(),
        member_role_name: None,
        apply_to_iac_managed: false,
        update_findings: true,
        ledger: None,
    }
}

/// A Security Hub (mocked: moto has no GetFindingsV2) that holds `event`'s finding, so an apply
/// is confirmed by the read-back; its records are accepted and not kept.
pub fn security_hub_holding(event: &serde_json::Value) -> shared::output::record::FindingRecorder {
    use shared::testing::aws_smithy_mocks::{RuleMode, mock, mock_client};
    let record = mock!(aws_sdk_securityhub::Client::batch_update_findings_v2).then_output(|| {
        aws_sdk_securityhub::operation::batch_update_findings_v2::BatchUpdateFindingsV2Output::builder().build()
    });
    let read = shared::testing::held_findings_rule(vec![event["detail"]["findings"][0].clone()]);
    shared::output::record::FindingRecorder::new(mock_client!(
        aws_sdk_securityhub,
        RuleMode::MatchAny,
        &[&record, &read]
    ))
}

/// The table as template.yaml declares it (LedgerTable).
pub async fn ledger_table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = unique("ledger");
    let attr = |n: &str| {
        aws_sdk_dynamodb::types::AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    let key = |n: &str, t: aws_sdk_dynamodb::types::KeyType| {
        aws_sdk_dynamodb::types::KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("key")
    };
    client
        .create_table()
        .table_name(&name)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .attribute_definitions(attr("day"))
        .attribute_definitions(attr("decided_at"))
        .key_schema(key("pk", aws_sdk_dynamodb::types::KeyType::Hash))
        .key_schema(key("sk", aws_sdk_dynamodb::types::KeyType::Range))
        .global_secondary_indexes(
            aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
                .index_name(shared::ledger::dynamo::BY_DAY_INDEX)
                .key_schema(key("day", aws_sdk_dynamodb::types::KeyType::Hash))
                .key_schema(key("decided_at", aws_sdk_dynamodb::types::KeyType::Range))
                .projection(
                    aws_sdk_dynamodb::types::Projection::builder()
                        .projection_type(aws_sdk_dynamodb::types::ProjectionType::Include)
                        .set_non_key_attributes(Some(
                            [
                                "function",
                                "cluster_arn",
                                "account",
                                "region",
                                "outcome",
                                "reason_code",
                                "traits",
                                "severity",
                                "subject",
                                "decision_id",
                            ]
                            .map(String::from)
                            .to_vec(),
                        ))
                        .build(),
                )
                .build()
                .expect("index"),
        )
        .send()
        .await
        .expect("create the ledger table");
    name
}
