//! The transport boundary: how an object's bytes get from one node to another.
//!
//! The core decides *what* moves: it merges pulls of one object to one node, picks the source
//! (the holder with the fewest outgoing transfers in flight), reserves room at the destination
//! and pins the source copy. Then it hands a [`TransferRequest`] to its [`Transport`] and waits
//! to be told, through [`TransportEvent`]s, when the bytes start arriving
//! ([`TransportEvent::Flowing`]) and when the last one has ([`TransportEvent::Arrived`]).
//! *How* the bytes move, and so how long that takes, is the transport's alone.
//!
//! The contract fits three kinds of transport:
//! - **A simulated model inside the sans-IO core** (the fluid max-min model, [`fluid`]): it
//!   asks the core for wake-ups through the [`Outbox`] (opaque tokens the core keeps in its own
//!   timer queue, so that transport timers and every other timer are ordered by one
//!   `(time, sequence)` key) and reports events when they fire.
//! - **A second simulated model**, Ray v0.6's object manager moving objects in chunks through
//!   one FIFO send queue per node, over NICs that may burst on credit ([`chunked`]): the same
//!   two calls.
//! - **Real sockets driven by an executor**: the transport only queues requests, which the
//!   executor takes with [`Transport::poll_request`] and carries out; what then happens comes
//!   back as inputs with their time ([`Core::transport_input`](super::Core::transport_input)),
//!   which the core passes to [`Transport::input`]. [`external::ExternalTransport`] is that
//!   kind.
//!
//! Rules every transport keeps:
//! - A transfer is reported `Flowing` at most once and `Arrived` exactly once, `Flowing` (if
//!   reported) first; nothing is reported for an id the transport did not hand out.
//! - It never reports an event at a time earlier than the call that reports it.
//! - Given the same calls at the same times it does the same thing (no clock, no randomness of
//!   its own): a simulated transport is as deterministic as the core.

pub mod chunked;
#[cfg(test)]
mod driver;
pub mod external;
pub mod fluid;

use crate::fault::Slowdown;
use crate::model::Jitter;
use crate::time::Nanos;
use cohort_policy::{NodeId, ObjectId};

/// Identifies one transfer. Handed out by the transport, ascending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransferId(pub u64);

/// One object to move from one node to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferRequest {
    /// The object.
    pub object: ObjectId,
    /// The node that holds a sealed, pinned copy.
    pub from: NodeId,
    /// The node that reserved room for it. Never equal to `from`.
    pub to: NodeId,
    /// Bytes to move.
    pub size: u64,
    /// Time before the transfer's latency starts: what waking its ends costs (see
    /// [`crate::model::WakeUp`]). A simulated transport adds it to its latency; 0 unless the
    /// model charges wake-ups.
    pub setup: Nanos,
}

/// The noise a simulated transport puts on each transfer's latency: the model's
/// [`crate::model::ModelOptions::latency_jitter`] under the run's seed. The draw depends on
/// the seed, the object and its destination only (see [`Jitter::apply_to_transfer`]), so the
/// held path, where the core times the set-up itself, draws the same.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyNoise {
    /// The kind and size of the noise.
    pub jitter: Jitter,
    /// The run's seed.
    pub seed: u64,
}

impl LatencyNoise {
    /// `latency` with the noise drawn for `request`.
    pub fn apply(self, latency: Nanos, request: &TransferRequest) -> Nanos {
        self.jitter
            .apply_to_transfer(latency, self.seed, request.object.0, request.to.0)
    }
}

/// A transfer's latency: the network's fixed latency, none for an object small enough to move
/// inline (at most `inline_max` bytes, see
/// [`NetworkSpec::inline_max`](crate::NetworkSpec::inline_max)), with its noise. What a
/// simulated transport waits before a transfer's bytes move is that, then the request's
/// `setup`; the core times a held transfer's set-up from it too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// The fixed latency.
    pub fixed: Nanos,
    /// Objects of at most this many bytes skip it.
    pub inline_max: Option<u64>,
    /// The noise on it.
    pub noise: LatencyNoise,
}

impl Latency {
    /// `network`'s latency, with `noise` on it.
    pub fn of_network(network: &crate::spec::NetworkSpec, noise: LatencyNoise) -> Latency {
        Latency {
            fixed: network.latency,
            inline_max: network.inline_max,
            noise,
        }
    }

    /// `request`'s latency, with its noise (its set-up not included).
    pub fn of(&self, request: &TransferRequest) -> Nanos {
        match self.inline_max {
            Some(max) if request.size <= max => 0,
            _ => self.noise.apply(self.fixed, request),
        }
    }

