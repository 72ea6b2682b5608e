//! Runtime benchmarks: trivial task throughput, actor calls and gets on the virtual clock; the
//! object store's put, get and eviction; the fluid network's fair-share recomputation; the
//! chunked transport's transfers; and the real clock's round trip and throughput.

use cohort_runtime::core::store::ObjectStore;
use cohort_runtime::core::transport::chunked::ChunkedTransport;
use cohort_runtime::core::transport::fluid::FluidTransport;
use cohort_runtime::core::transport::{Outbox, TransferRequest, Transport, TransportEvent};
use cohort_runtime::policy::{Hints, NodeId, ObjectId, Placement, PlacementView, Policy};
use cohort_runtime::{
    ActorKind, Call, ChunkedSpec, Clock, Cluster, ClusterConfig, ClusterSpec, CostModel, Nanos,
    NetworkSpec, NodeSpec, Payload, Registry, Task, TraceLevel, WaitMode,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::BTreeSet;
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
    cluster_on(trace, Clock::Virtual)
}

fn cluster_on(trace: TraceLevel, clock: Clock) -> Cluster {
    let mut r = Registry::new();
    r.function("noop", CostModel::fixed(1_000), |_, _: &[Payload]| {
        Ok(vec![Payload::default()])
    })
    .expect("fresh registry");
    r.actor(ActorKind::new("Counter", |_, _| Ok(0u64)).method(
        "add",
        CostModel::fixed(1_000),
        |n: &mut u64, _, _| {
            *n += 1;
            Ok(vec![Payload::default()])
        },
    ))
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
                transport: Default::default(),
                inline_max: None,
                nic_limits: Default::default(),
            },
        ),
        r,
        Box::new(RoundRobin::default()),
        ClusterConfig {
            trace,
            clock,
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
            let mut net = FluidTransport::new(nodes, 1_000_000_000, 0);
            let mut out = Outbox::default();
            let pair = |i: u64| {
                let from = (i * 7919) % nodes as u64;
                let to = (from + 1 + (i * 104_729) % (nodes as u64 - 1)) % nodes as u64;
                (NodeId(from as u32), NodeId(to as u32))
            };
            let request = |i: u64, size: u64| {
                let (from, to) = pair(i);
                TransferRequest {
                    object: ObjectId(i),
                    from,
                    to,
                    size,
                    setup: 0,
                }
            };
            // Fires the wake-ups due now (time stays 0) until none is left.
            let settle = |net: &mut FluidTransport, out: &mut Outbox| {
                loop {
                    let mut due = None;
                    for w in out.drain_wakes() {
                        if w.at == 0 {
                            due = Some(w.token);
                        }
                    }
                    let Some(token) = due else { break };
                    net.wake(token, 0, out);
                    let events = out.take_events();
                    black_box(&events);
                    out.recycle_events(events);
                }
            };
            for i in 0..flows {
                net.start(request(i, u64::MAX / 4), 0, &mut out);
            }
            settle(&mut net, &mut out);
            let mut i = flows;
            b.iter(|| {
                net.start(request(i, 0), 0, &mut out);
                settle(&mut net, &mut out);
                i += 1;
            });
        });
    }
    g.finish();
}

