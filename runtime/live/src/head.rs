//! The head's side of a live deployment: admits the nodes, hands them the run, and is the
//! [`Backend`] through which the core's executions and transfers reach them and their
//! completions come back, each at the head's clock when it arrives.
//!
//! Joining runs on tokio; then the driver's thread, which runs the core, does the sockets'
//! work itself: it writes what it queued for each node when it waits, and waits on every
//! node's socket at once (`ppoll`), so that no other thread stands between the core and
//! the nodes.

use crate::control::{Connection, ControlError, Roster, admit};
use crate::link::{self, Link, ReadState, Writer};
use crate::message::{Input, Message, NodeCounters, Outcome, Peer, Work};
use cohort_runtime::core::store::StoreOp;
use cohort_runtime::core::transport::{TransferId, TransferRequest, TransportEvent};
use cohort_runtime::core::work::{ExecOutput, ExecWork, Execution};
use cohort_runtime::exec::external::{Backend, BackendInput, output_stand_in};
use cohort_runtime::policy::{NodeId, ObjectId, TaskId};
use cohort_runtime::{ActorId, Nanos, Payload, RuntimeError};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// How the head admits its nodes.
#[derive(Clone, Debug)]
pub struct HeadOptions {
    /// Nodes the run needs.
    pub nodes: u32,
    /// How often nodes send heartbeats, ns.
    pub heartbeat_ns: u64,
    /// How many heartbeat periods in a row a node may stay silent before it is declared
    /// dead (any message counts as a heartbeat).
    pub missed_heartbeats: u32,
    /// How long to wait for every node to join and load the run's code.
    pub join_timeout: Duration,
    /// The workload, as the nodes' program understands it (opaque here).
    pub workload: Vec<u8>,
    /// Node ids `0..reserved` are kept for nodes that ask for them by id (the ones the
    /// head's program starts itself); a node that asks for none gets one from `reserved` on.
    pub reserved: u32,
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
    /// The nodes declared dead, by id: how their connection ended, and when they were
    /// declared (ns of the head's clock).
    pub lost: BTreeMap<u32, (String, Nanos)>,
}

/// How many times a fetch that failed from a node still connected is tried again (20 ms
/// apart) before the run fails: a peer that is up but cannot serve is a fault of the
/// deployment, not of the workload.
const FETCH_RETRIES: u32 = 50;

/// The pause before a failed fetch is tried again.
const FETCH_RETRY: Duration = Duration::from_millis(20);

/// What the head knows of one node's liveness.
#[derive(Clone, Debug)]
struct Liveness {
    /// When the head last heard from it.
    last_heard: Instant,
    /// How its connection ended, if it has.
    gone: Option<String>,
    /// Whether it has been declared dead.
    dead: bool,
}

/// A transfer handed to a node and not reported.
#[derive(Clone, Copy, Debug)]
struct Fetch {
    request: TransferRequest,
    failures: u32,
}

/// The most bytes one value (a put, an inline argument) may have: a message's limit, less
/// room for the frame's header, the message's tag and its varints.
const MESSAGE_ROOM: usize = crate::frame::DEFAULT_MAX_PAYLOAD as usize - 1024;

/// One node's control connection.
#[derive(Debug)]
struct NodeLink {
    link: Link,
    writer: Writer,
}

/// The head's [`Backend`]: the nodes of a live deployment.
pub struct LiveBackend {
    start: Instant,
    /// Each node's connection, by node id. What is queued for a node is written when the
    /// driver next waits ([`LiveBackend::flush`]): one write for many messages.
    links: Vec<NodeLink>,
    pending: VecDeque<BackendInput>,
    /// Messages received and not handled yet, with their node.
    inbox: VecDeque<(u32, Message)>,
    /// Work handed out and not reported, by task id, with its node.
    assigned: HashMap<u64, (ExecWork, NodeId)>,
    /// Transfers handed out and not reported, by id.
    fetches: HashMap<u64, Fetch>,
    /// Failed fetches to try again, by when.
    retries: BTreeSet<(Instant, u64)>,
    nodes: Vec<Liveness>,
    /// How long a node may stay silent.
    silence: Duration,
    /// Each actor's state as its node last reported it.
    actors: BTreeMap<ActorId, u64>,
    constructed: BTreeSet<ActorId>,
    report: Arc<Mutex<HeadReport>>,
    stopped: bool,
}

