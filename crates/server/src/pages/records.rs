//! The clinical record pages (Japanese first): a patient's chart (カルテ) with its timeline,
//! the editor for a new record, one record with every version, the difference between two
//! versions and the actions on it (下書き, 確定, 訂正, 取消, 承認, 差戻し), and the approval
//! queue of proxy entries (代行入力).
//!
//! Every write goes through the steps of [`crate::records`], like the API: the page only turns
//! a form into their input. A refused step (bad input included) is written to the log as a
//! `denied` event before the answer leaves ([`guarded`]). Each form carries the patient it is
//! for and the chart it was made from (`patient`, `chart`), so a form sent from another
//! patient's chart is refused (409, 混同防止).

use super::login::{VERSION, csrf, csrf_ok, csrf_refused, lang_of, message_page, see_other, text, with_cookies};
use super::patients::signed_in;
use super::render;
use crate::api::patients::{PatientView, read_step, view};
use crate::api::records::{bad, id as parse_id};
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::i18n::{Lang, Texts};
use crate::records::{self, Caller, ChartEntry, NewRecord, Target, no_record};
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mamori_core::audit::Outcome;
use mamori_core::authz::{Action, authorize};
use mamori_core::master::MasterKind;
use mamori_core::record::{
    Agent, Body, Change, Content, ContentInput, MAX_LAB_ITEMS, MAX_RX_ITEMS, RecordKind, RecordVersion, VersionState,
    diff,
};
use mamori_core::{DeviceId, PatientId, RecordId, Role, UserId, UserStatus};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::str::FromStr;
use time::OffsetDateTime;

/// Prescription rows the editor shows at least.
const RX_ROWS: usize = 5;
/// Lab rows the editor shows at least.
const LAB_ROWS: usize = 10;
/// Master entries offered in a picker.
const MASTER_CHOICES: u32 = 200;

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// Whether a refusal is shown on the form again (bad input, a choice to make, someone was
/// first) rather than on a page of its own (no permission, not found, a mix-up, a failure).
fn shows_form(e: &ApiError) -> bool {
    let status = e.status();
    !(status == StatusCode::NOT_FOUND
        || status == StatusCode::UNAUTHORIZED
        || status == StatusCode::LOCKED
        || status.is_server_error()
        || e.code() == "patient_mismatch"
        || (status == StatusCode::FORBIDDEN && e.code() != "proxy_doctor_required"))
}

fn refusal(state: &AppState, lang: Lang, e: &ApiError, next: &str) -> Response {
    let heading = if lang == Lang::Ja { "この操作はできません" } else { "This action is not available" };
    message_page(state, lang, e.status(), heading, &text(lang, e), next)
}

fn jst(at: OffsetDateTime) -> String {
    let t = at.to_offset(time::macros::offset!(+9));
    format!("{:04}-{:02}-{:02} {:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}

fn kind_label(lang: Lang, kind: RecordKind) -> &'static str {
    if lang == Lang::Ja { kind.label_ja() } else { kind.label_en() }
}

fn state_label(lang: Lang, state: VersionState) -> &'static str {
    if lang == Lang::Ja {
        return state.label_ja();
    }
    match state {
        VersionState::Draft => "Draft",
        VersionState::PendingApproval => "Waiting for approval",
        VersionState::Final => "Final",
        VersionState::Discarded => "Discarded",
        VersionState::Rejected => "Rejected",
        _ => state.as_str(),
    }
}

fn change_label(lang: Lang, change: Change) -> &'static str {
    match (lang, change) {
        (Lang::Ja, Change::Original) => "新規",
        (Lang::Ja, Change::Correction) => "訂正",
        (Lang::Ja, Change::Cancellation) => "取消",
        (Lang::En, Change::Original) => "Original",
        (Lang::En, Change::Correction) => "Correction",
        (Lang::En, Change::Cancellation) => "Cancellation",
        (_, other) => other.as_str(),
    }
}

/// The form's fields by name (the last of a repeated name wins).
#[derive(Debug, Default)]
struct Fields(BTreeMap<String, String>);

impl Fields {
    fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs.into_iter().collect())
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    fn filled(&self, name: &str) -> bool {
        !self.get(name).trim().is_empty()
    }

    /// The patient and the chart the form names.
    fn target(&self) -> Result<Target, ApiError> {
        Ok(Target { patient: parse_id("patient", self.get("patient"))?, chart: parse_id("chart", self.get("chart"))? })
    }
}

/// Display names of the institution's users and devices, loaded once per page.
struct Names {
    lang: Lang,
    users: BTreeMap<UserId, String>,
    devices: BTreeMap<DeviceId, String>,
}

