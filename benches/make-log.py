#!/usr/bin/env python3
"""Writes a build log's shape (timestamps, levels, paths, numbers), about 100 MB, to the file
given, for the throughput benchmarks. Usage: benches/make-log.py FILE"""
import random, sys
random.seed(7)
levels = ["INFO", "DEBUG", "WARN", "TRACE"]
words = "compiling linking resolving fetching module crate target object cache hit miss test passed".split()
with open(sys.argv[1], "w") as out:
    size, n = 0, 0
    while size < 100 * 1000 * 1000:
        line = "2026-11-28T12:%02d:%02d.%03dZ %-5s [worker-%d] %s src/%s/%s.rs:%d took %dms\n" % (
            n // 60000 % 60, n // 1000 % 60, n % 1000, random.choice(levels), n % 8,
            " ".join(random.choices(words, k=random.randint(3, 12))),
            random.choice(words), random.choice(words), random.randint(1, 999), random.randint(0, 5000))
        out.write(line)
        size += len(line)
        n += 1
