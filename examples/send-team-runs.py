#!/usr/bin/env python3
"""Sends COUNT made-up runs from 20 machines to a team server's HTTP API, in requests of 1,000
runs: 40 commands, every outcome, spread over the last 25 days, a match event for each run
that matched. The same seed gives the same runs.

Usage: examples/send-team-runs.py URL WRITE_KEY [COUNT]   (URL: the server, without a path)
"""
import hashlib
import json
import random
import sys
import time
import urllib.request

url, write = sys.argv[1:3]
count = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
random.seed(22)
now = time.time()
outcomes = [("success", "no_match", False), ("stopped_on_success", "success_pattern", True),
            ("failure", "error_pattern", True), ("failure", "no_match", False),
            ("timeout", "timeout", True), ("success", "no_match", False),
            ("cancelled", "interrupted", True), ("lost", "lost", False)]
commands = ["cargo test", "cargo build --release", "npm test", "npm run lint", "pytest -x",
            "go test ./...", "make check", "mvn verify"]


def run(n):
    """The events of run n: its execution, and its match if it matched."""
    machine = n % 20
    command = commands[n % 37 % len(commands)] + ("" if n % 5 else " --all")
    outcome, reason, stopped = random.choice(outcomes)
    runtime = random.uniform(0.3, 4.0) if stopped else random.uniform(2.0, 90.0)
    started = time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                            time.gmtime(now - random.uniform(0, 25 * 86400)))
    execution_id = "%08x-%04x-%04x-%04x-%012x" % (n, machine, 0x4000, 0x8000,
                                                  random.getrandbits(48))
    matched = reason in ("success_pattern", "error_pattern")
    events = [{"type": "execution", "data": {
        "execution_id": execution_id, "timestamp": started,
        "trace_id": "%032x" % random.getrandbits(128), "span_id": "%016x" % random.getrandbits(64),
        "command_hash": hashlib.sha256(command.encode()).hexdigest(),
        "executable": command.split()[0], "command": command, "pattern": "error|FAIL",
        "exit_code": 0, "exit_reason": reason, "outcome": outcome, "stopped_command": stopped,
        "total_runtime": runtime, "time_to_first_match": runtime * 0.8 if matched else None,
        "match_count": 1 if matched else 0, "project_type": command.split()[0],
        "command_category": "test", "ci_system": "github_actions",
        "task_name": "runner-%02d" % machine, "pipeline_run_id": str(1000 + n // 50),
        "vcs_ref": ["main", "feature/login", "release"][n % 3],
        "vcs_revision": "%07x" % (n // 40),
        "vcs_repository_url": "https://github.example/team/app", "anonymized": False}}]
    if matched:
        events.append({"type": "match_event", "data": {
            "execution_id": execution_id, "match_number": 1, "timestamp_offset": runtime * 0.8,
            "stream_source": "stderr", "line_number": 40 + n % 60,
            "line_content": "FAIL src/login.test.js: expected 200, got 500" if n % 2
            else "error[E0308]: mismatched types"}})
    return events


for first in range(0, count, 1000):
    events = [event for n in range(first, min(first + 1000, count)) for event in run(n)]
    body = json.dumps({"api_version": "1.0", "events": events}).encode()
    request = urllib.request.Request(url + "/api/v1/events", body,
                                     {"Content-Type": "application/json", "X-API-Key": write})
    urllib.request.urlopen(request, timeout=120).read()
