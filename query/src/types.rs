//! Logical types of query values, owned scalar values, and the date/time conversions the dialect
//! needs (`toDate`, `toStartOfHour`, string literals compared with time columns).

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use ecomdash_storage::ColumnType;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;
pub const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// The type of a query expression. `Timestamp`, `DateTime` and `Date` are held as `i64`
/// (microseconds, microseconds truncated to whole seconds or coarser, and days since 1970-01-01).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    Int,
    Float,
    Bool,
    Str,
    /// Microseconds since the Unix epoch (UTC), printed with six fractional digits.
    Timestamp,
    /// Microseconds since the Unix epoch on a whole second (results of `toStartOfHour` and
    /// `toStartOfMinute`), printed without fraction.
    DateTime,
    /// Days since 1970-01-01, printed as `YYYY-MM-DD`.
    Date,
}

impl DataType {
    pub fn from_column(ty: ColumnType) -> DataType {
        match ty {
            ColumnType::Timestamp => DataType::Timestamp,
            ColumnType::Int => DataType::Int,
            ColumnType::Float => DataType::Float,
            ColumnType::Bool => DataType::Bool,
            ColumnType::Str => DataType::Str,
        }
    }

    /// Name used in query results and error messages.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Int => "int",
            DataType::Float => "float",
            DataType::Bool => "bool",
            DataType::Str => "string",
            DataType::Timestamp => "timestamp",
            DataType::DateTime => "datetime",
            DataType::Date => "date",
        }
    }

    /// Whether values are held as `i64` (ints and all time types).
    pub fn is_int_like(self) -> bool {
        matches!(
            self,
            DataType::Int | DataType::Timestamp | DataType::DateTime | DataType::Date
        )
    }

    pub fn is_time(self) -> bool {
        matches!(
            self,
            DataType::Timestamp | DataType::DateTime | DataType::Date
        )
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, DataType::Int | DataType::Float | DataType::Bool)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One owned value. Time types are `Int` here; the [`DataType`] next to it says how to print.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(Arc<str>),
}

impl Scalar {
    pub fn is_null(&self) -> bool {
        matches!(self, Scalar::Null)
    }

    /// Numeric view used by arithmetic and mixed comparisons.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Int(v) => Some(*v as f64),
            Scalar::Float(v) => Some(*v),
            Scalar::Bool(v) => Some(f64::from(u8::from(*v))),
            Scalar::Null | Scalar::Str(_) => None,
        }
    }

    /// Total order for sorting and min/max: numbers by value, strings bytewise, NaN after
    /// numbers. Nulls are handled by callers (they sort last unless asked otherwise).
    pub fn total_cmp(&self, other: &Scalar) -> Ordering {
        match (self, other) {
            (Scalar::Null, Scalar::Null) => Ordering::Equal,
            (Scalar::Null, _) => Ordering::Greater,
            (_, Scalar::Null) => Ordering::Less,
            (Scalar::Int(a), Scalar::Int(b)) => a.cmp(b),
            (Scalar::Bool(a), Scalar::Bool(b)) => a.cmp(b),
            (Scalar::Str(a), Scalar::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Scalar::Str(_), _) => Ordering::Greater,
            (_, Scalar::Str(_)) => Ordering::Less,
            (a, b) => {
                let (x, y) = (
                    a.as_f64().unwrap_or(f64::NAN),
                    b.as_f64().unwrap_or(f64::NAN),
                );
                x.total_cmp(&y)
            }
        }
    }

    /// The JSON form of this value given its type: times as ClickHouse prints them.
    pub fn to_json(&self, ty: DataType) -> serde_json::Value {
        match self {
            Scalar::Null => serde_json::Value::Null,
            Scalar::Int(v) => match ty {
                DataType::Timestamp | DataType::DateTime | DataType::Date => {
                    serde_json::Value::String(format_time(*v, ty))
                }
                _ => serde_json::Value::from(*v),
            },
            Scalar::Float(v) => serde_json::Number::from_f64(*v)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Scalar::Bool(v) => serde_json::Value::Bool(*v),
            Scalar::Str(s) => serde_json::Value::String(s.to_string()),
        }
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day number.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn format_time(value: i64, ty: DataType) -> String {
    let days = match ty {
        DataType::Date => value,
        _ => value.div_euclid(MICROS_PER_DAY),
    };
    let (y, m, d) = civil_from_days(days);
    if ty == DataType::Date {
        return format!("{y:04}-{m:02}-{d:02}");
    }
    let in_day = value.rem_euclid(MICROS_PER_DAY);
    let secs = in_day / MICROS_PER_SECOND;
    let (hh, mm, ss) = (secs / 3600, secs / 60 % 60, secs % 60);
    if ty == DataType::DateTime {
        format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
    } else {
        let micros = in_day % MICROS_PER_SECOND;
        format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}.{micros:06}")
    }
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD HH:MM:SS.ffffff` (a `T` may stand for
/// the space) into microseconds since the epoch, UTC.
pub fn parse_time_literal(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = match text.find([' ', 'T']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let days = parse_date_literal(date)?;
    let mut micros = days.checked_mul(MICROS_PER_DAY)?;
    if let Some(time) = time {
        let time = time.strip_suffix('Z').unwrap_or(time);
        let (hms, frac) = match time.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (time, None),
        };
        let parts: Vec<&str> = hms.split(':').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.len() != 2) {
            return None;
        }
        let h: i64 = parts[0].parse().ok()?;
        let m: i64 = parts[1].parse().ok()?;
        let s: i64 = parts[2].parse().ok()?;
        if h > 23 || m > 59 || s > 59 {
            return None;
        }
        micros += h * MICROS_PER_HOUR + m * MICROS_PER_MINUTE + s * MICROS_PER_SECOND;
        if let Some(frac) = frac {
            if frac.is_empty() || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let padded = format!("{frac:0<6}");
            micros += padded.parse::<i64>().ok()?;
        }
    }
    Some(micros)
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01.
pub fn parse_date_literal(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.trim().split('-').collect();
    if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
        return None;
    }
    let y: i64 = parts[0].parse().ok()?;
    let m: u32 = parts[1].parse().ok()?;
    let d: u32 = parts[2].parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 1, 19_000, 20_454, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2026, 1, 1), 20_454);
    }

    #[test]
    fn time_literals_parse_and_print() {
        let t = parse_time_literal("2026-01-01 12:34:56.5").expect("valid");
        assert_eq!(
            format_time(t, DataType::Timestamp),
            "2026-01-01 12:34:56.500000"
        );
        assert_eq!(format_time(t, DataType::DateTime), "2026-01-01 12:34:56");
        assert_eq!(
            parse_time_literal("2026-01-01"),
            Some(20_454 * MICROS_PER_DAY)
        );
        assert_eq!(format_time(20_454, DataType::Date), "2026-01-01");
        assert_eq!(parse_time_literal("2026-02-30"), None);
        assert_eq!(parse_time_literal("2026-01-01 25:00:00"), None);
        assert_eq!(parse_time_literal("yesterday"), None);
        assert_eq!(
            format_time(-1, DataType::Timestamp),
            "1969-12-31 23:59:59.999999"
        );
    }
}
