//! Live aggregates of one site, updated by its SiteActor as acknowledged events arrive and read by
//! `GET /api/v1/analytics/realtime`. Bots are not counted.
//!
//! Everything is windowed by server receive time (client clocks cannot push figures around) and
//! bounded: per-minute rings for counts, and at most `MAX_LIVE_KEYS` keys per dimension.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use ecomdash_protocol::{Counted, MinuteCount, RealtimeResponse};
use parking_lot::Mutex;

/// Minutes of history kept (pageviews per minute, top lists).
pub const LIVE_WINDOW_MINUTES: usize = 30;
/// Window of "visitors now".
pub const LIVE_VISITOR_WINDOW_MS: i64 = 5 * 60 * 1000;
/// Seconds averaged for events per second.
pub const LIVE_RATE_WINDOW_SECS: usize = 10;
/// Most distinct keys one dimension (pages, countries, ...) tracks; more land in `(other)`.
pub const MAX_LIVE_KEYS: usize = 10_000;
/// Most distinct visitors tracked for "visitors now"; past it new visitors are counted
/// approximately (not tracked individually) until old ones expire.
pub const MAX_LIVE_VISITORS: usize = 1_000_000;
/// Entries in each top list of the realtime answer.
pub const TOP_N: usize = 10;

/// The part of an acknowledged event the live figures need.
#[derive(Clone, Debug, Default)]
pub struct LiveEvent {
    /// Server receive time, ms.
    pub received_ms: i64,
    /// Event time (client `ts` or receive time), ms: sessions are cut by it.
    pub event_ms: i64,
    pub visitor: u64,
    pub visitor_id: Arc<str>,
    pub session_id: Arc<str>,
    pub is_pageview: bool,
    pub is_bot: bool,
    pub path: Option<Arc<str>>,
    pub referrer_source: Option<&'static str>,
    pub utm: [Option<Arc<str>>; 5],
    pub country: Option<Arc<str>>,
    pub device: Option<Arc<str>>,
    pub browser: Option<Arc<str>>,
    pub os: Option<Arc<str>>,
    /// Revenue of the event in minor units.
    pub revenue: i64,
    /// A purchase (an `ecommerce` event with an order).
    pub converted: bool,
}

/// Counts of one key for each of the last minutes, as a ring indexed by minute.
#[derive(Clone, Copy, Default)]
struct MinuteRing([(i64, u64); LIVE_WINDOW_MINUTES]);

impl MinuteRing {
    fn add(&mut self, minute: i64, n: u64) {
        let slot = &mut self.0[minute.rem_euclid(LIVE_WINDOW_MINUTES as i64) as usize];
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        slot.1 += n;
    }

    fn sum_since(&self, first_minute: i64) -> u64 {
        self.0
            .iter()
            .filter(|(m, _)| *m >= first_minute)
            .map(|(_, c)| c)
            .sum()
    }

    fn get(&self, minute: i64) -> u64 {
        let slot = self.0[minute.rem_euclid(LIVE_WINDOW_MINUTES as i64) as usize];
        if slot.0 == minute {
            slot.1
        } else {
            0
        }
    }
}

/// Key counts of one dimension over the window.
#[derive(Default)]
struct Dimension {
    keys: DashMap<Arc<str>, MinuteRing>,
}

const OTHER: &str = "(other)";

impl Dimension {
    /// Counts `n` occurrences of `key` in `minute`. Looked up by `&str`: an `Arc` is made only
    /// for a key not yet in the map.
    fn add(&self, (key, minute, n): (&str, i64, u64)) {
        if let Some(mut ring) = self.keys.get_mut(key) {
            ring.add(minute, n);
            return;
        }
        let key = if self.keys.len() >= MAX_LIVE_KEYS {
            OTHER
        } else {
            key
        };
        self.keys.entry(Arc::from(key)).or_default().add(minute, n);
    }

    fn top(&self, first_minute: i64) -> Vec<Counted> {
        let mut counted: Vec<Counted> = self
            .keys
            .iter()
            .map(|e| Counted {
                key: e.key().to_string(),
                count: e.value().sum_since(first_minute),
            })
            .filter(|c| c.count > 0)
            .collect();
        counted.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        counted.truncate(TOP_N);
        counted
    }

    fn expire(&self, first_minute: i64) {
        self.keys.retain(|_, ring| ring.sum_since(first_minute) > 0);
    }
}

/// A dimension's pending run of one key in one minute: (key, minute, count).
type KeyRun<'e> = Option<(&'e str, i64, u64)>;

/// Adds one occurrence of `key` to `pending`, first handing the run to `dim` when `key` or
/// `minute` differs from it (so runs reach `dim` in the order their keys came).
fn add_to_run<'e>(pending: &mut KeyRun<'e>, dim: &Dimension, key: &'e str, minute: i64) {
    match pending {
        Some((k, m, n)) if *k == key && *m == minute => *n += 1,
        _ => {
            if let Some(done) = pending.replace((key, minute, 1)) {
                dim.add(done);
            }
        }
    }
}

