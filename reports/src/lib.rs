//! Reports for cohort: a sweep's CSVs in, figures and a report out (the design's layer 6).
//!
//! [`render`] reads a sweep directory written by the harness and writes, into an output
//! directory, five figures as SVG and PNG (six when runs have faults), a self-contained
//! `report.html` and a `report.md`:
//!
//! | file stem         | figure                                                                  |
//! |-------------------|-------------------------------------------------------------------------|
//! | `mean-latency`    | mean latency against the x parameter, one line per series (seed mean, min–max band across seeds), with the published points dashed when the sweep reproduces a published data set; a point with an unstable run (see [Stability](#stability)) is drawn as a cross (×) instead of a dot, at the top edge when it has no mean, with a legend entry and a note in the subtitle |
//! | `latency-cdf`     | CDF of latency at the largest x, one curve per series, seeds pooled     |
//! | `p99-latency`     | 99th-percentile latency against x, per series (seed mean, min–max band)  |
//! | `bytes-moved`     | bytes moved over the network per run against x, per series (seed mean, min–max band) |
//! | `cpu-utilization` | busy CPU fraction per node over time, for one chosen run                 |
//! | `fault-timeline`  | only when runs have faults: latency against arrival time, one run per policy (among its runs with faults, the one at the smallest x, then the smallest values of the other varying parameters, with the first seed in sweep order), the line broken where no datapoint arrives for more than 10 times the run's mean interval; each fault's window shaded and labelled (a kill dark from `at_ns` to `declared_ns`, light from then until `until_ns` or the end) |
//!
//! When some run recovered from something (a non-zero recovery counter of `summary.csv`, a
//! recovery time, or a kill in its `faults.csv`), the summary tables gain the recovery
//! columns (re-executed tasks, objects reconstructed, actor restarts, bytes spilled and
//! restored, datapoints lost, recovery first and last, seed-averaged) and the note on the runs
//! adds them up. A sweep without any of these renders exactly as it did before faults existed.
//!
//! When some run is unstable, the summary tables gain a column with each point's unstable
//! runs and their seed-mean growth in ms/s (and unfinished work, runs without datapoints), the
//! mean-latency paragraph names the unstable points by series with their growth rates, and
//! the note on the runs counts and names the unstable runs. A sweep whose runs are all stable
//! renders as it did before stability existed.
//!
//! When the sweep reproduces "group-scheduling-2018" with the policies random and group, the
//! report has a section "Shape claims" between the figures and the summary table; see
//! [Shape claims](#shape-claims). Any other sweep renders exactly as before that section
//! existed.
//!
//! A series is a policy; when parameters other than x also vary between the runs, it is a
//! policy at one combination of their values ("random, num_maps=2", drawn in a shade of the
//! policy's color): runs with different values of another parameter are never averaged
//! together. The subtitle of each line figure and its paragraph say how many seeds each point
//! averages (naming the points that have another number, e.g. when runs failed) and that the
//! band is the min–max across them.
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
//! - `OUT/runs/<run>/latencies.csv` for the runs at the largest x (and those the fault
//!   timeline draws, and every run whose `growth_ms_per_s` is positive, for the length of its
//!   measured window), `OUT/runs/<run>/utilization.csv` for the chosen run, and
//!   `OUT/runs/<run>/manifest.toml` of the first run (optional, for facts).
//!   `summary.csv`'s `unfinished` and `growth_ms_per_s` columns (the last two of the
//!   contract) feed the stability rule; a directory written before they existed is refused,
//!   as any header other than the contract's is.
//! - `OUT/runs/<run>/faults.csv` of every run, where there is one (a run without it has no
//!   faults). Besides the contract's columns, each row must have a known `kind` (`kill`,
//!   `slow_cpu`, `slow_nic`, `drop_link`), a `peer` for `drop_link`, a positive `factor` for a
//!   slowdown, and `until_ns` and `declared_ns` not before `at_ns`; an error names the file
//!   and the line.
//! - `OUT/sweep.toml` (optional): `workload`, `policies`, `seeds`, `cohort_version`,
//!   `git_commit`; its policy and seed order is the report's order. And three keys that
//!   `sweep.toml` and a run's `manifest.toml` both carry (each is read from `sweep.toml`, else
//!   from the first run's `manifest.toml`):
//!   - `reproduces` (optional string): the id of the published data set the workload
//!     declares it reproduces. Its points are drawn and cited only when cohort has that data
//!     set ([`PUBLISHED_DATA_SETS`]: "group-scheduling-2018", the write-up's mean latency
//!     against `data_size`, from `reports/data/published-eval-line.csv`) and the x axis is
//!     the data set's parameter. An id cohort does not know, or another x axis, is not an
//!     error: the report says so in its text and facts.
//!   - `swept` (array of parameter names, in the workload's `[sweep.params]` order): the
//!     default x axis is its first name, which must be a parameter column.
//!   - `[param_units]` (table, parameter name → `"size"` (bytes), `"duration"` (ns),
//!     `"rate"` (bytes/s) or `"count"`): how each `param.<name>` value is shown, in one unit
//!     per parameter chosen from its largest value: a size in B, KiB, MiB or GiB (two
//!     decimals), a duration in ns, µs, ms, or s from 10 s on, a rate in Gbit/s (Mbit/s below
//!     1 Gbit/s), a count as a plain integer. This applies to axis labels, tables, facts and
//!     text alike.
//!
//!   A value of the wrong type, or a kind not in that list, is an input error naming the
//!   file. Directories written before these keys existed still render: without
//!   `reproduces` no published points are drawn; without `swept` the default x is the first
//!   parameter whose value differs between rows of `summary.csv`, else the first parameter
//!   column; a parameter missing from `param_units` (or all of them, without the table) is
//!   shown by its name: names ending in `size` or `bytes` as sizes, in `_ns` as durations,
//!   others as plain numbers.
//!
//! A single run written flat by `cohort run` (its CSVs and `manifest.toml` beside its one-row
//! `summary.csv`, no `runs/`) is read the same way.
//!
//! # Stability
//!
//! A run is *unstable* when any of these holds:
//! - `unfinished > 0`: work was still queued or running when it stopped (the workload's
//!   drain after its last iteration ran out);
//! - `datapoints == 0`: it has no measured datapoint (collapsed). Its latency cells (0 as the
//!   harness writes them, or `NaN`) are then left out of the seed averages: a point whose
//!   runs all collapsed has an unknown mean ("–"), not 0;
//! - its latency rises by more than its own mean over the measured window:
//!   `growth_ms_per_s × window_s > mean_ms`, with `growth_ms_per_s` the least-squares slope
//!   of latency against ingest time from `summary.csv` and `window_s` the span of ingest
//!   times of its measured datapoints (from its `latencies.csv`). For latency rising on a
//!   line from `a` to `a + g·W`, the mean is `a + g·W/2`, so this flags a run whose latency
//!   at the end of the window is more than three times that at its start: a backlog growing
//!   from empty always is, a steady run never is.
//!
//! A point (series and x) is unstable when any of its runs is
//! ([`AggregatePoint::unstable_runs`]).
//!
//! # Shape claims
//!
//! For a sweep that reproduces "group-scheduling-2018" (with `data_size` on the x axis and
//! the published reference on) and has the policies random and group, [`shape_claims`]
//! (and [`ReportSummary::claims`], and the report's "Shape claims" section) states each claim
//! of the write-up as measured, beside the same number computed from the published points at
//! the sweep's sizes, with a [`Verdict`]: reproduced, partly or not reproduced. One set per
//! combination of the other varying parameters' values. The claims and their rules:
//! - group is flat: the max/min of its mean latency over the sizes; reproduced at most 1.5,
//!   partly up to 3.
//! - random rises: its mean at the largest size over the smallest; reproduced within a
//!   factor of 2 of the published rise, partly above 1.5.
//! - random rises super-linearly: the least-squares slope (ms per MiB) of the last quarter
//!   of the sizes over that of the first quarter (a quarter: a fourth of the sizes rounded
//!   down, at least 2); super-linear above [`SUPERLINEAR_RATIO`] (1.5). Reproduced when
//!   super-linear and within a factor of 2 of the published value, partly when super-linear.
//! - random vs group at the smallest size: the ratio of their means; reproduced within a
//!   factor of 1.5 of the published ratio, partly below 1 (random faster).
//! - the latency CDF at the largest size per policy (seeds pooled), when that size is the
//!   published CDF's (15.26 MiB), against the values read off the write-up's CDF figure
//!   ([`published_cdf`], `reports/data/published-cdf.csv`): where the curve leaves 0 against
//!   our p5 and where it reaches 1 against our largest latency (each within a factor of 2),
//!   the median (within 1.5), "almost all below" against our p95 (at or below it).
//!   Reproduced when every check passes, partly when some do.
//! - the mean latency at each size against the published point there: error in %; the mean
//!   absolute error per policy is reproduced up to 25%, partly up to 50%.
//!
//! A claim over the sizes needs our mean at every size: with a point without one, its number
//! is unknown and the claim is not reproduced. A claim that is neither reproduced nor partly
//! reproduced by its rule is not reproduced.
//!
//! [`ablation`] computes the claims of several sweeps (variants) and writes them as one table
//! (`ablation.md`, and `ablation.html`, a fragment to embed), one row per variant; see
//! [`Ablation`].
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

