//! User-Agent → browser, browser version, OS, OS version, device class, behind a bounded cache.
//!
//! Parsing uses `woothee` (a few microseconds of regex work per string); since a site sees the
//! same few thousand User-Agents over and over, [`UserAgentCache`] keeps parsed results in a
//! sharded concurrent map, and a hit costs one hash lookup and one reference-count increment.
//!
//! Normalisation (what the stored columns contain):
//! * names are woothee's, with a few made clearer: `SamsungBrowser` → `Samsung Internet`,
//!   `Webview` → `Android WebView` / `WebView`, `GSA` → `Google App`, `Mac OSX` → `macOS`,
//!   `iPhone`/`iPod` → `iOS`, `iPad` → `iPadOS`, `Windows 10` → `Windows` with version `10`;
//!   unknown names are `Unknown`, unknown versions empty;
//! * versions keep the major number, plus the minor when it is not `0` (Chrome `131.0.6778.85`
//!   → `131`, Safari `17.4.1` → `17.4`, macOS `10_15_7` → `10.15`), which is what dashboards
//!   group by. Windows 11 still says `Windows NT 10.0`, and Safari on macOS freezes the OS at
//!   `10.15.7`; neither can be told apart from the User-Agent alone;
//! * device: woothee `pc` → desktop, `smartphone`/`mobilephone` → mobile (iPad, and Android
//!   without `Mobile`, → tablet), crawler or a bot pattern → bot, anything else → other. iPads
//!   that request the desktop site send a macOS User-Agent and are counted as desktop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

use super::bot::{user_agent_bot_reason, BotReason};
use super::url::truncate_str;

/// Distinct User-Agents kept in the cache. A busy shop sees a few thousand distinct UAs a day;
/// at about 0.5 KiB per entry the cache stays under ~10 MiB. When full, it is cleared and
/// refills from live traffic (cheaper and simpler than LRU bookkeeping on every hit).
pub const USER_AGENT_CACHE_CAPACITY: usize = 16_384;
/// User-Agents are cut to this many bytes before parsing and caching: real ones are 100-300
/// bytes, and a bounded key keeps the cache's memory bounded.
pub const MAX_USER_AGENT_BYTES: usize = 512;

/// The kind of device an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceClass {
    Desktop,
    Mobile,
    Tablet,
    Bot,
    Other,
}

impl DeviceClass {
    /// The stored name of the class.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Desktop => "desktop",
            Self::Mobile => "mobile",
            Self::Tablet => "tablet",
            Self::Bot => "bot",
            Self::Other => "other",
        }
    }
}

/// What a User-Agent says, ready to store. Cloning an `Arc<UserAgentInfo>` is the cost of a
/// cache hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgentInfo {
    pub browser: Arc<str>,
    pub browser_version: Arc<str>,
    pub os: Arc<str>,
    pub os_version: Arc<str>,
    pub device: DeviceClass,
    /// `device.as_str()`, shared, so handing it on costs no allocation.
    pub device_name: Arc<str>,
    /// The bot verdict from the User-Agent alone (see [`super::bot`] for header heuristics).
    pub bot: Option<BotReason>,
}

const UNKNOWN: &str = "Unknown";

/// Parses a User-Agent without the cache.
pub fn parse_user_agent(user_agent: &str) -> UserAgentInfo {
    let user_agent = truncate_str(user_agent, MAX_USER_AGENT_BYTES);
    let parsed = woothee::parser::Parser::new()
        .parse(user_agent)
        .unwrap_or_default();
    let category = parsed.category;
    let bot = user_agent_bot_reason(user_agent, category);
    let os_name = parsed.os;
    let (os, os_version) = normalize_os(os_name, &parsed.os_version);
    let (browser, browser_version) = match parsed.name {
        "SamsungBrowser" => ("Samsung Internet", parsed.version),
        // WebView's `Version/4.0` is frozen; the Chrome version is the real engine version
        "Webview" if os_name == "Android" => (
            "Android WebView",
            token_version(user_agent, "Chrome/").unwrap_or(parsed.version),
        ),
        "Webview" => ("WebView", parsed.version),
        "GSA" => ("Google App", parsed.version),
        "YandexBrowser" => ("Yandex Browser", parsed.version),
        // `Mozilla/5.0 (compatible; SemrushBot/7~bl; ...)`: name the crawler
        "misc crawler" => compatible_token(user_agent).unwrap_or(("misc crawler", "")),
        // tools: name them by their product token (`curl/8.5.0`, `python-requests/2.32.3`)
        "HTTP Library" | "" | "UNKNOWN" => product_token(user_agent).unwrap_or((UNKNOWN, "")),
        name => (name, parsed.version),
    };
    let device = if bot.is_some() {
        DeviceClass::Bot
    } else {
        match category {
            "pc" => DeviceClass::Desktop,
            "smartphone" | "mobilephone" if is_tablet(os_name, user_agent) => DeviceClass::Tablet,
            "smartphone" | "mobilephone" => DeviceClass::Mobile,
            "crawler" => DeviceClass::Bot,
            _ => DeviceClass::Other,
        }
    };
    UserAgentInfo {
        browser: Arc::from(browser),
        browser_version: Arc::from(major_minor(browser_version)),
        os: Arc::from(os),
        os_version: Arc::from(os_version.as_str()),
        device,
        device_name: Arc::from(device.as_str()),
        bot,
    }
}

