//! Earliest estimated start: the node where the work would start soonest, counting the work
//! queued there and the transfer of the argument bytes it lacks.
//!
//! The rule of Dask's distributed scheduler for tasks with dependencies ("Downstream Task
//! Placement" in `docs/source/scheduling-policies.rst` of dask/distributed, and its
//! `Scheduler.worker_objective`). For each piece of work, [`EesPolicy`]:
//! 1. takes the alive nodes where the demand fits the node's total (none: refused as
//!    infeasible); if some of them hold an argument (a pending argument counts at its
//!    producer's node), only those (Dask considers only the workers holding a dependency);
//! 2. estimates when the work would start on each: the work there, `(busy + queued) *
//!    task_duration / cpus` (Dask's occupancy over the worker's threads), plus the bytes of
//!    the distinct arguments the node does not hold over `bandwidth` (in seconds, `f64`);
//! 3. takes the soonest; ties go to the node holding the fewest bytes in its store (Dask: the
//!    fewest bytes of data), then to the lowest id.
//!
//! Dask measures task durations and the bandwidth as it runs; a cohort policy sees neither,
//! so both are options, with Dask's defaults for what it has not measured yet:
//! `task_duration_ms = 500` (`distributed.scheduler.unknown-task-duration`) and
//! `bandwidth_bytes_per_s = 100000000` (`distributed.scheduler.bandwidth`). Nothing is
//! drawn at random.

#![forbid(unsafe_code)]

use cohort_policy::{NodeId, NodeView, ObjectId, Placement, PlacementView, Policy, PolicyFactory};
use cohort_policy_random::infeasible;
use serde::Deserialize;

/// The policy's options, with Dask's defaults. See the crate documentation.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EesOptions {
    /// The expected duration of a piece of work, in ms (above 0).
    pub task_duration_ms: f64,
    /// The bandwidth a transfer is expected to get, in bytes per second (above 0).
    pub bandwidth_bytes_per_s: f64,
}

impl Default for EesOptions {
    fn default() -> Self {
        EesOptions {
            task_duration_ms: 500.0,
            bandwidth_bytes_per_s: 100_000_000.0,
        }
    }
}

/// The earliest-estimated-start policy. See the crate documentation.
#[derive(Clone, Debug)]
pub struct EesPolicy {
    /// The expected duration of a piece of work, s (above 0).
    duration: f64,
    /// Expected bandwidth, bytes per second (above 0).
    bandwidth: f64,
    /// Scratch: the distinct arguments of one decision, with sizes and where they are.
    args: Vec<(ObjectId, u64)>,
    /// Scratch: (node, object) for every place an argument of one decision is (or will be).
    located: Vec<(NodeId, ObjectId)>,
}

impl EesPolicy {
    /// A policy with `options` (checked by [`PolicyFactory::create`]).
    pub fn new(options: &EesOptions) -> Self {
        EesPolicy {
            duration: options.task_duration_ms / 1e3,
            bandwidth: options.bandwidth_bytes_per_s,
            args: Vec::new(),
            located: Vec::new(),
        }
    }

    /// Whether `node` holds (or will hold) `object`.
    fn holds(&self, node: NodeId, object: ObjectId) -> bool {
        self.located.binary_search(&(node, object)).is_ok()
    }

    /// When the work would start on `n`, s from now.
    fn start(&self, n: &NodeView) -> f64 {
        let queue = (f64::from(n.cpus_busy) + f64::from(n.queued)) * self.duration
            / f64::from(n.cpus_total.max(1));
        let missing: u64 = self
            .args
            .iter()
            .filter(|(o, _)| !self.holds(n.id, *o))
            .map(|(_, size)| *size)
            .fold(0, u64::saturating_add);
        queue + missing as f64 / self.bandwidth
    }
}

impl Policy for EesPolicy {
    fn name(&self) -> &str {
        "ees"
    }

    fn description(&self) -> &str {
        "earliest estimated start (Dask's rule): least queued work plus missing bytes' transfer"
    }

    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        let demand = view.demand;
        self.args.clear();
        self.located.clear();
        for arg in view.distinct_args() {
            self.args.push((arg.object, arg.size));
            self.located
                .extend(view.locations_of(arg).map(|n| (n, arg.object)));
        }
        self.located.sort_unstable();
        let fits = |n: &NodeView| n.alive && n.fits_total(demand);
        let mut best: Option<(f64, u64, NodeId)> = None;
        let mut consider = |n: &NodeView| {
            let key = (self.start(n), n.store_used, n.id);
            let better = best.is_none_or(|b| {
                key.0
                    .total_cmp(&b.0)
                    .then((key.1, key.2).cmp(&(b.1, b.2)))
                    .is_lt()
            });
            if better {
                best = Some(key);
            }
        };
        // The holders the work fits (each once: `located` is sorted by node), else every
        // node it fits.
        let mut any_holder = false;
        for (i, (h, _)) in self.located.iter().enumerate() {
            if i > 0 && self.located[i - 1].0 == *h {
                continue;
            }
            if let Some(n) = view.node(*h).filter(|n| fits(n)) {
                any_holder = true;
                consider(n);
            }
        }
        if !any_holder {
            view.nodes
                .iter()
                .filter(|n| fits(n))
                .for_each(&mut consider);
        }
        match best {
            Some((_, _, id)) => Placement::Node(id),
            None => infeasible(view),
        }
    }

    /// Keeps no history: events would only cost a call each.
    fn wants_events(&self) -> bool {
        false
    }
}

