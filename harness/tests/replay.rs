//! `cohort run --replay`: the workload placed as a recorded run's `placements.csv` says,
//! stage by stage, iteration by iteration; what it could not find counted in the manifest;
//! a recording that is not one refused by name. `cohort compare --replay`: every run of a
//! recorded sweep replayed and compared with it.

mod common;

use common::{Sandbox, assert_bad, number, read_csv, rows, shipped, stderr};

/// The streaming workload, small: 3 nodes, 6-wide stages, 2 reducers, 1 s.
fn small() -> Vec<String> {
    let mut sets = vec!["--set".to_string(), "data_size=80KB".to_string()];
    sets.extend(small_but_the_size());
    sets
}

/// [`small`] without its data size.
fn small_but_the_size() -> Vec<String> {
    [
        "cluster.nodes=3",
        "cluster.cpus=2",
        "cluster.store=64MB",
        "width=6",
        "num_reducers=2",
        "duration=1s",
        "warmup=0s",
    ]
    .iter()
    .flat_map(|s| ["--set".to_string(), s.to_string()])
    .collect()
}

/// [`small_but_the_size`] with a warm-up of 200 ms (two iterations).
fn small_warmed_but_the_size() -> Vec<String> {
    small_but_the_size()
        .into_iter()
        .map(|s| {
            if s == "warmup=0s" {
                "warmup=200ms".to_string()
            } else {
                s
            }
        })
        .collect()
}

/// Where a recording shifted by `shift` puts each map (by index), each shuffle, and
/// reducer `j`.
fn map_node(index: u64, shift: u64) -> u64 {
    (index + 1 + shift) % 3
}
fn shuffle_node(index: u64, shift: u64) -> u64 {
    (index + 2 + shift) % 3
}
fn reducer_node(j: u64) -> u64 {
    1 - j
}

/// A recording of iterations 0 to 4 (the run makes more: those take iteration 4's nodes):
/// [`recording_of`] unshifted.
fn recording() -> String {
    recording_of(0, 5)
}

/// A recording of `iterations` iterations with nodes shifted by `shift`, as the Ray peer
/// writes one, with a row of a node the peer could not name. Iteration `it` starts at
/// `it` × 100 ms; a shuffle starts 1 ms after its map's code ends in iterations 0 and 1,
/// 7 ms after in later ones.
fn recording_of(shift: u64, iterations: u64) -> String {
    let mut t = String::from("stage,kind,iteration,index,node,started_ns,finished_ns,cpus\n");
    t.push_str("data,generate,0,0,2,-5,10,1\n");
    for it in 0..iterations {
        let at = it * 100_000_000;
        let handoff = if it < 2 { 1_000_000 } else { 7_000_000 };
        for i in 0..6 {
            t.push_str(&format!(
                "maps,map_step,{it},{i},{},{at},{},1\n",
                map_node(i, shift),
                at + 3_000_000
            ));
            t.push_str(&format!(
                "shuffled,shuffle,{it},{i},{},{},{},1\n",
                shuffle_node(i, shift),
                at + 3_000_000 + handoff,
                at + 4_000_000 + handoff
            ));
        }
        for j in 0..2 {
            t.push_str(&format!(
                "call,reduce,{it},{j},{},{},{},0\n",
                reducer_node(j),
                at + 12_000_000,
                at + 12_100_000
            ));
        }
    }
    t.push_str("maps,map_step,9,0,-1,0,0,1\n");
    t
}

