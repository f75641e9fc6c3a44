//! The client's IP address: the socket peer, or the nearest untrusted hop of
//! `X-Forwarded-For` when the peer is a trusted proxy.
//!
//! `X-Forwarded-For` is only believed when the TCP peer is in [`TrustedProxies`] (loopback by
//! default: a reverse proxy on the same host). The header is then read right to left, skipping
//! hops that are trusted proxies themselves; the first untrusted address is the client. An entry
//! that is not an IP address stops the walk, and the last address known good (the hop that
//! appended the bad entry) is used, so a client cannot inject an address past a proxy.
//!
//! This module never logs: the address it returns only feeds the visitor id hash (and geo
//! lookup) and is never stored.

use std::net::IpAddr;
use std::str::FromStr;

/// A configured proxy address or network could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid trusted proxy {value:?}: expected an IP address or CIDR like 10.0.0.0/8")]
pub struct InvalidCidr {
    pub value: String,
}

/// An IP network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpCidr {
    network: IpAddr,
    prefix_len: u8,
}

impl IpCidr {
    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_matches(
                u128::from(u32::from(net)) << 96,
                u128::from(u32::from(ip)) << 96,
                self.prefix_len,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_matches(u128::from(net), u128::from(ip), self.prefix_len)
            }
            _ => false,
        }
    }
}

fn prefix_matches(network: u128, ip: u128, prefix_len: u8) -> bool {
    if prefix_len == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - u32::from(prefix_len));
    network & mask == ip & mask
}

impl FromStr for IpCidr {
    type Err = InvalidCidr;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidCidr {
            value: value.to_owned(),
        };
        let trimmed = value.trim();
        let (address, prefix) = match trimmed.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (trimmed, None),
        };
        let network = IpAddr::from_str(address)
            .map_err(|_| invalid())?
            .to_canonical();
        let max_len = if network.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix {
            None => max_len,
            Some(prefix) => prefix.parse::<u8>().map_err(|_| invalid())?,
        };
        if prefix_len > max_len {
            return Err(invalid());
        }
        Ok(Self {
            network,
            prefix_len,
        })
    }
}

/// The proxies whose `X-Forwarded-For` header is believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpCidr>,
}

impl Default for TrustedProxies {
    /// Loopback only (`127.0.0.0/8` and `::1`): a reverse proxy on the same host.
    fn default() -> Self {
        Self {
            networks: vec![
                IpCidr {
                    network: IpAddr::from([127, 0, 0, 0]),
                    prefix_len: 8,
                },
                IpCidr {
                    network: IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
                    prefix_len: 128,
                },
            ],
        }
    }
}

impl TrustedProxies {
    /// Trusts nobody: `X-Forwarded-For` is always ignored.
    pub fn none() -> Self {
        Self {
            networks: Vec::new(),
        }
    }

    /// Parses a list of addresses and CIDRs (`["127.0.0.1", "10.0.0.0/8", "fd00::/8"]`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, InvalidCidr> {
        let networks = entries
            .iter()
            .map(|entry| entry.as_ref().parse())
            .collect::<Result<Vec<IpCidr>, _>>()?;
        Ok(Self { networks })
    }

    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|network| network.contains(ip))
    }

    /// The client address for a request from `peer` with the given `X-Forwarded-For` values
    /// (all header lines, in order).
    pub fn client_ip<'h, I>(&self, peer: IpAddr, forwarded_for: I) -> IpAddr
    where
        I: IntoIterator<Item = &'h str>,
        I::IntoIter: DoubleEndedIterator,
    {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let mut client = peer;
        for line in forwarded_for.into_iter().rev() {
            for hop in line.rsplit(',') {
                let Some(ip) = parse_hop(hop) else {
                    return client;
                };
                client = ip;
                if !self.is_trusted(ip) {
                    return ip;
                }
            }
        }
        client
    }
}

