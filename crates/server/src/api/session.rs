//! The login API: password, second factor (TOTP or a recovery code), enrollment, unlock,
//! password change, logout. Every failed step answers with one generic message, feeds the same
//! throttle, and changes nothing else.

use super::rfc3339;
use crate::audit;
use crate::auth::{self, Authenticated, LoadedSession, PRE_AUTH_TTL};
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mamori_core::audit::Outcome;
use mamori_core::factor::TotpRecord;
use mamori_core::lockout::{self, Gate, Throttle};
use mamori_core::session::{SessionRecord, SessionStage, SessionState};
use mamori_core::{LoginId, Message, User, UserStatus};
use mamori_crypto::{PasswordHash, Secret, TotpSecret, token};
use mamori_store::StoreTx;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Longest login ID accepted in a request.
const MAX_LOGIN_ID: usize = 64;
/// Longest password accepted in a request, in bytes.
const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest code (TOTP or recovery) accepted in a request.
const MAX_CODE: usize = 32;
/// Recovery codes issued at enrollment.
const RECOVERY_CODES: usize = 10;
/// The issuer shown in authenticator apps.
const TOTP_ISSUER: &str = "mamori";

/// `POST /api/v1/session`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The login ID.
    pub login_id: String,
    /// The password.
    pub password: String,
}

/// What the client must do next.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginStep {
    /// `webauthn` (the user has a security key: `/api/v1/session/webauthn/challenge`; a TOTP
    /// code is accepted too), `totp` (send a code to `/api/v1/session/totp`), or `enroll` (no
    /// second factor yet: enroll one at `/api/v1/session/enroll/totp`).
    pub next: &'static str,
    /// Whether the password is a one-time password that must be changed after login.
    pub password_change_required: bool,
}

/// A second-factor code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// Six digits from the authenticator app, or a recovery code.
    pub code: String,
}

/// `POST /api/v1/session/unlock`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockRequest {
    /// The password.
    pub password: String,
    /// A TOTP code.
    pub code: String,
}

/// `POST /api/v1/me/password`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    pub current_password: String,
    /// The new password.
    pub new_password: String,
}

/// The last successful login before this one.
#[derive(Debug, Serialize, ToSchema)]
pub struct LastLogin {
    /// When (RFC 3339, UTC); null for a first login.
    pub succeeded_at: Option<String>,
    /// Failed attempts since then.
    pub failures_since: u32,
}

/// `GET /api/v1/me`
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The institution.
    pub institution_id: String,
    /// The login ID.
    pub login_id: String,
    /// The display name.
    pub display_name: String,
    /// 職種.
    pub job_type: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Whether the password must be changed before anything else.
    pub password_change_required: bool,
    /// The previous successful login and the failures since.
    pub last_login: LastLogin,
    /// Seconds without activity after which the server locks the session.
    pub idle_lock_seconds: u64,
}

/// TOTP enrollment: what the authenticator app needs.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrollment {
    /// The secret, base32.
    pub secret_base32: String,
    /// The `otpauth://` URI.
    pub otpauth_uri: String,
    /// The URI as a QR code (SVG).
    pub qr_svg: String,
}

/// A finished enrollment: the recovery codes, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct Enrolled {
    /// Single-use recovery codes for a lost device. Shown only now; stored hashed.
    pub recovery_codes: Vec<String>,
    /// The logged-in user.
    pub me: Me,
}

pub(crate) fn me(state: &AppState, user: &User, session: &SessionRecord) -> Me {
    Me {
        institution_id: user.institution_id.to_string(),
        login_id: user.login_id.to_string(),
        display_name: user.display_name.as_str().to_owned(),
        job_type: user.job_type.as_str().to_owned(),
        roles: user.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        password_change_required: user.password_change_required,
        last_login: LastLogin {
            succeeded_at: session.previous_login_at.and_then(rfc3339),
            failures_since: session.failures_since_previous,
        },
        idle_lock_seconds: state.config.get().session.idle_lock.0.as_secs(),
    }
}

pub(crate) fn too_long(field: &str) -> ApiError {
    ApiError::bad_request(Message::new(format!("{field} が長すぎます。"), format!("{field} is too long")))
}

