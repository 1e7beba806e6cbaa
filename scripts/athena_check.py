"""The SAM template's named Athena queries, run on a local lake: `spendguard run` writes the lake,
then some partitions get a second copy of their rows (as a Firehose redelivery or a re-ingest
would), each query's Trino SQL is transpiled to DuckDB with sqlglot, `current_date` is pinned, and
the results must equal totals computed independently from `spendguard price` rows (exact
decimals). The raw sums over the duplicated lake must differ, so the de-duplication is what the
check proves.

Usage: python scripts/athena_check.py SPENDGUARD_BIN [TEMPLATE]  (lint venv: cfn-lint, sqlglot, duckdb)
"""
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import sqlglot
from cfnlint.decode import decode

TODAY = "2026-11-06"  # the pinned reference date; the logs run 2026-09-28 .. 2026-11-06
MONTH_START = "2026-11-01"
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print(f"athena_check: FAIL: {what}")
        sys.exit(1)
    checks += 1


def sg(binary, *args):
    return subprocess.run([binary, *args], check=True, capture_output=True).stdout.decode()


def days_before(day, n):
    from datetime import date, timedelta
    return (date.fromisoformat(day) - timedelta(days=n)).isoformat()


def queries(template):
    t, matches = decode(template)
    if matches:
        sys.exit(f"{template}: {matches}")
    out = {}
    for name, r in t["Resources"].items():
        if r["Type"] == "AWS::Athena::NamedQuery":
            out[str(name)] = str(r["Properties"]["QueryString"])
    return out


def to_duckdb(trino_sql):
    pinned = re.sub(r"\bcurrent_date\b", f"DATE '{TODAY}'", trino_sql, flags=re.I)
    return sqlglot.transpile(pinned, read="trino", write="duckdb")[0]


