//! Patients over the API (the records issue's first piece): register, search (by number,
//! kanji or kana — two-character names included), read, change the identity as a new version
//! with a reason, and read every version. Every read of a patient's data is an audit event
//! written before the data leaves the server; every change is committed with its event.
//!
//! Who may: reading a patient's identity needs read access to any information category (every
//! clinical role, and clerks through documents); registering and changing it needs write access
//! to documents or clinical records (clerks at reception, doctors, nurses). The decision is
//! [`mamori_core::authz::authorize`]'s, with the institution's policy.

use crate::audit;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mamori_core::audit::{AuditEvent, Outcome};
use mamori_core::authz::{Action, Authorized, Category, authorize};
use mamori_core::patient::{Contact, Patient, PatientName, PatientNumber, Sex, check_birth_date, search_key};
use mamori_core::{Message, PatientId};
use serde::{Deserialize, Serialize};
use time::Date;
use utoipa::{IntoParams, ToSchema};

/// Most patients one search returns.
const SEARCH_LIMIT: u32 = 50;

/// A patient's identity as sent and shown.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientInput {
    /// 患者番号 (1–20 letters, digits, '-').
    pub number: String,
    /// 姓 as written.
    pub family: String,
    /// 名 as written.
    pub given: String,
    /// セイ (katakana or hiragana).
    pub family_kana: String,
    /// メイ (katakana or hiragana).
    pub given_kana: String,
    /// 生年月日, `YYYY-MM-DD`.
    pub birth_date: String,
    /// male, female, other or unknown.
    pub sex: String,
    /// Telephone (optional).
    pub phone: Option<String>,
    /// Address (optional).
    pub address: Option<String>,
}

/// `PUT /api/v1/patients/{id}`: the new identity, the version it changes, and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientChange {
    /// The new identity (every field).
    #[serde(flatten)]
    pub patient: PatientInput,
    /// The version being changed (the current one); a stale version is refused with 409.
    pub version: u32,
    /// Why (1–500 characters), kept with the version.
    pub reason: String,
}

/// A patient as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientView {
    /// Its id.
    pub id: String,
    /// 患者番号.
    pub number: String,
    /// 姓.
    pub family: String,
    /// 名.
    pub given: String,
    /// セイ.
    pub family_kana: String,
    /// メイ.
    pub given_kana: String,
    /// 生年月日.
    pub birth_date: String,
    /// Sex (code).
    pub sex: String,
    /// Telephone.
    pub phone: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// The identity's version.
    pub version: u32,
    /// When this version was written (RFC 3339).
    pub changed_at: Option<String>,
}

/// One version of a patient's identity.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientVersionView {
    /// The identity at that version.
    pub patient: PatientView,
    /// Why it changed (none for the registration).
    pub reason: Option<String>,
}

/// `GET /api/v1/patients?q=`
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
pub struct PatientQuery {
    /// A number (prefix), or a name in kanji or kana (any part, one character is enough).
    pub q: String,
}

pub(crate) fn view(p: &Patient) -> PatientView {
    PatientView {
        id: p.id.to_string(),
        number: p.number.as_str().to_owned(),
        family: p.name.family.clone(),
        given: p.name.given.clone(),
        family_kana: p.name.family_kana.clone(),
        given_kana: p.name.given_kana.clone(),
        birth_date: format!(
            "{:04}-{:02}-{:02}",
            p.birth_date.year(),
            u8::from(p.birth_date.month()),
            p.birth_date.day()
        ),
        sex: p.sex.as_str().to_owned(),
        phone: p.contact.phone.clone(),
        address: p.contact.address.clone(),
        version: p.version,
        changed_at: super::rfc3339(p.changed_at),
    }
}

/// Read access to a patient's identity: any category the user may read.
pub(crate) async fn may_read(
    state: &AppState,
    auth: &Authenticated,
    patient: Option<PatientId>,
) -> Result<Authorized, ApiError> {
    access(state, auth, Action::Read, &Category::BUILT_IN, patient, "patient.read").await
}

/// Write access to a patient's identity: documents or clinical records.
async fn may_write(state: &AppState, auth: &Authenticated, patient: Option<PatientId>) -> Result<Authorized, ApiError> {
    access(state, auth, Action::Write, &[Category::DOCUMENT, Category::CLINICAL_RECORD], patient, "patient.write").await
}

/// The first category that allows `action`; a refusal is recorded as a denied event.
async fn access(
    state: &AppState,
    auth: &Authenticated,
    action: Action,
    categories: &[Category],
    patient: Option<PatientId>,
    audit_action: &str,
) -> Result<Authorized, ApiError> {
    auth.ready()?;
    let principal = auth.principal();
    let now = state.clock.now();
    let mut denied = None;
    for category in categories {
        match authorize(&principal, auth.user.institution_id, action, category, patient, now) {
            Ok(proof) => return Ok(proof),
            Err(d) => denied = Some(d),
        }
    }
    let mut event = audit::by(state, &auth.user, audit_action, Outcome::Denied);
    if let Some(p) = patient {
        event = event.patient(p);
    }
    audit::record_one(state, event).await?;
    Err(denied.map_or_else(ApiError::internal, ApiError::denied))
}

