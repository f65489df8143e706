#!/usr/bin/env python3
"""The three ratios of issue 14, measured in one run with the variants interleaved, so that
the machine's drift hits every variant alike:

  1. `earlyexit --no-telemetry -A 0 X -- true` against GNU `timeout 10 true` (target <= 1.10);
  2. `earlyexit -A 0 X -- true` with SQLite telemetry (a fresh HOME) against the same (<= 1.40),
     with the live records on (the default) and off (`telemetry.live.enabled: false`);
  3. 100 MB through `earlyexit NEVERMATCH -- cat FILE` against
     `cat FILE | tee /dev/null | grep -m1 NEVERMATCH` (<= 1.0), both through `sh -c`.

Each line gives the median, the interquartile range and the ratio of medians.

Usage: benches/ratios.py EARLYEXIT LOG_FILE [RUNS] [THROUGHPUT_RUNS]
(benches/ratios.sh builds the shipped binary and the 100 MB log, then calls this.)
"""
import os
import shutil
import statistics
import sys
import tempfile
import time


def timed(argv, env, devnull):
    start = time.perf_counter_ns()
    if isinstance(argv, tuple):
        argv, extra = argv
        env = dict(env, **extra)
    pid = os.posix_spawn(argv[0], argv, env,
                         file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)])
    os.waitpid(pid, 0)
    return (time.perf_counter_ns() - start) / 1e6


def interleave(variants, runs, env, devnull):
    times = {label: [] for label, _ in variants}
    for _ in range(runs):
        for label, argv in variants:
            times[label].append(timed(argv, env, devnull))
    return times


def report(times, label, baseline):
    t, b = times[label], times[baseline]
    q = statistics.quantiles(t, n=4)
    print("%-34s median %8.3f ms  IQR %8.3f..%8.3f  ratio to %s: %.3f  (n=%d)" % (
        label, statistics.median(t), q[0], q[2], baseline, statistics.median(t) / statistics.median(b), len(t)))


def main():
    ee, log = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    throughput_runs = int(sys.argv[4]) if len(sys.argv) > 4 else 15
    true, timeout, sh = shutil.which("true"), shutil.which("timeout"), shutil.which("sh")
    home = tempfile.mkdtemp(prefix="earlyexit-ratios-")
    env = dict(os.environ, HOME=home)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        times = interleave([
            ("timeout 10 true", [timeout, "10", true]),
            ("earlyexit --no-telemetry", [ee, "--no-telemetry", "-A", "0", "X", "--", true]),
            ("earlyexit, SQLite telemetry", [ee, "-A", "0", "X", "--", true]),
            ("earlyexit, SQLite, live off", ([ee, "-A", "0", "X", "--", true],
                                             {"EARLYEXIT_TELEMETRY_LIVE_ENABLED": "false"})),
        ], runs, env, devnull)
        for label in ("timeout 10 true", "earlyexit --no-telemetry", "earlyexit, SQLite telemetry",
                      "earlyexit, SQLite, live off"):
            report(times, label, "timeout 10 true")
        times = interleave([
            ("pipeline", [sh, "-c", f"cat {log} | tee /dev/null | grep -m1 NEVERMATCH"]),
            ("earlyexit NEVERMATCH -- cat", [sh, "-c", f"{ee} --no-telemetry NEVERMATCH -- cat {log}"]),
        ], throughput_runs, env, devnull)
        report(times, "pipeline", "pipeline")
        report(times, "earlyexit NEVERMATCH -- cat", "pipeline")
    finally:
        shutil.rmtree(home, ignore_errors=True)


main()
