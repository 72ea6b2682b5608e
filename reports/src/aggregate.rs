//! Seed-averaging of the summary rows.

use cohort_schema::SummaryRow;

use crate::input::Sweep;
use crate::stability::RunStability;

/// Mean, minimum and maximum of one measure over the seeds (runs) of one point.
///
/// Values that are not finite (a run without datapoints may report `NaN`) are left out; when
/// no value is left, all three fields are `NaN`, and figures and text skip the point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Arithmetic mean over the seeds.
    pub mean: f64,
    /// Smallest value over the seeds.
    pub min: f64,
    /// Largest value over the seeds.
    pub max: f64,
}

impl Spread {
    /// The spread of the finite values in `values`.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Spread {
        let (mut n, mut sum, mut min, mut max) = (0usize, 0.0, f64::INFINITY, f64::NEG_INFINITY);
        for v in values.into_iter().filter(|v| v.is_finite()) {
            n += 1;
            sum += v;
            min = min.min(v);
            max = max.max(v);
        }
        if n == 0 {
            Spread {
                mean: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            }
        } else {
            Spread {
                mean: sum / n as f64,
                min,
                max,
            }
        }
    }

    /// Whether there was at least one finite value.
    pub fn is_known(&self) -> bool {
        self.mean.is_finite()
    }
}

/// One policy at one value of the x parameter, over its seeds (one run per seed).
///
/// When parameters other than x also vary between the runs, runs with different values of
/// them are never averaged together: each combination of their values is a series of its own
/// (`others`, `series`).
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatePoint {
    /// The policy's name as written by the harness.
    pub policy: String,
    /// The name of the point's series in figures and text: the policy, followed by the
    /// values of the other varying parameters when there are any (e.g. "random, num_maps=2").
    pub series: String,
    /// The raw values of the parameters other than x that vary between the sweep's runs, in
    /// column order (empty when only x varies).
    pub others: Vec<(String, f64)>,
    /// The raw value of the x parameter (e.g. `data_size` in bytes).
    pub x: f64,
    /// How many runs (seeds) were averaged.
    pub runs: usize,
    /// Measured datapoints (warm-up excluded), summed over the runs.
    pub datapoints: u64,
    /// Mean latency, ms.
    pub mean_ms: Spread,
    /// Median latency, ms.
    pub p50_ms: Spread,
    /// 90th-percentile latency, ms.
    pub p90_ms: Spread,
    /// 99th-percentile latency, ms.
    pub p99_ms: Spread,
    /// Largest latency, ms.
    pub max_ms: Spread,
    /// Bytes moved over the network per run.
    pub bytes_transferred: Spread,
    /// Object transfers per run.
    pub transfers: Spread,
    /// Object-store evictions per run.
    pub evictions: Spread,
    /// Tasks per run.
    pub tasks: Spread,
    /// Failed tasks, summed over the runs.
    pub failed: u64,
    /// Mean over nodes of per-node CPU utilization (fraction in [0, 1]).
    pub cpu_util_mean: Spread,
    /// Utilization of the least busy node (fraction).
    pub cpu_util_min: Spread,
    /// Utilization of the busiest node (fraction).
    pub cpu_util_max: Spread,
    /// Work run again per run (after a node died, to rebuild a lost output, or replayed by a
    /// restarted actor).
    pub reexecuted: Spread,
    /// Lost objects rebuilt per run.
    pub reconstructed: Spread,
    /// Actors restarted per run.
    pub actor_restarts: Spread,
    /// Bytes spilled from stores to disk per run.
    pub spilled_bytes: Spread,
    /// Bytes restored from disk into stores per run.
    pub restored_bytes: Spread,
    /// Datapoints lost per run (their recording work failed).
    pub datapoints_lost: Spread,
    /// From the first kill to the first arrival of a datapoint it held up, ms, over the runs
    /// that have one (`NaN` when none has: no kill, or nothing held up).
    pub recovery_first_ms: Spread,
    /// From the first kill to the last such arrival, ms, over the runs that have one.
    pub recovery_last_ms: Spread,
    /// How many of the runs are unstable: work unfinished when they stopped, no measured
    /// datapoint, or latency rising by more than its mean over the measured window (the rule
    /// is in the crate documentation).
    pub unstable_runs: usize,
    /// How many of the runs have no measured datapoint (their latency statistics are left
    /// out of the spreads above).
    pub collapsed_runs: usize,
    /// The latency's least-squares growth over the measured datapoints, ms per s.
    pub growth_ms_per_s: Spread,
    /// Work unfinished when a run stopped.
    pub unfinished: Spread,
}

impl AggregatePoint {
    /// Whether any run of the point is unstable.
    pub fn is_unstable(&self) -> bool {
        self.unstable_runs > 0
    }
}

