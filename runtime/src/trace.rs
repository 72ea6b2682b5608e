//! The trace: plain records of what happened, for the harness to write out.

use crate::time::Nanos;
use cohort_policy::{Hints, NodeId, ObjectId, TaskId, WorkKind};
use std::sync::Arc;

/// How much the core records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TraceLevel {
    /// Only datapoints (the measurement itself) and counters.
    Off,
    /// Datapoints, and a record per task, transfer and eviction.
    #[default]
    Full,
}

/// One finished (or failed) piece of work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRecord {
    /// The work.
    pub task: TaskId,
    /// Task, actor creation or method call.
    pub kind: WorkKind,
    /// Function, actor kind, or `Kind.method`.
    pub name: Arc<str>,
    /// Its hints.
    pub hints: Hints,
    /// Where it was placed.
    pub node: NodeId,
    /// CPU slots it held while running (0 for method calls).
    pub cpus: u32,
    /// Submitted (and placed: placement happens at submission).
    pub submitted: Nanos,
    /// All arguments local (equal to `finished` if it failed before that).
    pub args_local: Nanos,
    /// Started running (equal to `finished` if it never ran).
    pub started: Nanos,
    /// Finished: outputs sealed, or failure recorded.
    pub finished: Nanos,
    /// Bytes of all inputs.
    pub input_bytes: u64,
    /// Bytes of all outputs.
    pub output_bytes: u64,
    /// Whether it succeeded.
    pub ok: bool,
}

/// One completed transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRecord {
    /// The object moved.
    pub object: ObjectId,
    /// Its size.
    pub bytes: u64,
    /// Source node.
    pub from: NodeId,
    /// Destination node.
    pub to: NodeId,
    /// When it was requested.
    pub requested: Nanos,
    /// When it started flowing (after the latency).
    pub flowing: Nanos,
    /// When the last byte arrived.
    pub finished: Nanos,
}

/// One copy evicted from a store to make room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvictionRecord {
    /// The object.
    pub object: ObjectId,
    /// Where.
    pub node: NodeId,
    /// Its size.
    pub bytes: u64,
    /// When.
    pub at: Nanos,
    /// Whether this was the last copy (the object is lost).
    pub last_copy: bool,
}

/// What happened to a node in a run with kills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// It stopped (a `kill` fault started).
    Killed,
    /// The cluster declared it dead (it had missed its heartbeats, or came back).
    DeclaredDead,
    /// It came back, empty (a `kill` fault ended).
    Restarted,
}

/// One change of a node's life, recorded at every trace level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeRecord {
    /// The node.
    pub node: NodeId,
    /// What happened.
    pub event: NodeEvent,
    /// When.
    pub at: Nanos,
}

/// A datapoint reached its destination: what cohort measures latency with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datapoint {
    /// A tag chosen by the workload (e.g. the iteration number).
    pub tag: u64,
    /// When the data entered the system.
    pub ingest: Nanos,
    /// When it arrived (the start of the work that recorded it).
    pub arrival: Nanos,
    /// The work that recorded it.
    pub task: TaskId,
    /// That work's index in its group (e.g. which reducer).
    pub index: u32,
    /// Where that work ran.
    pub node: NodeId,
}

impl Datapoint {
    /// `arrival - ingest`.
    pub fn latency(&self) -> Nanos {
        self.arrival.saturating_sub(self.ingest)
    }
}

/// The work charged to the host's cores over a run (`ModelOptions::host_cores`), ns of one
/// core by kind: what each piece asked for when it started, so a piece stopped early by a
/// kill counts whole. Their sum is the CPU time the model says the run's nodes used, to set
/// against a live run's measured CPU time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostWork {
    /// Tasks' and method calls' modeled durations.
    pub tasks_ns: u64,
    /// Transfers' set-ups (latency and wake-up).
    pub set_ups_ns: u64,
    /// Transfers' copies of their bytes.
    pub copies_ns: u64,
    /// The head's work for tasks (`ModelOptions::head_work`): not the nodes', so not in
    /// [`HostWork::total_ns`].
    pub head_ns: u64,
}

impl HostWork {
    /// All of the nodes' work (the head's is apart).
    pub fn total_ns(&self) -> u64 {
        self.tasks_ns + self.set_ups_ns + self.copies_ns
    }
}

