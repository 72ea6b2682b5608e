//! The write-up's published mean-latency points (read by eye off its figure).

use serde::Deserialize;

use crate::ReportError;

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
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(PUBLISHED_EVAL_LINE_CSV.as_bytes());
    reader
        .deserialize()
        .map(|r| {
            r.map_err(|e| {
                ReportError::input(
                    "reports/data/published-eval-line.csv (embedded)",
                    e.position().map(|p| p.line()),
                    e.to_string(),
                )
            })
        })
        .collect()
}
