//! A live cluster on loopback with its nodes as threads of the test: the head's backend, the
//! nodes' stores, workers and data planes, and the core driving them, on the streaming
//! workload at a small size. (The `cohort` binary's tests run the same with node processes.)

use cohort_live::head::{HeadOptions, LiveBackend};
use cohort_live::node::{LoadedRun, NodeOptions, run_node};
use cohort_policy::Policy;
use cohort_runtime::Cluster;
use cohort_workloads::live::{UNIT, generated, units};
use cohort_workloads::{End, LiveSetup, SHIPPED, Workload, cluster_config, drive};
use std::collections::BTreeMap;
use std::time::Duration;

fn policy(name: &str, seed: u64) -> Box<dyn Policy> {
    match name {
        "random" => Box::new(cohort_policy_random::RandomPolicy::new(seed)),
        "group" => Box::new(cohort_policy_group::GroupPolicy::new(seed)),
        _ => Box::new(cohort_policy_locality::LocalityPolicy::new(seed)),
    }
}

#[test]
fn three_nodes_run_the_streaming_workload_with_exact_sums() {
    let (name, text) = SHIPPED[0];
    let sets = BTreeMap::from([
        ("data_size".to_string(), "80KB".to_string()),
        ("cluster.nodes".to_string(), "3".to_string()),
        ("cluster.cpus".to_string(), "2".to_string()),
        ("cluster.store".to_string(), "64MB".to_string()),
        ("width".to_string(), "6".to_string()),
    ]);
    let seed = 5;
    let setup = LiveSetup {
        name: name.to_string(),
        text: text.to_string(),
        sets: sets.clone(),
        seed,
        nic_rate: None,
    };
    let mut w = Workload::parse(name, text).unwrap().resolve(&sets).unwrap();
    w.schedule.end = End::Iterations(5);
    w.schedule.warmup = 0;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let head = listener.local_addr().unwrap().to_string();
    let nodes: Vec<_> = (0..3)
        .map(|i| {
            let options = NodeOptions {
                head: head.clone(),
                node: Some(i),
                cpus: 2,
                store: 64_000_000,
                data_bind: "127.0.0.1:0".to_string(),
                chunk: 64 << 10,
                connect_timeout: Duration::from_secs(5),
            };
            std::thread::spawn(move || {
                run_node(&options, &|bytes, _node| {
                    LiveSetup::load(bytes).map(|(_, _, registry)| LoadedRun {
                        registry,
                        cpus: 2,
                        store: 64_000_000,
                        rate: None,
                    })
                })
            })
        })
        .collect();
    let backend = LiveBackend::start(
        listener,
        HeadOptions {
            nodes: 3,
            heartbeat_ns: 100_000_000,
            missed_heartbeats: 50,
            join_timeout: Duration::from_secs(10),
            workload: setup.to_bytes(),
        },
    )
    .unwrap();
    let report = backend.report();
    let mut cluster = Cluster::with_backend(
        w.spec.clone(),
        cohort_workloads::registry_live(&w, seed).unwrap(),
        policy("random", seed),
        cluster_config(&w, cohort_runtime::Clock::Virtual),
        Box::new(backend),
    )
    .unwrap();
    let run = drive(&w, &mut cluster, &mut |_| {}).unwrap();
    cluster.stop().unwrap();
    for n in nodes {
        n.join().unwrap().unwrap();
    }
    assert_eq!(run.iterations, 5);
    assert_eq!(run.unfinished, 0);
    assert_eq!(run.failed, 0, "{:?}", run.first_failure);
    // The data is made once, at the start (its stage reads nothing that changes), by the
    // broadcast's one task; each batch's 6 maps pass it through, 6 shuffles split it in 4
    // and sum the parts, and each reducer call gets the 6 shuffles' outputs: it adds
    // 1 + iteration + 6 times the data's units.
    let data = units(&generated(seed, 0, 0, 80_000));
    let expected: u64 = (0..5u64).map(|it| 1 + it + 6 * data).sum();
    assert_eq!(run.actor_totals.len(), 4);
    for (actor, total) in &run.actor_totals {
        assert_eq!(*total, expected, "{actor}");
    }
    assert!(expected as f64 * UNIT > 1.0);
    // The bytes the sockets moved are the transfers the core recorded.
    let counters = cluster.counters();
    let report = report.lock().unwrap().clone();
    let received: u64 = report.nodes.values().map(|c| c.objects_received).sum();
    let sent: u64 = report.nodes.values().map(|c| c.objects_sent).sum();
    assert_eq!(received, counters.bytes_transferred);
    assert_eq!(sent, counters.bytes_transferred);
    assert!(counters.transfers > 0);
}
