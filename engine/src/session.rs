//! Sessions without actors: assigning session ids to events and accumulating a session's state.
//!
//! Live intake and bulk import share this code, so history and live data cut sessions the same
//! way: a visitor's session ends after `idle_timeout_ms` without events, by event time.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use dashmap::DashMap;
use ecomdash_storage::{RowBuf, RowError, Table, Value};

use crate::live::LiveEvent;
use crate::rows::SessionColumns;

/// Default idle time after which a session ends: 30 minutes.
pub const SESSION_IDLE_TIMEOUT_MS: i64 = 30 * 60 * 1000;

/// Which session each visitor is in, for events that carry no `session_id`.
pub struct SessionIndex {
    idle_timeout_ms: i64,
    /// Visitor → (session id, time of the visitor's latest event).
    open: DashMap<u64, (Arc<str>, i64)>,
}

impl SessionIndex {
    pub fn new(idle_timeout_ms: i64) -> SessionIndex {
        SessionIndex {
            idle_timeout_ms,
            open: DashMap::new(),
        }
    }

    /// The session of `visitor` at `event_ms`: the open one, or a new id when the last event is
    /// older than the idle timeout.
    pub fn assign(&self, site: &str, visitor: u64, event_ms: i64) -> Arc<str> {
        let mut entry = self
            .open
            .entry(visitor)
            .or_insert_with(|| (new_session_id(site, visitor, event_ms), event_ms));
        let (id, last) = entry.value_mut();
        if event_ms - *last > self.idle_timeout_ms {
            *id = new_session_id(site, visitor, event_ms);
        }
        if event_ms > *last {
            *last = event_ms;
        }
        id.clone()
    }

    /// Makes `session` the open session of `visitor` (a session rebuilt after a restart), unless
    /// the visitor has a later one already.
    pub fn resume(&self, visitor: u64, session: Arc<str>, last_ms: i64) {
        let mut entry = self
            .open
            .entry(visitor)
            .or_insert((session.clone(), last_ms));
        if entry.1 < last_ms {
            *entry = (session, last_ms);
        }
    }

    /// Forgets visitors idle since before `now_ms - idle_timeout`.
    pub fn expire(&self, now_ms: i64) {
        let cutoff = now_ms - self.idle_timeout_ms;
        self.open.retain(|_, (_, last)| *last >= cutoff);
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

/// A session id: 16 hex digits from (site, visitor, start time).
pub fn new_session_id(site: &str, visitor: u64, start_ms: i64) -> Arc<str> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    site.hash(&mut hasher);
    visitor.hash(&mut hasher);
    start_ms.hash(&mut hasher);
    hex_id(hasher.finish())
}

/// A 64-bit id as 16 lower-case hex digits, as `format!("{:016x}")` writes it, without the
/// formatting machinery (one allocation: the Arc). Visitor and session ids are written so.
pub fn hex_id(id: u64) -> Arc<str> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = [0u8; 16];
    for (i, digit) in hex.iter_mut().enumerate() {
        *digit = DIGITS[((id >> (60 - 4 * i)) & 0xf) as usize];
    }
    Arc::from(std::str::from_utf8(&hex).unwrap_or_default())
}

/// What a session takes from its first event and never changes: where the visit came from and
/// on what device. Sessions with the same values share one allocation (see [`Interner`]), so a
/// live session carries a single pointer for all of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SessionAttrs {
    pub referrer_source: Option<&'static str>,
    pub utm: [Option<Arc<str>>; 5],
    pub country: Option<Arc<str>>,
    pub device: Option<Arc<str>>,
    pub browser: Option<Arc<str>>,
    pub os: Option<Arc<str>>,
}

impl SessionAttrs {
    pub fn of(event: &LiveEvent) -> SessionAttrs {
        SessionAttrs {
            referrer_source: event.referrer_source,
            utm: event.utm.clone(),
            country: event.country.clone(),
            device: event.device.clone(),
            browser: event.browser.clone(),
            os: event.os.clone(),
        }
    }
}

