//! The load model: an onboarding burst of exposure findings through the four functions' real
//! `respond` (real SDK clients, their retries and backoff) against [`fake_aws::FakeAws`], with
//! Lambda's asynchronous invocation around it: reserved concurrency, a warm pool of execution
//! environments per function, retries of a function error after 1 and 2 minutes, the maximum
//! event age, and a dead-letter count. Run it under a paused tokio clock (`start_paused`).

// Each test target uses part of the model.
#![allow(dead_code)]

pub mod fake_aws;

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_eks::config::retry::RetryPartition;
use shared::Report;
use shared::aws::AwsAccess;
use shared::aws::AwsError;
use shared::ledger::memory::MemoryLedger;
use shared::ledger::{
    Breaker, Claim, Decision, DecisionLedger, Entry, FindingDecisions, FindingKey, Ledger,
    LedgerSettings,
};
use shared::output::report::EffectStatus;
use shared::pipeline::{Deps, Remediation, respond};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use fake_aws::{ApiCounts, FakeAws, Latency, Quotas, TokioTime};

/// The account the responder runs in (Security Hub's delegated administrator).
pub const HOME_ACCOUNT: &str = "111122223333";
const MEMBER_ROLE: &str = "eks-exposure-responder-member";
const TOPIC: &str = "arn:aws:sns:us-east-1:111122223333:eks-exposure-responder";

/// The onboarding burst.
#[derive(Clone, Debug)]
pub struct Burst {
    pub clusters: usize,
    pub accounts: usize,
    /// Traits on each cluster's exposure finding, 1 to 5 (public endpoint, unsupported version,
    /// unencrypted secrets, exploitable CVE, CVE); each routes to the function that owns it.
    pub traits_per_finding: usize,
    /// Findings Security Hub emits per second.
    pub findings_per_second: f64,
}

/// The Lambda settings of each function, as `template.yaml` sets them.
#[derive(Clone, Debug)]
pub struct LambdaSettings {
    /// Reserved concurrency of each function.
    pub reserved_concurrency: usize,
    /// `MaximumRetryAttempts` of the function's EventInvokeConfig (0–2).
    pub max_retry_attempts: u32,
    /// `MaximumEventAgeInSeconds` (60 s to 6 h).
    pub max_event_age: Duration,
    /// The function timeout.
    pub timeout: Duration,
}

/// The SDK's retry settings: all clients, and the Security Hub clients' own (the responder's
/// shared quota).
#[derive(Clone, Debug)]
pub struct SdkSettings {
    pub retry: RetryConfig,
    pub securityhub_retry: RetryConfig,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub burst: Burst,
    pub lambda: LambdaSettings,
    pub sdk: SdkSettings,
    pub quotas: Quotas,
    pub latency: Latency,
    /// Median latency of one DynamoDB request of the ledger.
    pub ledger_latency: Duration,
}

/// What a burst did.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    pub findings: usize,
    /// Events EventBridge delivered (one per function a finding's traits route to).
    pub events_in: usize,
    pub reports_out: usize,
    /// Reports whose own finding record failed (after the SDK's retries). Not a loss by itself:
    /// a later function's record on the same finding carries every decision before it.
    pub records_failed: usize,
    /// Findings whose comment, at the end, misses a decision the ledger holds: what is lost.
    pub comments_incomplete: usize,
    /// Reports whose SNS message failed.
    pub notifications_failed: usize,
    pub outcomes: BTreeMap<String, usize>,
    /// Invocations that ended in a function error, by error type.
    pub function_errors: BTreeMap<String, usize>,
    /// Invocations Lambda retried after a function error.
    pub lambda_retries: usize,
    pub dead_lettered: usize,
    /// Execution environments started (cold starts).
    pub environments: usize,
    /// From the first finding to the last report.
    pub drain: Duration,
    /// From an event's arrival to its report (or dead letter), over all events.
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Per API: attempts, throttles, SDK retries.
    pub api: BTreeMap<String, ApiCounts>,
    /// Finding records written per finding (BatchUpdateFindingsV2 over metadata uids).
    pub records: std::collections::HashMap<String, u64>,
    /// Operations the fake was asked for and does not answer.
    pub unanswered: Vec<String>,
    /// Per (API, account): most requests accepted within one second, and what the bucket allows.
    pub worst_second: Vec<(String, String, usize, f64)>,
    /// Decisions the ledger holds.
    pub decisions: usize,
}

