//! One trust policy for every remote transport, and the one blocking HTTP client.
//!
//! Every transport (the HTTP API, OTLP over HTTP/protobuf and OTLP over gRPC) trusts the same
//! certificates: the system's store, which `SSL_CERT_FILE` and `SSL_CERT_DIR` replace as they
//! do for OpenSSL, plus a configured CA file (`http.ca_file`, `OTEL_EXPORTER_OTLP_CERTIFICATE`).
//! Only where the system has no store at all do Mozilla's roots, built in, stand in for it.
//! A client certificate and key (`http.client_cert`/`client_key`,
//! `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`/`CLIENT_KEY`) are presented to servers that ask
//! for one (mTLS).
//!
//! The HTTP API and OTLP/HTTP share one client, ureq: [`HttpClient`] adapts it to the OTLP
//! exporter. gRPC stays on tonic, configured from the same [`Trust`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use opentelemetry_http::{Bytes, HttpError, Request, Response};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

pub use crate::config::telemetry::Trust;

/// A certificate or key that cannot be used; `Display` is one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no PEM certificate in it", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no PEM private key in it", path.display())]
    NoKey { path: PathBuf },
    #[error("{}: the private key is encrypted; give an unencrypted key (openssl pkey -in KEY -out PLAIN)", path.display())]
    EncryptedKey { path: PathBuf },
    #[error("{}: an X.509 v1 certificate, which TLS refuses; issue it as v3 (openssl x509 -req ... -extfile with basicConstraints=CA:FALSE)", path.display())]
    Version1 { path: PathBuf },
    #[error("{} with {}: {reason}", certificate.display(), key.display())]
    Unusable {
        certificate: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("a client certificate needs both a certificate file and a key file")]
    HalfIdentity,
    #[error("TLS: {0}")]
    Rustls(rustls::Error),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    crate::files::read_small(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The certificates in PEM text, in order.
fn pem_certificates(pem: &[u8]) -> Vec<Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(certificate)) => Some(certificate),
            _ => None,
        })
        .collect()
}

fn certificates(path: &Path) -> Result<Vec<Certificate<'static>>, TlsError> {
    let certificates = pem_certificates(&read(path)?);
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certificates)
}

/// Checks what rustls would check when it is handed the pair (and ureq would `expect`): the
/// key parses, the first certificate is one TLS accepts, and the two belong together.
fn check_identity(
    identity: &PemIdentity,
    certificate_path: &Path,
    key_path: &Path,
) -> Result<(), TlsError> {
    let chain = pem_certificates(&identity.certificate);
    let Some(first) = chain.first() else {
        return Err(TlsError::NoCertificate {
            path: certificate_path.to_path_buf(),
        });
    };
    let key = PrivateKeyDer::from_pem_slice(&identity.key).map_err(|_| {
        let text = String::from_utf8_lossy(&identity.key);
        if text.contains("ENCRYPTED") {
            TlsError::EncryptedKey {
                path: key_path.to_path_buf(),
            }
        } else {
            TlsError::NoKey {
                path: key_path.to_path_buf(),
            }
        }
    })?;
    if is_x509_version_1(first.der()) {
        return Err(TlsError::Version1 {
            path: certificate_path.to_path_buf(),
        });
    }
    let chain = chain
        .iter()
        .map(|c| CertificateDer::from(c.der().to_vec()))
        .collect();
    rustls::sign::CertifiedKey::from_der(chain, key, &rustls::crypto::ring::default_provider())
        .map(drop)
        .map_err(|error| TlsError::Unusable {
            certificate: certificate_path.to_path_buf(),
            key: key_path.to_path_buf(),
            reason: match error {
                rustls::Error::InconsistentKeys(_) => {
                    "the private key does not belong to the certificate".to_string()
                }
                other => other.to_string(),
            },
        })
}

