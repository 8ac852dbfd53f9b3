//! Test certificates generated with rcgen: a CA, a server certificate, two
//! named server certificates (`a.example.test`, `b.example.test`) and a
//! client certificate signed by it, and an unrelated second CA with a client
//! certificate of its own for wrong-CA cases. Everything is written as PEM files into one directory so gateway
//! configs can point at them, and kept in memory (DER) for building rustls
//! configs in mocks and clients.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::io;
use std::path::{Path, PathBuf};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Common name of the client certificate.
pub const CLIENT_CN: &str = "gateway-client";

/// Common name of the client certificate signed by the unrelated CA.
pub const OTHER_CLIENT_CN: &str = "other-client";

/// Server name (CN and only SAN) of the `a` certificate.
pub const A_NAME: &str = "a.example.test";

/// Server name (CN and only SAN) of the `b` certificate.
pub const B_NAME: &str = "b.example.test";

/// One certificate (or CA) and its key.
struct Pair {
    cert: CertificateDer<'static>,
    key: Vec<u8>,
    cert_path: PathBuf,
    key_path: PathBuf,
}

/// A CA, server and client certificates signed by it, and another CA with
/// a client certificate.
pub struct TestCerts {
    ca: Pair,
    server: Pair,
    client: Pair,
    other_ca: Pair,
    jwt: crate::jwt::JwtKeys,
    a: Pair,
    b: Pair,
    other_client: Pair,
}

fn to_io(e: rcgen::Error) -> io::Error {
    io::Error::other(format!("generating a test certificate: {e}"))
}

fn ca_params(cn: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::new())?;
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

fn leaf_params(
    cn: &str,
    sans: &[&str],
    eku: ExtendedKeyUsagePurpose,
) -> Result<CertificateParams, rcgen::Error> {
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![eku];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// A fresh key and a leaf certificate for it, written as `{file}.pem` and
/// `{file}-key.pem`.
fn signed_leaf<S: rcgen::SigningKey>(
    dir: &Path,
    file: &str,
    cn: &str,
    sans: &[&str],
    eku: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, S>,
) -> io::Result<Pair> {
    let key = KeyPair::generate().map_err(to_io)?;
    let cert = leaf_params(cn, sans, eku)
        .and_then(|p| p.signed_by(&key, issuer))
        .map_err(to_io)?;
    Pair::write(dir, file, cert.der().clone(), cert.pem(), &key)
}

impl Pair {
    fn write(
        dir: &Path,
        name: &str,
        cert: CertificateDer<'static>,
        pem: String,
        key: &KeyPair,
    ) -> io::Result<Pair> {
        let cert_path = dir.join(format!("{name}.pem"));
        let key_path = dir.join(format!("{name}-key.pem"));
        std::fs::write(&cert_path, pem)?;
        std::fs::write(&key_path, key.serialize_pem())?;
        Ok(Pair {
            cert,
            key: key.serialize_der(),
            cert_path,
            key_path,
        })
    }

    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()))
    }
}

