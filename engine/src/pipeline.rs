//! From a validated wire event to a stored `events` row and the [`LiveEvent`] the actors see:
//! composes the enrichment modules of [`crate::enrich`] and the session index.
//!
//! Raw client IPs and User-Agents are inputs here and go nowhere else: they are neither stored
//! nor logged.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use ecomdash_protocol::{
    validate_event, ErrorCode, ErrorDetail, EventType, PropValue, Props, Text, ValidateOptions,
    WireEvent,
};
use ecomdash_storage::{RowBuf, RowError, Table, Value};

use crate::enrich::{
    bot_reason, classify_referrer, is_sensitive_param_name, parse_page_url, scrub_text, scrub_url,
    GeoDb, GeoError, HeaderEvidence, SaltError, SaltRing, TrustedProxies, UserAgentCache,
};
use crate::live::LiveEvent;
use crate::rows::{EventColumns, MissingColumn};
use crate::session::SessionIndex;

/// Who sent an event, as far as enrichment needs to know.
pub enum ClientContext<'a> {
    /// Live HTTP intake: the client address (socket or trusted proxy) and request headers.
    Http {
        ip: IpAddr,
        user_agent: &'a str,
        accept_language: Option<&'a str>,
    },
    /// A shop backend's SDK (QUIC): the end user's `user_agent` and `ip` come from each event
    /// when the backend forwards them; `peer` is the connection's address.
    Sdk { peer: IpAddr },
    /// Bulk import: `user_agent` and `ip` come from each line; `run_key` keys the visitor hash
    /// of this import run (history has no daily salts left to use).
    Import { run_key: u64 },
}

/// Rough encoded size of one event row, to size row buffers.
const ROW_BYTES_ESTIMATE: usize = 256;