impl Names {
    async fn load(state: &AppState, a: &Authenticated, lang: Lang) -> Self {
        let institution = a.user.institution_id;
        let users = match state.store.users(institution).await {
            Ok(list) => list.into_iter().map(|u| (u.id, u.display_name.as_str().to_owned())).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list users for the record pages");
                BTreeMap::new()
            }
        };
        let devices = match state.store.devices(institution).await {
            Ok(list) => list.into_iter().map(|d| (d.id, d.name)).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list devices for the record pages");
                BTreeMap::new()
            }
        };
        Self { lang, users, devices }
    }

    fn user(&self, id: UserId) -> String {
        self.users.get(&id).cloned().unwrap_or_else(|| {
            if self.lang == Lang::Ja { "（不明な利用者）".to_owned() } else { "(unknown user)".to_owned() }
        })
    }

    fn agent(&self, agent: Agent) -> String {
        match agent {
            Agent::User(u) => self.user(u),
            Agent::Device(d) => {
                let name = self.devices.get(&d).cloned().unwrap_or_else(|| d.to_string());
                if self.lang == Lang::Ja { format!("機器: {name}") } else { format!("device: {name}") }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The editor: a form for each kind, to and from content
// ---------------------------------------------------------------------------------------------

/// One prescription row of the editor.
#[derive(Debug, Clone, Default)]
struct RxRow {
    n: usize,
    drug: String,
    dose: String,
    usage: String,
    days: String,
}

/// One lab row of the editor.
#[derive(Debug, Clone, Default)]
struct LabRow {
    n: usize,
    item: String,
    value: String,
    flag: String,
}

/// What the editor shows: the fields of one kind (the others stay empty).
#[derive(Debug, Clone)]
struct Editor {
    kind: &'static str,
    s: String,
    o: String,
    a: String,
    p: String,
    disease: String,
    suspected: bool,
    onset: String,
    note: String,
    rx: Vec<RxRow>,
    collected_on: String,
    lab: Vec<LabRow>,
    title: String,
    body: String,
}

fn rx_rows(mut rows: Vec<RxRow>) -> Vec<RxRow> {
    let used = rows
        .iter()
        .rposition(|r| !(r.drug.is_empty() && r.dose.is_empty() && r.usage.is_empty() && r.days.is_empty()))
        .map_or(0, |i| i + 1);
    rows.truncate(used);
    while rows.len() < RX_ROWS {
        rows.push(RxRow::default());
    }
    rows.iter_mut().enumerate().for_each(|(i, r)| r.n = i + 1);
    rows
}

fn lab_rows(mut rows: Vec<LabRow>) -> Vec<LabRow> {
    let used =
        rows.iter().rposition(|r| !(r.item.is_empty() && r.value.is_empty() && r.flag.is_empty())).map_or(0, |i| i + 1);
    rows.truncate(used);
    while rows.len() < LAB_ROWS {
        rows.push(LabRow::default());
    }
    rows.iter_mut().enumerate().for_each(|(i, r)| r.n = i + 1);
    rows
}

impl Editor {
    fn blank(kind: RecordKind) -> Self {
        Self {
            kind: kind.as_str(),
            s: String::new(),
            o: String::new(),
            a: String::new(),
            p: String::new(),
            disease: String::new(),
            suspected: false,
            onset: String::new(),
            note: String::new(),
            rx: rx_rows(Vec::new()),
            collected_on: String::new(),
            lab: lab_rows(Vec::new()),
            title: String::new(),
            body: String::new(),
        }
    }

    /// The editor as the form was sent (to show it again with a message).
    fn from_fields(kind: RecordKind, f: &Fields) -> Self {
        let rx = (1..=MAX_RX_ITEMS)
            .map(|n| RxRow {
                n,
                drug: f.get(&format!("drug_{n}")).to_owned(),
                dose: f.get(&format!("dose_{n}")).to_owned(),
                usage: f.get(&format!("usage_{n}")).to_owned(),
                days: f.get(&format!("days_{n}")).to_owned(),
            })
            .collect();
        let lab = (1..=MAX_LAB_ITEMS)
            .map(|n| LabRow {
                n,
                item: f.get(&format!("item_{n}")).to_owned(),
                value: f.get(&format!("value_{n}")).to_owned(),
                flag: f.get(&format!("flag_{n}")).to_owned(),
            })
            .collect();
        Self {
            kind: kind.as_str(),
            s: f.get("s").to_owned(),
            o: f.get("o").to_owned(),
            a: f.get("a").to_owned(),
            p: f.get("p").to_owned(),
            disease: f.get("disease").to_owned(),
            suspected: f.filled("suspected"),
            onset: f.get("onset").to_owned(),
            note: f.get("note").to_owned(),
            rx: rx_rows(rx),
            collected_on: f.get("collected_on").to_owned(),
            lab: lab_rows(lab),
            title: f.get("title").to_owned(),
            body: f.get("body").to_owned(),
        }
    }

    /// The editor filled with content (master entries by code).
    fn from_input(input: &ContentInput) -> Self {
        let mut e = Self::blank(input.kind());
        match input {
            Body::ProgressNote(s) => {
                e.s.clone_from(&s.s);
                e.o.clone_from(&s.o);
                e.a.clone_from(&s.a);
                e.p.clone_from(&s.p);
            }
            Body::Diagnosis(d) => {
                d.disease.as_str().clone_into(&mut e.disease);
                e.suspected = d.suspected;
                e.onset = d.onset.clone().unwrap_or_default();
                e.note.clone_from(&d.note);
            }
            Body::Prescription(p) => {
                e.rx = rx_rows(
                    p.items
                        .iter()
                        .map(|i| RxRow {
                            n: 0,
                            drug: i.drug.as_str().to_owned(),
                            dose: i.dose.clone(),
                            usage: i.usage.clone(),
                            days: i.days.to_string(),
                        })
                        .collect(),
                );
                e.note.clone_from(&p.note);
            }
            Body::LabResult(l) => {
                e.collected_on.clone_from(&l.collected_on);
                e.lab = lab_rows(
                    l.items
                        .iter()
                        .map(|i| LabRow {
                            n: 0,
                            item: i.item.as_str().to_owned(),
                            value: i.value.clone(),
                            flag: i.flag.clone().unwrap_or_default(),
                        })
                        .collect(),
                );
            }
            Body::Document(d) => {
                e.title.clone_from(&d.title);
                e.body.clone_from(&d.body);
            }
        }
        e
    }
}

/// A master code as typed or picked: the first word (a picker may show `code name`).
fn code_of(raw: &str) -> &str {
    raw.split_whitespace().next().unwrap_or("")
}

/// The content JSON of the editor's fields for `kind`, as the API takes it. Blank
/// prescription and lab rows are left out.
fn content_json(kind: RecordKind, f: &Fields) -> Result<Value, ApiError> {
    Ok(match kind {
        RecordKind::ProgressNote => json!({"s": f.get("s"), "o": f.get("o"), "a": f.get("a"), "p": f.get("p")}),
        RecordKind::Diagnosis => {
            let disease = code_of(f.get("disease"));
            if disease.is_empty() {
                return Err(bad("disease", "病名を選んでください。", "choose a disease"));
            }
            let mut m = Map::new();
            m.insert("disease".into(), json!(disease));
            m.insert("suspected".into(), json!(f.filled("suspected")));
            if f.filled("onset") {
                m.insert("onset".into(), json!(f.get("onset").trim()));
            }
            m.insert("note".into(), json!(f.get("note")));
            Value::Object(m)
        }
        RecordKind::Prescription => {
            let mut items = Vec::new();
            for n in 1..=MAX_RX_ITEMS {
                let (drug, dose, usage, days) = (
                    f.get(&format!("drug_{n}")),
                    f.get(&format!("dose_{n}")),
                    f.get(&format!("usage_{n}")),
                    f.get(&format!("days_{n}")),
                );
                if [drug, dose, usage, days].iter().all(|v| v.trim().is_empty()) {
                    continue;
                }
                let drug = code_of(drug);
                if drug.is_empty() {
                    return Err(bad(&format!("drug_{n}"), "薬剤を選んでください。", "choose a drug"));
                }
                let days: u16 = days
                    .trim()
                    .parse()
                    .map_err(|_| bad(&format!("days_{n}"), "日数は1〜365の数字です。", "days is a number, 1 to 365"))?;
                items.push(json!({"drug": drug, "dose": dose, "usage": usage, "days": days}));
            }
            json!({"items": items, "note": f.get("note")})
        }
        RecordKind::LabResult => {
            let mut items = Vec::new();
            for n in 1..=MAX_LAB_ITEMS {
                let (item, value, flag) =
                    (f.get(&format!("item_{n}")), f.get(&format!("value_{n}")), f.get(&format!("flag_{n}")));
                if item.trim().is_empty() && value.trim().is_empty() {
                    continue;
                }
                let item = code_of(item);
                if item.is_empty() {
                    return Err(bad(&format!("item_{n}"), "検査項目を選んでください。", "choose a lab item"));
                }
                let flag = Some(flag.trim()).filter(|f| !f.is_empty());
                items.push(json!({"item": item, "value": value, "flag": flag}));
            }
            json!({"collected_on": f.get("collected_on"), "items": items})
        }
        RecordKind::Document => json!({"title": f.get("title"), "body": f.get("body")}),
        other => return Err(bad("kind", &format!("{other} はこの画面では書けません。"), "not written on this page")),
    })
}

fn content_input(kind: RecordKind, f: &Fields) -> Result<ContentInput, ApiError> {
    ContentInput::parse(kind, &content_json(kind, f)?).map_err(ApiError::bad_request)
}

/// One choice of a picker.
#[derive(Debug, Clone)]
struct Choice {
    value: String,
    label: String,
}

/// The master entries the editor offers for its kind (valid today in JST).
#[derive(Debug, Default)]
struct Masters {
    disease: Vec<Choice>,
    drug: Vec<Choice>,
    lab: Vec<Choice>,
}

async fn masters_for(state: &AppState, a: &Authenticated, kind: Option<RecordKind>) -> Masters {
    let want = match kind {
        Some(RecordKind::Diagnosis) => MasterKind::Disease,
        Some(RecordKind::Prescription) => MasterKind::Drug,
        Some(RecordKind::LabResult) => MasterKind::LabItem,
        _ => return Masters::default(),
    };
    let day = state.clock.now().to_offset(time::macros::offset!(+9)).date();
    let found = match state.store.search_master(a.user.institution_id, want, "", day, MASTER_CHOICES).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the master for the editor");
            Vec::new()
        }
    };
    let choices = found
        .iter()
        .map(|e| {
            let unit = e.fields.unit.as_deref().map(|u| format!("（{u}）")).unwrap_or_default();
            let range = e.fields.reference_range.as_deref().map(|r| format!(" [{r}]")).unwrap_or_default();
            Choice {
                value: e.code.as_str().to_owned(),
                label: format!("{} {}{unit}{range}", e.code.as_str(), e.fields.name),
            }
        })
        .collect();
    match want {
        MasterKind::Disease => Masters { disease: choices, ..Masters::default() },
        MasterKind::Drug => Masters { drug: choices, ..Masters::default() },
        _ => Masters { lab: choices, ..Masters::default() },
    }
}

/// The doctors a proxy entry can be sent to (active users with the doctor role, not the
/// caller).
async fn doctors(state: &AppState, a: &Authenticated) -> Vec<Choice> {
    match state.store.users(a.user.institution_id).await {
        Ok(users) => users
            .into_iter()
            .filter(|u| u.status == UserStatus::Active && u.roles.contains(&Role::Doctor) && u.id != a.user.id)
            .map(|u| Choice {
                value: u.id.to_string(),
                label: format!("{}（{}）", u.display_name.as_str(), u.login_id.as_str()),
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list doctors for the editor");
            Vec::new()
        }
    }
}

fn may(a: &Authenticated, action: Action, v: &RecordVersion, now: OffsetDateTime) -> bool {
    authorize(&a.principal(), a.user.institution_id, action, &v.record.category, Some(v.record.patient), now).is_ok()
}

// ---------------------------------------------------------------------------------------------
// The chart
// ---------------------------------------------------------------------------------------------

/// One row of the timeline.
#[derive(Debug)]
struct TimelineRow {
    id: String,
    at: String,
    kind: &'static str,
    summary: String,
    author: String,
    finalizer: Option<String>,
    corrected: bool,
    cancelled: bool,
    pending: bool,
    draft: bool,
    rejected: bool,
}

/// A current diagnosis or prescription line for the summary.
#[derive(Debug)]
struct SummaryItem {
    record: String,
    text: String,
    at: String,
}

/// A link to write a new record of a kind.
#[derive(Debug)]
struct NewLink {
    kind: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "chart.html")]
struct ChartPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    emergency: Option<String>,
    notice: Option<String>,
    patient: PatientView,
    new_links: Vec<NewLink>,
    diagnoses: Vec<SummaryItem>,
    prescription: Vec<SummaryItem>,
    entries: Vec<TimelineRow>,
}

