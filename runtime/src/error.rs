//! The runtime's errors.

use crate::spec::SpecError;
use cohort_policy::{NodeId, ObjectId, TaskId};
use thiserror::Error;

/// Identifies an actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActorId(pub u64);

impl std::fmt::Display for ActorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "actor {}", self.0)
    }
}

/// Everything that can go wrong in the runtime. Each message names the thing at fault.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RuntimeError {
    /// The cluster spec is invalid.
    #[error("invalid cluster spec: {0}")]
    Spec(#[from] SpecError),
    /// Two functions or actor kinds were registered under one name.
    #[error("`{0}` is registered twice")]
    DuplicateName(String),
    /// No function of this name is registered.
    #[error("unknown function `{0}`")]
    UnknownFunction(String),
    /// No actor kind of this name is registered.
    #[error("unknown actor kind `{0}`")]
    UnknownActorKind(String),
    /// The actor kind has no such method.
    #[error("actor kind `{kind}` has no method `{method}`")]
    UnknownMethod {
        /// The actor kind.
        kind: String,
        /// The method asked for.
        method: String,
    },
    /// The actor does not exist.
    #[error("{0} does not exist")]
    UnknownActor(ActorId),
    /// The object was never created here or has been freed.
    #[error("{0} does not exist (never created, or freed when nothing referred to it any more)")]
    UnknownObject(ObjectId),
    /// The cluster's transport cannot be driven by this executor.
    #[error(
        "the {0:?} transport moves bytes through an executor that carries out transfers (the \
         live runtime); the in-process clocks cannot drive it"
    )]
    UnsupportedTransport(crate::core::transport::TransportModel),
    /// The fault script kills the node the driver runs on: the run would end with it (in Ray,
    /// the head node's death ends the cluster).
    #[error(
        "fault {position} kills {node}, the node the driver runs on; the run would end with it \
         (kill another node)"
    )]
    DriverNodeKilled {
        /// The fault's position in the script, from 1.
        position: usize,
        /// The driver's node.
        node: NodeId,
    },
    /// The driver node named in the config does not exist.
    #[error("the driver is configured on {0}, which is not in the cluster")]
    UnknownDriverNode(NodeId),
    /// No alive node can ever fit the demand.
    #[error("`{what}` demands {demand} CPUs, but the largest alive node has {max}")]
    Infeasible {
        /// The function or actor kind.
        what: String,
        /// CPUs demanded.
        demand: u32,
        /// CPUs of the largest alive node.
        max: u32,
    },
    /// The policy refused to place work.
    #[error("policy `{policy}` refused to place {task} (`{what}`): {reason}")]
    PolicyRefused {
        /// The policy's name.
        policy: String,
        /// The work.
        task: TaskId,
        /// The function or actor kind.
        what: String,
        /// The policy's reason.
        reason: String,
    },
    /// The policy chose a node that cannot take the work.
    #[error("policy `{policy}` placed {task} (`{what}`) on {node}, which {problem}")]
    PolicyInvalidChoice {
        /// The policy's name.
        policy: String,
        /// The work.
        task: TaskId,
        /// The function or actor kind.
        what: String,
        /// The node chosen.
        node: NodeId,
        /// What is wrong with it.
        problem: String,
    },
    /// The policy deferred work it may not defer (see `PlacementView::may_defer`), or for no
    /// time at all.
    #[error("policy `{policy}` deferred {task} (`{what}`), which {problem}")]
    PolicyBadDeferral {
        /// The policy's name.
        policy: String,
        /// The work.
        task: TaskId,
        /// The function or actor kind.
        what: String,
        /// What is wrong with the deferral.
        problem: String,
    },
    /// The policy itself failed (e.g. a plugin panicked).
    #[error("policy `{policy}` failed: {reason}")]
    PolicyFailed {
        /// The policy's name.
        policy: String,
        /// What happened.
        reason: String,
    },
    /// The object's producer failed, so the object will never exist.
    #[error("{object} failed: {reason}")]
    ObjectFailed {
        /// The object.
        object: ObjectId,
        /// Why its producer failed.
        reason: String,
    },
    /// The last copy of the object was evicted (reconstruction is not modeled).
    #[error("{0} was lost: its last copy was evicted and objects are not reconstructed")]
    ObjectLost(ObjectId),
    /// A put by the driver does not fit the driver node's store.
    #[error(
        "{node}'s object store cannot hold {needed} more bytes ({pinned} of its {capacity} bytes are pinned)"
    )]
    StoreFull {
        /// The node.
        node: NodeId,
        /// Bytes requested.
        needed: u64,
        /// Bytes pinned.
        pinned: u64,
        /// Capacity.
        capacity: u64,
    },
    /// A wait ran out of time.
    #[error("timed out")]
    Timeout,
    /// Nothing is running, nothing is scheduled, and the awaited result is not there.
    #[error("no progress is possible: {0}")]
    Stalled(String),
    /// The real-time executor lost a worker thread.
    #[error("executor failure: {0}")]
    Executor(String),
}
