//! The compliance workbench's registers (台帳・一覧): the system inventory, responsibility
//! demarcation, asset / BYOD / IoT ledgers, incident contacts, BCP, third-party provision
//! records and patient notices ([`mamori_core::register`]). One set of steps serves every
//! kind: list, read with history, create, change (a new version, from the current one),
//! retire (a new version marked retired, with the reason), import a whole CSV or xlsx file (all
//! or nothing) and export.
//!
//! Writes need `ManageCompliance`, reads `ReadCompliance` (auditors too). Every write is
//! committed with its audit event (`compliance.register.write` / `.import`), reads are events
//! too (`compliance.register.read`); events name the register, the entry and the version,
//! never a field's value.

use crate::audit;
use crate::error::ApiError;
use mamori_core::audit::{Actor, AuditEvent, Outcome};
use mamori_core::authz::AdminPermission;
use mamori_core::register::{FieldKind, Fields, RegisterEntry, RegisterKind, attention, check, check_reason, to_json};
use mamori_core::table::{self, Format};
use mamori_core::{InstitutionId, Message, RegisterEntryId};
use mamori_store::Store;
use std::collections::{BTreeMap, BTreeSet};
use time::{Date, OffsetDateTime};

/// Who acts: the signed-in user and their principal.
pub type Manager = crate::records::Caller;

/// The register of a path segment, or 404.
///
/// # Errors
/// 404 for an unknown register.
pub fn kind_of(raw: &str) -> Result<RegisterKind, ApiError> {
    raw.parse().map_err(|_| ApiError::no_such("台帳", "register"))
}

/// An entry ID of a path segment, or 404.
///
/// # Errors
/// 404 for a malformed ID.
pub fn entry_id(raw: &str) -> Result<RegisterEntryId, ApiError> {
    raw.parse().map_err(|_| no_entry())
}

fn no_entry() -> ApiError {
    ApiError::no_such("台帳の項目", "register entry")
}

/// Whether `item` is an item of a shipped catalog.
#[must_use]
pub fn known_item(item: &str) -> bool {
    mamori_compliance::catalogs().is_ok_and(|all| all.iter().any(|c| c.items.iter().any(|i| i.id == item)))
}

/// The day of `now` in Japan (what "past its date" is measured against).
#[must_use]
pub fn today(now: OffsetDateTime) -> Date {
    now.to_offset(time::macros::offset!(+9)).date()
}

/// One register in the overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The register.
    pub kind: RegisterKind,
    /// Live entries.
    pub live: usize,
    /// Retired entries.
    pub retired: usize,
    /// Live entries with something to act on.
    pub attention: usize,
}

/// Every register with its counts (recorded as `compliance.register.read`).
///
/// # Errors
/// 403 without `ReadCompliance`.
pub async fn overview(store: &dyn Store, who: &Manager, now: OffsetDateTime) -> Result<Vec<Summary>, ApiError> {
    who.require(AdminPermission::ReadCompliance)?;
    let day = today(now);
    let mut out = Vec::new();
    for kind in RegisterKind::ALL {
        let all = store.register_entries(who.institution(), *kind).await?;
        let live: Vec<&RegisterEntry> = all.iter().filter(|e| e.retired.is_none()).collect();
        out.push(Summary {
            kind: *kind,
            live: live.len(),
            retired: all.len() - live.len(),
            attention: live.iter().filter(|e| attention(*kind, &e.fields, day).is_some()).count(),
        });
    }
    let event = who.event(now, "compliance.register.read", Outcome::Allowed).resource("registers".to_owned());
    audit::record_in(store, vec![event]).await?;
    Ok(out)
}

/// Every entry of a register (current versions, live and retired), recorded as
/// `compliance.register.read`.
///
/// # Errors
/// 403 without `ReadCompliance`.
pub async fn list(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    kind: RegisterKind,
) -> Result<Vec<RegisterEntry>, ApiError> {
    who.require(AdminPermission::ReadCompliance)?;
    let all = store.register_entries(who.institution(), kind).await?;
    let event = who
        .event(now, "compliance.register.read", Outcome::Allowed)
        .resource(format!("register:{kind}"))
        .detail("kind", kind.as_str());
    audit::record_in(store, vec![event]).await?;
    Ok(all)
}

