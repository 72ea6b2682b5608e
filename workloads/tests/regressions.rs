//! Runs that once broke the runtime, kept as they were found.

use cohort_policy::ffi::vtable;
use cohort_policy_group::GroupPolicy;
use cohort_runtime::plugin::Plugin;
use cohort_runtime::{Clock, Cluster};
use cohort_workloads::{Workload, cluster_config, drive, registry};
use std::collections::BTreeMap;

/// Found by `cohort leaderboard --ablations`: tree-reduce at 16 MiB under group without its
/// task-dependency rule, seed 2. Stores fill; a pull waiting for room asks again for an
/// argument that was lost meanwhile; rebuilding it places its producer again, which fails
/// the asking task on the way (its own argument cannot come), and that frees the argument
/// being asked for. The core then panicked ("the object exists"); now the asking work has
/// simply ended, and the run goes on.
#[test]
fn rebuilding_a_lost_argument_may_fail_the_work_that_asked_for_it() {
    let path = format!("{}/files/tree-reduce.toml", env!("CARGO_MANIFEST_DIR"));
    let w = Workload::load(std::path::Path::new(&path)).unwrap();
    let sets = BTreeMap::from([("grad_size".to_string(), "16MiB".to_string())]);
    let w = w.resolve(&sets).unwrap();
    let policy = Plugin::linked("built-in:group-no-follow", vtable::<GroupPolicy>())
        .create("follow = false", 2)
        .unwrap();
    let mut c = Cluster::new(
        w.spec.clone(),
        registry(&w).unwrap(),
        Box::new(policy),
        cluster_config(&w, Clock::Virtual),
    )
    .unwrap();
    drive(&w, &mut c, &mut |_| {}).expect("the run ends");
    let counters = c.counters();
    // The scenario still happens: work was rebuilt, and some failed.
    assert!(counters.reconstructed > 0, "{counters:?}");
    assert!(counters.failed > 0, "{counters:?}");
}
