//! The figures: what each shows (a small chart description), and drawing it with plotters to
//! SVG and PNG. Five are always drawn; the sixth, the fault timeline, only for runs with faults.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::combinators::{BindKeyPoints, LogCoord, WithKeyPoints};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::model::{FaultTimeline, Model, trim_number};
use crate::{AggregatePoint, ReportError, Spread};

/// Figure size in pixels (PNG) and user units (SVG).
pub(crate) const SIZE: (u32, u32) = (1000, 600);
/// Width of the legend column at the right of every figure.
const LEGEND_WIDTH: u32 = 250;
/// Height of the title and subtitle band at the top of every figure.
const HEADER_HEIGHT: u32 = 74;
/// Above this many decades between the smallest and largest value, an axis goes log-scale.
const LOG_DECADES: f64 = 1.5;
/// Most points drawn per CDF curve (the distribution is subsampled at even ranks above this).
const CDF_POINTS: usize = 2000;
/// Above this many windows per node, the utilization figure averages consecutive windows.
const UTILIZATION_POINTS: usize = 150;
/// Above this many datapoints per run, the fault timeline draws the largest latency of each
/// of this many equal windows of arrival time.
pub(crate) const TIMELINE_POINTS: usize = 2000;

/// The font shipped in `reports/assets/` (DejaVu Sans, see the license file beside it).
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the shipped font as plotters' "sans-serif" family, once per process.
pub(crate) fn register_font() -> Result<(), ReportError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if ok { Ok(()) } else { Err(ReportError::Font) }
}

/// One axis: its range and whether it is logarithmic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
}

impl Axis {
    /// A fixed linear range.
    pub(crate) fn fixed(lo: f64, hi: f64) -> Axis {
        Axis { lo, hi, log: false }
    }

    /// An axis fitted to `values`: logarithmic when `allow_log`, every value is positive and
    /// they span more than [`LOG_DECADES`] decades; otherwise linear, from zero when
    /// `from_zero`.
    pub(crate) fn fit(
        values: impl IntoIterator<Item = f64>,
        from_zero: bool,
        allow_log: bool,
    ) -> Axis {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.into_iter().filter(|v| v.is_finite()) {
            min = min.min(v);
            max = max.max(v);
        }
        if min > max {
            return Axis::fixed(0.0, 1.0);
        }
        if allow_log && min > 0.0 && (max / min).log10() > LOG_DECADES {
            // Out to the next power of ten when that is near, so the ends have a label.
            let below = 10f64.powf((min / 1.05).log10().floor());
            let above = 10f64.powf((max * 1.05).log10().ceil());
            let lo = if below >= min / 2.0 { below } else { min / 1.3 };
            let hi = if above <= max * 2.0 { above } else { max * 1.3 };
            return Axis { lo, hi, log: true };
        }
        let lo = if from_zero { min.min(0.0) } else { min };
        let mut hi = max + 0.06 * (max - lo);
        if hi <= lo {
            hi = lo + if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        }
        let lo = if from_zero { lo } else { lo - 0.06 * (hi - lo) };
        Axis { lo, hi, log: false }
    }
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub name: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
    pub markers: bool,
    /// Line width in pixels.
    pub width: u32,
    /// `(x, low, high)`: a shaded band drawn under the line (empty: none).
    pub band: Vec<(f64, f64, f64)>,
    /// The line is broken between consecutive points further apart in x than this (`None`:
    /// one unbroken line).
    pub gap: Option<f64>,
    /// Points drawn with a cross (×) instead of a dot: the unstable points, `(x, y)`, with
    /// `y` `None` for a point without a value (drawn at the top edge of the plot).
    pub crosses: Vec<(f64, Option<f64>)>,
}

/// A shaded span of the x axis, across the whole plot: a fault's window.
#[derive(Debug, Clone)]
pub(crate) struct Shade {
    /// Where it starts and ends, in x-axis units.
    pub from: f64,
    pub to: f64,
    pub color: RGBColor,
    /// How opaque the fill is, in [0, 1].
    pub opacity: f64,
    /// What this kind of span is, for the legend (one entry per distinct text).
    pub legend: &'static str,
    /// A label written at the top of the plot where the span starts (`None`: the span
    /// continues a labelled one).
    pub label: Option<String>,
}

/// A line chart, independent of the backend.
#[derive(Debug, Clone)]
pub(crate) struct Chart {
    pub title: String,
    /// A smaller line under the title: what the points are (seeds, bands, pooling).
    pub subtitle: String,
    pub x_label: String,
    pub y_label: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    /// Spans of x shaded behind the lines, each with a legend entry (empty: none).
    pub shades: Vec<Shade>,
}

/// One figure of the report.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    /// File stem: `<stem>.svg` and `<stem>.png`.
    pub stem: &'static str,
    /// A heading for the report.
    pub heading: String,
    pub chart: Chart,
}

