//! A cluster exempted by its tag is still told about: anyone who may tag a cluster in a member
//! account could otherwise exempt it silently.

use shared::output::report::Outcome;
use shared::pipeline::respond;
use shared::testing::{ClusterFixture, config, eks_client, event, mocked_deps};
use shared::{Mode, Priority};

#[tokio::test]
async fn a_cluster_ignored_by_tag_is_told_with_low_priority_and_not_recorded() {
    let mut cluster = ClusterFixture::new("payments-prod");
    cluster.tags = vec![("eks-exposure-responder/mode".into(), "ignore".into())];
    let no_update = shared::forbidden_rule!(
        aws_sdk_eks::Client::update_cluster_config,
        aws_sdk_eks::operation::update_cluster_config::UpdateClusterConfigOutput
    );
    let eks = eks_client(&[&cluster.describe_rule(), &no_update]);
    let (deps, captures) = mocked_deps(config(Mode::Apply), eks);
    let fix = endpoint_access::EndpointAccess::new(endpoint_access::Settings::default());
    let r = respond(&fix, &deps, event("eks-public-access.json"), None)
        .await
        .expect("report");
    assert_eq!(
        (r.outcome, r.reason_code.as_str(), r.priority),
        (Outcome::Skipped, "ignored_by_tag", Some(Priority::Low))
    );
    let published = captures.published();
    assert_eq!(published.len(), 1, "the exemption is told");
    let attributes = published[0].message_attributes().expect("attributes");
    assert_eq!(
        attributes.get("priority").and_then(|a| a.string_value()),
        Some("low")
    );
    assert!(
        published[0]
            .subject()
            .is_some_and(|s| s.contains("payments-prod")),
        "{:?}",
        published[0].subject()
    );
    assert!(captures.recorded().is_empty(), "nothing is recorded");
}