def rows_of(con, sql):
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def main():
    binary = sys.argv[1]
    template = sys.argv[2] if len(sys.argv) > 2 else "template.yaml"
    named = queries(template)
    want_names = {"QuerySpendByPrincipalDay", "QuerySpendByModel", "QueryTopSpendersThisMonth",
                  "QueryFallbackAndEstimated", "QueryDailyTrend"}
    check(set(named) == want_names, f"named queries {sorted(named)}")
    for n, q in named.items():
        check("row_number() OVER (PARTITION BY request_id" in q, f"{n} does not de-duplicate by request_id")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        logs, lake = tmp / "logs", tmp / "lake"
        sg(binary, "gen", "--out", str(logs), "--format", "cwl", "--invocations", "4000", "--days", "40",
           "--start", "2026-09-28", "--seed", "11")
        summary = json.loads(sg(binary, "run", "--input", str(logs), "--lake", str(lake), "--json"))
        ref = {}
        for f in sorted(logs.iterdir()):
            for line in sg(binary, "price", str(f)).splitlines():
                row = json.loads(line)
                ref[row["request_id"]] = row
        check(len(ref) == summary["invocations"] == 4000, f"{len(ref)} reference rows")
        for r in ref.values():
            r["dt"] = r["event_time"][:10]
            r["cost"] = Decimal(r["cost_usd"])

        # At-least-once delivery: every third partition's rows land a second time, in another file.
        parts = sorted(p for p in lake.iterdir() if p.name.startswith("dt="))
        dup_rows = 0
        for p in parts[::3]:
            for f in sorted(p.glob("part-*.parquet")):
                shutil.copy(f, p / f"part-redelivered-{f.name[5:]}")
                dup_rows += sum(1 for r in ref.values() if f"dt={r['dt']}" == p.name)
        check(dup_rows > 0, "no duplicated rows")

        con = duckdb.connect()
        con.execute(f"CREATE VIEW invocations AS SELECT * FROM read_parquet('{lake}/*/*.parquet', "
                    "hive_partitioning = true, hive_types = {'dt': 'VARCHAR'})")
        raw = con.execute("SELECT count(*), sum(cost_usd) FROM invocations").fetchone()
        check(raw[0] == 4000 + dup_rows, f"the lake holds {raw[0]} rows, expected {4000 + dup_rows}")

        def run(name):
            return rows_of(con, to_duckdb(named[name]))

        last30 = [r for r in ref.values() if r["dt"] >= days_before(TODAY, 30)]
        check(0 < len(last30) < len(ref), "the 30-day window must cut the generated range")

        # spend by principal and day
        want = defaultdict(lambda: [0, Decimal(0)])
        for r in last30:
            w = want[(r["principal"], r["dt"])]
            w[0] += 1
            w[1] += r["cost"]
        got = {(x["principal"], x["day"]): [x["invocations"], x["cost_usd"]] for x in run("QuerySpendByPrincipalDay")}
        check(got == dict(want), "spend by principal and day differs from the reference")
        naive = con.execute(f"SELECT sum(cost_usd) FROM invocations WHERE dt >= '{days_before(TODAY, 30)}'").fetchone()[0]
        check(naive != sum(w[1] for w in want.values()), "the duplicates did not change the raw sum")

        # spend by model
        want = defaultdict(lambda: [0, 0, 0, 0, 0, Decimal(0)])
        for r in last30:
            w = want[(r["model"], r["endpoint_tier"])]
            w[0] += 1
            w[1] += r["input_tokens"]
            w[2] += r["output_tokens"]
            w[3] += r["cache_read_tokens"]
            w[4] += r["cache_write_5m_tokens"] + r["cache_write_1h_tokens"]
            w[5] += r["cost"]
        got = {(x["model"], x["endpoint_tier"]): [x["invocations"], x["input_tokens"], x["output_tokens"],
                                                   x["cache_read_tokens"], x["cache_write_tokens"], x["cost_usd"]]
               for x in run("QuerySpendByModel")}
        check(got == dict(want), "spend by model differs from the reference")

        # top spenders this month
        month = defaultdict(lambda: [0, Decimal(0)])
        for r in ref.values():
            if r["dt"] >= MONTH_START:
                month[r["principal"]][0] += 1
                month[r["principal"]][1] += r["cost"]
        top = sorted(month.items(), key=lambda kv: (-kv[1][1], kv[0]))[:20]
        got = [(x["principal"], x["invocations"], x["cost_usd"]) for x in run("QueryTopSpendersThisMonth")]
        check(got == [(p, w[0], w[1]) for p, w in top], "top spenders this month differ from the reference")

        # fallback- and estimate-priced
        want = defaultdict(lambda: [0, Decimal(0)])
        for r in last30:
            if r["price_status"] in ("fallback", "estimated"):
                w = want[(r["price_status"], r["model_id"], r["price_version"])]
                w[0] += 1
                w[1] += r["cost"]
        got = {(x["price_status"], x["model_id"], x["price_version"]): [x["invocations"], x["cost_usd"]]
               for x in run("QueryFallbackAndEstimated")}
        check(len(want) > 0, "the generated logs have no fallback- or estimate-priced invocations")
        check(got == dict(want), "fallback/estimated invocations differ from the reference")

        # daily trend
        want = defaultdict(lambda: [0, set(), Decimal(0)])
        for r in ref.values():
            if r["dt"] >= days_before(TODAY, 90):
                w = want[r["dt"]]
                w[0] += 1
                w[1].add(r["principal"])
                w[2] += r["cost"]
        got = [(x["day"], x["invocations"], x["principals"], x["cost_usd"]) for x in run("QueryDailyTrend")]
        check(got == [(d, w[0], len(w[1]), w[2]) for d, w in sorted(want.items())],
              "the daily trend differs from the reference")
        total = sum(x[3] for x in got)
        check(total == sum(r["cost"] for r in ref.values()), "the trend's total is not the run's total")

    print(f"athena_check: ok: {len(named)} named queries (Trino -> DuckDB via sqlglot, current_date = {TODAY}) "
          f"return the de-duplicated totals over a lake of 4000 invocations + {dup_rows} duplicated rows "
          f"(USD {total}); {checks} checks")


if __name__ == "__main__":
    main()
