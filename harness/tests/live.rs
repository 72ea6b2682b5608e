//! Live runs of the `cohort` binary: a head and three node processes on loopback, running the
//! streaming workload at a small size for about a second under each built-in policy. Checked:
//! the reducers' totals against the seeded data computed here, the sockets' bytes against the
//! transfers the runtime recorded (to the byte, frames included), group's map phase moving
//! nothing, and no process left behind.

mod common;

use cohort_live::data::CHUNK;
use cohort_live::message::Message;
use cohort_workloads::live::{generated, units};
use common::{Sandbox, assert_bad, number, read_csv, rows, shipped, stderr, tagged_processes};
use std::collections::BTreeMap;
use std::process::{Command, Output};

const DATA: u64 = 80_000;
const WIDTH: u64 = 6;

/// The settings of every live run here: 3 nodes of 2 CPUs, 6 maps of 80 KB, batches for
/// `duration`.
fn small(duration: &str) -> Vec<String> {
    [
        "data_size=80KB",
        "cluster.nodes=3",
        "cluster.cpus=2",
        "cluster.store=64MB",
        "width=6",
        &format!("duration={duration}"),
        "warmup=0s",
    ]
    .iter()
    .flat_map(|s| ["--set".to_string(), s.to_string()])
    .collect()
}

/// Runs `cohort` with `args` in `sb`, tagged so that its processes can be found afterwards.
fn cohort_tagged(sb: &Sandbox, tag: &str, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cohort"))
        .args(args)
        .current_dir(&sb.dir)
        .env_remove("RUST_LOG")
        .env("COHORT_TEST_TAG", tag)
        .output()
        .unwrap()
}

