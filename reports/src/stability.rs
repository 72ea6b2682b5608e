//! Whether a run is stable: it finished its work and its latency did not grow without bound.
//!
//! A run is *unstable* when any of these holds:
//! - **unfinished**: `unfinished > 0` in `summary.csv`: work was still queued or running when
//!   the run stopped (its drain after the last iteration ran out);
//! - **collapsed**: `datapoints == 0`: not one measured datapoint arrived, so it has no
//!   latency to show (its latency statistics are unknown, not 0);
//! - **growing**: its latency rises by more than its own mean over the measured window:
//!   `growth_ms_per_s × window_s > mean_ms`, where `growth_ms_per_s` is the least-squares
//!   slope of latency against ingest time (from `summary.csv`) and `window_s` the span of
//!   ingest times of its measured datapoints (from its `latencies.csv`). For latency rising
//!   on a line from `a` to `a + g·W` the mean is `a + g·W/2`, so the rule flags a run whose
//!   latency at the end of the window is more than three times the latency at its start; a
//!   queue that grows from empty (`a ≈ 0`) always is, and a steady run (`g ≈ 0`) never is.

use cohort_schema::SummaryRow;
use std::path::Path;

use crate::ReportError;
use crate::input::{Sweep, read_measured_window_s};

/// A run is growing when its growth over the measured window exceeds this many times its
/// mean latency.
pub(crate) const GROWTH_FACTOR: f64 = 1.0;

/// The rule in words, for the report's text.
pub(crate) const RULE: &str = "a run is unstable when work was still unfinished when it stopped, when it has no measured datapoint, or when its latency rises by more than its own mean over the measured window (least-squares growth in ms/s × the window's length in s > the mean latency in ms; on a straight line, the latency at the end of the window is more than three times that at its start)";

/// What [`assess`] found for one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RunStability {
    /// No measured datapoint.
    pub collapsed: bool,
    /// Work unfinished when the run stopped.
    pub unfinished: u64,
    /// The latency's least-squares growth, ms per s (`summary.csv`).
    pub growth_ms_per_s: f64,
    /// The measured window, s; `NaN` when not read (the growth is not positive, or the run
    /// collapsed: the rule cannot hold).
    pub window_s: f64,
    /// Whether `growth × window > mean`.
    pub growing: bool,
}

impl RunStability {
    /// Whether the run is unstable by any of the three conditions.
    pub(crate) fn unstable(&self) -> bool {
        self.collapsed || self.unfinished > 0 || self.growing
    }

    /// The verdict for one run, given its measured window in s (`NaN`: not known).
    pub(crate) fn of(row: &SummaryRow, window_s: f64) -> RunStability {
        let growth = row.growth_ms_per_s.get();
        let mean = row.mean_ms.get();
        let collapsed = row.datapoints == 0;
        let growing = !collapsed
            && growth.is_finite()
            && growth > 0.0
            && window_s.is_finite()
            && mean.is_finite()
            && growth * window_s > GROWTH_FACTOR * mean;
        RunStability {
            collapsed,
            unfinished: row.unfinished,
            growth_ms_per_s: growth,
            window_s,
            growing,
        }
    }
}

/// The stability of every run of the sweep, in row order. A run's `latencies.csv` is read
/// (for its measured window) only when its growth is positive and it has measured datapoints:
/// otherwise the growth rule cannot hold.
pub(crate) fn assess(sweep: &Sweep) -> Result<Vec<RunStability>, ReportError> {
    sweep
        .rows
        .iter()
        .map(|row| assess_run(row, &sweep.run_dir(row)))
        .collect()
}

/// The stability of the run `row` summarizes, whose directory is `run_dir` (its
/// `latencies.csv` is read only when the growth rule can hold).
fn assess_run(row: &SummaryRow, run_dir: &Path) -> Result<RunStability, ReportError> {
    let growth = row.growth_ms_per_s.get();
    let window = if row.datapoints > 0 && growth.is_finite() && growth > 0.0 {
        read_measured_window_s(run_dir)?
    } else {
        f64::NAN
    };
    Ok(RunStability::of(row, window))
}

/// Whether the run `row` summarizes, in `run_dir`, kept up: it is not unstable by the
/// report's rule (no work unfinished, a measured datapoint, latency not rising by more than
/// its own mean over the measured window). For tools that compare runs (`cohort compare`).
pub fn kept_up(row: &SummaryRow, run_dir: &Path) -> Result<bool, ReportError> {
    Ok(!assess_run(row, run_dir)?.unstable())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cohort_schema::Fixed6;

    fn row(datapoints: u64, mean: f64, growth: f64, unfinished: u64) -> SummaryRow {
        SummaryRow {
            datapoints,
            mean_ms: Fixed6(mean),
            growth_ms_per_s: Fixed6(growth),
            unfinished,
            ..SummaryRow::default()
        }
    }

    #[test]
    fn a_run_kept_up_unless_the_rule_flags_it_and_its_window_is_read_only_when_needed() {
        use cohort_schema::{CsvWriter, LatencyRow};
        let dir = crate::tests::fixture::TempDir::new("kept-up");
        // No latencies.csv is read where the growth cannot flag the run.
        assert!(kept_up(&row(10, 100.0, -1.0, 0), dir.path()).unwrap());
        assert!(!kept_up(&row(0, 0.0, 0.0, 0), dir.path()).unwrap());
        assert!(!kept_up(&row(10, 100.0, 0.0, 3), dir.path()).unwrap());
        assert!(
            kept_up(&row(10, 100.0, 2.0, 0), dir.path()).is_err(),
            "no window to read"
        );
        // Growing 2 ms/s from a 100 ms mean: over 75 s of measured ingests it did not keep up,
        // over 25 s it did (a warm-up datapoint does not widen the window).
        let window = |last_s: u64| {
            let mut w = CsvWriter::<LatencyRow>::create(dir.path(), &[]).unwrap();
            for (ingest_s, warmup) in [(0, true), (10, false), (10 + last_s, false)] {
                let datapoint = LatencyRow {
                    ingest_ns: ingest_s * 1_000_000_000,
                    warmup,
                    ..LatencyRow::default()
                };
                w.write(&datapoint).unwrap();
            }
            w.finish().unwrap();
            kept_up(&row(10, 100.0, 2.0, 0), dir.path()).unwrap()
        };
        assert!(!window(75));
        assert!(window(25));
    }

    #[test]
    fn the_rule_flags_unfinished_collapsed_and_growing_runs_only() {
        // Growing: 2 ms/s over 75 s is 150 ms, above a 100 ms mean; at or below it is not.
        assert!(RunStability::of(&row(10, 100.0, 2.0, 0), 75.0).growing);
        assert!(!RunStability::of(&row(10, 150.0, 2.0, 0), 75.0).unstable());
        assert!(!RunStability::of(&row(10, 100.0, -5.0, 0), 75.0).unstable());
        assert!(!RunStability::of(&row(10, 100.0, 2.0, 0), f64::NAN).unstable());
        // Unfinished work, or no datapoint at all, is unstable whatever the growth.
        let unfinished = RunStability::of(&row(10, 100.0, 0.0, 3), f64::NAN);
        assert!(unfinished.unstable() && !unfinished.growing);
        let collapsed = RunStability::of(&row(0, 0.0, 0.0, 0), f64::NAN);
        assert!(collapsed.unstable() && collapsed.collapsed);
        // An unknown mean or growth never makes a run grow.
        assert!(!RunStability::of(&row(10, f64::NAN, 2.0, 0), 75.0).unstable());
        assert!(!RunStability::of(&row(10, 100.0, f64::NAN, 0), 75.0).unstable());
    }
}
