//! The driver API: a cluster in this process, on the virtual or the real clock.

use crate::core::transport::TransportModel;
use crate::core::work::{Arg, CallRequest, ExecWork, FnId, KindId, MethodId, TaskRequest};
use crate::core::{ClockMode, Core, CoreConfig, ObjectStatus};
use crate::error::{ActorId, RuntimeError};
use crate::exec::external::{Backend, External};
use crate::exec::real_clock::RealClock;
use crate::exec::virtual_clock::VirtualClock;
use crate::exec::{Executor, RunEnd, Runner};
use crate::infer::{Code, HintAgreement, Inference};
use crate::model::{HintSource, ModelOptions, ObjectLifetime};
use crate::payload::Payload;
use crate::registry::Registry;
use crate::spec::ClusterSpec;
use crate::time::Nanos;
use crate::trace::{Counters, HostWork, Trace, TraceLevel};
use cohort_policy::{
    Dependency, GroupId, Hints, NodeId, NodeView, ObjectId, Policy, Resources, TaskId,
};
use smallvec::SmallVec;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Which clock a cluster runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Clock {
    /// Discrete-event virtual time; durations from the cost model. Deterministic.
    #[default]
    Virtual,
    /// Wall-clock time; code runs on `workers` threads.
    Real {
        /// Add the cost model's duration after each real execution.
        add_modeled: bool,
        /// Worker threads.
        workers: usize,
    },
}

/// How a cluster runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ClusterConfig {
    /// The clock.
    pub clock: Clock,
    /// Staleness of the policy's load view in nanoseconds (0: always current).
    pub heartbeat: Nanos,
    /// The node the driver's puts go to (node 0 by default).
    pub driver_node: NodeId,
    /// What the trace records.
    pub trace: TraceLevel,
    /// Driver time spent on each submission (task or method call), in nanoseconds: the
    /// cluster keeps working while the driver submits. 0 by default.
    pub submit_cost: Nanos,
    /// The runtime model's options (all off by default).
    pub model: ModelOptions,
    /// The run's seed, for the runtime's own draws (duration jitter); policies get theirs
    /// separately.
    pub seed: u64,
}

/// A reference to an object, held by the driver. While any clone of it lives, the object is
/// not freed. Dropping the last reference (and the last use by pending work) frees it on
/// every node.
///
/// Clones share one `Handle`: the core counts one driver reference per object however many
/// clones the driver holds, so cloning never reaches the core.
#[derive(Clone, Debug)]
pub struct ObjectRef(Arc<Handle>);

/// The driver's one reference to an object; dropping it releases that reference.
#[derive(Debug)]
struct Handle {
    id: ObjectId,
    tracker: Arc<RefTracker>,
}

impl ObjectRef {
    /// The object's id.
    pub fn id(&self) -> ObjectId {
        self.0.id
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.tracker.push_op(DriverOp::Release(self.id));
    }
}

/// The references a submission returns, one per return value, in order. Derefs to a slice;
/// up to two are held inline, so the common one-output task allocates no list.
#[derive(Clone, Debug, Default)]
pub struct Outputs(SmallVec<[ObjectRef; 2]>);

impl Outputs {
    /// Takes out the reference at `index`, like [`Vec::remove`] (which it panics like, if
    /// `index` is out of bounds): `submit(..)?.remove(0)` is the first output.
    pub fn remove(&mut self, index: usize) -> ObjectRef {
        self.0.remove(index)
    }
}

impl std::ops::Deref for Outputs {
    type Target = [ObjectRef];
    fn deref(&self) -> &[ObjectRef] {
        &self.0
    }
}

impl FromIterator<ObjectRef> for Outputs {
    fn from_iter<I: IntoIterator<Item = ObjectRef>>(iter: I) -> Self {
        Outputs(iter.into_iter().collect())
    }
}

