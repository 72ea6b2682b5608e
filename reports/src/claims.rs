//! The write-up's shape claims, as a sweep that reproduces it measures them: each claim's
//! number computed from our seed-averaged points, the same number computed from the
//! published points, and a verdict by a fixed rule.
//!
//! Claims are made only for a sweep whose `reproduces` is "group-scheduling-2018" (with the
//! published points drawn: `data_size` on the x axis and the published reference on) and
//! that has the policies "random" and "group"; one set per combination of the other varying
//! parameters' values.

use std::fmt;

use cohort_schema::quantile;

use crate::doc::{Block, Table};
use crate::model::{Model, Reference, SeriesKey, trim_number};
use crate::published::{CdfReadoff, CdfStatistic, published_cdf};
use crate::{AggregatePoint, ReportError};

/// The id of the data set the claims are about.
pub(crate) const DATA_SET: &str = "group-scheduling-2018";

/// A curve is super-linear when the slope of its last quarter is more than this many times
/// the slope of its first quarter.
pub const SUPERLINEAR_RATIO: f64 = 1.5;

/// group is flat (the claim reproduced) up to this max/min of its mean latency over the sizes.
const FLAT_RATIO: f64 = 1.5;
/// group is partly flat up to this max/min.
const PARTLY_FLAT_RATIO: f64 = 3.0;
/// random's rise is reproduced within this factor of the published rise.
const RISE_FACTOR: f64 = 2.0;
/// Above this largest/smallest ratio random's mean latency rises at all (partly reproduced).
const RISES: f64 = 1.5;
/// Super-linearity is reproduced within this factor of the published one.
const SUPERLINEAR_FACTOR: f64 = 2.0;
/// random/group at the smallest size is reproduced within this factor of the published one.
const SMALLEST_FACTOR: f64 = 1.5;
/// A CDF's `low` (against our p5) and `high` (against our max) agree within this factor.
const CDF_END_FACTOR: f64 = 2.0;
/// A CDF's median agrees within this factor.
const CDF_MEDIAN_FACTOR: f64 = 1.5;
/// The mean-latency error is reproduced up to this mean absolute error, %.
const ERROR_REPRODUCED_PCT: f64 = 25.0;
/// ... and partly reproduced up to this one.
const ERROR_PARTLY_PCT: f64 = 50.0;
/// A published point is at one of our sizes when they are this close, MiB (the published
/// sizes have two decimals).
pub(crate) const MATCH_MIB: f64 = 0.006;
/// Bytes per MiB.
const MIB: f64 = 1_048_576.0;

/// The verdict rules, in words, in claim order.
pub(crate) const RULES: [&str; 8] = [
    "Published numbers are computed exactly as ours, from the published points at the sizes this sweep measured (all 20 published points when fewer than two of them are at its sizes). A claim over the sizes needs our mean at every one of them: with a point without a known mean (no run, or no measured datapoint), its number is unknown and the claim is not reproduced; the error table compares the sizes that have a mean. One exception: when random has no measured datapoint at every size from some size on (and a mean at each size before it), it has collapsed, which is a rise without bound: its rise is then partly reproduced, and its super-linearity too if the sizes before the collapse are super-linear; both are stated over those sizes.",
    "group is flat: reproduced when the max/min of its mean latency over the sizes is at most 1.5, partly up to 3, not reproduced above.",
    "random rises: reproduced when its largest/smallest ratio is within a factor of 2 of the published one; partly when it is above 1.5 but not within that factor; not reproduced at 1.5 or below.",
    "Super-linearity: the least-squares slope (ms per MiB) over the last quarter of the sizes divided by that over the first quarter (a quarter is a fourth of the sizes, rounded down, at least 2); above 1.5 the curve is super-linear. Reproduced when super-linear and within a factor of 2 of the published value; partly when super-linear but not within it; not reproduced when not super-linear, or when the first quarter does not rise.",
    "random vs group at the smallest size: reproduced when random's mean over group's is within a factor of 1.5 of the published ratio (at the same size, else at the published smallest, 0.76 MiB); partly when below 1 (random faster) but not within it; not reproduced at 1 or above.",
    "CDF at the largest size (seeds pooled, nearest-rank percentiles), compared only when that size is the published CDF's: each published value is one check: where the curve leaves 0 against our 5th percentile and where it reaches 1 against our largest latency, each within a factor of 2; the median within a factor of 1.5; \"almost all below\" against our 95th percentile, which must be at or below it. Reproduced when every check passes, partly when some do, not reproduced when none does.",
    "Mean-latency error at each size: (ours − published) / published; reproduced when the mean absolute error over the sizes is at most 25%, partly up to 50%, not reproduced above.",
    "Unstable points (see the mean-latency section) are counted as measured: a claim over them measures runs that did not keep up.",
];

/// How a claim of the write-up fares in the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The measurement agrees with the published claim by the claim's rule.
    Reproduced,
    /// It agrees in direction or in part, not in size.
    Partly,
    /// It does not agree, or the sweep does not give the number.
    NotReproduced,
}

