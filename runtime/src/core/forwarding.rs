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

/// The driver's node's connection to one node, for forwards of one size, as Nagle's
/// algorithm on the sender and Linux's acknowledgements on the receiver make it behave.
///
/// The receiver acknowledges a forward when its reader reads it, except in one case: Linux
/// estimates the sender's segment size from what it receives, and takes a second small
/// segment of the same length as the one before, while its estimate is larger, for a
/// full-sized one; it acknowledges that one only on its delayed-ACK timer, and its estimate
/// falls to a forward's size. A write made while a sent one is unacknowledged waits (Nagle's
/// algorithm), with every write made meanwhile, and they go as one segment at the
/// acknowledgement: two or more forwards make a segment larger than one, which raises the
/// estimate again; it is acknowledged when read. So a burst of three or more forwards stalls
/// after its second, every burst, while forwards sent one at a time stall at most once.
/// (`peers/ray/nagle_probe.py` shows this on plain sockets, once the connection's receive
/// window has grown: a fresh connection acknowledges on every read.)
///
/// Invariant: `held_until`, when set, is the instant the `held` writes go out together, and
/// equals `acked_at`, the delayed acknowledgement of the write sent before them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Connection {
    /// When the last write sent is acknowledged (its sending instant if acknowledged at once).
    acked_at: Nanos,
    /// When the writes held behind that acknowledgement go, if some are held.
    held_until: Option<Nanos>,
    /// How many writes are held.
    held: u32,
    /// Whether the receiver's estimate of the segment size is above a forward's (as it is on
    /// a new connection, whose first message is the sender's larger registration).
    estimate_above: bool,
    /// Whether the last segment received was one forward sent alone while the estimate was
    /// above a forward's.
    one_alone: bool,
}

impl Default for Connection {
    fn default() -> Self {
        Connection {
            acked_at: 0,
            held_until: None,
            held: 0,
            estimate_above: true,
            one_alone: false,
        }
    }
}

impl Connection {
    /// A write at `now` (not before any earlier write's `now`), with delayed acknowledgements
    /// of `delay`: when it is sent, which is when it arrives (a forward takes no time).
    pub(super) fn write(&mut self, now: Nanos, delay: Nanos) -> Nanos {
        if let Some(at) = self.held_until {
            if now <= at {
                self.held += 1;
                return at;
            }
            // The held writes went at `at` as one segment, acknowledged when read; two or more
            // forwards make it larger than one.
            self.estimate_above = self.held >= 2;
            self.one_alone = false;
            self.held_until = None;
            self.held = 0;
            self.acked_at = at;
        }
        if now < self.acked_at {
            self.held_until = Some(self.acked_at);
            self.held = 1;
            return self.acked_at;
        }
        if self.estimate_above && self.one_alone {
            // The same length twice under a larger estimate: taken for a full-sized segment.
            self.acked_at = now.saturating_add(delay);
            self.estimate_above = false;
            self.one_alone = false;
        } else {
            self.acked_at = now;
            self.one_alone = self.estimate_above;
        }
        now
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
    fn a_burst_stalls_after_its_second_forward_every_time_and_single_forwards_at_most_once() {
        let mut c = Connection::default();
        // Ray 0.6's streaming: four forwards at 0, 1.4, 9 and 9.4 ms, every 100 ms. The first
        // and second go at once; the second is acknowledged 40 ms later, and the other two wait
        // for it and go together.
        let burst = |c: &mut Connection, at: Nanos| {
            [0, 1_400_000, 9 * MS, 9_400_000].map(|o| c.write(at + o, ACK) - at)
        };
        let stalled = [0, 1_400_000, 41_400_000, 41_400_000];
        assert_eq!(burst(&mut c, 0), stalled);
        // The two went as one larger segment: the next burst stalls the same way.
        assert_eq!(burst(&mut c, 100 * MS), stalled);
        assert_eq!(burst(&mut c, 200 * MS), stalled);
        // Forwards one at a time, each 1 ms after the one before went: the second is
        // acknowledged late, the third waits for it alone, and from then on the estimate is a
        // forward's size: nothing waits.
        let mut c = Connection::default();
        let mut at = 0;
        let mut sent = Vec::new();
        for _ in 0..6 {
            let s = c.write(at, ACK);
            sent.push(s);
            at = s + MS;
        }
        assert_eq!(sent, [0, 1, 41, 42, 43, 44].map(|ms| ms * MS));
    }

    proptest::proptest! {
        /// For every sequence of writes: each is sent at or after it is written, in the order
        /// written; one that waits goes exactly `delay` after an earlier write that went at
        /// once (the acknowledgement it waited for).
        #[test]
        fn a_write_waits_only_for_the_delayed_ack_of_one_sent_at_once(
            gaps in proptest::collection::vec(0u64..100 * MS, 1..40),
            delay in 1u64..60 * MS,
        ) {
            let mut c = Connection::default();
            let (mut now, mut last) = (0, 0);
            let mut at_once = Vec::new();
            for gap in gaps {
                now += gap;
                let sent = c.write(now, delay);
                proptest::prop_assert!(sent >= now && sent >= last);
                if sent > now {
                    proptest::prop_assert!(at_once.contains(&(sent - delay)), "{sent}");
                } else {
                    at_once.push(sent);
                }
                last = sent;
            }
        }

        /// Writes made one at a time (each some time after the one before went) wait at most
        /// once, whatever the times.
        #[test]
        fn writes_one_at_a_time_wait_at_most_once(
            gaps in proptest::collection::vec(0u64..100 * MS, 1..40),
            delay in 1u64..60 * MS,
        ) {
            let mut c = Connection::default();
            let (mut at, mut waited) = (0, 0);
            for gap in gaps {
                let sent = c.write(at, delay);
                if sent > at {
                    waited += 1;
                }
                at = sent + gap;
            }
            proptest::prop_assert!(waited <= 1, "{waited}");
        }
    }
}
