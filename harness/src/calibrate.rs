//! `cohort calibrate`: measures what this machine's live runtime costs and writes it as a cost
//! profile (`cohort_workloads::Profile`) that `--profile` applies to any workload.
//!
//! On a live cluster of node processes (the head pins each piece of work to a node), it
//! measures, each `samples` times:
//! - the driver's cost per submission (wall time of a burst of submissions, per submission);
//! - each class of task code at several sizes (generate, copy, sum), every node running one
//!   at once (as in a run, sharing the machine), from the trace: the time from the head
//!   handing a task out to its completion arriving, so the fixed part includes the dispatch
//!   round trip; a copy and a sum read an object made long before (see [`pool_bytes`]);
//! - transfers from one node to another at several sizes, from request to arrival;
//! - what waking an idle node costs: the same smallest task, every node running one at once
//!   after the whole cluster idled for [`IDLE_TIMES`], less its cost back to back;
//! - what a transfer's copies cost the host's cores: the node processes' CPU time (the
//!   kernel's per-thread run time) for 16 MiB made on node 0 and read on node 1, less the
//!   same made and read on node 0, per byte moved;
//! - how much of a transfer's set-up is work of the host's cores: the same, the head's CPU
//!   time counted too, for 8-byte objects read [`SET_UP_BATCH`] at a time, per transfer
//!   (about 50 µs of a latency of 110–130 µs here: the rest is waiting), and as a check, the
//!   same from the batches' wall time (what the remote batches took beyond the local ones,
//!   times the host's cores, per transfer: near the CPU time's if the set-up's work is what
//!   the cores share; 51 µs against 45 µs in one calibration here);
//! - the head's work per task: the nodes' and the head's CPU time per task in those local
//!   batches, less the fixed cost the model already charges such a task as work (about
//!   26 µs of 76 µs here: a task's fixed cost holds the head's time as part of a round trip,
//!   not the cores the head takes from other work while many tasks run);
//! - what a node's memory costs the first time its store reaches it: the largest generate
//!   and copy tasks on memory new to each node's store, less the same tasks warm, per byte;
//! - how far the same work strays from its median: a log-normal spread (`jitter_spread`)
//!   fitted to the 90th percentile of every task sample over its size's median, and one
//!   (`latency_jitter_spread`) to the 8-byte transfers', net of waking.
//!
//! Each session first writes and frees the largest objects once on every node (timed only
//! for the last item above), and every sample frees its objects when done with them: a node's store reuses its pages
//! from object to object (`cohort_live::shm::arena`), as it does through a run, so the
//! samples pay for warm pages, not for the kernel's fresh ones (which on the VM this was
//! built on cost ~0.4 ns a byte to zero, and up to three times that for memory new to the
//! VM).
//!
//! It does so in `--sessions` sessions ([`DEFAULT_SESSIONS`]), each a fresh cluster of node
//! processes, and pools their samples: how the host's scheduler happens to place a session's
//! threads on its cores moves some of its numbers as a whole (a small transfer's latency was
//! 70 µs in one session, 155 µs in the next, each tight within itself; the smallest task's
//! median, 60 µs in one and 150 µs in another), so one session alone would not repeat. The fixed costs (the 8-byte
//! tasks and transfers, submissions, wake-ups) are measured in every session, as they move
//! the most from session to session and cost little; the larger sizes and the copies in
//! `--full-sessions` of them ([`DEFAULT_FULL_SESSIONS`]: by default, all), spread evenly
//! (the first included).
//!
//! The fixed cost (or the latency) is the median at the smallest size (8 bytes); the rate is
//! the least-squares line through the medians at every size with that intercept (a free
//! intercept swings with the noise at the large sizes, and two calibrations would disagree on
//! small objects).
//!
//! Each class's medians are also written as a cost curve by size (`cost_by_output_size` or
//! `cost_by_input_size`, linear between the sizes), commented out, with how far the line is
//! from each median. To use it, uncomment it and remove the class's `fixed` and rate. It is
//! not the default, because the line predicted the README's comparison (3 nodes) better:
//! - While the copies read the object just made (cache-warm), a copy cost about twice as
//!   much a byte at 16 MiB as at 1 MiB, and the line priced a 1 MiB copy at 1.8 times its
//!   median. But in runs, group's maps took about 1.4 times those medians, and the line's
//!   overpricing covered that: re-simulating seven rounds with their own calibrations' curves
//!   put group's mean at 4 MiB 16–33 % low, where the line was 15 % low to 5 % high (on 4
//!   nodes, and on 2 nodes of 1 CPU, in one round each, the curve did better).
//! - Read from older objects (see [`pool_bytes`]), the medians lie closer to a line (a 4 MiB
//!   copy at 892–1,084 µs, not 723 µs), and in three rounds the curve put group's mean at
//!   4 MiB 12–19 % low, the line 1–10 % low; every other point moved by 2 % at most.
//!
//! A transfer is measured as the model prices it, net of waking: the simulator charges a
//! transfer its latency plus the wake-up of whichever end had idled (`cluster.wake_up`, by
//! how long), and in the calibration the reading node has idled while the object was made
//! (~100 µs or more). Each transfer's time is taken less the wake-up this calibration
//! measured for its two ends' idle times (found in the trace, as the model counts them), so
//! the model given the profile gives the measured time back, and a transfer between busy
//! nodes is not charged a wake-up twice. The comment gives the times before and after.
//!
//! Every number is written with the measurements it came from (median, p10 and p90 per
//! size, the samples, and the range and quartiles of the sessions' own medians) in a
//! comment, and the profile records the machine and the commit. The sessions' medians show
//! whether the host held steady: on the 2-core VM this was built on, spells of a few seconds
//! to minutes in which every small cost doubled came and went (other tenants of the host),
//! and a calibration that meets one predicts small objects slower.

use crate::live::{self, Live};
use anyhow::{Context, Result, bail};
use cohort_runtime::model::WakeUp;
use cohort_runtime::policy::{Hints, NodeId, Placement, PlacementView, Policy};
use cohort_runtime::{Nanos, Payload, Task, TaskArg};
use cohort_schema::quantile;
use cohort_workloads::{LiveSetup, Workload};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// The sizes each class is measured at, in bytes: the smallest gives the fixed cost, the
/// others the rate.
const SIZES: [u64; 5] = [8, 64 << 10, 1 << 20, 4 << 20, 16 << 20];

/// The idle times a wake-up is measured after (the steps of the profile's `wake_up`): on
/// this kind of 2-core VM the cost climbs from tens of microseconds after 100 us of
/// idleness to hundreds after 10 ms. The last is the streaming workload's period, the idling
/// between its batches (after 100 ms: 150 µs in one calibration, against 128 µs after
/// 30 ms, which the model charged for any longer idling before).
const IDLE_TIMES: [u64; 7] = [
    100_000,
    300_000,
    1_000_000,
    3_000_000,
    10_000_000,
    30_000_000,
    100_000_000,
];