/// Refuses a code (TOTP, recovery code or pass) longer than any real one.
fn check_code_length(code: &str) -> Result<(), ApiError> {
    if code.chars().count() > MAX_CODE { Err(too_long("code")) } else { Ok(()) }
}

/// Whether `password` is the user's password (constant-time inside argon2).
pub(crate) fn password_matches(state: &AppState, user: &User, password: &str) -> bool {
    PasswordHash::from_phc(user.password_hash.clone())
        .ok()
        .is_some_and(|hash| state.passwords.hasher.verify(&hash, &Secret::new(password)).is_ok())
}

/// The throttle key for a typed login ID.
pub(crate) fn throttle_key(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// Refuses an attempt while its login ID waits or is locked out; otherwise returns the state.
pub(crate) async fn gate(state: &AppState, key: &str) -> Result<Option<Throttle>, ApiError> {
    let throttle = state.store.throttle(key).await?;
    let now = state.clock.now();
    match lockout::gate(throttle.as_ref(), now, state.config.get().lockout.policy()) {
        Gate::Open => Ok(throttle),
        Gate::Wait { until } => Err(ApiError::retry_later(seconds_until(now, until))),
        Gate::Locked { until } => Err(ApiError::locked_out(seconds_until(now, until).div_ceil(60))),
    }
}

fn seconds_until(now: OffsetDateTime, until: OffsetDateTime) -> u64 {
    u64::try_from((until - now).whole_seconds()).unwrap_or(0).max(1)
}

/// Counts a failed attempt against the login ID (and the user, when there is one).
/// A failure of a known account is an audit event (`action`, denied) in its institution; an
/// unknown login ID has no institution and only feeds the throttle (and the log line).
pub(crate) async fn fail(
    state: &AppState,
    key: &str,
    throttle: Option<&Throttle>,
    user: Option<&User>,
    action: &str,
) -> ApiError {
    let next = lockout::record_failure(throttle, key, state.clock.now(), state.config.get().lockout.policy());
    // The throttle, the account's failure count and the denial event: one transaction.
    let recorded = async {
        let mut tx = state.store.begin().await?;
        tx.put_throttle(&next).await?;
        if let Some(user) = user {
            tx.record_login_failure(user.institution_id, user.id).await?;
            let event = audit::by(state, user, action, Outcome::Denied).detail("failures", next.failures.to_string());
            audit::append(tx.as_mut(), vec![event]).await?;
        }
        tx.commit().await?;
        Ok::<(), ApiError>(())
    }
    .await;
    if let Err(e) = recorded {
        return e;
    }
    tracing::info!(failures = next.failures, "login step failed");
    ApiError::login_failed()
}

pub(crate) fn with_cookie(mut response: Response, value: Option<axum::http::HeaderValue>) -> Response {
    if let Some(v) = value {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

pub(crate) async fn new_session(
    state: &AppState,
    tx: &mut (dyn StoreTx + '_),
    user: &User,
    stage: SessionStage,
    ttl: std::time::Duration,
    previous: (Option<OffsetDateTime>, u32),
    client_cert: Option<String>,
) -> Result<(String, SessionRecord), ApiError> {
    let now = state.clock.now();
    let token_text = token::random_token(&mut rand_core::OsRng);
    let record = SessionRecord {
        token_hash: token::token_hash(&token_text),
        institution: user.institution_id,
        user: user.id,
        stage,
        created_at: now,
        last_seen_at: now,
        expires_at: now + ttl,
        locked: false,
        csrf_token: token::random_token(&mut rand_core::OsRng),
        previous_login_at: previous.0,
        failures_since_previous: previous.1,
        client_cert_sha256: client_cert,
    };
    tx.create_session(&record).await?;
    Ok((token_text, record))
}

/// Log in, step 1: the password.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = LoginRequest,
    responses(
        (status = 200, description = "Password accepted; a pre-authentication cookie is set. It grants nothing but the next step.", body = LoginStep),
        (status = 400, description = "Malformed or over-long field", body = crate::error::ErrorEnvelope),
        (status = 401, description = "Wrong login ID or password (one message for every case), or locked out", body = crate::error::ErrorEnvelope),
        (status = 403, description = "The account is disabled or retired", body = crate::error::ErrorEnvelope),
        (status = 429, description = "Too soon after a failed attempt", body = crate::error::ErrorEnvelope)
    ))]
pub async fn begin(
    State(state): State<AppState>,
    conn: Option<axum::Extension<crate::serve::ConnInfo>>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let client_cert = conn.and_then(|c| c.0.client_cert_sha256);
    let (body, token_text) = password_step(&state, &req.login_id, req.password, client_cert).await?;
    Ok(with_cookie(Json(body).into_response(), auth::set_cookie(&token_text, state.tls)))
}

/// Login step 1, shared by the API and the pages: checks the password and opens a
/// pre-authentication session. Returns the next step and the new session token.
pub(crate) async fn password_step(
    state: &AppState,
    login_id: &str,
    password: String,
    client_cert: Option<String>,
) -> Result<(LoginStep, String), ApiError> {
    if login_id.chars().count() > MAX_LOGIN_ID {
        return Err(too_long("login_id"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(too_long("password"));
    }
    let key = throttle_key(login_id);
    let throttle = gate(state, &key).await?;
    let password = Secret::new(password);
    let user = match LoginId::parse(&key) {
        Ok(id) => state.store.find_login(&id).await?,
        Err(_) => None,
    };
    let Some(user) = user else {
        state.passwords.waste_time(&password);
        return Err(fail(state, &key, throttle.as_ref(), None, "login.password").await);
    };
    if !password_matches(state, &user, password.expose()) {
        return Err(fail(state, &key, throttle.as_ref(), Some(&user), "login.password").await);
    }
    if user.status != UserStatus::Active {
        let event = audit::by(state, &user, "login.password", Outcome::Denied).detail("reason", "account_inactive");
        audit::record_one(state, event).await?;
        return Err(ApiError::forbidden(
            "account_inactive",
            Message::new(
                "このアカウントは利用できません。管理者に連絡してください。",
                "this account cannot be used; contact your administrator",
            ),
        ));
    }
    if state.store.require_registered_terminal(user.institution_id).await? {
        let terminal = match &client_cert {
            Some(fp) => state.store.terminal_by_fingerprint(user.institution_id, fp).await?,
            None => None,
        };
        if !mamori_core::terminal::login_allowed(true, client_cert.as_deref(), terminal.as_ref()) {
            tracing::warn!(institution = %user.institution_id, user = %user.id, "login refused: not a registered terminal");
            let event =
                audit::by(state, &user, "login.password", Outcome::Denied).detail("reason", "unregistered_terminal");
            audit::record_one(state, event).await?;
            return Err(ApiError::forbidden(
                "unregistered_terminal",
                Message::new(
                    "この端末からはログインできません。登録された端末（クライアント証明書のある端末）を使ってください。",
                    "logins are accepted only from registered terminals (with their client certificate)",
                ),
            ));
        }
    }
    if !state.config.logon_hours().allows(&user.roles, state.clock.now()) {
        tracing::info!(institution = %user.institution_id, user = %user.id, "login refused: outside the allowed hours");
        let event = audit::by(state, &user, "login.password", Outcome::Denied).detail("reason", "outside_logon_hours");
        audit::record_one(state, event).await?;
        return Err(ApiError::outside_logon_hours());
    }
    let enrolled = state.store.totp(user.institution_id, user.id).await?.is_some_and(|t| t.confirmed);
    let has_keys =
        state.webauthn.is_some() && !state.store.webauthn_credentials(user.institution_id, user.id).await?.is_empty();
    let (stage, next) = match (has_keys, enrolled) {
        (true, _) => (SessionStage::SecondFactor, "webauthn"),
        (false, true) => (SessionStage::SecondFactor, "totp"),
        (false, false) => (SessionStage::Enroll, "enroll"),
    };
    let mut tx = state.store.begin().await?;
    let (token_text, _) = new_session(state, tx.as_mut(), &user, stage, PRE_AUTH_TTL, (None, 0), client_cert).await?;
    audit::commit_with(tx, audit::by(state, &user, "login.password", Outcome::Allowed).detail("next", next)).await?;
    Ok((LoginStep { next, password_change_required: user.password_change_required }, token_text))
}

/// The pre-authentication session of a request and its user, in the given stage.
pub(crate) async fn pending(
    state: &AppState,
    headers: &HeaderMap,
    stage: SessionStage,
) -> Result<(LoadedSession, User), ApiError> {
    let Some(loaded) = auth::load(state, headers).await? else { return Err(ApiError::unauthenticated()) };
    if loaded.state != SessionState::Pending(stage) {
        return Err(ApiError::unauthenticated());
    }
    let user = state.store.user(loaded.record.institution, loaded.record.user).await?;
    match user {
        Some(user) if user.status == UserStatus::Active => Ok((loaded, user)),
        _ => Err(ApiError::unauthenticated()),
    }
}

/// Checks a TOTP code against the user's enrollment and spends its step (each code once).
pub(crate) async fn spend_totp(
    state: &AppState,
    user: &User,
    record: &TotpRecord,
    code: &str,
) -> Result<bool, ApiError> {
    let secret = TotpSecret::from_bytes(&record.secret);
    let now = u64::try_from(state.clock.now().unix_timestamp()).unwrap_or(0);
    let Some(step) = mamori_crypto::totp::verify(&secret, code, now) else { return Ok(false) };
    Ok(state.store.use_totp_step(user.institution_id, user.id, step).await?)
}

/// Re-authentication of a signed-in user before a sensitive action (issuing a re-enrollment
/// pass, confirming a sealed emergency account): their own password and a fresh TOTP code, on
/// their own throttle; a failure counts like a failed login.
///
/// # Errors
/// 401 (generic) on a wrong password or code, 429/423 from the throttle, store failures.
pub(crate) async fn reauthenticate(state: &AppState, me: &User, password: &str, code: &str) -> Result<(), ApiError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(too_long("password"));
    }
    check_code_length(code)?;
    let key = throttle_key(me.login_id.as_str());
    let throttle = gate(state, &key).await?;
    let totp = state.store.totp(me.institution_id, me.id).await?.filter(|t| t.confirmed);
    let ok = password_matches(state, me, password)
        && match &totp {
            Some(record) => spend_totp(state, me, record, code).await?,
            None => false,
        };
    if ok { Ok(()) } else { Err(fail(state, &key, throttle.as_ref(), Some(me), "reauthenticate").await) }
}

/// Turns a pre-authentication session into a full one under a new token, in one transaction
/// with the factor's own step (confirming an enrollment, when `confirm_totp`) and the login
/// event. Everything read is read before the transaction starts.
pub(crate) async fn complete_login(
    state: &AppState,
    old: &LoadedSession,
    user: &User,
    factor: &str,
    confirm_totp: bool,
) -> Result<(String, SessionRecord), ApiError> {
    let now = state.clock.now();
    let mut lifetime = state.config.get().session.lifetime.0;
    // A sealed emergency account: usable only while a second person's activation lasts, and
    // never longer.
    let sealed = match state.store.sealed_account(user.institution_id, user.id).await? {
        Some(_) => Some(state.store.active_sealed_activation(user.institution_id, user.id, now).await?),
        None => None,
    };
    let mut tx = state.store.begin().await?;
    if confirm_totp {
        tx.confirm_totp(user.institution_id, user.id).await?;
    }
    tx.clear_throttle(&throttle_key(user.login_id.as_str())).await?;
    if let Some(activation) = sealed {
        match activation {
            Some(activation) => {
                let left = std::time::Duration::try_from(activation.expires_at - now).unwrap_or_default();
                lifetime = lifetime.min(left);
            }
            None => {
                tx.delete_session(old.record.institution, &old.record.token_hash).await?;
                tracing::warn!(institution = %user.institution_id, user = %user.id, "login refused: sealed emergency account not activated");
                let event = audit::by(state, user, "login", Outcome::Denied)
                    .detail("factor", factor)
                    .detail("reason", "sealed_account_not_activated");
                audit::commit_with(tx, event).await?;
                return Err(ApiError::forbidden(
                    "sealed_account_not_activated",
                    Message::new(
                        "この緊急用アカウントは有効化されていません。緊急アクセス権限のある職員が「緊急用アカウント」画面で使用者と理由を入力して有効化してから使ってください。",
                        "this emergency account is not activated: a staff member with emergency rights must activate it first, naming who uses it and why",
                    ),
                ));
            }
        }
    }
    let previous = tx.record_login_success(user.institution_id, user.id, now).await?;
    tx.delete_session(old.record.institution, &old.record.token_hash).await?;
    let cert = old.record.client_cert_sha256.clone();
    let created = new_session(state, tx.as_mut(), user, SessionStage::Full, lifetime, previous, cert).await?;
    audit::commit_with(tx, audit::by(state, user, "login", Outcome::Allowed).detail("factor", factor)).await?;
    tracing::info!(institution = %user.institution_id, user = %user.id, "login completed with two factors");
    Ok(created)
}

/// The second factors a pending session can present.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Factor {
    /// A code from the confirmed authenticator app.
    Totp,
    /// A single-use recovery code.
    Recovery,
    /// The first code from an app being enrolled.
    EnrollTotp,
}

/// Checks `code` as `factor` for the request's pending session, feeding the throttle on
/// failure; on success the login completes under a new session token.
pub(crate) async fn second_factor(
    state: &AppState,
    headers: &HeaderMap,
    factor: Factor,
    code: &str,
) -> Result<(User, String, SessionRecord), ApiError> {
    check_code_length(code)?;
    let stage = if matches!(factor, Factor::EnrollTotp) { SessionStage::Enroll } else { SessionStage::SecondFactor };
    let (loaded, user) = pending(state, headers, stage).await?;
    let key = throttle_key(user.login_id.as_str());
    let throttle = gate(state, &key).await?;
    let accepted = match factor {
        Factor::Totp | Factor::EnrollTotp => {
            let want_confirmed = matches!(factor, Factor::Totp);
            match state.store.totp(user.institution_id, user.id).await?.filter(|t| t.confirmed == want_confirmed) {
                Some(record) => spend_totp(state, &user, &record, code).await?,
                None => false,
            }
        }
        Factor::Recovery => {
            let hash = token::recovery_code_hash(code);
            state.store.use_recovery_code(user.institution_id, user.id, &hash, state.clock.now()).await?
        }
    };
    if !accepted {
        return Err(fail(state, &key, throttle.as_ref(), Some(&user), "login.second_factor").await);
    }
    if matches!(factor, Factor::Recovery) {
        tracing::warn!(institution = %user.institution_id, user = %user.id, "login with a recovery code");
    }
    let factor_name = match factor {
        Factor::Totp => "totp",
        Factor::Recovery => "recovery_code",
        Factor::EnrollTotp => "totp_enrollment",
    };
    let confirm = matches!(factor, Factor::EnrollTotp);
    let (token_text, session) = complete_login(state, &loaded, &user, factor_name, confirm).await?;
    Ok((user, token_text, session))
}

/// Log in, step 2: a TOTP code.
#[utoipa::path(post, path = "/api/v1/session/totp", tag = "session", request_body = CodeRequest,
    responses(
        (status = 200, description = "Both factors given: the full session cookie is set", body = Me),
        (status = 401, description = "Wrong, expired or already used code; no pending session", body = crate::error::ErrorEnvelope),
        (status = 429, description = "Too soon after a failed attempt", body = crate::error::ErrorEnvelope)
    ))]
