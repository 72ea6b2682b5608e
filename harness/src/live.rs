//! Live runs: this process is the head (the driver program, the core, the policy), and node
//! processes run the code on real bytes and move them over TCP. The nodes started here are
//! children of this process, killed if it ends first (the kernel's parent-death signal) and
//! killed and reaped when the run ends, fails or is interrupted; others may join from other
//! hosts with `cohort node --head HOST:PORT`.

use crate::run::{RunOutput, RunSpec, StageOfGroup};
use anyhow::{Context, Result, bail};
use cohort_live::head::{HeadOptions, HeadReport, LiveBackend};
use cohort_live::message::NodeCounters;
use cohort_live::node::{LoadedRun, NodeOptions, die_with_parent, run_node};
use cohort_runtime::FaultKind;
use cohort_runtime::{Clock, Cluster, ClusterConfig, Nanos};
use cohort_workloads::{LiveSetup, cluster_config, drive_observed, registry_live};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a live run is deployed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Live {
    /// The address nodes join the head at.
    pub listen: String,
    /// Node processes to start on this machine (ids 0 to `spawn - 1`).
    pub spawn: u32,
    /// The rate each node's data plane sends at, bytes per second (`None`: unlimited).
    pub nic_rate: Option<u64>,
    /// How long to wait for every node to join.
    pub join_timeout: Duration,
}

