//! Scalar config values parsed from human strings: durations, rates, socket
//! addresses (IP or Unix socket) and hash keys. Each explains what it expected when parsing fails.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// A value that parses from a string and can describe what it expects.
pub(super) trait HumanValue: Sized {
    /// Shown in errors as "expected {EXPECTING}".
    const EXPECTING: &'static str;
    /// Parses the string form; the error names the offending input.
    fn parse_human(s: &str) -> Result<Self, String>;
}

struct HumanVisitor<T>(PhantomData<T>);

impl<T: HumanValue> Visitor<'_> for HumanVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::parse_human(v).map_err(|msg| E::custom(format!("{msg}; expected {}", T::EXPECTING)))
    }
}

pub(super) fn deserialize_human<'de, D: Deserializer<'de>, T: HumanValue>(
    d: D,
) -> Result<T, D::Error> {
    d.deserialize_str(HumanVisitor::<T>(PhantomData))
}

macro_rules! human_serde {
    ($ty:ty) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_human(d)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}
pub(super) use human_serde;

/// A duration written as `500ms`, `2s`, `1m` or `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanValue for HumanDuration {
    const EXPECTING: &'static str = "a duration such as `500ms`, `2s` or `1m`";
    fn parse_human(s: &str) -> Result<Self, String> {
        humantime::parse_duration(s.trim())
            .map(HumanDuration)
            .map_err(|e| format!("`{s}` is not a duration ({e})"))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}
human_serde!(HumanDuration);

/// A rate written as `10/s`, `600/min` or `5000/h`: `count` events per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Events allowed per period.
    pub count: u64,
    /// The period.
    pub per: Duration,
}

impl Rate {
    /// Events per second as a float.
    pub fn per_second(&self) -> f64 {
        self.count as f64 / self.per.as_secs_f64()
    }
}

