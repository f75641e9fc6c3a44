//! Cookieless visitor ids from daily rotating salts, and session ids derived from them.
//!
//! `visitor_id = BLAKE3-keyed(salt of the UTC day; site, client IP, User-Agent)`, truncated to
//! 64 bits and shown as 16 hex digits. The salt is 32 random bytes from the OS, one per UTC day.
//! Because salts are random and deleted after rotation, ids cannot be reversed to an IP, nor
//! linked across days.
//!
//! **Yesterday's salt** is kept for [`PREVIOUS_SALT_GRACE_SECS`] after UTC midnight (the session
//! idle timeout) so that a session that is live at midnight can still be found under the id it
//! started with ([`VisitorIds::previous`]); after that it is deleted from memory and disk. So a
//! salt lives at most 24.5 hours.
//!
//! Salts are persisted in [`SALT_FILE_NAME`] inside the data dir (written atomically, mode 0600)
//! so a restart on the same day keeps ids stable; the file only ever holds today's salt and,
//! during the grace period, yesterday's. Time is always passed in (`now_unix_secs`), so tests and
//! imports control the clock. Rotation happens lazily on the first call after midnight (one
//! small fsynced write a day); a daemon that wants that write off its request path can call
//! [`SaltRing::rotate_if_needed`] from a blocking timer task.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use rand::rngs::OsRng;
use rand::RngCore as _;

/// Name of the salt file inside the data dir.
pub const SALT_FILE_NAME: &str = "visitor_salts";
/// Salt length: a full BLAKE3 key.
pub const SALT_BYTES: usize = 32;
/// How long after UTC midnight yesterday's salt is kept: the 30-minute session idle timeout.
pub const PREVIOUS_SALT_GRACE_SECS: u64 = 30 * 60;

const SECONDS_PER_DAY: u64 = 86_400;
const FILE_HEADER: &str = "ecomdash-visitor-salts v1";
/// BLAKE3 `derive_key` context for session ids (fixed forever: changing it changes every id).
const SESSION_ID_CONTEXT: &str = "ecomdash 2026-11 session id v1";

type Salt = [u8; SALT_BYTES];

/// Errors of the salt store.
#[derive(Debug, thiserror::Error)]
pub enum SaltError {
    #[error("cannot {action} salt file {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("salt file {path} is corrupt at line {line}: {reason} (delete it to start new salts)")]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: &'static str,
    },
    #[error("operating system random generator failed: {0}")]
    Random(#[from] rand::Error),
}

/// A cookieless visitor id (64 bits; shown as 16 lower-case hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VisitorId(pub u64);

/// A server-derived session id (64 bits; shown as 16 lower-case hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl fmt::Display for VisitorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The visitor's id under today's salt and, shortly after midnight, under yesterday's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitorIds {
    pub current: VisitorId,
    /// Set only during [`PREVIOUS_SALT_GRACE_SECS`] after UTC midnight: look up a live session
    /// under this id before starting a new one.
    pub previous: Option<VisitorId>,
}

/// The session id of the session a visitor started at `session_start_unix_ms`: deterministic,
/// so a restarted daemon or an import derives the same id for the same session.
pub fn session_id(visitor: VisitorId, session_start_unix_ms: i64) -> SessionId {
    let mut hasher = blake3::Hasher::new_derive_key(SESSION_ID_CONTEXT);
    hasher.update(&visitor.0.to_le_bytes());
    hasher.update(&session_start_unix_ms.to_le_bytes());
    SessionId(first_u64(hasher.finalize().as_bytes()))
}

fn first_u64(bytes: &[u8; 32]) -> u64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(head)
}

/// Inputs up to this many bytes are hashed from one stack buffer with a single
/// `blake3::keyed_hash` call (about twice as fast as the incremental hasher); longer ones stream.
const STACK_HASH_INPUT_BYTES: usize = 768;

