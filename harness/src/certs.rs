//! Test certificates generated with rcgen (CA, server, client).
