//! From a parsed file plus parameter overrides to a [`Resolved`] workload with concrete
//! numbers, checked: every reference names something that exists, the stage graph has no
//! cycle, every demand fits some node.

use crate::error::{WorkloadError, line_column};
use crate::schema::{self, Field, Mode, Op, Raw, Scope, WorkloadFile};
use crate::units::{self, UnitError};
use cohort_runtime::{ClusterSpec, CostModel, NetworkSpec, NodeSpec};
use std::collections::BTreeMap;
use toml::Spanned;

/// The size of each output of a task kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputSize {
    /// A fixed number of bytes.
    Bytes(u64),
    /// The size of the first object argument.
    Input,
    /// The sum of the sizes of all object arguments.
    Inputs,
}

/// A task kind or method, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kind {
    /// Objects returned.
    pub outputs: u32,
    /// Size of each.
    pub output_size: OutputSize,
    /// CPU slots held (tasks only).
    pub cpus: u32,
    /// Cost on the virtual clock.
    pub cost: CostModel,
    /// Whether each execution records a datapoint.
    pub record: bool,
}

/// An actor kind, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorKind {
    /// Constructor cost.
    pub creation_cost: CostModel,
    /// CPU slots the constructor holds.
    pub creation_cpus: u32,
    /// Methods by name.
    pub methods: BTreeMap<String, Kind>,
}

/// One stage's operation; stage references are indices into [`Resolved::stages`], always to
/// earlier stages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StageOp {
    /// `Broadcast(task, width)`.
    Broadcast {
        /// Task kind.
        task: String,
        /// Handles yielded.
        width: usize,
    },
    /// `Map(task, input)`, with fan-in, repeated.
    Map {
        /// Task kind.
        task: String,
        /// Input stage.
        input: usize,
        /// Times chained.
        repeat: usize,
        /// Inputs per task.
        fan_in: usize,
    },
    /// `InitActors(actor, count)`.
    InitActors {
        /// Actor kind.
        actor: String,
        /// Actors created.
        count: usize,
    },
    /// `ReduceActors(method, actors, input)`.
    ReduceActors {
        /// Method name.
        method: String,
        /// The init_actors stage.
        actors: usize,
        /// Input stage.
        input: usize,
    },
}

/// One stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// Its name.
    pub name: String,
    /// What it does.
    pub op: StageOp,
    /// Once per run, or per iteration.
    pub scope: Scope,
}

/// When the driver stops starting iterations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// After this much virtual time (ns).
    Duration(u64),
    /// After this many iterations.
    Iterations(u64),
}

/// The iteration schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Time between iterations (ns).
    pub period: u64,
    /// Fixed delay or fixed rate.
    pub mode: Mode,
    /// When to stop.
    pub end: End,
    /// Datapoints ingested before this (ns) are warm-up.
    pub warmup: u64,
}

/// A workload with every parameter bound and every reference checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The workload's name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Every parameter's effective value as text (defaults overridden by `--set`).
    pub params: BTreeMap<String, String>,
    /// Every parameter's effective value as a number (bytes, ns, bytes/s or a count), for
    /// tables; parameters that nothing uses are absent.
    pub param_values: BTreeMap<String, u64>,
    /// What each number of `param_values` measures (same keys).
    pub param_units: BTreeMap<String, Quantity>,
    /// The published data set the workload declares it reproduces (`reproduces`), if any.
    pub reproduces: Option<String>,
    /// The cluster.
    pub spec: ClusterSpec,
    /// Staleness of the policy's view (ns).
    pub heartbeat: u64,
    /// Driver time per submission (ns).
    pub submit_cost: u64,
    /// Task kinds.
    pub tasks: BTreeMap<String, Kind>,
    /// Actor kinds.
    pub actors: BTreeMap<String, ActorKind>,
    /// Stages, each after the stages it reads.
    pub stages: Vec<Stage>,
    /// The schedule.
    pub schedule: Schedule,
}

/// What a parameter's number measures, from where the workload uses it: the unit of its
/// `param.*` column (bytes, ns, bytes/s or a plain count).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quantity {
    /// A whole number.
    Count,
    /// A size in bytes.
    Size,
    /// A duration in nanoseconds.
    Duration,
    /// A rate in bytes per second.
    Rate,
}

