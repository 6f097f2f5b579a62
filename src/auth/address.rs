//! Who the client of a login is, for the failed-login limit: the socket's peer, or behind
//! trusted reverse proxies the address they forwarded (`X-Forwarded-For`), and the bucket that
//! address counts in.
//!
//! The rules (nginx's `real_ip_recursive on`, which operators know):
//! - A peer not in `trusted_proxies` is the client; its `X-Forwarded-For` is ignored (anyone can
//!   write one).
//! - From a trusted peer, all `X-Forwarded-For` header lines are combined in order, joined by
//!   commas (RFC 9110's rule for repeated fields), then read from the right: each trusted
//!   address is skipped, and the first untrusted one is the client. When every entry is
//!   trusted, the leftmost is the client. Entries may carry a port (`192.0.2.1:5555`,
//!   `[2001:db8::1]:443`) or quotes, which are dropped.
//! - An entry that is not an address at all (`unknown`, garbage) ends the walk: the client is
//!   the trusted hop that wrote it (nginx does the same). Only a trusted proxy can put such an
//!   entry where the walk reaches it.
//! - IPv4-mapped IPv6 addresses count as their IPv4 address, for matching and for counting.
//! - IPv4 clients are counted per address, IPv6 clients per /64 network: one host usually gets
//!   a whole /64, and moving inside it must not reset the count.
//!
//! Pure: no I/O, no clock, no logging.

use std::net::{IpAddr, SocketAddr};

use crate::http::ipnet::{canonical, IpNet};

/// Entries of `X-Forwarded-For` read per request at most; a longer chain is cut on the left
/// (the far end, the part the client wrote). Real chains have a handful.
const MAX_HOPS: usize = 64;

/// The prefix IPv6 clients are counted by.
pub(crate) const IPV6_BUCKET_PREFIX: u8 = 64;

