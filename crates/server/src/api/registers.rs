//! The compliance workbench's registers over the API (the steps are [`crate::registers`]'):
//! the registers with their schemas and counts, a register's entries, one entry and its
//! history, create, change or retire (with the version being changed), import a CSV or xlsx
//! file whole, and export.
//!
//! The import takes the file itself as the body, `Content-Type: text/csv` or the xlsx media
//! type: the one API body that is not JSON. A form on another site cannot send either type
//! without a CORS preflight, which mamori never grants, so the JSON rule's CSRF defence holds.

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::registers::{self, Change, Manager, XLSX_MEDIA_TYPE, entry_id, kind_of};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mamori_core::Message;
use mamori_core::register::{FieldKind, FieldSpec, RegisterEntry, attention};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A field of a register's schema.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldView {
    /// Its name (the CSV column, the JSON key).
    pub name: String,
    /// Japanese label.
    pub label_ja: String,
    /// English label.
    pub label_en: String,
    /// text, long_text, date, choice, yes_no, catalog_item or ref.
    pub kind: String,
    /// The longest one-line text.
    pub max: Option<usize>,
    /// A choice's values: (value, Japanese, English).
    pub choices: Vec<[String; 3]>,
    /// The register a reference points to.
    pub refers_to: Option<String>,
    /// Whether it must have a value.
    pub required: bool,
}

pub(crate) fn field_view(s: &FieldSpec) -> FieldView {
    let (kind, max, choices, refers_to) = match s.kind {
        FieldKind::Text { max } => ("text", Some(max), Vec::new(), None),
        FieldKind::LongText => ("long_text", None, Vec::new(), None),
        FieldKind::Date => ("date", None, Vec::new(), None),
        FieldKind::Choice(c) => (
            "choice",
            None,
            c.iter().map(|(v, j, e)| [(*v).to_owned(), (*j).to_owned(), (*e).to_owned()]).collect(),
            None,
        ),
        FieldKind::YesNo => ("yes_no", None, Vec::new(), None),
        FieldKind::CatalogItem => ("catalog_item", None, Vec::new(), None),
        FieldKind::Ref(k) => ("ref", None, Vec::new(), Some(k.as_str().to_owned())),
    };
    FieldView {
        name: s.name.to_owned(),
        label_ja: s.label_ja.to_owned(),
        label_en: s.label_en.to_owned(),
        kind: kind.to_owned(),
        max,
        choices,
        refers_to,
        required: s.required,
    }
}

/// A register with its counts and schema.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterView {
    /// system, demarcation, asset, byod, iot, contact, bcp, third_party or patient_notice.
    pub kind: String,
    /// Japanese name.
    pub label_ja: String,
    /// English name.
    pub label_en: String,
    /// Live entries.
    pub live: usize,
    /// Retired entries.
    pub retired: usize,
    /// Live entries with something to act on (past a review or expiry date).
    pub attention: usize,
    /// Its fields, in order (the CSV header's order).
    pub fields: Vec<FieldView>,
}

/// One version of an entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    /// The entry's id.
    pub id: String,
    /// Its register.
    pub kind: String,
    /// The version.
    pub version: u32,
    /// The fields (absent ones are empty).
    pub fields: BTreeMap<String, String>,
    /// The reason, when this version retired the entry.
    pub retired: Option<String>,
    /// Who wrote it (user id; none for an operator's import).
    pub author: Option<String>,
    /// When.
    pub at: Option<String>,
    /// What needs acting on, in Japanese.
    pub attention_ja: Option<String>,
    /// The same in English.
    pub attention_en: Option<String>,
}

pub(crate) fn entry_view(e: &RegisterEntry, today: time::Date) -> EntryView {
    let attention = if e.retired.is_none() { attention(e.kind, &e.fields, today) } else { None };
    EntryView {
        id: e.id.to_string(),
        kind: e.kind.as_str().to_owned(),
        version: e.version,
        fields: e.fields.clone(),
        retired: e.retired.clone(),
        author: e.author.map(|u| u.to_string()),
        at: super::rfc3339(e.at),
        attention_ja: attention.as_ref().map(|m| m.ja.clone()),
        attention_en: attention.map(|m| m.en),
    }
}

/// `POST /api/v1/registers/{kind}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEntryInput {
    /// The fields by name (see the register's schema).
    pub fields: BTreeMap<String, String>,
}

/// `PUT /api/v1/registers/{kind}/{id}`: new fields, or a retirement.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeInput {
    /// The version being changed (the current one).
    pub version: u32,
    /// Every field (a field left out is emptied).
    pub fields: Option<BTreeMap<String, String>>,
    /// Retire the entry (廃止) with this reason.
    pub retire: Option<String>,
}

