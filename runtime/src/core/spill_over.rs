//! Heartbeat spill-over: queued work moves to other nodes at each heartbeat, as Ray v0.6's
//! raylets forwarded it (see [`ModelOptions::spill_over`](crate::model::ModelOptions)).
//!
//! A heartbeat timer is armed only while some node's ready queue is not empty (spill-over
//! moves nothing otherwise), at the next multiple of the heartbeat period; it is the
//! cluster's own timer, which does not keep a finished run going.

use super::Core;
use super::timers::Timer;
use super::work::ExecWork;
use crate::time::Nanos;
use cohort_policy::{NodeId, TaskId};

impl Core {
    /// Arms the heartbeat timer if spill-over is on, none is armed and work waits in a ready
    /// queue.
    pub(super) fn arm_heartbeat(&mut self, now: Nanos) {
        let hb = self.config.heartbeat;
        if !self.config.model.spill_over || hb == 0 || self.heartbeat_armed {
            return;
        }
        if self.nodes.iter().all(|n| n.ready.is_empty()) {
            return;
        }
        self.heartbeat_armed = true;
        self.timers.push((now / hb + 1) * hb, Timer::Heartbeat);
    }

    /// A heartbeat: for each node X (ascending) that runs, each other running node in
    /// ascending order moves to X the first task of its ready queue that fits X's total CPUs
    /// (Ray v0.6's `SchedulingPolicy::SpillOver`: at most one ready task per heartbeat,
    /// actor calls excluded, checked against the remote node's total resources).
    pub(super) fn heartbeat(&mut self, now: Nanos) {
        self.heartbeat_armed = false;
        let n = self.nodes.len();
        for x in 0..n {
            let to = NodeId(x as u32);
            if !self.nodes[x].up || !self.placer.node(to).alive {
                continue;
            }
            let total = self.placer.node(to).cpus_total;
            for y in (0..n).filter(|&y| y != x) {
                if !self.nodes[y].up {
                    continue;
                }
                let tasks = &self.tasks;
                let Some(at) = self.nodes[y].ready.iter().position(|t| {
                    let e = tasks.entry(*t);
                    !matches!(e.work, ExecWork::Method { .. }) && e.demand.cpus <= total
                }) else {
                    continue;
                };
                let task = self.nodes[y].ready.remove(at).expect("found");
                self.spill_over(task, NodeId(y as u32), to, now);
            }
        }
        self.arm_heartbeat(now);
    }

    /// Moves ready `task` from `from`'s queue (it was taken out) to `to`, where it fetches its
    /// arguments again.
    fn spill_over(&mut self, task: TaskId, from: NodeId, to: NodeId, now: Nanos) {
        // Ready work is pinned all or nothing (`held` is empty once it is ready).
        let entry = self.tasks.entry_mut(task);
        if entry.pinned {
            let store = &mut self.nodes[from.index()].store;
            for &o in &entry.objects {
                store.unpin(o);
            }
        }
        let attempts = entry.attempts;
        self.placer.node_mut(from).queued -= 1;
        self.placer.count_placement(to);
        self.record.counters.spilled_over += 1;
        self.move_work(task, to);
        // A move is not a run again after a death: it spends no retry.
        self.tasks.entry_mut(task).attempts = attempts;
        // Its old node's pins are gone; the work is asked for anew at `to`.
        self.begin(task, now);
        self.room_freed(from, now);
    }
}