/// Places each task on node `hints.index % nodes`: calibration decides where work runs.
struct Pinned(u32);

impl Policy for Pinned {
    fn name(&self) -> &str {
        "pinned"
    }

    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        Placement::Node(NodeId(view.hints.index % self.0))
    }
}

/// What `cohort calibrate` was asked.
#[derive(Clone, Debug)]
pub struct Request {
    /// Node processes (at least 2: transfers go from one to another).
    pub nodes: u32,
    /// Measurements per size.
    pub samples: usize,
    /// Sessions (fresh clusters) to pool (at least 1).
    pub sessions: usize,
    /// How many of them also measure the larger sizes and the copies (at least 1; all of
    /// them if there are fewer).
    pub full_sessions: usize,
    /// The NIC rate the nodes emulate (`None`: as fast as the sockets go).
    pub nic_rate: Option<u64>,
}

/// The calibration workload: a kind per class and size (the live code prices by class).
fn workload(nodes: u32) -> String {
    let mut t = format!(
        "name = \"calibration\"\n\n[cluster]\nnodes = {nodes}\ncpus = 1\nstore = \"1GiB\"\n\
         nic_bandwidth = \"100Gbit/s\"\nlatency = \"0us\"\n\n\
         [tasks.noop]\noutput_size = \"8B\"\n\n[tasks.copy]\noutput_size = \"input\"\n\n\
         [tasks.sum]\noutput_size = \"32B\"\n\n[tasks.read]\noutput_size = \"32B\"\n\n\
         [tasks.wake]\noutput_size = \"8B\"\n\n"
    );
    for s in SIZES {
        let _ = write!(t, "[tasks.gen_{s}]\noutput_size = \"{s}B\"\n\n");
        let _ = write!(t, "[tasks.src_{s}]\noutput_size = \"{s}B\"\n\n");
    }
    t.push_str(
        "[[stage]]\nname = \"data\"\nop = \"broadcast\"\ntask = \"noop\"\nwidth = 1\n\n\
         [schedule]\nperiod = \"1s\"\nmode = \"fixed-delay\"\nduration = \"1s\"\n",
    );
    t
}

/// The batch header the workload's task code expects.
fn header() -> TaskArg {
    TaskArg::Value(Payload::from_i64s(&[0, 0]))
}

/// Hints that pin work to node `node`.
fn on(node: u32) -> Hints {
    Hints {
        index: node,
        ..Hints::NONE
    }
}

/// Median, p10 and p90 of `v` (nearest rank), ns.
fn spread(v: &mut [u64]) -> (u64, u64, u64) {
    v.sort_unstable();
    (
        quantile(v, 0.5).unwrap_or(0),
        quantile(v, 0.1).unwrap_or(0),
        quantile(v, 0.9).unwrap_or(0),
    )
}

/// The line `y = a + b x` through `points` (sorted by `x`) with `a` the smallest point's `y`
/// and `b` by least squares: `(a, b)`.
fn fit(points: &[(f64, f64)]) -> (f64, f64) {
    let Some(&(_, a)) = points.first() else {
        return (0.0, 0.0);
    };
    let sxx: f64 = points.iter().map(|p| p.0 * p.0).sum();
    let sxy: f64 = points.iter().map(|p| p.0 * (p.1 - a)).sum();
    let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (a, b.max(0.0))
}

/// A duration for the profile, in microseconds.
fn us(ns: f64) -> String {
    format!("{:.3}us", ns.max(0.0) / 1e3)
}

/// A rate for the profile from a cost per byte in ns, or `"none"` if there is none to see.
fn rate(ns_per_byte: f64) -> String {
    if ns_per_byte <= 0.0 {
        "none".to_string()
    } else {
        format!("{:.1}MB/s", 1e3 / ns_per_byte)
    }
}

/// One measured quantity: per size, the durations of its samples, each with the session
/// that measured it.
#[derive(Default)]
struct Series {
    by_size: BTreeMap<u64, Vec<(usize, u64)>>,
}

impl Series {
    fn add(&mut self, session: usize, size: u64, ns: u64) {
        self.by_size.entry(size).or_default().push((session, ns));
    }

    /// The fitted `(fixed ns, ns per byte)` and a comment giving the measurements.
    fn line(&self) -> ((f64, f64), String) {
        let (points, comment) = self.medians(|size| format!("{size} B"));
        (fit(&points), comment)
    }

    /// The fitted `(fixed ns, ns per byte)`, a comment giving the measurements, and the
    /// medians as a cost curve by `by` (input or output) size, commented out, after how far
    /// the line is from each median.
    fn line_and_curve(&self, by: &str) -> ((f64, f64), String, String) {
        let (points, comment) = self.medians(|size| format!("{size} B"));
        let (a, b) = fit(&points);
        let off: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:+.0} %", ((a + b * x) / y.max(1.0) - 1.0) * 100.0))
            .collect();
        let points: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{}B:{}", x as u64, us(y.round())))
            .collect();
        let rate_key = if by == "input" {
            "input_rate"
        } else {
            "output_rate"
        };
        let curve = format!(
            "# The line is off its medians by {} at these sizes. The medians as a curve, linear\n\
             # between them (to price the class by it, uncomment it and remove `fixed` and\n\
             # `{rate_key}`; the README's calibration section says when it predicts better):\n\
             # cost_by_{by}_size = \"{}\"",
            off.join(", "),
            points.join(", ")
        );
        ((a, b), comment, curve)
    }

    /// Every sample over the median of its size (all sessions pooled): the spread of the
    /// samples around the median, whatever their size.
    fn ratios(&self) -> Vec<f64> {
        let mut out = Vec::new();
        for samples in self.by_size.values() {
            let mut v: Vec<u64> = samples.iter().map(|&(_, ns)| ns).collect();
            let median = spread(&mut v).0.max(1) as f64;
            out.extend(v.iter().map(|&ns| ns as f64 / median));
        }
        out
    }

    /// The median per size (of the samples of every session, pooled), and a comment giving
    /// the measurements, each size as `label` writes it. With more than one session, the
    /// comment also gives how each session's own median varied: a host that was unsteady
    /// during the calibration shows as quartiles far apart.
    fn medians(&self, label: impl Fn(u64) -> String) -> (Vec<(f64, f64)>, String) {
        let mut comment = String::new();
        let mut points = Vec::new();
        for (size, samples) in &self.by_size {
            let mut v: Vec<u64> = samples.iter().map(|&(_, ns)| ns).collect();
            let (m, p10, p90) = spread(&mut v);
            points.push((*size as f64, m as f64));
            let _ = write!(
                comment,
                "\n#   {}: median {} (p10 {}, p90 {}), {} samples",
                label(*size),
                us(m as f64),
                us(p10 as f64),
                us(p90 as f64),
                v.len()
            );
            let mut by_session: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
            for &(session, ns) in samples {
                by_session.entry(session).or_default().push(ns);
            }
            if by_session.len() > 1 {
                let mut own: Vec<u64> = by_session.values_mut().map(|v| spread(v).0).collect();
                own.sort_unstable();
                let q = |p: f64| us(quantile(&own, p).unwrap_or(0) as f64);
                let _ = write!(
                    comment,
                    "; per session ({}): medians {} to {}, quartiles {} and {}",
                    own.len(),
                    q(0.0),
                    q(1.0),
                    q(0.25),
                    q(0.75)
                );
            }
        }
        (points, comment)
    }
}

