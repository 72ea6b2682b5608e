//! The fluid network model: transfers share NIC bandwidth max-min fairly.
//!
//! Every node has an egress and an ingress link of the same capacity (the NIC bandwidth). A
//! transfer from A to B first waits the fixed per-transfer latency, then *flows*: it uses A's
//! egress and B's ingress, and all flowing transfers get the max-min fair rates of those links
//! (progressive filling). Rates are recomputed whenever a transfer starts or stops flowing, so
//! between two such moments every rate is constant and completion times are exact up to the
//! rounding of the final nanosecond (always rounded up). With
//! [`NicLimits::Send`] the ingress links have no capacity limit: a
//! transfer's rate is its share of its sender's egress alone.
//!
//! `Network` is the model; [`FluidTransport`] puts it behind the core's
//! [`Transport`] boundary (its latency timers and wake-ups become the core's timers).

use super::{Latency, Outbox, TransferId, TransferRequest, Transport, TransportEvent};
use crate::fault::Slowdown;
use crate::spec::NicLimits;
use crate::time::Nanos;
use cohort_policy::NodeId;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// A transfer waiting out its latency.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    id: TransferId,
    from: NodeId,
    to: NodeId,
    size: u64,
}

/// A flowing transfer of one object from one node to another.
#[derive(Clone, Debug)]
pub(crate) struct Flow {
    /// The transfer.
    pub id: TransferId,
    /// Source node.
    pub from: NodeId,
    /// Destination node.
    pub to: NodeId,
    remaining: f64,
    /// At or below this many bytes remaining it is done (floating-point rounding of the
    /// transfers' progress), computed once from its size.
    done_below: f64,
    /// Current rate in bytes per nanosecond (0 until the first recomputation).
    rate: f64,
}

impl Flow {
    /// Whether every byte has arrived (up to floating-point rounding).
    #[inline]
    fn is_done(&self) -> bool {
        self.remaining <= self.done_below
    }

    /// Moves `dt` nanoseconds on at the current rate.
    #[inline]
    fn advance(&mut self, dt: f64) {
        if self.rate > 0.0 {
            self.remaining = (self.remaining - self.rate * dt).max(0.0);
        }
    }

    /// Sets the rate of this transfer, and returns `soonest` lowered to its time to
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
/// sum of rates on any link never exceeds its capacity. A transfer waits in `waiting` (by
/// id) until its latency has passed, then flows in a *slot* of `flows` (the lowest free one;
/// `live` has a bit per slot in use) until it completes or is given up ([`Network::cancel`]),
/// which frees its slot the same way: nothing of it is left in `live`, `blocked`, `sets` or
/// the counts, so it neither takes a share nor completes afterwards. Every result is
/// independent of which slot a flow has: the progressive filling freezes a round's flows all
/// at one share (so the order among them changes no sum), soonest completions are minima, and
/// completions are reported sorted by id. While no flow has a slot of 64 or above (`beyond` is
/// 0) and the links fit one (up to 16 nodes), `sets` holds the flows as bit sets by slot, kept
/// up to date as flows come and go, and a recomputation only fills them.
#[derive(Debug)]
pub(crate) struct Network {
    /// Each link's capacity in bytes per nanosecond: node `n`'s egress is link `n`, its
    /// ingress link `nodes + n` (infinite when the NICs limit sending only, so an ingress
    /// never bounds a share).
    caps: Vec<f64>,
    /// A NIC's capacity when nothing slows it, in bytes per nanosecond.
    nic: f64,
    /// Whether the NICs limit what a node receives too.
    limits: NicLimits,
    nodes: usize,
    /// Transfers waiting out their latency, by id (ascending).
    waiting: VecDeque<Waiting>,
    /// Flowing transfers by slot (slots not in `live` hold stale values).
    flows: Vec<Flow>,
    /// Bit `s % 64` of word `s / 64` is set while slot `s` holds a flowing transfer.
    live: Vec<u64>,
    /// Like `live`, for the flowing transfers whose link is dropped (a `drop_link` fault):
    /// they keep their slot but take part in no filling, at rate 0 (and are not in `sets`).
    blocked: Vec<u64>,
    /// Pairs of nodes whose link is dropped, each `(lower, higher)`.
    dropped: Vec<(NodeId, NodeId)>,
    /// Slots in use.
    flowing: usize,
    /// Slots in use numbered 64 or above.
    beyond: usize,
    /// The flows of slots below 64 as bit sets over the links (when the links fit one).
    sets: BitSets,
    /// Work arrays of the filling on `sets`.
    work: SlotWork,
    last_update: Nanos,
    generation: u64,
    next_id: u64,
    /// The rates are out of date: since they were last computed, transfers started flowing or
    /// were given up, or a NIC's capacity or a link changed.
    dirty: bool,
    /// Work arrays of [`Network::recompute`], kept to avoid allocating on every event.
    scratch: Scratch,
}

/// The work arrays of one progressive filling, reused from one recomputation to the next.
#[derive(Debug, Default)]
struct Scratch {
    /// Flowing transfers as (slot in `flows`, egress link, ingress link).
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
    /// Work arrays of the bit-set filling.
    work: SlotWork,
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

/// The slots set in `live`, ascending.
fn slots_of(live: &[u64]) -> impl Iterator<Item = usize> + '_ {
    live.iter().enumerate().flat_map(|(w, &word)| {
        let mut bits = word;
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                w * 64 + b
            })
        })
    })
}

