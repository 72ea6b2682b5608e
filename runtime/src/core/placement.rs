//! Placement: the policy, the nodes' load as the core keeps it, and the heartbeat snapshots
//! the policy is shown.

use super::deferral::DEFER_LIMIT;
use super::directory::{Directory, ObjectState};
use super::work::Arg;
use crate::error::RuntimeError;
use crate::model::ViewAccounting;
use crate::time::Nanos;
use cohort_policy::{
    ArgState, ArgView, Hints, NodeId, NodeView, Placement, PlacementView, Policy, PolicyEvent,
    Resources, TaskId, WorkKind,
};
use std::sync::Arc;

/// What the policy decided about work that may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Decision {
    /// Placed on this node (checked).
    Node(NodeId),
    /// Deferred: ask again within this many nanoseconds (at least 1).
    Defer(Nanos),
}

/// One piece of work to place.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ask<'a> {
    pub task: TaskId,
    pub kind: WorkKind,
    pub hints: Hints,
    pub demand: Resources,
    pub args: &'a [Arg],
    /// The work's name, for errors.
    pub what: &'a Arc<str>,
}

/// The policy and what it is shown.
///
/// Invariants: `live[n]` is node `n`'s current load (the core updates it as work is queued,
/// started and finished, and as its store fills); `snapshot` is `live` as it was at
/// `snapshot_at`, the last multiple of the heartbeat period the core has observed; with a
/// period of 0 the policy sees `live`, and with [`ViewAccounting::Placements`] the snapshot also
/// counts, in `queued`, each piece of slot-holding work placed since it was taken; `max_cpus` is the most CPUs of an alive node (a node's
/// CPU count never changes; whether it is alive changes only through [`Placer::set_alive`]).
pub(super) struct Placer {
    policy: Box<dyn Policy>,
    /// [`Policy::wants_events`], asked once: events go to the policy only if true.
    wants_events: bool,
    live: Vec<NodeView>,
    max_cpus: u32,
    heartbeat: Nanos,
    snapshot: Vec<NodeView>,
    snapshot_at: Nanos,
    next_heartbeat: Nanos,
    accounting: ViewAccounting,
    /// Buffers of the view's arguments and holders, reused from one decision to the next.
    arg_scratch: Vec<ArgView>,
    holder_scratch: Vec<NodeId>,
}

impl Placer {
    pub(super) fn new(
        policy: Box<dyn Policy>,
        live: Vec<NodeView>,
        heartbeat: Nanos,
        accounting: ViewAccounting,
    ) -> Placer {
        let max_cpus = live
            .iter()
            .filter(|n| n.alive)
            .map(|n| n.cpus_total)
            .max()
            .unwrap_or(0);
        Placer {
            wants_events: policy.wants_events(),
            max_cpus,
            policy,
            snapshot: live.clone(),
            live,
            heartbeat,
            snapshot_at: 0,
            next_heartbeat: heartbeat,
            accounting,
            arg_scratch: Vec::new(),
            holder_scratch: Vec::new(),
        }
    }

    pub(super) fn policy_name(&self) -> &str {
        self.policy.name()
    }

    /// Every node's current load.
    pub(super) fn live(&self) -> &[NodeView] {
        &self.live
    }

    /// Node `node`'s current load.
    #[inline]
    pub(super) fn node(&self, node: NodeId) -> &NodeView {
        &self.live[node.index()]
    }

    /// Node `node`'s current load, to update.
    #[inline]
    pub(super) fn node_mut(&mut self, node: NodeId) -> &mut NodeView {
        &mut self.live[node.index()]
    }

    /// Time has reached `now`: take a snapshot if a heartbeat has passed.
    #[inline]
    pub(super) fn observe(&mut self, now: Nanos) {
        let hb = self.heartbeat;
        if hb > 0 && now >= self.next_heartbeat {
            // Nothing changed since the last event, which came before this heartbeat: the
            // live state now is the state at the heartbeat.
            self.snapshot.clone_from(&self.live);
            self.snapshot_at = now / hb * hb;
            self.next_heartbeat = self.snapshot_at + hb;
        }
    }

    /// Node `node` was declared dead (`alive` false) or came back (`alive` true, empty and
    /// idle): both the live view and the snapshot show it at once (the cluster broadcasts a
    /// membership change; it does not wait for a heartbeat), and the policy is told.
    pub(super) fn set_alive(&mut self, node: NodeId, alive: bool) {
        for view in [
            &mut self.live[node.index()],
            &mut self.snapshot[node.index()],
        ] {
            view.alive = alive;
            view.cpus_busy = 0;
            view.queued = 0;
            view.store_used = 0;
        }
        self.max_cpus = self
            .live
            .iter()
            .filter(|n| n.alive)
            .map(|n| n.cpus_total)
            .max()
            .unwrap_or(0);
        self.tell(if alive {
            PolicyEvent::NodeAdded(node)
        } else {
            PolicyEvent::NodeRemoved(node)
        });
    }

