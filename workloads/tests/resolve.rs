//! Workload files: the shipped ones resolve, and every kind of bad input is an error naming
//! the file, line and column (or the override) at fault.

use cohort_workloads::{End, OutputSize, StageOp, Workload, WorkloadError};
use std::collections::BTreeMap;

mod common;

use common::GOOD;

fn err(text: &str) -> WorkloadError {
    let w = match Workload::parse("bad.toml", text) {
        Ok(w) => w,
        Err(e) => return e,
    };
    w.resolve(&BTreeMap::new()).expect_err("should not resolve")
}

fn with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "fixture lacks {from:?}");
    GOOD.replacen(from, to, 1)
}

fn at(e: &WorkloadError) -> (usize, usize, &str) {
    match e {
        WorkloadError::At {
            line,
            column,
            message,
            ..
        } => (*line, *column, message.as_str()),
        other => panic!("expected a located error, got {other}"),
    }
}

#[test]
fn a_good_file_resolves_to_exact_numbers() {
    let w = Workload::parse("tiny.toml", GOOD).unwrap();
    let r = w.resolve(&BTreeMap::new()).unwrap();
    assert_eq!(r.spec.nodes.len(), 2);
    assert_eq!(r.spec.network.nic_bandwidth, 1_250_000_000);
    assert_eq!(r.spec.network.latency, 100_000);
    assert_eq!(r.tasks["make"].output_size, OutputSize::Bytes(1 << 20));
    assert_eq!(r.tasks["make"].cost.fixed_ns, 1_000_000);
    assert_eq!(r.tasks["make"].cost.per_output_byte_ps, 1_000);
    assert_eq!(r.tasks["pass"].output_size, OutputSize::Input);
    assert_eq!(r.schedule.end, End::Iterations(10));
    assert_eq!(
        r.stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["data", "sinks", "maps", "reduce"]
    );
    assert!(matches!(
        r.stages[3].op,
        StageOp::ReduceActors {
            actors: 1,
            input: 2,
            ..
        }
    ));
    assert_eq!(r.param_values["size"], 1 << 20);
    let o = BTreeMap::from([("size".to_string(), "2MiB".to_string())]);
    assert_eq!(
        w.resolve(&o).unwrap().tasks["make"].output_size,
        OutputSize::Bytes(2 << 20)
    );
}

#[test]
fn parameters_carry_the_quantity_they_measure() {
    let w = Workload::parse("tiny.toml", GOOD).unwrap();
    let r = w.resolve(&BTreeMap::new()).unwrap();
    let units: Vec<(&str, &str)> = r
        .param_units
        .iter()
        .map(|(k, q)| (k.as_str(), q.as_str()))
        .collect();
    assert_eq!(units, [("size", "size"), ("width", "count")]);
    assert_eq!(r.reproduces, None);
    assert_eq!(w.sweep().unwrap().swept, ["size", "width"]);
    let declared = with(
        "name = \"tiny\"",
        "name = \"tiny\"\nreproduces = \"some-paper\"",
    );
    let r = Workload::parse("bad.toml", &declared)
        .unwrap()
        .resolve(&BTreeMap::new())
        .unwrap();
    assert_eq!(r.reproduces.as_deref(), Some("some-paper"));
    // One parameter cannot be a size in one place and a count in another: its column has one
    // unit.
    let e = err(&with("output_size = \"input\"", "output_size = \"$width\""));
    assert!(
        e.to_string().contains(
            "params.width is used as a size elsewhere and as a count by stage.data.width"
        ),
        "{e}"
    );
}

#[test]
fn the_sweep_expands_ranges_and_lists() {
    let s = Workload::parse("tiny.toml", GOOD).unwrap().sweep().unwrap();
    assert_eq!(s.policies, ["random"]);
    assert_eq!(s.seeds, [1, 2]);
    let points: Vec<(String, String)> = s
        .points
        .iter()
        .map(|p| (p["size"].clone(), p["width"].clone()))
        .collect();
    assert_eq!(points.len(), 6);
    assert_eq!(points[0], ("1048576B".to_string(), "2".to_string()));
    assert_eq!(points[5], ("3145728B".to_string(), "4".to_string()));
}

#[test]
fn the_shipped_workloads_resolve_and_sweep() {
    // Every file shipped, so that a new one is checked without being listed here.
    let dir = format!("{}/files", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "join.toml",
            "param-server.toml",
            "streaming-kill.toml",
            "streaming-ray-v0.6.toml",
            "streaming.toml",
            "tree-reduce.toml"
        ]
    );
    for f in &names {
        let w = Workload::load(&std::path::Path::new(&dir).join(f)).unwrap();
        w.resolve(&BTreeMap::new()).unwrap();
        let sweep = w.sweep().unwrap();
        assert!(!sweep.points.is_empty(), "{f}");
        // Figures show a spread across seeds: every shipped sweep has at least three.
        assert!(sweep.seeds.len() >= 3, "{f}: seeds {:?}", sweep.seeds);
    }
    let path = format!("{}/files/streaming.toml", env!("CARGO_MANIFEST_DIR"));
    let w = Workload::load(std::path::Path::new(&path)).unwrap();
    let sizes: Vec<String> = w
        .sweep()
        .unwrap()
        .points
        .iter()
        .map(|p| p["data_size"].clone())
        .collect();
    assert_eq!(sizes.len(), 20);
    assert_eq!(sizes[0], "800000B");
    assert_eq!(sizes[19], "16000000B");
    let r = w.resolve(&BTreeMap::new()).unwrap();
    assert_eq!(r.spec.nodes.len() * r.spec.nodes[0].cpus as usize, 20);
    assert_eq!(r.schedule.warmup, 25_000_000_000);
}

