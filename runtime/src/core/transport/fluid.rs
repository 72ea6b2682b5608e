//! The fluid network model: transfers share NIC bandwidth max-min fairly.
//!
//! Every node has an egress and an ingress link of the same capacity (the NIC bandwidth). A
//! transfer from A to B first waits the fixed per-transfer latency, then *flows*: it uses A's
//! egress and B's ingress, and all flowing transfers get the max-min fair rates of those links
//! (progressive filling). Rates are recomputed whenever a transfer starts or stops flowing, so
//! between two such moments every rate is constant and completion times are exact up to the
//! rounding of the final nanosecond (always rounded up).
//!
//! `Network` is the model; [`FluidTransport`] puts it behind the core's
//! [`Transport`] boundary (its latency timers and wake-ups become the core's timers).

use super::{Outbox, TransferId, TransferRequest, Transport, TransportEvent};
use crate::time::Nanos;
use cohort_policy::NodeId;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One transfer of one object from one node to another.
#[derive(Clone, Debug)]
pub(crate) struct Transfer {
    /// The transfer.
    pub id: TransferId,
    /// Source node.
    pub from: NodeId,
    /// Destination node.
    pub to: NodeId,
    /// Whether it has started flowing (its latency has passed).
    flowing: bool,
    remaining: f64,
    /// At or below this many bytes remaining it is done (floating-point rounding of the
    /// transfers' progress), computed once from its size.
    done_below: f64,
    /// Current rate in bytes per nanosecond (0 while not flowing, and once gone).
    rate: f64,
    /// Completed and handed back: a tombstone until the next compaction.
    gone: bool,
}

impl Transfer {
    /// Whether this transfer is in flight and has started flowing.
    fn is_flowing(&self) -> bool {
        !self.gone && self.flowing
    }

    /// Whether every byte has arrived (up to floating-point rounding).
    fn is_done(&self) -> bool {
        self.is_flowing() && self.remaining <= self.done_below
    }

    /// Sets the rate of this flowing transfer, and returns `soonest` lowered to its time to
    /// completion at that rate (0 if it is done; see [`Network::soonest`]).
    #[inline]
    fn set_rate(&mut self, r: f64, soonest: f64) -> f64 {
        self.rate = r;
        if self.is_done() {
            0.0
        } else if r > 0.0 && soonest != 0.0 {
            soonest.min(self.remaining / r)
        } else {
            soonest
        }
    }

    /// Current rate in bytes per second.
    #[cfg(test)]
    pub fn rate_bytes_per_sec(&self) -> f64 {
        self.rate * 1e9
    }
}

/// All transfers in flight and the state of the fluid model.
///
/// Invariants: the rates of flowing transfers are max-min fair as of `last_update`, and the
/// sum of rates on any link never exceeds its capacity. `transfers` is sorted by id (ids only
/// grow, so a new transfer is pushed at the end), which fixes the order of every scan; a
/// completed transfer stays as a tombstone (`gone`) until tombstones are half of the vector
/// (or at once, while the vector is short), so that a completion never shifts thousands.
#[derive(Debug)]
pub(crate) struct Network {
    /// Link capacity in bytes per nanosecond.
    capacity: f64,
    nodes: usize,
    transfers: Vec<Transfer>,
    /// Tombstones in `transfers`.
    gone: usize,
    last_update: Nanos,
    generation: u64,
    next_id: u64,
    /// Transfers started flowing since the rates were last computed.
    dirty: bool,
    /// Work arrays of [`Network::recompute`], kept to avoid allocating on every event.
    scratch: Scratch,
}

/// The work arrays of one progressive filling, reused from one recomputation to the next.
#[derive(Debug, Default)]
struct Scratch {
    /// Flowing transfers as (index in `transfers`, egress link, ingress link).
    flows: Vec<(usize, usize, usize)>,
    /// Capacity left, unfrozen flows and current fair share, per link (all links; only the
    /// busy ones are meaningful, and every count is 0 between fillings).
    cap: Vec<f64>,
    count: Vec<u32>,
    share: Vec<f64>,
    /// Links with at least one flow, in index order.
    busy: Vec<usize>,
    /// Position of a busy link in `busy` (its slot, when links are not their own slots).
    slot: Vec<usize>,
    /// Heap variant only: the flows of each busy link as compressed rows
    /// (`on_link[start[k]..start[k + 1]]`; `next` is the fill cursor).
    start: Vec<usize>,
    next: Vec<usize>,
    on_link: Vec<usize>,
    heap: BinaryHeap<Reverse<(Share, usize)>>,
    /// Frozen rate per flow, NaN while unfrozen.
    rate: Vec<f64>,
    /// The work arrays of [`Network::recompute_small`].
    small: Small,
}

