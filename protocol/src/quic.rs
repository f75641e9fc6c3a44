//! QUIC intake framing: ALPN, frame kinds, limits and close codes, and the FlatBuffers codecs of
//! the frames (`docs/quic.md` is the specification for other languages).
//!
//! One bidirectional stream carries one batch: the client writes a [`FRAME_BATCH`] frame and
//! finishes its send side; the server answers with one [`FRAME_ACK`] or [`FRAME_ERROR`] frame and
//! finishes its side. A frame is one kind byte followed by one FlatBuffers buffer; the stream end
//! delimits it, so there is no length prefix.

mod batch;
mod reply;

pub use batch::{decode_batch_frame, encode_batch_frame, DecodedBatch};
pub use reply::{decode_reply_frame, encode_ack_frame, encode_error_frame, Ack, Reply, ReplyError};

/// The ALPN protocol id both ends must offer.
pub const ALPN: &[u8] = b"ecomdash/1";

/// Client to server: `ecomdash.fb.Batch` (file identifier `EDB1`).
pub const FRAME_BATCH: u8 = 0x01;
/// Server to client: `ecomdash.fb.Ack`, sent only once the accepted events are durable.
pub const FRAME_ACK: u8 = 0x02;
/// Server to client: `ecomdash.fb.Error`, the whole batch was refused and nothing was stored.
pub const FRAME_ERROR: u8 = 0x03;

/// Largest batch frame, kind byte included, in bytes.
pub const MAX_QUIC_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Most events in one QUIC batch.
pub const MAX_QUIC_BATCH_EVENTS: usize = 1000;
/// Largest reply frame a client reads, in bytes (1,000 rejections with long messages fit).
pub const MAX_QUIC_REPLY_BYTES: usize = 1024 * 1024;
/// Deepest table nesting the verifier allows (an event is four levels deep).
pub const MAX_VERIFY_DEPTH: usize = 16;
/// Most tables the verifier visits in one batch frame.
pub const MAX_VERIFY_TABLES: usize = 1_000_000;

/// Application close code: the server is shutting down after draining its streams.
pub const CLOSE_SHUTDOWN: u32 = 0x01;
/// Application close code: the client broke the framing (e.g. wrote on a unidirectional stream).
pub const CLOSE_PROTOCOL_VIOLATION: u32 = 0x02;
/// Application close code: the client closes normally.
pub const CLOSE_NORMAL: u32 = 0x00;