/// Runs the measurements and returns the profile's text.
pub fn calibrate(request: &Request, progress: &mut dyn FnMut(&str)) -> Result<String> {
    if request.nodes < 2 {
        bail!(
            "--nodes {}: calibration needs at least 2 nodes",
            request.nodes
        );
    }
    if request.samples == 0 {
        bail!("--samples 0: every number needs at least one measurement");
    }
    if request.sessions == 0 {
        bail!("--sessions 0: a calibration needs at least one session");
    }
    if request.full_sessions == 0 {
        bail!("--full-sessions 0: the larger sizes need at least one session");
    }
    let text = workload(request.nodes);
    let w = Workload::parse("calibration.toml", &text)?;
    let resolved = w.resolve(&BTreeMap::new())?;
    let setup = LiveSetup {
        name: "calibration.toml".to_string(),
        text: text.clone(),
        sets: BTreeMap::new(),
        seed: 1,
        nic_rate: request.nic_rate,
    };
    let live = Live {
        listen: "127.0.0.1:0".to_string(),
        spawn: request.nodes,
        nic_rate: request.nic_rate,
        join_timeout: Duration::from_secs(30),
    };
    let mut m = Measured::default();
    for index in 0..request.sessions {
        progress(&format!("session {} of {}", index + 1, request.sessions));
        let full = is_full(index, request.sessions, request.full_sessions);
        let mut session = live::start(&resolved, &setup, &live, Box::new(Pinned(request.nodes)))?;
        let pids = session.node_pids();
        m.session = index;
        let measured = measure(&mut session.cluster, &pids, request, full, &mut m, progress);
        let finished = session.finish(Default::default());
        measured?;
        finished?;
    }
    profile(request, &mut m)
}

/// How many sessions (fresh clusters) a calibration pools unless asked otherwise.
pub const DEFAULT_SESSIONS: usize = 24;

/// How many sessions measure every size and the copies unless asked otherwise (all of them
/// if there are fewer); the others measure only the fixed costs. The rates move from
/// session to session too (a 16 MiB copy's per-session medians spread 27 % between their
/// quartiles in one calibration): with 6 such sessions, three calibrations minutes apart
/// predicted the streaming means 12–13 % apart from 1 MiB up; with 24, 1–5 %.
pub const DEFAULT_FULL_SESSIONS: usize = 24;

/// Whether session `index` (from 0) of `sessions` measures every size: `full` of them (or
/// all), spread evenly, the first among them.
fn is_full(index: usize, sessions: usize, full: usize) -> bool {
    let full = full.min(sessions);
    (index * full) % sessions < full
}

/// The samples of every session so far.
#[derive(Default)]
struct Measured {
    /// The session whose samples are being added (from 0).
    session: usize,
    /// Per submission, ns, one per burst.
    submit: Vec<u64>,
    generate: Series,
    /// The smallest task after the cluster idled, by idle time.
    waking: Series,
    copying: Series,
    summing: Series,
    /// The largest generate and copy tasks reaching memory new to their node's store, after
    /// two rounds of the same (the store's warm-up, full sessions only).
    cold_generate: Series,
    cold_copying: Series,
    /// Transfers, taken net of waking once its cost is known.
    moving: Vec<Moved>,
    /// Per full session: the nodes' CPU time for the local pairs, for the remote ones, and
    /// the bytes the remote ones moved.
    copies: Vec<(u64, u64, u64)>,
    /// Per session: the nodes' and the head's CPU time for the smallest local pairs, for the
    /// remote ones, and how many remote ones there were.
    set_ups: Vec<(u64, u64, u64)>,
    /// Per session: the wall time of the smallest local pairs' reads, of the remote ones',
    /// and how many remote ones there were.
    set_up_walls: Vec<(u64, u64, u64)>,
    /// Per session: the nodes' and the head's CPU time for the smallest local pairs' batches
    /// alone, and how many tasks they ran.
    batch_cpu: Vec<(u64, u64)>,
}

/// One transfer measured: request to arrival, and how long its ends had idled then.
#[derive(Clone, Copy, Debug)]
struct Moved {
    session: usize,
    bytes: u64,
    ns: u64,
    sender_idle: Nanos,
    receiver_idle: Nanos,
}

/// Rounds of the largest generate and copy tasks that warm a session's stores up; the last
/// is timed (see [`Measured::cold_generate`]).
const WARM_ROUNDS: usize = 3;

/// How long the copies' measurement waits after dropping a pair's objects, for the nodes
/// to free them (on threads of their own) before their CPU time is read.
const FREE_SETTLE: Nanos = 20_000_000;

/// The object size a transfer's copies are measured at.
const COPY_SIZE: u64 = 16 << 20;

/// Transfers a set-up's work is measured over at once (see [`cpu_of_pairs`]).
const SET_UP_BATCH: usize = 32;

/// How much older data of each node a copy or a sum reads past, at least (see
/// [`pool_bytes`]): half again this machine's 32 MiB last-level cache.
const POOL_BYTES: u64 = 48 << 20;

/// The most objects of one size a node's pool holds (the smallest sizes would otherwise need
/// millions to reach [`POOL_BYTES`]; their cost is their fixed part either way).
const MAX_POOL: u64 = 48;

/// How much older data of each node a copy or a sum reads past: so much that the host's
/// last-level cache no longer holds its argument, as in a run, where a task reads an object
/// made by others, or long before (the broadcast's data), while other work passed through
/// the caches. Reading the object just made instead, as this calibration first did, gave a
/// 4 MiB copy 723 µs where group's maps took 1.1–1.5 ms (for one core) in runs, while at
/// 16 MiB, which no cache holds, the two agreed. [`POOL_BYTES`], or half again the cache
/// the kernel reports, if larger, up to half the calibration's 1 GiB stores (a pool, the
/// sample's new object and its copy must fit).
fn pool_bytes() -> u64 {
    let llc = std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cache/index3/size")
        .ok()
        .and_then(|t| t.trim().strip_suffix('K')?.parse::<u64>().ok())
        .map_or(0, |k| k << 10);
    POOL_BYTES.max(llc + llc / 2).min(512 << 20)
}

