//! Defensive reading of an Inspector-sourced OCSF Vulnerability Finding (class 2002) as
//! `GetFindingsV2` returns it. Every field is optional; numbers and booleans are
//! accepted as strings too (EPSS always arrives as a string); nothing here fails.

use serde_json::Value;

use crate::model::{Cvss, Enrichment, Fix, Image, Package, clip};

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(clip(s.trim())).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    let n = match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }?;
    n.is_finite().then_some(n)
}

fn boolean(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" => Some(true),
            "false" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn array(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// EPSS score (a probability, 0–1). Security Hub sends it as a string (`"0.94422"`); a number is
/// accepted too. Anything else, or a value outside 0–1, is no score.
pub fn parse_epss(v: Option<&Value>) -> Option<f64> {
    number(v).filter(|s| (0.0..=1.0).contains(s))
}

/// The CVSS entry to rank by: NVD's newest version when present (comparable across vendors),
/// else the highest base score.
fn pick_cvss(entries: &[Value]) -> Option<Cvss> {
    let mut all: Vec<Cvss> = entries
        .iter()
        .filter_map(|c| {
            let score = number(c.get("base_score")).filter(|s| (0.0..=10.0).contains(s))?;
            Some(Cvss {
                score,
                vector: text(c.get("vector_string")),
                source: text(c.get("vendor_name")),
                version: text(c.get("version")),
            })
        })
        .collect();
    let version_of = |c: &Cvss| {
        c.version
            .as_deref()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let nvd = all
        .iter()
        .filter(|c| {
            c.source
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("NVD"))
        })
        .max_by(|a, b| version_of(a).total_cmp(&version_of(b)))
        .cloned();
    if nvd.is_some() {
        return nvd;
    }
    all.sort_by(|a, b| b.score.total_cmp(&a.score));
    all.into_iter().next()
}

fn package(p: &Value) -> Option<Package> {
    let name = text(p.get("name"))?;
    let version = text(p.get("version"));
    let release = text(p.get("release"));
    let epoch = text(p.get("epoch")).filter(|e| e != "0");
    let installed = version.map(|v| {
        let mut s = String::new();
        if let Some(e) = &epoch {
            s.push_str(e);
            s.push(':');
        }
        s.push_str(&v);
        if let Some(r) = &release {
            s.push('-');
            s.push_str(r);
        }
        s
    });
    Some(Package {
        name,
        installed,
        fixed_in: text(p.get("fixed_in_version"))
            .filter(|f| !f.eq_ignore_ascii_case("NotAvailable")),
        package_manager: text(p.get("package_manager")),
        remediation: text(get(p, &["remediation", "desc"])),
    })
}

/// Find `key` in `v`, at most `depth` objects deep (Inspector's `data` nests the ECR details
/// under `details.awsEcrContainerImage` or similar, depending on the producer version).
fn find_key<'a>(v: &'a Value, key: &str, depth: u8) -> Option<&'a Value> {
    let obj = v.as_object()?;
    if let Some(found) = obj.get(key) {
        return Some(found);
    }
    if depth == 0 {
        return None;
    }
    obj.values()
        .find_map(|child| find_key(child, key, depth - 1))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(|i| text(Some(i))).collect(),
        other => text(other).into_iter().collect(),
    }
}

