//! Objects through the core: puts, references, sealing a produced value, failing and freeing.

use super::Core;
use super::directory::ObjectState;
use super::work::Arg;
use crate::error::RuntimeError;
use crate::model::ObjectLifetime;
use crate::payload::Payload;
use crate::time::Nanos;
use cohort_policy::{GroupId, NodeId, ObjectId, PolicyEvent, TaskId};
use smallvec::SmallVec;
use std::sync::Arc;

impl Core {
    /// Stores a value from the driver on the driver node. The object starts with one
    /// reference (the driver's).
    pub fn put(&mut self, payload: Payload, now: Nanos) -> Result<ObjectId, RuntimeError> {
        self.observe(now);
        let node = self.config.driver_node;
        let size = payload.size();
        self.make_room(node, size).map_err(|e| e.into_error(node))?;
        let id = self.directory.create(0, TaskId(0), NodeId::NONE);
        self.nodes[node.index()].store.insert_sealed(id, size);
        self.refresh_store_view(node);
        let entry = self.directory.get_mut(id).expect("just created");
        entry.seal(payload, node);
        Ok(id)
    }

    /// Drops a reference to an object; when none is left, it is freed everywhere.
    #[inline]
    pub fn release(&mut self, id: ObjectId) {
        let Some(o) = self.directory.get_mut(id) else {
            return;
        };
        debug_assert!(o.refs > 0, "release of unreferenced {id}");
        o.refs = o.refs.saturating_sub(1);
        if o.refs == 0 && !matches!(o.state, ObjectState::Pending) && !self.kept_by_stores(id) {
            self.free_object(id);
        }
    }

    /// The frontend (the IR) will not refer to `id` again. With
    /// [`ObjectLifetime::LruIrRelease`] the object is then freed as soon as no reference is
    /// left, rather than kept by its stores; with any other lifetime this changes nothing.
    pub fn retire(&mut self, id: ObjectId) {
        if self.config.model.object_lifetime != ObjectLifetime::LruIrRelease {
            return;
        }
        let Some(o) = self.directory.get_mut(id) else {
            return;
        };
        o.retired = true;
        if o.refs == 0 && !matches!(o.state, ObjectState::Pending) {
            self.free_object(id);
        }
    }

    /// Whether stores free objects only to make room (Ray v0.6, [`ObjectLifetime::Lru`] and
    /// [`ObjectLifetime::LruIrRelease`]).
    #[inline]
    pub(super) fn lru(&self) -> bool {
        self.config.model.object_lifetime.lru_stores()
    }

    /// Whether an object no one refers to stays in the directory for its stored copies: with
    /// LRU stores, as long as it has one (eviction forgets it with its last), unless the
    /// frontend retired it.
    #[inline]
    pub(super) fn kept_by_stores(&self, id: ObjectId) -> bool {
        self.lru()
            && self
                .directory
                .get(id)
                .is_some_and(|o| !o.retired && (!o.holders.is_empty() || o.spilled.is_some()))
    }

    /// Tells the policy that a group will not be referred to again.
    pub fn free_group(&mut self, group: GroupId) {
        self.placer.tell(PolicyEvent::GroupFreed(group));
    }

    /// `count` new pending outputs of `task`, placed on `node`, each with one reference.
    #[inline]
    pub(super) fn new_outputs(
        &mut self,
        task: TaskId,
        count: u32,
        declared: u64,
        node: NodeId,
    ) -> SmallVec<[ObjectId; 2]> {
        let mut outputs = SmallVec::new();
        for _ in 0..count {
            outputs.push(self.directory.create(declared, task, node));
        }
        outputs
    }

    /// Drops the references `Directory::hold_args` added.
    pub(super) fn release_args(&mut self, args: &[Arg]) {
        for a in args {
            if let Arg::Object(o) = a {
                self.release(*o);
            }
        }
    }

    /// Seals a produced output on its producer's node (room was made) and adds its waiters to
    /// `wake`, for the caller to ask for it again once every output of the work is stored (a
    /// waiter woken earlier could take the room made for the next output). Returns whether
    /// the copy stays in the store pinned: until its producer's finish is over (and its
    /// lineage kept), so that what its waiters do cannot evict it first; the caller unpins it
    /// then.
    #[inline]
    pub(super) fn seal_output(
        &mut self,
        id: ObjectId,
        value: Payload,
        node: NodeId,
        wake: &mut impl Extend<(ObjectId, TaskId)>,
    ) -> bool {
        let size = value.size();
        let lru_stores = self.lru();
        let Some(o) = self.directory.get_mut(id) else {
            return false;
        };
        // Whether an unreferenced copy stays in its store until evicted.
        let lru = lru_stores && !o.retired;
        if !matches!(o.state, ObjectState::Pending) {
            // Work run again (to rebuild another of its outputs, or an actor replaying a
            // call) made an output that has a copy already, or that no one needs.
            return false;
        }
        if o.refs == 0 && o.waiters.is_empty() && !lru {
            // Nobody refers to it: storing it only to free it at once would change nothing
            // but the store's LRU clock, whose order it keeps.
            self.forget(id);
            return false;
        }
        self.nodes[node.index()].store.insert_sealed(id, size);
        let waiters = o.seal(value, node);
        if o.refs == 0 && !lru {
            self.free_object(id);
            return false;
        }
        // A pending object's waiters are fetching (or lost with their node, and skipped).
        wake.extend(waiters.into_iter().map(|task| (id, task)));
        if o.refs == 0 {
            // Stored, unpinned, until its store needs the room.
            return false;
        }
        self.nodes[node.index()].store.pin(id);
        true
    }

    /// The producer of `id` failed: so does every task waiting for it.
    pub(super) fn fail_object(&mut self, id: ObjectId, reason: Arc<str>, now: Nanos) {
        let Some(o) = self.directory.get_mut(id) else {
            return;
        };
        let waiters = o.fail(reason.clone());
        if o.refs == 0 {
            self.forget(id);
        }
        for task in waiters {
            self.fail_task(task, format!("argument {id} failed: {reason}").into(), now);
        }
    }

    /// Removes an unreferenced object from every store and the directory. If it leaves the
    /// directory (no lineage needs its entry, so its id is never used again), a copy that a
    /// transfer in flight is reading stays until the transfer ends (`release_source`
    /// removes it then): its bytes are still being sent, and where they are real, removing
    /// them would leave the receiver nothing to read.
    pub(super) fn free_object(&mut self, id: ObjectId) {
        let Some(o) = self.directory.get(id) else {
            return;
        };
        let leaves = o.lineage == 0;
        for h in &o.holders {
            let store = &mut self.nodes[h.index()].store;
            if leaves && store.is_pinned(id) && self.transfers.sends(id, *h) {
                store.keep_while_read(id);
                continue;
            }
            store.remove(id);
            self.placer.node_mut(*h).store_used = store.used();
        }
        if let Some(disk) = o.spilled {
            self.unspill(id, disk);
        }
        self.forget(id);
    }

    /// Takes an object no one refers to out of the directory, unless lineage still needs its
    /// entry: then it stays, `Lost`, its value gone (see `lineage`).
    pub(super) fn forget(&mut self, id: ObjectId) {
        let Some(o) = self.directory.get_mut(id) else {
            return;
        };
        if o.lineage > 0 {
            o.holders.clear();
            o.spilled = None;
            o.state = ObjectState::Lost;
            return;
        }
        let producer = o.producer;
        self.directory.discard(id);
        self.output_gone(producer);
    }
}
