//! Page URL → hostname, path and UTM parameters.
//!
//! A small hand parser for the absolute `http(s)` URLs the tracker sends: it borrows from the
//! input wherever it can (the hostname is only copied when it has upper-case letters, UTM values
//! only when they are percent-encoded), so parsing a typical URL allocates nothing. It is not a
//! general URL parser: no IDNA, no path normalisation, no relative references.

use std::borrow::Cow;

use super::referrer::CampaignSignals;
use super::scan::{find_any, find_byte, find_either};

/// Longest URL accepted, in bytes (matches the wire limit on `url`).
pub const MAX_URL_BYTES: usize = 2048;
/// Longest hostname accepted, in bytes (the DNS limit).
pub const MAX_HOSTNAME_BYTES: usize = 253;
/// Paths longer than this are truncated (on a character boundary) before they are stored.
pub const MAX_PATH_BYTES: usize = 1024;
/// UTM values longer than this are truncated (on a character boundary) before they are stored.
pub const MAX_UTM_VALUE_BYTES: usize = 256;

/// Why a page URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("url is longer than {MAX_URL_BYTES} bytes")]
    TooLong,
    #[error("url must be absolute and start with http:// or https://")]
    NotHttp,
    #[error("url has no hostname")]
    EmptyHost,
    #[error("url hostname is longer than {MAX_HOSTNAME_BYTES} bytes")]
    HostTooLong,
    #[error("url hostname contains invalid characters")]
    InvalidHost,
}

/// The five UTM campaign parameters, percent-decoded and truncated to [`MAX_UTM_VALUE_BYTES`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Utm<'a> {
    pub source: Option<Cow<'a, str>>,
    pub medium: Option<Cow<'a, str>>,
    pub campaign: Option<Cow<'a, str>>,
    pub term: Option<Cow<'a, str>>,
    pub content: Option<Cow<'a, str>>,
}

/// The parts of a page URL that are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageUrl<'a> {
    /// Lower-cased hostname without port or user info (a leading `www.` is kept: it is the
    /// page's real host; see [`strip_www`] for comparisons).
    pub hostname: Cow<'a, str>,
    /// Path without query or fragment, `/` when empty, truncated to [`MAX_PATH_BYTES`].
    pub path: &'a str,
    /// Raw query string without the `?` (empty when absent).
    pub query: &'a str,
    pub utm: Utm<'a>,
    /// What the query says about the visit's source, for [`super::referrer::classify_referrer_with`] (read in
    /// the same pass as the UTM values).
    pub campaign: CampaignSignals<'a>,
}

/// Parses an absolute `http`/`https` page URL.
pub fn parse_page_url(url: &str) -> Result<PageUrl<'_>, UrlError> {
    if url.len() > MAX_URL_BYTES {
        return Err(UrlError::TooLong);
    }
    let parts = split_url(url)?;
    let mut utm = Utm::default();
    let mut campaign = CampaignSignals::default();
    for (name, value) in query_pairs(parts.query) {
        campaign.observe(name, value);
        let slot = match name {
            "utm_source" => &mut utm.source,
            "utm_medium" => &mut utm.medium,
            "utm_campaign" => &mut utm.campaign,
            "utm_term" => &mut utm.term,
            "utm_content" => &mut utm.content,
            _ => continue,
        };
        if slot.is_none() && !value.is_empty() {
            *slot = Some(truncate_cow(percent_decode(value), MAX_UTM_VALUE_BYTES));
        }
    }
    campaign.finish();
    Ok(PageUrl {
        hostname: parts.host,
        path: truncate_str(parts.path, MAX_PATH_BYTES),
        query: parts.query,
        utm,
        campaign,
    })
}

/// The raw pieces of an absolute URL, borrowed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlParts<'a> {
    pub host: Cow<'a, str>,
    pub path: &'a str,
    pub query: &'a str,
}

