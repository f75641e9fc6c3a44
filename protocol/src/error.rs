//! The error JSON of every endpoint: `{"error": {"code": "...", "field": "...", "message": "..."}}`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Machine-readable error codes. Each maps to exactly one HTTP status ([`ErrorCode::http_status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not JSON, or not the JSON shape the endpoint takes (400).
    InvalidJson,
    /// One field is missing, has the wrong type or breaks a limit; `field` names it (400).
    InvalidField,
    /// A query parameter is missing or wrong (400).
    InvalidQuery,
    /// No write key in the header, body or query (401).
    MissingApiKey,
    /// The key does not belong to any site, or not to the site asked for (401).
    InvalidApiKey,
    /// The key is valid but may not read what was asked for, e.g. another site (403).
    Forbidden,
    /// The body is larger than the endpoint's limit (413).
    BodyTooLarge,
    /// A batch has more events than `MAX_BATCH_EVENTS` (413).
    BatchTooLarge,
    /// The body is neither `application/json`, `text/plain` nor NDJSON (415).
    UnsupportedMediaType,
    /// The site sends faster than its rate limit (429).
    RateLimited,
    /// The daemon has too much work in flight; retry after `Retry-After` seconds (503).
    Overloaded,
    /// The store cannot take writes (closed or failed); retry later (503).
    Unavailable,
    /// The disk is full (507).
    StorageFull,
    /// No such route or site (404).
    NotFound,
    /// The site already exists (409).
    Conflict,
    /// Something failed inside the daemon; details are in its log, not here (500).
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::MissingApiKey => "missing_api_key",
            ErrorCode::InvalidApiKey => "invalid_api_key",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::BatchTooLarge => "batch_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::StorageFull => "storage_full",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status code this error is answered with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidJson | ErrorCode::InvalidField | ErrorCode::InvalidQuery => 400,
            ErrorCode::MissingApiKey | ErrorCode::InvalidApiKey => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::BodyTooLarge | ErrorCode::BatchTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Overloaded | ErrorCode::Unavailable => 503,
            ErrorCode::StorageFull => 507,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One error: a code, the field it is about (when there is one) and a human message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl ErrorDetail {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorDetail {
        ErrorDetail {
            code,
            field: None,
            message: message.into(),
        }
    }

    /// An `invalid_field` error about `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> ErrorDetail {
        ErrorDetail {
            code: ErrorCode::InvalidField,
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// Prefixes the field path, e.g. `url` becomes `events[3].url`.
    pub fn in_batch(mut self, index: usize) -> ErrorDetail {
        self.field = Some(match self.field.take() {
            Some(field) => format!("events[{index}].{field}"),
            None => format!("events[{index}]"),
        });
        self
    }
}

impl fmt::Display for ErrorDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: {}: {}", self.code, field, self.message),
            None => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for ErrorDetail {}

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}
