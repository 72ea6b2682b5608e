//! Actors: deferred placement, submission-order execution, state, failures.

use crate::common::{Recorder, Scripted, basic_registry, sleeper, spec, word};
use cohort_runtime::policy::{Dependency, GroupId, Hints, NodeId, PolicyEvent, WorkKind};
use cohort_runtime::{ActorKind, Call, Cluster, CostModel, Payload, RuntimeError, Task};

/// A cluster of `nodes` nodes with `cpus` CPUs each, 1 MiB stores, no latency, and the `Log`
/// and `Broken` actor kinds.
fn log_cluster(
    nodes: usize,
    cpus: u32,
    policy: impl cohort_runtime::policy::Policy + 'static,
) -> Cluster {
    Cluster::new(
        spec(nodes, cpus, 1 << 20, 0),
        log_registry(),
        Box::new(policy),
        Default::default(),
    )
    .unwrap()
}

fn log_registry() -> cohort_runtime::Registry {
    let mut r = basic_registry();
    r.actor(
        ActorKind::new("Log", |_, _| Ok(Vec::<u64>::new()))
            .method(
                "push",
                CostModel::fixed(100),
                |s: &mut Vec<u64>, _, args| {
                    s.push(word(&args[0])?);
                    Ok(vec![])
                },
            )
            .method("get", CostModel::fixed(100), |s: &mut Vec<u64>, _, _| {
                Ok(vec![Payload::from_i64s(
                    &s.iter().map(|v| *v as i64).collect::<Vec<_>>(),
                )])
            }),
    )
    .unwrap();
    r.actor(ActorKind::new("Broken", |_, _| {
        Err::<(), _>("cannot start".to_string())
    }))
    .unwrap();
    r
}

#[test]
fn methods_run_one_at_a_time_in_submission_order() {
    // Call i's argument is ready after (10 - i) µs, so later calls are ready first; they
    // must still run in submission order.
    let mut c = log_cluster(2, 16, Scripted(vec![1; 20]));
    let sleep = c.function("sleep").unwrap();
    let kind = c.actor_kind("Log").unwrap();
    let push = c.method(kind, "push").unwrap();
    let get = c.method(kind, "get").unwrap();
    let log = c.create_actor(kind, vec![], Hints::NONE).unwrap();
    for i in 0..10u64 {
        let v = c
            .submit(Task::new(sleep).arg(sleeper(i, (10 - i) * 1000)))
            .unwrap()
            .remove(0);
        c.call(&log, Call::new(push).arg(&v).returns(0)).unwrap();
    }
    let out = c.call(&log, Call::new(get)).unwrap().remove(0);
    assert_eq!(
        c.get(&out).unwrap().as_i64s(),
        (0..10).collect::<Vec<i64>>()
    );
    let trace = c.take_trace();
    let starts: Vec<u64> = trace
        .tasks
        .iter()
        .filter(|t| t.kind == WorkKind::ActorMethod)
        .map(|t| t.started)
        .collect();
    assert_eq!(starts.len(), 11);
    // Each call starts when the previous one finished (100 ns each); the first waits for the
    // slowest argument (10 µs, plus the constructor which ran meanwhile).
    for w in starts.windows(2) {
        assert_eq!(w[1] - w[0], 100, "{starts:?}");
    }
    assert_eq!(starts[0], 10_000);
}

#[test]
fn an_actor_is_placed_at_its_first_call_with_that_calls_dependency() {
    let policy = Recorder::new(Scripted(vec![2, 3]));
    let events = policy.events.clone();
    let seen = policy.seen.clone();
    let mut c = log_cluster(4, 4, policy);
    let kind = c.actor_kind("Log").unwrap();
    let push = c.method(kind, "push").unwrap();
    let own = Hints {
        group: GroupId(7),
        index: 3,
        dependency: Dependency::None,
    };
    let log = c.create_actor(kind, vec![], own).unwrap();
    c.run_until_idle().unwrap();
    assert!(seen.lock().unwrap().is_empty(), "creation must not place");
    assert_eq!(c.actor_node(log.id()), None);
    let call_hints = Hints {
        group: GroupId(9),
        index: 0,
        dependency: Dependency::Group(GroupId(5)),
    };
    c.call(
        &log,
        Call::new(push)
            .arg(Payload::from_u64(1))
            .hints(call_hints)
            .returns(0),
    )
    .unwrap();
    assert_eq!(c.actor_node(log.id()), Some(NodeId(2)));
    let events = events.lock().unwrap().clone();
    assert_eq!(
        events[0],
        PolicyEvent::Placed {
            task: events_task(&events[0]),
            kind: WorkKind::ActorCreation,
            hints: Hints {
                group: GroupId(7),
                index: 3,
                dependency: Dependency::Group(GroupId(5)),
            },
            node: NodeId(2),
        }
    );
    assert_eq!(
        events[1],
        PolicyEvent::Placed {
            task: events_task(&events[1]),
            kind: WorkKind::ActorMethod,
            hints: call_hints,
            node: NodeId(2),
        }
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "method calls are not placed by the policy"
    );
}

