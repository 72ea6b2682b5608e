//! `cohort resolve`: a workload with every parameter bound, as a TOML document for runtimes
//! outside cohort (the Ray peer in `peers/ray/`), so that they run the same program without
//! parsing workload files, units or `--set` themselves.
//!
//! The document (format 1) has:
//! - `format`, `name`, `reproduces`, `workload_file`, `workload_sha256`, `cohort_version`,
//!   `git_commit`;
//! - `run_suffix`: what follows the policy in the id cohort gives a run of these overrides
//!   (`-KEY=VALUE...`), so that a peer's run `{policy}{run_suffix}-seed{N}` pairs with
//!   cohort's run of the same point;
//! - `[set]`, `[params]`, `[param_units]` (as in a run's manifest) and `[param_values]`
//!   (the `param.*` cells: bytes, ns, bytes/s or counts);
//! - `[cluster]`: `nodes`, `cpus` and `store` (bytes) per node, `nic_bandwidth` (bytes/s);
//! - `[tasks.NAME]` and `[actors.NAME.methods.M]`: `outputs`, `output_size` (bytes, or
//!   `"input"` / `"inputs"`), `cpus`, `record`; `[actors.NAME]` `creation_cpus`;
//! - `[[stage]]`: `name`, `op`, `scope` and the op's keys, stages named (not numbered);
//! - `[schedule]`: `period_ns`, `mode`, `duration_ns` or `iterations`, `warmup_ns`, and
//!   `drain_ns` when the workload bounds its drain.
//!
//! What a kind's code does on real bytes is `cohort_workloads::live`'s rule, from
//! `output_size` and its arguments; a peer implements it the same way, so its reducers' totals
//! can be checked against a live run's.

use crate::output::VERSION;
use crate::policy::sha256_hex;
use anyhow::{Context, Result};
use cohort_workloads::schema::{Join, Mode, Scope};
use cohort_workloads::{End, Kind, OutputSize, Resolved, StageOp};
use serde::Serialize;
use std::collections::BTreeMap;

/// The document's format; a peer refuses any other.
pub const FORMAT: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    format: u32,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reproduces: Option<&'a str>,
    workload_file: &'a str,
    workload_sha256: String,
    cohort_version: &'a str,
    git_commit: &'a str,
    run_suffix: String,
    set: &'a BTreeMap<String, String>,
    params: &'a BTreeMap<String, String>,
    param_units: BTreeMap<String, &'static str>,
    param_values: &'a BTreeMap<String, u64>,
    cluster: Cluster,
    tasks: BTreeMap<&'a str, KindDoc>,
    actors: BTreeMap<&'a str, ActorDoc<'a>>,
    stage: Vec<StageDoc<'a>>,
    schedule: ScheduleDoc,
}

#[derive(Serialize)]
struct Cluster {
    nodes: usize,
    cpus: Vec<u32>,
    store: Vec<u64>,
    nic_bandwidth: u64,
}

#[derive(Serialize)]
struct KindDoc {
    outputs: u32,
    output_size: SizeDoc,
    cpus: u32,
    record: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
enum SizeDoc {
    Bytes(u64),
    Rule(&'static str),
}

#[derive(Serialize)]
struct ActorDoc<'a> {
    creation_cpus: u32,
    methods: BTreeMap<&'a str, KindDoc>,
}

#[derive(Serialize, Default)]
struct StageDoc<'a> {
    name: &'a str,
    op: &'static str,
    scope: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    task: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inputs: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    join: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fan_in: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actors: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
}

#[derive(Serialize)]
struct ScheduleDoc {
    period_ns: u64,
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iterations: Option<u64>,
    warmup_ns: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    drain_ns: Option<u64>,
}

fn kind_doc(k: &Kind) -> KindDoc {
    KindDoc {
        outputs: k.outputs,
        output_size: match k.output_size {
            OutputSize::Bytes(b) => SizeDoc::Bytes(b),
            OutputSize::Input => SizeDoc::Rule("input"),
            OutputSize::Inputs => SizeDoc::Rule("inputs"),
        },
        cpus: k.cpus,
        record: k.record,
    }
}

