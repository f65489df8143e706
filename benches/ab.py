#!/usr/bin/env python3
"""Interleaved A/B of whole runs: each iteration runs every case once, in turn, so that this
VM's drift hits every case alike (hyperfine times one case's block, then the next).

A case is LABEL|BINARY|VAR=VALUE,VAR=VALUE[|OPTIONS]: the binary runs `OPTIONS -A 0 X --
/bin/true` (OPTIONS split on spaces: `--profile cargo-test`) with those variables, in one fresh
HOME shared by the cases, stderr to /dev/null. Used for the client
change of issue 12 (reqwest against ureq, the same endpoint):

    benches/ab.py 300 'reqwest|old/earlyexit|EARLYEXIT_TELEMETRY_BACKEND=otlp,...' \\
                      'ureq|new/earlyexit|EARLYEXIT_TELEMETRY_BACKEND=otlp,...'

Usage: benches/ab.py RUNS CASE [CASE ...]
"""
import os
import statistics
import sys
import tempfile
import time


def timed(path, env, options):
    start = time.perf_counter_ns()
    pid = os.posix_spawn(path, [path, *options, "-A", "0", "X", "--", "/bin/true"], env,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
    os.waitpid(pid, 0)
    return (time.perf_counter_ns() - start) / 1e6


def main():
    runs, cases = int(sys.argv[1]), [case.split("|") for case in sys.argv[2:]]
    home = tempfile.mkdtemp(prefix="earlyexit-ab-")
    times = {}
    for _ in range(runs):
        for label, binary, variables, *options in cases:
            env = dict(os.environ, HOME=home)
            env.update(kv.split("=", 1) for kv in variables.split(",") if kv)
            options = options[0].split() if options else []
            times.setdefault(label, []).append(timed(binary, env, options))
    for label, samples in times.items():
        q = statistics.quantiles(samples, n=4)
        print("%-28s median %.3f ms (IQR %.3f..%.3f, n=%d)"
              % (label, statistics.median(samples), q[0], q[2], len(samples)))


if __name__ == "__main__":
    main()
