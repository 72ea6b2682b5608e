//! The runtime model's options (Ray v0.6's mechanisms), each on its own, on the virtual clock
//! with exact times.

use crate::common::{Fixed, Recorder, Scripted, basic_registry, make, sleeper, spec};
use cohort_runtime::policy::NodeId;
use cohort_runtime::{
    Cluster, ClusterConfig, ClusterSpec, Jitter, MILLISECOND, ModelOptions, ObjectLifetime,
    ObjectRef, Payload, Recovery, Serialization, Task, ViewAccounting,
};

const MS: u64 = MILLISECOND;

fn cluster(
    s: ClusterSpec,
    policy: Box<dyn cohort_runtime::policy::Policy>,
    heartbeat: u64,
    model: ModelOptions,
) -> Cluster {
    Cluster::new(
        s,
        basic_registry(),
        policy,
        ClusterConfig {
            heartbeat,
            model,
            seed: 1,
            ..Default::default()
        },
    )
    .unwrap()
}

/// The `queued` counts the policy saw at three placements on node 0 at time 0, and at a
/// fourth after the 100 ms heartbeat.
fn queued_seen(accounting: ViewAccounting) -> Vec<Vec<u32>> {
    let policy = Recorder::new(Fixed(0));
    let seen = policy.seen.clone();
    let model = ModelOptions {
        view_accounting: accounting,
        ..Default::default()
    };
    let mut c = cluster(spec(2, 1, 1 << 20, 0), Box::new(policy), 100 * MS, model);
    let sleep = c.function("sleep").unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(
            c.submit(Task::new(sleep).arg(sleeper(0, 500 * MS)))
                .unwrap(),
        );
    }
    c.sleep(150 * MS).unwrap();
    held.push(c.submit(Task::new(sleep).arg(sleeper(0, 1))).unwrap());
    let seen = seen.lock().unwrap();
    seen.iter().map(|s| s.queued.clone()).collect()
}

#[test]
fn without_accounting_the_view_is_frozen_between_heartbeats() {
    assert_eq!(
        queued_seen(ViewAccounting::None),
        vec![vec![0, 0], vec![0, 0], vec![0, 0], vec![2, 0]]
    );
}

#[test]
fn with_accounting_each_placement_counts_until_the_next_heartbeat() {
    // At time 0 the view counts the two tasks placed before each decision; the heartbeat at
    // 100 ms replaces the counts with the real state (one running, two queued).
    assert_eq!(
        queued_seen(ViewAccounting::Placements),
        vec![vec![0, 0], vec![1, 0], vec![2, 0], vec![2, 0]]
    );
}

/// Three 250 ms tasks placed on node 0 of two one-CPU nodes at time 0; `(node, started,
/// finished)` of each, the end, and the tasks spilled over.
fn spill_run(spill_over: bool) -> (Vec<(u32, u64, u64)>, u64, u64) {
    let model = ModelOptions {
        spill_over,
        ..Default::default()
    };
    let mut c = cluster(spec(2, 1, 1 << 20, 0), Box::new(Fixed(0)), 100 * MS, model);
    let sleep = c.function("sleep").unwrap();
    let outs: Vec<ObjectRef> = (0..3)
        .map(|_| {
            c.submit(Task::new(sleep).arg(sleeper(0, 250 * MS)))
                .unwrap()
                .remove(0)
        })
        .collect();
    for o in &outs {
        c.get(o).unwrap();
    }
    c.run_until_idle().unwrap();
    let spilled = c.counters().spilled_over;
    let end = c.now();
    let mut tasks: Vec<_> = c
        .take_trace()
        .tasks
        .iter()
        .map(|t| (t.task.0, t.node.0, t.started, t.finished))
        .collect();
    tasks.sort();
    (
        tasks.into_iter().map(|(_, n, s, f)| (n, s, f)).collect(),
        end,
        spilled,
    )
}

#[test]
fn without_spill_over_queued_work_waits_for_its_node() {
    let (tasks, end, spilled) = spill_run(false);
    assert_eq!(
        tasks,
        vec![
            (0, 0, 250 * MS),
            (0, 250 * MS, 500 * MS),
            (0, 500 * MS, 750 * MS)
        ]
    );
    assert_eq!((end, spilled), (750 * MS, 0));
}

#[test]
fn spill_over_moves_one_queued_task_per_heartbeat_even_to_a_busy_node() {
    // 100 ms: node 1's heartbeat takes node 0's first queued task (the second), which starts
    // at once. 200 ms: the third, still queued on node 0 (busy until 250 ms), moves to node 1
    // though node 1 is busy too (Ray v0.6 checked a node's total, not its free, CPUs). 300 ms:
    // node 0's heartbeat takes it back from node 1's queue, and it starts there at once.
    let (tasks, end, spilled) = spill_run(true);
    assert_eq!(
        tasks,
        vec![
            (0, 0, 250 * MS),
            (1, 100 * MS, 350 * MS),
            (0, 300 * MS, 550 * MS)
        ]
    );
    assert_eq!((end, spilled), (550 * MS, 3));
}

