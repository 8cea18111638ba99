//! The registers' pages (台帳・一覧, Japanese first): every register with its counts and marks
//! (`/compliance/registers`, with a link to the user-ID ledger), one register
//! (`/compliance/registers/{kind}`: its live entries, a form made from its schema, CSV/xlsx
//! import and CSV download; the demarcation also as a matrix of item × system) and one entry
//! (`/compliance/registers/{kind}/{id}`: change, retire, every version). The same steps as the
//! API ([`crate::registers`]).

use super::login::{VERSION, csrf, csrf_ok, csrf_refused, lang_of, message_page, see_other, text, with_cookies};
use super::patients::signed_in;
use super::render;
use crate::error::ApiError;
use crate::i18n::{Lang, Texts};
use crate::registers::{self, Change, Manager, entry_id, kind_of};
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mamori_core::register::{FieldKind, FieldSpec, PARTIES, RegisterEntry, RegisterKind, attention};
use std::collections::BTreeMap;

fn refusal(state: &AppState, lang: Lang, e: &ApiError, back: &str) -> Response {
    let heading = if lang == Lang::Ja { "この操作はできません" } else { "This action is not available" };
    message_page(state, lang, e.status(), heading, &text(lang, e), back)
}

fn label(lang: Lang, ja: &str, en: &str) -> String {
    if lang == Lang::Ja { ja.to_owned() } else { en.to_owned() }
}

struct KindRow {
    kind: &'static str,
    label: String,
    live: usize,
    retired: usize,
    attention: usize,
}

#[derive(Template)]
#[template(path = "registers.html")]
struct OverviewPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    rows: Vec<KindRow>,
}

/// `GET /compliance/registers`
pub async fn overview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let lang = lang_of(&headers);
    let who = Manager::of(&a);
    let step = registers::overview(state.store.as_ref(), &who, state.clock.now());
    let all = match crate::records::guarded(&state, &a, "compliance.register.read", None, None, step).await {
        Ok(all) => all,
        Err(e) => return refusal(&state, lang, &e, "/"),
    };
    let page = OverviewPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        rows: all
            .iter()
            .map(|s| KindRow {
                kind: s.kind.as_str(),
                label: label(lang, s.kind.label_ja(), s.kind.label_en()),
                live: s.live,
                retired: s.retired,
                attention: s.attention,
            })
            .collect(),
    };
    render(&page, StatusCode::OK, lang, false, state.tls)
}

/// A form field made from a schema's field.
struct FormField {
    name: &'static str,
    label: String,
    /// text, long, date, choice (also yes/no, catalog items and references).
    input: &'static str,
    required: bool,
    max: usize,
    options: Vec<(String, String)>,
    value: String,
}

/// The names of the live systems, by entry ID (for references and the matrix).
async fn systems(state: &AppState, who: &Manager) -> Result<BTreeMap<String, String>, ApiError> {
    Ok(state
        .store
        .register_entries(who.institution(), RegisterKind::System)
        .await?
        .iter()
        .filter(|e| e.retired.is_none())
        .map(|e| (e.id.to_string(), e.fields.get("name").cloned().unwrap_or_default()))
        .collect())
}

fn hoshu_items() -> Vec<mamori_compliance::Item> {
    crate::api::assessments::catalog_items("hoshu-7.0")
}

fn form_fields(
    lang: Lang,
    kind: RegisterKind,
    values: &BTreeMap<String, String>,
    systems: &BTreeMap<String, String>,
) -> Vec<FormField> {
    kind.schema()
        .iter()
        .map(|s| {
            let (input, max, options) = match s.kind {
                FieldKind::Text { max } => ("text", max, Vec::new()),
                FieldKind::LongText => ("long", mamori_core::register::LONG_TEXT_MAX, Vec::new()),
                FieldKind::Date => ("date", 10, Vec::new()),
                FieldKind::Choice(c) => {
                    ("choice", 0, c.iter().map(|(v, j, e)| ((*v).to_owned(), label(lang, j, e))).collect())
                }
                FieldKind::YesNo => (
                    "choice",
                    0,
                    vec![
                        ("yes".to_owned(), label(lang, "はい", "Yes")),
                        ("no".to_owned(), label(lang, "いいえ", "No")),
                    ],
                ),
                FieldKind::CatalogItem => (
                    "choice",
                    0,
                    hoshu_items()
                        .into_iter()
                        .map(|i| {
                            let short: String = i.text.chars().take(40).collect();
                            (i.id.clone(), format!("{} {} {short}", i.section, i.number))
                        })
                        .collect(),
                ),
                FieldKind::Ref(_) => {
                    ("choice", 0, systems.iter().map(|(id, name)| (id.clone(), name.clone())).collect())
                }
            };
            FormField {
                name: s.name,
                label: label(lang, s.label_ja, s.label_en),
                input,
                required: s.required,
                max,
                options,
                value: values.get(s.name).cloned().unwrap_or_default(),
            }
        })
        .collect()
}

