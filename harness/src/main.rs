//! `cohort`: runs placement-policy experiments on the cohort runtime.
//!
//! Exit codes: 0 on success; 2 on bad input (workload, units, paths, plugins) or a failed run,
//! with a message that names the problem. Nothing half-written is left behind: every output
//! directory is built under a temporary name and renamed into place when complete.

mod calibrate;
mod cli;
mod compare;
mod live;
mod output;
mod peer;
mod plan;
mod policy;
mod replay;
mod run;
mod stats;
mod sweep;
mod table;
mod timeline;

use anyhow::{Context, Result, bail};
use clap::Parser;
use cli::{
    Cli, ClockArg, Command, DeployArg, LeaderboardArgs, NodeArgs, RunArgs, SweepArgs, clock_of,
    parse_policy_configs, parse_sets,
};
use cohort_runtime::Trace;
use cohort_schema::{CsvWriter, SummaryRow};
use cohort_workloads::{End, Workload};
use live::Live;
use policy::PolicySource;
use run::{Deploy, RunSpec};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use table::print_table;

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // Ctrl-C (or SIGTERM, e.g. from a batch system) ends the process without unwinding:
    // remove the half-written output first.
    let _ = ctrlc::set_handler(|| {
        cohort_schema::abandon_all();
        live::remove_scratch();
        let _ = writeln!(
            std::io::stderr(),
            "interrupted: nothing half-written was left behind"
        );
        std::process::exit(130);
    });
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {}", describe(&e));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes in one line, each cause once: a cause whose text its parent's
/// message already ends with is not repeated.
fn describe(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => cmd_run(args),
        Command::Sweep(args) => cmd_sweep(args),
        Command::Merge { shards, out, force } => cmd_merge(&shards, &out, force),
        Command::Repro {
            out,
            force,
            seeds,
            jobs,
            no_fresh_view,
            no_kill,
            no_ray,
            no_ablation,
            set,
            detail,
        } => cmd_repro(
            out,
            force,
            seeds,
            jobs,
            Extras {
                fresh_view: !no_fresh_view,
                kill: !no_kill,
                ray: !no_ray,
                ablation: !no_ray && !no_ablation,
            },
            &parse_sets(&set)?,
            detail,
        ),
        Command::Report { dir, out, x, with } => cmd_report(&dir, out, x, with),
        Command::Validate { workloads } => cmd_validate(&workloads),
        Command::Resolve {
            workload,
            set,
            profile,
        } => cmd_resolve(&workload, &set, profile.as_deref()),
        Command::Node(args) => cmd_node(args),
        Command::Compare {
            workload,
            profile,
            policies,
            seeds,
            set,
            replay,
            sweep,
            nic_rate,
            vary,
            with,
            out,
            force,
        } => match replay {
            Some(recorded) => {
                cmd_compare_replay(&workload, &profile, &set, &recorded, &with, out, force)
            }
            None => cmd_compare(
                &workload,
                &profile,
                policies,
                seeds,
                &set,
                sweep,
                nic_rate.as_deref(),
                &vary,
                &with,
                out,
                force,
            ),
        },
        Command::Calibrate {
            out,
            nodes,
            samples,
            sessions,
            full_sessions,
            nic_rate,
            force,
        } => cmd_calibrate(
            &out,
            calibrate::Request {
                nodes,
                samples,
                sessions,
                full_sessions,
                nic_rate: nic_rate_of(nic_rate.as_deref(), None)?,
            },
            force,
        ),
        Command::Policies => cmd_policies(),
        Command::Leaderboard(a) => cmd_leaderboard(a),
    }
}

