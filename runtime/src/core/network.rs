//! The network model: a fluid model of transfers sharing NIC bandwidth max-min fairly.
//!
//! Every node has an egress and an ingress link of the same capacity (the NIC bandwidth). A
//! transfer from A to B first waits the fixed per-transfer latency, then *flows*: it uses A's
//! egress and B's ingress, and all flowing transfers get the max-min fair rates of those links
//! (progressive filling). Rates are recomputed whenever a transfer starts or stops flowing, so
//! between two such moments every rate is constant and completion times are exact up to the
//! rounding of the final nanosecond (always rounded up).

use crate::time::Nanos;
use cohort_policy::{NodeId, ObjectId};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// Identifies one transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransferId(pub u64);

/// One transfer of one object from one node to another.
#[derive(Clone, Debug)]
pub struct Transfer {
    /// The transfer.
    pub id: TransferId,
    /// The object being moved.
    pub object: ObjectId,
    /// Source node.
    pub from: NodeId,
    /// Destination node.
    pub to: NodeId,
    /// Bytes to move.
    pub size: u64,
    /// When it was requested.
    pub requested_at: Nanos,
    /// When it started flowing (after the latency), if it has.
    pub flowing_since: Option<Nanos>,
    remaining: f64,
    /// Current rate in bytes per nanosecond (0 while not flowing).
    rate: f64,
}

impl Transfer {
    /// Current rate in bytes per second.
    pub fn rate_bytes_per_sec(&self) -> f64 {
        self.rate * 1e9
    }
}

/// All transfers in flight and the state of the fluid model.
///
/// Invariant: the rates of flowing transfers are max-min fair as of `last_update`, and the sum
/// of rates on any link never exceeds its capacity.
#[derive(Debug)]
pub struct Network {
    /// Link capacity in bytes per nanosecond.
    capacity: f64,
    nodes: usize,
    transfers: BTreeMap<TransferId, Transfer>,
    by_destination: FxHashMap<(ObjectId, NodeId), TransferId>,
    outgoing: Vec<u32>,
    last_update: Nanos,
    generation: u64,
    next_id: u64,
}

/// When the network next needs attention, tagged with the generation that must still be
/// current for the wake-up to matter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wake {
    /// When.
    pub at: Nanos,
    /// Stale if the network has recomputed rates since.
    pub generation: u64,
}

impl Network {
    /// A network of `nodes` nodes whose NICs move `bandwidth` bytes per second each way.
    pub fn new(nodes: usize, bandwidth: u64) -> Self {
        Network {
            capacity: bandwidth as f64 / 1e9,
            nodes,
            transfers: BTreeMap::new(),
            by_destination: FxHashMap::default(),
            outgoing: vec![0; nodes],
            last_update: 0,
            generation: 0,
            next_id: 0,
        }
    }

    /// Transfers in flight (waiting out the latency or flowing).
    pub fn in_flight(&self) -> usize {
        self.transfers.len()
    }

    /// The transfer of `object` to `to` in flight, if any (pulls of one object to one node are
    /// merged into it).
    pub fn find(&self, object: ObjectId, to: NodeId) -> Option<TransferId> {
        self.by_destination.get(&(object, to)).copied()
    }

    /// A transfer in flight.
    pub fn get(&self, id: TransferId) -> Option<&Transfer> {
        self.transfers.get(&id)
    }

    /// Transfers in flight whose source is `node`.
    pub fn outgoing(&self, node: NodeId) -> u32 {
        self.outgoing[node.index()]
    }

    /// Registers a transfer that will start flowing after the latency.
    pub fn start(
        &mut self,
        object: ObjectId,
        from: NodeId,
        to: NodeId,
        size: u64,
        now: Nanos,
    ) -> TransferId {
        debug_assert_ne!(from, to, "a transfer needs two nodes");
        let id = TransferId(self.next_id);
        self.next_id += 1;
        self.transfers.insert(
            id,
            Transfer {
                id,
                object,
                from,
                to,
                size,
                requested_at: now,
                flowing_since: None,
                remaining: size as f64,
                rate: 0.0,
            },
        );
        self.by_destination.insert((object, to), id);
        self.outgoing[from.index()] += 1;
        id
    }

