//! Ray 2's default placement: the hybrid policy, with locality-aware leasing.
//!
//! Two pieces of Ray 2.x (ray-project/ray) make its default placement of a task:
//! - **locality-aware leasing** (`src/ray/core_worker/lease_policy.cc`; on by default,
//!   `locality_aware_leasing_enabled`): the task's owner asks for a worker at the node holding
//!   the most bytes of the task's arguments, or at its own node if none holds any;
//! - **the hybrid policy** (`src/ray/raylet/scheduling/policy/hybrid_scheduling_policy.cc`),
//!   run by the node asked, which is then the *preferred* node.
//!
//! [`HybridPolicy`] decides as the two do together:
//! 1. The preferred node is the alive node (fitting the demand in its total) holding the most
//!    argument bytes, by `cohort-policy-locality`'s rule, with `locality = true` (the default);
//!    otherwise, or when no such node holds any, `local_node` (default 0: cohort's driver
//!    submits every task, as a Ray driver on the head node does).
//! 2. Each alive node where the demand fits in total gets a score, its utilization
//!    `min(busy + queued, total) / total` CPUs (cohort's load measure, as its `fits_now`),
//!    counted as 0 below `spread_threshold` (default 0.5): lightly loaded nodes are equal.
//! 3. The candidates are the nodes where the demand fits now (`available - queued`), or, if
//!    there are none, every node where it fits in total; none at all: refused as infeasible.
//! 4. The preferred node is taken if it is a candidate and its score is no more than the
//!    lowest: work packs onto it until it passes the threshold.
//! 5. Otherwise the candidates are ordered by score, then id, and one of the first `k` is
//!    drawn uniformly, `k = max(top_k_absolute, floor(nodes * top_k_fraction))` (defaults 1
//!    and 0.2, Ray's `scheduler_top_k_absolute` and `scheduler_top_k_fraction`), `nodes`
//!    counting every node of the view. One number is drawn from the policy's `ChaCha8Rng`
//!    (seeded with the run's seed) per decision that gets this far.
//!
//! Where Ray differs: Ray's owner leases a worker once the arguments exist, and its raylets
//! see each other's load through periodic reports; cohort places at submission (a pending
//! argument counts at its producer's node) and gives the policy the runtime's view, as stale
//! as the run's heartbeat setting makes it.
//!
//! Options (the policy's TOML table): `spread_threshold` and `top_k_fraction` in 0..=1,
//! `top_k_absolute` of at least 1, `locality` (bool), `local_node` (a node id).

#![forbid(unsafe_code)]

use cohort_policy::{NodeId, NodeView, Placement, PlacementView, Policy, PolicyFactory};
use cohort_policy_locality::ArgumentBytes;
use cohort_policy_random::{below, infeasible};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use serde::Deserialize;

/// The policy's options, with Ray 2's defaults. See the crate documentation.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HybridOptions {
    /// Utilization below which a node scores 0.
    pub spread_threshold: f64,
    /// Share of the nodes the random pick is made among.
    pub top_k_fraction: f64,
    /// The least number of nodes the random pick is made among.
    pub top_k_absolute: u32,
    /// Whether the node holding the most argument bytes is preferred (Ray's locality-aware
    /// leasing), rather than `local_node` always.
    pub locality: bool,
    /// The node work is submitted from.
    pub local_node: u32,
}

impl Default for HybridOptions {
    fn default() -> Self {
        HybridOptions {
            spread_threshold: 0.5,
            top_k_fraction: 0.2,
            top_k_absolute: 1,
            locality: true,
            local_node: 0,
        }
    }
}

impl HybridOptions {
    /// Reads the options from the policy's TOML table (empty: the defaults), or says what is
    /// wrong with them.
    pub fn parse(config_toml: &str) -> Result<Self, String> {
        let o: HybridOptions = toml::from_str(config_toml)
            .map_err(|e| format!("the hybrid policy's options: {}", e.message()))?;
        for (name, v) in [
            ("spread_threshold", o.spread_threshold),
            ("top_k_fraction", o.top_k_fraction),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!(
                    "the hybrid policy's options: {name} = {v} is not between 0 and 1"
                ));
            }
        }
        if o.top_k_absolute == 0 {
            return Err(
                "the hybrid policy's options: top_k_absolute must be at least 1".to_string(),
            );
        }
        Ok(o)
    }
}

/// Ray 2's hybrid policy. See the crate documentation.
#[derive(Clone, Debug)]
pub struct HybridPolicy {
    options: HybridOptions,
    rng: ChaCha8Rng,
    bytes: ArgumentBytes,
    /// Scratch: the candidates of one decision scoring 0, in id order.
    zero: Vec<NodeId>,
    /// Scratch: the other candidates of one decision, with their scores.
    scored: Vec<(f64, NodeId)>,
}

impl HybridPolicy {
    /// A policy with `options`, drawing from a `ChaCha8Rng` seeded with `seed`.
    pub fn new(options: HybridOptions, seed: u64) -> Self {
        HybridPolicy {
            options,
            rng: ChaCha8Rng::seed_from_u64(seed),
            bytes: ArgumentBytes::default(),
            zero: Vec::new(),
            scored: Vec::new(),
        }
    }

