//! Spilling on the virtual clock: a store that must make room writes its last copies to disk
//! instead of losing them, and reads one back when work asks for it; the disk moves one object
//! at a time. Times are exact.

use crate::common::{Scripted, basic_registry, make, spec};
use cohort_runtime::policy::NodeId;
use cohort_runtime::{
    Cluster, ClusterConfig, ClusterSpec, Fault, FaultKind, FaultScript, MILLISECOND, ObjectRef,
    Recovery, Spilling, Task,
};

/// Two nodes of one CPU, node 1's store 100 bytes; 1 byte/ns NICs without latency; disks at
/// 100 MB/s (10 ns a byte), if `spilling`.
fn small_store(spilling: bool) -> ClusterSpec {
    let mut s = spec(2, 1, 1_000, 0);
    s.nodes[1].store_capacity = 100;
    s.spilling = spilling.then_some(Spilling {
        disk_bandwidth: 100_000_000,
    });
    s
}

fn touch(c: &mut Cluster, o: &ObjectRef) {
    let f = c.function("touch").unwrap();
    let r = c.submit(Task::new(f).arg(o)).unwrap().remove(0);
    c.get(&r).unwrap();
}

#[test]
fn a_last_copy_spills_instead_of_being_lost_and_is_read_back_when_wanted() {
    // Everything on node 1 but the last reader. `a` (60 B) is made at [0, 1 us]; `b` (60 B)
    // at [1, 2 us] needs room: `a`, the last copy, goes to disk (the disk busy [2, 2.6 us]).
    let mut c = Cluster::new(
        small_store(true),
        basic_registry(),
        Box::new(Scripted(vec![1, 1, 1, 0])),
        ClusterConfig::default(),
    )
    .unwrap();
    let a = make(&mut c, 60);
    let b = make(&mut c, 60);
    assert_eq!(c.now(), 2_000);
    assert!(c.holders(a.id()).is_empty(), "on disk only");
    let k = c.counters();
    assert_eq!((k.spilled_bytes, k.evictions), (60, 0));
    // A reader of `a` on node 1: room for it means spilling `b` (disk [2.6, 3.2 us]), then
    // reading `a` back ([3.2, 3.8 us]); the reader runs [3.8, 4.8 us].
    touch(&mut c, &a);
    assert_eq!(c.now(), 4_800);
    assert_eq!(c.holders(a.id()), &[NodeId(1)]);
    // A reader of `b` on node 0: `b` is read back on node 1 (its disk), which evicts the copy
    // of `a` in memory (`a` is still on disk: nothing is lost), [4.8, 5.4 us]; 60 ns across;
    // the reader runs [5.46, 6.46 us].
    touch(&mut c, &b);
    assert_eq!(c.now(), 6_460);
    let k = c.counters();
    assert_eq!((k.spilled_bytes, k.restored_bytes), (120, 120));
    assert_eq!(k.reconstructed, 0);
    let evicted: Vec<_> = c
        .take_trace()
        .evictions
        .iter()
        .map(|e| (e.object, e.node, e.last_copy))
        .collect();
    assert_eq!(evicted, vec![(a.id(), NodeId(1), false)]);
}

#[test]
fn without_spilling_the_same_last_copy_is_evicted_and_rebuilt_from_lineage() {
    let mut c = Cluster::new(
        small_store(false),
        basic_registry(),
        Box::new(Scripted(vec![1, 1, 1, 1])),
        ClusterConfig::default(),
    )
    .unwrap();
    let a = make(&mut c, 60);
    let _b = make(&mut c, 60);
    assert!(c.holders(a.id()).is_empty());
    // The reader (on node 1) needs `a`: its task runs again on node 1 (evicting `b`), 1 us,
    // then the reader 1 us.
    touch(&mut c, &a);
    assert_eq!(c.now(), 4_000);
    let k = c.counters();
    assert_eq!((k.spilled_bytes, k.reconstructed, k.evictions), (0, 1, 2));
}

#[test]
fn spilled_copies_die_with_their_node_and_are_rebuilt_from_lineage() {
    let ms = MILLISECOND;
    let mut s = small_store(true);
    s.faults = FaultScript::new(
        vec![Fault {
            kind: FaultKind::Kill { node: NodeId(1) },
            at: ms,
            until: None,
        }],
        2,
    )
    .unwrap();
    s.recovery = Recovery {
        heartbeat_period: ms,
        missed_heartbeats: 3,
        ..Recovery::default()
    };
    let mut c = Cluster::new(
        s,
        basic_registry(),
        Box::new(Scripted(vec![1, 1, 0, 0])),
        ClusterConfig::default(),
    )
    .unwrap();
    let a = make(&mut c, 60);
    let _b = make(&mut c, 60);
    assert!(c.holders(a.id()).is_empty(), "on node 1's disk only");
    // Node 1 dies at 1 ms and is declared dead at 3 ms; at 4 ms a reader on node 0 finds `a`
    // lost (its disk died too): its task runs again on node 0, then the reader.
    c.sleep(4 * ms - c.now()).unwrap();
    touch(&mut c, &a);
    assert_eq!(c.now(), 4 * ms + 2_000);
    assert_eq!(c.counters().reconstructed, 1);
}
