//! The core's side of the transport boundary: asking for an object at a node, merging pulls,
//! choosing the source, and handling what the transport reports.

use super::directory::ObjectState;
use super::host::Work;
use super::idmap::IdMap;
use super::timers::Timer;
use super::transport::{Latency, TransferId, TransferRequest, TransportEvent};
use super::{ClockMode, Core};
use crate::model::PullSource;
use crate::time::Nanos;
use crate::trace::TransferRecord;
use cohort_policy::{NodeId, ObjectId, TaskId};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::sync::Arc;

/// Outcome of starting a pull.
enum Pull {
    /// The transfer is on its way.
    Started(TransferId),
    /// The source chosen, this killed node: nothing comes until it is declared dead.
    DeadSource(NodeId),
    /// The destination's store has no room now (everything in it is pinned).
    NoRoom,
}

/// Outcome of asking for an object at a node.
pub(super) enum Request {
    /// A sealed copy is in the node's store.
    Local,
    /// It will arrive (produced there, or moved there); the task is told then.
    Waiting,
    /// The work that asked ended while it asked: rebuilding a lost argument placed work
    /// again, and that failed the asking work on the way. Nothing is left to do for it.
    Ended,
    /// It cannot come.
    Failed(Arc<str>),
}

/// A transfer the core asked for and has not seen arrive.
#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) request: TransferRequest,
    requested: Nanos,
    /// When its first bytes arrived, once they have.
    flowing: Option<Nanos>,
    /// Whether its copies still run on the host's cores (see `host`).
    copying: bool,
    /// Whether its last byte arrived while its copies still ran.
    landed_early: bool,
    /// Tasks waiting for it.
    pub(super) waiters: SmallVec<[TaskId; 2]>,
}

/// Transfers in flight.
///
/// Invariants: `by_destination` maps each in-flight transfer's `(object, to)` to it (so pulls
/// of one object to one node merge); `outgoing[n]` counts in-flight transfers from node `n`.
#[derive(Debug)]
pub(super) struct Transfers {
    /// By transfer id (transports hand ids out ascending).
    in_flight: IdMap<InFlight>,
    by_destination: FxHashMap<(ObjectId, NodeId), TransferId>,
    outgoing: Vec<u32>,
    /// Arrivals being handled; empty between calls (kept for its buffer).
    arrived: Vec<(TransferId, InFlight)>,
}

impl Transfers {
    pub(super) fn new(nodes: usize) -> Transfers {
        Transfers {
            in_flight: IdMap::default(),
            by_destination: FxHashMap::default(),
            outgoing: vec![0; nodes],
            arrived: Vec::new(),
        }
    }

    /// Transfers in flight.
    pub(super) fn len(&self) -> usize {
        self.in_flight.len()
    }

    fn insert(&mut self, id: TransferId, request: TransferRequest, now: Nanos) {
        self.by_destination.insert((request.object, request.to), id);
        self.outgoing[request.from.index()] += 1;
        self.in_flight.insert(
            id.0,
            InFlight {
                request,
                requested: now,
                flowing: None,
                copying: false,
                landed_early: false,
                waiters: SmallVec::new(),
            },
        );
    }

    /// The transfer of `object` to `to` in flight, if any.
    fn find(&self, object: ObjectId, to: NodeId) -> Option<TransferId> {
        self.by_destination.get(&(object, to)).copied()
    }

    /// Whether a transfer in flight takes `object`'s bytes from `from`.
    pub(super) fn sends(&self, object: ObjectId, from: NodeId) -> bool {
        self.outgoing[from.index()] > 0
            && self
                .in_flight
                .iter()
                .any(|(_, t)| t.request.object == object && t.request.from == from)
    }

    fn wait_for(&mut self, id: TransferId, task: TaskId) {
        if let Some(t) = self.in_flight.get_mut(id.0) {
            t.waiters.push(task);
        }
    }

    /// Removes every transfer from or to `node` from the tables (its end died), by ascending
    /// id.
    pub(super) fn detach_involving(&mut self, node: NodeId) -> Vec<(TransferId, InFlight)> {
        let mut ids: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, t)| t.request.from == node || t.request.to == node)
            .map(|(id, _)| id)
            .collect();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| Some((TransferId(id), self.detach(TransferId(id))?)))
            .collect()
    }

    /// Removes an arrived transfer from the tables.
    fn detach(&mut self, id: TransferId) -> Option<InFlight> {
        let t = self.in_flight.remove(id.0)?;
        self.by_destination
            .remove(&(t.request.object, t.request.to));
        self.outgoing[t.request.from.index()] -= 1;
        Some(t)
    }
}

