#!/usr/bin/env bash
# The same pipeline as otelcol-contrib.yaml with rotel, a small OpenTelemetry collector written
# in Rust (`pip install rotel`; the binary is rotel-agent inside the package): OTLP in on 4317
# (gRPC) and 4318 (HTTP), both signals (the runs' spans and their live records), batched, into
# ClickHouse's otel_traces and otel_logs tables. rotel has no attribute processor without its
# Python SDK: runners keep the default remote_detail (minimal), which sends no free text.
#
#   CLICKHOUSE_ENDPOINT=http://localhost:8123 collector-config/rotel.sh
set -euo pipefail
agent=$(python3 -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')
exec "$agent" start \
    --otlp-grpc-endpoint 0.0.0.0:4317 \
    --otlp-http-endpoint 0.0.0.0:4318 \
    --batch-timeout 5s \
    --exporter clickhouse \
    --clickhouse-exporter-endpoint "${CLICKHOUSE_ENDPOINT:-http://localhost:8123}" \
    --clickhouse-exporter-database otel \
    --clickhouse-exporter-user "${CLICKHOUSE_USER:-default}" \
    --clickhouse-exporter-password "${CLICKHOUSE_PASSWORD:-}"
