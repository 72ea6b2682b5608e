//! The policy's load view lags reality by the heartbeat period.

use crate::common::{Fixed, Recorder, basic_registry, sleeper, spec};
use cohort_runtime::{Cluster, ClusterConfig, MILLISECOND, Task};

fn busy_seen(heartbeat: u64) -> Vec<(u64, u64, u32)> {
    let policy = Recorder::new(Fixed(0));
    let seen = policy.seen.clone();
    let mut c = Cluster::new(
        spec(2, 4, 1 << 20, 0),
        basic_registry(),
        Box::new(policy),
        ClusterConfig {
            heartbeat,
            ..Default::default()
        },
    )
    .unwrap();
    let sleep = c.function("sleep").unwrap();
    // A task that keeps one CPU of node 0 busy for 1 s, then probes at 10, 150 and 250 ms.
    let _long = c
        .submit(Task::new(sleep).arg(sleeper(0, 1_000 * MILLISECOND)))
        .unwrap();
    let mut probes = Vec::new();
    for at in [10, 150, 250] {
        c.sleep(at * MILLISECOND - c.now()).unwrap();
        probes.push(c.submit(Task::new(sleep).arg(sleeper(0, 1))).unwrap());
    }
    seen.lock()
        .unwrap()
        .iter()
        .map(|s| (s.now, s.view_time, s.busy[0]))
        .collect()
}

#[test]
fn a_zero_heartbeat_shows_the_live_state() {
    let ms = MILLISECOND;
    assert_eq!(
        busy_seen(0),
        vec![
            (0, 0, 0),
            (10 * ms, 10 * ms, 1),
            (150 * ms, 150 * ms, 1),
            (250 * ms, 250 * ms, 1)
        ]
    );
}

#[test]
fn a_100ms_heartbeat_shows_the_state_at_the_last_heartbeat() {
    let ms = MILLISECOND;
    // At 10 ms the view is still the one of time 0, before the long task started; at 150 ms
    // it is the one of 100 ms, in which the task runs (and the 10 ms probe has finished).
    assert_eq!(
        busy_seen(100 * ms),
        vec![
            (0, 0, 0),
            (10 * ms, 0, 0),
            (150 * ms, 100 * ms, 1),
            (250 * ms, 200 * ms, 1)
        ]
    );
}
