//! `cohort run WORKLOAD --replay PLACEMENTS`: the workload placed as a recorded run placed
//! it, so that the simulator's costs can be judged apart from a policy's decisions. The
//! recording is a `placements.csv` (a peer's run writes one: `peers/ray/`), which names each
//! piece of work by its stage, iteration and index rather than by cohort's ids.
//!
//! The driver tells the [`Replay`] policy which stage and iteration each stage's output group
//! is ([`cohort_workloads::drive_observed`]; not the levels of a repeated map before its last,
//! which a peer's recording names by the stage alone); the policy places each task on the node the
//! recording gives for its stage, iteration and index. A task the recording has at another
//! iteration only (the replay ran longer) takes the node of the latest recorded iteration
//! before its own, else of the first. An actor goes where the recording ran its pool's work
//! of the same index: rows of its pool's stage, else the peer's `call` rows (which name no
//! pool: right for a workload with one actor pool). Work the recording does not have at all
//! goes to node `index % nodes`, and is counted ([`Tally`]).

use anyhow::{Context, Result};
use cohort_runtime::policy::{GroupId, NodeId, Placement, PlacementView, Policy, WorkKind};
use cohort_schema::{CsvReader, PlacementRow, Row, SummaryRow, TaskRow};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The stage the peer's rows of actor method calls name.
const CALL: &str = "call";

/// A recorded run's placements: by stage and index, the node at each recorded iteration.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    nodes: BTreeMap<(String, u32), BTreeMap<u64, u32>>,
    /// The file they were read from.
    pub path: PathBuf,
    /// The recorded run's policy, as the `manifest.toml` beside the file names it (`None`
    /// without one).
    pub policy: Option<String>,
}

impl Recorded {
    /// Reads `path`: a `placements.csv` (or `.csv.gz`), or a run directory holding one, or a
    /// cohort run's directory (its `tasks.csv`). Rows whose node the peer could not name
    /// (negative) are left out.
    pub fn load(path: &Path) -> Result<Recorded> {
        let dir = if path.is_dir() {
            path.to_path_buf()
        } else {
            let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !file_name.starts_with(PlacementRow::FILE) {
                anyhow::bail!(
                    "--replay {}: expected a {} (or a run directory holding one)",
                    path.display(),
                    PlacementRow::FILE
                );
            }
            path.parent().unwrap_or(Path::new(".")).to_path_buf()
        };
        // Only to name the replay: a manifest that does not read names nothing.
        let policy = RunManifest::read(&dir).ok().flatten().map(|m| m.policy);
        Recorded::read(&dir, path, policy)
    }

    /// Reads the placements in `dir` (asked for as `path`) of a run placed by `policy`: its
    /// `placements.csv` (rows whose node the peer could not name left out), or a cohort
    /// run's `tasks.csv` (each task named by stage and iteration, at the node of its last
    /// attempt; work no stage built, and files written before those columns, name none).
    fn read(dir: &Path, path: &Path, policy: Option<String>) -> Result<Recorded> {
        if cohort_schema::stored::<PlacementRow>(dir).is_none()
            && cohort_schema::stored::<TaskRow>(dir).is_some()
        {
            return Recorded::gather(
                dir,
                path,
                policy,
                "task in it names its stage (written \
                before tasks.csv did)",
                |t: TaskRow| Some((t.stage, t.index, t.iteration?, t.node)),
            );
        }
        Recorded::gather(
            dir,
            path,
            policy,
            "placement in it to replay",
            |r: PlacementRow| Some((r.stage, r.index, r.iteration, u32::try_from(r.node).ok()?)),
        )
    }

    /// The placements `place` finds in the rows of `dir`'s `R` file, each as `(stage,
    /// index, iteration, node)`; refused as having "no `what`" when there are none.
    fn gather<R: Row>(
        dir: &Path,
        path: &Path,
        policy: Option<String>,
        what: &str,
        place: impl Fn(R) -> Option<(String, u32, u64, u32)>,
    ) -> Result<Recorded> {
        let mut reader =
            CsvReader::<R>::open(dir).with_context(|| format!("--replay {}", path.display()))?;
        // The file read (plain or gzipped), which the manifest names and hashes.
        let mut recorded = Recorded {
            path: reader.path().to_path_buf(),
            policy,
            ..Recorded::default()
        };
        for row in reader.rows() {
            let (_, r) = row.with_context(|| format!("--replay {}", path.display()))?;
            if let Some((stage, index, iteration, node)) = place(r) {
                recorded
                    .nodes
                    .entry((stage, index))
                    .or_default()
                    .insert(iteration, node);
            }
        }
        if recorded.nodes.is_empty() {
            anyhow::bail!("--replay {}: no {what}", recorded.path.display());
        }
        Ok(recorded)
    }

