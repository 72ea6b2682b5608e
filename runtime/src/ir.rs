//! The IR: the write-up's four node kinds (and cohort's multi-input map, a join) that
//! describe map-reduce-style programs and attach group hints to every task they submit.
//!
//! - `Broadcast(task, n)`: runs `task` once; yields `n` handles to its one result.
//! - `Map(task, objects)`: one task per input object (task `i` gets input `i`'s outputs).
//!   cohort extends it with a fan-in `k` ([`Ir::map_chunks`]): task `i` gets the outputs of
//!   inputs `i*k .. (i+1)*k`, so that trees (e.g. a tree reduction) can be written; its hint is
//!   a task dependency on its first input.
//!   cohort also extends it to several inputs ([`Ir::map_join`], a join): with
//!   [`Pairing::Zip`] task `i` gets element `i` of every input; with [`Pairing::Product`] one
//!   task per combination of one element of each input.
//! - `InitActors(kind, n)`: `n` actors; creating them does not place them.
//! - `ReduceActors(method, actors, objects)`: calls `method` on every actor, each call given
//!   all of `objects`.
//!
//! Each node is a group; each task in it has an index. Hints, as the group-scheduling write-up
//! defines them: a Broadcast task has none; a Map over a Broadcast depends on the broadcast's
//! group; a Map over anything else depends on the task with the same index in its input; a
//! ReduceActors call depends on its objects' group; an actor inherits the dependency of the
//! first call made on it, which is when the runtime places it. A join's task has the hints a
//! Map over the join's *first* input would give the task reading the same element of it (see
//! [`Ir::map_join`]).
//!
//! Evaluation is semi-lazy: [`IrNode::eval`] submits the node and whatever it needs that has
//! not been submitted yet, once (results are memoized), and returns the references. Nodes are
//! cheap handles; when the last handle to a node is dropped (including those held by nodes
//! built on it), its group is freed in the scheduler.

use crate::cluster::{ActorHandle, Call, Cluster, ObjectRef, Outputs, RefTracker, Task, TaskArg};
use crate::core::work::{FnId, KindId, MethodId};
use crate::error::RuntimeError;
use crate::exec::Runner;
use cohort_policy::{Dependency, GroupId, Hints};
use std::fmt;
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// Errors building or evaluating IR nodes. Each names the node.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum IrError {
    /// The runtime refused something the node asked for.
    #[error("{node}: {source}")]
    Runtime {
        /// The node.
        node: String,
        /// The runtime's error.
        source: RuntimeError,
    },
    /// Per-task argument lists do not match the node's width.
    #[error("{node}: {got} argument lists for {expected} {what}")]
    ArgsLength {
        /// The node.
        node: String,
        /// Tasks, actors or calls.
        what: &'static str,
        /// The node's width.
        expected: usize,
        /// Argument lists given.
        got: usize,
    },
    /// An input was released before this node was evaluated.
    #[error("{node}: its input {input} was released")]
    InputReleased {
        /// The node.
        node: String,
        /// The input.
        input: String,
    },
    /// A map's fan-in is zero.
    #[error("{node}: the fan-in must be at least 1")]
    ZeroFanIn {
        /// The node.
        node: String,
    },
    /// A join was given no inputs.
    #[error("{node}: a join needs at least one input")]
    NoInputs {
        /// The node.
        node: String,
    },
    /// A zip's inputs are not all as wide.
    #[error(
        "{node}: a zip pairs element i of every input, but the inputs yield {widths:?} elements"
    )]
    WidthMismatch {
        /// The node.
        node: String,
        /// Each input's width, in order.
        widths: Vec<usize>,
    },
    /// A product's width (the product of its inputs' widths) does not fit in a `usize`.
    #[error("{node}: a product of inputs yielding {widths:?} elements has too many tasks")]
    TooWide {
        /// The node.
        node: String,
        /// Each input's width, in order.
        widths: Vec<usize>,
    },
    /// The node itself was released.
    #[error("{node} was released and cannot be evaluated")]
    Released {
        /// The node.
        node: String,
    },
    /// An input is of the wrong kind (actors where objects are needed, or the reverse).
    #[error("{node}: {input} {problem}")]
    WrongInput {
        /// The node.
        node: String,
        /// The input.
        input: String,
        /// What is wrong.
        problem: &'static str,
    },
}