/// CPU time the processes `pids` have run so far, ns: the sum over their threads of the
/// first field of `/proc/PID/task/TID/schedstat` (time on a CPU, in ns).
fn cpu_ns(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_dir(format!("/proc/{pid}/task")).ok())
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Measures on the cluster `c`, adding the samples to `m`: every size and the copies if
/// `full`, else only the smallest size (the fixed costs), submissions and wake-ups.
fn measure(
    c: &mut cohort_runtime::Cluster,
    pids: &[u32],
    request: &Request,
    full: bool,
    m: &mut Measured,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    let k = request.samples;
    let f = |name: &str, c: &cohort_runtime::Cluster| c.function(name);
    let noop = f("noop", c)?;
    let copy = f("copy", c)?;
    let sum = f("sum", c)?;
    let read = f("read", c)?;

    // The nodes' stores reuse their pages from object to object (see
    // `cohort_live::shm::arena`), as they do through a run once it has warmed up: write and
    // free the largest objects once on every node, out of the record, so that the samples
    // find warm pages rather than the kernel's fresh ones.
    let sizes = if full { &SIZES[..] } else { &SIZES[..1] };
    let largest = sizes[sizes.len() - 1];
    // Objects are held until the last round, so each round's reach new memory of the store;
    // the last round's are timed, when the processes' own heaps (which the tasks' code
    // allocates its output in before the store copies it) have warmed up.
    let warm = f(&format!("gen_{largest}"), c)?;
    let mut held = Vec::new();
    for round in 0..WARM_ROUNDS {
        if round + 1 == WARM_ROUNDS {
            c.run_until_idle()?;
            c.take_trace();
        }
        for n in 0..request.nodes {
            let data = run(c, Task::new(warm).arg(header()).hints(on(n)))?;
            held.push(run(
                c,
                Task::new(copy).arg(&data).arg(header()).hints(on(n)),
            )?);
            held.push(data);
        }
    }
    drop(held);
    c.run_until_idle()?;
    let first = c.take_trace();
    if full {
        for t in &first.tasks {
            let ns = t.finished.saturating_sub(t.started);
            match &*t.name {
                "copy" => m.cold_copying.add(m.session, t.output_bytes, ns),
                name if name.starts_with("gen_") => {
                    m.cold_generate.add(m.session, t.output_bytes, ns);
                }
                _ => {}
            }
        }
    }

    progress("submissions");
    for _ in 0..k {
        let t = Instant::now();
        let outs: Vec<_> = (0..100)
            .map(|_| c.submit(Task::new(noop).arg(header()).hints(on(0))))
            .collect::<Result<_, _>>()?;
        m.submit.push(t.elapsed().as_nanos() as u64 / 100);
        c.run_until_idle()?;
        drop(outs);
    }

    // Every node works at once, as in a run: a task's time includes sharing the machine with
    // the others, which is what the simulator's per-node CPU slots leave out.
    let nodes = request.nodes;
    let wave = |c: &mut cohort_runtime::Cluster,
                make: &dyn Fn(u32) -> Task|
     -> Result<Vec<cohort_runtime::ObjectRef>> {
        all_of(c, nodes as usize, &|n| make(n as u32))
    };
    // After idling: the idle times in turn, so that a slow phase of the host spreads over
    // all of them; `(from, to, idle time)` of each task's submission.
    progress("wake-ups");
    let wake = f("wake", c)?;
    let mut blocks = Vec::new();
    for _ in 0..k {
        for &idle in &IDLE_TIMES {
            c.sleep(idle)?;
            let from = c.now();
            wave(c, &|n| Task::new(wake).arg(header()).hints(on(n)))?;
            blocks.push((from, c.now(), idle));
        }
    }

    progress("tasks");
    let pool_bytes = pool_bytes();
    for &s in sizes {
        let gen_s = f(&format!("gen_{s}"), c)?;
        // A copy and a sum read objects made long enough before that the caches no longer
        // hold them (see `pool_bytes`): a pool of each node's older objects, first made by
        // the `src` kind (which is not recorded), then by the samples' own generate tasks.
        let src_s = f(&format!("src_{s}"), c)?;
        let pool_len = (pool_bytes / s).clamp(2, MAX_POOL) as usize;
        let mut pool = std::collections::VecDeque::with_capacity(pool_len + 1);
        for _ in 0..pool_len {
            pool.push_back(wave(c, &|n| Task::new(src_s).arg(header()).hints(on(n)))?);
        }
        for _ in 0..k {
            let data = wave(c, &|n| Task::new(gen_s).arg(header()).hints(on(n)))?;
            let oldest = pool.pop_front().unwrap_or_default();
            wave(c, &|n| {
                Task::new(copy)
                    .arg(&oldest[n as usize])
                    .arg(header())
                    .hints(on(n))
            })?;
            let middle = &pool[pool.len() / 2];
            wave(c, &|n| {
                Task::new(sum)
                    .arg(&middle[n as usize])
                    .arg(header())
                    .hints(on(n))
            })?;
            pool.push_back(data);
            // Freed now, as a run frees what it has used: the next sample reuses the pages.
            drop(oldest);
        }
        drop(pool);
    }

    progress("transfers");
    for &s in sizes {
        let src_s = f(&format!("src_{s}"), c)?;
        for _ in 0..k {
            let data = run(c, Task::new(src_s).arg(header()).hints(on(0)))?;
            run(c, Task::new(read).arg(&data).arg(header()).hints(on(1)))?;
        }
    }
    // A transfer's copies: the nodes' CPU for data made on node 0 and read on node 1, less
    // for the same read on node 0, pairs taken in turn.
    if full {
        progress("copies");
        let pairs = cpu_of_pairs(c, pids, (k, 1), read, COPY_SIZE)?;
        m.copies
            .push((pairs.local, pairs.remote, k as u64 * COPY_SIZE));
    }

    c.run_until_idle()?;

    let trace = c.take_trace();
    let session = m.session;
    for t in &trace.tasks {
        let ns = t.finished.saturating_sub(t.started);
        match &*t.name {
            "noop" => {}
            "copy" => m.copying.add(session, t.output_bytes, ns),
            "wake" => {
                if let Some(&(_, _, idle)) = blocks
                    .iter()
                    .find(|(from, to, _)| (*from..*to).contains(&t.submitted))
                {
                    m.waking.add(session, idle, ns);
                }
            }
            "sum" => m.summing.add(session, t.input_bytes, ns),
            name if name.starts_with("gen_") => m.generate.add(session, t.output_bytes, ns),
            _ => {}
        }
    }
    let activity = Activity::of(&trace, request.nodes as usize);
    for x in &trace.transfers {
        m.moving.push(Moved {
            session,
            bytes: x.bytes,
            ns: x.finished.saturating_sub(x.requested),
            sender_idle: activity.idle(x.from.index(), x.requested),
            receiver_idle: activity.idle(x.to.index(), x.requested),
        });
    }

    // A transfer's set-up: as the copies, at the smallest size, the head's CPU counted too
    // (it directs the pull), in every session, as the small costs move from one to the next.
    // Its transfers queue behind each other, so they are left out of the others' record.
    progress("set-ups");
    let mut with_head = pids.to_vec();
    with_head.push(std::process::id());
    let pairs = cpu_of_pairs(c, &with_head, (k, SET_UP_BATCH), read, SIZES[0])?;
    let transfers = (k * SET_UP_BATCH) as u64;
    m.set_ups.push((pairs.local, pairs.remote, transfers));
    m.set_up_walls
        .push((pairs.local_wall, pairs.remote_wall, transfers));
    // Each local pair ran a batch of sources and a batch of reads.
    m.batch_cpu.push((pairs.local_batches, 2 * transfers));
    c.run_until_idle()?;
    c.take_trace();
    Ok(())
}

