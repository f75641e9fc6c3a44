#!/usr/bin/env bash
# EcomDash against DuckDB and chDB on the same 10 million events (issue #4), in one command:
#   bash benches/compare/run.sh                 # full size: 10,000,000 events
#   bash benches/compare/run.sh --events 300000 # a quick run
# Builds the release binaries, installs the pinned peers from PyPI into a virtualenv, and runs
# compare.py (see its --help). The dataset and the loaded peers are kept in the work dir
# (default target/compare) and reused by the next run of the same size and seed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
venv="${COMPARE_VENV:-$repo/target/compare/venv}"

(cd "$repo" && cargo build --release -p ecomdash-engine -p ecomdash-loadtest)
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/requirements.txt"
fi
exec "$venv/bin/python" "$here/compare.py" --bins "$target/release" "$@"
