//! Admin API, guarded by `Authorization: Bearer ADMIN_TOKEN`: add sites, stream an import.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ecomdash_protocol::{AddSiteRequest, ErrorCode, ImportReport};
use futures_util::StreamExt;

use super::body::{bearer, check_content_type, query_param, read_limited, secret_eq};
use super::error::ApiError;
use crate::engine::{Engine, EngineError};
use crate::import::{ImportSink, Importer, LineChunker, IMPORT_CHUNK_BYTES};
use crate::metrics::Route;
use crate::sites::SitesError;

/// Largest body of `POST /api/v1/admin/sites`.
const MAX_ADMIN_BODY_BYTES: usize = 4096;

fn authorize(engine: &Engine, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &engine.config.admin_token else {
        return Err(ApiError::new(
            ErrorCode::InvalidApiKey,
            "the admin API is disabled: set admin_token",
        ));
    };
    match bearer(headers) {
        None => Err(ApiError::new(
            ErrorCode::MissingApiKey,
            "send Authorization: Bearer ADMIN_TOKEN",
        )),
        Some(token) if secret_eq(token, expected) => Ok(()),
        Some(_) => Err(ApiError::new(ErrorCode::InvalidApiKey, "wrong admin token")),
    }
}

/// `POST /api/v1/admin/sites` `{"domain": "..."}` → 201 with the new site's keys.
pub async fn add_site(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match add_site_inner(&engine, &headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn add_site_inner(
    engine: &Engine,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(engine, headers)?;
    let bytes = read_limited(headers, body, MAX_ADMIN_BODY_BYTES).await?;
    let request: AddSiteRequest = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, e.to_string()))?;
    match engine.add_site(&request.domain).await {
        Ok(site) => Ok((StatusCode::CREATED, Json(site.keys())).into_response()),
        Err(EngineError::Sites(SitesError::Exists(domain))) => Err(ApiError::new(
            ErrorCode::Conflict,
            format!("site {domain} already exists"),
        )),
        Err(EngineError::Sites(SitesError::Invalid(message))) => Err(ApiError::from(
            ecomdash_protocol::ErrorDetail::field("domain", message),
        )),
        Err(e) => {
            tracing::error!(error = %e, "adding a site failed");
            Err(ApiError::new(ErrorCode::Internal, "internal error"))
        }
    }
}

/// `POST /api/v1/admin/import?site=DOMAIN` with an NDJSON body, streamed: answers the
/// [`ImportReport`] once every imported line is durable.
pub async fn import(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let started = Instant::now();
    let response = match import_inner(&engine, &headers, &uri, body).await {
        Ok(report) => (StatusCode::OK, Json(report)).into_response(),
        Err(error) => error.into_response(),
    };
    engine.metrics.observe(Route::Import, started.elapsed());
    response
}

async fn import_inner(
    engine: &Arc<Engine>,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<ImportReport, ApiError> {
    authorize(engine, headers)?;
    check_content_type(headers, true)?;
    let domain = query_param(uri, "site")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                "the site query parameter is required",
            )
        })?
        .to_owned();
    if engine.site(&domain).is_none() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no site {domain}"),
        ));
    }
    let idle_ms = (engine.config.limits.session_idle_timeout_secs as i64) * 1000;
    let now_ms = engine.clock.now_ms();
    // the importer borrows the enricher, so it lives on one blocking thread fed by a channel
    let (chunks_tx, mut chunks_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(IMPORT_CHUNK_QUEUE);
    let worker_engine = engine.clone();
    let worker = tokio::task::spawn_blocking(move || -> Result<ImportReport, ApiError> {
        let engine = worker_engine;
        let mut importer = Importer::new(&engine.enricher, &domain, idle_ms, now_ms)
            .map_err(|_| ApiError::new(ErrorCode::Internal, "internal error"))?;
        let mut sink = ImportSink::new(&engine.store);
        let append_error = |e: ecomdash_storage::AppendError| ApiError::from_append(&e);
        while let Some(chunk) = chunks_rx.blocking_recv() {
            let out = importer.process_chunk(&chunk);
            sink.submit(out).map_err(append_error)?;
        }
        sink.finish(importer.finish()).map_err(append_error)?;
        importer.report.deduplicated = sink.deduplicated;
        Ok(importer.report)
    });
    let mut chunker = LineChunker::default();
    let mut stream = body.into_data_stream();
    let mut feed_error = None;
    while let Some(frame) = stream.next().await {
        let Ok(frame) = frame else {
            feed_error = Some(ApiError::new(
                ErrorCode::InvalidJson,
                "request body could not be read",
            ));
            break;
        };
        chunker.push(&frame);
        if let Some(chunk) = chunker.take_full() {
            if chunks_tx.send(chunk).await.is_err() {
                break;
            }
        } else if chunker.pending() > 2 * IMPORT_CHUNK_BYTES {
            feed_error = Some(ApiError::new(ErrorCode::BodyTooLarge, "a line is too long"));
            break;
        }
    }
    if feed_error.is_none() {
        if let Some(rest) = chunker.take_rest() {
            let _ = chunks_tx.send(rest).await;
        }
    }
    drop(chunks_tx);
    let report = worker
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "internal error"))??;
    if let Some(error) = feed_error {
        return Err(error);
    }
    engine
        .metrics
        .events_accepted
        .fetch_add(report.imported, std::sync::atomic::Ordering::Relaxed);
    Ok(report)
}

/// Chunks waiting for the import worker: two, so reading the body overlaps processing.
const IMPORT_CHUNK_QUEUE: usize = 2;
