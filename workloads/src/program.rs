//! Running a resolved workload on a cluster: the code of its task kinds, and the driver
//! program that submits its stages iteration after iteration through the IR.
//!
//! Every task and method call the driver submits gets one inline argument last: the batch
//! header `[iteration, ingest time]`. Outputs carry the batch's ingest time in their first
//! eight real bytes (the data's stamp; the rest of an output's size is modeled). A kind with
//! `record = true` records a datapoint each time it runs: iteration, and the batch's ingest
//! time; the arrival time is when it started.
//!
//! An actor's state is a running total, a `u64` (wrapping), to which each of its method calls
//! adds `1 + iteration + the sum of the stamps of its object arguments`: so a call lost or run
//! twice changes the total, and a run that recovers exactly from a fault ends with the totals
//! of the same run without it ([`DriveReport::actor_totals`]).

use crate::resolve::{End, Kind, OutputSize, Resolved, StageOp};
use crate::schema::{Join, Mode, Scope};
use cohort_runtime::ir::Pairing;
use cohort_runtime::policy::{GroupId, Resources};
use cohort_runtime::{
    ActorId, ActorKind as RuntimeActorKind, Clock, Cluster, ClusterConfig, IrError, IrNode,
    NodeOptions, Payload, Registry, RuntimeError, TaskArg, TaskContext, TraceLevel,
};
use std::sync::Mutex;
use thiserror::Error;

/// Why a run failed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RunError {
    /// The runtime refused something (a policy error, a failed task, ...).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Building or evaluating the IR failed.
    #[error(transparent)]
    Ir(#[from] IrError),
    /// An object the workload makes or needs is larger than a whole store: the workload does
    /// not fit the cluster (unlike work that fails under load, which is a result of the run).
    #[error("{failed} task(s) failed on an object larger than a whole store; the first: {first}")]
    Oversized {
        /// How many failed so.
        failed: u64,
        /// The first failure's message.
        first: String,
    },
}

/// What the driver did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriveReport {
    /// Iterations submitted.
    pub iterations: u64,
    /// Datapoints the run should have recorded: one per submitted task or call of a kind with
    /// `record = true`.
    pub datapoints_expected: u64,
    /// Every constructed actor's total at the end of the run (see the module documentation),
    /// by ascending actor id.
    pub actor_totals: Vec<(ActorId, u64)>,
    /// Work (tasks and calls) still queued, fetching or running when the run stopped: 0 when
    /// it finished everything; more when the drain after the last iteration ran out (see
    /// `Schedule::drain`), which an overloaded run's backlog does.
    pub unfinished: u64,
    /// Work that failed. A run whose work failed is still a result (an overloaded cluster
    /// that evicts what it must rebuild until the retries run out fails work; its datapoints
    /// are missing, and `summary.csv` counts them): only the run's own errors
    /// ([`RunError`]) stop it.
    pub failed: u64,
    /// The first failure's message, if work failed.
    pub first_failure: Option<String>,
}

/// The last output a kind's code made, as `(ingest time, size, payload)`: the outputs of one
/// batch are alike, so they share one payload (a clone of which allocates nothing) instead of
/// each making its own.
#[derive(Default)]
struct LastOutput(Mutex<Option<(u64, u64, Payload)>>);

impl LastOutput {
    /// A payload stamped `ingest` of `size` bytes (at least the eight real ones).
    fn get(&self, ingest: u64, size: u64) -> Payload {
        let make = || Payload::stamped(ingest, size.saturating_sub(8));
        let Ok(mut last) = self.0.lock() else {
            return make();
        };
        match &*last {
            Some((i, s, p)) if (*i, *s) == (ingest, size) => p.clone(),
            _ => {
                let p = make();
                *last = Some((ingest, size, p.clone()));
                p
            }
        }
    }
}