pub async fn totp(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let (user, token_text, session) = second_factor(&state, &headers, Factor::Totp, &req.code).await?;
    Ok(with_cookie(Json(me(&state, &user, &session)).into_response(), auth::set_cookie(&token_text, state.tls)))
}

/// Log in, step 2 without the device: a single-use recovery code.
#[utoipa::path(post, path = "/api/v1/session/recovery", tag = "session", request_body = CodeRequest,
    responses(
        (status = 200, description = "Both factors given: the full session cookie is set", body = Me),
        (status = 401, description = "Unknown or already used recovery code; no pending session", body = crate::error::ErrorEnvelope),
        (status = 429, description = "Too soon after a failed attempt", body = crate::error::ErrorEnvelope)
    ))]
pub async fn recovery(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let (user, token_text, session) = second_factor(&state, &headers, Factor::Recovery, &req.code).await?;
    Ok(with_cookie(Json(me(&state, &user, &session)).into_response(), auth::set_cookie(&token_text, state.tls)))
}

/// A lost device: the re-enrollment pass an administrator issued replaces the second factor
/// step once; the old factors are removed and a new enrollment follows.
#[utoipa::path(post, path = "/api/v1/session/reenroll", tag = "session", request_body = CodeRequest,
    responses(
        (status = 200, description = "Pass accepted: old factors removed; enroll a new one next", body = LoginStep),
        (status = 401, description = "Unknown, used or expired pass; no pending session", body = crate::error::ErrorEnvelope),
        (status = 429, description = "Too soon after a failed attempt", body = crate::error::ErrorEnvelope)
    ))]
