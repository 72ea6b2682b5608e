//! The head's side of a live deployment: admits the nodes, hands them the run, and is the
//! [`Backend`] through which the core's executions and transfers reach them and their
//! completions come back, each at the head's clock when it arrives.
//!
//! A thread runs tokio for the sockets (one task per node, owning its control connection);
//! the driver's thread, which runs the core, talks to it through channels.

use crate::control::{Connection, ControlError, Roster, admit};
use crate::message::{Input, Message, NodeCounters, Outcome, Peer, Work};
use cohort_runtime::core::transport::{TransferId, TransferRequest, TransportEvent};
use cohort_runtime::core::work::{ExecOutput, ExecWork, Execution};
use cohort_runtime::exec::external::{Backend, BackendInput, output_stand_in};
use cohort_runtime::policy::{NodeId, ObjectId, TaskId};
use cohort_runtime::{ActorId, Nanos, RuntimeError};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// How the head admits its nodes.
#[derive(Clone, Debug)]
pub struct HeadOptions {
    /// Nodes the run needs.
    pub nodes: u32,
    /// How often nodes send heartbeats, ns.
    pub heartbeat_ns: u64,
    /// How long to wait for every node to join and load the run's code.
    pub join_timeout: Duration,
    /// The workload, as the nodes' program understands it (opaque here).
    pub workload: Vec<u8>,
}

/// Why the head could not start or finish a run.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// A socket failed.
    #[error("the head's listener: {0}")]
    Io(#[from] std::io::Error),
    /// Not every node joined in time.
    #[error("{joined} of {nodes} nodes joined within {timeout:?}{last}")]
    Joining {
        /// Nodes that joined.
        joined: u32,
        /// Nodes needed.
        nodes: u32,
        /// How long the head waited.
        timeout: Duration,
        /// The last refusal or failure, as `: ...`, if there was one.
        last: String,
    },
    /// A node failed during setup.
    #[error("node {node}: {source}")]
    Node {
        /// The node.
        node: u32,
        /// What went wrong.
        source: ControlError,
    },
}

/// What the nodes reported at the end of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeadReport {
    /// Each node's counters, by id, from its last words.
    pub nodes: BTreeMap<u32, NodeCounters>,
}

/// What the socket thread tells the driver's thread.
enum HeadEvent {
    /// Every node joined and loaded the code (or why not).
    Joined(Result<Vec<mpsc::UnboundedSender<Message>>, HeadError>),
    /// A node sent a message.
    Message(u32, Message),
    /// A node's connection ended or failed.
    Gone(u32, String),
}

/// The head's [`Backend`]: the nodes of a live deployment.
pub struct LiveBackend {
    start: Instant,
    events: std_mpsc::Receiver<HeadEvent>,
    to_nodes: Vec<mpsc::UnboundedSender<Message>>,
    pending: VecDeque<BackendInput>,
    /// Work handed out and not reported, by task id.
    assigned: HashMap<u64, ExecWork>,
    /// Each actor's state as its node last reported it.
    actors: BTreeMap<ActorId, u64>,
    constructed: BTreeSet<ActorId>,
    report: Arc<Mutex<HeadReport>>,
    thread: Option<JoinHandle<()>>,
    stopped: bool,
}

impl std::fmt::Debug for LiveBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveBackend")
            .field("nodes", &self.to_nodes.len())
            .finish_non_exhaustive()
    }
}