/// Nine 100-byte objects made and released on one node with a 1,000-byte store, then a
/// 150-byte one kept: `(store used, evictions, objects the directory knows)`.
fn lifetime_run(lifetime: ObjectLifetime) -> (u64, u64, usize) {
    let model = ModelOptions {
        object_lifetime: lifetime,
        ..Default::default()
    };
    let mut c = cluster(spec(1, 1, 1_000, 0), Box::new(Fixed(0)), 0, model);
    for _ in 0..9 {
        drop(make(&mut c, 100));
    }
    let _kept = make(&mut c, 150);
    c.run_until_idle().unwrap();
    (
        c.nodes()[0].store_used,
        c.counters().evictions,
        c.live_objects(),
    )
}

#[test]
fn reference_counting_frees_released_objects_at_once() {
    assert_eq!(lifetime_run(ObjectLifetime::RefCount), (150, 0, 1));
}

#[test]
fn lru_keeps_released_objects_until_room_is_needed_then_frees_a_fifth_of_the_store() {
    // 900 bytes stay after their references go. The 150-byte object needs 50 more than the
    // 100 free; plasma frees at least a fifth of the store (200 bytes) beyond what is free: the
    // two least recently used objects go, and leave the directory with their last copy.
    assert_eq!(lifetime_run(ObjectLifetime::Lru), (850, 2, 8));
}

/// On one node with a 1,000-byte store: a 50-byte put, then an IR graph (a 100-byte
/// broadcast, a map of 3 over it), evaluated and everything dropped: `(store used, objects the
/// directory knows)` once idle.
fn ir_lifetime_run(lifetime: ObjectLifetime) -> (u64, usize) {
    let model = ModelOptions {
        object_lifetime: lifetime,
        ..Default::default()
    };
    let mut c = cluster(spec(1, 1, 1_000, 0), Box::new(Fixed(0)), 0, model);
    let put = c.put(Payload::modeled(&b""[..], 50)).unwrap();
    let ir = c.ir();
    let o = cohort_runtime::NodeOptions::default();
    let size = vec![cohort_runtime::TaskArg::Value(Payload::from_u64(100))];
    let b = ir.broadcast("make", 3, size, o).unwrap();
    let m = ir.map("touch", &b, vec![], o).unwrap();
    m.force(&mut c).unwrap();
    drop((put, ir, b, m));
    c.run_until_idle().unwrap();
    (c.nodes()[0].store_used, c.live_objects())
}

#[test]
fn the_irs_release_frees_what_its_dropped_nodes_made_and_lru_keeps_the_rest() {
    // Reference counting frees all five objects; LRU stores keep them all (put 50, broadcast
    // 100, three 8-byte map outputs); with the IR's release only the put stays.
    assert_eq!(ir_lifetime_run(ObjectLifetime::RefCount), (0, 0));
    assert_eq!(ir_lifetime_run(ObjectLifetime::Lru), (50 + 100 + 3 * 8, 5));
    assert_eq!(ir_lifetime_run(ObjectLifetime::LruIrRelease), (50, 1));
}

/// A 60-byte object held by the driver, evicted (last copy) by a second one on a 100-byte
/// store, then read: the end time.
fn lost_and_read(pull_timeout: u64) -> (u64, u64) {
    let mut s = spec(1, 1, 100, 0);
    s.recovery = Recovery {
        pull_timeout,
        ..Recovery::default()
    };
    let mut c = cluster(s, Box::new(Scripted(vec![])), 0, ModelOptions::default());
    let a = make(&mut c, 60);
    let _b = make(&mut c, 60);
    assert!(c.holders(a.id()).is_empty());
    let touch = c.function("touch").unwrap();
    let r = c.submit(Task::new(touch).arg(&a)).unwrap().remove(0);
    c.get(&r).unwrap();
    (c.now(), c.counters().reconstructed)
}

#[test]
fn a_lost_argument_is_rebuilt_after_the_pull_timeout() {
    // make a [0, 1 us], make b [1, 2 us]; the reader asks for lost `a` at 2 us.
    assert_eq!(lost_and_read(0), (4_000, 1));
    // Rebuilt 10 ms later: make [10.002, 10.003 ms], the reader [10.003, 10.004 ms].
    assert_eq!(lost_and_read(10 * MS), (10 * MS + 4_000, 1));
}

#[test]
fn serialization_adds_its_cost_per_output_object_and_byte() {
    let model = ModelOptions {
        serialization: Some(Serialization {
            per_object: 500,
            per_byte_ps: 1_000,
        }),
        ..Default::default()
    };
    let mut c = cluster(spec(1, 1, 1 << 20, 0), Box::new(Fixed(0)), 0, model);
    // 1 us of work, 500 ns for the object, 1,000 bytes at 1 ns each.
    make(&mut c, 1_000);
    assert_eq!(c.now(), 2_500);
}

