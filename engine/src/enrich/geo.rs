//! Client IP → country (ISO 3166-1 alpha-2), and region / city when the database has them, read
//! from a MaxMind-format `.mmdb` file with the `maxminddb` crate.
//!
//! Two record layouts are understood: GeoIP2 / GeoLite2 (`country.iso_code`,
//! `subdivisions[0].names.en`, `city.names.en`) and ip-location-db / DB-IP Lite (`country_code`,
//! `state1`, `city`), which is what `engine/scripts/fetch-geoip.sh` installs.
//!
//! The file is read into memory once at startup (8 MiB for the DB-IP country database) instead of
//! memory-mapped: `maxminddb`'s map is `unsafe` (the project keeps `unsafe` in the storage crate's
//! mmap module), and an operator copying a new database over the old file would make a mapped
//! reader fault, where an in-memory one keeps answering from the old data until restart.
//!
//! Privacy: the raw address is only an argument here. It is never logged, stored or kept: the
//! address cache is keyed by a hash with a per-process random key, and a private, loopback or
//! otherwise non-public address is not looked up at all (it has no country).
//!
//! Cost: the database's records are deduplicated (every US network points at one record), so
//! decoded records are cached by their offset and a miss of the address cache is a tree walk plus
//! one map probe; a hit is one map probe. Figures are in docs/benchmarks.md.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use maxminddb::Reader;
use serde::Deserialize;
use thiserror::Error;

/// Addresses whose answer is cached. A busy shop sees tens of thousands of distinct visitors a
/// day; an entry is a 64-bit key and a pointer (~40 bytes with the map's overhead), so a full
/// cache is ~3 MiB. When full it is cleared and refills from live traffic.
pub const GEO_ADDRESS_CACHE_CAPACITY: usize = 65_536;
/// Decoded records cached by offset: a country database has ~250 distinct records, a city
/// database ~100k-1M, of which traffic touches far fewer. Cleared when full, like the above.
pub const GEO_RECORD_CACHE_CAPACITY: usize = 16_384;
/// The database the daemon uses when `geoip_db` is not set: `<data_dir>/geoip.mmdb`.
pub const DEFAULT_GEOIP_FILE_NAME: &str = "geoip.mmdb";

#[derive(Debug, Error)]
pub enum GeoError {
    #[error("cannot read geoip database {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a valid MaxMind .mmdb geoip database: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

/// Where an address is, as far as the database knows. Fields are `None` when the database has no
/// such data (a country database has no region or city).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoInfo {
    /// Upper-case ISO 3166-1 alpha-2 code, e.g. `US`.
    pub country: Option<Arc<str>>,
    /// First-level subdivision name in English, e.g. `California`.
    pub region: Option<Arc<str>>,
    /// City name in English.
    pub city: Option<Arc<str>>,
}

/// A loaded geoip database with its caches. Share one between all request handlers.
pub struct GeoDb {
    reader: Reader<Vec<u8>>,
    path: PathBuf,
    /// Keys the address cache, so it holds hashes, never addresses.
    address_key: RandomState,
    addresses: BoundedCache<Option<Arc<GeoInfo>>>,
    records: BoundedCache<Arc<GeoInfo>>,
    /// Failed lookups (a damaged region of the file); logged at powers of two, not per event.
    failures: AtomicU64,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb").field("path", &self.path).finish()
    }
}

