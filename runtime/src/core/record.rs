//! What the core records: the trace, running totals and the first failure.

use crate::time::Nanos;
use crate::trace::{
    Counters, EvictionRecord, NodeEvent, NodeRecord, Trace, TraceLevel, TransferRecord,
};
use cohort_policy::{NodeId, ObjectId, TaskId};
use std::sync::Arc;

/// The core's records. The trace holds per-task, per-transfer and per-eviction records only at
/// [`TraceLevel::Full`]; counters and datapoints are always kept.
#[derive(Debug)]
pub(super) struct Recorder {
    level: TraceLevel,
    pub(super) trace: Trace,
    pub(super) counters: Counters,
    first_failure: Option<(TaskId, Arc<str>)>,
}

impl Recorder {
    pub(super) fn new(level: TraceLevel) -> Recorder {
        Recorder {
            level,
            trace: Trace::default(),
            counters: Counters::default(),
            first_failure: None,
        }
    }

    /// Whether per-item records are kept.
    pub(super) fn full(&self) -> bool {
        self.level == TraceLevel::Full
    }

    /// `task` (running `name`) failed for `reason`: the failure as every dependent will see
    /// it, remembered if it is the first.
    pub(super) fn failure(&mut self, task: TaskId, name: &str, reason: &str) -> Arc<str> {
        let reason: Arc<str> = format!("{task} (`{name}`) failed: {reason}").into();
        self.first_failure.get_or_insert((task, reason.clone()));
        reason
    }

    /// The first failure recorded.
    pub(super) fn first_failure(&self) -> Option<(TaskId, &str)> {
        self.first_failure.as_ref().map(|(t, r)| (*t, &**r))
    }

    /// A transfer completed.
    pub(super) fn transfer(&mut self, record: TransferRecord) {
        self.counters.transfers += 1;
        self.counters.bytes_transferred += record.bytes;
        if self.full() {
            self.trace.transfers.push(record);
        }
    }

    /// `event` happened to `node` at `at`.
    pub(super) fn node(&mut self, node: NodeId, event: NodeEvent, at: Nanos) {
        self.trace.nodes.push(NodeRecord { node, event, at });
    }

    /// A copy of `object` was evicted from `node` at `at`.
    pub(super) fn eviction(
        &mut self,
        object: ObjectId,
        node: NodeId,
        bytes: u64,
        at: Nanos,
        last_copy: bool,
    ) {
        self.counters.evictions += 1;
        if self.full() {
            self.trace.evictions.push(EvictionRecord {
                object,
                node,
                bytes,
                at,
                last_copy,
            });
        }
    }
}