/// `s.parse::<IpAddr>()`, with a short path for dotted-quad IPv4 (std's generic parser cost
/// ~1.8% of an import's time). The short path takes only what std takes (four decimal octets
/// of 1–3 digits, no leading zero, at most 255) and gives the same address; anything else goes
/// to std.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let bytes = s.as_bytes();
    if bytes.len() <= 15 {
        let mut octets = [0u8; 4];
        let mut part = 0;
        let mut value: u32 = 0;
        let mut digits = 0;
        let mut ok = true;
        for &b in bytes {
            match b {
                b'0'..=b'9' => {
                    if digits == 1 && value == 0 {
                        ok = false; // leading zero
                        break;
                    }
                    value = value * 10 + u32::from(b - b'0');
                    digits += 1;
                    if digits > 3 || value > 255 {
                        ok = false;
                        break;
                    }
                }
                b'.' if digits > 0 && part < 3 => {
                    octets[part] = value as u8;
                    part += 1;
                    value = 0;
                    digits = 0;
                }
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && part == 3 && digits > 0 {
            octets[3] = value as u8;
            return Some(IpAddr::V4(std::net::Ipv4Addr::from(octets)));
        }
    }
    s.parse::<IpAddr>().ok()
}

/// Parses one `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = hop.strip_prefix('[') {
        let (address, _) = rest.split_once(']')?;
        return address.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    }
    let (address, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    address.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn parse_ip_is_std_parse(
            octets in proptest::collection::vec("[0-9]{0,4}", 1..6),
            sep in "[.:]",
            noise in "[0-9a-f.:x ]{0,16}",
        ) {
            let dotted = octets.join(&sep);
            for s in [dotted.as_str(), noise.as_str()] {
                prop_assert_eq!(parse_ip(s), s.parse::<IpAddr>().ok(), "{:?}", s);
            }
        }
    }

    #[test]
    fn parse_ip_takes_what_std_takes() {
        for s in [
            "0.0.0.0",
            "10.0.9.106",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.",
            ".1.2.3",
            "1..2.3",
            "1.2.3.4.5",
            "1000.1.1.1",
            "",
            "::1",
            "2001:db8::1",
            "1.2.3.4 ",
            "0.00.0.0",
            "100.200.250.199",
        ] {
            assert_eq!(parse_ip(s), s.parse::<IpAddr>().ok(), "{s:?}");
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_ignores_header() {
        let trusted = TrustedProxies::default();
        assert_eq!(
            trusted.client_ip(ip("203.0.113.9"), ["1.2.3.4"]),
            ip("203.0.113.9")
        );
        let none = TrustedProxies::none();
        assert_eq!(
            none.client_ip(ip("127.0.0.1"), ["1.2.3.4"]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn loopback_proxy_is_trusted_by_default() {
        let trusted = TrustedProxies::default();
        assert_eq!(
            trusted.client_ip(ip("127.0.0.1"), ["198.51.100.7"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            trusted.client_ip(ip("::1"), ["2001:db8::5"]),
            ip("2001:db8::5")
        );
        assert_eq!(
            trusted.client_ip(ip("::ffff:127.0.0.1"), ["198.51.100.7"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            trusted.client_ip(ip("127.0.0.1"), std::iter::empty()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn rightmost_untrusted_hop_wins() {
        let trusted = TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8"]).unwrap();
        // the client forged the first entry; the proxies appended the real one
        let header = "6.6.6.6, 198.51.100.7, 10.1.2.3";
        assert_eq!(
            trusted.client_ip(ip("10.0.0.1"), [header]),
            ip("198.51.100.7")
        );
        // several header lines are one list
        assert_eq!(
            trusted.client_ip(ip("10.0.0.1"), ["6.6.6.6", "198.51.100.7:5000"]),
            ip("198.51.100.7")
        );
        // all hops trusted: the leftmost is the client
        assert_eq!(
            trusted.client_ip(ip("10.0.0.1"), ["10.9.9.9, 10.1.1.1"]),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn garbage_entry_stops_the_walk() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        assert_eq!(
            trusted.client_ip(ip("10.0.0.1"), ["1.2.3.4, unknown"]),
            ip("10.0.0.1")
        );
        assert_eq!(
            trusted.client_ip(ip("10.0.0.1"), ["nonsense, 10.2.2.2"]),
            ip("10.2.2.2")
        );
    }

    #[test]
    fn hop_formats() {
        assert_eq!(parse_hop(" [2001:db8::1]:443 "), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("1.2.3.4:80"), Some(ip("1.2.3.4")));
        assert_eq!(parse_hop("1.2.3.4:99999"), None);
        assert_eq!(parse_hop("_hidden"), None);
    }

    #[test]
    fn cidr_parsing_and_matching() {
        let net: IpCidr = "192.168.0.0/16".parse().unwrap();
        assert!(net.contains(ip("192.168.44.1")));
        assert!(net.contains(ip("::ffff:192.168.1.1")));
        assert!(!net.contains(ip("192.169.0.1")));
        assert!(!net.contains(ip("2001:db8::1")));
        let v6: IpCidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12:3456::1")));
        assert!(!v6.contains(ip("fe80::1")));
        let all: IpCidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert!("10.0.0.0/33".parse::<IpCidr>().is_err());
        assert!("10.0.0/8".parse::<IpCidr>().is_err());
        assert!(TrustedProxies::parse(&["10.0.0.0/8", "bad"]).is_err());
    }
}
