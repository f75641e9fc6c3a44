//! Tests with real User-Agent strings of current browsers, crawlers and tools.

use std::sync::Arc;

use super::*;
use crate::enrich::bot::{bot_reason, HeaderEvidence};

struct Expected {
    ua: &'static str,
    browser: &'static str,
    version: &'static str,
    os: &'static str,
    os_version: &'static str,
    device: DeviceClass,
    bot: Option<BotReason>,
}

const fn human(
    ua: &'static str,
    browser: &'static str,
    version: &'static str,
    os: &'static str,
    os_version: &'static str,
    device: DeviceClass,
) -> Expected {
    Expected {
        ua,
        browser,
        version,
        os,
        os_version,
        device,
        bot: None,
    }
}

const fn bot(
    ua: &'static str,
    browser: &'static str,
    version: &'static str,
    reason: BotReason,
) -> Expected {
    Expected {
        ua,
        browser,
        version,
        os: "",
        os_version: "",
        device: DeviceClass::Bot,
        bot: Some(reason),
    }
}

const CHROME_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

const CASES: &[Expected] = &[
    human(CHROME_WINDOWS, "Chrome", "131", "Windows", "10", DeviceClass::Desktop),
    human(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Chrome", "131", "macOS", "10.15", DeviceClass::Desktop,
    ),
    human(
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        "Chrome", "131", "Android", "10", DeviceClass::Mobile,
    ),
    human(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Firefox", "133", "Windows", "10", DeviceClass::Desktop,
    ),
    human(
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Firefox", "133", "Linux", "", DeviceClass::Desktop,
    ),
    human(
        "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
        "Firefox", "133", "Android", "14", DeviceClass::Mobile,
    ),
    human(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Safari", "18.1", "macOS", "10.15", DeviceClass::Desktop,
    ),
    human(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Safari", "18.1", "iOS", "18.1", DeviceClass::Mobile,
    ),
    human(
        "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1",
        "Safari", "17.7", "iPadOS", "17.7", DeviceClass::Tablet,
    ),
    human(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
        "Chrome", "131", "iOS", "18.1", DeviceClass::Mobile,
    ),
    human(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "Edge", "131", "Windows", "10", DeviceClass::Desktop,
    ),
    human(
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        "Samsung Internet", "26", "Android", "14", DeviceClass::Mobile,
    ),
    human(
        "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Chrome", "131", "Android", "14", DeviceClass::Tablet,
    ),
    human(
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36",
        "Android WebView", "131", "Android", "14", DeviceClass::Mobile,
    ),
    bot(
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Googlebot", "", BotReason::KnownCrawler,
    ),
    bot(
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Googlebot", "", BotReason::KnownCrawler,
    ),
    bot(
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/131.0.6778.69 Safari/537.36",
        "bingbot", "", BotReason::KnownCrawler,
    ),
    bot("curl/8.5.0", "curl", "8.5", BotReason::UserAgentPattern),
    bot("python-requests/2.32.3", "python-requests", "2.32", BotReason::UserAgentPattern),
    bot("Go-http-client/2.0", "Go-http-client", "2", BotReason::UserAgentPattern),
    bot(
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "ahref AhrefsBot", "", BotReason::KnownCrawler,
    ),
    bot(
        "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
        "SemrushBot", "7", BotReason::KnownCrawler,
    ),
    bot("", "Unknown", "", BotReason::EmptyUserAgent),
];

#[test]
fn real_user_agents() {
    for case in CASES {
        let info = parse_user_agent(case.ua);
        assert_eq!(&*info.browser, case.browser, "browser of {}", case.ua);
        assert_eq!(
            &*info.browser_version, case.version,
            "browser version of {}",
            case.ua
        );
        if case.bot.is_none() {
            assert_eq!(&*info.os, case.os, "os of {}", case.ua);
            assert_eq!(
                &*info.os_version, case.os_version,
                "os version of {}",
                case.ua
            );
        }
        assert_eq!(info.device, case.device, "device of {}", case.ua);
        assert_eq!(info.bot, case.bot, "bot verdict of {}", case.ua);
    }
}

#[test]
fn headless_chrome_is_a_bot_that_woothee_calls_chrome() {
    let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36";
    let info = parse_user_agent(ua);
    assert_eq!(&*info.browser, "Chrome");
    assert_eq!(&*info.os, "Linux");
    assert_eq!(info.device, DeviceClass::Bot);
    assert_eq!(info.bot, Some(BotReason::UserAgentPattern));
}

#[test]
fn real_browser_without_accept_language_is_a_bot() {
    let info = parse_user_agent(CHROME_WINDOWS);
    assert_eq!(info.bot, None);
    assert_eq!(
        bot_reason(
            info.bot,
            HeaderEvidence::Http {
                accept_language: None
            }
        ),
        Some(BotReason::MissingAcceptLanguage)
    );
    assert_eq!(
        bot_reason(
            info.bot,
            HeaderEvidence::Http {
                accept_language: Some("de-DE,de;q=0.9")
            }
        ),
        None
    );
}

#[test]
fn versions_keep_major_and_nonzero_minor() {
    assert_eq!(major_minor("131.0.6778.85"), "131");
    assert_eq!(major_minor("17.4.1"), "17.4");
    assert_eq!(major_minor("10_15_7"), "10.15");
    assert_eq!(major_minor("18"), "18");
    assert_eq!(major_minor("UNKNOWN"), "");
    assert_eq!(major_minor(""), "");
    assert_eq!(major_minor("7~bl"), "7");
}

#[test]
fn cache_hit_returns_the_same_allocation() {
    let cache = UserAgentCache::default();
    let first = cache.get(CHROME_WINDOWS);
    let second = cache.get(CHROME_WINDOWS);
    assert!(
        Arc::ptr_eq(&first, &second),
        "a hit must not parse or allocate again"
    );
    assert_eq!(cache.len(), 1);
    assert_eq!(*first, parse_user_agent(CHROME_WINDOWS));
}

#[test]
fn cache_is_bounded() {
    let capacity = 8;
    let cache = UserAgentCache::with_capacity(capacity);
    for i in 0..100 {
        let _ = cache.get(&format!("agent-{i}/1.0"));
        assert!(
            cache.len() <= capacity,
            "len {} after {} inserts",
            cache.len(),
            i + 1
        );
    }
    // still answers correctly after clears
    assert_eq!(&*cache.get("curl/8.5.0").browser, "curl");
}

#[test]
fn long_user_agents_are_truncated_to_the_same_key() {
    let cache = UserAgentCache::default();
    let long = format!("{CHROME_WINDOWS}{}", "x".repeat(2 * MAX_USER_AGENT_BYTES));
    let longer = format!("{long}yyyy");
    assert!(Arc::ptr_eq(&cache.get(&long), &cache.get(&longer)));
    assert_eq!(cache.len(), 1);
}

#[test]
fn cache_is_shared_across_threads() {
    let cache = Arc::new(UserAgentCache::default());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                for case in CASES {
                    assert_eq!(&*cache.get(case.ua).browser, case.browser);
                }
            })
        })
        .collect();
    for handle in handles {
        assert!(handle.join().is_ok());
    }
    assert_eq!(cache.len(), CASES.len());
}
