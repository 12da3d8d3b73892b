//! The embedded broker's TLS identity as a rustls server configuration (the
//! same rustls and ring provider as the clients: one TLS stack in the build).

use std::io::{Error, ErrorKind};
use std::path::Path;
use std::sync::Arc;

use crate::config::BrokerTls;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::new(e.kind(), format!("cannot read {}: {e}", path.display())))
}

fn invalid(path: &Path, what: &str) -> Error {
    Error::new(ErrorKind::InvalidData, format!("{}: {what}", path.display()))
}

fn certificates(path: &Path) -> std::io::Result<Vec<CertificateDer<'static>>> {
    let pem = read(path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| invalid(path, "not a PEM certificate file"))?;
    if certs.is_empty() {
        return Err(invalid(path, "contains no certificate"));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> std::io::Result<PrivateKeyDer<'static>> {
    let pem = read(path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|_| invalid(path, "not a PEM key file"))?
        .ok_or_else(|| invalid(path, "contains no private key"))
}

/// A server configuration from the PEM files; errors name the file.
pub fn server_config(tls: &BrokerTls) -> std::io::Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::other(e.to_string()))?;
    let builder = match &tls.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca_file) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(ca_file)? {
                roots.add(cert).map_err(|e| invalid(ca_file, &format!("unusable CA certificate: {e}")))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| invalid(ca_file, &format!("cannot verify clients with it: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder
        .with_single_cert(certificates(&tls.cert_file)?, private_key(&tls.key_file)?)
        .map_err(|e| invalid(&tls.cert_file, &format!("certificate and key do not match: {e}")))
}
