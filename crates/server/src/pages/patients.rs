//! The patients pages (Japanese first): search by number, kanji or kana and register at
//! reception (`/patients`), and one patient's identity with every version (`/patients/{id}`).
//! Each calls the same step functions as the API, so every read is recorded the same way.

use super::login::{
    PageAuth, VERSION, csrf, csrf_ok, csrf_refused, lang_of, lock_page, message_page, page_auth, see_other, text,
    with_cookies,
};
use super::render;
use crate::api::patients::{
    PatientChange, PatientInput, PatientView, create_step, read_step, search_step, update_step, versions_step, view,
};
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

pub(super) async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Box<Authenticated>, Response> {
    match page_auth(state, headers).await {
        PageAuth::Active(a) if a.user.password_change_required => Err(see_other("/password")),
        PageAuth::Active(a) => Ok(a),
        PageAuth::Locked => Err(lock_page(state, headers, StatusCode::LOCKED, None)),
        PageAuth::None => Err(see_other("/login")),
    }
}

pub(super) fn refused(state: &AppState, lang: Lang, e: &ApiError) -> Response {
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

/// The identity form's fields (the API's names), the version it changes and why.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EditForm {
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
    version: String,
    reason: String,
}

impl EditForm {
    fn of(p: &PatientView) -> Self {
        Self {
            csrf: String::new(),
            number: p.number.clone(),
            family: p.family.clone(),
            given: p.given.clone(),
            family_kana: p.family_kana.clone(),
            given_kana: p.given_kana.clone(),
            birth_date: p.birth_date.clone(),
            sex: p.sex.clone(),
            phone: p.phone.clone().unwrap_or_default(),
            address: p.address.clone().unwrap_or_default(),
            version: p.version.to_string(),
            reason: String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "patient_edit.html")]
struct EditPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    emergency: Option<String>,
    id: String,
    /// The name as stored (the heading), whatever the form holds.
    current: String,
    form: EditForm,
    error: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn edit_page(
    state: &AppState,
    headers: &HeaderMap,
    a: &Authenticated,
    id: &str,
    current: String,
    form: EditForm,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let lang = lang_of(headers);
    let (token, cookie) = csrf(headers, state.tls);
    let page = EditPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        csrf: token,
        emergency: a.emergency_banner(lang, state.clock.now()),
        id: id.to_owned(),
        current,
        form,
        error,
    };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

/// `GET /patients/{id}/edit`: the identity form, filled with the current version.
pub async fn edit_form(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    let lang = lang_of(&headers);
    let patient = match read_step(&state, &a, &id).await {
        Ok(p) => view(&p),
        Err(e) => return refused(&state, lang, &e),
    };
    let current = format!("{} {}", patient.family, patient.given);
    edit_page(&state, &headers, &a, &patient.id, current, EditForm::of(&patient), StatusCode::OK, None)
}

/// `POST /patients/{id}/edit`: a new version of the identity with the reason; back to the
/// patient on success, the form with the message otherwise (a stale version says so).
pub async fn edit_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<EditForm>,
) -> Response {
    let lang = lang_of(&headers);
    if !csrf_ok(&headers, state.tls, &form.csrf) {
        return csrf_refused(&state, lang, &format!("/patients/{}/edit", id.trim()));
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    let Ok(version) = form.version.trim().parse::<u32>() else {
        let e = ApiError::bad_request(mamori_core::Message::new(
            "version: 版の指定が正しくありません。開き直してください。",
            "version: not a version number; reload the page",
        ));
        return refused(&state, lang, &e);
    };
    let change = PatientChange {
        patient: PatientInput {
            number: form.number.clone(),
            family: form.family.clone(),
            given: form.given.clone(),
            family_kana: form.family_kana.clone(),
            given_kana: form.given_kana.clone(),
            birth_date: form.birth_date.clone(),
            sex: form.sex.clone(),
            phone: Some(form.phone.clone()),
            address: Some(form.address.clone()),
        },
        version,
        reason: form.reason.clone(),
    };
    match update_step(&state, &a, &id, change).await {
        Ok(p) => see_other(&format!("/patients/{}", p.id)),
        Err(e) if e.status() == StatusCode::FORBIDDEN || e.status() == StatusCode::NOT_FOUND => {
            refused(&state, lang, &e)
        }
        Err(e) => {
            let current = match read_step(&state, &a, &id).await {
                Ok(p) => format!("{} {}", p.name.family, p.name.given),
                Err(read) => return refused(&state, lang, &read),
            };
            let message = if e.code() == "stale_version" {
                let more = if lang == Lang::Ja {
                    "（下の内容は送信したものです。開き直すと最新の登録内容が表示されます。）"
                } else {
                    " (The form shows what you sent; open the page again to see the current identity.)"
                };
                format!("{}{more}", text(lang, &e))
            } else {
                text(lang, &e)
            };
            edit_page(&state, &headers, &a, id.trim(), current, form, e.status(), Some(message))
        }
    }
}
