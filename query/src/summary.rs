//! The dashboard summary (`GET /api/v1/analytics/summary`): totals, a time series and top lists
//! for one site and a range of UTC days, each computed by running the dialect's SQL through the
//! engine, so every figure equals what the same SQL returns from `/api/v1/query`.
//!
//! Definitions (bots excluded on `events`; `sessions` holds sessions the daemon closed):
//! visitors `uniq(visitor_id)` of events; pageviews `countIf(type = 'pageview')`; events
//! `count()`; sessions `count()` of sessions that started in the range; bounce rate
//! `avg(is_bounce)`; average session duration `avg(duration)` in seconds; orders
//! `count(DISTINCT order_id)` and revenue `sumIf(revenue, order_id IS NOT NULL)`; conversion rate
//! `avg(converted)` of sessions. The eleven queries run through [`execute_many`]: one scan of
//! the site's events answers the totals, the series and the top pages, one of its sessions the
//! rest.

use serde::Serialize;

use crate::error::{Position, QueryError};
use crate::source::BatchSource;
use crate::types::{format_time, parse_date_literal, DataType, MICROS_PER_DAY, MICROS_PER_HOUR};
use crate::{execute_many, parse_and_check, Query, QueryLimits};

/// Rows in each top list.
pub const SUMMARY_TOP_LIMIT: u64 = 10;

/// Dimensions a summary can be narrowed by, with the column each table holds it in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SummaryFilter {
    /// `path` of events (sessions are not filtered by page).
    Page,
    /// `entry_path` of sessions (events are not filtered by entry page).
    EntryPage,
    Source,
    UtmCampaign,
    Country,
    Device,
    Browser,
    Os,
}

impl SummaryFilter {
    /// The query parameter naming this filter.
    pub fn from_param(name: &str) -> Option<SummaryFilter> {
        Some(match name {
            "page" => SummaryFilter::Page,
            "entry_page" => SummaryFilter::EntryPage,
            "source" => SummaryFilter::Source,
            "utm_campaign" => SummaryFilter::UtmCampaign,
            "country" => SummaryFilter::Country,
            "device" => SummaryFilter::Device,
            "browser" => SummaryFilter::Browser,
            "os" => SummaryFilter::Os,
            _ => return None,
        })
    }

    fn events_column(self) -> Option<&'static str> {
        match self {
            SummaryFilter::Page => Some("path"),
            SummaryFilter::EntryPage => None,
            _ => self.common_column(),
        }
    }

    fn sessions_column(self) -> Option<&'static str> {
        match self {
            SummaryFilter::Page => None,
            SummaryFilter::EntryPage => Some("entry_path"),
            _ => self.common_column(),
        }
    }

    fn common_column(self) -> Option<&'static str> {
        Some(match self {
            SummaryFilter::Source => "referrer_source",
            SummaryFilter::UtmCampaign => "utm_campaign",
            SummaryFilter::Country => "country",
            SummaryFilter::Device => "device",
            SummaryFilter::Browser => "browser",
            SummaryFilter::Os => "os",
            SummaryFilter::Page | SummaryFilter::EntryPage => return None,
        })
    }
}

