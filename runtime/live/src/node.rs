//! A node process: joins the head, loads the run's code, and then runs what it is assigned on
//! real bytes in its shared-memory store, pulls copies from its peers, serves theirs, and
//! removes what the head's core removes.
//!
//! Threads: one tokio thread for every socket (the control connection, the data plane's
//! listener and the connections it serves, the pulls), `cpus` worker threads for tasks, and
//! one thread per actor (an actor holds no CPU slot after its constructor, as in the core, and
//! runs its calls one at a time, in the order they are assigned).

use crate::control::{Connection, ControlError, join};
use crate::data::{IntoStore, Pool, PullError, RateLimit, SocketBytes, serve};
use crate::link::{Link, Writer};
use crate::message::{Input, Message, NodeCounters, Outcome, Peer, Work};
use crate::shm::{Landing, SMALL, SharedStore, put_landed, put_shared};
use crate::spill::SpillDir;
use cohort_runtime::core::work::{ExecWork, Execution, FnId, KindId, MethodId};
use cohort_runtime::exec::Runner;
use cohort_runtime::policy::{NodeId, TaskId};
use cohort_runtime::{ActorId, Payload, Registry};
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::unistd::{Pid, getppid};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

/// How a node process runs.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// The head's control address, `HOST:PORT`.
    pub head: String,
    /// The node id to ask for (`None`: the head's choice).
    pub node: Option<u32>,
    /// CPU slots the node offers (its hello; the run's spec decides how many it uses).
    pub cpus: u32,
    /// Store bytes the node offers (its hello; the run's spec decides its capacity).
    pub store: u64,
    /// The address the data plane listens on (port 0: any free port).
    pub data_bind: String,
    /// Bytes per chunk on the data plane.
    pub chunk: usize,
    /// How long to keep trying to reach the head.
    pub connect_timeout: Duration,
    /// Where the node makes its disk for spilled objects (a directory of its own inside,
    /// made at its first spill and removed when it ends).
    pub spill_parent: std::path::PathBuf,
}

/// What a node runs, built from the head's setup by the node's program.
pub struct LoadedRun {
    /// The run's code.
    pub registry: Registry,
    /// CPU slots: worker threads for tasks.
    pub cpus: u32,
    /// The store's capacity, bytes.
    pub store: u64,
    /// The pace of the data plane's sending side, bytes per second (a token bucket of one
    /// chunk, [`RateLimit`]), to emulate a NIC; `None`: as fast as the sockets go.
    pub rate: Option<u64>,
}

/// Loads the run from the head's setup (the workload's bytes) for the node of the given id.
pub type Loader<'a> = &'a dyn Fn(&[u8], u32) -> Result<LoadedRun, String>;

/// Why a node stopped before the head told it to.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The head could not be reached.
    #[error("cannot reach the head at {head}: {source}")]
    Unreachable {
        /// The address tried.
        head: String,
        /// The last error.
        source: std::io::Error,
    },
    /// The data plane could not listen.
    #[error("cannot listen for peers on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The control connection failed or the head refused the node.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The run's code could not be loaded from the head's setup.
    #[error("cannot load the run's code: {0}")]
    Setup(String),
    /// The node's store refused what the head sent.
    #[error("the store: {0}")]
    Store(String),
    /// The head closed the connection before telling the node to stop.
    #[error("the head closed the connection")]
    HeadGone,
}

/// Counters shared by the node's tasks.
#[derive(Debug, Default)]
struct Counts {
    /// The data plane's socket bytes, serving and pulling.
    socket: SocketBytes,
    objects_sent: AtomicU64,
    objects_received: AtomicU64,
    executions: AtomicU64,
    store_peak: AtomicU64,
    spilled: AtomicU64,
    restored: AtomicU64,
    /// Work assigned and not started (a gauge, for heartbeats).
    queued: AtomicU64,
    /// Work running (a gauge, for heartbeats).
    running: AtomicU64,
}

/// The node's store and what the threads share.
struct Shared {
    store: Mutex<SharedStore>,
    counts: Counts,
    /// Connections to the peers' data planes, open between pulls.
    pool: Pool,
    runner: Runner,
    node: NodeId,
    start: Instant,
}

impl Shared {
    /// Stores object `id`; the store is locked only to take its room and to add it, so
    /// that other threads' reads and writes do not wait for its copy.
    fn put(&self, id: u64, bytes: &[u8]) -> Result<(), String> {
        let (_, used) = put_shared(&self.store, id, bytes).map_err(|e| e.to_string())?;
        self.counts.store_peak.fetch_max(used, Ordering::Relaxed);
        Ok(())
    }

