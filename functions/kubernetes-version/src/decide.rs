//! The decision, as a pure function of plain data: is the version supported, what is the path,
//! what holds the upgrade back, and what to tell the person reading the message at 3 a.m.

use serde::Serialize;
use serde_json::json;

use shared::aws::{AwsError, FaultKind};
use shared::output::report::{BlockerCode, Priority};
use shared::output::shell::Cli;
use shared::pipeline::Verdict;
use shared::{Assessment, Blocker, Plan, PlanStep, Revert};

use crate::version::{
    Minor, Standing, Support, VersionInfo, oldest_in_standard_support, upgrade_path,
};

pub const UPDATE_CLUSTER_VERSION: &str = "eks:UpdateClusterVersion";
pub const UPDATE_NODEGROUP_VERSION: &str = "eks:UpdateNodegroupVersion";

/// The planned `UpdateClusterVersion`: one minor version up, under its idempotency token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionUpgrade {
    pub version: String,
    pub token: String,
}

/// A managed node group, as DescribeNodegroup reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeGroup {
    pub name: String,
    pub version: Option<String>,
    pub status: String,
}

/// What was learnt about the managed node groups.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NodeGroupScan {
    pub groups: Vec<NodeGroup>,
    /// Listed but not described: over the DescribeNodegroup budget.
    pub not_described: Vec<String>,
    /// DescribeNodegroup failed: (name, why).
    pub failed: Vec<(String, String)>,
    /// ListNodegroups had more pages than the budget allows.
    pub list_truncated: bool,
}

/// An upgrade-readiness insight status, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InsightLevel {
    Error,
    Warning,
    Unknown,
    Passing,
}

impl InsightLevel {
    pub fn from_api(s: &str) -> InsightLevel {
        match s.to_ascii_uppercase().as_str() {
            "ERROR" => InsightLevel::Error,
            "WARNING" => InsightLevel::Warning,
            "PASSING" => InsightLevel::Passing,
            _ => InsightLevel::Unknown,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            InsightLevel::Error => "ERROR",
            InsightLevel::Warning => "WARNING",
            InsightLevel::Unknown => "UNKNOWN",
            InsightLevel::Passing => "PASSING",
        }
    }
}

/// One upgrade-readiness insight (ListInsights summary, completed by DescribeInsight).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Insight {
    pub id: String,
    pub name: String,
    pub level: InsightLevel,
    pub reason: Option<String>,
    pub description: Option<String>,
    pub recommendation: Option<String>,
    /// Why DescribeInsight details are missing for a non-passing insight, if they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail_missing: Option<String>,
}

/// Upgrade-readiness insights for the next version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InsightScan {
    pub target: Minor,
    pub insights: Vec<Insight>,
    /// ListInsights had more pages than the budget allows.
    pub list_truncated: bool,
}

impl InsightScan {
    fn count(&self, level: InsightLevel) -> usize {
        self.insights.iter().filter(|i| i.level == level).count()
    }
}

/// Everything the decision needs, read live. `nodegroups` and `insights` are `None` when they
/// were not read because the version is in standard support.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    pub cluster: String,
    pub region: String,
    pub status: String,
    pub version: Minor,
    pub platform_version: Option<String>,
    /// `upgradePolicy.supportType` (STANDARD | EXTENDED).
    pub support_type: Option<String>,
    pub now_secs: i64,
    pub versions: Result<Vec<VersionInfo>, AwsError>,
    pub nodegroups: Option<Result<NodeGroupScan, AwsError>>,
    pub insights: Option<Result<InsightScan, AwsError>>,
    /// The names of the cluster's EKS add-ons (ListAddons).
    pub addons: Option<Result<Vec<String>, AwsError>>,
    /// The `clientRequestToken` the apply sends for the next minor.
    pub token: String,
}

/// True when the live version list puts `current` in standard support: nothing else to read.
pub fn in_standard_support(current: Minor, versions: &Result<Vec<VersionInfo>, AwsError>) -> bool {
    versions
        .as_ref()
        .is_ok_and(|v| Standing::of(current, v).support() == Some(Support::StandardSupport))
}

/// Why an optional read is missing, in words an operator can act on.
pub fn unavailable(err: &AwsError) -> String {
    let code = err.code.as_deref().unwrap_or("no error code");
    match err.kind {
        FaultKind::AccessDenied => format!(
            "access denied ({code}): grant {} to the function's role (and to the member role for clusters in other accounts)",
            err.operation
        ),
        // Local emulators answer calls they lack with a bare 404/501 (shared::aws classifies it).
        FaultKind::NotImplemented => {
            format!("the endpoint does not implement {} ({code})", err.operation)
        }
        _ => format!("{err}"),
    }
}

/// A blocker, and the words that finish "blocked until …" on the steps it holds back.
struct Hold {
    blocker: Blocker,
    until: String,
}

fn cli_update_cluster(i: &Inputs, v: Minor) -> String {
    Cli::aws("eks", "update-cluster-version")
        .arg("--region", &i.region)
        .arg("--name", &i.cluster)
        .arg("--kubernetes-version", &v.to_string())
        .build()
}

