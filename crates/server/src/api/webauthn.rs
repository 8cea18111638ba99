//! WebAuthn security keys and passkeys (webauthn-rs, user verification required): registering
//! one from a full session, and using one as the second factor at login.
//!
//! The ceremony state lives in the database next to the session (`take_webauthn_challenge`
//! removes it as it reads it), so a challenge is answered at most once and a replayed assertion
//! finds nothing to verify against.

use super::rfc3339;
use super::session::{Me, complete_login, fail, gate, me, pending, throttle_key, with_cookie};
use crate::audit;
use crate::auth::{self, Authenticated};
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mamori_core::Message;
use mamori_core::audit::Outcome;
use mamori_core::factor::{WebauthnCredential, WebauthnPurpose};
use mamori_core::session::SessionStage;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use webauthn_rs::Webauthn;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
};

/// How long a ceremony may take.
const CEREMONY_TTL: Duration = Duration::from_secs(5 * 60);

/// `POST /api/v1/me/webauthn/register/finish`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterFinish {
    /// A name for the key (1–100 characters), e.g. "YubiKey 受付".
    pub name: String,
    /// What `navigator.credentials.create()` returned, with binary fields base64url-encoded.
    #[schema(value_type = Object)]
    pub credential: RegisterPublicKeyCredential,
}

/// `POST /api/v1/session/webauthn/finish`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginFinish {
    /// What `navigator.credentials.get()` returned, with binary fields base64url-encoded.
    #[schema(value_type = Object)]
    pub credential: PublicKeyCredential,
}

/// A registered key, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyInfo {
    /// Credential ID, base64url.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was registered (RFC 3339).
    pub created_at: Option<String>,
    /// When it was last used (RFC 3339).
    pub last_used_at: Option<String>,
}

fn unavailable() -> ApiError {
    ApiError::conflict(
        "webauthn_unavailable",
        Message::new(
            "セキュリティキーを使うには server.public_url にドメイン名（例: https://localhost:8443/）を設定してください。",
            "security keys need a domain name in server.public_url (e.g. https://localhost:8443/)",
        ),
    )
}

fn webauthn(state: &AppState) -> Result<&Webauthn, ApiError> {
    state.webauthn.as_deref().ok_or_else(unavailable)
}

fn ceremony_failed(e: &impl std::fmt::Display) -> ApiError {
    tracing::info!(error = %e, "WebAuthn ceremony refused");
    ApiError::bad_request(Message::new(
        "セキュリティキーの応答を確認できませんでした。もう一度お試しください。",
        "the security key's answer could not be verified; try again",
    ))
}

fn passkeys(stored: &[WebauthnCredential]) -> Vec<Passkey> {
    stored.iter().filter_map(|c| serde_json::from_str::<Passkey>(&c.credential_json).ok()).collect()
}

/// Starts registering a security key or passkey for the logged-in user.
#[utoipa::path(post, path = "/api/v1/me/webauthn/register/start", tag = "webauthn",
    responses(
        (status = 200, description = "Options for navigator.credentials.create()", content_type = "application/json"),
        (status = 401, description = "No full session", body = crate::error::ErrorEnvelope),
        (status = 409, description = "WebAuthn is not available on this address", body = crate::error::ErrorEnvelope),
        (status = 423, description = "The session is idle-locked", body = crate::error::ErrorEnvelope)
    ))]
pub async fn register_start(State(state): State<AppState>, auth: Authenticated) -> Result<Response, ApiError> {
    auth.ready()?;
    let wa = webauthn(&state)?;
    let user = &auth.user;
    let existing = state.store.webauthn_credentials(user.institution_id, user.id).await?;
    let exclude = passkeys(&existing).iter().map(|p| p.cred_id().clone()).collect::<Vec<_>>();
    let (options, registration) = wa
        .start_passkey_registration(
            user.id.as_uuid(),
            user.login_id.as_str(),
            user.display_name.as_str(),
            Some(exclude),
        )
        .map_err(|e| ceremony_failed(&e))?;
    let state_json = serde_json::to_string(&registration).map_err(|_| ApiError::internal())?;
    let expires = state.clock.now() + CEREMONY_TTL;
    state
        .store
        .put_webauthn_challenge(
            user.institution_id,
            &auth.session.token_hash,
            WebauthnPurpose::Register,
            &state_json,
            expires,
        )
        .await?;
    Ok(Json(options).into_response())
}

