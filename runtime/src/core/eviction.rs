//! Making room in a node's store: least-recently-used unpinned copies go first, copies that
//! exist elsewhere (another node's memory, a disk) before last copies. A last copy evicted is
//! lost, unless the cluster spills: then it goes to the node's disk (see `spill`).

use super::Core;
use super::store::{NoRoom, StoreOp};
use crate::error::RuntimeError;
use cohort_policy::NodeId;

impl Core {
    /// Evicts what must go for `size` more bytes to fit on `node`.
    #[inline]
    pub(super) fn make_room(&mut self, node: NodeId, size: u64) -> Result<(), NoRoom> {
        let store = &self.nodes[node.index()].store;
        if size <= store.capacity() - store.used() {
            // Nothing to evict; the placer's view of this store is already current.
            return Ok(());
        }
        self.evict_for(node, size)
    }

    /// [`Core::make_room`] when something must go.
    fn evict_for(&mut self, node: NodeId, size: u64) -> Result<(), NoRoom> {
        let directory = &self.directory;
        let store = &self.nodes[node.index()].store;
        let lru = self.lru();
        let plan = if lru {
            // Plasma knew nothing of other copies: pure LRU, a fifth of the store at once.
            store.plan_room_batch(size, |_| false, store.capacity() / 5)?
        } else {
            store.plan_room(size, |o| directory.get(o).is_none_or(|e| e.only_copy()))?
        };
        let spilling = self.spec.spilling.is_some();
        for ev in plan {
            let o = self
                .directory
                .get_mut(ev.object)
                .expect("stored objects exist");
            // Under `ObjectLifetime::Lru` a released object is dropped, not spilled: nothing
            // refers to it.
            let to_disk = spilling && o.only_copy() && !(lru && o.refs == 0);
            let op = if to_disk {
                StoreOp::Spilled
            } else {
                StoreOp::Removed
            };
            self.nodes[node.index()].store.remove_as(op, ev.object);
            if to_disk {
                self.spill(ev.object, ev.size, node);
                continue;
            }
            let o = self
                .directory
                .get_mut(ev.object)
                .expect("stored objects exist");
            let last_copy = o.remove_holder(node);
            if last_copy && o.refs == 0 {
                // A released object (kept only because stores free nothing by themselves,
                // see `ObjectLifetime::Lru`) is gone for good with its last copy.
                self.forget(ev.object);
            }
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
            self.record
                .eviction(ev.object, node, ev.size, self.now, last_copy);
        }
        self.refresh_store_view(node);
        Ok(())
    }

    /// Copies the store's usage of `node` into the placer's live view.
    #[inline]
    pub(super) fn refresh_store_view(&mut self, node: NodeId) {
        self.placer.node_mut(node).store_used = self.nodes[node.index()].store.used();
    }
}

impl NoRoom {
    /// The error a driver sees for this shortfall on `node`.
    pub(super) fn into_error(self, node: NodeId) -> RuntimeError {
        RuntimeError::StoreFull {
            node,
            needed: self.needed,
            pinned: self.pinned,
            capacity: self.capacity,
        }
    }
}
