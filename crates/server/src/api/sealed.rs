//! Sealed emergency accounts (非常時用アカウント, MDS 11, SDS 57.x) over the API: list them,
//! and activate one — the second person's confirmation: a signed-in member of staff with
//! emergency rights names who uses the account and why and re-authenticates with their own
//! password and code. Creating and re-keying the accounts is the operator's
//! (`mamori emergency seal|close`), since their credentials are printed for the envelope.

use super::emergency::logins;
use super::rfc3339;
use super::session::reauthenticate;
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
use mamori_core::emergency::check_reason;
use mamori_core::sealed::{SealedActivation, check_used_by, may_confirm};
use mamori_core::{LoginId, Message, SealedActivationId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `POST /api/v1/emergency-accounts/{login_id}/activate`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// The person who will use the account (1–100 characters).
    pub used_by: String,
    /// Why normal accounts cannot be used (1–500 characters).
    pub reason: String,
    /// The confirming person's own password.
    pub password: String,
    /// The confirming person's own TOTP code.
    pub code: String,
}

/// One activation as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivationView {
    /// Its id.
    pub id: String,
    /// The sealed account (login ID).
    pub login_id: String,
    /// The credentials' generation it was opened with.
    pub generation: u32,
    /// Who used the account.
    pub used_by: String,
    /// Why.
    pub reason: String,
    /// Who confirmed it (login ID).
    pub confirmed_by: String,
    /// When (RFC 3339).
    pub activated_at: Option<String>,
    /// When it ends (RFC 3339).
    pub expires_at: Option<String>,
    /// When `mamori emergency close` ended it (RFC 3339).
    pub closed_at: Option<String>,
}

/// A sealed account as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct SealedAccountView {
    /// Its login ID.
    pub login_id: String,
    /// Its display name.
    pub display_name: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// How many times its credentials were (re-)sealed.
    pub generation: u32,
    /// When the current credentials were sealed (RFC 3339).
    pub sealed_at: Option<String>,
    /// The activation in force, if any.
    pub active: Option<ActivationView>,
}

fn view(a: &SealedActivation, logins: &BTreeMap<UserId, String>) -> ActivationView {
    let login = |id| logins.get(&id).cloned().unwrap_or_default();
    ActivationView {
        id: a.id.to_string(),
        login_id: login(a.user),
        generation: a.generation,
        used_by: a.used_by.clone(),
        reason: a.reason.clone(),
        confirmed_by: login(a.confirmed_by),
        activated_at: rfc3339(a.activated_at),
        expires_at: rfc3339(a.expires_at),
        closed_at: a.closed_at.and_then(rfc3339),
    }
}

/// Whether the signed-in user may see and confirm emergency accounts: their roles allow
/// using or reviewing emergency access.
fn emergency_staff(auth: &Authenticated) -> Result<(), ApiError> {
    auth.ready()?;
    let principal = auth.principal();
    let institution = auth.user.institution_id;
    authorize_admin(&principal, institution, AdminPermission::EmergencyAccess)
        .or_else(|_| authorize_admin(&principal, institution, AdminPermission::ReviewEmergency))
        .map(|_| ())
        .map_err(ApiError::denied)
}

/// The institution's sealed emergency accounts and the activation in force of each.
#[utoipa::path(get, path = "/api/v1/emergency-accounts", tag = "emergency",
    responses(
        (status = 200, description = "Every sealed account", body = Vec<SealedAccountView>),
        (status = 403, description = "The user's roles neither use nor review emergency access", body = crate::error::ErrorEnvelope)
    ))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<SealedAccountView>>, ApiError> {
    list_step(&state, &auth).await.map(Json)
}

/// The list, shared by the API and the page.
pub(crate) async fn list_step(state: &AppState, auth: &Authenticated) -> Result<Vec<SealedAccountView>, ApiError> {
    emergency_staff(auth)?;
    let institution = auth.user.institution_id;
    let users = state.store.users(institution).await?;
    let logins: BTreeMap<UserId, String> = users.iter().map(|u| (u.id, u.login_id.to_string())).collect();
    let now = state.clock.now();
    let mut out = Vec::new();
    for account in state.store.sealed_accounts(institution).await? {
        let Some(user) = users.iter().find(|u| u.id == account.user) else { continue };
        let active = state.store.active_sealed_activation(institution, account.user, now).await?;
        out.push(SealedAccountView {
            login_id: user.login_id.to_string(),
            display_name: user.display_name.as_str().to_owned(),
            roles: user.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            generation: account.generation,
            sealed_at: rfc3339(account.sealed_at),
            active: active.as_ref().map(|a| view(a, &logins)),
        });
    }
    Ok(out)
}

