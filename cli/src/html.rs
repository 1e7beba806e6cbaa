//! `spendguard report --html`: the report's JSON drawn as one self-contained HTML file (inline
//! CSS and SVG, no script, no network), written atomically. Every figure comes from the JSON, so
//! the page and `report --format json` cannot disagree.

use crate::report::Mark;
use anyhow::{Context, Result};
use base64::Engine;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::Value;
use spendguard_core::enforce::Action;
use spendguard_core::window::WindowKind;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::str::FromStr;

/// Series colours (colour-blind safe, Okabe-Ito order), the last for "(other)".
const PALETTE: [&str; 9] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
    "#999999",
];

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn text<'v>(v: &'v Value, k: &str) -> &'v str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or(Decimal::ZERO)
}

/// Money as people read it (cents), with the exact figure kept in `data-usd` and the tooltip.
fn usd(s: &str) -> String {
    format!(
        "<span class=\"usd\" data-usd=\"{e}\" title=\"${e}\">${}</span>",
        cents(dec(s)),
        e = esc(s)
    )
}

/// Rounded to cents, half away from zero, always two places.
fn cents(d: Decimal) -> Decimal {
    let mut d = d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    d.rescale(2);
    d
}

fn cell_usd(s: &str) -> String {
    format!("<td class=\"num\">{}</td>", usd(s))
}

fn cell(s: impl std::fmt::Display) -> String {
    format!("<td>{}</td>", esc(&s.to_string()))
}

fn num_cell(s: impl std::fmt::Display) -> String {
    format!("<td class=\"num\">{}</td>", esc(&s.to_string()))
}

/// Pixels for `v` on a scale where `max` is `span` pixels (integer arithmetic on decimals).
fn px(v: Decimal, max: Decimal, span: i64) -> i64 {
    if max <= Decimal::ZERO {
        return 0;
    }
    (v * Decimal::from(span) / max)
        .round()
        .to_i64()
        .unwrap_or(0)
        .clamp(0, span)
}

/// A round axis top at or above `max`: 1, 2 or 5 times a power of ten.
fn axis_top(max: Decimal) -> Decimal {
    let mut step = Decimal::new(1, 2);
    loop {
        for m in [1, 2, 5] {
            let t = step * Decimal::from(m);
            if t >= max {
                return t;
            }
        }
        step *= Decimal::from(10);
    }
}

/// The frame of a bar chart over days: its size, the value axis (a round top, five grid lines
/// with dollar labels) and a slot per day with a date label on every tenth or so.
struct DayFrame {
    w: i64,
    h: i64,
    left: i64,
    bottom: i64,
    top: Decimal,
    slot: i64,
    bar: i64,
    label_every: usize,
    /// Pixels above the value axis's top (room for markers).
    head: i64,
}

impl DayFrame {
    fn new(h: i64, days: usize, max: Decimal) -> DayFrame {
        let (w, left) = (800i64, 70i64);
        let slot = (w - left - 10) / (days.max(1) as i64);
        DayFrame {
            w,
            h,
            left,
            bottom: 30,
            top: axis_top(max),
            slot,
            bar: (slot * 7 / 10).max(1),
            label_every: (days / 10).max(1),
            head: 10,
        }
    }

    /// Leaves `head` pixels above the axis's top (a burn chart's decision markers).
    fn with_head(mut self, head: i64) -> DayFrame {
        self.head = head;
        self
    }

    /// Pixels from the baseline up to `v`.
    fn height(&self, v: Decimal) -> i64 {
        px(v, self.top, self.h - self.bottom - self.head)
    }

    /// The y of `v`.
    fn y(&self, v: Decimal) -> i64 {
        self.h - self.bottom - self.height(v)
    }

    /// The left edge of day `i`'s bar.
    fn x(&self, i: usize) -> i64 {
        self.left + i as i64 * self.slot + (self.slot - self.bar) / 2
    }

    fn grid(&self, s: &mut String) {
        for i in 0..=4 {
            let v = self.top * Decimal::from(i) / Decimal::from(4);
            let y = self.y(v);
            let _ = write!(
                s,
                "<line x1=\"{}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" class=\"grid\"/>\
                 <text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"end\">${}</text>",
                self.left,
                self.w - 10,
                self.left - 6,
                y + 4,
                v.normalize()
            );
        }
    }

