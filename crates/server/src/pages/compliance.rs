//! The compliance workbench's pages (Japanese first): the assessments (`/compliance`: list and
//! start, carrying last year's over) and one assessment (`/compliance/{id}`: every item with
//! its state, owner, dates, notes, evidence and mamori's live evidence; forms to change an item
//! and to add a link as evidence). The same steps as the API ([`crate::assessments`]).

use super::login::{VERSION, csrf, csrf_ok, csrf_refused, lang_of, message_page, see_other, text, with_cookies};
use super::patients::signed_in;
use super::render;
use crate::api::assessments::{EvidenceView, ItemView, catalog_items, date, evidence_view, item_view, user};
use crate::assessments::{self, ItemChange, Manager, NewAssessment};
use crate::error::ApiError;
use crate::i18n::{Lang, Texts};
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mamori_core::assessment::{Evidence, EvidenceKind, ItemState, check_evidence};
use mamori_core::{AssessmentId, EvidenceId, Message};
use serde::Deserialize;
use std::str::FromStr;

fn refusal(state: &AppState, lang: Lang, e: &ApiError, back: &str) -> Response {
    let heading = if lang == Lang::Ja { "この操作はできません" } else { "This action is not available" };
    message_page(state, lang, e.status(), heading, &text(lang, e), back)
}

struct Row {
    id: String,
    title: String,
    catalog: String,
    period: String,
}

#[derive(Template)]
#[template(path = "compliance.html")]
struct ListPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    rows: Vec<Row>,
    error: Option<String>,
}

/// `GET /compliance`
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    list_page(&state, &headers, &Manager::of(&a), StatusCode::OK, None).await
}

async fn list_page(
    state: &AppState,
    headers: &HeaderMap,
    who: &Manager,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let lang = lang_of(headers);
    let all = match assessments::list(state.store.as_ref(), who).await {
        Ok(all) => all,
        Err(e) => return refusal(state, lang, &e, "/"),
    };
    let (token, cookie) = csrf(headers, state.tls);
    let page = ListPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        csrf: token,
        rows: all
            .iter()
            .map(|a| Row {
                id: a.id.to_string(),
                title: a.title.clone(),
                catalog: a.catalog.clone(),
                period: format!("{} 〜 {}", a.period_start, a.period_end),
            })
            .collect(),
        error,
    };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

/// The start form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StartForm {
    csrf: String,
    catalog: String,
    title: String,
    period_start: String,
    period_end: String,
    carry_over: Option<String>,
}

/// `POST /compliance`
pub async fn start(State(state): State<AppState>, headers: HeaderMap, Form(f): Form<StartForm>) -> Response {
    let lang = lang_of(&headers);
    if !csrf_ok(&headers, state.tls, &f.csrf) {
        return csrf_refused(&state, lang, "/compliance");
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let who = Manager::of(&a);
    let step = async {
        let required = |field: &str, v: &str| {
            date(field, Some(v))?.ok_or_else(|| {
                ApiError::bad_request(Message::new(
                    format!("{field}: 日付を入力してください。"),
                    format!("{field}: a date is required"),
                ))
            })
        };
        let new = NewAssessment {
            catalog: f.catalog.clone(),
            title: f.title.clone(),
            period_start: required("period_start", &f.period_start)?,
            period_end: required("period_end", &f.period_end)?,
            carry_over: f.carry_over.is_some(),
        };
        assessments::start(state.store.as_ref(), &who, state.clock.now(), new).await
    };
    match crate::records::guarded(&state, &a, "compliance.assessment.create", None, None, step).await {
        Ok((a, _)) => see_other(&format!("/compliance/{}", a.id)),
        Err(e) if e.status() == StatusCode::BAD_REQUEST => {
            list_page(&state, &headers, &who, e.status(), Some(text(lang, &e))).await
        }
        Err(e) => refusal(&state, lang, &e, "/compliance"),
    }
}

struct ItemBlock {
    view: ItemView,
    key: String,
    evidence: Vec<EvidenceView>,
    live: Option<(Vec<String>, bool)>,
}

#[derive(Template)]
#[template(path = "assessment.html")]
struct DetailPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    id: String,
    title: String,
    catalog: String,
    period: String,
    counts: Vec<(&'static str, usize)>,
    items: Vec<ItemBlock>,
    states: Vec<(&'static str, &'static str)>,
    error: Option<String>,
}

/// `GET /compliance/{id}`
pub async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    detail(&state, &headers, &Manager::of(&a), &id, StatusCode::OK, None).await
}

