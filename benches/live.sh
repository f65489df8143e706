#!/usr/bin/env bash
# Issue 21's latencies (benches/live-latency.py) with the shipped binary.
# Usage: benches/live.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/shipped-build.sh
python3 benches/live-latency.py "$ee" "$@"
