//! Killed nodes on the virtual clock: nothing is known of a kill until the node has missed its
//! heartbeats; then its work is placed again, its lost objects are rebuilt from lineage when
//! asked for, and its actors restart (replaying their calls) or fail. Times are exact.

use crate::common::{Recorder, Scripted, basic_registry, sleeper, spec};
use crate::mapreduce;
use cohort_runtime::policy::{
    Dependency, GroupId, Hints, NodeId, Placement, PlacementView, Policy, PolicyEvent,
};
use cohort_runtime::{
    ActorKind, Call, Cluster, ClusterConfig, ClusterSpec, CostModel, Fault, FaultKind, FaultScript,
    MILLISECOND, Payload, Recovery, Registry, RuntimeError, Task,
};

const MS: u64 = MILLISECOND;

/// Heartbeats every 100 ms; dead after 3 missed: a node killed in `(k, k + 100] ms` (k a
/// multiple of 100) is declared dead at `k + 300` ms.
fn recovery() -> Recovery {
    Recovery {
        heartbeat_period: 100 * MS,
        missed_heartbeats: 3,
        ..Recovery::default()
    }
}

fn kill(node: u32, at: u64, until: Option<u64>) -> Fault {
    Fault {
        kind: FaultKind::Kill { node: NodeId(node) },
        at,
        until,
    }
}

/// `n` nodes of one CPU and 1 GiB, 1 byte/ns, no latency, with `faults` and `recovery`.
fn killing(n: usize, faults: Vec<Fault>, recovery: Recovery) -> ClusterSpec {
    let mut s = spec(n, 1, 1 << 30, 0);
    s.faults = FaultScript::new(faults, n).expect("a valid script");
    s.recovery = recovery;
    s
}

fn cluster(s: ClusterSpec, registry: Registry, policy: Box<dyn Policy>) -> Cluster {
    Cluster::new(s, registry, policy, ClusterConfig::default()).expect("playable")
}

#[test]
fn a_copy_kept_for_a_transfer_after_its_object_is_freed_goes_when_the_receiver_dies() {
    let mut c = cluster(
        killing(2, vec![kill(1, 50 * MS, None)], recovery()),
        basic_registry(),
        Box::new(Scripted(vec![0, 0, 1])),
    );
    let (sleep, fail, touch) = (
        c.function("sleep").unwrap(),
        c.function("fail").unwrap(),
        c.function("touch").unwrap(),
    );
    // 100 MB from node 0 to node 1 (100 ms); the only work that wants them fails at 10 ms.
    let x = c.put(Payload::modeled(&b""[..], 100_000_000)).unwrap();
    let slow = c.submit(Task::new(sleep).arg(sleeper(1, 10 * MS))).unwrap();
    let failing = c.submit(Task::new(fail).arg(&slow[0])).unwrap();
    let reader = c.submit(Task::new(touch).arg(x).arg(&failing[0])).unwrap();
    drop((slow, failing, reader));
    c.sleep(20 * MS).unwrap();
    assert_eq!(
        c.nodes()[0].store_used,
        100_000_000,
        "kept for the transfer"
    );
    // The receiver dies at 50 ms: the transfer stops, and the copy kept for it goes.
    c.sleep(40 * MS).unwrap();
    assert_eq!(c.transfers_in_flight(), 0);
    assert_eq!(c.nodes()[0].store_used, 0);
}

#[test]
fn a_kill_is_noticed_only_after_the_missed_heartbeats() {
    let r = recovery();
    assert_eq!(r.declared_dead_at(250 * MS), 500 * MS);
    // A kill at a heartbeat's instant comes before it: that heartbeat is missed.
    assert_eq!(r.declared_dead_at(200 * MS), 400 * MS);
    assert_eq!(r.declared_dead_at(200 * MS + 1), 500 * MS);
    assert_eq!(r.declared_dead_at(0), 300 * MS);
    // Ray 0.6.1's defaults: 300 heartbeats of 100 ms.
    assert_eq!(Recovery::default().declared_dead_at(MS), 30_000 * MS);
}

