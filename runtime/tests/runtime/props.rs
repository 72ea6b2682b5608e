//! Invariants that must hold for every random task graph under random placement.

use crate::common::{Seeded, spec};
use cohort_runtime::{Cluster, CostModel, Payload, Registry, Task, TaskArg};
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
    prop::collection::vec(
        (
            0u64..1000,
            prop::collection::vec(any::<prop::sample::Index>(), 0..4),
            0u64..50_000,
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

fn registry() -> Registry {
    let mut r = Registry::new();
    r.function(
        "sum",
        CostModel {
            fixed_ns: 1_000,
            per_input_byte_ps: 100,
            per_output_byte_ps: 100,
        },
        |_, args: &[Payload]| {
            let header = args[0].as_i64s();
            let (k, size) = (header[0] as u64, header[1] as u64);
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
