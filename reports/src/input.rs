//! Reading a sweep directory written by the harness (the contract is `cohort-schema`'s).
//!
//! Nothing here writes: every input error is found before any output exists.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use cohort_schema::{CsvReader, FaultRow, LatencyRow, Row, SummaryRow, UtilizationRow};

use crate::ReportError;
use crate::units::ParamKind;

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
    /// `reproduces`: the id of the published data set the workload declares it reproduces.
    pub reproduces: Option<String>,
    /// `swept`: the swept parameters in the workload's order (`None`: not recorded).
    pub swept: Option<Vec<String>>,
    /// `param_units`: each parameter's kind (`None`: not recorded, an older directory).
    pub param_units: Option<BTreeMap<String, ParamKind>>,
    /// The run directory of each run read from another sweep ([`Sweep::merge`]), by its
    /// (relabelled) run id; empty for one sweep.
    pub run_dirs: BTreeMap<String, PathBuf>,
    /// The `summary.csv` columns a runtime could not measure, by run id: the first run
    /// manifest's `unmeasured` (a Ray peer's), for every run of its sweep. Their cells are
    /// shown unknown, not 0.
    pub unmeasured: BTreeMap<String, Vec<String>>,
    /// For a merged sweep ([`Sweep::merge`]): each policy's name as drawn ("POLICY
    /// (SOURCE)") → its policy as its own sweep named it, and its source's index (in the
    /// order the sweeps were given); empty for one sweep.
    pub sources: BTreeMap<String, (String, usize)>,
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
            && cohort_schema::stored::<LatencyRow>(dir).is_some();
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

        let sources = [
            (dir.join("sweep.toml"), sweep_toml.as_ref()),
            (first_run.join("manifest.toml"), manifest.as_ref()),
        ];
        let reproduces = match lookup(&sources, "reproduces") {
            None => None,
            Some((_, toml::Value::String(s))) => Some(s.clone()),
            Some((path, _)) => {
                return Err(ReportError::input(
                    path,
                    None,
                    "`reproduces` must be a string (the id of a published data set)",
                ));
            }
        };
        let swept = match lookup(&sources, "swept") {
            None => None,
            Some((path, value)) => Some(string_array(path, value)?),
        };
        let param_units = match lookup(&sources, "param_units") {
            None => None,
            Some((path, value)) => Some(param_units(path, value)?),
        };

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
            reproduces,
            swept,
            param_units,
            run_dirs: BTreeMap::new(),
            unmeasured: BTreeMap::new(),
            sources: BTreeMap::new(),
        }
        .with_unmeasured())
    }

    /// Records the first manifest's `unmeasured` columns for every run.
    fn with_unmeasured(mut self) -> Sweep {
        let columns: Vec<String> = self
            .manifest
            .as_ref()
            .and_then(|m| m.get("unmeasured"))
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if !columns.is_empty() {
            for row in &self.rows {
                self.unmeasured.insert(row.run.clone(), columns.clone());
            }
        }
        self
    }

    /// Whether `row`'s runtime measured the `summary.csv` column `column`.
    pub(crate) fn measured(&self, row: &SummaryRow, column: &str) -> bool {
        self.unmeasured
            .get(&row.run)
            .is_none_or(|columns| !columns.iter().any(|c| c == column))
    }

    /// What the runs of this sweep ran on, for a legend: `sweep.toml`'s `source`, else from
    /// the first run's manifest ("Ray VERSION" for a Ray peer's runs, "cohort live" for node
    /// processes, "cohort sim" for the virtual clock), else the directory's name.
    pub(crate) fn source_label(&self) -> String {
        let get = |t: &Option<toml::Table>, k: &str| {
            t.as_ref()
                .and_then(|t| t.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        if let Some(s) = get(&self.sweep_toml, "source") {
            return s;
        }
        match (
            get(&self.manifest, "deploy").as_deref(),
            get(&self.manifest, "clock").as_deref(),
        ) {
            (Some("ray"), _) => format!(
                "Ray {}",
                get(&self.manifest, "ray_version").unwrap_or_default()
            ),
            (Some("processes"), _) => "cohort live".to_string(),
            (_, Some("virtual")) => "cohort sim".to_string(),
            (_, Some("real")) => "cohort real clock".to_string(),
            _ => self
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| self.dir.display().to_string()),
        }
    }

    /// This sweep and `others` as one, to draw on the same figures: every policy becomes
    /// "POLICY (SOURCE)" ([`Sweep::source_label`]) and every run id "SOURCE:RUN", each run
    /// still read from its own directory. The sweeps must have the same parameter columns;
    /// the first one's keys (`reproduces`, `swept`, `param_units`, manifest) are kept.
    pub(crate) fn merge(mut self, others: Vec<Sweep>) -> Result<Sweep, ReportError> {
        let mut labels = vec![self.source_label()];
        for other in &others {
            if other.param_names != self.param_names {
                return Err(ReportError::input(
                    &other.summary_path,
                    None,
                    format!(
                        "its parameter columns ({}) differ from {}'s ({}): only runs of one \
                         workload can be drawn together",
                        other.param_names.join(", "),
                        self.summary_path.display(),
                        self.param_names.join(", ")
                    ),
                ));
            }
            let mut label = other.source_label();
            // Two sources of the same kind (two sims, say) keep apart by their directories.
            while labels.contains(&label) {
                label = format!("{label} ({})", other.dir.display());
            }
            labels.push(label);
        }
        let mut rows = Vec::new();
        let mut run_dirs = BTreeMap::new();
        let mut unmeasured = BTreeMap::new();
        let mut policies = Vec::new();
        let mut sources = BTreeMap::new();
        let mut seeds = self.seeds.clone();
        let all = std::iter::once(&self)
            .chain(&others)
            .zip(&labels)
            .enumerate();
        for (source, (sweep, label)) in all {
            for p in &sweep.policies {
                let drawn = format!("{p} ({label})");
                sources.insert(drawn.clone(), (p.clone(), source));
                policies.push(drawn);
            }
            for row in &sweep.rows {
                let mut row = row.clone();
                let id = format!("{label}:{}", row.run);
                run_dirs.insert(id.clone(), sweep.run_dir(&row));
                if let Some(columns) = sweep.unmeasured.get(&row.run) {
                    unmeasured.insert(id.clone(), columns.clone());
                }
                row.run = id;
                row.policy = format!("{} ({label})", row.policy);
                rows.push(row);
            }
            for seed in &sweep.seeds {
                if !seeds.contains(seed) {
                    seeds.push(*seed);
                }
            }
        }
        self.seeds = seeds;
        self.rows = rows;
        self.run_dirs = run_dirs;
        self.unmeasured = unmeasured;
        self.sources = sources;
        self.policies = policies;
        self.flat = false;
        Ok(self)
    }

    /// The distinct values of parameter `name` over the rows, ascending.
    pub(crate) fn values(&self, name: &str) -> Vec<f64> {
        let mut values: Vec<f64> = self
            .rows
            .iter()
            .filter_map(|r| self.param(r, name))
            .collect();
        values.sort_by(f64::total_cmp);
        values.dedup();
        values
    }

    /// The directory of one run: `runs/<run>/`, or the directory itself for a single run
    /// written flat.
    pub(crate) fn run_dir(&self, row: &SummaryRow) -> PathBuf {
        if let Some(dir) = self.run_dirs.get(&row.run) {
            return dir.clone();
        }
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

/// The value of `key` in the first of `sources` that has it, with that file's path.
fn lookup<'a>(
    sources: &'a [(PathBuf, Option<&'a toml::Table>)],
    key: &str,
) -> Option<(&'a Path, &'a toml::Value)> {
    sources
        .iter()
        .find_map(|(path, table)| table.and_then(|t| t.get(key)).map(|v| (path.as_path(), v)))
}

