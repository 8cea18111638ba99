//! The compliance workbench's assessments over the API (the steps are
//! [`crate::assessments`]'): list and start assessments, read one with its items, evidence and
//! live evidence, change an item, add evidence (links; files on the page), read an item's
//! history. Catalog item paths use the item's number within the catalog: `9-4` for
//! `hoshu-7.0/9-4`.

use crate::assessments::{self, ItemChange, Manager, NewAssessment};
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mamori_core::assessment::{Assessment, Evidence, EvidenceKind, ItemAssessment, ItemState, check_evidence};
use mamori_core::master::parse_date;
use mamori_core::{AssessmentId, EvidenceId, Message, UserId};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use time::Date;
use utoipa::ToSchema;

/// An assessment as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssessmentSummary {
    /// Its id.
    pub id: String,
    /// The catalog.
    pub catalog: String,
    /// The title.
    pub title: String,
    /// First day.
    pub period_start: String,
    /// Last day.
    pub period_end: String,
    /// The assessment it carried over.
    pub carried_from: Option<String>,
    /// When it was started.
    pub created_at: Option<String>,
}

fn summary(a: &Assessment) -> AssessmentSummary {
    AssessmentSummary {
        id: a.id.to_string(),
        catalog: a.catalog.clone(),
        title: a.title.clone(),
        period_start: a.period_start.to_string(),
        period_end: a.period_end.to_string(),
        carried_from: a.carried_from.map(|c| c.to_string()),
        created_at: super::rfc3339(a.created_at),
    }
}

/// One item as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    /// The catalog item's id.
    pub item: String,
    /// The item's number as printed.
    pub number: String,
    /// The item's text.
    pub text: String,
    /// not_started, in_progress, done or not_applicable.
    pub state: String,
    /// 未着手, 対応中, 対応済 or 対象外.
    pub state_ja: String,
    /// The owner (user id).
    pub owner: Option<String>,
    /// Due.
    pub due_on: Option<String>,
    /// Next review.
    pub next_review_on: Option<String>,
    /// Notes.
    pub notes: String,
    /// The item's version.
    pub version: u32,
    /// When it last changed.
    pub changed_at: Option<String>,
}

/// A revision of a piece of evidence.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceView {
    /// Its id.
    pub id: String,
    /// Its revision.
    pub revision: u32,
    /// The item.
    pub item: String,
    /// Title.
    pub title: String,
    /// `file` or `link`.
    pub kind: String,
    /// A link's URL.
    pub url: Option<String>,
    /// A file's name.
    pub file_name: Option<String>,
    /// A file's SHA-256 (hex).
    pub file_sha256: Option<String>,
    /// A file's size in bytes.
    pub file_size: Option<u64>,
    /// Where a file is downloaded (`GET`).
    pub download: Option<String>,
    /// The owner (user id).
    pub owner: Option<String>,
    /// In effect from.
    pub effective_on: Option<String>,
    /// Expires on.
    pub expires_on: Option<String>,
    /// When it was added.
    pub added_at: Option<String>,
}

pub(crate) fn evidence_view(e: &Evidence) -> EvidenceView {
    let (kind, url, file_name, file_sha256, file_size) = match &e.kind {
        EvidenceKind::Link { url } => ("link", Some(url.clone()), None, None, None),
        EvidenceKind::File { name, sha256, size } => {
            ("file", None, Some(name.clone()), Some(crate::files::hex(sha256)), Some(*size))
        }
    };
    let download = file_size
        .map(|_| format!("/api/v1/assessments/{}/evidence/{}/revisions/{}/file", e.assessment, e.id, e.revision));
    EvidenceView {
        id: e.id.to_string(),
        revision: e.revision,
        item: e.item.clone(),
        title: e.title.clone(),
        kind: kind.to_owned(),
        url,
        file_name,
        file_sha256,
        file_size,
        download,
        owner: e.owner.map(|u| u.to_string()),
        effective_on: e.effective_on.map(|d| d.to_string()),
        expires_on: e.expires_on.map(|d| d.to_string()),
        added_at: super::rfc3339(e.added_at),
    }
}

/// Live evidence from mamori's data.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveView {
    /// The item it speaks to.
    pub item: String,
    /// What it shows.
    pub lines: Vec<String>,
    /// Whether there is something to act on.
    pub attention: bool,
}

/// An assessment with everything in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssessmentDetail {
    /// The assessment.
    pub assessment: AssessmentSummary,
    /// Its items with the catalog's texts.
    pub items: Vec<ItemView>,
    /// Every evidence revision.
    pub evidence: Vec<EvidenceView>,
    /// Live evidence from mamori's own data.
    pub live: Vec<LiveView>,
    /// How many items are in each state.
    pub counts: std::collections::BTreeMap<String, usize>,
}