pub async fn reenroll(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Json<LoginStep>, ApiError> {
    reenroll_step(&state, &headers, &req.code).await.map(Json)
}

/// Uses a re-enrollment pass, shared by the API and the pages.
pub(crate) async fn reenroll_step(state: &AppState, headers: &HeaderMap, pass: &str) -> Result<LoginStep, ApiError> {
    check_code_length(pass)?;
    let (loaded, user) = pending(state, headers, SessionStage::SecondFactor).await?;
    let key = throttle_key(user.login_id.as_str());
    let throttle = gate(state, &key).await?;
    let hash = token::recovery_code_hash(pass);
    let mut tx = state.store.begin().await?;
    if !tx.use_reenroll_pass(user.institution_id, user.id, &hash, state.clock.now()).await? {
        drop(tx);
        return Err(fail(state, &key, throttle.as_ref(), Some(&user), "login.reenroll_pass").await);
    }
    tx.delete_second_factors(user.institution_id, user.id).await?;
    let record = SessionRecord { stage: SessionStage::Enroll, ..loaded.record };
    tx.update_session(&record).await?;
    tracing::warn!(institution = %user.institution_id, user = %user.id, "re-enrollment pass used; second factors removed");
    audit::commit_with(tx, audit::by(state, &user, "login.reenroll_pass", Outcome::Allowed)).await?;
    Ok(LoginStep { next: "enroll", password_change_required: user.password_change_required })
}

/// Enrollment, step 1: a new TOTP secret for the authenticator app.
#[utoipa::path(post, path = "/api/v1/session/enroll/totp", tag = "session",
    responses(
        (status = 200, description = "A new secret (replacing any unconfirmed one)", body = TotpEnrollment),
        (status = 401, description = "No session in the enrollment stage", body = crate::error::ErrorEnvelope)
    ))]