/// What the per-event loop made of one request's events.
pub struct PreparedEvents {
    /// The `events` rows of the accepted events, ready to append.
    pub rows: RowBuf,
    /// What the actors get once the rows are durable, one per accepted event.
    pub live: Vec<LiveEvent>,
    /// Refused events: their index in the request and why (field relative to the event).
    pub rejected: Vec<(usize, ErrorDetail)>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnricherError {
    #[error(transparent)]
    Salt(#[from] SaltError),
    #[error(transparent)]
    Schema(#[from] MissingColumn),
    #[error(transparent)]
    Geo(#[from] GeoError),
}

/// Shared, read-mostly enrichment state: the User-Agent cache, daily salts, trusted proxies and
/// the column positions of `events`.
pub struct Enricher {
    user_agents: UserAgentCache,
    salts: SaltRing,
    /// Country / region / city lookup; `None` when no geoip database is configured.
    geo: Option<GeoDb>,
    pub trusted_proxies: TrustedProxies,
    pub cols: EventColumns,
}

/// What one site contributes to preparing its events.
pub struct SiteContext<'a> {
    pub domain: &'a str,
    pub sessions: &'a SessionIndex,
}

impl Enricher {
    pub fn open(
        data_dir: &Path,
        now_ms: i64,
        trusted_proxies: TrustedProxies,
    ) -> Result<Enricher, EnricherError> {
        Ok(Enricher {
            user_agents: UserAgentCache::default(),
            salts: SaltRing::open(data_dir, (now_ms / 1000).max(0) as u64)?,
            geo: None,
            trusted_proxies,
            cols: EventColumns::resolve()?,
        })
    }

    /// Adds geo lookup (see [`crate::enrich::geo::open_configured`]).
    pub fn with_geo(mut self, geo: Option<GeoDb>) -> Enricher {
        self.geo = geo;
        self
    }

    /// The one per-event path of every intake (HTTP single and batch, QUIC): validate, enrich
    /// and encode each event. A bad event (undecodable or invalid) rejects only itself; an
    /// internal error fails the whole request (`Err`), since nothing of it may be acknowledged.
    pub fn prepare_events<'b>(
        &self,
        site: &SiteContext<'_>,
        events: impl ExactSizeIterator<Item = Result<WireEvent<'b>, ErrorDetail>>,
        client: &ClientContext<'_>,
        options: ValidateOptions,
    ) -> Result<PreparedEvents, ErrorDetail> {
        let count = events.len();
        let mut prepared = PreparedEvents {
            rows: RowBuf::with_capacity(Table::Events, count * ROW_BYTES_ESTIMATE),
            live: Vec::with_capacity(count),
            rejected: Vec::new(),
        };
        for (index, event) in events.enumerate() {
            let result = event.and_then(|event| {
                validate_event(&event, options)?;
                self.prepare(site, &event, client, options.now_ms, &mut prepared.rows)
            });
            match result {
                Ok(live) => prepared.live.push(live),
                Err(error) if error.code == ErrorCode::Internal => return Err(error),
                Err(error) => prepared.rejected.push((index, error)),
            }
        }
        Ok(prepared)
    }

    /// Enriches `event`, appends its row to `rows` and returns what the live figures and the
    /// session actors need. `received_ms` is the server time the request arrived.
    pub fn prepare(
        &self,
        site: &SiteContext<'_>,
        event: &WireEvent<'_>,
        client: &ClientContext<'_>,
        received_ms: i64,
        rows: &mut RowBuf,
    ) -> Result<LiveEvent, ErrorDetail> {
        let cols = &self.cols;
        let event_ms = event.ts.unwrap_or(received_ms);
        let url = scrub_url(&event.url);
        let page = parse_page_url(&url).map_err(|e| ErrorDetail::field("url", e.to_string()))?;

        let (user_agent, ip, headers) = match client {
            ClientContext::Http {
                ip,
                user_agent,
                accept_language,
            } => (
                *user_agent,
                Some(*ip),
                HeaderEvidence::Http {
                    accept_language: *accept_language,
                },
            ),
            // A backend forwards its end user's address and User-Agent in the event; without
            // them the connection's peer stands in. The browser-header bot heuristic (missing
            // Accept-Language) does not apply to server-side senders, so `lang` (or `und`,
            // "undetermined") is passed as that evidence.
            ClientContext::Sdk { peer } => (
                event.user_agent.as_deref().unwrap_or(""),
                Some(
                    event
                        .ip
                        .as_deref()
                        .and_then(|ip| ip.parse::<IpAddr>().ok())
                        .unwrap_or(*peer),
                ),
                HeaderEvidence::Http {
                    accept_language: Some(event.lang.as_deref().unwrap_or("und")),
                },
            ),
            ClientContext::Import { .. } => (
                event.user_agent.as_deref().unwrap_or(""),
                event.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()),
                HeaderEvidence::Unavailable,
            ),
        };
        let agent = self.user_agents.get(user_agent);
        let geo = self.geo.as_ref().zip(ip).and_then(|(db, ip)| db.lookup(ip));
        let is_bot = bot_reason(agent.bot, headers).is_some();

        let (visitor, visitor_id): (u64, Arc<str>) = match &event.visitor_id {
            Some(given) => (hash_str(given), Arc::from(given.as_str())),
            None => {
                let visitor = match (client, ip) {
                    (ClientContext::Http { .. } | ClientContext::Sdk { .. }, Some(ip)) => {
                        let now_secs = (received_ms / 1000).max(0) as u64;
                        self.salts
                            .visitor_id(now_secs, site.domain, ip, user_agent)
                            .map_err(|e| {
                                tracing::error!(error = %e, "visitor salt unavailable");
                                ErrorDetail::new(ErrorCode::Internal, "internal error")
                            })?
                            .0
                    }
                    (ClientContext::Http { .. } | ClientContext::Sdk { .. }, None) => 0,
                    (ClientContext::Import { run_key }, _) => {
                        let mut hasher = DefaultHasher::new();
                        run_key.hash(&mut hasher);
                        event_ms.div_euclid(86_400_000).hash(&mut hasher);
                        site.domain.hash(&mut hasher);
                        ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
                            .hash(&mut hasher);
                        user_agent.hash(&mut hasher);
                        hasher.finish()
                    }
                };
                (visitor, Arc::from(format!("{visitor:016x}")))
            }
        };
        let session_id: Arc<str> = match &event.session_id {
            Some(given) => Arc::from(given.as_str()),
            None => site.sessions.assign(site.domain, visitor, event_ms),
        };

        let referrer = classify_referrer(event.referrer.as_deref(), &page.hostname, page.query);
        let referrer_source = referrer.source.as_str();
        let path = scrub_text(page.path);
        let utm = [
            &page.utm.source,
            &page.utm.medium,
            &page.utm.campaign,
            &page.utm.term,
            &page.utm.content,
        ];
        let (revenue, currency) = revenue_minor_units(event);
        let converted = event.event_type == EventType::Ecommerce
            && event
                .ecommerce
                .as_ref()
                .is_some_and(|e| e.order_id.is_some());
        let props = event.props.as_ref().map(props_json);
        let error_message = event
            .error
            .as_ref()
            .and_then(|e| e.message.as_deref())
            .map(scrub_text);

        let mut row = vec![Value::Null; cols.len];
        row[cols.ts] = Value::Int(event_ms.saturating_mul(1000));
        row[cols.site] = Value::Str(site.domain);
        row[cols.event_type] = Value::Str(event.event_type.as_str());
        row[cols.name] = Value::Str(event.effective_name());
        row[cols.event_id] = text(&event.event_id);
        row[cols.session_id] = Value::Str(&session_id);
        row[cols.visitor_id] = Value::Str(&visitor_id);
        row[cols.user_id] = text(&event.user_id);
        row[cols.hostname] = Value::Str(&page.hostname);
        row[cols.path] = Value::Str(&path);
        row[cols.referrer_host] = opt(referrer.host.as_deref());
        row[cols.referrer_source] = Value::Str(referrer_source);
        for (i, value) in utm.iter().enumerate() {
            row[cols.utm[i]] = opt(value.as_deref());
        }
        if let Some(geo) = &geo {
            row[cols.country] = opt(geo.country.as_deref());
            row[cols.region] = opt(geo.region.as_deref());
            row[cols.city] = opt(geo.city.as_deref());
        }
        row[cols.device] = Value::Str(agent.device.as_str());
        row[cols.browser] = Value::Str(&agent.browser);
        row[cols.browser_version] = Value::Str(&agent.browser_version);
        row[cols.os] = Value::Str(&agent.os);
        row[cols.os_version] = Value::Str(&agent.os_version);
        if let Some(screen) = event.screen {
            row[cols.screen_w] = Value::Int(i64::from(screen.w));
            row[cols.screen_h] = Value::Int(i64::from(screen.h));
        }
        row[cols.lang] = text(&event.lang);
        row[cols.is_bot] = Value::Bool(is_bot);
        if let Some(revenue) = revenue {
            row[cols.revenue] = Value::Int(revenue);
        }
        row[cols.currency] = opt(currency.as_deref());
        if let Some(ecommerce) = &event.ecommerce {
            row[cols.order_id] = text(&ecommerce.order_id);
            row[cols.product_id] = text(&ecommerce.product_id);
        }
        row[cols.props] = opt(props.as_deref());
        if let Some(vitals) = &event.vitals {
            let float = |v: Option<f64>| v.map_or(Value::Null, Value::Float);
            row[cols.lcp] = float(vitals.lcp);
            row[cols.inp] = float(vitals.inp);
            row[cols.cls] = float(vitals.cls);
            row[cols.ttfb] = float(vitals.ttfb);
        }
        if let Some(click) = &event.click {
            row[cols.click_x] = click.x.map_or(Value::Null, Value::Float);
            row[cols.click_y] = click.y.map_or(Value::Null, Value::Float);
            row[cols.selector] = text(&click.selector);
        }
        if let Some(depth) = event.scroll_depth {
            row[cols.scroll_depth] = Value::Int(i64::from(depth));
        }
        if let Some(ms) = event.engagement_ms {
            row[cols.engagement_ms] = Value::Int(ms as i64);
        }
        row[cols.error_message] = opt(error_message.as_deref());
        rows.push_row(&row).map_err(|e: RowError| {
            tracing::error!(error = %e, "event row does not match the schema");
            ErrorDetail::new(ErrorCode::Internal, "internal error")
        })?;

        let arc = |v: Option<&str>| v.map(Arc::from);
        Ok(LiveEvent {
            received_ms,
            event_ms,
            visitor,
            visitor_id,
            session_id,
            is_pageview: event.event_type == EventType::Pageview,
            is_bot,
            path: Some(Arc::from(&*path)),
            referrer_source: Some(referrer_source),
            utm: utm.map(|v| arc(v.as_deref())),
            country: geo.and_then(|g| g.country.clone()),
            device: Some(Arc::from(agent.device.as_str())),
            browser: Some(agent.browser.clone()),
            os: Some(agent.os.clone()),
            revenue: revenue.unwrap_or(0),
            converted,
        })
    }
}

fn opt(v: Option<&str>) -> Value<'_> {
    v.map_or(Value::Null, Value::Str)
}

