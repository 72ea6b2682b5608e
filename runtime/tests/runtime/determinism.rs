//! Same inputs and seed on the virtual clock: identical traces. Another seed: other
//! placements.

use crate::common::Seeded;
use crate::mapreduce::run;
use cohort_runtime::Clock;

fn placements(seed: u64) -> (Vec<u32>, cohort_runtime::Trace) {
    let (_, mut c) = run(Box::new(Seeded(seed)), Clock::Virtual);
    c.run_until_idle().unwrap();
    let trace = c.take_trace();
    (trace.tasks.iter().map(|t| t.node.0).collect(), trace)
}

#[test]
fn the_same_seed_gives_an_identical_trace() {
    let (p1, t1) = placements(42);
    let (p2, t2) = placements(42);
    assert_eq!(p1, p2);
    assert_eq!(t1, t2);
    assert!(!t1.transfers.is_empty(), "a random placement moves data");
}

#[test]
fn another_seed_gives_different_placements() {
    let (p1, _) = placements(42);
    let (p2, _) = placements(43);
    assert_eq!(p1.len(), p2.len());
    assert_ne!(p1, p2);
}
