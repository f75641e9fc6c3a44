//! How the QUIC client trusts the daemon: a PEM certificate (for a self-signed daemon, its own
//! `quic/cert.pem`), or the SHA-256 fingerprint the daemon prints on start.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::ClientError;

/// TLS settings of [`crate::Client::quic`].
#[derive(Clone, Debug)]
pub struct Tls {
    trust: Trust,
    server_name: String,
}

#[derive(Clone, Debug)]
enum Trust {
    Pem(Vec<u8>),
    Sha256([u8; 32]),
}

impl Tls {
    /// Trusts the certificates in `pem` (a CA, or the daemon's self-signed certificate).
    pub fn trust_pem(pem: impl Into<Vec<u8>>) -> Tls {
        Tls {
            trust: Trust::Pem(pem.into()),
            server_name: "localhost".to_owned(),
        }
    }

    /// Trusts exactly the certificate whose DER has this SHA-256 (64 hex digits, colons
    /// allowed), as printed by `ecomdash serve`.
    pub fn pinned_sha256(hex: &str) -> Result<Tls, ClientError> {
        let digits: Vec<u8> = hex.bytes().filter(|b| *b != b':').collect();
        let bad = || ClientError::Config("fingerprint must be 64 hex digits".to_owned());
        if digits.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, pair) in digits.chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).map_err(|_| bad())?;
            out[i] = u8::from_str_radix(text, 16).map_err(|_| bad())?;
        }
        Ok(Tls {
            trust: Trust::Sha256(out),
            server_name: "localhost".to_owned(),
        })
    }

    /// The name the certificate must be valid for (default `localhost`).
    pub fn server_name(mut self, name: impl Into<String>) -> Tls {
        self.server_name = name.into();
        self
    }

    pub(crate) fn name(&self) -> &str {
        &self.server_name
    }

    pub(crate) fn rustls_config(&self) -> Result<rustls::ClientConfig, ClientError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config_error = |e: rustls::Error| ClientError::Config(e.to_string());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(config_error)?;
        let mut config = match &self.trust {
            Trust::Pem(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| ClientError::Config(e.to_string()))?;
                    roots.add(cert).map_err(config_error)?;
                }
                if roots.is_empty() {
                    return Err(ClientError::Config("no certificate in the pem".to_owned()));
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            Trust::Sha256(sha256) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned {
                    sha256: *sha256,
                    provider,
                }))
                .with_no_client_auth(),
        };
        config.alpn_protocols = vec![ecomdash_protocol::quic::ALPN.to_vec()];
        Ok(config)
    }
}

/// Accepts exactly one certificate, by fingerprint; signatures are still checked.
#[derive(Debug)]
struct Pinned {
    sha256: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let digest = ring::digest::digest(&ring::digest::SHA256, end_entity);
        if digest.as_ref() == self.sha256 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "server certificate does not match the pinned fingerprint".to_owned(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
