#!/usr/bin/env python3
"""EcomDash against DuckDB and chDB on the same rows (issue #4); run through run.sh.

1. Dataset: `ecomdash-loadtest --dump` (3 sites, --days 30, Zipf paths, sessions,
   funnels, revenue), split by site, imported with `ecomdash import`. Kept in the work dir and
   reused by later runs of the same size and seed.
2. The rows EcomDash stores (enriched: visitor ids, sessions, sources, devices) are exported through
   `POST /api/v1/query?format=csv`, one site and day at a time, and loaded into DuckDB (a database
   file, rows sorted by site and time) and chDB (MergeTree ordered by site and time); DuckDB also
   writes them as Parquet with zstd for the size comparison.
3. The dashboard query set (queries.py) runs on all three in the same run: one warm-up, then
   `--reps` rounds that take the systems in turn; results must agree (uniq within its error).
4. Prints median times, the ratio EcomDash / faster peer, bytes per event, and the summary API's
   time for the whole range of the largest site. Also writes results.json to the work dir.
"""

import argparse
import datetime as dt
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import chdb
import duckdb
from chdb import session as chdb_session

from queries import UNIQ_TOLERANCE, query_set

REPO = Path(__file__).resolve().parents[2]
SITES = 3
DAYS = 30
BASE_DAY = dt.date(2026, 10, 1)
SITE_HOST = "shop{}.loadtest.example"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run(cmd, env=None, **kw):
    log("+", " ".join(str(c) for c in cmd))
    return subprocess.run(cmd, check=True, env=env, **kw)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ---------------------------------------------------------------- dataset and import


def make_dataset(args, bins: Path, data: Path) -> dict:
    """Dump, split per site, import; returns the site keys and import figures (cached)."""
    marker = data / "imported.json"
    if marker.exists():
        log(f"reusing the imported dataset in {data}")
        return json.loads(marker.read_text())
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    dump = data / "events.ndjson"
    base_ms = int(dt.datetime(BASE_DAY.year, BASE_DAY.month, BASE_DAY.day,
                              tzinfo=dt.timezone.utc).timestamp() * 1000)
    started = time.monotonic()
    run([bins / "ecomdash-loadtest", "--dump", dump, "--events", str(args.events),
         "--sites", str(SITES), "--seed", str(args.seed), "--base-ms", str(base_ms),
         "--days", str(DAYS)])
    dump_secs = time.monotonic() - started
    # one file per site: `ecomdash import` takes the events of one site
    parts = [data / f"site{i + 1}.ndjson" for i in range(SITES)]
    needles = [f'"url":"https://{SITE_HOST.format(i + 1)}'.encode() for i in range(SITES)]
    outs = [open(p, "wb") for p in parts]
    with open(dump, "rb") as f:
        for line in f:
            for needle, out in zip(needles, outs):
                if needle in line:
                    out.write(line)
                    break
            else:
                raise SystemExit(f"line of no known site: {line[:200]!r}")
    for out in outs:
        out.close()
    dump.unlink()
    store = data / "ecomdash"
    keys, imports = {}, []
    for i in range(SITES):
        host = SITE_HOST.format(i + 1)
        out = run([bins / "ecomdash", "site", "add", host, "--data-dir", store],
                  capture_output=True, text=True)
        keys[host] = json.loads(out.stdout)
    for i, part in enumerate(parts):
        host = SITE_HOST.format(i + 1)
        started = time.monotonic()
        out = run([bins / "ecomdash", "import", part, "--site", host, "--data-dir", store],
                  capture_output=True, text=True, env=dict(os.environ, ECOMDASH_LOG="warn"))
        report = json.loads(out.stdout)
        secs = time.monotonic() - started
        imports.append({"site": host, "lines": report["lines"], "imported": report["imported"],
                        "secs": round(secs, 1)})
        log(f"imported {report['imported']} of {report['lines']} lines of {host} in {secs:.0f} s")
        if report["imported"] != report["lines"]:
            raise SystemExit(f"import of {host} rejected lines: {report}")
    info = {"keys": keys, "imports": imports, "dump_secs": round(dump_secs, 1),
            "events": args.events, "seed": args.seed}
    marker.write_text(json.dumps(info, indent=1))
    for part in parts:
        part.unlink()
    return info