impl Verdict {
    /// "reproduced", "partly" or "not reproduced".
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Reproduced => "reproduced",
            Verdict::Partly => "partly",
            Verdict::NotReproduced => "not reproduced",
        }
    }

    /// "yes", "partly" or "no": the word for a narrow terminal column.
    pub fn short(self) -> &'static str {
        match self {
            Verdict::Reproduced => "yes",
            Verdict::Partly => "partly",
            Verdict::NotReproduced => "no",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// One number of a claim: ours beside the same number computed from the published points.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// Ours; `None` when the sweep does not give it (e.g. a point without a known mean).
    pub measured: Option<f64>,
    /// The same number computed from the published points.
    pub published: Option<f64>,
    /// What the number is made of, ours, in words (e.g. "5.3 to 29.6 ms").
    pub measured_detail: String,
    /// The same, published.
    pub published_detail: String,
    /// The verdict by the claim's rule.
    pub verdict: Verdict,
}

/// One check of the CDF claim: a published value against ours.
#[derive(Debug, Clone, PartialEq)]
pub struct CdfCheck {
    /// Where on the published curve the value was read.
    pub statistic: CdfStatistic,
    /// The published value, ms.
    pub published_ms: f64,
    /// Ours: the 5th percentile for `low`, the median, the largest latency for `high`, the
    /// 95th percentile for `almost_all_below`; `None` without datapoints.
    pub measured_ms: Option<f64>,
    /// Whether they agree by the rule.
    pub passed: bool,
}

/// The latency distribution of one policy at the largest size against the published CDF.
#[derive(Debug, Clone, PartialEq)]
pub struct CdfClaim {
    /// "random" or "group".
    pub policy: String,
    /// How many runs (seeds) are pooled.
    pub runs: usize,
    /// How many measured datapoints they have.
    pub datapoints: usize,
    /// 5th percentile, ms (nearest rank).
    pub p5_ms: Option<f64>,
    /// Median, ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile, ms.
    pub p95_ms: Option<f64>,
    /// Largest latency, ms.
    pub max_ms: Option<f64>,
    /// One check per published value.
    pub checks: Vec<CdfCheck>,
    /// Reproduced when every check passes, partly when some do, else not reproduced.
    pub verdict: Verdict,
}

/// Our seed-mean latency at one size against the published point there.
#[derive(Debug, Clone, PartialEq)]
pub struct PointError {
    /// "random" or "group".
    pub policy: String,
    /// Our data size, MiB.
    pub data_mib: f64,
    /// Our seed-mean of the mean latency, ms.
    pub measured_ms: f64,
    /// The published mean latency, ms.
    pub published_ms: f64,
    /// `(measured − published) / published × 100`.
    pub error_pct: f64,
}

/// The mean absolute error of one policy's mean latency against the published points.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyError {
    /// "random" or "group".
    pub policy: String,
    /// How many sizes have both our mean and a published point.
    pub points: usize,
    /// The mean of `|error_pct|` over them; `None` without any.
    pub mean_abs_pct: Option<f64>,
    /// Reproduced up to 25%, partly up to 50%, else not reproduced.
    pub verdict: Verdict,
}

/// The write-up's shape claims as one sweep (one combination of the other varying
/// parameters' values) measures them, each with the published value and a verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeClaims {
    /// The other varying parameters' values the claims are about, e.g. "num_reducers=2";
    /// empty when only the data size varies.
    pub combo: String,
    /// group's max/min of mean latency over the sizes.
    pub group_max_over_min: Claim,
    /// random's mean latency at the largest size over the smallest.
    pub random_rise: Claim,
    /// random's least-squares slope over the last quarter of the sizes over that of the
    /// first quarter (super-linear above [`SUPERLINEAR_RATIO`]).
    pub random_superlinearity: Claim,
    /// random's mean latency over group's at the smallest size.
    pub smallest_random_over_group: Claim,
    /// The largest size, MiB: where the CDFs are.
    pub largest_mib: f64,
    /// random's and group's latency CDF at the largest size against the published read-off;
    /// empty when the largest size is not the published CDF's.
    pub cdf: Vec<CdfClaim>,
    /// Our mean latency against each published point, random's then group's, by size.
    pub errors: Vec<PointError>,
    /// The mean absolute error per policy, random then group.
    pub mean_abs_error: Vec<PolicyError>,
    /// How many points of each policy of the sweep (in sweep order) are unstable.
    pub unstable_points: Vec<(String, usize)>,
    /// The size (MiB) from which random has no measured datapoint at all (it collapsed),
    /// with a mean at every size before it; `None` otherwise.
    pub random_collapsed_from: Option<f64>,
}

impl ShapeClaims {
    /// The CDF claim of `policy`, if there is one.
    pub fn cdf_of(&self, policy: &str) -> Option<&CdfClaim> {
        self.cdf.iter().find(|c| c.policy == policy)
    }

    /// The mean absolute error of `policy`, if it was compared.
    pub fn error_of(&self, policy: &str) -> Option<&PolicyError> {
        self.mean_abs_error.iter().find(|e| e.policy == policy)
    }
}

/// `|a / b|` within a factor of `f` of 1 (both positive).
fn within(a: f64, b: f64, f: f64) -> bool {
    a > 0.0 && b > 0.0 && a / b <= f && b / a <= f
}

