//! The IR: hints per node kind, deferred actor placement, memoized evaluation, group
//! lifecycle, bad input.

use crate::common::{Recorder, RoundRobin, spec};
use cohort_runtime::ir::Pairing;
use cohort_runtime::policy::{Dependency, GroupId, Hints, PolicyEvent, WorkKind};
use cohort_runtime::{
    ActorKind, Cluster, CostModel, HintSource, IrError, NodeOptions, Payload, Registry,
    RuntimeError, TaskArg,
};
use std::sync::{Arc, Mutex};

fn registry() -> Registry {
    let mut r = Registry::new();
    r.function("generate", CostModel::fixed(1_000), |_, _| {
        Ok(vec![Payload::modeled(vec![0u8; 8], 1_000)])
    })
    .unwrap();
    r.function("step", CostModel::fixed(1_000), |_, args: &[Payload]| {
        Ok(vec![args[0].clone()])
    })
    .unwrap();
    r.actor(ActorKind::new("Sink", |_, _| Ok(0u64)).method(
        "take",
        CostModel::fixed(1_000),
        |n: &mut u64, _, args| {
            *n += args.len() as u64;
            Ok(vec![Payload::from_u64(*n)])
        },
    ))
    .unwrap();
    r
}

type Events = Arc<Mutex<Vec<PolicyEvent>>>;

fn cluster() -> (Cluster, Events) {
    let p = Recorder::new(RoundRobin::default());
    let events = p.events.clone();
    let c = Cluster::new(
        spec(3, 4, 1 << 30, 0),
        registry(),
        Box::new(p),
        Default::default(),
    )
    .unwrap();
    (c, events)
}

/// (kind, hints) of every placement, in order.
fn placed(events: &Events) -> Vec<(WorkKind, Hints)> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            PolicyEvent::Placed { kind, hints, .. } => Some((*kind, *hints)),
            _ => None,
        })
        .collect()
}

fn freed(events: &Events) -> Vec<GroupId> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            PolicyEvent::GroupFreed(g) => Some(*g),
            _ => None,
        })
        .collect()
}

fn h(group: GroupId, index: u32, dependency: Dependency) -> Hints {
    Hints {
        group,
        index,
        dependency,
    }
}

/// The write-up's graph, evaluated on `c`: two `Sink` actors, a broadcast of 3, two maps
/// over it in a row, and the actors' reduce over the second; returns those nodes, in order.
fn write_up(c: &mut Cluster) -> [cohort_runtime::IrNode; 5] {
    let ir = c.ir();
    let o = NodeOptions::default();
    let actors = ir.init_actors("Sink", 2, vec![]).unwrap();
    let b = ir.broadcast("generate", 3, vec![], o).unwrap();
    let m1 = ir.map("step", &b, vec![], o).unwrap();
    let m2 = ir.map("step", &m1, vec![], o).unwrap();
    let red = ir.reduce_actors("take", &actors, &m2, vec![], o).unwrap();
    let outs = red.eval(c).unwrap();
    assert_eq!(c.get(&outs[1][0]).unwrap().as_u64(), Some(3));
    [actors, b, m1, m2, red]
}

#[test]
fn each_node_kind_emits_the_write_ups_hints() {
    let (mut c, events) = cluster();
    let [actors, b, m1, m2, red] = write_up(&mut c);
    let (gb, g1, g2, gr, ga) = (
        b.group(),
        m1.group(),
        m2.group(),
        red.group(),
        actors.group(),
    );
    use Dependency::{Group, None as No, Task};
    use WorkKind::{ActorCreation, ActorMethod, Task as T};
    assert_eq!(
        placed(&events),
        vec![
            (T, h(gb, 0, No)),
            (T, h(g1, 0, Group(gb))),
            (T, h(g1, 1, Group(gb))),
            (T, h(g1, 2, Group(gb))),
            (T, h(g2, 0, Task(g1, 0))),
            (T, h(g2, 1, Task(g1, 1))),
            (T, h(g2, 2, Task(g1, 2))),
            // Each actor is placed at its first call, inheriting that call's dependency.
            (ActorCreation, h(ga, 0, Group(g2))),
            (ActorMethod, h(gr, 0, Group(g2))),
            (ActorCreation, h(ga, 1, Group(g2))),
            (ActorMethod, h(gr, 1, Group(g2))),
        ]
    );
}