    /// The latency of `id` has passed: it starts competing for bandwidth.
    pub fn begin_flow(&mut self, id: TransferId, now: Nanos) -> Option<Wake> {
        self.advance(now);
        if let Some(t) = self.transfers.get_mut(&id) {
            t.flowing_since = Some(now);
        }
        self.recompute();
        self.next_wake(now)
    }

    /// Handles a wake-up: returns the transfers that completed, and the next wake-up.
    /// A stale generation does nothing.
    pub fn wake(&mut self, wake: Wake) -> (Vec<Transfer>, Option<Wake>) {
        if wake.generation != self.generation {
            return (Vec::new(), None);
        }
        let now = wake.at;
        self.advance(now);
        let done: Vec<TransferId> = self
            .transfers
            .values()
            .filter(|t| t.flowing_since.is_some() && t.remaining <= 1e-9 * t.size as f64 + 1e-6)
            .map(|t| t.id)
            .collect();
        let mut completed = Vec::with_capacity(done.len());
        for id in done {
            let t = self.transfers.remove(&id).expect("listed above");
            self.by_destination.remove(&(t.object, t.to));
            self.outgoing[t.from.index()] -= 1;
            completed.push(t);
        }
        self.recompute();
        (completed, self.next_wake(now))
    }

    fn advance(&mut self, now: Nanos) {
        let dt = now.saturating_sub(self.last_update) as f64;
        if dt > 0.0 {
            for t in self.transfers.values_mut() {
                if t.rate > 0.0 {
                    t.remaining = (t.remaining - t.rate * dt).max(0.0);
                }
            }
        }
        self.last_update = now;
    }

    fn next_wake(&self, now: Nanos) -> Option<Wake> {
        let at = self
            .transfers
            .values()
            .filter(|t| t.flowing_since.is_some())
            .map(|t| {
                if t.remaining <= 1e-9 * t.size as f64 + 1e-6 {
                    now
                } else if t.rate > 0.0 {
                    now.saturating_add((t.remaining / t.rate).ceil() as Nanos)
                } else {
                    Nanos::MAX
                }
            })
            .min()?;
        (at != Nanos::MAX).then_some(Wake {
            at,
            generation: self.generation,
        })
    }