mod ablation;
mod aggregate;
mod claims;
mod doc;
mod error;
mod figures;
mod input;
mod leaderboard;
mod model;
mod published;
mod report;
mod stability;
mod text;
mod units;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use cohort_schema::{Existing, Staging};

pub use ablation::{ABLATION_HTML, ABLATION_MD, Ablation, AblationRow, ablation};
pub use aggregate::{AggregatePoint, Spread};
pub use claims::{
    CdfCheck, CdfClaim, Claim, PointError, PolicyError, PublishedShape, SUPERLINEAR_RATIO,
    ShapeClaims, Verdict,
};
pub use error::ReportError;
pub use leaderboard::{
    ALL, Leaderboard, LeaderboardRun, hints_section, section as leaderboard_section,
    standings as leaderboard_standings, write as write_leaderboard,
};
pub use published::{
    CdfReadoff, CdfStatistic, PUBLISHED_DATA_SETS, PublishedPoint, published_cdf,
    published_eval_line,
};
pub use stability::kept_up;
pub use text::Finding;

/// What to draw: which parameter is the x axis, which run's utilization to show, and whether
/// to draw the published points of the data set the sweep reproduces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// The x-axis parameter, without the `param.` prefix. `None` (default): the first of
    /// `swept` in `sweep.toml` (or the run's `manifest.toml`); without `swept`, the first
    /// parameter whose value differs between the rows of `summary.csv`, else the first
    /// parameter column. A name that is not a column of `summary.csv` is an error.
    ///
    /// When parameters other than x also vary between runs, runs are never averaged across
    /// their values: each policy gets one series per combination of them, named e.g.
    /// "random, num_maps=2".
    pub x_param: Option<String>,
    /// The run id whose CPU utilization is drawn. `None` (default): the run at the largest x,
    /// first seed, of policy "random" if present (else the first policy).
    pub utilization_run: Option<String>,
    /// Draw the published reference points (default `true`). They are drawn only when the
    /// sweep's `reproduces` names a data set cohort has (see [`PUBLISHED_DATA_SETS`]) and the
    /// x parameter is that data set's (`data_size` for "group-scheduling-2018"), and only for
    /// the policies of the data set that are in the sweep. `false` turns them off.
    pub published_reference: bool,
    /// Other sweep directories drawn on the same figures (default none): e.g. the simulated
    /// and the live runs of `cohort compare`, and a Ray peer's (`peers/ray/`). Each series
    /// is then "POLICY (SOURCE)", SOURCE being what the runs ran on (`sweep.toml`'s `source`,
    /// else "cohort sim", "cohort live" or "Ray VERSION" from the first run's manifest).
    /// They must have the sweep's parameter columns.
    pub with: Vec<PathBuf>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            x_param: None,
            utilization_run: None,
            published_reference: true,
            with: Vec::new(),
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
    /// The x-axis parameter used (the one asked for, or the one chosen by default).
    pub x_param: String,
    /// Seed-averaged points, by series (policy in sweep order, then the other varying
    /// parameters' values) then x ascending.
    pub points: Vec<AggregatePoint>,
    /// The report's generated paragraphs: one per figure (the fault timeline's section is
    /// "fault-timeline"), then one on the runs.
    pub findings: Vec<Finding>,
    /// The write-up's shape claims as the sweep measures them (the report's "Shape claims"
    /// section): one set per combination of the other varying parameters' values; empty
    /// unless the sweep reproduces "group-scheduling-2018" with random and group.
    pub claims: Vec<ShapeClaims>,
    /// [`ReportSummary::table`]'s text, made while the units were known.
    table: String,
}

