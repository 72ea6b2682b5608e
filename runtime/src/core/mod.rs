//! The sans-IO core: cluster state and its transitions.
//!
//! [`Core`] holds every node's CPU slots and object store, the directory of objects, the
//! network model, the task and actor tables and the placement policy. It reads no clock,
//! spawns no thread, touches no file and draws no random number: every call that changes
//! state is given the current time, and the core tells its driver what to do next through two
//! queues:
//! - [`Core::poll_execution`]: code to run (the executor runs it and calls [`Core::complete`]);
//! - [`Core::next_timer`] / [`Core::fire_next`]: the next moment the core must be woken.
//!
//! The life of a task: submitted and placed at once (the policy is asked synchronously),
//! fetching its object arguments to its node, ready (all arguments local and pinned) and
//! queued for a CPU slot in FIFO order, running, executed (the executor reported its outputs;
//! on the virtual clock the core now waits out the modeled duration), finished (outputs sealed
//! into the node's store, slot and pins released).

pub mod network;
pub mod store;
pub mod work;

mod objects;

use crate::error::{ActorId, RuntimeError};
use crate::payload::Payload;
use crate::spec::ClusterSpec;
use crate::time::Nanos;
use crate::trace::{
    Counters, Datapoint, EvictionRecord, TaskRecord, Trace, TraceLevel, TransferRecord,
};
use cohort_policy::{
    ArgState, ArgView, Dependency, Hints, NodeId, NodeView, ObjectId, Placement, PlacementView,
    Policy, PolicyEvent, Resources, TaskId, WorkKind,
};
use network::{Network, TransferId, Wake};
use objects::{ObjectEntry, ObjectState};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use store::ObjectStore;
use work::{Arg, CallRequest, Catalog, ExecOutput, ExecWork, Execution, KindId, TaskRequest};

pub use objects::ObjectStatus;

/// Which clock drives the core, and so how durations are decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClockMode {
    /// Durations come from the cost model; executions are reported at the instant they start.
    #[default]
    Virtual,
    /// Durations are the real execution times, plus the cost model's if `add_modeled`.
    Real {
        /// Add the modeled duration after the real execution.
        add_modeled: bool,
    },
}

/// Configuration of a [`Core`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreConfig {
    /// How stale the policy's view of node load may be: the view is refreshed at every
    /// multiple of this period (0: always current). Ray v0.6 used 100 ms heartbeats.
    pub heartbeat: Nanos,
    /// The node whose store holds the driver's puts.
    pub driver_node: NodeId,
    /// What the trace records.
    pub trace: TraceLevel,
    /// Which clock drives the core.
    pub clock: ClockMode,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            heartbeat: 0,
            driver_node: NodeId(0),
            trace: TraceLevel::Full,
            clock: ClockMode::Virtual,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// The modeled duration of executed work has passed.
    Finish(TaskId),
    /// A transfer's latency has passed.
    Flow(TransferId),
    /// The network must be looked at (see [`Wake`]).
    Network(u64),
    /// Transfers started flowing at this instant: recompute the rates once for all of them.
    Settle,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for `missing` distinct objects to arrive at the node.
    Fetching,
    /// All arguments local and pinned; waiting for a slot (or for the actor).
    Ready,
    /// Handed to the executor.
    Running,
    /// The executor reported back; waiting for the finish timer.
    Executed,
}

#[derive(Debug)]
struct TaskEntry {
    work: ExecWork,
    hints: Hints,
    demand: Resources,
    args: Vec<Arg>,
    /// The distinct objects among `args`, in first-use order (fetched, pinned and unpinned
    /// once each).
    objects: SmallVec<[ObjectId; 4]>,
    outputs: SmallVec<[ObjectId; 2]>,
    node: NodeId,
    phase: Phase,
    missing: u32,
    submitted: Nanos,
    args_local: Nanos,
    started: Nanos,
    input_bytes: u64,
    result: Option<Result<Vec<Payload>, Arc<str>>>,
}

impl TaskEntry {
    /// Work just placed on `node` at `now`, about to fetch its arguments.
    fn placed(
        work: ExecWork,
        hints: Hints,
        demand: Resources,
        args: Vec<Arg>,
        outputs: SmallVec<[ObjectId; 2]>,
        node: NodeId,
        now: Nanos,
    ) -> TaskEntry {
        let objects = distinct_objects(&args);
        TaskEntry {
            work,
            hints,
            demand,
            args,
            objects,
            outputs,
            node,
            phase: Phase::Fetching,
            missing: 0,
            submitted: now,
            args_local: now,
            started: now,
            input_bytes: 0,
            result: None,
        }
    }

    fn kind(&self) -> WorkKind {
        match self.work {
            ExecWork::Function(_) => WorkKind::Task,
            ExecWork::CreateActor { .. } => WorkKind::ActorCreation,
            ExecWork::Method { .. } => WorkKind::ActorMethod,
        }
    }

    fn holds_slot(&self) -> bool {
        !matches!(self.work, ExecWork::Method { .. })
    }
}

