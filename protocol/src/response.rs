//! Response bodies of the intake, realtime, import and admin endpoints.

use serde::{Deserialize, Serialize};

use crate::error::ErrorDetail;

/// Answer of `track/event` and `track/batch` (202, or 400 when every event was rejected).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackResponse {
    /// Events now durable, including those that were retries of already stored events.
    pub accepted: usize,
    /// Of `accepted`, how many were retries (same `event_id`) and were not stored again.
    #[serde(default)]
    pub deduplicated: usize,
    /// Rejected events by their index in the batch (always empty for `track/event`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RejectedEvent>,
    /// Set (to the first rejection) only when nothing was accepted and the answer is 400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedEvent {
    pub index: usize,
    pub error: ErrorDetail,
}

/// Answer of `import` (CLI output and `POST /api/v1/admin/import`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub lines: u64,
    pub imported: u64,
    /// Of `imported`, retries of already stored `event_id`s that were not stored again.
    #[serde(default)]
    pub deduplicated: u64,
    pub rejected: u64,
    /// Sessions built from the imported events and written to the `sessions` table.
    #[serde(default)]
    pub sessions: u64,
    /// The first `MAX_IMPORT_ERRORS_REPORTED` rejected lines (1-based line numbers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<LineError>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    pub line: u64,
    pub error: ErrorDetail,
}

/// A site's keys, as `ecomdash site add` prints them and the admin API returns them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteKeys {
    pub domain: String,
    /// Public key for the tracker (`X-API-Key`, `api_key`, `?key=`).
    pub write_key: String,
    /// Secret key for reads (`Authorization: Bearer`).
    pub read_key: String,
}

/// Body of `POST /api/v1/admin/sites`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddSiteRequest {
    pub domain: String,
}

/// A `(key, count)` pair of a top-N list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    pub key: String,
    pub count: u64,
}

/// Pageviews in one minute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteCount {
    /// Start of the minute, milliseconds since the Unix epoch.
    pub minute_ms: i64,
    pub pageviews: u64,
}

/// Answer of `GET /api/v1/analytics/realtime?site=DOMAIN`. Bots are excluded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RealtimeResponse {
    pub site: String,
    /// Server time the figures were taken at, milliseconds since the Unix epoch.
    pub now_ms: i64,
    /// Distinct visitors seen in the last 5 minutes.
    pub visitors_last_5m: u64,
    /// Pageviews per minute for the last 30 minutes, oldest first (the last is the current minute).
    pub pageviews_per_minute: Vec<MinuteCount>,
    /// Events per second over the last 10 seconds.
    pub events_per_second: f64,
    /// Events received in the last 30 minutes.
    pub events_last_30m: u64,
    /// Live sessions (not yet closed).
    pub live_sessions: u64,
    /// Top pages (paths) by pageviews in the last 30 minutes.
    pub top_pages: Vec<Counted>,
    /// Referrer source classes (search, social, ...) in the last 30 minutes.
    pub referrer_sources: Vec<Counted>,
    pub countries: Vec<Counted>,
    pub devices: Vec<Counted>,
}
