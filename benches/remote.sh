#!/usr/bin/env bash
# Remote telemetry benchmarks (issue 4), with hyperfine against `earlyexit serve` on
# loopback: time added at exit by the http backend compared with --no-telemetry, and the
# deadline cases (endpoint refusing connections, fire_and_forget to an endpoint that never
# answers).
# Usage: benches/remote.sh [RESULTS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

start_receiver receiver
refused="http://127.0.0.1:$(free_port)/api/v1/events"
start_silent_server
silent="http://127.0.0.1:$silent_port/api/v1/events"

export HOME=$work EARLYEXIT_TELEMETRY_API_KEY=bench-key-0123456789
run() { hyperfine --style basic -i -N --warmup 20 --runs "$1" --export-json "$results/$2.json" "${@:3}" >/dev/null; }
run 300 remote-http \
    "env EARLYEXIT_TELEMETRY_ENDPOINT=$url $ee --telemetry-backend http -A 0 X -- true" \
    "env EARLYEXIT_TELEMETRY_ENDPOINT=$url $ee --no-telemetry -A 0 X -- true"
run 100 remote-refused \
    "env EARLYEXIT_TELEMETRY_ENDPOINT=$refused $ee --telemetry-backend http -A 0 X -- true" \
    "env EARLYEXIT_TELEMETRY_ENDPOINT=$refused $ee --no-telemetry -A 0 X -- true"
run 100 remote-fire-and-forget \
    "env EARLYEXIT_TELEMETRY_ENDPOINT=$silent EARLYEXIT_TELEMETRY_HTTP_FIRE_AND_FORGET=true $ee --telemetry-backend http -A 0 X -- true" \
    "env EARLYEXIT_TELEMETRY_ENDPOINT=$silent $ee --no-telemetry -A 0 X -- true"
hyperfine --style basic -i -N --runs 5 --export-json "$results/remote-silent.json" \
    "env EARLYEXIT_TELEMETRY_ENDPOINT=$silent $ee --telemetry-backend http -A 0 X -- true" \
    "env EARLYEXIT_TELEMETRY_ENDPOINT=$silent $ee --no-telemetry -A 0 X -- true" >/dev/null

python3 - "$results" <<'PY'
import json, statistics, sys
for name, label in [("remote-http", "http backend, receiver on loopback"),
                    ("remote-refused", "endpoint refusing connections"),
                    ("remote-fire-and-forget", "fire_and_forget, endpoint never answers"),
                    ("remote-silent", "endpoint never answers (timeout 2s)")]:
    res = json.load(open(f"{sys.argv[1]}/{name}.json"))["results"]
    (a, b) = (r["times"] for r in res)
    print("%-42s %7.2f ms (min %6.2f, max %7.2f, sd %5.2f) vs %5.2f ms: added %+7.2f ms median (n=%d)" % (
        label, statistics.median(a) * 1e3, min(a) * 1e3, max(a) * 1e3, statistics.stdev(a) * 1e3,
        statistics.median(b) * 1e3, (statistics.median(a) - statistics.median(b)) * 1e3, len(a)))
PY
echo "executions at the receiver: $(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from executions').fetchone()[0])" "$work/receiver.db")"
