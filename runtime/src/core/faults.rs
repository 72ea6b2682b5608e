//! The core's side of a fault script: each fault's start and end are timers, scheduled when
//! the core is made; what a fault does to the cluster is applied when its timer fires.
//!
//! - `slow_cpu`: work that starts on the node while it is slowed takes `by` times its modeled
//!   duration (a duration is fixed when the work starts, so work running when the slowdown
//!   starts or ends keeps the speed it started with);
//! - `slow_nic`: the node's NIC moves bytes `by` times slower each way; the transport's rates
//!   change at that instant, transfers in flight included;
//! - `drop_link`: transfers between the two nodes wait at rate 0, keeping their progress, until
//!   the link is back (the core still asks for them: a policy does not know of the fault);
//! - `kill`: the node stops at once, silently. Its store's copies, its running work and its
//!   actors are gone; transfers from or to it stop; but nobody is told: the directory still
//!   lists its copies, the policy still sees it alive, and work placed on it or pulling from
//!   it waits. The cluster declares it dead when it has missed
//!   [`Recovery::missed_heartbeats`](crate::fault::Recovery) heartbeats; then the policy is
//!   sent `NodeRemoved` and sees it not alive, its copies leave the directory (an object with
//!   no copy left is `Lost`, to be rebuilt when asked for), work that was on it is placed
//!   again by the policy (within its retries), its actors restart or fail (see `actors`), and
//!   work that waited for a pull from it asks again. With an end, the node comes back empty at
//!   that time (declared dead first, if it had not been yet) and the policy is sent
//!   `NodeAdded`.

use super::directory::ObjectState;
use super::tasks::Phase;
use super::timers::Timer;
use super::{ClockMode, Core};
use crate::error::RuntimeError;
use crate::fault::{FaultKind, FaultScript};
use crate::time::Nanos;
use crate::trace::NodeEvent;
use cohort_policy::NodeId;
use std::collections::BTreeSet;

/// A fault's start or end, as a timer's payload: `(position << 1) | ends`.
fn edge(position: usize, ends: bool) -> u64 {
    ((position as u64) << 1) | u64::from(ends)
}

/// Refuses a script the core cannot play: one that kills the driver's node.
pub(super) fn check_playable(script: &FaultScript, driver: NodeId) -> Result<(), RuntimeError> {
    for (i, f) in script.faults().iter().enumerate() {
        if let FaultKind::Kill { node } = f.kind
            && node == driver
        {
            return Err(RuntimeError::DriverNodeKilled {
                position: i + 1,
                node,
            });
        }
    }
    Ok(())
}

/// Whether the script kills a node.
pub(super) fn has_kills(script: &FaultScript) -> bool {
    script
        .faults()
        .iter()
        .any(|f| matches!(f.kind, FaultKind::Kill { .. }))
}

impl Core {
    /// Schedules every fault's start and end. Called once, before anything else is scheduled,
    /// so that a fault at an instant comes before work scheduled for the same instant.
    /// With an external executor the executor plays kills for real and reports what it
    /// detects ([`Core::node_lost`]); the core schedules none.
    pub(super) fn schedule_faults(&mut self) {
        let external = self.config.clock == ClockMode::External;
        let edges: Vec<(Nanos, u64)> = self
            .spec
            .faults
            .faults()
            .iter()
            .enumerate()
            .filter(|(_, f)| !(external && matches!(f.kind, FaultKind::Kill { .. })))
            .flat_map(|(i, f)| {
                std::iter::once((f.at, edge(i, false))).chain(f.until.map(|t| (t, edge(i, true))))
            })
            .collect();
        for (at, e) in edges {
            self.timers.push(at, Timer::Fault(e));
        }
    }

    /// A fault starts or ends at `now`.
    pub(super) fn fault_edge(&mut self, edge: u64, now: Nanos) {
        let ends = edge & 1 == 1;
        let fault = self.spec.faults.faults()[(edge >> 1) as usize];
        match fault.kind {
            FaultKind::SlowCpu { node, by } => {
                self.nodes[node.index()].cpu_slowdown = (!ends).then_some(by);
            }
            FaultKind::SlowNic { node, by } => {
                self.transport
                    .slow_nic(node, (!ends).then_some(by), now, &mut self.outbox);
                self.handle_outbox(now);
            }
            FaultKind::DropLink { a, b } => {
                self.transport.drop_link(a, b, !ends, now, &mut self.outbox);
                self.handle_outbox(now);
            }
            FaultKind::Kill { node } if ends => self.node_restarts(node, now),
            FaultKind::Kill { node } => self.node_killed(node, now),
        }
    }

