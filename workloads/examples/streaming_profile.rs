//! Runs the shipped streaming workload in-process, several times, and reports wall time per
//! run and virtual seconds per wall second: the end-to-end benchmark as a plain program, for
//! profilers (`perf record`, `valgrind --tool=callgrind`) and quick comparisons.
//!
//! ```text
//! cargo run --release -p cohort-workloads --example streaming_profile -- \
//!     [random|group] [DATA_SIZE] [NODES] [VIRTUAL_SECONDS] [REPS] [OPTIONS]
//! ```
//!
//! Defaults: `random 16000000B 5 20 10`. With more than 5 nodes the stage width scales to
//! 4 per node and the view is live (as in `benches/streaming.rs`). OPTIONS, comma-separated:
//! `spill` (stores spill to disk), `quiet` (no per-task records, as a long run at scale
//! needs: the full trace of a 10,000-node run takes gigabytes), `no-lineage` (lost objects
//! are not rebuilt, and no lineage is kept), `fresh` (each run grows its trace from nothing,
//! as a run in a new process does, instead of recording into the last run's).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use cohort_policy::Policy;
use cohort_policy_group::GroupPolicy;
use cohort_policy_random::RandomPolicy;
use cohort_runtime::{Clock, Cluster, Trace};
use cohort_workloads::{End, SHIPPED, Workload, cluster_config, drive, registry};
use std::collections::BTreeMap;
use std::time::Instant;

fn main() {
    if let Err(e) = run() {
        eprintln!("streaming_profile: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.to_string());
    let number = |i: usize, default: &str| -> Result<u64, String> {
        let text = arg(i, default);
        text.parse()
            .map_err(|_| format!("argument {} must be a number, not `{text}`", i + 1))
    };
    let policy = arg(0, "random");
    let size = arg(1, "16000000B");
    let nodes = number(2, "5")? as usize;
    let seconds = number(3, "20")?;
    let reps = number(4, "10")?.max(1);
    let options = arg(5, "");
    let options: Vec<&str> = options.split(',').filter(|o| !o.is_empty()).collect();
    if let Some(o) = options
        .iter()
        .find(|o| !["spill", "quiet", "no-lineage", "fresh"].contains(o))
    {
        return Err(format!(
            "unknown option `{o}` (options: spill, quiet, no-lineage, fresh)"
        ));
    }
    if policy != "random" && policy != "group" {
        return Err(format!(
            "policy must be `random` or `group`, not `{policy}`"
        ));
    }

    let workload = Workload::parse("streaming.toml", SHIPPED[0].1).map_err(|e| e.to_string())?;
    let mut sets = BTreeMap::from([("data_size".to_string(), size.clone())]);
    if nodes > 5 {
        sets.insert("width".to_string(), (4 * nodes).to_string());
        sets.insert("heartbeat".to_string(), "0ms".to_string());
    }
    if options.contains(&"spill") {
        sets.insert("cluster.spilling".to_string(), "true".to_string());
    }
    if options.contains(&"no-lineage") {
        sets.insert("recovery.reconstruction".to_string(), "false".to_string());
    }
    let mut w = workload.resolve(&sets).map_err(|e| e.to_string())?;
    let node = w.spec.nodes[0];
    w.spec.nodes = vec![node; nodes];
    w.schedule.end = End::Duration(seconds * 1_000_000_000);
    w.schedule.warmup = 0;

    let mut walls = Vec::new();
    let mut counters = Default::default();
    // Each run records into the last one's trace, as a sweep's worker does.
    let mut spare = Trace::default();
    for _ in 0..reps {
        let p: Box<dyn Policy> = match policy.as_str() {
            "random" => Box::new(RandomPolicy::new(1)),
            _ => Box::new(GroupPolicy::new(1)),
        };
        let mut config = cluster_config(&w, Clock::Virtual);
        if options.contains(&"quiet") {
            config.trace = cohort_runtime::TraceLevel::Off;
        }
        let reg = registry(&w).map_err(|e| e.to_string())?;
        let mut cluster =
            Cluster::new(w.spec.clone(), reg, p, config).map_err(|e| e.to_string())?;
        let start = Instant::now();
        cluster.recycle_trace(std::mem::take(&mut spare));
        drive(&w, &mut cluster, &mut |_| {}).map_err(|e| e.to_string())?;
        walls.push(start.elapsed().as_secs_f64());
        counters = cluster.counters();
        if !options.contains(&"fresh") {
            spare = cluster.take_trace();
        }
    }
    walls.sort_by(f64::total_cmp);
    let (min, median) = (walls[0], walls[walls.len() / 2]);
    println!(
        "{policy}, {size}, {nodes} nodes, {seconds} virtual s: min {:.1} ms, median {:.1} ms \
         over {reps} runs ({:.0}x / {:.0}x real time)",
        min * 1e3,
        median * 1e3,
        seconds as f64 / min,
        seconds as f64 / median
    );
    println!("counters of the last run: {counters:?}");
    Ok(())
}
