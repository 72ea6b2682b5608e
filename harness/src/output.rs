//! Run directories: the trace turned into the rows of the CSV contract (`cohort-schema`) and
//! a manifest, written into a staging directory that is renamed into place when complete, so
//! that a failed or interrupted run leaves nothing half-written.

use crate::policy::{PolicySource, sha256_hex, sha256_of};
use crate::run::{Deploy, RunOutput, RunSpec, StageOfGroup};
use crate::stats;
use anyhow::{Context, Result, anyhow};
use cohort_policy::{Dependency, WorkKind};
use cohort_runtime::trace::TaskRecord;
use cohort_runtime::{FaultKind, NodeEvent};
use cohort_schema::{
    CsvWriter, DependencyKind, Encoding, EvictionRow, Existing, FaultRow, Fixed6, LatencyRow, Row,
    SchemaError, Staging, SummaryRow, TaskKind, TaskRow, TransferRow, UtilizationRow,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The cohort version that wrote a file.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit cohort was built from ("unknown" outside a checkout).
pub const GIT_COMMIT: &str = env!("COHORT_GIT_COMMIT");

/// Stages `dir`: refuses an existing `dir` unless `force` (then it is replaced on commit).
pub fn stage(dir: &Path, force: bool) -> Result<Staging> {
    let existing = if force {
        Existing::Replace
    } else {
        Existing::Refuse
    };
    Staging::new(dir, existing).map_err(|e| match e {
        SchemaError::Exists { .. } => anyhow!("{e} (pass --force to replace it)"),
        e => e.into(),
    })
}

/// Writes `bytes` to `path` whole or not at all: into a temporary file beside it, renamed
/// into place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} does not name a file", path.display()))?;
    let temp = path.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::write(&temp, bytes)
        .and_then(|()| std::fs::rename(&temp, path))
        .with_context(|| format!("writing {}", path.display()));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// The names of the run's workload parameters: its `param.*` columns.
pub fn param_names(spec: &RunSpec) -> Vec<String> {
    spec.resolved.param_values.keys().cloned().collect()
}

/// What each `param.*` column measures (`size`, `duration`, `rate` or `count`), by name.
pub fn param_units(spec: &RunSpec) -> BTreeMap<String, &'static str> {
    units_of(&spec.resolved)
}

/// What each parameter of `w` measures (`size`, `duration`, `rate` or `count`), by name.
pub fn units_of(w: &cohort_workloads::Resolved) -> BTreeMap<String, &'static str> {
    w.param_units
        .iter()
        .map(|(k, q)| (k.clone(), q.as_str()))
        .collect()
}

fn param_values(spec: &RunSpec) -> Vec<u64> {
    spec.resolved.param_values.values().copied().collect()
}

/// The summary of one run, as its row of `summary.csv`.
pub fn summary_row(spec: &RunSpec, out: &RunOutput) -> SummaryRow {
    let w = &spec.resolved;
    let lat = stats::latency(&out.trace.datapoints, w.schedule.warmup);
    let cpus: Vec<u32> = w.spec.nodes.iter().map(|n| n.cpus).collect();
    let util = stats::utilization(&out.trace.tasks, &cpus, w.schedule.warmup, out.end);
    let recovery = stats::recovery(&out.trace.datapoints, &out.trace.nodes);
    let (umean, umin, umax) = if util.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            util.iter().sum::<f64>() / util.len() as f64,
            util.iter().copied().fold(f64::INFINITY, f64::min),
            util.iter().copied().fold(0.0, f64::max),
        )
    };
    SummaryRow {
        run: spec.id(),
        policy: spec.policy.name(),
        seed: spec.seed,
        params: param_values(spec),
        datapoints: lat.count as u64,
        mean_ms: Fixed6(lat.mean_ms),
        p50_ms: Fixed6(lat.p50_ms),
        p90_ms: Fixed6(lat.p90_ms),
        p99_ms: Fixed6(lat.p99_ms),
        max_ms: Fixed6(lat.max_ms),
        bytes_transferred: out.counters.bytes_transferred,
        transfers: out.counters.transfers,
        evictions: out.counters.evictions,
        tasks: out.counters.finished,
        failed: out.counters.failed,
        cpu_util_mean: Fixed6(umean),
        cpu_util_min: Fixed6(umin),
        cpu_util_max: Fixed6(umax),
        reexecuted: out.counters.reexecuted,
        reconstructed: out.counters.reconstructed,
        actor_restarts: out.counters.actor_restarts,
        spilled_bytes: out.counters.spilled_bytes,
        restored_bytes: out.counters.restored_bytes,
        datapoints_lost: out
            .datapoints_expected
            .saturating_sub(out.trace.datapoints.len() as u64),
        recovery_first_ms: recovery.map(|r| Fixed6(r.0)),
        recovery_last_ms: recovery.map(|r| Fixed6(r.1)),
        unfinished: out.unfinished,
        growth_ms_per_s: Fixed6(signless_zero(stats::growth(
            &out.trace.datapoints,
            w.schedule.warmup,
        ))),
    }
}

