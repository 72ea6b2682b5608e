//! Locality-only placement: the rule later Ray versions adopted, without their load balancing.
//!
//! For each piece of work, [`LocalityPolicy`] places it on the node that holds the most bytes
//! of its object arguments:
//! - a ready argument counts, with its size, at every node holding a copy;
//! - an argument not produced yet counts, with its declared size, at the node its producer
//!   was placed on (and nowhere if that is unknown);
//! - an object passed several times counts once (it is fetched once);
//! - only alive nodes with at least the demanded CPUs in total are candidates (feasibility is
//!   the only load consideration); ties go to the lowest node id.
//!
//! Work without object arguments, or whose arguments are held by no candidate node, is placed
//! as by [`RandomPolicy`] (Ray v0.6's rule), from the policy's own seeded stream.

#![forbid(unsafe_code)]

use cohort_policy::{NodeId, Placement, PlacementView, Policy, PolicyFactory};
use cohort_policy_random::{RandomPolicy, no_options};

/// The locality-only policy. See the crate documentation.
#[derive(Clone, Debug)]
pub struct LocalityPolicy {
    random: RandomPolicy,
    bytes: ArgumentBytes,
}

impl LocalityPolicy {
    /// A policy drawing its random placements from `seed`.
    pub fn new(seed: u64) -> Self {
        LocalityPolicy {
            random: RandomPolicy::new(seed),
            bytes: ArgumentBytes::default(),
        }
    }
}

/// Finds the node holding the most bytes of a task's arguments, by the rule of the crate
/// documentation; keeps its scratch space between decisions.
#[derive(Clone, Debug, Default)]
pub struct ArgumentBytes {
    /// Scratch: (node, bytes) for every copy of every distinct argument.
    located: Vec<(NodeId, u64)>,
    /// Scratch: the nodes [`ArgumentBytes::most`] found.
    most: Vec<NodeId>,
}

impl ArgumentBytes {
    /// The candidate node (alive, fitting the demand in its total) holding the most argument
    /// bytes (ties to the lowest id), if any candidate holds any argument.
    pub fn best(&mut self, view: &PlacementView<'_>) -> Option<NodeId> {
        self.most(view).first().copied()
    }

    /// Every candidate node (alive, fitting the demand in its total) holding the most
    /// argument bytes, ascending; empty if no candidate holds any argument. (Every copy of a
    /// ready argument counts, and the node a pending one's producer was placed on.)
    pub fn most(&mut self, view: &PlacementView<'_>) -> &[NodeId] {
        self.located.clear();
        self.most.clear();
        for arg in view.distinct_args() {
            self.located
                .extend(view.locations_of(arg).map(|n| (n, arg.size)));
        }
        self.located.sort_unstable_by_key(|(node, _)| *node);
        let mut most = 0u64;
        let mut i = 0;
        while i < self.located.len() {
            let node = self.located[i].0;
            let mut bytes = 0u64;
            while i < self.located.len() && self.located[i].0 == node {
                bytes = bytes.saturating_add(self.located[i].1);
                i += 1;
            }
            let candidate = view
                .node(node)
                .is_some_and(|n| n.alive && n.fits_total(view.demand));
            if !candidate {
                continue;
            }
            // Ascending node order: a larger total starts the list again, an equal one joins
            // it (so its first is the lowest id).
            if bytes > most || self.most.is_empty() {
                most = bytes;
                self.most.clear();
            }
            if bytes == most {
                self.most.push(node);
            }
        }
        &self.most
    }
}

impl Policy for LocalityPolicy {
    fn name(&self) -> &str {
        "locality"
    }

    fn description(&self) -> &str {
        "the node holding the most argument bytes, else as random"
    }

    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        match self.bytes.best(view) {
            Some(node) => Placement::Node(node),
            None => self.random.place(view),
        }
    }
    /// Keeps no history: events would only cost a call each.
    fn wants_events(&self) -> bool {
        false
    }
}

