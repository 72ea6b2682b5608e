//! Runtime benchmarks on the virtual clock: trivial task throughput, and the fluid network's
//! fair-share recomputation.

use cohort_runtime::core::network::Network;
use cohort_runtime::policy::{NodeId, ObjectId, Placement, PlacementView, Policy};
use cohort_runtime::{
    Cluster, ClusterConfig, ClusterSpec, CostModel, NetworkSpec, NodeSpec, Payload, Registry, Task,
    TraceLevel,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// Cycles through the nodes: the cheapest possible placement, so that the benchmark measures
/// the runtime rather than a policy.
#[derive(Default)]
struct RoundRobin(u32);

impl Policy for RoundRobin {
    fn name(&self) -> &str {
        "round-robin"
    }
    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        self.0 = (self.0 + 1) % view.nodes.len() as u32;
        Placement::Node(NodeId(self.0))
    }
}

fn cluster(trace: TraceLevel) -> Cluster {
    let mut r = Registry::new();
    r.function("noop", CostModel::fixed(1_000), |_, _: &[Payload]| {
        Ok(vec![Payload::default()])
    })
    .expect("fresh registry");
    Cluster::new(
        ClusterSpec::uniform(
            5,
            NodeSpec {
                cpus: 4,
                store_capacity: 16 << 30,
            },
            NetworkSpec {
                nic_bandwidth: 1_250_000_000,
                latency: 100_000,
            },
        ),
        r,
        Box::new(RoundRobin::default()),
        ClusterConfig {
            trace,
            ..Default::default()
        },
    )
    .expect("valid cluster")
}

fn trivial_tasks(c: &mut Criterion) {
    const BATCH: u64 = 10_000;
    let mut g = c.benchmark_group("trivial_tasks_5_nodes");
    g.throughput(Throughput::Elements(BATCH));
    for (name, trace) in [
        ("trace_off", TraceLevel::Off),
        ("trace_full", TraceLevel::Full),
    ] {
        g.bench_function(name, |b| {
            let mut cl = cluster(trace);
            let noop = cl.function("noop").expect("registered");
            b.iter(|| {
                for _ in 0..BATCH {
                    drop(cl.submit(Task::new(noop)).expect("submit"));
                }
                cl.run_until_idle().expect("runs");
                black_box(cl.take_trace());
            });
        });
    }
    g.finish();
}

fn fair_shares(c: &mut Criterion) {
    let mut g = c.benchmark_group("network_recompute");
    for flows in [10u64, 100, 1_000] {
        let nodes = (flows as usize).max(10);
        g.bench_with_input(BenchmarkId::from_parameter(flows), &flows, |b, &flows| {
            // `flows` transfers in flight between pseudo-random pairs; each iteration starts
            // and completes one more, which costs two recomputations.
            let mut net = Network::new(nodes, 1_000_000_000);
            let pair = |i: u64| {
                let from = (i * 7919) % nodes as u64;
                let to = (from + 1 + (i * 104_729) % (nodes as u64 - 1)) % nodes as u64;
                (NodeId(from as u32), NodeId(to as u32))
            };
            for i in 0..flows {
                let (from, to) = pair(i);
                let id = net.start(ObjectId(i), from, to, u64::MAX / 4, 0);
                net.begin_flow(id, 0);
            }
            let mut i = flows;
            b.iter(|| {
                let (from, to) = pair(i);
                let id = net.start(ObjectId(i), from, to, 0, 0);
                let wake = net.begin_flow(id, 0).expect("a flow is in flight");
                black_box(net.wake(wake));
                i += 1;
            });
        });
    }
    g.finish();
}

criterion_group!(benches, trivial_tasks, fair_shares);
criterion_main!(benches);
