#!/usr/bin/env bash
# Issue 22's report figure: how long `earlyexit serve` takes to answer GET / (the team report,
# the default 30 days), GET /api/v1/report and GET /api/v1/stats over COUNT runs from 20 machines
# (examples/send-team-runs.py, through the server's HTTP API), on PostgreSQL and on SQLite.
# Each page is asked for REPEATS times in a row; the median and the range are printed; then ten
# page loads at once, and when each was answered; on PostgreSQL, each Grafana panel's SQL
# (benches/panels.py).
# Usage: [STORES="postgresql sqlite"] benches/team-report.sh [COUNT] [REPEATS]   (needs postgresql)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/shipped-build.sh
count=${1:-1000000}
repeats=${2:-5}
work=$(mktemp -d /tmp/earlyexit-report-bench.XXXXXX)
server=""
trap 'kill $server 2>/dev/null || true; stop_postgres; rm -rf "$work"' EXIT
. benches/postgres.sh

# DATABASE NAME: a server on that store, loaded with the runs, then the pages timed.
measure() {
    local write read serve_url
    write=$(HOME=$work "$ee" serve --database "$1" keys add runners 2>/dev/null)
    read=$(HOME=$work "$ee" serve --database "$1" keys add dashboard --role read 2>/dev/null)
    HOME=$work "$ee" serve --database "$1" --listen 127.0.0.1:0 --read-timeout 1h \
        --max-requests-per-second 1000000 >"$work/$2.out" 2>/dev/null &
    server=$!
    until grep -q listening "$work/$2.out"; do sleep 0.1; done
    serve_url=$(sed 's/listening on //' "$work/$2.out")
    local loaded=$SECONDS
    examples/send-team-runs.py "$serve_url" "$write" "$count"
    echo "== $2: $count runs loaded in $((SECONDS - loaded)) s"
    python3 - "$serve_url" "$read" "$repeats" <<'PY'
import statistics, sys, time, urllib.request
url, key, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
for path in ["/", "/api/v1/report", "/api/v1/stats"]:
    times, size = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        request = urllib.request.Request(url + path, headers={"Authorization": "Bearer " + key})
        size = len(urllib.request.urlopen(request, timeout=600).read())
        times.append(time.perf_counter() - started)
    print("GET %-14s median %.3f s (min %.3f, max %.3f), %d bytes"
          % (path, statistics.median(times), min(times), max(times), size))
# Ten people open the page at once: when each is answered, from the moment all were asked.
import threading
started, done = time.perf_counter(), []
def load():
    request = urllib.request.Request(url + "/", headers={"Authorization": "Bearer " + key})
    urllib.request.urlopen(request, timeout=600).read()
    done.append(time.perf_counter() - started)
loads = [threading.Thread(target=load) for _ in range(10)]
for thread in loads:
    thread.start()
for thread in loads:
    thread.join()
print("GET / ten at once: answered from %.3f to %.3f s (%.3f s apart)"
      % (min(done), max(done), max(done) - min(done)))
PY
    echo "server peak memory: $(grep VmHWM /proc/$server/status)"
    if [ "$2" = postgresql ]; then
        python3 benches/panels.py "$bin/psql" "$port" "$repeats"
    fi
    kill $server
    wait $server 2>/dev/null || true
}
for store in ${STORES:-postgresql sqlite}; do
    case $store in
        postgresql) measure "$url" postgresql ;;
        sqlite) measure "$work/team.db" sqlite ;;
    esac
done
