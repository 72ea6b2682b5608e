//! The directory: every object the cluster knows, where its copies are, and who refers to it.

use super::idmap::IdMap;
use super::work::Arg;
use crate::error::RuntimeError;
use crate::payload::Payload;
use cohort_policy::{NodeId, ObjectId, TaskId};
use smallvec::SmallVec;
use std::sync::Arc;

/// Every object the core knows, by id.
///
/// Invariant: ids are handed out ascending from 1 and never reused, and inserted as they are
/// handed out; an id absent from the map was freed (or never existed).
#[derive(Debug)]
pub(super) struct Directory {
    objects: IdMap<ObjectEntry>,
    next_object: u64,
}

impl Default for Directory {
    fn default() -> Self {
        Directory {
            objects: IdMap::default(),
            next_object: 1,
        }
    }
}

impl Directory {
    /// A new pending object with one reference, to be produced by `producer` on
    /// `producer_node` with about `declared` bytes (`TaskId(0)` and [`NodeId::NONE`] for a
    /// put).
    pub(super) fn create(
        &mut self,
        declared: u64,
        producer: TaskId,
        producer_node: NodeId,
    ) -> ObjectId {
        let id = ObjectId(self.next_object);
        self.next_object += 1;
        self.objects
            .insert(id.0, ObjectEntry::new(declared, producer, producer_node));
        id
    }

    /// Objects known.
    pub(super) fn len(&self) -> usize {
        self.objects.len()
    }

    pub(super) fn get(&self, id: ObjectId) -> Option<&ObjectEntry> {
        self.objects.get(id.0)
    }

    pub(super) fn get_mut(&mut self, id: ObjectId) -> Option<&mut ObjectEntry> {
        self.objects.get_mut(id.0)
    }

    /// An object that must exist (an argument of live work, a stored copy).
    pub(super) fn entry(&self, id: ObjectId) -> &ObjectEntry {
        self.objects.get(id.0).expect("the object exists")
    }

    /// Removes `id` without moving its entry out; returns whether it was known.
    pub(super) fn discard(&mut self, id: ObjectId) -> bool {
        self.objects.discard(id.0)
    }

    /// What the driver can learn about `id`.
    pub(super) fn status(&self, id: ObjectId) -> ObjectStatus<'_> {
        self.objects
            .get(id.0)
            .map_or(ObjectStatus::Unknown, ObjectEntry::status)
    }

    /// The nodes holding a sealed copy of `id` (ascending).
    pub(super) fn holders(&self, id: ObjectId) -> &[NodeId] {
        self.objects.get(id.0).map_or(&[], |o| &o.holders[..])
    }

    /// Makes each of `outputs` that is lost and still wanted (referenced, or waited for)
    /// pending again, to be made by work now placed on `node`; returns how many.
    pub(super) fn expect_again(&mut self, outputs: &[ObjectId], node: NodeId) -> u64 {
        let mut again = 0;
        for &o in outputs {
            if let Some(e) = self.get_mut(o)
                && matches!(e.state, ObjectState::Lost)
                && (e.refs > 0 || !e.waiters.is_empty())
            {
                e.state = ObjectState::Pending;
                e.producer_node = node;
                again += 1;
            }
        }
        again
    }

    /// Adds a reference to every object argument (pending work holds them).
    pub(super) fn hold_args(&mut self, args: &[Arg]) {
        for a in args {
            if let Arg::Object(o) = a
                && let Some(o) = self.get_mut(*o)
            {
                o.refs += 1;
            }
        }
    }

    /// Checks that every object argument is known.
    #[inline]
    pub(super) fn check_args(&self, args: &[Arg]) -> Result<(), RuntimeError> {
        for a in args {
            if let Arg::Object(o) = a
                && !self.objects.contains(o.0)
            {
                return Err(RuntimeError::UnknownObject(*o));
            }
        }
        Ok(())
    }
}

/// Lifecycle of one object.
#[derive(Clone, Debug)]
pub(crate) enum ObjectState {
    /// Its producer has not finished.
    Pending,
    /// Sealed; copies are on `holders`.
    Ready(Payload),
    /// Its producer failed.
    Failed(Arc<str>),
    /// Every copy is gone: evicted, or on a node that died. (Also the state of an object no
    /// one refers to any more whose entry stays because lineage does: see
    /// [`ObjectEntry::lineage`].)
    Lost,
}

