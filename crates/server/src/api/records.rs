//! Clinical records over the API: the chart, drafts, 確定, corrections and cancellations,
//! proxy entry and approval, history and differences, the master, and device results. The
//! steps are [`crate::records`]'; here they get their JSON shape, and a refused request
//! (bad input included) is written to the log as a `denied` event before the answer leaves.
//!
//! Every write names its patient (`patient`) and the chart it was made from (`chart`); they
//! must be the same patient, and the record's.

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::records::{self, Caller, NewRecord, Target};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mamori_core::authz::{AdminPermission, Category, authorize_admin};
use mamori_core::master::{MasterEntry, MasterKind};
use mamori_core::record::{Agent, ContentInput, Device, RecordKind, RecordVersion, check_device_name, diff};
use mamori_core::{DeviceId, Message, PatientId, RecordId, UserId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use utoipa::{IntoParams, ToSchema};

/// A version as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    /// The record.
    pub record_id: String,
    /// The version (1, 2, …).
    pub version: u32,
    /// The patient.
    pub patient_id: String,
    /// progress_note, diagnosis, prescription, lab_result or document.
    pub kind: String,
    /// The information category.
    pub category: String,
    /// original, correction or cancellation.
    pub change: String,
    /// draft, pending_approval, final, discarded or rejected.
    pub state: String,
    /// The content, master entries with the version used (`code`, `version`, `name`, `unit`).
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
    /// One line for lists.
    pub summary: String,
    /// SHA-256 of the stored content (hex): what the log's leaf holds.
    pub content_sha256: String,
    /// Why (corrections, cancellations).
    pub reason: Option<String>,
    /// Who wrote it: `user:<id>` or `device:<id>`.
    pub author: String,
    /// A proxy entry's doctor.
    pub proxy_for: Option<String>,
    /// When it was first saved.
    pub entered_at: Option<String>,
    /// When it was last saved.
    pub updated_at: Option<String>,
    /// Who finalized (or approved) it: `user:<id>` or `device:<id>`.
    pub finalized_by: Option<String>,
    /// When.
    pub finalized_at: Option<String>,
    /// A rejection's doctor.
    pub rejected_by: Option<String>,
    /// A rejection's reason.
    pub reject_reason: Option<String>,
    /// The index of the version's leaf in the institution's log, once final.
    pub leaf_index: Option<u64>,
}

fn agent(a: Agent) -> String {
    match a {
        Agent::User(u) => format!("user:{u}"),
        Agent::Device(d) => format!("device:{d}"),
    }
}

pub(crate) fn view(v: &RecordVersion) -> VersionView {
    VersionView {
        record_id: v.record.id.to_string(),
        version: v.version,
        patient_id: v.record.patient.to_string(),
        kind: v.record.kind.as_str().to_owned(),
        category: v.record.category.as_str().to_owned(),
        change: v.change.as_str().to_owned(),
        state: v.state.as_str().to_owned(),
        content: serde_json::from_slice(&v.content.canonical()).unwrap_or_default(),
        summary: v.content.summary(),
        content_sha256: v.content.digest().iter().map(|b| format!("{b:02x}")).collect(),
        reason: v.reason.clone(),
        author: agent(v.author),
        proxy_for: v.proxy_for.map(|u| u.to_string()),
        entered_at: super::rfc3339(v.entered_at),
        updated_at: super::rfc3339(v.updated_at),
        finalized_by: v.finalized_by.map(agent),
        finalized_at: v.finalized_at.and_then(super::rfc3339),
        rejected_by: v.rejected.as_ref().map(|(u, _)| u.to_string()),
        reject_reason: v.rejected.as_ref().map(|(_, r)| r.clone()),
        leaf_index: v.leaf_index,
    }
}

/// One record in a chart.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChartEntryView {
    /// The version shown: the latest final one, else the draft or the waiting entry.
    pub shown: VersionView,
    /// Whether the shown version corrects an earlier one (訂正あり).
    pub corrected: bool,
    /// Whether the record is cancelled (取消).
    pub cancelled: bool,
    /// How many versions are final.
    pub final_versions: u32,
    /// A draft of the caller's or a waiting proxy entry after the shown version.
    pub open: Option<VersionView>,
}

