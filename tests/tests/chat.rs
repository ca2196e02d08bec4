//! The chat topic gets a custom notification for what a person reads, and nothing else, while
//! the notification topic keeps every JSON report (moto_server SNS, the production notifier).

mod common;

use common::{Inbox, sdk};
use shared::output::notify::SnsNotifier;
use shared::pipeline::respond;
use shared::testing::aws_smithy_mocks::{RuleMode, mock, mock_client};
use shared::testing::{ClusterFixture, config, eks_client, event, mocked_deps};
use shared::{Mode, Outcome, Priority};

#[tokio::test]
async fn urgent_cves_reach_chat_and_a_proposal_does_not() {
    let sdk = sdk().await;
    let topic = Inbox::new(&sdk).await;
    let chat = Inbox::new(&sdk).await;
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&sdk), topic.topic_arn.clone())
        .with_chat_topic(Some(chat.topic_arn.clone()));
    let cluster = ClusterFixture::new("payments-prod");
    let describe = cluster.describe_rule();

    // A routine proposal: JSON for the machines, nothing in chat.
    let (mut deps, _) = mocked_deps(config(Mode::Propose), eks_client(&[&describe]));
    deps.notifier = notifier.clone();
    let fix = endpoint_access::EndpointAccess::new(endpoint_access::Settings::default());
    let payload = serde_json::value::to_raw_value(&event("eks-public-access.json")).expect("event");
    let report = respond(&fix, &deps, payload, None).await.expect("report");
    assert_eq!(report.outcome, Outcome::Proposed);
    assert_eq!(topic.drain().await.len(), 1);
    assert!(
        chat.drain().await.is_empty(),
        "a proposal is for the digest, not chat"
    );

    // Exploitable CVEs: urgent, so chat gets the custom notification too.
    let findings = mock!(aws_sdk_securityhub::Client::get_findings_v2).then_output(|| {
        aws_sdk_securityhub::operation::get_findings_v2::GetFindingsV2Output::builder().build()
    });
    let none: std::collections::HashMap<String, String> = Default::default();
    let fix = container_vulnerabilities::ContainerVulnerabilities::new(
        container_vulnerabilities::Settings::from_env(&none).expect("settings"),
        mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&findings]),
    );
    let (mut deps, _) = mocked_deps(config(Mode::Propose), eks_client(&[&describe]));
    deps.notifier = notifier;
    let payload = serde_json::value::to_raw_value(&event("eks-high-priority-vulnerability.json"))
        .expect("event");
    let report = respond(&fix, &deps, payload, None).await.expect("report");
    assert_eq!(report.priority, Some(Priority::Urgent));
    let machines = topic.drain().await;
    assert_eq!(machines.len(), 1);
    assert_eq!(
        machines[0].report()["priority"],
        "urgent",
        "the JSON report is unchanged"
    );
    let chats = chat.drain().await;
    assert_eq!(chats.len(), 1);
    let n: serde_json::Value = serde_json::from_str(&chats[0].message).expect("chat JSON");
    assert_eq!(
        (n["version"].as_str(), n["source"].as_str()),
        (Some("1.0"), Some("custom"))
    );
    assert_eq!(n["content"]["textType"], "client-markdown");
    assert!(
        n["content"]["title"]
            .as_str()
            .is_some_and(|t| t.contains("[URGENT]")),
        "{n}"
    );
    assert_eq!(n["metadata"]["threadId"], report.cluster.arn.as_str());
    let detail = &report.notification.as_ref().expect("notification").detail;
    assert!(detail.ends_with("; chat: sent"), "{detail}");
}
