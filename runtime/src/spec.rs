//! The cluster spec: nodes, their CPU slots and stores, and the network between them.

use crate::core::transport::TransportModel;
use crate::core::transport::chunked::ChunkedError;
use crate::fault::{FaultError, FaultScript, Recovery, RecoveryError};
use crate::time::Nanos;
use thiserror::Error;

/// One node of the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    /// CPU slots (whole CPUs).
    pub cpus: u32,
    /// Object-store capacity in bytes.
    pub store_capacity: u64,
}

/// Which directions of a node's NIC its bandwidth limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NicLimits {
    /// Both: a full-duplex NIC moves `nic_bandwidth` bytes per second each way, so what a
    /// node receives from several senders at once shares its ingress (the default).
    #[default]
    Both,
    /// Only what a node sends: a node receives from several senders at once, each at its
    /// share of its own sender's NIC. What the live runtime's emulated NIC does (it paces
    /// each node's outgoing chunks with a token bucket and reads whatever arrives), so that a
    /// simulation compared with a live run at an emulated rate models the same network. The
    /// chunked transport does not take it.
    Send,
}

/// The network: how bytes move between nodes, and the model's parameters.
///
/// Every node has one NIC with the same bandwidth in each direction (or, with
/// [`NicLimits::Send`], limited in the sending direction only). With the fluid transport
/// (the default) a transfer of `S` bytes costs `latency` plus `S` bytes at a max-min fair
/// share of the sender's egress and the receiver's ingress (see
/// [`crate::core::transport::fluid`]); with the chunked transport, `latency` and then its
/// chunks through the sender's queue, `nic_bandwidth` being the NIC's burst rate (see
/// [`crate::core::transport::chunked`]). With `inline_max`, objects of at most that many
/// bytes skip the latency ([`crate::core::transport::Latency`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkSpec {
    /// NIC bandwidth per direction, in bytes per second.
    pub nic_bandwidth: u64,
    /// Fixed latency per transfer, in nanoseconds.
    pub latency: Nanos,
    /// Which transport moves the bytes.
    pub transport: TransportModel,
    /// Objects of at most this many bytes move *inline*: current Ray (1.x and later) returns
    /// a small object to its owner inside the task's reply and passes it inside the
    /// specification of the task that reads it (below `max_direct_call_object_size`, 100 KiB
    /// by default), so moving it costs no object-store round trip. Such a transfer skips the
    /// fixed latency; its bytes still cross the NICs. `None`: every transfer waits the
    /// latency, as in Ray v0.6, where every object goes through the object stores.
    pub inline_max: Option<u64>,
    /// Which directions of each NIC `nic_bandwidth` limits (both by default).
    pub nic_limits: NicLimits,
}

/// Spilling: when a store must make room and only copies that are the last in memory are left
/// to evict, they are written to their node's disk instead of being lost, and read back into
/// the store when work asks for them (as Ray 2.x does with primary copies). A node's disk moves
/// one object at a time, writes and reads in the order asked, at `disk_bandwidth`; its space
/// is not limited. A disk's copies die with its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spilling {
    /// Each node's disk bandwidth, in bytes per second, shared by writes and reads.
    pub disk_bandwidth: u64,
}

impl Spilling {
    /// How long moving `bytes` to or from a disk takes (rounded up to a whole nanosecond).
    pub fn disk_time(&self, bytes: u64) -> Nanos {
        let ns = u128::from(bytes) * 1_000_000_000;
        u64::try_from(ns.div_ceil(u128::from(self.disk_bandwidth.max(1)))).unwrap_or(Nanos::MAX)
    }
}

/// A whole cluster, and what goes wrong with it during a run.
///
/// Invariant once [`ClusterSpec::validate`] has passed: at least one node, every node has at
/// least one CPU and a non-zero store, the NIC bandwidth (and the disk bandwidth, if spilling)
/// is non-zero, a chunked transport's parameters pass
/// [`ChunkedSpec::check`](crate::ChunkedSpec::check), NICs limited in one direction only
/// ([`NicLimits::Send`]) do not go with the chunked transport, every fault names nodes of the cluster,
/// and the recovery settings hold their invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSpec {
    /// The nodes; node `i` gets id `NodeId(i)`.
    pub nodes: Vec<NodeSpec>,
    /// The network.
    pub network: NetworkSpec,
    /// The faults the cluster suffers, on the run's clock (none by default).
    pub faults: FaultScript,
    /// How the cluster detects and recovers from them.
    pub recovery: Recovery,
    /// Whether stores spill to disk, and how fast (off by default: a last copy evicted is
    /// lost, and rebuilt from lineage if it is wanted again).
    pub spilling: Option<Spilling>,
}