/// When each node was busy in a trace, as the model's wake-up counts it: work from its start
/// to its finish, and transfers from or to the node from request to arrival.
struct Activity {
    /// Per node, the busy intervals `(from, to)`, sorted by their start.
    busy: Vec<Vec<(Nanos, Nanos)>>,
}

impl Activity {
    fn of(trace: &cohort_runtime::Trace, nodes: usize) -> Activity {
        let mut busy = vec![Vec::new(); nodes];
        for t in &trace.tasks {
            if let Some(b) = busy.get_mut(t.node.index()) {
                b.push((t.started, t.finished));
            }
        }
        for x in &trace.transfers {
            for node in [x.from, x.to] {
                if let Some(b) = busy.get_mut(node.index()) {
                    b.push((x.requested, x.finished));
                }
            }
        }
        for b in &mut busy {
            b.sort_unstable();
        }
        Activity { busy }
    }

    /// How long `node` had idled at `at`: 0 if busy then (an interval that began earlier and
    /// ends later), else the time since its last busy interval ended (since 0 if none had).
    fn idle(&self, node: usize, at: Nanos) -> Nanos {
        let Some(b) = self.busy.get(node) else {
            return 0;
        };
        let before = &b[..b.partition_point(|&(from, _)| from < at)];
        let last_end = before.iter().map(|&(_, to)| to).max().unwrap_or(0);
        at.saturating_sub(last_end)
    }
}

/// A standard normal's 90th percentile.
const Z90: f64 = 1.281_551_565_545;

/// The log-normal spread (`sigma`, see `cluster.jitter = "lognormal"`) of samples given as
/// `ratios` to their medians: the one whose 90th percentile is the samples', as a factor of
/// the median (the slow tail is what moves a mean; the fast side of these samples is
/// bounded by the work itself). Also a comment's numbers: the samples' p10 and p90, and
/// their mean, each as a factor of the median, with the mean the spread implies.
fn log_spread(mut ratios: Vec<f64>) -> (f64, String) {
    ratios.sort_by(f64::total_cmp);
    let q = |p: f64| quantile(&ratios, p).unwrap_or(1.0);
    let (p10, p50, p90) = (q(0.1), q(0.5), q(0.9));
    let sigma = ((p90 / p50.max(f64::MIN_POSITIVE)).ln() / Z90).max(0.0);
    let mean = ratios.iter().sum::<f64>() / ratios.len().max(1) as f64;
    let note = format!(
        "{} samples: p10 x{p10:.2}, p90 x{p90:.2}, mean x{mean:.2} (the spread's: x{:.2})",
        ratios.len(),
        (sigma * sigma / 2.0).exp()
    );
    (sigma, note)
}

/// `moving`'s transfer times as measured, the same less what the model charges for waking
/// either end (`wake`, by how long each had idled), and the comment's note on how much that
/// took off the smallest size's (which gives the latency).
fn net_of_waking(moving: &[Moved], wake: &WakeUp) -> (Series, Series, String) {
    let smallest = moving.iter().map(|m| m.bytes).min().unwrap_or(0);
    let (mut raw, mut net) = (Series::default(), Series::default());
    let mut charged: Vec<u64> = Vec::new();
    let mut idled: Vec<u64> = Vec::new();
    for m in moving {
        let cost = wake.cost(m.sender_idle).max(wake.cost(m.receiver_idle));
        raw.add(m.session, m.bytes, m.ns);
        net.add(m.session, m.bytes, m.ns.saturating_sub(cost));
        if m.bytes == smallest {
            charged.push(cost);
            idled.push(m.sender_idle.max(m.receiver_idle));
        }
    }
    let (idle_median, idle_p10, idle_p90) = spread(&mut idled);
    let (cost_median, cost_p10, cost_p90) = spread(&mut charged);
    let note = format!(
        "\n# less the wake-up the model charges the more idle end: at {smallest} B it had idled {} \
         by median (p10 {}, p90 {}),\n# a wake-up of {} by median (p10 {}, p90 {})",
        us(idle_median as f64),
        us(idle_p10 as f64),
        us(idle_p90 as f64),
        us(cost_median as f64),
        us(cost_p10 as f64),
        us(cost_p90 as f64)
    );
    (raw, net, note)
}

/// The CPU time of the processes `pids` on the cluster `c` for `k` rounds of `batch` objects
/// of `size` bytes made on node 0, then read by `read` on node 0 (local), and on node 1
/// (remote), taken in turn: `(local, remote)`, ns. What the remote rounds took beyond the
/// local ones is what their transfers cost the host's cores. A batch of reads keeps the
/// nodes busy, as in a run: one read at a time from idle nodes also counts what waking
/// them costs (each session's set-up came out at -135 to +685 us, for a latency of 107 us).
fn cpu_of_pairs(
    c: &mut cohort_runtime::Cluster,
    pids: &[u32],
    (k, batch): (usize, usize),
    read: cohort_runtime::core::work::FnId,
    size: u64,
) -> Result<Pairs> {
    let src = c.function(&format!("src_{size}"))?;
    let mut pairs = Pairs::default();
    for _ in 0..k {
        for reader in [0, 1] {
            let before = cpu_ns(pids);
            let data = all_of(c, batch, &|_| Task::new(src).arg(header()).hints(on(0)))?;
            let began = c.now();
            let reads = all_of(c, batch, &|i| {
                Task::new(read)
                    .arg(&data[i])
                    .arg(header())
                    .hints(on(reader))
            })?;
            let wall = c.now().saturating_sub(began);
            // The time for the batches alone (freeing and settling come after).
            let batch_cpu = cpu_ns(pids).saturating_sub(before);
            drop(reads);
            // Each pair's copies are freed inside its own window, as a run frees what it
            // moved: left to the next window, a remote pair's two copies would be charged to
            // the local pair after it and its one to the remote pair, and the difference would
            // come out two frees short.
            drop(data);
            c.run_until_idle()?;
            c.sleep(FREE_SETTLE)?;
            let cpu = cpu_ns(pids).saturating_sub(before);
            if reader == 0 {
                pairs.local += cpu;
                pairs.local_wall += wall;
                pairs.local_batches += batch_cpu;
            } else {
                pairs.remote += cpu;
                pairs.remote_wall += wall;
            }
        }
    }
    Ok(pairs)
}

