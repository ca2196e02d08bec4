//! Plain data about one vulnerability: what the exposure carries about it (the signal) and what
//! `GetFindingsV2` added (the enrichment). No SDK types.

use std::borrow::Cow;

use serde::Serialize;
use shared::Trait;
use shared::event::exposure::Signal;

/// A package of an image that carries the vulnerability.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Package {
    pub name: String,
    /// Installed version (with release and non-zero epoch when reported).
    pub installed: Option<String>,
    /// The first version that fixes the vulnerability.
    pub fixed_in: Option<String>,
    /// `OS`, `GOBINARY`, `NPM`, `PIP`, `JAR`, `GENERIC`, …
    pub package_manager: Option<String>,
    /// Inspector's remediation hint (`yum update python`).
    pub remediation: Option<String>,
}

/// A container image the vulnerability was found in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Image {
    /// The resource uid (for ECR: `arn:aws:ecr:<region>:<account>:repository/<name>/sha256:<hex>`).
    pub uid: Option<String>,
    pub repository: Option<String>,
    /// Registry (the ECR registry id is the account).
    pub registry: Option<String>,
    /// Region of the repository, from its ARN.
    pub region: Option<String>,
    /// `sha256:<hex>`.
    pub digest: Option<String>,
    pub tags: Vec<String>,
    /// Number of ECS tasks or EKS pods running the image, as Inspector last saw it.
    pub in_use_count: Option<u64>,
    pub last_in_use: Option<String>,
}

impl Image {
    /// Parse a resource uid. ECR image ARNs give repository, registry, Region and digest;
    /// anything else (other than the cluster itself) is kept as an opaque uid.
    pub fn from_uid(uid: &str) -> Option<Image> {
        let uid = uid.trim();
        if uid.is_empty() || (uid.contains(":eks:") && uid.contains(":cluster/")) {
            return None;
        }
        let mut image = Image {
            uid: Some(uid.to_string()),
            ..Image::default()
        };
        let parts: Vec<&str> = uid.splitn(6, ':').collect();
        if parts.len() == 6 && parts[0] == "arn" && parts[2] == "ecr" {
            image.region = Some(parts[3].to_string()).filter(|r| !r.is_empty());
            image.registry = Some(parts[4].to_string()).filter(|a| !a.is_empty());
            if let Some(rest) = parts[5].strip_prefix("repository/") {
                match rest.rfind("/sha256:") {
                    Some(at) => {
                        image.repository = Some(rest[..at].to_string());
                        image.digest = Some(rest[at + 1..].to_string());
                    }
                    None => image.repository = Some(rest.to_string()),
                }
            }
        }
        Some(image)
    }

    /// Identity for grouping: repository and digest when known, else the uid, else the tag.
    pub fn key(&self) -> String {
        match (&self.repository, &self.digest, &self.uid) {
            (Some(r), Some(d), _) => format!("{r}@{d}"),
            (None, Some(d), _) => d.clone(),
            (_, None, Some(u)) => u.clone(),
            (Some(r), None, None) => match self.tags.first() {
                Some(t) => format!("{r}:{t}"),
                None => r.clone(),
            },
            (None, None, None) => "(unknown image)".to_string(),
        }
    }

    /// Short, readable name: `payments-api@sha256:9d975b9c9a48` or `payments-api:1.4.2`.
    pub fn display(&self) -> String {
        let short = |d: &str| {
            let hex = d.strip_prefix("sha256:").unwrap_or(d);
            format!("sha256:{}", hex.chars().take(12).collect::<String>())
        };
        match (&self.repository, &self.digest) {
            (Some(r), Some(d)) => format!("{r}@{}", short(d)),
            (Some(r), None) => match self.tags.first() {
                Some(t) => format!("{r}:{t}"),
                None => r.clone(),
            },
            (None, Some(d)) => short(d),
            (None, None) => self.key(),
        }
    }

    /// Fill what `self` lacks from `other` (the same image seen from another source).
    pub fn merge(&mut self, other: &Image) {
        fn fill<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
        fill(&mut self.uid, &other.uid);
        fill(&mut self.repository, &other.repository);
        fill(&mut self.registry, &other.registry);
        fill(&mut self.region, &other.region);
        fill(&mut self.digest, &other.digest);
        fill(&mut self.in_use_count, &other.in_use_count);
        fill(&mut self.last_in_use, &other.last_in_use);
        for t in &other.tags {
            if !self.tags.contains(t) {
                self.tags.push(t.clone());
            }
        }
    }
}

/// Whether a fixed version exists (OCSF `is_fix_available` / `fix_coverage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fix {
    /// Every affected package has a fixed version.
    Available,
    /// Some affected packages have one.
    Partial,
    #[serde(rename = "none")]
    NotAvailable,
}

