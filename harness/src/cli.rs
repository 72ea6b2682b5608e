//! The command line: `cohort`'s commands and their arguments (clap), and the parsing of
//! argument values that clap leaves as text.

use crate::plan;
use anyhow::{Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use cohort_runtime::Clock;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "cohort",
    version,
    about = "A workbench for task-placement policies"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ClockArg {
    /// Discrete-event virtual time (deterministic).
    Virtual,
    /// Wall-clock time, code on worker threads, modeled durations added.
    Real,
}

/// Where a run's cluster runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DeployArg {
    /// In this process, on the clock `--clock` chooses (the simulator by default).
    InProcess,
    /// A head (this process) and node processes that run the code on real bytes and move
    /// them over TCP: a live run, in real time.
    Processes,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Runs one workload with one policy and writes a run directory.
    Run(RunArgs),
    /// Runs policies x parameter points x seeds (the workload's `[sweep]` by default).
    ///
    /// Per-run CSVs are gzip-compressed (`*.csv.gz`); the per-task, per-transfer and
    /// per-eviction files are written only with `--detail`. A sweep too big for one machine
    /// goes to a batch system: `--plan FILE` writes one command per run, `--shard K/N` runs
    /// one slice, and `cohort merge` combines the slices.
    Sweep(SweepArgs),
    /// Reproduces the write-up: its sweep for random, group and locality on the virtual
    /// clock, then the figures and the report, all under one directory; then the same with a
    /// live placement view (`fresh-view/`), the streaming run with a node killed mid-run
    /// (`kill/`: how each policy recovers), the sweep on a model of Ray v0.6's mechanisms
    /// (`ray-v0.6/`, with the write-up's three claims as measured) and its ablation
    /// (`ablation/`: each mechanism off in turn).
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
        /// Skip the runs with a node killed mid-run.
        #[arg(long)]
        no_kill: bool,
        /// Skip the sweep on the model of Ray v0.6's mechanisms (`ray-v0.6/`) and its
        /// ablation (`ablation/`).
        #[arg(long)]
        no_ray: bool,
        /// Skip only the ablation: one sweep per Ray v0.6 mechanism turned off (random and
        /// group, the first seed), each mechanism's part in the write-up's three claims.
        #[arg(long)]
        no_ablation: bool,
        /// Fixes a value for every run: a parameter NAME=VALUE or a key of the file such as
        /// cluster.nodes=10 (repeatable; e.g. a shorter `duration` for a quick look);
        /// `kill.NAME=VALUE` only for the runs with a node killed (e.g. kill.kill_at=2s).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Also write each run's per-task, per-transfer and per-eviction CSVs (large).
        #[arg(long)]
        detail: bool,
    },
    /// Combines the shard directories of `cohort sweep --shard K/N` (every slice of one
    /// sweep, each once) into the sweep directory one `cohort sweep` would have written.
    Merge {
        /// The shard directories.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// The sweep directory to write.
        #[arg(long)]
        out: PathBuf,
        /// Replace the output directory if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Redraws the figures and the report of a sweep directory from its CSVs.
    Report {
        /// A directory written by `cohort sweep`, `cohort repro` or `cohort run`.
        dir: PathBuf,
        /// Where to write [default: DIR/report].
        #[arg(long)]
        out: Option<PathBuf>,
        /// The parameter on the x axis [default: the sweep's first swept parameter]. When
        /// other parameters vary too, each combination of their values is its own series.
        #[arg(long)]
        x: Option<String>,
        /// Another sweep directory to draw on the same figures (repeatable): e.g. a live
        /// sweep beside a simulated one, or a Ray peer's (`peers/ray/`). Each series is then
        /// "POLICY (SOURCE)"; the sweeps must have the same parameter columns.
        #[arg(long, value_name = "DIR")]
        with: Vec<PathBuf>,
    },
    /// Checks workload files without running them.
    Validate {
        /// Workload files.
        #[arg(required = true)]
        workloads: Vec<PathBuf>,
    },
    /// Prints a workload with every parameter bound (sizes in bytes, times in ns) as TOML:
    /// what a runtime outside cohort reads to run the same program (`peers/ray/`).
    Resolve {
        /// The workload file (TOML).
        workload: PathBuf,
        /// Sets a parameter NAME=VALUE or a key of the file (repeatable), as for `cohort run`.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// A cost profile applied under the `--set` values (`cohort calibrate`).
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
    },
    /// Measures what the live runtime costs on this machine (tasks of each class of code at
    /// several sizes, transfers, submissions) on node processes, and writes a cost profile
    /// for `--profile`, each number with the measurements it came from.
    Calibrate {
        /// The profile to write.
        #[arg(long)]
        out: PathBuf,
        /// Node processes (at least 2).
        #[arg(long, default_value_t = 2)]
        nodes: u32,
        /// Measurements per size.
        #[arg(long, default_value_t = 10)]
        samples: usize,
        /// Sessions (fresh clusters of node processes) to pool. The fixed costs are measured in
        /// every one and move the most from one to the next, so more sessions repeat better at
        /// small sizes (each takes under a second).
        #[arg(long, default_value_t = crate::calibrate::DEFAULT_SESSIONS)]
        sessions: usize,
        /// How many of the sessions, spread evenly, also measure the larger sizes and a
        /// transfer's copies (each takes a few seconds); the rates repeat better with more.
        #[arg(long, default_value_t = crate::calibrate::DEFAULT_FULL_SESSIONS)]
        full_sessions: usize,
        /// The rate each node sends at, to emulate a NIC (e.g. 10Gbit/s) [default: none,
        /// as fast as the sockets go].
        #[arg(long, value_name = "RATE")]
        nic_rate: Option<String>,
        /// Replace the profile if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Runs a workload on the simulator with a cost profile and live on node processes, run
    /// for run, and writes both (`sim/`, `live/`, sweeps that `cohort report` draws),
    /// `compare.csv` (each run's latency and bytes side by side, with the simulator's error),
    /// `compare.md` (the same as a table, the error per policy, where the time went, and the
    /// runs still settling after their warm-up) and `report/` (every source on the same
    /// figures).
    ///
    /// With `--replay SWEEP_DIR` the reference is a recorded sweep instead (a Ray peer's):
    /// nothing runs live, and each of its runs is simulated with the values it ran with, its
    /// seed and its own placements (as `cohort run --replay`), so that the error is the cost
    /// model's alone.
    Compare {
        /// The workload file (TOML).
        workload: PathBuf,
        /// The cost profile the simulator runs with (`cohort calibrate`).
        #[arg(long, value_name = "FILE")]
        profile: PathBuf,
        /// Policies [default: the workload's sweep.policies].
        #[arg(long, value_delimiter = ',')]
        policies: Vec<String>,
        /// Seeds [default: 1].
        #[arg(long, value_delimiter = ',')]
        seeds: Vec<u64>,
        /// Fixes a value for every run (repeatable), as for `cohort sweep`.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// A recorded sweep of the same workload to compare against (a Ray peer's, with its
        /// runs' `placements.csv`): each of its runs is simulated as it was placed. Takes the
        /// runs, their values and seeds from the sweep (`--set` may add cluster and model
        /// keys, not change a value a run ran with), so not `--policies`, `--seeds`, `--sweep`, `--vary` or `--nic-rate`.
        #[arg(long, value_name = "SWEEP_DIR", conflicts_with_all = ["policies", "seeds", "sweep", "vary", "nic_rate"])]
        replay: Option<PathBuf>,
        /// Run the workload's whole sweep grid [default: its default point only].
        #[arg(long)]
        sweep: bool,
        /// The live nodes' sending rate (e.g. 10Gbit/s), also the simulator's
        /// `cluster.nic_bandwidth` unless `--set` gives one; or `none`: the live nodes send
        /// as fast as the sockets go [default: the workload's nic_bandwidth, with the
        /// profile's applied]. Paced live nodes limit only what they send, so the simulator
        /// runs with `cluster.nic_limits = "send"` (with the fluid transport) unless `--set`
        /// says otherwise.
        #[arg(long, value_name = "RATE")]
        nic_rate: Option<String>,
        /// Runs each value of a parameter (repeatable: every combination) instead of the
        /// workload's sweep grid, e.g. `--vary data_size=1KB,1MiB,4MiB,15MiB`.
        #[arg(long, value_name = "NAME=V1,V2,...")]
        vary: Vec<String>,
        /// A sweep directory of the same workload run elsewhere, drawn in the report beside
        /// the simulated and the live runs (repeatable): e.g. a Ray peer's (`peers/ray/`).
        #[arg(long, value_name = "DIR")]
        with: Vec<PathBuf>,
        /// The directory to write [default: out/WORKLOAD-compare].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the output directory if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Runs one node of a live cluster: joins the head of `cohort run --deploy processes`
    /// (from this or another host), runs what it is assigned, and exits when the run ends.
    Node(NodeArgs),
    /// Ranks policies across workloads: runs each policy at a few points of each workload's
    /// sweep (its first, last and evenly between) with a few seeds on the virtual clock, and
    /// writes `leaderboard.csv`, `leaderboard.md` and `leaderboard.svg`/`.png`: each run's
    /// mean latency over the best policy's at the same point and seed, per workload and over
    /// all, beside each workload's sweep (`sweeps/WORKLOAD/`).
    Leaderboard(LeaderboardArgs),
    /// Lists the policies cohort can find, and checks each.
    ///
    /// A plugin named NAME is the library libcohort_NAME.so (.dylib on macOS, .dll on
    /// Windows); `--policy NAME` finds it in the directory of the cohort executable and its
    /// parent (the workspace's build output), then in the directories of COHORT_POLICY_PATH
    /// (separated like PATH). `--policy PATH` loads a library by its path.
    Policies,
}

/// `cohort leaderboard`'s arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct LeaderboardArgs {
    /// Policies [default: every built-in one].
    #[arg(long, value_delimiter = ',')]
    pub(crate) policies: Vec<String>,
    /// A policy to rank beside them: a plugin's name or path (repeatable).
    #[arg(long, value_name = "NAME|PATH")]
    pub(crate) add: Vec<String>,
    /// Also rank group scheduling with each of its rules off in turn (group-no-pack,
    /// group-no-follow, group-random-fallback): which part earns its gain.
    #[arg(long)]
    pub(crate) ablations: bool,
    /// Also rank these policies [default: group] on the hints the runtime infers from
    /// the plain submissions (`cluster.hints = "inferred"`: "POLICY [inferred hints]") and
    /// on none ("POLICY [no hints]"), and write how often the inferred hints equal the
    /// IR's (`hints.csv`, and a section of leaderboard.md).
    #[arg(
        long,
        value_delimiter = ',',
        num_args = 0..,
        default_missing_value = "group",
        value_name = "POLICY"
    )]
    pub(crate) hints: Option<Vec<String>>,
    /// Workloads, by name [default: streaming, tree-reduce, param-server, join,
    /// streaming-ray-v0.6, streaming-kill].
    #[arg(long, value_delimiter = ',')]
    pub(crate) workloads: Vec<String>,
    /// Seeds.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub(crate) seeds: Vec<u64>,
    /// Points of each workload's sweep (at least 1; all of them if it has fewer).
    #[arg(long, default_value_t = 3)]
    pub(crate) points: usize,
    /// Runs at once [default: the machine's cores].
    #[arg(long)]
    pub(crate) jobs: Option<usize>,
    /// The directory to write [default: out/leaderboard].
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Replace the output directory if it exists.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct SweepArgs {
    /// The workload file (TOML).
    pub(crate) workload: PathBuf,
    /// Policies to compare [default: the workload's sweep.policies].
    #[arg(long, value_delimiter = ',')]
    pub(crate) policies: Vec<String>,
    /// Seeds [default: the workload's sweep.seeds, or 1].
    #[arg(long, value_delimiter = ',')]
    pub(crate) seeds: Vec<u64>,
    /// Fixes a value for every run: a parameter NAME=VALUE, or a key of the file such as
    /// cluster.nodes=10 (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub(crate) set: Vec<String>,
    /// Runs each value of a parameter (repeatable: every combination) instead of the
    /// workload's sweep grid, e.g. `--vary data_size=1KB,1MiB,4MiB,15MiB`.
    #[arg(long, value_name = "NAME=V1,V2,...")]
    pub(crate) vary: Vec<String>,
    /// A policy's configuration: POLICY=TOML (repeatable, one per policy).
    #[arg(long = "policy-config", value_name = "POLICY=TOML")]
    pub(crate) policy_config: Vec<String>,
    /// A cost profile (`cohort calibrate`) to apply to every run, under the values set.
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: Option<PathBuf>,
    /// Also write each run's per-task, per-transfer and per-eviction CSVs (large).
    #[arg(long)]
    pub(crate) detail: bool,
    /// Runs at once [default: the number of cores].
    #[arg(long)]
    pub(crate) jobs: Option<usize>,
    /// The sweep directory to write [default: out/WORKLOAD-sweep].
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Replace the output directory (or the plan file) if it exists.
    #[arg(long)]
    pub(crate) force: bool,
    /// Write one self-contained command per run to FILE instead of running (for GNU
    /// parallel, a Slurm job array or any batch system); each writes a shard into
    /// OUT.shards/, and `cohort merge` combines them into OUT.
    #[arg(long, value_name = "FILE", conflicts_with = "shard")]
    pub(crate) plan: Option<PathBuf>,
    /// Run only slice K of N of the sweep's runs (runs K, K+N, K+2N, ... in sweep order),
    /// writing a shard directory for `cohort merge`.
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<plan::Shard>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// The workload file (TOML).
    pub(crate) workload: PathBuf,
    /// A built-in policy (random, group, locality, spread, hybrid, p2c, ees, delay), a plugin name, or a plugin's path.
    #[arg(long, required_unless_present = "replay")]
    pub(crate) policy: Option<String>,
    /// Instead of a policy, place the work as a recorded run did: a `placements.csv` (a Ray
    /// peer's run writes one), or a run directory holding one. Each task goes where the
    /// recording ran its stage's work of the same iteration and index; the manifest counts
    /// what it could not find. On the in-process cluster only.
    #[arg(long, value_name = "PLACEMENTS", conflicts_with = "policy")]
    pub(crate) replay: Option<PathBuf>,
    /// The policy's configuration, as TOML text.
    #[arg(long, default_value = "")]
    pub(crate) policy_config: String,
    /// Sets a value: a parameter NAME=VALUE, or any numeric key of the file by its path, e.g.
    /// cluster.nodes=10 or tasks.map_step.fixed=1ms (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub(crate) set: Vec<String>,
    /// The seed of the policy's random number generator.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// A cost profile (`cohort calibrate`) to apply, under the values set.
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: Option<PathBuf>,
    /// The clock.
    #[arg(long, value_enum, default_value_t = ClockArg::Virtual)]
    pub(crate) clock: ClockArg,
    /// The run directory to write [default: out/WORKLOAD-POLICY-seedN].
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Replace the output directory if it exists.
    #[arg(long)]
    pub(crate) force: bool,
    /// Run twice and check that the CSVs are byte-identical (virtual clock only).
    #[arg(long)]
    pub(crate) check_determinism: bool,
    /// Where the cluster runs: in this process, or as node processes moving real bytes
    /// (live, in real time; `--clock` does not apply).
    #[arg(long, value_enum, default_value_t = DeployArg::InProcess)]
    pub(crate) deploy: DeployArg,
    /// With `--deploy processes`: the address nodes join the head at [default:
    /// 127.0.0.1:0, any free port on loopback; use e.g. 0.0.0.0:7070 for other hosts].
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) listen: Option<String>,
    /// With `--deploy processes`: node processes to start on this machine [default: every
    /// node of the workload]; the others join with `cohort node --head HOST:PORT`.
    #[arg(long, value_name = "N")]
    pub(crate) spawn: Option<u32>,
    /// With `--deploy processes`: the rate each node sends at, to emulate a NIC (e.g.
    /// 10Gbit/s), or `none` [default: the workload's nic_bandwidth].
    #[arg(long, value_name = "RATE")]
    pub(crate) nic_rate: Option<String>,
    /// With `--deploy processes`: how long to wait for every node to join.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub(crate) join_timeout: String,
}

