//! Read endpoints: realtime figures, health and metrics.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ecomdash_protocol::ErrorCode;

use super::body::{bearer, query_param, secret_eq};
use super::error::ApiError;
use crate::engine::Engine;
use crate::metrics::Route;

/// `GET /api/v1/analytics/realtime?site=DOMAIN` with `Authorization: Bearer READ_KEY`.
pub async fn realtime(State(engine): State<Arc<Engine>>, headers: HeaderMap, uri: Uri) -> Response {
    let started = Instant::now();
    let response = match realtime_inner(&engine, &headers, &uri) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    engine.metrics.observe(Route::Realtime, started.elapsed());
    response
}

fn realtime_inner(engine: &Engine, headers: &HeaderMap, uri: &Uri) -> Result<Response, ApiError> {
    let domain = query_param(uri, "site")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                "the site query parameter is required",
            )
        })?;
    let token = bearer(headers).ok_or_else(|| {
        ApiError::new(
            ErrorCode::MissingApiKey,
            "send the site's read key as Authorization: Bearer",
        )
    })?;
    let denied = || {
        ApiError::new(
            ErrorCode::InvalidApiKey,
            "the read key does not match this site",
        )
    };
    let site = engine.site(domain).ok_or_else(denied)?;
    if !secret_eq(token, &site.config.read_key) {
        return Err(denied());
    }
    let snapshot = site.live.snapshot(&site.domain, engine.clock.now_ms());
    Ok(Json(snapshot).into_response())
}

/// `GET /healthz`: 200 once recovery is done (the listener only serves after it), 503 while
/// shutting down.
pub async fn healthz(State(engine): State<Arc<Engine>>) -> Response {
    if engine.accepting.load(std::sync::atomic::Ordering::Relaxed) {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(engine): State<Arc<Engine>>) -> Response {
    let stats = engine.store.stats();
    let in_flight = engine.config.limits.max_in_flight_requests as usize
        - engine
            .in_flight
            .available_permits()
            .min(engine.config.limits.max_in_flight_requests as usize);
    let gauges = [
        (
            "ecomdash_requests_in_flight",
            "Admitted requests not yet answered.",
            in_flight as f64,
        ),
        (
            "ecomdash_actor_backlog_events",
            "Acknowledged events queued in actor mailboxes.",
            engine.actor_backlog() as f64,
        ),
        (
            "ecomdash_live_sessions",
            "Sessions open in SessionActors.",
            engine.live_sessions() as f64,
        ),
        (
            "ecomdash_memtable_bytes",
            "Estimated memtable heap size.",
            stats.memtable_bytes as f64,
        ),
        (
            "ecomdash_memtable_rows",
            "Rows in the memtable.",
            stats.memtable_rows as f64,
        ),
        (
            "ecomdash_segments",
            "Segment files in the store.",
            stats.segment_count as f64,
        ),
        (
            "ecomdash_segment_bytes",
            "Bytes of segment files.",
            stats.segment_bytes as f64,
        ),
        (
            "ecomdash_wal_files",
            "WAL files not yet checkpointed.",
            stats.wal_files as f64,
        ),
        (
            "ecomdash_wal_bytes",
            "Bytes of WAL not yet checkpointed.",
            stats.wal_bytes as f64,
        ),
        (
            "ecomdash_wal_fsyncs",
            "WAL fsyncs since start.",
            stats.fsync_count as f64,
        ),
        (
            "ecomdash_wal_fsync_last_seconds",
            "Duration of the latest WAL fsync.",
            stats.fsync_last_us as f64 / 1e6,
        ),
        (
            "ecomdash_wal_fsync_avg_seconds",
            "Mean WAL fsync duration since start.",
            stats.fsync_avg_us as f64 / 1e6,
        ),
        (
            "ecomdash_wal_fsync_max_seconds",
            "Longest WAL fsync since start.",
            stats.fsync_max_us as f64 / 1e6,
        ),
        (
            "ecomdash_store_poisoned",
            "1 when a failed fsync poisoned the store.",
            f64::from(u8::from(stats.poisoned)),
        ),
        (
            "ecomdash_query_block_cache_bytes",
            "Decompressed column blocks the query block cache holds.",
            ecomdash_storage::Segment::block_cache_bytes() as f64,
        ),
    ];
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        engine.metrics.render(&gauges),
    )
        .into_response()
}
