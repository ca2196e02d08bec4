//! Fault matrix of secrets-encryption: every AWS call the function makes,
//! under throttling (recovering and exhausted), 5xx, a real transport timeout, AccessDenied and
//! not-found, ends as `expected` says — a report with a given outcome and reason code, a Lambda
//! error EventBridge retries and dead-letters, or an association whose notification, finding
//! record or verification is reported as it went. No cell panics, none outlives its bound, and
//! AssociateEncryptionConfig — irreversible — is never called after a failed precondition.
//!
//! The clean path: sample event `eks-unencrypted-secrets.json` (cluster orders-staging, no
//! encryptionConfig), MODE apply, `SECRETS_KMS_KEY_ARN` set to a key in the cluster's Region that
//! passes every pre-flight check (enabled, symmetric, ENCRYPT_DECRYPT, customer managed).

use aws_sdk_eks::operation::associate_encryption_config::{
    AssociateEncryptionConfigInput, AssociateEncryptionConfigOutput,
};
use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::types::{Update, UpdateStatus, UpdateType};
use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
use aws_sdk_kms::types::{KeyManagerType, KeyMetadata, KeySpec, KeyState, KeyUsageType};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use secrets_encryption::{KmsAccess, KmsKeyArn, SecretsEncryption, Settings};
use shared::config::Mode;
use shared::faulty_rule;
use shared::output::report::{EffectStatus, Outcome, Report};
use shared::pipeline::{ResponderError, respond};
use shared::testing::{
    ClusterFixture, Executions, Fault, assert_attempts, assert_effects, assert_effects_done,
    assert_outcome, assert_refused, assert_retryable, config, describe_cluster_route,
    describe_update_route, event, every_cell, expect_report, fast_retry, fast_timeouts, json_fault,
    mocked_deps_with, own_retry_quota, recorder_for_cell, scripted_server, sns_for_cell,
    update_json,
};

const EVENT: &str = "eks-unencrypted-secrets.json";
const CLUSTER: &str = "orders-staging";
const KEY: &str = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/// No cell may take longer: far below the function's timeout, far above a cell's real time.

#[derive(Clone, Copy, Debug, PartialEq)]
enum Call {
    DescribeCluster,
    DescribeKey,
    AssociateEncryptionConfig,
    DescribeUpdate,
    Publish,
    BatchUpdateFindingsV2,
}

const CALLS: [Call; 6] = [
    Call::DescribeCluster,
    Call::DescribeKey,
    Call::AssociateEncryptionConfig,
    Call::DescribeUpdate,
    Call::Publish,
    Call::BatchUpdateFindingsV2,
];

impl Call {
    /// The operation as `AwsError` names it (and so as a Lambda error message names it).
    fn operation(self) -> &'static str {
        match self {
            Call::DescribeCluster => "eks:DescribeCluster",
            Call::DescribeKey => "kms:DescribeKey",
            Call::AssociateEncryptionConfig => "eks:AssociateEncryptionConfig",
            Call::DescribeUpdate => "eks:DescribeUpdate",
            Call::Publish => "sns:Publish",
            Call::BatchUpdateFindingsV2 => "securityhub:BatchUpdateFindings",
        }
    }
}