/// Tab10-like colors; known policies keep the same color in every figure and report.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The color of a policy: fixed for the built-in policies, else by sweep position.
pub(crate) fn policy_color(policy: &str, index: usize) -> RGBColor {
    match policy {
        "random" => PALETTE[3],
        "group" => PALETTE[0],
        "locality" => PALETTE[2],
        "spread" => PALETTE[1],
        "hybrid" => PALETTE[4],
        "p2c" => PALETTE[5],
        "ees" => PALETTE[6],
        _ => PALETTE[(index + 4) % PALETTE.len()],
    }
}

fn log_note(axis: &Axis) -> &'static str {
    if axis.log { ", log scale" } else { "" }
}

/// An axis label without its unit, e.g. "data size" for "data size (MiB)".
fn words(label: &str) -> &str {
    label.split(" (").next().unwrap_or(label)
}

/// The color of series `index` of the model: its policy's color; when other parameters vary
/// too (several series per policy), a shade of it per combination of their values, from dark
/// to light in combination order.
fn series_color(model: &Model, index: usize) -> RGBColor {
    let key = &model.series[index];
    if let Some((policy, source)) = model.sweep.sources.get(&key.policy) {
        return source_color(&model.sweep.sources, policy, *source);
    }
    let i = model
        .sweep
        .policies
        .iter()
        .position(|p| *p == key.policy)
        .unwrap_or(index);
    let base = policy_color(&key.policy, i);
    let combos = model.combos();
    let k = combos.iter().position(|c| *c == key.others).unwrap_or(0);
    shade(base, k, combos.len())
}

/// The color of `policy` as drawn from source `source` of a merged sweep: the policy's color
/// (a Ray peer's `ray-group` counts as `group`), in a shade per source that has it, from dark
/// to light in source order; other policies by their order of first appearance.
fn source_color(
    sources: &std::collections::BTreeMap<String, (String, usize)>,
    policy: &str,
    source: usize,
) -> RGBColor {
    let base = |p: &str| -> String {
        let p = p.strip_prefix("ray-").unwrap_or(p);
        if matches!(p, "random" | "group" | "locality" | "spread" | "hybrid") {
            p.to_string()
        } else {
            format!("ray-{p}")
        }
    };
    let mine = base(policy);
    let mut bases: Vec<String> = Vec::new();
    let mut mine_sources: Vec<usize> = Vec::new();
    let mut entries: Vec<&(String, usize)> = sources.values().collect();
    entries.sort_by_key(|(p, s)| (*s, p.clone()));
    for (p, s) in entries {
        let b = base(p);
        if !bases.contains(&b) {
            bases.push(b.clone());
        }
        if b == mine && !mine_sources.contains(s) {
            mine_sources.push(*s);
        }
    }
    let i = bases.iter().position(|b| *b == mine).unwrap_or(0);
    let k = mine_sources.iter().position(|s| *s == source).unwrap_or(0);
    shade(policy_color(&mine, i), k, mine_sources.len())
}

/// Shade `k` of `n` of a color: the color itself when `n` is 1, else from 60% of it (darker)
/// through the color to a half blend with white.
fn shade(c: RGBColor, k: usize, n: usize) -> RGBColor {
    if n <= 1 {
        return c;
    }
    let t = k as f64 / (n - 1) as f64;
    let channel = |v: u8| {
        let v = f64::from(v);
        let out = if t <= 0.5 {
            v * (0.6 + 0.8 * t)
        } else {
            v + (255.0 - v) * (t - 0.5)
        };
        out.round().clamp(0.0, 255.0) as u8
    };
    RGBColor(channel(c.0), channel(c.1), channel(c.2))
}

/// A per-series line of one seed-averaged measure against x, with a min–max band across
/// seeds when the series has a point with several seeds.
fn measure_series(
    model: &Model,
    measure: impl Fn(&AggregatePoint) -> Spread,
    scale: f64,
) -> Vec<Series> {
    model
        .series
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let known: Vec<(f64, Spread)> = model
                .series_points(&key.label)
                .map(|p| (model.x.value(p.x), measure(p)))
                .filter(|(_, s)| s.is_known())
                .collect();
            let several = model.series_points(&key.label).any(|p| p.runs > 1);
            Series {
                name: key.label.clone(),
                color: series_color(model, i),
                points: known.iter().map(|(x, s)| (*x, s.mean * scale)).collect(),
                dashed: false,
                markers: true,
                width: 3,
                band: if several {
                    known
                        .iter()
                        .map(|(x, s)| (*x, s.min * scale, s.max * scale))
                        .collect()
                } else {
                    Vec::new()
                },
                gap: None,
                crosses: Vec::new(),
            }
        })
        .collect()
}

