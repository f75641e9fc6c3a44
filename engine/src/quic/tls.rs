//! The QUIC listener's TLS identity: configured PEM files, or a self-signed development
//! certificate generated on first start and kept in `<data_dir>/quic/`.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

use crate::config::Config;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no certificate")]
    NoCertificate { path: PathBuf },
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
    #[error("invalid tls setup: {0}")]
    Rustls(String),
}

/// A certificate chain with its key, and where it came from.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub cert_path: PathBuf,
    /// SHA-256 of the leaf certificate's DER, lowercase hex; clients may pin it.
    pub fingerprint: String,
    pub generated: bool,
}

fn read_error(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn load(cert_path: &Path, key_path: &Path, generated: bool) -> Result<Identity, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| read_error(cert_path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_error(cert_path, e))?;
    let leaf = chain.first().ok_or_else(|| TlsError::NoCertificate {
        path: cert_path.to_owned(),
    })?;
    let fingerprint = sha256_hex(leaf);
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| read_error(key_path, e))?;
    Ok(Identity {
        chain,
        key,
        cert_path: cert_path.to_owned(),
        fingerprint,
        generated,
    })
}

pub fn sha256_hex(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The configured certificate, else the generated one in the data dir (made on first use).
pub fn identity(config: &Config) -> Result<Identity, TlsError> {
    if let (Some(cert), Some(key)) = (&config.quic.cert_path, &config.quic.key_path) {
        return load(cert, key, false);
    }
    let dir = config.data_dir.join("quic");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if !cert_path.exists() || !key_path.exists() {
        generate(&dir, &cert_path, &key_path)?;
    }
    load(&cert_path, &key_path, true)
}

fn generate(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let certified =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    write_private(key_path, certified.signing_key.serialize_pem().as_bytes())
        .map_err(write_error(key_path))?;
    std::fs::write(cert_path, certified.cert.pem()).map_err(write_error(cert_path))?;
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, data)
}
