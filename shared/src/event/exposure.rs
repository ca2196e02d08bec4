//! Trait classification: which remediation topic a contributing finding ("signal") belongs to.
//!
//! Security Hub's GA trait wording is not documented with certainty, so a signal is
//! classified from every independent clue it carries — trait name, trait values, preview tag values,
//! the contributing finding's uid (control id or Inspector ARN) and its title — and any one clue is
//! enough.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

use crate::event::finding::{RelatedEvent, owned_text};

/// The five EKS exposure traits. The identifiers are used verbatim in reports, SNS attributes,
/// metrics and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trait {
    PublicEndpoint,
    UnsupportedVersion,
    UnencryptedSecrets,
    ExploitableVulnerability,
    Vulnerability,
}

impl Trait {
    pub const ALL: [Trait; 5] = [
        Trait::PublicEndpoint,
        Trait::UnsupportedVersion,
        Trait::UnencryptedSecrets,
        Trait::ExploitableVulnerability,
        Trait::Vulnerability,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Trait::PublicEndpoint => "public_endpoint",
            Trait::UnsupportedVersion => "unsupported_version",
            Trait::UnencryptedSecrets => "unencrypted_secrets",
            Trait::ExploitableVulnerability => "exploitable_vulnerability",
            Trait::Vulnerability => "vulnerability",
        }
    }

    /// Short label for subjects and headings.
    pub fn label(self) -> &'static str {
        match self {
            Trait::PublicEndpoint => "public API endpoint",
            Trait::UnsupportedVersion => "unsupported Kubernetes version",
            Trait::UnencryptedSecrets => "unencrypted Kubernetes secrets",
            Trait::ExploitableVulnerability => "exploitable container vulnerabilities",
            Trait::Vulnerability => "container vulnerabilities",
        }
    }

    /// The Security Hub remediation-page wording of the trait.
    pub fn title(self) -> &'static str {
        match self {
            Trait::PublicEndpoint => "The Amazon EKS cluster allows public access",
            Trait::UnsupportedVersion => {
                "The Amazon EKS cluster uses an unsupported Kubernetes version"
            }
            Trait::UnencryptedSecrets => {
                "The Amazon EKS cluster uses unencrypted Kubernetes secrets"
            }
            Trait::ExploitableVulnerability => {
                "The Amazon EKS cluster has a container with network-exploitable software vulnerabilities with a high likelihood of exploitation"
            }
            Trait::Vulnerability => {
                "The Amazon EKS cluster has a container with software vulnerabilities"
            }
        }
    }

    /// Security Hub control behind a CSPM-sourced trait.
    fn control_id(self) -> Option<&'static str> {
        match self {
            Trait::PublicEndpoint => Some("EKS.1"),
            Trait::UnsupportedVersion => Some("EKS.2"),
            Trait::UnencryptedSecrets => Some("EKS.3"),
            _ => None,
        }
    }

    /// Title of the Security Hub control behind a CSPM-sourced trait.
    fn control_title(self) -> Option<&'static str> {
        match self {
            Trait::PublicEndpoint => {
                Some("EKS cluster endpoints should not be publicly accessible")
            }
            Trait::UnsupportedVersion => {
                Some("EKS clusters should run on a supported Kubernetes version")
            }
            Trait::UnencryptedSecrets => {
                Some("EKS clusters should use encrypted Kubernetes secrets")
            }
            _ => None,
        }
    }
}

impl fmt::Display for Trait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// What a signal was classified as. `Unknown` keeps the original wording so it can be reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TraitClass {
    Known {
        id: Trait,
    },
    Unknown {
        category: Option<String>,
        name: Option<String>,
    },
}

/// A contributing finding with its classification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Signal {
    pub uid: Option<String>,
    pub title: Option<String>,
    pub product_uid: Option<String>,
    /// Trait values (GA `traits[].values`, preview `tags[].values`), e.g. `Exploit Available`;
    /// the values Security Hub is known to write are static text (`value_text`).
    pub values: Vec<Cow<'static, str>>,
    /// Resource UIDs of the contributing finding (for CVEs, usually the container image).
    pub resources: Vec<String>,
    pub class: TraitClass,
}