fn stage_doc<'a>(w: &'a Resolved, i: usize) -> StageDoc<'a> {
    let stage = &w.stages[i];
    let name_of = |j: usize| w.stages[j].name.as_str();
    let base = StageDoc {
        name: &stage.name,
        scope: match stage.scope {
            Scope::Once => "once",
            Scope::Iteration => "iteration",
        },
        ..StageDoc::default()
    };
    match &stage.op {
        StageOp::Broadcast { task, width } => StageDoc {
            op: "broadcast",
            task: Some(task),
            width: Some(*width),
            ..base
        },
        StageOp::Map {
            task,
            input,
            repeat,
            fan_in,
        } => StageDoc {
            op: "map",
            task: Some(task),
            input: Some(name_of(*input)),
            repeat: Some(*repeat),
            fan_in: Some(*fan_in),
            ..base
        },
        StageOp::Join { task, inputs, join } => StageDoc {
            op: "join",
            task: Some(task),
            inputs: Some(inputs.iter().map(|j| name_of(*j)).collect()),
            join: Some(match join {
                Join::Zip => "zip",
                Join::Product => "product",
            }),
            ..base
        },
        StageOp::InitActors { actor, count } => StageDoc {
            op: "init_actors",
            actor: Some(actor),
            count: Some(*count),
            ..base
        },
        StageOp::ReduceActors {
            method,
            actors,
            input,
        } => StageDoc {
            op: "reduce_actors",
            method: Some(method),
            actors: Some(name_of(*actors)),
            input: Some(name_of(*input)),
            ..base
        },
    }
}

/// What the document is made of: the workload file (as given, and its text), the overrides
/// it was resolved with, and the result.
pub struct Source<'a> {
    /// The workload file as given.
    pub path: &'a str,
    /// Its text.
    pub text: &'a str,
    /// The overrides (`--set`): they name the run.
    pub overrides: &'a BTreeMap<String, String>,
    /// The workload resolved with them (and a profile's values, if any).
    pub resolved: &'a Resolved,
}

/// The document of `source`'s resolved workload.
pub fn document(source: &Source) -> Result<String> {
    let w = source.resolved;
    let schedule = &w.schedule;
    let doc = Document {
        format: FORMAT,
        name: &w.name,
        reproduces: w.reproduces.as_deref(),
        workload_file: source.path,
        workload_sha256: sha256_hex(source.text.as_bytes()),
        cohort_version: VERSION,
        git_commit: crate::output::GIT_COMMIT,
        run_suffix: crate::run::id_suffix(source.overrides),
        set: source.overrides,
        params: &w.params,
        param_units: crate::output::units_of(w),
        param_values: &w.param_values,
        cluster: Cluster {
            nodes: w.spec.nodes.len(),
            cpus: w.spec.nodes.iter().map(|n| n.cpus).collect(),
            store: w.spec.nodes.iter().map(|n| n.store_capacity).collect(),
            nic_bandwidth: w.spec.network.nic_bandwidth,
        },
        tasks: w
            .tasks
            .iter()
            .map(|(n, k)| (n.as_str(), kind_doc(k)))
            .collect(),
        actors: w
            .actors
            .iter()
            .map(|(n, a)| {
                let methods = a
                    .methods
                    .iter()
                    .map(|(m, k)| (m.as_str(), kind_doc(k)))
                    .collect();
                let doc = ActorDoc {
                    creation_cpus: a.creation_cpus,
                    methods,
                };
                (n.as_str(), doc)
            })
            .collect(),
        stage: (0..w.stages.len()).map(|i| stage_doc(w, i)).collect(),
        schedule: ScheduleDoc {
            period_ns: schedule.period,
            mode: match schedule.mode {
                Mode::FixedDelay => "fixed-delay",
                Mode::FixedRate => "fixed-rate",
            },
            duration_ns: match schedule.end {
                End::Duration(d) => Some(d),
                End::Iterations(_) => None,
            },
            iterations: match schedule.end {
                End::Iterations(k) => Some(k),
                End::Duration(_) => None,
            },
            warmup_ns: schedule.warmup,
            drain_ns: schedule.drain,
        },
    };
    toml::to_string(&doc).context("writing the resolved workload")
}
