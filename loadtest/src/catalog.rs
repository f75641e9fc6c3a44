//! The simulated shop: a catalogue of categories and products with Zipf popularity, and the
//! landing-referrer mix.

use rand::Rng;

/// Samples ranks `0..n` with probability proportional to `1 / (rank + 1)^exponent`, by binary
/// search over a precomputed cumulative table (exact and deterministic for a given RNG).
#[derive(Debug, Clone)]
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    /// `n` must be at least 1 (0 is treated as 1).
    pub fn new(n: usize, exponent: f64) -> Self {
        let mut cumulative = Vec::with_capacity(n.max(1));
        let mut total = 0.0;
        for rank in 0..n.max(1) {
            total += 1.0 / ((rank + 1) as f64).powf(exponent);
            cumulative.push(total);
        }
        for value in &mut cumulative {
            *value /= total;
        }
        Self { cumulative }
    }

    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    /// Probability of `rank`.
    pub fn probability(&self, rank: usize) -> f64 {
        let previous = if rank == 0 {
            0.0
        } else {
            self.cumulative[rank - 1]
        };
        self.cumulative[rank] - previous
    }

    pub fn sample<R: Rng>(&self, rng: &mut R) -> usize {
        let u: f64 = rng.gen();
        let index = self.cumulative.partition_point(|&c| c < u);
        index.min(self.cumulative.len() - 1)
    }
}

/// Product categories of the simulated shop.
pub const CATEGORIES: &[&str] = &[
    "shoes",
    "sneakers",
    "boots",
    "sandals",
    "jackets",
    "coats",
    "shirts",
    "t-shirts",
    "jeans",
    "trousers",
    "dresses",
    "skirts",
    "bags",
    "backpacks",
    "watches",
    "sunglasses",
    "hats",
    "scarves",
    "socks",
    "underwear",
    "sportswear",
    "swimwear",
    "accessories",
    "sale",
];

const ADJECTIVES: &[&str] = &[
    "classic", "cool", "urban", "trail", "everyday", "premium", "light", "warm", "slim", "retro",
];

/// Name and price (in minor units) of product `index` in `category`, deterministic.
pub fn product(index: usize) -> (String, String, u64) {
    let category = CATEGORIES[index % CATEGORIES.len()];
    let adjective = ADJECTIVES[(index / CATEGORIES.len()) % ADJECTIVES.len()];
    let slug = format!("{adjective}-{category}-{index}");
    let name = format!("{} {} {index}", capitalize(adjective), capitalize(category));
    // prices from 9.99 to ~300, a few cheap staples and some expensive items
    let price_cents = 999 + ((index as u64 * 7919) % 29_000);
    (slug, name, price_cents)
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Where a session's landing page came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landing {
    pub referrer: Option<&'static str>,
    /// Query string to append to the landing URL (`utm_*`, click ids), without `?`.
    pub query: Option<String>,
}

const SEARCH: &[&str] = &[
    "https://www.google.com/",
    "https://www.google.com/",
    "https://www.google.com/",
    "https://www.google.de/",
    "https://www.google.co.uk/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://www.ecosia.org/",
];
const SOCIAL: &[&str] = &[
    "https://l.facebook.com/",
    "https://www.instagram.com/",
    "https://t.co/",
    "https://www.reddit.com/",
    "https://www.pinterest.com/",
    "https://www.tiktok.com/",
    "https://www.youtube.com/",
];
const REFERRALS: &[&str] = &[
    "https://blog.fashion-review.example/best-shoes-2026",
    "https://www.deals-forum.example/thread/1234",
    "https://news.city-paper.example/shopping",
    "https://compare-prices.example/offers",
];
const CAMPAIGNS: &[&str] = &[
    "black-friday",
    "winter-sale",
    "new-arrivals",
    "newsletter-weekly",
];

/// Draws a landing source: direct 35%, search 30%, social 12%, referral 10%, paid 8%, email 5%.
pub fn landing<R: Rng>(rng: &mut R) -> Landing {
    let roll: f64 = rng.gen();
    let campaign = CAMPAIGNS[rng.gen_range(0..CAMPAIGNS.len())];
    if roll < 0.35 {
        Landing {
            referrer: None,
            query: None,
        }
    } else if roll < 0.65 {
        Landing {
            referrer: Some(SEARCH[rng.gen_range(0..SEARCH.len())]),
            query: None,
        }
    } else if roll < 0.77 {
        Landing {
            referrer: Some(SOCIAL[rng.gen_range(0..SOCIAL.len())]),
            query: None,
        }
    } else if roll < 0.87 {
        Landing {
            referrer: Some(REFERRALS[rng.gen_range(0..REFERRALS.len())]),
            query: None,
        }
    } else if roll < 0.95 {
        let query = if rng.gen_bool(0.5) {
            format!("gclid={:016x}", rng.gen::<u64>())
        } else {
            format!("utm_source=google&utm_medium=cpc&utm_campaign={campaign}")
        };
        Landing {
            referrer: Some("https://www.google.com/"),
            query: Some(query),
        }
    } else {
        let query = format!("utm_source=newsletter&utm_medium=email&utm_campaign={campaign}");
        Landing {
            referrer: None,
            query: Some(query),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn zipf_probabilities_sum_to_one_and_decrease() {
        let zipf = Zipf::new(100, 1.1);
        let total: f64 = (0..100).map(|r| zipf.probability(r)).sum();
        assert!((total - 1.0).abs() < 1e-9);
        for rank in 1..100 {
            assert!(zipf.probability(rank) < zipf.probability(rank - 1));
        }
    }

    #[test]
    fn zipf_samples_follow_the_distribution() {
        let zipf = Zipf::new(50, 1.0);
        let mut rng = StdRng::seed_from_u64(7);
        let mut counts = [0u32; 50];
        let draws = 100_000;
        for _ in 0..draws {
            counts[zipf.sample(&mut rng)] += 1;
        }
        for rank in [0, 1, 9] {
            let observed = f64::from(counts[rank]) / f64::from(draws);
            let expected = zipf.probability(rank);
            assert!(
                (observed - expected).abs() < 0.01,
                "rank {rank}: {observed} vs {expected}"
            );
        }
    }

    #[test]
    fn products_are_deterministic_and_priced() {
        assert_eq!(product(5), product(5));
        let (slug, name, price) = product(25);
        assert!(slug.contains("sneakers"), "{slug}");
        assert!(name.starts_with("Cool Sneakers"), "{name}");
        assert!((999..30_000).contains(&price));
    }

    #[test]
    fn landing_mix_has_every_source() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut direct = 0;
        let mut paid = 0;
        let mut email = 0;
        for _ in 0..10_000 {
            let landing = landing(&mut rng);
            match (&landing.referrer, &landing.query) {
                (None, None) => direct += 1,
                (_, Some(q)) if q.contains("gclid") || q.contains("cpc") => paid += 1,
                (None, Some(q)) if q.contains("email") => email += 1,
                _ => {}
            }
        }
        assert!((3200..3800).contains(&direct), "{direct}");
        assert!((650..950).contains(&paid), "{paid}");
        assert!((380..620).contains(&email), "{email}");
    }
}
