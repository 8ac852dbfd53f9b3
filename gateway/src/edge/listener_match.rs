//! Which configured listener a connection arrived on, from its local
//! address.

use std::net::SocketAddr;

/// The item whose `address` is `local` exactly, else one listening on the
/// unspecified address (`0.0.0.0`, `[::]`) of the same family and port.
pub(crate) fn find_listener<T>(
    items: &[T],
    local: SocketAddr,
    address: impl Fn(&T) -> SocketAddr,
) -> Option<&T> {
    items.iter().find(|i| address(i) == local).or_else(|| {
        items.iter().find(|i| {
            let a = address(i);
            a.ip().is_unspecified() && a.port() == local.port() && a.is_ipv4() == local.is_ipv4()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_address_wins_over_the_wildcard_of_the_same_port() {
        let listeners: Vec<SocketAddr> = ["0.0.0.0:8443", "127.0.0.1:8443", "[::]:8443"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let found =
            |local: &str| find_listener(&listeners, local.parse().unwrap(), |a| *a).copied();
        assert_eq!(found("127.0.0.1:8443"), Some(listeners[1]));
        assert_eq!(found("10.1.2.3:8443"), Some(listeners[0]));
        assert_eq!(found("[::1]:8443"), Some(listeners[2]));
        assert_eq!(found("127.0.0.1:9000"), None);
    }
}