/// The visitor id of (site, ip, user agent) under `salt`. Fields are length-prefixed so that no
/// two different inputs hash the same bytes; the IP is hashed in its 16-byte IPv6 form.
fn hash_visitor(salt: &Salt, site: &str, ip: IpAddr, user_agent: &str) -> VisitorId {
    let ip16 = ip16(ip);
    let site_len = (site.len() as u64).to_le_bytes();
    let user_agent_len = (user_agent.len() as u64).to_le_bytes();
    let parts: [&[u8]; 5] = [
        &site_len,
        site.as_bytes(),
        &ip16,
        &user_agent_len,
        user_agent.as_bytes(),
    ];
    let total: usize = parts.iter().map(|part| part.len()).sum();
    if total > STACK_HASH_INPUT_BYTES {
        return hash_visitor_streaming(salt, &parts);
    }
    let mut buffer = [0u8; STACK_HASH_INPUT_BYTES];
    let mut at = 0;
    for part in parts {
        buffer[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    VisitorId(first_u64(
        blake3::keyed_hash(salt, &buffer[..at]).as_bytes(),
    ))
}

fn hash_visitor_streaming(salt: &Salt, parts: &[&[u8]]) -> VisitorId {
    let mut hasher = blake3::Hasher::new_keyed(salt);
    for part in parts {
        hasher.update(part);
    }
    VisitorId(first_u64(hasher.finalize().as_bytes()))
}

fn ip16(ip: IpAddr) -> [u8; 16] {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SaltState {
    /// UTC day number (days since the Unix epoch) of `current`.
    day: u64,
    current: Salt,
    /// The salt of `day - 1`, kept during the grace period only.
    previous: Option<Salt>,
}

impl SaltState {
    /// Whether this state is still right at `now` (no rotation or deletion due).
    fn is_current(&self, now_unix_secs: u64) -> bool {
        let day = now_unix_secs / SECONDS_PER_DAY;
        // a clock that went backwards keeps the newest salt rather than inventing an older one
        day <= self.day && (self.previous.is_none() || !grace_over(self.day, now_unix_secs))
    }
}

fn grace_over(day: u64, now_unix_secs: u64) -> bool {
    now_unix_secs >= day * SECONDS_PER_DAY + PREVIOUS_SALT_GRACE_SECS
}

/// Today's salt (and yesterday's during the grace period), persisted in the data dir.
#[derive(Debug)]
pub struct SaltRing {
    path: PathBuf,
    state: RwLock<SaltState>,
}

impl SaltRing {
    /// Loads the salts from `data_dir` (creating the file when missing), keeping today's salt if
    /// the file has it and deleting any salt that is no longer needed.
    pub fn open(data_dir: &Path, now_unix_secs: u64) -> Result<Self, SaltError> {
        let path = data_dir.join(SALT_FILE_NAME);
        let stored = read_salt_file(&path)?;
        let today = now_unix_secs / SECONDS_PER_DAY;
        let find = |day: u64| {
            stored
                .iter()
                .find(|(d, _)| *d == day)
                .map(|(_, salt)| *salt)
        };
        let state = match find(today) {
            Some(current) => SaltState {
                day: today,
                current,
                previous: find(today.wrapping_sub(1)).filter(|_| !grace_over(today, now_unix_secs)),
            },
            None => SaltState {
                day: today,
                current: random_salt()?,
                previous: find(today.wrapping_sub(1)).filter(|_| !grace_over(today, now_unix_secs)),
            },
        };
        let wanted = state_entries(&state);
        if wanted != stored {
            write_salt_file(&path, &wanted)?;
        }
        Ok(Self {
            path,
            state: RwLock::new(state),
        })
    }

    /// The visitor's id under today's salt (rotating first if the day changed).
    pub fn visitor_id(
        &self,
        now_unix_secs: u64,
        site: &str,
        ip: IpAddr,
        user_agent: &str,
    ) -> Result<VisitorId, SaltError> {
        Ok(self
            .visitor_ids(now_unix_secs, site, ip, user_agent)?
            .current)
    }

    /// The visitor's ids under today's and (during the grace period) yesterday's salt.
    pub fn visitor_ids(
        &self,
        now_unix_secs: u64,
        site: &str,
        ip: IpAddr,
        user_agent: &str,
    ) -> Result<VisitorIds, SaltError> {
        loop {
            {
                let state = self
                    .state
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if state.is_current(now_unix_secs) {
                    return Ok(VisitorIds {
                        current: hash_visitor(&state.current, site, ip, user_agent),
                        previous: state
                            .previous
                            .as_ref()
                            .map(|salt| hash_visitor(salt, site, ip, user_agent)),
                    });
                }
            }
            // rare (once a day): rotate under the write lock, then hash under the read lock
            self.rotate_if_needed(now_unix_secs)?;
        }
    }

    /// Rotates to a new salt after UTC midnight and deletes yesterday's after the grace period,
    /// rewriting the salt file. Returns whether anything changed. Cheap (a read lock) when
    /// nothing is due.
    pub fn rotate_if_needed(&self, now_unix_secs: u64) -> Result<bool, SaltError> {
        {
            let state = self
                .state
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if state.is_current(now_unix_secs) {
                return Ok(false);
            }
        }
        let mut state = self
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.is_current(now_unix_secs) {
            return Ok(false);
        }
        let today = now_unix_secs / SECONDS_PER_DAY;
        let mut next = state.clone();
        if today > next.day {
            next.previous = (today == next.day + 1).then_some(next.current);
            next.current = random_salt()?;
            next.day = today;
        }
        if grace_over(next.day, now_unix_secs) {
            next.previous = None;
        }
        // persist before use: a crash must not bring back a salt that ids were not made with
        write_salt_file(&self.path, &state_entries(&next))?;
        *state = next;
        Ok(true)
    }

    /// The UTC day number the current salt belongs to.
    pub fn current_day(&self) -> u64 {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .day
    }
}

fn random_salt() -> Result<Salt, SaltError> {
    let mut salt = [0u8; SALT_BYTES];
    OsRng.try_fill_bytes(&mut salt)?;
    Ok(salt)
}

fn state_entries(state: &SaltState) -> Vec<(u64, Salt)> {
    let mut entries = vec![(state.day, state.current)];
    if let Some(previous) = state.previous {
        entries.push((state.day - 1, previous));
    }
    entries
}

fn read_salt_file(path: &Path) -> Result<Vec<(u64, Salt)>, SaltError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(SaltError::Io {
                action: "read",
                path: path.to_owned(),
                source,
            })
        }
    };
    let corrupt = |line: usize, reason| SaltError::Corrupt {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut lines = text.lines();
    if lines.next() != Some(FILE_HEADER) {
        return Err(corrupt(1, "unknown header"));
    }
    let mut entries = Vec::new();
    for (index, line) in lines.enumerate() {
        let line_number = index + 2;
        let (day, hex) = line
            .split_once(' ')
            .ok_or_else(|| corrupt(line_number, "expected `day hex`"))?;
        let day = day
            .parse::<u64>()
            .map_err(|_| corrupt(line_number, "bad day number"))?;
        let salt = decode_hex_salt(hex).ok_or_else(|| corrupt(line_number, "bad salt hex"))?;
        entries.push((day, salt));
    }
    Ok(entries)
}

fn decode_hex_salt(hex: &str) -> Option<Salt> {
    let bytes = hex.as_bytes();
    if bytes.len() != SALT_BYTES * 2 {
        return None;
    }
    let mut salt = [0u8; SALT_BYTES];
    for (slot, pair) in salt.iter_mut().zip(bytes.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *slot = u8::from_str_radix(text, 16).ok()?;
    }
    Some(salt)
}

/// Replaces the salt file atomically: temp file, fsync, rename, fsync the directory. Either the
/// old file or the complete new one survives a crash.
fn write_salt_file(path: &Path, entries: &[(u64, Salt)]) -> Result<(), SaltError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| SaltError::Io {
            action,
            path,
            source,
        }
    };
    let mut text = String::with_capacity(FILE_HEADER.len() + entries.len() * 90);
    text.push_str(FILE_HEADER);
    text.push('\n');
    for (day, salt) in entries {
        text.push_str(&day.to_string());
        text.push(' ');
        for byte in salt {
            text.push_str(&format!("{byte:02x}"));
        }
        text.push('\n');
    }
    let temp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp).map_err(io("create", &temp))?;
    file.write_all(text.as_bytes())
        .map_err(io("write", &temp))?;
    file.sync_all().map_err(io("fsync", &temp))?;
    drop(file);
    fs::rename(&temp, path).map_err(io("rename", path))?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync directory of", path))?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "visitor_id_tests.rs"]
mod tests;
