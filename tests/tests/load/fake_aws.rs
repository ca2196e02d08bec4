//! An in-process AWS behind the SDK's HTTP client seam: every request the real clients build
//! (signed, serialized, with the SDK's retry and backoff around it) is answered here with a valid
//! body, or with the service's own throttling error when the caller's token bucket is empty.
//! Latency is simulated with `tokio::time::sleep`, so under a paused clock a burst that takes
//! minutes of AWS time runs in seconds.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use tokio::time::Instant;

/// A documented request-rate quota: a token bucket refilled at `rate` per second, holding at
/// most `burst` requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quota {
    pub rate: f64,
    pub burst: f64,
}

/// The quotas the fake enforces, each per calling account (and Region: the model has one).
#[derive(Clone, Debug)]
pub struct Quotas {
    /// Security Hub `GetFindingsV2`. The API reference gives `GetFindings` "RateLimit of 3
    /// requests per second. BurstLimit of 6 requests per second" and "All other operations"
    /// 10/30 (https://docs.aws.amazon.com/securityhub/1.0/APIReference/Welcome.html). The V2
    /// operations are not listed: UNCONFIRMED. `GetFindingsV2` is authorised by the same IAM
    /// action as `GetFindings`, so the model assumes the stricter V1 figure, 3/6.
    pub securityhub_get_findings_v2: Quota,
    /// Security Hub `BatchUpdateFindingsV2`: UNCONFIRMED (not listed); `BatchUpdateFindings` and
    /// "All other operations" are 10/30 (same page), which the model assumes.
    pub securityhub_batch_update_findings_v2: Quota,
    /// Each EKS API, per account: UNCONFIRMED. EKS documents no request-rate quotas (its
    /// service-quotas page lists resource quotas only), yet answers `ThrottlingException`
    /// (HTTP 429, in the EKS API model). The model assumes 10/s with a burst of 30 per API.
    pub eks_per_api: Quota,
    /// STS `AssumeRole`, counted against the calling account (the responder's): UNCONFIRMED (no
    /// figure on the IAM/STS quotas page; https://repost.aws/knowledge-center/iam-sts-throttling-error
    /// says rate limits exist and cannot be raised). The model assumes 50/s, burst 100.
    pub sts_assume_role: Quota,
    /// SNS `Publish` on a standard topic: 30,000 messages per second in us-east-1 (9,000 in
    /// Oregon and Ireland, 300 in the smallest Regions), https://docs.aws.amazon.com/general/latest/gr/sns.html .
    pub sns_publish: Quota,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            securityhub_get_findings_v2: Quota {
                rate: 3.0,
                burst: 6.0,
            },
            securityhub_batch_update_findings_v2: Quota {
                rate: 10.0,
                burst: 30.0,
            },
            eks_per_api: Quota {
                rate: 10.0,
                burst: 30.0,
            },
            sts_assume_role: Quota {
                rate: 50.0,
                burst: 100.0,
            },
            sns_publish: Quota {
                rate: 30_000.0,
                burst: 30_000.0,
            },
        }
    }
}

impl Quotas {
    fn of(&self, api: &str) -> Quota {
        match api {
            "securityhub:GetFindingsV2" => self.securityhub_get_findings_v2,
            "securityhub:BatchUpdateFindingsV2" => self.securityhub_batch_update_findings_v2,
            "sts:AssumeRole" => self.sts_assume_role,
            "sns:Publish" => self.sns_publish,
            _ => self.eks_per_api,
        }
    }
}

/// Median service-side latency per call (each call takes 0.6–1.4× this, one in fifty 4×):
/// figures of the order AWS clients in-Region observe; the model's results scale with them.
#[derive(Clone, Debug)]
pub struct Latency {
    pub eks: Duration,
    pub securityhub: Duration,
    pub sts: Duration,
    pub sns: Duration,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            eks: Duration::from_millis(60),
            securityhub: Duration::from_millis(120),
            sts: Duration::from_millis(40),
            sns: Duration::from_millis(25),
        }
    }
}