impl Fix {
    pub fn exists(self) -> bool {
        matches!(self, Fix::Available | Fix::Partial)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cvss {
    pub score: f64,
    pub vector: Option<String>,
    /// Who scored it (`NVD`, `AMAZON_CVE`, a distribution).
    pub source: Option<String>,
    pub version: Option<String>,
}

/// What the contributing finding adds to the signal.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Enrichment {
    pub cve: Option<String>,
    pub cvss: Option<Cvss>,
    /// EPSS probability, 0–1 (the finding carries it as a string).
    pub epss: Option<f64>,
    pub exploit_available: Option<bool>,
    pub fix: Option<Fix>,
    pub packages: Vec<Package>,
    pub images: Vec<Image>,
    pub severity: Option<String>,
}

/// How far a vulnerability was enriched; the reasons feed the "Could not check" lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum EnrichState {
    Enriched,
    /// `GetFindingsV2` answered without this finding.
    NotFound,
    /// The call for this finding failed; why.
    Failed(String),
    /// No call was made for this finding; why.
    NotRequested(String),
}

/// One vulnerability of the exposure, ready to rank.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Vuln {
    /// CVE (or other advisory) id.
    pub id: String,
    /// The contributing (Inspector) finding's uid.
    pub finding_uid: Option<String>,
    pub title: Option<String>,
    #[serde(rename = "trait")]
    pub trait_id: Trait,
    /// Trait values from the exposure (`Exploit Available`, `EPSS Level >= High`, …).
    pub values: Vec<Cow<'static, str>>,
    pub exploit_available: Option<bool>,
    pub epss: Option<f64>,
    pub cvss: Option<Cvss>,
    pub fix: Option<Fix>,
    pub packages: Vec<Package>,
    pub images: Vec<Image>,
    pub severity: Option<String>,
    pub enrichment: EnrichState,
}

/// Longest text kept from a finding field (names, versions, vectors): enough for any real
/// value, and keeps one odd finding from crowding the message out.
pub const FIELD_MAX: usize = 300;

/// `s` cut to at most `FIELD_MAX` characters, marked with `…` when cut.
pub fn clip(s: &str) -> String {
    if s.chars().count() <= FIELD_MAX {
        return s.to_string();
    }
    let mut out: String = s.chars().take(FIELD_MAX - 1).collect();
    out.push('…');
    out
}

fn has_value<S: AsRef<str>>(values: &[S], v: &str) -> bool {
    values
        .iter()
        .any(|x| x.as_ref().trim().eq_ignore_ascii_case(v))
}

/// Split a contributing finding title `CVE-2023-44487 - golang.org/x/net, google.golang.org/grpc`.
pub fn parse_title(title: &str) -> (Option<String>, Vec<String>) {
    let title = title.trim();
    match title.split_once(" - ") {
        Some((id, pkgs)) => (
            Some(id.trim().to_string()).filter(|i| !i.is_empty()),
            pkgs.split(',')
                .map(|p| clip(p.trim()))
                .filter(|p| !p.is_empty())
                .collect(),
        ),
        None if title.is_empty() => (None, Vec::new()),
        None => (Some(title.to_string()), Vec::new()),
    }
}

impl Vuln {
    /// A vulnerability as the exposure describes it, before enrichment.
    pub fn from_signal(signal: &Signal, trait_id: Trait) -> Vuln {
        let (title_id, title_packages) =
            signal.title.as_deref().map(parse_title).unwrap_or_default();
        let id = title_id
            .or_else(|| {
                signal
                    .uid
                    .as_deref()
                    .and_then(|u| u.rsplit('/').next())
                    .map(|tail| format!("finding {tail}"))
            })
            .unwrap_or_else(|| "(unnamed vulnerability)".to_string());
        let mut images: Vec<Image> = Vec::new();
        for r in &signal.resources {
            if let Some(img) = Image::from_uid(r)
                && !images.iter().any(|i| i.key() == img.key())
            {
                images.push(img);
            }
        }
        Vuln {
            id,
            finding_uid: signal.uid.clone().filter(|u| !u.trim().is_empty()),
            title: signal.title.clone(),
            trait_id,
            exploit_available: has_value(&signal.values, "Exploit Available").then_some(true),
            values: signal.values.clone(),
            epss: None,
            cvss: None,
            fix: None,
            packages: title_packages
                .into_iter()
                .map(|name| Package {
                    name,
                    ..Package::default()
                })
                .collect(),
            images,
            severity: None,
            enrichment: EnrichState::NotRequested("not requested".to_string()),
        }
    }