impl LiveBackend {
    /// Admits `options.nodes` nodes on `listener`, sends each the workload and the peers'
    /// addresses, and waits until every one has loaded it.
    pub fn start(
        listener: std::net::TcpListener,
        options: HeadOptions,
    ) -> Result<LiveBackend, HeadError> {
        listener.set_nonblocking(true)?;
        let (events_tx, events) = std_mpsc::channel();
        let report = Arc::new(Mutex::new(HeadReport::default()));
        let thread = {
            let report = Arc::clone(&report);
            std::thread::Builder::new()
                .name("cohort-head-sockets".to_string())
                .spawn(move || {
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_io()
                        .enable_time()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = events_tx.send(HeadEvent::Joined(Err(e.into())));
                            return;
                        }
                    };
                    rt.block_on(sockets(listener, options, events_tx, report));
                })?
        };
        let joined = match events.recv() {
            Ok(HeadEvent::Joined(r)) => r,
            _ => Err(HeadError::Io(std::io::Error::other(
                "the head's socket thread ended",
            ))),
        };
        let to_nodes = match joined {
            Ok(t) => t,
            Err(e) => {
                let _ = thread.join();
                return Err(e);
            }
        };
        Ok(LiveBackend {
            start: Instant::now(),
            events,
            to_nodes,
            pending: VecDeque::new(),
            assigned: HashMap::new(),
            actors: BTreeMap::new(),
            constructed: BTreeSet::new(),
            report,
            thread: Some(thread),
            stopped: false,
        })
    }

    /// What the nodes reported, filled in by [`Backend::stop`].
    pub fn report(&self) -> Arc<Mutex<HeadReport>> {
        Arc::clone(&self.report)
    }

    fn send(&self, node: NodeId, message: Message) -> Result<(), RuntimeError> {
        self.to_nodes
            .get(node.index())
            .ok_or_else(|| RuntimeError::Executor(format!("no node {}", node.0)))?
            .send(message)
            .map_err(|_| RuntimeError::Executor(format!("node {} has left", node.0)))
    }

    /// Turns a node's message into an input for the core (or nothing).
    fn input(&mut self, node: u32, m: Message) -> Result<Option<BackendInput>, RuntimeError> {
        match m {
            Message::Done { task, outcome } => {
                let work = self.assigned.remove(&task);
                let result = match outcome {
                    Outcome::Ran {
                        outputs,
                        datapoints,
                        actor_state,
                        ..
                    } => {
                        let actor = match work {
                            Some(ExecWork::CreateActor { actor, .. }) => {
                                self.constructed.insert(actor);
                                Some(actor)
                            }
                            Some(ExecWork::Method { actor, .. }) => Some(actor),
                            _ => None,
                        };
                        if let (Some(a), Some(state)) = (actor, actor_state) {
                            self.actors.insert(a, state);
                        }
                        Ok(ExecOutput {
                            outputs: outputs
                                .iter()
                                .map(|(size, head)| output_stand_in(head, *size))
                                .collect(),
                            datapoints,
                        })
                    }
                    Outcome::Failed(reason) => Err(reason),
                };
                Ok(Some(BackendInput::Completed {
                    task: TaskId(task),
                    result,
                }))
            }
            Message::Fetched { transfer, .. } => {
                let id = TransferId(transfer);
                self.pending
                    .push_back(BackendInput::Transport(TransportEvent::Arrived(id)));
                Ok(Some(BackendInput::Transport(TransportEvent::Flowing(id))))
            }
            Message::FetchFailed { transfer, reason } => Err(RuntimeError::Executor(format!(
                "node {node} could not fetch a copy (transfer {transfer}): {reason}"
            ))),
            Message::Heartbeat { .. } | Message::Stopped { .. } => Ok(None),
            other => Err(RuntimeError::Executor(format!(
                "node {node} sent {} during the run",
                crate::control::brief(&other)
            ))),
        }
    }
}

impl Backend for LiveBackend {
    fn now(&self) -> Nanos {
        self.start.elapsed().as_nanos() as Nanos
    }

    fn execute(&mut self, execution: Execution) -> Result<(), RuntimeError> {
        let work = match execution.work {
            ExecWork::Function(f) => Work::Function(f.0),
            ExecWork::CreateActor { actor, kind } => Work::CreateActor {
                actor: actor.0,
                kind: kind.0,
            },
            ExecWork::Method {
                actor,
                kind,
                method,
            } => Work::Method {
                actor: actor.0,
                kind: kind.0,
                method: method.0,
            },
        };
        let mut inputs = Vec::with_capacity(execution.inputs.len());
        for (i, value) in execution.inputs.iter().enumerate() {
            inputs.push(match execution.objects.get(i).copied().flatten() {
                Some(o) => Input::Object(o.0),
                None if value.modeled_len() > 0 => {
                    return Err(RuntimeError::Executor(format!(
                        "{}: an inline argument with modeled bytes cannot cross the wire",
                        execution.task
                    )));
                }
                None => Input::Value(value.bytes().to_vec()),
            });
        }
        self.assigned.insert(execution.task.0, execution.work);
        self.send(
            execution.node,
            Message::Assign {
                task: execution.task.0,
                work,
                index: execution.index,
                inputs,
                outputs: execution.outputs.iter().map(|o| o.0).collect(),
            },
        )
    }

