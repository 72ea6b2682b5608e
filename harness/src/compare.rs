//! `cohort compare`: the simulator's runs beside their reference (the same runs live, or a
//! recorded sweep's runs, each replayed with its placements), as `compare.csv` rows and
//! `compare.md`.

use crate::stats::median;
use crate::timeline::{Timeline, TimelineStage, Work, parting, timeline_stages};
use cohort_schema::{
    CompareRow, CsvReader, DependencyKind, Fixed6, LatencyRow, NodeRow, PlacementRow, SummaryRow,
    TaskRow, TransferRow,
};
use cohort_workloads::resolve::{Resolved, Stage, StageOp};
use cohort_workloads::schema::Scope;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `(simulated - live) / live` (live: the reference, live or recorded), or NaN (written
/// `NaN`) when the live value is 0.
fn error(sim: f64, live: f64) -> f64 {
    if live == 0.0 {
        f64::NAN
    } else {
        (sim - live) / live
    }
}

/// [`error`], or NaN when a side measured no datapoint: a run that has none (it fell so far
/// behind that nothing arrived after its warm-up) has no latency to be off by.
fn latency_error(sim: &SummaryRow, live: &SummaryRow, of: impl Fn(&SummaryRow) -> f64) -> f64 {
    if sim.datapoints == 0 || live.datapoints == 0 {
        f64::NAN
    } else {
        error(of(sim), of(live))
    }
}

/// What a run directory's detail files say, read once: each piece of work's node (its last
/// placement, by id), where the run's time went, and its iteration's timeline (`None` when
/// its datapoints do not read).
#[derive(Debug, Default, PartialEq)]
pub struct Detail {
    placements: BTreeMap<u64, u32>,
    costs: Costs,
    /// See [`crate::timeline`].
    pub timeline: Option<Timeline>,
}

/// Where a run's time went, as medians in ns: each kind of work's duration (start to end,
/// by name), a small transfer's time (request to arrival, under 64 KiB) and a large one's
/// per byte, over the transfers asked for from the warm-up on, when there are at least
/// [`MIN_TRANSFERS`] (a run of group may move one large object, at its start). Whole
/// transfers, because a live run learns of a transfer's first bytes only with its last. And
/// per kind of task of a [`MapStage`], its hand-off: from the end of the task it waits for
/// to its own start, over the tasks started after the warm-up.
#[derive(Debug, Default, PartialEq)]
struct Costs {
    by_kind: BTreeMap<String, f64>,
    small: Option<f64>,
    per_byte: Option<f64>,
    handoff: BTreeMap<String, f64>,
}

/// A stage each of whose tasks waits for the task of the same index and iteration of its
/// input stage: where a hand-off is timed, on both sides alike (a peer's `placements.csv`
/// names work by stage rather than by what it waits for).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapStage {
    /// The stage.
    pub stage: String,
    /// Its task kind.
    pub task: String,
    /// The stage it reads.
    pub input: String,
}

