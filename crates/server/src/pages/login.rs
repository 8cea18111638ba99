//! The login flow as Japanese-first web pages: the same steps as the JSON API (the shared
//! functions in `api::session`), HTML forms with CSRF tokens, the lock screen and the home page.

use super::{LangQuery, render};
use crate::api::session::{self as steps, Factor};
use crate::auth::{self, Authenticated};
use crate::error::ApiError;
use crate::i18n::{Lang, Texts};
use crate::state::AppState;
use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use mamori_core::authz::AdminPermission;
use serde::Deserialize;

pub(super) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The CSRF cookie (double submit: the form's hidden field must equal it).
const fn csrf_cookie(tls: bool) -> &'static str {
    if tls { "__Host-mamori_csrf" } else { "mamori_csrf" }
}

/// The CSRF token for a form: the existing cookie's, or a new one to be set.
pub(super) fn csrf(headers: &HeaderMap, tls: bool) -> (String, Option<HeaderValue>) {
    if let Some(existing) = crate::cookies::get(headers, csrf_cookie(tls)) {
        return (existing.to_owned(), None);
    }
    let token = mamori_crypto::token::random_token(&mut rand_core::OsRng);
    let secure = if tls { "; Secure" } else { "" };
    let cookie =
        HeaderValue::from_str(&format!("{}={token}; Path=/; HttpOnly; SameSite=Strict{secure}", csrf_cookie(tls))).ok();
    (token, cookie)
}

pub(super) fn csrf_ok(headers: &HeaderMap, tls: bool, submitted: &str) -> bool {
    crate::cookies::get(headers, csrf_cookie(tls)).is_some_and(|c| mamori_crypto::token::secrets_equal(c, submitted))
}

pub(super) fn lang_of(headers: &HeaderMap) -> Lang {
    Lang::negotiate(None, headers).0
}

pub(super) fn text(lang: Lang, e: &ApiError) -> String {
    let m = e.message();
    if lang == Lang::Ja { m.ja.clone() } else { m.en.clone() }
}

pub(super) fn with_cookies(mut response: Response, cookies: impl IntoIterator<Item = Option<HeaderValue>>) -> Response {
    for v in cookies.into_iter().flatten() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

pub(super) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    heading: &'a str,
    text: &'a str,
    next: &'a str,
}

/// 403 for a form whose CSRF token is missing or wrong. Nothing was done.
pub(super) fn csrf_refused(state: &AppState, lang: Lang, next: &str) -> Response {
    let (heading, text) = if lang == Lang::Ja {
        (
            "フォームを受け付けられません",
            "フォームの有効期限が切れたか、正しくない送信です。ページを開き直して、もう一度お試しください。",
        )
    } else {
        ("The form was not accepted", "The form expired or was not sent from this site. Open the page again and retry.")
    };
    message_page(state, lang, StatusCode::FORBIDDEN, heading, text, next)
}

/// A page that says one thing (an error) and links onwards.
pub(super) fn message_page(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    heading: &str,
    text: &str,
    next: &str,
) -> Response {
    let page = MessagePage { lang: lang.tag(), t: lang.texts(), version: VERSION, heading, text, next };
    render(&page, status, lang, false, state.tls)
}

/// Form fields are optional at parse time so that a missing one is refused by the CSRF check
/// or the step's own validation with a clear message, never by a bare 422.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    csrf: String,
    login_id: String,
    password: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    error: Option<String>,
}

fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    set_lang: bool,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let (token, cookie) = csrf(headers, state.tls);
    let page = LoginPage { lang: lang.tag(), t: lang.texts(), version: VERSION, csrf: token, error };
    with_cookies(render(&page, status, lang, set_lang, state.tls), [cookie])
}

/// `GET /login`
pub async fn login_form(State(state): State<AppState>, Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    let (lang, set_lang) = Lang::negotiate(q.lang.as_deref(), &headers);
    login_page(&state, &headers, lang, set_lang, StatusCode::OK, None)
}

