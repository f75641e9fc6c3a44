//! Any bytes through the QUIC frame decoders: they must return an error or a value, never panic,
//! and a decoded batch must validate and re-encode without panicking either.

#![no_main]

use ecomdash_protocol::quic::{decode_batch_frame, decode_reply_frame, encode_batch_frame};
use ecomdash_protocol::{validate_event, ValidateOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_reply_frame(data);
    let Ok(batch) = decode_batch_frame(data) else {
        return;
    };
    let options = ValidateOptions {
        now_ms: 1_767_225_600_000,
        check_ts_window: true,
    };
    let mut events = Vec::new();
    for event in batch.events.into_iter().flatten() {
        let _ = validate_event(&event, options);
        events.push(event);
    }
    let frame = encode_batch_frame(batch.api_key.unwrap_or(""), batch.sequence, &events);
    let again = decode_batch_frame(&frame).expect("re-encoded batch must decode");
    assert_eq!(again.events.len(), events.len());
});
