#!/usr/bin/env python3
"""The HTML report read in a real browser: Debian's headless Chromium driven by its chromedriver
(paths given explicitly, nothing downloaded). On a generated lake it checks that the page logs no
console error and makes no network request, that every chart and table is there, and that its
figures equal `spendguard report --format json` (and its CSV links `--format csv`) for the same
arguments; it also checks the phone width and the refusals (empty period, missing lake), and
saves screenshots under target/ for a person to look at.

Usage: report_html_check.py SPENDGUARD_BINARY
"""
import base64
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from decimal import ROUND_HALF_UP, Decimal

# Selenium must use the Debian browser and driver, never fetch its own.
os.environ["SE_OFFLINE"] = "true"
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

SG = sys.argv[1]
TARGET = pathlib.Path("target")


def sg(*args, check=True):
    p = subprocess.run([SG, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        sys.exit(f"spendguard {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def which(*names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    sys.exit(f"none of {names} found: install Debian's chromium and chromium-driver")


def cents(s):
    return "$" + str(Decimal(s).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = which("chromium", "chromium-browser")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--disable-background-networking", "--disable-sync",
              "--disable-component-update", "--window-size=1100,900"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=which("chromedriver")), options=opts)


def usd_of(el):
    span = el.find_element(By.CSS_SELECTOR, ".usd")
    return span.get_attribute("data-usd"), span.text


def main():
    TARGET.mkdir(exist_ok=True)
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory() as d:
        d = pathlib.Path(d)
        sg("gen", "--out", str(d / "logs"), "--invocations", "20000", "--days", "14",
           "--seed", "7", "--start", "2026-11-01", "--format", "cwl")
        sg("run", str(d / "logs"), "--lake", str(d / "lake"), "--json")
        base = ["--lake", str(d / "lake"), "--from", "2026-11-08", "--to", "2026-11-14", "--top", "6"]
        args = base + ["--by", "principal"]
        r = json.loads(sg("report", *args, "--format", "json").stdout)
        page = d / "report.html"
        sg("report", *args, "--html", str(page))
        check(page.stat().st_size < 2_000_000, f"the page is under 2 MB ({page.stat().st_size} bytes)")

        drv = browser()
        try:
            drv.get(page.resolve().as_uri())
            # what the page asked of the network: only the document itself (file:) and data: URIs
            urls = []
            for entry in drv.get_log("performance"):
                msg = json.loads(entry["message"])["message"]
                if msg.get("method") == "Network.requestWillBeSent":
                    urls.append(msg["params"]["request"]["url"])
            check(all(u.startswith(("file:", "data:")) for u in urls) and urls,
                  f"no network request ({len(urls)} request(s), all file:/data:)")
            console = drv.get_log("browser")
            check(not [e for e in console if e["level"] in ("SEVERE", "WARNING")],
                  f"no console error or warning ({console[:3]})")
            check(not drv.find_elements(By.TAG_NAME, "script"), "no script in the page")

            for chart in ("chart-daily", "chart-models"):
                rects = drv.find_elements(By.CSS_SELECTOR, f"#{chart} rect")
                check(len(rects) > 0, f"#{chart} draws {len(rects)} bars")
            for table in ("table-daily", "table-movers", "table-models", "table-caching",
                          "table-chargeback-principal", "table-chargeback-model", "table-quality"):
                check(bool(drv.find_elements(By.ID, table)), f"#{table} is present")

            # the totals
            v, t = usd_of(drv.find_element(By.ID, "total-cost"))
            check(v == r["cost_usd"] and t == cents(r["cost_usd"]),
                  f"total spend {t} ({v}) equals the JSON's {r['cost_usd']}")
            check(drv.find_element(By.ID, "total-invocations").text == str(r["invocations"]),
                  f"invocations equal the JSON's {r['invocations']}")
            v, _ = usd_of(drv.find_element(By.ID, "cost-per-1k"))
            check(v == r["cost_per_1k_invocations_usd"], "cost per 1K invocations equals the JSON's")
            v, _ = usd_of(drv.find_element(By.ID, "projection"))
            check(v == r["projected_month_end_usd"], "the month-end projection equals the JSON's")
            v, _ = usd_of(drv.find_element(By.ID, "net-saved"))
            check(v == r["caching"]["net_saved_usd"], "caching's net saving equals the JSON's")

            # every table row against the JSON
            for dim in ("principal", "model"):
                rows = drv.find_elements(By.CSS_SELECTOR, f"#table-chargeback-{dim} tbody tr")
                got = [(tr.find_elements(By.TAG_NAME, "td")[0].text,
                        tr.find_elements(By.TAG_NAME, "td")[2].find_element(By.CSS_SELECTOR, ".usd")
                        .get_attribute("data-usd")) for tr in rows]
                want = [(g["key"], g["cost_usd"]) for g in r["chargeback"][dim]]
                check(got == want, f"the {dim} chargeback table's {len(got)} rows equal the JSON's")
            check(r["chargeback"]["principal"] == r["groups"],
                  "the principal chargeback is `--by principal`'s groups")
            days = drv.find_elements(By.CSS_SELECTOR, "#table-daily tbody tr")
            got = [[s.get_attribute("data-usd") for s in tr.find_elements(By.CSS_SELECTOR, ".usd")]
                   for tr in days]
            want = [[x["cost_usd"], *x["values"]] for x in r["daily"]["days"]]
            check(got == want and len(want) == 7, f"the daily table's {len(got)} days equal the JSON's")
            movers = drv.find_elements(By.CSS_SELECTOR, "#table-movers tbody tr")
            check(len(movers) == len(r["movers"]["rows"]) > 0
                  and r["movers"]["previous_from"] == "2026-11-01",
                  "the movers table compares with the 7 days before")
            models = drv.find_elements(By.CSS_SELECTOR, "#table-models tbody tr")
            check([tr.find_element(By.TAG_NAME, "td").text for tr in models]
                  == [m["model"] for m in r["models"]], "the models table lists the JSON's models")
            fb = drv.find_element(By.ID, "quality-fallback").find_elements(By.TAG_NAME, "td")
            check(fb[1].text == str(r["data_quality"]["fallback"]["invocations"]),
                  "the data-quality panel counts the fallback-priced invocations")
            for dim in ("principal", "model"):
                href = drv.find_element(By.ID, f"csv-{dim}").get_attribute("href")
                want = sg("report", *base, "--by", dim, "--format", "csv").stdout
                check(href.startswith("data:text/csv;base64,")
                      and base64.b64decode(href.split(",", 1)[1]).decode() == want,
                      f"the {dim} chargeback CSV is exactly `report --by {dim} --format csv`")
                rows = drv.find_elements(By.CSS_SELECTOR, f"#table-chargeback-{dim} tbody tr")
                check(len(rows) == len(want.splitlines()) - 1,
                      f"the {dim} chargeback table has a row per group")
            check(not drv.find_elements(By.ID, "csv-team"),
                  "without budgets there is no team chargeback")

            height = drv.execute_script("return document.documentElement.scrollHeight")
            drv.set_window_size(1100, min(height + 40, 8000))
            drv.save_screenshot(str(TARGET / "report-html.png"))
            # a phone's width: the page does not scroll sideways (wide tables scroll in place)
            drv.set_window_size(390, 844)
            width = drv.execute_script("return document.documentElement.scrollWidth")
            check(width <= 390, f"at a phone's width the page is {width}px wide")
            drv.save_screenshot(str(TARGET / "report-html-phone.png"))
        finally:
            drv.quit()

        # with budgets: a burn chart per budgeted key, with the budgets' decisions marked
        budgets = d / "budgets.toml"
        budgets.write_text('timezone = "America/New_York"\n[defaults]\ndaily_usd = "2"\n'
                           'monthly_usd = "40"\nthresholds_pct = [50, 80, 100]\n'
                           '[[team]]\nname = "everyone"\nmembers = ["arn:aws:*"]\nmonthly_usd = "60"\n')
        bargs = args + ["--budgets", str(budgets)]
        rb = json.loads(sg("report", *bargs, "--format", "json").stdout)["budgets"]
        sg("report", *bargs, "--html", str(d / "budgets.html"))
        team_csv = sg("report", *base, "--budgets", str(budgets), "--by", "team", "--format",
                      "csv").stdout
        drv = browser()
        try:
            drv.get((d / "budgets.html").resolve().as_uri())
            check(not [e for e in drv.get_log("browser") if e["level"] in ("SEVERE", "WARNING")],
                  "the budgets page logs no console error")
            href = drv.find_element(By.ID, "csv-team").get_attribute("href")
            check(base64.b64decode(href.split(",", 1)[1]).decode() == team_csv,
                  "with budgets, the team chargeback CSV is exactly `report --by team --format csv`")
            charts = drv.find_elements(By.CSS_SELECTOR, "#budgets svg.burn")
            check(len(charts) == len(rb["keys"]) > 0, f"{len(charts)} burn charts, one per budgeted key")
            check(all(c.find_elements(By.CSS_SELECTOR, "line.limit") for c in charts),
                  "every burn chart draws its limit")
            check("Marked" in drv.find_element(By.ID, "budgets-note").text,
                  "the page says what the markers are")
            # every decision of the JSON is a marker's title and a table cell on the page
            for n, key in enumerate(rb["keys"]):
                want = sum(1 for day in key["days"] for x in day["decisions"]
                           if x["action"] in ("alert", "suspend", "would_suspend", "restore"))
                marks = charts[n].find_elements(By.CSS_SELECTOR, ".mark")
                # a title is "DAY: HH:MM what; HH:MM what"
                marked = sum(len(m.find_element(By.TAG_NAME, "title").get_attribute("textContent")
                                 .split(": ", 1)[1].split("; "))
                             for m in marks)
                check(marked == want,
                      f"burn chart {n} marks its {want} alerts, suspensions and restores ({marked})")
            suspended = [x for key in rb["keys"] for day in key["days"] for x in day["decisions"]
                         if x["action"] == "suspend"]
            check(suspended, "the budgets suspend someone on this lake (the markers are exercised)")
            check(drv.find_elements(By.CSS_SELECTOR, "#budgets .mark.suspend"),
                  "suspensions are marked")
            got = [s.get_attribute("data-usd")
                   for s in drv.find_elements(By.CSS_SELECTOR, "#table-burn-0 .usd")]
            want = [x for day in rb["keys"][0]["days"]
                    for x in (day["spend_usd"], day["month_to_date_usd"])]
            check(got == want, "the first burn table equals the JSON's days")
            drv.set_window_size(1100, 900)
            drv.execute_script("document.getElementById('budgets').scrollIntoView()")
            drv.save_screenshot(str(TARGET / "report-html-budgets.png"))
        finally:
            drv.quit()

        # refusals: a clear message and no file
        for what, extra in (("an empty period", ["--lake", str(d / "lake"), "--from", "2020-01-01",
                                                 "--to", "2020-01-02"]),
                            ("a lake that does not exist", ["--lake", str(d / "nope")]),
                            ("a budgets file that does not parse",
                             ["--lake", str(d / "lake"), "--budgets", str(d / "bad.toml")])):
            (d / "bad.toml").write_text('[defaults]\ndaily_usd = "five"\n')
            out = d / "refused.html"
            p = sg("report", *extra, "--html", str(out), check=False)
            check(p.returncode != 0 and not out.exists() and p.stderr.strip()
                  and not list(d.glob(".refused.html.tmp-*")),
                  f"{what} is refused with a message ({p.stderr.strip()[:80]!r}) and no file")

        # the demo writes the page where it outlives the demo: --dir, else the current directory
        p = sg("demo", "--invocations", "2000", "--dir", str(d / "demo"))
        kept = d / "demo" / "spendguard-report.html"
        check(kept.exists() and str(kept.resolve()) in p.stdout,
              "`demo --dir D` writes D/spendguard-report.html and prints its path")
        (d / "cwd").mkdir()
        p = subprocess.run([str(pathlib.Path(SG).resolve()), "demo", "--invocations", "2000"],
                           capture_output=True, text=True, cwd=d / "cwd")
        here = d / "cwd" / "spendguard-report.html"
        check(p.returncode == 0 and here.exists() and str(here.resolve()) in p.stdout,
              "`demo` writes ./spendguard-report.html, which outlives its temporary directory")

    print(f"screenshots: {TARGET / 'report-html.png'}, {TARGET / 'report-html-phone.png'}, "
          f"{TARGET / 'report-html-budgets.png'}")
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")


if __name__ == "__main__":
    main()
