//! The host's cores, shared among the work executing on them when the whole cluster runs on
//! one machine (`ModelOptions::host_cores`): processor sharing, as a fair scheduler gives it.
//!
//! While `n` pieces of work execute on `c` cores, each is served at `min(1, c / n)` of a
//! core, so a start slows every piece already running and an end speeds the others up. All
//! pieces are served at one rate, so one counter, the service each has received since the
//! start (`served`), says where every piece stands: a piece of `w` ns of work that starts
//! when the counter reads `s` ends when it reads `s + w`. Pieces end in that order, whatever
//! starts later; only when the next end falls moves with the count. The core keeps one finish
//! timer for the piece that ends next (*armed*) and moves it whenever the count changes.

use super::{Nanos, TaskId};
use crate::core::transport::TransferId;
use crate::trace::HostWork;
use std::collections::BTreeMap;

/// A piece of work on the host's cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Work {
    /// A task's (or a method call's) modeled duration.
    Task(TaskId),
    /// A transfer's set-up (its latency and wake-up): on one host the nodes talk over
    /// loopback, where setting a transfer up is processing, not wire time.
    SetUp(TransferId),
    /// A transfer's copies of its bytes, while they flow.
    Copy(TransferId),
    /// The head's work for a task (`ModelOptions::head_work`): it runs beside the task from
    /// its start and ends nothing but itself.
    Head(TaskId),
}

/// Fixed-point scale of the service counter: ns of work times this (a share of `c / n` of
/// a nanosecond is then kept to about a millionth).
const SCALE: u128 = 1 << 20;

/// The host's cores and the work executing on them.
///
/// Invariant: `running` holds exactly the work executing under sharing, keyed by the
/// service at which each piece ends (then by start order, which breaks ties); `armed`, when
/// set, names the first of them and the time its timer is set for.
#[derive(Debug)]
pub(super) struct HostShare {
    /// The cores (at least 1).
    cores: u128,
    /// Service each executing piece has received since the start, ns × [`SCALE`].
    served: u128,
    /// When `served` was last brought up to date.
    at: Nanos,
    /// Executing work by (service at its end, start order).
    running: BTreeMap<(u128, u64), Work>,
    /// Pieces started so far (the start order of the next).
    started: u64,
    /// The piece whose finish timer is live, and that timer's time.
    armed: Option<(Work, Nanos)>,
    /// The work started so far, by kind.
    charged: HostWork,
}

/// A change of the armed finish timer, for the core to carry out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Rearm {
    /// The piece whose timer is no longer live, if any (its end is unknown again).
    pub disarmed: Option<Work>,
    /// The piece that ends next and when, if its timer must be set.
    pub armed: Option<(Work, Nanos)>,
}

impl HostShare {
    /// `cores` cores, no work.
    pub fn new(cores: u32) -> HostShare {
        HostShare {
            cores: u128::from(cores.max(1)),
            served: 0,
            at: 0,
            running: BTreeMap::new(),
            started: 0,
            armed: None,
            charged: HostWork::default(),
        }
    }

    /// The work started so far, by kind.
    pub fn charged(&self) -> HostWork {
        self.charged
    }

    /// Brings the service counter up to `now`.
    fn catch_up(&mut self, now: Nanos) {
        let n = self.running.len() as u128;
        if n > 0 && now > self.at {
            self.served += u128::from(now - self.at) * SCALE * n.min(self.cores) / n;
        }
        self.at = self.at.max(now);
    }

    /// `piece` starts `work` ns (more than 0) of work at `now`.
    pub fn start(&mut self, piece: Work, work: Nanos, now: Nanos) -> Rearm {
        debug_assert!(work > 0, "work of no duration does not share the host");
        self.catch_up(now);
        let kind = match piece {
            Work::Task(_) => &mut self.charged.tasks_ns,
            Work::SetUp(_) => &mut self.charged.set_ups_ns,
            Work::Copy(_) => &mut self.charged.copies_ns,
            Work::Head(_) => &mut self.charged.head_ns,
        };
        *kind += work;
        let end = self.served + u128::from(work) * SCALE;
        self.running.insert((end, self.started), piece);
        self.started += 1;
        self.arm(now)
    }

