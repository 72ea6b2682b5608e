//! An iteration's timeline, for `cohort compare`: when each of its stages ran, counted from
//! the iteration's ingest, on either side of a comparison, and where the two sides part.
//!
//! A cohort run names each task's stage and iteration in `tasks.csv`; a peer's run names its
//! work the same way in `placements.csv` (its method calls as the stage `call`). Both write
//! `latencies.csv`, whose datapoints give each iteration's ingest and arrivals. So the
//! timeline is read alike from a simulated run, a live one and a real Ray's, and it needs no
//! durations: a peer times its tasks' code alone, while the model's task includes what it
//! costs to start it. (A peer's `call` rows name no stage: in a workload with two stages of
//! method calls, the peer's side shows both stages' calls under each.)

use crate::stats::median;
use cohort_schema::{CsvReader, LatencyRow};
use cohort_workloads::resolve::{Stage, StageOp};
use cohort_workloads::schema::Scope;
use std::collections::BTreeMap;
use std::path::Path;

/// The stage a peer's `placements.csv` names its actors' method calls by.
const PEER_CALLS: &str = "call";

/// A stage built every iteration, whose work the timeline follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineStage {
    /// The workload's name for it (what `tasks.csv` says).
    pub name: String,
    /// What a peer's `placements.csv` calls it: its name, or `call` for method calls.
    pub peer: String,
}

/// The stages of `stages` built every iteration, in the workload's order.
pub fn timeline_stages(stages: &[Stage]) -> Vec<TimelineStage> {
    stages
        .iter()
        .filter(|s| s.scope == Scope::Iteration)
        .map(|s| TimelineStage {
            name: s.name.clone(),
            peer: match s.op {
                StageOp::ReduceActors { .. } => PEER_CALLS.to_string(),
                _ => s.name.clone(),
            },
        })
        .collect()
}

/// When one stage ran in an iteration: medians over the measured iterations of its first
/// start and of its last end, in ms from the iteration's ingest.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// The stage (the workload's name).
    pub stage: String,
    /// Its first piece of work started this long after the ingest, ms.
    pub start_ms: f64,
    /// Its last piece of work ended this long after the ingest, ms.
    pub end_ms: f64,
}

/// A run's typical iteration: each stage's [`Span`] (those with work in a measured
/// iteration, in the workload's order), then the median of each measured iteration's last
/// arrival, ms from its ingest. Measured iterations are those none of whose datapoints is in
/// the warm-up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    /// The stages.
    pub spans: Vec<Span>,
    /// The last datapoint's arrival, ms after the ingest.
    pub arrival_ms: Option<f64>,
}

/// One piece of work as the timeline sees it: `(stage, iteration, started ns, finished
/// ns)`, the stage named as its file names it (a cohort run's successful work in `tasks.csv`,
/// or a peer's in `placements.csv`).
pub type Work = (String, u64, i128, i128);

impl Timeline {
    /// The timeline of `work` (read from `run_dir`, a peer's if `peer`) by `run_dir`'s
    /// `latencies.csv`; `None` when that does not read.
    pub fn read(
        run_dir: &Path,
        work: &[Work],
        stages: &[TimelineStage],
        peer: bool,
    ) -> Option<Timeline> {
        let mut reader = CsvReader::<LatencyRow>::open(run_dir).ok()?;
        let mut points = Vec::new();
        for row in reader.rows() {
            let (_, l) = row.ok()?;
            points.push((l.iteration, l.ingest_ns, l.arrival_ns, l.warmup));
        }
        Some(Timeline::of(&points, work, stages, peer))
    }