/// Starts `cohort` with `args` in `sb`, tagged, its output captured.
fn spawn_tagged(sb: &Sandbox, tag: &str, args: &[String]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_cohort"))
        .args(args)
        .current_dir(&sb.dir)
        .env_remove("RUST_LOG")
        .env("COHORT_TEST_TAG", tag)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Processes still running whose environment holds `COHORT_TEST_TAG=tag`.
fn left_running(tag: &str) -> Vec<String> {
    tagged_processes(&format!("COHORT_TEST_TAG={tag}"))
}

/// `cohort run WORKLOAD --policy POLICY --deploy processes --out run`, then `extra`, then the
/// small settings for `duration`.
fn live_args(workload: &str, policy: &str, extra: &[&str], duration: &str) -> Vec<String> {
    let shipped = shipped(workload);
    let mut args: Vec<String> = [
        "run",
        &shipped,
        "--policy",
        policy,
        "--deploy",
        "processes",
        "--out",
        "run",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect();
    args.extend(small(duration));
    args
}

/// The run's manifest.
fn manifest(sb: &Sandbox) -> toml::Table {
    std::fs::read_to_string(sb.path("run/manifest.toml"))
        .unwrap()
        .parse()
        .unwrap()
}

/// Checks that the 4 reducers' totals are those the seeded data gives: the data is made
/// once, and every reducer call of batch `it` adds 1 + it + the units of the 6 shuffles'
/// outputs, which split and sum the 6 maps' copies of the data. Returns the iterations.
fn assert_reducer_totals(manifest: &toml::Table, seed: u64) -> u64 {
    let iterations = manifest["iterations"].as_integer().unwrap() as u64;
    let data = units(&generated(seed, 0, 0, DATA));
    let expected: u64 = (0..iterations).map(|it| 1 + it + WIDTH * data).sum();
    let totals = manifest["actor_totals"].as_table().unwrap();
    assert_eq!(totals.len(), 4, "{totals:?}");
    for (actor, total) in totals {
        assert_eq!(
            total.as_str().unwrap().parse::<u64>().unwrap(),
            expected,
            "reducer {actor}"
        );
    }
    iterations
}

/// The socket bytes of pulling an object of `size` bytes in chunks of `chunk`: the pull's
/// frame and every chunk's, as the data plane sends them.
fn wire_bytes(object: u64, size: u64, chunk: u64) -> u64 {
    let pull = Message::Pull { object }.to_frame().len() as u64;
    let mut chunks = 0;
    let mut offset = 0;
    loop {
        let end = (offset + chunk).min(size);
        chunks += Message::Chunk {
            object,
            offset,
            total: size,
            bytes: vec![0; (end - offset) as usize],
        }
        .to_frame()
        .len() as u64;
        offset = end;
        if offset >= size {
            break;
        }
    }
    pull + chunks
}

fn live_run(policy: &str) {
    let sb = Sandbox::new(&format!("live-{policy}"), "");
    let tag = format!("live-{policy}-{}", std::process::id());
    let args = live_args("streaming.toml", policy, &["--seed", "7"], "1s");
    let o = cohort_tagged(&sb, &tag, &args);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert_eq!(left_running(&tag), Vec::<String>::new());

    let manifest = manifest(&sb);
    assert_eq!(manifest["deploy"].as_str(), Some("processes"));
    assert_eq!(manifest["clock"].as_str(), Some("real"));
    // How it was deployed: every node started here, sending at the workload's 10 Gbit/s.
    assert_eq!(manifest["live"]["spawned"].as_integer(), Some(3));
    assert_eq!(manifest["live"]["nic_rate"].as_str(), Some("1250000000B/s"));
    let iterations = assert_reducer_totals(&manifest, 7);
    assert!(iterations >= 3, "{iterations} iterations in about a second");

    // Every transfer the runtime recorded crossed a socket, and nothing else did.
    let summary = rows(&read_csv(&sb.path("run/summary.csv")));
    let transfers = rows(&read_csv(&sb.path("run/transfers.csv")));
    let nodes = rows(&read_csv(&sb.path("run/nodes.csv")));
    assert_eq!(nodes.len(), 3);
    // The head's and each node's CPU time: some, and no more than every core's worth of the
    // run's wall time plus a second of set-up.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let most = cores * (manifest["wall_s"].as_float().unwrap() * 1e9) as u64 + 1_000_000_000;
    let head_cpu = manifest["live"]["head_cpu_ns"].as_integer().unwrap() as u64;
    assert!(head_cpu > 0 && head_cpu < most, "{head_cpu} {most}");
    for n in &nodes {
        let cpu = number(n, "cpu_ns");
        assert!(cpu > 0 && cpu < most, "{n:?} {most}");
    }
    let recorded: u64 = transfers.iter().map(|t| number(t, "bytes")).sum();
    assert_eq!(number(&summary[0], "bytes_transferred"), recorded);
    assert_eq!(number(&summary[0], "failed"), 0);
    assert_eq!(number(&summary[0], "unfinished"), 0);
    // Every reducer call ran and recorded its datapoint (the run did not stop with a
    // transfer still in flight).
    assert_eq!(number(&summary[0], "datapoints_lost"), 0);
    assert_eq!(number(&summary[0], "datapoints"), 4 * iterations);
    let total = |column: &str| nodes.iter().map(|n| number(n, column)).sum::<u64>();
    assert_eq!(total("objects_received"), recorded);
    assert_eq!(total("objects_sent"), recorded);
    let wire: u64 = transfers
        .iter()
        .map(|t| wire_bytes(number(t, "object"), number(t, "bytes"), CHUNK as u64))
        .sum();
    assert_eq!(total("data_received"), wire);
    assert_eq!(total("data_sent"), wire);
    for n in &nodes {
        assert!(
            number(n, "control_sent") > 0,
            "{n:?}: every node joined and reported"
        );
    }
    let tasks = rows(&read_csv(&sb.path("run/tasks.csv")));
    assert_eq!(
        total("executions"),
        tasks.len() as u64,
        "every piece of work ran once, on a node"
    );

    if policy == "group" {
        // The maps run where the data is: only the data object itself may move (once per
        // node, when a group first lands elsewhere); no map output ever does.
        let big: Vec<&BTreeMap<String, String>> = transfers
            .iter()
            .filter(|t| number(t, "bytes") == DATA)
            .collect();
        assert!(big.len() <= 2, "{big:?}");
        assert!(
            big.iter().all(|t| t["object"] == big[0]["object"]),
            "{big:?}"
        );
    }
}

#[test]
fn random_runs_live_with_exact_sums_and_bytes() {
    live_run("random");
}

#[test]
fn group_runs_live_with_exact_sums_and_bytes() {
    live_run("group");
}

#[test]
fn locality_runs_live_with_exact_sums_and_bytes() {
    live_run("locality");
}

#[test]
fn a_node_killed_mid_run_is_found_by_its_missed_heartbeats_and_the_run_recovers_exactly() {
    let sb = Sandbox::new("live-kill", "");
    let tag = format!("live-kill-{}", std::process::id());
    let args = live_args(
        "streaming-kill.toml",
        "random",
        &["--set", "kill_at=600ms", "--set", "missed_heartbeats=5"],
        "2s",
    );
    let o = cohort_tagged(&sb, &tag, &args);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert_eq!(left_running(&tag), Vec::<String>::new());

    // Node 2's process was killed at 600 ms and declared dead once it had been silent for
    // 5 heartbeats of 100 ms: about 1,000 ms (its last heartbeat came between 500 and
    // 600 ms, give or take how its timer lines up with the head's clock), and well before
    // the end.
    let faults = rows(&read_csv(&sb.path("run/faults.csv")));
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0]["kind"], "kill");
    assert_eq!(faults[0]["node"], "2");
    let declared = number(&faults[0], "declared_ns");
    assert!(
        (900_000_000..2_000_000_000).contains(&declared),
        "declared at {declared} ns"
    );
    let summary = rows(&read_csv(&sb.path("run/summary.csv")));
    let s = &summary[0];
    assert_eq!(number(s, "failed"), 0);
    assert_eq!(number(s, "unfinished"), 0);
    assert!(
        number(s, "reexecuted") + number(s, "reconstructed") + number(s, "actor_restarts") > 0,
        "the kill cost nothing: {s:?}"
    );
    // Its last words never came; the others reported.
    let nodes = rows(&read_csv(&sb.path("run/nodes.csv")));
    let ids: Vec<&str> = nodes.iter().map(|n| n["node"].as_str()).collect();
    assert_eq!(ids, ["0", "1"]);

    // The reducers' totals are those of a run without the kill: every call counted once,
    // replayed calls rebuilt from lineage on real bytes.
    assert_reducer_totals(&manifest(&sb), 1);
}

