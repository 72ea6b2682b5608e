//! The cost model: how long a piece of work takes on the virtual clock.

use crate::time::Nanos;

/// Duration of one execution as a function of the bytes it reads and writes:
/// `fixed + input_bytes * per_input_byte + output_bytes * per_output_byte`, plus the
/// duration each [`SizeCurve`] gives at the input's and the output's size.
///
/// Per-byte costs are in picoseconds so that rates up to 1 TB/s are exact integers; the linear
/// part is rounded up to a whole nanosecond, and so is each curve's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CostModel {
    /// Fixed cost per execution, in nanoseconds.
    pub fixed_ns: Nanos,
    /// Cost per input byte, in picoseconds.
    pub per_input_byte_ps: u64,
    /// Cost per output byte, in picoseconds.
    pub per_output_byte_ps: u64,
    /// A duration by the bytes read (none by default).
    pub by_input_size: SizeCurve,
    /// A duration by the bytes written (none by default).
    pub by_output_size: SizeCurve,
}

impl CostModel {
    /// A cost model with only a fixed part.
    pub const fn fixed(ns: Nanos) -> Self {
        CostModel {
            fixed_ns: ns,
            per_input_byte_ps: 0,
            per_output_byte_ps: 0,
            by_input_size: SizeCurve::NONE,
            by_output_size: SizeCurve::NONE,
        }
    }

    /// The modeled duration of one execution.
    pub fn duration(&self, input_bytes: u64, output_bytes: u64) -> Nanos {
        let linear = if self.per_input_byte_ps == 0 && self.per_output_byte_ps == 0 {
            self.fixed_ns
        } else {
            let ps = u128::from(input_bytes) * u128::from(self.per_input_byte_ps)
                + u128::from(output_bytes) * u128::from(self.per_output_byte_ps);
            let ns = ps.div_ceil(1000);
            self.fixed_ns
                .saturating_add(u64::try_from(ns).unwrap_or(u64::MAX))
        };
        linear
            .saturating_add(self.by_input_size.at(input_bytes))
            .saturating_add(self.by_output_size.at(output_bytes))
    }
}

/// A duration as a function of a size, through measured points: linear between two
/// neighbouring points; below the first point, the first point's duration; beyond the last,
/// the line through the last two continued (level if it falls, or with one point). What
/// `cohort calibrate` writes for a class of task code: its medians at each size it measured,
/// where one line through them all would misprice the sizes between (a copy's cost per byte
/// grows once the data no longer fits the caches). Empty (the default): 0 at every size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SizeCurve {
    /// `(bytes, duration in ns)`.
    points: Points<{ SizeCurve::MAX_POINTS }>,
}

impl SizeCurve {
    /// The most points a curve has.
    pub const MAX_POINTS: usize = 8;

    /// No curve: 0 at every size.
    pub const NONE: SizeCurve = SizeCurve {
        points: Points::EMPTY,
    };

    /// The curve through `(bytes, duration)` points in any order; `None` if two share a size
    /// or there are more than [`SizeCurve::MAX_POINTS`].
    pub fn new(points: &[(u64, Nanos)]) -> Option<SizeCurve> {
        Points::new(points).map(|points| SizeCurve { points })
    }

    /// The points, by size.
    pub fn points(&self) -> &[(u64, Nanos)] {
        self.points.get()
    }

    /// Whether it has no point (0 at every size).
    pub fn is_none(&self) -> bool {
        self.points.get().is_empty()
    }