/// The items of the shipped catalog `id`, or of the catalog an item ID (`hoshu-7.0/9-4`) belongs
/// to (none for an unknown one: the texts are then shown empty).
pub(crate) fn catalog_items(id_or_item: &str) -> Vec<mamori_compliance::Item> {
    mamori_compliance::catalogs()
        .ok()
        .and_then(|all| {
            all.into_iter()
                .find(|c| c.catalog.id == id_or_item || id_or_item.starts_with(&format!("{}/", c.catalog.id)))
        })
        .map(|c| c.items)
        .unwrap_or_default()
}

pub(crate) fn item_view(i: &ItemAssessment, catalog: &[mamori_compliance::Item]) -> ItemView {
    let c = catalog.iter().find(|c| c.id == i.item);
    ItemView {
        item: i.item.clone(),
        number: c.map(|c| c.number.clone()).unwrap_or_default(),
        text: c.map(|c| c.text.clone()).unwrap_or_default(),
        state: i.state.as_str().to_owned(),
        state_ja: i.state.label_ja().to_owned(),
        owner: i.owner.map(|u| u.to_string()),
        due_on: i.due_on.map(|d| d.to_string()),
        next_review_on: i.next_review_on.map(|d| d.to_string()),
        notes: i.notes.clone(),
        version: i.version,
        changed_at: super::rfc3339(i.changed_at),
    }
}

/// `POST /api/v1/assessments`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAssessmentInput {
    /// The catalog (`hoshu-7.0`).
    pub catalog: String,
    /// The title (e.g. 2026年度 自己点検).
    pub title: String,
    /// First day, `YYYY-MM-DD`.
    pub period_start: String,
    /// Last day.
    pub period_end: String,
    /// Start from the newest earlier assessment of the catalog, every state reset for review.
    #[serde(default)]
    pub carry_over: bool,
}

/// `PUT /api/v1/assessments/{id}/items/{item}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemInput {
    /// not_started, in_progress, done or not_applicable.
    pub state: String,
    /// The owner's user id.
    pub owner: Option<String>,
    /// Due, `YYYY-MM-DD`.
    pub due_on: Option<String>,
    /// Next review, `YYYY-MM-DD`.
    pub next_review_on: Option<String>,
    /// Notes (at most 4000 characters).
    #[serde(default)]
    pub notes: String,
    /// The version being changed.
    pub version: u32,
}

/// `POST /api/v1/assessments/{id}/items/{item}/evidence`: a link (files are uploaded on the page).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceInput {
    /// Title.
    pub title: String,
    /// An https URL.
    pub url: String,
    /// The owner's user id.
    pub owner: Option<String>,
    /// In effect from, `YYYY-MM-DD`.
    pub effective_on: Option<String>,
    /// Expires on, `YYYY-MM-DD`.
    pub expires_on: Option<String>,
    /// To revise an existing piece of evidence: its id and the next revision number.
    pub revises: Option<String>,
    /// The revision number when revising.
    pub revision: Option<u32>,
}

pub(crate) fn date(field: &str, raw: Option<&str>) -> Result<Option<Date>, ApiError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => parse_date(s).map(Some).map_err(|m| {
            ApiError::bad_request(Message::new(format!("{field}: {}", m.ja), format!("{field}: {}", m.en)))
        }),
    }
}

pub(crate) fn user(field: &str, raw: Option<&str>) -> Result<Option<UserId>, ApiError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            ApiError::bad_request(Message::new(
                format!("{field}: 利用者IDが正しくありません。"),
                format!("{field}: not a user id"),
            ))
        }),
    }
}

fn assessment_id(raw: &str) -> Result<AssessmentId, ApiError> {
    raw.parse().map_err(|_| ApiError::no_such("点検", "assessment"))
}

/// The full item id from a path's item number, given the assessment's catalog.
pub(crate) async fn item_id(state: &AppState, who: &Manager, id: AssessmentId, item: &str) -> Result<String, ApiError> {
    let a = state
        .store
        .assessment(who.user.institution_id, id)
        .await?
        .ok_or_else(|| ApiError::no_such("点検", "assessment"))?;
    let full = format!("{}/{item}", a.catalog);
    if !catalog_items(&a.catalog).iter().any(|i| i.id == full) {
        return Err(ApiError::no_such("点検項目", "assessment item"));
    }
    Ok(full)
}