/// `POST /login`
pub async fn login_submit(
    State(state): State<AppState>,
    conn: Option<Extension<crate::serve::ConnInfo>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = lang_of(&headers);
    if !csrf_ok(&headers, state.tls, &form.csrf) {
        return csrf_refused(&state, lang, "/login");
    }
    let cert = conn.and_then(|c| c.0.client_cert_sha256);
    match steps::password_step(&state, &form.login_id, form.password, cert).await {
        Ok((step, token)) => {
            let to = if step.next == "enroll" { "/enroll" } else { "/login/code" };
            with_cookies(see_other(to), [auth::set_cookie(&token, state.tls)])
        }
        Err(e) => login_page(&state, &headers, lang, false, e.status(), Some(text(lang, &e))),
    }
}

#[derive(Template)]
#[template(path = "code.html")]
struct CodePage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    error: Option<String>,
}

fn code_page(state: &AppState, headers: &HeaderMap, status: StatusCode, error: Option<String>) -> Response {
    let lang = lang_of(headers);
    let (token, cookie) = csrf(headers, state.tls);
    let page = CodePage { lang: lang.tag(), t: lang.texts(), version: VERSION, csrf: token, error };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

/// `GET /login/code`
pub async fn code_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    code_page(&state, &headers, StatusCode::OK, None)
}

/// The code forms' fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    csrf: String,
    code: String,
}

async fn code_submit(state: AppState, headers: HeaderMap, form: CodeForm, factor: Factor) -> Response {
    let lang = lang_of(&headers);
    if !csrf_ok(&headers, state.tls, &form.csrf) {
        return csrf_refused(&state, lang, "/login/code");
    }
    match steps::second_factor(&state, &headers, factor, &form.code).await {
        Ok((user, token, _)) => {
            let to = if user.password_change_required { "/password" } else { "/" };
            with_cookies(see_other(to), [auth::set_cookie(&token, state.tls)])
        }
        Err(e) if e.code() == "unauthenticated" => see_other("/login"),
        Err(e) => code_page(&state, &headers, e.status(), Some(text(lang, &e))),
    }
}

/// `POST /login/code`
pub async fn code_submit_totp(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    code_submit(state, headers, form, Factor::Totp).await
}

/// `POST /login/recovery`
pub async fn code_submit_recovery(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    code_submit(state, headers, form, Factor::Recovery).await
}

/// `POST /login/reenroll`: a re-enrollment pass, then the enrollment page.
pub async fn reenroll_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let lang = lang_of(&headers);
    if !csrf_ok(&headers, state.tls, &form.csrf) {
        return csrf_refused(&state, lang, "/login/code");
    }
    match steps::reenroll_step(&state, &headers, &form.code).await {
        Ok(_) => see_other("/enroll"),
        Err(e) if e.code() == "unauthenticated" => see_other("/login"),
        Err(e) => code_page(&state, &headers, e.status(), Some(text(lang, &e))),
    }
}

#[derive(Template)]
#[template(path = "enroll.html")]
struct EnrollPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    error: Option<String>,
    qr_svg: String,
    secret: String,
}

async fn enroll_page(state: &AppState, headers: &HeaderMap, status: StatusCode, error: Option<String>) -> Response {
    let lang = lang_of(headers);
    let enrollment = match steps::start_enrollment(state, headers).await {
        Ok(e) => e,
        Err(_) => return see_other("/login"),
    };
    let (token, cookie) = csrf(headers, state.tls);
    let page = EnrollPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        csrf: token,
        error,
        qr_svg: enrollment.qr_svg,
        secret: enrollment.secret_base32,
    };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

/// `GET /enroll`: a fresh secret and its QR code.
pub async fn enroll_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    enroll_page(&state, &headers, StatusCode::OK, None).await
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    codes: Vec<String>,
}