/// All values a chart's y axis must show (lines and bands).
fn y_values(series: &[Series]) -> Vec<f64> {
    series
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .map(|p| p.1)
                .chain(s.band.iter().flat_map(|b| [b.1, b.2]))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn x_axis(model: &Model) -> Axis {
    let xs: Vec<f64> = model.xs.iter().map(|&x| model.x.value(x)).collect();
    Axis::fit(xs, true, false)
}

/// The subtitle's note on seeds: how many each point averages (with the exceptions, when
/// points have different numbers, at most three named) and what the band is.
fn seeds_note(model: &Model) -> String {
    let seeds = SeedCounts::of(model);
    match (seeds.usual, seeds.exceptions.as_slice()) {
        (1, []) => "one seed per point".to_owned(),
        (n, []) => format!("each point: mean of {n} seeds; band: min–max across seeds"),
        (n, exceptions) => {
            let shown: Vec<String> = exceptions
                .iter()
                .take(3)
                .map(|(what, runs)| format!("{what}: {runs}"))
                .collect();
            let more = if exceptions.len() > 3 {
                format!(" and {} more", exceptions.len() - 3)
            } else {
                String::new()
            };
            format!(
                "mean of {n} seed{} per point, except {}{more}; band: min–max across seeds",
                if n == 1 { "" } else { "s" },
                shown.join(", ")
            )
        }
    }
}

/// How many seeds (runs) the points average: the most common number, and the points with
/// another number as `("<series> at <x>", runs)`, in point order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeedCounts {
    pub usual: usize,
    pub exceptions: Vec<(String, usize)>,
}

impl SeedCounts {
    pub(crate) fn of(model: &Model) -> SeedCounts {
        let mut counts: Vec<(usize, usize)> = Vec::new();
        for p in &model.points {
            match counts.iter_mut().find(|(runs, _)| *runs == p.runs) {
                Some((_, n)) => *n += 1,
                None => counts.push((p.runs, 1)),
            }
        }
        // The most common number; on a tie, the larger.
        let usual = counts
            .iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)))
            .map_or(1, |c| c.0);
        let exceptions = model
            .points
            .iter()
            .filter(|p| p.runs != usual)
            .map(|p| (format!("{} at {}", p.series, model.x.fmt(p.x)), p.runs))
            .collect();
        SeedCounts { usual, exceptions }
    }
}

/// What the subtitle of a figure with crosses adds.
pub(crate) const UNSTABLE_NOTE: &str = "; ×: a point with an unstable run";

/// The legend entry of the crosses.
pub(crate) const UNSTABLE_LEGEND: &str = "unstable (see text)";

/// The size (half-width) and stroke width of a cross, in pixels.
pub(crate) const CROSS: (i32, u32) = (7, 3);

/// Mean latency against x, with the published points as dashed reference series, and the
/// unstable points drawn as crosses.
pub(crate) fn mean_latency(model: &Model) -> Figure {
    let mut series = measure_series(model, |p| p.mean_ms, 1.0);
    for (line, key) in series.iter_mut().zip(&model.series) {
        line.crosses = model
            .series_points(&key.label)
            .filter(|p| p.is_unstable())
            .map(|p| {
                let known = p.mean_ms.is_known();
                (model.x.value(p.x), known.then_some(p.mean_ms.mean))
            })
            .collect();
    }
    for (i, policy) in model.sweep.policies.iter().enumerate() {
        let points: Vec<(f64, f64)> = model
            .published_for(policy)
            .map(|p| (model.x.value(p.data_mib * 1_048_576.0), p.mean_latency_ms))
            .collect();
        if !points.is_empty() {
            series.push(Series {
                name: format!("{policy} (published)"),
                color: policy_color(policy, i),
                points,
                dashed: true,
                markers: true,
                width: 2,
                band: Vec::new(),
                gap: None,
                crosses: Vec::new(),
            });
        }
    }
    let mut x = x_axis(model);
    let published_x = series
        .iter()
        .filter(|s| s.dashed)
        .flat_map(|s| s.points.iter());
    x.hi =
        x.hi.max(published_x.map(|p| p.0 * 1.04).fold(0.0, f64::max));
    let y = Axis::fit(y_values(&series), true, true);
    let mut subtitle = if model.published.is_empty() {
        seeds_note(model)
    } else {
        format!(
            "{}; dashed: the write-up's published points",
            seeds_note(model)
        )
    };
    let crosses: Vec<&(f64, Option<f64>)> = series.iter().flat_map(|s| &s.crosses).collect();
    if !crosses.is_empty() {
        subtitle.push_str(UNSTABLE_NOTE);
        if crosses.iter().any(|c| c.1.is_none()) {
            subtitle.push_str(" (at the top edge: no datapoint)");
        }
    }
    Figure {
        stem: "mean-latency",
        heading: format!("Mean latency against {}", model.x.label),
        chart: Chart {
            title: format!("Mean end-to-end latency against {}", words(&model.x.label)),
            subtitle,
            x_label: model.x.label.clone(),
            y_label: format!("mean latency (ms{})", log_note(&y)),
            x,
            y,
            series,
            shades: Vec::new(),
        },
    }
}