/// The work arrays of [`Network::recompute_small`], kept between calls so that none is
/// zeroed whole: each call clears the bit sets of the links in use, and writes every flow's
/// entries before reading them.
#[derive(Debug)]
struct Small {
    sets: BitSets,
    /// Flows in id order: flow `f` is `transfers[at[f]]`.
    at: [u32; SCAN_MAX_FLOWS],
    rate: [f64; SCAN_MAX_FLOWS],
}

impl Default for Small {
    fn default() -> Self {
        Small {
            sets: BitSets::new(),
            at: [0; SCAN_MAX_FLOWS],
            rate: [0.0; SCAN_MAX_FLOWS],
        }
    }
}

/// When the network next needs attention, tagged with the generation that must still be
/// current for the wake-up to matter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wake {
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
            transfers: Vec::new(),
            gone: 0,
            last_update: 0,
            generation: 0,
            next_id: 0,
            dirty: false,
            scratch: Scratch::default(),
        }
    }

    /// Transfers in flight (waiting out the latency or flowing).
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.transfers.len() - self.gone
    }

    /// A transfer in flight.
    #[cfg(test)]
    pub fn get(&self, id: TransferId) -> Option<&Transfer> {
        self.position(id)
            .map(|k| &self.transfers[k])
            .filter(|t| !t.gone)
    }

    fn position(&self, id: TransferId) -> Option<usize> {
        self.transfers.binary_search_by_key(&id, |t| t.id).ok()
    }

    /// Registers a transfer that will start flowing after the latency.
    pub fn start(&mut self, from: NodeId, to: NodeId, size: u64) -> TransferId {
        debug_assert_ne!(from, to, "a transfer needs two nodes");
        let id = TransferId(self.next_id);
        self.next_id += 1;
        self.transfers.push(Transfer {
            id,
            from,
            to,
            flowing: false,
            remaining: size as f64,
            done_below: 1e-9 * size as f64 + 1e-6,
            rate: 0.0,
            gone: false,
        });
        id
    }

    /// The latency of `id` has passed: it starts competing for bandwidth.
    #[cfg(test)]
    pub fn begin_flow(&mut self, id: TransferId, now: Nanos) -> Option<Wake> {
        self.start_flowing(id);
        self.settle(now)
    }

    /// Like [`Network::begin_flow`], but leaves the rates to a later [`Network::settle`] at the
    /// same instant, so that many transfers starting together cost one recomputation. Returns
    /// whether `id` is in flight.
    ///
    /// Nothing is advanced here: `id` has no rate yet and no other rate changes before that
    /// settle, which advances every transfer (or a wake-up at the same instant does first).
    pub fn start_flowing(&mut self, id: TransferId) -> bool {
        if let Some(k) = self.position(id).filter(|&k| !self.transfers[k].gone) {
            self.transfers[k].flowing = true;
            self.dirty = true;
            true
        } else {
            false
        }
    }

    /// Recomputes the rates if transfers started flowing since the last recomputation, and
    /// returns the next wake-up. Must be called before time moves on.
    pub fn settle(&mut self, now: Nanos) -> Option<Wake> {
        self.advance(now);
        let soonest = if self.dirty {
            self.recompute()
        } else {
            self.soonest()
        };
        self.wake_after(soonest, now)
    }

    /// Handles a wake-up: appends the ids of the transfers that completed to `completed` (in
    /// id order) and returns the next wake-up. A stale generation does nothing.
    pub fn wake(&mut self, wake: Wake, completed: &mut Vec<TransferId>) -> Option<Wake> {
        if wake.generation != self.generation {
            return None;
        }
        let now = wake.at;
        // Advances every transfer to `now` (as `advance` does) and takes the done ones out, in
        // one pass.
        let dt = now.saturating_sub(self.last_update) as f64;
        self.last_update = now;
        let before = completed.len();
        for t in &mut self.transfers {
            if dt > 0.0 && t.rate > 0.0 {
                t.remaining = (t.remaining - t.rate * dt).max(0.0);
            }
            if t.is_done() {
                t.gone = true;
                t.rate = 0.0;
                completed.push(t.id);
            }
        }
        self.gone += completed.len() - before;
        if self.gone > 0 && (self.transfers.len() <= 64 || 2 * self.gone > self.transfers.len()) {
            // `retain` keeps the rest in id order. Few transfers: compact at once (cheap, and
            // scans stay short); many: only once tombstones are half of them.
            self.transfers.retain(|t| !t.gone);
            self.gone = 0;
        }
        let soonest = self.recompute();
        self.wake_after(soonest, now)
    }

    fn advance(&mut self, now: Nanos) {
        let dt = now.saturating_sub(self.last_update) as f64;
        if dt > 0.0 {
            for t in &mut self.transfers {
                if t.rate > 0.0 {
                    t.remaining = (t.remaining - t.rate * dt).max(0.0);
                }
            }
        }
        self.last_update = now;
    }

    /// Nanoseconds (not rounded) until the soonest completion at the current rates: 0 if a
    /// flowing transfer is done, infinite if none is flowing.
    fn soonest(&self) -> f64 {
        let mut soonest = f64::INFINITY;
        for t in self.transfers.iter().filter(|t| t.is_flowing()) {
            if t.is_done() {
                return 0.0;
            }
            if t.rate > 0.0 {
                soonest = soonest.min(t.remaining / t.rate);
            }
        }
        soonest
    }

    /// The wake-up for a completion `soonest` nanoseconds after `now` (see
    /// [`Network::soonest`]). `ceil` is monotonic, so rounding the smallest time up is rounding
    /// each up and taking the smallest.
    fn wake_after(&self, soonest: f64, now: Nanos) -> Option<Wake> {
        let at = if soonest == 0.0 {
            now
        } else if soonest.is_finite() {
            now.saturating_add(ceil_nanos(soonest))
        } else {
            Nanos::MAX
        };
        (at != Nanos::MAX).then_some(Wake {
            at,
            generation: self.generation,
        })
    }

    /// Recomputes the max-min fair rate of every flowing transfer (see [`Scratch::fill`]) and
    /// returns [`Network::soonest`] at the new rates, found while writing them.
    ///
    /// Only flowing transfers ever have a rate (a transfer's rate is set here and zeroed when
    /// it completes), so those are the only ones written.
    fn recompute(&mut self) -> f64 {
        self.generation += 1;
        self.dirty = false;
        if 2 * self.nodes <= SCAN_MAX_LINKS {
            if let Some(soonest) = self.recompute_small() {
                return soonest;
            }
        }
        let sc = &mut self.scratch;
        // Flows in id order, and their links.
        sc.flows.clear();
        for (k, t) in self.transfers.iter().enumerate() {
            if t.is_flowing() {
                sc.flows
                    .push((k, t.from.index(), self.nodes + t.to.index()));
            }
        }
        if sc.flows.is_empty() {
            return f64::INFINITY;
        }
        sc.fill(2 * self.nodes, self.capacity, Filling::Auto);
        let mut soonest = f64::INFINITY;
        for (&(k, _, _), &r) in sc.flows.iter().zip(sc.rate.iter()) {
            soonest = self.transfers[k].set_rate(r, soonest);
        }
        soonest
    }

    /// [`Network::recompute`]'s filling on a cluster whose links fit a bit set (up to 16
    /// nodes): the bit sets are built straight from the transfers, and the rates kept on the
    /// stack ([`Scratch::fill`] does the same with `Filling::Auto`, bit for bit). `None`, having
    /// changed nothing, if more than 64 transfers are flowing.
    fn recompute_small(&mut self) -> Option<f64> {
        let links = 2 * self.nodes;
        let small = &mut self.scratch.small;
        small.sets.clear(links);
        let mut flows = 0;
        for (k, t) in self.transfers.iter().enumerate() {
            if t.is_flowing() {
                if flows == SCAN_MAX_FLOWS {
                    return None;
                }
                small.at[flows] = k as u32;
                small
                    .sets
                    .add(flows, t.from.index(), self.nodes + t.to.index());
                flows += 1;
            }
        }
        if flows == 0 {
            return Some(f64::INFINITY);
        }
        scan_fill(&mut small.rate, self.capacity, links, flows, &small.sets);
        let mut soonest = f64::INFINITY;
        for (&k, &r) in small.at[..flows].iter().zip(&small.rate[..flows]) {
            soonest = self.transfers[k as usize].set_rate(r, soonest);
        }
        Some(soonest)
    }
}

