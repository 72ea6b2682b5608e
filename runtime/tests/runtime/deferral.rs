//! Deferred placement (`Placement::Defer`): when the policy is asked again, what it is shown,
//! the runtime's bound on waiting, and bad deferrals; on the virtual clock, with exact times.

use crate::common::{basic_registry, sleeper, spec};
use cohort_runtime::policy::{NodeId, Placement, PlacementView, Policy};
use cohort_runtime::{Cluster, MILLISECOND, ObjectRef, RuntimeError, SECOND, Task};
use std::sync::{Arc, Mutex};

const MS: u64 = MILLISECOND;

/// Each ask: (task, now, waited, may_defer).
type Asks = Arc<Mutex<Vec<(u64, u64, u64, bool)>>>;

/// Node 0 if it can start the task now (or if the task may not wait); else defers for `wait`.
/// With `stubborn`, defers whatever the view says.
struct WaitForNode0 {
    wait: u64,
    stubborn: bool,
    asks: Asks,
}

impl Policy for WaitForNode0 {
    fn name(&self) -> &str {
        "wait-for-node-0"
    }
    fn place(&mut self, v: &PlacementView<'_>) -> Placement {
        self.asks
            .lock()
            .unwrap()
            .push((v.task.0, v.now_ns, v.waited_ns, v.may_defer));
        let free = v.nodes[0].cpus_available_minus_queued() > 0;
        if !self.stubborn && (free || !v.may_defer) {
            Placement::Node(NodeId(0))
        } else {
            Placement::Defer(self.wait)
        }
    }
}

/// Two nodes of one CPU each.
fn cluster(wait: u64, stubborn: bool) -> (Cluster, Asks) {
    cluster_with_heartbeat(wait, stubborn, 0)
}

/// Two nodes of one CPU each, the policy's view refreshed every `heartbeat`.
fn cluster_with_heartbeat(wait: u64, stubborn: bool, heartbeat: u64) -> (Cluster, Asks) {
    let asks = Asks::default();
    let policy = WaitForNode0 {
        wait,
        stubborn,
        asks: asks.clone(),
    };
    let c = Cluster::new(
        spec(2, 1, 1 << 20, 0),
        basic_registry(),
        Box::new(policy),
        cohort_runtime::ClusterConfig {
            heartbeat,
            ..Default::default()
        },
    )
    .unwrap();
    (c, asks)
}

/// Submits a task that runs for `ns`.
fn sleep_for(c: &mut Cluster, ns: u64) -> Result<ObjectRef, RuntimeError> {
    let f = c.function("sleep").unwrap();
    Ok(c.submit(Task::new(f).arg(sleeper(7, ns)))?.remove(0))
}

/// The asks about `task`: (now, waited, may_defer).
fn asks_of(asks: &Asks, task: u64) -> Vec<(u64, u64, bool)> {
    asks.lock()
        .unwrap()
        .iter()
        .filter(|a| a.0 == task)
        .map(|a| (a.1, a.2, a.3))
        .collect()
}

#[test]
fn a_deferred_task_is_asked_again_as_soon_as_a_slot_frees() {
    let (mut c, asks) = cluster(SECOND, false);
    let _first = sleep_for(&mut c, 10 * MS).unwrap();
    let second = sleep_for(&mut c, 5 * MS).unwrap();
    assert_eq!(c.live_tasks(), 2, "the deferred task is live work");
    c.get(&second).unwrap();
    // Asked at submission (node 0 busy: deferred), then when the first task's slot freed.
    assert_eq!(asks_of(&asks, 2), [(0, 0, true), (10 * MS, 10 * MS, true)]);
    assert_eq!(c.now(), 15 * MS);
    assert_eq!(c.counters().deferrals, 1);
}

#[test]
fn with_a_stale_view_the_policy_is_asked_again_at_the_heartbeat_that_shows_the_free_slot() {
    let (mut c, asks) = cluster_with_heartbeat(SECOND, false, 100 * MS);
    let _first = sleep_for(&mut c, 150 * MS).unwrap();
    // From the 100 ms heartbeat on, the view shows node 0 busy.
    c.sleep(100 * MS).unwrap();
    let second = sleep_for(&mut c, 5 * MS).unwrap();
    c.get(&second).unwrap();
    // The slot that frees at 150 ms shows at the 200 ms heartbeat, when it is asked again.
    assert_eq!(
        asks_of(&asks, 2),
        [(100 * MS, 0, true), (200 * MS, 100 * MS, true)]
    );
    assert_eq!(c.now(), 205 * MS);
}

#[test]
fn a_deferral_that_runs_out_asks_again_with_the_time_waited() {
    let (mut c, asks) = cluster(3 * MS, false);
    let _first = sleep_for(&mut c, 10 * MS).unwrap();
    let second = sleep_for(&mut c, 5 * MS).unwrap();
    c.get(&second).unwrap();
    // Every 3 ms until the slot frees at 10 ms; the retry due at 12 ms finds it placed.
    assert_eq!(
        asks_of(&asks, 2),
        [
            (0, 0, true),
            (3 * MS, 3 * MS, true),
            (6 * MS, 6 * MS, true),
            (9 * MS, 9 * MS, true),
            (10 * MS, 10 * MS, true),
        ]
    );
    assert_eq!(c.now(), 15 * MS);
    assert_eq!(c.counters().deferrals, 4);
    c.run_until_idle().unwrap();
    assert_eq!(asks_of(&asks, 2).len(), 5, "the stale retry asks nothing");
}

#[test]
fn after_ten_seconds_of_waiting_the_policy_must_place() {
    let (mut c, asks) = cluster(SECOND, false);
    let _first = sleep_for(&mut c, 20 * SECOND).unwrap();
    let second = sleep_for(&mut c, 5 * MS).unwrap();
    c.get(&second).unwrap();
    let seen = asks_of(&asks, 2);
    assert_eq!(seen.len(), 11);
    assert!(seen[..10].iter().all(|a| a.2), "{seen:?}");
    assert_eq!(seen[10], (10 * SECOND, 10 * SECOND, false));
    // Placed on node 0 at 10 s, it queued behind the first task.
    assert_eq!(c.now(), 20 * SECOND + 5 * MS);
}

#[test]
fn a_deferral_the_runtime_does_not_allow_fails_the_work_naming_the_policy() {
    // Deferring past the bound: the waiting task fails, and so does what reads its output.
    let (mut c, _) = cluster(SECOND, true);
    let waiting = sleep_for(&mut c, MS).unwrap();
    let err = c.get(&waiting).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("policy `wait-for-node-0` deferred")
            && text.contains("may not wait (the view's may_defer is false"),
        "{text}"
    );
    assert_eq!(c.now(), 10 * SECOND);
    assert_eq!(c.counters().failed, 1);
    // Deferring for no time at all is refused at once.
    let (mut c, _) = cluster(0, true);
    let err = sleep_for(&mut c, MS).unwrap_err();
    assert!(
        matches!(&err, RuntimeError::PolicyBadDeferral { problem, .. }
            if problem.contains("no time at all")),
        "{err}"
    );
}
