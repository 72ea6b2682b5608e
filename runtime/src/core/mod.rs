//! The sans-IO core: cluster state and its transitions.
//!
//! [`Core`] holds every node's CPU slots and object store, the directory of objects, the
//! transport that moves bytes, the task and actor tables and the placement policy. It reads no
//! clock, spawns no thread, touches no file and keeps no random-number state (its one draw,
//! duration jitter, hashes the run's seed and a task's id): every call that changes state is
//! given the current time, and the core tells its driver what to do next through three
//! queues:
//! - [`Core::poll_execution`]: code to run (the executor runs it and calls [`Core::complete`]);
//! - [`Core::next_timer`] / [`Core::fire_next`]: the next moment the core must be woken;
//! - [`Core::poll_transfer`]: bytes to move, for an executor whose transport moves real bytes
//!   (it reports back with [`Core::transport_input`]).
//!
//! The life of a task: submitted and placed at once (the policy is asked synchronously),
//! fetching its object arguments to its node, ready (all arguments local) and
//! queued for a CPU slot in FIFO order, running, executed (the executor reported its outputs;
//! on the virtual clock the core now waits out the modeled duration), finished (outputs sealed
//! into the node's store, slot and pins released).
//!
//! The code is split by responsibility, each file a component or an `impl Core` block:
//! `placement` (the policy, the nodes' load view, heartbeat snapshots), `lifecycle` (work
//! from submission to finish), `tasks` (the task table), `actors`, `objects` (puts,
//! references, sealing, failing, freeing), `directory`, `transfers` (the core's side of the
//! [`transport`] boundary), `eviction` (making room in a store), `spill` (stores' disks),
//! `spill_over` (queued work moving at heartbeats),
//! `room` (waiting for room in a store), `lineage` (rebuilding lost objects), `faults` (the
//! fault script, kills, declarations of death), `timers`, `record` (trace and counters),
//! `idmap` (the tables' map from ascending ids), [`store`], [`work`].

pub mod store;
pub mod transport;
pub mod work;

mod actors;
mod deferral;
mod directory;
mod eviction;
mod faults;
mod forwarding;
mod host;
mod idmap;
mod lifecycle;
mod lineage;
mod objects;
mod placement;
mod record;
mod room;
mod spill;
mod spill_over;
mod tasks;
mod timers;
mod transfers;

use crate::error::{ActorId, RuntimeError};
use crate::spec::ClusterSpec;
use crate::time::Nanos;
use crate::trace::{Counters, HostWork, Trace, TraceLevel};
use actors::ActorTable;
use cohort_policy::{NodeId, NodeView, ObjectId, Policy, TaskId};
use directory::Directory;
use placement::Placer;
use record::Recorder;
use std::collections::VecDeque;
use store::ObjectStore;
use tasks::TaskTable;
use timers::{Timer, Timers};
use transfers::Transfers;
use transport::{LatencyNoise, Outbox, TransferId, TransferRequest, Transport, TransportEvent};
use work::{Catalog, ExecWork, Execution};

pub use directory::ObjectStatus;

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
    /// An executor outside this process runs the code and moves the bytes (a live
    /// deployment): durations are the real ones, each [`Execution`] names
    /// its objects, and every store logs the copies it removes
    /// ([`Core::take_store_ops`]), so that the executor does the same to the real bytes.
    External,
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
    /// The runtime model's options.
    pub model: crate::model::ModelOptions,
    /// The seed of the core's own draws (see [`crate::model::Jitter`]).
    pub seed: u64,
}

impl CoreConfig {
    /// The noise on transfers' latencies: the model's, under the run's seed.
    fn latency_noise(&self) -> LatencyNoise {
        LatencyNoise {
            jitter: self.model.latency_jitter,
            seed: self.seed,
        }
    }
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            heartbeat: 0,
            driver_node: NodeId(0),
            trace: TraceLevel::Full,
            clock: ClockMode::Virtual,
            model: crate::model::ModelOptions::default(),
            seed: 0,
        }
    }
}

