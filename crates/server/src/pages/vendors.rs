//! Vendors' disclosures on the pages (Japanese first): the list (`/compliance/vendors`, with
//! counts of answers and risks, the import form and the blank forms), manual entry
//! (`/compliance/vendors/new?catalog=…`: the header and one answer per row), the import (a
//! multipart upload) and one disclosure (`/compliance/vendors/{id}`: every answer with the row's
//! text, and a form for each risk record). The same steps as the API ([`crate::vendors`]).

use super::login::{VERSION, csrf, csrf_ok, csrf_refused, lang_of, message_page, see_other, text, with_cookies};
use super::patients::signed_in;
use super::render;
use crate::api::assessments::{date, user};
use crate::api::vendors::{
    AnswerView, DisclosureSummary, RiskView, detail_of, disclosure_id, listed_summary, received, risk_item,
    template_response, today,
};
use crate::assessments::Manager;
use crate::error::ApiError;
use crate::i18n::{Lang, Texts};
use crate::state::AppState;
use crate::vendors::{self, AnswerEntry, NewDisclosure, RiskChange};
use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mamori_core::{Message, UserStatus};
use serde::Deserialize;

fn refusal(state: &AppState, lang: Lang, e: &ApiError, back: &str) -> Response {
    let heading = if lang == Lang::Ja { "この操作はできません" } else { "This action is not available" };
    message_page(state, lang, e.status(), heading, &text(lang, e), back)
}

const CATALOGS: [(&str, &str); 2] = [("mds-7.0", "MDS（製品・41項目）"), ("sds-7.0", "SDS（サービス・58項目）")];

/// The header fields as typed (shown again with an error).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct HeaderFields {
    vendor: String,
    product: String,
    product_version: String,
    jahis_version: String,
    received_on: String,
    notes: String,
}

impl HeaderFields {
    fn new_disclosure(&self, catalog: &str) -> Result<NewDisclosure, ApiError> {
        Ok(NewDisclosure {
            vendor: self.vendor.clone(),
            product: self.product.clone(),
            product_version: self.product_version.clone(),
            catalog: catalog.to_owned(),
            jahis_version: self.jahis_version.clone(),
            received_on: received(&self.received_on)?,
            notes: self.notes.clone(),
        })
    }
}

#[derive(Template)]
#[template(path = "vendors.html")]
struct ListPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    rows: Vec<DisclosureSummary>,
    catalogs: Vec<(&'static str, &'static str)>,
    header: HeaderFields,
    error: Option<String>,
}

/// `GET /compliance/vendors`
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    list_page(&state, &headers, &Manager::of(&a), StatusCode::OK, HeaderFields::default(), None).await
}

async fn list_page(
    state: &AppState,
    headers: &HeaderMap,
    who: &Manager,
    status: StatusCode,
    header: HeaderFields,
    error: Option<String>,
) -> Response {
    let lang = lang_of(headers);
    let all = match vendors::list(state.store.as_ref(), who, today(state)).await {
        Ok(all) => all,
        Err(e) => return refusal(state, lang, &e, "/compliance"),
    };
    let (token, cookie) = csrf(headers, state.tls);
    let page = ListPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        csrf: token,
        rows: all.iter().map(listed_summary).collect(),
        catalogs: CATALOGS.to_vec(),
        header,
        error,
    };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

struct FormLine {
    id: String,
    number: String,
    text: String,
    answer: String,
    remark: String,
}

#[derive(Template)]
#[template(path = "vendor_new.html")]
struct NewPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    catalog: String,
    catalog_title: &'static str,
    header: HeaderFields,
    rows: Vec<FormLine>,
    answers: Vec<&'static str>,
    error: Option<String>,
}

/// `?catalog=` of the entry form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CatalogQuery {
    catalog: String,
}

/// `GET /compliance/vendors/new?catalog=mds-7.0`
pub async fn new_form(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<CatalogQuery>) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let who = Manager::of(&a);
    let lang = lang_of(&headers);
    if let Err(e) = who.require(mamori_core::authz::AdminPermission::ManageCompliance) {
        let e = crate::records::refused(
            state.store.as_ref(),
            &who,
            state.clock.now(),
            "compliance.vendor.record",
            None,
            None,
            e,
        )
        .await;
        return refusal(&state, lang, &e, "/compliance/vendors");
    }
    new_page(&state, &headers, &q.catalog, HeaderFields::default(), &[], StatusCode::OK, None)
}