    /// The node's score: its CPU utilization, 0 below the threshold (tested by a product, so
    /// that the many lightly loaded nodes cost no division).
    fn score(&self, n: &NodeView) -> f64 {
        let used = (u64::from(n.cpus_busy) + u64::from(n.queued)).min(u64::from(n.cpus_total));
        let total = f64::from(n.cpus_total);
        if n.cpus_total > 0 && (used as f64) < self.options.spread_threshold * total {
            0.0
        } else if n.cpus_total == 0 {
            1.0
        } else {
            used as f64 / total
        }
    }
}

impl Policy for HybridPolicy {
    fn name(&self) -> &str {
        "hybrid"
    }

    fn description(&self) -> &str {
        "Ray 2's default: pack below 50% utilization, else random among the least loaded"
    }

    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        let demand = view.demand;
        let local = NodeId(self.options.local_node);
        let preferred = if self.options.locality {
            self.bytes.best(view).unwrap_or(local)
        } else {
            local
        };
        // The candidates: the nodes the demand fits now, or if none, those it fits at all;
        // those scoring 0 in id order, the others with their scores.
        let now = || {
            view.nodes
                .iter()
                .any(|n| n.alive && n.fits_total(demand) && n.fits_now(demand))
        };
        // A preferred candidate scoring 0 scores as low as any: it wins without a look at the
        // others (the same answer as below, where every score is at least 0).
        if let Some(p) = view.node(preferred)
            && p.alive
            && p.fits_total(demand)
            && self.score(p) == 0.0
            && (p.fits_now(demand) || !now())
        {
            return Placement::Node(preferred);
        }
        let now = now();
        let candidate =
            |n: &NodeView| n.alive && n.fits_total(demand) && (!now || n.fits_now(demand));
        self.zero.clear();
        self.scored.clear();
        for n in view.nodes.iter().filter(|n| candidate(n)) {
            let s = self.score(n);
            if s > 0.0 {
                self.scored.push((s, n.id));
            } else {
                self.zero.push(n.id);
            }
        }
        let count = self.zero.len() + self.scored.len();
        if count == 0 {
            return infeasible(view);
        }
        let lowest = if self.zero.is_empty() {
            self.scored
                .iter()
                .map(|c| c.0)
                .fold(f64::INFINITY, f64::min)
        } else {
            0.0
        };
        if let Some(p) = view.node(preferred)
            && candidate(p)
            && self.score(p) <= lowest
        {
            return Placement::Node(preferred);
        }
        let by_share = (view.nodes.len() as f64 * self.options.top_k_fraction) as u64;
        let k = u64::from(self.options.top_k_absolute)
            .max(by_share)
            .min(count as u64);
        // The candidate of that rank by (score, id): among those scoring 0 by position, else
        // found among the others in linear time, not by sorting.
        let rank = below(&mut self.rng, k as u32) as usize;
        if let Some(id) = self.zero.get(rank) {
            return Placement::Node(*id);
        }
        let rank = rank - self.zero.len();
        let (_, picked, _) = self
            .scored
            .select_nth_unstable_by(rank, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        Placement::Node(picked.1)
    }

    /// Keeps no history: events would only cost a call each.
    fn wants_events(&self) -> bool {
        false
    }
}

