#!/usr/bin/env bash
# Makes the team server's report over 100,000 runs from 20 machines: starts `earlyexit serve`
# on a SQLite team store in a fresh HOME, sends the runs through its HTTP API (100 requests of
# 1,000 runs: 20 runners, 40 commands, every outcome, 25 days), and saves the page at / as
# OUTPUT_DIR/team-report.html (and, with Chromium, OUTPUT_DIR/team-report.png).
# Usage: examples/make-team-report.sh [EARLYEXIT] [OUTPUT_DIR]   (default: target/debug/earlyexit, examples)
set -euo pipefail
cd "$(dirname "$0")/.."
ee=${1:-target/debug/earlyexit}
out=${2:-examples}
[ -x "$ee" ] || cargo build --quiet --bin earlyexit
mkdir -p "$out"
export HOME
HOME=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$HOME"' EXIT
write=$("$ee" serve keys add runners 2>/dev/null)
read=$("$ee" serve keys add dashboard --role read 2>/dev/null)
"$ee" serve --listen 127.0.0.1:0 >"$HOME/serve.out" 2>/dev/null &
server=$!
until grep -q listening "$HOME/serve.out" 2>/dev/null; do sleep 0.05; done
url=$(sed 's/listening on //' "$HOME/serve.out")
examples/send-team-runs.py "$url" "$write" 100000
python3 - "$url" "$read" "$out/team-report.html" <<'PY'
import sys, time, urllib.request
url, read, page = sys.argv[1:4]
started = time.time()
request = urllib.request.Request(url + "/?since=30d", headers={"Authorization": "Bearer " + read})
html = urllib.request.urlopen(request, timeout=60).read()
print("the page: %d bytes in %.2f s" % (len(html), time.time() - started))
open(page, "wb").write(html)
PY
if command -v chromium >/dev/null; then
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
        --user-data-dir="$HOME/chromium" --window-size=1280,4600 \
        --screenshot="$(realpath "$out")/team-report.png" "file://$(realpath "$out")/team-report.html" 2>/dev/null
fi
