#!/usr/bin/env python3
"""How soon a collector hears of a run (issue 21): the start record, from the spawn of
earlyexit to its arrival, and a match's record, from the moment the command printed the line
to its arrival. Median and p95 over RUNS runs, one after another.

The collector here is an OTLP/HTTP endpoint on loopback, a Python HTTP server that notes the
arrival time of every request to /v1/logs and /v1/traces and answers 200 with an empty export
response: it measures when the bytes arrive, with nothing of a collector's own batching added.
The command writes its clock to a file just before it prints the matching line.

Usage: benches/live-latency.py EARLYEXIT [RUNS]
"""
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

arrivals = []
lock = threading.Lock()


class Collector(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        now = time.time()
        with lock:
            arrivals.append((now, self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def describe(label, values):
    print("%-36s median %7.1f ms  p95 %7.1f ms  min %7.1f  max %7.1f  (n=%d)" % (
        label, statistics.median(values), percentile(values, 95), min(values), max(values), len(values)))


def main():
    ee = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = tempfile.mkdtemp(prefix="earlyexit-live-")
    mark = os.path.join(home, "printed-at")
    env = dict(os.environ, HOME=home,
               EARLYEXIT_TELEMETRY_BACKEND="otlp",
               OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
               OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % server.server_port)
    script = "sleep 0.4; date +%%s.%%N > %s; echo ERROR here; sleep 0.4" % mark
    starts, matches = [], []
    try:
        for _ in range(runs):
            with lock:
                arrivals.clear()
            spawned = time.time()
            subprocess.run([ee, "-m", "5", "ERROR", "--", "sh", "-c", script], env=env,
                           stdout=subprocess.DEVNULL, check=False)
            printed = float(open(mark).read())
            with lock:
                logs = [(t, body) for t, path, body in arrivals if path == "/v1/logs"]
            start = next(t for t, body in logs if b"earlyexit.run.start" in body)
            match = next(t for t, body in logs if b"earlyexit.match" in body)
            starts.append((start - spawned) * 1000)
            matches.append((match - printed) * 1000)
        describe("start record, spawn to collector", starts)
        describe("match record, line to collector", matches)
    finally:
        server.shutdown()
        shutil.rmtree(home, ignore_errors=True)


main()