/// `cohort leaderboard`: see its help.
fn cmd_leaderboard(a: LeaderboardArgs) -> Result<()> {
    let LeaderboardArgs {
        policies,
        mut add,
        ablations,
        hints,
        workloads,
        seeds,
        points,
        jobs,
        out,
        force,
    } = a;
    if ablations {
        add.extend(policy::variant_names().map(String::from));
    }
    let hinted = hints.unwrap_or_default();
    if points == 0 {
        bail!("--points must be at least 1");
    }
    let mut policies = if policies.is_empty() {
        policy::builtin_names().map(String::from).collect()
    } else {
        policies
    };
    policies.extend(add);
    let known = cohort_workloads::LEADERBOARD;
    let chosen: Vec<(&str, &str)> = if workloads.is_empty() {
        known.to_vec()
    } else {
        workloads
            .iter()
            .map(|name| {
                known
                    .iter()
                    .find(|(n, _)| n == name)
                    .copied()
                    .with_context(|| {
                        format!(
                            "no workload `{name}` to rank on (there are: {})",
                            known.map(|(n, _)| n).join(", ")
                        )
                    })
            })
            .collect::<Result<_>>()?
    };
    let dir = out.unwrap_or_else(|| PathBuf::from("out").join("leaderboard"));
    let staging = output::stage(&dir, force)?;
    let configs = BTreeMap::new();
    let mut runs: Vec<cohort_reports::LeaderboardRun> = Vec::new();
    let mut hints: Vec<cohort_schema::HintsRow> = Vec::new();
    // The policies on declared hints, then those of `--hints` on inferred hints and on none:
    // (hint source, the policies, the label's suffix, the sweep directory's suffix).
    let mut sets: Vec<(&str, &[String], &str, &str)> = vec![("declared", &policies, "", "")];
    if !hinted.is_empty() {
        sets.push(("inferred", &hinted, " [inferred hints]", "-inferred-hints"));
        sets.push(("none", &hinted, " [no hints]", "-no-hints"));
    }
    for (name, text) in &chosen {
        let shown = format!("built-in:{name}.toml");
        let w = Workload::parse(&shown, text)?;
        let mut grid = w.sweep()?;
        grid.points = spaced(&grid.points, points);
        for &(source, set_policies, label, suffix) in &sets {
            let mut fixed = BTreeMap::new();
            if source != "declared" {
                fixed.insert("cluster.hints".to_string(), source.to_string());
            }
            let plan = plan::Plan::new(&plan::Request {
                workload: &w,
                shown_path: &shown,
                policies: set_policies.to_vec(),
                seeds: seeds.clone(),
                fixed: &fixed,
                configs: &configs,
                detail: false,
                profile: None,
                grid: Some(grid.clone()),
            })?;
            let params = output::param_names(&plan.specs[0]);
            let sweep = format!("{name}{suffix}");
            let into = staging.path().join("sweeps").join(&sweep);
            let rows = run_plan(
                plan,
                None,
                jobs,
                &into,
                false,
                &dir.join("sweeps").join(&sweep),
            )?;
            for r in rows {
                let point: Vec<String> = params
                    .iter()
                    .zip(&r.params)
                    .map(|(p, v)| format!("{p}={v}"))
                    .collect();
                let point = point.join(",");
                if source == "inferred" {
                    let manifest = into.join("runs").join(&r.run).join("manifest.toml");
                    hints.push(hint_agreement(&manifest, name, &point, &r)?);
                }
                runs.push(cohort_reports::LeaderboardRun {
                    workload: name.to_string(),
                    point,
                    seed: r.seed,
                    policy: format!("{}{label}", r.policy),
                    mean_ms: (r.datapoints > 0).then(|| r.mean_ms.get()),
                });
            }
        }
    }
    let rows = cohort_reports::leaderboard_standings(&runs);
    let mut ranked = policies.clone();
    for (_, set_policies, label, _) in &sets[1..] {
        ranked.extend(set_policies.iter().map(|p| format!("{p}{label}")));
    }
    let about = format!(
        "Policies {} on {} ({} points of each sweep, seeds {}), on the virtual clock.",
        ranked.join(", "),
        chosen
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", "),
        points,
        seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    cohort_reports::write_leaderboard(&rows, &hints, staging.path(), &about)?;
    staging.commit()?;
    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "\n{}",
        cohort_reports::leaderboard_section(&rows, cohort_reports::ALL)
    )?;
    if !hints.is_empty() {
        writeln!(o, "{}", cohort_reports::hints_section(&hints))?;
    }
    writeln!(
        o,
        "wrote {} ({})",
        dir.display(),
        output::human_size(output::size_on_disk(&dir))
    )?;
    Ok(())
}

/// The `[hints]` table of a run's manifest (`manifest`), a run on inferred hints, as a row of
/// `hints.csv`.
fn hint_agreement(
    manifest: &Path,
    workload: &str,
    point: &str,
    run: &SummaryRow,
) -> Result<cohort_schema::HintsRow> {
    #[derive(serde::Deserialize)]
    struct Counts {
        compared: u64,
        agree: u64,
        agree_group: u64,
        agree_index: u64,
        agree_dependency: u64,
    }
    #[derive(serde::Deserialize)]
    struct Manifest {
        hints: Counts,
    }
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let m: Manifest = toml::from_str(&text)
        .with_context(|| format!("reading the [hints] table of {}", manifest.display()))?;
    Ok(cohort_schema::HintsRow {
        workload: workload.to_string(),
        point: point.to_string(),
        seed: run.seed,
        policy: run.policy.clone(),
        compared: m.hints.compared,
        agree: m.hints.agree,
        agree_group: m.hints.agree_group,
        agree_index: m.hints.agree_index,
        agree_dependency: m.hints.agree_dependency,
    })
}

/// `count` of `points`, evenly spaced from the first to the last (all of them if there are
/// no more than `count`).
fn spaced<T: Clone>(points: &[T], count: usize) -> Vec<T> {
    if points.len() <= count {
        return points.to_vec();
    }
    if count == 1 {
        return points[..1].to_vec();
    }
    (0..count)
        .map(|i| points[i * (points.len() - 1) / (count - 1)].clone())
        .collect()
}

fn cmd_run(a: RunArgs) -> Result<()> {
    let w = Workload::load(&a.workload)?;
    let overrides = parse_sets(&a.set)?;
    let loaded = a.profile.as_deref().map(load_profile).transpose()?;
    let (resolved, profile) = run::resolve(
        &w,
        &overrides,
        loaded.as_ref().map(|(path, p)| (path.as_str(), p)),
    )?;
    let policy = match (&a.replay, &a.policy) {
        (Some(path), _) => {
            if a.deploy != DeployArg::InProcess {
                bail!(
                    "--replay runs on the in-process cluster: a live run's placements are its policy's"
                );
            }
            if !a.policy_config.is_empty() {
                bail!("--policy-config configures a policy, and --replay has none");
            }
            let recorded = replay::Recorded::load(path)?;
            PolicySource::Replay {
                sha256: policy::sha256_of(&recorded.path)?,
                recorded: std::sync::Arc::new(recorded),
            }
        }
        (None, Some(name)) => PolicySource::resolve(name, &a.policy_config)?,
        (None, None) => bail!("--policy or --replay is needed"),
    };
    if a.check_determinism && matches!(a.clock, ClockArg::Real) {
        bail!("--check-determinism needs the virtual clock: the real clock is not deterministic");
    }
    let deploy = deploy_of(&a, &resolved)?;
    let spec = RunSpec {
        workload_source: w.source().to_string(),
        workload_path: a.workload.display().to_string(),
        resolved,
        overrides,
        profile,
        policy,
        policy_config: a.policy_config,
        seed: a.seed,
        clock: clock_of(a.clock),
        deploy,
    };
    let dir = a.out.unwrap_or_else(|| {
        PathBuf::from("out").join(format!("{}-{}", spec.resolved.name, spec.id()))
    });
    // The policy was created once with its configuration when resolved: one that cannot
    // start has failed before anything is written.
    let staging = output::stage(&dir, a.force)?;
    let row = run_and_write(&spec, staging.path(), a.check_determinism)?;
    staging.commit()?;
    print_table(&output::param_names(&spec), &[row])?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote {} ({})",
        dir.display(),
        output::human_size(output::size_on_disk(&dir))
    )?;
    if a.check_determinism {
        writeln!(out, "determinism: the second run's CSVs are byte-identical")?;
    }
    Ok(())
}

