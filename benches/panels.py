#!/usr/bin/env python3
"""Times each panel of the Grafana PostgreSQL dashboard over a team store: its SQL with the
macros and variables expanded as Grafana's PostgreSQL data source does, for the dashboard's
own default period (the last 30 days) and with every variable empty, run by psql with
`\\timing`. Each panel REPEATS times; prints the median and the range.

Usage: benches/panels.py PSQL PORT [REPEATS]   (the database `team` on 127.0.0.1, user earlyexit)
"""
import datetime
import json
import pathlib
import re
import statistics
import subprocess
import sys

psql, port = sys.argv[1], sys.argv[2]
repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
dashboard = pathlib.Path(__file__).resolve().parent.parent / "dashboards/postgres/earlyexit.json"
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
start = now - datetime.timedelta(days=30)
stamp = lambda t: t.strftime("'%Y-%m-%dT%H:%M:%SZ'")


def expand(sql):
    sql = re.sub(r"\$__timeFilter\(([^)]*)\)",
                 lambda m: "%s BETWEEN %s AND %s" % (m[1], stamp(start), stamp(now)), sql)
    sql = re.sub(r"\$__timeGroupAlias\(([^,]*),\s*1d\)",
                 lambda m: 'floor(extract(epoch from %s)/86400)*86400 AS "time"' % m[1], sql)
    sql = re.sub(r"\$(repository|branch|command)\b", "", sql)
    assert "$" not in sql, sql
    return sql


def timed(sql):
    out = subprocess.run([psql, "-X", "-h", "127.0.0.1", "-p", port, "-U", "earlyexit", "-d",
                          "team", "-o", "/dev/null", "-c", "\\timing on", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"Time: ([0-9.]+) ms", out)[1]) / 1000


for panel in json.loads(dashboard.read_text())["panels"]:
    for target in panel.get("targets", []):
        sql = expand(target["rawSql"])
        times = [timed(sql) for _ in range(repeats)]
        print("panel %-26s median %.3f s (min %.3f, max %.3f)"
              % (panel["title"], statistics.median(times), min(times), max(times)))