/// Running totals kept at every trace level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Work that finished successfully.
    pub finished: u64,
    /// Work that failed.
    pub failed: u64,
    /// Completed transfers.
    pub transfers: u64,
    /// Bytes moved by completed transfers.
    pub bytes_transferred: u64,
    /// Copies evicted.
    pub evictions: u64,
    /// Work run again: placed again after its node died having started there, run again to
    /// rebuild a lost output, or a call an actor replayed after a restart.
    pub reexecuted: u64,
    /// Lost objects made pending again by running their producer again.
    pub reconstructed: u64,
    /// Actors restarted after their node died.
    pub actor_restarts: u64,
    /// Nodes declared dead.
    pub nodes_declared_dead: u64,
    /// Bytes written from stores to their nodes' disks.
    pub spilled_bytes: u64,
    /// Bytes read back from disks into stores.
    pub restored_bytes: u64,
    /// Ready work moved to another node by heartbeat spill-over.
    pub spilled_over: u64,
    /// Work that failed because an object it makes or needs is larger than a whole store: no
    /// waiting or eviction could make it fit (the workload does not fit the cluster).
    pub oversized: u64,
    /// Times the policy deferred a task's placement (`Placement::Defer`).
    pub deferrals: u64,
}

/// Everything recorded since the last [`Trace::take`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Finished work.
    pub tasks: Vec<TaskRecord>,
    /// Completed transfers.
    pub transfers: Vec<TransferRecord>,
    /// Evictions.
    pub evictions: Vec<EvictionRecord>,
    /// Datapoints.
    pub datapoints: Vec<Datapoint>,
    /// Kills, declarations of death and restarts, in time order.
    pub nodes: Vec<NodeRecord>,
}

impl Trace {
    /// Moves the records out, leaving an empty trace.
    pub fn take(&mut self) -> Trace {
        std::mem::take(self)
    }

    /// Gives this trace `spare`'s memory to record into: each of `spare`'s lists, emptied,
    /// replaces the matching list here when that one is still empty and has less room. A run
    /// that records into a finished run's lists does not grow them from nothing again (the
    /// copies and page faults of growing them were a tenth of a 5-node streaming run's wall
    /// time, BENCHMARKS.md). Nothing recorded here is dropped, and nothing of `spare`'s is
    /// kept but its room.
    pub fn recycle(&mut self, spare: Trace) {
        fn reuse<T>(list: &mut Vec<T>, mut spare: Vec<T>) {
            if list.is_empty() && spare.capacity() > list.capacity() {
                spare.clear();
                *list = spare;
            }
        }
        let Trace {
            tasks,
            transfers,
            evictions,
            datapoints,
            nodes,
        } = spare;
        reuse(&mut self.tasks, tasks);
        reuse(&mut self.transfers, transfers);
        reuse(&mut self.evictions, evictions);
        reuse(&mut self.datapoints, datapoints);
        reuse(&mut self.nodes, nodes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_record(at: Nanos) -> NodeRecord {
        NodeRecord {
            node: NodeId(1),
            event: NodeEvent::Killed,
            at,
        }
    }

    #[test]
    fn recycling_takes_the_spare_room_of_empty_lists_only() {
        // (A clone of an empty list has no room, so each use builds its spare.)
        let spare = || Trace {
            nodes: vec![node_record(1); 100],
            transfers: Vec::with_capacity(64),
            ..Trace::default()
        };
        let mut trace = Trace {
            nodes: vec![node_record(7)],
            ..Trace::default()
        };
        trace.recycle(spare());
        // A list with records keeps them, and its own room.
        assert_eq!(trace.nodes, vec![node_record(7)]);
        // An empty list takes the spare's room, and none of its records.
        assert!(trace.transfers.is_empty());
        assert!(trace.transfers.capacity() >= 64);

        let mut fresh = Trace::default();
        fresh.recycle(spare());
        assert!(fresh.nodes.is_empty());
        assert!(fresh.nodes.capacity() >= 100);
        assert_eq!(
            fresh,
            Trace::default(),
            "nothing of the spare's is recorded"
        );
    }

    #[test]
    fn recycling_a_smaller_spare_keeps_the_larger_room() {
        let mut trace = Trace::default();
        trace.datapoints.reserve(500);
        let room = trace.datapoints.capacity();
        let mut spare = Trace::default();
        spare.datapoints.reserve(10);
        trace.recycle(spare);
        assert_eq!(trace.datapoints.capacity(), room);
    }
}