/// One node's store and its queue of ready work, and whether it runs.
///
/// Invariants: while `up` is false the store is empty and nothing is queued; `lost` and
/// `parked` are empty unless the node was killed and `declare_at` (when it is due to be
/// declared dead) is set.
#[derive(Debug)]
struct NodeState {
    store: ObjectStore,
    /// Ready work waiting for a slot, FIFO.
    ready: VecDeque<TaskId>,
    /// Executed work waiting for room to store its outputs, FIFO (see `room`).
    finishing: VecDeque<TaskId>,
    /// How much slower work that starts now runs (a `slow_cpu` fault), if it does.
    cpu_slowdown: Option<crate::fault::Slowdown>,
    /// Whether the node runs (false from a kill until it restarts).
    up: bool,
    /// When the cluster will declare this killed node dead, until it has.
    declare_at: Option<Nanos>,
    /// The copies its store held when it was killed, which the directory still lists.
    lost: Vec<ObjectId>,
    /// Work elsewhere waiting for an object pulled (or restored) from this killed node:
    /// `(task, object)`.
    parked: Vec<(TaskId, ObjectId)>,
    /// The objects its disk holds (spilled copies).
    disk: std::collections::BTreeSet<ObjectId>,
    /// When its disk is done with what it was asked to move so far.
    disk_free_at: Nanos,
    /// The spilled copies its disk held when it was killed, which the directory still lists.
    lost_disk: Vec<ObjectId>,
    /// Whether it is idle and since when (see [`crate::model::WakeUp`]).
    idleness: Idleness,
    /// The driver's node's connection to it, for forwards (see `forwarding`).
    inbound: forwarding::Connection,
    /// The most its store has held so far, bytes: memory written at least once (see
    /// [`crate::model::ModelOptions::first_touch_ps`]).
    touched: u64,
}

impl NodeState {
    /// What its store reaching `bytes` costs the host's cores for memory it has not
    /// touched before, at `ps` picoseconds a byte, ns (see
    /// [`crate::model::ModelOptions::first_touch_ps`]); raises its high-water mark to `bytes`.
    /// Nothing, and no mark kept, when `ps` is 0.
    fn first_touch(&mut self, bytes: u64, ps: u64) -> Nanos {
        if ps == 0 {
            return 0;
        }
        let fresh = bytes.saturating_sub(self.touched);
        self.touched = self.touched.max(bytes);
        u64::try_from(u128::from(fresh) * u128::from(ps) / 1_000).unwrap_or(Nanos::MAX)
    }
}

/// Whether a node is active (work executing on it, transfers from or to it), and since when
/// it is not: what starting work or a transfer costs it with a
/// [`WakeUp`](crate::model::WakeUp) curve (kept only with one).
///
/// Invariant: `active` counts the node's work between its start (`complete`) and the end of
/// its modeled duration, and its transfers between their start and their arrival, until the
/// node's kill.
#[derive(Debug, Default)]
struct Idleness {
    /// Work executing on the node, and transfers from or to it.
    active: u32,
    /// When it was last active (or killed), if it is not now.
    since: Nanos,
    /// The instant it last woke, and what that cost.
    woke: (Nanos, Nanos),
}

impl Idleness {
    /// Work or a transfer starts at `now`: what waking the node costs it.
    fn start(&mut self, now: Nanos, curve: &crate::model::WakeUp) -> Nanos {
        let cost = if self.woke.0 == now {
            // Started with what woke the node (or while it was awake anyway).
            self.woke.1
        } else if self.active == 0 {
            let cost = curve.cost(now.saturating_sub(self.since));
            self.woke = (now, cost);
            cost
        } else {
            0
        };
        self.active += 1;
        cost
    }

    /// Work's modeled duration, or a transfer, ends at `now`.
    fn end(&mut self, now: Nanos) {
        self.active = self.active.saturating_sub(1);
        if self.active == 0 {
            self.since = now;
        }
    }

    /// The node is killed at `now`: nothing executes there any more.
    fn kill(&mut self, now: Nanos) {
        *self = Idleness {
            since: now,
            ..Default::default()
        };
    }
}