/// How [`Scratch::fill`] finds the link with the smallest share; both give bit-identical rates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Filling {
    /// A scan on bit sets when the links (up to 16 nodes) or the busy links fit one, else a
    /// heap.
    Auto,
    /// Always scan (at most 32 busy links and 64 flows): O(L²) but no heap traffic.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "the tests compare the strategies")
    )]
    Scan,
    /// Always use the heap: O((F + L) log L).
    Heap,
}

/// Busy links up to which a scan beats the heap (and that fit a `u32` bit set).
const SCAN_MAX_LINKS: usize = 32;
/// Flows up to which the scan applies (they fit a `u64` bit set).
const SCAN_MAX_FLOWS: usize = 64;

impl Scratch {
    /// Progressive filling of `self.flows` over `links` links of `capacity` each: repeatedly
    /// take the link with the smallest fair share (ties to the lowest index), give that share
    /// to its unfrozen flows (in flow order), and charge it to their other link. Leaves the
    /// rates in `self.rate`, in the order of `self.flows`.
    ///
    /// Freezing flows at the smallest share only ever raises the share of the other links, so
    /// the heap variant may skip any popped entry whose share is out of date.
    ///
    /// Cost is in the busy links, not in all links: the per-link arrays keep their size
    /// between calls and only busy entries are written (every count is back to 0 at the end,
    /// as every flow is frozen).
    fn fill(&mut self, links: usize, capacity: f64, filling: Filling) {
        self.rate.clear();
        self.rate.resize(self.flows.len(), f64::NAN);
        if filling != Filling::Heap && links <= SCAN_MAX_LINKS && self.flows.len() <= SCAN_MAX_FLOWS
        {
            // Every link fits a bit set (clusters of up to 16 nodes): the links are the slots.
            let sets = BitSets::of(&self.flows, |l| l);
            scan_fill(&mut self.rate, capacity, links, self.flows.len(), &sets);
            return;
        }
        if self.count.len() != links {
            self.count.clear();
            self.count.resize(links, 0);
            self.cap.resize(links, 0.0);
            self.share.resize(links, 0.0);
            self.slot.resize(links, 0);
        }
        self.busy.clear();
        for &(_, e, i) in &self.flows {
            for l in [e, i] {
                if self.count[l] == 0 {
                    self.busy.push(l);
                }
                self.count[l] += 1;
            }
        }
        self.busy.sort_unstable();
        let small = self.busy.len() <= SCAN_MAX_LINKS && self.flows.len() <= SCAN_MAX_FLOWS;
        let scan = match filling {
            Filling::Auto => small,
            Filling::Scan => {
                assert!(small, "the scan handles at most 32 links and 64 flows");
                true
            }
            Filling::Heap => false,
        };
        if scan {
            self.fill_by_scan(capacity);
        } else {
            for &l in &self.busy {
                self.cap[l] = capacity;
                self.share[l] = fair(capacity, self.count[l]);
            }
            self.fill_by_heap();
        }
        debug_assert!(self.busy.iter().all(|&l| self.count[l] == 0));
    }

