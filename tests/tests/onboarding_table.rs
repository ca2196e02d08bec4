//! The load model's onboarding bursts (`make bench`, an ignored test): each burst at a few reserved
//! concurrencies and SDK retry settings for the Security Hub clients, through the four
//! functions' real `respond` against the fake AWS, under a paused clock. Prints one markdown
//! table row per run; `scripts/bench.sh` puts the table into BENCHMARKS.md.
//!
//! `ONBOARDING_BURSTS` picks the bursts (`small`, `2000`, `20000`; default `2000,20000`),
//! `ONBOARDING_CONCURRENCY` the reserved concurrencies (default `5,10,25`), `ONBOARDING_RETRY=default`
//! only the Security Hub retry the functions use.

mod load;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use load::fake_aws::{Latency, Quotas};
use load::{Burst, Figures, LambdaSettings, Model, SdkSettings};

fn burst(name: &str) -> Option<Burst> {
    let (clusters, accounts) = match name {
        "small" => (200, 30),
        "2000" => (2_000, 300),
        "20000" => (20_000, 3_000),
        _ => return None,
    };
    // Security Hub emits the onboarding findings within minutes: 20 a second.
    Some(Burst {
        clusters,
        accounts,
        traits_per_finding: 3,
        findings_per_second: 20.0,
    })
}

fn model(burst: Burst, concurrency: usize, securityhub_retry: RetryConfig) -> Model {
    Model {
        burst,
        lambda: LambdaSettings {
            reserved_concurrency: concurrency,
            max_retry_attempts: 2,
            max_event_age: Duration::from_secs(6 * 3600),
            timeout: Duration::from_secs(60),
        },
        sdk: SdkSettings {
            retry: RetryConfig::standard(),
            securityhub_retry,
        },
        quotas: Quotas::default(),
        latency: Latency::default(),
        ledger_latency: Duration::from_millis(8),
    }
}

fn minutes(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

fn row(label: &str, m: &Model, f: &Figures) {
    let per = |api: &str| format!("{:.2}", f.calls_per_event(api));
    let sh = |api: &str| f.api.get(api).map_or(0, |c| c.throttled);
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}+{} | {} | {} | {} | {:.1} s | {:.1} s |",
        m.burst.clusters,
        m.burst.accounts,
        m.lambda.reserved_concurrency,
        label,
        f.events_in,
        f.reports_out,
        f.dead_lettered,
        f.comments_incomplete + f.notifications_failed,
        f.throttles(),
        sh("securityhub:BatchUpdateFindingsV2") + sh("securityhub:GetFindingsV2"),
        f.sdk_retries(),
        f.lambda_retries,
        per("securityhub:BatchUpdateFindingsV2"),
        per("securityhub:GetFindingsV2"),
        per("eks:DescribeCluster"),
        per("sts:AssumeRole"),
        minutes(f.drain),
        f.p50.as_secs_f64(),
        f.p99.as_secs_f64(),
    );
}

#[test]
#[ignore = "make bench: minutes of CPU"]
fn onboarding_table() {
    let bursts = std::env::var("ONBOARDING_BURSTS").unwrap_or_else(|_| "2000,20000".into());
    println!(
        "| clusters | accounts | reserved concurrency | Security Hub retry | events | reports | dead-lettered | comments or messages lost | throttles | of which Security Hub | SDK retries | Lambda retries | BatchUpdateFindingsV2 + GetFindingsV2 per event | DescribeCluster per event | AssumeRole per event | drain (m:ss) | p50 | p99 |"
    );
    println!(
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
    );
    let only = std::env::var("ONBOARDING_RETRY").ok();
    let mut retries: Vec<(&str, RetryConfig)> = vec![
        (
            "standard, 3 attempts (SDK default)",
            RetryConfig::standard(),
        ),
        (
            "standard, 10 attempts",
            RetryConfig::standard().with_max_attempts(10),
        ),
        (
            "adaptive, 10 attempts (default)",
            shared::aws::securityhub_retry(),
        ),
    ];
    // ONBOARDING_RETRY=default: only the Security Hub retry the functions use.
    if only.as_deref() == Some("default") {
        retries.retain(|(label, _)| label.ends_with("(default)"));
    }
    let mut runs = Vec::new();
    for name in bursts.split(',') {
        let b = burst(name.trim()).unwrap_or_else(|| panic!("unknown burst {name}"));
        let concurrencies =
            std::env::var("ONBOARDING_CONCURRENCY").unwrap_or_else(|_| "5,10,25".into());
        for concurrency in concurrencies
            .split(',')
            .map(|c| c.trim().parse::<usize>().expect("a concurrency"))
        {
            for (label, retry) in &retries {
                runs.push((
                    label.to_string(),
                    model(b.clone(), concurrency, retry.clone()),
                ));
            }
        }
    }
    // Two at a time (each its own runtime with a paused clock); rows in the order above.
    let results: Vec<(String, Model, Figures)> = runs
        .chunks(2)
        .flat_map(|pair| {
            let handles: Vec<_> = pair
                .iter()
                .cloned()
                .map(|(label, m)| {
                    std::thread::spawn(move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .start_paused(true)
                            .build()
                            .expect("runtime");
                        let f = runtime.block_on(load::run(&m));
                        (label, m, f)
                    })
                })
                .collect();
            let done: Vec<_> = handles
                .into_iter()
                .map(|h| h.join().expect("a run"))
                .collect();
            for (label, m, f) in &done {
                row(label, m, f);
            }
            done
        })
        .collect();
    // No event lost with the functions' own settings (comments lost are a figure of the table).
    for (label, m, f) in results.iter().filter(|(l, ..)| l.ends_with("(default)")) {
        assert_eq!(
            f.dead_lettered, 0,
            "{label} at {}",
            m.lambda.reserved_concurrency
        );
        assert_eq!(
            f.reports_out, f.events_in,
            "{label} at {}",
            m.lambda.reserved_concurrency
        );
    }
}