/// The CDF of measured latencies at the largest x, all seeds pooled.
pub(crate) fn latency_cdf(model: &Model) -> Figure {
    let series: Vec<Series> = model
        .cdfs
        .iter()
        .map(|c| {
            let i = model
                .series
                .iter()
                .position(|s| s.label == c.series)
                .unwrap_or(0);
            let n = c.sorted_ms.len();
            let ranks: Vec<usize> = if n <= CDF_POINTS {
                (0..n).collect()
            } else {
                (0..CDF_POINTS)
                    .map(|k| (k * (n - 1) + (CDF_POINTS - 1) / 2) / (CDF_POINTS - 1))
                    .collect()
            };
            Series {
                name: c.series.clone(),
                color: series_color(model, i),
                points: ranks
                    .into_iter()
                    .map(|r| (c.sorted_ms[r], (r + 1) as f64 / n as f64))
                    .collect(),
                dashed: false,
                markers: false,
                width: 2,
                band: Vec::new(),
                gap: None,
                crosses: Vec::new(),
            }
        })
        .collect();
    let latencies: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let x = Axis::fit(latencies, true, true);
    Figure {
        stem: "latency-cdf",
        heading: format!("Latency CDF at {}", model.x.fmt(model.cdf_x)),
        chart: Chart {
            title: format!("Latency CDF at {}", model.x.fmt(model.cdf_x)),
            subtitle: "every measured datapoint of every seed, pooled; warm-up excluded".to_owned(),
            x_label: format!("end-to-end latency (ms{})", log_note(&x)),
            y_label: "fraction of datapoints at or below".to_owned(),
            x,
            y: Axis::fixed(0.0, 1.02),
            series,
            shades: Vec::new(),
        },
    }
}

/// 99th-percentile latency against x.
pub(crate) fn p99_latency(model: &Model) -> Figure {
    let series = measure_series(model, |p| p.p99_ms, 1.0);
    let y = Axis::fit(y_values(&series), true, true);
    Figure {
        stem: "p99-latency",
        heading: format!("99th-percentile latency against {}", model.x.label),
        chart: Chart {
            title: format!("99th-percentile latency against {}", words(&model.x.label)),
            subtitle: seeds_note(model),
            x_label: model.x.label.clone(),
            y_label: format!("p99 latency (ms{})", log_note(&y)),
            x: x_axis(model),
            y,
            series,
            shades: Vec::new(),
        },
    }
}

/// The unit in which to show byte counts up to `max`: (name, bytes per unit).
pub(crate) fn bytes_unit(max: f64) -> (&'static str, f64) {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    if max >= GIB {
        ("GiB", GIB)
    } else {
        ("MiB", 1024.0 * 1024.0)
    }
}

/// Bytes moved over the network per run against x.
pub(crate) fn bytes_moved(model: &Model) -> Figure {
    // The unit: GiB when the largest value reaches 1 GiB, except on a log axis whose smallest
    // value is under 0.1 GiB, where MiB keeps the tick labels plain numbers.
    let raw = y_values(&measure_series(model, |p| p.bytes_transferred, 1.0));
    let (min, max) = raw.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| {
        (lo.min(v), hi.max(v))
    });
    let (unit, per) = match bytes_unit(max) {
        ("GiB", per) if Axis::fit(raw.iter().copied(), true, true).log && min < per / 10.0 => {
            ("MiB", 1024.0 * 1024.0)
        }
        other => other,
    };
    let series = measure_series(model, |p| p.bytes_transferred, 1.0 / per);
    let y = Axis::fit(y_values(&series), true, true);
    Figure {
        stem: "bytes-moved",
        heading: format!("Bytes moved over the network against {}", model.x.label),
        chart: Chart {
            title: "Bytes moved over the network per run".to_owned(),
            subtitle: seeds_note(model),
            x_label: model.x.label.clone(),
            y_label: format!("bytes moved ({unit}{})", log_note(&y)),
            x: x_axis(model),
            y,
            series,
            shades: Vec::new(),
        },
    }
}

/// CPU utilization per node over time for the chosen run. Long runs are shown as averages
/// of consecutive windows, at most [`UTILIZATION_POINTS`] points per node.
pub(crate) fn cpu_utilization(model: &Model) -> Figure {
    let u = &model.utilization;
    let windows = u.nodes.iter().map(|(_, p)| p.len()).max().unwrap_or(0);
    let per_bin = windows.div_ceil(UTILIZATION_POINTS).max(1);
    let series: Vec<Series> = u
        .nodes
        .iter()
        .enumerate()
        .map(|(i, (node, points))| Series {
            name: format!("node {node}"),
            color: PALETTE[i % PALETTE.len()],
            points: points
                .chunks(per_bin)
                .map(|c| {
                    let n = c.len() as f64;
                    let t = c.iter().map(|p| p.0).sum::<f64>() / n;
                    (t, c.iter().map(|p| p.1).sum::<f64>() * 100.0 / n)
                })
                .collect(),
            dashed: false,
            markers: false,
            width: 2,
            band: Vec::new(),
            gap: None,
            crosses: Vec::new(),
        })
        .collect();
    let times: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let run = &u.run;
    let window = trim_number(u.window_ms);
    let at = model.run_at(run);
    let what = format!("run {}: {}, seed {}{at}", run.run, run.policy, run.seed);
    Figure {
        stem: "cpu-utilization",
        heading: "CPU utilization per node over time".to_owned(),
        chart: Chart {
            title: "CPU utilization per node over time".to_owned(),
            subtitle: if per_bin > 1 {
                format!("{what}; each point averages {per_bin} windows of {window} ms")
            } else {
                format!("{what}; {window} ms windows")
            },
            x_label: "time since the run's start (s)".to_owned(),
            y_label: "busy CPU slots (% of the node's CPUs)".to_owned(),
            x: Axis::fit(times, true, false),
            y: Axis::fixed(0.0, utilization_top(&series)),
            series,
            shades: Vec::new(),
        },
    }
}

