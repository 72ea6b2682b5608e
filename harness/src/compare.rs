//! `cohort compare`: the simulator's runs beside the live ones, as `compare.csv` rows.

use cohort_schema::{CompareRow, Fixed6, SummaryRow};

/// `(simulated - live) / live`, or 0 when the live value is 0.
fn error(sim: f64, live: f64) -> f64 {
    if live == 0.0 {
        0.0
    } else {
        (sim - live) / live
    }
}

/// A row per run that both sides finished, in the simulated side's order.
pub fn rows(sim: &[SummaryRow], live: &[SummaryRow]) -> Vec<CompareRow> {
    sim.iter()
        .filter_map(|s| {
            let l = live.iter().find(|l| l.run == s.run)?;
            Some(CompareRow {
                run: s.run.clone(),
                policy: s.policy.clone(),
                seed: s.seed,
                params: s.params.clone(),
                sim_mean_ms: s.mean_ms,
                live_mean_ms: l.mean_ms,
                mean_error: Fixed6(error(s.mean_ms.0, l.mean_ms.0)),
                sim_p50_ms: s.p50_ms,
                live_p50_ms: l.p50_ms,
                p50_error: Fixed6(error(s.p50_ms.0, l.p50_ms.0)),
                sim_p99_ms: s.p99_ms,
                live_p99_ms: l.p99_ms,
                p99_error: Fixed6(error(s.p99_ms.0, l.p99_ms.0)),
                sim_bytes: s.bytes_transferred,
                live_bytes: l.bytes_transferred,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_pair_by_id_and_errors_are_relative_to_live() {
        let row = |run: &str, mean: f64, bytes: u64| SummaryRow {
            run: run.to_string(),
            policy: "p".to_string(),
            mean_ms: Fixed6(mean),
            p50_ms: Fixed6(mean),
            p99_ms: Fixed6(mean * 2.0),
            bytes_transferred: bytes,
            ..SummaryRow::default()
        };
        let sim = [row("a", 1.0, 10), row("b", 3.0, 20), row("c", 1.0, 0)];
        let live = [row("b", 4.0, 25), row("a", 2.0, 10)];
        let r = rows(&sim, &live);
        assert_eq!(r.len(), 2, "c did not finish live");
        assert_eq!((r[0].run.as_str(), r[0].mean_error.0), ("a", -0.5));
        assert_eq!((r[1].run.as_str(), r[1].mean_error.0), ("b", -0.25));
        assert_eq!((r[1].sim_bytes, r[1].live_bytes), (20, 25));
        assert_eq!(error(1.0, 0.0), 0.0);
    }
}
