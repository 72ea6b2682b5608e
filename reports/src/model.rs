//! Everything a report shows, read and computed before anything is drawn or written.

use std::collections::BTreeMap;

use crate::aggregate::{AggregatePoint, aggregate, x_values};
use cohort_schema::SummaryRow;

use crate::input::{Sweep, read_latencies_ms, read_utilization};
use crate::published::{PublishedPoint, published_eval_line};
use crate::{ReportError, ReportOptions};

/// How the x parameter is shown: label, unit and scale from its raw value.
#[derive(Debug, Clone)]
pub(crate) struct XAxis {
    /// Parameter name without `param.`.
    pub param: String,
    /// Axis label with unit, e.g. "data size (MiB)".
    pub label: String,
    /// Multiplier from the raw value to the shown value.
    pub scale: f64,
    /// Unit of the shown value ("MiB", "ms" or "").
    pub unit: &'static str,
    /// "size" for data sizes, else "value of <param>".
    pub noun: String,
    /// "sizes" for data sizes, else "values of <param>".
    pub plural: String,
}

impl XAxis {
    pub(crate) fn new(param: &str) -> XAxis {
        let words = param.replace('_', " ");
        let (scale, unit, base) = if param.ends_with("size") || param.ends_with("bytes") {
            (1.0 / 1_048_576.0, "MiB", words)
        } else if let Some(stem) = param.strip_suffix("_ns") {
            (1e-6, "ms", stem.replace('_', " "))
        } else {
            (1.0, "", words)
        };
        let label = if unit.is_empty() {
            base
        } else {
            format!("{base} ({unit})")
        };
        let (noun, plural) = if unit == "MiB" {
            ("size".to_owned(), "sizes".to_owned())
        } else {
            (format!("value of {param}"), format!("values of {param}"))
        };
        XAxis {
            param: param.to_owned(),
            label,
            scale,
            unit,
            noun,
            plural,
        }
    }

    /// The shown value of a raw parameter value.
    pub(crate) fn value(&self, raw: f64) -> f64 {
        raw * self.scale
    }

    /// A raw parameter value formatted with its unit, e.g. "15.26 MiB".
    pub(crate) fn fmt(&self, raw: f64) -> String {
        match self.unit {
            "" => self.fmt_number(raw),
            unit => format!("{} {unit}", self.fmt_number(raw)),
        }
    }

    /// A raw parameter value in the shown unit, without the unit: two decimals for MiB, up
    /// to three otherwise.
    pub(crate) fn fmt_number(&self, raw: f64) -> String {
        let v = self.value(raw);
        if self.unit == "MiB" {
            format!("{v:.2}")
        } else {
            trim_number(v)
        }
    }
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

/// The pooled latency distribution of one policy at the CDF's x value.
#[derive(Debug, Clone)]
pub(crate) struct PolicyCdf {
    pub policy: String,
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

/// All data behind one report.
#[derive(Debug)]
pub(crate) struct Model {
    pub sweep: Sweep,
    pub x: XAxis,
    /// Seed-averaged points, by policy then x.
    pub points: Vec<AggregatePoint>,
    /// The distinct x values, ascending.
    pub xs: Vec<f64>,
    /// Published reference points (empty when not drawn).
    pub published: Vec<PublishedPoint>,
    /// The x value of the CDF (the largest).
    pub cdf_x: f64,
    /// One pooled distribution per policy that has runs at `cdf_x`.
    pub cdfs: Vec<PolicyCdf>,
    pub utilization: Utilization,
}

impl Model {
    pub(crate) fn load(sweep: Sweep, options: &ReportOptions) -> Result<Model, ReportError> {
        let x = XAxis::new(&options.x_param);
        let points = aggregate(&sweep, &x.param)?;
        let xs = x_values(&sweep, &x.param);
        let cdf_x = *xs.last().ok_or_else(|| {
            ReportError::input(
                &sweep.summary_path,
                None,
                format!("no run has a value of param.{}", x.param),
            )
        })?;

        let mut cdfs = Vec::new();
        for policy in &sweep.policies {
            let mut sorted_ms = Vec::new();
            let mut runs = 0;
            for row in sweep
                .rows
                .iter()
                .filter(|r| &r.policy == policy && sweep.param(r, &x.param) == Some(cdf_x))
            {
                sorted_ms.extend(read_latencies_ms(&sweep.run_dir(row))?);
                runs += 1;
            }
            if runs > 0 {
                sorted_ms.retain(|v| v.is_finite());
                sorted_ms.sort_by(f64::total_cmp);
                cdfs.push(PolicyCdf {
                    policy: policy.clone(),
                    runs,
                    sorted_ms,
                });
            }
        }

        let utilization = load_utilization(&sweep, &x, cdf_x, options)?;
        let published = if options.published_reference && x.param == "data_size" {
            published_eval_line()?
                .into_iter()
                .filter(|p| sweep.policies.contains(&p.policy))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Model {
            sweep,
            x,
            points,
            xs,
            published,
            cdf_x,
            cdfs,
            utilization,
        })
    }

    /// The seed-averaged points of one policy, ascending in x.
    pub(crate) fn policy_points<'a>(
        &'a self,
        policy: &'a str,
    ) -> impl Iterator<Item = &'a AggregatePoint> + 'a {
        self.points.iter().filter(move |p| p.policy == policy)
    }

    /// The published points of one policy, ascending in data size.
    pub(crate) fn published_for<'a>(
        &'a self,
        policy: &'a str,
    ) -> impl Iterator<Item = &'a PublishedPoint> + 'a {
        self.published.iter().filter(move |p| p.policy == policy)
    }
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
