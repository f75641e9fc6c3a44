//! Referrer URL → referrer host and a source class (search, social, email, paid, direct,
//! internal, other).
//!
//! The class is decided in this order, first match wins:
//! 1. **paid**: the page URL has `utm_medium` in [`PAID_MEDIUMS`] or an ad click id in
//!    [`PAID_CLICK_ID_PARAMS`] (note: Facebook also appends `fbclid` to organic links; it is
//!    counted as paid here, as most analytics tools do);
//! 2. **email**: `utm_medium` in [`EMAIL_MEDIUMS`];
//! 3. with a referrer: **internal** when its host equals the page's host (ignoring `www.`),
//!    else the class of a known host ([`EXACT_HOSTS`], then a brand label such as `google` in
//!    `google.co.uk` from [`BRAND_LABELS`]), else **other**;
//! 4. without a referrer: **social** for `utm_medium` in [`SOCIAL_MEDIUMS`], the class of a known
//!    brand named by `utm_source`, **other** for any other `utm_source`, else **direct**.

use std::borrow::Cow;

use super::url::{
    lowercase_ascii, percent_decode, query_pairs, split_url, strip_www, trim_whitespace,
};

/// Where a visit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferrerSource {
    Direct,
    Internal,
    Search,
    Social,
    Email,
    Paid,
    Other,
}

impl ReferrerSource {
    /// The stored name of the class.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Internal => "internal",
            Self::Search => "search",
            Self::Social => "social",
            Self::Email => "email",
            Self::Paid => "paid",
            Self::Other => "other",
        }
    }
}

/// A classified referrer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer<'a> {
    /// Lower-case host without a leading `www.` (for `android-app://` referrers, the app's
    /// package name); `None` when there is no usable referrer.
    pub host: Option<Cow<'a, str>>,
    pub source: ReferrerSource,
}

/// `utm_medium` values (lower case) that mark paid traffic.
pub const PAID_MEDIUMS: &[&str] = &[
    "cpc",
    "ppc",
    "paid",
    "paidsearch",
    "paid_search",
    "paid-search",
    "paidsocial",
    "paid_social",
    "paid-social",
    "cpm",
    "cpv",
    "display",
    "banner",
    "retargeting",
];
/// Ad click id parameters that mark paid traffic.
pub const PAID_CLICK_ID_PARAMS: &[&str] = &[
    "gclid",
    "gbraid",
    "wbraid",
    "dclid",
    "msclkid",
    "fbclid",
    "ttclid",
    "twclid",
    "li_fat_id",
];
/// `utm_medium` values (lower case) that mark e-mail traffic.
pub const EMAIL_MEDIUMS: &[&str] = &["email", "e-mail", "e_mail", "newsletter"];
/// `utm_medium` values (lower case) that mark social traffic when there is no referrer.
pub const SOCIAL_MEDIUMS: &[&str] = &[
    "social",
    "social-network",
    "social_network",
    "social-media",
    "sm",
];

/// Hosts (without `www.`) and Android app packages classified exactly; checked before brands
/// so that `mail.google.com` is e-mail, not search.
pub const EXACT_HOSTS: &[(&str, ReferrerSource)] = &[
    ("mail.google.com", ReferrerSource::Email),
    ("inbox.google.com", ReferrerSource::Email),
    ("outlook.live.com", ReferrerSource::Email),
    ("outlook.office.com", ReferrerSource::Email),
    ("outlook.office365.com", ReferrerSource::Email),
    ("mail.yahoo.com", ReferrerSource::Email),
    ("mail.aol.com", ReferrerSource::Email),
    ("mail.proton.me", ReferrerSource::Email),
    ("mail.zoho.com", ReferrerSource::Email),
    ("app.fastmail.com", ReferrerSource::Email),
    ("mail.yandex.ru", ReferrerSource::Email),
    ("e.mail.ru", ReferrerSource::Email),
    ("com.google.android.gm", ReferrerSource::Email),
    ("search.brave.com", ReferrerSource::Search),
    ("startpage.com", ReferrerSource::Search),
    ("qwant.com", ReferrerSource::Search),
    ("kagi.com", ReferrerSource::Search),
    ("ya.ru", ReferrerSource::Search),
    (
        "com.google.android.googlequicksearchbox",
        ReferrerSource::Search,
    ),
    ("t.co", ReferrerSource::Social),
    ("x.com", ReferrerSource::Social),
    ("lnkd.in", ReferrerSource::Social),
    ("news.ycombinator.com", ReferrerSource::Social),
    ("threads.net", ReferrerSource::Social),
    ("bsky.app", ReferrerSource::Social),
    ("vk.com", ReferrerSource::Social),
    ("t.me", ReferrerSource::Social),
    ("com.facebook.katana", ReferrerSource::Social),
    ("com.instagram.android", ReferrerSource::Social),
    ("com.linkedin.android", ReferrerSource::Social),
    ("com.reddit.frontpage", ReferrerSource::Social),
    ("com.twitter.android", ReferrerSource::Social),
    ("com.zhiliaoapp.musically", ReferrerSource::Social),
];

