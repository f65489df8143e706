#!/usr/bin/env bash
# Makes examples/report.html (and, with Chromium, examples/report.png) from real runs in a
# fresh HOME: the runs of the report test (a command that completes in 2 s three times and is
# stopped at 0.3 s twice, one with too few complete runs, a timeout), a failing build, a few
# more matches, and CI runs on two branches where one test suite both passed and failed on
# the same commit (flaky).
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
suite='if [ -e "$HOME/fail" ]; then echo "FAIL src/login.test.js: expected 200, got 500"; fi; echo done'
ci() {
    if [ "$3" = fail ]; then touch "$HOME/fail"; else rm -f "$HOME/fail"; fi
    GITHUB_ACTIONS=true GITHUB_REF_NAME=$1 GITHUB_SHA=$2 GITHUB_REPOSITORY=team/app \
        GITHUB_SERVER_URL=https://github.example "$ee" -q -A 0 FAIL -- sh -c "$suite" || true
}
ci main 4f1c2e9 fail
ci main 4f1c2e9 pass
ci main 9a0b7d3 pass
ci feature/login 77e01aa fail
ci feature/login 77e01aa fail
ci feature/login 5c3d9b1 pass
"$ee" telemetry report --since 7d -o examples/report.html
if command -v chromium >/dev/null; then
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
        --user-data-dir="$HOME/chromium" --window-size=1280,4200 \
        --screenshot="$PWD/examples/report.png" "file://$PWD/examples/report.html" 2>/dev/null
fi
