//! The chunked network model: Ray v0.6's object manager, chunk by chunk, over NICs that may
//! burst on credit.
//!
//! # What it models
//!
//! Ray v0.6 (late 2018; `src/ray/object_manager/object_manager.cc` and the raylet's
//! `src/ray/raylet/main.cc`) did not stream an object as one flow. Its object manager cut each
//! object into chunks of `object_manager_default_chunk_size`, one million bytes, and handed
//! them to a small pool of send threads, `max(1, num_cpus / 4)` of them per node, with as many
//! receive threads; a 4-vCPU machine such as an EC2 m5.xlarge therefore sent one chunk and
//! received one chunk at a time. Every chunk a node sends waits in a single first-in,
//! first-out queue, so a large object holds up whatever was asked for after it, whichever node
//! that is for.
//!
//! The NIC under it is EC2's: an m5.xlarge is sold as "up to 10 Gbit/s", which means it may
//! burst to 10 Gbit/s while it has network I/O credit and otherwise gets a baseline of
//! 1.25 Gbit/s; credit accrues while it sends below the baseline. Outside a cluster placement
//! group, one TCP flow is further limited to 5 Gbit/s (AWS's EC2 documentation). The burst rate
//! here is the network's [`NetworkSpec::nic_bandwidth`](crate::NetworkSpec::nic_bandwidth), the
//! credit a [`TokenBucket`], and the per-flow limit [`ChunkedSpec::flow_cap`].
//!
//! # The rules
//!
//! All arithmetic is on integers; times are whole nanoseconds.
//!
//! - **Latency, then the queue.** A transfer first waits the network's fixed latency (the pull
//!   request's round trip). Then its object's `ceil(size / chunk_size)` chunks (the last one
//!   partial; a 0-byte object is one empty chunk, so that it keeps its place in the queue) join
//!   the *end* of its sender's queue, one after the other. Transfers whose latency ends at the
//!   same instant join in the order they were started.
//! - **Threads.** A node sends at most `send_threads` chunks at a time, strictly in its queue's
//!   order, and receives at most `recv_threads` at a time. The chunk at the head of a sender's
//!   queue starts when the sender has a free send thread, its destination a free receive
//!   thread, and the link between them is up. Until then the chunks behind it wait as well,
//!   whatever their destination (head-of-line blocking: the send thread is stuck on it).
//! - **Who goes first.** A sender *waits* while it has a free send thread and a non-empty
//!   queue; its wait began when it last became so, or when it last started a chunk if it still
//!   had a free thread and chunks left. When several waiting senders' heads could take the same
//!   receive thread, the one waiting longest gets it, ties to the lowest sender id. Chunks
//!   start only in a *dispatch*: the first change at an instant (a chunk ending, a transfer
//!   joining a queue, a cancel, a link coming back) asks for one, as a wake-up at that
//!   instant, which the core's timer queue fires after every wake-up and timer already due
//!   then; so the changes due together are all applied first, and the outcome does not depend
//!   on their order. (A change made after that dispatch, at the same instant, asks for
//!   another.)
//! - **Rates.** A chunk of `b` bytes from `s` to `r` runs at
//!   `rate = max(1, min(flow_cap, egress(s) / send_threads, ingress(r) / recv_threads))`
//!   bytes per second, whole bytes rounded down, and takes `ceil(b * 10^9 / rate)` ns. The rate
//!   is fixed when the chunk starts. `egress(s)` is the NIC's burst rate (`nic_bandwidth`), or
//!   the bucket's baseline when `s`'s egress bucket is empty (holds 0 or less), divided by any
//!   `slow_nic` slowdown of `s`; `ingress(r)` likewise with `r`'s ingress bucket.
//! - **Credit** (with a [`TokenBucket`]). Each node has two buckets, one for its egress and
//!   one for its ingress. Each holds at most `credit` bytes, starts full, and refills at
//!   `baseline` bytes per second, continuously and exactly (kept in billionths of a byte). A
//!   chunk takes its bytes out of its sender's egress bucket and its receiver's ingress bucket
//!   when it starts, whatever rate it runs at; a bucket may go below zero (debt, paid back by
//!   the refill). So a long stream bursts until its credit runs out, then moves at the
//!   baseline, and idling earns the credit back.
//! - **Events.** A transfer is reported `Flowing` when its first chunk starts and `Arrived`
//!   when its last chunk in flight ends (every chunk has ended).
//! - **Faults.** `slow_nic` applies to the chunks that start from then on; chunks in flight
//!   keep the rate they started at. While a link is dropped no chunk between its ends starts
//!   (the sender's head waits, blocking its queue), and chunks in flight on it pause, keeping
//!   their threads and their remaining time; when the link comes back they resume and the
//!   waiting heads may start.
//! - **Cancels.** A cancelled transfer's queued chunks leave the queue; its chunks in flight
//!   (or paused) free their threads at that instant, so other chunks may start then. Credit
//!   already taken is not given back.
//!
//! The model is deterministic: ordered maps and queues only, no clock, no randomness.

use super::{Latency, Outbox, TransferId, TransferRequest, Transport, TransportEvent};
use crate::fault::Slowdown;
use crate::time::Nanos;
use cohort_policy::NodeId;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;
use thiserror::Error;

/// Nanoseconds in a second, the scale of the exact arithmetic.
const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// The chunked transport's parameters (the NIC's burst rate and the latency are the
/// network's). See the [module documentation](self) for the model.
///
/// Invariant (checked by [`ChunkedSpec::check`]): `chunk_size`, both thread counts, the flow
/// cap (if set) and the bucket's baseline (if set) are not zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkedSpec {
    /// Bytes per chunk; an object's last chunk holds what is left.
    pub chunk_size: u64,
    /// Chunks a node sends at once.
    pub send_threads: u32,
    /// Chunks a node receives at once.
    pub recv_threads: u32,
    /// The most one chunk stream (one send thread's chunk) moves, in bytes per second; `None`
    /// for no limit beyond the NICs'. EC2 caps a single flow at 5 Gbit/s (625,000,000 B/s)
    /// outside a cluster placement group.
    pub flow_cap: Option<u64>,
    /// Each NIC direction's burst credit; `None` for NICs that always run at full rate.
    pub bucket: Option<TokenBucket>,
}

/// A NIC direction's network I/O credit: it bursts at the NIC's full rate while it has
/// credit, and otherwise runs at `baseline`.
///
/// The bucket holds at most `credit` bytes, starts full and refills at `baseline` bytes per
/// second; each chunk takes its bytes out when it starts. An m5.xlarge's baseline is
/// 1.25 Gbit/s (156,250,000 B/s); AWS does not publish the credit's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    /// The rate without credit, and the refill rate, in bytes per second.
    pub baseline: u64,
    /// The most credit the bucket holds, in bytes.
    pub credit: u64,
}

