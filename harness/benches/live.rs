//! The live runtime against its anchor (Ray 2.60 on this machine, BENCHMARKS.md): cluster
//! start for 5 node processes, a trivial task's round trip across processes, trivial-task
//! throughput, and a 16 MiB object through the data plane against a plain TCP copy.
//!
//! The nodes are `cohort node` processes of the benchmark build's `cohort` executable; this
//! process is the head.

use cohort_live::control::Connection;
use cohort_live::data::{CHUNK, IntoStore, SocketBytes, pull_into, serve};
use cohort_live::head::{HeadOptions, LiveBackend};
use cohort_live::shm::{SharedStore, put_landed};
use cohort_runtime::{Cluster, ClusterConfig, Payload, Task, TaskArg};
use cohort_workloads::{LiveSetup, Workload, registry_live};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A workload of one trivial task kind: 8 bytes out, no modeled cost.
const TRIVIAL: &str = r#"
name = "trivial"
[cluster]
nodes = 5
cpus = 2
store = "256MiB"
nic_bandwidth = "10Gbit/s"
latency = "0us"
[tasks.noop]
output_size = "8B"
[[stage]]
name = "data"
op = "broadcast"
task = "noop"
width = 1
[schedule]
period = "100ms"
mode = "fixed-delay"
duration = "1s"
"#;

/// A live cluster of `nodes` node processes running the trivial workload.
struct LiveCluster {
    cluster: Cluster,
    children: Vec<Child>,
}

impl LiveCluster {
    fn start(nodes: usize) -> LiveCluster {
        let sets = BTreeMap::from([("cluster.nodes".to_string(), nodes.to_string())]);
        let w = Workload::parse("trivial.toml", TRIVIAL)
            .and_then(|w| w.resolve(&sets))
            .expect("the trivial workload resolves");
        let setup = LiveSetup {
            name: "trivial.toml".to_string(),
            text: TRIVIAL.to_string(),
            sets,
            seed: 1,
            nic_rate: None,
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let head = listener.local_addr().expect("an address").to_string();
        let children = (0..nodes)
            .map(|i| {
                Command::new(env!("CARGO_BIN_EXE_cohort"))
                    .args(["node", "--head", &head, "--node", &i.to_string()])
                    .args(["--data", "127.0.0.1:0"])
                    .args(["--parent", &std::process::id().to_string()])
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("a node process")
            })
            .collect();
        let backend = LiveBackend::start(
            listener,
            HeadOptions {
                nodes: nodes as u32,
                heartbeat_ns: 100_000_000,
                missed_heartbeats: 300,
                join_timeout: Duration::from_secs(30),
                workload: setup.to_bytes(),
                reserved: 0,
            },
        )
        .expect("the nodes join");
        let cluster = Cluster::with_backend(
            w.spec.clone(),
            registry_live(&w, 1).expect("registers"),
            Box::new(cohort_policy_random::RandomPolicy::new(1)),
            ClusterConfig::default(),
            Box::new(backend),
        )
        .expect("a cluster");
        LiveCluster { cluster, children }
    }

    fn stop(mut self) {
        self.cluster.stop().expect("the nodes stop");
        for mut c in self.children.drain(..) {
            let _ = c.wait();
        }
    }
}

impl Drop for LiveCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The batch header the workload's task code expects.
fn header() -> TaskArg {
    TaskArg::Value(Payload::from_i64s(&[0, 0]))
}

fn live(c: &mut Criterion) {
    let mut g = c.benchmark_group("live");
    g.sample_size(10);
    g.bench_function("start_5_nodes", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let cluster = LiveCluster::start(5);
                total += t.elapsed();
                cluster.stop();
            }
            total
        })
    });

    let mut cluster = LiveCluster::start(2);
    let noop = cluster.cluster.function("noop").expect("noop");
    g.sample_size(30);
    g.bench_function("task_round_trip", |b| {
        b.iter(|| {
            let out = cluster
                .cluster
                .submit(Task::new(noop).arg(header()))
                .expect("submits")
                .remove(0);
            cluster.cluster.get(&out).expect("runs")
        })
    });
    g.sample_size(10);
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("tasks_10000", |b| {
        b.iter(|| {
            let outs: Vec<_> = (0..10_000)
                .map(|_| {
                    cluster
                        .cluster
                        .submit(Task::new(noop).arg(header()))
                        .expect("submits")
                        .remove(0)
                })
                .collect();
            cluster.cluster.run_until_idle().expect("runs");
            outs.len()
        })
    });
    cluster.stop();
    g.finish();
}

/// A 16 MiB object pulled through the data plane (in its chunks, `CHUNK`, landing in a
/// shared-memory store's arena as a node's pulls do; and in the 1,000,000-byte chunks it used
/// before), and the same bytes through a plain TCP socket.
fn transfer(c: &mut Criterion) {
    const SIZE: usize = 16 << 20;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .expect("a runtime");
    let mut g = c.benchmark_group("transfer_16MiB");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(SIZE as u64));
    let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();

    for (name, chunk) in [("data_plane", CHUNK), ("data_plane_1MB_chunks", 1_000_000)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut store = SharedStore::new(1 << 30);
                store.put(1, &data).expect("stored");
                let store = std::sync::Arc::new(Mutex::new(store));
                rt.block_on(async {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let addr = listener.local_addr().unwrap();
                    let served = std::sync::Arc::clone(&store);
                    let server = tokio::spawn(async move {
                        let (s, _) = listener.accept().await.unwrap();
                        s.set_nodelay(true).ok();
                        let mut conn = Connection::new(s);
                        let (objects, socket) = (AtomicU64::new(0), SocketBytes::default());
                        let _ = serve(&mut conn, &served, chunk, None, &objects, &socket).await;
                    });
                    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
                    s.set_nodelay(true).ok();
                    let mut conn = Connection::new(s);
                    // As a node pulls: the chunks land in the store's arena as they arrive.
                    let into = Mutex::new(SharedStore::new(1 << 30));
                    let t = Instant::now();
                    for i in 0..iters {
                        let mut sink = IntoStore::new(&into);
                        pull_into(&mut conn, 1, &mut sink).await.unwrap();
                        put_landed(&into, i, sink.landed().unwrap()).unwrap();
                        into.lock().unwrap().remove(i);
                    }
                    let took = t.elapsed();
                    drop(conn);
                    server.await.unwrap();
                    took
                })
            })
        });
    }

    g.bench_function("plain_tcp", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let payload = data.clone();
                let server = tokio::spawn(async move {
                    let (mut s, _) = listener.accept().await.unwrap();
                    for _ in 0..iters {
                        s.write_all(&payload).await.unwrap();
                    }
                });
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                let mut buf = vec![0u8; SIZE];
                let t = Instant::now();
                for _ in 0..iters {
                    s.read_exact(&mut buf).await.unwrap();
                }
                let took = t.elapsed();
                server.await.unwrap();
                took
            })
        })
    });
    g.finish();
}

criterion_group!(benches, live, transfer);
criterion_main!(benches);
