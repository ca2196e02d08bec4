//! Test harness for every function crate: mocked AWS clients (aws-smithy-mocks), fixtures from
//! `events/`, and captures of what was published and recorded. Compiled only for tests.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::types::{
    Cluster, ClusterStatus, EncryptionConfig, Provider, Update, UpdateStatus, UpdateType,
    VpcConfigResponse,
};
use aws_sdk_securityhub::operation::batch_update_findings_v2::{
    BatchUpdateFindingsV2Input, BatchUpdateFindingsV2Output,
};
use aws_sdk_securityhub::operation::get_findings_v2::GetFindingsV2Output;
use aws_sdk_sns::operation::publish::{PublishInput, PublishOutput};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use crate::aws::{AccessError, ClusterAccess, ClusterSession};
use crate::config::{CommonConfig, Mode};
use crate::event::cluster::ClusterRef;
use crate::output::notify::SnsNotifier;
use crate::output::record::FindingRecorder;
use crate::pipeline::Deps;

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
        chat_topic_arn: None,
        allowed_accounts: Vec::new(),
        member_role_name: None,
        apply_to_iac_managed: false,
        update_findings: true,
        ledger: None,
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

    /// The cluster owner's consent to one-way doors: the mode tag set to `apply`.
    pub fn with_owner_consent(mut self) -> Self {
        self.tags
            .push((crate::guardrails::MODE_TAG.to_string(), "apply".to_string()));
        self
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

    /// DescribeCluster's answer for this cluster.
    pub fn describe_output(&self) -> DescribeClusterOutput {
        DescribeClusterOutput::builder()
            .cluster(self.cluster())
            .build()
    }

    /// DescribeCluster's answer for this cluster as EKS sends it on the wire.
    pub fn describe_json(&self) -> String {
        let tags: serde_json::Map<String, serde_json::Value> = self
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().into()))
            .collect();
        let mut cluster = serde_json::json!({
            "name": self.name,
            "arn": format!("arn:aws:eks:us-east-1:444455556666:cluster/{}", self.name),
            "status": self.status.as_str(),
            "version": self.version,
            "platformVersion": "eks.10",
            "roleArn": self.role_arn,
            "resourcesVpcConfig": {
                "endpointPublicAccess": self.public,
                "endpointPrivateAccess": self.private,
                "publicAccessCidrs": self.cidrs,
            },
            "tags": tags,
        });
        if let Some(key) = &self.secrets_key {
            cluster["encryptionConfig"] =
                serde_json::json!([{ "resources": ["secrets"], "provider": { "keyArn": key } }]);
        }
        serde_json::json!({ "cluster": cluster }).to_string()
    }

    /// A rule answering DescribeCluster with this cluster, every time.
    pub fn describe_rule(&self) -> Rule {
        let out = self.describe_output();
        mock!(aws_sdk_eks::Client::describe_cluster).then_output(move || out.clone())
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
    fn home_session(&self, _cluster: &ClusterRef) -> ClusterSession {
        self.session.clone()
    }

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

/// Counts executions of one operation (by its input type `I`) on any EKS client, mocked or on a
/// real socket: the SDK's retries of one call are one execution. Add it with `.interceptor(..)`.
pub struct Executions<I>(Arc<AtomicUsize>, PhantomData<fn() -> I>);

impl<I> Executions<I> {
    pub fn new() -> Self {
        Executions(Arc::new(AtomicUsize::new(0)), PhantomData)
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl<I> Default for Executions<I> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I> Clone for Executions<I> {
    fn clone(&self) -> Self {
        Executions(self.0.clone(), PhantomData)
    }
}

impl<I> std::fmt::Debug for Executions<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Executions({})", self.count())
    }
}

impl<I: std::fmt::Debug + Send + Sync + 'static> aws_sdk_eks::config::Intercept for Executions<I> {
    fn name(&self) -> &'static str {
        "Executions"
    }

    fn read_before_execution(
        &self,
        context: &aws_sdk_eks::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut aws_sdk_eks::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if context.input().downcast_ref::<I>().is_some() {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// A rule answering DescribeUpdate for update `id` (and only for it): in progress, of `kind`.
pub fn describe_update_rule(id: &'static str, kind: UpdateType) -> Rule {
    mock!(aws_sdk_eks::Client::describe_update)
        .match_requests(move |req| req.update_id() == Some(id))
        .then_output(move || {
            DescribeUpdateOutput::builder()
                .update(
                    Update::builder()
                        .id(id)
                        .status(UpdateStatus::InProgress)
                        .r#type(kind.clone())
                        .build(),
                )
                .build()
        })
}

/// A rule that fails the test if the (mutating) operation is called:
/// `forbidden_rule!(aws_sdk_eks::Client::update_cluster_config, UpdateClusterConfigOutput)`.
#[macro_export]
macro_rules! forbidden_rule {
    ($operation:path, $output:ty) => {
        $crate::testing::aws_smithy_mocks::mock!($operation)
            .match_requests(|req| {
                panic!(
                    "{} must not be called, but was called with {req:?}",
                    stringify!($operation)
                )
            })
            .then_output(|| <$output>::builder().build())
    };
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

/// Security Hub's own copies of the sample exposures in `events/`, by metadata uid: what a
/// mocked `GetFindingsV2` answers with. Several samples describe one exposure (the same metadata
/// uid) at different moments; its copy is the open one, carrying every signal any of them saw,
/// so each sample is confirmed by it.
pub fn held_findings() -> Vec<serde_json::Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .filter(|n| n.starts_with("eks-") && n.ends_with(".json"))
        .collect();
    names.sort();
    let mut held: Vec<serde_json::Value> = Vec::new();
    for name in names {
        let finding = event(&name)["detail"]["findings"][0].clone();
        let open = finding["activity_id"] != 3 && finding["status"] == "New";
        let uid = finding["metadata"]["uid"].clone();
        match held.iter_mut().find(|h| h["metadata"]["uid"] == uid) {
            Some(copy) => {
                let signals = finding["finding_info"]["related_events"].clone();
                if let (Some(all), Some(more)) = (
                    copy["finding_info"]["related_events"].as_array_mut(),
                    signals.as_array(),
                ) {
                    all.extend(more.iter().cloned());
                }
            }
            None if open => held.push(finding),
            None => {}
        }
    }
    held
}

/// `GetFindingsV2` answered from `findings` (by the metadata uid the request filters on), as
/// Security Hub would: the responder re-reads a finding before it changes anything.
pub fn held_findings_rule(findings: Vec<serde_json::Value>) -> Rule {
    mock!(aws_sdk_securityhub::Client::get_findings_v2).then_compute_output(move |input| {
        let wanted: Vec<&str> = input
            .filters()
            .iter()
            .flat_map(|f| f.composite_filters())
            .flat_map(|c| c.string_filters())
            .filter_map(|s| s.filter().and_then(|f| f.value()))
            .collect();
        let mut out = GetFindingsV2Output::builder();
        for f in &findings {
            if f["metadata"]["uid"]
                .as_str()
                .is_some_and(|u| wanted.contains(&u))
            {
                out = out.findings(crate::aws::value_to_document(f));
            }
        }
        out.build()
    })
}

/// SNS and Security Hub clients that succeed and capture their requests; Security Hub holds the
/// sample findings.
pub fn capturing_clients() -> (aws_sdk_sns::Client, aws_sdk_securityhub::Client, Captures) {
    capturing_clients_holding(held_findings())
}

/// As [`capturing_clients`], with Security Hub holding `held` (findings a test made up).
pub fn capturing_clients_holding(
    held: Vec<serde_json::Value>,
) -> (aws_sdk_sns::Client, aws_sdk_securityhub::Client, Captures) {
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
    let held = held_findings_rule(held);
    let securityhub = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, &[&record, &held]);
    (sns, securityhub, captures)
}

/// Environment variables for `Env`-driven settings in tests (the ledger's settings).
pub fn env_of(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What a report could not check, less the note every report carries when there is no decision
/// ledger (the harness runs without one, as a local run does).
pub fn not_checked(report: &crate::Report) -> Vec<&str> {
    report
        .not_checked
        .iter()
        .map(String::as_str)
        .filter(|n| *n != crate::pipeline::NO_LEDGER)
        .collect()
}

/// Dependencies with a mocked EKS client and capturing SNS/Security Hub clients.
pub fn mocked_deps(
    config: CommonConfig,
    eks: aws_sdk_eks::Client,
) -> (Deps<StaticAccess>, Captures) {
    let (sns, securityhub, captures) = capturing_clients();
    (
        Deps {
            notifier: SnsNotifier::new(sns, config.sns_topic_arn.clone()),
            recorder: FindingRecorder::new(securityhub),
            access: StaticAccess::new(eks),
            config,
            emit_metrics: false,
            ledger: None,
        },
        captures,
    )
}

/// Dependencies whose SNS and Security Hub clients are the given ones.
pub fn mocked_deps_with(
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
        ledger: None,
    }
}

// ---- fault injection, shared by every function's fault matrix ----

/// How long one cell of a fault matrix may take: a call that hangs fails its cell instead of
/// holding the test.
pub const CELL_BOUND: std::time::Duration = std::time::Duration::from_secs(20);

/// Run a fault matrix: `run` for every (call × fault), each within `CELL_BOUND`, then `check`
/// with the cell's result and a label naming the cell. Returns how many cells ran.
pub async fn every_cell<C, R, Fut>(
    calls: &[C],
    mut run: impl FnMut(C, Fault) -> Fut,
    mut check: impl FnMut(C, Fault, &str, R),
) -> usize
where
    C: Copy + std::fmt::Debug,
    Fut: std::future::Future<Output = R>,
{
    let mut cells = 0;
    for &call in calls {
        for fault in FAULTS {
            let ctx = format!("{call:?} × {fault:?}");
            let started = std::time::Instant::now();
            let result = tokio::time::timeout(CELL_BOUND, run(call, fault))
                .await
                .unwrap_or_else(|_| panic!("{ctx} hung"));
            assert!(started.elapsed() < CELL_BOUND, "{ctx}");
            check(call, fault, &ctx, result);
            cells += 1;
        }
    }
    cells
}

/// A cell whose transient fault outlasted the SDK's retries: the Lambda error EventBridge
/// retries, naming the call (and the timeout, when it was one).
pub fn assert_retryable(
    result: Result<crate::output::report::Report, crate::pipeline::ResponderError>,
    operation: &str,
    fault: Fault,
    ctx: &str,
) {
    match result {
        Err(e) => {
            assert_eq!(e.error_type(), "AwsTransientError", "{ctx}");
            let text = e.to_string();
            assert!(text.contains(operation), "{ctx}: {text}");
            if fault == Fault::Timeout {
                assert!(text.contains("timed out"), "{ctx}: {text}");
            }
        }
        Ok(r) => panic!(
            "{ctx}: expected a retryable error, got {:?} {}",
            r.outcome, r.reason
        ),
    }
}

/// The report of a cell that must end in one.
pub fn expect_report(
    result: Result<crate::output::report::Report, crate::pipeline::ResponderError>,
    ctx: &str,
) -> crate::output::report::Report {
    result.unwrap_or_else(|e| panic!("{ctx}: unexpected error {e}"))
}

/// A cell that ends in a report with `outcome` and `code`, nothing started on the cluster, and
/// the message sent (none for a skipped finding).
pub fn assert_outcome(
    r: &crate::output::report::Report,
    outcome: crate::output::report::Outcome,
    code: &str,
    ctx: &str,
) {
    use crate::output::report::{EffectStatus, Outcome};
    assert_eq!(
        (r.outcome, r.reason_code.as_str()),
        (outcome, code),
        "{ctx}: {}",
        r.reason
    );
    assert_eq!(r.update_id, None, "{ctx}");
    let n = r.notification.as_ref().expect("notification");
    let told = if outcome == Outcome::Skipped {
        EffectStatus::NotAttempted
    } else {
        EffectStatus::Done
    };
    assert_eq!(n.status, told, "{ctx}: {}", n.detail);
}

/// A cell whose pre-flight could not check something: proposed, refused by the blocker `code`,
/// a not-checked line saying why, and the record and message done.
pub fn assert_refused(r: &crate::output::report::Report, code: &str, not_checked: &str, ctx: &str) {
    assert_eq!(
        (r.outcome, r.reason_code.as_str()),
        (crate::output::report::Outcome::Proposed, code),
        "{ctx}: {}",
        r.reason
    );
    assert_eq!(r.update_id, None, "{ctx}");
    assert!(
        r.not_checked.iter().any(|n| n.contains(not_checked)),
        "{ctx}: {:?}",
        r.not_checked
    );
    assert_effects_done(r, ctx);
}

/// A faulted mock rule was called as often as the SDK retries that fault (where it was mocked).
pub fn assert_attempts(faulted_calls: Option<usize>, fault: Fault, ctx: &str) {
    if let Some(n) = faulted_calls {
        assert_eq!(
            n,
            mocked_attempts(fault),
            "{ctx}: attempts on the faulted call"
        );
    }
}

/// The faults every AWS call is tested under in the fault matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Throttled once, then answered: the SDK's retry absorbs it.
    ThrottleThenOk,
    /// Throttled on every attempt.
    ThrottleExhausted,
    ServerError,
    /// A real transport timeout (a loopback server that never answers).
    Timeout,
    AccessDenied,
    NotFound,
}

