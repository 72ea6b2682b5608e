//! From a parsed file plus parameter overrides to a [`Resolved`] workload with concrete
//! numbers, checked: every reference names something that exists, the stage graph has no
//! cycle, every demand fits some node.
//!
//! Overrides (`--set NAME=VALUE`) are of two kinds: a plain `NAME` sets a parameter of
//! `[params]`; a dotted key path (`cluster.nic_bandwidth`, `tasks.map_step.fixed`,
//! `stage.data.width`, ...: see [`KEY_PATHS`]) replaces what the file says for that key, even
//! if the file wrote `"$param"` there or left the key out. Both are read exactly as the same
//! value written in the file would be, and their errors quote the `--set`.

use crate::error::{WorkloadError, line_column};
use crate::schema::{
    self, Creation, FaultKindName, Field, Join, Mode, Op, Raw, Scope, StageInput, WorkloadFile,
};
use crate::units::{self, UnitError};
use cohort_runtime::core::transport::TransportModel;
use cohort_runtime::policy::NodeId;
use cohort_runtime::{
    ChunkedSpec, ClusterSpec, CostModel, Fault, FaultKind, FaultScript, HintSource, Jitter,
    ModelOptions, Nanos, NetworkSpec, NicLimits, NodeSpec, ObjectLifetime, PullSource, Recovery,
    Serialization, SizeCurve, Slowdown, Spilling, TokenBucket, ViewAccounting, WakeUp,
};
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
    /// A map over several input stages (a join), paired as `join` says.
    Join {
        /// Task kind.
        task: String,
        /// Input stages, in the order written (the first one's producers place the tasks).
        inputs: Vec<usize>,
        /// How elements are paired.
        join: Join,
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
    /// After the last iteration, the most time (ns) the run goes on finishing its work; `None`:
    /// as long as the schedule ran (an overloaded run stops with its backlog unfinished
    /// instead of draining it without end).
    pub drain: Option<u64>,
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
    /// The overrides that replaced a key of the file (key path such as `cluster.nodes` →
    /// value as text); every other override set a parameter and is in `params`.
    pub keys: BTreeMap<String, String>,
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
    /// The runtime model's options (`[cluster]` keys; see `cohort_runtime::model`).
    pub model: ModelOptions,
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
    /// A ratio in thousandths (`4` or `"2.5x"`: 4 000 and 2 500).
    Factor,
}

impl Quantity {
    /// Its name in manifests: `count`, `size`, `duration` or `rate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Quantity::Count => "count",
            Quantity::Size => "size",
            Quantity::Duration => "duration",
            Quantity::Rate => "rate",
            Quantity::Factor => "factor",
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
            Quantity::Factor => units::parse_factor(text),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Quantity::Count => "a whole number",
            Quantity::Size => "a size such as \"15.26MiB\" or a number of bytes",
            Quantity::Duration => "a duration such as \"100ms\"",
            Quantity::Rate => "a rate such as \"10Gbit/s\"",
            Quantity::Factor => "a factor such as 4 or 2.5",
        }
    }
}

/// The key paths `--set` accepts, as patterns (`NAME` and `M` stand for the names of the
/// file's task kinds, actor kinds, methods and stages). A plain name without a dot sets a
/// parameter instead.
pub const KEY_PATHS: [&str; 8] = [
    "cluster.KEY",
    "tasks.NAME.KEY",
    "actors.NAME.creation.KEY",
    "actors.NAME.methods.M.KEY",
    "schedule.KEY",
    "stage.NAME.KEY",
    "fault.N.KEY",
    "recovery.KEY",
];

/// The settable keys of `[cluster]`.
pub const CLUSTER_KEYS: [&str; 34] = [
    "nodes",
    "cpus",
    "store",
    "nic_bandwidth",
    "latency",
    "inline_objects",
    "nic_limits",
    "heartbeat",
    "submit_cost",
    "spilling",
    "disk_bandwidth",
    "view_accounting",
    "spill_over",
    "object_lifetime",
    "hints",
    "serialize_fixed",
    "serialize_rate",
    "jitter",
    "jitter_spread",
    "latency_jitter_spread",
    "pull_source",
    "transport",
    "chunk_size",
    "transfer_threads",
    "flow_cap",
    "nic_baseline",
    "nic_credit",
    "host_cores",
    "wake_up",
    "transfer_copy_rate",
    "first_touch_rate",
    "set_up_work",
    "head_work",
    "delayed_ack",
];

/// A node's disk bandwidth when a workload spills and does not say: EC2 m5.xlarge's EBS
/// bandwidth, "up to 4,750 Mbps" (the write-up's instance type; AWS, "Amazon EBS-optimized
/// instances").
const DEFAULT_DISK_BANDWIDTH: u64 = 4_750_000_000 / 8;
/// The settable keys of a task kind.
pub const TASK_KEYS: [&str; 8] = [
    "outputs",
    "output_size",
    "cpus",
    "fixed",
    "input_rate",
    "output_rate",
    "cost_by_input_size",
    "cost_by_output_size",
];
/// The settable keys of an actor's `creation` (its other keys are ignored).
pub const CREATION_KEYS: [&str; 6] = [
    "cpus",
    "fixed",
    "input_rate",
    "output_rate",
    "cost_by_input_size",
    "cost_by_output_size",
];
/// The settable keys of an actor's method (`cpus` is ignored for methods).
pub const METHOD_KEYS: [&str; 7] = [
    "outputs",
    "output_size",
    "fixed",
    "input_rate",
    "output_rate",
    "cost_by_input_size",
    "cost_by_output_size",
];
/// The settable keys of a `[[fault]]` (the `N`th of the file, from 1).
pub const FAULT_KEYS: [&str; 4] = ["node", "at", "until", "by"];
/// The settable keys of `[schedule]`.
pub const SCHEDULE_KEYS: [&str; 5] = ["period", "duration", "iterations", "warmup", "drain"];
/// The settable keys of `[recovery]`: every one of its keys.
pub const RECOVERY_KEYS: [&str; 7] = [
    "heartbeat_period",
    "missed_heartbeats",
    "task_retries",
    "reconstruction",
    "actor_restarts",
    "actor_replay",
    "pull_timeout",
];

/// The settable keys of a stage with operation `op`.
pub fn stage_keys(op: Op) -> &'static [&'static str] {
    match op {
        Op::Broadcast => &["width"],
        Op::Map => &["repeat", "fan_in"],
        Op::InitActors => &["count"],
        Op::ReduceActors => &[],
    }
}

/// Whether an override's name is a key path (it has a dot) rather than a parameter's name.
pub fn is_key_path(name: &str) -> bool {
    name.contains('.')
}

/// A value to resolve: as written in the file, or given on the command line.
#[derive(Clone, Debug)]
enum Val<'f> {
    /// Written in the file, at its span.
    File(&'f Field),
    /// `--set key=text`, read as `raw`.
    Set { key: String, text: String, raw: Raw },
}

impl Val<'_> {
    fn raw(&self) -> &Raw {
        match self {
            Val::File(f) => f.get_ref(),
            Val::Set { raw, .. } => raw,
        }
    }

    /// Whether it is the keyword `"none"`, which turns an optional setting off.
    fn is_none(&self) -> bool {
        matches!(self.raw(), Raw::Str(s) if s.trim() == "none")
    }
}

/// A `--set` value read as the same text written in the file would be: a whole number, a
/// decimal number, or a string (a quantity with a unit, a keyword or `$param`).
fn raw_of(text: &str) -> Raw {
    let t = text.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Raw::Int(i);
    }
    let numeric = !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    match t.parse::<f64>() {
        Ok(x) if numeric => Raw::Float(x),
        _ => Raw::Str(t.to_string()),
    }
}

