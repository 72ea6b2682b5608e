//! The leaderboard: policies ranked across workloads by their latency relative to the best
//! policy at each point and seed (`leaderboard.csv`, `leaderboard.md` and a figure).
//!
//! A run's *relative latency* is its mean latency over the lowest mean latency any policy
//! reached at the same workload, point and seed: 1 for the best run there. A policy's standing
//! on a workload is the geometric mean of its runs' relative latencies (the mean a ratio
//! calls for), with their least and greatest; across workloads, the geometric mean of its
//! standings, so that every workload weighs the same. A run without a datapoint (its work
//! never finished: the policy fell behind) has no relative latency; it is counted apart, and
//! a policy with more such runs ranks after one with fewer, whatever their means.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cohort_schema::{CsvWriter, Fixed6, HintsRow, LeaderboardRow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::ReportError;
use crate::figures::{Axis, SIZE, err, fitted_font, log_axis, policy_color, register_font, tick};

/// The figure's size: the report's height, wider for a label per workload.
const FIGURE_SIZE: (u32, u32) = (SIZE.0 * 6 / 5, SIZE.1);

/// One run the leaderboard ranks.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderboardRun {
    /// The workload.
    pub workload: String,
    /// The point of its sweep, as text (e.g. "data_size=800000B").
    pub point: String,
    /// The seed.
    pub seed: u64,
    /// The policy.
    pub policy: String,
    /// Its mean latency in ms, or `None` without a datapoint (or when the run failed).
    pub mean_ms: Option<f64>,
}

/// The workload name of the rows that rank policies over every workload.
pub const ALL: &str = "all";

/// The standings: for each workload (in the order first seen), then [`ALL`], a row per
/// policy in rank order.
pub fn standings(runs: &[LeaderboardRun]) -> Vec<LeaderboardRow> {
    let workloads = first_seen(runs.iter().map(|r| r.workload.as_str()));
    // The best mean latency at each (workload, point, seed).
    let mut best: BTreeMap<(&str, &str, u64), f64> = BTreeMap::new();
    for r in runs {
        if let Some(m) = r.mean_ms.filter(|m| *m > 0.0) {
            let b = best
                .entry((&r.workload, &r.point, r.seed))
                .or_insert(f64::INFINITY);
            *b = b.min(m);
        }
    }
    let mut rows = Vec::new();
    // Per policy over all workloads: (runs, missing, standings, min, max).
    let mut overall: BTreeMap<&str, (u64, u64, Vec<f64>, f64, f64)> = BTreeMap::new();
    for w in &workloads {
        let mut per: BTreeMap<&str, (u64, u64, Vec<f64>)> = BTreeMap::new();
        for r in runs.iter().filter(|r| r.workload == *w) {
            let e = per.entry(&r.policy).or_default();
            e.0 += 1;
            let ratio = r
                .mean_ms
                .filter(|m| *m > 0.0)
                .zip(best.get(&(r.workload.as_str(), r.point.as_str(), r.seed)))
                .map(|(m, b)| m / b);
            match ratio {
                Some(x) => e.2.push(x),
                None => e.1 += 1,
            }
        }
        let mut ranked: Vec<LeaderboardRow> = per
            .into_iter()
            .map(|(policy, (n, missing, ratios))| {
                let o = overall
                    .entry(policy)
                    .or_insert((0, 0, Vec::new(), f64::INFINITY, 0.0));
                o.0 += n;
                o.1 += missing;
                if let Some(g) = geometric_mean(&ratios) {
                    o.2.push(g);
                }
                for x in &ratios {
                    o.3 = o.3.min(*x);
                    o.4 = o.4.max(*x);
                }
                row(w, policy, n, missing, &ratios, geometric_mean(&ratios))
            })
            .collect();
        rank(&mut ranked);
        rows.extend(ranked);
    }
    let mut all: Vec<LeaderboardRow> = overall
        .into_iter()
        .map(|(policy, (n, missing, standings, lo, hi))| LeaderboardRow {
            workload: ALL.to_string(),
            policy: policy.to_string(),
            rank: 0,
            runs: n,
            missing,
            relative_mean: geometric_mean(&standings).map(Fixed6),
            relative_min: lo.is_finite().then_some(Fixed6(lo)),
            relative_max: lo.is_finite().then_some(Fixed6(hi)),
        })
        .collect();
    rank(&mut all);
    rows.extend(all);
    rows
}

