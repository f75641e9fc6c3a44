//! `ecomdash-protocol`: the wire protocol of EcomDash — the event model, JSON request and response
//! types, validation and every limit as a named constant.
//!
//! It is not a server or a client: no I/O, no tokio. The daemon (`ecomdash-engine`), the Rust SDK
//! and the load generator all speak HTTP through these types.
//!
//! - [`event`]: [`WireEvent`] and its parts, exactly the JSON of `docs/api.md`;
//! - [`decode`]: bodies to events, with errors naming the field (`events[3].url`);
//! - [`validate`]: limits and ranges, including the client timestamp window;
//! - [`limits`]: every limit as a named constant;
//! - [`error`] and [`response`]: the JSON the endpoints answer with.

pub mod decode;
pub mod error;
pub mod event;
pub mod limits;
pub mod response;
pub mod text;
pub mod validate;

pub use decode::{decode_batch, decode_event, BatchRequest};
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use event::{
    Click, Dimensions, Ecommerce, ErrorInfo, EventType, OrderItem, PropValue, Props, Vitals,
    WireEvent,
};
pub use response::{
    AddSiteRequest, Counted, ImportReport, LineError, MinuteCount, RealtimeResponse, RejectedEvent,
    SiteKeys, TrackResponse,
};
pub use text::Text;
pub use validate::{validate_event, ValidateOptions};

#[cfg(test)]
mod tests;