pub(crate) struct Resolver<'a> {
    pub path: &'a str,
    pub source: &'a str,
    pub params: &'a BTreeMap<String, Field>,
    /// Parameter overrides (plain names).
    pub overrides: &'a BTreeMap<String, String>,
    /// Key overrides (key paths).
    pub keys: &'a BTreeMap<String, String>,
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

    /// The value of key `key`: its `--set` override if any, else what the file wrote.
    fn val<'f>(&self, key: &str, file: Option<&'f Field>) -> Option<Val<'f>> {
        match self.keys.get(key) {
            Some(text) => Some(Val::Set {
                key: key.to_string(),
                text: text.clone(),
                raw: raw_of(text),
            }),
            None => file.map(Val::File),
        }
    }

    /// The value of required key `key`: its `--set` override if any, else `file`.
    fn val_of<'f>(&self, key: &str, file: &'f Field) -> Val<'f> {
        self.val(key, Some(file)).unwrap_or(Val::File(file))
    }

    /// An error about `v`, which `what` names: at its place in the file, or quoting its
    /// `--set`.
    fn fail(&self, v: &Val<'_>, what: &str, detail: impl std::fmt::Display) -> WorkloadError {
        match v {
            Val::File(f) => self.at(f.span(), format!("{what}: {detail}")),
            Val::Set { key, text, .. } => self.whole(format!("--set {key}={text}: {detail}")),
        }
    }

    /// Whether `v` comes from the command line (a key override, or a parameter override).
    fn set_on_command_line(&self, v: &Val<'_>) -> bool {
        match v {
            Val::Set { .. } => true,
            Val::File(f) => matches!(f.get_ref(), Raw::Str(s) if s
                .strip_prefix('$')
                .is_some_and(|p| self.overrides.contains_key(p))),
        }
    }

    fn quantity(&mut self, v: &Val<'_>, what: &str, q: Quantity) -> Result<u64, WorkloadError> {
        let bad = |r: &Self, detail: String| {
            r.fail(v, what, format!("{detail}; expected {}", q.describe()))
        };
        match v.raw() {
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
                    return Err(bad(self, format!("no parameter `{name}` in [params]")));
                };
                if matches!(def.get_ref(), Raw::Str(t) if t.starts_with('$')) {
                    return Err(self.at(
                        def.span(),
                        format!("params.{name}: a parameter cannot refer to another"),
                    ));
                }
                let v = self.quantity(
                    &Val::File(def),
                    &format!("params.{name} (used by {what})"),
                    q,
                )?;
                self.record_use(name, v, q, what)?;
                Ok(v)
            }
            Raw::Str(s) => q.parse(s).map_err(|e| bad(self, e.to_string())),
            Raw::Int(i) => match q {
                Quantity::Count | Quantity::Size if *i >= 0 => Ok(*i as u64),
                Quantity::Count | Quantity::Size | Quantity::Factor if *i < 0 => {
                    Err(bad(self, format!("{i} is negative")))
                }
                Quantity::Factor => q
                    .parse(&i.to_string())
                    .map_err(|e| bad(self, e.to_string())),
                Quantity::Count | Quantity::Size | Quantity::Duration | Quantity::Rate => {
                    Err(bad(self, format!("{i} has no unit")))
                }
            },
            Raw::Float(x) if q == Quantity::Factor => q
                .parse(&x.to_string())
                .map_err(|e| bad(self, e.to_string())),
            Raw::Float(x) => Err(bad(
                self,
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

    /// The key `key` (the file's `file`, or its override) as a `q`, or `default` if neither
    /// gives it.
    fn key(
        &mut self,
        key: &str,
        file: Option<&Field>,
        q: Quantity,
        default: u64,
    ) -> Result<u64, WorkloadError> {
        match self.val(key, file) {
            Some(v) => self.quantity(&v, key, q),
            None => Ok(default),
        }
    }

    /// A required key.
    fn required(&mut self, key: &str, file: &Field, q: Quantity) -> Result<u64, WorkloadError> {
        self.key(key, Some(file), q, 0)
    }

    /// The count `key` if given, which must be between 1 and `max`.
    fn positive(
        &mut self,
        key: &str,
        file: Option<&Field>,
        max: u64,
    ) -> Result<Option<u64>, WorkloadError> {
        let Some(v) = self.val(key, file) else {
            return Ok(None);
        };
        let n = self.quantity(&v, key, Quantity::Count)?;
        if n == 0 || n > max {
            return Err(self.fail(&v, key, format!("must be between 1 and {max}, got {n}")));
        }
        Ok(Some(n))
    }

    /// The count `key` (from 0 to `u32::MAX`), or `default` if neither the file nor a `--set`
    /// gives it.
    fn count32(
        &mut self,
        key: &str,
        file: Option<&Field>,
        default: u32,
    ) -> Result<u32, WorkloadError> {
        let Some(v) = self.val(key, file) else {
            return Ok(default);
        };
        let n = self.quantity(&v, key, Quantity::Count)?;
        u32::try_from(n)
            .map_err(|_| self.fail(&v, key, format!("must be at most {}, got {n}", u32::MAX)))
    }

    /// The boolean `key`: its `--set` override (`true` or `false`) if any, else what the file
    /// wrote, else `default`. A boolean takes no `$param` (parameters are numbers).
    fn flag(
        &self,
        key: &str,
        file: Option<&Spanned<bool>>,
        default: bool,
    ) -> Result<bool, WorkloadError> {
        match (self.keys.get(key), file) {
            (Some(text), _) => match text.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(self.whole(format!("--set {key}={text}: expected true or false"))),
            },
            (None, Some(b)) => Ok(*b.get_ref()),
            (None, None) => Ok(default),
        }
    }

    /// The keyword `key` (its `--set` override, else what the file wrote): the index of
    /// its value in `choices`, or `None` if neither gives it. A keyword takes no `$param`
    /// (parameters are numbers).
    fn keyword(
        &self,
        key: &str,
        file: Option<&Field>,
        choices: &[&str],
    ) -> Result<Option<usize>, WorkloadError> {
        let Some(v) = self.val(key, file) else {
            return Ok(None);
        };
        let text = match v.raw() {
            Raw::Str(s) => s.trim().to_string(),
            other => other.to_string(),
        };
        match choices.iter().position(|c| *c == text) {
            Some(i) => Ok(Some(i)),
            None => Err(self.fail(
                &v,
                key,
                format!("`{text}` is not one of {}", choices.join(", ")),
            )),
        }
    }

    /// An optional duration ([`Self::optional`]), 0 when not given.
    fn duration_or_zero(&mut self, key: &str, file: Option<&Field>) -> Result<u64, WorkloadError> {
        Ok(self.optional(key, file, Quantity::Duration)?.unwrap_or(0))
    }

    /// The quantity `key` as a `q`, or `None` if neither the file nor a `--set` gives it, or
    /// if it is `"none"`.
    fn optional(
        &mut self,
        key: &str,
        file: Option<&Field>,
        q: Quantity,
    ) -> Result<Option<u64>, WorkloadError> {
        match self.val(key, file) {
            None => Ok(None),
            Some(v) if v.is_none() => Ok(None),
            Some(v) => self.quantity(&v, key, q).map(Some),
        }
    }

    /// The wake-up curve `key`: `"IDLE:COST, ..."` (durations), or none when absent or
    /// `"none"`.
    fn wake_up(&self, key: &str, file: Option<&Field>) -> Result<WakeUp, WorkloadError> {
        let expected = "steps `IDLE:COST, ...` of durations (e.g. \"1ms:60us, 10ms:200us\")";
        let steps = Pairs {
            item: "step",
            first: units::parse_duration,
            most: WakeUp::MAX_STEPS,
        };
        let Some((v, steps)) = self.pairs(key, file, &steps, expected)? else {
            return Ok(WakeUp::default());
        };
        WakeUp::new(&steps).ok_or_else(|| self.fail(&v, key, "two steps with the same idle time"))
    }

    /// The cost curve `key`: `"SIZE:DURATION, ..."`, or none when absent or `"none"`.
    fn size_curve(&self, key: &str, file: Option<&Field>) -> Result<SizeCurve, WorkloadError> {
        let expected = "points `SIZE:DURATION, ...` (e.g. \"8B:65us, 1MiB:190us, 16MiB:4.5ms\")";
        let points = Pairs {
            item: "point",
            first: units::parse_size,
            most: SizeCurve::MAX_POINTS,
        };
        let Some((v, points)) = self.pairs(key, file, &points, expected)? else {
            return Ok(SizeCurve::NONE);
        };
        SizeCurve::new(&points).ok_or_else(|| self.fail(&v, key, "two points with the same size"))
    }

    /// The value of `key` with its `A:DURATION, ...` pairs as `of` reads them, or `None`
    /// when absent or `"none"`; `expected` says what the key takes.
    fn pairs<'f>(
        &self,
        key: &str,
        file: Option<&'f Field>,
        of: &Pairs,
        expected: &str,
    ) -> Result<Option<Read<'f>>, WorkloadError> {
        let Pairs { item, first, most } = *of;
        let Some(v) = self.val(key, file) else {
            return Ok(None);
        };
        if v.is_none() {
            return Ok(None);
        }
        let expected = format!("expected {expected}, or \"none\"");
        let Raw::Str(text) = v.raw() else {
            return Err(self.fail(&v, key, format!("`{}`: {expected}", v.raw())));
        };
        let mut out = Vec::new();
        for pair in text.split(',') {
            let pair = pair.trim();
            let parsed = pair.split_once(':').and_then(|(a, d)| {
                Some((first(a.trim()).ok()?, units::parse_duration(d.trim()).ok()?))
            });
            match parsed {
                Some(p) => out.push(p),
                None => return Err(self.fail(&v, key, format!("{item} `{pair}`: {expected}"))),
            }
        }
        if out.len() > most {
            return Err(self.fail(&v, key, format!("{} {item}s, at most {most}", out.len())));
        }
        Ok(Some((v, out)))
    }

    /// Picoseconds per byte for the rate `key` (0 when absent or `"none"`: free).
    fn per_byte(&mut self, key: &str, file: Option<&Field>) -> Result<u64, WorkloadError> {
        let Some(v) = self.val(key, file) else {
            return Ok(0);
        };
        if v.is_none() {
            return Ok(0);
        }
        let rate = self.quantity(&v, key, Quantity::Rate)?;
        if rate == 0 {
            return Err(self.fail(&v, key, "a rate of zero would never finish"));
        }
        Ok(1_000_000_000_000u64.div_ceil(rate))
    }

    /// The kind `k`, whose keys are `{what}.KEY`.
    fn kind(&mut self, k: &schema::TaskKindSection, what: &str) -> Result<Kind, WorkloadError> {
        let key = |name: &str| format!("{what}.{name}");
        let outputs = self.key(&key("outputs"), k.outputs.as_ref(), Quantity::Count, 1)?;
        let output_size = match self.val(&key("output_size"), k.output_size.as_ref()) {
            None => OutputSize::Bytes(8),
            Some(v) => match v.raw() {
                Raw::Str(s) if s == "input" => OutputSize::Input,
                Raw::Str(s) if s == "inputs" => OutputSize::Inputs,
                _ => OutputSize::Bytes(self.quantity(&v, &key("output_size"), Quantity::Size)?),
            },
        };
        let cpus = self.key(&key("cpus"), k.cpus.as_ref(), Quantity::Count, 1)?;
        Ok(Kind {
            outputs: u32::try_from(outputs).unwrap_or(u32::MAX),
            output_size,
            cpus: u32::try_from(cpus).unwrap_or(u32::MAX),
            cost: CostModel {
                fixed_ns: self.key(&key("fixed"), k.fixed.as_ref(), Quantity::Duration, 0)?,
                per_input_byte_ps: self.per_byte(&key("input_rate"), k.input_rate.as_ref())?,
                per_output_byte_ps: self.per_byte(&key("output_rate"), k.output_rate.as_ref())?,
                by_input_size: self
                    .size_curve(&key("cost_by_input_size"), k.cost_by_input_size.as_ref())?,
                by_output_size: self
                    .size_curve(&key("cost_by_output_size"), k.cost_by_output_size.as_ref())?,
            },
            record: k.record,
        })
    }
}

