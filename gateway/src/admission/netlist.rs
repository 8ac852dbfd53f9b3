//! A list of IP networks (v4 and v6) compiled from config strings, with a
//! membership test that allocates nothing.

use crate::config::security::parse_net;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::IpAddr;

/// Networks split by family; an IPv4-mapped IPv6 address is tested as IPv4.
#[derive(Debug, Clone, Default)]
pub struct NetList {
    v4: Vec<Ipv4Net>,
    v6: Vec<Ipv6Net>,
}

impl NetList {
    /// Parses every entry; `Err` carries the index of the bad one and why.
    pub fn parse(nets: &[String]) -> Result<NetList, (usize, String)> {
        let mut list = NetList::default();
        for (i, s) in nets.iter().enumerate() {
            match parse_net(s).map_err(|m| (i, m))? {
                IpNet::V4(n) => list.v4.push(n),
                IpNet::V6(n) => list.v6.push(n),
            }
        }
        Ok(list)
    }

    /// Whether no network is listed.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Whether `ip` is inside one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(a) => self.v4.iter().any(|n| n.contains(&a)),
            IpAddr::V6(a) => self.v6.iter().any(|n| n.contains(&a)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(nets: &[&str]) -> NetList {
        NetList::parse(&nets.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn v4_v6_mapped_and_single_addresses() {
        let l = list(&["10.0.0.0/8", "2001:db8::/32", "192.0.2.7", "10.1.2.3/16"]);
        assert!(l.contains("10.200.1.1".parse().unwrap()));
        assert!(l.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(l.contains("2001:db8:1::5".parse().unwrap()));
        assert!(l.contains("192.0.2.7".parse().unwrap()));
        assert!(!l.contains("192.0.2.8".parse().unwrap()));
        assert!(!l.contains("2001:db9::1".parse().unwrap()));
        assert!(!l.contains("::1".parse().unwrap()));
    }

    #[test]
    fn bad_entries_name_their_index() {
        let bad = NetList::parse(&["::1/128".into(), "10.0.0.0/33".into()]);
        assert_eq!(bad.unwrap_err().0, 1);
        assert!(NetList::parse(&["host.example".into()]).is_err());
    }
}