#[derive(clap::Args, Debug)]
pub(crate) struct NodeArgs {
    /// The head's address, as `cohort run --deploy processes --listen` set it.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) head: String,
    /// The node id to ask for [default: the head's choice].
    #[arg(long)]
    pub(crate) node: Option<u32>,
    /// The address this node's data plane listens on for its peers (port 0: any).
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:0")]
    pub(crate) data: String,
    /// How long to keep trying to reach the head.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub(crate) connect_timeout: String,
    /// Where the node makes its disk for spilled objects (a directory of its own inside,
    /// removed when it ends) [default: the system's temporary directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) spill_dir: Option<PathBuf>,
    /// The process id of the head that started this node: the node dies with it.
    #[arg(long, hide = true)]
    pub(crate) parent: Option<u32>,
}

pub(crate) fn parse_sets(set: &[String]) -> Result<BTreeMap<String, String>> {
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

pub(crate) fn clock_of(c: ClockArg) -> Clock {
    match c {
        ClockArg::Virtual => Clock::Virtual,
        ClockArg::Real => Clock::Real {
            add_modeled: true,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        },
    }
}

/// `--policy-config POLICY=TOML` values, by policy.
pub(crate) fn parse_policy_configs(values: &[String]) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for v in values {
        let Some((policy, config)) = v.split_once('=') else {
            bail!(
                "--policy-config {v}: expected POLICY=TOML, e.g. 'group=fallback = \"least-loaded\"'"
            );
        };
        if m.insert(policy.trim().to_string(), config.to_string())
            .is_some()
        {
            bail!(
                "--policy-config: two configurations for `{}`",
                policy.trim()
            );
        }
    }
    Ok(m)
}