/// `POST /enroll`: the first code; then the recovery codes, shown once.
pub async fn enroll_submit(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<CodeForm>) -> Response {
    let lang = lang_of(&headers);
    if !csrf_ok(&headers, state.tls, &form.csrf) {
        return csrf_refused(&state, lang, "/enroll");
    }
    match steps::finish_enrollment(&state, &headers, &form.code).await {
        Ok((enrolled, token)) => {
            let page = RecoveryCodesPage {
                lang: lang.tag(),
                t: lang.texts(),
                version: VERSION,
                codes: enrolled.recovery_codes,
            };
            with_cookies(render(&page, StatusCode::OK, lang, false, state.tls), [auth::set_cookie(&token, state.tls)])
        }
        Err(e) if e.code() == "unauthenticated" => see_other("/login"),
        // A wrong code: a new secret is shown (the old one is replaced), with the message.
        Err(e) => enroll_page(&state, &headers, e.status(), Some(text(lang, &e))).await,
    }
}

/// What a page request's session amounts to.
pub(super) enum PageAuth {
    Active(Box<Authenticated>),
    Locked,
    None,
}

pub(super) async fn page_auth(state: &AppState, headers: &HeaderMap) -> PageAuth {
    let mut parts = match axum::http::Request::builder().body(()) {
        Ok(req) => req.into_parts().0,
        Err(_) => return PageAuth::None,
    };
    parts.headers = headers.clone();
    match Authenticated::from_request_parts(&mut parts, state).await {
        Ok(a) => PageAuth::Active(Box::new(a)),
        Err(e) if e.code() == "session_locked" => PageAuth::Locked,
        Err(_) => PageAuth::None,
    }
}

#[derive(Template)]
#[template(path = "lock.html")]
struct LockPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    error: Option<String>,
}

/// The lock screen (423): shows nothing but the unlock form.
pub(super) fn lock_page(state: &AppState, headers: &HeaderMap, status: StatusCode, error: Option<String>) -> Response {
    let lang = lang_of(headers);
    let (token, cookie) = csrf(headers, state.tls);
    let page = LockPage { lang: lang.tag(), t: lang.texts(), version: VERSION, csrf: token, error };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    display_name: String,
    login_id: String,
    job_type: String,
    roles: String,
    last_login: Option<String>,
    failures: u32,
    emergency: Option<String>,
    can_manage_users: bool,
    can_emergency: bool,
    can_compliance: bool,
    can_audit: bool,
}

/// `GET /` for a logged-in user; the lock screen when locked; `None` otherwise.
pub async fn home(state: &AppState, headers: &HeaderMap, lang: Lang, set_lang: bool) -> Option<Response> {
    match page_auth(state, headers).await {
        PageAuth::Locked => Some(lock_page(state, headers, StatusCode::LOCKED, None)),
        PageAuth::None => None,
        PageAuth::Active(a) if a.user.password_change_required => Some(see_other("/password")),
        PageAuth::Active(a) => {
            let (token, cookie) = csrf(headers, state.tls);
            let last_login = a.session.previous_login_at.map(|t| {
                let jst = t.to_offset(time::macros::offset!(+9));
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02} JST",
                    jst.year(),
                    u8::from(jst.month()),
                    jst.day(),
                    jst.hour(),
                    jst.minute()
                )
            });
            let page = HomePage {
                lang: lang.tag(),
                t: lang.texts(),
                version: VERSION,
                csrf: token,
                display_name: a.user.display_name.as_str().to_owned(),
                login_id: a.user.login_id.to_string(),
                job_type: if lang == Lang::Ja { a.user.job_type.label_ja() } else { a.user.job_type.as_str() }
                    .to_owned(),
                roles: a
                    .user
                    .roles
                    .iter()
                    .map(|r| if lang == Lang::Ja { r.label_ja() } else { r.as_str() })
                    .collect::<Vec<_>>()
                    .join(if lang == Lang::Ja { "、" } else { ", " }),
                last_login,
                failures: a.session.failures_since_previous,
                emergency: a.emergency_banner(lang, state.clock.now()),
                can_manage_users: a.may(AdminPermission::ManageUsers),
                can_emergency: a.may(AdminPermission::EmergencyAccess) || a.may(AdminPermission::ReviewEmergency),
                can_compliance: a.may(AdminPermission::ReadCompliance),
                can_audit: a.may(AdminPermission::ReadAudit),
            };
            Some(with_cookies(render(&page, StatusCode::OK, lang, set_lang, state.tls), [cookie]))
        }
    }
}

/// The unlock form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UnlockForm {
    csrf: String,
    password: String,
    code: String,
}

