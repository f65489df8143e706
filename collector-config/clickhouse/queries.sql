-- The questions a team asks first, against both paths: the HTTP path's earlyexit_executions
-- table (schema.sql) and the OTLP path's otel_traces table (written by the collector's
-- ClickHouse exporter, read through earlyexit_spans.sql's earlyexit_runs, which counts a
-- resent span once; span attributes are in the SpanAttributes map).

-- 1. Failure rate by command (the outcomes counted as failed: failure, timeout, lost, error;
-- in the CICD convention's words failure, timeout, error), last 30 days.
SELECT command_hash, any(executable) AS executable, count() AS runs,
       round(countIf(outcome IN ('failure', 'timeout', 'lost', 'error')) / count(), 3) AS failure_rate
FROM earlyexit.earlyexit_executions FINAL
WHERE timestamp > now() - INTERVAL 30 DAY
GROUP BY command_hash ORDER BY failure_rate DESC, runs DESC LIMIT 20;

SELECT SpanAttributes['earlyexit.command_hash'] AS command_hash, any(SpanName) AS executable, count() AS runs,
       round(countIf(SpanAttributes['cicd.pipeline.task.run.result'] IN ('failure', 'timeout', 'error')) / count(), 3) AS failure_rate
FROM otel.earlyexit_runs
WHERE ServiceName = 'earlyexit' AND Timestamp > now() - INTERVAL 30 DAY
GROUP BY command_hash ORDER BY failure_rate DESC, runs DESC LIMIT 20;

-- 2. p95 run time by project type.
SELECT project_type, count() AS runs, round(quantile(0.95)(total_runtime), 2) AS p95_seconds
FROM earlyexit.earlyexit_executions FINAL
GROUP BY project_type ORDER BY p95_seconds DESC;

SELECT SpanAttributes['earlyexit.project_type'] AS project_type, count() AS runs,
       round(quantile(0.95)(Duration) / 1e9, 2) AS p95_seconds
FROM otel.earlyexit_runs
WHERE ServiceName = 'earlyexit'
GROUP BY project_type ORDER BY p95_seconds DESC;

-- 3. Most frequent matched patterns.
SELECT pattern, sum(match_count) AS matches, count() AS runs
FROM earlyexit.earlyexit_executions FINAL
WHERE match_count > 0
GROUP BY pattern ORDER BY matches DESC LIMIT 20;

SELECT SpanAttributes['earlyexit.pattern'] AS pattern, count() AS matches
FROM otel.earlyexit_runs ARRAY JOIN Events.Name AS event
WHERE ServiceName = 'earlyexit' AND event = 'earlyexit.match'
GROUP BY pattern ORDER BY matches DESC LIMIT 20;

-- 4. Slowest runs this week.
SELECT timestamp, executable, pattern, outcome, exit_reason, total_runtime, execution_id
FROM earlyexit.earlyexit_executions FINAL
WHERE timestamp > toStartOfWeek(now())
ORDER BY total_runtime DESC LIMIT 20;

SELECT Timestamp, SpanName AS executable, SpanAttributes['earlyexit.pattern'] AS pattern,
       SpanAttributes['earlyexit.outcome'] AS outcome, SpanAttributes['earlyexit.exit_reason'] AS exit_reason,
       Duration / 1e9 AS seconds, TraceId
FROM otel.earlyexit_runs
WHERE ServiceName = 'earlyexit' AND Timestamp > toStartOfWeek(now())
ORDER BY Duration DESC LIMIT 20;