/// Finishes registering: the key is stored under the given name.
#[utoipa::path(post, path = "/api/v1/me/webauthn/register/finish", tag = "webauthn", request_body = RegisterFinish,
    responses(
        (status = 201, description = "Registered", body = KeyInfo),
        (status = 400, description = "The answer could not be verified, or no registration was under way", body = crate::error::ErrorEnvelope),
        (status = 401, description = "No full session", body = crate::error::ErrorEnvelope),
        (status = 409, description = "This key is already registered", body = crate::error::ErrorEnvelope)
    ))]
pub async fn register_finish(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(req): ApiJson<RegisterFinish>,
) -> Result<Response, ApiError> {
    auth.ready()?;
    let wa = webauthn(&state)?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(Message::new(
            "キーの名前は1〜100文字にしてください。",
            "a key's name has 1 to 100 characters",
        )));
    }
    let user = &auth.user;
    let now = state.clock.now();
    let Some(state_json) = state
        .store
        .take_webauthn_challenge(user.institution_id, &auth.session.token_hash, WebauthnPurpose::Register, now)
        .await?
    else {
        return Err(ceremony_failed(&"no registration under way"));
    };
    let registration: PasskeyRegistration = serde_json::from_str(&state_json).map_err(|_| ApiError::internal())?;
    let passkey = wa.finish_passkey_registration(&req.credential, &registration).map_err(|e| ceremony_failed(&e))?;
    let credential = WebauthnCredential {
        credential_id: passkey.cred_id().to_vec(),
        name: name.to_owned(),
        credential_json: serde_json::to_string(&passkey).map_err(|_| ApiError::internal())?,
        created_at: mamori_core::clock::to_micros(now),
        last_used_at: None,
    };
    let mut tx = state.store.begin().await?;
    match tx.add_webauthn_credential(user.institution_id, user.id, &credential).await {
        Ok(()) => {}
        Err(mamori_store::StoreError::Conflict { .. }) => {
            return Err(ApiError::conflict(
                "key_registered",
                Message::new("このセキュリティキーは登録済みです。", "this security key is already registered"),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(institution = %user.institution_id, user = %user.id, "security key registered");
    audit::commit_with(tx, audit::by(&state, user, "factor.webauthn_register", Outcome::Allowed)).await?;
    let info = KeyInfo {
        id: URL_SAFE_NO_PAD.encode(&credential.credential_id),
        name: credential.name,
        created_at: rfc3339(credential.created_at),
        last_used_at: None,
    };
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

/// The logged-in user's registered keys.
#[utoipa::path(get, path = "/api/v1/me/webauthn", tag = "webauthn",
    responses(
        (status = 200, description = "Registered keys", body = Vec<KeyInfo>),
        (status = 401, description = "No full session", body = crate::error::ErrorEnvelope)
    ))]
pub async fn list(State(state): State<AppState>, auth: Authenticated) -> Result<Json<Vec<KeyInfo>>, ApiError> {
    let stored = state.store.webauthn_credentials(auth.user.institution_id, auth.user.id).await?;
    Ok(Json(
        stored
            .into_iter()
            .map(|c| KeyInfo {
                id: URL_SAFE_NO_PAD.encode(&c.credential_id),
                name: c.name,
                created_at: rfc3339(c.created_at),
                last_used_at: c.last_used_at.and_then(rfc3339),
            })
            .collect(),
    ))
}

/// Login, step 2 with a security key: the challenge.
#[utoipa::path(post, path = "/api/v1/session/webauthn/challenge", tag = "session",
    responses(
        (status = 200, description = "Options for navigator.credentials.get()", content_type = "application/json"),
        (status = 401, description = "No pending session, or no key registered", body = crate::error::ErrorEnvelope),
        (status = 429, description = "Too soon after a failed attempt", body = crate::error::ErrorEnvelope)
    ))]