/// A key of `A:DURATION, ...` pairs, read: its value (for messages) and its pairs.
type Read<'f> = (Val<'f>, Vec<(u64, Nanos)>);

/// How a key of `A:DURATION, ...` pairs is read (see `Resolver::pairs`).
#[derive(Clone, Copy)]
struct Pairs {
    /// What a pair is called in messages.
    item: &'static str,
    /// Reads a pair's `A`.
    first: fn(&str) -> Result<u64, UnitError>,
    /// The most pairs the key takes.
    most: usize,
}

/// Checks that every key override names a settable key of this file.
fn check_keys(r: &Resolver<'_>, file: &WorkloadFile) -> Result<(), WorkloadError> {
    let list = |keys: &[&str]| {
        if keys.is_empty() {
            "it has none".to_string()
        } else {
            format!("its keys: {}", keys.join(", "))
        }
    };
    let names = |it: &mut dyn Iterator<Item = &String>| {
        let v: Vec<&str> = it.map(String::as_str).collect();
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    for (path, text) in r.keys {
        let set = format!("--set {path}={text}");
        let no_key = |section: &str, key: &str, keys: &[&str]| {
            r.whole(format!(
                "{set}: {section} has no settable key `{key}` ({})",
                list(keys)
            ))
        };
        let (section, rest) = path.split_once('.').unwrap_or((path, ""));
        let (owner, key) = rest.rsplit_once('.').unwrap_or(("", rest));
        match section {
            "cluster" if !rest.contains('.') => {
                if !CLUSTER_KEYS.contains(&rest) {
                    return Err(no_key("[cluster]", rest, &CLUSTER_KEYS));
                }
            }
            "schedule" if !rest.contains('.') => {
                if !SCHEDULE_KEYS.contains(&rest) {
                    return Err(no_key("[schedule]", rest, &SCHEDULE_KEYS));
                }
            }
            "recovery" if !rest.contains('.') => {
                if !RECOVERY_KEYS.contains(&rest) {
                    return Err(no_key("[recovery]", rest, &RECOVERY_KEYS));
                }
            }
            "tasks" if !owner.is_empty() => {
                if !file.tasks.contains_key(owner) {
                    return Err(r.whole(format!(
                        "{set}: no task kind `{owner}` in [tasks] (it has: {})",
                        names(&mut file.tasks.keys())
                    )));
                }
                if !TASK_KEYS.contains(&key) {
                    return Err(no_key(&format!("[tasks.{owner}]"), key, &TASK_KEYS));
                }
            }
            "actors" if !owner.is_empty() => {
                let (actor, part) = match owner.strip_suffix(".creation") {
                    Some(a) => (a, None),
                    None => match owner.split_once(".methods.") {
                        Some((a, m)) => (a, Some(m)),
                        None => {
                            return Err(r.whole(format!(
                                "{set}: expected actors.NAME.creation.KEY or \
                                 actors.NAME.methods.M.KEY"
                            )));
                        }
                    },
                };
                let Some(a) = file.actors.get(actor) else {
                    return Err(r.whole(format!(
                        "{set}: no actor kind `{actor}` in [actors] (it has: {})",
                        names(&mut file.actors.keys())
                    )));
                };
                match part {
                    None if !CREATION_KEYS.contains(&key) => {
                        return Err(no_key(
                            &format!("actors.{actor}.creation"),
                            key,
                            &CREATION_KEYS,
                        ));
                    }
                    None => {}
                    Some(m) if !a.get_ref().methods.contains_key(m) => {
                        return Err(r.whole(format!(
                            "{set}: actor kind `{actor}` has no method `{m}` (it has: {})",
                            names(&mut a.get_ref().methods.keys())
                        )));
                    }
                    Some(m) if !METHOD_KEYS.contains(&key) => {
                        return Err(no_key(
                            &format!("actors.{actor}.methods.{m}"),
                            key,
                            &METHOD_KEYS,
                        ));
                    }
                    Some(_) => {}
                }
            }
            "stage" if !owner.is_empty() => {
                let Some(st) = file
                    .stages
                    .iter()
                    .map(Spanned::get_ref)
                    .find(|s| s.name.get_ref() == owner)
                else {
                    return Err(r.whole(format!(
                        "{set}: no stage `{owner}` (it has: {})",
                        names(&mut file.stages.iter().map(|s| s.get_ref().name.get_ref()))
                    )));
                };
                let keys = stage_keys(st.op);
                let joins = st
                    .input
                    .as_ref()
                    .is_some_and(|i| matches!(i.get_ref(), StageInput::Many(v) if v.len() > 1));
                if !keys.contains(&key) || joins {
                    let (what, keys) = if joins {
                        (format!("stage `{owner}` (a join)"), &[][..])
                    } else {
                        (format!("stage `{owner}` ({})", op_name(st.op)), keys)
                    };
                    return Err(no_key(&what, key, keys));
                }
            }
            "fault" if !owner.is_empty() => {
                let count = file.faults.len();
                if !owner
                    .parse::<usize>()
                    .is_ok_and(|n| (1..=count).contains(&n))
                {
                    return Err(r.whole(format!(
                        "{set}: no fault `{owner}`: the file's [[fault]] tables are numbered \
                         from 1 (it has {count})"
                    )));
                }
                if !FAULT_KEYS.contains(&key) {
                    return Err(no_key(&format!("fault {owner}"), key, &FAULT_KEYS));
                }
            }
            _ => {
                return Err(r.whole(format!(
                    "{set}: no key `{path}`: a key is {} (a plain NAME sets a parameter)",
                    KEY_PATHS.join(", ")
                )));
            }
        }
    }
    if r.keys.contains_key("schedule.duration") && r.keys.contains_key("schedule.iterations") {
        return Err(r.whole(
            "--set schedule.duration and --set schedule.iterations: give one (the run ends \
             after a duration or after a number of iterations)",
        ));
    }
    Ok(())
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
            format!(
                "stage `{}` ({}) needs `{key}`",
                s.name.get_ref(),
                op_name(s.op)
            ),
        )
    })
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Broadcast => "broadcast",
        Op::Map => "map",
        Op::InitActors => "init_actors",
        Op::ReduceActors => "reduce_actors",
    }
}

