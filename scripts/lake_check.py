#!/usr/bin/env python3
"""An independent reader agrees with spendguard: generate logs, `spendguard run` them into a
Parquet lake, then read the lake back with pyarrow and DuckDB (stand-ins for Athena) and check
row counts, per-row costs, totals, partition placement, and the Athena schema traps.

Usage: lake_check.py PATH_TO_SPENDGUARD_BINARY
"""
import json
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

checks = 0


def check(cond, what):
    global checks
    if not cond:
        print(f"lake_check: FAIL: {what}")
        sys.exit(1)
    checks += 1


def sg(binary, *args, stdin=None):
    out = subprocess.run([binary, *args], check=True, capture_output=True, input=stdin)
    return out.stdout.decode()


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        logs, lake = tmp / "logs", tmp / "lake"
        sg(binary, "gen", "--out", str(logs), "--format", "cwl", "--invocations", "2500", "--days", "2", "--seed", "5")
        summary = json.loads(sg(binary, "run", "--input", str(logs), "--lake", str(lake), "--json"))
        check(summary["invocations"] == 2500, f"run priced {summary['invocations']} invocations")

        # The reference rows: `spendguard price` over the same files (one JSON row per invocation).
        ref = {}
        for f in sorted(logs.iterdir()):
            for line in sg(binary, "price", str(f)).splitlines():
                row = json.loads(line)
                ref[row["request_id"]] = row
        check(len(ref) == 2500, f"price produced {len(ref)} rows")

        columns = json.loads(sg(binary, "columns"))
        data_cols = [c for c in columns if not c["partition"]]
        glue = {c["name"]: c["glue_type"] for c in data_cols}

        # pyarrow: the file schema is exactly the column table, with Athena-safe types.
        files = sorted(lake.glob("dt=*/part-*.parquet"))
        check(len(files) == 2, f"{len(files)} part files")
        want_arrow = {
            "timestamp": pa.timestamp("ms", tz="UTC"),
            "string": pa.string(),
            "bigint": pa.int64(),
            "decimal(38,12)": pa.decimal128(38, 12),
        }
        for f in files:
            schema = pq.read_schema(f)
            check(schema.names == [c["name"] for c in data_cols], f"{f.name}: column names/order {schema.names}")
            check("dt" not in schema.names, "dt is a partition, never a file column")
            for field in schema:
                g = glue[field.name]
                if g == "map<string,string>":
                    check(pa.types.is_map(field.type) and field.type.key_type == pa.string()
                          and field.type.item_type == pa.string(), f"{field.name}: {field.type}")
                else:
                    check(field.type == want_arrow[g], f"{field.name}: {field.type} vs glue {g}")

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        glob = str(lake / "*" / "*.parquet")
        src = f"read_parquet('{glob}', hive_partitioning=true, hive_types={{'dt':'VARCHAR'}})"

        # Athena traps: must return no rows (TOOLING.md), plus the decimal scale of the Glue column.
        traps = con.execute(f"""
            SELECT file_name, name, type, logical_type FROM parquet_schema('{glob}')
            WHERE type = 'INT96' OR logical_type LIKE '%NANOS=NanoSeconds%' OR logical_type LIKE '%isSigned=0%'
               OR logical_type LIKE '%Float16%' OR (converted_type = 'DECIMAL' AND precision > 38)
               OR (converted_type = 'DECIMAL' AND scale <> 12)
               OR logical_type LIKE '%MICROS=MicroSeconds%'
               OR (name = 'event_time' AND logical_type NOT LIKE '%MILLIS=MilliSeconds%')""").fetchall()
        check(traps == [], f"Athena schema traps: {traps}")

        n, distinct, total = con.execute(
            f"SELECT count(*), count(DISTINCT request_id), sum(cost_usd)::VARCHAR FROM {src}").fetchone()
        check(n == 2500 and distinct == 2500, f"{n} rows, {distinct} distinct request ids")
        check(Decimal(total) == Decimal(summary["cost_usd"]), f"duckdb total {total} vs run {summary['cost_usd']}")

        misplaced = con.execute(
            f"SELECT count(*) FROM {src} WHERE strftime(event_time, '%Y-%m-%d') <> dt").fetchone()[0]
        check(misplaced == 0, f"{misplaced} rows outside the partition of their own event_time")

        # Every row, every money column, exactly as `spendguard price` computed it.
        money = [c["name"] for c in data_cols if c["glue_type"].startswith("decimal")]
        ints = [c["name"] for c in data_cols if c["glue_type"] == "bigint"]
        rows = con.execute(
            f"SELECT request_id, dt, price_status, {', '.join(m + '::VARCHAR' for m in money)}, {', '.join(ints)} FROM {src}"
        ).fetchall()
        for r in rows:
            want = ref[r[0]]
            check(r[1] == want["dt"] and r[2] == want["price_status"], f"{r[0]}: dt/status")
            for name, got in zip(money, r[3:3 + len(money)]):
                check(Decimal(got) == Decimal(want[name]), f"{r[0]} {name}: lake {got} vs price {want[name]}")
            for name, got in zip(ints, r[3 + len(money):]):
                check(got == want[name], f"{r[0]} {name}: {got} vs {want[name]}")

        # Per-principal totals agree with the run summary.
        for principal, cost in con.execute(
                f"SELECT principal, sum(cost_usd)::VARCHAR FROM {src} GROUP BY principal").fetchall():
            check(Decimal(cost) == Decimal(summary["by_principal"][principal]), f"{principal}: {cost}")

        # Idempotence as an outside reader sees it: a second run adds nothing.
        again = json.loads(sg(binary, "run", "--input", str(logs), "--input", str(logs), "--lake", str(lake), "--json"))
        n2 = con.execute(f"SELECT count(*) FROM {src}").fetchone()[0]
        check(again["rows_written"] == 0 and n2 == 2500, f"re-run wrote {again['rows_written']}, lake has {n2}")

        size = sum(f.stat().st_size for f in files)
        print(f"lake_check: {checks} checks passed ({n} rows, {size / n:.1f} Parquet bytes per row)")


if __name__ == "__main__":
    main()