fn field(name: &str, m: Message) -> ApiError {
    ApiError::bad_request(Message::new(format!("{name}: {}", m.ja), format!("{name}: {}", m.en)))
}

/// Checks an identity at the boundary.
fn parse_input(
    input: &PatientInput,
    today: Date,
) -> Result<(PatientNumber, PatientName, Date, Sex, Contact), ApiError> {
    let number = PatientNumber::parse(&input.number).map_err(|m| field("number", m))?;
    let name = PatientName::parse(&input.family, &input.given, &input.family_kana, &input.given_kana)
        .map_err(|m| field("name", m))?;
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = Date::parse(input.birth_date.trim(), &format).map_err(|_| {
        field("birth_date", Message::new("YYYY-MM-DD の形式で入力してください。", "use the form YYYY-MM-DD"))
    })?;
    let birth_date = check_birth_date(date, today).map_err(|m| field("birth_date", m))?;
    let sex = Sex::parse(&input.sex).map_err(|m| field("sex", m))?;
    let contact = Contact::parse(input.phone.as_deref(), input.address.as_deref()).map_err(|m| field("contact", m))?;
    Ok((number, name, birth_date, sex, contact))
}

fn number_taken() -> ApiError {
    ApiError::conflict(
        "patient_number_taken",
        Message::new("この患者番号は使われています。", "this patient number is in use"),
    )
}

fn event(state: &AppState, auth: &Authenticated, action: &str, patient: PatientId) -> AuditEvent {
    audit::by(state, &auth.user, action, Outcome::Allowed).patient(patient).resource(format!("patient:{patient}"))
}

/// Registers a patient.
#[utoipa::path(post, path = "/api/v1/patients", tag = "patients", request_body = PatientInput,
    responses(
        (status = 201, description = "Registered (version 1)", body = PatientView),
        (status = 400, description = "A field is invalid", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission to register patients", body = crate::error::ErrorEnvelope),
        (status = 409, description = "The patient number is in use", body = crate::error::ErrorEnvelope)
    ))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(input): ApiJson<PatientInput>,
) -> Result<Response, ApiError> {
    let patient = create_step(&state, &auth, &input).await?;
    Ok((StatusCode::CREATED, Json(view(&patient))).into_response())
}

/// Registration, shared by the API and the page.
pub(crate) async fn create_step(
    state: &AppState,
    auth: &Authenticated,
    input: &PatientInput,
) -> Result<Patient, ApiError> {
    let allowed = may_write(state, auth, None).await?;
    let now = mamori_core::clock::to_micros(state.clock.now());
    let (number, name, birth_date, sex, contact) = parse_input(input, now.date())?;
    let patient = Patient {
        institution: allowed.institution(),
        id: PatientId::generate(&mut rand_core::OsRng),
        number,
        name,
        birth_date,
        sex,
        contact,
        version: 1,
        changed_by: allowed.user(),
        changed_at: now,
    };
    let mut tx = state.store.begin().await?;
    tx.create_patient(&patient).await.map_err(|e| match e {
        mamori_store::StoreError::Conflict { .. } => number_taken(),
        other => other.into(),
    })?;
    audit::commit_with(tx, event(state, auth, "patient.create", patient.id)).await?;
    Ok(patient)
}

/// Searches patients by number, kanji or kana; each patient listed is recorded as read.
#[utoipa::path(get, path = "/api/v1/patients", tag = "patients", params(PatientQuery),
    responses(
        (status = 200, description = "Matching patients, by number (at most 50)", body = Vec<PatientView>),
        (status = 400, description = "An empty or over-long query", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission to read patients", body = crate::error::ErrorEnvelope)
    ))]
pub async fn search(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(q): Query<PatientQuery>,
) -> Result<Json<Vec<PatientView>>, ApiError> {
    search_step(&state, &auth, &q.q).await.map(|found| Json(found.iter().map(view).collect()))
}

/// The search, shared by the API and the pages.
pub(crate) async fn search_step(state: &AppState, auth: &Authenticated, q: &str) -> Result<Vec<Patient>, ApiError> {
    let allowed = may_read(state, auth, None).await?;
    let key = search_key(q);
    if key.is_empty() || key.chars().count() > 50 {
        return Err(ApiError::bad_request(Message::new(
            "検索語を1〜50文字で入力してください。",
            "give a search of 1 to 50 characters",
        )));
    }
    let found = state.store.search_patients(allowed.institution(), &key, SEARCH_LIMIT).await?;
    // The search and every patient it shows are recorded before the list leaves the server;
    // the query itself only as a digest (it may be a name).
    let digest: String = mamori_crypto::token::token_hash(&key).iter().take(8).map(|b| format!("{b:02x}")).collect();
    let mut events = vec![
        audit::by(state, &auth.user, "patient.search", Outcome::Allowed)
            .detail("query_sha256_16", digest)
            .detail("results", found.len().to_string()),
    ];
    events.extend(found.iter().map(|p| event(state, auth, "patient.list", p.id)));
    audit::record(state, events).await?;
    Ok(found)
}

