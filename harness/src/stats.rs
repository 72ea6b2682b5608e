//! Statistics of a run: latency quantiles and CPU utilization, from the trace.

use cohort_runtime::trace::TaskRecord;
use cohort_runtime::{Datapoint, Nanos, NodeEvent, NodeRecord};
use cohort_schema::quantile;

/// Latency statistics over the measured (post-warm-up) datapoints, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    /// Datapoints measured.
    pub count: usize,
    /// Mean.
    pub mean_ms: f64,
    /// Median (nearest rank).
    pub p50_ms: f64,
    /// 90th percentile (nearest rank).
    pub p90_ms: f64,
    /// 99th percentile (nearest rank).
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

/// Whether a datapoint falls in the warm-up.
pub fn is_warmup(d: &Datapoint, warmup: Nanos) -> bool {
    d.ingest < warmup
}

/// Latency statistics of the datapoints ingested at or after `warmup`. Quantiles use the
/// nearest-rank definition ([`quantile`]).
pub fn latency(points: &[Datapoint], warmup: Nanos) -> Latency {
    let mut ns: Vec<Nanos> = points
        .iter()
        .filter(|d| !is_warmup(d, warmup))
        .map(Datapoint::latency)
        .collect();
    if ns.is_empty() {
        return Latency::default();
    }
    ns.sort_unstable();
    let ms = |v: Nanos| v as f64 / 1e6;
    let rank = |q: f64| quantile(&ns, q).map_or(0.0, ms);
    let sum: u128 = ns.iter().map(|v| u128::from(*v)).sum();
    Latency {
        count: ns.len(),
        mean_ms: sum as f64 / ns.len() as f64 / 1e6,
        p50_ms: rank(0.5),
        p90_ms: rank(0.9),
        p99_ms: rank(0.99),
        max_ms: ms(ns[ns.len() - 1]),
    }
}

/// How fast latency grows over the measured datapoints (ingested at or after `warmup`): the
/// least-squares slope of latency in ms against ingest time in s, in ms per s. 0 with fewer
/// than two measured datapoints, or when they were all ingested at the same time.
///
/// Sums run in datapoint order over values centred on their means, so the result is the same
/// on every platform for the same trace.
pub fn growth(points: &[Datapoint], warmup: Nanos) -> f64 {
    let measured: Vec<&Datapoint> = points.iter().filter(|d| !is_warmup(d, warmup)).collect();
    let Some(first) = measured.first() else {
        return 0.0;
    };
    if measured.len() < 2 {
        return 0.0;
    }
    // Ingest times relative to the first one keep the seconds small and exact enough.
    let x = |d: &Datapoint| (d.ingest as f64 - first.ingest as f64) / 1e9;
    let y = |d: &Datapoint| d.latency() as f64 / 1e6;
    let n = measured.len() as f64;
    let mean_x = measured.iter().map(|d| x(d)).sum::<f64>() / n;
    let mean_y = measured.iter().map(|d| y(d)).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for d in &measured {
        let dx = x(d) - mean_x;
        sxy += dx * (y(d) - mean_y);
        sxx += dx * dx;
    }
    if sxx > 0.0 { sxy / sxx } else { 0.0 }
}

/// How long the first kill held data up, in ms from the kill: to the first and to the last
/// arrival of a datapoint it held up, i.e. arriving after the kill with a latency above every
/// latency of the datapoints that arrived before it. `None` without a kill, or if none was held
/// up (the dead node held nothing the data needed).
pub fn recovery(points: &[Datapoint], nodes: &[NodeRecord]) -> Option<(f64, f64)> {
    let kill = nodes.iter().find(|r| r.event == NodeEvent::Killed)?;
    let normal = points
        .iter()
        .filter(|d| d.arrival < kill.at)
        .map(Datapoint::latency)
        .max()
        .unwrap_or(0);
    let held = points
        .iter()
        .filter(|d| d.arrival >= kill.at && d.latency() > normal)
        .map(|d| d.arrival);
    let (first, last) = held.fold(None, |acc: Option<(Nanos, Nanos)>, a| {
        Some(acc.map_or((a, a), |(f, l)| (f.min(a), l.max(a))))
    })?;
    let ms = |t: Nanos| (t - kill.at) as f64 / 1e6;
    Some((ms(first), ms(last)))
}

/// Busy CPU-slot time of each node within `[from, to)`, as a fraction of its capacity.
pub fn utilization(tasks: &[TaskRecord], cpus: &[u32], from: Nanos, to: Nanos) -> Vec<f64> {
    let mut busy = vec![0u128; cpus.len()];
    for t in tasks {
        let (s, e) = (t.started.max(from), t.finished.min(to));
        if e > s {
            busy[t.node.index()] += u128::from(e - s) * u128::from(t.cpus);
        }
    }
    let span = to.saturating_sub(from).max(1) as f64;
    busy.iter()
        .zip(cpus)
        .map(|(b, c)| *b as f64 / (span * f64::from(*c)))
        .collect()
}

/// Per-node utilization in consecutive windows of `window` ns over `[0, end)`: rows of
/// `(node, window start, busy fraction)`, node-major.
pub fn utilization_windows(
    tasks: &[TaskRecord],
    cpus: &[u32],
    window: Nanos,
    end: Nanos,
) -> Vec<(usize, Nanos, f64)> {
    let window = window.max(1);
    let windows = end.div_ceil(window) as usize;
    let mut busy = vec![vec![0u128; windows]; cpus.len()];
    for t in tasks {
        if t.cpus == 0 || t.finished <= t.started {
            continue;
        }
        let mut at = t.started;
        while at < t.finished && at < end {
            let w = (at / window) as usize;
            let w_end = ((w as u64 + 1) * window).min(t.finished);
            busy[t.node.index()][w] += u128::from(w_end - at) * u128::from(t.cpus);
            at = w_end;
        }
    }
    let mut rows = Vec::with_capacity(cpus.len() * windows);
    for (node, per) in busy.iter().enumerate() {
        for (w, b) in per.iter().enumerate() {
            let start = w as u64 * window;
            let len = (start + window).min(end) - start;
            rows.push((
                node,
                start,
                *b as f64 / (len as f64 * f64::from(cpus[node])),
            ));
        }
    }
    rows
}