/// Resolves `file` with `overrides` (parameter name or key path → value as text).
pub(crate) fn resolve(
    path: &str,
    source: &str,
    file: &WorkloadFile,
    overrides: &BTreeMap<String, String>,
) -> Result<Resolved, WorkloadError> {
    let (keys, params): (BTreeMap<String, String>, BTreeMap<String, String>) = overrides
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .partition(|(k, _)| is_key_path(k));
    let mut r = Resolver {
        path,
        source,
        params: &file.params,
        overrides: &params,
        keys: &keys,
        used: BTreeMap::new(),
    };
    for name in params.keys() {
        if !file.params.contains_key(name) {
            let known: Vec<&str> = file.params.keys().map(String::as_str).collect();
            // A key's own name given alone: say its path.
            let example = if CLUSTER_KEYS.contains(&name.as_str()) {
                format!("did you mean cluster.{name}?")
            } else if SCHEDULE_KEYS.contains(&name.as_str()) {
                format!("did you mean schedule.{name}?")
            } else if RECOVERY_KEYS.contains(&name.as_str()) {
                format!("did you mean recovery.{name}?")
            } else if TASK_KEYS.contains(&name.as_str()) {
                format!("a task kind's is set as tasks.NAME.{name}")
            } else {
                "a key of the file is set as SECTION.KEY, e.g. cluster.nodes".to_string()
            };
            return Err(r.whole(format!(
                "--set {name}: the workload has no parameter `{name}` (it has: {}; {example})",
                known.join(", ")
            )));
        }
    }
    check_keys(&r, file)?;

    // The cluster.
    let c = &file.cluster;
    let nodes_val = r.val_of("cluster.nodes", &c.nodes);
    let nodes = r.quantity(&nodes_val, "cluster.nodes", Quantity::Count)?;
    if nodes == 0 {
        return Err(r.fail(&nodes_val, "cluster.nodes", "the cluster has no nodes"));
    }
    let cpus = r
        .positive("cluster.cpus", Some(&c.cpus), u64::from(u32::MAX))?
        .unwrap_or(1) as u32;
    let store_val = r.val_of("cluster.store", &c.store);
    let store = r.quantity(&store_val, "cluster.store", Quantity::Size)?;
    if store == 0 {
        return Err(r.fail(
            &store_val,
            "cluster.store",
            "the object store has no capacity",
        ));
    }
    let bw_val = r.val_of("cluster.nic_bandwidth", &c.nic_bandwidth);
    let bandwidth = r.quantity(&bw_val, "cluster.nic_bandwidth", Quantity::Rate)?;
    if bandwidth == 0 {
        return Err(r.fail(&bw_val, "cluster.nic_bandwidth", "zero bandwidth"));
    }
    let mut spec = ClusterSpec::uniform(
        nodes as usize,
        NodeSpec {
            cpus,
            store_capacity: store,
        },
        NetworkSpec {
            nic_bandwidth: bandwidth,
            latency: r.required("cluster.latency", &c.latency, Quantity::Duration)?,
            transport: Default::default(),
            inline_max: r.optional(
                "cluster.inline_objects",
                c.inline_objects.as_ref(),
                Quantity::Size,
            )?,
            // Resolved with the transport, below.
            nic_limits: NicLimits::Both,
        },
    );
    let heartbeat = r.key(
        "cluster.heartbeat",
        c.heartbeat.as_ref(),
        Quantity::Duration,
        0,
    )?;
    let submit_cost = r.key(
        "cluster.submit_cost",
        c.submit_cost.as_ref(),
        Quantity::Duration,
        0,
    )?;
    let disk_bandwidth = r.key(
        "cluster.disk_bandwidth",
        c.disk_bandwidth.as_ref(),
        Quantity::Rate,
        DEFAULT_DISK_BANDWIDTH,
    )?;
    if disk_bandwidth == 0
        && let Some(v) = r.val("cluster.disk_bandwidth", c.disk_bandwidth.as_ref())
    {
        return Err(r.fail(&v, "cluster.disk_bandwidth", "zero bandwidth"));
    }
    if r.flag("cluster.spilling", c.spilling.as_ref(), false)? {
        spec.spilling = Some(Spilling { disk_bandwidth });
    }
    let model = resolve_model(&mut r, c, heartbeat)?;
    spec.network.transport = resolve_transport(&mut r, c, cpus)?;
    spec.network.nic_limits = resolve_nic_limits(&r, c, spec.network.transport)?;

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
        // `creation = "1ms"` is short for `creation = { fixed = "1ms" }`.
        let section = match &a_ref.creation {
            Some(c) => match c.get_ref() {
                Creation::Fixed(raw) => schema::TaskKindSection {
                    fixed: Some(Spanned::new(c.span(), raw.clone())),
                    ..Default::default()
                },
                Creation::Table(t) => (**t).clone(),
            },
            None => schema::TaskKindSection::default(),
        };
        let creation = r.kind(&section, &format!("actors.{name}.creation"))?;
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
    let period = r.required("schedule.period", &s.period, Quantity::Duration)?;
    // A `--set` of one end replaces the other the file may give.
    let (dur_file, it_file) = match (
        keys.contains_key("schedule.duration"),
        keys.contains_key("schedule.iterations"),
    ) {
        (true, _) => (s.duration.as_ref(), None),
        (_, true) => (None, s.iterations.as_ref()),
        _ => (s.duration.as_ref(), s.iterations.as_ref()),
    };
    let duration = r.val("schedule.duration", dur_file);
    let end = match (&duration, r.val("schedule.iterations", it_file)) {
        (Some(d), None) => End::Duration(r.quantity(d, "schedule.duration", Quantity::Duration)?),
        (None, Some(i)) => {
            End::Iterations(r.quantity(&i, "schedule.iterations", Quantity::Count)?)
        }
        _ => {
            return Err(
                r.whole("[schedule] needs exactly one of `duration` and `iterations`".to_string())
            );
        }
    };
    let warmup_val = r.val("schedule.warmup", s.warmup.as_ref());
    let warmup = match &warmup_val {
        Some(v) => r.quantity(v, "schedule.warmup", Quantity::Duration)?,
        None => 0,
    };
    if let (End::Duration(d), Some(w), Some(dv)) = (end, &warmup_val, &duration)
        && warmup >= d
    {
        return Err(warmup_too_long(&r, w, dv, warmup, d));
    }
    let drain = match r.val("schedule.drain", s.drain.as_ref()) {
        Some(v) => Some(r.quantity(&v, "schedule.drain", Quantity::Duration)?),
        None => None,
    };

    let mut param_texts = BTreeMap::new();
    for (name, f) in &file.params {
        let text = match params.get(name) {
            Some(t) => t.clone(),
            None => match f.get_ref() {
                Raw::Str(s) => s.clone(),
                other => other.to_string(),
            },
        };
        param_texts.insert(name.clone(), text);
    }
    spec.faults = resolve_faults(&mut r, file, nodes)?;
    spec.recovery = resolve_recovery(&mut r, &file.recovery)?;
    Ok(Resolved {
        name: file.name.clone(),
        description: file.description.trim().to_string(),
        params: param_texts,
        keys: keys.clone(),
        param_values: r.used.iter().map(|(k, &(v, _))| (k.clone(), v)).collect(),
        param_units: r.used.iter().map(|(k, &(_, q))| (k.clone(), q)).collect(),
        reproduces: file.reproduces.clone(),
        spec,
        heartbeat,
        submit_cost,
        model,
        tasks,
        actors,
        stages,
        schedule: Schedule {
            period,
            mode: s.mode,
            end,
            warmup,
            drain,
        },
    })
}