#[test]
fn a_node_started_by_hand_joins_the_head_as_from_another_host() {
    let sb = Sandbox::new("live-join", "");
    let tag = format!("live-join-{}", std::process::id());
    // A free port for the head (taken back from the kernel just before the head binds it).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let args = live_args(
        "streaming.toml",
        "random",
        &["--spawn", "2", "--listen", &listen, "--seed", "3"],
        "1s",
    );
    let head = spawn_tagged(&sb, &tag, &args);
    let node = cohort_tagged(
        &sb,
        &tag,
        &[
            "node".to_string(),
            "--head".to_string(),
            listen.clone(),
            "--data".to_string(),
            "127.0.0.1:0".to_string(),
        ],
    );
    let head = head.wait_with_output().unwrap();
    assert!(head.status.success(), "head: {}", stderr(&head));
    assert!(node.status.success(), "node: {}", stderr(&node));
    assert!(
        stderr(&head).contains("waiting for 1 node(s) to join"),
        "{}",
        stderr(&head)
    );
    assert_eq!(left_running(&tag), Vec::<String>::new());
    let nodes = rows(&read_csv(&sb.path("run/nodes.csv")));
    assert_eq!(nodes.len(), 3);
    assert_reducer_totals(&manifest(&sb), 3);
}

#[test]
fn a_live_run_spills_to_real_files_and_reads_them_back() {
    let sb = Sandbox::new("live-spill", "");
    let tag = format!("live-spill-{}", std::process::id());
    let mut args = live_args(
        "streaming.toml",
        "random",
        &["--set", "cluster.spilling=true", "--seed", "5"],
        "1s",
    );
    // Room for two 80 KB objects and a bit: the data object must go to disk for map
    // outputs to fit, and come back for the next batch's maps.
    args.extend(["--set".to_string(), "cluster.store=200KB".to_string()]);
    let head = spawn_tagged(&sb, &tag, &args);
    // The head's scratch directory, where its nodes made their disks.
    let scratch = std::env::temp_dir().join(format!("cohort-live-{}", head.id()));
    let head = head.wait_with_output().unwrap();
    assert!(head.status.success(), "{}", stderr(&head));
    assert_eq!(left_running(&tag), Vec::<String>::new());
    assert!(!scratch.exists(), "{} is left", scratch.display());
    let summary = rows(&read_csv(&sb.path("run/summary.csv")));
    let s = &summary[0];
    assert_eq!(number(s, "failed"), 0);
    assert_eq!(number(s, "datapoints_lost"), 0);
    let (spilled, restored) = (number(s, "spilled_bytes"), number(s, "restored_bytes"));
    assert!(spilled > 0 && restored > 0, "{s:?}");
    // What the core decided to spill and read back, the nodes' disks really did.
    let nodes = rows(&read_csv(&sb.path("run/nodes.csv")));
    let total = |column: &str| nodes.iter().map(|n| number(n, column)).sum::<u64>();
    assert_eq!(total("spilled_bytes"), spilled);
    assert_eq!(total("restored_bytes"), restored);
    assert_reducer_totals(&manifest(&sb), 5);
}