    /// Whether `piece`'s timer is the live one: then it ends when that timer fires.
    pub fn is_armed(&self, piece: Work) -> bool {
        self.armed.is_some_and(|(p, _)| p == piece)
    }

    /// Whether `piece`'s timer set for `due` is the live one.
    pub fn is_armed_at(&self, piece: Work, due: Nanos) -> bool {
        self.armed == Some((piece, due))
    }

    /// The armed piece's timer fired at `now`: it ends, and the next may be armed.
    pub fn finish_armed(&mut self, now: Nanos) -> Rearm {
        self.catch_up(now);
        if let Some(((end, _), _)) = self.running.pop_first() {
            // The timer's time is rounded up: never early.
            self.served = self.served.max(end);
        }
        self.armed = None;
        self.arm(now)
    }

    /// `piece` stops at `now` before its end (its node was killed), if it was running. If
    /// its timer was the live one, the next piece's is armed (or none), which disarms it.
    pub fn remove(&mut self, piece: Work, now: Nanos) -> Rearm {
        self.catch_up(now);
        self.running.retain(|_, p| *p != piece);
        self.arm(now)
    }

    /// Arms the timer of the piece that ends next, at the time it will end if nothing else
    /// starts or ends first; says what changed.
    fn arm(&mut self, now: Nanos) -> Rearm {
        let previous = self.armed.map(|(t, _)| t);
        let Some((&(end, _), &piece)) = self.running.first_key_value() else {
            self.armed = None;
            return Rearm {
                disarmed: previous,
                armed: None,
            };
        };
        let n = self.running.len() as u128;
        let rate = SCALE * n.min(self.cores);
        let left = end.saturating_sub(self.served) * n;
        let wait = u64::try_from(left.div_ceil(rate)).unwrap_or(Nanos::MAX);
        let due = now.saturating_add(wait);
        if self.armed == Some((piece, due)) {
            return Rearm {
                disarmed: None,
                armed: None,
            };
        }
        self.armed = Some((piece, due));
        Rearm {
            disarmed: previous.filter(|&p| p != piece),
            armed: Some((piece, due)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Nanos = 1_000_000;

    /// Runs pieces `(start, work)` (sorted by start) to their ends: the end of each.
    fn ends(cores: u32, pieces: &[(Nanos, Nanos)]) -> Vec<Nanos> {
        let mut host = HostShare::new(cores);
        let mut out = vec![None; pieces.len()];
        let mut timer: Option<(Work, Nanos)> = None;
        let apply = |r: Rearm, timer: &mut Option<(Work, Nanos)>| {
            if let Some(d) = r.disarmed {
                assert_eq!(timer.map(|t| t.0), Some(d));
                *timer = None;
            }
            if let Some(a) = r.armed {
                *timer = Some(a);
            }
        };
        let mut next = 0;
        loop {
            let start = pieces.get(next).map(|p| p.0);
            match (start, timer) {
                (Some(s), t) if t.is_none_or(|(_, at)| s < at) => {
                    let r = host.start(Work::Task(TaskId(next as u64)), pieces[next].1, s);
                    apply(r, &mut timer);
                    next += 1;
                }
                (_, Some((piece, at))) => {
                    assert!(host.is_armed_at(piece, at));
                    let Work::Task(task) = piece else {
                        unreachable!("only tasks here")
                    };
                    out[task.0 as usize] = Some(at);
                    timer = None;
                    let r = host.finish_armed(at);
                    apply(r, &mut timer);
                }
                (None, None) => break,
                (Some(_), None) => unreachable!(),
            }
        }
        out.into_iter()
            .map(|e| e.expect("every piece ends"))
            .collect()
    }

    #[test]
    fn work_within_the_cores_runs_at_full_speed() {
        assert_eq!(ends(2, &[(0, 10 * MS), (0, 10 * MS)]), [10 * MS, 10 * MS]);
        assert_eq!(
            ends(4, &[(0, 10 * MS), (3 * MS, 5 * MS)]),
            [10 * MS, 8 * MS]
        );
    }

    #[test]
    fn work_beyond_the_cores_shares_them_and_a_start_slows_what_already_runs() {
        // Four 10 ms pieces at once on 2 cores: each at half speed, all end at 20 ms.
        assert_eq!(ends(2, &[(0, 10 * MS); 4]), [20 * MS; 4]);
        // One core: A alone for 5 ms (half done), then A and B at half speed until A ends at
        // 15 ms (B 5 ms done), then B alone to 20 ms.
        assert_eq!(
            ends(1, &[(0, 10 * MS), (5 * MS, 10 * MS)]),
            [15 * MS, 20 * MS]
        );
        // A short piece ends first although it started last: 1 ms at a third of the core
        // (2-5 ms); the others then have 8 ms each left at half speed.
        assert_eq!(
            ends(1, &[(0, 10 * MS), (0, 10 * MS), (2 * MS, MS)]),
            [21 * MS, 21 * MS, 5 * MS]
        );
    }

    #[test]
    fn a_removed_piece_stops_using_the_cores() {
        let mut host = HostShare::new(1);
        let a = host.start(Work::Task(TaskId(0)), 10 * MS, 0);
        assert_eq!(a.armed, Some((Work::Task(TaskId(0)), 10 * MS)));
        let b = host.start(Work::Task(TaskId(1)), 10 * MS, 0);
        assert_eq!(
            b,
            Rearm {
                disarmed: None,
                armed: Some((Work::Task(TaskId(0)), 20 * MS))
            }
        );
        // At 4 ms each has 2 ms done; B goes, A has 8 ms left alone.
        let r = host.remove(Work::Task(TaskId(1)), 4 * MS);
        assert_eq!(r.armed, Some((Work::Task(TaskId(0)), 12 * MS)));
        // Removing the armed piece disarms it and arms nothing.
        let r = host.remove(Work::Task(TaskId(0)), 5 * MS);
        assert_eq!(
            r,
            Rearm {
                disarmed: Some(Work::Task(TaskId(0))),
                armed: None
            }
        );
        assert!(!host.is_armed(Work::Task(TaskId(0))));
    }

    #[test]
    fn the_work_charged_is_what_each_piece_asked_for_by_kind() {
        let mut host = HostShare::new(1);
        host.start(Work::Task(TaskId(0)), 10 * MS, 0);
        host.start(Work::SetUp(TransferId(0)), 2 * MS, 0);
        host.start(Work::Copy(TransferId(0)), 3 * MS, MS);
        host.start(Work::Task(TaskId(1)), 4 * MS, MS);
        host.start(Work::Head(TaskId(1)), 5 * MS, MS);
        // A piece stopped early counts whole: the charge is what it asked for.
        host.remove(Work::Task(TaskId(1)), 2 * MS);
        let w = host.charged();
        assert_eq!(
            (w.tasks_ns, w.set_ups_ns, w.copies_ns, w.head_ns),
            (14 * MS, 2 * MS, 3 * MS, 5 * MS)
        );
        // The nodes' work: the head's is apart.
        assert_eq!(w.total_ns(), 19 * MS);
    }

    proptest! {
        /// No piece ends before its work at full speed; on one core the host never idles
        /// while work waits, so the last end is the busy period's (to two nanoseconds a piece);
        /// with cores for all, every piece runs at full speed.
        #[test]
        fn sharing_conserves_work(
            mut pieces in proptest::collection::vec((0u64..50 * MS, 1u64..20 * MS), 1..12),
        ) {
            pieces.sort_unstable();
            let one = ends(1, &pieces);
            let mut busy_until = 0;
            for &(s, w) in &pieces {
                busy_until = busy_until.max(s) + w;
            }
            let last = *one.iter().max().unwrap();
            prop_assert!(last >= busy_until && last <= busy_until + 2 * pieces.len() as u64);
            for (i, &(s, w)) in pieces.iter().enumerate() {
                prop_assert!(one[i] >= s + w);
            }
            let all = ends(pieces.len() as u32, &pieces);
            for (i, &(s, w)) in pieces.iter().enumerate() {
                prop_assert_eq!(all[i], s + w);
            }
        }
    }
}
