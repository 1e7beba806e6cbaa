#!/usr/bin/env bash
# Smoke test of the transform binary as Lambda runs it: cargo lambda's Lambda runtime API
# emulator (`watch --only-lambda-apis`), the binary `cargo test` built, and `cargo lambda invoke`
# with Firehose event fixtures. Usage: scripts/lambda_smoke.sh TOOLS_DIR (from scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=$1
PY="$TOOLS/venv/bin/python"
export PATH="$TOOLS/venv/bin:$PATH"
BIN=target/debug/spendguard-transform
test -x "$BIN" || cargo build -p spendguard-transform --locked
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PIDS=""
cleanup() { if [ -n "$PIDS" ]; then kill $PIDS 2>/dev/null || true; fi; }
trap cleanup EXIT
cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P "$PORT" --timeout 60 >"$TOOLS/watch.log" 2>&1 &
PIDS="$!"
for _ in $(seq 1 150); do
  "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null && break
  sleep 0.1
done
AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024 AWS_LAMBDA_FUNCTION_NAME=_ \
AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$PORT/.rt" AWS_REGION=us-east-1 \
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$BIN" >"$TOOLS/transform.log" 2>&1 &
PIDS="$PIDS $!"
for f in kinesis-many kinesis-bad; do
  cargo lambda invoke _ -A 127.0.0.1 -P "$PORT" \
    --data-file "schemas/fixtures/example-firehose-$f.json" >"$TOOLS/invoke-$f.json"
done
"$PY" - "$TOOLS" <<'PY'
import base64, json, sys
tools = sys.argv[1]
many = json.load(open(f"{tools}/invoke-kinesis-many.json"))["records"]
assert [r["result"] for r in many] == ["Ok"] * 4, many
assert {r["metadata"]["partitionKeys"]["dt"] for r in many} == {"2026-11-20"}
rows = [json.loads(l) for r in many for l in base64.b64decode(r["data"]).decode().splitlines()]
assert len(rows) == 14 and all(r["cost_usd"] for r in rows), len(rows)
bad = json.load(open(f"{tools}/invoke-kinesis-bad.json"))["records"]
assert [r["result"] for r in bad] == ["Dropped", "ProcessingFailed", "ProcessingFailed", "Ok",
                                      "Dropped", "ProcessingFailed"], bad
log = [json.loads(l) for l in open(f"{tools}/transform.log") if l.startswith("{")]
emf = [l for l in log if "_aws" in l]
assert [e["RecordsIn"] for e in emf] == [4, 6], emf
print(f"ok: 2 invocations through the Lambda runtime API, {len(rows)} rows, {len(log) - len(emf)} problem lines")
PY