#[test]
fn actors_are_not_placed_before_the_first_reduce() {
    let (mut c, events) = cluster();
    let ir = c.ir();
    let actors = ir.init_actors("Sink", 2, vec![]).unwrap();
    let handles = actors.eval_actors(&mut c).unwrap();
    c.run_until_idle().unwrap();
    assert!(placed(&events).is_empty());
    assert!(handles.iter().all(|a| c.actor_node(a.id()).is_none()));
}

#[test]
fn evaluation_is_memoized() {
    let (mut c, events) = cluster();
    let ir = c.ir();
    let o = NodeOptions::default();
    let b = ir.broadcast("generate", 4, vec![], o).unwrap();
    let m = ir.map("step", &b, vec![], o).unwrap();
    let first = m.eval(&mut c).unwrap();
    let again = m.eval(&mut c).unwrap();
    let ids =
        |v: &Vec<cohort_runtime::Outputs>| v.iter().flatten().map(|r| r.id()).collect::<Vec<_>>();
    assert_eq!(ids(&first), ids(&again));
    // Two maps over one broadcast submit the broadcast once.
    let m2 = ir.map("step", &b, vec![], o).unwrap();
    m2.eval(&mut c).unwrap();
    assert_eq!(placed(&events).len(), 1 + 4 + 4);
    // A broadcast's handles all name the same object.
    let handles = b.eval(&mut c).unwrap();
    assert!(handles.iter().all(|h| h[0].id() == handles[0][0].id()));
}

#[test]
fn groups_are_freed_when_no_graph_needs_them() {
    let (mut c, events) = cluster();
    let ir = c.ir();
    let o = NodeOptions::default();
    let b = ir.broadcast("generate", 2, vec![], o).unwrap();
    let m1 = ir.map("step", &b, vec![], o).unwrap();
    let m2 = ir.map("step", &m1, vec![], o).unwrap();
    let (g1, g2) = (m1.group(), m2.group());
    m2.eval(&mut c).unwrap();
    drop(m1); // m2 still needs it
    c.run_until_idle().unwrap();
    assert!(freed(&events).is_empty());
    drop(m2);
    c.run_until_idle().unwrap();
    assert_eq!(freed(&events), vec![g2, g1]);
    assert!(!freed(&events).contains(&b.group()));
}

#[test]
fn mismatched_lengths_are_typed_errors_naming_the_node() {
    let (c, _) = cluster();
    let ir = c.ir();
    let o = NodeOptions::default();
    let b = ir.broadcast("generate", 3, vec![], o).unwrap();
    let two = vec![vec![TaskArg::Value(Payload::from_u64(1))]; 2];
    let err = ir.map("step", &b, two.clone(), o).unwrap_err();
    assert_eq!(
        err,
        IrError::ArgsLength {
            node: "Map(step)".into(),
            what: "tasks",
            expected: 3,
            got: 2
        }
    );
    assert_eq!(err.to_string(), "Map(step): 2 argument lists for 3 tasks");
    let err = ir.init_actors("Sink", 3, two.clone()).unwrap_err();
    assert!(matches!(
        err,
        IrError::ArgsLength {
            what: "actors",
            expected: 3,
            got: 2,
            ..
        }
    ));
    let actors = ir.init_actors("Sink", 3, vec![]).unwrap();
    let err = ir.reduce_actors("take", &actors, &b, two, o).unwrap_err();
    assert!(
        matches!(err, IrError::ArgsLength { what: "actors", .. }),
        "{err}"
    );
}

