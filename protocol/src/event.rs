//! The wire event of `docs/api.md` and `DESIGN.md`, field for field.
//!
//! Unknown fields are ignored so that newer trackers keep working against older daemons.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::text::Text;

/// What happened. The wire spelling is snake_case (`form_submit`, `web_vital`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    #[default]
    Pageview,
    Click,
    Scroll,
    FormSubmit,
    Custom,
    Ecommerce,
    WebVital,
    Error,
    Identify,
    Engagement,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        EventType::Pageview,
        EventType::Click,
        EventType::Scroll,
        EventType::FormSubmit,
        EventType::Custom,
        EventType::Ecommerce,
        EventType::WebVital,
        EventType::Error,
        EventType::Identify,
        EventType::Engagement,
    ];

    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Pageview => "pageview",
            EventType::Click => "click",
            EventType::Scroll => "scroll",
            EventType::FormSubmit => "form_submit",
            EventType::Custom => "custom",
            EventType::Ecommerce => "ecommerce",
            EventType::WebVital => "web_vital",
            EventType::Error => "error",
            EventType::Identify => "identify",
            EventType::Engagement => "engagement",
        }
    }

    /// Whether `name` must be given (it defaults to the type otherwise).
    pub fn requires_name(self) -> bool {
        matches!(self, EventType::Custom | EventType::Ecommerce)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One analytics event as a tracker sends it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WireEvent<'a> {
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Required for `custom` and `ecommerce`; defaults to the type.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text<'a>>,
    /// Absolute `http(s)` URL of the page.
    #[serde(borrow)]
    pub url: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<Text<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text<'a>>,
    /// Client time in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
    /// Idempotency key: a retried event with the same id is stored once.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Text<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Text<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub visitor_id: Option<Text<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Text<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen: Option<Dimensions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewport: Option<Dimensions>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Text<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub props: Option<Props<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub ecommerce: Option<Ecommerce<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vitals: Option<Vitals>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub click: Option<Click<'a>>,
    /// Percent of the page scrolled, 0..=100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scroll_depth: Option<u32>,
    /// Milliseconds the page was engaged (for `engagement` events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engagement_ms: Option<u64>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo<'a>>,
    /// The site's write key, when neither the header nor the query carries it.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Text<'a>>,
    /// Bulk import only: the User-Agent the event was recorded with. Ignored over HTTP, where the
    /// request's own header decides. Never stored.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<Text<'a>>,
    /// Bulk import only: the client IP the event was recorded from. Ignored over HTTP, where the
    /// socket (or a trusted proxy's X-Forwarded-For) decides. Never stored.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Text<'a>>,
}

impl WireEvent<'_> {
    /// The stored event name: `name`, or the type when absent.
    pub fn effective_name(&self) -> &str {
        match &self.name {
            Some(name) => name.as_str(),
            None => self.event_type.as_str(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimensions {
    pub w: u32,
    pub h: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ecommerce<'a> {
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<Text<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<Text<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_quantity: Option<u32>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Text<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_value: Option<f64>,
    /// ISO 4217 code, three letters.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub order_currency: Option<Text<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub order_items: Option<Vec<OrderItem<'a>>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderItem<'a> {
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<Text<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
}

/// Core Web Vitals, timings in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Vitals {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lcp: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inp: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fid: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cls: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fcp: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Click<'a> {
    /// Fraction of the page width, 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<f64>,
    /// Pixels from the top of the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<f64>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Text<'a>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo<'a> {
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Text<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Text<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// A value in `props`: flat, so only scalars.
#[derive(Clone, Debug, PartialEq)]
pub enum PropValue<'a> {
    Null,
    Bool(bool),
    Number(f64),
    Text(Text<'a>),
}

/// `props`: a flat map from names to scalar values, in the order sent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Props<'a>(pub Vec<(Text<'a>, PropValue<'a>)>);

impl Serialize for Props<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_key(key)?;
            match value {
                PropValue::Null => map.serialize_value(&())?,
                PropValue::Bool(b) => map.serialize_value(b)?,
                PropValue::Number(n) => map.serialize_value(n)?,
                PropValue::Text(t) => map.serialize_value(t)?,
            }
        }
        map.end()
    }
}

struct PropValueVisitor;

impl<'de> Visitor<'de> for PropValueVisitor {
    type Value = PropValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number, boolean or null (props are flat)")
    }

    fn visit_unit<E: de::Error>(self) -> Result<PropValue<'de>, E> {
        Ok(PropValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<PropValue<'de>, E> {
        Ok(PropValue::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<PropValue<'de>, E> {
        Ok(PropValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<PropValue<'de>, E> {
        Ok(PropValue::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<PropValue<'de>, E> {
        Ok(PropValue::Number(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<PropValue<'de>, E> {
        Ok(PropValue::Number(v))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<PropValue<'de>, E> {
        Ok(PropValue::Text(Text::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<PropValue<'de>, E> {
        Ok(PropValue::Text(Text::from(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<PropValue<'de>, E> {
        Ok(PropValue::Text(Text::from(v)))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for PropValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PropValue<'a>, D::Error> {
        deserializer.deserialize_any(PropValueVisitor)
    }
}

struct PropsVisitor;

impl<'de> Visitor<'de> for PropsVisitor {
    type Value = Props<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a flat object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Props<'de>, A::Error> {
        let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(4).min(16));
        while let Some((key, value)) = access.next_entry::<Text<'de>, PropValue<'de>>()? {
            entries.push((key, value));
        }
        Ok(Props(entries))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Props<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Props<'a>, D::Error> {
        deserializer.deserialize_map(PropsVisitor)
    }
}