impl HumanValue for Rate {
    const EXPECTING: &'static str = "a rate such as `10/s`, `600/min` or `5000/h`";
    fn parse_human(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a rate");
        let (count, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let count: u64 = count.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(format!("`{s}` allows nothing (count must be at least 1)"));
        }
        Ok(Rate { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.count)
    }
}
human_serde!(Rate);

/// A size in bytes written as an integer (`65536`) or with a unit (`64KiB`,
/// `1MiB`, `2MB`): binary units are powers of 1024, decimal ones of 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The size as `usize` (saturating on 32-bit targets).
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl HumanValue for ByteSize {
    const EXPECTING: &'static str = "a size such as `65536`, `64KiB` or `1MiB`";
    fn parse_human(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Ok(n) = t.parse::<u64>() {
            return Ok(ByteSize(n));
        }
        // bytesize accepts fractions and spaces (`1.5 MiB`) and both unit families.
        t.parse::<bytesize::ByteSize>()
            .map(|b| ByteSize(b.as_u64()))
            .map_err(|_| format!("`{s}` is not a size"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(ByteSize::EXPECTING)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse_human(v)
                    .map_err(|m| E::custom(format!("{m}; expected {}", ByteSize::EXPECTING)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v).map(ByteSize).map_err(|_| {
                    E::custom(format!(
                        "`{v}` is negative; expected {}",
                        ByteSize::EXPECTING
                    ))
                })
            }
        }
        d.deserialize_any(SizeVisitor)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// A socket address (`127.0.0.1:8080`, `[::1]:8080`). Host names are refused:
/// resolving them would block the proxy's threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub SocketAddr);

impl HumanValue for Address {
    const EXPECTING: &'static str = "a socket address such as `127.0.0.1:8080` or `[::1]:8080`";
    fn parse_human(s: &str) -> Result<Self, String> {
        SocketAddr::from_str(s.trim())
            .map(Address)
            .map_err(|_| format!("`{s}` is not an IP:port socket address"))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.fmt(f)
    }
}
human_serde!(Address);

/// Where an upstream endpoint listens: an IP socket address
/// (`127.0.0.1:8080`, `[::1]:8080`) or a Unix socket (`unix:/run/app.sock`,
/// an absolute path).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EndpointAddress {
    /// An IP address and port.
    Inet(SocketAddr),
    /// The absolute path of a Unix domain socket.
    Unix(PathBuf),
}

/// Longest Unix socket path the kernel accepts (`sun_path` less its NUL).
const MAX_UNIX_PATH: usize = 107;

impl HumanValue for EndpointAddress {
    const EXPECTING: &'static str =
        "a socket address such as `127.0.0.1:8080` or `[::1]:8080`, or `unix:` and an absolute path such as `unix:/run/app.sock`";
    fn parse_human(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let Some(path) = s.strip_prefix("unix:") else {
            return Address::parse_human(s).map(|a| EndpointAddress::Inet(a.0));
        };
        if !path.starts_with('/') {
            return Err(format!("`{s}` is a relative path"));
        }
        if path.len() > MAX_UNIX_PATH {
            return Err(format!(
                "`{s}` is longer than the {MAX_UNIX_PATH} bytes a Unix socket path may have"
            ));
        }
        Ok(EndpointAddress::Unix(PathBuf::from(path)))
    }
}

impl fmt::Display for EndpointAddress {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            EndpointAddress::Inet(addr) => addr.fmt(f),
            EndpointAddress::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}
human_serde!(EndpointAddress);

/// What a consistent-hash balancer hashes to pick an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HashKey {
    /// The client's IP address.
    ClientIp,
    /// The request path (without the query).
    Path,
    /// The value of a request header (lower-cased name).
    Header(String),
    /// The value of a request cookie.
    Cookie(String),
}

impl HumanValue for HashKey {
    const EXPECTING: &'static str = "`client_ip`, `path`, `header:NAME` or `cookie:NAME`";
    fn parse_human(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let named = |name: &str, what: &str| {
            if name.is_empty() {
                Err(format!("`{s}` names no {what}"))
            } else {
                Ok(name.to_string())
            }
        };
        match s.split_once(':') {
            None if s == "client_ip" => Ok(HashKey::ClientIp),
            None if s == "path" => Ok(HashKey::Path),
            Some(("header", name)) => {
                let name = named(name, "header")?.to_ascii_lowercase();
                http::HeaderName::from_str(&name)
                    .map_err(|_| format!("`{name}` is not a valid header name"))?;
                Ok(HashKey::Header(name))
            }
            Some(("cookie", name)) => Ok(HashKey::Cookie(named(name, "cookie")?)),
            _ => Err(format!("`{s}` is not a hash key")),
        }
    }
}

impl fmt::Display for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            HashKey::ClientIp => f.write_str("client_ip"),
            HashKey::Path => f.write_str("path"),
            HashKey::Header(h) => write!(f, "header:{h}"),
            HashKey::Cookie(c) => write!(f, "cookie:{c}"),
        }
    }
}
human_serde!(HashKey);

/// A condition under which a failed upstream attempt is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryOn {
    /// The connection could not be established (refused, timed out, reset
    /// during connect): the request was never sent, so any method is safe.
    ConnectFailure,
    /// The upstream timed out after the request was sent (idempotent only).
    Timeout,
    /// The connection failed after the request was sent (idempotent only).
    Reset,
    /// The upstream answered with this status (idempotent only).
    Status(u16),
}

impl HumanValue for RetryOn {
    const EXPECTING: &'static str =
        "`connect_failure`, `timeout`, `reset` or an HTTP status code such as 503";
    fn parse_human(s: &str) -> Result<Self, String> {
        match s.trim() {
            "connect_failure" => Ok(RetryOn::ConnectFailure),
            "timeout" => Ok(RetryOn::Timeout),
            "reset" => Ok(RetryOn::Reset),
            other => match other.parse::<u16>() {
                Ok(code) if (100..=599).contains(&code) => Ok(RetryOn::Status(code)),
                _ => Err(format!("`{s}` is not a retry condition")),
            },
        }
    }
}

