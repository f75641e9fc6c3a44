//! Daemon configuration: TOML file, then `ECOMDASH_*` environment variables, then command-line
//! flags, each overriding the one before. Defaults live in [`Config::default`] and nowhere else.
//!
//! The environment is passed in as a map so tests control it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::sites::SiteConfig;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// How appends become durable before a 2xx; mirrors `ecomdash_storage::Durability`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurabilityMode {
    /// fsync (group commit) before acknowledging: survives power loss. The default.
    Fsync,
    /// fsync every `fsync_interval_ms`; acknowledged events survive a process crash but up to one
    /// interval can be lost on power loss.
    Interval,
    /// Never fsync explicitly; survives a process crash only (OS page cache).
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory holding the store, `sites.json`, salts and the lock file.
    pub data_dir: PathBuf,
    /// Address of the HTTP listener.
    pub http_addr: SocketAddr,
    /// Bearer token for `/api/v1/admin/*`. Without one the admin API answers 401 to everything.
    pub admin_token: Option<String>,
    /// Peers whose `X-Forwarded-For` is believed (CIDRs or addresses).
    pub trusted_proxies: Vec<String>,
    /// `tracing` filter, e.g. `info` or `ecomdash_engine=debug`.
    pub log: String,
    /// MaxMind-format `.mmdb` database for country / region / city. Unset: `<data_dir>/geoip.mmdb`
    /// when that file exists, else geo is off. An empty path turns geo off. See docs/operations.md.
    pub geoip_db: Option<PathBuf>,
    pub storage: StorageSettings,
    pub limits: LimitSettings,
    /// Limits of one SQL query or summary (`/api/v1/query`, `/api/v1/analytics/summary`).
    pub query: QuerySettings,
    /// The QUIC (FlatBuffers batch) listener; see `docs/quic.md`.
    pub quic: QuicSettings,
    /// Sites declared in the config; merged with those in `sites.json`.
    pub sites: Vec<SiteConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    pub durability: DurabilityMode,
    /// Used with `durability = "interval"`.
    pub fsync_interval_ms: u64,
    /// Memtable size that triggers a segment flush.
    pub memtable_max_bytes: u64,
    /// Memtable age that triggers a segment flush.
    pub memtable_max_age_ms: u64,
    /// How long an `event_id` is remembered for deduplication.
    pub dedup_window_ms: u64,
    /// Most event ids remembered (35–65 bytes each): bounds the dedup window's memory at any
    /// event rate; past it the oldest ids are forgotten early. 0 = no cap.
    pub dedup_max_keys: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Sustained events per second one site may send before 429.
    pub site_events_per_second: u32,
    /// Burst a site may send above the sustained rate.
    pub site_burst_events: u32,
    /// Requests of one site in flight at once before 503.
    pub site_max_in_flight_requests: u32,
    /// Requests in flight across all sites before 503.
    pub max_in_flight_requests: u32,
    /// A session closes after this long without events.
    pub session_idle_timeout_secs: u64,
    /// How long shutdown waits for actors to drain.
    pub drain_timeout_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuicSettings {
    pub enabled: bool,
    /// UDP address of the QUIC listener.
    pub addr: SocketAddr,
    /// PEM certificate chain; with `key_path`. Without both, a self-signed certificate is
    /// generated on first start and kept in `<data_dir>/quic/` (development only).
    pub cert_path: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_path: Option<PathBuf>,
    /// Connections open at once across all clients; more are refused.
    pub max_connections: u32,
    /// Connections open at once from one IP address; more are refused.
    pub max_connections_per_ip: u32,
    /// Batch streams one connection may have open at once (QUIC stream credit).
    pub max_streams_per_connection: u32,
    /// A connection without traffic closes after this long.
    pub idle_timeout_secs: u64,
}

