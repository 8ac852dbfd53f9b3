//! `mtls`: TLS that requires a client certificate signed by the test CA.