impl Figures {
    pub fn throttles(&self) -> u64 {
        self.api.values().map(|c| c.throttled).sum()
    }
    pub fn sdk_retries(&self) -> u64 {
        self.api.values().map(|c| c.sdk_retries).sum()
    }
    pub fn calls_per_event(&self, api: &str) -> f64 {
        self.api.get(api).map_or(0.0, |c| c.attempts as f64) / self.events_in.max(1) as f64
    }
}

/// The four functions, as each Lambda runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Function {
    EndpointAccess,
    KubernetesVersion,
    SecretsEncryption,
    ContainerVulnerabilities,
}

pub const FUNCTIONS: [Function; 4] = [
    Function::EndpointAccess,
    Function::KubernetesVersion,
    Function::SecretsEncryption,
    Function::ContainerVulnerabilities,
];

/// The related events of `events/eks-multi-trait.json`, by trait, in the order a finding with
/// `traits_per_finding` of them takes them, and the function each routes to.
const TRAITS: [(usize, Function); 5] = [
    (2, Function::EndpointAccess),
    (3, Function::KubernetesVersion),
    (4, Function::SecretsEncryption),
    (0, Function::ContainerVulnerabilities),
    (1, Function::ContainerVulnerabilities),
];

enum AnyRemediation {
    Endpoint(endpoint_access::EndpointAccess),
    Version(kubernetes_version::KubernetesVersion),
    Secrets(secrets_encryption::SecretsEncryption),
    Cves(container_vulnerabilities::ContainerVulnerabilities),
}

/// One execution environment: what a function's `main` builds at cold start.
struct Environment {
    remediation: AnyRemediation,
    deps: Deps<AwsAccess, TimedLedger>,
}

/// The ledger's table as DynamoDB serves it: the in-memory ledger, each request taking time.
#[derive(Clone)]
pub struct TimedLedger {
    store: MemoryLedger,
    latency: Duration,
}

impl TimedLedger {
    async fn wait(&self) {
        tokio::time::sleep(self.latency).await;
    }
}

impl DecisionLedger for TimedLedger {
    async fn finding(&self, key: &FindingKey) -> Result<FindingDecisions, AwsError> {
        self.wait().await;
        self.store.finding(key).await
    }
    async fn claim(
        &self,
        key: &FindingKey,
        seen: &FindingDecisions,
        decision: &Decision,
    ) -> Result<Claim, AwsError> {
        self.wait().await;
        self.store.claim(key, seen, decision).await
    }
    async fn release(
        &self,
        key: &FindingKey,
        claimed: &FindingDecisions,
        previous: Option<&Entry>,
        decision: &Decision,
    ) -> Result<bool, AwsError> {
        self.wait().await;
        self.store.release(key, claimed, previous, decision).await
    }
    async fn reserve_apply(
        &self,
        function: &str,
        hour: &str,
        max: u32,
        expires_at: i64,
    ) -> Result<bool, AwsError> {
        self.wait().await;
        self.store
            .reserve_apply(function, hour, max, expires_at)
            .await
    }
    async fn breaker(&self, function: &str) -> Result<Breaker, AwsError> {
        self.wait().await;
        self.store.breaker(function).await
    }
    async fn count_apply_result(
        &self,
        function: &str,
        failed: bool,
        why: &str,
    ) -> Result<Breaker, AwsError> {
        self.wait().await;
        self.store.count_apply_result(function, failed, why).await
    }
}

/// The function's own credentials in the responder's account, every call through the fake.
pub fn sdk_config(fake: &FakeAws, retry: RetryConfig) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_eks::config::SharedCredentialsProvider::new(
            aws_sdk_eks::config::Credentials::new(
                format!("AKIA{HOME_ACCOUNT}"),
                "fake-secret",
                None,
                None,
                "load-model",
            ),
        ))
        .http_client(fake.clone())
        .time_source(TokioTime::new())
        .timeout_config(shared::aws::timeouts())
        .retry_config(retry)
        .build()
}

