"""The dashboard query set of issue #4 in the three dialects.

EcomDash and chDB share ClickHouse's SQL; DuckDB gets the same question in its own dialect.
Each query names the columns whose values are approximate (`uniq`): those are checked against
DuckDB's exact `count(DISTINCT ...)` (the `reference` query, run once and not timed) within the
documented error of EcomDash's `uniq` (docs/query.md: relative standard error 1.6 %, so 5 % at
three standard errors), and so are the peers' own approximations.
"""

from dataclasses import dataclass, field

FUNNEL_WINDOW_SECONDS = 3600
FUNNEL_STEPS = ("view_product", "add_to_cart", "begin_checkout", "purchase")
# EcomDash's uniq: 1.04 / sqrt(4096) = 1.6 % relative standard error; 3 standard errors
UNIQ_TOLERANCE = 0.05


@dataclass
class Query:
    name: str
    ecomdash: str
    duckdb: str
    chdb: str
    # indexes of columns holding approximate distinct counts
    approx: tuple = ()
    # exact DuckDB query with the same shape, for the approximate columns
    reference: str | None = None
    notes: str = ""
    tags: dict = field(default_factory=dict)


def query_set(site: str, first_day: str, end_day: str, one_day: str, next_day: str, visitor: str):
    """The queries over `site`, days `first_day` <= day < `end_day` (YYYY-MM-DD); the hourly
    query covers `one_day` only; the visitor query reads the events of `visitor`."""
    s = f"site = '{site}'"
    rng = f"ts >= '{first_day} 00:00:00' AND ts < '{end_day} 00:00:00'"
    srng = f"start >= '{first_day} 00:00:00' AND start < '{end_day} 00:00:00'"
    day = f"ts >= '{one_day} 00:00:00' AND ts < '{next_day} 00:00:00'"
    steps_ch = ", ".join(f"name = '{n}'" for n in FUNNEL_STEPS)
    names_in = ", ".join(f"'{n}'" for n in FUNNEL_STEPS)
    window_us = FUNNEL_WINDOW_SECONDS * 1_000_000
    queries = []

    totals_ch = (
        "SELECT count() AS events, countIf(type = 'pageview') AS pageviews, "
        "uniq(visitor_id) AS visitors, uniq(session_id) AS sessions "
        f"FROM events WHERE {s} AND {rng}"
    )
    queries.append(Query(
        "totals",
        ecomdash=totals_ch,
        chdb=totals_ch,
        duckdb=(
            "SELECT count(*) AS events, count(*) FILTER (WHERE type = 'pageview') AS pageviews, "
            "approx_count_distinct(visitor_id) AS visitors, "
            "approx_count_distinct(session_id) AS sessions "
            f"FROM events WHERE {s} AND {rng}"
        ),
        approx=(2, 3),
        reference=(
            "SELECT count(*), count(*) FILTER (WHERE type = 'pageview'), "
            "count(DISTINCT visitor_id), count(DISTINCT session_id) "
            f"FROM events WHERE {s} AND {rng}"
        ),
    ))

    exact_ch = (
        "SELECT count(DISTINCT visitor_id) AS visitors FROM events "
        f"WHERE {s} AND {rng}"
    )
    queries.append(Query(
        "visitors (exact)",
        ecomdash=exact_ch,
        chdb=exact_ch.replace("count(DISTINCT visitor_id)", "uniqExact(visitor_id)"),
        duckdb=exact_ch,
    ))

    per_day_ch = (
        "SELECT toDate(ts) AS day, count() AS pageviews FROM events "
        f"WHERE {s} AND type = 'pageview' AND {rng} GROUP BY day ORDER BY day"
    )
    queries.append(Query(
        "pageviews per day",
        ecomdash=per_day_ch,
        chdb=per_day_ch,
        duckdb=(
            "SELECT CAST(ts AS DATE) AS day, count(*) AS pageviews FROM events "
            f"WHERE {s} AND type = 'pageview' AND {rng} GROUP BY day ORDER BY day"
        ),
    ))

    top_pages = (
        "SELECT path, count() AS views FROM events "
        f"WHERE {s} AND type = 'pageview' AND {rng} "
        "GROUP BY path ORDER BY views DESC, path LIMIT 10"
    )
    queries.append(Query(
        "top pages",
        ecomdash=top_pages,
        chdb=top_pages,
        duckdb=top_pages.replace("count()", "count(*)"),
    ))

    for name, column in (("sources", "referrer_source"), ("countries", "country"),
                         ("devices", "device")):
        sql = (
            f"SELECT {column}, count() AS sessions FROM sessions WHERE {s} AND {srng} "
            f"GROUP BY {column} ORDER BY sessions DESC, {column} NULLS LAST LIMIT 10"
        )
        queries.append(Query(
            name, ecomdash=sql, chdb=sql, duckdb=sql.replace("count()", "count(*)"),
            notes="sessions table",
        ))

    revenue_ch = (
        "SELECT toDate(ts) AS day, sum(revenue) AS revenue_minor, count() AS orders "
        f"FROM events WHERE {s} AND type = 'ecommerce' AND name = 'purchase' AND {rng} "
        "GROUP BY day ORDER BY day"
    )
    queries.append(Query(
        "revenue per day",
        ecomdash=revenue_ch,
        chdb=revenue_ch,
        duckdb=(
            "SELECT CAST(ts AS DATE) AS day, sum(revenue) AS revenue_minor, count(*) AS orders "
            f"FROM events WHERE {s} AND type = 'ecommerce' AND name = 'purchase' AND {rng} "
            "GROUP BY day ORDER BY day"
        ),
    ))

    bounce_ch = (
        "SELECT count() AS sessions, avg(is_bounce) AS bounce_rate, "
        f"avg(duration) AS avg_duration FROM sessions WHERE {s} AND {srng}"
    )
    queries.append(Query(
        "bounce rate, duration",
        ecomdash=bounce_ch,
        chdb=bounce_ch,
        duckdb=(
            "SELECT count(*) AS sessions, avg(CAST(is_bounce AS INTEGER)) AS bounce_rate, "
            f"avg(duration) AS avg_duration FROM sessions WHERE {s} AND {srng}"
        ),
        notes="sessions table",
    ))

    funnel_where = f"{s} AND type = 'ecommerce' AND name IN ({names_in}) AND {rng}"
    queries.append(Query(
        "4-step funnel",
        ecomdash=(
            "SELECT level, count() AS sessions FROM ("
            f"SELECT session_id, windowFunnel({FUNNEL_WINDOW_SECONDS})(ts, {steps_ch}) AS level "
            f"FROM events WHERE {funnel_where} GROUP BY session_id) "
            "GROUP BY level ORDER BY level"
        ),
        # ClickHouse's windowFunnel takes DateTime or unsigned integers: microseconds here
        chdb=(
            "SELECT level, count() AS sessions FROM ("
            f"SELECT session_id, windowFunnel({window_us})(toUInt64(toUnixTimestamp64Micro(ts)), "
            f"{steps_ch}) AS level "
            f"FROM events WHERE {funnel_where} GROUP BY session_id) "
            "GROUP BY level ORDER BY level"
        ),
        duckdb=duckdb_funnel(funnel_where, window_us),
        notes="windowFunnel; DuckDB: window functions",
    ))

    hourly_ch = (
        "SELECT toStartOfHour(ts) AS hour, uniq(visitor_id) AS visitors FROM events "
        f"WHERE {s} AND {day} GROUP BY hour ORDER BY hour"
    )
    queries.append(Query(
        "hourly visitors (1 day)",
        ecomdash=hourly_ch,
        chdb=hourly_ch,
        duckdb=(
            "SELECT date_trunc('hour', ts) AS hour, approx_count_distinct(visitor_id) AS visitors "
            f"FROM events WHERE {s} AND {day} GROUP BY hour ORDER BY hour"
        ),
        approx=(1,),
        reference=(
            "SELECT date_trunc('hour', ts) AS hour, count(DISTINCT visitor_id) "
            f"FROM events WHERE {s} AND {day} GROUP BY hour ORDER BY hour"
        ),
    ))

    campaign_ch = (
        "SELECT utm_campaign, count() AS sessions, sum(converted) AS conversions, "
        "avg(converted) AS conversion_rate, sum(revenue) AS revenue_minor FROM sessions "
        f"WHERE {s} AND {srng} AND utm_campaign IS NOT NULL "
        "GROUP BY utm_campaign ORDER BY sessions DESC, utm_campaign"
    )
    queries.append(Query(
        "campaign conversion",
        ecomdash=campaign_ch,
        chdb=campaign_ch,
        duckdb=(
            "SELECT utm_campaign, count(*) AS sessions, sum(CAST(converted AS INTEGER)) "
            "AS conversions, avg(CAST(converted AS INTEGER)) AS conversion_rate, "
            "sum(revenue) AS revenue_minor FROM sessions "
            f"WHERE {s} AND {srng} AND utm_campaign IS NOT NULL "
            "GROUP BY utm_campaign ORDER BY sessions DESC, utm_campaign"
        ),
        notes="sessions table",
    ))

    visitor_sql = (
        "SELECT ts, type, name, path, event_id FROM events "
        f"WHERE {s} AND visitor_id = '{visitor}' ORDER BY ts, event_id"
    )
    queries.append(Query(
        "events of one visitor",
        ecomdash=visitor_sql,
        chdb=visitor_sql,
        duckdb=visitor_sql,
    ))
    return queries