impl IntoIterator for Outputs {
    type Item = ObjectRef;
    type IntoIter = smallvec::IntoIter<[ObjectRef; 2]>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Outputs {
    type Item = &'a ObjectRef;
    type IntoIter = std::slice::Iter<'a, ObjectRef>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Changes made by handles on the driver's side (reference counts, freed IR groups), applied
/// to the core at the next driver call, in the order they were made.
#[derive(Debug, Default)]
pub(crate) struct RefTracker {
    ops: Mutex<Vec<DriverOp>>,
    /// Whether `ops` may hold something: set with every push (under the lock), cleared when
    /// they are taken, so that a driver call with nothing queued takes no lock.
    queued: AtomicBool,
    next_group: std::sync::atomic::AtomicU64,
    /// Whether the IR retires the objects of the nodes it drops
    /// ([`ObjectLifetime::LruIrRelease`]).
    retires: bool,
}

#[derive(Clone, Copy, Debug)]
enum DriverOp {
    Release(ObjectId),
    FreeGroup(GroupId),
    Retire(ObjectId),
}

impl RefTracker {
    #[inline]
    fn push_op(&self, op: DriverOp) {
        if let Ok(mut ops) = self.ops.lock() {
            ops.push(op);
            self.queued.store(true, Ordering::Release);
        }
    }

    /// Queues the freeing of a group (an IR node was dropped).
    pub(crate) fn free_group(&self, group: GroupId) {
        self.push_op(DriverOp::FreeGroup(group));
    }

    /// Whether the IR should retire the objects of the nodes it drops.
    pub(crate) fn retires(&self) -> bool {
        self.retires
    }

    /// Queues the retiring of an object: the IR dropped the node that made it.
    pub(crate) fn retire(&self, id: ObjectId) {
        self.push_op(DriverOp::Retire(id));
    }

    /// A group id never handed out before (ids start at 1; 0 means no group).
    pub(crate) fn new_group(&self) -> GroupId {
        GroupId(
            self.next_group
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1,
        )
    }

    /// Swaps the queued changes into `buf` (which must be empty) and leaves `buf`'s old
    /// allocation as the new queue, so that queueing does not allocate in steady state.
    #[inline]
    fn swap_out(&self, buf: &mut Vec<DriverOp>) {
        debug_assert!(buf.is_empty());
        if !self.queued.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut ops) = self.ops.lock() {
            std::mem::swap(&mut *ops, buf);
            self.queued.store(false, Ordering::Relaxed);
        }
    }
}

/// An argument of a task or method call.
#[derive(Clone, Debug)]
pub enum TaskArg {
    /// An object by reference.
    Ref(ObjectRef),
    /// An inline value.
    Value(Payload),
}

impl From<&ObjectRef> for TaskArg {
    fn from(r: &ObjectRef) -> Self {
        TaskArg::Ref(r.clone())
    }
}

impl From<ObjectRef> for TaskArg {
    fn from(r: ObjectRef) -> Self {
        TaskArg::Ref(r)
    }
}

impl From<Payload> for TaskArg {
    fn from(p: Payload) -> Self {
        TaskArg::Value(p)
    }
}

/// The builder methods [`Task`] and [`Call`] share.
macro_rules! submission_builders {
    ($ty:ty) => {
        impl $ty {
            /// Appends an argument.
            pub fn arg(mut self, arg: impl Into<TaskArg>) -> Self {
                self.args.push(arg.into());
                self
            }

            /// Makes room for `additional` more arguments at once, so that appending them
            /// does not grow the list step by step.
            #[inline]
            pub(crate) fn reserve_args(mut self, additional: usize) -> Self {
                self.args.reserve_exact(additional);
                self
            }

            /// Appends arguments.
            pub fn args<A: Into<TaskArg>>(mut self, args: impl IntoIterator<Item = A>) -> Self {
                self.args.extend(args.into_iter().map(Into::into));
                self
            }

            /// Sets the number of return values.
            pub fn returns(mut self, n: u32) -> Self {
                self.num_returns = n;
                self
            }

            /// Sets the scheduling hints.
            pub fn hints(mut self, hints: Hints) -> Self {
                self.hints = hints;
                self
            }

            /// Declares the size of each output, for policies to see while it is pending.
            pub fn declared_output_size(mut self, bytes: u64) -> Self {
                self.declared_output_size = bytes;
                self
            }
        }
    };
}

/// A task to submit: a function, its arguments, and how to run it. Defaults: one CPU, one
/// return value, no hints.
#[derive(Clone, Debug)]
pub struct Task {
    function: FnId,
    args: Vec<TaskArg>,
    demand: Resources,
    num_returns: u32,
    hints: Hints,
    declared_output_size: u64,
}

impl Task {
    /// A task running `function`.
    pub fn new(function: FnId) -> Self {
        Task {
            function,
            args: Vec::new(),
            demand: Resources { cpus: 1 },
            num_returns: 1,
            hints: Hints::NONE,
            declared_output_size: 0,
        }
    }