#[derive(Default)]
pub struct LiveStats {
    /// Visitor → last receive time (ms).
    visitors: DashMap<u64, i64>,
    pageviews: Mutex<MinuteRing>,
    events: Mutex<MinuteRing>,
    /// Events per second for the last `LIVE_RATE_WINDOW_SECS` seconds, as (second, count).
    per_second: Mutex<[(i64, u64); LIVE_RATE_WINDOW_SECS]>,
    pages: Dimension,
    sources: Dimension,
    countries: Dimension,
    devices: Dimension,
    pub live_sessions: AtomicU64,
    /// Acknowledged events handed to the site's actors and not yet applied by them: the work
    /// queued in their (unbounded) mailboxes. Intake answers 503 above
    /// [`SITE_ACTOR_BACKLOG_EVENTS`].
    pub actor_backlog: AtomicU64,
}

/// Most acknowledged events a site's actors may have queued (roughly 400 bytes each) before
/// intake sheds load with 503: this is what bounds memory when actors fall behind.
pub const SITE_ACTOR_BACKLOG_EVENTS: u64 = 100_000;

impl LiveStats {
    /// Marks `n` queued events as applied.
    pub fn applied(&self, n: u64) {
        let _ = self
            .actor_backlog
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
    }

    /// Whether the site's actors are too far behind to take more events.
    pub fn actors_behind(&self) -> bool {
        self.actor_backlog.load(Ordering::Relaxed) > SITE_ACTOR_BACKLOG_EVENTS
    }
}

impl LiveStats {
    /// Counts `events` (bots excepted). A run of events with the same key (a request's events
    /// mostly share their second, visitor, page, source, country and device) is added to each
    /// counter once, which is the same as adding its events one by one.
    pub fn record(&self, events: &[LiveEvent]) {
        // (second, events, pageviews) of the current run
        let mut run: Option<(i64, u64, u64)> = None;
        let mut last_visitor = None;
        let (mut pages, mut sources, mut countries, mut devices) = Default::default();
        for event in events {
            if event.is_bot {
                continue;
            }
            let minute = event.received_ms.div_euclid(60_000);
            let second = event.received_ms.div_euclid(1000);
            if last_visitor != Some((event.visitor, event.received_ms)) {
                self.see_visitor(event.visitor, event.received_ms);
                last_visitor = Some((event.visitor, event.received_ms));
            }
            let pageview = u64::from(event.is_pageview);
            match &mut run {
                Some((run_second, events, pageviews)) if *run_second == second => {
                    *events += 1;
                    *pageviews += pageview;
                }
                _ => {
                    if let Some(done) = run.replace((second, 1, pageview)) {
                        self.count(done);
                    }
                }
            }
            if event.is_pageview {
                if let Some(path) = &event.path {
                    add_to_run(&mut pages, &self.pages, path, minute);
                }
            }
            let source = event.referrer_source.unwrap_or("direct");
            add_to_run(&mut sources, &self.sources, source, minute);
            if let Some(country) = &event.country {
                add_to_run(&mut countries, &self.countries, country, minute);
            }
            if let Some(device) = &event.device {
                add_to_run(&mut devices, &self.devices, device, minute);
            }
        }
        if let Some(done) = run {
            self.count(done);
        }
        for (pending, dim) in [
            (pages, &self.pages),
            (sources, &self.sources),
            (countries, &self.countries),
            (devices, &self.devices),
        ] {
            if let Some(done) = pending {
                dim.add(done);
            }
        }
    }

    /// Notes a visitor's latest receive time; past [`MAX_LIVE_VISITORS`] only known visitors
    /// are updated. (The map's size, which locks every shard, is read only for a new one.)
    fn see_visitor(&self, visitor: u64, received_ms: i64) {
        if let Some(mut seen) = self.visitors.get_mut(&visitor) {
            *seen = received_ms;
        } else if self.visitors.len() < MAX_LIVE_VISITORS {
            self.visitors.insert(visitor, received_ms);
        }
    }

    /// Adds a run of `events` (of which `pageviews` pageviews) received in `second`.
    fn count(&self, (second, events, pageviews): (i64, u64, u64)) {
        let minute = second.div_euclid(60);
        self.events.lock().add(minute, events);
        {
            let mut ring = self.per_second.lock();
            let slot = &mut ring[second.rem_euclid(LIVE_RATE_WINDOW_SECS as i64) as usize];
            if slot.0 != second {
                *slot = (second, 0);
            }
            slot.1 += events;
        }
        if pageviews > 0 {
            self.pageviews.lock().add(minute, pageviews);
        }
    }

    /// Drops state older than the windows. Called periodically by the SiteActor.
    pub fn expire(&self, now_ms: i64) {
        let cutoff = now_ms - LIVE_VISITOR_WINDOW_MS;
        self.visitors.retain(|_, seen| *seen >= cutoff);
        let first_minute = now_ms.div_euclid(60_000) - (LIVE_WINDOW_MINUTES as i64 - 1);
        for dim in [&self.pages, &self.sources, &self.countries, &self.devices] {
            dim.expire(first_minute);
        }
    }