# ---------------------------------------------------------------- the daemon


class Daemon:
    def __init__(self, bins: Path, store: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = dict(os.environ, ECOMDASH_QUIC="off", ECOMDASH_LOG="warn")
        self.proc = subprocess.Popen(
            [bins / "ecomdash", "serve", "--data-dir", store, "--http", f"127.0.0.1:{self.port}"],
            env=env)
        self.conn = None
        deadline = time.monotonic() + 120
        while True:
            try:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
                self.conn.request("GET", "/healthz")
                response = self.conn.getresponse()
                response.read()
                if response.status == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the daemon did not come up")
            time.sleep(0.1)

    def request(self, method, path, key, body=None):
        headers = {"Authorization": f"Bearer {key}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:500]!r}")
        return data

    def query(self, key, sql, csv_format=False):
        path = "/api/v1/query?format=csv" if csv_format else "/api/v1/query"
        data = self.request("POST", path, key, json.dumps({"sql": sql}))
        return data if csv_format else json.loads(data)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- export and peers

DUCK_TYPES = {"timestamp": "TIMESTAMP", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN",
              "string": "VARCHAR"}
# columns a ClickHouse user would declare LowCardinality (few distinct values)
HIGH_CARDINALITY = {"event_id", "session_id", "visitor_id", "user_id", "order_id", "props",
                    "selector", "error_message"}


def ch_type(name, ty):
    base = {"timestamp": "DateTime64(6, 'UTC')", "int": "Int64", "float": "Float64",
            "bool": "Bool", "string": "String"}[ty]
    if name in ("ts", "start"):
        return base
    if name == "site":
        return f"LowCardinality({base})"
    if ty == "string" and name not in HIGH_CARDINALITY:
        return f"LowCardinality(Nullable({base}))"
    return f"Nullable({base})"


def export(daemon: Daemon, info: dict, out: Path) -> dict:
    """CSV of every stored row of both tables, as EcomDash returns them; column types."""
    marker = out / "exported.json"
    if marker.exists():
        return json.loads(marker.read_text())
    out.mkdir(parents=True, exist_ok=True)
    schema, counts = {}, {}
    for table, time_col in (("events", "ts"), ("sessions", "start")):
        path = out / f"{table}.csv"
        with open(path, "wb") as f:
            for host, keys in info["keys"].items():
                key = keys["read_key"]
                head = daemon.query(key, f"SELECT * FROM {table} LIMIT 1")
                schema[table] = [(c["name"], c["type"]) for c in head["columns"]]
                span = daemon.query(key, f"SELECT min({time_col}), max({time_col}), count() "
                                         f"FROM {table}")["rows"][0]
                if span[2] == 0:
                    continue
                day = dt.date.fromisoformat(span[0][:10])
                last = dt.date.fromisoformat(span[1][:10])
                while day <= last:
                    nxt = day + dt.timedelta(days=1)
                    data = daemon.query(
                        key, f"SELECT * FROM {table} WHERE {time_col} >= '{day}' AND "
                             f"{time_col} < '{nxt}'", csv_format=True)
                    header, _, body = data.partition(b"\r\n")
                    if f.tell() == 0:
                        f.write(header + b"\r\n")
                    f.write(body)
                    day = nxt
                counts[f"{table}/{host}"] = span[2]
        log(f"exported {table}: {sum(v for k, v in counts.items() if k.startswith(table))} rows")
    result = {"schema": schema, "counts": counts}
    marker.write_text(json.dumps(result, indent=1))
    return result


def load_duckdb(exported: dict, out: Path) -> tuple[Path, dict]:
    db = out / "peers.duckdb"
    parquet = {t: out / f"{t}.parquet" for t in ("events", "sessions")}
    if not db.exists():
        tmp = out / "peers.duckdb.tmp"
        tmp.unlink(missing_ok=True)
        con = duckdb.connect(str(tmp))
        for table, time_col in (("events", "ts"), ("sessions", "start")):
            columns = ", ".join(f"'{n}': '{DUCK_TYPES[t]}'" for n, t in exported["schema"][table])
            con.execute(
                f"CREATE TABLE {table} AS SELECT * FROM read_csv('{out / (table + '.csv')}', "
                f"header = true, columns = {{{columns}}}, quote = '\"', escape = '\"', "
                f"nullstr = '', allow_quoted_nulls = false, timestampformat = '%Y-%m-%d %H:%M:%S.%f') "
                f"ORDER BY site, {time_col}")
            con.execute(f"COPY {table} TO '{parquet[table]}' "
                        "(FORMAT parquet, COMPRESSION zstd)")
        con.execute("CHECKPOINT")
        con.close()
        tmp.rename(db)
    return db, parquet


def load_chdb(exported: dict, parquet: dict, out: Path):
    path = out / "chdb"
    done = out / "chdb.done"
    if not done.exists():
        if path.exists():
            shutil.rmtree(path)
        sess = chdb_session.Session(str(path))
        for table, order in (("events", "site, ts"), ("sessions", "site, start")):
            cols = ", ".join(f"`{n}` {ch_type(n, t)}" for n, t in exported["schema"][table])
            sess.query(f"CREATE TABLE {table} ({cols}) ENGINE = MergeTree ORDER BY ({order})")
            sess.query(f"INSERT INTO {table} SELECT * FROM file('{parquet[table]}', Parquet)")
            sess.query(f"OPTIMIZE TABLE {table} FINAL")
        sess.close()
        done.write_text("ok")
    return chdb_session.Session(str(path)), path


# ---------------------------------------------------------------- running and checking


def norm(value):
    """A value in one canonical form: times as text, `.000000` dropped, decimals as floats."""
    if isinstance(value, dt.datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        return text + (f".{value.microsecond:06d}" if value.microsecond else "")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and len(value) == 26 and value[4] == "-" and value[19] == ".":
        return value[:19] if value.endswith(".000000") else value
    if hasattr(value, "as_integer_ratio") and not isinstance(value, (int, float)):
        return float(value)  # Decimal
    return value


def same(a, b, approx: bool) -> bool:
    if a is None or b is None:
        return a is b
    if approx:
        return abs(a - b) <= UNIQ_TOLERANCE * max(abs(b), 1)
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1)
    return a == b


def agree(rows, expected, approx_cols) -> str | None:
    """None when `rows` equals `expected` (approximate columns within UNIQ_TOLERANCE)."""
    if len(rows) != len(expected):
        return f"{len(rows)} rows, expected {len(expected)}"
    for i, (row, want) in enumerate(zip(rows, expected)):
        if len(row) != len(want):
            return f"row {i}: {len(row)} columns, expected {len(want)}"
        for j, (a, b) in enumerate(zip(row, want)):
            if not same(norm(a), norm(b), j in approx_cols):
                return f"row {i} column {j}: {a!r}, expected {b!r}"
    return None


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, (time.perf_counter() - started) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5, help="timed rounds after one warm-up")
    parser.add_argument("--bins", type=Path, required=True, help="dir of the release binaries")
    parser.add_argument("--workdir", type=Path, default=REPO / "target" / "compare")
    parser.add_argument("--label", default="",
                        help="a note on the binaries, printed above the table")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()

    data = args.workdir / f"events{args.events}-seed{args.seed}"
    info = make_dataset(args, args.bins, data)
    store = data / "ecomdash"
    daemon = Daemon(args.bins, store)
    try:
        report = compare(args, info, daemon, data, store)
    finally:
        daemon.stop()
    out = json.dumps(report, indent=1, default=str)
    (args.workdir / "results.json").write_text(out)
    table = markdown(report)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


