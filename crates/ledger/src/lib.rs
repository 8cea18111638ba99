//! mamori's tamper-evident log: an append-only Merkle tree per institution in the shape of
//! RFC 9162 (Certificate Transparency 2.0) §2.1, with checkpoints signed as C2SP notes.
//!
//! Pure code: no storage, no async, no clock, no randomness, no I/O. The caller (the store)
//! persists what this crate hands it and gives it back through [`merkle::NodeSource`].
//!
//! # Hashing
//!
//! A leaf is hashed as `SHA-256(0x00 ‖ data)` ([`merkle::leaf_hash`]) and an interior node as
//! `SHA-256(0x01 ‖ left ‖ right)` ([`merkle::node_hash`]); the different first byte keeps a
//! leaf from ever being taken for a node (second-preimage resistance). The root of the empty
//! tree is `SHA-256("")` ([`merkle::empty_root`]). For `n > 1` leaves the tree splits at `k`,
//! the largest power of two below `n`: the left part is the perfect tree of the first `k`
//! leaves, the right part is the tree of the rest. The hash of a tree of `n` leaves is
//! therefore fixed by RFC 9162; these are the same values as RFC 6962 and the C2SP
//! `tlog-checkpoint` root hash.
//!
//! # Storage model
//!
//! The store persists *perfect subtree nodes*: the node `(level, index)` is the hash of the
//! perfect subtree over the leaves `[index·2^level, (index+1)·2^level)`; level 0 holds the leaf
//! hashes. Such a node never changes once the leaves under it exist, so the table is
//! append-only like the log itself. [`merkle::Frontier`] is the tree's right edge (one hash per
//! set bit of the size); [`merkle::Frontier::append`] returns every node that one new leaf
//! completes, which is exactly what must be written in the same transaction as the leaf.
//! Roots, inclusion proofs and consistency proofs for any size up to the current one are
//! computed from those nodes alone (an incomplete right-hand subtree is folded from its
//! perfect pieces), reading `O(log n)` nodes.
//!
//! # Checkpoints
//!
//! [`checkpoint::Checkpoint`] is the C2SP `tlog-checkpoint` body (origin, size, root) and
//! [`note`] the C2SP `signed-note` envelope with Ed25519 signatures, so the log's tree heads
//! can be checked by existing transparency tooling (witnesses, `sumdb/note` verifiers).

#![warn(missing_docs)]

pub mod checkpoint;
pub mod merkle;
pub mod note;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use merkle::{Frontier, Hash, Node, NodeSource, ProofError, VerifyError};
pub use note::{NoteError, VerifiedNote, VerifierKey};
