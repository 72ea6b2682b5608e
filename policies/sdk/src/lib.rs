//! The placement-policy boundary of cohort.
//!
//! This crate is the only cohort crate a policy author depends on. It defines what a policy
//! sees when the runtime asks it to place a task ([`PlacementView`]), what it may answer
//! ([`Placement`]), what it is told afterwards ([`PolicyEvent`]), and the safe [`Policy`] trait
//! that every policy implements.
//!
//! Every type that crosses the boundary is plain data with a `#[repr(C)]` (or transparent)
//! layout, so that the same views can later be handed to a policy that lives in a dynamically
//! loaded library without conversion. Slices are borrowed from the runtime for the duration of
//! one call only; a policy that wants to remember something copies it.
//!
//! # Invariants the runtime guarantees to every policy
//! - `view.nodes()[i].id == NodeId(i)`: nodes are indexed by their id, densely from 0.
//! - Every [`ArgView`]'s holder range lies inside [`PlacementView::holders`], and the holders of
//!   one argument are in ascending node order without repeats.
//! - Calls are sequential: a policy is never called from two threads at once.
//! - The view may be stale by up to the cluster's heartbeat period (see `now_ns` and
//!   `view_time_ns`), exactly as Ray v0.6's heartbeat-based load view was.
//!
//! # Plugins
//! A policy that should be loadable at run time implements [`Policy`] and [`PolicyFactory`]
//! and calls [`export_policy!`] once in a `cdylib` crate. The [`ffi`] module holds the small,
//! versioned C ABI that the macro generates and that the runtime's loader checks; it is the
//! only place in this crate with `unsafe` code.

#![deny(unsafe_code)]

use std::fmt;

pub mod conformance;
#[allow(unsafe_code)]
pub mod ffi;

/// A node of the cluster, numbered densely from 0.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(pub u32);

impl NodeId {
    /// Sentinel used in [`ArgView::producer_node`] when no node is known.
    pub const NONE: NodeId = NodeId(u32::MAX);

    /// The id as an index into per-node arrays.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {}", self.0)
    }
}

/// A group of tasks: the tasks one IR node submits. Group 0 means "no group".
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GroupId(pub u64);

impl GroupId {
    /// The absent group: a task submitted without group hints.
    pub const NONE: GroupId = GroupId(0);

    /// Whether this is a real group.
    pub fn is_some(self) -> bool {
        self.0 != 0
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group {}", self.0)
    }
}

/// The runtime's identifier of one task, method call or actor creation.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TaskId(pub u64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.0)
    }
}

/// The runtime's identifier of one object.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ObjectId(pub u64);

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "object {}", self.0)
    }
}

/// What a task depends on, as the frontend (e.g. the IR) declared it.
#[repr(C, u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Dependency {
    /// No declared dependency.
    #[default]
    None,
    /// The task needs every output of a group.
    Group(GroupId),
    /// The task needs the output of one task, named by its group and its index in the group.
    Task(GroupId, u32),
}

/// The scheduling hints attached to a task: its group, its index in the group, and its
/// declared dependency.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Hints {
    /// The group the task belongs to, or [`GroupId::NONE`].
    pub group: GroupId,
    /// The task's index within its group (0 when there is no group).
    pub index: u32,
    /// The task's declared dependency.
    pub dependency: Dependency,
}

impl Hints {
    /// No hints at all.
    pub const NONE: Hints = Hints {
        group: GroupId::NONE,
        index: 0,
        dependency: Dependency::None,
    };

    /// Whether the task carries neither a group nor a dependency.
    pub fn is_none(&self) -> bool {
        !self.group.is_some() && self.dependency == Dependency::None
    }
}

/// Resources a task needs while it runs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Resources {
    /// Whole CPU slots.
    pub cpus: u32,
}

/// What kind of work is being placed.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkKind {
    /// A stateless task.
    Task = 0,
    /// The creation of an actor (placed once; its method calls follow it).
    ActorCreation = 1,
    /// A method call on an already placed actor (only ever reported in events: the runtime
    /// sends method calls to their actor's node without asking the policy).
    ActorMethod = 2,
}

