//! Spilling (see [`Spilling`](crate::Spilling)): a store that must make room writes the copies
//! that are the last in memory to its node's disk rather than lose them, and reads one back
//! when work asks for it.
//!
//! A spill frees the store's bytes at once (as if the write had a buffer of its own) and keeps
//! the node's disk busy for the write's duration; a restore reserves room in the store, waits
//! for the disk (after everything asked of it before), then seals the copy there: from then on
//! it is an ordinary copy in memory, which work on other nodes pulls. The disk keeps its copy
//! until the object is freed, so evicting a restored copy again costs nothing. Simplified from
//! Ray 2.x, which spills proactively above 80 % of the store in batches; here a spill happens
//! only when room is needed, one object at a time.

use super::Core;
use super::directory::ObjectState;
use super::store::StoreOp;
use super::timers::Timer;
use super::transfers::Request;
use crate::time::Nanos;
use cohort_policy::{NodeId, ObjectId, TaskId};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

/// One object being read back from a disk.
#[derive(Debug)]
pub(super) struct Restore {
    /// The node whose disk holds it (and whose store it goes into).
    node: NodeId,
    /// Work waiting for it.
    waiters: SmallVec<[TaskId; 2]>,
    /// When the read is done (a timer for another time is of a read given up).
    due: Nanos,
}

/// Restores in progress, by object.
pub(super) type Restores = FxHashMap<ObjectId, Restore>;

impl Core {
    /// Writes the copy of `object` (`size` bytes, the last in memory) from `node`'s store to
    /// its disk; the store has already let it go.
    pub(super) fn spill(&mut self, object: ObjectId, size: u64, node: NodeId) {
        let Some(spilling) = self.spec.spilling else {
            return;
        };
        let state = &mut self.nodes[node.index()];
        state.disk_free_at = state.disk_free_at.max(self.now) + spilling.disk_time(size);
        state.disk.insert(object);
        if let Some(o) = self.directory.get_mut(object) {
            o.spill(node);
        }
        self.record.counters.spilled_bytes += size;
    }

    /// `task` needs `object`, whose only copy is on `node`'s disk: read it back into that
    /// node's store (or wait for the read already under way).
    pub(super) fn restore(
        &mut self,
        object: ObjectId,
        node: NodeId,
        task: TaskId,
        now: Nanos,
    ) -> Request {
        if !self.nodes[node.index()].up {
            // Its disk does not answer; wait for the node to be declared dead.
            self.nodes[node.index()].parked.push((task, object));
            return Request::Waiting;
        }
        if let Some(r) = self.restoring.get_mut(&object) {
            r.waiters.push(task);
            return Request::Waiting;
        }
        let size = self.directory.entry(object).size;
        if let Err(e) = self.make_room(node, size) {
            if e.needed <= e.capacity {
                self.wait_for_room(object, node, task);
                return Request::Waiting;
            }
            return Request::Failed(
                format!(
                    "cannot restore argument {object} ({size} bytes) on {node}: {}",
                    e.into_error(node)
                )
                .into(),
            );
        }
        self.nodes[node.index()].store.reserve(object, size);
        self.refresh_store_view(node);
        let spilling = self
            .spec
            .spilling
            .expect("a spilled copy means spilling is on");
        let state = &mut self.nodes[node.index()];
        state.disk_free_at = state.disk_free_at.max(now) + spilling.disk_time(size);
        let due = state.disk_free_at;
        self.timers.push(due, Timer::Restore(object));
        let mut waiters = SmallVec::new();
        waiters.push(task);
        self.restoring
            .insert(object, Restore { node, waiters, due });
        Request::Waiting
    }

    /// A restore due at `due` is done: seal the copy in the store and ask again for each
    /// waiter.
    pub(super) fn restored(&mut self, object: ObjectId, due: Nanos, now: Nanos) {
        if self.restoring.get(&object).is_none_or(|r| r.due != due) {
            // Given up when its node was killed.
            return;
        }
        let r = self.restoring.remove(&object).expect("checked above");
        let node = r.node;
        let store = &mut self.nodes[node.index()].store;
        match self.directory.get_mut(object) {
            Some(o) if matches!(o.state, ObjectState::Ready(_)) => {
                store.seal(object);
                store.note(StoreOp::Restored, object);
                o.add_holder(node);
                self.record.counters.restored_bytes += o.size;
            }
            _ => {
                // Freed while it was read (every task that wanted it failed).
                store.remove(object);
                self.refresh_store_view(node);
            }
        }
        for task in r.waiters {
            self.ask_for(object, task, now);
        }
        self.room_freed(node, now);
    }

    /// Node `node` was killed: its restores stop (their waiters wait for the declaration) and
    /// its disk's copies are kept aside until then.
    pub(super) fn disk_killed(&mut self, node: NodeId) {
        let mut stopped: Vec<ObjectId> = self
            .restoring
            .iter()
            .filter(|(_, r)| r.node == node)
            .map(|(o, _)| *o)
            .collect();
        stopped.sort_unstable();
        for object in stopped {
            let r = self.restoring.remove(&object).expect("listed");
            let parked = r.waiters.into_iter().map(|t| (t, object));
            self.nodes[node.index()].parked.extend(parked);
        }
        for (object, tasks) in self.room.take_node(node) {
            let parked = tasks.into_iter().map(|t| (t, object));
            self.nodes[node.index()].parked.extend(parked);
        }
        let state = &mut self.nodes[node.index()];
        state.lost_disk = std::mem::take(&mut state.disk).into_iter().collect();
        state.disk_free_at = 0;
    }

    /// Killed node `node` is declared dead: its disk's copies leave the directory.
    pub(super) fn disk_declared_dead(&mut self, node: NodeId) {
        for o in std::mem::take(&mut self.nodes[node.index()].lost_disk) {
            if let Some(entry) = self.directory.get_mut(o)
                && entry.spilled == Some(node)
                && entry.drop_spilled()
                && entry.refs == 0
                && !matches!(entry.state, super::directory::ObjectState::Pending)
            {
                // Only stores kept it (`ObjectLifetime::Lru`): it goes with its last copy.
                self.forget(o);
            }
        }
    }

    /// A freed object's spilled copy goes from its disk.
    pub(super) fn unspill(&mut self, object: ObjectId, node: NodeId) {
        let state = &mut self.nodes[node.index()];
        state.disk.remove(&object);
        state.store.note(StoreOp::Unspilled, object);
    }
}
