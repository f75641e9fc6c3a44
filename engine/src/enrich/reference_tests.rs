//! The fast paths of URL splitting, query pairs and PII scrubbing against straightforward
//! reference versions (the code they replaced): same answers on random URL-like input, so the
//! speed-ups change no stored value and no redaction.

use std::borrow::Cow;

use proptest::prelude::*;

use super::pii::{
    is_sensitive_param_name, redact, scrub_text, scrub_url, SENSITIVE_PARAM_FRAGMENTS,
    SENSITIVE_PARAM_NAMES,
};
use super::referrer::{classify_referrer, classify_referrer_with, CampaignSignals};
use super::url::{
    lowercase_ascii, parse_page_url, percent_decode, query_pairs, split_url, UrlError, UrlParts,
    MAX_HOSTNAME_BYTES,
};

fn reference_query_pairs(query: &str) -> Vec<(&str, &str)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect()
}

fn reference_is_sensitive(name: &str) -> bool {
    let decoded = percent_decode(name);
    let name = decoded.trim();
    if name.len() > 64 {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    SENSITIVE_PARAM_NAMES.contains(&lower.as_str())
        || SENSITIVE_PARAM_FRAGMENTS.iter().any(|f| lower.contains(f))
}

fn reference_split_url(url: &str) -> Result<UrlParts<'_>, UrlError> {
    let url = url.trim();
    let rest = ["https://", "http://"]
        .iter()
        .find_map(|prefix| {
            let head = url.get(..prefix.len())?;
            head.eq_ignore_ascii_case(prefix)
                .then(|| &url[prefix.len()..])
        })
        .ok_or(UrlError::NotHttp)?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let after = &rest[authority_end..];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        let end = v6.find(']').ok_or(UrlError::InvalidHost)?;
        &host_port[..end + 2]
    } else {
        host_port.split_once(':').map_or(host_port, |(h, _)| h)
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return Err(UrlError::EmptyHost);
    }
    if host.len() > MAX_HOSTNAME_BYTES {
        return Err(UrlError::HostTooLong);
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':'))
    {
        return Err(UrlError::InvalidHost);
    }
    let without_fragment = after.split_once('#').map_or(after, |(a, _)| a);
    let (path, query) = without_fragment
        .split_once('?')
        .unwrap_or((without_fragment, ""));
    Ok(UrlParts {
        host: lowercase_ascii(host),
        path: if path.is_empty() { "/" } else { path },
        query,
    })
}

fn reference_filter_params(params: &str) -> Cow<'_, str> {
    if !reference_query_pairs(params)
        .iter()
        .any(|(name, _)| reference_is_sensitive(name))
    {
        return Cow::Borrowed(params);
    }
    let kept: Vec<&str> = params
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !reference_is_sensitive(pair.split_once('=').map_or(pair, |(n, _)| n)))
        .collect();
    Cow::Owned(kept.join("&"))
}

fn reference_scrub_url(url: &str) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((head, fragment)) => (head, Some(fragment)),
        None => (url, None),
    };
    let (base, query) = match before_fragment.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (before_fragment, None),
    };
    let query = query.map(reference_filter_params);
    let fragment = fragment.map(|fragment| match fragment.split_once('?') {
        Some((route, params)) => {
            let route = if route.contains('=') {
                reference_filter_params(route)
            } else {
                Cow::Borrowed(route)
            };
            match (route, reference_filter_params(params)) {
                (Cow::Borrowed(_), Cow::Borrowed(_)) => Cow::Borrowed(fragment),
                (route, params) if params.is_empty() => Cow::Owned(route.into_owned()),
                (route, params) => Cow::Owned(format!("{route}?{params}")),
            }
        }
        None if fragment.contains('=') => reference_filter_params(fragment),
        None => Cow::Borrowed(fragment),
    });
    let changed = matches!(query, Some(Cow::Owned(_))) || matches!(fragment, Some(Cow::Owned(_)));
    let filtered = if changed {
        let mut out = base.to_owned();
        if let Some(query) = query.filter(|q| !q.is_empty()) {
            out.push('?');
            out.push_str(&query);
        }
        if let Some(fragment) = fragment.filter(|f| !f.is_empty()) {
            out.push('#');
            out.push_str(&fragment);
        }
        out
    } else {
        url.to_owned()
    };
    redact(&filtered).into_owned()
}