/// Every activation of the institution's sealed accounts, newest first (for the safety
/// manager's review).
#[utoipa::path(get, path = "/api/v1/emergency-accounts/activations", tag = "emergency",
    responses(
        (status = 200, description = "Every activation", body = Vec<ActivationView>),
        (status = 403, description = "No permission to review emergency access", body = crate::error::ErrorEnvelope)
    ))]
pub async fn activations(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<ActivationView>>, ApiError> {
    auth.ready()?;
    let allowed = authorize_admin(&auth.principal(), auth.user.institution_id, AdminPermission::ReviewEmergency)
        .map_err(ApiError::denied)?;
    let logins = logins(&state, &auth).await?;
    let all = state.store.sealed_activations(allowed.institution()).await?;
    Ok(Json(all.iter().map(|a| view(a, &logins)).collect()))
}

/// Activates a sealed account: the second person's confirmation.
#[utoipa::path(post, path = "/api/v1/emergency-accounts/{login_id}/activate", tag = "emergency", request_body = ActivateRequest,
    params(("login_id" = String, Path, description = "The sealed account's login ID")),
    responses(
        (status = 201, description = "Activated for emergency.sealed_account_ttl: the envelope's password and code now log in", body = ActivationView),
        (status = 400, description = "No user name or reason, or a field too long", body = crate::error::ErrorEnvelope),
        (status = 401, description = "The confirming person's re-authentication failed", body = crate::error::ErrorEnvelope),
        (status = 403, description = "The user may not confirm emergency accounts", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such sealed account in this institution", body = crate::error::ErrorEnvelope),
        (status = 409, description = "Already active", body = crate::error::ErrorEnvelope)
    ))]
pub async fn activate(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(login_id): Path<String>,
    ApiJson(req): ApiJson<ActivateRequest>,
) -> Result<Response, ApiError> {
    let activation = activate_step(&state, &auth, &login_id, &req).await?;
    let logins = logins(&state, &auth).await?;
    Ok((StatusCode::CREATED, Json(view(&activation, &logins))).into_response())
}

/// Activation, shared by the API and the page.
pub(crate) async fn activate_step(
    state: &AppState,
    auth: &Authenticated,
    login_id: &str,
    req: &ActivateRequest,
) -> Result<SealedActivation, ApiError> {
    emergency_staff(auth)?;
    let used_by = check_used_by(&req.used_by).map_err(ApiError::bad_request)?;
    let reason = check_reason(&req.reason).map_err(ApiError::bad_request)?;
    let institution = auth.user.institution_id;
    let no_such = || ApiError::no_such("緊急用アカウント", "emergency account");
    let id = LoginId::parse(login_id).map_err(|_| no_such())?;
    let account = state.store.user_by_login_id(institution, &id).await?.ok_or_else(no_such)?;
    let sealed = state.store.sealed_account(institution, account.id).await?.ok_or_else(no_such)?;
    let confirmer_is_sealed = state.store.sealed_account(institution, auth.user.id).await?.is_some();
    may_confirm(&auth.user, confirmer_is_sealed, institution, account.id)
        .map_err(|m| ApiError::forbidden("may_not_confirm", m))?;
    let now = mamori_core::clock::to_micros(state.clock.now());
    if state.store.active_sealed_activation(institution, account.id, now).await?.is_some() {
        return Err(ApiError::conflict(
            "already_active",
            Message::new("この緊急用アカウントはすでに有効です。", "this emergency account is already active"),
        ));
    }
    reauthenticate(state, &auth.user, &req.password, &req.code).await?;
    let activation = SealedActivation {
        institution,
        id: SealedActivationId::generate(&mut rand_core::OsRng),
        user: account.id,
        generation: sealed.generation,
        used_by,
        reason,
        confirmed_by: auth.user.id,
        activated_at: now,
        expires_at: now + state.config.get().emergency.sealed_account_ttl.0,
        closed_at: None,
    };
    let mut tx = state.store.begin().await?;
    tx.create_sealed_activation(&activation).await?;
    tracing::warn!(institution = %institution, account = %account.id, confirmed_by = %auth.user.id, activation = %activation.id, "SEALED EMERGENCY ACCOUNT activated");
    let event = audit::by(state, &auth.user, "sealed_account.activate", Outcome::Allowed)
        .resource(format!("user:{}", account.id))
        .detail("activation", activation.id.to_string());
    audit::commit_with(tx, event).await?;
    Ok(activation)
}