    /// The timeline of datapoints `(iteration, ingest ns, arrival ns, in the warm-up)` and
    /// `work`, whose stages are named as a peer names them if `peer`.
    fn of(
        points: &[(u64, u64, u64, bool)],
        work: &[Work],
        stages: &[TimelineStage],
        peer: bool,
    ) -> Timeline {
        // Each iteration's ingest and last arrival, and whether it is measured.
        let mut iterations: BTreeMap<u64, (u64, u64, bool)> = BTreeMap::new();
        for &(iteration, ingest, arrival, warmup) in points {
            let it = iterations
                .entry(iteration)
                .or_insert((ingest, arrival, true));
            it.1 = it.1.max(arrival);
            it.2 &= !warmup;
        }
        let ms = |ns: i128| ns as f64 / 1e6;
        let mut spans = Vec::new();
        for stage in stages {
            let name = if peer { &stage.peer } else { &stage.name };
            // Each measured iteration's first start and last end.
            let mut by_iteration: BTreeMap<u64, (i128, i128)> = BTreeMap::new();
            for (_, iteration, started, finished) in work.iter().filter(|w| w.0 == *name) {
                if !iterations.get(iteration).is_some_and(|it| it.2) {
                    continue;
                }
                let span = by_iteration
                    .entry(*iteration)
                    .or_insert((*started, *finished));
                span.0 = span.0.min(*started);
                span.1 = span.1.max(*finished);
            }
            let since_ingest = |at: fn(&(i128, i128)) -> i128| {
                let values = by_iteration
                    .iter()
                    .map(|(iteration, span)| ms(at(span) - i128::from(iterations[iteration].0)))
                    .collect();
                median(values)
            };
            if let (Some(start_ms), Some(end_ms)) = (since_ingest(|s| s.0), since_ingest(|s| s.1)) {
                spans.push(Span {
                    stage: stage.name.clone(),
                    start_ms,
                    end_ms,
                });
            }
        }
        let arrivals = iterations
            .values()
            .filter(|it| it.2)
            .map(|&(ingest, arrival, _)| ms(i128::from(arrival) - i128::from(ingest)))
            .collect();
        Timeline {
            spans,
            arrival_ms: median(arrivals),
        }
    }

    /// The moments [`parting`] steps along, named: the first stage's start, then each
    /// stage's end. Not the later stages' starts: a stage may start before the one it reads
    /// ends (a shuffle as soon as its own map ends), so a start can fall before the moment
    /// that comes before it, and the two sides would seem to part and meet again there.
    fn moments(&self) -> Vec<(String, f64)> {
        let first = self
            .spans
            .first()
            .map(|s| (format!("{} start", s.stage), s.start_ms));
        first
            .into_iter()
            .chain(
                self.spans
                    .iter()
                    .map(|s| (format!("{} end", s.stage), s.end_ms)),
            )
            .collect()
    }
}