/// Opens the configured database: `configured` when given (an empty path turns geo off), else
/// `<data_dir>/geoip.mmdb` if that file exists, else none. Logs once which it is.
pub fn open_configured(
    configured: Option<&Path>,
    data_dir: &Path,
) -> Result<Option<GeoDb>, GeoError> {
    let path = match configured {
        Some(path) if path.as_os_str().is_empty() => {
            tracing::info!(
                "geo lookup off (geoip_db is set empty): country, region and city stay empty"
            );
            return Ok(None);
        }
        Some(path) => path.to_owned(),
        None => {
            let default = data_dir.join(DEFAULT_GEOIP_FILE_NAME);
            if !default.exists() {
                tracing::info!(
                    expected = %default.display(),
                    "geo lookup off: no geoip database, so country, region and city stay empty; \
                     run engine/scripts/fetch-geoip.sh DATA_DIR or set geoip_db / ECOMDASH_GEOIP_DB \
                     / --geoip-db (see docs/operations.md)"
                );
                return Ok(None);
            }
            default
        }
    };
    let db = GeoDb::open(&path)?;
    let metadata = db.reader.metadata();
    tracing::info!(
        path = %path.display(),
        database_type = %metadata.database_type,
        build_epoch = metadata.build_epoch,
        "geo lookup on"
    );
    Ok(Some(db))
}

impl GeoDb {
    /// Reads and checks the database at `path`.
    pub fn open(path: &Path) -> Result<GeoDb, GeoError> {
        let bytes = std::fs::read(path).map_err(|source| GeoError::Read {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |message: String| GeoError::Invalid {
            path: path.to_owned(),
            message,
        };
        let reader = Reader::from_source(bytes).map_err(|e| invalid(e.to_string()))?;
        let db = GeoDb {
            reader,
            path: path.to_owned(),
            address_key: RandomState::new(),
            addresses: BoundedCache::new(GEO_ADDRESS_CACHE_CAPACITY),
            records: BoundedCache::new(GEO_RECORD_CACHE_CAPACITY),
            failures: AtomicU64::new(0),
        };
        // a broken tree or data section shows up on the first lookups, so fail at startup instead
        for probe in [
            IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
            IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888)),
        ] {
            if probe.is_ipv6() && db.reader.metadata().ip_version != 6 {
                continue;
            }
            db.lookup_uncached(probe)
                .map_err(|e| invalid(format!("lookup fails: {e}")))?;
        }
        Ok(db)
    }

    /// The file the database was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where `ip` is, or `None` for a non-public address, an address the database does not know,
    /// or a lookup error (logged without the address).
    pub fn lookup(&self, ip: IpAddr) -> Option<Arc<GeoInfo>> {
        let ip = ip.to_canonical();
        if !is_public(ip) {
            return None;
        }
        let key = self.address_key.hash_one(ip);
        if let Some(hit) = self.addresses.get(key) {
            return hit;
        }
        let info = match self.lookup_record_cached(ip) {
            Ok(info) => info,
            Err(e) => {
                let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                if failures.is_power_of_two() {
                    tracing::warn!(error = %e, path = %self.path.display(), failures, "geoip lookup failed");
                }
                None
            }
        };
        self.addresses.insert(key, info.clone());
        info
    }

    /// Tree walk plus the record cache, without the address cache (for benchmarks).
    pub fn lookup_record_cached(
        &self,
        ip: IpAddr,
    ) -> Result<Option<Arc<GeoInfo>>, maxminddb::MaxMindDbError> {
        let found = self.reader.lookup(ip)?;
        let Some(offset) = found.offset() else {
            return Ok(None);
        };
        let offset = offset as u64;
        if let Some(info) = self.records.get(offset) {
            return Ok(Some(info));
        }
        let info = found
            .decode::<Record<'_>>()?
            .map(|r| Arc::new(r.into_info()));
        if let Some(info) = &info {
            self.records.insert(offset, info.clone());
        }
        Ok(info)
    }

    /// Tree walk and decode, no caches (for benchmarks and the startup probe).
    pub fn lookup_uncached(
        &self,
        ip: IpAddr,
    ) -> Result<Option<GeoInfo>, maxminddb::MaxMindDbError> {
        let found = self.reader.lookup(ip.to_canonical())?;
        Ok(found.decode::<Record<'_>>()?.map(Record::into_info))
    }
}

/// Whether an address can have a location: not loopback, private, link-local, shared (CGNAT),
/// documentation, multicast, unspecified or reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
        }
    }
}

/// The fields of both record layouts this module reads; everything else is skipped.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    country: Option<Named<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<Named<'a>>>,
    #[serde(borrow, default)]
    state1: Option<&'a str>,
    #[serde(borrow, default)]
    city: Option<CityField<'a>>,
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Option<Names<'a>>,
}