/// What the driver can learn about an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectStatus<'a> {
    /// Not known: never created, or freed.
    Unknown,
    /// Not produced yet.
    Pending,
    /// Available, with this value.
    Ready(&'a Payload),
    /// Its producer failed, for this reason.
    Failed(&'a str),
    /// Every copy is gone (evicted, or on a dead node) and it is not being rebuilt.
    Lost,
}

/// One object in the directory.
///
/// Invariants: `holders` is ascending without repeats and empty unless `state` is `Ready`
/// (a holder may be a node that died and is not declared dead yet); `spilled` is `None`
/// unless `state` is `Ready`, and a `Ready` object has a holder or a spilled copy; `waiters` is empty
/// unless `state` is `Pending`; an entry with `refs == 0` and `lineage == 0` is not in the
/// directory, and one with `refs == 0` is `Lost` (its value was freed) unless pending.
#[derive(Clone, Debug)]
pub(crate) struct ObjectEntry {
    /// Actual size once ready; the producer's declared size before.
    pub size: u64,
    pub state: ObjectState,
    pub holders: SmallVec<[NodeId; 4]>,
    /// The node whose disk holds a spilled copy, if one does.
    pub spilled: Option<NodeId>,
    /// Driver handles, plus work not yet finished that takes it as an argument, plus unplaced
    /// actors that take it as a constructor argument.
    pub refs: u32,
    /// Where the producer was placed ([`NodeId::NONE`] for puts).
    pub producer_node: NodeId,
    /// The work that produces it (`TaskId(0)` for puts).
    pub producer: TaskId,
    /// How many kept task specs (lineage) take it as an argument: while any does, its entry
    /// stays, so that it can be rebuilt to rebuild theirs.
    pub lineage: u32,
    /// The frontend will not refer to it again (`Core::retire`): with
    /// [`crate::ObjectLifetime::LruIrRelease`], freed when its last reference goes.
    pub retired: bool,
    /// Work waiting for it to be produced. Up to four are held inline (an output that each
    /// of a few reducers takes), so that most objects allocate no list.
    pub waiters: SmallVec<[TaskId; 4]>,
}

impl ObjectEntry {
    /// A pending object with one reference (its creator's handle).
    pub fn new(declared: u64, producer: TaskId, producer_node: NodeId) -> Self {
        ObjectEntry {
            size: declared,
            state: ObjectState::Pending,
            holders: SmallVec::new(),
            spilled: None,
            refs: 1,
            producer_node,
            producer,
            lineage: 0,
            retired: false,
            waiters: SmallVec::new(),
        }
    }

    pub fn status(&self) -> ObjectStatus<'_> {
        match &self.state {
            ObjectState::Pending => ObjectStatus::Pending,
            ObjectState::Ready(p) => ObjectStatus::Ready(p),
            ObjectState::Failed(r) => ObjectStatus::Failed(r),
            ObjectState::Lost => ObjectStatus::Lost,
        }
    }

    pub fn payload(&self) -> Option<&Payload> {
        match &self.state {
            ObjectState::Ready(p) => Some(p),
            _ => None,
        }
    }

    /// Seals the value with its first copy on `node`; returns the waiters to wake.
    pub fn seal(&mut self, value: Payload, node: NodeId) -> SmallVec<[TaskId; 4]> {
        self.size = value.size();
        self.state = ObjectState::Ready(value);
        self.holders.clear();
        self.holders.push(node);
        std::mem::take(&mut self.waiters)
    }

    /// Marks the object failed; returns the waiters to fail.
    pub fn fail(&mut self, reason: Arc<str>) -> SmallVec<[TaskId; 4]> {
        self.state = ObjectState::Failed(reason);
        std::mem::take(&mut self.waiters)
    }

    pub fn add_holder(&mut self, node: NodeId) {
        if let Err(pos) = self.holders.binary_search(&node) {
            self.holders.insert(pos, node);
        }
    }

    /// Drops the copy in the memory of `node`; returns whether it was the last copy, in
    /// memory or on a disk (the object is then lost).
    pub fn remove_holder(&mut self, node: NodeId) -> bool {
        if let Ok(pos) = self.holders.binary_search(&node) {
            self.holders.remove(pos);
        }
        self.lost_if_no_copy()
    }

    /// Whether the copy in `node`'s memory is the only copy anywhere.
    pub fn only_copy(&self) -> bool {
        self.holders.len() <= 1 && self.spilled.is_none()
    }

    /// Moves the copy in `node`'s memory to its disk.
    pub fn spill(&mut self, node: NodeId) {
        if let Ok(pos) = self.holders.binary_search(&node) {
            self.holders.remove(pos);
        }
        self.spilled = Some(node);
    }

    /// Drops the spilled copy (its disk died); returns whether it was the last copy.
    pub fn drop_spilled(&mut self) -> bool {
        self.spilled = None;
        self.lost_if_no_copy()
    }

    /// Marks a ready object with no copy left lost; returns whether it had none.
    fn lost_if_no_copy(&mut self) -> bool {
        if self.holders.is_empty() && self.spilled.is_none() {
            self.state = ObjectState::Lost;
            true
        } else {
            false
        }
    }
}
