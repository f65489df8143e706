#!/usr/bin/env python3
"""Interleaved A/B of whole runs against GNU `timeout 10 true`: each iteration runs the
reference and every case once, in turn, so that this VM's drift hits every case alike
(hyperfine times one case's block, then the next).

A case is LABEL|BINARY|VAR=VALUE,VAR=VALUE[|OPTIONS]: the binary runs `OPTIONS -A 0 X --
/bin/true` (OPTIONS split on spaces: `--no-telemetry`, `--profile cargo-test`) with those
variables, its output to /dev/null. Each binary gets a fresh HOME of its own, shared by its
cases (an older build refuses a database that a newer one wrote). Each line gives the median,
the IQR, the ratio of medians to `timeout 10 true` and the difference in ms. The build
against build table of issue 33:

    benches/ab.py 800 'b67d77b|/tmp/b67/earlyexit||--no-telemetry' \\
                      'now|target/.../earlyexit||--no-telemetry' \\
                      'b67d77b SQLite|/tmp/b67/earlyexit|' 'now SQLite|target/.../earlyexit|'

With `--run 'WORDS'` first, each binary runs `OPTIONS WORDS` instead: the 100 MB
passthrough build against build is `--run 'NEVERMATCH -- cat target/bench-results/build-100mb.log'`
(the `timeout 10 true` line stays as the loop's clock; against the shell pipeline it replaces,
see ratios.py).

Usage: benches/ab.py [--run WORDS] RUNS CASE [CASE ...]
"""
import os
import shutil
import statistics
import sys
import tempfile
import time

REFERENCE = "timeout 10 true"


def timed(argv, env):
    start = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                                       (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
    os.waitpid(pid, 0)
    return (time.perf_counter_ns() - start) / 1e6


def main():
    arguments = sys.argv[1:]
    true, timeout = shutil.which("true"), shutil.which("timeout")
    words = ["-A", "0", "X", "--", true]
    if arguments[0] == "--run":
        words, arguments = arguments[1].split(), arguments[2:]
    runs = int(arguments[0])
    homes = {}
    cases = [(REFERENCE, [timeout, "10", true], dict(os.environ))]
    for case in arguments[1:]:
        label, binary, variables, *options = case.split("|")
        home = homes.setdefault(binary, tempfile.mkdtemp(prefix="earlyexit-ab-"))
        env = dict(os.environ, HOME=home)
        env.update(kv.split("=", 1) for kv in variables.split(",") if kv)
        options = options[0].split() if options else []
        cases.append((label, [binary, *options, *words], env))
    times = {label: [] for label, _, _ in cases}
    for _ in range(runs):
        for label, argv, env in cases:
            times[label].append(timed(argv, env))
    reference = statistics.median(times[REFERENCE])
    for label, samples in times.items():
        q = statistics.quantiles(samples, n=4)
        median = statistics.median(samples)
        print("%-28s median %.3f ms (IQR %.3f..%.3f, n=%d)  %.3fx, %+.3f ms"
              % (label, median, q[0], q[2], len(samples), median / reference, median - reference))
    for home in homes.values():
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
