//! Deterministic, realistic synthetic web-analytics traffic for benches (and tests that want
//! realistic data): one shop's day of sessions with Zipf-distributed paths over a product
//! catalogue, several pageviews per session, skewed countries/devices/browsers, a referrer/UTM mix
//! on landing pageviews, and some clicks, scrolls, web vitals, custom and ecommerce events with
//! revenue. Pageviews are about 80% of events.
//!
//! Include it with `#[path = "synth.rs"] mod synth;`. Same config → same events, byte for byte.
//!
//! Assumptions worth knowing when reading figures measured with it:
//! - visitor and session ids are 64-bit hashes rendered as 16 hex digits (DESIGN.md's cookieless id);
//! - `event_id` (the optional idempotency key) is set only when [`SynthConfig::event_ids`] is true,
//!   then as a UUIDv7-style string on every event;
//! - referrer and UTM fields are set on the landing pageview of a session only (later pageviews
//!   are internal navigation).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use ecomdash_storage::{ColumnBatch, ColumnType, ColumnVec, RowBuf, StrDict, Table, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const MICROS_PER_DAY: i64 = 86_400_000_000;

#[derive(Clone, Debug)]
pub struct SynthConfig {
    pub seed: u64,
    pub site: &'static str,
    /// Days since the Unix epoch (20454 = 2026-01-01).
    pub day: i32,
    pub products: usize,
    /// Whether every event carries a random `event_id` (idempotency key).
    pub event_ids: bool,
}

impl Default for SynthConfig {
    fn default() -> SynthConfig {
        SynthConfig {
            seed: 42,
            site: "shop.example",
            day: 20_454,
            products: 2_000,
            event_ids: false,
        }
    }
}

use tables::{
    CATEGORIES, CITIES, COUNTRIES, CUSTOM_EVENTS, DEVICES, ERRORS, LANGS, REGIONS, SELECTORS,
    SOURCES,
};