    pub fn snapshot(&self, site: &str, now_ms: i64) -> RealtimeResponse {
        let cutoff = now_ms - LIVE_VISITOR_WINDOW_MS;
        let visitors = self
            .visitors
            .iter()
            .filter(|e| *e.value() >= cutoff)
            .count() as u64;
        let now_minute = now_ms.div_euclid(60_000);
        let first_minute = now_minute - (LIVE_WINDOW_MINUTES as i64 - 1);
        let pageviews = *self.pageviews.lock();
        let pageviews_per_minute = (first_minute..=now_minute)
            .map(|minute| MinuteCount {
                minute_ms: minute * 60_000,
                pageviews: pageviews.get(minute),
            })
            .collect();
        let now_second = now_ms.div_euclid(1000);
        let recent: u64 = self
            .per_second
            .lock()
            .iter()
            .filter(|(s, _)| *s > now_second - LIVE_RATE_WINDOW_SECS as i64 && *s <= now_second)
            .map(|(_, c)| c)
            .sum();
        RealtimeResponse {
            site: site.to_owned(),
            now_ms,
            visitors_last_5m: visitors,
            pageviews_per_minute,
            events_per_second: recent as f64 / LIVE_RATE_WINDOW_SECS as f64,
            events_last_30m: self.events.lock().sum_since(first_minute),
            live_sessions: self.live_sessions.load(Ordering::Relaxed),
            top_pages: self.pages.top(first_minute),
            referrer_sources: self.sources.top(first_minute),
            countries: self.countries.top(first_minute),
            devices: self.devices.top(first_minute),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pageview(at_ms: i64, visitor: u64, path: &str) -> LiveEvent {
        LiveEvent {
            received_ms: at_ms,
            event_ms: at_ms,
            visitor,
            is_pageview: true,
            path: Some(Arc::from(path)),
            device: Some(Arc::from("desktop")),
            ..LiveEvent::default()
        }
    }

    #[test]
    fn windows_count_and_expire() {
        let stats = LiveStats::default();
        let t0 = 1_767_225_600_000;
        stats.record(&[
            pageview(t0, 1, "/a"),
            pageview(t0 + 1000, 2, "/a"),
            pageview(t0 + 2000, 1, "/b"),
        ]);
        let bot = LiveEvent {
            is_bot: true,
            ..pageview(t0, 9, "/bot")
        };
        stats.record(&[bot]);
        let snap = stats.snapshot("s", t0 + 3000);
        assert_eq!(snap.visitors_last_5m, 2);
        assert_eq!(snap.pageviews_per_minute.len(), LIVE_WINDOW_MINUTES);
        assert_eq!(
            snap.pageviews_per_minute
                .iter()
                .map(|m| m.pageviews)
                .sum::<u64>(),
            3
        );
        assert_eq!(
            snap.top_pages[0],
            Counted {
                key: "/a".into(),
                count: 2
            }
        );
        assert_eq!(snap.referrer_sources[0].key, "direct");
        assert!((snap.events_per_second - 0.3).abs() < 1e-9);

        let later = t0 + 6 * 60_000;
        stats.expire(later);
        let snap = stats.snapshot("s", later);
        assert_eq!(snap.visitors_last_5m, 0);
        assert_eq!(snap.top_pages.len(), 2, "pages stay for 30 minutes");
        let much_later = t0 + 31 * 60_000;
        stats.expire(much_later);
        assert!(stats.snapshot("s", much_later).top_pages.is_empty());
    }

    proptest::proptest! {
        /// Recording a request's events at once (counters added once per second) counts the
        /// same as recording them one by one.
        #[test]
        fn a_batch_counts_like_its_events_one_by_one(
            events in proptest::collection::vec(
                (0i64..150_000, 0u64..4, 0usize..3, proptest::bool::ANY, proptest::bool::weighted(0.2), 0usize..3),
                0..60,
            ),
        ) {
            let t0 = 1_767_225_600_000;
            let paths = ["/a", "/b", "/c"];
            let sources = [None, Some("search"), Some("social")];
            let mut at = t0;
            let events: Vec<LiveEvent> = events
                .into_iter()
                .map(|(step, visitor, path, is_pageview, is_bot, source)| {
                    // mostly the same or the next second, sometimes minutes later
                    at += if step > 120_000 { step } else { step % 1500 };
                    LiveEvent {
                        is_pageview,
                        is_bot,
                        referrer_source: sources[source],
                        country: (visitor % 2 == 0).then(|| Arc::from("FR")),
                        ..pageview(at, visitor, paths[path])
                    }
                })
                .collect();
            let together = LiveStats::default();
            together.record(&events);
            let one_by_one = LiveStats::default();
            for event in &events {
                one_by_one.record(std::slice::from_ref(event));
            }
            let now = at + 500;
            proptest::prop_assert_eq!(together.snapshot("s", now), one_by_one.snapshot("s", now));
        }
    }
}