/// `v`, or 0 when it would be written as `-0.000000`: a flat run's slope comes out of the sums
/// as a tiny negative number as often as a tiny positive one.
fn signless_zero(v: f64) -> f64 {
    if v.abs() < 5e-7 { 0.0 } else { v }
}

/// How a live run was deployed (`--deploy processes`).
#[derive(Serialize)]
struct LiveEntry {
    /// Node processes this head started.
    spawned: u32,
    /// The rate each node sent at (`"none"`: as fast as the sockets went).
    nic_rate: String,
    /// The CPU time the head's process used over the run, ns (see `RunOutput::head_cpu_ns`).
    head_cpu_ns: u64,
}

/// The work a simulated run charged to the host's cores (`cluster.host_cores`), ns of one
/// core by kind: the CPU time the model gives the nodes.
#[derive(Serialize)]
struct HostEntry {
    cores: u32,
    tasks_ns: u64,
    set_ups_ns: u64,
    copies_ns: u64,
    /// The head's work (`cluster.head_work`), written only when there is some.
    #[serde(skip_serializing_if = "is_zero")]
    head_ns: u64,
}

/// Whether `n` is 0 (a field to leave out).
fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct ProfileEntry<'a> {
    file: &'a str,
    set: &'a BTreeMap<String, String>,
}

/// How often the hints the runtime inferred equalled the IR's (`cluster.hints =
/// "inferred"`): submissions compared, and those agreeing in everything, in group (up to
/// numbering), in index and in dependency.
#[derive(Serialize)]
struct HintsEntry {
    compared: u64,
    agree: u64,
    agree_group: u64,
    agree_index: u64,
    agree_dependency: u64,
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
    /// "in-process" (the simulator or the real clock in one process) or "processes" (live).
    deploy: &'a str,
    /// With "processes": how.
    live: Option<LiveEntry>,
    /// With the host's cores shared (`cluster.host_cores`): the work charged to them.
    host: Option<HostEntry>,
    cohort_version: &'a str,
    git_commit: &'a str,
    iterations: u64,
    virtual_end_s: f64,
    wall_s: f64,
    reproduces: Option<&'a str>,
    /// Every value set for this run (`--set`, and the sweep's point): parameters and keys.
    set: &'a BTreeMap<String, String>,
    /// The cost profile applied under `set` (`--profile`): its file, and the values it set.
    profile: Option<ProfileEntry<'a>>,
    /// With inferred hints, how they compared with the declared ones.
    hints: Option<HintsEntry>,
    /// With `--replay`, how the placements came from the recording.
    replay: Option<crate::replay::Tally>,
    params: &'a BTreeMap<String, String>,
    param_units: BTreeMap<String, &'static str>,
    /// Every constructed actor's state at the end, by actor id (decimal strings: TOML's
    /// integers stop at `i64::MAX`): the workload's running totals.
    actor_totals: BTreeMap<String, String>,
    workload_source: &'a str,
}