/// One entry with every version, oldest first (recorded as `compliance.register.read`).
///
/// # Errors
/// 403, 404 (no such entry in that register).
pub async fn read(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    kind: RegisterKind,
    id: RegisterEntryId,
) -> Result<(RegisterEntry, Vec<RegisterEntry>), ApiError> {
    who.require(AdminPermission::ReadCompliance)?;
    let entry = store.register_entry(who.institution(), id).await?.filter(|e| e.kind == kind).ok_or_else(no_entry)?;
    let history = store.register_history(who.institution(), id).await?;
    let event = who
        .event(now, "compliance.register.read", Outcome::Allowed)
        .resource(format!("register:{kind}/{id}"))
        .detail("kind", kind.as_str())
        .detail("entry", id.to_string())
        .detail("version", entry.version.to_string());
    audit::record_in(store, vec![event]).await?;
    Ok((entry, history))
}

/// Checks an entry's fields: the schema ([`check`], catalog items against the shipped
/// catalogs), then what needs the store: a reference names a live entry of its register, and a
/// demarcation's (system, item) is not held by another live entry (409 `duplicate_entry`).
async fn checked(
    store: &dyn Store,
    institution: InstitutionId,
    kind: RegisterKind,
    raw: &BTreeMap<String, String>,
    except: Option<RegisterEntryId>,
) -> Result<Fields, ApiError> {
    let fields = check(kind, raw, &known_item).map_err(ApiError::bad_request)?;
    for spec in kind.schema() {
        if let (FieldKind::Ref(target), Some(value)) = (spec.kind, fields.get(spec.name)) {
            let found = match value.parse::<RegisterEntryId>() {
                Ok(id) => store.register_entry(institution, id).await?,
                Err(_) => None,
            };
            if !found.is_some_and(|e| e.kind == target && e.retired.is_none()) {
                return Err(ApiError::bad_request(Message::new(
                    format!("{}: {}に登録されている項目を指定してください。", spec.name, target.label_ja()),
                    format!("{}: an entry of the {} register in use", spec.name, target.as_str()),
                )));
            }
        }
    }
    if let Some(key) = kind.unique_key() {
        let mine = key_of(key, &fields);
        let taken = store
            .register_entries(institution, kind)
            .await?
            .iter()
            .any(|e| e.retired.is_none() && Some(e.id) != except && key_of(key, &e.fields) == mine);
        if taken {
            return Err(duplicate(key));
        }
    }
    Ok(fields)
}

fn key_of(key: &[&str], fields: &Fields) -> Vec<String> {
    key.iter().map(|k| fields.get(*k).cloned().unwrap_or_default()).collect()
}

fn duplicate(key: &[&str]) -> ApiError {
    let names = key.join(", ");
    ApiError::conflict(
        "duplicate_entry",
        Message::new(
            format!("{names} が同じ項目がすでにあります（変更するか、廃止してから登録してください）。"),
            format!("an entry with the same {names} exists (change it, or retire it first)"),
        ),
    )
}

fn write_event(who: &Manager, now: OffsetDateTime, entry: &RegisterEntry) -> AuditEvent {
    who.event(now, "compliance.register.write", Outcome::Allowed)
        .resource(format!("register:{}/{}", entry.kind, entry.id))
        .detail("kind", entry.kind.as_str())
        .detail("entry", entry.id.to_string())
        .detail("version", entry.version.to_string())
        .detail("retired", if entry.retired.is_some() { "yes" } else { "no" })
}

/// Creates an entry (version 1).
///
/// # Errors
/// 403, 400 (a field), 409 `duplicate_entry`.
pub async fn create(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    kind: RegisterKind,
    raw: &BTreeMap<String, String>,
) -> Result<RegisterEntry, ApiError> {
    who.require(AdminPermission::ManageCompliance)?;
    let now = mamori_core::clock::to_micros(now);
    let fields = checked(store, who.institution(), kind, raw, None).await?;
    let entry = RegisterEntry {
        institution: who.institution(),
        id: RegisterEntryId::generate(&mut rand_core::OsRng),
        kind,
        version: 1,
        fields,
        retired: None,
        author: Some(who.user.id),
        at: now,
    };
    let mut tx = store.begin().await?;
    tx.create_register_entries(std::slice::from_ref(&entry)).await?;
    audit::commit_with(tx, write_event(who, now, &entry)).await?;
    Ok(entry)
}