#[test]
fn toml_syntax_errors_name_file_line_and_column() {
    let e = err(&with("nodes = 2", "nodes = = 2"));
    assert_eq!(at(&e).0, 9);
    assert!(e.to_string().starts_with("bad.toml:9:"), "{e}");
}

#[test]
fn unknown_keys_are_rejected_with_their_place() {
    let e = err(&with(
        "latency = \"100us\"",
        "latency = \"100us\"\nlatensy = \"1ms\"",
    ));
    let (line, _, msg) = at(&e);
    assert_eq!(line, 14);
    assert!(msg.contains("unknown field `latensy`"), "{msg}");
}

#[test]
fn bad_units_are_rejected_with_their_place() {
    let e = err(&with("latency = \"100us\"", "latency = \"100 parsecs\""));
    let (line, col, msg) = at(&e);
    assert_eq!((line, col), (13, 11));
    assert_eq!(
        msg,
        "cluster.latency: `100 parsecs` has unit `parsecs`; expected one of ns, us (or µs), ms, s; expected a duration such as \"100ms\""
    );
    let e = err(&with("latency = \"100us\"", "latency = 100"));
    assert!(at(&e).2.contains("100 has no unit"), "{e}");
    let e = err(&with("size = \"1MiB\"", "size = \"1 MiBs\""));
    // The bad default is reported where it is written, naming its use.
    let (line, _, msg) = at(&e);
    assert_eq!(line, 5);
    assert!(
        msg.starts_with("params.size (used by tasks.make.output_size)"),
        "{msg}"
    );
}

#[test]
fn bad_overrides_name_the_parameter() {
    let w = Workload::parse("tiny.toml", GOOD).unwrap();
    let o = BTreeMap::from([("size".to_string(), "lots".to_string())]);
    let e = w.resolve(&o).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tiny.toml: --set size=lots: `lots` does not start with a number (used by tasks.make.output_size, which takes a size such as \"15.26MiB\" or a number of bytes)"
    );
    let o = BTreeMap::from([("sise".to_string(), "1MiB".to_string())]);
    assert!(
        w.resolve(&o)
            .unwrap_err()
            .to_string()
            .contains("no parameter `sise`")
    );
}

#[test]
fn unknown_stages_and_kinds_are_named() {
    let e = err(&with("input = \"data\"", "input = \"dta\""));
    assert_eq!(at(&e).2, "input `dta` is not a stage of this workload");
    let e = err(&with("task = \"pass\"", "task = \"passs\""));
    assert_eq!(at(&e).2, "task kind `passs` is not defined in [tasks]");
    let e = err(&with("actor = \"Sink\"", "actor = \"Sunk\""));
    assert_eq!(at(&e).2, "actor kind `Sunk` is not defined in [actors]");
    let e = err(&with("method = \"take\"", "method = \"give\""));
    assert_eq!(at(&e).2, "actor kind `Sink` has no method `give`");
    let e = err(&with("$width", "$wdth"));
    assert!(at(&e).2.contains("no parameter `wdth` in [params]"), "{e}");
}

#[test]
fn a_cycle_is_rejected() {
    let text = with("input = \"data\"", "input = \"reduce2\"")
        + "\n[[stage]]\nname = \"reduce2\"\nop = \"map\"\ntask = \"pass\"\ninput = \"maps\"\n";
    // maps -> reduce2 -> maps
    let e = err(&text);
    let (_, _, msg) = at(&e);
    assert_eq!(msg, "the stages form a cycle: maps -> reduce2 -> maps");
}

#[test]
fn a_cluster_with_no_nodes_is_rejected() {
    let e = err(&with("nodes = 2", "nodes = 0"));
    assert_eq!(at(&e).2, "cluster.nodes: the cluster has no nodes");
}

#[test]
fn a_demand_no_node_can_meet_is_rejected() {
    let e = err(&with("[tasks.pass]", "[tasks.pass]\ncpus = 3"));
    assert_eq!(
        at(&e).2,
        "tasks.pass demands 3 CPUs, but no node has more than 2"
    );
}

#[test]
fn schedule_problems_are_rejected() {
    let e = err(&with(
        "iterations = 10",
        "iterations = 10\nduration = \"1s\"",
    ));
    assert!(
        e.to_string()
            .contains("exactly one of `duration` and `iterations`"),
        "{e}"
    );
    let e = err(&with("mode = \"fixed-delay\"", "mode = \"whenever\""));
    assert!(at(&e).2.contains("unknown variant `whenever`"), "{e}");
}

#[test]
fn an_unreadable_file_names_the_path() {
    let e = Workload::load(std::path::Path::new("no/such/workload.toml")).unwrap_err();
    assert!(matches!(&e, WorkloadError::Read { path, .. } if path == "no/such/workload.toml"));
}
