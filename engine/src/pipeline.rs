//! From a validated wire event to a stored `events` row and the [`LiveEvent`] the actors see:
//! composes the enrichment modules of [`crate::enrich`] and the session index.
//!
//! Raw client IPs and User-Agents are inputs here and go nowhere else: they are neither stored
//! nor logged.

use std::collections::hash_map::DefaultHasher;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use ecomdash_protocol::{
    validate_event, ErrorCode, ErrorDetail, EventType, Text, ValidateOptions, WireEvent,
};
use ecomdash_storage::{RowBuf, RowError, Table, Value};

use crate::enrich::{
    bot_reason, classify_referrer_with, parse_page_url, scrub_text, scrub_url, write_props_json,
    GeoDb, GeoError, HeaderEvidence, SaltError, SaltRing, TrustedProxies, UserAgentCache,
    UserAgentInfo,
};
use crate::live::LiveEvent;
use crate::rows::{EventColumns, MissingColumn};
use crate::session::{hex_id, SessionIndex};

/// Who sent an event, as far as enrichment needs to know.
pub enum ClientContext<'a> {
    /// Live HTTP intake: the client address (socket or trusted proxy) and request headers.
    Http {
        ip: IpAddr,
        user_agent: &'a str,
        accept_language: Option<&'a str>,
    },
    /// A server-side sender (a shop backend, through QUIC or the Rust client over HTTP): no
    /// browser made the request. The end user's `user_agent` and `ip` come from each event when
    /// the backend forwards them (`peer`, the connection's address, stands in for a missing
    /// `ip`); without a User-Agent the event has no visitor (and is no bot: a missing
    /// User-Agent is normal for a server).
    Server { peer: IpAddr },
    /// Bulk import: `user_agent` and `ip` come from each line; `run_key` keys the visitor hash
    /// of this import run (history has no daily salts left to use).
    Import { run_key: u64 },
}

/// Rough encoded size of one event row, to size row buffers.
const ROW_BYTES_ESTIMATE: usize = 256;
/// Most columns the `events` table may have: a row's values are built on the stack.
pub const MAX_EVENT_COLUMNS: usize = 64;

/// What the per-event loop made of one request's events.
pub struct PreparedEvents {
    /// The `events` rows of the accepted events, ready to append.
    pub rows: RowBuf,
    /// Events accepted (rows in `rows`).
    pub accepted: usize,
    /// What the actors get once the rows are durable: one per accepted event that has a
    /// visitor (server-side events without one are stored but go to no actor).
    pub live: Vec<LiveEvent>,
    /// The row (index in `rows`) of each of `live`, ascending: a row the store drops as a
    /// duplicate must not reach the actors either.
    pub live_rows: Vec<u32>,
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
    #[error(
        "the events table has {0} columns, more than the {MAX_EVENT_COLUMNS} a row is built with"
    )]
    TooManyColumns(usize),
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

/// What the events of one HTTP request share (they all come with its User-Agent and address,
/// and the same receive time): the parsed User-Agent and the derived visitor.
#[derive(Default)]
struct RequestMemo {
    agent: Option<Arc<UserAgentInfo>>,
    visitor: Option<(u64, Arc<str>)>,
    /// The session the caller already assigned to the next event (imports assign sessions in
    /// line order, then enrich in parallel).
    assigned_session: Option<Arc<str>>,
    /// The visitor hash of an imported line, computed when its session was assigned.
    assigned_visitor: Option<u64>,
    /// The props JSON of the current event, reused across the request's events (the row copies
    /// it), so a batch allocates it once.
    props: String,
    /// The path and UTM values the last event handed to the actors: the events of a batch
    /// mostly come from one page (pageview, clicks, scroll, engagement), so they share one
    /// allocation when they repeat.
    live_path: Option<Arc<str>>,
    live_utm: [Option<Arc<str>>; 5],
    /// Only for a request with more than one event (boxed: single events and imported lines
    /// make a memo each and should not pay for initialising and dropping this one).
    pages: Option<Box<PageMemo>>,
}

