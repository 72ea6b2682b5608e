//! `cohort`: runs placement-policy experiments on the cohort runtime.
//!
//! Exit codes: 0 on success; 2 on bad input (workload, units, paths, plugins) or a failed run,
//! with a message that names the problem. Nothing half-written is left behind: every output
//! directory is built under a temporary name and renamed into place when complete.

mod output;
mod policy;
mod run;
mod stats;
mod sweep;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use cohort_runtime::Clock;
use cohort_schema::{CsvWriter, Fixed6, SummaryRow};
use cohort_workloads::{End, Workload};
use policy::PolicySource;
use run::RunSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "cohort",
    version,
    about = "A workbench for task-placement policies"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ClockArg {
    /// Discrete-event virtual time (deterministic).
    Virtual,
    /// Wall-clock time, code on worker threads, modeled durations added.
    Real,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs one workload with one policy and writes a run directory.
    Run(RunArgs),
    /// Runs policies x parameter points x seeds (the workload's [sweep] by default).
    Sweep {
        /// The workload file (TOML).
        workload: PathBuf,
        /// Policies to compare [default: the workload's sweep.policies].
        #[arg(long, value_delimiter = ',')]
        policies: Vec<String>,
        /// Seeds [default: the workload's sweep.seeds, or 1].
        #[arg(long, value_delimiter = ',')]
        seeds: Vec<u64>,
        /// Fixes a workload parameter for every run: NAME=VALUE (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Runs at once [default: the number of cores].
        #[arg(long)]
        jobs: Option<usize>,
        /// The sweep directory to write [default: out/WORKLOAD-sweep].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the output directory if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Reproduces the write-up: its sweep for random, group and locality on the virtual
    /// clock, then the figures and the report, all under one directory.
    Repro {
        /// The directory to write [default: out/repro].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the output directory if it exists.
        #[arg(long)]
        force: bool,
        /// Seeds [default: the workload's sweep.seeds].
        #[arg(long, value_delimiter = ',')]
        seeds: Vec<u64>,
        /// Runs at once [default: the number of cores].
        #[arg(long)]
        jobs: Option<usize>,
        /// Skip the second sweep with a live (0 ms) placement view.
        #[arg(long)]
        no_fresh_view: bool,
        /// Fixes a workload parameter for every run: NAME=VALUE (repeatable; e.g. a shorter
        /// `duration` for a quick look).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
    },
    /// Redraws the figures and the report of a sweep directory from its CSVs.
    Report {
        /// A directory written by `cohort sweep`, `cohort repro` or `cohort run`.
        dir: PathBuf,
        /// Where to write [default: DIR/report].
        #[arg(long)]
        out: Option<PathBuf>,
        /// The swept parameter on the x axis.
        #[arg(long, default_value = "data_size")]
        x: String,
    },
    /// Checks workload files without running them.
    Validate {
        /// Workload files.
        #[arg(required = true)]
        workloads: Vec<PathBuf>,
    },
    /// Lists the policies cohort can find, and checks each.
    Policies,
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => cmd_run(args),
        Command::Sweep {
            workload,
            policies,
            seeds,
            set,
            jobs,
            out,
            force,
        } => cmd_sweep(&workload, policies, seeds, &set, jobs, out, force),
        Command::Repro {
            out,
            force,
            seeds,
            jobs,
            no_fresh_view,
            set,
        } => cmd_repro(out, force, seeds, jobs, !no_fresh_view, &parse_sets(&set)?),
        Command::Report { dir, out, x } => cmd_report(&dir, out, &x),
        Command::Validate { workloads } => cmd_validate(&workloads),
        Command::Policies => cmd_policies(),
    }
}

fn parse_sets(set: &[String]) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for s in set {
        let Some((k, v)) = s.split_once('=') else {
            bail!("--set {s}: expected NAME=VALUE");
        };
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() {
            bail!("--set {s}: expected NAME=VALUE");
        }
        m.insert(k.to_string(), v.to_string());
    }
    Ok(m)
}

