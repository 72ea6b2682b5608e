//! Run directories: CSVs and manifests, written to a temporary directory and renamed into
//! place, so that a failed or interrupted run leaves nothing half-written.

use crate::policy::{PolicySource, sha256_hex, sha256_of};
use crate::run::{RunOutput, RunSpec};
use crate::stats;
use anyhow::{Context, Result, bail};
use cohort_policy::Dependency;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The cohort version that wrote a file.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit cohort was built from ("unknown" outside a checkout).
pub const GIT_COMMIT: &str = env!("COHORT_GIT_COMMIT");

/// The CSV files of a run directory, in the order they are written.
pub const RUN_CSVS: [&str; 6] = [
    "latencies.csv",
    "tasks.csv",
    "transfers.csv",
    "evictions.csv",
    "utilization.csv",
    "summary.csv",
];

/// A directory being built under a temporary name next to where it will end up.
#[derive(Debug)]
pub struct Staging {
    /// The temporary directory to write into.
    pub tmp: PathBuf,
    /// The parent directory, if this staging created it (removed again on failure).
    created_parent: Option<PathBuf>,
}

/// Refuses to overwrite `dir` unless `force`; returns a fresh temporary sibling to build in.
pub fn prepare(dir: &Path, force: bool) -> Result<Staging> {
    if dir.exists() && !force {
        bail!(
            "output directory {} already exists (pass --force to replace it)",
            dir.display()
        );
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let created_parent = if parent.exists() {
        None
    } else {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        Some(parent.to_path_buf())
    };
    let name = dir
        .file_name()
        .with_context(|| format!("{} does not name a directory", dir.display()))?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    Ok(Staging {
        tmp,
        created_parent,
    })
}

/// Moves a finished temporary directory into place (replacing `dir` if it exists).
pub fn commit(staging: &Staging, dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::rename(&staging.tmp, dir)
        .with_context(|| format!("moving {} to {}", staging.tmp.display(), dir.display()))
}

/// Removes a temporary directory after a failure, and its parent if staging created it
/// (best effort).
pub fn abandon(staging: &Staging) {
    let _ = std::fs::remove_dir_all(&staging.tmp);
    if let Some(p) = &staging.created_parent {
        let _ = std::fs::remove_dir(p);
    }
}

/// Fixed-precision decimal, so that output is byte-identical across runs.
fn dec(v: f64) -> String {
    format!("{v:.6}")
}

fn param_header(spec: &RunSpec) -> Vec<String> {
    spec.resolved
        .param_values
        .keys()
        .map(|k| format!("param.{k}"))
        .collect()
}

fn param_cells(spec: &RunSpec) -> Vec<String> {
    spec.resolved
        .param_values
        .values()
        .map(u64::to_string)
        .collect()
}

fn writer(dir: &Path, name: &str) -> Result<csv::Writer<std::fs::File>> {
    let path = dir.join(name);
    csv::Writer::from_path(&path).with_context(|| format!("creating {}", path.display()))
}

/// The summary of one run, as a CSV row (see [`summary_header`]).
pub fn summary_row(spec: &RunSpec, out: &RunOutput) -> Vec<String> {
    let w = &spec.resolved;
    let lat = stats::latency(&out.trace.datapoints, w.schedule.warmup);
    let cpus: Vec<u32> = w.spec.nodes.iter().map(|n| n.cpus).collect();
    let util = stats::utilization(&out.trace.tasks, &cpus, w.schedule.warmup, out.end);
    let (umean, umin, umax) = if util.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            util.iter().sum::<f64>() / util.len() as f64,
            util.iter().copied().fold(f64::INFINITY, f64::min),
            util.iter().copied().fold(0.0, f64::max),
        )
    };
    let mut row = vec![spec.id(), spec.policy.name(), spec.seed.to_string()];
    row.extend(param_cells(spec));
    row.extend([
        lat.count.to_string(),
        dec(lat.mean_ms),
        dec(lat.p50_ms),
        dec(lat.p90_ms),
        dec(lat.p99_ms),
        dec(lat.max_ms),
        out.counters.bytes_transferred.to_string(),
        out.counters.transfers.to_string(),
        out.counters.evictions.to_string(),
        out.counters.finished.to_string(),
        out.counters.failed.to_string(),
        dec(umean),
        dec(umin),
        dec(umax),
    ]);
    row
}

