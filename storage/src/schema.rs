//! Table schemas as data: an ordered list of typed, nullable columns per table.
//!
//! Every code path in the store (row codec, memtable, segment encoder, scans) walks these lists;
//! no column has a hand-written path of its own.

use std::fmt;

/// The logical type of a column. Physical encodings are chosen per chunk by the segment writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// Microseconds since the Unix epoch, UTC, as `i64`.
    Timestamp,
    /// Signed 64-bit integer (counts, pixels, money in minor units, seconds).
    Int,
    /// 64-bit float (web vitals, fractional coordinates).
    Float,
    Bool,
    /// UTF-8 string. Held dictionary-encoded in memory and on disk, so low-cardinality columns
    /// (event type, device, country) cost one small code per row.
    Str,
}

impl ColumnType {
    /// Lowercase SQL-ish name used in query results and docs.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Timestamp => "timestamp",
            ColumnType::Int => "int",
            ColumnType::Float => "float",
            ColumnType::Bool => "bool",
            ColumnType::Str => "string",
        }
    }

    /// Stable one-byte tag used in file formats.
    pub fn tag(self) -> u8 {
        match self {
            ColumnType::Timestamp => 1,
            ColumnType::Int => 2,
            ColumnType::Float => 3,
            ColumnType::Bool => 4,
            ColumnType::Str => 5,
        }
    }

    pub fn from_tag(tag: u8) -> Option<ColumnType> {
        Some(match tag {
            1 => ColumnType::Timestamp,
            2 => ColumnType::Int,
            3 => ColumnType::Float,
            4 => ColumnType::Bool,
            5 => ColumnType::Str,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: &'static str,
    pub ty: ColumnType,
}

const fn col(name: &'static str, ty: ColumnType) -> ColumnDef {
    ColumnDef { name, ty }
}

/// The tables of the store. The discriminant is the table's stable id in WAL records and files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Events = 1,
    Sessions = 2,
}

impl Table {
    pub const ALL: [Table; 2] = [Table::Events, Table::Sessions];

    pub fn id(self) -> u8 {
        self as u8
    }

    pub fn from_id(id: u8) -> Option<Table> {
        match id {
            1 => Some(Table::Events),
            2 => Some(Table::Sessions),
            _ => None,
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        match name {
            "events" => Some(Table::Events),
            "sessions" => Some(Table::Sessions),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::Sessions => "sessions",
        }
    }

    pub fn schema(self) -> &'static Schema {
        match self {
            Table::Events => &EVENTS,
            Table::Sessions => &SESSIONS,
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An ordered column list plus the two columns that partition the table: rows are partitioned by
/// (value of `site_column`, UTC day of `time_column`).
#[derive(Debug)]
pub struct Schema {
    pub table: Table,
    pub columns: &'static [ColumnDef],
    /// Index of the `Str` column holding the site (domain).
    pub site_column: usize,
    /// Index of the `Timestamp` column that decides the partition day.
    pub time_column: usize,
}

impl Schema {
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub fn column(&self, index: usize) -> &ColumnDef {
        &self.columns[index]
    }
}

use ColumnType::{Bool, Float, Int, Str, Timestamp};

pub static EVENTS_COLUMNS: [ColumnDef; 44] = [
    col("ts", Timestamp),
    col("site", Str),
    col("type", Str),
    col("name", Str),
    col("event_id", Str),
    col("session_id", Str),
    col("visitor_id", Str),
    col("user_id", Str),
    col("hostname", Str),
    col("path", Str),
    col("referrer_host", Str),
    col("referrer_source", Str),
    col("utm_source", Str),
    col("utm_medium", Str),
    col("utm_campaign", Str),
    col("utm_term", Str),
    col("utm_content", Str),
    col("country", Str),
    col("region", Str),
    col("city", Str),
    col("device", Str),
    col("browser", Str),
    col("browser_version", Str),
    col("os", Str),
    col("os_version", Str),
    col("screen_w", Int),
    col("screen_h", Int),
    col("lang", Str),
    col("is_bot", Bool),
    // Money in integer minor units of `currency` (cents for USD).
    col("revenue", Int),
    col("currency", Str),
    col("order_id", Str),
    col("product_id", Str),
    // Flat JSON object text.
    col("props", Str),
    col("lcp", Float),
    col("inp", Float),
    col("cls", Float),
    col("ttfb", Float),
    // Fraction of page width, 0..1.
    col("click_x", Float),
    // Pixels from the top of the page.
    col("click_y", Float),
    col("selector", Str),
    // Percent 0..100.
    col("scroll_depth", Int),
    // Milliseconds of engagement reported by the tracker.
    col("engagement_ms", Int),
    // Error message for `error` events.
    col("error_message", Str),
];

pub static EVENTS: Schema = Schema {
    table: Table::Events,
    columns: &EVENTS_COLUMNS,
    site_column: 1,
    time_column: 0,
};

pub static SESSIONS_COLUMNS: [ColumnDef; 23] = [
    col("session_id", Str),
    col("visitor_id", Str),
    col("site", Str),
    col("start", Timestamp),
    col("end", Timestamp),
    // Seconds between the first and the last event.
    col("duration", Int),
    col("pageviews", Int),
    col("events", Int),
    col("entry_path", Str),
    col("exit_path", Str),
    col("is_bounce", Bool),
    col("referrer_source", Str),
    col("utm_source", Str),
    col("utm_medium", Str),
    col("utm_campaign", Str),
    col("utm_term", Str),
    col("utm_content", Str),
    col("country", Str),
    col("device", Str),
    col("browser", Str),
    col("os", Str),
    // Integer minor units.
    col("revenue", Int),
    col("converted", Bool),
];

pub static SESSIONS: Schema = Schema {
    table: Table::Sessions,
    columns: &SESSIONS_COLUMNS,
    site_column: 2,
    time_column: 3,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_columns_have_the_right_types() {
        for table in Table::ALL {
            let schema = table.schema();
            assert_eq!(schema.table, table);
            assert_eq!(schema.columns[schema.site_column].ty, Str);
            assert_eq!(schema.columns[schema.time_column].ty, Timestamp);
        }
    }

    #[test]
    fn column_names_are_unique() {
        for table in Table::ALL {
            let schema = table.schema();
            for (i, c) in schema.columns.iter().enumerate() {
                assert_eq!(schema.index_of(c.name), Some(i), "{}.{}", table, c.name);
            }
        }
    }

    #[test]
    fn type_tags_round_trip() {
        for ty in [Timestamp, Int, Float, Bool, Str] {
            assert_eq!(ColumnType::from_tag(ty.tag()), Some(ty));
        }
    }
}
