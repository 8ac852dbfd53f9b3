//! Request admission by who the client is: route authentication
//! (`auth`). Each concern is one submodule; `proxy.rs` only calls them.

pub mod auth;