/// The institution's assessments, newest first.
#[utoipa::path(get, path = "/api/v1/assessments", tag = "compliance",
    responses((status = 200, description = "Assessments", body = Vec<AssessmentSummary>),
        (status = 403, description = "No permission to read the workbench", body = crate::error::ErrorEnvelope)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<AssessmentSummary>>, ApiError> {
    auth.ready()?;
    let who = Manager::of(&auth);
    let step = assessments::list(state.store.as_ref(), &who);
    let all = crate::records::guarded(&state, &auth, "compliance.read", None, None, step).await?;
    Ok(Json(all.iter().map(summary).collect()))
}

/// Starts an assessment of a catalog (optionally carrying the previous one over).
#[utoipa::path(post, path = "/api/v1/assessments", tag = "compliance", request_body = NewAssessmentInput,
    responses((status = 201, description = "Started", body = AssessmentSummary),
        (status = 400, description = "A field is invalid or the catalog unknown", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission to manage the workbench", body = crate::error::ErrorEnvelope)))]
pub async fn start(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(input): ApiJson<NewAssessmentInput>,
) -> Result<Response, ApiError> {
    auth.ready()?;
    let who = Manager::of(&auth);
    let parse = |f: &str, v: &str| {
        date(f, Some(v))?.ok_or_else(|| {
            ApiError::bad_request(Message::new(
                format!("{f}: 日付を入力してください。"),
                format!("{f}: a date is required"),
            ))
        })
    };
    let new = NewAssessment {
        catalog: input.catalog,
        title: input.title,
        period_start: parse("period_start", &input.period_start)?,
        period_end: parse("period_end", &input.period_end)?,
        carry_over: input.carry_over,
    };
    let step = assessments::start(state.store.as_ref(), &who, state.clock.now(), new);
    let (a, _) = crate::records::guarded(&state, &auth, "compliance.assessment.create", None, None, step).await?;
    Ok((StatusCode::CREATED, Json(summary(&a))).into_response())
}

/// One assessment: items with the catalog's texts, evidence, live evidence, counts.
#[utoipa::path(get, path = "/api/v1/assessments/{id}", tag = "compliance",
    params(("id" = String, Path, description = "The assessment's id")),
    responses((status = 200, description = "The assessment (the read is audited)", body = AssessmentDetail),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such assessment", body = crate::error::ErrorEnvelope)))]
pub async fn read(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<AssessmentDetail>, ApiError> {
    auth.ready()?;
    let id = assessment_id(&id)?;
    let who = Manager::of(&auth);
    let inactive = state.config.get().accounts.inactive_after.0;
    let step = assessments::read(state.store.as_ref(), &who, state.clock.now(), id, inactive);
    let v = crate::records::guarded(&state, &auth, "compliance.read", None, None, step).await?;
    let catalog = catalog_items(&v.assessment.catalog);
    let mut counts = std::collections::BTreeMap::new();
    for i in &v.items {
        *counts.entry(i.state.as_str().to_owned()).or_insert(0) += 1;
    }
    Ok(Json(AssessmentDetail {
        assessment: summary(&v.assessment),
        items: v.items.iter().map(|i| item_view(i, &catalog)).collect(),
        evidence: v.evidence.iter().map(evidence_view).collect(),
        live: v
            .live
            .iter()
            .map(|l| LiveView { item: l.item.clone(), lines: l.lines.clone(), attention: l.attention })
            .collect(),
        counts,
    }))
}

/// Changes an item (a new version; the old ones are kept).
#[utoipa::path(put, path = "/api/v1/assessments/{id}/items/{item}", tag = "compliance", request_body = ItemInput,
    params(("id" = String, Path, description = "The assessment's id"), ("item" = String, Path, description = "The item's number in the catalog, e.g. 9-4")),
    responses((status = 200, description = "The new version", body = ItemView),
        (status = 400, description = "A field is invalid", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such assessment or item", body = crate::error::ErrorEnvelope),
        (status = 409, description = "Changed by someone first", body = crate::error::ErrorEnvelope)))]
pub async fn change_item(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, item)): Path<(String, String)>,
    ApiJson(input): ApiJson<ItemInput>,
) -> Result<Json<ItemView>, ApiError> {
    auth.ready()?;
    let who = Manager::of(&auth);
    let id = assessment_id(&id)?;
    let item = item_id(&state, &who, id, &item).await?;
    let change = ItemChange {
        state: ItemState::from_str(&input.state)
            .map_err(|m| ApiError::bad_request(Message::new(format!("state: {}", m.ja), format!("state: {}", m.en))))?,
        owner: user("owner", input.owner.as_deref())?,
        due_on: date("due_on", input.due_on.as_deref())?,
        next_review_on: date("next_review_on", input.next_review_on.as_deref())?,
        notes: input.notes,
        version: input.version,
    };
    let step = assessments::change_item(state.store.as_ref(), &who, state.clock.now(), id, &item, change);
    let next = crate::records::guarded(&state, &auth, "compliance.item.update", None, None, step).await?;
    let catalog = catalog_items(&next.item);
    Ok(Json(item_view(&next, &catalog)))
}

/// Adds a link as evidence for an item (or a new revision of one).
#[utoipa::path(post, path = "/api/v1/assessments/{id}/items/{item}/evidence", tag = "compliance", request_body = EvidenceInput,
    params(("id" = String, Path, description = "The assessment's id"), ("item" = String, Path, description = "The item's number in the catalog, e.g. 9-4")),
    responses((status = 201, description = "Added", body = EvidenceView),
        (status = 400, description = "A field is invalid", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such assessment or item", body = crate::error::ErrorEnvelope),
        (status = 409, description = "That revision exists", body = crate::error::ErrorEnvelope)))]
pub async fn add_evidence(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, item)): Path<(String, String)>,
    ApiJson(input): ApiJson<EvidenceInput>,
) -> Result<Response, ApiError> {
    auth.ready()?;
    let who = Manager::of(&auth);
    let id = assessment_id(&id)?;
    let item = item_id(&state, &who, id, &item).await?;
    let effective_on = date("effective_on", input.effective_on.as_deref())?;
    let expires_on = date("expires_on", input.expires_on.as_deref())?;
    let (title, kind) = check_evidence(&input.title, EvidenceKind::Link { url: input.url }, effective_on, expires_on)
        .map_err(ApiError::bad_request)?;
    let (evidence_id, revision) = revision_of(input.revises.as_deref(), input.revision)?;
    let evidence = Evidence {
        institution: who.user.institution_id,
        id: evidence_id,
        revision,
        assessment: id,
        item,
        title,
        kind,
        owner: user("owner", input.owner.as_deref())?,
        effective_on,
        expires_on,
        added_by: who.user.id,
        added_at: state.clock.now(),
    };
    let step = assessments::add_evidence(state.store.as_ref(), &who, state.clock.now(), evidence);
    let added = crate::records::guarded(&state, &auth, "compliance.evidence.add", None, None, step).await?;
    Ok((StatusCode::CREATED, Json(evidence_view(&added))).into_response())
}

