//! Tests of stability, the shape claims and the ablation table, on fixture sweeps.

use std::fs;
use std::path::PathBuf;

use cohort_schema::quantile;

use super::fixture::{FakeSweep, TempDir};
use super::{assert_pinned, finding, leftovers, read, render_fx, render_small};
use crate::{
    ABLATION_HTML, ABLATION_MD, CdfStatistic, ReportError, ReportOptions, ShapeClaims, Verdict,
    ablation, render, shape_claims,
};

/// The fingerprints of the small fixture without `reproduces`, as rendered before stability
/// and the shape claims existed (taken from the code at that commit).
const PINNED_NOT_REPRODUCING: &[(&str, u64)] = &[
    ("bytes-moved.png", 0xc4e5710218f3306c),
    ("bytes-moved.svg", 0x79d1955b9843aaeb),
    ("cpu-utilization.png", 0x5834390fabeeb72b),
    ("cpu-utilization.svg", 0x732e5718b485ce14),
    ("latency-cdf.png", 0xd092d9c69eb94557),
    ("latency-cdf.svg", 0xe7caf33bb0f7d812),
    ("mean-latency.png", 0x0b1436014e95b313),
    ("mean-latency.svg", 0xa26654dea4859ef6),
    ("p99-latency.png", 0x5840a703d83965a4),
    ("p99-latency.svg", 0x40533353f7fa5d3e),
    ("report.html", 0x9c8600ab5359a88e),
    ("report.md", 0xd900032118059cfe),
    ("table", 0x022497540707f1bc),
    ("finding mean-latency", 0x1098d6f55670e08e),
    ("finding latency-cdf", 0x0e0764e9ca208619),
    ("finding p99-latency", 0x66da92b25505ced8),
    ("finding bytes-moved", 0x1df2da711a7ebb78),
    ("finding cpu-utilization", 0x2303226e54ddc99d),
    ("finding runs", 0xdf557b703011432e),
];

const MIB: f64 = 1_048_576.0;

