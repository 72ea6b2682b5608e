//! The workload file format, as serde reads it. Unknown keys are rejected everywhere.
//!
//! Every quantity is a [`Field`]: an integer, a float, or a string that is either a quantity
//! with a unit (`"15.26MiB"`, `"100ms"`, `"10Gbit/s"`) or a reference to a parameter
//! (`"$data_size"`). Spans are kept so that errors can point at the line and column.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// A raw value as written.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(
    untagged,
    expecting = "expected a number, or a string such as \"100ms\" or \"$param\""
)]
pub enum Raw {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string: a quantity with a unit, a keyword, or `$param`.
    Str(String),
}

impl std::fmt::Display for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Raw::Int(i) => write!(f, "{i}"),
            Raw::Float(x) => write!(f, "{x}"),
            Raw::Str(s) => write!(f, "\"{s}\""),
        }
    }
}

/// A raw value with its place in the file.
pub type Field = Spanned<Raw>;

/// A whole workload file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a workload file")]
pub struct WorkloadFile {
    /// Short name, used in run ids and manifests.
    pub name: String,
    /// What the workload models, and where its numbers come from.
    #[serde(default)]
    pub description: String,
    /// The published data set this workload reproduces (e.g. `"group-scheduling-2018"`):
    /// reports overlay that data set's points only on sweeps that declare it.
    #[serde(default)]
    pub reproduces: Option<String>,
    /// Parameters and their defaults; any field may refer to one as `"$name"`.
    #[serde(default)]
    pub params: BTreeMap<String, Field>,
    /// The cluster.
    pub cluster: ClusterSection,
    /// Task kinds by name.
    #[serde(default)]
    pub tasks: BTreeMap<String, Spanned<TaskKindSection>>,
    /// Actor kinds by name.
    #[serde(default)]
    pub actors: BTreeMap<String, Spanned<ActorSection>>,
    /// The graph, as IR stages.
    #[serde(rename = "stage", default)]
    pub stages: Vec<Spanned<StageSection>>,
    /// When iterations are submitted.
    pub schedule: ScheduleSection,
    /// What goes wrong during the run, and when.
    #[serde(rename = "fault", default)]
    pub faults: Vec<Spanned<FaultSection>>,
    /// How the cluster notices a dead node and recovers what it lost (default: the runtime's
    /// defaults).
    #[serde(default)]
    pub recovery: RecoverySection,
    /// The default sweep.
    #[serde(default)]
    pub sweep: Option<SweepSection>,
}

