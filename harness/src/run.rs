//! One run: a resolved workload, a policy, a seed and a clock, executed on a fresh cluster.

use crate::live::Live;
use crate::policy::PolicySource;
use crate::replay::{Groups, Replay, Tally};
use anyhow::{Context, Result};
use cohort_live::message::NodeCounters;
use cohort_runtime::policy::Policy;
use cohort_runtime::trace::Counters;
use cohort_runtime::{Clock, Cluster, ClusterConfig, HintAgreement, HostWork, Nanos, Trace};
use cohort_workloads::{Resolved, cluster_config, drive_observed, registry};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything that defines a run.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// The workload file's text (for the manifest).
    pub workload_source: String,
    /// Where it was read from, as given.
    pub workload_path: String,
    /// The workload with its parameters bound.
    pub resolved: Resolved,
    /// The parameters set on the command line or by the sweep (they name the run).
    pub overrides: BTreeMap<String, String>,
    /// A cost profile applied under `overrides` (`--profile`), if any: its path as given,
    /// and the values it set (they do not name the run; the manifest lists them).
    pub profile: Option<AppliedProfile>,
    /// The policy.
    pub policy: PolicySource,
    /// The policy's configuration (TOML text).
    pub policy_config: String,
    /// The seed.
    pub seed: u64,
    /// The clock (of a run in this process).
    pub clock: Clock,
    /// Where the cluster runs.
    pub deploy: Deploy,
}

/// Where a run's cluster runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deploy {
    /// In this process, on [`RunSpec::clock`].
    InProcess,
    /// A head (this process) and node processes (live, in real time).
    Processes(Live),
}

/// A run's profile: its path as shown, and the values it set.
pub type AppliedProfile = (String, BTreeMap<String, String>);

/// Every value a workload is resolved with: `profile`'s, then `overrides` on top.
fn all_sets(
    profile: Option<&AppliedProfile>,
    overrides: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut all = profile.map(|(_, sets)| sets.clone()).unwrap_or_default();
    all.extend(overrides.clone());
    all
}

/// Resolves `w` with `overrides`, under `profile` (its path as shown, and the profile) if
/// there is one: the workload, and the values the profile set that `overrides` does not.
pub fn resolve(
    w: &cohort_workloads::Workload,
    overrides: &BTreeMap<String, String>,
    profile: Option<(&str, &cohort_workloads::Profile)>,
) -> Result<(Resolved, Option<AppliedProfile>)> {
    let applied = match profile {
        Some((path, p)) => {
            let mut sets = p.apply(path, w, overrides)?;
            sets.retain(|k, _| !overrides.contains_key(k));
            Some((path.to_string(), sets))
        }
        None => None,
    };
    let resolved = w.resolve(&all_sets(applied.as_ref(), overrides))?;
    Ok((resolved, applied))
}

/// What follows the policy in the id of a run with `overrides` ([`RunSpec::id`]), before its
/// seed: `-KEY=VALUE` for each, in key order, made safe for a file name. Past
/// [`MAX_SUFFIX`] bytes it is cut and ends in `-h` and 12 hex digits of the SHA-256 of the
/// whole (a file name has at most 255 bytes; the manifest's `[set]` keeps every value).
pub fn id_suffix(overrides: &BTreeMap<String, String>) -> String {
    let mut suffix = String::new();
    for (k, v) in overrides {
        suffix.push('-');
        suffix.push_str(k);
        suffix.push('=');
        suffix.push_str(v);
    }
    let suffix = file_name_safe(&suffix);
    if suffix.len() <= MAX_SUFFIX {
        return suffix;
    }
    let digest = crate::policy::sha256_hex(suffix.as_bytes());
    // The safe text is ASCII: any byte is a character boundary.
    format!("{}-h{}", &suffix[..MAX_SUFFIX - 14], &digest[..12])
}

/// The longest id suffix kept whole: with a policy's name, the seed and a staging
/// directory's temporary name around it, a run's directory name stays under 255 bytes.
pub const MAX_SUFFIX: usize = 160;