def duckdb_funnel(where: str, window_us: int) -> str:
    """ClickHouse's windowFunnel (default mode) in DuckDB: a chain reaching step i at time t
    is best started by the latest start among chains that reached step i-1 no later than t, so
    each step keeps a running max of valid chain starts over the session's events in (ts, step)
    order; the level is the deepest step with a valid event."""
    cases = " ".join(f"WHEN '{n}' THEN {i + 1}" for i, n in enumerate(FUNNEL_STEPS))
    w = "(PARTITION BY session_id ORDER BY t, step ROWS UNBOUNDED PRECEDING)"
    return (
        "WITH e AS (SELECT session_id, epoch_us(ts) AS t, "
        f"CASE name {cases} END AS step FROM events WHERE {where}), "
        f"s1 AS (SELECT *, max(CASE WHEN step = 1 THEN t END) OVER {w} AS start1 FROM e), "
        "s2 AS (SELECT *, max(CASE WHEN step = 2 AND t - start1 <= "
        f"{window_us} THEN start1 END) OVER {w} AS start2 FROM s1), "
        "s3 AS (SELECT *, max(CASE WHEN step = 3 AND t - start2 <= "
        f"{window_us} THEN start2 END) OVER {w} AS start3 FROM s2), "
        "levels AS (SELECT session_id, CASE "
        f"WHEN bool_or(step = 4 AND t - start3 <= {window_us}) THEN 4 "
        f"WHEN bool_or(step = 3 AND t - start2 <= {window_us}) THEN 3 "
        f"WHEN bool_or(step = 2 AND t - start1 <= {window_us}) THEN 2 "
        "WHEN bool_or(step = 1) THEN 1 ELSE 0 END AS level FROM s3 GROUP BY session_id) "
        "SELECT level, count(*) AS sessions FROM levels GROUP BY level ORDER BY level"
    )
