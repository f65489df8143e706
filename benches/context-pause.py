#!/usr/bin/env python3
"""The largest pause inside each recorded failure block (tests/fixtures/failures): the gap
between consecutive reads from the read holding the deciding line to the one holding the
block's last line, as traces.json there marks them. The default --context-pause must exceed
the largest by a margin.

    benches/context-pause.py
"""
import json
import pathlib

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/failures"


def main():
    print(f"{'fixture':18} {'reads':>5} {'largest gap':>12} {'block spans':>12}")
    for trace in json.loads((FIXTURES / "traces.json").read_text()):
        chunks = [json.loads(line) for line in (FIXTURES / trace["fixture"]).read_text().splitlines()]
        chunks = [c for c in chunks if "data" in c]
        first = next(i for i, c in enumerate(chunks) if trace["first"] in c["data"])
        last = next(i for i, c in enumerate(chunks) if trace["last"] in c["data"])
        gaps = [chunks[i + 1]["t"] - chunks[i]["t"] for i in range(first, last)]
        span = chunks[last]["t"] - chunks[first]["t"]
        print(f"{trace['fixture']:18} {last - first + 1:>5} {max(gaps, default=0) * 1000:>9.3f} ms"
              f" {span * 1000:>9.3f} ms")


if __name__ == "__main__":
    main()
