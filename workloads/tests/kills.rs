//! The must-hold of a killed node: the shipped streaming workload with node 2 killed mid-run
//! completes under every built-in policy with every reducer's sum exact (the sums of the same
//! run without the kill) and no datapoint lost. And the check can fail: without replay a
//! restarted reducer's sum is short, and without restarts the run fails naming the dead node.
//!
//! The schedule is shortened (3 s, the kill at 1.5 s, declared dead 0.3 s after the last
//! heartbeat) to keep a debug build quick.

use cohort_policy::ffi::{PolicyVTable, vtable};
use cohort_policy_group::GroupPolicy;
use cohort_policy_locality::LocalityPolicy;
use cohort_policy_random::RandomPolicy;
use cohort_runtime::plugin::Plugin;
use cohort_runtime::trace::Counters;
use cohort_runtime::{ActorId, Clock, Cluster, FaultKind, FaultScript};
use cohort_workloads::{
    DriveReport, Resolved, RunError, Workload, cluster_config, drive, registry,
};
use std::collections::BTreeMap;

/// The built-in policies, as `cohort` links them: through the plugin C ABI.
const POLICIES: [(&str, PolicyVTable); 3] = [
    ("random", vtable::<RandomPolicy>()),
    ("group", vtable::<GroupPolicy>()),
    ("locality", vtable::<LocalityPolicy>()),
];

/// The short schedule: 3 s, warm-up 0.5 s, node 2 killed at 1.5 s, declared dead after 3
/// missed heartbeats of 100 ms (at 1.7 s).
const SHORT: [(&str, &str); 5] = [
    ("duration", "3s"),
    ("warmup", "500ms"),
    ("kill_at", "1500ms"),
    ("heartbeat_period", "100ms"),
    ("missed_heartbeats", "3"),
];

fn shipped(extra: &[(&str, &str)]) -> Resolved {
    let path = format!("{}/files/streaming-kill.toml", env!("CARGO_MANIFEST_DIR"));
    let w = Workload::load(std::path::Path::new(&path)).unwrap();
    let sets: BTreeMap<String, String> = SHORT
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    w.resolve(&sets).unwrap()
}

/// What a run ended with.
struct Ran {
    report: DriveReport,
    datapoints: u64,
    counters: Counters,
}

fn run(w: &Resolved, policy: &str) -> Result<Ran, RunError> {
    let (_, table) = POLICIES.iter().find(|(n, _)| *n == policy).unwrap();
    let policy = Plugin::linked(&format!("built-in:{policy}"), *table)
        .create("", 1)
        .unwrap();
    let mut c = Cluster::new(
        w.spec.clone(),
        registry(w).unwrap(),
        Box::new(policy),
        cluster_config(w, Clock::Virtual),
    )
    .unwrap();
    let report = drive(w, &mut c, &mut |_| {})?;
    Ok(Ran {
        report,
        datapoints: c.take_trace().datapoints.len() as u64,
        counters: c.counters(),
    })
}

/// The same workload without its fault.
fn without_the_kill(w: &Resolved) -> Resolved {
    let mut clean = w.clone();
    clean.spec.faults = FaultScript::default();
    clean
}

fn totals(r: &Ran) -> &[(ActorId, u64)] {
    &r.report.actor_totals
}