fn text<'a>(v: &'a Option<Text<'_>>) -> Value<'a> {
    v.as_deref().map_or(Value::Null, Value::Str)
}

fn hash_str(s: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    s.hash(&mut hasher);
    hasher.finish()
}

/// Minor units per major unit: ISO 4217 exponents that are not 2.
fn currency_exponent(currency: &str) -> i32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Revenue of an event in integer minor units of its currency (default USD): `order_value`, else
/// the order items, else `product_price` x `product_quantity`.
fn revenue_minor_units(event: &WireEvent<'_>) -> (Option<i64>, Option<String>) {
    let Some(ecommerce) = &event.ecommerce else {
        return (None, None);
    };
    let currency = ecommerce
        .order_currency
        .as_deref()
        .map_or_else(|| "USD".to_owned(), str::to_ascii_uppercase);
    let major = if let Some(value) = ecommerce.order_value {
        Some(value)
    } else if let Some(items) = &ecommerce.order_items {
        Some(
            items
                .iter()
                .map(|i| i.price.unwrap_or(0.0) * f64::from(i.quantity.unwrap_or(1)))
                .sum(),
        )
    } else {
        ecommerce
            .product_price
            .map(|p| p * f64::from(ecommerce.product_quantity.unwrap_or(1)))
    };
    let scale = 10f64.powi(currency_exponent(&currency));
    (major.map(|m| (m * scale).round() as i64), Some(currency))
}

