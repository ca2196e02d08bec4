//! Live reads: EKS answers turned into the plain data of `decide`. Every read is bounded (pages
//! and per-item Describe calls) so a cluster with hundreds of node groups or insights cannot
//! run the function out of time.
//!
//! Each optional read returns `Optional<T>`: `Err` only for a transient fault (the event is
//! retried), `Ok(Err(_))` when the call is denied or not implemented (reported as not checked).

use aws_sdk_eks::primitives::{DateTime, DateTimeFormat};
use aws_sdk_eks::types::{Category, ClusterVersionInformation, InsightsFilter};

use shared::aws::AwsError;

use crate::decide::{Insight, InsightLevel, InsightScan, NodeGroup, NodeGroupScan, unavailable};
use crate::version::{Day, Minor, Support, VersionInfo};

/// Pages read from any list call per evaluation.
pub const MAX_PAGES: usize = 10;
/// DescribeNodegroup calls per evaluation.
pub const MAX_NODEGROUPS_DESCRIBED: usize = 20;
/// DescribeInsight calls per evaluation (non-passing insights, most severe first).
pub const MAX_INSIGHTS_DESCRIBED: usize = 10;

/// A read the function can live without: `Err` = transient (retry the event).
pub type Optional<T> = Result<Result<T, AwsError>, AwsError>;

fn optional<T>(read: Result<T, AwsError>) -> Optional<T> {
    match read {
        Err(e) if e.is_transient() => Err(e),
        other => Ok(other),
    }
}

fn day(t: Option<&DateTime>) -> Option<Day> {
    let t = t?;
    let text = t.fmt(DateTimeFormat::DateTime).ok()?;
    Some(Day {
        epoch_secs: t.secs(),
        date: text.get(..10)?.to_string(),
    })
}

fn version_info(v: &ClusterVersionInformation) -> Option<VersionInfo> {
    let version = Minor::parse(v.cluster_version()?).ok()?;
    #[allow(deprecated)] // `status` is the older spelling of `versionStatus`; read it as a fallback
    let status = v
        .version_status()
        .map(|s| s.as_str().to_string())
        .or_else(|| v.status().map(|s| s.as_str().to_string()))?;
    Some(VersionInfo {
        version,
        status: Support::from_api(&status),
        end_of_standard_support: day(v.end_of_standard_support_date()),
        end_of_extended_support: day(v.end_of_extended_support_date()),
    })
}

/// `DescribeClusterVersions` with `includeAll` (unsupported versions too) and no status
/// filter, every page: the live list of versions and their support status.
pub async fn cluster_versions(eks: &aws_sdk_eks::Client) -> Optional<Vec<VersionInfo>> {
    optional(read_cluster_versions(eks).await)
}

async fn read_cluster_versions(eks: &aws_sdk_eks::Client) -> Result<Vec<VersionInfo>, AwsError> {
    let mut rows: Vec<(bool, VersionInfo)> = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = eks
            .describe_cluster_versions()
            .include_all(true)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("eks:DescribeClusterVersions", e))?;
        for v in page.cluster_versions() {
            // Outposts versions are listed too; prefer the cloud ("eks") row of a version.
            let cloud = v
                .cluster_type()
                .is_none_or(|t| t.eq_ignore_ascii_case("eks"));
            if let Some(info) = version_info(v) {
                rows.push((cloud, info));
            }
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    rows.sort_by(|a, b| a.1.version.cmp(&b.1.version).then(b.0.cmp(&a.0)));
    rows.dedup_by(|later, first| later.1.version == first.1.version);
    Ok(rows.into_iter().map(|(_, v)| v).collect())
}

