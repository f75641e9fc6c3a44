//! Writes a deterministic NDJSON file of realistic events for import benchmarks and tests:
//! `cargo run --release -p ecomdash-engine --example gen_ndjson -- LINES > events.ndjson`
//!
//! Events span one day, from 5,000 visitors (distinct IP + User-Agent) on 200 paths, with UTM
//! parameters, referrers, props and some ecommerce events. A fixed-seed generator keeps the file
//! identical between runs.

use std::io::{BufWriter, Write};

const AGENTS: [&str; 6] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
];
const REFERRERS: [&str; 4] = [
    "https://www.google.com/",
    "https://t.co/x",
    "",
    "https://news.example/a",
];

/// xorshift64*: deterministic and dependency free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn main() -> std::io::Result<()> {
    let lines: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let start_ms: i64 = 1_767_225_600_000;
    let out = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, out.lock());
    for i in 0..lines {
        let visitor = rng.below(5000);
        let ts = start_ms + (i as i64 * 86_400_000) / lines as i64;
        let path = rng.below(200);
        let agent = AGENTS[(visitor % AGENTS.len() as u64) as usize];
        let referrer = REFERRERS[rng.below(4) as usize];
        let ip = format!(
            "10.{}.{}.{}",
            visitor / 65536,
            (visitor / 256) % 256,
            visitor % 256
        );
        if rng.below(20) == 0 {
            writeln!(
                out,
                r#"{{"type":"ecommerce","name":"purchase","url":"https://shop.example/checkout","ts":{ts},"event_id":"e{i}","ecommerce":{{"order_id":"o{i}","order_value":{}.99,"order_currency":"USD"}},"user_agent":"{agent}","ip":"{ip}"}}"#,
                rng.below(300)
            )?;
        } else {
            writeln!(
                out,
                r#"{{"type":"pageview","url":"https://shop.example/p/{path}?utm_source=news&utm_medium=email","referrer":"{referrer}","ts":{ts},"event_id":"e{i}","screen":{{"w":1920,"h":1080}},"lang":"en-US","props":{{"ab":"v{}"}},"user_agent":"{agent}","ip":"{ip}"}}"#,
                rng.below(3)
            )?;
        }
    }
    out.flush()
}
