//! Baseline servers for the load generator: the same intake endpoints as the daemon, doing
//! (almost) nothing, so figures can be compared with the ceiling of the HTTP stack itself.
//!
//! * `bare` (default): drains the body and answers 204;
//! * `--parse`: also decodes the body into the wire event struct(s) of `ecomdash-protocol` and
//!   answers 204 (400 when it does not decode).
//!
//! `cargo run --release -p ecomdash-loadtest --example baseline -- --addr 127.0.0.1:8099 [--parse]`
#![expect(clippy::unwrap_used)]

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use ecomdash_loadtest::driver::{BATCH_PATH, EVENT_PATH};
use ecomdash_protocol::{decode_batch, decode_event};

async fn bare(_body: Bytes) -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn parse_single(body: Bytes) -> StatusCode {
    match decode_event(&body) {
        Ok(event) => {
            std::hint::black_box(&event);
            StatusCode::NO_CONTENT
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

async fn parse_batch(body: Bytes) -> StatusCode {
    let Ok(batch) = decode_batch(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    for raw in &batch.events {
        if let Ok(event) = decode_event(raw.get().as_bytes()) {
            std::hint::black_box(&event);
        }
    }
    StatusCode::NO_CONTENT
}

fn main() {
    let mut addr: SocketAddr = "127.0.0.1:8099".parse().unwrap();
    let mut parse = false;
    let mut threads = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().unwrap().parse().unwrap(),
            "--parse" => parse = true,
            "--threads" => threads = Some(args.next().unwrap().parse::<usize>().unwrap()),
            other => panic!("unknown argument {other:?} (use --addr ADDR, --parse, --threads N)"),
        }
    }
    let app = if parse {
        Router::new()
            .route(EVENT_PATH, post(parse_single))
            .route(BATCH_PATH, post(parse_batch))
    } else {
        Router::new()
            .route(EVENT_PATH, post(bare))
            .route(BATCH_PATH, post(bare))
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = threads {
        runtime.worker_threads(threads);
    }
    runtime.enable_all().build().unwrap().block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        eprintln!(
            "baseline ({}) listening on {}",
            if parse { "parse" } else { "bare" },
            listener.local_addr().unwrap()
        );
        axum::serve(listener, app).await.unwrap();
    });
}