    /// What a replay of it is called: `replay-` and the recorded policy, or `replay`.
    pub fn name(&self) -> String {
        self.policy
            .as_deref()
            .map_or_else(|| "replay".to_string(), |p| format!("replay-{p}"))
    }

    /// The node of `stage`'s work `index` at `iteration`: exact, or of another recorded
    /// iteration (see the module's documentation) and then `false`.
    fn task(&self, stage: &str, iteration: u64, index: u32) -> Option<(u32, bool)> {
        let by_iteration = self.nodes.get(&(stage.to_string(), index))?;
        if let Some(&node) = by_iteration.get(&iteration) {
            return Some((node, true));
        }
        let (_, &node) = by_iteration
            .range(..iteration)
            .next_back()
            .or_else(|| by_iteration.iter().next())?;
        Some((node, false))
    }

    /// The node of actor `index` of the pool built by `stage`.
    fn actor(&self, stage: &str, index: u32) -> Option<u32> {
        [stage, CALL].iter().find_map(|s| {
            let by_iteration = self.nodes.get(&(s.to_string(), index))?;
            by_iteration.values().next().copied()
        })
    }
}

/// What a recorded run's `manifest.toml` says that a replay needs.
#[derive(Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub struct RunManifest {
    /// The policy that placed the run.
    pub policy: String,
    /// Its seed.
    pub seed: u64,
    /// The values set for it (`--set`, or a sweep's point): what it ran with besides the
    /// workload's own.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Every workload parameter's value in the run, as written.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// SHA-256 of the workload file's text it ran, hex.
    #[serde(default)]
    pub workload_sha256: Option<String>,
}

impl RunManifest {
    /// Reads `dir/manifest.toml`; `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<RunManifest>> {
        let path = dir.join("manifest.toml");
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let m = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        Ok(Some(m))
    }
}

/// A sweep directory of recorded runs, each with its `placements.csv` (a peer's sweep:
/// `peers/ray/`), which `cohort compare --replay` simulates run by run.
#[derive(Debug)]
pub struct RecordedSweep {
    /// Its directory.
    pub dir: PathBuf,
    /// The workload its runs ran.
    pub workload: String,
    /// What ran them, as its `sweep.toml` says (`runtime`, e.g. `ray`); `recorded` if it
    /// does not say.
    pub runtime: String,
    /// The parameters it swept.
    pub swept: Vec<String>,
    /// Its runs, in its `summary.csv`'s order.
    pub runs: Vec<RecordedRun>,
}

/// One run of a [`RecordedSweep`].
#[derive(Debug)]
pub struct RecordedRun {
    /// Its row of the sweep's `summary.csv`.
    pub summary: SummaryRow,
    /// What its manifest says.
    pub manifest: RunManifest,
    /// Its placements.
    pub recorded: Arc<Recorded>,
}

/// The part of a `sweep.toml` a replay reads.
#[derive(serde::Deserialize)]
struct SweepHead {
    workload: String,
    #[serde(default)]
    swept: Vec<String>,
    runtime: Option<String>,
}

impl RecordedSweep {
    /// Reads the sweep in `dir`: its `sweep.toml`, its `summary.csv`, and each run's
    /// manifest and placements.
    pub fn load(dir: &Path) -> Result<RecordedSweep> {
        let shown = || format!("--replay {}", dir.display());
        let head = dir.join("sweep.toml");
        let text = std::fs::read_to_string(&head).with_context(|| {
            format!(
                "{}: not a sweep directory (no readable sweep.toml)",
                shown()
            )
        })?;
        let head: SweepHead =
            toml::from_str(&text).with_context(|| format!("{}", head.display()))?;
        let mut reader = CsvReader::<SummaryRow>::open(dir).with_context(shown)?;
        let mut runs = Vec::new();
        for row in reader.rows() {
            let (_, summary) = row.with_context(shown)?;
            let mut parts = Path::new(&summary.run).components();
            if !matches!(
                (parts.next(), parts.next()),
                (Some(std::path::Component::Normal(_)), None)
            ) {
                anyhow::bail!(
                    "{}: its summary.csv names a run `{}`, which is not a directory name",
                    shown(),
                    summary.run
                );
            }
            let run_dir = dir.join("runs").join(&summary.run);
            let manifest = RunManifest::read(&run_dir)?.with_context(|| {
                format!("{}: run {} has no manifest.toml", shown(), summary.run)
            })?;
            let placed_by = Some(manifest.policy.clone());
            let recorded = Arc::new(Recorded::read(&run_dir, &run_dir, placed_by)?);
            runs.push(RecordedRun {
                summary,
                manifest,
                recorded,
            });
        }
        if runs.is_empty() {
            anyhow::bail!("{}: its summary.csv has no run to replay", shown());
        }
        Ok(RecordedSweep {
            dir: dir.to_path_buf(),
            workload: head.workload,
            runtime: head.runtime.unwrap_or_else(|| "recorded".to_string()),
            swept: head.swept,
            runs,
        })
    }
}

