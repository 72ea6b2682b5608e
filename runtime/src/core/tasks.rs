//! The task table: every piece of work not finished yet, and what the core knows of it.

use super::idmap::IdMap;
use super::work::{Arg, ExecWork};
use crate::payload::Payload;
use crate::time::Nanos;
use cohort_policy::{Hints, NodeId, ObjectId, Resources, TaskId, WorkKind};
use smallvec::SmallVec;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Placed on a node and forwarded there, not arrived yet (see `forwarding`): it fetches
    /// nothing until then.
    Forwarding,
    /// Waiting for `missing` distinct objects to arrive at the node.
    Fetching,
    /// All arguments local (pinned only if some had to be fetched again, see `held`);
    /// waiting for a slot (or for the actor).
    Ready,
    /// Handed to the executor.
    Running,
    /// The executor reported back; waiting for the finish timer (due at `finish_at`).
    Executed,
    /// Its node was killed: nothing happens to it until the cluster declares the node dead
    /// and places it again. `ran` says whether it had started (and so runs again).
    Lost {
        /// Whether it had started running.
        ran: bool,
    },
}

/// One piece of work not finished yet.
///
/// Invariants: `objects` are the distinct objects of `args`, each holding one reference
/// while the work lives, and all pinned on `node` while `pinned` (from when the work starts,
/// or from `Ready` if it had to fetch some again, until it ends; unless `node` died), and
/// only `held` of them before that;
/// `missing` counts the objects still on their way while `Fetching`; `result` is set from
/// `Executed` on. From `Running` on, `args` may be empty though the work had arguments (only
/// when the core keeps no lineage, see `Core::keep_args`): if its object arguments were
/// distinct, the list became the execution's inputs, and `objects` is then exactly its
/// object arguments in order (each holding the reference its argument held).
#[derive(Debug)]
pub(super) struct TaskEntry {
    pub work: ExecWork,
    pub hints: Hints,
    pub demand: Resources,
    pub args: Vec<Arg>,
    /// The distinct objects among `args`, in first-use order (fetched, pinned and unpinned
    /// once each).
    pub objects: SmallVec<[ObjectId; 4]>,
    pub outputs: SmallVec<[ObjectId; 2]>,
    pub node: NodeId,
    pub phase: Phase,
    pub missing: u32,
    pub submitted: Nanos,
    pub args_local: Nanos,
    pub started: Nanos,
    pub input_bytes: u64,
    pub result: Option<Result<Vec<Payload>, Arc<str>>>,
    /// When the finish timer of its current run is due (a timer of a run lost with its node
    /// finds another time here and does nothing).
    pub finish_at: Nanos,
    /// Arguments pinned on `node` while others are fetched again (they had been evicted
    /// after arriving): see `Core::all_args_arrived`.
    pub held: Vec<ObjectId>,
    /// Whether all of `objects` are pinned on `node`.
    pub pinned: bool,
    /// Times it has been placed again after its node died.
    pub attempts: u32,
    /// Whether this runs work that finished once already (rebuilding a lost output, or an
    /// actor replaying a call): it records no datapoints, which its first run did.
    pub reexecution: bool,
}

impl TaskEntry {
    /// Work just placed on `node` at `now`, about to fetch its arguments.
    #[inline]
    pub(super) fn placed(
        work: ExecWork,
        hints: Hints,
        demand: Resources,
        args: Vec<Arg>,
        outputs: SmallVec<[ObjectId; 2]>,
        node: NodeId,
        now: Nanos,
    ) -> TaskEntry {
        let objects = distinct_objects(&args);
        TaskEntry {
            work,
            hints,
            demand,
            args,
            objects,
            outputs,
            node,
            phase: Phase::Fetching,
            missing: 0,
            submitted: now,
            args_local: now,
            started: now,
            input_bytes: 0,
            result: None,
            finish_at: 0,
            held: Vec::new(),
            pinned: false,
            attempts: 0,
            reexecution: false,
        }
    }

    pub(super) fn kind(&self) -> WorkKind {
        match self.work {
            ExecWork::Function(_) => WorkKind::Task,
            ExecWork::CreateActor { .. } => WorkKind::ActorCreation,
            ExecWork::Method { .. } => WorkKind::ActorMethod,
        }
    }

    /// Whether the work holds a CPU slot while it runs (method calls do not).
    #[inline]
    pub(super) fn holds_slot(&self) -> bool {
        !matches!(self.work, ExecWork::Method { .. })
    }
}

