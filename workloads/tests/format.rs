//! The workload format's joins, fan-in and short forms: what they resolve to, what they run
//! on the virtual clock, and errors in the file's own words.

use cohort_policy_group::GroupPolicy;
use cohort_policy_random::RandomPolicy;
use cohort_runtime::policy::{Dependency, Policy};
use cohort_runtime::{Clock, Cluster, Trace};
use cohort_workloads::{Resolved, StageOp, Workload, cluster_config, drive, registry};
use std::collections::BTreeMap;

/// Two stages of different widths and sizes (`left`: 1000 B x 3, `right`: 10 B x 3 or 2),
/// joined by `joined`; `sum` tasks report the sum of their inputs' sizes as their output.
const JOINS: &str = r#"
name = "joins"

[params]
right_width = 3

[cluster]
nodes = 3
cpus = 4
store = "1GiB"
nic_bandwidth = "1GB/s"
latency = "100us"

[tasks.seed]
output_size = "8B"

[tasks.big]
output_size = "1000B"

[tasks.small]
output_size = "10B"

[tasks.sum]
output_size = "inputs"
fixed = "1ms"
record = true

[[stage]]
name = "seeds"
op = "broadcast"
task = "seed"
width = 3

[[stage]]
name = "right_seeds"
op = "broadcast"
task = "seed"
width = "$right_width"

[[stage]]
name = "left"
op = "map"
task = "big"
input = "seeds"

[[stage]]
name = "right"
op = "map"
task = "small"
input = "right_seeds"

[[stage]]
name = "joined"
op = "map"
task = "sum"
input = ["left", "right"]
join = "zip"

[schedule]
period = "100ms"
mode = "fixed-delay"
iterations = 2
"#;

fn with(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "fixture lacks {from:?}");
    text.replacen(from, to, 1)
}

fn resolve(text: &str, sets: &[(&str, &str)]) -> Result<Resolved, String> {
    let w = Workload::parse("w.toml", text).map_err(|e| e.to_string())?;
    let o = sets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    w.resolve(&o).map_err(|e| e.to_string())
}

fn run(w: &Resolved, policy: Box<dyn Policy>) -> Trace {
    let mut c = Cluster::new(
        w.spec.clone(),
        registry(w).unwrap(),
        policy,
        cluster_config(w, Clock::Virtual),
    )
    .unwrap();
    drive(w, &mut c, &mut |_| {}).unwrap();
    c.take_trace()
}

/// The tasks of `name` in `trace`, in the order they were built (group, then index), as
/// (index, dependency, output bytes).
fn tasks(trace: &Trace, name: &str) -> Vec<(u32, Dependency, u64)> {
    let mut t: Vec<_> = trace.tasks.iter().filter(|t| &*t.name == name).collect();
    t.sort_by_key(|t| (t.hints.group, t.hints.index));
    t.iter()
        .map(|t| (t.hints.index, t.hints.dependency, t.output_bytes))
        .collect()
}

#[test]
fn a_zip_join_resolves_and_gives_task_i_element_i_of_each_input() {
    let w = resolve(JOINS, &[]).unwrap();
    let names: Vec<&str> = w.stages.iter().map(|s| s.name.as_str()).collect();
    let at = |n: &str| names.iter().position(|s| *s == n).unwrap();
    assert_eq!(
        w.stages[at("joined")].op,
        StageOp::Join {
            task: "sum".into(),
            inputs: vec![at("left"), at("right")],
            join: cohort_workloads::schema::Join::Zip,
        }
    );
    let trace = run(&w, Box::new(GroupPolicy::new(1)));
    let joined = tasks(&trace, "sum");
    // 3 tasks per iteration, 2 iterations; each reads one 1000 B and one 10 B object.
    assert_eq!(joined.len(), 6);
    let mut left_group: Vec<_> = trace
        .tasks
        .iter()
        .filter(|t| &*t.name == "big")
        .map(|t| t.hints.group)
        .collect();
    left_group.sort();
    for (k, (index, dep, bytes)) in joined.iter().enumerate() {
        assert_eq!(*index as usize, k % 3);
        assert_eq!(*dep, Dependency::Task(left_group[k], *index), "{k}");
        assert_eq!(
            *bytes, 1010,
            "task {k} did not get one element of each input"
        );
    }
    assert_eq!(trace.datapoints.len(), 6);
}

