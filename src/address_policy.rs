//! Which IP addresses this service may connect to on a caller's behalf: public unicast only,
//! unless allowed (`MEDIA_ALLOW_PRIVATE` for the media preflight, `CALLBACK_ALLOW_PRIVATE` for
//! status events and forwarded replies). Used by `media_preflight/`, `delivery/callbacks.rs`, the
//! send service and the configuration's checks; it depends on nothing of the service's own.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Decides whether an address may be contacted.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// `MEDIA_ALLOW_PRIVATE`: every address is allowed.
    pub allow_private: bool,
    /// Addresses treated as public even though they are not (for tests that need a "public"
    /// server on this machine); empty in the service.
    pub treat_as_public: Vec<IpAddr>,
}

impl AddressPolicy {
    /// Public addresses only, unless `allow_private` (`CALLBACK_ALLOW_PRIVATE`,
    /// `MEDIA_ALLOW_PRIVATE`).
    pub fn public_only_unless(allow_private: bool) -> Self {
        Self {
            allow_private,
            treat_as_public: Vec::new(),
        }
    }

    /// Whether `url` names a host that may be contacted, as far as can be told without DNS: an
    /// address literal must be allowed (names are checked when resolved). Not a URL: no.
    pub fn allows_url(&self, url: &str) -> bool {
        match Url::parse(url) {
            Ok(url) => literal_ip(&url).is_none_or(|ip| self.allows(ip)),
            Err(_) => false,
        }
    }

    /// Whether `ip` may be contacted.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip) || self.treat_as_public.contains(&ip)
    }
}

/// The address of a URL whose host is an IP literal; reqwest does not resolve those, so they
/// are checked before any request (and on every redirect).
pub fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(ip) => Some(ip.into()),
        Host::Ipv6(ip) => Some(ip.into()),
        Host::Domain(_) => None,
    }
}

/// Whether `ip` is a public unicast address: not loopback, private, link-local, CGNAT,
/// multicast, unspecified, broadcast, documentation, benchmarking, reserved, ULA, or an
/// IPv4-mapped / NAT64 / IPv4-compatible IPv6 address of any of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    const BLOCKED: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8),       // "this network", unspecified
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // CGNAT (shared address space)
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link-local (cloud metadata lives here)
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // documentation TEST-NET-1
        ([192, 31, 196, 0], 24), // AS112
        ([192, 52, 193, 0], 24), // AMT
        ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast
        ([192, 168, 0, 0], 16),  // private
        ([192, 175, 48, 0], 24), // direct delegation AS112
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // documentation TEST-NET-2
        ([203, 0, 113, 0], 24),  // documentation TEST-NET-3
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, and 255.255.255.255 broadcast
    ];
    !BLOCKED.iter().any(|(net, prefix)| in_v4(ip, *net, *prefix))
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    (u128::from(ip) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // Addresses that carry an IPv4 address are judged by it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        let [.., a, b, c, d] = ip.octets();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    // Only global unicast (2000::/3) can be public; this leaves out ::, ::1, IPv4-compatible
    // (::/96), ULA (fc00::/7), link-local (fe80::/10), site-local, multicast (ff00::/8), discard.
    if !in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        return false;
    }
    const BLOCKED: &[([u16; 8], u32)] = &[
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), // IETF protocol assignments (Teredo, ORCHID…)
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
        ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), // 6to4: embeds an IPv4 address
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation
    ];
    !BLOCKED.iter().any(|(net, prefix)| in_v6(ip, *net, *prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().unwrap())
    }

    #[test]
    fn non_public_addresses_are_refused() {
        for s in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.9.9.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "2001:db8::1",
            "2001::1",
            "2002:7f00:1::",
            "3fff::1",
        ] {
            assert!(!public(s), "{s} counted as public");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.0.1",
            "172.32.0.1",
            "192.169.0.1",
            "93.184.216.34",
            "2606:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(public(s), "{s} counted as non-public");
        }
    }

    #[test]
    fn policy() {
        let loopback: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(!AddressPolicy::default().allows(loopback));
        assert!(AddressPolicy {
            allow_private: true,
            ..Default::default()
        }
        .allows(loopback));
        let p = AddressPolicy {
            allow_private: false,
            treat_as_public: vec![loopback],
        };
        assert!(p.allows(loopback));
        assert!(!p.allows("127.0.0.1".parse().unwrap()));
    }
}
