//! Rebuilding live sessions from the store after a crash.
//!
//! A session's row is written when it closes, so the sessions that were open when the daemon was
//! killed (SIGKILL, power loss) have events in the store and no row. On start, each site's first
//! SiteActor reads the events of the last [`SESSION_RECOVERY_LOOKBACK_MS`] from a snapshot taken
//! before it handles any new event, and rebuilds every session that has events after its row's
//! `end` (or no row at all). The rebuilt sessions then close by the idle timeout like live ones,
//! counted from their latest event, so each session gets exactly one row.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ecomdash_storage::{ColumnBatch, ScanError, ScanRequest, Snapshot, Table, Value};

use crate::live::LiveEvent;
use crate::rows::{EventColumns, MissingColumn, SessionColumns};
use crate::session::SessionState;

/// How far back recovery reads events: sessions whose latest event is older than this (a daemon
/// down for hours) are not rebuilt. It bounds the start-up scan: events arriving meanwhile wait
/// for it (and past the actor backlog limit, intake answers 503).
pub const SESSION_RECOVERY_LOOKBACK_MS: i64 = 6 * 60 * 60 * 1000;

/// A session that was still going at the start of the lookback is read further back, one more
/// lookback at a time (only its own events), up to this many lookbacks in all: a session
/// rebuilt after a crash keeps its events of the last 24 hours.
pub const SESSION_RECOVERY_MAX_LOOKBACKS: i64 = 4;