/// The distinct objects among `args`, in first-use order.
fn distinct_objects(args: &[Arg]) -> SmallVec<[ObjectId; 4]> {
    let ids = args.iter().filter_map(|a| match a {
        Arg::Object(o) => Some(*o),
        Arg::Value(_) => None,
    });
    let mut objects: SmallVec<[ObjectId; 4]> = SmallVec::new();
    if args.is_empty() {
        return objects;
    }
    // The common case (chunks of a map's outputs): ids strictly ascending, so all distinct.
    objects.reserve_exact(args.len());
    let mut last = 0;
    let mut ascending = true;
    for o in ids.clone() {
        ascending &= o.0 > last;
        last = o.0;
        objects.push(o);
    }
    if ascending {
        return objects;
    }
    objects.clear();
    if args.len() <= 64 {
        for o in ids {
            if !objects.contains(&o) {
                objects.push(o);
            }
        }
    } else {
        // Wide fan-ins (a reducer of thousands of chunks): a set instead of a scan.
        let mut seen = rustc_hash::FxHashSet::default();
        objects.extend(ids.filter(|o| seen.insert(*o)));
    }
    objects
}

/// Work not finished yet, by id.
///
/// Invariant: ids are handed out ascending from 1 (shared by tasks, calls and actor
/// constructions) and never reused; work is inserted in the order of its ids (some ids, of
/// work whose placement failed, are never inserted), which keeps `tasks` dense.
#[derive(Debug)]
pub(super) struct TaskTable {
    tasks: IdMap<TaskEntry>,
    next_task: u64,
}

impl Default for TaskTable {
    fn default() -> Self {
        TaskTable {
            tasks: IdMap::default(),
            next_task: 1,
        }
    }
}

impl TaskTable {
    #[inline]
    pub(super) fn new_id(&mut self) -> TaskId {
        let id = TaskId(self.next_task);
        self.next_task += 1;
        id
    }

    pub(super) fn len(&self) -> usize {
        self.tasks.len()
    }

    #[inline]
    pub(super) fn get(&self, task: TaskId) -> Option<&TaskEntry> {
        self.tasks.get(task.0)
    }

    #[inline]
    pub(super) fn get_mut(&mut self, task: TaskId) -> Option<&mut TaskEntry> {
        self.tasks.get_mut(task.0)
    }

    /// Work that must exist.
    #[inline]
    pub(super) fn entry(&self, task: TaskId) -> &TaskEntry {
        self.tasks.get(task.0).expect("live work exists")
    }

    /// Work that must exist, to change.
    #[inline]
    pub(super) fn entry_mut(&mut self, task: TaskId) -> &mut TaskEntry {
        self.tasks.get_mut(task.0).expect("live work exists")
    }

    #[inline]
    pub(super) fn insert(&mut self, task: TaskId, entry: TaskEntry) {
        self.tasks.insert(task.0, entry);
    }

    pub(super) fn remove(&mut self, task: TaskId) -> Option<TaskEntry> {
        self.tasks.remove(task.0)
    }

    /// The work placed on `node`, by ascending id.
    pub(super) fn on_node(&self, node: NodeId) -> Vec<TaskId> {
        let mut ids: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, e)| e.node == node)
            .map(|(id, _)| TaskId(id))
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Removes `task` without moving its entry out.
    #[inline]
    pub(super) fn discard(&mut self, task: TaskId) {
        self.tasks.discard(task.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distinct objects of an argument list, as a placed task records them.
    fn objects_of(ids: &[u64]) -> Vec<u64> {
        let mut args: Vec<Arg> = ids.iter().map(|&i| Arg::Object(ObjectId(i))).collect();
        args.insert(1, Arg::Value(Payload::from_u64(0)));
        let entry = TaskEntry::placed(
            ExecWork::Function(super::super::work::FnId(0)),
            Hints::NONE,
            Resources { cpus: 1 },
            args,
            SmallVec::new(),
            NodeId(0),
            0,
        );
        entry.objects.iter().map(|o| o.0).collect()
    }

    #[test]
    fn a_task_fetches_each_argument_object_once_in_first_use_order() {
        assert_eq!(objects_of(&[3, 1, 3, 2, 1]), vec![3, 1, 2]);
        // Ascending ids (the common case) are taken as they are; a repeat is not ascending.
        assert_eq!(objects_of(&[1, 2, 5, 9]), vec![1, 2, 5, 9]);
        assert_eq!(objects_of(&[1, 2, 2, 9]), vec![1, 2, 9]);
        // A wide fan-in takes the set-based path; the answer is the same.
        let wide: Vec<u64> = (0..100).map(|i| (i * 7) % 53).collect();
        let mut expected = Vec::new();
        for &o in &wide {
            if !expected.contains(&o) {
                expected.push(o);
            }
        }
        assert_eq!(objects_of(&wide), expected);
    }
}