    /// What `request` waits before its bytes move: its latency, then its set-up.
    pub fn before(&self, request: &TransferRequest) -> Nanos {
        self.of(request).saturating_add(request.setup)
    }
}

/// What a transport tells the core about a transfer, at the time of the call that reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportEvent {
    /// The transfer's first bytes are arriving (its latency has passed).
    Flowing(TransferId),
    /// The transfer's last byte has arrived; the copy at the destination is complete.
    Arrived(TransferId),
}

/// A moment a transport asked to be woken at, with a token only the transport interprets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WakeRequest {
    /// When.
    pub at: Nanos,
    /// The transport's own tag, handed back to [`Transport::wake`].
    pub token: u64,
}

/// What a transport asks of the core during one call: wake-ups and events, each in the order
/// they were added. The core schedules every wake-up before it handles any event.
#[derive(Debug, Default)]
pub struct Outbox {
    wakes: Vec<WakeRequest>,
    events: Vec<TransportEvent>,
}

impl Outbox {
    /// Asks to be woken at `at` (not before the current call's time) with `token`.
    pub fn wake_at(&mut self, at: Nanos, token: u64) {
        self.wakes.push(WakeRequest { at, token });
    }

    /// Reports an event, as of the current call's time.
    pub fn report(&mut self, event: TransportEvent) {
        self.events.push(event);
    }

    /// Takes the wake-ups asked for, in order.
    pub fn drain_wakes(&mut self) -> std::vec::Drain<'_, WakeRequest> {
        self.wakes.drain(..)
    }

    /// Whether events were reported and not taken yet.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The events reported and not cleared yet, in order.
    pub fn events(&self) -> &[TransportEvent] {
        &self.events
    }

    /// Forgets the events reported (keeping the buffer).
    pub fn clear_events(&mut self) {
        self.events.clear();
    }

    /// Takes the events reported, in order, leaving the outbox's buffer behind: handling an
    /// event may call the transport again, which reports into the same outbox.
    pub fn take_events(&mut self) -> Vec<TransportEvent> {
        std::mem::take(&mut self.events)
    }

    /// Gives back a buffer taken by [`Outbox::take_events`] (emptied) for reuse, unless events
    /// were reported meanwhile.
    pub fn recycle_events(&mut self, mut buffer: Vec<TransportEvent>) {
        if self.events.is_empty() {
            buffer.clear();
            self.events = buffer;
        }
    }
}

/// How bytes move between nodes. See the module documentation for the contract.
pub trait Transport: std::fmt::Debug + Send {
    /// Begins moving `request` at `now`; returns the transfer's id.
    fn start(&mut self, request: TransferRequest, now: Nanos, out: &mut Outbox) -> TransferId;

    /// Registers `request` at `now` without moving it: it waits for [`Transport::release`],
    /// which ends its set-up instead of the transport's latency (the core spends that time on
    /// the host's cores; see `ModelOptions::host_cores`). The default starts it at once: a
    /// transport whose bytes move outside the core spends its set-up for real.
    fn start_held(&mut self, request: TransferRequest, now: Nanos, out: &mut Outbox) -> TransferId {
        self.start(request, now, out)
    }

    /// Held transfer `id` is set up at `now`: its bytes start moving, with no further latency.
    /// An id given up meanwhile is ignored; the default does nothing.
    fn release(&mut self, id: TransferId, now: Nanos, out: &mut Outbox) {
        let _ = (id, now, out);
    }

    /// A wake-up asked for with `token` is due; `now` is its time. Wake-ups come in the order
    /// of `(time, order of asking)`, interleaved with the core's other timers by the same key.
    fn wake(&mut self, token: u64, now: Nanos, out: &mut Outbox);

    /// An event observed outside the core (by an executor moving real bytes), at `now`. A
    /// transport whose bytes move inside the core ignores it (the default).
    fn input(&mut self, event: TransportEvent, now: Nanos, out: &mut Outbox) {
        let _ = (event, now, out);
    }

    /// The next request for an executor to carry out, for a transport whose bytes move outside
    /// the core; `None` otherwise (the default).
    fn poll_request(&mut self) -> Option<(TransferId, TransferRequest)> {
        None
    }