/// A value as shown: a choice's label, a reference's name.
fn shown(lang: Lang, spec: &FieldSpec, value: &str, systems: &BTreeMap<String, String>) -> String {
    match spec.kind {
        FieldKind::Choice(c) => {
            c.iter().find(|(v, ..)| *v == value).map_or_else(|| value.to_owned(), |(_, j, e)| label(lang, j, e))
        }
        FieldKind::YesNo => match value {
            "yes" => label(lang, "はい", "Yes"),
            "no" => label(lang, "いいえ", "No"),
            other => other.to_owned(),
        },
        FieldKind::Ref(_) => systems.get(value).cloned().unwrap_or_else(|| label(lang, "（廃止済み）", "(retired)")),
        _ => value.to_owned(),
    }
}

struct EntryRow {
    id: String,
    version: u32,
    cells: Vec<String>,
    attention: Option<String>,
}

fn entry_row(lang: Lang, e: &RegisterEntry, systems: &BTreeMap<String, String>, today: time::Date) -> EntryRow {
    EntryRow {
        id: e.id.to_string(),
        version: e.version,
        cells: e
            .kind
            .schema()
            .iter()
            .map(|s| e.fields.get(s.name).map(|v| shown(lang, s, v, systems)).unwrap_or_default())
            .collect(),
        attention: attention(e.kind, &e.fields, today).map(|m| if lang == Lang::Ja { m.ja } else { m.en }),
    }
}

struct MatrixRow {
    item: String,
    text: String,
    parties: Vec<String>,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    kind: &'static str,
    title: String,
    headers: Vec<String>,
    rows: Vec<EntryRow>,
    retired: usize,
    fields: Vec<FormField>,
    matrix_systems: Vec<String>,
    matrix: Vec<MatrixRow>,
    error: Option<String>,
}

/// `GET /compliance/registers/{kind}`
pub async fn register(State(state): State<AppState>, headers: HeaderMap, Path(kind): Path<String>) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    register_page(&state, &headers, &Manager::of(&a), &a, &kind, StatusCode::OK, None, &BTreeMap::new()).await
}

