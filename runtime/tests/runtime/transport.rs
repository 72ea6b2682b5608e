//! The transport boundary driven from outside: a core whose transport leaves moving bytes to
//! its executor, with this test as that executor (as the live runtime will be).

use crate::common::{Fixed, basic_registry, spec};
use cohort_runtime::core::transport::{TransferRequest, TransportEvent, TransportModel};
use cohort_runtime::core::work::{Arg, TaskRequest};
use cohort_runtime::core::{Core, CoreConfig};
use cohort_runtime::policy::{Hints, NodeId, Resources};
use cohort_runtime::{Nanos, Payload};

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
            size: 8
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