fn cmd_resolve(workload: &Path, set: &[String], profile: Option<&Path>) -> Result<()> {
    let w = Workload::load(workload)?;
    let overrides = parse_sets(set)?;
    let loaded = profile.map(load_profile).transpose()?;
    let (resolved, _) = run::resolve(
        &w,
        &overrides,
        loaded.as_ref().map(|(path, p)| (path.as_str(), p)),
    )?;
    let text = peer::document(&peer::Source {
        path: &workload.display().to_string(),
        text: w.source(),
        overrides: &overrides,
        resolved: &resolved,
    })?;
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// The grid `--vary NAME=V1,V2,...` (repeatable) asks for: every combination of the values,
/// the first parameter varying slowest; `None` without any.
fn grid_of(vary: &[String]) -> Result<Option<cohort_workloads::Sweep>> {
    if vary.is_empty() {
        return Ok(None);
    }
    let mut grid = cohort_workloads::Sweep {
        points: vec![BTreeMap::new()],
        ..Default::default()
    };
    for v in vary {
        let (name, values) = v
            .split_once('=')
            .filter(|(n, values)| !n.is_empty() && !values.is_empty())
            .with_context(|| format!("--vary {v}: expected NAME=V1,V2,..."))?;
        if grid.swept.iter().any(|s| s == name) {
            bail!("--vary {name} is given twice");
        }
        grid.swept.push(name.to_string());
        grid.points = grid
            .points
            .iter()
            .flat_map(|p| {
                values.split(',').map(move |value| {
                    let mut point = p.clone();
                    point.insert(name.to_string(), value.to_string());
                    point
                })
            })
            .collect();
    }
    Ok(Some(grid))
}

/// The NIC rate `--nic-rate` asks for: `default` without it, none with `none`.
fn nic_rate_of(text: Option<&str>, default: Option<u64>) -> Result<Option<u64>> {
    match text {
        None => Ok(default),
        Some("none") => Ok(None),
        Some(text) => cohort_workloads::units::parse_rate(text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("--nic-rate {text}: {e}")),
    }
}

/// Reads the cost profile at `path`: its path as shown, and the profile.
fn load_profile(path: &Path) -> Result<(String, cohort_workloads::Profile)> {
    let shown = path.display().to_string();
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading the profile {shown}"))?;
    let p = cohort_workloads::Profile::parse(&shown, &text)?;
    Ok((shown, p))
}

/// Where `cohort run`'s cluster runs, from its arguments; the `--deploy processes` options
/// are refused without it.
fn deploy_of(a: &RunArgs, w: &cohort_workloads::Resolved) -> Result<Deploy> {
    let live_only = [
        ("--listen", a.listen.is_some()),
        ("--spawn", a.spawn.is_some()),
        ("--nic-rate", a.nic_rate.is_some()),
    ];
    if a.deploy == DeployArg::InProcess {
        if let Some((flag, _)) = live_only.iter().find(|(_, set)| *set) {
            bail!("{flag} needs --deploy processes");
        }
        return Ok(Deploy::InProcess);
    }
    if a.check_determinism {
        bail!("--check-determinism needs the simulator: a live run is not deterministic");
    }
    if matches!(a.clock, ClockArg::Real) {
        bail!("--clock does not apply to --deploy processes: a live run's clock is real");
    }
    let nic_rate = nic_rate_of(a.nic_rate.as_deref(), Some(w.spec.network.nic_bandwidth))?;
    let join_timeout = cohort_workloads::units::parse_duration(&a.join_timeout)
        .map_err(|e| anyhow::anyhow!("--join-timeout {}: {e}", a.join_timeout))?;
    Ok(Deploy::Processes(Live {
        listen: a
            .listen
            .clone()
            .unwrap_or_else(|| "127.0.0.1:0".to_string()),
        spawn: a.spawn.unwrap_or(w.spec.nodes.len() as u32),
        nic_rate,
        join_timeout: std::time::Duration::from_nanos(join_timeout),
    }))
}

#[allow(clippy::too_many_arguments)]
fn cmd_compare(
    workload: &Path,
    profile: &Path,
    policies: Vec<String>,
    seeds: Vec<u64>,
    set: &[String],
    sweep: bool,
    nic_rate: Option<&str>,
    vary: &[String],
    with: &[PathBuf],
    out: Option<PathBuf>,
    force: bool,
) -> Result<()> {
    let (w, shown, dir) = compare_start(workload, out)?;
    let mut fixed = parse_sets(set)?;
    // Both sides at the emulated NIC rate: the simulator's NIC too, unless set otherwise.
    nic_rate_of(nic_rate, None)?;
    if let Some(rate) = nic_rate.filter(|r| *r != "none") {
        fixed
            .entry("cluster.nic_bandwidth".to_string())
            .or_insert_with(|| rate.to_string());
    }
    let grid = grid_of(vary)?;
    if grid.is_some() && sweep {
        bail!("--vary and --sweep both choose the grid: pass one");
    }
    if !sweep && grid.is_none() {
        // The default point: every swept parameter at the workload's own value.
        let resolved = w.resolve(&fixed)?;
        for name in w.sweep()?.swept {
            if let Some(v) = resolved.params.get(&name) {
                fixed.entry(name).or_insert_with(|| v.clone());
            }
        }
    }
    let (profile_shown, p) = load_profile(profile)?;
    // Paced live nodes pace only what they send, so the simulator's NICs limit sending only,
    // unless set otherwise, where its transport is the fluid one (a profile of Ray v0.6's
    // chunked transport keeps that model's receiving side).
    if nic_rate != Some("none") && !fixed.contains_key("cluster.nic_limits") {
        let applied = p.apply(&profile_shown, &w, &fixed)?;
        let transport = w.resolve(&applied)?.spec.network.transport;
        if transport == cohort_runtime::core::transport::TransportModel::Fluid {
            fixed.insert("cluster.nic_limits".to_string(), "send".to_string());
        }
    }
    let configs = BTreeMap::new();
    let request = plan::Request {
        workload: &w,
        shown_path: &shown,
        policies,
        seeds: if seeds.is_empty() { vec![1] } else { seeds },
        fixed: &fixed,
        configs: &configs,
        detail: true,
        profile: Some((profile_shown.as_str(), &p)),
        grid,
    };
    let sim_plan = plan::Plan::new(&request)?;
    let mut live_plan = sim_plan.clone();
    for spec in &mut live_plan.specs {
        let rate = nic_rate_of(nic_rate, Some(spec.resolved.spec.network.nic_bandwidth))?;
        spec.deploy = Deploy::Processes(Live {
            listen: "127.0.0.1:0".to_string(),
            spawn: spec.resolved.spec.nodes.len() as u32,
            nic_rate: rate,
            join_timeout: std::time::Duration::from_secs(30),
        });
    }
    let param_names = output::param_names(&sim_plan.specs[0]);
    let shapes: BTreeMap<String, compare::Shape> = sim_plan
        .specs
        .iter()
        .map(|s| (s.id(), compare::Shape::of(&s.resolved)))
        .collect();
    let staging = output::stage(&dir, force)?;
    let sim = run_side(sim_plan, None, staging.path(), &dir, "sim")?;
    // Live runs one at a time: each has the machine to itself.
    let live = run_side(live_plan, Some(1), staging.path(), &dir, "live")?;
    let pairs = compare::same_ids(
        &sim,
        &live,
        &staging.path().join("sim/runs"),
        &staging.path().join("live/runs"),
        |run| shapes.get(run).cloned().unwrap_or_default(),
    );
    let mut others = vec![staging.path().join("live")];
    others.extend(with.iter().cloned());
    let rows = write_comparison(staging.path(), &pairs, &param_names, "live", others)?;
    staging.commit()?;
    print_comparison(&rows, "live")?;
    writeln!(std::io::stdout().lock(), "wrote {}", dir.display())?;
    Ok(())
}

/// What both kinds of `cohort compare` start from: the workload, its path as given, and the
/// directory to write (`out`, else `out/NAME-compare`).
fn compare_start(workload: &Path, out: Option<PathBuf>) -> Result<(Workload, String, PathBuf)> {
    let w = Workload::load(workload)?;
    let dir = out.unwrap_or_else(|| PathBuf::from("out").join(format!("{}-compare", w.name())));
    Ok((w, workload.display().to_string(), dir))
}

/// `cohort compare --replay`: each run of the recorded sweep `recorded`, simulated with its
/// own placements under `profile`, against the recorded run.
fn cmd_compare_replay(
    workload: &Path,
    profile: &Path,
    set: &[String],
    recorded: &Path,
    with: &[PathBuf],
    out: Option<PathBuf>,
    force: bool,
) -> Result<()> {
    let (w, shown, dir) = compare_start(workload, out)?;
    let (profile_shown, p) = load_profile(profile)?;
    let sweep = replay::RecordedSweep::load(recorded)?;
    let text = policy::sha256_hex(w.source().as_bytes());
    if let Some(other) = sweep.runs.iter().find_map(|r| {
        r.manifest
            .workload_sha256
            .as_ref()
            .filter(|h| **h != text)
            .map(|_| &r.summary.run)
    }) {
        let _ = writeln!(
            std::io::stderr(),
            "warning: run {other} of {} ran another text of {} (its manifest's workload_sha256 \
             differs): a default it did not set may have changed",
            recorded.display(),
            workload.display()
        );
    }
    let plan = plan::Plan::replaying(
        &w,
        &shown,
        &sweep,
        &parse_sets(set)?,
        Some((profile_shown.as_str(), &p)),
    )?;
    let ids = plan.ids();
    let shapes: Vec<compare::Shape> = plan
        .specs
        .iter()
        .map(|s| compare::Shape::of(&s.resolved))
        .collect();
    let param_names = output::param_names(&plan.specs[0]);
    let staging = output::stage(&dir, force)?;
    let sim = run_side(plan, None, staging.path(), &dir, "sim")?;
    let pairs: Vec<compare::Pair<'_>> = ids
        .iter()
        .zip(&sweep.runs)
        .zip(shapes)
        .filter_map(|((id, run), shape)| {
            Some(compare::Pair {
                sim: sim.iter().find(|s| s.run == *id)?,
                reference: &run.summary,
                sim_dir: staging.path().join("sim/runs").join(id),
                reference_dir: sweep.dir.join("runs").join(&run.summary.run),
                shape,
            })
        })
        .collect();
    let mut others = vec![sweep.dir.clone()];
    others.extend(with.iter().cloned());
    let rows = write_comparison(staging.path(), &pairs, &param_names, &sweep.runtime, others)?;
    staging.commit()?;
    print_comparison(&rows, &sweep.runtime)?;
    writeln!(std::io::stdout().lock(), "wrote {}", dir.display())?;
    Ok(())
}

/// Runs one side of a comparison, `plan` with `jobs` at a time, into the sweep directory
/// `side` of the comparison staged in `staging` (to be `dir`).
fn run_side(
    plan: plan::Plan,
    jobs: Option<usize>,
    staging: &Path,
    dir: &Path,
    side: &str,
) -> Result<Vec<SummaryRow>> {
    run_plan(
        plan,
        None,
        jobs,
        &staging.join(side),
        false,
        &dir.join(side),
    )
}

/// Writes into `into` the comparison of `pairs` (simulated, reference): `compare.csv`,
/// `compare.md` (`reference` naming the reference's side) and `report/` (the simulated sweep
/// `into/sim` with the sweeps `others` on the same figures); returns the rows.
fn write_comparison(
    into: &Path,
    pairs: &[compare::Pair<'_>],
    param_names: &[String],
    reference: &str,
    others: Vec<PathBuf>,
) -> Result<Vec<cohort_schema::CompareRow>> {
    // Each run's detail files, read once on each side.
    let details: BTreeMap<&str, (compare::Detail, compare::Detail)> = pairs
        .iter()
        .filter_map(|p| {
            let sim = compare::Detail::read(&p.sim_dir, &p.shape)?;
            let reference = compare::Detail::read(&p.reference_dir, &p.shape)?;
            Some((p.reference.run.as_str(), (sim, reference)))
        })
        .collect();
    // Whether each side kept up, by the report's rule (read before the rows: it may fail).
    let kept_up: BTreeMap<&str, (bool, bool)> = pairs
        .iter()
        .map(|p| {
            let sim = cohort_reports::kept_up(p.sim, &p.sim_dir)?;
            let reference = cohort_reports::kept_up(p.reference, &p.reference_dir)?;
            Ok((p.reference.run.as_str(), (sim, reference)))
        })
        .collect::<Result<_>>()
        .context("reading whether the runs kept up")?;
    let rows = compare::rows(
        pairs,
        |run| details.get(run).and_then(|(s, l)| compare::agreement(s, l)),
        |p| kept_up[p.reference.run.as_str()],
    );
    let mut writer = CsvWriter::<cohort_schema::CompareRow>::create(into, param_names)?;
    for row in &rows {
        writer.write(row)?;
    }
    writer.finish()?;
    let notes = pairs
        .iter()
        .map(|p| {
            let run = p.reference.run.clone();
            let (ratios, handoffs) = details
                .get(run.as_str())
                .map_or_else(Default::default, |(s, l)| {
                    (compare::cost_ratios(s, l), compare::handoffs(s, l))
                });
            let notes = compare::Notes {
                ratios,
                handoffs,
                sim: compare::Settling::read(&p.sim_dir),
                reference: compare::Settling::read(&p.reference_dir),
                timeline: details
                    .get(run.as_str())
                    .and_then(|(s, l)| Some((s.timeline.clone()?, l.timeline.clone()?))),
                cpu: compare::Cpu::read(&p.sim_dir).zip(compare::Cpu::read(&p.reference_dir)),
            };
            (run, notes)
        })
        .collect();
    let table = compare::markdown(&rows, param_names, reference, &notes);
    std::fs::write(into.join("compare.md"), table).context("writing compare.md")?;
    // One report with every source on the same figures.
    cohort_reports::render(
        &into.join("sim"),
        &into.join("report"),
        &cohort_reports::ReportOptions {
            with: others,
            ..Default::default()
        },
    )
    .context("drawing the report")?;
    Ok(rows)
}

/// Prints each compared run's mean latency on both sides and the simulator's error.
fn print_comparison(rows: &[cohort_schema::CompareRow], reference: &str) -> Result<()> {
    let mut o = std::io::stdout().lock();
    let label = format!("{reference} mean ms");
    let width = label.len().max(12);
    writeln!(
        o,
        "{:<60} {label:>width$} {:>12} {:>9}",
        "run", "sim mean ms", "error"
    )?;
    for r in rows {
        let error = if r.mean_error.0.is_nan() {
            "–".to_string()
        } else {
            format!("{:.1}%", r.mean_error.0 * 100.0)
        };
        writeln!(
            o,
            "{:<60} {:>width$.3} {:>12.3} {:>9}",
            r.run, r.live_mean_ms.0, r.sim_mean_ms.0, error
        )?;
    }
    Ok(())
}

fn cmd_calibrate(out: &Path, request: calibrate::Request, force: bool) -> Result<()> {
    if out.exists() && !force {
        bail!(
            "{} already exists (pass --force to replace it)",
            out.display()
        );
    }
    let profile = calibrate::calibrate(&request, &mut |what| {
        let _ = writeln!(std::io::stderr(), "calibrating: {what}");
    })?;
    output::write_atomically(out, profile.as_bytes())?;
    writeln!(std::io::stdout().lock(), "wrote {}", out.display())?;
    Ok(())
}

fn cmd_node(a: NodeArgs) -> Result<()> {
    let timeout = cohort_workloads::units::parse_duration(&a.connect_timeout)
        .map_err(|e| anyhow::anyhow!("--connect-timeout {}: {e}", a.connect_timeout))?;
    live::node(
        a.head,
        a.node,
        a.data,
        std::time::Duration::from_nanos(timeout),
        a.parent,
        a.spill_dir.unwrap_or_else(std::env::temp_dir),
    )?;
    Ok(())
}

fn run_and_write(spec: &RunSpec, dir: &Path, check: bool) -> Result<SummaryRow> {
    let total = match spec.resolved.schedule.end {
        End::Duration(d) => d / 1_000_000,
        End::Iterations(n) => n * spec.resolved.schedule.period / 1_000_000,
    };
    let mut progress = sweep::Progress::new(total, "virtual ms");
    let out = run::execute(
        spec,
        &mut |now| progress.set(now / 1_000_000),
        Trace::default(),
    )?;
    progress.finish();
    output::write_run(dir, spec, &out, output::Detail::Full)?;
    if check {
        // Never committed: dropping it removes the second run's files.
        let second = output::stage(&dir.with_extension("check"), true)?;
        let again = run::execute(spec, &mut |_| {}, Trace::default())?;
        output::write_run(second.path(), spec, &again, output::Detail::Full)?;
        let differ = output::differing_csvs(dir, second.path())?;
        if !differ.is_empty() {
            bail!(
                "the same run twice gave different output in: {}",
                differ.join(", ")
            );
        }
    }
    let row = output::summary_row(spec, &out);
    // What went wrong in the cluster is a result: written, and said.
    let mut err = std::io::stderr().lock();
    if let Some(first) = &out.first_failure {
        writeln!(
            err,
            "note: {} piece(s) of work failed, {} datapoint(s) missing; the first failure: {first}",
            row.failed, row.datapoints_lost
        )?;
    }
    if row.unfinished > 0 {
        let latency = if row.datapoints == 0 {
            "no datapoint was measured".to_string()
        } else {
            format!("latency grew {:.1} ms/s", row.growth_ms_per_s.0)
        };
        writeln!(
            err,
            "note: the run stopped with {} piece(s) of work unfinished (its drain after the last \
             iteration ran out: the cluster did not keep up; {latency})",
            row.unfinished
        )?;
    }
    Ok(row)
}

fn cmd_sweep(a: SweepArgs) -> Result<()> {
    let w = Workload::load(&a.workload)?;
    let shown = a.workload.display().to_string();
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(format!("{}-sweep", w.name())));
    let fixed = parse_sets(&a.set)?;
    let configs = parse_policy_configs(&a.policy_config)?;
    let profile = a.profile.as_deref().map(load_profile).transpose()?;
    let request = plan::Request {
        workload: &w,
        shown_path: &shown,
        policies: a.policies.clone(),
        seeds: a.seeds.clone(),
        fixed: &fixed,
        configs: &configs,
        detail: a.detail,
        profile: profile.as_ref().map(|(path, p)| (path.as_str(), p)),
        grid: grid_of(&a.vary)?,
    };
    let plan = plan::Plan::new(&request)?;
    if let Some(file) = &a.plan {
        return write_plan(&a, &plan, file, &dir);
    }
    run_plan(plan, a.shard, a.jobs, &dir, a.force, &dir)?;
    Ok(())
}
/// Writes `--plan FILE`: one command per run of `plan`, each a shard of one run.
fn write_plan(a: &SweepArgs, plan: &plan::Plan, file: &Path, dir: &Path) -> Result<()> {
    let m = &plan.manifest;
    let mut args = vec![
        a.workload.display().to_string(),
        "--policies".to_string(),
        plan.asked.join(","),
        "--seeds".to_string(),
        m.seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(","),
    ];
    for s in &a.set {
        args.extend(["--set".to_string(), s.clone()]);
    }
    for c in &a.policy_config {
        args.extend(["--policy-config".to_string(), c.clone()]);
    }
    if a.detail {
        args.push("--detail".to_string());
    }
    if let Some(p) = &a.profile {
        args.extend(["--profile".to_string(), p.display().to_string()]);
    }
    let shards = dir.with_file_name(format!(
        "{}.shards",
        dir.file_name()
            .map_or("sweep".into(), |n| n.to_string_lossy())
    ));
    let lines = plan::commands(&args, plan.specs.len(), &shards)?;
    if file.exists() && !a.force {
        bail!(
            "{} already exists (pass --force to replace it)",
            file.display()
        );
    }
    output::write_atomically(file, (lines.join("\n") + "\n").as_bytes())?;
    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "wrote {} commands to {}: run them in any order (e.g. `parallel < {}`, or line \
         $SLURM_ARRAY_TASK_ID of a job array), then combine the shards with\n  cohort merge {}/shard-* --out {}",
        lines.len(),
        file.display(),
        file.display(),
        shards.display(),
        dir.display()
    )?;
    Ok(())
}

