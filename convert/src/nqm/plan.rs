//! Arena planning: every activation tensor gets an offset in one static buffer,
//! tensors that are alive at the same time never overlap, and the peak is
//! compared with the lower bound — the largest total size of tensors alive at
//! the same op.

/// One buffer to place: its size and the ops during which it must stay intact
/// (inclusive: defined at `first`, last read at `last`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffer {
    /// Bytes.
    pub size: usize,
    /// Op that writes it (−1 for the model input).
    pub first: i64,
    /// Last op that reads it (`i64::MAX` for the model output).
    pub last: i64,
}

impl Buffer {
    fn overlaps_in_time(&self, o: &Buffer) -> bool {
        self.first <= o.last && o.first <= self.last
    }
}

/// Offsets (aligned to `align`) and the peak: greedy first-fit under several
/// orders (by size, by definition time, by lifetime), keeping the best. By
/// definition time it is interval-graph colouring, optimal for equal sizes.
pub fn place(buffers: &[Buffer], align: usize) -> (Vec<usize>, usize) {
    let n = buffers.len();
    let by = |key: &dyn Fn(&Buffer, &Buffer) -> std::cmp::Ordering| -> Vec<usize> {
        let mut o: Vec<usize> = (0..n).collect();
        o.sort_by(|&a, &b| key(&buffers[a], &buffers[b]));
        o
    };
    let orders = [
        by(&|a, b| b.size.cmp(&a.size).then(a.first.cmp(&b.first))),
        by(&|a, b| a.first.cmp(&b.first).then(b.size.cmp(&a.size))),
        by(&|a, b| {
            (b.last - b.first)
                .cmp(&(a.last - a.first))
                .then(b.size.cmp(&a.size))
        }),
    ];
    orders
        .iter()
        .map(|o| place_in(buffers, o, align))
        .min_by_key(|(_, peak)| *peak)
        .unwrap_or_default()
}

fn place_in(buffers: &[Buffer], order: &[usize], align: usize) -> (Vec<usize>, usize) {
    let mut offsets = vec![0usize; buffers.len()];
    let mut placed: Vec<usize> = Vec::new();
    let round = |v: usize| v.div_ceil(align) * align;
    for &i in order {
        let b = &buffers[i];
        // Candidate offsets: 0 and the end of every conflicting placed buffer.
        let mut conflicts: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| buffers[j].overlaps_in_time(b))
            .map(|&j| (offsets[j], offsets[j] + buffers[j].size))
            .collect();
        conflicts.sort_unstable();
        let mut best = None;
        let mut candidates = vec![0];
        candidates.extend(conflicts.iter().map(|c| round(c.1)));
        for start in candidates {
            let end = start + b.size;
            if conflicts.iter().all(|&(s, e)| end <= s || e <= start) {
                best = Some(best.map_or(start, |x: usize| x.min(start)));
            }
        }
        offsets[i] = best.unwrap_or(0);
        placed.push(i);
    }
    let peak = buffers
        .iter()
        .zip(&offsets)
        .map(|(b, o)| o + b.size)
        .max()
        .unwrap_or(0);
    (offsets, round(peak))
}

/// The largest total size of buffers alive at the same op.
pub fn lower_bound(buffers: &[Buffer]) -> usize {
    let mut times: Vec<i64> = buffers
        .iter()
        .flat_map(|b| [b.first, b.last.min(i64::MAX / 2)])
        .collect();
    times.sort_unstable();
    times.dedup();
    times
        .iter()
        .map(|&t| {
            buffers
                .iter()
                .filter(|b| b.first <= t && t <= b.last)
                .map(|b| b.size)
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_reaches_the_lower_bound() {
        // x(100) -> a(60) -> b(100) -> c(10); a residual keeps x alive until op 2.
        let bufs = [
            Buffer {
                size: 100,
                first: -1,
                last: 2,
            },
            Buffer {
                size: 60,
                first: 0,
                last: 1,
            },
            Buffer {
                size: 100,
                first: 1,
                last: 2,
            },
            Buffer {
                size: 10,
                first: 2,
                last: i64::MAX,
            },
        ];
        let (off, peak) = place(&bufs, 1);
        assert_eq!(lower_bound(&bufs), 260);
        assert_eq!(peak, 260);
        for i in 0..4 {
            for j in 0..4 {
                if i != j && bufs[i].overlaps_in_time(&bufs[j]) {
                    assert!(
                        off[i] + bufs[i].size <= off[j] || off[j] + bufs[j].size <= off[i],
                        "{i} and {j} overlap"
                    );
                }
            }
        }
    }
}
