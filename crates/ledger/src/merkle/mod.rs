//! The Merkle tree of RFC 9162 §2.1: hashing, the right-edge [`Frontier`], proofs computed
//! from stored perfect-subtree nodes, and the RFC's verification algorithms.
//!
//! Sizes and indices are `u64`; a node is addressed by `(level, index)` as described in the
//! crate documentation.

mod frontier;
mod memory;
mod proof;
mod verify;

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

pub use frontier::{Frontier, FrontierError};
pub use memory::{MemoryTree, MissingNode};
pub use proof::{ProofError, consistency_proof, inclusion_proof, root};
pub use verify::{VerifyError, verify_consistency, verify_inclusion};

use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 digest: a leaf hash, a node hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash([u8; 32]);

/// Errors reading a [`Hash`](struct@Hash) from text or bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The text is not 64 hexadecimal digits.
    #[error("ハッシュは16進数64桁でなければなりません / a hash must be 64 hexadecimal digits")]
    InvalidHex,
    /// The bytes are not 32 long.
    #[error("ハッシュは32バイトでなければなりません（{0}バイトでした） / a hash must be 32 bytes, not {0}")]
    WrongLength(usize),
}

impl Hash {
    /// The hash with these bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The hash in `bytes`, which must be exactly 32 long (e.g. a database BLOB).
    ///
    /// # Errors
    /// [`HashError::WrongLength`] otherwise.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HashError> {
        <[u8; 32]>::try_from(bytes).map(Self).map_err(|_| HashError::WrongLength(bytes.len()))
    }

    /// The 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hexadecimal, 64 digits.
    #[must_use]
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            for nibble in [byte >> 4, byte & 0x0f] {
                if let Some(d) = DIGITS.get(usize::from(nibble)) {
                    out.push(char::from(*d));
                }
            }
        }
        out
    }

    /// Reads 64 hexadecimal digits (either case).
    ///
    /// # Errors
    /// [`HashError::InvalidHex`] for any other text.
    pub fn from_hex(text: &str) -> Result<Self, HashError> {
        fn digit(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        }
        let text = text.as_bytes();
        if text.len() != 64 {
            return Err(HashError::InvalidHex);
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
            let [hi, lo] = pair else { return Err(HashError::InvalidHex) };
            let (Some(hi), Some(lo)) = (digit(*hi), digit(*lo)) else { return Err(HashError::InvalidHex) };
            *byte = (hi << 4) | lo;
        }
        Ok(Self(out))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl From<[u8; 32]> for Hash {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The hash of a leaf: `SHA-256(0x00 ‖ data)` (RFC 9162 §2.1.1).
#[must_use]
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    Hash(h.finalize().into())
}

/// The hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)` (RFC 9162 §2.1.1).
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// The root of the empty tree: `SHA-256("")` (RFC 9162 §2.1.1).
#[must_use]
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// A perfect-subtree node to persist: the hash of the leaves
/// `[index·2^level, (index+1)·2^level)`; level 0 is a leaf hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// Height above the leaves (0 = the leaf itself).
    pub level: u8,
    /// Position among the nodes of this level, from the left, starting at 0.
    pub index: u64,
    /// The subtree's hash.
    pub hash: Hash,
}

/// Where proofs read stored perfect-subtree nodes from (the database, or a [`MemoryTree`]).
///
/// The functions of this module only ask for nodes of *complete* perfect subtrees that lie
/// within the tree size being proved, i.e. `(index + 1)·2^level ≤ size`; every such node has
/// been returned by [`Frontier::append`] when its last leaf was added.
pub trait NodeSource {
    /// Why a node could not be read.
    type Error;

    /// The hash of the perfect subtree `(level, index)`.
    ///
    /// # Errors
    /// The source's own error when the node cannot be read (missing, I/O, …).
    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

impl<S: NodeSource + ?Sized> NodeSource for &S {
    type Error = S::Error;

    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        (**self).node(level, index)
    }
}