fn image(r: &Value) -> Option<Image> {
    let kind = text(r.get("type")).unwrap_or_default().to_ascii_lowercase();
    let img = r.get("image");
    let data = r.get("data");
    let uid = text(r.get("uid"));
    let from_uid = uid.as_deref().and_then(Image::from_uid);
    let looks_like_image = img.is_some()
        || kind.contains("ecr")
        || kind.contains("container")
        || from_uid.as_ref().is_some_and(|i| i.repository.is_some());
    if !looks_like_image {
        return None;
    }
    let d = |key: &str| data.and_then(|d| find_key(d, key, 3));
    let mut image = Image {
        uid: uid.clone(),
        repository: text(img.and_then(|i| i.get("repository_name")))
            .or_else(|| text(d("repositoryName"))),
        registry: text(img.and_then(|i| i.get("registry_uid"))).or_else(|| text(d("registry"))),
        region: None,
        digest: text(img.and_then(|i| i.get("uid")))
            .filter(|u| u.starts_with("sha256:"))
            .or_else(|| text(d("imageHash"))),
        tags: {
            let mut tags = strings(img.and_then(|i| i.get("tag")));
            tags.extend(strings(img.and_then(|i| i.get("tags"))));
            for t in strings(d("imageTags")) {
                if !tags.contains(&t) {
                    tags.push(t);
                }
            }
            tags
        },
        in_use_count: number(img.and_then(|i| i.get("in_use_count")))
            .or_else(|| number(d("inUseCount")))
            .filter(|n| *n >= 0.0)
            .map(|n| n as u64),
        last_in_use: text(img.and_then(|i| i.get("last_used_time_dt")))
            .or_else(|| text(d("lastInUseAt"))),
    };
    if let Some(parsed) = &from_uid {
        image.merge(parsed);
    }
    Some(image)
}

fn fix_of(v: &Value, packages: &[Package]) -> Option<Fix> {
    let coverage = text(v.get("fix_coverage")).map(|c| c.to_ascii_lowercase());
    match coverage.as_deref() {
        Some("partial") => return Some(Fix::Partial),
        Some("complete") => return Some(Fix::Available),
        Some("none") => return Some(Fix::NotAvailable),
        _ => {}
    }
    // Inspector's native YES | NO | PARTIAL may surface here too.
    if text(v.get("is_fix_available")).is_some_and(|s| s.eq_ignore_ascii_case("partial")) {
        return Some(Fix::Partial);
    }
    match boolean(v.get("is_fix_available")) {
        Some(true) => Some(Fix::Available),
        Some(false) => Some(Fix::NotAvailable),
        None => {
            let with = packages.iter().filter(|p| p.fixed_in.is_some()).count();
            match with {
                0 => None,
                n if n == packages.len() => Some(Fix::Available),
                _ => Some(Fix::Partial),
            }
        }
    }
}

/// Read a vulnerability finding. A finding with several `vulnerabilities[]` is folded into one:
/// the first CVE id, the worst scores, every package.
pub fn parse_finding(finding: &Value) -> Enrichment {
    let mut e = Enrichment::default();
    for v in array(finding.get("vulnerabilities")) {
        if e.cve.is_none() {
            e.cve = text(get(v, &["cve", "uid"]));
        }
        let cvss = pick_cvss(array(get(v, &["cve", "cvss"])));
        if let Some(c) = cvss
            && e.cvss.as_ref().is_none_or(|old| c.score > old.score)
        {
            e.cvss = Some(c);
        }
        if let Some(s) = parse_epss(get(v, &["cve", "epss", "score"])) {
            e.epss = Some(e.epss.map_or(s, |old| old.max(s)));
        }
        if let Some(x) = boolean(v.get("is_exploit_available")) {
            e.exploit_available = Some(e.exploit_available.unwrap_or(false) || x);
        }
        let packages: Vec<Package> = array(v.get("affected_packages"))
            .iter()
            .filter_map(package)
            .collect();
        let fix = fix_of(v, &packages);
        e.fix = match (e.fix, fix) {
            (None, f) | (f, None) => f,
            (Some(a), Some(b)) if a == b => Some(a),
            (Some(_), Some(_)) => Some(Fix::Partial),
        };
        for p in packages {
            if !e.packages.contains(&p) {
                e.packages.push(p);
            }
        }
        if e.severity.is_none() {
            e.severity = text(v.get("severity"));
        }
    }
    if e.severity.is_none() {
        e.severity = text(finding.get("severity"));
    }
    for r in array(finding.get("resources")) {
        if let Some(img) = image(r)
            && !e.images.iter().any(|i| i.key() == img.key())
        {
            e.images.push(img);
        }
    }
    e
}

