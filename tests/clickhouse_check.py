#!/usr/bin/env python3
"""Runs the shipped ClickHouse SQL on a real ClickHouse engine (chdb, in-process).

Creates collector-config/clickhouse/schema.sql, the collector exporter's otel_traces table and
earlyexit_spans.sql beside it, loads `earlyexit telemetry export` output into the earlyexit
tables and spans (as the tests read them from the collector) into otel_traces, mapped to the
exporter's columns, each twice (a runner that sent a span again), then runs
every query of queries.sql and prints their answers as one JSON list on stdout. Any SQL error
ends it with a non-zero exit and the query on stderr.

Usage: clickhouse_check.py SCHEMA OTEL_TRACES QUERIES EXPORT_JSONL SPANS_JSON
"""
import datetime
import json
import os
import sys

from chdb import session


def statements(path):
    """The statements of an SQL file, comments dropped."""
    text = "\n".join(line for line in open(path) if not line.lstrip().startswith("--"))
    return [part.strip() for part in text.split(";") if part.strip()]


def clickhouse_time(nanos):
    """DateTime64(9) text for nanoseconds since the epoch."""
    seconds, fraction = divmod(int(nanos), 1_000_000_000)
    stamp = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M:%S") + ".%09d" % fraction


def insert(db, table, rows):
    if rows:
        body = "\n".join(json.dumps(row) for row in rows)
        db.query(
            f"INSERT INTO {table} SETTINGS input_format_skip_unknown_fields = 1, "
            f"date_time_input_format = 'best_effort' FORMAT JSONEachRow {body}"
        )


def exporter_row(span):
    """A span as the collector's ClickHouse exporter writes it."""
    return {
        "Timestamp": clickhouse_time(span["start"]),
        "TraceId": span["trace_id"],
        "SpanId": span["span_id"],
        "ParentSpanId": span["parent_span_id"],
        "TraceState": "",
        "SpanName": span["name"],
        "SpanKind": span["kind"],
        "ServiceName": span["resource"].get("service.name", ""),
        "ResourceAttributes": span["resource"],
        "ScopeName": span.get("scope_name", ""),
        "ScopeVersion": span.get("scope_version", ""),
        "SpanAttributes": span["attributes"],
        "Duration": int(span["end"]) - int(span["start"]),
        "StatusCode": span["status_code"],
        "StatusMessage": span["status_message"],
        "Events.Timestamp": [clickhouse_time(e["time"]) for e in span["events"]],
        "Events.Name": [e["name"] for e in span["events"]],
        "Events.Attributes": [e["attributes"] for e in span["events"]],
        "Links.TraceId": [],
        "Links.SpanId": [],
        "Links.TraceState": [],
        "Links.Attributes": [],
    }


def main():
    schema, otel_traces, queries, export, spans = sys.argv[1:6]
    db = session.Session()
    deduplicated = os.path.join(os.path.dirname(otel_traces), "earlyexit_spans.sql")
    for path in (schema, otel_traces, deduplicated):
        for statement in statements(path):
            db.query(statement)
    envelopes = [json.loads(line) for line in open(export) if line.strip()]
    insert(db, "earlyexit.earlyexit_executions",
           [e["data"] for e in envelopes if e["type"] == "execution"])
    insert(db, "earlyexit.earlyexit_match_events",
           [e["data"] for e in envelopes if e["type"] == "match_event"])
    rows = [exporter_row(span) for span in json.load(open(spans))]
    for _ in range(2):
        insert(db, "otel.otel_traces", rows)
    answers = []
    for number, statement in enumerate(statements(queries), 1):
        try:
            result = db.query(statement, "JSON")
        except Exception as error:  # chdb raises its own error types
            sys.exit(f"query {number} failed: {error}\n{statement}")
        answers.append(json.loads(result.bytes())["data"])
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