fn timeline_row(lang: Lang, names: &Names, e: &ChartEntry) -> TimelineRow {
    let v = &e.shown;
    let states: Vec<VersionState> = std::iter::once(v.state).chain(e.open.as_ref().map(|o| o.state)).collect();
    TimelineRow {
        id: v.record.id.to_string(),
        at: jst(e.at()),
        kind: kind_label(lang, v.record.kind),
        summary: v.content.summary(),
        author: names.agent(v.author),
        finalizer: v.finalized_by.map(|f| names.agent(f)),
        corrected: e.corrected() && !e.cancelled(),
        cancelled: e.cancelled(),
        pending: states.contains(&VersionState::PendingApproval),
        draft: states.contains(&VersionState::Draft),
        rejected: states.contains(&VersionState::Rejected),
    }
}

fn rx_lines(content: &Content) -> Vec<String> {
    match content {
        Body::Prescription(p) => p
            .items
            .iter()
            .map(|i| {
                format!("{} {}{} {} {}日分", i.drug.name, i.dose, i.drug.unit.as_deref().unwrap_or(""), i.usage, i.days)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The current diagnoses (every final one not cancelled) and the latest final prescription.
fn summary(entries: &[ChartEntry]) -> (Vec<SummaryItem>, Vec<SummaryItem>) {
    let current = |e: &&ChartEntry| e.shown.state == VersionState::Final && !e.cancelled();
    let diagnoses = entries
        .iter()
        .filter(current)
        .filter(|e| e.shown.record.kind == RecordKind::Diagnosis)
        .map(|e| {
            let onset = match &e.shown.content {
                Body::Diagnosis(d) => d.onset.as_deref().map(|o| format!("（発症 {o}）")).unwrap_or_default(),
                _ => String::new(),
            };
            SummaryItem {
                record: e.shown.record.id.to_string(),
                text: format!("{}{onset}", e.shown.content.summary()),
                at: jst(e.at()),
            }
        })
        .collect();
    let prescription = entries
        .iter()
        .filter(current)
        .find(|e| e.shown.record.kind == RecordKind::Prescription)
        .map(|e| {
            rx_lines(&e.shown.content)
                .into_iter()
                .map(|text| SummaryItem { record: e.shown.record.id.to_string(), text, at: jst(e.at()) })
                .collect()
        })
        .unwrap_or_default();
    (diagnoses, prescription)
}

/// `?sent=proxy` after a proxy entry the sender may not read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChartQuery {
    sent: Option<String>,
}

/// `GET /patients/{id}/chart`: the patient, the new-record links, the current diagnoses and
/// prescription, and the timeline newest first (the read is audited).
pub async fn chart(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ChartQuery>,
) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    let lang = lang_of(&headers);
    let patient = match read_step(&state, &a, &id).await {
        Ok(p) => p,
        Err(e) => return refusal(&state, lang, &e, "/patients"),
    };
    let now = state.clock.now();
    let who = Caller::of(&a);
    let step = records::chart(state.store.as_ref(), &who, now, patient.id);
    let entries = match records::guarded(&state, &a, "record.read", Some(patient.id), None, step).await {
        Ok(entries) => entries,
        Err(e) => return refusal(&state, lang, &e, &format!("/patients/{}", patient.id)),
    };
    let names = Names::load(&state, &a, lang).await;
    let (diagnoses, prescription) = summary(&entries);
    let principal = a.principal();
    let new_links = RecordKind::ALL
        .iter()
        .filter(|k| {
            authorize(&principal, a.user.institution_id, Action::Write, &k.default_category(), Some(patient.id), now)
                .is_ok()
        })
        .map(|k| NewLink { kind: k.as_str(), label: kind_label(lang, *k) })
        .collect();
    let notice = q.sent.filter(|s| s == "proxy").map(|_| {
        if lang == Lang::Ja {
            "代行入力を送信しました。医師の承認を待っています。".to_owned()
        } else {
            "The proxy entry was sent; it waits for the doctor's approval.".to_owned()
        }
    });
    let page = ChartPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        emergency: a.emergency_banner(lang, now),
        notice,
        patient: view(&patient),
        new_links,
        diagnoses,
        prescription,
        entries: entries.iter().map(|e| timeline_row(lang, &names, e)).collect(),
    };
    render(&page, StatusCode::OK, lang, false, state.tls)
}

/// One record in the print view.
struct PrintEntry {
    kind: &'static str,
    corrected: bool,
    cancelled: bool,
    version: VersionBlock,
}

#[derive(Template)]
#[template(path = "chart_print.html")]
struct PrintPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    emergency: Option<String>,
    patient: PatientView,
    printed_by: String,
    printed_at: String,
    entries: Vec<PrintEntry>,
}