fn row(
    workload: &str,
    policy: &str,
    runs: u64,
    missing: u64,
    ratios: &[f64],
    mean: Option<f64>,
) -> LeaderboardRow {
    LeaderboardRow {
        workload: workload.to_string(),
        policy: policy.to_string(),
        rank: 0,
        runs,
        missing,
        relative_mean: mean.map(Fixed6),
        relative_min: ratios.iter().copied().reduce(f64::min).map(Fixed6),
        relative_max: ratios.iter().copied().reduce(f64::max).map(Fixed6),
    }
}

/// Sorts one workload's rows by (runs without a datapoint, relative mean, name) and numbers
/// them from 1.
fn rank(rows: &mut [LeaderboardRow]) {
    rows.sort_by(|a, b| {
        let mean = |r: &LeaderboardRow| r.relative_mean.map_or(f64::INFINITY, Fixed6::get);
        a.missing
            .cmp(&b.missing)
            .then(mean(a).total_cmp(&mean(b)))
            .then(a.policy.cmp(&b.policy))
    });
    for (i, r) in rows.iter_mut().enumerate() {
        r.rank = i as u32 + 1;
    }
}

/// Each name once, in the order first seen.
fn first_seen<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for n in names {
        if !seen.contains(&n) {
            seen.push(n);
        }
    }
    seen
}

fn geometric_mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty())
        .then(|| (values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp())
}

/// What [`write()`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaderboard {
    /// The files written, inside the output directory, sorted by name.
    pub files: Vec<PathBuf>,
    /// `leaderboard.md`'s text.
    pub markdown: String,
}

/// Writes `leaderboard.csv`, `leaderboard.md` and the figure (`leaderboard.svg`, `.png`) of
/// `rows` (as [`standings`] orders them) into `dir`; `about` is a line for the Markdown's
/// top (what was run). With `hints` (runs on inferred hints), also `hints.csv`, and their
/// agreement with the IR's per workload in the Markdown ([`hints_section`]).
pub fn write(
    rows: &[LeaderboardRow],
    hints: &[HintsRow],
    dir: &Path,
    about: &str,
) -> Result<Leaderboard, ReportError> {
    let mut csv = CsvWriter::<LeaderboardRow>::create(dir, &[])?;
    for r in rows {
        csv.write(r)?;
    }
    csv.finish()?;
    let mut markdown = markdown(rows, about);
    let mut files = vec![
        "leaderboard.csv",
        "leaderboard.md",
        "leaderboard.png",
        "leaderboard.svg",
    ];
    if !hints.is_empty() {
        let mut csv = CsvWriter::<HintsRow>::create(dir, &[])?;
        for r in hints {
            csv.write(r)?;
        }
        csv.finish()?;
        let _ = writeln!(markdown, "{}", hints_section(hints));
        files.push("hints.csv");
    }
    let md = dir.join("leaderboard.md");
    std::fs::write(&md, &markdown).map_err(ReportError::io("write", &md))?;
    figure(rows, dir)?;
    let mut files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    files.sort();
    Ok(Leaderboard { files, markdown })
}

fn cell(v: Option<Fixed6>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{:.2}", v.get()))
}

/// The Markdown: the ranking over all workloads, then each workload's.
pub fn markdown(rows: &[LeaderboardRow], about: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Leaderboard\n\n{about}\n");
    let _ = writeln!(
        o,
        "Relative latency: a run's mean latency over the best policy's at the same point and \
         seed (1.00 is the best). Each row gives its geometric mean over the runs, and the \
         least and greatest; runs without a datapoint (work that never finished) are counted \
         apart and rank a policy lower.\n"
    );
    let mut workloads = first_seen(rows.iter().map(|r| r.workload.as_str()));
    workloads.sort_by_key(|w| *w != ALL);
    for w in workloads {
        let _ = writeln!(o, "{}", section(rows, w));
    }
    o
}