/// Loads a patient for reading, recording the read.
pub(crate) async fn read_step(state: &AppState, auth: &Authenticated, id: &str) -> Result<Patient, ApiError> {
    let no_such = || ApiError::no_such("患者", "patient");
    let id: PatientId = id.parse().map_err(|_| no_such())?;
    let allowed = may_read(state, auth, Some(id)).await?;
    let patient = state.store.patient(allowed.institution(), id).await?.ok_or_else(no_such)?;
    audit::record_one(state, event(state, auth, "patient.read", id)).await?;
    Ok(patient)
}

/// One patient's current identity.
#[utoipa::path(get, path = "/api/v1/patients/{id}", tag = "patients",
    params(("id" = String, Path, description = "The patient's id")),
    responses(
        (status = 200, description = "The patient", body = PatientView),
        (status = 403, description = "No permission to read patients", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such patient in this institution", body = crate::error::ErrorEnvelope)
    ))]
pub async fn read(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<PatientView>, ApiError> {
    read_step(&state, &auth, &id).await.map(|p| Json(view(&p)))
}

/// Changes a patient's identity: a new version, with a reason; the old one is kept.
#[utoipa::path(put, path = "/api/v1/patients/{id}", tag = "patients", request_body = PatientChange,
    params(("id" = String, Path, description = "The patient's id")),
    responses(
        (status = 200, description = "The new version", body = PatientView),
        (status = 400, description = "A field is invalid, or no reason", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission to change patients", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such patient in this institution", body = crate::error::ErrorEnvelope),
        (status = 409, description = "The version moved on, or the number is in use", body = crate::error::ErrorEnvelope)
    ))]
pub async fn update(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<PatientChange>,
) -> Result<Json<PatientView>, ApiError> {
    update_step(&state, &auth, &id, change).await.map(|p| Json(view(&p)))
}

/// An identity change, shared by the API and the page: a new version with the reason, refused
/// when `change.version` is not the current one.
pub(crate) async fn update_step(
    state: &AppState,
    auth: &Authenticated,
    id: &str,
    change: PatientChange,
) -> Result<Patient, ApiError> {
    let no_such = || ApiError::no_such("患者", "patient");
    let id: PatientId = id.parse().map_err(|_| no_such())?;
    let allowed = may_write(state, auth, Some(id)).await?;
    let reason = change.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::bad_request(Message::new(
            "変更の理由を1〜500文字で入力してください。",
            "give the reason for the change in 1 to 500 characters",
        )));
    }
    let now = mamori_core::clock::to_micros(state.clock.now());
    let (number, name, birth_date, sex, contact) = parse_input(&change.patient, now.date())?;
    let current = state.store.patient(allowed.institution(), id).await?.ok_or_else(no_such)?;
    let stale = || {
        ApiError::conflict(
            "stale_version",
            Message::new(
                "他の人が先に変更しました。開き直してから変更してください。",
                "someone changed this patient first; reload and try again",
            ),
        )
    };
    if change.version != current.version {
        return Err(stale());
    }
    let next = Patient {
        number,
        name,
        birth_date,
        sex,
        contact,
        version: current.version + 1,
        changed_by: allowed.user(),
        changed_at: now,
        ..current
    };
    let mut tx = state.store.begin().await?;
    let changed = tx.update_patient(&next, reason).await.map_err(|e| match e {
        mamori_store::StoreError::Conflict { .. } => number_taken(),
        other => other.into(),
    })?;
    if !changed {
        return Err(stale());
    }
    let event = event(state, auth, "patient.update", id).detail("version", next.version.to_string());
    audit::commit_with(tx, event).await?;
    Ok(next)
}

/// Every version of a patient's identity, oldest first.
#[utoipa::path(get, path = "/api/v1/patients/{id}/versions", tag = "patients",
    params(("id" = String, Path, description = "The patient's id")),
    responses(
        (status = 200, description = "Every version, oldest first", body = Vec<PatientVersionView>),
        (status = 403, description = "No permission to read patients", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such patient in this institution", body = crate::error::ErrorEnvelope)
    ))]
pub async fn versions(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Vec<PatientVersionView>>, ApiError> {
    let id: PatientId = id.parse().map_err(|_| ApiError::no_such("患者", "patient"))?;
    let all = versions_step(&state, &auth, id).await?;
    Ok(Json(all.iter().map(|(p, reason)| PatientVersionView { patient: view(p), reason: reason.clone() }).collect()))
}

/// Every version, shared by the API and the page; the read is recorded.
pub(crate) async fn versions_step(
    state: &AppState,
    auth: &Authenticated,
    id: PatientId,
) -> Result<Vec<(Patient, Option<String>)>, ApiError> {
    let allowed = may_read(state, auth, Some(id)).await?;
    let all = state.store.patient_versions(allowed.institution(), id).await?;
    if all.is_empty() {
        return Err(ApiError::no_such("患者", "patient"));
    }
    audit::record_one(state, event(state, auth, "patient.read", id).detail("view", "versions")).await?;
    Ok(all)
}
