//! Forwarding stalls: work placed away from the driver's node reaches its node over a TCP
//! connection that Nagle's algorithm and a delayed acknowledgement slow down, as Ray v0.6's
//! raylets' connections did (see [`ModelOptions::delayed_ack`]).
//!
//! With the option off (the default) nothing is forwarded: placed work fetches its arguments
//! at once, as it always has.
//!
//! [`ModelOptions::delayed_ack`]: crate::model::ModelOptions::delayed_ack

use super::Core;
use super::tasks::Phase;
use crate::time::Nanos;
use cohort_policy::{NodeId, TaskId};

/// The driver's node's connection to one node, as Nagle's algorithm and the receiver's
/// delayed acknowledgement make it behave for small writes.
///
/// Invariant: `held_until`, when set, is the instant the writes held so far go out together,
/// and equals `acked_at`, the acknowledgement of the write sent before them; once they have
/// gone, their own acknowledgement is due `delay` after that instant.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Connection {
    /// When the last write sent is acknowledged (0: nothing sent yet).
    acked_at: Nanos,
    /// When the writes held behind that acknowledgement go, if some are held.
    held_until: Option<Nanos>,
}

impl Connection {
    /// A write at `now` (not before any earlier write's `now`), its acknowledgement delayed
    /// by `delay`: when it is sent, which is when it arrives (a forward takes no time).
    pub(super) fn write(&mut self, now: Nanos, delay: Nanos) -> Nanos {
        if let Some(at) = self.held_until {
            if now <= at {
                return at;
            }
            // The held writes went at `at`: their acknowledgement comes `delay` later.
            self.held_until = None;
            self.acked_at = at.saturating_add(delay);
        }
        if now >= self.acked_at {
            self.acked_at = now.saturating_add(delay);
            now
        } else {
            self.held_until = Some(self.acked_at);
            self.acked_at
        }
    }
}

impl Core {
    /// Work placed on `node` at `now`: when its forward arrives there, if that is later than
    /// now (forwarding stalls on, `node` another node than the driver's and up; a node down
    /// loses the work at once, as without forwarding).
    pub(super) fn forward(&mut self, node: NodeId, now: Nanos) -> Option<Nanos> {
        let delay = self.config.model.delayed_ack;
        if delay == 0 || node == self.config.driver_node || !self.nodes[node.index()].up {
            return None;
        }
        let at = self.nodes[node.index()].inbound.write(now, delay);
        (at > now).then_some(at)
    }

    /// The forward of `task` arrived at its node: it starts fetching its arguments there,
    /// unless it ended or was lost with its node meanwhile.
    pub(super) fn forwarded(&mut self, task: TaskId, now: Nanos) {
        let Some(entry) = self.tasks.get_mut(task) else {
            return;
        };
        if entry.phase != Phase::Forwarding {
            return;
        }
        entry.phase = Phase::Fetching;
        self.begin(task, now);
    }

    /// Node `node` restarted: the driver's node connects to it afresh.
    pub(super) fn reconnect(&mut self, node: NodeId) {
        self.nodes[node.index()].inbound = Connection::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;
    const ACK: Nanos = 40 * MS;

    #[test]
    fn a_write_waits_for_the_delayed_ack_of_the_one_before_and_held_writes_go_together() {
        let mut c = Connection::default();
        // The first write goes at once.
        assert_eq!(c.write(0, ACK), 0);
        // Within 40 ms, the next ones wait for its acknowledgement and go together at 40 ms.
        assert_eq!(c.write(MS, ACK), 40 * MS);
        assert_eq!(c.write(9 * MS, ACK), 40 * MS);
        assert_eq!(c.write(40 * MS, ACK), 40 * MS);
        // They are acknowledged 40 ms after they went: a write at 41 ms waits until 80 ms.
        assert_eq!(c.write(41 * MS, ACK), 80 * MS);
        // One after its acknowledgement goes at once.
        assert_eq!(c.write(200 * MS, ACK), 200 * MS);
        // Two writes at one instant: the second waits.
        assert_eq!(c.write(300 * MS, ACK), 300 * MS);
        assert_eq!(c.write(300 * MS, ACK), 340 * MS);
    }

    proptest::proptest! {
        /// For every sequence of writes: each is sent at or after it is written, in the order
        /// written; two sending instants are at least the delay apart; a write goes with the
        /// writes held, if some are, and otherwise at once or, if the last sending instant is
        /// less than the delay ago, at that instant plus the delay.
        #[test]
        fn writes_go_in_order_one_delayed_ack_apart(
            gaps in proptest::collection::vec(0u64..100 * MS, 1..40),
            delay in 1u64..60 * MS,
        ) {
            let mut c = Connection::default();
            let mut now = 0;
            // The last sending instant, and whether it was of held writes.
            let mut last: Option<(Nanos, bool)> = None;
            for gap in gaps {
                now += gap;
                let sent = c.write(now, delay);
                proptest::prop_assert!(sent >= now);
                match last {
                    None => proptest::prop_assert_eq!(sent, now),
                    Some((at, held)) if at > now || (at == now && held) => {
                        proptest::prop_assert_eq!(sent, at);
                    }
                    Some((at, _)) => proptest::prop_assert_eq!(sent, now.max(at + delay)),
                }
                if let Some((at, _)) = last {
                    proptest::prop_assert!(sent == at || sent >= at + delay);
                    if sent == at {
                        continue;
                    }
                }
                last = Some((sent, sent > now));
            }
        }
    }
}
