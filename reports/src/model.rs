//! Everything a report shows, read and computed before anything is drawn or written.

use std::collections::BTreeMap;

use crate::aggregate::{AggregatePoint, aggregate, x_values};
use cohort_schema::{FaultRow, SummaryRow};

use crate::input::{Sweep, read_faults, read_latencies_ms, read_timeline, read_utilization};
use crate::published::{DataSet, PublishedPoint, data_set};
use crate::stability::{self, RunStability};
use crate::units::{ParamKind, ParamUnit};
use crate::{ReportError, ReportOptions};

/// How the x parameter is shown: label, unit and scale from its kind and largest value.
#[derive(Debug, Clone)]
pub(crate) struct XAxis {
    /// Parameter name without `param.`.
    pub param: String,
    /// Axis label with unit, e.g. "data size (MiB)".
    pub label: String,
    /// The unit the values are shown in.
    pub unit: ParamUnit,
    /// "size" for data sizes, else "value of <param>".
    pub noun: String,
    /// "sizes" for data sizes, else "values of <param>".
    pub plural: String,
}

impl XAxis {
    /// The axis of `param` by the name rule alone (for directories without `param_units`),
    /// without knowing its values: sizes in MiB, `_ns` durations in ms.
    #[cfg(test)]
    pub(crate) fn new(param: &str) -> XAxis {
        XAxis::with_unit(
            param,
            ParamUnit::choose(ParamKind::from_name(param), f64::NAN),
        )
    }

    /// The axis of `param` shown in `unit`.
    pub(crate) fn with_unit(param: &str, unit: ParamUnit) -> XAxis {
        let words = param_words(param, unit.kind);
        let label = if unit.unit.is_empty() {
            words
        } else {
            format!("{words} ({})", unit.unit)
        };
        let (noun, plural) = if unit.kind == Some(ParamKind::Size) {
            ("size".to_owned(), "sizes".to_owned())
        } else {
            (format!("value of {param}"), format!("values of {param}"))
        };
        XAxis {
            param: param.to_owned(),
            label,
            unit,
            noun,
            plural,
        }
    }

    /// The shown value of a raw parameter value.
    pub(crate) fn value(&self, raw: f64) -> f64 {
        self.unit.value(raw)
    }

    /// A raw parameter value formatted with its unit, e.g. "15.26 MiB".
    pub(crate) fn fmt(&self, raw: f64) -> String {
        self.unit.fmt(raw)
    }

    /// A raw parameter value in the shown unit, without the unit.
    pub(crate) fn fmt_number(&self, raw: f64) -> String {
        self.unit.fmt_number(raw)
    }
}

/// A parameter's name in words: underscores as spaces, and a duration's `_ns` suffix dropped.
pub(crate) fn param_words(param: &str, kind: Option<ParamKind>) -> String {
    let stem = match kind {
        Some(ParamKind::Duration) => param.strip_suffix("_ns").unwrap_or(param),
        _ => param,
    };
    stem.replace('_', " ")
}