#[test]
fn a_product_join_makes_one_task_per_pair_first_input_slowest() {
    let text = with(JOINS, "join = \"zip\"", "join = \"product\"");
    let w = resolve(&text, &[("right_width", "2")]).unwrap();
    let trace = run(&w, Box::new(RandomPolicy::new(1)));
    let joined = tasks(&trace, "sum");
    assert_eq!(joined.len(), 2 * 3 * 2);
    let firsts: Vec<(u32, u32)> = joined
        .iter()
        .take(6)
        .map(|(i, d, _)| match d {
            Dependency::Task(_, j) => (*i, *j),
            other => panic!("{other:?}"),
        })
        .collect();
    // Task i0 * 2 + i1 reads left element i0 (and is placed with it) and right element i1.
    assert_eq!(firsts, [(0, 0), (1, 0), (2, 1), (3, 1), (4, 2), (5, 2)]);
    assert!(joined.iter().all(|(_, _, b)| *b == 1010));
}

#[test]
fn join_mistakes_are_named_in_the_files_words() {
    assert_eq!(
        resolve(JOINS, &[("right_width", "2")]).unwrap_err(),
        "w.toml:56:9: stage `joined`: join = \"zip\" gives task i element i of every input, so \
         they must be as wide, but `left` yields 3, `right` yields 2"
    );
    let e = resolve(&with(JOINS, "join = \"zip\"\n", ""), &[]).unwrap_err();
    assert_eq!(
        e,
        "w.toml:56:9: stage `joined` reads 2 stages: say how to pair their elements: join = \
         \"zip\" (task i gets element i of each) or join = \"product\" (one task per \
         combination)"
    );
    let e = resolve(
        &with(JOINS, "input = [\"left\", \"right\"]", "input = [\"left\"]"),
        &[],
    )
    .unwrap_err();
    assert!(
        e.contains("`join` pairs two or more inputs, but `input` names one stage"),
        "{e}"
    );
    let e = resolve(
        &with(JOINS, "input = [\"left\", \"right\"]", "input = []"),
        &[],
    )
    .unwrap_err();
    assert!(e.contains("`input` is an empty list"), "{e}");
    let e = resolve(&with(JOINS, "\"right\"]", "\"rigth\"]"), &[]).unwrap_err();
    assert_eq!(
        e,
        "w.toml:56:18: input `rigth` is not a stage of this workload"
    );
    let e = resolve(
        &with(JOINS, "join = \"zip\"", "join = \"zip\"\nfan_in = 2"),
        &[],
    )
    .unwrap_err();
    assert!(
        e.contains("`fan_in` applies to a map over one input, not to a join"),
        "{e}"
    );
    let e = resolve(&with(JOINS, "join = \"zip\"", "join = \"outer\""), &[]).unwrap_err();
    assert!(
        e.contains("unknown variant `outer`, expected `zip` or `product`"),
        "{e}"
    );
    let e = resolve(
        &with(
            JOINS,
            "task = \"seed\"\nwidth = 3",
            "task = \"seed\"\nwidth = 3\njoin = \"zip\"",
        ),
        &[],
    )
    .unwrap_err();
    assert!(
        e.contains("stage `seeds` (broadcast): `join` applies to a map over several inputs"),
        "{e}"
    );
    let product = with(JOINS, "join = \"zip\"", "join = \"product\"");
    let e = resolve(&product, &[("stage.seeds.width", "16777216")]).unwrap_err();
    assert!(
        e.contains("join = \"product\" makes one task per combination, more than 16777216"),
        "{e}"
    );
    let e = resolve(&product, &[("stage.joined.repeat", "2")]).unwrap_err();
    assert!(
        e.contains("stage `joined` (a join) has no settable key `repeat` (it has none)"),
        "{e}"
    );
}

#[test]
fn a_ragged_fan_in_gives_the_last_task_fewer_inputs() {
    // 5 inputs, fan_in 2: tasks read 2, 2 and 1 (documented; tree-reduce relies on it).
    let text = with(
        JOINS,
        "input = [\"left\", \"right\"]\njoin = \"zip\"",
        "input = \"left\"\nfan_in = 2",
    );
    let w = resolve(&text, &[("stage.seeds.width", "5")]).unwrap();
    let trace = run(&w, Box::new(RandomPolicy::new(1)));
    let sums: Vec<u64> = tasks(&trace, "sum").iter().map(|t| t.2).collect();
    assert_eq!(sums, [2000, 2000, 1000, 2000, 2000, 1000]);
}

