//! Actors: created unplaced, placed at their first call (or when asked), constructed once, and
//! then running their calls one at a time in submission order, holding no CPU slot.

use super::Core;
use super::placement::Ask;
use super::tasks::{Phase, TaskEntry};
use super::work::{Arg, CallRequest, ExecWork, KindId};
use crate::error::{ActorId, RuntimeError};
use crate::time::Nanos;
use cohort_policy::{
    Dependency, Hints, NodeId, ObjectId, PolicyEvent, Resources, TaskId, WorkKind,
};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::collections::VecDeque;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
enum ActorPhase {
    /// Created by the driver; not placed yet.
    Unplaced { args: Vec<Arg> },
    /// Placed; the constructor has not finished.
    Creating,
    /// Constructed; methods may run.
    Ready,
    /// The constructor failed; every call fails with this reason.
    Failed(Arc<str>),
}

/// One actor.
///
/// Invariants: `node` is `None` exactly while `Unplaced`; `calls` holds the calls not
/// finished, in submission order, and `running` says whether the first of them is running.
#[derive(Debug)]
struct ActorEntry {
    kind: KindId,
    hints: Hints,
    phase: ActorPhase,
    node: Option<NodeId>,
    /// Method calls not yet finished, in submission order.
    calls: VecDeque<TaskId>,
    running: bool,
}

/// Every actor, by id (ascending from 1, never reused).
#[derive(Debug)]
pub(super) struct ActorTable {
    actors: FxHashMap<ActorId, ActorEntry>,
    next_actor: u64,
}

impl Default for ActorTable {
    fn default() -> Self {
        ActorTable {
            actors: FxHashMap::default(),
            next_actor: 1,
        }
    }
}

impl ActorTable {
    pub(super) fn len(&self) -> usize {
        self.actors.len()
    }

    /// Where `actor` was placed, if it has been.
    pub(super) fn node(&self, actor: ActorId) -> Option<NodeId> {
        self.actors.get(&actor).and_then(|a| a.node)
    }
}

impl Core {
    /// Creates an actor. It is not placed until its first method call (or
    /// [`Core::place_actor`]); its constructor's arguments are referenced until then.
    pub fn create_actor(
        &mut self,
        kind: KindId,
        args: Vec<Arg>,
        hints: Hints,
        now: Nanos,
    ) -> Result<ActorId, RuntimeError> {
        self.observe(now);
        let info = self
            .catalog
            .actor_kinds
            .get(kind.0 as usize)
            .ok_or_else(|| RuntimeError::UnknownActorKind(format!("#{}", kind.0)))?;
        let (what, demand) = (info.name.clone(), info.creation_demand);
        self.directory.check_args(&args)?;
        self.placer.check_feasible(&what, demand)?;
        self.directory.hold_args(&args);
        let table = &mut self.actors;
        let id = ActorId(table.next_actor);
        table.next_actor += 1;
        table.actors.insert(
            id,
            ActorEntry {
                kind,
                hints,
                phase: ActorPhase::Unplaced { args },
                node: None,
                calls: VecDeque::new(),
                running: false,
            },
        );
        Ok(id)
    }

    /// Places an actor now, asking the policy with the actor's own hints and `dependency`.
    /// Does nothing if it is placed already. Returns its node.
    pub fn place_actor(
        &mut self,
        actor: ActorId,
        dependency: Dependency,
        now: Nanos,
    ) -> Result<NodeId, RuntimeError> {
        self.observe(now);
        let entry = self
            .actors
            .actors
            .get(&actor)
            .ok_or(RuntimeError::UnknownActor(actor))?;
        if let Some(node) = entry.node {
            return Ok(node);
        }
        let ActorPhase::Unplaced { args } = &entry.phase else {
            unreachable!("an actor without a node is unplaced");
        };
        let kind = entry.kind;
        let hints = Hints {
            dependency,
            ..entry.hints
        };
        let info = &self.catalog.actor_kinds[kind.0 as usize];
        let (what, demand) = (info.name.clone(), info.creation_demand);
        let args = args.clone();
        let task = self.tasks.new_id();
        let ask = Ask {
            task,
            kind: WorkKind::ActorCreation,
            hints,
            demand,
            args: &args,
            what: &what,
        };
        let node = self.placer.place(ask, &self.directory, self.now)?;
        let entry = self.actors.actors.get_mut(&actor).expect("checked above");
        entry.phase = ActorPhase::Creating;
        entry.node = Some(node);
        self.admit(
            task,
            TaskEntry::placed(
                ExecWork::CreateActor { actor, kind },
                hints,
                demand,
                args,
                SmallVec::new(),
                node,
                now,
            ),
            now,
        );
        Ok(node)
    }

