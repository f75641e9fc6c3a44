//! Validation of decoded events against the limits of [`crate::limits`].
//!
//! Errors name the field relative to the event (`url`, `props.color`, `ecommerce.order_items[2].price`);
//! batch handlers prefix them with [`ErrorDetail::in_batch`].

use crate::error::ErrorDetail;
use crate::event::{Dimensions, PropValue, WireEvent};
use crate::limits::*;
use crate::text::Text;

/// How strict validation is about time.
#[derive(Clone, Copy, Debug)]
pub struct ValidateOptions {
    /// Server time, milliseconds since the Unix epoch.
    pub now_ms: i64,
    /// Live intake rejects `ts` outside `[now - MAX_TS_PAST_MS, now + MAX_TS_FUTURE_MS]`; imports
    /// trust `ts` and only check that it is a plausible time.
    pub check_ts_window: bool,
}

/// Latest timestamp an import may carry: year 3000.
const MAX_PLAUSIBLE_TS_MS: i64 = 32_503_680_000_000;

/// Checks every field of `event`. The first problem found is returned.
pub fn validate_event(event: &WireEvent<'_>, options: ValidateOptions) -> Result<(), ErrorDetail> {
    check_url("url", &event.url)?;
    if let Some(referrer) = &event.referrer {
        if !referrer.is_empty() {
            check_len("referrer", referrer, MAX_URL_BYTES)?;
        }
    }
    match &event.name {
        Some(name) => {
            check_nonempty("name", name)?;
            check_len("name", name, MAX_NAME_BYTES)?;
        }
        None if event.event_type.requires_name() => {
            return Err(ErrorDetail::field(
                "name",
                format!("name is required for {} events", event.event_type),
            ));
        }
        None => {}
    }
    check_opt_len("title", event.title.as_ref(), MAX_TITLE_BYTES)?;
    check_ts(event.ts, options)?;
    for (field, value) in [
        ("event_id", &event.event_id),
        ("session_id", &event.session_id),
        ("visitor_id", &event.visitor_id),
        ("user_id", &event.user_id),
    ] {
        if let Some(value) = value {
            check_nonempty(field, value)?;
            check_len(field, value, MAX_ID_BYTES)?;
        }
    }
    check_dimensions("screen", event.screen)?;
    check_dimensions("viewport", event.viewport)?;
    check_opt_len("lang", event.lang.as_ref(), MAX_LANG_BYTES)?;
    check_opt_len("api_key", event.api_key.as_ref(), MAX_API_KEY_BYTES)?;
    check_opt_len(
        "user_agent",
        event.user_agent.as_ref(),
        MAX_USER_AGENT_BYTES,
    )?;
    if let Some(ip) = &event.ip {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(ErrorDetail::field(
                "ip",
                "ip is not an IPv4 or IPv6 address",
            ));
        }
    }
    if let Some(props) = &event.props {
        if props.0.len() > MAX_PROPS {
            return Err(ErrorDetail::field(
                "props",
                format!(
                    "props has {} keys, at most {MAX_PROPS} are allowed",
                    props.0.len()
                ),
            ));
        }
        for (key, value) in &props.0 {
            if key.is_empty() || key.len() > MAX_PROP_KEY_BYTES {
                return Err(ErrorDetail::field(
                    "props",
                    format!("props keys must be 1 to {MAX_PROP_KEY_BYTES} bytes"),
                ));
            }
            if let PropValue::Text(text) = value {
                if text.len() > MAX_PROP_VALUE_BYTES {
                    return Err(ErrorDetail::field(
                        format!("props.{}", key.as_str()),
                        format!("longer than {MAX_PROP_VALUE_BYTES} bytes"),
                    ));
                }
            }
        }
    }
    if let Some(ecommerce) = &event.ecommerce {
        check_opt_len(
            "ecommerce.product_id",
            ecommerce.product_id.as_ref(),
            MAX_ECOMMERCE_TEXT_BYTES,
        )?;
        check_opt_len(
            "ecommerce.product_name",
            ecommerce.product_name.as_ref(),
            MAX_ECOMMERCE_TEXT_BYTES,
        )?;
        check_opt_len(
            "ecommerce.order_id",
            ecommerce.order_id.as_ref(),
            MAX_ECOMMERCE_TEXT_BYTES,
        )?;
        check_money("ecommerce.product_price", ecommerce.product_price)?;
        check_money("ecommerce.order_value", ecommerce.order_value)?;
        check_quantity("ecommerce.product_quantity", ecommerce.product_quantity)?;
        if let Some(currency) = &ecommerce.order_currency {
            if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(ErrorDetail::field(
                    "ecommerce.order_currency",
                    "currency must be a three-letter ISO 4217 code",
                ));
            }
        }
        if let Some(items) = &ecommerce.order_items {
            if items.len() > MAX_ORDER_ITEMS {
                return Err(ErrorDetail::field(
                    "ecommerce.order_items",
                    format!("at most {MAX_ORDER_ITEMS} order items are allowed"),
                ));
            }
            for (i, item) in items.iter().enumerate() {
                check_opt_len(
                    &format!("ecommerce.order_items[{i}].product_id"),
                    item.product_id.as_ref(),
                    MAX_ECOMMERCE_TEXT_BYTES,
                )?;
                check_money(&format!("ecommerce.order_items[{i}].price"), item.price)?;
                check_quantity(
                    &format!("ecommerce.order_items[{i}].quantity"),
                    item.quantity,
                )?;
            }
        }
    }
    if let Some(vitals) = &event.vitals {
        for (field, value) in [
            ("vitals.lcp", vitals.lcp),
            ("vitals.inp", vitals.inp),
            ("vitals.fid", vitals.fid),
            ("vitals.ttfb", vitals.ttfb),
            ("vitals.fcp", vitals.fcp),
        ] {
            check_range(field, value, 0.0, MAX_VITAL_MS)?;
        }
        check_range("vitals.cls", vitals.cls, 0.0, MAX_CLS)?;
    }
    if let Some(click) = &event.click {
        check_range("click.x", click.x, 0.0, 1.0)?;
        check_range("click.y", click.y, 0.0, MAX_CLICK_Y_PX)?;
        check_opt_len(
            "click.selector",
            click.selector.as_ref(),
            MAX_SELECTOR_BYTES,
        )?;
    }
    if let Some(depth) = event.scroll_depth {
        if depth > 100 {
            return Err(ErrorDetail::field(
                "scroll_depth",
                "scroll_depth is a percentage, 0 to 100",
            ));
        }
    }
    if let Some(ms) = event.engagement_ms {
        if ms > MAX_ENGAGEMENT_MS {
            return Err(ErrorDetail::field(
                "engagement_ms",
                format!("engagement_ms is at most {MAX_ENGAGEMENT_MS}"),
            ));
        }
    }
    if let Some(error) = &event.error {
        check_opt_len(
            "error.message",
            error.message.as_ref(),
            MAX_ERROR_TEXT_BYTES,
        )?;
        check_opt_len("error.source", error.source.as_ref(), MAX_ERROR_TEXT_BYTES)?;
    }
    Ok(())
}