/// Which stage and iteration each live group is, as the driver tells it.
pub type Groups = Arc<Mutex<BTreeMap<GroupId, (String, u64)>>>;

/// How a replay went: placements as recorded, from another recorded iteration, and not in
/// the recording. The run's manifest holds it as its `[replay]` table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    /// Placed as recorded (actors: as their pool's work of their index was).
    pub recorded: u64,
    /// Placed as the same stage and index at another iteration.
    pub from_another_iteration: u64,
    /// Not in the recording: placed on node `index % nodes`.
    pub not_recorded: u64,
}

/// The replaying policy. See the module's documentation.
pub struct Replay {
    recorded: Arc<Recorded>,
    groups: Groups,
    tally: Arc<Mutex<Tally>>,
}

impl Replay {
    /// A replay of `recorded`, told the groups through `groups`, counting into `tally`.
    pub fn new(recorded: Arc<Recorded>, groups: Groups, tally: Arc<Mutex<Tally>>) -> Replay {
        Replay {
            recorded,
            groups,
            tally,
        }
    }
}

impl Policy for Replay {
    fn name(&self) -> &str {
        "replay"
    }

    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        let nodes = view.nodes.len().max(1) as u32;
        let index = view.hints.index;
        let group = self
            .groups
            .lock()
            .ok()
            .and_then(|g| g.get(&view.hints.group).cloned());
        let found = group.and_then(|(stage, iteration)| match view.kind {
            WorkKind::ActorCreation => self.recorded.actor(&stage, index).map(|n| (n, true)),
            _ => self.recorded.task(&stage, iteration, index),
        });
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        let node = match found.filter(|(n, _)| *n < nodes) {
            Some((node, true)) => {
                tally.recorded += 1;
                node
            }
            Some((node, false)) => {
                tally.from_another_iteration += 1;
                node
            }
            None => {
                tally.not_recorded += 1;
                index % nodes
            }
        };
        Placement::Node(NodeId(node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(rows: &[(&str, u64, u32, u32)]) -> Recorded {
        let mut r = Recorded::default();
        for &(stage, iteration, index, node) in rows {
            r.nodes
                .entry((stage.to_string(), index))
                .or_default()
                .insert(iteration, node);
        }
        r
    }

    #[test]
    fn a_task_takes_its_recorded_node_else_an_earlier_iterations_else_the_first() {
        let r = recorded(&[("maps", 1, 0, 2), ("maps", 3, 0, 1), ("maps", 1, 1, 0)]);
        assert_eq!(r.task("maps", 1, 0), Some((2, true)));
        assert_eq!(r.task("maps", 3, 0), Some((1, true)));
        assert_eq!(r.task("maps", 2, 0), Some((2, false)));
        assert_eq!(r.task("maps", 9, 0), Some((1, false)));
        assert_eq!(r.task("maps", 0, 0), Some((2, false)));
        assert_eq!(r.task("maps", 0, 2), None);
        assert_eq!(r.task("shuffled", 1, 0), None);
    }

    #[test]
    fn an_actor_takes_its_pools_node_else_the_peers_calls() {
        let r = recorded(&[("call", 4, 1, 2), ("call", 2, 1, 0), ("pool", 0, 0, 1)]);
        assert_eq!(r.actor("pool", 0), Some(1));
        // The earliest recorded call of actor 1.
        assert_eq!(r.actor("pool", 1), Some(0));
        assert_eq!(r.actor("pool", 5), None);
    }
}
