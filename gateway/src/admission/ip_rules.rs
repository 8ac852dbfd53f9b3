//! IP allow/deny lists (`gateway.ip`, a route's `ip`): deny wins over allow;
//! an allow list refuses every client outside it.

use crate::admission::netlist::NetList;
use crate::config::security::IpRulesConfig;
use std::net::IpAddr;

/// Compiled allow and deny lists.
#[derive(Debug, Clone)]
pub struct IpRules {
    allow: Option<NetList>,
    deny: NetList,
}

impl IpRules {
    /// Compiles the lists; `Err` is (key under the rules, message).
    pub fn new(cfg: &IpRulesConfig) -> Result<Self, (String, String)> {
        let allow = match &cfg.allow {
            Some(nets) => Some(NetList::parse(nets).map_err(|(i, m)| (format!("allow[{i}]"), m))?),
            None => None,
        };
        let deny = NetList::parse(&cfg.deny).map_err(|(i, m)| (format!("deny[{i}]"), m))?;
        Ok(IpRules { allow, deny })
    }

    /// Whether `client` may pass. A request without a known client address
    /// passes only when there is no allow list.
    pub fn admits(&self, client: Option<IpAddr>) -> bool {
        match client {
            Some(ip) => {
                !self.deny.contains(ip) && self.allow.as_ref().is_none_or(|a| a.contains(ip))
            }
            None => self.allow.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: Option<&[&str]>, deny: &[&str]) -> IpRules {
        let s = |l: &[&str]| l.iter().map(|x| x.to_string()).collect();
        IpRules::new(&IpRulesConfig {
            allow: allow.map(s),
            deny: s(deny),
        })
        .unwrap()
    }

    #[test]
    fn deny_wins_and_allow_lists_refuse_the_rest() {
        let r = rules(Some(&["10.0.0.0/8", "::1/128"]), &["10.9.0.0/16"]);
        assert!(r.admits(Some("10.1.1.1".parse().unwrap())));
        assert!(r.admits(Some("::1".parse().unwrap())));
        assert!(!r.admits(Some("10.9.1.1".parse().unwrap())));
        assert!(!r.admits(Some("127.0.0.1".parse().unwrap())));
        assert!(!r.admits(None));
        let deny_only = rules(None, &["2001:db8::/32"]);
        assert!(!deny_only.admits(Some("2001:db8::9".parse().unwrap())));
        assert!(deny_only.admits(Some("127.0.0.1".parse().unwrap())));
        assert!(deny_only.admits(None));
    }
}