/// `POST /api/v1/patients/{id}/records`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecordInput {
    /// The patient whose chart this was written from: must be the patient in the path.
    pub chart: String,
    /// progress_note, diagnosis, prescription, lab_result or document.
    pub kind: String,
    /// The category (default: the kind's).
    pub category: Option<String>,
    /// The content for the kind; master entries by code.
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
    /// For a proxy entry (代行入力): the doctor (user id) who must approve it.
    pub proxy_for: Option<String>,
}

/// The target of a write on an existing record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    /// The patient the write is for.
    pub patient: String,
    /// The patient whose chart it was made from.
    pub chart: String,
}

/// `PUT /api/v1/records/{id}/versions/{version}`: a draft's new content.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftInput {
    /// The patient.
    pub patient: String,
    /// The chart.
    pub chart: String,
    /// The new content.
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
}

/// `POST …/reject`: the target and the reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectInput {
    /// The patient.
    pub patient: String,
    /// The chart.
    pub chart: String,
    /// Why (1–500 characters).
    pub reason: String,
}

/// `POST /api/v1/records/{id}/corrections` and `/cancellations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmendInput {
    /// The patient.
    pub patient: String,
    /// The chart.
    pub chart: String,
    /// The latest final version, which this corrects or cancels.
    pub from: u32,
    /// Why (1–500 characters).
    pub reason: String,
    /// The corrected content (corrections only).
    #[schema(value_type = Option<Object>)]
    pub content: Option<serde_json::Value>,
}

/// `GET /api/v1/records/{id}/diff`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// The older version.
    pub from: u32,
    /// The newer version.
    pub to: u32,
}

/// One line of a difference.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiffLine {
    /// ` ` in both, `-` only in `from`, `+` only in `to`.
    pub op: String,
    /// The line (`label: text`).
    pub text: String,
}

pub(crate) fn bad(field: &str, ja: &str, en: &str) -> ApiError {
    ApiError::bad_request(Message::new(format!("{field}: {ja}"), format!("{field}: {en}")))
}

pub(crate) fn id<T: FromStr>(field: &str, raw: &str) -> Result<T, ApiError> {
    raw.trim().parse().map_err(|_| bad(field, "IDの形式が正しくありません。", "not a valid id"))
}

fn body<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        let why = mamori_core::record::json_shape_error(&e);
        ApiError::bad_request(Message::new(
            format!("リクエストの項目が正しくありません（{why}）。"),
            format!("the request's fields are not right: {why}"),
        ))
    })
}

fn target(patient: &str, chart: &str) -> Result<Target, ApiError> {
    Ok(Target { patient: id("patient", patient)?, chart: id("chart", chart)? })
}

fn record_id(raw: &str) -> Result<RecordId, ApiError> {
    raw.parse().map_err(|_| records::no_record())
}

fn content_input(kind: RecordKind, value: &serde_json::Value) -> Result<ContentInput, ApiError> {
    ContentInput::parse(kind, value).map_err(ApiError::bad_request)
}

