//! A computation with a known answer gives exactly that answer under every placement and
//! on both clocks.

use crate::common::{Fixed, RoundRobin, Scripted, Seeded, spec};
use cohort_runtime::policy::{Dependency, GroupId, Hints, Policy};
use cohort_runtime::{
    ActorKind, Call, Clock, Cluster, ClusterConfig, CostModel, Payload, Registry, Task,
};

pub const REDUCERS: u32 = 3;
pub const MAPS: u64 = 8;
pub const N: i64 = 1000;

/// Squares each integer of a chunk and partitions the squares by value mod `REDUCERS`,
/// returning one partial sum per reducer; reducers add up what they receive.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    let per_byte = CostModel {
        fixed_ns: 2_000,
        per_input_byte_ps: 500,
        per_output_byte_ps: 500,
        ..CostModel::default()
    };
    r.function("square_partition", per_byte, |_, args: &[Payload]| {
        let mut sums = vec![0i64; REDUCERS as usize];
        for v in args[0].as_i64s() {
            sums[(v % i64::from(REDUCERS)) as usize] += v * v;
        }
        Ok(sums.iter().map(|s| Payload::from_i64s(&[*s])).collect())
    })
    .unwrap();
    r.actor(
        ActorKind::new("Adder", |_, _| Ok(0i64))
            .method("add", CostModel::fixed(500), |s: &mut i64, _, args| {
                for a in args {
                    *s += a.as_i64s()[0];
                }
                Ok(vec![])
            })
            .method("total", CostModel::fixed(500), |s: &mut i64, _, _| {
                Ok(vec![Payload::from_i64s(&[*s])])
            }),
    )
    .unwrap();
    r
}

/// Runs the computation and returns the reducers' totals.
pub fn run(policy: Box<dyn Policy>, clock: Clock) -> (Vec<i64>, Cluster) {
    let mut c = Cluster::new(
        spec(4, 2, 1 << 20, 10_000),
        registry(),
        policy,
        ClusterConfig {
            clock,
            ..Default::default()
        },
    )
    .unwrap();
    let f = c.function("square_partition").unwrap();
    let kind = c.actor_kind("Adder").unwrap();
    let add = c.method(kind, "add").unwrap();
    let total = c.method(kind, "total").unwrap();
    let reducers: Vec<_> = (0..REDUCERS)
        .map(|i| {
            let h = Hints {
                group: GroupId(3),
                index: i,
                dependency: Dependency::None,
            };
            c.create_actor(kind, vec![], h).unwrap()
        })
        .collect();
    let chunk = N / MAPS as i64;
    let mut parts: Vec<Vec<_>> = vec![Vec::new(); REDUCERS as usize];
    for m in 0..MAPS as i64 {
        let values: Vec<i64> = (m * chunk + 1..=(m + 1) * chunk).collect();
        let input = c.put(Payload::from_i64s(&values)).unwrap();
        let hints = Hints {
            group: GroupId(1),
            index: m as u32,
            dependency: Dependency::None,
        };
        let outs = c
            .submit(Task::new(f).arg(&input).returns(REDUCERS).hints(hints))
            .unwrap();
        for (r, o) in outs.into_iter().enumerate() {
            parts[r].push(o);
        }
    }
    for (r, actor) in reducers.iter().enumerate() {
        let h = Hints {
            group: GroupId(2),
            index: r as u32,
            dependency: Dependency::Group(GroupId(1)),
        };
        c.call(actor, Call::new(add).args(&parts[r]).hints(h).returns(0))
            .unwrap();
    }
    drop(parts);
    let totals = reducers
        .iter()
        .map(|a| {
            let o = c.call(a, Call::new(total)).unwrap().remove(0);
            c.get(&o).unwrap().as_i64s()[0]
        })
        .collect();
    (totals, c)
}

pub fn expected() -> Vec<i64> {
    let mut sums = vec![0i64; REDUCERS as usize];
    for v in 1..=N {
        sums[(v % i64::from(REDUCERS)) as usize] += v * v;
    }
    sums
}

#[test]
fn the_answer_is_exact_under_every_placement() {
    assert_eq!(expected().iter().sum::<i64>(), 333_833_500);
    let policies: Vec<(&str, Box<dyn Policy>)> = vec![
        ("all on node 0", Box::new(Fixed(0))),
        ("all on node 3", Box::new(Fixed(3))),
        ("round robin", Box::new(RoundRobin::default())),
        ("seeded 1", Box::new(Seeded(1))),
        ("seeded 2", Box::new(Seeded(2))),
        (
            "scripted",
            Box::new(Scripted(vec![3, 1, 1, 2, 0, 3, 2, 1, 0, 0, 2])),
        ),
    ];
    for (name, p) in policies {
        let (totals, mut c) = run(p, Clock::Virtual);
        assert_eq!(totals, expected(), "{name}");
        c.run_until_idle().unwrap();
        // Everything but the three `total` outputs was freed once nothing referred to it.
        assert_eq!(c.live_objects(), 0, "{name}");
        assert_eq!(c.live_tasks(), 0, "{name}");
    }
}

#[test]
fn the_answer_is_exact_on_the_real_clock() {
    for p in [
        Box::new(RoundRobin::default()) as Box<dyn Policy>,
        Box::new(Seeded(5)),
    ] {
        let (totals, _) = run(
            p,
            Clock::Real {
                add_modeled: false,
                workers: 2,
            },
        );
        assert_eq!(totals, expected());
    }
}

#[test]
fn the_real_clock_can_add_the_modeled_duration() {
    let (totals, c) = run(
        Box::new(Fixed(1)),
        Clock::Real {
            add_modeled: true,
            workers: 1,
        },
    );
    assert_eq!(totals, expected());
    // Eight maps on one node with two CPUs, each modeled at well over 2 µs.
    assert!(c.now() >= 4 * 2_000);
}