/// The median of `values` (nearest rank: of two, the lower), `None` if there are none.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    quantile(&values, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cohort_runtime::policy::{Hints, NodeId, TaskId, WorkKind};

    fn point(ingest: u64, arrival: u64) -> Datapoint {
        Datapoint {
            tag: 0,
            ingest,
            arrival,
            task: TaskId(1),
            index: 0,
            node: NodeId(0),
        }
    }

    fn task(node: u32, cpus: u32, started: u64, finished: u64) -> TaskRecord {
        TaskRecord {
            task: TaskId(1),
            kind: WorkKind::Task,
            name: "t".into(),
            hints: Hints::NONE,
            node: NodeId(node),
            cpus,
            submitted: 0,
            args_local: started,
            started,
            finished,
            input_bytes: 0,
            output_bytes: 0,
            ok: true,
        }
    }

    #[test]
    fn recovery_spans_the_datapoints_a_kill_held_up() {
        let ms = 1_000_000;
        let kill = |at| NodeRecord {
            node: NodeId(2),
            event: NodeEvent::Killed,
            at,
        };
        // Before the kill at 100 ms latencies are at most 5 ms; after it, two are held up
        // (40 and 30 ms), and one is as fast as before.
        let pts = [
            point(0, 5 * ms),
            point(50 * ms, 53 * ms),
            point(90 * ms, 130 * ms),
            point(100 * ms, 104 * ms),
            point(110 * ms, 140 * ms),
        ];
        assert_eq!(recovery(&pts, &[kill(100 * ms)]), Some((30.0, 40.0)));
        // Nothing held up (the node held nothing the data needed): no recovery time.
        assert_eq!(recovery(&pts[..2], &[kill(20 * ms)]), None);
        // No kill: none either.
        assert_eq!(recovery(&pts, &[]), None);
    }

    #[test]
    fn quantiles_use_nearest_rank_and_skip_warmup() {
        // Latencies 1..=100 ms after warm-up; one huge point during warm-up.
        let mut pts: Vec<Datapoint> = (1..=100u64)
            .map(|i| point(1_000_000_000, 1_000_000_000 + i * 1_000_000))
            .collect();
        pts.push(point(0, 999_000_000));
        let l = latency(&pts, 500_000_000);
        assert_eq!(l.count, 100);
        assert_eq!(l.mean_ms, 50.5);
        assert_eq!(
            (l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms),
            (50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(latency(&pts[..0], 0), Latency::default());
    }

    #[test]
    fn growth_is_the_least_squares_slope_over_the_measured_datapoints() {
        let (s, ms) = (1_000_000_000u64, 1_000_000u64);
        // Latency 5 ms + 2 ms per s of ingest time, at 10, 11, 12 and 13 s; one warm-up
        // datapoint (ingested at 1 s, 900 ms late) is left out.
        let mut pts: Vec<Datapoint> = (0..4u64)
            .map(|k| point((10 + k) * s, (10 + k) * s + (5 + 2 * k) * ms))
            .collect();
        pts.insert(0, point(s, s + 900 * ms));
        assert_eq!(growth(&pts, 5 * s), 2.0);
        // Not on a line: latencies 1, 3, 2, 6 ms at 0, 1, 2, 3 s. Centred: x -1.5, -0.5, 0.5,
        // 1.5 and y -2, 0, -1, 3, so the slope is (3 + 0 - 0.5 + 4.5) / 5 = 1.4 ms/s.
        let pts: Vec<Datapoint> = [1u64, 3, 2, 6]
            .iter()
            .enumerate()
            .map(|(k, l)| point(k as u64 * s, k as u64 * s + l * ms))
            .collect();
        assert_eq!(growth(&pts, 0), 1.4);
        // Falling latency is a negative growth.
        let falling: Vec<Datapoint> = (0..3u64)
            .map(|k| point(k * s, k * s + (9 - 3 * k) * ms))
            .collect();
        assert_eq!(growth(&falling, 0), -3.0);
        // Fewer than two measured datapoints, or all ingested at once: 0.
        assert_eq!(growth(&[], 0), 0.0);
        assert_eq!(growth(&pts[..1], 0), 0.0);
        assert_eq!(growth(&pts, 10 * s), 0.0);
        assert_eq!(growth(&[point(s, 2 * s), point(s, 3 * s)], 0), 0.0);
    }

    #[test]
    fn utilization_clips_to_the_window_and_weighs_cpus() {
        let tasks = [task(0, 1, 0, 100), task(0, 2, 50, 150), task(1, 1, 0, 10)];
        let u = utilization(&tasks, &[4, 1], 50, 150);
        // Node 0: 50 ns x 1 CPU + 100 ns x 2 CPUs = 250 of 4 x 100.
        assert_eq!(u, vec![0.625, 0.0]);
        let rows = utilization_windows(&tasks, &[4, 1], 100, 150);
        assert_eq!(
            rows,
            vec![
                (0, 0, (100.0 + 2.0 * 50.0) / 400.0),
                (0, 100, 2.0 * 50.0 / 200.0),
                (1, 0, 10.0 / 100.0),
                (1, 100, 0.0),
            ]
        );
    }
}
