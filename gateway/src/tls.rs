//! rustls client configuration shared by the Redis connection and https upstreams (ring provider).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Which certificate authorities a client config trusts.
#[derive(Debug, Clone, Copy)]
pub enum Trust<'a> {
    /// Only this CA file (PEM): a private Redis endpoint.
    Only(&'a Path),
    /// The bundled WebPKI roots, plus this CA file when given: upstreams, public or private.
    WebPki(Option<&'a Path>),
}

/// A client config trusting what `trust` says.
pub fn client_config(trust: Trust<'_>) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    let ca_file = match trust {
        Trust::Only(p) => Some(p),
        Trust::WebPki(extra) => {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            extra
        }
    };
    if let Some(p) = ca_file {
        for cert in CertificateDer::pem_file_iter(p).map_err(|e| format!("{}: {e}", p.display()))? {
            let cert = cert.map_err(|e| format!("{}: {e}", p.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A connector for [`client_config`].
pub fn connector(trust: Trust<'_>) -> Result<tokio_rustls::TlsConnector, String> {
    Ok(tokio_rustls::TlsConnector::from(Arc::new(client_config(
        trust,
    )?)))
}