fn common_config() -> shared::CommonConfig {
    let env = shared::testing::env_of(&[
        ("SNS_TOPIC_ARN", TOPIC),
        ("MEMBER_ROLE_NAME", MEMBER_ROLE),
        ("LEDGER_TABLE", "eks-exposure-responder-ledger"),
    ]);
    shared::CommonConfig::from_env(&env).expect("config")
}

impl Environment {
    /// A cold start. Each environment is its own process in Lambda, so its Security Hub and SNS
    /// clients get their own retry partition (token bucket and, in adaptive mode, client rate
    /// limiter) instead of the one a process shares.
    fn start(
        function: Function,
        n: usize,
        fake: &FakeAws,
        model: &Model,
        ledger: &TimedLedger,
    ) -> Self {
        let sdk = sdk_config(fake, model.sdk.retry.clone());
        let config = common_config();
        let securityhub = || {
            aws_sdk_securityhub::Client::from_conf(
                aws_sdk_securityhub::config::Builder::from(&sdk)
                    .retry_config(model.sdk.securityhub_retry.clone())
                    .retry_partition(RetryPartition::new(format!("securityhub-{n}")))
                    .build(),
            )
        };
        let sns = aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&sdk)
                .retry_partition(RetryPartition::new(format!("sns-{n}")))
                .build(),
        );
        let none = std::collections::HashMap::<String, String>::new();
        let remediation = match function {
            Function::EndpointAccess => AnyRemediation::Endpoint(
                endpoint_access::EndpointAccess::new(endpoint_access::Settings::default()),
            ),
            Function::KubernetesVersion => {
                AnyRemediation::Version(kubernetes_version::KubernetesVersion::new())
            }
            Function::SecretsEncryption => {
                AnyRemediation::Secrets(secrets_encryption::SecretsEncryption::new(
                    secrets_encryption::Settings::from_env(&none).expect("settings"),
                ))
            }
            Function::ContainerVulnerabilities => {
                AnyRemediation::Cves(container_vulnerabilities::ContainerVulnerabilities::new(
                    container_vulnerabilities::Settings::from_env(&none).expect("settings"),
                    securityhub(),
                ))
            }
        };
        let settings: LedgerSettings = config.ledger.clone().expect("ledger settings");
        let deps = Deps {
            access: AwsAccess::new(sdk.clone(), config.member_role_name.clone(), name(function)),
            notifier: shared::output::notify::SnsNotifier::new(sns, config.sns_topic_arn.clone()),
            recorder: shared::output::record::FindingRecorder::new(securityhub()),
            ledger: Some(Ledger {
                store: ledger.clone(),
                settings,
                clock: shared::ledger::system_clock,
            }),
            config,
            emit_metrics: false,
        };
        Environment { remediation, deps }
    }

    async fn invoke(&self, payload: &serde_json::Value) -> Result<Report, String> {
        let home = Some(HOME_ACCOUNT);
        let event = payload.clone();
        let result = match &self.remediation {
            AnyRemediation::Endpoint(r) => Box::pin(respond(r, &self.deps, event, home)).await,
            AnyRemediation::Version(r) => Box::pin(respond(r, &self.deps, event, home)).await,
            AnyRemediation::Secrets(r) => Box::pin(respond(r, &self.deps, event, home)).await,
            AnyRemediation::Cves(r) => Box::pin(respond(r, &self.deps, event, home)).await,
        };
        result.map_err(|e| e.error_type().to_string())
    }
}

fn name(function: Function) -> &'static str {
    match function {
        Function::EndpointAccess => endpoint_access::EndpointAccess::FUNCTION,
        Function::KubernetesVersion => kubernetes_version::KubernetesVersion::FUNCTION,
        Function::SecretsEncryption => secrets_encryption::SecretsEncryption::FUNCTION,
        Function::ContainerVulnerabilities => {
            container_vulnerabilities::ContainerVulnerabilities::FUNCTION
        }
    }
}

/// The member account of cluster `i`.
pub fn account_of(i: usize, accounts: usize) -> String {
    format!("{:012}", 200_000_000_000usize + i % accounts.max(1))
}