/// A number with up to three decimals and no trailing zeros.
pub(crate) fn trim_number(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// The pooled latency distribution of one series at the CDF's x value.
#[derive(Debug, Clone)]
pub(crate) struct PolicyCdf {
    /// The series' name (the policy, and the other varying parameters' values).
    pub series: String,
    /// How many runs (seeds) were pooled.
    pub runs: usize,
    /// Measured latencies in ms, ascending.
    pub sorted_ms: Vec<f64>,
}

/// Per-node utilization of the chosen run.
#[derive(Debug, Clone)]
pub(crate) struct Utilization {
    pub run: SummaryRow,
    /// `(node, [(window midpoint in s, busy fraction)])`, ascending by node and time.
    pub nodes: Vec<(u64, Vec<(f64, f64)>)>,
    /// Window length in ms (of the first window; the harness uses one length per run).
    pub window_ms: f64,
}

/// One run drawn in the fault timeline.
#[derive(Debug, Clone)]
pub(crate) struct TimelineRun {
    pub run: SummaryRow,
    /// Its measured datapoints (warm-up excluded), `(arrival in s, latency in ms)`, in arrival
    /// order.
    pub points: Vec<(f64, f64)>,
    /// Its faults, as its faults.csv lists them.
    pub faults: Vec<FaultRow>,
    /// The longest interval between consecutive arrivals that is not a gap, s:
    /// [`GAP_FACTOR`] times the mean interval (the run's span of arrivals over the number of
    /// intervals; infinite with fewer than two distinct arrival times).
    pub gap_s: f64,
    /// `(from, to)` in s: the intervals between consecutive arrivals longer than `gap_s`, in
    /// time order. The figure breaks its line there.
    pub gaps: Vec<(f64, f64)>,
}

/// An interval without arrivals this many times the run's mean interval is a gap. The mean,
/// not the median: datapoints often arrive in bursts (one per reducer of an iteration), so
/// most intervals are far shorter than the period.
pub(crate) const GAP_FACTOR: f64 = 10.0;

/// The gap threshold and the gaps of datapoints in arrival order (see [`TimelineRun`]).
fn silent_gaps(points: &[(f64, f64)]) -> (f64, Vec<(f64, f64)>) {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return (f64::INFINITY, Vec::new());
    };
    if last.0 <= first.0 {
        return (f64::INFINITY, Vec::new());
    }
    let gap = GAP_FACTOR * (last.0 - first.0) / (points.len() - 1) as f64;
    let gaps = points
        .windows(2)
        .filter(|w| w[1].0 - w[0].0 > gap)
        .map(|w| (w[0].0, w[1].0))
        .collect();
    (gap, gaps)
}

/// What the fault timeline shows: one run per policy that has runs with faults, and the
/// faults to shade.
#[derive(Debug, Clone)]
pub(crate) struct FaultTimeline {
    /// One run per policy, in sweep order: among the policy's runs with faults, the one at the
    /// smallest x (then the smallest values of the other varying parameters) with the first
    /// seed in sweep order.
    pub runs: Vec<TimelineRun>,
    /// The distinct faults of those runs, by start time (their union when the runs' faults
    /// differ).
    pub faults: Vec<FaultRow>,
    /// Whether every drawn run had the same faults.
    pub same_faults: bool,
}

/// One line of the x-axis figures: a policy at one combination of the values of the other
/// varying parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesKey {
    /// "random", or "random, num_maps=2" when other parameters vary.
    pub label: String,
    pub policy: String,
    /// The other varying parameters' raw values.
    pub others: Vec<(String, f64)>,
}

