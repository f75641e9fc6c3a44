//! Rebuilding live sessions from the store after a crash.
//!
//! A session's row is written when it closes, so the sessions that were open when the daemon was
//! killed (SIGKILL, power loss) have events in the store and no row. On start, each site's first
//! SiteActor reads the events of the last [`SESSION_RECOVERY_LOOKBACK_MS`] from a snapshot taken
//! before it handles any new event, and rebuilds every session that has events after its row's
//! `end` (or no row at all). The rebuilt sessions then close by the idle timeout like live ones,
//! counted from their latest event, so each session gets exactly one row.

use std::collections::HashMap;
use std::sync::Arc;

use ecomdash_storage::{ColumnBatch, ScanError, ScanRequest, Snapshot, Table, Value};

use crate::live::LiveEvent;
use crate::rows::{EventColumns, MissingColumn, SessionColumns};
use crate::session::SessionState;

/// How far back recovery reads events: sessions whose latest event is older than this (a daemon
/// down for hours) are not rebuilt, and a rebuilt session loses its events from before it. It
/// bounds the start-up scan: events arriving meanwhile wait for it (and past the actor backlog
/// limit, intake answers 503).
pub const SESSION_RECOVERY_LOOKBACK_MS: i64 = 6 * 60 * 60 * 1000;

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
pub fn recover_sessions(
    snapshot: &Snapshot,
    site: &str,
    now_ms: i64,
) -> Result<Vec<RecoveredSession>, RecoveryError> {
    let from_us = (now_ms - SESSION_RECOVERY_LOOKBACK_MS) * 1000;
    let to_us = (now_ms + FUTURE_SKEW_MS) * 1000;
    let written = written_session_ends(snapshot, site, from_us)?;

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
    let request = ScanRequest {
        sites: Some(vec![site.to_owned()]),
        time_range: Some((from_us, to_us)),
        ..ScanRequest::new(Table::Events, wanted)
    };
    let mut open: HashMap<Arc<str>, Vec<LiveEvent>> = HashMap::new();
    for unit in &snapshot.plan_scan(&request).units {
        if unit.site() != site {
            continue;
        }
        let batch = unit.read()?;
        collect_events(&batch, &cols, (from_us, to_us), &written, &mut open);
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

fn collect_events(
    batch: &ColumnBatch,
    cols: &EventColumns,
    (from_us, to_us): (i64, i64),
    written: &HashMap<String, i64>,
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
