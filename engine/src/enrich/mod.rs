//! Enrichment: what the daemon derives from an event and its request before storing it — the
//! client IP (never stored), a cookieless visitor id and server-side session id, browser / OS /
//! device from the User-Agent, a bot verdict, page hostname / path / UTM parameters, referrer host
//! and source class, and PII scrubbing of URLs, titles and property values.
//!
//! Every function here is pure and synchronous (the only I/O is the salt file of
//! [`visitor_id::SaltRing`], written once a day), cheap on the hot path (borrowing and `Cow`
//! wherever possible, a bounded cache for User-Agents), and independent of HTTP types: the
//! intake layer passes plain strings and addresses in. This module is not the session logic (the
//! session actor decides when a session starts). Geo lookup ([`geo`]) reads its database once at
//! startup and caches answers; without a database it is off and countries stay empty.

pub mod bot;
pub mod client_ip;
pub mod geo;
pub mod pii;
pub mod props;
pub mod referrer;
pub(crate) mod scan;
pub mod url;
pub mod user_agent;
pub mod visitor_id;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod reference_tests;

pub use bot::{bot_reason, BotReason, HeaderEvidence};
pub use client_ip::{InvalidCidr, IpCidr, TrustedProxies};
pub use geo::{GeoDb, GeoError, GeoInfo};
pub use pii::{is_sensitive_param_name, scrub_text, scrub_url};
pub use props::write_props_json;
pub use referrer::{
    classify_referrer, classify_referrer_with, CampaignSignals, Referrer, ReferrerSource,
};
pub use url::{parse_page_url, PageUrl, UrlError, Utm};
pub use user_agent::{parse_user_agent, DeviceClass, UserAgentCache, UserAgentInfo};
pub use visitor_id::{session_id, SaltError, SaltRing, SessionId, VisitorId, VisitorIds};