/// One node as the policy sees it.
///
/// Invariant: `cpus_busy <= cpus_total` and `store_used <= store_capacity`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeView {
    /// The node's id (equal to its index in [`PlacementView::nodes`]).
    pub id: NodeId,
    /// Whether the node is up.
    pub alive: bool,
    /// CPU slots on the node.
    pub cpus_total: u32,
    /// CPU slots held by running tasks.
    pub cpus_busy: u32,
    /// Tasks placed on the node that have not started running yet.
    pub queued: u32,
    /// Bytes held in the node's object store (including space reserved for incoming transfers).
    pub store_used: u64,
    /// Capacity of the node's object store in bytes.
    pub store_capacity: u64,
}

impl NodeView {
    /// An alive node with an empty store of `store_capacity` bytes, e.g. for hand-made views
    /// in a policy's tests. `cpus_busy` must not exceed `cpus_total`.
    pub fn new(
        id: NodeId,
        cpus_total: u32,
        cpus_busy: u32,
        queued: u32,
        store_capacity: u64,
    ) -> NodeView {
        debug_assert!(cpus_busy <= cpus_total, "more CPUs busy than the node has");
        NodeView {
            id,
            alive: true,
            cpus_total,
            cpus_busy,
            queued,
            store_used: 0,
            store_capacity,
        }
    }

    /// Free CPU slots (`total - busy`).
    pub fn cpus_available(&self) -> u32 {
        self.cpus_total - self.cpus_busy
    }

    /// `available - queued`, the load measure Ray v0.6 placed by; negative when the node is
    /// oversubscribed.
    pub fn cpus_available_minus_queued(&self) -> i64 {
        i64::from(self.cpus_available()) - i64::from(self.queued)
    }

    /// Whether `demand` fits the node's total resources at all.
    pub fn fits_total(&self, demand: Resources) -> bool {
        demand.cpus <= self.cpus_total
    }

    /// Whether `demand` fits `available - queued` right now.
    pub fn fits_now(&self, demand: Resources) -> bool {
        i64::from(demand.cpus) <= self.cpus_available_minus_queued()
    }
}

/// Whether an argument's object already exists.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgState {
    /// Sealed in at least one store: `holders` is meaningful.
    Ready = 0,
    /// Not produced yet: `producer_node` (if not [`NodeId::NONE`]) says where its producer
    /// was placed, and `size` is the producer's declared size.
    Pending = 1,
}

/// One object argument of the task being placed.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArgView {
    /// The object.
    pub object: ObjectId,
    /// Its size in bytes (declared size while pending).
    pub size: u64,
    /// Whether it exists yet.
    pub state: ArgState,
    /// Start of this argument's holders in [`PlacementView::holders`].
    pub holders_start: u32,
    /// Number of holders.
    pub holders_len: u32,
    /// The node the producing task was placed on, or [`NodeId::NONE`].
    pub producer_node: NodeId,
}

/// Everything a policy sees when asked to place one piece of work. Read-only.
#[derive(Clone, Copy, Debug)]
pub struct PlacementView<'a> {
    /// The work being placed.
    pub task: TaskId,
    /// Task, or actor creation.
    pub kind: WorkKind,
    /// The work's hints.
    pub hints: Hints,
    /// Its resource demand.
    pub demand: Resources,
    /// Its object arguments, in argument order (inline values are not listed).
    pub args: &'a [ArgView],
    /// Holder lists of all arguments, concatenated (see [`ArgView::holders_start`]).
    pub holders: &'a [NodeId],
    /// Every node, indexed by id.
    pub nodes: &'a [NodeView],
    /// The current time in nanoseconds since the run started.
    pub now_ns: u64,
    /// When `nodes` was sampled (equal to `now_ns` unless the view is stale).
    pub view_time_ns: u64,
    /// How long the work has waited for a placement since it was submitted: 0 when first
    /// asked; more when the policy deferred it ([`Placement::Defer`]) and is asked again.
    pub waited_ns: u64,
    /// Whether the runtime accepts [`Placement::Defer`] for this work: only for a task (not an
    /// actor's work) placed for the first time (not again after its node died, nor to
    /// rebuild a lost object), and only while it has waited less than the runtime's bound
    /// (ten seconds in cohort's runtime).
    pub may_defer: bool,
}

