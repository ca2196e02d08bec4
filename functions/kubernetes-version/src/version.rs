//! Kubernetes minor versions and their EKS support status, as plain data.
//!
//! Nothing here knows which versions exist: that comes live from `DescribeClusterVersions`
//! every time. This module only parses, orders and walks `major.minor` numbers.

use std::fmt;

use serde::Serialize;

/// A Kubernetes `major.minor` version. EKS versions clusters by minor; patch levels are EKS's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Minor {
    pub major: u32,
    pub minor: u32,
}

/// A version string that is not `MAJOR.MINOR`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "Kubernetes version '{raw}' is not MAJOR.MINOR (for example 1.31); the upgrade path cannot be computed from it"
)]
pub struct VersionError {
    pub raw: String,
}

impl Minor {
    pub const fn new(major: u32, minor: u32) -> Self {
        Minor { major, minor }
    }

    /// Parse `1.24`, also `v1.24` and `1.24.7` (the patch is ignored).
    pub fn parse(raw: &str) -> Result<Minor, VersionError> {
        let err = || VersionError {
            raw: raw.to_string(),
        };
        let s = raw.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let mut parts = s.split('.');
        let number = |p: Option<&str>| -> Result<u32, VersionError> {
            let p = p.ok_or_else(err)?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            p.parse().map_err(|_| err())
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        if let Some(patch) = parts.next() {
            number(Some(patch))?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(Minor { major, minor })
    }

    /// The only version EKS can upgrade this one to: the next minor.
    pub fn next(self) -> Minor {
        Minor {
            major: self.major,
            minor: self.minor.saturating_add(1),
        }
    }

    /// How many minor versions `older` is behind this one (0 when it is not older).
    pub fn minors_ahead_of(self, older: Minor) -> u32 {
        if self.major != older.major {
            // Kubernetes has had one major version; treat any other as out of every skew.
            return if self > older { u32::MAX } else { 0 };
        }
        self.minor.saturating_sub(older.minor)
    }

    /// The version before this one, if the minor is not 0.
    pub fn previous(self) -> Option<Minor> {
        self.minor.checked_sub(1).map(|minor| Minor {
            major: self.major,
            minor,
        })
    }
}

impl fmt::Display for Minor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Serialize for Minor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Every version EKS must pass through, one minor at a time, from `current` to `target`
/// (both ends: the first element is the next minor, the last is `target`). Empty when `target`
/// is not newer, or is in another major line (EKS has published no such path).
pub fn upgrade_path(current: Minor, target: Minor) -> Vec<Minor> {
    if target <= current || target.major != current.major {
        return Vec::new();
    }
    (current.minor + 1..=target.minor)
        .map(|minor| Minor::new(current.major, minor))
        .collect()
}

/// EKS's support status for a version (`versionStatus` of DescribeClusterVersions).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Support {
    StandardSupport,
    ExtendedSupport,
    Unsupported,
    /// A status this build does not know, verbatim.
    #[serde(untagged)]
    Other(String),
}

impl Support {
    pub fn from_api(s: &str) -> Support {
        match s.to_ascii_uppercase().replace('-', "_").as_str() {
            "STANDARD_SUPPORT" => Support::StandardSupport,
            "EXTENDED_SUPPORT" => Support::ExtendedSupport,
            "UNSUPPORTED" => Support::Unsupported,
            _ => Support::Other(s.to_string()),
        }
    }

    pub fn label(&self) -> &str {
        match self {
            Support::StandardSupport => "STANDARD_SUPPORT",
            Support::ExtendedSupport => "EXTENDED_SUPPORT",
            Support::Unsupported => "UNSUPPORTED",
            Support::Other(s) => s,
        }
    }

    /// EKS documents rollback only to versions it currently supports.
    pub fn supported(&self) -> bool {
        matches!(self, Support::StandardSupport | Support::ExtendedSupport)
    }
}

/// A calendar day from the API: epoch seconds for arithmetic, `YYYY-MM-DD` for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Day {
    pub epoch_secs: i64,
    pub date: String,
}

