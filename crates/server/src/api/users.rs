//! Account administration: create, list (the ID ledger, JSON and CSV), change status, clear a
//! lockout, issue a re-enrollment pass. Every call needs a full session whose roles grant
//! `ManageUsers`, and acts only inside the caller's institution.

use super::rfc3339;
use super::session::{reauthenticate, throttle_key, too_long};
use crate::audit;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mamori_core::audit::Outcome;
use mamori_core::authz::{AdminAuthorized, AdminPermission, authorize_admin};
use mamori_core::factor::ReenrollPass;
use mamori_core::review::{Finding, review_account, too_many_administrators};
use mamori_core::{DisplayName, JobType, LoginId, Message, NewUser, Role, User, UserId, UserStatus};
use mamori_crypto::{OneTimePassword, token};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// `POST /api/v1/users`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// A new login ID (never used before, in any institution).
    pub login_id: String,
    /// The person's name.
    pub display_name: String,
    /// 職種: doctor, dentist, nurse, pharmacist, technician, clerk, manager, auditor.
    pub job_type: String,
    /// Roles: doctor, nurse, pharmacist, technician, clerk, system_admin, auditor.
    pub roles: Vec<String>,
}

/// A created account: its one-time password, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    /// The account.
    pub user: LedgerEntry,
    /// The one-time password to hand to the person; it must be changed at first login.
    pub one_time_password: String,
}

/// One row of the user-ID ledger (ID台帳).
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntry {
    /// Login ID.
    pub login_id: String,
    /// Name.
    pub display_name: String,
    /// 職種.
    pub job_type: String,
    /// Roles.
    pub roles: Vec<String>,
    /// active, disabled or retired.
    pub status: String,
    /// When the account was created (RFC 3339).
    pub created_at: Option<String>,
    /// The last successful login (RFC 3339), if any.
    pub last_login_at: Option<String>,
    /// What the access review found (codes such as `inactive:120d`, `role_not_for_job_type:doctor`).
    pub findings: Vec<String>,
}

/// `GET /api/v1/users`
#[derive(Debug, Serialize, ToSchema)]
pub struct Ledger {
    /// Every account of the institution, any status.
    pub users: Vec<LedgerEntry>,
    /// Institution-wide findings (e.g. too many administrators).
    pub findings: Vec<String>,
}

/// `POST /api/v1/users/{login_id}/status`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// active, disabled or retired (retired is final).
    pub status: String,
}

/// `POST /api/v1/users/{login_id}/reenroll`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReenrollRequest {
    /// Why (e.g. "スマートフォン紛失"), kept for review.
    pub reason: String,
    /// The administrator's own password (re-authentication).
    pub password: String,
    /// The administrator's own TOTP code.
    pub code: String,
}

/// An issued re-enrollment pass.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReenrollIssued {
    /// The pass, shown once: the user enters it after their password to enroll a new device.
    pub pass: String,
    /// When it stops working (RFC 3339).
    pub expires_at: Option<String>,
}

fn manage_users(auth: &Authenticated) -> Result<AdminAuthorized, ApiError> {
    auth.ready()?;
    authorize_admin(&auth.principal(), auth.user.institution_id, AdminPermission::ManageUsers).map_err(ApiError::denied)
}

fn entry(state: &AppState, user: &User, last_login: Option<OffsetDateTime>) -> LedgerEntry {
    let findings = review_account(user, last_login, state.clock.now(), state.config.get().accounts.inactive_after.0);
    LedgerEntry {
        login_id: user.login_id.to_string(),
        display_name: user.display_name.as_str().to_owned(),
        job_type: user.job_type.as_str().to_owned(),
        roles: user.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        status: user.status.as_str().to_owned(),
        created_at: rfc3339(user.created_at),
        last_login_at: last_login.and_then(rfc3339),
        findings: findings.iter().map(Finding::code).collect(),
    }
}

async fn target(state: &AppState, admin: &AdminAuthorized, login_id: &str) -> Result<User, ApiError> {
    let id = LoginId::parse(login_id).map_err(|_| ApiError::no_such("利用者", "user"))?;
    state.store.user_by_login_id(admin.institution(), &id).await?.ok_or_else(|| ApiError::no_such("利用者", "user"))
}

