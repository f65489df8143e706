#!/usr/bin/env bash
# Issue 22's ingest figures: `earlyexit serve` on PostgreSQL under 50 concurrent clients (wrk,
# each request a batch of RUNS new runs, each with one match), runs per second and latency, the
# server's peak memory, and the floor: COPY of the same rows (the runs, then their matches)
# through psql.
# Usage: [COMMANDS=N] benches/serve.sh [SECONDS] [RUNS_PER_REQUEST...]   (needs postgresql, wrk)
# COMMANDS: how many distinct commands the runs are drawn from (100; 0 gives each run its own,
# the worst case for the report's kept figures).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/shipped-build.sh
seconds=${1:-20}
shift || true
batches=${*:-1 10 50}
commands=${COMMANDS:-100}
work=$(mktemp -d /tmp/earlyexit-serve-bench.XXXXXX)
server=""
trap 'kill $server 2>/dev/null || true; stop_postgres; rm -rf "$work"' EXIT
. benches/postgres.sh
key=$(HOME=$work "$ee" serve --database "$url" keys add bench 2>/dev/null)
serve_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HOME=$work "$ee" serve --database "$url" --listen "127.0.0.1:$serve_port" \
    --max-requests-per-second 1000000 >"$work/serve.out" 2>/dev/null &
server=$!
until grep -q listening "$work/serve.out"; do sleep 0.1; done
for runs in $batches; do
    before=$(psql -d team -c 'SELECT count(*) FROM executions')
    echo "== 50 clients, $runs run(s) per request, $commands commands, ${seconds}s"
    COMMANDS=$commands KEY=$key RUNS=$runs wrk -t2 -c50 -d"${seconds}s" --latency -s benches/serve-ingest.lua \
        "http://127.0.0.1:$serve_port" | grep -E 'Requests/sec|50%|90%|99%|Non-2xx|requests in'
    after=$(psql -d team -c 'SELECT count(*) FROM executions')
    echo "runs stored: $((after - before)), $(( (after - before) / seconds )) runs/s"
done
echo "server peak memory: $(grep VmHWM /proc/$server/status)"
# The floor: the same rows, COPY through psql into empty tables of the same shape (indexes
# included), the runs and then their matches.
psql -d team -c "\\copy executions TO '$work/runs.csv' CSV" >/dev/null
psql -d team -c "\\copy match_events TO '$work/matches.csv' CSV" >/dev/null
rows=$(wc -l <"$work/runs.csv")
psql -d team -c 'CREATE TABLE floor (LIKE executions INCLUDING ALL)' >/dev/null
psql -d team -c 'CREATE TABLE floor_matches (LIKE match_events INCLUDING ALL)' >/dev/null
start=$(date +%s.%N)
psql -d team -c "\\copy floor FROM '$work/runs.csv' CSV" >/dev/null
runs_done=$(date +%s.%N)
psql -d team -c "\\copy floor_matches FROM '$work/matches.csv' CSV" >/dev/null
end=$(date +%s.%N)
python3 -c "print('COPY floor: %d runs in %.2f s, %.0f runs/s; with their matches %.2f s, %.0f runs/s' % ($rows, $runs_done - $start, $rows / ($runs_done - $start), $end - $start, $rows / ($end - $start)))"