/// URL-like strings with what the fast paths special-case: case, whitespace at the ends,
/// percent escapes (`%00`, `%20`), long names, user info, ports, IPv6, fragments, non-ASCII.
fn urlish() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("https://".to_owned()),
        Just("HTTP://".to_owned()),
        Just("www.".to_owned()),
        Just("Shop.Example".to_owned()),
        Just("@".to_owned()),
        Just("%40".to_owned()),
        Just("%00".to_owned()),
        Just("%20".to_owned()),
        Just("%".to_owned()),
        Just("+".to_owned()),
        Just("?".to_owned()),
        Just("#".to_owned()),
        Just("&".to_owned()),
        Just("=".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(":".to_owned()),
        Just("/".to_owned()),
        Just(".".to_owned()),
        Just(" ".to_owned()),
        Just("\t".to_owned()),
        Just("\u{a0}".to_owned()),
        Just("4111111111111111".to_owned()),
        Just("1234567".to_owned()),
        Just("EMAIL".to_owned()),
        Just("cc".to_owned()),
        Just("Reset_Token".to_owned()),
        Just("client-secret".to_owned()),
        Just("PassWord".to_owned()),
        Just("utm_source".to_owned()),
        Just("a_very_long_parameter_name_that_goes_past_the_sixteen_byte_block".to_owned()),
        Just("é".to_owned()),
        "[a-zA-Z0-9_-]{1,8}",
    ];
    proptest::collection::vec(pieces, 0..28).prop_map(|parts| parts.concat())
}

fn parts(result: Result<UrlParts<'_>, UrlError>) -> Result<(String, String, String), UrlError> {
    result.map(|p| (p.host.into_owned(), p.path.to_owned(), p.query.to_owned()))
}

#[test]
fn every_listed_name_and_fragment_is_found_in_any_case() {
    for name in SENSITIVE_PARAM_NAMES
        .iter()
        .chain(SENSITIVE_PARAM_FRAGMENTS)
    {
        for variant in [
            name.to_string(),
            name.to_ascii_uppercase(),
            format!(" {name}"),
        ] {
            assert!(is_sensitive_param_name(&variant), "{variant:?}");
        }
    }
    for name in ["cc\0", "%00cc", "tokeN_x", "x_secre", "passwor", "ssn2"] {
        assert_eq!(
            is_sensitive_param_name(name),
            reference_is_sensitive(name),
            "{name:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn fast_paths_agree_with_the_reference(input in urlish()) {
        prop_assert_eq!(query_pairs(&input).collect::<Vec<_>>(), reference_query_pairs(&input));
        prop_assert_eq!(parts(split_url(&input)), parts(reference_split_url(&input)));
        prop_assert_eq!(scrub_text(&input), redact(&input));
        prop_assert_eq!(scrub_url(&input).into_owned(), reference_scrub_url(&input));
        if let Ok(page) = parse_page_url(&input) {
            // the signals read in the page's pass are those of its query on its own
            prop_assert_eq!(&page.campaign, &CampaignSignals::from_query(page.query));
            for referrer in [None, Some(input.as_str()), Some("https://www.google.com/")] {
                prop_assert_eq!(
                    classify_referrer_with(referrer, &page.hostname, &page.campaign),
                    classify_referrer(referrer, &page.hostname, page.query)
                );
            }
            for (name, _) in query_pairs(page.query) {
                prop_assert_eq!(is_sensitive_param_name(name), reference_is_sensitive(name), "{}", name);
            }
        }
        for name in input.split(['&', '?', '=', '#']) {
            prop_assert_eq!(is_sensitive_param_name(name), reference_is_sensitive(name), "{:?}", name);
        }
    }

    #[test]
    fn sensitive_names_agree_on_any_text(name in "\\PC{0,70}") {
        prop_assert_eq!(is_sensitive_param_name(&name), reference_is_sensitive(&name));
    }
}