/// The top of the utilization axis, in percent: the busiest plotted point plus 15%, rounded up
/// to a multiple of 10, at least 10 and at most 100 (2 more at 100 so a full node's line shows).
fn utilization_top(series: &[Series]) -> f64 {
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let top = ((max * 1.15) / 10.0).ceil() * 10.0;
    if top >= 100.0 { 102.0 } else { top.max(10.0) }
}

/// A killed node before it is declared dead: down, and nobody knows yet.
const KILL_UNDETECTED: (RGBColor, f64, &str) = (RGBColor(60, 60, 60), 0.32, "kill, undetected");
/// A killed node once declared dead, until it is back (or the end).
const KILL_DECLARED: (RGBColor, f64, &str) = (RGBColor(60, 60, 60), 0.12, "kill, declared dead");
/// A slowed CPU.
const SLOW_CPU: (RGBColor, f64, &str) = (RGBColor(230, 171, 2), 0.25, "slow_cpu");
/// A slowed NIC.
const SLOW_NIC: (RGBColor, f64, &str) = (RGBColor(27, 158, 119), 0.22, "slow_nic");
/// A dropped link.
const DROP_LINK: (RGBColor, f64, &str) = (RGBColor(231, 41, 138), 0.18, "drop_link");

/// A fault's short label, e.g. "kill node 2", "slow_cpu node 1 ×2.5", "drop_link 0–3".
fn fault_label(f: &cohort_schema::FaultRow) -> String {
    match (f.kind.as_str(), f.peer, f.factor) {
        ("drop_link", Some(peer), _) => format!("drop_link {}–{peer}", f.node),
        (kind, _, Some(factor)) => format!("{kind} node {} ×{}", f.node, trim_number(factor.get())),
        (kind, _, _) => format!("{kind} node {}", f.node),
    }
}

/// The shaded spans of the timeline's faults, with the run's end at `end` (seconds): a kill is
/// undetected from `at_ns` until it is declared (or the node is back, or the end), then
/// declared dead until the node is back (or the end); other faults span `at_ns` to `until_ns`
/// (or the end).
fn fault_shades(timeline: &FaultTimeline, end: f64) -> Vec<Shade> {
    let s = |ns: u64| ns as f64 / 1e9;
    let mut out = Vec::new();
    for f in &timeline.faults {
        let from = s(f.at_ns);
        let back = f.until_ns.map_or(end, s);
        let label = Some(fault_label(f));
        let shade =
            |(color, opacity, legend): (RGBColor, f64, &'static str), from, to, label| Shade {
                from,
                to,
                color,
                opacity,
                legend,
                label,
            };
        match f.kind.as_str() {
            "kill" => {
                let declared = f.declared_ns.map(s);
                out.push(shade(
                    KILL_UNDETECTED,
                    from,
                    declared.map_or(back, |d| d.min(back)),
                    label,
                ));
                if let Some(d) = declared.filter(|d| *d < back) {
                    out.push(shade(KILL_DECLARED, d, back, None));
                }
            }
            "slow_cpu" => out.push(shade(SLOW_CPU, from, back, label)),
            "slow_nic" => out.push(shade(SLOW_NIC, from, back, label)),
            _ => out.push(shade(DROP_LINK, from, back, label)),
        }
    }
    out
}

