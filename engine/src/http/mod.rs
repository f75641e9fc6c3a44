//! The HTTP API (axum): routes, CORS, and the handlers in the submodules.

pub mod admin;
pub mod body;
pub mod dashboard;
pub mod error;
pub mod intake;
pub mod query;
pub mod read;
pub mod ws;

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::future::Either;
use futures_util::FutureExt;

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
        .layer(CorsLayer)
        .with_state(engine)
}

async fn not_found() -> Response {
    error::ApiError::new(ecomdash_protocol::ErrorCode::NotFound, "no such endpoint").into_response()
}

/// CORS for trackers on any origin: preflights are answered here, every answer carries
/// `Access-Control-Allow-Origin: *` (keys, not cookies, authenticate, so no credentials).
///
/// A tower layer rather than `middleware::from_fn`: that one clones the boxed inner service and
/// boxes a future on every request. Under callgrind, dropping CORS altogether saved ~4,800
/// instructions per single-event request; this layer, which wraps the route's own future, gave
/// back ~2,400 of them (the rest is inserting the headers).
#[derive(Clone, Copy)]
struct CorsLayer;

impl<S> tower_layer::Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors(inner)
    }
}

#[derive(Clone)]
struct Cors<S>(S);

type CorsFuture<F> = Either<
    std::future::Ready<Result<Response, Infallible>>,
    futures_util::future::Map<F, fn(Result<Response, Infallible>) -> Result<Response, Infallible>>,
>;

impl<S> tower_service::Service<Request> for Cors<S>
where
    S: tower_service::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = CorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.method() == Method::OPTIONS {
            return Either::Left(std::future::ready(Ok(preflight())));
        }
        let add: fn(Result<Response, Infallible>) -> Result<Response, Infallible> =
            |answer| answer.map(with_cors_headers);
        Either::Right(self.0.call(request).map(add))
    }
}

/// The answer to a CORS preflight, for any path.
fn preflight() -> Response {
    let mut response = with_cors_headers(StatusCode::NO_CONTENT.into_response());
    let headers = response.headers_mut();
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
    response
}

/// The headers every answer carries.
fn with_cors_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("retry-after"),
    );
    response
}
