//! Hints inferred from plain submissions: group scheduling without the IR.
//!
//! The write-up's future work asks for the IR's hints to be recovered from ordinary Ray code.
//! `Inference` does it at run time, from what a driver submits and nothing else (no IR, no
//! look-ahead), so the hints a policy sees for a task are decided when it is submitted, as
//! declared ones are:
//!
//! - **Group:** a *burst* is a run of consecutive submissions of the same code (one function,
//!   one actor method, or creations of one actor kind) with no blocking driver call between
//!   them (`get`, `wait`, `sleep`, running until idle: a driver that blocks is at an
//!   evaluation point, the write-up's "evaluate whenever the program accesses the result").
//!   A burst is a group; a task's index is its position in the burst. A task that reads an
//!   output of its own burst starts a new one (a stage cannot depend on itself): a map
//!   applied twice in a row is two groups.
//! - **Dependency**, from the task's first object argument, if an inferred group made it:
//!   - the *group* of that producer when the argument is the same object the burst's previous
//!     task read first (a broadcast), when the producer's group has one task, or when the
//!     task reads an output of every task of that group (a reduce);
//!   - else the *task* that made it, or, when the task reads several tasks of that group (a
//!     fan-in), the first of them.
//!
//! An inferred group is freed (the policy told [`cohort_policy::PolicyEvent::GroupFreed`])
//! when the driver has dropped its last reference to the group's outputs, as the IR frees a
//! node's group when the node is dropped.
//!
//! Where the IR declared hints, [`HintAgreement`] counts how often the inferred ones equal
//! them, groups compared up to their numbering (a bijection between declared and inferred
//! groups, fixed by the first task of each).
//!
//! Known limits, by construction: two stages of the same code submitted back to back with no
//! data passing between them are one group; a fan-in that reads a whole group is a group
//! dependency (the IR declares a task dependency on the first input).

use crate::core::work::{FnId, KindId, MethodId};
use cohort_policy::{Dependency, GroupId, Hints, ObjectId};
use smallvec::SmallVec;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// The code a submission runs: what a burst has in common.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    /// A task of a function.
    Task(FnId),
    /// A call of an actor kind's method.
    Call(KindId, MethodId),
    /// The creation of an actor of a kind.
    Create(KindId),
}

/// How often inferred hints equal the declared ones, over the submissions that had both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HintAgreement {
    /// Submissions compared.
    pub compared: u64,
    /// Those whose group, index and dependency all agree.
    pub all: u64,
    /// Those whose group agrees (up to numbering).
    pub group: u64,
    /// Those whose index in the group is the same.
    pub index: u64,
    /// Those whose dependency agrees (kind, group up to numbering, and index).
    pub dependency: u64,
}

/// The current burst.
#[derive(Debug)]
struct Burst {
    code: Code,
    group: GroupId,
    /// The index the next task of the burst gets.
    next: u32,
    /// The previous task's first object argument.
    first_arg: Option<ObjectId>,
}

/// What is known of an inferred group.
#[derive(Debug, Default)]
struct GroupInfo {
    /// Tasks in it so far.
    width: u32,
    /// Its outputs the driver still holds a reference to.
    live: u64,
}

/// The state of inference over one driver's submissions.
///
/// Invariant: every object in `producers` is an output of a group in `groups`, counted in its
/// `live`; a group leaves `groups` when its `live` reaches 0 (its outputs all released).
#[derive(Debug, Default)]
pub(crate) struct Inference {
    burst: Option<Burst>,
    /// Each output of an inferred task the driver still refers to: its task's group and index.
    producers: HashMap<ObjectId, (GroupId, u32)>,
    groups: HashMap<GroupId, GroupInfo>,
    agreement: HintAgreement,
    /// The bijection between declared and inferred groups, as first seen.
    to_inferred: HashMap<GroupId, GroupId>,
    to_declared: HashMap<GroupId, GroupId>,
}

impl Inference {
    /// The driver blocked: the next submission starts a new burst.
    pub(crate) fn barrier(&mut self) {
        self.burst = None;
    }

