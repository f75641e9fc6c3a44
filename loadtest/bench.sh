#!/usr/bin/env bash
# Standard load scenarios against the bare axum 204 server, the parse-only server and the real
# daemon, in one run, and a table of the ratios.
#
#   loadtest/bench.sh                 # server on core 0, load generator on core 1
#   PIN=0 loadtest/bench.sh           # everything shares all cores
#   DURATION=30s CONNECTIONS=64 loadtest/bench.sh
#
# Scenarios per server: single events closed loop; batches of 100 closed loop; single events open
# loop at 50% of the closed-loop maximum measured just before (for latency). Reports land in
# $OUT (default target/loadtest-bench) as JSON, one file per server and scenario.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
PIN=${PIN:-1}
OUT=${OUT:-target/loadtest-bench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release

cargo build --release -p ecomdash-engine -p ecomdash-loadtest --bins --example baseline >&2
mkdir -p "$OUT"

server_cpu=() client_cpu=()
if [[ $PIN == 1 ]]; then
    server_cpu=(taskset -c 0)
    client_cpu=(taskset -c 1)
fi

pids=()
data=$(mktemp -d)
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$data"
}
trap cleanup EXIT

wait_for_port() { # poll until something accepts on 127.0.0.1:$1 (at most 30 s)
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# run NAME PORT [loadtest flags...]: one scenario, report in $OUT/NAME.json
run() {
    local name=$1 port=$2
    shift 2
    echo "== $name" >&2
    "${client_cpu[@]}" "$BIN/ecomdash-loadtest" --target "http://127.0.0.1:$port" \
        --duration "$DURATION" --connections "$CONNECTIONS" --quiet --json "$OUT/$name.json" "$@"
}

acked_rate() { python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["acked_events_per_s"]))' "$1"; }

scenarios() { # scenarios SERVER PORT [flags for every scenario...]
    local server=$1 port=$2
    shift 2
    run "$server-single" "$port" "$@"
    run "$server-batch100" "$port" --batch 100 "$@"
    local half=$(( $(acked_rate "$OUT/$server-single.json") / 2 ))
    run "$server-open50" "$port" --rate "$(( half > 0 ? half : 1 ))" "$@"
}

# 1. bare axum: drain the body, 204
"${server_cpu[@]}" "$BIN/examples/baseline" --addr 127.0.0.1:18101 &
pids+=($!)
wait_for_port 18101
scenarios bare 18101

# 2. parse-only: serde_json into the wire event struct, 204
"${server_cpu[@]}" "$BIN/examples/baseline" --addr 127.0.0.1:18102 --parse &
pids+=($!)
wait_for_port 18102
scenarios parse 18102

# 3. the daemon, default durability, three sites
keys=()
for site in shop1.loadtest.example shop2.loadtest.example shop3.loadtest.example; do
    key=$("$BIN/ecomdash" site add "$site" --data-dir "$data" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["write_key"])')
    keys+=("$key")
done
"${server_cpu[@]}" "$BIN/ecomdash" serve --data-dir "$data" --http 127.0.0.1:18103 >"$OUT/daemon.log" 2>&1 &
pids+=($!)
wait_for_port 18103
scenarios daemon 18103 --key "$(IFS=,; echo "${keys[*]}")"

python3 - "$OUT" <<'EOF'
import json, os, sys
out = sys.argv[1]
def load(name):
    with open(os.path.join(out, name + ".json")) as f:
        return json.load(f)
rows = []
for scenario in ["single", "batch100", "open50"]:
    bare, parse, daemon = (load(f"{s}-{scenario}") for s in ["bare", "parse", "daemon"])
    for name, r in [("bare", bare), ("parse", parse), ("daemon", daemon)]:
        lat = r["latency_ms"]
        rows.append((scenario, name, r["requests_per_s"], r["acked_events_per_s"], lat["p50"], lat["p99"],
                     r["acked_events_per_s"] / max(bare["acked_events_per_s"], 1e-9),
                     r["acked_events_per_s"] / max(parse["acked_events_per_s"], 1e-9),
                     sum(v for k, v in r["status_counts"].items() if not k.startswith("2")) + r["transport_errors"]))
print("| scenario | server | requests/s | acked events/s | p50 ms | p99 ms | vs bare | vs parse | errors |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for row in rows:
    print("| {} | {} | {:.0f} | {:.0f} | {:.3f} | {:.3f} | {:.0%} | {:.0%} | {} |".format(*row))
EOF
