//! Delay scheduling: wait a bounded time for a free slot on a node with the data, then take
//! any free slot.
//!
//! The rule of Zaharia, Borthakur, Sen Sarma, Elmeleegy, Shenker and Stoica, "Delay
//! Scheduling: A Simple Technique for Achieving Locality and Fairness in Cluster Scheduling"
//! (EuroSys 2010, section 3), as Spark schedules tasks (`spark.locality.wait`, 3 s by
//! default, in Spark's configuration documentation). For each task, [`DelayPolicy`]:
//! 1. finds its *local* nodes: the candidates (alive, the demand fitting their total) holding
//!    the most bytes of its object arguments (every copy of a ready argument, and the node a
//!    pending one's producer was placed on), all of them if several hold as many;
//! 2. places it on the local node with the most free CPUs (`available - queued`, ties to the
//!    lowest id) if one can start it now;
//! 3. else, if it has waited less than `locality_wait_ms` and the runtime lets it wait,
//!    defers it until the wait is over (the runtime asks again sooner, whenever a slot frees);
//! 4. else places it on the node with the most free CPUs that can start it now (ties to a
//!    local node, then the lowest id), or, if none can, on the first local node: it queues
//!    where its data is. A task without located arguments goes to step 4 at once.
//!
//! Differences from Spark, which offers free slots to tasks rather than placing each task:
//! the wait is counted per task from its submission (Spark counts it per task set, and
//! starts it again whenever one of the set's tasks launches at its best locality level); there
//! are two locality levels (a node with the data, any node), not Spark's five; and the
//! runtime's own bound (ten seconds of waiting in all) caps the wait.
//!
//! Option (the policy's TOML table): `locality_wait_ms` (default 3,000; 0 never waits).

#![forbid(unsafe_code)]

use cohort_policy::{NodeId, NodeView, Placement, PlacementView, Policy, PolicyFactory};
use cohort_policy_locality::ArgumentBytes;
use cohort_policy_random::infeasible;
use serde::Deserialize;

/// The policy's options. See the crate documentation.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct DelayOptions {
    /// How long a task may wait for a free slot on a node with its data, in ms.
    pub locality_wait_ms: u64,
}

impl Default for DelayOptions {
    fn default() -> Self {
        DelayOptions {
            locality_wait_ms: 3_000,
        }
    }
}

/// The delay-scheduling policy. See the crate documentation.
#[derive(Clone, Debug)]
pub struct DelayPolicy {
    wait_ns: u64,
    /// Finds the local nodes (step 1).
    bytes: ArgumentBytes,
}

impl DelayPolicy {
    /// A policy that waits up to `locality_wait_ms` for a local slot.
    pub fn new(locality_wait_ms: u64) -> Self {
        DelayPolicy {
            wait_ns: locality_wait_ms.saturating_mul(1_000_000),
            bytes: ArgumentBytes::default(),
        }
    }
}

/// Whether `n` can start work of `cpus` CPUs now: alive, with that many free after its queue.
fn starts_now(n: &NodeView, cpus: u32) -> bool {
    n.alive && n.cpus_available_minus_queued() >= i64::from(cpus.max(1))
}

impl Policy for DelayPolicy {
    fn name(&self) -> &str {
        "delay"
    }

    fn description(&self) -> &str {
        "delay scheduling (Spark): wait up to 3 s for a free slot where the data is, then any"
    }

    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        let cpus = view.demand.cpus;
        let local = self.bytes.most(view);
        // Step 2: a local node that can start it now, the freest.
        let free = |id: &NodeId| view.node(*id).map(|n| n.cpus_available_minus_queued());
        let local_now = local
            .iter()
            .filter(|id| view.node(**id).is_some_and(|n| starts_now(n, cpus)))
            .max_by_key(|id| (free(id), std::cmp::Reverse(**id)));
        if let Some(&node) = local_now {
            return Placement::Node(node);
        }
        // Step 3: wait for one.
        if !local.is_empty() && view.may_defer && view.waited_ns < self.wait_ns {
            return Placement::Defer(self.wait_ns - view.waited_ns);
        }
        // Step 4: any node that can start it now, else where the data is.
        let any_now = view
            .alive_nodes()
            .filter(|n| n.fits_total(view.demand) && starts_now(n, cpus))
            .max_by_key(|n| {
                (
                    n.cpus_available_minus_queued(),
                    local.contains(&n.id),
                    std::cmp::Reverse(n.id),
                )
            });
        match (any_now, local.first()) {
            (Some(n), _) => Placement::Node(n.id),
            (None, Some(&node)) => Placement::Node(node),
            (None, None) => {
                // No free slot and no data anywhere: the freest node it fits.
                match view
                    .alive_nodes()
                    .filter(|n| n.fits_total(view.demand))
                    .max_by_key(|n| (n.cpus_available_minus_queued(), std::cmp::Reverse(n.id)))
                {
                    Some(n) => Placement::Node(n.id),
                    None => infeasible(view),
                }
            }
        }
    }

    /// Keeps no history: events would only cost a call each.
    fn wants_events(&self) -> bool {
        false
    }
}