/// Everything a `sessions` row says about one session, kept compact (112 bytes on 64-bit):
/// counters are `u32`, paths are shared `Arc<str>`s (interned by the SiteActor), and the
/// first-event attributes are one shared [`SessionAttrs`].
#[derive(Clone, Debug)]
pub struct SessionState {
    pub session_id: Arc<str>,
    pub visitor_id: Arc<str>,
    /// Event time of the first and latest events, ms.
    pub start_ms: i64,
    pub last_ms: i64,
    pub pageviews: u32,
    pub events: u32,
    pub entry_path: Option<Arc<str>>,
    pub exit_path: Option<Arc<str>>,
    pub attrs: Arc<SessionAttrs>,
    /// Sum of the events' revenue, minor units.
    pub revenue: i64,
    pub converted: bool,
}

impl SessionState {
    /// A session with no events yet, whose first event is `first` (not added).
    pub fn empty(first: &LiveEvent, attrs: Arc<SessionAttrs>) -> SessionState {
        SessionState {
            session_id: first.session_id.clone(),
            visitor_id: first.visitor_id.clone(),
            start_ms: first.event_ms,
            last_ms: first.event_ms,
            pageviews: 0,
            events: 0,
            entry_path: None,
            exit_path: None,
            attrs,
            revenue: 0,
            converted: false,
        }
    }

    /// A session started by `first` (added), with attributes of its own (not interned).
    pub fn start(first: &LiveEvent) -> SessionState {
        let mut state = SessionState::empty(first, Arc::new(SessionAttrs::of(first)));
        state.add(first);
        state
    }

    pub fn add(&mut self, event: &LiveEvent) {
        self.events = self.events.saturating_add(1);
        self.start_ms = self.start_ms.min(event.event_ms);
        self.last_ms = self.last_ms.max(event.event_ms);
        if event.is_pageview {
            self.pageviews = self.pageviews.saturating_add(1);
            if let Some(path) = &event.path {
                if self.entry_path.is_none() {
                    self.entry_path = Some(path.clone());
                }
                self.exit_path = Some(path.clone());
            }
        }
        self.revenue = self.revenue.saturating_add(event.revenue);
        self.converted |= event.converted;
    }

    /// Folds `later`, the same session's state over the events that follow this state's, into
    /// this one: the same state as adding those events here one by one.
    pub fn merge(&mut self, later: SessionState) {
        self.events = self.events.saturating_add(later.events);
        self.start_ms = self.start_ms.min(later.start_ms);
        self.last_ms = self.last_ms.max(later.last_ms);
        self.pageviews = self.pageviews.saturating_add(later.pageviews);
        if self.entry_path.is_none() {
            self.entry_path = later.entry_path;
        }
        if later.exit_path.is_some() {
            self.exit_path = later.exit_path;
        }
        self.revenue = self.revenue.saturating_add(later.revenue);
        self.converted |= later.converted;
    }

    /// Appends the `sessions` row of this session.
    pub fn push_row(
        &self,
        site: &str,
        cols: &SessionColumns,
        rows: &mut RowBuf,
    ) -> Result<(), RowError> {
        debug_assert_eq!(rows.table(), Table::Sessions);
        let attrs = &*self.attrs;
        let mut row = vec![Value::Null; cols.len];
        row[cols.session_id] = Value::Str(&self.session_id);
        row[cols.visitor_id] = Value::Str(&self.visitor_id);
        row[cols.site] = Value::Str(site);
        row[cols.start] = Value::Int(self.start_ms * 1000);
        row[cols.end] = Value::Int(self.last_ms * 1000);
        row[cols.duration] = Value::Int((self.last_ms - self.start_ms) / 1000);
        row[cols.pageviews] = Value::Int(i64::from(self.pageviews));
        row[cols.events] = Value::Int(i64::from(self.events));
        row[cols.entry_path] = text(&self.entry_path);
        row[cols.exit_path] = text(&self.exit_path);
        row[cols.is_bounce] = Value::Bool(self.pageviews <= 1 && self.events <= 1);
        row[cols.referrer_source] = attrs.referrer_source.map_or(Value::Null, Value::Str);
        for (i, utm) in attrs.utm.iter().enumerate() {
            row[cols.utm[i]] = text(utm);
        }
        row[cols.country] = text(&attrs.country);
        row[cols.device] = text(&attrs.device);
        row[cols.browser] = text(&attrs.browser);
        row[cols.os] = text(&attrs.os);
        row[cols.revenue] = Value::Int(self.revenue);
        row[cols.converted] = Value::Bool(self.converted);
        rows.push_row(&row)
    }
}

