//! The dashboard at `/`: a few static files embedded in the binary (no build step, no CDN), served
//! with their content types, a strong `ETag` (so a reload costs a `304`) and `no-cache`, so a new
//! daemon version is picked up at once. The page itself talks to the summary API and the
//! WebSocket stream with the read key the user signs in with.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ecomdash_protocol::ErrorCode;

use super::error::ApiError;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../assets/dashboard/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/dashboard/app.js"),
    },
    Asset {
        name: "chart.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/dashboard/chart.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/dashboard/style.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../assets/dashboard/favicon.svg"),
    },
    // The browser tracker (sdk/js), served at `/analytics-sdk.js` for shops' script tags. The
    // built file is committed; `.ci/test` rebuilds it and fails if the committed copy is stale.
    Asset {
        name: TRACKER_SCRIPT,
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../sdk/js/dist/analytics-sdk.js"),
    },
];

const TRACKER_SCRIPT: &str = "analytics-sdk.js";

/// Same-origin only: scripts, styles, images and connections (fetch and WebSocket) to the daemon.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/dashboard/{file}", get(asset))
        .route("/analytics-sdk.js", get(tracker_script))
}

async fn tracker_script(headers: HeaderMap) -> Response {
    asset(Path(TRACKER_SCRIPT.to_owned()), headers).await
}

async fn index(headers: HeaderMap) -> Response {
    serve(0, &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().position(|a| a.name == file) {
        Some(index) => serve(index, &headers),
        None => ApiError::new(ErrorCode::NotFound, "no such dashboard file").into_response(),
    }
}

/// Strong ETags of the assets (blake3 of the content), computed once.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &blake3::hash(a.body).to_hex()[..20]))
            .collect()
    })
}

fn serve(index: usize, request: &HeaderMap) -> Response {
    let asset = &ASSETS[index];
    let etag = &etags()[index];
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if asset.name == "index.html" {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_small_and_nonempty() {
        let total: usize = ASSETS.iter().map(|a| a.body.len()).sum();
        let tracker = ASSETS
            .iter()
            .find(|a| a.name == TRACKER_SCRIPT)
            .map(|a| a.body);
        assert!(tracker.is_some_and(|body| body.starts_with(b"(()=>{")));
        assert!(ASSETS.iter().all(|a| !a.body.is_empty()));
        assert!(total < 100 * 1024, "dashboard is {total} bytes");
    }
}