    /// Few busy links among many: slot `k` is `busy[k]`, so ascending slots are ascending
    /// links (the same ties); then [`scan_fill`].
    fn fill_by_scan(&mut self, capacity: f64) {
        for (k, &l) in self.busy.iter().enumerate() {
            self.slot[l] = k;
            // The per-link counts go back to 0 (the bit sets count by slot).
            self.count[l] = 0;
        }
        let slot = &self.slot;
        let sets = BitSets::of(&self.flows, |l| slot[l]);
        scan_fill(
            &mut self.rate,
            capacity,
            self.busy.len(),
            self.flows.len(),
            &sets,
        );
    }

    /// Keeps the busy links in a min-heap by share, and the flows of each in compressed rows.
    fn fill_by_heap(&mut self) {
        // `on_link[start[k]..start[k + 1]]` are the flows of the k-th busy link, in order.
        for (k, &l) in self.busy.iter().enumerate() {
            self.slot[l] = k;
        }
        self.start.clear();
        self.start.resize(self.busy.len() + 1, 0);
        for &(_, e, i) in &self.flows {
            self.start[self.slot[e] + 1] += 1;
            self.start[self.slot[i] + 1] += 1;
        }
        for k in 0..self.busy.len() {
            self.start[k + 1] += self.start[k];
        }
        self.next.clone_from(&self.start);
        self.on_link.clear();
        self.on_link.resize(2 * self.flows.len(), 0);
        for (f, &(_, e, i)) in self.flows.iter().enumerate() {
            for l in [e, i] {
                let k = self.slot[l];
                self.on_link[self.next[k]] = f;
                self.next[k] += 1;
            }
        }
        let mut heap = std::mem::take(&mut self.heap);
        heap.clear();
        heap.extend(
            self.busy
                .iter()
                .map(|&l| Reverse((Share(self.share[l]), l))),
        );
        while let Some(Reverse((Share(s), link))) = heap.pop() {
            if self.count[link] == 0 || self.share[link] != s {
                continue; // finished, or superseded by a later entry
            }
            let k = self.slot[link];
            for n in self.start[k]..self.start[k + 1] {
                let f = self.on_link[n];
                if self.rate[f].is_nan() {
                    if let Some(l) = self.freeze(f, link, s) {
                        heap.push(Reverse((Share(self.share[l]), l)));
                    }
                }
            }
        }
        self.heap = heap;
    }

