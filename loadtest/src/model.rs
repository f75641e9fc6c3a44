//! The traffic model: simulated visitors and their sessions on several shops, as wire events.
//!
//! Everything is drawn from one `StdRng` seeded with `--seed`, so the same seed and base time
//! produce byte-identical events. Per session: a visitor (a new one, or a returning one from the
//! last [`RETURNING_POOL`] visitors) with a real User-Agent and a public-looking IPv4 address; a
//! landing page reached through the referrer/UTM mix of [`crate::catalog::landing`]; a share of
//! single-page sessions, otherwise 2 to `max_pages` pages with log-normal dwell times; pages drawn
//! with Zipf popularity over products and categories; per page a pageview, and by chance scroll,
//! click, engagement, a JavaScript error, web vitals on the landing page; on product pages the
//! ecommerce funnel view → add to cart → begin checkout → purchase, with configurable
//! continuation rates. Bot sessions crawl pages quickly, with crawler User-Agents and mostly
//! without `Accept-Language`.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use ecomdash_protocol::{EventType, PropValue, Props, Text, WireEvent};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use self::pages::Session;
use crate::agents::{screens, BOTS, BROWSERS, LANGUAGES};
use crate::catalog::{landing, product, Zipf, CATEGORIES};

/// How many recent visitors a returning visitor is drawn from.
pub const RETURNING_POOL: usize = 1000;

/// Hour of the day (UTC) at which a day/night cycle ([`ModelConfig::diurnal_amplitude`]) peaks.
pub const DIURNAL_PEAK_HOUR: f64 = 20.0;

/// Continuation rates of the ecommerce funnel, each in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Funnel {
    /// Of product views, the share that adds to cart.
    pub add_to_cart: f64,
    /// Of sessions with a cart, the share that begins checkout.
    pub begin_checkout: f64,
    /// Of checkouts, the share that purchases.
    pub purchase: f64,
}

impl Default for Funnel {
    fn default() -> Self {
        Self {
            add_to_cart: 0.12,
            begin_checkout: 0.45,
            purchase: 0.6,
        }
    }
}

/// Parameters of the traffic model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub seed: u64,
    /// Number of simulated shops (`shop1.loadtest.example`, ...), with Zipf-skewed volumes.
    pub sites: usize,
    /// Start of the simulated timeline, milliseconds since the Unix epoch.
    pub base_ms: i64,
    /// Mean gap between session starts on the timeline, in milliseconds.
    pub session_gap_ms: f64,
    /// Day/night cycle of the session rate, 0..1: the rate is `1 + amplitude * cos(..)` times
    /// the mean, highest at [`DIURNAL_PEAK_HOUR`] UTC. 0 (the default) keeps it flat.
    pub diurnal_amplitude: f64,
    /// Share of sessions that are bots.
    pub bot_share: f64,
    /// Share of human sessions with a single page.
    pub single_page_share: f64,
    pub max_pages: u32,
    pub funnel: Funnel,
    pub products: usize,
    /// Chance of a JavaScript error event per page.
    pub error_rate: f64,
    /// Tag of this run: sent as the `run` prop and the prefix of every `event_id`.
    pub run_id: String,
}

impl ModelConfig {
    pub fn new(seed: u64, sites: usize, base_ms: i64) -> Self {
        Self {
            seed,
            sites: sites.max(1),
            base_ms,
            session_gap_ms: 50.0,
            diurnal_amplitude: 0.0,
            bot_share: 0.05,
            single_page_share: 0.4,
            max_pages: 20,
            funnel: Funnel::default(),
            products: 2000,
            error_rate: 0.005,
            run_id: format!(
                "{:08x}",
                (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
            ),
        }
    }

    /// Hostname of site `index` (0-based).
    pub fn site_host(index: usize) -> String {
        format!("shop{}.loadtest.example", index + 1)
    }
}

/// One generated event with the request context a browser would send it with.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedEvent {
    /// Index of the site (0-based); its write key is the site's `--key`.
    pub site: usize,
    pub user_agent: &'static str,
    /// `None` for most bots (scripts rarely send it).
    pub accept_language: Option<&'static str>,
    pub ip: Ipv4Addr,
    pub is_bot: bool,
    /// The wire event; `event_id` is left empty for the caller to number.
    pub event: WireEvent<'static>,
}

#[derive(Debug, Clone, Copy)]
struct Visitor {
    ip: Ipv4Addr,
    agent: usize,
    language: usize,
}