/// One workload's section of the Markdown (for [`ALL`], the ranking over every workload):
/// its heading and its table, rows in rank order.
pub fn section(rows: &[LeaderboardRow], workload: &str) -> String {
    let mut o = String::new();
    let heading = if workload == ALL {
        "All workloads (each weighs the same)".to_string()
    } else {
        format!("`{workload}`")
    };
    let _ = writeln!(o, "## {heading}\n");
    let _ = writeln!(
        o,
        "| rank | policy | relative latency | least | greatest | runs | without a datapoint |"
    );
    let _ = writeln!(o, "| ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    for r in rows.iter().filter(|r| r.workload == workload) {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.rank,
            r.policy,
            cell(r.relative_mean),
            cell(r.relative_min),
            cell(r.relative_max),
            r.runs,
            r.missing
        );
    }
    o
}

/// The Markdown section on inferred hints: per workload (in the order first seen) and policy,
/// the share of submissions whose inferred hints equal the IR's, in all and in each part.
pub fn hints_section(hints: &[HintsRow]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "## Inferred hints against the IR's
"
    );
    let _ = writeln!(
        o,
        "Each submission's hints inferred by the runtime from the plain submissions, compared \
         with those the IR declared for it (groups up to their numbering), over every run.\n"
    );
    let _ = writeln!(
        o,
        "| workload | policy | submissions | all agree | group | index | dependency |"
    );
    let _ = writeln!(o, "| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    let mut totals: Vec<((&str, &str), [u64; 5])> = Vec::new();
    for h in hints {
        let key = (h.workload.as_str(), h.policy.as_str());
        let i = match totals.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                totals.push((key, [0; 5]));
                totals.len() - 1
            }
        };
        let t = &mut totals[i].1;
        for (sum, v) in t.iter_mut().zip([
            h.compared,
            h.agree,
            h.agree_group,
            h.agree_index,
            h.agree_dependency,
        ]) {
            *sum += v;
        }
    }
    let share = |part: u64, whole: u64| {
        if whole == 0 {
            "–".to_string()
        } else {
            format!("{:.1} %", 100.0 * part as f64 / whole as f64)
        }
    };
    for ((workload, policy), [n, all, group, index, dependency]) in totals {
        let _ = writeln!(
            o,
            "| `{workload}` | {policy} | {n} | {} | {} | {} | {} |",
            share(all, n),
            share(group, n),
            share(index, n),
            share(dependency, n)
        );
    }
    o
}

