#![expect(clippy::unwrap_used)]

use std::borrow::Cow;

use proptest::prelude::*;

use crate::limits::*;
use crate::*;

const NOW_MS: i64 = 1_767_225_600_000;

fn live() -> ValidateOptions {
    ValidateOptions {
        now_ms: NOW_MS,
        check_ts_window: true,
    }
}

const FULL_EVENT: &str = r#"{
  "type": "ecommerce",
  "name": "add_to_cart",
  "url": "https://shop.example/p/shoes?utm_source=google",
  "referrer": "https://www.google.com/",
  "title": "Cool Shoes",
  "ts": 1767225600123,
  "event_id": "0193a5e2-aaaa",
  "session_id": "s1", "visitor_id": "v1",
  "user_id": "user_789",
  "screen": {"w": 1920, "h": 1080}, "viewport": {"w": 1280, "h": 720}, "lang": "en-US",
  "props": {"source": "homepage", "n": 3, "ok": true, "none": null},
  "ecommerce": {"product_id": "prod_123", "product_name": "Cool Shoes", "product_price": 99.99,
                "product_quantity": 1, "order_id": "order_456", "order_value": 199.99,
                "order_currency": "USD", "order_items": [{"product_id": "prod_123", "quantity": 2, "price": 99.99}]},
  "vitals": {"lcp": 1200.5, "inp": 120, "fid": 8, "cls": 0.02, "ttfb": 180, "fcp": 900},
  "click": {"x": 0.42, "y": 1234, "selector": "button#buy"},
  "scroll_depth": 75,
  "error": {"message": "boom", "source": "app.js", "line": 10}
}"#;