/// One shared allocation per distinct value (paths, session attributes) among a site's live
/// sessions. Values no session holds any more are dropped by [`Interner::sweep`].
pub struct Interner<T: ?Sized + Hash + Eq> {
    values: HashSet<Arc<T>>,
}

impl<T: ?Sized + Hash + Eq> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            values: HashSet::new(),
        }
    }
}

impl<T: ?Sized + Hash + Eq> Interner<T> {
    /// The shared copy of `value`.
    pub fn intern(&mut self, value: &Arc<T>) -> Arc<T> {
        if let Some(shared) = self.values.get(&**value) {
            return shared.clone();
        }
        self.values.insert(value.clone());
        value.clone()
    }

    /// Drops values held by nobody but the interner.
    pub fn sweep(&mut self) {
        self.values.retain(|v| Arc::strong_count(v) > 1);
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl Interner<SessionAttrs> {
    /// The shared attributes of a session whose first event is `event`.
    pub fn attrs_of(&mut self, event: &LiveEvent) -> Arc<SessionAttrs> {
        let attrs = SessionAttrs::of(event);
        if let Some(shared) = self.values.get(&attrs) {
            return shared.clone();
        }
        let shared = Arc::new(attrs);
        self.values.insert(shared.clone());
        shared
    }
}

fn text(v: &Option<Arc<str>>) -> Value<'_> {
    v.as_deref().map_or(Value::Null, Value::Str)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn hex_ids_are_what_format_writes() {
        for id in [0, 1, 0xabc, u64::MAX, 0x0123_4567_89ab_cdef, 1 << 63] {
            assert_eq!(&*hex_id(id), format!("{id:016x}"));
        }
    }

    #[test]
    fn a_visitor_gets_a_new_session_after_the_idle_timeout() {
        let index = SessionIndex::new(SESSION_IDLE_TIMEOUT_MS);
        let t0 = 1_000_000;
        let a = index.assign("s", 7, t0);
        assert_eq!(index.assign("s", 7, t0 + SESSION_IDLE_TIMEOUT_MS), a);
        let b = index.assign("s", 7, t0 + 2 * SESSION_IDLE_TIMEOUT_MS + 1);
        assert_ne!(a, b);
        assert_ne!(index.assign("s", 8, t0), a);
        index.expire(t0 + 10 * SESSION_IDLE_TIMEOUT_MS);
        assert!(index.is_empty());
    }

    #[test]
    fn live_session_state_stays_compact_and_shares_its_strings() {
        assert!(std::mem::size_of::<SessionState>() <= 112);
        let mut paths: Interner<str> = Interner::default();
        let mut attrs: Interner<SessionAttrs> = Interner::default();
        let event = |path: &str| LiveEvent {
            path: Some(Arc::from(path)),
            device: Some(Arc::from("mobile")),
            ..LiveEvent::default()
        };
        let (a, b) = (event("/p"), event("/p"));
        let shared = paths.intern(a.path.as_ref().unwrap());
        assert!(Arc::ptr_eq(
            &shared,
            &paths.intern(b.path.as_ref().unwrap())
        ));
        assert!(Arc::ptr_eq(&attrs.attrs_of(&a), &attrs.attrs_of(&b)));
        assert_eq!((paths.len(), attrs.len()), (1, 1));
        paths.sweep();
        attrs.sweep();
        assert_eq!((paths.len(), attrs.len()), (1, 0), "only held values stay");
        drop((shared, a, b));
        paths.sweep();
        assert!(paths.is_empty());
    }

    #[test]
    fn a_resumed_session_is_the_visitors_open_one() {
        let index = SessionIndex::new(SESSION_IDLE_TIMEOUT_MS);
        index.resume(7, Arc::from("recovered"), 1_000);
        assert_eq!(&*index.assign("s", 7, 2_000), "recovered");
        index.resume(7, Arc::from("older"), 500);
        assert_eq!(&*index.assign("s", 7, 3_000), "recovered");
    }

    /// The sessions row of `state`, as values.
    fn row_of(state: &SessionState) -> Vec<String> {
        let cols = SessionColumns::resolve().unwrap();
        let mut rows = RowBuf::new(Table::Sessions);
        state.push_row("shop.example", &cols, &mut rows).unwrap();
        let mut out = Vec::new();
        assert!(rows.reader().next_row(&mut out).unwrap());
        out.iter().map(|v| format!("{v:?}")).collect()
    }

    proptest::proptest! {
        /// Import folds each part of a chunk into partial states and merges them in line order:
        /// at any cut, that is the state of adding every event in order.
        #[test]
        fn merging_partial_states_is_adding_the_events_in_order(
            events in proptest::collection::vec(
                (0i64..10_000, proptest::option::of(0u8..4), 0i64..500, proptest::bool::ANY),
                1..30,
            ),
            cuts in proptest::collection::vec(0usize..30, 0..4),
        ) {
            let events: Vec<LiveEvent> = events
                .iter()
                .map(|&(ms, path, revenue, converted)| LiveEvent {
                    event_ms: ms,
                    session_id: Arc::from("s1"),
                    visitor_id: Arc::from("v1"),
                    is_pageview: path.is_some(),
                    path: path.map(|p| Arc::from(format!("/p{p}"))),
                    revenue,
                    converted,
                    ..LiveEvent::default()
                })
                .collect();
            let mut sequential = SessionState::start(&events[0]);
            for event in &events[1..] {
                sequential.add(event);
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(events.len())).collect();
            cuts.extend([0, events.len()]);
            cuts.sort_unstable();
            cuts.dedup();
            let mut merged: Option<SessionState> = None;
            for part in cuts.windows(2).map(|w| &events[w[0]..w[1]]) {
                let mut state = SessionState::start(&part[0]);
                for event in &part[1..] {
                    state.add(event);
                }
                match merged.as_mut() {
                    Some(earlier) => earlier.merge(state),
                    None => merged = Some(state),
                }
            }
            proptest::prop_assert_eq!(row_of(&merged.unwrap()), row_of(&sequential));
        }
    }

    #[test]
    fn state_accumulates_and_writes_a_row() {
        let event = |ms, path: &str, pageview| LiveEvent {
            event_ms: ms,
            session_id: Arc::from("s1"),
            visitor_id: Arc::from("v1"),
            is_pageview: pageview,
            path: Some(Arc::from(path)),
            ..LiveEvent::default()
        };
        let mut state = SessionState::start(&event(1000, "/in", true));
        state.add(&event(5000, "/mid", false));
        state.add(&LiveEvent {
            revenue: 1999,
            converted: true,
            ..event(61_000, "/out", true)
        });
        assert_eq!((state.pageviews, state.events), (2, 3));
        assert_eq!(state.entry_path.as_deref(), Some("/in"));
        assert_eq!(state.exit_path.as_deref(), Some("/out"));
        let cols = SessionColumns::resolve().unwrap();
        let mut rows = RowBuf::new(Table::Sessions);
        state.push_row("shop.example", &cols, &mut rows).unwrap();
        let mut reader = rows.reader();
        let mut out = Vec::new();
        assert!(reader.next_row(&mut out).unwrap());
        assert_eq!(out[cols.duration], Value::Int(60));
        assert_eq!(out[cols.revenue], Value::Int(1999));
        assert_eq!(out[cols.is_bounce], Value::Bool(false));
        assert_eq!(out[cols.site], Value::Str("shop.example"));
    }
}