pub const FAULTS: [Fault; 6] = [
    Fault::ThrottleThenOk,
    Fault::ThrottleExhausted,
    Fault::ServerError,
    Fault::Timeout,
    Fault::AccessDenied,
    Fault::NotFound,
];

/// An HTTP response for aws-smithy-mocks' `http_response`.
pub fn http(status: u16, body: &str) -> aws_smithy_runtime_api::http::Response {
    let mut r = aws_smithy_runtime_api::http::Response::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap_or_else(|_| {
            aws_smithy_runtime_api::http::StatusCode::try_from(500).expect("500 is a status")
        }),
        aws_smithy_types::body::SdkBody::from(body.to_string()),
    );
    r.headers_mut().insert("content-type", "application/json");
    r
}

/// The wire answer of a REST-JSON service (EKS, Security Hub, KMS) for a fault.
pub fn json_fault(fault: Fault) -> (u16, String) {
    match fault {
        Fault::ThrottleThenOk | Fault::ThrottleExhausted => (
            429,
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into(),
        ),
        Fault::ServerError => (
            500,
            r#"{"__type":"ServerException","message":"internal"}"#.into(),
        ),
        Fault::AccessDenied => (
            403,
            r#"{"__type":"AccessDeniedException","message":"not authorized"}"#.into(),
        ),
        Fault::NotFound => (
            404,
            r#"{"__type":"ResourceNotFoundException","message":"not found"}"#.into(),
        ),
        // Unused: timeouts hang a real socket.
        Fault::Timeout => (599, String::new()),
    }
}