/// Brand labels matched anywhere in a host when only a short public suffix follows them
/// (`google.com`, `google.co.uk`, `news.google.de`, `l.facebook.com`, `youtu.be`).
pub const BRAND_LABELS: &[(&str, ReferrerSource)] = &[
    ("google", ReferrerSource::Search),
    ("bing", ReferrerSource::Search),
    ("duckduckgo", ReferrerSource::Search),
    ("yahoo", ReferrerSource::Search),
    ("baidu", ReferrerSource::Search),
    ("yandex", ReferrerSource::Search),
    ("ecosia", ReferrerSource::Search),
    ("naver", ReferrerSource::Search),
    ("seznam", ReferrerSource::Search),
    ("facebook", ReferrerSource::Social),
    ("fb", ReferrerSource::Social),
    ("instagram", ReferrerSource::Social),
    ("twitter", ReferrerSource::Social),
    ("linkedin", ReferrerSource::Social),
    ("reddit", ReferrerSource::Social),
    ("pinterest", ReferrerSource::Social),
    ("tiktok", ReferrerSource::Social),
    ("youtube", ReferrerSource::Social),
    ("youtu", ReferrerSource::Social),
    ("snapchat", ReferrerSource::Social),
    ("whatsapp", ReferrerSource::Social),
    ("telegram", ReferrerSource::Social),
    ("tumblr", ReferrerSource::Social),
    ("quora", ReferrerSource::Social),
    ("discord", ReferrerSource::Social),
];

/// Longest label that still counts as part of a public suffix after a brand (`com`, `co`, `uk`).
const MAX_SUFFIX_LABEL_BYTES: usize = 3;
/// Most labels after a brand (`co.uk`, `com.br`).
const MAX_SUFFIX_LABELS: usize = 2;

/// Classifies a visit's referrer. `page_host` is the (lower-case) host of the page and
/// `page_query` its raw query string, as produced by [`super::url::parse_page_url`].
pub fn classify_referrer<'a>(
    referrer: Option<&'a str>,
    page_host: &str,
    page_query: &str,
) -> Referrer<'a> {
    classify_referrer_with(
        referrer,
        page_host,
        &CampaignSignals::from_query(page_query),
    )
}

/// [`classify_referrer`] with the page's campaign signals already read (as
/// [`super::url::parse_page_url`] does in its one pass over the query).
pub fn classify_referrer_with<'a>(
    referrer: Option<&'a str>,
    page_host: &str,
    campaign: &CampaignSignals<'_>,
) -> Referrer<'a> {
    let host = referrer
        .map(trim_whitespace)
        .filter(|r| !r.is_empty())
        .map(referrer_host);
    let host = host.flatten();
    let source = if campaign.paid {
        ReferrerSource::Paid
    } else if campaign.medium_in(EMAIL_MEDIUMS) {
        ReferrerSource::Email
    } else if let Some(host) = &host {
        if host.as_ref() == strip_www(page_host) {
            ReferrerSource::Internal
        } else {
            classify_host(host).unwrap_or(ReferrerSource::Other)
        }
    } else if referrer.is_some_and(|r| !r.trim().is_empty()) {
        // present but not a URL we understand
        ReferrerSource::Other
    } else if campaign.medium_in(SOCIAL_MEDIUMS) {
        ReferrerSource::Social
    } else if let Some(source) = &campaign.source {
        classify_host(source).unwrap_or(ReferrerSource::Other)
    } else {
        ReferrerSource::Direct
    };
    Referrer { host, source }
}

