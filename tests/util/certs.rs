//! Certificates made by a test for itself: a CA and a server certificate
//! for 127.0.0.1 / localhost signed by it, all PEM.

/// PEM texts of a test CA and a server identity it signed.
pub struct TestCertificates {
    /// The CA certificate clients trust.
    pub ca: String,
    pub server_cert: String,
    /// The server's private key.
    pub server_key: String,
}

/// Makes a fresh CA and server identity.
pub fn make() -> anyhow::Result<TestCertificates> {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "shopfloor test CA");
    let ca_key = rcgen::KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let server_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    let server_key = rcgen::KeyPair::generate()?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server = server_params.signed_by(&server_key, &issuer)?;
    Ok(TestCertificates { ca: ca.pem(), server_cert: server.pem(), server_key: server_key.serialize_pem() })
}
