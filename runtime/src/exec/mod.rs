//! Executors: what drives the [`Core`] through time and runs the code it asks for.
//!
//! - [`virtual_clock`]: a discrete-event loop. Time jumps from one core timer to the next;
//!   code runs inline at the instant its execution starts and its duration is the cost
//!   model's. Deterministic and much faster than real time. The default.
//! - [`real_clock`]: the same core driven in real time; code runs on a pool of worker threads
//!   and its duration is what it really took (plus the modeled part if asked).
//! - [`external`]: the same core in real time, with a [`Backend`](external::Backend) that
//!   runs the code and moves the bytes elsewhere (the live deployment's node processes).
//!
//! [`Runner`] runs registered code: the two executors in this process use it, and so does a
//! live node process.

pub mod external;
pub mod real_clock;
pub mod virtual_clock;

use crate::core::Core;
use crate::core::work::{ExecOutput, ExecWork, Execution};
use crate::error::{ActorId, RuntimeError};
use crate::registry::{ActorState, Registry, TaskContext};
use crate::time::Nanos;
use cohort_policy::ffi::panic_message;
use rustc_hash::FxHashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

/// Why `Executor::run_until` returned successfully.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// The condition holds.
    Reached,
    /// The deadline passed first.
    Deadline,
}

/// When an executor in real time must next look at the core: its next timer or `deadline`,
/// whichever comes first (`None`: neither).
pub(crate) fn next_wake(core: &Core, deadline: Option<Nanos>) -> Option<Nanos> {
    match (core.next_timer(), deadline) {
        (Some(t), Some(d)) => Some(t.min(d)),
        (t, d) => t.or(d),
    }
}

/// Runs code for the core: the registry plus every actor's state.
pub struct Runner {
    registry: Registry,
    actors: Mutex<FxHashMap<ActorId, Arc<Mutex<ActorState>>>>,
}

impl Runner {
    /// A runner of `registry`'s code, with no actor constructed yet.
    pub fn new(registry: Registry) -> Self {
        Runner {
            registry,
            actors: Mutex::new(FxHashMap::default()),
        }
    }

    /// The code it runs.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Applies `read` to the state of `actor`, if it has been constructed and its state is a
    /// `T`.
    pub fn actor_state<T: 'static, R>(
        &self,
        actor: ActorId,
        read: impl FnOnce(&T) -> R,
    ) -> Option<R> {
        let state = self.actors.lock().ok()?.get(&actor).cloned()?;
        let guard = state.lock().ok()?;
        guard.downcast_ref::<T>().map(read)
    }

    /// The actors constructed so far, ascending.
    pub fn actors(&self) -> Vec<ActorId> {
        let Ok(actors) = self.actors.lock() else {
            return Vec::new();
        };
        let mut ids: Vec<ActorId> = actors.keys().copied().collect();
        ids.sort_unstable_by_key(|a| a.0);
        ids
    }

    /// Runs one execution. A panic in user code becomes a failure of that execution.
    pub fn run(&self, exec: &Execution, now: Nanos) -> Result<ExecOutput, String> {
        let mut ctx = TaskContext {
            now,
            node: exec.node,
            task: exec.task,
            index: exec.index,
            datapoints: Vec::new(),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| self.run_inner(exec, &mut ctx)));
        let outputs = match outcome {
            Ok(r) => r?,
            Err(panic) => return Err(format!("panicked: {}", panic_message(&*panic))),
        };
        Ok(ExecOutput {
            outputs,
            datapoints: ctx.datapoints,
        })
    }

    fn run_inner(
        &self,
        exec: &Execution,
        ctx: &mut TaskContext,
    ) -> Result<Vec<crate::payload::Payload>, String> {
        match exec.work {
            ExecWork::Function(f) => (self.registry.task_fn(f))(ctx, &exec.inputs),
            ExecWork::CreateActor { actor, kind } => {
                let state = (self.registry.ctor(kind))(ctx, &exec.inputs)?;
                self.actors
                    .lock()
                    .map_err(|_| "actor table poisoned".to_string())?
                    .insert(actor, Arc::new(Mutex::new(state)));
                Ok(Vec::new())
            }
            ExecWork::Method {
                actor,
                kind,
                method,
            } => {
                let state = self
                    .actors
                    .lock()
                    .map_err(|_| "actor table poisoned".to_string())?
                    .get(&actor)
                    .cloned()
                    .ok_or_else(|| format!("{actor} has no state"))?;
                let mut guard = state
                    .lock()
                    .map_err(|_| format!("{actor}'s state is poisoned by an earlier panic"))?;
                (self.registry.method_fn(kind, method))(&mut **guard, ctx, &exec.inputs)
            }
        }
    }
}

/// A driver of the core through time.
pub(crate) enum Executor {
    Virtual(virtual_clock::VirtualClock),
    Real(real_clock::RealClock),
    External(external::External),
}

impl Executor {
    pub fn now(&self) -> Nanos {
        match self {
            Executor::Virtual(v) => v.now(),
            Executor::Real(r) => r.now(),
            Executor::External(e) => e.now(),
        }
    }

    /// Drives the core until `done` holds, or `deadline` passes. `done` is given the core and
    /// the number of executions running outside it (always 0 on the virtual clock).
    pub fn run_until(
        &mut self,
        core: &mut Core,
        done: &mut dyn FnMut(&Core, usize) -> bool,
        deadline: Option<Nanos>,
    ) -> Result<RunEnd, RuntimeError> {
        match self {
            Executor::Virtual(v) => v.run_until(core, done, deadline),
            Executor::Real(r) => r.run_until(core, done, deadline),
            Executor::External(e) => e.run_until(core, done, deadline),
        }
    }

    /// Drives the core until nothing is running or scheduled (faults still to start or end
    /// do not count: the run ends with its work).
    pub fn run_until_idle(&mut self, core: &mut Core) -> Result<(), RuntimeError> {
        let mut idle = |core: &Core, in_flight: usize| in_flight == 0 && core.is_idle();
        self.run_until(core, &mut idle, None).map(|_| ())
    }
}