/// Weighted choice tables: (value, weight). Kept compact, one logical row per line.
#[rustfmt::skip]
mod tables {
    pub const COUNTRIES: &[(&str, u32)] = &[
        ("US", 300), ("DE", 100), ("GB", 80), ("FR", 60), ("CA", 45), ("NL", 35), ("IN", 35),
        ("ES", 30), ("IT", 30), ("BR", 25), ("AU", 25), ("SE", 20), ("PL", 18), ("CH", 15),
        ("AT", 14), ("BE", 13), ("JP", 12), ("MX", 10), ("DK", 9), ("NO", 8), ("IE", 7), ("FI", 6),
        ("PT", 6), ("CZ", 5), ("NZ", 4), ("SG", 4), ("ZA", 3), ("AR", 3), ("TR", 3), ("KR", 2),
    ];
    pub const REGIONS: &[&str] = &["R1", "R2", "R3", "R4", "R5", "R6"];
    pub const CITIES: &[&str] = &[
        "Capital", "Harbor City", "Springfield", "Riverside", "Lakeside", "Hill Town", "Old Town",
        "Newport", "Fairview", "Greenville", "Bristol", "Salem", "Franklin", "Clinton", "Madison",
    ];
    /// A device class with its OSes (name, versions, weight), browsers (same) and screens (w, h, weight).
    pub struct DeviceKind {
        pub device: &'static str,
        pub weight: u32,
        pub os: &'static [(&'static str, &'static [&'static str], u32)],
        pub browsers: &'static [(&'static str, &'static [&'static str], u32)],
        pub screens: &'static [(i64, i64, u32)],
    }
    pub const DEVICES: &[DeviceKind] = &[
        DeviceKind {
            device: "mobile", weight: 52,
            os: &[("iOS", &["17.5", "18.1", "18.2"], 45), ("Android", &["13", "14", "15"], 55)],
            browsers: &[("Safari", &["17.5", "18.1"], 40), ("Chrome", &["130", "131"], 45),
                        ("Samsung Internet", &["26"], 10), ("Firefox", &["132"], 5)],
            screens: &[(390, 844, 30), (393, 873, 25), (412, 915, 25), (360, 800, 20)],
        },
        DeviceKind {
            device: "desktop", weight: 43,
            os: &[("Windows", &["10", "11"], 60), ("Mac OS X", &["14.6", "15.1"], 32), ("Linux", &[""], 8)],
            browsers: &[("Chrome", &["130", "131"], 62), ("Edge", &["130", "131"], 14),
                        ("Safari", &["17.6", "18.1"], 12), ("Firefox", &["132", "133"], 12)],
            screens: &[(1920, 1080, 45), (1536, 864, 15), (2560, 1440, 15), (1440, 900, 15), (1366, 768, 10)],
        },
        DeviceKind {
            device: "tablet", weight: 5,
            os: &[("iOS", &["18.1"], 70), ("Android", &["14"], 30)],
            browsers: &[("Safari", &["18.1"], 70), ("Chrome", &["131"], 30)],
            screens: &[(820, 1180, 60), (800, 1280, 40)],
        },
    ];
    pub const LANGS: &[(&str, u32)] = &[
        ("en-US", 40), ("de-DE", 12), ("en-GB", 10), ("fr-FR", 7), ("es-ES", 5), ("nl-NL", 4),
        ("it-IT", 4), ("pt-BR", 3), ("sv-SE", 2), ("pl-PL", 2), ("ja-JP", 1),
    ];
    /// (referrer host, referrer source, utm source, utm medium, utm campaign, weight)
    pub type Source = (Option<&'static str>, Option<&'static str>, Option<&'static str>,
                       Option<&'static str>, Option<&'static str>, u32);
    pub const SOURCES: &[Source] = &[
        (None, None, None, None, None, 38),
        (Some("www.google.com"), Some("Google"), None, None, None, 28),
        (Some("www.google.com"), Some("Google"), Some("google"), Some("cpc"), Some("winter_sale"), 6),
        (Some("www.bing.com"), Some("Bing"), None, None, None, 3),
        (Some("duckduckgo.com"), Some("DuckDuckGo"), None, None, None, 2),
        (Some("l.facebook.com"), Some("Facebook"), Some("facebook"), Some("social"), Some("spring_launch"), 6),
        (Some("www.instagram.com"), Some("Instagram"), Some("instagram"), Some("social"), Some("influencer"), 4),
        (Some("t.co"), Some("Twitter"), None, None, None, 2),
        (Some("news.ycombinator.com"), Some("Hacker News"), None, None, None, 1),
        (None, None, Some("newsletter"), Some("email"), Some("weekly_42"), 6),
        (Some("www.reddit.com"), Some("Reddit"), None, None, None, 2),
        (Some("blog.partner.example"), Some("blog.partner.example"), Some("partner"), Some("referral"), None, 2),
    ];
    pub const CUSTOM_EVENTS: &[(&str, &str)] = &[
        ("newsletter_signup", r#"{"source":"footer"}"#), ("newsletter_signup", r#"{"source":"homepage"}"#),
        ("search", r#"{"results":"12"}"#), ("filter_applied", r#"{"filter":"size"}"#),
        ("filter_applied", r#"{"filter":"color"}"#), ("share", r#"{"network":"pinterest"}"#),
    ];
    pub const SELECTORS: &[&str] = &[
        "button#add-to-cart", "a.product-card", "nav a.logo", "button.checkout", "a.category-link",
        "button#search", "div.gallery img",
    ];
    pub const ERRORS: &[&str] = &[
        "TypeError: Cannot read properties of undefined (reading 'price')",
        "ResizeObserver loop limit exceeded",
    ];
    pub const CATEGORIES: &[&str] = &[
        "shoes", "shirts", "pants", "jackets", "accessories", "bags", "hats", "socks", "sale", "new",
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pageview,
    Engagement,
    Click,
    Scroll,
    WebVital,
    Custom,
    Ecommerce,
    Error,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pageview => "pageview",
            Kind::Engagement => "engagement",
            Kind::Click => "click",
            Kind::Scroll => "scroll",
            Kind::WebVital => "web_vital",
            Kind::Custom => "custom",
            Kind::Ecommerce => "ecommerce",
            Kind::Error => "error",
        }
    }
}

/// Per-session attributes, shared by all of the session's events.
#[derive(Clone, Copy, Debug)]
pub struct SessionAttrs {
    pub session: u64,
    pub visitor: u64,
    pub user: Option<u32>,
    pub source: usize,
    pub country: usize,
    pub region: usize,
    pub city: usize,
    pub device: usize,
    pub os: usize,
    pub os_version: usize,
    pub browser: usize,
    pub browser_version: usize,
    pub screen: usize,
    pub lang: usize,
    pub is_bot: bool,
}

/// One event, compact (no heap): strings are indexes into the static tables or the catalogue.
#[derive(Clone, Debug)]
pub struct SynthEvent {
    pub ts_us: i64,
    pub kind: Kind,
    pub name: &'static str,
    pub event_id: Option<u128>,
    pub attrs: SessionAttrs,
    /// Index into [`Catalogue::paths`].
    pub path: u32,
    /// First event of the session: carries referrer and UTM fields.
    pub landing: bool,
    pub product: Option<u32>,
    pub revenue: Option<i64>,
    pub order: Option<u64>,
    pub props: Option<&'static str>,
    pub vitals: Option<[f64; 4]>,
    pub click: Option<(f64, f64, &'static str)>,
    pub scroll_depth: Option<i64>,
    pub engagement_ms: Option<i64>,
    pub error: Option<&'static str>,
}

/// The shop's pages: `/`, categories, product pages (Zipf popular), cart, checkout, search, blog.
pub struct Catalogue {
    pub paths: Vec<String>,
    /// Index of the first product page in `paths`; product `i` is `paths[first_product + i]`.
    pub first_product: usize,
    pub products: usize,
    /// Cumulative Zipf weights over `paths` for landing and browsing.
    zipf: Vec<f64>,
}

impl Catalogue {
    pub fn new(products: usize) -> Catalogue {
        let mut paths = vec![
            "/".to_owned(),
            "/cart".to_owned(),
            "/checkout".to_owned(),
            "/search".to_owned(),
        ];
        for c in CATEGORIES {
            paths.push(format!("/category/{c}"));
        }
        let first_product = paths.len();
        for i in 0..products {
            paths.push(format!(
                "/products/{}-{}",
                CATEGORIES[i % CATEGORIES.len()],
                1000 + i
            ));
        }
        for i in 0..50 {
            paths.push(format!("/blog/post-{i}"));
        }
        // Zipf with s = 1.1 over the path list in rank order (home page most popular).
        let mut zipf = Vec::with_capacity(paths.len());
        let mut total = 0.0;
        for rank in 1..=paths.len() {
            total += 1.0 / (rank as f64).powf(1.1);
            zipf.push(total);
        }
        Catalogue {
            paths,
            first_product,
            products,
            zipf,
        }
    }

    fn sample_path(&self, rng: &mut StdRng) -> u32 {
        let total = self.zipf.last().copied().unwrap_or(1.0);
        let x = rng.gen::<f64>() * total;
        self.zipf
            .partition_point(|&c| c < x)
            .min(self.paths.len() - 1) as u32
    }

    fn product_of(&self, path: u32) -> Option<u32> {
        let p = path as usize;
        (p >= self.first_product && p < self.first_product + self.products)
            .then(|| (p - self.first_product) as u32)
    }

    fn price_cents(product: u32) -> i64 {
        // Deterministic per product: 9.99 .. 199.99
        999 + i64::from(product.wrapping_mul(2_654_435_761) % 190) * 100
    }
}

fn weighted<T>(rng: &mut StdRng, items: &[T], weight: impl Fn(&T) -> u32) -> usize {
    let total: u32 = items.iter().map(&weight).sum();
    let mut x = rng.gen_range(0..total.max(1));
    for (i, item) in items.iter().enumerate() {
        let w = weight(item);
        if x < w {
            return i;
        }
        x -= w;
    }
    items.len() - 1
}

/// Generates a day of traffic, session by session.
pub struct Generator {
    pub config: SynthConfig,
    pub catalogue: Catalogue,
    rng: StdRng,
    next_order: u64,
}

impl Generator {
    pub fn new(config: SynthConfig) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(config.seed),
            catalogue: Catalogue::new(config.products),
            config,
            next_order: 1,
        }
    }

    /// About `n` events (whole sessions) of one day, sorted by time (arrival order).
    pub fn day(&mut self, n: usize) -> Vec<SynthEvent> {
        let mut events = Vec::with_capacity(n + 64);
        while events.len() < n {
            self.session(&mut events);
        }
        events.truncate(n);
        events.sort_by_key(|e| e.ts_us);
        events
    }

    /// Sessions start with a diurnal pattern (busy evenings, quiet nights, UTC).
    fn session_start(&mut self) -> i64 {
        let day_start = i64::from(self.config.day) * MICROS_PER_DAY;
        loop {
            let t = self.rng.gen_range(0..MICROS_PER_DAY - 3_600_000_000);
            let hour = t as f64 / 3_600_000_000.0;
            let intensity = 0.55 + 0.45 * ((hour - 14.0) / 24.0 * std::f64::consts::TAU).cos();
            if self.rng.gen::<f64>() < intensity {
                return day_start + t;
            }
        }
    }

    fn session_attrs(&mut self) -> SessionAttrs {
        let rng = &mut self.rng;
        let device = weighted(rng, DEVICES, |d| d.weight);
        let kind = &DEVICES[device];
        let os = weighted(rng, kind.os, |o| o.2);
        let browser = weighted(rng, kind.browsers, |b| b.2);
        let country = weighted(rng, COUNTRIES, |c| c.1);
        SessionAttrs {
            session: rng.gen(),
            // A visitor id repeats across sessions for ~20% of sessions (same visitor, same day).
            visitor: if rng.gen_bool(0.2) {
                rng.gen_range(0..5_000u64)
                    .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            } else {
                rng.gen()
            },
            user: rng.gen_bool(0.06).then(|| rng.gen_range(0..20_000)),
            source: weighted(rng, SOURCES, |s| s.5),
            country,
            region: rng
                .gen_range(0..REGIONS.len())
                .min(rng.gen_range(0..REGIONS.len())),
            city: rng
                .gen_range(0..CITIES.len())
                .min(rng.gen_range(0..CITIES.len())),
            device,
            os,
            os_version: rng.gen_range(0..kind.os[os].1.len()),
            browser,
            browser_version: rng.gen_range(0..kind.browsers[browser].1.len()),
            screen: weighted(rng, kind.screens, |s| s.2),
            lang: weighted(rng, LANGS, |l| l.1),
            is_bot: rng.gen_bool(0.01),
        }
    }

    fn session(&mut self, out: &mut Vec<SynthEvent>) {
        let attrs = self.session_attrs();
        let mut ts = self.session_start();
        // Pageviews: 45% bounce, else geometric with mean ~4.
        let pageviews = if self.rng.gen_bool(0.45) {
            1
        } else {
            2 + (self.rng.gen::<f64>().ln() / 0.7f64.ln()) as usize
        };
        let mut cart: Vec<u32> = Vec::new();
        let mut path = self.catalogue.sample_path(&mut self.rng);
        for i in 0..pageviews.min(40) {
            if i > 0 {
                ts += self.rng.gen_range(3_000_000..150_000_000);
                path = self.catalogue.sample_path(&mut self.rng);
            }
            let product = self.catalogue.product_of(path);
            out.push(self.event(ts, Kind::Pageview, "pageview", attrs, path, i == 0));
            let rng = &mut self.rng;
            let roll: f64 = rng.gen();
            let extra_ts = ts + rng.gen_range(500_000..20_000_000);
            if roll < 0.06 {
                let mut e = self.event(extra_ts, Kind::Scroll, "scroll", attrs, path, false);
                e.scroll_depth = Some([25, 50, 75, 100][self.rng.gen_range(0..4)]);
                out.push(e);
            } else if roll < 0.11 {
                let mut e = self.event(extra_ts, Kind::Click, "click", attrs, path, false);
                let x = f64::from(self.rng.gen_range(0..1000u32)) / 1000.0;
                let y = f64::from(self.rng.gen_range(0..3000u32));
                e.click = Some((x, y, SELECTORS[self.rng.gen_range(0..SELECTORS.len())]));
                out.push(e);
            } else if roll < 0.14 {
                let mut e = self.event(extra_ts, Kind::WebVital, "web_vital", attrs, path, false);
                let lcp = f64::from(self.rng.gen_range(4_000..40_000u32)) / 10.0;
                let inp = f64::from(self.rng.gen_range(16..600u32));
                let cls = f64::from(self.rng.gen_range(0..300u32)) / 1000.0;
                let ttfb = f64::from(self.rng.gen_range(40..900u32));
                e.vitals = Some([lcp, inp, cls, ttfb]);
                out.push(e);
            } else if roll < 0.16 {
                let mut e =
                    self.event(extra_ts, Kind::Engagement, "engagement", attrs, path, false);
                e.engagement_ms = Some(self.rng.gen_range(1_000..300_000));
                out.push(e);
            } else if roll < 0.175 {
                let (name, props) = CUSTOM_EVENTS[self.rng.gen_range(0..CUSTOM_EVENTS.len())];
                let mut e = self.event(extra_ts, Kind::Custom, name, attrs, path, false);
                e.props = Some(props);
                out.push(e);
            } else if roll < 0.177 {
                let mut e = self.event(extra_ts, Kind::Error, "error", attrs, path, false);
                e.error = Some(ERRORS[self.rng.gen_range(0..ERRORS.len())]);
                out.push(e);
            }
            if let Some(product) = product {
                let roll: f64 = self.rng.gen();
                let name = if roll < 0.2 {
                    "view_product"
                } else if roll < 0.28 {
                    "add_to_cart"
                } else {
                    ""
                };
                if !name.is_empty() {
                    let mut e = self.event(ts + 1_000, Kind::Ecommerce, name, attrs, path, false);
                    e.product = Some(product);
                    out.push(e);
                    if name == "add_to_cart" {
                        cart.push(product);
                    }
                }
            }
        }
        if !cart.is_empty() && self.rng.gen_bool(0.3) {
            ts += self.rng.gen_range(20_000_000..200_000_000);
            let path = 2; // /checkout
            let mut e = self.event(ts, Kind::Ecommerce, "purchase", attrs, path, false);
            e.revenue = Some(cart.iter().map(|&p| Catalogue::price_cents(p)).sum());
            e.order = Some(self.next_order);
            self.next_order += 1;
            out.push(e);
        }
    }

    fn event(
        &mut self,
        ts_us: i64,
        kind: Kind,
        name: &'static str,
        attrs: SessionAttrs,
        path: u32,
        landing: bool,
    ) -> SynthEvent {
        // Server receive time in µs: client jitter below the millisecond.
        let ts_us = ts_us + self.rng.gen_range(0..1000);
        let event_id = self.config.event_ids.then(|| {
            // UUIDv7 layout: 48-bit ms timestamp, version 7, 12 + 62 random bits, variant 10.
            let ms = (ts_us / 1000) as u128 & ((1 << 48) - 1);
            let r: u128 = self.rng.gen();
            (ms << 80) | (7 << 76) | (((r >> 64) & 0xfff) << 64) | (2 << 62) | (r & ((1 << 62) - 1))
        });
        SynthEvent {
            ts_us,
            kind,
            name,
            event_id,
            attrs,
            path,
            landing,
            product: None,
            revenue: None,
            order: None,
            props: None,
            vitals: None,
            click: None,
            scroll_depth: None,
            engagement_ms: None,
            error: None,
        }
    }
}

