//! Proof verification: the algorithms of RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2
//! (consistency), step by step. These need nothing but the proof and the two tree heads, so a
//! verifier outside mamori can run the same steps.

use super::{Hash, empty_root, node_hash};

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The leaf index is not below the tree size.
    #[error("葉の番号 {index} は大きさ {size} の木の範囲外です / leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index given.
        index: u64,
        /// The tree size given.
        size: u64,
    },
    /// The old tree is larger than the new one.
    #[error(
        "古い木の大きさ {old} が新しい木の大きさ {new} を超えています / the old tree size {old} exceeds the new tree size {new}"
    )]
    SizesOutOfOrder {
        /// The old (first) size.
        old: u64,
        /// The new (second) size.
        new: u64,
    },
    /// The proof has too many or too few hashes for these sizes.
    #[error(
        "証明のハッシュの数が木の大きさと合いません / the proof has the wrong number of hashes for these tree sizes"
    )]
    WrongProofLength,
    /// The inclusion proof does not lead from the leaf to the root.
    #[error("包含証明が一致しません / the inclusion proof does not match")]
    InclusionMismatch,
    /// The consistency proof does not lead to both roots.
    #[error("一貫性証明が一致しません / the consistency proof does not match")]
    ConsistencyMismatch,
}

/// Right-shifts `fn_` and `sn` together until `fn_` is odd or zero.
fn shift_until_odd_or_zero(fn_: &mut u64, sn: &mut u64) {
    while *fn_ & 1 == 0 && *fn_ != 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

/// Checks that `proof` shows the leaf with hash `leaf_hash` at `index` in the tree of `size`
/// leaves whose root is `root` (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`VerifyError::IndexOutOfRange`] unless `index < size`, [`VerifyError::WrongProofLength`]
/// when the proof is longer or shorter than the path for `(index, size)`,
/// [`VerifyError::InclusionMismatch`] when the computed root differs from `root`.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    // 1. leaf_index must be below tree_size.
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    // 2. fn = leaf_index, sn = tree_size - 1. 3. r = hash.
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    // 4. For each p in the path:
    for p in proof {
        // a. sn == 0 means the path is longer than the tree is high.
        if sn == 0 {
            return Err(VerifyError::WrongProofLength);
        }
        // b. p is a left sibling when fn is odd, or when fn == sn (the last node of its level,
        //    which has no right sibling: skip the levels where it is simply promoted).
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                shift_until_odd_or_zero(&mut fn_, &mut sn);
            }
        } else {
            r = node_hash(&r, p);
        }
        // c. Up one level.
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5. The path must have reached the root (sn == 0), and the result must be the root.
    if sn != 0 {
        return Err(VerifyError::WrongProofLength);
    }
    if r != *root {
        return Err(VerifyError::InclusionMismatch);
    }
    Ok(())
}

/// Checks that `proof` shows the tree of `old_size` leaves with root `old_root` to be a prefix
/// of the tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// The RFC's algorithm covers `0 < old_size < new_size`. Beyond it: equal sizes need an empty
/// proof and equal roots; an old size of 0 needs an empty proof and `old_root` equal to
/// [`empty_root`] (every tree extends the empty one, so `new_root` is not constrained).
///
/// # Errors
/// [`VerifyError::SizesOutOfOrder`] when `old_size > new_size`,
/// [`VerifyError::WrongProofLength`] when the proof is longer or shorter than these sizes
/// need, [`VerifyError::ConsistencyMismatch`] when either computed root differs.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if old_size > new_size {
        return Err(VerifyError::SizesOutOfOrder { old: old_size, new: new_size });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(VerifyError::WrongProofLength);
        }
        let consistent = if old_size == 0 { *old_root == empty_root() } else { old_root == new_root };
        return if consistent { Ok(()) } else { Err(VerifyError::ConsistencyMismatch) };
    }

    // 1. An empty proof fails.
    let Some((head, tail)) = proof.split_first() else { return Err(VerifyError::WrongProofLength) };
    // 2. If first is an exact power of 2, prepend first_hash to the path.
    let (first, rest) = if old_size.is_power_of_two() { (old_root, proof) } else { (head, tail) };
    // 3. fn = first - 1, sn = second - 1.
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    // 4. If LSB(fn) is set, right-shift both until it is not.
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5. fr = sr = the first value of the path.
    let (mut fr, mut sr) = (*first, *first);
    // 6. For each subsequent value c:
    for c in rest {
        // a. sn == 0 means the path is too long.
        if sn == 0 {
            return Err(VerifyError::WrongProofLength);
        }
        // b. c is a left sibling, shared by both trees, when fn is odd or fn == sn.
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                shift_until_odd_or_zero(&mut fn_, &mut sn);
            }
        } else {
            // Otherwise c is a right sibling present only in the new tree.
            sr = node_hash(&sr, c);
        }
        // c. Up one level.
        fn_ >>= 1;
        sn >>= 1;
    }
    // 7. fr must be the old root, sr the new root, and sn must have reached 0.
    if sn != 0 {
        return Err(VerifyError::WrongProofLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(VerifyError::ConsistencyMismatch);
    }
    Ok(())
}
