//! Prometheus metrics in the text exposition format, kept in atomics (no registry, no locks on
//! the hot path). `GET /metrics` renders them together with the store's own statistics.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ecomdash_protocol::ErrorCode;

/// Upper bounds of the latency histogram buckets, in seconds.
const LATENCY_BUCKETS_SECS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A cumulative latency histogram.
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_SECS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS_SECS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, bucket) in LATENCY_BUCKETS_SECS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// The endpoints whose latency is measured.
#[derive(Clone, Copy, Debug)]
pub enum Route {
    TrackEvent,
    TrackBatch,
    Import,
    Realtime,
}

impl Route {
    const ALL: [Route; 4] = [
        Route::TrackEvent,
        Route::TrackBatch,
        Route::Import,
        Route::Realtime,
    ];

    fn label(self) -> &'static str {
        match self {
            Route::TrackEvent => "track_event",
            Route::TrackBatch => "track_batch",
            Route::Import => "import",
            Route::Realtime => "realtime",
        }
    }
}

/// Rejection reasons counted separately (every error code a client can cause or suffer).
const REJECT_REASONS: [ErrorCode; 12] = [
    ErrorCode::InvalidJson,
    ErrorCode::InvalidField,
    ErrorCode::MissingApiKey,
    ErrorCode::InvalidApiKey,
    ErrorCode::BodyTooLarge,
    ErrorCode::BatchTooLarge,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::RateLimited,
    ErrorCode::Overloaded,
    ErrorCode::Unavailable,
    ErrorCode::StorageFull,
    ErrorCode::Internal,
];

#[derive(Default)]
pub struct Metrics {
    pub events_accepted: AtomicU64,
    pub events_deduplicated: AtomicU64,
    events_rejected: [AtomicU64; REJECT_REASONS.len()],
    latency: [Histogram; Route::ALL.len()],
    pub sessions_closed: AtomicU64,
    pub session_rows_failed: AtomicU64,
}

impl Metrics {
    pub fn reject(&self, code: ErrorCode, events: u64) {
        if let Some(i) = REJECT_REASONS.iter().position(|c| *c == code) {
            self.events_rejected[i].fetch_add(events, Ordering::Relaxed);
        }
    }

    pub fn rejected(&self, code: ErrorCode) -> u64 {
        REJECT_REASONS
            .iter()
            .position(|c| *c == code)
            .map_or(0, |i| self.events_rejected[i].load(Ordering::Relaxed))
    }

    pub fn observe(&self, route: Route, elapsed: Duration) {
        self.latency[route as usize].observe(elapsed);
    }

    /// Renders the daemon's own metrics; `gauges` are appended as `(name, help, value)`.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::with_capacity(8 * 1024);
        counter(
            &mut out,
            "ecomdash_events_accepted_total",
            "Events acknowledged as durable.",
            &self.events_accepted,
        );
        counter(
            &mut out,
            "ecomdash_events_deduplicated_total",
            "Acknowledged events that were retries of stored event ids.",
            &self.events_deduplicated,
        );
        let _ = writeln!(
            out,
            "# HELP ecomdash_events_rejected_total Events rejected, by reason."
        );
        let _ = writeln!(out, "# TYPE ecomdash_events_rejected_total counter");
        for (code, value) in REJECT_REASONS.iter().zip(&self.events_rejected) {
            let _ = writeln!(
                out,
                "ecomdash_events_rejected_total{{reason=\"{}\"}} {}",
                code.as_str(),
                value.load(Ordering::Relaxed)
            );
        }
        counter(
            &mut out,
            "ecomdash_sessions_closed_total",
            "Sessions closed and written.",
            &self.sessions_closed,
        );
        counter(
            &mut out,
            "ecomdash_session_rows_failed_total",
            "Closed sessions whose row could not be written.",
            &self.session_rows_failed,
        );
        let name = "ecomdash_request_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Request latency by route.");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for route in Route::ALL {
            self.latency[route as usize].render(
                &mut out,
                name,
                &format!("route=\"{}\"", route.label()),
            );
        }
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

fn counter(out: &mut String, name: &str, help: &str, value: &AtomicU64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_everything() {
        let metrics = Metrics::default();
        metrics.observe(Route::TrackEvent, Duration::from_micros(300));
        metrics.observe(Route::TrackEvent, Duration::from_millis(3));
        metrics.observe(Route::TrackEvent, Duration::from_secs(60));
        metrics.reject(ErrorCode::RateLimited, 5);
        let text = metrics.render(&[("ecomdash_live_sessions", "Live sessions.", 2.0)]);
        assert!(text.contains(
            "ecomdash_request_duration_seconds_bucket{route=\"track_event\",le=\"0.0005\"} 1"
        ));
        assert!(text.contains(
            "ecomdash_request_duration_seconds_bucket{route=\"track_event\",le=\"0.005\"} 2"
        ));
        assert!(text.contains(
            "ecomdash_request_duration_seconds_bucket{route=\"track_event\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("ecomdash_events_rejected_total{reason=\"rate_limited\"} 5"));
        assert!(text.contains("ecomdash_live_sessions 2"));
    }
}
