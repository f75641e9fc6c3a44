//! The HTTP API (axum): routes, CORS, and the handlers in the submodules.

pub mod admin;
pub mod body;
pub mod dashboard;
pub mod error;
pub mod intake;
pub mod query;
pub mod read;
pub mod ws;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::engine::Engine;

/// How long browsers may cache a CORS preflight answer, in seconds.
const CORS_MAX_AGE_SECS: u32 = 86_400;

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/api/v1/analytics/track/event", post(intake::track_event))
        .route("/api/v1/analytics/track/batch", post(intake::track_batch))
        .route("/api/v1/analytics/realtime", get(read::realtime))
        .route("/api/v1/analytics/summary", get(query::summary))
        .route("/api/v1/query", post(query::query))
        .route("/api/v1/admin/sites", post(admin::add_site))
        .route("/api/v1/admin/import", post(admin::import))
        .route("/healthz", get(read::healthz))
        .route("/metrics", get(read::metrics))
        // the live stream and the dashboard (issue 6)
        .merge(ws::routes(engine.clone()))
        .merge(dashboard::routes())
        .fallback(not_found)
        .layer(middleware::from_fn(cors))
        .with_state(engine)
}

async fn not_found() -> Response {
    error::ApiError::new(ecomdash_protocol::ErrorCode::NotFound, "no such endpoint").into_response()
}

/// CORS for trackers on any origin: preflights are answered here, every answer carries
/// `Access-Control-Allow-Origin: *` (keys, not cookies, authenticate, so no credentials).
async fn cors(request: Request, next: Next) -> Response {
    let preflight = request.method() == Method::OPTIONS;
    let mut response = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("retry-after"),
    );
    if preflight {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type, x-api-key, authorization"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(CORS_MAX_AGE_SECS),
        );
    }
    response
}