/// Splits `scheme://[userinfo@]host[:port]/path?query#fragment`. Only `http` and `https`.
///
/// Word-at-a-time searches ([`super::scan`]) for the authority's end, the path's end and the
/// query's end, and one pass over the host for its allowed bytes and upper-case letters: this
/// runs for the page URL and the referrer of every event.
pub(crate) fn split_url(url: &str) -> Result<UrlParts<'_>, UrlError> {
    let url = trim_whitespace(url);
    let rest = strip_prefix_ignore_case(url, "https://")
        .or_else(|| strip_prefix_ignore_case(url, "http://"))
        .ok_or(UrlError::NotHttp)?;
    let authority_end = find_any(rest.as_bytes(), [b'/', b'?', b'#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let after = &rest[authority_end..];
    // user info is dropped: it may hold credentials
    let host_port = match find_byte(authority.as_bytes(), b'@') {
        Some(_) => authority.rsplit_once('@').map_or(authority, |(_, h)| h),
        None => authority,
    };
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        let end = v6.find(']').ok_or(UrlError::InvalidHost)?;
        &host_port[..end + 2]
    } else {
        find_byte(host_port.as_bytes(), b':').map_or(host_port, |colon| &host_port[..colon])
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return Err(UrlError::EmptyHost);
    }
    if host.len() > MAX_HOSTNAME_BYTES {
        return Err(UrlError::HostTooLong);
    }
    let mut valid = true;
    let mut upper = false;
    for &byte in host.as_bytes() {
        valid &= HOST_BYTES[usize::from(byte)];
        upper |= byte.wrapping_sub(b'A') < 26;
    }
    if !valid {
        return Err(UrlError::InvalidHost);
    }
    // the path ends at the first `?` or `#`; the query, if any, at the first `#` after it
    let (path, query) = match find_either(after.as_bytes(), b'?', b'#') {
        Some(i) if after.as_bytes()[i] == b'?' => {
            let query = &after[i + 1..];
            let query_end = find_byte(query.as_bytes(), b'#').unwrap_or(query.len());
            (&after[..i], &query[..query_end])
        }
        Some(i) => (&after[..i], ""),
        None => (after, ""),
    };
    Ok(UrlParts {
        host: if upper {
            Cow::Owned(host.to_ascii_lowercase())
        } else {
            Cow::Borrowed(host)
        },
        path: if path.is_empty() { "/" } else { path },
        query,
    })
}

/// The bytes a hostname may have: ASCII letters and digits, `.`, `-`, `_`, and `[`, `]`, `:`
/// for IPv6 literals.
const HOST_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] =
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':');
        byte += 1;
    }
    table
};

/// `str::trim`, without decoding characters when both ends are plain ASCII (they nearly always
/// are).
pub(crate) fn trim_whitespace(input: &str) -> &str {
    let plain = |byte: Option<&u8>| {
        byte.is_some_and(|&b| b < 0x80 && !matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' '))
    };
    let bytes = input.as_bytes();
    if plain(bytes.first()) && plain(bytes.last()) {
        input
    } else {
        input.trim()
    }
}

/// Iterates `name=value` pairs of a raw query string (no decoding; empty pairs skipped).
pub fn query_pairs(query: &str) -> QueryPairs<'_> {
    QueryPairs { rest: query }
}

/// The iterator of [`query_pairs`].
#[derive(Debug, Clone)]
pub struct QueryPairs<'a> {
    rest: &'a str,
}

impl<'a> Iterator for QueryPairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        while !self.rest.is_empty() {
            let end = find_byte(self.rest.as_bytes(), b'&').unwrap_or(self.rest.len());
            let pair = &self.rest[..end];
            self.rest = self.rest.get(end + 1..).unwrap_or("");
            if pair.is_empty() {
                continue;
            }
            return Some(match find_byte(pair.as_bytes(), b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, ""),
            });
        }
        None
    }
}

/// Removes one leading `www.` (hosts are already lower-case).
pub fn strip_www(host: &str) -> &str {
    host.strip_prefix("www.").unwrap_or(host)
}

/// Decodes `%XX` escapes and `+` (as space); borrows when there is nothing to decode. Invalid
/// escapes are kept literally and invalid UTF-8 is replaced with U+FFFD.
pub fn percent_decode(input: &str) -> Cow<'_, str> {
    if !needs_percent_decode(input.as_bytes()) {
        return Cow::Borrowed(input);
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex_value(bytes.get(i + 1)), hex_value(bytes.get(i + 2))) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(error) => Cow::Owned(String::from_utf8_lossy(error.as_bytes()).into_owned()),
    }
}

/// Whether [`percent_decode`] would change `input` (it has a `%` or a `+`).
pub(crate) fn needs_percent_decode(input: &[u8]) -> bool {
    let mut found = false;
    for &byte in input {
        found |= byte == b'%' || byte == b'+';
    }
    found
}

