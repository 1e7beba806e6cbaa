#!/usr/bin/env bash
# The whole test suite, on a fresh machine: formatting, lints, the dependency rule for the pure
# crates, every Rust test (emulators included), the SAM template (lint, policy-as-code, template vs
# code, Athena queries), `sam build` and the built Lambda binaries, the price catalogue against the
# pinned genai-prices, and the lake read back by pyarrow and DuckDB. Installs what it needs itself
# (Python venvs from PyPI, kinesalite from npm, cfn-guard from crates.io). Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
TOOLS=${SPENDGUARD_TOOLS:-$PWD/target/ci-tools}
mkdir -p "$TOOLS"

step() { printf '\n== %s\n' "$*"; }

step "rustfmt"
cargo fmt --all -- --check

step "clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "dependency rules: schemas, core and the embedded ledger free of AWS SDK, Lambda runtime and tokio; Lambdas free of arrow/parquet and of each other"
for crate in spendguard-schemas spendguard-core spendguard-embedded; do
  if cargo tree -p "$crate" -e normal --prefix none --locked | grep -E '^(aws-sdk-|aws-config|aws-smithy|lambda_runtime|lambda_http|aws_lambda_events|tokio) ' ; then
    echo "FAIL: $crate depends on a crate it must not (see above)"; exit 1
  fi
done
for crate in spendguard-transform spendguard-aggregator spendguard-enforcer spendguard-refresh; do
  if cargo tree -p "$crate" -e normal --prefix none --locked | grep -E '^(arrow|parquet|rusqlite)' ; then
    echo "FAIL: the $crate Lambda links arrow/parquet/rusqlite (see above)"; exit 1
  fi
done
# Lambda crates sit side by side: what more than one of them uses lives in spendguard-aws, so
# none depends on another (dev-dependencies, for tests across the pipeline, are allowed).
LAMBDAS='spendguard-transform|spendguard-aggregator|spendguard-enforcer|spendguard-refresh'
for crate in spendguard-transform spendguard-aggregator spendguard-enforcer spendguard-refresh; do
  if cargo tree -p "$crate" -e normal --prefix none --locked | tail -n +2 | grep -E "^($LAMBDAS) "; then
    echo "FAIL: the $crate Lambda depends on another Lambda crate (see above); share through spendguard-aws"; exit 1
  fi
done
echo "ok"

step "tools: Python venv (PyPI) and kinesalite (npm)"
PY="$TOOLS/venv/bin/python"
PIP_PKGS=('genai-prices==0.2.3' 'pyarrow==21.0.0' 'duckdb==1.4.1' 'moto[server]==5.2.5'
  'cargo-lambda==1.9.2' 'ziglang==0.17.1' 'selenium==4.45.0')
if [ ! -x "$PY" ] || ! "$PY" -c 'import genai_prices, pyarrow, duckdb, moto, selenium' 2>/dev/null \
   || [ ! -x "$TOOLS/venv/bin/cargo-lambda" ]; then
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check "${PIP_PKGS[@]}"
fi
if ! command -v node >/dev/null; then
  echo "node not found: installing nodejs and npm from Debian"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -q && $SUDO apt-get install -y -q nodejs npm
fi
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "chromium not found: installing chromium and chromium-driver from Debian (the HTML report's browser)"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium chromium-driver
fi
if [ ! -f "$TOOLS/npm/node_modules/kinesalite/package.json" ]; then
  mkdir -p "$TOOLS/npm"
  (cd "$TOOLS/npm" && { [ -f package.json ] || npm init -y >/dev/null; } \
     && npm install -q --no-audit --no-fund kinesalite@3.3.3)
fi

step "emulators on 127.0.0.1: moto server (Firehose, S3, ...) and kinesalite (Kinesis)"
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 150); do
    if "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "FAIL: $2 did not start on port $1 (see $TOOLS/$2.log)"; exit 1
}
PIDS=""
cleanup() { if [ -n "$PIDS" ]; then kill $PIDS 2>/dev/null || true; fi; }
trap cleanup EXIT
MOTO_PORT=$(free_port)
"$TOOLS/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$TOOLS/moto.log" 2>&1 &
PIDS="$PIDS $!"
KINESIS_PORT=$(free_port)
node -e "require('$TOOLS/npm/node_modules/kinesalite')({createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0}).listen($KINESIS_PORT, '127.0.0.1')" \
  >"$TOOLS/kinesalite.log" 2>&1 &
PIDS="$PIDS $!"
wait_port "$MOTO_PORT" moto
wait_port "$KINESIS_PORT" kinesalite
export SPENDGUARD_TEST_MOTO="http://127.0.0.1:$MOTO_PORT"
export SPENDGUARD_TEST_KINESIS="http://127.0.0.1:$KINESIS_PORT"
echo "moto $SPENDGUARD_TEST_MOTO, kinesalite $SPENDGUARD_TEST_KINESIS"

step "cargo test (emulator tests included)"
cargo test --workspace --locked

# `cargo test` above built the CLI for its tests; a separate `cargo build` would resolve
# features differently and rebuild arrow/parquet for nothing.
test -x target/debug/spendguard || cargo build --workspace --locked

step "the SAM template: cfn-lint 1.53.3, sam validate --lint, cfn-guard rules (+ broken copies), template vs code, Athena queries"
scripts/template_lint.sh "$TOOLS" target/debug/spendguard

step "sam build: every function, x86_64 (no aarch64 std on this machine; arm64 is the template default)"
sam_start=$(date +%s)
PATH="$TOOLS/venv/bin:$TOOLS/lint/bin:$PATH" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
  SAM_CLI_TELEMETRY=0 sam build --region us-east-1 --parameter-overrides Architecture=x86_64 \
  --build-dir target/sam-build --cache-dir target/sam-cache
echo "sam build: $(( $(date +%s) - sam_start ))s"

step "the built bootstrap binaries under cargo lambda's Lambda runtime API: Firehose, Kinesis, DynamoDB Stream and EventBridge events"
scripts/lambda_smoke.sh "$TOOLS" target/sam-build

step "price catalogue vs every Bedrock model genai-prices 0.2.3 prices (through spendguard prices explain)"
"$PY" scripts/check_prices.py --spendguard target/debug/spendguard

step "the Parquet lake read back by pyarrow and DuckDB (the stand-ins for Athena)"
"$PY" scripts/lake_check.py target/debug/spendguard

step "the HTML report in headless Chromium (Debian's chromium and chromedriver, no download)"
"$PY" scripts/report_html_check.py target/debug/spendguard

echo
echo "scripts/test.sh: every step passed"