impl Default for QuicSettings {
    fn default() -> QuicSettings {
        QuicSettings {
            enabled: true,
            addr: SocketAddr::from(([127, 0, 0, 1], 8443)),
            cert_path: None,
            key_path: None,
            max_connections: 1024,
            max_connections_per_ip: 64,
            max_streams_per_connection: 32,
            idle_timeout_secs: 30,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuerySettings {
    /// Bytes of state (groups, distinct sets, buffered rows) one query may hold before it stops.
    pub memory_bytes: u64,
    /// How long one query may run before it stops.
    pub time_ms: u64,
    /// Decompressed column blocks kept in memory across queries, shared by all of them
    /// (process-wide, oldest first out; outside `memory_bytes`). 0 turns the cache off.
    pub block_cache_bytes: u64,
}

impl Default for QuerySettings {
    fn default() -> QuerySettings {
        QuerySettings {
            memory_bytes: 1 << 30,
            time_ms: 30_000,
            block_cache_bytes: 64 << 20,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            data_dir: PathBuf::from("./data"),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8000)),
            admin_token: None,
            trusted_proxies: vec!["127.0.0.1/32".to_owned(), "::1/128".to_owned()],
            log: "info".to_owned(),
            geoip_db: None,
            storage: StorageSettings::default(),
            limits: LimitSettings::default(),
            query: QuerySettings::default(),
            quic: QuicSettings::default(),
            sites: Vec::new(),
        }
    }
}

impl Default for StorageSettings {
    fn default() -> StorageSettings {
        StorageSettings {
            durability: DurabilityMode::Fsync,
            fsync_interval_ms: 100,
            memtable_max_bytes: 64 * 1024 * 1024,
            memtable_max_age_ms: 60_000,
            dedup_window_ms: 24 * 3600 * 1000,
            dedup_max_keys: 8_000_000,
        }
    }
}

impl Default for LimitSettings {
    fn default() -> LimitSettings {
        LimitSettings {
            site_events_per_second: 20_000,
            site_burst_events: 100_000,
            site_max_in_flight_requests: 512,
            max_in_flight_requests: 2048,
            session_idle_timeout_secs: 30 * 60,
            drain_timeout_secs: 10,
        }
    }
}

/// Every environment variable the daemon reads, with what it sets (shown by `serve --help`).
pub const ENV_VARS: &[(&str, &str)] = &[
    ("ECOMDASH_DATA_DIR", "data_dir"),
    ("ECOMDASH_HTTP", "http_addr"),
    ("ECOMDASH_ADMIN_TOKEN", "admin_token"),
    (
        "ECOMDASH_TRUSTED_PROXIES",
        "trusted_proxies (comma-separated)",
    ),
    ("ECOMDASH_LOG", "log"),
    (
        "ECOMDASH_GEOIP_DB",
        "geoip_db (.mmdb file; \"off\" or empty disables geo)",
    ),
    (
        "ECOMDASH_QUIC",
        "quic.addr, or \"off\" to disable the QUIC listener",
    ),
    ("ECOMDASH_QUIC_CERT", "quic.cert_path"),
    ("ECOMDASH_QUIC_KEY", "quic.key_path"),
    (
        "ECOMDASH_DURABILITY",
        "storage.durability (fsync, interval, none)",
    ),
    ("ECOMDASH_FSYNC_INTERVAL_MS", "storage.fsync_interval_ms"),
    ("ECOMDASH_MEMTABLE_MAX_BYTES", "storage.memtable_max_bytes"),
    (
        "ECOMDASH_MEMTABLE_MAX_AGE_MS",
        "storage.memtable_max_age_ms",
    ),
    (
        "ECOMDASH_SITE_EVENTS_PER_SECOND",
        "limits.site_events_per_second",
    ),
    ("ECOMDASH_SITE_BURST_EVENTS", "limits.site_burst_events"),
    (
        "ECOMDASH_SITE_MAX_IN_FLIGHT_REQUESTS",
        "limits.site_max_in_flight_requests",
    ),
    (
        "ECOMDASH_MAX_IN_FLIGHT_REQUESTS",
        "limits.max_in_flight_requests",
    ),
    (
        "ECOMDASH_SESSION_IDLE_TIMEOUT_SECS",
        "limits.session_idle_timeout_secs",
    ),
    ("ECOMDASH_DRAIN_TIMEOUT_SECS", "limits.drain_timeout_secs"),
    (
        "ECOMDASH_QUERY_BLOCK_CACHE_BYTES",
        "query.block_cache_bytes (0 turns the cache off)",
    ),
];

/// Command-line overrides (the highest precedence).
#[derive(Clone, Debug, Default)]
pub struct FlagOverrides {
    pub data_dir: Option<PathBuf>,
    pub http_addr: Option<SocketAddr>,
    pub admin_token: Option<String>,
    pub geoip_db: Option<PathBuf>,
}

impl Config {
    /// Builds the effective config: defaults, then `file`, then `env`, then `flags`; validated.
    pub fn load(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
        flags: &FlagOverrides,
    ) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        config.apply_env(env)?;
        if let Some(dir) = &flags.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(addr) = flags.http_addr {
            config.http_addr = addr;
        }
        if let Some(token) = &flags.admin_token {
            config.admin_token = Some(token.clone());
        }
        if let Some(path) = &flags.geoip_db {
            config.geoip_db = Some(path.clone());
        }
        config.validate()?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// Applies `ECOMDASH_*` variables. Unknown `ECOMDASH_*` names are errors (typos would
    /// otherwise be silently ignored).
    pub fn apply_env(&mut self, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        for (name, value) in env.range("ECOMDASH_".to_owned()..) {
            if !name.starts_with("ECOMDASH_") {
                break;
            }
            let bad = |message: String| ConfigError::Env {
                name: name.clone(),
                message,
            };
            let num = |value: &str| value.trim().parse::<u64>().map_err(|e| bad(e.to_string()));
            let num32 = |value: &str| value.trim().parse::<u32>().map_err(|e| bad(e.to_string()));
            match name.as_str() {
                "ECOMDASH_DATA_DIR" => self.data_dir = PathBuf::from(value),
                "ECOMDASH_HTTP" => {
                    self.http_addr = value.trim().parse().map_err(|e| bad(format!("{e}")))?
                }
                "ECOMDASH_ADMIN_TOKEN" => self.admin_token = Some(value.clone()),
                "ECOMDASH_TRUSTED_PROXIES" => {
                    self.trusted_proxies = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                }
                "ECOMDASH_LOG" => self.log = value.clone(),
                "ECOMDASH_GEOIP_DB" => {
                    self.geoip_db = Some(match value.trim() {
                        "off" => PathBuf::new(),
                        path => PathBuf::from(path),
                    })
                }
                "ECOMDASH_QUIC" => match value.trim() {
                    "off" => self.quic.enabled = false,
                    addr => {
                        self.quic.enabled = true;
                        self.quic.addr = addr.parse().map_err(|e| bad(format!("{e}")))?;
                    }
                },
                "ECOMDASH_QUIC_CERT" => self.quic.cert_path = Some(PathBuf::from(value)),
                "ECOMDASH_QUIC_KEY" => self.quic.key_path = Some(PathBuf::from(value)),
                "ECOMDASH_DURABILITY" => {
                    self.storage.durability = match value.trim() {
                        "fsync" => DurabilityMode::Fsync,
                        "interval" => DurabilityMode::Interval,
                        "none" => DurabilityMode::None,
                        other => {
                            return Err(bad(format!(
                                "unknown durability {other:?} (fsync, interval, none)"
                            )))
                        }
                    }
                }
                "ECOMDASH_FSYNC_INTERVAL_MS" => self.storage.fsync_interval_ms = num(value)?,
                "ECOMDASH_MEMTABLE_MAX_BYTES" => self.storage.memtable_max_bytes = num(value)?,
                "ECOMDASH_MEMTABLE_MAX_AGE_MS" => self.storage.memtable_max_age_ms = num(value)?,
                "ECOMDASH_QUERY_BLOCK_CACHE_BYTES" => self.query.block_cache_bytes = num(value)?,
                "ECOMDASH_SITE_EVENTS_PER_SECOND" => {
                    self.limits.site_events_per_second = num32(value)?
                }
                "ECOMDASH_SITE_BURST_EVENTS" => self.limits.site_burst_events = num32(value)?,
                "ECOMDASH_SITE_MAX_IN_FLIGHT_REQUESTS" => {
                    self.limits.site_max_in_flight_requests = num32(value)?
                }
                "ECOMDASH_MAX_IN_FLIGHT_REQUESTS" => {
                    self.limits.max_in_flight_requests = num32(value)?
                }
                "ECOMDASH_SESSION_IDLE_TIMEOUT_SECS" => {
                    self.limits.session_idle_timeout_secs = num(value)?
                }
                "ECOMDASH_DRAIN_TIMEOUT_SECS" => self.limits.drain_timeout_secs = num(value)?,
                _ => return Err(bad("unknown ECOMDASH_ variable".to_owned())),
            }
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.data_dir.as_os_str().is_empty() {
            return invalid("data_dir must not be empty");
        }
        if let Some(token) = &self.admin_token {
            if token.len() < 16 {
                return invalid("admin_token must be at least 16 characters");
            }
        }
        if self.storage.durability == DurabilityMode::Interval
            && self.storage.fsync_interval_ms == 0
        {
            return invalid("storage.fsync_interval_ms must be positive");
        }
        let limits = &self.limits;
        if limits.site_events_per_second == 0
            || limits.site_max_in_flight_requests == 0
            || limits.max_in_flight_requests == 0
        {
            return invalid("limits must be positive");
        }
        if limits.session_idle_timeout_secs == 0 {
            return invalid("limits.session_idle_timeout_secs must be positive");
        }
        if self.query.memory_bytes == 0 || self.query.time_ms == 0 {
            return invalid("query.memory_bytes and query.time_ms must be positive");
        }
        let quic = &self.quic;
        if quic.cert_path.is_some() != quic.key_path.is_some() {
            return invalid("quic.cert_path and quic.key_path go together");
        }
        if quic.max_connections == 0
            || quic.max_connections_per_ip == 0
            || quic.max_streams_per_connection == 0
            || quic.idle_timeout_secs == 0
        {
            return invalid("quic limits must be positive");
        }
        for entry in &self.trusted_proxies {
            crate::enrich::TrustedProxies::parse(std::slice::from_ref(entry))
                .map_err(|e| ConfigError::Invalid(format!("trusted_proxies: {e}")))?;
        }
        let mut domains = std::collections::HashSet::new();
        for site in &self.sites {
            site.validate().map_err(ConfigError::Invalid)?;
            if !domains.insert(site.domain.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "site {} is declared twice",
                    site.domain
                )));
            }
        }
        Ok(())
    }

    /// The store's own directory inside the data dir.
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "data_dir = \"/from/file\"\nhttp_addr = \"127.0.0.1:1\"\n[limits]\nsite_events_per_second = 7\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&path),
            &env(&[("ECOMDASH_HTTP", "127.0.0.1:2"), ("PATH", "/bin")]),
            &FlagOverrides {
                data_dir: Some(PathBuf::from("/from/flag")),
                ..FlagOverrides::default()
            },
        )
        .unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(config.http_addr.port(), 2);
        assert_eq!(config.limits.site_events_per_second, 7);
        assert_eq!(config.limits.drain_timeout_secs, 10);
        assert_eq!(config.geoip_db, None);
    }

    #[test]
    fn block_cache_size_from_file_and_env() {
        assert_eq!(Config::default().query.block_cache_bytes, 64 << 20);
        let from_file = Config::from_toml("[query]\nblock_cache_bytes = 0\n").unwrap();
        assert_eq!(from_file.query.block_cache_bytes, 0);
        let mut config = Config::default();
        config
            .apply_env(&env(&[("ECOMDASH_QUERY_BLOCK_CACHE_BYTES", "1048576")]))
            .unwrap();
        assert_eq!(config.query.block_cache_bytes, 1 << 20);
        let err = config
            .apply_env(&env(&[("ECOMDASH_QUERY_BLOCK_CACHE_BYTES", "lots")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("ECOMDASH_QUERY_BLOCK_CACHE_BYTES"),
            "{err}"
        );
    }

    #[test]
    fn geoip_db_from_file_env_and_flag() {
        let from_file = Config::from_toml("geoip_db = \"/srv/geo.mmdb\"").unwrap();
        assert_eq!(from_file.geoip_db, Some(PathBuf::from("/srv/geo.mmdb")));
        let load = |pairs: &[(&str, &str)], flag: Option<&str>| {
            Config::load(
                None,
                &env(pairs),
                &FlagOverrides {
                    geoip_db: flag.map(PathBuf::from),
                    ..FlagOverrides::default()
                },
            )
            .unwrap()
            .geoip_db
        };
        let env_path = [("ECOMDASH_GEOIP_DB", "/env/geo.mmdb")];
        assert_eq!(load(&env_path, None), Some(PathBuf::from("/env/geo.mmdb")));
        assert_eq!(
            load(&env_path, Some("/flag.mmdb")),
            Some(PathBuf::from("/flag.mmdb"))
        );
        // "off" is the empty path, which open_configured reads as geo off
        assert_eq!(
            load(&[("ECOMDASH_GEOIP_DB", "off")], None),
            Some(PathBuf::new())
        );
    }

    #[test]
    fn unknown_keys_and_variables_are_rejected() {
        assert!(Config::from_toml("nope = 1").unwrap_err().contains("nope"));
        assert!(Config::from_toml("[limits]\nfoo = 1").is_err());
        let err = Config::load(
            None,
            &env(&[("ECOMDASH_TYPO", "1")]),
            &FlagOverrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("ECOMDASH_TYPO"), "{err}");
        let err = Config::load(
            None,
            &env(&[("ECOMDASH_DURABILITY", "maybe")]),
            &FlagOverrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("maybe"), "{err}");
    }

    #[test]
    fn validate_catches_bad_values() {
        let config = Config {
            admin_token: Some("short".to_owned()),
            ..Config::default()
        };
        assert!(config.validate().is_err());
        let config = Config {
            trusted_proxies: vec!["not a cidr".to_owned()],
            ..Config::default()
        };
        assert!(config.validate().is_err());
        assert!(Config::default().validate().is_ok());
    }
}