impl Network {
    /// A network of `nodes` nodes whose NICs move `bandwidth` bytes per second each way.
    pub fn new(nodes: usize, bandwidth: u64) -> Self {
        let nic = bandwidth as f64 / 1e9;
        Network {
            caps: vec![nic; 2 * nodes],
            nic,
            limits: NicLimits::Both,
            nodes,
            waiting: VecDeque::new(),
            flows: Vec::new(),
            live: Vec::new(),
            blocked: Vec::new(),
            dropped: Vec::new(),
            flowing: 0,
            beyond: 0,
            sets: BitSets::new(),
            work: SlotWork::default(),
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
        self.waiting.len() + self.flowing
    }

    /// A flowing transfer.
    #[cfg(test)]
    pub fn get(&self, id: TransferId) -> Option<&Flow> {
        slots_of(&self.live)
            .map(|s| &self.flows[s])
            .find(|f| f.id == id)
    }

    /// Whether the flows are kept as bit sets (see [`Network`]).
    #[inline]
    fn small_links(&self) -> bool {
        2 * self.nodes <= SCAN_MAX_LINKS
    }

    /// Registers a transfer that will start flowing after the latency.
    pub fn start(&mut self, from: NodeId, to: NodeId, size: u64) -> TransferId {
        debug_assert_ne!(from, to, "a transfer needs two nodes");
        let id = TransferId(self.next_id);
        self.next_id += 1;
        self.waiting.push_back(Waiting { id, from, to, size });
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
    /// whether `id` was waiting out its latency (one given up meanwhile is not).
    ///
    /// Nothing is advanced here: `id` has no rate yet and no other rate changes before that
    /// settle, which advances every transfer (or a wake-up at the same instant does first).
    pub fn start_flowing(&mut self, id: TransferId) -> bool {
        // With a fixed latency, transfers start flowing in the order they started: the first.
        let waiting = if self.waiting.front().is_some_and(|w| w.id == id) {
            self.waiting.pop_front()
        } else {
            let k = self.waiting.binary_search_by_key(&id, |w| w.id);
            k.ok().and_then(|k| self.waiting.remove(k))
        };
        let Some(Waiting { id, from, to, size }) = waiting else {
            return false;
        };
        let flow = Flow {
            id,
            from,
            to,
            remaining: size as f64,
            done_below: 1e-9 * size as f64 + 1e-6,
            rate: 0.0,
        };
        // The lowest free slot.
        let slot = match self.live.iter().position(|&w| w != u64::MAX) {
            Some(w) => w * 64 + (!self.live[w]).trailing_zeros() as usize,
            None => {
                self.live.push(0);
                64 * (self.live.len() - 1)
            }
        };
        self.live[slot / 64] |= 1 << (slot % 64);
        if slot == self.flows.len() {
            self.flows.push(flow);
        } else {
            self.flows[slot] = flow;
        }
        self.flowing += 1;
        if slot >= SCAN_MAX_FLOWS {
            self.beyond += 1;
        }
        if self.link_dropped(from, to) {
            self.set_blocked(slot, true);
        } else if slot < SCAN_MAX_FLOWS && self.small_links() {
            self.sets.add(slot, from.index(), self.nodes + to.index());
        }
        self.dirty = true;
        true
    }

    /// Whether the link between `a` and `b` is dropped.
    fn link_dropped(&self, a: NodeId, b: NodeId) -> bool {
        !self.dropped.is_empty() && self.dropped.contains(&(a.min(b), a.max(b)))
    }

    /// Whether slot `slot` holds a blocked flow.
    fn is_blocked(&self, slot: usize) -> bool {
        self.blocked
            .get(slot / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    fn set_blocked(&mut self, slot: usize, blocked: bool) {
        if self.blocked.len() <= slot / 64 {
            self.blocked.resize(slot / 64 + 1, 0);
        }
        if blocked {
            self.blocked[slot / 64] |= 1 << (slot % 64);
        } else {
            self.blocked[slot / 64] &= !(1 << (slot % 64));
        }
    }

    /// The link between `a` and `b` carries nothing from now on (`dropped`), or carries again.
    /// Transfers between them keep their progress and wait at rate 0 while it is dropped. The
    /// rates change at the next [`Network::settle`], which must come at this instant.
    pub fn drop_link(&mut self, a: NodeId, b: NodeId, dropped: bool) {
        let pair = (a.min(b), a.max(b));
        if dropped {
            if !self.dropped.contains(&pair) {
                self.dropped.push(pair);
            }
        } else {
            self.dropped.retain(|p| *p != pair);
        }
        let small = self.small_links();
        let slots: Vec<usize> = slots_of(&self.live).collect();
        for slot in slots {
            let f = &self.flows[slot];
            let (from, to) = (f.from, f.to);
            if (from.min(to), from.max(to)) != pair || self.is_blocked(slot) == dropped {
                continue;
            }
            self.set_blocked(slot, dropped);
            if slot < SCAN_MAX_FLOWS && small {
                let (e, i) = (from.index(), self.nodes + to.index());
                if dropped {
                    self.sets.remove(slot, e, i);
                } else {
                    self.sets.add(slot, e, i);
                }
            }
        }
        self.dirty = true;
    }

    /// Moves each blocked flow `dt` on at its old rate and stops it (rate 0): the part of a
    /// recomputation the filling, which leaves blocked flows out, does not do.
    fn stop_blocked(&mut self, dt: f64) {
        if self.blocked.iter().all(|&w| w == 0) {
            return;
        }
        let blocked: Vec<usize> = slots_of(&self.blocked).collect();
        for slot in blocked {
            let f = &mut self.flows[slot];
            if dt > 0.0 {
                f.advance(dt);
            }
            f.rate = 0.0;
        }
    }

    /// Frees the slot of a completed (or given up) transfer: out of `live`, `blocked` and
    /// `sets`, so that the next flow to take the slot starts from none of them.
    fn free(&mut self, slot: usize) {
        self.live[slot / 64] &= !(1 << (slot % 64));
        self.flowing -= 1;
        if slot >= SCAN_MAX_FLOWS {
            self.beyond -= 1;
        }
        if self.is_blocked(slot) {
            self.set_blocked(slot, false);
        } else if slot < SCAN_MAX_FLOWS && self.small_links() {
            let f = &self.flows[slot];
            self.sets
                .remove(slot, f.from.index(), self.nodes + f.to.index());
        }
    }

    /// Gives up transfer `id`. Waiting out its latency, it leaves `waiting`, and
    /// [`Network::start_flowing`] no longer finds it. Flowing (blocked or not), it leaves its
    /// slot as a completed transfer does ([`Network::free`]), unreported, and the rates change
    /// at the next [`Network::settle`], which must come at this instant: the other flows keep
    /// their old rates until then, so that this settle (or a wake-up at this instant before it)
    /// moves them on to this instant at those rates. Returns whether it was flowing, that is
    /// whether the rates are to be recomputed. An unknown or completed id changes nothing.
    pub fn cancel(&mut self, id: TransferId) -> bool {
        if let Ok(k) = self.waiting.binary_search_by_key(&id, |w| w.id) {
            self.waiting.remove(k);
            return false;
        }
        let Some(slot) = slots_of(&self.live).find(|&s| self.flows[s].id == id) else {
            return false;
        };
        self.free(slot);
        self.dirty = true;
        true
    }

    /// Node `node`'s NIC moves bytes `by` times slower each way (at full speed with `None`).
    /// The rates change at the next [`Network::settle`], which must come at this instant.
    pub fn slow_nic(&mut self, node: NodeId, by: Option<Slowdown>) {
        let cap = match by {
            Some(by) => self.nic * f64::from(Slowdown::MILLI) / f64::from(by.milli()),
            None => self.nic,
        };
        self.caps[node.index()] = cap;
        self.caps[self.nodes + node.index()] = self.ingress(cap);
        self.dirty = true;
    }

    /// The NICs limit the directions `limits` says (both as built). Call before any flow.
    fn set_limits(&mut self, limits: NicLimits) {
        self.limits = limits;
        for n in 0..self.nodes {
            self.caps[self.nodes + n] = self.ingress(self.caps[n]);
        }
    }

    /// An ingress link's capacity for a NIC of capacity `cap`.
    fn ingress(&self, cap: f64) -> f64 {
        match self.limits {
            NicLimits::Both => cap,
            NicLimits::Send => f64::INFINITY,
        }
    }

    /// Recomputes the rates if they are out of date (see `dirty`), and returns the next wake-up.
    /// Must be called before time moves on.
    pub fn settle(&mut self, now: Nanos) -> Option<Wake> {
        let dt = now.saturating_sub(self.last_update) as f64;
        self.last_update = now;
        let soonest = if self.dirty {
            self.recompute(dt)
        } else {
            self.advance(dt);
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
        for w in 0..self.live.len() {
            let mut bits = self.live[w];
            while bits != 0 {
                let slot = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let f = &mut self.flows[slot];
                if dt > 0.0 {
                    f.advance(dt);
                }
                if f.is_done() {
                    completed.push(f.id);
                    self.free(slot);
                }
            }
        }
        completed[before..].sort_unstable();
        let soonest = self.recompute(0.0);
        self.wake_after(soonest, now)
    }

    /// Moves every flow `dt` nanoseconds on at its current rate.
    fn advance(&mut self, dt: f64) {
        if dt > 0.0 {
            for slot in slots_of(&self.live) {
                self.flows[slot].advance(dt);
            }
        }
    }

    /// Nanoseconds (not rounded) until the soonest completion at the current rates: 0 if a
    /// flowing transfer is done, infinite if none is flowing.
    fn soonest(&self) -> f64 {
        let mut soonest = f64::INFINITY;
        for slot in slots_of(&self.live) {
            let f = &self.flows[slot];
            if f.is_done() {
                return 0.0;
            }
            if f.rate > 0.0 {
                soonest = soonest.min(f.remaining / f.rate);
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

    /// Moves every flow `dt` nanoseconds on at its current rate (see [`Network::advance`]),
    /// then recomputes the max-min fair rate of every flowing transfer (see [`Scratch::fill`])
    /// and returns [`Network::soonest`] at the new rates, found while writing them.
    fn recompute(&mut self, dt: f64) -> f64 {
        self.generation += 1;
        self.dirty = false;
        if self.flowing == 0 {
            return f64::INFINITY;
        }
        if self.small_links() && self.beyond == 0 {
            self.stop_blocked(dt);
            return self.recompute_small(dt);
        }
        self.advance(dt);
        self.stop_blocked(0.0);
        let sc = &mut self.scratch;
        // Flows in id order, and their links (blocked flows take no part).
        sc.flows.clear();
        for slot in slots_of(&self.live) {
            let blocked = self
                .blocked
                .get(slot / 64)
                .is_some_and(|w| w & (1 << (slot % 64)) != 0);
            if blocked {
                continue;
            }
            let f = &self.flows[slot];
            sc.flows
                .push((slot, f.from.index(), self.nodes + f.to.index()));
        }
        let flows = &self.flows;
        sc.flows
            .sort_unstable_by_key(|&(slot, _, _)| flows[slot].id);
        sc.fill(&self.caps, Filling::Auto);
        let mut soonest = f64::INFINITY;
        for (&(slot, _, _), &r) in sc.flows.iter().zip(sc.rate.iter()) {
            soonest = self.flows[slot].set_rate(r, soonest);
        }
        soonest
    }

    /// [`Network::recompute`] when every flow is in `sets`: the filling runs on them as they
    /// are (flow `f` being slot `f`), giving the rates [`Scratch::fill`] gives bit for bit.
    /// A round's flows all get one share `s`, so the soonest of them to complete is the one
    /// with the least left (division by `s` is monotonic).
    ///
    /// Each flow is moved `dt` on at its old rate just before it gets its new one (every flow
    /// is in exactly one round), which is what advancing them all first does.
    fn recompute_small(&mut self, dt: f64) -> f64 {
        let Network {
            flows,
            live,
            sets,
            work,
            caps,
            blocked,
            ..
        } = self;
        let mut soonest = f64::INFINITY;
        let mut any_done = false;
        let caps: &[f64] = caps;
        let unfrozen = live[0] & !blocked.first().copied().unwrap_or(0);
        scan_fill(
            |k| caps[k],
            caps.len(),
            unfrozen,
            sets,
            work,
            |round, s| {
                let mut least = f64::INFINITY;
                let mut bits = round;
                while bits != 0 {
                    let f = &mut flows[bits.trailing_zeros() as usize];
                    bits &= bits - 1;
                    if dt > 0.0 {
                        f.advance(dt);
                    }
                    f.rate = s;
                    any_done |= f.is_done();
                    if f.remaining < least {
                        least = f.remaining;
                    }
                }
                if s > 0.0 {
                    soonest = soonest.min(least / s);
                }
            },
        );
        if any_done { 0.0 } else { soonest }
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
    /// Progressive filling of `self.flows` over the links of `caps` (their capacities): repeatedly
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
    fn fill(&mut self, caps: &[f64], filling: Filling) {
        let links = caps.len();
        self.rate.clear();
        self.rate.resize(self.flows.len(), f64::NAN);
        if filling != Filling::Heap && links <= SCAN_MAX_LINKS && self.flows.len() <= SCAN_MAX_FLOWS
        {
            // Every link fits a bit set (clusters of up to 16 nodes): the links are the slots.
            let sets = BitSets::of(&self.flows, |l| l);
            let rate = &mut self.rate;
            scan_fill(
                |l| caps[l],
                links,
                first_flows(self.flows.len()),
                &sets,
                &mut self.work,
                |frozen, s| write_rates(rate, frozen, s),
            );
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
            self.fill_by_scan(caps);
        } else {
            for &l in &self.busy {
                self.cap[l] = caps[l];
                self.share[l] = fair(caps[l], self.count[l]);
            }
            self.fill_by_heap();
        }
        debug_assert!(self.busy.iter().all(|&l| self.count[l] == 0));
    }

    /// Few busy links among many: slot `k` is `busy[k]`, so ascending slots are ascending
    /// links (the same ties); then [`scan_fill`].
    fn fill_by_scan(&mut self, caps: &[f64]) {
        for (k, &l) in self.busy.iter().enumerate() {
            self.slot[l] = k;
            // The per-link counts go back to 0 (the bit sets count by slot).
            self.count[l] = 0;
        }
        let slot = &self.slot;
        let sets = BitSets::of(&self.flows, |l| slot[l]);
        let rate = &mut self.rate;
        let busy = &self.busy;
        scan_fill(
            |k| caps[busy[k]],
            self.busy.len(),
            first_flows(self.flows.len()),
            &sets,
            &mut self.work,
            |frozen, s| write_rates(rate, frozen, s),
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

    /// Adds flow `f`, crossing slots `a` and `b`.
    #[inline]
    fn add(&mut self, f: usize, a: usize, b: usize) {
        for k in [a, b] {
            self.count[k] += 1;
            self.on[k] |= 1 << f;
        }
        self.ends[f] = (a as u8, b as u8);
    }

    /// Removes flow `f`, which crosses slots `a` and `b`.
    #[inline]
    fn remove(&mut self, f: usize, a: usize, b: usize) {
        for k in [a, b] {
            self.count[k] -= 1;
            self.on[k] &= !(1 << f);
        }
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

/// The per-slot work arrays of [`scan_fill`]: unfrozen flows, capacity left and fair share.
/// Kept between fillings (only the slots in use are written, each before it is read), so
/// that none is zeroed whole.
#[derive(Debug)]
struct SlotWork {
    count: [u32; SCAN_MAX_LINKS],
    cap: [f64; SCAN_MAX_LINKS],
    share: [f64; SCAN_MAX_LINKS],
}

impl Default for SlotWork {
    fn default() -> Self {
        SlotWork {
            count: [0; SCAN_MAX_LINKS],
            cap: [0.0; SCAN_MAX_LINKS],
            share: [0.0; SCAN_MAX_LINKS],
        }
    }
}

/// Progressive filling over the first `slots` slots of `sets`, of the flows in `unfrozen`
/// (all the flows `sets` holds): each round scans the open slots for the smallest share (ties
/// to the lowest slot) and freezes its unfrozen flows at that share `s`, in flow order, then
/// calls `on_round(frozen, s)` with the bit set of the flows it froze. Which number a flow
/// has changes nothing: a round charges the same `s` once per flow to each link, in whatever
/// order, and the next round starts from the same state. (The heap variant charges both links
/// of a flow and updates a share at every charge; here the bottleneck, never read again, is
/// not charged, and a share is computed once, after the round's last charge to its link: the
/// same value.)
fn scan_fill(
    capacity: impl Fn(usize) -> f64,
    slots: usize,
    mut unfrozen: u64,
    sets: &BitSets,
    work: &mut SlotWork,
    mut on_round: impl FnMut(u64, f64),
) {
    let SlotWork { count, cap, share } = work;
    count[..slots].copy_from_slice(&sets.count[..slots]);
    let (on, ends) = (&sets.on, &sets.ends);
    let mut open: u32 = 0;
    for k in 0..slots {
        if count[k] > 0 {
            open |= 1 << k;
            cap[k] = capacity(k);
            share[k] = fair(cap[k], count[k]);
        }
    }
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
        let frozen = on[best] & unfrozen;
        unfrozen &= !frozen;
        // Every flow of `best` freezes now, so `best` is never read again: only each flow's
        // other link is charged, and its share is the one after the round's last charge.
        let mut touched: u32 = 0;
        let mut bits = frozen;
        while bits != 0 {
            let f = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let (a, b) = ends[f];
            let k = if usize::from(a) == best { b } else { a };
            let k = usize::from(k);
            cap[k] -= s;
            count[k] -= 1;
            touched |= 1 << k;
        }
        open &= !(1 << best);
        while touched != 0 {
            let k = touched.trailing_zeros() as usize;
            touched &= touched - 1;
            if count[k] > 0 {
                share[k] = fair(cap[k], count[k]);
            } else {
                open &= !(1 << k);
            }
        }
        on_round(frozen, s);
    }
}

/// The flows `0..n` as a bit set.
fn first_flows(n: usize) -> u64 {
    debug_assert!(n <= SCAN_MAX_FLOWS);
    if n == SCAN_MAX_FLOWS {
        u64::MAX
    } else {
        (1 << n) - 1
    }
}

/// Writes share `s` as the rate of each flow in `frozen`.
fn write_rates(rate: &mut [f64], frozen: u64, s: f64) {
    let mut bits = frozen;
    while bits != 0 {
        rate[bits.trailing_zeros() as usize] = s;
        bits &= bits - 1;
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
/// finishes (a wake-up at the soonest completion). A transfer given up during its latency
/// never flows (its latency wake-up then does nothing); one given up while flowing frees its
/// share, the rates being recomputed once at that instant as when transfers start flowing.
#[derive(Debug)]
pub struct FluidTransport {
    net: Network,
    /// What a transfer waits before its bytes move.
    latency: Latency,
    /// The instant a settle wake-up is pending for, if any.
    settle_at: Option<Nanos>,
    /// Transfers a wake-up completed; empty between calls (kept for its buffer).
    completed: Vec<TransferId>,
}

/// The fluid transport's wake-ups, as tokens: settle is 0, the others carry their number in
/// the remaining bits with the lowest bit telling them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FluidWake {
    /// The rates changed at this instant (transfers started flowing or were given up, or a
    /// fault hit a NIC or a link): recompute them once for all of them.
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
            latency: Latency {
                fixed: latency,
                ..Latency::default()
            },
            settle_at: None,
            completed: Vec::new(),
        }
    }

    /// The same, with objects of at most `inline_max` bytes moving without the latency
    /// ([`NetworkSpec::inline_max`](crate::NetworkSpec::inline_max)).
    pub fn with_inline_max(mut self, inline_max: Option<u64>) -> Self {
        self.latency.inline_max = inline_max;
        self
    }

    /// The same, with `latency` before each transfer (its fixed part, inline exemption and
    /// noise replacing those given before).
    pub fn with_latency(mut self, latency: Latency) -> Self {
        self.latency = latency;
        self
    }

    /// The same, with the NICs limiting the directions `limits` says
    /// ([`NetworkSpec::nic_limits`](crate::NetworkSpec::nic_limits)).
    pub fn with_nic_limits(mut self, limits: NicLimits) -> Self {
        self.net.set_limits(limits);
        self
    }

    /// The latency of `id` has passed: it flows from `now`, the rates recomputed at this
    /// instant. A transfer given up meanwhile is no longer waiting: nothing happens.
    fn begin_flowing(&mut self, id: TransferId, now: Nanos, out: &mut Outbox) {
        if self.net.start_flowing(id) {
            out.report(TransportEvent::Flowing(id));
            self.settle(now, out);
        }
    }

    /// Asks for the rates to be recomputed once at `now`, after everything else due then.
    fn settle(&mut self, now: Nanos, out: &mut Outbox) {
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
        let latency = self.latency.before(&request);
        if latency == 0 {
            self.begin_flowing(id, now, out);
        } else {
            out.wake_at(now.saturating_add(latency), FluidWake::Flow(id).token());
        }
        id
    }

    fn start_held(&mut self, request: TransferRequest, _: Nanos, _: &mut Outbox) -> TransferId {
        let TransferRequest { from, to, size, .. } = request;
        self.net.start(from, to, size)
    }

    fn release(&mut self, id: TransferId, now: Nanos, out: &mut Outbox) {
        self.begin_flowing(id, now, out);
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

    fn slow_nic(&mut self, node: NodeId, by: Option<Slowdown>, now: Nanos, out: &mut Outbox) {
        self.net.slow_nic(node, by);
        self.settle(now, out);
    }

    fn drop_link(&mut self, a: NodeId, b: NodeId, dropped: bool, now: Nanos, out: &mut Outbox) {
        self.net.drop_link(a, b, dropped);
        self.settle(now, out);
    }

    fn cancel(&mut self, id: TransferId, now: Nanos, out: &mut Outbox) {
        if self.net.cancel(id) {
            self.settle(now, out);
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
    fn nics_that_limit_sending_only_let_a_node_receive_from_two_at_once() {
        // 0->2 and 1->2: node 2's ingress halves both with full-duplex NICs; with send-only
        // NICs each moves at its sender's full rate.
        for (limits, end) in [(NicLimits::Both, 2_000_000), (NicLimits::Send, 1_000_000)] {
            let mut t = FluidTransport::new(3, GB, 0).with_nic_limits(limits);
            let net = &mut t.net;
            let a = net.start(NodeId(0), NodeId(2), 1_000_000);
            let b = net.start(NodeId(1), NodeId(2), 1_000_000);
            net.begin_flow(a, 0);
            let wake = net.begin_flow(b, 0);
            assert_eq!(run(net, wake), vec![(0, end), (1, end)], "{limits:?}");
        }
        // A sender's egress is still shared, and slowing the receiver's NIC slows only what
        // it sends: 0->1 and 0->2 at half the rate each, 1->2 (node 1 slowed 4x) at a quarter.
        let mut net = Network::new(3, GB);
        net.set_limits(NicLimits::Send);
        net.slow_nic(NodeId(1), Slowdown::from_milli(4_000));
        net.slow_nic(NodeId(2), Slowdown::from_milli(4_000));
        let ids = [(0, 1), (0, 2), (1, 2)].map(|(a, b)| net.start(NodeId(a), NodeId(b), 1_000));
        for id in ids {
            net.begin_flow(id, 0);
        }
        let rates = ids.map(|id| net.get(id).unwrap().rate_bytes_per_sec());
        assert_eq!(rates, [0.5e9, 0.5e9, 0.25e9]);
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
            setup: 0,
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
        // 100 transfers (more than the 64 slots kept as bit sets, so the general filling runs
        // until the slots beyond 64 are free again) of 1..=100 KB from node 0 to node 1: the
        // link is never idle, so the last finishes when all the bytes have crossed it, and
        // each finishes exactly once.
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

    type Driver = super::super::driver::Driver<FluidTransport>;

    /// A fluid transport on `nodes` nodes with 1 GB/s NICs and `latency`, driven as the core
    /// drives one.
    fn driver(nodes: usize, latency: Nanos) -> Driver {
        Driver::new(FluidTransport::new(nodes, GB, latency))
    }

    #[test]
    fn an_object_small_enough_to_move_inline_skips_the_latency() {
        // Inline up to 100 bytes, latency 1_000 ns, 1 B/ns: 100 bytes flow at once and
        // arrive at 100; 101 bytes wait the latency, flow at 1_000 and arrive at 1_101.
        use TransportEvent::{Arrived, Flowing};
        let mut d = Driver::new(FluidTransport::new(2, GB, 1_000).with_inline_max(Some(100)));
        let small = d.start(0, 1, 100);
        let large = d.start(1, 0, 101);
        d.run();
        assert_eq!(
            d.log,
            vec![
                (0, Flowing(small)),
                (100, Arrived(small)),
                (1_000, Flowing(large)),
                (1_101, Arrived(large)),
            ]
        );
        // Without it, both wait.
        let mut d = driver(2, 1_000);
        let small = d.start(0, 1, 100);
        d.run();
        assert_eq!(
            d.log,
            vec![(1_000, Flowing(small)), (1_100, Arrived(small))]
        );
    }

    #[test]
    fn a_transfer_given_up_half_way_frees_its_share() {
        // 0->1 and 0->2, 1 MB each, flow from 1_000 ns (the latency) at 0.5 B/ns each on node
        // 0's egress. Half-way, at 1_001_000, each has 500_000 left; the first is given up, and
        // the second moves its 500_000 alone at 1 B/ns: it arrives at 1_501_000 (not
        // 2_001_000). On 3 nodes (the filling on bit sets) and 20 (the general filling).
        use TransportEvent::{Arrived, Flowing};
        for nodes in [3, 20] {
            let mut d = driver(nodes, 1_000);
            let a = d.start(0, 1, 1_000_000);
            let b = d.start(0, 2, 1_000_000);
            d.run_until(1_001_000);
            d.cancel(a);
            // Given up twice: the second time is an unknown id.
            let pending = d.pending.clone();
            d.cancel(a);
            assert_eq!(d.pending, pending);
            d.run();
            let want = vec![
                (1_000, Flowing(a)),
                (1_000, Flowing(b)),
                (1_501_000, Arrived(b)),
            ];
            assert_eq!(d.log, want, "{nodes} nodes");
            assert_eq!(d.t.net.in_flight(), 0);
        }
    }

    #[test]
    fn a_transfer_given_up_in_its_latency_never_flows() {
        // Latency 1_000 ns. The first transfer (0->1) starts at 0 and is given up at 500; two
        // more (0->1 and 0->2, 1 MB each) start at 500, flow from 1_500 and share node 0's
        // egress at 0.5 B/ns: both arrive at 2_001_500. The first's latency wake-up, at 1_000,
        // reports nothing and asks for nothing.
        use TransportEvent::{Arrived, Flowing};
        for nodes in [3, 20] {
            let mut d = driver(nodes, 1_000);
            let a = d.start(0, 1, 1_000_000);
            d.run_until(500);
            let asked = d.asked;
            d.cancel(a);
            assert_eq!(
                d.asked, asked,
                "giving up a waiting transfer asks for nothing"
            );
            let b = d.start(0, 1, 1_000_000);
            let c = d.start(0, 2, 1_000_000);
            d.run_until(999);
            let mut left = d.pending.clone();
            assert_eq!(
                left.pop_first().map(|p| p.2),
                Some(FluidWake::Flow(a).token())
            );
            let asked = d.asked;
            d.run_until(1_000);
            assert_eq!((d.asked, &d.pending), (asked, &left));
            assert!(d.log.is_empty());
            assert_eq!(d.t.net.in_flight(), 2);
            d.run();
            let want = vec![
                (1_500, Flowing(b)),
                (1_500, Flowing(c)),
                (2_001_500, Arrived(b)),
                (2_001_500, Arrived(c)),
            ];
            assert_eq!(d.log, want, "{nodes} nodes");
            assert_eq!(d.t.net.in_flight(), 0);
        }
    }

    #[test]
    fn a_transfer_given_up_on_a_dropped_link_is_never_reported() {
        // No latency. 0->1 and 0->2, 1 MB each, at 0.5 B/ns each until 200_000, when the link
        // 0-1 drops (100_000 moved each): the first stands still, the second goes on alone at
        // 1 B/ns. The first is given up at 400_000; at 600_000 the link is back and a third
        // transfer starts on it (0->1, 1 MB). The second (500_000 left) and the third share
        // node 0's egress at 0.5 B/ns: the second arrives at 1_600_000, and the third, then
        // with 500_000 left, alone at 1 B/ns at 2_100_000.
        use TransportEvent::{Arrived, Flowing};
        for nodes in [3, 20] {
            let mut d = driver(nodes, 0);
            let a = d.start(0, 1, 1_000_000);
            let b = d.start(0, 2, 1_000_000);
            d.run_until(200_000);
            d.drop_link(0, 1, true);
            d.run_until(400_000);
            d.cancel(a);
            d.run_until(600_000);
            d.drop_link(1, 0, false);
            let c = d.start(0, 1, 1_000_000);
            d.run();
            let want = vec![
                (0, Flowing(a)),
                (0, Flowing(b)),
                (600_000, Flowing(c)),
                (1_600_000, Arrived(b)),
                (2_100_000, Arrived(c)),
            ];
            assert_eq!(d.log, want, "{nodes} nodes");
            assert_eq!(d.t.net.in_flight(), 0);
        }
    }

    #[test]
    fn giving_up_an_unknown_or_arrived_transfer_changes_nothing() {
        // 0->1 (1_000 bytes) and 0->2 (3_000 bytes) at 0.5 B/ns each: the first arrives at
        // 2_000, the second, alone from then, at 4_000. Giving up the first after it arrived,
        // or an id never handed out, asks for nothing and changes no rate.
        use TransportEvent::{Arrived, Flowing};
        let run = |give_up: bool| {
            let mut d = driver(3, 0);
            let a = d.start(0, 1, 1_000);
            let b = d.start(0, 2, 3_000);
            d.run_until(3_000);
            if give_up {
                let pending = d.pending.clone();
                let (rates, generation) = (rates_of(&d.t.net), d.t.net.generation);
                for id in [a, TransferId(7), a] {
                    d.cancel(id);
                }
                assert_eq!(d.pending, pending);
                assert_eq!(rates_of(&d.t.net), rates);
                assert_eq!(d.t.net.generation, generation);
                assert!(!d.t.net.dirty);
            }
            d.run();
            let want = vec![
                (0, Flowing(a)),
                (0, Flowing(b)),
                (2_000, Arrived(a)),
                (4_000, Arrived(b)),
            ];
            assert_eq!(d.log, want);
            d.log
        };
        assert_eq!(run(true), run(false));
    }

    #[test]
    fn given_up_transfers_leave_the_heap_filling() {
        // 256 transfers 0->1 of 256_000 bytes (more flows than the bit sets hold: the heap
        // filling) at 1/256 B/ns each. At 128_000 ns each has 255_500 left; every other one is
        // given up, and the 128 left (still the heap) move at 1/128 B/ns: they all arrive
        // 128 * 255_500 ns later, at 32_832_000.
        let mut net = Network::new(2, GB);
        let ids: Vec<TransferId> = (0..256)
            .map(|_| {
                let id = net.start(NodeId(0), NodeId(1), 256_000);
                net.start_flowing(id);
                id
            })
            .collect();
        let wake = net.settle(0);
        assert_eq!(wake.map(|w| w.at), Some(65_536_000));
        for id in ids.iter().skip(1).step_by(2) {
            assert!(net.cancel(*id));
        }
        let wake = net.settle(128_000);
        let done = run(&mut net, wake);
        let want: Vec<(u64, Nanos)> = ids.iter().step_by(2).map(|id| (id.0, 32_832_000)).collect();
        assert_eq!(done, want);
        assert_eq!(net.in_flight(), 0);
    }

    #[test]
    fn freed_slots_beyond_64_are_not_left_blocked() {
        // 66 transfers 0->1 (slots 0 to 65) of 64_000 bytes on a link dropped from the start.
        // Two are given up (slots 3 and 65, one in the bit sets' range and one beyond), and two
        // transfers 2->0 of 1 MB take their slots: they are not blocked, but share node 2's
        // egress at 0.5 B/ns, and arrive at 2_000_000. The link is back at 1_000_000: the 64
        // others move at 1/64 B/ns and arrive 64 * 64_000 ns later, at 5_096_000.
        let mut net = Network::new(3, GB);
        let ids: Vec<TransferId> = (0..66)
            .map(|_| {
                let id = net.start(NodeId(0), NodeId(1), 64_000);
                net.start_flowing(id);
                id
            })
            .collect();
        net.drop_link(NodeId(0), NodeId(1), true);
        assert_eq!(net.settle(0), None);
        assert!(net.cancel(ids[3]));
        assert!(net.cancel(ids[65]));
        let x = net.start(NodeId(2), NodeId(0), 1_000_000);
        let y = net.start(NodeId(2), NodeId(0), 1_000_000);
        assert!(net.start_flowing(x) && net.start_flowing(y));
        assert_eq!(net.settle(0).map(|w| w.at), Some(2_000_000));
        for id in [x, y] {
            assert_eq!(net.get(id).map(Flow::rate_bytes_per_sec), Some(0.5e9));
        }
        net.drop_link(NodeId(1), NodeId(0), false);
        let wake = net.settle(1_000_000);
        let mut want = vec![(x.0, 2_000_000), (y.0, 2_000_000)];
        want.extend(
            ids.iter()
                .filter(|id| ![3, 65].contains(&id.0))
                .map(|id| (id.0, 5_096_000)),
        );
        assert_eq!(run(&mut net, wake), want);
        assert_eq!(net.in_flight(), 0);
    }

    #[test]
    fn a_completed_transfer_beyond_64_leaves_its_slot_unblocked() {
        // 65 transfers 0->1 of 1_000 bytes, at 1/65 B/ns, all complete at 65_000 ns, just as
        // the link 0-1 drops (before the settle that would stop them): the one in slot 64,
        // beyond the bit sets, completes blocked. 65 transfers 2->0 of 65_000 bytes then take
        // the slots, on a link that is up: all share node 2's egress at 1/65 B/ns (not 64 of
        // them at 1/64 and the one in slot 64 at 0), and arrive 65 * 65_000 ns later.
        let mut net = Network::new(3, GB);
        for _ in 0..65 {
            let id = net.start(NodeId(0), NodeId(1), 1_000);
            net.start_flowing(id);
        }
        let wake = net.settle(0).expect("flowing");
        assert_eq!(wake.at, 65_000);
        net.drop_link(NodeId(0), NodeId(1), true);
        let mut completed = Vec::new();
        assert_eq!(net.wake(wake, &mut completed), None);
        assert_eq!(completed.len(), 65);
        for _ in 0..65 {
            let id = net.start(NodeId(2), NodeId(0), 65_000);
            net.start_flowing(id);
        }
        let wake = net.settle(wake.at);
        let rates: Vec<u64> = rates_of(&net).into_iter().map(|(_, r)| r).collect();
        assert_eq!(rates, vec![(1.0f64 / 65.0).to_bits(); 65]);
        let done = run(&mut net, wake);
        assert_eq!(done.len(), 65);
        assert!(
            done.iter().all(|&(_, at)| at == 65_000 + 65 * 65_000),
            "{done:?}"
        );
    }

    /// The model as first written, for comparison: transfers in id order, every recomputation
    /// a heap filling of all the flows in that order.
    struct Reference {
        net: Network,
        /// (flowing, transfer), by id.
        transfers: Vec<(bool, Flow)>,
    }

    impl Reference {
        fn new(nodes: usize) -> Reference {
            Reference {
                net: Network::new(nodes, GB),
                transfers: Vec::new(),
            }
        }

        fn start(&mut self, from: usize, to: usize, size: u64) {
            self.transfers.push((
                false,
                Flow {
                    id: TransferId(self.transfers.len() as u64),
                    from: NodeId(from as u32),
                    to: NodeId(to as u32),
                    remaining: size as f64,
                    done_below: 1e-9 * size as f64 + 1e-6,
                    rate: 0.0,
                },
            ));
        }

        fn advance(&mut self, now: Nanos) {
            let dt = now.saturating_sub(self.net.last_update) as f64;
            if dt > 0.0 {
                for (_, t) in &mut self.transfers {
                    t.advance(dt);
                }
            }
            self.net.last_update = now;
        }

        fn recompute(&mut self, now: Nanos) -> Option<Nanos> {
            let nodes = self.net.nodes;
            let sc = &mut self.net.scratch;
            sc.flows.clear();
            for (k, (flowing, t)) in self.transfers.iter().enumerate() {
                if *flowing {
                    sc.flows.push((k, t.from.index(), nodes + t.to.index()));
                }
            }
            let mut soonest = f64::INFINITY;
            if !sc.flows.is_empty() {
                sc.fill(&vec![1.0; 2 * nodes], Filling::Heap);
                for (&(k, _, _), &r) in sc.flows.iter().zip(sc.rate.iter()) {
                    soonest = self.transfers[k].1.set_rate(r, soonest);
                }
            }
            self.net.wake_after(soonest, now).map(|w| w.at)
        }

        /// Completes the done transfers at `now`, returning them in id order.
        fn complete(&mut self, now: Nanos) -> Vec<TransferId> {
            self.advance(now);
            let mut done = Vec::new();
            for (flowing, t) in &mut self.transfers {
                if *flowing && t.is_done() {
                    *flowing = false;
                    t.remaining = f64::INFINITY; // never done again
                    t.rate = 0.0;
                    done.push(t.id);
                }
            }
            done
        }

        /// Every flowing transfer's id and rate, as bits, in id order.
        fn rates(&self) -> Vec<(u64, u64)> {
            self.transfers
                .iter()
                .filter(|(flowing, _)| *flowing)
                .map(|(_, t)| (t.id.0, t.rate.to_bits()))
                .collect()
        }
    }

    /// The network's flowing transfers and their rates, as bits, in id order.
    fn rates_of(net: &Network) -> Vec<(u64, u64)> {
        let mut rates: Vec<(u64, u64)> = slots_of(&net.live)
            .map(|s| (net.flows[s].id.0, net.flows[s].rate.to_bits()))
            .collect();
        rates.sort_unstable();
        rates
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

    /// Rates from one filling strategy, as bits, for flows given as (from, to) node pairs
    /// (with `send_only`, the ingress links unlimited).
    fn fill_with(
        nodes: usize,
        pairs: &[(usize, usize)],
        filling: Filling,
        send_only: bool,
    ) -> Vec<u64> {
        let mut sc = Scratch {
            flows: pairs
                .iter()
                .enumerate()
                .map(|(k, &(a, b))| (k, a, nodes + b))
                .collect(),
            ..Scratch::default()
        };
        let mut caps = vec![1.25; 2 * nodes];
        if send_only {
            caps[nodes..].fill(f64::INFINITY);
        }
        sc.fill(&caps, filling);
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

    /// Checks that the rates are max-min fair over the links' capacities, a dropped link's
    /// flows (those between a pair of `dropped`, each `(lower, higher)`) standing still: no
    /// link is over capacity, and every other flow moves and has a bottleneck, a saturated link
    /// on which no other flow gets more.
    fn check_max_min_fair(
        net: &Network,
        dropped: &[(u32, u32)],
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let nodes = net.nodes;
        let cap = |l: usize| net.caps[l];
        let flows: Vec<(usize, usize, f64, bool)> = slots_of(&net.live)
            .map(|s| {
                let t = &net.flows[s];
                let pair = (t.from.0.min(t.to.0), t.from.0.max(t.to.0));
                (
                    t.from.index(),
                    nodes + t.to.index(),
                    t.rate,
                    dropped.contains(&pair),
                )
            })
            .collect();
        let mut load = vec![0.0f64; 2 * nodes];
        for &(e, i, r, _) in &flows {
            load[e] += r;
            load[i] += r;
        }
        for (l, used) in load.iter().enumerate() {
            proptest::prop_assert!(*used <= cap(l) * (1.0 + 1e-9));
        }
        for &(e, i, r, blocked) in &flows {
            if blocked {
                proptest::prop_assert_eq!(r, 0.0);
                continue;
            }
            proptest::prop_assert!(r > 0.0);
            let bottleneck = [e, i].into_iter().any(|l| {
                load[l] >= cap(l) * (1.0 - 1e-9)
                    && flows
                        .iter()
                        .filter(|f| !f.3 && (f.0 == l || f.1 == l))
                        .all(|f| f.2 <= r * (1.0 + 1e-12))
            });
            proptest::prop_assert!(bottleneck, "flow at {} has no bottleneck", r);
        }
        Ok(())
    }

    /// Handles the network's wake-ups due up to `until`, in order, appending the transfers
    /// they complete to `completed`; leaves `wake` at the next one.
    fn complete_until(
        net: &mut Network,
        wake: &mut Option<Wake>,
        until: Nanos,
        completed: &mut Vec<TransferId>,
    ) {
        while let Some(w) = wake.filter(|w| w.at <= until) {
            *wake = net.wake(w, completed);
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
            send_only in proptest::bool::ANY,
        ) {
            let pairs: Vec<(usize, usize)> = raw
                .iter()
                .map(|&(a, d)| (a % nodes, (a % nodes + d % (nodes - 1) + 1) % nodes))
                .collect();
            let fill = |filling| fill_with(nodes, &pairs, filling, send_only);
            let heap = fill(Filling::Heap);
            proptest::prop_assert_eq!(&heap, &fill(Filling::Auto));
            if nodes <= 16 && pairs.len() <= SCAN_MAX_FLOWS {
                proptest::prop_assert_eq!(&heap, &fill(Filling::Scan));
            }
        }

        /// Transfers starting and completing at random, up to 16 nodes (flows kept as bit sets
        /// by slot, slots beyond 64 included) and beyond: the same wake-ups, completions and
        /// rates, bit for bit, as the model first written (flows in id order, heap filling).
        #[test]
        fn slots_change_nothing(
            nodes in 2usize..20,
            steps in proptest::collection::vec(
                (proptest::collection::vec((0usize..20, 1usize..20, 1u64..8), 0..12),
                 0u64..3_000_000),
                1..40,
            ),
        ) {
            let mut net = Network::new(nodes, GB);
            let mut reference = Reference::new(nodes);
            let mut now = 0;
            let mut wake: Option<Wake> = None;
            for (starts, delta) in steps {
                if !starts.is_empty() {
                    for &(a, d, size) in &starts {
                        // Sizes from a few values, so that transfers often finish together.
                        let size = size * 500_000;
                        let (from, to) = (a % nodes, (a % nodes + d % (nodes - 1) + 1) % nodes);
                        let id = net.start(NodeId(from as u32), NodeId(to as u32), size);
                        reference.start(from, to, size);
                        proptest::prop_assert!(net.start_flowing(id));
                        reference.transfers[id.0 as usize].0 = true;
                    }
                    wake = net.settle(now);
                    reference.advance(now);
                    let want = reference.recompute(now);
                    proptest::prop_assert_eq!(wake.map(|w| w.at), want);
                    proptest::prop_assert_eq!(rates_of(&net), reference.rates());
                }
                let until = now + delta;
                while let Some(w) = wake.filter(|w| w.at <= until) {
                    now = w.at;
                    let mut completed = Vec::new();
                    wake = net.wake(w, &mut completed);
                    let done = reference.complete(now);
                    proptest::prop_assert_eq!(&completed, &done);
                    proptest::prop_assert_eq!(wake.map(|w| w.at), reference.recompute(now));
                    proptest::prop_assert_eq!(rates_of(&net), reference.rates());
                }
                now = until;
            }
        }

        /// With faults: slowed NICs and dropped links. A dropped link's flows stand still;
        /// every other flow is max-min fair over the links' reduced capacities. On 6 nodes
        /// (the filling on bit sets) and on 20 (the general filling). With NICs that limit
        /// sending only, an ingress is never a bottleneck: every flow's is its sender's egress.
        #[test]
        fn rates_are_max_min_fair_with_faults(
            big in proptest::bool::ANY,
            send_only in proptest::bool::ANY,
            pairs in proptest::collection::vec((0u32..6, 0u32..6), 1..40),
            slow in proptest::collection::vec((0u32..6, 1_000u32..4_000), 0..4),
            drops in proptest::collection::vec((0u32..6, 0u32..6), 0..3),
        ) {
            let nodes = if big { 20 } else { 6 };
            let mut net = Network::new(nodes, GB);
            if send_only {
                net.set_limits(NicLimits::Send);
            }
            for &(n, milli) in &slow {
                net.slow_nic(NodeId(n), Slowdown::from_milli(milli));
            }
            let dropped: Vec<(u32, u32)> = drops
                .iter()
                .filter(|(a, b)| a != b)
                .map(|&(a, b)| (a.min(b), a.max(b)))
                .collect();
            // Half the drops before the flows start, half after.
            let (early, late) = dropped.split_at(dropped.len() / 2);
            for &(a, b) in early {
                net.drop_link(NodeId(a), NodeId(b), true);
            }
            let mut ids = Vec::new();
            for (a, b) in &pairs {
                if a == b {
                    continue;
                }
                let id = net.start(NodeId(*a), NodeId(*b), 1 << 30);
                net.begin_flow(id, 0);
                ids.push(id);
            }
            for &(a, b) in late {
                net.drop_link(NodeId(a), NodeId(b), true);
            }
            net.settle(0);
            proptest::prop_assert_eq!(net.in_flight(), ids.len());
            check_max_min_fair(&net, &dropped)?;
        }

        /// Transfers given up at random, interleaved with transfers starting (flowing at once
        /// or after a latency), latencies passing, NICs slowed and back to full speed, links
        /// dropped and back, and time passing (transfers completing). After every step the
        /// rates are max-min fair as above, and no transfer given up is flowing; once every
        /// link is back, every transfer completes exactly once, but for those given up, which
        /// never do. On 6 nodes (the filling on bit sets) and on 20 (the general filling, on
        /// the heap when more than 32 links are busy).
        #[test]
        fn cancels_keep_rates_max_min_fair(
            big in proptest::bool::ANY,
            first in proptest::collection::vec((0u32..20, 0u32..20, 0u32..4_000), 0..40),
            steps in proptest::collection::vec(
                (0u8..8, 0u32..20, 0u32..20, 0u32..4_000, 0u64..400_000),
                1..50,
            ),
        ) {
            let nodes = if big { 20 } else { 6 };
            let mut net = Network::new(nodes, GB);
            let mut dropped: Vec<(u32, u32)> = Vec::new();
            // Every transfer started (its id is its index), whether it was given up, and those
            // still waiting out their latency (given up or not).
            let mut given_up: Vec<bool> = Vec::new();
            let mut waiting: Vec<TransferId> = Vec::new();
            let mut completed: Vec<TransferId> = Vec::new();
            let (mut now, mut wake) = (0, None);
            // A first batch of transfers at 0 (enough, on 20 nodes, for the heap), then steps.
            let first = first.into_iter().map(|(a, b, x)| (0, a, b, x, 0));
            for (kind, a, b, x, delta) in first.chain(steps) {
                // Time stands still on about a quarter of the steps.
                let until = now + delta.saturating_sub(100_000);
                complete_until(&mut net, &mut wake, until, &mut completed);
                now = until;
                let from = a % nodes as u32;
                let to = (from + 1 + b % (nodes as u32 - 1)) % nodes as u32;
                match kind {
                    0..=2 => {
                        // From 250 KB to 16 MB: some complete during the steps, some after.
                        let size = 250_000 << (2 * (x % 4));
                        let id = net.start(NodeId(from), NodeId(to), size);
                        given_up.push(false);
                        if kind == 2 {
                            waiting.push(id);
                        } else {
                            proptest::prop_assert!(net.start_flowing(id));
                        }
                    }
                    3 if !waiting.is_empty() => {
                        let id = waiting.remove(x as usize % waiting.len());
                        proptest::prop_assert_eq!(
                            net.start_flowing(id),
                            !given_up[id.0 as usize]
                        );
                    }
                    4 => net.slow_nic(NodeId(from), Slowdown::from_milli(x)),
                    5 => {
                        // Half the time, the link of one of the first flowing transfers.
                        let (from, to) = match slots_of(&net.live).nth(x as usize % 8) {
                            Some(s) if x % 2 == 1 => (net.flows[s].from.0, net.flows[s].to.0),
                            _ => (from, to),
                        };
                        let pair = (from.min(to), from.max(to));
                        let drop = !dropped.contains(&pair);
                        if drop {
                            dropped.push(pair);
                        } else {
                            dropped.retain(|p| *p != pair);
                        }
                        net.drop_link(NodeId(from), NodeId(to), drop);
                    }
                    6 | 7 if !given_up.is_empty() => {
                        // Any transfer: waiting, flowing, blocked, completed or given up.
                        let id = TransferId(u64::from(x) % given_up.len() as u64);
                        let flowing = net.get(id).is_some();
                        let in_flight = net.in_flight();
                        let gone = given_up[id.0 as usize] || completed.contains(&id);
                        proptest::prop_assert_eq!(net.cancel(id), flowing);
                        proptest::prop_assert_eq!(net.in_flight(), in_flight - usize::from(!gone));
                        given_up[id.0 as usize] |= !gone;
                    }
                    _ => {}
                }
                wake = net.settle(now);
                complete_until(&mut net, &mut wake, now, &mut completed);
                check_max_min_fair(&net, &dropped)?;
                for (k, _) in given_up.iter().enumerate().filter(|(_, g)| **g) {
                    proptest::prop_assert!(net.get(TransferId(k as u64)).is_none());
                }
            }
            // Every link back and every latency passed: all that is left completes.
            for (a, b) in std::mem::take(&mut dropped) {
                net.drop_link(NodeId(a), NodeId(b), false);
            }
            for id in waiting {
                proptest::prop_assert_eq!(net.start_flowing(id), !given_up[id.0 as usize]);
            }
            wake = net.settle(now);
            complete_until(&mut net, &mut wake, Nanos::MAX, &mut completed);
            proptest::prop_assert_eq!(net.in_flight(), 0);
            let mut ids: Vec<u64> = completed.iter().map(|id| id.0).collect();
            ids.sort_unstable();
            let want: Vec<u64> = (0..given_up.len() as u64)
                .filter(|&k| !given_up[k as usize])
                .collect();
            proptest::prop_assert_eq!(ids, want);
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