/// Why a [`ChunkedSpec`] is invalid; each message names the field.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum ChunkedError {
    /// `chunk_size` is zero.
    #[error("the chunked transport's chunk_size is 0; a chunk must hold at least one byte")]
    ZeroChunkSize,
    /// `send_threads` is zero.
    #[error("the chunked transport's send_threads is 0; a node needs at least one")]
    ZeroSendThreads,
    /// `recv_threads` is zero.
    #[error("the chunked transport's recv_threads is 0; a node needs at least one")]
    ZeroRecvThreads,
    /// `flow_cap` is set to zero.
    #[error("the chunked transport's flow_cap is 0 bytes/s; leave it unset for no cap")]
    ZeroFlowCap,
    /// The token bucket's `baseline` is zero.
    #[error("the chunked transport's bucket baseline is 0 bytes/s; it must be positive")]
    ZeroBaseline,
}

impl ChunkedSpec {
    /// Ray v0.6's object manager on nodes of `cpus` CPUs: chunks of 1,000,000 bytes,
    /// `max(1, cpus / 4)` send threads and as many receive threads, no flow cap, no bucket.
    pub fn ray_v0_6(cpus: u32) -> ChunkedSpec {
        let threads = (cpus / 4).max(1);
        ChunkedSpec {
            chunk_size: 1_000_000,
            send_threads: threads,
            recv_threads: threads,
            flow_cap: None,
            bucket: None,
        }
    }

    /// Checks the invariant stated on the type.
    pub fn check(&self) -> Result<(), ChunkedError> {
        if self.chunk_size == 0 {
            return Err(ChunkedError::ZeroChunkSize);
        }
        if self.send_threads == 0 {
            return Err(ChunkedError::ZeroSendThreads);
        }
        if self.recv_threads == 0 {
            return Err(ChunkedError::ZeroRecvThreads);
        }
        if self.flow_cap == Some(0) {
            return Err(ChunkedError::ZeroFlowCap);
        }
        if self.bucket.is_some_and(|b| b.baseline == 0) {
            return Err(ChunkedError::ZeroBaseline);
        }
        Ok(())
    }

    /// How many chunks an object of `size` bytes is cut into (one, empty, for 0 bytes).
    fn chunks(&self, size: u64) -> u64 {
        size.div_ceil(self.chunk_size).max(1)
    }

    /// The size of chunk `index` of an object of `size` bytes.
    fn chunk_bytes(&self, size: u64, index: u64) -> u64 {
        size.saturating_sub(index.saturating_mul(self.chunk_size))
            .min(self.chunk_size)
    }
}

/// A bucket's state: its level in billionths of a byte (so that a refill of `baseline` bytes
/// per second over `dt` nanoseconds adds exactly `baseline * dt`) as of `at`.
#[derive(Clone, Copy, Debug)]
struct Level {
    nano_bytes: i128,
    at: Nanos,
}

impl Level {
    fn full(bucket: Option<TokenBucket>) -> Level {
        Level {
            nano_bytes: bucket.map_or(0, |b| i128::from(b.credit) * NANOS_PER_SECOND as i128),
            at: 0,
        }
    }

    /// Refills up to `now` (capped at the credit) and tells whether the bucket holds credit.
    fn refill(&mut self, bucket: TokenBucket, now: Nanos) -> bool {
        let cap = i128::from(bucket.credit) * NANOS_PER_SECOND as i128;
        let dt = i128::from(now.saturating_sub(self.at));
        let gained = i128::from(bucket.baseline).saturating_mul(dt);
        self.nano_bytes = self.nano_bytes.saturating_add(gained).min(cap);
        self.at = self.at.max(now);
        self.nano_bytes > 0
    }

    /// Takes `bytes` out (the level may go below zero).
    fn take(&mut self, bytes: u64) {
        let taken = i128::from(bytes) * NANOS_PER_SECOND as i128;
        self.nano_bytes = self.nano_bytes.saturating_sub(taken);
    }
}

/// What one node is doing, as a sender and as a receiver.
#[derive(Debug)]
struct Node {
    /// Chunks to send, as runs of one transfer's chunks, first to go at the front.
    queue: VecDeque<Segment>,
    /// Send threads busy (chunks from here running or paused).
    sending: u32,
    /// Receive threads busy.
    receiving: u32,
    /// Since when it has been waiting (a free send thread and a non-empty queue), if it is;
    /// then `(since, node)` is in [`ChunkedTransport::waiting`].
    since: Option<Nanos>,
    /// Its NIC's slowdown, if a fault slows it.
    slowdown: Option<Slowdown>,
    /// Its egress and ingress buckets (unused without a [`TokenBucket`]).
    egress: Level,
    ingress: Level,
}

/// A transfer's chunks that have not started, contiguous in its sender's queue.
#[derive(Clone, Copy, Debug)]
struct Segment {
    id: TransferId,
    to: NodeId,
    size: u64,
    /// Index of the next chunk to start.
    next: u64,
    /// Its number of chunks.
    chunks: u64,
}

/// A transfer started and neither arrived nor cancelled.
#[derive(Clone, Copy, Debug)]
struct Transfer {
    from: NodeId,
    to: NodeId,
    size: u64,
    /// Chunks started (0 until its first starts, then reported flowing).
    started: u64,
    /// Chunks ended.
    ended: u64,
    chunks: u64,
    /// Whether its latency has passed (its chunks joined the queue).
    queued: bool,
}

/// A chunk on the wire.
#[derive(Clone, Copy, Debug)]
struct Running {
    id: TransferId,
    from: NodeId,
    to: NodeId,
    /// When it ends.
    ends: Nanos,
}

/// A chunk whose link dropped while it was on the wire: it holds its threads.
#[derive(Clone, Copy, Debug)]
struct Paused {
    id: TransferId,
    from: NodeId,
    to: NodeId,
    /// How long it still has to run.
    left: Nanos,
}

/// The chunked transport's wake-ups, as tokens: dispatch is 0, the others carry their number
/// in the remaining bits with the lowest bit telling them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkedWake {
    /// Start the chunks that can start at this instant, after every other change due then.
    Dispatch,
    /// A transfer's latency has passed: its chunks join the queue.
    Queue(TransferId),
    /// The running chunk of this serial number ends (unless it was paused or cancelled).
    ChunkEnd(u64),
}