/// `POST /unlock`
pub async fn unlock_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<UnlockForm>,
) -> Response {
    let lang = lang_of(&headers);
    if !csrf_ok(&headers, state.tls, &form.csrf) {
        return csrf_refused(&state, lang, "/");
    }
    match steps::unlock_step(&state, &headers, &form.password, &form.code).await {
        Ok(_) => see_other("/"),
        Err(e) if e.code() == "unauthenticated" => see_other("/login"),
        Err(e) => lock_page(&state, &headers, e.status(), Some(text(lang, &e))),
    }
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    error: Option<String>,
    required: bool,
    login_id: String,
    min_length: usize,
    emergency: Option<String>,
}

fn password_page(
    state: &AppState,
    headers: &HeaderMap,
    a: &Authenticated,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let lang = lang_of(headers);
    let (token, cookie) = csrf(headers, state.tls);
    let page = PasswordPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        csrf: token,
        error,
        required: a.user.password_change_required,
        login_id: a.user.login_id.to_string(),
        min_length: state.config.get().password.min_length,
        emergency: a.emergency_banner(lang, state.clock.now()),
    };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

/// `GET /password`
pub async fn password_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match page_auth(&state, &headers).await {
        PageAuth::Active(a) => password_page(&state, &headers, &a, StatusCode::OK, None),
        PageAuth::Locked => lock_page(&state, &headers, StatusCode::LOCKED, None),
        PageAuth::None => see_other("/login"),
    }
}

/// The password form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    csrf: String,
    current_password: String,
    new_password: String,
}

/// `POST /password`
pub async fn password_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let lang = lang_of(&headers);
    if !csrf_ok(&headers, state.tls, &form.csrf) {
        return csrf_refused(&state, lang, "/password");
    }
    let a = match page_auth(&state, &headers).await {
        PageAuth::Active(a) => a,
        PageAuth::Locked => return lock_page(&state, &headers, StatusCode::LOCKED, None),
        PageAuth::None => return see_other("/login"),
    };
    match steps::password_change_step(&state, &a, &form.current_password, &form.new_password).await {
        Ok(()) => see_other("/"),
        Err(e) => password_page(&state, &headers, &a, e.status(), Some(text(lang, &e))),
    }
}

/// The logout form's field.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogoutForm {
    csrf: String,
}

/// `POST /logout`
pub async fn logout_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let lang = lang_of(&headers);
    if !csrf_ok(&headers, state.tls, &form.csrf) {
        return csrf_refused(&state, lang, "/");
    }
    if let Ok(Some(loaded)) = auth::load(&state, &headers).await
        && let Err(e) = state.store.delete_session(loaded.record.institution, &loaded.record.token_hash).await
    {
        tracing::error!(error = %e, "logout failed");
    }
    with_cookies(see_other("/login"), [auth::clear_cookie(state.tls)])
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    available: bool,
    keys: Vec<(String, String)>,
    emergency: Option<String>,
}

/// `GET /security-keys`: register a security key or passkey (the ceremony runs in
/// `/static/webauthn.js` against the JSON API).
pub async fn keys_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let a = match page_auth(&state, &headers).await {
        PageAuth::Active(a) if a.user.password_change_required => return see_other("/password"),
        PageAuth::Active(a) => a,
        PageAuth::Locked => return lock_page(&state, &headers, StatusCode::LOCKED, None),
        PageAuth::None => return see_other("/login"),
    };
    let lang = lang_of(&headers);
    let keys = match state.store.webauthn_credentials(a.user.institution_id, a.user.id).await {
        Ok(list) => list
            .into_iter()
            .map(|k| {
                let jst = k.created_at.to_offset(time::macros::offset!(+9));
                (k.name, format!("{:04}-{:02}-{:02}", jst.year(), u8::from(jst.month()), jst.day()))
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "cannot list security keys");
            Vec::new()
        }
    };
    let page = KeysPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        available: state.webauthn.is_some(),
        keys,
        emergency: a.emergency_banner(lang, state.clock.now()),
    };
    render(&page, StatusCode::OK, lang, false, state.tls)
}
