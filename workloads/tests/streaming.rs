//! The write-up's streaming example through the IR: what the group policy's hints buy, and
//! that long runs stay bounded in memory and policy state.

use cohort_policy_group::GroupPolicy;
use cohort_policy_random::RandomPolicy;
use cohort_runtime::policy::{Dependency, Placement, PlacementView, Policy, PolicyEvent, WorkKind};
use cohort_runtime::{Clock, Cluster, Trace};
use cohort_workloads::{End, Resolved, Workload, cluster_config, drive, registry};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A policy shared with the test, so that its state can be inspected during the run.
struct Shared<P>(Arc<Mutex<P>>);

impl<P: Policy> Policy for Shared<P> {
    fn name(&self) -> &str {
        "shared"
    }
    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        self.0.lock().unwrap().place(view)
    }
    fn on_event(&mut self, event: &PolicyEvent) {
        self.0.lock().unwrap().on_event(event)
    }
}

fn streaming(sets: &[(&str, &str)]) -> Resolved {
    let path = format!("{}/files/streaming.toml", env!("CARGO_MANIFEST_DIR"));
    let w = Workload::load(std::path::Path::new(&path)).unwrap();
    let o: BTreeMap<String, String> = sets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    w.resolve(&o).unwrap()
}

fn run(w: &Resolved, policy: Box<dyn Policy>, sample: &mut dyn FnMut(&Cluster)) -> Trace {
    let mut c = Cluster::new(
        w.spec.clone(),
        registry(w).unwrap(),
        policy,
        cluster_config(w, Clock::Virtual),
    )
    .unwrap();
    drive(w, &mut c, sample).unwrap();
    c.take_trace()
}

#[test]
fn group_hints_move_no_bytes_into_maps_and_shuffles_while_random_moves_many() {
    let mut w = streaming(&[("data_size", "4MiB")]);
    w.schedule.end = End::Duration(2_000_000_000);
    let trace = run(&w, Box::new(GroupPolicy::new(1)), &mut |_| {});
    let first_iteration_end = 100_000_000;
    let node_of: BTreeMap<(u64, u32), u32> = trace
        .tasks
        .iter()
        .map(|t| ((t.hints.group.0, t.hints.index), t.node.0))
        .collect();
    let mut shuffles = 0;
    for t in trace.tasks.iter().filter(|t| &*t.name == "shuffle") {
        let Dependency::Task(g, i) = t.hints.dependency else {
            panic!("a shuffle without a task dependency: {t:?}")
        };
        assert_eq!(
            t.node.0,
            node_of[&(g.0, i)],
            "shuffle {t:?} not on its input's node"
        );
        shuffles += 1;
    }
    assert!(shuffles >= 20 * 15, "{shuffles} shuffles");
    let big_after_first: Vec<_> = trace
        .transfers
        .iter()
        .filter(|x| x.requested >= first_iteration_end && x.bytes > 64)
        .collect();
    assert!(
        big_after_first.is_empty(),
        "group moved data: {:?}",
        &big_after_first[..1]
    );
    assert!(
        trace.transfers.iter().any(|x| x.bytes == 32),
        "shuffle outputs still travel to the reducers"
    );

    let trace = run(&w, Box::new(RandomPolicy::new(1)), &mut |_| {});
    let moved: u64 = trace
        .transfers
        .iter()
        .filter(|x| x.requested >= first_iteration_end && x.bytes == 4 << 20)
        .map(|x| x.bytes)
        .sum();
    assert!(
        moved > 100 * (4 << 20),
        "random moved only {moved} bytes of map output"
    );
}

#[test]
fn ten_thousand_iterations_stay_bounded() {
    let mut w = streaming(&[("data_size", "64KiB"), ("heartbeat", "0ms")]);
    w.schedule.end = End::Iterations(10_000);
    let policy = Arc::new(Mutex::new(GroupPolicy::new(3)));
    let mut samples: Vec<(usize, usize, usize)> = Vec::new();
    let mut iteration = 0u64;
    let trace = run(&w, Box::new(Shared(Arc::clone(&policy))), &mut |c| {
        iteration += 1;
        if iteration % 500 == 0 {
            samples.push((
                policy.lock().unwrap().state_size(),
                c.live_objects(),
                c.live_tasks(),
            ));
        }
    });
    assert_eq!(samples.len(), 20);
    let max = samples
        .iter()
        .fold((0, 0, 0), |m, s| (m.0.max(s.0), m.1.max(s.1), m.2.max(s.2)));
    // One iteration's groups (maps, shuffles, reduce calls) plus the long-lived broadcast and
    // reducers; objects: the broadcast plus at most an iteration in flight.
    assert!(max.0 <= 4 * 100, "policy state grew to {}", max.0);
    assert!(max.1 <= 100, "live objects grew to {}", max.1);
    assert!(max.2 <= 100, "live tasks grew to {}", max.2);
    assert_eq!(
        samples[1], samples[19],
        "state differs between iteration 1000 and 10000"
    );
    let reduces = trace
        .tasks
        .iter()
        .filter(|t| t.kind == WorkKind::ActorMethod)
        .count();
    assert_eq!(reduces, 4 * 10_000);
}

#[test]
fn a_run_recording_into_a_recycled_trace_records_the_same_in_the_same_memory() {
    let mut w = streaming(&[("data_size", "1MiB")]);
    w.schedule.end = End::Duration(1_000_000_000);
    let first = run(&w, Box::new(RandomPolicy::new(3)), &mut |_| {});
    assert!(!first.tasks.is_empty() && !first.transfers.is_empty());
    let spare = first.clone();
    let (tasks_at, transfers_at) = (spare.tasks.as_ptr(), spare.transfers.as_ptr());
    let mut c = Cluster::new(
        w.spec.clone(),
        registry(&w).unwrap(),
        Box::new(RandomPolicy::new(3)),
        cluster_config(&w, Clock::Virtual),
    )
    .unwrap();
    c.recycle_trace(spare);
    drive(&w, &mut c, &mut |_| {}).unwrap();
    let again = c.take_trace();
    assert_eq!(again, first, "recycling changes nothing recorded");
    // The same run fits in the spare's room, so its records went there.
    assert_eq!(again.tasks.as_ptr(), tasks_at);
    assert_eq!(again.transfers.as_ptr(), transfers_at);
}
