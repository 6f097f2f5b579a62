//! IP networks (`10.0.0.0/8`, `2001:db8::/32`, or a single address) as written in
//! `[general] trusted_proxies`, and the one rule for comparing addresses: an IPv4-mapped IPv6
//! address (`::ffff:192.0.2.1`, what a dual-stack socket reports for an IPv4 peer) is the IPv4
//! address it carries.
//!
//! Pure: parsing and arithmetic only, no I/O.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address with its IPv4-mapped form unwrapped, so that `::ffff:10.0.0.1` and `10.0.0.1`
/// are the same client and match the same `trusted_proxies` entry.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// A network: an address whose bits past `prefix` are zero. A single address is a /32 (IPv4)
/// or /128 (IPv6) network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// The network of `prefix` bits around `ip` (canonical); `prefix` is capped at the
    /// address's width.
    pub(crate) fn of(ip: IpAddr, prefix: u8) -> IpNet {
        let ip = canonical(ip);
        let prefix = prefix.min(width(ip));
        IpNet {
            addr: mask(ip, prefix),
            prefix,
        }
    }

    /// Whether `ip` (canonical form) lies in this network.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        width(ip) == width(self.addr) && mask(ip, self.prefix) == self.addr
    }
}

fn width(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

/// Why a network did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError;

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an IP address or CIDR range (address/prefix with the host bits zero)")
    }
}

impl std::error::Error for ParseError {}

/// `192.0.2.1`, `10.0.0.0/8`, `::1`, `2001:db8::/32`. Host bits past the prefix must be zero
/// (`10.0.0.1/8` is refused: it reads like one address but would trust sixteen million).
impl FromStr for IpNet {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<IpNet, ParseError> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| ParseError)?;
        // A mapped address with a prefix would mix two widths: write the IPv4 form instead.
        if prefix.is_some() && canonical(ip) != ip {
            return Err(ParseError);
        }
        let ip = canonical(ip);
        let prefix = match prefix {
            None => width(ip),
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= width(ip))
                .ok_or(ParseError)?,
            Some(_) => return Err(ParseError),
        };
        if mask(ip, prefix) != ip {
            return Err(ParseError);
        }
        Ok(IpNet { addr: ip, prefix })
    }
}

/// `10.0.0.0/8`; a single address without its prefix.
impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix == width(self.addr) {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn mapped_addresses_are_their_ipv4_address() {
        assert_eq!(canonical(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(canonical(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(canonical(ip("2001:db8::1")), ip("2001:db8::1"));
        // the IPv4-compatible form (deprecated) is a different, IPv6 address
        assert_eq!(canonical(ip("::192.0.2.1")), ip("::192.0.2.1"));
        assert_eq!(net("::ffff:10.0.0.1"), net("10.0.0.1"));
    }

    #[test]
    fn parsing_and_display() {
        for (text, shown) in [
            ("10.0.0.1", "10.0.0.1"),
            (" 10.0.0.0/8 ", "10.0.0.0/8"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("10.0.0.1/32", "10.0.0.1"),
            ("::1", "::1"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("::/0", "::/0"),
            ("::ffff:10.0.0.1", "10.0.0.1"),
        ] {
            assert_eq!(net(text).to_string(), shown, "{text}");
        }
        for bad in [
            "",
            "10.0.0.1/8",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "2001:db8::1/32",
            "::/129",
            "::ffff:10.0.0.0/104",
            "10.0.0",
            "host.example",
            "[::1]",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn containment() {
        let n = net("10.0.0.0/8");
        assert!(n.contains(ip("10.255.0.1")));
        assert!(n.contains(ip("::ffff:10.1.2.3")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(
            !n.contains(ip("::a00:1")),
            "an IPv6 address is never in an IPv4 network"
        );
        let one = net("192.0.2.7");
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6 = net("2001:db8::/32");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!net("0.0.0.0/0").contains(ip("::1")));
        assert!(net("::/0").contains(ip("::1")));
    }

    #[test]
    fn networks_around_an_address() {
        assert_eq!(
            IpNet::of(ip("2001:db8:1:2:3:4:5:6"), 64).to_string(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            IpNet::of(ip("::ffff:192.0.2.1"), 64).to_string(),
            "192.0.2.1"
        );
        assert_eq!(IpNet::of(ip("192.0.2.1"), 24).to_string(), "192.0.2.0/24");
        assert_eq!(IpNet::of(ip("192.0.2.1"), 0).to_string(), "0.0.0.0/0");
    }
}
