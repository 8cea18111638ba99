//! What both backends share for the institution's log: the rows an append writes (computed
//! with [`mamori_ledger::merkle`]), and the limits and clamps of the reads.

use crate::StoreError;
use crate::rows::corrupt;
use mamori_core::audit::{AuditQuery, LogEntry, LogHead};
use mamori_ledger::merkle::{Frontier, FrontierError, leaf_hash};

/// The most leaves [`crate::Store::log_leaves`] returns at once.
pub(crate) const MAX_LEAVES: u64 = 10_000;

/// The most node addresses [`crate::Store::log_nodes`] answers at once.
pub(crate) const MAX_NODES: usize = 1000;

/// The most leaves [`crate::Store::audit_search`] returns at once.
pub(crate) const MAX_SEARCH: u32 = 1000;

/// A perfect-subtree node to insert, as the columns hold it.
pub(crate) struct NodeRow {
    pub(crate) level: i16,
    pub(crate) idx: i64,
    pub(crate) hash: [u8; 32],
}

/// A leaf to insert at `idx`, with every node its append completed (its own hash at level 0
/// first).
pub(crate) struct LeafRow<'a> {
    pub(crate) idx: i64,
    pub(crate) entry: &'a LogEntry,
    pub(crate) hash: [u8; 32],
    pub(crate) nodes: Vec<NodeRow>,
}

/// The head after an append, as the columns hold it.
pub(crate) struct NewHead {
    pub(crate) old_size: i64,
    pub(crate) size: i64,
    pub(crate) root: [u8; 32],
    pub(crate) frontier: Vec<u8>,
}

impl NewHead {
    pub(crate) fn head(&self) -> Result<LogHead, StoreError> {
        Ok(LogHead { size: crate::rows::log_index("log_heads.size", self.size)?, root: self.root })
    }
}