    /// Stores a pulled object from where it landed ([`put_landed`]).
    fn put_landed(&self, id: u64, landing: Landing) -> Result<(), String> {
        let (_, used) = put_landed(&self.store, id, landing).map_err(|e| e.to_string())?;
        self.counts.store_peak.fetch_max(used, Ordering::Relaxed);
        Ok(())
    }

    /// Runs an assignment and stores its outputs; the completion to send back.
    fn run(
        &self,
        task: u64,
        work: Work,
        index: u32,
        inputs: Vec<Input>,
        outputs: Vec<u64>,
    ) -> Message {
        let started = Instant::now();
        self.counts.queued.fetch_sub(1, Ordering::Relaxed);
        self.counts.running.fetch_add(1, Ordering::Relaxed);
        let result = self.execute(task, work, index, inputs, &outputs);
        self.counts.running.fetch_sub(1, Ordering::Relaxed);
        let outcome = match result {
            Ok((stored, datapoints, actor_state)) => Outcome::Ran {
                outputs: stored,
                datapoints,
                actor_state,
                ran_ns: started.elapsed().as_nanos() as u64,
            },
            Err(reason) => Outcome::Failed(reason),
        };
        self.counts.executions.fetch_add(1, Ordering::Relaxed);
        Message::Done { task, outcome }
    }

    #[allow(clippy::type_complexity)]
    fn execute(
        &self,
        task: u64,
        work: Work,
        index: u32,
        inputs: Vec<Input>,
        outputs: &[u64],
    ) -> Result<(Vec<(u64, Vec<u8>)>, Vec<(u64, u64)>, Option<u64>), String> {
        let mut payloads = Vec::with_capacity(inputs.len());
        for input in inputs {
            payloads.push(match input {
                Input::Value(bytes) => Payload::from_bytes(bytes),
                Input::Object(id) => {
                    let held = self
                        .store
                        .lock()
                        .map_err(|_| "store poisoned".to_string())?
                        .get(id)
                        .ok_or_else(|| {
                            format!("object {id} is not in node {}'s store", self.node.0)
                        })?;
                    Payload::from_bytes(held)
                }
            });
        }
        let exec_work = match work {
            Work::Function(f) => ExecWork::Function(FnId(f)),
            Work::CreateActor { actor, kind } => ExecWork::CreateActor {
                actor: ActorId(actor),
                kind: KindId(kind),
            },
            Work::Method {
                actor,
                kind,
                method,
            } => ExecWork::Method {
                actor: ActorId(actor),
                kind: KindId(kind),
                method: MethodId(method),
            },
        };
        let exec = Execution {
            task: TaskId(task),
            node: self.node,
            work: exec_work,
            index,
            inputs: payloads,
            objects: Vec::new(),
            outputs: Default::default(),
        };
        let now = self.start.elapsed().as_nanos() as u64;
        let out = self.runner.run(&exec, now)?;
        drop(exec);
        let mut stored = Vec::with_capacity(out.outputs.len());
        if !matches!(work, Work::CreateActor { .. }) && out.outputs.len() != outputs.len() {
            return Err(format!(
                "returned {} values, expected {}",
                out.outputs.len(),
                outputs.len()
            ));
        }
        for (value, id) in out.outputs.iter().zip(outputs) {
            if value.modeled_len() > 0 {
                return Err(format!(
                    "output {id} has {} modeled bytes: a live node stores real bytes only",
                    value.modeled_len()
                ));
            }
            self.put(*id, value.bytes())?;
            let head = value.bytes()[..value.bytes().len().min(8)].to_vec();
            stored.push((value.size(), head));
        }
        let actor_state = match work {
            Work::CreateActor { actor, .. } | Work::Method { actor, .. } => {
                self.runner.actor_state(ActorId(actor), |t: &u64| *t)
            }
            Work::Function(_) => None,
        };
        Ok((stored, out.datapoints, actor_state))
    }
}

/// A job for a worker thread.
struct Job {
    task: u64,
    work: Work,
    index: u32,
    inputs: Vec<Input>,
    outputs: Vec<u64>,
}

/// Threads of a node's data plane (tokio's workers). More than one, so that a pull is not
/// held behind another's copies: on one thread, at the start of a random run at 15 MiB
/// (3 nodes of a 2-core host), a 32-byte pull waited up to 27 ms for the thread, and took
/// up to 400 ms in all, behind 15 MiB objects being copied into fresh pages; on two, the
/// large transfers took what the model gives them once the run settled (see the README).
const DATA_THREADS: usize = 2;