/// `ListNodegroups` and `DescribeNodegroup` for each (bounded).
pub async fn nodegroups(eks: &aws_sdk_eks::Client, cluster: &str) -> Optional<NodeGroupScan> {
    let mut names: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    let mut list_truncated = true;
    for _ in 0..MAX_PAGES {
        let page = match eks
            .list_nodegroups()
            .cluster_name(cluster)
            .set_next_token(token.take())
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) => return optional(Err(AwsError::from_sdk("eks:ListNodegroups", e))),
        };
        names.extend(page.nodegroups().iter().cloned());
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => {
                list_truncated = false;
                break;
            }
        }
    }
    let mut scan = NodeGroupScan {
        list_truncated,
        ..NodeGroupScan::default()
    };
    for (n, name) in names.into_iter().enumerate() {
        if n >= MAX_NODEGROUPS_DESCRIBED {
            scan.not_described.push(name);
            continue;
        }
        match eks
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(&name)
            .send()
            .await
        {
            Ok(out) => {
                let g = out.nodegroup();
                scan.groups.push(NodeGroup {
                    version: g.and_then(|g| g.version()).map(str::to_string),
                    status: g
                        .and_then(|g| g.status())
                        .map_or("UNKNOWN".to_string(), |s| s.as_str().to_string()),
                    name,
                });
            }
            Err(e) => {
                let err = AwsError::from_sdk("eks:DescribeNodegroup", e);
                if err.is_transient() {
                    return Err(err);
                }
                scan.failed.push((name, unavailable(&err)));
            }
        }
    }
    Ok(Ok(scan))
}

/// `ListAddons`: the names of the cluster's EKS add-ons (bounded pages). A core add-on missing
/// from it is self-managed, or not installed.
pub async fn eks_addons(eks: &aws_sdk_eks::Client, cluster: &str) -> Optional<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = match eks
            .list_addons()
            .cluster_name(cluster)
            .set_next_token(token.take())
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) => return optional(Err(AwsError::from_sdk("eks:ListAddons", e))),
        };
        names.extend(page.addons().iter().cloned());
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(Ok(names))
}

/// `ListInsights` (UPGRADE_READINESS, for `target`) and `DescribeInsight` for the non-passing
/// ones, most severe first (bounded).
pub async fn upgrade_insights(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    target: Minor,
) -> Optional<InsightScan> {
    let filter = InsightsFilter::builder()
        .categories(Category::UpgradeReadiness)
        .kubernetes_versions(target.to_string())
        .build();
    let mut insights: Vec<Insight> = Vec::new();
    let mut token: Option<String> = None;
    let mut list_truncated = true;
    for _ in 0..MAX_PAGES {
        let page = match eks
            .list_insights()
            .cluster_name(cluster)
            .filter(filter.clone())
            .set_next_token(token.take())
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) => return optional(Err(AwsError::from_sdk("eks:ListInsights", e))),
        };
        for s in page.insights() {
            let status = s.insight_status();
            insights.push(Insight {
                id: s.id().unwrap_or_default().to_string(),
                name: s.name().or(s.id()).unwrap_or("unnamed insight").to_string(),
                level: InsightLevel::from_api(
                    status
                        .and_then(|st| st.status())
                        .map_or("UNKNOWN", |v| v.as_str()),
                ),
                reason: status.and_then(|st| st.reason()).map(str::to_string),
                description: s.description().map(str::to_string),
                recommendation: None,
                detail_missing: None,
            });
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => {
                list_truncated = false;
                break;
            }
        }
    }
    insights.sort_by_key(|x| x.level);
    let mut described = 0;
    for x in insights
        .iter_mut()
        .filter(|x| x.level != InsightLevel::Passing)
    {
        if described >= MAX_INSIGHTS_DESCRIBED || x.id.is_empty() {
            x.detail_missing = Some(if x.id.is_empty() {
                "ListInsights gave no id to describe it by".to_string()
            } else {
                format!(
                    "not described (at most {MAX_INSIGHTS_DESCRIBED} DescribeInsight calls per evaluation)"
                )
            });
            continue;
        }
        described += 1;
        match eks
            .describe_insight()
            .cluster_name(cluster)
            .id(&x.id)
            .send()
            .await
        {
            Ok(out) => {
                if let Some(d) = out.insight() {
                    x.recommendation = d.recommendation().map(str::to_string);
                    if let Some(desc) = d.description() {
                        x.description = Some(desc.to_string());
                    }
                    if let Some(reason) = d.insight_status().and_then(|st| st.reason()) {
                        x.reason = Some(reason.to_string());
                    }
                }
            }
            Err(e) => {
                let err = AwsError::from_sdk("eks:DescribeInsight", e);
                if err.is_transient() {
                    return Err(err);
                }
                x.detail_missing = Some(unavailable(&err));
            }
        }
    }
    Ok(Ok(InsightScan {
        target,
        insights,
        list_truncated,
    }))
}
