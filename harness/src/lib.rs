//! Test harness for the gateway: in-process mock upstreams, a launcher for
//! the real `gateway` binary, and small helpers to drive traffic and read
//! metrics. Everything binds loopback addresses on ephemeral ports.

pub mod binary;
pub mod certs;
pub mod gateway;
pub mod grpc;
pub mod jwt;
pub mod metrics;
pub mod scenario;
pub mod traffic;
pub mod upstream;
pub mod wait;
pub mod websocket;

pub use gateway::{GatewayProcess, Template};
pub use upstream::{Behaviour, MockUpstream};
