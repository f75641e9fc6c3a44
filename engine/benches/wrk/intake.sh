#!/bin/bash
# The HTTP intake benchmark of docs/benchmarks.md ("Engine: HTTP intake"): the two baselines
# (examples/intake_baseline.rs: bare 204, serde_json parse 204) and the daemon (fsync
# durability, rate limit lifted), one after the other with the same wrk script and bodies.
#
#   cargo build --release -p ecomdash-engine --bins --examples
#   engine/benches/wrk/intake.sh shared 64 event batch     # everything on both cores
#   engine/benches/wrk/intake.sh pinned 64 event batch     # server on core 0, wrk on core 1
set -u
SETUP=$1; C=$2; shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
R=${CARGO_TARGET_DIR:-$HERE/../../../target}/release
export BODY_DIR=$HERE
DATA=$(mktemp -d)
trap 'rm -rf "$DATA"' EXIT
if [ "$SETUP" = pinned ]; then SRV="taskset -c 0"; LOAD="taskset -c 1 wrk -t1"; else SRV=""; LOAD="wrk -t2"; fi
run() { # server kind port
  out=$($LOAD -c"$C" -d10s --latency -s "$HERE/$2.lua" "http://127.0.0.1:$3" 2>&1)
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}'); p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  echo "$SETUP c=$C $1 $2 req/s=$rps p50=$p50 p99=$p99 non2xx=${non2:-0} load=$(cut -d' ' -f1 /proc/loadavg)"
}
for mode in bare parse; do
  $SRV "$R/examples/intake_baseline" $mode 127.0.0.1:8101 >/dev/null 2>&1 & pid=$!
  sleep 0.5
  for k in "$@"; do run $mode "$k" 8101; done
  kill $pid; wait $pid 2>/dev/null
done
"$R/ecomdash" site add shop.example --data-dir "$DATA/d" > "$DATA/keys.json" 2>/dev/null
WRITE_KEY=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['write_key'])" "$DATA/keys.json")
export WRITE_KEY
ECOMDASH_QUIC=off ECOMDASH_LOG=warn ECOMDASH_SITE_EVENTS_PER_SECOND=100000000 \
  ECOMDASH_SITE_BURST_EVENTS=100000000 \
  $SRV "$R/ecomdash" serve --data-dir "$DATA/d" --http 127.0.0.1:8102 >"$DATA/log" 2>&1 & pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null 127.0.0.1:8102/healthz && break; sleep 0.1; done
for k in "$@"; do run ecomdash "$k" 8102; done
curl -s 127.0.0.1:8102/metrics | grep -E "^ecomdash_wal_fsync_avg|^ecomdash_events_accepted" | tr '\n' ' '; echo
kill -TERM $pid; wait $pid 2>/dev/null
