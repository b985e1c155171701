//! The address of the client behind a request, for the admin login limit
//! and for log lines: the connection's peer, unless the peer is one of
//! `[server] trusted_proxies` — then the rightmost `X-Forwarded-For`
//! address that is not itself a trusted proxy. A proxy appends the address
//! it received the request from, so everything right of the client's own
//! entry was written by trusted proxies and everything left of it by the
//! client, who may write anything; the header of an untrusted peer is
//! never read. It decides nothing else about a request.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::http::HeaderMap;
use config::IpRange;

/// The header proxies put the addresses they forward for in.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// One `X-Forwarded-For` entry: an address, with a port or in brackets as
/// some proxies write it (`203.0.113.7:5000`, `[2001:db8::1]:443`).
fn entry(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            text.strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse().ok())
        })
}

/// The client's address: `peer` (the connection's; unknown peers all count
/// as `0.0.0.0`) when it is not a trusted proxy; otherwise, walking the
/// `X-Forwarded-For` entries from the right (several header lines read as
/// one list, in order), the first that is not a trusted proxy. When every
/// entry is trusted, the leftmost; when an entry does not parse, the last
/// address reached before it, since nothing left of it can be vouched for.
pub fn client_addr(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpRange]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|range| range.contains(ip));
    let peer = peer
        .map(|ip| ip.to_canonical())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if !is_trusted(peer) {
        return peer;
    }
    let mut closest = peer;
    for line in headers.get_all(FORWARDED_FOR).iter().rev() {
        let Ok(line) = line.to_str() else {
            return closest;
        };
        for text in line.rsplit(',') {
            let Some(ip) = entry(text).map(|ip| ip.to_canonical()) else {
                return closest;
            };
            if !is_trusted(ip) {
                return ip;
            }
            closest = ip;
        }
    }
    closest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ranges(list: &[&str]) -> Vec<IpRange> {
        list.iter()
            .map(|s| s.parse().unwrap_or_else(|e| panic!("{s}: {e}")))
            .collect()
    }

    /// The client of a request from `peer` with these `X-Forwarded-For` lines.
    fn client(peer: &str, forwarded: &[&str], trusted: &[&str]) -> IpAddr {
        let mut headers = HeaderMap::new();
        for line in forwarded {
            headers.append(
                FORWARDED_FOR,
                line.parse().unwrap_or_else(|e| panic!("{line}: {e}")),
            );
        }
        client_addr(Some(ip(peer)), &headers, &ranges(trusted))
    }

    const LOCAL_PROXY: &[&str] = &["127.0.0.1", "::1"];

    #[test]
    fn without_trusted_proxies_the_header_is_never_read() {
        assert_eq!(
            client("198.51.100.4", &["203.0.113.7"], &[]),
            ip("198.51.100.4")
        );
        assert_eq!(client("127.0.0.1", &["203.0.113.7"], &[]), ip("127.0.0.1"));
    }

    #[test]
    fn a_peer_that_is_not_a_trusted_proxy_cannot_name_another_client() {
        // A client connecting directly forges the header: it is ignored.
        assert_eq!(
            client("198.51.100.4", &["203.0.113.7"], LOCAL_PROXY),
            ip("198.51.100.4")
        );
        assert_eq!(
            client("198.51.100.4", &["203.0.113.7, 127.0.0.1"], LOCAL_PROXY),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_address_it_appended_is_the_client() {
        assert_eq!(
            client("127.0.0.1", &["203.0.113.7"], LOCAL_PROXY),
            ip("203.0.113.7")
        );
        assert_eq!(
            client("::1", &["2001:db8::7"], LOCAL_PROXY),
            ip("2001:db8::7")
        );
        // A trusted peer without the header is the client itself.
        assert_eq!(client("127.0.0.1", &[], LOCAL_PROXY), ip("127.0.0.1"));
    }

    #[test]
    fn addresses_a_client_wrote_left_of_its_own_are_ignored() {
        // The client sent `X-Forwarded-For: 192.0.2.99`, the proxy appended
        // the address it saw: the rightmost untrusted entry wins.
        assert_eq!(
            client("127.0.0.1", &["192.0.2.99, 203.0.113.7"], LOCAL_PROXY),
            ip("203.0.113.7")
        );
        // Even when the forged entry claims to be a trusted proxy.
        assert_eq!(
            client("127.0.0.1", &["127.0.0.1, 203.0.113.7"], LOCAL_PROXY),
            ip("203.0.113.7")
        );
        // Or sends a line of its own before the proxy's.
        assert_eq!(
            client("127.0.0.1", &["192.0.2.99", "203.0.113.7"], LOCAL_PROXY),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_entry() {
        let trusted = &["10.0.0.0/8", "127.0.0.1"];
        assert_eq!(
            client("127.0.0.1", &["192.0.2.99, 203.0.113.7, 10.1.0.5"], trusted),
            ip("203.0.113.7")
        );
        // Every entry trusted (a client inside the proxies' network): the leftmost.
        assert_eq!(
            client("127.0.0.1", &["10.0.0.3, 10.1.0.5"], trusted),
            ip("10.0.0.3")
        );
    }

    #[test]
    fn an_entry_that_does_not_parse_stops_the_walk() {
        // Garbage right of every untrusted entry: the last address reached.
        assert_eq!(
            client("127.0.0.1", &["203.0.113.7, unknown"], LOCAL_PROXY),
            ip("127.0.0.1")
        );
        assert_eq!(
            client("127.0.0.1", &["203.0.113.7,,127.0.0.1"], LOCAL_PROXY),
            ip("127.0.0.1")
        );
        // Garbage a client wrote left of its own entry changes nothing.
        assert_eq!(
            client("127.0.0.1", &["<script>, 203.0.113.7"], LOCAL_PROXY),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn entries_with_ports_brackets_or_mapped_addresses_are_read() {
        assert_eq!(
            client("127.0.0.1", &["203.0.113.7:5000"], LOCAL_PROXY),
            ip("203.0.113.7")
        );
        assert_eq!(
            client("127.0.0.1", &["[2001:db8::1]:443"], LOCAL_PROXY),
            ip("2001:db8::1")
        );
        assert_eq!(
            client("127.0.0.1", &["[2001:db8::1]"], LOCAL_PROXY),
            ip("2001:db8::1")
        );
        // A dual-stack listener sees IPv4 peers as IPv4-mapped IPv6.
        assert_eq!(
            client("::ffff:127.0.0.1", &["::ffff:203.0.113.7"], LOCAL_PROXY),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn unknown_peers_share_one_address_and_are_not_believed() {
        let mut headers = HeaderMap::new();
        headers.insert(FORWARDED_FOR, "203.0.113.7".parse().expect("header"));
        assert_eq!(
            client_addr(None, &headers, &ranges(LOCAL_PROXY)),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        );
    }
}