/// How a map over several inputs ([`Ir::map_join`]) pairs their elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pairing {
    /// Task `i` gets element `i` of every input; every input must yield as many elements.
    Zip,
    /// One task per combination of one element of each input, in row-major order (the first
    /// input varies slowest): with input widths `w0, w1`, task `i0 * w1 + i1` gets element
    /// `i0` of input 0 and element `i1` of input 1; likewise for more inputs.
    Product,
}

/// Options of the tasks or calls a node submits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeOptions {
    /// Return values per task or call (default 1).
    pub returns: u32,
    /// CPUs per task (default 1; ignored for actor calls).
    pub cpus: u32,
    /// Declared size of each output, shown to policies while pending (default 0).
    pub declared_output_size: u64,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            returns: 1,
            cpus: 1,
            declared_output_size: 0,
        }
    }
}

enum Op {
    Broadcast {
        task: FnId,
        n: usize,
        args: Vec<TaskArg>,
    },
    Map {
        task: FnId,
        input: IrNode,
        fan_in: usize,
        args: Extra,
    },
    Join {
        task: FnId,
        inputs: Vec<IrNode>,
        pairing: Pairing,
        /// Tasks submitted (checked when the node was built).
        width: usize,
        args: Extra,
    },
    InitActors {
        kind: KindId,
        n: usize,
        args: Vec<Vec<TaskArg>>,
    },
    ReduceActors {
        method: MethodId,
        actors: IrNode,
        input: IrNode,
        args: Extra,
    },
}

/// The extra arguments of a node's tasks or calls, after those it takes from its input.
///
/// Invariant: a `PerTask` list is empty or holds one list per task (checked when the node is
/// built).
enum Extra {
    /// One list per task, or none at all.
    PerTask(Vec<Vec<TaskArg>>),
    /// One list every task gets: kept once rather than copied per task.
    Shared(Vec<TaskArg>),
}

impl Extra {
    /// The extra arguments of task `i`.
    fn of(&self, i: usize) -> &[TaskArg] {
        match self {
            Extra::PerTask(lists) => lists.get(i).map_or(&[], Vec::as_slice),
            Extra::Shared(list) => list,
        }
    }
}

enum Output {
    /// Per task (or handle), its return values.
    Objects(Vec<Outputs>),
    Actors(Vec<ActorHandle>),
}

enum State {
    Unevaluated,
    /// Shared with every node that reads it, so reading clones no handle.
    Evaluated(Arc<Output>),
    Released,
}

struct Inner {
    group: GroupId,
    /// The node kind and the name it was built with: the node's label is
    /// `kind(name) [group g]`, written out only when shown.
    kind: &'static str,
    name: String,
    op: Op,
    options: NodeOptions,
    state: Mutex<State>,
    tracker: Arc<RefTracker>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let state = self
            .state
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        retire(&self.tracker, state);
        self.tracker.free_group(self.group);
    }
}

/// Retires the objects of a node's `state` before its handles go, if the cluster's object
/// lifetime asks for it (see [`crate::ObjectLifetime::LruIrRelease`]).
fn retire(tracker: &RefTracker, state: &State) {
    if !tracker.retires() {
        return;
    }
    if let State::Evaluated(out) = state
        && let Output::Objects(objects) = &**out
    {
        for r in objects.iter().flatten() {
            tracker.retire(r.id());
        }
    }
}

/// A node of an IR graph. Cloning is cheap and shares the node.
#[derive(Clone)]
pub struct IrNode(Arc<Inner>);

impl fmt::Debug for IrNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_label(f)
    }
}

impl fmt::Display for IrNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_label(f)
    }
}

