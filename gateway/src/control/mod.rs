//! The control plane, beside the request path: the live state and its
//! generations (a validated config compiled into routes and clusters),
//! hot reload (the admin endpoint and the config file watch), the signals
//! that ask for a reload or an access-log reopen (`signals`, `reopen`), the
//! admin listener, the background health-check service, the drain of idle
//! connections at shutdown and the shutdown sequence itself (`shutdown`:
//! readiness, drain delay, exit once drained). No proxy phase calls into it
//! except to load the current generation (`early_request_filter`) and the
//! access log (`logging`).

pub(crate) mod admin;
pub(crate) mod drain;
pub(crate) mod generation;
pub(crate) mod health;
pub(crate) mod lifecycle;
pub(crate) mod reopen;
pub(crate) mod shutdown;
pub(crate) mod signals;
pub(crate) mod state;
pub(crate) mod watch;
