//! TLS for the server, with rustls (the clients' TLS, ring as its crypto): a certificate chain
//! and its key from PEM files, and, with `--client-ca`, a client certificate that this CA
//! signed required of every connection (mTLS).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The files TLS is served with.
#[derive(Debug, Clone)]
pub struct ServeTls {
    pub certificate: PathBuf,
    pub key: PathBuf,
    /// Client certificates must be signed by a CA in this file.
    pub client_ca: Option<PathBuf>,
}

/// A certificate or key that cannot serve; one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ServeTlsError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no PEM certificate in it", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no PEM private key in it (an encrypted key must be decrypted first)", path.display())]
    NoKey { path: PathBuf },
    #[error("{} with {}: {reason}", certificate.display(), key.display())]
    Unusable {
        certificate: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("{}: {reason}", path.display())]
    ClientCa { path: PathBuf, reason: String },
}

fn read(path: &Path) -> Result<Vec<u8>, ServeTlsError> {
    crate::files::read_small(path).map_err(|source| ServeTlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServeTlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(path)?)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(ServeTlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

impl ServeTls {
    /// The acceptor, with every file read and checked now, before the server listens.
    pub fn acceptor(&self) -> Result<TlsAcceptor, ServeTlsError> {
        let chain = certificates(&self.certificate)?;
        let key =
            PrivateKeyDer::from_pem_slice(&read(&self.key)?).map_err(|_| ServeTlsError::NoKey {
                path: self.key.clone(),
            })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let unusable = |reason: String| ServeTlsError::Unusable {
            certificate: self.certificate.clone(),
            key: self.key.clone(),
            reason,
        };
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| unusable(e.to_string()))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for certificate in certificates(path)? {
                    roots
                        .add(certificate)
                        .map_err(|e| ServeTlsError::ClientCa {
                            path: path.clone(),
                            reason: e.to_string(),
                        })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| ServeTlsError::ClientCa {
                            path: path.clone(),
                            reason: e.to_string(),
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|error| {
            unusable(match error {
                rustls::Error::InconsistentKeys(_) => {
                    "the private key does not belong to the certificate".to_string()
                }
                other => other.to_string(),
            })
        })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
