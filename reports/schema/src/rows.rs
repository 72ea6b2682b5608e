//! The row types: one struct per CSV file of a run directory, its fields the file's columns
//! in order.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::values::{Fixed6, flag};

/// A row type of one CSV file of the contract.
///
/// Its fields, in declaration order, are the file's columns; a field named `params` (of type
/// `Vec<u64>`) stands for the `param.<name>` columns, one per workload parameter, at its
/// place. [`CsvWriter`](crate::CsvWriter) and [`CsvReader`](crate::CsvReader) take the
/// header from the fields, so the column list exists only here.
pub trait Row: Serialize + DeserializeOwned {
    /// The file's name inside a run (or sweep) directory, e.g. `"latencies.csv"`.
    const FILE: &'static str;

    /// The contract's last columns, when they were added after files were written without
    /// them: a file may end before all of them (and they read as their serde defaults), or
    /// have them all.
    const ADDED: &'static [&'static str] = &[];

    /// The values of the `param.*` columns, for the row types that have them.
    fn params(&self) -> Option<&[u64]> {
        None
    }

    /// The values of the `param.*` columns, to fill in when reading.
    fn params_mut(&mut self) -> Option<&mut Vec<u64>> {
        None
    }
}

/// The CSV files of a run directory, in the order the harness writes them (`faults.csv` only
/// for a workload with faults, `nodes.csv` only for a live run).
pub const RUN_CSVS: [&str; 8] = [
    LatencyRow::FILE,
    TaskRow::FILE,
    TransferRow::FILE,
    EvictionRow::FILE,
    UtilizationRow::FILE,
    FaultRow::FILE,
    NodeRow::FILE,
    SummaryRow::FILE,
];

/// One row of `latencies.csv`: one datapoint, i.e. one recorded arrival of data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyRow {
    /// The run's policy.
    pub policy: String,
    /// The run's seed.
    pub seed: u64,
    /// The run's workload parameters, in the order of the header's `param.*` columns.
    #[serde(default)]
    pub params: Vec<u64>,
    /// The tag the workload gave the datapoint (the iteration).
    pub iteration: u64,
    /// The index of the recording call in its group (e.g. which reducer).
    pub reducer: u32,
    /// The node the recording work ran on.
    pub node: u32,
    /// When the data entered the system, ns.
    pub ingest_ns: u64,
    /// When it arrived (the start of the recording work), ns.
    pub arrival_ns: u64,
    /// `arrival_ns - ingest_ns`.
    pub latency_ns: u64,
    /// Whether it was ingested during the warm-up (written `1`, else `0`).
    #[serde(with = "flag")]
    pub warmup: bool,
}

impl Row for LatencyRow {
    const FILE: &'static str = "latencies.csv";

    fn params(&self) -> Option<&[u64]> {
        Some(&self.params)
    }

    fn params_mut(&mut self) -> Option<&mut Vec<u64>> {
        Some(&mut self.params)
    }
}

/// What a task was: written `task`, `actor_creation` or `actor_method`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A plain task.
    #[default]
    Task,
    /// The creation of an actor.
    ActorCreation,
    /// A method call on an actor.
    ActorMethod,
}

/// What a task declared it depends on: written `none`, `group` or `task`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyKind {
    /// No declared dependency.
    #[default]
    None,
    /// Every output of a group.
    Group,
    /// The output of one task of a group.
    Task,
}

