//! IPv4/IPv6 CIDR blocks: enough to validate `ALLOWED_PUBLIC_CIDRS` and test containment.

use std::fmt;
use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("'{0}' is not a CIDR block (expected address/prefix, e.g. 203.0.113.0/24)")]
    Syntax(String),
    #[error("'{0}' has a prefix longer than its address family allows")]
    Prefix(String),
    #[error("'{0}' has host bits set; did you mean {1}?")]
    HostBits(String, String),
}

fn bits(addr: IpAddr) -> (u128, u8) {
    match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        let all = if width == 128 {
            u128::MAX
        } else {
            (1u128 << width) - 1
        };
        all & !((1u128 << (width - prefix)) - 1)
    }
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Self, CidrError> {
        let s = s.trim();
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| CidrError::Syntax(s.to_string()))?;
        let addr: IpAddr = a.parse().map_err(|_| CidrError::Syntax(s.to_string()))?;
        let prefix: u8 = p.parse().map_err(|_| CidrError::Syntax(s.to_string()))?;
        let (value, width) = bits(addr);
        if prefix > width {
            return Err(CidrError::Prefix(s.to_string()));
        }
        let network = value & mask(prefix, width);
        if network != value {
            let fixed = Cidr {
                addr: from_bits(network, addr),
                prefix,
            };
            return Err(CidrError::HostBits(s.to_string(), fixed.to_string()));
        }
        Ok(Cidr { addr, prefix })
    }

    /// `0.0.0.0/0` or `::/0`: the whole internet.
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }

    /// Whether every address of `other` is inside `self`.
    pub fn contains(&self, other: &Cidr) -> bool {
        let (a, wa) = bits(self.addr);
        let (b, wb) = bits(other.addr);
        wa == wb && other.prefix >= self.prefix && (b & mask(self.prefix, wa)) == a
    }
}

fn from_bits(v: u128, like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::from(u32::try_from(v).unwrap_or(0))),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::from(v)),
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap_or_else(|e| panic!("{e}"))
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
}