/// Creates an account with a one-time password; the person enrolls a second factor at first
/// login.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses(
        (status = 201, description = "Created; the one-time password is shown once", body = Created),
        (status = 400, description = "A field is invalid", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission to manage users", body = crate::error::ErrorEnvelope),
        (status = 409, description = "The login ID is taken or was used before", body = crate::error::ErrorEnvelope)
    ))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<Response, ApiError> {
    let body = create_step(&state, &auth, &req).await?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Account creation, shared by the API and the administration page.
pub(crate) async fn create_step(state: &AppState, auth: &Authenticated, req: &CreateUser) -> Result<Created, ApiError> {
    let admin = manage_users(auth)?;
    let field = |name: &str, m: Message| {
        ApiError::bad_request(Message::new(format!("{name}: {}", m.ja), format!("{name}: {}", m.en)))
    };
    let login_id = LoginId::parse(&req.login_id).map_err(|m| field("login_id", m))?;
    let display_name = DisplayName::parse(&req.display_name).map_err(|m| field("display_name", m))?;
    let job_type: JobType = req.job_type.parse().map_err(|m| field("job_type", m))?;
    if req.roles.len() > Role::ALL.len() {
        return Err(too_long("roles"));
    }
    let mut roles = Vec::new();
    for text in &req.roles {
        let role: Role = text.parse().map_err(|m| field("roles", m))?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    let password = OneTimePassword::generate(&mut rand_core::OsRng);
    let hash = state.passwords.hasher.hash(password.secret(), &mut rand_core::OsRng).map_err(|e| {
        tracing::error!(error = %e, "hashing failed");
        ApiError::internal()
    })?;
    let new = NewUser {
        id: UserId::generate(&mut rand_core::OsRng),
        login_id,
        display_name,
        job_type,
        roles,
        password_hash: hash.as_phc().to_owned(),
        password_change_required: true,
        created_at: mamori_core::clock::to_micros(state.clock.now()),
    };
    let mut tx = state.store.begin().await?;
    let user = match tx.create_user(admin.institution(), &new).await {
        Ok(user) => user,
        Err(mamori_store::StoreError::Conflict { .. }) => {
            return Err(ApiError::conflict(
                "login_id_taken",
                Message::new(
                    "このログインIDは使用中か、過去に使用されたため使えません（ログインIDは再利用できません）。",
                    "this login ID is in use or was used before (login IDs are never reused)",
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(institution = %admin.institution(), by = %admin.user(), user = %user.id, "account created");
    let event = audit::by(state, &auth.user, "user.create", Outcome::Allowed).resource(format!("user:{}", user.id));
    audit::commit_with(tx, event).await?;
    Ok(Created { user: entry(state, &user, None), one_time_password: password.secret().expose().to_owned() })
}

/// The user-ID ledger with the access review's findings.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses(
        (status = 200, description = "Every account of the institution", body = Ledger),
        (status = 403, description = "No permission to manage users", body = crate::error::ErrorEnvelope)
    ))]
pub async fn ledger(State(state): State<AppState>, auth: Authenticated) -> Result<Json<Ledger>, ApiError> {
    ledger_step(&state, &auth).await.map(Json)
}

/// The ledger, shared by the API, its CSV and the administration page.
pub(crate) async fn ledger_step(state: &AppState, auth: &Authenticated) -> Result<Ledger, ApiError> {
    let admin = manage_users(auth)?;
    let rows = state.store.user_ledger(admin.institution()).await?;
    let users: Vec<User> = rows.iter().map(|(u, _)| u.clone()).collect();
    let mut findings = Vec::new();
    if let Some(n) = too_many_administrators(&users) {
        findings.push(format!("too_many_administrators:{n}"));
    }
    Ok(Ledger { users: rows.iter().map(|(u, last)| entry(state, u, *last)).collect(), findings })
}

/// A CSV field: quoted when needed, and protected against spreadsheet formula injection.
fn csv_field(value: &str) -> String {
    let guarded =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
    if guarded.contains([',', '"', '\n', '\r']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}

/// The user-ID ledger as CSV (UTF-8 with BOM, so spreadsheet software reads the Japanese).
#[utoipa::path(get, path = "/api/v1/users/ledger.csv", tag = "users",
    responses(
        (status = 200, description = "The ledger as CSV", content_type = "text/csv", body = String),
        (status = 403, description = "No permission to manage users", body = crate::error::ErrorEnvelope)
    ))]
pub async fn ledger_csv(State(state): State<AppState>, auth: Authenticated) -> Result<Response, ApiError> {
    let ledger = ledger_step(&state, &auth).await?;
    let mut out =
        String::from("\u{feff}login_id,display_name,job_type,roles,status,created_at,last_login_at,findings\r\n");
    for e in &ledger.users {
        let row = [
            csv_field(&e.login_id),
            csv_field(&e.display_name),
            csv_field(&e.job_type),
            csv_field(&e.roles.join(" ")),
            csv_field(&e.status),
            csv_field(e.created_at.as_deref().unwrap_or("")),
            csv_field(e.last_login_at.as_deref().unwrap_or("")),
            csv_field(&e.findings.join(" ")),
        ];
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"user-ledger.csv\""),
        ],
        out,
    )
        .into_response())
}

/// Enables, disables or retires an account. Retired is final and its login ID is never reused.
#[utoipa::path(post, path = "/api/v1/users/{login_id}/status", tag = "users", request_body = StatusChange,
    params(("login_id" = String, Path, description = "The account's login ID")),
    responses(
        (status = 200, description = "Changed; a disabled or retired account's sessions end", body = LedgerEntry),
        (status = 400, description = "Unknown status", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission, or one's own account", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such account in this institution", body = crate::error::ErrorEnvelope),
        (status = 409, description = "The account is retired", body = crate::error::ErrorEnvelope)
    ))]