#[allow(clippy::too_many_arguments)]
async fn register_page(
    state: &AppState,
    headers: &HeaderMap,
    who: &Manager,
    auth: &crate::auth::Authenticated,
    kind: &str,
    status: StatusCode,
    error: Option<String>,
    values: &BTreeMap<String, String>,
) -> Response {
    let lang = lang_of(headers);
    let now = state.clock.now();
    let step = async {
        let kind = kind_of(kind)?;
        let all = registers::list(state.store.as_ref(), who, now, kind).await?;
        Ok((kind, all, systems(state, who).await?))
    };
    let (kind, all, systems) =
        match crate::records::guarded(state, auth, "compliance.register.read", None, None, step).await {
            Ok(v) => v,
            Err(e) => return refusal(state, lang, &e, "/compliance/registers"),
        };
    let today = registers::today(now);
    let live: Vec<&RegisterEntry> = all.iter().filter(|e| e.retired.is_none()).collect();
    let (matrix_systems, matrix) = if kind == RegisterKind::Demarcation {
        let m = registers::matrix(&all);
        let ids: Vec<String> = registers::matrix_systems(&m).into_iter().collect();
        let items = hoshu_items();
        let rows = m
            .iter()
            .map(|(item, by_system)| {
                let c = items.iter().find(|i| &i.id == item);
                MatrixRow {
                    item: c.map_or_else(|| item.clone(), |c| format!("{} {}", c.section, c.number)),
                    text: c.map(|c| c.text.clone()).unwrap_or_default(),
                    parties: ids
                        .iter()
                        .map(|s| {
                            by_system
                                .get(s)
                                .and_then(|p| PARTIES.iter().find(|(v, ..)| v == p))
                                .map(|(_, j, e)| label(lang, j, e))
                                .unwrap_or_default()
                        })
                        .collect(),
                }
            })
            .collect();
        let names = ids.iter().map(|id| systems.get(id).cloned().unwrap_or_else(|| id.clone())).collect();
        (names, rows)
    } else {
        (Vec::new(), Vec::new())
    };
    let (token, cookie) = csrf(headers, state.tls);
    let page = RegisterPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        csrf: token,
        kind: kind.as_str(),
        title: label(lang, kind.label_ja(), kind.label_en()),
        headers: kind.schema().iter().map(|s| label(lang, s.label_ja, s.label_en)).collect(),
        rows: live.iter().map(|e| entry_row(lang, e, &systems, today)).collect(),
        retired: all.len() - live.len(),
        fields: form_fields(lang, kind, values, &systems),
        matrix_systems,
        matrix,
        error,
    };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

/// The fields of a submitted form (every field of the schema; the form's own keys removed).
fn submitted(form: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    form.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "csrf" | "version"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `POST /compliance/registers/{kind}`
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let lang = lang_of(&headers);
    let back = format!("/compliance/registers/{kind}");
    if !csrf_ok(&headers, state.tls, form.get("csrf").map_or("", String::as_str)) {
        return csrf_refused(&state, lang, &back);
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let who = Manager::of(&a);
    let fields = submitted(&form);
    let step =
        async { registers::create(state.store.as_ref(), &who, state.clock.now(), kind_of(&kind)?, &fields).await };
    match crate::records::guarded(&state, &a, "compliance.register.write", None, None, step).await {
        Ok(e) => see_other(&format!("{back}#entry-{}", e.id)),
        Err(e) if matches!(e.status(), StatusCode::BAD_REQUEST | StatusCode::CONFLICT) => {
            register_page(&state, &headers, &who, &a, &kind, e.status(), Some(text(lang, &e)), &fields).await
        }
        Err(e) => refusal(&state, lang, &e, &back),
    }
}

/// `POST /compliance/registers/{kind}/import` (multipart: `csrf`, `file`)
pub async fn import(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    mut multipart: Multipart,
) -> Response {
    let lang = lang_of(&headers);
    let back = format!("/compliance/registers/{kind}");
    let mut token = String::new();
    let mut file = Vec::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let Ok(bytes) = field.bytes().await else {
                    return refusal(&state, lang, &unreadable_upload(), &back);
                };
                match name.as_str() {
                    "csrf" => token = String::from_utf8_lossy(&bytes).into_owned(),
                    "file" => file = bytes.to_vec(),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return refusal(&state, lang, &unreadable_upload(), &back),
        }
    }
    if !csrf_ok(&headers, state.tls, &token) {
        return csrf_refused(&state, lang, &back);
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let who = Manager::of(&a);
    let step = async { registers::import(state.store.as_ref(), &who, state.clock.now(), kind_of(&kind)?, &file).await };
    match crate::records::guarded(&state, &a, "compliance.register.import", None, None, step).await {
        Ok(_) => see_other(&back),
        Err(e) if matches!(e.status(), StatusCode::BAD_REQUEST | StatusCode::CONFLICT) => {
            register_page(&state, &headers, &who, &a, &kind, e.status(), Some(text(lang, &e)), &BTreeMap::new()).await
        }
        Err(e) => refusal(&state, lang, &e, &back),
    }
}

fn unreadable_upload() -> ApiError {
    ApiError::bad_request(mamori_core::Message::new("送信されたファイルを読めません。", "the upload cannot be read"))
}

struct VersionRow {
    version: u32,
    at: String,
    retired: Option<String>,
    cells: Vec<String>,
}

#[derive(Template)]
#[template(path = "register_entry.html")]
struct EntryPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    kind: &'static str,
    kind_label: String,
    id: String,
    current: u32,
    retired: Option<String>,
    headers: Vec<String>,
    fields: Vec<FormField>,
    history: Vec<VersionRow>,
    error: Option<String>,
}