/// The [`MapStage`]s of `stages`: per-iteration maps of one input, neither chained nor
/// fanned in, over a per-iteration map or join (whose tasks have indices).
pub fn map_stages(stages: &[Stage]) -> Vec<MapStage> {
    let by_index = |i: usize| {
        stages.get(i).is_some_and(|s| {
            s.scope == Scope::Iteration
                && matches!(s.op, StageOp::Map { .. } | StageOp::Join { .. })
        })
    };
    stages
        .iter()
        .filter_map(|s| match &s.op {
            StageOp::Map {
                task,
                input,
                repeat: 1,
                fan_in: 1,
            } if s.scope == Scope::Iteration && by_index(*input) => Some(MapStage {
                stage: s.name.clone(),
                task: task.clone(),
                input: stages[*input].name.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// The size from which a transfer counts as large (its time is mostly bytes).
const LARGE: u64 = 1 << 16;

/// The fewest transfers of a size class whose median time [`Costs`] takes.
const MIN_TRANSFERS: usize = 10;

/// A small transfer's median time and a large one's per byte, ns, over the `transfers` asked
/// for from `warmup_ns` on; each `None` with fewer than [`MIN_TRANSFERS`] of its class.
fn transfer_costs(transfers: &[TransferRow], warmup_ns: u64) -> (Option<f64>, Option<f64>) {
    let (mut small, mut per_byte) = (Vec::new(), Vec::new());
    for x in transfers.iter().filter(|x| x.requested_ns >= warmup_ns) {
        let ns = x.finished_ns.saturating_sub(x.requested_ns) as f64;
        if x.bytes < LARGE {
            small.push(ns);
        } else {
            per_byte.push(ns / x.bytes as f64);
        }
    }
    let enough = |v: Vec<f64>| (v.len() >= MIN_TRANSFERS).then(|| median(v)).flatten();
    (enough(small), enough(per_byte))
}

impl Detail {
    /// Reads `run_dir`'s `tasks.csv` and `transfers.csv`, or a peer's `placements.csv` (then
    /// only its hand-offs: its durations time its tasks' code alone, which a simulated
    /// task's do not); `None` without either file or when a file does not read. Hand-offs
    /// are timed into the tasks of `shape`'s maps that succeeded and started from its warm-up
    /// on, each from the latest successful end, before its start, of the task it waits for
    /// (a lost output rebuilt runs that task again). The timeline follows `shape`'s stages.
    pub fn read(run_dir: &Path, shape: &Shape) -> Option<Detail> {
        if cohort_schema::stored::<TaskRow>(run_dir).is_none() {
            return Detail::of_peer(run_dir, shape);
        }
        let mut placements = BTreeMap::new();
        let mut durations: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut tasks = Vec::new();
        let mut reader = CsvReader::<TaskRow>::open(run_dir).ok()?;
        for row in reader.rows() {
            let (_, t) = row.ok()?;
            placements.insert(t.task, t.node);
            let ns = t.finished_ns.saturating_sub(t.started_ns) as f64;
            durations.entry(t.name.clone()).or_default().push(ns);
            tasks.push(t);
        }
        let handoffs = task_handoffs(&tasks, shape.warmup_ns, &shape.maps);
        let work: Vec<Work> = tasks
            .iter()
            .filter_map(|t| {
                let iteration = t.iteration.filter(|_| t.ok)?;
                let (started, finished) = (i128::from(t.started_ns), i128::from(t.finished_ns));
                Some((t.stage.clone(), iteration, started, finished))
            })
            .collect();
        let mut transfers = Vec::new();
        if cohort_schema::stored::<TransferRow>(run_dir).is_some() {
            let mut reader = CsvReader::<TransferRow>::open(run_dir).ok()?;
            for row in reader.rows() {
                let (_, x) = row.ok()?;
                transfers.push(x);
            }
        }
        let (small, per_byte) = transfer_costs(&transfers, shape.warmup_ns);
        let costs = Costs {
            by_kind: medians(durations),
            small,
            per_byte,
            handoff: medians(handoffs),
        };
        Some(Detail {
            placements,
            costs,
            timeline: Timeline::read(run_dir, &work, &shape.stages, false),
        })
    }

    /// A peer's run: its hand-offs into `maps`, from its `placements.csv`. Its times come
    /// from the clocks of several processes: a task seen to start before the one it waits
    /// for ended counts as a hand-off of 0.
    fn of_peer(run_dir: &Path, shape: &Shape) -> Option<Detail> {
        cohort_schema::stored::<PlacementRow>(run_dir)?;
        let mut rows: BTreeMap<(String, u64, u32), (i64, i64)> = BTreeMap::new();
        let mut work: Vec<Work> = Vec::new();
        let mut reader = CsvReader::<PlacementRow>::open(run_dir).ok()?;
        for row in reader.rows() {
            let (_, p) = row.ok()?;
            let (started, finished) = (i128::from(p.started_ns), i128::from(p.finished_ns));
            work.push((p.stage.clone(), p.iteration, started, finished));
            rows.insert(
                (p.stage, p.iteration, p.index),
                (p.started_ns, p.finished_ns),
            );
        }
        let mut handoffs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for m in &shape.maps {
            let stage = rows
                .range((m.stage.clone(), 0, 0)..)
                .take_while(|((s, ..), _)| *s == m.stage);
            for ((_, iteration, index), &(started, _)) in stage {
                let input = rows.get(&(m.input.clone(), *iteration, *index));
                if let Some(&(_, end)) = input
                    && started >= 0
                    && started as u64 >= shape.warmup_ns
                {
                    let ns = started.saturating_sub(end).max(0) as f64;
                    handoffs.entry(m.task.clone()).or_default().push(ns);
                }
            }
        }
        Some(Detail {
            placements: BTreeMap::new(),
            costs: Costs {
                handoff: medians(handoffs),
                ..Costs::default()
            },
            timeline: Timeline::read(run_dir, &work, &shape.stages, true),
        })
    }
}

/// The CPU time a run used, read from its manifest (and, live, its `nodes.csv`).
///
/// Live, each process's CPU time as the kernel counted it: the nodes' (from their start,
/// so their start-up is in it) and the head's, which runs the driver, the core and its I/O
/// and has no counterpart in the model. Simulated, the work the model charged the host's
/// cores (`cluster.host_cores`), by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cpu {
    /// The run's length, ns: from its start to its end (live, on the wall clock).
    pub span_ns: u64,
    /// The nodes' CPU time, ns.
    pub nodes_ns: u64,
    /// The head's CPU time, ns: live, measured; simulated, the head's work the model charged
    /// (`cluster.head_work`), if it charged any.
    pub head_ns: Option<u64>,
    /// Simulated: the nodes' by kind, ns: tasks, transfers' set-ups, their copies.
    pub kinds: Option<[u64; 3]>,
}

impl Cpu {
    /// `run_dir`'s CPU time: `None` for a run that recorded none (a simulated run whose
    /// model does not share the host's cores, a peer's, or files that do not read).
    pub fn read(run_dir: &Path) -> Option<Cpu> {
        let text = std::fs::read_to_string(run_dir.join("manifest.toml")).ok()?;
        let manifest: toml::Table = text.parse().ok()?;
        let span_ns = (manifest.get("virtual_end_s")?.as_float()? * 1e9).round() as u64;
        let ns = |table: &toml::Value, key: &str| {
            table
                .get(key)?
                .as_integer()
                .and_then(|v| u64::try_from(v).ok())
        };
        if let Some(host) = manifest.get("host") {
            let kinds = [
                ns(host, "tasks_ns")?,
                ns(host, "set_ups_ns")?,
                ns(host, "copies_ns")?,
            ];
            return Some(Cpu {
                span_ns,
                nodes_ns: kinds.iter().sum(),
                head_ns: ns(host, "head_ns"),
                kinds: Some(kinds),
            });
        }
        let head_ns = ns(manifest.get("live")?, "head_cpu_ns")?;
        let mut nodes_ns = 0;
        let mut reader = CsvReader::<NodeRow>::open(run_dir).ok()?;
        for row in reader.rows() {
            nodes_ns += row.ok()?.1.cpu_ns;
        }
        Some(Cpu {
            span_ns,
            nodes_ns,
            head_ns: Some(head_ns),
            kinds: None,
        })
    }

    /// `ns` as cores busy on average over the run.
    fn cores(&self, ns: u64) -> f64 {
        ns as f64 / self.span_ns.max(1) as f64
    }
}

/// The hand-offs of `tasks` (a `tasks.csv`), by kind: see [`Detail::read`].
fn task_handoffs(
    tasks: &[TaskRow],
    warmup_ns: u64,
    maps: &[MapStage],
) -> BTreeMap<String, Vec<f64>> {
    let mut ends: BTreeMap<(u64, u32), Vec<u64>> = BTreeMap::new();
    for t in tasks.iter().filter(|t| t.ok) {
        ends.entry((t.group, t.index))
            .or_default()
            .push(t.finished_ns);
    }
    let mut handoffs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for t in tasks {
        let (DependencyKind::Task, Some(group), Some(index)) =
            (t.dependency, t.dependency_group, t.dependency_index)
        else {
            continue;
        };
        if !t.ok || t.started_ns < warmup_ns || !maps.iter().any(|m| m.task == t.name) {
            continue;
        }
        let end = ends
            .get(&(group, index))
            .and_then(|e| e.iter().filter(|&&e| e <= t.started_ns).max());
        if let Some(&end) = end {
            handoffs
                .entry(t.name.clone())
                .or_default()
                .push((t.started_ns - end) as f64);
        }
    }
    handoffs
}

/// The median of each list.
fn medians(lists: BTreeMap<String, Vec<f64>>) -> BTreeMap<String, f64> {
    lists
        .into_iter()
        .filter_map(|(k, v)| median(v).map(|m| (k, m)))
        .collect()
}

/// How a run's latency moved over its measured datapoints (those after the warm-up), in ingest
/// order: the mean of the earlier half and of the later half, ms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settling {
    /// The earlier half's mean latency, ms.
    pub earlier_ms: f64,
    /// The later half's, ms.
    pub later_ms: f64,
}

/// How much higher the earlier half's mean must be than the later half's for a run to count
/// as still settling after its warm-up.
const SETTLING: f64 = 1.5;

/// The fewest measured datapoints a run is judged on.
const SETTLING_POINTS: usize = 10;

impl Settling {
    /// Reads `run_dir`'s `latencies.csv`; `None` with fewer than [`SETTLING_POINTS`]
    /// measured datapoints or when it does not read.
    pub fn read(run_dir: &Path) -> Option<Settling> {
        let mut reader = CsvReader::<LatencyRow>::open(run_dir).ok()?;
        let mut points = Vec::new();
        for row in reader.rows() {
            let (_, l) = row.ok()?;
            if !l.warmup {
                points.push((l.ingest_ns, l.latency_ns));
            }
        }
        Settling::of(points)
    }

    /// Of `(ingest_ns, latency_ns)` datapoints, in any order.
    fn of(mut points: Vec<(u64, u64)>) -> Option<Settling> {
        if points.len() < SETTLING_POINTS {
            return None;
        }
        points.sort_unstable();
        let mean_ms = |half: &[(u64, u64)]| {
            half.iter().map(|p| p.1 as f64).sum::<f64>() / half.len() as f64 / 1e6
        };
        let (earlier, later) = points.split_at(points.len() / 2);
        Some(Settling {
            earlier_ms: mean_ms(earlier),
            later_ms: mean_ms(later),
        })
    }

    /// Whether the run was still settling after its warm-up: the earlier half's mean more
    /// than [`SETTLING`] times the later half's (a run falling behind climbs instead).
    pub fn still(&self) -> bool {
        self.earlier_ms > SETTLING * self.later_ms
    }
}

/// Each kind of task's median hand-off on both sides, where both have one, as `(kind, live
/// ns, simulated ns)`: see [`Detail::read`].
pub fn handoffs(sim: &Detail, live: &Detail) -> Vec<(String, f64, f64)> {
    live.costs
        .handoff
        .iter()
        .filter_map(|(k, l)| Some((k.clone(), *l, *sim.costs.handoff.get(k)?)))
        .collect()
}

/// One simulated run and its reference, with their run directories.
pub struct Pair<'a> {
    /// The simulated run's summary.
    pub sim: &'a SummaryRow,
    /// The reference's.
    pub reference: &'a SummaryRow,
    /// The simulated run's directory.
    pub sim_dir: PathBuf,
    /// The reference's.
    pub reference_dir: PathBuf,
    /// What their details are read over.
    pub shape: Shape,
}

/// What a run's details are read over: its warm-up, and its workload's stages that hand-offs
/// and the iteration's timeline follow.
#[derive(Clone, Debug, Default)]
pub struct Shape {
    /// The warm-up, ns.
    pub warmup_ns: u64,
    /// The [`MapStage`]s, by which hand-offs are timed.
    pub maps: Vec<MapStage>,
    /// The stages built every iteration (see [`crate::timeline`]).
    pub stages: Vec<TimelineStage>,
}

impl Shape {
    /// The shape of a run of `w`.
    pub fn of(w: &Resolved) -> Shape {
        Shape {
            warmup_ns: w.schedule.warmup,
            maps: map_stages(&w.stages),
            stages: timeline_stages(&w.stages),
        }
    }
}

/// The share of the work both runs placed that they placed on the same node; `None` when
/// they share no work.
pub fn agreement(sim: &Detail, live: &Detail) -> Option<f64> {
    let both: Vec<bool> = sim
        .placements
        .iter()
        .filter_map(|(task, node)| live.placements.get(task).map(|other| other == node))
        .collect();
    if both.is_empty() {
        return None;
    }
    Some(both.iter().filter(|same| **same).count() as f64 / both.len() as f64)
}

/// Where the live run's time went against the simulated one's: for each kind of work, then
/// for small transfers' time and large ones' time per byte, the live median over the
/// simulated one, as `(what, ratio)`. A ratio above 1 is a cost the model leaves out (or
/// prices low).
pub fn cost_ratios(sim: &Detail, live: &Detail) -> Vec<(String, f64)> {
    let (sim, live) = (&sim.costs, &live.costs);
    let ratio = |l: f64, s: f64| (s > 0.0).then(|| l / s);
    let mut out: Vec<(String, f64)> = sim
        .by_kind
        .iter()
        .filter_map(|(k, s)| Some((k.clone(), ratio(*live.by_kind.get(k)?, *s)?)))
        .collect();
    if let (Some(l), Some(s)) = (live.small, sim.small) {
        out.extend(ratio(l, s).map(|r| ("small transfer".to_string(), r)));
    }
    if let (Some(l), Some(s)) = (live.per_byte, sim.per_byte) {
        out.extend(ratio(l, s).map(|r| ("large transfer per byte".to_string(), r)));
    }
    out
}

/// The pairs of runs both sides finished, by run id, in the simulated side's order: `sim`
/// from the directory `sim_runs`, `live` from `live_runs`; `shape` gives a run's
/// [`Shape`] by its id.
pub fn same_ids<'a>(
    sim: &'a [SummaryRow],
    live: &'a [SummaryRow],
    sim_runs: &Path,
    live_runs: &Path,
    shape: impl Fn(&str) -> Shape,
) -> Vec<Pair<'a>> {
    sim.iter()
        .filter_map(|s| {
            let l = live.iter().find(|l| l.run == s.run)?;
            Some(Pair {
                sim: s,
                reference: l,
                sim_dir: sim_runs.join(&s.run),
                reference_dir: live_runs.join(&l.run),
                shape: shape(&s.run),
            })
        })
        .collect()
}