/// The pooled, ascending latencies (ms, as written: whole ns) of the small fixture's runs of
/// `policy` at the largest size, whose means are `means` (one per seed).
fn pooled(means: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = means
        .iter()
        .flat_map(|m| {
            (0..32).map(move |k| {
                let ms = m * (0.5 + (f64::from(k) + 0.5) / 32.0);
                (ms * 1e6).round() / 1e6
            })
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The least-squares slope of two points, as the claims compute it.
fn two_point_slope(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (mx, my) = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    let sxy = (a.0 - mx) * (a.1 - my) + (b.0 - mx) * (b.1 - my);
    let sxx = (a.0 - mx) * (a.0 - mx) + (b.0 - mx) * (b.0 - mx);
    sxy / sxx
}

fn the_claims(claims: &[ShapeClaims]) -> &ShapeClaims {
    assert_eq!(claims.len(), 1, "{claims:?}");
    &claims[0]
}

#[test]
fn claims_state_the_small_fixture_numbers() {
    let tmp = TempDir::new("claims");
    let (sweep, out, summary) = render_small(&tmp);
    let c = the_claims(&summary.claims);
    assert_eq!(c.combo, "");
    // Seed-averaged means: random 25, 80, 600 ms and group 70, 60, 65 ms at 0.76, 7.63 and
    // 15.26 MiB; published: random 27, 94, 663 ms and group 77, 62, 67 ms there.
    let g = &c.group_max_over_min;
    assert_eq!(
        (g.measured, g.published, g.verdict),
        (Some(70.0 / 60.0), Some(77.0 / 62.0), Verdict::Reproduced)
    );
    let r = &c.random_rise;
    assert_eq!(
        (r.measured, r.published, r.verdict),
        (Some(600.0 / 25.0), Some(663.0 / 27.0), Verdict::Reproduced)
    );
    // Three sizes: each quarter is two of them.
    let xs = [800_000.0 / MIB, 8_000_000.0 / MIB, 16_000_000.0 / MIB];
    let ours = two_point_slope((xs[1], 80.0), (xs[2], 600.0))
        / two_point_slope((xs[0], 25.0), (xs[1], 80.0));
    let published =
        two_point_slope((7.63, 94.0), (15.26, 663.0)) / two_point_slope((0.76, 27.0), (7.63, 94.0));
    let s = &c.random_superlinearity;
    assert_eq!(
        (s.measured, s.published, s.verdict),
        (Some(ours), Some(published), Verdict::Reproduced)
    );
    assert!((ours - 8.509).abs() < 1e-3 && (published - 7.647).abs() < 1e-3);
    let sm = &c.smallest_random_over_group;
    assert_eq!(
        (sm.measured, sm.published, sm.verdict),
        (Some(25.0 / 70.0), Some(27.0 / 77.0), Verdict::Reproduced)
    );

    // The CDFs at 15.26 MiB, two seeds pooled (nearest rank).
    assert_eq!(c.largest_mib, xs[2]);
    let random = c.cdf_of("random").expect("random's CDF");
    let v = pooled(&[590.0, 610.0]);
    let q = |p| quantile(&v, p);
    assert_eq!((random.runs, random.datapoints), (2, 64));
    assert_eq!(
        (random.p5_ms, random.p50_ms, random.p95_ms, random.max_ms),
        (q(0.05), q(0.5), q(0.95), v.last().copied())
    );
    // Published: from ~100 (our p5 ~307 ms: more than 2x off), median ~550 (ours ~600: within
    // 1.5x), to ~2100 ms (our max ~905 ms: more than 2x off).
    let passed: Vec<(CdfStatistic, bool)> = random
        .checks
        .iter()
        .map(|k| (k.statistic, k.passed))
        .collect();
    assert_eq!(
        passed,
        [
            (CdfStatistic::Low, false),
            (CdfStatistic::Median, true),
            (CdfStatistic::High, false)
        ]
    );
    assert_eq!(random.verdict, Verdict::Partly);
    let group = c.cdf_of("group").expect("group's CDF");
    let v = pooled(&[64.0, 66.0]);
    assert_eq!(group.p95_ms, quantile(&v, 0.95));
    // Almost all under ~100 ms: yes (p95 ~95 ms); a tail to ~600 ms: no (max ~98 ms).
    let passed: Vec<bool> = group.checks.iter().map(|k| k.passed).collect();
    assert_eq!(passed, [true, false]);
    assert_eq!(group.verdict, Verdict::Partly);

    // The errors against the published points, per size, and their mean absolute value.
    let errors: Vec<(&str, f64, f64)> = c
        .errors
        .iter()
        .map(|e| (e.policy.as_str(), e.data_mib, e.error_pct))
        .collect();
    let pct = |ours: f64, published: f64| (ours - published) / published * 100.0;
    assert_eq!(
        errors,
        [
            ("random", xs[0], pct(25.0, 27.0)),
            ("random", xs[1], pct(80.0, 94.0)),
            ("random", xs[2], pct(600.0, 663.0)),
            ("group", xs[0], pct(70.0, 77.0)),
            ("group", xs[1], pct(60.0, 62.0)),
            ("group", xs[2], pct(65.0, 67.0)),
        ]
    );
    let mean_abs = |e: [f64; 3]| e.iter().map(|v| v.abs()).sum::<f64>() / 3.0;
    let random_error = c.error_of("random").expect("random's error");
    assert_eq!(
        random_error.mean_abs_pct,
        Some(mean_abs([
            pct(25.0, 27.0),
            pct(80.0, 94.0),
            pct(600.0, 663.0)
        ]))
    );
    assert_eq!(
        (random_error.points, random_error.verdict),
        (3, Verdict::Reproduced)
    );
    assert_eq!(
        c.unstable_points,
        [("random".to_owned(), 0), ("group".to_owned(), 0)]
    );

    // The same claims without rendering; the section in both reports.
    assert_eq!(
        shape_claims(&sweep, &ReportOptions::default()).expect("claims"),
        summary.claims
    );
    let md = read(&out.join("report.md"));
    let html = read(&out.join("report.html"));
    assert!(md.contains("\n## Shape claims\n"), "{md}");
    assert!(html.contains("<h2 id=\"shape-claims\">Shape claims</h2>"));
    for text in [
        "| group is flat: max/min of its mean latency over the sizes | 1.17 (60.0 to 70.0 ms) | 1.24 (62 to 77 ms) | reproduced |",
        "| 0.76 | 25.0 | 27 | -7.4% | 70.0 | 77 | -9.1% |",
        "### Rules",
    ] {
        assert!(md.contains(text), "report.md lacks {text:?}:\n{md}");
    }
    assert!(html.contains("<td class=\"l\">0.76</td><td>25.0</td><td>27</td><td>-7.4%</td>"));
    // The section comes after the figures and before the summary table.
    let at = |s: &str| md.find(s).expect(s);
    assert!(
        at("## Shape claims") > at("## Latency CDF") && at("## Shape claims") < at("## Summary")
    );
}

#[test]
fn a_sweep_that_does_not_reproduce_the_writeup_renders_exactly_as_before() {
    let tmp = TempDir::new("noclaims");
    let mut fx = FakeSweep::small();
    fx.reproduces = None;
    let (sweep, out, summary) = render_fx(&tmp, &fx, &ReportOptions::default());
    assert!(summary.claims.is_empty());
    assert!(!read(&out.join("report.md")).contains("Shape claims"));
    assert_pinned("not reproducing", &summary, PINNED_NOT_REPRODUCING);
    assert!(
        shape_claims(&sweep, &ReportOptions::default())
            .expect("claims")
            .is_empty()
    );
    // Nor are there claims when the published reference is turned off, or without group.
    let tmp = TempDir::new("noclaims2");
    let off = ReportOptions {
        published_reference: false,
        ..ReportOptions::default()
    };
    let (_, out, summary) = render_fx(&tmp, &FakeSweep::small(), &off);
    assert!(summary.claims.is_empty());
    assert!(!read(&out.join("report.md")).contains("Shape claims"));
    let tmp = TempDir::new("noclaims3");
    let mut fx = FakeSweep::small();
    fx.policies = vec!["random"];
    let (_, _, summary) = render_fx(&tmp, &fx, &ReportOptions::default());
    assert!(summary.claims.is_empty());
}

#[test]
fn each_combination_of_other_parameters_gets_its_claims() {
    let tmp = TempDir::new("claimscombos");
    let mut fx = FakeSweep::small();
    fx.reducers = vec![2, 4];
    fx.swept = Some(vec!["data_size", "num_reducers"]);
    let (_, out, summary) = render_fx(&tmp, &fx, &ReportOptions::default());
    let combos: Vec<&str> = summary.claims.iter().map(|c| c.combo.as_str()).collect();
    assert_eq!(combos, ["num_reducers=2", "num_reducers=4"]);
    // Means scale with reducers / 4: the ratios do not change.
    for c in &summary.claims {
        assert_eq!(c.random_rise.measured, Some(24.0));
    }
    let md = read(&out.join("report.md"));
    assert!(md.contains("### With num\\_reducers=2") && md.contains("### With num\\_reducers=4"));
}

/// The fixture with random unstable at 7.63 MiB (seed 2 left 5 tasks unfinished) and at
/// 15.26 MiB (growing by 2000 ms/s over a 0.7 s window: 1400 ms, above its ~600 ms mean),
/// random at 0.76 MiB growing by 30 ms/s (21 ms over the window: below its ~25 ms mean) and
/// group growing by 1 ms/s everywhere: stable.
fn unstable_fixture() -> FakeSweep {
    let mut fx = FakeSweep::small();
    fx.growth = |policy, i, _| match (policy, i) {
        ("random", 2) => 2000.0,
        ("random", 0) => 30.0,
        ("random", _) => 0.0,
        _ => 1.0,
    };
    fx.unfinished = |policy, i, seed| u64::from(policy == "random" && i == 1 && seed == 2) * 5;
    fx
}

/// How many `<line>` elements of `svg` are drawn in `color` with the crosses' stroke width.
fn cross_lines(svg: &str, color: &str) -> usize {
    svg.split("<line ")
        .skip(1)
        .filter(|l| {
            let tag = &l[..l.find('>').unwrap_or(l.len())];
            tag.contains(&format!("stroke=\"{color}\""))
                && tag.contains(&format!("stroke-width=\"{}\"", crate::figures::CROSS.1))
        })
        .count()
}

const RANDOM: &str = "#D62728";
const GROUP: &str = "#1F77B4";

#[test]
fn unstable_points_are_crossed_in_the_figure_and_named_in_the_tables_and_text() {
    let tmp = TempDir::new("unstable");
    let (_, out, summary) = render_fx(&tmp, &unstable_fixture(), &ReportOptions::default());
    let unstable: Vec<(&str, f64, usize)> = summary
        .points
        .iter()
        .map(|p| (p.policy.as_str(), p.x, p.unstable_runs))
        .collect();
    assert_eq!(
        unstable,
        [
            ("random", 800_000.0, 0),
            ("random", 8_000_000.0, 1),
            ("random", 16_000_000.0, 2),
            ("group", 800_000.0, 0),
            ("group", 8_000_000.0, 0),
            ("group", 16_000_000.0, 0),
        ]
    );
    // Two crosses (two lines each) in random's color, none in group's; the stable points
    // keep their dots.
    let svg = read(&out.join("mean-latency.svg"));
    assert_eq!(cross_lines(&svg, RANDOM), 4);
    assert_eq!(cross_lines(&svg, GROUP), 0);
    assert!(svg.contains("\nunstable (see text)\n"), "no legend entry");
    assert!(svg.contains("; ×: a point with an unstable run"));
    // No other figure has crosses.
    for stem in ["p99-latency", "bytes-moved", "latency-cdf"] {
        let other = read(&out.join(format!("{stem}.svg")));
        assert_eq!(cross_lines(&other, RANDOM), 0, "{stem}");
        assert!(!other.contains("unstable"), "{stem}");
    }

    let text = finding(&summary, "mean-latency");
    for expected in [
        "Points with an unstable run are drawn as ×, where a run is unstable when work was still unfinished when it stopped,",
        "random at 2 of its 3 sizes: 7.63 MiB (1 of 2 runs unstable; mean growth 0.0 ms/s; 2.5 tasks (mean) unfinished) and 15.26 MiB (2 of 2 runs unstable; mean growth 2000.0 ms/s).",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(!text.contains("group at"), "{text}");
    let runs = finding(&summary, "runs");
    assert!(
        runs.contains(" 3 of 12 runs are unstable (1 run with work unfinished when it stopped and 2 runs whose latency rises by more than its mean over the measured window): random-size01-seed2 (0.0 ms/s), random-size02-seed1 (2000.0 ms/s), random-size02-seed2 (2000.0 ms/s)."),
        "{runs}"
    );

    let md = read(&out.join("report.md"));
    assert!(md.contains("| unstable runs (growth ms/s) |"), "{md}");
    assert!(md.contains("| 2/2: 2000.0 ms/s |"), "{md}");
    assert!(md.contains("| 1/2: 0.0 ms/s; 2.5 unfinished |"), "{md}");
    let table = summary.table();
    assert!(
        table
            .lines()
            .next()
            .expect("header")
            .contains("unstable (ms/s)")
    );
    assert!(table.contains("2/2 2000.0"), "{table}");
    let c = the_claims(&summary.claims);
    assert_eq!(
        c.unstable_points,
        [("random".to_owned(), 2), ("group".to_owned(), 0)]
    );
    assert!(md.contains("Unstable points by policy (drawn as × in the mean-latency figure, where the text names them): random 2, group 0."));
}

#[test]
fn a_run_without_datapoints_is_unstable_and_still_renders() {
    // Both of random's runs at the largest size recorded nothing; one of group's at the
    // smallest did.
    let tmp = TempDir::new("collapsed");
    let mut fx = FakeSweep::small();
    fx.collapsed = vec![("random", 2, 1), ("random", 2, 2), ("group", 0, 1)];
    let (_, out, summary) = render_fx(&tmp, &fx, &ReportOptions::default());
    let point = |policy: &str, x: f64| {
        summary
            .points
            .iter()
            .find(|p| p.policy == policy && p.x == x)
            .expect("point")
    };
    let random = point("random", 16_000_000.0);
    assert_eq!((random.unstable_runs, random.collapsed_runs), (2, 2));
    assert!(
        !random.mean_ms.is_known(),
        "a collapsed run's 0 is not a mean"
    );
    // The other seed's mean alone, not averaged with a 0.
    let group = point("group", 800_000.0);
    assert_eq!((group.unstable_runs, group.mean_ms.mean), (1, 71.0));

    // random's point has no value: its cross is at the top edge, and the subtitle says so.
    let svg = read(&out.join("mean-latency.svg"));
    assert_eq!(cross_lines(&svg, RANDOM), 2);
    assert_eq!(cross_lines(&svg, GROUP), 2);
    assert!(svg.contains("(at the top edge: no datapoint)"));
    let md = read(&out.join("report.md"));
    assert!(
        md.contains("| random | 15.26 | 2 | – | – | – | – | – |"),
        "{md}"
    );
    let table = summary.table();
    let row = table
        .lines()
        .find(|l| l.starts_with("random") && l.contains("15.26"))
        .expect("row");
    assert!(!row.contains("NaN") && row.contains(" - "), "{table}");
    assert!(md.contains("2/2: 0.0 ms/s; 2 without datapoints"), "{md}");
    let text = finding(&summary, "mean-latency");
    assert!(
        text.contains("15.26 MiB (2 of 2 runs unstable; mean growth 0.0 ms/s; 2 runs without a measured datapoint)"),
        "{text}"
    );
    assert!(
        finding(&summary, "latency-cdf").contains("random (2 runs): no measured datapoints"),
        "{}",
        finding(&summary, "latency-cdf")
    );
    // Without random's mean at the largest size (and with one at each size before it), it
    // collapsed: its rise is unbounded, partly reproduced, and stated over the sizes before;
    // its super-linearity over two sizes is that of a line (1: not super-linear); its CDF
    // there has nothing; its errors cover the other two sizes.
    let c = the_claims(&summary.claims);
    let cdf = c.cdf_of("random").expect("random's CDF claim");
    assert_eq!((cdf.datapoints, cdf.p50_ms), (0, None));
    assert_eq!(cdf.verdict, Verdict::NotReproduced);
    assert_eq!(c.random_collapsed_from, Some(16_000_000.0 / 1_048_576.0));
    assert_eq!(c.random_rise.measured, None);
    assert_eq!(
        c.random_rise.measured_detail,
        "unbounded: no datapoint from 15.26 MiB on (collapsed); up to there 3.20 (25.0 ms at \
         0.76 MiB to 80.0 ms at 7.63 MiB)"
    );
    assert_eq!(c.random_rise.verdict, Verdict::Partly);
    assert_eq!(c.random_superlinearity.measured, None);
    assert!(
        c.random_superlinearity
            .measured_detail
            .starts_with("unbounded: no datapoint from 15.26 MiB on (collapsed); up to there"),
        "{}",
        c.random_superlinearity.measured_detail
    );
    assert_eq!(c.random_rise.published, Some(663.0 / 27.0));
    assert_eq!(c.error_of("random").map(|e| e.points), Some(2));
    assert_eq!(c.group_max_over_min.measured, Some(71.0 / 60.0));
    assert_eq!(
        c.unstable_points,
        [("random".to_owned(), 1), ("group".to_owned(), 1)]
    );
}

#[test]
fn ablation_writes_one_row_per_variant() {
    let tmp = TempDir::new("ablation");
    let sweep = |name: &str, fx: FakeSweep| {
        let dir = tmp.path().join(name);
        fs::create_dir_all(&dir).expect("mkdir");
        fx.write(&dir);
        dir
    };
    let physical = sweep("physical", FakeSweep::small());
    let ray = sweep("ray", unstable_fixture());
    let mut other = FakeSweep::small();
    other.reproduces = None;
    let other = sweep("other", other);
    let out = tmp.path().join("out");
    let variants: Vec<(String, PathBuf)> = vec![
        ("physical".to_owned(), physical.clone()),
        ("ray-v0.6".to_owned(), ray),
        ("not a reproduction".to_owned(), other),
    ];
    let a = ablation(&variants, &out).expect("ablation");
    assert_eq!(a.files, [out.join(ABLATION_HTML), out.join(ABLATION_MD)]);
    assert!(leftovers(tmp.path()).is_empty());
    let labels: Vec<&str> = a.rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["physical", "ray-v0.6", "not a reproduction"]);
    assert_eq!(
        a.rows[0].claims.as_ref(),
        Some(the_claims(
            &shape_claims(&physical, &ReportOptions::default()).expect("claims")
        ))
    );
    assert!(a.rows[2].claims.is_none());
    assert_eq!(
        a.rows[1].unstable_points,
        [("random".to_owned(), 2), ("group".to_owned(), 0)]
    );

    let md = read(&out.join(ABLATION_MD));
    assert_eq!(md, a.markdown());
    assert!(md.starts_with("# Ablation: the write-up's shape claims per variant\n"));
    for text in [
        "| variant | group max/min | random rise (largest/smallest) | random super-linearity | random/group at smallest | random median at largest (ms) | group median at largest (ms) | random mean abs error | group mean abs error | unstable points | verdicts (reproduced/partly/not) |",
        "| published (write-up) | 1.26 | 24.56 | 10.64 | 0.35 | ~550 | almost all \\< 100 | – | – | – | – |",
        "| physical | 1.17 (reproduced) | 24.00 (reproduced) | 8.51 (reproduced) | 0.36 (reproduced) |",
        "| random 0, group 0 | 6/2/0 |",
        "| random 2, group 0 |",
        "| not a reproduction | – | – | – | – | – | – | – | – | random 0, group 0 | no claims: not a reproduction |",
    ] {
        assert!(md.contains(text), "ablation.md lacks {text:?}:\n{md}");
    }
    let html = read(&out.join(ABLATION_HTML));
    assert_eq!(html, a.html());
    assert!(html.starts_with("<section class=\"cohort-ablation\">") && !html.contains("<html"));
    let table = a.table();
    assert_eq!(table.lines().count(), 5, "{table}");
    assert!(
        table
            .lines()
            .nth(2)
            .expect("physical")
            .starts_with("physical ")
    );
    assert!(table.contains("1.17 yes"), "{table}");

    // Again into the same directory: replaced, other files kept.
    fs::write(out.join("keep.txt"), "x").expect("write");
    ablation(&variants[..1], &out).expect("again");
    assert!(out.join("keep.txt").exists());
    assert_eq!(
        read(&out.join(ABLATION_MD))
            .matches("\n| physical |")
            .count(),
        1
    );
}

#[test]
fn a_bad_ablation_writes_nothing() {
    let tmp = TempDir::new("badablation");
    let out = tmp.path().join("out");
    assert!(matches!(ablation(&[], &out), Err(ReportError::NoVariants)));
    let missing = vec![("gone".to_owned(), tmp.path().join("no-such-sweep"))];
    let err = ablation(&missing, &out).expect_err("no sweep");
    assert!(err.to_string().contains("summary.csv"), "{err}");
    assert!(!out.exists());
    assert!(leftovers(tmp.path()).is_empty());
    // A sweep that is not a reproduction renders its report without claims, too.
    let dir = tmp.path().join("sweep");
    fs::create_dir_all(&dir).expect("mkdir");
    let mut fx = FakeSweep::small();
    fx.reproduces = Some("another-paper");
    fx.write(&dir);
    let summary = render(&dir, &tmp.path().join("r"), &ReportOptions::default()).expect("render");
    assert!(summary.claims.is_empty());
}