impl IrNode {
    fn write_label(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Inner {
            kind, name, group, ..
        } = &*self.0;
        write!(f, "{kind}({name}) [group {}]", group.0)
    }
}

/// Builds IR nodes for one cluster (see [`Cluster::ir`]).
#[derive(Clone)]
pub struct Ir {
    tracker: Arc<RefTracker>,
    runner: Arc<Runner>,
}

impl fmt::Debug for Ir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ir").finish_non_exhaustive()
    }
}

impl Cluster {
    /// A builder of IR graphs evaluated on this cluster.
    pub fn ir(&self) -> Ir {
        let (tracker, runner) = self.handles();
        Ir::new(tracker, runner)
    }
}

impl Ir {
    fn new(tracker: Arc<RefTracker>, runner: Arc<Runner>) -> Self {
        Ir { tracker, runner }
    }

    fn node(&self, kind: &'static str, name: &str, op: Op, options: NodeOptions) -> IrNode {
        let group = self.tracker.new_group();
        IrNode(Arc::new(Inner {
            group,
            kind,
            name: name.to_string(),
            op,
            options,
            state: Mutex::new(State::Unevaluated),
            tracker: Arc::clone(&self.tracker),
        }))
    }

    fn named_err(kind: &str, name: &str, source: RuntimeError) -> IrError {
        IrError::Runtime {
            node: format!("{kind}({name})"),
            source,
        }
    }

    /// `Broadcast(task, n)`: `task` runs once with `args`; the node yields `n` handles to its
    /// result.
    pub fn broadcast(
        &self,
        task: &str,
        n: usize,
        args: Vec<TaskArg>,
        options: NodeOptions,
    ) -> Result<IrNode, IrError> {
        let id = self
            .runner
            .registry()
            .function_id(task)
            .map_err(|e| Self::named_err("Broadcast", task, e))?;
        Ok(self.node(
            "Broadcast",
            task,
            Op::Broadcast { task: id, n, args },
            options,
        ))
    }

    /// `Map(task, input)`: one task per element of `input`. `args` is empty, or holds one
    /// list of extra arguments per task.
    pub fn map(
        &self,
        task: &str,
        input: &IrNode,
        args: Vec<Vec<TaskArg>>,
        options: NodeOptions,
    ) -> Result<IrNode, IrError> {
        self.map_chunks(task, input, 1, args, options)
    }

    /// `Map` with fan-in `fan_in` (at least 1): one task per `fan_in` consecutive elements of
    /// `input` (the last chunk may be shorter). `args` is empty or holds one list per task.
    pub fn map_chunks(
        &self,
        task: &str,
        input: &IrNode,
        fan_in: usize,
        args: Vec<Vec<TaskArg>>,
        options: NodeOptions,
    ) -> Result<IrNode, IrError> {
        self.map_with(task, input, fan_in, Extra::PerTask(args), options)
    }

    /// [`Ir::map_chunks`] where every task gets the same extra arguments `args` (after its
    /// input's objects): the same tasks as passing one copy of `args` per task, built without
    /// the copies.
    pub fn map_chunks_shared(
        &self,
        task: &str,
        input: &IrNode,
        fan_in: usize,
        args: Vec<TaskArg>,
        options: NodeOptions,
    ) -> Result<IrNode, IrError> {
        self.map_with(task, input, fan_in, Extra::Shared(args), options)
    }

    fn map_with(
        &self,
        task: &str,
        input: &IrNode,
        fan_in: usize,
        args: Extra,
        options: NodeOptions,
    ) -> Result<IrNode, IrError> {
        let id = self
            .runner
            .registry()
            .function_id(task)
            .map_err(|e| Self::named_err("Map", task, e))?;
        if fan_in == 0 {
            return Err(IrError::ZeroFanIn {
                node: format!("Map({task})"),
            });
        }
        let width = input.width().div_ceil(fan_in);
        if input.yields_actors() {
            return Err(IrError::WrongInput {
                node: format!("Map({task})"),
                input: input.to_string(),
                problem: "yields actors, not objects",
            });
        }
        if let Extra::PerTask(lists) = &args {
            check_args(|| format!("Map({task})"), "tasks", width, lists)?;
        }
        Ok(self.node(
            "Map",
            task,
            Op::Map {
                task: id,
                input: input.clone(),
                fan_in,
                args,
            },
            options,
        ))
    }