#[test]
fn a_replay_places_every_piece_of_work_as_the_recording_did() {
    let sb = Sandbox::new("replay", "");
    // Gzipped, as cohort stores its own CSVs: the manifest names and hashes that file.
    std::fs::create_dir(sb.path("ray")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(sb.path("ray/placements.csv.gz")).unwrap(),
        flate2::Compression::default(),
    );
    std::io::Write::write_all(&mut gz, recording().as_bytes()).unwrap();
    gz.finish().unwrap();
    let streaming = shipped("streaming.toml");
    let mut args = vec!["run", &streaming, "--replay", "ray", "--out", "run"];
    let sets = small();
    args.extend(sets.iter().map(String::as_str));
    let o = sb.cohort(&args);
    assert!(o.status.success(), "{}", stderr(&o));

    let tasks = rows(&read_csv(&sb.path("run/tasks.csv")));
    let reducers: std::collections::BTreeMap<String, u64> = tasks
        .iter()
        .filter(|t| t["kind"] == "actor_creation")
        .map(|t| (t["task"].clone(), number(t, "node")))
        .collect();
    let mut seen = [0; 4];
    for t in &tasks {
        let (index, node) = (number(t, "index"), number(t, "node"));
        let want = match (t["kind"].as_str(), t["name"].as_str()) {
            ("task", "generate") => 2,
            ("task", "map_step") => map_node(index, 0),
            ("task", "shuffle") => shuffle_node(index, 0),
            ("actor_creation", "Reducer") => reducer_node(index),
            ("actor_method", _) => continue,
            other => panic!("unexpected work {other:?}"),
        };
        assert_eq!(node, want, "{t:?}");
        seen[["generate", "map_step", "shuffle", "Reducer"]
            .iter()
            .position(|n| *n == t["name"])
            .unwrap()] += 1;
    }
    assert_eq!(seen[0], 1);
    assert!(seen[1] > 30 && seen[1] == seen[2], "{seen:?}");
    assert_eq!(seen[3], 2);
    assert_eq!(reducers.len(), 2);

    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(sb.path("run/manifest.toml")).unwrap()).unwrap();
    assert_eq!(manifest["policy"].as_str(), Some("replay"));
    let source = manifest["policy_source"].as_str().unwrap();
    assert!(
        source.starts_with("replayed from ") && source.ends_with("placements.csv.gz"),
        "{source}"
    );
    // Iterations 0-4 and the actors as recorded, every later iteration from iteration 4.
    let replay = manifest["replay"].as_table().unwrap();
    let count = |k: &str| replay[k].as_integer().unwrap() as u64;
    assert_eq!(count("recorded"), 1 + 5 * 12 + 2, "{replay:?}");
    assert_eq!(count("from_another_iteration"), seen[1] * 2 - 5 * 12);
    assert_eq!(count("not_recorded"), 0);
}

#[test]
fn a_replay_without_a_recording_or_with_a_policy_is_refused_by_name() {
    let sb = Sandbox::new("replay-refusals", "");
    let streaming = shipped("streaming.toml");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", streaming.as_str(), "--out", "run"];
        args.extend_from_slice(extra);
        sb.cohort(&args)
    };
    assert_bad(&run(&["--replay", "nowhere.csv"]), "--replay nowhere.csv");
    sb.write("placements.csv", "stage,node\nmaps,1\n");
    assert_bad(&run(&["--replay", "placements.csv"]), "placements.csv");
    sb.write(
        "placements.csv",
        "stage,kind,iteration,index,node,started_ns,finished_ns,cpus\n",
    );
    assert_bad(
        &run(&["--replay", "placements.csv"]),
        "no placement in it to replay",
    );
    assert_bad(
        &run(&["--replay", "tiny.toml"]),
        "expected a placements.csv",
    );
    assert_bad(
        &run(&["--replay", "placements.csv", "--policy", "random"]),
        "cannot be used with",
    );
    assert_bad(&run(&[]), "--policy");
    sb.write(
        "placements.csv",
        "stage,kind,iteration,index,node,started_ns,finished_ns,cpus\nmaps,map_step,0,0,1,0,0,1\n",
    );
    assert_bad(
        &run(&["--replay", "placements.csv", "--deploy", "processes"]),
        "--replay runs on the in-process cluster",
    );
    assert!(!sb.path("run").exists(), "nothing is written");
}

/// Rewrites the measured latencies of the run in `dir` (its `latencies.csv`, plain or
/// gzipped): 40 ms for the earlier half by ingest time, 10 ms for the later half, a run still
/// settling after its warm-up.
fn settle(dir: &std::path::Path) {
    let text = read_csv(&dir.join("latencies.csv"));
    let _ = std::fs::remove_file(dir.join("latencies.csv.gz"));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let (ingest, latency, arrival, warmup) = (
        col("ingest_ns"),
        col("latency_ns"),
        col("arrival_ns"),
        col("warmup"),
    );
    let mut cells: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let at = |c: &Vec<String>| -> u64 { c[ingest].parse().unwrap() };
    let mut measured: Vec<usize> = (0..cells.len())
        .filter(|&k| cells[k][warmup] == "0")
        .collect();
    measured.sort_by_key(|&k| at(&cells[k]));
    let half = measured.len() / 2;
    assert!(
        measured.len() % 2 == 0 && at(&cells[measured[half - 1]]) < at(&cells[measured[half]]),
        "the halves must part between two ingest times"
    );
    for (rank, &k) in measured.iter().enumerate() {
        let ms: u64 = if rank < half { 40 } else { 10 };
        let c = &mut cells[k];
        c[latency] = (ms * 1_000_000).to_string();
        c[arrival] = (at(c) + ms * 1_000_000).to_string();
    }
    let mut out = header.join(",") + "\n";
    for c in cells {
        out.push_str(&(c.join(",") + "\n"));
    }
    std::fs::write(dir.join("latencies.csv"), out).unwrap();
}

