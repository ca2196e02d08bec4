//! container-vulnerabilities: traits 4 (`exploitable_vulnerability`, urgent) and 5
//! (`vulnerability`, routine). Collects the CVE signals of the exposure, enriches them through
//! Security Hub `GetFindingsV2`, ranks them and hands a per-image rebuild plan to the people and
//! CI pipelines subscribed to the topic. No cluster API fixes an image: the outcome is always
//! `proposed`, and nothing on the cluster is changed.

pub mod decide;
pub mod live;
pub mod model;
pub mod ocsf;
pub mod rank;
pub mod settings;

use std::collections::{HashMap, HashSet};

use shared::aws::{AwsError, FaultKind};
use shared::pipeline::{Applied, Assessment, HandOff, Remediation, RemediationError, Situation};
use shared::{Exposure, Trait};

use crate::live::{Enricher, Fetched};
use crate::model::{EnrichState, Vuln};
pub use crate::settings::Settings;

pub struct ContainerVulnerabilities {
    settings: Settings,
    enricher: Enricher,
}

impl ContainerVulnerabilities {
    /// `securityhub` must be a client for the aggregation home Region (where the exposure and
    /// its contributing findings are readable).
    pub fn new(settings: Settings, securityhub: aws_sdk_securityhub::Client) -> Self {
        ContainerVulnerabilities {
            settings,
            enricher: Enricher::new(securityhub),
        }
    }
}

/// The vulnerability signals of the exposure for the traits this function owns, once per uid.
pub fn collect(exposure: &Exposure, owned: &[Trait]) -> Vec<Vuln> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for s in &exposure.signals {
        let Some(t) = s.trait_id().filter(|t| owned.contains(t)) else {
            continue;
        };
        if let Some(uid) = s.uid.as_deref().filter(|u| !u.trim().is_empty())
            && !seen.insert(uid.to_string())
        {
            continue;
        }
        out.push(Vuln::from_signal(s, t));
    }
    out
}

/// Why a failed call left a vulnerability without details, in words an operator can act on.
pub fn failure_reason(e: &AwsError) -> String {
    let code = e.code.as_deref().unwrap_or("no error code");
    match e.kind {
        FaultKind::AccessDenied => format!(
            "Security Hub denied {} ({code}: {}); grant the function's role securityhub:GetFindings",
            e.operation, e.message
        ),
        // A search never answers a bare 404 for "no match": the route itself is unknown. A named
        // not-found error (OrganizationNotFoundException, …) is Security Hub's own answer and is
        // reported as such, below.
        FaultKind::NotImplemented => format!(
            "the Security Hub endpoint does not implement {} ({code}; local emulators such as moto lack it)",
            e.operation
        ),
        FaultKind::Transient => format!(
            "Security Hub was still throttling or failing after the SDK's retries ({code}: {}); run the follow-up command later",
            e.message
        ),
        _ => format!("{} failed ({code}: {})", e.operation, e.message),
    }
}

/// Fold what `GetFindingsV2` returned into the vulnerabilities (pure). Requested ones start as
/// `NotFound`; those not requested keep their reason.
pub fn apply_fetched(vulns: &mut [Vuln], fetched: &Fetched) {
    let mut failed: HashMap<&str, String> = HashMap::new();
    for f in &fetched.failures {
        let reason = failure_reason(&f.error);
        for u in &f.uids {
            failed.insert(u.as_str(), reason.clone());
        }
    }
    let skipped: HashMap<&str, &str> = fetched
        .not_requested
        .iter()
        .map(|(u, why)| (u.as_str(), why.as_str()))
        .collect();
    for v in vulns.iter_mut() {
        let Some(uid) = v.finding_uid.clone() else {
            continue;
        };
        if let Some(found) = fetched.findings.get(&uid) {
            v.enrich(crate::ocsf::parse_finding(found));
        } else if let Some(reason) = failed.get(uid.as_str()) {
            v.enrichment = EnrichState::Failed(reason.clone());
        } else if let Some(why) = skipped.get(uid.as_str()) {
            v.enrichment = EnrichState::NotRequested((*why).to_string());
        }
    }
}

impl Remediation for ContainerVulnerabilities {
    /// No cluster API fixes an image: the plan is handed off, never applied.
    type Action = HandOff;
    const FUNCTION: &'static str = "container-vulnerabilities";
    const OWNS: &'static [Trait] = &[Trait::ExploitableVulnerability, Trait::Vulnerability];
    const MUTATES: bool = false;

    async fn assess(
        &self,
        situation: &Situation<'_>,
    ) -> Result<Assessment<HandOff>, RemediationError> {
        let mut vulns = collect(situation.exposure, Self::OWNS);
        // Rank on what the exposure carries, so the most urgent are the ones enriched.
        rank::rank(&mut vulns);
        let max = self.settings.max_enriched_signals;
        let mut requested: Vec<String> = Vec::new();
        for v in vulns.iter_mut() {
            match &v.finding_uid {
                None => {
                    v.enrichment = EnrichState::NotRequested(
                        "the signal carries no finding uid to look up".to_string(),
                    );
                }
                Some(_) if requested.len() >= max => {
                    v.enrichment = EnrichState::NotRequested(if max == 0 {
                        "enrichment is off (MAX_ENRICHED_SIGNALS=0)".to_string()
                    } else {
                        format!(
                            "not fetched: beyond the {max} most urgent signals enriched per event (MAX_ENRICHED_SIGNALS), which keeps the function within its timeout"
                        )
                    });
                }
                Some(uid) => {
                    requested.push(uid.clone());
                    // Until the answer says otherwise.
                    v.enrichment = EnrichState::NotFound;
                }
            }
        }
        let fetched = if requested.is_empty() {
            Fetched::default()
        } else {
            self.enricher
                .fetch(
                    &requested,
                    self.settings.batch_size,
                    self.settings.enrichment_budget,
                )
                .await
        };
        apply_fetched(&mut vulns, &fetched);
        rank::rank(&mut vulns);
        let urgent = situation
            .exposure
            .handled
            .contains(&Trait::ExploitableVulnerability);
        let enriched = vulns.iter().filter(|v| v.is_enriched()).count();
        tracing::info!(
            function = Self::FUNCTION,
            cluster = %situation.exposure.cluster.arn,
            vulnerabilities = vulns.len(),
            requested = requested.len(),
            enriched,
            calls = fetched.calls,
            failed_calls = fetched.failures.len(),
            urgent,
            "vulnerabilities assessed"
        );
        let home_region = situation
            .exposure
            .finding_uid
            .as_deref()
            .and_then(|u| u.split(':').nth(3))
            .filter(|r| !r.is_empty())
            .or(situation.exposure.home_region.as_deref())
            .unwrap_or(&situation.exposure.cluster.region);
        let pctx = decide::Context {
            cluster: &situation.exposure.cluster,
            cluster_status: &situation.cluster.status,
            kubernetes_version: situation.cluster.version.as_deref(),
            home_region,
            metadata_uid: &situation.exposure.metadata_uid,
            urgent,
            calls: fetched.calls,
        };
        Ok(decide::assess(&vulns, &pctx))
    }

    async fn apply(
        &self,
        _situation: &Situation<'_>,
        action: &HandOff,
    ) -> Result<Applied, RemediationError> {
        match *action {}
    }
}