pub async fn enroll_totp(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<TotpEnrollment>, ApiError> {
    start_enrollment(&state, &headers).await.map(Json)
}

/// Enrollment step 1, shared by the API and the pages: a new, unconfirmed TOTP secret.
pub(crate) async fn start_enrollment(state: &AppState, headers: &HeaderMap) -> Result<TotpEnrollment, ApiError> {
    let (_, user) = pending(state, headers, SessionStage::Enroll).await?;
    let secret = TotpSecret::generate(&mut rand_core::OsRng);
    let record = TotpRecord {
        secret: secret.as_bytes().to_vec(),
        confirmed: false,
        last_used_step: None,
        created_at: state.clock.now(),
    };
    state.store.put_totp(user.institution_id, user.id, &record).await?;
    let uri = secret.otpauth_uri(TOTP_ISSUER, user.login_id.as_str());
    let qr_svg = qrcode::QrCode::new(uri.as_bytes())
        .map(|code| code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build())
        .map_err(|_| ApiError::internal())?;
    Ok(TotpEnrollment { secret_base32: secret.to_base32(), otpauth_uri: uri, qr_svg })
}

/// Enrollment, step 2: the first code proves the app has the secret; the session becomes full
/// and the recovery codes are shown once.
#[utoipa::path(post, path = "/api/v1/session/enroll/totp/confirm", tag = "session", request_body = CodeRequest,
    responses(
        (status = 200, description = "Enrolled and logged in; recovery codes shown once", body = Enrolled),
        (status = 401, description = "Wrong or used code, or no enrollment under way", body = crate::error::ErrorEnvelope),
        (status = 429, description = "Too soon after a failed attempt", body = crate::error::ErrorEnvelope)
    ))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let (body, token_text) = finish_enrollment(&state, &headers, &req.code).await?;
    Ok(with_cookie(Json(body).into_response(), auth::set_cookie(&token_text, state.tls)))
}

