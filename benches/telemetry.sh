#!/usr/bin/env bash
# Telemetry benchmarks (issue 3):
#   1. criterion: the SQLite sink's export of one run with three match events (P50, P95);
#   2. hyperfine: a whole `earlyexit -A 0 X -- true` with SQLite on against `--no-telemetry`,
#      then the same with the two interleaved run by run (benches/interleaved.py), which
#      drift on this virtual machine cannot bias.
# Usage: benches/telemetry.sh [RESULTS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh

cargo bench --quiet --bench sqlite_sink 2>/dev/null | grep -E "^sqlite sink|time:" || true

home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
HOME=$home hyperfine --style basic -i -N --warmup 50 --runs 1000 --export-json "$results/telemetry-overhead.json" \
    "$ee -A 0 X -- true" \
    "$ee --no-telemetry -A 0 X -- true" >/dev/null
python3 - "$results/telemetry-overhead.json" <<'PY'
import json, statistics, sys
res = json.load(open(sys.argv[1]))["results"]
for r in res:
    t = r["times"]
    print("%-55s median %6.3f ms  min %6.3f  max %6.3f  stddev %5.3f  (n=%d)" % (
        r["command"].split("/")[-1][:55], statistics.median(t) * 1e3, min(t) * 1e3, max(t) * 1e3,
        statistics.stdev(t) * 1e3, len(t)))
a, b = (statistics.median(r["times"]) for r in res)
mean_a, mean_b = (statistics.mean(r["times"]) for r in res)
print("  added by SQLite telemetry: %+.3f ms (median), %+.3f ms (mean)" % ((a - b) * 1e3, (mean_a - mean_b) * 1e3))
PY
benches/interleaved.py 2000 "shipped=$ee"
echo "rows written: $(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from executions').fetchone()[0])" "$home/.earlyexit/telemetry.db")"