fn jittered(seed: u64) -> Vec<u64> {
    let mut c = Cluster::new(
        spec(1, 4, 1 << 20, 0),
        basic_registry(),
        Box::new(Fixed(0)),
        ClusterConfig {
            model: ModelOptions {
                jitter: Jitter::Uniform {
                    spread_ppm: 100_000,
                },
                ..Default::default()
            },
            seed,
            ..Default::default()
        },
    )
    .unwrap();
    let touch = c.function("touch").unwrap();
    let outs: Vec<ObjectRef> = (0..200)
        .map(|_| c.submit(Task::new(touch)).unwrap().remove(0))
        .collect();
    for o in &outs {
        c.get(o).unwrap();
    }
    c.take_trace()
        .tasks
        .iter()
        .map(|t| t.finished - t.started)
        .collect()
}

#[test]
fn jitter_draws_each_duration_from_the_seed_within_its_spread() {
    let a = jittered(1);
    assert_eq!(a.len(), 200);
    // touch takes 1 us; a spread of 10 % keeps each within [900, 1,100] ns.
    assert!(a.iter().all(|d| (900..=1_100).contains(d)), "{a:?}");
    let distinct: std::collections::BTreeSet<_> = a.iter().collect();
    assert!(
        distinct.len() > 100,
        "{} distinct durations",
        distinct.len()
    );
    assert_eq!(a, jittered(1), "the same seed draws the same durations");
    assert_ne!(a, jittered(2));
}

#[test]
fn every_option_at_once_stays_deterministic() {
    let run = || {
        let mut s = spec(3, 2, 2_000, 100);
        s.recovery.pull_timeout = MS;
        let model = ModelOptions {
            view_accounting: ViewAccounting::Placements,
            spill_over: true,
            object_lifetime: ObjectLifetime::Lru,
            serialization: Some(Serialization {
                per_object: 100,
                per_byte_ps: 500,
            }),
            jitter: Jitter::LogNormal { sigma_ppm: 300_000 },
            latency_jitter: Jitter::LogNormal { sigma_ppm: 500_000 },
            pull_source: cohort_runtime::PullSource::Random,
            host_cores: Some(2),
            hints: cohort_runtime::HintSource::Inferred,
            wake_up: cohort_runtime::WakeUp::new(&[(100_000, 20_000), (MS, 80_000)]).unwrap(),
            transfer_cpu_ps: 300,
            first_touch_ps: 200,
            set_up_work: Some(30),
            head_work: 40,
            delayed_ack: 5 * MS,
        };
        let mut c = cluster(s, Box::new(crate::common::Seeded(5)), MS, model);
        let f = c.function("make").unwrap();
        let touch = c.function("touch").unwrap();
        let mut outs = Vec::new();
        for i in 0..60u64 {
            let o = c
                .submit(Task::new(f).arg(Payload::from_u64(100 + i * 7)))
                .unwrap()
                .remove(0);
            outs.push(c.submit(Task::new(touch).arg(&o)).unwrap().remove(0));
            if i % 10 == 9 {
                c.sleep(MS / 3).unwrap();
            }
        }
        for o in &outs {
            c.get(o).unwrap();
        }
        c.run_until_idle().unwrap();
        let t = c.take_trace();
        let nodes: Vec<NodeId> = t.tasks.iter().map(|r| r.node).collect();
        (c.now(), nodes, t.tasks.len())
    };
    assert_eq!(run(), run());
}

