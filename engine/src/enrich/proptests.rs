//! Property tests: every enrichment parser takes any input without panicking, and the scrubbers
//! borrow exactly when they change nothing and are idempotent.

use std::borrow::Cow;

use proptest::prelude::*;

use super::{classify_referrer, parse_page_url, parse_user_agent, scrub_text, scrub_url};

/// Strings made of the characters URL, e-mail and card parsing care about, plus some non-ASCII.
fn urlish() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("https://".to_owned()),
        Just("http://".to_owned()),
        Just("www.".to_owned()),
        Just("@".to_owned()),
        Just("%40".to_owned()),
        Just("%".to_owned()),
        Just("?".to_owned()),
        Just("#".to_owned()),
        Just("&".to_owned()),
        Just("=".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(":".to_owned()),
        Just("/".to_owned()),
        Just(".".to_owned()),
        Just("-".to_owned()),
        Just(" ".to_owned()),
        Just("4111111111111111".to_owned()),
        Just("email=".to_owned()),
        Just("utm_source=".to_owned()),
        Just("é".to_owned()),
        Just("ü".to_owned()),
        "[a-z0-9]{1,6}",
    ];
    proptest::collection::vec(pieces, 0..24).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(input in urlish(), other in any::<String>()) {
        for text in [&input, &other] {
            if let Ok(page) = parse_page_url(text) {
                prop_assert!(!page.path.is_empty());
                let _ = classify_referrer(Some(text), &page.hostname, page.query);
            }
            let _ = classify_referrer(Some(text), "shop.example", text);
            let _ = parse_user_agent(text);
        }
    }

    #[test]
    fn scrubbers_borrow_only_when_unchanged_and_are_idempotent(input in urlish()) {
        for scrub in [scrub_text as fn(&str) -> Cow<'_, str>, scrub_url] {
            let once = scrub(&input);
            match &once {
                Cow::Borrowed(b) => prop_assert_eq!(*b, input.as_str()),
                Cow::Owned(o) => prop_assert_ne!(o, &input),
            }
            let twice = scrub(&once);
            prop_assert_eq!(twice.as_ref(), once.as_ref());
        }
    }
}
