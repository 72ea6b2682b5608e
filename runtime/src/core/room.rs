//! Waiting for room: a store that cannot make room (everything in it is pinned: arguments of
//! running work, copies being sent, copies being received) does not fail the work that asked.
//! Work whose outputs do not fit keeps its slot and waits to store them (as a Ray object
//! store's create request waits); a pull waits, first come first served, until its copy fits
//! (as Ray 2.x's pull manager admits pulls only while they fit in memory). When the store
//! releases something, waiting outputs go first (they hold a slot and pins are released only
//! as work ends), then pulls. Something larger than the whole store still fails at once.

use super::Core;
use super::tasks::Phase;
use super::transfers::Request;
use crate::time::Nanos;
use cohort_policy::{NodeId, ObjectId, TaskId};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::collections::VecDeque;

/// Pulls waiting for room, by node.
///
/// Invariant: `waiting` has an entry for `(object, node)` exactly when `queues[node]` holds
/// `object`, once.
#[derive(Debug)]
pub(super) struct WaitingRoom {
    queues: Vec<VecDeque<ObjectId>>,
    waiting: FxHashMap<(ObjectId, NodeId), SmallVec<[TaskId; 2]>>,
}

impl WaitingRoom {
    pub(super) fn new(nodes: usize) -> WaitingRoom {
        WaitingRoom {
            queues: vec![VecDeque::new(); nodes],
            waiting: FxHashMap::default(),
        }
    }

    /// Adds `task` to the pull of `object` into `node`'s store if one waits; returns whether
    /// one did.
    pub(super) fn join(&mut self, object: ObjectId, node: NodeId, task: TaskId) -> bool {
        match self.waiting.get_mut(&(object, node)) {
            Some(tasks) => {
                tasks.push(task);
                true
            }
            None => false,
        }
    }

    /// Queues a pull of `object` into `node`'s store for `task`.
    pub(super) fn wait(&mut self, object: ObjectId, node: NodeId, task: TaskId) {
        let mut tasks = SmallVec::new();
        tasks.push(task);
        self.waiting.insert((object, node), tasks);
        self.queues[node.index()].push_back(object);
    }

    /// Takes every pull waiting for `node`'s store (its node died), in order.
    pub(super) fn take_node(&mut self, node: NodeId) -> Vec<(ObjectId, SmallVec<[TaskId; 2]>)> {
        let queue = std::mem::take(&mut self.queues[node.index()]);
        queue
            .into_iter()
            .filter_map(|o| Some((o, self.waiting.remove(&(o, node))?)))
            .collect()
    }
}

impl Core {
    /// `task` waits for room in `node`'s store to receive `object`.
    pub(super) fn wait_for_room(&mut self, object: ObjectId, node: NodeId, task: TaskId) {
        if !self.room.join(object, node, task) {
            self.room.wait(object, node, task);
        }
    }

    /// Whether a pull of `object` into `node` already waits for room; if so `task` joins it.
    pub(super) fn joined_waiting_pull(
        &mut self,
        object: ObjectId,
        node: NodeId,
        task: TaskId,
    ) -> bool {
        self.room.join(object, node, task)
    }

    /// `node`'s store released something: let waiting outputs, then waiting pulls, in, in
    /// order, while they fit.
    pub(super) fn room_freed(&mut self, node: NodeId, now: Nanos) {
        while let Some(&task) = self.nodes[node.index()].finishing.front() {
            let total = match self.tasks.get(task) {
                Some(e) if e.phase == Phase::Executed && e.node == node => match &e.result {
                    Some(Ok(values)) => values.iter().map(|v| v.size()).sum(),
                    _ => 0,
                },
                // Lost with its node meanwhile.
                _ => {
                    self.nodes[node.index()].finishing.pop_front();
                    continue;
                }
            };
            if self.make_room(node, total).is_err() {
                return;
            }
            self.nodes[node.index()].finishing.pop_front();
            let stored = self.store_outputs(task, now);
            debug_assert!(stored, "room was made");
        }
        while let Some(&object) = self.room.queues[node.index()].front() {
            let size = self.directory.get(object).map(|o| o.size);
            if let Some(size) = size
                && self.make_room(node, size).is_err()
            {
                return;
            }
            self.room.queues[node.index()].pop_front();
            let tasks = self
                .room
                .waiting
                .remove(&(object, node))
                .unwrap_or_default();
            for task in tasks {
                self.ask_for(object, task, now);
            }
        }
    }

    /// Work that waited (for room, for a dead node) asks for `object` again, at its node.
    pub(super) fn ask_for(&mut self, object: ObjectId, task: TaskId, now: Nanos) {
        let Some(entry) = self.tasks.get(task) else {
            return;
        };
        if entry.phase != Phase::Fetching {
            return;
        }
        let node = entry.node;
        match self.request(object, node, task, now) {
            Request::Local => self.arrived(task, now),
            Request::Waiting | Request::Ended => {}
            Request::Failed(reason) => self.fail_task(task, reason, now),
        }
    }
}