def compare(args, info, daemon, data, store):
    exported = export(daemon, info, data / "export")
    db_path, parquet = load_duckdb(exported, data / "export")
    duck = duckdb.connect(str(db_path), read_only=True)
    ch, ch_path = load_chdb(exported, parquet, data / "export")

    site = SITE_HOST.format(1)
    key = info["keys"][site]["read_key"]
    total_events = duck.execute("SELECT count(*) FROM events").fetchone()[0]
    site_events = duck.execute("SELECT count(*) FROM events WHERE site = ?", [site]).fetchone()[0]
    ours = sum(v for k, v in exported["counts"].items() if k.startswith("events/"))
    if total_events != ours:
        raise SystemExit(f"DuckDB holds {total_events} events, EcomDash {ours}")
    ch_events = int(ch.query("SELECT count() FROM events", "CSV").bytes().strip())
    if ch_events != ours:
        raise SystemExit(f"chDB holds {ch_events} events, EcomDash {ours}")
    first, last = duck.execute(
        "SELECT min(ts)::DATE, max(ts)::DATE FROM events WHERE site = ?", [site]).fetchone()
    end = min(last, first + dt.timedelta(days=DAYS - 1)) + dt.timedelta(days=1)
    one_day = end - dt.timedelta(days=2)
    visitor = duck.execute(
        "SELECT visitor_id FROM events WHERE site = ? GROUP BY visitor_id "
        "ORDER BY count(*) DESC, visitor_id LIMIT 1", [site]).fetchone()[0]
    queries = query_set(site, str(first), str(end), str(one_day),
                        str(one_day + dt.timedelta(days=1)), visitor)
    summary_path = (f"/api/v1/analytics/summary?site={site}&from={first}"
                    f"&to={end - dt.timedelta(days=1)}")
    # The daemon's first summary, before any query: its block cache holds nothing of these
    # columns yet (unless this run also exported the rows).
    _, summary_first_ms = timed(lambda: daemon.request("GET", summary_path, key))

    def run_ecomdash(q):
        result = daemon.query(key, q.ecomdash)
        return [tuple(r) for r in result["rows"]], result["stats"]

    def run_duckdb(q):
        return duck.execute(q.duckdb).fetchall()

    def run_chdb(q):
        text = ch.query(q.chdb + " SETTINGS output_format_json_quote_64bit_integers = 0, "
                        "output_format_json_quote_decimals = 0", "JSONCompact").bytes()
        return [tuple(r) for r in json.loads(text)["data"]]

    results = []
    for q in queries:
        log(f"query: {q.name}")
        expected = run_duckdb(q)
        reference = duck.execute(q.reference).fetchall() if q.reference else expected
        approx = set(q.approx)
        checks = {}
        (ours_rows, stats), first_ms = timed(lambda: run_ecomdash(q))
        ch_rows = run_chdb(q)
        checks["ecomdash"] = agree(ours_rows, reference, approx)
        checks["duckdb"] = agree(expected, reference, approx)
        checks["chdb"] = agree(ch_rows, reference, approx)
        times = {"ecomdash": [], "ecomdash_engine": [], "duckdb": [], "chdb": []}
        for _ in range(args.reps):
            (rows, stats), ms = timed(lambda: run_ecomdash(q))
            times["ecomdash"].append(ms)
            times["ecomdash_engine"].append(stats["elapsed_ms"])
            _, ms = timed(lambda: run_duckdb(q))
            times["duckdb"].append(ms)
            _, ms = timed(lambda: run_chdb(q))
            times["chdb"].append(ms)
        medians = {k: statistics.median(v) for k, v in times.items()}
        results.append({"name": q.name, "rows": len(reference), "checks": checks,
                        "first_ms": first_ms, "median_ms": medians, "stats": stats, "times_ms": times,
                        "sql": {"ecomdash": q.ecomdash, "duckdb": q.duckdb, "chdb": q.chdb},
                        "notes": q.notes})
        for system, problem in checks.items():
            if problem:
                log(f"  MISMATCH {system}: {problem}")
        log(f"  ecomdash {medians['ecomdash']:.1f} ms (engine {medians['ecomdash_engine']:.0f}),"
            f" duckdb {medians['duckdb']:.1f} ms, chdb {medians['chdb']:.1f} ms")

    daemon.request("GET", summary_path, key)
    summary_ms = [timed(lambda: daemon.request("GET", summary_path, key))[1]
                  for _ in range(args.reps)]

    duck.close()
    ch.close()
    sizes = {
        "ecomdash_store": dir_bytes(store / "store"),
        "duckdb_file": db_path.stat().st_size,
        "parquet_zstd": sum(p.stat().st_size for p in parquet.values()),
        "chdb_dir": dir_bytes(ch_path / "store") if (ch_path / "store").exists()
        else dir_bytes(ch_path),
    }
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True).stdout.strip(),
        "loadavg_after": os.getloadavg(),
        "events": total_events, "site": site, "site_events": site_events,
        "days": f"{first} .. {end - dt.timedelta(days=1)}",
        "reps": args.reps, "versions": {"duckdb": duckdb.__version__,
                                        "chdb": chdb.__version__},
        "dataset": info, "queries": results,
        "summary_ms": {"median": statistics.median(summary_ms), "all": summary_ms,
                       "first": summary_first_ms},
        "label": args.label,
        "sizes": sizes,
        "bytes_per_event": {k: round(v / total_events, 1) for k, v in sizes.items()},
    }