/// A new piece of evidence (revision 1 of a new ID), or revision `revision` (2 or more) of
/// `revises`.
fn revision_of(revises: Option<&str>, revision: Option<u32>) -> Result<(EvidenceId, u32), ApiError> {
    match (revises.filter(|r| !r.is_empty()), revision) {
        (Some(e), Some(r)) if r >= 2 => {
            Ok((e.parse::<EvidenceId>().map_err(|_| ApiError::no_such("根拠資料", "evidence"))?, r))
        }
        (None, None) => Ok((EvidenceId::generate(&mut rand_core::OsRng), 1)),
        _ => Err(ApiError::bad_request(Message::new(
            "revises と revision（2以上）は両方指定してください。",
            "revises and revision (2 or more) go together",
        ))),
    }
}

/// What a file upload says about the file (the bytes are the request body).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(default)]
pub struct FileQuery {
    /// Title, 1–200 characters.
    pub title: String,
    /// The file's name (no path), 1–200 characters.
    pub name: String,
    /// The owner (a user id of the institution).
    pub owner: Option<String>,
    /// In effect from (YYYY-MM-DD).
    pub effective_on: Option<String>,
    /// Expires on (YYYY-MM-DD).
    pub expires_on: Option<String>,
    /// The evidence this is a new revision of.
    pub revises: Option<String>,
    /// The new revision's number (2 or more), with `revises`.
    pub revision: Option<u32>,
}

/// The evidence a file upload describes, checked; `now` is the time of the upload.
pub(crate) fn file_evidence(
    who: &Manager,
    now: time::OffsetDateTime,
    assessment: AssessmentId,
    item: String,
    q: &FileQuery,
) -> Result<Evidence, ApiError> {
    let effective_on = date("effective_on", q.effective_on.as_deref())?;
    let expires_on = date("expires_on", q.expires_on.as_deref())?;
    let placeholder = EvidenceKind::File { name: q.name.clone(), sha256: [0; 32], size: 0 };
    let (title, kind) =
        check_evidence(&q.title, placeholder, effective_on, expires_on).map_err(ApiError::bad_request)?;
    let (id, revision) = revision_of(q.revises.as_deref(), q.revision)?;
    Ok(Evidence {
        institution: who.user.institution_id,
        id,
        revision,
        assessment,
        item,
        title,
        kind,
        owner: user("owner", q.owner.as_deref())?,
        effective_on,
        expires_on,
        added_by: who.user.id,
        added_at: now,
    })
}