#[test]
fn spill_over_tells_the_policy_and_leaves_actor_constructors_where_they_were_placed() {
    use cohort_runtime::policy::{Hints, PolicyEvent};
    use cohort_runtime::{ActorKind, Call, CostModel};
    let mut r = basic_registry();
    r.actor(ActorKind::new("Probe", |_, _| Ok(())).method(
        "ping",
        CostModel::fixed(100),
        |_: &mut (), _, _| Ok(vec![Payload::from_u64(1)]),
    ))
    .unwrap();
    let policy = Recorder::new(Fixed(0));
    let events = policy.events.clone();
    let mut c = Cluster::new(
        spec(2, 1, 1 << 20, 0),
        r,
        Box::new(policy),
        ClusterConfig {
            heartbeat: 100 * MS,
            model: ModelOptions {
                spill_over: true,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    let sleep = c.function("sleep").unwrap();
    // Node 0's CPU busy until 250 ms; then an actor placed on node 0 (its constructor waits
    // in the ready queue) and a task (behind it).
    let busy = c
        .submit(Task::new(sleep).arg(sleeper(0, 250 * MS)))
        .unwrap()
        .remove(0);
    let kind = c.actor_kind("Probe").unwrap();
    let ping = c.method(kind, "ping").unwrap();
    let actor = c.create_actor(kind, vec![], Hints::NONE).unwrap();
    let pong = c.call(&actor, Call::new(ping)).unwrap().remove(0);
    let task = c
        .submit(Task::new(sleep).arg(sleeper(0, MS)))
        .unwrap()
        .remove(0);
    for o in [&busy, &pong, &task] {
        c.get(o).unwrap();
    }
    // At 100 ms the task (not the constructor ahead of it) moved to node 1 and ran there at
    // once; the actor stayed on node 0 and was built when the CPU freed at 250 ms.
    assert_eq!(c.actor_node(actor.id()), Some(NodeId(0)));
    assert_eq!(c.counters().spilled_over, 1);
    let t = c.take_trace();
    let moved = t
        .tasks
        .iter()
        .find(|r| r.name.as_ref() == "sleep" && r.node == NodeId(1));
    assert_eq!(moved.map(|r| r.started), Some(100 * MS));
    let placed: Vec<(u64, u32)> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            PolicyEvent::Placed { task, node, .. } => Some((task.0, node.0)),
            _ => None,
        })
        .collect();
    let moved_id = moved.unwrap().task.0;
    assert_eq!(
        placed
            .iter()
            .filter(|(t, _)| *t == moved_id)
            .collect::<Vec<_>>(),
        vec![&(moved_id, 0), &(moved_id, 1)],
        "placed on node 0, then told of its move to node 1"
    );
}

/// An object made on node 0 and copied to node 1, then read once on each of nodes 2..10, one
/// reader after the other (no transfer in flight at each pull): the source of each pull.
fn sources(pull: cohort_runtime::PullSource, seed: u64) -> Vec<u32> {
    let mut c = Cluster::new(
        spec(10, 1, 1 << 20, 0),
        basic_registry(),
        Box::new(Scripted((0..10).collect())),
        ClusterConfig {
            model: ModelOptions {
                pull_source: pull,
                ..Default::default()
            },
            seed,
            ..Default::default()
        },
    )
    .unwrap();
    let o = make(&mut c, 1_000);
    let touch = c.function("touch").unwrap();
    for _ in 1..10 {
        let r = c.submit(Task::new(touch).arg(&o)).unwrap().remove(0);
        c.get(&r).unwrap();
    }
    c.take_trace()
        .transfers
        .iter()
        .filter(|t| t.to != NodeId(1))
        .map(|t| t.from.0)
        .collect()
}

#[test]
fn a_pull_takes_the_least_busy_holder_or_one_drawn_from_the_seed() {
    use cohort_runtime::PullSource;
    // Idle holders: the fewest outgoing transfers ties, and the lowest id wins.
    let least = sources(PullSource::FewestOutgoing, 1);
    assert_eq!(least.len(), 8);
    assert!(least.iter().all(|&n| n == 0), "{least:?}");
    // Ray v0.6: a random holder among all copies made so far, the same for the same seed.
    let random = sources(PullSource::Random, 1);
    assert_eq!(random, sources(PullSource::Random, 1));
    assert!(random.iter().any(|&n| n != 0), "{random:?}");
    let holders: std::collections::BTreeSet<u32> = random.iter().copied().collect();
    assert!(holders.len() >= 3, "{random:?}");
}

/// 2 nodes of 2 CPUs with 1 MiB stores, `latency` and 1 byte a nanosecond, the work placed
/// by `script`, a live view.
fn on_two_nodes(latency: u64, script: Vec<u32>, model: ModelOptions) -> Cluster {
    cluster(
        spec(2, 2, 1 << 20, latency),
        Box::new(Scripted(script)),
        0,
        model,
    )
}

#[test]
fn work_beyond_the_hosts_cores_shares_them() {
    // Four 10 ms tasks at once on 2 nodes of 2 CPUs (the second pair `later` ns after the
    // first).
    let staggered = |host_cores, later| {
        let model = ModelOptions {
            host_cores,
            ..Default::default()
        };
        let mut c = on_two_nodes(0, vec![0, 0, 1, 1], model);
        let sleep = c.function("sleep").unwrap();
        for i in 0..4 {
            if i == 2 && later > 0 {
                c.sleep(later).unwrap();
            }
            c.submit(Task::new(sleep).arg(sleeper(0, 10 * MS))).unwrap();
        }
        c.run_until_idle().unwrap();
        let mut done: Vec<u64> = c.take_trace().tasks.iter().map(|t| t.finished).collect();
        done.sort_unstable();
        done
    };
    let run = |host_cores| staggered(host_cores, 0);
    assert_eq!(run(None), [10 * MS; 4]);
    assert_eq!(run(Some(4)), [10 * MS; 4], "cores enough: nothing changes");
    // On 2 cores the four share them: each runs at half speed, and all end at 20 ms.
    assert_eq!(run(Some(2)), [20 * MS; 4]);
    // One core: a quarter each.
    assert_eq!(run(Some(1)), [40 * MS; 4]);
    // A start slows the work already running: on 2 cores the first pair runs alone for
    // 4 ms, then all four at half speed until the first pair ends at 16 ms (the second pair
    // has 6 ms done by then), which finishes alone at 20 ms.
    assert_eq!(
        staggered(Some(2), 4 * MS),
        [16 * MS, 16 * MS, 20 * MS, 20 * MS]
    );
}

#[test]
fn an_idle_node_pays_its_wake_up_and_so_does_a_transfer_between_idle_nodes() {
    let wake_up = cohort_runtime::WakeUp::new(&[(MS, 100_000), (10 * MS, 500_000)]).unwrap();
    let model = ModelOptions {
        wake_up,
        ..Default::default()
    };
    // No latency.
    let mut c = on_two_nodes(0, vec![0, 0, 0, 1], model);
    let sleep = c.function("sleep").unwrap();
    let touch = c.function("touch").unwrap();
    // At 0 no node has idled: no cost. A ends at 10 ms.
    c.submit(Task::new(sleep).arg(sleeper(0, 10 * MS))).unwrap();
    c.sleep(15 * MS).unwrap();
    // At 15 ms node 0 has idled 5 ms: both tasks starting then pay the 1 ms step.
    let b = c
        .submit(Task::new(sleep).arg(sleeper(0, 10 * MS)))
        .unwrap()
        .remove(0);
    c.submit(Task::new(sleep).arg(sleeper(0, 10 * MS))).unwrap();
    c.run_until_idle().unwrap();
    let woke = 15 * MS;
    assert_eq!(c.now(), woke + 10 * MS + 100_000);
    c.sleep(20 * MS).unwrap();
    // At 45.1 ms a task on node 1 needs B's output from node 0: both ends have idled over
    // 10 ms, so the transfer waits 500 us before its bytes (8) flow; the task then starts on
    // a node active until that instant, and pays nothing.
    let asked = c.now();
    c.submit(Task::new(touch).arg(&b)).unwrap();
    c.run_until_idle().unwrap();
    let trace = c.take_trace();
    let ends: Vec<(&str, u64)> = trace.tasks.iter().map(|t| (&*t.name, t.finished)).collect();
    let arrived = asked + 500_000 + 8;
    assert_eq!(
        ends,
        [
            ("sleep", 10 * MS),
            ("sleep", woke + 10 * MS + 100_000),
            ("sleep", woke + 10 * MS + 100_000),
            ("touch", arrived + 1_000),
        ]
    );
    let x = &trace.transfers[0];
    assert_eq!(
        (x.requested, x.flowing, x.finished),
        (asked, asked + 500_000, arrived)
    );
}

/// On 2 nodes of 2 CPUs sharing one core, with `latency` and 1 byte a nanosecond: makes
/// `size` bytes on node 0 (1 us), then at `t0` (1 us) starts a 1 ms task on node 0 and a
/// `touch` (1 us) on node 1 that needs those bytes. The trace, and `t0`.
fn a_transfer_beside_a_task(
    model: ModelOptions,
    latency: u64,
    size: u64,
) -> (cohort_runtime::Trace, u64) {
    let mut c = on_two_nodes(
        latency,
        vec![0, 0, 1],
        ModelOptions {
            host_cores: Some(1),
            ..model
        },
    );
    let make = c.function("make").unwrap();
    let sleep = c.function("sleep").unwrap();
    let touch = c.function("touch").unwrap();
    let a = c
        .submit(Task::new(make).arg(Payload::from_u64(size)))
        .unwrap()
        .remove(0);
    c.run_until_idle().unwrap();
    let t0 = c.now();
    assert_eq!(t0, 1_000);
    c.submit(Task::new(sleep).arg(sleeper(0, MS))).unwrap();
    c.submit(Task::new(touch).arg(&a)).unwrap();
    c.run_until_idle().unwrap();
    (c.take_trace(), t0)
}

/// Each task's name and end, in the trace's order.
fn ends(trace: &cohort_runtime::Trace) -> Vec<(&str, u64)> {
    trace.tasks.iter().map(|t| (&*t.name, t.finished)).collect()
}

#[test]
fn on_one_host_the_heads_work_for_a_task_shares_the_cores_beside_it() {
    // One 10 ms task on a host of one core, the head's work for it 4 ms: the two share the
    // core until the head's is done (8 ms), then the task runs alone (6 ms left: 14 ms).
    // On two cores each has one: the task ends at 10 ms, as without the head's work.
    let run = |host_cores, head_work| {
        let model = ModelOptions {
            host_cores: Some(host_cores),
            head_work,
            ..Default::default()
        };
        let mut c = on_two_nodes(0, vec![0], model);
        let sleep = c.function("sleep").unwrap();
        c.submit(Task::new(sleep).arg(sleeper(0, 10 * MS))).unwrap();
        c.run_until_idle().unwrap();
        let work = c.host_work().expect("a host");
        let t = &c.take_trace().tasks[0];
        (t.finished - t.started, work.head_ns, work.total_ns())
    };
    assert_eq!(run(1, 4 * MS), (14 * MS, 4 * MS, 10 * MS));
    assert_eq!(run(2, 4 * MS), (10 * MS, 4 * MS, 10 * MS));
    assert_eq!(run(1, 0), (10 * MS, 0, 10 * MS));
}

#[test]
fn on_one_host_a_transfers_set_up_shares_the_cores_with_the_work() {
    // The transfer's 100 us set-up and the task share the core (200 us), the 8 bytes flow
    // alone (8 ns), then `touch` (1 us) and the task share it (2 us).
    // The core did 1,101 us of work from t0 without a pause.
    let (trace, t0) = a_transfer_beside_a_task(ModelOptions::default(), 100_000, 8);
    assert_set_up_then_8_bytes(&trace, t0, t0 + 200_000, t0 + 1_101_000);
}

/// Asserts that `trace`'s one transfer of 8 bytes, asked for at `t0`, flowed at `set_up`
/// (arriving 8 ns later), that `touch` then shared the core with `sleep` (2 us), and that
/// `sleep` ended at `slept`.
fn assert_set_up_then_8_bytes(trace: &cohort_runtime::Trace, t0: u64, set_up: u64, slept: u64) {
    let x = &trace.transfers[0];
    assert_eq!(
        (x.requested, x.flowing, x.finished),
        (t0, set_up, set_up + 8)
    );
    assert_eq!(
        ends(trace),
        [
            ("make", t0),
            ("touch", set_up + 8 + 2_000),
            ("sleep", slept)
        ]
    );
}

#[test]
fn on_one_host_only_a_set_ups_work_shares_the_cores_and_its_wait_does_not() {
    // Of the 100 us set-up, 40 us are work: it shares the core with the task (80 us), then
    // waits 60 us alone; the 8 bytes flow (8 ns); `touch` shares the core (2 us). The core
    // did 1,041 us of work from t0 without a pause.
    let split = |work| ModelOptions {
        set_up_work: Some(work),
        ..Default::default()
    };
    let (trace, t0) = a_transfer_beside_a_task(split(40_000), 100_000, 8);
    assert_set_up_then_8_bytes(&trace, t0, t0 + 80_000 + 60_000, t0 + 1_041_000);
    // No work: the set-up waits its 100 us and takes no core.
    let (trace, t0) = a_transfer_beside_a_task(split(0), 100_000, 8);
    assert_eq!(trace.transfers[0].flowing, t0 + 100_000);
    assert_eq!(ends(&trace)[2], ("sleep", t0 + 1_001_000));
    // Work beyond the latency: all of it is work, as without the option.
    let (whole, _) = a_transfer_beside_a_task(split(500_000), 100_000, 8);
    let (default, _) = a_transfer_beside_a_task(ModelOptions::default(), 100_000, 8);
    assert_eq!(whole.transfers, default.transfers);
    assert_eq!(ends(&whole), ends(&default));
}

#[test]
fn on_one_host_a_transfers_set_up_is_its_latency_with_the_noise_drawn_for_it() {
    // As above (40 us of the set-up is work, shared with the task), with a log-normal noise
    // on the latency, drawn from the seed (1), the object and its destination (node 1).
    let noisy = ModelOptions {
        set_up_work: Some(40_000),
        latency_jitter: Jitter::LogNormal { sigma_ppm: 800_000 },
        ..Default::default()
    };
    let (trace, t0) = a_transfer_beside_a_task(noisy, 100_000, 8);
    let x = &trace.transfers[0];
    let latency = noisy
        .latency_jitter
        .apply_to_transfer(100_000, 1, x.object.0, x.to.0);
    assert_ne!(latency, 100_000);
    let work = latency.min(40_000);
    assert_set_up_then_8_bytes(
        &trace,
        t0,
        t0 + 2 * work + (latency - work),
        t0 + 1_001_000 + work,
    );
}

#[test]
fn on_one_host_a_transfers_copies_share_the_cores_and_it_arrives_when_they_are_done() {
    // No latency; 1 ns of a core per byte copied. The 1,000 bytes flow in 1 us, but their
    // copies share the core with the 1 ms task: 2 us. Then `touch` (1 us) shares it: 2 us.
    let copies = ModelOptions {
        transfer_cpu_ps: 1_000,
        ..Default::default()
    };
    let (trace, t0) = a_transfer_beside_a_task(copies, 0, 1_000);
    let x = &trace.transfers[0];
    assert_eq!((x.requested, x.flowing, x.finished), (t0, t0, t0 + 2_000));
    assert_eq!(
        ends(&trace),
        [
            ("make", t0),
            ("touch", t0 + 4_000),
            ("sleep", t0 + 1_002_000)
        ]
    );
    // Without the copies' cost, the bytes arrive after 1 us and take no core.
    let (trace, t0) = a_transfer_beside_a_task(ModelOptions::default(), 0, 1_000);
    assert_eq!(trace.transfers[0].finished, t0 + 1_000);
}

#[test]
fn memory_a_nodes_store_reaches_for_the_first_time_costs_the_work_that_reaches_it() {
    // 3 ns of a core per byte of a node's store reached for the first time; `make` takes
    // 1 us and makes 1,000 bytes.
    let model = ModelOptions {
        host_cores: Some(1),
        first_touch_ps: 3_000,
        ..Default::default()
    };
    let mut c = on_two_nodes(0, vec![0, 0, 0, 1], model);
    let make = c.function("make").unwrap();
    let touch = c.function("touch").unwrap();
    let thousand = || Task::new(make).arg(Payload::from_u64(1_000));
    // The first two, each held, take node 0's store to 1,000 and 2,000 bytes: 1 + 3 us each.
    let a = c.submit(thousand()).unwrap().remove(0);
    c.run_until_idle().unwrap();
    let b = c.submit(thousand()).unwrap().remove(0);
    c.run_until_idle().unwrap();
    // Both freed, the third reaches 1,000 bytes again: no charge.
    drop((a, b));
    c.run_until_idle().unwrap();
    let third = c.submit(thousand()).unwrap().remove(0);
    c.run_until_idle().unwrap();
    // Read on node 1, whose store is new: the transfer's copies cost 3 us, more than its
    // bytes' 1 us on the wire.
    let t0 = c.now();
    c.submit(Task::new(touch).arg(&third)).unwrap();
    c.run_until_idle().unwrap();
    let trace = c.take_trace();
    let took: Vec<u64> = trace
        .tasks
        .iter()
        .filter(|t| &*t.name == "make")
        .map(|t| t.finished - t.started)
        .collect();
    assert_eq!(took, [4_000, 4_000, 1_000]);
    let x = &trace.transfers[0];
    assert_eq!((x.requested, x.finished), (t0, t0 + 3_000));
    // Nothing ran beside anything else: the work charged is the tasks' durations, and the
    // copies' first touch.
    let work = c.host_work().expect("the host's cores are shared");
    let durations: u64 = trace.tasks.iter().map(|t| t.finished - t.started).sum();
    assert_eq!((work.tasks_ns, work.copies_ns), (durations, 3_000));
}

#[test]
fn a_restarted_nodes_memory_is_new_again() {
    // As above, node 1 makes 1,000 bytes (1 us + 3 us), is killed at 10 us and back at
    // 20 us, and makes them again: 4 us again. Without the kill the second would take 1 us.
    let took = |kill: bool| {
        let mut s = spec(2, 2, 1 << 20, 0);
        if kill {
            let fault = cohort_runtime::Fault {
                kind: cohort_runtime::FaultKind::Kill { node: NodeId(1) },
                at: 10_000,
                until: Some(20_000),
            };
            s.faults = cohort_runtime::FaultScript::new(vec![fault], 2).unwrap();
        }
        let model = ModelOptions {
            host_cores: Some(1),
            first_touch_ps: 3_000,
            ..Default::default()
        };
        let mut c = cluster(s, Box::new(Scripted(vec![1, 1])), 0, model);
        let make = c.function("make").unwrap();
        for at in [0, 30_000] {
            c.sleep(at - c.now()).unwrap();
            let out = c
                .submit(Task::new(make).arg(Payload::from_u64(1_000)))
                .unwrap();
            c.run_until_idle_or(at + 9_000).unwrap();
            drop(out);
        }
        let trace = c.take_trace();
        let made: Vec<u64> = trace
            .tasks
            .iter()
            .filter(|t| t.node == NodeId(1))
            .map(|t| t.finished - t.started)
            .collect();
        made
    };
    assert_eq!(took(false), [4_000, 1_000]);
    assert_eq!(took(true), [4_000, 4_000]);
}

/// On 2 nodes of 2 CPUs sharing one core, with a 100 us latency: node 1 makes 8 bytes (0-1
/// us); node 0 then runs a 1 ms task and needs those bytes; node 1 dies at 51 us. The trace.
fn a_source_killed_beside_a_task(model: ModelOptions) -> cohort_runtime::Trace {
    let mut s = spec(2, 2, 1 << 20, 100_000);
    let kill = cohort_runtime::Fault {
        kind: cohort_runtime::FaultKind::Kill { node: NodeId(1) },
        at: 51_000,
        until: None,
    };
    s.faults = cohort_runtime::FaultScript::new(vec![kill], 2).unwrap();
    let model = ModelOptions {
        host_cores: Some(1),
        ..model
    };
    let mut c = cluster(s, Box::new(Scripted(vec![1, 0, 0])), 0, model);
    let make = c.function("make").unwrap();
    let sleep = c.function("sleep").unwrap();
    let touch = c.function("touch").unwrap();
    let a = c
        .submit(Task::new(make).arg(Payload::from_u64(8)))
        .unwrap()
        .remove(0);
    c.run_until_idle_or(1_000).unwrap();
    c.submit(Task::new(sleep).arg(sleeper(0, MS))).unwrap();
    c.submit(Task::new(touch).arg(&a)).unwrap();
    c.run_until_idle_or(2 * MS).unwrap();
    c.take_trace()
}

/// When the trace's `sleep` ended.
fn slept(trace: &cohort_runtime::Trace) -> u64 {
    trace
        .tasks
        .iter()
        .find(|t| &*t.name == "sleep")
        .unwrap()
        .finished
}

#[test]
fn on_one_host_a_killed_nodes_transfer_stops_sharing_the_cores() {
    // The transfer's 100 us set-up shares the one core with the task until node 1 dies at
    // 51 us (25 us each done): the task then has the core to itself, 975 us more.
    let trace = a_source_killed_beside_a_task(ModelOptions::default());
    assert_eq!(slept(&trace), 1_026_000);
}

#[test]
fn a_transfer_whose_source_dies_while_its_set_up_waits_never_arrives() {
    // The set-up is all waiting: the task has the core to itself (1 ms from 1 us), and the
    // transfer, whose wait would end at 101 us, is gone with node 1 at 51 us.
    let trace = a_source_killed_beside_a_task(ModelOptions {
        set_up_work: Some(0),
        ..Default::default()
    });
    assert_eq!(slept(&trace), 1_001_000);
    assert_eq!(trace.transfers, [], "nothing arrived");
}

/// Five 1 ms sleeps on 2 nodes of 2 CPUs (the first on the driver's node 0, the rest on node
/// 1), submitted at 0, 0, 1, 9 and 41 ms: when each starts, in submission order.
fn forwarded_starts(delayed_ack: u64) -> Vec<u64> {
    let model = ModelOptions {
        delayed_ack,
        ..Default::default()
    };
    let mut c = on_two_nodes(0, vec![0, 1, 1, 1, 1], model);
    let sleep = c.function("sleep").unwrap();
    let mut outs = Vec::new();
    for at in [0, 0, MS, 9 * MS, 41 * MS] {
        c.sleep(at - c.now()).unwrap();
        outs.push(
            c.submit(Task::new(sleep).arg(sleeper(0, MS)))
                .unwrap()
                .remove(0),
        );
    }
    c.run_until_idle().unwrap();
    let mut tasks = c.take_trace().tasks;
    tasks.sort_by_key(|t| t.task);
    tasks.iter().map(|t| t.started).collect()
}

#[test]
fn work_forwarded_away_from_the_drivers_node_waits_for_the_delayed_ack_before_it() {
    // Without the option, everything starts when submitted.
    assert_eq!(forwarded_starts(0), [0, 0, MS, 9 * MS, 41 * MS]);
    // With 40 ms: node 0's work is not forwarded; node 1's first forward goes at once; those
    // at 1 and 9 ms wait for its acknowledgement and go together at 40 ms; the one at 41 ms
    // waits for theirs, at 80 ms.
    assert_eq!(forwarded_starts(40 * MS), [0, 0, 40 * MS, 40 * MS, 80 * MS]);
}

#[test]
fn work_lost_with_its_node_while_forwarded_is_placed_again_once_the_node_is_declared_dead() {
    // Node 1 is killed at 5 ms, while the forward made at 1 ms waits for the acknowledgement
    // of the one made at 0 (due at 40 ms). Declared dead at 20 ms, the lost work is placed
    // again, on node 0, and runs then (50 ms), untouched by its forward's arrival at 40 ms;
    // the first, done at 1 ms, is not run again.
    let mut s = spec(2, 2, 1 << 20, 0);
    s.faults = cohort_runtime::FaultScript::new(
        vec![cohort_runtime::Fault {
            kind: cohort_runtime::FaultKind::Kill { node: NodeId(1) },
            at: 5 * MS,
            until: None,
        }],
        2,
    )
    .unwrap();
    s.recovery = Recovery {
        heartbeat_period: 10 * MS,
        missed_heartbeats: 2,
        ..Recovery::default()
    };
    let model = ModelOptions {
        delayed_ack: 40 * MS,
        ..Default::default()
    };
    let mut c = cluster(s, Box::new(Scripted(vec![1, 1, 0])), 0, model);
    let sleep = c.function("sleep").unwrap();
    let first = c
        .submit(Task::new(sleep).arg(sleeper(0, MS)))
        .unwrap()
        .remove(0);
    c.sleep(MS).unwrap();
    let second = c
        .submit(Task::new(sleep).arg(sleeper(0, 50 * MS)))
        .unwrap()
        .remove(0);
    c.get(&first).unwrap();
    c.get(&second).unwrap();
    let trace = c.take_trace();
    let runs: Vec<(u32, u64, u64)> = trace
        .tasks
        .iter()
        .map(|t| (t.node.0, t.started, t.finished))
        .collect();
    assert_eq!(runs, [(1, 0, MS), (0, 20 * MS, 70 * MS)]);
    assert_eq!(c.now(), 70 * MS);
}