/// One row of `tasks.csv`: one finished piece of work (task, actor creation or method call).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRow {
    /// The work's id.
    pub task: u64,
    /// Task, actor creation or method call.
    pub kind: TaskKind,
    /// Function, actor kind, or `Kind.method`.
    pub name: String,
    /// Its group (0: none).
    pub group: u64,
    /// Its index in its group.
    pub index: u32,
    /// What it declared it depends on.
    pub dependency: DependencyKind,
    /// The group it depends on (empty when `dependency` is `none`).
    pub dependency_group: Option<u64>,
    /// The index of the task it depends on (empty unless `dependency` is `task`).
    pub dependency_index: Option<u32>,
    /// Where it was placed.
    pub node: u32,
    /// CPU slots it held while running.
    pub cpus: u32,
    /// Submitted (and placed), ns.
    pub submitted_ns: u64,
    /// All arguments local, ns.
    pub args_local_ns: u64,
    /// Started running, ns.
    pub started_ns: u64,
    /// Finished, ns.
    pub finished_ns: u64,
    /// Bytes of all inputs.
    pub input_bytes: u64,
    /// Bytes of all outputs.
    pub output_bytes: u64,
    /// Whether it succeeded (`1`) or failed (`0`).
    #[serde(with = "flag")]
    pub ok: bool,
    /// The name of the workload stage whose work it is, method calls included (empty for
    /// work no stage built, and in files written before this column).
    #[serde(default)]
    pub stage: String,
    /// The iteration of that stage it belongs to (0 for a stage built once; empty where
    /// `stage` is).
    #[serde(default)]
    pub iteration: Option<u64>,
}

impl Row for TaskRow {
    const FILE: &'static str = "tasks.csv";
    const ADDED: &'static [&'static str] = &["stage", "iteration"];
}

/// One row of `placements.csv`, which a peer's run writes (the Ray peer, `peers/ray/`): where
/// one piece of work ran, named by its workload stage, iteration and index rather than by
/// cohort's ids. `cohort run --replay` places work as such a file says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementRow {
    /// The workload stage it belongs to; `call` for an actor's method call.
    pub stage: String,
    /// Its task kind, or the method called.
    pub kind: String,
    /// The iteration (0 for work done once).
    pub iteration: u64,
    /// Its index in the stage; for a method call, the actor's index in its pool.
    pub index: u32,
    /// The node it ran on (negative: a node the peer could not name).
    pub node: i64,
    /// When it started, ns from the run's start (negative: before it).
    pub started_ns: i64,
    /// When it finished, ns from the run's start.
    pub finished_ns: i64,
    /// CPU slots it held (0 for a method call).
    pub cpus: u32,
}

impl Row for PlacementRow {
    const FILE: &'static str = "placements.csv";
}

/// One row of `transfers.csv`: one completed object transfer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRow {
    /// The object moved.
    pub object: u64,
    /// Its size.
    pub bytes: u64,
    /// Source node.
    pub from: u32,
    /// Destination node.
    pub to: u32,
    /// When it was requested, ns.
    pub requested_ns: u64,
    /// When it started flowing (after the latency), ns.
    pub flowing_ns: u64,
    /// When the last byte arrived, ns.
    pub finished_ns: u64,
}

impl Row for TransferRow {
    const FILE: &'static str = "transfers.csv";
}

/// One row of `evictions.csv`: one copy evicted from a store to make room.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvictionRow {
    /// The object.
    pub object: u64,
    /// The node whose store evicted it.
    pub node: u32,
    /// Its size.
    pub bytes: u64,
    /// When, ns.
    pub at_ns: u64,
    /// Whether it was the last copy (`1`: the object is lost).
    #[serde(with = "flag")]
    pub last_copy: bool,
}

impl Row for EvictionRow {
    const FILE: &'static str = "evictions.csv";
}

/// One row of `utilization.csv`: one node's busy fraction over one window of time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UtilizationRow {
    /// The node.
    pub node: u32,
    /// The window's start, ns.
    pub window_start_ns: u64,
    /// The window's length, ns (the last window of a run may be cut short by its end; this
    /// is the nominal length).
    pub window_ns: u64,
    /// Busy CPU-slot time over capacity, in [0, 1].
    pub busy_fraction: Fixed6,
}

impl Row for UtilizationRow {
    const FILE: &'static str = "utilization.csv";
}