/// The `[[fault]]` tables, checked against a cluster of `nodes` nodes; their keys are
/// `fault.N.KEY`, `N` from 1 in file order.
fn resolve_faults(
    r: &mut Resolver<'_>,
    file: &WorkloadFile,
    nodes: u64,
) -> Result<FaultScript, WorkloadError> {
    let mut faults = Vec::with_capacity(file.faults.len());
    for (i, section) in file.faults.iter().enumerate() {
        let f = section.get_ref();
        let key = |name: &str| format!("fault.{}.{name}", i + 1);
        let kind_name = match f.kind {
            FaultKindName::Kill => "kill",
            FaultKindName::SlowCpu => "slow_cpu",
            FaultKindName::SlowNic => "slow_nic",
            FaultKindName::DropLink => "drop_link",
        };
        let whole = |r: &Resolver<'_>, message: String| {
            r.at(
                section.span(),
                format!("fault {} ({kind_name}): {message}", i + 1),
            )
        };
        let node = |r: &mut Resolver<'_>, k: &str, field: Option<&Field>| {
            let Some(v) = r.val(k, field) else {
                return Ok(None);
            };
            let n = r.quantity(&v, k, Quantity::Count)?;
            if n >= nodes {
                return Err(r.fail(
                    &v,
                    k,
                    format!("the cluster's nodes are 0 to {}, not {n}", nodes - 1),
                ));
            }
            Ok(Some(NodeId(n as u32)))
        };
        let at = r.required(&key("at"), &f.at, Quantity::Duration)?;
        let until = match r.val(&key("until"), f.until.as_ref()) {
            None => None,
            Some(v) => {
                let t = r.quantity(&v, &key("until"), Quantity::Duration)?;
                if t <= at {
                    return Err(r.fail(
                        &v,
                        &key("until"),
                        format!(
                            "ends at {} but starts at {}: it must end after it starts",
                            units::format_duration(t),
                            units::format_duration(at)
                        ),
                    ));
                }
                Some(t)
            }
        };
        let by = match r.val(&key("by"), f.by.as_ref()) {
            None => None,
            Some(v) => {
                let milli = r.quantity(&v, &key("by"), Quantity::Factor)?;
                let by = u32::try_from(milli)
                    .ok()
                    .and_then(Slowdown::from_milli)
                    .ok_or_else(|| {
                        r.fail(
                            &v,
                            &key("by"),
                            "a slowdown is a factor from 1 (unchanged) to 4000000",
                        )
                    })?;
                Some(by)
            }
        };
        let single = node(r, &key("node"), f.node.as_ref())?;
        let kind = match f.kind {
            FaultKindName::Kill | FaultKindName::SlowCpu | FaultKindName::SlowNic => {
                let Some(node) = single else {
                    return Err(whole(r, "needs `node`".to_string()));
                };
                if f.between.is_some() {
                    return Err(whole(r, "takes `node`, not `between`".to_string()));
                }
                match (f.kind, by) {
                    (FaultKindName::Kill, None) => FaultKind::Kill { node },
                    (FaultKindName::Kill, Some(_)) => {
                        return Err(whole(r, "a kill has no `by`".to_string()));
                    }
                    (_, None) => {
                        return Err(whole(r, "needs `by`, how many times slower".to_string()));
                    }
                    (FaultKindName::SlowCpu, Some(by)) => FaultKind::SlowCpu { node, by },
                    (_, Some(by)) => FaultKind::SlowNic { node, by },
                }
            }
            FaultKindName::DropLink => {
                if single.is_some() || by.is_some() {
                    return Err(whole(
                        r,
                        "takes `between = [A, B]`, not `node` or `by`".to_string(),
                    ));
                }
                let Some(between) = &f.between else {
                    return Err(whole(r, "needs `between = [A, B]`".to_string()));
                };
                let [a, b] = between.get_ref().as_slice() else {
                    return Err(r.at(
                        between.span(),
                        format!("fault {}: `between` takes two nodes", i + 1),
                    ));
                };
                let what = format!("fault.{}.between", i + 1);
                let a = node(r, &what, Some(a))?.unwrap_or(NodeId(0));
                let b = node(r, &what, Some(b))?.unwrap_or(NodeId(0));
                FaultKind::DropLink { a, b }
            }
        };
        faults.push(Fault { kind, at, until });
    }
    FaultScript::new(faults, nodes as usize)
        .map_err(|e| r.at(file.faults[e.fault() - 1].span(), e.to_string()))
}