    /// Node `node` stops at `now`. See the module documentation.
    fn node_killed(&mut self, node: NodeId, now: Nanos) {
        self.record.node(node, NodeEvent::Killed, now);
        let state = &mut self.nodes[node.index()];
        state.up = false;
        state.ready.clear();
        state.finishing.clear();
        state.touched = 0;
        let empty = state.store.emptied();
        let store = std::mem::replace(&mut state.store, empty);
        state.lost = store.sealed_objects();
        let at = self.spec.recovery.declared_dead_at(now);
        state.declare_at = Some(at);
        self.undeclared += 1;
        self.timers.push(at, Timer::Declare(node));
        // Transfers from or to it stop; the other ends' stores release what they held.
        let mut released = Vec::new();
        for (id, t) in self.transfers.detach_involving(node) {
            self.transport.cancel(id, now, &mut self.outbox);
            let r = t.request;
            let other = if r.from == node { r.to } else { r.from };
            self.nodes[other.index()].idleness.end(now);
            // Its set-up or copies no longer share the host's cores.
            for piece in [super::host::Work::SetUp(id), super::host::Work::Copy(id)] {
                if let Some(host) = &mut self.host {
                    let rearm = host.remove(piece, now);
                    self.rearm_finish(rearm);
                }
            }
            if r.from == node {
                if self.nodes[r.to.index()].up {
                    self.nodes[r.to.index()].store.remove(r.object);
                    self.refresh_store_view(r.to);
                }
                let parked = t.waiters.iter().map(|&w| (w, r.object));
                self.nodes[node.index()].parked.extend(parked);
            } else if self.nodes[r.from.index()].up {
                self.release_source(r.object, r.from);
            }
            released.push(if r.from == node { r.to } else { r.from });
        }
        self.handle_outbox(now);
        released.sort_unstable();
        released.dedup();
        for other in released {
            if self.nodes[other.index()].up {
                self.room_freed(other, now);
            }
        }
        self.disk_killed(node);
        self.nodes[node.index()].idleness.kill(now);
        // Its work is lost; what ran there recorded nothing after all.
        let mut ran = BTreeSet::new();
        for task in self.tasks.on_node(node) {
            let entry = self.tasks.entry_mut(task);
            let started = matches!(entry.phase, Phase::Running | Phase::Executed);
            if let Phase::Lost { .. } = entry.phase {
                continue;
            }
            let executed = entry.phase == Phase::Executed;
            entry.phase = Phase::Lost { ran: started };
            entry.result = None;
            if started {
                ran.insert(task);
            }
            // The node's processes are gone: its work no longer shares the host's cores.
            if executed && let Some(host) = &mut self.host {
                let rearm = host.remove(super::host::Work::Task(task), now);
                self.rearm_finish(rearm);
            }
        }
        if !ran.is_empty() {
            self.record
                .trace
                .datapoints
                .retain(|d| !ran.contains(&d.task));
        }
    }

    /// The cluster declares killed node `node` dead at `now`, if a declaration is due at
    /// `due`, the timer's time (a node killed again after a restart has a later due time).
    pub(super) fn declare_dead(&mut self, node: NodeId, due: Nanos, now: Nanos) {
        if self.nodes[node.index()].declare_at != Some(due) {
            return;
        }
        self.declare_now(node, now);
    }

    /// Declares killed node `node` dead at `now`. See the module documentation.
    fn declare_now(&mut self, node: NodeId, now: Nanos) {
        let state = &mut self.nodes[node.index()];
        state.declare_at = None;
        let lost = std::mem::take(&mut state.lost);
        let parked = std::mem::take(&mut state.parked);
        self.undeclared -= 1;
        self.record.counters.nodes_declared_dead += 1;
        self.record.node(node, NodeEvent::DeclaredDead, now);
        self.placer.set_alive(node, false);
        for o in lost {
            if let Some(entry) = self.directory.get_mut(o)
                && entry.remove_holder(node)
                && entry.refs == 0
                && !matches!(entry.state, ObjectState::Pending)
            {
                // Only stores kept it (`ObjectLifetime::Lru`): it goes with its last copy.
                self.forget(o);
            }
        }
        self.disk_declared_dead(node);
        for actor in self.actors.on_node(node) {
            self.actor_node_died(actor, node, now);
        }
        for task in self.tasks.on_node(node) {
            if let Some(e) = self.tasks.get(task)
                && matches!(e.phase, Phase::Lost { .. })
            {
                self.place_again(task, now);
            }
        }
        for (task, object) in parked {
            self.ask_for(object, task, now);
        }
    }

    /// An external executor found node `node` dead at `now` (it missed its heartbeats): the
    /// node stops and is declared dead at once, as a kill and its declaration do (see the
    /// module documentation). Its running work is lost; the executor reports nothing more
    /// of it. Does nothing to a node already down.
    pub fn node_lost(&mut self, node: NodeId, now: Nanos) {
        self.observe(now);
        if !self.nodes.get(node.index()).is_some_and(|n| n.up) {
            return;
        }
        self.node_killed(node, now);
        self.declare_now(node, now);
        self.handle_outbox(now);
    }

    /// Killed node `node` comes back at `now`, empty.
    fn node_restarts(&mut self, node: NodeId, now: Nanos) {
        if self.nodes[node.index()].declare_at.is_some() {
            self.declare_now(node, now);
        }
        self.nodes[node.index()].up = true;
        self.reconnect(node);
        self.record.node(node, NodeEvent::Restarted, now);
        self.placer.set_alive(node, true);
    }
}
