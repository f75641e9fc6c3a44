//! Retries with exponential backoff for connection loss and 429/503-like refusals.

use std::future::Future;
use std::time::Duration;

use crate::error::ClientError;

/// How a batch is retried. The server's `Retry-After` wins over the backoff when it is longer.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = no retry).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    pub(crate) async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<T, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let mut backoff = self.initial_backoff;
        let mut tries = 1;
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) if error.is_retryable() && tries < self.max_attempts.max(1) => {
                    let wait = error.retry_after().unwrap_or(backoff).min(self.max_backoff);
                    tracing::debug!(error = %error, wait_ms = wait.as_millis() as u64, "retrying batch");
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(self.max_backoff);
                    tries += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}
