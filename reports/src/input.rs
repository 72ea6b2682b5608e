//! Reading a sweep directory written by the harness (the contract is `cohort-schema`'s).
//!
//! Nothing here writes: every input error is found before any output exists.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use cohort_schema::{CsvReader, LatencyRow, Row, SummaryRow, UtilizationRow};

use crate::ReportError;

/// Everything read from a sweep directory before drawing.
#[derive(Debug)]
pub(crate) struct Sweep {
    pub dir: PathBuf,
    pub summary_path: PathBuf,
    /// Parameter names (without `param.`), in column order: the order of each row's
    /// `params`.
    pub param_names: Vec<String>,
    /// The rows of `summary.csv`: one per run.
    pub rows: Vec<SummaryRow>,
    /// Policies in sweep order (`sweep.toml`'s `policies`, else first appearance).
    pub policies: Vec<String>,
    /// Seeds in sweep order (`sweep.toml`'s `seeds`, else ascending).
    pub seeds: Vec<u64>,
    /// `sweep.toml`, when the sweep wrote one.
    pub sweep_toml: Option<toml::Table>,
    /// The first run's `manifest.toml`, when present.
    pub manifest: Option<toml::Table>,
    /// A single run written flat (`cohort run`): its CSVs sit beside `summary.csv` instead of
    /// in `runs/<run>/`.
    pub flat: bool,
}

impl Sweep {
    /// Reads `summary.csv`, `sweep.toml` (optional) and the first run's `manifest.toml`
    /// (optional) from `dir`.
    pub(crate) fn read(dir: &Path) -> Result<Sweep, ReportError> {
        let summary_path = dir.join(SummaryRow::FILE);
        let (param_names, rows) = read_summary(dir)?;
        let sweep_toml = read_toml(&dir.join("sweep.toml"))?;
        let flat = rows.len() == 1
            && !dir.join("runs").join(&rows[0].run).exists()
            && dir.join(LatencyRow::FILE).is_file();
        let first_run = if flat {
            dir.to_path_buf()
        } else {
            dir.join("runs").join(&rows[0].run)
        };
        let manifest = read_toml(&first_run.join("manifest.toml"))?;

        let mut policies: Vec<String> = Vec::new();
        let listed = sweep_toml
            .as_ref()
            .and_then(|t| t.get("policies"))
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for p in listed
            .into_iter()
            .chain(rows.iter().map(|r| r.policy.clone()))
        {
            if !policies.contains(&p) && rows.iter().any(|r| r.policy == p) {
                policies.push(p);
            }
        }

        let mut seeds: Vec<u64> = sweep_toml
            .as_ref()
            .and_then(|t| t.get("seeds"))
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_integer())
                    .filter_map(|i| u64::try_from(i).ok())
                    .collect()
            })
            .unwrap_or_default();
        seeds.retain(|s| rows.iter().any(|r| r.seed == *s));
        let mut rest: Vec<u64> = rows
            .iter()
            .map(|r| r.seed)
            .filter(|s| !seeds.contains(s))
            .collect();
        rest.sort_unstable();
        rest.dedup();
        seeds.extend(rest);

        Ok(Sweep {
            dir: dir.to_path_buf(),
            summary_path,
            param_names,
            rows,
            policies,
            seeds,
            sweep_toml,
            manifest,
            flat,
        })
    }

    /// The directory of one run: `runs/<run>/`, or the directory itself for a single run
    /// written flat.
    pub(crate) fn run_dir(&self, row: &SummaryRow) -> PathBuf {
        if self.flat {
            return self.dir.clone();
        }
        self.dir.join("runs").join(&row.run)
    }

    /// The value of parameter `name` (without the `param.` prefix) in `row`, if the sweep
    /// has it.
    pub(crate) fn param(&self, row: &SummaryRow, name: &str) -> Option<f64> {
        let i = self.param_names.iter().position(|n| n == name)?;
        row.params.get(i).map(|&v| v as f64)
    }
}

/// Reads `summary.csv`: its parameter names and rows. Every run id is checked to be a plain
/// directory name, since it names the run's directory.
fn read_summary(dir: &Path) -> Result<(Vec<String>, Vec<SummaryRow>), ReportError> {
    let mut reader = CsvReader::<SummaryRow>::open(dir)?;
    let path = reader.path().to_path_buf();
    let mut rows = Vec::new();
    for row in reader.rows() {
        let (line, row) = row?;
        let plain = !row.run.is_empty()
            && row.run != "."
            && row.run != ".."
            && !row.run.contains(['/', '\\']);
        if !plain {
            return Err(ReportError::input(
                &path,
                Some(line),
                format!("run id `{}` is not a plain directory name", row.run),
            ));
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(ReportError::input(
            &path,
            None,
            "no runs: the file has a header but no rows",
        ));
    }
    Ok((reader.param_names().to_vec(), rows))
}

/// The latencies of one run's measured datapoints (warm-up excluded), in milliseconds.
pub(crate) fn read_latencies_ms(run_dir: &Path) -> Result<Vec<f64>, ReportError> {
    let mut reader = CsvReader::<LatencyRow>::open(run_dir)?;
    let mut out = Vec::new();
    for row in reader.rows() {
        let (_, row) = row?;
        if !row.warmup {
            out.push(row.latency_ns as f64 / 1e6);
        }
    }
    Ok(out)
}

/// One run's `utilization.csv`.
pub(crate) fn read_utilization(run_dir: &Path) -> Result<Vec<UtilizationRow>, ReportError> {
    let mut reader = CsvReader::<UtilizationRow>::open(run_dir)?;
    reader
        .rows()
        .map(|row| row.map(|(_, row)| row).map_err(ReportError::from))
        .collect()
}

/// Reads a TOML table; a missing file is `None`, a malformed one an error naming the line.
fn read_toml(path: &Path) -> Result<Option<toml::Table>, ReportError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReportError::io("reading", path)(e)),
    };
    toml::from_str::<toml::Table>(&text).map(Some).map_err(|e| {
        let line = e
            .span()
            .map(|s| text.get(..s.start).unwrap_or(&text).matches('\n').count() as u64 + 1);
        ReportError::input(path, line, e.message().trim().to_owned())
    })
}
