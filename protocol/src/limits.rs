//! Every limit of the wire protocol, as a named constant. `docs/api.md` lists them all; the engine
//! enforces the body and batch limits before parsing and [`crate::validate`] the rest.

/// Largest request body of `POST /api/v1/analytics/track/event`, in bytes.
pub const MAX_EVENT_BODY_BYTES: usize = 64 * 1024;
/// Largest request body of `POST /api/v1/analytics/track/batch`, in bytes.
pub const MAX_BATCH_BODY_BYTES: usize = 1024 * 1024;
/// Most events in one batch request.
pub const MAX_BATCH_EVENTS: usize = 100;
/// Largest line of an NDJSON import, in bytes.
pub const MAX_IMPORT_LINE_BYTES: usize = 64 * 1024;
/// Most rejected lines an import report lists one by one (the count covers all of them).
pub const MAX_IMPORT_ERRORS_REPORTED: usize = 100;

/// Longest `url` and `referrer`, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest `title`, in bytes.
pub const MAX_TITLE_BYTES: usize = 512;
/// Longest event `name`, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Longest `event_id`, `session_id`, `visitor_id` and `user_id`, in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Longest `api_key`, in bytes.
pub const MAX_API_KEY_BYTES: usize = 128;
/// Longest `lang` (a BCP 47 tag), in bytes.
pub const MAX_LANG_BYTES: usize = 35;
/// Most keys in `props`.
pub const MAX_PROPS: usize = 32;
/// Longest key in `props`, in bytes.
pub const MAX_PROP_KEY_BYTES: usize = 64;
/// Longest string value in `props`, in bytes.
pub const MAX_PROP_VALUE_BYTES: usize = 512;
/// Longest click `selector`, in bytes.
pub const MAX_SELECTOR_BYTES: usize = 256;
/// Longest `error.message` and `error.source`, in bytes.
pub const MAX_ERROR_TEXT_BYTES: usize = 1024;
/// Longest ecommerce id or name (`product_id`, `product_name`, `order_id`), in bytes.
pub const MAX_ECOMMERCE_TEXT_BYTES: usize = 256;
/// Most entries in `ecommerce.order_items`.
pub const MAX_ORDER_ITEMS: usize = 100;
/// Longest `user_agent` of an import line, in bytes.
pub const MAX_USER_AGENT_BYTES: usize = 1024;
/// Largest `screen`/`viewport` dimension, in pixels.
pub const MAX_SCREEN_PX: u32 = 100_000;
/// Largest money amount (`product_price`, `order_value`, item `price`), in major units.
pub const MAX_MONEY: f64 = 1e12;
/// Largest quantity of one product.
pub const MAX_QUANTITY: u32 = 1_000_000;
/// Largest web vital timing (`lcp`, `inp`, `fid`, `ttfb`, `fcp`), in milliseconds.
pub const MAX_VITAL_MS: f64 = 600_000.0;
/// Largest `cls` (layout shift score).
pub const MAX_CLS: f64 = 100.0;
/// Largest `click.y`, in pixels from the top of the page.
pub const MAX_CLICK_Y_PX: f64 = 10_000_000.0;
/// Largest `engagement_ms`: one day.
pub const MAX_ENGAGEMENT_MS: u64 = 86_400_000;

/// How far in the past a client timestamp may be (live intake only; imports trust `ts`): 72 h.
pub const MAX_TS_PAST_MS: i64 = 72 * 3600 * 1000;
/// How far in the future a client timestamp may be: 5 minutes of clock skew.
pub const MAX_TS_FUTURE_MS: i64 = 5 * 60 * 1000;