#[test]
fn unknown_names_and_wrong_inputs_are_typed_errors() {
    let (c, _) = cluster();
    let ir = c.ir();
    let o = NodeOptions::default();
    let actors = ir.init_actors("Sink", 2, vec![]).unwrap();
    let b = ir.broadcast("generate", 2, vec![], o).unwrap();
    let err = ir
        .reduce_actors("nope", &actors, &b, vec![], o)
        .unwrap_err();
    assert_eq!(
        err,
        IrError::Runtime {
            node: "ReduceActors(nope)".into(),
            source: RuntimeError::UnknownMethod {
                kind: "Sink".into(),
                method: "nope".into()
            }
        }
    );
    assert_eq!(
        err.to_string(),
        "ReduceActors(nope): actor kind `Sink` has no method `nope`"
    );
    assert!(matches!(
        ir.map("missing", &b, vec![], o).unwrap_err(),
        IrError::Runtime {
            source: RuntimeError::UnknownFunction(_),
            ..
        }
    ));
    assert!(matches!(
        ir.map("step", &actors, vec![], o).unwrap_err(),
        IrError::WrongInput { .. }
    ));
    assert!(matches!(
        ir.reduce_actors("take", &b, &b, vec![], o).unwrap_err(),
        IrError::WrongInput {
            problem: "is not an InitActors node",
            ..
        }
    ));
}

#[test]
fn evaluating_a_node_whose_input_was_released_fails() {
    let (mut c, _) = cluster();
    let ir = c.ir();
    let o = NodeOptions::default();
    let b = ir.broadcast("generate", 2, vec![], o).unwrap();
    let m = ir.map("step", &b, vec![], o).unwrap();
    b.release();
    let err = m.eval(&mut c).unwrap_err();
    assert!(
        matches!(&err, IrError::InputReleased { input, .. } if input.starts_with("Broadcast(generate)")),
        "{err}"
    );
    assert!(matches!(
        b.eval(&mut c).unwrap_err(),
        IrError::Released { .. }
    ));
}

#[test]
fn a_map_with_fan_in_reads_consecutive_chunks_and_depends_on_the_first() {
    let mut r = Registry::new();
    r.function("leaf", CostModel::fixed(10), |ctx, _| {
        Ok(vec![Payload::from_u64(ctx.task().0)])
    })
    .unwrap();
    r.function("sum", CostModel::fixed(10), |_, args: &[Payload]| {
        Ok(vec![Payload::from_u64(
            args.iter().filter_map(Payload::as_u64).sum(),
        )])
    })
    .unwrap();
    let p = Recorder::new(RoundRobin::default());
    let events = p.events.clone();
    let mut c = Cluster::new(spec(2, 2, 1 << 20, 0), r, Box::new(p), Default::default()).unwrap();
    let ir = c.ir();
    let o = NodeOptions::default();
    let b = ir.broadcast("leaf", 5, vec![], o).unwrap();
    let leaves = ir.map("leaf", &b, vec![], o).unwrap();
    let level = ir.map_chunks("sum", &leaves, 2, vec![], o).unwrap();
    let root = ir.map_chunks("sum", &level, 3, vec![], o).unwrap();
    assert_eq!((level.width(), root.width()), (3, 1));
    let out = root.eval(&mut c).unwrap();
    let leaf_ids: u64 = leaves
        .eval(&mut c)
        .unwrap()
        .iter()
        .map(|o| c.get(&o[0]).unwrap().as_u64().unwrap())
        .sum();
    assert_eq!(c.get(&out[0][0]).unwrap().as_u64(), Some(leaf_ids));
    let lg = leaves.group();
    let deps: Vec<Dependency> = placed(&events)
        .into_iter()
        .filter(|(_, h)| h.group == level.group())
        .map(|(_, h)| h.dependency)
        .collect();
    assert_eq!(
        deps,
        vec![
            Dependency::Task(lg, 0),
            Dependency::Task(lg, 2),
            Dependency::Task(lg, 4)
        ]
    );
    assert!(matches!(
        ir.map_chunks("sum", &leaves, 0, vec![], o).unwrap_err(),
        IrError::ZeroFanIn { .. }
    ));
}

