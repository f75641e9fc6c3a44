//! Column positions of the `events` and `sessions` tables, looked up by name once at startup
//! (never hand-coded), so a schema change is caught when the daemon starts, not in a query.

use ecomdash_storage::schema::{EVENTS, SESSIONS};
use ecomdash_storage::Schema;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("column {table}.{column} is missing from the storage schema")]
pub struct MissingColumn {
    table: &'static str,
    column: &'static str,
}

fn find(
    schema: &Schema,
    table: &'static str,
    column: &'static str,
) -> Result<usize, MissingColumn> {
    schema
        .index_of(column)
        .ok_or(MissingColumn { table, column })
}

macro_rules! columns {
    ($name:ident, $schema:expr, $table:literal, [$($field:ident),* $(,)?], [$($renamed:ident = $column:literal),*]) => {
        /// Positions of the columns the daemon writes.
        #[derive(Clone, Debug)]
        pub struct $name {
            /// Number of columns in the table.
            pub len: usize,
            $(pub $field: usize,)*
            $(pub $renamed: usize,)*
            /// `utm_source`, `utm_medium`, `utm_campaign`, `utm_term`, `utm_content`.
            pub utm: [usize; 5],
        }

        impl $name {
            pub fn resolve() -> Result<$name, MissingColumn> {
                let schema = &$schema;
                Ok($name {
                    len: schema.len(),
                    $($field: find(schema, $table, stringify!($field))?,)*
                    $($renamed: find(schema, $table, $column)?,)*
                    utm: [
                        find(schema, $table, "utm_source")?,
                        find(schema, $table, "utm_medium")?,
                        find(schema, $table, "utm_campaign")?,
                        find(schema, $table, "utm_term")?,
                        find(schema, $table, "utm_content")?,
                    ],
                })
            }
        }
    };
}

columns!(
    EventColumns,
    EVENTS,
    "events",
    [
        ts,
        site,
        name,
        event_id,
        session_id,
        visitor_id,
        user_id,
        hostname,
        path,
        referrer_host,
        referrer_source,
        country,
        region,
        city,
        device,
        browser,
        browser_version,
        os,
        os_version,
        screen_w,
        screen_h,
        lang,
        is_bot,
        revenue,
        currency,
        order_id,
        product_id,
        props,
        lcp,
        inp,
        cls,
        ttfb,
        click_x,
        click_y,
        selector,
        scroll_depth,
        engagement_ms,
        error_message,
    ],
    [event_type = "type"]
);

columns!(
    SessionColumns,
    SESSIONS,
    "sessions",
    [
        session_id,
        visitor_id,
        site,
        start,
        end,
        duration,
        pageviews,
        events,
        entry_path,
        exit_path,
        is_bounce,
        referrer_source,
        country,
        device,
        browser,
        os,
        revenue,
        converted,
    ],
    []
);

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_column_the_daemon_writes_exists() {
        let events = EventColumns::resolve().unwrap();
        assert_eq!(events.ts, EVENTS.time_column);
        assert_eq!(events.site, EVENTS.site_column);
        let sessions = SessionColumns::resolve().unwrap();
        assert_eq!(sessions.site, SESSIONS.site_column);
        assert_eq!(sessions.start, SESSIONS.time_column);
    }
}
