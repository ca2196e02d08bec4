//! The decision, as a pure function of ranked vulnerabilities: group them per image, say which
//! packages to bump to which versions, and build the hand-off plan, the machine-readable
//! `details` for CI pipelines and the email lines. Bounded however many CVEs there are.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};
use shared::ClusterRef;
use shared::Trait;
use shared::output::report::PlanStep;
use shared::output::report::Priority;
use shared::output::shell::Cli;
use shared::pipeline::{Assessment, HandOff, Plan, Verdict};

use crate::model::{EnrichState, Fix, Image, Vuln};
use crate::rank::compare_versions;

/// Version of the `details` shape; bump on any incompatible change (README "SNS JSON for CI").
pub const SCHEMA: &str = "eks-exposure-responder/container-vulnerabilities/v1";
/// `details` never serialises to more than this, so the whole SNS message (email text, JSON
/// report with plan steps, attributes) stays far below 256 KB.
pub const DETAILS_BUDGET: usize = 64 * 1024;
/// Ids of the CVEs not listed in full, listed in `details.omitted.ids`.
pub const OMITTED_IDS: usize = 500;
/// Images given a plan step each.
pub const STEP_IMAGES: usize = 20;
/// CVE ids in a plan step's parameters.
const STEP_CVES: usize = 20;

/// How much of the ranked list `details` shows in full. The first level that fits
/// `DETAILS_BUDGET` is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// CVEs in `details.cves`.
    pub cves: usize,
    /// Images in `details.images`.
    pub images: usize,
    /// Packages per image and per CVE.
    pub packages: usize,
    /// CVE ids per image.
    pub image_cves: usize,
}

pub const LIMITS: [Limits; 4] = [
    Limits {
        cves: 50,
        images: 25,
        packages: 30,
        image_cves: 50,
    },
    Limits {
        cves: 25,
        images: 15,
        packages: 15,
        image_cves: 25,
    },
    Limits {
        cves: 10,
        images: 10,
        packages: 8,
        image_cves: 10,
    },
    Limits {
        cves: 5,
        images: 5,
        packages: 3,
        image_cves: 5,
    },
];
/// CVEs in the email.
pub const TEXT_CVES: usize = 20;
/// Uids in the follow-up command that reads what could not be fetched.
const FOLLOW_UP_UIDS: usize = 10;
/// Packages named in one step's description.
const STEP_PACKAGES: usize = 8;
/// Longest step description and email line (characters).
const STEP_TEXT_MAX: usize = 1500;
const LINE_MAX: usize = 600;

pub const HAND_OFF: &str = "none (hand-off)";
/// What is missing when a signal is not enriched.
pub const MISSING: &str = "CVSS score and vector, EPSS score, exploit and fix availability, installed and fixed package versions, package manager, image tags and in-use count";

/// What the decision needs besides the vulnerabilities.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    pub cluster: &'a ClusterRef,
    pub cluster_status: &'a str,
    pub kubernetes_version: Option<&'a str>,
    /// Where the exposure was aggregated (GetFindingsV2 commands run there).
    pub home_region: &'a str,
    pub metadata_uid: &'a str,
    pub urgent: bool,
    pub calls: usize,
}

/// One package bump in one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bump {
    pub name: String,
    pub installed: Option<String>,
    /// The highest fixed version any of its CVEs needs.
    pub fixed_in: Option<String>,
    pub package_manager: Option<String>,
    pub cves: Vec<String>,
    /// Some CVE of it was enriched, so a missing `fixed_in` means "no fix published".
    pub known: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixStatus {
    /// Every affected package has a fixed version.
    Available,
    Partial,
    /// No affected package has one.
    None,
    /// Not known (no enrichment).
    Unknown,
}

impl FixStatus {
    pub fn id(self) -> &'static str {
        match self {
            FixStatus::Available => "available",
            FixStatus::Partial => "partial",
            FixStatus::None => "none",
            FixStatus::Unknown => "unknown",
        }
    }
}

/// The vulnerabilities of one image.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageGroup {
    pub image: Image,
    /// Indices into the ranked list, most urgent first.
    pub vulns: Vec<usize>,
    pub urgent: bool,
    pub bumps: Vec<Bump>,
    pub fix: FixStatus,
}

impl ImageGroup {
    pub fn priority(&self) -> &'static str {
        if self.urgent { "urgent" } else { "routine" }
    }
}