#[test]
fn shared_extra_arguments_submit_what_one_copy_per_task_does() {
    let run = |shared: bool| {
        let (mut c, events) = cluster();
        let ir = c.ir();
        let o = NodeOptions::default();
        let extra = || vec![TaskArg::from(Payload::from_u64(7))];
        let actors = ir.init_actors("Sink", 2, vec![]).unwrap();
        let b = ir.broadcast("generate", 3, vec![], o).unwrap();
        let (m, red) = if shared {
            let m = ir.map_chunks_shared("step", &b, 2, extra(), o).unwrap();
            let red = ir.reduce_actors_shared("take", &actors, &m, extra(), o);
            (m, red.unwrap())
        } else {
            let m = ir.map_chunks("step", &b, 2, vec![extra(); 2], o).unwrap();
            let red = ir.reduce_actors("take", &actors, &m, vec![extra(); 2], o);
            (m, red.unwrap())
        };
        assert_eq!(m.width(), 2);
        red.force(&mut c).unwrap();
        let outs = red.eval(&mut c).unwrap();
        // Each call takes the map's two outputs and the one extra argument.
        let counts: Vec<Option<u64>> = outs
            .iter()
            .map(|o| c.get(&o[0]).unwrap().as_u64())
            .collect();
        assert_eq!(counts, vec![Some(3), Some(3)]);
        (placed(&events), c.now())
    };
    assert_eq!(run(true), run(false));
}

/// A cluster whose `leaf` tasks return their task id and whose `pair` tasks return their
/// arguments as one list of numbers, so that a join's wiring can be read off its outputs.
fn numbered() -> (Cluster, Events) {
    let mut r = Registry::new();
    r.function("leaf", CostModel::fixed(10), |ctx, _| {
        Ok(vec![Payload::from_u64(ctx.task().0)])
    })
    .unwrap();
    r.function("pair", CostModel::fixed(10), |_, args: &[Payload]| {
        let values: Vec<i64> = args
            .iter()
            .filter_map(|a| a.as_u64())
            .map(|v| v as i64)
            .collect();
        Ok(vec![Payload::from_i64s(&values)])
    })
    .unwrap();
    let p = Recorder::new(RoundRobin::default());
    let events = p.events.clone();
    let c = Cluster::new(spec(2, 2, 1 << 20, 0), r, Box::new(p), Default::default()).unwrap();
    (c, events)
}

/// The numbers each output of `node` holds.
fn values(c: &mut Cluster, node: &cohort_runtime::IrNode) -> Vec<Vec<i64>> {
    node.eval(c)
        .unwrap()
        .iter()
        .map(|o| {
            let p = c.get(&o[0]).unwrap();
            (0..p.i64_count()).filter_map(|k| p.i64_at(k)).collect()
        })
        .collect()
}

/// The number each task of `node` returned (a `leaf` map).
fn ids(c: &mut Cluster, node: &cohort_runtime::IrNode) -> Vec<i64> {
    node.eval(c)
        .unwrap()
        .iter()
        .map(|o| c.get(&o[0]).unwrap().as_u64().unwrap() as i64)
        .collect()
}

fn deps_of(events: &Events, group: GroupId) -> Vec<(u32, Dependency)> {
    placed(events)
        .into_iter()
        .filter(|(_, h)| h.group == group)
        .map(|(_, h)| (h.index, h.dependency))
        .collect()
}