/// Writes a new record in a patient's chart: a draft, or a proxy entry waiting for a doctor.
#[utoipa::path(post, path = "/api/v1/patients/{id}/records", tag = "records", request_body = NewRecordInput,
    params(("id" = String, Path, description = "The patient's id")),
    responses(
        (status = 201, description = "Created: a draft (state draft) or a proxy entry (pending_approval)", body = VersionView),
        (status = 400, description = "A field is invalid, or an unknown master code", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission, or a proxy entry without a doctor", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such patient in this institution", body = crate::error::ErrorEnvelope),
        (status = 409, description = "The chart is another patient's (patient_mismatch)", body = crate::error::ErrorEnvelope)
    ))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(patient): Path<String>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let patient_id = patient.parse::<PatientId>().ok();
    let step = async {
        let input: NewRecordInput = body(raw)?;
        let patient: PatientId = patient.parse().map_err(|_| ApiError::no_such("患者", "patient"))?;
        let kind = RecordKind::from_str(&input.kind).map_err(|m| bad("kind", &m.ja, &m.en))?;
        let category = input.category.as_deref().map(Category::parse).transpose().map_err(ApiError::bad_request)?;
        let proxy_for = input.proxy_for.as_deref().map(|p| id::<UserId>("proxy_for", p)).transpose()?;
        let new = NewRecord {
            target: Target { patient, chart: id("chart", &input.chart)? },
            content: content_input(kind, &input.content)?,
            category,
            proxy_for,
        };
        records::create(state.store.as_ref(), &Caller::of(&auth), state.clock.now(), new).await
    };
    let v = records::guarded(&state, &auth, "record.create", patient_id, None, step).await?;
    Ok((StatusCode::CREATED, Json(view(&v))).into_response())
}

/// A patient's chart: each record the caller may read, its latest version, newest first.
#[utoipa::path(get, path = "/api/v1/patients/{id}/records", tag = "records",
    params(("id" = String, Path, description = "The patient's id")),
    responses(
        (status = 200, description = "The chart (the read is audited)", body = Vec<ChartEntryView>),
        (status = 403, description = "No permission to read this patient's records", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such patient", body = crate::error::ErrorEnvelope)
    ))]
pub async fn chart(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(patient): Path<String>,
) -> Result<Json<Vec<ChartEntryView>>, ApiError> {
    let patient: PatientId = patient.parse().map_err(|_| ApiError::no_such("患者", "patient"))?;
    let who = Caller::of(&auth);
    let step = records::chart(state.store.as_ref(), &who, state.clock.now(), patient);
    let entries = records::guarded(&state, &auth, "record.read", Some(patient), None, step).await?;
    Ok(Json(
        entries
            .iter()
            .map(|e| ChartEntryView {
                shown: view(&e.shown),
                corrected: e.corrected(),
                cancelled: e.cancelled(),
                final_versions: e.final_versions,
                open: e.open.as_ref().map(view),
            })
            .collect(),
    ))
}

/// Exports a patient's records: every final version in the categories the caller may export
/// (the export permission, which no default role holds: the institution grants it), by record
/// then version. Recorded as `record.export` before the data leaves.
#[utoipa::path(get, path = "/api/v1/patients/{id}/records/export", tag = "records",
    params(("id" = String, Path, description = "The patient's id")),
    responses(
        (status = 200, description = "Every final version the caller may export", body = Vec<VersionView>),
        (status = 403, description = "No export permission", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such patient", body = crate::error::ErrorEnvelope)
    ))]
pub async fn export(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(patient): Path<String>,
) -> Result<Json<Vec<VersionView>>, ApiError> {
    let patient: PatientId = patient.parse().map_err(|_| ApiError::no_such("患者", "patient"))?;
    let who = Caller::of(&auth);
    let step = records::export(state.store.as_ref(), &who, state.clock.now(), patient);
    let versions = records::guarded(&state, &auth, "record.export", Some(patient), None, step).await?;
    Ok(Json(versions.iter().map(view).collect()))
}

/// Every version of a record, oldest first (others' drafts left out).
#[utoipa::path(get, path = "/api/v1/records/{id}", tag = "records",
    params(("id" = String, Path, description = "The record's id")),
    responses(
        (status = 200, description = "The history (the read is audited)", body = Vec<VersionView>),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such record", body = crate::error::ErrorEnvelope)
    ))]
pub async fn history(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(record): Path<String>,
) -> Result<Json<Vec<VersionView>>, ApiError> {
    let record = record_id(&record)?;
    let who = Caller::of(&auth);
    let step = records::history(state.store.as_ref(), &who, state.clock.now(), record);
    let versions = records::guarded(&state, &auth, "record.read", None, Some(record), step).await?;
    Ok(Json(versions.iter().map(view).collect()))
}