impl ChunkedWake {
    fn token(self) -> u64 {
        match self {
            ChunkedWake::Dispatch => 0,
            ChunkedWake::Queue(id) => 1 + 2 * id.0,
            ChunkedWake::ChunkEnd(serial) => 2 + 2 * serial,
        }
    }

    fn of(token: u64) -> ChunkedWake {
        match token {
            0 => ChunkedWake::Dispatch,
            t if t % 2 == 1 => ChunkedWake::Queue(TransferId((t - 1) / 2)),
            t => ChunkedWake::ChunkEnd((t - 2) / 2),
        }
    }
}

/// Ray v0.6's chunked object transfers behind the [`Transport`] boundary (see the
/// [module documentation](self) for the model).
///
/// Invariants: a transfer is in `transfers` from its start until it arrives or is cancelled;
/// its unstarted chunks are one `Segment` in its sender's queue once its latency has
/// passed; each node's `sending` and `receiving` count its running and paused chunks and never
/// exceed the thread counts; `waiting` holds `(since, node)` exactly for the nodes whose
/// `since` is set.
#[derive(Debug)]
pub struct ChunkedTransport {
    spec: ChunkedSpec,
    /// The NIC's burst rate, bytes per second.
    nic: u64,
    /// What a transfer waits before its bytes move.
    latency: Latency,
    next_id: u64,
    transfers: BTreeMap<TransferId, Transfer>,
    nodes: Vec<Node>,
    /// Waiting senders by (since, node): the order in which they get receive threads.
    waiting: BTreeSet<(Nanos, NodeId)>,
    /// Chunks on the wire by serial number (the token of their end).
    running: BTreeMap<u64, Running>,
    next_serial: u64,
    /// Chunks paused on a dropped link, in the order they paused.
    paused: Vec<Paused>,
    /// Pairs of nodes whose link is dropped, each `(lower, higher)`.
    dropped: Vec<(NodeId, NodeId)>,
    /// The instant a dispatch wake-up is pending for, if any.
    dispatch_at: Option<Nanos>,
}

