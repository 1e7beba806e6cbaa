#!/usr/bin/env bash
# The SAM template, checked offline: cfn-lint 1.53.3 (the last release that still runs the SAM
# translator), `sam validate --lint`, our cfn-guard rules (and broken copies that each fail one
# rule), the template against the code (Glue columns, deny policy), the docs (a runbook per alarm),
# and the named Athena queries on a local lake. Installs its tools under TOOLS_DIR: a venv from PyPI and cfn-guard from crates.io.
# Usage: scripts/template_lint.sh TOOLS_DIR SPENDGUARD_BIN (from scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=$1
BIN=$2
LINT="$TOOLS/lint/bin"
LINT_PKGS=('aws-sam-cli==1.170.0' 'cfn-lint==1.53.3' 'sqlglot==30.30.0' 'duckdb==1.4.1')
if [ ! -x "$LINT/sam" ] || ! "$LINT/python" -c 'import sqlglot, duckdb, cfnlint' 2>/dev/null \
   || [ "$("$LINT/cfn-lint" --version 2>/dev/null)" != "cfn-lint 1.53.3" ]; then
  python3 -m venv "$TOOLS/lint"
  "$LINT/pip" install -q --disable-pip-version-check "${LINT_PKGS[@]}"
fi
GUARD="$TOOLS/guard/bin/cfn-guard"
if [ ! -x "$GUARD" ]; then
  echo "installing cfn-guard 3.2.1 from crates.io (about 5 minutes on 2 cores)"
  cargo install cfn-guard --version 3.2.1 --locked --quiet --root "$TOOLS/guard"
fi
# No credentials and no config: everything here is offline.
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null SAM_CLI_TELEMETRY=0

echo "-- cfn-lint $("$LINT/cfn-lint" --version | cut -d' ' -f2)"
"$LINT/cfn-lint" template.yaml && echo "ok: no findings"
echo "-- sam validate --lint"
"$LINT/sam" validate --lint --region us-east-1 -t template.yaml
echo "-- cfn-guard rules (policy/spendguard.guard)"
"$GUARD" validate --rules policy/spendguard.guard --data template.yaml --show-summary fail
echo "ok: every rule passes"
"$LINT/python" scripts/guard_mutations.py "$GUARD" template.yaml policy/spendguard.guard
echo "-- the template against the code"
"$LINT/python" scripts/template_check.py "$BIN" template.yaml
echo "-- the README front door, docs/ and a runbook per alarm"
"$LINT/python" scripts/docs_check.py
echo "-- the named Athena queries on a local lake"
"$LINT/python" scripts/athena_check.py "$BIN" template.yaml