/// The distinct objects among `args`, in first-use order.
fn distinct_objects(args: &[Arg]) -> SmallVec<[ObjectId; 4]> {
    let ids = args.iter().filter_map(|a| match a {
        Arg::Object(o) => Some(*o),
        Arg::Value(_) => None,
    });
    let mut objects: SmallVec<[ObjectId; 4]> = SmallVec::new();
    if args.len() <= 64 {
        for o in ids {
            if !objects.contains(&o) {
                objects.push(o);
            }
        }
    } else {
        // Wide fan-ins (a reducer of thousands of chunks): a set instead of a scan.
        let mut seen = rustc_hash::FxHashSet::default();
        objects.extend(ids.filter(|o| seen.insert(*o)));
    }
    objects
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ActorPhase {
    /// Created by the driver; not placed yet.
    Unplaced { args: Vec<Arg> },
    /// Placed; the constructor has not finished.
    Creating,
    /// Constructed; methods may run.
    Ready,
    /// The constructor failed; every call fails with this reason.
    Failed(Arc<str>),
}

#[derive(Debug)]
struct ActorEntry {
    kind: KindId,
    hints: Hints,
    phase: ActorPhase,
    node: Option<NodeId>,
    /// Method calls not yet finished, in submission order.
    calls: VecDeque<TaskId>,
    running: bool,
}

#[derive(Debug)]
struct NodeState {
    store: ObjectStore,
    /// Ready work waiting for a slot, FIFO.
    ready: VecDeque<TaskId>,
}

/// The state of one cluster. See the module documentation.
///
/// Invariants: every object's `holders` are exactly the nodes whose store has a sealed copy;
/// an object whose reference count drops to zero is removed from every store; `views[n]`
/// agrees with node `n`'s slots, queue and store; nothing depends on hash-map iteration order.
pub struct Core {
    spec: ClusterSpec,
    config: CoreConfig,
    catalog: Catalog,
    policy: Box<dyn Policy>,
    /// [`Policy::wants_events`], asked once: events go to the policy only if true.
    policy_wants_events: bool,
    /// Transfers a network wake-up completed; empty between timers (kept for its buffer).
    completed: Vec<network::Transfer>,
    nodes: Vec<NodeState>,
    views: Vec<NodeView>,
    snapshot: Vec<NodeView>,
    snapshot_at: Nanos,
    next_heartbeat: Nanos,
    objects: FxHashMap<ObjectId, ObjectEntry>,
    tasks: FxHashMap<TaskId, TaskEntry>,
    actors: FxHashMap<ActorId, ActorEntry>,
    network: Network,
    /// Tasks waiting for each transfer.
    transfer_waiters: FxHashMap<TransferId, SmallVec<[TaskId; 2]>>,
    timers: BinaryHeap<Reverse<(Nanos, u64, Timer)>>,
    timer_seq: u64,
    executions: VecDeque<Execution>,
    trace: Trace,
    counters: Counters,
    next_task: u64,
    next_object: u64,
    next_actor: u64,
    arg_scratch: Vec<ArgView>,
    holder_scratch: Vec<NodeId>,
    now: Nanos,
    first_failure: Option<(TaskId, Arc<str>)>,
    /// The instant a [`Timer::Settle`] is pending for, if any.
    settle_at: Option<Nanos>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("now", &self.now)
            .field("policy", &self.policy.name())
            .field("tasks", &self.tasks.len())
            .field("objects", &self.objects.len())
            .field("actors", &self.actors.len())
            .finish_non_exhaustive()
    }
}

impl Core {
    /// A cluster in its initial state: empty stores, idle nodes, time 0.
    pub fn new(
        spec: ClusterSpec,
        catalog: Catalog,
        config: CoreConfig,
        policy: Box<dyn Policy>,
    ) -> Result<Core, RuntimeError> {
        spec.validate()?;
        if config.driver_node.index() >= spec.nodes.len() {
            return Err(RuntimeError::UnknownDriverNode(config.driver_node));
        }
        let nodes = spec
            .nodes
            .iter()
            .map(|n| NodeState {
                store: ObjectStore::new(n.store_capacity),
                ready: VecDeque::new(),
            })
            .collect();
        let views: Vec<NodeView> = spec
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| NodeView {
                id: NodeId(i as u32),
                alive: true,
                cpus_total: n.cpus,
                cpus_busy: 0,
                queued: 0,
                store_used: 0,
                store_capacity: n.store_capacity,
            })
            .collect();
        let network = Network::new(spec.nodes.len(), spec.network.nic_bandwidth);
        Ok(Core {
            snapshot: views.clone(),
            views,
            snapshot_at: 0,
            next_heartbeat: config.heartbeat,
            spec,
            config,
            catalog,
            policy_wants_events: policy.wants_events(),
            completed: Vec::new(),
            policy,
            nodes,
            objects: FxHashMap::default(),
            tasks: FxHashMap::default(),
            actors: FxHashMap::default(),
            network,
            transfer_waiters: FxHashMap::default(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            executions: VecDeque::new(),
            trace: Trace::default(),
            counters: Counters::default(),
            next_task: 1,
            next_object: 1,
            next_actor: 1,
            arg_scratch: Vec::new(),
            holder_scratch: Vec::new(),
            now: 0,
            first_failure: None,
            settle_at: None,
        })
    }

    // ----- observation -------------------------------------------------------------------

    /// The cluster spec.
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The policy's name.
    pub fn policy_name(&self) -> &str {
        self.policy.name()
    }

    /// The latest time the core has been told about.
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// The live state of every node.
    pub fn nodes(&self) -> &[NodeView] {
        &self.views
    }

    /// The first work that failed, and why (failures propagate to dependents; this is the
    /// root cause unless several failed independently).
    pub fn first_failure(&self) -> Option<(TaskId, &str)> {
        self.first_failure.as_ref().map(|(t, r)| (*t, &**r))
    }

    /// Running totals.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The records gathered so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Moves the gathered records out.
    pub fn take_trace(&mut self) -> Trace {
        self.trace.take()
    }

    /// Number of tasks, method calls and actor creations not finished yet.
    pub fn live_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Number of objects known to the directory.
    pub fn live_objects(&self) -> usize {
        self.objects.len()
    }

    /// Transfers in flight.
    pub fn transfers_in_flight(&self) -> usize {
        self.network.in_flight()
    }

    /// Where an actor was placed, if it has been.
    pub fn actor_node(&self, actor: ActorId) -> Option<NodeId> {
        self.actors.get(&actor).and_then(|a| a.node)
    }

