//! Invariants that must hold for every random task graph under random placement.

use crate::common::{Seeded, spec};
use cohort_runtime::policy::{NodeId, Placement, PlacementView, Policy};
use cohort_runtime::{
    Cluster, CostModel, Fault, FaultKind, FaultScript, Payload, Recovery, Registry, Spilling, Task,
    TaskArg,
};
use proptest::prelude::*;

/// One task of a random graph: a constant, the indices of earlier tasks it reads, and the
/// modeled size of its output.
#[derive(Clone, Debug)]
struct Node {
    constant: u64,
    inputs: Vec<usize>,
    out_size: u64,
}

fn graph() -> impl Strategy<Value = Vec<Node>> {
    graph_of(50_000)
}

/// Random graphs whose outputs are below `max_size` bytes.
fn graph_of(max_size: u64) -> impl Strategy<Value = Vec<Node>> {
    prop::collection::vec(
        (
            0u64..1000,
            prop::collection::vec(any::<prop::sample::Index>(), 0..4),
            0u64..max_size,
        ),
        1..40,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (constant, picks, out_size))| Node {
                constant,
                inputs: if i == 0 {
                    vec![]
                } else {
                    picks.iter().map(|p| p.index(i)).collect()
                },
                out_size,
            })
            .collect()
    })
}

/// `sum(header, inputs...)`: the header's constant plus the inputs' first words, with an
/// output of the header's size; the header's optional third value, if any, is recorded as a
/// datapoint's tag.
fn registry() -> Registry {
    let mut r = Registry::new();
    r.function(
        "sum",
        CostModel {
            fixed_ns: 1_000,
            per_input_byte_ps: 100,
            per_output_byte_ps: 100,
            ..CostModel::default()
        },
        |ctx, args: &[Payload]| {
            let header = args[0].as_i64s();
            let (k, size) = (header[0] as u64, header[1] as u64);
            if let Some(&tag) = header.get(2) {
                ctx.record_arrival(tag as u64, 0);
            }
            let total = args[1..]
                .iter()
                .map(|a| a.as_u64().unwrap_or(0))
                .fold(k, u64::wrapping_add);
            Ok(vec![Payload::modeled(total.to_le_bytes().to_vec(), size)])
        },
    )
    .unwrap();
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_graphs_compute_exactly_and_leave_nothing_behind(
        g in graph(),
        nodes in 1usize..5,
        cpus in 1u32..4,
        latency in 0u64..2_000,
        seed in any::<u64>(),
    ) {
        let mut c = Cluster::new(
            spec(nodes, cpus, 1 << 30, latency),
            registry(),
            Box::new(Seeded(seed)),
            Default::default(),
        ).unwrap();
        let f = c.function("sum").unwrap();
        let mut expected: Vec<u64> = Vec::new();
        let mut refs = Vec::new();
        for n in &g {
            let header = Payload::from_i64s(&[n.constant as i64, n.out_size as i64]);
            let args: Vec<TaskArg> = std::iter::once(TaskArg::Value(header))
                .chain(n.inputs.iter().map(|i| TaskArg::from(&refs[*i])))
                .collect();
            refs.push(c.submit(Task::new(f).args(args)).unwrap().remove(0));
            expected.push(n.inputs.iter().map(|i| expected[*i]).fold(n.constant, u64::wrapping_add));
        }
        for (r, want) in refs.iter().zip(&expected) {
            prop_assert_eq!(c.get(r).unwrap().as_u64(), Some(*want));
        }
        drop(refs);
        c.run_until_idle().unwrap();
        prop_assert_eq!(c.live_objects(), 0);
        prop_assert_eq!(c.live_tasks(), 0);
        prop_assert_eq!(c.transfers_in_flight(), 0);
        for n in c.nodes() {
            prop_assert_eq!((n.cpus_busy, n.queued, n.store_used), (0, 0, 0));
        }
        let trace = c.take_trace();
        // Every task's timeline is ordered, and no node ever runs more than its CPUs.
        let mut events: Vec<(u32, u64, i32)> = Vec::new();
        for t in &trace.tasks {
            prop_assert!(t.submitted <= t.args_local && t.args_local <= t.started && t.started <= t.finished);
            prop_assert!(t.ok);
            events.push((t.node.0, t.started, 1));
            events.push((t.node.0, t.finished, -1));
        }
        events.sort_by_key(|&(node, at, delta)| (node, at, delta));
        let mut running = std::collections::BTreeMap::<u32, i32>::new();
        for (node, _, delta) in events {
            let r = running.entry(node).or_default();
            *r += delta;
            prop_assert!(*r <= cpus as i32);
        }
        // No transfer beats latency plus size at full bandwidth (1 byte/ns).
        for t in &trace.transfers {
            prop_assert!(t.finished - t.requested >= latency + t.bytes);
            prop_assert_eq!(t.flowing - t.requested, latency);
        }
    }
}

/// Uniform over the nodes the view shows alive, from a seeded SplitMix64 stream.
struct SeededAlive(u64);

impl Policy for SeededAlive {
    fn name(&self) -> &str {
        "seeded-alive"
    }
    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        let alive: Vec<NodeId> = view
            .nodes
            .iter()
            .filter(|n| n.alive)
            .map(|n| n.id)
            .collect();
        if alive.is_empty() {
            return Placement::Refuse("no node is alive".into());
        }
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Placement::Node(alive[(z % alive.len() as u64) as usize])
    }
}