impl Quantity {
    /// Its name in manifests: `count`, `size`, `duration` or `rate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Quantity::Count => "count",
            Quantity::Size => "size",
            Quantity::Duration => "duration",
            Quantity::Rate => "rate",
        }
    }

    fn parse(self, text: &str) -> Result<u64, UnitError> {
        match self {
            Quantity::Count => text
                .trim()
                .parse::<u64>()
                .map_err(|_| UnitError::NoNumber(text.to_string())),
            Quantity::Size => units::parse_size(text),
            Quantity::Duration => units::parse_duration(text),
            Quantity::Rate => units::parse_rate(text),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Quantity::Count => "a whole number",
            Quantity::Size => "a size such as \"15.26MiB\" or a number of bytes",
            Quantity::Duration => "a duration such as \"100ms\"",
            Quantity::Rate => "a rate such as \"10Gbit/s\"",
        }
    }
}

pub(crate) struct Resolver<'a> {
    pub path: &'a str,
    pub source: &'a str,
    pub params: &'a BTreeMap<String, Field>,
    pub overrides: &'a BTreeMap<String, String>,
    /// Parameters used so far: value, and the quantity of their first use.
    pub used: BTreeMap<String, (u64, Quantity)>,
}

impl<'a> Resolver<'a> {
    pub fn at(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> WorkloadError {
        let (line, column) = line_column(self.source, span.start);
        WorkloadError::At {
            path: self.path.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    fn whole(&self, message: impl Into<String>) -> WorkloadError {
        WorkloadError::Whole {
            path: self.path.to_string(),
            message: message.into(),
        }
    }

    fn quantity(&mut self, field: &Field, what: &str, q: Quantity) -> Result<u64, WorkloadError> {
        let bad = |r: &Self, span: std::ops::Range<usize>, detail: String| {
            r.at(span, format!("{what}: {detail}; expected {}", q.describe()))
        };
        match field.get_ref() {
            Raw::Str(s) if s.starts_with('$') => {
                let name = &s[1..];
                if let Some(text) = self.overrides.get(name) {
                    let v = q.parse(text).map_err(|e| {
                        self.whole(format!(
                            "--set {name}={text}: {e} (used by {what}, which takes {})",
                            q.describe()
                        ))
                    })?;
                    self.record_use(name, v, q, what)?;
                    return Ok(v);
                }
                let Some(def) = self.params.get(name) else {
                    return Err(bad(
                        self,
                        field.span(),
                        format!("no parameter `{name}` in [params]"),
                    ));
                };
                if matches!(def.get_ref(), Raw::Str(t) if t.starts_with('$')) {
                    return Err(self.at(
                        def.span(),
                        format!("params.{name}: a parameter cannot refer to another"),
                    ));
                }
                let v = self.quantity(def, &format!("params.{name} (used by {what})"), q)?;
                self.record_use(name, v, q, what)?;
                Ok(v)
            }
            Raw::Str(s) => q
                .parse(s)
                .map_err(|e| bad(self, field.span(), e.to_string())),
            Raw::Int(i) => match q {
                Quantity::Count | Quantity::Size if *i >= 0 => Ok(*i as u64),
                Quantity::Count | Quantity::Size => {
                    Err(bad(self, field.span(), format!("{i} is negative")))
                }
                Quantity::Duration | Quantity::Rate => {
                    Err(bad(self, field.span(), format!("{i} has no unit")))
                }
            },
            Raw::Float(x) => Err(bad(
                self,
                field.span(),
                format!("{x} is not a whole number and has no unit"),
            )),
        }
    }

    /// Records that parameter `name` (value `v`) is used by `what` as a `q`; one parameter
    /// measures one kind of quantity, so that its column has one unit.
    fn record_use(
        &mut self,
        name: &str,
        v: u64,
        q: Quantity,
        what: &str,
    ) -> Result<(), WorkloadError> {
        match self.used.get(name) {
            Some(&(_, first)) if first != q => Err(self.whole(format!(
                "params.{name} is used as a {} elsewhere and as a {} by {what}: a parameter \
                 measures one kind of quantity",
                first.as_str(),
                q.as_str()
            ))),
            _ => {
                self.used.insert(name.to_string(), (v, q));
                Ok(())
            }
        }
    }

    pub fn count(&mut self, f: &Field, what: &str) -> Result<u64, WorkloadError> {
        self.quantity(f, what, Quantity::Count)
    }
    pub fn size(&mut self, f: &Field, what: &str) -> Result<u64, WorkloadError> {
        self.quantity(f, what, Quantity::Size)
    }
    pub fn duration(&mut self, f: &Field, what: &str) -> Result<u64, WorkloadError> {
        self.quantity(f, what, Quantity::Duration)
    }
    pub fn rate(&mut self, f: &Field, what: &str) -> Result<u64, WorkloadError> {
        self.quantity(f, what, Quantity::Rate)
    }

    fn positive(&mut self, f: &Field, what: &str, max: u64) -> Result<u64, WorkloadError> {
        let v = self.count(f, what)?;
        if v == 0 || v > max {
            return Err(self.at(
                f.span(),
                format!("{what}: must be between 1 and {max}, got {v}"),
            ));
        }
        Ok(v)
    }

    fn opt_duration(&mut self, f: &Option<Field>, what: &str) -> Result<u64, WorkloadError> {
        f.as_ref().map_or(Ok(0), |f| self.duration(f, what))
    }

    /// Picoseconds per byte for a rate (0 when absent: free).
    fn per_byte(&mut self, f: &Option<Field>, what: &str) -> Result<u64, WorkloadError> {
        let Some(f) = f else { return Ok(0) };
        let rate = self.rate(f, what)?;
        if rate == 0 {
            return Err(self.at(
                f.span(),
                format!("{what}: a rate of zero would never finish"),
            ));
        }
        Ok(1_000_000_000_000u64.div_ceil(rate))
    }

    fn kind(&mut self, k: &schema::TaskKindSection, what: &str) -> Result<Kind, WorkloadError> {
        let outputs = match &k.outputs {
            Some(f) => self.count(f, &format!("{what}.outputs"))?,
            None => 1,
        };
        let output_size = match &k.output_size {
            None => OutputSize::Bytes(8),
            Some(f) => match f.get_ref() {
                Raw::Str(s) if s == "input" => OutputSize::Input,
                Raw::Str(s) if s == "inputs" => OutputSize::Inputs,
                _ => OutputSize::Bytes(self.size(f, &format!("{what}.output_size"))?),
            },
        };
        let cpus = match &k.cpus {
            Some(f) => self.count(f, &format!("{what}.cpus"))?,
            None => 1,
        };
        Ok(Kind {
            outputs: u32::try_from(outputs).unwrap_or(u32::MAX),
            output_size,
            cpus: u32::try_from(cpus).unwrap_or(u32::MAX),
            cost: CostModel {
                fixed_ns: self.opt_duration(&k.fixed, &format!("{what}.fixed"))?,
                per_input_byte_ps: self.per_byte(&k.input_rate, &format!("{what}.input_rate"))?,
                per_output_byte_ps: self
                    .per_byte(&k.output_rate, &format!("{what}.output_rate"))?,
            },
            record: k.record,
        })
    }
}

fn name_of<'s>(
    r: &Resolver<'_>,
    field: &'s Option<Spanned<String>>,
    stage: &Spanned<schema::StageSection>,
    key: &str,
) -> Result<&'s Spanned<String>, WorkloadError> {
    field.as_ref().ok_or_else(|| {
        let s = stage.get_ref();
        r.at(
            stage.span(),
            format!("stage `{}` ({:?}) needs `{key}`", s.name.get_ref(), s.op),
        )
    })
}

/// Resolves `file` with `overrides` (parameter name → value as text).
pub(crate) fn resolve(
    path: &str,
    source: &str,
    file: &WorkloadFile,
    overrides: &BTreeMap<String, String>,
) -> Result<Resolved, WorkloadError> {
    let mut r = Resolver {
        path,
        source,
        params: &file.params,
        overrides,
        used: BTreeMap::new(),
    };
    for name in overrides.keys() {
        if !file.params.contains_key(name) {
            let known: Vec<&str> = file.params.keys().map(String::as_str).collect();
            return Err(r.whole(format!(
                "--set {name}: the workload has no parameter `{name}` (it has: {})",
                known.join(", ")
            )));
        }
    }

    // The cluster.
    let c = &file.cluster;
    let nodes = r.count(&c.nodes, "cluster.nodes")?;
    if nodes == 0 {
        return Err(r.at(c.nodes.span(), "cluster.nodes: the cluster has no nodes"));
    }
    let cpus = r.positive(&c.cpus, "cluster.cpus", u64::from(u32::MAX))? as u32;
    let store = r.size(&c.store, "cluster.store")?;
    if store == 0 {
        return Err(r.at(
            c.store.span(),
            "cluster.store: the object store has no capacity",
        ));
    }
    let bandwidth = r.rate(&c.nic_bandwidth, "cluster.nic_bandwidth")?;
    if bandwidth == 0 {
        return Err(r.at(
            c.nic_bandwidth.span(),
            "cluster.nic_bandwidth: zero bandwidth",
        ));
    }
    let spec = ClusterSpec::uniform(
        nodes as usize,
        NodeSpec {
            cpus,
            store_capacity: store,
        },
        NetworkSpec {
            nic_bandwidth: bandwidth,
            latency: r.duration(&c.latency, "cluster.latency")?,
            transport: Default::default(),
        },
    );
    let heartbeat = r.opt_duration(&c.heartbeat, "cluster.heartbeat")?;
    let submit_cost = r.opt_duration(&c.submit_cost, "cluster.submit_cost")?;

    // Kinds.
    let mut tasks = BTreeMap::new();
    for (name, k) in &file.tasks {
        let kind = r.kind(k.get_ref(), &format!("tasks.{name}"))?;
        if kind.cpus > cpus {
            return Err(r.at(
                k.span(),
                format!(
                    "tasks.{name} demands {} CPUs, but no node has more than {cpus}",
                    kind.cpus
                ),
            ));
        }
        tasks.insert(name.clone(), kind);
    }
    let mut actors = BTreeMap::new();
    for (name, a) in &file.actors {
        let a_ref = a.get_ref();
        let creation = match &a_ref.creation {
            Some(k) => r.kind(k, &format!("actors.{name}.creation"))?,
            None => Kind {
                outputs: 0,
                output_size: OutputSize::Bytes(8),
                cpus: 1,
                cost: CostModel::default(),
                record: false,
            },
        };
        if creation.cpus > cpus {
            return Err(r.at(
                a.span(),
                format!(
                    "actors.{name}.creation demands {} CPUs, but no node has more than {cpus}",
                    creation.cpus
                ),
            ));
        }
        let mut methods = BTreeMap::new();
        for (m, k) in &a_ref.methods {
            methods.insert(m.clone(), r.kind(k, &format!("actors.{name}.methods.{m}"))?);
        }
        actors.insert(
            name.clone(),
            ActorKind {
                creation_cost: creation.cost,
                creation_cpus: creation.cpus,
                methods,
            },
        );
    }

    let stages = resolve_stages(&mut r, file, &tasks, &actors)?;

    // The schedule.
    let s = &file.schedule;
    let period = r.duration(&s.period, "schedule.period")?;
    let end = match (&s.duration, &s.iterations) {
        (Some(d), None) => End::Duration(r.duration(d, "schedule.duration")?),
        (None, Some(i)) => End::Iterations(r.count(i, "schedule.iterations")?),
        _ => {
            return Err(
                r.whole("[schedule] needs exactly one of `duration` and `iterations`".to_string())
            );
        }
    };
    let warmup = r.opt_duration(&s.warmup, "schedule.warmup")?;
    if let End::Duration(d) = end
        && warmup >= d
        && let Some(w) = &s.warmup
    {
        return Err(r.at(
            w.span(),
            "schedule.warmup: as long as the whole run: nothing would be measured",
        ));
    }

    let mut params = BTreeMap::new();
    for (name, f) in &file.params {
        let text = match overrides.get(name) {
            Some(t) => t.clone(),
            None => match f.get_ref() {
                Raw::Str(s) => s.clone(),
                other => other.to_string(),
            },
        };
        params.insert(name.clone(), text);
    }
    Ok(Resolved {
        name: file.name.clone(),
        description: file.description.trim().to_string(),
        params,
        param_values: r.used.iter().map(|(k, &(v, _))| (k.clone(), v)).collect(),
        param_units: r.used.iter().map(|(k, &(_, q))| (k.clone(), q)).collect(),
        reproduces: file.reproduces.clone(),
        spec,
        heartbeat,
        submit_cost,
        tasks,
        actors,
        stages,
        schedule: Schedule {
            period,
            mode: s.mode,
            end,
            warmup,
        },
    })
}

fn resolve_stages(
    r: &mut Resolver<'_>,
    file: &WorkloadFile,
    tasks: &BTreeMap<String, Kind>,
    actors: &BTreeMap<String, ActorKind>,
) -> Result<Vec<Stage>, WorkloadError> {
    if file.stages.is_empty() {
        return Err(r.whole("the workload has no [[stage]]".to_string()));
    }
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in file.stages.iter().enumerate() {
        let name = s.get_ref().name.get_ref().as_str();
        if index.insert(name, i).is_some() {
            return Err(r.at(
                s.get_ref().name.span(),
                format!("stage `{name}` is defined twice"),
            ));
        }
    }
    let lookup = |r: &Resolver<'_>, name: &Spanned<String>, what: &str| {
        index.get(name.get_ref().as_str()).copied().ok_or_else(|| {
            r.at(
                name.span(),
                format!(
                    "{what} `{}` is not a stage of this workload",
                    name.get_ref()
                ),
            )
        })
    };
    // First pass: references and per-stage numbers, in file order.
    let mut ops = Vec::with_capacity(file.stages.len());
    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(file.stages.len());
    for s in &file.stages {
        let st = s.get_ref();
        let sname = st.name.get_ref();
        let (op, d) = match st.op {
            Op::Broadcast => {
                let task = name_of(r, &st.task, s, "task")?;
                check_task(r, tasks, task)?;
                let width = match &st.width {
                    Some(f) => r.positive(f, &format!("stage {sname}.width"), 1 << 24)?,
                    None => {
                        return Err(r.at(
                            s.span(),
                            format!("stage `{sname}` (broadcast) needs `width`"),
                        ));
                    }
                };
                (
                    StageOp::Broadcast {
                        task: task.get_ref().clone(),
                        width: width as usize,
                    },
                    vec![],
                )
            }
            Op::Map => {
                let task = name_of(r, &st.task, s, "task")?;
                check_task(r, tasks, task)?;
                let input = lookup(r, name_of(r, &st.input, s, "input")?, "input")?;
                let repeat = match &st.repeat {
                    Some(f) => r.positive(f, &format!("stage {sname}.repeat"), 1 << 16)?,
                    None => 1,
                };
                let fan_in = match &st.fan_in {
                    Some(f) => r.positive(f, &format!("stage {sname}.fan_in"), 1 << 24)?,
                    None => 1,
                };
                (
                    StageOp::Map {
                        task: task.get_ref().clone(),
                        input,
                        repeat: repeat as usize,
                        fan_in: fan_in as usize,
                    },
                    vec![input],
                )
            }
            Op::InitActors => {
                let actor = name_of(r, &st.actor, s, "actor")?;
                if !actors.contains_key(actor.get_ref()) {
                    return Err(r.at(
                        actor.span(),
                        format!(
                            "actor kind `{}` is not defined in [actors]",
                            actor.get_ref()
                        ),
                    ));
                }
                let count = match &st.count {
                    Some(f) => r.positive(f, &format!("stage {sname}.count"), 1 << 24)?,
                    None => {
                        return Err(r.at(
                            s.span(),
                            format!("stage `{sname}` (init_actors) needs `count`"),
                        ));
                    }
                };
                (
                    StageOp::InitActors {
                        actor: actor.get_ref().clone(),
                        count: count as usize,
                    },
                    vec![],
                )
            }
            Op::ReduceActors => {
                let method = name_of(r, &st.method, s, "method")?;
                let actors_name = name_of(r, &st.actors, s, "actors")?;
                let a = lookup(r, actors_name, "actors")?;
                let input = lookup(r, name_of(r, &st.input, s, "input")?, "input")?;
                let actors_stage = file.stages[a].get_ref();
                let actor = match (actors_stage.op, &actors_stage.actor) {
                    (Op::InitActors, Some(k)) => k.get_ref().clone(),
                    _ => {
                        return Err(r.at(
                            actors_name.span(),
                            format!("`{}` is not an init_actors stage", actors_name.get_ref()),
                        ));
                    }
                };
                let has_method = actors
                    .get(&actor)
                    .is_some_and(|k| k.methods.contains_key(method.get_ref()));
                if !has_method {
                    return Err(r.at(
                        method.span(),
                        format!("actor kind `{actor}` has no method `{}`", method.get_ref()),
                    ));
                }
                (
                    StageOp::ReduceActors {
                        method: method.get_ref().clone(),
                        actors: a,
                        input,
                    },
                    vec![a, input],
                )
            }
        };
        ops.push(op);
        deps.push(d);
    }
    // Kinds of input: a map or reduce needs objects, not actors.
    for (i, op) in ops.iter().enumerate() {
        let input = match op {
            StageOp::Map { input, .. } | StageOp::ReduceActors { input, .. } => *input,
            _ => continue,
        };
        if matches!(ops[input], StageOp::InitActors { .. }) {
            let st = file.stages[i].get_ref();
            let span = st
                .input
                .as_ref()
                .map_or(file.stages[i].span(), Spanned::span);
            return Err(r.at(
                span,
                format!(
                    "stage `{}` reads `{}`, which yields actors, not objects",
                    st.name.get_ref(),
                    file.stages[input].get_ref().name.get_ref()
                ),
            ));
        }
    }
    let order = topological(r, file, &deps)?;
    // Scopes: a once-stage cannot read a per-iteration stage.
    let scopes: Vec<Scope> = file
        .stages
        .iter()
        .map(|s| {
            let st = s.get_ref();
            st.scope.unwrap_or(match st.op {
                Op::Broadcast | Op::InitActors => Scope::Once,
                Op::Map | Op::ReduceActors => Scope::Iteration,
            })
        })
        .collect();
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            if scopes[i] == Scope::Once && scopes[j] == Scope::Iteration {
                let st = file.stages[i].get_ref();
                return Err(r.at(
                    st.name.span(),
                    format!(
                        "stage `{}` is built once but reads `{}`, which is built every iteration",
                        st.name.get_ref(),
                        file.stages[j].get_ref().name.get_ref()
                    ),
                ));
            }
        }
    }
    // Renumber references into the topological order.
    let mut position = vec![0; order.len()];
    for (p, &i) in order.iter().enumerate() {
        position[i] = p;
    }
    Ok(order
        .iter()
        .map(|&i| Stage {
            name: file.stages[i].get_ref().name.get_ref().clone(),
            scope: scopes[i],
            op: match ops[i].clone() {
                StageOp::Map {
                    task,
                    input,
                    repeat,
                    fan_in,
                } => StageOp::Map {
                    task,
                    input: position[input],
                    repeat,
                    fan_in,
                },
                StageOp::ReduceActors {
                    method,
                    actors,
                    input,
                } => StageOp::ReduceActors {
                    method,
                    actors: position[actors],
                    input: position[input],
                },
                other => other,
            },
        })
        .collect())
}

