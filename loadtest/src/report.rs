//! Counters while a run goes on, and the final report (text and JSON).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::verify::Verification;

/// Highest latency the histograms track: 60 s, in microseconds (larger values saturate).
pub const MAX_LATENCY_US: u64 = 60_000_000;

/// What one connection task saw; merged into the run's totals at the end.
#[derive(Debug, Clone)]
pub struct RunStats {
    pub requests: u64,
    pub events_sent: u64,
    pub events_acked: u64,
    pub events_rejected: u64,
    pub transport_errors: u64,
    pub status: BTreeMap<u16, u64>,
    /// Event ids `run-0..run-(n-1)` handed out (sent or not); `--verify` counts in that range.
    pub event_ids_issued: u64,
    /// Latency of completed requests, in microseconds.
    pub latency_us: Histogram<u64>,
}

impl RunStats {
    pub fn new() -> Self {
        Self {
            requests: 0,
            events_sent: 0,
            events_acked: 0,
            events_rejected: 0,
            transport_errors: 0,
            status: BTreeMap::new(),
            event_ids_issued: 0,
            // 3 significant digits from 1 µs to 60 s: about 200 KiB per histogram
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("constant histogram bounds are valid"),
        }
    }

    pub fn merge(&mut self, other: &RunStats) {
        self.requests += other.requests;
        self.events_sent += other.events_sent;
        self.events_acked += other.events_acked;
        self.events_rejected += other.events_rejected;
        self.transport_errors += other.transport_errors;
        self.event_ids_issued += other.event_ids_issued;
        for (status, count) in &other.status {
            *self.status.entry(*status).or_default() += count;
        }
        // same bounds on both sides, so adding cannot fail
        let _ = self.latency_us.add(&other.latency_us);
    }

    pub fn record_latency(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.latency_us.saturating_record(micros);
    }
}

impl Default for RunStats {
    fn default() -> Self {
        Self::new()
    }
}

/// Counters the progress line reads while the run goes on.
#[derive(Debug, Default)]
pub struct LiveCounters {
    pub events_sent: AtomicU64,
    pub events_acked: AtomicU64,
    pub transport_errors: AtomicU64,
    /// Non-2xx answers by status code (rare, so a lock is fine).
    pub error_status: Mutex<BTreeMap<u16, u64>>,
}

impl LiveCounters {
    pub fn add_error_status(&self, status: u16) {
        let mut map = self
            .error_status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *map.entry(status).or_default() += 1;
    }