/// Runs a node process until the head stops it; returns what it counted. `load` turns the
/// head's workload (opaque bytes) into the run's code.
///
/// Joining runs on tokio; then this thread reads the control connection (blocking) and does
/// what it is told, worker threads write their completions to the connection themselves, a
/// thread sends the heartbeats, and tokio runs the data plane on two threads of its own
/// (`DATA_THREADS`).
pub fn run_node(options: &NodeOptions, load: Loader<'_>) -> Result<NodeCounters, NodeError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(DATA_THREADS)
        .thread_name("cohort-node-data")
        .enable_io()
        .enable_time()
        .build()
        .map_err(|source| NodeError::Bind {
            addr: options.data_bind.clone(),
            source,
        })?;
    let joined = rt.block_on(join_head(options))?;
    let Joined {
        listener,
        welcome,
        workload,
        peers,
        conn,
    } = joined;
    let (mut link, writer) = rt
        .block_on(async { Link::split(conn) })
        .map_err(ControlError::from)?;
    let writer = Arc::new(Mutex::new(writer));
    let run = load(&workload, welcome.node).map_err(NodeError::Setup)?;
    let shared = Arc::new(Shared {
        // The head's core keeps the store within its capacity; outputs are written before
        // the head makes room for them, so the node's own limit leaves room for one more
        // store's worth in flight.
        store: Mutex::new(SharedStore::new(run.store.saturating_mul(2))),
        counts: Counts::default(),
        pool: Pool::default(),
        runner: Runner::new(run.registry),
        node: NodeId(welcome.node),
        start: Instant::now(),
    });
    let peers: Arc<HashMap<u32, Peer>> = Arc::new(peers.into_iter().map(|p| (p.node, p)).collect());
    let limit = run.rate.map(|r| Arc::new(RateLimit::nic(r)));

    // The data plane: serve every peer that connects, on tokio's own threads. A thread of
    // ours owns the runtime until the stop.
    let handle = rt.handle().clone();
    rt.spawn(serve_peers(
        listener,
        Arc::clone(&shared),
        limit,
        options.chunk,
    ));
    let (stop_data, data_stopped) = tokio::sync::oneshot::channel::<()>();
    let data = std::thread::Builder::new()
        .name("cohort-node-data-owner".to_string())
        .spawn(move || {
            rt.block_on(async {
                let _ = data_stopped.await;
            });
        })
        .map_err(|source| NodeError::Bind {
            addr: "the data plane's owner thread".to_string(),
            source,
        })?;

    // Workers: `cpus` threads for tasks; a thread per actor. Each writes its completions.
    // Many workers take from one queue without a lock around it (a worker waiting in a
    // locked receiver would make each job wake two threads).
    let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded::<Job>();
    let mut threads = Vec::new();
    for i in 0..run.cpus.max(1) {
        let jobs_rx = jobs_rx.clone();
        let writer = Arc::clone(&writer);
        let shared = Arc::clone(&shared);
        threads.push(
            std::thread::Builder::new()
                .name(format!("cohort-node-worker-{i}"))
                .spawn(move || {
                    while let Ok(j) = jobs_rx.recv() {
                        let done = shared.run(j.task, j.work, j.index, j.inputs, j.outputs);
                        if !say(&writer, &done) {
                            return;
                        }
                    }
                })
                .map_err(|source| NodeError::Bind {
                    addr: "worker threads".to_string(),
                    source,
                })?,
        );
    }
    let mut lanes: HashMap<u64, std_mpsc::Sender<Job>> = HashMap::new();

    // Heartbeats, every period, until the node stops.
    let (stop_beats, beats_stopped) = std_mpsc::channel::<()>();
    let beats = {
        let writer = Arc::clone(&writer);
        let shared = Arc::clone(&shared);
        let period = Duration::from_nanos(welcome.heartbeat_ns.max(1));
        std::thread::Builder::new()
            .name("cohort-node-heartbeat".to_string())
            .spawn(move || {
                while let Err(std_mpsc::RecvTimeoutError::Timeout) =
                    beats_stopped.recv_timeout(period)
                {
                    let used = shared.store.lock().map(|s| s.used()).unwrap_or(0);
                    let beat = Message::Heartbeat {
                        at_ns: shared.start.elapsed().as_nanos() as u64,
                        cpus_busy: shared.counts.running.load(Ordering::Relaxed) as u32,
                        queued: shared.counts.queued.load(Ordering::Relaxed) as u32,
                        store_used: used,
                    };
                    if !say(&writer, &beat) {
                        return;
                    }
                }
            })
            .map_err(|source| NodeError::Bind {
                addr: "the heartbeat thread".to_string(),
                source,
            })?
    };

    let mut disk: Option<SpillDir> = None;
    let outcome = if say(&writer, &Message::Ready) {
        control_loop(
            &mut link,
            &writer,
            &shared,
            &handle,
            &peers,
            &jobs_tx,
            &mut lanes,
            &mut disk,
            options,
            welcome.node,
        )
    } else {
        Err(NodeError::HeadGone)
    };
    let _ = stop_beats.send(());
    let _ = beats.join();
    drop(jobs_tx);
    drop(lanes);
    let _ = stop_data.send(());
    let _ = data.join();
    outcome?;
    let c = &shared.counts;
    let mut w = writer.lock().map_err(|_| NodeError::HeadGone)?;
    let counters = NodeCounters {
        data_sent: c.socket.sent(),
        data_received: c.socket.received(),
        objects_sent: c.objects_sent.load(Ordering::Relaxed),
        objects_received: c.objects_received.load(Ordering::Relaxed),
        control_sent: w.bytes_sent(),
        control_received: link.bytes_received(),
        executions: c.executions.load(Ordering::Relaxed),
        store_peak: c.store_peak.load(Ordering::Relaxed),
        spilled: c.spilled.load(Ordering::Relaxed),
        restored: c.restored.load(Ordering::Relaxed),
        cpu_ns: crate::process_cpu_ns(),
    };
    w.send(&Message::Stopped { counters })
        .map_err(ControlError::from)?;
    Ok(NodeCounters {
        control_sent: w.bytes_sent(),
        ..counters
    })
}