/// Appends `entries` to `frontier` in order: the leaf rows (each at the size before it) with
/// the nodes each completes, and the new head.
///
/// # Errors
/// [`StoreError::Corrupt`] when the frontier cannot take a leaf (a stored frontier that does
/// not describe a tree), [`StoreError::Database`] when the log cannot grow (its size would
/// pass the largest 64-bit signed index).
pub(crate) fn plan_append<'a>(
    mut frontier: Frontier,
    entries: &'a [LogEntry],
) -> Result<(Vec<LeafRow<'a>>, NewHead), StoreError> {
    let old_size = column_index(frontier.size())?;
    let mut leaves = Vec::with_capacity(entries.len());
    for entry in entries {
        let idx = column_index(frontier.size())?;
        let hash = leaf_hash(&entry.leaf);
        let nodes = frontier.append(hash).map_err(|e| match e {
            FrontierError::Full => full(),
            _ => corrupt("log_heads.frontier", &e.to_string()),
        })?;
        let nodes = nodes
            .into_iter()
            .map(|node| {
                Ok(NodeRow {
                    level: i16::from(node.level),
                    idx: column_index(node.index)?,
                    hash: *node.hash.as_bytes(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        leaves.push(LeafRow { idx, entry, hash: *hash.as_bytes(), nodes });
    }
    let head = NewHead {
        old_size,
        size: column_index(frontier.size())?,
        root: *frontier.root().as_bytes(),
        frontier: frontier.to_bytes(),
    };
    Ok((leaves, head))
}

/// A size or index as the BIGINT columns hold it.
fn column_index(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| full())
}

fn full() -> StoreError {
    StoreError::Database { detail: "the log has reached its maximum size".to_owned() }
}

/// The stored form of the empty tree's head: its root and its frontier.
pub(crate) fn empty_head() -> ([u8; 32], Vec<u8>) {
    (*mamori_ledger::merkle::empty_root().as_bytes(), Frontier::new().to_bytes())
}

/// The head of a log with no head row: size 0 and the empty tree's root.
pub(crate) fn no_head() -> LogHead {
    LogHead { size: 0, root: empty_head().0 }
}

/// The index range `[start, end)` a leaf read asks the database for: `end` cut to at most
/// [`MAX_LEAVES`] after `start` (and to what a column can hold); `None` when it is empty. The
/// log's size clamps it further by itself (no leaf exists at or beyond it).
pub(crate) fn leaf_range(start: u64, end: u64) -> Option<(i64, i64)> {
    let start_column = i64::try_from(start).ok()?;
    let end = end.min(start.saturating_add(MAX_LEAVES)).min(i64::MAX.unsigned_abs());
    let end_column = i64::try_from(end).ok()?;
    (start_column < end_column).then_some((start_column, end_column))
}

/// Refuses more than [`MAX_NODES`] addresses.
pub(crate) fn check_node_count(addresses: &[(u8, u64)]) -> Result<(), StoreError> {
    if addresses.len() > MAX_NODES {
        return Err(StoreError::TooMany { what: "log nodes", max: MAX_NODES });
    }
    Ok(())
}

/// A node address as the columns hold it; `None` for one no stored node can have (a level
/// above 63, an index beyond a BIGINT).
pub(crate) fn node_address(level: u8, index: u64) -> Option<(i16, i64)> {
    (level <= 63).then_some(())?;
    Some((i16::from(level), i64::try_from(index).ok()?))
}

/// The search's limit, clamped to 1–[`MAX_SEARCH`].
pub(crate) fn search_limit(query: &AuditQuery) -> i64 {
    i64::from(query.limit.clamp(1, MAX_SEARCH))
}

/// The search's `before_index` as a column value (an index beyond a BIGINT excludes nothing
/// more than `i64::MAX` does).
pub(crate) fn before_index(query: &AuditQuery) -> Option<i64> {
    query.before_index.map(|i| i64::try_from(i).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_ranges_are_cut_to_the_cap_and_to_a_column() {
        assert_eq!(leaf_range(0, 5), Some((0, 5)));
        assert_eq!(leaf_range(5, 5), None);
        assert_eq!(leaf_range(6, 5), None);
        assert_eq!(leaf_range(0, u64::MAX), Some((0, 10_000)));
        assert_eq!(leaf_range(7, 20_000), Some((7, 10_007)));
        assert_eq!(leaf_range(u64::MAX - 1, u64::MAX), None);
        assert_eq!(leaf_range(i64::MAX.unsigned_abs() - 1, u64::MAX), Some((i64::MAX - 1, i64::MAX)));
    }

    #[test]
    fn node_addresses_outside_the_columns_are_never_stored() {
        assert_eq!(node_address(0, 0), Some((0, 0)));
        assert_eq!(node_address(63, 1), Some((63, 1)));
        assert_eq!(node_address(64, 0), None);
        assert_eq!(node_address(0, u64::MAX), None);
    }

    #[test]
    fn search_limits_clamp() {
        let limit = |limit| search_limit(&AuditQuery { limit, ..AuditQuery::default() });
        assert_eq!((limit(0), limit(1), limit(999), limit(1000), limit(u32::MAX)), (1, 1, 999, 1000, 1000));
        let before = |index| before_index(&AuditQuery { before_index: index, ..AuditQuery::default() });
        assert_eq!((before(None), before(Some(3)), before(Some(u64::MAX))), (None, Some(3), Some(i64::MAX)));
    }

    #[test]
    fn an_append_plans_every_leaf_and_node_and_the_new_head() {
        let entries: Vec<LogEntry> = (0u8..3)
            .map(|i| LogEntry {
                leaf: vec![i],
                kind: mamori_core::audit::LeafKind::Audit,
                columns: mamori_core::audit::AuditColumns {
                    at: time::OffsetDateTime::UNIX_EPOCH,
                    actor: None,
                    patient: None,
                    action: "login".to_owned(),
                    outcome: mamori_core::audit::Outcome::Allowed,
                    category: None,
                },
            })
            .collect();
        let planned = plan_append(Frontier::new(), &entries);
        assert!(planned.is_ok());
        let Ok((leaves, head)) = planned else { return };
        let shape: Vec<(i64, Vec<(i16, i64)>)> =
            leaves.iter().map(|l| (l.idx, l.nodes.iter().map(|n| (n.level, n.idx)).collect())).collect();
        assert_eq!(shape, [(0, vec![(0, 0)]), (1, vec![(0, 1), (1, 0)]), (2, vec![(0, 2)])]);
        assert_eq!((head.old_size, head.size), (0, 3));
        let tree = mamori_ledger::merkle::MemoryTree::from_leaf_hashes(entries.iter().map(|e| leaf_hash(&e.leaf)));
        let root = mamori_ledger::merkle::root(&tree, 3).map(|r| *r.as_bytes()).ok();
        assert_eq!(Some(head.root), root);
    }
}