    /// Slot-holding work was just placed on (or moved to) `node`: with
    /// [`ViewAccounting::Placements`] the view counts it until the next heartbeat.
    #[inline]
    pub(super) fn count_placement(&mut self, node: NodeId) {
        if self.heartbeat > 0 && self.accounting == ViewAccounting::Placements {
            self.snapshot[node.index()].queued += 1;
        }
    }

    /// Fails early if no live node could ever run `demand`.
    #[inline]
    pub(super) fn check_feasible(&self, what: &str, demand: Resources) -> Result<(), RuntimeError> {
        let max = self.max_cpus;
        if demand.cpus > max {
            return Err(RuntimeError::Infeasible {
                what: what.to_string(),
                demand: demand.cpus,
                max,
            });
        }
        Ok(())
    }

    /// Sends an event to the policy, unless it said it wants none.
    #[inline]
    pub(super) fn tell(&mut self, event: PolicyEvent) {
        if self.wants_events {
            self.policy.on_event(&event);
        }
    }

    /// Asks the policy where `ask` goes, checks the answer and tells the policy it was placed.
    pub(super) fn place(
        &mut self,
        ask: Ask<'_>,
        directory: &Directory,
        now: Nanos,
    ) -> Result<NodeId, RuntimeError> {
        match self.decide(ask, directory, now, None)? {
            Decision::Node(node) => Ok(node),
            Decision::Defer(_) => unreachable!("a deferral is refused when it may not wait"),
        }
    }

    /// Asks the policy about `ask` as [`Placer::place`] does; with `waited` (how long the
    /// work has waited unplaced), it may also defer the work while that is under
    /// [`DEFER_LIMIT`].
    pub(super) fn decide(
        &mut self,
        ask: Ask<'_>,
        directory: &Directory,
        now: Nanos,
        waited: Option<Nanos>,
    ) -> Result<Decision, RuntimeError> {
        let Ask {
            task,
            kind,
            hints,
            demand,
            args,
            what,
        } = ask;
        self.arg_scratch.clear();
        self.holder_scratch.clear();
        for a in args {
            let Arg::Object(id) = a else { continue };
            let o = directory.entry(*id);
            let start = self.holder_scratch.len() as u32;
            self.holder_scratch.extend_from_slice(&o.holders);
            let state = match o.state {
                ObjectState::Pending => ArgState::Pending,
                _ => ArgState::Ready,
            };
            self.arg_scratch.push(ArgView {
                object: *id,
                size: o.size,
                state,
                holders_start: start,
                holders_len: o.holders.len() as u32,
                producer_node: o.producer_node,
            });
        }
        let (nodes, view_time) = if self.heartbeat > 0 {
            (&self.snapshot, self.snapshot_at)
        } else {
            (&self.live, now)
        };
        let view = PlacementView {
            task,
            kind,
            hints,
            demand,
            args: &self.arg_scratch,
            holders: &self.holder_scratch,
            nodes,
            now_ns: now,
            view_time_ns: view_time,
            waited_ns: waited.unwrap_or(0),
            may_defer: kind == WorkKind::Task && waited.is_some_and(|w| w < DEFER_LIMIT),
        };
        let may_defer = view.may_defer;
        let node = match self.policy.place(&view) {
            Placement::Node(node) => node,
            Placement::Refuse(reason) => {
                return Err(RuntimeError::PolicyRefused {
                    policy: self.policy.name().to_string(),
                    task,
                    what: what.to_string(),
                    reason,
                });
            }
            Placement::Defer(wait) if may_defer && wait > 0 => return Ok(Decision::Defer(wait)),
            Placement::Defer(wait) => {
                let problem = if wait == 0 {
                    "is for no time at all (at least 1 ns)".to_string()
                } else {
                    "may not wait (the view's may_defer is false: only a task at its first \
                     placement may, for ten seconds in all)"
                        .to_string()
                };
                return Err(RuntimeError::PolicyBadDeferral {
                    policy: self.policy.name().to_string(),
                    task,
                    what: what.to_string(),
                    problem,
                });
            }
        };
        let problem = match self.live.get(node.index()) {
            None => Some(format!(
                "does not exist (the cluster has {} nodes)",
                self.live.len()
            )),
            Some(n) if !n.alive => Some("is not alive".to_string()),
            Some(n) if !n.fits_total(demand) => Some(format!(
                "has {} CPUs, fewer than the {} demanded",
                n.cpus_total, demand.cpus
            )),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            return Err(RuntimeError::PolicyInvalidChoice {
                policy: self.policy.name().to_string(),
                task,
                what: what.to_string(),
                node,
                problem,
            });
        }
        if demand.cpus > 0 {
            self.count_placement(node);
        }
        self.tell(PolicyEvent::Placed {
            task,
            kind,
            hints,
            node,
        });
        Ok(Decision::Node(node))
    }
}