/// The runtime model's options of `[cluster]` (all off unless given); `heartbeat` is the
/// placement view's period, which spill-over needs.
fn resolve_model(
    r: &mut Resolver<'_>,
    c: &schema::ClusterSection,
    heartbeat: u64,
) -> Result<ModelOptions, WorkloadError> {
    let mut model = ModelOptions::default();
    if let Some(i) = r.keyword(
        "cluster.view_accounting",
        c.view_accounting.as_ref(),
        &["none", "placements"],
    )? {
        model.view_accounting = [ViewAccounting::None, ViewAccounting::Placements][i];
    }
    model.spill_over = r.flag("cluster.spill_over", c.spill_over.as_ref(), false)?;
    model.host_cores = r
        .positive(
            "cluster.host_cores",
            c.host_cores.as_ref(),
            u64::from(u32::MAX),
        )?
        .map(|n| n as u32);
    model.wake_up = r.wake_up("cluster.wake_up", c.wake_up.as_ref())?;
    model.delayed_ack = r.duration_or_zero("cluster.delayed_ack", c.delayed_ack.as_ref())?;
    model.transfer_cpu_ps =
        r.per_byte("cluster.transfer_copy_rate", c.transfer_copy_rate.as_ref())?;
    model.first_touch_ps = r.per_byte("cluster.first_touch_rate", c.first_touch_rate.as_ref())?;
    model.set_up_work = r.optional(
        "cluster.set_up_work",
        c.set_up_work.as_ref(),
        Quantity::Duration,
    )?;
    model.head_work = r.duration_or_zero("cluster.head_work", c.head_work.as_ref())?;
    for (key, set) in [
        ("transfer_copy_rate", model.transfer_cpu_ps > 0),
        ("first_touch_rate", model.first_touch_ps > 0),
        ("set_up_work", model.set_up_work.is_some()),
        ("head_work", model.head_work > 0),
    ] {
        if set && model.host_cores.is_none() {
            return Err(r.whole(format!(
                "cluster.{key} needs cluster.host_cores: its cost is work of the host's cores, \
                 and without host_cores the nodes have cores of their own"
            )));
        }
    }
    if model.spill_over && heartbeat == 0 {
        return Err(r.whole(
            "cluster.spill_over = true needs a heartbeat: spill-over happens at each heartbeat \
             of the placement view, and cluster.heartbeat is 0"
                .to_string(),
        ));
    }
    if let Some(i) = r.keyword(
        "cluster.object_lifetime",
        c.object_lifetime.as_ref(),
        &["refcount", "lru", "lru_ir_release"],
    )? {
        model.object_lifetime = [
            ObjectLifetime::RefCount,
            ObjectLifetime::Lru,
            ObjectLifetime::LruIrRelease,
        ][i];
    }
    if let Some(i) = r.keyword(
        "cluster.hints",
        c.hints.as_ref(),
        &["declared", "inferred", "none"],
    )? {
        model.hints = [HintSource::Declared, HintSource::Inferred, HintSource::None][i];
    }
    let fixed = r.optional(
        "cluster.serialize_fixed",
        c.serialize_fixed.as_ref(),
        Quantity::Duration,
    )?;
    let rate = r.optional(
        "cluster.serialize_rate",
        c.serialize_rate.as_ref(),
        Quantity::Rate,
    )?;
    if rate == Some(0) {
        return Err(r.whole(
            "cluster.serialize_rate is zero: a rate of zero would never finish".to_string(),
        ));
    }
    if fixed.is_some() || rate.is_some() {
        model.serialization = Some(Serialization {
            per_object: fixed.unwrap_or(0),
            per_byte_ps: rate.map_or(0, |rate| 1_000_000_000_000u64.div_ceil(rate)),
        });
    }
    if let Some(i) = r.keyword(
        "cluster.pull_source",
        c.pull_source.as_ref(),
        &["fewest_outgoing", "random"],
    )? {
        model.pull_source = [PullSource::FewestOutgoing, PullSource::Random][i];
    }
    (model.jitter, model.latency_jitter) = resolve_jitter(r, c)?;
    Ok(model)
}

/// The noise of `[cluster]`: on durations (`jitter_spread`) and on transfers' latencies
/// (`latency_jitter_spread`), both of the kind `jitter` names. A kind needs a spread; a spread
/// needs a kind, except that a `--set` of no jitter (an ablation) leaves the file's spreads
/// unused.
fn resolve_jitter(
    r: &mut Resolver<'_>,
    c: &schema::ClusterSection,
) -> Result<(Jitter, Jitter), WorkloadError> {
    let kinds = ["none", "uniform", "lognormal"];
    let kind = r.keyword("cluster.jitter", c.jitter.as_ref(), &kinds)?;
    let ablated = kind == Some(0) && r.keys.contains_key("cluster.jitter");
    let mut spreads = [
        ("cluster.jitter_spread", c.jitter_spread.as_ref()),
        (
            "cluster.latency_jitter_spread",
            c.latency_jitter_spread.as_ref(),
        ),
    ]
    .map(|(key, field)| {
        let v = r.val(key, field).filter(|v| !v.is_none() && !ablated);
        (key, v)
    });
    let kind = match kind {
        Some(k @ (1 | 2)) => k,
        _ => {
            if let Some((key, Some(v))) = spreads.iter().find(|(_, v)| v.is_some()) {
                return Err(r.fail(
                    v,
                    key,
                    "a spread without cluster.jitter = \"uniform\" or \"lognormal\"",
                ));
            }
            return Ok((Jitter::None, Jitter::None));
        }
    };
    if spreads.iter().all(|(_, v)| v.is_none()) {
        let example = if kind == 1 {
            "e.g. 0.1: each duration times a factor from 0.9 to 1.1"
        } else {
            "e.g. 0.4: each duration times e^(0.4 Z), Z a standard normal draw"
        };
        return Err(r.whole(format!(
            "cluster.jitter = \"{}\" needs cluster.jitter_spread or \
             cluster.latency_jitter_spread ({example})",
            kinds[kind]
        )));
    }
    let mut jitters = [Jitter::None; 2];
    for (jitter, (key, v)) in jitters.iter_mut().zip(&mut spreads) {
        let Some(v) = v.take() else { continue };
        let thousandths = r.quantity(&v, key, Quantity::Factor)?;
        *jitter = if kind == 1 {
            if thousandths >= 1000 {
                return Err(r.fail(
                    &v,
                    key,
                    "a spread of 1 or more would make durations zero or negative; give a \
                     fraction below 1, e.g. 0.1",
                ));
            }
            Jitter::Uniform {
                spread_ppm: (thousandths * 1000) as u32,
            }
        } else {
            if thousandths > 3000 {
                return Err(r.fail(
                    &v,
                    key,
                    "a log-normal spread above 3 would make one draw in a hundred over a \
                     thousand times its median; measured spreads are below 1",
                ));
            }
            Jitter::LogNormal {
                sigma_ppm: (thousandths * 1000) as u32,
            }
        };
    }
    Ok((jitters[0], jitters[1]))
}