impl fmt::Display for RetryOn {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            RetryOn::ConnectFailure => f.write_str("connect_failure"),
            RetryOn::Timeout => f.write_str("timeout"),
            RetryOn::Reset => f.write_str("reset"),
            RetryOn::Status(code) => write!(f, "{code}"),
        }
    }
}

impl<'de> Deserialize<'de> for RetryOn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RetryOnVisitor;
        impl Visitor<'_> for RetryOnVisitor {
            type Value = RetryOn;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(RetryOn::EXPECTING)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RetryOn, E> {
                RetryOn::parse_human(v)
                    .map_err(|m| E::custom(format!("{m}; expected {}", RetryOn::EXPECTING)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RetryOn, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RetryOn, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(RetryOnVisitor)
    }
}

impl Serialize for RetryOn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RetryOn::Status(code) => s.serialize_u16(*code),
            other => s.collect_str(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_addresses_are_ip_or_absolute_unix_paths() {
        let parse = EndpointAddress::parse_human;
        assert_eq!(
            parse("127.0.0.1:80").unwrap(),
            EndpointAddress::Inet("127.0.0.1:80".parse().unwrap())
        );
        let uds = parse("unix:/run/app.sock").unwrap();
        assert_eq!(uds, EndpointAddress::Unix("/run/app.sock".into()));
        assert_eq!(uds.to_string(), "unix:/run/app.sock");
        assert!(parse("unix:run/app.sock").unwrap_err().contains("relative"));
        assert!(parse("unix:").is_err());
        assert!(parse(&format!("unix:/{}", "a".repeat(200))).is_err());
        assert!(parse("localhost:80").is_err());
    }

    #[test]
    fn durations_and_rates_parse_from_human_strings() {
        assert_eq!(
            HumanDuration::parse_human("500ms").unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(
            HumanDuration::parse_human("2s").unwrap().0,
            Duration::from_secs(2)
        );
        assert!(HumanDuration::parse_human("fast").is_err());
        let r = Rate::parse_human("600/min").unwrap();
        assert_eq!((r.count, r.per), (600, Duration::from_secs(60)));
        assert_eq!(r.per_second(), 10.0);
        assert!(Rate::parse_human("10 per second").is_err());
        assert!(Rate::parse_human("0/s").is_err());
    }

    #[test]
    fn hash_keys_and_retry_conditions_parse() {
        assert_eq!(
            HashKey::parse_human("header:X-User").unwrap(),
            HashKey::Header("x-user".into())
        );
        assert_eq!(
            HashKey::parse_human("cookie:sid").unwrap(),
            HashKey::Cookie("sid".into())
        );
        assert!(HashKey::parse_human("header:").is_err());
        assert!(HashKey::parse_human("query:x").is_err());
        assert_eq!(RetryOn::parse_human("503").unwrap(), RetryOn::Status(503));
        assert!(RetryOn::parse_human("700").is_err());
    }

    #[test]
    fn sizes_parse_from_integers_and_units() {
        assert_eq!(ByteSize::parse_human("65536").unwrap().0, 65536);
        assert_eq!(ByteSize::parse_human("64KiB").unwrap().0, 64 * 1024);
        assert_eq!(ByteSize::parse_human("1 MiB").unwrap().0, 1024 * 1024);
        assert_eq!(ByteSize::parse_human("2MB").unwrap().0, 2_000_000);
        assert!(ByteSize::parse_human("lots").is_err());
        assert!(ByteSize::parse_human("-1").is_err());
        let from_yaml: ByteSize = serde_yaml::from_str("8192").unwrap();
        assert_eq!(from_yaml.0, 8192);
        let from_yaml: ByteSize = serde_yaml::from_str("\"8KiB\"").unwrap();
        assert_eq!(from_yaml.0, 8192);
        assert!(serde_yaml::from_str::<ByteSize>("-5").is_err());
    }
}