#[test]
fn compare_replays_every_run_of_a_recorded_sweep_and_compares_it_with_the_recording() {
    let sb = Sandbox::new("compare-replay", "");
    let streaming = shipped("streaming.toml");
    let profile = format!(
        "{}/../peers/ray/profiles/ray-2-local.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    // The recorded sweep: two policies at two sizes, each run given the recording.
    let mut args = vec![
        "sweep",
        &streaming,
        "--policies",
        "group,random",
        "--vary",
        "data_size=80KB,160KB",
        "--seeds",
        "1",
        "--out",
        "rec",
    ];
    // A warm-up of 200 ms: the recordings' first two iterations (their 1 ms hand-offs) are
    // in it.
    let sets = small_warmed_but_the_size();
    args.extend(sets.iter().map(String::as_str));
    let o = sb.cohort(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let recorded = rows(&read_csv(&sb.path("rec/summary.csv")));
    assert_eq!(recorded.len(), 4);
    // Each policy's runs get a recording of their own: a replay of the wrong one would show.
    for r in &recorded {
        let shift = if r["policy"] == "group" { 0 } else { 1 };
        std::fs::write(
            sb.path(&format!("rec/runs/{}/placements.csv", r["run"])),
            recording_of(shift, 4),
        )
        .unwrap();
    }
    let settling = recorded
        .iter()
        .find(|r| r["policy"] == "group" && r["param.data_size"] == "80000")
        .unwrap();
    settle(&sb.path(&format!("rec/runs/{}", settling["run"])));

    let o = sb.cohort(&[
        "compare",
        &streaming,
        "--profile",
        &profile,
        "--replay",
        "rec",
        "--out",
        "cmp",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!sb.path("cmp/live").exists(), "nothing runs live");
    let compared = rows(&read_csv(&sb.path("cmp/compare.csv")));
    assert_eq!(compared.len(), 4);
    for (c, r) in compared.iter().zip(&recorded) {
        assert_eq!((&c["run"], &c["policy"]), (&r["run"], &r["policy"]));
        assert_eq!(c["live_mean_ms"], r["mean_ms"], "the recording's own mean");
        // The simulated side is the run replayed on its own, with the values it ran with.
        let one = format!("one-{}", r["run"]);
        let size = match r["param.data_size"].as_str() {
            "80000" => "data_size=80KB",
            "160000" => "data_size=160KB",
            other => panic!("a size not swept: {other}"),
        };
        let run_dir = format!("rec/runs/{}", r["run"]);
        let mut args = vec![
            "run",
            &streaming,
            "--replay",
            &run_dir,
            "--profile",
            &profile,
            "--set",
            size,
            "--out",
            &one,
        ];
        args.extend(sets.iter().map(String::as_str));
        let o = sb.cohort(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let alone = rows(&read_csv(&sb.path(&format!("{one}/summary.csv"))));
        assert_eq!(c["sim_mean_ms"], alone[0]["mean_ms"], "{}", r["run"]);
        assert_eq!(alone[0]["policy"], format!("replay-{}", r["policy"]));
        let (sim, live): (f64, f64) = (
            c["sim_mean_ms"].parse().unwrap(),
            c["live_mean_ms"].parse().unwrap(),
        );
        let error: f64 = c["mean_error"].parse().unwrap();
        assert!((error - (sim - live) / live).abs() < 1e-6, "{c:?}");
        assert!(
            sb.path(&format!("cmp/sim/runs/replay-{}", r["run"]))
                .is_dir(),
            "the simulated run is the recorded one's replay"
        );
    }
    // The two recordings place differently enough to tell apart at every size.
    for size in ["80000", "160000"] {
        let at: Vec<&str> = compared
            .iter()
            .filter(|c| c["param.data_size"] == size)
            .map(|c| c["sim_mean_ms"].as_str())
            .collect();
        assert!(at.len() == 2 && at[0] != at[1], "{at:?}");
    }
    let md = std::fs::read_to_string(sb.path("cmp/compare.md")).unwrap();
    assert!(md.starts_with("# Simulated against recorded"), "{md}");
    // A peer's recording times its tasks' code only: no kinds of work set against the
    // model's, only the hand-off from each map to its shuffle, in every run, after the
    // warm-up only (with the warm-up's, the median would be 1 ms).
    assert!(!md.contains("map_step ×"), "{md}");
    assert_eq!(
        md.matches("| hand-off to shuffle 7.000 ms against ")
            .count(),
        4,
        "{md}"
    );
    // Only the run made to settle is listed as the recording's.
    assert_eq!(md.matches("| recorded | ").count(), 1, "{md}");
    assert!(
        md.contains("| recorded | group | data_size=80000 | 1 | 40.000 | 10.000 |"),
        "{md}"
    );
    // With the two later halves side by side (the recording's settled at 10 ms).
    let listed = md
        .lines()
        .find(|l| l.starts_with("| recorded | group | data_size=80000 | 1 | 40.000 |"))
        .unwrap();
    assert!(listed.ends_with(" against 10.000) |"), "{listed}");
    // An iteration's timeline, from each ingest, over the iterations measured (2 to 9): the
    // recording's maps at 0-3 ms into their 100 ms (its odd row at iteration 9 counts too),
    // its shuffles 7 ms after, its calls at 12 ms; the settled run's arrivals at 40 ms for
    // iterations 2 to 5 and 10 ms for 6 to 9. Medians by nearest rank (of two, the lower).
    let ingests = |dir: &std::path::Path| -> std::collections::BTreeMap<u64, u64> {
        rows(&read_csv(&dir.join("latencies.csv")))
            .iter()
            .map(|l| (number(l, "iteration"), number(l, "ingest_ns")))
            .collect()
    };
    let recorded_ingests = ingests(&sb.path(&format!("rec/runs/{}", settling["run"])));
    let since = |k: u64, ms: f64| ms - recorded_ingests[&k] as f64 / 1e6;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len().div_ceil(2) - 1]
    };
    let span =
        |starts: Vec<f64>, ends: Vec<f64>| format!("{:.1}–{:.1}", median(starts), median(ends));
    let maps = span(
        vec![since(2, 200.0), since(3, 300.0), since(9, 0.0)],
        vec![since(2, 203.0), since(3, 303.0), since(9, 0.0)],
    );
    let shuffled = span(
        vec![since(2, 210.0), since(3, 310.0)],
        vec![since(2, 211.0), since(3, 311.0)],
    );
    let calls = span(
        vec![since(2, 212.0), since(3, 312.0)],
        vec![since(2, 212.1), since(3, 312.1)],
    );
    let settled = md
        .lines()
        .find(|l| l.starts_with("| group | data_size=80000 | 1 | ") && l.contains(" → "))
        .unwrap_or_else(|| panic!("no timeline of the settled run: {md}"));
    let cells: Vec<&str> = settled.split(" | ").collect();
    let reference = |k: usize| cells[k].split(" / ").next().unwrap().to_string();
    assert_eq!(reference(3), maps, "{settled}");
    assert_eq!(reference(4), shuffled, "{settled}");
    assert_eq!(reference(5), calls, "{settled}");
    assert_eq!(reference(6), "10.0", "{settled}");
    // The simulated side is read from its own run's `tasks.csv`, by stage and iteration:
    // the maps' first start, median over the measured iterations.
    let sim_dir = sb.path(&format!("cmp/sim/runs/replay-{}", settling["run"]));
    let sim_ingests = ingests(&sim_dir);
    let tasks = rows(&read_csv(&sim_dir.join("tasks.csv")));
    let mut starts: Vec<u64> = (2..10)
        .filter_map(|k: u64| {
            tasks
                .iter()
                .filter(|t| t["stage"] == "maps" && t["iteration"] == k.to_string())
                .map(|t| number(t, "started_ns") - sim_ingests[&k])
                .min()
        })
        .collect();
    assert_eq!(starts.len(), 8);
    starts.sort_unstable();
    let want = format!("{:.1}–", starts[3] as f64 / 1e6);
    assert!(
        cells[3]
            .split(" / ")
            .nth(1)
            .is_some_and(|s| s.starts_with(&want)),
        "{settled}: {want}"
    );
    // Where the sides part most is named in every row.
    let named = md
        .lines()
        .filter(|l| l.contains(" → ") && l.ends_with(" ms |"))
        .count();
    assert_eq!(named, 4, "{md}");
    assert!(sb.path("cmp/report").is_dir());

    // Refused by name, nothing written: with a choice of runs of its own, a directory that is
    // not a sweep, another workload's sweep, a value the recording ran otherwise.
    let compare = |extra: &[&str]| {
        let mut args = vec!["compare", streaming.as_str(), "--profile", &profile];
        args.extend_from_slice(extra);
        args.extend(["--out", "bad"]);
        sb.cohort(&args)
    };
    assert_bad(
        &compare(&["--replay", "rec", "--policies", "group"]),
        "cannot be used with",
    );
    assert_bad(
        &compare(&["--replay", "cmp/sim/runs"]),
        "not a sweep directory",
    );
    assert_bad(
        &compare(&["--replay", "rec", "--set", "data_size=1MiB"]),
        "ran with data_size=",
    );
    // A parameter the recording did not set, but ran with at its default.
    assert_bad(
        &compare(&["--replay", "rec", "--set", "heartbeat=0ms"]),
        "ran with heartbeat=100ms",
    );
    let tree = shipped("tree-reduce.toml");
    let o = sb.cohort(&[
        "compare",
        &tree,
        "--profile",
        &profile,
        "--replay",
        "rec",
        "--out",
        "bad",
    ]);
    assert_bad(&o, "its runs are of workload `streaming`");
    assert!(!sb.path("bad").exists(), "nothing is written");
}

#[test]
fn a_cohort_run_replayed_from_its_tasks_runs_again_as_it_ran() {
    let sb = Sandbox::new("replay-cohort", "");
    let streaming = shipped("streaming.toml");
    let mut sets = small_warmed_but_the_size();
    sets.extend(["--set".to_string(), "data_size=80KB".to_string()]);
    let run = |extra: &[&str]| {
        let mut args = vec!["run", streaming.as_str()];
        args.extend_from_slice(extra);
        args.extend(sets.iter().map(String::as_str));
        sb.cohort(&args)
    };
    let o = run(&["--policy", "random", "--out", "rec"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The run's own directory is the recording: its tasks.csv names each task's stage and
    // iteration, and there is no placements.csv.
    assert!(!sb.path("rec/placements.csv").exists());
    let o = run(&["--replay", "rec", "--out", "rep"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest: toml::Table = std::fs::read_to_string(sb.path("rep/manifest.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let tally = manifest["replay"].as_table().unwrap();
    assert!(tally["recorded"].as_integer().unwrap() > 100, "{tally:?}");
    assert_eq!(tally["from_another_iteration"].as_integer(), Some(0));
    assert_eq!(tally["not_recorded"].as_integer(), Some(0));
    assert_eq!(manifest["policy"].as_str(), Some("replay-random"));
    // Every task where it ran, so the whole run again: the same datapoints to the
    // nanosecond (on the virtual clock), under the replay's name.
    let nodes = |dir: &str| -> Vec<(String, String, String, String)> {
        let mut v: Vec<_> = rows(&read_csv(&sb.path(&format!("{dir}/tasks.csv"))))
            .into_iter()
            .map(|t| {
                (
                    t["stage"].clone(),
                    t["iteration"].clone(),
                    t["index"].clone(),
                    t["node"].clone(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(nodes("rep"), nodes("rec"));
    let points = |dir: &str| -> Vec<String> {
        read_csv(&sb.path(&format!("{dir}/latencies.csv")))
            .lines()
            .map(|l| l.split_once(',').unwrap().1.to_string())
            .collect()
    };
    assert_eq!(points("rep"), points("rec"));

    // A tasks.csv from before the stage columns names nothing to replay: refused by name.
    let old: String = read_csv(&sb.path("rec/tasks.csv"))
        .lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            format!("{}\n", cells[..cells.len() - 2].join(","))
        })
        .collect();
    std::fs::create_dir(sb.path("old")).unwrap();
    std::fs::write(sb.path("old/tasks.csv"), old).unwrap();
    let o = run(&["--replay", "old", "--out", "never"]);
    assert_bad(&o, "no task in it names its stage");
    assert!(!sb.path("never").exists());
}
