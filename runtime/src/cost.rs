//! The cost model: how long a piece of work takes on the virtual clock.

use crate::time::Nanos;

/// Duration of one execution as a function of the bytes it reads and writes:
/// `fixed + input_bytes * per_input_byte + output_bytes * per_output_byte`.
///
/// Per-byte costs are in picoseconds so that rates up to 1 TB/s are exact integers; the total
/// is rounded up to a whole nanosecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CostModel {
    /// Fixed cost per execution, in nanoseconds.
    pub fixed_ns: Nanos,
    /// Cost per input byte, in picoseconds.
    pub per_input_byte_ps: u64,
    /// Cost per output byte, in picoseconds.
    pub per_output_byte_ps: u64,
}

impl CostModel {
    /// A cost model with only a fixed part.
    pub const fn fixed(ns: Nanos) -> Self {
        CostModel {
            fixed_ns: ns,
            per_input_byte_ps: 0,
            per_output_byte_ps: 0,
        }
    }

    /// The modeled duration of one execution.
    pub fn duration(&self, input_bytes: u64, output_bytes: u64) -> Nanos {
        if self.per_input_byte_ps == 0 && self.per_output_byte_ps == 0 {
            return self.fixed_ns;
        }
        let ps = u128::from(input_bytes) * u128::from(self.per_input_byte_ps)
            + u128::from(output_bytes) * u128::from(self.per_output_byte_ps);
        let ns = ps.div_ceil(1000);
        self.fixed_ns
            .saturating_add(u64::try_from(ns).unwrap_or(u64::MAX))
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
        };
        // 10 * 250 ps = 2.5 ns, 3 * 1 ns = 3 ns: 5.5 ns rounds up to 6.
        assert_eq!(c.duration(10, 3), 106);
        assert_eq!(CostModel::fixed(7).duration(1 << 40, 1 << 40), 7);
    }
}