/// `GET /api/v1/registers/{kind}/export`
#[derive(Debug, Default, Deserialize)]
pub struct ExportQuery {
    /// csv (default) or json.
    pub format: Option<String>,
}

/// Every register with its counts and schema.
#[utoipa::path(get, path = "/api/v1/registers", tag = "compliance",
    responses((status = 200, description = "The registers", body = Vec<RegisterView>),
        (status = 403, description = "No permission to read the workbench", body = crate::error::ErrorEnvelope)))]
pub async fn registers(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<RegisterView>>, ApiError> {
    let who = Manager::of(&auth);
    let step = registers::overview(state.store.as_ref(), &who, state.clock.now());
    let all = crate::records::guarded(&state, &auth, "compliance.register.read", None, None, step).await?;
    Ok(Json(
        all.iter()
            .map(|s| RegisterView {
                kind: s.kind.as_str().to_owned(),
                label_ja: s.kind.label_ja().to_owned(),
                label_en: s.kind.label_en().to_owned(),
                live: s.live,
                retired: s.retired,
                attention: s.attention,
                fields: s.kind.schema().iter().map(field_view).collect(),
            })
            .collect(),
    ))
}

/// Every entry of a register (current versions, live and retired).
#[utoipa::path(get, path = "/api/v1/registers/{kind}", tag = "compliance",
    params(("kind" = String, Path, description = "The register")),
    responses((status = 200, description = "Its entries (the read is audited)", body = Vec<EntryView>),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such register", body = crate::error::ErrorEnvelope)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(kind): Path<String>,
) -> Result<Json<Vec<EntryView>>, ApiError> {
    let who = Manager::of(&auth);
    let now = state.clock.now();
    let step = async { registers::list(state.store.as_ref(), &who, now, kind_of(&kind)?).await };
    let all = crate::records::guarded(&state, &auth, "compliance.register.read", None, None, step).await?;
    let today = registers::today(now);
    Ok(Json(all.iter().map(|e| entry_view(e, today)).collect()))
}

/// Adds an entry to a register (version 1).
#[utoipa::path(post, path = "/api/v1/registers/{kind}", tag = "compliance", request_body = NewEntryInput,
    params(("kind" = String, Path, description = "The register")),
    responses((status = 201, description = "Added", body = EntryView),
        (status = 400, description = "A field is invalid", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission to manage the workbench", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such register", body = crate::error::ErrorEnvelope),
        (status = 409, description = "A demarcation for that system and item exists", body = crate::error::ErrorEnvelope)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(kind): Path<String>,
    ApiJson(input): ApiJson<NewEntryInput>,
) -> Result<Response, ApiError> {
    let who = Manager::of(&auth);
    let now = state.clock.now();
    let step = async { registers::create(state.store.as_ref(), &who, now, kind_of(&kind)?, &input.fields).await };
    let entry = crate::records::guarded(&state, &auth, "compliance.register.write", None, None, step).await?;
    Ok((StatusCode::CREATED, Json(entry_view(&entry, registers::today(now)))).into_response())
}

/// One entry of a register.
#[utoipa::path(get, path = "/api/v1/registers/{kind}/{id}", tag = "compliance",
    params(("kind" = String, Path, description = "The register"), ("id" = String, Path, description = "The entry's id")),
    responses((status = 200, description = "The entry (the read is audited)", body = EntryView),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such entry", body = crate::error::ErrorEnvelope)))]
pub async fn read(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<EntryView>, ApiError> {
    let who = Manager::of(&auth);
    let now = state.clock.now();
    let step = async { registers::read(state.store.as_ref(), &who, now, kind_of(&kind)?, entry_id(&id)?).await };
    let (entry, _) = crate::records::guarded(&state, &auth, "compliance.register.read", None, None, step).await?;
    Ok(Json(entry_view(&entry, registers::today(now))))
}

/// Changes an entry (new fields) or retires it (廃止, with a reason): a new version from the
/// one given; the old versions are kept.
#[utoipa::path(put, path = "/api/v1/registers/{kind}/{id}", tag = "compliance", request_body = ChangeInput,
    params(("kind" = String, Path, description = "The register"), ("id" = String, Path, description = "The entry's id")),
    responses((status = 200, description = "The new version", body = EntryView),
        (status = 400, description = "A field or the reason is invalid", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such entry", body = crate::error::ErrorEnvelope),
        (status = 409, description = "Changed by someone first (stale_version), retired, or a duplicate", body = crate::error::ErrorEnvelope)))]
pub async fn change(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((kind, id)): Path<(String, String)>,
    ApiJson(input): ApiJson<ChangeInput>,
) -> Result<Json<EntryView>, ApiError> {
    let who = Manager::of(&auth);
    let now = state.clock.now();
    let step = async {
        let change = match (input.fields, input.retire) {
            (Some(fields), None) => Change::Fields(fields),
            (None, Some(reason)) => Change::Retire(reason),
            _ => {
                return Err(ApiError::bad_request(Message::new(
                    "fields か retire のどちらか一方を指定してください。",
                    "give either fields or retire",
                )));
            }
        };
        registers::change(state.store.as_ref(), &who, now, kind_of(&kind)?, entry_id(&id)?, input.version, change).await
    };
    let next = crate::records::guarded(&state, &auth, "compliance.register.write", None, None, step).await?;
    Ok(Json(entry_view(&next, registers::today(now))))
}

/// Every version of an entry, oldest first.
#[utoipa::path(get, path = "/api/v1/registers/{kind}/{id}/history", tag = "compliance",
    params(("kind" = String, Path, description = "The register"), ("id" = String, Path, description = "The entry's id")),
    responses((status = 200, description = "Every version (the read is audited)", body = Vec<EntryView>),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such entry", body = crate::error::ErrorEnvelope)))]
pub async fn history(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<Vec<EntryView>>, ApiError> {
    let who = Manager::of(&auth);
    let now = state.clock.now();
    let step = async { registers::read(state.store.as_ref(), &who, now, kind_of(&kind)?, entry_id(&id)?).await };
    let (_, history) = crate::records::guarded(&state, &auth, "compliance.register.read", None, None, step).await?;
    let today = registers::today(now);
    Ok(Json(history.iter().map(|e| entry_view(e, today)).collect()))
}

/// What an import loaded.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportSummary {
    /// The register.
    pub kind: String,
    /// Entries added.
    pub added: usize,
}

fn import_format(headers: &HeaderMap) -> Result<(), ApiError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    match media.as_deref() {
        Some("text/csv") => Ok(()),
        Some(m) if m == XLSX_MEDIA_TYPE => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            Message::new(
                "取り込むファイルは text/csv か xlsx で送ってください。",
                "send the file as text/csv or as an xlsx workbook",
            ),
        )),
    }
}