/// Writes `message` to the head; false if the connection is gone (the control loop finds
/// out and ends the node).
fn say(writer: &Mutex<Writer>, message: &Message) -> bool {
    writer
        .lock()
        .map(|mut w| w.send(message).is_ok())
        .unwrap_or(false)
}

/// What joining gave.
struct Joined {
    listener: TcpListener,
    welcome: crate::control::Welcome,
    workload: Vec<u8>,
    peers: Vec<Peer>,
    conn: Connection<TcpStream>,
}

/// Connects to the head, trying again until `options.connect_timeout` has passed.
async fn connect(options: &NodeOptions) -> Result<TcpStream, NodeError> {
    let give_up = Instant::now() + options.connect_timeout;
    loop {
        match TcpStream::connect(&options.head).await {
            Ok(s) => {
                s.set_nodelay(true).ok();
                return Ok(s);
            }
            Err(source) if Instant::now() >= give_up => {
                return Err(NodeError::Unreachable {
                    head: options.head.clone(),
                    source,
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Binds the data plane, joins the head and waits for the run's setup.
async fn join_head(options: &NodeOptions) -> Result<Joined, NodeError> {
    let listener = TcpListener::bind(&options.data_bind)
        .await
        .map_err(|source| NodeError::Bind {
            addr: options.data_bind.clone(),
            source,
        })?;
    let data_port = listener
        .local_addr()
        .map_err(|source| NodeError::Bind {
            addr: options.data_bind.clone(),
            source,
        })?
        .port();
    let mut conn = Connection::new(connect(options).await?);
    let welcome = join(
        &mut conn,
        &Message::Hello {
            cohort_version: env!("CARGO_PKG_VERSION").to_string(),
            node: options.node,
            cpus: options.cpus,
            store: options.store,
            data_port,
        },
    )
    .await?;
    let (workload, peers) = match conn.recv().await? {
        Some(Message::Setup { workload, peers }) => (workload, peers),
        Some(other) => {
            return Err(ControlError::Unexpected {
                expected: "the run's setup",
                got: crate::control::brief(&other),
            }
            .into());
        }
        None => return Err(NodeError::HeadGone),
    };
    Ok(Joined {
        listener,
        welcome,
        workload,
        peers,
        conn,
    })
}

/// Serves every peer that connects to the data plane.
async fn serve_peers(
    listener: TcpListener,
    shared: Arc<Shared>,
    limit: Option<Arc<RateLimit>>,
    chunk: usize,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        stream.set_nodelay(true).ok();
        let shared = Arc::clone(&shared);
        let limit = limit.clone();
        tokio::spawn(async move {
            let mut c = Connection::new(stream);
            let _ = serve(
                &mut c,
                &shared.store,
                chunk,
                limit.as_deref(),
                &shared.counts.objects_sent,
                &shared.counts.socket,
            )
            .await;
        });
    }
}

/// Does what the head says until it says stop (`Ok`) or the connection fails.
#[allow(clippy::too_many_arguments)]
fn control_loop(
    link: &mut Link,
    writer: &Arc<Mutex<Writer>>,
    shared: &Arc<Shared>,
    handle: &tokio::runtime::Handle,
    peers: &Arc<HashMap<u32, Peer>>,
    jobs_tx: &crossbeam_channel::Sender<Job>,
    lanes: &mut HashMap<u64, std_mpsc::Sender<Job>>,
    disk: &mut Option<SpillDir>,
    options: &NodeOptions,
    node: u32,
) -> Result<(), NodeError> {
    loop {
        let Some(m) = link.recv()? else {
            return Err(NodeError::HeadGone);
        };
        match m {
            Message::Assign {
                task,
                work,
                index,
                inputs,
                outputs,
            } => {
                let job = Job {
                    task,
                    work,
                    index,
                    inputs,
                    outputs,
                };
                shared.counts.queued.fetch_add(1, Ordering::Relaxed);
                let actor = match work {
                    Work::Function(_) => None,
                    Work::CreateActor { actor, .. } | Work::Method { actor, .. } => Some(actor),
                };
                let unsent = match actor {
                    None => jobs_tx.send(job).err().map(|e| e.0),
                    Some(actor) => lanes
                        .entry(actor)
                        .or_insert_with(|| {
                            actor_lane(actor, Arc::clone(shared), Arc::clone(writer))
                        })
                        .send(job)
                        .err()
                        .map(|e| e.0),
                };
                if let Some(job) = unsent {
                    shared.counts.queued.fetch_sub(1, Ordering::Relaxed);
                    say(
                        writer,
                        &Message::Done {
                            task: job.task,
                            outcome: Outcome::Failed(
                                "the node has no thread to run it".to_string(),
                            ),
                        },
                    );
                }
            }
            Message::Fetch {
                transfer,
                object,
                from,
            } => {
                let target = peers.get(&from).map(|p| format!("{}:{}", p.host, p.port));
                let shared = Arc::clone(shared);
                let writer = Arc::clone(writer);
                let asked = Instant::now();
                handle.spawn(async move {
                    let began = Instant::now();
                    let answer = match fetch(target, object, shared).await {
                        Ok(bytes) => Message::Fetched { transfer, bytes },
                        Err(reason) => Message::FetchFailed { transfer, reason },
                    };
                    let fetched = Instant::now();
                    say(&writer, &answer);
                    // Where a fetch's time went on this node (`RUST_LOG=cohort_live=debug`):
                    // waiting for a data-plane thread, pulling and storing, answering.
                    tracing::debug!(
                        object,
                        from,
                        waited_us = began.duration_since(asked).as_micros() as u64,
                        fetched_us = fetched.duration_since(began).as_micros() as u64,
                        answered_us = fetched.elapsed().as_micros() as u64,
                        "fetch"
                    );
                });
            }
            Message::Put { object, bytes } => {
                shared.put(object, &bytes).map_err(|e| {
                    NodeError::Store(format!("storing the driver's object {object}: {e}"))
                })?;
            }
            Message::Remove { object } => {
                let taken = shared.store.lock().ok().and_then(|mut s| s.take(object));
                // Freeing a large object's memory (unmapping it, its pages given back, every
                // core running one of the process's threads told to forget the mapping)
                // took this thread from the head's next message for a millisecond or more
                // per 15 MiB object: it is done on the side.
                if let Some(bytes) = taken.filter(|b| b.len() >= SMALL) {
                    handle.spawn_blocking(move || drop(bytes));
                }
            }
            Message::Spill { object } => {
                spill(shared, disk, options, node, object).map_err(NodeError::Store)?;
            }
            Message::Restore { object } => {
                restore(shared, disk.as_ref(), object).map_err(NodeError::Store)?;
            }
            Message::Unspill { object } => {
                if let Some(d) = disk {
                    d.remove(object).map_err(|e| {
                        NodeError::Store(format!("deleting spilled object {object}: {e}"))
                    })?;
                }
            }
            Message::Stop => return Ok(()),
            other => {
                return Err(ControlError::Unexpected {
                    expected: "an assignment, a fetch, a put, a store operation or a stop",
                    got: crate::control::brief(&other),
                }
                .into());
            }
        }
    }
}

/// Moves the store's copy of `object` to the node's disk (made at the first spill).
fn spill(
    shared: &Shared,
    disk: &mut Option<SpillDir>,
    options: &NodeOptions,
    node: u32,
    object: u64,
) -> Result<(), String> {
    let bytes = {
        let mut store = shared
            .store
            .lock()
            .map_err(|_| "store poisoned".to_string())?;
        let bytes = store.get(object).ok_or_else(|| {
            format!("asked to spill object {object}, which its store does not hold")
        })?;
        store.remove(object);
        bytes
    };
    if disk.is_none() {
        let name = format!("cohort-node-{}-{node}", std::process::id());
        let made = SpillDir::create(&options.spill_parent, &name)
            .map_err(|e| format!("making its disk in {}: {e}", options.spill_parent.display()))?;
        *disk = Some(made);
    }
    let d = disk.as_mut().expect("made above");
    d.write(object, &bytes)
        .map_err(|e| format!("spilling object {object} to {}: {e}", d.path().display()))?;
    shared
        .counts
        .spilled
        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    Ok(())
}

/// Reads `object` back from the node's disk into its store.
fn restore(shared: &Shared, disk: Option<&SpillDir>, object: u64) -> Result<(), String> {
    let bytes = disk
        .map(|d| d.read(object))
        .transpose()
        .map_err(|e| format!("reading spilled object {object}: {e}"))?
        .flatten()
        .ok_or_else(|| format!("asked to restore object {object}, which its disk does not hold"))?;
    shared.put(object, &bytes)?;
    shared
        .counts
        .restored
        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    Ok(())
}

/// A thread that runs one actor's work in the order it is assigned.
fn actor_lane(
    actor: u64,
    shared: Arc<Shared>,
    writer: Arc<Mutex<Writer>>,
) -> std_mpsc::Sender<Job> {
    let (tx, rx) = std_mpsc::channel::<Job>();
    // Without a thread, the receiver is dropped and sending an assignment fails it.
    let _ = std::thread::Builder::new()
        .name(format!("cohort-actor-{actor}"))
        .spawn(move || {
            while let Ok(j) = rx.recv() {
                let done = shared.run(j.task, j.work, j.index, j.inputs, j.outputs);
                if !say(&writer, &done) {
                    return;
                }
            }
        });
    tx
}

/// Pulls `object` from the peer at `target` into the store; its size. A large object's
/// chunks are written into the store's arena as they arrive; one that lands in a buffer
/// instead (no arena range free) is copied into the store on a blocking thread, so that the
/// data plane's threads go on serving and pulling meanwhile.
async fn fetch(target: Option<String>, object: u64, shared: Arc<Shared>) -> Result<u64, String> {
    let target = target.ok_or_else(|| "the head named a node that is no peer".to_string())?;
    let counts = &shared.counts;
    let sink = || IntoStore::new(&shared.store);
    let landing = match shared
        .pool
        .pull(&target, object, &counts.socket, sink)
        .await
        .map(IntoStore::landed)
    {
        Ok(Some(landing)) => landing,
        Ok(None) => {
            return Err(format!(
                "pulling object {object} from {target}: a chunk beyond its size"
            ));
        }
        Err(e @ PullError::Connect { .. }) => return Err(e.to_string()),
        Err(e) => return Err(format!("pulling object {object} from {target}: {e}")),
    };
    let size = landing.len() as u64;
    counts.objects_received.fetch_add(size, Ordering::Relaxed);
    if matches!(&landing, Landing::Buffer(b) if b.len() >= SMALL) {
        tokio::task::spawn_blocking(move || shared.put_landed(object, landing))
            .await
            .map_err(|e| format!("storing object {object}: {e}"))??;
    } else {
        shared.put_landed(object, landing)?;
    }
    Ok(size)
}

/// Kills process `pid` at once (SIGKILL): a `kill` fault played for real.
pub fn kill(pid: u32) -> std::io::Result<()> {
    nix::sys::signal::kill(Pid::from_raw(pid as i32), Signal::SIGKILL).map_err(std::io::Error::from)
}

/// Asks the kernel to kill this process when its parent ends, if its parent is `parent`:
/// a node started by a head never outlives it. Returns false if the parent has already
/// gone (the caller should exit).
pub fn die_with_parent(parent: u32) -> bool {
    if prctl::set_pdeathsig(Signal::SIGKILL).is_err() {
        return false;
    }
    // The parent may have ended before the request: then this process has another.
    getppid() == Pid::from_raw(parent as i32)
}