async fn detail(
    state: &AppState,
    headers: &HeaderMap,
    who: &Manager,
    id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let lang = lang_of(headers);
    let Ok(id) = id.parse::<AssessmentId>() else {
        return refusal(state, lang, &ApiError::no_such("点検", "assessment"), "/compliance");
    };
    let inactive = state.config.get().accounts.inactive_after.0;
    let v = match assessments::read(state.store.as_ref(), who, state.clock.now(), id, inactive).await {
        Ok(v) => v,
        Err(e) => return refusal(state, lang, &e, "/compliance"),
    };
    let catalog = catalog_items(&v.assessment.catalog);
    let prefix = format!("{}/", v.assessment.catalog);
    let items = v
        .items
        .iter()
        .map(|i| ItemBlock {
            view: item_view(i, &catalog),
            key: i.item.strip_prefix(&prefix).unwrap_or(&i.item).to_owned(),
            evidence: v.evidence.iter().filter(|e| e.item == i.item).map(evidence_view).collect(),
            live: v.live.iter().find(|l| l.item == i.item).map(|l| (l.lines.clone(), l.attention)),
        })
        .collect();
    let counts =
        ItemState::ALL.iter().map(|s| (s.label_ja(), v.items.iter().filter(|i| i.state == *s).count())).collect();
    let (token, cookie) = csrf(headers, state.tls);
    let page = DetailPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        csrf: token,
        id: id.to_string(),
        title: v.assessment.title.clone(),
        catalog: v.assessment.catalog.clone(),
        period: format!("{} 〜 {}", v.assessment.period_start, v.assessment.period_end),
        counts,
        items,
        states: ItemState::ALL.iter().map(|s| (s.as_str(), s.label_ja())).collect(),
        error,
    };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

/// An item's form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ItemForm {
    csrf: String,
    state: String,
    due_on: String,
    next_review_on: String,
    notes: String,
    version: u32,
}

/// `POST /compliance/{id}/items/{item}`
pub async fn change_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, item)): Path<(String, String)>,
    Form(f): Form<ItemForm>,
) -> Response {
    let lang = lang_of(&headers);
    let back = format!("/compliance/{id}");
    if !csrf_ok(&headers, state.tls, &f.csrf) {
        return csrf_refused(&state, lang, &back);
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let who = Manager::of(&a);
    let step = async {
        let aid: AssessmentId = id.parse().map_err(|_| ApiError::no_such("点検", "assessment"))?;
        let full = crate::api::assessments::item_id(&state, &who, aid, &item).await?;
        let change = ItemChange {
            state: ItemState::from_str(&f.state).map_err(|m| {
                ApiError::bad_request(Message::new(format!("state: {}", m.ja), format!("state: {}", m.en)))
            })?,
            owner: Some(who.user.id),
            due_on: date("due_on", Some(&f.due_on))?,
            next_review_on: date("next_review_on", Some(&f.next_review_on))?,
            notes: f.notes.clone(),
            version: f.version,
        };
        assessments::change_item(state.store.as_ref(), &who, state.clock.now(), aid, &full, change).await
    };
    match crate::records::guarded(&state, &a, "compliance.item.update", None, None, step).await {
        Ok(_) => see_other(&format!("{back}#item-{item}")),
        Err(e) if matches!(e.status(), StatusCode::BAD_REQUEST | StatusCode::CONFLICT) => {
            detail(&state, &headers, &who, &id, e.status(), Some(text(lang, &e))).await
        }
        Err(e) => refusal(&state, lang, &e, &back),
    }
}

/// A link as evidence.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EvidenceForm {
    csrf: String,
    title: String,
    url: String,
    effective_on: String,
    expires_on: String,
}