impl<'a> PlacementView<'a> {
    /// A view of task 1, a plain task (no hints, no object arguments) demanding `cpus`, at
    /// time 0 with a fresh view of `nodes`: e.g. for a policy's tests.
    pub fn plain_task(nodes: &'a [NodeView], cpus: u32) -> Self {
        PlacementView {
            task: TaskId(1),
            kind: WorkKind::Task,
            hints: Hints::NONE,
            demand: Resources { cpus },
            args: &[],
            holders: &[],
            nodes,
            now_ns: 0,
            view_time_ns: 0,
            waited_ns: 0,
            may_defer: false,
        }
    }

    /// The nodes that hold `arg` (ascending, empty while pending).
    pub fn holders_of(&self, arg: &ArgView) -> &'a [NodeId] {
        let start = arg.holders_start as usize;
        let end = start + arg.holders_len as usize;
        self.holders.get(start..end).unwrap_or(&[])
    }

    /// Each object argument once (its first occurrence), in argument order: an object passed
    /// several times is fetched once.
    pub fn distinct_args(&self) -> impl Iterator<Item = &'a ArgView> + 'a {
        let args = self.args;
        args.iter()
            .enumerate()
            .filter(move |(i, a)| !args[..*i].iter().any(|b| b.object == a.object))
            .map(|(_, a)| a)
    }

    /// Where `arg` is or will be: every holder of a ready argument (ascending); the node its
    /// producer was placed on for a pending one, if known.
    pub fn locations_of(&self, arg: &ArgView) -> impl Iterator<Item = NodeId> + 'a {
        let (holders, producer) = match arg.state {
            ArgState::Ready => (self.holders_of(arg), None),
            ArgState::Pending => (&[][..], Some(arg.producer_node)),
        };
        holders
            .iter()
            .copied()
            .chain(producer.filter(|n| *n != NodeId::NONE))
    }

    /// The nodes that are alive.
    pub fn alive_nodes(&self) -> impl Iterator<Item = &'a NodeView> + 'a {
        self.nodes.iter().filter(|n| n.alive)
    }

    /// The node with this id, if it exists.
    pub fn node(&self, id: NodeId) -> Option<&'a NodeView> {
        self.nodes.get(id.index())
    }
}

/// A policy's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Place the work on this node. The runtime checks that the node exists, is alive, and can
    /// fit the demand in its total resources; otherwise the run fails with an error naming
    /// the policy.
    Node(NodeId),
    /// The policy cannot place this work; the reason ends up in the run's error.
    Refuse(String),
    /// Not now: ask again after at most this many nanoseconds (at least 1), or earlier, as
    /// soon as a CPU slot frees anywhere in the cluster. The work waits unplaced meanwhile
    /// (its outputs pending, their producer's node unknown). Only when the view says
    /// [`PlacementView::may_defer`]; otherwise the runtime fails the work with an error naming
    /// the policy. Delay scheduling's waiting for a node with the data is built on this.
    Defer(u64),
}

/// Something the policy is told about after the fact.
///
/// Plain `#[repr(C, u8)]` data: it crosses the C ABI as it is (see [`ffi::RawEvent`]).
#[repr(C, u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyEvent {
    /// Work was placed on a node, by this policy or by the runtime (actor method calls).
    Placed {
        /// The work.
        task: TaskId,
        /// Its kind.
        kind: WorkKind,
        /// Its hints.
        hints: Hints,
        /// Where it went.
        node: NodeId,
    },
    /// Work finished (successfully or not).
    Finished {
        /// The work.
        task: TaskId,
        /// Its hints.
        hints: Hints,
        /// Where it ran.
        node: NodeId,
    },
    /// The frontend will submit nothing more that refers to this group: forget it.
    GroupFreed(GroupId),
    /// A node joined the cluster.
    NodeAdded(NodeId),
    /// A node left the cluster.
    NodeRemoved(NodeId),
}

/// A placement policy.
///
/// Implementations must be deterministic given their configuration, their seed and the
/// sequence of calls: all randomness comes from the seed the policy was created with.
pub trait Policy {
    /// The policy's name, for errors and manifests.
    fn name(&self) -> &str;

