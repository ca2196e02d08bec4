//! Test harness for every function crate: mocked AWS clients (aws-smithy-mocks), fixtures from
//! `events/`, and captures of what was published and recorded. Compiled only for tests.

use std::sync::{Arc, Mutex};

use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
use aws_sdk_eks::types::{Cluster, ClusterStatus, EncryptionConfig, Provider, VpcConfigResponse};
use aws_sdk_securityhub::operation::batch_update_findings_v2::{
    BatchUpdateFindingsV2Input, BatchUpdateFindingsV2Output,
};
use aws_sdk_sns::operation::publish::{PublishInput, PublishOutput};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use crate::aws::{AccessError, ClusterAccess, ClusterSession};
use crate::cluster::ClusterRef;
use crate::config::{CommonConfig, Mode};
use crate::notify::SnsNotifier;
use crate::pipeline::Deps;
use crate::record::FindingRecorder;

pub use aws_smithy_mocks;

pub const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:444455556666:eks-exposure-responder";

/// A sample event from `events/`, as the Lambda runtime hands it over.
pub fn event(file: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

pub fn config(mode: Mode) -> CommonConfig {
    CommonConfig {
        mode,
        sns_topic_arn: TOPIC_ARN.to_string(),
        allowed_accounts: Vec::new(),
        member_role_name: None,
        apply_to_iac_managed: false,
        update_findings: true,
    }
}

/// A live cluster as DescribeCluster would return it.
#[derive(Clone, Debug)]
pub struct ClusterFixture {
    pub name: String,
    pub status: ClusterStatus,
    pub version: String,
    pub public: bool,
    pub private: bool,
    pub cidrs: Vec<String>,
    pub secrets_key: Option<String>,
    pub role_arn: String,
    pub tags: Vec<(String, String)>,
}

impl ClusterFixture {
    pub fn new(name: &str) -> Self {
        ClusterFixture {
            name: name.to_string(),
            status: ClusterStatus::Active,
            version: "1.31".to_string(),
            public: true,
            private: false,
            cidrs: vec!["0.0.0.0/0".to_string()],
            secrets_key: None,
            role_arn: "arn:aws:iam::444455556666:role/eks-cluster-role".to_string(),
            tags: Vec::new(),
        }
    }

    pub fn cluster(&self) -> Cluster {
        let vpc = VpcConfigResponse::builder()
            .endpoint_public_access(self.public)
            .endpoint_private_access(self.private)
            .set_public_access_cidrs(Some(self.cidrs.clone()))
            .build();
        let mut b = Cluster::builder()
            .name(&self.name)
            .arn(format!(
                "arn:aws:eks:us-east-1:444455556666:cluster/{}",
                self.name
            ))
            .status(self.status.clone())
            .version(&self.version)
            .platform_version("eks.10")
            .role_arn(&self.role_arn)
            .resources_vpc_config(vpc);
        if let Some(key) = &self.secrets_key {
            #[allow(deprecated)]
            let enc = EncryptionConfig::builder()
                .resources("secrets")
                .provider(Provider::builder().key_arn(key).build())
                .build();
            b = b.encryption_config(enc);
        }
        for (k, v) in &self.tags {
            b = b.tags(k, v);
        }
        b.build()
    }

    /// A rule answering DescribeCluster with this cluster, every time.
    pub fn describe_rule(&self) -> Rule {
        let c = self.cluster();
        mock!(aws_sdk_eks::Client::describe_cluster)
            .then_output(move || DescribeClusterOutput::builder().cluster(c.clone()).build())
    }
}

/// Hands out one fixed session (mocked EKS client), recording who asked.
pub struct StaticAccess {
    pub session: ClusterSession,
    pub requests: Mutex<Vec<ClusterRef>>,
}

impl StaticAccess {
    pub fn new(eks: aws_sdk_eks::Client) -> Self {
        let config = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .behavior_version(crate::aws::behavior_version())
            .build();
        StaticAccess {
            session: ClusterSession {
                eks,
                config,
                assumed_role: None,
            },
            requests: Mutex::new(Vec::new()),
        }
    }
}

impl ClusterAccess for StaticAccess {
    async fn session(
        &self,
        cluster: &ClusterRef,
        _home_account: Option<&str>,
    ) -> Result<ClusterSession, AccessError> {
        if let Ok(mut r) = self.requests.lock() {
            r.push(cluster.clone());
        }
        Ok(self.session.clone())
    }
}

/// An EKS client answering with `rules` in any order.
pub fn eks_client(rules: &[&Rule]) -> aws_sdk_eks::Client {
    mock_client!(aws_sdk_eks, RuleMode::MatchAny, rules)
}

/// What the pipeline published and recorded during a test.
#[derive(Clone, Default)]
pub struct Captures {
    pub published: Arc<Mutex<Vec<PublishInput>>>,
    pub recorded: Arc<Mutex<Vec<BatchUpdateFindingsV2Input>>>,
}

impl Captures {
    pub fn published(&self) -> Vec<PublishInput> {
        self.published.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub fn recorded(&self) -> Vec<BatchUpdateFindingsV2Input> {
        self.recorded.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The email text of the only published message.
    pub fn email(&self) -> String {
        let p = self.published();
        assert_eq!(p.len(), 1, "expected exactly one SNS message");
        let body: serde_json::Value =
            serde_json::from_str(p[0].message().unwrap_or_default()).expect("structured message");
        body["email"].as_str().unwrap_or_default().to_string()
    }

    /// The JSON report of the only published message.
    pub fn json(&self) -> serde_json::Value {
        let p = self.published();
        assert_eq!(p.len(), 1, "expected exactly one SNS message");
        let body: serde_json::Value =
            serde_json::from_str(p[0].message().unwrap_or_default()).expect("structured message");
        serde_json::from_str(body["default"].as_str().unwrap_or_default()).expect("json report")
    }
}

/// SNS and Security Hub clients that succeed and capture their requests.
pub fn capturing_clients() -> (aws_sdk_sns::Client, aws_sdk_securityhub::Client, Captures) {
    let captures = Captures::default();
    let published = captures.published.clone();
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(move |req| {
            if let Ok(mut p) = published.lock() {
                p.push(req.clone());
            }
            true
        })
        .then_output(|| PublishOutput::builder().message_id("msg-1").build());
    let recorded = captures.recorded.clone();
    let record = mock!(aws_sdk_securityhub::Client::batch_update_findings_v2)
        .match_requests(move |req| {
            if let Ok(mut r) = recorded.lock() {
                r.push(req.clone());
            }
            true
        })
        .then_output(|| BatchUpdateFindingsV2Output::builder().build());
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&publish]);
    let securityhub = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, &[&record]);
    (sns, securityhub, captures)
}

/// Dependencies with a mocked EKS client and capturing SNS/Security Hub clients.
pub fn deps(config: CommonConfig, eks: aws_sdk_eks::Client) -> (Deps<StaticAccess>, Captures) {
    let (sns, securityhub, captures) = capturing_clients();
    (
        Deps {
            notifier: SnsNotifier::new(sns, config.sns_topic_arn.clone()),
            recorder: FindingRecorder::new(securityhub),
            access: StaticAccess::new(eks),
            config,
            emit_metrics: false,
        },
        captures,
    )
}

/// Dependencies whose SNS and Security Hub clients are the given ones.
pub fn deps_with(
    config: CommonConfig,
    eks: aws_sdk_eks::Client,
    sns: aws_sdk_sns::Client,
    securityhub: aws_sdk_securityhub::Client,
) -> Deps<StaticAccess> {
    Deps {
        notifier: SnsNotifier::new(sns, config.sns_topic_arn.clone()),
        recorder: FindingRecorder::new(securityhub),
        access: StaticAccess::new(eks),
        config,
        emit_metrics: false,
    }
}