/// A submission's arguments: the batch header's iteration and ingest time (the last
/// argument), and the object arguments before it.
pub(crate) fn batch(args: &[Payload]) -> Result<(u64, u64, &[Payload]), String> {
    let (header, objects) = args
        .split_last()
        .ok_or("no batch header: work must be submitted by the workload driver")?;
    match (header.i64_count(), header.i64_at(0), header.i64_at(1)) {
        (2, Some(i), Some(t)) => Ok((i as u64, t as u64, objects)),
        _ => Err("malformed batch header".to_string()),
    }
}

/// Records the batch's datapoint if `kind` records one.
pub(crate) fn run_record(kind: &Kind, ctx: &mut TaskContext, iteration: u64, ingest: u64) {
    if kind.record {
        ctx.record_arrival(iteration, ingest);
    }
}

/// What a method call adds to its actor's total: 1, plus the iteration of its batch header,
/// plus the stamp (first eight real bytes) of each object argument.
fn contribution(args: &[Payload]) -> Result<u64, String> {
    let (header, objects) = args
        .split_last()
        .ok_or("no batch header: work must be submitted by the workload driver")?;
    let iteration = header.i64_at(0).ok_or("malformed batch header")? as u64;
    Ok(objects.iter().fold(1u64.wrapping_add(iteration), |sum, o| {
        sum.wrapping_add(o.as_u64().unwrap_or(0))
    }))
}

fn run_kind(
    kind: &Kind,
    last: &LastOutput,
    ctx: &mut TaskContext,
    args: &[Payload],
) -> Result<Vec<Payload>, String> {
    let (iteration, ingest, objects) = batch(args)?;
    run_record(kind, ctx, iteration, ingest);
    let size = match kind.output_size {
        OutputSize::Bytes(b) => b,
        OutputSize::Input => objects.first().map_or(0, Payload::size),
        OutputSize::Inputs => objects.iter().map(Payload::size).sum(),
    };
    let output = last.get(ingest, size);
    Ok((0..kind.outputs).map(|_| output.clone()).collect())
}

/// The registry holding the code of every task and actor kind of `w`.
pub fn registry(w: &Resolved) -> Result<Registry, RuntimeError> {
    build_registry(
        w,
        |k| {
            let last = LastOutput::default();
            move |ctx: &mut TaskContext, args: &[Payload]| run_kind(&k, &last, ctx, args)
        },
        contribution,
    )
}

/// A registry of `w`'s task and actor kinds, in the order of their names: `code(kind)` is
/// the code of a task or method of that kind; an actor's state is a `u64` total to which each
/// call adds `contribution(its arguments)`. The simulator's code and the live code differ
/// only in these two.
pub(crate) fn build_registry<C>(
    w: &Resolved,
    code: impl Fn(Kind) -> C,
    contribution: fn(&[Payload]) -> Result<u64, String>,
) -> Result<Registry, RuntimeError>
where
    C: Fn(&mut TaskContext, &[Payload]) -> Result<Vec<Payload>, String> + Send + Sync + 'static,
{
    let mut r = Registry::new();
    for (name, kind) in &w.tasks {
        r.function(name, kind.cost, code(kind.clone()))?;
    }
    for (name, actor) in &w.actors {
        let mut a = RuntimeActorKind::new(name, |_, _| Ok(0u64))
            .creation_cost(actor.creation_cost)
            .creation_demand(Resources {
                cpus: actor.creation_cpus,
            });
        for (m, kind) in &actor.methods {
            let run = code(kind.clone());
            a = a.method(m, kind.cost, move |total: &mut u64, ctx, args| {
                let outputs = run(ctx, args)?;
                *total = total.wrapping_add(contribution(args)?);
                Ok(outputs)
            });
        }
        r.actor(a)?;
    }
    Ok(r)
}

/// The cluster configuration `w` asks for, on `clock`, with seed 0 for the runtime's own
/// draws (set `seed` to the run's).
pub fn cluster_config(w: &Resolved, clock: Clock) -> ClusterConfig {
    ClusterConfig {
        clock,
        heartbeat: w.heartbeat,
        submit_cost: w.submit_cost,
        model: w.model,
        trace: TraceLevel::Full,
        ..ClusterConfig::default()
    }
}