/// `GET /compliance/registers/{kind}/{id}`
pub async fn entry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    entry_page(&state, &headers, &Manager::of(&a), &a, (&kind, &id), StatusCode::OK, None, None).await
}

#[allow(clippy::too_many_arguments)]
async fn entry_page(
    state: &AppState,
    headers: &HeaderMap,
    who: &Manager,
    auth: &crate::auth::Authenticated,
    (kind, id): (&str, &str),
    status: StatusCode,
    error: Option<String>,
    values: Option<&BTreeMap<String, String>>,
) -> Response {
    let lang = lang_of(headers);
    let back = format!("/compliance/registers/{kind}");
    let step = async {
        let kind = kind_of(kind)?;
        let (entry, history) =
            registers::read(state.store.as_ref(), who, state.clock.now(), kind, entry_id(id)?).await?;
        Ok((kind, entry, history, systems(state, who).await?))
    };
    let (kind, entry, history, systems) =
        match crate::records::guarded(state, auth, "compliance.register.read", None, None, step).await {
            Ok(v) => v,
            Err(e) => return refusal(state, lang, &e, &back),
        };
    let (token, cookie) = csrf(headers, state.tls);
    let page = EntryPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        csrf: token,
        kind: kind.as_str(),
        kind_label: label(lang, kind.label_ja(), kind.label_en()),
        id: entry.id.to_string(),
        current: entry.version,
        retired: entry.retired.clone(),
        headers: kind.schema().iter().map(|s| label(lang, s.label_ja, s.label_en)).collect(),
        fields: form_fields(lang, kind, values.unwrap_or(&entry.fields), &systems),
        history: history
            .iter()
            .rev()
            .map(|v| VersionRow {
                version: v.version,
                at: crate::api::rfc3339(v.at).unwrap_or_default(),
                retired: v.retired.clone(),
                cells: kind
                    .schema()
                    .iter()
                    .map(|s| v.fields.get(s.name).map(|x| shown(lang, s, x, &systems)).unwrap_or_default())
                    .collect(),
            })
            .collect(),
        error,
    };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

fn version_of(form: &BTreeMap<String, String>) -> u32 {
    form.get("version").and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// `POST /compliance/registers/{kind}/{id}`: a change.
pub async fn change(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((kind, id)): Path<(String, String)>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    write(state, headers, (kind, id), form, false).await
}

/// `POST /compliance/registers/{kind}/{id}/retire`: retirement with a reason.
pub async fn retire(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((kind, id)): Path<(String, String)>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    write(state, headers, (kind, id), form, true).await
}

async fn write(
    state: AppState,
    headers: HeaderMap,
    (kind, id): (String, String),
    form: BTreeMap<String, String>,
    retire: bool,
) -> Response {
    let lang = lang_of(&headers);
    let back = format!("/compliance/registers/{kind}/{id}");
    if !csrf_ok(&headers, state.tls, form.get("csrf").map_or("", String::as_str)) {
        return csrf_refused(&state, lang, &back);
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let who = Manager::of(&a);
    let fields = submitted(&form);
    let change = if retire {
        Change::Retire(form.get("reason").cloned().unwrap_or_default())
    } else {
        Change::Fields(fields.clone())
    };
    let step = async {
        registers::change(
            state.store.as_ref(),
            &who,
            state.clock.now(),
            kind_of(&kind)?,
            entry_id(&id)?,
            version_of(&form),
            change,
        )
        .await
    };
    match crate::records::guarded(&state, &a, "compliance.register.write", None, None, step).await {
        Ok(_) => see_other(&back),
        Err(e) if matches!(e.status(), StatusCode::BAD_REQUEST | StatusCode::CONFLICT) => {
            let values = if retire { None } else { Some(&fields) };
            entry_page(&state, &headers, &who, &a, (&kind, &id), e.status(), Some(text(lang, &e)), values).await
        }
        Err(e) => refusal(&state, lang, &e, &back),
    }
}