/// The wire answer of an AWS Query service (SNS) for a fault.
pub fn query_fault(fault: Fault) -> (u16, String) {
    let (status, code) = match fault {
        Fault::ThrottleThenOk | Fault::ThrottleExhausted => (400, "Throttling"),
        Fault::ServerError => (500, "InternalError"),
        Fault::AccessDenied => (403, "AuthorizationError"),
        Fault::NotFound => (404, "NotFound"),
        Fault::Timeout => (599, "Unused"),
    };
    (
        status,
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{code}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        ),
    )
}

/// A rule for an operation that answers with a fault (then with `$ok` for `ThrottleThenOk`).
/// `$render` is `json_fault` or `query_fault`.
#[macro_export]
macro_rules! faulty_rule {
    ($op:expr, $fault:expr, $ok:expr, $render:expr) => {{
        let fault: $crate::testing::Fault = $fault;
        let (status, body) = $render(fault);
        let seq = $crate::testing::aws_smithy_mocks::mock!($op).sequence();
        match fault {
            $crate::testing::Fault::ThrottleThenOk => seq
                .http_response(move || $crate::testing::http(status, &body))
                .output($ok)
                .build(),
            _ => seq
                .http_response(move || $crate::testing::http(status, &body))
                .times(10)
                .build(),
        }
    }};
}