    /// Add what the contributing finding says; it wins over the exposure's summary, except
    /// where it is silent.
    pub fn enrich(&mut self, e: Enrichment) {
        if let Some(cve) = e.cve {
            self.id = cve;
        }
        if e.cvss.is_some() {
            self.cvss = e.cvss;
        }
        if e.epss.is_some() {
            self.epss = e.epss;
        }
        if e.exploit_available.is_some() {
            self.exploit_available = e.exploit_available;
        }
        if e.fix.is_some() {
            self.fix = e.fix;
        }
        if !e.packages.is_empty() {
            self.packages = e.packages;
        }
        if !e.images.is_empty() {
            let mut images = e.images;
            for img in &mut images {
                if let Some(known) = self.images.iter().find(|i| i.key() == img.key()) {
                    img.merge(known);
                }
            }
            self.images = images;
        }
        if e.severity.is_some() {
            self.severity = e.severity;
        }
        self.enrichment = EnrichState::Enriched;
    }

    /// Trait 4: network-exploitable with a high likelihood of exploitation.
    pub fn exploitable(&self) -> bool {
        self.trait_id == Trait::ExploitableVulnerability
    }

    pub fn exploit(&self) -> bool {
        self.exploit_available == Some(true)
    }

    pub fn has_fix(&self) -> bool {
        self.fix.is_some_and(Fix::exists)
    }

    pub fn cvss_score(&self) -> Option<f64> {
        self.cvss.as_ref().map(|c| c.score)
    }

    /// The EPSS level the exposure states (2 = `>= High`, 1 = `>= Medium`, 0 = none).
    pub fn epss_level(&self) -> u8 {
        if has_value(&self.values, "EPSS Level >= High") {
            2
        } else if has_value(&self.values, "EPSS Level >= Medium") {
            1
        } else {
            0
        }
    }

    pub fn network(&self) -> bool {
        has_value(&self.values, "Attack Vector Network")
    }

    pub fn is_enriched(&self) -> bool {
        self.enrichment == EnrichState::Enriched
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::event::exposure::TraitClass;

    const ECR: &str = "arn:aws:ecr:us-east-1:444455556666:repository/team/payments-api/sha256:9d975b9c9a48fa7f6ec9894a93f9417ff769741031462765f5d9dfdfddfb1f62";

    #[test]
    fn parses_an_ecr_image_arn_with_a_nested_repository() {
        let i = Image::from_uid(ECR).expect("image");
        assert_eq!(i.repository.as_deref(), Some("team/payments-api"));
        assert_eq!(i.registry.as_deref(), Some("444455556666"));
        assert_eq!(i.region.as_deref(), Some("us-east-1"));
        assert_eq!(
            i.digest.as_deref(),
            Some("sha256:9d975b9c9a48fa7f6ec9894a93f9417ff769741031462765f5d9dfdfddfb1f62")
        );
        assert_eq!(i.display(), "team/payments-api@sha256:9d975b9c9a48");
    }

    #[test]
    fn the_cluster_is_not_an_image_and_other_uids_stay_opaque() {
        assert_eq!(
            Image::from_uid("arn:aws:eks:us-east-1:444455556666:cluster/payments-prod"),
            None
        );
        let i = Image::from_uid("registry.example.com/app:1.2").expect("opaque");
        assert_eq!(i.key(), "registry.example.com/app:1.2");
        assert_eq!(i.repository, None);
    }

    #[test]
    fn splits_the_signal_title() {
        assert_eq!(
            parse_title("CVE-2023-44487 - golang.org/x/net, google.golang.org/grpc"),
            (
                Some("CVE-2023-44487".into()),
                vec!["golang.org/x/net".into(), "google.golang.org/grpc".into()]
            )
        );
        assert_eq!(
            parse_title("CVE-2024-1 "),
            (Some("CVE-2024-1".into()), vec![])
        );
        assert_eq!(parse_title(""), (None, vec![]));
        let long = format!("CVE-1 - {}", "x".repeat(5000));
        assert_eq!(parse_title(&long).1[0].chars().count(), FIELD_MAX);
    }

    #[test]
    fn a_signal_becomes_a_vulnerability_with_what_it_carries() {
        let s = Signal {
            uid: Some("arn:aws:inspector2:us-east-1:1:finding/abc".into()),
            title: Some("CVE-2023-44487 - golang.org/x/net".into()),
            product_uid: None,
            values: vec!["Exploit Available".into(), "EPSS Level >= High".into()],
            resources: vec![ECR.into(), ECR.into()],
            class: TraitClass::Known {
                id: Trait::ExploitableVulnerability,
            },
        };
        let v = Vuln::from_signal(&s, Trait::ExploitableVulnerability);
        assert_eq!(v.id, "CVE-2023-44487");
        assert!(v.exploit());
        assert_eq!(v.epss_level(), 2);
        assert_eq!(v.images.len(), 1, "duplicate observables collapse");
        assert_eq!(v.packages[0].name, "golang.org/x/net");
        assert_eq!(v.packages[0].fixed_in, None);
        assert!(!v.is_enriched());
    }
}