/// `GET /patients/{id}/chart/print`: the latest final version of every record the user may
/// print, on one page for the browser's print (見読性); recorded as `record.print`.
pub async fn print(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    let lang = lang_of(&headers);
    let patient = match read_step(&state, &a, &id).await {
        Ok(p) => p,
        Err(e) => return refusal(&state, lang, &e, "/patients"),
    };
    let now = state.clock.now();
    let who = Caller::of(&a);
    let step = records::print_chart(state.store.as_ref(), &who, now, patient.id);
    let entries = match records::guarded(&state, &a, "record.print", Some(patient.id), None, step).await {
        Ok(entries) => entries,
        Err(e) => return refusal(&state, lang, &e, &format!("/patients/{}/chart", patient.id)),
    };
    let names = Names::load(&state, &a, lang).await;
    let page = PrintPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        emergency: a.emergency_banner(lang, now),
        patient: view(&patient),
        printed_by: a.user.display_name.as_str().to_owned(),
        printed_at: jst(now),
        entries: entries
            .iter()
            .map(|e| PrintEntry {
                kind: kind_label(lang, e.shown.record.kind),
                corrected: e.corrected(),
                cancelled: e.cancelled(),
                version: version_block(lang, &names, &e.shown),
            })
            .collect(),
    };
    render(&page, StatusCode::OK, lang, false, state.tls)
}

// ---------------------------------------------------------------------------------------------
// A new record
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "record_new.html")]
struct NewPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    emergency: Option<String>,
    patient: PatientView,
    kind_label: &'static str,
    editor: Editor,
    masters: Masters,
    doctors: Vec<Choice>,
    proxy_for: String,
    error: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn new_page(
    state: &AppState,
    headers: &HeaderMap,
    a: &Authenticated,
    patient: &str,
    editor: Editor,
    proxy_for: String,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let lang = lang_of(headers);
    let patient = match read_step(state, a, patient).await {
        Ok(p) => p,
        Err(e) => return refusal(state, lang, &e, "/patients"),
    };
    let kind = RecordKind::from_str(editor.kind).unwrap_or(RecordKind::ProgressNote);
    let (token, cookie) = csrf(headers, state.tls);
    let page = NewPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        csrf: token,
        emergency: a.emergency_banner(lang, state.clock.now()),
        patient: view(&patient),
        kind_label: kind_label(lang, kind),
        masters: masters_for(state, a, Some(kind)).await,
        doctors: doctors(state, a).await,
        editor,
        proxy_for,
        error,
    };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

/// `?kind=` of the editor.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewQuery {
    kind: Option<String>,
}

fn parse_kind(raw: &str) -> Result<RecordKind, ApiError> {
    RecordKind::from_str(raw.trim()).map_err(|m| bad("kind", &m.ja, &m.en))
}

/// `GET /patients/{id}/records/new?kind=`: the editor for a new record of the kind.
pub async fn new_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<NewQuery>,
) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    let lang = lang_of(&headers);
    let kind = match parse_kind(q.kind.as_deref().unwrap_or("progress_note")) {
        Ok(k) => k,
        Err(e) => return refusal(&state, lang, &e, &format!("/patients/{}/chart", id.trim())),
    };
    new_page(&state, &headers, &a, &id, Editor::blank(kind), String::new(), StatusCode::OK, None).await
}