impl std::fmt::Debug for LiveBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveBackend")
            .field("nodes", &self.links.len())
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
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let links = rt.block_on(async {
            let conns = setup(listener, &options).await?;
            let mut links = Vec::with_capacity(conns.len());
            for conn in conns {
                let (link, writer) = Link::split(conn)?;
                link.set_nonblocking()?;
                links.push(NodeLink { link, writer });
            }
            Ok::<_, HeadError>(links)
        })?;
        let now = Instant::now();
        let nodes = vec![
            Liveness {
                last_heard: now,
                gone: None,
                dead: false,
            };
            links.len()
        ];
        Ok(LiveBackend {
            start: now,
            links,
            pending: VecDeque::new(),
            inbox: VecDeque::new(),
            assigned: HashMap::new(),
            fetches: HashMap::new(),
            retries: BTreeSet::new(),
            nodes,
            silence: Duration::from_nanos(
                options
                    .heartbeat_ns
                    .saturating_mul(u64::from(options.missed_heartbeats.max(1))),
            ),
            actors: BTreeMap::new(),
            constructed: BTreeSet::new(),
            report: Arc::new(Mutex::new(HeadReport::default())),
            stopped: false,
        })
    }

    /// When the head's clock reads 0.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// What the nodes reported, filled in by [`Backend::stop`].
    pub fn report(&self) -> Arc<Mutex<HeadReport>> {
        Arc::clone(&self.report)
    }

    /// Sends `message` to `node`. A node whose connection has ended gets nothing: what it
    /// was sent is lost with it, and found so when it is declared dead.
    fn send(&mut self, node: NodeId, message: Message) -> Result<(), RuntimeError> {
        let i = node.index();
        let state = self
            .nodes
            .get(i)
            .ok_or_else(|| RuntimeError::Executor(format!("no node {}", node.0)))?;
        if state.gone.is_none() && !state.dead {
            self.links[i].writer.queue(&message);
        }
        Ok(())
    }

    /// Writes what is queued for each node, as much as its socket takes now.
    fn flush(&mut self) {
        for (l, n) in self.links.iter_mut().zip(&mut self.nodes) {
            if n.gone.is_none()
                && !n.dead
                && let Err(e) = l.writer.flush()
            {
                n.gone = Some(e.to_string());
            }
        }
    }

    /// Waits until a node's socket can be read (or one with bytes queued written), or
    /// `until`; reads what has arrived into the inbox.
    fn wait(&mut self, until: Option<Instant>) -> Result<(), RuntimeError> {
        let live: Vec<bool> = self
            .nodes
            .iter()
            .map(|n| n.gone.is_none() && !n.dead)
            .collect();
        let pairs: Vec<(&Link, &Writer)> =
            self.links.iter().map(|l| (&l.link, &l.writer)).collect();
        let timeout = until.map(|u| u.saturating_duration_since(Instant::now()));
        let ready = link::wait(&pairs, &live, timeout)
            .map_err(|e| RuntimeError::Executor(format!("waiting for the nodes: {e}")))?;
        for (i, (readable, writable)) in ready.into_iter().enumerate() {
            if writable {
                self.flush();
            }
            if !readable {
                continue;
            }
            let inbox = &mut self.inbox;
            let read = self.links[i]
                .link
                .read_ready(&mut |m| inbox.push_back((i as u32, m)));
            let gone = match read {
                Ok(ReadState::Waiting) => None,
                Ok(ReadState::Closed) => Some("it closed the connection".to_string()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = gone {
                self.nodes[i].gone.get_or_insert(why);
            }
        }
        Ok(())
    }

    /// The first node silent for too long, declared dead now: forgets what it was handed.
    fn declare_silent(&mut self, now: Instant) -> Option<BackendInput> {
        let (i, n) = self
            .nodes
            .iter_mut()
            .enumerate()
            .find(|(_, n)| !n.dead && now.duration_since(n.last_heard) >= self.silence)?;
        n.dead = true;
        let why = n
            .gone
            .clone()
            .unwrap_or_else(|| "it stopped sending heartbeats".to_string());
        let node = NodeId(i as u32);
        let before = self.assigned.len();
        self.assigned.retain(|_, (_, at)| *at != node);
        let running = before - self.assigned.len();
        self.fetches
            .retain(|_, f| f.request.from != node && f.request.to != node);
        let fetches = &self.fetches;
        self.retries.retain(|(_, id)| fetches.contains_key(id));
        let at = now.duration_since(self.start).as_nanos() as Nanos;
        if let Ok(mut r) = self.report.lock() {
            r.lost.insert(node.0, (why, at));
        }
        // Fenced: its connection is closed, so a node that was only slow stops too (it
        // finds the head gone) instead of working for a run that has written it off.
        self.links[i].writer.shutdown();
        Some(BackendInput::NodeLost { node, running })
    }

    /// When the next node would be declared dead, or the next fetch tried again.
    fn next_deadline(&self) -> Option<Instant> {
        let silent = self
            .nodes
            .iter()
            .filter(|n| !n.dead)
            .map(|n| n.last_heard + self.silence)
            .min();
        let retry = self.retries.first().map(|(t, _)| *t);
        match (silent, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends again every failed fetch that is due.
    fn retry_due(&mut self, now: Instant) -> Result<(), RuntimeError> {
        while let Some(&(due, id)) = self.retries.first() {
            if due > now {
                break;
            }
            self.retries.pop_first();
            if let Some(f) = self.fetches.get(&id) {
                let r = f.request;
                self.send(
                    r.to,
                    Message::Fetch {
                        transfer: id,
                        object: r.object.0,
                        from: r.from.0,
                    },
                )?;
            }
        }
        Ok(())
    }

    /// Turns a node's message into an input for the core (or nothing).
    fn input(&mut self, node: u32, m: Message) -> Result<Option<BackendInput>, RuntimeError> {
        match m {
            Message::Done { task, outcome } => {
                let work = self.assigned.remove(&task).map(|(w, _)| w);
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
                self.fetches.remove(&transfer);
                let id = TransferId(transfer);
                self.pending
                    .push_back(BackendInput::Transport(TransportEvent::Arrived(id)));
                Ok(Some(BackendInput::Transport(TransportEvent::Flowing(id))))
            }
            Message::FetchFailed { transfer, reason } => {
                let Some(f) = self.fetches.get_mut(&transfer) else {
                    return Ok(None);
                };
                f.failures += 1;
                // A source whose connection ended is about to be declared dead: try until
                // then. One still connected gets a few tries.
                let source_gone = self.nodes[f.request.from.index()].gone.is_some();
                if !source_gone && f.failures > FETCH_RETRIES {
                    return Err(RuntimeError::Executor(format!(
                        "node {node} could not fetch a copy (transfer {transfer}) in {} tries: \
                         {reason}",
                        f.failures
                    )));
                }
                self.retries
                    .insert((Instant::now() + FETCH_RETRY, transfer));
                Ok(None)
            }
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
                None if value.bytes().len() > MESSAGE_ROOM => {
                    return Err(RuntimeError::Executor(format!(
                        "{}: an inline argument of {} bytes is more than one message carries \
                         ({MESSAGE_ROOM}); put it in an object",
                        execution.task,
                        value.bytes().len()
                    )));
                }
                None => Input::Value(value.bytes().to_vec()),
            });
        }
        self.assigned
            .insert(execution.task.0, (execution.work, execution.node));
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
        self.fetches.insert(
            id.0,
            Fetch {
                request,
                failures: 0,
            },
        );
        self.send(
            request.to,
            Message::Fetch {
                transfer: id.0,
                object: request.object.0,
                from: request.from.0,
            },
        )
    }

    fn put(&mut self, node: NodeId, object: ObjectId, value: &Payload) -> Result<(), RuntimeError> {
        if value.modeled_len() > 0 {
            return Err(RuntimeError::Executor(format!(
                "{object}: a value with modeled bytes cannot be put on a live node"
            )));
        }
        if value.bytes().len() > MESSAGE_ROOM {
            return Err(RuntimeError::Executor(format!(
                "{object}: a put of {} bytes is more than one message carries \
                 ({MESSAGE_ROOM}); make large objects with a task",
                value.bytes().len()
            )));
        }
        self.send(
            node,
            Message::Put {
                object: object.0,
                bytes: value.bytes().to_vec(),
            },
        )
    }

    fn store_op(
        &mut self,
        node: NodeId,
        op: StoreOp,
        object: ObjectId,
    ) -> Result<(), RuntimeError> {
        let object = object.0;
        let m = match op {
            StoreOp::Removed => Message::Remove { object },
            StoreOp::Spilled => Message::Spill { object },
            StoreOp::Restored => Message::Restore { object },
            StoreOp::Unspilled => Message::Unspill { object },
        };
        self.send(node, m)
    }

    fn next_input(&mut self, until: Option<Nanos>) -> Result<Option<BackendInput>, RuntimeError> {
        loop {
            if let Some(i) = self.pending.pop_front() {
                return Ok(Some(i));
            }
            if let Some((node, m)) = self.inbox.pop_front() {
                let Some(state) = self.nodes.get_mut(node as usize) else {
                    continue;
                };
                if state.dead {
                    // Declared dead: whatever it says is no longer its to say.
                    continue;
                }
                state.last_heard = Instant::now();
                if let Some(input) = self.input(node, m)? {
                    return Ok(Some(input));
                }
                continue;
            }
            // What arrived while the driver was busy counts before any silence does.
            self.flush();
            self.wait(Some(Instant::now()))?;
            if !self.inbox.is_empty() {
                continue;
            }
            let now = Instant::now();
            if let Some(lost) = self.declare_silent(now) {
                return Ok(Some(lost));
            }
            self.retry_due(now)?;
            self.flush();
            let until = until.map(|t| self.start + Duration::from_nanos(t));
            let wake = match (until, self.next_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.wait(wake)?;
            if self.inbox.is_empty() && until.is_some_and(|u| Instant::now() >= u) {
                return Ok(None);
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
        let mut left: BTreeSet<usize> = BTreeSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if n.gone.is_none() && !n.dead {
                self.links[i].writer.queue(&Message::Stop);
                left.insert(i);
            }
        }
        let give_up = Instant::now() + Duration::from_secs(10);
        let mut failure = None;
        while !left.is_empty() {
            self.flush();
            if Instant::now() >= give_up {
                failure.get_or_insert("nodes did not report within 10 s".to_string());
                break;
            }
            self.wait(Some(give_up))?;
            while let Some((node, m)) = self.inbox.pop_front() {
                if let Message::Stopped { counters } = m
                    && left.remove(&(node as usize))
                    && let Ok(mut r) = self.report.lock()
                {
                    r.nodes.insert(node, counters);
                }
            }
            for i in left.clone() {
                if let Some(why) = &self.nodes[i].gone {
                    failure.get_or_insert(format!("node {i} left before its report: {why}"));
                    left.remove(&i);
                }
            }
        }
        for l in &mut self.links {
            l.writer.shutdown();
        }
        failure.map_or(Ok(()), |f| Err(RuntimeError::Executor(f)))
    }
}

impl Drop for LiveBackend {
    fn drop(&mut self) {
        for l in &mut self.links {
            l.writer.shutdown();
        }
    }
}

/// Admits every node and waits for each to load the run; the connections by node id.
async fn setup(
    listener: std::net::TcpListener,
    options: &HeadOptions,
) -> Result<Vec<Connection<TcpStream>>, HeadError> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut roster = Roster::new(options.nodes, options.heartbeat_ns).reserve(options.reserved);
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