#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

/// `city` is a map with `names` in GeoIP2 and a plain string in ip-location-db.
enum CityField<'a> {
    Name(&'a str),
    Record(Named<'a>),
}

impl<'de: 'a, 'a> Deserialize<'de> for CityField<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for FieldVisitor<'a> {
            type Value = CityField<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a city name or a map with names")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(CityField::Name(v))
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                map: M,
            ) -> Result<Self::Value, M::Error> {
                Named::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(CityField::Record)
            }
        }
        deserializer.deserialize_any(FieldVisitor(std::marker::PhantomData))
    }
}

impl Record<'_> {
    fn into_info(self) -> GeoInfo {
        let country = self
            .country_code
            .or_else(|| self.country.as_ref().and_then(|c| c.iso_code))
            .filter(|code| {
                code.len() == 2
                    && code.bytes().all(|b| b.is_ascii_alphabetic())
                    // `ZZ` is "unknown or unspecified" in several databases
                    && !code.eq_ignore_ascii_case("zz")
            })
            .map(|code| Arc::from(code.to_ascii_uppercase()));
        let region = self
            .subdivisions
            .as_ref()
            .and_then(|s| s.first())
            .and_then(|s| s.names.as_ref())
            .and_then(|n| n.en)
            .or(self.state1);
        let city = match &self.city {
            Some(CityField::Name(name)) => Some(*name),
            Some(CityField::Record(record)) => record.names.as_ref().and_then(|n| n.en),
            None => None,
        };
        let text = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(Arc::from);
        GeoInfo {
            country,
            region: text(region),
            city: text(city),
        }
    }
}

/// A concurrent map with u64 keys that are already hashes, cleared when it reaches its capacity
/// (cheaper than LRU bookkeeping on every hit; it refills from live traffic).
struct BoundedCache<V> {
    entries: DashMap<u64, V, BuildHasherDefault<PassThroughHasher>>,
    /// Inserts since the last clear: an upper bound of `entries.len()` that is cheap to keep.
    inserted: AtomicUsize,
    capacity: usize,
}

impl<V: Clone> BoundedCache<V> {
    fn new(capacity: usize) -> Self {
        Self {
            entries: DashMap::default(),
            inserted: AtomicUsize::new(0),
            capacity: capacity.max(1),
        }
    }

    fn get(&self, key: u64) -> Option<V> {
        self.entries.get(&key).map(|v| v.clone())
    }

    fn insert(&self, key: u64, value: V) {
        if self.inserted.fetch_add(1, Ordering::Relaxed) >= self.capacity {
            self.entries.clear();
            self.inserted.store(1, Ordering::Relaxed);
        }
        self.entries.insert(key, value);
    }
}