#[test]
fn a_policy_that_wants_no_events_is_sent_none() {
    let run = |policy: Recorder<Scripted>| {
        let events = policy.events.clone();
        let mut c = log_cluster(4, 4, policy);
        let kind = c.actor_kind("Log").unwrap();
        let push = c.method(kind, "push").unwrap();
        let log = c.create_actor(kind, vec![], Hints::NONE).unwrap();
        let make = c.function("make").unwrap();
        let out = c.submit(Task::new(make).arg(Payload::from_u64(8))).unwrap();
        c.call(&log, Call::new(push).arg(&out[0]).returns(0))
            .unwrap();
        drop(out);
        c.run_until_idle().unwrap();
        let placed = (c.actor_node(log.id()), c.now());
        (placed, events.lock().unwrap().len())
    };
    let (told, events) = run(Recorder::new(Scripted(vec![1, 2])));
    assert!(events >= 4, "placed x2, finished x2 at least: {events}");
    let (quiet, none) = run(Recorder::quiet(Scripted(vec![1, 2])));
    assert_eq!(none, 0);
    assert_eq!(quiet, told, "the same placements and timing without events");
}

fn events_task(e: &PolicyEvent) -> cohort_runtime::policy::TaskId {
    match e {
        PolicyEvent::Placed { task, .. } | PolicyEvent::Finished { task, .. } => *task,
        _ => panic!("no task in {e:?}"),
    }
}

#[test]
fn actors_hold_no_cpu_slot_after_construction() {
    // One CPU per node; five actors on node 0 all answer while a task holds the slot.
    let mut c = log_cluster(1, 1, Scripted(vec![]));
    let kind = c.actor_kind("Log").unwrap();
    let get = c.method(kind, "get").unwrap();
    let actors: Vec<_> = (0..5)
        .map(|_| c.create_actor(kind, vec![], Hints::NONE).unwrap())
        .collect();
    let outs: Vec<_> = actors
        .iter()
        .map(|a| c.call(a, Call::new(get)).unwrap().remove(0))
        .collect();
    for o in &outs {
        c.get(o).unwrap();
    }
    let sleep = c.function("sleep").unwrap();
    let long = c
        .submit(Task::new(sleep).arg(sleeper(0, 1_000_000)))
        .unwrap()
        .remove(0);
    let outs: Vec<_> = actors
        .iter()
        .map(|a| c.call(a, Call::new(get)).unwrap().remove(0))
        .collect();
    for o in &outs {
        c.get(o).unwrap();
    }
    assert!(c.now() < 1_000_000, "calls waited for the CPU slot");
    c.get(&long).unwrap();
}

#[test]
fn calls_on_an_actor_whose_constructor_failed_fail() {
    let mut c = log_cluster(1, 1, Scripted(vec![]));
    let log = c.actor_kind("Log").unwrap();
    let broken = c.actor_kind("Broken").unwrap();
    assert!(matches!(
        c.method(broken, "push"),
        Err(RuntimeError::UnknownMethod { .. })
    ));
    let push = c.method(log, "push").unwrap();
    // A method id of another kind is out of range for Broken (it has no methods).
    let a = c.create_actor(broken, vec![], Hints::NONE).unwrap();
    let err = c.call(&a, Call::new(push)).unwrap_err();
    assert_eq!(
        err,
        RuntimeError::UnknownMethod {
            kind: "Broken".into(),
            method: "#0".into()
        }
    );
    let get = c.method(log, "get").unwrap();
    let l = c.create_actor(log, vec![], Hints::NONE).unwrap();
    c.call(&l, Call::new(push).arg(Payload::from_u64(3)).returns(0))
        .unwrap();
    let ok = c.call(&l, Call::new(get)).unwrap().remove(0);
    assert_eq!(c.get(&ok).unwrap().as_i64s(), vec![3]);
    // Broken with a real method: register a kind whose constructor fails but has methods.
    let mut r = basic_registry();
    r.actor(
        ActorKind::new("Flaky", |_, _| Err::<u64, _>("no config".to_string())).method(
            "ping",
            CostModel::fixed(1),
            |_: &mut u64, _, _| Ok(vec![Payload::from_u64(1)]),
        ),
    )
    .unwrap();
    let mut c = Cluster::new(
        spec(1, 1, 1 << 20, 0),
        r,
        Box::new(Scripted(vec![])),
        Default::default(),
    )
    .unwrap();
    let kind = c.actor_kind("Flaky").unwrap();
    let ping = c.method(kind, "ping").unwrap();
    let a = c.create_actor(kind, vec![], Hints::NONE).unwrap();
    let o = c.call(&a, Call::new(ping)).unwrap().remove(0);
    match c.get(&o) {
        Err(RuntimeError::ObjectFailed { reason, .. }) => {
            assert!(reason.contains("failed to start"), "{reason}");
        }
        other => panic!("expected failure, got {other:?}"),
    }
}