impl PolicyFactory for DelayPolicy {
    fn create(config_toml: &str, _seed: u64) -> Result<Self, String> {
        let o: DelayOptions = toml::from_str(config_toml)
            .map_err(|e| format!("the delay policy's options: {}", e.message()))?;
        Ok(DelayPolicy::new(o.locality_wait_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cohort_policy::{ArgState, ArgView, ObjectId};

    fn node(id: u32, total: u32, busy: u32, queued: u32) -> NodeView {
        NodeView::new(NodeId(id), total, busy, queued, 1 << 30)
    }

    /// A task of one CPU reading one `size`-byte object held by `holders`, having waited
    /// `waited` ns, allowed to wait or not; the decision.
    fn decide(
        p: &mut DelayPolicy,
        nodes: &[NodeView],
        holders: &[NodeId],
        waited: u64,
        may_defer: bool,
    ) -> Placement {
        let args = [ArgView {
            object: ObjectId(1),
            size: 1_000,
            state: ArgState::Ready,
            holders_start: 0,
            holders_len: holders.len() as u32,
            producer_node: holders.first().copied().unwrap_or(NodeId::NONE),
        }];
        let mut view = PlacementView::plain_task(nodes, 1);
        view.args = &args;
        view.holders = holders;
        view.waited_ns = waited;
        view.may_defer = may_defer;
        p.place(&view)
    }

    #[test]
    fn a_free_slot_where_the_data_is_is_taken_at_once() {
        let mut p = DelayPolicy::create("", 1).unwrap();
        // Node 1 holds the data and has a free CPU; node 0 is freer but has no data.
        let nodes = [node(0, 4, 0, 0), node(1, 2, 1, 0), node(2, 2, 0, 0)];
        assert_eq!(
            decide(&mut p, &nodes, &[NodeId(1)], 0, true),
            Placement::Node(NodeId(1))
        );
        // Of two replicas with free slots, the freer; ties to the lower id.
        assert_eq!(
            decide(&mut p, &nodes, &[NodeId(1), NodeId(2)], 0, true),
            Placement::Node(NodeId(2))
        );
    }

    #[test]
    fn a_busy_data_node_is_waited_for_until_the_wait_is_over_then_any_free_slot() {
        let mut p = DelayPolicy::create("locality_wait_ms = 3000", 1).unwrap();
        // Node 1 holds the data and is full (its queue too); node 2 is free.
        let nodes = [node(0, 2, 2, 1), node(1, 2, 2, 0), node(2, 2, 1, 0)];
        let data = [NodeId(1)];
        assert_eq!(
            decide(&mut p, &nodes, &data, 0, true),
            Placement::Defer(3_000_000_000)
        );
        assert_eq!(
            decide(&mut p, &nodes, &data, 2_999_999_999, true),
            Placement::Defer(1)
        );
        assert_eq!(
            decide(&mut p, &nodes, &data, 3_000_000_000, true),
            Placement::Node(NodeId(2))
        );
        // Work the runtime will not let wait is placed at once.
        assert_eq!(
            decide(&mut p, &nodes, &data, 0, false),
            Placement::Node(NodeId(2))
        );
    }

    #[test]
    fn with_no_free_slot_anywhere_it_queues_where_the_data_is() {
        let mut p = DelayPolicy::create("locality_wait_ms = 0", 1).unwrap();
        let nodes = [node(0, 2, 2, 0), node(1, 2, 2, 3), node(2, 2, 2, 1)];
        assert_eq!(
            decide(&mut p, &nodes, &[NodeId(1)], 0, true),
            Placement::Node(NodeId(1)),
            "a wait of 0 never defers"
        );
        // Without data: the freest node it fits (all full: the shortest queue).
        assert_eq!(
            decide(&mut p, &nodes, &[], 0, true),
            Placement::Node(NodeId(0))
        );
    }

    #[test]
    fn options_are_checked_and_it_passes_the_conformance_check() {
        assert!(
            DelayPolicy::create("locality_wait = 3", 1)
                .unwrap_err()
                .contains("unknown field `locality_wait`")
        );
        for config in ["", "locality_wait_ms = 0", "locality_wait_ms = 100000"] {
            cohort_policy::conformance::check::<DelayPolicy>(config).unwrap();
        }
    }
}