/// The difference between two versions of a record, line by line.
#[utoipa::path(get, path = "/api/v1/records/{id}/diff", tag = "records",
    params(("id" = String, Path, description = "The record's id"), DiffQuery),
    responses(
        (status = 200, description = "The lines", body = Vec<DiffLine>),
        (status = 404, description = "No such record or version", body = crate::error::ErrorEnvelope)
    ))]
pub async fn diff_versions(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(record): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<Vec<DiffLine>>, ApiError> {
    let record = record_id(&record)?;
    let who = Caller::of(&auth);
    let step = records::history(state.store.as_ref(), &who, state.clock.now(), record);
    let versions = records::guarded(&state, &auth, "record.read", None, Some(record), step).await?;
    let find = |n: u32| {
        versions.iter().find(|v| v.version == n).ok_or_else(|| ApiError::no_such("記録の版", "record version"))
    };
    let (from, to) = (find(q.from)?, find(q.to)?);
    Ok(Json(
        diff(&from.content.lines(), &to.content.lines())
            .into_iter()
            .map(|(op, text)| DiffLine { op: op.to_string(), text })
            .collect(),
    ))
}

/// Replaces a draft's content (its author only). A final version cannot be changed: 409
/// `record_final`.
#[utoipa::path(put, path = "/api/v1/records/{id}/versions/{version}", tag = "records", request_body = DraftInput,
    params(("id" = String, Path, description = "The record's id"), ("version" = u32, Path, description = "The draft's version")),
    responses(
        (status = 200, description = "The draft as saved", body = VersionView),
        (status = 400, description = "A field is invalid", body = crate::error::ErrorEnvelope),
        (status = 403, description = "Someone else's draft, or no permission", body = crate::error::ErrorEnvelope),
        (status = 409, description = "Final (record_final), not a draft, or a patient mismatch", body = crate::error::ErrorEnvelope)
    ))]
pub async fn edit_draft(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((record, version)): Path<(String, u32)>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Json<VersionView>, ApiError> {
    let record = record_id(&record)?;
    let step = async {
        let input: DraftInput = body(raw)?;
        let t = target(&input.patient, &input.chart)?;
        let current = state
            .store
            .record(auth.user.institution_id, record)
            .await?
            .ok_or_else(|| ApiError::no_such("記録", "record"))?;
        let content = content_input(current.kind, &input.content)?;
        records::edit_draft(state.store.as_ref(), &Caller::of(&auth), state.clock.now(), record, version, t, content)
            .await
    };
    let v = records::guarded(&state, &auth, "record.draft_update", None, Some(record), step).await?;
    Ok(Json(view(&v)))
}

/// The actions on one version that take only the target.
#[derive(Debug, Clone, Copy)]
enum Step {
    Finalize,
    Discard,
    Approve,
}

async fn version_step(
    state: &AppState,
    auth: &Authenticated,
    record: &str,
    version: u32,
    raw: serde_json::Value,
    which: Step,
) -> Result<Option<RecordVersion>, ApiError> {
    let record = record_id(record)?;
    let action = match which {
        Step::Finalize => "record.finalize",
        Step::Discard => "record.discard",
        Step::Approve => "record.approve",
    };
    let step = async {
        let input: TargetInput = body(raw)?;
        let t = target(&input.patient, &input.chart)?;
        let (store, c, now) = (state.store.as_ref(), Caller::of(auth), state.clock.now());
        match which {
            Step::Finalize => records::finalize(store, &c, now, record, version, t).await.map(Some),
            Step::Approve => records::approve(store, &c, now, record, version, t).await.map(Some),
            Step::Discard => records::discard(store, &c, now, record, version, t).await.map(|()| None),
        }
    };
    records::guarded(state, auth, action, None, Some(record), step).await
}

/// Finalizes (確定) the caller's draft: it becomes a leaf of the log and never changes.
#[utoipa::path(post, path = "/api/v1/records/{id}/versions/{version}/finalize", tag = "records", request_body = TargetInput,
    params(("id" = String, Path, description = "The record's id"), ("version" = u32, Path, description = "The draft's version")),
    responses(
        (status = 200, description = "Final", body = VersionView),
        (status = 403, description = "No finalize permission, or someone else's draft", body = crate::error::ErrorEnvelope),
        (status = 409, description = "Already final, changed meanwhile, or a patient mismatch", body = crate::error::ErrorEnvelope)
    ))]