/// A row per pair, named by the reference's run id and policy; `agree` gives a pair's
/// placement agreement by that id, and `kept_up` whether its `(simulated, reference)` runs
/// kept up.
pub fn rows(
    pairs: &[Pair<'_>],
    agree: impl Fn(&str) -> Option<f64>,
    kept_up: impl Fn(&Pair<'_>) -> (bool, bool),
) -> Vec<CompareRow> {
    pairs
        .iter()
        .map(|p| {
            let (s, l) = (p.sim, p.reference);
            let (sim_kept_up, live_kept_up) = kept_up(p);
            CompareRow {
                run: l.run.clone(),
                policy: l.policy.clone(),
                seed: s.seed,
                params: s.params.clone(),
                sim_mean_ms: s.mean_ms,
                live_mean_ms: l.mean_ms,
                mean_error: Fixed6(latency_error(s, l, |r| r.mean_ms.0)),
                sim_p50_ms: s.p50_ms,
                live_p50_ms: l.p50_ms,
                p50_error: Fixed6(latency_error(s, l, |r| r.p50_ms.0)),
                sim_p99_ms: s.p99_ms,
                live_p99_ms: l.p99_ms,
                p99_error: Fixed6(latency_error(s, l, |r| r.p99_ms.0)),
                sim_bytes: s.bytes_transferred,
                live_bytes: l.bytes_transferred,
                placement_agreement: agree(&l.run).map(Fixed6),
                sim_kept_up,
                live_kept_up,
            }
        })
        .collect()
}

/// What `compare.md` says of one pair besides its numbers.
#[derive(Debug, Default)]
pub struct Notes {
    /// Where the time went: [`cost_ratios`].
    pub ratios: Vec<(String, f64)>,
    /// Hand-offs: [`handoffs`].
    pub handoffs: Vec<(String, f64, f64)>,
    /// How the simulated run's latency moved after its warm-up.
    pub sim: Option<Settling>,
    /// How the reference's did.
    pub reference: Option<Settling>,
    /// An iteration's timeline on both sides, `(simulated, reference)`.
    pub timeline: Option<(Timeline, Timeline)>,
    /// The CPU time of both sides, `(simulated, reference)`, when both recorded it.
    pub cpu: Option<(Cpu, Cpu)>,
}

/// `compare.md`: the simulator's error at every point, then per policy the mean and the
/// largest absolute error of the mean latency, then the `notes` by run id (where the time
/// went, an iteration's timeline, runs still settling after their warm-up). `reference` names the other side (`live`,
/// or what ran a replayed sweep). `param_names` are the `param.*` columns; a point is named
/// by the parameters whose values differ between rows.
pub fn markdown(
    rows: &[CompareRow],
    param_names: &[String],
    reference: &str,
    notes: &BTreeMap<String, Notes>,
) -> String {
    let varying: Vec<usize> = (0..param_names.len())
        .filter(|&i| {
            rows.iter()
                .any(|r| r.params.get(i) != rows[0].params.get(i))
        })
        .collect();
    let point = |r: &CompareRow| -> String {
        let parts: Vec<String> = varying
            .iter()
            .map(|&i| {
                format!(
                    "{}={}",
                    param_names[i],
                    r.params.get(i).copied().unwrap_or(0)
                )
            })
            .collect();
        if parts.is_empty() {
            "the default point".to_string()
        } else {
            parts.join(", ")
        }
    };
    let pct = |e: f64| {
        if e.is_nan() {
            "–".to_string()
        } else {
            format!("{:+.1} %", e * 100.0)
        }
    };
    let ms = |v: f64, datapoints: bool| {
        if datapoints {
            format!("{v:.3}")
        } else {
            "no datapoint".to_string()
        }
    };
    let mut out = format!(
        "# Simulated against {reference}\n\nError = (simulated - {reference}) / {reference}, \
         per run (seed).\n\n\
         A run kept up unless work was unfinished when it stopped, it has no measured \
         datapoint, or its latency rose by more than its own mean over the measured window \
         (the report's stability rule; it judges the measured window alone, so a run already \
         behind when its warm-up ended passes unless its latency then triples).\n\n\
         | policy | point | seed | {reference} mean ms | sim mean ms | mean error | p50 error | \
         p99 error | {reference} bytes | sim bytes | placements agree | kept up: {reference} / \
         sim |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    let yes = |b: bool| if b { "yes" } else { "no" };
    for r in rows {
        let verdicts = format!(
            "{} / {}{}",
            yes(r.live_kept_up),
            yes(r.sim_kept_up),
            if r.live_kept_up == r.sim_kept_up {
                ""
            } else {
                " (differ)"
            }
        );
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {verdicts} |\n",
            r.policy,
            point(r),
            r.seed,
            ms(r.live_mean_ms.0, r.live_mean_ms.0 > 0.0),
            ms(r.sim_mean_ms.0, r.sim_mean_ms.0 > 0.0),
            pct(r.mean_error.0),
            pct(r.p50_error.0),
            pct(r.p99_error.0),
            r.live_bytes,
            r.sim_bytes,
            r.placement_agreement
                .map_or("–".to_string(), |a| format!("{:.1} %", a.0 * 100.0))
        ));
    }
    out.push_str(
        "\n| policy | runs compared | mean abs. mean error | largest abs. mean error | \
         runs without a datapoint on a side | runs whose sides differ on keeping up |\n",
    );
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: |\n");
    let mut policies: Vec<&str> = Vec::new();
    for r in rows {
        if !policies.contains(&r.policy.as_str()) {
            policies.push(&r.policy);
        }
    }
    for p in policies {
        let all: Vec<f64> = rows
            .iter()
            .filter(|r| r.policy == p)
            .map(|r| r.mean_error.0.abs())
            .collect();
        let errors: Vec<f64> = all.iter().copied().filter(|e| !e.is_nan()).collect();
        let (mean, largest) = if errors.is_empty() {
            ("–".to_string(), "–".to_string())
        } else {
            let mean = errors.iter().sum::<f64>() / errors.len() as f64;
            let largest = errors.iter().copied().fold(0.0, f64::max);
            (
                format!("{:.1} %", mean * 100.0),
                format!("{:.1} %", largest * 100.0),
            )
        };
        let differ = rows
            .iter()
            .filter(|r| r.policy == p && r.live_kept_up != r.sim_kept_up)
            .count();
        out.push_str(&format!(
            "| {p} | {} | {mean} | {largest} | {} | {differ} |\n",
            errors.len(),
            all.len() - errors.len()
        ));
    }
    let explained: Vec<&CompareRow> = rows
        .iter()
        .filter(|r| {
            notes
                .get(&r.run)
                .is_some_and(|n| !n.ratios.is_empty() || !n.handoffs.is_empty())
        })
        .collect();
    if !explained.is_empty() {
        out.push_str(&format!(
            "\n## Where the time goes\n\n{reference} over simulated, medians per run: each kind \
             of work's duration, a small transfer's time (request to arrival, under 64 KiB) and \
             a large one's time per byte (transfers asked for after the warm-up, where each side \
             has at least {MIN_TRANSFERS}). Above 1: a cost the model leaves out or prices low. \
             Then each kind of task's hand-off, from the end of the task it waits for to its own \
             start (tasks started after the warm-up), {reference} against simulated; a peer's \
             run gives only these (its durations time its tasks' code alone).\n\n\
             | policy | point | seed | {reference} ÷ simulated |\n| --- | --- | ---: | --- |\n",
        ));
        for r in explained {
            let n = &notes[&r.run];
            let parts: Vec<String> = n
                .ratios
                .iter()
                .map(|(what, x)| format!("{what} ×{x:.2}"))
                .chain(n.handoffs.iter().map(|(what, l, s)| {
                    format!(
                        "hand-off to {what} {:.3} ms against {:.3} ms",
                        l / 1e6,
                        s / 1e6
                    )
                }))
                .collect();
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                r.policy,
                point(r),
                r.seed,
                parts.join(", ")
            ));
        }
    }
    out.push_str(&cpu_section(rows, reference, notes, &point));
    out.push_str(&timeline_section(rows, reference, notes, &point));
    let settling: Vec<(&CompareRow, &str, Settling, String)> = rows
        .iter()
        .flat_map(|r| {
            let n = notes.get(&r.run);
            let (of_reference, of_sim) = (n.and_then(|n| n.reference), n.and_then(|n| n.sim));
            // The two later halves side by side: the error once both have settled.
            let later = match (of_sim, of_reference) {
                (Some(s), Some(l)) if l.later_ms > 0.0 => format!(
                    "{:+.1} % ({:.3} against {:.3})",
                    (s.later_ms - l.later_ms) / l.later_ms * 100.0,
                    s.later_ms,
                    l.later_ms
                ),
                _ => "–".to_string(),
            };
            [(reference, of_reference), ("sim", of_sim)]
                .into_iter()
                .filter_map(move |(side, s)| {
                    Some((r, side, s.filter(Settling::still)?, later.clone()))
                })
        })
        .collect();
    if !settling.is_empty() {
        out.push_str(&format!(
            "\n## Still settling after the warm-up\n\nRuns whose mean latency over the earlier \
             half of their measured datapoints was more than {SETTLING}× the later half's: the \
             warm-up did not cover their start, and their mean counts it. The model starts \
             warm, while a real system may still be starting workers or draining what queued \
             meanwhile: lengthen `warmup` to compare steady states. The last column sets the \
             two sides' later halves side by side: the error once both have settled.\n\n\
             | side | policy | point | seed | earlier half mean ms | later half mean ms | \
             later halves: simulated against {reference}, ms |\n\
             | --- | --- | --- | ---: | ---: | ---: | --- |\n",
        ));
        for (r, side, s, later) in settling {
            out.push_str(&format!(
                "| {side} | {} | {} | {} | {:.3} | {:.3} | {later} |\n",
                r.policy,
                point(r),
                r.seed,
                s.earlier_ms,
                s.later_ms
            ));
        }
    }
    out
}