/// The header of [`summary_row`].
pub fn summary_header(spec: &RunSpec) -> Vec<String> {
    let mut h: Vec<String> = ["run", "policy", "seed"].map(String::from).to_vec();
    h.extend(param_header(spec));
    h.extend(
        [
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
        ]
        .map(String::from),
    );
    h
}

#[derive(Serialize)]
struct Manifest<'a> {
    workload: &'a str,
    workload_file: &'a str,
    workload_sha256: String,
    policy: String,
    policy_source: String,
    policy_sha256: String,
    policy_config: &'a str,
    seed: u64,
    clock: &'a str,
    cohort_version: &'a str,
    git_commit: &'a str,
    iterations: u64,
    virtual_end_s: f64,
    wall_s: f64,
    params: &'a BTreeMap<String, String>,
    workload_source: &'a str,
}

fn manifest(spec: &RunSpec, out: &RunOutput) -> Result<String> {
    let (source, sha) = match &spec.policy {
        PolicySource::Builtin(_) => (
            "built-in (linked into the cohort executable; sha256 is the executable's)".to_string(),
            executable_sha256().to_string(),
        ),
        PolicySource::Plugin { path, sha256, .. } => (path.display().to_string(), sha256.clone()),
    };
    let m = Manifest {
        workload: &spec.resolved.name,
        workload_file: &spec.workload_path,
        workload_sha256: sha256_hex(spec.workload_source.as_bytes()),
        policy: spec.policy.name(),
        policy_source: source,
        policy_sha256: sha,
        policy_config: &spec.policy_config,
        seed: spec.seed,
        clock: spec.clock_name(),
        cohort_version: VERSION,
        git_commit: GIT_COMMIT,
        iterations: out.iterations,
        virtual_end_s: out.end as f64 / 1e9,
        wall_s: out.wall.as_secs_f64(),
        params: &spec.resolved.params,
        workload_source: &spec.workload_source,
    };
    toml::to_string(&m).context("writing the manifest")
}

/// SHA-256 of the running executable, computed once per process ("unknown" if it cannot be
/// read). On Linux `/proc/self/exe` still reads the file a rebuild has replaced.
fn executable_sha256() -> &'static str {
    static SHA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SHA.get_or_init(|| {
        let candidates = [
            Some(PathBuf::from("/proc/self/exe")),
            std::env::current_exe().ok(),
        ];
        candidates
            .into_iter()
            .flatten()
            .find_map(|p| sha256_of(&p).ok())
            .unwrap_or_else(|| "unknown".to_string())
    })
}

fn dependency(d: Dependency) -> (String, String, String) {
    match d {
        Dependency::None => ("none".into(), String::new(), String::new()),
        Dependency::Group(g) => ("group".into(), g.0.to_string(), String::new()),
        Dependency::Task(g, i) => ("task".into(), g.0.to_string(), i.to_string()),
    }
}

