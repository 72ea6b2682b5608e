//! The `cohort` binary with the workload format's newer parts: key overrides (`--set
//! cluster.nodes=...`), the warm-up that would leave nothing to measure, joins, and the short
//! form of an actor's `creation`. Bad input exits with 2, says what is wrong, and writes
//! nothing.

mod common;

use common::{Sandbox, assert_bad, read_csv, shipped, stderr};
use std::process::Output;

const TINY: &str = r#"
name = "tiny"

[params]
size = "1MiB"

[cluster]
nodes = 3
cpus = 2
store = "64MiB"
nic_bandwidth = "1GB/s"
latency = "100us"

[tasks.make]
output_size = "$size"
fixed = "1ms"

[tasks.pass]
output_size = "input"
fixed = "200us"

[tasks.pair]
output_size = "inputs"
fixed = "200us"
record = true

[actors.Sink]
creation = "2ms"

[actors.Sink.methods.take]
outputs = 0
fixed = "100us"
record = true

[[stage]]
name = "data"
op = "broadcast"
task = "make"
width = 4

[[stage]]
name = "sinks"
op = "init_actors"
actor = "Sink"
count = 2

[[stage]]
name = "left"
op = "map"
task = "pass"
input = "data"

[[stage]]
name = "right"
op = "map"
task = "pass"
input = "data"

[[stage]]
name = "pairs"
op = "map"
task = "pair"
input = ["left", "right"]
join = "zip"

[[stage]]
name = "reduce"
op = "reduce_actors"
actors = "sinks"
method = "take"
input = "pairs"

[schedule]
period = "50ms"
mode = "fixed-delay"
duration = "1s"
warmup = "200ms"
"#;

/// A sandbox of this file's tests, holding [`TINY`].
fn sandbox(name: &str) -> Sandbox {
    Sandbox::new(&format!("workload-cli-{name}"), TINY)
}

/// Bad input, and nothing written.
fn assert_bad_clean(s: &Sandbox, o: &Output, needle: &str) {
    assert_bad(o, needle);
    assert!(s.leftovers().is_empty(), "left behind: {:?}", s.leftovers());
}

#[test]
fn a_shorter_duration_alone_says_what_else_to_set() {
    let s = sandbox("warmup");
    let streaming = shipped("streaming.toml");
    let o = s.cohort(&[
        "run",
        &streaming,
        "--policy",
        "random",
        "--set",
        "duration=5s",
        "--out",
        "r",
    ]);
    assert_bad_clean(
        &s,
        &o,
        "warm-up 25 s >= duration 5 s: nothing would be measured; also --set warmup=... (less \
         than 5 s)",
    );
    let o = s.cohort(&[
        "sweep",
        &shipped("tree-reduce.toml"),
        "--set",
        "schedule.duration=2s",
        "--out",
        "sw",
    ]);
    assert_bad_clean(
        &s,
        &o,
        "warm-up 5 s >= duration 2 s: nothing would be measured; also --set schedule.warmup=... \
         (less than 2 s)",
    );
}