/// What [`cpu_of_pairs`] measured, summed over its rounds (ns).
#[derive(Clone, Copy, Debug, Default)]
struct Pairs {
    /// The processes' CPU time for the local pairs.
    local: u64,
    /// The processes' CPU time for the remote pairs.
    remote: u64,
    /// The reads' wall time (submission to the last output) in the local pairs.
    local_wall: u64,
    /// The same in the remote pairs.
    remote_wall: u64,
    /// The processes' CPU time for the local pairs' two batches alone (submission to the
    /// last output).
    local_batches: u64,
}

/// The median of per-session values (ns), and the values in order, in microseconds, for a
/// profile's comment (` 1.2, 3.4`).
fn session_median(values: impl Iterator<Item = f64>) -> (f64, String) {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    let listed = values
        .iter()
        .map(|ns| format!(" {:.1}", ns / 1e3))
        .collect::<Vec<_>>()
        .join(",");
    (crate::stats::median(values).unwrap_or(0.0), listed)
}

/// Submits tasks `make(0)` to `make(n - 1)` on `c` at once, and waits for their (first)
/// outputs.
fn all_of(
    c: &mut cohort_runtime::Cluster,
    n: usize,
    make: &dyn Fn(usize) -> Task,
) -> Result<Vec<cohort_runtime::ObjectRef>> {
    let outs: Vec<_> = (0..n)
        .map(|i| c.submit(make(i)).map(|mut o| o.remove(0)))
        .collect::<Result<_, _>>()?;
    for o in &outs {
        c.get(o)?;
    }
    Ok(outs)
}

/// Submits `task` on `c` and waits for its (first) output.
fn run(c: &mut cohort_runtime::Cluster, task: Task) -> Result<cohort_runtime::ObjectRef> {
    let out = c.submit(task)?.remove(0);
    c.get(&out)?;
    Ok(out)
}