/// Writes every file of a run into `dir` (an existing, empty directory).
pub fn write_run(dir: &Path, spec: &RunSpec, out: &RunOutput) -> Result<()> {
    let w = &spec.resolved;
    let policy = spec.policy.name();
    let seed = spec.seed.to_string();
    let params = param_cells(spec);

    let mut lat = writer(dir, "latencies.csv")?;
    let mut h: Vec<String> = vec!["policy".into(), "seed".into()];
    h.extend(param_header(spec));
    h.extend(
        [
            "iteration",
            "reducer",
            "node",
            "ingest_ns",
            "arrival_ns",
            "latency_ns",
            "warmup",
        ]
        .map(String::from),
    );
    lat.write_record(&h)?;
    for d in &out.trace.datapoints {
        let mut row = vec![policy.clone(), seed.clone()];
        row.extend(params.iter().cloned());
        row.extend([
            d.tag.to_string(),
            d.index.to_string(),
            d.node.0.to_string(),
            d.ingest.to_string(),
            d.arrival.to_string(),
            d.latency().to_string(),
            u8::from(stats::is_warmup(d, w.schedule.warmup)).to_string(),
        ]);
        lat.write_record(&row)?;
    }
    lat.flush()?;

    let mut t = writer(dir, "tasks.csv")?;
    t.write_record([
        "task",
        "kind",
        "name",
        "group",
        "index",
        "dependency",
        "dependency_group",
        "dependency_index",
        "node",
        "cpus",
        "submitted_ns",
        "args_local_ns",
        "started_ns",
        "finished_ns",
        "input_bytes",
        "output_bytes",
        "ok",
    ])?;
    for r in &out.trace.tasks {
        let (dk, dg, di) = dependency(r.hints.dependency);
        let kind = match r.kind {
            cohort_policy::WorkKind::Task => "task",
            cohort_policy::WorkKind::ActorCreation => "actor_creation",
            cohort_policy::WorkKind::ActorMethod => "actor_method",
        };
        t.write_record([
            r.task.0.to_string(),
            kind.to_string(),
            r.name.to_string(),
            r.hints.group.0.to_string(),
            r.hints.index.to_string(),
            dk,
            dg,
            di,
            r.node.0.to_string(),
            r.cpus.to_string(),
            r.submitted.to_string(),
            r.args_local.to_string(),
            r.started.to_string(),
            r.finished.to_string(),
            r.input_bytes.to_string(),
            r.output_bytes.to_string(),
            u8::from(r.ok).to_string(),
        ])?;
    }
    t.flush()?;

    let mut tr = writer(dir, "transfers.csv")?;
    tr.write_record([
        "object",
        "bytes",
        "from",
        "to",
        "requested_ns",
        "flowing_ns",
        "finished_ns",
    ])?;
    for x in &out.trace.transfers {
        tr.write_record([
            x.object.0.to_string(),
            x.bytes.to_string(),
            x.from.0.to_string(),
            x.to.0.to_string(),
            x.requested.to_string(),
            x.flowing.to_string(),
            x.finished.to_string(),
        ])?;
    }
    tr.flush()?;

    let mut ev = writer(dir, "evictions.csv")?;
    ev.write_record(["object", "node", "bytes", "at_ns", "last_copy"])?;
    for e in &out.trace.evictions {
        ev.write_record([
            e.object.0.to_string(),
            e.node.0.to_string(),
            e.bytes.to_string(),
            e.at.to_string(),
            u8::from(e.last_copy).to_string(),
        ])?;
    }
    ev.flush()?;

    let cpus: Vec<u32> = w.spec.nodes.iter().map(|n| n.cpus).collect();
    let window = w.schedule.period.max(out.end / 2000).max(1);
    let mut u = writer(dir, "utilization.csv")?;
    u.write_record(["node", "window_start_ns", "window_ns", "busy_fraction"])?;
    for (node, start, frac) in stats::utilization_windows(&out.trace.tasks, &cpus, window, out.end)
    {
        u.write_record([
            node.to_string(),
            start.to_string(),
            window.to_string(),
            dec(frac),
        ])?;
    }
    u.flush()?;

    let mut s = writer(dir, "summary.csv")?;
    s.write_record(summary_header(spec))?;
    s.write_record(summary_row(spec, out))?;
    s.flush()?;

    let path = dir.join("manifest.toml");
    std::fs::write(&path, manifest(spec, out)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Compares the CSVs of two run directories byte for byte; returns the names that differ.
pub fn differing_csvs(a: &Path, b: &Path) -> Result<Vec<&'static str>> {
    let mut differ = Vec::new();
    for name in RUN_CSVS {
        let x = std::fs::read(a.join(name)).with_context(|| format!("reading {name}"))?;
        let y = std::fs::read(b.join(name)).with_context(|| format!("reading {name}"))?;
        if x != y {
            differ.push(name);
        }
    }
    Ok(differ)
}