/// Enrollment step 2, shared by the API and the pages: confirms the app with its first code,
/// issues the recovery codes and completes the login. Returns the body and the new token.
pub(crate) async fn finish_enrollment(
    state: &AppState,
    headers: &HeaderMap,
    code: &str,
) -> Result<(Enrolled, String), ApiError> {
    let (user, token_text, session) = second_factor(state, headers, Factor::EnrollTotp, code).await?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| token::recovery_code(&mut rand_core::OsRng)).collect();
    let hashes: Vec<[u8; 32]> = codes.iter().map(|c| token::recovery_code_hash(c)).collect();
    state.store.replace_recovery_codes(user.institution_id, user.id, &hashes, state.clock.now()).await?;
    Ok((Enrolled { recovery_codes: codes, me: me(state, &user, &session) }, token_text))
}

/// Who is logged in.
#[utoipa::path(get, path = "/api/v1/me", tag = "session",
    responses(
        (status = 200, description = "The logged-in user", body = Me),
        (status = 401, description = "No full (two-factor) session", body = crate::error::ErrorEnvelope),
        (status = 423, description = "The session is idle-locked: unlock it", body = crate::error::ErrorEnvelope)
    ))]
pub async fn get_me(State(state): State<AppState>, auth: Authenticated) -> Json<Me> {
    Json(me(&state, &auth.user, &auth.session))
}

