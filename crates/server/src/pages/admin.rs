//! Administration pages (Japanese first): the user-ID ledger with the access review's
//! findings, creating accounts (the one-time password shown once), enabling, disabling and
//! retiring them; and the sealed emergency accounts with the second person's activation form.
//! Each form calls the same step function as the JSON API.

use super::login::{
    PageAuth, VERSION, csrf, csrf_ok, csrf_refused, lang_of, lock_page, message_page, page_auth, see_other, text,
    with_cookies,
};
use super::render;
use crate::api::sealed::{ActivateRequest, activate_step};
use crate::api::users::{CreateUser, LedgerEntry, create_step, ledger_step, status_step};
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::i18n::{Lang, Texts};
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mamori_core::{JobType, Role};
use serde::Deserialize;

/// A signed-in, ready user for an administration page, or the response to send instead.
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Box<Authenticated>, Response> {
    match page_auth(state, headers).await {
        PageAuth::Active(a) if a.user.password_change_required => Err(see_other("/password")),
        PageAuth::Active(a) => Ok(a),
        PageAuth::Locked => Err(lock_page(state, headers, StatusCode::LOCKED, None)),
        PageAuth::None => Err(see_other("/login")),
    }
}

/// A refused step as a page: 403 and friends get the message page, nothing else changes.
fn refused(state: &AppState, lang: Lang, e: &ApiError) -> Response {
    let heading = if lang == Lang::Ja { "この操作はできません" } else { "This action is not available" };
    message_page(state, lang, e.status(), heading, &text(lang, e), "/")
}

fn label<T: Copy>(lang: Lang, value: T, ja: fn(T) -> &'static str, en: fn(T) -> &'static str) -> &'static str {
    if lang == Lang::Ja { ja(value) } else { en(value) }
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    emergency: Option<String>,
    users: Vec<LedgerEntry>,
    findings: Vec<String>,
    job_types: Vec<(&'static str, &'static str)>,
    roles: Vec<(&'static str, &'static str)>,
    created: Option<(String, String)>,
    error: Option<String>,
}

async fn users_page(
    state: &AppState,
    headers: &HeaderMap,
    a: &Authenticated,
    status: StatusCode,
    created: Option<(String, String)>,
    error: Option<String>,
) -> Response {
    let lang = lang_of(headers);
    let ledger = match ledger_step(state, a).await {
        Ok(l) => l,
        Err(e) => return refused(state, lang, &e),
    };
    let (token, cookie) = csrf(headers, state.tls);
    let page = UsersPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        csrf: token,
        emergency: a.emergency_banner(lang, state.clock.now()),
        users: ledger.users,
        findings: ledger.findings,
        job_types: JobType::ALL
            .iter()
            .map(|j| (j.as_str(), label(lang, *j, JobType::label_ja, JobType::as_str)))
            .collect(),
        roles: Role::ALL.iter().map(|r| (r.as_str(), label(lang, *r, Role::label_ja, Role::as_str))).collect(),
        created,
        error,
    };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

/// `GET /admin/users`
pub async fn users(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match signed_in(&state, &headers).await {
        Ok(a) => users_page(&state, &headers, &a, StatusCode::OK, None, None).await,
        Err(response) => response,
    }
}

/// The new-account form. Roles arrive as repeated `roles` fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateForm {
    csrf: String,
    login_id: String,
    display_name: String,
    job_type: String,
    roles: Vec<String>,
}

/// `POST /admin/users`
pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let lang = lang_of(&headers);
    // Repeated fields (`roles=a&roles=b`) need a list-aware parser.
    let form = parse_create_form(&body);
    if !csrf_ok(&headers, state.tls, &form.csrf) {
        return csrf_refused(&state, lang, "/admin/users");
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    let req = CreateUser {
        login_id: form.login_id,
        display_name: form.display_name,
        job_type: form.job_type,
        roles: form.roles,
    };
    match create_step(&state, &a, &req).await {
        Ok(created) => {
            let shown = (created.user.login_id, created.one_time_password);
            users_page(&state, &headers, &a, StatusCode::CREATED, Some(shown), None).await
        }
        Err(e) if e.status() == StatusCode::FORBIDDEN => refused(&state, lang, &e),
        Err(e) => users_page(&state, &headers, &a, e.status(), None, Some(text(lang, &e))).await,
    }
}

