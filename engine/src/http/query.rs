//! Read endpoints backed by the query engine (`ecomdash-query`): `POST /api/v1/query` runs the
//! SQL-lite dialect, `GET /api/v1/analytics/summary` the dashboard summary. Both take a read key
//! as `Authorization: Bearer` and see only the sites of that key; both run on a consistent store
//! snapshot (segments and memtable, so acknowledged events are visible) on a blocking thread.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ecomdash_protocol::ErrorCode;
use ecomdash_query::{QueryError, QueryLimits, SnapshotSource, SummaryFilter, SummaryRequest};
use serde::Deserialize;

use super::body::{bearer, read_limited, secret_eq};
use super::error::ApiError;
use crate::engine::Engine;

/// Largest body of `POST /api/v1/query`.
const MAX_QUERY_BODY_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryBody {
    sql: String,
}

/// `POST /api/v1/query` `{"sql": "..."}` → columns, rows and stats as JSON, or CSV with
/// `?format=csv`.
pub async fn query(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    match query_inner(engine, &headers, &uri, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn query_inner(
    engine: Arc<Engine>,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let sites = readable_sites(&engine, headers)?;
    let csv = match param(uri, "format").as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                format!("format {other:?} is not supported; use json or csv"),
            ))
        }
    };
    let bytes = read_limited(headers, body, MAX_QUERY_BODY_BYTES).await?;
    let request: QueryBody = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("send {{\"sql\": \"...\"}}: {e}"),
        )
    })?;
    let query =
        ecomdash_query::parse_and_check(&request.sql).map_err(|e| ApiError::from_query(&e))?;
    let limits = limits(&engine);
    let result = run_blocking(move || {
        let source = SnapshotSource::new(engine.store.snapshot());
        ecomdash_query::execute(&query, &source, &limits, &sites)
    })
    .await?;
    if csv {
        Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            result.to_csv(),
        )
            .into_response())
    } else {
        Ok(Json(result).into_response())
    }
}

/// `GET /api/v1/analytics/summary?site=DOMAIN&from=YYYY-MM-DD&to=YYYY-MM-DD` plus optional
/// filters (`page`, `entry_page`, `source`, `utm_campaign`, `country`, `device`, `browser`,
/// `os`).
pub async fn summary(State(engine): State<Arc<Engine>>, headers: HeaderMap, uri: Uri) -> Response {
    match summary_inner(engine, &headers, &uri).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn summary_inner(
    engine: Arc<Engine>,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Response, ApiError> {
    let sites = readable_sites(&engine, headers)?;
    let required = |name: &str| {
        param(uri, name).filter(|v| !v.is_empty()).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                format!("the {name} query parameter is required"),
            )
        })
    };
    let site = required("site")?;
    let from = required("from")?;
    let to = required("to")?;
    if !sites.contains(&site) {
        return Err(ApiError::from_query(&QueryError::SiteForbidden { site }));
    }
    let mut filters = Vec::new();
    for (name, value) in params(uri) {
        if matches!(name.as_str(), "site" | "from" | "to") {
            continue;
        }
        let filter = SummaryFilter::from_param(&name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                format!(
                    "unknown parameter {name:?}; filters are page, entry_page, source, \
                     utm_campaign, country, device, browser and os"
                ),
            )
        })?;
        filters.push((filter, value));
    }
    let request = SummaryRequest {
        site,
        from,
        to,
        filters,
    };
    let limits = limits(&engine);
    let summary = run_blocking(move || {
        let source = SnapshotSource::new(engine.store.snapshot());
        ecomdash_query::summary(&source, &request, &limits)
    })
    .await?;
    Ok(Json(summary).into_response())
}

/// The sites whose read key is the bearer token: 401 without a token or when no site has it.
fn readable_sites(engine: &Engine, headers: &HeaderMap) -> Result<Vec<String>, ApiError> {
    let token = bearer(headers).ok_or_else(|| {
        ApiError::new(
            ErrorCode::MissingApiKey,
            "send a site's read key as Authorization: Bearer",
        )
    })?;
    let sites: Vec<String> = engine
        .registry
        .all()
        .into_iter()
        .filter(|site| secret_eq(token, &site.read_key))
        .map(|site| site.domain.clone())
        .collect();
    if sites.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidApiKey,
            "the read key does not belong to any site",
        ));
    }
    Ok(sites)
}

fn limits(engine: &Engine) -> QueryLimits {
    QueryLimits {
        memory_bytes: engine.config.query.memory_bytes,
        time_ms: engine.config.query.time_ms,
        ..QueryLimits::default()
    }
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, QueryError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(|e| ApiError::from_query(&e)),
        Err(e) => {
            tracing::error!(error = %e, "query task failed");
            Err(ApiError::new(ErrorCode::Internal, "internal error"))
        }
    }
}

/// The query string's pairs, percent-decoded (`+` is a space).
fn params(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn param(uri: &Uri, name: &str) -> Option<String> {
    params(uri)
        .into_iter()
        .find_map(|(key, value)| (key == name).then_some(value))
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_escapes_plus_and_broken_escapes() {
        assert_eq!(percent_decode("%2Fshoes%20red+x"), "/shoes red x");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