/// Dots (geometric mean) and whiskers (least to greatest) per workload and policy, on a log
/// axis of relative latency.
fn figure(rows: &[LeaderboardRow], dir: &Path) -> Result<(), ReportError> {
    register_font()?;
    let fail = |message: String| ReportError::Draw {
        figure: "leaderboard".to_owned(),
        message,
    };
    let svg = dir.join("leaderboard.svg");
    draw(SVGBackend::new(&svg, FIGURE_SIZE).into_drawing_area(), rows).map_err(fail)?;
    let png = dir.join("leaderboard.png");
    draw(
        BitMapBackend::new(&png, FIGURE_SIZE).into_drawing_area(),
        rows,
    )
    .map_err(fail)?;
    Ok(())
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    rows: &[LeaderboardRow],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let workloads = first_seen(rows.iter().map(|r| r.workload.as_str()));
    // Policies in their overall rank, so that the legend reads as the ranking.
    let policies = first_seen(
        rows.iter()
            .filter(|r| r.workload == ALL)
            .chain(rows)
            .map(|r| r.policy.as_str()),
    );
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|r| [r.relative_min, r.relative_max, r.relative_mean])
        .flatten()
        .map(Fixed6::get)
        .collect();
    let hi = values.iter().copied().fold(1.0, f64::max) * 1.3;
    let axis = Axis {
        lo: 0.9,
        hi: hi.max(1.5),
        log: true,
    };
    let (width, _) = root.dim_in_pixel();
    let title = "Latency relative to the best policy, per workload";
    let top = Pos::new(HPos::Center, VPos::Top);
    root.draw(&Text::new(
        title,
        ((width / 2) as i32, 12),
        fitted_font(&root, title, 26.0, width - 24).pos(top),
    ))
    .map_err(err)?;
    let sub = "dot: geometric mean over points and seeds; whisker: least to greatest";
    root.draw(&Text::new(
        sub,
        ((width / 2) as i32, 46),
        fitted_font(&root, sub, 18.0, width - 24)
            .color(&RGBColor(85, 85, 85))
            .pos(top),
    ))
    .map_err(err)?;
    let (_, body) = root.split_vertically(74);
    let (plot_area, legend_area) = body.split_horizontally(width.saturating_sub(200));
    let n = workloads.len();
    let names = workloads.clone();
    let mut chart = ChartBuilder::on(&plot_area)
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), log_axis(&axis))
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.max(1))
        .x_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 {
                names
                    .get(i as usize)
                    .map_or(String::new(), |s| s.to_string())
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| tick(*v))
        .y_desc("relative latency (log scale)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 17))
        .draw()
        .map_err(err)?;
    let slots = policies.len().max(1) as f64;
    for (k, p) in policies.iter().enumerate() {
        let color = policy_color(p, k);
        let dodge = (k as f64 + 0.5) / slots * 0.7 - 0.35;
        for r in rows.iter().filter(|r| r.policy == *p) {
            let Some(w) = workloads.iter().position(|w| *w == r.workload) else {
                continue;
            };
            let x = w as f64 + dodge;
            if let (Some(lo), Some(hi)) = (r.relative_min, r.relative_max) {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, lo.get()), (x, hi.get())],
                        color.stroke_width(2),
                    )))
                    .map_err(err)?;
            }
            if let Some(m) = r.relative_mean {
                chart
                    .draw_series(std::iter::once(Circle::new(
                        (x, m.get()),
                        5,
                        color.filled(),
                    )))
                    .map_err(err)?;
            }
        }
    }
    let font = fitted_font(&legend_area, "W".repeat(12).as_str(), 17.0, 150)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (k, p) in policies.iter().enumerate() {
        let y = 30 + 30 * k as i32;
        let color = policy_color(p, k);
        legend_area
            .draw(&Circle::new((20, y), 5, color.filled()))
            .map_err(err)?;
        legend_area
            .draw(&Text::new(p.to_string(), (36, y), font.clone()))
            .map_err(err)?;
    }
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        workload: &str,
        point: &str,
        seed: u64,
        policy: &str,
        mean: Option<f64>,
    ) -> LeaderboardRun {
        LeaderboardRun {
            workload: workload.to_string(),
            point: point.to_string(),
            seed,
            policy: policy.to_string(),
            mean_ms: mean,
        }
    }

    fn mean(rows: &[LeaderboardRow], w: &str, p: &str) -> (u32, Option<f64>, u64) {
        let r = rows
            .iter()
            .find(|r| r.workload == w && r.policy == p)
            .unwrap();
        (
            r.rank,
            r.relative_mean.map(|m| (m.get() * 1e6).round() / 1e6),
            r.missing,
        )
    }

    #[test]
    fn relative_latency_is_against_the_best_run_at_the_same_point_and_seed() {
        let runs = vec![
            run("w", "a", 1, "x", Some(10.0)),
            run("w", "a", 1, "y", Some(20.0)),
            run("w", "b", 1, "x", Some(40.0)),
            run("w", "b", 1, "y", Some(10.0)),
            run("v", "a", 1, "x", Some(1.0)),
            run("v", "a", 1, "y", Some(4.0)),
        ];
        let rows = standings(&runs);
        // On w, x has ratios 1 and 4 (geometric mean 2), y has 2 and 1 (sqrt 2).
        assert_eq!(
            mean(&rows, "w", "y"),
            (1, Some((2f64.sqrt() * 1e6).round() / 1e6), 0)
        );
        assert_eq!(mean(&rows, "w", "x"), (2, Some(2.0), 0));
        assert_eq!(mean(&rows, "v", "x"), (1, Some(1.0), 0));
        // Over all, each workload weighs the same: x sqrt(2 * 1), y sqrt(sqrt 2 * 4).
        assert_eq!(
            mean(&rows, ALL, "x").1,
            Some((2f64.sqrt() * 1e6).round() / 1e6)
        );
        let y = (2f64.sqrt() * 4.0).sqrt();
        assert_eq!(mean(&rows, ALL, "y").1, Some((y * 1e6).round() / 1e6));
        assert_eq!(mean(&rows, ALL, "x").0, 1);
        let w_x = rows
            .iter()
            .find(|r| r.workload == "w" && r.policy == "x")
            .unwrap();
        assert_eq!(
            (w_x.relative_min, w_x.relative_max),
            (Some(Fixed6(1.0)), Some(Fixed6(4.0)))
        );
        // Rows come by workload as first seen, then all, each in rank order.
        let order: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.workload.as_str(), r.policy.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("w", "y"),
                ("w", "x"),
                ("v", "x"),
                ("v", "y"),
                (ALL, "x"),
                (ALL, "y")
            ]
        );
    }

    #[test]
    fn a_run_without_a_datapoint_ranks_its_policy_after_those_without_one() {
        let runs = vec![
            run("w", "a", 1, "fast-but-stuck", Some(1.0)),
            run("w", "a", 2, "fast-but-stuck", None),
            run("w", "a", 1, "slow", Some(5.0)),
            run("w", "a", 2, "slow", Some(5.0)),
        ];
        let rows = standings(&runs);
        // slow: 5 / 1 at seed 1, 5 / 5 at seed 2.
        assert_eq!(mean(&rows, "w", "slow"), (1, Some(2.236068), 0));
        assert_eq!(mean(&rows, "w", "fast-but-stuck"), (2, Some(1.0), 1));
        let md = markdown(&rows, "test");
        assert!(
            md.contains("| 1 | slow | 2.24 | 1.00 | 5.00 | 2 | 0 |"),
            "{md}"
        );
        assert!(
            md.contains("| 2 | fast-but-stuck | 1.00 | 1.00 | 1.00 | 2 | 1 |"),
            "{md}"
        );
        assert!(
            md.find("## All workloads").unwrap() < md.find("## `w`").unwrap(),
            "{md}"
        );
    }

    #[test]
    fn writes_the_table_the_text_and_the_figure() {
        let dir = crate::tests::fixture::TempDir::new("leaderboard");
        let runs = vec![
            run("w", "a", 1, "random", Some(10.0)),
            run("w", "a", 1, "group", Some(5.0)),
            run("v", "a", 1, "random", None),
            run("v", "a", 1, "group", Some(3.0)),
        ];
        let rows = standings(&runs);
        let hints = vec![
            HintsRow {
                workload: "w".into(),
                point: "a".into(),
                seed: 1,
                policy: "group".into(),
                compared: 200,
                agree: 150,
                agree_group: 200,
                agree_index: 190,
                agree_dependency: 160,
            },
            HintsRow {
                seed: 2,
                compared: 200,
                agree: 200,
                agree_group: 200,
                agree_index: 200,
                agree_dependency: 200,
                ..Default::default()
            },
        ];
        let out = write(&rows, &hints[..1], dir.path(), "two workloads").unwrap();
        assert!(out.files.contains(&PathBuf::from("hints.csv")));
        assert!(
            out.markdown
                .contains("| `w` | group | 200 | 75.0 % | 100.0 % | 95.0 % | 80.0 % |"),
            "{}",
            out.markdown
        );
        let section = hints_section(&hints);
        assert!(section.contains("| `` |  | 200 | 100.0 % |"), "{section}");
        for f in &out.files {
            assert!(dir.path().join(f).is_file(), "{f:?}");
        }
        let csv = std::fs::read_to_string(dir.path().join("leaderboard.csv")).unwrap();
        assert_eq!(
            csv.lines().next().unwrap(),
            "workload,policy,rank,runs,missing,relative_mean,relative_min,relative_max"
        );
        assert!(csv.contains("\nv,random,2,1,1,,,\n"), "{csv}");
        assert!(
            csv.contains("\nall,group,1,2,0,1.000000,1.000000,1.000000\n"),
            "{csv}"
        );
    }
}