/// Group ranked vulnerabilities per image; images ordered by their most urgent vulnerability.
pub fn group_by_image(ranked: &[Vuln]) -> Vec<ImageGroup> {
    let mut groups: Vec<ImageGroup> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for (i, v) in ranked.iter().enumerate() {
        let unknown = [Image::default()];
        let images: &[Image] = if v.images.is_empty() {
            &unknown
        } else {
            &v.images
        };
        for img in images {
            let g = *index.entry(img.key()).or_insert_with(|| {
                groups.push(ImageGroup {
                    image: img.clone(),
                    vulns: Vec::new(),
                    urgent: false,
                    bumps: Vec::new(),
                    fix: FixStatus::Unknown,
                });
                groups.len() - 1
            });
            let group = &mut groups[g];
            group.image.merge(img);
            if !group.vulns.contains(&i) {
                group.vulns.push(i);
            }
            group.urgent |= v.exploitable();
            for p in &v.packages {
                let existing = group.bumps.iter_mut().find(|b| {
                    b.name == p.name
                        && b.installed == p.installed
                        && b.package_manager == p.package_manager
                });
                match existing {
                    Some(b) => {
                        b.fixed_in = match (b.fixed_in.take(), p.fixed_in.clone()) {
                            (Some(a), Some(c)) => {
                                Some(if compare_versions(&c, &a) == std::cmp::Ordering::Greater {
                                    c
                                } else {
                                    a
                                })
                            }
                            (a, c) => a.or(c),
                        };
                        if !b.cves.contains(&v.id) {
                            b.cves.push(v.id.clone());
                        }
                        b.known |= v.is_enriched();
                    }
                    None => group.bumps.push(Bump {
                        name: p.name.clone(),
                        installed: p.installed.clone(),
                        fixed_in: p.fixed_in.clone(),
                        package_manager: p.package_manager.clone(),
                        cves: vec![v.id.clone()],
                        known: v.is_enriched(),
                    }),
                }
            }
        }
    }
    for g in &mut groups {
        let with_fix = g.bumps.iter().filter(|b| b.fixed_in.is_some()).count();
        let vulns: Vec<&Vuln> = g.vulns.iter().map(|i| &ranked[*i]).collect();
        g.fix = if with_fix > 0 && with_fix == g.bumps.len() {
            FixStatus::Available
        } else if with_fix > 0 {
            FixStatus::Partial
        } else if vulns.iter().all(|v| v.fix == Some(Fix::NotAvailable)) {
            FixStatus::None
        } else if vulns.iter().all(|v| v.has_fix()) {
            // A fix exists, but the versions are not known.
            FixStatus::Available
        } else if vulns.iter().any(|v| v.has_fix()) {
            FixStatus::Partial
        } else {
            FixStatus::Unknown
        };
    }
    groups
}

fn list<T: AsRef<str>>(items: &[T], keep: usize) -> String {
    let mut s: Vec<String> = items
        .iter()
        .take(keep)
        .map(|i| i.as_ref().to_string())
        .collect();
    if items.len() > keep {
        s.push(format!("and {} more", items.len() - keep));
    }
    s.join(", ")
}

fn region_of_arn(arn: &str) -> Option<&str> {
    arn.starts_with("arn:")
        .then(|| arn.split(':').nth(3))
        .flatten()
        .filter(|r| !r.is_empty())
}

/// `aws securityhub get-findings-v2` reading the given contributing findings.
pub fn get_findings_cli(home_region: &str, uids: &[&str]) -> String {
    // Keys in sorted order: the text is the same whether serde_json preserves insertion order
    // or sorts (a feature another crate may turn on).
    let filters = json!({
        "CompositeFilters": [{
            "Operator": "OR",
            "StringFilters": uids.iter().map(|u| json!({
                "FieldName": "finding_info.uid",
                "Filter": {"Comparison": "EQUALS", "Value": u}
            })).collect::<Vec<_>>(),
        }]
    });
    Cli::aws("securityhub", "get-findings-v2")
        .arg("--region", home_region)
        .arg("--filters", &filters.to_string())
        .build()
}

/// `aws inspector2 list-findings` for one image (by digest, else repository, else finding ARNs).
fn inspector_cli(g: &ImageGroup, ranked: &[Vuln], fallback_region: &str) -> String {
    let eq = |v: &str| json!([{"comparison": "EQUALS", "value": v}]);
    let uids: Vec<&str> = g
        .vulns
        .iter()
        .filter_map(|i| ranked[*i].finding_uid.as_deref())
        .collect();
    let region = g
        .image
        .region
        .as_deref()
        .or_else(|| uids.first().and_then(|u| region_of_arn(u)))
        .unwrap_or(fallback_region);
    // Inserted in sorted key order (see `get_findings_cli`).
    let mut criteria = serde_json::Map::new();
    if let Some(d) = &g.image.digest {
        criteria.insert("ecrImageHash".into(), eq(d));
        if let Some(r) = &g.image.repository {
            criteria.insert("ecrImageRepositoryName".into(), eq(r));
        }
    } else if let Some(r) = &g.image.repository {
        criteria.insert("ecrImageRepositoryName".into(), eq(r));
    } else if !uids.is_empty() {
        criteria.insert(
            "findingArn".into(),
            Value::Array(
                uids.iter()
                    .take(10)
                    .map(|u| json!({"comparison": "EQUALS", "value": u}))
                    .collect(),
            ),
        );
    }
    criteria.insert("findingStatus".into(), eq("ACTIVE"));
    Cli::aws("inspector2", "list-findings")
        .arg("--region", region)
        .arg("--filter-criteria", &Value::Object(criteria).to_string())
        .build()
}

fn bump_text(b: &Bump) -> String {
    match (&b.installed, &b.fixed_in) {
        (Some(i), Some(f)) => format!("{} {i} -> {f}", b.name),
        (None, Some(f)) => format!("{} -> {f}", b.name),
        (Some(i), None) => format!("{} {i}", b.name),
        (None, None) => b.name.clone(),
    }
}

