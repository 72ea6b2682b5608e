//! Group scheduling: the policy of the 2018 write-up, as its Ray v0.6 branch implemented it.
//!
//! The policy remembers, for each group `G` (the tasks one IR node submitted), how many of
//! its tasks were placed on each node and where each task (by its index in `G`) went. Then:
//!
//! - **Group dependency on `D`** (the task needs every output of `D`): walk the nodes holding
//!   `D`'s tasks in ascending node id and take the first where `G`'s count is below the node's
//!   total CPUs; else walk `G`'s own nodes likewise; else fall back. This packs a stage onto
//!   the nodes of the stage it reads, one node's worth of tasks at a time.
//! - **Task dependency on `(D, i)`**: the node task `i` of `D` was placed on; the fallback if
//!   that is unknown (never placed, or `D` freed).
//! - **Fallback**: the alive node with the most `available - queued` CPUs, ties to the lowest
//!   id.
//! - **No dependency** (with or without a group): as [`RandomPolicy`] (Ray v0.6's rule), from
//!   the policy's own seeded stream. The placement is still recorded under the task's group.
//!
//! Every candidate must also be alive and have at least the demanded CPUs in total: a dead or
//! too small node is skipped, as if it held none of the group. On a healthy cluster of
//! uniform nodes this changes nothing.
//!
//! # Ablations
//! Three options (all `true` by default, the policy above) turn one rule off each, to see
//! which part of the policy earns its gain: `pack = false` places a task with a group
//! dependency as one without a dependency (randomly); `follow = false` does the same for a
//! task dependency; `load_fallback = false` makes the fallback random instead of the most
//! free node. [`GroupOptions`].
//!
//! # What is recorded
//! Placements are recorded when the runtime reports them ([`PolicyEvent::Placed`]), not when
//! the policy answers, so that only accepted decisions count and placements made elsewhere
//! count too. Every placed piece of work with a group is recorded under `(group, index)`:
//! tasks, actor creations (whose hints are the actor's own group and index; the runtime
//! passes the creation with the group dependency inherited from the actor's first call), and
//! actor method calls (reported only as events, with [`WorkKind::ActorMethod`]), so that a
//! later stage depending on a group of method calls is colocated with the actors that ran
//! them. Placing the same `(group, index)` again moves it: each index counts once, on the
//! node it was placed on last. Work without a group is not recorded.
//!
//! [`PolicyEvent::GroupFreed`] forgets the group's counts and tasks entirely (the write-up's
//! own free call was a stub): the state is bounded by the groups alive at once, see
//! [`GroupPolicy::state_size`]. Finished work and node membership events change nothing:
//! a finished task's outputs still live on its node, and dead nodes are skipped through the
//! view.
//!
//! [`WorkKind::ActorMethod`]: cohort_policy::WorkKind::ActorMethod

#![forbid(unsafe_code)]

use cohort_policy::{
    Dependency, GroupId, NodeId, NodeView, Placement, PlacementView, Policy, PolicyEvent,
    PolicyFactory,
};
use cohort_policy_random::{RandomPolicy, infeasible};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Which of the policy's rules are on (all, by default). See the crate documentation.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct GroupOptions {
    /// A task with a group dependency packs onto its dependency's nodes, then its own
    /// group's (else: placed as without a dependency).
    pub pack: bool,
    /// A task with a task dependency goes to its producer's node (else: placed as without a
    /// dependency).
    pub follow: bool,
    /// The fallback takes the node with the most `available - queued` CPUs (else: random).
    pub load_fallback: bool,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            pack: true,
            follow: true,
            load_fallback: true,
        }
    }
}

/// What the policy remembers about one group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct GroupRecord {
    /// Tasks of the group per node (only non-zero counts are kept), in node order.
    per_node: BTreeMap<NodeId, u32>,
    /// Each task's node, by its index in the group.
    tasks: BTreeMap<u32, NodeId>,
}

impl GroupRecord {
    fn count(&self, node: NodeId) -> u32 {
        self.per_node.get(&node).copied().unwrap_or(0)
    }

    /// Records that task `index` is on `node`, moving it if it was elsewhere.
    fn record(&mut self, index: u32, node: NodeId) {
        if let Some(old) = self.tasks.insert(index, node) {
            if old == node {
                return;
            }
            if let Some(c) = self.per_node.get_mut(&old) {
                *c -= 1;
                if *c == 0 {
                    self.per_node.remove(&old);
                }
            }
        }
        *self.per_node.entry(node).or_insert(0) += 1;
    }
}