impl Core {
    /// Ensures `object` will be local to `node` for `task`.
    pub(super) fn request(
        &mut self,
        object: ObjectId,
        node: NodeId,
        task: TaskId,
        now: Nanos,
    ) -> Request {
        let Some(o) = self.directory.get_mut(object) else {
            return Request::Failed(format!("argument {object} was freed").into());
        };
        match &o.state {
            ObjectState::Pending => {
                o.waiters.push(task);
                Request::Waiting
            }
            ObjectState::Failed(reason) => {
                Request::Failed(format!("argument {object} failed: {reason}").into())
            }
            ObjectState::Lost => match self.lost_wanted(object, task, now) {
                Err(reason) => Request::Failed(format!("argument {reason}").into()),
                Ok(true) => Request::Waiting,
                // Rebuilding it placed its producer again, which can fail work on the way,
                // this work among it (which then let go of the object).
                Ok(false) if self.tasks.get(task).is_none() => Request::Ended,
                Ok(false) if matches!(self.directory.entry(object).state, ObjectState::Lost) => {
                    Request::Failed(format!("argument {object} was lost").into())
                }
                Ok(false) => self.request(object, node, task, now),
            },
            ObjectState::Ready { .. } => {
                if self.nodes[node.index()].store.has_sealed(object) {
                    self.nodes[node.index()].store.touch(object);
                    return Request::Local;
                }
                if !self.nodes[node.index()].up {
                    // Work on a killed node waits, lost, for the node to be declared dead.
                    return Request::Waiting;
                }
                let id = match self.transfers.find(object, node) {
                    Some(id) => id,
                    None if o.holders.is_empty() => {
                        let disk = o.spilled.expect("a ready object has a copy");
                        return self.restore(object, disk, task, now);
                    }
                    None if self.joined_waiting_pull(object, node, task) => {
                        return Request::Waiting;
                    }
                    None => match self.pull(object, node, now) {
                        Ok(Pull::Started(id)) => id,
                        Ok(Pull::DeadSource(from)) => {
                            // Nothing comes until the cluster declares the source dead and
                            // the object is asked for again.
                            self.nodes[from.index()].parked.push((task, object));
                            return Request::Waiting;
                        }
                        Ok(Pull::NoRoom) => {
                            self.wait_for_room(object, node, task);
                            return Request::Waiting;
                        }
                        Err(reason) => return Request::Failed(reason),
                    },
                };
                self.transfers.wait_for(id, task);
                Request::Waiting
            }
        }
    }

    /// The holder a pull of `object` to `to` takes its bytes from: the one with the fewest
    /// outgoing transfers in flight, ties to the lowest node id (or, with
    /// [`PullSource::Random`], one drawn from the seed). The directory does not know yet of a
    /// node that died and is not declared dead: it may be chosen.
    fn source(&self, object: ObjectId, to: NodeId) -> NodeId {
        let holders = &self.directory.entry(object).holders;
        if self.config.model.pull_source == PullSource::Random {
            let i = PullSource::random_index(self.config.seed, object.0, to.0, holders.len());
            return holders[i];
        }
        let outgoing = &self.transfers.outgoing;
        *holders
            .iter()
            .min_by_key(|h| (outgoing[h.index()], **h))
            .expect("a ready object has a holder")
    }

    /// Starts a transfer of a ready object to `node` from its [`Core::source`], unless that
    /// source is dead or the destination has no room now (nothing is started then). Fails if
    /// the object is larger than the destination's whole store.
    fn pull(&mut self, object: ObjectId, to: NodeId, now: Nanos) -> Result<Pull, Arc<str>> {
        let size = self.directory.entry(object).size;
        let from = self.source(object, to);
        if !self.nodes[from.index()].up {
            return Ok(Pull::DeadSource(from));
        }
        if let Err(e) = self.make_room(to, size) {
            if e.needed <= e.capacity {
                return Ok(Pull::NoRoom);
            }
            self.record.counters.oversized += 1;
            return Err(format!(
                "cannot receive argument {object} ({size} bytes) on {to}: {}",
                e.into_error(to)
            )
            .into());
        }
        self.nodes[to.index()].store.reserve(object, size);
        self.refresh_store_view(to);
        self.nodes[from.index()].store.pin(object);
        // Waking either end delays the transfer (the receiver asks, the holder sends).
        let wake_up = &self.config.model.wake_up;
        let setup = if wake_up.is_none() {
            0
        } else {
            let sender = self.nodes[from.index()].idleness.start(now, wake_up);
            let receiver = self.nodes[to.index()].idleness.start(now, wake_up);
            sender.max(receiver)
        };
        let request = TransferRequest {
            object,
            from,
            to,
            size,
            setup,
        };
        // On one host, the set-up (latency and wake-up) is work of its cores.
        let held = self.host.is_some() && self.config.clock == ClockMode::Virtual;
        let id = if held {
            self.transport.start_held(request, now, &mut self.outbox)
        } else {
            self.transport.start(request, now, &mut self.outbox)
        };
        self.transfers.insert(id, request, now);
        if held {
            let work = self.set_up_parts(&request).0.saturating_add(setup);
            match &mut self.host {
                Some(host) if work > 0 => {
                    let rearm = host.start(Work::SetUp(id), work, now);
                    self.rearm_finish(rearm);
                }
                _ => self.set_up_worked(id, &request, now),
            }
        }
        self.handle_outbox(now);
        Ok(Pull::Started(id))
    }

