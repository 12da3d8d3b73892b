//! Summary statistics of measured values (latencies, rates), one
//! definition for every report and benchmark so their figures compare.
//!
//! Percentiles are nearest-rank: the smallest measured value such that at
//! least `q` of all values are at or below it. The answer is always a value
//! that was measured (never an interpolation between two), and p50 of an
//! even count is the lower middle value.

/// The `q` quantile (0..=1) of `values`, nearest-rank; `None` when there
/// are no values. NaNs sort last (`f64::total_cmp`).
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile_of_sorted(&sorted, q)
}

/// [`percentile`] of values already sorted ascending.
pub fn percentile_of_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// p50 (nearest-rank, so the lower middle value of an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    percentile(values, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_measured_values_by_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), Some(50.0));
        assert_eq!(percentile(&values, 0.95), Some(95.0));
        assert_eq!(percentile(&values, 1.0), Some(100.0));
        assert_eq!(percentile(&values, 0.0), Some(1.0));
        assert_eq!(median(&[3.0, 1.0, 2.0, 4.0]), Some(2.0));
        assert_eq!(percentile(&[7.0], 0.95), Some(7.0));
    }

    #[test]
    fn no_values_have_no_percentile() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(median(&[]), None);
    }
}