/// Retries as in production (three attempts) without the waiting.
pub fn fast_retry() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(std::time::Duration::from_millis(1))
}

/// Timeouts short enough for a test, same shape as `shared::aws::timeouts`.
pub fn fast_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(std::time::Duration::from_millis(200))
        .operation_timeout(std::time::Duration::from_millis(700))
        .build()
}

/// A loopback HTTP server that answers each request whose request line starts with a route's
/// prefix with that route's JSON body, and never answers a request starting with `hang_on`:
/// a real transport timeout for exactly one call. Returns its URL.
pub async fn scripted_server(routes: Vec<(String, String)>, hang_on: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hang_on = hang_on.to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 16 * 1024];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            if head.starts_with(&hang_on) {
                held.push(sock); // say nothing, keep the connection open
                continue;
            }
            let body = routes
                .iter()
                .find(|(prefix, _)| head.starts_with(prefix))
                .map_or("{}", |(_, b)| b.as_str());
            // One request per connection: the server never reads an answered socket again, so
            // a client reusing it would hang on a call that should have been answered.
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            held.push(sock);
        }
    });
    format!("http://{addr}")
}

/// A loopback HTTP server that answers every request with `status` and `body` (an AWS Query
/// error, for STS). Returns its URL.
pub async fn answering_server(status: u16, body: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 16 * 1024];
            let _ = sock.read(&mut buf).await;
            let resp = format!(
                "HTTP/1.1 {status} Answer\r\ncontent-type: text/xml\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        }
    });
    format!("http://{addr}")
}

