//! The checks every placement policy should pass, for a policy's own tests:
//! `cohort_policy::conformance::check::<MyPolicy>("")` returns what it found wrong first.
//!
//! [`check`] feeds a policy a fixed sequence of generated views (seeded, so every run sees the
//! same ones): ordinary clusters of 1 to 8 nodes with random load, dead nodes, demands no node
//! fits, work with and without hints and object arguments; then views a careless runtime or a
//! stale heartbeat could produce (no nodes at all, every node dead, holders and producers
//! naming nodes that do not exist). Each decision must
//! - not panic;
//! - name a node that exists, is alive and fits the demand in its total, or refuse only when
//!   no alive node fits it, or defer (for a positive time) only work the view lets wait
//!   ([`PlacementView::may_defer`], set on a third of the tasks, with various times waited);
//! - be the same for a second instance created with the same configuration and seed and
//!   given the same views and events (determinism).
//!
//! Policies that want events are told where each piece of work went, and that some finished.

use crate::ffi::panic_message;
use crate::{
    ArgState, ArgView, Dependency, GroupId, Hints, NodeId, NodeView, ObjectId, Placement,
    PlacementView, Policy, PolicyEvent, PolicyFactory, Resources, TaskId, WorkKind,
};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Views generated per check.
pub const VIEWS: usize = 600;

/// Checks the policy `P` created with `config_toml` (see the module documentation); the first
/// problem found, naming the view it was found on.
pub fn check<P: PolicyFactory>(config_toml: &str) -> Result<(), String> {
    let mut first = P::create(config_toml, 7).map_err(|e| format!("create: {e}"))?;
    let mut second = P::create(config_toml, 7).map_err(|e| format!("create: {e}"))?;
    let events = first.wants_events();
    let mut views = Generator(0x5eed_0fc0_4047);
    let mut placed: Vec<(TaskId, Hints, NodeId)> = Vec::new();
    for i in 0..VIEWS {
        let case = views.case(i);
        let view = case.view();
        let a = decide(&mut first, &view).map_err(|e| format!("view {i}: {e}"))?;
        let b = decide(&mut second, &view).map_err(|e| format!("view {i}: {e}"))?;
        if a != b {
            return Err(format!(
                "view {i}: two instances with the same seed decided {a:?} and {b:?}"
            ));
        }
        valid(&view, &a).map_err(|e| format!("view {i} ({view:?}): {e}"))?;
        if let (Placement::Node(node), true) = (&a, events) {
            let event = PolicyEvent::Placed {
                task: view.task,
                kind: view.kind,
                hints: view.hints,
                node: *node,
            };
            tell(&mut first, &mut second, &event).map_err(|e| format!("view {i}: {e}"))?;
            placed.push((view.task, view.hints, *node));
        }
        // Now and then, some earlier work finishes.
        if events && views.below(4) == 0 && !placed.is_empty() {
            let (task, hints, node) = placed.swap_remove(views.below(placed.len() as u64) as usize);
            let event = PolicyEvent::Finished { task, hints, node };
            tell(&mut first, &mut second, &event).map_err(|e| format!("view {i}: {e}"))?;
        }
    }
    Ok(())
}

/// The policy's decision, or its panic as an error.
fn decide<P: Policy>(policy: &mut P, view: &PlacementView<'_>) -> Result<Placement, String> {
    catch_unwind(AssertUnwindSafe(|| policy.place(view)))
        .map_err(|p| format!("place panicked: {}", panic_message(&*p)))
}

/// Tells both instances `event`; a panic as an error.
fn tell<P: Policy>(a: &mut P, b: &mut P, event: &PolicyEvent) -> Result<(), String> {
    for p in [a, b] {
        catch_unwind(AssertUnwindSafe(|| p.on_event(event)))
            .map_err(|e| format!("on_event({event:?}) panicked: {}", panic_message(&*e)))?;
    }
    Ok(())
}