#[test]
fn every_numeric_key_can_be_set_and_bad_keys_are_named() {
    let s = sandbox("keys");
    let o = s.cohort(&[
        "run",
        "tiny.toml",
        "--policy",
        "group",
        "--set",
        "cluster.nodes=4",
        "--set",
        "cluster.nic_bandwidth=1.25Gbit/s",
        "--set",
        "tasks.pass.fixed=300us",
        "--set",
        "stage.data.width=6",
        "--set",
        "schedule.iterations=3",
        "--out",
        "r",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(s.path("r").is_dir());
    std::fs::remove_dir_all(s.path("r")).unwrap();
    let bad = |set: &str, needle: &str| {
        let o = s.cohort(&["run", "tiny.toml", "--policy", "random", "--set", set]);
        assert_bad_clean(&s, &o, needle);
    };
    bad(
        "cluster.nic_bandwidth=10",
        "tiny.toml: --set cluster.nic_bandwidth=10: 10 has no unit; expected a rate such as \
         \"10Gbit/s\"",
    );
    bad(
        "cluster.gpus=2",
        "--set cluster.gpus=2: [cluster] has no settable key `gpus` (its keys: nodes, cpus, \
         store, nic_bandwidth, latency, inline_objects, nic_limits, heartbeat, submit_cost, spilling, disk_bandwidth, \
         view_accounting, spill_over, object_lifetime, hints, serialize_fixed, serialize_rate, jitter, \
         jitter_spread, latency_jitter_spread, pull_source, transport, chunk_size, transfer_threads, flow_cap, \
         nic_baseline, nic_credit, host_cores, wake_up, transfer_copy_rate, first_touch_rate, \
         set_up_work, head_work, delayed_ack)",
    );
    bad(
        "stage.left.width=2",
        "--set stage.left.width=2: stage `left` (map) has no settable key `width` (its keys: \
         repeat, fan_in)",
    );
    bad(
        "clusters.nodes=2",
        "no key `clusters.nodes`: a key is cluster.KEY, tasks.NAME.KEY",
    );
    bad("nodes=2", "the workload has no parameter `nodes`");
}

#[test]
fn joins_and_short_creations_run_and_their_mistakes_are_named() {
    let s = sandbox("joins");
    let o = s.cohort(&["validate", "tiny.toml", &shipped("join.toml")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = s.cohort(&[
        "run",
        &shipped("join.toml"),
        "--policy",
        "group",
        "--set",
        "schedule.iterations=2",
        "--out",
        "j",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let latencies = read_csv(&s.path("j/latencies.csv"));
    // One datapoint per train step: 16 per iteration.
    assert_eq!(latencies.lines().count(), 1 + 32, "{latencies}");
    std::fs::remove_dir_all(s.path("j")).unwrap();

    s.write(
        "ragged.toml",
        &TINY.replace(
            "task = \"pass\"\ninput = \"data\"\n\n[[stage]]\nname = \"right\"",
            "task = \"pass\"\ninput = \"data\"\nfan_in = 3\n\n[[stage]]\nname = \"right\"",
        ),
    );
    assert_bad_clean(
        &s,
        &s.cohort(&["run", "ragged.toml", "--policy", "random", "--out", "r"]),
        "ragged.toml:64:9: stage `pairs`: join = \"zip\" gives task i element i of every input, \
         so they must be as wide, but `left` yields 2, `right` yields 4",
    );
    s.write("unpaired.toml", &TINY.replace("join = \"zip\"\n", ""));
    assert_bad_clean(
        &s,
        &s.cohort(&["validate", "unpaired.toml"]),
        "stage `pairs` reads 2 stages: say how to pair their elements: join = \"zip\"",
    );
    s.write(
        "creation.toml",
        &TINY.replace("creation = \"2ms\"", "creation = false"),
    );
    let o = s.cohort(&["validate", "creation.toml"]);
    assert_bad_clean(
        &s,
        &o,
        "creation.toml:28:12: invalid type: boolean `false`, expected a duration such as \"1ms\"",
    );
    assert!(!stderr(&o).contains("Section"), "{}", stderr(&o));
}

/// The shipped kill workload on a short schedule: 3 s, node 2 killed at 1.5 s and declared
/// dead after 3 missed heartbeats of 100 ms.
const SHORT_KILL: [&str; 8] = [
    "--set",
    "duration=3s",
    "--set",
    "warmup=500ms",
    "--set",
    "kill_at=1500ms",
    "--set",
    "missed_heartbeats=3",
];

/// The value of `column` in the one row of a `summary.csv`.
fn summary_value(summary: &str, column: &str) -> String {
    let mut lines = summary.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|h| *h == column).unwrap();
    row[i].to_string()
}

#[test]
fn a_killed_node_is_recovered_as_recovery_is_set() {
    let s = sandbox("kill");
    let kill = shipped("streaming-kill.toml");
    let run = |extra: &[&str], out: &str| {
        let mut args = vec!["run", kill.as_str(), "--policy", "random", "--out", out];
        args.extend(SHORT_KILL);
        args.extend(extra);
        s.cohort(&args)
    };
    let o = run(&[], "k");
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = read_csv(&s.path("k/summary.csv"));
    for (column, value) in [
        ("failed", "0"),
        ("datapoints_lost", "0"),
        ("actor_restarts", "2"),
        ("param.missed_heartbeats", "3"),
    ] {
        assert_eq!(
            summary_value(&summary, column),
            value,
            "{column}: {summary}"
        );
    }
    let faults = read_csv(&s.path("k/faults.csv"));
    // Killed at 1.5 s, its last heartbeat at 1.4 s: declared dead at 1.7 s.
    assert!(
        faults.contains("1500000000,,1700000000"),
        "faults.csv: {faults}"
    );
    std::fs::remove_dir_all(s.path("k")).unwrap();
    // Ray's default, no actor restart: the reducers on node 2 fail, and their calls. That is
    // a result of the run: it is written, counts what failed and what is missing, and says so.
    let o = run(&["--set", "recovery.actor_restarts=0"], "f");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the first failure: ") && stderr(&o).contains("node 2 died under it"),
        "{}",
        stderr(&o)
    );
    let summary = read_csv(&s.path("f/summary.csv"));
    assert_ne!(summary_value(&summary, "failed"), "0", "{summary}");
    assert_ne!(summary_value(&summary, "datapoints_lost"), "0", "{summary}");
    std::fs::remove_dir_all(s.path("f")).unwrap();
    // A bad recovery setting is named, and nothing runs.
    let o = run(&["--set", "recovery.missed_heartbeats=0"], "b");
    assert_bad_clean(
        &s,
        &o,
        "streaming-kill.toml: --set recovery.missed_heartbeats=0: must be between 1 and \
         4294967295, got 0",
    );
    let o = run(&["--set", "recovery.actor_replay=maybe"], "b");
    assert_bad_clean(
        &s,
        &o,
        "--set recovery.actor_replay=maybe: expected true or false",
    );
}
