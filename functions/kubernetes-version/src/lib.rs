//! kubernetes-version: responds to the exposure trait "The Amazon EKS cluster uses an unsupported
//! Kubernetes version" (Security Hub control EKS.2).
//!
//! Evaluate live (DescribeCluster from the pipeline, DescribeClusterVersions, managed node
//! groups, upgrade-readiness insights for the next minor), decide in pure code (`decide`), and
//! apply — only for an unsupported version with nothing in the way — exactly one minor-version
//! control-plane upgrade. `force` is never set.
//!
//! Policy for a version in extended support: it is still supported and patched, so the upgrade
//! to standard support is proposed as routine work and never applied by the responder.

pub mod decide;
pub mod live;
pub mod version;

use shared::Trait;
use shared::aws::AwsError;
use shared::aws::eks::{Confirmation, client_request_token, confirm_update};
use shared::output::shell::Cli;
use shared::pipeline::{Applied, Assessment, Remediation, RemediationError, Situation};

use crate::decide::{Inputs, evaluate, in_standard_support};
use crate::version::Minor;

pub use crate::decide::VersionUpgrade;

/// The action named in the `clientRequestToken` of the upgrade (with the target version).
const TOKEN_ACTION: &str = "UpdateClusterVersion";

/// The function. It has no settings of its own.
#[derive(Clone, Debug, Default)]
pub struct KubernetesVersion;

impl KubernetesVersion {
    pub fn new() -> Self {
        KubernetesVersion
    }
}

/// The cluster's version, as a number; an unreadable one ends the evaluation with a reason.
fn current_version(situation: &Situation<'_>) -> Result<Minor, RemediationError> {
    let live_state = |message: String| RemediationError::LiveState {
        operation: "eks:DescribeCluster",
        message,
    };
    let raw = situation.cluster.version.as_deref().ok_or_else(|| {
        live_state("DescribeCluster returned no Kubernetes version for the cluster, so no upgrade can be planned".to_string())
    })?;
    Minor::parse(raw).map_err(|e| live_state(e.to_string()))
}

/// EKS answers `InvalidStateException` when it refuses the update in the cluster's state (a
/// readiness check, when EKS enforces them, or node groups off the cluster's version). Say so,
/// and what to look at; the responder never retries with `force`.
fn readiness_refusal(err: AwsError, situation: &Situation<'_>, next: &str) -> AwsError {
    if err.code.as_deref() != Some("InvalidStateException") {
        return err;
    }
    let review = Cli::aws("eks", "list-insights")
        .arg("--region", &situation.exposure.cluster.region)
        .arg("--cluster-name", &situation.exposure.cluster.name)
        .arg("--filter", "categories=UPGRADE_READINESS")
        .build();
    AwsError {
        message: format!(
            "EKS refused the upgrade to {next} ({}); the responder never overrides a refusal with force. Review the upgrade insights with: {review}",
            err.message
        ),
        ..err
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Remediation for KubernetesVersion {
    type Action = VersionUpgrade;
    const FUNCTION: &'static str = "kubernetes-version";
    const OWNS: &'static [Trait] = &[Trait::UnsupportedVersion];
    const MUTATES: bool = true;
    // A control plane rolls back only within days and only to a supported version; add-ons and
    // node groups do not roll back with it.
    const ONE_WAY_DOOR: bool = true;

    async fn assess(
        &self,
        situation: &Situation<'_>,
    ) -> Result<Assessment<VersionUpgrade>, RemediationError> {
        let eks = &situation.session.eks;
        let name = &situation.exposure.cluster.name;
        let current = current_version(situation)?;
        let next = current.next();
        let versions = live::cluster_versions(eks).await?;
        let (nodegroups, insights, addons) = if in_standard_support(current, &versions) {
            (None, None, None)
        } else {
            (
                Some(live::nodegroups(eks, name).await?),
                Some(live::upgrade_insights(eks, name, next).await?),
                Some(live::eks_addons(eks, name).await?),
            )
        };
        let inputs = Inputs {
            cluster: name.clone(),
            region: situation.exposure.cluster.region.clone(),
            status: situation.cluster.status.clone(),
            version: current,
            platform_version: situation.cluster.platform_version.clone(),
            support_type: situation.cluster.support_type.clone(),
            now_secs: now_secs(),
            versions,
            nodegroups,
            insights,
            addons,
            token: client_request_token(situation.exposure, TOKEN_ACTION, &next.to_string()),
        };
        let assessment = evaluate(&inputs);
        tracing::info!(
            function = Self::FUNCTION,
            cluster = %name,
            version = %current,
            next = %next,
            version_status = assessment.live_state["version_status"].as_str().unwrap_or("not verified"),
            blockers = assessment.verdict.blockers().len(),
            not_checked = assessment.not_checked.len(),
            "kubernetes version assessed"
        );
        Ok(assessment)
    }

    async fn apply(
        &self,
        situation: &Situation<'_>,
        upgrade: &VersionUpgrade,
    ) -> Result<Applied, RemediationError> {
        let eks = &situation.session.eks;
        let name = &situation.exposure.cluster.name;
        let region = &situation.exposure.cluster.region;
        let next = &upgrade.version;
        // `force` is deliberately never set. EKS has temporarily stopped enforcing upgrade
        // insights itself, so the assessment's checks are the gate; any refusal EKS still
        // makes is reported, never overridden.
        let out = eks
            .update_cluster_version()
            .name(name)
            .version(next)
            .client_request_token(&upgrade.token)
            .send()
            .await
            .map_err(|e| {
                readiness_refusal(
                    AwsError::from_sdk("eks:UpdateClusterVersion", e),
                    situation,
                    next,
                )
            })?;
        let update_id = out.update().and_then(|u| u.id());
        let confirmation = confirm_update(eks, name, update_id).await?;
        // A started upgrade that EKS confirmed says how to follow it.
        let follow = match &confirmation {
            Confirmation::Update { update_id, state } if !state.failed() => Some(
                Cli::aws("eks", "describe-update")
                    .arg("--region", region)
                    .arg("--name", name)
                    .arg("--update-id", update_id)
                    .build(),
            ),
            _ => None,
        };
        let mut applied = confirmation.applied(name, |after| match after {
            Ok(Some(c)) => format!(
                "UpdateClusterVersion returned no update id; DescribeCluster now reports status {} at version {}",
                c.status,
                c.version.as_deref().unwrap_or("unknown")
            ),
            Ok(None) => "UpdateClusterVersion returned no update id and DescribeCluster no longer finds the cluster".to_string(),
            Err(e) => format!("UpdateClusterVersion returned no update id and the re-read failed: {e}"),
        });
        if let Some(follow) = follow {
            applied.verification.push_str(&format!(
                "; a control-plane upgrade takes a while, follow it with: {follow}"
            ));
        }
        match &applied.update_id {
            Some(update_id) => tracing::info!(
                function = Self::FUNCTION,
                cluster = %name,
                version = %next,
                update_id = %update_id,
                failed = applied.failed,
                "control-plane upgrade started"
            ),
            None => {
                tracing::warn!(function = Self::FUNCTION, cluster = %name, version = %next, "update started without an update id")
            }
        }
        Ok(applied)
    }
}
