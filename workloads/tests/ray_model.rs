//! streaming-ray-v0.6.toml end to end: the same seed gives the same run, collapse included;
//! another seed another jitter; and under overload random placement rebuilds what its stores
//! evicted while group placement keeps up.

use cohort_policy_group::GroupPolicy;
use cohort_policy_random::RandomPolicy;
use cohort_runtime::policy::Policy;
use cohort_runtime::trace::Counters;
use cohort_runtime::{Clock, Cluster, ClusterConfig, Trace};
use cohort_workloads::{DriveReport, End, Resolved, Workload, cluster_config, drive, registry};
use std::collections::BTreeMap;

fn ray(sets: &[(&str, &str)], seconds: u64) -> Resolved {
    let w = Workload::parse("streaming-ray-v0.6.toml", cohort_workloads::RAY_V0_6.1).unwrap();
    let o: BTreeMap<String, String> = sets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut r = w.resolve(&o).unwrap();
    r.schedule.end = End::Duration(seconds * 1_000_000_000);
    r.schedule.warmup = 0;
    r
}

fn run(w: &Resolved, policy: Box<dyn Policy>, seed: u64) -> (Trace, Counters, DriveReport) {
    let mut c = Cluster::new(
        w.spec.clone(),
        registry(w).unwrap(),
        policy,
        ClusterConfig {
            seed,
            ..cluster_config(w, Clock::Virtual)
        },
    )
    .unwrap();
    let report = drive(w, &mut c, &mut |_| {}).unwrap();
    (c.take_trace(), c.counters(), report)
}

/// What a run did, to compare: every task's placement and times, every datapoint, the
/// counters and the report.
fn fingerprint(t: &(Trace, Counters, DriveReport)) -> String {
    let tasks: Vec<_> =
        t.0.tasks
            .iter()
            .map(|r| (r.task, r.node, r.started, r.finished))
            .collect();
    let points: Vec<_> =
        t.0.datapoints
            .iter()
            .map(|d| (d.ingest, d.arrival))
            .collect();
    format!("{tasks:?}{points:?}{:?}{:?}", t.1, t.2)
}

#[test]
fn the_same_seed_gives_the_same_run_even_through_a_collapse() {
    // 15.26 MiB for 8 s: random overloads the chunked transport, its stores evict what queued
    // work needs, and it rebuilds (after the 10 s pull timeout, within the drain).
    let w = ray(&[("data_size", "16000000B")], 8);
    let a = run(&w, Box::new(RandomPolicy::new(1)), 1);
    let b = run(&w, Box::new(RandomPolicy::new(1)), 1);
    assert_eq!(fingerprint(&a), fingerprint(&b));
    assert!(a.1.evictions > 0 && a.1.spilled_over > 0, "{:?}", a.1);
    // The jitter comes from the run's seed: another seed, other durations.
    let c = run(&w, Box::new(RandomPolicy::new(1)), 2);
    assert_ne!(fingerprint(&a), fingerprint(&c));
}

#[test]
fn under_overload_random_rebuilds_what_its_stores_evicted_and_group_keeps_up() {
    let w = ray(&[("data_size", "16000000B")], 20);
    let (rt, rc, rr) = run(&w, Box::new(RandomPolicy::new(1)), 1);
    let (gt, gc, gr) = run(&w, Box::new(GroupPolicy::new(1)), 1);
    // Group delivers every datapoint, runs nothing twice and finishes its work.
    assert_eq!(gt.datapoints.len() as u64, gr.datapoints_expected);
    assert_eq!((gc.reexecuted, gc.failed, gr.unfinished), (0, 0, 0));
    // Random evicts map outputs that queued shuffles need and runs their maps again; it
    // delivers fewer datapoints than it should and stops with work unfinished.
    assert!(rc.reexecuted > 0 && rc.reconstructed > 0, "{rc:?}");
    assert!(
        (rt.datapoints.len() as u64) < rr.datapoints_expected,
        "{rc:?}"
    );
    assert!(rr.unfinished > 0, "{rr:?}");
    assert_eq!(
        rr.failed, 0,
        "Ray v0.6 had no retry cap: nothing fails, it waits"
    );
}

/// The IR's release against LRU alone (`object_lifetime = "lru_ir_release"` against
/// `"lru"`), with stores small enough to fill in a few seconds: under group scheduling every
/// copy LRU evicts is dead, so the release evicts nothing and changes no latency.
#[test]
fn the_irs_release_removes_every_eviction_of_dead_objects_and_changes_no_latency() {
    let mut outcomes = Vec::new();
    for lifetime in ["lru", "lru_ir_release"] {
        let w = ray(
            &[
                ("data_size", "2400000B"),
                ("cluster.store", "256MiB"),
                ("cluster.object_lifetime", lifetime),
            ],
            5,
        );
        let (trace, counters, report) = run(&w, Box::new(GroupPolicy::new(1)), 1);
        let latencies: Vec<u64> = trace
            .datapoints
            .iter()
            .map(|d| d.arrival - d.ingest)
            .collect();
        assert!(!latencies.is_empty());
        assert_eq!(report.unfinished, 0, "{lifetime}");
        outcomes.push((counters.evictions, counters.reconstructed, latencies));
    }
    let (lru, release) = (&outcomes[0], &outcomes[1]);
    assert!(lru.0 > 0, "the stores fill under LRU");
    assert_eq!(
        (release.0, release.1),
        (0, 0),
        "nothing evicted, nothing rebuilt"
    );
    assert_eq!(lru.1, 0);
    assert_eq!(
        lru.2, release.2,
        "the same latencies, datapoint for datapoint"
    );
}

/// The forwarding stalls give group scheduling its floor on the Ray v0.6 model: with them
/// (the shipped model) every batch waits for a delayed acknowledgement on its way to the
/// other nodes, ~40 ms; without them the same runs are well under that.
#[test]
fn the_forwarding_stalls_give_group_its_floor_of_about_one_delayed_ack() {
    let mean = |stalls: &str| {
        let w = ray(
            &[("data_size", "800000B"), ("cluster.delayed_ack", stalls)],
            4,
        );
        assert_eq!(w.model.delayed_ack > 0, stalls != "none");
        let (trace, counters, report) = run(&w, Box::new(GroupPolicy::new(1)), 1);
        assert_eq!((report.unfinished, counters.failed), (0, 0), "{stalls}");
        let n = trace.datapoints.len() as u64;
        assert!(n > 0);
        trace
            .datapoints
            .iter()
            .map(|d| d.arrival - d.ingest)
            .sum::<u64>()
            / n
    };
    let shipped = ray(&[], 1).model.delayed_ack;
    assert_eq!(shipped, 40_000_000, "the shipped model has the stalls on");
    let (with, without) = (mean("40ms"), mean("none"));
    assert!(without < 20_000_000, "{without}");
    assert!(
        with > without + 30_000_000 && with < without + 45_000_000,
        "{with} against {without}"
    );
}
