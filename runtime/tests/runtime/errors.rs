//! Bad input: each is a typed error that names the thing, never a panic or a hang.

use crate::common::{Fixed, basic_registry, spec};
use cohort_runtime::core::work::{Arg, TaskRequest};
use cohort_runtime::core::{Core, CoreConfig};
use cohort_runtime::policy::{Hints, NodeId, ObjectId, Resources};
use cohort_runtime::{Cluster, Payload, RuntimeError, SpecError, Task};

fn cluster() -> Cluster {
    Cluster::new(
        spec(2, 4, 1 << 20, 0),
        basic_registry(),
        Box::new(Fixed(0)),
        Default::default(),
    )
    .unwrap()
}

#[test]
fn invalid_cluster_specs_are_rejected() {
    let bad = |s, want: SpecError| {
        let err =
            Cluster::new(s, basic_registry(), Box::new(Fixed(0)), Default::default()).unwrap_err();
        assert_eq!(err, RuntimeError::Spec(want.clone()));
        assert!(err.to_string().contains(&want.to_string()));
    };
    bad(spec(0, 4, 100, 0), SpecError::NoNodes);
    bad(spec(2, 0, 100, 0), SpecError::ZeroCpus { node: 0 });
    let mut s = spec(2, 4, 100, 0);
    s.network.nic_bandwidth = 0;
    bad(s, SpecError::ZeroBandwidth);
    let mut s = spec(2, 4, 100, 0);
    s.nodes[1].store_capacity = 0;
    bad(s, SpecError::ZeroStore { node: 1 });
}

#[test]
fn an_unknown_function_is_named() {
    let c = cluster();
    let err = c.function("nope").unwrap_err();
    assert_eq!(err, RuntimeError::UnknownFunction("nope".into()));
    assert_eq!(err.to_string(), "unknown function `nope`");
    assert_eq!(
        c.actor_kind("Ghost").unwrap_err().to_string(),
        "unknown actor kind `Ghost`"
    );
}

#[test]
fn duplicate_names_are_rejected() {
    let mut r = basic_registry();
    let err = r
        .function("touch", Default::default(), |_, _| Ok(vec![]))
        .unwrap_err();
    assert_eq!(err, RuntimeError::DuplicateName("touch".into()));
}

#[test]
fn a_demand_no_node_can_meet_is_infeasible() {
    let mut c = cluster();
    let f = c.function("touch").unwrap();
    let err = c.submit(Task::new(f).cpus(5)).unwrap_err();
    assert_eq!(
        err,
        RuntimeError::Infeasible {
            what: "touch".into(),
            demand: 5,
            max: 4
        }
    );
    assert_eq!(
        err.to_string(),
        "`touch` demands 5 CPUs, but the largest alive node has 4"
    );
}

#[test]
fn a_freed_object_cannot_be_referenced() {
    let mut core = Core::new(
        spec(1, 1, 1 << 20, 0),
        basic_registry().catalog(),
        CoreConfig::default(),
        Box::new(Fixed(0)),
    )
    .unwrap();
    let id = core.put(Payload::from_u64(1), 0).unwrap();
    core.release(id);
    let err = core
        .submit(
            TaskRequest {
                function: cohort_runtime::core::work::FnId(1),
                args: vec![Arg::Object(id)],
                demand: Resources { cpus: 1 },
                num_returns: 1,
                hints: Hints::NONE,
                declared_output_size: 0,
            },
            0,
        )
        .unwrap_err();
    assert_eq!(err, RuntimeError::UnknownObject(id));
    assert!(err.to_string().contains("freed"));
    assert_eq!(
        RuntimeError::UnknownObject(ObjectId(9)).to_string(),
        "object 9 does not exist (never created, or freed when nothing referred to it any more)"
    );
}

#[test]
fn a_handle_from_another_cluster_is_rejected() {
    let mut a = cluster();
    let mut b = cluster();
    let x = a.put(Payload::from_u64(1)).unwrap();
    let f = b.function("touch").unwrap();
    assert_eq!(
        b.submit(Task::new(f).arg(&x)).unwrap_err(),
        RuntimeError::UnknownObject(x.id())
    );
}