/// What each cell must end in.
#[derive(Debug, PartialEq)]
enum Expect {
    /// Key associated (update upd-enc-1), verified by DescribeUpdate, published and recorded.
    Applied,
    /// Associated, but DescribeUpdate was refused: reported as applied with the command to
    /// follow it, never failed (the one-way change was made).
    AppliedUnverified,
    AppliedButNotified(EffectStatus),
    AppliedButRecorded(EffectStatus),
    /// The key pre-flight could not check the key: proposed, refused by the blocker `code`, and
    /// a not-checked line contains the text.
    Refused {
        code: &'static str,
        not_checked: &'static str,
    },
    Outcome(Outcome, &'static str),
    /// `AwsTransientError` naming the call: EventBridge retries, then dead-letters.
    LambdaError,
}

/// The contract, cell by cell.
fn expected(call: Call, fault: Fault) -> Expect {
    use Call::*;
    use Fault::*;
    match (call, fault) {
        // Side effects after the decision: reported on the report, never raised.
        (Publish, ThrottleThenOk) => Expect::AppliedButNotified(EffectStatus::Done),
        (Publish, _) => Expect::AppliedButNotified(EffectStatus::Failed),
        (BatchUpdateFindingsV2, ThrottleThenOk) => Expect::AppliedButRecorded(EffectStatus::Done),
        (BatchUpdateFindingsV2, _) => Expect::AppliedButRecorded(EffectStatus::Failed),
        // The SDK's retry absorbs one throttle.
        (_, ThrottleThenOk) => Expect::Applied,
        // An update EKS accepted ends `applied` whatever DescribeUpdate does: unverified, with
        // the update id, never a retried error (the retry would see UPDATING and say deferred).
        (DescribeUpdate, _) => Expect::AppliedUnverified,
        // Transient after the SDK's retries: the event is retried (AssociateEncryptionConfig
        // with the same clientRequestToken, so a request that did reach EKS is not doubled).
        (_, ThrottleExhausted | ServerError | Timeout) => Expect::LambdaError,
        (DescribeCluster, AccessDenied) => Expect::Outcome(Outcome::Failed, "access_denied_failed"),
        (DescribeCluster, NotFound) => Expect::Outcome(Outcome::Skipped, "cluster_not_found"),
        (DescribeKey, AccessDenied) => Expect::Refused {
            code: "key_not_checked",
            not_checked: "kms:DescribeKey failed (AccessDeniedException)",
        },
        (DescribeKey, NotFound) => Expect::Refused {
            code: "key_not_found",
            not_checked: "kms:DescribeKey failed (ResourceNotFoundException)",
        },
        (AssociateEncryptionConfig, AccessDenied) => {
            Expect::Outcome(Outcome::Failed, "access_denied_failed")
        }
        (AssociateEncryptionConfig, NotFound) => {
            Expect::Outcome(Outcome::Failed, "not_found_failed")
        }
    }
}

/// AssociateEncryptionConfig executions per cell: one wherever the association is reached (its
/// own cells and DescribeUpdate's included: the SDK's retries are one execution), none after a
/// failed precondition.
fn associations_requested(call: Call, fault: Fault) -> usize {
    match expected(call, fault) {
        Expect::LambdaError | Expect::Outcome(..) => match call {
            Call::AssociateEncryptionConfig | Call::DescribeUpdate => 1,
            _ => 0,
        },
        Expect::Refused { .. } => 0,
        _ => 1,
    }
}

// ---- the clean path ----

fn describe_cluster_ok() -> DescribeClusterOutput {
    ClusterFixture::new(CLUSTER)
        .with_owner_consent()
        .describe_output()
}

fn describe_key_ok() -> DescribeKeyOutput {
    DescribeKeyOutput::builder()
        .key_metadata(
            KeyMetadata::builder()
                .key_id("1234abcd-12ab-34cd-56ef-1234567890ab")
                .arn(KEY)
                .key_state(KeyState::Enabled)
                .enabled(true)
                .key_spec(KeySpec::SymmetricDefault)
                .key_usage(KeyUsageType::EncryptDecrypt)
                .key_manager(KeyManagerType::Customer)
                .build()
                .expect("key metadata"),
        )
        .build()
}

fn update() -> Update {
    Update::builder()
        .id("upd-enc-1")
        .status(UpdateStatus::InProgress)
        .r#type(UpdateType::AssociateEncryptionConfig)
        .build()
}

fn associate_ok() -> AssociateEncryptionConfigOutput {
    AssociateEncryptionConfigOutput::builder()
        .update(update())
        .build()
}

fn describe_update_ok() -> DescribeUpdateOutput {
    DescribeUpdateOutput::builder().update(update()).build()
}

// ---- the wire, for real timeouts ----

/// The same clean path as JSON on a loopback server, hanging on exactly `call`.
async fn eks_timing_out_on(call: Call) -> aws_sdk_eks::Client {
    let cluster = ClusterFixture::new(CLUSTER).with_owner_consent();
    let associate = format!("POST /clusters/{CLUSTER}/encryption-config/associate");
    let update = update_json("upd-enc-1", UpdateType::AssociateEncryptionConfig);
    let hang_on = match call {
        Call::DescribeCluster => describe_cluster_route(CLUSTER),
        Call::AssociateEncryptionConfig => associate.clone(),
        Call::DescribeUpdate => describe_update_route(CLUSTER),
        _ => "never".to_string(),
    };
    let routes = vec![(associate, update.clone())];
    shared::testing::eks_timing_out_on(&cluster, &update, routes, &hang_on).await
}

/// A KMS client on a real endpoint with test timeouts and retries (as `eks_client_at`).
fn kms_client_at(url: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::Config::builder()
            .behavior_version(shared::aws::behavior_version())
            .region(aws_sdk_kms::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_kms::config::Credentials::for_tests())
            .endpoint_url(url)
            .timeout_config(fast_timeouts())
            .retry_config(fast_retry())
            .build(),
    )
}

// ---- the cell ----

/// A retry quota of its own per cell: the SDK's token bucket is process-wide per service, and
/// cells of exhausted retries would drain it and change later cells' retries.
struct Cell {
    result: Result<Report, ResponderError>,
    associations: usize,
    /// Calls of the faulted mock rule, where the fault was mocked.
    faulted_calls: Option<usize>,
}