#[test]
fn a_zip_join_gives_task_i_element_i_of_every_input_and_depends_on_the_first() {
    let (mut c, events) = numbered();
    let ir = c.ir();
    let o = NodeOptions::default();
    let b = ir.broadcast("leaf", 3, vec![], o).unwrap();
    let left = ir.map("leaf", &b, vec![], o).unwrap();
    let right = ir.map("leaf", &b, vec![], o).unwrap();
    let extra = vec![TaskArg::from(Payload::from_u64(99))];
    let zip = ir
        .map_join_shared("pair", &[&left, &right], Pairing::Zip, extra, o)
        .unwrap();
    assert_eq!(zip.width(), 3);
    assert_eq!(
        zip.to_string(),
        format!("Join(pair) [group {}]", zip.group().0)
    );
    let got = values(&mut c, &zip);
    let (l, r) = (ids(&mut c, &left), ids(&mut c, &right));
    let expected: Vec<Vec<i64>> = (0..3).map(|i| vec![l[i], r[i], 99]).collect();
    assert_eq!(got, expected);
    let lg = left.group();
    assert_eq!(
        deps_of(&events, zip.group()),
        (0..3)
            .map(|i| (i, Dependency::Task(lg, i)))
            .collect::<Vec<_>>()
    );
    // Over a broadcast first, the tasks depend on the broadcast's group, as a Map's would.
    let zb = ir
        .map_join("pair", &[&b, &left], Pairing::Zip, vec![], o)
        .unwrap();
    zb.force(&mut c).unwrap();
    assert!(
        deps_of(&events, zb.group())
            .iter()
            .all(|&(_, d)| d == Dependency::Group(b.group()))
    );
}

#[test]
fn a_product_join_makes_every_combination_first_input_slowest() {
    let (mut c, events) = numbered();
    let ir = c.ir();
    let o = NodeOptions::default();
    let b = ir.broadcast("leaf", 2, vec![], o).unwrap();
    let left = ir.map("leaf", &b, vec![], o).unwrap();
    let b3 = ir.broadcast("leaf", 3, vec![], o).unwrap();
    let right = ir.map("leaf", &b3, vec![], o).unwrap();
    let product = ir
        .map_join("pair", &[&left, &right], Pairing::Product, vec![], o)
        .unwrap();
    assert_eq!(product.width(), 6);
    let got = values(&mut c, &product);
    let (l, r) = (ids(&mut c, &left), ids(&mut c, &right));
    let mut expected = Vec::new();
    for a in &l {
        for b in &r {
            expected.push(vec![*a, *b]);
        }
    }
    assert_eq!(got, expected);
    let lg = left.group();
    assert_eq!(
        deps_of(&events, product.group()),
        (0..6)
            .map(|k| (k, Dependency::Task(lg, k / 3)))
            .collect::<Vec<_>>()
    );
    // The join holds its inputs: their groups are freed with it, not before.
    let (gp, gl, gr) = (product.group(), left.group(), right.group());
    drop((left, right));
    c.run_until_idle().unwrap();
    assert!(freed(&events).is_empty());
    drop(product);
    c.run_until_idle().unwrap();
    let mut f = freed(&events);
    f.sort();
    let mut want = vec![gp, gl, gr];
    want.sort();
    assert_eq!(f, want);
}

#[test]
fn bad_joins_are_typed_errors_naming_the_node() {
    let (c, _) = numbered();
    let ir = c.ir();
    let o = NodeOptions::default();
    let two = ir.broadcast("leaf", 2, vec![], o).unwrap();
    let three = ir.broadcast("leaf", 3, vec![], o).unwrap();
    let err = ir
        .map_join("pair", &[&two, &three], Pairing::Zip, vec![], o)
        .unwrap_err();
    assert_eq!(
        err,
        IrError::WidthMismatch {
            node: "Join(pair)".into(),
            widths: vec![2, 3]
        }
    );
    assert_eq!(
        err.to_string(),
        "Join(pair): a zip pairs element i of every input, but the inputs yield [2, 3] elements"
    );
    assert!(matches!(
        ir.map_join("pair", &[], Pairing::Zip, vec![], o)
            .unwrap_err(),
        IrError::NoInputs { .. }
    ));
    let err = ir
        .map_join(
            "pair",
            &[&two, &three],
            Pairing::Product,
            vec![vec![]; 5],
            o,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            IrError::ArgsLength {
                expected: 6,
                got: 5,
                ..
            }
        ),
        "{err}"
    );
    let huge = ir.broadcast("leaf", usize::MAX, vec![], o).unwrap();
    assert!(matches!(
        ir.map_join("pair", &[&huge, &three], Pairing::Product, vec![], o)
            .unwrap_err(),
        IrError::TooWide { .. }
    ));
    let (c2, _) = cluster();
    let ir2 = c2.ir();
    let sinks = ir2.init_actors("Sink", 2, vec![]).unwrap();
    let b = ir2.broadcast("generate", 2, vec![], o).unwrap();
    assert!(matches!(
        ir2.map_join("step", &[&b, &sinks], Pairing::Zip, vec![], o)
            .unwrap_err(),
        IrError::WrongInput { .. }
    ));
}