    /// A `Map` over several inputs (a join): one task per pairing of their elements, as
    /// `pairing` says ([`Pairing::Zip`]: task `i` gets element `i` of every input, which must
    /// all be as wide; [`Pairing::Product`]: one task per combination). Each task's arguments
    /// are the outputs of its element of input 0, then of input 1, and so on, then its extra
    /// `args` (empty, or one list per task).
    ///
    /// Hints: the node is a group; task `i` has index `i`; its dependency is the one a Map
    /// over `inputs[0]` would give the task reading the same element of it: the broadcast's
    /// group if `inputs[0]` is a Broadcast (place near that group), else a task dependency on
    /// that element's producer (place with it). A task gets one dependency, and the group
    /// policy follows it to a node; naming the first input's producer means that input is
    /// read where it was made, while the other inputs move to it. So put first the input
    /// whose elements are largest (for a broadcast join, the partitioned side). With one
    /// input, a zip is exactly [`Ir::map`].
    pub fn map_join(
        &self,
        task: &str,
        inputs: &[&IrNode],
        pairing: Pairing,
        args: Vec<Vec<TaskArg>>,
        options: NodeOptions,
    ) -> Result<IrNode, IrError> {
        self.join_with(task, inputs, pairing, Extra::PerTask(args), options)
    }

    /// [`Ir::map_join`] where every task gets the same extra arguments `args` (after its
    /// inputs' objects): the same tasks as passing one copy of `args` per task, built without
    /// the copies.
    pub fn map_join_shared(
        &self,
        task: &str,
        inputs: &[&IrNode],
        pairing: Pairing,
        args: Vec<TaskArg>,
        options: NodeOptions,
    ) -> Result<IrNode, IrError> {
        self.join_with(task, inputs, pairing, Extra::Shared(args), options)
    }

    fn join_with(
        &self,
        task: &str,
        inputs: &[&IrNode],
        pairing: Pairing,
        args: Extra,
        options: NodeOptions,
    ) -> Result<IrNode, IrError> {
        let label = || format!("Join({task})");
        let id = self
            .runner
            .registry()
            .function_id(task)
            .map_err(|e| Self::named_err("Join", task, e))?;
        if inputs.is_empty() {
            return Err(IrError::NoInputs { node: label() });
        }
        if let Some(input) = inputs.iter().find(|i| i.yields_actors()) {
            return Err(IrError::WrongInput {
                node: label(),
                input: input.to_string(),
                problem: "yields actors, not objects",
            });
        }
        let widths: Vec<usize> = inputs.iter().map(|i| i.width()).collect();
        let width = match pairing {
            Pairing::Zip if widths.iter().any(|&w| w != widths[0]) => {
                return Err(IrError::WidthMismatch {
                    node: label(),
                    widths,
                });
            }
            Pairing::Zip => widths[0],
            Pairing::Product => match widths.iter().try_fold(1usize, |p, &w| p.checked_mul(w)) {
                Some(w) => w,
                None => {
                    return Err(IrError::TooWide {
                        node: label(),
                        widths,
                    });
                }
            },
        };
        if let Extra::PerTask(lists) = &args {
            check_args(label, "tasks", width, lists)?;
        }
        Ok(self.node(
            "Join",
            task,
            Op::Join {
                task: id,
                inputs: inputs.iter().map(|&i| i.clone()).collect(),
                pairing,
                width,
                args,
            },
            options,
        ))
    }