/// `[cluster]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a [cluster] table (nodes, cpus, store, nic_bandwidth, latency, ...)"
)]
pub struct ClusterSection {
    /// Number of nodes.
    pub nodes: Field,
    /// CPU slots per node.
    pub cpus: Field,
    /// Object-store capacity per node (size).
    pub store: Field,
    /// NIC bandwidth per direction (rate).
    pub nic_bandwidth: Field,
    /// Fixed latency per transfer (duration).
    pub latency: Field,
    /// Objects of at most this size move inline, without the latency (size, or `"none"`:
    /// default, every transfer waits it).
    pub inline_objects: Option<Field>,
    /// Which directions the NIC bandwidth limits: `"both"` (default) or `"send"` (what a
    /// node sends only, as the live runtime's emulated NIC paces; the fluid transport only).
    pub nic_limits: Option<Field>,
    /// Staleness of the policy's load view (duration; default 0).
    pub heartbeat: Option<Field>,
    /// Driver time per submission (duration; default 0).
    pub submit_cost: Option<Field>,
    /// Whether stores spill last copies to their node's disk instead of losing them (default
    /// false).
    pub spilling: Option<Spanned<bool>>,
    /// Each node's disk bandwidth when spilling (rate; default 4750 Mbit/s).
    pub disk_bandwidth: Option<Field>,
    /// How the placement view counts placements between heartbeats: `"none"` (default) or
    /// `"placements"`.
    pub view_accounting: Option<Field>,
    /// Whether queued work spills over to other nodes at each heartbeat (default false).
    pub spill_over: Option<Spanned<bool>>,
    /// How objects are freed: `"refcount"` (default), `"lru"` or `"lru_ir_release"`.
    pub object_lifetime: Option<Field>,
    /// Where placement hints come from: `"declared"` (default: the IR's), `"inferred"` (by
    /// the runtime, from the plain submissions) or `"none"`.
    pub hints: Option<Field>,
    /// Serialization cost per output object (duration; default: none).
    pub serialize_fixed: Option<Field>,
    /// Serialization rate of output bytes (rate; default: none).
    pub serialize_rate: Option<Field>,
    /// Noise on durations and latencies: `"none"` (default), `"uniform"` or `"lognormal"`.
    pub jitter: Option<Field>,
    /// The noise on durations: the uniform jitter's half-width, as a fraction of the
    /// duration (factor below 1), or the log-normal jitter's sigma.
    pub jitter_spread: Option<Field>,
    /// The noise on transfers' latencies, as `jitter_spread` is on durations.
    pub latency_jitter_spread: Option<Field>,
    /// Which holder a pull takes an object from: `"fewest_outgoing"` (default) or
    /// `"random"`.
    pub pull_source: Option<Field>,
    /// How bytes move: `"fluid"` (default) or `"chunked"`.
    pub transport: Option<Field>,
    /// The chunked transport's chunk size (size; default 1,000,000 B).
    pub chunk_size: Option<Field>,
    /// The chunked transport's send and receive threads per node (count; default
    /// max(1, cpus / 4)).
    pub transfer_threads: Option<Field>,
    /// The chunked transport's ceiling on one chunk stream (rate or `"none"`; default none).
    pub flow_cap: Option<Field>,
    /// The NIC's baseline rate under a token bucket (rate or `"none"`; with `nic_credit`).
    pub nic_baseline: Option<Field>,
    /// The NIC's token bucket: bytes it may send above the baseline (size; with
    /// `nic_baseline`).
    pub nic_credit: Option<Field>,
    /// The cores every node shares when the cluster runs on one host (count; default: each
    /// node's CPUs are its own).
    pub host_cores: Option<Field>,
    /// What starting work costs a node idle for a while: `"IDLE:COST, ..."` steps of
    /// durations, or `"none"` (default: nothing).
    pub wake_up: Option<Field>,
    /// With `host_cores`: the rate at which one of the host's cores copies a transfer's bytes
    /// (rate, or `"none"`: default, moving bytes costs the cores nothing).
    pub transfer_copy_rate: Option<Field>,
    /// With `host_cores`: the rate at which one of the host's cores makes a node's memory
    /// ready the first time its store reaches it (rate, or `"none"`: default, no charge).
    pub first_touch_rate: Option<Field>,
    /// With `host_cores`: how much of a transfer's set-up is work of the host's cores
    /// (duration, or `"none"`: default, all of its latency).
    pub set_up_work: Option<Field>,
    /// With `host_cores`: the head's work for each task, shared with the nodes' work on the
    /// host's cores (duration, or `"none"`: default, none).
    pub head_work: Option<Field>,
    /// Ray v0.6's forwarding stalls: the receiver's delayed acknowledgement (duration, or
    /// `"none"`: default, work placed away from the driver's node gets there at once).
    pub delayed_ack: Option<Field>,
}

/// `[tasks.NAME]`, and each method of `[actors.NAME.methods]`: what a piece of work produces
/// and what it costs.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table of costs (outputs, output_size, cpus, fixed, input_rate, output_rate, \
                 cost_by_input_size, cost_by_output_size, record)"
)]
pub struct TaskKindSection {
    /// Objects returned (count; default 1).
    pub outputs: Option<Field>,
    /// Size of each output: a size, `"input"` (the size of the first object argument) or
    /// `"inputs"` (the sum of all object arguments). Default `"8B"`: the ingest stamp alone.
    pub output_size: Option<Field>,
    /// CPU slots held while running (count; default 1; ignored for methods).
    pub cpus: Option<Field>,
    /// Fixed cost per execution (duration; default 0).
    pub fixed: Option<Field>,
    /// Rate at which inputs are read (rate; default: free).
    pub input_rate: Option<Field>,
    /// Rate at which outputs are written (rate; default: free).
    pub output_rate: Option<Field>,
    /// A duration by the bytes read, added to the rest: `"SIZE:DURATION, ..."`, linear
    /// between the points (default `"none"`).
    pub cost_by_input_size: Option<Field>,
    /// A duration by the bytes written, added to the rest, as `cost_by_input_size`.
    pub cost_by_output_size: Option<Field>,
    /// Record a datapoint (ingest time of the data → now) each time this runs.
    #[serde(default)]
    pub record: bool,
}