#[test]
fn work_on_a_killed_node_runs_again_elsewhere_once_the_node_is_declared_dead() {
    let policy = Recorder::new(Scripted(vec![1, 2]));
    let (seen, events) = (policy.seen.clone(), policy.events.clone());
    let mut c = cluster(
        killing(3, vec![kill(1, 250 * MS, None)], recovery()),
        basic_registry(),
        Box::new(policy),
    );
    let sleep = c.function("sleep").unwrap();
    // One second of work on node 1, killed at 250 ms, declared dead at 500 ms: placed again
    // on node 2, it runs from 500 ms to 1.5 s.
    let out = c
        .submit(Task::new(sleep).arg(sleeper(7, 1_000 * MS)))
        .unwrap()
        .remove(0);
    assert_eq!(c.get(&out).unwrap().as_u64(), Some(7));
    assert_eq!(c.now(), 1_500 * MS);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].alive, vec![true, true, true]);
    assert_eq!(
        (seen[1].now, &seen[1].alive),
        (500 * MS, &vec![true, false, true])
    );
    assert!(
        events
            .lock()
            .unwrap()
            .contains(&PolicyEvent::NodeRemoved(NodeId(1)))
    );
    let k = c.counters();
    assert_eq!((k.reexecuted, k.nodes_declared_dead, k.failed), (1, 1, 0));
    assert!(!c.nodes()[1].alive);
}

#[test]
fn work_placed_on_a_killed_node_before_its_death_is_known_waits_for_it() {
    // The policy does not know of the kill at 100 ms: at 150 ms it places work on node 1,
    // which waits there, lost, until 300 ms, and is placed again on node 2.
    let mut c = cluster(
        killing(3, vec![kill(1, 100 * MS, None)], recovery()),
        basic_registry(),
        Box::new(Scripted(vec![1, 2])),
    );
    let touch = c.function("touch").unwrap();
    c.sleep(150 * MS).unwrap();
    let out = c.submit(Task::new(touch)).unwrap().remove(0);
    c.get(&out).unwrap();
    assert_eq!(c.now(), 300 * MS + 1_000);
    // It had not started: it is placed again, not run again.
    assert_eq!(c.counters().reexecuted, 0);
}

#[test]
fn a_lost_object_is_rebuilt_by_running_its_lineage_again() {
    // `a` (10 MB) is made on node 1, `b = touch(a)` too; the driver drops `a`, so its value is
    // freed once `b` is made. Node 1 dies at 100 ms (declared at 300 ms). At 200 ms a reader
    // of `b` is placed on node 2: it pulls from node 1, which the directory still lists, and
    // waits. At 300 ms `b` is lost: its task runs again on node 2, which needs `a`, lost too:
    // its task runs again on node 2 first. 1 us each: the reader finishes at 300.003 ms.
    let mut c = cluster(
        killing(3, vec![kill(1, 100 * MS, None)], recovery()),
        basic_registry(),
        Box::new(Scripted(vec![1, 1, 2, 2, 2])),
    );
    let (make, touch) = (c.function("make").unwrap(), c.function("touch").unwrap());
    let a = c
        .submit(Task::new(make).arg(Payload::from_u64(10_000_000)))
        .unwrap()
        .remove(0);
    let b = c.submit(Task::new(touch).arg(&a)).unwrap().remove(0);
    drop(a);
    c.sleep(200 * MS).unwrap();
    assert_eq!(
        c.holders(b.id()),
        &[NodeId(1)],
        "the directory does not know yet"
    );
    let read = c.submit(Task::new(touch).arg(&b)).unwrap().remove(0);
    c.get(&read).unwrap();
    assert_eq!(c.now(), 300 * MS + 3_000);
    assert_eq!(c.holders(b.id()), &[NodeId(2)]);
    let k = c.counters();
    assert_eq!((k.reconstructed, k.reexecuted, k.failed), (2, 2, 0));
}

#[test]
fn a_pull_from_a_killed_node_comes_from_another_copy_once_the_death_is_known() {
    // `x` (10 MB) is made on node 1 and copied to node 2 (done at 10.001 ms). Node 1 dies at
    // 100 ms. At 200 ms a reader on node 3 pulls from node 1 (fewest transfers out, lowest
    // id), which never answers; at 300 ms node 1 leaves the directory and the pull starts
    // again from node 2: 10 ms, then 1 us to read.
    let mut c = cluster(
        killing(4, vec![kill(1, 100 * MS, None)], recovery()),
        basic_registry(),
        Box::new(Scripted(vec![1, 2, 3])),
    );
    let (make, touch) = (c.function("make").unwrap(), c.function("touch").unwrap());
    let x = c
        .submit(Task::new(make).arg(Payload::from_u64(10_000_000)))
        .unwrap()
        .remove(0);
    let copy = c.submit(Task::new(touch).arg(&x)).unwrap().remove(0);
    c.get(&copy).unwrap();
    assert_eq!(c.holders(x.id()), &[NodeId(1), NodeId(2)]);
    c.sleep(200 * MS - c.now()).unwrap();
    let read = c.submit(Task::new(touch).arg(&x)).unwrap().remove(0);
    c.get(&read).unwrap();
    assert_eq!(c.now(), 310 * MS + 1_000);
    assert_eq!(c.counters().reconstructed, 0);
}