/// The leading `name/version` token of a non-browser User-Agent (not `Mozilla/5.0`).
fn product_token(user_agent: &str) -> Option<(&str, &str)> {
    let token = user_agent.split_whitespace().next()?;
    let (name, version) = token.split_once('/')?;
    let plausible = !name.is_empty()
        && name != "Mozilla"
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    plausible.then_some((name, version))
}

/// The `name/version` after `compatible; ` (how most crawlers introduce themselves).
fn compatible_token(user_agent: &str) -> Option<(&str, &str)> {
    let start = user_agent.find("compatible; ")? + "compatible; ".len();
    let rest = &user_agent[start..];
    let token = &rest[..rest.find([';', ')', ' ']).unwrap_or(rest.len())];
    let (name, version) = token.split_once('/').unwrap_or((token, ""));
    (!name.is_empty()).then_some((name, version))
}

/// The version digits right after `marker` (`Chrome/`) in the User-Agent.
fn token_version<'a>(user_agent: &'a str, marker: &str) -> Option<&'a str> {
    let start = user_agent.find(marker)? + marker.len();
    let rest = &user_agent[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

fn is_tablet(woothee_os: &str, user_agent: &str) -> bool {
    woothee_os == "iPad"
        || (woothee_os == "Android" && !user_agent.contains("Mobile"))
        || user_agent.contains("Kindle")
        || user_agent.contains("Silk/")
}

/// Maps woothee's OS name and version to the stored (name, version).
fn normalize_os<'a>(os: &'a str, os_version: &str) -> (&'a str, String) {
    let version = if os_version == "UNKNOWN" {
        ""
    } else {
        os_version
    };
    let (name, version): (&str, &str) = match os {
        "Mac OSX" => ("macOS", version),
        "iPhone" | "iPod" => ("iOS", version),
        "iPad" => ("iPadOS", version),
        "" | "UNKNOWN" => (UNKNOWN, version),
        windows if windows.starts_with("Windows ") => {
            let release = windows.trim_start_matches("Windows ");
            let release = if release.contains("UNKNOWN") {
                ""
            } else {
                release
            };
            ("Windows", release)
        }
        other => (other, version),
    };
    (name, major_minor(version))
}

/// `131.0.6778.85` → `131`, `17.4.1` → `17.4`, `10_15_7` → `10.15`, `UNKNOWN` → ``.
fn major_minor(version: &str) -> String {
    if version == "UNKNOWN" {
        return String::new();
    }
    let numeric_end = version
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(version.len());
    let mut parts = version[..numeric_end].split(['.', '_']);
    let major = parts.next().unwrap_or_default();
    match parts.next() {
        Some(minor) if !minor.is_empty() && minor.bytes().any(|b| b != b'0') => {
            format!("{major}.{minor}")
        }
        _ => major.to_owned(),
    }
}

/// A bounded, thread-safe cache of parsed User-Agents. Share it (`Arc<UserAgentCache>`) between
/// all request handlers.
#[derive(Debug)]
pub struct UserAgentCache {
    entries: DashMap<Box<str>, Arc<UserAgentInfo>>,
    /// Inserts since the last clear: an upper bound of `entries.len()` that is cheap to keep.
    inserted: AtomicUsize,
    capacity: usize,
}

impl Default for UserAgentCache {
    fn default() -> Self {
        Self::with_capacity(USER_AGENT_CACHE_CAPACITY)
    }
}

impl UserAgentCache {
    /// A cache holding at most `capacity` distinct User-Agents (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: DashMap::new(),
            inserted: AtomicUsize::new(0),
            capacity: capacity.max(1),
        }
    }

    /// The parsed User-Agent, from the cache or parsed and cached now.
    pub fn get(&self, user_agent: &str) -> Arc<UserAgentInfo> {
        let key = truncate_str(user_agent, MAX_USER_AGENT_BYTES);
        if let Some(hit) = self.entries.get(key) {
            return Arc::clone(hit.value());
        }
        let info = Arc::new(parse_user_agent(key));
        if self.inserted.fetch_add(1, Ordering::Relaxed) >= self.capacity {
            self.entries.clear();
            self.inserted.store(1, Ordering::Relaxed);
        }
        self.entries.insert(Box::from(key), Arc::clone(&info));
        info
    }

    /// Number of cached User-Agents.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
#[path = "user_agent_tests.rs"]
mod tests;