fn hex_value(byte: Option<&u8>) -> Option<u8> {
    match byte? {
        b @ b'0'..=b'9' => Some(b - b'0'),
        b @ b'a'..=b'f' => Some(b - b'a' + 10),
        b @ b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Lower-cases ASCII letters, borrowing when there are none to change.
pub(crate) fn lowercase_ascii(input: &str) -> Cow<'_, str> {
    if input.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(input.to_ascii_lowercase())
    } else {
        Cow::Borrowed(input)
    }
}

fn strip_prefix_ignore_case<'a>(input: &'a str, prefix: &str) -> Option<&'a str> {
    let head = input.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &input[prefix.len()..])
}

/// Truncates to at most `max_bytes`, on a character boundary.
pub fn truncate_str(input: &str, max_bytes: usize) -> &str {
    if input.len() <= max_bytes {
        return input;
    }
    let mut end = max_bytes;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    &input[..end]
}

fn truncate_cow(input: Cow<'_, str>, max_bytes: usize) -> Cow<'_, str> {
    match input {
        Cow::Borrowed(s) => Cow::Borrowed(truncate_str(s, max_bytes)),
        Cow::Owned(mut s) => {
            let keep = truncate_str(&s, max_bytes).len();
            s.truncate(keep);
            Cow::Owned(s)
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_path_and_utm() {
        let url = parse_page_url(
            "https://Shop.Example/p/shoes?utm_source=google&utm_medium=cpc&utm_campaign=black%20friday&x=1#top",
        )
        .unwrap();
        assert_eq!(url.hostname, "shop.example");
        assert_eq!(url.path, "/p/shoes");
        assert_eq!(url.utm.source.as_deref(), Some("google"));
        assert_eq!(url.utm.medium.as_deref(), Some("cpc"));
        assert_eq!(url.utm.campaign.as_deref(), Some("black friday"));
        assert_eq!(url.utm.term, None);
        assert_eq!(
            url.query,
            "utm_source=google&utm_medium=cpc&utm_campaign=black%20friday&x=1"
        );
    }

    #[test]
    fn borrows_when_nothing_to_change() {
        let url = parse_page_url("https://shop.example/a?utm_source=news").unwrap();
        assert!(matches!(url.hostname, Cow::Borrowed(_)));
        assert!(matches!(url.utm.source, Some(Cow::Borrowed(_))));
    }

    #[test]
    fn strips_port_userinfo_and_trailing_dot() {
        let url = parse_page_url("http://user:secret@shop.example.:8080?q=1").unwrap();
        assert_eq!(url.hostname, "shop.example");
        assert_eq!(url.path, "/");
        assert_eq!(url.query, "q=1");
        let v6 = parse_page_url("http://[::1]:8000/x").unwrap();
        assert_eq!(v6.hostname, "[::1]");
        assert_eq!(v6.path, "/x");
    }

    #[test]
    fn refuses_bad_urls() {
        assert_eq!(parse_page_url("/relative"), Err(UrlError::NotHttp));
        assert_eq!(parse_page_url("ftp://x.example/"), Err(UrlError::NotHttp));
        assert_eq!(parse_page_url("https:///path"), Err(UrlError::EmptyHost));
        assert_eq!(
            parse_page_url("https://a b.example/"),
            Err(UrlError::InvalidHost)
        );
        let long = format!("https://x.example/{}", "a".repeat(MAX_URL_BYTES));
        assert_eq!(parse_page_url(&long), Err(UrlError::TooLong));
    }

    #[test]
    fn truncates_long_path_and_utm_on_char_boundary() {
        let path = "é".repeat(MAX_PATH_BYTES / 2 + 10);
        let url = format!("https://x.example/{path}?utm_term={}", "ü".repeat(200));
        let parsed = parse_page_url(&url).unwrap();
        assert!(parsed.path.len() <= MAX_PATH_BYTES);
        let term = parsed.utm.term.unwrap();
        assert!(term.len() <= MAX_UTM_VALUE_BYTES && !term.is_empty());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
    }

    #[test]
    fn first_utm_value_wins_and_empty_is_none() {
        let url =
            parse_page_url("https://x.example/?utm_source=&utm_source=a&utm_source=b").unwrap();
        assert_eq!(url.utm.source.as_deref(), Some("a"));
    }
}
