#!/usr/bin/env bash
# Wrapper benchmarks (issue 2), with hyperfine:
#   1. throughput: `earlyexit NEVERMATCH -- cat FILE` on a 100 MB log, output to /dev/null,
#      against the pipeline it replaces, `cat FILE | tee /dev/null | grep -m1 NEVERMATCH`;
#   2. overhead per run: `earlyexit -A 0 X -- true` against `true` alone.
# Telemetry is off here (--no-telemetry): these figures are the wrapper's; benches/telemetry.sh
# measures what telemetry adds.
# Prints each command's median and spread (min..max, stddev) and the ratios.
# Usage: benches/wrapper.sh [RESULTS_DIR]   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
# For comparison: the default build, dynamically linked, as plain `cargo install` makes it.
cargo build --release --quiet --bin earlyexit
ee_dynamic=$PWD/target/release/earlyexit

log=$results/build-100mb.log
[ -s "$log" ] || python3 benches/make-log.py "$log"

summarise() {
    python3 - "$@" <<'PY'
import json, statistics, sys
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        t = r["times"]
        print("%-70s median %8.2f ms  min %8.2f  max %8.2f  stddev %6.2f  (n=%d)" % (
            r["command"][:70], statistics.median(t) * 1e3, min(t) * 1e3, max(t) * 1e3,
            statistics.stdev(t) * 1e3, len(t)))
    res = json.load(open(path))["results"]
    if len(res) == 2:
        a, b = (statistics.median(r["times"]) for r in res)
        print("  ratio first/second: %.3f   difference: %+.3f ms" % (a / b, (a - b) * 1e3))
PY
}

hyperfine --style basic -i --warmup 3 --runs 20 --export-json "$results/throughput.json" \
    "$ee --no-telemetry NEVERMATCH -- cat $log > /dev/null" \
    "cat $log | tee /dev/null | grep -m1 NEVERMATCH" >/dev/null
hyperfine --style basic -i -N --warmup 100 --runs 2000 --export-json "$results/overhead.json" \
    "$ee --no-telemetry -A 0 X -- true" \
    "true" >/dev/null
hyperfine --style basic -i -N --warmup 100 --runs 2000 --export-json "$results/overhead-dynamic.json" \
    "$ee_dynamic --no-telemetry -A 0 X -- true" \
    "true" >/dev/null
hyperfine --style basic -i -N --warmup 50 --runs 1000 --export-json "$results/overhead-timeout.json" \
    "timeout 10 true" \
    "true" >/dev/null
echo "== throughput (100 MB log)"; summarise "$results/throughput.json"
echo "== overhead per run, the build the README installs"; summarise "$results/overhead.json"
echo "== overhead per run, default dynamic build"; summarise "$results/overhead-dynamic.json"
echo "== reference: GNU timeout, the smallest possible fork+exec wrapper"; summarise "$results/overhead-timeout.json"