/// Whether the published points of a data set are drawn, and if not, why the report says so.
#[derive(Debug, Clone)]
pub(crate) enum Reference {
    /// The sweep declares no `reproduces`, or `ReportOptions::published_reference` is off.
    None,
    /// The sweep reproduces this data set and its x axis is the data set's: drawn.
    Drawn(&'static DataSet),
    /// `reproduces` names an id cohort has no published data for.
    Unknown(String),
    /// The sweep reproduces this data set, but the x axis is another parameter.
    OtherAxis(&'static DataSet),
}

/// All data behind one report.
#[derive(Debug)]
pub(crate) struct Model {
    pub sweep: Sweep,
    /// How each parameter is shown, in `sweep.param_names` order.
    pub units: Vec<ParamUnit>,
    pub x: XAxis,
    /// The parameters other than x whose values differ between runs, in column order.
    pub others: Vec<String>,
    /// The series, in point order (policy, then the other values).
    pub series: Vec<SeriesKey>,
    /// Seed-averaged points, by series then x.
    pub points: Vec<AggregatePoint>,
    /// The distinct x values, ascending.
    pub xs: Vec<f64>,
    /// Published reference points (empty when not drawn).
    pub published: Vec<PublishedPoint>,
    /// Why the published points are or are not drawn.
    pub reference: Reference,
    /// The x value of the CDF (the largest).
    pub cdf_x: f64,
    /// One pooled distribution per series that has runs at `cdf_x`.
    pub cdfs: Vec<PolicyCdf>,
    pub utilization: Utilization,
    /// The fault timeline, when any run has faults (`None`: no run has a faults.csv row).
    pub timeline: Option<FaultTimeline>,
    /// Whether the recovery counters are shown: some run has a non-zero one, a recovery time,
    /// or a kill.
    pub recovery: bool,
    /// Each run's stability, in `sweep.rows` order.
    pub stability: Vec<RunStability>,
}

impl Model {
    pub(crate) fn load(sweep: Sweep, options: &ReportOptions) -> Result<Model, ReportError> {
        let units: Vec<ParamUnit> = sweep
            .param_names
            .iter()
            .map(|name| {
                let kind = sweep
                    .param_units
                    .as_ref()
                    .and_then(|u| u.get(name).copied())
                    .or_else(|| ParamKind::from_name(name));
                let max = sweep.values(name).last().copied().unwrap_or(f64::NAN);
                ParamUnit::choose(kind, max)
            })
            .collect();
        let x_param = x_param(&sweep, options)?;
        let unit_of = |name: &str| {
            sweep
                .param_names
                .iter()
                .position(|n| n == name)
                .map_or_else(|| ParamUnit::choose(None, f64::NAN), |i| units[i].clone())
        };
        let x = XAxis::with_unit(&x_param, unit_of(&x_param));
        let others: Vec<String> = sweep
            .param_names
            .iter()
            .filter(|n| **n != x.param && sweep.values(n).len() > 1)
            .cloned()
            .collect();
        let stability = stability::assess(&sweep)?;
        let points = aggregate(&sweep, &x.param, &others, &stability, |policy, values| {
            let mut label = policy.to_owned();
            for (name, v) in values {
                label.push_str(&format!(", {name}={}", unit_of(name).fmt(*v)));
            }
            label
        });
        let mut series: Vec<SeriesKey> = Vec::new();
        for p in &points {
            if series.last().is_none_or(|s| s.label != p.series) {
                series.push(SeriesKey {
                    label: p.series.clone(),
                    policy: p.policy.clone(),
                    others: p.others.clone(),
                });
            }
        }
        let xs = x_values(&sweep, &x.param);
        let cdf_x = *xs.last().ok_or_else(|| {
            ReportError::input(
                &sweep.summary_path,
                None,
                format!("no run has a value of param.{}", x.param),
            )
        })?;

        let mut cdfs = Vec::new();
        for key in &series {
            let mut sorted_ms = Vec::new();
            let mut runs = 0;
            for row in sweep.rows.iter().filter(|r| {
                r.policy == key.policy
                    && sweep.param(r, &x.param) == Some(cdf_x)
                    && key
                        .others
                        .iter()
                        .all(|(n, v)| sweep.param(r, n) == Some(*v))
            }) {
                sorted_ms.extend(read_latencies_ms(&sweep.run_dir(row))?);
                runs += 1;
            }
            if runs > 0 {
                sorted_ms.retain(|v| v.is_finite());
                sorted_ms.sort_by(f64::total_cmp);
                cdfs.push(PolicyCdf {
                    series: key.label.clone(),
                    runs,
                    sorted_ms,
                });
            }
        }

        let utilization = load_utilization(&sweep, &x, cdf_x, options)?;
        let reference = match (&sweep.reproduces, options.published_reference) {
            (None, _) | (_, false) => Reference::None,
            (Some(id), true) => match data_set(id) {
                None => Reference::Unknown(id.clone()),
                Some(set) if set.x_param == x.param => Reference::Drawn(set),
                Some(set) => Reference::OtherAxis(set),
            },
        };
        let published = match &reference {
            Reference::Drawn(set) => (set.load)()?
                .into_iter()
                .filter(|p| sweep.policies.contains(&p.policy))
                .collect(),
            _ => Vec::new(),
        };
        let mut run_faults = Vec::with_capacity(sweep.rows.len());
        for row in &sweep.rows {
            run_faults.push(read_faults(&sweep.run_dir(row))?);
        }
        let recovery = sweep.rows.iter().any(has_recovery)
            || run_faults.iter().flatten().any(|f| f.kind == "kill");
        let timeline = load_timeline(&sweep, &x, &run_faults)?;
        Ok(Model {
            timeline,
            recovery,
            stability,
            sweep,
            units,
            x,
            others,
            series,
            points,
            xs,
            published,
            reference,
            cdf_x,
            cdfs,
            utilization,
        })
    }

    /// Whether some point has an unstable run.
    pub(crate) fn any_unstable(&self) -> bool {
        self.points.iter().any(AggregatePoint::is_unstable)
    }

    /// The seed-averaged points of one series, ascending in x.
    pub(crate) fn series_points<'a>(
        &'a self,
        series: &'a str,
    ) -> impl Iterator<Item = &'a AggregatePoint> + 'a {
        self.points.iter().filter(move |p| p.series == series)
    }

    /// The distinct combinations of the other varying parameters' values, in point order
    /// (one empty combination when only x varies).
    pub(crate) fn combos(&self) -> Vec<Vec<(String, f64)>> {
        let mut out: Vec<Vec<(String, f64)>> = Vec::new();
        for s in &self.series {
            if !out.contains(&s.others) {
                out.push(s.others.clone());
            }
        }
        out
    }

    /// The unit a parameter is shown in.
    pub(crate) fn unit(&self, name: &str) -> ParamUnit {
        self.sweep
            .param_names
            .iter()
            .position(|n| n == name)
            .map_or_else(
                || ParamUnit::choose(None, f64::NAN),
                |i| self.units[i].clone(),
            )
    }

    /// "num_maps=2, heartbeat=100 ms": a combination of other parameters' values.
    pub(crate) fn fmt_combo(&self, combo: &[(String, f64)]) -> String {
        combo
            .iter()
            .map(|(n, v)| format!("{n}={}", self.unit(n).fmt(*v)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// ", 8.00 MiB" (and ", shards=4" for each other varying parameter): where a run is.
    pub(crate) fn run_at(&self, run: &SummaryRow) -> String {
        let mut at = self
            .sweep
            .param(run, &self.x.param)
            .map(|v| format!(", {}", self.x.fmt(v)))
            .unwrap_or_default();
        for name in &self.others {
            if let Some(v) = self.sweep.param(run, name) {
                at.push_str(&format!(", {name}={}", self.unit(name).fmt(v)));
            }
        }
        at
    }

    /// The published points of one policy, ascending in data size.
    pub(crate) fn published_for<'a>(
        &'a self,
        policy: &'a str,
    ) -> impl Iterator<Item = &'a PublishedPoint> + 'a {
        self.published.iter().filter(move |p| p.policy == policy)
    }
}

/// The x parameter: the one asked for, else the first swept parameter, else the first that
/// varies between runs, else the first parameter column.
fn x_param(sweep: &Sweep, options: &ReportOptions) -> Result<String, ReportError> {
    let columns = || {
        let have: Vec<String> = sweep
            .param_names
            .iter()
            .map(|n| format!("param.{n}"))
            .collect();
        if have.is_empty() {
            "none".to_owned()
        } else {
            have.join(", ")
        }
    };
    let missing = |x: &str, why: &str| {
        ReportError::input(
            &sweep.summary_path,
            Some(1),
            format!(
                "missing column `param.{x}` for the x axis{why} (parameter columns: {})",
                columns()
            ),
        )
    };
    let has = |x: &str| sweep.param_names.iter().any(|n| n == x);
    if let Some(x) = &options.x_param {
        return if has(x) {
            Ok(x.clone())
        } else {
            Err(missing(x, ""))
        };
    }
    if let Some(first) = sweep.swept.as_ref().and_then(|s| s.first()) {
        return if has(first) {
            Ok(first.clone())
        } else {
            Err(missing(first, ", the first of `swept` in sweep.toml"))
        };
    }
    sweep
        .param_names
        .iter()
        .find(|n| sweep.values(n).len() > 1)
        .or_else(|| sweep.param_names.first())
        .cloned()
        .ok_or_else(|| {
            ReportError::input(
                &sweep.summary_path,
                Some(1),
                "no parameter columns (`param.<name>`): there is no parameter to draw the figures against",
            )
        })
}

/// Whether a run's summary shows any recovery: a non-zero counter or a recovery time.
fn has_recovery(r: &SummaryRow) -> bool {
    [
        r.reexecuted,
        r.reconstructed,
        r.actor_restarts,
        r.spilled_bytes,
        r.restored_bytes,
        r.datapoints_lost,
    ]
    .iter()
    .any(|&n| n > 0)
        || r.recovery_first_ms.is_some()
        || r.recovery_last_ms.is_some()
}

/// Picks one run per policy among the runs with faults (`run_faults`, by row) and reads its
/// datapoints: the one at the smallest x, then the smallest values of the other parameters,
/// then the first seed in sweep order. `None` when no run has faults.
fn load_timeline(
    sweep: &Sweep,
    x: &XAxis,
    run_faults: &[Vec<FaultRow>],
) -> Result<Option<FaultTimeline>, ReportError> {
    if run_faults.iter().all(Vec::is_empty) {
        return Ok(None);
    }
    let key = |r: &SummaryRow| {
        let seed = sweep
            .seeds
            .iter()
            .position(|s| *s == r.seed)
            .unwrap_or(usize::MAX);
        (sweep.param(r, &x.param).unwrap_or(f64::INFINITY), seed)
    };
    let mut runs = Vec::new();
    for policy in &sweep.policies {
        let chosen = sweep
            .rows
            .iter()
            .zip(run_faults)
            .filter(|(r, faults)| &r.policy == policy && !faults.is_empty())
            .min_by(|(a, _), (b, _)| {
                let (ka, kb) = (key(a), key(b));
                ka.0.total_cmp(&kb.0)
                    .then_with(|| {
                        // The other parameters in column order, x excluded.
                        a.params
                            .iter()
                            .zip(&b.params)
                            .zip(&sweep.param_names)
                            .filter(|(_, name)| **name != x.param)
                            .map(|((l, r), _)| l.cmp(r))
                            .find(|o| o.is_ne())
                            .unwrap_or(std::cmp::Ordering::Equal)
                    })
                    .then(ka.1.cmp(&kb.1))
            });
        if let Some((row, faults)) = chosen {
            let points = read_timeline(&sweep.run_dir(row))?;
            let (gap_s, gaps) = silent_gaps(&points);
            runs.push(TimelineRun {
                run: row.clone(),
                points,
                faults: faults.clone(),
                gap_s,
                gaps,
            });
        }
    }
    let mut faults: Vec<FaultRow> = Vec::new();
    for f in runs.iter().flat_map(|r| &r.faults) {
        if !faults.contains(f) {
            faults.push(f.clone());
        }
    }
    faults.sort_by_key(|f| f.at_ns);
    let same = |a: &[FaultRow], b: &[FaultRow]| {
        a.iter().all(|f| b.contains(f)) && b.iter().all(|f| a.contains(f))
    };
    let same_faults = runs.iter().all(|r| same(&r.faults, &runs[0].faults));
    Ok(Some(FaultTimeline {
        runs,
        faults,
        same_faults,
    }))
}

/// Picks the run for the utilization figure and reads its `utilization.csv`.
fn load_utilization(
    sweep: &Sweep,
    x: &XAxis,
    cdf_x: f64,
    options: &ReportOptions,
) -> Result<Utilization, ReportError> {
    let row = match &options.utilization_run {
        Some(run) => sweep.rows.iter().find(|r| &r.run == run).ok_or_else(|| {
            ReportError::input(
                &sweep.summary_path,
                None,
                format!("no run `{run}` (asked for the utilization figure)"),
            )
        })?,
        None => {
            let policy = if sweep.policies.iter().any(|p| p == "random") {
                "random"
            } else {
                sweep.policies[0].as_str()
            };
            let at_x =
                |r: &&SummaryRow| r.policy == policy && sweep.param(r, &x.param) == Some(cdf_x);
            sweep
                .seeds
                .iter()
                .find_map(|s| sweep.rows.iter().filter(at_x).find(|r| r.seed == *s))
                .or_else(|| sweep.rows.iter().find(at_x))
                .unwrap_or(&sweep.rows[0])
        }
    };
    let rows = read_utilization(&sweep.run_dir(row))?;
    let window_ms = rows.first().map_or(0.0, |r| r.window_ns as f64 / 1e6);
    let mut by_node: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
    for r in &rows {
        let mid_s = (r.window_start_ns as f64 + r.window_ns as f64 / 2.0) / 1e9;
        by_node
            .entry(u64::from(r.node))
            .or_default()
            .push((mid_s, r.busy_fraction.get()));
    }
    for series in by_node.values_mut() {
        series.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok(Utilization {
        run: row.clone(),
        nodes: by_node.into_iter().collect(),
        window_ms,
    })
}
