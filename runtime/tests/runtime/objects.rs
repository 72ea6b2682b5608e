//! Object stores and the directory: eviction order, freeing, capacity errors.

use crate::common::{Fixed, Scripted, basic_registry, make, sleeper, spec};
use cohort_runtime::policy::{NodeId, ObjectId};
use cohort_runtime::{Cluster, Payload, RuntimeError, Task};

fn evicted(c: &mut Cluster) -> Vec<(ObjectId, NodeId, bool)> {
    c.take_trace()
        .evictions
        .iter()
        .map(|e| (e.object, e.node, e.last_copy))
        .collect()
}

#[test]
fn secondary_copies_go_before_last_copies_each_least_recently_used_first() {
    let (mut c, b) = evict_a_last_copy(true);
    // Lineage rebuilds it: its task runs again.
    assert_eq!(c.get(&b).unwrap().size(), 40);
    assert_eq!(c.counters().reconstructed, 1);
    let (mut c, b) = evict_a_last_copy(false);
    assert_eq!(c.get(&b), Err(RuntimeError::ObjectLost(b.id())));
}

/// Fills node 1's store until the last copy of an object is evicted (checking the order of
/// evictions on the way); returns the cluster and that object.
fn evict_a_last_copy(reconstruction: bool) -> (Cluster, cohort_runtime::ObjectRef) {
    // Node 1's store holds 100 bytes. Everything below runs on node 1 except the put.
    let mut s = spec(2, 4, 100, 0);
    s.nodes[0].store_capacity = 1000;
    s.recovery.reconstruction = reconstruction;
    let mut c = Cluster::new(s, basic_registry(), Box::new(Fixed(1)), Default::default()).unwrap();
    let touch = c.function("touch").unwrap();
    let a = c.put(Payload::modeled(&b""[..], 40)).unwrap(); // on node 0
    let b = make(&mut c, 40); // last copy on node 1 (older)
    let t = c.submit(Task::new(touch).arg(&a)).unwrap().remove(0);
    c.get(&t).unwrap(); // a copied to node 1 (newer, secondary); t holds 8 bytes
    drop(t);
    assert_eq!(c.holders(a.id()), &[NodeId(0), NodeId(1)]);
    let _c1 = make(&mut c, 40); // needs room: the secondary copy of a goes, not b
    assert_eq!(evicted(&mut c), vec![(a.id(), NodeId(1), false)]);
    assert_eq!(c.holders(a.id()), &[NodeId(0)]);
    let _d = make(&mut c, 40); // now only last copies: b (older) goes and is lost
    assert_eq!(evicted(&mut c), vec![(b.id(), NodeId(1), true)]);
    assert_eq!(c.get(&a).unwrap().size(), 40);
    (c, b)
}

#[test]
fn objects_are_freed_everywhere_when_nothing_refers_to_them() {
    let mut c = Cluster::new(
        spec(3, 4, 1 << 20, 0),
        basic_registry(),
        Box::new(Scripted(vec![1, 2])),
        Default::default(),
    )
    .unwrap();
    let touch = c.function("touch").unwrap();
    let x = c.put(Payload::modeled(&b""[..], 1000)).unwrap();
    let o1 = c.submit(Task::new(touch).arg(&x)).unwrap().remove(0);
    let o2 = c.submit(Task::new(touch).arg(&x)).unwrap().remove(0);
    c.get(&o1).unwrap();
    c.get(&o2).unwrap();
    assert_eq!(c.holders(x.id()).len(), 3);
    let id = x.id();
    drop(x);
    drop((o1, o2));
    c.run_until_idle().unwrap();
    assert_eq!(c.live_objects(), 0);
    assert!(c.nodes().iter().all(|n| n.store_used == 0));
    assert!(c.holders(id).is_empty());
}

#[test]
fn a_copy_being_sent_stays_in_its_store_until_its_transfer_lands_though_its_object_is_freed() {
    let mut c = Cluster::new(
        spec(2, 2, 1 << 30, 0),
        basic_registry(),
        Box::new(Scripted(vec![0, 0, 1])),
        Default::default(),
    )
    .unwrap();
    let (sleep, fail, touch) = (
        c.function("sleep").unwrap(),
        c.function("fail").unwrap(),
        c.function("touch").unwrap(),
    );
    const MS: u64 = 1_000_000;
    let x = c.put(Payload::modeled(&b""[..], 100_000_000)).unwrap();
    let x_id = x.id();
    // A producer that fails after 10 ms, on node 0; work on node 1 that needs its output and
    // `x`, whose 100 MB start moving to node 1 at once.
    let slow = c.submit(Task::new(sleep).arg(sleeper(1, 10 * MS))).unwrap();
    let failing = c.submit(Task::new(fail).arg(&slow[0])).unwrap();
    let reader = c.submit(Task::new(touch).arg(x).arg(&failing[0])).unwrap();
    drop((slow, failing, reader));
    // At 10 ms the reader fails with its argument, and nothing refers to `x` any more, while
    // its bytes are still on their way: node 0 keeps the copy they are read from.
    c.sleep(20 * MS).unwrap();
    assert!(c.holders(x_id).is_empty());
    assert_eq!(c.nodes()[0].store_used, 100_000_000);
    assert_eq!(c.transfers_in_flight(), 1);
    // Once they have landed, neither end keeps a copy.
    c.run_until_idle().unwrap();
    assert!(c.nodes().iter().all(|n| n.store_used == 0));
    let landed: Vec<u64> = c
        .take_trace()
        .transfers
        .iter()
        .filter(|t| t.object == x_id)
        .map(|t| t.finished)
        .collect();
    assert!(
        landed.len() == 1 && landed[0] > 20 * MS,
        "the transfer landed after the free: {landed:?}"
    );
}