impl ChunkedTransport {
    /// A chunked network of `nodes` nodes whose NICs burst at `bandwidth` bytes per second
    /// each way, with `latency` before each transfer's chunks join the queue. `spec` must
    /// satisfy [`ChunkedSpec::check`] and `bandwidth` be positive.
    pub fn new(nodes: usize, bandwidth: u64, latency: Nanos, spec: ChunkedSpec) -> Self {
        debug_assert_eq!(spec.check(), Ok(()));
        ChunkedTransport {
            spec,
            nic: bandwidth,
            latency: Latency {
                fixed: latency,
                ..Latency::default()
            },
            next_id: 0,
            transfers: BTreeMap::new(),
            nodes: (0..nodes)
                .map(|_| Node {
                    queue: VecDeque::new(),
                    sending: 0,
                    receiving: 0,
                    since: None,
                    slowdown: None,
                    egress: Level::full(spec.bucket),
                    ingress: Level::full(spec.bucket),
                })
                .collect(),
            waiting: BTreeSet::new(),
            running: BTreeMap::new(),
            next_serial: 0,
            paused: Vec::new(),
            dropped: Vec::new(),
            dispatch_at: None,
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

    /// Transfers started and neither arrived nor cancelled.
    pub fn in_flight(&self) -> usize {
        self.transfers.len()
    }

    /// Asks for a dispatch at `now`, after everything else due then (once per instant).
    fn ask_dispatch(&mut self, now: Nanos, out: &mut Outbox) {
        if self.dispatch_at != Some(now) {
            self.dispatch_at = Some(now);
            out.wake_at(now, ChunkedWake::Dispatch.token());
        }
    }

    /// Puts `node` in or out of `waiting` as its threads and queue now say.
    fn refresh_waiting(&mut self, node: NodeId, now: Nanos) {
        let n = &mut self.nodes[node.index()];
        let waits = n.sending < self.spec.send_threads && !n.queue.is_empty();
        match (waits, n.since) {
            (true, None) => {
                n.since = Some(now);
                self.waiting.insert((now, node));
            }
            (false, Some(since)) => {
                n.since = None;
                self.waiting.remove(&(since, node));
            }
            _ => {}
        }
    }

    /// Whether the link between `a` and `b` is dropped.
    fn link_dropped(&self, a: NodeId, b: NodeId) -> bool {
        !self.dropped.is_empty() && self.dropped.contains(&(a.min(b), a.max(b)))
    }

    /// The latency of `id` has passed: its chunks join the end of its sender's queue.
    fn enqueue(&mut self, id: TransferId, now: Nanos, out: &mut Outbox) {
        let Some(t) = self.transfers.get_mut(&id) else {
            return; // cancelled during its latency
        };
        if t.queued {
            return;
        }
        t.queued = true;
        let segment = Segment {
            id,
            to: t.to,
            size: t.size,
            next: 0,
            chunks: t.chunks,
        };
        let from = t.from;
        self.nodes[from.index()].queue.push_back(segment);
        self.refresh_waiting(from, now);
        self.ask_dispatch(now, out);
    }

    /// Starts every chunk that can start at `now`: the waiting senders in order of how long
    /// they have waited (ties to the lowest id), each starting its head if the head's receiver
    /// has a free thread and the link is up, and then waiting again (from `now`) if it still
    /// has a free thread and chunks.
    ///
    /// One pass suffices: a sender passed over stays unable to start (receive threads only get
    /// busier during the pass, links do not change), and a sender that starts a chunk waits
    /// again from `now`, which sorts at or after its old place.
    fn dispatch(&mut self, now: Nanos, out: &mut Outbox) {
        let mut from = Bound::Unbounded;
        while let Some(&(since, node)) = self.waiting.range((from, Bound::Unbounded)).next() {
            let n = &self.nodes[node.index()];
            let head = *n.queue.front().expect("a waiting sender has chunks");
            let free = self.nodes[head.to.index()].receiving < self.spec.recv_threads;
            if free && !self.link_dropped(node, head.to) {
                self.start_chunk(node, now, out);
                from = Bound::Included((since, node));
            } else {
                from = Bound::Excluded((since, node));
            }
        }
    }

    /// Starts the head chunk of `node`'s queue at `now` (the caller checked it can).
    fn start_chunk(&mut self, node: NodeId, now: Nanos, out: &mut Outbox) {
        let n = &mut self.nodes[node.index()];
        let head = n.queue.front_mut().expect("a head to start");
        let segment = *head;
        head.next += 1;
        if head.next == head.chunks {
            n.queue.pop_front();
        }
        let bytes = self.spec.chunk_bytes(segment.size, segment.next);
        let t = self
            .transfers
            .get_mut(&segment.id)
            .expect("a queued transfer is known");
        t.started += 1;
        if t.started == 1 {
            out.report(TransportEvent::Flowing(segment.id));
        }
        let to = segment.to;
        self.nodes[node.index()].sending += 1;
        self.nodes[to.index()].receiving += 1;
        debug_assert!(self.nodes[node.index()].sending <= self.spec.send_threads);
        debug_assert!(self.nodes[to.index()].receiving <= self.spec.recv_threads);
        let rate = self.rate(node, to, now);
        if self.spec.bucket.is_some() {
            self.nodes[node.index()].egress.take(bytes);
            self.nodes[to.index()].ingress.take(bytes);
        }
        let took = u128::from(bytes) * NANOS_PER_SECOND;
        let duration = u64::try_from(took.div_ceil(u128::from(rate))).unwrap_or(Nanos::MAX);
        self.run(segment.id, node, to, now.saturating_add(duration), out);
        // It waits again, from now, if it still has a free thread and chunks.
        let n = &mut self.nodes[node.index()];
        if let Some(since) = n.since.take() {
            self.waiting.remove(&(since, node));
        }
        self.refresh_waiting(node, now);
    }

    /// Puts a chunk of `id` on the wire until `ends`.
    fn run(&mut self, id: TransferId, from: NodeId, to: NodeId, ends: Nanos, out: &mut Outbox) {
        let serial = self.next_serial;
        self.next_serial += 1;
        self.running.insert(serial, Running { id, from, to, ends });
        out.wake_at(ends, ChunkedWake::ChunkEnd(serial).token());
    }

    /// The rate of a chunk from `from` to `to` starting at `now`, in bytes per second (see the
    /// module documentation); refills the two buckets it reads up to `now`.
    fn rate(&mut self, from: NodeId, to: NodeId, now: Nanos) -> u64 {
        let spec = self.spec;
        let nic = self.nic;
        let link = |level: &mut Level, slowdown: Option<Slowdown>, threads: u32| -> u64 {
            let base = match spec.bucket {
                Some(bucket) if !level.refill(bucket, now) => bucket.baseline,
                _ => nic,
            };
            let milli = slowdown.map_or(Slowdown::MILLI, Slowdown::milli);
            let num = u128::from(base) * u128::from(Slowdown::MILLI);
            let den = u128::from(milli) * u128::from(threads);
            u64::try_from(num / den).unwrap_or(u64::MAX)
        };
        let s = &mut self.nodes[from.index()];
        let egress = link(&mut s.egress, s.slowdown, spec.send_threads);
        let r = &mut self.nodes[to.index()];
        let ingress = link(&mut r.ingress, r.slowdown, spec.recv_threads);
        let rate = egress.min(ingress).min(spec.flow_cap.unwrap_or(u64::MAX));
        rate.max(1)
    }

    /// `count` chunks from `from` to `to` left the wire (ended, or their transfer was
    /// cancelled) at `now`: their threads are free.
    fn free_threads(&mut self, from: NodeId, to: NodeId, count: u32, now: Nanos) {
        self.nodes[from.index()].sending -= count;
        self.nodes[to.index()].receiving -= count;
        self.refresh_waiting(from, now);
    }

    /// The running chunk `serial` ends at `now`.
    fn chunk_ended(&mut self, serial: u64, now: Nanos, out: &mut Outbox) {
        let Some(c) = self.running.remove(&serial) else {
            return; // paused or cancelled since
        };
        self.free_threads(c.from, c.to, 1, now);
        let t = self
            .transfers
            .get_mut(&c.id)
            .expect("a running chunk's transfer is known");
        t.ended += 1;
        if t.ended == t.chunks {
            self.transfers.remove(&c.id);
            out.report(TransportEvent::Arrived(c.id));
        }
        self.ask_dispatch(now, out);
    }

    /// Whether nothing is in flight and every thread is free (for tests).
    #[cfg(test)]
    fn is_idle(&self) -> bool {
        self.transfers.is_empty()
            && self.running.is_empty()
            && self.paused.is_empty()
            && self.waiting.is_empty()
            && self
                .nodes
                .iter()
                .all(|n| n.queue.is_empty() && n.sending == 0 && n.receiving == 0)
    }
}

impl ChunkedTransport {
    /// Registers `request`, not queued yet: its id.
    fn register(&mut self, request: TransferRequest) -> TransferId {
        let TransferRequest { from, to, size, .. } = request;
        debug_assert_ne!(from, to, "a transfer needs two nodes");
        let id = TransferId(self.next_id);
        self.next_id += 1;
        let transfer = Transfer {
            from,
            to,
            size,
            started: 0,
            ended: 0,
            chunks: self.spec.chunks(size),
            queued: false,
        };
        self.transfers.insert(id, transfer);
        id
    }
}

impl Transport for ChunkedTransport {
    fn start(&mut self, request: TransferRequest, now: Nanos, out: &mut Outbox) -> TransferId {
        let id = self.register(request);
        let latency = self.latency.before(&request);
        if latency == 0 {
            self.enqueue(id, now, out);
        } else {
            out.wake_at(now.saturating_add(latency), ChunkedWake::Queue(id).token());
        }
        id
    }

    fn start_held(&mut self, request: TransferRequest, _: Nanos, _: &mut Outbox) -> TransferId {
        self.register(request)
    }

    fn release(&mut self, id: TransferId, now: Nanos, out: &mut Outbox) {
        self.enqueue(id, now, out);
    }

    fn wake(&mut self, token: u64, now: Nanos, out: &mut Outbox) {
        match ChunkedWake::of(token) {
            ChunkedWake::Dispatch => {
                self.dispatch_at = None;
                self.dispatch(now, out);
            }
            ChunkedWake::Queue(id) => self.enqueue(id, now, out),
            ChunkedWake::ChunkEnd(serial) => self.chunk_ended(serial, now, out),
        }
    }

    fn slow_nic(&mut self, node: NodeId, by: Option<Slowdown>, _now: Nanos, _out: &mut Outbox) {
        // Read when chunks start: those in flight keep their rate.
        self.nodes[node.index()].slowdown = by;
    }

    fn drop_link(&mut self, a: NodeId, b: NodeId, dropped: bool, now: Nanos, out: &mut Outbox) {
        let pair = (a.min(b), a.max(b));
        let on = |from: NodeId, to: NodeId| (from.min(to), from.max(to)) == pair;
        if dropped {
            if !self.dropped.contains(&pair) {
                self.dropped.push(pair);
            }
            let stopped: Vec<u64> = self
                .running
                .iter()
                .filter(|(_, c)| on(c.from, c.to))
                .map(|(&serial, _)| serial)
                .collect();
            for serial in stopped {
                let c = self.running.remove(&serial).expect("listed");
                self.paused.push(Paused {
                    id: c.id,
                    from: c.from,
                    to: c.to,
                    left: c.ends.saturating_sub(now),
                });
            }
        } else {
            self.dropped.retain(|p| *p != pair);
            let (resumed, still): (Vec<Paused>, Vec<Paused>) = std::mem::take(&mut self.paused)
                .into_iter()
                .partition(|p| on(p.from, p.to));
            self.paused = still;
            for p in resumed {
                self.run(p.id, p.from, p.to, now.saturating_add(p.left), out);
            }
            self.ask_dispatch(now, out);
        }
    }

    fn cancel(&mut self, id: TransferId, now: Nanos, out: &mut Outbox) {
        let Some(t) = self.transfers.remove(&id) else {
            return; // unknown, arrived or already cancelled
        };
        if !t.queued {
            return; // its latency wake-up will find nothing
        }
        let queue = &mut self.nodes[t.from.index()].queue;
        if let Some(k) = queue.iter().position(|s| s.id == id) {
            queue.remove(k);
        }
        self.running.retain(|_, c| c.id != id);
        self.paused.retain(|p| p.id != id);
        let in_flight = u32::try_from(t.started - t.ended).expect("at most the thread count");
        self.free_threads(t.from, t.to, in_flight, now);
        self.ask_dispatch(now, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 Gbit/s, an m5.xlarge's burst: a 1,000,000-byte chunk takes 800 µs.
    const NIC: u64 = 1_250_000_000;
    const MB: u64 = 1_000_000;
    const L: Nanos = 100_000;

    /// One send and one receive thread: Ray v0.6 on a 4-vCPU node.
    fn ray() -> ChunkedSpec {
        ChunkedSpec::ray_v0_6(4)
    }

    type Driver = super::super::driver::Driver<ChunkedTransport>;

    /// A chunked transport on `nodes` nodes, driven as the core drives one.
    fn driver(nodes: usize, nic: u64, latency: Nanos, spec: ChunkedSpec) -> Driver {
        Driver::new(ChunkedTransport::new(nodes, nic, latency, spec))
    }

    use TransportEvent::{Arrived, Flowing};

    #[test]
    fn ray_v0_6_defaults_and_checks() {
        let one = ChunkedSpec::ray_v0_6(4);
        assert_eq!(
            one,
            ChunkedSpec {
                chunk_size: 1_000_000,
                send_threads: 1,
                recv_threads: 1,
                flow_cap: None,
                bucket: None,
            }
        );
        assert_eq!(ChunkedSpec::ray_v0_6(1).send_threads, 1);
        assert_eq!(ChunkedSpec::ray_v0_6(16).recv_threads, 4);
        assert_eq!(one.check(), Ok(()));
        let bad = |f: fn(&mut ChunkedSpec)| {
            let mut s = one;
            f(&mut s);
            s.check().unwrap_err()
        };
        assert_eq!(bad(|s| s.chunk_size = 0), ChunkedError::ZeroChunkSize);
        assert_eq!(bad(|s| s.send_threads = 0), ChunkedError::ZeroSendThreads);
        assert_eq!(bad(|s| s.recv_threads = 0), ChunkedError::ZeroRecvThreads);
        assert_eq!(bad(|s| s.flow_cap = Some(0)), ChunkedError::ZeroFlowCap);
        let zero_baseline = bad(|s| {
            s.bucket = Some(TokenBucket {
                baseline: 0,
                credit: 1,
            })
        });
        assert_eq!(zero_baseline, ChunkedError::ZeroBaseline);
        assert!(zero_baseline.to_string().contains("baseline"));
        assert!(
            ChunkedError::ZeroChunkSize
                .to_string()
                .contains("chunk_size")
        );
    }

    #[test]
    fn wake_tokens_round_trip() {
        for w in [
            ChunkedWake::Dispatch,
            ChunkedWake::Queue(TransferId(0)),
            ChunkedWake::Queue(TransferId(9)),
            ChunkedWake::ChunkEnd(0),
            ChunkedWake::ChunkEnd(41),
        ] {
            assert_eq!(ChunkedWake::of(w.token()), w);
        }
    }

    #[test]
    fn a_fifo_sender_finishes_two_objects_in_order() {
        // Two 16-chunk objects from node 0 to node 1, asked for at 0. Both join the queue
        // after the latency (100 µs), A first. One chunk at a time, 800 µs each:
        // A flows at 100_000 and arrives at 100_000 + 16 × 800_000 = 12_900_000; B's first
        // chunk starts as A's last ends and B arrives at 12_900_000 + 12_800_000 = 25_700_000.
        let mut d = driver(2, NIC, L, ray());
        let a = d.start(0, 1, 16 * MB);
        let b = d.start(0, 1, 16 * MB);
        d.run();
        assert_eq!(
            d.log,
            vec![
                (100_000, Flowing(a)),
                (12_900_000, Arrived(a)),
                (12_900_000, Flowing(b)),
                (25_700_000, Arrived(b)),
            ]
        );
        assert!(d.t.is_idle());
    }

    #[test]
    fn two_senders_share_one_receive_thread_by_waiting_time() {
        // B (node 1 → 2) is asked for before A (node 0 → 2), 3 chunks each. Both senders wait
        // from 100_000: a tie, so node 0 (lower id) goes first. From then on the sender whose
        // chunk just ended has waited less than the other, which goes next: the chunks
        // alternate A B A B A B, 800 µs each, from 100_000.
        // A: chunks at 0.1, 1.7, 3.3 ms → arrives 4.1 ms; B: 0.9, 2.5, 4.1 → arrives 4.9 ms.
        let mut d = driver(3, NIC, L, ray());
        let b = d.start(1, 2, 3 * MB);
        let a = d.start(0, 2, 3 * MB);
        d.run();
        assert_eq!(
            d.log,
            vec![
                (100_000, Flowing(a)),
                (900_000, Flowing(b)),
                (4_100_000, Arrived(a)),
                (4_900_000, Arrived(b)),
            ]
        );
    }

    #[test]
    fn a_sender_serves_two_receivers_one_object_after_the_other() {
        // X (3 chunks) to node 1 and Y (2 chunks) to node 2, both from node 0, at 0: node 2's
        // receive thread is free, but Y waits for all of X. X: 0.1 → 2.5 ms; Y: 2.5 → 4.1 ms.
        let mut d = driver(3, NIC, L, ray());
        let x = d.start(0, 1, 3 * MB);
        let y = d.start(0, 2, 2 * MB);
        d.run();
        assert_eq!(
            d.log,
            vec![
                (100_000, Flowing(x)),
                (2_500_000, Arrived(x)),
                (2_500_000, Flowing(y)),
                (4_100_000, Arrived(y)),
            ]
        );
    }

    #[test]
    fn a_head_waiting_for_its_receiver_holds_up_its_queue() {
        // Z: node 0 → 2, 2 chunks; X: node 1 → 2, 1 chunk; Y: node 1 → 3, 1 chunk.
        // 0.1 ms: Z's first chunk takes node 2's receive thread; node 1's head (X) waits, and Y
        //         behind it, although node 3 is idle.
        // 0.9 ms: node 1 has waited longer than node 0: X runs until 1.7 ms.
        // 1.7 ms: Z's second chunk and Y start; both end at 2.5 ms (Y alone: 0.9 ms).
        let mut d = driver(4, NIC, L, ray());
        let z = d.start(0, 2, 2 * MB);
        let x = d.start(1, 2, MB);
        let y = d.start(1, 3, MB);
        d.run();
        assert_eq!(
            d.log,
            vec![
                (100_000, Flowing(z)),
                (900_000, Flowing(x)),
                (1_700_000, Arrived(x)),
                (1_700_000, Flowing(y)),
                (2_500_000, Arrived(z)),
                (2_500_000, Arrived(y)),
            ]
        );
    }

    #[test]
    fn the_flow_cap_and_the_thread_shares_set_each_chunks_rate() {
        // (send threads, receive threads, cap, bytes, arrival). The latency is 100 µs.
        let cases = [
            // Capped at 5 Gbit/s: 1.6 ms a chunk, 2 chunks.
            (1, 1, Some(625_000_000), 2 * MB, 3_300_000),
            // Two send threads, two receive threads: 625 MB/s each, two chunks at a time; the
            // 4 chunks take 2 × 1.6 ms, as one thread at full rate would.
            (2, 2, None, 4 * MB, 3_300_000),
            // Two send threads, four receive threads: the receiver's share (312.5 MB/s) is
            // the lower: 3.2 ms a chunk, two at a time.
            (2, 4, None, 4 * MB, 6_500_000),
            // The cap below the thread share: 500 MB/s, 2 ms a chunk, two at a time.
            (2, 2, Some(500_000_000), 4 * MB, 4_100_000),
        ];
        for (send, recv, cap, bytes, arrival) in cases {
            let spec = ChunkedSpec {
                send_threads: send,
                recv_threads: recv,
                flow_cap: cap,
                ..ray()
            };
            let mut d = driver(2, NIC, L, spec);
            let id = d.start(0, 1, bytes);
            d.run();
            assert_eq!(
                d.log,
                vec![(L, Flowing(id)), (arrival, Arrived(id))],
                "{send} {recv} {cap:?}"
            );
        }
    }

    /// 1 GB/s NICs with 3 MB of credit refilled at 250 MB/s.
    fn bucketed() -> (u64, ChunkedSpec) {
        let spec = ChunkedSpec {
            bucket: Some(TokenBucket {
                baseline: 250_000_000,
                credit: 3 * MB,
            }),
            ..ray()
        };
        (1_000_000_000, spec)
    }

    #[test]
    fn a_token_bucket_bursts_until_empty_then_runs_at_baseline_and_refills_when_idle() {
        // Burst: 1 ms a chunk (refilling 0.25 MB meanwhile); baseline: 4 ms a chunk. Both
        // buckets (node 0's egress, node 1's ingress) move alike.
        // 10 MB from 0.1 ms: the bucket holds 3, 2.25, 1.5, 0.75 MB as chunks 1-4 start (at
        // burst), 0 when chunk 5 starts at 4.1 ms (baseline; it takes 1 MB, refilled over its
        // 4 ms); chunks 5-10 at baseline: 4 + 6 × 4 = 28 ms, arrived at 28.1 ms, bucket at 0.
        let (nic, spec) = bucketed();
        let mut d = driver(2, nic, L, spec);
        let a = d.start(0, 1, 10 * MB);
        d.run();
        assert_eq!(d.log, vec![(L, Flowing(a)), (28_100_000, Arrived(a))]);
        // Idle until 32.1 ms: 4 ms of refill, 1 MB. 3 MB: chunk 1 at burst (1 → 0 MB), chunk
        // 2 at 33.1 ms at burst (0.25 → -0.75 MB), chunk 3 at 34.1 ms (-0.5 MB) at baseline,
        // until 38.1 ms.
        d.run_until(32_000_000);
        let b = d.start(0, 1, 3 * MB);
        d.run();
        assert_eq!(
            d.log[2..],
            [(32_100_000, Flowing(b)), (38_100_000, Arrived(b))]
        );
        // Idle a full second: the buckets hold their credit, 3 MB, and no more; 10 MB take
        // 28 ms again.
        d.run_until(1_038_000_000);
        let c = d.start(0, 1, 10 * MB);
        d.run();
        assert_eq!(
            d.log[4..],
            [(1_038_100_000, Flowing(c)), (1_066_100_000, Arrived(c))]
        );
        assert!(d.t.is_idle());
    }

    #[test]
    fn each_direction_has_its_own_bucket() {
        // 0.5 MB of credit at 100 MB/s; 1 GB/s burst; no latency. A: 0 → 1, one 1 MB chunk
        // at burst (1 ms) leaves node 0's egress and node 1's ingress at -0.5 MB (-0.4 MB by
        // 1 ms). Then from 1 ms (nodes 1 and 2 both waiting since then: node 1 first),
        // C: 1 → 0 bursts (node 1's egress and node 0's ingress are full): 1 ms; B: 2 → 1
        // runs at baseline (node 1's ingress is empty): 10 ms.
        let spec = ChunkedSpec {
            bucket: Some(TokenBucket {
                baseline: 100_000_000,
                credit: 500_000,
            }),
            ..ray()
        };
        let mut d = driver(3, 1_000_000_000, 0, spec);
        let a = d.start(0, 1, MB);
        d.run_until(1_000_000);
        let b = d.start(2, 1, MB);
        let c = d.start(1, 0, MB);
        d.run();
        assert_eq!(
            d.log,
            vec![
                (0, Flowing(a)),
                (1_000_000, Arrived(a)),
                (1_000_000, Flowing(c)),
                (1_000_000, Flowing(b)),
                (2_000_000, Arrived(c)),
                (11_000_000, Arrived(b)),
            ]
        );
    }

    #[test]
    fn a_cancel_mid_object_frees_its_send_and_receive_threads() {
        // X: 0 → 1, 4 chunks, from 0.1 ms (chunks at 0.1 and 0.9 ms); Y: 0 → 2 behind it.
        // W: 2 → 1 asked for at 1 ms, in node 1's queue at 1.1 ms, waits for node 1's receive
        // thread. X is given up at 1.3 ms, its second chunk half sent: node 0's send thread
        // and node 1's receive thread are free at once, and W and Y both start at 1.3 ms,
        // arriving at 2.1 ms. X's chunk that was to end at 1.7 ms reports nothing.
        let mut d = driver(3, NIC, L, ray());
        let x = d.start(0, 1, 4 * MB);
        let y = d.start(0, 2, MB);
        d.run_until(1_000_000);
        let w = d.start(2, 1, MB);
        d.run_until(1_300_000);
        d.cancel(x);
        d.cancel(x); // a second cancel is ignored
        d.run();
        assert_eq!(
            d.log,
            vec![
                (100_000, Flowing(x)),
                (1_300_000, Flowing(w)),
                (1_300_000, Flowing(y)),
                (2_100_000, Arrived(w)),
                (2_100_000, Arrived(y)),
            ]
        );
        assert!(d.t.is_idle());
        // Cancelling what arrived, or during the latency, changes nothing else.
        let v = d.start(0, 1, MB);
        d.cancel(y);
        d.cancel(v);
        d.run();
        assert_eq!(d.log.len(), 5);
        assert!(d.t.is_idle());
    }

    #[test]
    fn the_last_chunk_is_partial() {
        // 2.5 MB: 0.8 + 0.8 + 0.4 ms. 2,000,001 B: 0.8 + 0.8 ms + 1 byte (0.8 ns, rounded up).
        for (bytes, arrival) in [(2_500_000, 2_100_000), (2_000_001, 1_700_001)] {
            let mut d = driver(2, NIC, L, ray());
            let id = d.start(0, 1, bytes);
            d.run();
            assert_eq!(d.log, vec![(L, Flowing(id)), (arrival, Arrived(id))]);
        }
    }

    #[test]
    fn the_latency_comes_first_and_an_empty_object_is_one_empty_chunk() {
        let mut d = driver(2, NIC, 250_000, ray());
        let a = d.start(0, 1, MB);
        let empty = d.start(0, 1, 0);
        d.run();
        // The empty object waits behind A in the queue, then takes no time.
        assert_eq!(
            d.log,
            vec![
                (250_000, Flowing(a)),
                (1_050_000, Arrived(a)),
                (1_050_000, Flowing(empty)),
                (1_050_000, Arrived(empty)),
            ]
        );
        // Without latency, the first chunk starts at once.
        let mut d = driver(2, NIC, 0, ray());
        let b = d.start(1, 0, MB);
        d.run();
        assert_eq!(d.log, vec![(0, Flowing(b)), (800_000, Arrived(b))]);
    }

    #[test]
    fn an_object_small_enough_to_move_inline_joins_the_queue_at_once() {
        // Inline up to 100 KB, latency 250 µs: 1 KB joins its sender's queue at 0 and is
        // through at 800 ns, 1 MB waits the latency first.
        let mut d = Driver::new(
            ChunkedTransport::new(2, NIC, 250_000, ray()).with_inline_max(Some(100_000)),
        );
        let large = d.start(0, 1, MB);
        let small = d.start(0, 1, 1_000);
        d.run();
        assert_eq!(
            d.log,
            vec![
                (0, Flowing(small)),
                (800, Arrived(small)),
                (250_000, Flowing(large)),
                (1_050_000, Arrived(large)),
            ]
        );
    }

    #[test]
    fn a_slow_nic_slows_the_chunks_that_start_after_it() {
        // 2 chunks, no latency. Node 0's NIC is 2× slower from 0.4 ms: the first chunk keeps
        // its rate (ends at 0.8 ms), the second takes 1.6 ms (ends at 2.4 ms). Back to full
        // speed at 3 ms: the next object's chunk takes 0.8 ms.
        let mut d = driver(2, NIC, 0, ray());
        let a = d.start(0, 1, 2 * MB);
        d.run_until(400_000);
        d.slow_nic(0, Some(2_000));
        d.run_until(3_000_000);
        d.slow_nic(0, None);
        let b = d.start(0, 1, MB);
        d.run();
        assert_eq!(
            d.log,
            vec![
                (0, Flowing(a)),
                (2_400_000, Arrived(a)),
                (3_000_000, Flowing(b)),
                (3_800_000, Arrived(b)),
            ]
        );
        // The receiver's slowdown counts as well.
        let mut d = driver(2, NIC, 0, ray());
        d.slow_nic(1, Some(4_000));
        let c = d.start(0, 1, MB);
        d.run();
        assert_eq!(d.log, vec![(0, Flowing(c)), (3_200_000, Arrived(c))]);
    }

    #[test]
    fn a_dropped_link_pauses_its_chunks_and_blocks_the_queue() {
        // X: 0 → 1, 3 chunks; Y: 0 → 2 behind it; no latency. The link 0-1 drops at 0.4 ms,
        // half-way through X's first chunk, and comes back at 1 ms: the chunk's last 0.4 ms
        // run from then, X's other chunks follow (arrived 3.0 ms), then Y (3.8 ms); Y waited
        // although its own link was up.
        let mut d = driver(3, NIC, 0, ray());
        let x = d.start(0, 1, 3 * MB);
        let y = d.start(0, 2, MB);
        d.run_until(400_000);
        d.drop_link(1, 0, true);
        d.run_until(1_000_000);
        d.drop_link(0, 1, false);
        d.run();
        assert_eq!(
            d.log,
            vec![
                (0, Flowing(x)),
                (3_000_000, Arrived(x)),
                (3_000_000, Flowing(y)),
                (3_800_000, Arrived(y)),
            ]
        );
        // Dropped before anything starts: X's head waits for the link, Y behind it.
        let mut d = driver(3, NIC, 0, ray());
        d.drop_link(0, 1, true);
        let x = d.start(0, 1, 3 * MB);
        let y = d.start(0, 2, MB);
        d.run_until(1_000_000);
        assert!(d.log.is_empty());
        d.drop_link(0, 1, false);
        d.run();
        assert_eq!(
            d.log,
            vec![
                (1_000_000, Flowing(x)),
                (3_400_000, Arrived(x)),
                (3_400_000, Flowing(y)),
                (4_200_000, Arrived(y)),
            ]
        );
        assert!(d.t.is_idle());
    }

    /// What the property drives: a request, a cancel, or a fault's start or end.
    #[derive(Clone, Copy, Debug)]
    enum Act {
        Start(usize),
        Cancel(usize),
        Slow(u32, Option<u32>),
        Drop(u32, u32, bool),
    }

    proptest::proptest! {
        /// Random requests, cancels and faults through the `Transport` boundary: every transfer
        /// not given up is reported flowing once, then arrived once, no sooner than its start
        /// plus the latency plus its bytes at the fastest rate it could get; nothing is
        /// reported for a transfer after it is given up; with one send thread each sender's
        /// transfers arrive in the order they were asked for; and in the end nothing is left.
        #[test]
        fn every_transfer_arrives_once_in_order_and_no_faster_than_the_nic(
            nodes in 2u32..5,
            chunk_size in proptest::prop_oneof![
                proptest::strategy::Just(1_000_000u64),
                200_000u64..2_000_000,
            ],
            send_threads in 1u32..3,
            recv_threads in 1u32..3,
            flow_cap in proptest::option::of(100_000_000u64..2_000_000_000),
            bucket in proptest::option::of((50_000_000u64..1_000_000_000, 0u64..5_000_000)),
            latency in 0u64..200_000,
            requests in proptest::collection::vec(
                (0u32..5, 0u32..4, proptest::prop_oneof![
                    proptest::strategy::Just(0u64),
                    1u64..4_000_000,
                ], 0u64..20_000_000),
                1..30,
            ),
            cancels in proptest::collection::vec((0usize..30, 0u64..25_000_000), 0..5),
            faults in proptest::collection::vec(
                (0u32..5, 0u32..4, 0u64..20_000_000, 1u64..5_000_000,
                 proptest::option::of(1_000u32..4_000)),
                0..3,
            ),
        ) {
            const NIC: u64 = 1_000_000_000;
            let spec = ChunkedSpec {
                chunk_size,
                send_threads,
                recv_threads,
                flow_cap,
                bucket: bucket.map(|(baseline, credit)| TokenBucket { baseline, credit }),
            };
            let pair = |a: u32, d: u32| {
                let from = a % nodes;
                (from, (from + 1 + d % (nodes - 1)) % nodes)
            };
            // Every act at its time, ties in the order listed here.
            let mut acts: Vec<(Nanos, usize, Act)> = Vec::new();
            for (k, r) in requests.iter().enumerate() {
                acts.push((r.3, acts.len(), Act::Start(k)));
            }
            for &(k, at) in &cancels {
                acts.push((at, acts.len(), Act::Cancel(k % requests.len())));
            }
            for &(a, d, at, lasts, slow) in &faults {
                let (a, b) = pair(a, d);
                match slow {
                    Some(milli) => {
                        acts.push((at, acts.len(), Act::Slow(a, Some(milli))));
                        acts.push((at + lasts, acts.len(), Act::Slow(a, None)));
                    }
                    None => {
                        acts.push((at, acts.len(), Act::Drop(a, b, true)));
                        acts.push((at + lasts, acts.len(), Act::Drop(a, b, false)));
                    }
                }
            }
            acts.sort_by_key(|a| (a.0, a.1));

            let mut d = driver(nodes as usize, NIC, latency, spec);
            // Per request: its id and when it started, once started; when it was given up (as
            // a position in the log), if it was.
            let mut started: Vec<Option<(TransferId, Nanos)>> = vec![None; requests.len()];
            let mut given_up: Vec<Option<usize>> = vec![None; requests.len()];
            for (at, _, act) in acts {
                d.run_until(at);
                match act {
                    Act::Start(k) => {
                        let (from, to) = pair(requests[k].0, requests[k].1);
                        started[k] = Some((d.start(from, to, requests[k].2), at));
                    }
                    Act::Cancel(k) => {
                        if let Some((id, _)) = started[k] {
                            d.cancel(id);
                            given_up[k].get_or_insert(d.log.len());
                        }
                    }
                    Act::Slow(node, milli) => d.slow_nic(node, milli),
                    Act::Drop(a, b, dropped) => d.drop_link(a, b, dropped),
                }
            }
            d.run();
            proptest::prop_assert!(d.t.is_idle());

            // The fastest a transfer moves: at most min(send, receive threads) chunks at once,
            // each at most min(cap, NIC / send threads, NIC / receive threads). As a fraction
            // num / den of bytes per second.
            let (m, big) = (
                u128::from(send_threads.min(recv_threads)),
                u128::from(send_threads.max(recv_threads)),
            );
            let per_chunk_times_big = u128::from(NIC).min(flow_cap.map_or(u128::MAX, |c| u128::from(c) * big));
            let (num, den) = (m * per_chunk_times_big, big);

            // Where each transfer's arrival is in the log, by sender, by id (the order of
            // asking).
            let mut arrivals: Vec<Vec<(TransferId, usize)>> = vec![Vec::new(); nodes as usize];
            for (k, s) in started.iter().enumerate() {
                let (id, at) = s.expect("every request was started");
                let events: Vec<(usize, Nanos, TransportEvent)> = d
                    .log
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, ev))| matches!(ev, Flowing(i) | Arrived(i) if *i == id))
                    .map(|(pos, &(t, ev))| (pos, t, ev))
                    .collect();
                if let Some(cut) = given_up[k] {
                    // Nothing after it was given up; before, at most flowing then arrived.
                    proptest::prop_assert!(events.iter().all(|e| e.0 < cut));
                    proptest::prop_assert!(events.len() <= 2);
                    if let Some(first) = events.first() {
                        proptest::prop_assert_eq!(first.2, Flowing(id));
                    }
                    continue;
                }
                proptest::prop_assert_eq!(events.len(), 2, "{:?}: {:?}", id, events);
                let ((_, flowing, first), (pos, arrived, second)) = (events[0], events[1]);
                proptest::prop_assert_eq!(first, Flowing(id));
                proptest::prop_assert_eq!(second, Arrived(id));
                proptest::prop_assert!(flowing >= at + latency);
                let spent = u128::from(arrived - at - latency);
                let bytes = u128::from(requests[k].2);
                proptest::prop_assert!(
                    spent * num >= bytes * 1_000_000_000 * den,
                    "{:?} of {} B arrived after {} ns", id, bytes, spent
                );
                let (from, _) = pair(requests[k].0, requests[k].1);
                arrivals[from as usize].push((id, pos));
            }
            if send_threads == 1 {
                for positions in &mut arrivals {
                    positions.sort_unstable();
                    proptest::prop_assert!(positions.windows(2).all(|w| w[0].1 < w[1].1));
                }
            }
        }
    }
}
