//! `cohort run --replay`: the workload placed as a recorded run's `placements.csv` says,
//! stage by stage, iteration by iteration; what it could not find counted in the manifest;
//! a recording that is not one refused by name.

mod common;

use common::{Sandbox, assert_bad, number, read_csv, rows, shipped, stderr};

/// The streaming workload, small: 3 nodes, 6-wide stages, 2 reducers, 1 s.
fn small() -> Vec<String> {
    [
        "data_size=80KB",
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

/// Where the recording puts each map (by index), each shuffle, and reducer `j`.
fn map_node(index: u64) -> u64 {
    (index + 1) % 3
}
fn shuffle_node(index: u64) -> u64 {
    (index + 2) % 3
}
fn reducer_node(j: u64) -> u64 {
    1 - j
}

/// A recording of iterations 0 to 4 (the run makes more: those take iteration 4's nodes),
/// as the Ray peer writes one, with a row of a node the peer could not name.
fn recording() -> String {
    let mut t = String::from("stage,kind,iteration,index,node,started_ns,finished_ns,cpus\n");
    t.push_str("data,generate,0,0,2,-5,10,1\n");
    for it in 0..5 {
        for i in 0..6 {
            t.push_str(&format!("maps,map_step,{it},{i},{},0,0,1\n", map_node(i)));
            t.push_str(&format!(
                "shuffled,shuffle,{it},{i},{},0,0,1\n",
                shuffle_node(i)
            ));
        }
        for j in 0..2 {
            t.push_str(&format!("call,reduce,{it},{j},{},0,0,0\n", reducer_node(j)));
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
            ("task", "map_step") => map_node(index),
            ("task", "shuffle") => shuffle_node(index),
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
