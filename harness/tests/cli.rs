//! The `cohort` binary end to end: runs, determinism, sweeps, and every kind of bad input
//! (exit code 2, a message naming the problem, nothing half-written).

mod common;

use common::{Sandbox, assert_bad, read_csv, shipped, stderr};
use std::path::{Path, PathBuf};
use std::process::Command;

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
heartbeat = "10ms"
submit_cost = "50us"

[tasks.make]
output_size = "$size"
fixed = "1ms"

[tasks.pass]
output_size = "input"
fixed = "200us"
output_rate = "2GB/s"

[actors.Sink.methods.take]
outputs = 0
fixed = "100us"
record = true

[[stage]]
name = "data"
op = "broadcast"
task = "make"
width = 6

[[stage]]
name = "sinks"
op = "init_actors"
actor = "Sink"
count = 2

[[stage]]
name = "maps"
op = "map"
task = "pass"
input = "data"

[[stage]]
name = "reduce"
op = "reduce_actors"
actors = "sinks"
method = "take"
input = "maps"

[schedule]
period = "50ms"
mode = "fixed-delay"
duration = "2s"
warmup = "500ms"

[sweep]
policies = ["random", "group", "locality"]
seeds = [1, 2]

[sweep.params]
size = ["256KiB", "1MiB"]
"#;

/// A sandbox of this file's tests, holding [`TINY`].
fn sandbox(name: &str) -> Sandbox {
    Sandbox::new(&format!("cli-{name}"), TINY)
}