    /// The state of an object.
    pub fn object(&self, id: ObjectId) -> ObjectStatus<'_> {
        match self.objects.get(&id) {
            None => ObjectStatus::Unknown,
            Some(o) => o.status(),
        }
    }

    /// The nodes holding a sealed copy of an object (ascending).
    pub fn holders(&self, id: ObjectId) -> &[NodeId] {
        self.objects.get(&id).map_or(&[], |o| &o.holders[..])
    }

    /// Whether `node`'s store holds a sealed copy of `id`.
    pub fn store_has(&self, node: NodeId, id: ObjectId) -> bool {
        self.nodes[node.index()].store.has_sealed(id)
    }

    /// The next moment the core must be woken, if any.
    pub fn next_timer(&self) -> Option<Nanos> {
        self.timers.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Whether executions are waiting to be run.
    pub fn has_executions(&self) -> bool {
        !self.executions.is_empty()
    }

    /// Takes the next piece of code to run.
    pub fn poll_execution(&mut self) -> Option<Execution> {
        self.executions.pop_front()
    }

    // ----- driver inputs -----------------------------------------------------------------

    /// Stores a value from the driver on the driver node. The object starts with one
    /// reference (the driver's).
    pub fn put(&mut self, payload: Payload, now: Nanos) -> Result<ObjectId, RuntimeError> {
        self.observe(now);
        let node = self.config.driver_node;
        let size = payload.size();
        self.make_room(node, size).map_err(|e| e.into_error(node))?;
        let id = self.new_object(0, NodeId::NONE);
        self.nodes[node.index()].store.insert_sealed(id, size);
        self.refresh_store_view(node);
        let entry = self.objects.get_mut(&id).expect("just created");
        entry.seal(payload, node);
        Ok(id)
    }

    /// Adds a reference to an object (pending work holds it).
    fn add_ref(&mut self, id: ObjectId) {
        if let Some(o) = self.objects.get_mut(&id) {
            o.refs += 1;
        }
    }

    /// Drops a reference to an object; when none is left, it is freed everywhere.
    pub fn release(&mut self, id: ObjectId) {
        let Some(o) = self.objects.get_mut(&id) else {
            return;
        };
        debug_assert!(o.refs > 0, "release of unreferenced {id}");
        o.refs = o.refs.saturating_sub(1);
        if o.refs == 0 && !matches!(o.state, ObjectState::Pending) {
            self.free_object(id);
        }
    }

    /// Submits a task: it is placed now and runs when its arguments are local and a slot is
    /// free. Each returned object starts with one reference (the driver's).
    pub fn submit(
        &mut self,
        req: TaskRequest,
        now: Nanos,
    ) -> Result<(TaskId, SmallVec<[ObjectId; 2]>), RuntimeError> {
        self.observe(now);
        let info = self
            .catalog
            .functions
            .get(req.function.0 as usize)
            .ok_or_else(|| RuntimeError::UnknownFunction(format!("#{}", req.function.0)))?;
        let what = info.name.clone();
        self.check_args(&req.args)?;
        self.check_feasible(&what, req.demand)?;
        let task = self.new_task_id();
        let node = self.ask_policy(
            task,
            WorkKind::Task,
            req.hints,
            req.demand,
            &req.args,
            &what,
        )?;
        let outputs = (0..req.num_returns)
            .map(|_| self.new_object(req.declared_output_size, node))
            .collect::<SmallVec<[ObjectId; 2]>>();
        self.admit(
            task,
            TaskEntry::placed(
                ExecWork::Function(req.function),
                req.hints,
                req.demand,
                req.args,
                outputs.clone(),
                node,
                now,
            ),
            now,
        );
        Ok((task, outputs))
    }

    /// Creates an actor. It is not placed until its first method call (or
    /// [`Core::place_actor`]); its constructor's arguments are referenced until then.
    pub fn create_actor(
        &mut self,
        kind: KindId,
        args: Vec<Arg>,
        hints: Hints,
        now: Nanos,
    ) -> Result<ActorId, RuntimeError> {
        self.observe(now);
        let info = self
            .catalog
            .actor_kinds
            .get(kind.0 as usize)
            .ok_or_else(|| RuntimeError::UnknownActorKind(format!("#{}", kind.0)))?;
        let (what, demand) = (info.name.clone(), info.creation_demand);
        self.check_args(&args)?;
        self.check_feasible(&what, demand)?;
        self.hold_args(&args);
        let id = ActorId(self.next_actor);
        self.next_actor += 1;
        self.actors.insert(
            id,
            ActorEntry {
                kind,
                hints,
                phase: ActorPhase::Unplaced { args },
                node: None,
                calls: VecDeque::new(),
                running: false,
            },
        );
        Ok(id)
    }

    /// Places an actor now, asking the policy with the actor's own hints and `dependency`.
    /// Does nothing if it is placed already. Returns its node.
    pub fn place_actor(
        &mut self,
        actor: ActorId,
        dependency: Dependency,
        now: Nanos,
    ) -> Result<NodeId, RuntimeError> {
        self.observe(now);
        let entry = self
            .actors
            .get(&actor)
            .ok_or(RuntimeError::UnknownActor(actor))?;
        if let Some(node) = entry.node {
            return Ok(node);
        }
        let ActorPhase::Unplaced { args } = &entry.phase else {
            unreachable!("an actor without a node is unplaced");
        };
        let kind = entry.kind;
        let hints = Hints {
            dependency,
            ..entry.hints
        };
        let info = &self.catalog.actor_kinds[kind.0 as usize];
        let (what, demand) = (info.name.clone(), info.creation_demand);
        let args = args.clone();
        let task = self.new_task_id();
        let node = self.ask_policy(task, WorkKind::ActorCreation, hints, demand, &args, &what)?;
        let entry = self.actors.get_mut(&actor).expect("checked above");
        entry.phase = ActorPhase::Creating;
        entry.node = Some(node);
        self.admit(
            task,
            TaskEntry::placed(
                ExecWork::CreateActor { actor, kind },
                hints,
                demand,
                args,
                SmallVec::new(),
                node,
                now,
            ),
            now,
        );
        Ok(node)
    }

    /// Calls a method. Calls on one actor run one at a time in submission order on the
    /// actor's node; the first call places the actor (see [`Core::place_actor`]).
    pub fn call(
        &mut self,
        req: CallRequest,
        now: Nanos,
    ) -> Result<(TaskId, SmallVec<[ObjectId; 2]>), RuntimeError> {
        self.observe(now);
        let entry = self
            .actors
            .get(&req.actor)
            .ok_or(RuntimeError::UnknownActor(req.actor))?;
        let kind = entry.kind;
        let kind_info = &self.catalog.actor_kinds[kind.0 as usize];
        if req.method.0 as usize >= kind_info.methods.len() {
            return Err(RuntimeError::UnknownMethod {
                kind: kind_info.name.to_string(),
                method: format!("#{}", req.method.0),
            });
        }
        self.check_args(&req.args)?;
        let node = self.place_actor(req.actor, req.hints.dependency, now)?;
        let task = self.new_task_id();
        let outputs = (0..req.num_returns)
            .map(|_| self.new_object(req.declared_output_size, node))
            .collect::<SmallVec<[ObjectId; 2]>>();
        self.tell_policy(PolicyEvent::Placed {
            task,
            kind: WorkKind::ActorMethod,
            hints: req.hints,
            node,
        });
        self.actors
            .get_mut(&req.actor)
            .expect("checked above")
            .calls
            .push_back(task);
        self.admit(
            task,
            TaskEntry::placed(
                ExecWork::Method {
                    actor: req.actor,
                    kind,
                    method: req.method,
                },
                req.hints,
                Resources::default(),
                req.args,
                outputs.clone(),
                node,
                now,
            ),
            now,
        );
        Ok((task, outputs))
    }

    /// Tells the policy that a group will not be referred to again.
    pub fn free_group(&mut self, group: cohort_policy::GroupId) {
        self.tell_policy(PolicyEvent::GroupFreed(group));
    }

    /// Sends an event to the policy, unless it said it wants none.
    fn tell_policy(&mut self, event: PolicyEvent) {
        if self.policy_wants_events {
            self.policy.on_event(&event);
        }
    }

    /// The executor ran `task`: record what it produced. On the virtual clock the work
    /// finishes after its modeled duration; on the real clock now (plus the modeled duration
    /// if configured).
    pub fn complete(&mut self, task: TaskId, result: Result<ExecOutput, String>, now: Nanos) {
        self.observe(now);
        let Some(entry) = self.tasks.get_mut(&task) else {
            return;
        };
        debug_assert_eq!(entry.phase, Phase::Running);
        let expected = entry.outputs.len();
        let (result, datapoints) = match result {
            Ok(out) if matches!(entry.work, ExecWork::CreateActor { .. }) => {
                (Ok(Vec::new()), out.datapoints)
            }
            Ok(out) if out.outputs.len() == expected => (Ok(out.outputs), out.datapoints),
            Ok(out) => (
                Err(Arc::from(format!(
                    "returned {} values, expected {expected}",
                    out.outputs.len()
                ))),
                out.datapoints,
            ),
            Err(reason) => (Err(Arc::from(reason)), Vec::new()),
        };
        for (tag, ingest) in datapoints {
            self.trace.datapoints.push(Datapoint {
                tag,
                ingest,
                arrival: entry.started,
                task,
                index: entry.hints.index,
                node: entry.node,
            });
        }
        let output_bytes: u64 = result
            .as_ref()
            .map_or(0, |v| v.iter().map(Payload::size).sum());
        let cost = match entry.work {
            ExecWork::Function(f) => self.catalog.functions[f.0 as usize].cost,
            ExecWork::CreateActor { kind, .. } => {
                self.catalog.actor_kinds[kind.0 as usize].creation_cost
            }
            ExecWork::Method { kind, method, .. } => {
                self.catalog.actor_kinds[kind.0 as usize].methods[method.0 as usize].cost
            }
        };
        let modeled = cost.duration(entry.input_bytes, output_bytes);
        let delay = match self.config.clock {
            ClockMode::Virtual | ClockMode::Real { add_modeled: true } => modeled,
            ClockMode::Real { add_modeled: false } => 0,
        };
        entry.result = Some(result);
        entry.phase = Phase::Executed;
        self.schedule(now.saturating_add(delay), Timer::Finish(task));
    }

    /// Fires the earliest timer, which must be due at `now`.
    pub fn fire_next(&mut self, now: Nanos) {
        let Some(Reverse((at, _, timer))) = self.timers.pop() else {
            return;
        };
        debug_assert!(at <= now, "timer fired early");
        self.observe(now);
        match timer {
            Timer::Finish(task) => self.finish(task, now),
            Timer::Flow(id) => self.start_flowing(id, now),
            Timer::Settle => {
                self.settle_at = None;
                if let Some(wake) = self.network.settle(now) {
                    self.schedule(wake.at, Timer::Network(wake.generation));
                }
            }
            Timer::Network(generation) => {
                let mut done = std::mem::take(&mut self.completed);
                let next = self.network.wake(
                    Wake {
                        at: now,
                        generation,
                    },
                    &mut done,
                );
                if let Some(wake) = next {
                    self.schedule(wake.at, Timer::Network(wake.generation));
                }
                for t in done.drain(..) {
                    self.transfer_done(t, now);
                }
                self.completed = done;
            }
        }
    }

    /// Fires every timer due at or before `now`, in order.
    pub fn fire_due(&mut self, now: Nanos) {
        while self.next_timer().is_some_and(|t| t <= now) {
            self.fire_next(now);
        }
    }

    // ----- internals: time, ids, checks ---------------------------------------------------

    fn observe(&mut self, now: Nanos) {
        debug_assert!(now >= self.now, "time went backwards");
        self.now = self.now.max(now);
        let hb = self.config.heartbeat;
        if hb > 0 && now >= self.next_heartbeat {
            // Nothing changed since the last event, which came before this heartbeat: the
            // live state now is the state at the heartbeat.
            self.snapshot.clone_from(&self.views);
            self.snapshot_at = now / hb * hb;
            self.next_heartbeat = self.snapshot_at + hb;
        }
    }

    fn schedule(&mut self, at: Nanos, timer: Timer) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, timer)));
    }

    fn new_task_id(&mut self) -> TaskId {
        let id = TaskId(self.next_task);
        self.next_task += 1;
        id
    }

    fn new_object(&mut self, declared: u64, producer_node: NodeId) -> ObjectId {
        let id = ObjectId(self.next_object);
        self.next_object += 1;
        self.objects
            .insert(id, ObjectEntry::new(declared, producer_node));
        id
    }

    fn check_args(&self, args: &[Arg]) -> Result<(), RuntimeError> {
        for a in args {
            if let Arg::Object(o) = a
                && !self.objects.contains_key(o)
            {
                return Err(RuntimeError::UnknownObject(*o));
            }
        }
        Ok(())
    }

    fn check_feasible(&self, what: &str, demand: Resources) -> Result<(), RuntimeError> {
        let max = self
            .views
            .iter()
            .filter(|n| n.alive)
            .map(|n| n.cpus_total)
            .max()
            .unwrap_or(0);
        if demand.cpus > max {
            return Err(RuntimeError::Infeasible {
                what: what.to_string(),
                demand: demand.cpus,
                max,
            });
        }
        Ok(())
    }

    fn hold_args(&mut self, args: &[Arg]) {
        for a in args {
            if let Arg::Object(o) = a {
                self.add_ref(*o);
            }
        }
    }

    fn release_args(&mut self, args: &[Arg]) {
        for a in args {
            if let Arg::Object(o) = a {
                self.release(*o);
            }
        }
    }

    // ----- placement ----------------------------------------------------------------------

    fn ask_policy(
        &mut self,
        task: TaskId,
        kind: WorkKind,
        hints: Hints,
        demand: Resources,
        args: &[Arg],
        what: &Arc<str>,
    ) -> Result<NodeId, RuntimeError> {
        self.arg_scratch.clear();
        self.holder_scratch.clear();
        for a in args {
            let Arg::Object(id) = a else { continue };
            let o = &self.objects[id];
            let start = self.holder_scratch.len() as u32;
            self.holder_scratch.extend_from_slice(&o.holders);
            let (state, size) = match o.state {
                ObjectState::Pending => (ArgState::Pending, o.size),
                _ => (ArgState::Ready, o.size),
            };
            self.arg_scratch.push(ArgView {
                object: *id,
                size,
                state,
                holders_start: start,
                holders_len: o.holders.len() as u32,
                producer_node: o.producer_node,
            });
        }
        let (nodes, view_time) = if self.config.heartbeat > 0 {
            (&self.snapshot, self.snapshot_at)
        } else {
            (&self.views, self.now)
        };
        let view = PlacementView {
            task,
            kind,
            hints,
            demand,
            args: &self.arg_scratch,
            holders: &self.holder_scratch,
            nodes,
            now_ns: self.now,
            view_time_ns: view_time,
        };
        let node = match self.policy.place(&view) {
            Placement::Node(node) => node,
            Placement::Refuse(reason) => {
                return Err(RuntimeError::PolicyRefused {
                    policy: self.policy.name().to_string(),
                    task,
                    what: what.to_string(),
                    reason,
                });
            }
        };
        let problem = match self.views.get(node.index()) {
            None => Some(format!(
                "does not exist (the cluster has {} nodes)",
                self.views.len()
            )),
            Some(n) if !n.alive => Some("is not alive".to_string()),
            Some(n) if !n.fits_total(demand) => Some(format!(
                "has {} CPUs, fewer than the {} demanded",
                n.cpus_total, demand.cpus
            )),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            return Err(RuntimeError::PolicyInvalidChoice {
                policy: self.policy.name().to_string(),
                task,
                what: what.to_string(),
                node,
                problem,
            });
        }
        self.tell_policy(PolicyEvent::Placed {
            task,
            kind,
            hints,
            node,
        });
        Ok(node)
    }

    // ----- task lifecycle -----------------------------------------------------------------

    /// Registers a placed task and starts fetching its arguments.
    fn admit(&mut self, task: TaskId, entry: TaskEntry, now: Nanos) {
        self.hold_args(&entry.args);
        let node = entry.node;
        if entry.holds_slot() {
            self.views[node.index()].queued += 1;
        }
        let objects = entry.objects.clone();
        self.tasks.insert(task, entry);
        let mut missing = 0;
        for o in &objects {
            match self.request(*o, node, task, now) {
                Request::Local => {}
                Request::Waiting => missing += 1,
                Request::Failed(reason) => {
                    self.fail_task(task, reason, now);
                    return;
                }
            }
        }
        self.tasks.get_mut(&task).expect("inserted above").missing = missing;
        if missing == 0 {
            self.all_args_arrived(task, now);
        }
    }

    /// Ensures `object` will be local to `node` for `task`.
    fn request(&mut self, object: ObjectId, node: NodeId, task: TaskId, now: Nanos) -> Request {
        let Some(o) = self.objects.get_mut(&object) else {
            return Request::Failed(format!("argument {object} was freed").into());
        };
        match &o.state {
            ObjectState::Pending => {
                o.waiters.push(task);
                Request::Waiting
            }
            ObjectState::Failed(reason) => {
                Request::Failed(format!("argument {object} failed: {reason}").into())
            }
            ObjectState::Lost => Request::Failed(
                format!("argument {object} was lost (its last copy was evicted)").into(),
            ),
            ObjectState::Ready { .. } => {
                if self.nodes[node.index()].store.has_sealed(object) {
                    self.nodes[node.index()].store.touch(object);
                    return Request::Local;
                }
                if let Some(t) = self.network.find(object, node) {
                    self.transfer_waiters.entry(t).or_default().push(task);
                    return Request::Waiting;
                }
                match self.pull(object, node, now) {
                    Ok(t) => {
                        self.transfer_waiters.entry(t).or_default().push(task);
                        Request::Waiting
                    }
                    Err(reason) => Request::Failed(reason),
                }
            }
        }
    }

    /// Starts a transfer of a ready object to `node`. The source is the holder with the
    /// fewest outgoing transfers in flight, ties to the lowest node id.
    fn pull(&mut self, object: ObjectId, to: NodeId, now: Nanos) -> Result<TransferId, Arc<str>> {
        let o = &self.objects[&object];
        let size = o.size;
        let from = *o
            .holders
            .iter()
            .min_by_key(|h| (self.network.outgoing(**h), **h))
            .expect("a ready object has a holder");
        if let Err(e) = self.make_room(to, size) {
            return Err(format!(
                "cannot receive argument {object} ({size} bytes) on {to}: {}",
                e.into_error(to)
            )
            .into());
        }
        self.nodes[to.index()].store.reserve(object, size);
        self.refresh_store_view(to);
        self.nodes[from.index()].store.pin(object);
        let id = self.network.start(object, from, to, size, now);
        let latency = self.spec.network.latency;
        if latency == 0 {
            self.start_flowing(id, now);
        } else {
            self.schedule(now + latency, Timer::Flow(id));
        }
        Ok(id)
    }

    /// A transfer's latency has passed: it flows once the rates are settled at this instant.
    fn start_flowing(&mut self, id: TransferId, now: Nanos) {
        self.network.start_flowing(id, now);
        if self.settle_at != Some(now) {
            self.settle_at = Some(now);
            self.schedule(now, Timer::Settle);
        }
    }

    fn transfer_done(&mut self, t: network::Transfer, now: Nanos) {
        self.nodes[t.from.index()].store.unpin(t.object);
        match self.objects.get_mut(&t.object) {
            Some(o) => {
                self.nodes[t.to.index()].store.seal(t.object);
                o.add_holder(t.to);
            }
            None => {
                // Freed while in flight (every task that wanted it failed): drop the copy.
                self.nodes[t.to.index()].store.remove(t.object);
                self.refresh_store_view(t.to);
            }
        }
        self.counters.transfers += 1;
        self.counters.bytes_transferred += t.size;
        if self.config.trace == TraceLevel::Full {
            self.trace.transfers.push(TransferRecord {
                object: t.object,
                bytes: t.size,
                from: t.from,
                to: t.to,
                requested: t.requested_at,
                flowing: t.flowing_since.unwrap_or(now),
                finished: now,
            });
        }
        for task in self.transfer_waiters.remove(&t.id).unwrap_or_default() {
            self.arrived(task, now);
        }
        // Nobody may want the copy any more (all its waiters failed): it stays as a
        // secondary copy, evictable like any other.
    }

    /// One awaited object reached the task's node.
    fn arrived(&mut self, task: TaskId, now: Nanos) {
        let Some(entry) = self.tasks.get_mut(&task) else {
            return;
        };
        if entry.phase != Phase::Fetching {
            return;
        }
        entry.missing -= 1;
        if entry.missing == 0 {
            self.all_args_arrived(task, now);
        }
    }

    /// Every argument has arrived once; check none was evicted since, pin them, and queue.
    fn all_args_arrived(&mut self, task: TaskId, now: Nanos) {
        let entry = &self.tasks[&task];
        let node = entry.node;
        let store = &self.nodes[node.index()].store;
        let gone: SmallVec<[ObjectId; 4]> = entry
            .objects
            .iter()
            .copied()
            .filter(|o| !store.has_sealed(*o))
            .collect();
        if !gone.is_empty() {
            // Evicted while other arguments were still on their way: fetch again.
            let mut missing = 0;
            for o in gone {
                match self.request(o, node, task, now) {
                    Request::Local => {}
                    Request::Waiting => missing += 1,
                    Request::Failed(reason) => {
                        self.fail_task(task, reason, now);
                        return;
                    }
                }
            }
            if missing > 0 {
                self.tasks.get_mut(&task).expect("exists").missing = missing;
                return;
            }
        }
        let mut input_bytes = 0;
        let entry = self.tasks.get_mut(&task).expect("exists");
        let store = &mut self.nodes[node.index()].store;
        for &o in &entry.objects {
            store.pin(o);
        }
        for a in &entry.args {
            input_bytes += match a {
                Arg::Object(o) => self.objects[o].size,
                Arg::Value(p) => p.size(),
            };
        }
        entry.input_bytes = input_bytes;
        entry.phase = Phase::Ready;
        entry.args_local = now;
        match entry.work {
            ExecWork::Method { actor, .. } => self.run_actor(actor, now),
            _ => {
                self.nodes[node.index()].ready.push_back(task);
                self.dispatch(node, now);
            }
        }
    }

    /// Starts ready work on `node` while slots are free (FIFO).
    fn dispatch(&mut self, node: NodeId, now: Nanos) {
        while let Some(&task) = self.nodes[node.index()].ready.front() {
            let demand = self.tasks[&task].demand.cpus;
            let view = &mut self.views[node.index()];
            if demand > view.cpus_total - view.cpus_busy {
                break;
            }
            view.cpus_busy += demand;
            view.queued -= 1;
            self.nodes[node.index()].ready.pop_front();
            self.start(task, now);
        }
    }

    /// Runs the actor's next call if the actor is free and the call is ready.
    fn run_actor(&mut self, actor: ActorId, now: Nanos) {
        let Some(a) = self.actors.get(&actor) else {
            return;
        };
        match &a.phase {
            ActorPhase::Ready => {}
            ActorPhase::Failed(reason) => {
                let reason: Arc<str> = format!("{actor} failed to start: {reason}").into();
                let calls: Vec<TaskId> = a.calls.iter().copied().collect();
                for c in calls {
                    self.fail_task(c, reason.clone(), now);
                }
                return;
            }
            _ => return,
        }
        if a.running {
            return;
        }
        let Some(&next) = a.calls.front() else {
            return;
        };
        if self.tasks[&next].phase != Phase::Ready {
            return;
        }
        self.actors.get_mut(&actor).expect("exists").running = true;
        self.start(next, now);
    }

    fn start(&mut self, task: TaskId, now: Nanos) {
        let entry = self.tasks.get_mut(&task).expect("started work exists");
        entry.phase = Phase::Running;
        entry.started = now;
        let inputs = entry
            .args
            .iter()
            .map(|a| match a {
                Arg::Value(p) => p.clone(),
                Arg::Object(o) => self.objects[o]
                    .payload()
                    .cloned()
                    .expect("a pinned local argument is ready"),
            })
            .collect();
        self.executions.push_back(Execution {
            task,
            node: entry.node,
            work: entry.work,
            inputs,
        });
    }

    /// The finish timer of executed work fired: seal outputs, free slot and pins.
    fn finish(&mut self, task: TaskId, now: Nanos) {
        let Some(mut entry) = self.tasks.remove(&task) else {
            return;
        };
        let node = entry.node;
        if entry.holds_slot() {
            self.views[node.index()].cpus_busy -= entry.demand.cpus;
        }
        for &o in &entry.objects {
            self.nodes[node.index()].store.unpin(o);
        }
        let mut result = entry.result.take().expect("finish after complete");
        let mut output_bytes = 0;
        if let Ok(values) = &result {
            let total: u64 = values.iter().map(Payload::size).sum();
            output_bytes = total;
            if let Err(e) = self.make_room(node, total) {
                result = Err(format!("cannot store its outputs: {}", e.into_error(node)).into());
            }
        }
        let ok = result.is_ok();
        match result {
            Ok(values) => {
                for (o, v) in entry.outputs.iter().zip(values) {
                    self.seal_output(*o, v, node, now);
                }
            }
            Err(reason) => {
                let name = self.work_name(&entry.work);
                let reason: Arc<str> = format!("{task} (`{name}`) failed: {reason}").into();
                self.first_failure.get_or_insert((task, reason.clone()));
                for o in entry.outputs.clone() {
                    self.fail_object(o, reason.clone(), now);
                }
            }
        }
        self.refresh_store_view(node);
        self.end_of_work(task, entry, ok, output_bytes, now);
        self.dispatch(node, now);
    }

    /// Bookkeeping shared by finished and failed work.
    fn end_of_work(
        &mut self,
        task: TaskId,
        entry: TaskEntry,
        ok: bool,
        output_bytes: u64,
        now: Nanos,
    ) {
        if ok {
            self.counters.finished += 1;
        } else {
            self.counters.failed += 1;
        }
        if self.config.trace == TraceLevel::Full {
            let reached = |t: Nanos| {
                if entry.phase == Phase::Fetching {
                    now
                } else {
                    t
                }
            };
            let started = match entry.phase {
                Phase::Running | Phase::Executed => entry.started,
                _ => now,
            };
            self.trace.tasks.push(TaskRecord {
                task,
                kind: entry.kind(),
                name: self.work_name(&entry.work),
                hints: entry.hints,
                node: entry.node,
                cpus: if entry.holds_slot() {
                    entry.demand.cpus
                } else {
                    0
                },
                submitted: entry.submitted,
                args_local: reached(entry.args_local),
                started,
                finished: now,
                input_bytes: entry.input_bytes,
                output_bytes,
                ok,
            });
        }
        self.tell_policy(PolicyEvent::Finished {
            task,
            hints: entry.hints,
            node: entry.node,
        });
        match entry.work {
            ExecWork::CreateActor { actor, .. } => {
                if let Some(a) = self.actors.get_mut(&actor) {
                    a.phase = if ok {
                        ActorPhase::Ready
                    } else {
                        ActorPhase::Failed("its constructor failed".into())
                    };
                }
                self.run_actor(actor, now);
            }
            ExecWork::Method { actor, .. } => {
                if let Some(a) = self.actors.get_mut(&actor) {
                    if a.calls.front() == Some(&task) {
                        a.running = false;
                        a.calls.pop_front();
                    } else {
                        a.calls.retain(|c| *c != task);
                    }
                }
                self.run_actor(actor, now);
            }
            ExecWork::Function(_) => {}
        }
        self.release_args(&entry.args);
    }

    /// Fails work that has not run (an argument failed or could not be fetched).
    fn fail_task(&mut self, task: TaskId, reason: Arc<str>, now: Nanos) {
        let Some(entry) = self.tasks.remove(&task) else {
            return;
        };
        let node = entry.node;
        debug_assert!(matches!(entry.phase, Phase::Fetching | Phase::Ready));
        if entry.holds_slot() {
            self.views[node.index()].queued -= 1;
            if entry.phase == Phase::Ready {
                self.nodes[node.index()].ready.retain(|t| *t != task);
            }
        }
        if entry.phase == Phase::Ready {
            for &o in &entry.objects {
                self.nodes[node.index()].store.unpin(o);
            }
        }
        let name = self.work_name(&entry.work);
        let reason: Arc<str> = format!("{task} (`{name}`) failed: {reason}").into();
        self.first_failure.get_or_insert((task, reason.clone()));
        for o in entry.outputs.clone() {
            self.fail_object(o, reason.clone(), now);
        }
        self.end_of_work(task, entry, false, 0, now);
        self.dispatch(node, now);
    }

    fn work_name(&self, work: &ExecWork) -> Arc<str> {
        match *work {
            ExecWork::Function(f) => self.catalog.functions[f.0 as usize].name.clone(),
            ExecWork::CreateActor { kind, .. } => {
                self.catalog.actor_kinds[kind.0 as usize].name.clone()
            }
            ExecWork::Method { kind, method, .. } => self.catalog.actor_kinds[kind.0 as usize]
                .methods[method.0 as usize]
                .name
                .clone(),
        }
    }

    // ----- objects ------------------------------------------------------------------------

    /// Seals a produced output on its producer's node (room was made) and wakes its waiters.
    fn seal_output(&mut self, id: ObjectId, value: Payload, node: NodeId, now: Nanos) {
        let size = value.size();
        let Some(o) = self.objects.get_mut(&id) else {
            return;
        };
        self.nodes[node.index()].store.insert_sealed(id, size);
        let waiters = o.seal(value, node);
        if o.refs == 0 {
            self.free_object(id);
            return;
        }
        for task in waiters {
            let Some(t) = self.tasks.get(&task) else {
                continue;
            };
            let dest = t.node;
            match self.request(id, dest, task, now) {
                Request::Local => self.arrived(task, now),
                Request::Waiting => {}
                Request::Failed(reason) => self.fail_task(task, reason, now),
            }
        }
    }

    fn fail_object(&mut self, id: ObjectId, reason: Arc<str>, now: Nanos) {
        let Some(o) = self.objects.get_mut(&id) else {
            return;
        };
        let waiters = o.fail(reason.clone());
        if o.refs == 0 {
            self.objects.remove(&id);
        }
        for task in waiters {
            self.fail_task(task, format!("argument {id} failed: {reason}").into(), now);
        }
    }

    /// Removes an unreferenced object from every store and the directory.
    fn free_object(&mut self, id: ObjectId) {
        let Some(o) = self.objects.remove(&id) else {
            return;
        };
        for h in &o.holders {
            self.nodes[h.index()].store.remove(id);
            self.refresh_store_view(*h);
        }
    }

    /// Evicts what must go for `size` more bytes to fit on `node`.
    fn make_room(&mut self, node: NodeId, size: u64) -> Result<(), store::NoRoom> {
        let objects = &self.objects;
        let plan = self.nodes[node.index()].store.plan_room(size, |o| {
            objects.get(&o).is_none_or(|e| e.holders.len() <= 1)
        })?;
        for ev in plan {
            self.nodes[node.index()].store.remove(ev.object);
            let o = self
                .objects
                .get_mut(&ev.object)
                .expect("stored objects exist");
            let last_copy = o.remove_holder(node);
            if last_copy {
                tracing::debug!(
                    object = ev.object.0,
                    node = node.0,
                    bytes = ev.size,
                    needed = size,
                    used = self.nodes[node.index()].store.used(),
                    objects = self.nodes[node.index()].store.len(),
                    "evicting the last copy of an object"
                );
            }
            self.counters.evictions += 1;
            if self.config.trace == TraceLevel::Full {
                self.trace.evictions.push(EvictionRecord {
                    object: ev.object,
                    node,
                    bytes: ev.size,
                    at: self.now,
                    last_copy,
                });
            }
        }
        self.refresh_store_view(node);
        Ok(())
    }

    fn refresh_store_view(&mut self, node: NodeId) {
        self.views[node.index()].store_used = self.nodes[node.index()].store.used();
    }
}

