//! Reports for cohort: a sweep's CSVs in, figures and a report out (the design's layer 6).
//!
//! [`render`] reads a sweep directory written by the harness and writes, into an output
//! directory, five figures as SVG and PNG, a self-contained `report.html` and a `report.md`:
//!
//! | file stem         | figure                                                                  |
//! |-------------------|-------------------------------------------------------------------------|
//! | `mean-latency`    | mean latency against the x parameter, one line per policy (seed mean, min–max band across seeds), with the write-up's published points dashed |
//! | `latency-cdf`     | CDF of latency at the largest x, one curve per policy, seeds pooled      |
//! | `p99-latency`     | 99th-percentile latency against x, per policy                            |
//! | `bytes-moved`     | bytes moved over the network per run against x, per policy               |
//! | `cpu-utilization` | busy CPU fraction per node over time, for one chosen run                 |
//!
//! A latency axis (and the bytes axis) is logarithmic when its values span more than 1.5
//! decades. Text is drawn with DejaVu Sans, shipped in `reports/assets/` and registered with
//! plotters at first use: no system font or library is needed.
//!
//! # Input: the harness's run directory contract
//!
//! The CSV files and their columns are `cohort-schema`'s row types, read with its
//! `CsvReader`: a file whose header is not exactly the contract's is refused. From a sweep
//! directory `OUT` this crate reads:
//! - `OUT/summary.csv`, one row per run; every run id must be a plain directory name.
//! - `OUT/runs/<run>/latencies.csv` for the runs at the largest x, `OUT/runs/<run>/
//!   utilization.csv` for the chosen run, and `OUT/runs/<run>/manifest.toml` of the first run
//!   (optional, for facts).
//! - `OUT/sweep.toml` (optional): `workload`, `policies`, `seeds`, `cohort_version`,
//!   `git_commit`; its policy and seed order is the report's order.
//!
//! A single run written flat by `cohort run` (its CSVs beside its one-row `summary.csv`, no
//! `runs/`) is read the same way.
//!
//! # Output
//!
//! Everything is first written into a temporary directory in `out_dir`'s parent (a
//! `cohort-schema` `Staging`) and moved into `out_dir` only when all of it was written, so an
//! error leaves no partial report. `out_dir` may already exist (even be the sweep directory
//! itself); existing files of the same names are replaced, others are kept.
//!
//! ```no_run
//! use std::path::Path;
//! let summary = cohort_reports::render(
//!     Path::new("out/writeup"),
//!     Path::new("out/writeup/report"),
//!     &cohort_reports::ReportOptions::default(),
//! )?;
//! println!("{}", summary.table());
//! # Ok::<(), cohort_reports::ReportError>(())
//! ```

mod aggregate;
mod error;
mod figures;
mod input;
mod model;
mod published;
mod report;
mod text;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cohort_schema::{Existing, Staging};

pub use aggregate::{AggregatePoint, Spread};
pub use error::ReportError;
pub use published::{PublishedPoint, published_eval_line};
pub use text::Finding;

/// What to draw: which parameter is the x axis, which run's utilization to show, and whether
/// to draw the write-up's published points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// The x-axis parameter, without the `param.` prefix (default `"data_size"`). Names ending
    /// in `size` or `bytes` are shown in MiB, names ending in `_ns` in ms, others as is.
    pub x_param: String,
    /// The run id whose CPU utilization is drawn. `None` (default): the run at the largest x,
    /// first seed, of policy "random" if present (else the first policy).
    pub utilization_run: Option<String>,
    /// Draw the write-up's published mean-latency points as dashed reference series (default
    /// `true`; only applies when the x parameter is `data_size`, and only to the policies
    /// "random" and "group" when they are in the sweep).
    pub published_reference: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            x_param: "data_size".to_owned(),
            utilization_run: None,
            published_reference: true,
        }
    }
}

/// What [`render`] wrote and the numbers behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    /// The output directory.
    pub out_dir: PathBuf,
    /// Every file written, inside `out_dir`, sorted by name.
    pub files: Vec<PathBuf>,
    /// The x-axis parameter used.
    pub x_param: String,
    /// Seed-averaged points, by policy (sweep order) then x ascending.
    pub points: Vec<AggregatePoint>,
    /// The report's generated paragraphs: one per figure, then one on the runs.
    pub findings: Vec<Finding>,
}

impl ReportSummary {
    /// A plain-text table of the seed-averaged points for a terminal: policy, x, runs, mean,
    /// p99, bytes moved and mean CPU utilization.
    pub fn table(&self) -> String {
        let x = model::XAxis::new(&self.x_param);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<12} {:>16} {:>5} {:>22} {:>10} {:>12} {:>9}",
            "policy", x.label, "runs", "mean ms (min-max)", "p99 ms", "moved MiB", "CPU util"
        );
        for p in &self.points {
            let mean = if p.runs > 1 {
                format!(
                    "{:.1} ({:.1}-{:.1})",
                    p.mean_ms.mean, p.mean_ms.min, p.mean_ms.max
                )
            } else {
                format!("{:.1}", p.mean_ms.mean)
            };
            let _ = writeln!(
                out,
                "{:<12} {:>16} {:>5} {:>22} {:>10.1} {:>12.1} {:>8.0}%",
                p.policy,
                x.fmt_number(p.x),
                p.runs,
                mean,
                p.p99_ms.mean,
                p.bytes_transferred.mean / 1_048_576.0,
                p.cpu_util_mean.mean * 100.0
            );
        }
        out
    }
}

/// Reads the sweep in `sweep_dir` and writes the figures (`<stem>.svg`, `<stem>.png`),
/// `report.html` and `report.md` into `out_dir`.
///
/// All input is read and checked before anything is written; on error nothing is left in
/// `out_dir` or its parent. Errors name the file and, for malformed input, the line.
pub fn render(
    sweep_dir: &Path,
    out_dir: &Path,
    options: &ReportOptions,
) -> Result<ReportSummary, ReportError> {
    figures::register_font()?;
    let sweep = input::Sweep::read(sweep_dir)?;
    let model = model::Model::load(sweep, options)?;
    let figures = figures::all(&model);
    let findings = text::findings(&model);

    let staging = Staging::new(out_dir, Existing::Merge)?;
    for figure in &figures {
        figures::write(figure, staging.path())?;
    }
    report::write_html(&model, &figures, &findings, staging.path())?;
    report::write_markdown(&model, &figures, &findings, staging.path())?;
    let files = staging.commit()?;

    Ok(ReportSummary {
        out_dir: out_dir.to_path_buf(),
        files,
        x_param: options.x_param.clone(),
        points: model.points,
        findings,
    })
}
