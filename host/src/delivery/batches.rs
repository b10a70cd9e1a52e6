//! Splitting a delivery batch into the requests (or connections) a sink sends.

use std::ops::Range;

/// Splits encoded events (envelopes, frames) into requests: at most `max_events` and `max_bytes` each,
/// except that one larger than `max_bytes` goes alone. Deterministic: the same events always split the
/// same way, so a sink can tell a part it already delivered.
pub(crate) fn split(encoded: &[Vec<u8>], max_events: usize, max_bytes: usize) -> Vec<Range<usize>> {
    let max_events = max_events.max(1);
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, e) in encoded.iter().enumerate() {
        let n = i - start;
        if n > 0 && (n >= max_events || size + e.len() > max_bytes) {
            out.push(start..i);
            start = i;
            size = 0;
        }
        size += e.len();
    }
    if start < encoded.len() {
        out.push(start..encoded.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_count_and_bytes_and_a_huge_one_goes_alone() {
        let env = |n: usize| vec![b'x'; n];
        let e = vec![env(10), env(10), env(10), env(100), env(10)];
        assert_eq!(split(&e, 100, 25), vec![0..2, 2..3, 3..4, 4..5]);
        assert_eq!(split(&e, 2, 1000), vec![0..2, 2..4, 4..5]);
        assert!(split(&[], 2, 10).is_empty());
    }
}