/// `POST /patients/{id}/records`: a draft (`action=draft`), a draft finalized at once
/// (`finalize`), or a proxy entry for the doctor in `proxy_for` (`proxy`).
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let f = Fields::new(pairs);
    let lang = lang_of(&headers);
    let chart_page = format!("/patients/{}/chart", id.trim());
    if !csrf_ok(&headers, state.tls, f.get("csrf")) {
        return csrf_refused(&state, lang, &chart_page);
    }
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    let patient = id.trim().parse::<PatientId>().ok();
    let kind = parse_kind(f.get("kind")).ok();
    let action = f.get("action").to_owned();
    let (store, who, now) = (state.store.as_ref(), Caller::of(&a), state.clock.now());
    let step = async {
        let patient = patient.ok_or_else(|| ApiError::no_such("患者", "patient"))?;
        let kind = parse_kind(f.get("kind"))?;
        let proxy_for = match action.as_str() {
            "draft" | "finalize" => None,
            "proxy" => {
                let raw = f.get("proxy_for").trim();
                if raw.is_empty() {
                    return Err(bad(
                        "proxy_for",
                        "代行入力では依頼先（承認する医師）を選んでください。",
                        "a proxy entry needs the doctor who approves it",
                    ));
                }
                Some(
                    raw.parse::<UserId>()
                        .map_err(|_| bad("proxy_for", "医師の指定が正しくありません。", "not a user"))?,
                )
            }
            _ => return Err(bad("action", "操作を選んでください。", "choose an action")),
        };
        let new = NewRecord {
            target: Target { patient, chart: parse_id("chart", f.get("chart"))? },
            content: content_input(kind, &f)?,
            category: None,
            proxy_for,
        };
        records::create(store, &who, now, new).await
    };
    let created = match records::guarded(&state, &a, "record.create", patient, None, step).await {
        Ok(v) => v,
        Err(e) => {
            return match kind {
                Some(kind) if shows_form(&e) => {
                    let editor = Editor::from_fields(kind, &f);
                    let proxy_for = f.get("proxy_for").to_owned();
                    new_page(&state, &headers, &a, &id, editor, proxy_for, e.status(), Some(text(lang, &e))).await
                }
                _ => refusal(&state, lang, &e, &chart_page),
            };
        }
    };
    let rid = created.record.id;
    let record_page_path = format!("/records/{rid}");
    if action == "finalize" {
        let t = Target { patient: created.record.patient, chart: created.record.patient };
        let step = records::finalize(store, &who, now, rid, created.version, t);
        if let Err(e) =
            records::guarded(&state, &a, "record.finalize", Some(created.record.patient), Some(rid), step).await
        {
            let saved = if lang == Lang::Ja {
                "下書きとして保存しましたが、確定できませんでした："
            } else {
                "Saved as a draft, but it could not be finalized: "
            };
            let extra = Extra { error: Some(format!("{saved}{}", text(lang, &e))), ..Extra::default() };
            return record_page(&state, &headers, &a, rid, &DiffQuery::default(), extra, e.status()).await;
        }
    }
    if may(&a, Action::Read, &created, now) {
        see_other(&record_page_path)
    } else {
        see_other(&format!("/patients/{}/chart?sent=proxy", created.record.patient))
    }
}

// ---------------------------------------------------------------------------------------------
// One record
// ---------------------------------------------------------------------------------------------

/// A SOAP block: its letter, label and lines.
#[derive(Debug)]
struct SoapBlock {
    key: &'static str,
    label: &'static str,
    lines: Vec<String>,
}

/// A master entry as a record keeps it.
#[derive(Debug)]
struct MasterView {
    name: String,
    code: String,
    ver: u32,
    unit: String,
}

/// A diagnosis.
#[derive(Debug)]
struct DxView {
    disease: MasterView,
    suspected: bool,
    onset: String,
    note: Vec<String>,
}

/// One prescription line.
#[derive(Debug)]
struct RxView {
    n: usize,
    drug: MasterView,
    dose: String,
    usage: String,
    days: u16,
}

/// One lab item.
#[derive(Debug)]
struct LabView {
    item: MasterView,
    value: String,
    flag: String,
}

/// A version's content, per kind.
#[derive(Debug)]
enum ContentView {
    Soap(Vec<SoapBlock>),
    Diagnosis(DxView),
    Prescription(Vec<RxView>, Vec<String>),
    Lab(String, Vec<LabView>),
    Document(String, Vec<String>),
}

