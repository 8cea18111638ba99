//! Loading master data (drugs, diseases, lab items): which rows of an import are new versions,
//! and the import itself, all or nothing, as one audited unit.
//!
//! An import never changes an existing entry version. A row whose fields (name, unit,
//! reference range, validity) equal the code's latest version is already loaded and skipped, so
//! importing the same file twice changes nothing; any other row becomes the code's next version.

use mamori_core::audit::{Actor, AuditEvent, Outcome};
use mamori_core::master::{ImportRow, MasterCode, MasterEntry, MasterKind, parse_csv};
use mamori_core::{InstitutionId, Message, UserId};
use mamori_store::Store;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ImportSummary {
    /// Rows read.
    pub rows: usize,
    /// New entry versions written.
    pub added: usize,
    /// Rows equal to the latest version already loaded.
    pub unchanged: usize,
}

/// The new entry versions `rows` make, given the latest stored version of each code.
#[must_use]
pub fn plan(
    institution: InstitutionId,
    latest: &[MasterEntry],
    rows: Vec<ImportRow>,
    now: OffsetDateTime,
    by: Option<UserId>,
) -> (Vec<MasterEntry>, ImportSummary) {
    let mut current: BTreeMap<(MasterKind, MasterCode), MasterEntry> =
        latest.iter().map(|e| ((e.master, e.code.clone()), e.clone())).collect();
    let mut summary = ImportSummary { rows: rows.len(), ..ImportSummary::default() };
    let mut rows = rows;
    rows.sort_by(|a, b| (a.master, &a.code, a.fields.valid_from).cmp(&(b.master, &b.code, b.fields.valid_from)));
    let mut added = Vec::new();
    for row in rows {
        let key = (row.master, row.code.clone());
        let previous = current.get(&key);
        if previous.is_some_and(|p| p.fields == row.fields) {
            summary.unchanged += 1;
            continue;
        }
        let entry = MasterEntry {
            institution,
            master: row.master,
            code: row.code,
            version: previous.map_or(1, |p| p.version.saturating_add(1)),
            fields: row.fields,
            imported_at: now,
            imported_by: by,
        };
        current.insert(key, entry.clone());
        added.push(entry);
    }
    summary.added = added.len();
    (added, summary)
}

/// Imports a CSV file into the institution's master: checked whole first (the first bad line is
/// refused with its number and reason, nothing written), then the new versions and a
/// `master.import` event by `actor` in one unit.
///
/// # Errors
/// [`ImportError::Refused`] for a bad file, [`ImportError::Failed`] when the store fails.
pub async fn import(
    store: &dyn Store,
    institution: InstitutionId,
    bytes: &[u8],
    actor: Actor,
    now: OffsetDateTime,
) -> Result<ImportSummary, ImportError> {
    let rows = parse_csv(bytes).map_err(ImportError::Refused)?;
    let latest = store.master_latest(institution).await.map_err(|e| ImportError::Failed(e.to_string()))?;
    let now = mamori_core::clock::to_micros(now);
    let (entries, summary) = plan(institution, &latest, rows, now, actor.user());
    let event = AuditEvent::new(institution, now, actor, "master.import", Outcome::Allowed)
        .detail("rows", summary.rows.to_string())
        .detail("added", summary.added.to_string());
    let failed = |e: String| ImportError::Failed(e);
    let mut tx = store.begin().await.map_err(|e| failed(e.to_string()))?;
    if !entries.is_empty() {
        tx.add_master_entries(&entries).await.map_err(|e| failed(e.to_string()))?;
    }
    let entry = event.entry().map_err(|m| failed(m.en))?;
    tx.append_log(institution, &[entry]).await.map_err(|e| failed(e.to_string()))?;
    tx.commit().await.map_err(|e| failed(e.to_string()))?;
    Ok(summary)
}

/// Why an import did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    /// The file is not acceptable (the line and the reason); nothing was written.
    Refused(Message),
    /// The store failed; nothing was written.
    Failed(String),
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(m) => write!(f, "{m}"),
            Self::Failed(e) => write!(f, "マスタを取り込めません / cannot import the master: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use mamori_core::master::CSV_HEADER;

    #[test]
    fn only_changed_rows_become_new_versions() {
        let inst = InstitutionId::from_uuid(uuid::Uuid::from_u128(1));
        let t = OffsetDateTime::UNIX_EPOCH;
        let first =
            parse_csv(format!("{CSV_HEADER}\ndrug,D1,甲錠,錠,,2024-04-01,\ndrug,D2,乙錠,錠,,2024-04-01,\n").as_bytes())
                .unwrap();
        let (v1, s) = plan(inst, &[], first.clone(), t, None);
        assert_eq!((s.added, s.unchanged), (2, 0));
        assert!(v1.iter().all(|e| e.version == 1));
        let (again, s) = plan(inst, &v1, first, t, None);
        assert!(again.is_empty());
        assert_eq!(s.unchanged, 2);
        let renamed = parse_csv(
            format!("{CSV_HEADER}\ndrug,D1,甲錠,錠,,2024-04-01,\ndrug,D2,乙錠（新）,錠,,2026-04-01,\n").as_bytes(),
        )
        .unwrap();
        let (v2, s) = plan(inst, &v1, renamed, t, None);
        assert_eq!((s.added, s.unchanged), (1, 1));
        assert_eq!((v2[0].code.as_str(), v2[0].version, v2[0].fields.name.as_str()), ("D2", 2, "乙錠（新）"));
    }
}