/// The group-scheduling policy. See the crate documentation.
#[derive(Clone, Debug)]
pub struct GroupPolicy {
    groups: BTreeMap<GroupId, GroupRecord>,
    random: RandomPolicy,
    options: GroupOptions,
}

impl GroupPolicy {
    /// A policy with no history and every rule on, drawing its random placements from
    /// `seed`.
    pub fn new(seed: u64) -> Self {
        GroupPolicy::with_options(GroupOptions::default(), seed)
    }

    /// A policy with no history and the rules `options` leaves on.
    pub fn with_options(options: GroupOptions, seed: u64) -> Self {
        GroupPolicy {
            groups: BTreeMap::new(),
            random: RandomPolicy::new(seed),
            options,
        }
    }

    /// Forgets everything about `group`.
    pub fn free_group(&mut self, group: GroupId) {
        self.groups.remove(&group);
    }

    /// How much the policy remembers: the number of groups plus the number of per-node
    /// counts plus the number of per-task nodes. Grows with the groups alive at once, not
    /// with the length of the run, as long as groups are freed.
    pub fn state_size(&self) -> usize {
        self.groups
            .values()
            .map(|g| 1 + g.per_node.len() + g.tasks.len())
            .sum()
    }

    /// Where task `index` of `group` was placed, if the policy knows.
    pub fn task_node(&self, group: GroupId, index: u32) -> Option<NodeId> {
        self.groups.get(&group)?.tasks.get(&index).copied()
    }

    /// How many tasks of `group` were placed on `node`.
    pub fn group_count(&self, group: GroupId, node: NodeId) -> u32 {
        self.groups.get(&group).map_or(0, |g| g.count(node))
    }

    /// The first node, in ascending id, of `among`'s nodes where `group` has fewer tasks than
    /// the node has CPUs.
    fn pack(&self, view: &PlacementView<'_>, among: GroupId, group: GroupId) -> Option<NodeId> {
        let among = self.groups.get(&among)?;
        among
            .per_node
            .keys()
            .filter_map(|id| usable(view, *id))
            .find(|n| self.group_count(group, n.id) < n.cpus_total)
            .map(|n| n.id)
    }

    /// The alive, big-enough node with the most `available - queued` CPUs, ties to the lowest
    /// id; or, with `load_fallback` off, a random one.
    fn fallback(&mut self, view: &PlacementView<'_>) -> Placement {
        if !self.options.load_fallback {
            return self.random.place(view);
        }
        let best = view
            .alive_nodes()
            .filter(|n| n.fits_total(view.demand))
            .fold(None::<&NodeView>, |best, n| match best {
                Some(b) if b.cpus_available_minus_queued() >= n.cpus_available_minus_queued() => {
                    Some(b)
                }
                _ => Some(n),
            });
        match best {
            Some(n) => Placement::Node(n.id),
            None => infeasible(view),
        }
    }
}

/// The node `id` if the view has it, it is alive and it can fit the demand at all.
fn usable<'a>(view: &PlacementView<'a>, id: NodeId) -> Option<&'a NodeView> {
    view.node(id)
        .filter(|n| n.alive && n.fits_total(view.demand))
}

impl Policy for GroupPolicy {
    fn name(&self) -> &str {
        "group"
    }

    fn description(&self) -> &str {
        "the write-up's group scheduling: pack onto the dependency's nodes, follow the producer"
    }

    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        let group = view.hints.group;
        let o = self.options;
        match view.hints.dependency {
            Dependency::None => self.random.place(view),
            Dependency::Group(_) if !o.pack => self.random.place(view),
            Dependency::Task(..) if !o.follow => self.random.place(view),
            Dependency::Group(dep) => match self
                .pack(view, dep, group)
                .or_else(|| self.pack(view, group, group))
            {
                Some(node) => Placement::Node(node),
                None => self.fallback(view),
            },
            Dependency::Task(dep, index) => {
                match self.task_node(dep, index).and_then(|id| usable(view, id)) {
                    Some(n) => Placement::Node(n.id),
                    None => self.fallback(view),
                }
            }
        }
    }

    fn on_event(&mut self, event: &PolicyEvent) {
        match *event {
            PolicyEvent::Placed { hints, node, .. } if hints.group.is_some() => {
                self.groups
                    .entry(hints.group)
                    .or_default()
                    .record(hints.index, node);
            }
            PolicyEvent::GroupFreed(group) => self.free_group(group),
            PolicyEvent::Placed { .. }
            | PolicyEvent::Finished { .. }
            | PolicyEvent::NodeAdded(_)
            | PolicyEvent::NodeRemoved(_) => {}
        }
    }
}