impl Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.date)
    }
}

impl Day {
    /// `2026-07-29 (in 64 days)` / `2025-01-31 (482 days ago)` relative to `now`.
    pub fn relative(&self, now_secs: i64) -> String {
        let days = self.epoch_secs.div_euclid(86_400) - now_secs.div_euclid(86_400);
        let n = |d: i64| {
            if d == 1 {
                "1 day".to_string()
            } else {
                format!("{d} days")
            }
        };
        match days {
            0 => format!("{} (today)", self.date),
            d if d > 0 => format!("{} (in {})", self.date, n(d)),
            d => format!("{} ({} ago)", self.date, n(-d)),
        }
    }
}

/// One row of DescribeClusterVersions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub version: Minor,
    pub status: Support,
    pub end_of_standard_support: Option<Day>,
    pub end_of_extended_support: Option<Day>,
}

/// The oldest version EKS lists in standard support: where the upgrade path ends.
pub fn oldest_in_standard_support(versions: &[VersionInfo]) -> Option<Minor> {
    versions
        .iter()
        .filter(|v| v.status == Support::StandardSupport)
        .map(|v| v.version)
        .min()
}

/// What the live version list says about the cluster's version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Listed by EKS with this status.
    Listed(VersionInfo),
    /// Not listed, but at least as new as `oldest_standard`: in standard support.
    NewerThanOldestStandard { oldest_standard: Minor },
    /// Not listed, and older than every listed version: past the end of support.
    OlderThanListed { oldest_listed: Minor },
    /// Not listed and neither of the above; the list alone cannot tell.
    Unknown,
}

impl Standing {
    pub fn of(current: Minor, versions: &[VersionInfo]) -> Standing {
        if let Some(v) = versions.iter().find(|v| v.version == current) {
            return Standing::Listed(v.clone());
        }
        if let Some(oldest_standard) = oldest_in_standard_support(versions)
            && current >= oldest_standard
        {
            return Standing::NewerThanOldestStandard { oldest_standard };
        }
        match versions.iter().map(|v| v.version).min() {
            Some(oldest_listed) if current < oldest_listed => {
                Standing::OlderThanListed { oldest_listed }
            }
            _ => Standing::Unknown,
        }
    }

