//! Sites and their keys: declared in the config or kept in `DATA_DIR/sites.json`.
//!
//! `sites.json` is replaced atomically (temp file in the same directory, fsync, rename, fsync the
//! directory): after a crash it is either the old or the new list, never a mix.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ecomdash_protocol::SiteKeys;
use parking_lot::RwLock;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// File name of the persisted site list inside the data dir.
pub const SITES_FILE: &str = "sites.json";
/// Longest site domain, in bytes.
pub const MAX_DOMAIN_BYTES: usize = 253;

#[derive(Debug, Error)]
pub enum SitesError {
    #[error("io error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt {path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("site {0} already exists")]
    Exists(String),
    #[error("invalid site: {0}")]
    Invalid(String),
}

/// A site as declared: its domain and both keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub domain: String,
    pub write_key: String,
    pub read_key: String,
}

impl SiteConfig {
    /// A new site with fresh random keys.
    pub fn generate(domain: &str) -> Result<SiteConfig, SitesError> {
        validate_domain(domain).map_err(SitesError::Invalid)?;
        Ok(SiteConfig {
            domain: domain.to_owned(),
            write_key: format!("wk_{}", random_hex(12)),
            read_key: format!("rk_{}", random_hex(24)),
        })
    }

    pub fn validate(&self) -> Result<(), String> {
        validate_domain(&self.domain)?;
        if self.write_key.len() < 8 || self.read_key.len() < 16 {
            return Err(format!(
                "site {}: write_key needs at least 8 characters and read_key at least 16",
                self.domain
            ));
        }
        if self.write_key == self.read_key {
            return Err(format!(
                "site {}: write_key and read_key must differ",
                self.domain
            ));
        }
        Ok(())
    }

    pub fn keys(&self) -> SiteKeys {
        SiteKeys {
            domain: self.domain.clone(),
            write_key: self.write_key.clone(),
            read_key: self.read_key.clone(),
        }
    }
}

/// Domains are lowercase host names (letters, digits, `-`, `.`), like `shop.example` or `demo`.
pub fn validate_domain(domain: &str) -> Result<(), String> {
    let ok = !domain.is_empty()
        && domain.len() <= MAX_DOMAIN_BYTES
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !domain.starts_with('.')
        && !domain.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "domain {domain:?} must be a lowercase host name (letters, digits, '-' and '.')"
        ))
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Default)]
struct Index {
    by_domain: HashMap<String, Arc<SiteConfig>>,
    by_write_key: HashMap<String, Arc<SiteConfig>>,
}

/// All sites, looked up by domain or write key. Cheap to read from many threads.
pub struct SiteRegistry {
    path: PathBuf,
    /// Sites from the config file: served, never written to `sites.json`.
    declared: Vec<SiteConfig>,
    /// Sites from `sites.json`.
    stored: RwLock<Vec<SiteConfig>>,
    index: RwLock<Index>,
}

impl SiteRegistry {
    /// Loads `DATA_DIR/sites.json` (absent means none) and merges the declared sites.
    pub fn open(data_dir: &Path, declared: Vec<SiteConfig>) -> Result<SiteRegistry, SitesError> {
        let path = data_dir.join(SITES_FILE);
        let stored = load_file(&path)?;
        let registry = SiteRegistry {
            path,
            declared,
            stored: RwLock::new(stored),
            index: RwLock::new(Index::default()),
        };
        registry.reindex()?;
        Ok(registry)
    }

    fn reindex(&self) -> Result<(), SitesError> {
        let mut index = Index::default();
        let stored = self.stored.read();
        for site in self.declared.iter().chain(stored.iter()) {
            let site = Arc::new(site.clone());
            if index
                .by_domain
                .insert(site.domain.clone(), site.clone())
                .is_some()
            {
                return Err(SitesError::Invalid(format!(
                    "site {} is defined twice",
                    site.domain
                )));
            }
            if index
                .by_write_key
                .insert(site.write_key.clone(), site.clone())
                .is_some()
            {
                return Err(SitesError::Invalid(format!(
                    "site {} reuses another site's write key",
                    site.domain
                )));
            }
        }
        *self.index.write() = index;
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.index.read().by_domain.is_empty()
    }

    pub fn by_write_key(&self, key: &str) -> Option<Arc<SiteConfig>> {
        self.index.read().by_write_key.get(key).cloned()
    }

    pub fn by_domain(&self, domain: &str) -> Option<Arc<SiteConfig>> {
        self.index.read().by_domain.get(domain).cloned()
    }

    pub fn all(&self) -> Vec<Arc<SiteConfig>> {
        let mut sites: Vec<_> = self.index.read().by_domain.values().cloned().collect();
        sites.sort_by(|a, b| a.domain.cmp(&b.domain));
        sites
    }

    /// Adds a site with fresh keys and persists it.
    pub fn add(&self, domain: &str) -> Result<Arc<SiteConfig>, SitesError> {
        let site = SiteConfig::generate(domain)?;
        {
            let mut stored = self.stored.write();
            if self.by_domain(domain).is_some() {
                return Err(SitesError::Exists(domain.to_owned()));
            }
            let mut next = stored.clone();
            next.push(site.clone());
            store_file(&self.path, &next)?;
            *stored = next;
        }
        self.reindex()?;
        self.by_domain(domain)
            .ok_or_else(|| SitesError::Invalid(format!("site {domain} vanished after adding")))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SitesFile {
    sites: Vec<SiteConfig>,
}

fn load_file(path: &Path) -> Result<Vec<SiteConfig>, SitesError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(SitesError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let file: SitesFile = serde_json::from_slice(&bytes).map_err(|e| SitesError::Corrupt {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    for site in &file.sites {
        site.validate().map_err(|message| SitesError::Corrupt {
            path: path.to_owned(),
            message,
        })?;
    }
    Ok(file.sites)
}

/// Writes the site list atomically: either the old file stays untouched or the new one is
/// complete, even across a crash or power loss.
fn store_file(path: &Path, sites: &[SiteConfig]) -> Result<(), SitesError> {
    let io = |source| SitesError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).map_err(io)?;
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(&SitesFile {
        sites: sites.to_vec(),
    })
    .map_err(|e| SitesError::Invalid(e.to_string()))?;
    {
        let mut file = File::create(&tmp).map_err(io)?;
        file.write_all(&body).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    fs::rename(&tmp, path).map_err(io)?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sites_persist_and_index_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let registry = SiteRegistry::open(dir.path(), Vec::new()).unwrap();
        assert!(registry.is_empty());
        let site = registry.add("shop.example").unwrap();
        assert!(matches!(
            registry.add("shop.example"),
            Err(SitesError::Exists(_))
        ));
        assert!(matches!(
            registry.add("Bad Domain"),
            Err(SitesError::Invalid(_))
        ));
        let again = SiteRegistry::open(dir.path(), Vec::new()).unwrap();
        assert_eq!(
            again.by_write_key(&site.write_key).unwrap().domain,
            "shop.example"
        );
        assert_eq!(
            again.by_domain("shop.example").unwrap().read_key,
            site.read_key
        );
        assert!(again.by_write_key(&site.read_key).is_none());
    }

    #[test]
    fn declared_sites_conflicting_with_stored_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let registry = SiteRegistry::open(dir.path(), Vec::new()).unwrap();
        let site = registry.add("a.example").unwrap();
        let declared = vec![SiteConfig {
            domain: "a.example".to_owned(),
            ..(*site).clone()
        }];
        assert!(SiteRegistry::open(dir.path(), declared).is_err());
    }
}