fn master_view(r: &mamori_core::master::MasterRef) -> MasterView {
    MasterView {
        name: r.name.clone(),
        code: r.code.as_str().to_owned(),
        ver: r.version,
        unit: r.unit.clone().unwrap_or_default(),
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

fn content_view(lang: Lang, content: &Content) -> ContentView {
    let ja = lang == Lang::Ja;
    match content {
        Body::ProgressNote(s) => ContentView::Soap(vec![
            SoapBlock {
                key: "s", label: if ja { "S（主観的情報）" } else { "S (subjective)" }, lines: lines(&s.s)
            },
            SoapBlock {
                key: "o", label: if ja { "O（客観的情報）" } else { "O (objective)" }, lines: lines(&s.o)
            },
            SoapBlock { key: "a", label: if ja { "A（評価）" } else { "A (assessment)" }, lines: lines(&s.a) },
            SoapBlock { key: "p", label: if ja { "P（計画）" } else { "P (plan)" }, lines: lines(&s.p) },
        ]),
        Body::Diagnosis(d) => ContentView::Diagnosis(DxView {
            disease: master_view(&d.disease),
            suspected: d.suspected,
            onset: d.onset.clone().unwrap_or_default(),
            note: lines(&d.note),
        }),
        Body::Prescription(p) => ContentView::Prescription(
            p.items
                .iter()
                .enumerate()
                .map(|(i, item)| RxView {
                    n: i + 1,
                    drug: master_view(&item.drug),
                    dose: item.dose.clone(),
                    usage: item.usage.clone(),
                    days: item.days,
                })
                .collect(),
            lines(&p.note),
        ),
        Body::LabResult(l) => ContentView::Lab(
            l.collected_on.clone(),
            l.items
                .iter()
                .map(|i| LabView {
                    item: master_view(&i.item),
                    value: i.value.clone(),
                    flag: i.flag.clone().unwrap_or_default(),
                })
                .collect(),
        ),
        Body::Document(d) => ContentView::Document(d.title.clone(), lines(&d.body)),
    }
}

/// Who entered a proxy entry, for whom.
#[derive(Debug)]
struct ProxyView {
    clerk: String,
    doctor: String,
}

/// A rejection.
#[derive(Debug)]
struct RejectView {
    by: String,
    reason: String,
    at: String,
}

/// One version as the record page shows it.
#[derive(Debug)]
struct VersionBlock {
    n: u32,
    change: &'static str,
    change_code: &'static str,
    state: &'static str,
    state_code: &'static str,
    content: ContentView,
    author: String,
    entered_at: String,
    updated_at: Option<String>,
    finalizer: Option<String>,
    finalized_at: Option<String>,
    proxy: Option<ProxyView>,
    reason: Option<String>,
    rejected: Option<RejectView>,
    leaf: Option<u64>,
}

fn version_block(lang: Lang, names: &Names, v: &RecordVersion) -> VersionBlock {
    VersionBlock {
        n: v.version,
        change: change_label(lang, v.change),
        change_code: v.change.as_str(),
        state: state_label(lang, v.state),
        state_code: v.state.as_str(),
        content: content_view(lang, &v.content),
        author: names.agent(v.author),
        entered_at: jst(v.entered_at),
        updated_at: (v.updated_at != v.entered_at && v.rejected.is_none()).then(|| jst(v.updated_at)),
        finalizer: v.finalized_by.map(|f| names.agent(f)),
        finalized_at: v.finalized_at.map(jst),
        proxy: v.proxy_for.map(|d| ProxyView { clerk: names.agent(v.author), doctor: names.user(d) }),
        reason: v.reason.clone(),
        rejected: v.rejected.as_ref().map(|(by, reason)| RejectView {
            by: names.user(*by),
            reason: reason.clone(),
            at: jst(v.updated_at),
        }),
        leaf: v.leaf_index,
    }
}

/// One line of a difference.
#[derive(Debug)]
struct DiffLine {
    class: &'static str,
    sign: &'static str,
    text: String,
}

/// The difference between two versions.
#[derive(Debug)]
struct DiffView {
    from: u32,
    to: u32,
    lines: Vec<DiffLine>,
}

/// `?from=&to=`: the versions to compare.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

fn number(raw: Option<&str>) -> Option<u32> {
    raw.and_then(|r| r.trim().parse().ok())
}

/// The difference asked for, or by default the latest final version against the final one
/// before it; an error text when a version asked for is not there.
fn diff_of(lang: Lang, versions: &[RecordVersion], q: &DiffQuery) -> (Option<DiffView>, Option<String>) {
    let finals: Vec<&RecordVersion> = versions.iter().filter(|v| v.state == VersionState::Final).collect();
    let asked = (number(q.from.as_deref()), number(q.to.as_deref()));
    let (from, to) = match asked {
        (Some(from), Some(to)) => {
            let find = |n: u32| versions.iter().find(|v| v.version == n);
            match (find(from), find(to)) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    let missing = if lang == Lang::Ja {
                        format!("版 {from} と版 {to} を比べられません（その版はありません）。")
                    } else {
                        format!("Cannot compare versions {from} and {to}: no such version.")
                    };
                    return (None, Some(missing));
                }
            }
        }
        _ => match finals.as_slice() {
            [.., before, latest] => (*before, *latest),
            _ => return (None, None),
        },
    };
    let lines = diff(&from.content.lines(), &to.content.lines())
        .into_iter()
        .map(|(op, text)| {
            let (class, sign) = match op {
                '+' => ("diff-add", "+"),
                '-' => ("diff-del", "-"),
                _ => ("diff-same", " "),
            };
            DiffLine { class, sign, text }
        })
        .collect();
    (Some(DiffView { from: from.version, to: to.version, lines }), None)
}

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    csrf: String,
    emergency: Option<String>,
    record: String,
    kind_label: &'static str,
    patient: PatientView,
    versions: Vec<VersionBlock>,
    numbers: Vec<u32>,
    diff: Option<DiffView>,
    diff_error: Option<String>,
    latest: u32,
    own_draft: bool,
    amend: bool,
    approve: bool,
    editor: Option<Editor>,
    masters: Masters,
    reason: String,
    cancel_reason: String,
    reject_reason: String,
    error: Option<String>,
}

/// What a refused action puts back on the record page.
#[derive(Debug, Default)]
struct Extra {
    error: Option<String>,
    editor: Option<Editor>,
    reason: String,
    cancel_reason: String,
    reject_reason: String,
}

async fn record_page(
    state: &AppState,
    headers: &HeaderMap,
    a: &Authenticated,
    rid: RecordId,
    q: &DiffQuery,
    extra: Extra,
    status: StatusCode,
) -> Response {
    let lang = lang_of(headers);
    let now = state.clock.now();
    let who = Caller::of(a);
    let step = records::history(state.store.as_ref(), &who, now, rid);
    let versions = match records::guarded(state, a, "record.read", None, Some(rid), step).await {
        Ok(v) => v,
        Err(e) => return refusal(state, lang, &e, "/"),
    };
    let (Some(first), Some(latest)) = (versions.first(), versions.last()) else {
        return refusal(state, lang, &no_record(), "/");
    };
    let patient = match state.store.patient(a.user.institution_id, first.record.patient).await {
        Ok(Some(p)) => p,
        Ok(None) => return refusal(state, lang, &ApiError::no_such("患者", "patient"), "/"),
        Err(e) => return refusal(state, lang, &e.into(), "/"),
    };
    let names = Names::load(state, a, lang).await;
    let own_draft = latest.state == VersionState::Draft && latest.author == Agent::User(a.user.id);
    let amend = latest.state == VersionState::Final
        && latest.change != Change::Cancellation
        && may(a, Action::Finalize, latest, now);
    let approve = latest.state == VersionState::PendingApproval && latest.proxy_for == Some(a.user.id);
    let editor = match extra.editor {
        Some(e) => Some(e),
        None if own_draft || amend => Some(Editor::from_input(&latest.content.as_input())),
        None => None,
    };
    let (diff, diff_error) = diff_of(lang, &versions, q);
    let kind = first.record.kind;
    let (token, cookie) = csrf(headers, state.tls);
    let page = RecordPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        csrf: token,
        emergency: a.emergency_banner(lang, now),
        record: rid.to_string(),
        kind_label: kind_label(lang, kind),
        patient: view(&patient),
        versions: versions.iter().map(|v| version_block(lang, &names, v)).collect(),
        numbers: versions.iter().map(|v| v.version).collect(),
        diff,
        diff_error,
        latest: latest.version,
        own_draft,
        amend,
        approve,
        masters: if editor.is_some() { masters_for(state, a, Some(kind)).await } else { Masters::default() },
        editor,
        reason: extra.reason,
        cancel_reason: extra.cancel_reason,
        reject_reason: extra.reject_reason,
        error: extra.error,
    };
    with_cookies(render(&page, status, lang, false, state.tls), [cookie])
}

