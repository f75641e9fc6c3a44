//! Decoding request bodies into wire types, with errors that name the offending field.
//!
//! The decoder never panics on any input (a property test feeds it arbitrary bytes) and never
//! allocates more than the body's size bounds.

use std::fmt;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::error::Category;
use serde_json::value::RawValue;

use crate::error::{ErrorCode, ErrorDetail};
use crate::event::WireEvent;
use crate::limits::MAX_BATCH_EVENTS;
use crate::text::Text;

/// `POST /api/v1/analytics/track/batch` before its events are decoded one by one, so one bad
/// event rejects only itself.
#[derive(Debug)]
pub struct BatchRequest<'a> {
    pub api_key: Option<Text<'a>>,
    /// The raw JSON of each event, in order.
    pub events: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct BatchWire<'a> {
    #[serde(borrow, default)]
    api_key: Option<Text<'a>>,
    #[serde(borrow)]
    events: BoundedEvents<'a>,
}

/// The `events` array, keeping at most `MAX_BATCH_EVENTS` and remembering whether there were more.
struct BoundedEvents<'a> {
    events: Vec<&'a RawValue>,
    too_many: bool,
}

struct BoundedEventsVisitor;

impl<'de> Visitor<'de> for BoundedEventsVisitor {
    type Value = BoundedEvents<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BoundedEvents<'de>, A::Error> {
        let mut events = Vec::with_capacity(seq.size_hint().unwrap_or(16).min(MAX_BATCH_EVENTS));
        let mut too_many = false;
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            if events.len() < MAX_BATCH_EVENTS {
                events.push(raw);
            } else {
                too_many = true;
            }
        }
        Ok(BoundedEvents { events, too_many })
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for BoundedEvents<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<BoundedEvents<'a>, D::Error> {
        deserializer.deserialize_seq(BoundedEventsVisitor)
    }
}

/// Decodes one event (the body of `track/event`, one batch entry or one import line).
pub fn decode_event(json: &[u8]) -> Result<WireEvent<'_>, ErrorDetail> {
    // Fast path: plain serde_json, reading valid UTF-8 as `str` (one validation pass over the
    // body instead of one per borrowed string: ~1,700 of an import line's ~9,000 decode
    // instructions); only a failure pays for tracking the field path, so errors are always
    // the tracked decoder's. (Each branch returns the event it decoded directly: the event is
    // several hundred bytes, and an intermediate `Option` copied it twice more per line.)
    if let Ok(text) = std::str::from_utf8(json) {
        if let Ok(event) = serde_json::from_str::<WireEvent<'_>>(text) {
            return Ok(event);
        }
    } else if let Ok(event) = serde_json::from_slice::<WireEvent<'_>>(json) {
        return Ok(event);
    }
    decode_event_tracked(json)
}

/// [`decode_event`] without its fast path: the field path of a failure is tracked.
fn decode_event_tracked(json: &[u8]) -> Result<WireEvent<'_>, ErrorDetail> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let event: WireEvent<'_> =
        serde_path_to_error::deserialize(&mut deserializer).map_err(map_json_error)?;
    deserializer
        .end()
        .map_err(|e| ErrorDetail::new(ErrorCode::InvalidJson, strip_position(&e)))?;
    Ok(event)
}

/// Decodes the envelope of a batch. Fails with `batch_too_large` past `MAX_BATCH_EVENTS` events
/// and with `invalid_field` (`events`) when the batch is empty.
pub fn decode_batch(json: &[u8]) -> Result<BatchRequest<'_>, ErrorDetail> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let wire: BatchWire<'_> =
        serde_path_to_error::deserialize(&mut deserializer).map_err(map_json_error)?;
    deserializer
        .end()
        .map_err(|e| ErrorDetail::new(ErrorCode::InvalidJson, strip_position(&e)))?;
    if wire.events.too_many {
        return Err(ErrorDetail {
            code: ErrorCode::BatchTooLarge,
            field: Some("events".to_owned()),
            message: format!("a batch holds at most {MAX_BATCH_EVENTS} events"),
        });
    }
    if wire.events.events.is_empty() {
        return Err(ErrorDetail::field(
            "events",
            "a batch needs at least one event",
        ));
    }
    Ok(BatchRequest {
        api_key: wire.api_key,
        events: wire.events.events,
    })
}

/// A batch body with its events decoded one by one: `events[i]` is event `i` or why it is not
/// one, so one bad event rejects only itself.
#[derive(Debug)]
pub struct DecodedBatch<'a> {
    pub api_key: Option<Text<'a>>,
    pub events: Vec<Result<WireEvent<'a>, ErrorDetail>>,
}

/// Decodes a whole batch body: the envelope errors of [`decode_batch`], then each event.
///
/// A well-formed batch (the common case) is decoded in one pass, straight into its events; only
/// a batch that fails that pass is decoded again envelope first, event by event, to say which
/// events are bad and why.
pub fn decode_batch_events(json: &[u8]) -> Result<DecodedBatch<'_>, ErrorDetail> {
    // As in `decode_event`: valid UTF-8 is checked once for the whole body and read as `str`,
    // instead of once per borrowed string.
    let whole = match std::str::from_utf8(json) {
        Ok(text) => serde_json::from_str::<WholeBatch<'_>>(text).ok(),
        Err(_) => None,
    };
    if let Some(whole) = whole {
        if !whole.events.0.is_empty() {
            return Ok(DecodedBatch {
                api_key: whole.api_key,
                events: whole.events.0,
            });
        }
    }
    decode_batch_each(json)
}

