//! A sweep as a plan: every run in order and the `sweep.toml` it writes. A plan runs whole,
//! as one slice of itself (`--shard K/N`), or as one command per run (`--plan FILE`) for a
//! batch system; `cohort merge` puts the slices back into the directory one sweep would have
//! written.

use crate::output;
use crate::policy::PolicySource;
use crate::replay::RecordedSweep;
use crate::run::RunSpec;
use anyhow::{Context, Result, bail};
use cohort_runtime::Clock;
use cohort_schema::{CsvReader, CsvWriter, SummaryRow};
use cohort_workloads::Workload;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What a sweep is asked to run: the workload and the choices of the command line.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The workload.
    pub workload: &'a Workload,
    /// Its path as the user gave it (recorded as given).
    pub shown_path: &'a str,
    /// Policies (empty: the workload's `sweep.policies`).
    pub policies: Vec<String>,
    /// Seeds (empty: the workload's `sweep.seeds`, or 1).
    pub seeds: Vec<u64>,
    /// Values fixed for every run (`--set`).
    pub fixed: &'a BTreeMap<String, String>,
    /// Configuration per policy name (`--policy-config POLICY=TOML`).
    pub configs: &'a BTreeMap<String, String>,
    /// A cost profile to apply under every run's values (`--profile`): its path as given,
    /// and the profile.
    pub profile: Option<(&'a str, &'a cohort_workloads::Profile)>,
    /// Whether runs write their per-task, per-transfer and per-eviction files.
    pub detail: bool,
    /// The grid to run instead of the workload's `[sweep.params]` (`--vary`): the varied
    /// parameters, and every point.
    pub grid: Option<cohort_workloads::Sweep>,
}

/// One slice of a plan: runs `index`, `index + count`, ... (1-based `index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which slice, from 1.
    pub index: usize,
    /// How many slices.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}`: expected K/N with 1 <= K <= N, e.g. 3/10");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether the run at `position` (0-based, in plan order) is in this slice.
    pub fn holds(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

/// A shard's record of the plan it is a slice of (in its `sweep.toml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// Which slice this directory holds.
    pub slice: Shard,
    /// Every run of the whole plan, in order.
    pub plan: Vec<String>,
}

/// `sweep.toml`: what a sweep ran. A shard's adds `shard`; everything else is the whole
/// plan's, so that merged shards write exactly what one sweep writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepManifest {
    /// The workload's name.
    pub workload: String,
    /// Its path as given.
    pub workload_file: String,
    /// Policies, in sweep order.
    pub policies: Vec<String>,
    /// Seeds, in sweep order.
    pub seeds: Vec<u64>,
    /// The cohort that ran it.
    pub cohort_version: String,
    /// Its git commit.
    pub git_commit: String,
    /// Runs in the plan.
    pub runs: usize,
    /// Runs that failed.
    pub failed: Vec<String>,
    /// Whether runs wrote their detail files.
    pub detail: bool,
    /// The published data set the workload reproduces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproduces: Option<String>,
    /// The swept parameters, in grid order.
    pub swept: Vec<String>,
    /// The values each swept parameter took.
    pub params: BTreeMap<String, Vec<String>>,
    /// Values fixed for every run (`--set`).
    pub fixed: BTreeMap<String, String>,
    /// Policy configurations by policy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policy_config: BTreeMap<String, String>,
    /// What each `param.*` column measures.
    pub param_units: BTreeMap<String, String>,
    /// Set in a shard's directory only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardRecord>,
}

/// A sweep's runs in order, and its manifest.
#[derive(Clone)]
pub struct Plan {
    /// The policies as asked for (names or paths, the workload's when none were given): what
    /// a command that runs a slice of the plan passes again.
    pub asked: Vec<String>,
    /// Every run, in sweep order: policy, then grid point, then seed.
    pub specs: Vec<RunSpec>,
    /// What `sweep.toml` says (with no failures yet).
    pub manifest: SweepManifest,
}

