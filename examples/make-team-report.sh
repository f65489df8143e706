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
python3 - "$url" "$write" "$read" "$out/team-report.html" <<'PY'
import hashlib, json, random, sys, time, urllib.request
url, write, read, page = sys.argv[1:5]
random.seed(22)
now = time.time()
outcomes = [("success", "no_match", False), ("stopped_on_success", "match", True),
            ("failure", "error_pattern", True), ("failure", "no_match", False),
            ("timeout", "timeout", True), ("success", "no_match", False), ("cancelled", "interrupted", True),
            ("lost", "lost", False)]
commands = ["cargo test", "cargo build --release", "npm test", "npm run lint", "pytest -x",
            "go test ./...", "make check", "mvn verify"]
for batch in range(100):
    events = []
    for n in range(batch * 1000, batch * 1000 + 1000):
        machine = n % 20
        command = commands[n % 37 % len(commands)] + ("" if n % 5 else " --all")
        outcome, reason, stopped = random.choice(outcomes)
        runtime = random.uniform(0.3, 4.0) if stopped else random.uniform(2.0, 90.0)
        started = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now - random.uniform(0, 25 * 86400)))
        execution_id = "%08x-%04x-%04x-%04x-%012x" % (n, machine, 0x4000, 0x8000, random.getrandbits(48))
        matched = reason in ("match", "error_pattern")
        events.append({"type": "execution", "data": {
            "execution_id": execution_id, "timestamp": started,
            "trace_id": "%032x" % random.getrandbits(128), "span_id": "%016x" % random.getrandbits(64),
            "command_hash": hashlib.sha256(command.encode()).hexdigest(), "executable": command.split()[0],
            "command": command, "pattern": "error|FAIL", "exit_code": 0, "exit_reason": reason,
            "outcome": outcome, "stopped_command": stopped, "total_runtime": runtime,
            "time_to_first_match": runtime * 0.8 if matched else None, "match_count": 1 if matched else 0,
            "project_type": command.split()[0], "command_category": "test",
            "ci_system": "github_actions", "task_name": "runner-%02d" % machine,
            "pipeline_run_id": str(1000 + n // 50), "vcs_ref": ["main", "feature/login", "release"][n % 3],
            "vcs_revision": "%07x" % (n // 40), "vcs_repository_url": "https://github.example/team/app",
            "anonymized": False}})
        if matched:
            events.append({"type": "match_event", "data": {
                "execution_id": execution_id, "match_number": 1, "timestamp_offset": runtime * 0.8,
                "stream_source": "stderr", "line_number": 40 + n % 60,
                "line_content": "FAIL src/login.test.js: expected 200, got 500" if n % 2 else "error[E0308]: mismatched types"}})
    body = json.dumps({"api_version": "1.0", "events": events}).encode()
    request = urllib.request.Request(url + "/api/v1/events", body,
                                     {"Content-Type": "application/json", "X-API-Key": write})
    urllib.request.urlopen(request, timeout=60).read()
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
