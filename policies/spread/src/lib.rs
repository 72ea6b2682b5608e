//! SPREAD: Ray 2's round-robin placement over the nodes the work fits.
//!
//! The rule of Ray 2.x's `SPREAD` scheduling strategy
//! (`src/ray/raylet/scheduling/policy/spread_scheduling_policy.cc` in ray-project/ray, 2021
//! on). [`SpreadPolicy`] keeps one cursor, a node id, starting at node 0. For each piece of
//! work it walks the nodes in id order from the cursor, wrapping around, and takes:
//! 1. the first alive node where the demand fits now (`available - queued`, cohort's load
//!    measure; Ray asks its local view whether the resources are available);
//! 2. else the first alive node where it fits the node's total (it will queue there);
//! 3. else nothing: the work is refused as infeasible.
//!
//! The cursor then moves to the node after the one taken. Ray sorts its nodes by id in the
//! same way, so on a cluster of idle nodes work goes 0, 1, 2, ..., 0, 1, 2. Nothing is drawn
//! at random: the seed is not used, and the decisions depend only on the views.

#![forbid(unsafe_code)]

use cohort_policy::{NodeView, Placement, PlacementView, Policy, PolicyFactory};
use cohort_policy_random::{infeasible, no_options};

/// The SPREAD policy. See the crate documentation.
///
/// Invariant: `next` is where the next search starts, taken modulo the number of nodes of
/// the view it is used with (a cluster may grow).
#[derive(Clone, Debug, Default)]
pub struct SpreadPolicy {
    next: usize,
}

impl SpreadPolicy {
    /// A policy whose cursor starts at node 0.
    pub fn new() -> Self {
        SpreadPolicy::default()
    }

    /// The first node from the cursor, in id order and wrapping around, that `keep` accepts.
    fn first_from(&self, nodes: &[NodeView], keep: impl Fn(&NodeView) -> bool) -> Option<usize> {
        let n = nodes.len();
        (0..n)
            .map(|i| (self.next + i) % n)
            .find(|&k| keep(&nodes[k]))
    }
}

impl Policy for SpreadPolicy {
    fn name(&self) -> &str {
        "spread"
    }

    fn description(&self) -> &str {
        "Ray 2's SPREAD: round-robin over nodes with a free CPU, else over nodes it fits"
    }

    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        let demand = view.demand;
        let taken = self
            .first_from(view.nodes, |n| n.alive && n.fits_now(demand))
            .or_else(|| self.first_from(view.nodes, |n| n.alive && n.fits_total(demand)));
        match taken {
            Some(k) => {
                self.next = (k + 1) % view.nodes.len();
                Placement::Node(view.nodes[k].id)
            }
            None => infeasible(view),
        }
    }

    /// Keeps no history but its cursor: events would only cost a call each.
    fn wants_events(&self) -> bool {
        false
    }
}

impl PolicyFactory for SpreadPolicy {
    fn create(config_toml: &str, _seed: u64) -> Result<Self, String> {
        no_options("spread", config_toml)?;
        Ok(SpreadPolicy::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cohort_policy::NodeId;

    fn node(id: u32, total: u32, busy: u32, queued: u32) -> NodeView {
        NodeView::new(NodeId(id), total, busy, queued, 1 << 30)
    }

    fn place(p: &mut SpreadPolicy, nodes: &[NodeView], cpus: u32) -> Placement {
        p.place(&PlacementView::plain_task(nodes, cpus))
    }

    fn on(p: &mut SpreadPolicy, nodes: &[NodeView], cpus: u32) -> u32 {
        match place(p, nodes, cpus) {
            Placement::Node(n) => n.0,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn idle_nodes_take_work_in_turn() {
        let nodes = [node(0, 2, 0, 0), node(1, 2, 0, 0), node(2, 2, 0, 0)];
        let mut p = SpreadPolicy::new();
        let got: Vec<u32> = (0..7).map(|_| on(&mut p, &nodes, 1)).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn a_busy_node_is_passed_over_and_the_cursor_follows_the_node_taken() {
        // Node 1 has no free CPU (busy), node 2 has one queued task for its one free CPU.
        let nodes = [
            node(0, 2, 0, 0),
            node(1, 2, 2, 0),
            node(2, 2, 1, 1),
            node(3, 1, 0, 0),
        ];
        let mut p = SpreadPolicy::new();
        assert_eq!(on(&mut p, &nodes, 1), 0);
        assert_eq!(on(&mut p, &nodes, 1), 3, "1 and 2 are full now");
        assert_eq!(on(&mut p, &nodes, 1), 0, "wraps around");
        // Two CPUs fit nowhere now but node 0; from node 1 on, node 0 is the first.
        assert_eq!(on(&mut p, &nodes, 2), 0);
    }

    #[test]
    fn when_nothing_fits_now_it_spreads_over_the_nodes_that_fit_in_total() {
        let nodes = [node(0, 2, 2, 3), node(1, 1, 1, 0), node(2, 2, 2, 0)];
        let mut p = SpreadPolicy::new();
        let got: Vec<u32> = (0..4).map(|_| on(&mut p, &nodes, 2)).collect();
        assert_eq!(got, [0, 2, 0, 2], "node 1 has one CPU in all");
    }

    #[test]
    fn dead_nodes_are_skipped_and_infeasible_work_refused() {
        let mut nodes = [node(0, 2, 0, 0), node(1, 2, 0, 0), node(2, 2, 0, 0)];
        nodes[1].alive = false;
        let mut p = SpreadPolicy::new();
        let got: Vec<u32> = (0..3).map(|_| on(&mut p, &nodes, 1)).collect();
        assert_eq!(got, [0, 2, 0]);
        assert_eq!(
            place(&mut p, &nodes, 3),
            Placement::Refuse(
                "infeasible: 3 CPUs demanded, but the largest alive node has 2".to_string()
            )
        );
        assert!(matches!(place(&mut p, &[], 1), Placement::Refuse(_)));
    }

    #[test]
    fn a_cluster_that_shrinks_under_the_cursor_wraps_it() {
        let four = [
            node(0, 1, 0, 0),
            node(1, 1, 0, 0),
            node(2, 1, 0, 0),
            node(3, 1, 0, 0),
        ];
        let mut p = SpreadPolicy::new();
        for _ in 0..3 {
            on(&mut p, &four, 1);
        }
        // The cursor is at node 3; a view of two nodes starts from node 3 mod 2 = 1.
        assert_eq!(on(&mut p, &four[..2], 1), 1);
    }

    #[test]
    fn takes_no_options_and_passes_the_conformance_checks() {
        assert!(SpreadPolicy::create("", 1).is_ok());
        let e = SpreadPolicy::create("threshold = 0.5", 1).unwrap_err();
        assert!(e.contains("threshold = 0.5"), "{e}");
        cohort_policy::conformance::check::<SpreadPolicy>("").unwrap();
    }
}