#[test]
fn with_reconstruction_off_a_lost_object_fails_its_readers_saying_why() {
    // A task's output made on node 1 is read after node 1 died.
    let r = Recovery {
        reconstruction: false,
        ..recovery()
    };
    let mut c = cluster(
        killing(3, vec![kill(1, 100 * MS, None)], r),
        basic_registry(),
        Box::new(Scripted(vec![1, 2])),
    );
    let (make, touch) = (c.function("make").unwrap(), c.function("touch").unwrap());
    let x = c
        .submit(Task::new(make).arg(Payload::from_u64(1_000)))
        .unwrap()
        .remove(0);
    c.sleep(400 * MS).unwrap();
    let read = c.submit(Task::new(touch).arg(&x)).unwrap().remove(0);
    let err = c.get(&read).unwrap_err().to_string();
    assert!(
        err.contains("was lost (every copy is gone), and reconstruction is off"),
        "{err}"
    );
}

#[test]
fn a_task_runs_again_at_most_its_retries() {
    // Node 1 dies at 100 ms (declared at 300 ms) and node 2 at 600 ms (declared at 800 ms);
    // the work is placed on 1, then 2, then would need a third run: with one retry allowed it
    // fails instead.
    let r = Recovery {
        task_retries: 1,
        ..recovery()
    };
    let mut c = cluster(
        killing(4, vec![kill(1, 100 * MS, None), kill(2, 600 * MS, None)], r),
        basic_registry(),
        Box::new(Scripted(vec![1, 2, 3])),
    );
    let sleep = c.function("sleep").unwrap();
    let out = c
        .submit(Task::new(sleep).arg(sleeper(7, 1_000 * MS)))
        .unwrap()
        .remove(0);
    let err = c.get(&out).unwrap_err().to_string();
    assert!(
        err.contains("node 2 died under it, and it has been run again 1 time(s), the most allowed"),
        "{err}"
    );
    assert_eq!(c.now(), 800 * MS);
}

#[test]
fn a_killed_node_that_restarts_is_added_back_empty() {
    let policy = Recorder::new(Scripted(vec![1, 1]));
    let (seen, events) = (policy.seen.clone(), policy.events.clone());
    let mut c = cluster(
        killing(2, vec![kill(1, 100 * MS, Some(1_000 * MS))], recovery()),
        basic_registry(),
        Box::new(policy),
    );
    let (make, touch) = (c.function("make").unwrap(), c.function("touch").unwrap());
    let x = c
        .submit(Task::new(make).arg(Payload::from_u64(1_000)))
        .unwrap()
        .remove(0);
    c.sleep(1_000 * MS).unwrap();
    assert!(c.nodes()[1].alive);
    assert_eq!(c.nodes()[1].store_used, 0, "it comes back empty");
    // The reader goes to node 1, back and empty: `x` was lost with it, and is rebuilt (on
    // node 0, where the spent script places the rerun).
    let read = c.submit(Task::new(touch).arg(&x)).unwrap().remove(0);
    c.get(&read).unwrap();
    assert_eq!(c.counters().reconstructed, 1);
    let events = events.lock().unwrap();
    let removed = events
        .iter()
        .position(|e| *e == PolicyEvent::NodeRemoved(NodeId(1)))
        .expect("removed");
    let added = events
        .iter()
        .position(|e| *e == PolicyEvent::NodeAdded(NodeId(1)))
        .expect("added");
    assert!(removed < added);
    assert_eq!(seen.lock().unwrap()[1].alive, vec![true, true]);
}

/// Places work round-robin over the nodes the view shows alive.
#[derive(Default)]
struct AliveRoundRobin(usize);

impl Policy for AliveRoundRobin {
    fn name(&self) -> &str {
        "alive-round-robin"
    }
    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        let n = view.nodes.len();
        for k in 0..n {
            let node = &view.nodes[(self.0 + k) % n];
            if node.alive {
                self.0 = (self.0 + k + 1) % n;
                return Placement::Node(node.id);
            }
        }
        Placement::Refuse("no node is alive".into())
    }
}

