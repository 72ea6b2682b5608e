//! The network model seen through the driver API: transfer times, sharing, merging.

use crate::common::{Scripted, basic_registry, spec};
use cohort_runtime::policy::NodeId;
use cohort_runtime::{Cluster, ClusterConfig, Payload, Task};

const MB: u64 = 1_000_000;
const LATENCY: u64 = 50_000;

/// Puts a 1 MB object on node 0 and runs one `touch` per destination in `dests`; returns the
/// (requested, finished) of each transfer, in completion order.
fn transfers_to(dests: &[u32]) -> Vec<(u64, u64, u32, u32)> {
    let mut c = Cluster::new(
        spec(4, 4, 1 << 30, LATENCY),
        basic_registry(),
        Box::new(Scripted(dests.to_vec())),
        ClusterConfig::default(),
    )
    .unwrap();
    let touch = c.function("touch").unwrap();
    let x = c.put(Payload::modeled(&b""[..], MB)).unwrap();
    let outs: Vec<_> = dests
        .iter()
        .map(|_| c.submit(Task::new(touch).arg(&x)).unwrap().remove(0))
        .collect();
    for o in &outs {
        c.get(o).unwrap();
    }
    c.take_trace()
        .transfers
        .iter()
        .map(|t| (t.requested, t.finished, t.from.0, t.to.0))
        .collect()
}

#[test]
fn one_transfer_costs_latency_plus_size_over_bandwidth() {
    // 1 MB at 1 byte/ns: 1 ms, after 50 µs of latency.
    assert_eq!(transfers_to(&[1]), vec![(0, LATENCY + MB, 0, 1)]);
}

#[test]
fn two_transfers_out_of_one_node_each_take_twice_as_long() {
    let alone = transfers_to(&[1]);
    let shared = transfers_to(&[1, 2]);
    let flow = |(req, fin, _, _): (u64, u64, u32, u32)| fin - req - LATENCY;
    assert_eq!(shared.len(), 2);
    for t in &shared {
        assert_eq!(flow(*t), 2 * flow(alone[0]));
    }
}

#[test]
fn pulls_of_one_object_to_one_node_are_merged() {
    // Three tasks on node 1 and two on node 2 all want the object on node 0.
    let t = transfers_to(&[1, 1, 2, 1, 2]);
    let mut pairs: Vec<(u32, u32)> = t.iter().map(|x| (x.2, x.3)).collect();
    pairs.sort();
    assert_eq!(pairs, vec![(0, 1), (0, 2)]);
}

#[test]
fn local_arguments_move_nothing_and_later_pulls_reuse_copies() {
    let mut c = Cluster::new(
        spec(3, 4, 1 << 30, 0),
        basic_registry(),
        Box::new(Scripted(vec![0, 1, 1])),
        Default::default(),
    )
    .unwrap();
    let touch = c.function("touch").unwrap();
    let x = c.put(Payload::modeled(&b""[..], MB)).unwrap();
    for _ in 0..3 {
        let o = c.submit(Task::new(touch).arg(&x)).unwrap().remove(0);
        c.get(&o).unwrap();
    }
    let counters = c.counters();
    assert_eq!(counters.transfers, 1);
    assert_eq!(counters.bytes_transferred, MB);
    assert_eq!(c.holders(x.id()), &[NodeId(0), NodeId(1)]);
}

#[test]
fn the_source_is_the_holder_with_fewest_outgoing_transfers() {
    // Node 0 and node 1 both hold x; node 0 is busy sending y. A pull of x to node 2
    // comes from node 1.
    let mut c = Cluster::new(
        spec(4, 4, 1 << 30, 0),
        basic_registry(),
        Box::new(Scripted(vec![1, 3, 2])),
        Default::default(),
    )
    .unwrap();
    let touch = c.function("touch").unwrap();
    let x = c.put(Payload::modeled(&b""[..], MB)).unwrap();
    let y = c.put(Payload::modeled(&b""[..], 10 * MB)).unwrap();
    let o = c.submit(Task::new(touch).arg(&x)).unwrap().remove(0);
    c.get(&o).unwrap(); // x now on nodes 0 and 1
    let _busy = c.submit(Task::new(touch).arg(&y)).unwrap(); // y: 0 -> 3, 10 ms
    let o = c.submit(Task::new(touch).arg(&x)).unwrap().remove(0); // x -> 2
    c.get(&o).unwrap();
    let t = c.take_trace().transfers;
    let to_2: Vec<_> = t.iter().filter(|t| t.to == NodeId(2)).collect();
    assert_eq!(to_2.len(), 1);
    assert_eq!(to_2[0].from, NodeId(1));
}