fn clock_of(c: ClockArg) -> Clock {
    match c {
        ClockArg::Virtual => Clock::Virtual,
        ClockArg::Real => Clock::Real {
            add_modeled: true,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        },
    }
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The workload file (TOML).
    workload: PathBuf,
    /// A built-in policy (random, group, locality), a plugin name, or a plugin's path.
    #[arg(long)]
    policy: String,
    /// The policy's configuration, as TOML text.
    #[arg(long, default_value = "")]
    policy_config: String,
    /// Sets a workload parameter: NAME=VALUE (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// The seed of the policy's random number generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The clock.
    #[arg(long, value_enum, default_value_t = ClockArg::Virtual)]
    clock: ClockArg,
    /// The run directory to write [default: out/WORKLOAD-POLICY-seedN].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace the output directory if it exists.
    #[arg(long)]
    force: bool,
    /// Run twice and check that the CSVs are byte-identical (virtual clock only).
    #[arg(long)]
    check_determinism: bool,
}

fn cmd_run(a: RunArgs) -> Result<()> {
    let w = Workload::load(&a.workload)?;
    let overrides = parse_sets(&a.set)?;
    let resolved = w.resolve(&overrides)?;
    let policy = PolicySource::resolve(&a.policy)?;
    if a.check_determinism && matches!(a.clock, ClockArg::Real) {
        bail!("--check-determinism needs the virtual clock: the real clock is not deterministic");
    }
    let spec = RunSpec {
        workload_source: w.source().to_string(),
        workload_path: a.workload.display().to_string(),
        resolved,
        overrides,
        policy,
        policy_config: a.policy_config,
        seed: a.seed,
        clock: clock_of(a.clock),
    };
    let dir = a.out.unwrap_or_else(|| {
        PathBuf::from("out").join(format!(
            "{}-{}-seed{}",
            spec.resolved.name,
            spec.policy.name(),
            spec.seed
        ))
    });
    // Fail on a policy that cannot start before anything is written.
    spec.policy
        .create(&spec.policy_config, spec.seed)
        .with_context(|| format!("creating policy `{}`", spec.policy.name()))?;
    let staging = output::stage(&dir, a.force)?;
    let row = run_and_write(&spec, staging.path(), a.check_determinism)?;
    staging.commit()?;
    print_table(&output::param_names(&spec), &[row])?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "wrote {}", dir.display())?;
    if a.check_determinism {
        writeln!(out, "determinism: the second run's CSVs are byte-identical")?;
    }
    Ok(())
}

fn run_and_write(spec: &RunSpec, dir: &Path, check: bool) -> Result<SummaryRow> {
    let total = match spec.resolved.schedule.end {
        End::Duration(d) => d / 1_000_000,
        End::Iterations(n) => n * spec.resolved.schedule.period / 1_000_000,
    };
    let mut progress = sweep::Progress::new(total, "virtual ms");
    let out = run::execute(spec, &mut |now| progress.set(now / 1_000_000))?;
    progress.finish();
    output::write_run(dir, spec, &out)?;
    if check {
        // Never committed: dropping it removes the second run's files.
        let second = output::stage(&dir.with_extension("check"), true)?;
        let again = run::execute(spec, &mut |_| {})?;
        output::write_run(second.path(), spec, &again)?;
        let differ = output::differing_csvs(dir, second.path())?;
        if !differ.is_empty() {
            bail!(
                "the same run twice gave different output in: {}",
                differ.join(", ")
            );
        }
    }
    Ok(output::summary_row(spec, &out))
}

#[derive(Serialize)]
struct SweepManifest<'a> {
    workload: &'a str,
    workload_file: String,
    policies: Vec<String>,
    seeds: &'a [u64],
    cohort_version: &'a str,
    git_commit: &'a str,
    runs: usize,
    failed: Vec<String>,
    reproduces: Option<&'a str>,
    swept: &'a [String],
    params: BTreeMap<String, Vec<String>>,
    fixed: &'a BTreeMap<String, String>,
    param_units: BTreeMap<String, &'static str>,
}

