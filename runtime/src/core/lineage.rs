//! Lineage: what finished work is remembered so that its lost outputs can be rebuilt by
//! running it again, and rebuilding them.
//!
//! A task that finished well leaves a [`Spec`] (its code, hints, demand and arguments) for as
//! long as one of its outputs is in the directory. A spec keeps its object arguments' entries
//! in the directory too (their `lineage` count), though not their values: an argument no one
//! refers to any more is freed from every store as before, but stays known, `Lost`, so that it
//! can be rebuilt in turn (recursively) if a rebuild of its consumer needs it. Ray keeps
//! lineage the same way (Ray 2.x "lineage pinning"; Ray 0.6 kept every task in the GCS).
//!
//! An output is rebuilt on demand: when work asks for an object that is `Lost`, the object's
//! producer runs again (a new task id, placed by the policy like any task, marked as a
//! re-execution so that it records no datapoints), within the retry budget of
//! [`Recovery::task_retries`](crate::fault::Recovery) shared with runs again after a node
//! death. Outputs of actor calls, and the driver's puts, have no spec: an actor's outputs come
//! back only when a restarted actor replays its calls (see `actors`), and a put that is lost is
//! lost, as in Ray.

use super::Core;
use super::directory::ObjectState;
use super::idmap::IdMap;
use super::placement::Ask;
use super::tasks::TaskEntry;
use super::work::{Arg, ExecWork};
use crate::time::Nanos;
use cohort_policy::{Hints, ObjectId, Resources, TaskId, WorkKind};
use smallvec::SmallVec;
use std::sync::Arc;

/// What a finished task is remembered by.
///
/// Invariants: `live` counts the `outputs` still in the directory (at least one while the
/// spec is kept); each object argument's entry counts this spec in its `lineage`.
#[derive(Debug)]
pub(super) struct Spec {
    work: ExecWork,
    hints: Hints,
    demand: Resources,
    args: Vec<Arg>,
    outputs: SmallVec<[ObjectId; 2]>,
    live: u32,
    /// Runs again still allowed.
    retries_left: u32,
}

/// The specs kept, by the id of the task that first ran them.
#[derive(Debug, Default)]
pub(super) struct Lineage {
    specs: IdMap<Spec>,
    /// Work waiting out the pull timeout for each lost object it asked for (see
    /// [`Recovery::pull_timeout`](crate::fault::Recovery)); a `Rebuild` timer is pending for
    /// every key.
    stalled: std::collections::BTreeMap<ObjectId, SmallVec<[TaskId; 2]>>,
}

/// Work that just finished well, as [`Core::remember`] is told of it.
pub(super) struct Done {
    pub task: TaskId,
    pub work: ExecWork,
    pub hints: Hints,
    pub demand: Resources,
    pub outputs: SmallVec<[ObjectId; 2]>,
    /// Times it was placed again after its node died (spent from its retries).
    pub attempts: u32,
}

impl Core {
    /// Remembers finished work whose outputs may have to be rebuilt (a task's spec) or whose
    /// actor may have to replay it (a call). Returns the arguments whose references the
    /// caller still has to drop: all of them if nothing was kept; none if something was (it
    /// took them, and dropped their references itself).
    pub(super) fn remember(&mut self, done: Done, args: Vec<Arg>) -> Vec<Arg> {
        match done.work {
            ExecWork::Function(_) if self.spec.recovery.reconstruction => {
                self.keep_spec(done, args)
            }
            ExecWork::Method { actor, .. } => self.log_call(actor, done, args),
            _ => args,
        }
    }

    /// Keeps a finished task's spec while one of its outputs lives.
    fn keep_spec(&mut self, done: Done, args: Vec<Arg>) -> Vec<Arg> {
        let live = done
            .outputs
            .iter()
            .filter(|o| self.directory.get(**o).is_some())
            .count() as u32;
        if live == 0 {
            return args;
        }
        self.hold_lineage(&args);
        self.release_args(&args);
        let attempts = done.attempts;
        self.lineage.specs.insert(
            done.task.0,
            Spec {
                work: done.work,
                hints: done.hints,
                demand: done.demand,
                args,
                outputs: done.outputs,
                live,
                retries_left: self.spec.recovery.task_retries.saturating_sub(attempts),
            },
        );
        Vec::new()
    }

    /// Counts a kept spec (or logged call) in the `lineage` of each of its object arguments.
    pub(super) fn hold_lineage(&mut self, args: &[Arg]) {
        for a in args {
            if let Arg::Object(o) = a
                && let Some(o) = self.directory.get_mut(*o)
            {
                o.lineage += 1;
            }
        }
    }

    /// Drops what [`Core::hold_lineage`] counted; an argument no one refers to any more, that
    /// no other lineage needs, leaves the directory.
    pub(super) fn release_lineage(&mut self, args: &[Arg]) {
        for a in args {
            if let Arg::Object(o) = a {
                self.lineage_ref_gone(*o);
            }
        }
    }

    fn lineage_ref_gone(&mut self, id: ObjectId) {
        let Some(o) = self.directory.get_mut(id) else {
            return;
        };
        o.lineage -= 1;
        if o.lineage == 0 && o.refs == 0 && !matches!(o.state, ObjectState::Pending) {
            if self.kept_by_stores(id) {
                return;
            }
            let o = self.directory.entry(id);
            let producer = o.producer;
            self.directory.discard(id);
            self.output_gone(producer);
        }
    }

