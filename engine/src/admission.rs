//! Admission control: work is bounded before it is accepted, because ractor mailboxes are not.
//!
//! A request holds one permit of the global limit and one of its site's limit until it is
//! answered; when either is exhausted it is answered 503 with `Retry-After`. Each site also has a
//! token-bucket rate limit on events, answered 429.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Seconds a client is told to wait after a 503 for overload.
pub const OVERLOAD_RETRY_AFTER_SECS: u64 = 1;

/// Holds both permits of an admitted request; dropping it frees them.
pub struct Admitted {
    _global: OwnedSemaphorePermit,
    _site: OwnedSemaphorePermit,
}

/// Tries to take a permit of `semaphore`; `None` when it is exhausted.
pub fn try_permit(semaphore: &Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
    semaphore.clone().try_acquire_owned().ok()
}

impl Admitted {
    pub fn new(global: OwnedSemaphorePermit, site: OwnedSemaphorePermit) -> Admitted {
        Admitted {
            _global: global,
            _site: site,
        }
    }
}

/// Token bucket: `rate_per_sec` tokens per second, at most `burst` saved up.
pub struct TokenBucket {
    rate_per_sec: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(rate_per_sec: u32, burst: u32) -> TokenBucket {
        let burst = f64::from(burst.max(rate_per_sec).max(1));
        TokenBucket {
            rate_per_sec: f64::from(rate_per_sec.max(1)),
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes `n` tokens, or answers how many seconds until they would be there.
    pub fn take(&self, n: usize) -> Result<(), u64> {
        let n = n as f64;
        let mut state = self.state.lock();
        let now = Instant::now();
        let refill = now.duration_since(state.1).as_secs_f64() * self.rate_per_sec;
        state.0 = (state.0 + refill).min(self.burst);
        state.1 = now;
        if state.0 >= n {
            state.0 -= n;
            Ok(())
        } else {
            let missing = n.min(self.burst) - state.0;
            Err((missing / self.rate_per_sec).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_refuses_with_a_wait() {
        let bucket = TokenBucket::new(10, 20);
        assert!(bucket.take(20).is_ok());
        let wait = bucket.take(10).unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
    }

    #[test]
    fn permits_run_out_and_come_back() {
        let global = Arc::new(Semaphore::new(1));
        let site = Arc::new(Semaphore::new(5));
        let first = Admitted::new(try_permit(&global).unwrap(), try_permit(&site).unwrap());
        assert!(try_permit(&global).is_none());
        drop(first);
        assert!(try_permit(&global).is_some());
    }
}