/// `props` as JSON text, with sensitive names dropped and e-mails / card numbers redacted.
fn props_json(props: &Props<'_>) -> String {
    let mut map = serde_json::Map::with_capacity(props.0.len());
    for (key, value) in &props.0 {
        if is_sensitive_param_name(key) {
            continue;
        }
        let value = match value {
            PropValue::Null => serde_json::Value::Null,
            PropValue::Bool(b) => serde_json::Value::Bool(*b),
            PropValue::Number(n) => serde_json::Number::from_f64(*n)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            PropValue::Text(t) => serde_json::Value::String(scrub_text(t).into_owned()),
        };
        map.insert(key.to_string(), value);
    }
    serde_json::Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use ecomdash_protocol::decode_event;
    use ecomdash_storage::Table;

    use super::*;

    #[test]
    fn prepares_a_row_without_the_raw_ip_or_user_agent() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_767_225_600_000;
        let enricher = Enricher::open(dir.path(), now, TrustedProxies::none()).unwrap();
        let sessions = SessionIndex::new(1_800_000);
        let site = SiteContext {
            domain: "shop.example",
            sessions: &sessions,
        };
        let event = decode_event(
            br#"{"type":"ecommerce","name":"purchase","url":"https://shop.example/p?email=a@b.c&utm_source=news","ecommerce":{"order_id":"o1","order_value":19.99,"order_currency":"eur"},"props":{"password":"x","note":"mail me at a@b.example"}}"#,
        )
        .unwrap();
        let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        let client = ClientContext::Http {
            ip: "203.0.113.9".parse().unwrap(),
            user_agent: ua,
            accept_language: Some("en"),
        };
        let mut rows = RowBuf::new(Table::Events);
        let live = enricher
            .prepare(&site, &event, &client, now, &mut rows)
            .unwrap();
        assert!(!live.is_bot);
        assert!(live.converted);
        assert_eq!(live.revenue, 1999);
        let mut out = Vec::new();
        rows.reader().next_row(&mut out).unwrap();
        let cols = &enricher.cols;
        assert_eq!(out[cols.currency], Value::Str("EUR"));
        assert_eq!(out[cols.utm[0]], Value::Str("news"));
        assert_eq!(out[cols.browser], Value::Str("Chrome"));
        let Value::Str(props) = out[cols.props] else {
            panic!("props missing")
        };
        assert!(
            !props.contains("password") && !props.contains("a@b.example"),
            "{props}"
        );
        let bytes = String::from_utf8_lossy(rows.as_bytes()).into_owned();
        assert!(!bytes.contains("203.0.113.9") && !bytes.contains("Win64"));
        assert!(!bytes.contains("a@b.c"), "{bytes}");
    }
}