/// Whether `placement` is one a runtime accepts for `view` (see the module documentation).
fn valid(view: &PlacementView<'_>, placement: &Placement) -> Result<(), String> {
    let feasible = view.alive_nodes().any(|n| n.fits_total(view.demand));
    match placement {
        Placement::Node(id) => match view.node(*id) {
            None => Err(format!("placed on node {}, which does not exist", id.0)),
            Some(n) if !n.alive => Err(format!("placed on node {}, which is dead", id.0)),
            Some(n) if !n.fits_total(view.demand) => Err(format!(
                "placed {} CPUs on node {}, which has {}",
                view.demand.cpus, id.0, n.cpus_total
            )),
            Some(_) => Ok(()),
        },
        Placement::Refuse(why) if feasible => Err(format!("refused feasible work: {why}")),
        Placement::Refuse(_) => Ok(()),
        Placement::Defer(_) if !view.may_defer => {
            Err("deferred work the runtime would not let wait (may_defer is false)".to_string())
        }
        Placement::Defer(0) => Err("deferred for 0 ns (at least 1)".to_string()),
        Placement::Defer(_) => Ok(()),
    }
}

/// One generated view's data.
struct Case {
    task: TaskId,
    kind: WorkKind,
    hints: Hints,
    demand: Resources,
    args: Vec<ArgView>,
    holders: Vec<NodeId>,
    nodes: Vec<NodeView>,
    now_ns: u64,
    waited_ns: u64,
    may_defer: bool,
}

impl Case {
    fn view(&self) -> PlacementView<'_> {
        PlacementView {
            task: self.task,
            kind: self.kind,
            hints: self.hints,
            demand: self.demand,
            args: &self.args,
            holders: &self.holders,
            nodes: &self.nodes,
            now_ns: self.now_ns,
            view_time_ns: self.now_ns.saturating_sub(self.now_ns % 100_000_000),
            waited_ns: self.waited_ns,
            may_defer: self.may_defer,
        }
    }
}

