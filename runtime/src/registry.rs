//! The code a cluster can run: functions and actor kinds, registered by name.

use crate::core::work::{ActorKindInfo, Catalog, FnId, FunctionInfo, KindId, MethodId};
use crate::cost::CostModel;
use crate::error::RuntimeError;
use crate::payload::Payload;
use crate::time::Nanos;
use cohort_policy::{NodeId, Resources, TaskId};
use rustc_hash::FxHashMap;
use std::any::Any;
use std::sync::Arc;

/// What task and method code can see of its surroundings.
#[derive(Debug)]
pub struct TaskContext {
    pub(crate) now: Nanos,
    pub(crate) node: NodeId,
    pub(crate) task: TaskId,
    pub(crate) index: u32,
    pub(crate) datapoints: Vec<(u64, Nanos)>,
}

impl TaskContext {
    /// When this execution started.
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// The node it runs on.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The work being run.
    pub fn task(&self) -> TaskId {
        self.task
    }

    /// Its index within its group (its hints' `index`: the IR numbers the tasks of a stage
    /// from 0), the same when it runs again to rebuild a lost output.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Records that data ingested at `ingest` has arrived here now; `tag` is the workload's
    /// (e.g. the iteration number). These datapoints are what latency is measured from.
    pub fn record_arrival(&mut self, tag: u64, ingest: Nanos) {
        self.datapoints.push((tag, ingest));
    }
}

/// The result of task or method code: output values, or a message saying why it failed.
pub type CodeResult<T> = Result<T, String>;

/// A function's code.
pub type TaskFn =
    Arc<dyn Fn(&mut TaskContext, &[Payload]) -> CodeResult<Vec<Payload>> + Send + Sync>;

/// An actor's state, owned by the executor.
pub type ActorState = Box<dyn Any + Send>;

type CtorFn = Arc<dyn Fn(&mut TaskContext, &[Payload]) -> CodeResult<ActorState> + Send + Sync>;
type MethodFn = Arc<
    dyn Fn(&mut (dyn Any + Send), &mut TaskContext, &[Payload]) -> CodeResult<Vec<Payload>>
        + Send
        + Sync,
>;

/// An actor kind: a constructor building ordinary Rust state `S`, and methods on `&mut S`.
pub struct ActorKind {
    info: ActorKindInfo,
    ctor: CtorFn,
    methods: Vec<MethodFn>,
}

impl std::fmt::Debug for ActorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorKind")
            .field("info", &self.info)
            .finish()
    }
}

impl ActorKind {
    /// A kind whose constructor builds an `S` from its arguments. The constructor costs
    /// nothing and holds one CPU while it runs, unless set otherwise.
    pub fn new<S, F>(name: &str, ctor: F) -> Self
    where
        S: Send + 'static,
        F: Fn(&mut TaskContext, &[Payload]) -> CodeResult<S> + Send + Sync + 'static,
    {
        ActorKind {
            info: ActorKindInfo {
                name: name.into(),
                creation_cost: CostModel::default(),
                creation_demand: Resources { cpus: 1 },
                methods: Vec::new(),
            },
            ctor: Arc::new(move |ctx, args| ctor(ctx, args).map(|s| Box::new(s) as ActorState)),
            methods: Vec::new(),
        }
    }

    /// Sets the constructor's cost model.
    pub fn creation_cost(mut self, cost: CostModel) -> Self {
        self.info.creation_cost = cost;
        self
    }

    /// Sets the CPUs the constructor holds while it runs.
    pub fn creation_demand(mut self, demand: Resources) -> Self {
        self.info.creation_demand = demand;
        self
    }

    /// Adds a method on state `S` (the type the constructor builds).
    pub fn method<S, F>(mut self, name: &str, cost: CostModel, f: F) -> Self
    where
        S: Send + 'static,
        F: Fn(&mut S, &mut TaskContext, &[Payload]) -> CodeResult<Vec<Payload>>
            + Send
            + Sync
            + 'static,
    {
        let kind = self.info.name.clone();
        self.info.methods.push(FunctionInfo {
            name: format!("{kind}.{name}").into(),
            cost,
        });
        self.methods.push(Arc::new(move |state, ctx, args| {
            let state = state
                .downcast_mut::<S>()
                .ok_or_else(|| format!("the state of a `{kind}` actor has another type"))?;
            f(state, ctx, args)
        }));
        self
    }
}