/// The write-up's graph ([`write_up`]) on a cluster whose hints come from `source`: every placement's (kind, hints), groups renumbered by first
/// appearance; the groups freed once everything is dropped (renumbered alike); the agreement.
fn write_up_graph(
    source: HintSource,
) -> (
    Vec<(WorkKind, Hints)>,
    Vec<GroupId>,
    Option<cohort_runtime::HintAgreement>,
) {
    let p = Recorder::new(RoundRobin::default());
    let events = p.events.clone();
    let mut c = Cluster::new(
        spec(3, 4, 1 << 30, 0),
        registry(),
        Box::new(p),
        cohort_runtime::ClusterConfig {
            model: cohort_runtime::ModelOptions {
                hints: source,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    drop(write_up(&mut c));
    c.run_until_idle().unwrap();
    let mut names: std::collections::HashMap<GroupId, GroupId> = Default::default();
    let mut name = |g: GroupId| {
        if !g.is_some() {
            return g;
        }
        let next = GroupId(names.len() as u64 + 1);
        *names.entry(g).or_insert(next)
    };
    let placed: Vec<(WorkKind, Hints)> = placed(&events)
        .into_iter()
        .map(|(k, hint)| {
            let dependency = match hint.dependency {
                Dependency::None => Dependency::None,
                Dependency::Group(g) => Dependency::Group(name(g)),
                Dependency::Task(g, i) => Dependency::Task(name(g), i),
            };
            (k, h(name(hint.group), hint.index, dependency))
        })
        .collect();
    let mut freed: Vec<GroupId> = freed(&events).into_iter().map(&mut name).collect();
    freed.sort();
    (placed, freed, c.hint_agreement())
}

#[test]
fn hints_inferred_from_plain_submissions_equal_the_irs_on_the_write_ups_graph() {
    let (declared, declared_freed, none) = write_up_graph(HintSource::Declared);
    assert_eq!(none, None, "nothing is compared with declared hints");
    let (inferred, inferred_freed, agreement) = write_up_graph(HintSource::Inferred);
    assert_eq!(inferred, declared);
    let a = agreement.unwrap();
    // 2 actors created, a broadcast, two maps of 3, 2 reducer calls.
    assert_eq!((a.compared, a.all, a.dependency), (11, 11, 11));
    // The IR frees every node's group; inference frees a group with its outputs, so not the
    // actors' (numbered 4, placed after the maps: they make no object).
    assert_eq!(declared_freed, (1..=5).map(GroupId).collect::<Vec<_>>());
    assert_eq!(inferred_freed, [1, 2, 3, 5].map(GroupId).to_vec());
}

#[test]
fn without_hints_the_policy_sees_none() {
    let (placed, freed, agreement) = write_up_graph(HintSource::None);
    assert_eq!(placed.len(), 11);
    assert!(
        placed.iter().all(|(_, hints)| hints.is_none()),
        "{placed:?}"
    );
    assert!(freed.is_empty(), "no group was ever shown: {freed:?}");
    assert_eq!(agreement, None);
}
