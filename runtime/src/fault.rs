//! Faults as a script: what goes wrong, where, and when, on the run's clock.
//!
//! A [`FaultScript`] is plain data, written by a workload's `[[fault]]` tables. Executors play
//! it: the simulator as events on the virtual clock; a live deployment as real signals (a kill
//! is a SIGKILL of the node's process, a slow NIC its token bucket turned down). What the
//! cluster does about a fault (detecting a dead node after missed heartbeats, rebuilding lost
//! objects, restarting actors) is the runtime's, not the script's.

use crate::time::Nanos;
use cohort_policy::NodeId;
use thiserror::Error;

/// How much slower a slowed resource runs, as a ratio in thousandths: `2_000` is twice as
/// slow (half the speed). Whole thousandths keep the virtual clock exact.
///
/// Invariant: at least 1 000 (a fault never speeds a resource up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slowdown(u32);

impl Slowdown {
    /// One thousand: the resource at its normal speed.
    pub const MILLI: u32 = 1_000;

    /// A slowdown of `milli / 1000`, or `None` below 1 000.
    pub fn from_milli(milli: u32) -> Option<Slowdown> {
        (milli >= Self::MILLI).then_some(Slowdown(milli))
    }

    /// The ratio in thousandths.
    pub fn milli(self) -> u32 {
        self.0
    }

    /// `duration` stretched by this slowdown (rounded up to a whole nanosecond).
    pub fn stretch(self, duration: Nanos) -> Nanos {
        let wide = u128::from(duration) * u128::from(self.0);
        u64::try_from(wide.div_ceil(u128::from(Self::MILLI))).unwrap_or(Nanos::MAX)
    }
}

/// How the cluster notices a dead node and recovers what it lost. Part of the
/// [`ClusterSpec`](crate::ClusterSpec), beside the script of faults it answers.
///
/// Defaults, with their sources (Ray's own: `src/ray/ray_config.h` at the `ray-0.6.0` and
/// `ray-0.6.1` tags, and Ray 2.x's fault-tolerance documentation, docs.ray.io):
/// - a node is declared dead after it misses 300 heartbeats 100 ms apart (Ray 0.6.1's
///   `num_heartbeats_timeout` and `heartbeat_timeout_milliseconds`; 0.6.0 used 100);
/// - a task runs at most 1 + 3 times (Ray 2.x's `max_retries`), whether it is run again
///   because its node died or to rebuild a lost output;
/// - lost objects are rebuilt from lineage;
/// - actors are not restarted (Ray's `max_restarts` and 0.6.1's `max_reconstructions` both
///   default to 0); a restarted actor replays its finished calls, in order, to rebuild its
///   state (Ray 0.6.1), unless `actor_replay` is off (Ray 2.x: the constructor's state only).
///
/// Invariant (checked by [`Recovery::check`]): `heartbeat_period` and `missed_heartbeats`
/// are not zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Recovery {
    /// How often a node tells the cluster it is alive.
    pub heartbeat_period: Nanos,
    /// How many heartbeats in a row a node may miss before it is declared dead.
    pub missed_heartbeats: u32,
    /// How many times a task may be run again after its first run.
    pub task_retries: u32,
    /// Whether an object whose every copy is gone is rebuilt by running its task again.
    pub reconstruction: bool,
    /// How many times an actor whose node died is restarted.
    pub actor_restarts: u32,
    /// Whether a restarted actor runs its finished calls again, in order, before new ones.
    pub actor_replay: bool,
    /// How long work that asks for a lost object waits before its task runs again to rebuild
    /// it. 0 (the default) rebuilds at once, as Ray 2.x's owner does; Ray v0.6 found out only
    /// when a pull gave up (`object_manager_pull_timeout_ms` = 10,000) and its reconstruction
    /// timer (`initial_reconstruction_timeout_milliseconds` = 10,000) fired
    /// (`src/ray/ray_config.h`). The driver's own `get` of a lost object rebuilds at once.
    pub pull_timeout: Nanos,
}

impl Default for Recovery {
    fn default() -> Self {
        Recovery {
            heartbeat_period: 100 * crate::time::MILLISECOND,
            missed_heartbeats: 300,
            task_retries: 3,
            reconstruction: true,
            actor_restarts: 0,
            actor_replay: true,
            pull_timeout: 0,
        }
    }
}

impl Recovery {
    /// When a node killed at `killed` is declared dead: `missed_heartbeats` periods after the
    /// last heartbeat it sent, the last multiple of the period before `killed` (a kill at an
    /// instant comes before a heartbeat due then).
    pub fn declared_dead_at(&self, killed: Nanos) -> Nanos {
        let p = self.heartbeat_period.max(1);
        let last = killed.saturating_sub(1) / p * p;
        last.saturating_add(p.saturating_mul(u64::from(self.missed_heartbeats)))
    }