/// Every function and actor kind a cluster can run. Indices are stable: the [`Catalog`] the
/// core sees lists them in registration order.
#[derive(Default)]
pub struct Registry {
    functions: Vec<(FunctionInfo, TaskFn)>,
    kinds: Vec<ActorKind>,
    names: FxHashMap<Arc<str>, Entry>,
}

#[derive(Clone, Copy)]
enum Entry {
    Function(FnId),
    Kind(KindId),
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("catalog", &self.catalog())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn claim(&mut self, name: &str, entry: Entry) -> Result<(), RuntimeError> {
        if self.names.contains_key(name) {
            return Err(RuntimeError::DuplicateName(name.to_string()));
        }
        self.names.insert(name.into(), entry);
        Ok(())
    }

    /// Registers a function under `name`.
    pub fn function<F>(&mut self, name: &str, cost: CostModel, f: F) -> Result<FnId, RuntimeError>
    where
        F: Fn(&mut TaskContext, &[Payload]) -> CodeResult<Vec<Payload>> + Send + Sync + 'static,
    {
        let id = FnId(self.functions.len() as u32);
        self.claim(name, Entry::Function(id))?;
        self.functions.push((
            FunctionInfo {
                name: name.into(),
                cost,
            },
            Arc::new(f),
        ));
        Ok(id)
    }

    /// Registers an actor kind.
    pub fn actor(&mut self, kind: ActorKind) -> Result<KindId, RuntimeError> {
        let id = KindId(self.kinds.len() as u32);
        let name = kind.info.name.clone();
        self.claim(&name, Entry::Kind(id))?;
        self.kinds.push(kind);
        Ok(id)
    }

    /// The function registered under `name`.
    pub fn function_id(&self, name: &str) -> Result<FnId, RuntimeError> {
        match self.names.get(name) {
            Some(Entry::Function(id)) => Ok(*id),
            _ => Err(RuntimeError::UnknownFunction(name.to_string())),
        }
    }

    /// The actor kind registered under `name`.
    pub fn kind_id(&self, name: &str) -> Result<KindId, RuntimeError> {
        match self.names.get(name) {
            Some(Entry::Kind(id)) => Ok(*id),
            _ => Err(RuntimeError::UnknownActorKind(name.to_string())),
        }
    }

    /// The method `name` of actor kind `kind`.
    pub fn method_id(&self, kind: KindId, name: &str) -> Result<MethodId, RuntimeError> {
        let k = self
            .kinds
            .get(kind.0 as usize)
            .ok_or_else(|| RuntimeError::UnknownActorKind(format!("#{}", kind.0)))?;
        let full = format!("{}.{name}", k.info.name);
        k.info
            .methods
            .iter()
            .position(|m| *m.name == *full)
            .map(|i| MethodId(i as u32))
            .ok_or_else(|| RuntimeError::UnknownMethod {
                kind: k.info.name.to_string(),
                method: name.to_string(),
            })
    }

    /// Names and costs, without the code: what the core needs.
    pub fn catalog(&self) -> Catalog {
        Catalog {
            functions: self.functions.iter().map(|(i, _)| i.clone()).collect(),
            actor_kinds: self.kinds.iter().map(|k| k.info.clone()).collect(),
        }
    }

    pub(crate) fn task_fn(&self, id: FnId) -> &TaskFn {
        &self.functions[id.0 as usize].1
    }

    pub(crate) fn ctor(&self, kind: KindId) -> &CtorFn {
        &self.kinds[kind.0 as usize].ctor
    }

    pub(crate) fn method_fn(&self, kind: KindId, method: MethodId) -> &MethodFn {
        &self.kinds[kind.0 as usize].methods[method.0 as usize]
    }
}