impl Plan {
    /// Expands `request` into runs; resolves every policy and every grid point first, so
    /// that bad input fails before anything runs.
    pub fn new(request: &Request<'_>) -> Result<Plan> {
        let w = request.workload;
        let mut sweep = w.sweep()?;
        if let Some(grid) = &request.grid {
            sweep.swept = grid.swept.clone();
            sweep.points = grid.points.clone();
        }
        let policies = if request.policies.is_empty() {
            sweep.policies.clone()
        } else {
            request.policies.clone()
        };
        if policies.is_empty() {
            bail!("no policies to sweep: pass --policies or list them in [sweep] policies");
        }
        let seeds = if !request.seeds.is_empty() {
            request.seeds.clone()
        } else if !sweep.seeds.is_empty() {
            sweep.seeds.clone()
        } else {
            vec![1]
        };
        for name in request.configs.keys() {
            if !policies.contains(name) {
                bail!(
                    "--policy-config {name}=...: `{name}` is not a policy of this sweep ({})",
                    policies.join(", ")
                );
            }
        }
        let config = |p: &String| request.configs.get(p).cloned().unwrap_or_default();
        let sources = policies
            .iter()
            .map(|p| PolicySource::resolve(p, &config(p)))
            .collect::<Result<Vec<_>>>()?;
        for (i, a) in sources.iter().enumerate() {
            if let Some(j) = sources[..i].iter().position(|b| b.name() == a.name()) {
                bail!(
                    "policies `{}` and `{}` both call themselves `{}`: their runs would share names",
                    policies[j],
                    policies[i],
                    a.name()
                );
            }
        }
        let mut specs = Vec::new();
        let mut grid: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (asked, source) in policies.iter().zip(&sources) {
            let policy_config = config(asked);
            for point in &sweep.points {
                let mut overrides = point.clone();
                overrides.retain(|k, _| !request.fixed.contains_key(k));
                for (k, v) in &overrides {
                    let values = grid.entry(k.clone()).or_default();
                    if !values.contains(v) {
                        values.push(v.clone());
                    }
                }
                overrides.extend(request.fixed.clone());
                let (resolved, profile) = crate::run::resolve(w, &overrides, request.profile)?;
                for &seed in &seeds {
                    specs.push(RunSpec {
                        workload_source: w.source().to_string(),
                        workload_path: request.shown_path.to_string(),
                        resolved: resolved.clone(),
                        overrides: overrides.clone(),
                        profile: profile.clone(),
                        policy: source.clone(),
                        policy_config: policy_config.clone(),
                        seed,
                        clock: Clock::Virtual,
                        deploy: crate::run::Deploy::InProcess,
                    });
                }
            }
        }
        // The same run can appear more than once when --set fixes a swept parameter: keep
        // the first.
        let mut seen = std::collections::BTreeSet::new();
        specs.retain(|s| seen.insert(s.id()));
        let swept = sweep
            .swept
            .iter()
            .filter(|p| !request.fixed.contains_key(*p))
            .cloned()
            .collect();
        let mut manifest = SweepManifest::of(w, request.shown_path, &specs, swept, grid);
        manifest.policies = sources.iter().map(PolicySource::name).collect();
        manifest.seeds = seeds;
        manifest.detail = request.detail;
        manifest.fixed = request.fixed.clone();
        manifest.policy_config = request.configs.clone();
        Ok(Plan {
            asked: policies,
            specs,
            manifest,
        })
    }