/// The transport of `[cluster]`: the fluid model unless `transport = "chunked"`, whose
/// parameters (given with any other transport, they are an error) default to Ray v0.6's for
/// nodes of `cpus` CPUs.
fn resolve_transport(
    r: &mut Resolver<'_>,
    c: &schema::ClusterSection,
    cpus: u32,
) -> Result<TransportModel, WorkloadError> {
    let chunked = r.keyword(
        "cluster.transport",
        c.transport.as_ref(),
        &["fluid", "chunked"],
    )? == Some(1);
    let params = [
        ("cluster.chunk_size", c.chunk_size.as_ref()),
        ("cluster.transfer_threads", c.transfer_threads.as_ref()),
        ("cluster.flow_cap", c.flow_cap.as_ref()),
        ("cluster.nic_baseline", c.nic_baseline.as_ref()),
        ("cluster.nic_credit", c.nic_credit.as_ref()),
    ];
    // A `--set` of another transport (an ablation) leaves the file's chunked parameters
    // unused; written in a file without the chunked transport, they are a mistake.
    if !chunked && r.keys.contains_key("cluster.transport") {
        return Ok(TransportModel::Fluid);
    }
    if !chunked {
        if let Some((key, v)) = params
            .iter()
            .find_map(|(key, f)| r.val(key, *f).map(|v| (*key, v)))
        {
            return Err(r.fail(
                &v,
                key,
                "a parameter of the chunked transport, but cluster.transport is not \"chunked\"",
            ));
        }
        return Ok(TransportModel::Fluid);
    }
    let mut spec = ChunkedSpec::ray_v0_6(cpus);
    let size_val = r.val("cluster.chunk_size", c.chunk_size.as_ref());
    if let Some(v) = size_val {
        spec.chunk_size = r.quantity(&v, "cluster.chunk_size", Quantity::Size)?;
        if spec.chunk_size == 0 {
            return Err(r.fail(&v, "cluster.chunk_size", "chunks of zero bytes"));
        }
    }
    if let Some(n) = r.positive(
        "cluster.transfer_threads",
        c.transfer_threads.as_ref(),
        u64::from(u32::MAX),
    )? {
        spec.send_threads = n as u32;
        spec.recv_threads = n as u32;
    }
    spec.flow_cap = r.optional("cluster.flow_cap", c.flow_cap.as_ref(), Quantity::Rate)?;
    if spec.flow_cap == Some(0) {
        return Err(r.whole("cluster.flow_cap is zero: no chunk would ever move".to_string()));
    }
    let baseline = r.optional(
        "cluster.nic_baseline",
        c.nic_baseline.as_ref(),
        Quantity::Rate,
    )?;
    let credit = r.optional("cluster.nic_credit", c.nic_credit.as_ref(), Quantity::Size)?;
    spec.bucket = match (baseline, credit) {
        (None, None) => None,
        (Some(0), _) => {
            return Err(r.whole(
                "cluster.nic_baseline is zero: a NIC out of credit would never send".to_string(),
            ));
        }
        (Some(baseline), Some(credit)) => Some(TokenBucket { baseline, credit }),
        _ => {
            return Err(r.whole(
                "cluster.nic_baseline and cluster.nic_credit go together (a token-bucket NIC: \
                 its baseline rate and the credit it may burst above it), or neither"
                    .to_string(),
            ));
        }
    };
    Ok(TransportModel::Chunked(spec))
}

/// `cluster.nic_limits`: both directions of each NIC unless `"send"`, which the chunked
/// transport does not take (its receive threads and ingress buckets model the receiving side).
fn resolve_nic_limits(
    r: &Resolver<'_>,
    c: &schema::ClusterSection,
    transport: TransportModel,
) -> Result<NicLimits, WorkloadError> {
    const KEY: &str = "cluster.nic_limits";
    if r.keyword(KEY, c.nic_limits.as_ref(), &["both", "send"])? != Some(1) {
        return Ok(NicLimits::Both);
    }
    if matches!(transport, TransportModel::Chunked(_))
        && let Some(v) = r.val(KEY, c.nic_limits.as_ref())
    {
        return Err(r.fail(
            &v,
            KEY,
            "\"send\" needs the fluid transport (the chunked transport models a NIC's \
             receiving side with its receive threads)",
        ));
    }
    Ok(NicLimits::Send)
}

/// `[recovery]`: each key given (in the file or by `recovery.KEY`) replaces the runtime's
/// default ([`Recovery::default`]).
fn resolve_recovery(
    r: &mut Resolver<'_>,
    section: &schema::RecoverySection,
) -> Result<Recovery, WorkloadError> {
    let d = Recovery::default();
    let heartbeat_period = match r.val(
        "recovery.heartbeat_period",
        section.heartbeat_period.as_ref(),
    ) {
        None => d.heartbeat_period,
        Some(v) => {
            let p = r.quantity(&v, "recovery.heartbeat_period", Quantity::Duration)?;
            if p == 0 {
                return Err(r.fail(
                    &v,
                    "recovery.heartbeat_period",
                    "a heartbeat period of zero: a node must send heartbeats some time apart",
                ));
            }
            p
        }
    };
    let max = u64::from(u32::MAX);
    let missed_heartbeats = r
        .positive(
            "recovery.missed_heartbeats",
            section.missed_heartbeats.as_ref(),
            max,
        )?
        .map_or(d.missed_heartbeats, |n| n as u32);
    let task_retries = r.count32(
        "recovery.task_retries",
        section.task_retries.as_ref(),
        d.task_retries,
    )?;
    let actor_restarts = r.count32(
        "recovery.actor_restarts",
        section.actor_restarts.as_ref(),
        d.actor_restarts,
    )?;
    let reconstruction = r.flag(
        "recovery.reconstruction",
        section.reconstruction.as_ref(),
        d.reconstruction,
    )?;
    let actor_replay = r.flag(
        "recovery.actor_replay",
        section.actor_replay.as_ref(),
        d.actor_replay,
    )?;
    let pull_timeout = r.key(
        "recovery.pull_timeout",
        section.pull_timeout.as_ref(),
        Quantity::Duration,
        d.pull_timeout,
    )?;
    Ok(Recovery {
        heartbeat_period,
        missed_heartbeats,
        task_retries,
        reconstruction,
        actor_restarts,
        actor_replay,
        pull_timeout,
    })
}

/// The error for a warm-up `warmup` at least as long as the run (`duration`), saying what to
/// set: the parameter the file's `schedule.warmup` refers to, else the key itself.
fn warmup_too_long(
    r: &Resolver<'_>,
    w: &Val<'_>,
    d: &Val<'_>,
    warmup: u64,
    duration: u64,
) -> WorkloadError {
    let setting = match w {
        Val::File(f) => match f.get_ref() {
            Raw::Str(s) if s.starts_with('$') => s[1..].to_string(),
            _ => "schedule.warmup".to_string(),
        },
        Val::Set { .. } => "schedule.warmup".to_string(),
    };
    let problem = format!(
        "warm-up {} >= duration {}: nothing would be measured",
        units::format_duration(warmup),
        units::format_duration(duration)
    );
    let below = units::format_duration(duration);
    match (r.set_on_command_line(d), r.set_on_command_line(w)) {
        (true, _) => r.whole(format!(
            "{problem}; also --set {setting}=... (less than {below})"
        )),
        (false, true) => r.whole(format!("{problem}; --set {setting}=... less than {below}")),
        (false, false) => {
            let span = match w {
                Val::File(f) => f.span(),
                Val::Set { .. } => 0..0,
            };
            let what = if setting == "schedule.warmup" {
                setting
            } else {
                format!("params.{setting}")
            };
            r.at(
                span,
                format!("schedule.warmup: {problem}; make {what} less than {below}"),
            )
        }
    }
}