/// `POST /compliance/{id}/items/{item}/evidence`
pub async fn add_evidence(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, item)): Path<(String, String)>,
    Form(f): Form<EvidenceForm>,
) -> Response {
    let lang = lang_of(&headers);
    let back = format!("/compliance/{id}");
    if !csrf_ok(&headers, state.tls, &f.csrf) {
        return csrf_refused(&state, lang, &back);
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let who = Manager::of(&a);
    let step = async {
        let aid: AssessmentId = id.parse().map_err(|_| ApiError::no_such("点検", "assessment"))?;
        let full = crate::api::assessments::item_id(&state, &who, aid, &item).await?;
        let effective_on = date("effective_on", Some(&f.effective_on))?;
        let expires_on = date("expires_on", Some(&f.expires_on))?;
        let (title, kind) =
            check_evidence(&f.title, EvidenceKind::Link { url: f.url.clone() }, effective_on, expires_on)
                .map_err(ApiError::bad_request)?;
        let evidence = Evidence {
            institution: who.user.institution_id,
            id: EvidenceId::generate(&mut rand_core::OsRng),
            revision: 1,
            assessment: aid,
            item: full,
            title,
            kind,
            owner: user("owner", Some(&who.user.id.to_string()))?,
            effective_on,
            expires_on,
            added_by: who.user.id,
            added_at: state.clock.now(),
        };
        assessments::add_evidence(state.store.as_ref(), &who, state.clock.now(), evidence).await
    };
    match crate::records::guarded(&state, &a, "compliance.evidence.add", None, None, step).await {
        Ok(_) => see_other(&format!("{back}#item-{item}")),
        Err(e) if e.status() == StatusCode::BAD_REQUEST => {
            detail(&state, &headers, &who, &id, e.status(), Some(text(lang, &e))).await
        }
        Err(e) => refusal(&state, lang, &e, &back),
    }
}

/// The fields of the evidence-file form (`multipart/form-data`): `csrf`, `title`,
/// `effective_on`, `expires_on` and `file`.
#[derive(Debug, Default)]
struct FileForm {
    csrf: String,
    query: crate::api::assessments::FileQuery,
    bytes: axum::body::Bytes,
}

async fn read_file_form(mut multipart: axum::extract::Multipart) -> Result<FileForm, ApiError> {
    let bad = || ApiError::bad_request(Message::new("フォームを読み取れません。", "the form could not be read"));
    let mut form = FileForm::default();
    while let Some(field) = multipart.next_field().await.map_err(|_| bad())? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            form.query.name = field.file_name().unwrap_or_default().to_owned();
            form.bytes = field.bytes().await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE { assessments::too_large() } else { bad() }
            })?;
            continue;
        }
        let value = field.text().await.map_err(|_| bad())?;
        match name.as_str() {
            "csrf" => form.csrf = value,
            "title" => form.query.title = value,
            "effective_on" => form.query.effective_on = Some(value),
            "expires_on" => form.query.expires_on = Some(value),
            _ => {}
        }
    }
    Ok(form)
}