def markdown(report) -> str:
    lines = [
        f"{report['events']:,} events ({report['site_events']:,} of {report['site']}, "
        f"queried), days {report['days']}; DuckDB {report['versions']['duckdb']}, "
        f"chDB {report['versions']['chdb']}; median of {report['reps']} runs after a warm-up; "
        f"load average after the run {', '.join(f'{x:.1f}' for x in report['loadavg_after'])}",
        "",
        (f"{report['label']}; " if report.get("label") else "")
        + "first call = the query's first (unmeasured) run, after the queries above it",
        "",
        "| query | rows | EcomDash HTTP ms | (engine ms) | EcomDash first call ms | DuckDB ms "
        "| chDB ms | EcomDash / faster peer | results |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["queries"]:
        m = r["median_ms"]
        peer = min(m["duckdb"], m["chdb"])
        ok = "agree" if not any(r["checks"].values()) else "MISMATCH: " + "; ".join(
            f"{k}: {v}" for k, v in r["checks"].items() if v)
        lines.append(
            f"| {r['name']} | {r['rows']} | {m['ecomdash']:.1f} | ({m['ecomdash_engine']:.0f}) "
            f"| {r['first_ms']:.1f} | {m['duckdb']:.1f} | {m['chdb']:.1f} | **{m['ecomdash'] / peer:.2f}** | {ok} |")
    lines += [
        "",
        f"Summary API (`GET /api/v1/analytics/summary`, {report['site']}, {report['days']}): "
        f"median {report['summary_ms']['median']:.1f} ms; the daemon's first call, before "
        f"any query: {report['summary_ms']['first']:.1f} ms.",
        "",
        "| bytes on disk per event | EcomDash store | DuckDB file | Parquet (zstd) | chDB dir |",
        "|---|---|---|---|---|",
        "| both tables / events | " + " | ".join(
            str(report["bytes_per_event"][k])
            for k in ("ecomdash_store", "duckdb_file", "parquet_zstd", "chdb_dir")) + " |",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
