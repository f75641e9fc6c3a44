//! One page of a human session: the pageview and what happens on the page, including the
//! ecommerce funnel on product pages.

use std::net::Ipv4Addr;

use ecomdash_protocol::{
    Click, Dimensions, Ecommerce, ErrorInfo, EventType, OrderItem, Text, Vitals, WireEvent,
};
use rand::Rng;

use super::{product_index, title_for, GeneratedEvent, TrafficModel};
use crate::agents::Size;
use crate::catalog::product;

/// Who is browsing: (site, User-Agent, Accept-Language, client IP).
pub(super) type Browsing = (usize, &'static str, Option<&'static str>, Ipv4Addr);

pub(super) struct Session {
    pub(super) events: Vec<GeneratedEvent>,
    /// Simulated time of the current page view, ms.
    pub(super) at: f64,
    pub(super) previous_url: Option<String>,
    /// (product slug, quantity, unit price in cents)
    pub(super) cart: Vec<(String, u32, u64)>,
}

const SELECTORS: &[&str] = &[
    "button#add-to-cart",
    "a.product-card",
    "nav a.category",
    "button.size-option",
    "a#logo",
    "button#checkout",
    "img.product-image",
];

impl TrafficModel {
    /// Emits one page's events; returns true when the session ends (after a purchase).
    pub(super) fn page(
        &mut self,
        session: &mut Session,
        context: Browsing,
        host: &str,
        path: &str,
        landing: bool,
        (lang, screen, viewport): (&'static str, Size, Size),
    ) -> bool {
        let (site, user_agent, accept_language, ip) = context;
        let push = |session: &mut Session, event: WireEvent<'static>| {
            session.events.push(GeneratedEvent {
                site,
                user_agent,
                accept_language,
                ip,
                is_bot: false,
                event,
            });
        };
        let url = format!("https://{host}{path}");
        let mut pageview = self.base_event(EventType::Pageview, host, path, session.at);
        pageview.referrer = session.previous_url.take().map(Text::from);
        pageview.title = Some(Text::from(title_for(path)));
        pageview.lang = Some(Text::from(lang));
        pageview.screen = Some(Dimensions {
            w: screen.0,
            h: screen.1,
        });
        pageview.viewport = Some(Dimensions {
            w: viewport.0,
            h: viewport.1,
        });
        push(session, pageview);
        session.previous_url = Some(url);
        let dwell_ms = self.dwell_ms();
        let mut at = session.at;
        if landing {
            at += self.rng.gen_range(500.0..3000.0);
            let mut vitals = self.base_event(EventType::WebVital, host, path, at);
            vitals.vitals = Some(Vitals {
                lcp: Some(round1(self.log_normal(1800.0, 0.5))),
                inp: Some(round1(self.log_normal(150.0, 0.6))),
                fid: None,
                cls: Some((self.rng.gen_range(0.0..0.3f64) * 1000.0).round() / 1000.0),
                ttfb: Some(round1(self.log_normal(300.0, 0.5))),
                fcp: Some(round1(self.log_normal(1100.0, 0.4))),
            });
            push(session, vitals);
        }
        if self.rng.gen_bool(0.6) {
            at += dwell_ms * 0.3;
            let mut scroll = self.base_event(EventType::Scroll, host, path, at);
            scroll.scroll_depth = Some([25, 50, 75, 100][self.rng.gen_range(0..4)]);
            push(session, scroll);
        }
        if self.rng.gen_bool(0.5) {
            at += dwell_ms * 0.2;
            let mut click = self.base_event(EventType::Click, host, path, at);
            click.click = Some(Click {
                x: Some((self.rng.gen_range(0.0..1.0f64) * 1000.0).round() / 1000.0),
                y: Some(self.rng.gen_range(0..3000) as f64),
                selector: Some(Text::from(
                    SELECTORS[self.rng.gen_range(0..SELECTORS.len())],
                )),
            });
            push(session, click);
        }
        if self.rng.gen_bool(self.config.error_rate.clamp(0.0, 1.0)) {
            let mut error = self.base_event(EventType::Error, host, path, at + 10.0);
            error.error = Some(ErrorInfo {
                message: Some(Text::from(
                    "TypeError: Cannot read properties of undefined (reading 'price')",
                )),
                source: Some(Text::from(format!("https://{host}/assets/app.js"))),
                line: Some(self.rng.gen_range(1..5000)),
            });
            push(session, error);
        }
        let mut ended = false;
        if let Some(index) = path.strip_prefix("/p/").and_then(product_index) {
            ended = self.funnel(session, &push, host, path, index, &mut at);
        }
        if !ended && self.rng.gen_bool(0.5) {
            let mut engagement =
                self.base_event(EventType::Engagement, host, path, session.at + dwell_ms);
            engagement.engagement_ms = Some(dwell_ms as u64);
            push(session, engagement);
        }
        session.at += dwell_ms.max(at - session.at) + self.rng.gen_range(100.0..1500.0);
        ended
    }