/// The state of one cluster: a composition of the components below. See the module
/// documentation.
///
/// Invariants: every object's `holders` are exactly the nodes whose store has a sealed copy,
/// and its `spilled` node the one whose disk has one (save for a killed node not declared
/// dead yet, whose copies the directory still lists, and a copy a transfer in flight reads
/// after its object left the directory, which stays until the transfer ends); an object
/// whose reference count drops to zero is removed from every store and disk; the placer's
/// live view of a node that runs agrees with its slots, queue and store; nothing depends on
/// hash-map iteration order.
pub struct Core {
    spec: ClusterSpec,
    config: CoreConfig,
    catalog: Catalog,
    /// The policy and the nodes' load as it sees them.
    placer: Placer,
    nodes: Vec<NodeState>,
    directory: Directory,
    tasks: TaskTable,
    actors: ActorTable,
    /// Transfers in flight, as the core asked for them.
    transfers: Transfers,
    transport: Box<dyn Transport>,
    /// What the transport asked for during the current call (kept for its buffers).
    outbox: Outbox,
    timers: Timers,
    executions: VecDeque<Execution>,
    record: Recorder,
    /// Specs of finished tasks kept to rebuild their outputs.
    lineage: lineage::Lineage,
    /// Whether work keeps its arguments until it ends (rather than handing the list over as
    /// its inputs when it starts): needed to run it again or remember it.
    keep_args: bool,
    /// Whether a heartbeat timer for spill-over is pending (see `spill_over`).
    heartbeat_armed: bool,
    /// Killed nodes not declared dead yet.
    undeclared: usize,
    /// Spilled objects being read back into a store.
    restoring: spill::Restores,
    /// Pulls waiting for room in their destination's store.
    room: room::WaitingRoom,
    /// Tasks the policy deferred, unplaced.
    deferred: deferral::Deferred,
    /// How many times each piece of code was submitted by the driver, by
    /// [`Catalog::code_index`] (runs again are not submissions).
    submitted: Vec<u64>,
    /// The host's cores shared by the work executing, with `host_cores` (see
    /// [`crate::model::ModelOptions::host_cores`]).
    host: Option<host::HostShare>,
    now: Nanos,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("now", &self.now)
            .field("policy", &self.placer.policy_name())
            .field("tasks", &self.tasks.len())
            .field("objects", &self.directory.len())
            .field("actors", &self.actors.len())
            .finish_non_exhaustive()
    }
}

impl Core {
    /// A cluster in its initial state: empty stores, idle nodes, time 0. Bytes move by the
    /// transport the spec's network names.
    pub fn new(
        spec: ClusterSpec,
        catalog: Catalog,
        config: CoreConfig,
        policy: Box<dyn Policy>,
    ) -> Result<Core, RuntimeError> {
        let transport =
            spec.network
                .transport
                .build(spec.nodes.len(), &spec.network, config.latency_noise());
        Core::with_transport(spec, catalog, config, policy, transport)
    }

