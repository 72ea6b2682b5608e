//! The transport boundary driven from outside: a core whose transport leaves moving bytes to
//! its executor, with this test as that executor (as the live runtime will be). And the
//! chunked transport inside a whole cluster.

use crate::common::{Fixed, Scripted, basic_registry, spec};
use cohort_runtime::core::transport::{TransferRequest, TransportEvent, TransportModel};
use cohort_runtime::core::work::{Arg, TaskRequest};
use cohort_runtime::core::{Core, CoreConfig};
use cohort_runtime::policy::{Hints, NodeId, Resources};
use cohort_runtime::{ChunkedSpec, Cluster, ClusterConfig, Nanos, Payload, Task};

fn external_core() -> Core {
    let mut spec = spec(2, 1, 1 << 20, 500);
    spec.network.transport = TransportModel::External;
    Core::new(
        spec,
        basic_registry().catalog(),
        CoreConfig::default(),
        Box::new(Fixed(1)),
    )
    .unwrap()
}

fn touch(arg: Arg) -> TaskRequest {
    TaskRequest {
        function: basic_registry().function_id("touch").unwrap(),
        args: vec![arg],
        demand: Resources { cpus: 1 },
        num_returns: 1,
        hints: Hints::NONE,
        declared_output_size: 0,
    }
}

/// Runs the executions the core hands out (their outputs as the registry computes them are
/// not needed here) and fires its timers up to `until`.
fn run_to(core: &mut Core, until: Nanos) {
    loop {
        while let Some(exec) = core.poll_execution() {
            let out = cohort_runtime::core::work::ExecOutput {
                outputs: vec![Payload::from_u64(0)],
                datapoints: Vec::new(),
            };
            core.complete(exec.task, Ok(out), core.now());
        }
        match core.next_timer() {
            Some(t) if t <= until => core.fire_next(t),
            _ => return,
        }
    }
}

#[test]
fn an_executor_moves_the_bytes_and_the_core_takes_its_times() {
    let mut core = external_core();
    let x = core.put(Payload::from_u64(7), 0).unwrap();
    let (task, _) = core.submit(touch(Arg::Object(x)), 100).unwrap();
    // A second task on the same node wants the same object: the pulls merge.
    core.submit(touch(Arg::Object(x)), 200).unwrap();

    let (id, request) = core.poll_transfer().expect("the core asked for the object");
    assert_eq!(
        request,
        TransferRequest {
            object: x,
            from: NodeId(0),
            to: NodeId(1),
            size: 8,
            setup: 0,
        }
    );
    assert_eq!(core.poll_transfer(), None, "one transfer for both tasks");
    // The transport asked for no timer, and nothing can run before the bytes arrive.
    assert_eq!(core.next_timer(), None);
    assert!(!core.has_executions());
    assert_eq!(core.transfers_in_flight(), 1);

    core.transport_input(TransportEvent::Flowing(id), 700);
    core.transport_input(TransportEvent::Arrived(id), 1_300);
    assert_eq!(core.transfers_in_flight(), 0);
    assert_eq!(core.holders(x), &[NodeId(0), NodeId(1)]);
    // A repeated arrival is ignored.
    core.transport_input(TransportEvent::Arrived(id), 1_400);

    run_to(&mut core, u64::MAX);
    let trace = core.take_trace();
    assert_eq!(trace.transfers.len(), 1);
    let t = &trace.transfers[0];
    assert_eq!(
        (t.requested, t.flowing, t.finished, t.from, t.to),
        (100, 700, 1_300, NodeId(0), NodeId(1))
    );
    let first = trace.tasks.iter().find(|r| r.task == task).unwrap();
    assert_eq!((first.node, first.args_local), (NodeId(1), 1_300));
    assert_eq!(trace.tasks.len(), 2);
    assert!(trace.tasks.iter().all(|r| r.ok));
}

#[test]
fn an_arrival_reported_without_flowing_counts_as_flowing_when_it_arrives() {
    let mut core = external_core();
    let x = core.put(Payload::from_u64(7), 0).unwrap();
    core.submit(touch(Arg::Object(x)), 0).unwrap();
    let (id, _) = core.poll_transfer().unwrap();
    core.transport_input(TransportEvent::Arrived(id), 900);
    run_to(&mut core, u64::MAX);
    let t = &core.take_trace().transfers[0];
    assert_eq!((t.flowing, t.finished), (900, 900));
}

#[test]
fn a_chunked_cluster_moves_arguments_chunk_by_chunk_one_object_at_a_time() {
    // 1 byte/ns NICs, 50 µs of latency, Ray v0.6's chunks (1 MB, one send and one receive
    // thread). A 2.5 MB object on node 0 is wanted by a task on node 1 and one on node 2, both
    // submitted at 0. Node 0's queue sends the first copy's 3 chunks (1 + 1 + 0.5 ms) from
    // 50 µs to 2.55 ms, then the second copy's, until 5.05 ms. (The fluid model would share
    // node 0's NIC and finish both at 5.05 ms.)
    let mut spec = spec(3, 1, 1 << 30, 50_000);
    spec.network.transport = TransportModel::Chunked(ChunkedSpec::ray_v0_6(4));
    let mut c = Cluster::new(
        spec,
        basic_registry(),
        Box::new(Scripted(vec![1, 2])),
        ClusterConfig::default(),
    )
    .unwrap();
    let touch = c.function("touch").unwrap();
    let x = c.put(Payload::modeled(&b""[..], 2_500_000)).unwrap();
    let a = c.submit(Task::new(touch).arg(&x)).unwrap().remove(0);
    let b = c.submit(Task::new(touch).arg(&x)).unwrap().remove(0);
    c.get(&a).unwrap();
    c.get(&b).unwrap();
    let trace = c.take_trace();
    let transfers: Vec<_> = trace
        .transfers
        .iter()
        .map(|t| (t.from, t.to, t.bytes, t.requested, t.flowing, t.finished))
        .collect();
    assert_eq!(
        transfers,
        vec![
            (NodeId(0), NodeId(1), 2_500_000, 0, 50_000, 2_550_000),
            (NodeId(0), NodeId(2), 2_500_000, 0, 2_550_000, 5_050_000),
        ]
    );
    let on = |n: u32| trace.tasks.iter().find(|r| r.node == NodeId(n)).unwrap();
    assert_eq!(on(1).args_local, 2_550_000);
    assert_eq!(on(2).args_local, 5_050_000);
}