/// Kills of nodes other than node 0 (the driver's): `(node, at, restarts after)`, at most one
/// per node.
fn kills(nodes: usize) -> impl Strategy<Value = Vec<(u32, u64, Option<u64>)>> {
    prop::collection::vec(
        (
            1..nodes.max(2) as u32,
            0u64..5_000_000,
            prop::option::of(1u64..5_000_000),
        ),
        0..3,
    )
    .prop_map(move |mut k| {
        k.retain(|(n, _, _)| (*n as usize) < nodes);
        k.sort_by_key(|(n, _, _)| *n);
        k.dedup_by_key(|(n, _, _)| *n);
        k
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random graphs under store pressure, with random nodes killed at random times (some
    /// coming back), spilling on or off, reconstruction on: every task's result is exact, every
    /// task records its datapoint exactly once, nothing fails, and nothing is left behind.
    #[test]
    fn random_kills_lose_no_result_and_repeat_no_datapoint(
        g in graph_of(250_000),
        (nodes, kills) in (2usize..6).prop_flat_map(|n| (Just(n), kills(n))),
        spilling in any::<bool>(),
        seed in any::<u64>(),
    ) {
        killing_run(&g, nodes, &kills, spilling, seed)?;
    }
}

/// One case of [`random_kills_lose_no_result_and_repeat_no_datapoint`].
fn killing_run(
    g: &[Node],
    nodes: usize,
    kills: &[(u32, u64, Option<u64>)],
    spilling: bool,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut s = spec(nodes, 2, 2_000_000, 1_000);
    s.faults = FaultScript::new(
        kills
            .iter()
            .map(|&(node, at, back)| Fault {
                kind: FaultKind::Kill { node: NodeId(node) },
                at,
                until: back.map(|b| at + b),
            })
            .collect(),
        nodes,
    )
    .unwrap();
    s.recovery = Recovery {
        heartbeat_period: 1_000_000,
        missed_heartbeats: 3,
        task_retries: 1_000,
        ..Recovery::default()
    };
    s.spilling = spilling.then_some(Spilling {
        disk_bandwidth: 1_000_000_000,
    });
    let mut c = Cluster::new(
        s,
        registry(),
        Box::new(SeededAlive(seed)),
        Default::default(),
    )
    .unwrap();
    let f = c.function("sum").unwrap();
    let mut expected: Vec<u64> = Vec::new();
    let mut refs = Vec::new();
    for (i, n) in g.iter().enumerate() {
        let header = Payload::from_i64s(&[n.constant as i64, n.out_size as i64, i as i64]);
        let args: Vec<TaskArg> = std::iter::once(TaskArg::Value(header))
            .chain(n.inputs.iter().map(|i| TaskArg::from(&refs[*i])))
            .collect();
        refs.push(c.submit(Task::new(f).args(args)).unwrap().remove(0));
        expected.push(
            n.inputs
                .iter()
                .map(|i| expected[*i])
                .fold(n.constant, u64::wrapping_add),
        );
    }
    for (r, want) in refs.iter().zip(&expected) {
        prop_assert_eq!(c.get(r).unwrap().as_u64(), Some(*want));
    }
    drop(refs);
    c.run_until_idle().unwrap();
    prop_assert_eq!(c.first_failure(), None);
    prop_assert_eq!(c.live_objects(), 0);
    prop_assert_eq!(c.live_tasks(), 0);
    prop_assert_eq!(c.transfers_in_flight(), 0);
    for n in c.nodes() {
        prop_assert_eq!((n.cpus_busy, n.queued, n.store_used), (0, 0, 0));
    }
    let trace = c.take_trace();
    let mut tags: Vec<u64> = trace.datapoints.iter().map(|d| d.tag).collect();
    tags.sort_unstable();
    prop_assert_eq!(tags, (0..g.len() as u64).collect::<Vec<_>>());
    Ok(())
}

/// A case that once went round for ever: a task whose arguments, fetched again after an
/// eviction, evicted each other in turn.
#[test]
fn arguments_fetched_again_under_pressure_do_not_evict_each_other_for_ever() {
    let g: Vec<Node> = [
        (305, vec![], 114350),
        (395, vec![0, 0, 0], 184793),
        (965, vec![], 57917),
        (272, vec![], 240990),
        (557, vec![1, 1], 68009),
        (35, vec![4], 236136),
        (401, vec![2, 5, 4], 212494),
        (805, vec![6, 6], 232084),
        (170, vec![6], 54271),
        (232, vec![4], 163481),
        (656, vec![], 156717),
        (199, vec![6, 7, 4], 73000),
        (894, vec![6, 7, 0], 62929),
        (976, vec![], 95553),
        (548, vec![], 161216),
        (904, vec![6, 7, 3], 215191),
        (26, vec![], 197703),
        (328, vec![14, 11, 0], 105355),
        (677, vec![14, 2, 6], 181616),
        (845, vec![3, 7, 6], 179833),
        (448, vec![14, 12], 215450),
        (264, vec![17], 230125),
        (178, vec![], 46892),
        (501, vec![], 210874),
        (393, vec![18], 151747),
        (259, vec![13, 10, 20], 225944),
        (462, vec![], 16786),
        (417, vec![], 24440),
        (394, vec![23, 16, 24], 103173),
        (343, vec![10, 11], 206113),
        (719, vec![19, 23, 26], 34102),
        (695, vec![9, 9, 16], 214061),
        (487, vec![2, 16], 203945),
        (422, vec![7, 13], 33053),
        (361, vec![9, 14, 10], 44832),
        (371, vec![22], 42127),
        (411, vec![24], 158387),
    ]
    .into_iter()
    .map(|(constant, inputs, out_size)| Node {
        constant,
        inputs,
        out_size,
    })
    .collect();
    killing_run(
        &g,
        3,
        &[(1, 3_334_355, None)],
        true,
        14_776_478_545_569_765_910,
    )
    .unwrap();
}
