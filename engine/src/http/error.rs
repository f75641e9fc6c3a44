//! The one place where errors become HTTP responses: [`ApiError`] carries an [`ErrorDetail`]
//! whose code decides the status, plus `Retry-After` for 429/503.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ecomdash_protocol::{ErrorBody, ErrorCode, ErrorDetail};
use ecomdash_query::QueryError;
use ecomdash_storage::AppendError;

/// Seconds clients wait after 503 because the store cannot take writes.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug)]
pub struct ApiError {
    pub detail: ErrorDetail,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            detail: ErrorDetail::new(code, message),
            retry_after_secs: None,
        }
    }

    pub fn retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after_secs = Some(secs);
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.detail.code
    }

    /// An append failure as the client sees it; details go to the log only.
    pub fn from_append(error: &AppendError) -> ApiError {
        match error {
            AppendError::DiskFull => {
                tracing::error!("disk full, refusing events");
                ApiError::new(ErrorCode::StorageFull, "the server's disk is full")
            }
            AppendError::Overloaded => ApiError::new(
                ErrorCode::Overloaded,
                "the server is overloaded, retry later",
            )
            .retry_after(crate::admission::OVERLOAD_RETRY_AFTER_SECS),
            AppendError::Poisoned | AppendError::Closed => {
                tracing::error!(error = %error, "store cannot take writes");
                ApiError::new(
                    ErrorCode::Unavailable,
                    "storage is unavailable, retry later",
                )
                .retry_after(UNAVAILABLE_RETRY_AFTER_SECS)
            }
            AppendError::Io(message) => {
                tracing::error!(error = %message, "append failed");
                ApiError::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

impl ApiError {
    /// A query or summary failure: the caller's SQL or parameters 400 (the message names the
    /// thing and its position), a site the key may not read 403, a memory or time limit 400 (the
    /// query must be narrowed; it does not succeed on retry), storage trouble 500.
    pub fn from_query(error: &QueryError) -> ApiError {
        match error {
            QueryError::SiteForbidden { .. } => {
                ApiError::new(ErrorCode::Forbidden, error.to_string())
            }
            QueryError::MemoryLimit { .. } | QueryError::TimeLimit { .. } => {
                ApiError::new(ErrorCode::InvalidQuery, error.to_string())
            }
            QueryError::Storage(message) => {
                tracing::error!(error = %message, "query failed reading the store");
                ApiError::new(ErrorCode::Internal, "internal error")
            }
            _ if error.is_bad_request() => {
                ApiError::new(ErrorCode::InvalidQuery, error.to_string())
            }
            _ => {
                tracing::error!(error = %error, "query failed");
                ApiError::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

impl From<ErrorDetail> for ApiError {
    fn from(detail: ErrorDetail) -> ApiError {
        ApiError {
            detail,
            retry_after_secs: None,
        }
    }
}

/// The status code of an error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.detail.code);
        let mut response = (status, Json(ErrorBody { error: self.detail })).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
