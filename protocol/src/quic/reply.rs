//! Reply frames: the server's `Ack` (durable, with per-index rejections) or `Error` (nothing
//! stored), encoded by the daemon and verified and decoded by clients.

use flatbuffers::{FlatBufferBuilder, VerifierOptions};

use super::{FRAME_ACK, FRAME_ERROR, MAX_QUIC_REPLY_BYTES, MAX_VERIFY_DEPTH};
use crate::error::{ErrorCode, ErrorDetail};
use crate::fb::ecomdash::fb;
use crate::response::RejectedEvent;

/// A batch was taken: `accepted` events are durable (`deduplicated` of them were retries of
/// stored `event_id`s), `rejected` lists the others by index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ack {
    pub sequence: u64,
    pub accepted: usize,
    pub deduplicated: usize,
    pub rejected: Vec<RejectedEvent>,
}

/// What the server answered to one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Ack(Ack),
    /// The batch was refused as a whole; `retry_after_secs` is set for 429/503-like codes.
    Error {
        sequence: u64,
        error: ErrorDetail,
        retry_after_secs: Option<u32>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReplyError {
    #[error("reply frame is empty")]
    Empty,
    #[error("reply frame is larger than {MAX_QUIC_REPLY_BYTES} bytes")]
    TooLarge,
    #[error("unknown reply frame kind {0}")]
    UnknownKind(u8),
    #[error("invalid reply flatbuffer: {0}")]
    Invalid(String),
}

const CODES: [ErrorCode; 15] = [
    ErrorCode::InvalidJson,
    ErrorCode::InvalidField,
    ErrorCode::InvalidQuery,
    ErrorCode::MissingApiKey,
    ErrorCode::InvalidApiKey,
    ErrorCode::BodyTooLarge,
    ErrorCode::BatchTooLarge,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::RateLimited,
    ErrorCode::Overloaded,
    ErrorCode::Unavailable,
    ErrorCode::StorageFull,
    ErrorCode::NotFound,
    ErrorCode::Conflict,
    ErrorCode::Internal,
];

/// The code spelled `s` on the wire; unknown codes (from a newer server) read as `internal`.
fn code_from_str(s: &str) -> ErrorCode {
    CODES
        .into_iter()
        .find(|c| c.as_str() == s)
        .unwrap_or(ErrorCode::Internal)
}

fn frame(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(kind);
    out.extend_from_slice(data);
    out
}

pub fn encode_ack_frame(ack: &Ack) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::with_capacity(64 + ack.rejected.len() * 96);
    let mut offsets = Vec::with_capacity(ack.rejected.len());
    for r in &ack.rejected {
        let code = Some(fbb.create_string(r.error.code.as_str()));
        let field = r.error.field.as_deref().map(|f| fbb.create_string(f));
        let message = Some(fbb.create_string(&r.error.message));
        offsets.push(fb::Rejection::create(
            &mut fbb,
            &fb::RejectionArgs {
                index: u32::try_from(r.index).unwrap_or(u32::MAX),
                code,
                field,
                message,
            },
        ));
    }
    let rejections = Some(fbb.create_vector(&offsets));
    let root = fb::Ack::create(
        &mut fbb,
        &fb::AckArgs {
            sequence: ack.sequence,
            accepted: u32::try_from(ack.accepted).unwrap_or(u32::MAX),
            deduplicated: u32::try_from(ack.deduplicated).unwrap_or(u32::MAX),
            rejections,
        },
    );
    fbb.finish_minimal(root);
    frame(FRAME_ACK, fbb.finished_data())
}

pub fn encode_error_frame(
    sequence: u64,
    error: &ErrorDetail,
    retry_after_secs: Option<u32>,
) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::with_capacity(128);
    let code = Some(fbb.create_string(error.code.as_str()));
    let field = error.field.as_deref().map(|f| fbb.create_string(f));
    let message = Some(fbb.create_string(&error.message));
    let root = fb::Error::create(
        &mut fbb,
        &fb::ErrorArgs {
            sequence,
            code,
            field,
            message,
            retry_after_secs: retry_after_secs.unwrap_or(0),
        },
    );
    fbb.finish_minimal(root);
    frame(FRAME_ERROR, fbb.finished_data())
}

/// Verifies and decodes a reply frame. Never panics on any input.
pub fn decode_reply_frame(frame: &[u8]) -> Result<Reply, ReplyError> {
    if frame.len() > MAX_QUIC_REPLY_BYTES {
        return Err(ReplyError::TooLarge);
    }
    let (&kind, buffer) = frame.split_first().ok_or(ReplyError::Empty)?;
    let options = VerifierOptions {
        max_depth: MAX_VERIFY_DEPTH,
        ..VerifierOptions::default()
    };
    let invalid = |e: flatbuffers::InvalidFlatbuffer| ReplyError::Invalid(e.to_string());
    match kind {
        FRAME_ACK => {
            let ack = flatbuffers::root_with_opts::<fb::Ack>(&options, buffer).map_err(invalid)?;
            let mut rejected = Vec::new();
            for r in ack.rejections().iter().flatten() {
                rejected.push(RejectedEvent {
                    index: r.index() as usize,
                    error: ErrorDetail {
                        code: code_from_str(r.code().unwrap_or("")),
                        field: r.field().map(str::to_owned),
                        message: r.message().unwrap_or("").to_owned(),
                    },
                });
            }
            Ok(Reply::Ack(Ack {
                sequence: ack.sequence(),
                accepted: ack.accepted() as usize,
                deduplicated: ack.deduplicated() as usize,
                rejected,
            }))
        }
        FRAME_ERROR => {
            let e = flatbuffers::root_with_opts::<fb::Error>(&options, buffer).map_err(invalid)?;
            Ok(Reply::Error {
                sequence: e.sequence(),
                error: ErrorDetail {
                    code: code_from_str(e.code().unwrap_or("")),
                    field: e.field().map(str::to_owned),
                    message: e.message().unwrap_or("").to_owned(),
                },
                retry_after_secs: (e.retry_after_secs() > 0).then_some(e.retry_after_secs()),
            })
        }
        other => Err(ReplyError::UnknownKind(other)),
    }
}
