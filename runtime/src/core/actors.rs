//! Actors: created unplaced, placed at their first call (or when asked), constructed, and then
//! running their calls one at a time in submission order, holding no CPU slot.
//!
//! When the node of an actor is declared dead, the actor is restarted if it has restarts left
//! ([`Recovery::actor_restarts`](crate::fault::Recovery)): its constructor is placed again by
//! the policy (on any node) and runs from its original arguments; then, with
//! `actor_replay`, every call that had finished runs again in order (their outputs rebuilt if
//! lost, no datapoint recorded again), as Ray 0.6.1's actor reconstruction did; then the calls
//! not finished, including one that was running when the node died, run (at least once, as
//! with Ray 2.x's `max_task_retries = -1`). So a replaying actor's state is exactly what it
//! would have been without the fault. Without `actor_replay`, the state is the constructor's
//! (Ray 2.x). With no restart left, the actor fails, and with it every call not finished and
//! every later one (Ray's default).

use super::Core;
use super::placement::Ask;
use super::tasks::Phase as TaskPhase;
use super::tasks::{Phase, TaskEntry};
use super::work::{Arg, CallRequest, ExecWork, KindId, MethodId};
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
    /// The constructor's arguments, to run it again after a restart.
    ctor_args: Vec<Arg>,
    /// The constructor's work while it is placed and not finished.
    creation: Option<TaskId>,
    /// Restarts left.
    restarts_left: u32,
    /// The calls that finished, in order, while a restart may replay them (each holds
    /// lineage on its object arguments).
    log: Vec<LoggedCall>,
}

/// A finished call, as a restarted actor replays it.
#[derive(Clone, Debug)]
struct LoggedCall {
    method: MethodId,
    hints: Hints,
    args: Vec<Arg>,
    outputs: SmallVec<[ObjectId; 2]>,
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