pub async fn finalize(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((record, version)): Path<(String, u32)>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Json<Option<VersionView>>, ApiError> {
    let v = version_step(&state, &auth, &record, version, raw, Step::Finalize).await?;
    Ok(Json(v.as_ref().map(view)))
}

/// Discards the caller's draft (kept, marked discarded).
#[utoipa::path(post, path = "/api/v1/records/{id}/versions/{version}/discard", tag = "records", request_body = TargetInput,
    params(("id" = String, Path, description = "The record's id"), ("version" = u32, Path, description = "The draft's version")),
    responses(
        (status = 200, description = "Discarded"),
        (status = 403, description = "Someone else's draft", body = crate::error::ErrorEnvelope),
        (status = 409, description = "Not a draft, or a patient mismatch", body = crate::error::ErrorEnvelope)
    ))]
pub async fn discard(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((record, version)): Path<(String, u32)>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Json<Option<VersionView>>, ApiError> {
    let v = version_step(&state, &auth, &record, version, raw, Step::Discard).await?;
    Ok(Json(v.as_ref().map(view)))
}

/// Approves a proxy entry: only the doctor it names.
#[utoipa::path(post, path = "/api/v1/records/{id}/versions/{version}/approve", tag = "records", request_body = TargetInput,
    params(("id" = String, Path, description = "The record's id"), ("version" = u32, Path, description = "The waiting version")),
    responses(
        (status = 200, description = "Final, finalized by the approving doctor", body = VersionView),
        (status = 403, description = "Another doctor's entry (not_your_proxy_entry), or no permission", body = crate::error::ErrorEnvelope),
        (status = 409, description = "Not waiting, or a patient mismatch", body = crate::error::ErrorEnvelope)
    ))]
pub async fn approve(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((record, version)): Path<(String, u32)>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Json<Option<VersionView>>, ApiError> {
    let v = version_step(&state, &auth, &record, version, raw, Step::Approve).await?;
    Ok(Json(v.as_ref().map(view)))
}

/// Rejects (差戻し) a proxy entry with a reason: only the doctor it names.
#[utoipa::path(post, path = "/api/v1/records/{id}/versions/{version}/reject", tag = "records", request_body = RejectInput,
    params(("id" = String, Path, description = "The record's id"), ("version" = u32, Path, description = "The waiting version")),
    responses(
        (status = 204, description = "Rejected"),
        (status = 400, description = "No reason", body = crate::error::ErrorEnvelope),
        (status = 403, description = "Another doctor's entry", body = crate::error::ErrorEnvelope),
        (status = 409, description = "Not waiting, or a patient mismatch", body = crate::error::ErrorEnvelope)
    ))]