/// Latency against arrival time for one run per policy, the faults shaded. `None` when no run
/// has faults.
pub(crate) fn fault_timeline(model: &Model) -> Option<Figure> {
    let timeline = model.timeline.as_ref()?;
    let mut thinned = false;
    let series: Vec<Series> = timeline
        .runs
        .iter()
        .map(|r| {
            let i = model
                .sweep
                .policies
                .iter()
                .position(|p| *p == r.run.policy)
                .unwrap_or(0);
            let (points, gap) = if r.points.len() > TIMELINE_POINTS {
                thinned = true;
                // Thinned, consecutive points may be up to two windows apart.
                let span = r.points.last().map_or(0.0, |p| p.0) - r.points[0].0;
                let windows = 2.0 * span / TIMELINE_POINTS as f64;
                (window_maxima(&r.points), r.gap_s.max(windows))
            } else {
                (r.points.clone(), r.gap_s)
            };
            Series {
                name: r.run.policy.clone(),
                color: policy_color(&r.run.policy, i),
                points,
                dashed: false,
                markers: false,
                width: 2,
                band: Vec::new(),
                gap: gap.is_finite().then_some(gap),
                crosses: Vec::new(),
            }
        })
        .collect();
    let fault_times = timeline.faults.iter().flat_map(|f| {
        [Some(f.at_ns), f.until_ns, f.declared_ns]
            .into_iter()
            .flatten()
            .map(|ns| ns as f64 / 1e9)
    });
    let times: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .chain(fault_times)
        .collect();
    let x = Axis::fit(times, true, false);
    let y = Axis::fit(y_values(&series), true, true);
    let shades = fault_shades(timeline, x.hi);
    let which = if thinned {
        format!(
            "each point: the largest latency in one of {TIMELINE_POINTS} equal windows of arrival time"
        )
    } else {
        "every datapoint".to_owned()
    };
    Some(Figure {
        stem: "fault-timeline",
        heading: "Latency over time around the faults".to_owned(),
        chart: Chart {
            title: "Latency over time around the faults, one run per policy".to_owned(),
            subtitle: format!(
                "each policy's first seed at the first grid point with faults; {which}; warm-up excluded; breaks: no arrivals; shaded: the faults"
            ),
            x_label: "arrival time since the run's start (s)".to_owned(),
            y_label: format!("end-to-end latency (ms{})", log_note(&y)),
            x,
            y,
            series,
            shades,
        },
    })
}

/// The datapoint with the largest latency in each of [`TIMELINE_POINTS`] equal windows of
/// arrival time (empty windows give none), in arrival order. `points` is in arrival order.
pub(crate) fn window_maxima(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Vec::new();
    };
    let width = (last.0 - first.0) / TIMELINE_POINTS as f64;
    let mut out: Vec<(usize, (f64, f64))> = Vec::new();
    for &p in points {
        let w = if width > 0.0 {
            (((p.0 - first.0) / width) as usize).min(TIMELINE_POINTS - 1)
        } else {
            0
        };
        match out.last_mut() {
            Some((k, best)) if *k == w => {
                if p.1 > best.1 {
                    *best = p;
                }
            }
            _ => out.push((w, p)),
        }
    }
    out.into_iter().map(|(_, p)| p).collect()
}

/// All figures of a report, in report order: the fault timeline last, when there is one.
pub(crate) fn all(model: &Model) -> Vec<Figure> {
    let mut figures = vec![
        mean_latency(model),
        latency_cdf(model),
        p99_latency(model),
        bytes_moved(model),
        cpu_utilization(model),
    ];
    figures.extend(fault_timeline(model));
    figures
}

/// Draws a figure as `<stem>.svg` and `<stem>.png` into `dir`.
pub(crate) fn write(figure: &Figure, dir: &Path) -> Result<(), ReportError> {
    let fail = |message: String| ReportError::Draw {
        figure: figure.stem.to_owned(),
        message,
    };
    let svg = dir.join(format!("{}.svg", figure.stem));
    draw(
        SVGBackend::new(&svg, SIZE).into_drawing_area(),
        &figure.chart,
    )
    .map_err(fail)?;
    let png = dir.join(format!("{}.png", figure.stem));
    draw(
        BitMapBackend::new(&png, SIZE).into_drawing_area(),
        &figure.chart,
    )
    .map_err(fail)?;
    Ok(())
}

pub(crate) fn err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> String {
    e.to_string()
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, chart: &Chart) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let (width, _) = root.dim_in_pixel();
    let center = (width / 2) as i32;
    let top = Pos::new(HPos::Center, VPos::Top);
    let title = fitted_font(&root, &chart.title, 26.0, width - 24).pos(top);
    root.draw(&Text::new(chart.title.clone(), (center, 12), title))
        .map_err(err)?;
    let subtitle = fitted_font(&root, &chart.subtitle, 18.0, width - 24)
        .color(&RGBColor(85, 85, 85))
        .pos(top);
    root.draw(&Text::new(chart.subtitle.clone(), (center, 46), subtitle))
        .map_err(err)?;
    let (_, body) = root.split_vertically(HEADER_HEIGHT);
    let (plot_area, legend_area) = body.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
    let (x, y) = (chart.x.lo..chart.x.hi, chart.y.lo..chart.y.hi);
    match (chart.x.log, chart.y.log) {
        (false, false) => plot(&plot_area, chart, x, y),
        (false, true) => plot(&plot_area, chart, x, log_axis(&chart.y)),
        (true, false) => plot(&plot_area, chart, log_axis(&chart.x), y),
        (true, true) => plot(&plot_area, chart, log_axis(&chart.x), log_axis(&chart.y)),
    }?;
    legend(&legend_area, chart)?;
    root.present().map_err(err)
}