/// Whether a DER certificate has no version field, which makes it X.509 v1: its
/// TBSCertificate (the first element of the outer SEQUENCE) then does not open with the
/// explicit `[0]` tag that v2 and v3 carry.
fn is_x509_version_1(der: &[u8]) -> bool {
    /// The content of the DER element at the start of `bytes`, if its tag is `tag`.
    fn inside(bytes: &[u8], tag: u8) -> Option<&[u8]> {
        let (&first, rest) = bytes.split_first()?;
        if first != tag {
            return None;
        }
        let (&length, rest) = rest.split_first()?;
        let (length, rest) = if length < 0x80 {
            (usize::from(length), rest)
        } else {
            let count = usize::from(length & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let length = rest[..count]
                .iter()
                .fold(0usize, |total, &byte| total << 8 | usize::from(byte));
            (length, &rest[count..])
        };
        rest.get(..length)
    }
    const SEQUENCE: u8 = 0x30;
    const VERSION: u8 = 0xa0;
    inside(der, SEQUENCE)
        .and_then(|certificate| inside(certificate, SEQUENCE))
        .is_some_and(|tbs| tbs.first() != Some(&VERSION))
}

/// The PEM text of a client certificate and its key, both files checked.
pub struct PemIdentity {
    pub certificate: Vec<u8>,
    pub key: Vec<u8>,
}

impl Trust {
    /// The configured CA file's text, when there is one.
    pub fn ca_pem(&self) -> Result<Option<Vec<u8>>, TlsError> {
        self.ca_file
            .as_deref()
            .map(|path| certificates(path).and_then(|_| read(path)))
            .transpose()
    }

    /// The client certificate and key as PEM, when both are configured.
    pub fn pem_identity(&self) -> Result<Option<PemIdentity>, TlsError> {
        match (&self.client_cert, &self.client_key) {
            (None, None) => Ok(None),
            (Some(certificate), Some(key)) => {
                let identity = PemIdentity {
                    certificate: read(certificate)?,
                    key: read(key)?,
                };
                check_identity(&identity, certificate, key)?;
                Ok(Some(identity))
            }
            _ => Err(TlsError::HalfIdentity),
        }
    }

    /// Whether the system has a store of its own (or `SSL_CERT_FILE`/`SSL_CERT_DIR` name one).
    pub fn system_has_roots() -> bool {
        !rustls_native_certs::load_native_certs().certs.is_empty()
    }

    /// The certificates this policy trusts: the system's store and the CA file. `None` where
    /// there are neither, for Mozilla's roots to stand in.
    pub fn roots(&self) -> Result<Option<Vec<CertificateDer<'static>>>, TlsError> {
        let mut roots = rustls_native_certs::load_native_certs().certs;
        if let Some(path) = &self.ca_file {
            roots.extend(
                certificates(path)?
                    .iter()
                    .map(|certificate| CertificateDer::from(certificate.der().to_vec())),
            );
        }
        Ok((!roots.is_empty()).then_some(roots))
    }

    /// The TLS configuration of the ureq client.
    pub fn ureq_config(&self) -> Result<TlsConfig, TlsError> {
        let roots = match self.roots()? {
            Some(roots) => RootCerts::new_with_certs(
                &roots
                    .iter()
                    .map(|der| Certificate::from_der(der.as_ref()).to_owned())
                    .collect::<Vec<_>>(),
            ),
            None => RootCerts::WebPki,
        };
        let client_cert = match self.pem_identity()? {
            Some(identity) => {
                let chain = pem_certificates(&identity.certificate);
                let key = PrivateKey::from_pem(&identity.key).map_err(|_| TlsError::NoKey {
                    path: self.client_key.clone().unwrap_or_default(),
                })?;
                Some(ClientCert::new_with_certs(&chain, key))
            }
            None => None,
        };
        Ok(TlsConfig::builder()
            .root_certs(roots)
            .client_cert(client_cert)
            .build())
    }
}

/// A ureq agent: no redirects, statuses returned rather than raised, the whole exchange
/// within `timeout`, and `tls` (from [`Trust::ureq_config`]) for https. A plain-text endpoint
/// passes none: building one reads the system's store, ~150 files, milliseconds it never needs.
pub fn agent(timeout: Duration, tls: Option<&TlsConfig>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("earlyexit/", env!("CARGO_PKG_VERSION")));
    if let Some(tls) = tls {
        config = config.tls_config(tls.clone());
    }
    config.build().into()
}

/// The largest response body read (the OTLP exporter's own clients use the same limit).
const MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

/// The OTLP/HTTP exporter's client: the same ureq as the HTTP API's. Blocking, which the
/// batch processor's own thread is made for.
#[derive(Debug)]
pub struct HttpClient(pub ureq::Agent);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for HttpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, body.to_vec());
        let response = self.0.run(request)?;
        let (parts, mut body) = response.into_parts();
        let bytes = body.with_config().limit(MAX_RESPONSE_BYTES).read_to_vec()?;
        Ok(Response::from_parts(parts, Bytes::from(bytes)))
    }
}