    /// Checks the invariant stated on the type.
    pub fn check(&self) -> Result<(), RecoveryError> {
        if self.heartbeat_period == 0 {
            return Err(RecoveryError::ZeroHeartbeat);
        }
        if self.missed_heartbeats == 0 {
            return Err(RecoveryError::ZeroMissedHeartbeats);
        }
        Ok(())
    }
}

/// Why recovery settings are invalid.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum RecoveryError {
    /// The heartbeat period is zero.
    #[error("the heartbeat period of failure detection is zero")]
    ZeroHeartbeat,
    /// The number of missed heartbeats is zero.
    #[error("the number of missed heartbeats before a node is declared dead is zero")]
    ZeroMissedHeartbeats,
}

/// What goes wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// The node dies: its running work, its object store and its actors are lost; with an
    /// end, it comes back empty then (a fresh node with the same id and resources).
    Kill {
        /// The node.
        node: NodeId,
    },
    /// The node's CPUs run slower: work that runs there takes `by` times as long.
    SlowCpu {
        /// The node.
        node: NodeId,
        /// How much slower.
        by: Slowdown,
    },
    /// The node's NIC runs slower in both directions: its bandwidth divided by `by`.
    SlowNic {
        /// The node.
        node: NodeId,
        /// How much slower.
        by: Slowdown,
    },
    /// The link between two nodes carries nothing: transfers between them wait until it
    /// comes back (or, if it never does, until the run ends).
    DropLink {
        /// One end.
        a: NodeId,
        /// The other end.
        b: NodeId,
    },
}

impl FaultKind {
    /// Its name in the workload format: `kill`, `slow_cpu`, `slow_nic` or `drop_link`.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Kill { .. } => "kill",
            FaultKind::SlowCpu { .. } => "slow_cpu",
            FaultKind::SlowNic { .. } => "slow_nic",
            FaultKind::DropLink { .. } => "drop_link",
        }
    }
}

/// One fault: `kind` from `at` until `until` (for ever when `None`).
///
/// Invariant (checked by [`FaultScript::new`]): `until`, when set, is after `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fault {
    /// What goes wrong.
    pub kind: FaultKind,
    /// When it starts, on the run's clock.
    pub at: Nanos,
    /// When it ends (a killed node restarts; a slowdown or dropped link is over).
    pub until: Option<Nanos>,
}

impl Fault {
    /// The nodes it names.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> {
        let (a, b) = match self.kind {
            FaultKind::Kill { node }
            | FaultKind::SlowCpu { node, .. }
            | FaultKind::SlowNic { node, .. } => (node, None),
            FaultKind::DropLink { a, b } => (a, Some(b)),
        };
        std::iter::once(a).chain(b)
    }
}

/// Why a fault script does not fit a cluster.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum FaultError {
    /// A fault names a node the cluster does not have.
    #[error("fault {index} names {node}, but the cluster's nodes are 0 to {last}")]
    NoSuchNode {
        /// The fault's position in the script, from 1.
        index: usize,
        /// The node it names.
        node: NodeId,
        /// The cluster's last node.
        last: usize,
    },
    /// A fault ends before it starts.
    #[error("fault {index} ends ({until} ns) before it starts ({at} ns)")]
    EndsBeforeStart {
        /// The fault's position in the script, from 1.
        index: usize,
        /// Its start.
        at: Nanos,
        /// Its end.
        until: Nanos,
    },
    /// A link from a node to itself.
    #[error("fault {index} drops the link from {node} to itself")]
    SelfLink {
        /// The fault's position in the script, from 1.
        index: usize,
        /// The node.
        node: NodeId,
    },
    /// Two faults of one kind on one node (or link) overlap in time.
    #[error("faults {first} and {second} overlap: the same kind of fault on the same node at once")]
    Overlap {
        /// The earlier fault's position, from 1.
        first: usize,
        /// The later one's.
        second: usize,
    },
}

impl FaultError {
    /// The position (from 1, as written) of the fault the error is about: for an overlap, the
    /// later one.
    pub fn fault(&self) -> usize {
        match self {
            FaultError::NoSuchNode { index, .. }
            | FaultError::EndsBeforeStart { index, .. }
            | FaultError::SelfLink { index, .. } => *index,
            FaultError::Overlap { second, .. } => *second,
        }
    }
}

/// The faults of a run, in the order they start (ties in the order written).
///
/// Invariant: every fault names nodes of the cluster it was checked against, ends after it
/// starts, and no two faults of one kind on one node (or link) overlap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultScript {
    faults: Vec<Fault>,
}

impl FaultScript {
    /// Checks `faults` against a cluster of `nodes` nodes and orders them by start.
    pub fn new(faults: Vec<Fault>, nodes: usize) -> Result<FaultScript, FaultError> {
        let mut script = FaultScript { faults };
        script.check(nodes)?;
        // Stable: faults starting at one instant keep the order they were written in.
        script.faults.sort_by_key(|f| f.at);
        Ok(script)
    }

