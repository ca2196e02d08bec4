//! A small onboarding burst through the load model: every event ends in a report, no quota is
//! exceeded, and the counts add up exactly. No duration is asserted.

mod load;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use load::fake_aws::{Latency, Quotas};
use load::{Burst, LambdaSettings, Model, SdkSettings};

fn small_burst() -> Model {
    Model {
        burst: Burst {
            clusters: 60,
            accounts: 12,
            traits_per_finding: 3,
            findings_per_second: 50.0,
        },
        lambda: LambdaSettings {
            reserved_concurrency: 5,
            max_retry_attempts: 2,
            max_event_age: Duration::from_secs(6 * 3600),
            timeout: Duration::from_secs(60),
        },
        sdk: SdkSettings {
            // The functions' own settings. The throttling this burst meets is absorbed by
            // the SDK's first retries, so nothing here depends on the backoff's jitter.
            retry: RetryConfig::standard(),
            securityhub_retry: shared::aws::securityhub_retry(),
        },
        quotas: Quotas::default(),
        latency: Latency::default(),
        ledger_latency: Duration::from_millis(8),
    }
}

#[tokio::test(start_paused = true)]
async fn a_small_onboarding_burst_loses_nothing_and_respects_every_quota() {
    let model = small_burst();
    let f = load::run(&model).await;
    println!(
        "{} events, {} throttles, {} SDK retries, {} Lambda retries, drained in {:?}",
        f.events_in,
        f.throttles(),
        f.sdk_retries(),
        f.lambda_retries,
        f.drain
    );
    assert!(
        f.unanswered.is_empty(),
        "calls the model does not answer: {:?}",
        f.unanswered
    );

    // One event per function a finding's traits route to, each ending in exactly one report.
    let template = shared::testing::event("eks-multi-trait.json");
    let expected: usize = (0..model.burst.clusters)
        .map(|i| load::finding_event(&template, i, 12, 3).1.len())
        .sum();
    assert_eq!(f.events_in, expected);
    assert_eq!(f.dead_lettered, 0, "{:?}", f.function_errors);
    assert_eq!(f.reports_out, f.events_in);
    assert_eq!(f.outcomes.values().sum::<usize>(), f.events_in);
    // No record or message lost to throttling: what the SDK's retries did not absorb, Lambda's did.
    assert_eq!(f.comments_incomplete, 0, "{f:#?}");
    assert_eq!(f.notifications_failed, 0);

    // Onboarding: every event is a first decision, recorded once in the ledger, told once on
    // SNS (retried publishes aside) and written on its finding.
    assert!(
        f.outcomes.keys().all(|o| o.starts_with("proposed/")),
        "{:?}",
        f.outcomes
    );
    assert_eq!(f.decisions, f.events_in);
    let sns = &f.api["sns:Publish"];
    assert_eq!(sns.attempts - sns.throttled, f.events_in as u64);
    assert_eq!(f.records.len(), model.burst.clusters);

    // The burst did meet the Security Hub quota, and no caller got more than its bucket allows.
    assert!(
        f.api["securityhub:BatchUpdateFindingsV2"].throttled > 0,
        "{:?}",
        f.api
    );
    for (api, account, most, allowed) in &f.worst_second {
        assert!(
            *most as f64 <= *allowed,
            "{api} in {account}: {most} requests within one second, the bucket allows {allowed}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_new_member_session_costs_one_assume_role() {
    let fake = load::fake_aws::FakeAws::new(Quotas::default(), Latency::default());
    let access = shared::aws::AwsAccess::new(
        load::sdk_config(&fake, RetryConfig::standard()),
        Some("eks-exposure-responder-member".into()),
        "endpoint-access",
    );
    let cluster = shared::ClusterRef::parse("arn:aws:eks:us-east-1:200000000007:cluster/a")
        .expect("a cluster ARN");
    use shared::aws::ClusterAccess;
    for _ in 0..3 {
        let session = access
            .session(&cluster, Some(load::HOME_ACCOUNT))
            .await
            .expect("the member role is assumed");
        shared::aws::eks::describe_cluster(&session.eks, "a")
            .await
            .expect("the cluster is read with the member role's credentials");
    }
    let counts = fake.counts();
    assert_eq!(counts["sts:AssumeRole"].attempts, 1, "{counts:?}");
    assert_eq!(counts["eks:DescribeCluster"].attempts, 3);
    // In the member account, with the credentials AssumeRole handed out.
    assert!(
        fake.worst_window(std::time::Duration::from_secs(1))
            .iter()
            .any(|(api, account, ..)| api == "eks:DescribeCluster" && account == "200000000007")
    );
}