/// `GET /records/{id}`: every version, the difference, and the actions the caller may take.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    let Ok(rid) = id.trim().parse::<RecordId>() else {
        return refusal(&state, lang_of(&headers), &no_record(), "/");
    };
    record_page(&state, &headers, &a, rid, &q, Extra::default(), StatusCode::OK).await
}

/// The start of every action on a record: the CSRF check, the session and the record's id.
async fn action_start(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    f: &Fields,
) -> Result<(Box<Authenticated>, RecordId), Response> {
    let lang = lang_of(headers);
    if !csrf_ok(headers, state.tls, f.get("csrf")) {
        return Err(csrf_refused(state, lang, &format!("/records/{}", id.trim())));
    }
    let a = signed_in(state, headers).await?;
    let rid = id.trim().parse::<RecordId>().map_err(|_| refusal(state, lang, &no_record(), "/"))?;
    Ok((a, rid))
}

/// After an action: back to the record, or the refusal (on the page again when it says what
/// to fix, else on a page of its own).
async fn after<T>(
    state: &AppState,
    headers: &HeaderMap,
    a: &Authenticated,
    rid: RecordId,
    result: Result<T, ApiError>,
    extra: impl FnOnce(String) -> Extra,
) -> Response {
    match result {
        Ok(_) => see_other(&format!("/records/{rid}")),
        Err(e) => {
            let lang = lang_of(headers);
            if shows_form(&e) {
                let shown = extra(text(lang, &e));
                record_page(state, headers, a, rid, &DiffQuery::default(), shown, e.status()).await
            } else {
                refusal(state, lang, &e, &format!("/records/{rid}"))
            }
        }
    }
}

/// The kind of a record (a read, for the editor's fields).
async fn record_kind(state: &AppState, a: &Authenticated, rid: RecordId) -> Option<RecordKind> {
    state.store.record(a.user.institution_id, rid).await.ok().flatten().map(|r| r.kind)
}

/// `POST /records/{id}/versions/{v}/draft`: the author saves the draft's new content.
pub async fn save_draft(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, version)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let f = Fields::new(pairs);
    let (a, rid) = match action_start(&state, &headers, &id, &f).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let kind = record_kind(&state, &a, rid).await;
    let (store, who, now) = (state.store.as_ref(), Caller::of(&a), state.clock.now());
    let step = async {
        let version = version_number(&version)?;
        let kind = kind.ok_or_else(no_record)?;
        let content = content_input(kind, &f)?;
        records::edit_draft(store, &who, now, rid, version, f.target()?, content).await
    };
    let result = records::guarded(&state, &a, "record.draft_update", None, Some(rid), step).await;
    after(&state, &headers, &a, rid, result, |error| Extra {
        error: Some(error),
        editor: kind.map(|k| Editor::from_fields(k, &f)),
        ..Extra::default()
    })
    .await
}

fn version_number(raw: &str) -> Result<u32, ApiError> {
    raw.trim().parse().map_err(|_| ApiError::no_such("記録の版", "record version"))
}

/// The actions on one version that take only the target.
#[derive(Debug, Clone, Copy)]
enum Step {
    Finalize,
    Discard,
    Approve,
}

async fn version_step(
    state: AppState,
    headers: HeaderMap,
    id: String,
    version: String,
    pairs: Vec<(String, String)>,
    which: Step,
) -> Response {
    let f = Fields::new(pairs);
    let (a, rid) = match action_start(&state, &headers, &id, &f).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let action = match which {
        Step::Finalize => "record.finalize",
        Step::Discard => "record.discard",
        Step::Approve => "record.approve",
    };
    let (store, who, now) = (state.store.as_ref(), Caller::of(&a), state.clock.now());
    let step = async {
        let version = version_number(&version)?;
        let t = f.target()?;
        match which {
            Step::Finalize => records::finalize(store, &who, now, rid, version, t).await.map(|_| ()),
            Step::Approve => records::approve(store, &who, now, rid, version, t).await.map(|_| ()),
            Step::Discard => records::discard(store, &who, now, rid, version, t).await,
        }
    };
    let result = records::guarded(&state, &a, action, None, Some(rid), step).await;
    after(&state, &headers, &a, rid, result, |error| Extra { error: Some(error), ..Extra::default() }).await
}

/// `POST /records/{id}/versions/{v}/finalize`: the author finalizes (確定) the draft.
pub async fn finalize(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, version)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    version_step(state, headers, id, version, pairs, Step::Finalize).await
}

/// `POST /records/{id}/versions/{v}/discard`: the author discards the draft.
pub async fn discard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, version)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    version_step(state, headers, id, version, pairs, Step::Discard).await
}

/// `POST /records/{id}/versions/{v}/approve`: the named doctor approves a proxy entry.
pub async fn approve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, version)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    version_step(state, headers, id, version, pairs, Step::Approve).await
}

/// `POST /records/{id}/versions/{v}/reject`: the named doctor rejects (差戻し) a proxy entry
/// with a reason.
pub async fn reject(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, version)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let f = Fields::new(pairs);
    let (a, rid) = match action_start(&state, &headers, &id, &f).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let (store, who, now) = (state.store.as_ref(), Caller::of(&a), state.clock.now());
    let step = async {
        let version = version_number(&version)?;
        records::reject(store, &who, now, rid, version, f.target()?, f.get("reason")).await
    };
    let result = records::guarded(&state, &a, "record.reject", None, Some(rid), step).await;
    after(&state, &headers, &a, rid, result, |error| Extra {
        error: Some(error),
        reject_reason: f.get("reason").to_owned(),
        ..Extra::default()
    })
    .await
}

