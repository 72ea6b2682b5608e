//! The `cohort` binary with the workload format's newer parts: key overrides (`--set
//! cluster.nodes=...`), the warm-up that would leave nothing to measure, joins, and the short
//! form of an actor's `creation`. Bad input exits with 2, says what is wrong, and writes
//! nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// A directory of its own under the system's temporary directory, removed when dropped.
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let dir =
            std::env::temp_dir().join(format!("cohort-workload-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
        Sandbox { dir }
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    fn cohort(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cohort"))
            .args(args)
            .current_dir(&self.dir)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }

    /// Entries other than the workload files it was given.
    fn leftovers(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| !n.ends_with(".toml"))
            .collect();
        v.sort();
        v
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn shipped(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../workloads/files")
        .join(name)
        .display()
        .to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn assert_bad(s: &Sandbox, o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(o));
    assert!(
        stderr(o).contains(needle),
        "expected {needle:?} in: {}",
        stderr(o)
    );
    assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
    assert!(s.leftovers().is_empty(), "left behind: {:?}", s.leftovers());
}

#[test]
fn a_shorter_duration_alone_says_what_else_to_set() {
    let s = Sandbox::new("warmup");
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
    assert_bad(
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
    assert_bad(
        &s,
        &o,
        "warm-up 5 s >= duration 2 s: nothing would be measured; also --set schedule.warmup=... \
         (less than 2 s)",
    );
}

#[test]
fn every_numeric_key_can_be_set_and_bad_keys_are_named() {
    let s = Sandbox::new("keys");
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
        assert_bad(&s, &o, needle);
    };
    bad(
        "cluster.nic_bandwidth=10",
        "tiny.toml: --set cluster.nic_bandwidth=10: 10 has no unit; expected a rate such as \
         \"10Gbit/s\"",
    );
    bad(
        "cluster.gpus=2",
        "--set cluster.gpus=2: [cluster] has no settable key `gpus` (its keys: nodes, cpus, \
         store, nic_bandwidth, latency, heartbeat, submit_cost)",
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
    let s = Sandbox::new("joins");
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
    let latencies = std::fs::read_to_string(s.path("j/latencies.csv")).unwrap();
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
    assert_bad(
        &s,
        &s.cohort(&["run", "ragged.toml", "--policy", "random", "--out", "r"]),
        "ragged.toml:64:9: stage `pairs`: join = \"zip\" gives task i element i of every input, \
         so they must be as wide, but `left` yields 2, `right` yields 4",
    );
    s.write("unpaired.toml", &TINY.replace("join = \"zip\"\n", ""));
    assert_bad(
        &s,
        &s.cohort(&["validate", "unpaired.toml"]),
        "stage `pairs` reads 2 stages: say how to pair their elements: join = \"zip\"",
    );
    s.write(
        "creation.toml",
        &TINY.replace("creation = \"2ms\"", "creation = false"),
    );
    let o = s.cohort(&["validate", "creation.toml"]);
    assert_bad(
        &s,
        &o,
        "creation.toml:28:12: invalid type: boolean `false`, expected a duration such as \"1ms\"",
    );
    assert!(!stderr(&o).contains("Section"), "{}", stderr(&o));
}