/// A change to an entry.
#[derive(Debug, Clone)]
pub enum Change {
    /// New fields (all of them).
    Fields(BTreeMap<String, String>),
    /// Retire it (廃止), with the reason.
    Retire(String),
}

/// Changes or retires an entry: version N+1 from version N.
///
/// # Errors
/// 403, 404, 400 (a field, the reason), 409 `stale_version` (someone changed it first),
/// `retired` (a retired entry takes no change), `duplicate_entry`.
pub async fn change(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    kind: RegisterKind,
    id: RegisterEntryId,
    version: u32,
    change: Change,
) -> Result<RegisterEntry, ApiError> {
    who.require(AdminPermission::ManageCompliance)?;
    let now = mamori_core::clock::to_micros(now);
    let current = store.register_entry(who.institution(), id).await?.filter(|e| e.kind == kind).ok_or_else(no_entry)?;
    if current.retired.is_some() {
        return Err(ApiError::conflict(
            "retired",
            Message::new("この項目は廃止されています。", "this entry is retired"),
        ));
    }
    let stale = || {
        ApiError::conflict(
            "stale_version",
            Message::new(
                "他の人が先に変更しました。開き直してください。",
                "someone changed this entry first; reload it",
            ),
        )
    };
    if version != current.version {
        return Err(stale());
    }
    let (fields, retired) = match change {
        Change::Fields(raw) => (checked(store, who.institution(), kind, &raw, Some(id)).await?, None),
        Change::Retire(reason) => (current.fields.clone(), Some(check_reason(&reason).map_err(ApiError::bad_request)?)),
    };
    let next = RegisterEntry {
        version: current.version.saturating_add(1),
        fields,
        retired,
        author: Some(who.user.id),
        at: now,
        ..current
    };
    let mut tx = store.begin().await?;
    if !tx.add_register_version(&next).await? {
        return Err(stale());
    }
    audit::commit_with(tx, write_event(who, now, &next)).await?;
    Ok(next)
}

/// The import file's media types: CSV, or an xlsx workbook.
pub const XLSX_MEDIA_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Reads a whole import file of a register and checks every row before anything is written:
/// the header (the register's field names in schema order), each row's fields (the line and
/// the reason of the first bad one), references to live entries, duplicates within the file
/// (the same row twice, or for the demarcation the same system and item) and against the live
/// entries. Returns the new entries, version 1, by `actor`.
///
/// # Errors
/// 400 naming the line and the reason; 409 `duplicate_entry` naming the line.
pub async fn plan_import(
    store: &dyn Store,
    institution: InstitutionId,
    actor: &Actor,
    now: OffsetDateTime,
    kind: RegisterKind,
    bytes: &[u8],
    format: Format,
) -> Result<Vec<RegisterEntry>, ApiError> {
    let now = mamori_core::clock::to_micros(now);
    let header = kind.header();
    let rows = table::read(bytes, format, &header).map_err(ApiError::bad_request)?;
    let mut seen: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    let mut entries = Vec::with_capacity(rows.len());
    let at_line = |line: usize, e: ApiError| {
        let m = table::at_line(line, e.message());
        ApiError::new(e.status(), e.code(), m)
    };
    for row in rows {
        let raw: BTreeMap<String, String> =
            header.iter().enumerate().map(|(i, h)| ((*h).to_owned(), row.cell(i).to_owned())).collect();
        let fields = checked(store, institution, kind, &raw, None).await.map_err(|e| at_line(row.line, e))?;
        let key = kind.unique_key().map_or_else(|| vec![to_json(&fields)], |k| key_of(k, &fields));
        if let Some(first) = seen.insert(key, row.line) {
            let what =
                kind.unique_key().map_or_else(|| "同じ内容の行".to_owned(), |k| format!("{} が同じ行", k.join(", ")));
            let what_en =
                kind.unique_key().map_or_else(|| "the same row".to_owned(), |k| format!("the same {}", k.join(", ")));
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "duplicate_row",
                table::at_line(
                    row.line,
                    &Message::new(format!("{first}行目と{what}です。"), format!("{what_en} as line {first}")),
                ),
            ));
        }
        entries.push(RegisterEntry {
            institution,
            id: RegisterEntryId::generate(&mut rand_core::OsRng),
            kind,
            version: 1,
            fields,
            retired: None,
            author: actor.user(),
            at: now,
        });
    }
    Ok(entries)
}