/// Cluster `i`'s exposure finding, as Security Hub in the administrator account emits it, and
/// the functions its traits route to.
pub fn finding_event(
    template: &serde_json::Value,
    i: usize,
    accounts: usize,
    traits: usize,
) -> (serde_json::Value, Vec<Function>) {
    let account = account_of(i, accounts);
    let cluster = format!("cluster-{i:05}");
    let text = template
        .to_string()
        .replace("444455556666", &account)
        .replace("platform-shared", &cluster);
    let mut event: serde_json::Value = serde_json::from_str(&text).expect("event");
    event["account"] = HOME_ACCOUNT.into();
    let finding = &mut event["detail"]["findings"][0];
    finding["metadata"]["uid"] = format!("{i:064x}").into();
    let related = finding["finding_info"]["related_events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let chosen: Vec<(usize, Function)> = (0..traits.clamp(1, 5))
        .map(|k| TRAITS[(i + k) % TRAITS.len()])
        .collect();
    finding["finding_info"]["related_events"] = chosen
        .iter()
        .map(|(idx, _)| related[*idx].clone())
        .collect();
    finding["finding_info"]["related_events_count"] = chosen.len().into();
    let mut functions: Vec<Function> = chosen.iter().map(|(_, f)| *f).collect();
    functions.sort();
    functions.dedup();
    (event, functions)
}

/// One event in a function's asynchronous queue.
struct Queued {
    payload: Rc<serde_json::Value>,
    arrived: Instant,
    attempts: u32,
}

/// What happened to each event.
#[derive(Default)]
struct Tally {
    reports: usize,
    records_failed: usize,
    notifications_failed: usize,
    outcomes: BTreeMap<String, usize>,
    errors: BTreeMap<String, usize>,
    retries: usize,
    dead: usize,
    environments: usize,
    latencies: Vec<Duration>,
    last: Option<Instant>,
}

/// Lambda's waits before the retries of an asynchronously invoked function that returned an
/// error: "a one-minute wait between the first two attempts, and two minutes between the second
/// and third attempts" (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
fn retry_wait(attempt: u32) -> Duration {
    if attempt <= 1 {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(120)
    }
}

/// Run the burst; call inside a runtime with a paused clock.
pub async fn run(model: &Model) -> Figures {
    let local = tokio::task::LocalSet::new();
    local.run_until(run_local(model)).await
}

async fn run_local(model: &Model) -> Figures {
    let fake = FakeAws::new(model.quotas.clone(), model.latency.clone());
    let ledger = TimedLedger {
        store: MemoryLedger::new(),
        latency: model.ledger_latency,
    };
    let template = shared::testing::event("eks-multi-trait.json");
    let tally = Rc::new(std::cell::RefCell::new(Tally::default()));
    let start = Instant::now();

    let mut senders = BTreeMap::new();
    let mut workers = Vec::new();
    for function in FUNCTIONS {
        let (tx, rx) = mpsc::unbounded_channel::<Queued>();
        senders.insert(function, tx.clone());
        workers.push(tokio::task::spawn_local(poll_queue(
            function,
            rx,
            tx,
            fake.clone(),
            model.clone(),
            ledger.clone(),
            tally.clone(),
        )));
    }
    let mut events_in = 0;
    for i in 0..model.burst.clusters {
        let due = start + Duration::from_secs_f64(i as f64 / model.burst.findings_per_second);
        tokio::time::sleep_until(due).await;
        let (event, functions) = finding_event(
            &template,
            i,
            model.burst.accounts,
            model.burst.traits_per_finding,
        );
        let payload = Rc::new(event);
        for f in functions {
            events_in += 1;
            let _ = senders[&f].send(Queued {
                payload: payload.clone(),
                arrived: Instant::now(),
                attempts: 0,
            });
        }
    }
    // Every event ends in a report or a dead letter; then the queues close.
    loop {
        let done = {
            let t = tally.borrow();
            t.reports + t.dead
        };
        if done >= events_in {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(senders);
    for w in workers {
        w.abort();
    }
    let t = tally.borrow();
    let mut latencies = t.latencies.clone();
    latencies.sort();
    let pct = |p: f64| -> Duration {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    Figures {
        findings: model.burst.clusters,
        events_in,
        reports_out: t.reports,
        records_failed: t.records_failed,
        notifications_failed: t.notifications_failed,
        outcomes: t.outcomes.clone(),
        function_errors: t.errors.clone(),
        lambda_retries: t.retries,
        dead_lettered: t.dead,
        environments: t.environments,
        drain: t.last.map_or(Duration::ZERO, |l| l - start),
        p50: pct(0.50),
        p99: pct(0.99),
        max: latencies.last().copied().unwrap_or_default(),
        api: {
            let mut api = fake.counts();
            for call in ledger.store.calls() {
                api.entry(format!("dynamodb:{call}")).or_default().attempts += 1;
            }
            api
        },
        comments_incomplete: {
            let comments = fake.comments();
            let mut missing: std::collections::HashSet<String> = Default::default();
            for d in ledger.store.decisions() {
                let has = comments
                    .get(&d.metadata_uid)
                    .is_some_and(|c| c.contains(&format!("{} ", d.function)));
                if !has {
                    missing.insert(d.metadata_uid.clone());
                }
            }
            missing.len()
        },
        records: fake.records(),
        unanswered: fake.unanswered(),
        worst_second: fake.worst_window(Duration::from_secs(1)),
        decisions: ledger.store.decisions().len(),
    }
}

/// Lambda's poller for one function: the next queued event goes to a free environment, or
/// waits until reserved concurrency frees one (the poller's own backoff is not modelled: the
/// queueing delay is a lower bound). An event older than the maximum event age is discarded.
async fn poll_queue(
    function: Function,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    requeue: mpsc::UnboundedSender<Queued>,
    fake: FakeAws,
    model: Model,
    ledger: TimedLedger,
    tally: Rc<std::cell::RefCell<Tally>>,
) {
    let slots = std::sync::Arc::new(Semaphore::new(model.lambda.reserved_concurrency));
    let warm: Rc<std::cell::RefCell<Vec<Environment>>> = Rc::default();
    let mut started = 0usize;
    while let Some(queued) = rx.recv().await {
        let permit = slots.clone().acquire_owned().await.expect("semaphore");
        if queued.arrived.elapsed() > model.lambda.max_event_age {
            let mut t = tally.borrow_mut();
            t.dead += 1;
            t.latencies.push(queued.arrived.elapsed());
            t.last = Some(Instant::now());
            continue;
        }
        let env = match warm.borrow_mut().pop() {
            Some(env) => env,
            None => {
                started += 1;
                tally.borrow_mut().environments += 1;
                Environment::start(
                    function,
                    started * 8 + function as usize,
                    &fake,
                    &model,
                    &ledger,
                )
            }
        };
        let warm = warm.clone();
        let tally = tally.clone();
        let requeue = requeue.clone();
        let model = model.clone();
        tokio::task::spawn_local(async move {
            let result = tokio::time::timeout(model.lambda.timeout, env.invoke(&queued.payload))
                .await
                .unwrap_or_else(|_| Err("Sandbox.Timedout".to_string()));
            warm.borrow_mut().push(env);
            drop(permit);
            let retry = {
                let mut t = tally.borrow_mut();
                match result {
                    Ok(report) => {
                        t.reports += 1;
                        if report.finding_update.status == EffectStatus::Failed {
                            t.records_failed += 1;
                        }
                        if report
                            .notification
                            .as_ref()
                            .is_some_and(|n| n.status == EffectStatus::Failed)
                        {
                            t.notifications_failed += 1;
                        }
                        *t.outcomes
                            .entry(format!("{}/{}", report.outcome.id(), report.reason_code))
                            .or_default() += 1;
                        t.latencies.push(queued.arrived.elapsed());
                        t.last = Some(Instant::now());
                        None
                    }
                    Err(error_type) => {
                        *t.errors.entry(error_type).or_default() += 1;
                        if queued.attempts < model.lambda.max_retry_attempts {
                            t.retries += 1;
                            Some(queued)
                        } else {
                            t.dead += 1;
                            t.latencies.push(queued.arrived.elapsed());
                            t.last = Some(Instant::now());
                            None
                        }
                    }
                }
            };
            if let Some(queued) = retry {
                tokio::time::sleep(retry_wait(queued.attempts + 1)).await;
                let _ = requeue.send(Queued {
                    attempts: queued.attempts + 1,
                    ..queued
                });
            }
        });
    }
}