async fn run_cell(call: Call, fault: Fault) -> Cell {
    let associations = Executions::<AssociateEncryptionConfigInput>::new();
    let timeout = fault == Fault::Timeout;
    let mut faulted: Option<Rule> = None;

    // EKS: every operation answers the clean path, except `call`, which answers `fault`.
    macro_rules! rule {
        ($which:expr, $op:expr, $ok:expr) => {
            if call == $which && !timeout {
                let r = faulty_rule!($op, fault, $ok, json_fault);
                faulted = Some(r.clone());
                r
            } else {
                mock!($op).then_output($ok)
            }
        };
    }
    let eks_timeout = timeout
        && matches!(
            call,
            Call::DescribeCluster | Call::AssociateEncryptionConfig | Call::DescribeUpdate
        );
    let eks = if eks_timeout {
        let c = eks_timing_out_on(call).await;
        aws_sdk_eks::Client::from_conf(
            c.config()
                .to_builder()
                .interceptor(associations.clone())
                .retry_partition(own_retry_quota(&format!("{call:?}-{fault:?}")))
                .build(),
        )
    } else {
        let rules = [
            rule!(
                Call::DescribeCluster,
                aws_sdk_eks::Client::describe_cluster,
                describe_cluster_ok
            ),
            rule!(
                Call::AssociateEncryptionConfig,
                aws_sdk_eks::Client::associate_encryption_config,
                associate_ok
            ),
            rule!(
                Call::DescribeUpdate,
                aws_sdk_eks::Client::describe_update,
                describe_update_ok
            ),
        ];
        let counter = associations.clone();
        let partition = own_retry_quota(&format!("{call:?}-{fault:?}"));
        mock_client!(aws_sdk_eks, RuleMode::MatchAny, &rules, |b| b
            .retry_config(fast_retry())
            .retry_partition(partition.clone())
            .interceptor(counter.clone()))
    };

    let silent = scripted_server(Vec::new(), "").await;
    let kms = match call {
        Call::DescribeKey if timeout => kms_client_at(&silent),
        Call::DescribeKey => {
            let r = faulty_rule!(
                aws_sdk_kms::Client::describe_key,
                fault,
                describe_key_ok,
                json_fault
            );
            faulted = Some(r.clone());
            mock_client!(aws_sdk_kms, RuleMode::MatchAny, &[&r], |b| b
                .retry_config(fast_retry()))
        }
        _ => {
            let r = mock!(aws_sdk_kms::Client::describe_key).then_output(describe_key_ok);
            mock_client!(aws_sdk_kms, RuleMode::MatchAny, &[&r])
        }
    };
    let (sns, publish_rule) = sns_for_cell(call == Call::Publish, fault).await;
    let (securityhub, record_rule) =
        recorder_for_cell(call == Call::BatchUpdateFindingsV2, fault).await;
    faulted = faulted.or(publish_rule).or(record_rule);

    let settings = Settings {
        key: Some(KmsKeyArn::parse(KEY).expect("key ARN")),
    };
    let fix = SecretsEncryption::with_kms(settings, KmsAccess::fixed(kms));
    let deps = mocked_deps_with(config(Mode::Apply), eks, sns, securityhub);
    let result = respond(&fix, &deps, event(EVENT), None).await;
    Cell {
        result,
        associations: associations.count(),
        faulted_calls: faulted.map(|r| r.num_calls()),
    }
}

fn assert_applied(r: &Report, ctx: &str) {
    assert_eq!(
        (r.outcome, r.reason_code.as_str()),
        (Outcome::Applied, "applied"),
        "{ctx}: {}",
        r.reason
    );
    assert_eq!(r.update_id.as_deref(), Some("upd-enc-1"), "{ctx}");
    assert!(r.irreversible, "{ctx}");
}

fn assert_verified(r: &Report, ctx: &str) {
    assert!(
        r.verification.as_deref().is_some_and(|v| v
            .starts_with("DescribeUpdate reports update upd-enc-1 as InProgress")),
        "{ctx}: {:?}",
        r.verification
    );
}

#[tokio::test]
async fn every_call_under_every_fault_ends_as_specified() {
    let cells = every_cell(&CALLS, run_cell, |call, fault, ctx, cell| {
        let want = expected(call, fault);
        assert_eq!(
            cell.associations,
            associations_requested(call, fault),
            "{ctx}: AssociateEncryptionConfig executions"
        );
        assert_attempts(cell.faulted_calls, fault, ctx);
        if want == Expect::LambdaError {
            return assert_retryable(cell.result, call.operation(), fault, ctx);
        }
        let r = expect_report(cell.result, ctx);
        match &want {
            Expect::LambdaError => unreachable!(),
            Expect::Applied => {
                assert_applied(&r, ctx);
                assert_verified(&r, ctx);
                assert_effects_done(&r, ctx);
            }
            Expect::AppliedUnverified => {
                assert_applied(&r, ctx);
                let v = r.verification.as_deref().unwrap_or_default();
                assert!(
                    v.contains("EKS accepted update upd-enc-1 but it could not be read back")
                        && v.contains(call.operation())
                        && v.contains("aws eks describe-update"),
                    "{ctx}: {v}"
                );
                assert_effects_done(&r, ctx);
            }
            Expect::AppliedButNotified(s) => {
                assert_applied(&r, ctx);
                assert_effects(&r, *s, EffectStatus::Done, fault, ctx);
            }
            Expect::AppliedButRecorded(s) => {
                assert_applied(&r, ctx);
                assert_effects(&r, EffectStatus::Done, *s, fault, ctx);
            }
            Expect::Refused { code, not_checked } => assert_refused(&r, code, not_checked, ctx),
            Expect::Outcome(o, code) => assert_outcome(&r, *o, code, ctx),
        }
    })
    .await;
    assert_eq!(cells, 36);
}