/// `POST /compliance/{id}/items/{item}/evidence/file` (multipart): a file as evidence.
pub async fn add_evidence_file(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, item)): Path<(String, String)>,
    multipart: axum::extract::Multipart,
) -> Response {
    let lang = lang_of(&headers);
    let back = format!("/compliance/{id}");
    // Signed in first (from the headers), so that no one else's upload is read at all.
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let form = match read_file_form(multipart).await {
        Ok(f) => f,
        Err(e) => return refusal(&state, lang, &e, &back),
    };
    if !csrf_ok(&headers, state.tls, &form.csrf) {
        return csrf_refused(&state, lang, &back);
    }
    let who = Manager::of(&a);
    let step = async {
        let aid: AssessmentId = id.parse().map_err(|_| ApiError::no_such("点検", "assessment"))?;
        let full = crate::api::assessments::item_id(&state, &who, aid, &item).await?;
        let mut query = form.query;
        query.owner = Some(who.user.id.to_string());
        let evidence = crate::api::assessments::file_evidence(&who, state.clock.now(), aid, full, &query)?;
        assessments::add_evidence_file(
            state.store.as_ref(),
            &state.files,
            &who,
            state.clock.now(),
            evidence,
            form.bytes,
        )
        .await
    };
    match crate::records::guarded(&state, &a, "compliance.evidence.add", None, None, step).await {
        Ok(_) => see_other(&format!("{back}#item-{item}")),
        Err(e) if matches!(e.status(), StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE) => {
            detail(&state, &headers, &who, &id, e.status(), Some(text(lang, &e))).await
        }
        Err(e) => refusal(&state, lang, &e, &back),
    }
}

#[derive(Template)]
#[template(path = "applicability.html")]
struct ApplicabilityPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    view: crate::api::applicability::ApplicabilityView,
    error: Option<String>,
}

/// `GET /compliance/applicability`
pub async fn applicability(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    applicability_page(&state, &headers, &a, StatusCode::OK, None).await
}

async fn applicability_page(
    state: &AppState,
    headers: &HeaderMap,
    a: &crate::auth::Authenticated,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let lang = lang_of(headers);
    let who = Manager::of(a);
    let step = crate::applicability::history(state.store.as_ref(), &who, state.clock.now());
    let view = match crate::records::guarded(state, a, "compliance.applicability.read", None, None, step)
        .await
        .and_then(|d| crate::api::applicability::view(&d))
    {
        Ok(v) => v,
        Err(e) => return refusal(state, lang, &e, "/compliance"),
    };
    let (token, cookie) = csrf(headers, state.tls);
    let page = ApplicabilityPage { lang: lang.tag(), t: lang.texts(), version: VERSION, csrf: token, view, error };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

/// `POST /compliance/applicability`: `answer.<question>` = `yes` | `no`, `basis`, `notes`,
/// `version`.
pub async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&headers);
    let back = "/compliance/applicability";
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
    if !csrf_ok(&headers, state.tls, field("csrf")) {
        return csrf_refused(&state, lang, back);
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let who = Manager::of(&a);
    let step = async {
        let mut answers = std::collections::BTreeMap::new();
        for (k, v) in &fields {
            let Some(q) = k.strip_prefix("answer.") else { continue };
            let yes = match v.as_str() {
                "yes" => true,
                "no" => false,
                _ => {
                    return Err(ApiError::bad_request(Message::new(
                        "answers: 「はい」か「いいえ」を選んでください。",
                        "answers: choose YES or NO",
                    )));
                }
            };
            answers.insert(q.to_owned(), yes);
        }
        let version = field("version").parse::<u32>().map_err(|_| {
            ApiError::bad_request(Message::new("version: 版の指定が正しくありません。", "version: not a number"))
        })?;
        let input = crate::applicability::Answers {
            answers,
            basis: field("basis").to_owned(),
            notes: field("notes").to_owned(),
            version,
        };
        crate::applicability::decide(state.store.as_ref(), &who, state.clock.now(), input).await
    };
    match crate::records::guarded(&state, &a, "compliance.applicability.decide", None, None, step).await {
        Ok(_) => see_other(back),
        Err(e) if matches!(e.status(), StatusCode::BAD_REQUEST | StatusCode::CONFLICT) => {
            applicability_page(&state, &headers, &a, e.status(), Some(text(lang, &e))).await
        }
        Err(e) => refusal(&state, lang, &e, back),
    }
}