/// The section of `compare.md` on the CPU time each side used (see [`Cpu`]): empty when no
/// pair has it on both sides.
fn cpu_section(
    rows: &[CompareRow],
    reference: &str,
    notes: &BTreeMap<String, Notes>,
    point: &dyn Fn(&CompareRow) -> String,
) -> String {
    let timed: Vec<(&CompareRow, Cpu, Cpu)> = rows
        .iter()
        .filter_map(|r| {
            let (s, l) = notes.get(&r.run)?.cpu?;
            Some((r, s, l))
        })
        .collect();
    if timed.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\n## CPU time\n\nCores busy on average over each run (CPU time over the run's \
         length). {reference}: each node process's CPU time, and the head's (the driver, the \
         core and their I/O). Simulated: the work the model charged the host's cores for the \
         nodes, in all and by kind, and for the head (`cluster.head_work`, per task; a \
         transfer's is in its set-up). Nodes above simulated: the {reference} nodes did work the model leaves out or \
         prices low; at or below it while {reference} latency is higher: the time went to \
         waiting, not to work.\n\n\
         | policy | point | seed | {reference} nodes | {reference} head | simulated | \
         simulated tasks / set-ups / copies | simulated head | nodes ÷ simulated |\n\
         | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |\n",
    );
    for (r, s, l) in timed {
        let (nodes, sim) = (l.cores(l.nodes_ns), s.cores(s.nodes_ns));
        let head = |c: &Cpu| {
            c.head_ns
                .map_or_else(|| "–".to_string(), |h| format!("{:.3}", c.cores(h)))
        };
        let (head, sim_head) = (head(&l), head(&s));
        let kinds = s.kinds.map_or_else(
            || "–".to_string(),
            |k| {
                let k: Vec<String> = k.iter().map(|&v| format!("{:.3}", s.cores(v))).collect();
                k.join(" / ")
            },
        );
        let ratio = if sim > 0.0 {
            format!("×{:.2}", nodes / sim)
        } else {
            "–".to_string()
        };
        out.push_str(&format!(
            "| {} | {} | {} | {nodes:.3} | {head} | {sim:.3} | {kinds} | {sim_head} | {ratio} |\n",
            r.policy,
            point(r),
            r.seed,
        ));
    }
    out
}