/// The registry of [`mapreduce`] plus `range(first, count)`, which makes its integers: a
/// task's output can be rebuilt, a driver's put cannot.
fn streamed_registry() -> Registry {
    let mut r = mapreduce::registry();
    r.function("range", CostModel::fixed(1_000), |_, args: &[Payload]| {
        let [first, count] = args[0].as_i64s()[..] else {
            return Err("expected [first, count]".to_string());
        };
        Ok(vec![Payload::from_i64s(
            &(first..first + count).collect::<Vec<_>>(),
        )])
    })
    .unwrap();
    r
}

/// The map-reduce of [`mapreduce`] as a stream: `rounds` rounds 100 ms apart, each making
/// and mapping its share of the integers and sending each reducer its partial sums. Returns
/// the reducers' totals, or the first error.
fn streamed(
    spec: ClusterSpec,
    policy: Box<dyn Policy>,
    rounds: i64,
) -> Result<(Vec<i64>, Cluster), RuntimeError> {
    let mut c = Cluster::new(spec, streamed_registry(), policy, ClusterConfig::default())?;
    let (range, f) = (c.function("range")?, c.function("square_partition")?);
    let kind = c.actor_kind("Adder")?;
    let (add, total) = (c.method(kind, "add")?, c.method(kind, "total")?);
    let reducers: Vec<_> = (0..mapreduce::REDUCERS)
        .map(|i| {
            let h = Hints {
                group: GroupId(3),
                index: i,
                dependency: Dependency::None,
            };
            c.create_actor(kind, vec![], h)
        })
        .collect::<Result<_, _>>()?;
    let per_round = mapreduce::N / rounds;
    for round in 0..rounds {
        let maps = 2;
        let chunk = per_round / maps;
        let mut parts: Vec<Vec<_>> = vec![Vec::new(); mapreduce::REDUCERS as usize];
        for m in 0..maps {
            let first = round * per_round + m * chunk + 1;
            let input = c
                .submit(Task::new(range).arg(Payload::from_i64s(&[first, chunk])))?
                .remove(0);
            let outs = c.submit(
                Task::new(f)
                    .arg(&input)
                    .returns(mapreduce::REDUCERS)
                    .hints(Hints::NONE),
            )?;
            for (r, o) in outs.into_iter().enumerate() {
                parts[r].push(o);
            }
        }
        for (r, actor) in reducers.iter().enumerate() {
            c.call(actor, Call::new(add).args(&parts[r]).returns(0))?;
        }
        c.sleep(100 * MS)?;
    }
    let mut totals = Vec::new();
    for a in &reducers {
        let o = c.call(a, Call::new(total))?.remove(0);
        totals.push(c.get(&o)?.as_i64s()[0]);
    }
    c.run_until_idle()?;
    if let Some((_, first)) = c.first_failure() {
        return Err(RuntimeError::Stalled(format!("work failed: {first}")));
    }
    Ok((totals, c))
}

/// The 4-node cluster of the streamed map-reduce, node 2 killed at 450 ms (declared at
/// 700 ms), with `recovery`.
fn streamed_spec(recovery: Recovery) -> ClusterSpec {
    let mut s = spec(4, 2, 1 << 20, 10_000);
    s.faults = FaultScript::new(vec![kill(2, 450 * MS, None)], 4).expect("valid");
    s.recovery = recovery;
    s
}

#[test]
fn a_streamed_map_reduce_gives_the_exact_answer_when_a_node_dies_mid_run() {
    let r = Recovery {
        actor_restarts: 1,
        ..recovery()
    };
    let (clean, _) = streamed(
        spec(4, 2, 1 << 20, 10_000),
        Box::new(AliveRoundRobin::default()),
        10,
    )
    .expect("runs");
    assert_eq!(clean, mapreduce::expected());
    let (totals, c) =
        streamed(streamed_spec(r), Box::new(AliveRoundRobin::default()), 10).expect("recovers");
    assert_eq!(totals, mapreduce::expected());
    let k = c.counters();
    assert_eq!(k.nodes_declared_dead, 1);
    assert_eq!(k.actor_restarts, 1, "one reducer was on node 2");
    assert!(k.reexecuted > 0 && k.reconstructed > 0, "{k:?}");
    assert_eq!(k.failed, 0);
}