    /// Like [`Core::new`], with a transport of the caller's (e.g. one whose bytes an executor
    /// moves); the spec's [`NetworkSpec::transport`](crate::NetworkSpec::transport) is then
    /// not used.
    pub fn with_transport(
        spec: ClusterSpec,
        catalog: Catalog,
        config: CoreConfig,
        policy: Box<dyn Policy>,
        transport: Box<dyn Transport>,
    ) -> Result<Core, RuntimeError> {
        spec.validate()?;
        faults::check_playable(&spec.faults, config.driver_node)?;
        if config.driver_node.index() >= spec.nodes.len() {
            return Err(RuntimeError::UnknownDriverNode(config.driver_node));
        }
        let nodes = spec
            .nodes
            .iter()
            .map(|n| NodeState {
                store: {
                    let mut store = ObjectStore::new(n.store_capacity);
                    if config.clock == ClockMode::External {
                        store.log_ops();
                    }
                    store
                },
                ready: VecDeque::new(),
                finishing: VecDeque::new(),
                cpu_slowdown: None,
                up: true,
                declare_at: None,
                lost: Vec::new(),
                parked: Vec::new(),
                disk: Default::default(),
                disk_free_at: 0,
                lost_disk: Vec::new(),
                idleness: Idleness::default(),
                inbound: forwarding::Connection::default(),
                touched: 0,
            })
            .collect();
        let views = spec
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
        let keep_args = spec.recovery.reconstruction
            || spec.recovery.actor_restarts > 0
            || faults::has_kills(&spec.faults);
        let host = config.model.host_cores.map(host::HostShare::new);
        let mut core = Core {
            placer: Placer::new(
                policy,
                views,
                config.heartbeat,
                config.model.view_accounting,
            ),
            lineage: lineage::Lineage::default(),
            keep_args,
            heartbeat_armed: false,
            undeclared: 0,
            restoring: Default::default(),
            room: room::WaitingRoom::new(spec.nodes.len()),
            deferred: Default::default(),
            submitted: vec![0; catalog.code_count()],
            transfers: Transfers::new(spec.nodes.len()),
            record: Recorder::new(config.trace),
            spec,
            config,
            catalog,
            nodes,
            directory: Directory::default(),
            tasks: TaskTable::default(),
            actors: ActorTable::default(),
            transport,
            outbox: Outbox::default(),
            timers: Timers::default(),
            executions: VecDeque::new(),
            host,
            now: 0,
        };
        core.schedule_faults();
        Ok(core)
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
        self.placer.policy_name()
    }

    /// The latest time the core has been told about.
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// The live state of every node.
    pub fn nodes(&self) -> &[NodeView] {
        self.placer.live()
    }

    /// The first work that failed, and why (failures propagate to dependents; this is the
    /// root cause unless several failed independently).
    pub fn first_failure(&self) -> Option<(TaskId, &str)> {
        self.record.first_failure()
    }

    /// Running totals.
    pub fn counters(&self) -> Counters {
        self.record.counters
    }

    /// The work charged to the host's cores so far, with `host_cores` (`None` without).
    pub fn host_work(&self) -> Option<HostWork> {
        self.host.as_ref().map(host::HostShare::charged)
    }

    /// The records gathered so far.
    pub fn trace(&self) -> &Trace {
        &self.record.trace
    }

    /// Moves the gathered records out.
    pub fn take_trace(&mut self) -> Trace {
        self.record.trace.take()
    }

    /// Records into `spare`'s memory from now on (see [`Trace::recycle`]).
    pub fn recycle_trace(&mut self, spare: Trace) {
        self.record.trace.recycle(spare);
    }

    /// Number of tasks, method calls and actor creations not finished yet.
    pub fn live_tasks(&self) -> usize {
        self.tasks.len() + self.deferred.len()
    }

    /// Number of objects known to the directory.
    pub fn live_objects(&self) -> usize {
        self.directory.len()
    }

    /// Transfers in flight.
    pub fn transfers_in_flight(&self) -> usize {
        self.transfers.len()
    }

    /// Where an actor was placed, if it has been.
    pub fn actor_node(&self, actor: ActorId) -> Option<NodeId> {
        self.actors.node(actor)
    }

