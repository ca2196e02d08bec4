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

use shared::aws::{AwsError, FaultKind};
use shared::eks::{client_request_token, describe_cluster, verify_update};
use shared::shell::Cli;
use shared::{Applied, Assessment, Context, Plan, Remediation, Trait};

use crate::decide::{Inputs, evaluate, in_standard_support};
use crate::version::Minor;

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
fn current_version(ctx: &Context<'_>) -> Result<Minor, AwsError> {
    let raw = ctx.cluster.version.as_deref().ok_or_else(|| AwsError {
        operation: "eks:DescribeCluster",
        kind: FaultKind::Other,
        code: None,
        message: "DescribeCluster returned no Kubernetes version for the cluster, so no upgrade can be planned".to_string(),
    })?;
    Minor::parse(raw).map_err(|e| AwsError {
        operation: "eks:DescribeCluster",
        kind: FaultKind::Other,
        code: None,
        message: e.to_string(),
    })
}

/// EKS answers `InvalidStateException` when its own upgrade-readiness checks block the update.
/// Say so, and what to look at; the responder never retries with `force`.
fn readiness_refusal(err: AwsError, ctx: &Context<'_>, next: &str) -> AwsError {
    if err.code.as_deref() != Some("InvalidStateException") {
        return err;
    }
    let review = Cli::aws("eks", "list-insights")
        .arg("--region", &ctx.exposure.cluster.region)
        .arg("--cluster-name", &ctx.exposure.cluster.name)
        .arg("--filter", "categories=UPGRADE_READINESS")
        .build();
    AwsError {
        message: format!(
            "EKS's own upgrade readiness checks refused the upgrade to {next} ({}); the responder never overrides them with force. Review them with: {review}",
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
    const FUNCTION: &'static str = "kubernetes-version";
    const OWNS: &'static [Trait] = &[Trait::UnsupportedVersion];
    const MUTATES: bool = true;

    async fn assess(&self, ctx: &Context<'_>) -> Result<Assessment, AwsError> {
        let eks = &ctx.session.eks;
        let name = &ctx.exposure.cluster.name;
        let current = current_version(ctx)?;
        let next = current.next();
        let versions = live::cluster_versions(eks).await?;
        let (nodegroups, insights) = if in_standard_support(current, &versions) {
            (None, None)
        } else {
            (
                Some(live::nodegroups(eks, name).await?),
                Some(live::upgrade_insights(eks, name, next).await?),
            )
        };
        let inputs = Inputs {
            cluster: name.clone(),
            region: ctx.exposure.cluster.region.clone(),
            status: ctx.cluster.status.clone(),
            version: current,
            platform_version: ctx.cluster.platform_version.clone(),
            support_type: ctx.cluster.support_type.clone(),
            now_secs: now_secs(),
            versions,
            nodegroups,
            insights,
            token: client_request_token(ctx.exposure, TOKEN_ACTION, &next.to_string()),
        };
        let assessment = evaluate(&inputs);
        tracing::info!(
            function = Self::FUNCTION,
            cluster = %name,
            version = %current,
            next = %next,
            version_status = assessment.live_state["version_status"].as_str().unwrap_or("not verified"),
            blockers = assessment.plan.as_ref().map_or(0, |p| p.blockers.len()),
            not_checked = assessment.not_checked.len(),
            "kubernetes version assessed"
        );
        Ok(assessment)
    }

    async fn apply(&self, ctx: &Context<'_>, _plan: &Plan) -> Result<Applied, AwsError> {
        let eks = &ctx.session.eks;
        let name = &ctx.exposure.cluster.name;
        let region = &ctx.exposure.cluster.region;
        let next = current_version(ctx)?.next().to_string();
        let token = client_request_token(ctx.exposure, TOKEN_ACTION, &next);
        // `force` is deliberately never set: EKS's upgrade-blocking readiness checks stay on.
        let out = eks
            .update_cluster_version()
            .name(name)
            .version(&next)
            .client_request_token(&token)
            .send()
            .await
            .map_err(|e| {
                readiness_refusal(
                    AwsError::from_sdk("eks:UpdateClusterVersion", e),
                    ctx,
                    &next,
                )
            })?;
        let Some(update_id) = out.update().and_then(|u| u.id()).map(str::to_string) else {
            let verification = match describe_cluster(eks, name).await {
                Ok(Some(c)) => format!(
                    "UpdateClusterVersion returned no update id; DescribeCluster now reports status {} at version {}",
                    c.status,
                    c.version.as_deref().unwrap_or("unknown")
                ),
                Ok(None) => "UpdateClusterVersion returned no update id and DescribeCluster no longer finds the cluster".to_string(),
                Err(e) => format!("UpdateClusterVersion returned no update id and the re-read failed: {e}"),
            };
            tracing::warn!(function = Self::FUNCTION, cluster = %name, version = %next, "update started without an update id");
            return Ok(Applied {
                update_id: None,
                verification,
                failed: false,
            });
        };
        let mut applied = verify_update(eks, name, &update_id).await?;
        if !applied.failed && applied.verification.starts_with("DescribeUpdate reports") {
            let follow = Cli::aws("eks", "describe-update")
                .arg("--region", region)
                .arg("--name", name)
                .arg("--update-id", &update_id)
                .build();
            applied.verification.push_str(&format!(
                "; a control-plane upgrade takes a while, follow it with: {follow}"
            ));
        }
        tracing::info!(
            function = Self::FUNCTION,
            cluster = %name,
            version = %next,
            update_id = %update_id,
            failed = applied.failed,
            "control-plane upgrade started"
        );
        Ok(applied)
    }
}
