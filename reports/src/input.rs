//! Reading a sweep directory written by the harness (the CSV contract in the crate docs).
//!
//! Nothing here writes: every input error is found before any output exists.

use std::fs::{self, File};
use std::io::{BufReader, ErrorKind};
use std::path::{Path, PathBuf};

use csv::StringRecord;
use serde::Deserialize;

use crate::ReportError;

/// The fixed columns of `summary.csv`, in contract order (the `param.*` columns sit between
/// `seed` and `datapoints`).
pub(crate) const SUMMARY_COLUMNS: [&str; 17] = [
    "run",
    "policy",
    "seed",
    "datapoints",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
    "bytes_transferred",
    "transfers",
    "evictions",
    "tasks",
    "failed",
    "cpu_util_mean",
    "cpu_util_min",
    "cpu_util_max",
];

const PARAM_PREFIX: &str = "param.";

/// One row of `summary.csv`: one run.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SummaryRow {
    pub run: String,
    pub policy: String,
    pub seed: u64,
    pub datapoints: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub bytes_transferred: u64,
    pub transfers: u64,
    pub evictions: u64,
    pub tasks: u64,
    pub failed: u64,
    pub cpu_util_mean: f64,
    pub cpu_util_min: f64,
    pub cpu_util_max: f64,
    /// `(name without "param.", value)`, in column order.
    #[serde(skip)]
    pub params: Vec<(String, f64)>,
    /// The row's 1-based line in `summary.csv`.
    #[serde(skip)]
    pub line: u64,
}

impl SummaryRow {
    /// The value of parameter `name` (without the `param.` prefix), if the sweep has it.
    pub(crate) fn param(&self, name: &str) -> Option<f64> {
        self.params.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }
}

/// One row of a run's `utilization.csv`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct UtilizationRow {
    pub node: u64,
    pub window_start_ns: u64,
    pub window_ns: u64,
    pub busy_fraction: f64,
}

#[derive(Debug, Deserialize)]
struct LatencyRow {
    latency_ns: u64,
    warmup: u8,
}

/// Everything read from a sweep directory before drawing.
#[derive(Debug)]
pub(crate) struct Sweep {
    pub dir: PathBuf,
    pub summary_path: PathBuf,
    /// Parameter names (without `param.`), in column order.
    pub param_names: Vec<String>,
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
        let summary_path = dir.join("summary.csv");
        let (param_names, rows) = read_summary(&summary_path)?;
        let sweep_toml = read_toml(&dir.join("sweep.toml"))?;
        let flat = rows.len() == 1
            && !dir.join("runs").join(&rows[0].run).exists()
            && dir.join("latencies.csv").is_file();
        let first_run = if flat {
            dir.to_path_buf()
        } else {
            run_dir(dir, &summary_path, &rows[0])?
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

    /// The directory of one run: `runs/<run>/` (the run id checked to be a plain name), or
    /// the directory itself for a single run written flat.
    pub(crate) fn run_dir(&self, row: &SummaryRow) -> Result<PathBuf, ReportError> {
        if self.flat {
            return Ok(self.dir.clone());
        }
        run_dir(&self.dir, &self.summary_path, row)
    }
}

fn run_dir(dir: &Path, summary_path: &Path, row: &SummaryRow) -> Result<PathBuf, ReportError> {
    let plain =
        !row.run.is_empty() && row.run != "." && row.run != ".." && !row.run.contains(['/', '\\']);
    if !plain {
        return Err(ReportError::input(
            summary_path,
            Some(row.line),
            format!("run id `{}` is not a plain directory name", row.run),
        ));
    }
    Ok(dir.join("runs").join(&row.run))
}

/// Opens a CSV file and checks that its header has every column in `required`.
fn open_csv(
    path: &Path,
    required: &[&str],
) -> Result<(csv::Reader<BufReader<File>>, StringRecord), ReportError> {
    let file = File::open(path).map_err(ReportError::io("reading", path))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(BufReader::new(file));
    let headers = reader
        .headers()
        .map_err(|e| csv_error(path, None, e))?
        .clone();
    for column in required {
        if !headers.iter().any(|h| h == *column) {
            return Err(ReportError::input(
                path,
                Some(1),
                format!(
                    "missing column `{column}` (the header has: {})",
                    headers.iter().collect::<Vec<_>>().join(",")
                ),
            ));
        }
    }
    Ok((reader, headers))
}

/// Turns a csv error into an input error naming the file, line and column.
fn csv_error(path: &Path, headers: Option<&StringRecord>, err: csv::Error) -> ReportError {
    let line = err.position().map(|p| p.line());
    let message = match err.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("malformed row: {len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Deserialize { err: de, .. } => {
            let column = de
                .field()
                .and_then(|i| headers.and_then(|h| h.get(i as usize)));
            match column {
                Some(c) => format!("column `{c}`: {}", de.kind()),
                None => de.kind().to_string(),
            }
        }
        csv::ErrorKind::Utf8 { err: utf8, .. } => {
            format!("invalid UTF-8 in field {}", utf8.field() + 1)
        }
        csv::ErrorKind::Io(io) => format!("read error: {io}"),
        _ => err.to_string(),
    };
    ReportError::input(path, line, message)
}

fn read_summary(path: &Path) -> Result<(Vec<String>, Vec<SummaryRow>), ReportError> {
    let (mut reader, headers) = open_csv(path, &SUMMARY_COLUMNS)?;
    let params: Vec<(usize, String)> = headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            h.strip_prefix(PARAM_PREFIX)
                .map(|name| (i, name.to_owned()))
        })
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, Some(&headers), e))?;
        let line = record.position().map_or(0, |p| p.line());
        let mut row: SummaryRow = record
            .deserialize(Some(&headers))
            .map_err(|e| csv_error(path, Some(&headers), e))?;
        row.line = line;
        for (i, name) in &params {
            let text = record.get(*i).unwrap_or_default();
            let value = text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    ReportError::input(
                        path,
                        Some(line),
                        format!("column `param.{name}`: `{text}` is not a number"),
                    )
                })?;
            row.params.push((name.clone(), value));
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(ReportError::input(
            path,
            None,
            "no runs: the file has a header but no rows",
        ));
    }
    Ok((params.into_iter().map(|(_, n)| n).collect(), rows))
}

/// The latencies of one run's measured datapoints (warm-up excluded), in milliseconds.
pub(crate) fn read_latencies_ms(run_dir: &Path) -> Result<Vec<f64>, ReportError> {
    let path = run_dir.join("latencies.csv");
    let (mut reader, headers) = open_csv(&path, &["latency_ns", "warmup"])?;
    let mut out = Vec::new();
    for record in reader.deserialize::<LatencyRow>() {
        let row = record.map_err(|e| csv_error(&path, Some(&headers), e))?;
        if row.warmup == 0 {
            out.push(row.latency_ns as f64 / 1e6);
        }
    }
    Ok(out)
}

/// One run's `utilization.csv`.
pub(crate) fn read_utilization(run_dir: &Path) -> Result<Vec<UtilizationRow>, ReportError> {
    let path = run_dir.join("utilization.csv");
    let (mut reader, headers) = open_csv(
        &path,
        &["node", "window_start_ns", "window_ns", "busy_fraction"],
    )?;
    let mut out = Vec::new();
    for record in reader.deserialize::<UtilizationRow>() {
        out.push(record.map_err(|e| csv_error(&path, Some(&headers), e))?);
    }
    Ok(out)
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