#[test]
fn an_argument_stays_alive_while_pending_work_needs_it() {
    let mut c = Cluster::new(
        spec(2, 1, 1 << 20, 0),
        basic_registry(),
        Box::new(Fixed(1)),
        Default::default(),
    )
    .unwrap();
    let touch = c.function("touch").unwrap();
    let x = c.put(Payload::modeled(&b""[..], 1000)).unwrap();
    let x_id = x.id();
    let out = c.submit(Task::new(touch).arg(x)).unwrap().remove(0); // the handle moves in
    assert_eq!(c.get(&out).unwrap().as_u64(), Some(0));
    c.run_until_idle().unwrap();
    // The argument's value is freed from every store; its entry stays, as lineage of the
    // output (to rebuild the output if it were lost), as long as the output lives.
    assert!(c.holders(x_id).is_empty());
    assert_eq!(c.nodes()[0].store_used, 0);
    assert_eq!(
        c.live_objects(),
        2,
        "the output, and the argument as its lineage"
    );
    drop(out);
    c.run_until_idle().unwrap();
    assert_eq!(c.live_objects(), 0, "lineage goes with the last output");
}

#[test]
fn an_unwanted_output_is_freed_when_produced() {
    let mut c = Cluster::new(
        spec(1, 1, 1 << 20, 0),
        basic_registry(),
        Box::new(Fixed(0)),
        Default::default(),
    )
    .unwrap();
    let make = c.function("make").unwrap();
    drop(
        c.submit(Task::new(make).arg(Payload::from_u64(500)))
            .unwrap(),
    );
    c.run_until_idle().unwrap();
    assert_eq!(c.live_objects(), 0);
    assert_eq!(c.nodes()[0].store_used, 0);
}

#[test]
fn an_output_that_cannot_fit_fails_its_task_with_a_clear_error() {
    let mut c = Cluster::new(
        spec(1, 1, 100, 0),
        basic_registry(),
        Box::new(Fixed(0)),
        Default::default(),
    )
    .unwrap();
    let make = c.function("make").unwrap();
    let o = c
        .submit(Task::new(make).arg(Payload::from_u64(101)))
        .unwrap()
        .remove(0);
    match c.get(&o) {
        Err(RuntimeError::ObjectFailed { object, reason }) => {
            assert_eq!(object, o.id());
            assert!(reason.contains("cannot store its outputs"), "{reason}");
            assert!(reason.contains("cannot hold 101 more bytes"), "{reason}");
        }
        other => panic!("expected a store failure, got {other:?}"),
    }
}

#[test]
fn a_put_that_cannot_fit_is_an_error() {
    let mut c = Cluster::new(
        spec(1, 1, 100, 0),
        basic_registry(),
        Box::new(Fixed(0)),
        Default::default(),
    )
    .unwrap();
    let err = c.put(Payload::modeled(&b""[..], 200)).unwrap_err();
    assert_eq!(
        err,
        RuntimeError::StoreFull {
            node: NodeId(0),
            needed: 200,
            pinned: 0,
            capacity: 100
        }
    );
}

#[test]
fn work_gets_its_arguments_in_order_and_frees_them_whether_or_not_they_repeat() {
    let mut r = cohort_runtime::Registry::new();
    r.function(
        "sizes",
        cohort_runtime::CostModel::fixed(10),
        |_, args: &[Payload]| {
            let sizes: Vec<i64> = args.iter().map(|p| p.size() as i64).collect();
            Ok(vec![Payload::from_i64s(&sizes)])
        },
    )
    .unwrap();
    let mut c = Cluster::new(
        spec(2, 1, 1 << 20, 0),
        r,
        Box::new(Fixed(1)),
        Default::default(),
    )
    .unwrap();
    let sizes = c.function("sizes").unwrap();
    let x = c.put(Payload::modeled(&b""[..], 100)).unwrap();
    let y = c.put(Payload::modeled(&b""[..], 200)).unwrap();
    let v = || Payload::modeled(&b""[..], 7);
    // Distinct objects (their list becomes the inputs), then a repeated one.
    let distinct = Task::new(sizes).arg(&x).arg(v()).arg(&y);
    let repeated = Task::new(sizes).arg(&y).arg(&x).arg(v()).arg(&y);
    let a = c.submit(distinct).unwrap().remove(0);
    let b = c.submit(repeated).unwrap().remove(0);
    assert_eq!(c.get(&a).unwrap().as_i64s(), vec![100, 7, 200]);
    assert_eq!(c.get(&b).unwrap().as_i64s(), vec![200, 100, 7, 200]);
    drop((x, y, a, b));
    c.run_until_idle().unwrap();
    assert_eq!(c.live_objects(), 0);
}