    /// Freezes flow `f` at share `s` of its bottleneck `link`; charges both its links and
    /// returns the other link if its share changed and it still has unfrozen flows.
    #[inline]
    fn freeze(&mut self, f: usize, link: usize, s: f64) -> Option<usize> {
        self.rate[f] = s;
        let (_, e, i) = self.flows[f];
        let mut changed = None;
        for l in [e, i] {
            self.cap[l] -= s;
            self.count[l] -= 1;
            if l != link && self.count[l] > 0 {
                self.share[l] = fair(self.cap[l], self.count[l]);
                changed = Some(l);
            }
        }
        changed
    }
}

/// Flows as bit sets over at most 32 slots (links) and 64 flows: `count[k]` flows cross slot
/// `k`, `on[k]` says which, and flow `f` crosses slots `ends[f]`.
#[derive(Debug)]
struct BitSets {
    count: [u32; SCAN_MAX_LINKS],
    on: [u64; SCAN_MAX_LINKS],
    ends: [(u8, u8); SCAN_MAX_FLOWS],
}

impl BitSets {
    /// No flows.
    fn new() -> BitSets {
        BitSets {
            count: [0; SCAN_MAX_LINKS],
            on: [0; SCAN_MAX_LINKS],
            ends: [(0, 0); SCAN_MAX_FLOWS],
        }
    }

    /// Removes every flow from the first `slots` slots (the only ones in use).
    #[inline]
    fn clear(&mut self, slots: usize) {
        self.count[..slots].fill(0);
        self.on[..slots].fill(0);
    }

    /// Adds flow `f` (the next one), crossing slots `a` and `b`.
    #[inline]
    fn add(&mut self, f: usize, a: usize, b: usize) {
        for k in [a, b] {
            self.count[k] += 1;
            self.on[k] |= 1 << f;
        }
        self.ends[f] = (a as u8, b as u8);
    }

    /// The bit sets of `flows` (as in [`Scratch::flows`]), link `l` being slot `slot(l)`.
    fn of(flows: &[(usize, usize, usize)], slot: impl Fn(usize) -> usize) -> BitSets {
        let mut sets = BitSets::new();
        for (f, &(_, e, i)) in flows.iter().enumerate() {
            sets.add(f, slot(e), slot(i));
        }
        sets
    }
}

/// Progressive filling over the first `slots` slots of `sets`: each round scans the open
/// slots for the smallest share (ties to the lowest slot) and freezes its unfrozen flows, in
/// flow order. Writes the rate of each of the first `flows` flows into `rate`.
fn scan_fill(rate: &mut [f64], capacity: f64, slots: usize, flows: usize, sets: &BitSets) {
    debug_assert!(flows <= SCAN_MAX_FLOWS && rate.len() >= flows);
    let mut count = sets.count;
    let (on, ends) = (&sets.on, &sets.ends);
    let mut cap = [0.0f64; SCAN_MAX_LINKS];
    let mut share = [0.0f64; SCAN_MAX_LINKS];
    let mut open: u32 = 0;
    for k in 0..slots {
        if count[k] > 0 {
            open |= 1 << k;
            cap[k] = capacity;
            share[k] = fair(capacity, count[k]);
        }
    }
    // Bit `f` set while flow `f` is not frozen.
    let mut unfrozen: u64 = if flows == SCAN_MAX_FLOWS {
        u64::MAX
    } else {
        (1 << flows) - 1
    };
    while open != 0 {
        let mut rest = open;
        let mut best = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        while rest != 0 {
            let k = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            if share[k] < share[best] {
                best = k;
            }
        }
        let s = share[best];
        let mut now_frozen = on[best] & unfrozen;
        unfrozen &= !now_frozen;
        while now_frozen != 0 {
            let f = now_frozen.trailing_zeros() as usize;
            now_frozen &= now_frozen - 1;
            rate[f] = s;
            let (a, b) = ends[f];
            for k in [usize::from(a), usize::from(b)] {
                cap[k] -= s;
                count[k] -= 1;
                if k != best {
                    if count[k] > 0 {
                        share[k] = fair(cap[k], count[k]);
                    } else {
                        open &= !(1 << k);
                    }
                }
            }
        }
        open &= !(1 << best);
    }
}

