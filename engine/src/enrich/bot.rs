//! Bot detection: woothee's crawler category, a maintained list of User-Agent patterns, and
//! request-header heuristics.
//!
//! The User-Agent part ([`user_agent_bot_reason`]) depends on the UA string alone and is computed
//! once per distinct UA inside the user-agent cache; the header part ([`bot_reason`]) is per
//! request and costs a few comparisons.
//!
//! Header heuristics only apply to requests that came from a browser-facing HTTP endpoint
//! ([`HeaderEvidence::Http`]): every current browser sends `Accept-Language` with `fetch`,
//! `XMLHttpRequest` and `sendBeacon`, so its absence marks a script. Imports and server-side SDKs
//! pass [`HeaderEvidence::Unavailable`] and are judged by their User-Agent only; a server-side
//! event that forwards no User-Agent is not judged at all (a shop backend is no browser and no
//! bot: see `ClientContext::Server` in `pipeline.rs`).

/// Lower-case substrings of User-Agents that mark automated clients. Maintained by hand: add a
/// pattern when a crawler shows up in real traffic (and a test with its UA).
pub const BOT_UA_PATTERNS: &[&str] = &[
    // generic words used by almost every crawler (Googlebot, Bingbot, AhrefsBot, SemrushBot,
    // YandexBot, DuckDuckBot, Applebot, GPTBot, ClaudeBot, PetalBot, Baiduspider, Bytespider, ...)
    "bot",
    "crawl",
    "spider",
    "slurp",
    "scrapy",
    "archiver",
    // link previews and feed fetchers
    "facebookexternalhit",
    "facebookcatalog",
    "meta-externalagent",
    "whatsapp/",
    "embedly",
    "feedfetcher",
    "mediapartners-google",
    "google-inspectiontool",
    "googleother",
    "chatgpt-user",
    "perplexity-user",
    "anthropic-ai",
    "cohere-ai",
    // automation and headless browsers
    "headless",
    "phantomjs",
    "selenium",
    "webdriver",
    "puppeteer",
    "playwright",
    "lighthouse",
    "pagespeed",
    "gtmetrix",
    "pingdom",
    "uptimerobot",
    "statuscake",
    "site24x7",
    // HTTP libraries and command-line tools
    "curl/",
    "wget/",
    "httpie/",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "go-http-client",
    "java/",
    "okhttp",
    "apache-httpclient",
    "libwww-perl",
    "node-fetch",
    "undici",
    "axios/",
    "postmanruntime",
    "insomnia/",
    "guzzlehttp",
    "php/",
    "ruby",
    "reqwest",
    "hyper/",
    // SEO tools
    "semrush",
    "ahrefs",
    "screaming frog",
    "sitebulb",
    "dataprovider",
];

/// Lower-case substrings of real devices that contain a bot pattern (the Cubot phone brand).
/// Occurrences are ignored before the patterns are checked.
pub const NOT_BOT_UA_PATTERNS: &[&str] = &["cubot"];

/// Why an event was classified as a bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BotReason {
    /// No User-Agent header, or an empty one.
    EmptyUserAgent,
    /// woothee put the User-Agent in its crawler category.
    KnownCrawler,
    /// The User-Agent matched [`BOT_UA_PATTERNS`].
    UserAgentPattern,
    /// A browser-facing request without `Accept-Language`.
    MissingAcceptLanguage,
}

impl BotReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmptyUserAgent => "empty_user_agent",
            Self::KnownCrawler => "known_crawler",
            Self::UserAgentPattern => "user_agent_pattern",
            Self::MissingAcceptLanguage => "missing_accept_language",
        }
    }
}

/// What the request's headers can tell besides the User-Agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderEvidence<'a> {
    /// A request to a browser-facing HTTP endpoint, with its `Accept-Language` header if any.
    Http { accept_language: Option<&'a str> },
    /// Imports and server-side SDKs: no browser headers to judge.
    Unavailable,
}

/// Whether the User-Agent matches [`BOT_UA_PATTERNS`] (case-insensitive).
pub fn matches_bot_pattern(user_agent: &str) -> bool {
    let mut lower = user_agent.to_ascii_lowercase();
    for allowed in NOT_BOT_UA_PATTERNS {
        if lower.contains(allowed) {
            lower = lower.replace(allowed, " ");
        }
    }
    BOT_UA_PATTERNS
        .iter()
        .any(|pattern| lower.contains(pattern))
}

/// The bot verdict that depends on the User-Agent alone (cached per UA). `woothee_category` is
/// woothee's category for it.
pub fn user_agent_bot_reason(user_agent: &str, woothee_category: &str) -> Option<BotReason> {
    if user_agent.trim().is_empty() || user_agent == "-" {
        Some(BotReason::EmptyUserAgent)
    } else if woothee_category == "crawler" {
        Some(BotReason::KnownCrawler)
    } else if matches_bot_pattern(user_agent) {
        Some(BotReason::UserAgentPattern)
    } else {
        None
    }
}

/// The full verdict for one request: the cached User-Agent verdict, then header heuristics.
pub fn bot_reason(
    user_agent_reason: Option<BotReason>,
    headers: HeaderEvidence<'_>,
) -> Option<BotReason> {
    if user_agent_reason.is_some() {
        return user_agent_reason;
    }
    match headers {
        HeaderEvidence::Http { accept_language }
            if accept_language.is_none_or(|v| v.trim().is_empty()) =>
        {
            Some(BotReason::MissingAcceptLanguage)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_catch_tools_and_crawlers() {
        for ua in [
            "curl/8.5.0",
            "Wget/1.21.4",
            "python-requests/2.32.3",
            "Go-http-client/2.0",
            "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
            "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
        ] {
            assert!(matches_bot_pattern(ua), "{ua}");
        }
    }

    #[test]
    fn browsers_and_cubot_phones_are_not_bots() {
        for ua in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Linux; Android 10; CUBOT X19) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        ] {
            assert!(!matches_bot_pattern(ua), "{ua}");
        }
    }

    #[test]
    fn user_agent_reasons_in_order() {
        assert_eq!(
            user_agent_bot_reason("", "UNKNOWN"),
            Some(BotReason::EmptyUserAgent)
        );
        assert_eq!(
            user_agent_bot_reason("  ", "UNKNOWN"),
            Some(BotReason::EmptyUserAgent)
        );
        assert_eq!(
            user_agent_bot_reason("Googlebot/2.1", "crawler"),
            Some(BotReason::KnownCrawler)
        );
        assert_eq!(
            user_agent_bot_reason("curl/8.5.0", "UNKNOWN"),
            Some(BotReason::UserAgentPattern)
        );
        assert_eq!(
            user_agent_bot_reason("Mozilla/5.0 (Windows NT 10.0)", "pc"),
            None
        );
    }

    #[test]
    fn header_heuristics_only_for_http() {
        let missing = HeaderEvidence::Http {
            accept_language: None,
        };
        let blank = HeaderEvidence::Http {
            accept_language: Some(" "),
        };
        let present = HeaderEvidence::Http {
            accept_language: Some("en-US,en;q=0.9"),
        };
        assert_eq!(
            bot_reason(None, missing),
            Some(BotReason::MissingAcceptLanguage)
        );
        assert_eq!(
            bot_reason(None, blank),
            Some(BotReason::MissingAcceptLanguage)
        );
        assert_eq!(bot_reason(None, present), None);
        assert_eq!(bot_reason(None, HeaderEvidence::Unavailable), None);
        assert_eq!(
            bot_reason(Some(BotReason::KnownCrawler), present),
            Some(BotReason::KnownCrawler)
        );
    }
}
