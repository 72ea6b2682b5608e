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
use cohort_policy::{NodeId, PolicyEvent, TaskId};

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
    /// (Ray v0.6's `SchedulingPolicy::SpillOver`: at most one ready task per heartbeat, actor
    /// calls excluded, checked against the remote node's total resources) and whose object
    /// arguments each fit X's store. A task moves at most once per heartbeat (Ray's forwarding
    /// took a network round trip). Actor constructors do not move: an actor stays where it was
    /// placed (Ray v0.6 could forward them; cohort's actor table does not follow them).
    pub(super) fn heartbeat(&mut self, now: Nanos) {
        self.heartbeat_armed = false;
        let n = self.nodes.len();
        let mut moved: Vec<TaskId> = Vec::new();
        for x in 0..n {
            let to = NodeId(x as u32);
            if !self.nodes[x].up || !self.placer.node(to).alive {
                continue;
            }
            let total = self.placer.node(to).cpus_total;
            let store = self.placer.node(to).store_capacity;
            for y in (0..n).filter(|&y| y != x) {
                if !self.nodes[y].up {
                    continue;
                }
                let (tasks, directory) = (&self.tasks, &self.directory);
                let Some(at) = self.nodes[y].ready.iter().position(|t| {
                    let e = tasks.entry(*t);
                    matches!(e.work, ExecWork::Function(_))
                        && e.demand.cpus <= total
                        && !moved.contains(t)
                        && e.objects.iter().all(|o| directory.entry(*o).size <= store)
                }) else {
                    continue;
                };
                let task = self.nodes[y].ready.remove(at).expect("found");
                moved.push(task);
                self.spill_over(task, NodeId(y as u32), to, now);
                // Its old node's queue may start what waited behind it.
                self.dispatch(NodeId(y as u32), now);
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
        let (attempts, kind, hints) = (entry.attempts, entry.kind(), entry.hints);
        if entry.holds_slot() {
            self.placer.node_mut(from).queued -= 1;
            self.placer.count_placement(to);
        }
        self.record.counters.spilled_over += 1;
        self.move_work(task, to);
        // A move is not a run again after a death: it spends no retry.
        self.tasks.entry_mut(task).attempts = attempts;
        // The policy is not asked, but told where the work now is.
        self.placer.tell(PolicyEvent::Placed {
            task,
            kind,
            hints,
            node: to,
        });
        // Its old node's pins are gone; the work is asked for anew at `to`.
        self.begin(task, now);
        self.room_freed(from, now);
    }
}