/// [`decode_batch_events`] without its one-pass fast path: the envelope, then each event.
fn decode_batch_each(json: &[u8]) -> Result<DecodedBatch<'_>, ErrorDetail> {
    let request = decode_batch(json)?;
    Ok(DecodedBatch {
        api_key: request.api_key,
        events: request
            .events
            .iter()
            .map(|raw| decode_event(raw.get().as_bytes()))
            .collect(),
    })
}

/// The one-pass form of a batch: every event decodes, and there are at most `MAX_BATCH_EVENTS`.
#[derive(Deserialize)]
struct WholeBatch<'a> {
    #[serde(borrow, default)]
    api_key: Option<Text<'a>>,
    #[serde(borrow)]
    events: WholeEvents<'a>,
}

struct WholeEvents<'a>(Vec<Result<WireEvent<'a>, ErrorDetail>>);

struct WholeEventsVisitor;

impl<'de> Visitor<'de> for WholeEventsVisitor {
    type Value = WholeEvents<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WholeEvents<'de>, A::Error> {
        // serde_json gives no size hint; growing from 16 to 128 copied each several-hundred-byte
        // event up to three times (~600 instructions per event of a batch of 100)
        let mut events = Vec::with_capacity(
            seq.size_hint()
                .unwrap_or(MAX_BATCH_EVENTS)
                .min(MAX_BATCH_EVENTS),
        );
        while let Some(event) = seq.next_element::<WireEvent<'de>>()? {
            if events.len() == MAX_BATCH_EVENTS {
                return Err(serde::de::Error::custom("too many events"));
            }
            events.push(Ok(event));
        }
        Ok(WholeEvents(events))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for WholeEvents<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<WholeEvents<'a>, D::Error> {
        deserializer.deserialize_seq(WholeEventsVisitor)
    }
}

/// serde_json's message without its " at line L column C" suffix.
fn strip_position(err: &serde_json::Error) -> String {
    let message = err.to_string();
    match message.rfind(" at line ") {
        Some(pos) => message[..pos].to_owned(),
        None => message,
    }
}

fn map_json_error(err: serde_path_to_error::Error<serde_json::Error>) -> ErrorDetail {
    let path = err.path().to_string();
    let inner = err.inner();
    let message = strip_position(inner);
    match inner.classify() {
        Category::Io | Category::Syntax | Category::Eof => ErrorDetail::new(
            ErrorCode::InvalidJson,
            format!("body is not valid json: {message}"),
        ),
        Category::Data => {
            let at_root = path.is_empty() || path == ".";
            // "missing field `url`" is reported at the parent's path; name the field itself.
            if let Some(missing) = missing_field_name(&message) {
                let field = if at_root {
                    missing.to_owned()
                } else {
                    format!("{path}.{missing}")
                };
                return ErrorDetail::field(field, format!("{missing} is required"));
            }
            if at_root {
                ErrorDetail::new(ErrorCode::InvalidJson, message)
            } else {
                ErrorDetail::field(path, message)
            }
        }
    }
}

fn missing_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    let end = rest.find('`')?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_gives_the_tracked_decoders_answer() {
        let lines: [&[u8]; 8] = [
            br#"{"type":"pageview","url":"https://shop.example/a?q=1","ts":1767225000000,"props":{"k":"v","n":1.5}}"#,
            br#"{"type":"pageview","url":"https://shop.example/\u00e9t\u00e9","title":"caf\u00e9 \"x\"","ts":1}"#,
            "{\"type\":\"pageview\",\"url\":\"https://shop.example/\u{e9}\",\"title\":\"\u{1f600}\"}".as_bytes(),
            b"{\"type\":\"pageview\",\"url\":\"https://shop.example/\xff\"}",
            br#"{"type":"pageview","url":"https://shop.example/","title":"\ud800"}"#,
            br#"{"type":"pageview","url":5}"#,
            br#"{"type":"pageview","url":"https://shop.example/"} trailing"#,
            b"not json",
        ];
        same_answers(&lines, decode_event, decode_event_tracked);
    }

    /// `fast` and `slow` give the same answer (as printed) for every input.
    fn same_answers<T: fmt::Debug>(
        inputs: &[&'static [u8]],
        fast: impl Fn(&'static [u8]) -> T,
        slow: impl Fn(&'static [u8]) -> T,
    ) {
        for &input in inputs {
            assert_eq!(
                format!("{:?}", fast(input)),
                format!("{:?}", slow(input)),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn the_one_pass_batch_gives_the_event_by_event_answer() {
        let bodies: [&[u8]; 9] = [
            br#"{"api_key":"k","events":[{"type":"pageview","url":"https://shop.example/a","props":{"k":"v"}},{"type":"click","url":"https://shop.example/b"}]}"#,
            br#"{"events":[{"type":"pageview","url":"https://shop.example/\u00e9t\u00e9","title":"caf\u00e9 \"x\""}]}"#,
            "{\"events\":[{\"type\":\"pageview\",\"url\":\"https://shop.example/\u{e9}\",\"title\":\"\u{1f600}\"}]}".as_bytes(),
            b"{\"events\":[{\"type\":\"pageview\",\"url\":\"https://shop.example/\"},{\"type\":\"pageview\",\"url\":\"https://shop.example/\xff\"}]}",
            br#"{"events":[{"type":"pageview","url":"https://shop.example/","title":"\ud800"},{"type":"pageview","url":"https://shop.example/"}]}"#,
            br#"{"events":[{"type":"pageview","url":5},{"type":"pageview","url":"https://shop.example/"}]}"#,
            br#"{"events":[]}"#,
            br#"{"events":[{"type":"pageview","url":"https://shop.example/"}]} trailing"#,
            b"not json",
        ];
        same_answers(&bodies, decode_batch_events, decode_batch_each);
    }
}
