//! Fault scripts on the virtual clock: a slowed node's work takes longer, exactly; a script that
//! kills the driver's node is refused when the cluster is made; a fault still to come does not
//! keep a finished run going.

use crate::common::{Fixed, Scripted, basic_registry, sleeper, spec};
use cohort_runtime::policy::NodeId;
use cohort_runtime::{
    Cluster, ClusterConfig, Fault, FaultKind, FaultScript, MILLISECOND, Payload, RuntimeError,
    Slowdown, Task,
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

fn slow_nic(node: u32, milli: u32, at: u64, until: Option<u64>) -> Fault {
    Fault {
        kind: FaultKind::SlowNic {
            node: NodeId(node),
            by: Slowdown::from_milli(milli).expect("a slowdown"),
        },
        at,
        until,
    }
}

/// When a task on node 1 that reads a 10 MB object made on node 0 finishes: the object is
/// sealed at 1 us, crosses a 1 byte/ns network with no latency, and the reader runs 1 us.
fn reader_finishes(faults: Vec<Fault>) -> u64 {
    reader_finishes_on(2, faults)
}

/// [`reader_finishes`] on a cluster of `nodes` nodes (beyond 16, the fluid model's general
/// filling runs instead of the one on bit sets).
fn reader_finishes_on(nodes: usize, faults: Vec<Fault>) -> u64 {
    let mut s = spec(nodes, 1, 1 << 30, 0);
    s.faults = FaultScript::new(faults, nodes).expect("a valid script");
    let mut c = Cluster::new(
        s,
        basic_registry(),
        Box::new(Scripted(vec![0, 1])),
        ClusterConfig::default(),
    )
    .expect("playable");
    let (make, touch) = (c.function("make").unwrap(), c.function("touch").unwrap());
    let data = c
        .submit(Task::new(make).arg(Payload::from_u64(10_000_000)))
        .unwrap()
        .remove(0);
    let read = c.submit(Task::new(touch).arg(&data)).unwrap().remove(0);
    c.get(&read).unwrap();
    c.now()
}

#[test]
fn a_slowed_nic_moves_bytes_that_much_slower_from_that_instant() {
    // 1 us to make, 10 ms across, 1 us to read.
    assert_eq!(reader_finishes(vec![]), 10_002_000);
    // The sender's NIC at half speed from halfway: the second 5 MB take 10 ms.
    assert_eq!(
        reader_finishes(vec![slow_nic(0, 2_000, 5_001_000, None)]),
        15_002_000
    );
    // ...until 5 ms later: 2.5 MB then, the last 2.5 MB at full speed again.
    assert_eq!(
        reader_finishes(vec![slow_nic(0, 2_000, 5_001_000, Some(10_001_000))]),
        12_502_000
    );
    // The receiver's NIC counts the same; an uninvolved node's does not exist here.
    assert_eq!(
        reader_finishes(vec![slow_nic(1, 4_000, 0, None)]),
        40_002_000
    );
}

fn drop_link(a: u32, b: u32, at: u64, until: Option<u64>) -> Fault {
    Fault {
        kind: FaultKind::DropLink {
            a: NodeId(a),
            b: NodeId(b),
        },
        at,
        until,
    }
}

#[test]
fn a_dropped_link_holds_its_transfers_where_they_are_until_it_is_back() {
    for nodes in [2, 20] {
        assert_eq!(
            reader_finishes_on(nodes, vec![]),
            10_002_000,
            "{nodes} nodes"
        );
        // Dropped for 3 ms halfway: the transfer waits 3 ms, keeping what it moved.
        assert_eq!(
            reader_finishes_on(nodes, vec![drop_link(1, 0, 5_001_000, Some(8_001_000))]),
            13_002_000,
            "{nodes} nodes"
        );
        // Dropped before the transfer could flow: it starts when the link is back.
        assert_eq!(
            reader_finishes_on(nodes, vec![drop_link(0, 1, 0, Some(2_000_000))]),
            12_001_000,
            "{nodes} nodes"
        );
    }
    // Another link changes nothing.
    assert_eq!(
        reader_finishes_on(3, vec![drop_link(0, 2, 0, None)]),
        10_002_000
    );
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
fn a_script_that_kills_the_driver_node_is_refused_when_the_cluster_is_made() {
    let kill = Fault {
        kind: FaultKind::Kill { node: NodeId(0) },
        at: MILLISECOND,
        until: None,
    };
    let err = cluster(vec![slow_cpu(1, 2_000, 0, None), kill]).unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::DriverNodeKilled {
                position: 2,
                node: NodeId(0)
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "fault 2 kills node 0, the node the driver runs on; the run would end with it (kill \
         another node)"
    );
}
