"""Same-run baseline for `ecomdash import` (issue #3): DuckDB loading the same NDJSON file.

    python benches/compare/import_baseline.py FILE.ndjson

Times `CREATE TABLE events AS SELECT * FROM read_json_auto(FILE)` and a `CHECKPOINT` in a fresh
database file, and prints rows/s. Run it alternately with `ecomdash import FILE --site ...` into
a fresh data dir (docs/benchmarks.md, "Fifth session"). DuckDB comes from requirements.txt.
"""

import os
import sys
import tempfile
import time

import duckdb


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: import_baseline.py FILE.ndjson")
    path = os.path.abspath(sys.argv[1])
    if not os.path.isfile(path):
        sys.exit(f"import_baseline.py: no such file: {path}")
    with tempfile.TemporaryDirectory() as work:
        con = duckdb.connect(os.path.join(work, "db.duckdb"))
        started = time.perf_counter()
        con.execute(
            "CREATE TABLE events AS SELECT * FROM read_json_auto(?, format = 'newline_delimited')",
            [path],
        )
        rows = con.execute("SELECT count(*) FROM events").fetchone()[0]
        con.execute("CHECKPOINT")
        elapsed = time.perf_counter() - started
        con.close()
    print(f"duckdb {duckdb.__version__}: {rows} rows in {elapsed:.2f} s ({rows / elapsed:.0f} rows/s)")


if __name__ == "__main__":
    main()
