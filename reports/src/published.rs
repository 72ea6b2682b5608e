//! The write-up's published numbers: its mean-latency points and its latency CDF at the
//! largest size (both read by eye off its figures).

use serde::Deserialize;

use crate::ReportError;

/// The ids of the published data sets cohort ships, for a workload's `reproduces`: only
/// "group-scheduling-2018", the 2018 group-scheduling write-up's mean-latency figure (see
/// [`published_eval_line`]).
pub const PUBLISHED_DATA_SETS: [&str; 1] = [GROUP_SCHEDULING_2018.id];

/// A published data set: what a sweep must declare and sweep to be compared with it.
#[derive(Debug)]
pub(crate) struct DataSet {
    /// The id a sweep's `reproduces` names.
    pub id: &'static str,
    /// The parameter the published points are against (in MiB of bytes for this data set).
    pub x_param: &'static str,
    /// Where the numbers are from, for the report's facts.
    pub source: &'static str,
    /// The points.
    pub load: fn() -> Result<Vec<PublishedPoint>, ReportError>,
}

/// The 2018 group-scheduling write-up's mean latency against data size.
const GROUP_SCHEDULING_2018: DataSet = DataSet {
    id: "group-scheduling-2018",
    x_param: "data_size",
    source: "reports/data/published-eval-line.csv: the write-up's mean-latency points, read by eye off its figure",
    load: published_eval_line,
};

/// The data set with id `id`, if cohort has it.
pub(crate) fn data_set(id: &str) -> Option<&'static DataSet> {
    static SETS: [DataSet; 1] = [GROUP_SCHEDULING_2018];
    SETS.iter().find(|d| d.id == id)
}

/// The embedded reference data; see `reports/data/README.md` for its origin.
const PUBLISHED_EVAL_LINE_CSV: &str = include_str!("../data/published-eval-line.csv");

/// One published point of the write-up's mean-latency figure.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PublishedPoint {
    /// "random" (unmodified Ray v0.6) or "group" (group scheduling).
    pub policy: String,
    /// Data size in MiB, as on the figure's x axis.
    pub data_mib: f64,
    /// Mean end-to-end latency in ms, read by eye off the figure.
    pub mean_latency_ms: f64,
}

/// The published points of the write-up's mean-latency figure (`eval-line`), in file order:
/// numbers read by eye off the figure, embedded from `reports/data/published-eval-line.csv`.
pub fn published_eval_line() -> Result<Vec<PublishedPoint>, ReportError> {
    embedded(
        PUBLISHED_EVAL_LINE_CSV,
        "reports/data/published-eval-line.csv (embedded)",
    )
}

/// The rows of an embedded CSV file with `#` comments.
fn embedded<T: serde::de::DeserializeOwned>(text: &str, name: &str) -> Result<Vec<T>, ReportError> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    reader
        .deserialize()
        .map(|r| {
            r.map_err(|e| ReportError::input(name, e.position().map(|p| p.line()), e.to_string()))
        })
        .collect()
}

/// The embedded read-off of the write-up's latency CDF; see `reports/data/README.md`.
const PUBLISHED_CDF_CSV: &str = include_str!("../data/published-cdf.csv");

/// Where on the write-up's latency CDF a value was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CdfStatistic {
    /// Where the curve leaves 0: the fastest datapoints.
    Low,
    /// Where the curve crosses 0.5.
    Median,
    /// Where the curve reaches 1: the end of the tail.
    High,
    /// The latency "almost all" of the curve is under.
    AlmostAllBelow,
}

impl CdfStatistic {
    /// The statistic as the CSV file writes it.
    pub fn name(self) -> &'static str {
        match self {
            CdfStatistic::Low => "low",
            CdfStatistic::Median => "median",
            CdfStatistic::High => "high",
            CdfStatistic::AlmostAllBelow => "almost_all_below",
        }
    }
}

/// One value read by eye off the write-up's latency CDF at its largest data size.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CdfReadoff {
    /// "random" (unmodified Ray v0.6) or "group" (group scheduling).
    pub policy: String,
    /// The data size of the CDF, MiB.
    pub data_mib: f64,
    /// Where on the curve the value was read.
    pub statistic: CdfStatistic,
    /// The value, ms.
    pub latency_ms: f64,
}

/// The write-up's latency CDF at its largest size, as the project's design brief states it
/// (read by eye off the write-up's CDF figure), embedded from `reports/data/published-cdf.csv`:
/// random's median ~550 ms, from ~100 to ~2100 ms; group almost all under ~100 ms, with a tail
/// to ~600 ms.
pub fn published_cdf() -> Result<Vec<CdfReadoff>, ReportError> {
    embedded(
        PUBLISHED_CDF_CSV,
        "reports/data/published-cdf.csv (embedded)",
    )
}