/// The largest font, from `size` down, in which `text` fits in `max_width` pixels.
pub(crate) fn fitted_font<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    size: f64,
    max_width: u32,
) -> TextStyle<'static> {
    let mut size = size;
    while size > 10.0 {
        let style = TextStyle::from(("sans-serif", size).into_font());
        match area.estimate_text_size(text, &style) {
            Ok((w, _)) if w > max_width => size -= 1.0,
            _ => break,
        }
    }
    TextStyle::from(("sans-serif", size).into_font()).color(&BLACK)
}

/// A log-scale axis with labels at 1-2-5 (or 1-3, or 1) times powers of ten, by how many
/// decades it spans, and light grid lines at every integer times a power of ten.
pub(crate) fn log_axis(axis: &Axis) -> WithKeyPoints<LogCoord<f64>> {
    let (k0, k1) = (
        axis.lo.log10().floor() as i32,
        axis.hi.log10().ceil() as i32,
    );
    let mantissas: &[f64] = match k1 - k0 {
        0..=2 => &[1.0, 2.0, 5.0],
        3..=4 => &[1.0, 3.0],
        _ => &[1.0],
    };
    let within = |v: &f64| *v >= axis.lo && *v <= axis.hi;
    let decades = || (k0..=k1).map(|k| 10f64.powi(k));
    let major: Vec<f64> = decades()
        .flat_map(|p| mantissas.iter().map(move |m| m * p))
        .filter(within)
        .collect();
    let minor: Vec<f64> = decades()
        .flat_map(|p| (1..10).map(move |m| f64::from(m) * p))
        .filter(within)
        .collect();
    (axis.lo..axis.hi)
        .log_scale()
        .with_key_points(major)
        .with_light_points(minor)
}

/// A tick label: up to three decimals, or scientific notation below 0.01.
pub(crate) fn tick(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.01 {
        format!("{v:.0e}")
    } else {
        trim_number(v)
    }
}

fn plot<DB, X, Y>(area: &DrawingArea<DB, Shift>, spec: &Chart, x: X, y: Y) -> Result<(), String>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .margin_top(6)
        .x_label_area_size(64)
        .y_label_area_size(88)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(spec.x_label.as_str())
        .y_desc(spec.y_label.as_str())
        .axis_desc_style(("sans-serif", 20))
        .label_style(("sans-serif", 17))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .bold_line_style(RGBColor(210, 210, 210))
        .light_line_style(RGBColor(238, 238, 238))
        .max_light_lines(4)
        .x_labels(10)
        .y_labels(10)
        .draw()
        .map_err(err)?;
    let label_font = TextStyle::from(("sans-serif", 15).into_font()).color(&RGBColor(40, 40, 40));
    let right_edge = chart.plotting_area().get_pixel_range().0.end;
    let mut labels = 0;
    for shade in &spec.shades {
        let (from, to) = (shade.from.max(spec.x.lo), shade.to.min(spec.x.hi));
        if to > from {
            let fill = shade.color.mix(shade.opacity).filled();
            let span = Rectangle::new([(from, spec.y.lo), (to, spec.y.hi)], fill);
            chart.draw_series(std::iter::once(span)).map_err(err)?;
        }
        if let Some(label) = &shade.label {
            // Labels take turns on three rows, so that faults close in time do not overwrite
            // each other. A label starts at its span's start; one that would run past the
            // plot's right edge ends at its span's end instead.
            let row = 4 + 18 * (labels % 3);
            labels += 1;
            let width = area
                .estimate_text_size(label, &label_font)
                .map_or(0, |(w, _)| w as i32);
            let start = chart.backend_coord(&(from, spec.y.hi)).0;
            let (at, dx, h) = if start + 4 + width > right_edge {
                (to.max(from), -4, HPos::Right)
            } else {
                (from, 4, HPos::Left)
            };
            let text = Text::new(
                label.clone(),
                (dx, row),
                label_font.pos(Pos::new(h, VPos::Top)),
            );
            let at = EmptyElement::at((at, spec.y.hi)) + text;
            chart.draw_series(std::iter::once(at)).map_err(err)?;
        }
    }
    for s in spec.series.iter().filter(|s| !s.band.is_empty()) {
        let outline: Vec<(f64, f64)> = s
            .band
            .iter()
            .map(|&(x, lo, _)| (x, lo))
            .chain(s.band.iter().rev().map(|&(x, _, hi)| (x, hi)))
            .collect();
        let band = Polygon::new(outline, s.color.mix(0.18).filled());
        chart.draw_series(std::iter::once(band)).map_err(err)?;
    }
    for s in &spec.series {
        let style = s.color.stroke_width(s.width);
        if s.dashed {
            let line = DashedPathElement::new(s.points.clone(), 9, 6, style);
            chart.draw_series(std::iter::once(line)).map_err(err)?;
            if s.markers {
                let hollow = s
                    .points
                    .iter()
                    .map(|&p| Circle::new(p, 4, s.color.stroke_width(2)));
                chart.draw_series(hollow).map_err(err)?;
            }
        } else {
            if let Some(gap) = s.gap {
                let mut pieces: Vec<Vec<(f64, f64)>> = Vec::new();
                for &p in &s.points {
                    match pieces.last_mut() {
                        Some(piece) if piece.last().is_some_and(|q| p.0 - q.0 <= gap) => {
                            piece.push(p);
                        }
                        _ => pieces.push(vec![p]),
                    }
                }
                let lines = pieces
                    .into_iter()
                    .map(|piece| PathElement::new(piece, style));
                chart.draw_series(lines).map_err(err)?;
            } else {
                chart
                    .draw_series(std::iter::once(PathElement::new(s.points.clone(), style)))
                    .map_err(err)?;
            }
            if s.markers {
                let crossed = |p: &(f64, f64)| s.crosses.contains(&(p.0, Some(p.1)));
                let filled = s
                    .points
                    .iter()
                    .filter(|p| !crossed(p))
                    .map(|&p| Circle::new(p, 4, s.color.filled()));
                chart.draw_series(filled).map_err(err)?;
            }
        }
        let crosses = s.crosses.iter().map(|&(x, y)| {
            Cross::new(
                (x, y.unwrap_or(spec.y.hi)),
                CROSS.0,
                s.color.stroke_width(CROSS.1),
            )
        });
        chart.draw_series(crosses).map_err(err)?;
    }
    Ok(())
}