/// One row of `summary.csv`: one run. A run directory's `summary.csv` has one row; a sweep
/// directory's has one per run that finished.
///
/// Latency statistics cover the datapoints ingested after the warm-up and use nearest-rank
/// percentiles ([`quantile`](crate::quantile)); utilization covers the time from the warm-up
/// to the end.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// The run's id: its directory name under `runs/` in a sweep.
    pub run: String,
    /// The policy.
    pub policy: String,
    /// The seed.
    pub seed: u64,
    /// The workload parameters, in the order of the header's `param.*` columns.
    #[serde(default)]
    pub params: Vec<u64>,
    /// Measured datapoints (warm-up excluded).
    pub datapoints: u64,
    /// Mean latency, ms.
    pub mean_ms: Fixed6,
    /// Median latency, ms.
    pub p50_ms: Fixed6,
    /// 90th-percentile latency, ms.
    pub p90_ms: Fixed6,
    /// 99th-percentile latency, ms.
    pub p99_ms: Fixed6,
    /// Largest latency, ms.
    pub max_ms: Fixed6,
    /// Bytes moved by completed transfers.
    pub bytes_transferred: u64,
    /// Completed transfers.
    pub transfers: u64,
    /// Copies evicted.
    pub evictions: u64,
    /// Work that finished successfully.
    pub tasks: u64,
    /// Work that failed.
    pub failed: u64,
    /// Mean over nodes of each node's CPU utilization.
    pub cpu_util_mean: Fixed6,
    /// Utilization of the least busy node.
    pub cpu_util_min: Fixed6,
    /// Utilization of the busiest node.
    pub cpu_util_max: Fixed6,
    /// Work run again: after its node died having started there, to rebuild a lost output,
    /// or replayed by a restarted actor.
    pub reexecuted: u64,
    /// Lost objects rebuilt by running their task again.
    pub reconstructed: u64,
    /// Actors restarted after their node died.
    pub actor_restarts: u64,
    /// Bytes written from stores to their nodes' disks.
    pub spilled_bytes: u64,
    /// Bytes read back from disks into stores.
    pub restored_bytes: u64,
    /// Datapoints the workload's recording work should have recorded and did not (its work
    /// failed).
    pub datapoints_lost: u64,
    /// From the first kill to the first arrival of a datapoint the kill held up (arriving
    /// after it, with a latency above every latency before it), ms; empty without a kill, or if
    /// no datapoint was held up.
    pub recovery_first_ms: Option<Fixed6>,
    /// From the first kill to the last such arrival, ms.
    pub recovery_last_ms: Option<Fixed6>,
    /// Work (tasks and actor calls) still queued, fetching or running when the run stopped:
    /// 0 when it finished everything; more when the drain after the last iteration ran out
    /// (the workload's `schedule.drain`), which an overloaded run's backlog does.
    pub unfinished: u64,
    /// How fast latency grows over the measured datapoints: the least-squares slope of
    /// latency (ms) against ingest time (s), in ms per s; 0 with fewer than two measured
    /// datapoints (or when they were all ingested at once).
    pub growth_ms_per_s: Fixed6,
}

/// One row of `faults.csv`: one fault of the run's script, as it was played. Written only for a
/// workload with faults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultRow {
    /// `kill`, `slow_cpu`, `slow_nic` or `drop_link`.
    pub kind: String,
    /// The node (for `drop_link`, one end).
    pub node: u32,
    /// The other end of a dropped link; empty for other kinds.
    pub peer: Option<u32>,
    /// How many times slower a slowed resource ran; empty for other kinds.
    pub factor: Option<Fixed6>,
    /// When it started, ns.
    pub at_ns: u64,
    /// When it ended (a killed node came back); empty if it lasted to the end.
    pub until_ns: Option<u64>,
    /// For a kill, when the cluster declared the node dead; empty otherwise (or if the run
    /// ended first).
    pub declared_ns: Option<u64>,
}

impl Row for FaultRow {
    const FILE: &'static str = "faults.csv";
}