fn cmd_sweep(
    path: &Path,
    policies: Vec<String>,
    seeds: Vec<u64>,
    set: &[String],
    jobs: Option<usize>,
    out: Option<PathBuf>,
    force: bool,
) -> Result<()> {
    let w = Workload::load(path)?;
    let dir = out.unwrap_or_else(|| PathBuf::from("out").join(format!("{}-sweep", w.name())));
    let fixed = parse_sets(set)?;
    sweep_workload(
        &w,
        &path.display().to_string(),
        policies,
        seeds,
        &fixed,
        jobs,
        &dir,
        force,
    )?;
    Ok(())
}

/// Runs a sweep of `w` into `dir`; returns the summary rows written.
#[allow(clippy::too_many_arguments)]
fn sweep_workload(
    w: &Workload,
    shown_path: &str,
    policies: Vec<String>,
    seeds: Vec<u64>,
    fixed: &BTreeMap<String, String>,
    jobs: Option<usize>,
    dir: &Path,
    force: bool,
) -> Result<Vec<SummaryRow>> {
    let sweep = w.sweep()?;
    let policies = if policies.is_empty() {
        sweep.policies.clone()
    } else {
        policies
    };
    if policies.is_empty() {
        bail!("no policies to sweep: pass --policies or list them in [sweep] policies");
    }
    let seeds = if !seeds.is_empty() {
        seeds
    } else if !sweep.seeds.is_empty() {
        sweep.seeds.clone()
    } else {
        vec![1]
    };
    let sources = policies
        .iter()
        .map(|p| PolicySource::resolve(p))
        .collect::<Result<Vec<_>>>()?;
    let mut specs = Vec::new();
    let mut grid: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for source in &sources {
        for point in &sweep.points {
            let mut overrides = point.clone();
            overrides.retain(|k, _| !fixed.contains_key(k));
            for (k, v) in &overrides {
                let values = grid.entry(k.clone()).or_default();
                if !values.contains(v) {
                    values.push(v.clone());
                }
            }
            overrides.extend(fixed.clone());
            let resolved = w.resolve(&overrides)?;
            for &seed in &seeds {
                specs.push(RunSpec {
                    workload_source: w.source().to_string(),
                    workload_path: shown_path.to_string(),
                    resolved: resolved.clone(),
                    overrides: overrides.clone(),
                    policy: source.clone(),
                    policy_config: String::new(),
                    seed,
                    clock: Clock::Virtual,
                });
            }
        }
    }
    // The same point can appear twice when --set fixes a swept parameter.
    specs.dedup_by_key(|s| s.id());
    let staging = output::stage(dir, force)?;
    let tmp = staging.path();
    let runs_dir = tmp.join("runs");
    std::fs::create_dir_all(&runs_dir)?;
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let started = std::time::Instant::now();
    let results = sweep::run_all(specs.clone(), jobs, &runs_dir, &mut |spec, done| {
        if let Err(e) = &done.result {
            let _ = writeln!(std::io::stderr(), "run {} failed: {e}", spec.id());
        }
    });
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for r in &results {
        match &r.result {
            Ok(row) => rows.push(row.clone()),
            Err(_) => failed.push(specs[r.index].id()),
        }
    }
    let param_names = output::param_names(&specs[0]);
    let mut summary = CsvWriter::<SummaryRow>::create(tmp, &param_names)?;
    for row in &rows {
        summary.write(row)?;
    }
    summary.finish()?;
    let m = SweepManifest {
        workload: w.name(),
        workload_file: shown_path.to_string(),
        policies: sources.iter().map(PolicySource::name).collect(),
        seeds: &seeds,
        cohort_version: output::VERSION,
        git_commit: output::GIT_COMMIT,
        runs: specs.len(),
        failed: failed.clone(),
        reproduces: specs[0].resolved.reproduces.as_deref(),
        swept: &sweep.swept,
        params: grid,
        fixed,
        param_units: output::param_units(&specs[0]),
    };
    std::fs::write(tmp.join("sweep.toml"), toml::to_string(&m)?)?;
    staging.commit()?;
    print_table(&param_names, &rows)?;
    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "{} runs in {:.1} s wall; wrote {}",
        specs.len(),
        started.elapsed().as_secs_f64(),
        dir.display()
    )?;
    if !failed.is_empty() {
        bail!(
            "{} of {} runs failed (the others were written): {}",
            failed.len(),
            specs.len(),
            failed.join(", ")
        );
    }
    Ok(rows)
}