    /// An output of `producer` left the directory: once none is left, its spec goes, and
    /// with it the lineage it held on its arguments.
    pub(super) fn output_gone(&mut self, producer: TaskId) {
        let Some(spec) = self.lineage.specs.get_mut(producer.0) else {
            return;
        };
        spec.live -= 1;
        if spec.live > 0 {
            return;
        }
        let spec = self
            .lineage
            .specs
            .remove(producer.0)
            .expect("the spec is here");
        self.release_lineage(&spec.args);
    }

    /// The driver wants `object`, which is lost: its producer runs again, if its lineage is
    /// kept and its retries allow (as when work asks for a lost argument); otherwise why not.
    pub fn rebuild(&mut self, object: ObjectId, now: Nanos) -> Result<(), Arc<str>> {
        self.observe(now);
        if !matches!(self.directory.status(object), super::ObjectStatus::Lost) {
            return Ok(());
        }
        self.reconstruct(object, now)?;
        if matches!(self.directory.status(object), super::ObjectStatus::Lost) {
            return Err(format!("{object} was lost").into());
        }
        Ok(())
    }

    /// `task` asks for `object`, which is lost: with a pull timeout it waits until the
    /// object is rebuilt (Ray v0.6), else it is rebuilt now. Returns `Ok(true)` if the task
    /// waits. Work that asks while others already wait for the same object joins them: the
    /// object is rebuilt one pull timeout after the first asked.
    pub(super) fn lost_wanted(
        &mut self,
        object: ObjectId,
        task: TaskId,
        now: Nanos,
    ) -> Result<bool, Arc<str>> {
        let timeout = self.spec.recovery.pull_timeout;
        if timeout == 0 {
            self.reconstruct(object, now)?;
            return Ok(false);
        }
        // One timer per entry: an entry leaves only when its timer fires.
        match self.lineage.stalled.entry(object) {
            std::collections::btree_map::Entry::Occupied(mut waiting) => {
                waiting.get_mut().push(task)
            }
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(SmallVec::from_slice(&[task]));
                self.timers
                    .push(now.saturating_add(timeout), super::Timer::Rebuild(object));
            }
        }
        Ok(true)
    }

    /// The pull timeout of the work waiting for lost `object` has passed: rebuild it (if it
    /// is still lost) and ask for it again for each of them.
    pub(super) fn rebuild_stalled(&mut self, object: ObjectId, now: Nanos) {
        let Some(mut tasks) = self.lineage.stalled.remove(&object) else {
            return;
        };
        // Only work still fetching wants it (work that failed or moved meanwhile does not).
        tasks.retain(|t| {
            self.tasks
                .get(*t)
                .is_some_and(|e| e.phase == super::tasks::Phase::Fetching)
        });
        if tasks.is_empty() {
            return;
        }
        if matches!(self.directory.status(object), super::ObjectStatus::Lost)
            && let Err(reason) = self.reconstruct(object, now)
        {
            for task in tasks {
                if self
                    .tasks
                    .get(task)
                    .is_some_and(|e| e.phase == super::tasks::Phase::Fetching)
                {
                    self.fail_task(task, format!("argument {reason}").into(), now);
                }
            }
            return;
        }
        for task in tasks {
            self.ask_for(object, task, now);
        }
    }

    /// `task` moves to another node: it no longer waits for any lost object here.
    pub(super) fn unstall(&mut self, task: TaskId) {
        // Entries stay (emptied) until their timer fires.
        for tasks in self.lineage.stalled.values_mut() {
            tasks.retain(|t| *t != task);
        }
    }

    /// `object` is lost and wanted: run its producer again, if its lineage is kept and its
    /// retries allow. On success every lost output of that run is pending again (the object
    /// included, unless the run failed already).
    pub(super) fn reconstruct(&mut self, object: ObjectId, now: Nanos) -> Result<(), Arc<str>> {
        let producer = self.directory.entry(object).producer;
        let lost = |why: &str| -> Arc<str> {
            format!("{object} was lost (every copy is gone), and {why}").into()
        };
        if !self.spec.recovery.reconstruction {
            return Err(lost("reconstruction is off"));
        }
        if producer == TaskId(0) {
            return Err(lost("the driver put it: it cannot be rebuilt"));
        }
        let Some(spec) = self.lineage.specs.get_mut(producer.0) else {
            return Err(lost(&format!(
                "{producer}, which made it, is not kept for rebuilding (an actor's call; its \
                 outputs come back only when a restarted actor replays it)"
            )));
        };
        if spec.retries_left == 0 {
            return Err(lost(&format!(
                "{producer}, which made it, has been run again {} times, the most allowed",
                self.spec.recovery.task_retries
            )));
        }
        spec.retries_left -= 1;
        let (work, hints, demand) = (spec.work, spec.hints, spec.demand);
        let (args, outputs) = (spec.args.clone(), spec.outputs.clone());
        let what = self.catalog.name(&work);
        let task = self.tasks.new_id();
        let ask = Ask {
            task,
            kind: WorkKind::Task,
            hints,
            demand,
            args: &args,
            what: &what,
        };
        let node = self
            .placer
            .place(ask, &self.directory, self.now)
            .map_err(|e| lost(&format!("running {producer} again failed: {e}")))?;
        self.record.counters.reconstructed += self.directory.expect_again(&outputs, node);
        self.record.counters.reexecuted += 1;
        let mut entry = TaskEntry::placed(work, hints, demand, args, outputs, node, now);
        entry.reexecution = true;
        self.admit(task, entry, now);
        Ok(())
    }
}
