//! Real User-Agent strings, languages and screen sizes, with the weights the traffic model draws
//! them by (roughly the browser and device mix of a European shop in 2025-2026).

/// The kind of device a User-Agent belongs to (decides screen sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Desktop,
    Mobile,
    Tablet,
}

/// A browser User-Agent and its weight.
pub struct BrowserAgent {
    pub user_agent: &'static str,
    pub device: Device,
    pub weight: u32,
}

/// Current browsers: Chrome, Safari, Edge, Firefox, Samsung Internet, Android WebView.
pub const BROWSERS: &[BrowserAgent] = &[
    BrowserAgent {
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        device: Device::Desktop,
        weight: 22,
    },
    BrowserAgent {
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        device: Device::Desktop,
        weight: 8,
    },
    BrowserAgent {
        user_agent: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        device: Device::Mobile,
        weight: 20,
    },
    BrowserAgent {
        user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        device: Device::Mobile,
        weight: 18,
    },
    BrowserAgent {
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        device: Device::Desktop,
        weight: 6,
    },
    BrowserAgent {
        user_agent: "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1",
        device: Device::Tablet,
        weight: 3,
    },
    BrowserAgent {
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        device: Device::Desktop,
        weight: 9,
    },
    BrowserAgent {
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        device: Device::Desktop,
        weight: 5,
    },
    BrowserAgent {
        user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        device: Device::Desktop,
        weight: 1,
    },
    BrowserAgent {
        user_agent: "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        device: Device::Mobile,
        weight: 4,
    },
    BrowserAgent {
        user_agent: "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36",
        device: Device::Mobile,
        weight: 2,
    },
    BrowserAgent {
        user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
        device: Device::Mobile,
        weight: 2,
    },
];

/// Crawlers and tools, drawn uniformly for bot sessions.
pub const BOTS: &[&str] = &[
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/131.0.6778.69 Safari/537.36",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "curl/8.5.0",
    "python-requests/2.32.3",
];

/// `Accept-Language` headers and the `lang` the tracker reports with them.
pub const LANGUAGES: &[(&str, &str)] = &[
    ("en-US,en;q=0.9", "en-US"),
    ("de-DE,de;q=0.9,en;q=0.8", "de-DE"),
    ("en-GB,en;q=0.9", "en-GB"),
    ("fr-FR,fr;q=0.9,en;q=0.8", "fr-FR"),
    ("es-ES,es;q=0.9", "es-ES"),
    ("nl-NL,nl;q=0.9,en;q=0.8", "nl-NL"),
    ("pt-BR,pt;q=0.9", "pt-BR"),
    ("it-IT,it;q=0.9", "it-IT"),
];

/// Width and height in CSS pixels.
pub type Size = (u32, u32);

/// (screen, viewport) sizes per device.
pub fn screens(device: Device) -> &'static [(Size, Size)] {
    match device {
        Device::Desktop => &[
            ((1920, 1080), (1903, 969)),
            ((1536, 864), (1519, 730)),
            ((1440, 900), (1440, 789)),
            ((2560, 1440), (2543, 1289)),
        ],
        Device::Mobile => &[
            ((390, 844), (390, 664)),
            ((412, 915), (412, 786)),
            ((375, 667), (375, 553)),
            ((360, 800), (360, 668)),
        ],
        Device::Tablet => &[((820, 1180), (820, 1040)), ((1024, 1366), (1024, 1220))],
    }
}