impl PolicyFactory for GroupPolicy {
    fn create(config_toml: &str, seed: u64) -> Result<Self, String> {
        let options: GroupOptions = toml::from_str(config_toml)
            .map_err(|e| format!("the group policy's options: {}", e.message()))?;
        Ok(GroupPolicy::with_options(options, seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cohort_policy::{Hints, Resources, TaskId, WorkKind};

    fn node(id: u32, total: u32, busy: u32, queued: u32) -> NodeView {
        NodeView::new(NodeId(id), total, busy, queued, 1 << 30)
    }

    fn idle(n: u32, cpus: u32) -> Vec<NodeView> {
        (0..n).map(|i| node(i, cpus, 0, 0)).collect()
    }

    fn hints(group: u64, index: u32, dependency: Dependency) -> Hints {
        Hints {
            group: GroupId(group),
            index,
            dependency,
        }
    }

    fn view<'a>(nodes: &'a [NodeView], hints: Hints, kind: WorkKind) -> PlacementView<'a> {
        PlacementView {
            task: TaskId(1),
            kind,
            hints,
            demand: Resources { cpus: 1 },
            args: &[],
            holders: &[],
            nodes,
            now_ns: 0,
            view_time_ns: 0,
            waited_ns: 0,
            may_defer: false,
        }
    }

    /// Asks for a placement and reports it back as the runtime would.
    fn place(p: &mut GroupPolicy, nodes: &[NodeView], h: Hints) -> u32 {
        place_kind(p, nodes, h, WorkKind::Task)
    }

    fn place_kind(p: &mut GroupPolicy, nodes: &[NodeView], h: Hints, kind: WorkKind) -> u32 {
        match p.place(&view(nodes, h, kind)) {
            Placement::Node(n) => {
                p.on_event(&PolicyEvent::Placed {
                    task: TaskId(1),
                    kind,
                    hints: h,
                    node: n,
                });
                n.0
            }
            other => panic!("not placed: {other:?}"),
        }
    }

    fn record(p: &mut GroupPolicy, group: u64, index: u32, node: u32) {
        p.on_event(&PolicyEvent::Placed {
            task: TaskId(99),
            kind: WorkKind::Task,
            hints: hints(group, index, Dependency::None),
            node: NodeId(node),
        });
    }

    #[test]
    fn group_dependency_packs_onto_the_dependency_nodes_in_id_order() {
        // The broadcast (group 1) ran on nodes 3 and 1; 5 nodes of 4 CPUs.
        let nodes = idle(5, 4);
        let mut p = GroupPolicy::new(0);
        record(&mut p, 1, 0, 3);
        record(&mut p, 1, 1, 1);
        let placed: Vec<u32> = (0..10)
            .map(|i| place(&mut p, &nodes, hints(2, i, Dependency::Group(GroupId(1)))))
            .collect();
        // Node 1 first (lowest id), four tasks; then node 3, four tasks; then group 2's own
        // nodes are full too, so the fallback spreads: most free CPUs, lowest id first.
        assert_eq!(placed, [1, 1, 1, 1, 3, 3, 3, 3, 0, 0]);
        assert_eq!(p.group_count(GroupId(2), NodeId(1)), 4);
        assert_eq!(p.group_count(GroupId(2), NodeId(0)), 2);
    }

    #[test]
    fn full_dependency_nodes_spill_to_the_groups_own_nodes() {
        // Dependency group 1 is only on node 0, which has 2 CPUs; group 2 already has tasks on
        // node 2 (placed there earlier) with room left.
        let nodes = [node(0, 2, 0, 0), node(1, 4, 0, 0), node(2, 4, 0, 0)];
        let mut p = GroupPolicy::new(0);
        record(&mut p, 1, 0, 0);
        record(&mut p, 2, 0, 2);
        let dep = |i| hints(2, i, Dependency::Group(GroupId(1)));
        assert_eq!(place(&mut p, &nodes, dep(1)), 0);
        assert_eq!(place(&mut p, &nodes, dep(2)), 0);
        // Node 0 now holds 2 of group 2's tasks (= its CPUs): next go to group 2's own
        // nodes, ascending: node 0 is full, node 2 has 1 of 4.
        assert_eq!(p.group_count(GroupId(2), NodeId(0)), 2);
        assert_eq!(place(&mut p, &nodes, dep(3)), 2);
        assert_eq!(place(&mut p, &nodes, dep(4)), 2);
        assert_eq!(place(&mut p, &nodes, dep(5)), 2);
        // Node 2 has 4 now: fallback. Node 1 is idle with 4 free CPUs.
        assert_eq!(place(&mut p, &nodes, dep(6)), 1);
    }

    #[test]
    fn fallback_prefers_most_free_minus_queued_then_lowest_id() {
        let nodes = [
            node(0, 4, 3, 0), // 1
            node(1, 4, 1, 1), // 2
            node(2, 8, 4, 2), // 2
            node(3, 4, 0, 3), // 1
        ];
        let mut p = GroupPolicy::new(0);
        // Dependency on an unknown group: straight to the fallback.
        let h = hints(5, 0, Dependency::Group(GroupId(4)));
        assert_eq!(
            p.place(&view(&nodes, h, WorkKind::Task)),
            Placement::Node(NodeId(1))
        );
        // Oversubscribed everywhere: negative values still compare.
        let nodes = [node(0, 4, 4, 3), node(1, 4, 4, 1), node(2, 4, 4, 1)];
        assert_eq!(
            p.place(&view(&nodes, h, WorkKind::Task)),
            Placement::Node(NodeId(1))
        );
    }

    #[test]
    fn task_dependency_follows_the_producer() {
        let nodes = idle(4, 4);
        let mut p = GroupPolicy::new(0);
        record(&mut p, 7, 0, 2);
        record(&mut p, 7, 1, 3);
        // Even when that node is busy: colocation beats load.
        let mut busy = nodes.clone();
        busy[3].cpus_busy = 4;
        busy[3].queued = 9;
        let h = hints(8, 1, Dependency::Task(GroupId(7), 1));
        assert_eq!(
            p.place(&view(&busy, h, WorkKind::Task)),
            Placement::Node(NodeId(3))
        );
        let h = hints(8, 0, Dependency::Task(GroupId(7), 0));
        assert_eq!(
            p.place(&view(&nodes, h, WorkKind::Task)),
            Placement::Node(NodeId(2))
        );
        // Unknown producer index: fallback (all idle: lowest id).
        let h = hints(8, 2, Dependency::Task(GroupId(7), 2));
        assert_eq!(
            p.place(&view(&nodes, h, WorkKind::Task)),
            Placement::Node(NodeId(0))
        );
        // Producer's node dead: fallback.
        let mut dead = nodes.clone();
        dead[2].alive = false;
        dead[0].cpus_busy = 1;
        let h = hints(8, 0, Dependency::Task(GroupId(7), 0));
        assert_eq!(
            p.place(&view(&dead, h, WorkKind::Task)),
            Placement::Node(NodeId(1))
        );
    }

    #[test]
    fn no_dependency_is_random_but_recorded() {
        let nodes = idle(5, 4);
        let mut a = GroupPolicy::new(42);
        let mut b = RandomPolicy::new(42);
        for i in 0..20 {
            let h = hints(3, i, Dependency::None);
            let expect = b.place(&view(&nodes, h, WorkKind::Task));
            let got = place(&mut a, &nodes, h);
            assert_eq!(expect, Placement::Node(NodeId(got)));
            assert_eq!(a.task_node(GroupId(3), i), Some(NodeId(got)));
        }
        let total: u32 = (0..5).map(|n| a.group_count(GroupId(3), NodeId(n))).sum();
        assert_eq!(total, 20);
        // No hints at all: random too, and nothing recorded.
        let before = a.state_size();
        let got = place(&mut a, &nodes, Hints::NONE);
        assert_eq!(
            b.place(&view(&nodes, Hints::NONE, WorkKind::Task)),
            Placement::Node(NodeId(got))
        );
        assert_eq!(a.state_size(), before);
    }

    #[test]
    fn dead_and_too_small_dependency_nodes_are_skipped() {
        let mut nodes = idle(4, 4);
        nodes[1].alive = false;
        nodes[2].cpus_total = 1;
        let mut p = GroupPolicy::new(0);
        for (i, n) in [1, 2, 3].into_iter().enumerate() {
            record(&mut p, 1, i as u32, n);
        }
        let mut h = hints(2, 0, Dependency::Group(GroupId(1)));
        let mut v = view(&nodes, h, WorkKind::Task);
        v.demand = Resources { cpus: 2 };
        assert_eq!(p.place(&v), Placement::Node(NodeId(3)));
        h.index = 1;
        assert_eq!(
            p.place(&view(&nodes, h, WorkKind::Task)),
            Placement::Node(NodeId(2))
        );
    }

    #[test]
    fn actors_pack_by_their_inherited_dependency_and_calls_are_recorded() {
        // Shuffle group 10 ran on nodes 0..2; five reducer actors of group 20 are created
        // with the dependency their first ReduceActors call (group 30) inherits.
        let nodes = idle(3, 2);
        let mut p = GroupPolicy::new(0);
        for i in 0..6 {
            record(&mut p, 10, i, i / 2);
        }
        let placed: Vec<u32> = (0..5)
            .map(|i| {
                place_kind(
                    &mut p,
                    &nodes,
                    hints(20, i, Dependency::Group(GroupId(10))),
                    WorkKind::ActorCreation,
                )
            })
            .collect();
        assert_eq!(placed, [0, 0, 1, 1, 2]);
        // Method calls are only reported; they are recorded under their group so that a
        // stage depending on them follows the actors.
        for (i, n) in placed.iter().enumerate() {
            p.on_event(&PolicyEvent::Placed {
                task: TaskId(100 + i as u64),
                kind: WorkKind::ActorMethod,
                hints: hints(30, i as u32, Dependency::Group(GroupId(10))),
                node: NodeId(*n),
            });
        }
        assert_eq!(p.task_node(GroupId(30), 4), Some(NodeId(2)));
        let h = hints(40, 0, Dependency::Task(GroupId(30), 3));
        assert_eq!(
            p.place(&view(&nodes, h, WorkKind::Task)),
            Placement::Node(NodeId(1))
        );
    }

    #[test]
    fn replacing_an_index_moves_it() {
        let mut p = GroupPolicy::new(0);
        record(&mut p, 1, 0, 2);
        record(&mut p, 1, 0, 2);
        assert_eq!(p.group_count(GroupId(1), NodeId(2)), 1);
        record(&mut p, 1, 0, 3);
        assert_eq!(p.group_count(GroupId(1), NodeId(2)), 0);
        assert_eq!(p.group_count(GroupId(1), NodeId(3)), 1);
        assert_eq!(p.state_size(), 3);
    }

    #[test]
    fn infeasible_everywhere_is_refused() {
        let nodes = idle(2, 4);
        let mut p = GroupPolicy::new(0);
        let mut v = view(
            &nodes,
            hints(1, 0, Dependency::Group(GroupId(9))),
            WorkKind::Task,
        );
        v.demand = Resources { cpus: 5 };
        assert!(matches!(p.place(&v), Placement::Refuse(r) if r.starts_with("infeasible")));
    }

    /// The write-up's streaming map-reduce, one iteration at a time, freeing each iteration's
    /// groups once the next has been submitted (as the IR's garbage collection would): the
    /// state must stay bounded by what two iterations hold, and vanish when all is freed.
    #[test]
    fn state_stays_bounded_when_groups_are_freed() {
        let mut nodes = idle(5, 4);
        let width = 20;
        let reducers = 4;
        let mut p = GroupPolicy::new(9);
        let broadcast = GroupId(1);
        let actors = GroupId(2);
        let source = place(&mut p, &nodes, hints(broadcast.0, 0, Dependency::None));
        let mut next_group = 3;
        let mut previous: Vec<GroupId> = Vec::new();
        let mut peak = 0;
        let mut sizes = Vec::new();
        for iteration in 0..3_000 {
            let map = GroupId(next_group);
            let shuffle = GroupId(next_group + 1);
            let reduce = GroupId(next_group + 2);
            next_group += 3;
            // The previous iteration has drained; each placed task queues on its node.
            nodes.iter_mut().for_each(|n| n.queued = 0);
            for i in 0..width {
                let n = place(
                    &mut p,
                    &nodes,
                    hints(map.0, i, Dependency::Group(broadcast)),
                );
                nodes[n as usize].queued += 1;
            }
            for i in 0..width {
                place(
                    &mut p,
                    &nodes,
                    hints(shuffle.0, i, Dependency::Task(map, i)),
                );
            }
            for r in 0..reducers {
                if iteration == 0 {
                    place_kind(
                        &mut p,
                        &nodes,
                        hints(actors.0, r, Dependency::Group(shuffle)),
                        WorkKind::ActorCreation,
                    );
                }
                let node = p.task_node(actors, r).expect("actor placed");
                p.on_event(&PolicyEvent::Placed {
                    task: TaskId(1),
                    kind: WorkKind::ActorMethod,
                    hints: hints(reduce.0, r, Dependency::Group(shuffle)),
                    node,
                });
            }
            for g in previous.drain(..) {
                p.on_event(&PolicyEvent::GroupFreed(g));
            }
            previous.extend([map, shuffle, reduce]);
            peak = peak.max(p.state_size());
            sizes.push(p.state_size());
        }
        // Per iteration at most 3 groups with (1 + nodes + tasks) entries each, two
        // iterations alive, plus the broadcast and the actors.
        let per_iteration = 3 + 2 * 5 + 2 * width as usize + 5 + reducers as usize;
        let fixed = (1 + 5 + 1) + (1 + 5 + reducers as usize);
        assert!(peak <= per_iteration + fixed, "peak {peak}");
        assert_eq!(sizes[10], sizes[2_999], "the state must not drift");
        // The packing still works after thousands of frees: the last map stage put one
        // node's worth of tasks on the broadcast's node, and spread the rest by load.
        for n in 0..5 {
            assert_eq!(p.group_count(previous[0], NodeId(n)), 4, "node {n}");
        }
        assert_eq!(p.task_node(previous[0], 0), Some(NodeId(source)));
        for g in previous.drain(..).chain([broadcast, actors]) {
            p.free_group(g);
        }
        assert_eq!(p.state_size(), 0);
    }

    #[test]
    fn options_are_checked() {
        assert!(GroupPolicy::create("# nothing\n", 3).is_ok());
        let e = GroupPolicy::create("packing = false", 3).unwrap_err();
        assert!(
            e.contains("the group policy's options: unknown field `packing`"),
            "{e}"
        );
    }

    /// What a fresh `RandomPolicy` seeded like the group policy draws first for `h`.
    fn random_first(nodes: &[NodeView], h: Hints) -> u32 {
        match RandomPolicy::new(0).place(&view(nodes, h, WorkKind::Task)) {
            Placement::Node(n) => n.0,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_ablation_turns_exactly_its_rule_off() {
        // The broadcast (group 1) ran on nodes 3 and 1, task 0 of group 2 on node 4.
        let nodes = [
            node(0, 4, 3, 0),
            node(1, 4, 0, 0),
            node(2, 4, 0, 0),
            node(3, 4, 0, 0),
            node(4, 4, 0, 0),
        ];
        let primed = |config: &str| {
            let mut p = GroupPolicy::create(config, 0).unwrap();
            record(&mut p, 1, 0, 3);
            record(&mut p, 1, 1, 1);
            record(&mut p, 2, 0, 4);
            p
        };
        let packs = hints(3, 0, Dependency::Group(GroupId(1)));
        let follows = hints(5, 0, Dependency::Task(GroupId(2), 0));
        let orphan = hints(6, 0, Dependency::Group(GroupId(9)));
        // All on: packs onto node 1, follows to node 4, falls back to the freest (1).
        let mut p = primed("");
        assert_eq!(place(&mut p, &nodes, packs), 1);
        assert_eq!(place(&mut p, &nodes, follows), 4);
        assert_eq!(place(&mut p, &nodes, orphan), 1);
        // pack off: the group dependency draws as random does; the others are unchanged.
        let mut p = primed("pack = false");
        assert_eq!(place(&mut p, &nodes, packs), random_first(&nodes, packs));
        assert_eq!(place(&mut p, &nodes, follows), 4);
        // follow off: the task dependency draws as random does; packing is unchanged.
        let mut p = primed("follow = false");
        assert_eq!(
            place(&mut p, &nodes, follows),
            random_first(&nodes, follows)
        );
        assert_eq!(place(&mut p, &nodes, packs), 1);
        // load_fallback off: the fallback draws as random does; packing is unchanged.
        let mut p = primed("load_fallback = false");
        assert_eq!(place(&mut p, &nodes, orphan), random_first(&nodes, orphan));
        assert_eq!(place(&mut p, &nodes, packs), 1);
        // Each draw differs from its rule's answer, so that the checks above tell an
        // ablation from the full policy.
        for (h, rule) in [(packs, 1), (follows, 4), (orphan, 1)] {
            assert_ne!(random_first(&nodes, h), rule);
        }
    }

    #[test]
    fn passes_the_conformance_checks() {
        for config in [
            "",
            "pack = false",
            "follow = false",
            "load_fallback = false",
        ] {
            cohort_policy::conformance::check::<GroupPolicy>(config).unwrap();
        }
    }
}