    /// The status this standing amounts to; `None` when it cannot be told.
    pub fn support(&self) -> Option<Support> {
        match self {
            Standing::Listed(v) => Some(v.status.clone()),
            Standing::NewerThanOldestStandard { .. } => Some(Support::StandardSupport),
            Standing::OlderThanListed { .. } => Some(Support::Unsupported),
            Standing::Unknown => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(v: (u32, u32), status: Support) -> VersionInfo {
        VersionInfo {
            version: Minor::new(v.0, v.1),
            status,
            end_of_standard_support: None,
            end_of_extended_support: None,
        }
    }

    #[test]
    fn parses_major_minor_with_optional_v_and_patch() {
        assert_eq!(Minor::parse("1.24"), Ok(Minor::new(1, 24)));
        assert_eq!(Minor::parse(" v1.9 "), Ok(Minor::new(1, 9)));
        assert_eq!(Minor::parse("1.31.4"), Ok(Minor::new(1, 31)));
        assert_eq!(Minor::parse("2.0"), Ok(Minor::new(2, 0)));
    }

    #[test]
    fn rejects_anything_that_is_not_major_minor() {
        for bad in [
            "", "1", "1.", ".24", "1.x", "1.24.", "1.24.3.1", "latest", "1.-2", "1.2a",
        ] {
            let err = Minor::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("MAJOR.MINOR"), "{err}");
            assert_eq!(err.raw, bad);
        }
    }

    #[test]
    fn versions_order_numerically_not_lexically() {
        assert!(Minor::new(1, 9) < Minor::new(1, 10));
        assert!(Minor::new(1, 33) < Minor::new(2, 0));
        assert_eq!(Minor::new(1, 9).to_string(), "1.9");
    }

    #[test]
    fn next_minor_is_one_step() {
        assert_eq!(Minor::new(1, 24).next(), Minor::new(1, 25));
        assert_eq!(Minor::new(1, 9).next().to_string(), "1.10");
        assert_eq!(Minor::new(1, 24).previous(), Some(Minor::new(1, 23)));
        assert_eq!(Minor::new(2, 0).previous(), None);
    }

    #[test]
    fn path_walks_every_minor_up_to_the_target() {
        let p: Vec<String> = upgrade_path(Minor::new(1, 24), Minor::new(1, 28))
            .iter()
            .map(Minor::to_string)
            .collect();
        assert_eq!(p, ["1.25", "1.26", "1.27", "1.28"]);
        assert_eq!(
            upgrade_path(Minor::new(1, 30), Minor::new(1, 31)),
            [Minor::new(1, 31)]
        );
        assert!(upgrade_path(Minor::new(1, 31), Minor::new(1, 31)).is_empty());
        assert!(upgrade_path(Minor::new(1, 32), Minor::new(1, 31)).is_empty());
        assert!(upgrade_path(Minor::new(1, 33), Minor::new(2, 0)).is_empty());
    }

    #[test]
    fn support_status_from_the_api_both_spellings() {
        assert_eq!(
            Support::from_api("STANDARD_SUPPORT"),
            Support::StandardSupport
        );
        assert_eq!(
            Support::from_api("extended-support"),
            Support::ExtendedSupport
        );
        assert_eq!(Support::from_api("UNSUPPORTED"), Support::Unsupported);
        assert_eq!(
            Support::from_api("PREVIEW"),
            Support::Other("PREVIEW".into())
        );
        assert!(Support::ExtendedSupport.supported());
        assert!(!Support::Unsupported.supported());
    }

    #[test]
    fn oldest_standard_is_the_minimum_standard_version() {
        let list = vec![
            info((1, 33), Support::StandardSupport),
            info((1, 31), Support::StandardSupport),
            info((1, 30), Support::ExtendedSupport),
            info((1, 24), Support::Unsupported),
        ];
        assert_eq!(oldest_in_standard_support(&list), Some(Minor::new(1, 31)));
        assert_eq!(oldest_in_standard_support(&list[2..]), None);
    }

    #[test]
    fn standing_prefers_the_listed_status() {
        let list = vec![
            info((1, 31), Support::StandardSupport),
            info((1, 29), Support::ExtendedSupport),
        ];
        assert_eq!(
            Standing::of(Minor::new(1, 29), &list).support(),
            Some(Support::ExtendedSupport)
        );
        assert_eq!(
            Standing::of(Minor::new(1, 24), &list),
            Standing::OlderThanListed {
                oldest_listed: Minor::new(1, 29)
            }
        );
        assert_eq!(
            Standing::of(Minor::new(1, 24), &list).support(),
            Some(Support::Unsupported)
        );
        assert_eq!(
            Standing::of(Minor::new(1, 34), &list).support(),
            Some(Support::StandardSupport)
        );
        // A gap in the list below the oldest standard version cannot be judged.
        let gap = vec![
            info((1, 31), Support::StandardSupport),
            info((1, 28), Support::Unsupported),
        ];
        assert_eq!(Standing::of(Minor::new(1, 29), &gap), Standing::Unknown);
        assert_eq!(Standing::of(Minor::new(1, 29), &[]), Standing::Unknown);
    }

    #[test]
    fn days_are_described_relative_to_now() {
        let d = Day {
            epoch_secs: 10 * 86_400,
            date: "1970-01-11".into(),
        };
        assert_eq!(d.relative(0), "1970-01-11 (in 10 days)");
        assert_eq!(d.relative(10 * 86_400 + 5), "1970-01-11 (today)");
        assert_eq!(d.relative(12 * 86_400), "1970-01-11 (2 days ago)");
        assert_eq!(d.relative(9 * 86_400 + 7), "1970-01-11 (in 1 day)");
    }
}