/// Groups the sweep's runs by (policy, values of the `others` parameters, x) and averages
/// over seeds; ordered by policy (sweep order), then the other values ascending, then x
/// ascending. `label` names a series from its policy and other values. `stability` is each
/// row's, in row order. A run without measured datapoints has no latency statistics: its
/// cells (0, or `NaN`) are left out of the latency spreads.
pub(crate) fn aggregate(
    sweep: &Sweep,
    x_param: &str,
    others: &[String],
    stability: &[RunStability],
    label: impl Fn(&str, &[(String, f64)]) -> String,
) -> Vec<AggregatePoint> {
    let xs = x_values(sweep, x_param);
    let other_values = |r: &SummaryRow| -> Vec<f64> {
        others
            .iter()
            .map(|n| sweep.param(r, n).unwrap_or(f64::NAN))
            .collect()
    };
    let mut out = Vec::new();
    for policy in &sweep.policies {
        let mut combos: Vec<Vec<f64>> = sweep
            .rows
            .iter()
            .filter(|r| &r.policy == policy)
            .map(other_values)
            .collect();
        combos.sort_by(|a, b| {
            a.iter()
                .zip(b)
                .map(|(l, r)| l.total_cmp(r))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        combos.dedup_by(|a, b| a.iter().zip(b.iter()).all(|(l, r)| l.total_cmp(r).is_eq()));
        for combo in &combos {
            let named: Vec<(String, f64)> =
                others.iter().cloned().zip(combo.iter().copied()).collect();
            let series = label(policy, &named);
            for &x in &xs {
                let (runs, states): (Vec<&SummaryRow>, Vec<RunStability>) = sweep
                    .rows
                    .iter()
                    .zip(stability)
                    .filter(|(r, _)| {
                        &r.policy == policy
                            && sweep.param(r, x_param) == Some(x)
                            && other_values(r)
                                .iter()
                                .zip(combo)
                                .all(|(l, r)| l.total_cmp(r).is_eq())
                    })
                    .map(|(r, s)| (r, *s))
                    .unzip();
                if runs.is_empty() {
                    continue;
                }
                let spread = |f: fn(&SummaryRow) -> f64| Spread::of(runs.iter().map(|r| f(r)));
                // A column the run's runtime did not measure (a Ray peer's bytes) is unknown.
                let measured = |column: &str, f: fn(&SummaryRow) -> f64| {
                    Spread::of(runs.iter().map(|r| {
                        if sweep.measured(r, column) {
                            f(r)
                        } else {
                            f64::NAN
                        }
                    }))
                };
                let latency = |f: fn(&SummaryRow) -> f64| {
                    Spread::of(
                        runs.iter()
                            .map(|r| if r.datapoints == 0 { f64::NAN } else { f(r) }),
                    )
                };
                out.push(AggregatePoint {
                    policy: policy.clone(),
                    series: series.clone(),
                    others: named.clone(),
                    x,
                    runs: runs.len(),
                    datapoints: runs.iter().map(|r| r.datapoints).sum(),
                    mean_ms: latency(|r| r.mean_ms.get()),
                    p50_ms: latency(|r| r.p50_ms.get()),
                    p90_ms: latency(|r| r.p90_ms.get()),
                    p99_ms: latency(|r| r.p99_ms.get()),
                    max_ms: latency(|r| r.max_ms.get()),
                    bytes_transferred: measured("bytes_transferred", |r| {
                        r.bytes_transferred as f64
                    }),
                    transfers: measured("transfers", |r| r.transfers as f64),
                    evictions: measured("evictions", |r| r.evictions as f64),
                    tasks: spread(|r| r.tasks as f64),
                    failed: runs.iter().map(|r| r.failed).sum(),
                    cpu_util_mean: spread(|r| r.cpu_util_mean.get()),
                    cpu_util_min: spread(|r| r.cpu_util_min.get()),
                    cpu_util_max: spread(|r| r.cpu_util_max.get()),
                    reexecuted: measured("reexecuted", |r| r.reexecuted as f64),
                    reconstructed: measured("reconstructed", |r| r.reconstructed as f64),
                    actor_restarts: measured("actor_restarts", |r| r.actor_restarts as f64),
                    spilled_bytes: measured("spilled_bytes", |r| r.spilled_bytes as f64),
                    restored_bytes: measured("restored_bytes", |r| r.restored_bytes as f64),
                    datapoints_lost: measured("datapoints_lost", |r| r.datapoints_lost as f64),
                    recovery_first_ms: spread(|r| {
                        r.recovery_first_ms.map_or(f64::NAN, |v| v.get())
                    }),
                    recovery_last_ms: spread(|r| r.recovery_last_ms.map_or(f64::NAN, |v| v.get())),
                    unstable_runs: states.iter().filter(|s| s.unstable()).count(),
                    collapsed_runs: states.iter().filter(|s| s.collapsed).count(),
                    growth_ms_per_s: spread(|r| r.growth_ms_per_s.get()),
                    unfinished: spread(|r| r.unfinished as f64),
                });
            }
        }
    }
    out
}

/// The distinct values of the x parameter, ascending.
pub(crate) fn x_values(sweep: &Sweep, x_param: &str) -> Vec<f64> {
    let mut xs: Vec<f64> = sweep
        .rows
        .iter()
        .filter_map(|r| sweep.param(r, x_param))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    xs
}
