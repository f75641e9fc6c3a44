//! QUIC frame codecs: round trips, and that no byte string makes the decoders panic.

#![expect(clippy::unwrap_used)]

use ecomdash_protocol::quic::{
    decode_batch_frame, decode_reply_frame, encode_ack_frame, encode_batch_frame,
    encode_error_frame, Ack, Reply,
};
use ecomdash_protocol::{decode_event, ErrorCode, ErrorDetail, RejectedEvent};
use proptest::prelude::*;

const FULL: &str = r##"{"type":"ecommerce","name":"purchase","url":"https://shop.example/c?x=1",
 "referrer":"https://www.google.com/","title":"Checkout","ts":1767225600123,"event_id":"e-1",
 "session_id":"s","visitor_id":"v","user_id":"u","screen":{"w":1920,"h":1080},
 "viewport":{"w":1280,"h":720},"lang":"en-US","props":{"a":"x","n":1.5,"b":true,"z":null},
 "ecommerce":{"product_id":"p","product_name":"Shoes","product_price":9.5,"product_quantity":2,
 "order_id":"o","order_value":19.0,"order_currency":"EUR","order_items":[{"product_id":"p","quantity":2,"price":9.5}]},
 "vitals":{"lcp":1.0,"inp":2.0,"fid":3.0,"cls":0.1,"ttfb":4.0,"fcp":5.0},
 "click":{"x":0.5,"y":10.0,"selector":"#b"},"scroll_depth":50,"engagement_ms":1000,
 "error":{"message":"m","source":"s.js","line":3},"user_agent":"curl/8","ip":"203.0.113.1"}"##;

#[test]
fn every_field_survives_a_batch_round_trip() {
    let event = decode_event(FULL.as_bytes()).unwrap();
    let minimal = decode_event(br#"{"type":"pageview","url":"https://a.example/"}"#).unwrap();
    let frame = encode_batch_frame("key", 42, &[event.clone(), minimal.clone()]);
    let batch = decode_batch_frame(&frame).unwrap();
    assert_eq!(batch.api_key, Some("key"));
    assert_eq!(batch.sequence, 42);
    assert_eq!(batch.events.len(), 2);
    assert_eq!(batch.events[0].as_ref().unwrap(), &event);
    assert_eq!(batch.events[1].as_ref().unwrap(), &minimal);
}

#[test]
fn replies_round_trip() {
    let ack = Ack {
        sequence: 7,
        accepted: 3,
        deduplicated: 1,
        rejected: vec![RejectedEvent {
            index: 2,
            error: ErrorDetail::field("events[2].url", "too long"),
        }],
    };
    assert_eq!(
        decode_reply_frame(&encode_ack_frame(&ack)).unwrap(),
        Reply::Ack(ack)
    );
    let error = ErrorDetail::new(ErrorCode::RateLimited, "slow down");
    assert_eq!(
        decode_reply_frame(&encode_error_frame(9, &error, Some(2))).unwrap(),
        Reply::Error {
            sequence: 9,
            error,
            retry_after_secs: Some(2)
        }
    );
}

#[test]
fn wrong_kind_identifier_and_garbage_are_errors() {
    let minimal = decode_event(br#"{"type":"pageview","url":"https://a.example/"}"#).unwrap();
    let mut frame = encode_batch_frame("k", 1, &[minimal]);
    assert!(decode_batch_frame(&[]).is_err());
    assert!(decode_batch_frame(&[1, 2, 3]).is_err());
    frame[0] = 9;
    assert!(decode_batch_frame(&frame).is_err());
    frame[0] = 1;
    frame[5] ^= 0xff; // inside the file identifier
    assert_eq!(
        decode_batch_frame(&frame).unwrap_err().code,
        ErrorCode::InvalidJson
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn corrupted_batches_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let event = decode_event(FULL.as_bytes()).unwrap();
        let mut frame = encode_batch_frame("key", 1, &[event.clone(), event]);
        for (at, byte) in flips {
            let at = at % frame.len();
            frame[at] = byte;
        }
        let _ = decode_batch_frame(&frame);
        let _ = decode_batch_frame(&frame[..cut % frame.len()]);
        let _ = decode_reply_frame(&frame);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_batch_frame(&bytes);
        let _ = decode_reply_frame(&bytes);
    }
}