/// Client clocks may run this far ahead of the server (the intake's accepted skew).
const FUTURE_SKEW_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Schema(#[from] MissingColumn),
    #[error("scan failed: {0}")]
    Scan(#[from] ScanError),
}

/// A session rebuilt from stored events.
pub struct RecoveredSession {
    pub state: SessionState,
    /// When it was last active: its latest event time, never after `now_ms`.
    pub last_activity_ms: i64,
}

/// The sessions of `site` that have events in `snapshot` (within the lookback) not covered by a
/// `sessions` row. Blocking: it decodes the site's recent events.
///
/// A session whose earliest event found is within `idle_timeout_ms` of the start of what was
/// read may have begun before it: its events are then read one lookback further back, up to
/// [`SESSION_RECOVERY_MAX_LOOKBACKS`].
pub fn recover_sessions(
    snapshot: &Snapshot,
    site: &str,
    now_ms: i64,
    idle_timeout_ms: i64,
) -> Result<Vec<RecoveredSession>, RecoveryError> {
    let from_us = (now_ms - SESSION_RECOVERY_LOOKBACK_MS) * 1000;
    let to_us = (now_ms + FUTURE_SKEW_MS) * 1000;
    let oldest_us = (now_ms - SESSION_RECOVERY_MAX_LOOKBACKS * SESSION_RECOVERY_LOOKBACK_MS) * 1000;
    // Rows back to the oldest window, read once for every scan below: the extra scans need
    // them, and so does the first one, for a session longer than the lookback that closed
    // within it (its row starts before the lookback and covers events inside it).
    let written = written_session_ends(snapshot, site, oldest_us)?;

    let cols = EventColumns::resolve()?;
    let wanted = vec![
        cols.ts,
        cols.session_id,
        cols.visitor_id,
        cols.event_type,
        cols.path,
        cols.referrer_source,
        cols.utm[0],
        cols.utm[1],
        cols.utm[2],
        cols.utm[3],
        cols.utm[4],
        cols.country,
        cols.device,
        cols.browser,
        cols.os,
        cols.is_bot,
        cols.revenue,
        cols.order_id,
    ];
    let scan = |(from_us, to_us): (i64, i64),
                only: Option<&HashSet<Arc<str>>>,
                open: &mut HashMap<Arc<str>, Vec<LiveEvent>>|
     -> Result<(), RecoveryError> {
        let request = ScanRequest {
            sites: Some(vec![site.to_owned()]),
            time_range: Some((from_us, to_us)),
            ..ScanRequest::new(Table::Events, wanted.clone())
        };
        for unit in &snapshot.plan_scan(&request).units {
            if unit.site() != site {
                continue;
            }
            let batch = unit.read()?;
            collect_events(&batch, &cols, (from_us, to_us), &written, only, open);
        }
        Ok(())
    };
    let mut open: HashMap<Arc<str>, Vec<LiveEvent>> = HashMap::new();
    scan((from_us, to_us), None, &mut open)?;
    // sessions that reach back to the start of what was read: read their events before it
    let mut start_us = from_us;
    while start_us > oldest_us {
        let reaching: HashSet<Arc<str>> = open
            .iter()
            .filter(|(_, events)| {
                events
                    .iter()
                    .map(|e| e.event_ms)
                    .min()
                    .is_some_and(|first_ms| first_ms * 1000 < start_us + idle_timeout_ms * 1000)
            })
            .map(|(id, _)| id.clone())
            .collect();
        if reaching.is_empty() {
            break;
        }
        let earlier_us = start_us - SESSION_RECOVERY_LOOKBACK_MS * 1000;
        scan((earlier_us, start_us - 1), Some(&reaching), &mut open)?;
        start_us = earlier_us;
    }

    let mut sessions = Vec::with_capacity(open.len());
    for (_, mut events) in open {
        events.sort_by_key(|e| e.event_ms);
        let Some(first) = events.first() else {
            continue;
        };
        let mut state = SessionState::start(first);
        for event in &events[1..] {
            state.add(event);
        }
        let last_activity_ms = state.last_ms.min(now_ms);
        sessions.push(RecoveredSession {
            state,
            last_activity_ms,
        });
    }
    Ok(sessions)
}

/// Session id → latest `end` (µs) of its rows, for rows that may cover recent events.
fn written_session_ends(
    snapshot: &Snapshot,
    site: &str,
    from_us: i64,
) -> Result<HashMap<String, i64>, RecoveryError> {
    let cols = SessionColumns::resolve()?;
    let request = ScanRequest {
        sites: Some(vec![site.to_owned()]),
        // a row covering an event after `from_us` started at most a lookback before it
        time_range: Some((from_us - SESSION_RECOVERY_LOOKBACK_MS * 1000, i64::MAX)),
        ..ScanRequest::new(Table::Sessions, vec![cols.session_id, cols.end])
    };
    let mut ends: HashMap<String, i64> = HashMap::new();
    for unit in &snapshot.plan_scan(&request).units {
        if unit.site() != site {
            continue;
        }
        let batch = unit.read()?;
        let (Some(ids), Some(end)) = (batch.column(cols.session_id), batch.column(cols.end)) else {
            continue;
        };
        for row in 0..ids.len() {
            if let (Value::Str(id), Value::Int(end)) = (ids.value(row), end.value(row)) {
                let slot = ends.entry(id.to_owned()).or_insert(end);
                *slot = (*slot).max(end);
            }
        }
    }
    Ok(ends)
}

/// Adds the events of `batch` in `[from_us, to_us]` that no session row covers to `open`, only
/// those of the sessions in `only` when given.
fn collect_events(
    batch: &ColumnBatch,
    cols: &EventColumns,
    (from_us, to_us): (i64, i64),
    written: &HashMap<String, i64>,
    only: Option<&HashSet<Arc<str>>>,
    open: &mut HashMap<Arc<str>, Vec<LiveEvent>>,
) {
    let Some(ts) = batch.column(cols.ts) else {
        return;
    };
    let str_at = |column: usize, row: usize| match batch.column(column).map(|c| c.value(row)) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    };
    let arc_at = |column: usize, row: usize| str_at(column, row).map(Arc::<str>::from);
    for row in 0..ts.len() {
        let Value::Int(ts_us) = ts.value(row) else {
            continue;
        };
        if ts_us < from_us || ts_us > to_us {
            continue;
        }
        let is_bot = matches!(
            batch.column(cols.is_bot).map(|c| c.value(row)),
            Some(Value::Bool(true))
        );
        if is_bot {
            continue;
        }
        let Some(session_id) = str_at(cols.session_id, row) else {
            continue;
        };
        if written.get(session_id).is_some_and(|&end| ts_us <= end) {
            continue;
        }
        if only.is_some_and(|only| !only.contains(session_id)) {
            continue;
        }
        let event_type = str_at(cols.event_type, row).unwrap_or("");
        let revenue = match batch.column(cols.revenue).map(|c| c.value(row)) {
            Some(Value::Int(v)) => v,
            _ => 0,
        };
        let event_ms = ts_us.div_euclid(1000);
        let event = LiveEvent {
            received_ms: event_ms,
            event_ms,
            visitor: 0,
            visitor_id: arc_at(cols.visitor_id, row).unwrap_or_else(|| Arc::from("")),
            session_id: Arc::from(session_id),
            is_pageview: event_type == "pageview",
            is_bot: false,
            path: arc_at(cols.path, row),
            referrer_source: str_at(cols.referrer_source, row).and_then(static_source),
            utm: cols.utm.map(|c| arc_at(c, row)),
            country: arc_at(cols.country, row),
            device: arc_at(cols.device, row),
            browser: arc_at(cols.browser, row),
            os: arc_at(cols.os, row),
            revenue,
            converted: event_type == "ecommerce" && str_at(cols.order_id, row).is_some(),
        };
        match open.get_mut(session_id) {
            Some(events) => events.push(event),
            None => {
                open.insert(event.session_id.clone(), vec![event]);
            }
        }
    }
}