    /// The hints of a submission of `code` whose object arguments are `args` (in order);
    /// `new_group` gives a fresh group id when a burst starts.
    pub(crate) fn infer(
        &mut self,
        code: Code,
        args: &[ObjectId],
        new_group: impl FnOnce() -> GroupId,
    ) -> Hints {
        let own = self
            .burst
            .as_ref()
            .filter(|b| b.code == code)
            .map(|b| b.group);
        let reads_own = own.is_some_and(|g| {
            args.iter()
                .any(|a| self.producers.get(a).is_some_and(|&(p, _)| p == g))
        });
        if own.is_none() || reads_own {
            let group = new_group();
            self.groups.insert(group, GroupInfo::default());
            self.burst = Some(Burst {
                code,
                group,
                next: 0,
                first_arg: None,
            });
        }
        let burst = self.burst.as_mut().expect("a burst was just ensured");
        let index = burst.next;
        burst.next += 1;
        let first = args.first().copied();
        let shared = index > 0 && first.is_some() && burst.first_arg == first;
        burst.first_arg = first;
        let group = burst.group;
        // (Freed already if the driver dropped every output so far: counted anew.)
        self.groups.entry(group).or_default().width += 1;
        Hints {
            group,
            index,
            dependency: self.dependency(args, shared),
        }
    }

    /// The dependency of a task whose object arguments are `args`; `shared` when its first
    /// is the burst's previous task's first.
    fn dependency(&self, args: &[ObjectId], shared: bool) -> Dependency {
        let Some(&(g, i)) = args.first().and_then(|a| self.producers.get(a)) else {
            return Dependency::None;
        };
        let width = self.groups.get(&g).map_or(0, |info| info.width);
        if shared || width <= 1 {
            return Dependency::Group(g);
        }
        let mut read: SmallVec<[u32; 16]> = args
            .iter()
            .filter_map(|a| self.producers.get(a))
            .filter(|&&(p, _)| p == g)
            .map(|&(_, j)| j)
            .collect();
        read.sort_unstable();
        read.dedup();
        if read.len() as u64 == u64::from(width) {
            Dependency::Group(g)
        } else {
            Dependency::Task(g, read.first().copied().unwrap_or(i))
        }
    }

    /// `outputs` were made by the task given `hints` by [`Inference::infer`].
    pub(crate) fn produced(&mut self, hints: Hints, outputs: &[ObjectId]) {
        if !hints.group.is_some() {
            return;
        }
        let info = self.groups.entry(hints.group).or_default();
        for &o in outputs {
            if self
                .producers
                .insert(o, (hints.group, hints.index))
                .is_none()
            {
                info.live += 1;
            }
        }
    }

    /// The driver dropped its reference to `id`; returns the group to free if that was the
    /// last output of its group the driver held.
    pub(crate) fn released(&mut self, id: ObjectId) -> Option<GroupId> {
        let (g, _) = self.producers.remove(&id)?;
        let Entry::Occupied(mut e) = self.groups.entry(g) else {
            return None;
        };
        e.get_mut().live -= 1;
        if e.get().live > 0 {
            return None;
        }
        e.remove();
        Some(g)
    }

    /// Counts how `inferred` compares with `declared`.
    pub(crate) fn compare(&mut self, declared: Hints, inferred: Hints) {
        let group = self.same_group(declared.group, inferred.group, true);
        let index = declared.index == inferred.index;
        let dependency = match (declared.dependency, inferred.dependency) {
            (Dependency::None, Dependency::None) => true,
            (Dependency::Group(d), Dependency::Group(i)) => self.same_group(d, i, false),
            (Dependency::Task(d, x), Dependency::Task(i, y)) => {
                x == y && self.same_group(d, i, false)
            }
            _ => false,
        };
        let a = &mut self.agreement;
        a.compared += 1;
        a.group += u64::from(group);
        a.index += u64::from(index);
        a.dependency += u64::from(dependency);
        a.all += u64::from(group && index && dependency);
    }