const ACTOR: &str = r#"
name = "actor"

[cluster]
nodes = 1
cpus = 1
store = "1GiB"
nic_bandwidth = "1GB/s"
latency = "100us"

[tasks.make]

[actors.Sink]
creation = "1ms"

[actors.Sink.methods.take]
record = true

[[stage]]
name = "data"
op = "broadcast"
task = "make"
width = 1

[[stage]]
name = "sinks"
op = "init_actors"
actor = "Sink"
count = 1

[[stage]]
name = "reduce"
op = "reduce_actors"
actors = "sinks"
method = "take"
input = "data"

[schedule]
period = "10ms"
mode = "fixed-delay"
iterations = 1
"#;

#[test]
fn an_actors_creation_may_be_just_its_fixed_cost() {
    let w = resolve(ACTOR, &[]).unwrap();
    assert_eq!(w.actors["Sink"].creation_cost.fixed_ns, 1_000_000);
    let long = with(
        ACTOR,
        "creation = \"1ms\"",
        "creation = { fixed = \"1ms\" }",
    );
    assert_eq!(resolve(&long, &[]).unwrap().actors, w.actors);
    let e = resolve(&with(ACTOR, "\"1ms\"", "\"1 fortnight\""), &[]).unwrap_err();
    assert!(
        e.starts_with("w.toml:14:12: actors.Sink.creation.fixed: `1 fortnight` has unit"),
        "{e}"
    );
    let e = resolve(&with(ACTOR, "\"1ms\"", "true"), &[]).unwrap_err();
    assert_eq!(
        e,
        "w.toml:14:12: invalid type: boolean `true`, expected a duration such as \"1ms\" (the \
         fixed cost) or a table such as { fixed = \"1ms\", cpus = 1 }"
    );
}

/// `ACTOR` with `line` first and the text from `from` up to `to` (or the end) removed.
fn top(line: &str, from: &str, to: &str) -> String {
    let a = ACTOR.find(from).unwrap();
    let b = if to.is_empty() {
        ACTOR.len()
    } else {
        ACTOR.find(to).unwrap()
    };
    format!("{line}\n{}{}", &ACTOR[..a], &ACTOR[b..])
}

#[test]
fn no_error_names_a_rust_type() {
    let cases: Vec<String> = vec![
        with(ACTOR, "creation = \"1ms\"", "creation = true"),
        with(ACTOR, "creation = \"1ms\"", "creation = [1]"),
        with(ACTOR, "creation = \"1ms\"", "creation = { fixd = \"1ms\" }"),
        with(ACTOR, "[tasks.make]", "[tasks]\nmake = \"fast\""),
        with(
            ACTOR,
            "[actors.Sink]\ncreation = \"1ms\"",
            "[actors]\nSink = 5",
        ),
        with(
            ACTOR,
            "[actors.Sink.methods.take]\nrecord = true",
            "[actors.Sink.methods]\ntake = 1",
        ),
        top("cluster = 5", "[cluster]", "[tasks.make]"),
        top("schedule = 5", "[schedule]", ""),
        top("stage = 5", "[[stage]]", "[schedule]"),
        top("stage = [5]", "[[stage]]", "[schedule]"),
        with(ACTOR, "name = \"actor\"", "name = \"actor\"\nsweep = 5"),
        with(
            ACTOR,
            "name = \"actor\"",
            "name = \"actor\"\nsweep = { params = { x = true } }",
        ),
        with(
            ACTOR,
            "name = \"actor\"",
            "name = \"actor\"\nsweep = { params = 5 }",
        ),
        with(
            ACTOR,
            "name = \"actor\"",
            "name = \"actor\"\nparams = { x = true }",
        ),
        with(ACTOR, "nodes = 1", "nodes = true"),
        with(ACTOR, "nodes = 1", "nodes = [1]"),
        with(ACTOR, "op = \"broadcast\"", "op = 5"),
        with(ACTOR, "count = 1", "count = 1\nscope = 5"),
        with(ACTOR, "input = \"data\"", "input = 5"),
        with(ACTOR, "input = \"data\"", "input = [5]"),
        with(ACTOR, "mode = \"fixed-delay\"", "mode = 5"),
        with(ACTOR, "name = \"actor\"", "name = 5"),
        with(ACTOR, "width = 1", "width = 1\njoin = 5"),
        with(ACTOR, "width = 1", "width = 1\nscope = \"always\""),
        "x = 1".to_string(),
        String::new(),
    ];
    for text in &cases {
        let e = resolve(text, &[]).expect_err(text);
        for word in [
            "Section",
            "struct",
            "enum",
            "Raw",
            "Creation",
            "StageInput",
            "Field",
        ] {
            assert!(
                !e.contains(word),
                "{e:?} names a Rust type ({word}), for:\n{text}"
            );
        }
    }
}

