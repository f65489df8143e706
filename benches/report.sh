#!/usr/bin/env bash
# `telemetry stats` and `telemetry report` over 100,000 runs (issue 13): hyperfine, 10 runs
# each, and the report's size. The database is made by a real run (its schema) and filled
# with 100,000 rows spread over 30 days, 200 commands and every outcome.
# Usage: benches/report.sh [RESULTS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
export HOME
HOME=$(mktemp -d)
trap 'rm -rf "$HOME"' EXIT
"$ee" -q -- true
python3 - "$HOME/.earlyexit/telemetry.db" <<'PY'
import random, sqlite3, sys, time, uuid
random.seed(7)
db = sqlite3.connect(sys.argv[1])
now = time.time()
reasons = ["match", "no_match", "error_pattern", "timeout", "match", "no_match"]
rows, matches = [], []
for n in range(100_000):
    command = n % 200
    reason = reasons[n % len(reasons)]
    stopped = reason in ("match", "error_pattern", "timeout") and n % 3 != 0
    runtime = random.uniform(0.2, 2.0) if stopped else random.uniform(1.5, 30.0)
    started = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now - random.uniform(0, 30 * 86400)))
    execution_id = str(uuid.UUID(int=random.getrandbits(128)))
    count = 1 if reason in ("match", "error_pattern") else 0
    rows.append((execution_id, started, "t", "s", "%064x" % command, "cmd%d" % (command % 7),
                 "Error|FAILED" if command % 2 else "panicked", 0, reason,
                 1 if reason == "no_match" and n % 5 == 0 else 0, runtime,
                 runtime / 2 if count else None, count, 10, 100, "rust", "test", 0,
                 "cmd%d --flag %d" % (command % 7, command), int(stopped)))
    if count:
        matches.append((execution_id, 1, runtime / 2, "stdout", 3, "pattern"))
db.executemany("""INSERT INTO executions (execution_id, timestamp, trace_id, span_id, command_hash,
    executable, pattern, exit_code, exit_reason, command_exit_code, total_runtime, time_to_first_match,
    match_count, lines_processed, bytes_processed, project_type, command_category, anonymized, command,
    stopped_command) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""", rows)
db.executemany("""INSERT INTO match_events (execution_id, match_number, timestamp_offset, stream_source,
    line_number, match_kind) VALUES (?,?,?,?,?,?)""", matches)
db.commit()
PY
hyperfine --style basic -N --warmup 2 --runs 10 --export-json "$results/report.json" \
    "$ee telemetry stats" "$ee telemetry report --since 30d -o $HOME/report.html" >/dev/null
python3 - "$results/report.json" "$HOME/report.html" <<'PY'
import json, os, statistics, sys
for result in json.load(open(sys.argv[1]))["results"]:
    t = result["times"]
    print("%-60s %.3f s median (min %.3f, max %.3f, n=%d)" % (
        result["command"].split("/")[-1][:60], statistics.median(t), min(t), max(t), len(t)))
print("report size: %.0f KB" % (os.path.getsize(sys.argv[2]) / 1024))
PY