fn cli_update_nodegroup(i: &Inputs, group: &str, v: Minor) -> String {
    Cli::aws("eks", "update-nodegroup-version")
        .arg("--region", &i.region)
        .arg("--cluster-name", &i.cluster)
        .arg("--nodegroup-name", group)
        .arg("--kubernetes-version", &v.to_string())
        .build()
}

fn nodegroup_step(i: &Inputs, group: &str, v: Minor, description: String) -> PlanStep {
    PlanStep {
        description,
        api_call: UPDATE_NODEGROUP_VERSION.to_string(),
        parameters: json!({ "clusterName": i.cluster, "nodegroupName": group, "version": v.to_string() }),
        cli: cli_update_nodegroup(i, group, v),
    }
}

/// The add-ons every cluster runs, often self-managed on clusters created before EKS add-ons.
pub const CORE_ADDONS: [&str; 3] = ["vpc-cni", "coredns", "kube-proxy"];

/// Updating add-ons for version `v`. The command lists the EKS add-ons; the core add-ons it
/// does not list are self-managed (or absent), which the upgrade-insight check does not cover.
/// `--resolve-conflicts PRESERVE` and `--addon-name` follow the EKS add-on update pages
/// (https://docs.aws.amazon.com/eks/latest/userguide/vpc-add-on-update.html).
fn addon_step(i: &Inputs, v: Minor) -> PlanStep {
    let cluster = shared::output::shell::quote(&i.cluster);
    PlanStep {
        description: format!(
            "Update the add-ons for {v}. The command below lists the EKS add-ons; update each with aws eks describe-addon-versions --kubernetes-version {v} --addon-name NAME (pick a compatible version) and aws eks update-addon --cluster-name {cluster} --addon-name NAME --addon-version VERSION --resolve-conflicts PRESERVE (without PRESERVE EKS overwrites custom settings with its defaults). Any of {} missing from the list is self-managed (aws eks describe-addon errors for it): update its image yourself, see the note on self-managed add-ons",
            CORE_ADDONS.join(", ")
        ),
        api_call: "eks:ListAddons, eks:DescribeAddonVersions, eks:UpdateAddon".to_string(),
        parameters: json!({ "clusterName": i.cluster, "kubernetesVersion": v.to_string(), "coreAddons": CORE_ADDONS }),
        cli: Cli::aws("eks", "list-addons")
            .arg("--region", &i.region)
            .arg("--cluster-name", &i.cluster)
            .build(),
    }
}

/// The documented cautions for self-managed core add-ons
/// (https://docs.aws.amazon.com/eks/latest/userguide/managing-vpc-cni.html,
/// https://docs.aws.amazon.com/eks/latest/userguide/kube-proxy-add-on-self-managed-update.html,
/// https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html).
pub const SELF_MANAGED_ADDONS: &str = "Self-managed add-ons (vpc-cni, coredns or kube-proxy not listed by aws eks list-addons) are not covered by the 'EKS add-on version compatibility' insight: check and update them yourself at each version. VPC CNI: to reach v1.12.0 or later you must go through v1.7.0 first, and EKS recommends updating one minor version at a time; a plugin earlier than 1.8.0 should be updated to the latest version before the cluster is. kube-proxy follows the same skew policy as the kubelet: update it with the EKS image for the new version, keeping the same image type (default or minimal). Or adopt them as EKS add-ons (aws eks create-addon --resolve-conflicts PRESERVE keeps their settings).";

/// The order blockers are listed in (the first gives the report's reason code): what must be
/// fixed first, then what could not be verified.
fn rank(code: BlockerCode) -> u8 {
    use BlockerCode::*;
    match code {
        UpgradeInsightError => 0,
        NodegroupVersionSkew => 1,
        UpgradeInsightUnknown | NodesNotVerified => 2,
        NodegroupNotActive => 2,
        NextVersionUnavailable => 3,
        VersionStatusUnknown => 4,
        VersionsNotChecked => 5,
        InsightsNotChecked => 6,
        // Node groups that could not be read come after the checks on the version itself;
        // the other two are never ranked (an update in progress defers, extended support is
        // the policy blocker listed last).
        NodegroupsNotChecked | NodegroupUpdateInProgress | ExtendedSupportRoutine => 7,
        // The blockers of secrets-encryption and endpoint-access: never a blocker of this function.
        NoKeyConfigured
        | KeyNotChecked
        | KeyNotFound
        | KeyNotEnabled
        | KeyPendingDeletion
        | KeyNotSymmetric
        | KeyWrongUsage
        | KeyOtherRegion
        | KeyOtherAccount
        | KeyNotCustomerManaged
        | NoAllowedPublicCidrs
        | StageSoakPending
        | StageSoakUnknown => 7,
    }
}

/// Comment a command out so that pasting it into a shell does nothing.
fn held(cli: &str, until: &str) -> String {
    // One line, whatever the reason says: a line break would end the comment.
    let until: String = until
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("# BLOCKED until {until} - do not run yet: {cli}")
}