/// Unlocks an idle-locked session with the password and a code.
#[utoipa::path(post, path = "/api/v1/session/unlock", tag = "session", request_body = UnlockRequest,
    responses(
        (status = 200, description = "Unlocked", body = Me),
        (status = 401, description = "Wrong password or code, or no full session", body = crate::error::ErrorEnvelope),
        (status = 429, description = "Too soon after a failed attempt", body = crate::error::ErrorEnvelope)
    ))]
pub async fn unlock(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<UnlockRequest>,
) -> Result<Json<Me>, ApiError> {
    let (user, session) = unlock_step(&state, &headers, &req.password, &req.code).await?;
    Ok(Json(me(&state, &user, &session)))
}

/// Unlocks the request's idle-locked session, shared by the API and the lock screen.
pub(crate) async fn unlock_step(
    state: &AppState,
    headers: &HeaderMap,
    password: &str,
    code: &str,
) -> Result<(User, SessionRecord), ApiError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(too_long("password"));
    }
    check_code_length(code)?;
    let Some(loaded) = auth::load(state, headers).await? else { return Err(ApiError::unauthenticated()) };
    if !matches!(loaded.state, SessionState::Locked | SessionState::Active) {
        return Err(ApiError::unauthenticated());
    }
    let Some(user) = state.store.user(loaded.record.institution, loaded.record.user).await? else {
        return Err(ApiError::unauthenticated());
    };
    let key = throttle_key(user.login_id.as_str());
    let throttle = gate(state, &key).await?;
    let password_ok = password_matches(state, &user, password);
    let record = state.store.totp(user.institution_id, user.id).await?.filter(|t| t.confirmed);
    let code_ok = match (&record, password_ok) {
        (Some(record), true) => spend_totp(state, &user, record, code).await?,
        _ => false,
    };
    if !code_ok || user.status != UserStatus::Active {
        return Err(fail(state, &key, throttle.as_ref(), Some(&user), "session.unlock").await);
    }
    let mut tx = state.store.begin().await?;
    tx.clear_throttle(&key).await?;
    let session = SessionRecord { locked: false, last_seen_at: state.clock.now(), ..loaded.record };
    tx.update_session(&session).await?;
    audit::commit_with(tx, audit::by(state, &user, "session.unlock", Outcome::Allowed)).await?;
    tracing::info!(institution = %user.institution_id, user = %user.id, "session unlocked");
    Ok((user, session))
}

