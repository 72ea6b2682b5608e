//! The external executor: the same core, driven in real time by a [`Backend`] that runs the
//! code and moves the bytes somewhere else (a live deployment's node processes).
//!
//! The loop hands the backend every execution, transfer and store operation (a copy removed,
//! spilled to its node's disk, read back, its disk copy deleted) the core asks for,
//! then waits for the backend's next input (an execution's result, a transfer's progress, a
//! node lost) or the core's next timer, whichever comes first. Time is the backend's clock.

use super::RunEnd;
use crate::core::Core;
use crate::core::store::StoreOp;
use crate::core::transport::{TransferId, TransferRequest, TransportEvent};
use crate::core::work::{ExecOutput, Execution};
use crate::error::{ActorId, RuntimeError};
use crate::payload::Payload;
use crate::time::Nanos;
use cohort_policy::{NodeId, ObjectId, TaskId};

/// What a backend reports.
#[derive(Debug)]
pub enum BackendInput {
    /// An execution handed out with [`Backend::execute`] ended.
    Completed {
        /// The work.
        task: TaskId,
        /// What it produced, or why it failed. An output's payload stands for the object the
        /// backend stored (its size; its first real bytes if the backend sends them).
        result: Result<ExecOutput, String>,
    },
    /// A transfer handed out with [`Backend::transfer`] progressed.
    Transport(TransportEvent),
    /// A node was found dead (it missed its heartbeats); `running` executions handed to it
    /// will never be reported. The core declares it dead
    /// ([`Core::node_lost`](crate::core::Core::node_lost)).
    NodeLost {
        /// The node.
        node: NodeId,
        /// Executions it was running or had queued.
        running: usize,
    },
}

/// Where executions run and bytes move when the core is driven by an external executor.
///
/// Contract: the backend's clock never goes back; every execution handed out is reported
/// [`BackendInput::Completed`] once (unless its node is lost); every transfer is reported
/// through the transport's rules (see [`crate::core::transport`]); a node's store operations
/// arrive in the order the core made them, after the executions and transfers the core asked
/// for before them.
pub trait Backend: Send {
    /// The backend's clock: ns since the run started.
    fn now(&self) -> Nanos;

    /// Runs `execution` on its node. Its `objects` and `outputs` name the objects.
    fn execute(&mut self, execution: Execution) -> Result<(), RuntimeError>;

    /// Moves a copy of `request.object` from `request.from` to `request.to`.
    fn transfer(&mut self, id: TransferId, request: TransferRequest) -> Result<(), RuntimeError>;

    /// Stores `value` as `object` in `node`'s store: the driver's put.
    fn put(&mut self, node: NodeId, object: ObjectId, value: &Payload) -> Result<(), RuntimeError>;

    /// Does to `node`'s copy of `object` what the core did to its own: removes it, moves it to
    /// the node's disk, reads it back, or deletes the disk's copy.
    fn store_op(&mut self, node: NodeId, op: StoreOp, object: ObjectId)
    -> Result<(), RuntimeError>;

    /// Waits until the next input, or until the clock reads `until` (for ever with `None`);
    /// `Ok(None)` when the time came first.
    fn next_input(&mut self, until: Option<Nanos>) -> Result<Option<BackendInput>, RuntimeError>;

    /// The state of `actor` as its last finished call left it, if the backend knows it (a
    /// live node reports the running total of a `u64` state).
    fn actor_state(&self, actor: ActorId) -> Option<&(dyn std::any::Any + Send)>;

    /// The actors whose constructor has run, ascending.
    fn constructed_actors(&self) -> Vec<ActorId>;

    /// The run is over: let the nodes go (and collect what they report). Called once, by
    /// [`Cluster::stop`](crate::Cluster::stop).
    fn stop(&mut self) -> Result<(), RuntimeError> {
        Ok(())
    }
}

/// Drives a core with a [`Backend`].
pub(crate) struct External {
    backend: Box<dyn Backend>,
    in_flight: usize,
}

impl External {
    pub fn new(backend: Box<dyn Backend>) -> Self {
        External {
            backend,
            in_flight: 0,
        }
    }

    pub fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    pub fn stop(&mut self) -> Result<(), RuntimeError> {
        self.backend.stop()
    }

    pub fn put(
        &mut self,
        node: NodeId,
        object: ObjectId,
        value: &Payload,
    ) -> Result<(), RuntimeError> {
        self.backend.put(node, object, value)
    }

    pub fn now(&self) -> Nanos {
        self.backend.now()
    }

    /// Hands the backend everything the core asks for now: the store operations first (an
    /// object read back from disk must be in memory before the work or the pull that the
    /// core started on it; a copy the core removes is never one that work started this turn
    /// reads, since started work pins its arguments and a transfer its source), then the
    /// executions, then the transfers.
    fn hand_out(&mut self, core: &mut Core) -> Result<(), RuntimeError> {
        let mut ops = Vec::new();
        core.take_store_ops(|node, op, object| ops.push((node, op, object)));
        for (node, op, object) in ops {
            self.backend.store_op(node, op, object)?;
        }
        while let Some(exec) = core.poll_execution() {
            self.backend.execute(exec)?;
            self.in_flight += 1;
        }
        while let Some((id, request)) = core.poll_transfer() {
            self.backend.transfer(id, request)?;
        }
        Ok(())
    }

    pub fn run_until(
        &mut self,
        core: &mut Core,
        done: &mut dyn FnMut(&Core, usize) -> bool,
        deadline: Option<Nanos>,
    ) -> Result<RunEnd, RuntimeError> {
        loop {
            let now = self.now();
            core.fire_due(now);
            self.hand_out(core)?;
            if done(core, self.in_flight) {
                return Ok(RunEnd::Reached);
            }
            if deadline.is_some_and(|d| now >= d) {
                return Ok(RunEnd::Deadline);
            }
            let wake = super::next_wake(core, deadline);
            if self.in_flight == 0 && wake.is_none() && core.transfers_in_flight() == 0 {
                return Err(RuntimeError::Stalled(
                    "nothing is running or scheduled".to_string(),
                ));
            }
            let Some(input) = self.backend.next_input(wake)? else {
                continue;
            };
            let now = self.now();
            core.fire_due(now);
            match input {
                BackendInput::Completed { task, result } => {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    core.complete(task, result, now);
                }
                BackendInput::Transport(event) => core.transport_input(event, now),
                BackendInput::NodeLost { node, running } => {
                    self.in_flight = self.in_flight.saturating_sub(running);
                    core.node_lost(node, now);
                }
            }
        }
    }
}

/// An execution's result as the core wants it, from what a backend knows of each output: its
/// size and first real bytes (`head`, at most the size).
pub fn output_stand_in(head: &[u8], size: u64) -> Payload {
    let head = &head[..head.len().min(usize::try_from(size).unwrap_or(usize::MAX))];
    crate::payload::Payload::modeled(
        bytes::Bytes::copy_from_slice(head),
        size - head.len() as u64,
    )
}
