#!/usr/bin/env python3
"""Cross-check prices/bedrock.toml against the pinned PyPI package genai-prices.

Usage: python scripts/check_prices.py [--verbose] [CATALOGUE]   (default: prices/bedrock.toml)

For every [[price]] entry that applies to all Regions (regions = ["*"]), and every concrete
tier it covers, price 1,000,000 tokens of ONE token class at a time with genai-prices
(provider "aws") and compare the result with our per-1M price exactly (Decimal equality):

    tier       model ref given to genai-prices
    global     "global.<model>"
    geo        "us.<model>"           (a geography profile; genai-prices calls these regional)
    in_region  "<model>"              (plain model id)
    regional   geo + in_region
    *          geo + in_region        (global is not checked for "*": the package may price the
                                       global profile of an older model differently or not at all)

Classes compared: input, output, cache_read (if our entry has it), cache_write_5m (if our entry
has it) and cache_write_1h (if our entry has it, the installed Usage knows
`cache_write_1h_tokens`, and the package has an explicit 1h price for the model; without one the
package would bill 1h writes at its 5m/input price, which is not a price statement).

NOT compared: `long_context` and `batch_*`. genai-prices 0.2.3 does not model Bedrock long
context (a >200K-token prompt re-pricing every class) nor batch inference for these models, so
there is nothing to compare against. If the package ever prices one of our classes with
threshold tiers, the check reports that instead of comparing a tier price with our base price.

Entries whose `source` credits genai-prices must match: a mismatch or a LookupError is a failure
(unless the (model, ref) pair is listed in KNOWN_GAPS). Entries sourced elsewhere (including
those saying "not in genai-prices") are expected to be unknown to the package; if it does price
them, mismatches are printed as warnings only.

The comparison is pinned: any installed genai-prices other than PINNED_VERSION fails the check.
Standard library + genai_prices only; Python 3.11+.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import sys
import tomllib
import warnings
from decimal import Decimal
from pathlib import Path

PINNED_VERSION = "0.2.3"
PROVIDER = "aws"
MTOK = 1_000_000

# (model, ref) pairs for entries sourced from genai-prices where the package has the price but
# does not match this particular model ref (it raises LookupError). Keep minimal; one line each.
KNOWN_GAPS: set[tuple[str, str]] = {
    # genai-prices 0.2.3 matches regional Nova 2 Lite only via "us."/"eu."/"jp." profile ids,
    # not the bare in-Region id; the geo ref ("us.") is checked and carries the same price.
    ("amazon.nova-2-lite-v1:0", "amazon.nova-2-lite-v1:0"),
}

TIER_TO_CONCRETE = {
    "global": ("global",),
    "geo": ("geo",),
    "in_region": ("in_region",),
    "regional": ("geo", "in_region"),
    "*": ("in_region", "geo"),
}
# When several all-Region entries cover the same (model, concrete tier), the most specific tier
# wins (as in spendguard's lookup), then the latest effective_from.
TIER_SPECIFICITY = {"global": 3, "geo": 3, "in_region": 3, "regional": 2, "*": 1}

# our class -> package price attribute that must exist (None: always compare)
CLASSES = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
PRICE_KEYS = {
    "input": ("input_mtok",),
    "output": ("output_mtok",),
    "cache_read": ("cache_read_mtok", "input_mtok"),
    "cache_write_5m": ("cache_write_5m_mtok", "cache_write_mtok", "input_mtok"),
    "cache_write_1h": ("cache_write_1h_mtok",),
}


def model_ref(model: str, concrete_tier: str) -> str:
    if concrete_tier == "global":
        return f"global.{model}"
    if concrete_tier == "geo":
        return f"us.{model}"
    return model


def claims_genai_prices(source: str) -> bool:
    s = source.lower()
    return "genai-prices" in s and "not in genai-prices" not in s


def usage_key_exists(key: str, usage_cls: type) -> bool:
    """True if genai-prices' Usage knows `key` (unknown keys only produce a UserWarning)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        usage_cls(**{key: 0})
    return not any("Unsupported usage key" in str(w.message) for w in caught)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalogue", nargs="?", type=Path,
                        default=Path(__file__).resolve().parent.parent / "prices" / "bedrock.toml")
    parser.add_argument("-v", "--verbose", action="store_true", help="also print every match")
    args = parser.parse_args()

    try:
        version = importlib.metadata.version("genai-prices")
    except importlib.metadata.PackageNotFoundError:
        print("genai-prices not installed")
        print(f"FAIL: install genai-prices=={PINNED_VERSION}")
        return 1
    print(f"genai-prices {version}")
    if version != PINNED_VERSION:
        print(f"FAIL: the comparison is pinned to genai-prices=={PINNED_VERSION}, found {version}")
        return 1

    from genai_prices import Usage, calc_price
    from genai_prices.types import TieredPrices

    has_1h = usage_key_exists("cache_write_1h_tokens", Usage)
    has_5m = usage_key_exists("cache_write_5m_tokens", Usage)
    if not has_1h:
        print("note: Usage has no cache_write_1h_tokens; cache_write_1h is not compared")

    def usage_for(cls: str):
        # genai-prices: input_tokens is the TOTAL input, including cache read and write tokens.
        if cls == "input":
            return Usage(input_tokens=MTOK, output_tokens=0)
        if cls == "output":
            return Usage(input_tokens=0, output_tokens=MTOK)
        if cls == "cache_read":
            return Usage(input_tokens=MTOK, cache_read_tokens=MTOK, output_tokens=0)
        if cls == "cache_write_5m":
            extra = {"cache_write_5m_tokens": MTOK} if has_5m else {}
            return Usage(input_tokens=MTOK, cache_write_tokens=MTOK, output_tokens=0, **extra)
        if cls == "cache_write_1h":
            return Usage(input_tokens=MTOK, cache_write_tokens=MTOK, cache_write_1h_tokens=MTOK,
                         output_tokens=0)
        raise AssertionError(cls)

    with args.catalogue.open("rb") as f:
        catalogue = tomllib.load(f)
    entries = catalogue.get("price", [])
    today = dt.date.today().isoformat()

    failures = 0  # unexpected LookupErrors and other hard errors
    compared = mismatches = not_in = gaps = warns = 0
    gaps_seen: set[tuple[str, str]] = set()

    # Choose, per (model, concrete tier), the one all-Region entry that spendguard would apply.
    chosen: dict[tuple[str, str], dict] = {}
    for e in entries:
        label = f"{e['model']} [{e['tier']}]"
        regions = e.get("regions", ["*"])
        if regions != ["*"]:
            print(f"skip  {label}: region-specific entry (regions={regions}), not compared")
            continue
        if e["tier"] not in TIER_TO_CONCRETE:
            print(f"FAIL  {label}: unknown tier {e['tier']!r}")
            failures += 1
            continue
        eff_to = str(e.get("effective_to", "")) or None
        if str(e.get("effective_from", "")) > today or (eff_to is not None and eff_to <= today):
            print(f"skip  {label}: not in effect today ({e.get('effective_from')} .. {eff_to})")
            continue
        for ct in TIER_TO_CONCRETE[e["tier"]]:
            key = (e["model"], ct)
            rank = (TIER_SPECIFICITY[e["tier"]], str(e.get("effective_from", "")))
            prev = chosen.get(key)
            if prev is None or rank > (TIER_SPECIFICITY[prev["tier"]], str(prev.get("effective_from", ""))):
                chosen[key] = e

    for (model, ct), e in chosen.items():
        ref = model_ref(model, ct)
        source = e.get("source", "")
        expected = claims_genai_prices(source)
        where = f"{model} {ct} ({ref})"

        calcs = {}
        try:
            for cls in CLASSES:
                if cls in e:
                    if cls == "cache_write_1h" and not has_1h:
                        continue
                    calcs[cls] = calc_price(usage_for(cls), ref, provider_id=PROVIDER)
        except LookupError as exc:
            if (model, ref) in KNOWN_GAPS:
                gaps += 1
                gaps_seen.add((model, ref))
                print(f"gap   {where}: known gap, not matched by genai-prices ({exc})")
            elif expected:
                failures += 1
                print(f"FAIL  {where}: source credits genai-prices but it raises LookupError: {exc}")
            else:
                not_in += 1
                print(f"info  {where}: not in genai-prices (source: {source})")
            continue

        if (model, ref) in KNOWN_GAPS:
            gaps_seen.add((model, ref))
            print(f"note  {where}: listed in KNOWN_GAPS but genai-prices now prices it; remove the gap")

        for cls, calc in calcs.items():
            mp = calc.model_price
            if cls == "cache_write_1h" and getattr(mp, "cache_write_1h_mtok", None) is None:
                if args.verbose:
                    print(f"      {where} {cls}: no explicit 1h price in genai-prices, not compared")
                continue
            price_attr = next((k for k in PRICE_KEYS[cls] if getattr(mp, k, None) is not None), None)
            if price_attr is not None and isinstance(getattr(mp, price_attr), TieredPrices):
                # Our long_context is not compared; a tiered package price would be billed at a tier
                # rate for 1M tokens and could not be compared with our base price.
                msg = f"{where} {cls}: genai-prices prices it in threshold tiers ({getattr(mp, price_attr)})"
                if expected:
                    failures += 1
                    print(f"FAIL  {msg}")
                else:
                    warns += 1
                    print(f"warn  {msg}")
                continue

            theirs = calc.output_price if cls == "output" else calc.input_price
            ours = Decimal(str(e[cls]))
            compared += 1
            if theirs == ours:
                if args.verbose:
                    print(f"ok    {where} {cls}: {ours} (genai-prices model {calc.model.id})")
                continue
            msg = (f"{where} {cls}: ours {ours}, genai-prices {theirs.normalize()} "
                   f"(model {calc.model.id}; our source: {source})")
            if expected:
                mismatches += 1
                print(f"MISMATCH {msg}")
            else:
                warns += 1
                print(f"warn  {msg}")

    for model, ref in sorted(KNOWN_GAPS - gaps_seen):
        print(f"note  KNOWN_GAPS entry ({model}, {ref}) was not used; remove it if stale")

    if warns:
        print(f"{warns} warning(s) for entries not sourced from genai-prices (not failures)")
    print(f"check_prices: {compared} compared, {mismatches} mismatches, "
          f"{not_in} not in genai-prices, {gaps} known gaps")
    if failures:
        print(f"FAIL: {failures} unexpected lookup error(s) or other failure(s) above")
    return 1 if (mismatches or failures) else 0


if __name__ == "__main__":
    sys.exit(main())