    fn transfer(&mut self, id: TransferId, request: TransferRequest) -> Result<(), RuntimeError> {
        self.send(
            request.to,
            Message::Fetch {
                transfer: id.0,
                object: request.object.0,
                from: request.from.0,
            },
        )
    }

    fn remove(&mut self, node: NodeId, object: ObjectId) -> Result<(), RuntimeError> {
        self.send(node, Message::Remove { object: object.0 })
    }

    fn next_input(&mut self, until: Option<Nanos>) -> Result<Option<BackendInput>, RuntimeError> {
        loop {
            if let Some(i) = self.pending.pop_front() {
                return Ok(Some(i));
            }
            let event = match until {
                None => self.events.recv().ok(),
                Some(t) => {
                    let wait = Duration::from_nanos(t.saturating_sub(self.now()));
                    match self.events.recv_timeout(wait) {
                        Ok(e) => Some(e),
                        Err(std_mpsc::RecvTimeoutError::Timeout) => return Ok(None),
                        Err(std_mpsc::RecvTimeoutError::Disconnected) => None,
                    }
                }
            };
            match event {
                None => {
                    return Err(RuntimeError::Executor(
                        "the head's socket thread ended".to_string(),
                    ));
                }
                Some(HeadEvent::Message(node, m)) => {
                    if let Some(input) = self.input(node, m)? {
                        return Ok(Some(input));
                    }
                }
                Some(HeadEvent::Gone(node, why)) => {
                    return Err(RuntimeError::Executor(format!("node {node} left: {why}")));
                }
                Some(HeadEvent::Joined(_)) => {}
            }
        }
    }

    fn actor_state(&self, actor: ActorId) -> Option<&(dyn std::any::Any + Send)> {
        self.actors
            .get(&actor)
            .map(|s| s as &(dyn std::any::Any + Send))
    }

    fn constructed_actors(&self) -> Vec<ActorId> {
        self.constructed.iter().copied().collect()
    }

    fn stop(&mut self) -> Result<(), RuntimeError> {
        if std::mem::replace(&mut self.stopped, true) {
            return Ok(());
        }
        for tx in &self.to_nodes {
            let _ = tx.send(Message::Stop);
        }
        let give_up = Instant::now() + Duration::from_secs(10);
        let mut left = self.to_nodes.len();
        let mut failure = None;
        while left > 0 {
            let wait = give_up.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(wait) {
                Ok(HeadEvent::Message(_, Message::Stopped { .. })) => left -= 1,
                Ok(HeadEvent::Gone(node, why)) => {
                    failure.get_or_insert(format!("node {node} left before its report: {why}"));
                    left -= 1;
                }
                Ok(_) => {}
                Err(_) => {
                    failure.get_or_insert("nodes did not report within 10 s".to_string());
                    break;
                }
            }
        }
        self.to_nodes.clear();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        failure.map_or(Ok(()), |f| Err(RuntimeError::Executor(f)))
    }
}

