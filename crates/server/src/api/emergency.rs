//! Emergency (break-glass) access over the API: ask for a time-limited grant on one patient
//! with a reason; list one's active grants; the safety manager's review queue.

use super::rfc3339;
use crate::audit;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mamori_core::audit::Outcome;
use mamori_core::authz::{AdminPermission, authorize_admin};
use mamori_core::emergency::{EmergencyGrantRecord, EmergencyReview, check_reason, may_review};
use mamori_core::{EmergencyGrantId, Message, PatientId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `POST /api/v1/emergency-access`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// The patient whose chart must be opened.
    pub patient_id: String,
    /// Why (1–500 characters): kept with the grant and shown to the reviewer.
    pub reason: String,
}

/// `POST /api/v1/emergency-access/{id}/review`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// The reviewer's note (0–1000 characters).
    pub note: String,
}

/// A grant as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    /// The grant's id.
    pub id: String,
    /// Who used it (login ID).
    pub login_id: String,
    /// The patient.
    pub patient_id: String,
    /// The stated reason.
    pub reason: String,
    /// When it was granted (RFC 3339).
    pub granted_at: Option<String>,
    /// When it ends (RFC 3339).
    pub expires_at: Option<String>,
    /// Who reviewed it (login ID), if anyone has.
    pub reviewed_by: Option<String>,
    /// When (RFC 3339).
    pub reviewed_at: Option<String>,
    /// The reviewer's note.
    pub review_note: Option<String>,
}

fn view(g: &EmergencyGrantRecord, logins: &BTreeMap<mamori_core::UserId, String>) -> GrantView {
    let login = |id| logins.get(&id).cloned().unwrap_or_default();
    GrantView {
        id: g.id.to_string(),
        login_id: login(g.user),
        patient_id: g.patient.to_string(),
        reason: g.reason.clone(),
        granted_at: rfc3339(g.granted_at),
        expires_at: rfc3339(g.expires_at),
        reviewed_by: g.review.as_ref().map(|r| login(r.reviewed_by)),
        reviewed_at: g.review.as_ref().and_then(|r| rfc3339(r.reviewed_at)),
        review_note: g.review.as_ref().map(|r| r.note.clone()),
    }
}

/// The institution's login IDs by user, to show who did what.
pub(crate) async fn logins(
    state: &AppState,
    auth: &Authenticated,
) -> Result<BTreeMap<mamori_core::UserId, String>, ApiError> {
    let users = state.store.users(auth.user.institution_id).await?;
    Ok(users.into_iter().map(|u| (u.id, u.login_id.to_string())).collect())
}

/// Opens one patient's chart outside the user's normal grants, for `emergency.grant_ttl`.
#[utoipa::path(post, path = "/api/v1/emergency-access", tag = "emergency", request_body = GrantRequest,
    responses(
        (status = 201, description = "Granted: recorded, flagged on every page, queued for review", body = GrantView),
        (status = 400, description = "No reason, or not a patient ID", body = crate::error::ErrorEnvelope),
        (status = 403, description = "The user's roles do not allow emergency access", body = crate::error::ErrorEnvelope)
    ))]
pub async fn request(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(req): ApiJson<GrantRequest>,
) -> Result<Response, ApiError> {
    auth.ready()?;
    let allowed = authorize_admin(&auth.principal(), auth.user.institution_id, AdminPermission::EmergencyAccess)
        .map_err(ApiError::denied)?;
    let patient: PatientId = req.patient_id.trim().parse().map_err(|_| {
        ApiError::bad_request(Message::new(
            "patient_id が患者IDの形式ではありません。",
            "patient_id is not a patient ID",
        ))
    })?;
    let reason = check_reason(&req.reason).map_err(ApiError::bad_request)?;
    let now = mamori_core::clock::to_micros(state.clock.now());
    let record = EmergencyGrantRecord {
        institution: allowed.institution(),
        id: EmergencyGrantId::generate(&mut rand_core::OsRng),
        user: allowed.user(),
        patient,
        reason,
        granted_at: now,
        expires_at: now + state.config.get().emergency.grant_ttl.0,
        review: None,
    };
    let mut tx = state.store.begin().await?;
    tx.create_emergency_grant(&record).await?;
    tracing::warn!(institution = %record.institution, user = %record.user, grant = %record.id, "EMERGENCY ACCESS granted");
    let event = audit::by(&state, &auth.user, "emergency.grant", Outcome::Allowed)
        .patient(record.patient)
        .resource(format!("emergency_grant:{}", record.id));
    audit::commit_with(tx, event).await?;
    let logins = logins(&state, &auth).await?;
    Ok((StatusCode::CREATED, Json(view(&record, &logins))).into_response())
}