pub async fn reject(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((record, version)): Path<(String, u32)>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<StatusCode, ApiError> {
    let record = record_id(&record)?;
    let step = async {
        let input: RejectInput = body(raw)?;
        let t = target(&input.patient, &input.chart)?;
        records::reject(state.store.as_ref(), &Caller::of(&auth), state.clock.now(), record, version, t, &input.reason)
            .await
    };
    records::guarded(&state, &auth, "record.reject", None, Some(record), step).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn amend(
    state: &AppState,
    auth: &Authenticated,
    record: &str,
    raw: serde_json::Value,
    correction: bool,
) -> Result<RecordVersion, ApiError> {
    let record = record_id(record)?;
    let action = if correction { "record.correct" } else { "record.cancel" };
    let step = async {
        let input: AmendInput = body(raw)?;
        let t = target(&input.patient, &input.chart)?;
        let content = match (correction, &input.content) {
            (true, Some(value)) => {
                let current = state
                    .store
                    .record(auth.user.institution_id, record)
                    .await?
                    .ok_or_else(|| ApiError::no_such("記録", "record"))?;
                Some(content_input(current.kind, value)?)
            }
            (true, None) => return Err(bad("content", "訂正後の内容がありません。", "a correction needs the content")),
            (false, Some(_)) => {
                return Err(bad("content", "取消に内容は指定できません。", "a cancellation takes no content"));
            }
            (false, None) => None,
        };
        records::amend(
            state.store.as_ref(),
            &Caller::of(auth),
            state.clock.now(),
            record,
            input.from,
            t,
            &input.reason,
            content,
        )
        .await
    };
    records::guarded(state, auth, action, None, Some(record), step).await
}

/// Corrects (訂正) a final record: a new final version with the reason; the old one stays.
#[utoipa::path(post, path = "/api/v1/records/{id}/corrections", tag = "records", request_body = AmendInput,
    params(("id" = String, Path, description = "The record's id")),
    responses(
        (status = 201, description = "The correcting version (final)", body = VersionView),
        (status = 400, description = "No reason, invalid content, unknown master code", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No finalize permission", body = crate::error::ErrorEnvelope),
        (status = 409, description = "Not the latest final version, cancelled, or a patient mismatch", body = crate::error::ErrorEnvelope)
    ))]
pub async fn correct(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(record): Path<String>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let v = amend(&state, &auth, &record, raw, true).await?;
    Ok((StatusCode::CREATED, Json(view(&v))).into_response())
}

/// Cancels (取消) a final record: a new final version with the reason.
#[utoipa::path(post, path = "/api/v1/records/{id}/cancellations", tag = "records", request_body = AmendInput,
    params(("id" = String, Path, description = "The record's id")),
    responses(
        (status = 201, description = "The cancelling version (final)", body = VersionView),
        (status = 400, description = "No reason", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No finalize permission", body = crate::error::ErrorEnvelope),
        (status = 409, description = "Not the latest final version, or a patient mismatch", body = crate::error::ErrorEnvelope)
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(record): Path<String>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let v = amend(&state, &auth, &record, raw, false).await?;
    Ok((StatusCode::CREATED, Json(view(&v))).into_response())
}

/// The caller's approval queue: proxy entries waiting for them, oldest first.
#[utoipa::path(get, path = "/api/v1/approvals", tag = "records",
    responses((status = 200, description = "Waiting entries", body = Vec<VersionView>)))]
pub async fn approvals(State(state): State<AppState>, auth: Authenticated) -> Result<Json<Vec<VersionView>>, ApiError> {
    auth.ready()?;
    let queue = records::queue(state.store.as_ref(), &Caller::of(&auth)).await?;
    Ok(Json(queue.iter().map(view).collect()))
}

/// `GET /api/v1/masters/{master}`
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
pub struct MasterQuery {
    /// A code prefix or part of the name (empty: the first entries).
    pub q: String,
    /// The day (`YYYY-MM-DD`, default today in JST).
    pub on: Option<String>,
}

/// A master entry version.
#[derive(Debug, Serialize, ToSchema)]
pub struct MasterView {
    /// drug, disease or lab_item.
    pub master: String,
    /// The code.
    pub code: String,
    /// The version.
    pub version: u32,
    /// The name.
    pub name: String,
    /// The unit.
    pub unit: Option<String>,
    /// A lab item's reference range.
    pub reference_range: Option<String>,
    /// First valid day.
    pub valid_from: String,
    /// First day no longer valid.
    pub valid_to: Option<String>,
}

pub(crate) fn master_view(e: &MasterEntry) -> MasterView {
    MasterView {
        master: e.master.as_str().to_owned(),
        code: e.code.as_str().to_owned(),
        version: e.version,
        name: e.fields.name.clone(),
        unit: e.fields.unit.clone(),
        reference_range: e.fields.reference_range.clone(),
        valid_from: e.fields.valid_from.to_string(),
        valid_to: e.fields.valid_to.map(|d| d.to_string()),
    }
}