fn header(iteration: u64, ingest: u64) -> TaskArg {
    TaskArg::Value(Payload::from_i64s(&[iteration as i64, ingest as i64]))
}

/// Builds the IR node(s) of stage `i`; `built` holds the nodes of the stages before it.
/// Returns the stage's output node; `level` is told the group of each node built before it
/// (the repetitions of a map but its last).
fn build(
    w: &Resolved,
    cluster: &Cluster,
    i: usize,
    built: &[Option<IrNode>],
    head: &TaskArg,
    level: &mut dyn FnMut(GroupId),
) -> Result<IrNode, RunError> {
    let ir = cluster.ir();
    let options = |task: &str| {
        let k = &w.tasks[task];
        NodeOptions {
            returns: k.outputs,
            cpus: k.cpus,
            declared_output_size: match k.output_size {
                OutputSize::Bytes(b) => b,
                OutputSize::Input | OutputSize::Inputs => 0,
            },
        }
    };
    let node = |j: usize| {
        built[j]
            .clone()
            .expect("stages are built in dependency order")
    };
    Ok(match &w.stages[i].op {
        StageOp::Broadcast { task, width } => {
            ir.broadcast(task, *width, vec![head.clone()], options(task))?
        }
        StageOp::Map {
            task,
            input,
            repeat,
            fan_in,
        } => {
            let mut current = node(*input);
            for r in 0..*repeat {
                if r > 0 {
                    level(current.group());
                }
                let args = vec![head.clone()];
                current = ir.map_chunks_shared(task, &current, *fan_in, args, options(task))?;
            }
            current
        }
        StageOp::Join { task, inputs, join } => {
            let nodes: Vec<IrNode> = inputs.iter().map(|&j| node(j)).collect();
            let refs: Vec<&IrNode> = nodes.iter().collect();
            let pairing = match join {
                Join::Zip => Pairing::Zip,
                Join::Product => Pairing::Product,
            };
            ir.map_join_shared(task, &refs, pairing, vec![head.clone()], options(task))?
        }
        StageOp::InitActors { actor, count } => ir.init_actors(actor, *count, vec![])?,
        StageOp::ReduceActors {
            method,
            actors,
            input,
        } => {
            let a = node(*actors);
            let StageOp::InitActors { actor, .. } = &w.stages[*actors].op else {
                unreachable!("checked when resolving");
            };
            let k = &w.actors[actor].methods[method];
            let args = vec![head.clone()];
            let opts = NodeOptions {
                returns: k.outputs,
                cpus: 0,
                declared_output_size: match k.output_size {
                    OutputSize::Bytes(b) => b,
                    _ => 0,
                },
            };
            ir.reduce_actors_shared(method, &a, &node(*input), args, opts)?
        }
    })
}

/// Runs the driver program of `w` on `cluster`: once-stages are built at the start, every
/// other stage anew each iteration; each iteration is evaluated, its nodes dropped (freeing
/// their groups), and the driver waits per the schedule. Returns when the schedule ends and
/// the cluster is idle. `progress` is shown the cluster after each iteration.
pub fn drive(
    w: &Resolved,
    cluster: &mut Cluster,
    progress: &mut dyn FnMut(&Cluster),
) -> Result<DriveReport, RunError> {
    drive_observed(w, cluster, progress, &mut |_| {})
}

/// A group of work the driver built (see [`drive_observed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Built<'a> {
    /// The group, which its work's hints name. A run never hands a group id out twice.
    pub group: GroupId,
    /// The stage's name.
    pub stage: &'a str,
    /// The iteration (0 for a stage built once).
    pub iteration: u64,
    /// Whether it is the stage's output, which later stages read: a map with `repeat > 1`
    /// builds a group per repetition, and only the last is.
    pub output: bool,
}

