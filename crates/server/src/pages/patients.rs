//! The patients pages (Japanese first): search by number, kanji or kana and register at
//! reception (`/patients`), and one patient's identity with every version (`/patients/{id}`).
//! Each calls the same step functions as the API, so every read is recorded the same way.

use super::login::{
    PageAuth, VERSION, csrf, csrf_ok, csrf_refused, lang_of, lock_page, message_page, page_auth, see_other, text,
    with_cookies,
};
use super::render;
use crate::api::patients::{PatientInput, PatientView, create_step, read_step, search_step, versions_step, view};
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::i18n::{Lang, Texts};
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Box<Authenticated>, Response> {
    match page_auth(state, headers).await {
        PageAuth::Active(a) if a.user.password_change_required => Err(see_other("/password")),
        PageAuth::Active(a) => Ok(a),
        PageAuth::Locked => Err(lock_page(state, headers, StatusCode::LOCKED, None)),
        PageAuth::None => Err(see_other("/login")),
    }
}

fn refused(state: &AppState, lang: Lang, e: &ApiError) -> Response {
    let heading = if lang == Lang::Ja { "この操作はできません" } else { "This action is not available" };
    message_page(state, lang, e.status(), heading, &text(lang, e), "/")
}

/// `?q=` on the list.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchForm {
    q: String,
}

#[derive(Template)]
#[template(path = "patients.html")]
struct ListPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    emergency: Option<String>,
    q: String,
    searched: bool,
    patients: Vec<PatientView>,
    created: Option<String>,
    error: Option<String>,
}

async fn list_page(
    state: &AppState,
    headers: &HeaderMap,
    a: &Authenticated,
    q: &str,
    status: StatusCode,
    created: Option<String>,
    error: Option<String>,
) -> Response {
    let lang = lang_of(headers);
    let (patients, error, status) = if q.trim().is_empty() {
        (Vec::new(), error, status)
    } else {
        match search_step(state, a, q).await {
            Ok(found) => (found.iter().map(view).collect(), error, status),
            Err(e) if e.status() == StatusCode::FORBIDDEN => return refused(state, lang, &e),
            Err(e) => (Vec::new(), Some(text(lang, &e)), e.status()),
        }
    };
    let (token, cookie) = csrf(headers, state.tls);
    let page = ListPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        csrf: token,
        emergency: a.emergency_banner(lang, state.clock.now()),
        q: q.to_owned(),
        searched: !q.trim().is_empty(),
        patients,
        created,
        error,
    };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

/// `GET /patients`
pub async fn list(State(state): State<AppState>, headers: HeaderMap, Query(form): Query<SearchForm>) -> Response {
    match signed_in(&state, &headers).await {
        Ok(a) => list_page(&state, &headers, &a, &form.q, StatusCode::OK, None, None).await,
        Err(response) => response,
    }
}

/// The registration form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegisterForm {
    csrf: String,
    number: String,
    family: String,
    given: String,
    family_kana: String,
    given_kana: String,
    birth_date: String,
    sex: String,
    phone: String,
    address: String,
}

/// `POST /patients`
pub async fn register(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<RegisterForm>) -> Response {
    let lang = lang_of(&headers);
    if !csrf_ok(&headers, state.tls, &form.csrf) {
        return csrf_refused(&state, lang, "/patients");
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    let input = PatientInput {
        number: form.number,
        family: form.family,
        given: form.given,
        family_kana: form.family_kana,
        given_kana: form.given_kana,
        birth_date: form.birth_date,
        sex: form.sex,
        phone: Some(form.phone),
        address: Some(form.address),
    };
    match create_step(&state, &a, &input).await {
        Ok(p) => {
            let done = if lang == Lang::Ja {
                format!("{}（{} {}）を登録しました。", p.number.as_str(), p.name.family, p.name.given)
            } else {
                format!("Registered {} ({} {}).", p.number.as_str(), p.name.family, p.name.given)
            };
            let q = p.number.as_str().to_owned();
            list_page(&state, &headers, &a, &q, StatusCode::CREATED, Some(done), None).await
        }
        Err(e) if e.status() == StatusCode::FORBIDDEN => refused(&state, lang, &e),
        Err(e) => list_page(&state, &headers, &a, "", e.status(), None, Some(text(lang, &e))).await,
    }
}

#[derive(Template)]
#[template(path = "patient.html")]
struct PatientPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    emergency: Option<String>,
    patient: PatientView,
    versions: Vec<(PatientView, Option<String>)>,
}

/// `GET /patients/{id}`
pub async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    let lang = lang_of(&headers);
    let patient = match read_step(&state, &a, &id).await {
        Ok(p) => p,
        Err(e) => return refused(&state, lang, &e),
    };
    let versions = match versions_step(&state, &a, patient.id).await {
        Ok(all) => all.iter().map(|(p, reason)| (view(p), reason.clone())).collect(),
        Err(e) => return refused(&state, lang, &e),
    };
    let page = PatientPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        emergency: a.emergency_banner(lang, state.clock.now()),
        patient: view(&patient),
        versions,
    };
    render(&page, StatusCode::OK, lang, false, state.tls)
}
