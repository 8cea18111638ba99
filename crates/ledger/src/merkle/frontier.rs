//! The right edge of the tree (a "compact range" over `[0, size)`): enough to append leaves
//! and compute the root without reading anything else.

use super::{Hash, Node, NodeSource, empty_root, node_hash};

/// Errors appending to, or reading back, a [`Frontier`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrontierError {
    /// The tree already holds `u64::MAX` leaves.
    #[error("ログの件数が上限に達しました / the log has reached its maximum size")]
    Full,
    /// The stored form does not describe a frontier (wrong length, or the number of hashes
    /// does not match the size).
    #[error(
        "保存されたフロンティア（木の右端）が壊れています / the stored frontier (right edge of the tree) is malformed"
    )]
    Malformed,
}

/// The right edge of a Merkle tree of `size` leaves: the roots of the maximal perfect
/// subtrees that partition `[0, size)`, one per set bit of `size`, largest (leftmost) first.
///
/// It costs `O(log n)` space; [`Frontier::root`] costs `O(log n)` hashes and
/// [`Frontier::append`] amortised `O(1)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    /// Leftmost (highest level) first.
    hashes: Vec<Hash>,
}

/// The `(level, index)` of each perfect subtree of the right edge of a tree of `size` leaves,
/// leftmost first.
fn edge(size: u64) -> impl Iterator<Item = (u8, u64)> {
    (0u8..64).rev().filter_map(move |level| {
        let above = size.checked_shr(u32::from(level)).unwrap_or(0);
        (above & 1 == 1).then(|| (level, above - 1))
    })
}

impl Frontier {
    /// The frontier of the empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The hashes of the right edge, leftmost (largest subtree) first.
    #[must_use]
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The right edge as addressed nodes, leftmost first: what [`Frontier::from_source`] reads.
    pub fn nodes(&self) -> impl Iterator<Item = Node> + '_ {
        edge(self.size).zip(&self.hashes).map(|((level, index), hash)| Node { level, index, hash: *hash })
    }

    /// A frontier from its size and its hashes (leftmost first), e.g. as stored.
    ///
    /// # Errors
    /// [`FrontierError::Malformed`] unless there is exactly one hash per set bit of `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, FrontierError> {
        if usize::try_from(size.count_ones()).ok() != Some(hashes.len()) {
            return Err(FrontierError::Malformed);
        }
        Ok(Self { size, hashes })
    }

    /// Rebuilds the frontier of a tree of `size` leaves from stored nodes, reading one node
    /// per set bit of `size`.
    ///
    /// # Errors
    /// The source's error when a node cannot be read.
    pub fn from_source<S: NodeSource + ?Sized>(source: &S, size: u64) -> Result<Self, S::Error> {
        let hashes = edge(size).map(|(level, index)| source.node(level, index)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { size, hashes })
    }

    /// Appends the leaf whose hash is `leaf` (see [`leaf_hash`](super::leaf_hash)) at index
    /// [`size`](Frontier::size) and returns every perfect-subtree node this completes: the leaf
    /// itself at level 0, then each newly complete parent, lowest first. The caller persists
    /// them so that proofs can later be computed from storage.
    ///
    /// # Errors
    /// [`FrontierError::Full`] when the tree already has `u64::MAX` leaves; the frontier is
    /// then unchanged.
    pub fn append(&mut self, leaf: Hash) -> Result<Vec<Node>, FrontierError> {
        let index = self.size;
        let new_size = index.checked_add(1).ok_or(FrontierError::Full)?;
        // The trailing one-bits of `index` are the perfect subtrees at the end of the edge that
        // the new leaf completes, lowest level last in `hashes`.
        let completed = usize::try_from(index.trailing_ones()).map_err(|_| FrontierError::Malformed)?;
        let keep = self.hashes.len().checked_sub(completed).ok_or(FrontierError::Malformed)?;
        let merged = self.hashes.split_off(keep);

        let mut nodes = Vec::with_capacity(completed + 1);
        let mut hash = leaf;
        let mut level: u8 = 0;
        nodes.push(Node { level, index, hash });
        for left in merged.iter().rev() {
            hash = node_hash(left, &hash);
            level += 1;
            nodes.push(Node { level, index: index.checked_shr(u32::from(level)).unwrap_or(0), hash });
        }
        self.hashes.push(hash);
        self.size = new_size;
        Ok(nodes)
    }

    /// The tree's root: [`empty_root`] for no leaves, otherwise the right edge folded from the
    /// right.
    #[must_use]
    pub fn root(&self) -> Hash {
        let mut from_right = self.hashes.iter().rev();
        let Some(last) = from_right.next() else { return empty_root() };
        from_right.fold(*last, |acc, left| node_hash(left, &acc))
    }

    /// The stored form: the size as 8 big-endian bytes, then the hashes leftmost first.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 32 * self.hashes.len());
        out.extend_from_slice(&self.size.to_be_bytes());
        for hash in &self.hashes {
            out.extend_from_slice(hash.as_bytes());
        }
        out
    }

    /// Reads the form written by [`Frontier::to_bytes`].
    ///
    /// # Errors
    /// [`FrontierError::Malformed`] when the bytes are not such a form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FrontierError> {
        let (size, rest) = bytes.split_first_chunk::<8>().ok_or(FrontierError::Malformed)?;
        let (chunks, remainder) = rest.as_chunks::<32>();
        if !remainder.is_empty() {
            return Err(FrontierError::Malformed);
        }
        Self::from_parts(u64::from_be_bytes(*size), chunks.iter().map(|c| Hash::from_bytes(*c)).collect())
    }
}
