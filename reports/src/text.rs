//! The report's sentences, generated from the numbers. Every sentence states a measurement
//! (with its numbers); none says why.

use cohort_schema::{FaultRow, quantile};

use crate::figures::{SeedCounts, bytes_unit};
use crate::model::{FaultTimeline, Model, Reference, TimelineRun, trim_number};
use crate::{AggregatePoint, Spread};

/// At most this many faults are named in the fault timeline's paragraph.
const MAX_FAULTS_NAMED: usize = 12;

/// Up to this ratio of largest to smallest value a curve is said to "stay between" the two.
const FLAT_RATIO: f64 = 1.5;

/// One generated paragraph and the report section it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The figure's file stem (e.g. "mean-latency"), or "runs" for the note on the runs.
    pub section: String,
    /// The paragraph, plain text.
    pub text: String,
}

/// The paragraphs of a report: one per figure (in figure order, the fault timeline's when
/// there is one), then one on the runs.
pub(crate) fn findings(model: &Model) -> Vec<Finding> {
    let make = |section: &str, text: String| Finding {
        section: section.to_owned(),
        text,
    };
    let mut out = vec![
        make("mean-latency", mean_latency(model)),
        make("latency-cdf", latency_cdf(model)),
        make("p99-latency", p99_latency(model)),
        make("bytes-moved", bytes_moved(model)),
        make("cpu-utilization", cpu_utilization(model)),
    ];
    if let Some(timeline) = &model.timeline {
        out.push(make("fault-timeline", fault_timeline(model, timeline)));
    }
    out.push(make("runs", runs_note(model)));
    out
}

fn ms(v: f64) -> String {
    format!("{v:.1} ms")
}

