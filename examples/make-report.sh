#!/usr/bin/env bash
# Makes examples/report.html from real runs in a fresh HOME: the runs of the report test
# (a command that completes in 2 s three times and is stopped at 0.3 s twice, one with too few
# complete runs, a timeout) plus a failing build and a few more matches.
# Usage: examples/make-report.sh [EARLYEXIT]   (default: target/debug/earlyexit)
set -euo pipefail
cd "$(dirname "$0")/.."
ee=${1:-target/debug/earlyexit}
[ -x "$ee" ] || cargo build --quiet --bin earlyexit
export HOME
HOME=$(mktemp -d)
trap 'rm -rf "$HOME"' EXIT
slow='echo start; sleep 0.3; echo Error; sleep 1.7; echo done'
few='sleep 0.2; echo Error; sleep 1'
runs=(
    "NEVER -- sh -c '$slow'" "NEVER -- sh -c '$slow'" "NEVER -- sh -c '$slow'"
    "-A 0 Error -- sh -c '$slow'" "-A 0 Error -- sh -c '$slow'"
    "NEVER -- sh -c '$few'" "-A 0 Error -- sh -c '$few'"
    "-t 0.4 -- sh -c 'sleep 5'"
    "-e 'error:' NEVER -- sh -c 'echo compiling; sleep 0.1; echo error: mismatched types; exit 1'"
    "NEVER -- sh -c 'echo tests; exit 2'"
    "-A 0 -m 3 'panicked|FAILED' -- sh -c 'echo FAILED a; echo FAILED b; echo panicked c'"
)
pids=()
for run in "${runs[@]}"; do
    eval "\"$ee\" -q $run" &
    pids+=($!)
done
wait "${pids[@]}" || true
"$ee" telemetry report --since 7d -o examples/report.html
