//! Request bodies: content types, bounded reading, and where the write key comes from.

use axum::body::Body;
use axum::http::{header, HeaderMap, Uri};
use bytes::{Bytes, BytesMut};
use ecomdash_protocol::ErrorCode;
use futures_util::StreamExt;

use super::error::ApiError;

/// Content types intake accepts. `text/plain` is what `navigator.sendBeacon` sends without a
/// preflight; a missing type is treated as JSON.
pub fn check_content_type(headers: &HeaderMap, ndjson: bool) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    // compared without case, not lower-cased into a new string on every request
    let is = |name: &str| essence.eq_ignore_ascii_case(name);
    let ok = essence.is_empty()
        || is("application/json")
        || is("text/plain")
        || (ndjson && (is("application/x-ndjson") || is("application/ndjson")));
    if ok {
        Ok(())
    } else {
        let essence = essence.to_ascii_lowercase();
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "content type {essence:?} is not accepted; send application/json or text/plain"
            ),
        ))
    }
}

/// Reads the whole body, refusing with 413 as soon as it passes `limit` bytes.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("request body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(4096).min(limit));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|_| ApiError::new(ErrorCode::InvalidJson, "request body could not be read"))?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// The value of `name` in the query string (no percent-decoding: keys are `[a-z0-9_]`).
pub fn query_param<'u>(uri: &'u Uri, name: &str) -> Option<&'u str> {
    uri.query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// The token of `Authorization: Bearer TOKEN`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares secrets in time independent of where they differ.
pub fn secret_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use axum::http::HeaderValue;

    use super::*;

    fn with_type(value: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = value {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn content_types_are_matched_without_case_and_parameters() {
        for accepted in [
            None,
            Some(""),
            Some("application/json"),
            Some("Application/JSON; charset=utf-8"),
            Some(" text/plain ;charset=UTF-8"),
        ] {
            assert!(
                check_content_type(&with_type(accepted), false).is_ok(),
                "{accepted:?}"
            );
        }
        assert!(check_content_type(&with_type(Some("application/x-ndjson")), true).is_ok());
        assert!(check_content_type(&with_type(Some("Application/NDJSON")), true).is_ok());
        assert!(check_content_type(&with_type(Some("application/x-ndjson")), false).is_err());
        let refused =
            check_content_type(&with_type(Some("Application/X-WWW-Form-Urlencoded")), false)
                .unwrap_err();
        let message = format!("{refused:?}");
        assert!(
            message.contains("\\\"application/x-www-form-urlencoded\\\" is not accepted"),
            "{message}"
        );
    }
}
