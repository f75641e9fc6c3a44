//! HTTP transport: `POST /api/v1/analytics/track/batch` with JSON, plain `http://` only.

use std::time::Duration;

use bytes::Bytes;
use ecomdash_protocol::quic::Ack;
use ecomdash_protocol::{ErrorBody, ErrorCode, ErrorDetail, TrackResponse, WireEvent};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

use crate::error::ClientError;

/// Largest answer body read, in bytes.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Longest wait for one request's answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct HttpTransport {
    client: HyperClient<HttpConnector, Full<Bytes>>,
    batch_url: String,
    api_key: String,
}

#[derive(serde::Serialize)]
struct BatchBody<'a> {
    events: &'a [WireEvent<'static>],
}

impl HttpTransport {
    pub(crate) fn new(base_url: &str, api_key: String) -> Result<Self, ClientError> {
        if !base_url.starts_with("http://") {
            return Err(ClientError::Config(
                "the http transport speaks plain http:// only (put TLS in front, or use quic)"
                    .to_owned(),
            ));
        }
        let base = base_url.trim_end_matches('/');
        Ok(HttpTransport {
            client: HyperClient::builder(TokioExecutor::new()).build_http(),
            batch_url: format!("{base}/api/v1/analytics/track/batch"),
            api_key,
        })
    }

    pub(crate) async fn send(&self, events: &[WireEvent<'static>]) -> Result<Ack, ClientError> {
        let body = serde_json::to_vec(&BatchBody { events })
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(&self.batch_url)
            .header("content-type", "application/json")
            .header("x-api-key", &self.api_key)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| ClientError::Connection(e.to_string()))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| ClientError::Connection(e.to_string()))?
                .to_bytes();
            Ok::<_, ClientError>((status, retry_after, body))
        };
        let (status, retry_after, body) =
            tokio::time::timeout(REQUEST_TIMEOUT, exchange)
                .await
                .map_err(|_| ClientError::Connection("no answer within 30 s".to_owned()))??;
        // 202, or 400 with per-index rejections when every event was refused
        if let Ok(track) = serde_json::from_slice::<TrackResponse>(&body) {
            if status == StatusCode::ACCEPTED || !track.rejected.is_empty() {
                return Ok(Ack {
                    sequence: 0,
                    accepted: track.accepted,
                    deduplicated: track.deduplicated,
                    rejected: track.rejected,
                });
            }
        }
        let error = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(body) => body.error,
            Err(_) => ErrorDetail::new(
                if status.is_server_error() {
                    ErrorCode::Unavailable
                } else {
                    ErrorCode::Internal
                },
                format!("http status {status}"),
            ),
        };
        Err(ClientError::Refused { error, retry_after })
    }
}