impl ReportSummary {
    /// A plain-text table of the seed-averaged points for a terminal: policy, the other
    /// varying parameters (if any), x, runs, mean, p99, bytes moved and mean CPU utilization,
    /// and, when some run recovered from something, the recovery counters and times.
    /// Parameter values are shown in their units.
    pub fn table(&self) -> String {
        self.table.clone()
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
    let sweep = read_sweeps(sweep_dir, options)?;
    let model = model::Model::load(sweep, options)?;
    let figures = figures::all(&model);
    let findings = text::findings(&model);
    let claims = claims::compute(&model)?;
    let section = claims::blocks(&model, &claims);

    let staging = Staging::new(out_dir, Existing::Merge)?;
    for figure in &figures {
        figures::write(figure, staging.path())?;
    }
    report::write_html(&model, &figures, &findings, &section, staging.path())?;
    report::write_markdown(&model, &figures, &findings, &section, staging.path())?;
    let files = staging.commit()?;

    let table = report::terminal_table(&model);
    Ok(ReportSummary {
        out_dir: out_dir.to_path_buf(),
        files,
        x_param: model.x.param,
        points: model.points,
        findings,
        claims,
        table,
    })
}

/// The write-up's shape claims as the sweep in `sweep_dir` measures them, without writing
/// anything: what [`render`] puts in its "Shape claims" section and
/// [`ReportSummary::claims`]. One set per combination of the other varying parameters'
/// values; empty unless the sweep reproduces "group-scheduling-2018" (with `data_size` on the
/// x axis and `options.published_reference` on) and has the policies random and group.
pub fn shape_claims(
    sweep_dir: &Path,
    options: &ReportOptions,
) -> Result<Vec<ShapeClaims>, ReportError> {
    let sweep = read_sweeps(sweep_dir, options)?;
    let model = model::Model::load(sweep, options)?;
    claims::compute(&model)
}

/// The sweep in `sweep_dir`, merged with `options.with`'s if there are any.
fn read_sweeps(sweep_dir: &Path, options: &ReportOptions) -> Result<input::Sweep, ReportError> {
    let sweep = input::Sweep::read(sweep_dir)?;
    if options.with.is_empty() {
        return Ok(sweep);
    }
    let others = options
        .with
        .iter()
        .map(|d| input::Sweep::read(d))
        .collect::<Result<Vec<_>, _>>()?;
    sweep.merge(others)
}