    /// Sets the CPU demand.
    pub fn cpus(mut self, cpus: u32) -> Self {
        self.demand = Resources { cpus };
        self
    }
}

submission_builders!(Task);

/// A method call to submit. Defaults: one return value, no hints.
#[derive(Clone, Debug)]
pub struct Call {
    method: MethodId,
    args: Vec<TaskArg>,
    num_returns: u32,
    hints: Hints,
    declared_output_size: u64,
}

impl Call {
    /// A call of `method`.
    pub fn new(method: MethodId) -> Self {
        Call {
            method,
            args: Vec::new(),
            num_returns: 1,
            hints: Hints::NONE,
            declared_output_size: 0,
        }
    }
}

submission_builders!(Call);

/// A handle to an actor. Actors live as long as the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ActorHandle {
    id: ActorId,
    kind: KindId,
}

impl ActorHandle {
    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.id
    }

    /// Its kind.
    pub fn kind(&self) -> KindId {
        self.kind
    }
}

/// What [`Cluster::wait`] waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitMode {
    /// At least one object is no longer pending.
    Any,
    /// No object is pending.
    All,
}

/// The outcome of [`Cluster::wait`]: indices into the slice that was passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitResult {
    /// Objects that are no longer pending (ready, failed or lost).
    pub done: Vec<usize>,
    /// Objects still pending.
    pub pending: Vec<usize>,
}

/// A multi-node cluster in this process, driven by the virtual or the real clock.
pub struct Cluster {
    core: Core,
    exec: Executor,
    runner: Arc<Runner>,
    tracker: Arc<RefTracker>,
    /// The queue's spare buffer (see [`RefTracker::swap_out`]); empty between calls.
    ops: Vec<DriverOp>,
    submit_cost: Nanos,
    driver_node: NodeId,
    /// Where the hints the policy sees come from.
    hints: HintSource,
    /// Hints inferred from the submissions, with [`HintSource::Inferred`].
    inference: Inference,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// A cluster of `spec`'s nodes that can run `registry`'s code and asks `policy` where.
    pub fn new(
        spec: ClusterSpec,
        registry: Registry,
        policy: Box<dyn Policy>,
        config: ClusterConfig,
    ) -> Result<Cluster, RuntimeError> {
        if spec.network.transport == TransportModel::External {
            // Its transfers would wait forever: no executor here moves bytes.
            return Err(RuntimeError::UnsupportedTransport(spec.network.transport));
        }
        let clock = match config.clock {
            Clock::Virtual => ClockMode::Virtual,
            Clock::Real { add_modeled, .. } => ClockMode::Real { add_modeled },
        };
        let runner = Arc::new(Runner::new(registry));
        let exec = match config.clock {
            Clock::Virtual => Executor::Virtual(VirtualClock::new(Arc::clone(&runner))),
            Clock::Real { workers, .. } => {
                Executor::Real(RealClock::new(Arc::clone(&runner), workers))
            }
        };
        Cluster::assemble(spec, runner, policy, config, clock, exec)
    }

    /// A cluster of `spec`'s nodes whose code runs, and whose bytes move, in `backend` (a
    /// live deployment), in real time. `registry` must hold the code the backend runs, under
    /// the same names and in the same order (the core knows code by index); `config.clock`
    /// is ignored. The network's transport is the backend's ([`TransportModel::External`]),
    /// whatever `spec` says.
    pub fn with_backend(
        mut spec: ClusterSpec,
        registry: Registry,
        policy: Box<dyn Policy>,
        config: ClusterConfig,
        backend: Box<dyn Backend>,
    ) -> Result<Cluster, RuntimeError> {
        spec.network.transport = TransportModel::External;
        let runner = Arc::new(Runner::new(registry));
        let exec = Executor::External(External::new(backend));
        Cluster::assemble(spec, runner, policy, config, ClockMode::External, exec)
    }