fn parse_create_form(body: &[u8]) -> CreateForm {
    let mut form = CreateForm::default();
    for (key, value) in form_urlencoded_pairs(body) {
        match key.as_str() {
            "csrf" => form.csrf = value,
            "login_id" => form.login_id = value,
            "display_name" => form.display_name = value,
            "job_type" => form.job_type = value,
            "roles" if form.roles.len() < Role::ALL.len() + 1 => form.roles.push(value),
            _ => {}
        }
    }
    form
}

/// `application/x-www-form-urlencoded` pairs, repeated keys kept.
fn form_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default()
}

/// The status form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatusForm {
    csrf: String,
    login_id: String,
    status: String,
}

/// `POST /admin/users/status`
pub async fn set_status(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<StatusForm>) -> Response {
    let lang = lang_of(&headers);
    if !csrf_ok(&headers, state.tls, &form.csrf) {
        return csrf_refused(&state, lang, "/admin/users");
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    match status_step(&state, &a, &form.login_id, &form.status).await {
        Ok(_) => see_other("/admin/users"),
        Err(e) if e.status() == StatusCode::FORBIDDEN && e.code() != "own_account" => refused(&state, lang, &e),
        Err(e) => users_page(&state, &headers, &a, e.status(), None, Some(text(lang, &e))).await,
    }
}

/// One sealed account on the page.
struct SealedRow {
    login_id: String,
    display_name: String,
    generation: u32,
    active: Option<String>,
}

#[derive(Template)]
#[template(path = "emergency_accounts.html")]
struct SealedPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    emergency: Option<String>,
    accounts: Vec<SealedRow>,
    done: Option<String>,
    error: Option<String>,
}

async fn sealed_page(
    state: &AppState,
    headers: &HeaderMap,
    a: &Authenticated,
    status: StatusCode,
    done: Option<String>,
    error: Option<String>,
) -> Response {
    let lang = lang_of(headers);
    let list = match crate::api::sealed::list_step(state, a).await {
        Ok(list) => list,
        Err(e) => return refused(state, lang, &e),
    };
    let accounts = list
        .into_iter()
        .map(|s| SealedRow {
            login_id: s.login_id,
            display_name: s.display_name,
            generation: s.generation,
            active: s.active.map(|x| {
                let until = x.expires_at.unwrap_or_default();
                if lang == Lang::Ja {
                    format!("使用中（使用者: {}、承認: {}、{} まで）", x.used_by, x.confirmed_by, until)
                } else {
                    format!("in use by {} (confirmed by {}) until {}", x.used_by, x.confirmed_by, until)
                }
            }),
        })
        .collect();
    let (token, cookie) = csrf(headers, state.tls);
    let page = SealedPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        csrf: token,
        emergency: a.emergency_banner(lang, state.clock.now()),
        accounts,
        done,
        error,
    };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

/// `GET /emergency-accounts`
pub async fn sealed(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match signed_in(&state, &headers).await {
        Ok(a) => sealed_page(&state, &headers, &a, StatusCode::OK, None, None).await,
        Err(response) => response,
    }
}

/// The activation form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActivateForm {
    csrf: String,
    login_id: String,
    used_by: String,
    reason: String,
    password: String,
    code: String,
}

/// `POST /emergency-accounts/activate`
pub async fn activate(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<ActivateForm>) -> Response {
    let lang = lang_of(&headers);
    if !csrf_ok(&headers, state.tls, &form.csrf) {
        return csrf_refused(&state, lang, "/emergency-accounts");
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    let req = ActivateRequest { used_by: form.used_by, reason: form.reason, password: form.password, code: form.code };
    match activate_step(&state, &a, &form.login_id, &req).await {
        Ok(activation) => {
            let done = if lang == Lang::Ja {
                format!(
                    "{} を有効化しました（使用者: {}）。封筒のパスワードと確認コードでログインできます。",
                    form.login_id, activation.used_by
                )
            } else {
                format!(
                    "{} is active (used by {}): the envelope's password and code now log in.",
                    form.login_id, activation.used_by
                )
            };
            sealed_page(&state, &headers, &a, StatusCode::CREATED, Some(done), None).await
        }
        Err(e) => sealed_page(&state, &headers, &a, e.status(), None, Some(text(lang, &e))).await,
    }
}