/// SplitMix64: the generator of the views (fixed seed, so every check sees the same views).
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` above 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// The `i`th view: ordinary ones, and every eighth a malformed or degenerate one.
    fn case(&mut self, i: usize) -> Case {
        let odd = i % 8 == 7;
        let count = match (odd, self.below(4)) {
            (true, 0) => 0,
            _ => 1 + self.below(8) as u32,
        };
        let all_dead = odd && self.below(3) == 0;
        let nodes: Vec<NodeView> = (0..count)
            .map(|id| {
                let total = 1 + self.below(4) as u32;
                let busy = self.below(u64::from(total) + 1) as u32;
                let mut n = NodeView::new(NodeId(id), total, busy, self.below(4) as u32, 1 << 30);
                n.store_used = self.below(1 << 30);
                n.alive = !all_dead && self.below(8) != 0;
                n
            })
            .collect();
        // A node id a malformed view may name: beyond the nodes, or none.
        let some_node = |g: &mut Generator| -> NodeId {
            match (odd, g.below(6)) {
                (true, 0) => NodeId(count + 3),
                (_, 1) => NodeId::NONE,
                _ if count == 0 => NodeId::NONE,
                _ => NodeId(g.below(u64::from(count)) as u32),
            }
        };
        let mut args = Vec::new();
        let mut holders: Vec<NodeId> = Vec::new();
        for a in 0..self.below(4) {
            let object = ObjectId(i as u64 * 8 + a);
            let size = 1 << self.below(25);
            if self.below(3) == 0 {
                let producer_node = some_node(self);
                args.push(ArgView {
                    object,
                    size,
                    state: ArgState::Pending,
                    holders_start: holders.len() as u32,
                    holders_len: 0,
                    producer_node,
                });
            } else {
                let start = holders.len();
                for _ in 0..1 + self.below(3) {
                    let h = some_node(self);
                    if h != NodeId::NONE && !holders[start..].contains(&h) {
                        holders.push(h);
                    }
                }
                holders[start..].sort_unstable();
                args.push(ArgView {
                    object,
                    size,
                    state: ArgState::Ready,
                    holders_start: start as u32,
                    holders_len: (holders.len() - start) as u32,
                    producer_node: holders.get(start).copied().unwrap_or(NodeId::NONE),
                });
            }
        }
        // An argument passed twice now and then.
        if let Some(first) = args.first().copied().filter(|_| self.below(5) == 0) {
            args.push(first);
        }
        let group = GroupId(self.below(4));
        let index = self.below(8) as u32;
        let dependency = match self.below(3) {
            0 => Dependency::None,
            1 => Dependency::Group(GroupId(self.below(4))),
            _ => Dependency::Task(GroupId(self.below(4)), self.below(8) as u32),
        };
        let kind = if self.below(10) == 0 {
            WorkKind::ActorCreation
        } else {
            WorkKind::Task
        };
        Case {
            task: TaskId(i as u64),
            kind,
            hints: Hints {
                group,
                index: if group.is_some() { index } else { 0 },
                dependency,
            },
            demand: Resources {
                cpus: self.below(if odd { 7 } else { 3 }) as u32,
            },
            args,
            holders,
            nodes,
            now_ns: i as u64 * 1_000_000,
            // From the view's number, not the generator, so the views stay as they were.
            waited_ns: (i as u64 % 5) * 1_000_000_000,
            may_defer: kind == WorkKind::Task && i % 3 == 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// First alive node that fits, or a refusal.
    struct FirstFit;
    impl Policy for FirstFit {
        fn name(&self) -> &str {
            "first-fit"
        }
        fn place(&mut self, view: &PlacementView<'_>) -> Placement {
            view.alive_nodes()
                .find(|n| n.fits_total(view.demand))
                .map_or_else(
                    || Placement::Refuse("nothing fits".into()),
                    |n| Placement::Node(n.id),
                )
        }
    }
    impl PolicyFactory for FirstFit {
        fn create(_: &str, _: u64) -> Result<Self, String> {
            Ok(FirstFit)
        }
    }

    #[test]
    fn a_correct_policy_passes() {
        check::<FirstFit>("").unwrap();
    }

    /// Ignores liveness: caught on the first view with a dead first node.
    struct Careless;
    impl Policy for Careless {
        fn name(&self) -> &str {
            "careless"
        }
        fn place(&mut self, view: &PlacementView<'_>) -> Placement {
            Placement::Node(view.nodes[0].id)
        }
    }
    impl PolicyFactory for Careless {
        fn create(_: &str, _: u64) -> Result<Self, String> {
            Ok(Careless)
        }
    }

    #[test]
    fn a_policy_that_places_on_dead_nodes_or_panics_fails() {
        let e = check::<Careless>("").unwrap_err();
        assert!(
            e.contains("which is dead") || e.contains("panicked") || e.contains("CPUs on node"),
            "{e}"
        );
    }

    /// Draws from a process-wide counter: two instances disagree.
    struct Shared;
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    impl Policy for Shared {
        fn name(&self) -> &str {
            "shared"
        }
        fn place(&mut self, view: &PlacementView<'_>) -> Placement {
            let alive: Vec<_> = view
                .alive_nodes()
                .filter(|n| n.fits_total(view.demand))
                .collect();
            if alive.is_empty() {
                return Placement::Refuse("nothing fits".into());
            }
            let k = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) as usize;
            Placement::Node(alive[k % alive.len()].id)
        }
    }
    impl PolicyFactory for Shared {
        fn create(_: &str, _: u64) -> Result<Self, String> {
            Ok(Shared)
        }
    }

    #[test]
    fn a_policy_with_hidden_state_fails_the_determinism_check() {
        let e = check::<Shared>("").unwrap_err();
        assert!(e.contains("two instances with the same seed"), "{e}");
    }

    #[test]
    fn the_views_cover_the_cases_the_module_names() {
        let mut g = Generator(0x5eed_0fc0_4047);
        let cases: Vec<Case> = (0..VIEWS).map(|i| g.case(i)).collect();
        assert!(cases.iter().any(|c| c.nodes.is_empty()));
        assert!(
            cases
                .iter()
                .any(|c| !c.nodes.is_empty() && c.nodes.iter().all(|n| !n.alive))
        );
        assert!(
            cases
                .iter()
                .any(|c| c.holders.iter().any(|h| h.index() >= c.nodes.len()))
        );
        assert!(cases.iter().any(|c| {
            c.view().alive_nodes().next().is_some()
                && !c.view().alive_nodes().any(|n| n.fits_total(c.demand))
        }));
        assert!(
            cases
                .iter()
                .any(|c| c.args.iter().any(|a| a.state == ArgState::Pending))
        );
        assert!(cases.iter().any(|c| c.kind == WorkKind::ActorCreation));
    }
}