/// Why a cluster spec is invalid.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SpecError {
    /// The spec has no nodes.
    #[error("the cluster has no nodes")]
    NoNodes,
    /// A node has no CPU slots.
    #[error("node {node} has zero CPUs")]
    ZeroCpus {
        /// The node's index.
        node: usize,
    },
    /// A node has no object-store capacity.
    #[error("node {node} has a zero-byte object store")]
    ZeroStore {
        /// The node's index.
        node: usize,
    },
    /// The NIC bandwidth is zero.
    #[error("the network's NIC bandwidth is zero")]
    ZeroBandwidth,
    /// Spilling is on with a disk bandwidth of zero.
    #[error("spilling is on, but the disk bandwidth is zero")]
    ZeroDiskBandwidth,
    /// NICs limited in one direction with the chunked transport, whose receive threads and
    /// ingress buckets model a NIC's receiving side.
    #[error(
        "NICs limited in the sending direction only (nic_limits = \"send\") need the fluid \
         transport; the chunked transport models both directions"
    )]
    OneWayNicNeedsFluid,
    /// The chunked transport's parameters are invalid (the message names the field).
    #[error(transparent)]
    Chunked(#[from] ChunkedError),
    /// The fault script does not fit the cluster.
    #[error(transparent)]
    Fault(#[from] FaultError),
    /// The recovery settings are invalid.
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    /// More nodes than node ids.
    #[error("the cluster has {0} nodes; at most {max} are supported", max = u32::MAX - 1)]
    TooManyNodes(usize),
}

impl ClusterSpec {
    /// `count` identical nodes.
    pub fn uniform(count: usize, node: NodeSpec, network: NetworkSpec) -> Self {
        ClusterSpec {
            nodes: vec![node; count],
            network,
            faults: FaultScript::default(),
            recovery: Recovery::default(),
            spilling: None,
        }
    }

    /// Checks the invariants stated on the type.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.nodes.is_empty() {
            return Err(SpecError::NoNodes);
        }
        if self.nodes.len() >= u32::MAX as usize {
            return Err(SpecError::TooManyNodes(self.nodes.len()));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if n.cpus == 0 {
                return Err(SpecError::ZeroCpus { node: i });
            }
            if n.store_capacity == 0 {
                return Err(SpecError::ZeroStore { node: i });
            }
        }
        if self.network.nic_bandwidth == 0 {
            return Err(SpecError::ZeroBandwidth);
        }
        if self.spilling.is_some_and(|s| s.disk_bandwidth == 0) {
            return Err(SpecError::ZeroDiskBandwidth);
        }
        if let TransportModel::Chunked(chunked) = self.network.transport {
            chunked.check()?;
        }
        if self.network.nic_limits == NicLimits::Send
            && matches!(self.network.transport, TransportModel::Chunked(_))
        {
            return Err(SpecError::OneWayNicNeedsFluid);
        }
        self.faults.check(self.nodes.len())?;
        self.recovery.check()?;
        Ok(())
    }

    /// The largest CPU count of any node.
    pub fn max_cpus(&self) -> u32 {
        self.nodes.iter().map(|n| n.cpus).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> NetworkSpec {
        NetworkSpec {
            nic_bandwidth: 1_000_000_000,
            latency: 0,
            transport: Default::default(),
            inline_max: None,
            nic_limits: NicLimits::Both,
        }
    }
    fn node() -> NodeSpec {
        NodeSpec {
            cpus: 4,
            store_capacity: 1 << 30,
        }
    }

    #[test]
    fn rejects_each_invalid_part() {
        assert_eq!(
            ClusterSpec::uniform(0, node(), net()).validate(),
            Err(SpecError::NoNodes)
        );
        let mut s = ClusterSpec::uniform(3, node(), net());
        s.nodes[2].cpus = 0;
        assert_eq!(s.validate(), Err(SpecError::ZeroCpus { node: 2 }));
        let mut s = ClusterSpec::uniform(3, node(), net());
        s.nodes[1].store_capacity = 0;
        assert_eq!(s.validate(), Err(SpecError::ZeroStore { node: 1 }));
        let mut s = ClusterSpec::uniform(3, node(), net());
        s.network.nic_bandwidth = 0;
        assert_eq!(s.validate(), Err(SpecError::ZeroBandwidth));
        let mut s = ClusterSpec::uniform(3, node(), net());
        let mut chunked = crate::ChunkedSpec::ray_v0_6(4);
        chunked.recv_threads = 0;
        s.network.transport = TransportModel::Chunked(chunked);
        let err = s.validate().unwrap_err();
        assert_eq!(err, SpecError::Chunked(ChunkedError::ZeroRecvThreads));
        assert!(err.to_string().contains("recv_threads"), "{err}");
        s.network.transport = TransportModel::Chunked(crate::ChunkedSpec::ray_v0_6(4));
        s.network.nic_limits = NicLimits::Send;
        assert_eq!(s.validate(), Err(SpecError::OneWayNicNeedsFluid));
        // An executor's transport moves real bytes and ignores the model's NIC.
        s.network.transport = TransportModel::External;
        assert_eq!(s.validate(), Ok(()));
        s.network.transport = TransportModel::Fluid;
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(ClusterSpec::uniform(3, node(), net()).validate(), Ok(()));
    }
}