    /// Whether declared group `d` corresponds to inferred group `i`; with `pair`, two groups
    /// neither of which has a counterpart yet become each other's.
    fn same_group(&mut self, d: GroupId, i: GroupId, pair: bool) -> bool {
        if !d.is_some() || !i.is_some() {
            return d.is_some() == i.is_some();
        }
        match (self.to_inferred.get(&d), self.to_declared.get(&i)) {
            (Some(&x), _) => x == i,
            (None, Some(_)) => false,
            (None, None) => {
                if pair {
                    self.to_inferred.insert(d, i);
                    self.to_declared.insert(i, d);
                }
                pair
            }
        }
    }

    /// The agreement counted so far.
    pub(crate) fn agreement(&self) -> HintAgreement {
        self.agreement
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Code = Code::Task(FnId(0));
    const G: Code = Code::Task(FnId(1));

    /// Fresh group ids from 100 on.
    struct Ids(u64);
    impl Ids {
        fn next(&mut self) -> GroupId {
            self.0 += 1;
            GroupId(self.0)
        }
    }

    /// Submits `code` over `args`, records outputs numbered from `next_out`, returns hints.
    fn submit(inf: &mut Inference, ids: &mut Ids, code: Code, args: &[u64], out: u64) -> Hints {
        let args: Vec<ObjectId> = args.iter().map(|&a| ObjectId(a)).collect();
        let h = inf.infer(code, &args, || ids.next());
        inf.produced(h, &[ObjectId(out)]);
        h
    }

    #[test]
    fn a_broadcast_then_a_map_then_a_reduce() {
        let (mut inf, mut ids) = (Inference::default(), Ids(100));
        // One task makes object 1; three maps read it; two reducers read every map output.
        let b = submit(&mut inf, &mut ids, Code::Task(FnId(9)), &[], 1);
        assert_eq!(
            b,
            Hints {
                group: GroupId(101),
                index: 0,
                dependency: Dependency::None
            }
        );
        for i in 0..3 {
            let h = submit(&mut inf, &mut ids, F, &[1], 10 + i);
            assert_eq!(
                h,
                Hints {
                    group: GroupId(102),
                    index: i as u32,
                    dependency: Dependency::Group(GroupId(101))
                }
            );
        }
        let reduce = Code::Call(KindId(0), MethodId(0));
        for r in 0..2 {
            let h = submit(&mut inf, &mut ids, reduce, &[10, 11, 12], 20 + r);
            assert_eq!(
                h,
                Hints {
                    group: GroupId(103),
                    index: r as u32,
                    dependency: Dependency::Group(GroupId(102))
                }
            );
        }
    }

    #[test]
    fn chains_follow_their_task_and_a_repeated_map_is_two_groups() {
        let (mut inf, mut ids) = (Inference::default(), Ids(0));
        for i in 0..4 {
            submit(&mut inf, &mut ids, G, &[], 10 + i);
        }
        // The same function over its own outputs: a new group, one-to-one.
        for i in 0..4 {
            let h = submit(&mut inf, &mut ids, G, &[10 + i], 20 + i);
            assert_eq!(h.group, GroupId(2));
            assert_eq!(h.index, i as u32);
            assert_eq!(h.dependency, Dependency::Task(GroupId(1), i as u32));
        }
        // A fan-in of two: the first task it reads.
        let h = submit(&mut inf, &mut ids, F, &[22, 23], 30);
        assert_eq!(h.dependency, Dependency::Task(GroupId(2), 2));
    }

    #[test]
    fn a_barrier_or_other_code_ends_the_burst() {
        let (mut inf, mut ids) = (Inference::default(), Ids(0));
        assert_eq!(submit(&mut inf, &mut ids, F, &[], 1).group, GroupId(1));
        assert_eq!(submit(&mut inf, &mut ids, F, &[], 2).index, 1);
        inf.barrier();
        let h = submit(&mut inf, &mut ids, F, &[], 3);
        assert_eq!((h.group, h.index), (GroupId(2), 0));
        let h = submit(&mut inf, &mut ids, G, &[], 4);
        assert_eq!((h.group, h.index), (GroupId(3), 0));
        // Arguments the inference did not see made (puts) give no dependency.
        assert_eq!(
            submit(&mut inf, &mut ids, G, &[77], 5).dependency,
            Dependency::None
        );
    }

    #[test]
    fn a_group_is_freed_with_the_last_output_the_driver_holds() {
        let (mut inf, mut ids) = (Inference::default(), Ids(0));
        submit(&mut inf, &mut ids, F, &[], 1);
        submit(&mut inf, &mut ids, F, &[], 2);
        inf.barrier();
        assert_eq!(inf.released(ObjectId(1)), None);
        assert_eq!(inf.released(ObjectId(2)), Some(GroupId(1)));
        assert_eq!(inf.released(ObjectId(2)), None, "released once");
        assert!(inf.producers.is_empty() && inf.groups.is_empty());
    }

    /// One step of a random driver: submit code `code` over the objects at positions
    /// `args` of those produced so far (and still held), block, or drop a held object.
    #[derive(Clone, Debug)]
    enum Step {
        Submit(u32, Vec<proptest::sample::Index>),
        Barrier,
        Drop(proptest::sample::Index),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            6 => (0u32..3, proptest::collection::vec(any::<proptest::sample::Index>(), 0..4))
                .prop_map(|(c, a)| Step::Submit(c, a)),
            1 => Just(Step::Barrier),
            2 => any::<proptest::sample::Index>().prop_map(Step::Drop),
        ]
    }