/// The input stages of stage `s`: one, or several (a join), with their spans.
fn inputs_of(
    r: &Resolver<'_>,
    s: &Spanned<schema::StageSection>,
) -> Result<Vec<Spanned<String>>, WorkloadError> {
    let st = s.get_ref();
    let Some(input) = &st.input else {
        return Err(r.at(
            s.span(),
            format!(
                "stage `{}` ({}) needs `input`",
                st.name.get_ref(),
                op_name(st.op)
            ),
        ));
    };
    match input.get_ref() {
        StageInput::One(name) => Ok(vec![Spanned::new(input.span(), name.clone())]),
        StageInput::Many(v) if v.is_empty() => Err(r.at(
            input.span(),
            format!("stage `{}`: `input` is an empty list", st.name.get_ref()),
        )),
        StageInput::Many(v) => Ok(v.clone()),
    }
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
    // Per stage, the spans of its inputs (for errors about them).
    let mut input_spans: Vec<Vec<std::ops::Range<usize>>> = Vec::with_capacity(file.stages.len());
    for s in &file.stages {
        let st = s.get_ref();
        let sname = st.name.get_ref();
        let key = |k: &str| format!("stage.{sname}.{k}");
        if let Some(j) = &st.join
            && st.op != Op::Map
        {
            return Err(r.at(
                j.span(),
                format!(
                    "stage `{sname}` ({}): `join` applies to a map over several inputs",
                    op_name(st.op)
                ),
            ));
        }
        let mut spans = Vec::new();
        let (op, d) = match st.op {
            Op::Broadcast => {
                let task = name_of(r, &st.task, s, "task")?;
                check_task(r, tasks, task)?;
                let Some(width) = r.positive(&key("width"), st.width.as_ref(), 1 << 24)? else {
                    return Err(r.at(
                        s.span(),
                        format!("stage `{sname}` (broadcast) needs `width`"),
                    ));
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
                let names = inputs_of(r, s)?;
                let mut inputs = Vec::with_capacity(names.len());
                for n in &names {
                    inputs.push(lookup(r, n, "input")?);
                    spans.push(n.span());
                }
                match (&st.join, names.len()) {
                    (None, 1) => {
                        let repeat = r.positive(&key("repeat"), st.repeat.as_ref(), 1 << 16)?;
                        let fan_in = r.positive(&key("fan_in"), st.fan_in.as_ref(), 1 << 24)?;
                        (
                            StageOp::Map {
                                task: task.get_ref().clone(),
                                input: inputs[0],
                                repeat: repeat.unwrap_or(1) as usize,
                                fan_in: fan_in.unwrap_or(1) as usize,
                            },
                            inputs,
                        )
                    }
                    (None, n) => {
                        return Err(r.at(
                            st.input.as_ref().map_or(s.span(), Spanned::span),
                            format!(
                                "stage `{sname}` reads {n} stages: say how to pair their \
                                 elements: join = \"zip\" (task i gets element i of each) or \
                                 join = \"product\" (one task per combination)"
                            ),
                        ));
                    }
                    (Some(j), 1) => {
                        return Err(r.at(
                            j.span(),
                            format!(
                                "stage `{sname}`: `join` pairs two or more inputs, but `input` \
                                 names one stage"
                            ),
                        ));
                    }
                    (Some(j), _) => {
                        for (k, f) in [("repeat", &st.repeat), ("fan_in", &st.fan_in)] {
                            if let Some(f) = f {
                                return Err(r.at(
                                    f.span(),
                                    format!(
                                        "stage `{sname}`: `{k}` applies to a map over one \
                                         input, not to a join"
                                    ),
                                ));
                            }
                        }
                        (
                            StageOp::Join {
                                task: task.get_ref().clone(),
                                inputs: inputs.clone(),
                                join: *j.get_ref(),
                            },
                            inputs,
                        )
                    }
                }
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
                let Some(count) = r.positive(&key("count"), st.count.as_ref(), 1 << 24)? else {
                    return Err(r.at(
                        s.span(),
                        format!("stage `{sname}` (init_actors) needs `count`"),
                    ));
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
                let names = inputs_of(r, s)?;
                if names.len() > 1 {
                    return Err(r.at(
                        st.input.as_ref().map_or(s.span(), Spanned::span),
                        format!(
                            "stage `{sname}` (reduce_actors) reads one stage; a list of \
                             inputs is for a map (a join)"
                        ),
                    ));
                }
                let input = lookup(r, &names[0], "input")?;
                spans.push(names[0].span());
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
        input_spans.push(spans);
    }
    // Kinds of input: a map, join or reduce needs objects, not actors.
    for (i, op) in ops.iter().enumerate() {
        let inputs: &[usize] = match op {
            StageOp::Map { input, .. } | StageOp::ReduceActors { input, .. } => {
                std::slice::from_ref(input)
            }
            StageOp::Join { inputs, .. } => inputs,
            _ => continue,
        };
        for (k, &input) in inputs.iter().enumerate() {
            if matches!(ops[input], StageOp::InitActors { .. }) {
                let st = file.stages[i].get_ref();
                return Err(r.at(
                    input_spans[i][k].clone(),
                    format!(
                        "stage `{}` reads `{}`, which yields actors, not objects",
                        st.name.get_ref(),
                        file.stages[input].get_ref().name.get_ref()
                    ),
                ));
            }
        }
    }
    let order = topological(r, file, &deps)?;
    // Widths (elements yielded), in dependency order: a zip's inputs must be as wide, and a
    // product must not be too wide.
    let mut widths = vec![0usize; ops.len()];
    for &i in &order {
        widths[i] = match &ops[i] {
            StageOp::Broadcast { width, .. } => *width,
            StageOp::InitActors { count, .. } => *count,
            StageOp::ReduceActors { actors, .. } => widths[*actors],
            StageOp::Map {
                input,
                repeat,
                fan_in,
                ..
            } => (0..*repeat).fold(widths[*input], |w, _| w.div_ceil(*fan_in)),
            StageOp::Join { inputs, join, .. } => {
                let ws: Vec<usize> = inputs.iter().map(|&j| widths[j]).collect();
                let st = file.stages[i].get_ref();
                let span = st
                    .input
                    .as_ref()
                    .map_or(file.stages[i].span(), Spanned::span);
                let described = || {
                    inputs
                        .iter()
                        .map(|&j| {
                            format!(
                                "`{}` yields {}",
                                file.stages[j].get_ref().name.get_ref(),
                                widths[j]
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                match join {
                    Join::Zip if ws.iter().any(|&w| w != ws[0]) => {
                        return Err(r.at(
                            span,
                            format!(
                                "stage `{}`: join = \"zip\" gives task i element i of every \
                                 input, so they must be as wide, but {}",
                                st.name.get_ref(),
                                described()
                            ),
                        ));
                    }
                    Join::Zip => ws[0],
                    Join::Product => {
                        const MAX: usize = 1 << 24;
                        match ws
                            .iter()
                            .try_fold(1usize, |p, &w| p.checked_mul(w).filter(|&p| p <= MAX))
                        {
                            Some(w) => w,
                            None => {
                                return Err(r.at(
                                    span,
                                    format!(
                                        "stage `{}`: join = \"product\" makes one task per \
                                         combination, more than {MAX}: {}",
                                        st.name.get_ref(),
                                        described()
                                    ),
                                ));
                            }
                        }
                    }
                }
            }
        };
    }
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
                StageOp::Join { task, inputs, join } => StageOp::Join {
                    task,
                    inputs: inputs.iter().map(|&j| position[j]).collect(),
                    join,
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