fn manifest(spec: &RunSpec, out: &RunOutput) -> Result<String> {
    let (source, sha) = match &spec.policy {
        PolicySource::Builtin(_) => (
            "built-in (linked into the cohort executable; sha256 is the executable's)".to_string(),
            executable_sha256().to_string(),
        ),
        PolicySource::Plugin { path, sha256, .. } => (path.display().to_string(), sha256.clone()),
        PolicySource::Replay { recorded, sha256 } => (
            format!("replayed from {}", recorded.path.display()),
            sha256.clone(),
        ),
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
        deploy: spec.deploy_name(),
        live: match &spec.deploy {
            Deploy::Processes(l) => Some(LiveEntry {
                spawned: l.spawn,
                nic_rate: l.nic_rate.map_or("none".to_string(), |r| format!("{r}B/s")),
                head_cpu_ns: out.head_cpu_ns.unwrap_or(0),
            }),
            Deploy::InProcess => None,
        },
        host: out
            .host_work
            .zip(spec.resolved.model.host_cores)
            .map(|(w, cores)| HostEntry {
                cores,
                tasks_ns: w.tasks_ns,
                set_ups_ns: w.set_ups_ns,
                copies_ns: w.copies_ns,
                head_ns: w.head_ns,
            }),
        cohort_version: VERSION,
        git_commit: GIT_COMMIT,
        iterations: out.iterations,
        virtual_end_s: out.end as f64 / 1e9,
        wall_s: out.wall.as_secs_f64(),
        reproduces: spec.resolved.reproduces.as_deref(),
        set: &spec.overrides,
        profile: spec
            .profile
            .as_ref()
            .map(|(file, set)| ProfileEntry { file, set }),
        hints: out.hints.map(|h| HintsEntry {
            compared: h.compared,
            agree: h.all,
            agree_group: h.group,
            agree_index: h.index,
            agree_dependency: h.dependency,
        }),
        replay: out.replay,
        params: &spec.resolved.params,
        param_units: param_units(spec),
        actor_totals: out
            .actor_totals
            .iter()
            .map(|(a, t)| (a.to_string(), t.to_string()))
            .collect(),
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

/// `r` as a row, named by the stage and iteration its group has in `stages`.
fn task_row(r: &TaskRecord, stages: &StageOfGroup) -> TaskRow {
    let (dependency, dependency_group, dependency_index) = match r.hints.dependency {
        Dependency::None => (DependencyKind::None, None, None),
        Dependency::Group(g) => (DependencyKind::Group, Some(g.0), None),
        Dependency::Task(g, i) => (DependencyKind::Task, Some(g.0), Some(i)),
    };
    let stage = stages.get(&r.hints.group.0);
    TaskRow {
        task: r.task.0,
        kind: match r.kind {
            WorkKind::Task => TaskKind::Task,
            WorkKind::ActorCreation => TaskKind::ActorCreation,
            WorkKind::ActorMethod => TaskKind::ActorMethod,
        },
        name: r.name.to_string(),
        group: r.hints.group.0,
        index: r.hints.index,
        dependency,
        dependency_group,
        dependency_index,
        node: r.node.0,
        cpus: r.cpus,
        submitted_ns: r.submitted,
        args_local_ns: r.args_local,
        started_ns: r.started,
        finished_ns: r.finished,
        input_bytes: r.input_bytes,
        output_bytes: r.output_bytes,
        ok: r.ok,
        stage: stage.map_or_else(String::new, |(s, _)| s.clone()),
        iteration: stage.map(|&(_, i)| i),
    }
}

/// Which files of a run directory are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Latencies, utilization, summary and manifest: what reports read.
    Summary,
    /// Also the per-task, per-transfer and per-eviction files.
    Full,
}

/// Writes `rows` as the file of their row type in `dir`, gzip-compressed.
fn write_csv<R: Row>(
    dir: &Path,
    params: &[String],
    rows: impl IntoIterator<Item = R>,
) -> Result<(), SchemaError> {
    let mut w = CsvWriter::<R>::create_encoded(dir, params, Encoding::Gzip)?;
    for row in rows {
        w.write(&row)?;
    }
    w.finish()
}

/// The rows of `faults.csv`: the script's faults as played, kills with when their node was
/// declared dead.
fn fault_rows<'a>(spec: &'a RunSpec, out: &'a RunOutput) -> impl Iterator<Item = FaultRow> + 'a {
    spec.resolved.spec.faults.faults().iter().map(move |f| {
        let (node, peer, factor) = match f.kind {
            FaultKind::Kill { node } => (node, None, None),
            FaultKind::SlowCpu { node, by } | FaultKind::SlowNic { node, by } => {
                (node, None, Some(Fixed6(f64::from(by.milli()) / 1000.0)))
            }
            FaultKind::DropLink { a, b } => (a, Some(b.0), None),
        };
        let declared_ns = match f.kind {
            FaultKind::Kill { node } => out
                .trace
                .nodes
                .iter()
                .find(|r| r.node == node && r.event == NodeEvent::DeclaredDead && r.at >= f.at)
                .map(|r| r.at),
            _ => None,
        };
        FaultRow {
            kind: f.kind.name().to_string(),
            node: node.0,
            peer,
            factor,
            at_ns: f.at,
            until_ns: f.until,
            declared_ns,
        }
    })
}

/// Writes the files of a run into `dir` (an existing, empty directory): every CSV but
/// `summary.csv` gzip-compressed, the per-task, per-transfer and per-eviction files only with
/// [`Detail::Full`].
pub fn write_run(dir: &Path, spec: &RunSpec, out: &RunOutput, detail: Detail) -> Result<()> {
    let w = &spec.resolved;
    let policy = spec.policy.name();
    let names = param_names(spec);
    let params = param_values(spec);

    write_csv(
        dir,
        &names,
        out.trace.datapoints.iter().map(|d| LatencyRow {
            policy: policy.clone(),
            seed: spec.seed,
            params: params.clone(),
            iteration: d.tag,
            reducer: d.index,
            node: d.node.0,
            ingest_ns: d.ingest,
            arrival_ns: d.arrival,
            latency_ns: d.latency(),
            warmup: stats::is_warmup(d, w.schedule.warmup),
        }),
    )?;
    if detail == Detail::Full {
        write_csv(
            dir,
            &[],
            out.trace.tasks.iter().map(|t| task_row(t, &out.stages)),
        )?;
        write_csv(
            dir,
            &[],
            out.trace.transfers.iter().map(|x| TransferRow {
                object: x.object.0,
                bytes: x.bytes,
                from: x.from.0,
                to: x.to.0,
                requested_ns: x.requested,
                flowing_ns: x.flowing,
                finished_ns: x.finished,
            }),
        )?;
        write_csv(
            dir,
            &[],
            out.trace.evictions.iter().map(|e| EvictionRow {
                object: e.object.0,
                node: e.node.0,
                bytes: e.bytes,
                at_ns: e.at,
                last_copy: e.last_copy,
            }),
        )?;
    }

    let cpus: Vec<u32> = w.spec.nodes.iter().map(|n| n.cpus).collect();
    let window = w.schedule.period.max(out.end / 2000).max(1);
    let windows = stats::utilization_windows(&out.trace.tasks, &cpus, window, out.end);
    let mut rows = Vec::with_capacity(windows.len());
    for (node, start, frac) in windows {
        rows.push(UtilizationRow {
            node: u32::try_from(node).context("a node index past u32")?,
            window_start_ns: start,
            window_ns: window,
            busy_fraction: Fixed6(frac),
        });
    }
    write_csv(dir, &[], rows)?;
    if !w.spec.faults.is_empty() {
        write_csv(dir, &[], fault_rows(spec, out))?;
    }
    if !out.nodes.is_empty() {
        write_csv(dir, &[], crate::live::node_rows(&out.nodes))?;
    }
    let mut summary = CsvWriter::<SummaryRow>::create(dir, &names)?;
    summary.write(&summary_row(spec, out))?;
    summary.finish()?;

    let path = dir.join("manifest.toml");
    std::fs::write(&path, manifest(spec, out)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The CSV files (plain or gzip) directly in `dir`, by name, sorted.
fn csv_files(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".csv") || name.ends_with(".csv.gz") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Compares the CSVs of two run directories byte for byte; returns the names that differ
/// (or are in one directory only).
pub fn differing_csvs(a: &Path, b: &Path) -> Result<Vec<String>> {
    let (in_a, in_b) = (csv_files(a)?, csv_files(b)?);
    let mut differ: Vec<String> = in_a
        .iter()
        .chain(&in_b)
        .filter(|n| !(in_a.contains(n) && in_b.contains(n)))
        .cloned()
        .collect();
    for name in in_a.iter().filter(|n| in_b.contains(n)) {
        let x = std::fs::read(a.join(name)).with_context(|| format!("reading {name}"))?;
        let y = std::fs::read(b.join(name)).with_context(|| format!("reading {name}"))?;
        if x != y {
            differ.push(name.clone());
        }
    }
    differ.sort();
    differ.dedup();
    Ok(differ)
}

/// The total size of the files under `path`, in bytes.
pub fn size_on_disk(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path).map_or(0, |entries| {
        entries.flatten().map(|e| size_on_disk(&e.path())).sum()
    })
}

/// A size in bytes for people: `812 B`, `3.4 KiB`, `12.3 MiB`, `1.2 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}