impl Signal {
    pub fn trait_id(&self) -> Option<Trait> {
        match self.class {
            TraitClass::Known { id } => Some(id),
            TraitClass::Unknown { .. } => None,
        }
    }
}

/// Trait values that mark a vulnerability as network-exploitable with a high likelihood of
/// exploitation (trait 4) rather than an ordinary one (trait 5).
const HIGH_PRIORITY_VALUES: [&str; 2] = ["EPSS Level >= High", "Exploit Available"];

/// The trait values of the documented samples (reference `exposure-findings.md`). A finding
/// repeats them for every vulnerability; kept as static text, classifying copies none of them.
const KNOWN_VALUES: [&str; 7] = [
    "Attack Vector Network",
    "EPSS Level >= High",
    "EPSS Level >= Medium",
    "Exploit Available",
    "No Privileges Required",
    "No User Interaction Required",
    "Vulnerable",
];

/// A trait value as the signal keeps it: the static text when it is a known value, verbatim.
fn value_text(v: &str) -> Cow<'static, str> {
    KNOWN_VALUES
        .iter()
        .find(|k| **k == v)
        .map_or_else(|| Cow::Owned(v.to_owned()), |k| Cow::Borrowed(*k))
}

fn eq_ci(a: &str, b: &str) -> bool {
    let a = a.trim();
    // Security Hub writes the canonical wording: an exact match is the common, cheap case.
    a.len() == b.len() && (a == b || a.eq_ignore_ascii_case(b))
}

/// The control id in a CSPM control finding uid: `…:security-control/EKS.1/finding/<uuid>`.
fn control_in_uid(uid: &str) -> Option<&str> {
    let rest = uid.split("security-control/").nth(1)?;
    rest.split('/').next()
}

fn is_inspector(ev: &RelatedEvent<'_>) -> bool {
    let uid_is_inspector = ev
        .uid
        .as_deref()
        .is_some_and(|u| u.starts_with("arn:") && u.contains(":inspector2:"));
    let product_is_inspector = ev
        .product
        .as_ref()
        .and_then(|p| p.uid.as_deref())
        .is_some_and(|u| u.ends_with("/aws/inspector"));
    uid_is_inspector || product_is_inspector
}

/// Classify one contributing finding.
pub fn classify(ev: &RelatedEvent<'_>) -> Signal {
    let count = ev.traits.iter().map(|t| t.values.len()).sum::<usize>()
        + ev.tags.iter().map(|t| t.values.len()).sum::<usize>();
    let mut values: Vec<Cow<'static, str>> = Vec::with_capacity(count);
    for v in ev.traits.iter().flat_map(|t| &t.values) {
        values.push(value_text(v));
    }
    for v in ev.tags.iter().flat_map(|t| &t.values) {
        values.push(value_text(v));
    }
    let class = classify_parts(ev, &values);
    let first_trait = ev.traits.first();
    let class = class.map_or_else(
        || TraitClass::Unknown {
            category: first_trait
                .and_then(|t| owned_text(&t.category))
                .or_else(|| ev.tags.first().and_then(|t| owned_text(&t.name))),
            name: first_trait
                .and_then(|t| owned_text(&t.name))
                .or_else(|| owned_text(&ev.title)),
        },
        |id| TraitClass::Known { id },
    );
    Signal {
        uid: owned_text(&ev.uid),
        title: owned_text(&ev.title),
        product_uid: ev.product.as_ref().and_then(|p| owned_text(&p.uid)),
        values,
        resources: ev
            .observables
            .iter()
            .filter_map(|o| owned_text(&o.value))
            .collect(),
        class,
    }
}