/// Max over min of the values; `None` when empty or the minimum is not positive.
fn max_over_min(c: &[(f64, f64)]) -> Option<f64> {
    let lo = c.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = c.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    (!c.is_empty() && lo > 0.0).then(|| hi / lo)
}

/// The last value over the first; `None` with fewer than two or a first value that is not
/// positive.
fn rise(c: &[(f64, f64)]) -> Option<f64> {
    match c {
        [first, .., last] if first.1 > 0.0 => Some(last.1 / first.1),
        _ => None,
    }
}

/// The least-squares slope of `y` against `x`; `None` when every `x` is the same.
fn slope(c: &[(f64, f64)]) -> Option<f64> {
    let n = c.len() as f64;
    let mx = c.iter().map(|p| p.0).sum::<f64>() / n;
    let my = c.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for p in c {
        sxy += (p.0 - mx) * (p.1 - my);
        sxx += (p.0 - mx) * (p.0 - mx);
    }
    (sxx > 0.0).then(|| sxy / sxx)
}

/// The slopes of the first and the last quarter of a curve (`(MiB, ms)`, ascending): a quarter
/// is a fourth of the points, rounded down, at least 2. `None` with fewer than two points.
pub(crate) fn quarter_slopes(c: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = c.len();
    if n < 2 {
        return None;
    }
    let q = (n / 4).max(2);
    Some((slope(&c[..q])?, slope(&c[n - q..])?))
}

/// The super-linearity of a curve: last-quarter slope over first-quarter slope; `None` when
/// it has fewer than two points or its first quarter does not rise.
fn superlinearity(c: &[(f64, f64)]) -> Option<f64> {
    let (first, last) = quarter_slopes(c)?;
    (first > 0.0).then(|| last / first)
}

fn ms(v: f64) -> String {
    format!("{v:.1} ms")
}

fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "unknown".to_owned(), |v| format!("{v:.2}"))
}

/// "5.3 to 29.6 ms" for a curve's range.
fn range_words(c: &[(f64, f64)], published: bool) -> String {
    let lo = c.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = c.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    if c.is_empty() {
        "no points".to_owned()
    } else if published {
        format!("{} to {} ms", trim_number(lo), trim_number(hi))
    } else {
        format!("{lo:.1} to {hi:.1} ms")
    }
}

/// "7.8 ms at 0.76 MiB to 92.8 ms at 15.26 MiB".
fn ends_words(c: &[(f64, f64)], published: bool) -> String {
    let v = |v: f64| {
        if published {
            format!("{} ms", trim_number(v))
        } else {
            ms(v)
        }
    };
    match c {
        [first, .., last] => format!(
            "{} at {:.2} MiB to {} at {:.2} MiB",
            v(first.1),
            first.0,
            v(last.1),
            last.0
        ),
        _ => "fewer than two points".to_owned(),
    }
}

/// "slopes 5.3 and 7.7 ms/MiB".
fn slopes_words(c: &[(f64, f64)]) -> String {
    match quarter_slopes(c) {
        Some((a, b)) => format!("first-quarter slope {a:.1} ms/MiB, last-quarter {b:.1} ms/MiB"),
        None => "fewer than two points".to_owned(),
    }
}

/// A curve of `(MiB, ms)` points, ascending in size.
type Curve = Vec<(f64, f64)>;

/// One series' seed-mean latencies at the sweep's sizes.
struct Ours {
    /// The known ones, `(MiB, ms)`, ascending.
    curve: Curve,
    /// The sizes (MiB) where the series has no known mean: no run there, or none with a
    /// measured datapoint.
    missing: Vec<f64>,
}

impl Ours {
    /// The first size (MiB) of a collapse: when every size from some size on has no mean
    /// (no run delivered a measured datapoint) and every size before it has one, with at
    /// least two of them, the curve rises without bound there.
    fn collapsed_from(&self) -> Option<f64> {
        let first = *self.missing.first()?;
        let suffix = self.curve.iter().all(|&(mib, _)| mib < first);
        (suffix && self.curve.len() >= 2).then_some(first)
    }

    /// `f` of the curve, or `None` when a size has no mean: a claim over the sizes needs all.
    fn whole<T>(&self, f: impl FnOnce(&[(f64, f64)]) -> Option<T>) -> Option<T> {
        if self.missing.is_empty() {
            f(&self.curve)
        } else {
            None
        }
    }

    /// `words` of the curve, or which sizes have no mean.
    fn words(&self, words: impl FnOnce(&[(f64, f64)]) -> String) -> String {
        if self.missing.is_empty() {
            words(&self.curve)
        } else {
            let sizes: Vec<String> = self.missing.iter().map(|m| format!("{m:.2}")).collect();
            format!("no mean at {} MiB", sizes.join(", "))
        }
    }
}

/// The seed-mean latencies of one series at every size of the sweep.
fn our_curve(model: &Model, key: &SeriesKey) -> Ours {
    let mut ours = Ours {
        curve: Vec::new(),
        missing: Vec::new(),
    };
    for &x in &model.xs {
        match model
            .series_points(&key.label)
            .find(|p| p.x == x && p.mean_ms.is_known())
        {
            Some(p) => ours.curve.push((x / MIB, p.mean_ms.mean)),
            None => ours.missing.push(x / MIB),
        }
    }
    ours
}