    /// The actors placed on `node`, by ascending id.
    pub(super) fn on_node(&self, node: NodeId) -> Vec<ActorId> {
        let mut ids: Vec<ActorId> = self
            .actors
            .iter()
            .filter(|(_, a)| a.node == Some(node))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable_by_key(|a| a.0);
        ids
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
        let code = self.catalog.code_index(&ExecWork::CreateActor {
            actor: ActorId(0),
            kind,
        });
        self.submitted[code] += 1;
        let table = &mut self.actors;
        let id = ActorId(table.next_actor);
        table.next_actor += 1;
        table.actors.insert(
            id,
            ActorEntry {
                kind,
                hints,
                ctor_args: args.clone(),
                phase: ActorPhase::Unplaced { args },
                node: None,
                calls: VecDeque::new(),
                running: false,
                creation: None,
                restarts_left: self.spec.recovery.actor_restarts,
                log: Vec::new(),
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
        let args = args.clone();
        let (task, node) = self.place_constructor(kind, hints, &args)?;
        let entry = self.actors.actors.get_mut(&actor).expect("checked above");
        entry.phase = ActorPhase::Creating;
        entry.node = Some(node);
        entry.creation = Some(task);
        self.admit_constructor(task, actor, hints, args, node, now);
        Ok(node)
    }

    /// Asks the policy where a constructor of `kind` goes; returns its new task id and node.
    fn place_constructor(
        &mut self,
        kind: KindId,
        hints: Hints,
        args: &[Arg],
    ) -> Result<(TaskId, NodeId), RuntimeError> {
        let info = &self.catalog.actor_kinds[kind.0 as usize];
        let (what, demand) = (info.name.clone(), info.creation_demand);
        let task = self.tasks.new_id();
        let ask = Ask {
            task,
            kind: WorkKind::ActorCreation,
            hints,
            demand,
            args,
            what: &what,
        };
        let node = self.placer.place(ask, &self.directory, self.now)?;
        Ok((task, node))
    }

    /// Admits `actor`'s constructor, placed on `node` as `task`.
    fn admit_constructor(
        &mut self,
        task: TaskId,
        actor: ActorId,
        hints: Hints,
        args: Vec<Arg>,
        node: NodeId,
        now: Nanos,
    ) {
        let kind = self.actors.actors[&actor].kind;
        let demand = self.catalog.actor_kinds[kind.0 as usize].creation_demand;
        let work = ExecWork::CreateActor { actor, kind };
        let entry = TaskEntry::placed(work, hints, demand, args, SmallVec::new(), node, now);
        self.admit(task, entry, now);
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
        let work = ExecWork::Method {
            actor: req.actor,
            kind,
            method: req.method,
        };
        let code = self.catalog.code_index(&work);
        self.submitted[code] += 1;
        let task = self.tasks.new_id();
        let outputs = self.new_outputs(task, req.num_returns, req.declared_output_size, node);
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
                let reason: Arc<str> = format!("{actor} failed: {reason}").into();
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
        if self.tasks.entry(next).phase != Phase::Ready || !self.claim_args(next, now) {
            return;
        }
        self.actors.actors.get_mut(&actor).expect("exists").running = true;
        self.start(next, now);
    }

    /// The actor's constructor ended, well or not.
    pub(super) fn actor_constructed(&mut self, actor: ActorId, ok: bool, now: Nanos) {
        if let Some(a) = self.actors.actors.get_mut(&actor) {
            a.creation = None;
            a.phase = if ok {
                ActorPhase::Ready
            } else {
                ActorPhase::Failed("it failed to start: its constructor failed".into())
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

    /// Why `actor` failed, if it has.
    pub(super) fn actor_failure(&self, actor: ActorId) -> Option<Arc<str>> {
        match &self.actors.actors.get(&actor)?.phase {
            ActorPhase::Failed(reason) => Some(reason.clone()),
            _ => None,
        }
    }

    /// Remembers a finished call while a restart may replay it; returns the arguments whose
    /// references the caller still has to drop (none if the call was logged).
    pub(super) fn log_call(
        &mut self,
        actor: ActorId,
        done: super::lineage::Done,
        args: Vec<Arg>,
    ) -> Vec<Arg> {
        let ExecWork::Method { method, .. } = done.work else {
            return args;
        };
        let replay = self.spec.recovery.actor_replay;
        match self.actors.actors.get(&actor) {
            Some(a) if replay && a.restarts_left > 0 => {}
            _ => return args,
        }
        self.hold_lineage(&args);
        self.release_args(&args);
        let a = self.actors.actors.get_mut(&actor).expect("checked above");
        a.log.push(LoggedCall {
            method,
            hints: done.hints,
            args,
            outputs: done.outputs,
        });
        Vec::new()
    }

    /// The node of `actor` was declared dead: restart it, or fail it. See the module
    /// documentation.
    pub(super) fn actor_node_died(&mut self, actor: ActorId, node: NodeId, now: Nanos) {
        let a = self.actors.actors.get_mut(&actor).expect("listed");
        a.running = false;
        let creation = a.creation.take();
        let restart = a.restarts_left > 0 && !matches!(a.phase, ActorPhase::Failed(_));
        if let Some(c) = creation
            && let Some(entry) = self.tasks.remove(c)
        {
            self.release_args(&entry.args);
        }
        if !restart {
            self.actor_fails(actor, format!("{node} died under it").into(), now);
            return;
        }
        let a = self.actors.actors.get_mut(&actor).expect("listed");
        a.restarts_left -= 1;
        let (kind, hints, args) = (a.kind, a.hints, a.ctor_args.clone());
        let (task, new_node) = match self.place_constructor(kind, hints, &args) {
            Ok(placed) => placed,
            Err(e) => {
                let reason = format!("{node} died under it, and placing it again failed: {e}");
                self.actor_fails(actor, reason.into(), now);
                return;
            }
        };
        self.record.counters.actor_restarts += 1;
        let a = self.actors.actors.get_mut(&actor).expect("listed");
        a.phase = ActorPhase::Creating;
        a.node = Some(new_node);
        a.creation = Some(task);
        let calls: Vec<TaskId> = a.calls.drain(..).collect();
        // Replays a previous restart queued and that did not finish are dropped: the log
        // replays their calls again below (else a call would run twice).
        let mut pending = Vec::with_capacity(calls.len());
        for c in calls {
            if self.tasks.get(c).is_some_and(|e| e.reexecution) {
                let entry = self.tasks.remove(c).expect("listed");
                self.release_args(&entry.args);
            } else {
                pending.push(c);
            }
        }
        let a = self.actors.actors.get_mut(&actor).expect("listed");
        // Replays first, in order; then the calls not finished, in order.
        let replays = a.log.clone();
        let log_done = a.restarts_left == 0;
        let mut replay_tasks = Vec::with_capacity(replays.len());
        for _ in &replays {
            replay_tasks.push(self.tasks.new_id());
        }
        let a = self.actors.actors.get_mut(&actor).expect("listed");
        a.calls.extend(replay_tasks.iter().copied());
        a.calls.extend(pending.iter().copied());
        self.admit_constructor(task, actor, hints, args, new_node, now);
        for (t, call) in replay_tasks.into_iter().zip(replays) {
            let LoggedCall {
                method,
                hints,
                args,
                outputs,
            } = call;
            self.directory.expect_again(&outputs, new_node);
            self.record.counters.reexecuted += 1;
            self.placer.tell(PolicyEvent::Placed {
                task: t,
                kind: WorkKind::ActorMethod,
                hints,
                node: new_node,
            });
            let mut entry = TaskEntry::placed(
                ExecWork::Method {
                    actor,
                    kind,
                    method,
                },
                hints,
                Resources::default(),
                args,
                outputs,
                new_node,
                now,
            );
            entry.reexecution = true;
            self.admit(t, entry, now);
        }
        if log_done {
            // No restart left: no later replay will need the log (the replays just admitted
            // hold their arguments themselves).
            let a = self.actors.actors.get_mut(&actor).expect("listed");
            let log = std::mem::take(&mut a.log);
            for c in log {
                self.release_lineage(&c.args);
            }
        }
        for c in pending {
            let ran = matches!(
                self.tasks.get(c).map(|e| e.phase),
                Some(TaskPhase::Lost { ran: true })
            );
            if ran {
                self.record.counters.reexecuted += 1;
            }
            self.move_work(c, new_node);
            let hints = self.tasks.entry(c).hints;
            self.placer.tell(PolicyEvent::Placed {
                task: c,
                kind: WorkKind::ActorMethod,
                hints,
                node: new_node,
            });
            self.begin(c, now);
        }
    }

    /// Fails `actor` for `reason`, and so every call not finished and every later one.
    fn actor_fails(&mut self, actor: ActorId, reason: Arc<str>, now: Nanos) {
        let a = self.actors.actors.get_mut(&actor).expect("listed");
        a.phase = ActorPhase::Failed(reason);
        let log = std::mem::take(&mut a.log);
        for c in log {
            self.release_lineage(&c.args);
        }
        self.run_actor(actor, now);
    }
}