fn classify_parts(ev: &RelatedEvent<'_>, values: &[Cow<'static, str>]) -> Option<Trait> {
    // GA trait names; categories are GA trait categories and preview tag names.
    let mut names = ev.traits.iter().filter_map(|t| t.name.as_deref());
    let mut categories = ev
        .traits
        .iter()
        .filter_map(|t| t.category.as_deref())
        .chain(ev.tags.iter().filter_map(|t| t.name.as_deref()));
    // 1. Trait name (GA wording).
    if let Some(t) = names
        .clone()
        .find_map(|name| Trait::ALL.iter().find(|t| eq_ci(name, t.title())))
    {
        return Some(*t);
    }
    // 2. Control id in the contributing finding's uid.
    if let Some(control) = ev.uid.as_deref().and_then(control_in_uid)
        && let Some(t) = Trait::ALL.iter().find(|t| t.control_id() == Some(control))
    {
        return Some(*t);
    }
    // 3. Control title.
    if let Some(title) = ev.title.as_deref()
        && let Some(t) = Trait::ALL
            .iter()
            .find(|t| t.control_title().is_some_and(|c| eq_ci(title, c)))
    {
        return Some(*t);
    }
    // 4. Vulnerability signals: Inspector source, a CVE title, or a Vulnerability category;
    //    the values decide between high priority and ordinary.
    let cve_title = ev
        .title
        .as_deref()
        .is_some_and(|t| t.trim_start().starts_with("CVE-"));
    let vulnerability_category = categories.clone().any(|c| eq_ci(c, "Vulnerability"));
    let high_priority_value = values
        .iter()
        .any(|v| HIGH_PRIORITY_VALUES.iter().any(|h| eq_ci(v, h)));
    // A category alone counts only without a trait name: a named trait we do not know (say, an
    // end-of-life OS) must stay unknown rather than be mistaken for a CVE.
    if is_inspector(ev) || cve_title || (vulnerability_category && names.next().is_none()) {
        return Some(if high_priority_value {
            Trait::ExploitableVulnerability
        } else {
            Trait::Vulnerability
        });
    }
    // 5. Preview tag values naming the public endpoint.
    if values.iter().any(|v| {
        let v = v.to_ascii_lowercase();
        v.contains("public") && (v.contains("endpoint") || v.contains("access"))
    }) && categories.any(|c| eq_ci(c, "Misconfiguration") || eq_ci(c, "Reachability"))
    {
        return Some(Trait::PublicEndpoint);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::finding::{OcsfTrait, PreviewTag, Product};

    fn ev() -> RelatedEvent<'static> {
        RelatedEvent::default()
    }

    fn with_name(name: &str) -> RelatedEvent<'_> {
        RelatedEvent {
            traits: vec![OcsfTrait {
                category: None,
                name: Some(name.into()),
                values: vec![],
            }],
            ..ev()
        }
    }

    fn with_uid(uid: &str) -> RelatedEvent<'_> {
        RelatedEvent {
            uid: Some(uid.into()),
            ..ev()
        }
    }

    fn with_title(title: &str) -> RelatedEvent<'_> {
        RelatedEvent {
            title: Some(title.into()),
            ..ev()
        }
    }

    fn with_preview_tag<'a>(name: &'a str, values: &[&'a str]) -> RelatedEvent<'a> {
        RelatedEvent {
            tags: vec![PreviewTag {
                name: Some(name.into()),
                values: values.iter().map(|v| (*v).into()).collect(),
            }],
            ..ev()
        }
    }

    fn class_of(e: &RelatedEvent) -> Option<Trait> {
        classify(e).trait_id()
    }

    #[test]
    fn each_trait_from_its_name_only() {
        for t in Trait::ALL {
            assert_eq!(class_of(&with_name(t.title())), Some(t), "{t}");
        }
        // Case and surrounding space do not matter.
        assert_eq!(
            class_of(&with_name(" the amazon eks cluster allows PUBLIC access ")),
            Some(Trait::PublicEndpoint)
        );
    }

    #[test]
    fn cspm_traits_from_control_uid_only() {
        let uid = |c: &str| {
            format!("arn:aws:securityhub:us-east-1:111122223333:security-control/{c}/finding/0b1c")
        };
        assert_eq!(
            class_of(&with_uid(&uid("EKS.1"))),
            Some(Trait::PublicEndpoint)
        );
        assert_eq!(
            class_of(&with_uid(&uid("EKS.2"))),
            Some(Trait::UnsupportedVersion)
        );
        assert_eq!(
            class_of(&with_uid(&uid("EKS.3"))),
            Some(Trait::UnencryptedSecrets)
        );
        // EKS.10 must not be mistaken for EKS.1.
        assert_eq!(class_of(&with_uid(&uid("EKS.10"))), None);
    }

    #[test]
    fn vulnerability_traits_from_inspector_uid_only() {
        let e = with_uid(
            "arn:aws:inspector2:us-east-1:111122223333:finding/0316527ac3d2b7864cc74e683ce2f010",
        );
        assert_eq!(class_of(&e), Some(Trait::Vulnerability));
        let mut hp = e.clone();
        hp.traits = vec![OcsfTrait {
            category: Some("Vulnerability".into()),
            name: None,
            values: vec!["Exploit Available".into()],
        }];
        assert_eq!(class_of(&hp), Some(Trait::ExploitableVulnerability));
    }

    #[test]
    fn each_trait_from_title_only() {
        assert_eq!(
            class_of(&with_title(
                "EKS cluster endpoints should not be publicly accessible"
            )),
            Some(Trait::PublicEndpoint)
        );
        assert_eq!(
            class_of(&with_title(
                "EKS clusters should run on a supported Kubernetes version"
            )),
            Some(Trait::UnsupportedVersion)
        );
        assert_eq!(
            class_of(&with_title(
                "EKS clusters should use encrypted Kubernetes secrets"
            )),
            Some(Trait::UnencryptedSecrets)
        );
        assert_eq!(
            class_of(&with_title("CVE-2023-44487 - golang.org/x/net")),
            Some(Trait::Vulnerability)
        );
    }

    #[test]
    fn traits_from_preview_tags_only() {
        assert_eq!(
            class_of(&with_preview_tag(
                "Misconfiguration",
                &["Publicly accessible endpoint"]
            )),
            Some(Trait::PublicEndpoint)
        );
        assert_eq!(
            class_of(&with_preview_tag(
                "Vulnerability",
                &["Attack Vector Network", "EPSS Level >= High", "Vulnerable"]
            )),
            Some(Trait::ExploitableVulnerability)
        );
        assert_eq!(
            class_of(&with_preview_tag("Vulnerability", &["Vulnerable"])),
            Some(Trait::Vulnerability)
        );
    }

    #[test]
    fn inspector_product_uid_alone_is_a_vulnerability() {
        let e = RelatedEvent {
            product: Some(Product {
                uid: Some("arn:aws:securityhub:us-east-1::productv2/aws/inspector".into()),
                ..Product::default()
            }),
            ..ev()
        };
        assert_eq!(class_of(&e), Some(Trait::Vulnerability));
    }

    #[test]
    fn unknown_traits_are_kept_verbatim() {
        let e = RelatedEvent {
            uid: Some("arn:aws:securityhub:us-east-1:1:security-control/EC2.8/finding/x".into()),
            title: Some("EC2 instances should use IMDSv2".into()),
            traits: vec![OcsfTrait {
                category: Some("Sensitive Data".into()),
                name: Some("Something new".into()),
                values: vec![],
            }],
            ..ev()
        };
        let s = classify(&e);
        assert_eq!(
            s.class,
            TraitClass::Unknown {
                category: Some("Sensitive Data".into()),
                name: Some("Something new".into())
            }
        );
    }

    #[test]
    fn trait_ids_are_the_documented_identifiers() {
        let ids: Vec<_> = Trait::ALL.iter().map(|t| t.id()).collect();
        assert_eq!(
            ids,
            [
                "public_endpoint",
                "unsupported_version",
                "unencrypted_secrets",
                "exploitable_vulnerability",
                "vulnerability"
            ]
        );
        assert_eq!(
            serde_json::to_string(&Trait::UnencryptedSecrets)
                .ok()
                .as_deref(),
            Some("\"unencrypted_secrets\"")
        );
    }
}
