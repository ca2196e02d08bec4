//! IPv4/IPv6 CIDR blocks (on `ipnet`): parse strictly, validate an allowlist, and intersect the
//! cluster's public CIDRs with it.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// The broadest block `ALLOWED_PUBLIC_CIDRS` accepts, per family. A /8 is 16.7 million IPv4
/// addresses, far more than any office or CI egress; broader blocks (`0.0.0.0/1` and
/// `128.0.0.0/1` together are the whole internet) are refused. A /32 is a whole IPv6 ISP
/// allocation.
pub const MIN_PREFIX_V4: u8 = 8;
pub const MIN_PREFIX_V6: u8 = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr(IpNet);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("'{0}' is not a CIDR block (expected address/prefix, e.g. 203.0.113.0/24)")]
    Syntax(String),
    #[error("'{0}' has a prefix longer than its address family allows")]
    Prefix(String),
    #[error("'{0}' has host bits set; did you mean {1}?")]
    HostBits(String, String),
}

/// Ranges that are not public internet addresses (RFC 6890 special-purpose blocks, private,
/// shared, loopback, link-local, multicast, reserved): EKS refuses reserved addresses in
/// `publicAccessCidrs`, and a private range there means nothing on a public endpoint. The
/// documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are
/// accepted so examples and tests read naturally.
const NOT_PUBLIC: &[(&str, &str)] = &[
    ("0.0.0.0/8", "'this network'"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("::/127", "unspecified or loopback"),
    (
        "::ffff:0:0/96",
        "IPv4-mapped IPv6 (give the IPv4 block instead)",
    ),
    ("64:ff9b::/96", "IPv4/IPv6 translation"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
];

impl Cidr {
    pub fn parse(s: &str) -> Result<Self, CidrError> {
        let s = s.trim();
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| CidrError::Syntax(s.to_string()))?;
        let addr: IpAddr = a.parse().map_err(|_| CidrError::Syntax(s.to_string()))?;
        let prefix: u8 = p.parse().map_err(|_| CidrError::Syntax(s.to_string()))?;
        let net = IpNet::new(addr, prefix).map_err(|_| CidrError::Prefix(s.to_string()))?;
        if net.network() != addr {
            return Err(CidrError::HostBits(s.to_string(), net.trunc().to_string()));
        }
        Ok(Cidr(net))
    }

    pub fn net(&self) -> IpNet {
        self.0
    }

    /// `0.0.0.0/0` or `::/0`: the whole internet.
    pub fn is_everything(&self) -> bool {
        self.0.prefix_len() == 0
    }

    /// Whether every address of `other` is inside `self` (never across address families).
    pub fn contains(&self, other: &Cidr) -> bool {
        self.0.contains(&other.0)
    }

    /// Why this block may not be on the allowlist, or `None` when it may.
    pub fn allowlist_problem(&self) -> Option<String> {
        let (min, family) = match self.0 {
            IpNet::V4(_) => (MIN_PREFIX_V4, "IPv4"),
            IpNet::V6(_) => (MIN_PREFIX_V6, "IPv6"),
        };
        if self.0.prefix_len() < min {
            return Some(format!(
                "'{self}' is broader than /{min}, the broadest {family} block allowed (list the narrower blocks your clients use)"
            ));
        }
        NOT_PUBLIC.iter().find_map(|(block, what)| {
            let special = Cidr::parse(block).ok()?;
            (special.contains(self) || self.contains(&special)).then(|| {
                format!("'{self}' overlaps {block}, which is {what}, not a public internet range")
            })
        })
    }
}

/// The addresses in both `current` and `allowed`, as CIDR blocks: what the cluster allows today,
/// narrowed to the allowlist, never wider. Two CIDR blocks either nest or are disjoint, so each
/// pair contributes the narrower block or nothing; the result is aggregated.
pub fn intersection(current: &[Cidr], allowed: &[Cidr]) -> Vec<Cidr> {
    let mut nets = Vec::new();
    for c in current {
        for a in allowed {
            if a.contains(c) {
                nets.push(c.0);
            } else if c.contains(a) {
                nets.push(a.0);
            }
        }
    }
    IpNet::aggregate(&nets).into_iter().map(Cidr).collect()
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn list(s: &[&str]) -> Vec<Cidr> {
        s.iter().map(|x| c(x)).collect()
    }

    fn strings(v: &[Cidr]) -> Vec<String> {
        v.iter().map(Cidr::to_string).collect()
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(c("203.0.113.0/24").to_string(), "203.0.113.0/24");
        assert_eq!(c(" 2001:db8::/32 ").to_string(), "2001:db8::/32");
        assert!(c("0.0.0.0/0").is_everything());
        assert!(c("::/0").is_everything());
    }

    #[test]
    fn rejects_bad_blocks() {
        assert!(matches!(
            Cidr::parse("203.0.113.0"),
            Err(CidrError::Syntax(_))
        ));
        assert!(matches!(
            Cidr::parse("300.0.0.0/8"),
            Err(CidrError::Syntax(_))
        ));
        assert!(matches!(
            Cidr::parse("10.0.0.0/33"),
            Err(CidrError::Prefix(_))
        ));
        assert_eq!(
            Cidr::parse("203.0.113.7/24"),
            Err(CidrError::HostBits(
                "203.0.113.7/24".into(),
                "203.0.113.0/24".into()
            ))
        );
    }

    #[test]
    fn containment() {
        assert!(c("203.0.113.0/24").contains(&c("203.0.113.128/25")));
        assert!(c("203.0.113.0/24").contains(&c("203.0.113.0/24")));
        assert!(!c("203.0.113.0/25").contains(&c("203.0.113.0/24")));
        assert!(!c("203.0.113.0/24").contains(&c("198.51.100.0/24")));
        assert!(c("0.0.0.0/0").contains(&c("198.51.100.0/24")));
        assert!(
            !c("0.0.0.0/0").contains(&c("2001:db8::/32")),
            "families never mix"
        );
        assert!(c("2001:db8::/32").contains(&c("2001:db8:1::/48")));
    }

    #[test]
    fn intersection_narrows_and_never_widens() {
        let allow = list(&["203.0.113.0/24"]);
        assert_eq!(
            strings(&intersection(
                &list(&["203.0.113.5/32", "198.51.100.0/24"]),
                &allow
            )),
            ["203.0.113.5/32"]
        );
        assert_eq!(
            strings(&intersection(&list(&["0.0.0.0/0"]), &allow)),
            ["203.0.113.0/24"]
        );
        assert!(intersection(&list(&["198.51.100.0/24"]), &allow).is_empty());
        assert!(intersection(&list(&["::/0"]), &allow).is_empty());
        assert_eq!(
            strings(&intersection(
                &list(&["203.0.113.0/25", "203.0.113.128/25"]),
                &list(&["203.0.113.0/24", "192.0.2.0/24"])
            )),
            ["203.0.113.0/24"],
            "adjacent blocks are aggregated"
        );
    }

    #[test]
    fn allowlist_problems() {
        for ok in [
            "203.0.113.0/24",
            "11.0.0.0/8",
            "2001:db8::/32",
            "52.94.76.10/32",
        ] {
            assert_eq!(c(ok).allowlist_problem(), None, "{ok}");
        }
        for (bad, why) in [
            ("0.0.0.0/1", "broader than /8"),
            ("128.0.0.0/1", "broader than /8"),
            ("8.0.0.0/7", "broader than /8"),
            ("2000::/3", "broader than /32"),
            ("10.1.0.0/16", "private"),
            ("172.20.0.0/16", "private"),
            ("192.168.1.0/24", "private"),
            ("100.64.0.0/16", "carrier-grade NAT"),
            ("127.0.0.1/32", "loopback"),
            ("169.254.169.254/32", "link-local"),
            ("224.0.0.0/8", "multicast"),
            ("255.255.255.255/32", "reserved"),
            ("::ffff:203.0.113.0/120", "IPv4-mapped"),
            ("fd00::/48", "unique local"),
            ("::1/128", "loopback"),
        ] {
            let problem = c(bad).allowlist_problem().unwrap_or_default();
            assert!(problem.contains(why), "{bad}: {problem:?}");
        }
    }

    fn v4_net() -> impl Strategy<Value = Cidr> {
        (any::<u32>(), 0u8..=32).prop_map(|(a, p)| {
            Cidr(
                IpNet::new(IpAddr::V4(Ipv4Addr::from(a)), p)
                    .expect("prefix")
                    .trunc(),
            )
        })
    }

    fn member(addr: IpAddr, nets: &[Cidr]) -> bool {
        nets.iter().any(|n| n.0.contains(&addr))
    }

    /// Addresses at the edges of every block, and just outside them.
    fn probes(nets: &[Cidr], extra: u32) -> Vec<IpAddr> {
        let mut out = vec![IpAddr::V4(Ipv4Addr::from(extra))];
        for n in nets {
            if let (IpAddr::V4(lo), IpAddr::V4(hi)) = (n.0.network(), n.0.broadcast()) {
                let (lo, hi) = (u32::from(lo), u32::from(hi));
                for a in [
                    lo,
                    hi,
                    lo.wrapping_sub(1),
                    hi.wrapping_add(1),
                    lo / 2 + hi / 2,
                ] {
                    out.push(IpAddr::V4(Ipv4Addr::from(a)));
                }
            }
        }
        out
    }

    proptest! {
        #[test]
        fn intersection_is_exactly_the_common_addresses(
            current in prop::collection::vec(v4_net(), 1..5),
            allowed in prop::collection::vec(v4_net(), 1..5),
            extra in any::<u32>(),
        ) {
            let both = intersection(&current, &allowed);
            let mut all = current.clone();
            all.extend(allowed.iter().copied());
            for addr in probes(&all, extra) {
                prop_assert_eq!(
                    member(addr, &both),
                    member(addr, &current) && member(addr, &allowed),
                    "{} in {:?}", addr, strings(&both)
                );
            }
            // Never wider than what the cluster allows today: both ends of every block are
            // allowed today (the exactness above covers the addresses between).
            for n in &both {
                let covered = member(n.0.network(), &current) && member(n.0.broadcast(), &current);
                prop_assert!(covered, "{} is wider than {:?}", n, strings(&current));
            }
        }
    }
}
