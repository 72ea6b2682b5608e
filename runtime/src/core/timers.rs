//! The core's timers: one queue for everything that must happen at a moment.

use crate::time::Nanos;
use cohort_policy::TaskId;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Something the core must do at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    /// The modeled duration of executed work has passed.
    Finish(TaskId),
    /// A wake-up the transport asked for, with its token.
    Transport(u64),
}

/// Timers ordered by `(time, order of scheduling)`: two timers at one instant fire in the
/// order they were scheduled, so the order never depends on what the timers are.
#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Nanos, u64, Timer)>>,
    /// Timers scheduled so far (the sequence number of the last one).
    seq: u64,
}

impl Timers {
    /// Schedules `timer` at `at`.
    pub(super) fn push(&mut self, at: Nanos, timer: Timer) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, timer)));
    }

    /// The time of the earliest timer.
    pub(super) fn next(&self) -> Option<Nanos> {
        self.heap.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Takes the earliest timer.
    pub(super) fn pop(&mut self) -> Option<(Nanos, Timer)> {
        self.heap.pop().map(|Reverse((at, _, timer))| (at, timer))
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
}