pub async fn set_status(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(login_id): Path<String>,
    ApiJson(req): ApiJson<StatusChange>,
) -> Result<Json<LedgerEntry>, ApiError> {
    status_step(&state, &auth, &login_id, &req.status).await.map(Json)
}

/// A status change, shared by the API and the administration page.
pub(crate) async fn status_step(
    state: &AppState,
    auth: &Authenticated,
    login_id: &str,
    status: &str,
) -> Result<LedgerEntry, ApiError> {
    let admin = manage_users(auth)?;
    let status: UserStatus = status.parse().map_err(ApiError::bad_request)?;
    let user = target(state, &admin, login_id).await?;
    if user.id == admin.user() {
        return Err(ApiError::forbidden(
            "own_account",
            Message::new("自分自身のアカウントの状態は変更できません。", "you cannot change your own account's status"),
        ));
    }
    let mut tx = state.store.begin().await?;
    match tx.set_user_status(admin.institution(), user.id, status).await {
        Ok(()) => {}
        Err(mamori_store::StoreError::Conflict { .. }) => {
            return Err(ApiError::conflict(
                "retired",
                Message::new("退職済みのアカウントは変更できません。", "a retired account cannot be changed"),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    if status != UserStatus::Active {
        tx.delete_user_sessions(admin.institution(), user.id).await?;
    }
    tracing::info!(institution = %admin.institution(), by = %admin.user(), user = %user.id, status = status.as_str(), "account status changed");
    let event = audit::by(state, &auth.user, "user.status", Outcome::Allowed)
        .resource(format!("user:{}", user.id))
        .detail("status", status.as_str());
    audit::commit_with(tx, event).await?;
    let updated = state.store.user(admin.institution(), user.id).await?.ok_or_else(ApiError::internal)?;
    Ok(entry(state, &updated, None))
}

/// Clears a login lockout before its window ends.
#[utoipa::path(post, path = "/api/v1/users/{login_id}/unlock", tag = "users",
    params(("login_id" = String, Path, description = "The account's login ID")),
    responses(
        (status = 204, description = "The failure counter is cleared"),
        (status = 403, description = "No permission to manage users", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such account in this institution", body = crate::error::ErrorEnvelope)
    ))]
pub async fn unlock(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(login_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let admin = manage_users(&auth)?;
    let user = target(&state, &admin, &login_id).await?;
    let mut tx = state.store.begin().await?;
    tx.clear_throttle(&throttle_key(user.login_id.as_str())).await?;
    tracing::info!(institution = %admin.institution(), by = %admin.user(), user = %user.id, "lockout cleared by an administrator");
    let event = audit::by(&state, &auth.user, "user.unlock", Outcome::Allowed).resource(format!("user:{}", user.id));
    audit::commit_with(tx, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a single-use, time-limited re-enrollment pass for a user who lost their device
/// (MDS 4.1.2). The administrator re-authenticates with their own password and code and states
/// a reason.
#[utoipa::path(post, path = "/api/v1/users/{login_id}/reenroll", tag = "users", request_body = ReenrollRequest,
    params(("login_id" = String, Path, description = "The account's login ID")),
    responses(
        (status = 201, description = "The pass, shown once", body = ReenrollIssued),
        (status = 400, description = "No reason given, or a field too long", body = crate::error::ErrorEnvelope),
        (status = 401, description = "The administrator's re-authentication failed", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission to manage users", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such account in this institution", body = crate::error::ErrorEnvelope)
    ))]
pub async fn reenroll(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(login_id): Path<String>,
    ApiJson(req): ApiJson<ReenrollRequest>,
) -> Result<Response, ApiError> {
    let admin = manage_users(&auth)?;
    let reason = req.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::bad_request(Message::new("理由を入力してください。", "give a reason")));
    }
    if reason.chars().count() > 500 || req.password.len() > 1024 || req.code.chars().count() > 32 {
        return Err(too_long("reason/password/code"));
    }
    let user = target(&state, &admin, &login_id).await?;
    reauthenticate(&state, &auth.user, &req.password, &req.code).await?;
    let pass = token::recovery_code(&mut rand_core::OsRng);
    let now = state.clock.now();
    let record = ReenrollPass {
        institution: admin.institution(),
        user: user.id,
        pass_hash: token::recovery_code_hash(&pass),
        issued_by: admin.user(),
        reason: reason.to_owned(),
        issued_at: now,
        expires_at: now + state.config.get().accounts.reenroll_pass_ttl.0,
        used_at: None,
    };
    let mut tx = state.store.begin().await?;
    tx.create_reenroll_pass(&record).await?;
    tracing::warn!(institution = %admin.institution(), by = %admin.user(), user = %user.id, "re-enrollment pass issued");
    let event =
        audit::by(&state, &auth.user, "user.reenroll_pass", Outcome::Allowed).resource(format!("user:{}", user.id));
    audit::commit_with(tx, event).await?;
    Ok((StatusCode::CREATED, Json(ReenrollIssued { pass, expires_at: rfc3339(record.expires_at) })).into_response())
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formula_guarded() {
        assert_eq!(csv_field("山田"), "山田");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
    }
}
