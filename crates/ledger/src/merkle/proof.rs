//! Roots and proofs (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1) computed from stored
//! perfect-subtree nodes.
//!
//! The RFC defines both proofs recursively over ranges of leaves `[lo, hi)`, splitting at the
//! largest power of two below `hi - lo`. Every range in that recursion starts at a multiple
//! of a power of two at least as large as the range, so each range is either a perfect
//! subtree (one stored node) or, at the right edge of the tree, a run of perfect subtrees that
//! fold into its hash. The recursion is unrolled into loops here; at most one range per proof
//! is such an incomplete right edge, so a proof reads `O(log n)` nodes.

use super::{Hash, NodeSource, empty_root, node_hash};

/// Errors computing a proof.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError<E> {
    /// The leaf is not in the tree of that size.
    #[error("葉の番号 {index} は大きさ {size} の木の範囲外です / leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf asked for.
        index: u64,
        /// The tree size asked for.
        size: u64,
    },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error(
        "古い木の大きさ {old} が新しい木の大きさ {new} を超えています / the old tree size {old} exceeds the new tree size {new}"
    )]
    SizesOutOfOrder {
        /// The old (first) size.
        old: u64,
        /// The new (second) size.
        new: u64,
    },
    /// The node source failed.
    #[error("木の節点を読めません / cannot read a node of the tree")]
    Source(#[source] E),
}

/// The largest power of two strictly below `n`; `n` must be at least 2.
fn split(n: u64) -> u64 {
    let bits = 63u32.saturating_sub((n.saturating_sub(1)).leading_zeros());
    1u64.checked_shl(bits).unwrap_or(0)
}

/// MTH of the leaves `[lo, hi)`, where `lo < hi` and `lo` is a multiple of a power of two
/// `≥ hi - lo` (true of every range in the RFC's recursion). The range is cut into the perfect
/// subtrees given by the bits of its length, highest first, which are folded from the right.
fn range_hash<S: NodeSource + ?Sized>(source: &S, lo: u64, hi: u64) -> Result<Hash, S::Error> {
    let len = hi - lo;
    let mut pieces = Vec::with_capacity(len.count_ones() as usize);
    let mut start = lo;
    for level in (0u8..64).rev() {
        let width = 1u64 << level;
        if len & width != 0 {
            pieces.push(source.node(level, start >> level)?);
            start += width;
        }
    }
    let mut from_right = pieces.iter().rev();
    let Some(last) = from_right.next() else { return Ok(empty_root()) };
    Ok(from_right.fold(*last, |acc, left| node_hash(left, &acc)))
}

/// The root of the tree of the first `size` leaves (MTH, RFC 9162 §2.1.1), reading one node
/// per set bit of `size`.
///
/// # Errors
/// The source's error when a node cannot be read.
pub fn root<S: NodeSource + ?Sized>(source: &S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 { Ok(empty_root()) } else { range_hash(source, 0, size) }
}

/// The inclusion proof (audit path, RFC 9162 §2.1.3.1) of leaf `index` in the tree of the
/// first `size` leaves: the sibling hashes from the leaf up to the root.
///
/// # Errors
/// [`ProofError::IndexOutOfRange`] unless `index < size`; [`ProofError::Source`] when a node
/// cannot be read.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    source: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // PATH(m, D[lo:hi]) = PATH(m, D[lo:lo+k]) : MTH(D[lo+k:hi])   if m < lo + k
    //                   = PATH(m, D[lo+k:hi]) : MTH(D[lo:lo+k])   otherwise
    // Walk down from the root, noting each sibling range; the proof lists them bottom-up.
    let mut siblings = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            siblings.push((lo + k, hi));
            hi = lo + k;
        } else {
            siblings.push((lo, lo + k));
            lo += k;
        }
    }
    siblings.iter().rev().map(|&(a, b)| range_hash(source, a, b).map_err(ProofError::Source)).collect()
}

/// The consistency proof (RFC 9162 §2.1.4.1) that the tree of the first `old_size` leaves is
/// a prefix of the tree of the first `new_size` leaves.
///
/// The RFC defines the proof for `0 < old_size < new_size`; for `old_size == 0` or
/// `old_size == new_size` the proof is empty (as [`verify_consistency`](super::verify_consistency)
/// expects).
///
/// # Errors
/// [`ProofError::SizesOutOfOrder`] when `old_size > new_size`; [`ProofError::Source`] when a
/// node cannot be read.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    source: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder { old: old_size, new: new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[lo:hi], b):
    //   m == hi:      {} if b, else {MTH(D[lo:hi])}
    //   m <= lo + k:  SUBPROOF(m, D[lo:lo+k], b) : MTH(D[lo+k:hi])
    //   otherwise:    SUBPROOF(m, D[lo+k:hi], false) : MTH(D[lo:lo+k])
    // with lo < m <= hi throughout. `b` (`old_root_known`) stays true while lo == 0, when
    // MTH(D[lo:m]) is the old root, which the verifier already holds. Walk down noting ranges;
    // the proof lists them bottom-up.
    let m = old_size;
    let mut ranges = Vec::new();
    let (mut lo, mut hi, mut old_root_known) = (0u64, new_size, true);
    while m != hi {
        let k = split(hi - lo);
        if m <= lo + k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
            old_root_known = false;
        }
    }
    if !old_root_known {
        ranges.push((lo, hi));
    }
    ranges.iter().rev().map(|&(a, b)| range_hash(source, a, b).map_err(ProofError::Source)).collect()
}