/// A deterministic stream of sessions.
pub struct TrafficModel {
    config: ModelConfig,
    rng: StdRng,
    sites: Zipf,
    products: Zipf,
    categories: Zipf,
    browser_weights: Vec<u32>,
    returning: VecDeque<Visitor>,
    clock_ms: f64,
    orders: u64,
}

impl TrafficModel {
    pub fn new(config: ModelConfig) -> Self {
        Self {
            rng: StdRng::seed_from_u64(config.seed),
            sites: Zipf::new(config.sites, 1.0),
            products: Zipf::new(config.products.max(1), 1.07),
            categories: Zipf::new(CATEGORIES.len(), 0.8),
            browser_weights: BROWSERS.iter().map(|b| b.weight).collect(),
            returning: VecDeque::with_capacity(RETURNING_POOL),
            clock_ms: config.base_ms as f64,
            orders: 0,
            config,
        }
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The events of the next session, in time order.
    pub fn next_session(&mut self) -> Vec<GeneratedEvent> {
        let gap = -self.config.session_gap_ms * (1.0 - self.rng.gen::<f64>()).ln();
        self.clock_ms += gap / self.rate_factor();
        let site = self.sites.sample(&mut self.rng);
        if self.rng.gen_bool(self.config.bot_share.clamp(0.0, 1.0)) {
            self.bot_session(site)
        } else {
            self.human_session(site)
        }
    }

    /// The session rate at the current clock relative to the mean (1.0 without a day/night
    /// cycle); it averages to 1 over a day.
    fn rate_factor(&self) -> f64 {
        let amplitude = self.config.diurnal_amplitude.clamp(0.0, 0.95);
        if amplitude == 0.0 {
            return 1.0;
        }
        let hour = (self.clock_ms / 3_600_000.0).rem_euclid(24.0);
        let phase = (hour - DIURNAL_PEAK_HOUR) / 24.0 * std::f64::consts::TAU;
        1.0 + amplitude * phase.cos()
    }

    fn public_ip(&mut self) -> Ipv4Addr {
        // first octets of large public allocations; avoids private, loopback and multicast ranges
        const FIRST: &[u8] = &[
            2, 5, 31, 37, 46, 62, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92,
            93, 94, 95, 109, 176, 178, 185, 188, 193, 194, 195, 212, 213, 217,
        ];
        let first = FIRST[self.rng.gen_range(0..FIRST.len())];
        Ipv4Addr::new(
            first,
            self.rng.gen(),
            self.rng.gen(),
            self.rng.gen_range(1..255),
        )
    }

    fn visitor(&mut self) -> Visitor {
        if !self.returning.is_empty() && self.rng.gen_bool(0.2) {
            let index = self.rng.gen_range(0..self.returning.len());
            return self.returning[index];
        }
        let visitor = Visitor {
            ip: self.public_ip(),
            agent: weighted(&mut self.rng, &self.browser_weights),
            language: self.rng.gen_range(0..LANGUAGES.len()),
        };
        if self.returning.len() == RETURNING_POOL {
            self.returning.pop_front();
        }
        self.returning.push_back(visitor);
        visitor
    }

    fn bot_session(&mut self, site: usize) -> Vec<GeneratedEvent> {
        let user_agent = BOTS[self.rng.gen_range(0..BOTS.len())];
        let accept_language = self.rng.gen_bool(0.3).then_some(LANGUAGES[0].0);
        let ip = self.public_ip();
        let pages = self.rng.gen_range(1..=20);
        let host = ModelConfig::site_host(site);
        let mut at = self.clock_ms;
        let mut events = Vec::with_capacity(pages);
        for _ in 0..pages {
            let path = if self.rng.gen_bool(0.7) {
                product_path(self.rng.gen_range(0..self.config.products.max(1)))
            } else {
                format!("/c/{}", CATEGORIES[self.rng.gen_range(0..CATEGORIES.len())])
            };
            let mut event = self.base_event(EventType::Pageview, &host, &path, at);
            event.title = Some(Text::from(title_for(&path)));
            events.push(GeneratedEvent {
                site,
                user_agent,
                accept_language,
                ip,
                is_bot: true,
                event,
            });
            at += self.rng.gen_range(200.0..2000.0);
        }
        events
    }

    fn human_session(&mut self, site: usize) -> Vec<GeneratedEvent> {
        let visitor = self.visitor();
        let agent = &BROWSERS[visitor.agent];
        let (accept_language, lang) = LANGUAGES[visitor.language];
        let sizes = screens(agent.device);
        let (screen, viewport) = sizes[self.rng.gen_range(0..sizes.len())];
        let host = ModelConfig::site_host(site);
        let landing = landing(&mut self.rng);
        let pages = if self
            .rng
            .gen_bool(self.config.single_page_share.clamp(0.0, 1.0))
        {
            1
        } else {
            self.rng.gen_range(2..=self.config.max_pages.max(2))
        };
        let mut session = Session {
            events: Vec::new(),
            at: self.clock_ms,
            previous_url: landing.referrer.map(str::to_owned),
            cart: Vec::new(),
        };
        let context = (site, agent.user_agent, Some(accept_language), visitor.ip);
        for page in 0..pages {
            let mut path = self.next_path(page == 0);
            if page == 0 {
                if let Some(query) = &landing.query {
                    path = format!("{path}?{query}");
                }
            }
            let done = self.page(
                &mut session,
                context,
                &host,
                &path,
                page == 0,
                (lang, screen, viewport),
            );
            if done {
                break;
            }
        }
        session.events
    }

    fn next_path(&mut self, landing: bool) -> String {
        let roll: f64 = self.rng.gen();
        let (product_share, category_share) = if landing { (0.45, 0.25) } else { (0.55, 0.30) };
        if roll < product_share {
            product_path(self.products.sample(&mut self.rng))
        } else if roll < product_share + category_share {
            format!("/c/{}", CATEGORIES[self.categories.sample(&mut self.rng)])
        } else if roll < 0.95 {
            "/".to_owned()
        } else {
            format!(
                "/search?q={}",
                CATEGORIES[self.categories.sample(&mut self.rng)]
            )
        }
    }

    fn base_event(
        &self,
        event_type: EventType,
        host: &str,
        path: &str,
        at_ms: f64,
    ) -> WireEvent<'static> {
        WireEvent {
            event_type,
            url: Text::from(format!("https://{host}{path}")),
            ts: Some(at_ms as i64),
            props: Some(Props(vec![(
                Text::from("run"),
                PropValue::Text(Text::from(self.config.run_id.clone())),
            )])),
            ..WireEvent::default()
        }
    }