/// Runs `plan` (or its slice `shard`) into `dir`, which the user will find at `shown` (a
/// different place when `dir` is inside a staging directory); returns the summary rows.
fn run_plan(
    mut plan: plan::Plan,
    shard: Option<plan::Shard>,
    jobs: Option<usize>,
    dir: &Path,
    force: bool,
    shown: &Path,
) -> Result<Vec<SummaryRow>> {
    let mut manifest = plan.manifest.clone();
    if let Some(shard) = shard {
        manifest.shard = Some(plan::ShardRecord {
            slice: shard,
            plan: plan.ids(),
        });
        let mut position = 0;
        plan.specs.retain(|_| {
            position += 1;
            shard.holds(position - 1)
        });
    }
    let specs = plan.specs;
    let param_names = output::param_names(&specs[0]);
    let detail = if manifest.detail {
        output::Detail::Full
    } else {
        output::Detail::Summary
    };
    let staging = output::stage(dir, force)?;
    let tmp = staging.path();
    let runs_dir = tmp.join("runs");
    std::fs::create_dir_all(&runs_dir)?;
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let started = std::time::Instant::now();
    let results = sweep::run_all(specs.clone(), jobs, &runs_dir, detail, &mut |spec, done| {
        if let Err(e) = &done.result {
            let _ = writeln!(std::io::stderr(), "run {} failed: {e}", spec.id());
        }
    });
    let mut rows = Vec::new();
    for r in &results {
        match &r.result {
            Ok(row) => rows.push(row.clone()),
            Err(_) => manifest.failed.push(specs[r.index].id()),
        }
    }
    let mut summary = CsvWriter::<SummaryRow>::create(tmp, &param_names)?;
    for row in &rows {
        summary.write(row)?;
    }
    summary.finish()?;
    plan::write_manifest(tmp, &manifest)?;
    staging.commit()?;
    print_table(&param_names, &rows)?;
    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "{} runs in {:.1} s wall; wrote {} ({})",
        specs.len(),
        started.elapsed().as_secs_f64(),
        shown.display(),
        output::human_size(output::size_on_disk(dir))
    )?;
    if !manifest.failed.is_empty() {
        bail!(
            "{} of {} runs failed (the others were written): {}",
            manifest.failed.len(),
            specs.len(),
            manifest.failed.join(", ")
        );
    }
    Ok(rows)
}