fn uuid(v: u128) -> String {
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Owned renderings of an event's generated strings, so [`row_values`] can borrow them.
pub struct Scratch {
    event_id: Option<String>,
    session: String,
    visitor: String,
    user: Option<String>,
    order: Option<String>,
    product: Option<String>,
}

impl SynthEvent {
    pub fn scratch(&self) -> Scratch {
        Scratch {
            event_id: self.event_id.map(uuid),
            session: format!("{:016x}", self.attrs.session),
            visitor: format!("{:016x}", self.attrs.visitor),
            user: self.attrs.user.map(|u| format!("user_{u}")),
            order: self.order.map(|o| format!("order_{o}")),
            product: self.product.map(|p| format!("prod_{p}")),
        }
    }

    /// The event's values in `events` schema order.
    pub fn row_values<'a>(
        &'a self,
        site: &'a str,
        cat: &'a Catalogue,
        s: &'a Scratch,
    ) -> Vec<Value<'a>> {
        let a = &self.attrs;
        let device = &DEVICES[a.device];
        let (os, os_versions, _) = device.os[a.os];
        let (browser, browser_versions, _) = device.browsers[a.browser];
        let (w, h, _) = device.screens[a.screen];
        let src = SOURCES[a.source];
        let landing = |v: Option<&'a str>| if self.landing { v } else { None };
        let str_or_null = |v: Option<&'a str>| v.map_or(Value::Null, Value::Str);
        let int_or_null = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
        let float_or_null = |v: Option<f64>| v.map_or(Value::Null, Value::Float);
        let schema = Table::Events.schema();
        schema
            .columns
            .iter()
            .map(|c| match c.name {
                "ts" => Value::Int(self.ts_us),
                "site" | "hostname" => Value::Str(site),
                "type" => Value::Str(self.kind.name()),
                "name" => Value::Str(self.name),
                "event_id" => str_or_null(s.event_id.as_deref()),
                "session_id" => Value::Str(&s.session),
                "visitor_id" => Value::Str(&s.visitor),
                "user_id" => str_or_null(s.user.as_deref()),
                "path" => Value::Str(&cat.paths[self.path as usize]),
                "referrer_host" => str_or_null(landing(src.0)),
                "referrer_source" => str_or_null(landing(src.1)),
                "utm_source" => str_or_null(landing(src.2)),
                "utm_medium" => str_or_null(landing(src.3)),
                "utm_campaign" => str_or_null(landing(src.4)),
                "utm_term" | "utm_content" => Value::Null,
                "country" => Value::Str(COUNTRIES[a.country].0),
                "region" => Value::Str(REGIONS[a.region]),
                "city" => Value::Str(CITIES[a.city]),
                "device" => Value::Str(device.device),
                "browser" => Value::Str(browser),
                "browser_version" => Value::Str(browser_versions[a.browser_version]),
                "os" => Value::Str(os),
                "os_version" => Value::Str(os_versions[a.os_version]),
                "screen_w" => Value::Int(w),
                "screen_h" => Value::Int(h),
                "lang" => Value::Str(LANGS[a.lang].0),
                "is_bot" => Value::Bool(a.is_bot),
                "revenue" => int_or_null(self.revenue),
                "currency" => str_or_null(self.revenue.map(|_| "USD")),
                "order_id" => str_or_null(s.order.as_deref()),
                "product_id" => str_or_null(s.product.as_deref()),
                "props" => str_or_null(self.props),
                "lcp" => float_or_null(self.vitals.map(|v| v[0])),
                "inp" => float_or_null(self.vitals.map(|v| v[1])),
                "cls" => float_or_null(self.vitals.map(|v| v[2])),
                "ttfb" => float_or_null(self.vitals.map(|v| v[3])),
                "click_x" => float_or_null(self.click.map(|c| c.0)),
                "click_y" => float_or_null(self.click.map(|c| c.1)),
                "selector" => str_or_null(self.click.map(|c| c.2)),
                "scroll_depth" => int_or_null(self.scroll_depth),
                "engagement_ms" => int_or_null(self.engagement_ms),
                "error_message" => str_or_null(self.error),
                _ => Value::Null,
            })
            .collect()
    }

    /// The event as DESIGN.md's wire JSON (what the tracker POSTs), for size comparisons.
    pub fn wire_json(&self, site: &str, cat: &Catalogue) -> serde_json::Value {
        let s = self.scratch();
        let a = &self.attrs;
        let device = &DEVICES[a.device];
        let (w, h, _) = device.screens[a.screen];
        let src = SOURCES[a.source];
        let path = &cat.paths[self.path as usize];
        let mut url = format!("https://{site}{path}");
        if self.landing {
            let utm: Vec<String> = [
                ("utm_source", src.2),
                ("utm_medium", src.3),
                ("utm_campaign", src.4),
            ]
            .iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
            .collect();
            if !utm.is_empty() {
                url = format!("{url}?{}", utm.join("&"));
            }
        }
        let mut obj = serde_json::Map::new();
        obj.insert("type".into(), self.kind.name().into());
        if self.name != self.kind.name() {
            obj.insert("name".into(), self.name.into());
        }
        obj.insert("url".into(), url.into());
        if let (true, Some(host)) = (self.landing, src.0) {
            obj.insert("referrer".into(), format!("https://{host}/").into());
        }
        obj.insert(
            "title".into(),
            format!("Shop – {}", path.rsplit('/').next().unwrap_or("")).into(),
        );
        obj.insert("ts".into(), (self.ts_us / 1000).into());
        if let Some(id) = s.event_id {
            obj.insert("event_id".into(), id.into());
        }
        obj.insert("session_id".into(), s.session.into());
        obj.insert("visitor_id".into(), s.visitor.into());
        if let Some(user) = s.user {
            obj.insert("user_id".into(), user.into());
        }
        obj.insert("screen".into(), serde_json::json!({"w": w, "h": h}));
        obj.insert("viewport".into(), serde_json::json!({"w": w, "h": h - 120}));
        obj.insert("lang".into(), LANGS[a.lang].0.into());
        if let Some(props) = self.props {
            let parsed: serde_json::Value = serde_json::from_str(props).unwrap_or_default();
            obj.insert("props".into(), parsed);
        }
        if let Some(product) = self.product {
            let price = Catalogue::price_cents(product) as f64 / 100.0;
            obj.insert(
                "ecommerce".into(),
                serde_json::json!({"product_id": format!("prod_{product}"), "product_price": price, "product_quantity": 1}),
            );
        }
        if let (Some(revenue), Some(order)) = (self.revenue, s.order) {
            obj.insert(
                "ecommerce".into(),
                serde_json::json!({"order_id": order, "order_value": revenue as f64 / 100.0, "order_currency": "USD"}),
            );
        }
        if let Some([lcp, inp, cls, ttfb]) = self.vitals {
            obj.insert(
                "vitals".into(),
                serde_json::json!({"lcp": lcp, "inp": inp, "cls": cls, "ttfb": ttfb}),
            );
        }
        if let Some((x, y, selector)) = self.click {
            obj.insert(
                "click".into(),
                serde_json::json!({"x": x, "y": y, "selector": selector}),
            );
        }
        if let Some(depth) = self.scroll_depth {
            obj.insert("scroll_depth".into(), depth.into());
        }
        if let Some(ms) = self.engagement_ms {
            obj.insert("engagement_ms".into(), ms.into());
        }
        if let Some(message) = self.error {
            obj.insert(
                "error".into(),
                serde_json::json!({"message": message, "source": "app.js", "line": 10}),
            );
        }
        serde_json::Value::Object(obj)
    }
}