fn step_for(g: &ImageGroup, ranked: &[Vuln], ctx: &Context<'_>) -> PlanStep {
    let ids: Vec<&str> = g.vulns.iter().map(|i| ranked[*i].id.as_str()).collect();
    let mut about = Vec::new();
    if !g.image.tags.is_empty() {
        about.push(format!("tags {}", list(&g.image.tags, 3)));
    }
    if let Some(n) = g.image.in_use_count {
        about.push(if n == 0 {
            "in use by no pod or task when Inspector last looked".to_string()
        } else {
            format!("in use by {n} pod(s)/task(s)")
        });
    }
    let mut d = format!(
        "[{}] Image {}{}: ",
        g.priority(),
        g.image.display(),
        if about.is_empty() {
            String::new()
        } else {
            format!(" ({})", about.join("; "))
        }
    );
    let fixed: Vec<String> = g
        .bumps
        .iter()
        .filter(|b| b.fixed_in.is_some())
        .map(bump_text)
        .collect();
    let unfixed = |known: bool| -> Vec<String> {
        g.bumps
            .iter()
            .filter(|b| b.fixed_in.is_none() && b.known == known)
            .map(bump_text)
            .collect()
    };
    let (no_fix, unknown) = (unfixed(true), unfixed(false));
    if !fixed.is_empty() {
        d.push_str(&format!("bump {}. ", list(&fixed, STEP_PACKAGES)));
    }
    if !no_fix.is_empty() {
        d.push_str(&format!(
            "no fixed version is published for {}: rebuild on a newer base image, drop the package, or mitigate. ",
            list(&no_fix, STEP_PACKAGES)
        ));
    }
    if !unknown.is_empty() {
        d.push_str(&format!(
            "fixed versions not known for {} (the details could not be fetched; see the command). ",
            list(&unknown, STEP_PACKAGES)
        ));
    }
    if g.bumps.is_empty() {
        d.push_str("affected packages not known (see the command). ");
    }
    d.push_str(&format!(
        "Rebuild the image and redeploy the workloads running this image. Fixes {} ({} CVE(s)).",
        list(&ids, 5),
        ids.len()
    ));
    PlanStep {
        description: clip_to(&d, STEP_TEXT_MAX),
        api_call: HAND_OFF.to_string(),
        parameters: json!({
            "image": g.image.key(),
            "repository": g.image.repository,
            "digest": g.image.digest,
            "priority": g.priority(),
            "fix": g.fix.id(),
            "packages_total": g.bumps.len(),
            "cves": ids.iter().take(STEP_CVES).collect::<Vec<_>>(),
            "cve_count": ids.len(),
        }),
        cli: inspector_cli(g, ranked, &ctx.cluster.region),
    }
}

fn fix_label(v: &Vuln) -> &'static str {
    match v.fix {
        Some(Fix::Available) => "fix available",
        Some(Fix::Partial) => "partial fix",
        Some(Fix::NotAvailable) => "no fix",
        None => "fix unknown",
    }
}

fn cve_line(n: usize, v: &Vuln) -> String {
    let mut parts = Vec::new();
    parts.push(match &v.cvss {
        Some(c) => format!("CVSS {:.1}", c.score),
        None => "CVSS ?".to_string(),
    });
    parts.push(match (v.epss, v.epss_level()) {
        (Some(e), _) => format!("EPSS {}", percent(e)),
        (None, 2) => "EPSS >= High".to_string(),
        (None, 1) => "EPSS >= Medium".to_string(),
        (None, _) => "EPSS ?".to_string(),
    });
    parts.push(
        match v.exploit_available {
            Some(true) => "exploit available",
            Some(false) => "no known exploit",
            None => "exploit unknown",
        }
        .to_string(),
    );
    parts.push(fix_label(v).to_string());
    let pkgs: Vec<String> = v
        .packages
        .iter()
        .map(|p| match (&p.installed, &p.fixed_in) {
            (Some(i), Some(f)) => format!("{} {i} -> {f}", p.name),
            (None, Some(f)) => format!("{} -> {f}", p.name),
            _ => p.name.clone(),
        })
        .collect();
    let images: Vec<String> = v.images.iter().map(Image::display).collect();
    let line = format!(
        "  {n}. {}{} {}{}{}{}",
        v.id,
        if v.exploitable() {
            " [exploitable]"
        } else {
            ""
        },
        parts.join(", "),
        if pkgs.is_empty() {
            String::new()
        } else {
            format!(" | {}", list(&pkgs, 4))
        },
        if images.is_empty() {
            String::new()
        } else {
            format!(" | {}", list(&images, 3))
        },
        if v.is_enriched() {
            ""
        } else {
            " (not enriched)"
        }
    );
    clip_to(&line, LINE_MAX)
}