fn pct(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// A byte count in B, KiB, MiB or GiB.
pub(crate) fn bytes(b: f64) -> String {
    if b < 1024.0 {
        format!("{b:.0} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        let (unit, per) = bytes_unit(b);
        format!("{:.1} {unit}", b / per)
    }
}

/// `(x, value)` of one series' known values of a measure, ascending in x.
fn curve(model: &Model, series: &str, measure: fn(&AggregatePoint) -> Spread) -> Vec<(f64, f64)> {
    model
        .series_points(series)
        .map(|p| (p.x, measure(p).mean))
        .filter(|(_, v)| v.is_finite())
        .collect()
}

fn min_max(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    values
        .into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

/// "X's <what> stays between A and B ms across the N sizes (max/min = R)." or, when it varies
/// more than [`FLAT_RATIO`], where it starts and ends and how often it rises.
fn range_sentence(model: &Model, policy: &str, what: &str, c: &[(f64, f64)]) -> String {
    let x = &model.x;
    match c {
        [] => format!("{policy} has no {what} data."),
        [(x0, v)] => format!("{policy}'s {what} is {} at {}.", ms(*v), x.fmt(*x0)),
        _ => {
            let (lo, hi) = min_max(c.iter().map(|p| p.1));
            let ratio = if lo > 0.0 {
                format!("max/min = {:.2}", hi / lo)
            } else {
                "the minimum is 0".to_owned()
            };
            if lo > 0.0 && hi / lo <= FLAT_RATIO {
                format!(
                    "{policy}'s {what} stays between {lo:.1} and {hi:.1} ms across the {} {} ({ratio}).",
                    c.len(),
                    x.plural
                )
            } else {
                let ups = c.windows(2).filter(|w| w[1].1 > w[0].1).count();
                let (first, last) = (c[0], c[c.len() - 1]);
                format!(
                    "{policy}'s {what} goes from {} at {} to {} at {} (range {lo:.1}–{hi:.1} ms, {ratio}); it rises from one {} to the next at {ups} of {} steps.",
                    ms(first.1),
                    x.fmt(first.0),
                    ms(last.1),
                    x.fmt(last.0),
                    x.noun,
                    c.len() - 1
                )
            }
        }
    }
}

/// Where the mean-latency curves of two policies cross, from the sign of their difference at
/// each x where both have a value.
fn crossing_sentence(model: &Model, a: &str, b: &str) -> Option<String> {
    let cb = curve(model, b, |p| p.mean_ms);
    let both: Vec<(f64, f64, f64)> = curve(model, a, |p| p.mean_ms)
        .into_iter()
        .filter_map(|(x, va)| {
            cb.iter()
                .find(|(xb, _)| *xb == x)
                .map(|&(_, vb)| (x, va, vb))
        })
        .collect();
    if both.len() < 2 {
        return None;
    }
    let x = &model.x;
    let signed: Vec<(f64, f64)> = both
        .iter()
        .filter(|t| t.1 != t.2)
        .map(|t| (t.0, (t.1 - t.2).signum()))
        .collect();
    let rel = |s: f64| if s < 0.0 { "below" } else { "above" };
    let Some(&(_, first)) = signed.first() else {
        return Some(format!(
            "{a}'s and {b}'s mean latencies are equal at every {} where both ran.",
            x.noun
        ));
    };
    let crossings: Vec<(f64, f64, f64)> = signed
        .windows(2)
        .filter(|w| w[0].1 != w[1].1)
        .map(|w| (w[0].0, w[1].0, w[1].1))
        .collect();
    Some(match crossings.as_slice() {
        [] => {
            let (lo, hi) = min_max(both.iter().map(|t| t.1.max(t.2) / t.1.min(t.2)));
            format!(
                "{a}'s mean latency is {} {b}'s at every {} where both ran (by a factor of {lo:.2} to {hi:.2}).",
                rel(first),
                x.noun
            )
        }
        [(before, after, _)] => format!(
            "{a}'s mean latency is {} {b}'s up to {} and {} it from {} on: the curves cross between {} and {}.",
            rel(first),
            x.fmt(*before),
            rel(-first),
            x.fmt(*after),
            x.fmt(*before),
            x.fmt(*after)
        ),
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|(before, after, s)| {
                    format!(
                        "between {} and {} ({a} goes {})",
                        x.fmt(*before),
                        x.fmt(*after),
                        rel(*s)
                    )
                })
                .collect();
            let last = signed[signed.len() - 1];
            format!(
                "{a}'s and {b}'s mean latencies cross {} times: {}; at {} {a}'s is {} {b}'s.",
                many.len(),
                list.join(", "),
                x.fmt(last.0),
                rel(last.1)
            )
        }
    })
}

/// "At the smallest size, X, P's mean latency (v ms) is the lowest; Q's (w ms) is r× that."
/// Compares the policies within one combination of the other varying parameters' values.
fn ranking_sentence(
    model: &Model,
    which: &str,
    at: f64,
    combo: &[(String, f64)],
) -> Option<String> {
    let mut here: Vec<(&str, f64)> = model
        .points
        .iter()
        .filter(|p| p.x == at && p.others == combo && p.mean_ms.is_known())
        .map(|p| (p.policy.as_str(), p.mean_ms.mean))
        .collect();
    if here.len() < 2 {
        return None;
    }
    here.sort_by(|l, r| l.1.total_cmp(&r.1));
    let (best, v) = here[0];
    let others: Vec<String> = here[1..]
        .iter()
        .map(|(p, w)| {
            let factor = if v > 0.0 {
                format!("{:.2}× that", w / v)
            } else {
                "above it".to_owned()
            };
            format!("{p}'s ({}) is {factor}", ms(*w))
        })
        .collect();
    Some(format!(
        "At the {which} {}, {}{}, {best}'s mean latency ({}) is the lowest; {}.",
        model.x.noun,
        model.x.fmt(at),
        with_combo(model, combo),
        ms(v),
        others.join(", ")
    ))
}

/// " with num_maps=2" for a combination of other parameters' values; empty for none.
fn with_combo(model: &Model, combo: &[(String, f64)]) -> String {
    if combo.is_empty() {
        String::new()
    } else {
        format!(" with {}", model.fmt_combo(combo))
    }
}

/// How many seeds each point averages and what the shaded band is.
fn seeds_sentence(model: &Model) -> String {
    let seeds = SeedCounts::of(model);
    let each = |n: usize| {
        if n == 1 {
            "1 seed".to_owned()
        } else {
            format!("{n} seeds")
        }
    };
    match (seeds.usual, seeds.exceptions.as_slice()) {
        (1, []) => "Each point is one run (one seed), so there is no band across seeds.".to_owned(),
        (n, []) => format!(
            "Each point is the mean of {} (one run each); the shaded band spans the min–max across them.",
            each(n)
        ),
        (n, exceptions) => {
            let shown: Vec<String> = exceptions
                .iter()
                .take(10)
                .map(|(what, runs)| format!("{what}: {}", each(*runs)))
                .collect();
            let more = if exceptions.len() > shown.len() {
                format!(" and {} more points", exceptions.len() - shown.len())
            } else {
                String::new()
            };
            format!(
                "Points average {} each (one run per seed), except {}{more} (the other runs are not in summary.csv); the shaded band spans the min–max across a point's seeds.",
                each(n),
                shown.join(", ")
            )
        }
    }
}

/// What the report says about a published data set it does not draw.
fn reference_sentence(model: &Model) -> Option<String> {
    match &model.reference {
        Reference::Unknown(id) => Some(format!(
            "The workload declares that it reproduces `{id}`, but cohort has no published data for `{id}`, so no published points are drawn."
        )),
        Reference::OtherAxis(set) => Some(format!(
            "The workload reproduces `{}`, whose published points are against {}; with {} on the x axis they are not drawn.",
            set.id, set.x_param, model.x.param
        )),
        Reference::None | Reference::Drawn(_) => None,
    }
}

fn mean_latency(model: &Model) -> String {
    let mut s: Vec<String> = model
        .series
        .iter()
        .map(|k| {
            range_sentence(
                model,
                &k.label,
                "mean latency",
                &curve(model, &k.label, |a| a.mean_ms),
            )
        })
        .collect();
    for (i, a) in model.series.iter().enumerate() {
        for b in model.series[i + 1..]
            .iter()
            .filter(|b| b.others == a.others)
        {
            s.extend(crossing_sentence(model, &a.label, &b.label));
        }
    }
    if let (Some(&first), Some(&last)) = (model.xs.first(), model.xs.last()) {
        for combo in model.combos() {
            s.extend(ranking_sentence(model, "smallest", first, &combo));
            if last != first {
                s.extend(ranking_sentence(model, "largest", last, &combo));
            }
        }
    }
    s.extend(unstable_sentence(model));
    s.push(seeds_sentence(model));
    let widest = model
        .points
        .iter()
        .filter(|p| p.runs > 1 && p.mean_ms.is_known())
        .max_by(|l, r| (l.mean_ms.max - l.mean_ms.min).total_cmp(&(r.mean_ms.max - r.mean_ms.min)));
    if let Some(p) = widest {
        s.push(format!(
            "Across seeds, the widest min–max range of a point is {} ({} at {}, {:.1}–{:.1} ms); the shaded bands show these ranges.",
            ms(p.mean_ms.max - p.mean_ms.min),
            p.series,
            model.x.fmt(p.x),
            p.mean_ms.min,
            p.mean_ms.max
        ));
    }
    if !model.published.is_empty() {
        s.push(published_sentences(model));
    }
    s.extend(reference_sentence(model));
    s.join(" ")
}

/// Which points have an unstable run, by series, with their growth rates; `None` when every
/// run is stable.
fn unstable_sentence(model: &Model) -> Option<String> {
    if !model.any_unstable() {
        return None;
    }
    let per: Vec<String> = model
        .series
        .iter()
        .filter_map(|key| {
            let all: Vec<&AggregatePoint> = model.series_points(&key.label).collect();
            let unstable: Vec<String> = all
                .iter()
                .filter(|p| p.is_unstable())
                .map(|p| unstable_point(model, p))
                .collect();
            (!unstable.is_empty()).then(|| {
                format!(
                    "{} at {} of its {} {}: {}",
                    key.label,
                    unstable.len(),
                    all.len(),
                    model.x.plural,
                    join_and(&unstable)
                )
            })
        })
        .collect();
    Some(format!(
        "Points with an unstable run are drawn as ×, where {}: {}.",
        crate::stability::RULE,
        per.join("; ")
    ))
}

/// "7.63 MiB (2 of 2 runs unstable; mean growth 25.3 ms/s; 120 unfinished)".
fn unstable_point(model: &Model, p: &AggregatePoint) -> String {
    let mut why = vec![if p.runs == 1 {
        "its run is unstable".to_owned()
    } else {
        format!("{} of {} runs unstable", p.unstable_runs, p.runs)
    }];
    if p.growth_ms_per_s.is_known() {
        why.push(format!(
            "{} {:.1} ms/s",
            if p.runs == 1 { "growth" } else { "mean growth" },
            p.growth_ms_per_s.mean
        ));
    }
    if p.unfinished.is_known() && p.unfinished.mean > 0.0 {
        let n = p.unfinished.mean;
        let shown = if n.fract() == 0.0 {
            format!("{n:.0}")
        } else {
            format!("{n:.1}")
        };
        why.push(format!(
            "{shown} {} unfinished",
            if p.runs == 1 { "tasks" } else { "tasks (mean)" }
        ));
    }
    if p.collapsed_runs > 0 {
        why.push(if p.runs == 1 {
            "no measured datapoint".to_owned()
        } else {
            format!(
                "{} without a measured datapoint",
                plural(p.collapsed_runs as u64, "run", "runs")
            )
        });
    }
    format!("{} ({})", model.x.fmt(p.x), why.join("; "))
}

/// What the dashed published series show, and ours beside them at the smallest and largest
/// size where the published figure has a point.
fn published_sentences(model: &Model) -> String {
    let mut parts = Vec::new();
    for p in &model.sweep.policies {
        let pts: Vec<(f64, f64)> = model
            .published_for(p)
            .map(|q| (q.data_mib, q.mean_latency_ms))
            .collect();
        if let (Some(first), Some(last)) = (pts.first(), pts.last()) {
            let (lo, hi) = min_max(pts.iter().map(|q| q.1));
            parts.push(format!(
                "{p} from {} ms at {:.2} MiB to {} ms at {:.2} MiB (range {}–{} ms)",
                trim_number(first.1),
                first.0,
                trim_number(last.1),
                last.0,
                trim_number(lo),
                trim_number(hi)
            ));
        }
    }
    let mut text = format!(
        "The dashed lines are the write-up's published points, read by eye off its figure: {}.",
        parts.join("; ")
    );
    let mut ends = vec![model.xs[0]];
    if model.xs.len() > 1 {
        ends.push(model.xs[model.xs.len() - 1]);
    }
    for x in ends {
        let mib = x / 1_048_576.0;
        let pairs: Vec<String> = model
            .points
            .iter()
            .filter(|a| a.x == x && a.mean_ms.is_known())
            .filter_map(|a| {
                model
                    .published_for(&a.policy)
                    .find(|q| (q.data_mib - mib).abs() < 0.006)
                    .map(|q| {
                        format!(
                            "{} for {} (published: {} ms)",
                            ms(a.mean_ms.mean),
                            a.series,
                            trim_number(q.mean_latency_ms)
                        )
                    })
            })
            .collect();
        if !pairs.is_empty() {
            text.push_str(&format!(
                " At {} we measure {}.",
                model.x.fmt(x),
                join_and(&pairs)
            ));
        }
    }
    text
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn latency_cdf(model: &Model) -> String {
    if model.cdfs.is_empty() {
        return format!("No policy has runs at {}.", model.x.fmt(model.cdf_x));
    }
    let per: Vec<String> = model
        .cdfs
        .iter()
        .map(|c| {
            let v = &c.sorted_ms;
            let runs = if c.runs == 1 { "1 run".to_owned() } else { format!("{} runs", c.runs) };
            let q = |p: f64| quantile(v, p).unwrap_or(f64::NAN);
            if v.is_empty() {
                format!("{} ({runs}): no measured datapoints", c.series)
            } else {
                format!(
                    "{} ({runs}, {} datapoints): median {}, 10th–90th percentile {:.1}–{:.1} ms, 99th percentile {}, max {}",
                    c.series,
                    v.len(),
                    ms(q(0.5)),
                    q(0.1),
                    q(0.9),
                    ms(q(0.99)),
                    ms(v[v.len() - 1])
                )
            }
        })
        .collect();
    let mut text = format!(
        "At {}, warm-up excluded, seeds pooled (nearest-rank percentiles): {}.",
        model.x.fmt(model.cdf_x),
        per.join("; ")
    );
    let medians: Vec<(&str, f64)> = model
        .cdfs
        .iter()
        .filter_map(|c| Some((c.series.as_str(), quantile(&c.sorted_ms, 0.5)?)))
        .collect();
    if medians.len() > 1 {
        let &(low, m) = medians
            .iter()
            .min_by(|l, r| l.1.total_cmp(&r.1))
            .unwrap_or(&medians[0]);
        if m > 0.0 {
            let others: Vec<String> = medians
                .iter()
                .filter(|(p, _)| *p != low)
                .map(|(p, v)| format!("{p}'s is {:.2}× that", v / m))
                .collect();
            text.push_str(&format!(
                " The lowest median is {low}'s ({}); {}.",
                ms(m),
                join_and(&others)
            ));
        }
    }
    text
}

fn p99_latency(model: &Model) -> String {
    let mut s: Vec<String> = model
        .series
        .iter()
        .map(|k| {
            range_sentence(
                model,
                &k.label,
                "p99 latency",
                &curve(model, &k.label, |a| a.p99_ms),
            )
        })
        .collect();
    if let Some(&last) = model.xs.last() {
        let ratios: Vec<String> = model
            .points
            .iter()
            .filter(|a| {
                a.x == last && a.p99_ms.is_known() && a.mean_ms.is_known() && a.mean_ms.mean > 0.0
            })
            .map(|a| {
                format!(
                    "{:.2}× the mean for {}",
                    a.p99_ms.mean / a.mean_ms.mean,
                    a.series
                )
            })
            .collect();
        if !ratios.is_empty() {
            s.push(format!(
                "At {}, the p99 is {}.",
                model.x.fmt(last),
                join_and(&ratios)
            ));
        }
    }
    s.push(seeds_sentence(model));
    s.join(" ")
}

fn bytes_moved(model: &Model) -> String {
    let x = &model.x;
    let mut s: Vec<String> = Vec::new();
    for key in &model.series {
        let p = &key.label;
        let c = curve(model, p, |a| a.bytes_transferred);
        match c.as_slice() {
            [] => s.push(format!("{p} has no transfer data.")),
            _ if c.iter().all(|q| q.1 == 0.0) => s.push(format!(
                "{p} moves no bytes over the network at any {}.",
                x.noun
            )),
            [(x0, b)] => s.push(format!(
                "{p} moves {} per run at {}.",
                bytes(*b),
                x.fmt(*x0)
            )),
            _ => {
                let (first, last) = (c[0], c[c.len() - 1]);
                s.push(format!(
                    "{p} moves {} per run at {} and {} at {}.",
                    bytes(first.1),
                    x.fmt(first.0),
                    bytes(last.1),
                    x.fmt(last.0)
                ));
            }
        }
    }
    if let Some(&last) = model.xs.last() {
        for combo in model.combos() {
            let mut here: Vec<(&str, f64)> = model
                .points
                .iter()
                .filter(|a| a.x == last && a.others == combo && a.bytes_transferred.is_known())
                .map(|a| (a.policy.as_str(), a.bytes_transferred.mean))
                .collect();
            here.sort_by(|l, r| l.1.total_cmp(&r.1));
            if let [(least, lb), rest @ ..] = here.as_slice() {
                let others: Vec<String> = rest
                    .iter()
                    .map(|(p, b)| {
                        if *lb > 0.0 {
                            format!("{p} moves {:.2}× as many bytes", b / lb)
                        } else {
                            format!("{p} moves {}", bytes(*b))
                        }
                    })
                    .collect();
                if !others.is_empty() {
                    s.push(format!(
                        "At {}{}, {least} moves the fewest bytes ({}); {}.",
                        x.fmt(last),
                        with_combo(model, &combo),
                        bytes(*lb),
                        join_and(&others)
                    ));
                }
            }
        }
    }
    s.push(seeds_sentence(model));
    s.join(" ")
}

fn cpu_utilization(model: &Model) -> String {
    let u = &model.utilization;
    let run = &u.run;
    let at = model.run_at(run);
    let mut text = format!(
        "The figure shows run {} ({}, seed {}{at}).",
        run.run, run.policy, run.seed
    );
    let means: Vec<(u64, f64, usize, f64)> = u
        .nodes
        .iter()
        .filter(|(_, pts)| !pts.is_empty())
        .map(|(node, pts)| {
            let end = pts.iter().map(|p| p.0).fold(0.0, f64::max) + u.window_ms / 2000.0;
            (
                *node,
                pts.iter().map(|p| p.1).sum::<f64>() / pts.len() as f64,
                pts.len(),
                end,
            )
        })
        .collect();
    if means.is_empty() {
        text.push_str(" Its utilization.csv has no windows.");
    } else {
        let windows = means.iter().map(|m| m.2).max().unwrap_or(0);
        let span = means.iter().map(|m| m.3).fold(0.0, f64::max);
        let list: Vec<String> = means
            .iter()
            .map(|(n, f, _, _)| format!("node {n} {}", pct(*f)))
            .collect();
        text.push_str(&format!(
            " Over {windows} windows of {} ms ({span:.1} s), the mean busy fraction per node is: {}.",
            trim_number(u.window_ms),
            list.join(", ")
        ));
        if means.len() > 1 {
            let lo = means
                .iter()
                .min_by(|l, r| l.1.total_cmp(&r.1))
                .unwrap_or(&means[0]);
            let hi = means
                .iter()
                .max_by(|l, r| l.1.total_cmp(&r.1))
                .unwrap_or(&means[0]);
            text.push_str(&format!(
                " It ranges from {} (node {}) to {} (node {}).",
                pct(lo.1),
                lo.0,
                pct(hi.1),
                hi.0
            ));
        }
    }
    if let Some(&last) = model.xs.last() {
        let per: Vec<String> = model
            .points
            .iter()
            .filter(|a| a.x == last && a.cpu_util_min.is_known() && a.cpu_util_max.is_known())
            .map(|a| {
                format!(
                    "{} and {} under {} (node mean {})",
                    pct(a.cpu_util_min.mean),
                    pct(a.cpu_util_max.mean),
                    a.series,
                    pct(a.cpu_util_mean.mean)
                )
            })
            .collect();
        if !per.is_empty() {
            text.push_str(&format!(
                " Over the measured period of every run at {} (seed-averaged), the least and the most busy node are busy {}.",
                model.x.fmt(last),
                per.join("; ")
            ));
        }
    }
    text
}

fn runs_note(model: &Model) -> String {
    let rows = &model.sweep.rows;
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.failed > 0)
        .map(|r| r.run.as_str())
        .collect();
    let datapoints: u64 = rows.iter().map(|r| r.datapoints).sum();
    let mut text = format!(
        "{}, {datapoints} measured datapoints in all (warm-up excluded).",
        if rows.len() == 1 {
            "1 run".to_owned()
        } else {
            format!("{} runs", rows.len())
        }
    );
    if failed.is_empty() {
        text.push_str(" No run reports failed tasks.");
    } else {
        let total: u64 = rows.iter().map(|r| r.failed).sum();
        let shown: Vec<&str> = failed.iter().take(10).copied().collect();
        let more = if failed.len() > shown.len() {
            format!(" and {} more", failed.len() - shown.len())
        } else {
            String::new()
        };
        text.push_str(&format!(
            " {} of {} runs report failed tasks ({total} in all): {}{more}.",
            failed.len(),
            rows.len(),
            shown.join(", ")
        ));
    }
    text.push_str(&unstable_runs_note(model));
    if model.recovery {
        text.push_str(&recovery_note(model));
    }
    text
}

/// How many runs are unstable and why, naming up to 10; empty when every run is stable.
fn unstable_runs_note(model: &Model) -> String {
    let rows = &model.sweep.rows;
    let unstable: Vec<(&cohort_schema::SummaryRow, &crate::stability::RunStability)> = rows
        .iter()
        .zip(&model.stability)
        .filter(|(_, s)| s.unstable())
        .collect();
    if unstable.is_empty() {
        return String::new();
    }
    let count = |f: fn(&crate::stability::RunStability) -> bool| {
        unstable.iter().filter(|(_, s)| f(s)).count() as u64
    };
    let mut why = Vec::new();
    let unfinished = count(|s| s.unfinished > 0);
    if unfinished > 0 {
        why.push(format!(
            "{} with work unfinished when it stopped",
            plural(unfinished, "run", "runs")
        ));
    }
    let collapsed = count(|s| s.collapsed);
    if collapsed > 0 {
        why.push(format!(
            "{} without a measured datapoint",
            plural(collapsed, "run", "runs")
        ));
    }
    let growing = count(|s| s.growing);
    if growing > 0 {
        why.push(format!(
            "{} whose latency rises by more than its mean over the measured window",
            plural(growing, "run", "runs")
        ));
    }
    let shown: Vec<String> = unstable
        .iter()
        .take(10)
        .map(|(r, s)| format!("{} ({:.1} ms/s)", r.run, s.growth_ms_per_s))
        .collect();
    let more = if unstable.len() > shown.len() {
        format!(" and {} more", unstable.len() - shown.len())
    } else {
        String::new()
    };
    format!(
        " {} of {} runs are unstable ({}): {}{more}.",
        unstable.len(),
        rows.len(),
        join_and(&why),
        shown.join(", ")
    )
}

/// A time of the run's clock in seconds, e.g. "5.25 s".
fn seconds(ns: u64) -> String {
    format!("{} s", trim_number(ns as f64 / 1e9))
}

/// "1 task", "3 tasks".
fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// One fault in words, with its times.
fn fault_words(f: &FaultRow) -> String {
    let span = |until: Option<u64>| match until {
        Some(t) => format!("from {} to {}", seconds(f.at_ns), seconds(t)),
        None => format!("from {} to the end", seconds(f.at_ns)),
    };
    let factor = f.factor.map_or_else(String::new, |v| {
        format!(" {}× slower", trim_number(v.get()))
    });
    match f.kind.as_str() {
        "kill" => {
            let mut t = format!("node {} killed at {}", f.node, seconds(f.at_ns));
            match f.declared_ns {
                Some(d) if f.until_ns.is_none_or(|u| d < u) => t.push_str(&format!(
                    ", declared dead at {} ({} undetected)",
                    seconds(d),
                    seconds(d - f.at_ns)
                )),
                _ => t.push_str(", not declared dead while it was down"),
            }
            match f.until_ns {
                Some(u) => t.push_str(&format!(", back at {}", seconds(u))),
                None => t.push_str(", not back before the end"),
            }
            t
        }
        "slow_cpu" => format!("node {}'s CPUs{factor} {}", f.node, span(f.until_ns)),
        "slow_nic" => format!("node {}'s NIC{factor} {}", f.node, span(f.until_ns)),
        _ => format!(
            "the link between nodes {} and {} dropped {}",
            f.node,
            f.peer.map_or_else(|| "?".to_owned(), |p| p.to_string()),
            span(f.until_ns)
        ),
    }
}

/// What one run of the timeline shows: latency before and after its first fault, and what its
/// summary says of recovery.
fn timeline_run(model: &Model, r: &TimelineRun) -> String {
    let run = &r.run;
    let mut text = format!(
        "{} (run {}, seed {}{})",
        run.policy,
        run.run,
        run.seed,
        model.run_at(run)
    );
    let Some(first) = r.faults.iter().map(|f| f.at_ns).min() else {
        return text;
    };
    let gaps: Vec<String> = r
        .gaps
        .iter()
        .take(3)
        .map(|(from, to)| format!("{} s to {} s", trim_number(*from), trim_number(*to)))
        .collect();
    let at = first as f64 / 1e9;
    let mut before: Vec<f64> = r.points.iter().filter(|p| p.0 < at).map(|p| p.1).collect();
    before.sort_by(f64::total_cmp);
    match quantile(&before, 0.5) {
        Some(m) => text.push_str(&format!(
            ": median latency {} before its first fault (at {})",
            ms(m),
            seconds(first)
        )),
        None => text.push_str(&format!(
            ": no measured datapoint before its first fault (at {})",
            seconds(first)
        )),
    }
    let peak = r
        .points
        .iter()
        .filter(|p| p.0 >= at)
        .max_by(|a, b| a.1.total_cmp(&b.1));
    match peak {
        Some(&(t, v)) => text.push_str(&format!(
            "; from then on the largest is {}, arriving at {} s",
            ms(v),
            trim_number(t)
        )),
        None => text.push_str("; no measured datapoint arrives after it"),
    }
    if !gaps.is_empty() {
        let more = if r.gaps.len() > gaps.len() {
            format!(" and {} more times", r.gaps.len() - gaps.len())
        } else {
            String::new()
        };
        text.push_str(&format!(
            "; no datapoint arrives from {}{more}",
            join_and(&gaps)
        ));
    }
    if let (Some(a), Some(b)) = (run.recovery_first_ms, run.recovery_last_ms) {
        text.push_str(&format!(
            "; from the first kill, the first datapoint it held up arrives after {} and the last after {}",
            ms(a.get()),
            ms(b.get())
        ));
    }
    if run.datapoints_lost > 0 {
        text.push_str(&format!(
            "; {} lost",
            plural(run.datapoints_lost, "datapoint", "datapoints")
        ));
    }
    text
}

fn fault_timeline(model: &Model, timeline: &FaultTimeline) -> String {
    let thinned = timeline
        .runs
        .iter()
        .any(|r| r.points.len() > crate::figures::TIMELINE_POINTS);
    let mut s = vec![format!(
        "The figure shows one run per policy with faults: of a policy's runs with faults, the one at the smallest {} (then the smallest values of any other varying parameter) with the first seed in the sweep's order.",
        model.x.noun
    )];
    s.push(format!(
        "Each line joins its run's measured datapoints (warm-up excluded) in arrival order{}, broken where none arrives for more than {} times the run's mean interval between arrivals.",
        if thinned {
            format!(
                "; a run with more than {n} shows the largest latency in each of {n} equal windows of arrival time",
                n = crate::figures::TIMELINE_POINTS
            )
        } else {
            String::new()
        },
        trim_number(crate::model::GAP_FACTOR)
    ));
    let faults: Vec<String> = timeline
        .faults
        .iter()
        .take(MAX_FAULTS_NAMED)
        .map(fault_words)
        .collect();
    let more = if timeline.faults.len() > faults.len() {
        format!("; and {} more", timeline.faults.len() - faults.len())
    } else {
        String::new()
    };
    s.push(format!(
        "The shaded spans are the faults of faults.csv: {}{more}.",
        faults.join("; ")
    ));
    if timeline.faults.iter().any(|f| f.kind == "kill") {
        s.push("A kill is shaded dark while the node is down and not yet declared dead, light once it is declared dead, until it is back or the run ends.".to_owned());
    }
    if !timeline.same_faults {
        s.push("The runs' faults differ; the shading is their union.".to_owned());
    }
    let runs: Vec<String> = timeline
        .runs
        .iter()
        .map(|r| timeline_run(model, r))
        .collect();
    s.push(format!("{}.", runs.join(". ")));
    s.join(" ")
}

/// What the summary's recovery counters add up to, and the recovery times' ranges.
fn recovery_note(model: &Model) -> String {
    let rows = &model.sweep.rows;
    let sum = |f: fn(&cohort_schema::SummaryRow) -> u64| rows.iter().map(f).sum::<u64>();
    let mut text = format!(
        " Recovery, over all runs: {} re-executed, {} reconstructed, {}, {} spilled to disk and {} restored, {} lost.",
        plural(sum(|r| r.reexecuted), "task", "tasks"),
        plural(sum(|r| r.reconstructed), "object", "objects"),
        plural(sum(|r| r.actor_restarts), "actor restart", "actor restarts"),
        bytes(sum(|r| r.spilled_bytes) as f64),
        bytes(sum(|r| r.restored_bytes) as f64),
        plural(sum(|r| r.datapoints_lost), "datapoint", "datapoints"),
    );
    let timed: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((r.recovery_first_ms?.get(), r.recovery_last_ms?.get())))
        .collect();
    if !timed.is_empty() {
        let (a, b) = min_max(timed.iter().map(|t| t.0));
        let (c, d) = min_max(timed.iter().map(|t| t.1));
        let range = |lo: f64, hi: f64| {
            if lo == hi {
                ms(lo)
            } else {
                format!("{lo:.1}–{hi:.1} ms")
            }
        };
        text.push_str(&format!(
            " In {} a datapoint was in flight during an outage: from the first kill, the first such datapoint arrives after {} and the last after {}{}.",
            plural(timed.len() as u64, "run", "runs"),
            range(a, b),
            range(c, d),
            if timed.len() > 1 { " (min–max over those runs)" } else { "" }
        ));
    }
    text
}