    /// The ecommerce steps on a product page; returns true after a purchase.
    fn funnel(
        &mut self,
        session: &mut Session,
        push: &impl Fn(&mut Session, WireEvent<'static>),
        host: &str,
        path: &str,
        index: usize,
        at: &mut f64,
    ) -> bool {
        let (slug, name, price_cents) = product(index);
        let price = price_cents as f64 / 100.0;
        let mut view = self.base_event(EventType::Ecommerce, host, path, *at + 50.0);
        view.name = Some(Text::from("view_product"));
        view.ecommerce = Some(Ecommerce {
            product_id: Some(Text::from(slug.clone())),
            product_name: Some(Text::from(name.clone())),
            product_price: Some(price),
            ..Ecommerce::default()
        });
        push(session, view);
        let funnel = self.config.funnel;
        if !self.rng.gen_bool(funnel.add_to_cart.clamp(0.0, 1.0)) {
            return false;
        }
        let quantity = if self.rng.gen_bool(0.85) { 1 } else { 2 };
        *at += self.rng.gen_range(2000.0..20000.0);
        let mut add = self.base_event(EventType::Ecommerce, host, path, *at);
        add.name = Some(Text::from("add_to_cart"));
        add.ecommerce = Some(Ecommerce {
            product_id: Some(Text::from(slug.clone())),
            product_name: Some(Text::from(name)),
            product_price: Some(price),
            product_quantity: Some(quantity),
            ..Ecommerce::default()
        });
        push(session, add);
        session.cart.push((slug, quantity, price_cents));
        if !self.rng.gen_bool(funnel.begin_checkout.clamp(0.0, 1.0)) {
            return false;
        }
        *at += self.rng.gen_range(5000.0..60000.0);
        let value_cents: u64 = session.cart.iter().map(|(_, q, p)| u64::from(*q) * p).sum();
        let mut checkout = self.base_event(EventType::Ecommerce, host, "/checkout", *at);
        checkout.name = Some(Text::from("begin_checkout"));
        checkout.ecommerce = Some(Ecommerce {
            order_value: Some(value_cents as f64 / 100.0),
            order_currency: Some(Text::from("EUR")),
            ..Ecommerce::default()
        });
        push(session, checkout);
        if !self.rng.gen_bool(funnel.purchase.clamp(0.0, 1.0)) {
            return false;
        }
        *at += self.rng.gen_range(20000.0..180000.0);
        self.orders += 1;
        let mut purchase = self.base_event(EventType::Ecommerce, host, "/checkout/thank-you", *at);
        purchase.name = Some(Text::from("purchase"));
        purchase.ecommerce = Some(Ecommerce {
            order_id: Some(Text::from(format!(
                "{}-order-{}",
                self.config.run_id, self.orders
            ))),
            order_value: Some(value_cents as f64 / 100.0),
            order_currency: Some(Text::from("EUR")),
            order_items: Some(
                session
                    .cart
                    .iter()
                    .map(|(slug, quantity, price)| OrderItem {
                        product_id: Some(Text::from(slug.clone())),
                        quantity: Some(*quantity),
                        price: Some(*price as f64 / 100.0),
                    })
                    .collect(),
            ),
            ..Ecommerce::default()
        });
        push(session, purchase);
        true
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