    /// Progressive filling over the egress (index `n`) and ingress (index `nodes + n`) links.
    fn recompute(&mut self) {
        self.generation += 1;
        let links = 2 * self.nodes;
        let mut cap = vec![self.capacity; links];
        let mut count = vec![0u32; links];
        let mut flows: Vec<(usize, usize, TransferId)> = Vec::new();
        for t in self.transfers.values_mut() {
            t.rate = 0.0;
            if t.flowing_since.is_some() {
                let (e, i) = (t.from.index(), self.nodes + t.to.index());
                count[e] += 1;
                count[i] += 1;
                flows.push((e, i, t.id));
            }
        }
        let mut frozen = vec![false; flows.len()];
        let mut left = flows.len();
        while left > 0 {
            // The bottleneck: the link with the smallest fair share; ties to the lowest index.
            let mut best: Option<(f64, usize)> = None;
            for (l, (&c, &n)) in cap.iter().zip(&count).enumerate() {
                if n > 0 {
                    let share = c.max(0.0) / f64::from(n);
                    if best.is_none_or(|(s, _)| share < s) {
                        best = Some((share, l));
                    }
                }
            }
            let Some((share, link)) = best else { break };
            for (k, &(e, i, id)) in flows.iter().enumerate() {
                if frozen[k] || (e != link && i != link) {
                    continue;
                }
                frozen[k] = true;
                left -= 1;
                self.transfers.get_mut(&id).expect("flow exists").rate = share;
                for l in [e, i] {
                    cap[l] -= share;
                    count[l] -= 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1_000_000_000;

    /// Runs the network to completion and returns (transfer, finish time) pairs.
    fn run(net: &mut Network, mut wake: Option<Wake>) -> Vec<(u64, Nanos)> {
        let mut done = Vec::new();
        while let Some(w) = wake {
            let (completed, next) = net.wake(w);
            done.extend(completed.into_iter().map(|t| (t.id.0, w.at)));
            wake = next;
        }
        done
    }

    #[test]
    fn one_transfer_moves_at_full_bandwidth() {
        let mut net = Network::new(2, GB); // 1 byte per ns
        let id = net.start(ObjectId(1), NodeId(0), NodeId(1), 1_000_000, 0);
        let wake = net.begin_flow(id, 0);
        assert_eq!(run(&mut net, wake), vec![(0, 1_000_000)]);
    }

    #[test]
    fn two_transfers_out_of_one_node_share_its_egress() {
        let mut net = Network::new(3, GB);
        let a = net.start(ObjectId(1), NodeId(0), NodeId(1), 1_000_000, 0);
        let b = net.start(ObjectId(2), NodeId(0), NodeId(2), 1_000_000, 0);
        net.begin_flow(a, 0);
        let wake = net.begin_flow(b, 0);
        assert_eq!(run(&mut net, wake), vec![(0, 2_000_000), (1, 2_000_000)]);
    }

    #[test]
    fn max_min_fairness_gives_leftover_to_unconstrained_flow() {
        // Flows 0->2 and 1->2 share node 2's ingress; 1->3 competes only with 1->2 at node 1's
        // egress. Max-min: 0->2 and 1->2 get 0.5 each, 1->3 gets the remaining 0.5.
        let mut net = Network::new(4, GB);
        let a = net.start(ObjectId(1), NodeId(0), NodeId(2), 1_000, 0);
        let b = net.start(ObjectId(2), NodeId(1), NodeId(2), 1_000, 0);
        let c = net.start(ObjectId(3), NodeId(1), NodeId(3), 1_000, 0);
        for id in [a, b, c] {
            net.begin_flow(id, 0);
        }
        let rates: Vec<f64> = [a, b, c]
            .iter()
            .map(|id| net.get(*id).unwrap().rate_bytes_per_sec())
            .collect();
        assert_eq!(rates, vec![0.5e9, 0.5e9, 0.5e9]);
    }

    #[test]
    fn a_finished_transfer_frees_bandwidth_for_the_rest() {
        let mut net = Network::new(3, GB);
        let a = net.start(ObjectId(1), NodeId(0), NodeId(1), 1_000, 0);
        let b = net.start(ObjectId(2), NodeId(0), NodeId(2), 3_000, 0);
        net.begin_flow(a, 0);
        let wake = net.begin_flow(b, 0);
        // Both at 0.5 B/ns until a finishes at 2000 ns (b has 2000 left), then b alone at 1.
        assert_eq!(run(&mut net, wake), vec![(0, 2_000), (1, 4_000)]);
    }

    #[test]
    fn merges_by_destination_and_counts_outgoing() {
        let mut net = Network::new(2, GB);
        let id = net.start(ObjectId(9), NodeId(1), NodeId(0), 10, 5);
        assert_eq!(net.find(ObjectId(9), NodeId(0)), Some(id));
        assert_eq!(net.find(ObjectId(9), NodeId(1)), None);
        assert_eq!(net.outgoing(NodeId(1)), 1);
        let wake = net.begin_flow(id, 5);
        assert_eq!(run(&mut net, wake), vec![(0, 15)]);
        assert_eq!(net.outgoing(NodeId(1)), 0);
        assert_eq!(net.find(ObjectId(9), NodeId(0)), None);
    }

    #[test]
    fn stale_wakes_are_ignored() {
        let mut net = Network::new(3, GB);
        let a = net.start(ObjectId(1), NodeId(0), NodeId(1), 1_000, 0);
        let early = net.begin_flow(a, 0).unwrap();
        let b = net.start(ObjectId(2), NodeId(0), NodeId(2), 1_000, 0);
        let later = net.begin_flow(b, 0).unwrap();
        assert_eq!(net.wake(early).0.len(), 0);
        assert_eq!(later.at, 2_000);
    }
}