    /// A held transfer's set-up (its latency, with the model's noise), split into the work
    /// of the host's cores and the waiting after it (see
    /// [`crate::model::ModelOptions::set_up_work`]); a waking end's cost is work on top.
    fn set_up_parts(&self, request: &TransferRequest) -> (Nanos, Nanos) {
        let latency =
            Latency::of_network(&self.spec.network, self.config.latency_noise()).of(request);
        match self.config.model.set_up_work {
            Some(work) => (latency.min(work), latency - latency.min(work)),
            None => (latency, 0),
        }
    }

    /// Transfer `id`'s set-up has done its work: its bytes start moving, or, if part of the
    /// set-up is waiting, once that is over.
    fn set_up_worked(&mut self, id: TransferId, request: &TransferRequest, now: Nanos) {
        match self.set_up_parts(request).1 {
            0 => {
                self.transport.release(id, now, &mut self.outbox);
                self.begin_copies(id, now);
            }
            wait => self.timers.push(now + wait, Timer::SetUpWaited(id)),
        }
    }

    /// Transfer `id`'s set-up has waited out its wait: if it is still in flight, its bytes
    /// start moving.
    pub(super) fn set_up_waited(&mut self, id: TransferId, now: Nanos) {
        if self.transfers.in_flight.get(id.0).is_some() {
            self.transport.release(id, now, &mut self.outbox);
            self.begin_copies(id, now);
            self.handle_outbox(now);
        }
    }

    /// Transfer `id`'s bytes start moving at `now`: with a copy cost (or memory new to the
    /// receiver's store, with a first-touch cost), its copies start on the host's cores, and
    /// it arrives when they are done too.
    fn begin_copies(&mut self, id: TransferId, now: Nanos) {
        let model = &self.config.model;
        let (Some(host), Some(t)) = (&mut self.host, self.transfers.in_flight.get_mut(id.0)) else {
            return;
        };
        let copies =
            u64::try_from(u128::from(t.request.size) * u128::from(model.transfer_cpu_ps) / 1_000)
                .unwrap_or(Nanos::MAX);
        // The receiver's store took the object's room when it was asked for.
        let to = &mut self.nodes[t.request.to.index()];
        let reach = to.store.used();
        let work = copies.saturating_add(to.first_touch(reach, model.first_touch_ps));
        if work == 0 {
            return;
        }
        t.copying = true;
        let rearm = host.start(Work::Copy(id), work, now);
        self.rearm_finish(rearm);
    }

    /// Whether the host's timer for `piece`, set for `due`, is the live one: if so, the piece
    /// ends at `now` (and the next one's timer is armed).
    pub(super) fn host_piece_done(&mut self, piece: Work, due: Nanos, now: Nanos) -> bool {
        let Some(host) = &mut self.host else {
            return false;
        };
        if !host.is_armed_at(piece, due) {
            return false;
        }
        let rearm = host.finish_armed(now);
        self.rearm_finish(rearm);
        true
    }

    /// The host's timer for transfer `id`'s copies, set for `due`, fired: if it is the live
    /// one, the copies are done, and the transfer arrives if its last byte has.
    pub(super) fn copied(&mut self, id: TransferId, due: Nanos, now: Nanos) {
        if !self.host_piece_done(Work::Copy(id), due, now) {
            return;
        }
        if let Some(t) = self.transfers.in_flight.get_mut(id.0) {
            t.copying = false;
            if t.landed_early {
                self.outbox.report(TransportEvent::Arrived(id));
                self.handle_outbox(now);
            }
        }
    }

    /// The host's timer for transfer `id`'s set-up, set for `due`, fired: if it is still the
    /// live one, the set-up is done and the transfer's bytes start moving.
    pub(super) fn set_up(&mut self, id: TransferId, due: Nanos, now: Nanos) {
        if !self.host_piece_done(Work::SetUp(id), due, now) {
            return;
        }
        if let Some(t) = self.transfers.in_flight.get(id.0) {
            let request = t.request;
            self.set_up_worked(id, &request, now);
            self.handle_outbox(now);
        }
    }

