//! Power-of-two choices: probe a few random nodes, place on the least loaded of them.
//!
//! The rule of Sparrow's per-task sampling (Ousterhout, Wendell, Zaharia, Stoica, "Sparrow:
//! Distributed, Low Latency Scheduling", SOSP 2013, section 3.1), after Mitzenmacher's "The
//! Power of Two Choices in Randomized Load Balancing" (IEEE TPDS, 2001). For each piece of
//! work, [`P2cPolicy`]:
//! 1. takes the alive nodes where the demand fits the node's total (none: refused as
//!    infeasible);
//! 2. draws `d` of them (default 2; all of them if there are fewer) uniformly without
//!    replacement, one number per draw from the policy's `ChaCha8Rng` (seeded with the run's
//!    seed), the i-th draw among the nodes not drawn yet, in id order;
//! 3. places the work on the drawn node with the shortest queue, the most
//!    `available - queued` CPUs (cohort's load measure: a Sparrow probe returns a worker's
//!    queue length); ties go to the node drawn first.
//!
//! Sparrow's batch sampling and late binding (a probe reserves a slot; the task goes to the
//! first reservation that comes up) need a runtime that lets a policy wait; this is the rule
//! it improves on, as its paper compares it.
//!
//! Option (the policy's TOML table): `probes`, the `d` above, at least 1.

#![forbid(unsafe_code)]

use cohort_policy::{NodeId, Placement, PlacementView, Policy, PolicyFactory};
use cohort_policy_random::{below, infeasible};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use serde::Deserialize;

/// The policy's options. See the crate documentation.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct P2cOptions {
    /// Nodes probed per decision.
    pub probes: u32,
}

impl Default for P2cOptions {
    fn default() -> Self {
        P2cOptions { probes: 2 }
    }
}

/// The power-of-two-choices policy. See the crate documentation.
#[derive(Clone, Debug)]
pub struct P2cPolicy {
    probes: u32,
    rng: ChaCha8Rng,
    /// Scratch: the nodes not drawn yet in one decision, in id order.
    left: Vec<NodeId>,
}

impl P2cPolicy {
    /// A policy probing `probes` nodes (at least 1), drawing from a `ChaCha8Rng` seeded
    /// with `seed`.
    pub fn new(probes: u32, seed: u64) -> Self {
        P2cPolicy {
            probes: probes.max(1),
            rng: ChaCha8Rng::seed_from_u64(seed),
            left: Vec::new(),
        }
    }
}

impl Policy for P2cPolicy {
    fn name(&self) -> &str {
        "p2c"
    }

    fn description(&self) -> &str {
        "power of two choices (Sparrow's probing): the less loaded of two random nodes"
    }

    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        let demand = view.demand;
        self.left.clear();
        self.left.extend(
            view.alive_nodes()
                .filter(|n| n.fits_total(demand))
                .map(|n| n.id),
        );
        let mut best: Option<(i64, NodeId)> = None;
        for _ in 0..self.probes {
            let Ok(count @ 1..) = u32::try_from(self.left.len()) else {
                break;
            };
            let drawn = self.left.remove(below(&mut self.rng, count) as usize);
            let load = view
                .node(drawn)
                .map_or(i64::MIN, |n| n.cpus_available_minus_queued());
            if best.is_none_or(|(b, _)| load > b) {
                best = Some((load, drawn));
            }
        }
        match best {
            Some((_, node)) => Placement::Node(node),
            None => infeasible(view),
        }
    }

    /// Keeps no history: events would only cost a call each.
    fn wants_events(&self) -> bool {
        false
    }
}

impl PolicyFactory for P2cPolicy {
    fn create(config_toml: &str, seed: u64) -> Result<Self, String> {
        let o: P2cOptions = toml::from_str(config_toml)
            .map_err(|e| format!("the p2c policy's options: {}", e.message()))?;
        if o.probes == 0 {
            return Err("the p2c policy's options: probes must be at least 1".to_string());
        }
        Ok(P2cPolicy::new(o.probes, seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cohort_policy::NodeView;

    fn node(id: u32, total: u32, busy: u32, queued: u32) -> NodeView {
        NodeView::new(NodeId(id), total, busy, queued, 1 << 30)
    }

    fn on(p: &mut P2cPolicy, nodes: &[NodeView], cpus: u32) -> u32 {
        match p.place(&PlacementView::plain_task(nodes, cpus)) {
            Placement::Node(n) => n.0,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_less_loaded_of_two_probes_wins_so_the_most_loaded_node_never_does() {
        // Loads (available - queued): 2, 1, 0, -1, -2. Of any two nodes, the lower id wins.
        let nodes: Vec<NodeView> = (0..5)
            .map(|i| node(i, 2, i.min(2), i.saturating_sub(2)))
            .collect();
        let mut p = P2cPolicy::create("", 3).unwrap();
        let mut seen = [0u32; 5];
        for _ in 0..1000 {
            seen[on(&mut p, &nodes, 1) as usize] += 1;
        }
        // Node k wins when drawn with a node above it: P = (4 - k) / 10 pairs of 10.
        assert_eq!(seen[4], 0, "{seen:?}");
        assert!(
            seen[0] > seen[1] && seen[1] > seen[2] && seen[2] > seen[3],
            "{seen:?}"
        );
        assert!((350..450).contains(&seen[0]), "{seen:?}");
    }

    #[test]
    fn the_draws_are_exact_for_a_seed() {
        let nodes: Vec<NodeView> = (0..4).map(|i| node(i, 4, 0, 0)).collect();
        let mut a = P2cPolicy::create("", 9).unwrap();
        let mut b = P2cPolicy::create("", 9).unwrap();
        let first: Vec<u32> = (0..20).map(|_| on(&mut a, &nodes, 1)).collect();
        let again: Vec<u32> = (0..20).map(|_| on(&mut b, &nodes, 1)).collect();
        assert_eq!(first, again);
        // With equal loads the first node drawn wins: the placements are the first draws,
        // uniform over the nodes.
        assert!((0..4).all(|n| first.contains(&n)), "{first:?}");
    }

    #[test]
    fn one_probe_is_random_placement_and_more_probes_than_nodes_take_the_best() {
        let nodes = [node(0, 2, 2, 1), node(1, 2, 0, 0), node(2, 1, 1, 0)];
        let mut all = P2cPolicy::create("probes = 8", 1).unwrap();
        assert!((0..50).all(|_| on(&mut all, &nodes, 1) == 1));
        let mut one = P2cPolicy::create("probes = 1", 1).unwrap();
        let picks: std::collections::BTreeSet<u32> =
            (0..100).map(|_| on(&mut one, &nodes, 1)).collect();
        assert_eq!(picks.into_iter().collect::<Vec<_>>(), [0, 1, 2]);
        // Two CPUs fit nodes 0 and 1 only; three fit none.
        assert!((0..50).all(|_| on(&mut all, &nodes, 2) == 1));
        assert!(matches!(
            all.place(&PlacementView::plain_task(&nodes, 3)),
            Placement::Refuse(r) if r.contains("infeasible")
        ));
    }

    #[test]
    fn options_are_checked_and_the_conformance_checks_pass() {
        for (config, says) in [
            ("probes = 0", "probes must be at least 1"),
            ("probe = 2", "unknown field `probe`"),
        ] {
            let e = P2cPolicy::create(config, 1).unwrap_err();
            assert!(e.contains(says), "{config}: {e}");
        }
        cohort_policy::conformance::check::<P2cPolicy>("").unwrap();
        cohort_policy::conformance::check::<P2cPolicy>("probes = 3").unwrap();
    }
}
