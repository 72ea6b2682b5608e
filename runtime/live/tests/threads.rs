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
                spill_parent: std::env::temp_dir(),
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
            reserved: 0,
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
    assert_eq!(
        cluster.take_trace().datapoints.len() as u64,
        run.datapoints_expected,
        "every reducer call ran and recorded its datapoint"
    );
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

/// A node's options for a head at `head`.
fn node_options(head: &str, node: u32) -> NodeOptions {
    NodeOptions {
        head: head.to_string(),
        node: Some(node),
        cpus: 1,
        store: 1 << 20,
        data_bind: "127.0.0.1:0".to_string(),
        chunk: 1000,
        connect_timeout: Duration::from_secs(5),
        spill_parent: std::env::temp_dir(),
    }
}

/// A registry with one function, `sum`, which adds up the little-endian `u64`s of its
/// arguments.
fn summing() -> cohort_runtime::Registry {
    let mut r = cohort_runtime::Registry::new();
    r.function("sum", cohort_runtime::CostModel::default(), |_, args| {
        let total: u64 = args
            .iter()
            .flat_map(|a| a.bytes().chunks_exact(8))
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .sum();
        Ok(vec![cohort_runtime::Payload::from_u64(total)])
    })
    .unwrap();
    r
}

/// A live cluster of `nodes` node threads of one CPU and `store` bytes each, running
/// [`summing`]'s code under the random policy; the nodes' threads, to join after `stop`.
#[allow(clippy::type_complexity)]
fn summing_cluster(
    nodes: u32,
    store: u64,
) -> (
    Cluster,
    Vec<
        std::thread::JoinHandle<
            Result<cohort_live::message::NodeCounters, cohort_live::node::NodeError>,
        >,
    >,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let head = listener.local_addr().unwrap().to_string();
    let threads = (0..nodes)
        .map(|i| {
            let options = node_options(&head, i);
            std::thread::spawn(move || {
                run_node(&options, &|_, _| {
                    Ok(LoadedRun {
                        registry: summing(),
                        cpus: 1,
                        store,
                        rate: None,
                    })
                })
            })
        })
        .collect();
    let backend = LiveBackend::start(
        listener,
        HeadOptions {
            nodes,
            heartbeat_ns: 100_000_000,
            missed_heartbeats: 50,
            join_timeout: Duration::from_secs(10),
            workload: Vec::new(),
            reserved: 0,
        },
    )
    .unwrap();
    let spec = cohort_runtime::ClusterSpec::uniform(
        nodes as usize,
        cohort_runtime::NodeSpec {
            cpus: 1,
            store_capacity: store,
        },
        cohort_runtime::NetworkSpec {
            nic_bandwidth: 1 << 30,
            latency: 0,
            transport: Default::default(),
            inline_max: None,
            nic_limits: Default::default(),
        },
    );
    let cluster = Cluster::with_backend(
        spec,
        summing(),
        policy("random", 3),
        cohort_runtime::ClusterConfig::default(),
        Box::new(backend),
    )
    .unwrap();
    (cluster, threads)
}

#[test]
fn the_drivers_puts_reach_a_node_and_tasks_anywhere_read_them() {
    let (mut cluster, nodes) = summing_cluster(2, 1 << 20);
    let sum = cluster.function("sum").unwrap();
    let values: Vec<u64> = (1..=3000).collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let object = cluster
        .put(cohort_runtime::Payload::from_bytes(bytes))
        .unwrap();
    // Enough tasks that the random policy places some on node 1, which must fetch the
    // object from node 0 (in 24 chunks of 1,000 bytes).
    let outs: Vec<_> = (0..8)
        .map(|_| {
            cluster
                .submit(cohort_runtime::Task::new(sum).arg(&object))
                .unwrap()
                .remove(0)
        })
        .collect();
    for o in &outs {
        assert_eq!(cluster.get(o).unwrap().as_u64(), Some(3000 * 3001 / 2));
    }
    assert!(cluster.counters().transfers > 0, "nothing ran on node 1");
    cluster.stop().unwrap();
    for n in nodes {
        n.join().unwrap().unwrap();
    }
}

/// A head that admits one node, then sends `bytes` and closes.
fn bad_head(bytes: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let t = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut hello = [0u8; 256];
        let _ = s.read(&mut hello).unwrap();
        let welcome = cohort_live::Message::Welcome {
            node: 0,
            heartbeat_ns: 100_000_000,
        };
        s.write_all(&welcome.to_frame()).unwrap();
        s.write_all(&bytes).unwrap();
    });
    (addr, t)
}

#[test]
fn a_node_refuses_a_malformed_or_truncated_message_from_its_head_without_a_crash() {
    let setup = cohort_live::Message::Setup {
        workload: Vec::new(),
        peers: Vec::new(),
    }
    .to_frame();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), "not a cohort frame"),
        (
            setup[..setup.len() - 3].to_vec(),
            "the stream ended inside a frame",
        ),
        (
            cohort_live::frame::encode(&[250, 250, 250]),
            "is not a message of this protocol",
        ),
    ];
    for (bytes, needle) in cases {
        let (head, t) = bad_head(bytes);
        let e = run_node(&node_options(&head, 0), &|_, _| {
            Err("the setup never comes".to_string())
        })
        .unwrap_err();
        t.join().unwrap();
        assert!(e.to_string().contains(needle), "{needle:?} not in: {e}");
    }
}

#[test]
fn values_too_large_for_one_message_are_refused_clearly() {
    let (mut cluster, nodes) = summing_cluster(1, 64 << 20);
    let big = cohort_runtime::Payload::from_bytes(vec![0u8; 5 << 20]);
    let e = cluster.put(big.clone()).unwrap_err();
    assert!(
        e.to_string().contains("is more than one message carries"),
        "{e}"
    );
    let sum = cluster.function("sum").unwrap();
    let out = cluster
        .submit(cohort_runtime::Task::new(sum).arg(big))
        .unwrap()
        .remove(0);
    let e = cluster.get(&out).unwrap_err();
    assert!(e.to_string().contains("put it in an object"), "{e}");
    drop(cluster);
    for n in nodes {
        n.join().unwrap().unwrap_err();
    }
}