fn new_page(
    state: &AppState,
    headers: &HeaderMap,
    catalog: &str,
    header: HeaderFields,
    given: &[(String, String)],
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let lang = lang_of(headers);
    let items = match vendors::catalog_rows(catalog) {
        Ok(items) => items,
        Err(e) => return refusal(state, lang, &e, "/compliance/vendors"),
    };
    let field = |prefix: &str, id: &str| {
        given.iter().find(|(k, _)| k.strip_prefix(prefix) == Some(id)).map(|(_, v)| v.clone()).unwrap_or_default()
    };
    let (token, cookie) = csrf(headers, state.tls);
    let page = NewPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        csrf: token,
        catalog: catalog.to_owned(),
        catalog_title: CATALOGS.iter().find(|c| c.0 == catalog).map_or("", |c| c.1),
        header,
        rows: items
            .iter()
            .map(|i| FormLine {
                id: i.id.clone(),
                number: i.number.clone(),
                text: i.text.clone(),
                answer: field("answer:", &i.id),
                remark: field("remark:", &i.id),
            })
            .collect(),
        answers: mamori_core::vendor::Answer::ALL.iter().map(|a| a.as_str()).collect(),
        error,
    };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

fn value<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

fn header_of(fields: &[(String, String)]) -> HeaderFields {
    HeaderFields {
        vendor: value(fields, "vendor").to_owned(),
        product: value(fields, "product").to_owned(),
        product_version: value(fields, "product_version").to_owned(),
        jahis_version: value(fields, "jahis_version").to_owned(),
        received_on: value(fields, "received_on").to_owned(),
        notes: value(fields, "notes").to_owned(),
    }
}

/// `POST /compliance/vendors`: the entry form (the header, `answer:<id>` and `remark:<id>` per
/// row; a row left at — is missing).
pub async fn record(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&headers);
    if !csrf_ok(&headers, state.tls, value(&fields, "csrf")) {
        return csrf_refused(&state, lang, "/compliance/vendors");
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let who = Manager::of(&a);
    let catalog = value(&fields, "catalog").to_owned();
    let header = header_of(&fields);
    let step = async {
        let new = header.new_disclosure(&catalog)?;
        let entries: Vec<AnswerEntry> = fields
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("answer:").map(|id| (id, v)))
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(id, v)| AnswerEntry {
                id: id.to_owned(),
                answer: v.clone(),
                remark: value(&fields, &format!("remark:{id}")).to_owned(),
            })
            .collect();
        vendors::record(state.store.as_ref(), &who, state.clock.now(), new, &entries).await
    };
    match crate::records::guarded(&state, &a, "compliance.vendor.record", None, None, step).await {
        Ok(r) => see_other(&format!("/compliance/vendors/{}", r.disclosure.id)),
        Err(e) if matches!(e.status(), StatusCode::BAD_REQUEST | StatusCode::CONFLICT) => {
            new_page(&state, &headers, &catalog, header, &fields, e.status(), Some(text(lang, &e)))
        }
        Err(e) => refusal(&state, lang, &e, "/compliance/vendors"),
    }
}

/// `POST /compliance/vendors/import`: a multipart upload (`csrf`, the header fields, `catalog`,
/// `file`).
pub async fn import(State(state): State<AppState>, headers: HeaderMap, mut multipart: Multipart) -> Response {
    let lang = lang_of(&headers);
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut file: Option<Vec<u8>> = None;
    let unreadable =
        || ApiError::bad_request(Message::new("送信された内容を読めません。", "the upload cannot be read"));
    let mut read_error = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                match field.bytes().await {
                    Ok(bytes) if name == "file" => file = Some(bytes.to_vec()),
                    Ok(bytes) => fields.push((name, String::from_utf8_lossy(&bytes).into_owned())),
                    Err(_) => {
                        read_error = Some(unreadable());
                        break;
                    }
                }
            }
            Ok(None) => break,
            Err(_) => {
                read_error = Some(unreadable());
                break;
            }
        }
    }
    if !csrf_ok(&headers, state.tls, value(&fields, "csrf")) {
        return csrf_refused(&state, lang, "/compliance/vendors");
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let who = Manager::of(&a);
    let header = header_of(&fields);
    let step = async {
        if let Some(e) = read_error {
            return Err(e);
        }
        let new = header.new_disclosure(value(&fields, "catalog"))?;
        let bytes = file.filter(|f| !f.is_empty()).ok_or_else(|| {
            ApiError::bad_request(Message::new("file: ファイルを選んでください。", "file: choose a file"))
        })?;
        vendors::import(state.store.as_ref(), &who, state.clock.now(), new, &bytes).await
    };
    match crate::records::guarded(&state, &a, "compliance.vendor.import", None, None, step).await {
        Ok(r) => see_other(&format!("/compliance/vendors/{}", r.disclosure.id)),
        Err(e) if matches!(e.status(), StatusCode::BAD_REQUEST | StatusCode::CONFLICT) => {
            list_page(&state, &headers, &who, e.status(), header, Some(text(lang, &e))).await
        }
        Err(e) => refusal(&state, lang, &e, "/compliance/vendors"),
    }
}