    proptest::proptest! {
        /// For any driver: indices count 0, 1, 2, ... within a group; a dependency names an
        /// earlier group (never the task's own) and, for a task dependency, an index below
        /// that group's width; a group is freed exactly when the driver has let go of the
        /// last of its outputs.
        #[test]
        fn inferred_hints_are_well_formed_for_any_driver(
            steps in proptest::collection::vec(step(), 1..200),
        ) {
            use proptest::prop_assert;
            let (mut inf, mut ids) = (Inference::default(), Ids(0));
            let mut held: Vec<(ObjectId, GroupId)> = Vec::new();
            let mut width: HashMap<GroupId, u32> = HashMap::new();
            let mut next = 1u64;
            for s in steps {
                match s {
                    Step::Submit(code, args) => {
                        let args: Vec<ObjectId> = if held.is_empty() {
                            Vec::new()
                        } else {
                            args.iter().map(|i| held[i.index(held.len())].0).collect()
                        };
                        let h = inf.infer(Code::Task(FnId(code)), &args, || ids.next());
                        let w = width.entry(h.group).or_default();
                        prop_assert!(h.index == *w, "index {} in a group of {}", h.index, w);
                        *w += 1;
                        match h.dependency {
                            Dependency::None => {}
                            Dependency::Group(g) => prop_assert!(g != h.group && g.0 < h.group.0),
                            Dependency::Task(g, i) => {
                                prop_assert!(g != h.group && g.0 < h.group.0);
                                prop_assert!(i < width[&g]);
                            }
                        }
                        let out = ObjectId(next);
                        next += 1;
                        inf.produced(h, &[out]);
                        held.push((out, h.group));
                    }
                    Step::Barrier => inf.barrier(),
                    Step::Drop(i) if !held.is_empty() => {
                        let (o, g) = held.remove(i.index(held.len()));
                        let gone = inf.released(o);
                        let still = held.iter().any(|&(_, h)| h == g);
                        prop_assert!(gone == (!still).then_some(g), "{gone:?} for {g:?}");
                    }
                    Step::Drop(_) => {}
                }
            }
        }
    }

    #[test]
    fn agreement_compares_groups_up_to_numbering() {
        let mut inf = Inference::default();
        let h = |g, i, d| Hints {
            group: GroupId(g),
            index: i,
            dependency: d,
        };
        inf.compare(h(7, 0, Dependency::None), h(1, 0, Dependency::None));
        inf.compare(
            h(8, 0, Dependency::Group(GroupId(7))),
            h(2, 0, Dependency::Group(GroupId(1))),
        );
        inf.compare(
            h(8, 1, Dependency::Task(GroupId(7), 0)),
            h(2, 1, Dependency::Group(GroupId(1))),
        );
        // Declared 9 against inferred 1, which is 7's already: the group disagrees.
        inf.compare(h(9, 0, Dependency::None), h(1, 0, Dependency::None));
        assert_eq!(
            inf.agreement(),
            HintAgreement {
                compared: 4,
                all: 2,
                group: 3,
                index: 4,
                dependency: 3
            }
        );
    }
}