pub async fn login_challenge(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let wa = webauthn(&state)?;
    let (loaded, user) = pending(&state, &headers, SessionStage::SecondFactor).await?;
    let key = throttle_key(user.login_id.as_str());
    let throttle = gate(&state, &key).await?;
    let keys = passkeys(&state.store.webauthn_credentials(user.institution_id, user.id).await?);
    if keys.is_empty() {
        return Err(fail(&state, &key, throttle.as_ref(), Some(&user), "login.webauthn").await);
    }
    let (options, authentication) = wa.start_passkey_authentication(&keys).map_err(|e| ceremony_failed(&e))?;
    let state_json = serde_json::to_string(&authentication).map_err(|_| ApiError::internal())?;
    let expires = state.clock.now() + CEREMONY_TTL;
    state
        .store
        .put_webauthn_challenge(
            user.institution_id,
            &loaded.record.token_hash,
            WebauthnPurpose::Authenticate,
            &state_json,
            expires,
        )
        .await?;
    Ok(Json(options).into_response())
}

/// Login, step 2 with a security key: the signed answer.
#[utoipa::path(post, path = "/api/v1/session/webauthn/finish", tag = "session", request_body = LoginFinish,
    responses(
        (status = 200, description = "Both factors given: the full session cookie is set", body = Me),
        (status = 401, description = "Not verified, replayed, or no challenge under way", body = crate::error::ErrorEnvelope),
        (status = 429, description = "Too soon after a failed attempt", body = crate::error::ErrorEnvelope)
    ))]
pub async fn login_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginFinish>,
) -> Result<Response, ApiError> {
    let wa = webauthn(&state)?;
    let (loaded, user) = pending(&state, &headers, SessionStage::SecondFactor).await?;
    let key = throttle_key(user.login_id.as_str());
    let throttle = gate(&state, &key).await?;
    let now = state.clock.now();
    let taken = state
        .store
        .take_webauthn_challenge(user.institution_id, &loaded.record.token_hash, WebauthnPurpose::Authenticate, now)
        .await?;
    let verified = taken
        .and_then(|json| serde_json::from_str::<PasskeyAuthentication>(&json).ok())
        .and_then(|authentication| wa.finish_passkey_authentication(&req.credential, &authentication).ok());
    let Some(result) = verified else {
        return Err(fail(&state, &key, throttle.as_ref(), Some(&user), "login.webauthn").await);
    };
    // Keep the signature counter current (a cloned key shows up as a counter that goes back).
    let stored = state.store.webauthn_credentials(user.institution_id, user.id).await?;
    for credential in stored {
        if credential.credential_id.as_slice() != result.cred_id().as_slice() {
            continue;
        }
        if let Ok(mut passkey) = serde_json::from_str::<Passkey>(&credential.credential_json) {
            passkey.update_credential(&result);
            let json = serde_json::to_string(&passkey).map_err(|_| ApiError::internal())?;
            state
                .store
                .update_webauthn_credential(user.institution_id, user.id, &credential.credential_id, &json, now)
                .await?;
        }
    }
    let (token_text, session) = complete_login(&state, &loaded, &user, "webauthn", false).await?;
    Ok(with_cookie(Json(me(&state, &user, &session)).into_response(), auth::set_cookie(&token_text, state.tls)))
}

/// Removes one of the logged-in user's keys (e.g. a lost one). The TOTP app stays, so the
/// account keeps a second factor.
#[utoipa::path(delete, path = "/api/v1/me/webauthn/{id}", tag = "webauthn",
    params(("id" = String, Path, description = "The credential ID, base64url")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No full session", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such key of this user", body = crate::error::ErrorEnvelope)
    ))]
pub async fn remove(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.ready()?;
    let not_found = || ApiError::no_such("セキュリティキー", "security key");
    let credential_id = URL_SAFE_NO_PAD.decode(id.as_bytes()).map_err(|_| not_found())?;
    let mut tx = state.store.begin().await?;
    if !tx.delete_webauthn_credential(auth.user.institution_id, auth.user.id, &credential_id).await? {
        return Err(not_found());
    }
    tracing::info!(institution = %auth.user.institution_id, user = %auth.user.id, "security key removed");
    audit::commit_with(tx, audit::by(&state, &auth.user, "factor.webauthn_remove", Outcome::Allowed)).await?;
    Ok(StatusCode::NO_CONTENT)
}
