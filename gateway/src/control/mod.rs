//! The control plane, beside the request path: the live state and its
//! generations (a validated config compiled into routes and clusters),
//! hot reload (SIGHUP and the admin endpoint), the admin listener, the
//! background health-check service and the drain of idle connections at
//! shutdown. No proxy phase calls into it except to load the current
//! generation (`early_request_filter`) and the access log (`logging`).

pub(crate) mod admin;
pub(crate) mod drain;
pub(crate) mod generation;
pub(crate) mod health;
pub(crate) mod reload;
pub(crate) mod state;
