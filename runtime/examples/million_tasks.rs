//! Runs 1,000,000 trivial tasks on a 5-node virtual cluster and reports throughput and the
//! process's peak resident memory (Linux only: read from /proc/self/status).
//!
//! `cargo run --release -p cohort-runtime --example million_tasks [-- TASKS [BATCH]]`
//!
//! BATCH tasks are submitted, then run to completion, and so on; a BATCH equal to TASKS
//! submits everything up front (the worst case for memory).

#![allow(clippy::print_stdout)]

use cohort_runtime::policy::{NodeId, Placement, PlacementView, Policy};
use cohort_runtime::{
    Cluster, ClusterConfig, ClusterSpec, CostModel, NetworkSpec, NodeSpec, Payload, Registry, Task,
    TraceLevel,
};
use std::time::Instant;

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

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let tasks: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let batch: u64 = args.next().map_or(Ok(tasks), |a| a.parse())?;
    let mut r = Registry::new();
    let noop = r.function("noop", CostModel::fixed(1_000), |_, _: &[Payload]| {
        Ok(vec![Payload::default()])
    })?;
    let mut c = Cluster::new(
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
        Box::new(RoundRobin(0)),
        ClusterConfig {
            trace: TraceLevel::Off,
            ..Default::default()
        },
    )?;
    let before = peak_rss_kib();
    let start = Instant::now();
    let mut done = 0;
    while done < tasks {
        let n = batch.min(tasks - done);
        for _ in 0..n {
            drop(c.submit(Task::new(noop))?);
        }
        c.run_until_idle()?;
        done += n;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{tasks} tasks in batches of {batch}: {secs:.3} s wall, {:.0} tasks/s, virtual time {:.3} s",
        tasks as f64 / secs,
        c.now() as f64 / 1e9
    );
    if let (Some(b), Some(a)) = (before, peak_rss_kib()) {
        println!(
            "peak RSS: {:.1} MiB (before the run: {:.1} MiB)",
            a as f64 / 1024.0,
            b as f64 / 1024.0
        );
    }
    Ok(())
}