    fn assemble(
        spec: ClusterSpec,
        runner: Arc<Runner>,
        policy: Box<dyn Policy>,
        config: ClusterConfig,
        clock: ClockMode,
        exec: Executor,
    ) -> Result<Cluster, RuntimeError> {
        let core = Core::new(
            spec,
            runner.registry().catalog(),
            CoreConfig {
                heartbeat: config.heartbeat,
                driver_node: config.driver_node,
                trace: config.trace,
                clock,
                model: config.model,
                seed: config.seed,
            },
            policy,
        )?;
        Ok(Cluster {
            core,
            exec,
            runner,
            tracker: Arc::new(RefTracker {
                retires: config.model.object_lifetime == ObjectLifetime::LruIrRelease,
                ..RefTracker::default()
            }),
            ops: Vec::new(),
            submit_cost: config.submit_cost,
            driver_node: config.driver_node,
            hints: config.model.hints,
            inference: Inference::default(),
        })
    }

    /// Ends the run on the executor: a backend (a live deployment) lets its nodes go and
    /// collects their reports; in this process there is nothing to do.
    pub fn stop(&mut self) -> Result<(), RuntimeError> {
        match &mut self.exec {
            Executor::External(e) => e.stop(),
            _ => Ok(()),
        }
    }

    /// The code registry.
    pub fn registry(&self) -> &Registry {
        self.runner.registry()
    }

    /// The function registered under `name`.
    pub fn function(&self, name: &str) -> Result<FnId, RuntimeError> {
        self.registry().function_id(name)
    }

    /// The actor kind registered under `name`.
    pub fn actor_kind(&self, name: &str) -> Result<KindId, RuntimeError> {
        self.registry().kind_id(name)
    }

    /// The method `name` of actor kind `kind`.
    pub fn method(&self, kind: KindId, name: &str) -> Result<MethodId, RuntimeError> {
        self.registry().method_id(kind, name)
    }

    // ----- inspection (the core's state as of the last call) -------------------------------

    /// The policy's name.
    pub fn policy_name(&self) -> &str {
        self.core.policy_name()
    }

    /// Running totals: work finished and failed, transfers, bytes moved, evictions, work run
    /// again, objects rebuilt, actors restarted, nodes declared dead.
    pub fn counters(&self) -> Counters {
        self.core.counters()
    }

    /// The work charged to the host's cores so far, by kind, when the model shares them
    /// (`ModelOptions::host_cores`); `None` otherwise.
    pub fn host_work(&self) -> Option<HostWork> {
        self.core.host_work()
    }