    /// `InitActors(kind, n)`: `n` actors of `kind`. `args` is empty, or holds one list of
    /// constructor arguments per actor. They are placed at their first call.
    pub fn init_actors(
        &self,
        kind: &str,
        n: usize,
        args: Vec<Vec<TaskArg>>,
    ) -> Result<IrNode, IrError> {
        let id = self
            .runner
            .registry()
            .kind_id(kind)
            .map_err(|e| Self::named_err("InitActors", kind, e))?;
        check_args(|| format!("InitActors({kind})"), "actors", n, &args)?;
        Ok(self.node(
            "InitActors",
            kind,
            Op::InitActors { kind: id, n, args },
            NodeOptions::default(),
        ))
    }

    /// `ReduceActors(method, actors, input)`: calls `method` on every actor of `actors`, each
    /// call given all of `input`'s objects followed by its own extra `args` (empty, or one
    /// list per actor).
    pub fn reduce_actors(
        &self,
        method: &str,
        actors: &IrNode,
        input: &IrNode,
        args: Vec<Vec<TaskArg>>,
        options: NodeOptions,
    ) -> Result<IrNode, IrError> {
        self.reduce_with(method, actors, input, Extra::PerTask(args), options)
    }

    /// [`Ir::reduce_actors`] where every call gets the same extra arguments `args` (after
    /// `input`'s objects): the same calls as passing one copy of `args` per actor, built
    /// without the copies.
    pub fn reduce_actors_shared(
        &self,
        method: &str,
        actors: &IrNode,
        input: &IrNode,
        args: Vec<TaskArg>,
        options: NodeOptions,
    ) -> Result<IrNode, IrError> {
        self.reduce_with(method, actors, input, Extra::Shared(args), options)
    }

    fn reduce_with(
        &self,
        method: &str,
        actors: &IrNode,
        input: &IrNode,
        args: Extra,
        options: NodeOptions,
    ) -> Result<IrNode, IrError> {
        let label = || format!("ReduceActors({method})");
        let Op::InitActors { kind, n, .. } = &actors.0.op else {
            return Err(IrError::WrongInput {
                node: label(),
                input: actors.to_string(),
                problem: "is not an InitActors node",
            });
        };
        if input.yields_actors() {
            return Err(IrError::WrongInput {
                node: label(),
                input: input.to_string(),
                problem: "yields actors, not objects",
            });
        }
        let id = self
            .runner
            .registry()
            .method_id(*kind, method)
            .map_err(|e| IrError::Runtime {
                node: label(),
                source: e,
            })?;
        if let Extra::PerTask(lists) = &args {
            check_args(label, "actors", *n, lists)?;
        }
        Ok(self.node(
            "ReduceActors",
            method,
            Op::ReduceActors {
                method: id,
                actors: actors.clone(),
                input: input.clone(),
                args,
            },
            options,
        ))
    }
}

/// Checks that `args` is empty or holds `expected` lists; `node` names the node in the error.
fn check_args(
    node: impl FnOnce() -> String,
    what: &'static str,
    expected: usize,
    args: &[Vec<TaskArg>],
) -> Result<(), IrError> {
    if args.is_empty() || args.len() == expected {
        Ok(())
    } else {
        Err(IrError::ArgsLength {
            node: node(),
            what,
            expected,
            got: args.len(),
        })
    }
}

impl IrNode {
    /// The node's group.
    pub fn group(&self) -> GroupId {
        self.0.group
    }

    /// How many handles (objects per task, or actors) the node yields.
    pub fn width(&self) -> usize {
        match &self.0.op {
            Op::Broadcast { n, .. } | Op::InitActors { n, .. } => *n,
            Op::Map { input, fan_in, .. } => input.width().div_ceil(*fan_in),
            Op::Join { width, .. } => *width,
            Op::ReduceActors { actors, .. } => actors.width(),
        }
    }

    /// Whether the node yields actors (an InitActors node) rather than objects.
    pub fn yields_actors(&self) -> bool {
        matches!(self.0.op, Op::InitActors { .. })
    }

