#!/usr/bin/env python3
"""The corpus of real failing tools (tests/fixtures/corpus) through earlyexit and alone:
per case, the wall time of the tool's full run, the wall time through earlyexit with its
profile (the time saved), and the time from the failure block's last line reaching earlyexit's
output to earlyexit's exit.

Each case runs in a copy of its fixture, once to warm the build caches, then RUNS times
alternately alone and through earlyexit. The block's last line is the last line of `--json`'s
`block`; its arrival is when this script read it from earlyexit's stdout or stderr.

Usage: benches/corpus.py EARLYEXIT [RUNS [FIXTURE,...]]
(The tools are those tests/install-and-run.sh installs: EARLYEXIT_TEST_PYTHON and
EARLYEXIT_TEST_NODE_BIN name pytest's venv and the npm prefix's bin.)
"""
import json
import os
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tool(word):
    if word == "@pytest":
        return os.path.join(os.path.dirname(os.environ["EARLYEXIT_TEST_PYTHON"]), "pytest")
    if word.startswith("@"):
        return os.path.join(os.environ["EARLYEXIT_TEST_NODE_BIN"], word[1:])
    return word


CASES = [
    ("cargo test", "rust-test", ["cargo", "test", "--offline"]),
    ("cargo build", "rust-build", ["cargo", "build", "--offline"]),
    ("pytest", "pytest", ["@pytest", "-p", "no:cacheprovider"]),
    ("python traceback", "python", ["python3", "service.py"]),
    ("node --test", "node-test", ["node", "--test"]),
    ("jest", "jest", ["@jest", "--ci"]),
    ("vitest", "vitest", ["@vitest", "run"]),
    ("tsc", "tsc", ["@tsc", "--noEmit", "--strict", "cart.ts"]),
    ("eslint", "eslint", ["@eslint", "."]),
    ("go test", "go", ["go", "test", "./..."]),
    ("go test -v", "go", ["go", "test", "-v", "./..."]),
    ("make -k -B (gcc)", "make", ["make", "-k", "-B"]),
    ("javac", "java", ["javac", "Inventory.java"]),
    ("mvn compile", "maven-build", ["mvn", "compile"]),
    ("mvn test", "maven-test", ["mvn", "test"]),
]


def timed_lines(argv, cwd, env):
    """Runs argv; returns (seconds to exit, [(seconds, line)] as read from stdout and stderr)."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    selector = selectors.DefaultSelector()
    partial = {}
    for stream in (child.stdout, child.stderr):
        selector.register(stream, selectors.EVENT_READ)
        partial[stream] = b""
    lines = []
    open_streams = 2
    while open_streams:
        for key, _ in selector.select():
            data = os.read(key.fileobj.fileno(), 65536)
            now = time.perf_counter() - start
            if not data:
                selector.unregister(key.fileobj)
                open_streams -= 1
                continue
            text = partial[key.fileobj] + data
            *complete, partial[key.fileobj] = text.split(b"\n")
            lines.extend((now, line.decode("utf-8", "replace")) for line in complete)
    child.wait()
    return time.perf_counter() - start, lines


def main():
    earlyexit, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
    only = sys.argv[3].split(",") if len(sys.argv) > 3 else None
    scratch = tempfile.mkdtemp(prefix="earlyexit-corpus-")
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(scratch, "target"),
               GOCACHE=os.path.join(scratch, "go-cache"), GOFLAGS="-count=1", NO_COLOR="1",
               EARLYEXIT_NO_TELEMETRY="1")
    print("%-18s %12s %14s %8s %22s" % ("case", "alone", "earlyexit", "saved", "block's end to exit"))
    for name, fixture, command in CASES:
        if only and fixture not in only:
            continue
        workspace = os.path.join(scratch, fixture)
        if not os.path.exists(workspace):
            shutil.copytree(os.path.join(ROOT, "tests/fixtures/corpus", fixture), workspace)
        argv = [tool(command[0])] + command[1:]
        summary = os.path.join(scratch, "run.json")
        through = [earlyexit, "--json-file", summary, "--"] + argv
        timed_lines(argv, workspace, env)
        alone, wrapped, after_block = [], [], []
        for _ in range(runs):
            alone.append(timed_lines(argv, workspace, env)[0])
            seconds, lines = timed_lines(through, workspace, env)
            wrapped.append(seconds)
            result = json.load(open(summary))
            block = next((m["block"] for m in result["matches"] if "block" in m), None)
            if block:
                last = block[-1]
                arrivals = [at for at, line in lines if line.rstrip("\r") == last]
                if arrivals:
                    after_block.append(seconds - arrivals[0])
        median = statistics.median
        print("%-18s %10.2f s %12.2f s %7.0f%% %12.2f s (%.2f..%.2f)"
              % (name, median(alone), median(wrapped), 100 * (1 - median(wrapped) / median(alone)),
                 median(after_block) if after_block else float("nan"),
                 min(after_block, default=float("nan")), max(after_block, default=float("nan"))))
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