#[test]
fn a_node_killed_mid_run_leaves_every_reducer_sum_exact_and_no_datapoint_lost() {
    let w = shipped(&[]);
    assert_eq!(
        w.spec.faults.faults()[0].kind,
        FaultKind::Kill {
            node: cohort_runtime::policy::NodeId(2)
        }
    );
    let mut restarted = 0;
    for (policy, _) in POLICIES {
        let clean = run(&without_the_kill(&w), policy).expect("runs");
        assert_eq!(clean.counters.nodes_declared_dead, 0);
        let killed = run(&w, policy).unwrap_or_else(|e| panic!("{policy}: {e}"));
        let k = killed.counters;
        assert_eq!(k.nodes_declared_dead, 1, "{policy}");
        assert_eq!(k.failed, 0, "{policy}");
        // Every reducer constructed, with the sum it has without the kill.
        assert_eq!(totals(&killed).len(), 4, "{policy}");
        assert_eq!(totals(&killed), totals(&clean), "{policy}: {k:?}");
        assert!(totals(&clean).iter().all(|(_, t)| *t > 0), "{policy}");
        // Every datapoint recorded once: as many as submitted, as many as without the kill.
        assert_eq!(
            killed.datapoints, killed.report.datapoints_expected,
            "{policy}"
        );
        assert_eq!(
            (killed.report.iterations, killed.datapoints),
            (clean.report.iterations, clean.datapoints),
            "{policy}"
        );
        restarted += k.actor_restarts;
        // Random and locality place reducers on node 2 (seed 1); group packs them on node 0.
        if policy != "group" {
            assert!(k.actor_restarts >= 1, "{policy}: {k:?}");
            assert!(k.reexecuted > 0 && k.reconstructed > 0, "{policy}: {k:?}");
        }
    }
    assert!(restarted >= 2);
}

#[test]
fn without_replay_a_restarted_reducer_loses_its_sum() {
    let w = shipped(&[("recovery.actor_replay", "false")]);
    let clean = run(&without_the_kill(&w), "random").expect("runs");
    let killed = run(&w, "random").expect("runs: the reducers restart, empty");
    let restarts = killed.counters.actor_restarts;
    assert!(restarts >= 1);
    let (exact, short): (Vec<_>, Vec<_>) = totals(&killed)
        .iter()
        .zip(totals(&clean))
        .partition(|(k, c)| k == c);
    // Exactly the restarted reducers differ, each short of what it had summed before.
    assert_eq!(short.len() as u64, restarts, "{:?}", totals(&killed));
    assert!(short.iter().all(|((_, k), (_, c))| k < c));
    assert_eq!(exact.len() + short.len(), 4);
    // No call is lost, though: every datapoint is there.
    assert_eq!(killed.datapoints, killed.report.datapoints_expected);
}

#[test]
fn without_restarts_the_reducers_work_fails_naming_the_dead_node_and_the_run_reports_it() {
    for policy in ["random", "locality"] {
        let w = shipped(&[("recovery.actor_restarts", "0")]);
        // Failed work is a result of the run, not an error of it: it ends, and says so.
        let killed = run(&w, policy).expect("the run ends");
        let first = killed.report.first_failure.clone().unwrap_or_default();
        assert!(first.contains("node 2 died under it"), "{policy}: {first}");
        assert_eq!(killed.report.failed, killed.counters.failed);
        assert!(killed.report.failed > 0, "{policy}");
        assert!(
            killed.datapoints < killed.report.datapoints_expected,
            "{policy}: the dead reducers' datapoints are missing"
        );
    }
}

/// A reducer restarted on a node that dies too (nodes 2 and 3 killed at once: the policy,
/// not knowing yet, restarts node 2's reducers on node 3) still ends with its exact sum: at
/// its second restart, the replays left from the first one are dropped and its log replayed
/// once (they once ran besides the new replays, counting some calls twice).
#[test]
fn a_reducer_restarted_on_a_node_that_dies_too_keeps_its_sum() {
    let mut w = shipped(&[("recovery.actor_restarts", "2")]);
    let mut faults = w.spec.faults.faults().to_vec();
    let mut second = faults[0];
    second.kind = FaultKind::Kill {
        node: cohort_runtime::policy::NodeId(3),
    };
    faults.push(second);
    w.spec.faults = FaultScript::new(faults, 5).unwrap();
    let clean = run(&without_the_kill(&w), "random").expect("runs");
    let killed = run(&w, "random").expect("runs");
    assert_eq!(killed.counters.nodes_declared_dead, 2);
    assert_eq!(killed.datapoints, killed.report.datapoints_expected);
    assert_eq!(totals(&killed), totals(&clean), "{:?}", killed.counters);
}