/// `s` cut to at most `max` characters, marked with `…` when cut.
fn clip_to(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn missing_reason(v: &Vuln) -> Option<String> {
    match &v.enrichment {
        EnrichState::Enriched => None,
        EnrichState::NotFound => Some(
            "GetFindingsV2 returned no finding with this uid (closed, suppressed, or not aggregated to this Region)".to_string(),
        ),
        EnrichState::Failed(r) | EnrichState::NotRequested(r) => Some(r.clone()),
    }
}

// Field order is the order on the wire. docs/schema/container-vulnerabilities-details-v1.json is
// generated from these types (their doc comments become its descriptions).

/// The `details` of a container-vulnerabilities report, for CI pipelines subscribed to the topic:
/// the vulnerabilities ranked most urgent first, and the images to rebuild.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Details {
    /// Always `eks-exposure-responder/container-vulnerabilities/v1`.
    pub schema: &'static str,
    /// `urgent` (an exploitable vulnerability is on the exposure) or `routine`.
    pub priority: &'static str,
    /// The cluster ARN.
    pub cluster: String,
    pub total: usize,
    /// How many of `total` are listed in full in `cves`.
    pub shown: usize,
    pub exploitable: usize,
    pub exploit_available: usize,
    pub with_fix: usize,
    pub enriched: usize,
    pub images_total: usize,
    pub images_shown: usize,
    /// One entry per image to rebuild, most urgent first.
    pub images: Vec<ImageDetails>,
    /// The most urgent vulnerabilities, in full.
    pub cves: Vec<CveDetails>,
    /// The vulnerabilities not listed in full.
    pub omitted: Omitted,
}

#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct ImageDetails {
    /// `repository@digest`, or what identifies the image best.
    pub image: String,
    pub uid: Option<String>,
    pub repository: Option<String>,
    pub registry: Option<String>,
    pub region: Option<String>,
    pub digest: Option<String>,
    pub tags: Vec<String>,
    pub in_use_count: Option<u64>,
    /// `urgent` or `routine`.
    pub priority: &'static str,
    /// `available`, `partial`, `none` or `unknown`.
    pub fix: &'static str,
    pub packages: Vec<PackageDetails>,
    pub packages_total: usize,
    pub cves: Vec<String>,
    pub cve_count: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct PackageDetails {
    pub name: String,
    pub installed: Option<String>,
    pub fixed_in: Option<String>,
    pub package_manager: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct CveDetails {
    pub id: String,
    pub finding_uid: Option<String>,
    /// The exposure trait: `exploitable_vulnerability` or `vulnerability`.
    #[serde(rename = "trait")]
    pub trait_id: &'static str,
    pub exploitable: bool,
    pub exploit_available: Option<bool>,
    pub epss: Option<f64>,
    /// `high`, `medium`, or absent.
    pub epss_level: Option<&'static str>,
    pub cvss: Option<f64>,
    pub cvss_vector: Option<String>,
    pub cvss_source: Option<String>,
    pub fix_available: Option<bool>,
    pub fix: Option<Fix>,
    pub severity: Option<String>,
    pub packages: Vec<PackageDetails>,
    pub images: Vec<String>,
    pub enriched: bool,
    /// Why the details from Security Hub are missing, when they are.
    pub missing: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Omitted {
    pub count: usize,
    pub exploitable: usize,
    pub exploit_available: usize,
    pub with_fix: usize,
    /// The ids of the first of them.
    pub ids: Vec<String>,
}

fn cve_details(v: &Vuln, l: &Limits) -> CveDetails {
    CveDetails {
        id: v.id.clone(),
        finding_uid: v.finding_uid.clone(),
        trait_id: v.trait_id.id(),
        exploitable: v.exploitable(),
        exploit_available: v.exploit_available,
        epss: v.epss,
        epss_level: match v.epss_level() {
            2 => Some("high"),
            1 => Some("medium"),
            _ => None,
        },
        cvss: v.cvss_score(),
        cvss_vector: v.cvss.as_ref().and_then(|c| c.vector.clone()),
        cvss_source: v.cvss.as_ref().and_then(|c| c.source.clone()),
        fix_available: v.fix.map(Fix::exists),
        fix: v.fix,
        severity: v.severity.clone(),
        packages: v
            .packages
            .iter()
            .take(l.packages)
            .map(|p| PackageDetails {
                name: p.name.clone(),
                installed: p.installed.clone(),
                fixed_in: p.fixed_in.clone(),
                package_manager: p.package_manager.clone(),
            })
            .collect(),
        images: v.images.iter().take(l.images).map(Image::key).collect(),
        enriched: v.is_enriched(),
        missing: missing_reason(v),
    }
}

fn image_details(g: &ImageGroup, ranked: &[Vuln], l: &Limits) -> ImageDetails {
    ImageDetails {
        image: g.image.key(),
        uid: g.image.uid.clone(),
        repository: g.image.repository.clone(),
        registry: g.image.registry.clone(),
        region: g.image.region.clone(),
        digest: g.image.digest.clone(),
        tags: g.image.tags.iter().take(10).cloned().collect(),
        in_use_count: g.image.in_use_count,
        priority: g.priority(),
        fix: g.fix.id(),
        packages: g
            .bumps
            .iter()
            .take(l.packages)
            .map(|b| PackageDetails {
                name: b.name.clone(),
                installed: b.installed.clone(),
                fixed_in: b.fixed_in.clone(),
                package_manager: b.package_manager.clone(),
            })
            .collect(),
        packages_total: g.bumps.len(),
        cves: g
            .vulns
            .iter()
            .take(l.image_cves)
            .map(|i| ranked[*i].id.clone())
            .collect(),
        cve_count: g.vulns.len(),
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    total: usize,
    exploitable: usize,
    exploit: usize,
    with_fix: usize,
    enriched: usize,
}

fn counts<'a>(vs: impl Iterator<Item = &'a Vuln>) -> Counts {
    vs.fold(Counts::default(), |mut c, v| {
        c.total += 1;
        c.exploitable += usize::from(v.exploitable());
        c.exploit += usize::from(v.exploit());
        c.with_fix += usize::from(v.has_fix());
        c.enriched += usize::from(v.is_enriched());
        c
    })
}

/// `details` at the given limits: the top entries in full, the rest counted.
pub fn details_at(
    ranked: &[Vuln],
    groups: &[ImageGroup],
    ctx: &Context<'_>,
    l: &Limits,
) -> Details {
    let all = counts(ranked.iter());
    let rest = counts(ranked.iter().skip(l.cves));
    Details {
        schema: SCHEMA,
        priority: if ctx.urgent { "urgent" } else { "routine" },
        cluster: ctx.cluster.arn.clone(),
        total: all.total,
        shown: ranked.len().min(l.cves),
        exploitable: all.exploitable,
        exploit_available: all.exploit,
        with_fix: all.with_fix,
        enriched: all.enriched,
        images_total: groups.len(),
        images_shown: groups.len().min(l.images),
        images: groups
            .iter()
            .take(l.images)
            .map(|g| image_details(g, ranked, l))
            .collect(),
        cves: ranked
            .iter()
            .take(l.cves)
            .map(|v| cve_details(v, l))
            .collect(),
        omitted: Omitted {
            count: rest.total,
            exploitable: rest.exploitable,
            exploit_available: rest.exploit,
            with_fix: rest.with_fix,
            ids: ranked
                .iter()
                .skip(l.cves)
                .take(OMITTED_IDS)
                .map(|v| v.id.clone())
                .collect(),
        },
    }
}

/// `details` for CI pipelines, at the most generous limits that fit `DETAILS_BUDGET`.
pub fn details(ranked: &[Vuln], groups: &[ImageGroup], ctx: &Context<'_>) -> Value {
    let mut last = Value::Null;
    for l in &LIMITS {
        last = serde_json::to_value(details_at(ranked, groups, ctx, l)).unwrap_or(Value::Null);
        let size = serde_json::to_string(&last).map_or(usize::MAX, |s| s.len());
        if size <= DETAILS_BUDGET {
            return last;
        }
        tracing::info!(
            size,
            cves = l.cves,
            "details over budget; listing fewer in full"
        );
    }
    last
}

/// The JSON Schema of `details`, as published in docs/schema/.
pub fn details_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(Details)).unwrap_or(Value::Null)
}