    /// Time on a page: log-normal around 25 s, capped at 10 minutes.
    fn dwell_ms(&mut self) -> f64 {
        self.log_normal(25_000.0, 1.0).min(600_000.0)
    }

    fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        // Box-Muller
        let u1: f64 = 1.0 - self.rng.gen::<f64>();
        let u2: f64 = self.rng.gen();
        let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        median * (sigma * normal).exp()
    }
}

fn product_path(index: usize) -> String {
    format!("/p/{}", product(index).0)
}

fn product_index(slug: &str) -> Option<usize> {
    slug.rsplit('-').next()?.parse().ok()
}

fn title_for(path: &str) -> String {
    if let Some(slug) = path.strip_prefix("/p/") {
        let index = product_index(slug).unwrap_or_default();
        format!("{} – Shop", product(index).1)
    } else if let Some(category) = path.strip_prefix("/c/") {
        format!("{category} – Shop")
    } else if path.starts_with("/search") {
        "Search – Shop".to_owned()
    } else {
        "Shop – Home".to_owned()
    }
}

fn weighted<R: Rng>(rng: &mut R, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut pick = rng.gen_range(0..total.max(1));
    for (index, weight) in weights.iter().enumerate() {
        if pick < *weight {
            return index;
        }
        pick -= weight;
    }
    weights.len().saturating_sub(1)
}

/// An endless, numbered stream of events: sessions one after another.
pub struct EventStream {
    model: TrafficModel,
    pending: std::vec::IntoIter<GeneratedEvent>,
    next_seq: u64,
}

impl EventStream {
    pub fn new(config: ModelConfig) -> Self {
        Self {
            model: TrafficModel::new(config),
            pending: Vec::new().into_iter(),
            next_seq: 0,
        }
    }

    pub fn run_id(&self) -> &str {
        &self.model.config().run_id
    }
}

/// The `event_id` of event number `seq` of run `run_id`: fixed width, so a request template can
/// renumber it in place.
pub fn event_id(run_id: &str, seq: u64) -> String {
    format!("{run_id}-{seq:016x}")
}

impl Iterator for EventStream {
    type Item = GeneratedEvent;

    /// The next event, with its `event_id` set.
    fn next(&mut self) -> Option<GeneratedEvent> {
        loop {
            if let Some(mut event) = self.pending.next() {
                event.event.event_id = Some(Text::from(event_id(self.run_id(), self.next_seq)));
                self.next_seq += 1;
                return Some(event);
            }
            self.pending = self.model.next_session().into_iter();
        }
    }
}

#[path = "model_pages.rs"]
mod pages;

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