/// Imports a whole file into a register, all or nothing, with its `compliance.register.import`
/// event (the register and the number of rows). The caller has checked the permission.
///
/// # Errors
/// As [`plan_import`]; store failures.
pub async fn import_as(
    store: &dyn Store,
    institution: InstitutionId,
    actor: Actor,
    now: OffsetDateTime,
    kind: RegisterKind,
    bytes: &[u8],
) -> Result<usize, ApiError> {
    let entries = plan_import(store, institution, &actor, now, kind, bytes, Format::sniff(bytes)).await?;
    let now = mamori_core::clock::to_micros(now);
    let event = AuditEvent::new(institution, now, actor, "compliance.register.import", Outcome::Allowed)
        .resource(format!("register:{kind}"))
        .detail("kind", kind.as_str())
        .detail("rows", entries.len().to_string());
    let mut tx = store.begin().await?;
    tx.create_register_entries(&entries).await?;
    audit::commit_with(tx, event).await?;
    Ok(entries.len())
}

/// Imports a file for the signed-in user.
///
/// # Errors
/// 403 without `ManageCompliance`; as [`import_as`].
pub async fn import(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    kind: RegisterKind,
    bytes: &[u8],
) -> Result<usize, ApiError> {
    who.require(AdminPermission::ManageCompliance)?;
    import_as(store, who.institution(), audit::actor(&who.user), now, kind, bytes).await
}

/// The live entries of a register as CSV (UTF-8 with a byte-order mark for spreadsheet
/// programs; the header is the register's field names, as the import takes them). A cell with
/// a comma, a quote or a line break is quoted.
#[must_use]
pub fn to_csv(kind: RegisterKind, entries: &[RegisterEntry]) -> String {
    let header = kind.header();
    let mut out = String::from("\u{FEFF}");
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for e in entries.iter().filter(|e| e.retired.is_none()) {
        let cells: Vec<String> = header.iter().map(|h| csv_cell(e.fields.get(*h).map_or("", String::as_str))).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

fn csv_cell(value: &str) -> String {
    // A leading =, +, - or @ would be a formula in a spreadsheet program: prefix a quote.
    let value = if value.starts_with(['=', '+', '-', '@']) { format!("'{value}") } else { value.to_owned() };
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value }
}

/// Records an export (`compliance.register.read` with the format).
///
/// # Errors
/// 403 without `ReadCompliance`.
pub async fn export(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    kind: RegisterKind,
    format: &str,
) -> Result<Vec<RegisterEntry>, ApiError> {
    who.require(AdminPermission::ReadCompliance)?;
    let all = store.register_entries(who.institution(), kind).await?;
    let event = who
        .event(now, "compliance.register.read", Outcome::Allowed)
        .resource(format!("register:{kind}"))
        .detail("kind", kind.as_str())
        .detail("export", format.to_owned());
    audit::record_in(store, vec![event]).await?;
    Ok(all)
}

/// The demarcation as a matrix: for each catalog item that has entries, the party per system
/// (by the system's entry ID).
#[must_use]
pub fn matrix(demarcations: &[RegisterEntry]) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for e in demarcations.iter().filter(|e| e.retired.is_none()) {
        if let (Some(item), Some(system), Some(party)) =
            (e.fields.get("item"), e.fields.get("system"), e.fields.get("party"))
        {
            out.entry(item.clone()).or_default().insert(system.clone(), party.clone());
        }
    }
    out
}

/// The distinct systems named in a matrix.
#[must_use]
pub fn matrix_systems(matrix: &BTreeMap<String, BTreeMap<String, String>>) -> BTreeSet<String> {
    matrix.values().flat_map(|m| m.keys().cloned()).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=cmd()"), "'=cmd()");
        assert_eq!(csv_cell("電子カルテ"), "電子カルテ");
    }
}
