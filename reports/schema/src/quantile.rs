//! The one quantile definition of cohort: nearest rank.

/// The nearest-rank `q`-quantile of an ascending slice: the smallest value with at least a
/// fraction `q` of the values at or below it (`q` in (0, 1]; a smaller `q` gives the first
/// value). `None` when the slice is empty.
///
/// The `p50_ms`, `p90_ms` and `p99_ms` columns of `summary.csv` are these quantiles of a
/// run's measured latencies.
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), Some(2.0));
        assert_eq!(quantile(&v, 0.9), Some(4.0));
        assert_eq!(quantile(&v, 0.01), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(4.0));
        assert_eq!(quantile::<f64>(&[], 0.5), None);
        // 1..=100: the q-quantile is 100 q exactly.
        let ns: Vec<u64> = (1..=100).collect();
        assert_eq!(
            [0.5, 0.9, 0.99].map(|q| quantile(&ns, q)),
            [Some(50), Some(90), Some(99)]
        );
        assert_eq!(quantile(&[7u64], 0.99), Some(7));
    }
}
