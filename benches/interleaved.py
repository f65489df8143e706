#!/usr/bin/env python3
"""What telemetry adds to a run, measured with the runs interleaved.

hyperfine times one command's runs in a block, then the next command's; on a virtual machine
whose speed drifts over a minute, two blocks can differ by 0.1 ms for nothing. Here each
iteration runs `earlyexit -A 0 X -- /bin/true` once with telemetry (SQLite, a fresh HOME) and
once with --no-telemetry, for each binary given, so drift hits every variant alike. Used to
compare builds: `interleaved.py 2000 old=path/to/earlyexit new=target/.../earlyexit`.

With `--block N` each mode runs N times in a row before the other takes over, as in a CI job
or an agent's session that always records: it tells whether runs that follow runs of the same
mode are faster (SQLite's code and the database warm in the CPU's caches). They were not.

Usage: benches/interleaved.py [--block N] RUNS LABEL=BINARY [LABEL=BINARY ...]
"""
import os
import shutil
import statistics
import sys
import tempfile
import time


def timed(path, args, env, stderr):
    start = time.perf_counter_ns()
    pid = os.posix_spawn(path, [path, *args], env, file_actions=[(os.POSIX_SPAWN_DUP2, stderr, 2)])
    os.waitpid(pid, 0)
    return (time.perf_counter_ns() - start) / 1e6


def main():
    args = sys.argv[1:]
    block = 1
    if args[0] == "--block":
        block, args = int(args[1]), args[2:]
    runs = int(args[0])
    binaries = [arg.split("=", 1) for arg in args[1:]]
    root = tempfile.mkdtemp(prefix="earlyexit-interleaved-")
    stderr = os.open(os.devnull, os.O_WRONLY)
    times = {}
    try:
        for _ in range(0, runs, block):
            for label, path in binaries:
                env = dict(os.environ, HOME=os.path.join(root, label))
                os.makedirs(env["HOME"], exist_ok=True)
                for variant, flags in (("telemetry", []), ("off", ["--no-telemetry"])):
                    args = [*flags, "-A", "0", "X", "--", "/bin/true"]
                    for _ in range(block):
                        times.setdefault((label, variant), []).append(timed(path, args, env, stderr))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for label, _ in binaries:
        on, off = (times[(label, v)] for v in ("telemetry", "off"))
        q = lambda t: statistics.quantiles(t, n=4)
        print("%s: SQLite telemetry %.3f ms (IQR %.3f..%.3f), --no-telemetry %.3f ms (IQR %.3f..%.3f): "
              "added %+.3f ms median, %+.3f ms mean (n=%d, in blocks of %d)" % (
                  label, statistics.median(on), q(on)[0], q(on)[2], statistics.median(off),
                  q(off)[0], q(off)[2], statistics.median(on) - statistics.median(off),
                  statistics.mean(on) - statistics.mean(off), len(on), block))


if __name__ == "__main__":
    main()