#[test]
fn a_run_writes_every_file_and_is_byte_identical_when_repeated() {
    let s = sandbox("run");
    let o = s.cohort(&["run", "tiny.toml", "--policy", "group", "--out", "a"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = s.cohort(&["run", "tiny.toml", "--policy", "group", "--out", "b"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A run writes every file; all CSVs but the summary are compressed.
    for f in [
        "manifest.toml",
        "latencies.csv.gz",
        "tasks.csv.gz",
        "transfers.csv.gz",
        "evictions.csv.gz",
        "utilization.csv.gz",
        "summary.csv",
    ] {
        assert!(s.path("a").join(f).is_file(), "{f} missing");
        if f.contains(".csv") {
            assert_eq!(
                std::fs::read(s.path("a").join(f)).unwrap(),
                std::fs::read(s.path("b").join(f)).unwrap(),
                "{f} differs between two identical runs"
            );
        }
    }
    let lat = read_csv(&s.path("a/latencies.csv"));
    assert!(lat.starts_with(
        "policy,seed,param.size,iteration,reducer,node,ingest_ns,arrival_ns,latency_ns,warmup\n"
    ));
    // 2 s / (50 ms + submission time) iterations, 2 reducers each.
    let rows = lat.lines().count() - 1;
    assert!(rows > 60 && rows % 2 == 0, "{rows} datapoints");
    let manifest = std::fs::read_to_string(s.path("a/manifest.toml")).unwrap();
    for key in [
        "workload = \"tiny\"",
        "policy = \"group\"",
        "seed = 1",
        "clock = \"virtual\"",
        "policy_sha256",
        "git_commit",
    ] {
        assert!(manifest.contains(key), "manifest lacks {key}: {manifest}");
    }
    let summary = std::fs::read_to_string(s.path("a/summary.csv")).unwrap();
    assert!(
        summary.starts_with("run,policy,seed,param.size,datapoints,mean_ms,"),
        "{summary}"
    );
    // A single run's directory is a report's input too (its CSVs compressed).
    let o = s.cohort(&["report", "a"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(s.path("a/report/report.html").is_file());
}

#[test]
fn check_determinism_compares_two_runs() {
    let s = sandbox("det");
    let o = s.cohort(&[
        "run",
        "tiny.toml",
        "--policy",
        "random",
        "--seed",
        "7",
        "--check-determinism",
        "--out",
        "r",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("byte-identical"));
    assert_eq!(s.leftovers(), ["r"]);
}

#[test]
fn another_seed_changes_a_random_run() {
    let s = sandbox("seeds");
    for (seed, out) in [("1", "s1"), ("2", "s2")] {
        let o = s.cohort(&[
            "run",
            "tiny.toml",
            "--policy",
            "random",
            "--seed",
            seed,
            "--out",
            out,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_ne!(
        read_csv(&s.path("s1/tasks.csv")),
        read_csv(&s.path("s2/tasks.csv"))
    );
}

#[test]
fn an_existing_output_directory_is_refused_unless_forced() {
    let s = sandbox("exists");
    std::fs::create_dir(s.path("out1")).unwrap();
    std::fs::write(s.path("out1/keep.txt"), "mine").unwrap();
    let o = s.cohort(&["run", "tiny.toml", "--policy", "random", "--out", "out1"]);
    assert_bad(&o, "already exists (pass --force to replace it)");
    assert_eq!(
        std::fs::read_to_string(s.path("out1/keep.txt")).unwrap(),
        "mine"
    );
    let o = s.cohort(&[
        "run",
        "tiny.toml",
        "--policy",
        "random",
        "--out",
        "out1",
        "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(s.path("out1/summary.csv").is_file());
    assert!(!s.path("out1/keep.txt").exists());
}

#[test]
fn a_run_failing_midway_leaves_nothing_not_even_the_parents_it_made() {
    let s = sandbox("runfail");
    // A 256 MiB output cannot fit the 64 MiB store: the run fails after its staging exists.
    let o = s.cohort(&[
        "run",
        "tiny.toml",
        "--policy",
        "random",
        "--set",
        "size=256MiB",
        "--out",
        "new/deeper/r",
    ]);
    assert_bad(&o, "cannot store its outputs");
    assert!(s.leftovers().is_empty(), "left behind: {:?}", s.leftovers());
}

/// Every path and the bytes of every file under `dir`, to check that a command changed
/// nothing.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                out.push((format!("{rel}/"), Vec::new()));
                walk(root, &p, out);
            } else {
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn no_error_path_leaves_anything_half_written() {
    let s = sandbox("errpaths");
    // Inputs for report and merge, and things in the way.
    let o = s.cohort(&[
        "sweep",
        "tiny.toml",
        "--policies",
        "random",
        "--seeds",
        "1",
        "--out",
        "sw",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = s.cohort(&[
        "sweep",
        "tiny.toml",
        "--policies",
        "random",
        "--seeds",
        "1",
        "--shard",
        "1/2",
        "--out",
        "shard-1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    s.write("afile", "mine");
    std::fs::create_dir(s.path("adir")).unwrap();
    s.write("adir/keep.txt", "mine");

    let quick_repro = [
        "repro",
        "--no-fresh-view",
        "--set",
        "duration=2s",
        "--set",
        "warmup=1s",
        "--set",
        "data_size=100000B",
    ];
    // (command without --out, whether an existing directory is refused without --force)
    let commands: Vec<(Vec<&str>, bool)> = vec![
        (vec!["run", "tiny.toml", "--policy", "random"], true),
        (
            vec![
                "run",
                "tiny.toml",
                "--policy",
                "random",
                "--check-determinism",
            ],
            true,
        ),
        (vec!["sweep", "tiny.toml", "--seeds", "1"], true),
        (
            vec!["sweep", "tiny.toml", "--seeds", "1", "--shard", "2/2"],
            true,
        ),
        (quick_repro.to_vec(), true),
        (vec!["report", "sw"], false),
        (vec!["merge", "shard-1"], true),
    ];
    let before = snapshot(&s.dir);
    let check = |args: &[&str], what: &str| {
        let o = s.cohort(args);
        assert_eq!(o.status.code(), Some(2), "{what}: {args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        assert!(
            snapshot(&s.dir) == before,
            "{what}: {args:?} changed the directory: {}",
            stderr(&o)
        );
    };
    for (command, refuses_existing) in &commands {
        let with = |extra: &[&'static str]| {
            let mut a = command.clone();
            a.extend(extra);
            a
        };
        check(&with(&["--out", "afile"]), "a file in the way");
        if !command.contains(&"report") {
            check(
                &with(&["--out", "afile", "--force"]),
                "a file in the way, forced",
            );
        }
        check(&with(&["--out", "afile/sub"]), "a file as the parent");
        if *refuses_existing {
            check(&with(&["--out", "adir"]), "an existing directory");
        }
    }
    // A plan is one file: refused in the way of another, and never half-written.
    check(
        &["sweep", "tiny.toml", "--plan", "afile"],
        "a plan over a file",
    );
    check(
        &["sweep", "tiny.toml", "--plan", "afile/sub"],
        "a plan under a file",
    );
    check(
        &["sweep", "tiny.toml", "--plan", "adir"],
        "a plan over a directory",
    );
    // The work itself fails once the staging exists.
    let big = ["--set", "size=256MiB", "--out", "new/deeper/x"];
    check(
        &[&["run", "tiny.toml", "--policy", "random"][..], &big[..]].concat(),
        "a failing run",
    );
    // Its last sweeps fail (a kill of the driver's node is refused when each run starts),
    // after the first ones were written into the staging directory. (An overloaded run is a
    // result, not a failure: it stops with its work unfinished and is reported unstable.)
    check(
        &[
            &quick_repro[..],
            &["--set", "kill.fault.1.node=0", "--out", "rp"][..],
        ]
        .concat(),
        "a failing repro",
    );
    check(&["merge", "shard-1", "--out", "merged"], "a missing slice");
    s.write("sw/summary.csv", "not,the,contract\n");
    let before_report = snapshot(&s.dir);
    let o = s.cohort(&["report", "sw", "--out", "rep"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(snapshot(&s.dir) == before_report, "a bad report input");
    // One message per cause: a cause is not repeated after its parent.
    let o = s.cohort(&["run", "tiny.toml", "--policy", "random", "--out", "afile"]);
    let err = stderr(&o);
    assert_eq!(err.matches("not a directory").count(), 1, "{err}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_leaves_nothing_half_written() {
    let s = sandbox("sigint");
    let child = Command::new(env!("CARGO_BIN_EXE_cohort"))
        .args([
            "sweep",
            "tiny.toml",
            "--jobs",
            "1",
            "--set",
            "size=4MiB",
            "--out",
            "sw",
        ])
        .args(["--seeds", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16"])
        .current_dir(&s.dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (at most 20 s) until a run has been written into the staging directory.
    let started = std::time::Instant::now();
    let staged = loop {
        let found = std::fs::read_dir(&s.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains(".sw.tmp-"));
        if let Some(dir) = found
            && std::fs::read_dir(dir.join("runs")).is_ok_and(|mut r| r.next().is_some())
        {
            break dir;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the sweep never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let o = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    assert!(!staged.exists(), "{} left behind", staged.display());
    assert!(s.leftovers().is_empty(), "left behind: {:?}", s.leftovers());
}

#[test]
fn bad_workloads_fail_with_file_line_and_column_and_write_nothing() {
    let s = sandbox("badtoml");
    s.write("syntax.toml", &TINY.replace("nodes = 3", "nodes = = 3"));
    assert_bad(
        &s.cohort(&["run", "syntax.toml", "--policy", "random"]),
        "syntax.toml:8:9:",
    );
    s.write(
        "unknown.toml",
        &TINY.replace("nodes = 3", "nodes = 3\ncolour = \"red\""),
    );
    assert_bad(
        &s.cohort(&["run", "unknown.toml", "--policy", "random"]),
        "unknown field `colour`",
    );
    s.write("units.toml", &TINY.replace("\"100us\"", "\"100 furlongs\""));
    assert_bad(
        &s.cohort(&["run", "units.toml", "--policy", "random"]),
        "units.toml:12:11: cluster.latency: `100 furlongs` has unit `furlongs`",
    );
    s.write(
        "stage.toml",
        &TINY.replace("input = \"data\"", "input = \"date\""),
    );
    assert_bad(
        &s.cohort(&["run", "stage.toml", "--policy", "random"]),
        "input `date` is not a stage of this workload",
    );
    s.write(
        "kind.toml",
        &TINY.replace("task = \"pass\"", "task = \"fly\""),
    );
    assert_bad(
        &s.cohort(&["run", "kind.toml", "--policy", "random"]),
        "task kind `fly` is not defined in [tasks]",
    );
    s.write(
        "cycle.toml",
        &TINY.replace("input = \"data\"", "input = \"maps\""),
    );
    assert_bad(
        &s.cohort(&["run", "cycle.toml", "--policy", "random"]),
        "the stages form a cycle: maps -> maps",
    );
    s.write("empty.toml", &TINY.replace("nodes = 3", "nodes = 0"));
    assert_bad(
        &s.cohort(&["run", "empty.toml", "--policy", "random"]),
        "the cluster has no nodes",
    );
    s.write(
        "demand.toml",
        &TINY.replace("[tasks.pass]", "[tasks.pass]\ncpus = 8"),
    );
    assert_bad(
        &s.cohort(&["run", "demand.toml", "--policy", "random"]),
        "tasks.pass demands 8 CPUs, but no node has more than 2",
    );
    assert_bad(
        &s.cohort(&["run", "missing.toml", "--policy", "random"]),
        "missing.toml: cannot read",
    );
    assert_bad(
        &s.cohort(&[
            "run",
            "tiny.toml",
            "--policy",
            "random",
            "--set",
            "size=huge",
        ]),
        "--set size=huge",
    );
    assert_bad(&s.cohort(&["validate", "cycle.toml"]), "cycle");
    assert!(s.leftovers().is_empty(), "left behind: {:?}", s.leftovers());
}

#[test]
fn bad_policies_fail_cleanly() {
    let s = sandbox("badpolicy");
    assert_bad(
        &s.cohort(&["run", "tiny.toml", "--policy", "nosuch"]),
        "policy `nosuch` is neither built in (random, group, locality, spread, hybrid, p2c, ees, delay) nor a plugin on the search path",
    );
    assert_bad(
        &s.cohort(&["run", "tiny.toml", "--policy", "./no/such/libx.so"]),
        "no/such/libx.so",
    );
    s.write(
        "notalib.so",
        "just text, long enough (64 bytes and more) for the loader to read a header from it\n",
    );
    assert_bad(
        &s.cohort(&["run", "tiny.toml", "--policy", "./notalib.so"]),
        "notalib.so",
    );
    // The loader's own reason, not only "dlopen failed".
    #[cfg(target_os = "linux")]
    assert_bad(
        &s.cohort(&["run", "tiny.toml", "--policy", "./notalib.so"]),
        "invalid ELF header",
    );
    // A policy that fails to start: the built-ins take no options.
    assert_bad(
        &s.cohort(&[
            "run",
            "tiny.toml",
            "--policy",
            "random",
            "--policy-config",
            "bogus = 1",
        ]),
        "policy `random` could not be created",
    );
    // An option a policy does not have is named, with the policy.
    assert_bad(
        &s.cohort(&[
            "run",
            "tiny.toml",
            "--policy",
            "hybrid",
            "--policy-config",
            "treshold = 0.5",
        ]),
        "the hybrid policy's options: unknown field `treshold`",
    );
    assert!(s.leftovers().is_empty(), "left behind: {:?}", s.leftovers());
}

#[test]
fn a_failing_run_in_a_sweep_does_not_lose_the_others() {
    let s = sandbox("sweep");
    // The 256 MiB point cannot fit its outputs in a 64 MiB store: those runs fail.
    let text = TINY.replace(
        "size = [\"256KiB\", \"1MiB\"]",
        "size = [\"1MiB\", \"256MiB\"]",
    );
    s.write("mixed.toml", &text);
    let o = s.cohort(&[
        "sweep",
        "mixed.toml",
        "--policies",
        "random,group",
        "--seeds",
        "1",
        "--out",
        "sw",
        "--jobs",
        "2",
    ]);
    assert_bad(&o, "2 of 4 runs failed (the others were written)");
    assert!(
        stderr(&o).contains("cannot store its outputs"),
        "{}",
        stderr(&o)
    );
    let summary = std::fs::read_to_string(s.path("sw/summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 3, "{summary}");
    assert!(
        s.path("sw/runs/random-size=1MiB-seed1/latencies.csv.gz")
            .is_file()
    );
    assert!(!s.path("sw/runs/random-size=256MiB-seed1").exists());
    let manifest = std::fs::read_to_string(s.path("sw/sweep.toml")).unwrap();
    assert!(manifest.contains("random-size=256MiB-seed1"), "{manifest}");
}

#[test]
fn a_sweep_writes_a_combined_summary() {
    let s = sandbox("sweep-ok");
    let o = s.cohort(&["sweep", "tiny.toml", "--out", "sw"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = std::fs::read_to_string(s.path("sw/summary.csv")).unwrap();
    // 3 policies x 2 sizes x 2 seeds.
    assert_eq!(summary.lines().count(), 13);
    assert!(
        summary
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("random-size=256KiB-seed1,random,1,262144,")
    );
    assert_eq!(std::fs::read_dir(s.path("sw/runs")).unwrap().count(), 12);
    // Without --detail a sweep keeps what reports read, compressed, and says how much it wrote.
    let run = s.path("sw/runs/random-size=256KiB-seed1");
    let mut files: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "latencies.csv.gz",
            "manifest.toml",
            "summary.csv",
            "utilization.csv.gz"
        ]
    );
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        stdout.contains("12 runs in") && stdout.contains("wrote sw (") && stdout.contains("KiB)"),
        "{stdout}"
    );
    let o = s.cohort(&[
        "sweep",
        "tiny.toml",
        "--out",
        "full",
        "--detail",
        "--seeds",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let full = s.path("full/runs/random-size=256KiB-seed1");
    for f in ["tasks.csv.gz", "transfers.csv.gz", "evictions.csv.gz"] {
        assert!(full.join(f).is_file(), "--detail: {f} missing");
    }
    assert_eq!(
        read_csv(&full.join("latencies.csv")),
        read_csv(&run.join("latencies.csv")),
        "--detail changes no result"
    );
}

#[test]
fn report_draws_the_sweeps_own_axis_and_published_points_only_where_declared() {
    let s = sandbox("report");
    // The parameter is called data_size, but the workload does not reproduce the write-up.
    let renamed = TINY
        .replace("$size", "$data_size")
        .replace("\nsize = ", "\ndata_size = ");
    s.write("named.toml", &renamed);
    s.write(
        "declared.toml",
        &renamed.replace(
            "name = \"tiny\"",
            "name = \"tiny\"\nreproduces = \"group-scheduling-2018\"",
        ),
    );
    for (workload, out) in [
        ("tiny.toml", "a"),
        ("named.toml", "b"),
        ("declared.toml", "c"),
    ] {
        let o = s.cohort(&[
            "sweep",
            workload,
            "--policies",
            "random,group",
            "--out",
            out,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        // No --x: the sweep's own swept parameter (today's default, data_size, is not one of
        // tiny.toml's).
        let o = s.cohort(&["report", out]);
        assert!(o.status.success(), "{workload}: {}", stderr(&o));
    }
    let md = |out: &str| std::fs::read_to_string(s.path(out).join("report/report.md")).unwrap();
    for out in ["a", "b"] {
        assert!(!md(out).contains("published points"), "{out}: {}", md(out));
    }
    assert!(md("c").contains("The dashed lines are the write-up's published points"));
    // Sizes in the sweep's unit, and how many seeds each point has.
    assert!(md("a").contains("0.25 MiB to 1.00 MiB"), "{}", md("a"));
    assert!(md("a").contains("mean of 2 seeds"), "{}", md("a"));
    let table =
        String::from_utf8_lossy(&s.cohort(&["report", "a", "--out", "again"]).stdout).to_string();
    assert!(table.contains("size (MiB)"), "{table}");
    // Other parameters in their units, counts as whole numbers: never raw nanoseconds.
    let timed = TINY
        .replace("[params]\n", "[params]\nwarm = \"500ms\"\nsinks = 2\n")
        .replace("warmup = \"500ms\"", "warmup = \"$warm\"")
        .replace("count = 2", "count = \"$sinks\"");
    s.write("timed.toml", &timed);
    let o = s.cohort(&["sweep", "timed.toml", "--policies", "random", "--out", "d"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(s.cohort(&["report", "d"]).status.success());
    let md = md("d");
    assert!(md.contains("| parameter warm | 500 ms |"), "{md}");
    assert!(md.contains("| parameter sinks | 2 |"), "{md}");
    assert!(!md.contains("500000000"), "{md}");
}

/// [`snapshot`] with `wall_s` (the wall time a run took, the one thing two identical runs do
/// not share) blanked in manifests.
fn snapshot_but_wall_times(dir: &Path) -> Vec<(String, Vec<u8>)> {
    snapshot(dir)
        .into_iter()
        .map(|(path, bytes)| {
            if !path.ends_with("manifest.toml") {
                return (path, bytes);
            }
            let text = String::from_utf8(bytes).unwrap();
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| !l.starts_with("wall_s = "))
                .collect();
            (path, kept.join("\n").into_bytes())
        })
        .collect()
}

#[test]
fn a_planned_sweep_run_in_shards_and_merged_is_the_single_sweep() {
    let s = sandbox("plan");
    let args = ["tiny.toml", "--policies", "random,group", "--seeds", "1,2"];
    let sweep = |extra: &[&str]| {
        let mut a = vec!["sweep"];
        a.extend(args);
        a.extend(extra);
        s.cohort(&a)
    };
    let o = sweep(&["--out", "single"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sweep(&["--out", "merged", "--plan", "plan.txt"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!s.path("merged").exists(), "--plan runs nothing");
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        stdout.contains("cohort merge merged.shards/shard-* --out merged"),
        "{stdout}"
    );
    let plan = std::fs::read_to_string(s.path("plan.txt")).unwrap();
    let lines: Vec<&str> = plan.lines().collect();
    // 2 policies x 2 sizes x 2 seeds: one self-contained command per run.
    assert_eq!(lines.len(), 8);
    assert!(lines[2].contains(" --shard 3/8 "), "{}", lines[2]);
    assert!(lines[0].starts_with("cd "), "{}", lines[0]);
    // Run the commands in reverse order, as a batch system might.
    for line in lines.iter().rev() {
        let o = Command::new("sh").arg("-c").arg(line).output().unwrap();
        assert!(o.status.success(), "{line}: {}", stderr(&o));
    }
    // Merging fewer than all slices names the missing ones and writes nothing.
    let o = s.cohort(&[
        "merge",
        "merged.shards/shard-1",
        "merged.shards/shard-2",
        "--out",
        "merged",
    ]);
    assert_bad(&o, "missing 6 of 8 slices: 3/8, 4/8");
    assert!(!s.path("merged").exists());
    let shards: Vec<String> = (1..=8)
        .map(|k| format!("merged.shards/shard-{k}"))
        .collect();
    let mut a = vec!["merge"];
    a.extend(shards.iter().map(String::as_str));
    a.extend(["--out", "merged"]);
    let o = s.cohort(&a);
    assert!(o.status.success(), "{}", stderr(&o));
    let (single, merged) = (
        snapshot_but_wall_times(&s.path("single")),
        snapshot_but_wall_times(&s.path("merged")),
    );
    assert_eq!(
        single.iter().map(|f| &f.0).collect::<Vec<_>>(),
        merged.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (a, b) in single.iter().zip(&merged) {
        assert!(
            a.1 == b.1,
            "{} differs between the sweep and the merge",
            a.0
        );
    }
    // A sweep directory that is not a shard is refused.
    let o = s.cohort(&["merge", "single", "--out", "again"]);
    assert_bad(&o, "not a shard");
    assert!(!s.path("again").exists());
}

#[test]
fn validate_and_policies_report() {
    let s = sandbox("misc");
    let o = s.cohort(&["validate", "tiny.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("ok: workload `tiny`, 3 nodes, 4 stages, 2 sweep points")
    );
    let o = s.cohort(&["policies"]);
    let out = String::from_utf8_lossy(&o.stdout);
    for p in [
        "random", "group", "locality", "spread", "hybrid", "p2c", "ees",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(p) && l.contains("ok")),
            "{out}"
        );
        // Listed once as a policy: the workspace's own plugin of that name is reachable by
        // path only, and said so apart.
        let named = |l: &&str| l.split_whitespace().next() == Some(p);
        assert_eq!(out.lines().filter(named).count(), 1, "{out}");
    }
    // Each built-in with what it does, in a line (in aligned columns).
    let words = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for said in [
        "random ok built-in Ray v0.6: uniform among nodes with a free CPU",
        "spread ok built-in Ray 2's SPREAD: round-robin",
        "hybrid ok built-in Ray 2's default: pack below 50% utilization",
        "group-no-pack ok built-in group without its pack rule",
    ] {
        assert!(words.contains(said), "{out}");
    }
    let o = s.cohort(&["policies", "--help"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("COHORT_POLICY_PATH"),
        "policies --help must say where plugins are found"
    );
}

/// The workspace's build of the random policy as a plugin (`cargo build --workspace` makes
/// it beside the `cohort` executable).
fn random_plugin() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_cohort"));
    let lib = exe.with_file_name(format!(
        "{}cohort_random{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(
        lib.is_file(),
        "{} missing: run `cargo build --workspace` before the tests",
        lib.display()
    );
    lib
}

#[test]
fn a_plugin_is_labelled_by_its_own_name_however_it_was_asked_for() {
    let s = sandbox("label");
    let copy = s.path(&format!(
        "{}cohort_round_robin{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    std::fs::copy(random_plugin(), &copy).unwrap();
    let by_path = copy.display().to_string();
    for (asked, out) in [
        (by_path.as_str(), "p"),
        ("round-robin", "n"),
        ("round_robin", "u"),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_cohort"))
            .args(["run", "tiny.toml", "--policy", asked, "--out", out])
            .current_dir(&s.dir)
            .env("COHORT_POLICY_PATH", &s.dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{asked}: {}", stderr(&o));
        let summary = std::fs::read_to_string(s.path(out).join("summary.csv")).unwrap();
        assert!(
            summary
                .lines()
                .nth(1)
                .unwrap()
                .starts_with("random-seed1,random,"),
            "{asked}: {summary}"
        );
    }
    // A sweep gives each policy its own configuration, checked before anything runs.
    let o = s.cohort(&[
        "sweep",
        "tiny.toml",
        "--policies",
        "random,group",
        "--policy-config",
        "group=spread = 2",
        "--out",
        "cfg",
    ]);
    assert_bad(&o, "policy `group` could not be created");
    let o = s.cohort(&["sweep", "tiny.toml", "--policy-config", "nosuch=x = 1"]);
    assert_bad(
        &o,
        "`nosuch` is not a policy of this sweep (random, group, locality)",
    );
    assert!(!s.path("cfg").exists() && !s.path("out").exists());
    // A plan's commands ask for a plugin the way the sweep was asked (its path), not by the
    // name it gives itself, which no search would find.
    // Here the sweep's policy comes from the workload's [sweep].
    s.write(
        "own.toml",
        &TINY.replace(
            "policies = [\"random\", \"group\", \"locality\"]",
            &format!("policies = [\"{by_path}\"]"),
        ),
    );
    let o = s.cohort(&["sweep", "own.toml", "--plan", "p.txt"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = std::fs::read_to_string(s.path("p.txt")).unwrap();
    assert!(
        plan.lines()
            .all(|l| l.contains(&format!("--policies {by_path}"))
                || l.contains(&format!("--policies '{by_path}'"))),
        "{plan}"
    );
    // Two policies that call themselves the same would write runs of the same names.
    let o = s.cohort(&[
        "sweep",
        "tiny.toml",
        "--policies",
        &format!("random,{by_path}"),
    ]);
    assert_bad(&o, "both call themselves `random`");
}

#[test]
fn a_run_named_by_default_carries_its_settings() {
    let s = sandbox("runname");
    for size in ["256KiB", "1MiB"] {
        let set = format!("size={size}");
        let o = s.cohort(&["run", "tiny.toml", "--policy", "random", "--set", &set]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let mut runs: Vec<String> = std::fs::read_dir(s.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    runs.sort();
    assert_eq!(
        runs,
        [
            "tiny-random-size=1MiB-seed1",
            "tiny-random-size=256KiB-seed1"
        ]
    );
    let manifest =
        std::fs::read_to_string(s.path("out/tiny-random-size=1MiB-seed1/manifest.toml")).unwrap();
    assert!(manifest.contains("[set]\nsize = \"1MiB\""), "{manifest}");
    // A key of the file set from the command line is recorded the same way.
    let o = s.cohort(&[
        "run",
        "tiny.toml",
        "--policy",
        "random",
        "--set",
        "cluster.nodes=2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest =
        std::fs::read_to_string(s.path("out/tiny-random-cluster.nodes=2-seed1/manifest.toml"))
            .unwrap();
    assert!(
        manifest.contains("[set]\n\"cluster.nodes\" = \"2\""),
        "{manifest}"
    );
}

#[test]
fn repro_runs_the_write_up_sweep_and_writes_the_report() {
    let s = sandbox("repro");
    let o = s.cohort(&[
        "repro",
        "--out",
        "rp",
        "--set",
        "duration=3s",
        "--set",
        "warmup=1s",
        "--set",
        "data_size=4000000B",
        // The killed-node runs: node 2 killed at 1.5 s, declared dead 3 heartbeats later.
        "--set",
        "kill.kill_at=1500ms",
        "--set",
        "kill.missed_heartbeats=3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "report.html",
        "report.md",
        "mean-latency.png",
        "mean-latency.svg",
        "latency-cdf.png",
        "p99-latency.png",
        "bytes-moved.png",
        "cpu-utilization.png",
        "sweep/summary.csv",
        "fresh-view/report.html",
        "fresh-view/sweep/summary.csv",
        "kill/report.html",
        "kill/fault-timeline.png",
        "kill/sweep/summary.csv",
    ] {
        assert!(s.path("rp").join(f).is_file(), "{f} missing");
    }
    // Every policy recovers from the kill: no datapoint lost, no work failed, and the runs
    // that lost a reducer restarted it.
    let kill = std::fs::read_to_string(s.path("rp/kill/sweep/summary.csv")).unwrap();
    let mut rows = kill.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut policies = std::collections::BTreeSet::new();
    let mut restarts = 0;
    for row in rows {
        let cells: Vec<&str> = row.split(',').collect();
        policies.insert(cells[col("policy")].to_string());
        assert_eq!(cells[col("datapoints_lost")], "0", "{row}");
        assert_eq!(cells[col("failed")], "0", "{row}");
        restarts += cells[col("actor_restarts")].parse::<u64>().unwrap();
    }
    assert_eq!(policies.len(), 3, "{kill}");
    assert!(restarts > 0, "{kill}");
    let summary = std::fs::read_to_string(s.path("rp/sweep/summary.csv")).unwrap();
    // 3 policies x 1 size (fixed by --set) x the workload's 3 seeds, each run once.
    assert_eq!(summary.lines().count(), 10, "{summary}");
    // The Ray v0.6 model: the same sweep, its report with the shape claims; the ablation: the
    // physical profile, the model, and each mechanism off in turn, random and group, one seed.
    let ray = std::fs::read_to_string(s.path("rp/ray-v0.6/sweep/summary.csv")).unwrap();
    assert_eq!(ray.lines().count(), 10, "{ray}");
    let report = std::fs::read_to_string(s.path("rp/ray-v0.6/report.md")).unwrap();
    assert!(report.contains("## Shape claims"), "{report}");
    let ablation = std::fs::read_to_string(s.path("rp/ablation/ablation.md")).unwrap();
    for label in [
        "physical profile (streaming.toml)",
        "Ray v0.6 model, every mechanism",
        "without view accounting",
        "without spill-over",
        "pulls from the least busy holder",
        "fluid transport instead of chunked",
        "without the single-flow cap",
        "without the NIC's token bucket",
        "reference counting instead of LRU",
        "without the pull timeout",
        "without the forwarding stalls",
        "without serialization cost",
        "without jitter",
    ] {
        assert!(
            ablation.contains(&format!("| {label} |")),
            "{label}: {ablation}"
        );
    }
    let off = std::fs::read_to_string(s.path("rp/ablation/off-4/summary.csv")).unwrap();
    assert_eq!(off.lines().count(), 3, "random and group, one seed: {off}");
    assert!(off.contains("cluster.transport=fluid"), "{off}");
    let fresh = std::fs::read_to_string(s.path("rp/fresh-view/sweep/summary.csv")).unwrap();
    assert!(
        fresh.lines().nth(1).unwrap().contains("heartbeat=0ms"),
        "{fresh}"
    );
    let html = std::fs::read_to_string(s.path("rp/report.html")).unwrap();
    assert!(html.contains("data:image/png;base64,"));
    // It tells where its files are, never the staging directory they were built in.
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(!stdout.contains(".tmp-"), "{stdout}");
    assert!(
        stdout.contains("wrote rp/sweep (") && stdout.contains("wrote rp/fresh-view/sweep ("),
        "{stdout}"
    );
    // Redrawing from the CSVs alone.
    let o = s.cohort(&["report", "rp/sweep", "--out", "again"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(s.path("again/report.html").is_file());
    assert_bad(&s.cohort(&["report", "nowhere"]), "nowhere");
}

#[test]
fn a_cost_profile_prices_each_kind_by_what_it_does_without_naming_the_run() {
    let sb = sandbox("profile");
    sb.write(
        "p.toml",
        r#"
[profile]
machine = "a test"
[cluster]
latency = "1ms"
[kinds.generate]
fixed = "7ms"
[kinds.copy]
fixed = "3ms"
output_rate = "1GB/s"
[kinds.sum]
fixed = "2ms"
"#,
    );
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "tiny.toml",
            "--policy",
            "group",
            "--profile",
            "p.toml",
        ];
        args.extend_from_slice(extra);
        sb.cohort(&args)
    };
    // An unknown parameter is still refused, with or without a profile.
    let o = run(&["--set", "seed_unused=1"]);
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    let o = run(&["--set", "size=256KiB", "--out", "run"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let manifest: toml::Table = std::fs::read_to_string(sb.path("run/manifest.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(manifest["profile"]["file"].as_str(), Some("p.toml"));
    let set = manifest["profile"]["set"].as_table().unwrap();
    // make: a broadcast's task (generate); pass: output "input" (copy); take: a method (sum).
    assert_eq!(set["tasks.make.fixed"].as_str(), Some("7ms"));
    assert_eq!(set["tasks.pass.output_rate"].as_str(), Some("1GB/s"));
    assert_eq!(set["actors.Sink.methods.take.fixed"].as_str(), Some("2ms"));
    assert_eq!(set["cluster.latency"].as_str(), Some("1ms"));
    assert_eq!(manifest["set"]["size"].as_str(), Some("256KiB"));
    assert!(
        !manifest.contains_key("host"),
        "no shared host cores in the model, so no work charged to them"
    );
    // The priced tasks took their profile's time: a make task 7 ms, a pass task 3 ms plus
    // 256 KiB at 1 GB/s (262,144 ns).
    let tasks = common::read_csv(&sb.path("run/tasks.csv"));
    let durations = |name: &str| -> Vec<u64> {
        tasks
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|c| c[2] == name)
            .map(|c| c[13].parse::<u64>().unwrap() - c[12].parse::<u64>().unwrap())
            .collect()
    };
    let (make, pass) = (durations("make"), durations("pass"));
    assert!(
        !make.is_empty() && make.iter().all(|&d| d == 7_000_000),
        "{make:?}"
    );
    assert!(
        !pass.is_empty() && pass.iter().all(|&d| d == 3_262_144),
        "{pass:?}"
    );
    // A bad profile is refused, naming the file.
    sb.write("bad.toml", "[kinds.reduce]\nfixed = \"1ms\"\n");
    common::assert_bad(
        &sb.cohort(&[
            "run",
            "tiny.toml",
            "--policy",
            "group",
            "--profile",
            "bad.toml",
        ]),
        "bad.toml: unknown class `kinds.reduce`",
    );
}

#[test]
fn resolve_prints_the_bound_program_for_peers() {
    let sb = sandbox("resolve");
    let streaming = shipped("streaming.toml");
    let o = sb.cohort(&[
        "resolve",
        &streaming,
        "--set",
        "data_size=1KB",
        "--set",
        "cluster.nodes=3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: toml::Table = String::from_utf8(o.stdout).unwrap().parse().unwrap();
    assert_eq!(doc["format"].as_integer(), Some(1));
    assert_eq!(
        doc["run_suffix"].as_str(),
        Some("-cluster.nodes=3-data_size=1KB"),
        "what follows the policy in cohort's run id"
    );
    assert_eq!(doc["param_values"]["data_size"].as_integer(), Some(1000));
    assert_eq!(doc["cluster"]["cpus"].as_array().unwrap().len(), 3);
    assert_eq!(
        doc["tasks"]["generate"]["output_size"].as_integer(),
        Some(1000)
    );
    assert_eq!(
        doc["tasks"]["map_step"]["output_size"].as_str(),
        Some("input")
    );
    let stages = doc["stage"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["data", "reducers", "maps", "shuffled", "reduce"]);
    assert_eq!(stages[0]["width"].as_integer(), Some(20));
    assert_eq!(stages[2]["input"].as_str(), Some("data"));
    assert_eq!(stages[4]["actors"].as_str(), Some("reducers"));
    assert_eq!(doc["schedule"]["period_ns"].as_integer(), Some(100_000_000));
    assert_eq!(doc["schedule"]["mode"].as_str(), Some("fixed-delay"));

    assert_bad(&sb.cohort(&["resolve", "nowhere.toml"]), "nowhere.toml");
    assert_bad(
        &sb.cohort(&["resolve", &streaming, "--set", "cluster.gpus=1"]),
        "no settable key `gpus`",
    );
}

#[test]
fn a_sweep_varies_what_vary_says_and_refuses_a_malformed_one() {
    let sb = sandbox("vary");
    let o = sb.cohort(&[
        "sweep",
        "tiny.toml",
        "--policies",
        "random",
        "--seeds",
        "1",
        "--vary",
        "cluster.nodes=2,3",
        "--out",
        "s",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = read_csv(&sb.path("s/summary.csv"));
    let runs: Vec<&str> = summary
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(
        runs,
        [
            "random-cluster.nodes=2-seed1",
            "random-cluster.nodes=3-seed1"
        ]
    );
    assert_bad(
        &sb.cohort(&[
            "sweep",
            "tiny.toml",
            "--vary",
            "cluster.nodes",
            "--out",
            "t",
        ]),
        "--vary cluster.nodes: expected NAME=V1,V2,...",
    );
    assert!(!sb.path("t").exists());
}

#[test]
fn report_with_draws_sweeps_of_one_workload_together_and_refuses_others() {
    let sb = sandbox("report-with");
    let sweep = |dir: &str| {
        let o = sb.cohort(&[
            "sweep",
            "tiny.toml",
            "--policies",
            "random",
            "--seeds",
            "1",
            "--out",
            dir,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    sweep("a");
    sweep("b");
    let o = sb.cohort(&["report", "a", "--with", "b", "--out", "r"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(sb.path("r/report.md")).unwrap();
    assert!(md.contains("random (cohort sim)"), "{md}");
    assert!(
        md.contains("random (cohort sim (b))"),
        "the second source keeps apart: {md}"
    );
    // Another workload's parameters: refused, naming both.
    let streaming = shipped("streaming.toml");
    let o = sb.cohort(&[
        "sweep",
        &streaming,
        "--policies",
        "random",
        "--seeds",
        "1",
        "--set",
        "duration=1s",
        "--set",
        "warmup=0s",
        "--vary",
        "width=2",
        "--out",
        "c",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_bad(
        &sb.cohort(&["report", "a", "--with", "c", "--out", "r2"]),
        "differ from",
    );
    assert!(!sb.path("r2").exists());
}

#[test]
fn the_shipped_ray_profiles_simulate_their_ray_with_its_mechanisms() {
    let sb = sandbox("ray-profiles");
    let streaming = shipped("streaming.toml");
    let profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("../peers/ray/profiles");
    for (file, key, value) in [
        ("ray-v0.6-local.toml", "cluster.transport", "chunked"),
        ("ray-2-local.toml", "cluster.spilling", "true"),
    ] {
        let profile = profiles.join(file).display().to_string();
        let o = sb.cohort(&[
            "run",
            &streaming,
            "--policy",
            "random",
            "--profile",
            &profile,
            "--set",
            "duration=1s",
            "--set",
            "warmup=0s",
            "--set",
            "data_size=1MB",
            "--out",
            file,
        ]);
        assert!(o.status.success(), "{file}: {}", stderr(&o));
        let manifest: toml::Table =
            std::fs::read_to_string(sb.path(&format!("{file}/manifest.toml")))
                .unwrap()
                .parse()
                .unwrap();
        assert_eq!(
            manifest["profile"]["set"][key].as_str(),
            Some(value),
            "{file}"
        );
        assert_eq!(
            manifest["profile"]["set"]["cluster.host_cores"].as_str(),
            Some("2")
        );
        // The model shares the host's 2 cores, so the manifest says what it charged them:
        // the maps' and the transfers' work of a 1 MB run.
        let host = manifest["host"].as_table().expect("a [host] table");
        assert_eq!(host["cores"].as_integer(), Some(2), "{file}");
        for kind in ["tasks_ns", "set_ups_ns", "copies_ns"] {
            assert!(host[kind].as_integer().unwrap() > 0, "{file}: {kind}");
        }
    }
}

#[test]
fn leaderboard_ranks_policies_across_workloads_and_takes_a_plugin_with_one_flag() {
    let s = sandbox("leaderboard");
    let p2c = Path::new(env!("CARGO_BIN_EXE_cohort")).with_file_name(format!(
        "{}cohort_p2c{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let p2c = p2c.to_str().expect("a UTF-8 path");
    let args = |out: &'static str| {
        vec![
            "leaderboard",
            "--workloads",
            "tree-reduce,param-server",
            "--policies",
            "random,group",
            "--add",
            p2c,
            "--seeds",
            "1",
            "--points",
            "1",
            "--out",
            out,
        ]
    };
    let o = s.cohort(&args("board"));
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(s.path("board/leaderboard.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "workload,policy,rank,runs,missing,relative_mean,relative_min,relative_max"
    );
    // Three policies on each of two workloads, then over all.
    assert_eq!(lines.len(), 1 + 3 * 3, "{csv}");
    for w in ["tree-reduce", "param-server", "all"] {
        let ranks: Vec<&str> = lines
            .iter()
            .filter(|l| l.starts_with(&format!("{w},")))
            .map(|l| l.split(',').nth(2).unwrap())
            .collect();
        assert_eq!(ranks, ["1", "2", "3"], "{csv}");
        // The best run at each point is 1: the first of a workload's rows has a least
        // relative latency of 1.
        let first = lines
            .iter()
            .find(|l| l.starts_with(&format!("{w},")))
            .unwrap();
        assert!(
            first.ends_with(",1.000000,1.000000") || w == "all",
            "{first}"
        );
    }
    assert!(csv.contains(",p2c,"), "the plugin added by path: {csv}");
    for f in ["leaderboard.md", "leaderboard.svg", "leaderboard.png"] {
        assert!(s.path("board").join(f).is_file(), "{f}");
    }
    assert!(s.path("board/sweeps/tree-reduce/summary.csv").is_file());
    // The same command gives the same table, byte for byte.
    let o = s.cohort(&args("again"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        csv,
        std::fs::read_to_string(s.path("again/leaderboard.csv")).unwrap()
    );
    // Bad input: exit 2, the problem named, nothing written.
    assert_bad(
        &s.cohort(&["leaderboard", "--workloads", "nosuch", "--out", "bad"]),
        "no workload `nosuch` to rank on (there are: streaming, tree-reduce",
    );
    assert_bad(
        &s.cohort(&["leaderboard", "--points", "0", "--out", "bad"]),
        "--points must be at least 1",
    );
    assert!(!s.path("bad").exists());
    // --ablations ranks group with each rule off beside it, under names of their own.
    let o = s.cohort(&[
        "leaderboard",
        "--workloads",
        "tree-reduce",
        "--policies",
        "group",
        "--ablations",
        "--seeds",
        "1",
        "--points",
        "1",
        "--out",
        "ablated",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(s.path("ablated/leaderboard.csv")).unwrap();
    for p in [
        "group",
        "group-no-pack",
        "group-no-follow",
        "group-random-fallback",
    ] {
        assert!(csv.contains(&format!("\ntree-reduce,{p},")), "{p}: {csv}");
    }
    // A variant is a built-in policy with its options set: it takes no more.
    assert_bad(
        &s.cohort(&[
            "run",
            "tiny.toml",
            "--policy",
            "group-no-pack",
            "--policy-config",
            "follow = false",
        ]),
        "`group-no-pack` is `group` with `pack = false`: give `group` its options instead",
    );
}

#[test]
fn leaderboard_hints_ranks_group_on_inferred_and_on_no_hints_and_writes_their_agreement() {
    let s = sandbox("leaderboard-hints");
    let o = s.cohort(&[
        "leaderboard",
        "--workloads",
        "tree-reduce,param-server",
        "--policies",
        "random,group",
        "--hints",
        "--seeds",
        "1",
        "--points",
        "1",
        "--out",
        "board",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(s.path("board/leaderboard.csv")).unwrap();
    let relative = |w: &str, p: &str| -> String {
        let line = csv
            .lines()
            .find(|l| l.starts_with(&format!("{w},{p},")))
            .unwrap_or_else(|| panic!("no row for {w}, {p}: {csv}"));
        line.split(',').skip(5).collect::<Vec<_>>().join(",")
    };
    for w in ["tree-reduce", "param-server", "all"] {
        // Without hints, group has no preference for any task: it places as random does,
        // from the same seed.
        assert_eq!(
            relative(w, "group [no hints]"),
            relative(w, "random"),
            "{w}"
        );
        relative(w, "group [inferred hints]");
    }
    assert!(
        s.path("board/sweeps/param-server-inferred-hints/summary.csv")
            .is_file()
    );
    assert!(
        s.path("board/sweeps/param-server-no-hints/summary.csv")
            .is_file()
    );
    let hints = std::fs::read_to_string(s.path("board/hints.csv")).unwrap();
    let rows: Vec<Vec<&str>> = hints.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0].join(","),
        "workload,point,seed,policy,compared,agree,agree_group,agree_index,agree_dependency"
    );
    assert_eq!(rows.len(), 3, "one run per workload: {hints}");
    let counts = |w: &str| -> Vec<u64> {
        let r = rows.iter().find(|r| r[0] == w).unwrap();
        // The point holds commas (quoted): the counts are the last five cells.
        r[r.len() - 5..]
            .iter()
            .map(|c| c.parse().unwrap())
            .collect()
    };
    // The parameter server's hints are all recovered; the tree's last fan-in reads its whole
    // input, which inference calls a group dependency and the IR a task dependency.
    let ps = counts("param-server");
    assert!(ps[0] > 0 && ps.iter().all(|&c| c == ps[0]), "{ps:?}");
    let tree = counts("tree-reduce");
    assert!(
        tree[1] < tree[0] && tree[2] == tree[0] && tree[3] == tree[0],
        "{tree:?}"
    );
    let md = std::fs::read_to_string(s.path("board/leaderboard.md")).unwrap();
    assert!(md.contains("## Inferred hints against the IR's"), "{md}");
    // A hint source that does not exist is refused, named.
    assert_bad(
        &s.cohort(&[
            "run",
            "tiny.toml",
            "--policy",
            "group",
            "--set",
            "cluster.hints=guessed",
        ]),
        "cluster.hints",
    );
}