/// The user's active emergency grants.
#[utoipa::path(get, path = "/api/v1/emergency-access", tag = "emergency",
    responses((status = 200, description = "Active grants", body = Vec<GrantView>)))]
pub async fn mine(State(state): State<AppState>, auth: Authenticated) -> Result<Json<Vec<GrantView>>, ApiError> {
    let logins = logins(&state, &auth).await?;
    Ok(Json(auth.emergency.iter().map(|g| view(g, &logins)).collect()))
}

/// The review queue: every grant, newest first (安全管理責任者).
#[utoipa::path(get, path = "/api/v1/emergency-access/review", tag = "emergency",
    responses(
        (status = 200, description = "Every grant of the institution", body = Vec<GrantView>),
        (status = 403, description = "No permission to review emergency access", body = crate::error::ErrorEnvelope)
    ))]
pub async fn queue(State(state): State<AppState>, auth: Authenticated) -> Result<Json<Vec<GrantView>>, ApiError> {
    auth.ready()?;
    let allowed = authorize_admin(&auth.principal(), auth.user.institution_id, AdminPermission::ReviewEmergency)
        .map_err(ApiError::denied)?;
    let grants = state.store.emergency_grants(allowed.institution()).await?;
    let logins = logins(&state, &auth).await?;
    Ok(Json(grants.iter().map(|g| view(g, &logins)).collect()))
}

/// Records the review of one grant. Nobody reviews their own emergency access.
#[utoipa::path(post, path = "/api/v1/emergency-access/{id}/review", tag = "emergency", request_body = ReviewRequest,
    params(("id" = String, Path, description = "The grant's id")),
    responses(
        (status = 200, description = "Reviewed", body = GrantView),
        (status = 403, description = "No permission, or one's own grant", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such grant in this institution", body = crate::error::ErrorEnvelope),
        (status = 409, description = "Already reviewed", body = crate::error::ErrorEnvelope)
    ))]
pub async fn review(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReviewRequest>,
) -> Result<Json<GrantView>, ApiError> {
    auth.ready()?;
    let allowed = authorize_admin(&auth.principal(), auth.user.institution_id, AdminPermission::ReviewEmergency)
        .map_err(ApiError::denied)?;
    if req.note.chars().count() > 1000 {
        return Err(ApiError::bad_request(Message::new(
            "メモが長すぎます（1000文字以内）。",
            "the note is too long (at most 1000 characters)",
        )));
    }
    let id: EmergencyGrantId = id.parse().map_err(|_| ApiError::no_such("緊急アクセス", "emergency grant"))?;
    let grant = state
        .store
        .emergency_grant(allowed.institution(), id)
        .await?
        .ok_or_else(|| ApiError::no_such("緊急アクセス", "emergency grant"))?;
    if grant.user == allowed.user() {
        return Err(ApiError::forbidden(
            "own_grant",
            Message::new(
                "自分の緊急アクセスは確認できません。別の管理者が確認します。",
                "you cannot review your own emergency access",
            ),
        ));
    }
    if !may_review(&grant, allowed.user()) {
        return Err(ApiError::conflict("already_reviewed", Message::new("確認済みです。", "already reviewed")));
    }
    let review = EmergencyReview {
        reviewed_by: allowed.user(),
        reviewed_at: mamori_core::clock::to_micros(state.clock.now()),
        note: req.note.trim().to_owned(),
    };
    let mut tx = state.store.begin().await?;
    if !tx.review_emergency_grant(allowed.institution(), id, &review).await? {
        return Err(ApiError::conflict("already_reviewed", Message::new("確認済みです。", "already reviewed")));
    }
    tracing::info!(institution = %allowed.institution(), by = %allowed.user(), grant = %id, "emergency access reviewed");
    let event =
        audit::by(&state, &auth.user, "emergency.review", Outcome::Allowed).resource(format!("emergency_grant:{id}"));
    audit::commit_with(tx, event).await?;
    let logins = logins(&state, &auth).await?;
    Ok(Json(view(&EmergencyGrantRecord { review: Some(review), ..grant }, &logins)))
}