/// `swept`: an array of parameter names.
fn string_array(path: &Path, value: &toml::Value) -> Result<Vec<String>, ReportError> {
    let bad = || {
        ReportError::input(
            path,
            None,
            "`swept` must be an array of parameter names (strings)",
        )
    };
    value
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
        .collect()
}

/// `[param_units]`: a table of parameter name to kind.
fn param_units(
    path: &Path,
    value: &toml::Value,
) -> Result<BTreeMap<String, ParamKind>, ReportError> {
    let table = value.as_table().ok_or_else(|| {
        ReportError::input(
            path,
            None,
            "`param_units` must be a table of parameter name = kind",
        )
    })?;
    table
        .iter()
        .map(|(name, kind)| {
            kind.as_str()
                .and_then(ParamKind::parse)
                .map(|k| (name.clone(), k))
                .ok_or_else(|| {
                    ReportError::input(
                        path,
                        None,
                        format!(
                            "param_units.{name} is {}: the kinds are \"{}\"",
                            kind.as_str()
                                .map_or_else(|| "not a string".to_owned(), |k| format!("\"{k}\"")),
                            ParamKind::NAMES.join("\", \"")
                        ),
                    )
                })
        })
        .collect()
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

/// The measured window of one run: from the first to the last ingest time of its measured
/// datapoints (warm-up excluded), in s; 0 with fewer than two of them.
pub(crate) fn read_measured_window_s(run_dir: &Path) -> Result<f64, ReportError> {
    let mut reader = CsvReader::<LatencyRow>::open(run_dir)?;
    let (mut first, mut last) = (u64::MAX, 0u64);
    for row in reader.rows() {
        let (_, row) = row?;
        if !row.warmup {
            first = first.min(row.ingest_ns);
            last = last.max(row.ingest_ns);
        }
    }
    Ok(if last > first {
        (last - first) as f64 / 1e9
    } else {
        0.0
    })
}

/// The measured datapoints of one run (warm-up excluded) as `(arrival in s, latency in ms)`,
/// in arrival order.
pub(crate) fn read_timeline(run_dir: &Path) -> Result<Vec<(f64, f64)>, ReportError> {
    let mut reader = CsvReader::<LatencyRow>::open(run_dir)?;
    let mut out = Vec::new();
    for row in reader.rows() {
        let (_, row) = row?;
        if !row.warmup {
            out.push((row.arrival_ns as f64 / 1e9, row.latency_ns as f64 / 1e6));
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(out)
}

/// The kinds of fault a `faults.csv` row may have.
pub(crate) const FAULT_KINDS: [&str; 4] = ["kill", "slow_cpu", "slow_nic", "drop_link"];

/// One run's `faults.csv` (plain or gzip), in file order; a run directory without it has no
/// faults. Beyond the contract's columns, each row must have a known `kind`, the cells its
/// kind uses (a dropped link's `peer`, a slowdown's `factor`) and times that do not run
/// backwards (`until_ns` and `declared_ns` not before `at_ns`): an error names the file and
/// the line.
pub(crate) fn read_faults(run_dir: &Path) -> Result<Vec<FaultRow>, ReportError> {
    if cohort_schema::stored::<FaultRow>(run_dir).is_none() {
        return Ok(Vec::new());
    }
    let mut reader = CsvReader::<FaultRow>::open(run_dir)?;
    let path = reader.path().to_path_buf();
    let mut out = Vec::new();
    for row in reader.rows() {
        let (line, row) = row?;
        let bad = |message: String| ReportError::input(&path, Some(line), message);
        if !FAULT_KINDS.contains(&row.kind.as_str()) {
            return Err(bad(format!(
                "column `kind`: `{}` is not a fault kind (the kinds are {})",
                row.kind,
                FAULT_KINDS.join(", ")
            )));
        }
        if row.kind == "drop_link" && row.peer.is_none() {
            return Err(bad("a drop_link fault without a `peer`".to_owned()));
        }
        if row.kind.starts_with("slow_") && !row.factor.is_some_and(|f| f.get() > 0.0) {
            return Err(bad(format!(
                "a {} fault without a positive `factor`",
                row.kind
            )));
        }
        for (column, at) in [("until_ns", row.until_ns), ("declared_ns", row.declared_ns)] {
            if let Some(at) = at.filter(|&t| t < row.at_ns) {
                return Err(bad(format!(
                    "column `{column}`: {at} is before at_ns ({})",
                    row.at_ns
                )));
            }
        }
        out.push(row);
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
