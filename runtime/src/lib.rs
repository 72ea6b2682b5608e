//! cohort's runtime: a minimal multi-node, Ray-like runtime in one process.
//!
//! - [`core`]: the sans-IO core (nodes, object stores, directory, transport, tasks,
//!   actors, placement). No clock, no threads, no files, no randomness.
//! - [`exec`]: executors that drive the core on the virtual or the real clock.
//! - [`cluster`]: the driver API (put, submit, get, wait, actors) over an executor.
//!
//! Placement policies implement [`cohort_policy::Policy`]; the runtime asks the policy once
//! per task, at submission, and once per actor, at its first call.
//!
//! No `unsafe` code here, except in [`plugin`]: loading a library and calling through its C
//! ABI cannot be done safely, and that module is where each such step is justified.

#![deny(unsafe_code)]

pub mod cluster;
pub mod core;
pub mod cost;
pub mod error;
pub mod exec;
pub mod fault;
pub mod infer;
pub mod ir;
pub mod model;
pub mod payload;
#[allow(unsafe_code)]
pub mod plugin;
pub mod registry;
pub mod spec;
pub mod time;
pub mod trace;

pub use crate::core::transport::chunked::{ChunkedError, ChunkedSpec, TokenBucket};
pub use cluster::{
    ActorHandle, Call, Clock, Cluster, ClusterConfig, ObjectRef, Outputs, Task, TaskArg, WaitMode,
    WaitResult,
};
pub use cohort_policy as policy;
pub use cost::{CostModel, SizeCurve};
pub use error::{ActorId, RuntimeError};
pub use fault::{Fault, FaultError, FaultKind, FaultScript, Recovery, RecoveryError, Slowdown};
pub use infer::HintAgreement;
pub use ir::{Ir, IrError, IrNode, NodeOptions, Pairing};
pub use model::{
    HintSource, Jitter, ModelOptions, ObjectLifetime, PullSource, Serialization, ViewAccounting,
    WakeUp,
};
pub use payload::Payload;
pub use registry::{ActorKind, Registry, TaskContext};
pub use spec::{ClusterSpec, NetworkSpec, NicLimits, NodeSpec, SpecError, Spilling};
pub use time::{MILLISECOND, Nanos, SECOND};
pub use trace::{Datapoint, HostWork, NodeEvent, NodeRecord, Trace, TraceLevel};