/// Imports a CSV or xlsx file into a register: the header is the register's field names in
/// order; every row is checked first, and a bad one refuses the whole file with its line and
/// the reason (nothing is imported).
#[utoipa::path(post, path = "/api/v1/registers/{kind}/import", tag = "compliance",
    request_body(content = String, content_type = "text/csv", description = "The file (or an xlsx workbook)"),
    params(("kind" = String, Path, description = "The register")),
    responses((status = 201, description = "Imported", body = ImportSummary),
        (status = 400, description = "A line is invalid (its number and the reason); nothing was imported", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 409, description = "A row duplicates a live entry; nothing was imported", body = crate::error::ErrorEnvelope),
        (status = 415, description = "Neither CSV nor xlsx", body = crate::error::ErrorEnvelope)))]
pub async fn import(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = Manager::of(&auth);
    let now = state.clock.now();
    let step = async {
        let kind = kind_of(&kind)?;
        import_format(&headers)?;
        registers::import(state.store.as_ref(), &who, now, kind, &body).await.map(|n| (kind, n))
    };
    let (kind, added) = crate::records::guarded(&state, &auth, "compliance.register.import", None, None, step).await?;
    Ok((StatusCode::CREATED, Json(ImportSummary { kind: kind.as_str().to_owned(), added })).into_response())
}

/// Exports a register's live entries: CSV (the import's header; UTF-8 with a byte-order mark)
/// or JSON (every entry, retired ones too, with its version).
#[utoipa::path(get, path = "/api/v1/registers/{kind}/export", tag = "compliance",
    params(("kind" = String, Path, description = "The register"), ("format" = Option<String>, Query, description = "csv (default) or json")),
    responses((status = 200, description = "The register (the read is audited)", content_type = "text/csv"),
        (status = 400, description = "Unknown format", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such register", body = crate::error::ErrorEnvelope)))]
pub async fn export(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(kind): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let who = Manager::of(&auth);
    let now = state.clock.now();
    let format = q.format.unwrap_or_else(|| "csv".to_owned());
    let step = async {
        let kind = kind_of(&kind)?;
        if format != "csv" && format != "json" {
            return Err(ApiError::bad_request(Message::new(
                "format: csv か json を指定してください。",
                "format: csv or json",
            )));
        }
        registers::export(state.store.as_ref(), &who, now, kind, &format).await.map(|all| (kind, all))
    };
    let (kind, all) = crate::records::guarded(&state, &auth, "compliance.register.read", None, None, step).await?;
    if format == "json" {
        let today = registers::today(now);
        return Ok(Json(all.iter().map(|e| entry_view(e, today)).collect::<Vec<_>>()).into_response());
    }
    let disposition = format!("attachment; filename=\"mamori-{}.csv\"", kind.as_str());
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        registers::to_csv(kind, &all),
    )
        .into_response())
}
