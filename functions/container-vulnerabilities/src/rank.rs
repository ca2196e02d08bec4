//! Ranking: trait 4 (`exploitable_vulnerability`) first; then exploit available, EPSS, CVSS,
//! fix available. Unknown scores rank below every known one. Ties are broken by id, so the order
//! is the same on every run.

use std::cmp::Ordering;

use crate::model::Vuln;

/// Higher first; `None` last.
fn desc(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => b.total_cmp(&a),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The ranking order (`Less` = more urgent).
pub fn compare(a: &Vuln, b: &Vuln) -> Ordering {
    b.exploitable()
        .cmp(&a.exploitable())
        .then_with(|| b.exploit().cmp(&a.exploit()))
        .then_with(|| desc(a.epss, b.epss))
        // Without scores (not enriched), the level the exposure states still orders them.
        .then_with(|| b.epss_level().cmp(&a.epss_level()))
        .then_with(|| desc(a.cvss_score(), b.cvss_score()))
        .then_with(|| b.has_fix().cmp(&a.has_fix()))
        .then_with(|| b.network().cmp(&a.network()))
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| a.finding_uid.cmp(&b.finding_uid))
}

pub fn rank(vulns: &mut [Vuln]) {
    vulns.sort_by(compare);
}

/// Compare two package versions leniently (`1.10.0` > `1.9.3`, `1:3.0.8-1.amzn2023.0.11` >
/// `1:3.0.8-1.amzn2023.0.3`): numeric runs compare as numbers, other runs as text, an epoch
/// prefix (`N:`) first. Good enough to pick the highest of several fixed versions of one package.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split_epoch(v: &str) -> (u64, &str) {
        match v.split_once(':') {
            Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
                (e.parse().unwrap_or(0), rest)
            }
            _ => (0, v),
        }
    }
    fn runs(v: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let bytes = v.as_bytes();
        let mut start = 0;
        while start < bytes.len() {
            let digit = bytes[start].is_ascii_digit();
            if !bytes[start].is_ascii_alphanumeric() {
                start += 1;
                continue;
            }
            let mut end = start;
            while end < bytes.len()
                && bytes[end].is_ascii_alphanumeric()
                && bytes[end].is_ascii_digit() == digit
            {
                end += 1;
            }
            out.push((digit, &v[start..end]));
            start = end;
        }
        out
    }
    let (ea, ra) = split_epoch(a.trim().trim_start_matches(['v', 'V']));
    let (eb, rb) = split_epoch(b.trim().trim_start_matches(['v', 'V']));
    ea.cmp(&eb).then_with(|| {
        let (xa, xb) = (runs(ra), runs(rb));
        for (pa, pb) in xa.iter().zip(xb.iter()) {
            let o = match (pa, pb) {
                ((true, na), (true, nb)) => {
                    let (na, nb) = (na.trim_start_matches('0'), nb.trim_start_matches('0'));
                    na.len().cmp(&nb.len()).then_with(|| na.cmp(nb))
                }
                // A number outranks a word (1.0.1 > 1.0.beta).
                ((true, _), (false, _)) => Ordering::Greater,
                ((false, _), (true, _)) => Ordering::Less,
                ((false, wa), (false, wb)) => wa.cmp(wb),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        xa.len().cmp(&xb.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cvss, EnrichState, Fix};
    use shared::Trait;

    fn v(id: &str) -> Vuln {
        Vuln {
            id: id.to_string(),
            finding_uid: None,
            title: None,
            trait_id: Trait::Vulnerability,
            values: vec![],
            exploit_available: None,
            epss: None,
            cvss: None,
            fix: None,
            packages: vec![],
            images: vec![],
            severity: None,
            enrichment: EnrichState::Enriched,
        }
    }

    fn cvss(score: f64) -> Option<Cvss> {
        Some(Cvss {
            score,
            vector: None,
            source: None,
            version: None,
        })
    }

    fn order(mut vs: Vec<Vuln>) -> Vec<String> {
        rank(&mut vs);
        vs.into_iter().map(|v| v.id).collect()
    }

    #[test]
    fn trait_4_outranks_everything_else() {
        let mut exploitable = v("low-scores-but-trait-4");
        exploitable.trait_id = Trait::ExploitableVulnerability;
        exploitable.epss = Some(0.01);
        let mut routine = v("high-scores-trait-5");
        routine.exploit_available = Some(true);
        routine.epss = Some(0.99);
        routine.cvss = cvss(10.0);
        routine.fix = Some(Fix::Available);
        assert_eq!(
            order(vec![routine, exploitable]),
            ["low-scores-but-trait-4", "high-scores-trait-5"]
        );
    }

    #[test]
    fn then_exploit_then_epss_then_cvss_then_fix() {
        let mut exploit = v("e-exploit");
        exploit.exploit_available = Some(true);
        let mut epss_hi = v("d-epss-0.9");
        epss_hi.epss = Some(0.9);
        epss_hi.cvss = cvss(1.0);
        let mut epss_lo = v("c-epss-0.1-cvss-9");
        epss_lo.epss = Some(0.1);
        epss_lo.cvss = cvss(9.0);
        let mut cvss_hi = v("b-cvss-9.8");
        cvss_hi.cvss = cvss(9.8);
        let mut cvss_hi_fix = v("z-cvss-9.8-fix");
        cvss_hi_fix.cvss = cvss(9.8);
        cvss_hi_fix.fix = Some(Fix::Partial);
        let nothing = v("a-nothing-known");
        assert_eq!(
            order(vec![
                nothing,
                cvss_hi,
                epss_lo,
                cvss_hi_fix,
                epss_hi,
                exploit
            ]),
            [
                "e-exploit",
                "d-epss-0.9",
                "c-epss-0.1-cvss-9",
                "z-cvss-9.8-fix",
                "b-cvss-9.8",
                "a-nothing-known"
            ]
        );
    }

    #[test]
    fn exploit_false_and_unknown_rank_alike_and_a_missing_epss_ranks_last() {
        let mut no = v("b");
        no.exploit_available = Some(false);
        no.epss = Some(0.0);
        let unknown = v("a");
        assert_eq!(order(vec![unknown, no]), ["b", "a"]);
    }

    #[test]
    fn without_scores_the_stated_epss_level_orders() {
        let mut high = v("b");
        high.values = vec!["EPSS Level >= High".into()];
        let mut medium = v("a");
        medium.values = vec!["EPSS Level >= Medium".into()];
        assert_eq!(order(vec![v("0"), medium, high]), ["b", "a", "0"]);
    }

    #[test]
    fn ties_are_broken_by_id() {
        assert_eq!(order(vec![v("b"), v("c"), v("a")]), ["a", "b", "c"]);
    }

    #[test]
    fn versions_compare_numerically() {
        use Ordering::*;
        assert_eq!(compare_versions("1.10.0", "1.9.3"), Greater);
        assert_eq!(compare_versions("0.17.0", "0.17.0"), Equal);
        assert_eq!(compare_versions("v1.2", "1.2.0"), Less);
        assert_eq!(
            compare_versions("1:3.0.8-1.amzn2023.0.11", "1:3.0.8-1.amzn2023.0.3"),
            Greater
        );
        assert_eq!(compare_versions("0:9", "1:1"), Less);
        assert_eq!(compare_versions("1.0.1", "1.0.beta"), Greater);
        assert_eq!(compare_versions("2.0.0-rc1", "2.0.0-rc2"), Less);
        assert_eq!(compare_versions("007", "7"), Equal);
    }
}