impl TestCerts {
    /// Generates fresh certificates and writes them into `dir` as `ca.pem`,
    /// `server.pem`, `server-key.pem`, `client.pem`, `client-key.pem` and
    /// `other-ca.pem` (plus the CAs' keys), and the JWT public key
    /// `jwt-public.pem`.
    ///
    /// The server certificate is valid for `localhost`, `127.0.0.1` and `::1`
    /// (server auth); the client certificate has the common name
    /// [`CLIENT_CN`] (client auth).
    pub fn generate(dir: &Path) -> io::Result<TestCerts> {
        let ca_key = KeyPair::generate().map_err(to_io)?;
        let ca_template = ca_params("gateway test CA").map_err(to_io)?;
        let ca_cert = ca_template.self_signed(&ca_key).map_err(to_io)?;
        let ca = Pair::write(dir, "ca", ca_cert.der().clone(), ca_cert.pem(), &ca_key)?;
        let issuer = Issuer::new(ca_template, &ca_key);

        let server_key = KeyPair::generate().map_err(to_io)?;
        let server_cert = leaf_params(
            "localhost",
            &["localhost", "127.0.0.1", "::1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
        .and_then(|p| p.signed_by(&server_key, &issuer))
        .map_err(to_io)?;
        let server = Pair::write(
            dir,
            "server",
            server_cert.der().clone(),
            server_cert.pem(),
            &server_key,
        )?;

        let client_key = KeyPair::generate().map_err(to_io)?;
        let client_cert = leaf_params(CLIENT_CN, &[], ExtendedKeyUsagePurpose::ClientAuth)
            .and_then(|p| p.signed_by(&client_key, &issuer))
            .map_err(to_io)?;
        let client = Pair::write(
            dir,
            "client",
            client_cert.der().clone(),
            client_cert.pem(),
            &client_key,
        )?;

        let other_key = KeyPair::generate().map_err(to_io)?;
        let other_template = ca_params("unrelated test CA").map_err(to_io)?;
        let other_cert = other_template.self_signed(&other_key).map_err(to_io)?;
        let other_ca = Pair::write(
            dir,
            "other-ca",
            other_cert.der().clone(),
            other_cert.pem(),
            &other_key,
        )?;
        let other_issuer = Issuer::new(other_template, &other_key);

        let server_auth = ExtendedKeyUsagePurpose::ServerAuth;
        let a = signed_leaf(dir, "a", A_NAME, &[A_NAME], server_auth.clone(), &issuer)?;
        let b = signed_leaf(dir, "b", B_NAME, &[B_NAME], server_auth, &issuer)?;
        let other_client = signed_leaf(
            dir,
            "other-client",
            OTHER_CLIENT_CN,
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
            &other_issuer,
        )?;

        Ok(TestCerts {
            ca,
            server,
            client,
            other_ca,
            jwt: crate::jwt::JwtKeys::generate(dir)?,
            a,
            b,
            other_client,
        })
    }

    /// PEM file of the test CA.
    pub fn ca(&self) -> &Path {
        &self.ca.cert_path
    }

    /// PEM file of the server certificate.
    pub fn server_cert(&self) -> &Path {
        &self.server.cert_path
    }

    /// PEM file of the server key (PKCS#8).
    pub fn server_key(&self) -> &Path {
        &self.server.key_path
    }

    /// PEM file of the client certificate.
    pub fn client_cert(&self) -> &Path {
        &self.client.cert_path
    }

    /// PEM file of the client key (PKCS#8).
    pub fn client_key(&self) -> &Path {
        &self.client.key_path
    }

    /// PEM file of the unrelated CA, which signed none of the above.
    pub fn other_ca(&self) -> &Path {
        &self.other_ca.cert_path
    }

    /// The JWT key pair and tokens (`certs.jwt_public`, `jwt.*`).
    pub fn jwt(&self) -> &crate::jwt::JwtKeys {
        &self.jwt
    }

    /// PEM files (certificate, key) of the `a.example.test` server
    /// certificate.
    pub fn a(&self) -> (&Path, &Path) {
        (&self.a.cert_path, &self.a.key_path)
    }

    /// PEM files (certificate, key) of the `b.example.test` server
    /// certificate.
    pub fn b(&self) -> (&Path, &Path) {
        (&self.b.cert_path, &self.b.key_path)
    }

    /// PEM files (certificate, key) of the client certificate signed by the
    /// unrelated CA (common name [`OTHER_CLIENT_CN`]).
    pub fn other_client(&self) -> (&Path, &Path) {
        (&self.other_client.cert_path, &self.other_client.key_path)
    }

    /// `certs.ca`, `certs.server_cert`, `certs.server_key`,
    /// `certs.client_cert`, `certs.client_key`, `certs.other_ca`,
    /// `certs.a_cert`, `certs.a_key`, `certs.b_cert`, `certs.b_key`,
    /// `certs.other_client_cert`, `certs.other_client_key` and
    /// `certs.jwt_public` with their paths, for [`crate::Template::var`].
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        [
            ("certs.ca", self.ca()),
            ("certs.server_cert", self.server_cert()),
            ("certs.server_key", self.server_key()),
            ("certs.client_cert", self.client_cert()),
            ("certs.client_key", self.client_key()),
            ("certs.other_ca", self.other_ca()),
            ("certs.jwt_public", self.jwt.public_key()),
            ("certs.a_cert", self.a().0),
            ("certs.a_key", self.a().1),
            ("certs.b_cert", self.b().0),
            ("certs.b_key", self.b().1),
            ("certs.other_client_cert", self.other_client().0),
            ("certs.other_client_key", self.other_client().1),
        ]
        .into_iter()
        .map(|(k, p)| (k, p.display().to_string()))
        .collect()
    }

    /// The test CA certificate (DER).
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.cert.clone()
    }

    /// The unrelated CA certificate (DER).
    pub fn other_ca_der(&self) -> CertificateDer<'static> {
        self.other_ca.cert.clone()
    }

    /// The server's certificate chain (DER, leaf first).
    pub fn server_chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.server.cert.clone()]
    }

    /// The server's private key (DER).
    pub fn server_key_der(&self) -> PrivateKeyDer<'static> {
        self.server.key_der()
    }

    /// The client's certificate chain (DER, leaf first).
    pub fn client_chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.client.cert.clone()]
    }

    /// The client's private key (DER).
    pub fn client_key_der(&self) -> PrivateKeyDer<'static> {
        self.client.key_der()
    }
}