/// The legend column: one sample line (dashed when the series is) and the series name.
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<(), String> {
    let crossed = chart.series.iter().any(|s| !s.crosses.is_empty());
    let longest = chart
        .series
        .iter()
        .map(|s| s.name.as_str())
        .chain(chart.shades.iter().map(|s| s.legend))
        .chain(crossed.then_some(UNSTABLE_LEGEND))
        .max_by_key(|n| n.chars().count());
    let font = fitted_font(area, longest.unwrap_or(""), 19.0, LEGEND_WIDTH - 62)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, s) in chart.series.iter().enumerate() {
        let y = 24 + 32 * i as i32;
        let line = vec![(6, y), (46, y)];
        if s.dashed {
            area.draw(&DashedPathElement::new(
                line,
                9,
                6,
                s.color.stroke_width(s.width),
            ))
            .map_err(err)?;
            if s.markers {
                area.draw(&Circle::new((26, y), 4, s.color.stroke_width(2)))
                    .map_err(err)?;
            }
        } else {
            area.draw(&PathElement::new(line, s.color.stroke_width(s.width)))
                .map_err(err)?;
            if s.markers {
                area.draw(&Circle::new((26, y), 4, s.color.filled()))
                    .map_err(err)?;
            }
        }
        area.draw(&Text::new(s.name.clone(), (54, y), font.clone()))
            .map_err(err)?;
    }
    let mut entries = chart.series.len();
    if crossed {
        let y = 24 + 32 * entries as i32;
        area.draw(&Cross::new(
            (26, y),
            CROSS.0,
            RGBColor(60, 60, 60).stroke_width(CROSS.1),
        ))
        .map_err(err)?;
        area.draw(&Text::new(UNSTABLE_LEGEND, (54, y), font.clone()))
            .map_err(err)?;
        entries += 1;
    }
    let mut kinds: Vec<&Shade> = Vec::new();
    for shade in &chart.shades {
        if !kinds.iter().any(|k| k.legend == shade.legend) {
            kinds.push(shade);
        }
    }
    for (i, shade) in kinds.into_iter().enumerate() {
        let y = 24 + 32 * (entries + i) as i32;
        area.draw(&Rectangle::new(
            [(6, y - 9), (46, y + 9)],
            shade.color.mix(shade.opacity).filled(),
        ))
        .map_err(err)?;
        area.draw(&Text::new(shade.legend, (54, y), font.clone()))
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policys_sources_are_shades_of_its_color() {
        let sources: std::collections::BTreeMap<String, (String, usize)> = [
            ("random (cohort sim)", "random", 0),
            ("group (cohort sim)", "group", 0),
            ("random (cohort live)", "random", 1),
            ("ray-group (Ray 0.6.0)", "ray-group", 2),
            ("ray-default (Ray 0.6.0)", "ray-default", 2),
        ]
        .into_iter()
        .map(|(drawn, p, s)| (drawn.to_string(), (p.to_string(), s)))
        .collect();
        let red = policy_color("random", 0);
        let blue = policy_color("group", 0);
        assert_eq!(source_color(&sources, "random", 0), shade(red, 0, 2));
        assert_eq!(source_color(&sources, "random", 1), shade(red, 1, 2));
        // The Ray peer's group placement is drawn as group, from its own source.
        assert_eq!(source_color(&sources, "group", 0), shade(blue, 0, 2));
        assert_eq!(source_color(&sources, "ray-group", 2), shade(blue, 1, 2));
        // Another policy: a palette color of its own, its one source unshaded.
        let other = source_color(&sources, "ray-default", 2);
        assert!(![red, blue].contains(&other));
    }
}