/// Adds a file as evidence for an item (or a new revision of one): the request body is the
/// file's bytes (any media type but the ones a cross-site form can send), at most 20 MiB; the
/// query names it. mamori keeps it content-addressed by its SHA-256.
#[utoipa::path(post, path = "/api/v1/assessments/{id}/items/{item}/evidence/file", tag = "compliance",
    params(("id" = String, Path, description = "The assessment's id"), ("item" = String, Path, description = "The item's number in the catalog, e.g. 9-4"), FileQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes"),
    responses((status = 201, description = "Added", body = EvidenceView),
        (status = 400, description = "A field is invalid or the file is empty", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such assessment or item", body = crate::error::ErrorEnvelope),
        (status = 409, description = "That revision exists", body = crate::error::ErrorEnvelope),
        (status = 413, description = "Over 20 MiB", body = crate::error::ErrorEnvelope)))]
pub async fn add_evidence_file(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, item)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<FileQuery>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    auth.ready()?;
    let who = Manager::of(&auth);
    let step = async {
        let id = assessment_id(&id)?;
        let item = item_id(&state, &who, id, &item).await?;
        let evidence = file_evidence(&who, state.clock.now(), id, item, &q)?;
        assessments::add_evidence_file(state.store.as_ref(), &state.files, &who, state.clock.now(), evidence, body)
            .await
    };
    let added = crate::records::guarded(&state, &auth, "compliance.evidence.add", None, None, step).await?;
    Ok((StatusCode::CREATED, Json(evidence_view(&added))).into_response())
}

/// Downloads the file of one evidence revision (checked against its SHA-256 first), as an
/// attachment.
#[utoipa::path(get, path = "/api/v1/assessments/{id}/evidence/{evidence}/revisions/{revision}/file", tag = "compliance",
    params(("id" = String, Path, description = "The assessment's id"), ("evidence" = String, Path, description = "The evidence's id"), ("revision" = u32, Path, description = "The revision")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such file", body = crate::error::ErrorEnvelope)))]
pub async fn evidence_file(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, evidence, revision)): Path<(String, String, u32)>,
) -> Result<Response, ApiError> {
    auth.ready()?;
    let who = Manager::of(&auth);
    let step = async {
        let id = assessment_id(&id)?;
        let evidence = evidence.parse::<EvidenceId>().map_err(|_| ApiError::no_such("根拠資料", "evidence"))?;
        assessments::evidence_file(state.store.as_ref(), &state.files, &who, state.clock.now(), id, evidence, revision)
            .await
    };
    let file = crate::records::guarded(&state, &auth, "compliance.evidence.read", None, None, step).await?;
    Ok(attachment(&file.name, "application/octet-stream", file.bytes))
}

/// A download: `Content-Disposition: attachment` with an ASCII fallback name and the real name
/// as RFC 5987 `filename*`.
pub(crate) fn attachment(name: &str, content_type: &'static str, bytes: Vec<u8>) -> Response {
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static(content_type));
    if let Ok(v) = axum::http::HeaderValue::from_str(&disposition) {
        headers.insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    response
}

/// Every version of an item, oldest first.
#[utoipa::path(get, path = "/api/v1/assessments/{id}/items/{item}/history", tag = "compliance",
    params(("id" = String, Path, description = "The assessment's id"), ("item" = String, Path, description = "The item's number in the catalog, e.g. 9-4")),
    responses((status = 200, description = "Every version", body = Vec<ItemView>),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such assessment", body = crate::error::ErrorEnvelope)))]
pub async fn history(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, item)): Path<(String, String)>,
) -> Result<Json<Vec<ItemView>>, ApiError> {
    auth.ready()?;
    let who = Manager::of(&auth);
    mamori_core::authz::authorize_admin(
        &who.principal,
        who.user.institution_id,
        mamori_core::authz::AdminPermission::ReadCompliance,
    )
    .map_err(ApiError::denied)?;
    let id = assessment_id(&id)?;
    let item = item_id(&state, &who, id, &item).await?;
    let all = state.store.item_history(who.user.institution_id, id, &item).await?;
    let catalog = catalog_items(&item);
    Ok(Json(all.iter().map(|i| item_view(i, &catalog)).collect()))
}