/// An EKS client on a real endpoint (e.g. `scripted_server`) with test timeouts and retries.
pub fn eks_client_at(url: &str) -> aws_sdk_eks::Client {
    aws_sdk_eks::Client::from_conf(
        aws_sdk_eks::Config::builder()
            .behavior_version(crate::aws::behavior_version())
            .region(aws_sdk_eks::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_eks::config::Credentials::for_tests())
            .endpoint_url(url)
            .timeout_config(fast_timeouts())
            .retry_config(fast_retry())
            .build(),
    )
}

/// The request line of DescribeCluster of `cluster` (the space ends the path, so the cluster's
/// sub-resources do not match it).
pub fn describe_cluster_route(cluster: &str) -> String {
    format!("GET /clusters/{cluster} ")
}

/// The request line of DescribeUpdate of any update of `cluster`.
pub fn describe_update_route(cluster: &str) -> String {
    format!("GET /clusters/{cluster}/updates/")
}

/// An update in progress as EKS sends it on the wire: the answer of the call that starts it and
/// of DescribeUpdate.
pub fn update_json(id: &str, kind: UpdateType) -> String {
    serde_json::json!({ "update": { "id": id, "status": "InProgress", "type": kind.as_str() } })
        .to_string()
}

/// EKS on a loopback server answering DescribeCluster with `cluster`, DescribeUpdate with
/// `update` and the function's own `routes` (prefixes matched in order, so a Describe route
/// comes before the List route it extends), and never answering the request that starts with
/// `hang_on`: a real transport timeout for exactly that call.
pub async fn eks_timing_out_on(
    cluster: &ClusterFixture,
    update: &str,
    routes: Vec<(String, String)>,
    hang_on: &str,
) -> aws_sdk_eks::Client {
    let mut all = vec![
        (
            describe_cluster_route(&cluster.name),
            cluster.describe_json(),
        ),
        (describe_update_route(&cluster.name), update.to_string()),
    ];
    all.extend(routes);
    eks_client_at(&scripted_server(all, hang_on).await)
}