/// Scratch directories to remove if the process is interrupted (see [`remove_scratch`]).
static SCRATCH: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Removes every scratch directory of a live run in progress: for an interrupt, which ends
/// the process without unwinding.
pub fn remove_scratch() {
    if let Ok(dirs) = SCRATCH.lock() {
        for d in dirs.iter() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// The directory the nodes started here make their disks in: removed with everything in it
/// when dropped (a killed node's disk included), or by [`remove_scratch`].
struct Scratch(std::path::PathBuf);

/// What a scratch directory's name starts with, before the head's process id.
const SCRATCH_PREFIX: &str = "cohort-live-";

/// Removes the scratch directories in `parent` of heads that are gone: a head killed by
/// SIGKILL cannot remove its own (its nodes die with it).
fn remove_stale_scratch(parent: &std::path::Path) {
    if !std::path::Path::new("/proc/self").exists() {
        return; // Without /proc, whether a head is alive cannot be told.
    }
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(SCRATCH_PREFIX)) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Scratch {
    fn new() -> Result<Scratch> {
        let parent = std::env::temp_dir();
        remove_stale_scratch(&parent);
        let dir = parent.join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir)
            .with_context(|| format!("making the nodes' scratch directory {}", dir.display()))?;
        if let Ok(mut dirs) = SCRATCH.lock() {
            dirs.push(dir.clone());
        }
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        if let Ok(mut dirs) = SCRATCH.lock() {
            dirs.retain(|d| d != &self.0);
        }
    }
}

/// The node processes started by this head: killed and reaped when dropped.
struct Children(Vec<(u32, Child)>);

impl Children {
    /// Starts `count` nodes (ids 0..count) of this executable, joining the head at `head`.
    fn spawn(count: u32, head: &str, data_host: &str, scratch: &Scratch) -> Result<Children> {
        let exe = std::env::current_exe().context("finding the cohort executable")?;
        let mut children = Children(Vec::new());
        for node in 0..count {
            let child = Command::new(&exe)
                .args(["node", "--head", head, "--node", &node.to_string()])
                .args(["--data", &format!("{data_host}:0")])
                .args(["--parent", &std::process::id().to_string()])
                .arg("--spill-dir")
                .arg(&scratch.0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .with_context(|| format!("starting node {node} ({})", exe.display()))?;
            children.0.push((node, child));
        }
        Ok(children)
    }

    /// Waits up to `grace` for the nodes to exit on their own, then kills the rest; the
    /// nodes that did not exit cleanly, with how they ended.
    fn finish(&mut self, grace: Duration, gone: &BTreeSet<u32>) -> Vec<String> {
        let give_up = Instant::now() + grace;
        let mut bad = Vec::new();
        for (node, child) in &mut self.0 {
            if gone.contains(node) {
                let _ = child.kill();
                let _ = child.wait();
                continue;
            }
            let status = loop {
                match child.try_wait() {
                    Ok(Some(s)) => break Some(s),
                    Ok(None) if Instant::now() < give_up => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break None;
                    }
                }
            };
            match status {
                Some(s) if s.success() => {}
                Some(s) => bad.push(format!("node {node} ended with {s}")),
                None => bad.push(format!("node {node} did not exit and was killed")),
            }
        }
        self.0.clear();
        bad
    }

    /// The process id of node `node`, if this head started it.
    fn pid(&self, node: u32) -> Option<u32> {
        self.0.iter().find(|(n, _)| *n == node).map(|(_, c)| c.id())
    }

    /// The nodes that have already exited, with how (to explain a failed start).
    fn exited(&mut self) -> Vec<String> {
        self.0
            .iter_mut()
            .filter_map(|(node, c)| match c.try_wait() {
                Ok(Some(s)) => Some(format!("node {node} exited with {s}")),
                _ => None,
            })
            .collect()
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Checks that a workload can run live, before anything starts: its faults must be kills
/// (played as SIGKILL) of nodes this head starts, without a restart.
fn check(spec: &RunSpec, live: &Live) -> Result<()> {
    let w = &spec.resolved;
    if w.model.delayed_ack > 0 {
        bail!(
            "cluster.delayed_ack models Ray v0.6's forwarding stalls: a live run's nodes forward \
             over real sockets (set it to \"none\", or run `{}` on the in-process cluster)",
            w.name
        );
    }
    if w.spec.network.inline_max.is_some() {
        bail!(
            "cluster.inline_objects models current Ray's small objects, which skip the object \
             stores: a live run's nodes move every object over their sockets (set it to \
             \"none\", or run `{}` on the in-process cluster)",
            w.name
        );
    }
    for (i, f) in w.spec.faults.faults().iter().enumerate() {
        let FaultKind::Kill { node } = f.kind else {
            bail!(
                "fault {}: live runs play only `kill` faults (a {} is a model's): run `{}` on \
                 the in-process cluster",
                i + 1,
                f.kind.name(),
                w.name
            );
        };
        if f.until.is_some() {
            bail!(
                "fault {}: live runs do not restart a killed node yet (drop its `until`)",
                i + 1
            );
        }
        if node.0 >= live.spawn {
            bail!(
                "fault {}: node {} is not started by this head (--spawn {}), so it cannot be \
                 killed",
                i + 1,
                node.0,
                live.spawn
            );
        }
    }
    Ok(())
}

/// A live cluster up and running: the cluster over its backend, the node processes this head
/// started, and where they keep their disks.
pub struct Session {
    /// The cluster, its code running on the nodes.
    pub cluster: Cluster,
    /// What the nodes report at the end.
    report: Arc<Mutex<HeadReport>>,
    /// When the head's clock reads 0.
    started: Instant,
    children: Children,
    // Dropped after the children (fields drop in order).
    _scratch: Scratch,
}

/// Starts a live cluster of `w`'s nodes: the head listens per `live`, starts `live.spawn`
/// node processes, waits for every node to join and load the run from `setup`, and drives
/// the core with `policy`.
pub fn start(
    w: &cohort_workloads::Resolved,
    setup: &LiveSetup,
    live: &Live,
    policy: Box<dyn cohort_runtime::policy::Policy>,
) -> Result<Session> {
    let nodes = w.spec.nodes.len() as u32;
    if live.spawn > nodes {
        bail!("--spawn {}: the workload has {nodes} node(s)", live.spawn);
    }
    let listener = std::net::TcpListener::bind(&live.listen)
        .with_context(|| format!("the head cannot listen on {}", live.listen))?;
    let addr = listener.local_addr()?;
    let (head, data_host) = if addr.ip().is_unspecified() {
        (format!("127.0.0.1:{}", addr.port()), "0.0.0.0")
    } else {
        (addr.to_string(), "127.0.0.1")
    };
    if live.spawn < nodes {
        eprintln!(
            "waiting for {} node(s) to join at {addr} (cohort node --head HOST:{})",
            nodes - live.spawn,
            addr.port()
        );
    }
    let scratch = Scratch::new()?;
    let mut children = Children::spawn(live.spawn, &head, data_host, &scratch)?;
    let backend = match LiveBackend::start(
        listener,
        HeadOptions {
            nodes,
            heartbeat_ns: w.spec.recovery.heartbeat_period,
            missed_heartbeats: w.spec.recovery.missed_heartbeats,
            join_timeout: live.join_timeout,
            workload: setup.to_bytes(),
            reserved: live.spawn,
        },
    ) {
        Ok(b) => b,
        Err(e) => {
            let exited = children.exited();
            if exited.is_empty() {
                return Err(e).context("starting the live cluster");
            }
            return Err(e).context(format!("starting the live cluster ({})", exited.join("; ")));
        }
    };
    let report = backend.report();
    let started = backend.started();
    let cluster = Cluster::with_backend(
        w.spec.clone(),
        registry_live(w, setup.seed).context("registering the workload's task kinds")?,
        policy,
        ClusterConfig {
            seed: setup.seed,
            // The driver's submissions cost what they really cost here: no modeled cost.
            submit_cost: 0,
            ..cluster_config(w, Clock::Virtual)
        },
        Box::new(backend),
    )?;
    Ok(Session {
        cluster,
        report,
        started,
        children,
        _scratch: scratch,
    })
}

impl Session {
    /// The process ids of the node processes this head started, by node id.
    pub fn node_pids(&self) -> Vec<u32> {
        self.children.0.iter().map(|(_, c)| c.id()).collect()
    }

    /// Stops the nodes and reaps the processes; the nodes' counters. Nodes in `gone` (killed
    /// on purpose), and nodes the head declared dead, are not expected to end cleanly.
    pub fn finish(&mut self, gone: BTreeSet<u32>) -> Result<BTreeMap<u32, NodeCounters>> {
        let stopped = self.cluster.stop();
        let mut gone = gone;
        if let Ok(r) = self.report.lock() {
            gone.extend(r.lost.keys());
        }
        let unclean = self.children.finish(Duration::from_secs(5), &gone);
        stopped.context("stopping the nodes")?;
        if !unclean.is_empty() {
            bail!("the run finished, but {}", unclean.join("; "));
        }
        Ok(self
            .report
            .lock()
            .map(|r| r.nodes.clone())
            .unwrap_or_default())
    }
}

/// Runs `spec` live; `progress` is told the head's clock after each iteration.
pub fn execute(spec: &RunSpec, live: &Live, progress: &mut dyn FnMut(Nanos)) -> Result<RunOutput> {
    let started = Instant::now();
    let cpu_at_start = cohort_live::process_cpu_ns();
    let w = &spec.resolved;
    check(spec, live)?;
    let policy = spec
        .policy
        .create(&spec.policy_config, spec.seed)
        .with_context(|| format!("creating policy `{}`", spec.policy.name()))?;
    let setup = LiveSetup {
        name: spec.workload_path.clone(),
        text: spec.workload_source.clone(),
        sets: spec.all_sets(),
        seed: spec.seed,
        nic_rate: live.nic_rate,
    };
    let mut session = start(w, &setup, live, policy)?;
    let killer = Killer::start(spec, &session.children, session.started);
    let mut stages = StageOfGroup::new();
    let driven = drive_observed(
        w,
        &mut session.cluster,
        &mut |c: &Cluster| progress(c.now()),
        &mut |b| {
            stages.insert(b.group.0, (b.stage.to_string(), b.iteration));
        },
    );
    let killed = killer.finish();
    let finished = session.finish(killed);
    let cluster = &mut session.cluster;
    let run = driven.with_context(|| {
        format!(
            "live run {} failed at {:.3} s",
            spec.id(),
            cluster.now() as f64 / 1e9
        )
    })?;
    let nodes = finished?;
    Ok(RunOutput {
        trace: cluster.take_trace(),
        counters: cluster.counters(),
        end: cluster.now(),
        iterations: run.iterations,
        datapoints_expected: run.datapoints_expected,
        unfinished: run.unfinished,
        first_failure: run.first_failure,
        wall: started.elapsed(),
        nodes,
        head_cpu_ns: Some(cohort_live::process_cpu_ns().saturating_sub(cpu_at_start)),
        host_work: None,
        actor_totals: run.actor_totals.iter().map(|(a, t)| (a.0, *t)).collect(),
        hints: cluster.hint_agreement(),
        replay: None,
        stages,
    })
}

/// Plays the kills of a run's fault script for real: at each kill's time of the head's
/// clock, SIGKILL to that node's process. Stopped (with the kills not yet due left undone)
/// when the run ends.
struct Killer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<BTreeSet<u32>>>,
}

impl Killer {
    fn start(spec: &RunSpec, children: &Children, zero: Instant) -> Killer {
        let mut kills: Vec<(Instant, u32, u32)> = spec
            .resolved
            .spec
            .faults
            .faults()
            .iter()
            .filter_map(|f| match f.kind {
                FaultKind::Kill { node } => children
                    .pid(node.0)
                    .map(|pid| (zero + Duration::from_nanos(f.at), node.0, pid)),
                _ => None,
            })
            .collect();
        if kills.is_empty() {
            return Killer {
                stop: None,
                thread: None,
            };
        }
        kills.sort_unstable();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut killed = BTreeSet::new();
            for (at, node, pid) in kills {
                let wait = at.saturating_duration_since(Instant::now());
                match stopped.recv_timeout(wait) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        if cohort_live::node::kill(pid).is_ok() {
                            killed.insert(node);
                        }
                    }
                    _ => break,
                }
            }
            killed
        });
        Killer {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Stops playing; the nodes killed.
    fn finish(mut self) -> BTreeSet<u32> {
        self.stop = None;
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

/// `cohort node`: joins the head at `head` and runs until the run ends.
pub fn node(
    head: String,
    node: Option<u32>,
    data: String,
    connect_timeout: Duration,
    parent: Option<u32>,
    spill_parent: std::path::PathBuf,
) -> Result<NodeCounters> {
    if let Some(p) = parent
        && !die_with_parent(p)
    {
        bail!("the head that started this node (process {p}) has already ended");
    }
    let options = NodeOptions {
        head,
        node,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        store: u64::MAX,
        data_bind: data,
        chunk: cohort_live::data::CHUNK,
        connect_timeout,
        spill_parent,
    };
    let counters = run_node(&options, &|bytes, id| {
        let (setup, w, registry) = LiveSetup::load(bytes)?;
        let spec = w
            .spec
            .nodes
            .get(id as usize)
            .ok_or_else(|| format!("the workload has no node {id}"))?;
        Ok(LoadedRun {
            registry,
            cpus: spec.cpus,
            store: spec.store_capacity,
            rate: setup.nic_rate,
        })
    })?;
    Ok(counters)
}

/// Each node's counters as `nodes.csv` rows.
pub fn node_rows(nodes: &BTreeMap<u32, NodeCounters>) -> Vec<cohort_schema::NodeRow> {
    nodes
        .iter()
        .map(|(&node, c)| cohort_schema::NodeRow {
            node,
            data_sent: c.data_sent,
            data_received: c.data_received,
            objects_sent: c.objects_sent,
            objects_received: c.objects_received,
            control_sent: c.control_sent,
            control_received: c.control_received,
            executions: c.executions,
            store_peak: c.store_peak,
            spilled_bytes: c.spilled,
            restored_bytes: c.restored,
            cpu_ns: c.cpu_ns,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_of_heads_that_are_gone_is_removed_and_a_live_ones_kept() {
        let parent = std::env::temp_dir().join(format!("cohort-stale-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&parent);
        // No process has an id above the kernel's limit (at most 2^22).
        let gone = parent.join(format!("{SCRATCH_PREFIX}{}", 1u32 << 30));
        let alive = parent.join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
        let other = parent.join(format!("{SCRATCH_PREFIX}x"));
        for d in [&gone, &alive, &other] {
            std::fs::create_dir_all(d.join("node-1")).unwrap();
        }
        remove_stale_scratch(&parent);
        assert!(!gone.exists());
        assert!(alive.exists() && other.exists());
        std::fs::remove_dir_all(&parent).unwrap();
    }
}