    /// A plan that simulates every run of a recorded sweep as it was placed (`cohort compare
    /// --replay`), in the sweep's order: each run with the values it ran with, its seed and
    /// its placements, under `profile`. `fixed` may add values to every run (cluster and
    /// model keys) but not change one a run was recorded with: neither one it was given nor
    /// a workload parameter's (its manifest's `[params]`).
    pub fn replaying(
        w: &Workload,
        shown_path: &str,
        sweep: &RecordedSweep,
        fixed: &BTreeMap<String, String>,
        profile: Option<(&str, &cohort_workloads::Profile)>,
    ) -> Result<Plan> {
        if sweep.workload != w.name() {
            bail!(
                "--replay {}: its runs are of workload `{}`, not `{}`",
                sweep.dir.display(),
                sweep.workload,
                w.name()
            );
        }
        let mut specs: Vec<RunSpec> = Vec::new();
        let mut grid: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for run in &sweep.runs {
            let mut overrides = run.manifest.set.clone();
            for (k, v) in fixed {
                let recorded = run.manifest.set.get(k).or(run.manifest.params.get(k));
                if let Some(old) = recorded
                    && old != v
                {
                    bail!(
                        "--set {k}={v}: run {} of the replayed sweep ran with {k}={old}",
                        run.summary.run
                    );
                }
                overrides.insert(k.clone(), v.clone());
            }
            for k in &sweep.swept {
                if let Some(v) = overrides.get(k) {
                    let values = grid.entry(k.clone()).or_default();
                    if !values.contains(v) {
                        values.push(v.clone());
                    }
                }
            }
            let (resolved, profile) = crate::run::resolve(w, &overrides, profile)?;
            let spec = RunSpec {
                workload_source: w.source().to_string(),
                workload_path: shown_path.to_string(),
                resolved,
                overrides,
                profile,
                policy: PolicySource::Replay {
                    sha256: crate::policy::sha256_of(&run.recorded.path)?,
                    recorded: run.recorded.clone(),
                },
                policy_config: String::new(),
                seed: run.manifest.seed,
                clock: Clock::Virtual,
                deploy: crate::run::Deploy::InProcess,
            };
            if let Some(twin) = specs.iter().position(|s| s.id() == spec.id()) {
                bail!(
                    "--replay {}: runs {} and {} would replay under one name ({})",
                    sweep.dir.display(),
                    sweep.runs[twin].summary.run,
                    run.summary.run,
                    spec.id()
                );
            }
            specs.push(spec);
        }
        // Every run's value of a parameter the sweep did not vary.
        let mut common = specs[0].overrides.clone();
        common.retain(|k, v| {
            !sweep.swept.contains(k) && specs.iter().all(|s| s.overrides.get(k) == Some(v))
        });
        let mut manifest = SweepManifest::of(w, shown_path, &specs, sweep.swept.clone(), grid);
        for s in &specs {
            let name = s.policy.name();
            if !manifest.policies.contains(&name) {
                manifest.policies.push(name);
            }
            if !manifest.seeds.contains(&s.seed) {
                manifest.seeds.push(s.seed);
            }
        }
        manifest.detail = true;
        manifest.fixed = common;
        Ok(Plan {
            asked: manifest.policies.clone(),
            specs,
            manifest,
        })
    }

    /// The run ids, in plan order.
    pub fn ids(&self) -> Vec<String> {
        self.specs.iter().map(RunSpec::id).collect()
    }
}

impl SweepManifest {
    /// The manifest of a plan of `specs` (at least one) of `w`, swept over `swept` with the
    /// values `params`; no policy, seed, fixed value or configuration yet, and no detail.
    fn of(
        w: &Workload,
        shown_path: &str,
        specs: &[RunSpec],
        swept: Vec<String>,
        params: BTreeMap<String, Vec<String>>,
    ) -> SweepManifest {
        let first = &specs[0];
        SweepManifest {
            workload: w.name().to_string(),
            workload_file: shown_path.to_string(),
            policies: Vec::new(),
            seeds: Vec::new(),
            cohort_version: output::VERSION.to_string(),
            git_commit: output::GIT_COMMIT.to_string(),
            runs: specs.len(),
            failed: Vec::new(),
            detail: false,
            reproduces: first.resolved.reproduces.clone(),
            swept,
            params,
            fixed: BTreeMap::new(),
            policy_config: BTreeMap::new(),
            param_units: output::param_units(first)
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect(),
            shard: None,
        }
    }
}

/// Quotes one word for a POSIX shell.
fn quote(word: &str) -> Result<String> {
    shlex::try_quote(word)
        .map(|q| q.into_owned())
        .with_context(|| format!("`{word}` cannot be written as a shell word"))
}

/// The lines of `--plan FILE`: one self-contained shell command per run, each running one
/// shard of `runs` into `shards_dir/shard-K`. `args` are the sweep's own arguments (workload,
/// policies, seeds, sets, configs, detail), already explicit.
pub fn commands(args: &[String], runs: usize, shards_dir: &Path) -> Result<Vec<String>> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let exe = std::env::current_exe().context("finding the cohort executable")?;
    let prefix = format!(
        "cd {} && {} sweep {}",
        quote(&cwd.to_string_lossy())?,
        quote(&exe.to_string_lossy())?,
        args.iter()
            .map(|a| quote(a))
            .collect::<Result<Vec<_>>>()?
            .join(" ")
    );
    let width = runs.to_string().len();
    (1..=runs)
        .map(|k| {
            let out = shards_dir.join(format!("shard-{k:0width$}"));
            Ok(format!(
                "{prefix} --jobs 1 --shard {k}/{runs} --force --out {}",
                quote(&out.to_string_lossy())?
            ))
        })
        .collect()
}