#[test]
fn failures_propagate_to_dependents_with_the_cause() {
    let mut c = cluster();
    let fail = c.function("fail").unwrap();
    let touch = c.function("touch").unwrap();
    let boom = c.function("boom").unwrap();
    let x = c.submit(Task::new(fail)).unwrap().remove(0);
    let y = c.submit(Task::new(touch).arg(&x)).unwrap().remove(0);
    match c.get(&y) {
        Err(RuntimeError::ObjectFailed { object, reason }) => {
            assert_eq!(object, y.id());
            assert!(reason.contains("`touch`"), "{reason}");
            assert!(reason.contains("`fail`) failed: no good"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let z = c.submit(Task::new(boom)).unwrap().remove(0);
    match c.get(&z) {
        Err(RuntimeError::ObjectFailed { reason, .. }) => {
            assert!(reason.contains("panicked: kaboom"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A panic whose payload is not text is described as the SDK describes a plugin's.
    let silent = c.function("boom_silently").unwrap();
    let w = c.submit(Task::new(silent)).unwrap().remove(0);
    match c.get(&w) {
        Err(RuntimeError::ObjectFailed { reason, .. }) => {
            assert!(
                reason.contains("panicked: a panic without a message"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The cluster is still usable.
    let ok = c.submit(Task::new(touch)).unwrap().remove(0);
    assert_eq!(c.get(&ok).unwrap(), Payload::from_u64(0));
    assert_eq!(c.counters().failed, 4);
}

#[test]
fn a_wrong_number_of_outputs_fails_the_task() {
    let mut c = cluster();
    let touch = c.function("touch").unwrap();
    let outs = c.submit(Task::new(touch).returns(2)).unwrap();
    match c.get(&outs[1]) {
        Err(RuntimeError::ObjectFailed { reason, .. }) => {
            assert!(reason.contains("returned 1 values, expected 2"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_invalid_driver_node_is_rejected() {
    let err = Cluster::new(
        spec(2, 1, 100, 0),
        basic_registry(),
        Box::new(Fixed(0)),
        cohort_runtime::ClusterConfig {
            driver_node: NodeId(2),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(err, RuntimeError::UnknownDriverNode(NodeId(2)));
}

#[test]
fn a_transport_the_clocks_cannot_drive_is_refused() {
    let mut s = spec(2, 1, 100, 0);
    s.network.transport = cohort_runtime::core::transport::TransportModel::External;
    let err =
        Cluster::new(s, basic_registry(), Box::new(Fixed(0)), Default::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the External transport moves bytes through an executor that carries out transfers \
         (the live runtime); the in-process clocks cannot drive it"
    );
}

#[test]
fn policy_choices_are_checked() {
    let mut c = Cluster::new(
        spec(2, 4, 1 << 20, 0),
        basic_registry(),
        Box::new(Fixed(7)),
        Default::default(),
    )
    .unwrap();
    let f = c.function("touch").unwrap();
    let err = c.submit(Task::new(f)).unwrap_err();
    assert!(
        matches!(&err, RuntimeError::PolicyInvalidChoice { policy, problem, .. }
            if policy == "fixed" && problem == "does not exist (the cluster has 2 nodes)"),
        "{err}"
    );
    let mut s = spec(2, 4, 1 << 20, 0);
    s.nodes[1].cpus = 1;
    let mut c = Cluster::new(s, basic_registry(), Box::new(Fixed(1)), Default::default()).unwrap();
    let f = c.function("touch").unwrap();
    let err = c.submit(Task::new(f).cpus(2)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy `fixed` placed task 1 (`touch`) on node 1, which has 1 CPUs, fewer than the 2 demanded"
    );
}

#[test]
fn waiting_with_a_timeout_reports_what_is_pending() {
    let mut c = cluster();
    let sleep = c.function("sleep").unwrap();
    let slow = c
        .submit(Task::new(sleep).arg(crate::common::sleeper(1, 5_000)))
        .unwrap()
        .remove(0);
    let fast = c
        .submit(Task::new(sleep).arg(crate::common::sleeper(2, 100)))
        .unwrap()
        .remove(0);
    let refs = [slow.clone(), fast.clone()];
    let r = c
        .wait(&refs, cohort_runtime::WaitMode::Any, Some(1_000))
        .unwrap();
    assert_eq!((r.done, r.pending), (vec![1], vec![0]));
    assert_eq!(c.now(), 100);
    let r = c
        .wait(&refs, cohort_runtime::WaitMode::All, Some(1_000))
        .unwrap();
    assert_eq!(r.pending, vec![0]);
    assert_eq!(c.now(), 1_100);
    let r = c.wait(&refs, cohort_runtime::WaitMode::All, None).unwrap();
    assert_eq!(r.done, vec![0, 1]);
    assert_eq!(c.now(), 5_000);
}