#[test]
fn without_replay_a_restarted_actor_starts_from_its_constructor() {
    let r = Recovery {
        actor_restarts: 1,
        actor_replay: false,
        ..recovery()
    };
    let (totals, c) =
        streamed(streamed_spec(r), Box::new(AliveRoundRobin::default()), 10).expect("runs");
    let expected = mapreduce::expected();
    let differ: Vec<usize> = (0..totals.len())
        .filter(|&i| totals[i] != expected[i])
        .collect();
    assert_eq!(
        differ.len(),
        1,
        "only the restarted reducer lost its sum: {totals:?}"
    );
    assert!(totals[differ[0]] < expected[differ[0]]);
    assert_eq!(c.counters().actor_restarts, 1);
}

#[test]
fn without_restarts_an_actor_on_a_dead_node_fails_its_calls() {
    let err = streamed(
        streamed_spec(recovery()),
        Box::new(AliveRoundRobin::default()),
        10,
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(err.contains("node 2 died under it"), "{err}");
}

/// A registry whose `record` task records a datapoint tagged with its argument.
fn recording_registry() -> Registry {
    let mut r = basic_registry();
    r.function(
        "record",
        CostModel::fixed(50 * MS),
        |ctx, args: &[Payload]| {
            ctx.record_arrival(args[0].as_u64().unwrap_or(0), 0);
            Ok(vec![Payload::from_u64(1)])
        },
    )
    .unwrap();
    r.actor(ActorKind::new("Nothing", |_, _| Ok(()))).unwrap();
    r
}

#[test]
fn work_lost_with_its_node_records_its_datapoint_once_when_it_runs_again() {
    // `record` starts at 80 ms on node 1 (recording its datapoint as it starts), node 1 dies
    // at 100 ms: that datapoint is withdrawn; run again from 300 ms on node 2, it records one.
    let mut c = cluster(
        killing(3, vec![kill(1, 100 * MS, None)], recovery()),
        recording_registry(),
        Box::new(Scripted(vec![1, 2])),
    );
    let record = c.function("record").unwrap();
    c.sleep(80 * MS).unwrap();
    let out = c
        .submit(Task::new(record).arg(Payload::from_u64(42)))
        .unwrap()
        .remove(0);
    c.get(&out).unwrap();
    let trace = c.take_trace();
    let points: Vec<(u64, u64, u32)> = trace
        .datapoints
        .iter()
        .map(|d| (d.tag, d.arrival, d.node.0))
        .collect();
    assert_eq!(points, vec![(42, 300 * MS, 2)]);
}

#[test]
fn a_run_with_a_kill_is_deterministic() {
    let r = Recovery {
        actor_restarts: 1,
        ..recovery()
    };
    let trace = |seed| {
        let (totals, mut c) =
            streamed(streamed_spec(r), Box::new(AliveRoundRobin(seed)), 10).expect("recovers");
        (totals, c.counters(), c.take_trace())
    };
    let first = trace(0);
    assert!(first.1.reexecuted > 0 && first.1.nodes_declared_dead == 1);
    assert_eq!(first, trace(0), "same inputs, same trace");
    assert_ne!(first.2, trace(1).2, "the policy's placements matter");
}

/// On the real clock timers fire when the wall clock has passed them, a little late: the
/// declaration still happens (it once compared its due time with the late firing time, and
/// never declared the node dead: the run stalled).
#[test]
fn on_the_real_clock_a_killed_nodes_work_runs_again_too() {
    let mut s = spec(3, 1, 1 << 30, 0);
    s.faults = FaultScript::new(vec![kill(1, 20 * MS, None)], 3).unwrap();
    s.recovery = Recovery {
        heartbeat_period: 10 * MS,
        missed_heartbeats: 3,
        ..Recovery::default()
    };
    let mut c = Cluster::new(
        s,
        basic_registry(),
        Box::new(Scripted(vec![1, 2])),
        ClusterConfig {
            clock: cohort_runtime::Clock::Real {
                add_modeled: true,
                workers: 2,
            },
            ..ClusterConfig::default()
        },
    )
    .unwrap();
    let sleep = c.function("sleep").unwrap();
    // 100 ms of modeled work on node 1, killed at 20 ms, declared dead at 40 ms (real time),
    // run again on node 2: done after 140 ms of wall time at least.
    let out = c
        .submit(Task::new(sleep).arg(sleeper(7, 100 * MS)))
        .unwrap()
        .remove(0);
    assert_eq!(c.get(&out).unwrap().as_u64(), Some(7));
    assert!(c.now() >= 140 * MS, "{}", c.now());
    let k = c.counters();
    assert_eq!((k.nodes_declared_dead, k.reexecuted, k.failed), (1, 1, 0));
}