impl PolicyFactory for EesPolicy {
    fn create(config_toml: &str, _seed: u64) -> Result<Self, String> {
        let o: EesOptions = toml::from_str(config_toml)
            .map_err(|e| format!("the ees policy's options: {}", e.message()))?;
        for (name, v) in [
            ("task_duration_ms", o.task_duration_ms),
            ("bandwidth_bytes_per_s", o.bandwidth_bytes_per_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!(
                    "the ees policy's options: {name} = {v} must be a number above 0"
                ));
            }
        }
        Ok(EesPolicy::new(&o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cohort_policy::{ArgState, ArgView};

    fn node(id: u32, total: u32, busy: u32, queued: u32) -> NodeView {
        NodeView::new(NodeId(id), total, busy, queued, 1 << 30)
    }

    fn ready(object: u64, size: u64, start: u32, len: u32) -> ArgView {
        ArgView {
            object: ObjectId(object),
            size,
            state: ArgState::Ready,
            holders_start: start,
            holders_len: len,
            producer_node: NodeId::NONE,
        }
    }

    fn place(config: &str, nodes: &[NodeView], args: &[ArgView], holders: &[NodeId]) -> Placement {
        let mut v = PlacementView::plain_task(nodes, 1);
        v.args = args;
        v.holders = holders;
        EesPolicy::create(config, 0).unwrap().place(&v)
    }

    #[test]
    fn without_arguments_the_least_occupied_node_wins() {
        // Occupancy per CPU: 3/4, 1/2, 1/4 (with one queued), 2/2.
        let nodes = [
            node(0, 4, 3, 0),
            node(1, 2, 1, 0),
            node(2, 4, 0, 1),
            node(3, 2, 2, 0),
        ];
        assert_eq!(place("", &nodes, &[], &[]), Placement::Node(NodeId(2)));
    }

    #[test]
    fn a_holder_wins_unless_its_queue_costs_more_than_the_transfer() {
        // 50 MB held by node 1 only: 0.5 s at 100 MB/s elsewhere.
        let args = [ready(7, 50_000_000, 0, 1)];
        let holders = [NodeId(1)];
        // Only holders are considered: node 1, however busy, against nobody.
        let busy = [node(0, 2, 0, 0), node(1, 2, 2, 4)];
        assert_eq!(
            place("", &busy, &args, &holders),
            Placement::Node(NodeId(1))
        );
        // Two holders: the one with less queued work wins.
        let holders = [NodeId(0), NodeId(1)];
        let args = [ready(7, 50_000_000, 0, 2)];
        assert_eq!(
            place("", &busy, &args, &holders),
            Placement::Node(NodeId(0))
        );
    }

    #[test]
    fn missing_bytes_are_priced_at_the_bandwidth_against_the_queue() {
        // Two arguments: A (40 MB) on nodes 0 and 1, B (10 MB) on node 1. Both hold something.
        let holders = [NodeId(0), NodeId(1), NodeId(1)];
        let args = [ready(1, 40_000_000, 0, 2), ready(2, 10_000_000, 2, 1)];
        // Node 0 idle lacks B: 0.1 s; node 1 with one task on 2 CPUs: 0.25 s of queue.
        let nodes = [node(0, 2, 0, 0), node(1, 2, 1, 0)];
        assert_eq!(
            place("", &nodes, &args, &holders),
            Placement::Node(NodeId(0))
        );
        // At 10 MB/s the missing 10 MB cost 1 s: node 1 wins.
        assert_eq!(
            place("bandwidth_bytes_per_s = 1e7", &nodes, &args, &holders),
            Placement::Node(NodeId(1))
        );
        // With 100 ms tasks, node 1's queue is 50 ms and wins at 100 MB/s too.
        assert_eq!(
            place("task_duration_ms = 100", &nodes, &args, &holders),
            Placement::Node(NodeId(1))
        );
    }

    #[test]
    fn ties_go_to_the_emptier_store_then_the_lower_id() {
        let mut nodes = [node(0, 2, 0, 0), node(1, 2, 0, 0), node(2, 2, 0, 0)];
        nodes[0].store_used = 10;
        assert_eq!(place("", &nodes, &[], &[]), Placement::Node(NodeId(1)));
        nodes[1].alive = false;
        assert_eq!(place("", &nodes, &[], &[]), Placement::Node(NodeId(2)));
        let e = PlacementView::plain_task(&nodes, 3);
        assert!(matches!(
            EesPolicy::create("", 0).unwrap().place(&e),
            Placement::Refuse(r) if r.contains("infeasible")
        ));
    }

    #[test]
    fn options_are_checked_and_the_conformance_checks_pass() {
        for (config, says) in [
            (
                "task_duration_ms = 0",
                "task_duration_ms = 0 must be a number above 0",
            ),
            ("bandwidth = 1", "unknown field `bandwidth`"),
            ("bandwidth_bytes_per_s = -1", "must be a number above 0"),
        ] {
            let e = EesPolicy::create(config, 1).unwrap_err();
            assert!(e.contains(says), "{config}: {e}");
        }
        cohort_policy::conformance::check::<EesPolicy>("").unwrap();
        cohort_policy::conformance::check::<EesPolicy>("task_duration_ms = 1").unwrap();
    }
}