/// What the last event's page URL and referrer enriched to, for the next event of the same
/// request: the events of a tracker's batch mostly come from one page (pageview, clicks,
/// scroll, vitals, engagement) and share both. Everything here is a function of the two raw
/// strings alone, so a hit is the answer enrichment would give again. Only a page seen twice in
/// a row is kept (a batch of all-different pages then pays two string copies per event, not
/// eight); the buffers are reused, so copies stop allocating once they are big enough.
#[derive(Default)]
struct PageMemo {
    /// Whether the parts below belong to `url` and `referrer`, which always hold the last
    /// event's raw strings.
    valid: bool,
    url: String,
    referrer: Option<String>,
    hostname: String,
    path: String,
    utm: [Option<String>; 5],
    referrer_host: Option<String>,
    referrer_source: &'static str,
}

/// The stored parts of an event's page and referrer, borrowed from a [`PageMemo`] or from the
/// event's own enrichment.
struct PageParts<'a> {
    hostname: &'a str,
    path: &'a str,
    utm: [Option<&'a str>; 5],
    referrer_host: Option<&'a str>,
    referrer_source: &'static str,
}

fn set(slot: &mut String, value: &str) {
    slot.clear();
    slot.push_str(value);
}

fn set_opt(slot: &mut Option<String>, value: Option<&str>) {
    match (slot.as_mut(), value) {
        (Some(slot), Some(value)) => set(slot, value),
        (None, Some(value)) => *slot = Some(value.to_owned()),
        (_, None) => *slot = None,
    }
}

impl PageMemo {
    fn is_last(&self, url: &str, referrer: Option<&str>) -> bool {
        self.url == url && self.referrer.as_deref() == referrer
    }

    fn holds(&self, url: &str, referrer: Option<&str>) -> bool {
        self.valid && self.is_last(url, referrer)
    }

    /// After an event whose page was enriched anew: keeps its parts if the previous event had
    /// the same page, else only its raw strings.
    fn note(&mut self, url: &str, referrer: Option<&str>, parts: &PageParts<'_>) {
        if self.is_last(url, referrer) {
            self.store(parts);
        } else {
            self.valid = false;
            set(&mut self.url, url);
            set_opt(&mut self.referrer, referrer);
        }
    }

    fn store(&mut self, parts: &PageParts<'_>) {
        set(&mut self.hostname, parts.hostname);
        set(&mut self.path, parts.path);
        for (slot, value) in self.utm.iter_mut().zip(parts.utm) {
            set_opt(slot, value);
        }
        set_opt(&mut self.referrer_host, parts.referrer_host);
        self.referrer_source = parts.referrer_source;
        self.valid = true;
    }

    fn parts(&self) -> PageParts<'_> {
        PageParts {
            hostname: &self.hostname,
            path: &self.path,
            utm: [0, 1, 2, 3, 4].map(|i| self.utm[i].as_deref()),
            referrer_host: self.referrer_host.as_deref(),
            referrer_source: self.referrer_source,
        }
    }
}

/// `value` as an `Arc<str>`, sharing `last` when it holds the same text (and remembering it).
fn shared_arc(last: &mut Option<Arc<str>>, value: &str) -> Arc<str> {
    match last {
        Some(arc) if **arc == *value => arc.clone(),
        _ => {
            let arc: Arc<str> = Arc::from(value);
            *last = Some(arc.clone());
            arc
        }
    }
}

