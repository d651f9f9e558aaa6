//! Sample statistics (median, p99) and the formatting of durations, sizes and ratios used
//! in the report.

use std::time::Duration;

/// Summary of a set of duration samples.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Median (mean of the two middle values for an even count).
    pub median: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Largest sample.
    pub max: Duration,
}

/// Summarises `samples` (at least one).
pub fn summarize(samples: &[Duration]) -> Summary {
    assert!(!samples.is_empty(), "no samples to summarise");
    let mut sorted = samples.to_vec();
    sorted.sort();
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    };
    let rank = ((n as f64) * 0.99).ceil() as usize;
    Summary {
        n,
        median,
        p99: sorted[rank.clamp(1, n) - 1],
        max: sorted[n - 1],
    }
}

/// A duration for people: µs below 1 ms, ms below 10 s, else s.
pub fn dur(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 0.001 {
        format!("{:.1} µs", secs * 1e6)
    } else if secs < 0.1 {
        format!("{:.2} ms", secs * 1e3)
    } else if secs < 10.0 {
        format!("{:.0} ms", secs * 1e3)
    } else {
        format!("{secs:.1} s")
    }
}

/// Seconds with two decimals.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// A size in KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `a / b` as a ratio with two decimals (`n/a` when b is zero).
pub fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        f64::NAN
    } else {
        a.as_secs_f64() / b.as_secs_f64()
    }
}

/// A ratio for the report, e.g. `1.07x`.
pub fn times(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.2}x")
    } else {
        "n/a".into()
    }
}

/// The `index`-th permutation (in lexicographic order, wrapping around) of `0..n`: used to
/// interleave measurements so that each side runs before and after each other side equally
/// often.
pub fn permutation(n: usize, index: usize) -> Vec<usize> {
    let total: usize = (1..=n).product();
    let mut rank = index % total.max(1);
    let mut left: Vec<usize> = (0..n).collect();
    let mut out = Vec::with_capacity(n);
    for i in (0..n).rev() {
        let block: usize = (1..=i).product();
        out.push(left.remove(rank / block));
        rank %= block;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_cover_every_order() {
        assert_eq!(permutation(3, 0), [0, 1, 2]);
        assert_eq!(permutation(3, 5), [2, 1, 0]);
        assert_eq!(permutation(3, 6), [0, 1, 2]);
        let mut all: Vec<Vec<usize>> = (0..24).map(|i| permutation(4, i)).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 24);
        assert_eq!(permutation(1, 7), [0]);
    }

    #[test]
    fn median_and_p99_by_nearest_rank() {
        let ms = |v: u64| Duration::from_millis(v);
        let samples: Vec<Duration> = (1..=100).rev().map(ms).collect();
        let s = summarize(&samples);
        assert_eq!(s.n, 100);
        assert_eq!(s.median, Duration::from_micros(50_500));
        assert_eq!(s.p99, ms(99));
        assert_eq!(s.max, ms(100));
        let odd = summarize(&[ms(5), ms(1), ms(3)]);
        assert_eq!((odd.median, odd.p99), (ms(3), ms(5)));
    }

    #[test]
    fn formatting() {
        assert_eq!(dur(Duration::from_micros(42)), "42.0 µs");
        assert_eq!(dur(Duration::from_micros(4_250)), "4.25 ms");
        assert_eq!(dur(Duration::from_millis(420)), "420 ms");
        assert_eq!(dur(Duration::from_secs(42)), "42.0 s");
        assert_eq!(
            times(ratio(Duration::from_millis(3), Duration::from_millis(2))),
            "1.50x"
        );
        assert_eq!(
            times(ratio(Duration::from_millis(3), Duration::ZERO)),
            "n/a"
        );
    }
}
