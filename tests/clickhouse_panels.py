#!/usr/bin/env python3
"""Runs the ClickHouse dashboard's panels on a real ClickHouse engine (chdb, in-process).

Creates the exporter's otel_traces and otel_logs tables and earlyexit_spans.sql from
collector-config/clickhouse, inserts the fixture spans twice (a resend) and the log records
(rows in the exporter's columns; a log record without a Timestamp gets now), runs each query
of the JSON list and prints every answer, as rows of values, as one JSON list on stdout. An
SQL error ends it with a non-zero exit and the query on stderr.

Usage: clickhouse_panels.py SQL_DIRECTORY QUERIES_JSON SPANS_JSON LOGS_JSON
"""
import datetime
import json
import os
import sys

from chdb import session


def statements(path):
    text = "\n".join(line for line in open(path) if not line.lstrip().startswith("--"))
    return [part.strip() for part in text.split(";") if part.strip()]


def insert(db, table, rows):
    if rows:
        body = "\n".join(json.dumps(row) for row in rows)
        db.query(f"INSERT INTO {table} SETTINGS input_format_skip_unknown_fields = 1 "
                 f"FORMAT JSONEachRow {body}")


def main():
    sql, queries, spans, logs = sys.argv[1:5]
    db = session.Session()
    for name in ("otel_traces.sql", "earlyexit_spans.sql", "otel_logs.sql"):
        for statement in statements(os.path.join(sql, name)):
            db.query(statement)
    spans = json.load(open(spans))
    for _ in range(2):
        insert(db, "otel.otel_traces", spans)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    insert(db, "otel.otel_logs", [dict({"Timestamp": now}, **row) for row in json.load(open(logs))])
    answers = []
    for number, query in enumerate(json.load(open(queries)), 1):
        try:
            result = db.query(query + " SETTINGS output_format_json_quote_64bit_integers = 0", "JSONCompact")
        except Exception as error:  # chdb raises its own error types
            sys.exit(f"panel {number} failed: {error}\n{query}")
        answers.append(json.loads(result.bytes())["data"])
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