    /// Choose a node for one piece of work.
    fn place(&mut self, view: &PlacementView<'_>) -> Placement;

    /// One line on what the policy does and where its rule comes from, for listings
    /// (`cohort policies`). The default is empty.
    fn description(&self) -> &str {
        ""
    }

    /// Observe an event. The default ignores it.
    fn on_event(&mut self, event: &PolicyEvent) {
        let _ = event;
    }

    /// Whether the policy uses [`Policy::on_event`]. The runtime asks once, when it takes the
    /// policy, and never sends events to a policy that answers `false`: a stateless policy
    /// saves a call (an ABI crossing, for a plugin) per event. The default is `true`.
    fn wants_events(&self) -> bool {
        true
    }
}

/// How a policy is built from its configuration: the constructor a plugin exports.
///
/// `config_toml` is the text of the policy's own TOML table (possibly empty); `seed` is the
/// run's seed, from which the policy must draw all its randomness. An `Err` is shown to the
/// user as the reason the policy could not be created.
///
/// `Send` is required so that a created policy may be handed to another thread (it is still
/// only ever called from one thread at a time).
pub trait PolicyFactory: Policy + Send + Sized + 'static {
    /// Builds the policy, or says what is wrong with the configuration.
    fn create(config_toml: &str, seed: u64) -> Result<Self, String>;
}

impl<P: Policy + ?Sized> Policy for Box<P> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn description(&self) -> &str {
        (**self).description()
    }
    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        (**self).place(view)
    }
    fn on_event(&mut self, event: &PolicyEvent) {
        (**self).on_event(event)
    }
    fn wants_events(&self) -> bool {
        (**self).wants_events()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: u32, total: u32, busy: u32, queued: u32) -> NodeView {
        NodeView::new(NodeId(id), total, busy, queued, 1 << 30)
    }

    #[test]
    fn load_measures() {
        let n = node(0, 4, 3, 2);
        assert_eq!(n.cpus_available(), 1);
        assert_eq!(n.cpus_available_minus_queued(), -1);
        assert!(!n.fits_now(Resources { cpus: 1 }));
        assert!(n.fits_total(Resources { cpus: 4 }));
        assert!(!n.fits_total(Resources { cpus: 5 }));
    }

    #[test]
    fn holders_of_slices_the_shared_array() {
        let holders = [NodeId(1), NodeId(3), NodeId(0)];
        let args = [
            ArgView {
                object: ObjectId(7),
                size: 10,
                state: ArgState::Ready,
                holders_start: 0,
                holders_len: 2,
                producer_node: NodeId(1),
            },
            ArgView {
                object: ObjectId(8),
                size: 10,
                state: ArgState::Ready,
                holders_start: 2,
                holders_len: 1,
                producer_node: NodeId(0),
            },
        ];
        let nodes = [node(0, 4, 0, 0)];
        let view = PlacementView {
            task: TaskId(1),
            kind: WorkKind::Task,
            hints: Hints::NONE,
            demand: Resources { cpus: 1 },
            args: &args,
            holders: &holders,
            nodes: &nodes,
            now_ns: 0,
            view_time_ns: 0,
            waited_ns: 0,
            may_defer: false,
        };
        assert_eq!(view.holders_of(&args[0]), &[NodeId(1), NodeId(3)]);
        assert_eq!(view.holders_of(&args[1]), &[NodeId(0)]);
        assert!(Hints::NONE.is_none());
    }

    #[test]
    fn distinct_args_and_their_locations() {
        let holders = [NodeId(1), NodeId(3)];
        let ready = ArgView {
            object: ObjectId(7),
            size: 10,
            state: ArgState::Ready,
            holders_start: 0,
            holders_len: 2,
            producer_node: NodeId(1),
        };
        let pending = |object, producer_node| ArgView {
            object: ObjectId(object),
            size: 5,
            state: ArgState::Pending,
            holders_start: 2,
            holders_len: 0,
            producer_node,
        };
        let args = [
            ready,
            pending(8, NodeId(2)),
            ready,
            pending(9, NodeId::NONE),
        ];
        let nodes = [node(0, 4, 0, 0)];
        let mut view = PlacementView::plain_task(&nodes, 1);
        view.args = &args;
        view.holders = &holders;
        let distinct: Vec<u64> = view.distinct_args().map(|a| a.object.0).collect();
        assert_eq!(distinct, [7, 8, 9], "object 7, passed twice, once");
        let at = |a: &ArgView| view.locations_of(a).map(|n| n.0).collect::<Vec<_>>();
        assert_eq!(at(&args[0]), [1, 3], "a ready argument: its holders");
        assert_eq!(at(&args[1]), [2], "a pending one: its producer's node");
        assert!(at(&args[3]).is_empty(), "nowhere yet");
    }
}