    /// Checks the script's invariant against a cluster of `nodes` nodes (positions in
    /// errors count from 1 in the script's order).
    pub fn check(&self, nodes: usize) -> Result<(), FaultError> {
        let faults = &self.faults;
        for (i, f) in faults.iter().enumerate() {
            let index = i + 1;
            if let Some(node) = f.nodes().find(|n| n.0 as usize >= nodes) {
                return Err(FaultError::NoSuchNode {
                    index,
                    node,
                    last: nodes.saturating_sub(1),
                });
            }
            if let Some(until) = f.until
                && until <= f.at
            {
                return Err(FaultError::EndsBeforeStart {
                    index,
                    at: f.at,
                    until,
                });
            }
            if let FaultKind::DropLink { a, b } = f.kind
                && a == b
            {
                return Err(FaultError::SelfLink { index, node: a });
            }
        }
        for (i, f) in faults.iter().enumerate() {
            for (j, g) in faults.iter().enumerate().skip(i + 1) {
                if same_target(&f.kind, &g.kind) && overlap(f, g) {
                    return Err(FaultError::Overlap {
                        first: i + 1,
                        second: j + 1,
                    });
                }
            }
        }
        Ok(())
    }

    /// The faults, in the order they start.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }
}

/// Whether two faults are of one kind on one node (or one link, either way round).
fn same_target(a: &FaultKind, b: &FaultKind) -> bool {
    use FaultKind::*;
    match (a, b) {
        (Kill { node: x }, Kill { node: y })
        | (SlowCpu { node: x, .. }, SlowCpu { node: y, .. })
        | (SlowNic { node: x, .. }, SlowNic { node: y, .. }) => x == y,
        (DropLink { a: a1, b: b1 }, DropLink { a: a2, b: b2 }) => {
            (a1, b1) == (a2, b2) || (a1, b1) == (b2, a2)
        }
        _ => false,
    }
}

/// Whether two faults' windows share an instant.
fn overlap(f: &Fault, g: &Fault) -> bool {
    let end = |x: &Fault| x.until.unwrap_or(Nanos::MAX);
    f.at < end(g) && g.at < end(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kill(node: u32, at: Nanos, until: Option<Nanos>) -> Fault {
        Fault {
            kind: FaultKind::Kill { node: NodeId(node) },
            at,
            until,
        }
    }

    #[test]
    fn a_script_is_ordered_by_start_and_checked_against_the_cluster() {
        let slow = Fault {
            kind: FaultKind::SlowNic {
                node: NodeId(1),
                by: Slowdown::from_milli(8_000).expect("slower"),
            },
            at: 5,
            until: Some(50),
        };
        let s = FaultScript::new(vec![kill(2, 10, Some(20)), slow, kill(2, 20, None)], 3)
            .expect("valid");
        assert_eq!(
            s.faults().iter().map(|f| f.at).collect::<Vec<_>>(),
            [5, 10, 20]
        );
        assert_eq!(
            FaultScript::new(vec![kill(3, 10, None)], 3),
            Err(FaultError::NoSuchNode {
                index: 1,
                node: NodeId(3),
                last: 2
            })
        );
        assert_eq!(
            FaultScript::new(vec![kill(0, 10, Some(10))], 3),
            Err(FaultError::EndsBeforeStart {
                index: 1,
                at: 10,
                until: 10
            })
        );
        assert_eq!(
            FaultScript::new(vec![kill(1, 10, Some(30)), kill(1, 20, None)], 3),
            Err(FaultError::Overlap {
                first: 1,
                second: 2
            })
        );
        let link = |a, b, at| Fault {
            kind: FaultKind::DropLink {
                a: NodeId(a),
                b: NodeId(b),
            },
            at,
            until: None,
        };
        assert_eq!(
            FaultScript::new(vec![link(0, 1, 5), link(1, 0, 9)], 2),
            Err(FaultError::Overlap {
                first: 1,
                second: 2
            })
        );
        assert_eq!(
            FaultScript::new(vec![link(1, 1, 5)], 2),
            Err(FaultError::SelfLink {
                index: 1,
                node: NodeId(1)
            })
        );
    }

    #[test]
    fn a_slowdown_stretches_exactly_and_never_speeds_up() {
        assert_eq!(Slowdown::from_milli(999), None);
        let by = Slowdown::from_milli(2_500).expect("slower");
        assert_eq!(by.stretch(1_000), 2_500);
        assert_eq!(by.stretch(3), 8); // 7.5, rounded up
        assert_eq!(by.stretch(Nanos::MAX), Nanos::MAX);
        assert_eq!(Slowdown::from_milli(1_000).expect("same").stretch(77), 77);
    }
}