impl Drop for LiveBackend {
    fn drop(&mut self) {
        self.to_nodes.clear();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The socket thread: admits the nodes, sets them up, then runs one task per node.
async fn sockets(
    listener: std::net::TcpListener,
    options: HeadOptions,
    events: std_mpsc::Sender<HeadEvent>,
    report: Arc<Mutex<HeadReport>>,
) {
    let mut conns = match setup(listener, &options).await {
        Ok(c) => c,
        Err(e) => {
            let _ = events.send(HeadEvent::Joined(Err(e)));
            return;
        }
    };
    let mut senders = Vec::new();
    let mut tasks = Vec::new();
    for (node, conn) in std::mem::take(&mut conns).into_iter().enumerate() {
        let (tx, rx) = mpsc::unbounded_channel();
        senders.push(tx);
        let events = events.clone();
        let report = Arc::clone(&report);
        tasks.push(tokio::spawn(node_task(
            node as u32,
            conn,
            rx,
            events,
            report,
        )));
    }
    let _ = events.send(HeadEvent::Joined(Ok(senders)));
    for t in tasks {
        let _ = t.await;
    }
}

/// Admits every node and waits for each to load the run; the connections by node id.
async fn setup(
    listener: std::net::TcpListener,
    options: &HeadOptions,
) -> Result<Vec<Connection<TcpStream>>, HeadError> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut roster = Roster::new(options.nodes, options.heartbeat_ns);
    let mut joined: BTreeMap<u32, (Connection<TcpStream>, String)> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + options.join_timeout;
    let mut last = String::new();
    let timed_out = |joined: u32, last: &str| HeadError::Joining {
        joined,
        nodes: options.nodes,
        timeout: options.join_timeout,
        last: if last.is_empty() {
            String::new()
        } else {
            format!(": {last}")
        },
    };
    while (joined.len() as u32) < options.nodes {
        let accepted = tokio::time::timeout_at(deadline, listener.accept()).await;
        let Ok(accepted) = accepted else {
            return Err(timed_out(joined.len() as u32, &last));
        };
        let (stream, addr) = accepted?;
        stream.set_nodelay(true).ok();
        let mut conn = Connection::new(stream);
        match tokio::time::timeout_at(deadline, admit(&mut conn, &mut roster)).await {
            Ok(Ok(node)) => {
                joined.insert(node, (conn, addr.ip().to_string()));
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => return Err(timed_out(joined.len() as u32, &last)),
        }
    }
    let peers: Vec<Peer> = roster
        .members()
        .iter()
        .map(|(&node, m)| Peer {
            node,
            host: joined[&node].1.clone(),
            port: m.data_port,
        })
        .collect();
    let mut conns = Vec::new();
    for (node, (mut conn, _)) in joined {
        let setup = Message::Setup {
            workload: options.workload.clone(),
            peers: peers.clone(),
        };
        conn.send(&setup)
            .await
            .map_err(|source| HeadError::Node { node, source })?;
        conns.push((node, conn));
    }
    let mut ready = Vec::new();
    for (node, mut conn) in conns {
        loop {
            let m = tokio::time::timeout_at(deadline, conn.recv()).await;
            let m = match m {
                Err(_) => return Err(timed_out(node, "a node did not load the run in time")),
                Ok(r) => r.map_err(|source| HeadError::Node { node, source })?,
            };
            match m {
                Some(Message::Ready) => break,
                Some(Message::Heartbeat { .. }) => {}
                Some(other) => {
                    return Err(HeadError::Node {
                        node,
                        source: ControlError::Unexpected {
                            expected: "ready",
                            got: crate::control::brief(&other),
                        },
                    });
                }
                None => {
                    return Err(HeadError::Node {
                        node,
                        source: ControlError::Closed("ready"),
                    });
                }
            }
        }
        ready.push(conn);
    }
    Ok(ready)
}

/// One node's connection during the run: its messages go to the driver's thread, the
/// driver's go to it.
async fn node_task(
    node: u32,
    mut conn: Connection<TcpStream>,
    mut outgoing: mpsc::UnboundedReceiver<Message>,
    events: std_mpsc::Sender<HeadEvent>,
    report: Arc<Mutex<HeadReport>>,
) {
    loop {
        tokio::select! {
            m = conn.recv() => match m {
                Ok(Some(Message::Stopped { counters })) => {
                    if let Ok(mut r) = report.lock() {
                        r.nodes.insert(node, counters);
                    }
                    let _ = events.send(HeadEvent::Message(node, Message::Stopped { counters }));
                    return;
                }
                Ok(Some(m)) => {
                    if events.send(HeadEvent::Message(node, m)).is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    let _ = events.send(HeadEvent::Gone(node, "it closed the connection".to_string()));
                    return;
                }
                Err(e) => {
                    let _ = events.send(HeadEvent::Gone(node, e.to_string()));
                    return;
                }
            },
            out = outgoing.recv() => match out {
                Some(m) => {
                    if let Err(e) = conn.send(&m).await {
                        let _ = events.send(HeadEvent::Gone(node, e.to_string()));
                        return;
                    }
                }
                None => return,
            },
        }
    }
}