fn check_url(field: &str, url: &Text<'_>) -> Result<(), ErrorDetail> {
    check_nonempty(field, url)?;
    check_len(field, url, MAX_URL_BYTES)?;
    let has_prefix = |prefix: &str| {
        url.as_bytes()
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    if !(has_prefix("http://") || has_prefix("https://")) {
        return Err(ErrorDetail::field(
            field,
            "must be an absolute http or https url",
        ));
    }
    Ok(())
}

fn check_ts(ts: Option<i64>, options: ValidateOptions) -> Result<(), ErrorDetail> {
    let Some(ts) = ts else { return Ok(()) };
    if options.check_ts_window {
        if ts < options.now_ms - MAX_TS_PAST_MS {
            return Err(ErrorDetail::field(
                "ts",
                "ts is more than 72 hours in the past",
            ));
        }
        if ts > options.now_ms + MAX_TS_FUTURE_MS {
            return Err(ErrorDetail::field(
                "ts",
                "ts is more than 5 minutes in the future",
            ));
        }
    } else if !(0..=MAX_PLAUSIBLE_TS_MS).contains(&ts) {
        return Err(ErrorDetail::field(
            "ts",
            "ts must be milliseconds since 1970 and before the year 3000",
        ));
    }
    Ok(())
}

fn check_nonempty(field: &str, value: &str) -> Result<(), ErrorDetail> {
    if value.is_empty() {
        return Err(ErrorDetail::field(field, "must not be empty"));
    }
    Ok(())
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), ErrorDetail> {
    if value.len() > max {
        return Err(ErrorDetail::field(
            field,
            format!("{} bytes, at most {max} are allowed", value.len()),
        ));
    }
    Ok(())
}

fn check_opt_len(field: &str, value: Option<&Text<'_>>, max: usize) -> Result<(), ErrorDetail> {
    match value {
        Some(value) => check_len(field, value, max),
        None => Ok(()),
    }
}

fn check_dimensions(field: &str, dims: Option<Dimensions>) -> Result<(), ErrorDetail> {
    if let Some(dims) = dims {
        if dims.w > MAX_SCREEN_PX {
            return Err(ErrorDetail::field(
                format!("{field}.w"),
                format!("at most {MAX_SCREEN_PX} px"),
            ));
        }
        if dims.h > MAX_SCREEN_PX {
            return Err(ErrorDetail::field(
                format!("{field}.h"),
                format!("at most {MAX_SCREEN_PX} px"),
            ));
        }
    }
    Ok(())
}

fn check_range(field: &str, value: Option<f64>, min: f64, max: f64) -> Result<(), ErrorDetail> {
    if let Some(value) = value {
        if !(min..=max).contains(&value) {
            return Err(ErrorDetail::field(
                field,
                format!("must be between {min} and {max}"),
            ));
        }
    }
    Ok(())
}

fn check_money(field: &str, value: Option<f64>) -> Result<(), ErrorDetail> {
    check_range(field, value, 0.0, MAX_MONEY)
}

fn check_quantity(field: &str, value: Option<u32>) -> Result<(), ErrorDetail> {
    if let Some(quantity) = value {
        if quantity > MAX_QUANTITY {
            return Err(ErrorDetail::field(field, format!("at most {MAX_QUANTITY}")));
        }
    }
    Ok(())
}
