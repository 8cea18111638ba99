//! The RFC 9162 definitions taken literally (§2.1.1 MTH, §2.1.3.1 PATH, §2.1.4.1 PROOF and
//! SUBPROOF), recursive over the whole list of leaves: slow, obviously right, and used only to
//! cross-check the stored-node implementation. Inputs are leaf hashes, so `MTH({d})` is the
//! leaf hash itself.

#![allow(clippy::indexing_slicing)]

use super::{Hash, empty_root, node_hash};

/// The largest power of two smaller than `n` (`n > 1`).
fn k(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D_n).
pub fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => empty_root(),
        1 => d[0],
        n => {
            let (left, right) = d.split_at(k(n));
            node_hash(&mth(left), &mth(right))
        }
    }
}

/// PATH(m, D_n), for `m < n`.
pub fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n <= 1 {
        return Vec::new();
    }
    let (left, right) = d.split_at(k(n));
    if m < left.len() {
        let mut p = path(m, left);
        p.push(mth(right));
        p
    } else {
        let mut p = path(m - left.len(), right);
        p.push(mth(left));
        p
    }
}

/// PROOF(m, D_n) = SUBPROOF(m, D_n, true), for `0 < m < n`.
pub fn proof(m: usize, d: &[Hash]) -> Vec<Hash> {
    subproof(m, d, true)
}

fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(d)] };
    }
    let (left, right) = d.split_at(k(n));
    if m <= left.len() {
        let mut p = subproof(m, left, b);
        p.push(mth(right));
        p
    } else {
        let mut p = subproof(m - left.len(), right, false);
        p.push(mth(left));
        p
    }
}
