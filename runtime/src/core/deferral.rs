//! Deferred placement: tasks a policy chose not to place yet ([`Placement::Defer`]).
//!
//! A deferred task is submitted (its id, its outputs, pending with no producer node, and the
//! references to its arguments exist) but on no node. The policy is asked again when its
//! deferral runs out (a `Retry` timer) and, earlier, whenever a CPU slot frees anywhere (a
//! `Reask` timer at that instant, which asks every deferred task in the order they were
//! first deferred); with a stale view (a heartbeat period above 0), at the next heartbeat
//! instead, when the policy can first see the slot free. Only plain tasks at their first
//! placement may wait, and only for [`DEFER_LIMIT`] in all: past it the view says it may
//! not, and the policy must place.
//!
//! [`Placement::Defer`]: cohort_policy::Placement::Defer

use super::Core;
use super::placement::{Ask, Decision};
use super::tasks::{Phase, TaskEntry};
use super::timers::Timer;
use super::work::{Arg, ExecWork};
use crate::time::{Nanos, SECOND};
use cohort_policy::{Hints, NodeId, ObjectId, Resources, TaskId, WorkKind};
use smallvec::SmallVec;
use std::collections::VecDeque;

/// The longest a task may wait unplaced, in all: the view's `may_defer` is false from then on.
pub const DEFER_LIMIT: Nanos = 10 * SECOND;

/// A task waiting for its placement.
#[derive(Debug)]
pub(super) struct Waiting {
    pub task: TaskId,
    pub work: ExecWork,
    pub hints: Hints,
    pub demand: Resources,
    /// Its arguments, each object holding a reference.
    pub args: Vec<Arg>,
    /// Its outputs, pending, with no producer node yet.
    pub outputs: SmallVec<[ObjectId; 2]>,
    /// When it was submitted.
    pub submitted: Nanos,
    /// When its pending `Retry` timer is due (0 before the first): a re-deferral to the same
    /// instant schedules no second timer, and a timer due at another instant is stale.
    pub retry_at: Nanos,
}

/// The deferred tasks, in the order they were first deferred.
///
/// Invariant: `reask_armed` is true exactly while a `Reask` timer is pending.
#[derive(Debug, Default)]
pub(super) struct Deferred {
    waiting: VecDeque<Waiting>,
    reask_armed: bool,
}

impl Deferred {
    /// How many tasks wait.
    pub(super) fn len(&self) -> usize {
        self.waiting.len()
    }
}

impl Core {
    /// Keeps `w` unplaced, to be asked again at the latest `wait` from now (within the limit).
    pub(super) fn defer(&mut self, mut w: Waiting, wait: Nanos, now: Nanos) {
        self.record.counters.deferrals += 1;
        let left = DEFER_LIMIT.saturating_sub(now.saturating_sub(w.submitted));
        let at = now + wait.clamp(1, left.max(1));
        if w.retry_at != at {
            w.retry_at = at;
            self.timers.push(at, Timer::Retry(w.task));
        }
        self.deferred.waiting.push_back(w);
    }

    /// A CPU slot freed: if tasks wait, they are asked again once the policy's view shows it
    /// (now with a live view, else at the next heartbeat); once, however many slots free.
    #[inline]
    pub(super) fn slot_freed(&mut self, now: Nanos) {
        if !self.deferred.waiting.is_empty() && !self.deferred.reask_armed {
            self.deferred.reask_armed = true;
            let period = self.config.heartbeat;
            let at = now.checked_div(period).map_or(now, |k| (k + 1) * period);
            self.timers.push(at, Timer::Reask);
        }
    }

    /// The `Reask` timer: asks every waiting task again, in order.
    pub(super) fn reask_all(&mut self, now: Nanos) {
        self.deferred.reask_armed = false;
        for _ in 0..self.deferred.waiting.len() {
            let Some(w) = self.deferred.waiting.pop_front() else {
                break;
            };
            self.ask_again(w, now);
        }
    }

    /// A `Retry` timer due at `at`: asks `task` again if it still waits for that timer (one of
    /// a task placed or deferred to another instant since is stale).
    pub(super) fn retry(&mut self, task: TaskId, at: Nanos, now: Nanos) {
        if let Some(i) = self
            .deferred
            .waiting
            .iter()
            .position(|w| w.task == task && w.retry_at == at)
        {
            let w = self.deferred.waiting.remove(i).expect("found");
            self.ask_again(w, now);
        }
    }

    /// Asks the policy again where `w` goes: placed, deferred again, or failed (a refusal).
    fn ask_again(&mut self, w: Waiting, now: Nanos) {
        let what = self.catalog.name(&w.work);
        let ask = Ask {
            task: w.task,
            kind: WorkKind::Task,
            hints: w.hints,
            demand: w.demand,
            args: &w.args,
            what: &what,
        };
        let waited = now.saturating_sub(w.submitted);
        match self.placer.decide(ask, &self.directory, now, Some(waited)) {
            Ok(Decision::Node(node)) => self.place_waiting(w, node, now),
            Ok(Decision::Defer(wait)) => self.defer(w, wait, now),
            Err(e) => {
                // Registered on no node, it fails as work lost before it started would.
                let (task, mut entry) = self.waiting_entry(w, NodeId::NONE);
                entry.phase = Phase::Lost { ran: false };
                let task = self.admit_unstarted((task, entry));
                self.fail_task(task, e.to_string().into(), now);
            }
        }
    }

    /// Places waiting `w` on `node`: its outputs are to be made there, and it starts fetching.
    fn place_waiting(&mut self, w: Waiting, node: NodeId, now: Nanos) {
        for &o in &w.outputs {
            if let Some(entry) = self.directory.get_mut(o) {
                entry.producer_node = node;
            }
        }
        let entry = self.waiting_entry(w, node);
        let task = self.admit_unstarted(entry);
        self.begin(task, now);
    }

    /// The task entry of `w`, placed on `node`, submitted when it was.
    fn waiting_entry(&self, w: Waiting, node: NodeId) -> (TaskId, TaskEntry) {
        let entry = TaskEntry::placed(
            w.work,
            w.hints,
            w.demand,
            w.args,
            w.outputs,
            node,
            w.submitted,
        );
        (w.task, entry)
    }

    /// Registers a task whose arguments already hold their references, without starting it.
    fn admit_unstarted(&mut self, (task, entry): (TaskId, TaskEntry)) -> TaskId {
        self.tasks.insert(task, entry);
        task
    }
}
