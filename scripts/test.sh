#!/usr/bin/env bash
# The whole test suite, on a fresh machine: formatting, lints, the dependency rule for the pure
# crates, every Rust test, and the price catalogue cross-checked against the pinned genai-prices.
# Installs what it needs itself (a Python venv from PyPI). Usage: scripts/test.sh
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

step "dependency rule: schemas and core stay free of AWS SDK, Lambda runtime and tokio"
for crate in spendguard-schemas spendguard-core; do
  if cargo tree -p "$crate" -e normal --prefix none --locked | grep -E '^(aws-sdk-|aws-config|aws-smithy|lambda_runtime|lambda_http|aws_lambda_events|tokio) ' ; then
    echo "FAIL: $crate depends on a crate it must not (see above)"; exit 1
  fi
done
echo "ok"

step "cargo test"
cargo test --workspace --locked

step "Python tools (PyPI): genai-prices, pyarrow, duckdb"
PY="$TOOLS/venv/bin/python"
if [ ! -x "$PY" ] || ! "$PY" -c 'import genai_prices, pyarrow, duckdb' 2>/dev/null; then
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check \
    'genai-prices==0.2.3' 'pyarrow==21.0.0' 'duckdb==1.4.1'
fi

step "price catalogue vs genai-prices 0.2.3"
"$PY" scripts/check_prices.py

step "the Parquet lake read back by pyarrow and DuckDB (the stand-ins for Athena)"
# `cargo test` above built the binary for the CLI tests; a separate `cargo build` would resolve
# features differently and rebuild arrow/parquet for nothing.
test -x target/debug/spendguard || cargo build --workspace --locked
"$PY" scripts/lake_check.py target/debug/spendguard

echo
echo "scripts/test.sh: every step passed"