impl PolicyFactory for LocalityPolicy {
    fn create(config_toml: &str, seed: u64) -> Result<Self, String> {
        no_options("locality", config_toml)?;
        Ok(LocalityPolicy::new(seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cohort_policy::{
        ArgState, ArgView, Hints, NodeView, ObjectId, Resources, TaskId, WorkKind,
    };

    fn node(id: u32, total: u32, busy: u32, queued: u32) -> NodeView {
        NodeView::new(NodeId(id), total, busy, queued, 1 << 30)
    }

    /// Builds args and their holders: `(object, size, holders)` ready, or `(object, size,
    /// producer)` pending when `holders` is empty and a producer is given.
    struct Args {
        args: Vec<ArgView>,
        holders: Vec<NodeId>,
    }

    impl Args {
        fn new() -> Self {
            Args {
                args: Vec::new(),
                holders: Vec::new(),
            }
        }
        fn ready(mut self, object: u64, size: u64, at: &[u32]) -> Self {
            let start = self.holders.len() as u32;
            self.holders.extend(at.iter().map(|n| NodeId(*n)));
            self.args.push(ArgView {
                object: ObjectId(object),
                size,
                state: ArgState::Ready,
                holders_start: start,
                holders_len: at.len() as u32,
                producer_node: at.first().map_or(NodeId::NONE, |n| NodeId(*n)),
            });
            self
        }
        fn pending(mut self, object: u64, size: u64, producer: Option<u32>) -> Self {
            self.args.push(ArgView {
                object: ObjectId(object),
                size,
                state: ArgState::Pending,
                holders_start: self.holders.len() as u32,
                holders_len: 0,
                producer_node: producer.map_or(NodeId::NONE, NodeId),
            });
            self
        }
        fn view<'a>(&'a self, nodes: &'a [NodeView]) -> PlacementView<'a> {
            PlacementView {
                task: TaskId(1),
                kind: WorkKind::Task,
                hints: Hints::NONE,
                demand: Resources { cpus: 1 },
                args: &self.args,
                holders: &self.holders,
                nodes,
                now_ns: 0,
                view_time_ns: 0,
                waited_ns: 0,
                may_defer: false,
            }
        }
    }

    fn idle(n: u32) -> Vec<NodeView> {
        (0..n).map(|i| node(i, 4, 0, 0)).collect()
    }

    #[test]
    fn most_bytes_wins_regardless_of_load() {
        let mut nodes = idle(4);
        nodes[2].cpus_busy = 4;
        nodes[2].queued = 10;
        let a = Args::new()
            .ready(1, 100, &[0, 2])
            .ready(2, 300, &[2])
            .ready(3, 350, &[1]);
        let mut p = LocalityPolicy::new(0);
        // Node 2 holds 400 bytes, node 1 350, node 0 100: node 2, busy as it is.
        assert_eq!(p.place(&a.view(&nodes)), Placement::Node(NodeId(2)));
    }

    #[test]
    fn pending_arguments_count_at_their_producer() {
        let nodes = idle(4);
        let a = Args::new()
            .ready(1, 500, &[1])
            .pending(2, 400, Some(3))
            .pending(3, 200, Some(3))
            .pending(4, 10_000, None);
        let mut p = LocalityPolicy::new(0);
        assert_eq!(p.place(&a.view(&nodes)), Placement::Node(NodeId(3)));
    }

    #[test]
    fn ties_go_to_the_lowest_id() {
        let nodes = idle(5);
        let a = Args::new().ready(1, 64, &[4, 1]).ready(2, 64, &[3]);
        let mut p = LocalityPolicy::new(0);
        assert_eq!(p.place(&a.view(&nodes)), Placement::Node(NodeId(1)));
        // Zero-byte arguments still locate the work.
        let a = Args::new().ready(1, 0, &[3, 2]);
        assert_eq!(p.place(&a.view(&nodes)), Placement::Node(NodeId(2)));
    }

    #[test]
    fn an_object_passed_twice_counts_once() {
        let nodes = idle(3);
        let a = Args::new()
            .ready(7, 100, &[0])
            .ready(7, 100, &[0])
            .ready(8, 150, &[1]);
        let mut p = LocalityPolicy::new(0);
        assert_eq!(p.place(&a.view(&nodes)), Placement::Node(NodeId(1)));
    }

    #[test]
    fn dead_or_too_small_holders_are_not_candidates() {
        let mut nodes = idle(4);
        nodes[0].alive = false;
        nodes[1].cpus_total = 1;
        let a = Args::new()
            .ready(1, 900, &[0])
            .ready(2, 800, &[1])
            .ready(3, 10, &[3]);
        let mut p = LocalityPolicy::new(0);
        let mut v = a.view(&nodes);
        v.demand = Resources { cpus: 2 };
        assert_eq!(p.place(&v), Placement::Node(NodeId(3)));
        // With one CPU, node 1 is big enough again.
        assert_eq!(p.place(&a.view(&nodes)), Placement::Node(NodeId(1)));
    }

    #[test]
    fn no_located_arguments_is_random() {
        let nodes = idle(5);
        let mut p = LocalityPolicy::new(5);
        let mut r = RandomPolicy::new(5);
        let none = Args::new();
        let unknown = Args::new().pending(1, 100, None);
        let mut dead_only = idle(5);
        dead_only[2].alive = false;
        let on_dead = Args::new().ready(1, 100, &[2]);
        for _ in 0..20 {
            assert_eq!(p.place(&none.view(&nodes)), r.place(&none.view(&nodes)));
            assert_eq!(
                p.place(&unknown.view(&nodes)),
                r.place(&unknown.view(&nodes))
            );
            let got = p.place(&on_dead.view(&dead_only));
            assert_eq!(got, r.place(&on_dead.view(&dead_only)));
            assert_ne!(got, Placement::Node(NodeId(2)));
        }
    }

    #[test]
    fn infeasible_is_refused() {
        let nodes = idle(2);
        let a = Args::new().ready(1, 10, &[0]);
        let mut v = a.view(&nodes);
        v.demand = Resources { cpus: 8 };
        let mut p = LocalityPolicy::new(0);
        assert!(matches!(p.place(&v), Placement::Refuse(r) if r.starts_with("infeasible")));
    }

    #[test]
    fn configuration_must_be_empty() {
        assert!(LocalityPolicy::create("", 0).is_ok());
        assert!(
            LocalityPolicy::create("x = 1", 0)
                .unwrap_err()
                .contains("locality policy takes no options")
        );
    }

    #[test]
    fn passes_the_conformance_checks() {
        cohort_policy::conformance::check::<LocalityPolicy>("").unwrap();
    }
}
