//! End to end: virtual seconds simulated per wall second for the streaming workload, at the
//! write-up's 5 nodes and at 1,000 nodes (stage width scaled to nodes x CPUs).

use cohort_policy::Policy;
use cohort_policy_group::GroupPolicy;
use cohort_policy_random::RandomPolicy;
use cohort_runtime::{Clock, Cluster, Trace};
use cohort_workloads::{End, Resolved, SHIPPED, Workload, cluster_config, drive, registry};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::time::Duration;

fn streaming(nodes: usize, sets: &[(&str, &str)], virtual_s: u64) -> Resolved {
    let w = Workload::parse("streaming.toml", SHIPPED[0].1).expect("shipped workload parses");
    let o: BTreeMap<String, String> = sets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut r = w.resolve(&o).expect("shipped workload resolves");
    let node = r.spec.nodes[0];
    r.spec.nodes = vec![node; nodes];
    r.schedule.end = End::Duration(virtual_s * 1_000_000_000);
    r.schedule.warmup = 0;
    r
}

/// streaming-ray-v0.6.toml with `sets`, for `virtual_s` virtual seconds, no warm-up.
fn ray_v0_6(sets: &[(&str, &str)], virtual_s: u64) -> Resolved {
    let w = Workload::parse("streaming-ray-v0.6.toml", cohort_workloads::RAY_V0_6.1)
        .expect("shipped workload parses");
    let o: BTreeMap<String, String> = sets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut r = w.resolve(&o).expect("shipped workload resolves");
    r.schedule.end = End::Duration(virtual_s * 1_000_000_000);
    r.schedule.warmup = 0;
    r
}

/// One run, recording into `spare` (the last run's trace), as a sweep's worker does; leaves
/// this run's trace there for the next.
fn run(w: &Resolved, policy: Box<dyn Policy>, spare: &mut Trace) {
    let mut c = Cluster::new(
        w.spec.clone(),
        registry(w).expect("registers"),
        policy,
        cluster_config(w, Clock::Virtual),
    )
    .expect("valid cluster");
    c.recycle_trace(std::mem::take(spare));
    drive(w, &mut c, &mut |_| {}).expect("runs");
    *spare = c.take_trace();
}

fn end_to_end(c: &mut Criterion) {
    let mut g = c.benchmark_group("streaming_virtual_seconds");
    g.sample_size(10);
    // 5 nodes: the write-up's cluster, 20 virtual seconds per iteration, at the workload's
    // default size (7.63 MiB) and at the write-up's largest (15.26 MiB, the most transfers).
    g.throughput(Throughput::Elements(20));
    for (size, label) in [
        ("7.63MiB", "5_nodes_7.63MiB"),
        ("16000000B", "5_nodes_15.26MiB"),
    ] {
        let five = streaming(5, &[("data_size", size)], 20);
        for name in ["random", "group"] {
            g.bench_with_input(BenchmarkId::new(name, label), &five, |b, w| {
                let mut spare = Trace::default();
                b.iter(|| run(w, policy(name), &mut spare));
            });
        }
    }
    // The same at 15.26 MiB with Ray v0.6's chunked transport (1 MB chunks, one send and one
    // receive thread per node, FIFO per sender) instead of the fluid model, and on the whole
    // model of Ray v0.6 (streaming-ray-v0.6.toml: where random collapses into rebuilding).
    let chunked = streaming(
        5,
        &[("data_size", "16000000B"), ("cluster.transport", "chunked")],
        20,
    );
    let ray = ray_v0_6(&[("data_size", "16000000B")], 20);
    for name in ["random", "group"] {
        g.bench_with_input(
            BenchmarkId::new(name, "5_nodes_15.26MiB_chunked"),
            &chunked,
            |b, w| {
                let mut spare = Trace::default();
                b.iter(|| run(w, policy(name), &mut spare))
            },
        );
        g.bench_with_input(
            BenchmarkId::new(name, "5_nodes_15.26MiB_ray_v0.6"),
            &ray,
            |b, w| {
                let mut spare = Trace::default();
                b.iter(|| run(w, policy(name), &mut spare))
            },
        );
    }
    // 1,000 nodes, 4,000-wide stages, 10 virtual seconds. 1 MiB per batch and a live view:
    // with 7.63 MiB and 100 ms staleness the broadcast node's store overflows (see
    // BENCHMARKS.md), which would measure a failure, not the simulator.
    let big = streaming(
        1_000,
        &[
            ("data_size", "1MiB"),
            ("width", "4000"),
            ("heartbeat", "0ms"),
        ],
        10,
    );
    g.throughput(Throughput::Elements(10));
    g.measurement_time(Duration::from_secs(60));
    for name in ["random", "group"] {
        g.bench_with_input(BenchmarkId::new(name, "1000_nodes"), &big, |b, w| {
            let mut spare = Trace::default();
            b.iter(|| run(w, policy(name), &mut spare));
        });
    }
    g.finish();
}

fn policy(name: &str) -> Box<dyn Policy> {
    match name {
        "random" => Box::new(RandomPolicy::new(1)),
        _ => Box::new(GroupPolicy::new(1)),
    }
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