#[test]
fn design_example_decodes_validates_and_round_trips() {
    let event = decode_event(FULL_EVENT.as_bytes()).unwrap();
    assert_eq!(event.event_type, EventType::Ecommerce);
    assert_eq!(event.effective_name(), "add_to_cart");
    assert_eq!(event.screen, Some(Dimensions { w: 1920, h: 1080 }));
    assert_eq!(
        event
            .ecommerce
            .as_ref()
            .unwrap()
            .order_items
            .as_ref()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(event.props.as_ref().unwrap().0.len(), 4);
    assert_eq!(event.props.as_ref().unwrap().0[1].1, PropValue::Number(3.0));
    validate_event(&event, live()).unwrap();
    let json = serde_json::to_string(&event).unwrap();
    let again = decode_event(json.as_bytes()).unwrap();
    assert_eq!(again, event);
}

#[test]
fn unescaped_strings_are_borrowed_and_escaped_ones_owned() {
    let event =
        decode_event(br#"{"type":"pageview","url":"https://a.example/","title":"say \"hi\""}"#)
            .unwrap();
    assert!(matches!(event.url.0, Cow::Borrowed(_)));
    assert_eq!(event.title.as_deref(), Some("say \"hi\""));
    assert_eq!(event.effective_name(), "pageview");
}

#[test]
fn missing_and_mistyped_fields_are_named() {
    let err = decode_event(br#"{"type":"pageview"}"#).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidField);
    assert_eq!(err.field.as_deref(), Some("url"));

    let err = decode_event(br#"{"type":"pageview","url":"https://a/","screen":{"w":"x","h":1}}"#)
        .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("screen.w"));

    let err =
        decode_event(br#"{"type":"pageview","url":"https://a/","screen":{"w":1}}"#).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("screen.h"));

    let err = decode_event(br#"{"type":"nope","url":"https://a/"}"#).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("type"));

    let err = decode_event(br#"{"type":"custom","url":"https://a/","props":{"x":{"nested":1}}}"#)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidField);
    assert!(err.field.as_deref().unwrap().starts_with("props"), "{err}");

    let err =
        decode_event(br#"{"type":"ecommerce","url":"https://a/","ecommerce":{"order_items":[{},{"quantity":-1}]}}"#)
            .unwrap_err();
    assert_eq!(
        err.field.as_deref(),
        Some("ecommerce.order_items[1].quantity")
    );
}

#[test]
fn malformed_json_is_invalid_json() {
    for body in [
        &b"{"[..],
        b"",
        b"not json",
        b"[]",
        b"{\"type\":\"pageview\",\"url\":\"https://a/\"} trailing",
    ] {
        let err = decode_event(body).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidJson, "{body:?}: {err}");
        assert_eq!(err.field, None);
    }
}

#[test]
fn batch_envelope_limits() {
    let one = r#"{"type":"pageview","url":"https://a.example/"}"#;
    let body = format!(
        r#"{{"api_key":"k","events":[{}]}}"#,
        vec![one; MAX_BATCH_EVENTS].join(",")
    );
    let batch = decode_batch(body.as_bytes()).unwrap();
    assert_eq!(batch.events.len(), MAX_BATCH_EVENTS);
    assert_eq!(batch.api_key.as_deref(), Some("k"));

    let body = format!(
        r#"{{"events":[{}]}}"#,
        vec![one; MAX_BATCH_EVENTS + 1].join(",")
    );
    let err = decode_batch(body.as_bytes()).unwrap_err();
    assert_eq!(err.code, ErrorCode::BatchTooLarge);
    assert_eq!(err.code.http_status(), 413);

    let err = decode_batch(br#"{"events":[]}"#).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("events"));
    let err = decode_batch(br#"{"api_key":"k"}"#).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("events"));
}

#[test]
fn batch_errors_carry_the_event_index() {
    let body = br#"{"events":[{"type":"pageview","url":"https://a/"},{"type":"pageview","url":"https://a/"},{"type":"pageview","url":"https://a/"},{"type":"pageview"}]}"#;
    let batch = decode_batch(body).unwrap();
    let results: Vec<_> = batch
        .events
        .iter()
        .enumerate()
        .map(|(i, raw)| decode_event(raw.get().as_bytes()).map_err(|e| e.in_batch(i)))
        .collect();
    assert!(results[..3].iter().all(Result::is_ok));
    let err = results[3].as_ref().unwrap_err();
    assert_eq!(err.field.as_deref(), Some("events[3].url"));
    let json = serde_json::to_value(ErrorBody { error: err.clone() }).unwrap();
    assert_eq!(json["error"]["code"], "invalid_field");
    assert_eq!(json["error"]["field"], "events[3].url");
}

fn event_with(f: impl FnOnce(&mut WireEvent<'static>)) -> WireEvent<'static> {
    let mut event = WireEvent {
        url: Text::from("https://shop.example/"),
        ..WireEvent::default()
    };
    f(&mut event);
    event
}

fn field_of(event: &WireEvent<'_>, options: ValidateOptions) -> Option<String> {
    validate_event(event, options).err().and_then(|e| e.field)
}

#[test]
fn validation_names_the_field() {
    let cases: Vec<(WireEvent<'static>, &str)> = vec![
        (event_with(|e| e.url = Text::from("ftp://x/")), "url"),
        (
            event_with(|e| e.url = Text::from(format!("https://a/{}", "x".repeat(MAX_URL_BYTES)))),
            "url",
        ),
        (event_with(|e| e.event_type = EventType::Custom), "name"),
        (event_with(|e| e.name = Some(Text::from(""))), "name"),
        (
            event_with(|e| e.ts = Some(NOW_MS - MAX_TS_PAST_MS - 1)),
            "ts",
        ),
        (
            event_with(|e| e.ts = Some(NOW_MS + MAX_TS_FUTURE_MS + 1)),
            "ts",
        ),
        (
            event_with(|e| e.event_id = Some(Text::from("x".repeat(MAX_ID_BYTES + 1)))),
            "event_id",
        ),
        (
            event_with(|e| {
                e.screen = Some(Dimensions {
                    w: 1,
                    h: MAX_SCREEN_PX + 1,
                })
            }),
            "screen.h",
        ),
        (event_with(|e| e.scroll_depth = Some(101)), "scroll_depth"),
        (
            event_with(|e| {
                e.click = Some(Click {
                    x: Some(1.5),
                    ..Click::default()
                })
            }),
            "click.x",
        ),
        (
            event_with(|e| {
                e.vitals = Some(Vitals {
                    cls: Some(-1.0),
                    ..Vitals::default()
                })
            }),
            "vitals.cls",
        ),
        (event_with(|e| e.ip = Some(Text::from("not an ip"))), "ip"),
        (
            event_with(|e| {
                e.props = Some(Props(
                    (0..=MAX_PROPS)
                        .map(|i| (Text::from(format!("k{i}")), PropValue::Null))
                        .collect(),
                ))
            }),
            "props",
        ),
        (
            event_with(|e| {
                e.props = Some(Props(vec![(
                    Text::from("big"),
                    PropValue::Text(Text::from("x".repeat(MAX_PROP_VALUE_BYTES + 1))),
                )]))
            }),
            "props.big",
        ),
        (
            event_with(|e| {
                e.ecommerce = Some(Ecommerce {
                    order_currency: Some(Text::from("US")),
                    ..Ecommerce::default()
                })
            }),
            "ecommerce.order_currency",
        ),
        (
            event_with(|e| {
                e.ecommerce = Some(Ecommerce {
                    order_items: Some(vec![
                        OrderItem::default(),
                        OrderItem {
                            price: Some(-1.0),
                            ..OrderItem::default()
                        },
                    ]),
                    ..Ecommerce::default()
                })
            }),
            "ecommerce.order_items[1].price",
        ),
    ];
    for (event, field) in cases {
        assert_eq!(
            field_of(&event, live()).as_deref(),
            Some(field),
            "{event:?}"
        );
    }
}

#[test]
fn timestamp_window_edges_and_import_trust() {
    let at = |ts| event_with(|e| e.ts = Some(ts));
    assert!(validate_event(&at(NOW_MS - MAX_TS_PAST_MS), live()).is_ok());
    assert!(validate_event(&at(NOW_MS + MAX_TS_FUTURE_MS), live()).is_ok());
    let import = ValidateOptions {
        now_ms: NOW_MS,
        check_ts_window: false,
    };
    assert!(validate_event(&at(NOW_MS - 365 * 86_400_000), import).is_ok());
    assert_eq!(field_of(&at(-1), import).as_deref(), Some("ts"));
}

#[test]
fn error_codes_serialize_as_their_names_and_map_to_design_statuses() {
    for (code, status) in [
        (ErrorCode::InvalidField, 400),
        (ErrorCode::InvalidApiKey, 401),
        (ErrorCode::BodyTooLarge, 413),
        (ErrorCode::RateLimited, 429),
        (ErrorCode::Overloaded, 503),
        (ErrorCode::StorageFull, 507),
    ] {
        assert_eq!(code.http_status(), status);
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_event(&bytes);
        let _ = decode_batch(&bytes);
    }

    #[test]
    fn json_shaped_noise_never_panics(body in r#"\{("(type|url|ts|props|screen|events|ecommerce|click)":(1|-1|"pageview"|"https://a/"|\{\}|\[\]|null|\{"w":1\}|1e400|"x")[,]?){0,8}\}"#) {
        if let Ok(event) = decode_event(body.as_bytes()) {
            let _ = validate_event(&event, live());
        }
        let _ = decode_batch(body.as_bytes());
    }
}
