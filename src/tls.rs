//! rustls client configurations (ring provider, Mozilla roots plus an optional site CA,
//! optional client certificate). Owns certificate loading; there is deliberately no way to
//! turn verification off: plain (non-TLS) transports exist only for loopback, decided by
//! config.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or held no usable item.
    #[error("{path}: {reason}")]
    Pem {
        /// File.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A client config on ring trusting the Mozilla roots, plus `extra_ca` (PEM file) when
/// given, presenting `client_auth` (cert chain PEM, key PEM) when given.
pub fn client_config(
    extra_ca: Option<&Path>,
    client_auth: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = extra_ca {
        for cert in read_certs(ca)? {
            roots.add(cert)?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    let config = match client_auth {
        Some((chain, key)) => {
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Pem {
                path: key.display().to_string(),
                reason: e.to_string(),
            })?;
            builder.with_client_auth_cert(read_certs(chain)?, key)?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_err = |reason: String| TlsError::Pem {
        path: path.display().to_string(),
        reason,
    };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_err("no certificate in file".into()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_builds_and_missing_ca_is_named() {
        assert!(client_config(None, None).is_ok());
        let err = client_config(Some(Path::new("/nonexistent/ca.pem")), None).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"));
    }
}