/// What [`Enricher::assign_import_visitor`] decided for an imported line.
pub struct ImportSession {
    /// The line's visitor hash (the same [`Enricher::prepare_with_session`] would compute).
    pub visitor: u64,
    pub session: Arc<str>,
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
        let cols = EventColumns::resolve()?;
        if cols.len > MAX_EVENT_COLUMNS {
            return Err(EnricherError::TooManyColumns(cols.len));
        }
        Ok(Enricher {
            user_agents: UserAgentCache::default(),
            salts: SaltRing::open(data_dir, (now_ms / 1000).max(0) as u64)?,
            geo: None,
            trusted_proxies,
            cols,
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
            accepted: 0,
            live: Vec::with_capacity(count),
            live_rows: Vec::with_capacity(count),
            rejected: Vec::new(),
        };
        let mut memo = RequestMemo {
            pages: (count > 1).then(Box::default),
            ..RequestMemo::default()
        };
        for (index, event) in events.enumerate() {
            let result = event.and_then(|event| {
                validate_event(&event, options)?;
                self.prepare_memo(
                    site,
                    &event,
                    client,
                    options.now_ms,
                    &mut prepared.rows,
                    &mut memo,
                )
            });
            match result {
                Ok(live) => {
                    if let Some(live) = live {
                        prepared.live.push(live);
                        prepared.live_rows.push(prepared.accepted as u32);
                    }
                    prepared.accepted += 1;
                }
                Err(error) if error.code == ErrorCode::Internal => return Err(error),
                Err(error) => prepared.rejected.push((index, error)),
            }
        }
        Ok(prepared)
    }

    /// Enriches `event`, appends its row to `rows` and returns what the live figures and the
    /// session actors need, or `None` for a server-side event that names no visitor (stored and
    /// counted, but it opens no session and is no live visitor). `received_ms` is the server
    /// time the request arrived.
    pub fn prepare(
        &self,
        site: &SiteContext<'_>,
        event: &WireEvent<'_>,
        client: &ClientContext<'_>,
        received_ms: i64,
        rows: &mut RowBuf,
    ) -> Result<Option<LiveEvent>, ErrorDetail> {
        let mut memo = RequestMemo::default();
        self.prepare_memo(site, event, client, received_ms, rows, &mut memo)
    }

    /// The visitor hash and event time of an imported line without a `session_id` (`None` for a
    /// line that has one), on any thread. Then, in line order (a visitor's session depends on
    /// its earlier events), [`Enricher::assign_import_visitor`] assigns its session, and the
    /// line is enriched in any order or thread with [`Enricher::prepare_with_session`]; the
    /// visitor hash is handed on, so the line is not hashed twice.
    pub fn import_visitor_of(
        &self,
        domain: &str,
        event: &WireEvent<'_>,
        run_key: u64,
        received_ms: i64,
    ) -> Option<(u64, i64)> {
        if event.session_id.is_some() {
            return None;
        }
        let event_ms = event.ts.unwrap_or(received_ms);
        let visitor = match &event.visitor_id {
            Some(given) => hash_str(given),
            None => {
                let ip = event
                    .ip
                    .as_deref()
                    .and_then(crate::enrich::client_ip::parse_ip);
                let user_agent = event.user_agent.as_deref().unwrap_or("");
                import_visitor(run_key, event_ms, domain, ip, user_agent)
            }
        };
        Some((visitor, event_ms))
    }

    /// The session of an imported line's visitor, assigned now: call it in line order.
    pub fn assign_import_visitor(
        &self,
        site: &SiteContext<'_>,
        visitor: u64,
        event_ms: i64,
    ) -> ImportSession {
        ImportSession {
            visitor,
            session: site.sessions.assign(site.domain, visitor, event_ms),
        }
    }

    /// [`Enricher::prepare`] with the session [`Enricher::assign_import_visitor`] assigned.
    pub fn prepare_with_session(
        &self,
        site: &SiteContext<'_>,
        event: &WireEvent<'_>,
        client: &ClientContext<'_>,
        received_ms: i64,
        rows: &mut RowBuf,
        session: Option<ImportSession>,
    ) -> Result<Option<LiveEvent>, ErrorDetail> {
        let mut memo = RequestMemo::default();
        if let Some(ImportSession { visitor, session }) = session {
            memo.assigned_visitor = Some(visitor);
            memo.assigned_session = Some(session);
        }
        self.prepare_memo(site, event, client, received_ms, rows, &mut memo)
    }

