-- earlyexit's runs from the exporter's otel_traces, each once. The ClickHouse exporter appends
-- every span it is sent, so a span that a runner sent again (from its outbox, after a timeout
-- it could not see) is two rows in otel_traces. earlyexit_spans keeps one row per
-- (TraceId, SpanId): a materialized view copies earlyexit's spans into it as the exporter
-- writes them, and ReplacingMergeTree folds the copies. Read it through earlyexit_runs (FINAL),
-- which counts each run once however often it arrived. Create after otel_traces.sql.
CREATE TABLE IF NOT EXISTS otel.earlyexit_spans AS otel.otel_traces
ENGINE = ReplacingMergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (TraceId, SpanId);

CREATE MATERIALIZED VIEW IF NOT EXISTS otel.earlyexit_spans_mv TO otel.earlyexit_spans AS
SELECT * FROM otel.otel_traces WHERE ServiceName = 'earlyexit';

CREATE VIEW IF NOT EXISTS otel.earlyexit_runs AS
SELECT * FROM otel.earlyexit_spans FINAL;