fn weakness_message(w: &mamori_crypto::strength::Weakness) -> Message {
    use mamori_crypto::strength::Weakness;
    match w {
        Weakness::TooShort { min } => Message::new(
            format!("新しいパスワードは{min}文字以上にしてください。"),
            format!("the new password needs at least {min} characters"),
        ),
        Weakness::TooLong => Message::new("新しいパスワードが長すぎます。", "the new password is too long"),
        Weakness::Guessable => Message::new(
            "新しいパスワードは推測されやすい（よく使われる・漏えいしたものに似ている）ため使えません。長い文を使ってください。",
            "the new password is too easy to guess (common or breached-looking); use a longer phrase",
        ),
        Weakness::ContainsPersonalData => Message::new(
            "新しいパスワードにログインIDや氏名を含めないでください。",
            "the new password must not contain your login ID or name",
        ),
    }
}

/// Changes the password (the one-time password from `init` must be changed this way).
#[utoipa::path(post, path = "/api/v1/me/password", tag = "session", request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; other sessions of the user are ended"),
        (status = 400, description = "The new password is refused (too short, guessable, personal)", body = crate::error::ErrorEnvelope),
        (status = 401, description = "Wrong current password, or no full session", body = crate::error::ErrorEnvelope),
        (status = 423, description = "The session is idle-locked", body = crate::error::ErrorEnvelope)
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    password_change_step(&state, &auth, &req.current_password, &req.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the password, shared by the API and the pages.
pub(crate) async fn password_change_step(
    state: &AppState,
    auth: &Authenticated,
    current_password: &str,
    new_password: &str,
) -> Result<(), ApiError> {
    if current_password.len() > MAX_PASSWORD_BYTES || new_password.len() > MAX_PASSWORD_BYTES {
        return Err(too_long("password"));
    }
    let user = &auth.user;
    let key = throttle_key(user.login_id.as_str());
    let throttle = gate(state, &key).await?;
    if !password_matches(state, user, current_password) {
        return Err(fail(state, &key, throttle.as_ref(), Some(user), "password.change").await);
    }
    if new_password == current_password {
        return Err(ApiError::bad_request(Message::new(
            "新しいパスワードは現在のものと違うものにしてください。",
            "the new password must differ from the current one",
        )));
    }
    let personal = [user.login_id.as_str(), user.display_name.as_str()];
    mamori_crypto::strength::check(new_password, state.config.get().password.min_length, &personal)
        .map_err(|w| ApiError::bad_request(weakness_message(&w)))?;
    let hash = state.passwords.hasher.hash(&Secret::new(new_password), &mut rand_core::OsRng).map_err(|e| {
        tracing::error!(error = %e, "hashing failed");
        ApiError::internal()
    })?;
    let mut tx = state.store.begin().await?;
    tx.set_password(user.institution_id, user.id, hash.as_phc(), false).await?;
    tx.clear_throttle(&key).await?;
    tx.delete_user_sessions(user.institution_id, user.id).await?;
    tx.create_session(&auth.session).await?;
    audit::commit_with(tx, audit::by(state, user, "password.change", Outcome::Allowed)).await?;
    tracing::info!(institution = %user.institution_id, user = %user.id, "password changed; other sessions ended");
    Ok(())
}

/// Logs out (also from a locked or pending session).
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204, description = "The session is gone and its cookie cleared")))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(loaded) = auth::load(&state, &headers).await? {
        let user = state.store.user(loaded.record.institution, loaded.record.user).await?;
        let mut tx = state.store.begin().await?;
        tx.delete_session(loaded.record.institution, &loaded.record.token_hash).await?;
        match user {
            Some(user) => audit::commit_with(tx, audit::by(&state, &user, "logout", Outcome::Allowed)).await?,
            None => tx.commit().await?,
        }
    }
    Ok(with_cookie(StatusCode::NO_CONTENT.into_response(), auth::clear_cookie(state.tls)))
}
