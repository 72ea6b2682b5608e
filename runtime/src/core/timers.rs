//! The core's timers: one queue for everything that must happen at a moment.

use crate::time::Nanos;
use cohort_policy::TaskId;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Something the core must do at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// The modeled duration of executed work has passed.
    Finish(TaskId),
    /// A wake-up the transport asked for, with its token.
    Transport(u64),
    /// A fault of the cluster's script starts or ends: `(position << 1) | ends`.
    Fault(u64),
    /// The cluster may declare a killed node dead (it has missed enough heartbeats).
    Declare(cohort_policy::NodeId),
    /// A spilled object has been read back from its node's disk.
    Restore(cohort_policy::ObjectId),
    /// Work has waited a pull timeout for a lost object: rebuild it now (see `lineage`).
    Rebuild(cohort_policy::ObjectId),
    /// A heartbeat of the placement view, at which queued work may spill over (see
    /// `placement`); the cluster's own, like faults: it does not keep a finished run going.
    Heartbeat,
    /// A deferred task's wait ran out: ask the policy again (see `deferral`).
    Retry(TaskId),
    /// A CPU slot freed: ask the policy again about every deferred task.
    Reask,
    /// A transfer's set-up on the host's cores may be done (see `host`).
    SetUp(crate::core::transport::TransferId),
    /// A transfer's copies on the host's cores may be done (see `host`).
    Copied(crate::core::transport::TransferId),
    /// A transfer's set-up has waited out what of it is not work (see `host`).
    SetUpWaited(crate::core::transport::TransferId),
    /// A forward of placed work has arrived at its node (see `forwarding`).
    Forwarded(TaskId),
    /// The head's work for a task on the host's cores may be done (see `host`).
    HeadWorked(TaskId),
}

/// The payload bit telling a declaration from a fault's edge (both are timers of kind 2, the
/// cluster's own: they do not keep a finished run going).
const DECLARE: u64 = 1 << 63;
/// The payload bit telling a heartbeat from a fault's edge (kind 2).
const HEARTBEAT: u64 = 1 << 62;
/// The payload bit telling a rebuild from a restore (kind 3; object ids never reach it).
const REBUILD: u64 = 1 << 63;
/// The payload bit of a deferred task's retry (kind 3; task ids never reach it).
const RETRY: u64 = 1 << 62;
/// The payload of a re-ask of every deferred task (kind 3).
const REASK: u64 = 1 << 61;
/// The payload bit of a transfer's set-up (kind 3; transfer ids never reach it).
const SETUP: u64 = 1 << 60;
/// The payload bit of a transfer's copies (kind 3; transfer ids never reach it).
const COPIED: u64 = 1 << 59;
/// The payload bit of a forward's arrival (kind 3; task ids never reach it).
const FORWARDED: u64 = 1 << 58;
/// The payload bit of a transfer's set-up waited out (kind 3; transfer ids never reach it).
const SETUP_WAITED: u64 = 1 << 57;
/// The payload bit of the head's work for a task (kind 3; task ids never reach it).
const HEAD_WORKED: u64 = 1 << 56;

/// Timers ordered by `(time, order of scheduling)`: two timers at one instant fire in the
/// order they were scheduled, so the order never depends on what the timers are.
///
/// Timers are mostly scheduled in time order within their kind (a transport's latency is
/// fixed, a settle is due at once), so a timer goes to the end of the first of a few FIFO
/// *lanes* whose last timer is not later than it, and only the rest to a heap. Each lane is
/// sorted by `(time, sequence)` (times not decreasing, sequence numbers growing), so the
/// earliest timer is the earliest of the lanes' fronts and the heap's top: the order is
/// exactly the one a single heap gives.
#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Entry>,
    lanes: [Lane; LANES],
    /// The time of each lane's last timer (0 when it is empty).
    last_at: [Nanos; LANES],
    /// Where the earliest timer is and its key, kept up to date by every push and pop.
    earliest: Option<(Source, u128)>,
    /// Timers scheduled so far (the sequence number of the last one).
    seq: u64,
    /// Fault and declaration timers scheduled and not yet taken.
    faults: usize,
    /// All timers scheduled and not yet taken.
    pending: usize,
}

/// FIFO lanes in front of the heap.
const LANES: usize = 3;

/// A FIFO of timers: `items[head..]`, the taken ones dropped when it empties (or when they are
/// most of it).
#[derive(Debug, Default)]
struct Lane {
    items: Vec<Entry>,
    head: usize,
}

/// Where the earliest timer is.
#[derive(Clone, Copy, Debug)]
enum Source {
    Heap,
    Lane(usize),
}

