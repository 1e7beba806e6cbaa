"""The front door and its docs, checked: README.md stays about two screens and keeps exactly the two
set-up commands; every docs/*.md is linked from it; every relative link in README and docs/ points
at a file (and a heading) that exists; every alarm in template.yaml has a runbook entry in
docs/operations.md and its description names that entry, and every entry is an alarm; and no
paragraph is said twice across README and docs/. Exits 1 on any problem.

Usage: python scripts/docs_check.py [ROOT]
"""
import glob
import os
import re
import sys

MAX_README_LINES = 110  # about two screens


def anchor(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    h = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return h.replace(" ", "-")


def headings(text):
    return {anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    os.chdir(root)
    problems = []
    readme = open("README.md").read()
    docs = {p: open(p).read() for p in sorted(glob.glob("docs/*.md"))}

    n = readme.count("\n")
    if n > MAX_README_LINES:
        problems.append(f"README.md has {n} lines: the front door fits about two screens "
                        f"({MAX_README_LINES}); reference belongs in docs/")
    blocks = re.findall(r"```bash\n(.*?)```", readme.split("## A short tour")[0], re.S)
    if [b.strip() for b in blocks] != ["cargo run --release --bin spendguard -- demo", "scripts/test.sh"]:
        problems.append(f"README.md must keep exactly the two set-up commands, found {blocks}")

    for p in docs:
        if f"]({p})" not in readme:
            problems.append(f"{p} is not linked from README.md")

    for src, text in [("README.md", readme), *docs.items()]:
        base = os.path.dirname(src)
        for target in re.findall(r"\]\(([^)]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, frag = target.partition("#")
            full = os.path.normpath(os.path.join(base, path)) if path else src
            if not os.path.exists(full):
                problems.append(f"{src}: link to {target}: no such file")
            elif frag and full.endswith(".md") and frag not in headings(open(full).read()):
                problems.append(f"{src}: link to {target}: no such heading")

    template = open("template.yaml").read()
    alarms = {}
    for m in re.finditer(r"^  (\w+):\n    Type: AWS::CloudWatch::Alarm\n(.*?)(?=^  \w+:\n|\Z)",
                         template, re.M | re.S):
        alarms[m.group(1)] = m.group(2)
    ops = docs.get("docs/operations.md", "")
    entries = set(re.findall(r"^## (\w+)$", ops, re.M))
    for name, body in alarms.items():
        if name not in entries:
            problems.append(f"alarm {name} has no runbook entry in docs/operations.md")
        if f"docs/operations.md#{anchor(name)}" not in " ".join(body.split()):
            problems.append(f"alarm {name}: its AlarmDescription does not name docs/operations.md#{anchor(name)}")
    for e in entries - set(alarms):
        problems.append(f"docs/operations.md: entry {e} is not an alarm of template.yaml")

    seen = {}
    for src, text in [("README.md", readme), *docs.items()]:
        for para in re.split(r"\n\s*\n", text):
            key = " ".join(para.split())
            if len(key) < 160 or key.startswith("```"):
                continue
            if key in seen and seen[key] != src:
                problems.append(f"a paragraph is said twice, in {seen[key]} and {src}: {key[:80]}...")
            seen.setdefault(key, src)

    if problems:
        print("\n".join(f"FAIL: {p}" for p in problems))
        sys.exit(1)
    print(f"ok: README.md {n} lines, {len(docs)} docs linked, every link resolves, "
          f"{len(alarms)} alarms each with a named runbook entry, no paragraph said twice")


if __name__ == "__main__":
    main()
