//! The table a run or a sweep prints: the columns of the summary a person reads first.

use anyhow::{Context, Result};
use cohort_schema::{Fixed6, SummaryRow};
use serde::{Deserialize, Serialize};
use std::io::Write;

/// The columns of a summary row that a person reads first: what a run or sweep prints.
#[derive(Serialize, Deserialize)]
struct Headline {
    run: String,
    params: Vec<u64>,
    datapoints: u64,
    mean_ms: Fixed6,
    p50_ms: Fixed6,
    p90_ms: Fixed6,
    p99_ms: Fixed6,
    max_ms: Fixed6,
    /// Work left when the run stopped (its drain ran out: the cluster did not keep up).
    unfinished: u64,
    /// How fast latency grew over the measured window, ms per s.
    growth_ms_per_s: Fixed6,
}

impl From<&SummaryRow> for Headline {
    fn from(r: &SummaryRow) -> Headline {
        Headline {
            run: r.run.clone(),
            params: r.params.clone(),
            datapoints: r.datapoints,
            mean_ms: r.mean_ms,
            p50_ms: r.p50_ms,
            p90_ms: r.p90_ms,
            p99_ms: r.p99_ms,
            max_ms: r.max_ms,
            unfinished: r.unfinished,
            growth_ms_per_s: r.growth_ms_per_s,
        }
    }
}

/// Prints the [`Headline`] of summary rows as a table, cells as in `summary.csv`.
pub(crate) fn print_table(param_names: &[String], rows: &[SummaryRow]) -> Result<()> {
    let header = cohort_schema::columns::<Headline>(param_names);
    let cells = rows
        .iter()
        .map(|r| cohort_schema::cells(&Headline::from(r)))
        .collect::<Result<Vec<_>, _>>()?;
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].len())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = std::io::stdout().lock();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(&header))?;
    for r in &cells {
        writeln!(out, "{}", line(r))?;
    }
    out.flush().context("writing to stdout")
}