/// `text` with every character but ASCII letters, digits and `._=-` replaced by `_`.
fn file_name_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl RunSpec {
    /// Every value the workload was resolved with: the profile's, then `overrides` on top.
    pub fn all_sets(&self) -> BTreeMap<String, String> {
        all_sets(self.profile.as_ref(), &self.overrides)
    }

    /// A name for the run directory: policy, overridden parameters, seed.
    pub fn id(&self) -> String {
        format!(
            "{}{}-seed{}",
            file_name_safe(&self.policy.name()),
            id_suffix(&self.overrides),
            self.seed
        )
    }

    /// "virtual" or "real" (a live run's clock is real).
    pub fn clock_name(&self) -> &'static str {
        match (&self.deploy, self.clock) {
            (Deploy::Processes(_), _) | (Deploy::InProcess, Clock::Real { .. }) => "real",
            (Deploy::InProcess, Clock::Virtual) => "virtual",
        }
    }

    /// "in-process" or "processes".
    pub fn deploy_name(&self) -> &'static str {
        match self.deploy {
            Deploy::InProcess => "in-process",
            Deploy::Processes(_) => "processes",
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutput {
    /// Every record.
    pub trace: Trace,
    /// Running totals.
    pub counters: Counters,
    /// Time when the cluster went idle.
    pub end: Nanos,
    /// Iterations submitted.
    pub iterations: u64,
    /// Datapoints the workload's recording work should have recorded (one per submission).
    pub datapoints_expected: u64,
    /// Work (tasks and calls) still unfinished when the run stopped: its drain after the last
    /// iteration ran out (see the workload's `schedule.drain`); 0 when it finished everything.
    pub unfinished: u64,
    /// The first failure's message, if work failed (a result of the run, counted in its
    /// summary, not an error of it).
    pub first_failure: Option<String>,
    /// Wall-clock time taken.
    pub wall: Duration,
    /// A live run's nodes' counters, by node id (empty for a run in this process).
    pub nodes: BTreeMap<u32, NodeCounters>,
    /// A live run's head: the CPU time this process used over the run, all threads (the
    /// driver, the core and the head's I/O share one), ns; `None` for a run in this process.
    pub head_cpu_ns: Option<u64>,
    /// A simulated run's work charged to the host's cores, when its model shares them
    /// (`cluster.host_cores`): the CPU time the model gives the nodes, to set against a live
    /// run's; `None` otherwise and for a live run.
    pub host_work: Option<HostWork>,
    /// Every constructed actor's total at the end (see `cohort_workloads::program`), by id.
    pub actor_totals: BTreeMap<u64, u64>,
    /// With inferred hints, how often they equalled the declared ones.
    pub hints: Option<HintAgreement>,
    /// With `--replay`, how its placements came from the recording.
    pub replay: Option<Tally>,
    /// The stage and iteration of each group of work the workload's driver built, by group
    /// id (`tasks.csv` names each task's).
    pub stages: StageOfGroup,
}

/// The stage (by name) and iteration of each group the workload's driver built, by group id.
pub type StageOfGroup = BTreeMap<u64, (String, u64)>;

/// Runs `spec`; `progress` is told the cluster's time after each iteration. A simulated run
/// records into `spare`'s memory (an earlier run's trace, written out; see
/// [`Trace::recycle`]); pass `Trace::default()` when there is none.
pub fn execute(spec: &RunSpec, progress: &mut dyn FnMut(Nanos), spare: Trace) -> Result<RunOutput> {
    if let Deploy::Processes(live) = &spec.deploy {
        return crate::live::execute(spec, live, progress);
    }
    let started = Instant::now();
    // A replay is told which stage and iteration each group is; `tasks.csv` names them too.
    let replaying = matches!(spec.policy, PolicySource::Replay { .. });
    let groups = Groups::default();
    let mut stages = StageOfGroup::new();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let policy: Box<dyn Policy> = match &spec.policy {
        PolicySource::Replay { recorded, .. } => Box::new(Replay::new(
            Arc::clone(recorded),
            Arc::clone(&groups),
            Arc::clone(&tally),
        )),
        other => other
            .create(&spec.policy_config, spec.seed)
            .with_context(|| format!("creating policy `{}`", other.name()))?,
    };
    let w = &spec.resolved;
    let mut cluster = Cluster::new(
        w.spec.clone(),
        registry(w).context("registering the workload's task kinds")?,
        policy,
        ClusterConfig {
            seed: spec.seed,
            ..cluster_config(w, spec.clock)
        },
    )?;
    cluster.recycle_trace(spare);
    let report = drive_observed(
        w,
        &mut cluster,
        &mut |c: &Cluster| progress(c.now()),
        &mut |b| {
            let stage = (b.stage.to_string(), b.iteration);
            stages.insert(b.group.0, stage.clone());
            // A replay places the work of stage outputs only: a peer names the levels of a
            // repeated map by the stage alone, so their indices would meet in its recording.
            if replaying
                && b.output
                && let Ok(mut g) = groups.lock()
            {
                g.insert(b.group, stage);
            }
        },
    )
    .with_context(|| {
        format!(
            "run {} failed at {:.3} s",
            spec.id(),
            cluster.now() as f64 / 1e9
        )
    })?;
    Ok(RunOutput {
        trace: cluster.take_trace(),
        counters: cluster.counters(),
        end: cluster.now(),
        iterations: report.iterations,
        datapoints_expected: report.datapoints_expected,
        unfinished: report.unfinished,
        first_failure: report.first_failure,
        wall: started.elapsed(),
        nodes: BTreeMap::new(),
        head_cpu_ns: None,
        host_work: cluster.host_work(),
        actor_totals: report.actor_totals.iter().map(|(a, t)| (a.0, *t)).collect(),
        hints: cluster.hint_agreement(),
        replay: replaying.then(|| *tally.lock().unwrap_or_else(|e| e.into_inner())),
        stages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_id_suffix_is_cut_and_named_by_its_digest() {
        let short = BTreeMap::from([("data_size".to_string(), "1KB".to_string())]);
        assert_eq!(id_suffix(&short), "-data_size=1KB");
        let long: BTreeMap<String, String> = (0..20)
            .map(|i| (format!("tasks.kind{i}.fixed"), "150us".to_string()))
            .collect();
        let a = id_suffix(&long);
        assert_eq!(a.len(), MAX_SUFFIX);
        assert!(a.starts_with("-tasks.kind0.fixed=150us-"), "{a}");
        let mut other = long.clone();
        other.insert("tasks.kind9.fixed".to_string(), "151us".to_string());
        let b = id_suffix(&other);
        assert_eq!(a[..MAX_SUFFIX - 14], b[..MAX_SUFFIX - 14]);
        assert_ne!(a, b, "the digest tells them apart");
    }
}