/// Hashes a `u64` key with one multiply and shift instead of SipHash: the keys are already keyed
/// hashes (addresses) or record offsets, so they need spreading over the bits, not protection
/// against chosen collisions.
#[derive(Default)]
struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        let x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 29);
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    /// The real database: `GEOIP_TEST_DB`, else where `.ci/test` and the docs put it. Under
    /// `CI=true` a missing database fails the test; elsewhere the test is skipped with a reason.
    fn test_db() -> Option<GeoDb> {
        let path = std::env::var_os("GEOIP_TEST_DB").map_or_else(
            || PathBuf::from("/var/tmp/ecomdash-geoip/geoip.mmdb"),
            PathBuf::from,
        );
        if !path.exists() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "geoip test database {} missing under CI: run engine/scripts/fetch-geoip.sh {}",
                path.display(),
                path.parent().unwrap().display()
            );
            eprintln!(
                "skipped: no geoip database at {} (run engine/scripts/fetch-geoip.sh {} or set GEOIP_TEST_DB)",
                path.display(),
                path.parent().unwrap().display()
            );
            return None;
        }
        Some(GeoDb::open(&path).unwrap())
    }

    fn country(db: &GeoDb, ip: &str) -> Option<String> {
        db.lookup(ip.parse().unwrap())
            .and_then(|info| info.country.as_deref().map(str::to_owned))
    }

    #[test]
    fn public_addresses_resolve_to_their_country() {
        let Some(db) = test_db() else { return };
        // networks whose operators have not moved country in decades (anycast services such as
        // Google's IPv6 DNS are avoided: DB-IP places 2001:4860:4860::8888 in CA)
        let cases = [
            ("8.8.8.8", "US"),                   // Google Public DNS
            ("193.0.6.139", "NL"),               // RIPE NCC, Amsterdam
            ("2001:67c:2e8:22::c100:68b", "NL"), // RIPE NCC over IPv6
            ("133.11.0.1", "JP"),                // University of Tokyo
            ("2001:200::1", "JP"),               // WIDE project
            ("2001:620::1", "CH"),               // SWITCH, the Swiss research network
            ("::ffff:8.8.8.8", "US"),            // IPv4-mapped IPv6 is the IPv4 address
        ];
        for (ip, expected) in cases {
            assert_eq!(country(&db, ip).as_deref(), Some(expected), "{ip}");
            // the second lookup is a cache hit with the same answer
            assert_eq!(country(&db, ip).as_deref(), Some(expected), "{ip} cached");
            let uncached = db.lookup_uncached(ip.parse().unwrap()).unwrap().unwrap();
            assert_eq!(uncached.country.as_deref(), Some(expected), "{ip} uncached");
        }
        // the DB-IP country database has no region or city
        let info = db.lookup("8.8.8.8".parse().unwrap()).unwrap();
        assert_eq!((info.region.clone(), info.city.clone()), (None, None));
    }

    #[test]
    fn private_and_loopback_addresses_have_no_country() {
        let Some(db) = test_db() else { return };
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "203.0.113.9",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "2001:db8::1",
            "::ffff:192.168.1.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!is_public(ip.to_canonical()), "{ip}");
            assert_eq!(db.lookup(ip), None, "{ip}");
        }
        assert!(is_public("8.8.8.8".parse().unwrap()));
        assert!(is_public("2a00:1450::1".parse().unwrap()));
    }

    #[test]
    fn missing_and_corrupt_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.mmdb");
        let err = GeoDb::open(&missing).unwrap_err();
        assert!(matches!(err, GeoError::Read { .. }), "{err}");
        assert!(err.to_string().contains("nope.mmdb"), "{err}");

        let garbage = dir.path().join("garbage.mmdb");
        std::fs::write(&garbage, b"this is not a maxmind database").unwrap();
        let err = GeoDb::open(&garbage).unwrap_err();
        assert!(matches!(err, GeoError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("garbage.mmdb"), "{err}");

        // a configured path must exist; the default one may be absent (geo off)
        assert!(open_configured(Some(&missing), dir.path()).is_err());
        assert!(open_configured(None, dir.path()).unwrap().is_none());
        assert!(open_configured(Some(Path::new("")), dir.path())
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_truncated_database_is_rejected() {
        let Some(db) = test_db() else { return };
        let bytes = std::fs::read(db.path()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        // the tree without the data section and metadata
        let cut = dir.path().join("cut.mmdb");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        assert!(GeoDb::open(&cut).is_err());
        // the default file in a data dir is used when present
        std::fs::write(dir.path().join(DEFAULT_GEOIP_FILE_NAME), &bytes).unwrap();
        let db = open_configured(None, dir.path()).unwrap().unwrap();
        assert_eq!(country(&db, "8.8.8.8").as_deref(), Some("US"));
    }

    #[test]
    fn bounded_cache_clears_when_full() {
        let cache = BoundedCache::new(2);
        cache.insert(1, 1);
        cache.insert(2, 2);
        assert_eq!((cache.get(1), cache.get(2)), (Some(1), Some(2)));
        cache.insert(3, 3);
        assert_eq!((cache.get(1), cache.get(3)), (None, Some(3)));
    }
}