/// The profile's text from the pooled samples.
fn profile(request: &Request, m: &mut Measured) -> Result<String> {
    let k = request.samples;
    let bursts = m.submit.len();
    let ((gen_fixed, gen_per), gen_note, gen_curve) = m.generate.line_and_curve("output");
    let ((copy_fixed, copy_per), copy_note, copy_curve) = m.copying.line_and_curve("output");
    let ((sum_fixed, sum_per), sum_note, sum_curve) = m.summing.line_and_curve("input");
    let (submit_ns, submit_p10, submit_p90) = spread(&mut m.submit);
    // A wake-up costs what the smallest task costs after idling, less its cost back to back.
    let (waking, wake_note) = m
        .waking
        .medians(|idle| format!("after {}", us(idle as f64)));
    // As the profile writes it (whole nanoseconds), so the transfers are taken net of the
    // very curve the model will charge.
    let steps: Vec<(Nanos, Nanos)> = waking
        .iter()
        .map(|&(idle, ns)| (idle as Nanos, (ns - gen_fixed).max(0.0) as Nanos))
        .collect();
    let wake_up = steps
        .iter()
        .map(|&(idle, cost)| format!("{}:{}", us(idle as f64), us(cost as f64)))
        .collect::<Vec<_>>()
        .join(", ");
    let curve = WakeUp::new(&steps).context("the wake-up steps do not make a curve")?;
    let (raw, net, net_note) = net_of_waking(&m.moving, &curve);
    let (_, raw_note) = raw.medians(|size| format!("{size} B"));
    // The spreads: of every task sample around its size's median, and of the smallest
    // transfers (their latency) around theirs.
    let tasks: Vec<f64> = [&m.generate, &m.copying, &m.summing]
        .iter()
        .flat_map(|s| s.ratios())
        .collect();
    let (task_spread, task_spread_note) = log_spread(tasks);
    let smallest = net.by_size.keys().next().copied().unwrap_or(0);
    let mut smallest_net = Series::default();
    for &(session, ns) in net.by_size.get(&smallest).into_iter().flatten() {
        smallest_net.add(session, smallest, ns);
    }
    let (latency_spread, latency_spread_note) = log_spread(smallest_net.ratios());
    let ((latency, per_byte), moving_note) = net.line();
    let bandwidth = if per_byte > 0.0 {
        format!("{:.3}Gbit/s", 8.0 / per_byte)
    } else {
        "100Gbit/s".to_string()
    };

    let mut p = String::new();
    let _ = writeln!(
        p,
        "# A cost profile of cohort's live runtime on this machine, written by `cohort calibrate`\n\
         # (apply it with `--profile FILE`). Times are the head's: from handing work out to its\n\
         # completion arriving, so each class's fixed cost includes a dispatch round trip. A fixed\n\
         # cost (or latency) is the median at 8 bytes; a rate, the least-squares line through the\n\
         # medians at every size from there. Transfers are taken net of the wake-up (`wake_up`)\n\
         # the model charges either end for having idled, which the model adds back. Samples\n\
         # are pooled over sessions (fresh clusters): the 8-byte sizes, submissions and\n\
         # wake-ups from every session, the larger sizes and the copies from the full ones."
    );
    let _ = writeln!(p, "\n[profile]");
    let _ = writeln!(p, "machine = {:?}", machine());
    let _ = writeln!(p, "cohort_version = {:?}", crate::output::VERSION);
    let _ = writeln!(p, "cohort_commit = {:?}", crate::output::GIT_COMMIT);
    let _ = writeln!(p, "nodes = {}", request.nodes);
    let _ = writeln!(p, "samples = {k}");
    let _ = writeln!(p, "sessions = {}", request.sessions);
    let _ = writeln!(
        p,
        "full_sessions = {}",
        request.full_sessions.min(request.sessions)
    );
    let _ = writeln!(
        p,
        "nic_rate = {:?}",
        request
            .nic_rate
            .map_or("none".to_string(), |r| format!("{r}B/s"))
    );
    let _ = writeln!(p, "\n[cluster]");
    let _ = writeln!(
        p,
        "# transfers, request to arrival:{raw_note}{net_note}:{moving_note}"
    );
    let _ = writeln!(p, "latency = {:?}", us(latency));
    let _ = writeln!(p, "nic_bandwidth = {bandwidth:?}");
    let _ = writeln!(
        p,
        "# a submission: median {} (p10 {}, p90 {}) over {bursts} bursts of 100",
        us(submit_ns as f64),
        us(submit_p10 as f64),
        us(submit_p90 as f64)
    );
    let _ = writeln!(p, "submit_cost = {:?}", us(submit_ns as f64));
    let _ = writeln!(
        p,
        "\n[kinds.generate]\n# a kind that makes its data (by output size):{gen_note}"
    );
    let _ = writeln!(p, "fixed = {:?}", us(gen_fixed));
    let _ = writeln!(p, "output_rate = {:?}", rate(gen_per));
    let _ = writeln!(p, "{gen_curve}");
    let _ = writeln!(
        p,
        "\n[kinds.copy]\n# a kind that copies its argument (by output size):{copy_note}"
    );
    let _ = writeln!(p, "fixed = {:?}", us(copy_fixed));
    let _ = writeln!(p, "output_rate = {:?}", rate(copy_per));
    let _ = writeln!(p, "{copy_curve}");
    let _ = writeln!(
        p,
        "\n[kinds.sum]\n# a kind that reads its arguments and sums them (by input size):{sum_note}"
    );
    let _ = writeln!(p, "fixed = {:?}", us(sum_fixed));
    let _ = writeln!(p, "input_rate = {:?}", rate(sum_per));
    let _ = writeln!(p, "{sum_curve}");
    let _ = writeln!(
        p,
        "\n[model]\n# The nodes were processes of this host and shared its cores, as a live run's \
         do:\n# work beyond that many at once is modeled slower (cluster.host_cores)."
    );
    let _ = writeln!(p, "host_cores = {}", cores());
    let _ = writeln!(
        p,
        "# Work starting on a node that idled costs more (waking its threads and the host's \
         cores):\n# the smallest task, every node running one at once after the cluster idled \
         (the generate kind's\n# fixed cost back to back is {}):{wake_note}",
        us(gen_fixed)
    );
    let _ = writeln!(p, "wake_up = {wake_up:?}");
    // Memory a store reaches for the first time: what the largest generate and copy tasks
    // cost on a fresh store beyond what they cost on a warm one, per byte.
    let at = |s: &Series| -> Option<f64> {
        let (points, _) = s.medians(|_| String::new());
        points.iter().find(|p| p.0 == COPY_SIZE as f64).map(|p| p.1)
    };
    let pairs = [
        ("generate", &m.cold_generate, &m.generate),
        ("copy", &m.cold_copying, &m.copying),
    ];
    let extra: Vec<(&str, f64, f64)> = pairs
        .iter()
        .filter_map(|(kind, cold, warm)| Some((*kind, at(cold)?, at(warm)?)))
        .collect();
    let first_touch = if extra.is_empty() {
        0.0
    } else {
        extra
            .iter()
            .map(|(_, c, w)| (c - w) / COPY_SIZE as f64)
            .sum::<f64>()
            / extra.len() as f64
    };
    let _ = writeln!(
        p,
        "# A node's memory the first time its store reaches it (pages the kernel makes ready and\n\
         # the store then keeps): the 16 MiB tasks on memory new to the store (after two rounds\n\
         # of the same), less on warm memory, medians over the full sessions (kind: new / warm):{}",
        extra
            .iter()
            .map(|(kind, c, w)| format!(" {kind} {} / {}", us(*c), us(*w)))
            .collect::<Vec<_>>()
            .join(",")
    );
    let _ = writeln!(p, "first_touch_rate = {:?}", rate(first_touch));
    // A transfer's copies: the CPU the remote pairs took beyond the local ones, per byte.
    let (local, remote, bytes) = m.copies.iter().fold((0, 0, 0), |(l, r, b), &(l2, r2, b2)| {
        (l + l2, r + r2, b + b2)
    });
    let copy_ns_per_byte = (remote as f64 - local as f64) / (bytes.max(1) as f64);
    let _ = writeln!(
        p,
        "# A transfer's bytes cost the host's cores (the sender's and the receiver's copies): the\n\
         # nodes' CPU time for 16 MiB made on node 0 and read on node 1, less made and read on\n\
         # node 0, each pair's objects freed within its own time; per full session\n\
         # (local ms / remote ms / MiB moved):{}",
        m.copies
            .iter()
            .map(|&(l, r, b)| format!(
                " {:.1} / {:.1} / {}",
                l as f64 / 1e6,
                r as f64 / 1e6,
                b >> 20
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    let _ = writeln!(p, "transfer_copy_rate = {:?}", rate(copy_ns_per_byte));
    // A transfer's set-up: what the remote pairs of the smallest size took beyond the local
    // ones, per transfer, the median of the sessions' own.
    let (set_up_work, per_session) = session_median(
        m.set_ups
            .iter()
            .map(|&(l, r, n)| (r as f64 - l as f64) / n.max(1) as f64),
    );
    let set_up_work = set_up_work.clamp(0.0, latency);
    let _ = writeln!(
        p,
        "# Of a transfer's set-up (its latency), the part that is work of the host's cores (the\n\
         # rest is waiting: messages in flight, threads woken): the nodes' and the head's CPU\n\
         # time for 8-byte objects made on node 0 and read on node 1, less made and read on\n\
         # node 0, {SET_UP_BATCH} at a time, per transfer, the median of the sessions' (at most the\n\
         # latency); per session (us):{per_session}"
    );
    // The same set-up from the reads' wall time: if it is work that the host's cores share,
    // a batch of remote reads takes `batch * work / cores` longer than the local one.
    let (wall_work, per_session) = session_median(
        m.set_up_walls
            .iter()
            .map(|&(l, r, n)| cores() as f64 * (r as f64 - l as f64) / n.max(1) as f64),
    );
    let _ = writeln!(
        p,
        "# A check of that split: the remote batches' wall time beyond the local ones', times the\n\
         # host's cores, per transfer, gives {} (near set_up_work if the set-up's work is what\n\
         # the cores share); per session (us):{per_session}",
        us(wall_work)
    );
    let _ = writeln!(p, "set_up_work = {:?}", us(set_up_work));
    // The head's work per task: the CPU time per task of the local batches, nodes' and
    // head's, beyond what the model charges those tasks as work (their kinds' fixed cost).
    let (cpu_per_task, per_session) = session_median(
        m.batch_cpu
            .iter()
            .map(|&(ns, tasks)| ns as f64 / tasks.max(1) as f64),
    );
    let charged = (gen_fixed + sum_fixed) / 2.0;
    let head_work = (cpu_per_task - charged).max(0.0);
    let _ = writeln!(
        p,
        "# The head's work per task (the driver, the core and the sockets' work: a task's fixed\n\
         # cost holds the head's time as a round trip, not the cores it takes from other work):\n\
         # the nodes' and the head's CPU time per task in the local batches of that measurement\n\
         # (making and reading 8-byte objects, {SET_UP_BATCH} at a time), {} by median over the sessions,\n\
         # less the {} the model charges such a task as work (its kind's fixed cost); per\n\
         # session (us):{per_session}",
        us(cpu_per_task),
        us(charged)
    );
    let _ = writeln!(p, "head_work = {:?}", us(head_work));
    let _ = writeln!(
        p,
        "# The same work is sometimes much slower than its median: each duration, and each\n\
         # transfer's latency, is its median times e^(sigma Z), Z a standard normal draw from\n\
         # the run's seed; sigma is the one that gives the samples' 90th percentile (fitted on\n\
         # the slow side, which moves a mean). The samples, as factors of their size's median:\n\
         #   tasks, every size: {task_spread_note}\n\
         #   {smallest}-byte transfers, net of waking: {latency_spread_note}"
    );
    let _ = writeln!(p, "jitter = \"lognormal\"");
    let _ = writeln!(p, "jitter_spread = {task_spread:.3}");
    let _ = writeln!(p, "latency_jitter_spread = {latency_spread:.3}");
    // What was written must read back as a profile.
    cohort_workloads::Profile::parse("the calibrated profile", &p)
        .context("the calibrated profile does not read back")?;
    Ok(p)
}

/// The machine: its CPU model and how many cores this process may use.
fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "an unknown CPU".to_string());
    format!("{model}, {} cores", cores())
}

/// How many cores this process may use.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_of_samples_is_the_log_normal_one_with_their_90th_percentile() {
        // Samples of two sizes, each around its own median with a log-normal noise of 0.4:
        // pooled as ratios to their size's median, the spread comes back.
        let noise = cohort_runtime::Jitter::LogNormal { sigma_ppm: 400_000 };
        let mut s = Series::default();
        for task in 0..20_000 {
            let size = if task % 2 == 0 { 8 } else { 1 << 20 };
            let median = if size == 8 { 50_000 } else { 2_000_000 };
            s.add(task as usize % 3, size, noise.apply(median, 9, task));
        }
        let (sigma, note) = log_spread(s.ratios());
        assert!((sigma - 0.4).abs() < 0.01, "{sigma}");
        assert!(note.starts_with("20000 samples: p10 x0.6"), "{note}");
        assert!(note.ends_with("(the spread's: x1.08)"), "{note}");
        // Samples that do not vary: no spread.
        let mut same = Series::default();
        for session in 0..10 {
            same.add(session, 8, 1_000);
        }
        assert_eq!(log_spread(same.ratios()).0, 0.0);
        assert_eq!(log_spread(Vec::new()).0, 0.0);
    }

    #[test]
    fn full_sessions_are_as_many_as_asked_spread_evenly_the_first_among_them() {
        for want in [1, 6, DEFAULT_FULL_SESSIONS] {
            for sessions in 1..=200 {
                let full: Vec<usize> = (0..sessions)
                    .filter(|&i| is_full(i, sessions, want))
                    .collect();
                assert_eq!(full.len(), want.min(sessions), "{sessions}: {full:?}");
                assert_eq!(full[0], 0, "{sessions}");
                // Evenly: consecutive full sessions are ⌊n/want⌋ or ⌈n/want⌉ apart.
                let (lo, hi) = (sessions / want, sessions.div_ceil(want));
                for w in full.windows(2) {
                    let gap = w[1] - w[0];
                    assert!((lo.max(1)..=hi).contains(&gap), "{sessions}: {full:?}");
                }
            }
        }
        let at_24: Vec<usize> = (0..24).filter(|&i| is_full(i, 24, 6)).collect();
        assert_eq!(at_24, [0, 4, 8, 12, 16, 20]);
        assert!((0..24).all(|i| is_full(i, 24, DEFAULT_FULL_SESSIONS)));
    }

    fn task(node: u32, started: Nanos, finished: Nanos) -> cohort_runtime::trace::TaskRecord {
        cohort_runtime::trace::TaskRecord {
            task: cohort_runtime::policy::TaskId(u64::from(node)),
            kind: cohort_runtime::policy::WorkKind::Task,
            name: "src".into(),
            hints: Hints::NONE,
            node: NodeId(node),
            cpus: 1,
            submitted: started,
            args_local: started,
            started,
            finished,
            input_bytes: 0,
            output_bytes: 8,
            ok: true,
        }
    }

    fn transfer(
        from: u32,
        to: u32,
        requested: Nanos,
        finished: Nanos,
    ) -> cohort_runtime::trace::TransferRecord {
        cohort_runtime::trace::TransferRecord {
            object: cohort_runtime::policy::ObjectId(1),
            bytes: 8,
            from: NodeId(from),
            to: NodeId(to),
            requested,
            flowing: requested,
            finished,
        }
    }

    #[test]
    fn a_node_idles_from_the_end_of_its_last_work_or_transfer_to_the_instant_asked() {
        let trace = cohort_runtime::Trace {
            tasks: vec![
                task(0, 1_000, 2_000),
                task(1, 1_500, 5_000),
                task(0, 2_050, 2_500),
            ],
            transfers: vec![transfer(0, 1, 3_000, 3_200)],
            ..Default::default()
        };
        let a = Activity::of(&trace, 3);
        // Node 0: tasks to 2,500, then the transfer from it 3,000..3,200.
        assert_eq!(a.idle(0, 2_800), 300);
        assert_eq!(
            a.idle(0, 3_000),
            500,
            "the transfer starting then is not before it"
        );
        assert_eq!(a.idle(0, 3_100), 0, "busy sending");
        assert_eq!(a.idle(0, 4_000), 800);
        // Node 1: a task running 1,500..5,000 holds it busy across the transfer.
        assert_eq!(a.idle(1, 3_000), 0);
        assert_eq!(a.idle(1, 6_000), 1_000);
        // Node 2 never worked: idle since 0; a node the trace does not have: never idle.
        assert_eq!(a.idle(2, 4_000), 4_000);
        assert_eq!(a.idle(7, 4_000), 0);
    }

    #[test]
    fn a_transfer_is_taken_less_the_wake_up_the_model_charges_its_more_idle_end() {
        let wake = WakeUp::new(&[(100_000, 40_000), (1_000_000, 90_000)]).unwrap();
        let moved = |session, bytes, ns, sender_idle, receiver_idle| Moved {
            session,
            bytes,
            ns,
            sender_idle,
            receiver_idle,
        };
        let moving = [
            // Neither end idled 100 µs: nothing to take off.
            moved(0, 8, 150_000, 50_000, 99_999),
            // The receiver idled 300 µs: the 100 µs step.
            moved(0, 8, 150_000, 10_000, 300_000),
            // The sender idled 2 ms, the receiver 300 µs: the larger, 90 µs.
            moved(1, 8, 150_000, 2_000_000, 300_000),
            // Never below zero.
            moved(1, 1 << 20, 30_000, 0, 5_000_000),
        ];
        let (raw, net, note) = net_of_waking(&moving, &wake);
        assert_eq!(raw.by_size[&8], [(0, 150_000), (0, 150_000), (1, 150_000)]);
        let at = |size: u64| -> Vec<(usize, u64)> { net.by_size[&size].clone() };
        assert_eq!(at(8), [(0, 150_000), (0, 110_000), (1, 60_000)]);
        assert_eq!(at(1 << 20), [(1, 0)]);
        // At 8 B (nearest rank): the more idle end had idled 300 µs by median (99.999 µs to
        // 2 ms), and a wake-up of 40 µs was taken off (0 to 90 µs).
        assert!(
            note.contains("at 8 B it had idled 300.000us by median (p10 99.999us, p90 2000.000us)"),
            "{note}"
        );
        assert!(
            note.contains("a wake-up of 40.000us by median (p10 0.000us, p90 90.000us)"),
            "{note}"
        );
    }
}