    /// Calls a method. Calls on one actor run one at a time in submission order on the
    /// actor's node; the first call places the actor (see [`Core::place_actor`]).
    pub fn call(
        &mut self,
        req: CallRequest,
        now: Nanos,
    ) -> Result<(TaskId, SmallVec<[ObjectId; 2]>), RuntimeError> {
        self.observe(now);
        let entry = self
            .actors
            .actors
            .get(&req.actor)
            .ok_or(RuntimeError::UnknownActor(req.actor))?;
        let kind = entry.kind;
        let kind_info = &self.catalog.actor_kinds[kind.0 as usize];
        if req.method.0 as usize >= kind_info.methods.len() {
            return Err(RuntimeError::UnknownMethod {
                kind: kind_info.name.to_string(),
                method: format!("#{}", req.method.0),
            });
        }
        self.directory.check_args(&req.args)?;
        let node = self.place_actor(req.actor, req.hints.dependency, now)?;
        let task = self.tasks.new_id();
        let outputs = self.new_outputs(req.num_returns, req.declared_output_size, node);
        self.placer.tell(PolicyEvent::Placed {
            task,
            kind: WorkKind::ActorMethod,
            hints: req.hints,
            node,
        });
        self.actors
            .actors
            .get_mut(&req.actor)
            .expect("checked above")
            .calls
            .push_back(task);
        self.admit(
            task,
            TaskEntry::placed(
                ExecWork::Method {
                    actor: req.actor,
                    kind,
                    method: req.method,
                },
                req.hints,
                Resources::default(),
                req.args,
                SmallVec::from_slice(&outputs),
                node,
                now,
            ),
            now,
        );
        Ok((task, outputs))
    }

    /// Runs the actor's next call if the actor is free and the call is ready; fails every
    /// call if the actor could not be constructed.
    pub(super) fn run_actor(&mut self, actor: ActorId, now: Nanos) {
        let Some(a) = self.actors.actors.get(&actor) else {
            return;
        };
        match &a.phase {
            ActorPhase::Ready => {}
            ActorPhase::Failed(reason) => {
                let reason: Arc<str> = format!("{actor} failed to start: {reason}").into();
                let calls: Vec<TaskId> = a.calls.iter().copied().collect();
                for c in calls {
                    self.fail_task(c, reason.clone(), now);
                }
                return;
            }
            _ => return,
        }
        if a.running {
            return;
        }
        let Some(&next) = a.calls.front() else {
            return;
        };
        if self.tasks.entry(next).phase != Phase::Ready {
            return;
        }
        self.actors.actors.get_mut(&actor).expect("exists").running = true;
        self.start(next, now);
    }

    /// The actor's constructor ended, well or not.
    pub(super) fn actor_constructed(&mut self, actor: ActorId, ok: bool, now: Nanos) {
        if let Some(a) = self.actors.actors.get_mut(&actor) {
            a.phase = if ok {
                ActorPhase::Ready
            } else {
                ActorPhase::Failed("its constructor failed".into())
            };
        }
        self.run_actor(actor, now);
    }

    /// A call on `actor` ended (finished, or failed before it ran).
    pub(super) fn call_ended(&mut self, actor: ActorId, task: TaskId, now: Nanos) {
        if let Some(a) = self.actors.actors.get_mut(&actor) {
            if a.calls.front() == Some(&task) {
                a.running = false;
                a.calls.pop_front();
            } else {
                a.calls.retain(|c| *c != task);
            }
        }
        self.run_actor(actor, now);
    }
}
