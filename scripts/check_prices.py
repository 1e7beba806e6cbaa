#!/usr/bin/env python3
"""Check the price catalogue in force against every Bedrock model the pinned genai-prices prices.

Usage: python scripts/check_prices.py [--spendguard BIN] [--prices OVERLAY ...] [--verbose]

It cannot stay green on a stale catalogue. For every model of genai-prices' `aws` provider:

  1. Model ids to ask about: every id and alias in prices/bedrock.toml (and the overlays) under
     every tier prefix (bare, `global.`, and each geography prefix), plus the ids genai-prices
     names itself (its model id and the whole ids of its match rule: `equals`/`ends_with`, not
     the `contains` fragments). genai-prices decides which of them it prices, as which model.
  2. Each such id is explained by `spendguard prices explain --json` (the pricer's own code, not
     a copy of it) at every date the package dates a price from, the day before, and today.
  3. MISSING: a genai-prices model that none of those ids reaches through one of our own
     entries (a fallback is not a price). A genai-prices model that no id of ours or of its own
     reaches at all is missing too.
  4. MISMATCH: for every class the package states (input, output, cache read, cache write 5m,
     cache write 1h) its price at a prompt of 0 tokens and just over each of its thresholds must
     equal ours exactly (Decimal equality). A threshold the package states that we lack is a
     mismatch; a threshold we state that the package does not is reported as "ours only" with
     the entry's source (it comes from somewhere else, e.g. the Sonnet 4.x 200K tier).
  5. An entry whose source credits genai-prices must be priced by the package for some id.

Exceptions are EXCLUSIONS below: one line per genai-prices model with its reason; the count is
printed. Exit 1 on any missing model, mismatch or failure.

The comparison is pinned: any installed genai-prices other than PINNED_VERSION fails the check.
Standard library + genai_prices only; Python 3.11+.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from decimal import Decimal
from pathlib import Path

PINNED_VERSION = "0.2.3"
REPO = Path(__file__).resolve().parent.parent
GEO = ("us-gov.", "apac.", "us.", "eu.", "jp.", "au.", "ca.", "in.")
REGION = "us-east-1"

# genai-prices model id -> why it is not compared. One line each.
EXCLUSIONS: dict[str, str] = {
    "amazon.nova-sonic-v1:0":
        "speech: the log has no audio/text split, so every token is billed at the audio rate",
    "amazon.nova-2-sonic-v1:0":
        "speech: the log has no audio/text split, so every token is billed at the audio rate",
}

# genai-prices price attribute -> our class
CLASSES = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write_5m",
    "cache_write_1h_mtok": "cache_write_1h",
}
# A string that can be a logged model id: provider.model, optionally behind a tier prefix.
ID_LIKE = re.compile(r"^(?:global\.|us-gov\.|apac\.|us\.|eu\.|jp\.|au\.|ca\.|in\.)?[a-z]+(?:-[a-z]+)?\.[a-z0-9]")


def whole_ids(clause) -> list[str]:
    """The literals of a match rule that are whole model ids (equals, ends_with): a starts_with
    or contains literal is a fragment (`meta.llama3-70b-instruct`), not an id a log carries."""
    for attr in ("or_", "and_"):
        if hasattr(clause, attr):
            return [x for c in getattr(clause, attr) for x in whole_ids(c)]
    for attr in ("equals", "ends_with"):
        if hasattr(clause, attr):
            return [getattr(clause, attr)]
    return []


def their_price(value, prompt: int):
    """The package's price of one class for a request of `prompt` input tokens (its rule: the
    last tier whose start the prompt is strictly over, else the base)."""
    from genai_prices.types import TieredPrices
    if isinstance(value, TieredPrices):
        price = value.base
        for tier in sorted(value.tiers, key=lambda t: t.start):
            if prompt > tier.start:
                price = tier.price
        return price
    return value


def our_price(expl: dict, cls: str, prompt: int):
    rates = expl["rates"]
    for lc in expl["long_context"]:
        if prompt > lc["threshold_tokens"]:
            rates = lc["rates"]
    v = rates.get(cls)
    return None if v is None else Decimal(v)


def explain(binary: str, overlays: list[str], refs: list[str], at: str) -> dict[str, dict]:
    cmd = [binary, "prices", "explain", "--json", "--region", REGION, "--at", at]
    for o in overlays:
        cmd += ["--prices", o]
    out = subprocess.run(cmd + refs, capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise SystemExit(f"FAIL: {' '.join(cmd[:8])} ... exited {out.returncode}: {out.stderr}")
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    if len(rows) != len(refs):
        raise SystemExit(f"FAIL: asked about {len(refs)} ids, got {len(rows)} answers")
    return {r["model_id"]: r for r in rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spendguard", default=str(REPO / "target" / "debug" / "spendguard"))
    parser.add_argument("--prices", action="append", default=[], help="overlay file(s)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()

    try:
        version = importlib.metadata.version("genai-prices")
    except importlib.metadata.PackageNotFoundError:
        print(f"FAIL: install genai-prices=={PINNED_VERSION}")
        return 1
    print(f"genai-prices {version}")
    if version != PINNED_VERSION:
        print(f"FAIL: the comparison is pinned to genai-prices=={PINNED_VERSION}, found {version}")
        return 1
    from genai_prices import data

    aws = next(p for p in data.providers if p.id == "aws")
    models = {m.id: m for m in aws.models}

    # Our ids and aliases, per entry, from the catalogue files in force.
    entries = []
    for f in [REPO / "prices" / "bedrock.toml", *map(Path, args.prices)]:
        with f.open("rb") as fh:
            entries += tomllib.load(fh).get("price", [])
    ours = sorted({k for e in entries for k in [e["model"], *e.get("aliases", [])]})

    refs: set[str] = set()
    for k in ours:
        refs.add(k)
        refs.add("global." + k)
        refs.update(g + k for g in GEO)
    for m in aws.models:
        own = m.id.removeprefix("regional.")
        refs.add(own)
        refs.update(l.lstrip("/") for l in whole_ids(m.match) if ID_LIKE.match(l.lstrip("/")))
    refs_of: dict[str, list[str]] = {}
    for r in sorted(refs):
        m = aws.find_model(r)
        if m is not None:
            refs_of.setdefault(m.id, []).append(r)

    today = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    instants: dict[str, set[dt.datetime]] = {}
    for mid, m in models.items():
        ats = {today}
        if isinstance(m.prices, list):
            for cp in m.prices:
                c = getattr(cp.constraint, "start_date", None)
                if c is not None:
                    start = dt.datetime.combine(c, dt.time(0), dt.UTC)
                    ats.update({start, start - dt.timedelta(hours=12)})
        instants[mid] = ats

    asked: dict[tuple[str, str], dict] = {}
    for at in sorted({a for s in instants.values() for a in s}):
        at_s = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        want = sorted({r for mid, rs in refs_of.items() if at in instants[mid] for r in rs})
        for r, row in explain(args.spendguard, args.prices, want, at_s).items():
            asked[(r, at_s)] = row

    missing = mismatches = compared = excluded = 0
    ours_only: dict[tuple, str] = {}
    for mid, m in models.items():
        if mid in EXCLUSIONS:
            excluded += 1
            print(f"exclude  {mid}: {EXCLUSIONS[mid]}")
            continue
        rs = refs_of.get(mid, [])
        if not rs:
            missing += 1
            print(f"MISSING  {mid}: no model id of ours or of the package reaches it")
            continue
        priced_any = False
        for at in sorted(instants[mid]):
            at_s = at.strftime("%Y-%m-%dT%H:%M:%SZ")
            theirs = m.get_prices(at)
            stated = {CLASSES[k]: getattr(theirs, k) for k in CLASSES if getattr(theirs, k, None) is not None}
            their_starts = sorted({t.start for v in stated.values() for t in getattr(v, "tiers", [])})
            for r in rs:
                ex = asked[(r, at_s)]
                if ex["outcome"] != "priced":
                    missing += 1
                    print(f"MISSING  {mid}: {r} at {at_s} is {ex['outcome']} in our catalogue")
                    continue
                priced_any = True
                our_starts = [lc["threshold_tokens"] for lc in ex["long_context"]]
                for s in our_starts:
                    if s not in their_starts:
                        e = ex["entry"]
                        ours_only[(e["model"], e["tier"], e["effective_from"], s)] = e.get("source") or "?"
                for prompt in [0, *(s + 1 for s in their_starts)]:
                    for cls, v in stated.items():
                        want, got = their_price(v, prompt), our_price(ex, cls, prompt)
                        compared += 1
                        if got is None or got != want:
                            mismatches += 1
                            print(f"MISMATCH {mid}: {r} at {at_s}, {cls} with a {prompt}-token prompt: "
                                  f"ours {got}, genai-prices {want.normalize()} "
                                  f"(our entry {ex['entry']['model']} [{ex['entry']['tier']}])")
                        elif args.verbose:
                            print(f"ok       {mid}: {r} at {at_s} {cls}@{prompt}: {got}")
        if not priced_any:
            print(f"note     {mid}: never priced by an entry of ours (see MISSING above)")

    # Entries that say genai-prices is their source must be priced by it for some id.
    failures = 0
    by_ours = {}
    for mid, rs in refs_of.items():
        for r in rs:
            base = r
            for p in ("global.", *GEO):
                if base.startswith(p):
                    base = base[len(p):]
                    break
            by_ours.setdefault(base, set()).add(mid)
    for e in entries:
        src = e.get("source", "")
        if "genai-prices" in src and "not in genai-prices" not in src:
            keys = [e["model"], *e.get("aliases", [])]
            if not any(k in by_ours for k in keys):
                failures += 1
                print(f"FAIL     {e['model']} [{e['tier']}]: source credits genai-prices, "
                      f"but the package prices none of {keys}")

    for (model, tier, frm, s), src in sorted(ours_only.items()):
        print(f"ours only {model} [{tier}] from {frm[:10]}: threshold {s} tokens (source: {src})")
    print(f"check_prices: {len(models)} genai-prices Bedrock models, {len(entries)} catalogue entries, "
          f"{sum(map(len, refs_of.values()))} model ids compared; {compared} prices compared, "
          f"{mismatches} mismatched, {missing} missing, {len(EXCLUSIONS)} exclusions "
          f"({excluded} used), {len(ours_only)} ours-only thresholds, {failures} failures")
    return 1 if (missing or mismatches or failures) else 0


if __name__ == "__main__":
    sys.exit(main())