/// Outcome of asking for an object at a node.
enum Request {
    Local,
    Waiting,
    Failed(Arc<str>),
}

impl store::NoRoom {
    fn into_error(self, node: NodeId) -> RuntimeError {
        RuntimeError::StoreFull {
            node,
            needed: self.needed,
            pinned: self.pinned,
            capacity: self.capacity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distinct objects of an argument list, as a placed task records them.
    fn objects_of(ids: &[u64]) -> Vec<u64> {
        let mut args: Vec<Arg> = ids.iter().map(|&i| Arg::Object(ObjectId(i))).collect();
        args.insert(1, Arg::Value(Payload::from_u64(0)));
        let entry = TaskEntry::placed(
            ExecWork::Function(work::FnId(0)),
            Hints::NONE,
            Resources { cpus: 1 },
            args,
            SmallVec::new(),
            NodeId(0),
            0,
        );
        entry.objects.iter().map(|o| o.0).collect()
    }

    #[test]
    fn a_task_fetches_each_argument_object_once_in_first_use_order() {
        assert_eq!(objects_of(&[3, 1, 3, 2, 1]), vec![3, 1, 2]);
        // A wide fan-in takes the set-based path; the answer is the same.
        let wide: Vec<u64> = (0..100).map(|i| (i * 7) % 53).collect();
        let mut expected = Vec::new();
        for &o in &wide {
            if !expected.contains(&o) {
                expected.push(o);
            }
        }
        assert_eq!(objects_of(&wide), expected);
    }
}
