//! Traffic model tests: determinism, validity against the protocol, distributions in range.
#![expect(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};

use ecomdash_protocol::{validate_event, ValidateOptions};

use super::*;

const BASE_MS: i64 = 1_795_000_000_000;

fn events(seed: u64, sites: usize, count: usize) -> Vec<GeneratedEvent> {
    EventStream::new(ModelConfig::new(seed, sites, BASE_MS))
        .take(count)
        .collect()
}

fn json(events: &[GeneratedEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| serde_json::to_string(&e.event).unwrap())
        .collect()
}

#[test]
fn same_seed_same_events_other_seed_other_events() {
    let a = events(42, 3, 2000);
    let b = events(42, 3, 2000);
    assert_eq!(json(&a), json(&b));
    assert_eq!(a, b);
    let c = events(43, 3, 2000);
    assert_ne!(json(&a), json(&c));
}

#[test]
fn every_event_is_valid_wire_protocol() {
    let options = ValidateOptions {
        now_ms: BASE_MS,
        check_ts_window: false,
    };
    for generated in events(7, 2, 5_000) {
        let text = serde_json::to_vec(&generated.event).unwrap();
        let decoded = ecomdash_protocol::decode_event(&text).unwrap();
        validate_event(&decoded, options)
            .unwrap_or_else(|e| panic!("{e:?}: {}", String::from_utf8_lossy(&text)));
    }
}

#[test]
fn event_ids_are_unique_and_fixed_width() {
    let all = events(1, 1, 10_000);
    let ids: HashSet<String> = all
        .iter()
        .map(|e| e.event.event_id.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), all.len());
    assert!(ids.iter().all(|id| id.len() == 8 + 1 + 16));
}

#[test]
fn timestamps_move_forward_from_the_base() {
    let all = events(3, 1, 5000);
    let first = all[0].event.ts.unwrap();
    assert!(first >= BASE_MS);
    let last = all.iter().map(|e| e.event.ts.unwrap()).max().unwrap();
    // 5000 events are a few hundred sessions 50 ms apart, plus their durations
    assert!(
        last > first && last - BASE_MS < 24 * 3600 * 1000,
        "{first}..{last}"
    );
}

#[test]
fn distributions_are_in_range() {
    let model_config = ModelConfig::new(11, 4, BASE_MS);
    let mut model = TrafficModel::new(model_config.clone());
    let sessions: Vec<Vec<GeneratedEvent>> = (0..8_000).map(|_| model.next_session()).collect();
    let bots = sessions.iter().filter(|s| s[0].is_bot).count();
    let bot_share = bots as f64 / sessions.len() as f64;
    assert!((0.04..0.06).contains(&bot_share), "bot share {bot_share}");

    let humans: Vec<&Vec<GeneratedEvent>> = sessions.iter().filter(|s| !s[0].is_bot).collect();
    let pageviews = |s: &Vec<GeneratedEvent>| {
        s.iter()
            .filter(|e| e.event.event_type == EventType::Pageview)
            .count()
    };
    let single = humans.iter().filter(|s| pageviews(s) == 1).count() as f64 / humans.len() as f64;
    // single-page share plus multi-page sessions cut short by a purchase
    assert!((0.38..0.45).contains(&single), "single-page share {single}");
    assert!(humans
        .iter()
        .all(|s| pageviews(s) <= model_config.max_pages as usize + 2));

    // sites are skewed: site 0 gets the most sessions, the last the fewest
    let mut per_site = vec![0usize; 4];
    for session in &sessions {
        per_site[session[0].site] += 1;
    }
    assert!(per_site.windows(2).all(|w| w[0] > w[1]), "{per_site:?}");
    let share0 = per_site[0] as f64 / sessions.len() as f64;
    assert!((0.44..0.52).contains(&share0), "site 0 share {share0}");

    // the funnel narrows and purchases carry orders and revenue
    let count_named = |name: &str| {
        sessions
            .iter()
            .flatten()
            .filter(|e| e.event.name.as_deref() == Some(name))
            .count()
    };
    let (views, carts, checkouts, purchases) = (
        count_named("view_product"),
        count_named("add_to_cart"),
        count_named("begin_checkout"),
        count_named("purchase"),
    );
    assert!(
        views > carts && carts > checkouts && checkouts > purchases && purchases > 0,
        "{views} {carts} {checkouts} {purchases}"
    );
    let cart_rate = carts as f64 / views as f64;
    assert!(
        (0.10..0.14).contains(&cart_rate),
        "add to cart rate {cart_rate}"
    );
    for purchase in sessions
        .iter()
        .flatten()
        .filter(|e| e.event.name.as_deref() == Some("purchase"))
    {
        let ecommerce = purchase.event.ecommerce.as_ref().unwrap();
        assert!(ecommerce.order_id.is_some());
        assert!(ecommerce.order_value.unwrap() > 0.0);
        assert!(!ecommerce.order_items.as_ref().unwrap().is_empty());
    }
}

#[test]
fn product_popularity_is_zipf_like() {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for event in events(5, 1, 30_000) {
        if event.event.event_type == EventType::Pageview
            && !event.is_bot
            && event.event.url.contains("/p/")
        {
            *counts.entry(event.event.url.to_string()).or_default() += 1;
        }
    }
    let mut sorted: Vec<usize> = counts.values().copied().collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    // the top product is viewed far more than the 100th
    assert!(
        sorted[0] > 20 * sorted[99],
        "top {} vs 100th {}",
        sorted[0],
        sorted[99]
    );
}

#[test]
fn bots_use_crawler_agents_and_humans_browsers() {
    let all = events(9, 1, 10_000);
    let bot_agents: HashSet<&str> = all
        .iter()
        .filter(|e| e.is_bot)
        .map(|e| e.user_agent)
        .collect();
    assert!(bot_agents.iter().all(|ua| BOTS.contains(ua)));
    assert!(bot_agents.len() > 4);
    assert!(all
        .iter()
        .filter(|e| !e.is_bot)
        .all(|e| e.accept_language.is_some()));
    let ips: HashSet<Ipv4Addr> = all.iter().map(|e| e.ip).collect();
    assert!(ips.len() > 300, "{} distinct client IPs", ips.len());
    assert!(ips.iter().all(|ip| !ip.is_private() && !ip.is_loopback()));
}