fn chunked_transport(c: &mut Criterion) {
    const TRANSFERS: u64 = 1_000;
    const NODES: u64 = 5;
    const SIZE: u64 = 16_000_000;
    // Random (from, to) pairs from a fixed seed (SplitMix64), asked for one every 100 µs.
    let mut seed = 7u64;
    let mut next = || {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let requests: Vec<(Nanos, TransferRequest)> = (0..TRANSFERS)
        .map(|i| {
            let from = next() % NODES;
            let to = (from + 1 + next() % (NODES - 1)) % NODES;
            let request = TransferRequest {
                object: ObjectId(i),
                from: NodeId(from as u32),
                to: NodeId(to as u32),
                size: SIZE,
                setup: 0,
            };
            (i * 100_000, request)
        })
        .collect();
    let mut g = c.benchmark_group("chunked_transport");
    g.throughput(Throughput::Elements(TRANSFERS));
    g.bench_function("16MB_objects_5_nodes", |b| {
        b.iter(|| {
            // Ray v0.6 on 4-CPU nodes with 10 Gbit/s NICs and 100 µs of latency; its wake-ups
            // in a timer queue ordered by (time, order of asking), as the core keeps them.
            let mut t = ChunkedTransport::new(
                NODES as usize,
                1_250_000_000,
                100_000,
                ChunkedSpec::ray_v0_6(4),
            );
            let mut out = Outbox::default();
            let mut timers: BTreeSet<(Nanos, u64, u64)> = BTreeSet::new();
            let (mut asked, mut arrived, mut k) = (0u64, 0u64, 0usize);
            loop {
                for w in out.drain_wakes() {
                    asked += 1;
                    timers.insert((w.at, asked, w.token));
                }
                let events = out.take_events();
                arrived += events
                    .iter()
                    .filter(|e| matches!(e, TransportEvent::Arrived(_)))
                    .count() as u64;
                out.recycle_events(events);
                let timer = timers.first().copied();
                match (requests.get(k), timer) {
                    (Some(&(at, request)), timer) if timer.is_none_or(|(t, _, _)| at <= t) => {
                        t.start(request, at, &mut out);
                        k += 1;
                    }
                    (_, Some(first)) => {
                        timers.remove(&first);
                        t.wake(first.2, first.0, &mut out);
                    }
                    (_, None) => break,
                }
            }
            assert_eq!(arrived, TRANSFERS);
            black_box(arrived)
        });
    });
    g.finish();
}

fn actor_calls(c: &mut Criterion) {
    const BATCH: u64 = 10_000;
    let mut g = c.benchmark_group("actor_calls_virtual");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("one_actor", |b| {
        let mut cl = cluster(TraceLevel::Off);
        let kind = cl.actor_kind("Counter").expect("registered");
        let add = cl.method(kind, "add").expect("registered");
        let actor = cl.create_actor(kind, vec![], Hints::NONE).expect("created");
        b.iter(|| {
            for _ in 0..BATCH {
                drop(cl.call(&actor, Call::new(add)).expect("call"));
            }
            cl.run_until_idle().expect("runs");
        });
    });
    g.finish();
}

fn gets(c: &mut Criterion) {
    c.bench_function("get_finished_object", |b| {
        let mut cl = cluster(TraceLevel::Off);
        let noop = cl.function("noop").expect("registered");
        let out = cl.submit(Task::new(noop)).expect("submit").remove(0);
        cl.get(&out).expect("runs");
        b.iter(|| black_box(cl.get(&out).expect("ready")));
    });
}

fn store(c: &mut Criterion) {
    let mut g = c.benchmark_group("object_store");
    g.bench_function("put_then_remove", |b| {
        let mut s = ObjectStore::new(1 << 30);
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            s.insert_sealed(ObjectId(i), 1 << 20);
            black_box(s.remove(ObjectId(i)));
        });
    });
    g.bench_function("get_touch", |b| {
        let mut s = ObjectStore::new(1 << 30);
        for i in 0..1_000 {
            s.insert_sealed(ObjectId(i), 1 << 10);
        }
        let mut i = 0u64;
        b.iter(|| {
            i = (i + 7) % 1_000;
            black_box(s.has_sealed(ObjectId(i)));
            s.touch(ObjectId(i));
        });
    });
    for full in [100u64, 1_000] {
        g.bench_with_input(
            BenchmarkId::new("evict_for_put_in_full_store", full),
            &full,
            |b, &full| {
                // A store exactly full of `full` unpinned objects; each put evicts the least
                // recently used one.
                let mut s = ObjectStore::new(full << 20);
                for i in 0..full {
                    s.insert_sealed(ObjectId(i), 1 << 20);
                }
                let mut next = full;
                b.iter(|| {
                    let plan = s.plan_room(1 << 20, |o| o.0 % 2 == 0).expect("room");
                    for e in &plan {
                        s.remove(e.object);
                    }
                    s.insert_sealed(ObjectId(next), 1 << 20);
                    next += 1;
                });
            },
        );
    }
    g.finish();
}

fn real_clock(c: &mut Criterion) {
    let real = Clock::Real {
        add_modeled: false,
        workers: 2,
    };
    let mut g = c.benchmark_group("real_clock");
    g.bench_function("task_round_trip", |b| {
        let mut cl = cluster_on(TraceLevel::Off, real);
        let noop = cl.function("noop").expect("registered");
        b.iter(|| {
            let out = cl.submit(Task::new(noop)).expect("submit").remove(0);
            black_box(cl.get(&out).expect("runs"));
        });
    });
    const BATCH: u64 = 1_000;
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("task_throughput", |b| {
        let mut cl = cluster_on(TraceLevel::Off, real);
        let noop = cl.function("noop").expect("registered");
        b.iter(|| {
            let outs: Vec<_> = (0..BATCH)
                .map(|_| cl.submit(Task::new(noop)).expect("submit").remove(0))
                .collect();
            black_box(cl.wait(&outs, WaitMode::All, None).expect("runs"));
        });
    });
    g.finish();
}

criterion_group!(
    benches,
    trivial_tasks,
    actor_calls,
    gets,
    store,
    fair_shares,
    chunked_transport,
    real_clock
);
criterion_main!(benches);
