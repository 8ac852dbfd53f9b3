//! The traffic driver speaks HTTPS, verifying the server with the test CA
//! and presenting the test client certificate when asked.

use harness::certs::TestCerts;
use harness::traffic::{self, ClientTls, TrafficSpec};
use harness::upstream::{Fixed, Mtls, CLIENT_CN_HEADER};
use harness::MockUpstream;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread")]
async fn https_traffic_with_and_without_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::generate(dir.path()).unwrap();
    let mock = MockUpstream::start("secure", Mtls::new(&certs, Arc::new(Fixed::ok("secret"))))
        .await
        .unwrap();
    let base = format!("https://localhost:{}", mock.addr().port());

    let mut spec = TrafficSpec::get(&base, "/", 5);
    spec.tls = Some(ClientTls {
        ca: certs.ca().to_path_buf(),
        identity: Some((
            certs.client_cert().to_path_buf(),
            certs.client_key().to_path_buf(),
        )),
        resolve: None,
    });
    let with_cert = traffic::run(&spec).await.unwrap();
    assert_eq!(
        with_cert.statuses().get(&200),
        Some(&5),
        "{}",
        with_cert.describe()
    );
    assert!(with_cert
        .records
        .iter()
        .all(|r| r.header(CLIENT_CN_HEADER) == Some("gateway-client")));

    spec.tls = Some(ClientTls {
        ca: certs.ca().to_path_buf(),
        identity: None,
        resolve: None,
    });
    let without_cert = traffic::run(&spec).await.unwrap();
    assert_eq!(
        without_cert.unsuccessful(),
        5,
        "{}",
        without_cert.describe()
    );

    spec.tls = Some(ClientTls {
        ca: certs.other_ca().to_path_buf(),
        identity: Some((
            certs.client_cert().to_path_buf(),
            certs.client_key().to_path_buf(),
        )),
        resolve: None,
    });
    let wrong_ca = traffic::run(&spec).await.unwrap();
    assert_eq!(
        wrong_ca.unsuccessful(),
        5,
        "the server's certificate is not trusted: {}",
        wrong_ca.describe()
    );
    assert_eq!(
        mock.hits(),
        5,
        "only the mutually authenticated requests reached the mock"
    );
}