/// `?catalog=&format=` of the blank form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TemplateQuery {
    catalog: String,
    format: String,
}

/// `GET /compliance/vendors/template?catalog=mds-7.0&format=xlsx`
pub async fn template(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<TemplateQuery>) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let who = Manager::of(&a);
    let lang = lang_of(&headers);
    let step = async {
        who.require(mamori_core::authz::AdminPermission::ReadCompliance)?;
        template_response(&q.catalog, if q.format.is_empty() { "csv" } else { &q.format })
    };
    match crate::records::guarded(&state, &a, "compliance.vendor.read", None, None, step).await {
        Ok(r) => r,
        Err(e) => refusal(&state, lang, &e, "/compliance/vendors"),
    }
}

#[derive(Template)]
#[template(path = "vendor.html")]
struct DetailPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    id: String,
    d: DisclosureSummary,
    risks: Vec<RiskView>,
    answers: Vec<AnswerView>,
    users: Vec<(String, String)>,
    error: Option<String>,
}

/// `GET /compliance/vendors/{id}`
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
    let step = async {
        let id = disclosure_id(id)?;
        vendors::read(state.store.as_ref(), who, state.clock.now(), id).await
    };
    let v = match step.await {
        Ok(v) => v,
        Err(e) => {
            let e = crate::records::refused(
                state.store.as_ref(),
                who,
                state.clock.now(),
                "compliance.vendor.read",
                None,
                None,
                e,
            )
            .await;
            return refusal(state, lang, &e, "/compliance/vendors");
        }
    };
    let users = match state.store.users(who.user.institution_id).await {
        Ok(all) => all
            .into_iter()
            .filter(|u| u.status == UserStatus::Active)
            .map(|u| (u.id.to_string(), format!("{}（{}）", u.display_name.as_str(), u.login_id.as_str())))
            .collect(),
        Err(e) => return refusal(state, lang, &e.into(), "/compliance/vendors"),
    };
    let detail = detail_of(&v, today(state));
    let (token, cookie) = csrf(headers, state.tls);
    let page = DetailPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        csrf: token,
        id: v.disclosure.id.to_string(),
        d: detail.disclosure,
        risks: detail.risks,
        answers: detail.answers,
        users,
        error,
    };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

/// A risk's form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RiskForm {
    csrf: String,
    justification: String,
    owner: String,
    mitigation: String,
    expires_on: String,
    version: u32,
}

/// `POST /compliance/vendors/{id}/risks/{item}`
pub async fn change_risk(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, key)): Path<(String, String)>,
    Form(f): Form<RiskForm>,
) -> Response {
    let lang = lang_of(&headers);
    let back = format!("/compliance/vendors/{id}");
    if !csrf_ok(&headers, state.tls, &f.csrf) {
        return csrf_refused(&state, lang, &back);
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let who = Manager::of(&a);
    let step = async {
        let did = disclosure_id(&id)?;
        let change = RiskChange {
            justification: f.justification.clone(),
            owner: user("owner", Some(&f.owner))?,
            mitigation: f.mitigation.clone(),
            expires_on: date("expires_on", Some(&f.expires_on))?,
            version: f.version,
        };
        let full = risk_item(&state, &who, did, &key).await?;
        vendors::change_risk(state.store.as_ref(), &who, state.clock.now(), did, &full, change).await
    };
    match crate::records::guarded(&state, &a, "compliance.vendor.risk", None, None, step).await {
        Ok(_) => see_other(&format!("{back}#risk-{key}")),
        Err(e) if matches!(e.status(), StatusCode::BAD_REQUEST | StatusCode::CONFLICT) => {
            detail(&state, &headers, &who, &id, e.status(), Some(text(lang, &e))).await
        }
        Err(e) => refusal(&state, lang, &e, &back),
    }
}