/// An SNS client on a real endpoint with test timeouts and retries.
pub fn sns_client_at(url: &str) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::Config::builder()
            .behavior_version(crate::aws::behavior_version())
            .region(aws_sdk_sns::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sns::config::Credentials::for_tests())
            .endpoint_url(url)
            .timeout_config(fast_timeouts())
            .retry_config(fast_retry())
            .build(),
    )
}

/// A Security Hub client on a real endpoint with test timeouts and retries.
pub fn securityhub_client_at(url: &str) -> aws_sdk_securityhub::Client {
    aws_sdk_securityhub::Client::from_conf(
        aws_sdk_securityhub::Config::builder()
            .behavior_version(crate::aws::behavior_version())
            .region(aws_sdk_securityhub::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_securityhub::config::Credentials::for_tests())
            .endpoint_url(url)
            .timeout_config(fast_timeouts())
            .retry_config(fast_retry())
            .build(),
    )
}

/// Each fault-matrix cell gets its own retry quota: the SDK shares one per service across the
/// process, and a matrix of exhausted retries would otherwise drain it for later cells.
pub fn own_retry_quota(cell: &str) -> aws_sdk_eks::config::retry::RetryPartition {
    aws_sdk_eks::config::retry::RetryPartition::custom(format!("faults-{cell}")).build()
}

/// The SNS client of a fault-matrix cell: `fault` injected when `faulted`, otherwise answering.
/// Returns the faulted rule (to count attempts) where the fault is mocked.
pub async fn sns_for_cell(faulted: bool, fault: Fault) -> (aws_sdk_sns::Client, Option<Rule>) {
    let ok = || PublishOutput::builder().message_id("m").build();
    if !faulted {
        let r = mock!(aws_sdk_sns::Client::publish).then_output(ok);
        return (mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&r]), None);
    }
    if fault == Fault::Timeout {
        return (sns_client_at(&scripted_server(Vec::new(), "").await), None);
    }
    let r = crate::faulty_rule!(aws_sdk_sns::Client::publish, fault, ok, query_fault);
    let client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&r], |b| b
        .retry_config(fast_retry())
        .retry_partition(own_retry_quota(&format!("publish-{fault:?}"))));
    (client, Some(r))
}

/// The Security Hub client (finding record) of a fault-matrix cell, as `sns_for_cell`.
pub async fn recorder_for_cell(
    faulted: bool,
    fault: Fault,
) -> (aws_sdk_securityhub::Client, Option<Rule>) {
    let ok = || BatchUpdateFindingsV2Output::builder().build();
    let held = held_findings_rule(held_findings());
    if !faulted {
        let r = mock!(aws_sdk_securityhub::Client::batch_update_findings_v2).then_output(ok);
        return (
            mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, &[&r, &held]),
            None,
        );
    }
    if fault == Fault::Timeout {
        // The finding is read back before the change; only the record hangs.
        let findings = serde_json::json!({ "Findings": held_findings() }).to_string();
        let routes = vec![("POST /findingsv2 ".to_string(), findings)];
        return (
            securityhub_client_at(
                &scripted_server(routes, "PATCH /findingsv2/batchupdatev2").await,
            ),
            None,
        );
    }
    let r = crate::faulty_rule!(
        aws_sdk_securityhub::Client::batch_update_findings_v2,
        fault,
        ok,
        json_fault
    );
    let client = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, &[&r, &held], |b| b
        .retry_config(fast_retry())
        .retry_partition(own_retry_quota(&format!("record-{fault:?}"))));
    (client, Some(r))
}