    /// From `now`, node `node`'s NIC moves bytes `by` times slower in each direction (at its
    /// full speed again with `None`): a `slow_nic` fault. A simulated transport changes its
    /// model; where an executor moves real bytes, the slowdown is the executor's to apply (a
    /// node's token bucket), and the core's side does nothing (the default).
    fn slow_nic(&mut self, node: NodeId, by: Option<Slowdown>, now: Nanos, out: &mut Outbox) {
        let _ = (node, by, now, out);
    }

    /// From `now`, the link between nodes `a` and `b` carries nothing (`dropped`), or carries
    /// again: a `drop_link` fault. Transfers between them wait, keeping their progress. As
    /// with [`Transport::slow_nic`], an executor moving real bytes applies it itself (the
    /// default does nothing).
    fn drop_link(&mut self, a: NodeId, b: NodeId, dropped: bool, now: Nanos, out: &mut Outbox) {
        let _ = (a, b, dropped, now, out);
    }

    /// The core gives up transfer `id` at `now` (one of its ends died): it moves no more
    /// bytes, nothing more is reported for it, and a simulated transport gives the bandwidth
    /// it used to the other transfers from `now`. An id that is unknown, or already reported
    /// `Arrived`, is ignored. Where an executor moves real bytes, it learns of the death
    /// itself (a closed connection); the default does nothing, and the core ignores what is
    /// reported later for an id it gave up.
    fn cancel(&mut self, id: TransferId, now: Nanos, out: &mut Outbox) {
        let _ = (id, now, out);
    }
}

/// Which transport a cluster's network uses. Part of [`NetworkSpec`](crate::NetworkSpec).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TransportModel {
    /// The fluid model: a fixed latency, then max-min fair shares of NIC bandwidth
    /// ([`fluid::FluidTransport`]).
    #[default]
    Fluid,
    /// Bytes are moved by the executor ([`external::ExternalTransport`]): the core only asks
    /// and is told. For executors that move real bytes.
    External,
    /// Ray v0.6's object manager: a fixed latency, then the object's chunks through its
    /// sender's FIFO queue, a few at a time, at the NIC's (possibly credit-limited) rate
    /// ([`chunked::ChunkedTransport`]).
    Chunked(chunked::ChunkedSpec),
}

impl TransportModel {
    /// A transport of this model for a cluster of `nodes` nodes on `network`, whose
    /// latencies carry `noise`.
    pub fn build(
        self,
        nodes: usize,
        network: &crate::spec::NetworkSpec,
        noise: LatencyNoise,
    ) -> Box<dyn Transport> {
        let latency = Latency::of_network(network, noise);
        match self {
            TransportModel::Fluid => Box::new(
                fluid::FluidTransport::new(nodes, network.nic_bandwidth, network.latency)
                    .with_latency(latency)
                    .with_nic_limits(network.nic_limits),
            ),
            TransportModel::External => Box::new(external::ExternalTransport::default()),
            TransportModel::Chunked(spec) => Box::new(
                chunked::ChunkedTransport::new(nodes, network.nic_bandwidth, network.latency, spec)
                    .with_latency(latency),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{NetworkSpec, NicLimits};

    #[test]
    fn each_simulated_transport_waits_the_latency_with_its_noise_then_the_set_up() {
        let noise = LatencyNoise {
            jitter: Jitter::LogNormal { sigma_ppm: 600_000 },
            seed: 3,
        };
        for model in [
            TransportModel::Fluid,
            TransportModel::Chunked(chunked::ChunkedSpec::ray_v0_6(4)),
        ] {
            let network = NetworkSpec {
                nic_bandwidth: 1_000_000_000,
                latency: 100_000,
                transport: model,
                inline_max: None,
                nic_limits: NicLimits::Both,
            };
            let mut waits = Vec::new();
            for object in 0..8 {
                let request = TransferRequest {
                    object: ObjectId(object),
                    from: NodeId(0),
                    to: NodeId(1),
                    size: 1_000,
                    setup: 7,
                };
                let mut t = model.build(2, &network, noise);
                let mut out = Outbox::default();
                t.start(request, 1_000, &mut out);
                let first = out.drain_wakes().map(|w| w.at).min().unwrap();
                assert_eq!(
                    first,
                    1_000 + noise.apply(100_000, &request) + 7,
                    "{model:?}, object {object}"
                );
                waits.push(first);
                // Without noise, the latency itself.
                let mut t = model.build(2, &network, LatencyNoise::default());
                t.start(request, 1_000, &mut out);
                assert_eq!(out.drain_wakes().map(|w| w.at).min(), Some(101_007));
            }
            assert!(
                waits.windows(2).any(|w| w[0] != w[1]),
                "{model:?}: every object drew the same"
            );
        }
    }
}
