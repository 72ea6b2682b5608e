//! Fault scripts on the virtual clock: a slowed node's work takes longer, exactly; faults
//! the core does not play yet are refused when the cluster is made; a fault still to come does
//! not keep a finished run going.

use crate::common::{Fixed, basic_registry, sleeper, spec};
use cohort_runtime::policy::NodeId;
use cohort_runtime::{
    Cluster, ClusterConfig, Fault, FaultKind, FaultScript, MILLISECOND, RuntimeError, Slowdown,
    Task,
};

fn slow_cpu(node: u32, milli: u32, at: u64, until: Option<u64>) -> Fault {
    Fault {
        kind: FaultKind::SlowCpu {
            node: NodeId(node),
            by: Slowdown::from_milli(milli).expect("a slowdown"),
        },
        at,
        until,
    }
}

fn cluster(faults: Vec<Fault>) -> Result<Cluster, RuntimeError> {
    let mut s = spec(2, 1, 1 << 20, 0);
    s.faults = FaultScript::new(faults, 2).expect("a valid script");
    Cluster::new(
        s,
        basic_registry(),
        Box::new(Fixed(0)),
        ClusterConfig::default(),
    )
}

/// When each of three 10 ms tasks, submitted at 0, 20 and 50 ms on node 0, finishes.
fn finishes(faults: Vec<Fault>) -> Vec<u64> {
    let ms = MILLISECOND;
    let mut c = cluster(faults).expect("playable");
    let sleep = c.function("sleep").unwrap();
    for at in [0, 20 * ms, 50 * ms] {
        c.sleep(at - c.now()).unwrap();
        c.submit(Task::new(sleep).arg(sleeper(0, 10 * ms))).unwrap();
    }
    c.run_until_idle().unwrap();
    let mut done: Vec<u64> = c.take_trace().tasks.iter().map(|t| t.finished).collect();
    done.sort_unstable();
    done
}

#[test]
fn work_that_starts_on_a_slowed_node_takes_that_much_longer() {
    let ms = MILLISECOND;
    assert_eq!(finishes(vec![]), [10 * ms, 30 * ms, 60 * ms]);
    // 2.5x slower from 15 to 40 ms: the task starting at 20 ms takes 25 ms; the ones starting
    // at 0 and 50 ms are not slowed.
    assert_eq!(
        finishes(vec![slow_cpu(0, 2_500, 15 * ms, Some(40 * ms))]),
        [10 * ms, 45 * ms, 60 * ms]
    );
    // Another node's slowdown changes nothing here.
    assert_eq!(
        finishes(vec![slow_cpu(1, 4_000, 0, None)]),
        [10 * ms, 30 * ms, 60 * ms]
    );
    // A slowdown starting at the instant work starts applies to it (faults come first).
    assert_eq!(
        finishes(vec![slow_cpu(0, 2_000, 20 * ms, Some(21 * ms))]),
        [10 * ms, 40 * ms, 60 * ms]
    );
}

#[test]
fn a_fault_still_to_come_does_not_keep_a_finished_run_going() {
    let ms = MILLISECOND;
    let mut c = cluster(vec![slow_cpu(0, 2_000, 500 * ms, Some(900 * ms))]).unwrap();
    let sleep = c.function("sleep").unwrap();
    c.submit(Task::new(sleep).arg(sleeper(0, 10 * ms))).unwrap();
    c.run_until_idle().unwrap();
    assert_eq!(c.now(), 10 * ms);
}

#[test]
fn faults_the_core_does_not_play_yet_are_refused_when_the_cluster_is_made() {
    let kill = Fault {
        kind: FaultKind::Kill { node: NodeId(1) },
        at: MILLISECOND,
        until: None,
    };
    let err = cluster(vec![slow_cpu(0, 2_000, 0, None), kill]).unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::UnsupportedFault {
                position: 2,
                kind: "kill"
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "fault 2 (kill) cannot be played yet: this cohort plays slow_cpu faults only"
    );
}