#[derive(Clone, Debug)]
pub struct SummaryRequest {
    pub site: String,
    /// First and last UTC day, `YYYY-MM-DD`, inclusive.
    pub from: String,
    pub to: String,
    pub filters: Vec<(SummaryFilter, String)>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SummaryTotals {
    pub visitors: i64,
    pub pageviews: i64,
    pub sessions: i64,
    /// Fraction 0..1 of sessions with one pageview.
    pub bounce_rate: f64,
    pub avg_session_duration_secs: f64,
    pub events: i64,
    /// Revenue of orders in minor units (cents); currencies are not converted.
    pub revenue_minor: i64,
    pub orders: i64,
    /// Fraction 0..1 of sessions that placed an order.
    pub conversion_rate: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesPoint {
    /// `YYYY-MM-DD` for daily points, `YYYY-MM-DD HH:00:00` for hourly ones.
    pub bucket: String,
    pub visitors: i64,
    pub pageviews: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopRow {
    /// The dimension's value; `null` groups rows without one.
    pub key: Option<String>,
    pub count: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub site: String,
    pub from: String,
    pub to: String,
    /// `day`, or `hour` when the range is one day.
    pub granularity: &'static str,
    pub totals: SummaryTotals,
    pub timeseries: Vec<SeriesPoint>,
    /// Pageviews per path.
    pub top_pages: Vec<TopRow>,
    /// Sessions per entry page, referrer source, campaign, country, device, browser and OS.
    pub entry_pages: Vec<TopRow>,
    pub referrer_sources: Vec<TopRow>,
    pub utm_campaigns: Vec<TopRow>,
    pub countries: Vec<TopRow>,
    pub devices: Vec<TopRow>,
    pub browsers: Vec<TopRow>,
    pub os: Vec<TopRow>,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn day_of(text: &str, what: &str) -> Result<i64, QueryError> {
    parse_date_literal(text).ok_or_else(|| QueryError::Invalid {
        message: format!("{what} must be a date YYYY-MM-DD, got '{text}'"),
        pos: Position::default(),
    })
}

fn top(rows: &[Vec<serde_json::Value>]) -> Vec<TopRow> {
    rows.iter()
        .map(|r| TopRow {
            key: r.first().and_then(|v| v.as_str()).map(str::to_string),
            count: r.get(1).and_then(serde_json::Value::as_i64).unwrap_or(0),
        })
        .collect()
}

fn int(v: Option<&serde_json::Value>) -> i64 {
    v.and_then(serde_json::Value::as_i64).unwrap_or(0)
}

fn float(v: Option<&serde_json::Value>) -> f64 {
    v.and_then(serde_json::Value::as_f64).unwrap_or(0.0)
}

/// Computes the summary for `req.site`, which the caller has already checked the key may read.
pub fn summary(
    source: &dyn BatchSource,
    req: &SummaryRequest,
    limits: &QueryLimits,
) -> Result<Summary, QueryError> {
    let from_day = day_of(&req.from, "from")?;
    let to_day = day_of(&req.to, "to")?;
    if to_day < from_day {
        return Err(QueryError::Invalid {
            message: "to is before from".into(),
            pos: Position::default(),
        });
    }
    let site = quote(&req.site);
    let (start_us, end_us) = (from_day * MICROS_PER_DAY, (to_day + 1) * MICROS_PER_DAY - 1);
    let mut ev = format!(
        "site = {site} AND ts BETWEEN {start_us} AND {end_us} AND (is_bot IS NULL OR is_bot = false)"
    );
    let mut se = format!("site = {site} AND start BETWEEN {start_us} AND {end_us}");
    for (filter, value) in &req.filters {
        if let Some(c) = filter.events_column() {
            ev += &format!(" AND {c} = {}", quote(value));
        }
        if let Some(c) = filter.sessions_column() {
            se += &format!(" AND {c} = {}", quote(value));
        }
    }

    let hourly = from_day == to_day;
    let bucket = if hourly {
        "toStartOfHour(ts)"
    } else {
        "toDate(ts)"
    };
    let limit = SUMMARY_TOP_LIMIT;
    let by_sessions = |column: &str, extra: &str| {
        format!(
            "SELECT {column}, count() AS c FROM sessions WHERE {se}{extra} GROUP BY {column} \
             ORDER BY c DESC, {column} LIMIT {limit}"
        )
    };
    let sql = [
        format!(
            "SELECT uniq(visitor_id), count(), countIf(type = 'pageview'), \
             count(DISTINCT order_id), sumIf(revenue, order_id IS NOT NULL) FROM events WHERE {ev}"
        ),
        format!(
            "SELECT count(), avg(is_bounce), avg(duration), avg(converted) FROM sessions \
             WHERE {se}"
        ),
        format!(
            "SELECT {bucket} AS b, uniq(visitor_id), countIf(type = 'pageview') FROM events \
             WHERE {ev} GROUP BY b"
        ),
        format!(
            "SELECT path, count() AS c FROM events WHERE {ev} AND type = 'pageview' \
             GROUP BY path ORDER BY c DESC, path LIMIT {limit}"
        ),
        by_sessions("entry_path", ""),
        by_sessions("referrer_source", ""),
        by_sessions("utm_campaign", " AND utm_campaign IS NOT NULL"),
        by_sessions("country", ""),
        by_sessions("device", ""),
        by_sessions("browser", ""),
        by_sessions("os", ""),
    ];
    let queries = sql
        .iter()
        .map(|q| parse_and_check(q))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&Query> = queries.iter().collect();
    // Fused: one scan of the site's events for the first, third and fourth query, one of its
    // sessions for the others.
    let results = execute_many(&refs, source, limits, std::slice::from_ref(&req.site))?;
    let rows: Vec<&Vec<Vec<serde_json::Value>>> = results.iter().map(|r| &r.rows).collect();
    let [e, s, series, pages, entry, sources, campaigns, countries, devices, browsers, os] =
        rows[..]
    else {
        return Err(QueryError::Storage(
            "summary queries returned no result".into(),
        ));
    };
    let (e0, s0) = (e.first(), s.first());
    let totals = SummaryTotals {
        visitors: int(e0.and_then(|r| r.first())),
        events: int(e0.and_then(|r| r.get(1))),
        pageviews: int(e0.and_then(|r| r.get(2))),
        orders: int(e0.and_then(|r| r.get(3))),
        revenue_minor: int(e0.and_then(|r| r.get(4))),
        sessions: int(s0.and_then(|r| r.first())),
        bounce_rate: float(s0.and_then(|r| r.get(1))),
        avg_session_duration_secs: float(s0.and_then(|r| r.get(2))),
        conversion_rate: float(s0.and_then(|r| r.get(3))),
    };

    let (ty, step, first) = if hourly {
        (DataType::DateTime, MICROS_PER_HOUR, start_us)
    } else {
        (DataType::Date, 1, from_day)
    };
    let count = if hourly { 24 } else { to_day - from_day + 1 };
    let mut timeseries: Vec<SeriesPoint> = (0..count)
        .map(|i| SeriesPoint {
            bucket: format_time(first + i * step, ty),
            visitors: 0,
            pageviews: 0,
        })
        .collect();
    for r in series {
        let key = r.first().and_then(|v| v.as_str()).unwrap_or_default();
        if let Some(p) = timeseries.iter_mut().find(|p| p.bucket == key) {
            p.visitors = int(r.get(1));
            p.pageviews = int(r.get(2));
        }
    }

    Ok(Summary {
        site: req.site.clone(),
        from: req.from.clone(),
        to: req.to.clone(),
        granularity: if hourly { "hour" } else { "day" },
        totals,
        timeseries,
        top_pages: top(pages),
        entry_pages: top(entry),
        referrer_sources: top(sources),
        utm_campaigns: top(campaigns),
        countries: top(countries),
        devices: top(devices),
        browsers: top(browsers),
        os: top(os),
    })
}