    /// Schedules the wake-ups the transport asked for, then handles what it reported. Every
    /// transfer that arrived leaves the tables before any arrival is handled, so the work an
    /// arrival wakes sees none of them in flight.
    pub(super) fn handle_outbox(&mut self, now: Nanos) {
        for w in self.outbox.drain_wakes() {
            self.timers.push(w.at, Timer::Transport(w.token));
        }
        if !self.outbox.has_events() {
            return;
        }
        // Taking note of the events calls nothing that reports into the outbox; handling the
        // arrivals may (a waiting task pulls its next argument), so that comes after.
        let mut arrived = None;
        for &event in self.outbox.events() {
            match event {
                TransportEvent::Flowing(id) => {
                    if let Some(t) = self.transfers.in_flight.get_mut(id.0) {
                        t.flowing.get_or_insert(now);
                    }
                }
                TransportEvent::Arrived(id) => {
                    if let Some(t) = self.transfers.in_flight.get_mut(id.0)
                        && t.copying
                    {
                        // Its bytes are here, its copies not done: it arrives with them.
                        t.landed_early = true;
                        continue;
                    }
                    if let Some(t) = self.transfers.detach(id) {
                        if !self.config.model.wake_up.is_none() {
                            self.nodes[t.request.from.index()].idleness.end(now);
                            self.nodes[t.request.to.index()].idleness.end(now);
                        }
                        arrived
                            .get_or_insert_with(|| std::mem::take(&mut self.transfers.arrived))
                            .push((id, t));
                    }
                }
            }
        }
        self.outbox.clear_events();
        if let Some(mut arrived) = arrived {
            // Every copy that arrived is sealed before any waiter wakes: a waiter may ask
            // for one of them at its destination, which must then find it there.
            for (_, t) in &arrived {
                self.land(t, now);
            }
            for (_, t) in arrived.drain(..) {
                self.deliver(t, now);
            }
            if self.transfers.arrived.is_empty() {
                self.transfers.arrived = arrived;
            }
        }
    }

    /// A transfer's last byte arrived: seal the copy and record it.
    fn land(&mut self, t: &InFlight, now: Nanos) {
        let TransferRequest {
            object,
            from,
            to,
            size,
            ..
        } = t.request;
        match self.directory.get_mut(object) {
            Some(o) => {
                self.nodes[to.index()].store.seal(object);
                o.add_holder(to);
            }
            None => {
                // Freed while in flight (every task that wanted it failed): drop the copy.
                self.nodes[to.index()].store.remove(object);
                self.refresh_store_view(to);
            }
        }
        self.release_source(object, from);
        self.record.transfer(TransferRecord {
            object,
            bytes: size,
            from,
            to,
            requested: t.requested,
            flowing: t.flowing.unwrap_or(now),
            finished: now,
        });
    }

    /// A transfer from `from` no longer reads `object` there: its pin goes, and so does the
    /// copy if it was only kept for such transfers after its object was freed (see
    /// `free_object`) and no other reads it.
    pub(super) fn release_source(&mut self, object: ObjectId, from: NodeId) {
        if self.nodes[from.index()].store.release_read(object) {
            self.refresh_store_view(from);
        }
    }

    /// A landed transfer wakes its waiters, and its ends' stores may let waiting work in.
    /// (Nobody may want the copy any more, all its waiters having failed: it stays as a
    /// secondary copy, evictable like any other.)
    fn deliver(&mut self, t: InFlight, now: Nanos) {
        for task in t.waiters {
            self.arrived(task, now);
        }
        self.room_freed(t.request.to, now);
        self.room_freed(t.request.from, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulls_merge_by_destination_and_sources_count_their_transfers() {
        let mut t = Transfers::new(2);
        let request = TransferRequest {
            object: ObjectId(9),
            from: NodeId(1),
            to: NodeId(0),
            size: 10,
            setup: 0,
        };
        t.insert(TransferId(4), request, 5);
        assert_eq!(t.find(ObjectId(9), NodeId(0)), Some(TransferId(4)));
        assert_eq!(t.find(ObjectId(9), NodeId(1)), None);
        assert_eq!(t.outgoing, vec![0, 1]);
        t.wait_for(TransferId(4), TaskId(1));
        t.wait_for(TransferId(4), TaskId(2));
        let done = t.detach(TransferId(4)).expect("in flight");
        assert_eq!(done.requested, 5);
        assert_eq!(&done.waiters[..], &[TaskId(1), TaskId(2)]);
        assert_eq!(t.outgoing, vec![0, 0]);
        assert_eq!(t.find(ObjectId(9), NodeId(0)), None);
        assert!(t.detach(TransferId(4)).is_none());
        assert_eq!(t.len(), 0);
    }
}
