#!/usr/bin/env bash
# OTLP benchmarks (issue 5), with hyperfine against rotel (a real collector, `pip install rotel`)
# on loopback: time added at exit by the otlp backend over gRPC and over HTTP/protobuf,
# compared with --no-telemetry, and the deadline cases (refused, never answering).
# Usage: benches/otlp.sh [RESULTS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
[ -x target/rotel-venv/bin/pip ] || python3 -m venv target/rotel-venv
target/rotel-venv/bin/pip install --quiet --disable-pip-version-check rotel
agent=$(target/rotel-venv/bin/python -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
grpc=$(free_port); http=$(free_port); refused=$(free_port)
"$agent" start --otlp-grpc-endpoint "127.0.0.1:$grpc" --otlp-http-endpoint "127.0.0.1:$http" --exporter blackhole > /dev/null 2>&1 &
start_silent_server
silent=$silent_port
# rotel's start: a second is ample on this machine.
sleep 1
export HOME=$work
run() { hyperfine --style basic -i -N --warmup 10 --runs "$1" --export-json "$results/$2.json" "${@:3}" >/dev/null; }
run 200 otlp-grpc \
    "env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$grpc $ee --telemetry-backend otlp -A 0 X -- true" \
    "env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$grpc $ee --no-telemetry -A 0 X -- true"
run 200 otlp-http \
    "env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$http OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf $ee --telemetry-backend otlp -A 0 X -- true" \
    "env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$http OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf $ee --no-telemetry -A 0 X -- true"
run 50 otlp-refused \
    "env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$refused $ee --telemetry-backend otlp -A 0 X -- true" \
    "env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$refused $ee --no-telemetry -A 0 X -- true"
hyperfine --style basic -i -N --runs 5 --export-json "$results/otlp-silent.json" \
    "env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$silent $ee --telemetry-backend otlp -A 0 X -- true" \
    "env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$silent $ee --no-telemetry -A 0 X -- true" >/dev/null
python3 - "$results" <<'PY'
import json, statistics, sys
for name, label in [("otlp-grpc", "OTLP gRPC to rotel"), ("otlp-http", "OTLP HTTP/protobuf to rotel"),
                    ("otlp-refused", "collector refusing connections (gRPC)"),
                    ("otlp-silent", "collector never answering (gRPC, timeout 2s)")]:
    (a, b) = (r["times"] for r in json.load(open(f"{sys.argv[1]}/{name}.json"))["results"])
    print("%-44s %8.2f ms (min %7.2f, max %8.2f, sd %6.2f) vs %5.2f ms: added %+8.2f ms median (n=%d)" % (
        label, statistics.median(a) * 1e3, min(a) * 1e3, max(a) * 1e3, statistics.stdev(a) * 1e3,
        statistics.median(b) * 1e3, (statistics.median(a) - statistics.median(b)) * 1e3, len(a)))
PY