/// The published points of `policy` at the sweep's sizes (all of them when fewer than two
/// are), `(MiB, ms)` ascending.
fn published_curve(model: &Model, policy: &str) -> Curve {
    let all: Curve = model
        .published_for(policy)
        .map(|p| (p.data_mib, p.mean_latency_ms))
        .collect();
    let at: Curve = all
        .iter()
        .copied()
        .filter(|p| model.xs.iter().any(|x| (x / MIB - p.0).abs() < MATCH_MIB))
        .collect();
    let mut out = if at.len() >= 2 { at } else { all };
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The verdict of group's flatness.
fn flat_verdict(measured: Option<f64>) -> Verdict {
    match measured {
        Some(r) if r <= FLAT_RATIO => Verdict::Reproduced,
        Some(r) if r <= PARTLY_FLAT_RATIO => Verdict::Partly,
        _ => Verdict::NotReproduced,
    }
}

/// The verdict of random's rise.
fn rise_verdict(measured: Option<f64>, published: Option<f64>) -> Verdict {
    match (measured, published) {
        (Some(m), Some(p)) if m > RISES && within(m, p, RISE_FACTOR) => Verdict::Reproduced,
        (Some(m), _) if m > RISES => Verdict::Partly,
        _ => Verdict::NotReproduced,
    }
}

/// The verdict of random's super-linearity.
fn superlinear_verdict(measured: Option<f64>, published: Option<f64>) -> Verdict {
    match (measured, published) {
        (Some(m), Some(p)) if m > SUPERLINEAR_RATIO && within(m, p, SUPERLINEAR_FACTOR) => {
            Verdict::Reproduced
        }
        (Some(m), _) if m > SUPERLINEAR_RATIO => Verdict::Partly,
        _ => Verdict::NotReproduced,
    }
}

/// The verdict of random over group at the smallest size.
fn smallest_verdict(measured: Option<f64>, published: Option<f64>) -> Verdict {
    match (measured, published) {
        (Some(m), Some(p)) if within(m, p, SMALLEST_FACTOR) => Verdict::Reproduced,
        (Some(m), _) if m < 1.0 => Verdict::Partly,
        _ => Verdict::NotReproduced,
    }
}

/// The verdict of a mean absolute error, %.
fn error_verdict(mean_abs_pct: Option<f64>) -> Verdict {
    match mean_abs_pct {
        Some(e) if e <= ERROR_REPRODUCED_PCT => Verdict::Reproduced,
        Some(e) if e <= ERROR_PARTLY_PCT => Verdict::Partly,
        _ => Verdict::NotReproduced,
    }
}

/// The verdict of a set of checks: all pass, some, none.
fn checks_verdict(checks: &[CdfCheck]) -> Verdict {
    let passed = checks.iter().filter(|c| c.passed).count();
    if !checks.is_empty() && passed == checks.len() {
        Verdict::Reproduced
    } else if passed > 0 {
        Verdict::Partly
    } else {
        Verdict::NotReproduced
    }
}

/// Our CDF of `key` at the largest size against the published values of its policy.
fn cdf_claim(model: &Model, key: &SeriesKey, readoff: &[&CdfReadoff]) -> CdfClaim {
    let cdf = model.cdfs.iter().find(|c| c.series == key.label);
    let sorted: &[f64] = cdf.map_or(&[], |c| c.sorted_ms.as_slice());
    let q = |p: f64| quantile(sorted, p);
    let (p5, p50, p95, max) = (q(0.05), q(0.5), q(0.95), sorted.last().copied());
    let checks: Vec<CdfCheck> = readoff
        .iter()
        .map(|r| {
            let v = r.latency_ms;
            let (measured, passed): (Option<f64>, fn(f64, f64) -> bool) = match r.statistic {
                CdfStatistic::Low => (p5, |m, v| within(m, v, CDF_END_FACTOR)),
                CdfStatistic::Median => (p50, |m, v| within(m, v, CDF_MEDIAN_FACTOR)),
                CdfStatistic::High => (max, |m, v| within(m, v, CDF_END_FACTOR)),
                CdfStatistic::AlmostAllBelow => (p95, |m, v| m <= v),
            };
            CdfCheck {
                statistic: r.statistic,
                published_ms: v,
                measured_ms: measured,
                passed: measured.is_some_and(|m| passed(m, v)),
            }
        })
        .collect();
    CdfClaim {
        policy: key.policy.clone(),
        runs: cdf.map_or(0, |c| c.runs),
        datapoints: sorted.len(),
        p5_ms: p5,
        p50_ms: p50,
        p95_ms: p95,
        max_ms: max,
        verdict: checks_verdict(&checks),
        checks,
    }
}

/// The shape claims of the sweep: one set per combination of the other varying parameters'
/// values that has both a random and a group series. Empty unless the sweep reproduces
/// "group-scheduling-2018" with its published points drawn.
pub(crate) fn compute(model: &Model) -> Result<Vec<ShapeClaims>, ReportError> {
    if !matches!(model.reference, Reference::Drawn(set) if set.id == DATA_SET) {
        return Ok(Vec::new());
    }
    let readoff = published_cdf()?;
    let mut out = Vec::new();
    for combo in model.combos() {
        let key = |policy: &str| {
            model
                .series
                .iter()
                .find(|k| k.policy == policy && k.others == combo)
        };
        let (Some(random), Some(group)) = (key("random"), key("group")) else {
            continue;
        };
        out.push(claims_of(model, random, group, &readoff));
    }
    Ok(out)
}

/// The claims of one random and one group series (of the same combination).
fn claims_of(
    model: &Model,
    random: &SeriesKey,
    group: &SeriesKey,
    readoff: &[CdfReadoff],
) -> ShapeClaims {
    let (ours_r, ours_g) = (our_curve(model, random), our_curve(model, group));
    let (pub_r, pub_g) = (
        published_curve(model, "random"),
        published_curve(model, "group"),
    );

    let (m, p) = (ours_g.whole(max_over_min), max_over_min(&pub_g));
    let group_max_over_min = Claim {
        measured: m,
        published: p,
        measured_detail: ours_g.words(|c| range_words(c, false)),
        published_detail: range_words(&pub_g, true),
        verdict: flat_verdict(m),
    };
    let (m, p) = (ours_r.whole(rise), rise(&pub_r));
    let mut random_rise = Claim {
        measured: m,
        published: p,
        measured_detail: ours_r.words(|c| ends_words(c, false)),
        published_detail: ends_words(&pub_r, true),
        verdict: rise_verdict(m, p),
    };
    let (m, p) = (ours_r.whole(superlinearity), superlinearity(&pub_r));
    let mut random_superlinearity = Claim {
        measured: m,
        published: p,
        measured_detail: ours_r.words(slopes_words),
        published_detail: slopes_words(&pub_r),
        verdict: superlinear_verdict(m, p),
    };
    if let Some(from) = ours_r.collapsed_from() {
        // A collapse is a rise without bound: the shape is there, the published curve's
        // finite numbers are not. Measured over the sizes before it.
        let before = &ours_r.curve;
        let collapsed = format!("unbounded: no datapoint from {from:.2} MiB on (collapsed)");
        let r = rise(before);
        random_rise.measured_detail = format!(
            "{collapsed}; up to there {} ({})",
            ratio(r),
            ends_words(before, false)
        );
        random_rise.verdict = Verdict::Partly;
        let sl = superlinearity(before);
        random_superlinearity.measured_detail = format!(
            "{collapsed}; up to there {} ({})",
            ratio(sl),
            slopes_words(before)
        );
        random_superlinearity.verdict = if sl.is_some_and(|v| v > SUPERLINEAR_RATIO) {
            Verdict::Partly
        } else {
            Verdict::NotReproduced
        };
    }

    let smallest = model.xs.first().copied().unwrap_or(f64::NAN);
    let at = |key: &SeriesKey| {
        model
            .series_points(&key.label)
            .find(|p| p.x == smallest)
            .filter(|p| p.mean_ms.is_known())
            .map(|p| p.mean_ms.mean)
    };
    let published_at = |policy: &str, mib: f64| {
        model
            .published_for(policy)
            .find(|q| (q.data_mib - mib).abs() < MATCH_MIB)
            .or_else(|| model.published_for(policy).next())
            .map(|q| (q.data_mib, q.mean_latency_ms))
    };
    let smallest_mib = smallest / MIB;
    let (r0, g0) = (at(random), at(group));
    let m = r0.zip(g0).filter(|(_, g)| *g > 0.0).map(|(r, g)| r / g);
    let (pr0, pg0) = (
        published_at("random", smallest_mib),
        published_at("group", smallest_mib),
    );
    let p = pr0
        .zip(pg0)
        .filter(|(_, g)| g.1 > 0.0)
        .map(|(r, g)| r.1 / g.1);
    let known = |v: Option<f64>| v.map_or_else(|| "unknown".to_owned(), ms);
    let smallest_random_over_group = Claim {
        measured: m,
        published: p,
        measured_detail: format!(
            "random {} / group {} at {:.2} MiB",
            known(r0),
            known(g0),
            smallest_mib
        ),
        published_detail: match pr0.zip(pg0) {
            Some((r, g)) => format!(
                "random {} ms / group {} ms at {:.2} MiB",
                trim_number(r.1),
                trim_number(g.1),
                r.0
            ),
            None => "no published point".to_owned(),
        },
        verdict: smallest_verdict(m, p),
    };

    let largest_mib = model.cdf_x / MIB;
    let cdf = [random, group]
        .into_iter()
        .filter_map(|key| {
            let values: Vec<&CdfReadoff> = readoff
                .iter()
                .filter(|r| r.policy == key.policy && (r.data_mib - largest_mib).abs() < MATCH_MIB)
                .collect();
            (!values.is_empty()).then(|| cdf_claim(model, key, &values))
        })
        .collect();

    let mut errors = Vec::new();
    let mut mean_abs_error = Vec::new();
    for (key, ours) in [(random, &ours_r), (group, &ours_g)] {
        let here: Vec<PointError> = ours
            .curve
            .iter()
            .filter_map(|&(mib, m)| {
                model
                    .published_for(&key.policy)
                    .find(|q| (q.data_mib - mib).abs() < MATCH_MIB)
                    .filter(|q| q.mean_latency_ms > 0.0)
                    .map(|q| PointError {
                        policy: key.policy.clone(),
                        data_mib: mib,
                        measured_ms: m,
                        published_ms: q.mean_latency_ms,
                        error_pct: (m - q.mean_latency_ms) / q.mean_latency_ms * 100.0,
                    })
            })
            .collect();
        let mean = (!here.is_empty())
            .then(|| here.iter().map(|e| e.error_pct.abs()).sum::<f64>() / here.len() as f64);
        mean_abs_error.push(PolicyError {
            policy: key.policy.clone(),
            points: here.len(),
            mean_abs_pct: mean,
            verdict: error_verdict(mean),
        });
        errors.extend(here);
    }

    let unstable_points = model
        .sweep
        .policies
        .iter()
        .map(|policy| {
            let n = model
                .points
                .iter()
                .filter(|p| &p.policy == policy && p.others == random.others)
                .filter(|p| p.is_unstable())
                .count();
            (policy.clone(), n)
        })
        .collect();

    ShapeClaims {
        combo: model.fmt_combo(&random.others),
        group_max_over_min,
        random_rise,
        random_superlinearity,
        smallest_random_over_group,
        largest_mib,
        cdf,
        errors,
        mean_abs_error,
        unstable_points,
        random_collapsed_from: ours_r.collapsed_from(),
    }
}

/// "median 550.0 ms; p5–p95 100.0–2100.0 ms; max 2400.0 ms (5000 datapoints, 2 runs)".
fn cdf_measured_words(c: &CdfClaim) -> String {
    match (c.p5_ms, c.p50_ms, c.p95_ms, c.max_ms) {
        (Some(p5), Some(p50), Some(p95), Some(max)) => format!(
            "median {}; p5–p95 {p5:.1}–{p95:.1} ms; max {} ({} datapoints, {} {})",
            ms(p50),
            ms(max),
            c.datapoints,
            c.runs,
            if c.runs == 1 { "run" } else { "runs" }
        ),
        _ => "no measured datapoints".to_owned(),
    }
}

/// The published CDF values in words: "median ~550 ms; from ~100 to ~2100 ms".
fn cdf_published_words(c: &CdfClaim) -> String {
    let get = |s: CdfStatistic| {
        c.checks
            .iter()
            .find(|k| k.statistic == s)
            .map(|k| trim_number(k.published_ms))
    };
    let mut parts = Vec::new();
    if let Some(m) = get(CdfStatistic::Median) {
        parts.push(format!("median ~{m} ms"));
    }
    match (get(CdfStatistic::Low), get(CdfStatistic::High)) {
        (Some(lo), Some(hi)) => parts.push(format!("from ~{lo} to ~{hi} ms")),
        (None, Some(hi)) => parts.push(format!("tail to ~{hi} ms")),
        (Some(lo), None) => parts.push(format!("from ~{lo} ms")),
        (None, None) => {}
    }
    if let Some(b) = get(CdfStatistic::AlmostAllBelow) {
        parts.insert(0, format!("almost all under ~{b} ms"));
    }
    parts.join("; ")
}

/// "median: 550.0 ms vs ~550 ms, agrees; ...": each check in words.
fn checks_words(c: &CdfClaim) -> String {
    c.checks
        .iter()
        .map(|k| {
            let ours = k.measured_ms.map_or_else(|| "unknown".to_owned(), ms);
            let what = match k.statistic {
                CdfStatistic::Low => "p5 vs where it leaves 0",
                CdfStatistic::Median => "median",
                CdfStatistic::High => "max vs where it reaches 1",
                CdfStatistic::AlmostAllBelow => "p95 vs almost all below",
            };
            format!(
                "{what}: {ours} vs ~{} ms, {}",
                trim_number(k.published_ms),
                if k.passed { "agrees" } else { "differs" }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A percentage with one decimal and its sign, e.g. "+12.5%".
fn signed_pct(v: f64) -> String {
    format!("{v:+.1}%")
}

/// The "Shape claims" section's blocks for the claims of a sweep (empty for none). With more
/// than one set (other parameters vary), each set has a heading naming its combination.
pub(crate) fn blocks(model: &Model, all: &[ShapeClaims]) -> Vec<Block> {
    if all.is_empty() {
        return Vec::new();
    }
    let mut out = vec![Block::Paragraph(
        "The write-up's claims about the shape of its curves, each as this sweep measures it (seed-averaged, warm-up excluded), beside the same number computed from the published points (read by eye off the write-up's figures), with a verdict by the rules listed below.".to_owned(),
    )];
    for claims in all {
        if all.len() > 1 {
            out.push(Block::Heading(format!("With {}", claims.combo)));
        }
        out.extend(claim_blocks(model, claims));
    }
    out.push(Block::Heading("Rules".to_owned()));
    out.push(Block::List(RULES.iter().map(|r| (*r).to_owned()).collect()));
    out
}

/// The blocks of one set of claims: the claims table, the CDF note, the error table and the
/// unstable points.
fn claim_blocks(model: &Model, c: &ShapeClaims) -> Vec<Block> {
    let row = |claim: &str, cl: &Claim| {
        vec![
            claim.to_owned(),
            format!("{} ({})", ratio(cl.measured), cl.measured_detail),
            format!("{} ({})", ratio(cl.published), cl.published_detail),
            cl.verdict.word().to_owned(),
        ]
    };
    let smallest = model
        .xs
        .first()
        .map_or_else(String::new, |x| model.x.fmt(*x));
    let mut rows = vec![
        row(
            "group is flat: max/min of its mean latency over the sizes",
            &c.group_max_over_min,
        ),
        row(
            "random rises: its mean latency at the largest size over that at the smallest",
            &c.random_rise,
        ),
        row(
            "random rises super-linearly: last-quarter slope over first-quarter slope (super-linear above 1.5)",
            &c.random_superlinearity,
        ),
        row(
            &format!(
                "random is faster at the smallest size, {smallest}: random's mean latency over group's"
            ),
            &c.smallest_random_over_group,
        ),
    ];
    for cdf in &c.cdf {
        rows.push(vec![
            format!(
                "{}'s latency at {:.2} MiB (CDF, seeds pooled): median and spread",
                cdf.policy, c.largest_mib
            ),
            format!("{} [{}]", cdf_measured_words(cdf), checks_words(cdf)),
            cdf_published_words(cdf),
            cdf.verdict.word().to_owned(),
        ]);
    }
    for e in &c.mean_abs_error {
        rows.push(vec![
            format!(
                "{}'s mean latency at each size: mean absolute error against the published points",
                e.policy
            ),
            match e.mean_abs_pct {
                Some(v) => format!(
                    "{v:.1}% over {} {}",
                    e.points,
                    if e.points == 1 { "size" } else { "sizes" }
                ),
                None => "no size with both our mean and a published point".to_owned(),
            },
            "the published points (table below)".to_owned(),
            e.verdict.word().to_owned(),
        ]);
    }
    let mut out = vec![Block::Table(Table {
        header: ["claim", "measured", "published", "verdict"]
            .map(str::to_owned)
            .to_vec(),
        rows,
        words: true,
    })];
    if c.cdf.is_empty() {
        out.push(Block::Paragraph(format!(
            "The published CDF is at 15.26 MiB; this sweep's largest size is {:.2} MiB, so the CDF is not compared.",
            c.largest_mib
        )));
    }
    out.push(Block::Paragraph(
        "Our seed-mean latency at each size against the published point there; error = (ours − published) / published.".to_owned(),
    ));
    out.push(Block::Table(error_table(c)));
    let unstable: Vec<String> = c
        .unstable_points
        .iter()
        .map(|(p, n)| format!("{p} {n}"))
        .collect();
    if c.unstable_points.iter().any(|(_, n)| *n > 0) {
        out.push(Block::Paragraph(format!(
            "Unstable points by policy (drawn as × in the mean-latency figure, where the text names them): {}.",
            unstable.join(", ")
        )));
    }
    out
}

/// One row per size with random's and group's mean latency, the published one and the error,
/// then the mean absolute errors.
fn error_table(c: &ShapeClaims) -> Table {
    let policies: Vec<&str> = c.mean_abs_error.iter().map(|e| e.policy.as_str()).collect();
    let mut header = vec!["data size (MiB)".to_owned()];
    for p in &policies {
        header.extend([
            format!("{p} ms"),
            format!("{p} published ms"),
            format!("{p} error"),
        ]);
    }
    let mut sizes: Vec<f64> = c.errors.iter().map(|e| e.data_mib).collect();
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    let mut rows: Vec<Vec<String>> = sizes
        .iter()
        .map(|&mib| {
            let mut row = vec![format!("{mib:.2}")];
            for p in &policies {
                match c
                    .errors
                    .iter()
                    .find(|e| e.policy == *p && e.data_mib == mib)
                {
                    Some(e) => row.extend([
                        format!("{:.1}", e.measured_ms),
                        trim_number(e.published_ms),
                        signed_pct(e.error_pct),
                    ]),
                    None => row.extend(["–", "–", "–"].map(str::to_owned)),
                }
            }
            row
        })
        .collect();
    let mut last = vec!["mean absolute error".to_owned()];
    for e in &c.mean_abs_error {
        last.extend([
            String::new(),
            String::new(),
            e.mean_abs_pct
                .map_or_else(|| "–".to_owned(), |v| format!("{v:.1}%")),
        ]);
    }
    rows.push(last);
    Table {
        header,
        rows,
        words: false,
    }
}

/// The whole write-up's numbers, computed from all its published points the way
/// [`ShapeClaims`] computes ours: for the first row of an ablation table.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedShape {
    /// group's max/min of mean latency over the 20 sizes.
    pub group_max_over_min: Option<f64>,
    /// random's mean latency at 15.26 MiB over that at 0.76 MiB.
    pub random_rise: Option<f64>,
    /// random's last-quarter slope over its first-quarter slope.
    pub random_superlinearity: Option<f64>,
    /// random's mean latency over group's at 0.76 MiB.
    pub smallest_random_over_group: Option<f64>,
    /// random's median at 15.26 MiB, read off the CDF, ms.
    pub random_median_ms: Option<f64>,
    /// group's "almost all below" at 15.26 MiB, read off the CDF, ms.
    pub group_almost_all_below_ms: Option<f64>,
}

/// The write-up's numbers from all its published points and its CDF read-off.
pub(crate) fn published_shape() -> Result<PublishedShape, ReportError> {
    let points = crate::published::published_eval_line()?;
    let curve = |policy: &str| -> Curve {
        let mut c: Curve = points
            .iter()
            .filter(|p| p.policy == policy)
            .map(|p| (p.data_mib, p.mean_latency_ms))
            .collect();
        c.sort_by(|a, b| a.0.total_cmp(&b.0));
        c
    };
    let (r, g) = (curve("random"), curve("group"));
    let cdf = published_cdf()?;
    let read = |policy: &str, s: CdfStatistic| {
        cdf.iter()
            .find(|c| c.policy == policy && c.statistic == s)
            .map(|c| c.latency_ms)
    };
    Ok(PublishedShape {
        group_max_over_min: max_over_min(&g),
        random_rise: rise(&r),
        random_superlinearity: superlinearity(&r),
        smallest_random_over_group: r
            .first()
            .zip(g.first())
            .filter(|(_, g)| g.1 > 0.0)
            .map(|(r, g)| r.1 / g.1),
        random_median_ms: read("random", CdfStatistic::Median),
        group_almost_all_below_ms: read("group", CdfStatistic::AlmostAllBelow),
    })
}

/// How many points of each policy are unstable, over all of its series (for a sweep without
/// claims): `(policy, count)` in sweep order.
pub(crate) fn unstable_by_policy(model: &Model) -> Vec<(String, usize)> {
    model
        .sweep
        .policies
        .iter()
        .map(|policy| {
            let n = model
                .points
                .iter()
                .filter(|p: &&AggregatePoint| &p.policy == policy && p.is_unstable())
                .count();
            (policy.clone(), n)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slopes_ratios_and_verdict_rules() {
        // A line has super-linearity 1; y = x² over 0..=7 (quarters of 2 points) has slopes
        // 1 (0→1) and 13 (6→7).
        let line: Curve = (0..8)
            .map(|i| (f64::from(i), 3.0 * f64::from(i) + 1.0))
            .collect();
        assert_eq!(superlinearity(&line), Some(1.0));
        let square: Curve = (0..8).map(|i| (f64::from(i), f64::from(i * i))).collect();
        assert_eq!(quarter_slopes(&square), Some((1.0, 13.0)));
        assert_eq!(superlinearity(&square), Some(13.0));
        // A first quarter that does not rise gives no ratio.
        assert_eq!(superlinearity(&[(0.0, 5.0), (1.0, 5.0), (2.0, 9.0)]), None);
        assert_eq!(superlinearity(&[(0.0, 5.0)]), None);
        assert_eq!(rise(&[(0.0, 2.0), (1.0, 3.0), (2.0, 8.0)]), Some(4.0));
        assert_eq!(max_over_min(&[(0.0, 2.0), (1.0, 3.0)]), Some(1.5));

        assert_eq!(flat_verdict(Some(1.5)), Verdict::Reproduced);
        assert_eq!(flat_verdict(Some(2.9)), Verdict::Partly);
        assert_eq!(flat_verdict(Some(3.1)), Verdict::NotReproduced);
        assert_eq!(flat_verdict(None), Verdict::NotReproduced);
        assert_eq!(rise_verdict(Some(12.5), Some(24.6)), Verdict::Reproduced);
        assert_eq!(rise_verdict(Some(11.8), Some(24.6)), Verdict::Partly);
        assert_eq!(rise_verdict(Some(1.4), Some(24.6)), Verdict::NotReproduced);
        assert_eq!(
            superlinear_verdict(Some(6.0), Some(10.6)),
            Verdict::Reproduced
        );
        assert_eq!(superlinear_verdict(Some(2.0), Some(10.6)), Verdict::Partly);
        assert_eq!(
            superlinear_verdict(Some(1.46), Some(10.6)),
            Verdict::NotReproduced
        );
        assert_eq!(smallest_verdict(Some(0.3), Some(0.35)), Verdict::Reproduced);
        assert_eq!(smallest_verdict(Some(0.9), Some(0.35)), Verdict::Partly);
        assert_eq!(
            smallest_verdict(Some(1.48), Some(0.35)),
            Verdict::NotReproduced
        );
        assert_eq!(error_verdict(Some(25.0)), Verdict::Reproduced);
        assert_eq!(error_verdict(Some(50.0)), Verdict::Partly);
        assert_eq!(error_verdict(Some(50.1)), Verdict::NotReproduced);
    }

    #[test]
    fn the_published_shape_is_computed_from_all_twenty_points() {
        let p = published_shape().expect("embedded data");
        assert_eq!(p.group_max_over_min, Some(77.0 / 61.0));
        assert_eq!(p.random_rise, Some(663.0 / 27.0));
        assert_eq!(p.smallest_random_over_group, Some(27.0 / 77.0));
        let s = p.random_superlinearity.expect("super-linearity");
        assert!((s - 10.643_247).abs() < 1e-5, "{s}");
        assert!(s > SUPERLINEAR_RATIO);
        assert_eq!(p.random_median_ms, Some(550.0));
        assert_eq!(p.group_almost_all_below_ms, Some(100.0));
    }
}
