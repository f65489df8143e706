#!/usr/bin/env bash
# The ratios of issue 14 in one run (see benches/ratios.py): builds the shipped binary and a
# 100 MB build log, then runs the interleaved measurement.
# Usage: benches/ratios.sh [RUNS] [THROUGHPUT_RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/shipped-build.sh
log=target/bench-results/build-100mb.log
mkdir -p target/bench-results
[ -s "$log" ] || python3 benches/make-log.py "$log"
python3 benches/ratios.py "$ee" "$log" "$@"