/// One row of `nodes.csv`: what one node process of a live run counted on its sockets and
/// store. Written only for a live run (`deploy = "processes"`), so that its bytes can be set
/// beside the transfers the runtime recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRow {
    /// The node.
    pub node: u32,
    /// Bytes its data plane wrote to sockets (frames whole: headers and encoding included).
    pub data_sent: u64,
    /// Bytes its data plane read from sockets.
    pub data_received: u64,
    /// Object bytes it served to peers.
    pub objects_sent: u64,
    /// Object bytes it pulled from peers.
    pub objects_received: u64,
    /// Bytes its control connection to the head wrote.
    pub control_sent: u64,
    /// Bytes its control connection read.
    pub control_received: u64,
    /// Work it ran.
    pub executions: u64,
    /// The most bytes its store held at once.
    pub store_peak: u64,
    /// Bytes it wrote to its disk (spilled objects).
    pub spilled_bytes: u64,
    /// Bytes it read back from its disk.
    pub restored_bytes: u64,
    /// CPU time its process used, all threads, from its start to its stop, ns.
    pub cpu_ns: u64,
}

impl Row for NodeRow {
    const FILE: &'static str = "nodes.csv";
}

impl Row for SummaryRow {
    const FILE: &'static str = "summary.csv";

    fn params(&self) -> Option<&[u64]> {
        Some(&self.params)
    }

    fn params_mut(&mut self) -> Option<&mut Vec<u64>> {
        Some(&mut self.params)
    }
}

/// One row of `compare.csv` (written by `cohort compare`): one run of the plan, simulated
/// with a cost profile and run live, side by side. An error is `(simulated - live) / live`:
/// negative when the simulator is too fast. With `cohort compare --replay`, "live" is the
/// recorded run the simulated one replayed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompareRow {
    /// The run's id: the same in `sim/runs/` and `live/runs/`; with `--replay`, the recorded
    /// run's (its replay in `sim/runs/` is named `replay-` and that id when the replay adds no
    /// value of its own).
    pub run: String,
    /// The policy (with `--replay`, the recorded run's).
    pub policy: String,
    /// The seed.
    pub seed: u64,
    /// The workload parameters, in the order of the header's `param.*` columns.
    #[serde(default)]
    pub params: Vec<u64>,
    /// Simulated mean latency, ms.
    pub sim_mean_ms: Fixed6,
    /// Live mean latency, ms.
    pub live_mean_ms: Fixed6,
    /// The mean's error.
    pub mean_error: Fixed6,
    /// Simulated median latency, ms.
    pub sim_p50_ms: Fixed6,
    /// Live median latency, ms.
    pub live_p50_ms: Fixed6,
    /// The median's error.
    pub p50_error: Fixed6,
    /// Simulated 99th percentile, ms.
    pub sim_p99_ms: Fixed6,
    /// Live 99th percentile, ms.
    pub live_p99_ms: Fixed6,
    /// The 99th percentile's error.
    pub p99_error: Fixed6,
    /// Bytes the simulated run moved between nodes.
    pub sim_bytes: u64,
    /// Bytes the live run moved between nodes.
    pub live_bytes: u64,
    /// The share of the work both runs placed that they placed on the same node (by work id,
    /// its last placement), in [0, 1]: 1 for a policy that decided alike on both sides; empty
    /// when a side has no `tasks.csv`.
    pub placement_agreement: Option<Fixed6>,
    /// Whether the simulated run kept up: no work unfinished when it stopped, a measured
    /// datapoint, and latency not rising by more than its own mean over the measured window
    /// (the report's stability rule, `cohort_reports::kept_up`).
    pub sim_kept_up: bool,
    /// Whether the live run (or the other side's) kept up, by the same rule.
    pub live_kept_up: bool,
}

