//! What can go wrong sending events, and which failures are worth a retry.

use std::time::Duration;

use ecomdash_protocol::{ErrorCode, ErrorDetail};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    /// The server refused the whole batch (bad key, too large, rate limited, overloaded...).
    #[error("server refused the batch: {error}")]
    Refused {
        error: ErrorDetail,
        retry_after: Option<Duration>,
    },
    /// The connection failed or was lost; the batch may or may not have been stored, so it is
    /// retried with the same event ids and the store counts it once.
    #[error("connection failed: {0}")]
    Connection(String),
    /// The server answered something this client cannot read.
    #[error("unexpected answer: {0}")]
    Protocol(String),
    #[error("invalid client setup: {0}")]
    Config(String),
    /// The client was closed.
    #[error("client is closed")]
    Closed,
    /// Batches sent in the background failed after every retry; their events were dropped.
    #[error("{dropped_events} events dropped after retries, last error: {last}")]
    Background { dropped_events: usize, last: String },
}

impl ClientError {
    /// Whether sending the same batch again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Connection(_) => true,
            ClientError::Refused { error, .. } => matches!(
                error.code,
                ErrorCode::RateLimited | ErrorCode::Overloaded | ErrorCode::Unavailable
            ),
            _ => false,
        }
    }

    /// The wait the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Refused { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