/// Where `reference` and `sim` part the most: of the moments both have (the ingest, the first
/// stage's start, each stage's end), the two consecutive ones between which the reference
/// takes longer than the simulation by the most, or shorter by the most if that is more, as
/// `(from, to, reference's time there minus the simulation's, ms)`. Positive: time the model
/// is missing there; negative: time it adds. `None` without a moment in common.
pub fn parting(sim: &Timeline, reference: &Timeline) -> Option<(String, String, f64)> {
    let sim_moments: BTreeMap<String, f64> = sim.moments().into_iter().collect();
    let mut previous = ("ingest".to_string(), 0.0, 0.0);
    let mut most: Option<(String, String, f64)> = None;
    for (name, r) in reference.moments() {
        let Some(&s) = sim_moments.get(&name) else {
            continue;
        };
        let gap = (r - previous.1) - (s - previous.2);
        if most.as_ref().is_none_or(|m| gap.abs() > m.2.abs()) {
            most = Some((previous.0.clone(), name.clone(), gap));
        }
        previous = (name, r, s);
    }
    most
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages() -> Vec<TimelineStage> {
        ["maps", "shuffled"]
            .iter()
            .map(|s| TimelineStage {
                name: s.to_string(),
                peer: s.to_string(),
            })
            .chain([TimelineStage {
                name: "reduce".to_string(),
                peer: PEER_CALLS.to_string(),
            }])
            .collect()
    }

    fn work(stage: &str, iteration: u64, started_ms: i128, finished_ms: i128) -> Work {
        (
            stage.to_string(),
            iteration,
            started_ms * 1_000_000,
            finished_ms * 1_000_000,
        )
    }

    #[test]
    fn only_the_stages_built_every_iteration_are_followed_and_calls_by_their_peer_name() {
        let toml = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../workloads/files/streaming.toml"
        ))
        .unwrap();
        let w = cohort_workloads::Workload::parse("streaming.toml", &toml)
            .unwrap()
            .resolve(&BTreeMap::new())
            .unwrap();
        let got: Vec<(String, String)> = timeline_stages(&w.stages)
            .into_iter()
            .map(|s| (s.name, s.peer))
            .collect();
        let want = [
            ("maps", "maps"),
            ("shuffled", "shuffled"),
            ("reduce", "call"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn spans_are_medians_over_the_measured_iterations_from_each_ingest() {
        // Iterations 0 (in the warm-up), 1, 2 and 3, 100 ms apart; iteration 2 has one
        // datapoint in the warm-up, so only 1 and 3 are measured.
        let points = [
            (0, 0, 30_000_000, true),
            (1, 100_000_000, 125_000_000, false),
            (1, 100_000_000, 128_000_000, false),
            (2, 200_000_000, 260_000_000, true),
            (2, 200_000_000, 270_000_000, false),
            (3, 300_000_000, 322_000_000, false),
        ];
        let mut w = vec![
            work("maps", 0, 50, 90),
            work("maps", 1, 101, 104),
            work("maps", 1, 102, 109),
            work("maps", 2, 250, 290),
            work("maps", 3, 303, 305),
            work("shuffled", 1, 110, 111),
            work("shuffled", 3, 306, 315),
            // Another stage's work is not counted, nor an iteration without datapoints.
            work("other", 1, 100, 200),
            work("maps", 7, 0, 1),
        ];
        let t = Timeline::of(&points, &w, &stages(), false);
        // Nearest rank: the median of two is the lower.
        let want = Timeline {
            spans: vec![
                Span {
                    stage: "maps".to_string(),
                    start_ms: 1.0,
                    end_ms: 5.0,
                },
                Span {
                    stage: "shuffled".to_string(),
                    start_ms: 6.0,
                    end_ms: 11.0,
                },
            ],
            arrival_ms: Some(22.0),
        };
        assert_eq!(t, want);
        // Read as a peer's: the reduce stage's work is the `call` rows.
        w.push(work("call", 1, 120, 121));
        w.push(work("reduce", 3, 330, 335));
        let peer = Timeline::of(&points, &w, &stages(), true);
        assert_eq!(peer.spans[2].stage, "reduce");
        assert_eq!((peer.spans[2].start_ms, peer.spans[2].end_ms), (20.0, 21.0));
        let own = Timeline::of(&points, &w, &stages(), false);
        assert_eq!((own.spans[2].start_ms, own.spans[2].end_ms), (30.0, 35.0));
        assert_eq!(own.spans.len(), 3);
    }

    #[test]
    fn a_peer_clock_before_the_ingest_gives_a_negative_time_not_a_wrap() {
        let points = [(0, 5_000_000, 9_000_000, false)];
        let t = Timeline::of(&points, &[work("maps", 0, 2, 3)], &stages(), true);
        assert_eq!((t.spans[0].start_ms, t.spans[0].end_ms), (-3.0, -2.0));
    }

    #[test]
    fn the_sides_part_where_the_reference_gains_most_on_the_model() {
        let span = |stage: &str, start_ms, end_ms| Span {
            stage: stage.to_string(),
            start_ms,
            end_ms,
        };
        let sim = Timeline {
            spans: vec![span("maps", 0.5, 18.0), span("shuffled", 18.0, 34.0)],
            arrival_ms: Some(36.0),
        };
        let reference = Timeline {
            spans: vec![span("maps", 11.5, 22.0), span("shuffled", 44.0, 52.0)],
            arrival_ms: Some(52.0),
        };
        // Gaps: ingest→maps start +11, maps start→end -7, maps end→shuffled end +14. Not
        // maps end→shuffled start (+22), nor shuffled start→end (-8): the model's shuffles
        // start before its maps end.
        assert_eq!(
            parting(&sim, &reference),
            Some(("maps end".to_string(), "shuffled end".to_string(), 14.0))
        );
        // A larger loss wins over a smaller gain.
        let slow = Timeline {
            spans: vec![span("maps", 0.5, 60.0)],
            arrival_ms: None,
        };
        let quick = Timeline {
            spans: vec![span("maps", 1.5, 11.0)],
            arrival_ms: None,
        };
        assert_eq!(
            parting(&slow, &quick),
            Some(("maps start".to_string(), "maps end".to_string(), -50.0))
        );
        // Moments one side lacks are stepped over; none in common: nothing.
        let bare = Timeline {
            spans: vec![span("shuffled", 10.0, 20.0)],
            arrival_ms: Some(40.0),
        };
        assert_eq!(
            parting(&bare, &reference),
            Some(("ingest".to_string(), "shuffled end".to_string(), 32.0))
        );
        assert_eq!(parting(&Timeline::default(), &reference), None);
    }
}
