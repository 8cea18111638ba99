//! A [`NodeSource`] held in memory, for tests and tools.

use super::{Hash, NodeSource, node_hash};

/// A node the source does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("木の節点 (段 {level}, 番号 {index}) がありません / the tree has no node (level {level}, index {index})")]
pub struct MissingNode {
    /// The level asked for.
    pub level: u8,
    /// The index asked for.
    pub index: u64,
}

/// Every perfect-subtree node of a tree, in memory: `levels[l][i]` is node `(l, i)`.
///
/// This is what the database holds, without the database; handy in tests of code that reads
/// proofs. Built by pairing neighbours level by level, independently of [`Frontier`](super::Frontier).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// The empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The tree of these leaf hashes, in order.
    pub fn from_leaf_hashes(leaves: impl IntoIterator<Item = Hash>) -> Self {
        let mut tree = Self::new();
        for leaf in leaves {
            tree.push(leaf);
        }
        tree
    }

    /// Appends a leaf hash and every node it completes.
    pub fn push(&mut self, leaf_hash: Hash) {
        let mut hash = leaf_hash;
        let mut level = 0usize;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let Some(row) = self.levels.get_mut(level) else { return };
            row.push(hash);
            // An even count means the new node completed a pair: their parent is new too.
            let [.., left, right] = row.as_slice() else { return };
            if row.len() % 2 != 0 {
                return;
            }
            hash = node_hash(left, right);
            level += 1;
        }
    }

    /// The number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.leaf_hashes().len() as u64
    }

    /// The leaf hashes, in order.
    #[must_use]
    pub fn leaf_hashes(&self) -> &[Hash] {
        self.levels.first().map_or(&[], Vec::as_slice)
    }
}

impl NodeSource for MemoryTree {
    type Error = MissingNode;

    fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(usize::from(level))?.get(i))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}
