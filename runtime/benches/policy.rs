//! One placement decision per policy, called directly and through the C ABI, at 5, 100 and
//! 1,000 nodes.
//!
//! The view is a map task of the write-up's streaming example: one argument (a 15 MiB object
//! held by two nodes), a group dependency on a broadcast group placed on node 0, and nodes
//! with mixed load. The group policy is primed with that history; every decision is followed by
//! the `Placed` event the runtime would send, and by freeing the group every 20 decisions, so
//! its state stays that of a live iteration. Policies that want no events (random, locality)
//! are sent none, as in the runtime.

use cohort_policy::ffi::vtable;
use cohort_policy::{
    ArgState, ArgView, Dependency, GroupId, Hints, NodeId, NodeView, ObjectId, Placement,
    PlacementView, Policy, PolicyEvent, PolicyFactory, Resources, TaskId, WorkKind,
};
use cohort_policy_delay::DelayPolicy;
use cohort_policy_ees::EesPolicy;
use cohort_policy_group::GroupPolicy;
use cohort_policy_hybrid::HybridPolicy;
use cohort_policy_locality::LocalityPolicy;
use cohort_policy_p2c::P2cPolicy;
use cohort_policy_random::RandomPolicy;
use cohort_policy_spread::SpreadPolicy;
use cohort_runtime::plugin::Plugin;
use criterion::{Bencher, BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn nodes(n: usize) -> Vec<NodeView> {
    (0..n)
        .map(|i| NodeView {
            id: NodeId(i as u32),
            alive: true,
            cpus_total: 4,
            cpus_busy: (i % 5).min(4) as u32,
            queued: (i % 3) as u32,
            store_used: (i as u64 % 7) << 20,
            store_capacity: 4 << 30,
        })
        .collect()
}

const BROADCAST: GroupId = GroupId(1);
const MAPS: GroupId = GroupId(2);

/// Runs `decide` on the streaming map view, with the events the runtime would send.
/// `events`: what the policy answered to `wants_events`, asked once, as the runtime does.
fn decide(
    policy: &mut dyn Policy,
    events: bool,
    nodes: &[NodeView],
    holders: &[NodeId],
    task: u64,
) -> NodeId {
    let args = [ArgView {
        object: ObjectId(1),
        size: 16_000_000,
        state: ArgState::Ready,
        holders_start: 0,
        holders_len: holders.len() as u32,
        producer_node: NodeId(0),
    }];
    let index = (task % 20) as u32;
    let hints = Hints {
        group: MAPS,
        index,
        dependency: Dependency::Group(BROADCAST),
    };
    let view = PlacementView {
        task: TaskId(task),
        kind: WorkKind::Task,
        hints,
        demand: Resources { cpus: 1 },
        args: &args,
        holders,
        nodes,
        now_ns: task * 1000,
        view_time_ns: task * 1000,
        waited_ns: 0,
        may_defer: false,
    };
    let node = match policy.place(black_box(&view)) {
        Placement::Node(n) => n,
        Placement::Refuse(r) => panic!("refused: {r}"),
        Placement::Defer(w) => panic!("deferred for {w} ns, though the view may not wait"),
    };
    if events {
        policy.on_event(&PolicyEvent::Placed {
            task: TaskId(task),
            kind: WorkKind::Task,
            hints,
            node,
        });
        if index == 19 {
            policy.on_event(&PolicyEvent::GroupFreed(MAPS));
        }
    }
    node
}

fn prime(policy: &mut dyn Policy) {
    policy.on_event(&PolicyEvent::Placed {
        task: TaskId(0),
        kind: WorkKind::Task,
        hints: Hints {
            group: BROADCAST,
            index: 0,
            dependency: Dependency::None,
        },
        node: NodeId(0),
    });
}

/// Times decisions of a primed policy, asking `wants_events` once as the runtime does.
fn decisions_of(b: &mut Bencher<'_>, p: &mut dyn Policy, nodes: &[NodeView], holders: &[NodeId]) {
    prime(p);
    let events = p.wants_events();
    let mut task = 1;
    b.iter(|| {
        task += 1;
        decide(p, events, nodes, holders, task)
    });
}

fn bench_policy<P: PolicyFactory>(c: &mut Criterion, name: &str) {
    bench_configured::<P>(c, name, "");
}

/// As [`bench_policy`], the policy created with `config`, under the group name `name`.
fn bench_configured<P: PolicyFactory>(c: &mut Criterion, name: &str, config: &str) {
    let mut g = c.benchmark_group(format!("decision_{name}"));
    for n in [5usize, 100, 1_000] {
        let view_nodes = nodes(n);
        let holders = [NodeId(0), NodeId((n / 2) as u32)];
        g.bench_with_input(BenchmarkId::new("direct", n), &n, |b, _| {
            let mut p = P::create(config, 1).expect("creates");
            decisions_of(b, &mut p, &view_nodes, &holders);
        });
        g.bench_with_input(BenchmarkId::new("abi", n), &n, |b, _| {
            let plugin = Plugin::linked(name, vtable::<P>());
            let mut p = plugin.create(config, 1).expect("creates");
            decisions_of(b, &mut p, &view_nodes, &holders);
        });
    }
    g.finish();
}

fn decisions(c: &mut Criterion) {
    bench_policy::<RandomPolicy>(c, "random");
    bench_policy::<GroupPolicy>(c, "group");
    bench_policy::<LocalityPolicy>(c, "locality");
    bench_policy::<SpreadPolicy>(c, "spread");
    bench_policy::<HybridPolicy>(c, "hybrid");
    // Its worst case: the preferred node (no locality; node 4, 4 of 4 CPUs busy) is above the
    // threshold, so every node is scored and one of the top k drawn.
    bench_configured::<HybridPolicy>(c, "hybrid_scan", "locality = false\nlocal_node = 4");
    bench_policy::<P2cPolicy>(c, "p2c");
    bench_policy::<EesPolicy>(c, "ees");
    bench_policy::<DelayPolicy>(c, "delay");
}

criterion_group!(benches, decisions);
criterion_main!(benches);