    /// [`Enricher::prepare`], reusing what `memo` learned from earlier events of the same
    /// request: over HTTP every event of a request has the request's User-Agent and address, so
    /// the User-Agent lookup and the visitor hash are done once per request, not per event.
    fn prepare_memo(
        &self,
        site: &SiteContext<'_>,
        event: &WireEvent<'_>,
        client: &ClientContext<'_>,
        received_ms: i64,
        rows: &mut RowBuf,
        memo: &mut RequestMemo,
    ) -> Result<Option<LiveEvent>, ErrorDetail> {
        let cols = &self.cols;
        let per_request = matches!(client, ClientContext::Http { .. });
        let event_ms = event.ts.unwrap_or(received_ms);
        // the page and referrer: the previous event's when they are the same strings
        let (url, page, path, referrer);
        let page_parts = match memo.pages.as_deref_mut() {
            Some(pages) if pages.holds(&event.url, event.referrer.as_deref()) => pages.parts(),
            pages => {
                url = scrub_url(&event.url);
                page =
                    parse_page_url(&url).map_err(|e| ErrorDetail::field("url", e.to_string()))?;
                referrer = classify_referrer_with(
                    event.referrer.as_deref(),
                    &page.hostname,
                    &page.campaign,
                );
                path = scrub_text(page.path);
                let parts = PageParts {
                    hostname: &page.hostname,
                    path: &path,
                    utm: [
                        page.utm.source.as_deref(),
                        page.utm.medium.as_deref(),
                        page.utm.campaign.as_deref(),
                        page.utm.term.as_deref(),
                        page.utm.content.as_deref(),
                    ],
                    referrer_host: referrer.host.as_deref(),
                    referrer_source: referrer.source.as_str(),
                };
                match pages {
                    Some(pages) => {
                        pages.note(&event.url, event.referrer.as_deref(), &parts);
                        if pages.valid {
                            pages.parts()
                        } else {
                            parts
                        }
                    }
                    None => parts,
                }
            }
        };

        let forwarded_ip = || {
            event
                .ip
                .as_deref()
                .and_then(crate::enrich::client_ip::parse_ip)
        };
        // the browser the event is about (its User-Agent and address), when there is one
        let (user_agent, ip, headers) = match client {
            ClientContext::Http {
                ip,
                user_agent,
                accept_language,
            } => (
                Some(*user_agent),
                Some(*ip),
                HeaderEvidence::Http {
                    accept_language: *accept_language,
                },
            ),
            // a backend forwards its end user's User-Agent and address when it has them; with a
            // User-Agent but no address the connection's peer stands in for the visitor hash
            ClientContext::Server { peer } => {
                let user_agent = event.user_agent.as_deref();
                let ip = forwarded_ip().or(user_agent.map(|_| *peer));
                (user_agent, ip, HeaderEvidence::Unavailable)
            }
            ClientContext::Import { .. } => (
                Some(event.user_agent.as_deref().unwrap_or("")),
                forwarded_ip(),
                HeaderEvidence::Unavailable,
            ),
        };
        let agent = match (&memo.agent, user_agent) {
            (Some(agent), Some(_)) if per_request => Some(agent.clone()),
            (_, Some(user_agent)) => {
                let agent = self.user_agents.get(user_agent);
                if per_request {
                    memo.agent = Some(agent.clone());
                }
                Some(agent)
            }
            (_, None) => None,
        };
        // the shop server's own address says nothing about where its customer is
        let geo_ip = match client {
            ClientContext::Server { .. } => forwarded_ip(),
            _ => ip,
        };
        let geo = self
            .geo
            .as_ref()
            .zip(geo_ip)
            .and_then(|(db, ip)| db.lookup(ip));
        let is_bot = agent
            .as_ref()
            .is_some_and(|agent| bot_reason(agent.bot, headers).is_some());

        let visitor = match (&event.visitor_id, client, user_agent, ip) {
            (Some(given), ..) => Some((hash_str(given), Arc::from(given.as_str()))),
            (None, ClientContext::Import { run_key }, Some(user_agent), ip) => {
                let visitor = memo.assigned_visitor.take().unwrap_or_else(|| {
                    import_visitor(*run_key, event_ms, site.domain, ip, user_agent)
                });
                Some((visitor, hex_id(visitor)))
            }
            (None, _, Some(_), Some(_)) if per_request && memo.visitor.is_some() => {
                memo.visitor.clone()
            }
            (None, _, Some(user_agent), Some(ip)) => {
                let now_secs = (received_ms / 1000).max(0) as u64;
                let visitor = self
                    .salts
                    .visitor_id(now_secs, site.domain, ip, user_agent)
                    .map_err(|e| {
                        tracing::error!(error = %e, "visitor salt unavailable");
                        ErrorDetail::new(ErrorCode::Internal, "internal error")
                    })?
                    .0;
                let visitor = (visitor, hex_id(visitor));
                if per_request {
                    memo.visitor = Some(visitor.clone());
                }
                Some(visitor)
            }
            // server-side without a forwarded User-Agent and address: no visitor is invented
            (None, ..) => None,
        };
        let session_id: Option<Arc<str>> = match (&event.session_id, &visitor) {
            (Some(given), _) => Some(Arc::from(given.as_str())),
            (None, Some((visitor, _))) => Some(
                memo.assigned_session
                    .take()
                    .unwrap_or_else(|| site.sessions.assign(site.domain, *visitor, event_ms)),
            ),
            (None, None) => None,
        };

        let referrer_source = page_parts.referrer_source;
        let path = page_parts.path;
        let utm = page_parts.utm;
        let (revenue, currency) = revenue_minor_units(event);
        let converted = event.event_type == EventType::Ecommerce
            && event
                .ecommerce
                .as_ref()
                .is_some_and(|e| e.order_id.is_some());
        let mut props = std::mem::take(&mut memo.props);
        props.clear();
        if let Some(event_props) = &event.props {
            write_props_json(event_props, &mut props);
        }
        let error_message = event
            .error
            .as_ref()
            .and_then(|e| e.message.as_deref())
            .map(scrub_text);

        let mut values = [Value::Null; MAX_EVENT_COLUMNS];
        let row = &mut values[..cols.len];
        row[cols.ts] = Value::Int(event_ms.saturating_mul(1000));
        row[cols.site] = Value::Str(site.domain);
        row[cols.event_type] = Value::Str(event.event_type.as_str());
        row[cols.name] = Value::Str(event.effective_name());
        row[cols.event_id] = text(&event.event_id);
        row[cols.session_id] = opt(session_id.as_deref());
        row[cols.visitor_id] = opt(visitor.as_ref().map(|(_, id)| &**id));
        row[cols.user_id] = text(&event.user_id);
        row[cols.hostname] = Value::Str(page_parts.hostname);
        row[cols.path] = Value::Str(path);
        row[cols.referrer_host] = opt(page_parts.referrer_host);
        row[cols.referrer_source] = Value::Str(referrer_source);
        for (i, value) in utm.iter().enumerate() {
            row[cols.utm[i]] = opt(*value);
        }
        if let Some(geo) = &geo {
            row[cols.country] = opt(geo.country.as_deref());
            row[cols.region] = opt(geo.region.as_deref());
            row[cols.city] = opt(geo.city.as_deref());
        }
        if let Some(agent) = &agent {
            row[cols.device] = Value::Str(agent.device.as_str());
            row[cols.browser] = Value::Str(&agent.browser);
            row[cols.browser_version] = Value::Str(&agent.browser_version);
            row[cols.os] = Value::Str(&agent.os);
            row[cols.os_version] = Value::Str(&agent.os_version);
        }
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
        if event.props.is_some() {
            row[cols.props] = Value::Str(&props);
        }
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
        rows.push_row(row).map_err(|e: RowError| {
            tracing::error!(error = %e, "event row does not match the schema");
            ErrorDetail::new(ErrorCode::Internal, "internal error")
        })?;
        memo.props = props;

        let live = match (visitor, session_id) {
            (Some((visitor, visitor_id)), Some(session_id)) => {
                let mut live_utm: [Option<Arc<str>>; 5] = Default::default();
                for ((slot, value), last) in live_utm.iter_mut().zip(utm).zip(&mut memo.live_utm) {
                    *slot = value.map(|value| shared_arc(last, value));
                }
                Some(LiveEvent {
                    received_ms,
                    event_ms,
                    visitor,
                    visitor_id,
                    session_id,
                    is_pageview: event.event_type == EventType::Pageview,
                    is_bot,
                    path: Some(shared_arc(&mut memo.live_path, path)),
                    referrer_source: Some(referrer_source),
                    utm: live_utm,
                    country: geo.and_then(|g| g.country.clone()),
                    device: agent.as_ref().map(|a| a.device_name.clone()),
                    browser: agent.as_ref().map(|a| a.browser.clone()),
                    os: agent.as_ref().map(|a| a.os.clone()),
                    revenue: revenue.unwrap_or(0),
                    converted,
                })
            }
            _ => None,
        };
        Ok(live)
    }
}