/// The class of a known host (lower case, without `www.`), if it is in the tables.
pub fn classify_host(host: &str) -> Option<ReferrerSource> {
    if let Some((_, source)) = EXACT_HOSTS.iter().find(|(known, _)| *known == host) {
        return Some(*source);
    }
    let mut rest = host;
    loop {
        let (label, suffix) = rest.split_once('.').unwrap_or((rest, ""));
        // a bare brand (`utm_source=google`) has an empty suffix
        if is_short_suffix(suffix) {
            if let Some((_, source)) = BRAND_LABELS.iter().find(|(brand, _)| *brand == label) {
                return Some(*source);
            }
        }
        if suffix.is_empty() {
            return None;
        }
        rest = suffix;
    }
}

fn is_short_suffix(suffix: &str) -> bool {
    if suffix.is_empty() {
        return true;
    }
    let mut count = 0;
    for label in suffix.split('.') {
        count += 1;
        if label.is_empty() || label.len() > MAX_SUFFIX_LABEL_BYTES || count > MAX_SUFFIX_LABELS {
            return false;
        }
    }
    true
}

/// The referrer's host: lower case without `www.` for http(s), the package for `android-app://`.
fn referrer_host(referrer: &str) -> Option<Cow<'_, str>> {
    if let Some(rest) = referrer.strip_prefix("android-app://") {
        let package = rest.split(['/', '?', '#']).next().unwrap_or_default();
        return (!package.is_empty()).then(|| lowercase_ascii(package));
    }
    let parts = split_url(referrer).ok()?;
    Some(match parts.host {
        Cow::Borrowed(host) => Cow::Borrowed(strip_www(host)),
        Cow::Owned(host) => Cow::Owned(strip_www(&host).to_owned()),
    })
}

/// Campaign facts read from the page's query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignSignals<'a> {
    medium: Option<Cow<'a, str>>,
    source: Option<Cow<'a, str>>,
    paid: bool,
}

impl<'a> CampaignSignals<'a> {
    /// The signals of a raw query string.
    pub fn from_query(query: &'a str) -> Self {
        let mut signals = Self::default();
        for (name, value) in query_pairs(query) {
            signals.observe(name, value);
        }
        signals.finish();
        signals
    }

    /// Takes one `name=value` pair of the query, in order.
    pub(crate) fn observe(&mut self, name: &str, value: &'a str) {
        if value.is_empty() {
            return;
        }
        if name == "utm_medium" && self.medium.is_none() {
            self.medium = Some(lowercase_owned(percent_decode(value)));
        } else if name == "utm_source" && self.source.is_none() {
            self.source = Some(lowercase_owned(percent_decode(value)));
        } else if PAID_CLICK_ID_PARAMS.contains(&name) {
            self.paid = true;
        }
    }

    /// After the last pair.
    pub(crate) fn finish(&mut self) {
        if self.medium_in(PAID_MEDIUMS) {
            self.paid = true;
        }
    }

    fn medium_in(&self, list: &[&str]) -> bool {
        self.medium
            .as_deref()
            .is_some_and(|m| list.contains(&m.trim()))
    }
}