/// Searches a master (entries valid on the day): for pickers and checks.
#[utoipa::path(get, path = "/api/v1/masters/{master}", tag = "records",
    params(("master" = String, Path, description = "drug, disease or lab_item"), MasterQuery),
    responses(
        (status = 200, description = "Entries valid on the day, by code (at most 50)", body = Vec<MasterView>),
        (status = 400, description = "Unknown master or bad date", body = crate::error::ErrorEnvelope)
    ))]
pub async fn master(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(master): Path<String>,
    Query(q): Query<MasterQuery>,
) -> Result<Json<Vec<MasterView>>, ApiError> {
    auth.ready()?;
    let kind = MasterKind::from_str(&master).map_err(|m| bad("master", &m.ja, &m.en))?;
    let day = match q.on.as_deref() {
        Some(d) => mamori_core::master::parse_date(d).map_err(ApiError::bad_request)?,
        None => state.clock.now().to_offset(time::macros::offset!(+9)).date(),
    };
    if q.q.chars().count() > 50 {
        return Err(bad("q", "50文字以内にしてください。", "at most 50 characters"));
    }
    let found = state.store.search_master(auth.user.institution_id, kind, q.q.trim(), day, 50).await?;
    Ok(Json(found.iter().map(master_view).collect()))
}

// --- Devices (MDS 17) ---

/// `POST /api/v1/devices`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    /// The device's name (1–100 characters, unique in the institution).
    pub name: String,
}

/// A registered device.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was registered.
    pub registered_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
    /// The bearer token, shown only once, when registered.
    pub token: Option<String>,
}

fn device_view(d: &Device, token: Option<String>) -> DeviceView {
    DeviceView {
        id: d.id.to_string(),
        name: d.name.clone(),
        registered_at: super::rfc3339(d.registered_at),
        revoked_at: d.revoked_at.and_then(super::rfc3339),
        token,
    }
}

fn manage_devices(auth: &Authenticated) -> Result<(), ApiError> {
    auth.ready()?;
    authorize_admin(&auth.principal(), auth.user.institution_id, AdminPermission::ManageTerminals)
        .map(|_| ())
        .map_err(ApiError::denied)
}

/// Registers a device that sends results; its bearer token is shown once.
#[utoipa::path(post, path = "/api/v1/devices", tag = "records", request_body = DeviceInput,
    responses(
        (status = 201, description = "Registered; `token` is shown only now", body = DeviceView),
        (status = 403, description = "Not a system administrator", body = crate::error::ErrorEnvelope),
        (status = 409, description = "The name is in use", body = crate::error::ErrorEnvelope)
    ))]
pub async fn add_device(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(input): ApiJson<DeviceInput>,
) -> Result<Response, ApiError> {
    manage_devices(&auth)?;
    let name = check_device_name(&input.name).map_err(ApiError::bad_request)?;
    let token = mamori_crypto::token::random_token(&mut rand_core::OsRng);
    let now = mamori_core::clock::to_micros(state.clock.now());
    let device = Device {
        institution: auth.user.institution_id,
        id: DeviceId::generate(&mut rand_core::OsRng),
        name,
        token_hash: mamori_crypto::token::token_hash(&token),
        registered_by: auth.user.id,
        registered_at: now,
        revoked_at: None,
    };
    let mut tx = state.store.begin().await?;
    tx.add_device(&device).await.map_err(|e| match e {
        mamori_store::StoreError::Conflict { .. } => ApiError::conflict(
            "device_name_taken",
            Message::new("この名前の機器は登録済みです。", "a device with this name is registered"),
        ),
        other => other.into(),
    })?;
    let event = crate::audit::by(&state, &auth.user, "device.register", mamori_core::audit::Outcome::Allowed)
        .resource(format!("device:{}", device.id));
    crate::audit::commit_with(tx, event).await?;
    Ok((StatusCode::CREATED, Json(device_view(&device, Some(token)))).into_response())
}