/// `POST /records/{id}/correct`: a correction (訂正) of the latest final version `from`, with
/// the editor's content and the reason.
pub async fn correct(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    amend(state, headers, id, pairs, true).await
}

/// `POST /records/{id}/cancel`: a cancellation (取消) of the latest final version `from`, with
/// the reason.
pub async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    amend(state, headers, id, pairs, false).await
}

async fn amend(
    state: AppState,
    headers: HeaderMap,
    id: String,
    pairs: Vec<(String, String)>,
    correction: bool,
) -> Response {
    let f = Fields::new(pairs);
    let (a, rid) = match action_start(&state, &headers, &id, &f).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let kind = if correction { record_kind(&state, &a, rid).await } else { None };
    let (store, who, now) = (state.store.as_ref(), Caller::of(&a), state.clock.now());
    let step = async {
        let from: u32 = f.get("from").trim().parse().map_err(|_| {
            bad("from", "訂正・取消する版が正しくありません。開き直してください。", "not a version; reload the record")
        })?;
        let t = f.target()?;
        let content = if correction { Some(content_input(kind.ok_or_else(no_record)?, &f)?) } else { None };
        records::amend(store, &who, now, rid, from, t, f.get("reason"), content).await
    };
    let action = if correction { "record.correct" } else { "record.cancel" };
    let result = records::guarded(&state, &a, action, None, Some(rid), step).await;
    after(&state, &headers, &a, rid, result, |error| {
        if correction {
            Extra {
                error: Some(error),
                editor: kind.map(|k| Editor::from_fields(k, &f)),
                reason: f.get("reason").to_owned(),
                ..Extra::default()
            }
        } else {
            Extra { error: Some(error), cancel_reason: f.get("reason").to_owned(), ..Extra::default() }
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// The approval queue
// ---------------------------------------------------------------------------------------------

/// One waiting proxy entry.
#[derive(Debug)]
struct QueueRow {
    record: String,
    patient: String,
    patient_name: String,
    patient_number: String,
    kind: &'static str,
    summary: String,
    author: String,
    entered_at: String,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    emergency: Option<String>,
    rows: Vec<QueueRow>,
}

/// `GET /approvals`: the proxy entries waiting for the signed-in doctor, oldest first. Each
/// patient listed is recorded as read (`patient.list`), like a search.
pub async fn approvals(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let a = match signed_in(&state, &headers).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    let lang = lang_of(&headers);
    let queue = match records::queue(state.store.as_ref(), &Caller::of(&a)).await {
        Ok(q) => q,
        Err(e) => return refusal(&state, lang, &e, "/"),
    };
    let mut patients = BTreeMap::new();
    for v in &queue {
        let id = v.record.patient;
        if patients.contains_key(&id) {
            continue;
        }
        match state.store.patient(a.user.institution_id, id).await {
            Ok(Some(p)) => {
                patients.insert(id, p);
            }
            Ok(None) => {}
            Err(e) => return refusal(&state, lang, &e.into(), "/"),
        }
    }
    let events = patients
        .keys()
        .map(|p| {
            crate::audit::by(&state, &a.user, "patient.list", Outcome::Allowed)
                .patient(*p)
                .resource(format!("patient:{p}"))
                .detail("view", "approvals")
        })
        .collect::<Vec<_>>();
    if !events.is_empty()
        && let Err(e) = crate::audit::record(&state, events).await
    {
        return refusal(&state, lang, &e, "/");
    }
    let names = Names::load(&state, &a, lang).await;
    let rows = queue
        .iter()
        .map(|v| {
            let p = patients.get(&v.record.patient);
            QueueRow {
                record: v.record.id.to_string(),
                patient: v.record.patient.to_string(),
                patient_name: p.map(|p| format!("{} {}", p.name.family, p.name.given)).unwrap_or_default(),
                patient_number: p.map(|p| p.number.as_str().to_owned()).unwrap_or_default(),
                kind: kind_label(lang, v.record.kind),
                summary: v.content.summary(),
                author: names.agent(v.author),
                entered_at: jst(v.entered_at),
            }
        })
        .collect();
    let page = ApprovalsPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        emergency: a.emergency_banner(lang, state.clock.now()),
        rows,
    };
    render(&page, StatusCode::OK, lang, false, state.tls)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields::new(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn the_form_becomes_the_content_and_back() {
        let f = fields(&[
            ("drug_1", "SD-0001 アムロジピン錠5mg"),
            ("dose_1", "1"),
            ("usage_1", "1日1回 朝食後"),
            ("days_1", "28"),
            ("drug_3", "SD-0002"),
            ("dose_3", "2"),
            ("usage_3", "1日2回"),
            ("days_3", "14"),
        ]);
        let input = content_input(RecordKind::Prescription, &f).unwrap();
        let Body::Prescription(p) = &input else { panic!("a prescription") };
        assert_eq!(p.items.len(), 2, "blank rows are left out");
        assert_eq!(p.items[0].drug.as_str(), "SD-0001");
        let editor = Editor::from_input(&input);
        assert_eq!(editor.rx.len(), RX_ROWS);
        assert_eq!((editor.rx[1].drug.as_str(), editor.rx[1].n), ("SD-0002", 2));

        let bad_days = fields(&[("drug_2", "SD-0001"), ("dose_2", "1"), ("usage_2", "u"), ("days_2", "x")]);
        let e = content_input(RecordKind::Prescription, &bad_days).unwrap_err();
        assert!(e.message().en.starts_with("days_2:"), "{}", e.message().en);

        let dx = fields(&[("disease", "SB-0001"), ("suspected", "on"), ("onset", "")]);
        let Body::Diagnosis(d) = content_input(RecordKind::Diagnosis, &dx).unwrap() else { panic!("a diagnosis") };
        assert!(d.suspected && d.onset.is_none());
        assert!(content_input(RecordKind::Diagnosis, &fields(&[])).is_err());

        let lab = fields(&[("collected_on", "2026-11-20"), ("item_2", "SL-0001"), ("value_2", "6.8"), ("flag_2", "H")]);
        let Body::LabResult(l) = content_input(RecordKind::LabResult, &lab).unwrap() else { panic!("a lab result") };
        assert_eq!((l.items.len(), l.items[0].flag.as_deref()), (1, Some("H")));
        assert!(content_input(RecordKind::ProgressNote, &fields(&[("s", " ")])).is_err());
    }
}