/// The uid a returned finding answers for (`finding_info.uid`).
pub fn finding_uid(finding: &Value) -> Option<String> {
    text(get(finding, &["finding_info", "uid"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn epss_arrives_as_a_string() {
        assert_eq!(parse_epss(Some(&json!("0.94422"))), Some(0.94422));
        assert_eq!(parse_epss(Some(&json!(" 0.0105 "))), Some(0.0105));
        assert_eq!(parse_epss(Some(&json!(0.5))), Some(0.5));
        assert_eq!(parse_epss(Some(&json!("1"))), Some(1.0));
    }

    #[test]
    fn bad_epss_is_no_epss() {
        for bad in [
            json!(""),
            json!("n/a"),
            json!("NaN"),
            json!("inf"),
            json!("1.5"),
            json!("-0.1"),
            json!(null),
            json!(true),
            json!({"score": "0.5"}),
        ] {
            assert_eq!(parse_epss(Some(&bad)), None, "{bad}");
        }
        assert_eq!(parse_epss(None), None);
    }

    #[test]
    fn prefers_the_nvd_score_then_the_highest() {
        let entries = [
            json!({"vendor_name": "Amazon Linux", "base_score": 7.1, "version": "3.1"}),
            json!({"vendor_name": "NVD", "base_score": 9.8, "version": "3.1", "vector_string": "CVSS:3.1/AV:N"}),
            json!({"vendor_name": "NVD", "base_score": 5.0, "version": "2.0"}),
        ];
        let c = pick_cvss(&entries).expect("cvss");
        assert_eq!(c.score, 9.8);
        assert_eq!(c.vector.as_deref(), Some("CVSS:3.1/AV:N"));
        let c = pick_cvss(&[
            json!({"vendor_name": "AMAZON_CVE", "base_score": "6.5"}),
            json!({"vendor_name": "GHSA", "base_score": 8.1}),
            json!({"base_score": "not a number"}),
        ])
        .expect("cvss");
        assert_eq!(c.score, 8.1);
        assert_eq!(pick_cvss(&[json!({"base_score": 11})]), None);
    }

    #[test]
    fn reads_a_full_inspector_finding() {
        let f = json!({
            "class_uid": 2002,
            "finding_info": {"uid": "arn:aws:inspector2:us-east-1:1:finding/a"},
            "vulnerabilities": [{
                "cve": {"uid": "CVE-2023-44487",
                        "cvss": [{"vendor_name": "NVD", "base_score": 7.5, "version": "3.1",
                                  "vector_string": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
                        "epss": {"score": "0.94422"}},
                "is_exploit_available": true,
                "is_fix_available": true,
                "fix_coverage": "Complete",
                "affected_packages": [
                    {"name": "golang.org/x/net", "version": "0.7.0", "fixed_in_version": "0.17.0", "package_manager": "GOBINARY"},
                    {"name": "openssl-libs", "version": "3.0.8", "release": "1.amzn2023.0.3", "epoch": 1,
                     "fixed_in_version": "1:3.0.8-1.amzn2023.0.11", "package_manager": "OS",
                     "remediation": {"desc": "dnf update openssl-libs"}}
                ]
            }],
            "resources": [{
                "type": "AWS::ECR::ContainerImage",
                "uid": "arn:aws:ecr:us-east-1:1:repository/payments-api/sha256:9d97",
                "image": {"in_use_count": 3, "tag": "v1.4.2", "last_used_time_dt": "2026-05-12T00:00:00Z"}
            }, {
                "type": "AWS::EKS::Cluster",
                "uid": "arn:aws:eks:us-east-1:1:cluster/payments-prod"
            }]
        });
        let e = parse_finding(&f);
        assert_eq!(e.cve.as_deref(), Some("CVE-2023-44487"));
        assert_eq!(e.epss, Some(0.94422));
        assert_eq!(e.cvss.as_ref().map(|c| c.score), Some(7.5));
        assert_eq!(e.exploit_available, Some(true));
        assert_eq!(e.fix, Some(Fix::Available));
        assert_eq!(e.packages.len(), 2);
        assert_eq!(
            e.packages[1].installed.as_deref(),
            Some("1:3.0.8-1.amzn2023.0.3")
        );
        assert_eq!(
            e.packages[1].remediation.as_deref(),
            Some("dnf update openssl-libs")
        );
        assert_eq!(e.images.len(), 1, "the cluster resource is not an image");
        let img = &e.images[0];
        assert_eq!(img.repository.as_deref(), Some("payments-api"));
        assert_eq!(img.digest.as_deref(), Some("sha256:9d97"));
        assert_eq!(img.tags, ["v1.4.2"]);
        assert_eq!(img.in_use_count, Some(3));
        assert_eq!(
            finding_uid(&f).as_deref(),
            Some("arn:aws:inspector2:us-east-1:1:finding/a")
        );
    }

    #[test]
    fn reads_ecr_details_from_the_data_blob() {
        let f = json!({"resources": [{
            "type": "AwsEcrContainerImage",
            "uid": "opaque-id",
            "data": {"details": {"awsEcrContainerImage": {
                "repositoryName": "jobs", "imageHash": "sha256:abc", "registry": "444455556666",
                "imageTags": ["latest", "2024-05"], "inUseCount": "7"}}}
        }]});
        let img = &parse_finding(&f).images[0];
        assert_eq!(img.repository.as_deref(), Some("jobs"));
        assert_eq!(img.digest.as_deref(), Some("sha256:abc"));
        assert_eq!(img.tags, ["latest", "2024-05"]);
        assert_eq!(img.in_use_count, Some(7));
        assert_eq!(img.registry.as_deref(), Some("444455556666"));
    }

    #[test]
    fn an_empty_or_odd_finding_yields_nothing_and_never_panics() {
        for f in [
            json!({}),
            json!(null),
            json!([]),
            json!({"vulnerabilities": "nope", "resources": {}}),
            json!({"vulnerabilities": [{"cve": "x", "affected_packages": [{"version": "1"}]}]}),
        ] {
            let e = parse_finding(&f);
            assert_eq!(e.cve, None);
            assert!(e.packages.is_empty());
            assert!(e.images.is_empty());
        }
    }

    #[test]
    fn fix_availability_from_each_clue() {
        let no_fix = json!({"vulnerabilities": [{"is_fix_available": false,
            "affected_packages": [{"name": "zlib", "version": "1.2.11"}]}]});
        assert_eq!(parse_finding(&no_fix).fix, Some(Fix::NotAvailable));
        assert_eq!(parse_finding(&no_fix).packages[0].fixed_in, None);
        let partial = json!({"vulnerabilities": [{"fix_coverage": "Partial"}]});
        assert_eq!(parse_finding(&partial).fix, Some(Fix::Partial));
        let native = json!({"vulnerabilities": [{"is_fix_available": "PARTIAL"}]});
        assert_eq!(parse_finding(&native).fix, Some(Fix::Partial));
        let inferred = json!({"vulnerabilities": [{"affected_packages": [
            {"name": "a", "fixed_in_version": "2"}, {"name": "b"}]}]});
        assert_eq!(parse_finding(&inferred).fix, Some(Fix::Partial));
        let unknown = json!({"vulnerabilities": [{"affected_packages": [{"name": "a"}]}]});
        assert_eq!(parse_finding(&unknown).fix, None);
        let not_available = json!({"vulnerabilities": [{"affected_packages": [
            {"name": "a", "fixed_in_version": "NotAvailable"}]}]});
        assert_eq!(parse_finding(&not_available).packages[0].fixed_in, None);
    }
}
