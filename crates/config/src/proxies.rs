//! `[server] trusted_proxies`: the addresses of the reverse proxies whose
//! `X-Forwarded-For` the daemon believes, written as single IP addresses
//! (`"127.0.0.1"`, `"::1"`) or CIDR ranges (`"10.0.0.0/8"`,
//! `"fd00::/8"`). Owns parsing, printing and membership of one range; how
//! a client address is taken from a request is the server's business.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IP address or a CIDR range of them (a single address is a range of
/// one: `/32` or `/128`). IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`)
/// count as the IPv4 address they carry, on either side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

/// Why a trusted proxy entry did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not an IP address or CIDR range: {why}; write an address such as \"127.0.0.1\" or \"::1\", or a range such as \"10.0.0.0/8\""
)]
pub struct IpRangeError {
    text: String,
    why: String,
}

/// The number of bits of `ip`'s family.
fn bits(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `ip` as a 128-bit number left-aligned on its family's width, so that a
/// prefix of `n` bits is the top `n` bits for either family.
fn aligned(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The top `prefix` bits set.
fn mask(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p)),
    }
}

impl IpRange {
    /// The range holding only `ip`.
    pub fn single(ip: IpAddr) -> Self {
        let network = ip.to_canonical();
        Self {
            network,
            prefix: bits(network),
        }
    }

    /// Whether `ip` is in the range (IPv4-mapped IPv6 addresses as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        bits(ip) == bits(self.network)
            && (aligned(ip) ^ aligned(self.network)) & mask(self.prefix) == 0
    }
}

impl FromStr for IpRange {
    type Err = IpRangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |why: String| IpRangeError {
            text: text.chars().take(60).collect(),
            why,
        };
        let s = text.trim();
        let (address, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = address
            .parse()
            .map_err(|_| fail(format!("`{address}` is not an IP address")))?;
        let ip = ip.to_canonical();
        let width = bits(ip);
        let Some(prefix) = prefix else {
            return Ok(Self::single(ip));
        };
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= width).ok_or_else(|| {
            fail(format!(
                "the prefix length `{prefix}` is not a whole number from 0 to {width}"
            ))
        })?;
        let range = Self {
            network: ip,
            prefix,
        };
        if aligned(ip) & !mask(prefix) != 0 {
            let network = match ip {
                IpAddr::V4(_) => {
                    IpAddr::V4(Ipv4Addr::from(((aligned(ip) & mask(prefix)) >> 96) as u32))
                }
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(aligned(ip) & mask(prefix))),
            };
            return Err(fail(format!(
                "it has host bits set after the first {prefix}; the range is written {network}/{prefix}"
            )));
        }
        Ok(range)
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix == bits(self.network) {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix)
        }
    }
}

impl<'de> Deserialize<'de> for IpRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for IpRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Parses a comma-separated list (the environment variable's form); an
/// empty text is the empty list.
pub(crate) fn parse_list(text: &str) -> Result<Vec<IpRange>, IpRangeError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> IpRange {
        s.parse()
            .unwrap_or_else(|e| panic!("{s} should parse: {e}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn addresses_and_ranges_parse_and_print_as_written() {
        for s in [
            "127.0.0.1",
            "::1",
            "10.0.0.0/8",
            "192.168.1.0/24",
            "fd00::/8",
            "0.0.0.0/0",
            "::/0",
        ] {
            assert_eq!(range(s).to_string(), s);
        }
        assert_eq!(range("10.1.2.3/32").to_string(), "10.1.2.3");
        assert_eq!(range(" 127.0.0.1 ").to_string(), "127.0.0.1");
        assert_eq!(range("::ffff:10.0.0.1").to_string(), "10.0.0.1");
    }

    #[test]
    fn membership_follows_the_prefix_and_the_family() {
        let private = range("10.0.0.0/8");
        assert!(private.contains(ip("10.0.0.1")));
        assert!(private.contains(ip("10.255.255.255")));
        assert!(!private.contains(ip("11.0.0.0")));
        assert!(!private.contains(ip("9.255.255.255")));
        assert!(
            private.contains(ip("::ffff:10.1.2.3")),
            "IPv4-mapped IPv6 counts as IPv4"
        );
        assert!(
            !private.contains(ip("a00::1")),
            "an IPv6 address with the same top bits is not in an IPv4 range"
        );
        let one = range("127.0.0.1");
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6 = range("fd00::/8");
        assert!(v6.contains(ip("fd12:3456::1")) && !v6.contains(ip("fe80::1")));
        assert!(range("::/0").contains(ip("2001:db8::1")));
        assert!(!range("::/0").contains(ip("192.0.2.1")));
        assert!(range("0.0.0.0/0").contains(ip("192.0.2.1")));
        assert!(IpRange::single(ip("::1")).contains(ip("::1")));
    }

    #[test]
    fn bad_entries_say_what_to_write() {
        for (bad, why) in [
            ("localhost", "is not an IP address"),
            ("10.0.0.0/33", "from 0 to 32"),
            ("fd00::/129", "from 0 to 128"),
            ("10.0.0.0/x", "not a whole number"),
            ("10.0.0.0/", "not a whole number"),
            ("10.1.2.3/8", "the range is written 10.0.0.0/8"),
            ("fd00::1/8", "the range is written fd00::/8"),
            ("", "is not an IP address"),
        ] {
            let message = bad
                .parse::<IpRange>()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(message.contains(why), "{bad:?}: {message}");
            assert!(message.contains("10.0.0.0/8"), "{bad:?}: {message}");
        }
    }

    #[test]
    fn lists_are_comma_separated() {
        let list = parse_list("127.0.0.1, ::1,10.0.0.0/8,").unwrap_or_default();
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["127.0.0.1", "::1", "10.0.0.0/8"]);
        assert_eq!(parse_list(" ").map(|l| l.len()), Ok(0));
        assert!(parse_list("127.0.0.1, nope").is_err());
    }
}
