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
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

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
    /// Transfers started flowing since the rates were last computed.
    dirty: bool,
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
            dirty: false,
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
        self.start_flowing(id, now);
        self.settle(now)
    }

    /// Like [`Network::begin_flow`], but leaves the rates to a later [`Network::settle`] at the
    /// same instant, so that many transfers starting together cost one recomputation.
    pub fn start_flowing(&mut self, id: TransferId, now: Nanos) {
        self.advance(now);
        if let Some(t) = self.transfers.get_mut(&id) {
            t.flowing_since = Some(now);
            self.dirty = true;
        }
    }

    /// Recomputes the rates if transfers started flowing since the last recomputation, and
    /// returns the next wake-up. Must be called before time moves on.
    pub fn settle(&mut self, now: Nanos) -> Option<Wake> {
        self.advance(now);
        if self.dirty {
            self.recompute();
        }
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

    /// Progressive filling over the egress (index `n`) and ingress (index `nodes + n`) links:
    /// repeatedly take the link with the smallest fair share (ties to the lowest index),
    /// give that share to its unfrozen flows, and charge it to their other link. Links sit in
    /// a min-heap keyed by share; a link's share only grows as flows elsewhere freeze, so a
    /// popped entry whose share is out of date is simply skipped. O((F + L) log L).
    fn recompute(&mut self) {
        self.generation += 1;
        self.dirty = false;
        let links = 2 * self.nodes;
        // Flows in id order, and their links.
        let mut flows: Vec<(usize, usize, TransferId)> = Vec::new();
        for t in self.transfers.values_mut() {
            t.rate = 0.0;
            if t.flowing_since.is_some() {
                flows.push((t.from.index(), self.nodes + t.to.index(), t.id));
            }
        }
        if flows.is_empty() {
            return;
        }
        // Flows per link, as compressed rows.
        let mut start = vec![0usize; links + 1];
        for &(e, i, _) in &flows {
            start[e + 1] += 1;
            start[i + 1] += 1;
        }
        for l in 0..links {
            start[l + 1] += start[l];
        }
        let mut fill = start.clone();
        let mut on_link = vec![0usize; 2 * flows.len()];
        for (k, &(e, i, _)) in flows.iter().enumerate() {
            for l in [e, i] {
                on_link[fill[l]] = k;
                fill[l] += 1;
            }
        }
        let mut cap = vec![self.capacity; links];
        let mut count: Vec<u32> = (0..links)
            .map(|l| (start[l + 1] - start[l]) as u32)
            .collect();
        let share = |cap: f64, count: u32| cap.max(0.0) / f64::from(count);
        let mut heap: BinaryHeap<Reverse<(Share, usize)>> = (0..links)
            .filter(|&l| count[l] > 0)
            .map(|l| Reverse((Share(share(cap[l], count[l])), l)))
            .collect();
        let mut rate = vec![f64::NAN; flows.len()];
        while let Some(Reverse((Share(s), link))) = heap.pop() {
            if count[link] == 0 || share(cap[link], count[link]) != s {
                continue; // finished, or superseded by a later entry
            }
            for &k in &on_link[start[link]..start[link + 1]] {
                if !rate[k].is_nan() {
                    continue;
                }
                rate[k] = s;
                let (e, i, _) = flows[k];
                for l in [e, i] {
                    cap[l] -= s;
                    count[l] -= 1;
                    if l != link && count[l] > 0 {
                        heap.push(Reverse((Share(share(cap[l], count[l])), l)));
                    }
                }
            }
        }
        for (k, &(_, _, id)) in flows.iter().enumerate() {
            self.transfers.get_mut(&id).expect("flow exists").rate = rate[k];
        }
    }
}

/// A fair share, totally ordered (shares are never NaN).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Share(f64);

impl Eq for Share {}

impl PartialOrd for Share {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Share {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
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

    proptest::proptest! {
        /// Max-min fairness, characterised: no link is over capacity, and every flow has a
        /// bottleneck: a saturated link on which no other flow gets more.
        #[test]
        fn rates_are_max_min_fair(pairs in proptest::collection::vec((0u32..6, 0u32..6), 1..40)) {
            let nodes = 6;
            let mut net = Network::new(nodes, GB);
            let mut ids = Vec::new();
            for (k, (a, b)) in pairs.iter().enumerate() {
                if a == b {
                    continue;
                }
                let id = net.start(ObjectId(k as u64), NodeId(*a), NodeId(*b), 1 << 30, 0);
                net.begin_flow(id, 0);
                ids.push(id);
            }
            let flows: Vec<(usize, usize, f64)> = ids
                .iter()
                .map(|id| {
                    let t = net.get(*id).unwrap();
                    (t.from.index(), nodes + t.to.index(), t.rate)
                })
                .collect();
            let mut load = vec![0.0f64; 2 * nodes];
            for &(e, i, r) in &flows {
                load[e] += r;
                load[i] += r;
            }
            for l in &load {
                proptest::prop_assert!(*l <= 1.0 + 1e-9);
            }
            for &(e, i, r) in &flows {
                proptest::prop_assert!(r > 0.0);
                let bottleneck = [e, i].into_iter().any(|l| {
                    load[l] >= 1.0 - 1e-9
                        && flows
                            .iter()
                            .filter(|f| f.0 == l || f.1 == l)
                            .all(|f| f.2 <= r + 1e-12)
                });
                proptest::prop_assert!(bottleneck, "flow at {} has no bottleneck", r);
            }
        }
    }
}