/// `[actors.NAME]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an actor kind: a table with `methods` and an optional `creation`"
)]
pub struct ActorSection {
    /// Cost of the constructor (its `outputs`, `output_size` and `record` are ignored).
    pub creation: Option<Spanned<Creation>>,
    /// Methods by name.
    pub methods: BTreeMap<String, TaskKindSection>,
}

/// An actor's `creation`: a table like a task kind, or, for short, just its fixed cost
/// (`creation = "1ms"` means `creation = { fixed = "1ms" }`).
#[derive(Clone, Debug)]
pub enum Creation {
    /// The short form: the fixed cost, as written (its span is the `creation` value's).
    Fixed(Raw),
    /// The full form.
    Table(Box<TaskKindSection>),
}

impl<'de> Deserialize<'de> for Creation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Creation;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a duration such as \"1ms\" (the fixed cost) or a table such as \
                     { fixed = \"1ms\", cpus = 1 }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Creation, E> {
                Ok(Creation::Fixed(Raw::Str(v.to_string())))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Creation, E> {
                Ok(Creation::Fixed(Raw::Int(v)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Creation, E> {
                Ok(Creation::Fixed(Raw::Int(
                    i64::try_from(v).unwrap_or(i64::MAX),
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Creation, E> {
                Ok(Creation::Fixed(Raw::Float(v)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Creation, A::Error> {
                TaskKindSection::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|t| Creation::Table(Box::new(t)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The four IR operations.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(
    rename_all = "snake_case",
    expecting = "an operation: broadcast, map, init_actors or reduce_actors"
)]
pub enum Op {
    /// `Broadcast(task, width)`.
    Broadcast,
    /// `Map(task, input)`, optionally with a fan-in and repeated.
    Map,
    /// `InitActors(actor, count)`.
    InitActors,
    /// `ReduceActors(method, actors, input)`.
    ReduceActors,
}

/// When a stage is built: once per run, or anew every iteration.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", expecting = "a scope: once or iteration")]
pub enum Scope {
    /// Built once and reused (default for broadcast and init_actors).
    Once,
    /// Built anew each iteration (default for map and reduce_actors).
    Iteration,
}

/// How a map over several stages pairs their elements.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", expecting = "a pairing: zip or product")]
pub enum Join {
    /// Task `i` gets element `i` of every input (all as wide).
    Zip,
    /// One task per combination, the first input varying slowest.
    Product,
}

/// A stage's `input`: one stage's name, or a list of them (a join).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StageInput {
    /// One stage (its span is the `input` value's).
    One(String),
    /// Several stages, each with its own span.
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for StageInput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = StageInput;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a stage name, or a list of stage names (a join)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StageInput, E> {
                Ok(StageInput::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<StageInput, A::Error> {
                let mut names = Vec::new();
                while let Some(n) = seq.next_element::<Spanned<String>>()? {
                    names.push(n);
                }
                Ok(StageInput::Many(names))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[[stage]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a [[stage]] table (name, op, and the operation's keys)"
)]
pub struct StageSection {
    /// The stage's name, by which later stages refer to it.
    pub name: Spanned<String>,
    /// The IR operation.
    pub op: Op,
    /// The task kind (broadcast, map).
    pub task: Option<Spanned<String>>,
    /// The actor kind (init_actors).
    pub actor: Option<Spanned<String>>,
    /// The method (reduce_actors).
    pub method: Option<Spanned<String>>,
    /// The stage whose objects this one consumes (map, reduce_actors), or for a map, a list
    /// of stages (a join).
    pub input: Option<Spanned<StageInput>>,
    /// How a map over several stages pairs their elements (required then).
    pub join: Option<Spanned<Join>>,
    /// The init_actors stage whose actors are called (reduce_actors).
    pub actors: Option<Spanned<String>>,
    /// Handles a broadcast yields (count).
    pub width: Option<Field>,
    /// Actors to create (count).
    pub count: Option<Field>,
    /// Chain this map this many times, each over the previous (count; default 1).
    pub repeat: Option<Field>,
    /// Inputs per map task (count; default 1).
    pub fan_in: Option<Field>,
    /// Once per run, or per iteration.
    pub scope: Option<Scope>,
}

/// The kinds of `[[fault]]`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultKindName {
    /// A node dies (and restarts empty at `until`, if given).
    Kill,
    /// A node's CPUs run `by` times slower.
    SlowCpu,
    /// A node's NIC runs `by` times slower.
    SlowNic,
    /// The link `between` two nodes carries nothing.
    DropLink,
}

/// `[[fault]]`: something that goes wrong during the run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSection {
    /// What goes wrong.
    pub kind: FaultKindName,
    /// The node (kill, slow_cpu, slow_nic; a count from 0).
    pub node: Option<Field>,
    /// The two nodes of the link (drop_link).
    pub between: Option<Spanned<Vec<Field>>>,
    /// When it starts (duration from the start of the run).
    pub at: Field,
    /// When it ends (duration from the start of the run; default: never).
    pub until: Option<Field>,
    /// How many times slower (slow_cpu, slow_nic; a factor of at least 1, e.g. 4 or 2.5).
    pub by: Option<Field>,
}

/// `[recovery]`: how the cluster notices a dead node and recovers what it lost. Every key is
/// optional; one left out keeps the runtime's default (`cohort_runtime::Recovery`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a [recovery] table (heartbeat_period, missed_heartbeats, task_retries, \
                 reconstruction, actor_restarts, actor_replay, pull_timeout)"
)]
pub struct RecoverySection {
    /// How often a node tells the cluster it is alive (duration).
    pub heartbeat_period: Option<Field>,
    /// Heartbeats a node may miss in a row before it is declared dead (count, at least 1).
    pub missed_heartbeats: Option<Field>,
    /// Times a task may be run again after its first run (count).
    pub task_retries: Option<Field>,
    /// Whether an object whose every copy is gone is rebuilt from its lineage.
    pub reconstruction: Option<Spanned<bool>>,
    /// Times an actor whose node died is restarted (count).
    pub actor_restarts: Option<Field>,
    /// Whether a restarted actor runs its finished calls again, in order.
    pub actor_replay: Option<Spanned<bool>>,
    /// How long work asking for a lost object waits before it is rebuilt (duration).
    pub pull_timeout: Option<Field>,
}

/// How iterations follow each other.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(
    rename_all = "kebab-case",
    expecting = "a mode: fixed-delay or fixed-rate"
)]
pub enum Mode {
    /// Sleep `period` after submitting an iteration (the write-up's driver).
    FixedDelay,
    /// Start an iteration every `period` (immediately if behind).
    FixedRate,
}

/// `[schedule]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a [schedule] table (period, mode, duration or iterations, warmup, drain)"
)]
pub struct ScheduleSection {
    /// Time between iterations (duration).
    pub period: Field,
    /// Fixed delay or fixed rate.
    pub mode: Mode,
    /// Stop starting iterations after this much time (duration).
    pub duration: Option<Field>,
    /// Or after this many iterations (count).
    pub iterations: Option<Field>,
    /// Datapoints ingested before this time are warm-up (duration; default 0).
    pub warmup: Option<Field>,
    /// After the last iteration, how long the run may go on finishing its work before it
    /// stops with work unfinished (duration; default: as long as the schedule ran).
    pub drain: Option<Field>,
}

/// Values a swept parameter takes: a list, or an arithmetic range.
#[derive(Clone, Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "expected a list of values, or a range { from = ..., to = ..., step = ... }"
)]
pub enum SweepValues {
    /// Explicit values.
    List(Vec<Raw>),
    /// `from`, `from + step`, ... up to and including `to`.
    Range {
        /// First value.
        from: Raw,
        /// Last value (included if reached exactly).
        to: Raw,
        /// Increment.
        step: Raw,
    },
}

/// `[sweep]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a [sweep] table (policies, seeds, params)"
)]
pub struct SweepSection {
    /// Policies to compare.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Seeds to run each point with.
    #[serde(default)]
    pub seeds: Vec<u64>,
    /// Parameter grid (cartesian product).
    #[serde(default)]
    pub params: BTreeMap<String, Spanned<SweepValues>>,
}
