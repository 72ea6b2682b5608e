//! `report.html` (self-contained: figures as base64 PNG data URIs, inline style and one small
//! inline script, nothing external) and `report.md` (the same content, linking to the PNGs).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use base64::Engine as _;

use crate::doc::{Block, html_blocks, markdown};
use crate::figures::Figure;
use crate::model::{Model, Reference, param_words, trim_number};
use crate::text::{Finding, bytes};
use crate::{AggregatePoint, ReportError};

/// The heading of the section on the write-up's shape claims.
const CLAIMS_HEADING: &str = "Shape claims";

/// Facts about the sweep shown at the top of the report: `(label, value)`.
pub(crate) fn facts(model: &Model) -> Vec<(String, String)> {
    let sweep = &model.sweep;
    let lookup = |key: &str| {
        sweep
            .sweep_toml
            .as_ref()
            .and_then(|t| t.get(key))
            .or_else(|| sweep.manifest.as_ref().and_then(|t| t.get(key)))
            .map(toml_text)
            .unwrap_or_else(|| "not recorded".to_owned())
    };
    let mut out = vec![
        ("workload".to_owned(), lookup("workload")),
        ("policies".to_owned(), sweep.policies.join(", ")),
        (
            "seeds".to_owned(),
            sweep
                .seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("runs".to_owned(), sweep.rows.len().to_string()),
    ];
    let x = &model.x;
    if let (Some(&lo), Some(&hi)) = (model.xs.first(), model.xs.last()) {
        out.push((
            format!("x parameter: {}", x.param),
            format!("{} values, {} to {}", model.xs.len(), x.fmt(lo), x.fmt(hi)),
        ));
    }
    for name in sweep.param_names.iter().filter(|n| **n != x.param) {
        let unit = model.unit(name);
        let shown = match sweep.values(name).as_slice() {
            [one] => unit.fmt(*one),
            many => format!(
                "{} values: {}",
                many.len(),
                many.iter()
                    .map(|v| unit.fmt(*v))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        out.push((format!("parameter {name}"), shown));
    }
    let manifest = |key: &str| {
        sweep
            .manifest
            .as_ref()
            .and_then(|t| t.get(key))
            .map(toml_text)
    };
    out.push((
        "clock".to_owned(),
        manifest("clock").unwrap_or_else(|| "not recorded".to_owned()),
    ));
    out.push(("cohort version".to_owned(), lookup("cohort_version")));
    out.push(("git commit".to_owned(), lookup("git_commit")));
    match &model.reference {
        Reference::Drawn(set) if !model.published.is_empty() => {
            out.push(("published reference".to_owned(), set.source.to_owned()));
        }
        Reference::Unknown(id) => out.push((
            "published reference".to_owned(),
            format!("none: the workload reproduces `{id}`, for which cohort has no published data"),
        )),
        Reference::OtherAxis(set) => out.push((
            "published reference".to_owned(),
            format!(
                "not drawn: `{}` is against {}, the x axis is {}",
                set.id, set.x_param, x.param
            ),
        )),
        _ => {}
    }
    out
}

/// A TOML value as plain text (strings without quotes, arrays comma-separated).
fn toml_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => trim_number(*f),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(a) => a.iter().map(toml_text).collect::<Vec<_>>().join(", "),
        toml::Value::Table(t) => t
            .iter()
            .map(|(k, v)| format!("{k} = {}", toml_text(v)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// A seed mean of a count as a whole number ("–" when unknown).
fn count(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.0}")
    } else {
        "–".to_owned()
    }
}

/// The summary table's header and rows (one row per series and x, seed-averaged).
fn table(model: &Model) -> (Vec<String>, Vec<Vec<String>>) {
    let x = &model.x;
    let mut header = vec!["policy".to_owned()];
    header.extend(model.others.iter().map(|n| other_label(model, n)));
    header.extend([
        x.label.clone(),
        "runs".to_owned(),
        "mean ms (min–max over seeds)".to_owned(),
        "p50 ms".to_owned(),
        "p90 ms".to_owned(),
        "p99 ms".to_owned(),
        "max ms".to_owned(),
        "moved MiB".to_owned(),
        "transfers".to_owned(),
        "evictions".to_owned(),
        "CPU util: mean / min node / max node".to_owned(),
        "failed tasks".to_owned(),
    ]);
    if model.recovery {
        header.extend(RECOVERY_COLUMNS.iter().map(|c| (*c).to_owned()));
    }
    let unstable = model.any_unstable();
    if unstable {
        header.push(UNSTABLE_COLUMN.to_owned());
    }
    let f1 = |v: f64| {
        if v.is_finite() {
            format!("{v:.1}")
        } else {
            "–".to_owned()
        }
    };
    let rows = model
        .points
        .iter()
        .map(|p: &AggregatePoint| {
            let mean = if !p.mean_ms.is_known() {
                "–".to_owned()
            } else if p.runs > 1 {
                format!(
                    "{} ({}–{})",
                    f1(p.mean_ms.mean),
                    f1(p.mean_ms.min),
                    f1(p.mean_ms.max)
                )
            } else {
                f1(p.mean_ms.mean)
            };
            let pc = |v: f64| {
                if v.is_finite() {
                    format!("{:.0}%", v * 100.0)
                } else {
                    "–".to_owned()
                }
            };
            let mut row = vec![p.policy.clone()];
            row.extend(p.others.iter().map(|(n, v)| model.unit(n).fmt_number(*v)));
            row.extend([
                x.fmt_number(p.x),
                p.runs.to_string(),
                mean,
                f1(p.p50_ms.mean),
                f1(p.p90_ms.mean),
                f1(p.p99_ms.mean),
                f1(p.max_ms.mean),
                f1(p.bytes_transferred.mean / 1_048_576.0),
                count(p.transfers.mean),
                count(p.evictions.mean),
                format!(
                    "{} / {} / {}",
                    pc(p.cpu_util_mean.mean),
                    pc(p.cpu_util_min.mean),
                    pc(p.cpu_util_max.mean)
                ),
                p.failed.to_string(),
            ]);
            if model.recovery {
                row.extend(recovery_cells(p));
            }
            if unstable {
                row.push(unstable_cell(p));
            }
            row
        })
        .collect();
    (header, rows)
}

/// The summary table's column on stability, shown when some run is unstable.
const UNSTABLE_COLUMN: &str = "unstable runs (growth ms/s)";

/// A point's cell under [`UNSTABLE_COLUMN`]: "–" when every run is stable, else how many runs
/// are unstable, the seed-mean growth, and the unfinished work and runs without datapoints
/// when there are any ("1/2: 31.2 ms/s; 120 unfinished").
fn unstable_cell(p: &AggregatePoint) -> String {
    if !p.is_unstable() {
        return "–".to_owned();
    }
    let mut cell = format!("{}/{}", p.unstable_runs, p.runs);
    if p.growth_ms_per_s.is_known() {
        let _ = write!(cell, ": {:.1} ms/s", p.growth_ms_per_s.mean);
    }
    if p.unfinished.is_known() && p.unfinished.mean > 0.0 {
        let _ = write!(cell, "; {} unfinished", mean_count(p.unfinished.mean));
    }
    if p.collapsed_runs > 0 {
        let _ = write!(cell, "; {} without datapoints", p.collapsed_runs);
    }
    cell
}

/// The recovery columns of the summary table, shown when some run recovered from something
/// (per run, seed-averaged).
const RECOVERY_COLUMNS: [&str; 8] = [
    "re-executed tasks",
    "objects reconstructed",
    "actor restarts",
    "spilled",
    "restored",
    "datapoints lost",
    "recovery first ms",
    "recovery last ms",
];

/// A seed mean of a count: a whole number when it is one, else one decimal ("–" when
/// unknown).
fn mean_count(v: f64) -> String {
    if !v.is_finite() {
        "–".to_owned()
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// One point's cells under [`RECOVERY_COLUMNS`].
fn recovery_cells(p: &AggregatePoint) -> [String; 8] {
    let size = |v: f64| {
        if v.is_finite() {
            bytes(v)
        } else {
            "–".to_owned()
        }
    };
    let ms = |v: f64| {
        if v.is_finite() {
            format!("{v:.1}")
        } else {
            "–".to_owned()
        }
    };
    [
        mean_count(p.reexecuted.mean),
        mean_count(p.reconstructed.mean),
        mean_count(p.actor_restarts.mean),
        size(p.spilled_bytes.mean),
        size(p.restored_bytes.mean),
        mean_count(p.datapoints_lost.mean),
        ms(p.recovery_first_ms.mean),
        ms(p.recovery_last_ms.mean),
    ]
}

/// A column header for another varying parameter: its name in words and its unit.
fn other_label(model: &Model, name: &str) -> String {
    let unit = model.unit(name);
    let words = param_words(name, unit.kind);
    if unit.unit.is_empty() {
        words
    } else {
        format!("{words} ({})", unit.unit)
    }
}

/// The terminal table of [`ReportSummary::table`](crate::ReportSummary::table).
pub(crate) fn terminal_table(model: &Model) -> String {
    let x = &model.x;
    let others: Vec<String> = model.others.iter().map(|n| other_label(model, n)).collect();
    let mut out = String::new();
    let _ = write!(out, "{:<12}", "policy");
    for o in &others {
        let _ = write!(out, " {o:>14}");
    }
    let _ = write!(
        out,
        " {:>16} {:>5} {:>22} {:>10} {:>12} {:>9}",
        x.label, "runs", "mean ms (min-max)", "p99 ms", "moved MiB", "CPU util"
    );
    if model.recovery {
        let _ = write!(
            out,
            " {:>8} {:>8} {:>8} {:>10} {:>10} {:>6} {:>17}",
            "re-exec", "rebuilt", "restarts", "spilled", "restored", "lost", "recovery ms"
        );
    }
    let unstable = model.any_unstable();
    if unstable {
        let _ = write!(out, " {:>22}", "unstable (ms/s)");
    }
    out.push('\n');
    for p in &model.points {
        let mean = if !p.mean_ms.is_known() {
            "-".to_owned()
        } else if p.runs > 1 {
            format!(
                "{:.1} ({:.1}-{:.1})",
                p.mean_ms.mean, p.mean_ms.min, p.mean_ms.max
            )
        } else {
            format!("{:.1}", p.mean_ms.mean)
        };
        let _ = write!(out, "{:<12}", p.policy);
        for (n, v) in &p.others {
            let _ = write!(out, " {:>14}", model.unit(n).fmt_number(*v));
        }
        let _ = write!(
            out,
            " {:>16} {:>5} {:>22} {:>10} {:>12} {:>8.0}%",
            x.fmt_number(p.x),
            p.runs,
            mean,
            if p.p99_ms.is_known() {
                format!("{:.1}", p.p99_ms.mean)
            } else {
                "-".to_owned()
            },
            if p.bytes_transferred.is_known() {
                format!("{:.1}", p.bytes_transferred.mean / 1_048_576.0)
            } else {
                "–".to_owned()
            },
            p.cpu_util_mean.mean * 100.0
        );
        if model.recovery {
            let [
                reexec,
                rebuilt,
                restarts,
                spilled,
                restored,
                lost,
                first,
                last,
            ] = recovery_cells(p);
            let recovery = if first == "–" {
                "–".to_owned()
            } else {
                format!("{first}-{last}")
            };
            let _ = write!(
                out,
                " {reexec:>8} {rebuilt:>8} {restarts:>8} {spilled:>10} {restored:>10} {lost:>6} {recovery:>17}"
            );
        }
        if unstable {
            let cell = if !p.is_unstable() {
                "-".to_owned()
            } else if p.growth_ms_per_s.is_known() {
                format!(
                    "{}/{} {:.1}",
                    p.unstable_runs, p.runs, p.growth_ms_per_s.mean
                )
            } else {
                format!("{}/{}", p.unstable_runs, p.runs)
            };
            let _ = write!(out, " {cell:>22}");
        }
        out.push('\n');
    }
    out
}

fn title(model: &Model) -> String {
    let workload = facts(model)
        .into_iter()
        .find(|(k, _)| k == "workload")
        .map(|(_, v)| v)
        .unwrap_or_default();
    format!("cohort report: {workload}")
}

const INTRO: &str = "Generated by cohort-reports from the sweep's summary.csv and run CSVs. \
Latency statistics exclude warm-up. Figures and the table average each policy over its seeds \
at each parameter value; every paragraph below is generated from these numbers.";

/// Escapes text for HTML element content and attribute values.
pub(crate) fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The inline script that lets a headless browser check the page: after `load` it records on
/// `<body>` the number of images, how many decoded (`naturalWidth > 0`), whether all did, and
/// how many console errors and error events happened.
const CHECK_SCRIPT: &str = r#"(function () {
  var errors = 0;
  var original = console.error;
  console.error = function () { errors += 1; return original.apply(console, arguments); };
  window.addEventListener('error', function () { errors += 1; }, true);
  window.addEventListener('load', function () {
    var images = Array.prototype.slice.call(document.images);
    var loaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
    var d = document.body.dataset;
    d.imageCount = String(images.length);
    d.imagesLoadedCount = String(loaded);
    d.imagesLoaded = (images.length > 0 && loaded === images.length) ? 'true' : 'false';
    d.consoleErrors = String(errors);
  });
})();"#;

const STYLE: &str = "body{font-family:sans-serif;max-width:1060px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\
table{border-collapse:collapse;font-size:.85em;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}\
th{background:#f3f3f3}td.l,th.l{text-align:left}img{max-width:100%;height:auto;border:1px solid #eee}\
figure{margin:1.2em 0}figcaption{font-size:.85em;color:#555}code{font-size:.95em}";

/// Writes `report.html` into `dir`, embedding each figure's PNG (already written to `dir`).
pub(crate) fn write_html(
    model: &Model,
    figures: &[Figure],
    findings: &[Finding],
    claims: &[Block],
    dir: &Path,
) -> Result<(), ReportError> {
    let mut h = String::new();
    let t = html(&title(model));
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n<style>{STYLE}</style>\n<script>\n{CHECK_SCRIPT}\n</script>\n</head>\n<body>\n<h1>{t}</h1>\n<p>{}</p>\n",
        html(INTRO)
    );
    h.push_str("<h2>Sweep</h2>\n<table>\n");
    for (k, v) in facts(model) {
        let _ = writeln!(
            h,
            "<tr><th class=\"l\">{}</th><td class=\"l\">{}</td></tr>",
            html(&k),
            html(&v)
        );
    }
    h.push_str("</table>\n");
    if let Some(f) = findings.iter().find(|f| f.section == "runs") {
        let _ = writeln!(h, "<p>{}</p>", html(&f.text));
    }
    for figure in figures {
        let png_path = dir.join(format!("{}.png", figure.stem));
        let png = fs::read(&png_path).map_err(ReportError::io("reading", &png_path))?;
        let data = base64::engine::general_purpose::STANDARD.encode(png);
        let (w, hgt) = crate::figures::SIZE;
        let _ = write!(
            h,
            "<h2 id=\"{stem}\">{heading}</h2>\n<figure>\n<img src=\"data:image/png;base64,{data}\" width=\"{w}\" height=\"{hgt}\" alt=\"{alt}\">\n<figcaption>{alt}. Files: <a href=\"{stem}.svg\">{stem}.svg</a>, <a href=\"{stem}.png\">{stem}.png</a>.</figcaption>\n</figure>\n",
            stem = figure.stem,
            heading = html(&figure.heading),
            alt = html(&figure.chart.title),
        );
        if let Some(f) = findings.iter().find(|f| f.section == figure.stem) {
            let _ = writeln!(h, "<p>{}</p>", html(&f.text));
        }
    }
    if !claims.is_empty() {
        let _ = write!(
            h,
            "<h2 id=\"shape-claims\">{CLAIMS_HEADING}</h2>\n{}",
            html_blocks(claims, 3)
        );
    }
    let (header, rows) = table(model);
    h.push_str("<h2>Summary (seed-averaged)</h2>\n<table>\n<tr>");
    for (i, c) in header.iter().enumerate() {
        let _ = write!(
            h,
            "<th{}>{}</th>",
            if i == 0 { " class=\"l\"" } else { "" },
            html(c)
        );
    }
    h.push_str("</tr>\n");
    for row in rows {
        h.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let _ = write!(
                h,
                "<td{}>{}</td>",
                if i == 0 { " class=\"l\"" } else { "" },
                html(c)
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n</body>\n</html>\n");
    let path = dir.join("report.html");
    fs::write(&path, h).map_err(ReportError::io("writing", &path))
}

/// Escapes the characters that Markdown would read as markup.
pub(crate) fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '|' | '<' | '>' | '[' | ']' | '`' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Writes `report.md` into `dir`, linking to the PNG files beside it.
pub(crate) fn write_markdown(
    model: &Model,
    figures: &[Figure],
    findings: &[Finding],
    claims: &[Block],
    dir: &Path,
) -> Result<(), ReportError> {
    let mut m = String::new();
    let _ = write!(
        m,
        "# {}\n\n{}\n\n## Sweep\n\n| fact | value |\n| --- | --- |\n",
        md(&title(model)),
        md(INTRO)
    );
    for (k, v) in facts(model) {
        let _ = writeln!(m, "| {} | {} |", md(&k), md(&v));
    }
    if let Some(f) = findings.iter().find(|f| f.section == "runs") {
        let _ = write!(m, "\n{}\n", md(&f.text));
    }
    for figure in figures {
        let _ = write!(
            m,
            "\n## {}\n\n![{}]({stem}.png)\n\n({stem}.svg is the same figure as SVG.)\n",
            md(&figure.heading),
            md(&figure.chart.title),
            stem = figure.stem
        );
        if let Some(f) = findings.iter().find(|f| f.section == figure.stem) {
            let _ = write!(m, "\n{}\n", md(&f.text));
        }
    }
    if !claims.is_empty() {
        let _ = write!(m, "\n## {CLAIMS_HEADING}\n{}", markdown(claims, 3));
    }
    let (header, rows) = table(model);
    let _ = write!(
        m,
        "\n## Summary (seed-averaged)\n\n| {} |\n|{}\n",
        header.iter().map(|c| md(c)).collect::<Vec<_>>().join(" | "),
        " --- |".repeat(header.len())
    );
    for row in rows {
        let _ = writeln!(
            m,
            "| {} |",
            row.iter().map(|c| md(c)).collect::<Vec<_>>().join(" | ")
        );
    }
    let path = dir.join("report.md");
    fs::write(&path, m).map_err(ReportError::io("writing", &path))
}