/// `x.ceil() as Nanos` for `x >= 0` (saturating), without the libm call that `ceil` is on
/// the baseline x86-64 target.
fn ceil_nanos(x: f64) -> Nanos {
    let whole = x as Nanos; // truncates; saturates at Nanos::MAX
    if (whole as f64) < x {
        whole.saturating_add(1)
    } else {
        whole
    }
}

/// The fair share of a link: what is left of its capacity, split among its unfrozen flows.
fn fair(cap: f64, count: u32) -> f64 {
    cap.max(0.0) / f64::from(count)
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

/// The fluid model behind the [`Transport`] boundary.
///
/// A transfer waits out the fixed latency (a wake-up), is reported flowing, and competes for
/// bandwidth from then on; the rates are recomputed once per instant at which transfers start
/// flowing (a wake-up at that instant, after everything else due then) and whenever one
/// finishes (a wake-up at the soonest completion).
#[derive(Debug)]
pub struct FluidTransport {
    net: Network,
    latency: Nanos,
    /// The instant a settle wake-up is pending for, if any.
    settle_at: Option<Nanos>,
    /// Transfers a wake-up completed; empty between calls (kept for its buffer).
    completed: Vec<TransferId>,
}

/// The fluid transport's wake-ups, as tokens: settle is 0, the others carry their number in
/// the remaining bits with the lowest bit telling them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FluidWake {
    /// Transfers started flowing at this instant: recompute the rates once for all of them.
    Settle,
    /// A transfer's latency has passed.
    Flow(TransferId),
    /// A completion may be due, if the rates of this generation still hold.
    Network(u64),
}

impl FluidWake {
    fn token(self) -> u64 {
        match self {
            FluidWake::Settle => 0,
            FluidWake::Flow(id) => 1 + 2 * id.0,
            FluidWake::Network(generation) => 2 + 2 * generation,
        }
    }

    fn of(token: u64) -> FluidWake {
        match token {
            0 => FluidWake::Settle,
            t if t % 2 == 1 => FluidWake::Flow(TransferId((t - 1) / 2)),
            t => FluidWake::Network((t - 2) / 2),
        }
    }
}

impl FluidTransport {
    /// A fluid network of `nodes` nodes whose NICs move `bandwidth` bytes per second each way,
    /// with `latency` before each transfer flows.
    pub fn new(nodes: usize, bandwidth: u64, latency: Nanos) -> Self {
        FluidTransport {
            net: Network::new(nodes, bandwidth),
            latency,
            settle_at: None,
            completed: Vec::new(),
        }
    }

    fn begin_flowing(&mut self, id: TransferId, now: Nanos, out: &mut Outbox) {
        if self.net.start_flowing(id) {
            out.report(TransportEvent::Flowing(id));
        }
        if self.settle_at != Some(now) {
            self.settle_at = Some(now);
            out.wake_at(now, FluidWake::Settle.token());
        }
    }

    fn ask_wake(out: &mut Outbox, wake: Option<Wake>) {
        if let Some(w) = wake {
            out.wake_at(w.at, FluidWake::Network(w.generation).token());
        }
    }
}

impl Transport for FluidTransport {
    fn start(&mut self, request: TransferRequest, now: Nanos, out: &mut Outbox) -> TransferId {
        let TransferRequest { from, to, size, .. } = request;
        let id = self.net.start(from, to, size);
        if self.latency == 0 {
            self.begin_flowing(id, now, out);
        } else {
            out.wake_at(now + self.latency, FluidWake::Flow(id).token());
        }
        id
    }