/// [`drive`], telling `built` of each group of work as it is built, before any of its work is
/// submitted.
pub fn drive_observed(
    w: &Resolved,
    cluster: &mut Cluster,
    progress: &mut dyn FnMut(&Cluster),
    built: &mut dyn FnMut(Built<'_>),
) -> Result<DriveReport, RunError> {
    let n = w.stages.len();
    let mut once: Vec<Option<IrNode>> = vec![None; n];
    let setup = header(0, cluster.now());
    // Builds stage `i` of `iteration` over `nodes`, telling `built` of each group.
    let mut stage = |cluster: &Cluster,
                     i: usize,
                     iteration: u64,
                     nodes: &[Option<IrNode>],
                     head: &TaskArg|
     -> Result<IrNode, RunError> {
        let name = w.stages[i].name.as_str();
        let mut tell = |group, output| {
            built(Built {
                group,
                stage: name,
                iteration,
                output,
            })
        };
        let node = build(w, cluster, i, nodes, head, &mut |g| tell(g, false))?;
        tell(node.group(), true);
        Ok(node)
    };
    for i in 0..n {
        if w.stages[i].scope == Scope::Once {
            once[i] = Some(stage(cluster, i, 0, &once, &setup)?);
        }
    }
    // Fails the run as soon as work failed on an object no store can hold.
    let oversized = |cluster: &Cluster| -> Result<(), RunError> {
        match cluster.first_failure() {
            Some((_, first)) if cluster.counters().oversized > 0 => Err(RunError::Oversized {
                failed: cluster.counters().oversized,
                first: first.to_string(),
            }),
            _ => Ok(()),
        }
    };
    let mut iteration = 0u64;
    loop {
        let start = cluster.now();
        let more = match w.schedule.end {
            End::Duration(d) => start < d,
            End::Iterations(k) => iteration < k,
        };
        if !more {
            break;
        }
        let head = header(iteration, start);
        let mut nodes = once.clone();
        for i in 0..n {
            if w.stages[i].scope == Scope::Iteration {
                nodes[i] = Some(stage(cluster, i, iteration, &nodes, &head)?);
            }
        }
        for node in nodes.iter().flatten() {
            node.force(cluster)?;
        }
        drop(nodes);
        iteration += 1;
        let wait = match w.schedule.mode {
            Mode::FixedDelay => w.schedule.period,
            Mode::FixedRate => (start + w.schedule.period).saturating_sub(cluster.now()),
        };
        cluster.sleep(wait)?;
        oversized(cluster)?;
        progress(cluster);
    }
    drop(once);
    let ran = cluster.now();
    let drain = w.schedule.drain.unwrap_or(ran);
    let idle = cluster.run_until_idle_or(ran.saturating_add(drain))?;
    oversized(cluster)?;
    Ok(DriveReport {
        iterations: iteration,
        datapoints_expected: datapoints_expected(w, cluster)?,
        actor_totals: actor_totals(cluster),
        unfinished: if idle { 0 } else { cluster.live_tasks() as u64 },
        failed: cluster.counters().failed,
        first_failure: cluster.first_failure().map(|(_, why)| why.to_string()),
    })
}

/// The total of every constructed actor, by ascending id.
fn actor_totals(cluster: &Cluster) -> Vec<(ActorId, u64)> {
    cluster
        .constructed_actors()
        .into_iter()
        .filter_map(|a| cluster.actor_state(a, |total: &u64| (a, *total)))
        .collect()
}

/// One datapoint per submission of a recording kind.
fn datapoints_expected(w: &Resolved, cluster: &Cluster) -> Result<u64, RuntimeError> {
    let mut expected = 0;
    for (name, _) in w.tasks.iter().filter(|(_, k)| k.record) {
        expected += cluster.submitted_tasks(cluster.function(name)?);
    }
    for (name, actor) in &w.actors {
        let id = cluster.actor_kind(name)?;
        for (m, _) in actor.methods.iter().filter(|(_, k)| k.record) {
            expected += cluster.submitted_calls(id, cluster.method(id, m)?);
        }
    }
    Ok(expected)
}