/// The email lines: top CVEs in full, then a count of the rest.
pub fn details_text(ranked: &[Vuln]) -> Vec<String> {
    let mut lines = vec![format!(
        "Vulnerabilities ({}), most urgent first (exploitable, then exploit available, EPSS, CVSS, fix available):",
        ranked.len()
    )];
    for (i, v) in ranked.iter().take(TEXT_CVES).enumerate() {
        lines.push(cve_line(i + 1, v));
    }
    let rest = counts(ranked.iter().skip(TEXT_CVES));
    if rest.total > 0 {
        lines.push(format!(
            "  … and {} more ({} exploitable, {} with fixes)",
            rest.total, rest.exploitable, rest.with_fix
        ));
    }
    lines
}

/// The "Could not check" lines, one per reason (never one per CVE).
pub fn not_checked(ranked: &[Vuln]) -> Vec<String> {
    let mut by_reason: Vec<(String, Vec<&str>)> = Vec::new();
    for v in ranked {
        let Some(reason) = missing_reason(v) else {
            continue;
        };
        match by_reason.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, ids)) => ids.push(&v.id),
            None => by_reason.push((reason, vec![&v.id])),
        }
    }
    by_reason
        .into_iter()
        .map(|(reason, ids)| {
            format!(
                "{MISSING} for {} vulnerabilit{} ({}): {reason}. Ranked on what the exposure carries (trait values, title, image).",
                ids.len(),
                if ids.len() == 1 { "y" } else { "ies" },
                list(&ids, 5)
            )
        })
        .collect()
}

/// EPSS as a percentage: 0.94422 -> `94.42%`, 0.00044 -> `0.04%`, below that `<0.01%`.
pub fn percent(p: f64) -> String {
    let pct = p * 100.0;
    if pct > 0.0 && pct < 0.005 {
        "<0.01%".to_string()
    } else {
        format!("{pct:.2}%")
    }
}