/// Reads the `sweep.toml` of a sweep or shard directory.
pub fn read_manifest(dir: &Path) -> Result<SweepManifest> {
    let path = dir.join("sweep.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: not a sweep directory", dir.display()))?;
    toml::from_str(&text).with_context(|| format!("reading {}", path.display()))
}

/// Writes `sweep.toml` into `dir`.
pub fn write_manifest(dir: &Path, manifest: &SweepManifest) -> Result<()> {
    let path = dir.join("sweep.toml");
    std::fs::write(&path, toml::to_string(manifest)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Combines the shard directories `shards` (every slice of one plan, each once) into the
/// sweep directory `staged` (empty): the runs, `summary.csv` in plan order and `sweep.toml`,
/// exactly as one `cohort sweep` would have written them. Returns the summary rows.
pub fn merge(shards: &[PathBuf], staged: &Path) -> Result<(Vec<String>, Vec<SummaryRow>)> {
    let mut common: Option<(SweepManifest, Vec<String>, usize, PathBuf)> = None;
    let mut slices: BTreeMap<usize, PathBuf> = BTreeMap::new();
    let mut failed: Vec<String> = Vec::new();
    let mut rows: BTreeMap<String, SummaryRow> = BTreeMap::new();
    let mut param_names: Option<Vec<String>> = None;
    for dir in shards {
        let mut m = read_manifest(dir)?;
        let Some(shard) = m.shard.take() else {
            bail!(
                "{}: not a shard (its sweep.toml has no `shard`): merge takes the directories \
                 of `cohort sweep --shard K/N`",
                dir.display()
            );
        };
        failed.append(&mut m.failed);
        let (first, plan, count, first_dir) = common.get_or_insert_with(|| {
            (
                m.clone(),
                shard.plan.clone(),
                shard.slice.count,
                dir.clone(),
            )
        });
        if *first != m || *plan != shard.plan || shard.slice.count != *count {
            bail!(
                "{} and {} are slices of different sweeps (their sweep.toml differ)",
                first_dir.display(),
                dir.display()
            );
        }
        if let Some(other) = slices.insert(shard.slice.index, dir.clone()) {
            bail!(
                "{} and {} are both slice {}",
                other.display(),
                dir.display(),
                shard.slice
            );
        }
        let mut reader = CsvReader::<SummaryRow>::open(dir)?;
        match &param_names {
            None => param_names = Some(reader.param_names().to_vec()),
            Some(names) if names != reader.param_names() => {
                bail!("{}: its summary.csv has other parameters", dir.display())
            }
            Some(_) => {}
        }
        for row in reader.rows() {
            let (_, row) = row?;
            let from = dir.join("runs").join(&row.run);
            copy_tree(&from, &staged.join("runs").join(&row.run))?;
            rows.insert(row.run.clone(), row);
        }
    }
    let Some((mut manifest, plan, count, _)) = common else {
        bail!("nothing to merge: name the shard directories");
    };
    let missing: Vec<String> = (1..=count)
        .filter(|k| !slices.contains_key(k))
        .map(|k| format!("{k}/{count}"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "missing {} of {count} slices: {}",
            missing.len(),
            missing.join(", ")
        );
    }
    failed.sort_by_key(|id| plan.iter().position(|p| p == id));
    manifest.failed = failed;
    let names = param_names.unwrap_or_default();
    let mut summary = CsvWriter::<SummaryRow>::create(staged, &names)?;
    let mut ordered = Vec::new();
    for id in &plan {
        if let Some(row) = rows.remove(id) {
            summary.write(&row)?;
            ordered.push(row);
        }
    }
    summary.finish()?;
    write_manifest(staged, &manifest)?;
    Ok((names, ordered))
}

/// Copies the directory `from` to `to` (hard links where the file system allows).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            copy_tree(&src, &dst)?;
        } else if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst)
                .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_plan_round_robin_and_cover_it_once() {
        let shards: Vec<Shard> = (1..=3).map(|k| Shard { index: k, count: 3 }).collect();
        for position in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.holds(position)).count(), 1);
        }
        assert!(shards[0].holds(0) && shards[0].holds(3) && shards[2].holds(5));
        assert_eq!("2/7".parse::<Shard>(), Ok(Shard { index: 2, count: 7 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            let e = bad.parse::<Shard>().expect_err(bad);
            assert!(e.contains("expected K/N"), "{e}");
        }
    }
}