/// A scheduled timer: its time, its sequence number (shifted left by two, the low bits telling
/// the kinds apart) and the kind's payload. Ordered by `(at, seq)` only, reversed so that
/// `BinaryHeap` (a max-heap) yields the earliest.
#[derive(Clone, Copy, Debug)]
struct Entry {
    at: Nanos,
    seq: u64,
    payload: u64,
}

impl Entry {
    #[inline]
    fn key(&self) -> u128 {
        (u128::from(self.at) << 64) | u128::from(self.seq)
    }

    #[inline]
    fn timer(&self) -> Timer {
        match self.seq & 3 {
            0 => Timer::Finish(TaskId(self.payload)),
            1 => Timer::Transport(self.payload),
            2 if self.payload & DECLARE != 0 => {
                Timer::Declare(cohort_policy::NodeId(self.payload as u32))
            }
            2 if self.payload & HEARTBEAT != 0 => Timer::Heartbeat,
            2 => Timer::Fault(self.payload),
            _ if self.payload & REBUILD != 0 => {
                Timer::Rebuild(cohort_policy::ObjectId(self.payload & !REBUILD))
            }
            _ if self.payload & RETRY != 0 => Timer::Retry(TaskId(self.payload & !RETRY)),
            _ if self.payload == REASK => Timer::Reask,
            _ if self.payload & SETUP != 0 => {
                Timer::SetUp(crate::core::transport::TransferId(self.payload & !SETUP))
            }
            _ if self.payload & COPIED != 0 => {
                Timer::Copied(crate::core::transport::TransferId(self.payload & !COPIED))
            }
            _ if self.payload & FORWARDED != 0 => {
                Timer::Forwarded(TaskId(self.payload & !FORWARDED))
            }
            _ if self.payload & SETUP_WAITED != 0 => Timer::SetUpWaited(
                crate::core::transport::TransferId(self.payload & !SETUP_WAITED),
            ),
            _ if self.payload & HEAD_WORKED != 0 => {
                Timer::HeadWorked(TaskId(self.payload & !HEAD_WORKED))
            }
            _ => Timer::Restore(cohort_policy::ObjectId(self.payload)),
        }
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

impl Timers {
    /// Schedules `timer` at `at`.
    #[inline]
    pub(super) fn push(&mut self, at: Nanos, timer: Timer) {
        self.seq += 1;
        let (kind, payload) = match timer {
            Timer::Finish(task) => (0, task.0),
            Timer::Transport(token) => (1, token),
            Timer::Fault(edge) => {
                self.faults += 1;
                (2, edge)
            }
            Timer::Declare(node) => {
                self.faults += 1;
                (2, DECLARE | u64::from(node.0))
            }
            Timer::Heartbeat => {
                self.faults += 1;
                (2, HEARTBEAT)
            }
            Timer::Restore(object) => (3, object.0),
            Timer::Rebuild(object) => (3, REBUILD | object.0),
            Timer::Retry(task) => (3, RETRY | task.0),
            Timer::Reask => (3, REASK),
            Timer::SetUp(id) => (3, SETUP | id.0),
            Timer::Copied(id) => (3, COPIED | id.0),
            Timer::Forwarded(task) => (3, FORWARDED | task.0),
            Timer::SetUpWaited(id) => (3, SETUP_WAITED | id.0),
            Timer::HeadWorked(task) => (3, HEAD_WORKED | task.0),
        };
        self.pending += 1;
        let entry = Entry {
            at,
            seq: (self.seq << 2) | kind,
            payload,
        };
        let key = entry.key();
        let source = self.place(entry);
        if self.earliest.is_none_or(|(_, e)| key < e) {
            self.earliest = Some((source, key));
        }
    }

    /// Puts `entry` at the end of the first lane whose last timer is not later, or else in
    /// the heap.
    #[inline]
    fn place(&mut self, entry: Entry) -> Source {
        for k in 0..LANES {
            if self.last_at[k] <= entry.at {
                self.last_at[k] = entry.at;
                self.lanes[k].items.push(entry);
                return Source::Lane(k);
            }
        }
        self.heap.push(entry);
        Source::Heap
    }

    /// Where the earliest timer is, and its key: the earliest of the lanes' fronts and the
    /// heap's top.
    #[inline]
    fn find_earliest(&self) -> Option<(Source, u128)> {
        let mut best = self.heap.peek().map(|e| (Source::Heap, e.key()));
        for (k, lane) in self.lanes.iter().enumerate() {
            if let Some(e) = lane.items.get(lane.head) {
                let key = e.key();
                if best.is_none_or(|(_, b)| key < b) {
                    best = Some((Source::Lane(k), key));
                }
            }
        }
        best
    }

    /// The time of the earliest timer.
    #[inline]
    pub(super) fn next(&self) -> Option<Nanos> {
        self.earliest.map(|(_, key)| (key >> 64) as Nanos)
    }

    /// Takes the first timer of lane `k`, which has one.
    #[inline]
    fn take_front(&mut self, k: usize) -> Entry {
        let lane = &mut self.lanes[k];
        let entry = lane.items[lane.head];
        lane.head += 1;
        if lane.head == lane.items.len() {
            lane.items.clear();
            lane.head = 0;
            self.last_at[k] = 0;
        } else if lane.head >= 256 && 2 * lane.head >= lane.items.len() {
            lane.items.drain(..lane.head);
            lane.head = 0;
        }
        entry
    }

    /// Takes the earliest timer.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<(Nanos, Timer)> {
        let entry = match self.earliest?.0 {
            Source::Heap => self.heap.pop(),
            Source::Lane(k) => Some(self.take_front(k)),
        }?;
        self.earliest = self.find_earliest();
        self.pending -= 1;
        let timer = entry.timer();
        if let Timer::Fault(_) | Timer::Declare(_) | Timer::Heartbeat = timer {
            self.faults -= 1;
        }
        Some((entry.at, timer))
    }

    /// Whether every timer left is a fault's start or end, or a killed node's declaration:
    /// nothing else will happen (unless work waits for a declaration, which the core knows).
    pub(super) fn only_faults_left(&self) -> bool {
        self.pending == self.faults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_at_one_instant_fire_in_scheduling_order() {
        let mut t = Timers::default();
        t.push(10, Timer::Transport(7));
        t.push(5, Timer::Finish(TaskId(9)));
        t.push(10, Timer::Finish(TaskId(1)));
        assert_eq!(t.next(), Some(5));
        assert_eq!(t.pop(), Some((5, Timer::Finish(TaskId(9)))));
        assert_eq!(t.pop(), Some((10, Timer::Transport(7))));
        assert_eq!(t.pop(), Some((10, Timer::Finish(TaskId(1)))));
        assert_eq!(t.pop(), None);
    }

    #[test]
    fn a_long_lane_drops_taken_timers_and_keeps_its_order() {
        // One lane that never empties: its taken timers are dropped once they are most of it.
        let mut t = Timers::default();
        let mut next_push = 0u64;
        let mut expected = 0u64;
        for _ in 0..10 {
            for _ in 0..400 {
                t.push(next_push, Timer::Finish(TaskId(next_push)));
                next_push += 1;
            }
            for _ in 0..300 {
                assert_eq!(t.pop(), Some((expected, Timer::Finish(TaskId(expected)))));
                expected += 1;
            }
        }
        assert!(t.lanes[0].items.len() < 2_000, "taken timers are dropped");
        while let Some((at, _)) = t.pop() {
            assert_eq!(at, expected);
            expected += 1;
        }
        assert_eq!(expected, next_push);
    }

    proptest::proptest! {
        /// Pushes and pops interleaved at random, against a sorted list of
        /// `(time, order of scheduling)`: the same timers in the same order.
        #[test]
        fn same_order_as_a_sorted_list(
            ops in proptest::collection::vec((0u64..6, 0u64..50, 0u8..10), 1..300),
        ) {
            let mut t = Timers::default();
            let mut reference: Vec<(Nanos, u64, Timer)> = Vec::new();
            let (mut now, mut seq) = (0, 0);
            for (k, (pops, delay, kind)) in ops.into_iter().enumerate() {
                let timer = match kind {
                    0 => Timer::Finish(TaskId(k as u64)),
                    1 => Timer::Transport(k as u64),
                    2 => Timer::Fault(k as u64),
                    3 => Timer::Declare(cohort_policy::NodeId(k as u32)),
                    4 => Timer::SetUp(crate::core::transport::TransferId(k as u64)),
                    5 => Timer::Copied(crate::core::transport::TransferId(k as u64)),
                    6 => Timer::Forwarded(TaskId(k as u64)),
                    7 => Timer::SetUpWaited(crate::core::transport::TransferId(k as u64)),
                    8 => Timer::HeadWorked(TaskId(k as u64)),
                    _ => Timer::Restore(cohort_policy::ObjectId(k as u64)),
                };
                seq += 1;
                t.push(now + delay, timer);
                reference.push((now + delay, seq, timer));
                reference.sort_by_key(|&(at, seq, _)| (at, seq));
                for _ in 0..pops {
                    proptest::prop_assert_eq!(t.next(), reference.first().map(|r| r.0));
                    let want = (!reference.is_empty()).then(|| reference.remove(0));
                    let got = t.pop();
                    proptest::prop_assert_eq!(got, want.map(|(at, _, timer)| (at, timer)));
                    if let Some((at, _)) = got {
                        now = at;
                    }
                }
            }
        }
    }
}