/// The client's address: `peer` (the socket's) or, for a trusted peer, the first untrusted
/// address of the combined `forwarded` header lines read from the right.
pub(crate) fn client_address<'a>(
    peer: IpAddr,
    forwarded: impl IntoIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut client = canonical(peer);
    if !is_trusted(client) {
        return client;
    }
    let lines: Vec<&str> = forwarded.into_iter().collect();
    // Right to left over the combined lines: the last line's entries first.
    let entries = lines
        .iter()
        .rev()
        .flat_map(|line| line.rsplit(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .take(MAX_HOPS);
    for entry in entries {
        match parse_entry(entry) {
            Some(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    return ip;
                }
            }
            None => return client,
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, optionally quoted, optionally with a port
/// (`[v6]:port` for IPv6). Canonical form.
pub(crate) fn parse_entry(entry: &str) -> Option<IpAddr> {
    let e = entry.trim().trim_matches('"').trim();
    if let Ok(ip) = e.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = e.parse::<SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    // `[2001:db8::1]` without a port
    let inner = e.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|v6| canonical(IpAddr::V6(v6)))
}

/// What failures of `client` are counted under: the address itself for IPv4, its /64 for IPv6.
pub(crate) fn bucket(client: IpAddr) -> IpNet {
    IpNet::of(client, IPV6_BUCKET_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn client(peer: &str, lines: &[&str], trusted: &[&str]) -> IpAddr {
        client_address(ip(peer), lines.iter().copied(), &nets(trusted))
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            client("192.0.2.1", &["6.6.6.6"], &["10.0.0.1"]),
            ip("192.0.2.1")
        );
        assert_eq!(client("192.0.2.1", &["6.6.6.6"], &[]), ip("192.0.2.1"));
        assert_eq!(client("::ffff:192.0.2.1", &[], &[]), ip("192.0.2.1"));
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        assert_eq!(client("10.0.0.1", &[], &["10.0.0.1"]), ip("10.0.0.1"));
        assert_eq!(client("10.0.0.1", &[" , "], &["10.0.0.1"]), ip("10.0.0.1"));
    }

    #[test]
    fn the_walk_goes_right_to_left_past_trusted_proxies() {
        let t = ["10.0.0.0/8"];
        // the client forged 6.6.6.6; the proxy appended the real client
        assert_eq!(
            client("10.0.0.1", &["6.6.6.6, 198.51.100.7"], &t),
            ip("198.51.100.7")
        );
        // two trusted proxies in a row
        assert_eq!(
            client("10.0.0.1", &["6.6.6.6, 198.51.100.7, 10.9.9.9"], &t),
            ip("198.51.100.7")
        );
        // every entry trusted: the leftmost
        assert_eq!(
            client("10.0.0.1", &["10.1.1.1, 10.2.2.2"], &t),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn header_lines_are_combined_in_order() {
        let t = ["10.0.0.1", "10.0.0.2"];
        // the outer proxy (10.0.0.2) sent its own line rather than appending
        assert_eq!(
            client("10.0.0.1", &["6.6.6.6", "198.51.100.7, 10.0.0.2"], &t),
            ip("198.51.100.7")
        );
        assert_eq!(
            client("10.0.0.1", &["6.6.6.6", "198.51.100.7"], &t),
            ip("198.51.100.7")
        );
        // only the first line read would have given the forged address
        assert_ne!(
            client("10.0.0.1", &["6.6.6.6", "198.51.100.7"], &t),
            ip("6.6.6.6")
        );
    }

    #[test]
    fn entries_with_ports_brackets_and_quotes_parse() {
        for (entry, want) in [
            ("198.51.100.7", "198.51.100.7"),
            ("198.51.100.7:5555", "198.51.100.7"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("\"[2001:db8::1]:443\"", "2001:db8::1"),
            ("::ffff:198.51.100.7", "198.51.100.7"),
            ("[::ffff:198.51.100.7]:80", "198.51.100.7"),
            (" 198.51.100.7 ", "198.51.100.7"),
        ] {
            assert_eq!(parse_entry(entry), Some(ip(want)), "{entry}");
        }
        for bad in [
            "unknown",
            "",
            "198.51.100",
            "[198.51.100.7]",
            "2001:db8::1:443x",
            "_hidden",
        ] {
            assert_eq!(parse_entry(bad), None, "{bad}");
        }
        assert_eq!(
            client("10.0.0.1", &["[2001:db8::5]:443"], &["10.0.0.1"]),
            ip("2001:db8::5")
        );
    }

    #[test]
    fn an_entry_that_is_no_address_stops_at_the_hop_that_wrote_it() {
        let t = ["10.0.0.0/8"];
        assert_eq!(client("10.0.0.1", &["unknown"], &t), ip("10.0.0.1"));
        assert_eq!(
            client("10.0.0.1", &["198.51.100.7, garbage, 10.2.2.2"], &t),
            ip("10.2.2.2")
        );
        // garbage left of the client is never reached
        assert_eq!(
            client("10.0.0.1", &["garbage, 198.51.100.7"], &t),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn ipv4_mapped_peers_and_entries_match_ipv4_proxies() {
        assert_eq!(
            client("::ffff:10.0.0.1", &["198.51.100.7"], &["10.0.0.1"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client(
                "10.0.0.1",
                &["198.51.100.7, ::ffff:10.0.0.2"],
                &["10.0.0.0/8"]
            ),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn long_chains_are_cut_on_the_left() {
        let long = vec!["10.3.3.3"; 200].join(", ");
        let line = format!("198.51.100.7, {long}");
        // the client is beyond MAX_HOPS: the walk ends at the last trusted entry it read
        assert_eq!(
            client("10.0.0.1", &[&line], &["10.0.0.0/8"]),
            ip("10.3.3.3")
        );
    }

    #[test]
    fn buckets() {
        assert_eq!(bucket(ip("198.51.100.7")).to_string(), "198.51.100.7");
        assert_eq!(
            bucket(ip("::ffff:198.51.100.7")).to_string(),
            "198.51.100.7"
        );
        assert_eq!(
            bucket(ip("2001:db8::1")),
            bucket(ip("2001:db8::ffff:1:2:3"))
        );
        assert_ne!(bucket(ip("2001:db8::1")), bucket(ip("2001:db8:0:1::1")));
        assert_eq!(bucket(ip("2001:db8::1")).to_string(), "2001:db8::/64");
    }
}