/// Waits up to 10 s for `n` processes tagged `tag` to be running.
fn wait_for_processes(tag: &str, n: usize) {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while left_running(tag).len() < n {
        assert!(
            std::time::Instant::now() < give_up,
            "{:?}",
            left_running(tag)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn an_interrupted_or_killed_head_leaves_no_node_behind() {
    let sb = Sandbox::new("live-interrupt", "");
    for (signal, code) in [("-INT", Some(130)), ("-KILL", None)] {
        let tag = format!("live-interrupt{signal}-{}", std::process::id());
        let args = live_args("streaming.toml", "random", &[], "30s");
        let mut head = spawn_tagged(&sb, &tag, &args);
        // The head and its three nodes.
        wait_for_processes(&tag, 4);
        let sent = Command::new("kill")
            .args([signal, &head.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = head.wait().unwrap();
        assert_eq!(status.code(), code, "{signal}");
        // The nodes go with the head: at once on an interrupt, by the kernel's parent-death
        // signal when the head is killed.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !left_running(&tag).is_empty() {
            assert!(
                std::time::Instant::now() < give_up,
                "{signal}: {:?}",
                left_running(&tag)
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!sb.path("run").exists());
    }
}

#[test]
fn a_live_run_refuses_what_it_cannot_do_clearly() {
    let sb = Sandbox::new("live-refusals", "");
    let streaming = shipped("streaming.toml");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", &streaming, "--policy", "random"];
        args.extend_from_slice(extra);
        sb.cohort(&args)
    };
    assert_bad(&run(&["--spawn", "2"]), "--spawn needs --deploy processes");
    assert_bad(
        &run(&["--deploy", "processes", "--clock", "real"]),
        "--clock does not apply to --deploy processes",
    );
    assert_bad(
        &run(&["--deploy", "processes", "--nic-rate", "fast"]),
        "--nic-rate fast",
    );
    assert_bad(
        &run(&["--deploy", "processes", "--listen", "256.0.0.1:1"]),
        "the head cannot listen on 256.0.0.1:1",
    );
    let slow = sb.write(
        "slow.toml",
        &std::fs::read_to_string(shipped("streaming.toml"))
            .unwrap()
            .replacen(
                "[[stage]]",
                "[[fault]]\nkind = \"slow_cpu\"\nnode = 1\nat = \"1s\"\nby = 2\n\n[[stage]]",
                1,
            ),
    );
    let slow = slow.display().to_string();
    assert_bad(
        &sb.cohort(&["run", &slow, "--policy", "random", "--deploy", "processes"]),
        "fault 1: live runs play only `kill` faults (a slow_cpu is a model's)",
    );
    assert_bad(
        &sb.cohort(&[
            "run",
            &shipped("streaming.toml"),
            "--policy",
            "random",
            "--deploy",
            "processes",
            "--set",
            "cluster.delayed_ack=40ms",
        ]),
        "cluster.delayed_ack models Ray v0.6's forwarding stalls",
    );
    assert_bad(
        &run(&[
            "--deploy",
            "processes",
            "--set",
            "cluster.inline_objects=100KiB",
        ]),
        "cluster.inline_objects models current Ray's small objects",
    );
    assert_bad(
        &sb.cohort(&[
            "run",
            &shipped("streaming-kill.toml"),
            "--policy",
            "random",
            "--deploy",
            "processes",
            "--spawn",
            "2",
        ]),
        "fault 1: node 2 is not started by this head (--spawn 2)",
    );
    // No node joins: the head gives up after its timeout, naming how many did.
    let o = run(&[
        "--deploy",
        "processes",
        "--spawn",
        "0",
        "--join-timeout",
        "300ms",
        "--set",
        "cluster.nodes=2",
    ]);
    assert_bad(&o, "0 of 2 nodes joined within 300ms");
    // A node whose head is not there.
    let o = sb.cohort(&[
        "node",
        "--head",
        "127.0.0.1:1",
        "--connect-timeout",
        "200ms",
    ]);
    assert_bad(&o, "cannot reach the head at 127.0.0.1:1");
    // A node that cannot listen for its peers.
    let o = sb.cohort(&["node", "--head", "127.0.0.1:1", "--data", "256.0.0.1:0"]);
    assert_bad(&o, "cannot listen for peers on 256.0.0.1:0");
    assert_eq!(sb.leftovers(), Vec::<String>::new());
}

#[test]
fn calibrate_writes_a_profile_that_runs_apply() {
    let sb = Sandbox::new("live-calibrate", "");
    let tag = format!("live-calibrate-{}", std::process::id());
    let args: Vec<String> = [
        "calibrate",
        "--out",
        "p.toml",
        "--samples",
        "2",
        "--sessions",
        "12",
        "--full-sessions",
        "6",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let o = cohort_tagged(&sb, &tag, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(left_running(&tag), Vec::<String>::new());
    let text = std::fs::read_to_string(sb.path("p.toml")).unwrap();
    let p = cohort_workloads::Profile::parse("p.toml", &text).unwrap();
    // Every number is there, with the measurements it came from.
    for class in ["generate", "copy", "sum"] {
        assert!(p.kinds[class].fixed.is_some(), "{class}");
    }
    assert!(p.kinds["generate"].output_rate.is_some());
    assert!(p.kinds["sum"].input_rate.is_some());
    // Each class's medians at the five sizes, from 8 bytes up (the sum's with its header), as
    // a curve commented out, which reads as the workload's key once uncommented.
    for (class, by) in [("generate", "output"), ("copy", "output"), ("sum", "input")] {
        let section = text
            .split(&format!("[kinds.{class}]"))
            .nth(1)
            .and_then(|t| t.split("\n[").next())
            .unwrap();
        let key = format!("# cost_by_{by}_size = ");
        let line = section
            .lines()
            .find_map(|l| l.strip_prefix(key.as_str()))
            .unwrap_or_else(|| panic!("{class}: {section}"));
        let curve: String = toml::from_str::<toml::Value>(&format!("c = {line}")).unwrap()["c"]
            .as_str()
            .unwrap()
            .to_string();
        let want = if class == "sum" {
            ["24B", "65552B", "1048592B", "4194320B", "16777232B"]
        } else {
            ["8B", "65536B", "1048576B", "4194304B", "16777216B"]
        };
        let sizes: Vec<&str> = curve
            .split(", ")
            .map(|point| point.split_once(':').unwrap().0)
            .collect();
        assert_eq!(sizes, want, "{class}");
        // Each point is the median its comment gives.
        for size in want {
            let bytes = size.trim_end_matches('B');
            let median = section
                .split(&format!("#   {bytes} B: median "))
                .nth(1)
                .and_then(|t| t.split(' ').next())
                .unwrap_or_else(|| panic!("{class} {size}: {section}"));
            assert!(
                curve.contains(&format!("{size}:{median}")),
                "{class}: {section}"
            );
        }
        assert!(
            section.contains(&format!(
                "uncomment it and remove `fixed` and\n# `{by}_rate`"
            )),
            "{section}"
        );
        let uncommented = text.replace(&key, &format!("cost_by_{by}_size = "));
        let p = cohort_workloads::Profile::parse("p.toml", &uncommented).unwrap();
        let got = match by {
            "input" => &p.kinds[class].cost_by_input_size,
            _ => &p.kinds[class].cost_by_output_size,
        };
        assert_eq!(got.as_deref(), Some(curve.as_str()), "{class}");
    }
    assert!(p.cluster.latency.is_some() && p.cluster.nic_bandwidth.is_some());
    // 16 MiB: made, copied and moved (the transfers as measured, then net of waking); read
    // by a sum with its 16-byte batch header.
    assert_eq!(text.matches("16777216 B: median").count(), 4, "{text}");
    assert_eq!(text.matches("16777232 B: median").count(), 1, "{text}");
    // The fixed costs come from all 12 sessions, the larger sizes from the 6 full ones: 2
    // transfers per session (and 2 more of 16 MiB in a full one's copies), and 2 tasks on
    // each of the 2 nodes (transfers first).
    let samples_of = |line_start: &str| -> Vec<&str> {
        text.lines()
            .filter(|l| l.starts_with(line_start))
            .map(|l| l.split("; per session").next().unwrap())
            .map(|l| l.rsplit(", ").next().unwrap())
            .collect()
    };
    // And how many sessions' own medians each line's spread is over.
    let sessions_of = |line_start: &str| -> Vec<&str> {
        text.lines()
            .filter(|l| l.starts_with(line_start))
            .map(|l| l.split("; per session (").nth(1).unwrap_or("none)"))
            .map(|l| l.split(')').next().unwrap())
            .collect()
    };
    assert_eq!(
        samples_of("#   8 B: median"),
        ["24 samples", "24 samples", "48 samples", "48 samples"],
        "{text}"
    );
    assert_eq!(
        samples_of("#   16777216 B: median"),
        ["24 samples"; 4],
        "{text}"
    );
    assert_eq!(sessions_of("#   8 B: median"), ["12"; 4], "{text}");
    assert_eq!(sessions_of("#   16777216 B: median"), ["6"; 4], "{text}");
    // The latency is the 8-byte transfers' median net of the wake-up the model charges
    // them, which the comment gives, and never above the median as measured.
    assert!(
        text.contains(
            "# less the wake-up the model charges the more idle end: at 8 B it had idled "
        ),
        "{text}"
    );
    let medians_at_8: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("#   8 B: median "))
        .map(|l| {
            l["#   8 B: median ".len()..]
                .split("us")
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let latency: f64 = p
        .cluster
        .latency
        .as_deref()
        .unwrap()
        .trim_end_matches("us")
        .parse()
        .unwrap();
    assert_eq!(latency, medians_at_8[1], "{text}");
    assert!(medians_at_8[1] <= medians_at_8[0], "{text}");
    assert!(
        text.contains("sessions = 12\nfull_sessions = 6\n"),
        "{text}"
    );
    assert!(text.contains("cohort_commit"), "{text}");
    // The wake-up: one step per idle time, each from its samples (2 per node each).
    let wake_up = p.model["wake_up"].as_str().expect("a wake-up curve");
    assert_eq!(wake_up.split(',').count(), 7, "{wake_up}");
    assert!(wake_up.starts_with("100.000us:"), "{wake_up}");
    assert_eq!(text.matches("us: median").count(), 7, "{text}");
    assert!(text.contains("after 30000.000us: median"), "{text}");
    assert!(text.contains("after 100000.000us: median"), "{text}");
    // A transfer's copies: a rate, from one remote and one local sum per session.
    let copy = p.model["transfer_copy_rate"].as_str().expect("a copy rate");
    assert!(copy.ends_with("MB/s") || copy == "none", "{copy}");
    let sessions = text
        .lines()
        .find(|l| l.contains("(local ms / remote ms / MiB moved):"))
        .expect("the copies' measurements");
    assert_eq!(sessions.matches(" / 32").count(), 6, "{sessions}");
    // Memory a store reaches for the first time: a rate from the generate and copy tasks,
    // new against warm.
    let touch = p.model["first_touch_rate"]
        .as_str()
        .expect("a first-touch rate");
    assert!(touch.ends_with("MB/s") || touch == "none", "{touch}");
    let kinds = text
        .lines()
        .find(|l| l.contains("(kind: new / warm):"))
        .expect("the first touch's measurements");
    assert!(
        kinds.contains(" generate ") && kinds.contains(" copy "),
        "{kinds}"
    );
    // A transfer's set-up work: from every session's remote and local rounds, at most the
    // latency.
    let work = p.model["set_up_work"].as_str().expect("a set-up's work");
    let us_of = |d: &str| d.strip_suffix("us").unwrap().parse::<f64>().unwrap();
    assert!(
        us_of(work) >= 0.0 && us_of(work) <= latency,
        "{work} {latency}"
    );
    // Each per-session list (12 sessions): the line that ends with `marker` and its values.
    let listed = |marker: &str| {
        let line = text
            .lines()
            .find(|l| l.contains(marker))
            .unwrap_or_else(|| panic!("no line with {marker:?}: {text}"));
        assert_eq!(line.matches(',').count(), 11, "{line}");
    };
    listed("latency); per session (us):");
    // The same set-up from the batches' wall time, as a check, per session.
    listed("the cores share); per session (us):");
    // The head's work per task: the batches' CPU per task beyond the fixed cost, per session.
    let head = p.model["head_work"].as_str().expect("the head's work");
    assert!(us_of(head) >= 0.0, "{head}");
    listed("# session (us):");
    // The noise: a log-normal spread for durations and one for latencies, each from its
    // samples (every task's, and the 8-byte transfers').
    assert_eq!(p.model["jitter"].as_str(), Some("lognormal"), "{text}");
    for key in ["jitter_spread", "latency_jitter_spread"] {
        let sigma = p.model[key].as_float().expect("a spread");
        assert!((0.0..=3.0).contains(&sigma), "{key} = {sigma}");
    }
    assert!(
        text.contains("#   8-byte transfers, net of waking: 24 samples: p10 x"),
        "{text}"
    );
    // The simulator takes it.
    let streaming = shipped("streaming.toml");
    let o = sb.cohort(&[
        "run",
        &streaming,
        "--policy",
        "group",
        "--profile",
        "p.toml",
        "--set",
        "duration=2s",
        "--set",
        "warmup=1s",
        "--out",
        "run",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Refusals: too few nodes, an existing profile.
    assert_bad(
        &sb.cohort(&["calibrate", "--out", "q.toml", "--nodes", "1"]),
        "--nodes 1: calibration needs at least 2 nodes",
    );
    assert_bad(
        &sb.cohort(&["calibrate", "--out", "q.toml", "--sessions", "0"]),
        "--sessions 0: a calibration needs at least one session",
    );
    assert_bad(
        &sb.cohort(&["calibrate", "--out", "q.toml", "--full-sessions", "0"]),
        "--full-sessions 0: the larger sizes need at least one session",
    );
    assert_bad(
        &sb.cohort(&["calibrate", "--out", "p.toml"]),
        "p.toml already exists (pass --force to replace it)",
    );
}

/// Runs `cohort compare` of the streaming workload live in `sb` (tagged `tag`), with
/// `profile`, the `extra` arguments and the small cluster of [`small`] for `duration`, into
/// `cmp/`; checks that it succeeded and left no process behind, and returns `compare.csv`.
fn compare_live(
    sb: &Sandbox,
    tag: &str,
    profile: &str,
    extra: &[&str],
    duration: &str,
) -> Vec<BTreeMap<String, String>> {
    let streaming = shipped("streaming.toml");
    let mut args: Vec<String> = ["compare", &streaming, "--profile", profile, "--out", "cmp"]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
    args.extend(small(duration));
    let o = cohort_tagged(sb, tag, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(left_running(tag), Vec::<String>::new());
    rows(&read_csv(&sb.path("cmp/compare.csv")))
}

/// The manifest of `compare`'s run `run` on `side` (`sim` or `live`).
fn compared_manifest(sb: &Sandbox, side: &str, run: &str) -> toml::Table {
    std::fs::read_to_string(sb.path(&format!("cmp/{side}/runs/{run}/manifest.toml")))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn compare_with_a_chunked_profile_keeps_its_nics_both_ways() {
    // Ray v0.6's profile: the chunked transport, which models a NIC's receiving side, so
    // `compare` leaves its NICs as they are (and the live side runs without its stalls).
    let sb = Sandbox::new("live-compare-chunked", "");
    let tag = format!("live-compare-chunked-{}", std::process::id());
    let profile = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../peers/ray/profiles/ray-v0.6-local.toml")
        .display()
        .to_string();
    let extra = ["--policies", "random", "--set", "cluster.delayed_ack=none"];
    let cmp = compare_live(&sb, &tag, &profile, &extra, "0.5s");
    let sim_manifest = compared_manifest(&sb, "sim", &cmp[0]["run"]);
    assert_eq!(
        sim_manifest["profile"]["set"]["cluster.transport"].as_str(),
        Some("chunked")
    );
    assert!(
        sim_manifest["set"].get("cluster.nic_limits").is_none(),
        "{sim_manifest:?}"
    );
}

#[test]
fn compare_runs_both_sides_and_writes_their_errors() {
    let sb = Sandbox::new("live-compare", "");
    let tag = format!("live-compare-{}", std::process::id());
    sb.write(
        "p.toml",
        "[cluster]\nlatency = \"200us\"\n[kinds.copy]\nfixed = \"100us\"\noutput_rate = \"2GB/s\"\n",
    );
    let cmp = compare_live(&sb, &tag, "p.toml", &["--policies", "random,group"], "1s");
    let sim = rows(&read_csv(&sb.path("cmp/sim/summary.csv")));
    let live = rows(&read_csv(&sb.path("cmp/live/summary.csv")));
    assert_eq!((sim.len(), live.len(), cmp.len()), (2, 2, 2));
    for c in &cmp {
        let s = sim.iter().find(|r| r["run"] == c["run"]).unwrap();
        let l = live.iter().find(|r| r["run"] == c["run"]).unwrap();
        assert_eq!(c["sim_mean_ms"], s["mean_ms"]);
        assert_eq!(c["live_mean_ms"], l["mean_ms"]);
        let (sm, lm): (f64, f64) = (s["mean_ms"].parse().unwrap(), l["mean_ms"].parse().unwrap());
        let err: f64 = c["mean_error"].parse().unwrap();
        assert!((err - (sm - lm) / lm).abs() < 1e-5, "{c:?}");
        assert_eq!(c["live_bytes"], l["bytes_transferred"]);
        let agree: f64 = c["placement_agreement"].parse().unwrap();
        assert!((0.0..=1.0).contains(&agree), "{c:?}");
        // The simulated side of these short runs keeps up; a live run without a datapoint,
        // or with work unfinished, did not (one with them may have, by its growth).
        assert_eq!(c["sim_kept_up"], "true", "{c:?}");
        if l["datapoints"] == "0" || l["unfinished"] != "0" {
            assert_eq!(c["live_kept_up"], "false", "{c:?}");
        } else {
            assert!(
                ["true", "false"].contains(&c["live_kept_up"].as_str()),
                "{c:?}"
            );
        }
    }
    // The live side really ran live, the simulated side with the profile.
    let live_manifest = compared_manifest(&sb, "live", &cmp[0]["run"]);
    assert_eq!(live_manifest["deploy"].as_str(), Some("processes"));
    let sim_manifest = compared_manifest(&sb, "sim", &cmp[0]["run"]);
    assert_eq!(sim_manifest["deploy"].as_str(), Some("in-process"));
    assert_eq!(
        sim_manifest["profile"]["set"]["tasks.map_step.fixed"].as_str(),
        Some("100us")
    );
    // The live nodes pace what they send at the workload's NIC rate, and the simulator's
    // NICs limit sending only, as theirs do.
    assert_eq!(
        sim_manifest["set"]["cluster.nic_limits"].as_str(),
        Some("send")
    );
    // The table of errors, and one report with both sides on the same figures.
    let md = std::fs::read_to_string(sb.path("cmp/compare.md")).unwrap();
    assert!(md.contains("## Where the time goes"), "{md}");
    assert!(md.contains("map_step ×"), "{md}");
    assert!(md.contains("hand-off to shuffle "), "{md}");
    for c in &cmp {
        assert!(md.contains(&format!("| {} |", c["policy"])), "{md}");
    }
    // Both sides' tasks name their stage and iteration, so an iteration's timeline is read
    // alike from each: every stage, on both sides, and where they part most.
    let live_tasks = rows(&read_csv(
        &sb.path(&format!("cmp/live/runs/{}/tasks.csv", cmp[0]["run"])),
    ));
    assert!(
        live_tasks
            .iter()
            .any(|t| t["stage"] == "shuffled" && t["iteration"] == "3"),
        "{live_tasks:?}"
    );
    assert!(
        md.contains("| maps | shuffled | reduce | arrival | parts most |"),
        "{md}"
    );
    for c in &cmp {
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| {} | ", c["policy"])) && l.contains(" → "))
            .unwrap_or_else(|| panic!("no timeline of {}: {md}", c["policy"]));
        let cells: Vec<&str> = row.split(" | ").collect();
        for cell in &cells[3..7] {
            let sides: Vec<&str> = cell.split(" / ").collect();
            assert!(sides.len() == 2 && !sides.contains(&"–"), "{row}");
        }
    }
    let report = std::fs::read_to_string(sb.path("cmp/report/report.md")).unwrap();
    for series in [
        "random (cohort sim)",
        "group (cohort sim)",
        "random (cohort live)",
        "group (cohort live)",
    ] {
        assert!(report.contains(series), "{series} not in the report");
    }
    assert!(sb.path("cmp/report/mean-latency.svg").is_file());
}