    /// The duration at `bytes`, rounded up to a whole nanosecond.
    pub fn at(&self, bytes: u64) -> Nanos {
        let p = self.points();
        let Some(&(first, first_ns)) = p.first() else {
            return 0;
        };
        if bytes <= first {
            return first_ns;
        }
        // The segment whose end is the first point at or past `bytes`, else the last one.
        let end = p
            .iter()
            .position(|&(s, _)| s >= bytes)
            .unwrap_or(p.len() - 1);
        if end == 0 {
            return first_ns;
        }
        let ((s0, d0), (s1, d1)) = (p[end - 1], p[end]);
        if bytes <= s1 {
            // Between the two: each end weighted by its nearness.
            let num =
                u128::from(d0) * u128::from(s1 - bytes) + u128::from(d1) * u128::from(bytes - s0);
            let ns = num.div_ceil(u128::from(s1 - s0));
            return u64::try_from(ns).unwrap_or(u64::MAX);
        }
        if d1 <= d0 {
            return d1;
        }
        let more = u128::from(d1 - d0) * u128::from(bytes - s1);
        let ns = more.div_ceil(u128::from(s1 - s0));
        d1.saturating_add(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

/// At most `N` points `(x, y)`, kept in a fixed array so that the curves holding them are
/// `Copy` (see [`SizeCurve`] and [`crate::model::WakeUp`]).
///
/// Invariant: the first `len` points are sorted by `x`, strictly increasing; the rest are
/// `(0, 0)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Points<const N: usize> {
    points: [(u64, u64); N],
    len: u8,
}

impl<const N: usize> Default for Points<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> Points<N> {
    /// No point.
    pub(crate) const EMPTY: Self = Points {
        points: [(0, 0); N],
        len: 0,
    };

    /// `points` in any order, sorted; `None` if two share an `x` or there are more than `N`
    /// (or more than 255).
    pub(crate) fn new(points: &[(u64, u64)]) -> Option<Self> {
        let len = u8::try_from(points.len())
            .ok()
            .filter(|_| points.len() <= N)?;
        let mut p = Points {
            points: [(0, 0); N],
            len,
        };
        p.points[..points.len()].copy_from_slice(points);
        p.points[..points.len()].sort_unstable();
        p.get().windows(2).all(|w| w[0].0 < w[1].0).then_some(p)
    }

    /// The points, by `x`.
    pub(crate) fn get(&self) -> &[(u64, u64)] {
        &self.points[..usize::from(self.len)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_adds_parts_and_rounds_up() {
        let c = CostModel {
            fixed_ns: 100,
            per_input_byte_ps: 250,
            per_output_byte_ps: 1000,
            ..CostModel::default()
        };
        // 10 * 250 ps = 2.5 ns, 3 * 1 ns = 3 ns: 5.5 ns rounds up to 6.
        assert_eq!(c.duration(10, 3), 106);
        assert_eq!(CostModel::fixed(7).duration(1 << 40, 1 << 40), 7);
    }

    #[test]
    fn a_curve_interpolates_between_its_points_and_continues_past_the_last() {
        let c = SizeCurve::new(&[(1_000, 300), (0, 100), (3_000, 400)]).unwrap();
        assert_eq!(c.points(), &[(0, 100), (1_000, 300), (3_000, 400)]);
        let at = [0, 1, 500, 999, 1_000, 1_001, 2_000, 3_000, 5_000].map(|b| c.at(b));
        // 500 B: halfway from 100 to 300; 999 B: 299.8 rounds up; 2,000 B: halfway from 300
        // to 400; 5,000 B: 2,000 B past the last point at 50 ns per 1,000 B.
        assert_eq!(at, [100, 101, 200, 300, 300, 301, 350, 400, 500]);
        assert_eq!(
            c.at(u64::MAX),
            (u64::MAX - 3_000).div_ceil(20) + 400,
            "no overflow"
        );
    }

    #[test]
    fn a_curve_is_level_below_its_first_point_and_past_a_falling_end() {
        let c = SizeCurve::new(&[(100, 50), (200, 80), (300, 70)]).unwrap();
        assert_eq!(
            [0, 100, 250, 300, 10_000].map(|b| c.at(b)),
            [50, 50, 75, 70, 70]
        );
        let one = SizeCurve::new(&[(64, 9)]).unwrap();
        assert_eq!([0, 64, 1 << 40].map(|b| one.at(b)), [9, 9, 9]);
        assert!(SizeCurve::NONE.is_none() && SizeCurve::NONE.at(1 << 30) == 0);
    }

    #[test]
    fn a_curve_needs_distinct_sizes_and_at_most_eight_points() {
        assert_eq!(SizeCurve::new(&[(5, 1), (5, 2)]), None);
        let nine: Vec<(u64, Nanos)> = (0..9).map(|i| (i, i)).collect();
        assert_eq!(SizeCurve::new(&nine), None);
        assert!(SizeCurve::new(&nine[..8]).is_some());
        assert_eq!(SizeCurve::new(&[]), Some(SizeCurve::NONE));
    }

    #[test]
    fn curves_add_to_the_linear_part_by_their_own_size() {
        let c = CostModel {
            fixed_ns: 10,
            per_input_byte_ps: 1_000,
            by_input_size: SizeCurve::new(&[(0, 0), (100, 1_000)]).unwrap(),
            by_output_size: SizeCurve::new(&[(0, 5), (10, 105)]).unwrap(),
            ..CostModel::default()
        };
        // 10 + 50 x 1 ns, 500 ns by the input's curve at 50 B, 55 ns by the output's at 5 B.
        assert_eq!(c.duration(50, 5), 10 + 50 + 500 + 55);
    }
}