/// The interned name of a stored referrer class (the classes of `enrich::referrer`).
fn static_source(stored: &str) -> Option<&'static str> {
    const SOURCES: [&str; 7] = [
        "direct", "internal", "search", "social", "email", "paid", "other",
    ];
    SOURCES.into_iter().find(|s| *s == stored)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use ecomdash_storage::{RowBuf, Store, StoreConfig};

    use super::*;

    const NOW: i64 = 1_767_225_600_000;
    /// The default session idle timeout.
    const IDLE: i64 = 30 * 60 * 1000;

    struct Ev<'a> {
        at_ms: i64,
        session: &'a str,
        kind: &'a str,
        path: &'a str,
        bot: bool,
        revenue: Option<i64>,
        order: Option<&'a str>,
    }

    fn ev<'a>(at_ms: i64, session: &'a str, path: &'a str) -> Ev<'a> {
        Ev {
            at_ms,
            session,
            kind: "pageview",
            path,
            bot: false,
            revenue: None,
            order: None,
        }
    }

    fn events(store: &Store, events: &[Ev<'_>]) {
        let cols = EventColumns::resolve().unwrap();
        let mut rows = RowBuf::new(Table::Events);
        for e in events {
            let mut row = vec![Value::Null; cols.len];
            row[cols.ts] = Value::Int(e.at_ms * 1000);
            row[cols.site] = Value::Str("shop.example");
            row[cols.event_type] = Value::Str(e.kind);
            row[cols.name] = Value::Str(e.kind);
            row[cols.session_id] = Value::Str(e.session);
            row[cols.visitor_id] = Value::Str("00000000000000ff");
            row[cols.path] = Value::Str(e.path);
            row[cols.referrer_source] = Value::Str("search");
            row[cols.is_bot] = Value::Bool(e.bot);
            if let Some(revenue) = e.revenue {
                row[cols.revenue] = Value::Int(revenue);
            }
            if let Some(order) = e.order {
                row[cols.order_id] = Value::Str(order);
            }
            rows.push_row(&row).unwrap();
        }
        store.append(rows).wait().unwrap();
    }

    fn session_row(store: &Store, session: &str, start_ms: i64, end_ms: i64) {
        let first = LiveEvent {
            event_ms: start_ms,
            session_id: Arc::from(session),
            visitor_id: Arc::from("v"),
            ..LiveEvent::default()
        };
        let mut state = SessionState::start(&first);
        state.last_ms = end_ms;
        let mut rows = RowBuf::new(Table::Sessions);
        state
            .push_row(
                "shop.example",
                &SessionColumns::resolve().unwrap(),
                &mut rows,
            )
            .unwrap();
        store.append(rows).wait().unwrap();
    }

    #[test]
    fn rebuilds_sessions_not_covered_by_a_row_from_their_events() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
        let minute = 60_000;
        events(
            &store,
            &[
                ev(NOW - 20 * minute, "open", "/in"),
                Ev {
                    kind: "ecommerce",
                    revenue: Some(1999),
                    order: Some("o-1"),
                    ..ev(NOW - 10 * minute, "open", "/checkout")
                },
                ev(NOW - 15 * minute, "open", "/mid"),
                ev(NOW - 50 * minute, "closed", "/a"),
                ev(NOW - 45 * minute, "closed", "/b"),
                ev(NOW - 40 * minute, "continued", "/x"),
                ev(NOW - 5 * minute, "continued", "/y"),
                Ev {
                    bot: true,
                    ..ev(NOW - minute, "bot", "/")
                },
                ev(NOW - SESSION_RECOVERY_LOOKBACK_MS - minute, "ancient", "/"),
            ],
        );
        session_row(&store, "closed", NOW - 50 * minute, NOW - 45 * minute);
        session_row(&store, "continued", NOW - 40 * minute, NOW - 40 * minute);

        let mut recovered = recover_sessions(&store.snapshot(), "shop.example", NOW, IDLE).unwrap();
        recovered.sort_by(|a, b| a.state.session_id.cmp(&b.state.session_id));
        let ids: Vec<&str> = recovered.iter().map(|r| &*r.state.session_id).collect();
        assert_eq!(ids, ["continued", "open"]);

        let continued = &recovered[0].state;
        assert_eq!(
            (continued.events, continued.pageviews),
            (1, 1),
            "only after its row"
        );
        assert_eq!(continued.entry_path.as_deref(), Some("/y"));

        let open = &recovered[1];
        assert_eq!((open.state.events, open.state.pageviews), (3, 2));
        assert_eq!((open.state.revenue, open.state.converted), (1999, true));
        assert_eq!(open.state.entry_path.as_deref(), Some("/in"));
        assert_eq!(
            open.state.exit_path.as_deref(),
            Some("/mid"),
            "in event-time order"
        );
        assert_eq!(open.state.attrs.referrer_source, Some("search"));
        assert_eq!(open.last_activity_ms, NOW - 10 * minute);
        assert!(
            recover_sessions(&store.snapshot(), "other.example", NOW, IDLE)
                .unwrap()
                .is_empty()
        );
        store.close().unwrap();
    }

    #[test]
    fn a_session_longer_than_the_lookback_keeps_its_earlier_events() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
        let minute = 60_000;
        let hour = 60 * minute;
        let mut evs = Vec::new();
        // a visit going on for 10 hours, an event every 20 minutes
        let long_paths: Vec<String> = (0..=30).map(|i| format!("/long/{i}")).collect();
        for (i, path) in long_paths.iter().enumerate() {
            evs.push(ev(NOW - 10 * hour + i as i64 * 20 * minute, "long", path));
        }
        // a session that began 5 hours ago: read in the lookback alone
        evs.push(ev(NOW - 5 * hour, "short", "/s1"));
        evs.push(ev(NOW - 5 * hour + 10 * minute, "short", "/s2"));
        // events of another session before the lookback, which no later event continues
        evs.push(ev(NOW - 8 * hour, "earlier", "/e"));
        // a session that started 30 hours ago and went on for 29: read back 24 hours at most
        let endless_paths: Vec<String> = (0..=87).map(|i| format!("/endless/{i}")).collect();
        for (i, path) in endless_paths.iter().enumerate() {
            evs.push(ev(
                NOW - 30 * hour + i as i64 * 20 * minute,
                "endless",
                path,
            ));
        }
        events(&store, &evs);

        let mut recovered = recover_sessions(&store.snapshot(), "shop.example", NOW, IDLE).unwrap();
        recovered.sort_by(|a, b| a.state.session_id.cmp(&b.state.session_id));
        let ids: Vec<&str> = recovered.iter().map(|r| &*r.state.session_id).collect();
        assert_eq!(ids, ["endless", "long", "short"]);

        let endless = &recovered[0].state;
        let long = &recovered[1].state;
        let short = &recovered[2].state;
        assert_eq!(
            (long.events, long.pageviews),
            (31, 31),
            "all 10 hours of it"
        );
        assert_eq!(long.entry_path.as_deref(), Some("/long/0"));
        assert_eq!(long.exit_path.as_deref(), Some("/long/30"));
        assert_eq!(long.start_ms, NOW - 10 * hour);
        assert_eq!(
            (short.events, short.entry_path.as_deref()),
            (2, Some("/s1"))
        );
        // 24 hours back: events from NOW - 24 h to NOW - 1 h, one every 20 minutes
        assert_eq!(endless.start_ms, NOW - 24 * hour);
        assert_eq!(endless.events, 70);
        store.close().unwrap();
    }
}