    /// Day `i`'s label (`MM-DD` of a `YYYY-MM-DD` date), on every `label_every`th day.
    fn label(&self, s: &mut String, i: usize, date: &str) {
        if i.is_multiple_of(self.label_every) {
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"middle\">{}</text>",
                self.x(i) + self.bar / 2,
                self.h - self.bottom + 16,
                esc(date.get(5..).unwrap_or(""))
            );
        }
    }

    /// A horizontal line across the plot at `v`, with a label.
    fn rule(&self, s: &mut String, v: Decimal, class: &str, label: &str, at_right: bool) {
        let y = self.y(v);
        let (x, anchor) = if at_right {
            (self.w - 12, "end")
        } else {
            (self.left + 4, "start")
        };
        let _ = write!(
            s,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" class=\"{class}\"/>\
             <text x=\"{x}\" y=\"{}\" class=\"axis\" text-anchor=\"{anchor}\">{}</text>",
            self.left,
            self.w - 10,
            y - 3,
            esc(label)
        );
    }
}

fn daily_chart(daily: &Value) -> String {
    let series: Vec<&str> = daily["series"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let days = daily["days"].as_array().cloned().unwrap_or_default();
    let max = days
        .iter()
        .map(|d| dec(text(d, "cost_usd")))
        .max()
        .unwrap_or(Decimal::ZERO);
    let f = DayFrame::new(320, days.len(), max);
    let colour = |j: usize| {
        if series.get(j) == Some(&"(other)") {
            PALETTE[PALETTE.len() - 1]
        } else {
            PALETTE[j % (PALETTE.len() - 1)]
        }
    };
    let mut s = format!(
        "<svg id=\"chart-daily\" role=\"img\" aria-labelledby=\"daily-title\" viewBox=\"0 0 {} {}\" class=\"chart\">\
         <title id=\"daily-title\">Spend per day, stacked</title>",
        f.w, f.h
    );
    f.grid(&mut s);
    for (i, d) in days.iter().enumerate() {
        let mut y = f.y(Decimal::ZERO);
        let mut acc = Decimal::ZERO;
        for (j, v) in d["values"].as_array().into_iter().flatten().enumerate() {
            let v = dec(v.as_str().unwrap_or("0"));
            // stack by cumulative pixels so the rounding of each piece never drifts the total
            acc += v;
            let y_top = f.y(acc);
            if y - y_top > 0 {
                let _ = write!(
                    s,
                    "<rect x=\"{}\" y=\"{y_top}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{} {}: ${}</title></rect>",
                    f.x(i),
                    f.bar,
                    y - y_top,
                    colour(j),
                    esc(text(d, "dt")),
                    esc(series.get(j).unwrap_or(&"")),
                    cents(v)
                );
            }
            y = y_top;
        }
        f.label(&mut s, i, text(d, "dt"));
    }
    s.push_str("</svg><ul class=\"legend\">");
    for (j, name) in series.iter().enumerate() {
        let _ = write!(
            s,
            "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
            colour(j),
            esc(name)
        );
    }
    s.push_str("</ul>");
    s
}

fn daily_table(daily: &Value) -> String {
    let series: Vec<&str> = daily["series"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut s = String::from(
        "<div class=\"scroll\"><table id=\"table-daily\"><thead><tr><th>day</th><th>total</th>",
    );
    for name in &series {
        let _ = write!(s, "<th>{}</th>", esc(name));
    }
    s.push_str("</tr></thead><tbody>");
    for d in daily["days"].as_array().into_iter().flatten() {
        let _ = write!(
            s,
            "<tr>{}{}",
            cell(text(d, "dt")),
            cell_usd(text(d, "cost_usd"))
        );
        for v in d["values"].as_array().into_iter().flatten() {
            s.push_str(&cell_usd(v.as_str().unwrap_or("0")));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></div>");
    s
}

fn models_chart(models: &[Value]) -> String {
    let shown: Vec<&Value> = models
        .iter()
        .filter(|m| m["cost_per_1m_tokens_usd"].is_string())
        .take(12)
        .collect();
    let max = shown
        .iter()
        .map(|m| dec(text(m, "cost_per_1m_tokens_usd")))
        .max()
        .unwrap_or(Decimal::ZERO);
    let (w, row, left) = (800i64, 24i64, 300i64);
    let h = row * shown.len() as i64 + 10;
    let mut s = format!(
        "<svg id=\"chart-models\" role=\"img\" aria-labelledby=\"models-title\" viewBox=\"0 0 {w} {h}\" class=\"chart\">\
         <title id=\"models-title\">Cost per 1M tokens by model</title>"
    );
    for (i, m) in shown.iter().enumerate() {
        let v = dec(text(m, "cost_per_1m_tokens_usd"));
        let y = 5 + i as i64 * row;
        let len = px(v, max, w - left - 90);
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"end\">{}</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{len}\" height=\"{}\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" class=\"axis\">${}</text>",
            left - 6,
            y + 15,
            esc(text(m, "model")),
            row - 6,
            PALETTE[0],
            left + len + 4,
            y + 15,
            cents(v)
        );
    }
    s.push_str("</svg>");
    s
}

/// One budgeted key: its spend per local day as bars against the limit and its thresholds (the
/// daily limit, or the month-to-date against the monthly limit when only that is set).
fn burn_chart(k: &Value, n: usize) -> String {
    let daily = k["daily_limit_usd"].as_str().map(dec);
    let (limit, field, what) = match daily {
        Some(l) => (l, "spend_usd", "day's spend against the daily limit"),
        None => (
            k["monthly_limit_usd"].as_str().map(dec).unwrap_or_default(),
            "month_to_date_usd",
            "month-to-date against the monthly limit",
        ),
    };
    let days = k["days"].as_array().cloned().unwrap_or_default();
    let max = days
        .iter()
        .map(|d| dec(text(d, field)))
        .chain([limit])
        .max()
        .unwrap_or_default();
    let f = DayFrame::new(250, days.len(), max).with_head(40);
    let mut s = format!(
        "<svg id=\"chart-burn-{n}\" role=\"img\" aria-label=\"{} {}: {what}\" viewBox=\"0 0 {} {}\" class=\"chart burn\">",
        esc(text(k, "scope")),
        esc(text(k, "key")),
        f.w,
        f.h
    );
    f.grid(&mut s);
    for (i, d) in days.iter().enumerate() {
        let v = dec(text(d, field));
        let colour = if limit > Decimal::ZERO && v >= limit {
            PALETTE[3]
        } else {
            PALETTE[0]
        };
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{colour}\"><title>{}: ${}</title></rect>",
            f.x(i),
            f.y(v),
            f.bar,
            f.height(v),
            esc(text(d, "day")),
            cents(v)
        );
        f.label(&mut s, i, text(d, "day"));
    }
    if limit > Decimal::ZERO {
        // thresholds from the top down; a label closer than a line of text to the last is left
        // out (its line stays), so small limits on a tall axis stay readable
        let mut last_y: Option<i64> = None;
        let mut pcts: Vec<u64> = k["thresholds_pct"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect();
        pcts.sort_unstable_by(|a, b| b.cmp(a));
        for pct in pcts {
            let v = limit * Decimal::from(pct) / Decimal::from(100);
            if v <= f.top {
                let y = f.y(v);
                let label = if last_y.is_none_or(|l| y - l >= 12) {
                    last_y = Some(y);
                    format!("{pct}%")
                } else {
                    String::new()
                };
                f.rule(&mut s, v, "threshold", &label, true);
            }
        }
        f.rule(
            &mut s,
            limit,
            "limit",
            &format!("limit ${}", cents(limit)),
            false,
        );
    }
    for (i, d) in days.iter().enumerate() {
        marks(&mut s, &f, i, d);
    }
    s.push_str("</svg>");
    s
}

/// What a decision says in a tooltip and a table cell: `14:02 alert 50% (day)`.
fn decision_text(d: &Mark) -> String {
    let what = match d.threshold_pct {
        Some(p) => format!("alert {p}% ({})", d.window.map_or("?", WindowKind::as_str)),
        None => d.action.as_str().replace('_', " "),
    };
    format!("{} {what}", d.at)
}

/// A burn-chart day's decisions (the report's own `Mark`s, read back typed).
fn day_marks(day: &Value) -> Vec<Mark> {
    serde_json::from_value(day["decisions"].clone()).unwrap_or_default()
}

/// A day's decisions above its bar: a circle for alerts, a down triangle for a suspension (or a
/// shadow one), an up triangle for a restore; each with its decisions and times as its title.
fn marks(s: &mut String, f: &DayFrame, i: usize, day: &Value) {
    let decided = day_marks(day);
    let kinds: [(&str, &[Action]); 3] = [
        ("alert", &[Action::Alert]),
        ("suspend", &[Action::Suspend, Action::WouldSuspend]),
        ("restore", &[Action::Restore]),
    ];
    let cx = f.x(i) + f.bar / 2;
    let mut y = 9;
    for (class, actions) in kinds {
        let these: Vec<String> = decided
            .iter()
            .filter(|d| actions.contains(&d.action))
            .map(decision_text)
            .collect();
        if these.is_empty() {
            continue;
        }
        let title = esc(&format!("{}: {}", text(day, "day"), these.join("; ")));
        let shape = match class {
            "alert" => format!("<circle cx=\"{cx}\" cy=\"{y}\" r=\"4\""),
            "suspend" => format!(
                "<path d=\"M{} {} L{} {} L{cx} {} Z\"",
                cx - 5,
                y - 4,
                cx + 5,
                y - 4,
                y + 4
            ),
            _ => format!(
                "<path d=\"M{} {} L{} {} L{cx} {} Z\"",
                cx - 5,
                y + 4,
                cx + 5,
                y + 4,
                y - 4
            ),
        };
        let _ = write!(
            s,
            "{shape} class=\"mark {class}\"><title>{title}</title></{}>",
            if class == "alert" { "circle" } else { "path" }
        );
        y += 10;
    }
}

/// One chargeback table (`report --format csv --by DIM`'s rows) with its CSV as a data URI.
fn chargeback_table(h: &mut String, dim: &str, rows: &[Value]) {
    let mut csv = String::from(
        "key,invocations,cost_usd,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens\n",
    );
    for g in rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{}",
            crate::report::csv_field(text(g, "key")),
            g["invocations"],
            text(g, "cost_usd"),
            g["input_tokens"],
            g["output_tokens"],
            g["cache_read_tokens"],
            g["cache_write_tokens"]
        );
    }
    let _ = write!(
        h,
        "<h3>By {dim}</h3><p><a id=\"csv-{dim}\" download=\"spendguard-chargeback-{dim}.csv\" \
         href=\"data:text/csv;base64,{}\">Download as CSV</a> (exact figures)</p><div class=\"scroll\"><table id=\"table-chargeback-{dim}\">\
         <thead><tr><th>{dim}</th><th>invocations</th><th>spend</th><th>input tokens</th><th>output tokens</th>\
         <th>cache-read tokens</th><th>cache-write tokens</th></tr></thead><tbody>",
        base64::engine::general_purpose::STANDARD.encode(csv.as_bytes()),
    );
    for g in rows {
        let _ = write!(
            h,
            "<tr>{}{}{}{}{}{}{}</tr>",
            cell(text(g, "key")),
            num_cell(&g["invocations"]),
            cell_usd(text(g, "cost_usd")),
            num_cell(&g["input_tokens"]),
            num_cell(&g["output_tokens"]),
            num_cell(&g["cache_read_tokens"]),
            num_cell(&g["cache_write_tokens"])
        );
    }
    h.push_str("</tbody></table></div>");
}

fn budgets_section(b: &Value) -> String {
    let mut h = format!(
        "<section id=\"budgets\"><h2>Budgets: spend against limits</h2><p class=\"sub\" id=\"budgets-note\">Days in {}. {}</p>",
        esc(text(b, "timezone")),
        esc(text(b, "note"))
    );
    for (n, k) in b["keys"].as_array().into_iter().flatten().enumerate() {
        let limits = [
            k["daily_limit_usd"]
                .as_str()
                .map(|l| format!("daily {}", usd(l))),
            k["monthly_limit_usd"]
                .as_str()
                .map(|l| format!("monthly {}", usd(l))),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        let _ = write!(
            h,
            "<h3>{} {}</h3><p class=\"sub\">{limits}; mode {}{}</p>{}\
             <div class=\"scroll\"><table id=\"table-burn-{n}\"><thead><tr><th>day</th><th>spend</th><th>% of daily</th>\
             <th>month to date</th><th>% of monthly</th><th>decisions</th></tr></thead><tbody>",
            esc(text(k, "scope")),
            esc(text(k, "key")),
            esc(k["mode"].as_str().unwrap_or("-")),
            if k["protected"].as_bool() == Some(true) { ", protected" } else { "" },
            burn_chart(k, n)
        );
        for d in k["days"].as_array().into_iter().flatten() {
            let decided: Vec<String> = day_marks(d).iter().map(decision_text).collect();
            let _ = write!(
                h,
                "<tr>{}{}{}{}{}{}</tr>",
                cell(text(d, "day")),
                cell_usd(text(d, "spend_usd")),
                num_cell(d["daily_pct"].as_str().unwrap_or("-")),
                cell_usd(text(d, "month_to_date_usd")),
                num_cell(d["monthly_pct"].as_str().unwrap_or("-")),
                cell(decided.join("; "))
            );
        }
        h.push_str("</tbody></table></div>");
    }
    h.push_str("</section>");
    h
}

/// The report's JSON as one HTML page.
pub fn render(r: &Value) -> String {
    let by = text(r, "by");
    let models = r["models"].as_array().cloned().unwrap_or_default();
    let mut h = String::with_capacity(64 << 10);
    let period = format!(
        "{} .. {} ({} day(s))",
        r["from"].as_str().unwrap_or("-"),
        r["to"].as_str().unwrap_or("-"),
        r["days"]
    );
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>spendguard report {p}</title><style>{CSS}</style></head><body><main>\
         <h1>Bedrock spend {p}</h1><p class=\"sub\">Grouped by {by}. Every figure is exact to the \
         lake's 12 decimal places (hover a sum for it) and equals <code>spendguard report --format json</code> \
         for the same arguments.</p>",
        p = esc(&period),
        by = esc(by),
    );
    // the totals
    let _ = write!(
        h,
        "<section class=\"cards\" id=\"totals\">\
         <div class=\"card\"><div class=\"k\">spend</div><div class=\"v\" id=\"total-cost\">{}</div></div>\
         <div class=\"card\"><div class=\"k\">invocations</div><div class=\"v\" id=\"total-invocations\">{}</div></div>\
         <div class=\"card\"><div class=\"k\">per 1K invocations</div><div class=\"v\" id=\"cost-per-1k\">{}</div></div>\
         <div class=\"card\"><div class=\"k\">month-end projection</div><div class=\"v\" id=\"projection\">{}</div></div>\
         </section>",
        usd(text(r, "cost_usd")),
        r["invocations"],
        usd(text(r, "cost_per_1k_invocations_usd")),
        r["projected_month_end_usd"]
            .as_str()
            .map(usd)
            .unwrap_or_else(|| "-".into()),
    );
    // spend per day
    let note = if by == "team" {
        " An invocation counts for every team it belongs to, so the stacks can exceed the day's total."
    } else {
        ""
    };
    let _ = write!(
        h,
        "<section id=\"daily\"><h2>Spend per day by {}</h2><p class=\"sub\">The top groups by spend, the rest as \"(other)\".{note}</p>{}{}</section>",
        esc(by),
        daily_chart(&r["daily"]),
        daily_table(&r["daily"])
    );
    // movers
    if let Some(m) = r["movers"].as_object() {
        let _ = write!(
            h,
            "<section id=\"movers\"><h2>Top movers</h2><p class=\"sub\">Against {} .. {} (the previous period of the same length: {}).</p>\
             <div class=\"scroll\"><table id=\"table-movers\"><thead><tr><th>{}</th><th>now</th><th>before</th><th>change</th><th>%</th></tr></thead><tbody>",
            esc(m.get("previous_from").and_then(Value::as_str).unwrap_or("")),
            esc(m.get("previous_to").and_then(Value::as_str).unwrap_or("")),
            usd(m.get("previous_cost_usd").and_then(Value::as_str).unwrap_or("0")),
            esc(by)
        );
        for row in m
            .get("rows")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let _ = write!(
                h,
                "<tr>{}{}{}{}{}</tr>",
                cell(text(row, "key")),
                cell_usd(text(row, "cost_usd")),
                cell_usd(text(row, "previous_cost_usd")),
                cell_usd(text(row, "change_usd")),
                num_cell(row["change_pct"].as_str().unwrap_or("new"))
            );
        }
        h.push_str("</tbody></table></div></section>");
    }
    // models
    let _ = write!(
        h,
        "<section id=\"models\"><h2>Models</h2>{}<div class=\"scroll\"><table id=\"table-models\"><thead><tr><th>model</th>\
         <th>invocations</th><th>spend</th><th>tokens</th><th>per 1K invocations</th><th>per 1M tokens</th></tr></thead><tbody>",
        models_chart(&models)
    );
    for m in &models {
        let _ = write!(
            h,
            "<tr>{}{}{}{}{}{}</tr>",
            cell(text(m, "model")),
            num_cell(&m["invocations"]),
            cell_usd(text(m, "cost_usd")),
            num_cell(text(m, "tokens")),
            cell_usd(text(m, "cost_per_1k_invocations_usd")),
            m["cost_per_1m_tokens_usd"]
                .as_str()
                .map(cell_usd)
                .unwrap_or_else(|| num_cell("-"))
        );
    }
    h.push_str("</tbody></table></div></section>");
    // caching
    let c = &r["caching"];
    let _ = write!(
        h,
        "<section id=\"caching\"><h2>What prompt caching saved</h2><p class=\"sub\">Cache reads valued at each \
         request's own input price, minus the premium cache writes paid over it. {} invocation(s) with cache \
         tokens could not be valued (no input tokens, or not priced from the catalogue).</p>\
         <div class=\"scroll\"><table id=\"table-caching\"><tbody>\
         <tr><th>cache-read tokens</th>{}</tr><tr><th>their cost</th>{}</tr><tr><th>at the input price</th>{}</tr>\
         <tr><th>saved on reads</th>{}</tr><tr><th>cache-write tokens</th>{}</tr><tr><th>their cost</th>{}</tr>\
         <tr><th>at the input price</th>{}</tr><tr><th>write premium</th>{}</tr>\
         <tr class=\"total\"><th>net saved</th><td class=\"num\" id=\"net-saved\">{}</td></tr></tbody></table></div></section>",
        c["unvalued_invocations"],
        num_cell(text(c, "cache_read_tokens")),
        cell_usd(text(c, "cache_read_cost_usd")),
        cell_usd(text(c, "cache_read_at_input_price_usd")),
        cell_usd(text(c, "saved_on_reads_usd")),
        num_cell(text(c, "cache_write_tokens")),
        cell_usd(text(c, "cache_write_cost_usd")),
        cell_usd(text(c, "cache_write_at_input_price_usd")),
        cell_usd(text(c, "write_premium_usd")),
        usd(text(c, "net_saved_usd")),
    );
    // chargeback per principal, model and team, each with its CSV
    h.push_str("<section id=\"chargeback\"><h2>Chargeback</h2>");
    for dim in ["principal", "model", "team"] {
        let Some(rows) = r["chargeback"][dim].as_array() else {
            continue;
        };
        chargeback_table(&mut h, dim, rows);
    }
    h.push_str("</section>");
    if r["budgets"].is_object() {
        h.push_str(&budgets_section(&r["budgets"]));
    }
    // data quality
    h.push_str(
        "<section id=\"quality\"><h2>Data quality</h2><p class=\"sub\">Invocations not priced exactly from the \
         catalogue, by the model id the log gave. Input that could not be read never reaches the lake: \
         <code>spendguard run</code> counts it in its summary.</p><div class=\"scroll\"><table id=\"table-quality\">\
         <thead><tr><th>status</th><th>invocations</th><th>model ids</th></tr></thead><tbody>",
    );
    for (status, v) in r["data_quality"].as_object().into_iter().flatten() {
        let ids: Vec<String> = v["model_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| format!("{} ({})", text(m, "model_id"), m["invocations"]))
            .collect();
        let _ = write!(
            h,
            "<tr id=\"quality-{}\">{}{}{}</tr>",
            esc(status),
            cell(status),
            num_cell(&v["invocations"]),
            cell(ids.join(", "))
        );
    }
    h.push_str("</tbody></table></div></section>");
    h.push_str("<footer>Drawn by spendguard from its Parquet lake. No script, no network.</footer></main></body></html>\n");
    h
}

/// Writes the page atomically: a temporary file beside `path`, synced, then renamed, so a
/// failure leaves no half-written report.
pub fn write(path: &Path, page: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(page.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

const CSS: &str = "\
:root{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#1a1a1a;background:#fff}\
main{max-width:1000px;margin:0 auto;padding:16px}\
h1{font-size:1.5rem;margin:.2em 0}h2{font-size:1.15rem;margin:1.6em 0 .4em;border-bottom:1px solid #ddd}\
.sub{color:#555;font-size:.9rem;margin:.2em 0 .6em}\
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px;margin:12px 0}\
.card{border:1px solid #ddd;border-radius:6px;padding:10px}.card .k{color:#555;font-size:.85rem}\
.card .v{font-size:1.4rem;font-weight:600}\
.chart{width:100%;height:auto;display:block}.chart .grid{stroke:#e5e5e5}.chart .axis{font-size:12px;fill:#333}\
.chart .limit{stroke:#D55E00;stroke-width:2}.chart .threshold{stroke:#E69F00;stroke-dasharray:4 3}\
.mark.alert{fill:#E69F00}.mark.suspend{fill:#D55E00}.mark.restore{fill:#009E73}\
h3{font-size:1rem;margin:1.2em 0 .2em;overflow-wrap:anywhere}\
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:.85rem}\
.legend li,.sub,h1,footer{overflow-wrap:anywhere;min-width:0}\
.swatch{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px}\
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.85rem;margin:6px 0;min-width:50%}\
th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}\
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
tr.total th,tr.total td{font-weight:600;border-top:2px solid #999}\
footer{color:#777;font-size:.8rem;margin:2em 0}\
@media (max-width:600px){main{padding:8px}.card .v{font-size:1.15rem}}\
@media print{a{color:inherit;text-decoration:none}section{break-inside:avoid}.scroll{overflow:visible}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round_and_bar_heights_are_exact_integers() {
        assert_eq!(axis_top(Decimal::new(187, 0)), Decimal::new(200, 0));
        assert_eq!(axis_top(Decimal::new(3, 0)), Decimal::new(5, 0));
        assert_eq!(axis_top(Decimal::new(1, 3)), Decimal::new(1, 2));
        assert_eq!(px(Decimal::new(50, 0), Decimal::new(200, 0), 240), 60);
        assert_eq!(px(Decimal::ZERO, Decimal::ZERO, 240), 0);
    }

    #[test]
    fn text_from_the_logs_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        let row = serde_json::json!({"key": "<b>x</b>", "cost_usd": "1.005",
            "invocations": 1, "input_tokens": 1, "output_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0});
        let r = serde_json::json!({"by": "principal", "groups": [row],
            "chargeback": {"principal": [row], "model": [], "team": null},
            "cost_usd": "1.005", "invocations": 1, "daily": {"series": ["<b>x</b>"], "days": []},
            "models": [], "caching": {}, "data_quality": {}});
        let page = render(&r);
        assert!(!page.contains("<b>x</b>"));
        assert!(page.contains("&lt;b&gt;x&lt;/b&gt;"));
        // the exact figure is kept beside the rounded one
        assert!(page.contains("data-usd=\"1.005\""));
        assert!(
            page.contains(">$1.01<"),
            "half a cent rounds away from zero"
        );
        assert!(!page.contains("<script"));
    }
}
