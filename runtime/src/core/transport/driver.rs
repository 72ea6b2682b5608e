//! A test driver for simulated transports: it plays a transport's wake-ups as the core does
//! (a timer queue ordered by time, then order of asking) and logs every event with the time
//! of the call that reported it.

use super::{Outbox, TransferId, TransferRequest, Transport, TransportEvent};
use crate::fault::Slowdown;
use crate::time::Nanos;
use cohort_policy::{NodeId, ObjectId};
use std::collections::BTreeSet;

/// A transport driven as the core drives one.
pub(crate) struct Driver<T> {
    /// The transport.
    pub t: T,
    out: Outbox,
    /// The time of the last call.
    pub now: Nanos,
    /// How many wake-ups were asked for so far (the order of asking).
    pub asked: u64,
    /// Wake-ups not fired yet, as (time, order of asking, token).
    pub pending: BTreeSet<(Nanos, u64, u64)>,
    /// Every event, with the time of the call that reported it.
    pub log: Vec<(Nanos, TransportEvent)>,
}

impl<T: Transport> Driver<T> {
    /// Drives `t` from time 0.
    pub fn new(t: T) -> Driver<T> {
        Driver {
            t,
            out: Outbox::default(),
            now: 0,
            asked: 0,
            pending: BTreeSet::new(),
            log: Vec::new(),
        }
    }

    /// Queues the wake-ups and logs the events of the last call.
    pub fn collect(&mut self) {
        for w in self.out.drain_wakes() {
            assert!(w.at >= self.now, "a wake-up in the past");
            self.asked += 1;
            self.pending.insert((w.at, self.asked, w.token));
        }
        let now = self.now;
        let events = self.out.take_events();
        self.log.extend(events.into_iter().map(|ev| (now, ev)));
    }

    /// Starts moving `size` bytes from node `from` to node `to` now.
    pub fn start(&mut self, from: u32, to: u32, size: u64) -> TransferId {
        let request = TransferRequest {
            object: ObjectId(0),
            from: NodeId(from),
            to: NodeId(to),
            size,
            setup: 0,
        };
        let id = self.t.start(request, self.now, &mut self.out);
        self.collect();
        id
    }

    /// Gives up `id` now.
    pub fn cancel(&mut self, id: TransferId) {
        self.t.cancel(id, self.now, &mut self.out);
        self.collect();
    }

    /// Slows node `node`'s NIC `milli / 1000` times from now (full speed with `None`).
    pub fn slow_nic(&mut self, node: u32, milli: Option<u32>) {
        let by = milli.and_then(Slowdown::from_milli);
        self.t.slow_nic(NodeId(node), by, self.now, &mut self.out);
        self.collect();
    }

    /// Drops the link between `a` and `b` now, or brings it back.
    pub fn drop_link(&mut self, a: u32, b: u32, dropped: bool) {
        self.t
            .drop_link(NodeId(a), NodeId(b), dropped, self.now, &mut self.out);
        self.collect();
    }

    /// Fires the wake-ups due up to `until`, in order, then moves the clock to `until`.
    pub fn run_until(&mut self, until: Nanos) {
        while let Some(&(at, seq, token)) = self.pending.first() {
            if at > until {
                break;
            }
            self.pending.remove(&(at, seq, token));
            self.now = at;
            self.t.wake(token, at, &mut self.out);
            self.collect();
        }
        self.now = until;
    }

    /// Fires every wake-up left.
    pub fn run(&mut self) {
        while let Some(&(at, _, _)) = self.pending.first() {
            self.run_until(at);
        }
    }
}