/// One row of `leaderboard.csv` (written by `cohort leaderboard`): one policy on one workload
/// (or on all of them, `workload` "all"), its latency relative to the best policy's. A run's
/// relative latency is its mean latency over the lowest mean latency any policy reached at
/// the same point and seed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardRow {
    /// The workload, or "all".
    pub workload: String,
    /// The policy.
    pub policy: String,
    /// Its rank on the workload, 1 the best: by runs without a datapoint, then by
    /// `relative_mean`.
    pub rank: u32,
    /// Runs (points x seeds; for "all", over every workload).
    pub runs: u64,
    /// Runs without a datapoint (work that never finished): ranked after every policy with
    /// fewer.
    pub missing: u64,
    /// Geometric mean of the relative latencies of its runs with a datapoint (for "all", of
    /// the workloads' `relative_mean`); 1 is the best possible; empty without any.
    pub relative_mean: Option<Fixed6>,
    /// The least relative latency of its runs.
    pub relative_min: Option<Fixed6>,
    /// The greatest relative latency of its runs.
    pub relative_max: Option<Fixed6>,
}

impl Row for LeaderboardRow {
    const FILE: &'static str = "leaderboard.csv";
}

/// One row of `hints.csv` (written by `cohort leaderboard --hints`): one run with the hints
/// the runtime inferred from plain submissions (`cluster.hints = "inferred"`), and how they
/// compared with the hints the IR declared for the same submissions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HintsRow {
    /// The workload.
    pub workload: String,
    /// The sweep's point, as `name=value` pairs joined by commas.
    pub point: String,
    /// The seed.
    pub seed: u64,
    /// The policy.
    pub policy: String,
    /// Submissions compared (tasks, actor calls and creations).
    pub compared: u64,
    /// Those whose group, index and dependency all agree.
    pub agree: u64,
    /// Those whose group agrees (groups compared up to their numbering).
    pub agree_group: u64,
    /// Those whose index in its group is the same.
    pub agree_index: u64,
    /// Those whose dependency agrees (its kind, group and index).
    pub agree_dependency: u64,
}

impl Row for HintsRow {
    const FILE: &'static str = "hints.csv";
}

impl Row for CompareRow {
    const FILE: &'static str = "compare.csv";

    fn params(&self) -> Option<&[u64]> {
        Some(&self.params)
    }