fn opt(v: Option<&str>) -> Value<'_> {
    v.map_or(Value::Null, Value::Str)
}

fn text<'a>(v: &'a Option<Text<'_>>) -> Value<'a> {
    v.as_deref().map_or(Value::Null, Value::Str)
}

/// The visitor of an imported line: keyed by the import run instead of a daily salt. foldhash
/// seeded with the run's random key: this runs once per line, and SipHash over the User-Agent
/// was 2% of an import's instructions; the key lives only as long as the run, so nobody can
/// study it to aim collisions (which would only merge sessions of the same run anyway).
fn import_visitor(
    run_key: u64,
    event_ms: i64,
    domain: &str,
    ip: Option<IpAddr>,
    user_agent: &str,
) -> u64 {
    let mut hasher = foldhash::quality::FixedState::with_seed(run_key).build_hasher();
    event_ms.div_euclid(86_400_000).hash(&mut hasher);
    domain.hash(&mut hasher);
    ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        .hash(&mut hasher);
    user_agent.hash(&mut hasher);
    hasher.finish()
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

/// An enricher and a live-session index for `shop.example` at a fixed time, for unit tests.
#[cfg(test)]
pub(crate) mod fixture {
    #![expect(clippy::unwrap_used)]

    use super::{Enricher, SessionIndex, SiteContext, TrustedProxies};

    /// 2026-01-01T00:00:00Z, the enricher's clock.
    pub(crate) const NOW: i64 = 1_767_225_600_000;

    pub(crate) struct Fixture {
        pub(crate) enricher: Enricher,
        pub(crate) sessions: SessionIndex,
        /// Holds the enricher's salts until the test ends.
        _dir: tempfile::TempDir,
    }

    impl Fixture {
        pub(crate) fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            Fixture {
                enricher: Enricher::open(dir.path(), NOW, TrustedProxies::none()).unwrap(),
                sessions: SessionIndex::new(1_800_000),
                _dir: dir,
            }
        }

        pub(crate) fn site(&self) -> SiteContext<'_> {
            SiteContext {
                domain: "shop.example",
                sessions: &self.sessions,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use ecomdash_protocol::decode_event;
    use ecomdash_storage::Table;

    use super::fixture::{self, Fixture};
    use super::*;

    /// A desktop Firefox over HTTP.
    fn firefox() -> ClientContext<'static> {
        ClientContext::Http {
            ip: "203.0.113.9".parse().unwrap(),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            accept_language: Some("en"),
        }
    }

    /// Live-intake validation at `now_ms`.
    fn checked_at(now_ms: i64) -> ValidateOptions {
        ValidateOptions {
            now_ms,
            check_ts_window: true,
        }
    }

    #[test]
    fn events_of_a_request_share_repeated_paths_and_utm_values() {
        let fixture = Fixture::new();
        let (enricher, site, now) = (&fixture.enricher, fixture.site(), fixture::NOW);
        let client = firefox();
        let bodies: [&[u8]; 3] = [
            br#"{"type":"pageview","url":"https://shop.example/a?utm_source=news"}"#,
            br#"{"type":"click","url":"https://shop.example/a?utm_source=news"}"#,
            br#"{"type":"pageview","url":"https://shop.example/b?utm_source=ads"}"#,
        ];
        let events = bodies.iter().map(|body| decode_event(body));
        let options = checked_at(now);
        let prepared = enricher
            .prepare_events(&site, events, &client, options)
            .unwrap();
        let [a, a_again, b] = &prepared.live[..] else {
            panic!("three live events expected")
        };
        let path = |e: &LiveEvent| e.path.clone().unwrap();
        let source = |e: &LiveEvent| e.utm[0].clone().unwrap();
        assert!(Arc::ptr_eq(&path(a), &path(a_again)));
        assert!(Arc::ptr_eq(&source(a), &source(a_again)));
        assert_eq!((&*path(a), &*source(a)), ("/a", "news"));
        assert_eq!((&*path(b), &*source(b)), ("/b", "ads"));
        assert_eq!(b.utm[1], None);
    }

    #[test]
    fn a_batch_enriches_each_event_as_a_request_of_its_own_would() {
        let fixture = Fixture::new();
        let (enricher, site, now) = (&fixture.enricher, fixture.site(), fixture::NOW);
        let client = firefox();
        // runs of one page and referrer, changes of either, a return to an earlier page, a
        // page whose URL is refused between two equal ones, and pages with scrubbed parts
        let bodies: [&[u8]; 10] = [
            br#"{"type":"pageview","url":"https://shop.example/a?utm_source=news&utm_medium=email","referrer":"https://www.google.com/"}"#,
            br#"{"type":"click","url":"https://shop.example/a?utm_source=news&utm_medium=email","referrer":"https://www.google.com/"}"#,
            br#"{"type":"scroll","url":"https://shop.example/a?utm_source=news&utm_medium=email","referrer":"https://t.co/x","scroll_depth":50}"#,
            br#"{"type":"scroll","url":"https://shop.example/a?utm_source=news&utm_medium=email","scroll_depth":75}"#,
            br#"{"type":"pageview","url":"https://shop.example/b/jane@doe.example?token=s3cret&gclid=x"}"#,
            br#"{"type":"pageview","url":"ftp://shop.example/b"}"#,
            br#"{"type":"click","url":"https://shop.example/b/jane@doe.example?token=s3cret&gclid=x"}"#,
            br#"{"type":"pageview","url":"https://shop.example/a?utm_source=news&utm_medium=email","referrer":"https://www.google.com/"}"#,
            br#"{"type":"pageview","url":"https://shop.example/a?utm_source=news&utm_medium=email","referrer":"https://shop.example/b"}"#,
            br#"{"type":"engagement","url":"https://shop.example/a?utm_source=news&utm_medium=email","referrer":"https://shop.example/b","engagement_ms":1200}"#,
        ];
        let options = checked_at(now);
        let batch = enricher
            .prepare_events(
                &site,
                bodies.iter().map(|b| decode_event(b)),
                &client,
                options,
            )
            .unwrap();
        let mut one_by_one = Vec::new();
        for body in bodies {
            let alone = enricher
                .prepare_events(&site, std::iter::once(decode_event(body)), &client, options)
                .unwrap();
            one_by_one.push(alone);
        }
        // the same rows, byte for byte, and the same refusals
        let alone_bytes: Vec<u8> = one_by_one
            .iter()
            .flat_map(|p| p.rows.as_bytes().to_vec())
            .collect();
        assert_eq!(batch.rows.as_bytes(), &alone_bytes[..]);
        assert_eq!(batch.accepted, 9);
        assert_eq!(batch.rejected.len(), 1);
        assert_eq!(batch.rejected[0].0, 5);
        assert_eq!(
            format!("{:?}", batch.rejected[0].1),
            format!("{:?}", one_by_one[5].rejected[0].1)
        );
        // and the same live records
        let alone_live: Vec<String> = one_by_one
            .iter()
            .flat_map(|p| p.live.iter().map(|e| format!("{e:?}")))
            .collect();
        let batch_live: Vec<String> = batch.live.iter().map(|e| format!("{e:?}")).collect();
        assert_eq!(batch_live, alone_live);
    }

    #[test]
    fn prepares_a_row_without_the_raw_ip_or_user_agent() {
        let fixture = Fixture::new();
        let (enricher, site, now) = (&fixture.enricher, fixture.site(), fixture::NOW);
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
            .unwrap()
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