/// The institution's devices.
#[utoipa::path(get, path = "/api/v1/devices", tag = "records",
    responses((status = 200, description = "Devices by name", body = Vec<DeviceView>),
        (status = 403, description = "Not a system administrator", body = crate::error::ErrorEnvelope)))]
pub async fn devices(State(state): State<AppState>, auth: Authenticated) -> Result<Json<Vec<DeviceView>>, ApiError> {
    manage_devices(&auth)?;
    let all = state.store.devices(auth.user.institution_id).await?;
    Ok(Json(all.iter().map(|d| device_view(d, None)).collect()))
}

/// Revokes a device: its token stops working; the device and its results are kept.
#[utoipa::path(post, path = "/api/v1/devices/{id}/revoke", tag = "records",
    params(("id" = String, Path, description = "The device's id")),
    responses((status = 204, description = "Revoked"),
        (status = 403, description = "Not a system administrator", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such device, or revoked already", body = crate::error::ErrorEnvelope)))]
pub async fn revoke_device(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(device): Path<String>,
) -> Result<StatusCode, ApiError> {
    manage_devices(&auth)?;
    let device: DeviceId = device.parse().map_err(|_| ApiError::no_such("機器", "device"))?;
    let now = mamori_core::clock::to_micros(state.clock.now());
    let mut tx = state.store.begin().await?;
    if !tx.revoke_device(auth.user.institution_id, device, now).await? {
        return Err(ApiError::no_such("有効な機器", "active device"));
    }
    let event = crate::audit::by(&state, &auth.user, "device.revoke", mamori_core::audit::Outcome::Allowed)
        .resource(format!("device:{device}"));
    crate::audit::commit_with(tx, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/device/results`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceResultInput {
    /// The patient's number (患者番号) as the device knows it.
    pub patient_number: String,
    /// A lab result: `collected_on` and `items` (master lab item codes).
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
}

fn device_unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "device_unauthenticated",
        Message::new("機器の認証に失敗しました。", "the device's token is not valid"),
    )
}

/// A result from a registered device (`Authorization: Bearer <token>`): stored final at once,
/// finalized as the device (MDS 17).
#[utoipa::path(post, path = "/api/v1/device/results", tag = "records", request_body = DeviceResultInput,
    responses(
        (status = 201, description = "Stored, final, finalized by the device", body = VersionView),
        (status = 400, description = "Invalid content or unknown master code", body = crate::error::ErrorEnvelope),
        (status = 401, description = "No valid device token", body = crate::error::ErrorEnvelope),
        (status = 403, description = "The device is revoked", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such patient", body = crate::error::ErrorEnvelope)
    ))]
pub async fn device_result(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(device_unauthorized)?;
    let device = state
        .store
        .device_by_token(&mamori_crypto::token::token_hash(token.trim()))
        .await?
        .ok_or_else(device_unauthorized)?;
    let now = state.clock.now();
    let step = async {
        let input: DeviceResultInput = body(raw)?;
        let number =
            mamori_core::patient::PatientNumber::parse(&input.patient_number).map_err(ApiError::bad_request)?;
        let patient = state
            .store
            .patient_by_number(device.institution, &number)
            .await?
            .ok_or_else(|| ApiError::no_such("患者", "patient"))?;
        let content = content_input(RecordKind::LabResult, &input.content)?;
        records::device_result(state.store.as_ref(), &device, now, patient.id, content).await
    };
    match step.await {
        Ok(v) => Ok((StatusCode::CREATED, Json(view(&v))).into_response()),
        Err(e) => {
            if e.status().is_client_error() {
                let event = mamori_core::audit::AuditEvent::new(
                    device.institution,
                    now,
                    mamori_core::audit::Actor::Device { device: device.id },
                    "record.device",
                    mamori_core::audit::Outcome::Denied,
                )
                .detail("code", e.code());
                crate::audit::record_in(state.store.as_ref(), vec![event]).await?;
            }
            Err(e)
        }
    }
}