fn cmd_repro(
    out: Option<PathBuf>,
    force: bool,
    seeds: Vec<u64>,
    jobs: Option<usize>,
    fresh_view: bool,
    fixed: &BTreeMap<String, String>,
) -> Result<()> {
    let (name, text) = cohort_workloads::SHIPPED[0];
    let shown = format!("built-in:{name}.toml");
    let w = Workload::parse(&shown, text)?;
    let dir = out.unwrap_or_else(|| PathBuf::from("out").join("repro"));
    let started = std::time::Instant::now();
    let policies: Vec<String> = policy::builtin_names().map(String::from).collect();
    // Build everything in a staging directory; move it into place at the end.
    let staging = output::stage(&dir, force)?;
    {
        let main = staging.path().join("sweep");
        sweep_workload(
            &w,
            &shown,
            policies.clone(),
            seeds.clone(),
            fixed,
            jobs,
            &main,
            false,
        )?;
        let report = cohort_reports::render(&main, staging.path(), &Default::default())?;
        let mut o = std::io::stdout().lock();
        writeln!(o, "\n{}", report.table())?;
        for f in &report.findings {
            writeln!(o, "- {}: {}", f.section, f.text)?;
        }
        if fresh_view {
            let fresh = staging.path().join("fresh-view");
            let mut fixed = fixed.clone();
            fixed.insert("heartbeat".to_string(), "0ms".to_string());
            let fresh_sweep = fresh.join("sweep");
            std::fs::create_dir_all(&fresh)?;
            sweep_workload(
                &w,
                &shown,
                policies,
                seeds,
                &fixed,
                jobs,
                &fresh_sweep,
                false,
            )?;
            let r = cohort_reports::render(&fresh_sweep, &fresh, &Default::default())?;
            writeln!(
                o,
                "\nwith a live placement view (heartbeat 0 ms):\n{}",
                r.table()
            )?;
        }
    }
    staging.commit()?;
    writeln!(
        std::io::stdout().lock(),
        "\nrepro done in {:.1} s wall: report at {}",
        started.elapsed().as_secs_f64(),
        dir.join("report.html").display()
    )?;
    Ok(())
}

fn cmd_report(dir: &Path, out: Option<PathBuf>, x: &str) -> Result<()> {
    let out = out.unwrap_or_else(|| dir.join("report"));
    let options = cohort_reports::ReportOptions {
        x_param: x.to_string(),
        ..Default::default()
    };
    let report = cohort_reports::render(dir, &out, &options)?;
    let mut o = std::io::stdout().lock();
    writeln!(o, "{}", report.table())?;
    writeln!(o, "wrote {}", out.join("report.html").display())?;
    Ok(())
}

fn cmd_validate(paths: &[PathBuf]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for p in paths {
        let w = Workload::load(p)?;
        let r = w.resolve(&BTreeMap::new())?;
        let sweep = w.sweep()?;
        writeln!(
            out,
            "{}: ok: workload `{}`, {} nodes, {} stages, {} sweep points",
            p.display(),
            r.name,
            r.spec.nodes.len(),
            r.stages.len(),
            sweep.points.len()
        )?;
    }
    Ok(())
}

fn cmd_policies() -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut bad = 0;
    for (name, source, check) in policy::list() {
        match check {
            Ok(()) => writeln!(out, "{name:<12} ok      {source}")?,
            Err(e) => {
                bad += 1;
                writeln!(out, "{name:<12} BROKEN  {source}: {e}")?;
            }
        }
    }
    if bad > 0 {
        bail!("{bad} plugin(s) failed their checks");
    }
    Ok(())
}

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
        }
    }
}

/// Prints the [`Headline`] of summary rows as a table, cells as in `summary.csv`.
fn print_table(param_names: &[String], rows: &[SummaryRow]) -> Result<()> {
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