    /// The state of an object.
    pub fn object(&self, id: ObjectId) -> ObjectStatus<'_> {
        self.directory.status(id)
    }

    /// The nodes holding a sealed copy of an object (ascending).
    pub fn holders(&self, id: ObjectId) -> &[NodeId] {
        self.directory.holders(id)
    }

    /// Whether `node`'s store holds a sealed copy of `id`.
    pub fn store_has(&self, node: NodeId, id: ObjectId) -> bool {
        self.nodes[node.index()].store.has_sealed(id)
    }

    /// The next moment the core must be woken, if any.
    pub fn next_timer(&self) -> Option<Nanos> {
        self.timers.next()
    }

    /// Whether the cluster has nothing left to do: no execution waiting, and no timer but the
    /// starts and ends of faults (which happen to a cluster, whether or not it works), and no
    /// work waiting for a killed node to be declared dead. With an external executor, no
    /// transfer in flight either (its transfers have no timer in the core).
    pub fn is_idle(&self) -> bool {
        self.executions.is_empty()
            && self.timers.only_faults_left()
            && (self.undeclared == 0 || self.tasks.len() == 0)
            && (self.config.clock != ClockMode::External || self.transfers_in_flight() == 0)
    }

    /// How many times the driver submitted `work`'s code (tasks of a function, calls of a
    /// method, actors of a kind).
    pub fn submitted(&self, work: &ExecWork) -> u64 {
        self.submitted[self.catalog.code_index(work)]
    }

    /// Whether executions are waiting to be run.
    pub fn has_executions(&self) -> bool {
        !self.executions.is_empty()
    }

    /// Takes the next piece of code to run.
    pub fn poll_execution(&mut self) -> Option<Execution> {
        self.executions.pop_front()
    }

    /// Hands `op` what happened to copies in the stores and disks since the last call, node by
    /// node, each node's in order (only with [`ClockMode::External`], whose executor must do
    /// the same to the real bytes).
    pub fn take_store_ops(&mut self, mut op: impl FnMut(NodeId, store::StoreOp, ObjectId)) {
        if self.config.clock != ClockMode::External {
            return;
        }
        for (i, n) in self.nodes.iter_mut().enumerate() {
            for (what, o) in n.store.take_ops() {
                op(NodeId(i as u32), what, o);
            }
        }
    }

    /// Takes the next transfer for the executor to carry out, if the transport leaves moving
    /// bytes to the executor (see [`transport`]); the executor reports what happens with
    /// [`Core::transport_input`].
    pub fn poll_transfer(&mut self) -> Option<(TransferId, TransferRequest)> {
        self.transport.poll_request()
    }

    // ----- timers and inputs -------------------------------------------------------------

    /// Fires the earliest timer, which must be due at `now`.
    pub fn fire_next(&mut self, now: Nanos) {
        let Some((at, timer)) = self.timers.pop() else {
            return;
        };
        debug_assert!(at <= now, "timer fired early");
        self.observe(now);
        match timer {
            Timer::Finish(task) => self.finish(task, at, now),
            Timer::Transport(token) => {
                self.transport.wake(token, now, &mut self.outbox);
                self.handle_outbox(now);
            }
            Timer::Fault(edge) => self.fault_edge(edge, now),
            Timer::Declare(node) => self.declare_dead(node, at, now),
            Timer::Restore(object) => self.restored(object, at, now),
            Timer::Rebuild(object) => self.rebuild_stalled(object, now),
            Timer::Heartbeat => self.heartbeat(now),
            Timer::Retry(task) => self.retry(task, at, now),
            Timer::SetUp(id) => self.set_up(id, at, now),
            Timer::Copied(id) => self.copied(id, at, now),
            Timer::SetUpWaited(id) => self.set_up_waited(id, now),
            Timer::Forwarded(task) => self.forwarded(task, now),
            Timer::HeadWorked(task) => {
                self.host_piece_done(host::Work::Head(task), at, now);
            }
            Timer::Reask => self.reask_all(now),
        }
    }

    /// Fires every timer due at or before `now`, in order.
    pub fn fire_due(&mut self, now: Nanos) {
        while self.next_timer().is_some_and(|t| t <= now) {
            self.fire_next(now);
        }
    }

    /// Something happened to a transfer outside the core (an executor moving real bytes saw
    /// its first or last byte arrive) at `now`.
    pub fn transport_input(&mut self, event: TransportEvent, now: Nanos) {
        self.observe(now);
        self.transport.input(event, now, &mut self.outbox);
        self.handle_outbox(now);
    }

    // ----- internals ---------------------------------------------------------------------

    /// Takes note of the time (and so of heartbeats passed).
    fn observe(&mut self, now: Nanos) {
        debug_assert!(now >= self.now, "time went backwards");
        self.now = self.now.max(now);
        self.placer.observe(now);
    }
}
