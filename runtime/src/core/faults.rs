//! The core's side of a fault script: each fault's start and end are timers, scheduled when
//! the core is made; what a fault does to the cluster is applied when its timer fires.
//!
//! Played today:
//! - `slow_cpu`: work that starts on the node while it is slowed takes `by` times its modeled
//!   duration (a duration is fixed when the work starts, so work running when the slowdown
//!   starts or ends keeps the speed it started with);
//! - `slow_nic`: the node's NIC moves bytes `by` times slower each way; the transport's rates
//!   change at that instant, transfers in flight included;
//! - `drop_link`: transfers between the two nodes wait at rate 0, keeping their progress, until
//!   the link is back (the core still asks for them: a policy does not know of the fault).
//!
//! Other kinds are refused when the core is made ([`RuntimeError::UnsupportedFault`]).

use super::Core;
use super::timers::Timer;
use crate::error::RuntimeError;
use crate::fault::{FaultKind, FaultScript};
use crate::time::Nanos;

/// A fault's start or end, as a timer's payload: `(position << 1) | ends`.
fn edge(position: usize, ends: bool) -> u64 {
    ((position as u64) << 1) | u64::from(ends)
}

/// Refuses a script with a kind of fault the core does not play yet.
pub(super) fn check_playable(script: &FaultScript) -> Result<(), RuntimeError> {
    for (i, f) in script.faults().iter().enumerate() {
        if let FaultKind::Kill { .. } = f.kind {
            return Err(RuntimeError::UnsupportedFault {
                position: i + 1,
                kind: f.kind.name(),
            });
        }
    }
    Ok(())
}

impl Core {
    /// Schedules every fault's start and end. Called once, before anything else is scheduled,
    /// so that a fault at an instant comes before work scheduled for the same instant.
    pub(super) fn schedule_faults(&mut self) {
        let edges: Vec<(Nanos, u64)> = self
            .spec
            .faults
            .faults()
            .iter()
            .enumerate()
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
            // Refused when the core was made.
            FaultKind::Kill { .. } => {}
        }
    }
}