/// How many times a mocked faulty call is attempted: the SDK retries throttling and 5xx (three
/// attempts in all), never refusals. Timeouts hit a real socket, not a counted mock rule.
pub fn mocked_attempts(fault: Fault) -> usize {
    match fault {
        Fault::ThrottleThenOk => 2,
        Fault::ThrottleExhausted | Fault::ServerError => 3,
        Fault::AccessDenied | Fault::NotFound => 1,
        Fault::Timeout => 0,
    }
}

/// Assert a report's two side effects: the SNS notification and the finding update. A failed
/// one under a timeout fault must say it timed out.
pub fn assert_effects(
    r: &crate::output::report::Report,
    notified: crate::output::report::EffectStatus,
    recorded: crate::output::report::EffectStatus,
    fault: Fault,
    ctx: &str,
) {
    use crate::output::report::EffectStatus;
    let n = r.notification.as_ref().expect("a notification effect");
    assert_eq!(n.status, notified, "{ctx}: notification: {}", n.detail);
    assert_eq!(
        r.finding_update.status, recorded,
        "{ctx}: finding update: {}",
        r.finding_update.detail
    );
    if fault == Fault::Timeout {
        for (status, detail) in [(n.status, &n.detail), (recorded, &r.finding_update.detail)] {
            if status == EffectStatus::Failed {
                assert!(detail.contains("timed out"), "{ctx}: {detail}");
            }
        }
    }
}

/// Both side effects done.
pub fn assert_effects_done(r: &crate::output::report::Report, ctx: &str) {
    use crate::output::report::EffectStatus::Done;
    assert_effects(r, Done, Done, Fault::ThrottleThenOk, ctx);
}

/// One day in seconds.
pub const DAY: i64 = 86_400;

/// Now, in seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Days from now to (end of standard support, end of extended support) of `1.m`, consistent
/// with its status: standard support ends 30 days after the oldest standard version's does for
/// each newer minor; an extended version's standard support has ended and its extended support
/// has not; an unsupported version's extended support has ended.
pub fn support_dates(m: u32, extended_from: u32, standard_from: u32) -> (i64, i64) {
    let (m, e, s) = (
        i64::from(m),
        i64::from(extended_from),
        i64::from(standard_from),
    );
    if m >= s {
        let std = 30 + (m - s) * 120;
        (std, std + 365)
    } else if m >= e {
        let ext = 30 + (m - e) * 120;
        (ext - 365, ext)
    } else {
        let ext = -30 - (e - 1 - m) * 120;
        (ext - 365, ext)
    }
}

/// 1.23 … 1.35 as DescribeClusterVersions lists them: below `extended_from` UNSUPPORTED, below
/// `standard_from` EXTENDED_SUPPORT, the rest STANDARD_SUPPORT, with `support_dates`.
pub fn version_catalogue(
    extended_from: u32,
    standard_from: u32,
) -> Vec<aws_sdk_eks::types::ClusterVersionInformation> {
    use aws_sdk_eks::primitives::DateTime;
    use aws_sdk_eks::types::{ClusterVersionInformation, VersionStatus};
    (23..=35)
        .map(|m| {
            let status = if m < extended_from {
                VersionStatus::Unsupported
            } else if m < standard_from {
                VersionStatus::ExtendedSupport
            } else {
                VersionStatus::StandardSupport
            };
            let (std, ext) = support_dates(m, extended_from, standard_from);
            ClusterVersionInformation::builder()
                .cluster_version(format!("1.{m}"))
                .cluster_type("eks")
                .version_status(status)
                .end_of_standard_support_date(DateTime::from_secs(now() + std * DAY))
                .end_of_extended_support_date(DateTime::from_secs(now() + ext * DAY))
                .build()
        })
        .collect()
}