fn cmd_merge(shards: &[PathBuf], out: &Path, force: bool) -> Result<()> {
    let staging = output::stage(out, force)?;
    let (names, rows) = plan::merge(shards, staging.path())?;
    let failed = plan::read_manifest(staging.path())?.failed;
    staging.commit()?;
    print_table(&names, &rows)?;
    writeln!(
        std::io::stdout().lock(),
        "merged {} shards; wrote {} ({})",
        shards.len(),
        out.display(),
        output::human_size(output::size_on_disk(out))
    )?;
    if !failed.is_empty() {
        bail!(
            "{} runs of the sweep failed (the others were merged): {}",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// What `cohort repro` runs besides the write-up's sweep.
struct Extras {
    /// The same sweep with a live placement view.
    fresh_view: bool,
    /// The streaming run with a node killed mid-run.
    kill: bool,
    /// The sweep on the model of Ray v0.6's mechanisms.
    ray: bool,
    /// Its ablation.
    ablation: bool,
}

/// The rows of `cohort repro`'s ablation, after the physical profile and the Ray v0.6 model
/// with every mechanism: each turns one mechanism of `streaming-ray-v0.6.toml` off (the
/// `--set`s that do it).
const ABLATION: [(&str, &[(&str, &str)]); 11] = [
    (
        "without view accounting",
        &[("cluster.view_accounting", "none")],
    ),
    ("without spill-over", &[("cluster.spill_over", "false")]),
    (
        "pulls from the least busy holder",
        &[("cluster.pull_source", "fewest_outgoing")],
    ),
    (
        "fluid transport instead of chunked",
        &[("cluster.transport", "fluid")],
    ),
    (
        "without the single-flow cap",
        &[("cluster.flow_cap", "none")],
    ),
    (
        "without the NIC's token bucket",
        &[
            ("cluster.nic_baseline", "none"),
            ("cluster.nic_credit", "none"),
        ],
    ),
    (
        "reference counting instead of LRU",
        &[("cluster.object_lifetime", "refcount")],
    ),
    (
        "without the pull timeout",
        &[("recovery.pull_timeout", "0s")],
    ),
    (
        "without the forwarding stalls",
        &[("cluster.delayed_ack", "none")],
    ),
    (
        "without serialization cost",
        &[("cluster.serialize_rate", "none")],
    ),
    ("without jitter", &[("cluster.jitter", "none")]),
];

fn cmd_repro(
    out: Option<PathBuf>,
    force: bool,
    seeds: Vec<u64>,
    jobs: Option<usize>,
    extras: Extras,
    fixed: &BTreeMap<String, String>,
    detail: bool,
) -> Result<()> {
    let builtin = |(name, text): (&str, &str)| -> Result<(String, Workload)> {
        let shown = format!("built-in:{name}.toml");
        let w = Workload::parse(&shown, text)?;
        Ok((shown, w))
    };
    let writeup = builtin(cohort_workloads::SHIPPED[0])?;
    let ray = builtin(cohort_workloads::RAY_V0_6)?;
    let killing = builtin(cohort_workloads::KILL)?;
    // `kill.NAME=VALUE` sets only the killed-node runs (over a plain NAME=VALUE); every other
    // value all runs.
    let (mut common, mut kill_fixed) = (BTreeMap::new(), BTreeMap::new());
    for (k, v) in fixed {
        match k.strip_prefix("kill.") {
            Some(name) => {
                kill_fixed.insert(name.to_string(), v.clone());
            }
            None => {
                common.insert(k.clone(), v.clone());
                kill_fixed.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    let fixed = &common;
    let dir = out.unwrap_or_else(|| PathBuf::from("out").join("repro"));
    let started = std::time::Instant::now();
    let policies: Vec<String> = policy::REPRO.map(String::from).to_vec();
    let configs = BTreeMap::new();
    let sweep_of = |(shown, w): &(String, Workload),
                    fixed: &BTreeMap<String, String>,
                    policies: &[String],
                    seeds: &[u64],
                    into: &Path,
                    shown_as: &Path| {
        let plan = plan::Plan::new(&plan::Request {
            workload: w,
            shown_path: shown,
            policies: policies.to_vec(),
            seeds: seeds.to_vec(),
            fixed,
            configs: &configs,
            detail,
            profile: None,
            grid: None,
        })?;
        run_plan(plan, None, jobs, into, false, shown_as)
    };
    let sweep_into = |fixed: &BTreeMap<String, String>, into: &Path, shown_as: &Path| {
        sweep_of(&writeup, fixed, &policies, &seeds, into, shown_as)
    };
    // Build everything in a staging directory; move it into place at the end.
    let staging = output::stage(&dir, force)?;
    {
        sweep_into(fixed, &staging.path().join("sweep"), &dir.join("sweep"))?;
        let report = cohort_reports::render(
            &staging.path().join("sweep"),
            staging.path(),
            &Default::default(),
        )?;
        let mut o = std::io::stdout().lock();
        writeln!(o, "\n{}", report.table())?;
        for f in &report.findings {
            writeln!(o, "- {}: {}", f.section, f.text)?;
        }
        if extras.fresh_view {
            let fresh = staging.path().join("fresh-view");
            let mut fixed = fixed.clone();
            fixed.insert("heartbeat".to_string(), "0ms".to_string());
            std::fs::create_dir_all(&fresh)?;
            sweep_into(
                &fixed,
                &fresh.join("sweep"),
                &dir.join("fresh-view").join("sweep"),
            )?;
            let r = cohort_reports::render(&fresh.join("sweep"), &fresh, &Default::default())?;
            writeln!(
                o,
                "\nwith a live placement view (heartbeat 0 ms):\n{}",
                r.table()
            )?;
        }
        if extras.kill {
            let kill = staging.path().join("kill");
            std::fs::create_dir_all(&kill)?;
            sweep_of(
                &killing,
                &kill_fixed,
                &policies,
                &seeds,
                &kill.join("sweep"),
                &dir.join("kill").join("sweep"),
            )?;
            let r = cohort_reports::render(&kill.join("sweep"), &kill, &Default::default())?;
            writeln!(o, "\nwith node 2 killed mid-run:\n{}", r.table())?;
        }
        if extras.ray {
            let into = staging.path().join("ray-v0.6");
            std::fs::create_dir_all(&into)?;
            sweep_of(
                &ray,
                fixed,
                &policies,
                &seeds,
                &into.join("sweep"),
                &dir.join("ray-v0.6").join("sweep"),
            )?;
            let r = cohort_reports::render(&into.join("sweep"), &into, &Default::default())?;
            writeln!(o, "\non the model of Ray v0.6's mechanisms:\n{}", r.table())?;
            for f in &r.findings {
                writeln!(o, "- {}: {}", f.section, f.text)?;
            }
        }
        if extras.ablation {
            let into = staging.path().join("ablation");
            std::fs::create_dir_all(&into)?;
            // Random and group, the first seed: the write-up's two curves, like for like.
            let two: Vec<String> = ["random", "group"].map(String::from).to_vec();
            let first = seeds
                .first()
                .copied()
                .or_else(|| ray.1.sweep().ok().and_then(|s| s.seeds.first().copied()))
                .map_or_else(Vec::new, |s| vec![s]);
            let mut rows: Vec<(String, PathBuf)> = Vec::new();
            let mut row = |label: &str,
                           w: &(String, Workload),
                           sets: &[(&str, &str)],
                           name: &str|
             -> Result<()> {
                let mut fixed = fixed.clone();
                for (k, v) in sets {
                    fixed.insert(k.to_string(), v.to_string());
                }
                let sub = into.join(name);
                sweep_of(
                    w,
                    &fixed,
                    &two,
                    &first,
                    &sub,
                    &dir.join("ablation").join(name),
                )?;
                rows.push((label.to_string(), sub));
                Ok(())
            };
            row(
                "physical profile (streaming.toml)",
                &writeup,
                &[],
                "physical",
            )?;
            row("Ray v0.6 model, every mechanism", &ray, &[], "ray-v0.6")?;
            for (i, (label, sets)) in ABLATION.iter().enumerate() {
                row(label, &ray, sets, &format!("off-{}", i + 1))?;
            }
            let table = cohort_reports::ablation(&rows, &into)?;
            writeln!(
                o,
                "\nablation (random and group, one seed):\n{}",
                table.table()
            )?;
        }
    }
    staging.commit()?;
    writeln!(
        std::io::stdout().lock(),
        "\nrepro done in {:.1} s wall: wrote {} ({}); report at {}",
        started.elapsed().as_secs_f64(),
        dir.display(),
        output::human_size(output::size_on_disk(&dir)),
        dir.join("report.html").display()
    )?;
    Ok(())
}

fn cmd_report(
    dir: &Path,
    out: Option<PathBuf>,
    x: Option<String>,
    with: Vec<PathBuf>,
) -> Result<()> {
    let out = out.unwrap_or_else(|| dir.join("report"));
    let options = cohort_reports::ReportOptions {
        x_param: x,
        with,
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
    let (listed, shadowed) = policy::list();
    let width = listed
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0)
        .max(12);
    for p in listed {
        match p.check {
            Ok(()) if p.description.is_empty() => {
                writeln!(out, "{:<width$} ok      {}", p.name, p.source)?
            }
            Ok(()) => writeln!(
                out,
                "{:<width$} ok      {:<10} {}",
                p.name, p.source, p.description
            )?,
            Err(e) => {
                bad += 1;
                // The error names the plugin's path.
                writeln!(out, "{:<width$} BROKEN  {e}", p.name)?;
            }
        }
    }
    if !shadowed.is_empty() {
        writeln!(
            out,
            "\n{} plugin(s) on the search path have a built-in's name; `--policy NAME` runs the \
             built-in, a path runs the plugin:",
            shadowed.len()
        )?;
        for path in shadowed {
            writeln!(out, "  {}", path.display())?;
        }
    }
    if bad > 0 {
        bail!("{bad} plugin(s) failed their checks");
    }
    Ok(())
}
