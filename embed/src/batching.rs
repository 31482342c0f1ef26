//! Length-sorted batching: the pure half of the embedder.
//!
//! A transformer's cost grows with the padded length of a batch, so a batch that mixes a
//! ten-token subject with a 256-token body pays for 256 tokens on every row. Sorting the texts by
//! token count before cutting batches keeps padding near zero; on CPU that is worth more than 2x
//! on ticket data (see `docs/benchmarks.md`). The embedder then writes each vector back to its
//! input position, so callers never see the reordering.

/// One batch: positions into the caller's input, and the padded length to allocate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub indices: Vec<usize>,
    pub padded_len: usize,
}

/// Cuts `lengths` (token counts per input) into batches of at most `batch_size`, longest first.
///
/// Longest first means the largest allocation happens at the start, so a batch size that does not
/// fit in memory fails immediately rather than at the end of a long job. Ties keep input order, so
/// the plan is deterministic.
pub fn plan_batches(lengths: &[usize], batch_size: usize) -> Vec<Batch> {
    let batch_size = batch_size.max(1);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    order
        .chunks(batch_size)
        .map(|chunk| Batch {
            padded_len: chunk.iter().map(|&i| lengths[i]).max().unwrap_or(0),
            indices: chunk.to_vec(),
        })
        .collect()
}

/// Copies token ids into a row-major `[batch, padded_len]` buffer, padding with `pad_id`, and fills
/// the matching attention mask (1 for real tokens, 0 for padding).
pub fn pad_into(
    rows: &[&[u32]],
    padded_len: usize,
    pad_id: i64,
    ids: &mut Vec<i64>,
    mask: &mut Vec<i64>,
) {
    ids.clear();
    mask.clear();
    for row in rows {
        let n = row.len().min(padded_len);
        ids.extend(row[..n].iter().map(|&t| i64::from(t)));
        ids.extend(std::iter::repeat_n(pad_id, padded_len - n));
        mask.extend(std::iter::repeat_n(1, n));
        mask.extend(std::iter::repeat_n(0, padded_len - n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_longest_first_and_cover_every_input_once() {
        let lengths = [3, 10, 7, 10, 1];
        let plan = plan_batches(&lengths, 2);
        assert_eq!(
            plan,
            vec![
                Batch {
                    indices: vec![1, 3],
                    padded_len: 10
                },
                Batch {
                    indices: vec![2, 0],
                    padded_len: 7
                },
                Batch {
                    indices: vec![4],
                    padded_len: 1
                },
            ]
        );
        let mut seen: Vec<usize> = plan.iter().flat_map(|b| b.indices.clone()).collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn empty_input_and_zero_batch_size() {
        assert!(plan_batches(&[], 8).is_empty());
        assert_eq!(
            plan_batches(&[2, 2], 0).len(),
            2,
            "batch size 0 is treated as 1"
        );
    }

    #[test]
    fn padding_fills_ids_and_mask() {
        let (mut ids, mut mask) = (Vec::new(), Vec::new());
        pad_into(&[&[101, 7, 102], &[101, 102]], 3, 0, &mut ids, &mut mask);
        assert_eq!(ids, vec![101, 7, 102, 101, 102, 0]);
        assert_eq!(mask, vec![1, 1, 1, 1, 1, 0]);
    }
}
