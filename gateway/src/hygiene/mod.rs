//! Stage 2, request hygiene (`early_request_filter`, before routing): the
//! request id ([`request_id`]), the `gateway.downstream` policy compiled
//! per generation: size limits (414/431) and HTTP/1.x session settings
//! ([`downstream`]), RFC 9112 request-target rules ([`request_target`])
//! and path normalisation ([`normalize`]), so every later stage and the
//! upstream see one canonical request.

pub mod downstream;
pub mod normalize;
pub mod request_id;
pub mod request_target;
