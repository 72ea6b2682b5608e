//! A transport whose bytes move outside the core: an executor takes the requests, moves the
//! bytes (over real sockets, say) and reports what happened as inputs with their time.

use super::{Outbox, TransferId, TransferRequest, Transport, TransportEvent};
use crate::time::Nanos;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

/// Requests queued for an executor, and the transfers it has not finished.
///
/// Invariants: an id is in `in_flight` from [`Transport::start`] until its `Arrived` input;
/// only inputs for ids in flight reach the core, `Flowing` at most once and before `Arrived`,
/// so an executor that reports twice or out of order cannot break the core's rules.
#[derive(Debug, Default)]
pub struct ExternalTransport {
    next_id: u64,
    requests: VecDeque<(TransferId, TransferRequest)>,
    /// Transfers started and not arrived: whether each has been reported flowing.
    in_flight: FxHashMap<TransferId, bool>,
}

impl ExternalTransport {
    /// Transfers started and not yet reported arrived.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

impl Transport for ExternalTransport {
    fn start(&mut self, request: TransferRequest, _now: Nanos, _out: &mut Outbox) -> TransferId {
        let id = TransferId(self.next_id);
        self.next_id += 1;
        self.requests.push_back((id, request));
        self.in_flight.insert(id, false);
        id
    }

    fn wake(&mut self, _token: u64, _now: Nanos, _out: &mut Outbox) {
        // Never asks for a wake-up.
    }

    fn input(&mut self, event: TransportEvent, _now: Nanos, out: &mut Outbox) {
        match event {
            TransportEvent::Flowing(id) => {
                if let Some(flowing) = self.in_flight.get_mut(&id)
                    && !*flowing
                {
                    *flowing = true;
                    out.report(event);
                }
            }
            TransportEvent::Arrived(id) => {
                if self.in_flight.remove(&id).is_some() {
                    out.report(event);
                }
            }
        }
    }

    fn poll_request(&mut self) -> Option<(TransferId, TransferRequest)> {
        self.requests.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cohort_policy::{NodeId, ObjectId};

    fn request(object: u64) -> TransferRequest {
        TransferRequest {
            object: ObjectId(object),
            from: NodeId(0),
            to: NodeId(1),
            size: 10,
            setup: 0,
        }
    }

    #[test]
    fn requests_go_out_in_order_and_only_sound_inputs_come_back() {
        let mut t = ExternalTransport::default();
        let mut out = Outbox::default();
        let a = t.start(request(1), 0, &mut out);
        let b = t.start(request(2), 0, &mut out);
        assert_eq!(t.poll_request(), Some((a, request(1))));
        assert_eq!(t.poll_request(), Some((b, request(2))));
        assert_eq!(t.poll_request(), None);
        assert_eq!(t.in_flight(), 2);

        // Flowing once, then arrived once; repeats and unknown ids are dropped.
        for ev in [
            TransportEvent::Flowing(a),
            TransportEvent::Flowing(a),
            TransportEvent::Arrived(a),
            TransportEvent::Arrived(a),
            TransportEvent::Flowing(a),
            TransportEvent::Arrived(TransferId(99)),
            TransportEvent::Arrived(b),
        ] {
            t.input(ev, 5, &mut out);
        }
        assert_eq!(
            out.take_events(),
            vec![
                TransportEvent::Flowing(a),
                TransportEvent::Arrived(a),
                TransportEvent::Arrived(b)
            ]
        );
        assert_eq!(out.drain_wakes().count(), 0);
        assert_eq!(t.in_flight(), 0);
    }
}