    /// Whether the node has been evaluated (and not released).
    pub fn is_evaluated(&self) -> bool {
        matches!(*self.lock(), State::Evaluated(_))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned state only means a panic elsewhere; the state itself is always whole.
        self.0
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops the node's results and frees its group now, even if handles remain. Nodes that
    /// need it and are not evaluated yet will fail to evaluate.
    pub fn release(&self) {
        let mut state = self.lock();
        if !matches!(*state, State::Released) {
            retire(&self.0.tracker, &state);
            *state = State::Released;
            self.0.tracker.free_group(self.0.group);
        }
    }

    /// Evaluates the node (and whatever it needs) once; returns its objects, one list of
    /// return values per task (or per handle, for a Broadcast).
    pub fn eval(&self, cluster: &mut Cluster) -> Result<Vec<Outputs>, IrError> {
        match &*self.evaluate(cluster)? {
            Output::Objects(o) => Ok(o.clone()),
            Output::Actors(_) => Err(IrError::WrongInput {
                node: self.to_string(),
                input: self.to_string(),
                problem: "yields actors, not objects: use eval_actors",
            }),
        }
    }

    /// Evaluates an InitActors node: creates its actors (unplaced) once and returns them.
    pub fn eval_actors(&self, cluster: &mut Cluster) -> Result<Vec<ActorHandle>, IrError> {
        match &*self.evaluate(cluster)? {
            Output::Actors(a) => Ok(a.clone()),
            Output::Objects(_) => Err(IrError::WrongInput {
                node: self.to_string(),
                input: self.to_string(),
                problem: "yields objects, not actors: use eval",
            }),
        }
    }

    /// Evaluates the node (and whatever it needs) once, as [`IrNode::eval`] or
    /// [`IrNode::eval_actors`] would, without copying out its objects or actors.
    pub fn force(&self, cluster: &mut Cluster) -> Result<(), IrError> {
        self.evaluate(cluster).map(drop)
    }

    fn input_output(&self, input: &IrNode, cluster: &mut Cluster) -> Result<Arc<Output>, IrError> {
        input.evaluate(cluster).map_err(|e| match e {
            IrError::Released { node } => IrError::InputReleased {
                node: self.to_string(),
                input: node,
            },
            other => other,
        })
    }

    fn evaluate(&self, cluster: &mut Cluster) -> Result<Arc<Output>, IrError> {
        match &*self.lock() {
            State::Evaluated(out) => return Ok(Arc::clone(out)),
            State::Released => {
                return Err(IrError::Released {
                    node: self.to_string(),
                });
            }
            State::Unevaluated => {}
        }
        let out = Arc::new(self.submit(cluster)?);
        *self.lock() = State::Evaluated(Arc::clone(&out));
        Ok(out)
    }

    fn err(&self, source: RuntimeError) -> IrError {
        IrError::Runtime {
            node: self.to_string(),
            source,
        }
    }

    fn hints(&self, index: usize, dependency: Dependency) -> Hints {
        Hints {
            group: self.0.group,
            index: index as u32,
            dependency,
        }
    }

    fn submit(&self, cluster: &mut Cluster) -> Result<Output, IrError> {
        let opts = self.0.options;
        let task_of = |f: FnId| {
            Task::new(f)
                .returns(opts.returns)
                .cpus(opts.cpus)
                .declared_output_size(opts.declared_output_size)
        };
        match &self.0.op {
            Op::Broadcast { task, n, args } => {
                let task = task_of(*task)
                    .reserve_args(args.len())
                    .args(args.iter().cloned())
                    .hints(self.hints(0, Dependency::None));
                let outs = cluster.submit(task).map_err(|e| self.err(e))?;
                Ok(Output::Objects(vec![outs; *n]))
            }
            Op::Map {
                task,
                input,
                fan_in,
                args,
            } => {
                let inputs = self.input_output(input, cluster)?;
                let Output::Objects(inputs) = &*inputs else {
                    unreachable!("checked when the node was built");
                };
                let broadcast = matches!(input.0.op, Op::Broadcast { .. });
                let mut outs = Vec::with_capacity(inputs.len().div_ceil(*fan_in));
                for (i, chunk) in inputs.chunks(*fan_in).enumerate() {
                    let dependency = if broadcast {
                        Dependency::Group(input.group())
                    } else {
                        Dependency::Task(input.group(), (i * fan_in) as u32)
                    };
                    let extra = args.of(i);
                    let width = chunk.iter().map(|o| o.len()).sum::<usize>() + extra.len();
                    let t = task_of(*task)
                        .reserve_args(width)
                        .args(chunk.iter().flatten())
                        .args(extra.iter().cloned())
                        .hints(self.hints(i, dependency));
                    outs.push(cluster.submit(t).map_err(|e| self.err(e))?);
                }
                Ok(Output::Objects(outs))
            }
            Op::Join {
                task,
                inputs,
                pairing,
                width,
                args,
            } => {
                let mut outputs = Vec::with_capacity(inputs.len());
                for input in inputs {
                    outputs.push(self.input_output(input, cluster)?);
                }
                let elements = |k: usize| match &*outputs[k] {
                    Output::Objects(o) => o.as_slice(),
                    Output::Actors(_) => unreachable!("checked when the node was built"),
                };
                let first = &inputs[0];
                let broadcast = matches!(first.0.op, Op::Broadcast { .. });
                let mut outs = Vec::with_capacity(*width);
                let mut chosen: Vec<&Outputs> = Vec::with_capacity(inputs.len());
                for i in 0..*width {
                    // The element of each input task `i` reads (row-major for a product).
                    chosen.clear();
                    let mut rest = i;
                    for k in (0..inputs.len()).rev() {
                        let e = elements(k);
                        let j = match pairing {
                            Pairing::Zip => i,
                            Pairing::Product => {
                                let j = rest % e.len();
                                rest /= e.len();
                                j
                            }
                        };
                        chosen.push(&e[j]);
                    }
                    chosen.reverse();
                    let at_first = match pairing {
                        Pairing::Zip => i,
                        Pairing::Product => i / (*width / elements(0).len()),
                    };
                    let dependency = if broadcast {
                        Dependency::Group(first.group())
                    } else {
                        Dependency::Task(first.group(), at_first as u32)
                    };
                    let extra = args.of(i);
                    let n = chosen.iter().map(|o| o.len()).sum::<usize>() + extra.len();
                    let t = task_of(*task)
                        .reserve_args(n)
                        .args(chosen.iter().copied().flatten())
                        .args(extra.iter().cloned())
                        .hints(self.hints(i, dependency));
                    outs.push(cluster.submit(t).map_err(|e| self.err(e))?);
                }
                Ok(Output::Objects(outs))
            }
            Op::InitActors { kind, n, args } => {
                let mut actors = Vec::with_capacity(*n);
                for i in 0..*n {
                    let a = args.get(i).cloned().unwrap_or_default();
                    let h = self.hints(i, Dependency::None);
                    actors.push(cluster.create_actor(*kind, a, h).map_err(|e| self.err(e))?);
                }
                Ok(Output::Actors(actors))
            }
            Op::ReduceActors {
                method,
                actors,
                input,
                args,
            } => {
                let handles = self.input_output(actors, cluster)?;
                let Output::Actors(handles) = &*handles else {
                    unreachable!("checked when the node was built");
                };
                let inputs = self.input_output(input, cluster)?;
                let Output::Objects(inputs) = &*inputs else {
                    unreachable!("checked when the node was built");
                };
                let all: Vec<&ObjectRef> = inputs.iter().flatten().collect();
                let mut outs = Vec::with_capacity(handles.len());
                for (r, actor) in handles.iter().enumerate() {
                    let extra = args.of(r);
                    let call = Call::new(*method)
                        .reserve_args(all.len() + extra.len())
                        .args(all.iter().copied())
                        .args(extra.iter().cloned())
                        .returns(opts.returns)
                        .declared_output_size(opts.declared_output_size)
                        .hints(self.hints(r, Dependency::Group(input.group())));
                    outs.push(cluster.call(actor, call).map_err(|e| self.err(e))?);
                }
                Ok(Output::Objects(outs))
            }
        }
    }
}