fn check_task(
    r: &Resolver<'_>,
    tasks: &BTreeMap<String, Kind>,
    task: &Spanned<String>,
) -> Result<(), WorkloadError> {
    if tasks.contains_key(task.get_ref()) {
        Ok(())
    } else {
        Err(r.at(
            task.span(),
            format!("task kind `{}` is not defined in [tasks]", task.get_ref()),
        ))
    }
}

/// Stages in an order where each comes after what it reads (file order where free), or the
/// cycle that prevents it.
fn topological(
    r: &Resolver<'_>,
    file: &WorkloadFile,
    deps: &[Vec<usize>],
) -> Result<Vec<usize>, WorkloadError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        i: usize,
        deps: &[Vec<usize>],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
        order: &mut Vec<usize>,
    ) -> Result<(), Vec<usize>> {
        match marks[i] {
            Mark::Done => return Ok(()),
            Mark::Active => {
                let from = stack.iter().position(|&s| s == i).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(i);
                return Err(cycle);
            }
            Mark::New => {}
        }
        marks[i] = Mark::Active;
        stack.push(i);
        for &d in &deps[i] {
            visit(d, deps, marks, stack, order)?;
        }
        stack.pop();
        marks[i] = Mark::Done;
        order.push(i);
        Ok(())
    }
    let mut marks = vec![Mark::New; deps.len()];
    let mut order = Vec::with_capacity(deps.len());
    for i in 0..deps.len() {
        let mut stack = Vec::new();
        if let Err(cycle) = visit(i, deps, &mut marks, &mut stack, &mut order) {
            let names: Vec<&str> = cycle
                .iter()
                .map(|&c| file.stages[c].get_ref().name.get_ref().as_str())
                .collect();
            let first = file.stages[cycle[0]].get_ref();
            return Err(r.at(
                first.name.span(),
                format!("the stages form a cycle: {}", names.join(" -> ")),
            ));
        }
    }
    Ok(order)
}
