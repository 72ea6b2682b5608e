//! What can run: the catalog of functions and actor kinds, and requests to run them.

use crate::cost::CostModel;
use crate::error::ActorId;
use crate::payload::Payload;
use cohort_policy::{Hints, NodeId, ObjectId, Resources, TaskId};
use smallvec::SmallVec;
use std::sync::Arc;

/// Index of a function in the [`Catalog`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FnId(pub u32);

/// Index of an actor kind in the [`Catalog`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KindId(pub u32);

/// Index of a method within its actor kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MethodId(pub u32);

/// A named piece of code and what it costs on the virtual clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    /// The name work is submitted by (for methods: `Kind.method`).
    pub name: Arc<str>,
    /// Its cost model.
    pub cost: CostModel,
}

/// An actor kind: its constructor and methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorKindInfo {
    /// The kind's name.
    pub name: Arc<str>,
    /// Cost of running the constructor.
    pub creation_cost: CostModel,
    /// CPUs the constructor holds while it runs. An actor holds no CPU slot afterwards, as in
    /// Ray v0.6, so method calls never wait for a slot.
    pub creation_demand: Resources,
    /// Methods by [`MethodId`]; names are `Kind.method`.
    pub methods: Vec<FunctionInfo>,
}

/// Everything that can be run, by index. The executor holds the code under the same indices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Functions by [`FnId`].
    pub functions: Vec<FunctionInfo>,
    /// Actor kinds by [`KindId`].
    pub actor_kinds: Vec<ActorKindInfo>,
}

impl Catalog {
    /// The name of `work`'s code (for methods: `Kind.method`).
    #[inline]
    pub fn name(&self, work: &ExecWork) -> Arc<str> {
        match *work {
            ExecWork::Function(f) => self.functions[f.0 as usize].name.clone(),
            ExecWork::CreateActor { kind, .. } => self.actor_kinds[kind.0 as usize].name.clone(),
            ExecWork::Method { kind, method, .. } => self.actor_kinds[kind.0 as usize].methods
                [method.0 as usize]
                .name
                .clone(),
        }
    }

    /// A dense index of `work`'s code, from 0 to [`Catalog::code_count`]: functions first,
    /// then each actor kind's constructor and methods, in order.
    pub fn code_index(&self, work: &ExecWork) -> usize {
        let kind_start = |k: usize| {
            self.functions.len()
                + self.actor_kinds[..k]
                    .iter()
                    .map(|a| 1 + a.methods.len())
                    .sum::<usize>()
        };
        match *work {
            ExecWork::Function(f) => f.0 as usize,
            ExecWork::CreateActor { kind, .. } => kind_start(kind.0 as usize),
            ExecWork::Method { kind, method, .. } => {
                kind_start(kind.0 as usize) + 1 + method.0 as usize
            }
        }
    }

    /// How many pieces of code there are (see [`Catalog::code_index`]).
    pub fn code_count(&self) -> usize {
        self.functions.len()
            + self
                .actor_kinds
                .iter()
                .map(|a| 1 + a.methods.len())
                .sum::<usize>()
    }

    /// The cost model of `work`'s code.
    #[inline]
    pub fn cost(&self, work: &ExecWork) -> &CostModel {
        match *work {
            ExecWork::Function(f) => &self.functions[f.0 as usize].cost,
            ExecWork::CreateActor { kind, .. } => &self.actor_kinds[kind.0 as usize].creation_cost,
            ExecWork::Method { kind, method, .. } => {
                &self.actor_kinds[kind.0 as usize].methods[method.0 as usize].cost
            }
        }
    }
}

/// An argument of submitted work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// An object, by reference: it must be local to the node before the work runs.
    Object(ObjectId),
    /// A value carried with the request.
    Value(Payload),
}

/// A request to run a function as a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRequest {
    /// The function.
    pub function: FnId,
    /// Its arguments, in order.
    pub args: Vec<Arg>,
    /// CPUs it holds while running.
    pub demand: Resources,
    /// How many objects it returns.
    pub num_returns: u32,
    /// Scheduling hints.
    pub hints: Hints,
    /// The size each output is expected to have, shown to policies while it is pending.
    pub declared_output_size: u64,
}

/// A request to call a method of an actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRequest {
    /// The actor.
    pub actor: ActorId,
    /// The method.
    pub method: MethodId,
    /// Its arguments, in order.
    pub args: Vec<Arg>,
    /// How many objects it returns.
    pub num_returns: u32,
    /// Scheduling hints; if the actor is not placed yet, it is placed with this call's
    /// dependency.
    pub hints: Hints,
    /// The size each output is expected to have.
    pub declared_output_size: u64,
}

/// What an execution runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecWork {
    /// A function.
    Function(FnId),
    /// An actor's constructor.
    CreateActor {
        /// The actor.
        actor: ActorId,
        /// Its kind.
        kind: KindId,
    },
    /// A method call.
    Method {
        /// The actor.
        actor: ActorId,
        /// Its kind.
        kind: KindId,
        /// The method.
        method: MethodId,
    },
}

/// Work the core hands to its executor: run this code on these inputs, then report back with
/// [`crate::core::Core::complete`].
#[derive(Clone, Debug)]
pub struct Execution {
    /// The work.
    pub task: TaskId,
    /// Where it runs.
    pub node: NodeId,
    /// What to run.
    pub work: ExecWork,
    /// Its index within its group (from its hints).
    pub index: u32,
    /// Inputs in argument order.
    pub inputs: Vec<Payload>,
    /// With an external executor ([`ClockMode::External`](crate::core::ClockMode)): for each
    /// input, the object it is, or `None` for a value carried with the request. Empty
    /// otherwise.
    pub objects: Vec<Option<ObjectId>>,
    /// With an external executor: the objects its outputs become, in order. Empty otherwise.
    pub outputs: SmallVec<[ObjectId; 2]>,
}

/// What an execution produced.
#[derive(Clone, Debug, Default)]
pub struct ExecOutput {
    /// Return values (none for constructors).
    pub outputs: Vec<Payload>,
    /// Datapoints recorded by the code: `(tag, ingest time)`; arrival is the start time.
    pub datapoints: Vec<(u64, crate::time::Nanos)>,
}
