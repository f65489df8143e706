#!/usr/bin/env bash
# Delivery benchmarks (issue 11), against `earlyexit serve` on loopback:
#   1. what `http.async: true` adds to a run when the endpoint never answers (hyperfine,
#      against --no-telemetry);
#   2. how long `telemetry sync` takes to send 10,000 queued runs (hyperfine, the outbox
#      refilled with fresh execution ids before each run);
#   3. how many requests 64 hybrid runs started together make (the server's log of
#      every request, five repeats).
# Usage: benches/delivery.sh [RESULTS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export EARLYEXIT_TELEMETRY_API_KEY=bench-key-0123456789


# 1. async against an endpoint that accepts and never answers.
start_silent_server
silent="http://127.0.0.1:$silent_port/api/v1/events"
mkdir -p "$work/async"
HOME=$work/async EARLYEXIT_TELEMETRY_ENDPOINT=$silent EARLYEXIT_TELEMETRY_HTTP_ASYNC=true \
    hyperfine --style basic -i -N --warmup 20 --runs 500 --export-json "$results/delivery-async.json" \
    "$ee --telemetry-backend http -A 0 X -- true" \
    "$ee --no-telemetry -A 0 X -- true" >/dev/null
python3 - "$results/delivery-async.json" <<'PY'
import json, statistics, sys
a, b = (r["times"] for r in json.load(open(sys.argv[1]))["results"])
q = lambda t: statistics.quantiles(t, n=4)
print("async, endpoint never answers: %.3f ms (IQR %.3f..%.3f) vs --no-telemetry %.3f ms "
      "(IQR %.3f..%.3f): added %+.3f ms median, %+.3f ms mean (n=%d)" % (
          statistics.median(a) * 1e3, q(a)[0] * 1e3, q(a)[2] * 1e3, statistics.median(b) * 1e3,
          q(b)[0] * 1e3, q(b)[2] * 1e3, (statistics.median(a) - statistics.median(b)) * 1e3,
          (statistics.mean(a) - statistics.mean(b)) * 1e3, len(a)))
PY

# 2. sync of 10,000 queued runs. One real run queues a row while the endpoint refuses; the
# refill copies it 10,000 times with fresh ids (the receiver keeps one row per id).
mkdir -p "$work/sync"
start_receiver sync
HOME=$work/sync EARLYEXIT_TELEMETRY_ENDPOINT="http://127.0.0.1:$(free_port)/api/v1/events" \
    "$ee" --telemetry-backend hybrid -q -A 0 X -- true || true
python3 - "$work/sync/.earlyexit/telemetry.db" "$work/template.json" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
(execution_id, events), = db.execute("SELECT execution_id, events FROM outbox").fetchall()
json.dump({"execution_id": execution_id, "events": events}, open(sys.argv[2], "w"))
PY
cat > "$work/refill.py" <<'PY'
import json, sqlite3, sys, uuid
template = json.load(open(sys.argv[2]))
db = sqlite3.connect(sys.argv[1])
db.execute("DELETE FROM outbox")
rows = []
for n in range(10000):
    new = str(uuid.uuid4())
    rows.append((new, "2026-12-01T00:00:00.%03dZ" % (n % 1000),
                 template["events"].replace(template["execution_id"], new)))
db.executemany("INSERT INTO outbox (execution_id, created, events) VALUES (?, ?, ?)", rows)
db.commit()
PY
HOME=$work/sync EARLYEXIT_TELEMETRY_ENDPOINT=$url \
    hyperfine --style basic -N --runs 5 --prepare "python3 $work/refill.py $work/sync/.earlyexit/telemetry.db $work/template.json" \
    --export-json "$results/delivery-sync.json" "$ee telemetry sync" >/dev/null
python3 - "$results/delivery-sync.json" "$work/sync.db" <<'PY'
import json, sqlite3, statistics, sys
t = json.load(open(sys.argv[1]))["results"][0]["times"]
received = sqlite3.connect(sys.argv[2]).execute("SELECT count(*) FROM executions").fetchone()[0]
print("sync of 10,000 queued runs: %.2f s median (min %.2f, max %.2f, n=%d); %d runs received in all"
      % (statistics.median(t), min(t), max(t), len(t), received))
assert received == 10000 * len(t), "every queued run arrived once"
PY

# 3. Requests made by 64 hybrid runs started together against a healthy receiver.
for repeat in 1 2 3 4 5; do
    name=burst$repeat
    mkdir -p "$work/$name"
    start_receiver "$name"
    runs=()
    for _ in $(seq 64); do
        HOME=$work/$name EARLYEXIT_TELEMETRY_ENDPOINT=$url \
            "$ee" --telemetry-backend hybrid -q -A 0 X -- true &
        runs+=($!)
    done
    wait "${runs[@]}" || true
    python3 - "$work/$name.log" "$work/$name.db" <<'PY'
import json, sqlite3, sys
lines = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
requests = [l for l in lines if l.get("path") == "/api/v1/events"]
stored = sqlite3.connect(sys.argv[2]).execute("select count(*) from executions").fetchone()[0]
print("64 hybrid runs at once: %d requests, %d runs stored (bound 64 + 64/10 = 70 requests)"
      % (len(requests), stored))
PY
done