    fn params_mut(&mut self) -> Option<&mut Vec<u64>> {
        Some(&mut self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;
    use crate::{CsvReader, CsvWriter};

    /// Writes `rows` into a fresh directory, checks the file's text, reads the rows back and
    /// checks they are the same values.
    fn round_trip<R: Row + PartialEq + std::fmt::Debug>(
        tag: &str,
        params: &[&str],
        rows: &[R],
        text: &str,
    ) {
        let s = Scratch::new(tag);
        let names: Vec<String> = params.iter().map(|p| (*p).to_owned()).collect();
        let mut w = CsvWriter::<R>::create(s.path(), &names).expect("create");
        for r in rows {
            w.write(r).expect("write");
        }
        w.finish().expect("finish");
        let written = std::fs::read_to_string(s.path().join(R::FILE)).expect("read");
        assert_eq!(written, text, "{}", R::FILE);
        let mut reader = CsvReader::<R>::open(s.path()).expect("open");
        assert_eq!(reader.param_names(), names.as_slice());
        let back: Vec<(u64, R)> = reader.rows().collect::<Result<_, _>>().expect("rows");
        let lines: Vec<u64> = back.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, (2..2 + rows.len() as u64).collect::<Vec<_>>());
        let back: Vec<R> = back.into_iter().map(|(_, r)| r).collect();
        assert_eq!(back, rows, "{}", R::FILE);
    }

    #[test]
    fn latencies_round_trip_with_their_params_between_fixed_columns() {
        let row = |iteration, warmup| LatencyRow {
            policy: "group".into(),
            seed: 3,
            params: vec![262_144, 4],
            iteration,
            reducer: 1,
            node: 2,
            ingest_ns: 1_000,
            arrival_ns: 4_500,
            latency_ns: 3_500,
            warmup,
        };
        round_trip(
            "latencies",
            &["data_size", "num_reducers"],
            &[row(0, true), row(7, false)],
            "policy,seed,param.data_size,param.num_reducers,iteration,reducer,node,ingest_ns,arrival_ns,latency_ns,warmup\n\
             group,3,262144,4,0,1,2,1000,4500,3500,1\n\
             group,3,262144,4,7,1,2,1000,4500,3500,0\n",
        );
        // A workload without parameters has no param.* columns.
        round_trip(
            "latencies-noparams",
            &[],
            &[LatencyRow::default()],
            "policy,seed,iteration,reducer,node,ingest_ns,arrival_ns,latency_ns,warmup\n\
             ,0,0,0,0,0,0,0,0\n",
        );
    }

    #[test]
    fn tasks_round_trip_with_every_kind_and_dependency() {
        let base = TaskRow {
            task: 12,
            kind: TaskKind::Task,
            name: "make, then pass".into(),
            group: 5,
            index: 2,
            dependency: DependencyKind::None,
            dependency_group: None,
            dependency_index: None,
            node: 1,
            cpus: 2,
            submitted_ns: 10,
            args_local_ns: 20,
            started_ns: 30,
            finished_ns: 40,
            input_bytes: 1_048_576,
            output_bytes: 0,
            ok: true,
            stage: "maps".into(),
            iteration: Some(3),
        };
        let rows = [
            base.clone(),
            TaskRow {
                kind: TaskKind::ActorCreation,
                name: "Sink".into(),
                dependency: DependencyKind::Group,
                dependency_group: Some(4),
                stage: "sinks".into(),
                iteration: Some(0),
                ..base.clone()
            },
            TaskRow {
                kind: TaskKind::ActorMethod,
                name: "Sink.take".into(),
                dependency: DependencyKind::Task,
                dependency_group: Some(4),
                dependency_index: Some(3),
                ok: false,
                stage: String::new(),
                iteration: None,
                ..base
            },
        ];
        round_trip(
            "tasks",
            &[],
            &rows,
            "task,kind,name,group,index,dependency,dependency_group,dependency_index,node,cpus,submitted_ns,args_local_ns,started_ns,finished_ns,input_bytes,output_bytes,ok,stage,iteration\n\
             12,task,\"make, then pass\",5,2,none,,,1,2,10,20,30,40,1048576,0,1,maps,3\n\
             12,actor_creation,Sink,5,2,group,4,,1,2,10,20,30,40,1048576,0,1,sinks,0\n\
             12,actor_method,Sink.take,5,2,task,4,3,1,2,10,20,30,40,1048576,0,0,,\n",
        );
    }

    #[test]
    fn tasks_written_before_the_stage_columns_read_without_them() {
        let s = Scratch::new("tasks-old");
        std::fs::write(
            s.path().join(TaskRow::FILE),
            "task,kind,name,group,index,dependency,dependency_group,dependency_index,node,cpus,submitted_ns,args_local_ns,started_ns,finished_ns,input_bytes,output_bytes,ok\n\
             12,task,make,5,2,none,,,1,2,10,20,30,40,64,0,1\n",
        )
        .expect("write");
        let mut reader = CsvReader::<TaskRow>::open(s.path()).expect("open");
        let rows: Vec<(u64, TaskRow)> = reader.rows().collect::<Result<_, _>>().expect("rows");
        assert_eq!(rows.len(), 1);
        let (_, t) = &rows[0];
        assert_eq!((t.task, t.name.as_str(), t.ok), (12, "make", true));
        assert_eq!((t.stage.as_str(), t.iteration), ("", None));
        // One of them without the other is no file cohort wrote.
        std::fs::write(
            s.path().join(TaskRow::FILE),
            "task,kind,name,group,index,dependency,dependency_group,dependency_index,node,cpus,submitted_ns,args_local_ns,started_ns,finished_ns,input_bytes,output_bytes,ok,stage\n",
        )
        .expect("write");
        let e = CsvReader::<TaskRow>::open(s.path()).expect_err("half the added columns");
        assert!(e.to_string().contains("`iteration`"), "{e}");
    }

    #[test]
    fn transfers_evictions_and_utilization_round_trip() {
        round_trip(
            "transfers",
            &[],
            &[TransferRow {
                object: 9,
                bytes: 800_000,
                from: 0,
                to: 4,
                requested_ns: 100,
                flowing_ns: 200,
                finished_ns: 900,
            }],
            "object,bytes,from,to,requested_ns,flowing_ns,finished_ns\n9,800000,0,4,100,200,900\n",
        );
        round_trip(
            "evictions",
            &[],
            &[
                EvictionRow {
                    object: 9,
                    node: 1,
                    bytes: 64,
                    at_ns: 5,
                    last_copy: false,
                },
                EvictionRow {
                    object: 10,
                    node: 2,
                    bytes: 65,
                    at_ns: 6,
                    last_copy: true,
                },
            ],
            "object,node,bytes,at_ns,last_copy\n9,1,64,5,0\n10,2,65,6,1\n",
        );
        round_trip(
            "utilization",
            &[],
            &[UtilizationRow {
                node: 3,
                window_start_ns: 50_000_000,
                window_ns: 50_000_000,
                busy_fraction: Fixed6(0.625),
            }],
            "node,window_start_ns,window_ns,busy_fraction\n3,50000000,50000000,0.625000\n",
        );
    }

    #[test]
    fn summaries_round_trip() {
        let row = |run: &str, size| SummaryRow {
            run: run.into(),
            policy: "random".into(),
            seed: 1,
            params: vec![size, 4],
            datapoints: 1_500,
            mean_ms: Fixed6(25.5),
            p50_ms: Fixed6(24.0),
            p90_ms: Fixed6(31.25),
            p99_ms: Fixed6(40.125),
            max_ms: Fixed6(51.0),
            bytes_transferred: 123_456_789,
            transfers: 150,
            evictions: 0,
            tasks: 9_000,
            failed: 0,
            cpu_util_mean: Fixed6(0.5),
            cpu_util_min: Fixed6(0.25),
            cpu_util_max: Fixed6(0.75),
            reexecuted: 12,
            reconstructed: 7,
            actor_restarts: 1,
            spilled_bytes: 4096,
            restored_bytes: 2048,
            datapoints_lost: 0,
            recovery_first_ms: (size == 800_000).then_some(Fixed6(1.5)),
            recovery_last_ms: (size == 800_000).then_some(Fixed6(30_000.25)),
            unfinished: if size == 800_000 { 17 } else { 0 },
            growth_ms_per_s: Fixed6(if size == 800_000 { -0.125 } else { 2.5 }),
        };
        round_trip(
            "summary",
            &["data_size", "num_reducers"],
            &[
                row("random-data_size=1MiB-seed1", 1_048_576),
                row("r2", 800_000),
            ],
            "run,policy,seed,param.data_size,param.num_reducers,datapoints,mean_ms,p50_ms,p90_ms,p99_ms,max_ms,bytes_transferred,transfers,evictions,tasks,failed,cpu_util_mean,cpu_util_min,cpu_util_max,reexecuted,reconstructed,actor_restarts,spilled_bytes,restored_bytes,datapoints_lost,recovery_first_ms,recovery_last_ms,unfinished,growth_ms_per_s\n\
             random-data_size=1MiB-seed1,random,1,1048576,4,1500,25.500000,24.000000,31.250000,40.125000,51.000000,123456789,150,0,9000,0,0.500000,0.250000,0.750000,12,7,1,4096,2048,0,,,0,2.500000\n\
             r2,random,1,800000,4,1500,25.500000,24.000000,31.250000,40.125000,51.000000,123456789,150,0,9000,0,0.500000,0.250000,0.750000,12,7,1,4096,2048,0,1.500000,30000.250000,17,-0.125000\n",
        );
    }

    #[test]
    fn faults_round_trip_with_empty_cells_where_a_kind_has_no_value() {
        let kill = FaultRow {
            kind: "kill".into(),
            node: 2,
            peer: None,
            factor: None,
            at_ns: 5_000_000_000,
            until_ns: None,
            declared_ns: Some(35_000_000_000),
        };
        let slow = FaultRow {
            kind: "slow_nic".into(),
            node: 1,
            peer: None,
            factor: Some(Fixed6(2.5)),
            at_ns: 1_000,
            until_ns: Some(2_000),
            declared_ns: None,
        };
        let link = FaultRow {
            kind: "drop_link".into(),
            node: 0,
            peer: Some(3),
            factor: None,
            at_ns: 7,
            until_ns: None,
            declared_ns: None,
        };
        round_trip(
            "faults",
            &[],
            &[kill, slow, link],
            "kind,node,peer,factor,at_ns,until_ns,declared_ns\n\
             kill,2,,,5000000000,,35000000000\n\
             slow_nic,1,,2.500000,1000,2000,\n\
             drop_link,0,3,,7,,\n",
        );
    }

    /// The columns a Markdown table in `doc` lists for `file`: the backticked names of the
    /// line's last cell, `param.*` standing for the parameters.
    fn documented_columns(doc: &str, file: &str) -> String {
        let name = format!("`{file}`");
        let cells: Vec<&str> = doc
            .lines()
            .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
            .find(|cells| cells.get(1) == Some(&name.as_str()))
            .unwrap_or_else(|| panic!("no table row for {file}"));
        let last = cells.iter().rev().find(|c| !c.is_empty()).expect("a cell");
        last.split('`')
            .skip(1)
            .step_by(2)
            .collect::<Vec<_>>()
            .join(",")
            .replace(' ', "")
    }

    fn header<R: Row>() -> String {
        crate::columns::<R>(&["*".to_owned()]).join(",")
    }

    #[test]
    fn the_crate_docs_and_the_readme_list_every_files_columns() {
        let readme = include_str!("../../../README.md");
        let docs = include_str!("lib.rs");
        for doc in [readme, docs] {
            assert_eq!(
                documented_columns(doc, LatencyRow::FILE),
                header::<LatencyRow>()
            );
            assert_eq!(documented_columns(doc, TaskRow::FILE), header::<TaskRow>());
            assert_eq!(
                documented_columns(doc, TransferRow::FILE),
                header::<TransferRow>()
            );
            assert_eq!(
                documented_columns(doc, EvictionRow::FILE),
                header::<EvictionRow>()
            );
            assert_eq!(
                documented_columns(doc, UtilizationRow::FILE),
                header::<UtilizationRow>()
            );
            assert_eq!(
                documented_columns(doc, FaultRow::FILE),
                header::<FaultRow>()
            );
            assert_eq!(documented_columns(doc, NodeRow::FILE), header::<NodeRow>());
            assert_eq!(
                documented_columns(doc, CompareRow::FILE),
                header::<CompareRow>()
            );
            assert_eq!(
                documented_columns(doc, SummaryRow::FILE),
                header::<SummaryRow>()
            );
            assert_eq!(
                documented_columns(doc, LeaderboardRow::FILE),
                header::<LeaderboardRow>()
            );
            assert_eq!(
                documented_columns(doc, HintsRow::FILE),
                header::<HintsRow>()
            );
        }
    }

    #[test]
    fn run_csvs_are_the_row_types_files_in_writing_order() {
        assert_eq!(
            RUN_CSVS,
            [
                "latencies.csv",
                "tasks.csv",
                "transfers.csv",
                "evictions.csv",
                "utilization.csv",
                "faults.csv",
                "nodes.csv",
                "summary.csv",
            ]
        );
    }
}