    /// `errors: 503×12 conn×3` or `errors: none`.
    pub fn errors_summary(&self) -> String {
        let map = self
            .error_status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let transport = self.transport_errors.load(Ordering::Relaxed);
        if map.is_empty() && transport == 0 {
            return "errors: none".to_owned();
        }
        let mut out = String::from("errors:");
        for (status, count) in map.iter() {
            let _ = write!(out, " {status}×{count}");
        }
        if transport > 0 {
            let _ = write!(out, " conn×{transport}");
        }
        out
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// The final report; `--json FILE` writes it as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub mode: &'static str,
    /// `closed` (as fast as answers come) or `open` (fixed rate).
    pub loop_kind: &'static str,
    pub target: String,
    pub connections: usize,
    /// Events per request (1 for single events).
    pub batch: usize,
    pub target_rate_events_per_s: Option<f64>,
    pub seed: u64,
    pub run_id: String,
    pub elapsed_s: f64,
    pub requests: u64,
    pub events_sent: u64,
    pub events_acked: u64,
    pub events_rejected: u64,
    pub transport_errors: u64,
    /// Responses by HTTP status code.
    pub status_counts: BTreeMap<String, u64>,
    pub requests_per_s: f64,
    pub acked_events_per_s: f64,
    /// Open loop: from the intended send time; closed loop: from the actual send time.
    pub latency_ms: Latency,
    /// `--verify`: whether every acknowledged event was found through the query endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verification>,
}

/// How the run was set up (the parts of the report that are not measured).
#[derive(Debug, Clone)]
pub struct RunSetup {
    pub target: String,
    pub connections: usize,
    pub batch: usize,
    pub rate: Option<f64>,
    pub seed: u64,
    pub run_id: String,
}

impl Report {
    pub fn new(setup: RunSetup, stats: &RunStats, elapsed: Duration) -> Self {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let h = &stats.latency_us;
        let ms = |micros: u64| micros as f64 / 1000.0;
        let latency = if h.is_empty() {
            Latency {
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
                mean: 0.0,
            }
        } else {
            Latency {
                p50: ms(h.value_at_quantile(0.50)),
                p90: ms(h.value_at_quantile(0.90)),
                p99: ms(h.value_at_quantile(0.99)),
                p999: ms(h.value_at_quantile(0.999)),
                max: ms(h.max()),
                mean: h.mean() / 1000.0,
            }
        };
        Self {
            mode: "http",
            loop_kind: if setup.rate.is_some() {
                "open"
            } else {
                "closed"
            },
            target: setup.target,
            connections: setup.connections,
            batch: setup.batch,
            target_rate_events_per_s: setup.rate,
            seed: setup.seed,
            run_id: setup.run_id,
            elapsed_s: seconds,
            requests: stats.requests,
            events_sent: stats.events_sent,
            events_acked: stats.events_acked,
            events_rejected: stats.events_rejected,
            transport_errors: stats.transport_errors,
            status_counts: stats
                .status
                .iter()
                .map(|(s, c)| (s.to_string(), *c))
                .collect(),
            requests_per_s: stats.requests as f64 / seconds,
            acked_events_per_s: stats.events_acked as f64 / seconds,
            latency_ms: latency,
            verify: None,
        }
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let rate = self
            .target_rate_events_per_s
            .map_or(String::new(), |r| format!(", target {r:.0} events/s"));
        let _ = writeln!(
            out,
            "{} loop over {} to {}: {} connections, {} event(s) per request{rate}, run {} (seed {})",
            self.loop_kind, self.mode, self.target, self.connections, self.batch, self.run_id, self.seed
        );
        let _ = writeln!(out, "elapsed      {:.2} s", self.elapsed_s);
        let _ = writeln!(
            out,
            "requests     {} ({:.0}/s)",
            self.requests, self.requests_per_s
        );
        let _ = writeln!(
            out,
            "events       sent {}  acked {} ({:.0}/s)  rejected {}",
            self.events_sent, self.events_acked, self.acked_events_per_s, self.events_rejected
        );
        let statuses: Vec<String> = self
            .status_counts
            .iter()
            .map(|(s, c)| format!("{s}: {c}"))
            .collect();
        let _ = writeln!(
            out,
            "status       {}{}",
            if statuses.is_empty() {
                "-".to_owned()
            } else {
                statuses.join(", ")
            },
            if self.transport_errors > 0 {
                format!(", connection errors: {}", self.transport_errors)
            } else {
                String::new()
            }
        );
        let l = &self.latency_ms;
        let _ =
            writeln!(
            out,
            "latency ms   p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  mean {:.3}{}",
            l.p50,
            l.p90,
            l.p99,
            l.p999,
            l.max,
            l.mean,
            if self.loop_kind == "open" { "  (from intended send time)" } else { "" }
        );
        if let Some(verify) = &self.verify {
            let _ = writeln!(out, "{}", verify.summary());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_counts_and_histograms() {
        let mut a = RunStats::new();
        a.requests = 2;
        a.events_acked = 2;
        a.status.insert(202, 2);
        a.record_latency(Duration::from_micros(1000));
        let mut b = RunStats::new();
        b.requests = 1;
        b.status.insert(202, 1);
        b.status.insert(503, 1);
        b.record_latency(Duration::from_millis(50));
        a.merge(&b);
        assert_eq!(a.requests, 3);
        assert_eq!(a.status[&202], 3);
        assert_eq!(a.status[&503], 1);
        assert_eq!(a.latency_us.len(), 2);
    }

    #[test]
    fn report_percentiles_and_rates() {
        let mut stats = RunStats::new();
        for ms in 1..=100 {
            stats.record_latency(Duration::from_millis(ms));
        }
        stats.requests = 100;
        stats.events_acked = 1000;
        let setup = RunSetup {
            target: "http://127.0.0.1:1".to_owned(),
            connections: 4,
            batch: 10,
            rate: None,
            seed: 1,
            run_id: "r".to_owned(),
        };
        let report = Report::new(setup, &stats, Duration::from_secs(2));
        assert_eq!(report.loop_kind, "closed");
        assert!((report.acked_events_per_s - 500.0).abs() < 1e-9);
        assert!(
            (report.latency_ms.p50 - 50.0).abs() < 0.1,
            "{}",
            report.latency_ms.p50
        );
        assert!(
            (report.latency_ms.p99 - 99.0).abs() < 0.1,
            "{}",
            report.latency_ms.p99
        );
        assert!((report.latency_ms.max - 100.0).abs() < 0.1);
        let text = report.render();
        assert!(text.contains("p99.9"), "{text}");
        let json = serde_json::to_value(&report).unwrap_or_default();
        assert_eq!(
            json["latency_ms"]["max"].as_f64().map(f64::round),
            Some(100.0)
        );
    }

    #[test]
    fn live_error_summary() {
        let live = LiveCounters::default();
        assert_eq!(live.errors_summary(), "errors: none");
        live.add_error_status(503);
        live.add_error_status(503);
        live.transport_errors.fetch_add(1, Ordering::Relaxed);
        assert_eq!(live.errors_summary(), "errors: 503×2 conn×1");
    }
}
