"""The SAM template against the code it deploys: the Glue table's Columns and PartitionKeys must be
the priced-row columns of schemas/src/row.rs (`spendguard columns`), and the managed deny policy
must be core::enforce::deny_policy_document (`spendguard deny-policy`). Exits 1 on any difference.

Usage: python scripts/template_check.py SPENDGUARD_BIN [TEMPLATE] [--fix]
  --fix rewrites the generated Columns/PartitionKeys blocks of the template from the schema.
Runs in the lint venv (cfn-lint's YAML loader understands the short-form intrinsics).
"""
import json
import re
import subprocess
import sys

from cfnlint.decode import decode

# Values !Sub strings are resolved with, so the template's ARNs compare with the CLI's.
PSEUDO = {"AWS::Partition": "aws", "AWS::AccountId": "123456789012", "AWS::StackName": "stack",
          "AWS::Region": "us-east-1"}


def plain(v):
    """cfn-lint's node types as plain dicts, lists and strings."""
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return str(v) if isinstance(v, str) else v


def resolve(v):
    """Resolves Fn::Sub over pseudo parameters; other intrinsics stay as they are."""
    if isinstance(v, dict) and list(v) == ["Fn::Sub"] and isinstance(v["Fn::Sub"], str):
        return re.sub(r"\$\{([^}!]+)\}", lambda m: PSEUDO.get(m.group(1), m.group(0)), v["Fn::Sub"])
    if isinstance(v, dict):
        return {k: resolve(x) for k, x in v.items()}
    if isinstance(v, list):
        return [resolve(x) for x in v]
    return v


def as_list(v):
    return v if isinstance(v, list) else [v]


def normalise(doc):
    """Statement order and list-or-string forms do not matter to IAM."""
    out = []
    for s in doc["Statement"]:
        s = dict(s)
        for k in ("Action", "Resource"):
            s[k] = sorted(as_list(s[k]))
        out.append(s)
    return sorted(out, key=lambda s: s["Sid"])


def column_lines(cols, indent):
    pad = " " * indent
    return [f"{pad}- {{Name: {c['name']}, Type: {quote(c['glue_type'])}, Comment: {json.dumps(c['comment'])}}}"
            for c in cols]


def quote(s):
    return s if re.fullmatch(r"[a-z0-9_]+", s) else json.dumps(s)


def fix(path, cols):
    text = open(path).read()
    for label, wanted in (("partition keys", [c for c in cols if c["partition"]]),
                          ("columns", [c for c in cols if not c["partition"]])):
        pat = re.compile(rf"^( *)# BEGIN generated {label} \(spendguard columns\)\n.*?^ *# END generated {label}\n",
                         re.S | re.M)
        m = pat.search(text)
        if not m:
            sys.exit(f"{path}: no '# BEGIN generated {label}' block")
        indent = len(m.group(1))
        block = "\n".join([f"{m.group(1)}# BEGIN generated {label} (spendguard columns)",
                           *column_lines(wanted, indent), f"{m.group(1)}# END generated {label}"]) + "\n"
        text = text[:m.start()] + block + text[m.end():]
    open(path, "w").write(text)
    print(f"{path}: generated blocks rewritten from the schema")


def main():
    args = [a for a in sys.argv[1:] if a != "--fix"]
    binary = args[0]
    path = args[1] if len(args) > 1 else "template.yaml"
    cols = json.loads(subprocess.check_output([binary, "columns"]))
    if "--fix" in sys.argv:
        fix(path, cols)
    template, matches = decode(path)
    if matches:
        sys.exit(f"{path}: cannot parse: {matches}")
    res = plain(template)["Resources"]
    problems = []

    table = res["InvocationsTable"]["Properties"]["TableInput"]
    got = [(c["Name"], c["Type"], c.get("Comment")) for c in table["StorageDescriptor"]["Columns"]]
    want = [(c["name"], c["glue_type"], c["comment"]) for c in cols if not c["partition"]]
    if got != want:
        problems.append(f"Glue Columns differ from the schema:\n  template {got}\n  schema   {want}")
    got = [(c["Name"], c["Type"], c.get("Comment")) for c in table["PartitionKeys"]]
    want = [(c["name"], c["glue_type"], c["comment"]) for c in cols if c["partition"]]
    if got != want:
        problems.append(f"Glue PartitionKeys differ from the schema: template {got}, schema {want}")
    if "projection.dt.type" not in table["Parameters"] or [k for k, *_ in got] != ["dt"]:
        problems.append("partition projection must be on dt, the only partition key")

    props = res["DenyPolicy"]["Properties"]
    policy_arn = f"arn:aws:iam::{PSEUDO['AWS::AccountId']}:policy/{resolve(props['ManagedPolicyName'])}"
    group_arn = (f"arn:aws:iam::{PSEUDO['AWS::AccountId']}:group/"
                 f"{resolve(res['SuspendedGroup']['Properties']['GroupName'])}")
    want = json.loads(subprocess.check_output(
        [binary, "deny-policy", "--policy-arn", policy_arn, "--group-arn", group_arn]))
    got = resolve(props["PolicyDocument"])
    if normalise(got) != normalise(want):
        problems.append("DenyPolicy differs from core::enforce::deny_policy_document:\n"
                        f"  template {json.dumps(normalise(got))}\n  core     {json.dumps(normalise(want))}")

    if problems:
        print("\n".join(f"FAIL: {p}" for p in problems))
        sys.exit(1)
    print(f"ok: {path}: {len(table['StorageDescriptor']['Columns'])} Glue columns and the partition key "
          f"match the schema; the deny policy matches the core ({len(want['Statement'])} statements)")


if __name__ == "__main__":
    main()