/// What the fake saw, per API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiCounts {
    /// Requests answered (accepted or throttled).
    pub attempts: u64,
    /// Requests refused with the service's throttling error.
    pub throttled: u64,
    /// Requests the SDK sent as a retry (`amz-sdk-request: attempt=N`, N > 1).
    pub sdk_retries: u64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<(String, String), Bucket>,
    counts: BTreeMap<String, ApiCounts>,
    /// Accepted requests per (API, account): their times, to check the quota afterwards.
    accepted: HashMap<(String, String), Vec<Instant>>,
    /// Finding records written, per metadata uid.
    records: HashMap<String, u64>,
    /// The comment each finding carries now.
    comments: HashMap<String, String>,
    /// Requests for an operation the fake does not answer.
    unanswered: Vec<String>,
    rng: u64,
}

/// The fake AWS; clones share one state.
#[derive(Clone, Debug)]
pub struct FakeAws {
    state: Arc<Mutex<State>>,
    quotas: Arc<Quotas>,
    latency: Arc<Latency>,
    /// The Kubernetes version every cluster runs.
    version: &'static str,
}

/// The account id the fake encodes in the access key ids it hands out (`ASIA` + account).
pub fn access_key_for(account: &str) -> String {
    format!("ASIA{account}")
}

impl FakeAws {
    pub fn new(quotas: Quotas, latency: Latency) -> Self {
        FakeAws {
            state: Arc::new(Mutex::new(State {
                rng: 0x9E37_79B9_7F4A_7C15,
                ..State::default()
            })),
            quotas: Arc::new(quotas),
            latency: Arc::new(latency),
            version: "1.24",
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fake AWS state")
    }

    pub fn counts(&self) -> BTreeMap<String, ApiCounts> {
        self.state().counts.clone()
    }

    pub fn unanswered(&self) -> Vec<String> {
        self.state().unanswered.clone()
    }

    pub fn comments(&self) -> HashMap<String, String> {
        self.state().comments.clone()
    }

    pub fn records(&self) -> HashMap<String, u64> {
        self.state().records.clone()
    }

    /// The most requests any (API, account) had accepted within any `window`, against what its
    /// bucket allows in that window (`burst + rate × window`), for the worst (API, account).
    pub fn worst_window(&self, window: Duration) -> Vec<(String, String, usize, f64)> {
        let state = self.state();
        let mut out = Vec::new();
        for ((api, account), times) in &state.accepted {
            let q = self.quotas.of(api);
            let allowed = q.burst + q.rate * window.as_secs_f64();
            let mut most = 0;
            let mut start = 0;
            for end in 0..times.len() {
                while times[end] - times[start] > window {
                    start += 1;
                }
                most = most.max(end - start + 1);
            }
            out.push((api.clone(), account.clone(), most, allowed));
        }
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    /// Take a token from the caller's bucket for `api`; false when it is empty.
    fn admit(&self, api: &str, account: &str, now: Instant) -> bool {
        let q = self.quotas.of(api);
        let mut state = self.state();
        let bucket = state
            .buckets
            .entry((api.to_string(), account.to_string()))
            .or_insert(Bucket {
                tokens: q.burst,
                at: now,
            });
        bucket.tokens = (bucket.tokens + (now - bucket.at).as_secs_f64() * q.rate).min(q.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            state
                .accepted
                .entry((api.to_string(), account.to_string()))
                .or_default()
                .push(now);
            true
        } else {
            false
        }
    }

    /// 0.6–1.4× the median, one call in fifty 4× (splitmix64: deterministic per run).
    fn latency(&self, median: Duration) -> Duration {
        let mut state = self.state();
        state.rng = state.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let u = (z % 10_000) as f64 / 10_000.0;
        let factor = if z.is_multiple_of(50) {
            4.0
        } else {
            0.6 + 0.8 * u
        };
        median.mul_f64(factor)
    }

    async fn answer(&self, request: Request) -> Response {
        let median = match request.service.as_str() {
            "eks" => self.latency.eks,
            "securityhub" => self.latency.securityhub,
            "sts" => self.latency.sts,
            _ => self.latency.sns,
        };
        tokio::time::sleep(self.latency(median)).await;
        let now = Instant::now();
        let admitted = self.admit(&request.api, &request.account, now);
        {
            let mut state = self.state();
            let c = state.counts.entry(request.api.clone()).or_default();
            c.attempts += 1;
            if request.attempt > 1 {
                c.sdk_retries += 1;
            }
            if !admitted {
                c.throttled += 1;
            }
        }
        if !admitted {
            return throttled(&request.service);
        }
        self.respond(&request)
    }

    fn respond(&self, request: &Request) -> Response {
        match request.api.as_str() {
            "eks:DescribeCluster" => {
                let name = request.path.trim_start_matches("/clusters/");
                let account = &request.account;
                json(
                    200,
                    serde_json::json!({"cluster": {
                        "name": name,
                        "arn": format!("arn:aws:eks:us-east-1:{account}:cluster/{name}"),
                        "createdAt": 1_700_000_000.0,
                        "version": self.version,
                        "status": "ACTIVE",
                        "roleArn": format!("arn:aws:iam::{account}:role/eks-cluster-role"),
                        "resourcesVpcConfig": {
                            "endpointPublicAccess": true,
                            "endpointPrivateAccess": false,
                            "publicAccessCidrs": ["0.0.0.0/0"],
                        },
                        "tags": {"team": "platform"},
                    }}),
                )
            }
            "eks:ListNodegroups" => json(200, serde_json::json!({"nodegroups": []})),
            "eks:ListInsights" => json(200, serde_json::json!({"insights": []})),
            "eks:ListAddons" => json(200, serde_json::json!({"addons": []})),
            "eks:ListUpdates" => json(200, serde_json::json!({"updateIds": []})),
            "eks:DescribeClusterVersions" => {
                json(200, serde_json::json!({"clusterVersions": []}))
            }
            "securityhub:GetFindingsV2" => json(200, serde_json::json!({"Findings": []})),
            "securityhub:BatchUpdateFindingsV2" => {
                let body: serde_json::Value =
                    serde_json::from_slice(&request.body).unwrap_or_default();
                let uids: Vec<String> = body["MetadataUids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect();
                let comment = body["Comment"].as_str().unwrap_or_default().to_string();
                let mut state = self.state();
                for uid in &uids {
                    *state.records.entry(uid.clone()).or_default() += 1;
                    state.comments.insert(uid.clone(), comment.clone());
                }
                let processed: Vec<_> = uids
                    .iter()
                    .map(|u| serde_json::json!({"MetadataUid": u}))
                    .collect();
                json(
                    200,
                    serde_json::json!({"ProcessedFindings": processed, "UnprocessedFindings": []}),
                )
            }
            "sts:AssumeRole" => {
                let account = form_value(&request.body, "RoleArn")
                    .and_then(|arn| arn.split(':').nth(4).map(str::to_string))
                    .unwrap_or_default();
                let expires = aws_smithy_types::DateTime::from(
                    std::time::SystemTime::now() + Duration::from_secs(3600),
                )
                .fmt(aws_smithy_types::date_time::Format::DateTime)
                .unwrap_or_default();
                xml(
                    200,
                    format!(
                        r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>fake-secret</SecretAccessKey><SessionToken>fake-token</SessionToken><Expiration>{expires}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAFAKE:responder</AssumedRoleId><Arn>arn:aws:sts::{account}:assumed-role/member/responder</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></AssumeRoleResponse>"#,
                        access_key_for(&account)
                    ),
                )
            }
            "sns:Publish" => xml(
                200,
                r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>fake-message</MessageId></PublishResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></PublishResponse>"#.to_string(),
            ),
            other => {
                self.state().unanswered.push(other.to_string());
                json(
                    501,
                    serde_json::json!({"message": format!("the load model does not answer {other}")}),
                )
            }
        }
    }
}

/// One request, as the fake reads it.
struct Request {
    service: String,
    api: String,
    account: String,
    path: String,
    attempt: u32,
    body: Vec<u8>,
}

impl Request {
    fn read(request: &HttpRequest) -> Request {
        let auth = request.headers().get("authorization").unwrap_or_default();
        // SigV4: "Credential=<key id>/<date>/<region>/<service>/aws4_request".
        let scope: Vec<&str> = auth
            .split("Credential=")
            .nth(1)
            .unwrap_or_default()
            .split([',', ' '])
            .next()
            .unwrap_or_default()
            .split('/')
            .collect();
        let key_id = scope.first().copied().unwrap_or_default();
        let account = key_id.get(4..16).unwrap_or_default().to_string();
        let service = scope.get(3).copied().unwrap_or_default().to_string();
        let uri = request.uri();
        let path = uri
            .split("://")
            .nth(1)
            .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or("/")
            .split('?')
            .next()
            .unwrap_or("/")
            .to_string();
        let body = request.body().bytes().unwrap_or_default().to_vec();
        let attempt = request
            .headers()
            .get("amz-sdk-request")
            .and_then(|h| h.split(';').next())
            .and_then(|a| a.trim().strip_prefix("attempt="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let op = match service.as_str() {
            "eks" => eks_operation(request.method(), &path),
            "securityhub" => match path.as_str() {
                "/findingsv2" => "GetFindingsV2".to_string(),
                "/findingsv2/batchupdatev2" => "BatchUpdateFindingsV2".to_string(),
                other => format!("{} {other}", request.method()),
            },
            _ => form_value(&body, "Action").unwrap_or_default(),
        };
        Request {
            api: format!("{service}:{op}"),
            service,
            account,
            path,
            attempt,
            body,
        }
    }
}

/// The EKS operation of a REST request (the routes of the EKS API model).
fn eks_operation(method: &str, path: &str) -> String {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["clusters", _]) => "DescribeCluster",
        ("GET", ["clusters", _, "node-groups"]) => "ListNodegroups",
        ("POST", ["clusters", _, "insights"]) => "ListInsights",
        ("GET", ["clusters", _, "addons"]) => "ListAddons",
        ("GET", ["clusters", _, "updates"]) => "ListUpdates",
        ("GET", ["cluster-versions"]) => "DescribeClusterVersions",
        _ => return format!("{method} {path}"),
    }
    .to_string()
}

/// A value of a form-encoded (AWS query protocol) body.
fn form_value(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json(status: u16, body: serde_json::Value) -> Response {
    let mut r = Response::new(
        StatusCode::try_from(status).expect("a status"),
        SdkBody::from(body.to_string()),
    );
    r.headers_mut().insert("content-type", "application/json");
    r
}

fn xml(status: u16, body: String) -> Response {
    let mut r = Response::new(
        StatusCode::try_from(status).expect("a status"),
        SdkBody::from(body),
    );
    r.headers_mut().insert("content-type", "text/xml");
    r
}

/// Each service's throttling error as its API model defines it: EKS and Security Hub
/// `ThrottlingException` (HTTP 429, REST-JSON), SNS `Throttled` (HTTP 429, query protocol),
/// STS `Throttling` (HTTP 400: not in the STS model; the code STS answers with).
fn throttled(service: &str) -> Response {
    match service {
        "eks" | "securityhub" => {
            let mut r = json(429, serde_json::json!({"message": "Rate exceeded"}));
            r.headers_mut()
                .insert("x-amzn-errortype", "ThrottlingException");
            r
        }
        "sns" => xml(
            429,
            query_error("Throttled", "http://sns.amazonaws.com/doc/2010-03-31/"),
        ),
        _ => xml(
            400,
            query_error("Throttling", "https://sts.amazonaws.com/doc/2011-06-15/"),
        ),
    }
}

fn query_error(code: &str, ns: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="{ns}"><Error><Type>Sender</Type><Code>{code}</Code><Message>Rate exceeded</Message></Error><RequestId>fake</RequestId></ErrorResponse>"#
    )
}

impl HttpConnector for FakeAws {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let fake = self.clone();
        let request = Request::read(&request);
        HttpConnectorFuture::new(async move { Ok(fake.answer(request).await) })
    }
}

impl HttpClient for FakeAws {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// The SDK's clock, following tokio's (paused) one: signing, credential expiry and the adaptive
/// rate limiter then see simulated time pass.
#[derive(Debug)]
pub struct TokioTime {
    start_system: std::time::SystemTime,
    start: Instant,
}

impl TokioTime {
    pub fn new() -> Self {
        TokioTime {
            start_system: std::time::SystemTime::now(),
            start: Instant::now(),
        }
    }
}

impl aws_smithy_async::time::TimeSource for TokioTime {
    fn now(&self) -> std::time::SystemTime {
        self.start_system + self.start.elapsed()
    }
}
