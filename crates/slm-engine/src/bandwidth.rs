//! Memory bandwidth as token generation sees it: every weight is read once
//! per token, so the ceiling is bandwidth ÷ bytes read per token.
//!
//! It lives here, not in the operator CLI that prints it, because the
//! measuring loop must be compiled like the engine (opt-level 3): compiled
//! at the CLI's opt-level 1 it is bound by its own adds and reported
//! 1 GB/s on a machine that generates at 5 GB/s.

use std::time::Instant;

/// Buffer much larger than any CPU cache, so that reads come from DRAM.
const BUFFER_BYTES: usize = 512 * 1024 * 1024;
/// Passes over the buffer; the fastest counts (the others warm up pages and clocks).
const PASSES: usize = 4;

/// Read bandwidth in bytes/s with `threads` threads each summing its slice
/// of a [`BUFFER_BYTES`] buffer, best of [`PASSES`].
pub fn read_bandwidth(threads: usize) -> f64 {
    let words = BUFFER_BYTES / 8;
    // Non-zero so the pages are really mapped (a zeroed allocation may share one page).
    let buffer: Vec<u64> = (0..words as u64).collect();
    let threads = threads.max(1);
    let chunk = words.div_ceil(threads);
    let mut best = 0.0f64;
    for _ in 0..PASSES {
        let started = Instant::now();
        let total: u64 = std::thread::scope(|scope| {
            let handles: Vec<_> = buffer.chunks(chunk).map(|part| scope.spawn(move || sum(part))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).fold(0u64, u64::wrapping_add)
        });
        let seconds = started.elapsed().as_secs_f64();
        // Keeps the sums from being optimised away.
        std::hint::black_box(total);
        best = best.max(BUFFER_BYTES as f64 / seconds);
    }
    best
}

/// Four independent accumulators: the adds overlap, so the loads, not the
/// adds, set the pace (and the compiler can vectorise them).
fn sum(words: &[u64]) -> u64 {
    let mut acc = [0u64; 4];
    let mut blocks = words.chunks_exact(4);
    for block in &mut blocks {
        for (a, w) in acc.iter_mut().zip(block) {
            *a = a.wrapping_add(*w);
        }
    }
    let tail: u64 = blocks.remainder().iter().fold(0, |a, w| a.wrapping_add(*w));
    acc.iter().fold(tail, |a, w| a.wrapping_add(*w))
}

/// Tokens/s if every token reads `bytes_per_token` at `bandwidth` bytes/s.
pub fn token_ceiling(bandwidth: f64, bytes_per_token: u64) -> f64 {
    bandwidth / bytes_per_token.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sum_covers_every_word_and_the_ceiling_divides() {
        let words: Vec<u64> = (1..=10).collect();
        assert_eq!(sum(&words), 55);
        assert_eq!(token_ceiling(10e9, 100_000_000), 100.0);
    }
}