    /// Applies `read` to the state of `actor` as its code left it (of the latest construction,
    /// after a restart), if it has been constructed and its state is a `T`.
    pub fn actor_state<T: 'static, R>(
        &self,
        actor: ActorId,
        read: impl FnOnce(&T) -> R,
    ) -> Option<R> {
        if let Executor::External(e) = &self.exec {
            return e
                .backend()
                .actor_state(actor)?
                .downcast_ref::<T>()
                .map(read);
        }
        self.runner.actor_state(actor, read)
    }

    /// The actors whose constructor has run, ascending.
    pub fn constructed_actors(&self) -> Vec<ActorId> {
        if let Executor::External(e) = &self.exec {
            return e.backend().constructed_actors();
        }
        self.runner.actors()
    }

    /// How many tasks of `function` the driver submitted.
    pub fn submitted_tasks(&self, function: FnId) -> u64 {
        self.core.submitted(&ExecWork::Function(function))
    }

    /// How many calls of `method` of actor kind `kind` the driver submitted.
    pub fn submitted_calls(&self, kind: KindId, method: MethodId) -> u64 {
        self.core.submitted(&ExecWork::Method {
            actor: ActorId(0),
            kind,
            method,
        })
    }

    /// The first work that failed, and why (see [`Core::first_failure`]).
    pub fn first_failure(&self) -> Option<(TaskId, &str)> {
        self.core.first_failure()
    }

    /// The live state of every node: CPUs busy, work queued, store used.
    pub fn nodes(&self) -> &[NodeView] {
        self.core.nodes()
    }

    /// The nodes holding a sealed copy of an object (ascending).
    pub fn holders(&self, id: ObjectId) -> &[NodeId] {
        self.core.holders(id)
    }

    /// Where an actor was placed, if it has been.
    pub fn actor_node(&self, actor: ActorId) -> Option<NodeId> {
        self.core.actor_node(actor)
    }

    /// Objects the directory knows (not yet freed).
    pub fn live_objects(&self) -> usize {
        self.core.live_objects()
    }

    /// Tasks, method calls and actor constructions not finished yet.
    pub fn live_tasks(&self) -> usize {
        self.core.live_tasks()
    }

    /// Transfers in flight.
    pub fn transfers_in_flight(&self) -> usize {
        self.core.transfers_in_flight()
    }

    /// The current time.
    pub fn now(&self) -> Nanos {
        self.exec.now()
    }

    /// Moves the records gathered so far out of the core.
    pub fn take_trace(&mut self) -> Trace {
        self.core.take_trace()
    }

    /// Records into `spare`, an earlier run's trace once it is written out, instead of
    /// growing new lists (see [`Trace::recycle`]): a sweep running many runs on one thread
    /// passes each run's trace on to the next. What is recorded does not change.
    pub fn recycle_trace(&mut self, spare: Trace) {
        self.core.recycle_trace(spare);
    }

    #[inline]
    fn sync(&mut self) {
        self.tracker.swap_out(&mut self.ops);
        let inferred = self.hints == HintSource::Inferred;
        for op in self.ops.drain(..) {
            match op {
                DriverOp::Release(id) => {
                    self.core.release(id);
                    if inferred && let Some(g) = self.inference.released(id) {
                        self.core.free_group(g);
                    }
                }
                // The policy saw the declared groups only if they were passed on.
                DriverOp::FreeGroup(g) if self.hints == HintSource::Declared => {
                    self.core.free_group(g)
                }
                DriverOp::FreeGroup(_) => {}
                DriverOp::Retire(id) => self.core.retire(id),
            }
        }
    }

    /// The hints the policy is shown for a submission of `code` over `args` whose driver
    /// declared `declared` (see [`HintSource`]).
    fn hints_for(&mut self, code: Code, args: &[Arg], declared: Hints) -> Hints {
        match self.hints {
            HintSource::Declared => declared,
            HintSource::None => Hints::NONE,
            HintSource::Inferred => {
                let objects: SmallVec<[ObjectId; 8]> = args
                    .iter()
                    .filter_map(|a| match a {
                        Arg::Object(o) => Some(*o),
                        Arg::Value(_) => None,
                    })
                    .collect();
                let tracker = &self.tracker;
                let inferred = self.inference.infer(code, &objects, || tracker.new_group());
                self.inference.compare(declared, inferred);
                inferred
            }
        }
    }

    /// Records the outputs of a submission given `hints`, for the inference.
    fn produced(&mut self, hints: Hints, outputs: &[ObjectId]) {
        if self.hints == HintSource::Inferred {
            self.inference.produced(hints, outputs);
        }
    }

    /// How often the inferred hints equalled the declared ones so far, with
    /// [`HintSource::Inferred`] (`None` with any other source).
    pub fn hint_agreement(&self) -> Option<HintAgreement> {
        (self.hints == HintSource::Inferred).then(|| self.inference.agreement())
    }

    #[inline]
    fn handle(&self, id: ObjectId) -> ObjectRef {
        ObjectRef(Arc::new(Handle {
            id,
            tracker: Arc::clone(&self.tracker),
        }))
    }

    /// A handle for each of `ids`, in order.
    #[inline]
    fn handles_of(&self, ids: &[ObjectId]) -> Outputs {
        let mut refs = SmallVec::new();
        for &id in ids {
            refs.push(self.handle(id));
        }
        Outputs(refs)
    }

    fn check_ref(&self, r: &ObjectRef) -> Result<ObjectId, RuntimeError> {
        if Arc::ptr_eq(&r.0.tracker, &self.tracker) {
            Ok(r.0.id)
        } else {
            // A handle from another cluster names nothing here.
            Err(RuntimeError::UnknownObject(r.0.id))
        }
    }

    #[inline]
    fn lower(&self, args: Vec<TaskArg>) -> Result<Vec<Arg>, RuntimeError> {
        if args.is_empty() {
            return Ok(Vec::new());
        }
        // Checked first, so that the conversion cannot fail and reuses the list in place.
        for a in &args {
            if let TaskArg::Ref(r) = a {
                self.check_ref(r)?;
            }
        }
        Ok(args
            .into_iter()
            .map(|a| match a {
                TaskArg::Ref(r) => Arg::Object(r.id()),
                TaskArg::Value(p) => Arg::Value(p),
            })
            .collect())
    }

    /// Stores a value on the driver node (with a backend, its bytes go to that node's store).
    pub fn put(&mut self, value: Payload) -> Result<ObjectRef, RuntimeError> {
        self.sync();
        let now = self.now();
        let bytes = match &self.exec {
            Executor::External(_) => Some(value.clone()),
            _ => None,
        };
        let id = self.core.put(value, now)?;
        if let (Executor::External(e), Some(bytes)) = (&mut self.exec, bytes) {
            e.put(self.driver_node, id, &bytes)?;
        }
        Ok(self.handle(id))
    }

    /// Spends the driver's submission cost, if any.
    #[inline]
    fn spend_submit_cost(&mut self) -> Result<(), RuntimeError> {
        if self.submit_cost > 0 {
            self.advance(self.submit_cost)?;
        }
        Ok(())
    }

    /// Submits a task; returns references to its outputs.
    pub fn submit(&mut self, task: Task) -> Result<Outputs, RuntimeError> {
        self.spend_submit_cost()?;
        self.sync();
        let args = self.lower(task.args)?;
        let hints = self.hints_for(Code::Task(task.function), &args, task.hints);
        let now = self.now();
        let (_, outputs) = self.core.submit(
            TaskRequest {
                function: task.function,
                args,
                demand: task.demand,
                num_returns: task.num_returns,
                hints,
                declared_output_size: task.declared_output_size,
            },
            now,
        )?;
        self.produced(hints, &outputs);
        Ok(self.handles_of(&outputs))
    }

    /// Creates an actor of `kind`; it is placed at its first call (or [`Cluster::place_actor`]).
    /// `hints` are the actor's own group and index.
    pub fn create_actor(
        &mut self,
        kind: KindId,
        args: Vec<TaskArg>,
        hints: Hints,
    ) -> Result<ActorHandle, RuntimeError> {
        self.sync();
        let args = self.lower(args)?;
        let hints = self.hints_for(Code::Create(kind), &args, hints);
        let now = self.now();
        let id = self.core.create_actor(kind, args, hints, now)?;
        Ok(ActorHandle { id, kind })
    }

    /// Places an actor now with `dependency`; returns its node.
    pub fn place_actor(
        &mut self,
        actor: &ActorHandle,
        dependency: Dependency,
    ) -> Result<NodeId, RuntimeError> {
        self.sync();
        let now = self.now();
        self.core.place_actor(actor.id, dependency, now)
    }

    /// Calls a method on an actor; returns references to its outputs.
    pub fn call(&mut self, actor: &ActorHandle, call: Call) -> Result<Outputs, RuntimeError> {
        self.spend_submit_cost()?;
        self.sync();
        let args = self.lower(call.args)?;
        let hints = self.hints_for(Code::Call(actor.kind, call.method), &args, call.hints);
        let now = self.now();
        let (_, outputs) = self.core.call(
            CallRequest {
                actor: actor.id,
                method: call.method,
                args,
                num_returns: call.num_returns,
                hints,
                declared_output_size: call.declared_output_size,
            },
            now,
        )?;
        self.produced(hints, &outputs);
        Ok(self.handles_of(&outputs))
    }

    /// A fresh group id, for hints attached by hand; the IR draws from the same sequence.
    pub fn new_group(&self) -> GroupId {
        self.tracker.new_group()
    }

    /// The driver's reference tracker and code runner, which the IR shares.
    pub(crate) fn handles(&self) -> (Arc<RefTracker>, Arc<Runner>) {
        (Arc::clone(&self.tracker), Arc::clone(&self.runner))
    }

    /// Tells the policy that `group` will not be referred to again.
    pub fn free_group(&mut self, group: GroupId) {
        self.sync();
        self.core.free_group(group);
    }

    /// Waits for an object and returns its value. With a backend (a live deployment) the bytes
    /// stay on the node that made them: the value is the object's first eight bytes as real
    /// bytes and the rest as its size (`Payload::modeled_len`), as the node reported them.
    pub fn get(&mut self, r: &ObjectRef) -> Result<Payload, RuntimeError> {
        self.sync();
        self.inference.barrier();
        let id = self.check_ref(r)?;
        loop {
            self.exec.run_until(
                &mut self.core,
                &mut |core, _| !matches!(core.object(id), ObjectStatus::Pending),
                None,
            )?;
            return match self.core.object(id) {
                ObjectStatus::Ready(p) => Ok(p.clone()),
                ObjectStatus::Failed(reason) => Err(RuntimeError::ObjectFailed {
                    object: id,
                    reason: reason.to_string(),
                }),
                ObjectStatus::Lost if !self.core.spec().recovery.reconstruction => {
                    Err(RuntimeError::ObjectLost(id))
                }
                ObjectStatus::Lost => match self.core.rebuild(id, self.exec.now()) {
                    // Its producer runs again: wait for it.
                    Ok(()) => continue,
                    Err(reason) => Err(RuntimeError::ObjectFailed {
                        object: id,
                        reason: reason.to_string(),
                    }),
                },
                ObjectStatus::Unknown | ObjectStatus::Pending => {
                    Err(RuntimeError::UnknownObject(id))
                }
            };
        }
    }

    /// Waits until any or all of `refs` are no longer pending, or `timeout` passes.
    /// A timeout is not an error: the result says what is still pending.
    pub fn wait(
        &mut self,
        refs: &[ObjectRef],
        mode: WaitMode,
        timeout: Option<Nanos>,
    ) -> Result<WaitResult, RuntimeError> {
        self.sync();
        self.inference.barrier();
        let ids: Vec<ObjectId> = refs
            .iter()
            .map(|r| self.check_ref(r))
            .collect::<Result<_, _>>()?;
        let pending =
            |core: &Core, id: &ObjectId| matches!(core.object(*id), ObjectStatus::Pending);
        let deadline = timeout.map(|t| self.now().saturating_add(t));
        self.exec.run_until(
            &mut self.core,
            &mut |core, _| match mode {
                WaitMode::Any => ids.is_empty() || ids.iter().any(|id| !pending(core, id)),
                WaitMode::All => ids.iter().all(|id| !pending(core, id)),
            },
            deadline,
        )?;
        let (mut done, mut still) = (Vec::new(), Vec::new());
        for (i, id) in ids.iter().enumerate() {
            if pending(&self.core, id) {
                still.push(i);
            } else {
                done.push(i);
            }
        }
        Ok(WaitResult {
            done,
            pending: still,
        })
    }

    /// Lets `duration` pass (the cluster keeps working meanwhile).
    pub fn sleep(&mut self, duration: Nanos) -> Result<(), RuntimeError> {
        self.inference.barrier();
        self.advance(duration)
    }

    /// Lets `duration` pass without blocking the driver's program: its submission cost.
    fn advance(&mut self, duration: Nanos) -> Result<(), RuntimeError> {
        self.sync();
        let deadline = self.now().saturating_add(duration);
        self.exec
            .run_until(&mut self.core, &mut |_, _| false, Some(deadline))
            .map(|_: RunEnd| ())
    }

    /// Runs until nothing is running or scheduled.
    pub fn run_until_idle(&mut self) -> Result<(), RuntimeError> {
        self.sync();
        self.inference.barrier();
        self.exec.run_until_idle(&mut self.core)
    }

    /// Runs until nothing is running or scheduled, or until `deadline`, whichever comes
    /// first; returns whether the cluster is idle.
    pub fn run_until_idle_or(&mut self, deadline: Nanos) -> Result<bool, RuntimeError> {
        self.sync();
        self.inference.barrier();
        let mut idle = |core: &Core, in_flight: usize| in_flight == 0 && core.is_idle();
        let end = self
            .exec
            .run_until(&mut self.core, &mut idle, Some(deadline))?;
        Ok(matches!(end, RunEnd::Reached))
    }
}
