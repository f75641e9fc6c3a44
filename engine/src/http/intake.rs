//! `POST /api/v1/analytics/track/event` and `/track/batch`: admit, decode, authenticate, limit,
//! validate, enrich, append durably, then answer 202 and hand the events to the SiteActor.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ecomdash_protocol::decode::decode_batch_events;
use ecomdash_protocol::limits::{MAX_BATCH_BODY_BYTES, MAX_EVENT_BODY_BYTES};
use ecomdash_protocol::{decode_event, ErrorCode, TrackResponse, ValidateOptions, WireEvent};

use super::body::{check_content_type, query_param, read_limited};
use super::error::{status_of, ApiError};
use crate::admission::{try_permit, Admitted, OVERLOAD_RETRY_AFTER_SECS};
use crate::engine::{Engine, SiteRuntime};
use crate::metrics::Route;
use crate::pipeline::{ClientContext, PreparedEvents, SiteContext};

pub async fn track_event(
    State(engine): State<Arc<Engine>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    answer(&engine, peer, request, false).await
}

pub async fn track_batch(
    State(engine): State<Arc<Engine>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    answer(&engine, peer, request, true).await
}

/// Runs [`track`] on the request's own headers and URI (not the copies the `HeaderMap` and
/// `Uri` extractors would make), counts a refusal by its code and times the route.
async fn answer(engine: &Arc<Engine>, peer: SocketAddr, request: Request, batch: bool) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let response = match track(engine, peer, &parts.headers, &parts.uri, body, batch).await {
        Ok((status, answer)) => (status, Json(answer)).into_response(),
        Err(error) => {
            engine.metrics.reject(error.code(), 1);
            error.into_response()
        }
    };
    let route = if batch {
        Route::TrackBatch
    } else {
        Route::TrackEvent
    };
    engine.metrics.observe(route, started.elapsed());
    response
}

fn overloaded() -> ApiError {
    ApiError::new(
        ErrorCode::Overloaded,
        "the server is overloaded, retry later",
    )
    .retry_after(OVERLOAD_RETRY_AFTER_SECS)
}

/// The site a request writes to: key from `X-API-Key`, else the body's `api_key`, else `?key=`.
fn authenticate(
    engine: &Engine,
    headers: &HeaderMap,
    body_key: Option<&str>,
    uri: &Uri,
) -> Result<Arc<SiteRuntime>, ApiError> {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or(body_key)
        .or_else(|| query_param(uri, "key"))
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingApiKey,
                "no write key: send X-API-Key, api_key in the body, or ?key=",
            )
        })?;
    engine
        .site_by_write_key(key)
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidApiKey, "unknown write key"))
}

/// Who made the request. A browser always sends a `User-Agent` (possibly empty, when tools
/// strip it) and `Origin` or `Referer` with a tracker's POST; a request with none of them is a
/// server-side sender (a shop backend through `ecomdash-client`), whose events are judged by the
/// `user_agent` / `ip` it forwards, if any. So an empty or tool User-Agent from a browser
/// context stays a bot, while a backend's order is not one.
fn client_context<'h>(
    engine: &Engine,
    peer: SocketAddr,
    headers: &'h HeaderMap,
) -> ClientContext<'h> {
    let user_agent = headers.get(header::USER_AGENT);
    let browser_context = user_agent.is_some()
        || headers.contains_key(header::ORIGIN)
        || headers.contains_key(header::REFERER);
    if !browser_context {
        return ClientContext::Server { peer: peer.ip() };
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    ClientContext::Http {
        ip: engine
            .enricher
            .trusted_proxies
            .client_ip(peer.ip(), forwarded),
        user_agent: user_agent.and_then(|v| v.to_str().ok()).unwrap_or(""),
        accept_language: headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    }
}

async fn track(
    engine: &Arc<Engine>,
    peer: SocketAddr,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
    batch: bool,
) -> Result<(StatusCode, TrackResponse), ApiError> {
    if !engine.accepting.load(Ordering::Relaxed) {
        return Err(overloaded());
    }
    let global = try_permit(&engine.in_flight).ok_or_else(|| {
        tracing::debug!("global admission full, shedding");
        overloaded()
    })?;
    check_content_type(headers, false)?;
    let limit = if batch {
        MAX_BATCH_BODY_BYTES
    } else {
        MAX_EVENT_BODY_BYTES
    };
    let bytes = read_limited(headers, body, limit).await?;

    // decode first: the key may be in the body
    let mut single: Option<WireEvent<'_>> = None;
    let mut batch_events = Vec::new();
    let body_key;
    if batch {
        let request = decode_batch_events(&bytes)?;
        body_key = request.api_key;
        batch_events = request.events;
    } else {
        let event = decode_event(&bytes)?;
        body_key = event.api_key.clone();
        single = Some(event);
    }
    let site = authenticate(engine, headers, body_key.as_deref(), uri)?;
    let site_permit = try_permit(&site.in_flight).ok_or_else(|| {
        tracing::debug!(site = %site.domain, "site admission full, shedding");
        overloaded()
    })?;
    let _admitted = Admitted::new(global, site_permit);
    let count = if batch { batch_events.len() } else { 1 };
    if let Err(wait_secs) = site.rate.take(count) {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            format!("site {} sends more events than its rate limit", site.domain),
        )
        .retry_after(wait_secs));
    }

    if site.live.actors_behind() {
        tracing::debug!(site = %site.domain, "site actors behind, shedding");
        return Err(overloaded());
    }
    let received_ms = engine.clock.now_ms();
    let options = ValidateOptions {
        now_ms: received_ms,
        check_ts_window: true,
    };
    let client = client_context(engine, peer, headers);
    let site_ctx = SiteContext {
        domain: &site.domain,
        sessions: &site.sessions,
    };
    let prepared = match single {
        Some(event) => {
            let prepared = engine.enricher.prepare_events(
                &site_ctx,
                std::iter::once(Ok(event)),
                &client,
                options,
            )?;
            // a single event answers its error itself, not as a batch rejection
            if let Some((_, error)) = prepared.rejected.into_iter().next() {
                return Err(error.into());
            }
            PreparedEvents {
                rejected: Vec::new(),
                ..prepared
            }
        }
        None => {
            engine
                .enricher
                .prepare_events(&site_ctx, batch_events.into_iter(), &client, options)?
        }
    };
    let PreparedEvents {
        rows,
        accepted,
        live,
        live_rows,
        rejected,
    } = prepared;
    let rejected = engine.count_rejections(rejected);
    if accepted == 0 {
        let first = rejected.first().map(|r| r.error.clone());
        let status = first
            .as_ref()
            .map_or(StatusCode::BAD_REQUEST, |e| status_of(e.code));
        return Ok((
            status,
            TrackResponse {
                accepted: 0,
                deduplicated: 0,
                rejected,
                error: first,
            },
        ));
    }

    let receipt = engine
        .commit_events(&site, rows, live, &live_rows)
        .await
        .map_err(|e| ApiError::from_append(&e))?;
    Ok((
        StatusCode::ACCEPTED,
        TrackResponse {
            accepted,
            deduplicated: receipt.rows_deduplicated,
            rejected,
            error: None,
        },
    ))
}