/// Builds a [`ColumnBatch`] of the `events` table from row values, interning strings per column.
pub struct BatchBuilder {
    columns: Vec<ColumnBuilder>,
    rows: usize,
}

enum ColumnBuilder {
    Int(Vec<i64>, Vec<bool>),
    Float(Vec<f64>, Vec<bool>),
    Bool(Vec<bool>, Vec<bool>),
    Str(StrDict, HashMap<String, u32>, Vec<u32>, Vec<bool>),
}

impl BatchBuilder {
    pub fn new(table: Table) -> BatchBuilder {
        let columns = table
            .schema()
            .columns
            .iter()
            .map(|c| match c.ty {
                ColumnType::Timestamp | ColumnType::Int => {
                    ColumnBuilder::Int(Vec::new(), Vec::new())
                }
                ColumnType::Float => ColumnBuilder::Float(Vec::new(), Vec::new()),
                ColumnType::Bool => ColumnBuilder::Bool(Vec::new(), Vec::new()),
                ColumnType::Str => {
                    ColumnBuilder::Str(StrDict::new(), HashMap::new(), Vec::new(), Vec::new())
                }
            })
            .collect();
        BatchBuilder { columns, rows: 0 }
    }

    /// Appends one row; values must match the schema's types (nulls anywhere).
    pub fn push(&mut self, values: &[Value<'_>]) {
        for (col, value) in self.columns.iter_mut().zip(values) {
            let present = !value.is_null();
            match (col, *value) {
                (ColumnBuilder::Int(v, p), value) => {
                    v.push(if let Value::Int(i) = value { i } else { 0 });
                    p.push(present);
                }
                (ColumnBuilder::Float(v, p), value) => {
                    v.push(if let Value::Float(f) = value { f } else { 0.0 });
                    p.push(present);
                }
                (ColumnBuilder::Bool(v, p), value) => {
                    v.push(matches!(value, Value::Bool(true)));
                    p.push(present);
                }
                (ColumnBuilder::Str(dict, index, codes, p), value) => {
                    let code = match value {
                        Value::Str(s) => match index.get(s) {
                            Some(&code) => code,
                            None => {
                                let code = dict.push(s);
                                index.insert(s.to_owned(), code);
                                code
                            }
                        },
                        _ => 0,
                    };
                    codes.push(code);
                    p.push(present);
                }
            }
        }
        self.rows += 1;
    }

    pub fn finish(self) -> ColumnBatch {
        let validity = |p: Vec<bool>| p.iter().any(|&b| !b).then_some(p);
        let columns: Vec<ColumnVec> = self
            .columns
            .into_iter()
            .map(|c| match c {
                ColumnBuilder::Int(values, p) => ColumnVec::Int {
                    values,
                    validity: validity(p),
                },
                ColumnBuilder::Float(values, p) => ColumnVec::Float {
                    values,
                    validity: validity(p),
                },
                ColumnBuilder::Bool(values, p) => ColumnVec::Bool {
                    values,
                    validity: validity(p),
                },
                ColumnBuilder::Str(dict, _, codes, p) => ColumnVec::Str {
                    dict: Arc::new(dict),
                    codes,
                    validity: validity(p),
                },
            })
            .collect();
        ColumnBatch {
            column_indexes: (0..columns.len()).collect(),
            columns,
            row_count: self.rows,
        }
    }
}

/// The events as an `events` [`ColumnBatch`].
pub fn to_batch(events: &[SynthEvent], site: &str, cat: &Catalogue) -> ColumnBatch {
    let mut builder = BatchBuilder::new(Table::Events);
    for e in events {
        let scratch = e.scratch();
        builder.push(&e.row_values(site, cat, &scratch));
    }
    builder.finish()
}

/// The events as encoded rows, as the store's append path takes them.
pub fn to_rowbuf(events: &[SynthEvent], site: &str, cat: &Catalogue) -> RowBuf {
    let mut buf = RowBuf::new(Table::Events);
    for e in events {
        let scratch = e.scratch();
        if let Err(err) = buf.push_row(&e.row_values(site, cat, &scratch)) {
            panic!("synthetic row does not fit the events schema: {err}");
        }
    }
    buf
}