fn quoted_names(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many minor versions a kubelet may be behind the control plane, as the EKS user guide
/// documents it: "Starting from Kubernetes version 1.28, kubelet may be up to three minor
/// versions older than kube-apiserver" and kubelets on 1.25 or newer may stay while the cluster
/// goes "up to three versions ahead"
/// (https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html). For kubelets 1.24
/// and older the upstream policy of two minors applies
/// (https://kubernetes.io/releases/version-skew-policy/#kubelet).
///
/// The UpdateClusterVersion API reference says instead that managed node groups "must match"
/// the cluster's version. The two pages disagree; the safe reading taken here: never start an
/// upgrade that would break the documented skew (that would leave nodes unsupported), and within
/// the skew let EKS decide; if it refuses, the refusal is reported and nothing is forced.
pub fn max_kubelet_skew(kubelet: Minor) -> u32 {
    if kubelet >= Minor::new(1, 25) { 3 } else { 2 }
}

/// The name EKS gives the upgrade insight that checks every node's kubelet (managed,
/// self-managed, hybrid and Fargate alike), per the cluster-insights page.
const KUBELET_SKEW_INSIGHT: &str = "kubelet version skew";

/// Said wherever the responder's own readiness gate is explained.
pub const ONLY_GATE: &str = "EKS has temporarily rolled back the enforcement of upgrade insights on UpdateClusterVersion (https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html; announced on aws/containers-roadmap#2570), so this responder's checks are the only readiness gate: it starts an upgrade only when the insights for the next version were read, none is ERROR or UNKNOWN, and a PASSING 'Kubelet version skew' insight vouches for the nodes it cannot see. force is never set.";

/// The rolling window of the deprecated-API insight, per the EKS upgrade guide.
const LOOKBACK: &str = "Deprecated-API insights look back over a rolling 30-day window: a fixed client can keep an insight failing for up to 30 days, and an API called less often than monthly may not show at all.";

/// Evaluate and plan.
pub fn evaluate(i: &Inputs) -> Assessment<VersionUpgrade> {
    let current = i.version;
    let next = current.next();
    let standing = i.versions.as_ref().ok().map(|v| Standing::of(current, v));
    let support = standing.as_ref().and_then(Standing::support);
    let listed = match &standing {
        Some(Standing::Listed(v)) => Some(v),
        _ => None,
    };

    let mut facts = vec![format!(
        "Control plane: Kubernetes {current}{}, cluster status {}",
        i.platform_version
            .as_deref()
            .map(|p| format!(" (platform {p})"))
            .unwrap_or_default(),
        i.status
    )];
    let mut notes = Vec::new();
    let mut not_checked = Vec::new();

    // Support status, from the live version list.
    // Prices and timing: Amazon EKS extended support pricing (AWS Containers blog, "Amazon EKS
    // extended support for Kubernetes versions pricing") and
    // https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html .
    let cost_note = "a cluster in extended support costs $0.60 per cluster-hour instead of $0.10 in standard support, billed from the day standard support ends (Amazon EKS pricing)";
    match (&standing, &i.versions) {
        (Some(Standing::Listed(v)), _) => {
            let mut s = format!("EKS lists {current} as {}", v.status.label());
            let mut dates = Vec::new();
            if let Some(d) = &v.end_of_standard_support {
                let verb = if d.epoch_secs <= i.now_secs { "ended" } else { "ends" };
                dates.push(format!("standard support {verb} {}", d.relative(i.now_secs)));
            }
            if let Some(d) = &v.end_of_extended_support {
                let verb = if d.epoch_secs <= i.now_secs { "ended" } else { "ends" };
                dates.push(format!("extended support {verb} {}", d.relative(i.now_secs)));
            }
            if !dates.is_empty() {
                s.push_str(&format!(": {}", dates.join("; ")));
            }
            if v.status == Support::ExtendedSupport {
                s.push_str(&format!("; {cost_note}"));
            }
            facts.push(s);
        }
        (Some(Standing::NewerThanOldestStandard { oldest_standard }), _) => facts.push(format!(
            "DescribeClusterVersions does not list {current}, but it is newer than {oldest_standard}, the oldest version in standard support"
        )),
        (Some(Standing::OlderThanListed { oldest_listed }), _) => facts.push(format!(
            "DescribeClusterVersions no longer lists {current} at all (the oldest version it lists is {oldest_listed}): {current} is past the end of support"
        )),
        (Some(Standing::Unknown), _) => facts.push(format!(
            "DescribeClusterVersions does not list {current} and the list does not tell its support status"
        )),
        (None, Err(e)) => {
            facts.push(format!(
                "The support status of {current} could not be read from EKS; the finding (Security Hub control EKS.2) reports it as unsupported"
            ));
            not_checked.push(format!(
                "DescribeClusterVersions: {} — the support status of {current}, its end-of-support dates and the path to the oldest version in standard support were not verified",
                unavailable(e)
            ));
        }
        (None, Ok(_)) => {}
    }
    match i.support_type.as_deref() {
        Some("STANDARD") => facts.push(
            "Upgrade policy: STANDARD (extended support disabled): EKS upgrades the cluster automatically when standard support ends".to_string(),
        ),
        Some("EXTENDED") => facts.push(format!(
            "Upgrade policy: EXTENDED: after standard support the cluster stays on its version in extended support until that ends too; {cost_note}"
        )),
        Some(other) => facts.push(format!("Upgrade policy: {other}")),
        None => {}
    }

    let mut live_state = json!({
        "version": current.to_string(),
        "platform_version": i.platform_version,
        "status": i.status,
        "support_type": i.support_type,
        "version_status": support.as_ref().map(Support::label),
        "end_of_standard_support": listed.and_then(|v| v.end_of_standard_support.as_ref()).map(|d| d.date.clone()),
        "end_of_extended_support": listed.and_then(|v| v.end_of_extended_support.as_ref()).map(|d| d.date.clone()),
    });

    if support == Some(Support::StandardSupport) {
        let until = listed
            .and_then(|v| v.end_of_standard_support.as_ref())
            .map(|d| format!(" until {}", d.relative(i.now_secs)))
            .unwrap_or_default();
        if i.support_type.as_deref() == Some("STANDARD") {
            notes.push(format!(
                "With upgrade policy STANDARD, EKS upgrades {current} automatically when its standard support ends{until}; plan the upgrade before then."
            ));
        }
        return Assessment {
            live_state,
            facts,
            not_checked,
            notes,
            verdict: Verdict::Compliant(format!(
                "Kubernetes {current} is in standard support{until} according to DescribeClusterVersions: the live cluster does not run an unsupported version"
            )),
            ..Assessment::default()
        };
    }

    // Where the path ends: the oldest version in standard support, from the live list.
    let target = i
        .versions
        .as_ref()
        .ok()
        .and_then(|v| oldest_in_standard_support(v));
    let mut path = target.map(|t| upgrade_path(current, t)).unwrap_or_default();
    let path_known = !path.is_empty();
    if !path_known {
        path = vec![next];
    }
    if let Some(t) = target.filter(|_| path_known) {
        let chain: Vec<String> = std::iter::once(current)
            .chain(path.iter().copied())
            .map(|v| v.to_string())
            .collect();
        facts.push(format!(
            "Oldest version in standard support: {t}; path, one minor version per update: {} ({} control-plane update{})",
            chain.join(" → "),
            path.len(),
            if path.len() == 1 { "" } else { "s" }
        ));
    } else if i.versions.is_ok() {
        facts.push(format!(
            "DescribeClusterVersions lists no version in standard support newer than {current}: only the next minor, {next}, is planned"
        ));
    }

    let mut holds: Vec<Hold> = Vec::new();
    let mut deferring: Vec<Hold> = Vec::new();
    let mut prerequisites: Vec<PlanStep> = Vec::new();
    let mut details_text = Vec::new();

    // Upgrade-readiness insights for the next version.
    match &i.insights {
        Some(Ok(scan)) => {
            let counts = [
                InsightLevel::Error,
                InsightLevel::Warning,
                InsightLevel::Unknown,
                InsightLevel::Passing,
            ]
            .map(|l| format!("{} {}", scan.count(l), l.label()));
            facts.push(format!(
                "Upgrade insights for {}: {}",
                scan.target,
                counts.join(", ")
            ));
            if scan.insights.is_empty() {
                // EKS no longer enforces insights itself: an empty list proves nothing.
                holds.push(Hold {
                    blocker: Blocker::new(
                        BlockerCode::InsightsNotChecked,
                        format!(
                            "EKS returned no upgrade insights for {}, so readiness (deprecated APIs, kubelet and add-on skew) is unverified and EKS does not check it when the update starts; insights refresh every 24 hours, or on demand with aws eks start-insights-refresh --cluster-name {}",
                            scan.target,
                            shared::output::shell::quote(&i.cluster)
                        ),
                    ),
                    until: format!("EKS reports upgrade insights for {}", scan.target),
                });
            } else {
                let kubelet = scan
                    .insights
                    .iter()
                    .find(|x| x.name.to_ascii_lowercase().contains(KUBELET_SKEW_INSIGHT));
                // ERROR and UNKNOWN are held below; WARNING concerns a later version.
                if kubelet.is_none() {
                    holds.push(Hold {
                        blocker: Blocker::new(
                            BlockerCode::NodesNotVerified,
                            format!(
                                "EKS reports no 'Kubelet version skew' insight for {}: this function sees managed node groups only, so self-managed nodes, hybrid nodes and Fargate pods are unverified, and EKS does not check them when the update starts",
                                scan.target
                            ),
                        ),
                        until: format!(
                            "a PASSING 'Kubelet version skew' insight for {} covers every node",
                            scan.target
                        ),
                    });
                }
            }
            if scan.list_truncated {
                not_checked.push(format!(
                    "ListInsights for {}: more pages than this responder reads in one evaluation; the remaining insights were not read",
                    scan.target
                ));
            }
            let mut non_passing: Vec<&Insight> = scan
                .insights
                .iter()
                .filter(|x| x.level != InsightLevel::Passing)
                .collect();
            non_passing.sort_by_key(|x| x.level);
            if !non_passing.is_empty() {
                details_text.push(format!(
                    "Upgrade readiness for {} (EKS upgrade insights):",
                    scan.target
                ));
            }
            for x in &non_passing {
                let mut line = format!("  [{}] {}", x.level.label(), x.name);
                if let Some(r) = &x.reason {
                    line.push_str(&format!(": {}", r.trim_end_matches('.')));
                }
                if let Some(r) = &x.recommendation {
                    line.push_str(&format!(". Recommendation: {r}"));
                }
                details_text.push(line);
                if let Some(why) = &x.detail_missing {
                    not_checked.push(format!(
                        "DescribeInsight for '{}' ({}): {why}; its recommendation is not included",
                        x.name,
                        x.level.label()
                    ));
                }
            }
            let errors: Vec<&&Insight> = non_passing
                .iter()
                .filter(|x| x.level == InsightLevel::Error)
                .collect();
            for x in non_passing
                .iter()
                .filter(|x| x.level == InsightLevel::Unknown)
            {
                holds.push(Hold {
                    blocker: Blocker::new(
                        BlockerCode::UpgradeInsightUnknown,
                        format!(
                            "EKS upgrade insight '{}' is UNKNOWN for {}: EKS could not determine whether the cluster is affected ({}), so that check has not passed and the responder will not start the upgrade",
                            x.name,
                            scan.target,
                            x.reason
                                .as_deref()
                                .unwrap_or("no reason given")
                                .trim_end_matches('.')
                        ),
                    ),
                    until: format!("the UNKNOWN upgrade insight '{}' is resolved", x.name),
                });
            }
            for x in &errors {
                holds.push(Hold {
                    blocker: Blocker::new(
                        BlockerCode::UpgradeInsightError,
                        format!(
                            "EKS upgrade insight '{}' is ERROR for {}: {}. Recommendation: {}",
                            x.name,
                            scan.target,
                            x.reason
                                .as_deref()
                                .unwrap_or("no reason given")
                                .trim_end_matches('.'),
                            x.recommendation
                                .as_deref()
                                .or(x.description.as_deref())
                                .unwrap_or(
                                    "see the cluster's Upgrade insights tab in the EKS console"
                                )
                        ),
                    ),
                    until: format!("the ERROR upgrade insight '{}' is resolved", x.name),
                });
            }
        }
        Some(Err(e)) => {
            not_checked.push(format!(
                "ListInsights (UPGRADE_READINESS for {next}): {} — upgrade readiness (deprecated APIs, add-on and kubelet version skew) was not checked",
                unavailable(e)
            ));
            holds.push(Hold {
                blocker: Blocker::new(
                    BlockerCode::InsightsNotChecked,
                    format!(
                        "The upgrade insights for {next} could not be read, so readiness is unverified and the responder will not start the upgrade; review them with aws eks list-insights --cluster-name {} --filter categories=UPGRADE_READINESS",
                        shared::output::shell::quote(&i.cluster)
                    ),
                ),
                until: format!("the upgrade insights for {next} have been reviewed"),
            });
        }
        None => {}
    }

    // Managed node groups: the upgrade must keep every kubelet within the documented skew.
    let mut groups: Vec<&NodeGroup> = Vec::new();
    match &i.nodegroups {
        Some(Ok(scan)) => {
            groups = scan.groups.iter().collect();
            if scan.groups.is_empty() && scan.not_described.is_empty() && scan.failed.is_empty() {
                facts.push("Managed node groups: none".to_string());
            }
            for g in &scan.groups {
                facts.push(format!(
                    "Managed node group '{}': Kubernetes {}, status {}",
                    g.name,
                    g.version.as_deref().unwrap_or("not reported"),
                    g.status
                ));
            }
            let mut unverified: Vec<String> = Vec::new();
            if scan.list_truncated {
                not_checked.push(
                    "ListNodegroups: more pages than this responder reads in one evaluation; the remaining node groups were not checked".to_string(),
                );
                unverified.push("the node groups beyond the listing budget".to_string());
            }
            if !scan.not_described.is_empty() {
                not_checked.push(format!(
                    "{} node group(s) not described (at most {} DescribeNodegroup calls per evaluation): {}",
                    scan.not_described.len(),
                    crate::live::MAX_NODEGROUPS_DESCRIBED,
                    shared::output::notify::bounded(&scan.not_described, 10).join(", ")
                ));
                unverified.extend(scan.not_described.iter().cloned());
            }
            for (name, why) in &scan.failed {
                not_checked.push(format!("DescribeNodegroup '{name}': {why}"));
                unverified.push(name.clone());
            }
            for g in scan.groups.iter().filter(|g| g.version.is_none()) {
                not_checked.push(format!(
                    "DescribeNodegroup '{}' reported no Kubernetes version",
                    g.name
                ));
                unverified.push(g.name.clone());
            }
            if !unverified.is_empty() {
                holds.push(Hold {
                    blocker: Blocker::new(
                        BlockerCode::NodegroupsNotChecked,
                        format!(
                            "The version of {} managed node group(s) could not be checked ({}), so the documented kubelet skew to {next} cannot be verified for them",
                            unverified.len(),
                            shared::output::notify::bounded(&unverified, 5).join(", ")
                        ),
                    ),
                    until: format!("every managed node group is confirmed at {current}"),
                });
            }
            for g in &scan.groups {
                let Some(raw) = g.version.as_deref() else {
                    continue;
                };
                match Minor::parse(raw) {
                    Ok(v) if v == current => {}
                    Ok(v) if v < current && next.minors_ahead_of(v) <= max_kubelet_skew(v) => {
                        // Within the documented skew: no node roll first (it would be a roll
                        // to the old, unsupported version); the follow-ups roll it forward.
                        notes.push(format!(
                            "Managed node group '{}' runs {v}: after the upgrade it is {} minor version(s) behind the {next} control plane, within the documented kubelet skew (up to {} for kubelet {v}; EKS user guide, Updating a cluster). The UpdateClusterVersion API reference says managed node groups must match the cluster's version: if EKS refuses for that reason, the refusal is reported and nothing is forced. Roll the group forward after the control plane (follow-ups).",
                            g.name,
                            next.minors_ahead_of(v),
                            max_kubelet_skew(v)
                        ));
                    }
                    Ok(v) => {
                        if v < current {
                            prerequisites.push(nodegroup_step(
                                i,
                                &g.name,
                                current,
                                format!(
                                    "First: upgrade managed node group '{}' from {v} to {current}, the control plane's version (at {next} the control plane would be {} minor versions ahead of it, beyond the documented kubelet skew of {})",
                                    g.name,
                                    next.minors_ahead_of(v),
                                    max_kubelet_skew(v)
                                ),
                            ));
                        }
                        holds.push(Hold {
                            blocker: Blocker::new(
                                BlockerCode::NodegroupVersionSkew,
                                if v < current {
                                    format!(
                                        "Managed node group '{}' runs Kubernetes {v}: upgrading the control plane to {next} would put it {} minor versions ahead, beyond the documented kubelet skew of {} (EKS user guide, Updating a cluster); upgrade the group to {current} first (the command is in the plan)",
                                        g.name,
                                        next.minors_ahead_of(v),
                                        max_kubelet_skew(v)
                                    )
                                } else {
                                    format!(
                                        "Managed node group '{}' runs Kubernetes {v}, newer than the {current} control plane: kubelets must never be newer than the API server; check the group before upgrading",
                                        g.name
                                    )
                                },
                            ),
                            until: format!("node group '{}' runs {current}", g.name),
                        });
                    }
                    Err(e) => {
                        not_checked.push(format!("Node group '{}': {e}", g.name));
                        holds.push(Hold {
                            blocker: Blocker::new(
                                BlockerCode::NodegroupsNotChecked,
                                format!(
                                    "Managed node group '{}' reports version '{raw}', which cannot be compared with {current}",
                                    g.name
                                ),
                            ),
                            until: format!("node group '{}' is confirmed at {current}", g.name),
                        });
                    }
                }
            }
            for g in &scan.groups {
                match g.status.as_str() {
                    "ACTIVE" => {}
                    "UPDATING" | "CREATING" | "DELETING" => deferring.push(Hold {
                        blocker: Blocker::deferring(
                            BlockerCode::NodegroupUpdateInProgress,
                            format!(
                                "Managed node group '{}' is {}: another update is in progress, so the control-plane upgrade waits; the responder re-evaluates on the next delivery of this finding",
                                g.name, g.status
                            ),
                        ),
                        until: format!("node group '{}' is ACTIVE again", g.name),
                    }),
                    other => holds.push(Hold {
                        blocker: Blocker::new(
                            BlockerCode::NodegroupNotActive,
                            format!(
                                "Managed node group '{}' is {other}: repair it (aws eks describe-nodegroup shows its health issues) before upgrading the cluster",
                                g.name
                            ),
                        ),
                        until: format!("node group '{}' is healthy", g.name),
                    }),
                }
            }
        }
        Some(Err(e)) => {
            not_checked.push(format!(
                "ListNodegroups: {} — managed node group versions were not checked",
                unavailable(e)
            ));
            holds.push(Hold {
                blocker: Blocker::new(
                    BlockerCode::NodegroupsNotChecked,
                    format!(
                        "The managed node groups could not be listed, so the documented kubelet skew to {next} cannot be verified and the responder will not start the upgrade"
                    ),
                ),
                until: format!("every managed node group is confirmed at {current}"),
            });
        }
        None => {}
    }

    // What the version list could not confirm.
    match (&i.versions, &support) {
        (Err(_), _) => holds.push(Hold {
            blocker: Blocker::new(
                BlockerCode::VersionsNotChecked,
                format!(
                    "DescribeClusterVersions could not be called, so the support status of {current} and the availability of {next} were not verified from EKS; the responder will not start an upgrade it cannot verify"
                ),
            ),
            until: format!(
                "EKS's version list (aws eks describe-cluster-versions --include-all) confirms {next} is available"
            ),
        }),
        (Ok(_), None) | (Ok(_), Some(Support::Other(_))) => holds.push(Hold {
            blocker: Blocker::new(
                BlockerCode::VersionStatusUnknown,
                format!(
                    "EKS's version list does not tell whether {current} is supported; the responder does not upgrade what it cannot classify"
                ),
            ),
            until: format!("the support status of {current} is confirmed"),
        }),
        (Ok(list), _) if !list.iter().any(|v| v.version == next) => holds.push(Hold {
            blocker: Blocker::new(
                BlockerCode::NextVersionUnavailable,
                format!(
                    "DescribeClusterVersions does not list {next}, the only version EKS can upgrade {current} to"
                ),
            ),
            until: format!("EKS lists {next}"),
        }),
        _ => {}
    }

    // Extended support: still supported (and patched). The responder proposes, never applies.
    let extended = support == Some(Support::ExtendedSupport);
    let mut policy: Option<Blocker> = None;
    if extended {
        let ends = listed
            .and_then(|v| v.end_of_extended_support.as_ref())
            .map(|d| format!(" until {}", d.relative(i.now_secs)))
            .unwrap_or_default();
        policy = Some(Blocker::new(
            BlockerCode::ExtendedSupportRoutine,
            format!(
                "Kubernetes {current} is in extended support{ends}: it still gets security patches, so this is routine work, not an unsupported version, although Security Hub's EKS.2 flags every version outside standard support. The responder applies upgrades only to unsupported versions; schedule this one: until then {cost_note}, and once extended support ends EKS upgrades the control plane automatically, at any time and without notice (node groups and self-managed nodes stay on their version)"
            ),
        ));
    } else {
        notes.push(
            "An unsupported version gets no security patches, and EKS upgrades the control plane automatically, at any time after its version leaves extended support and without notice (node groups and self-managed nodes stay behind): upgrading now keeps the timing in your hands.".to_string(),
        );
    }

    // The plan. Problems to fix come before checks that could not be made.
    holds.sort_by_key(|h| rank(h.blocker.code));
    let all: Vec<&Hold> = deferring.iter().chain(holds.iter()).collect();
    let blocked = !all.is_empty();
    let untils: Vec<String> = all.iter().map(|h| h.until.clone()).collect();
    let until = if untils.len() <= 2 {
        untils.join(" and ")
    } else {
        untils.join("; ")
    };
    let mut main_description = format!(
        "Upgrade the control plane of {} from Kubernetes {current} to {next} (one minor version: EKS cannot skip any)",
        i.cluster
    );
    let mut main_cli = cli_update_cluster(i, next);
    if blocked {
        main_description = format!("BLOCKED until {until}. {main_description}");
        main_cli = held(&main_cli, "the blockers above are cleared");
    }
    let mut steps = prerequisites;
    steps.push(PlanStep {
        description: main_description,
        api_call: UPDATE_CLUSTER_VERSION.to_string(),
        parameters: json!({ "name": i.cluster, "version": next.to_string(), "clientRequestToken": i.token }),
        cli: main_cli,
    });

    let group_names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    let mut follow_ups = Vec::new();
    let mut previous = current;
    for (n, v) in path.iter().copied().enumerate() {
        if n > 0 {
            follow_ups.push(PlanStep {
                description: format!(
                    "Then upgrade the control plane from {previous} to {v}, once the update to {previous} is Successful and the node groups and add-ons are at {previous}"
                ),
                api_call: UPDATE_CLUSTER_VERSION.to_string(),
                parameters: json!({ "name": i.cluster, "version": v.to_string() }),
                cli: cli_update_cluster(i, v),
            });
        }
        for g in &group_names {
            follow_ups.push(nodegroup_step(
                i,
                g,
                v,
                format!(
                    "After the control plane is at {v}: upgrade managed node group '{g}' to {v} (nodes are replaced with a rolling update; node groups cannot be rolled back automatically)"
                ),
            ));
        }
        follow_ups.push(addon_step(i, v));
        previous = v;
    }
    if !path_known {
        follow_ups.push(PlanStep {
            description: format!(
                "Find the rest of the path: list the versions EKS supports and repeat the steps above one minor at a time from {next} up to the oldest version in standard support"
            ),
            api_call: "eks:DescribeClusterVersions".to_string(),
            parameters: json!({ "includeAll": true }),
            cli: Cli::aws("eks", "describe-cluster-versions")
                .arg("--region", &i.region)
                .flag("--include-all")
                .build(),
        });
    }
    if blocked {
        for s in &mut follow_ups {
            s.cli = held(&s.cli, "the blocked upgrade above has been done");
        }
    }

    // Rollback: EKS rolls a control plane back one minor within 7 days, only to a version it
    // still supports.
    let rollback_possible = support.as_ref().is_some_and(Support::supported);
    let revert = if rollback_possible {
        Revert {
            description: format!(
                "Within 7 days of the upgrade completing, EKS can roll the control plane back to {current}{} (https://docs.aws.amazon.com/eks/latest/userguide/rollback-cluster.html). Managed node groups already at the new version roll back first; add-ons are not rolled back. Fargate pods already on the new version block the rollback (kubelet skew insight ERROR): delete them so they are recreated. Any ROLLBACK_READINESS insight in ERROR or UNKNOWN blocks the rollback, and the responder never overrides it with force. A cluster that EKS itself upgraded at the end of extended support cannot be rolled back. After 7 days the upgrade is permanent.",
                if extended {
                    " (a version in extended support: the upgrade policy must be EXTENDED, and extended-support charges resume)"
                } else {
                    ""
                }
            ),
            previous: json!({ "version": current.to_string(), "platform_version": i.platform_version }),
            cli: Some(cli_update_cluster(i, current)),
        }
    } else {
        let why = match &support {
            Some(s) => format!("{current} is {}", s.label()),
            None => format!(
                "the support status of {current} could not be checked and the finding reports it unsupported"
            ),
        };
        Revert {
            description: format!(
                "Rollback window: EKS can roll a control plane back one minor version within 7 days of an upgrade, but only to a version it still supports, and {why}: plan this upgrade as one-way and test it on a non-production cluster first"
            ),
            previous: json!({ "version": current.to_string(), "platform_version": i.platform_version }),
            cli: None,
        }
    };
    notes.push(ONLY_GATE.to_string());
    match &i.addons {
        Some(Ok(names)) => {
            facts.push(format!(
                "EKS add-ons: {}",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    shared::output::notify::bounded(names, 10).join(", ")
                }
            ));
            let self_managed: Vec<&str> = CORE_ADDONS
                .iter()
                .copied()
                .filter(|core| !names.iter().any(|n| n == core))
                .collect();
            if !self_managed.is_empty() {
                facts.push(format!(
                    "Not EKS add-ons, so self-managed (or not installed): {}; the 'EKS add-on version compatibility' insight does not check them",
                    self_managed.join(", ")
                ));
                notes.push(SELF_MANAGED_ADDONS.to_string());
            }
        }
        Some(Err(e)) => {
            not_checked.push(format!(
                "ListAddons: {} — which of {} are self-managed was not checked",
                unavailable(e),
                CORE_ADDONS.join(", ")
            ));
            notes.push(SELF_MANAGED_ADDONS.to_string());
        }
        None => {}
    }
    if matches!(&i.insights, Some(Ok(_))) {
        notes.push(LOOKBACK.to_string());
    }
    notes.push(
        "Self-managed nodes, Fargate pods and hybrid nodes are not managed node groups: this function sees them only through the 'Kubelet version skew' insight; bring them to each version as well, within the documented skew.".to_string(),
    );

    let step_of = if path_known {
        format!(
            ", step 1 of {} toward {}, the oldest version in standard support",
            path.len(),
            path[path.len() - 1]
        )
    } else if i.versions.is_err() {
        " (the rest of the path could not be computed: DescribeClusterVersions was unavailable)"
            .to_string()
    } else {
        String::new()
    };
    let status_word = match (&support, listed) {
        (Some(Support::ExtendedSupport), Some(v)) => format!(
            "EXTENDED_SUPPORT{}",
            v.end_of_extended_support
                .as_ref()
                .map(|d| format!(" until {}", d.date))
                .unwrap_or_default()
        ),
        (Some(s), _) => s.label().to_string(),
        (None, _) => "support status not verified".to_string(),
    };
    let mut summary = if extended {
        format!(
            "Routine: upgrade {} from Kubernetes {current} ({status_word}) to {next}{step_of}",
            i.cluster
        )
    } else {
        format!(
            "Upgrade {} from Kubernetes {current} ({status_word}) to {next}{step_of}",
            i.cluster
        )
    };
    let insight_errors: Vec<&str> = match &i.insights {
        Some(Ok(scan)) => scan
            .insights
            .iter()
            .filter(|x| x.level == InsightLevel::Error)
            .map(|x| x.name.as_str())
            .collect(),
        _ => Vec::new(),
    };
    if !insight_errors.is_empty() {
        summary.push_str(&format!(
            "; blocked by the ERROR upgrade insight{} {}",
            if insight_errors.len() == 1 { "" } else { "s" },
            quoted_names(&insight_errors)
        ));
    } else if blocked {
        summary.push_str(&format!("; blocked until {until}"));
    }

    if let Some(obj) = live_state.as_object_mut() {
        obj.insert(
            "nodegroups".to_string(),
            json!(
                groups
                    .iter()
                    .map(|g| json!({"name": g.name, "version": g.version, "status": g.status}))
                    .collect::<Vec<_>>()
            ),
        );
    }
    let details = json!({
        "current_version": current.to_string(),
        "version_status": support.as_ref().map(Support::label),
        "next_version": next.to_string(),
        "target_version": target.filter(|_| path_known).map(|t| t.to_string()),
        "path": path.iter().map(Minor::to_string).collect::<Vec<_>>(),
        "path_complete": path_known,
        "versions": i.versions.as_ref().ok(),
        "insights": match &i.insights { Some(Ok(s)) => json!(s), _ => serde_json::Value::Null },
        "rollback_possible": rollback_possible,
    });

    let blockers = deferring
        .into_iter()
        .chain(holds)
        .map(|h| h.blocker)
        .chain(policy)
        .collect();
    Assessment {
        live_state,
        facts,
        not_checked,
        notes,
        details: Some(details),
        details_text,
        priority: Some(if extended {
            Priority::Routine
        } else {
            Priority::Urgent
        }),
        verdict: Verdict::Act(Plan {
            summary,
            steps,
            follow_ups,
            blockers,
            revert: Some(revert),
            irreversible: !rollback_possible,
            stage: None,
            action: VersionUpgrade {
                version: next.to_string(),
                token: i.token.clone(),
            },
        }),
    }
}

#[cfg(test)]
mod tests;