/// The section of `compare.md` on an iteration's timeline (see [`crate::timeline`]): empty
/// when no pair has one on both sides.
fn timeline_section(
    rows: &[CompareRow],
    reference: &str,
    notes: &BTreeMap<String, Notes>,
    point: &dyn Fn(&CompareRow) -> String,
) -> String {
    // Runs with a stage timed on a side (files written before `tasks.csv` named stages
    // time none).
    let timed: Vec<(&CompareRow, &(Timeline, Timeline))> = rows
        .iter()
        .filter_map(|r| Some((r, notes.get(&r.run)?.timeline.as_ref()?)))
        .filter(|(_, (sim, other))| !sim.spans.is_empty() || !other.spans.is_empty())
        .collect();
    if timed.is_empty() {
        return String::new();
    }
    // The stages any side ran, in the workload's order: each timeline's are in that order,
    // so one not seen yet goes after the stage before it there.
    let mut stages: Vec<&str> = Vec::new();
    for (_, (sim, other)) in &timed {
        for spans in [&sim.spans, &other.spans] {
            let mut at = 0;
            for s in spans {
                match stages.iter().position(|&n| n == s.stage) {
                    Some(k) => at = k + 1,
                    None => {
                        stages.insert(at, &s.stage);
                        at += 1;
                    }
                }
            }
        }
    }
    let mut out = format!(
        "\n## An iteration's timeline\n\nMilliseconds from an iteration's ingest to each stage's \
         first start and last end, and to its last datapoint's arrival: medians over the \
         iterations measured after the warm-up, {reference} / simulated. Then where the sides part \
         most: of the moments from the ingest to the first stage's start and to each stage's \
         end, the two consecutive ones between which {reference}'s time less the model's is \
         furthest from 0: time the model is missing there (+), or adds (-).\n\n| policy | point | seed |",
    );
    for s in &stages {
        out.push_str(&format!(" {s} |"));
    }
    out.push_str(" arrival | parts most |\n| --- | --- | ---: |");
    out.push_str(&" ---: |".repeat(stages.len() + 1));
    out.push_str(" --- |\n");
    let span = |t: &Timeline, stage: &str| {
        t.spans
            .iter()
            .find(|s| s.stage == stage)
            .map_or("–".to_string(), |s| {
                format!("{:.1}–{:.1}", s.start_ms, s.end_ms)
            })
    };
    let arrival = |t: &Timeline| t.arrival_ms.map_or("–".to_string(), |a| format!("{a:.1}"));
    for (r, (sim, other)) in timed {
        out.push_str(&format!("| {} | {} | {} |", r.policy, point(r), r.seed));
        for s in &stages {
            out.push_str(&format!(" {} / {} |", span(other, s), span(sim, s)));
        }
        let parts = parting(sim, other).map_or("–".to_string(), |(from, to, ms)| {
            format!("{from} → {to} {ms:+.1} ms")
        });
        out.push_str(&format!(
            " {} / {} | {parts} |\n",
            arrival(other),
            arrival(sim)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_pair_by_id_and_errors_are_relative_to_live() {
        let row = |run: &str, mean: f64, bytes: u64| SummaryRow {
            run: run.to_string(),
            policy: "p".to_string(),
            mean_ms: Fixed6(mean),
            p50_ms: Fixed6(mean),
            p99_ms: Fixed6(mean * 2.0),
            bytes_transferred: bytes,
            datapoints: 10,
            ..SummaryRow::default()
        };
        let sim = [row("a", 1.0, 10), row("b", 3.0, 20), row("c", 1.0, 0)];
        let live = [row("b", 4.0, 25), row("a", 2.0, 10)];
        let pairs = same_ids(&sim, &live, Path::new("s"), Path::new("l"), |run| Shape {
            warmup_ns: if run == "a" { 7 } else { 0 },
            ..Shape::default()
        });
        assert_eq!((pairs[0].shape.warmup_ns, pairs[1].shape.warmup_ns), (7, 0));
        assert_eq!(pairs[1].sim_dir, Path::new("s/b"));
        assert_eq!(pairs[1].reference_dir, Path::new("l/b"));
        // Run b's simulated side alone falls behind.
        let r = rows(
            &pairs,
            |run| (run == "a").then_some(0.75),
            |p| (p.sim.run != "b", true),
        );
        assert_eq!(r.len(), 2, "c did not finish live");
        assert_eq!((r[0].run.as_str(), r[0].mean_error.0), ("a", -0.5));
        assert_eq!((r[1].run.as_str(), r[1].mean_error.0), ("b", -0.25));
        assert_eq!((r[1].sim_bytes, r[1].live_bytes), (20, 25));
        assert_eq!(r[0].placement_agreement, Some(Fixed6(0.75)));
        assert_eq!(r[1].placement_agreement, None);
        assert_eq!(
            [r[0].sim_kept_up, r[0].live_kept_up, r[1].sim_kept_up],
            [true, true, false]
        );
        assert!(error(1.0, 0.0).is_nan(), "no live datapoint: no error");
        let behind = SummaryRow {
            datapoints: 0,
            ..row("b", 0.0, 20)
        };
        let none = rows(
            &same_ids(&[behind], &live, Path::new("s"), Path::new("l"), |_| {
                Shape::default()
            }),
            |_| None,
            |_| (false, true),
        );
        assert!(none[0].mean_error.0.is_nan() && none[0].p99_error.0.is_nan());

        let names = ["data_size".to_string(), "width".to_string()];
        let mut r = r;
        r[0].params = vec![1000, 6];
        r[1].params = vec![2000, 6];
        let notes = BTreeMap::from([(
            "a".to_string(),
            Notes {
                ratios: vec![
                    ("map_step".to_string(), 2.5),
                    ("small transfer".to_string(), 3.0),
                ],
                ..Notes::default()
            },
        )]);
        let md = markdown(&r, &names, "live", &notes);
        assert!(
            md.contains("| p | data_size=1000 | 0 | 2.000 | 1.000 | -50.0 % |"),
            "{md}"
        );
        assert!(md.contains("| 75.0 % | yes / yes |\n"), "{md}");
        assert!(md.contains("| – | yes / no (differ) |\n"), "{md}");
        assert!(
            md.contains("| p | data_size=1000 | 0 | map_step ×2.50, small transfer ×3.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| p | data_size=2000 | 0 | 4.000 | 3.000 | -25.0 % |"),
            "{md}"
        );
        assert!(md.contains("| p | 2 | 37.5 % | 50.0 % | 0 | 1 |"), "{md}");
        r[1].live_mean_ms = Fixed6(0.0);
        r[1].mean_error = Fixed6(error(3.0, 0.0));
        let md = markdown(&r, &names, "live", &BTreeMap::new());
        assert!(!md.contains("Where the time goes"), "{md}");
        assert!(!md.contains("Still settling"), "{md}");
        assert!(
            md.contains("| p | data_size=2000 | 0 | no datapoint | 3.000 | – |"),
            "{md}"
        );
        assert!(md.contains("| p | 1 | 50.0 % | 50.0 % | 1 | 1 |"), "{md}");

        // A reference still settling is listed with its halves; one that is not, is not.
        let settled = Settling {
            earlier_ms: 10.0,
            later_ms: 9.0,
        };
        let notes = BTreeMap::from([
            (
                "a".to_string(),
                Notes {
                    reference: Some(Settling {
                        earlier_ms: 40.0,
                        later_ms: 20.0,
                    }),
                    sim: Some(settled),
                    ..Notes::default()
                },
            ),
            (
                "b".to_string(),
                Notes {
                    reference: Some(settled),
                    ..Notes::default()
                },
            ),
        ]);
        let md = markdown(&r, &names, "ray", &notes);
        assert!(md.starts_with("# Simulated against ray"), "{md}");
        assert!(md.contains("| ray mean ms | sim mean ms |"), "{md}");
        assert!(
            md.contains(
                "| ray | p | data_size=1000 | 0 | 40.000 | 20.000 | -55.0 % (9.000 against \
                 20.000) |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| later halves: simulated against ray, ms |"),
            "{md}"
        );
        assert_eq!(md.matches("| sim | p |").count(), 0, "{md}");
        assert!(!md.contains("data_size=2000 | 0 | 10.000"), "{md}");
    }

    #[test]
    fn the_timeline_keeps_the_workloads_order_and_leaves_out_runs_with_no_stage_timed() {
        use crate::timeline::Span;
        let span = |stage: &str, start_ms, end_ms| Span {
            stage: stage.to_string(),
            start_ms,
            end_ms,
        };
        let timeline = |spans: Vec<Span>| Timeline {
            spans,
            arrival_ms: Some(30.0),
        };
        let row = |run: &str| CompareRow {
            run: run.to_string(),
            policy: run.to_string(),
            ..CompareRow::default()
        };
        let rows = [row("a"), row("b"), row("c")];
        let timed = |sim, reference| Notes {
            timeline: Some((sim, reference)),
            ..Notes::default()
        };
        // The first run has only the shuffles timed; the second has maps before them and,
        // simulated, the reducers after; the third (files without stages) has none.
        let notes = BTreeMap::from([
            (
                "a".to_string(),
                timed(
                    timeline(vec![span("shuffled", 5.0, 9.0)]),
                    timeline(vec![span("shuffled", 6.0, 9.0)]),
                ),
            ),
            (
                "b".to_string(),
                timed(
                    timeline(vec![
                        span("maps", 0.5, 4.0),
                        span("shuffled", 4.0, 9.0),
                        span("reduce", 9.0, 10.0),
                    ]),
                    timeline(vec![span("maps", 2.0, 4.0), span("shuffled", 4.0, 12.0)]),
                ),
            ),
            (
                "c".to_string(),
                timed(Timeline::default(), Timeline::default()),
            ),
        ]);
        let md = markdown(&rows, &[], "ray", &notes);
        let (_, section) = md
            .split_once("## An iteration's timeline")
            .expect("a timeline");
        assert!(
            section.contains(
                "| policy | point | seed | maps | shuffled | reduce | arrival | parts most |"
            ),
            "{md}"
        );
        // Ties go to the earlier pair of moments.
        assert!(
            section.contains(
                "| a | the default point | 0 | – / – | 6.0–9.0 / 5.0–9.0 | – / – | 30.0 / 30.0 | \
                 ingest → shuffled start +1.0 ms |"
            ),
            "{md}"
        );
        assert!(
            section.contains(
                "| b | the default point | 0 | 2.0–4.0 / 0.5–4.0 | 4.0–12.0 / 4.0–9.0 | \
                 – / 9.0–10.0 | 30.0 / 30.0 | maps end → shuffled end +3.0 ms |"
            ),
            "{md}"
        );
        assert!(!section.contains("| c |"), "{md}");
    }

    #[test]
    fn a_hand_off_is_timed_from_the_latest_successful_end_before_the_start() {
        let task = |name: &str, group, index, ok, started_ns, finished_ns| TaskRow {
            name: name.to_string(),
            group,
            index,
            ok,
            started_ns,
            finished_ns,
            ..TaskRow::default()
        };
        let waits = |t: TaskRow, index| TaskRow {
            dependency: DependencyKind::Task,
            dependency_group: Some(1),
            dependency_index: Some(index),
            ..t
        };
        let tasks = [
            task("map", 1, 0, true, 0, 10),
            task("map", 1, 0, false, 20, 30),
            // Rebuilt after its output was lost.
            task("map", 1, 0, true, 45, 50),
            task("map", 1, 1, true, 0, 12),
            waits(task("shuffle", 2, 0, true, 40, 41), 0),
            waits(task("shuffle", 2, 0, true, 60, 61), 0),
            waits(task("shuffle", 2, 1, false, 70, 71), 1),
            // Started in the warm-up.
            waits(task("shuffle", 2, 1, true, 4, 5), 1),
            // Of a kind no map stage runs.
            waits(task("other", 3, 0, true, 90, 91), 0),
        ];
        let maps = [MapStage {
            stage: "shuffled".to_string(),
            task: "shuffle".to_string(),
            input: "maps".to_string(),
        }];
        let h = task_handoffs(&tasks, 5, &maps);
        assert_eq!(
            h,
            BTreeMap::from([("shuffle".to_string(), vec![30.0, 10.0])])
        );
        assert!(task_handoffs(&tasks, 5, &[]).is_empty());
    }

    #[test]
    fn cpu_time_is_read_from_either_side_and_set_side_by_side_in_cores() {
        let dir = std::env::temp_dir().join(format!("cohort-cpu-{}", std::process::id()));
        let (sim, live, peer) = (dir.join("sim"), dir.join("live"), dir.join("peer"));
        for d in [&sim, &live, &peer] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(
            sim.join("manifest.toml"),
            "virtual_end_s = 2.0\n[host]\ncores = 2\ntasks_ns = 1000000000\n\
             set_ups_ns = 200000000\ncopies_ns = 800000000\nhead_ns = 300000000\n",
        )
        .unwrap();
        std::fs::write(
            live.join("manifest.toml"),
            "virtual_end_s = 4.0\n[live]\nspawned = 2\nhead_cpu_ns = 400000000\n",
        )
        .unwrap();
        let mut nodes = cohort_schema::CsvWriter::<NodeRow>::create(&live, &[]).unwrap();
        for (node, cpu_ns) in [(0, 3_000_000_000), (1, 2_000_000_000)] {
            let row = NodeRow {
                node,
                cpu_ns,
                ..NodeRow::default()
            };
            nodes.write(&row).unwrap();
        }
        nodes.finish().unwrap();
        std::fs::write(peer.join("manifest.toml"), "virtual_end_s = 4.0\n").unwrap();
        let (s, l) = (Cpu::read(&sim).unwrap(), Cpu::read(&live).unwrap());
        assert_eq!(Cpu::read(&peer), None, "no CPU time recorded");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            s,
            Cpu {
                span_ns: 2_000_000_000,
                nodes_ns: 2_000_000_000,
                head_ns: Some(300_000_000),
                kinds: Some([1_000_000_000, 200_000_000, 800_000_000]),
            }
        );
        assert_eq!(
            (l.nodes_ns, l.head_ns, l.kinds),
            (5e9 as u64, Some(4e8 as u64), None)
        );
        let row = CompareRow {
            run: "a".to_string(),
            policy: "p".to_string(),
            ..CompareRow::default()
        };
        let notes = BTreeMap::from([(
            "a".to_string(),
            Notes {
                cpu: Some((s, l)),
                ..Notes::default()
            },
        )]);
        let md = markdown(std::slice::from_ref(&row), &[], "live", &notes);
        // Live nodes 5 s over 4 s, simulated 2 s over 2 s: 1.25 cores against 1; the heads
        // 0.4 s over 4 s and 0.3 s over 2 s.
        assert!(
            md.contains(
                "| p | the default point | 0 | 1.250 | 0.100 | 1.000 | 0.500 / 0.100 / 0.400 | \
                 0.150 | ×1.25 |"
            ),
            "{md}"
        );
        let md = markdown(&[row], &[], "live", &BTreeMap::new());
        assert!(!md.contains("CPU time"), "{md}");
    }

    #[test]
    fn transfer_costs_take_the_transfers_from_the_warm_up_on_and_need_ten_of_a_class() {
        let x = |bytes, requested_ns, finished_ns| TransferRow {
            object: 1,
            bytes,
            from: 0,
            to: 1,
            requested_ns,
            flowing_ns: requested_ns,
            finished_ns,
        };
        // Ten small ones of 100 to 1,000 ns after the warm-up (1,000 ns), ten large ones of
        // 1 ns a byte; before the warm-up, one of each far slower.
        let mut all: Vec<TransferRow> = (1..=10)
            .flat_map(|i| {
                [
                    x(8, 1_000, 1_000 + 100 * i),
                    x(1 << 20, 1_000, 1_000 + (1 << 20)),
                ]
            })
            .collect();
        all.extend([x(8, 0, 1_000_000_000), x(1 << 20, 0, 1 << 30)]);
        // (The median is the nearest rank's: the fifth of ten.)
        assert_eq!(transfer_costs(&all, 1_000), (Some(500.0), Some(1.0)));
        // With nine of a class after the warm-up, no median for it.
        all.retain(|t| !(t.bytes == 8 && t.finished_ns == 2_000));
        assert_eq!(transfer_costs(&all, 1_000), (None, Some(1.0)));
    }

    #[test]
    fn a_map_stage_is_one_that_waits_for_one_task_of_a_per_iteration_stage() {
        let stage = |name: &str, op: StageOp, scope: Scope| Stage {
            name: name.to_string(),
            op,
            scope,
        };
        let map = |input: usize, repeat: usize, fan_in: usize| StageOp::Map {
            task: "t".to_string(),
            input,
            repeat,
            fan_in,
        };
        let broadcast = || StageOp::Broadcast {
            task: "b".to_string(),
            width: 2,
        };
        let stages = [
            stage("data", broadcast(), Scope::Once),
            stage("maps", map(0, 1, 1), Scope::Iteration),
            stage("shuffled", map(1, 1, 1), Scope::Iteration),
            stage("chained", map(1, 2, 1), Scope::Iteration),
            stage("fanned", map(1, 1, 2), Scope::Iteration),
            stage("once", map(1, 1, 1), Scope::Once),
            stage("fresh", broadcast(), Scope::Iteration),
            stage("over_fresh", map(6, 1, 1), Scope::Iteration),
        ];
        // `maps` reads a stage built once: its inputs were ready long before; `over_fresh`
        // a broadcast, whose tasks it does not wait for one by one.
        assert_eq!(
            map_stages(&stages),
            vec![MapStage {
                stage: "shuffled".to_string(),
                task: "t".to_string(),
                input: "maps".to_string(),
            }]
        );
    }

    #[test]
    fn a_run_is_settling_when_its_earlier_half_is_well_above_its_later() {
        let ms = 1_000_000;
        // Ten datapoints out of ingest order: 60, 50, .., 20 ms, then 10 ms five times.
        let falling: Vec<(u64, u64)> = (0..10u64)
            .rev()
            .map(|i| (i, if i < 5 { (6 - i) * 10 * ms } else { 10 * ms }))
            .collect();
        let s = Settling::of(falling).unwrap();
        assert_eq!((s.earlier_ms, s.later_ms), (40.0, 10.0));
        assert!(s.still());
        let level: Vec<(u64, u64)> = (0..10).map(|i| (i, (14 + i % 2) * ms)).collect();
        let s = Settling::of(level).unwrap();
        assert!(!s.still(), "{s:?}");
        // Climbing (a run falling behind) is not settling; too few datapoints say nothing.
        let climbing: Vec<(u64, u64)> = (0..10).map(|i| (i, (i + 1) * 10 * ms)).collect();
        assert!(!Settling::of(climbing).unwrap().still());
        assert_eq!(Settling::of(vec![(0, 90 * ms); 9]), None);
        // Exactly 1.5x is not above it.
        let edge: Vec<(u64, u64)> = (0..10)
            .map(|i| (i, if i < 5 { 15 * ms } else { 10 * ms }))
            .collect();
        assert!(!Settling::of(edge).unwrap().still());
    }
}