#[test]
fn the_shipped_join_zips_features_with_labels_where_the_features_are() {
    let path = format!("{}/files/join.toml", env!("CARGO_MANIFEST_DIR"));
    let w = Workload::load(std::path::Path::new(&path)).unwrap();
    let o = [("schedule.iterations", "2")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let w = w.resolve(&o).unwrap();
    let trace = run(&w, Box::new(GroupPolicy::new(1)));
    let count = |n: &str| trace.tasks.iter().filter(|t| &*t.name == n).count();
    assert_eq!(
        [
            count("list"),
            count("decode_features"),
            count("read_labels"),
            count("train_step")
        ],
        [2, 32, 32, 32]
    );
    let node_of: BTreeMap<_, _> = trace
        .tasks
        .iter()
        .map(|t| ((t.hints.group, t.hints.index), t.node))
        .collect();
    let features: Vec<_> = trace
        .tasks
        .iter()
        .filter(|t| &*t.name == "decode_features")
        .map(|t| t.hints.group)
        .collect();
    for t in trace.tasks.iter().filter(|t| &*t.name == "train_step") {
        let Dependency::Task(g, i) = t.hints.dependency else {
            panic!("a train step without a task dependency: {t:?}");
        };
        assert!(features.contains(&g));
        assert_eq!(i, t.hints.index);
        // Placed with its features; given one features and one labels partition (and the
        // 16-byte batch header every task gets).
        assert_eq!(t.node, node_of[&(g, i)]);
        assert_eq!(t.input_bytes, (8 << 20) + (16 << 10) + 16, "{t:?}");
    }
    assert_eq!(trace.datapoints.len(), 32);
    assert!(
        trace.transfers.iter().all(|x| x.bytes < 1 << 20),
        "group moved a features partition"
    );
}

#[test]
fn the_driver_tells_of_every_group_it_builds_and_which_is_each_stages_output() {
    let sets = BTreeMap::from([
        ("schedule.duration".to_string(), "300ms".to_string()),
        ("schedule.warmup".to_string(), "0s".to_string()),
    ]);
    let w = Workload::parse("tree-reduce.toml", cohort_workloads::SHIPPED[1].1)
        .unwrap()
        .resolve(&sets)
        .unwrap();
    let mut c = Cluster::new(
        w.spec.clone(),
        registry(&w).unwrap(),
        Box::new(RandomPolicy::new(1)),
        cluster_config(&w, Clock::Virtual),
    )
    .unwrap();
    let mut built: Vec<(u64, String, u64, bool)> = Vec::new();
    cohort_workloads::drive_observed(&w, &mut c, &mut |_| {}, &mut |b| {
        built.push((b.group.0, b.stage.to_string(), b.iteration, b.output))
    })
    .unwrap();
    let trace = c.take_trace();
    // Three iterations of four stages; the tree, a map repeated `levels` (5) times, builds a
    // group per level and only the last is its output.
    for iteration in 0..3 {
        let of = |stage: &str| -> Vec<bool> {
            built
                .iter()
                .filter(|b| b.1 == stage && b.2 == iteration)
                .map(|b| b.3)
                .collect()
        };
        assert_eq!(of("batch"), [true]);
        assert_eq!(of("grads"), [true]);
        assert_eq!(of("tree"), [false, false, false, false, true]);
        assert_eq!(of("root"), [true]);
    }
    assert_eq!(built.len(), 3 * 8);
    // Group ids are never told twice, and every task's group was told.
    let groups: BTreeMap<u64, &str> = built.iter().map(|b| (b.0, b.1.as_str())).collect();
    assert_eq!(groups.len(), built.len());
    for t in &trace.tasks {
        let stage = groups.get(&t.hints.group.0);
        let want = match &*t.name {
            "batch" => "batch",
            "gradient" => "grads",
            "sum" => "tree",
            "apply" => "root",
            other => panic!("unexpected task {other}"),
        };
        assert_eq!(stage, Some(&want), "{t:?}");
    }
}