impl PolicyFactory for HybridPolicy {
    fn create(config_toml: &str, seed: u64) -> Result<Self, String> {
        Ok(HybridPolicy::new(HybridOptions::parse(config_toml)?, seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cohort_policy::{ArgState, ArgView, ObjectId};

    fn node(id: u32, total: u32, busy: u32, queued: u32) -> NodeView {
        NodeView::new(NodeId(id), total, busy, queued, 1 << 30)
    }

    fn idle(count: u32, cpus: u32) -> Vec<NodeView> {
        (0..count).map(|i| node(i, cpus, 0, 0)).collect()
    }

    fn on(p: &mut HybridPolicy, nodes: &[NodeView], cpus: u32) -> u32 {
        match p.place(&PlacementView::plain_task(nodes, cpus)) {
            Placement::Node(n) => n.0,
            other => panic!("{other:?}"),
        }
    }

    fn hybrid(config: &str) -> HybridPolicy {
        HybridPolicy::create(config, 1).unwrap()
    }

    #[test]
    fn work_packs_onto_the_local_node_until_it_passes_the_threshold() {
        let mut nodes = idle(5, 4);
        let mut p = hybrid("");
        let mut got = Vec::new();
        for _ in 0..4 {
            let n = on(&mut p, &nodes, 1);
            nodes[n as usize].cpus_busy += 1;
            got.push(n);
        }
        // Node 0 at 0/4 and 1/4 scores 0, as low as any: it takes the work. At 2/4 it scores
        // 0.5; the others score 0, and k = max(1, floor(5 * 0.2)) = 1: the lowest id of them.
        assert_eq!(got, [0, 0, 1, 1]);
    }

    #[test]
    fn above_the_threshold_everywhere_the_least_utilized_node_wins() {
        let nodes = [
            node(0, 4, 3, 0),
            node(1, 4, 2, 0),
            node(2, 4, 2, 1),
            node(3, 2, 1, 0),
        ];
        let mut p = hybrid("");
        // Utilizations 0.75, 0.5, 0.75, 0.5: nodes 1 and 3 tie; the lower id is first.
        assert_eq!(on(&mut p, &nodes, 1), 1);
        // With the threshold at 0.8, every node scores 0 and the local node is preferred.
        let mut p = hybrid("spread_threshold = 0.8");
        assert_eq!(on(&mut p, &nodes, 1), 0);
    }

    #[test]
    fn the_pick_is_among_the_top_k_only() {
        // Ten nodes, k = max(1, floor(10 * 0.2)) = 2. Node 0 (local) is full; nodes 4 and 7
        // are the least utilized.
        let mut nodes: Vec<NodeView> = (0..10).map(|i| node(i, 4, 3, 0)).collect();
        nodes[0].cpus_busy = 4;
        nodes[4].cpus_busy = 2;
        nodes[7].cpus_busy = 2;
        let mut p = hybrid("");
        let mut seen = std::collections::BTreeMap::new();
        for _ in 0..200 {
            *seen.entry(on(&mut p, &nodes, 1)).or_insert(0) += 1;
        }
        assert_eq!(seen.keys().copied().collect::<Vec<_>>(), [4, 7], "{seen:?}");
        // top_k_absolute raises k: the three 0.75 nodes after them come in too.
        let mut p = hybrid("top_k_absolute = 5");
        let picks: std::collections::BTreeSet<u32> =
            (0..300).map(|_| on(&mut p, &nodes, 1)).collect();
        assert_eq!(picks.into_iter().collect::<Vec<_>>(), [1, 2, 3, 4, 7]);
    }

    #[test]
    fn with_nothing_free_now_it_chooses_among_the_nodes_that_fit_in_total() {
        let nodes = [node(0, 2, 2, 2), node(1, 1, 1, 0), node(2, 2, 2, 0)];
        let mut p = hybrid("");
        // Two CPUs fit nodes 0 and 2 in total; both are at utilization 1. The local node's
        // score is no more than the lowest: it is preferred.
        assert_eq!(on(&mut p, &nodes, 2), 0);
        let mut p = hybrid("local_node = 1");
        assert_eq!(
            on(&mut p, &nodes, 2),
            0,
            "node 1 cannot take 2 CPUs: the lowest id"
        );
        let e = p.place(&PlacementView::plain_task(&nodes, 3));
        assert!(matches!(e, Placement::Refuse(r) if r.contains("infeasible")));
    }

    #[test]
    fn locality_prefers_the_node_holding_the_most_argument_bytes() {
        let mut nodes = idle(4, 2);
        let holders = [NodeId(3)];
        let args = [ArgView {
            object: ObjectId(9),
            size: 10 << 20,
            state: ArgState::Ready,
            holders_start: 0,
            holders_len: 1,
            producer_node: NodeId(3),
        }];
        let view = |nodes: &[NodeView]| -> Placement {
            let mut v = PlacementView::plain_task(nodes, 1);
            v.args = &args;
            v.holders = &holders;
            hybrid("").place(&v)
        };
        assert_eq!(view(&nodes), Placement::Node(NodeId(3)));
        // Once node 3 is past the threshold and the others are not, it is no longer taken.
        nodes[3].cpus_busy = 1;
        assert_eq!(view(&nodes), Placement::Node(NodeId(0)));
        // Without locality the local node is preferred from the start.
        let fresh = idle(4, 2);
        let mut v = PlacementView::plain_task(&fresh, 1);
        v.args = &args;
        v.holders = &holders;
        assert_eq!(
            hybrid("locality = false").place(&v),
            Placement::Node(NodeId(0))
        );
    }

    #[test]
    fn options_are_checked_and_named() {
        assert_eq!(HybridOptions::parse("").unwrap(), HybridOptions::default());
        for (config, says) in [
            ("treshold = 0.5", "unknown field `treshold`"),
            (
                "spread_threshold = 1.5",
                "spread_threshold = 1.5 is not between 0 and 1",
            ),
            (
                "top_k_fraction = -0.1",
                "top_k_fraction = -0.1 is not between 0 and 1",
            ),
            ("top_k_absolute = 0", "top_k_absolute must be at least 1"),
            ("locality = 1", "invalid type"),
        ] {
            let e = HybridPolicy::create(config, 1).unwrap_err();
            assert!(e.contains(says), "{config}: {e}");
        }
    }

    #[test]
    fn passes_the_conformance_checks() {
        cohort_policy::conformance::check::<HybridPolicy>("").unwrap();
        cohort_policy::conformance::check::<HybridPolicy>("locality = false\ntop_k_fraction = 1.0")
            .unwrap();
    }
}