fn lowercase_owned(value: Cow<'_, str>) -> Cow<'_, str> {
    match value {
        Cow::Borrowed(v) => lowercase_ascii(v),
        Cow::Owned(v) => Cow::Owned(v.to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(referrer: &str, query: &str) -> ReferrerSource {
        classify_referrer(Some(referrer), "shop.example", query).source
    }

    #[test]
    fn search_engines() {
        for r in [
            "https://www.google.com/",
            "https://www.google.co.uk/search?q=shoes",
            "https://google.de/",
            "https://www.bing.com/search?q=x",
            "https://duckduckgo.com/",
            "https://search.yahoo.com/",
            "https://www.baidu.com/s?wd=x",
            "https://yandex.ru/search",
            "https://www.ecosia.org/search?q=x",
            "android-app://com.google.android.googlequicksearchbox/",
        ] {
            assert_eq!(source(r, ""), ReferrerSource::Search, "{r}");
        }
    }

    #[test]
    fn social_networks() {
        for r in [
            "https://l.facebook.com/",
            "https://www.instagram.com/",
            "https://t.co/abc",
            "https://x.com/someone",
            "https://twitter.com/",
            "https://www.linkedin.com/feed/",
            "https://old.reddit.com/r/x",
            "https://www.pinterest.co.uk/",
            "https://www.tiktok.com/",
            "https://m.youtube.com/watch?v=1",
            "https://youtu.be/abc",
            "android-app://com.facebook.katana",
        ] {
            assert_eq!(source(r, ""), ReferrerSource::Social, "{r}");
        }
    }

    #[test]
    fn mail_clients_are_email_not_search() {
        for r in [
            "https://mail.google.com/mail/u/0/",
            "https://outlook.live.com/mail/",
            "https://mail.yahoo.com/",
            "android-app://com.google.android.gm/",
        ] {
            assert_eq!(source(r, ""), ReferrerSource::Email, "{r}");
        }
        assert_eq!(
            classify_referrer(None, "shop.example", "utm_medium=Email").source,
            ReferrerSource::Email
        );
    }

    #[test]
    fn paid_wins_over_referrer() {
        assert_eq!(
            source("https://www.google.com/", "gclid=abc"),
            ReferrerSource::Paid
        );
        assert_eq!(
            source("https://www.facebook.com/", "fbclid=abc"),
            ReferrerSource::Paid
        );
        assert_eq!(
            source(
                "https://www.google.com/",
                "utm_source=google&utm_medium=cpc"
            ),
            ReferrerSource::Paid
        );
        assert_eq!(
            classify_referrer(None, "shop.example", "utm_medium=PPC").source,
            ReferrerSource::Paid
        );
        assert_eq!(source("", "utm_medium=paid_social"), ReferrerSource::Paid);
    }

    #[test]
    fn direct_internal_and_other() {
        let direct = classify_referrer(None, "shop.example", "");
        assert_eq!(
            direct,
            Referrer {
                host: None,
                source: ReferrerSource::Direct
            }
        );
        assert_eq!(source("   ", ""), ReferrerSource::Direct);
        let internal = classify_referrer(Some("https://WWW.Shop.example/cart"), "shop.example", "");
        assert_eq!(internal.source, ReferrerSource::Internal);
        assert_eq!(internal.host.as_deref(), Some("shop.example"));
        let other = classify_referrer(Some("https://www.blog.example/post"), "shop.example", "");
        assert_eq!(other.source, ReferrerSource::Other);
        assert_eq!(other.host.as_deref(), Some("blog.example"));
        assert_eq!(source("not a url", ""), ReferrerSource::Other);
        // brand label followed by a long label is not the brand
        assert_eq!(
            source("https://google.evil.example/", ""),
            ReferrerSource::Other
        );
        assert_eq!(
            source("https://googleads.example/", ""),
            ReferrerSource::Other
        );
    }

    #[test]
    fn utm_without_referrer() {
        let q = |query| classify_referrer(None, "shop.example", query).source;
        assert_eq!(q("utm_source=facebook"), ReferrerSource::Social);
        assert_eq!(q("utm_source=Google"), ReferrerSource::Search);
        assert_eq!(q("utm_medium=social&utm_source=x"), ReferrerSource::Social);
        assert_eq!(q("utm_source=partner-site"), ReferrerSource::Other);
    }

    #[test]
    fn host_is_borrowed_when_already_clean() {
        let r = classify_referrer(Some("https://www.google.com/"), "shop.example", "");
        assert!(matches!(r.host, Some(Cow::Borrowed("google.com"))));
    }
}
