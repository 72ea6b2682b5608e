//! Test policies, specs and functions shared by the runtime's integration tests.

use cohort_runtime::policy::{NodeId, Placement, PlacementView, Policy, PolicyEvent};
use cohort_runtime::{
    ClusterSpec, CostModel, NetworkSpec, NodeSpec, Payload, Registry, TaskContext,
};
use std::sync::{Arc, Mutex};

/// `n` nodes of `cpus` CPUs and `store` bytes, 1 byte/ns NICs, `latency` ns per transfer.
pub fn spec(n: usize, cpus: u32, store: u64, latency: u64) -> ClusterSpec {
    ClusterSpec::uniform(
        n,
        NodeSpec {
            cpus,
            store_capacity: store,
        },
        NetworkSpec {
            nic_bandwidth: 1_000_000_000,
            latency,
            transport: Default::default(),
            inline_max: None,
            nic_limits: Default::default(),
        },
    )
}

/// Places everything on one node.
pub struct Fixed(pub u32);

impl Policy for Fixed {
    fn name(&self) -> &str {
        "fixed"
    }
    fn place(&mut self, _: &PlacementView<'_>) -> Placement {
        Placement::Node(NodeId(self.0))
    }
}

/// Places work on the nodes of a script, in order, then on node 0.
pub struct Scripted(pub Vec<u32>);

impl Policy for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    fn place(&mut self, _: &PlacementView<'_>) -> Placement {
        if self.0.is_empty() {
            Placement::Node(NodeId(0))
        } else {
            Placement::Node(NodeId(self.0.remove(0)))
        }
    }
}

/// Cycles through the nodes.
#[derive(Default)]
pub struct RoundRobin(u32);

impl Policy for RoundRobin {
    fn name(&self) -> &str {
        "round-robin"
    }
    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        let n = NodeId(self.0 % view.nodes.len() as u32);
        self.0 += 1;
        Placement::Node(n)
    }
}

/// Uniform over all nodes from a seeded SplitMix64 stream (a test stand-in for the random
/// policy plugin).
pub struct Seeded(pub u64);

impl Policy for Seeded {
    fn name(&self) -> &str {
        "seeded"
    }
    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Placement::Node(NodeId((z % view.nodes.len() as u64) as u32))
    }
}

/// What a [`Recorder`] saw at each placement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub now: u64,
    pub view_time: u64,
    pub busy: Vec<u32>,
    pub queued: Vec<u32>,
    pub alive: Vec<bool>,
    pub args: Vec<(u64, Vec<u32>, u32)>,
}

/// Wraps a policy and records every view it was shown and every event.
pub struct Recorder<P> {
    pub inner: P,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub events: Arc<Mutex<Vec<PolicyEvent>>>,
    /// What it answers to `wants_events` (true unless built by [`Recorder::quiet`]).
    pub wants_events: bool,
}

impl<P> Recorder<P> {
    pub fn new(inner: P) -> Self {
        Recorder {
            inner,
            seen: Arc::default(),
            events: Arc::default(),
            wants_events: true,
        }
    }

    /// A recorder that says it wants no events.
    pub fn quiet(inner: P) -> Self {
        Recorder {
            wants_events: false,
            ..Recorder::new(inner)
        }
    }
}

impl<P: Policy> Policy for Recorder<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        self.seen.lock().unwrap().push(Seen {
            now: view.now_ns,
            view_time: view.view_time_ns,
            busy: view.nodes.iter().map(|n| n.cpus_busy).collect(),
            queued: view.nodes.iter().map(|n| n.queued).collect(),
            alive: view.nodes.iter().map(|n| n.alive).collect(),
            args: view
                .args
                .iter()
                .map(|a| {
                    (
                        a.size,
                        view.holders_of(a).iter().map(|h| h.0).collect(),
                        a.producer_node.0,
                    )
                })
                .collect(),
        });
        self.inner.place(view)
    }
    fn on_event(&mut self, event: &PolicyEvent) {
        self.events.lock().unwrap().push(*event);
        self.inner.on_event(event);
    }
    fn wants_events(&self) -> bool {
        self.wants_events
    }
}

/// Makes an object of `size` modeled bytes with the `make` function of [`basic_registry`]
/// (placed by the cluster's policy) and waits for it.
pub fn make(c: &mut cohort_runtime::Cluster, size: u64) -> cohort_runtime::ObjectRef {
    let f = c.function("make").unwrap();
    let o = c
        .submit(cohort_runtime::Task::new(f).arg(Payload::from_u64(size)))
        .unwrap()
        .remove(0);
    c.get(&o).unwrap();
    o
}

/// Reads a payload's first word.
pub fn word(p: &Payload) -> Result<u64, String> {
    p.as_u64()
        .ok_or_else(|| "expected an 8-byte word".to_string())
}

/// Registers the generic functions tests use:
/// - `make(size)`: an object of `size` modeled bytes (cost: 1 µs);
/// - `touch(..)`: reads its arguments, returns an 8-byte zero (cost: 1 µs);
/// - `sleep(arg)`: returns the arg's first word after 1 ns per input byte (see [`sleeper`]);
/// - `fail`: always fails; `boom`: panics.
pub fn basic_registry() -> Registry {
    let mut r = Registry::new();
    r.function("make", CostModel::fixed(1_000), |_, args: &[Payload]| {
        let size = word(&args[0])?;
        Ok(vec![Payload::modeled(&b""[..], size)])
    })
    .unwrap();
    r.function("touch", CostModel::fixed(1_000), |_, _: &[Payload]| {
        Ok(vec![Payload::from_u64(0)])
    })
    .unwrap();
    r.function(
        "sleep",
        CostModel {
            fixed_ns: 0,
            per_input_byte_ps: 1_000,
            per_output_byte_ps: 0,
            ..CostModel::default()
        },
        |_, args: &[Payload]| Ok(vec![Payload::from_u64(word(&args[0])?)]),
    )
    .unwrap();
    r.function("fail", CostModel::fixed(10), |_, _: &[Payload]| {
        Err("no good".to_string())
    })
    .unwrap();
    r.function(
        "boom",
        CostModel::fixed(10),
        |_: &mut TaskContext, _: &[Payload]| panic!("kaboom"),
    )
    .unwrap();
    r.function(
        "boom_silently",
        CostModel::fixed(10),
        |_: &mut TaskContext, _: &[Payload]| std::panic::panic_any(7_u32),
    )
    .unwrap();
    r
}

/// An inline argument that makes `sleep` take `ns` nanoseconds and return `value`.
pub fn sleeper(value: u64, ns: u64) -> Payload {
    Payload::modeled(bytes_of(value), ns.saturating_sub(8))
}

fn bytes_of(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}