    fn wake(&mut self, token: u64, now: Nanos, out: &mut Outbox) {
        match FluidWake::of(token) {
            FluidWake::Settle => {
                self.settle_at = None;
                let next = self.net.settle(now);
                Self::ask_wake(out, next);
            }
            FluidWake::Flow(id) => self.begin_flowing(id, now, out),
            FluidWake::Network(generation) => {
                let wake = Wake {
                    at: now,
                    generation,
                };
                let next = self.net.wake(wake, &mut self.completed);
                Self::ask_wake(out, next);
                for id in self.completed.drain(..) {
                    out.report(TransportEvent::Arrived(id));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cohort_policy::ObjectId;

    const GB: u64 = 1_000_000_000;

    /// Runs the network to completion and returns (transfer, finish time) pairs.
    fn run(net: &mut Network, mut wake: Option<Wake>) -> Vec<(u64, Nanos)> {
        let mut done = Vec::new();
        while let Some(w) = wake {
            let mut completed = Vec::new();
            let next = net.wake(w, &mut completed);
            done.extend(completed.into_iter().map(|id| (id.0, w.at)));
            wake = next;
        }
        done
    }

    #[test]
    fn one_transfer_moves_at_full_bandwidth() {
        let mut net = Network::new(2, GB); // 1 byte per ns
        let id = net.start(NodeId(0), NodeId(1), 1_000_000);
        let wake = net.begin_flow(id, 0);
        assert_eq!(run(&mut net, wake), vec![(0, 1_000_000)]);
    }

    #[test]
    fn two_transfers_out_of_one_node_share_its_egress() {
        let mut net = Network::new(3, GB);
        let a = net.start(NodeId(0), NodeId(1), 1_000_000);
        let b = net.start(NodeId(0), NodeId(2), 1_000_000);
        net.begin_flow(a, 0);
        let wake = net.begin_flow(b, 0);
        assert_eq!(run(&mut net, wake), vec![(0, 2_000_000), (1, 2_000_000)]);
    }

    #[test]
    fn max_min_fairness_gives_leftover_to_unconstrained_flow() {
        // Flows 0->2 and 1->2 share node 2's ingress; 1->3 competes only with 1->2 at node 1's
        // egress. Max-min: 0->2 and 1->2 get 0.5 each, 1->3 gets the remaining 0.5.
        let mut net = Network::new(4, GB);
        let a = net.start(NodeId(0), NodeId(2), 1_000);
        let b = net.start(NodeId(1), NodeId(2), 1_000);
        let c = net.start(NodeId(1), NodeId(3), 1_000);
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
        let a = net.start(NodeId(0), NodeId(1), 1_000);
        let b = net.start(NodeId(0), NodeId(2), 3_000);
        net.begin_flow(a, 0);
        let wake = net.begin_flow(b, 0);
        // Both at 0.5 B/ns until a finishes at 2000 ns (b has 2000 left), then b alone at 1.
        assert_eq!(run(&mut net, wake), vec![(0, 2_000), (1, 4_000)]);
    }

    #[test]
    fn wake_tokens_round_trip() {
        for w in [
            FluidWake::Settle,
            FluidWake::Flow(TransferId(0)),
            FluidWake::Flow(TransferId(7)),
            FluidWake::Network(0),
            FluidWake::Network(12),
        ] {
            assert_eq!(FluidWake::of(w.token()), w);
        }
    }

    #[test]
    fn through_the_boundary_a_transfer_waits_its_latency_then_flows_then_arrives() {
        // 10 bytes at 1 byte/ns after a 5 ns latency: flowing at 5, arrived at 15.
        let mut t = FluidTransport::new(2, GB, 5);
        let mut out = Outbox::default();
        let req = TransferRequest {
            object: ObjectId(9),
            from: NodeId(1),
            to: NodeId(0),
            size: 10,
        };
        let id = t.start(req, 0, &mut out);
        // A tiny timer queue, as the core keeps one: (time, order of asking, token).
        let (mut now, mut seq) = (0, 0);
        let mut pending: Vec<(Nanos, u64, u64)> = Vec::new();
        let mut log = Vec::new();
        loop {
            for w in out.drain_wakes() {
                assert!(w.at >= now, "a wake-up in the past");
                seq += 1;
                pending.push((w.at, seq, w.token));
            }
            log.extend(out.take_events().into_iter().map(|ev| (now, ev)));
            pending.sort_unstable();
            if pending.is_empty() {
                break;
            }
            let (at, _, token) = pending.remove(0);
            now = at;
            t.wake(token, now, &mut out);
        }
        assert_eq!(
            log,
            vec![
                (5, TransportEvent::Flowing(id)),
                (15, TransportEvent::Arrived(id))
            ]
        );
        assert_eq!(t.net.in_flight(), 0);
    }

    #[test]
    fn many_transfers_on_one_link_are_work_conserving() {
        // 100 transfers (more than the 64 compacted at once, so completed ones linger as
        // tombstones) of 1..=100 KB from node 0 to node 1: the link is never idle, so the last
        // finishes when all the bytes have crossed it, and each finishes exactly once.
        let mut net = Network::new(2, GB);
        for k in 1..=100u64 {
            let id = net.start(NodeId(0), NodeId(1), k * 1_000);
            net.start_flowing(id);
        }
        let wake = net.settle(0);
        let done = run(&mut net, wake);
        assert_eq!(done.len(), 100);
        let mut ids: Vec<u64> = done.iter().map(|d| d.0).collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..100).collect::<Vec<_>>());
        // Each of the 100 completions rounds its instant up to a whole nanosecond.
        let total: u64 = (1..=100u64).map(|k| k * 1_000).sum();
        let last = done.last().expect("all done").1;
        assert!((total..=total + 100).contains(&last), "{last} vs {total}");
        // Equal shares: the smallest finishes when 100 transfers have each moved its size.
        assert_eq!(done[0].0, 0);
        assert!((100_000..=100_001).contains(&done[0].1), "{:?}", done[0]);
        assert_eq!(net.in_flight(), 0);
        assert!(net.get(TransferId(5)).is_none());
    }

    #[test]
    fn stale_wakes_are_ignored() {
        let mut net = Network::new(3, GB);
        let a = net.start(NodeId(0), NodeId(1), 1_000);
        let early = net.begin_flow(a, 0).unwrap();
        let b = net.start(NodeId(0), NodeId(2), 1_000);
        let later = net.begin_flow(b, 0).unwrap();
        let mut completed = Vec::new();
        assert_eq!(net.wake(early, &mut completed), None);
        assert!(completed.is_empty());
        assert_eq!(later.at, 2_000);
    }

    /// Rates from one filling strategy, as bits, for flows given as (from, to) node pairs.
    fn fill_with(nodes: usize, pairs: &[(usize, usize)], filling: Filling) -> Vec<u64> {
        let mut sc = Scratch {
            flows: pairs
                .iter()
                .enumerate()
                .map(|(k, &(a, b))| (k, a, nodes + b))
                .collect(),
            ..Scratch::default()
        };
        sc.fill(2 * nodes, 1.25, filling);
        sc.rate.iter().map(|r| r.to_bits()).collect()
    }

    #[test]
    fn ceil_nanos_is_ceil() {
        for x in [
            0.0,
            0.25,
            1.0,
            1.5,
            2.0 - 1e-12,
            1e15 + 0.5,
            2f64.powi(53),
            2f64.powi(64),
            f64::INFINITY,
        ] {
            assert_eq!(ceil_nanos(x), x.ceil() as Nanos, "{x}");
        }
    }

    proptest::proptest! {
        /// `ceil_nanos` agrees with `ceil` on every non-negative float.
        #[test]
        fn ceil_nanos_agrees(bits in 0u64..0x7ff0_0000_0000_0001) {
            let x = f64::from_bits(bits);
            proptest::prop_assert_eq!(ceil_nanos(x), x.ceil() as Nanos);
        }

        /// The scan and the heap pick the same bottlenecks in the same order, so the rates are
        /// bit for bit the same; with up to 16 nodes (32 links) and 64 flows both apply, and
        /// beyond that `Auto` must switch to the heap.
        #[test]
        fn scan_and_heap_agree(
            nodes in 2usize..40,
            raw in proptest::collection::vec((0usize..40, 1usize..40), 1..120),
        ) {
            let pairs: Vec<(usize, usize)> = raw
                .iter()
                .map(|&(a, d)| (a % nodes, (a % nodes + d % (nodes - 1) + 1) % nodes))
                .collect();
            let heap = fill_with(nodes, &pairs, Filling::Heap);
            proptest::prop_assert_eq!(&heap, &fill_with(nodes, &pairs, Filling::Auto));
            if nodes <= 16 && pairs.len() <= SCAN_MAX_FLOWS {
                proptest::prop_assert_eq!(&heap, &fill_with(nodes, &pairs, Filling::Scan));
            }
        }

        /// Max-min fairness, characterised: no link is over capacity, and every flow has a
        /// bottleneck: a saturated link on which no other flow gets more.
        #[test]
        fn rates_are_max_min_fair(pairs in proptest::collection::vec((0u32..6, 0u32..6), 1..40)) {
            let nodes = 6;
            let mut net = Network::new(nodes, GB);
            let mut ids = Vec::new();
            for (a, b) in &pairs {
                if a == b {
                    continue;
                }
                let id = net.start(NodeId(*a), NodeId(*b), 1 << 30);
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