fn score_summary(v: &Vuln) -> String {
    let mut s = Vec::new();
    if v.exploit() {
        s.push("exploit available".to_string());
    }
    if let Some(e) = v.epss {
        s.push(format!("EPSS {}", percent(e)));
    }
    if let Some(c) = &v.cvss {
        s.push(format!("CVSS {:.1}", c.score));
    }
    s.push(fix_label(v).to_string());
    s.join(", ")
}

/// The whole assessment: always a hand-off plan (outcome `proposed`).
pub fn assess(ranked: &[Vuln], ctx: &Context<'_>) -> Assessment<HandOff> {
    let groups = group_by_image(ranked);
    let all = counts(ranked.iter());
    let priority = if ctx.urgent {
        Priority::Urgent
    } else {
        Priority::Routine
    };
    if ranked.is_empty() {
        return Assessment {
            priority: Some(priority),
            verdict: Verdict::Compliant(
                "the finding carries no vulnerability signal this function handles".to_string(),
            ),
            ..Assessment::default()
        };
    }
    let fixed_images = groups
        .iter()
        .filter(|g| g.fix == FixStatus::Available)
        .count();
    let mut facts = vec![
        format!(
            "The finding carries {} vulnerabilit{}: {} network-exploitable with a high likelihood of exploitation ({}), {} other ({}).",
            all.total,
            if all.total == 1 { "y" } else { "ies" },
            all.exploitable,
            Trait::ExploitableVulnerability.id(),
            all.total - all.exploitable,
            Trait::Vulnerability.id()
        ),
        format!(
            "{} container image(s) affected; {} with a published fix for every affected package.",
            groups.len(),
            fixed_images
        ),
        format!(
            "Enriched {} of {} from Security Hub GetFindingsV2 in {} ({} call(s)); {} with an exploit available, {} with a fix.",
            all.enriched, all.total, ctx.home_region, ctx.calls, all.exploit, all.with_fix
        ),
    ];
    let top = &ranked[0];
    facts.push(format!(
        "Most urgent: {} ({}) in {}.",
        top.id,
        score_summary(top),
        if top.images.is_empty() {
            "an unidentified image".to_string()
        } else {
            list(
                &top.images.iter().map(Image::display).collect::<Vec<_>>(),
                3,
            )
        }
    ));
    facts.push(format!(
        "Cluster {} is {}{}; no cluster API fixes an image, so nothing on the cluster is changed.",
        ctx.cluster.name,
        ctx.cluster_status,
        ctx.kubernetes_version
            .map(|v| format!(" on Kubernetes {v}"))
            .unwrap_or_default()
    ));

    let mut steps: Vec<PlanStep> = groups
        .iter()
        .take(STEP_IMAGES)
        .map(|g| step_for(g, ranked, ctx))
        .collect();
    if groups.len() > STEP_IMAGES {
        let rest = &groups[STEP_IMAGES..];
        let cves: usize = rest.iter().map(|g| g.vulns.len()).sum();
        steps.push(PlanStep {
            description: format!(
                "… and {} more image(s) with {} CVE(s) ({} urgent): listed in details.images of the JSON message; read every contributing finding with this command.",
                rest.len(),
                cves,
                rest.iter().filter(|g| g.urgent).count()
            ),
            api_call: HAND_OFF.to_string(),
            parameters: json!({"images": rest.len(), "cves": cves}),
            cli: Cli::aws("securityhub", "get-findings-v2")
                .arg("--region", ctx.home_region)
                .arg(
                    "--filters",
                    &json!({"CompositeFilters": [{"StringFilters": [{
                        "FieldName": "metadata.uid",
                        "Filter": {"Comparison": "EQUALS", "Value": ctx.metadata_uid}}]}]})
                    .to_string(),
                )
                .build(),
        });
    }

    let missing: Vec<&str> = ranked
        .iter()
        .filter(|v| !v.is_enriched())
        .filter_map(|v| v.finding_uid.as_deref())
        .collect();
    let mut follow_ups = Vec::new();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(FOLLOW_UP_UIDS).copied().collect();
        follow_ups.push(PlanStep {
            description: format!(
                "Read the details the responder could not fetch for {} vulnerabilit{} (CVSS, EPSS, fixed versions){}.",
                missing.len(),
                if missing.len() == 1 { "y" } else { "ies" },
                if missing.len() > shown.len() {
                    format!("; this command covers the {} most urgent", shown.len())
                } else {
                    String::new()
                }
            ),
            api_call: crate::live::OPERATION.to_string(),
            parameters: json!({"finding_info.uid": shown}),
            cli: get_findings_cli(ctx.home_region, &shown),
        });
    }

    let mut about = Vec::new();
    if all.exploitable > 0 {
        about.push(format!(
            "{} network-exploitable with a high likelihood of exploitation",
            all.exploitable
        ));
    }
    if all.enriched == all.total {
        about.push(format!("a fix is published for {}", all.with_fix));
    } else {
        about.push(format!(
            "a fix is published for {} of the {} enriched",
            all.with_fix, all.enriched
        ));
    }
    let summary = format!(
        "{}Rebuild and redeploy {} container image(s) to fix {} vulnerabilit{} ({})",
        if ctx.urgent { "Urgent: " } else { "" },
        groups.len(),
        all.total,
        if all.total == 1 { "y" } else { "ies" },
        about.join("; ")
    );
    let live_state = json!({
        "cluster_status": ctx.cluster_status,
        "kubernetes_version": ctx.kubernetes_version,
        "vulnerabilities": all.total,
        "exploitable": all.exploitable,
        "exploit_available": all.exploit,
        "with_fix": all.with_fix,
        "images": groups.len(),
        "enriched": all.enriched,
        "enrichment_calls": ctx.calls,
    });
    Assessment {
        live_state,
        facts,
        not_checked: not_checked(ranked),
        notes: vec![
            format!(
                "This function never restarts or changes workloads. Its SNS JSON message carries details (schema {SCHEMA}) for a CI pipeline subscribed with a filter policy on function = container-vulnerabilities (and priority = urgent)."
            ),
            "Inspector does not say which pods run an image; list them with: kubectl get pods -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name} {.status.containerStatuses[*].imageID}{\"\\n\"}{end}' | grep <digest>".to_string(),
            "Once the rebuilt images run, Amazon Inspector rescans them and Security Hub removes the trait from the exposure.".to_string(),
        ],
        details: Some(details(ranked, &groups, ctx)),
        details_text: details_text(ranked),
        priority: Some(priority),
        verdict: Verdict::HandOff(Plan {
            summary,
            steps,
            follow_ups,
            ..Plan::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cvss, Package};
    use crate::rank::rank;

    fn img(repo: &str, digest: &str) -> Image {
        Image {
            uid: Some(format!(
                "arn:aws:ecr:us-east-1:444455556666:repository/{repo}/{digest}"
            )),
            repository: Some(repo.into()),
            registry: Some("444455556666".into()),
            region: Some("us-east-1".into()),
            digest: Some(digest.into()),
            ..Image::default()
        }
    }

    fn pkg(name: &str, installed: &str, fixed: Option<&str>) -> Package {
        Package {
            name: name.into(),
            installed: Some(installed.into()),
            fixed_in: fixed.map(str::to_string),
            package_manager: Some("OS".into()),
            remediation: None,
        }
    }

    fn vuln(id: &str, t: Trait, images: Vec<Image>, packages: Vec<Package>) -> Vuln {
        Vuln {
            id: id.into(),
            finding_uid: Some(format!("arn:aws:inspector2:us-west-2:1:finding/{id}")),
            title: None,
            trait_id: t,
            values: vec![],
            exploit_available: None,
            epss: None,
            cvss: Some(Cvss {
                score: 5.0,
                vector: None,
                source: None,
                version: None,
            }),
            fix: Some(if packages.iter().all(|p| p.fixed_in.is_some()) {
                Fix::Available
            } else {
                Fix::NotAvailable
            }),
            packages,
            images,
            severity: None,
            enrichment: EnrichState::Enriched,
        }
    }

    fn ctx(cluster: &ClusterRef) -> Context<'_> {
        Context {
            cluster,
            cluster_status: "ACTIVE",
            kubernetes_version: Some("1.31"),
            home_region: "us-east-1",
            metadata_uid: "c3b3",
            urgent: true,
            calls: 1,
        }
    }

    fn cluster() -> ClusterRef {
        ClusterRef::parse("arn:aws:eks:us-east-1:444455556666:cluster/payments-prod").expect("arn")
    }

    #[test]
    fn groups_per_image_and_bumps_to_the_highest_fixed_version() {
        let a = img("api", "sha256:aaa");
        let b = img("jobs", "sha256:bbb");
        let mut vs = vec![
            vuln(
                "CVE-1",
                Trait::Vulnerability,
                vec![a.clone(), b.clone()],
                vec![pkg("openssl", "3.0.8", Some("3.0.8-1.0.3"))],
            ),
            vuln(
                "CVE-2",
                Trait::ExploitableVulnerability,
                vec![b.clone()],
                vec![
                    pkg("openssl", "3.0.8", Some("3.0.8-1.0.11")),
                    pkg("zlib", "1.2", None),
                ],
            ),
        ];
        rank(&mut vs);
        let groups = group_by_image(&vs);
        assert_eq!(groups.len(), 2);
        // The image holding the trait-4 CVE comes first and is urgent.
        assert_eq!(groups[0].image.key(), "jobs@sha256:bbb");
        assert!(groups[0].urgent);
        assert!(!groups[1].urgent);
        let openssl = &groups[0].bumps[0];
        assert_eq!(openssl.fixed_in.as_deref(), Some("3.0.8-1.0.11"));
        assert_eq!(openssl.cves, ["CVE-2", "CVE-1"]);
        assert_eq!(groups[0].fix, FixStatus::Partial, "zlib has no fix");
        assert_eq!(groups[1].fix, FixStatus::Available);
        assert_eq!(groups[1].vulns, [1]);
    }

    #[test]
    fn a_vulnerability_without_an_image_is_grouped_apart() {
        let vs = vec![vuln("CVE-9", Trait::Vulnerability, vec![], vec![])];
        let g = group_by_image(&vs);
        assert_eq!(g[0].image.key(), "(unknown image)");
        assert_eq!(
            g[0].fix,
            FixStatus::Available,
            "a fix exists, versions unknown"
        );
        let mut unknown = vuln("CVE-8", Trait::Vulnerability, vec![], vec![]);
        unknown.fix = None;
        assert_eq!(group_by_image(&[unknown])[0].fix, FixStatus::Unknown);
    }

    #[test]
    fn the_plan_is_a_hand_off_with_one_step_per_image() {
        let c = cluster();
        let vs = vec![vuln(
            "CVE-2023-44487",
            Trait::ExploitableVulnerability,
            vec![img("payments-api", "sha256:9d97")],
            vec![pkg("golang.org/x/net", "0.7.0", Some("0.17.0"))],
        )];
        let a = assess(&vs, &ctx(&c));
        let Verdict::HandOff(plan) = a.verdict else {
            panic!("a hand-off expected")
        };
        assert_eq!(a.priority, Some(Priority::Urgent));
        assert_eq!(plan.steps.len(), 1);
        let s = &plan.steps[0];
        assert_eq!(s.api_call, HAND_OFF);
        assert!(
            s.description.contains("golang.org/x/net 0.7.0 -> 0.17.0"),
            "{}",
            s.description
        );
        assert!(
            s.description
                .contains("redeploy the workloads running this image"),
            "{}",
            s.description
        );
        assert!(
            s.cli
                .starts_with("aws inspector2 list-findings --region us-east-1 --filter-criteria '"),
            "{}",
            s.cli
        );
        assert!(
            s.cli.contains(
                "\"ecrImageHash\":[{\"comparison\":\"EQUALS\",\"value\":\"sha256:9d97\"}]"
            )
        );
        assert!(plan.follow_ups.is_empty(), "everything was enriched");
        assert!(a.not_checked.is_empty());
    }

    #[test]
    fn details_stay_within_budget_however_fat_the_findings() {
        let c = cluster();
        let long = "p".repeat(crate::model::FIELD_MAX - 3);
        let mut vs: Vec<Vuln> = (0..500)
            .map(|i| {
                let packages = (0..15)
                    .map(|k| {
                        pkg(
                            &format!("{long}{k:02}"),
                            &"1".repeat(200),
                            Some(&"2".repeat(200)),
                        )
                    })
                    .collect();
                let t = if i % 5 == 0 {
                    Trait::ExploitableVulnerability
                } else {
                    Trait::Vulnerability
                };
                let image = img(
                    &format!("repo-{:02}", i % 40),
                    &format!("sha256:{:064x}", i % 40),
                );
                vuln(&format!("CVE-2026-{i:05}"), t, vec![image], packages)
            })
            .collect();
        rank(&mut vs);
        let groups = group_by_image(&vs);
        let d = details(&vs, &groups, &ctx(&c));
        let size = serde_json::to_string(&d)
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        assert!(size <= DETAILS_BUDGET, "{size}");
        let shown = d["shown"].as_u64().unwrap_or(0);
        assert!(shown > 0 && shown < 50, "fewer listed in full: {shown}");
        assert_eq!(shown + d["omitted"]["count"].as_u64().unwrap_or(0), 500);
        assert_eq!(d["total"], 500);
        assert_eq!(d["cves"][0]["exploitable"], true);
        // Lean data keeps the generous limits.
        let lean: Vec<Vuln> = vs
            .iter()
            .take(60)
            .cloned()
            .map(|mut v| {
                v.packages.truncate(1);
                v.packages[0].name = "openssl".into();
                v
            })
            .collect();
        let d = details(&lean, &group_by_image(&lean), &ctx(&c));
        assert_eq!(d["shown"], 50);
    }

    #[test]
    fn epss_reads_as_a_percentage() {
        assert_eq!(percent(0.94422), "94.42%");
        assert_eq!(percent(0.00044), "0.04%");
        assert_eq!(percent(0.00001), "<0.01%");
        assert_eq!(percent(0.0), "0.00%");
    }

    #[test]
    fn the_get_findings_command_is_quoted_and_ors_the_uids() {
        let cli = get_findings_cli("us-east-1", &["arn:a", "it's"]);
        assert!(cli.starts_with("aws securityhub get-findings-v2 --region us-east-1 --filters '{"));
        assert!(cli.contains("\"Operator\":\"OR\""));
        assert!(cli.contains(r#""Value":"it'\''s""#), "{cli}");
    }

    #[test]
    fn not_checked_is_one_line_per_reason() {
        let mut vs: Vec<Vuln> = (0..30)
            .map(|i| vuln(&format!("CVE-{i}"), Trait::Vulnerability, vec![], vec![]))
            .collect();
        for v in &mut vs[..20] {
            v.enrichment = EnrichState::Failed("denied".into());
        }
        vs[20].enrichment = EnrichState::NotFound;
        let lines = not_checked(&vs);
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].contains(
                "for 20 vulnerabilities (CVE-0, CVE-1, CVE-2, CVE-3, CVE-4, and 15 more): denied"
            ),
            "{}",
            lines[0]
        );
        assert!(lines[0].starts_with("CVSS score and vector, EPSS score"));
        assert!(lines[1].contains("for 1 vulnerability (CVE-20)"));
    }
}
