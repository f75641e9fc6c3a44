//! One QUIC batch frame through the same steps as HTTP batch intake (`http/intake.rs`): admit,
//! verify and decode, authenticate, limit, validate, enrich, append durably, then the ack and the
//! hand-off to the SiteActor. Only the transport glue differs.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use ecomdash_protocol::quic::{decode_batch_frame, encode_ack_frame, encode_error_frame, Ack};
use ecomdash_protocol::{ErrorCode, ErrorDetail, ValidateOptions};

use crate::admission::{try_permit, Admitted, OVERLOAD_RETRY_AFTER_SECS};
use crate::engine::{Engine, SiteRuntime};
use crate::http::error::ApiError;
use crate::pipeline::{ClientContext, PreparedEvents, SiteContext};

/// A whole batch refused: nothing of it was stored.
struct Refused {
    error: ErrorDetail,
    retry_after_secs: Option<u64>,
}

impl From<ErrorDetail> for Refused {
    fn from(error: ErrorDetail) -> Refused {
        Refused {
            error,
            retry_after_secs: None,
        }
    }
}

impl From<ApiError> for Refused {
    fn from(error: ApiError) -> Refused {
        Refused {
            error: error.detail,
            retry_after_secs: error.retry_after_secs,
        }
    }
}

fn overloaded() -> Refused {
    Refused {
        error: ErrorDetail::new(
            ErrorCode::Overloaded,
            "the server is overloaded, retry later",
        ),
        retry_after_secs: Some(OVERLOAD_RETRY_AFTER_SECS),
    }
}

/// Takes one batch frame and returns the reply frame (an ack or an error frame).
pub async fn process(engine: &Arc<Engine>, peer: SocketAddr, frame: &[u8]) -> Vec<u8> {
    let mut sequence = 0;
    match take_batch(engine, peer, frame, &mut sequence).await {
        Ok(ack) => encode_ack_frame(&ack),
        Err(refused) => {
            engine.metrics.reject(refused.error.code, 1);
            let retry = refused
                .retry_after_secs
                .map(|s| u32::try_from(s).unwrap_or(u32::MAX));
            encode_error_frame(sequence, &refused.error, retry)
        }
    }
}

/// The error frame for a frame larger than the limit (its bytes were never read).
pub fn too_large() -> Vec<u8> {
    let error = ErrorDetail::new(
        ErrorCode::BodyTooLarge,
        format!(
            "batch frame is larger than {} bytes",
            ecomdash_protocol::quic::MAX_QUIC_BATCH_BYTES
        ),
    );
    encode_error_frame(0, &error, None)
}

fn authenticate(engine: &Engine, key: Option<&str>) -> Result<Arc<SiteRuntime>, Refused> {
    let key = key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ErrorDetail::new(ErrorCode::MissingApiKey, "no write key in the batch"))?;
    engine
        .site_by_write_key(key)
        .ok_or_else(|| ErrorDetail::new(ErrorCode::InvalidApiKey, "unknown write key").into())
}

async fn take_batch(
    engine: &Arc<Engine>,
    peer: SocketAddr,
    frame: &[u8],
    sequence: &mut u64,
) -> Result<Ack, Refused> {
    if !engine.accepting.load(Ordering::Relaxed) {
        return Err(overloaded());
    }
    let global = try_permit(&engine.in_flight).ok_or_else(|| {
        tracing::debug!("global admission full, shedding");
        overloaded()
    })?;
    let batch = decode_batch_frame(frame)?;
    *sequence = batch.sequence;
    let site = authenticate(engine, batch.api_key)?;
    let site_permit = try_permit(&site.in_flight).ok_or_else(|| {
        tracing::debug!(site = %site.domain, "site admission full, shedding");
        overloaded()
    })?;
    let _admitted = Admitted::new(global, site_permit);
    let count = batch.events.len();
    if let Err(wait_secs) = site.rate.take(count) {
        return Err(Refused {
            error: ErrorDetail::new(
                ErrorCode::RateLimited,
                format!("site {} sends more events than its rate limit", site.domain),
            ),
            retry_after_secs: Some(wait_secs),
        });
    }

    let received_ms = engine.clock.now_ms();
    let options = ValidateOptions {
        now_ms: received_ms,
        check_ts_window: true,
    };
    let site_ctx = SiteContext {
        domain: &site.domain,
        sessions: &site.sessions,
    };
    let PreparedEvents {
        rows,
        accepted,
        live,
        live_rows,
        rejected,
    } = engine.enricher.prepare_events(
        &site_ctx,
        batch.events.into_iter(),
        &ClientContext::Server { peer: peer.ip() },
        options,
    )?;
    let rejected = engine.count_rejections(rejected);
    if accepted == 0 {
        return Ok(Ack {
            sequence: batch.sequence,
            accepted: 0,
            deduplicated: 0,
            rejected,
        });
    }
    let receipt = engine
        .commit_events(&site, rows, live, &live_rows)
        .await
        .map_err(|e| Refused::from(ApiError::from_append(&e)))?;
    Ok(Ack {
        sequence: batch.sequence,
        accepted,
        deduplicated: receipt.rows_deduplicated,
        rejected,
    })
}
