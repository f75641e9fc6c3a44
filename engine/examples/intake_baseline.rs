//! Baselines for the intake benchmark (docs/benchmarks.md, "Engine: HTTP intake"): the same
//! routes as the daemon, answering 204 after either draining the body (`bare`) or parsing it with
//! serde_json into the wire event struct (`parse`).
//!
//! `cargo run --release -p ecomdash-engine --example intake_baseline -- bare 127.0.0.1:8101`

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use ecomdash_protocol::WireEvent;
use serde::Deserialize;

#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(borrow)]
    events: Vec<WireEvent<'a>>,
}

async fn drain(_body: Bytes) -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn parse_event(body: Bytes) -> StatusCode {
    match serde_json::from_slice::<WireEvent<'_>>(&body) {
        Ok(_) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

async fn parse_batch(body: Bytes) -> StatusCode {
    match serde_json::from_slice::<Batch<'_>>(&body) {
        Ok(batch) if !batch.events.is_empty() => StatusCode::NO_CONTENT,
        _ => StatusCode::BAD_REQUEST,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "bare".to_owned());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8101".to_owned());
    let app = match mode.as_str() {
        "bare" => Router::new()
            .route("/api/v1/analytics/track/event", post(drain))
            .route("/api/v1/analytics/track/batch", post(drain)),
        "parse" => Router::new()
            .route("/api/v1/analytics/track/event", post(parse_event))
            .route("/api/v1/analytics/track/batch", post(parse_batch)),
        other => anyhow::bail!("unknown mode {other:?}: bare or parse"),
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("{mode} baseline listening on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}
