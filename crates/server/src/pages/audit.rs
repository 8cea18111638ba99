//! The auditor's pages (監査): search the trail ("who opened patient X", "what did user Y
//! do", by period, action and outcome), the anomaly report, and links to the exports. Only
//! with the read-audit permission; every view is itself recorded, as in the API.

use super::login::{PageAuth, VERSION, lang_of, lock_page, message_page, page_auth, see_other, text};
use super::render;
use crate::api::audit::{AnomalyView, EventFilter, Period, anomaly_report, search};
use crate::i18n::{Lang, Texts};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mamori_core::audit::AuditEvent;
use serde::Deserialize;

/// The search form's fields (all optional; `from`/`until` as the browser's datetime-local,
/// read as Japan time).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuditForm {
    patient: String,
    user: String,
    from: String,
    until: String,
    action: String,
    outcome: String,
    before: Option<u64>,
}

/// One row of the results.
struct Row {
    index: u64,
    at: String,
    who: String,
    action: String,
    outcome: String,
    patient: String,
    resource: String,
    ip: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    form: AuditForm,
    rows: Vec<Row>,
    next_before: Option<u64>,
    next_query: String,
    export_query: String,
    anomalies: Vec<AnomalyView>,
    error: Option<String>,
}

fn jst(at: time::OffsetDateTime) -> String {
    let t = at.to_offset(time::macros::offset!(+9));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `2026-11-25T09:00` (datetime-local, Japan time) → RFC 3339; anything else as given.
fn local_time(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let bytes = raw.as_bytes();
    if raw.len() == 16 && bytes.get(10) == Some(&b'T') { Some(format!("{raw}:00+09:00")) } else { Some(raw.to_owned()) }
}

fn nonempty(raw: &str) -> Option<String> {
    let t = raw.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs.iter().filter(|(_, v)| !v.is_empty()).collect::<Vec<_>>()).unwrap_or_default()
}

fn row(lang: Lang, index: u64, event: &AuditEvent, login: Option<String>) -> Row {
    use mamori_core::audit::Actor;
    let who = match (&event.actor, login) {
        (_, Some(login)) => login,
        (Actor::Operator, _) => if lang == Lang::Ja { "運用者" } else { "operator" }.to_owned(),
        (Actor::System, _) => "mamori".to_owned(),
        _ => "-".to_owned(),
    };
    Row {
        index,
        at: jst(event.at),
        who,
        action: event.action.clone(),
        outcome: event.outcome.as_str().to_owned(),
        patient: event.patient.map(|p| p.to_string()).unwrap_or_default(),
        resource: event.resource.clone().unwrap_or_default(),
        ip: event.origin.ip.clone().unwrap_or_default(),
    }
}

/// `GET /audit`
pub async fn page(State(state): State<AppState>, headers: HeaderMap, Query(form): Query<AuditForm>) -> Response {
    let a = match page_auth(&state, &headers).await {
        PageAuth::Active(a) if a.user.password_change_required => return see_other("/password"),
        PageAuth::Active(a) => a,
        PageAuth::Locked => return lock_page(&state, &headers, StatusCode::LOCKED, None),
        PageAuth::None => return see_other("/login"),
    };
    let lang = lang_of(&headers);
    let filter = EventFilter {
        patient: nonempty(&form.patient),
        user: nonempty(&form.user),
        from: local_time(&form.from),
        until: local_time(&form.until),
        action: nonempty(&form.action),
        outcome: nonempty(&form.outcome),
        before: form.before,
        limit: Some(100),
    };
    let (rows, next_before, error, status) = match search(&state, &a, &filter, "audit.read").await {
        Ok(found) => {
            let rows = found
                .page
                .events
                .iter()
                .zip(&found.events)
                .map(|(shown, (i, e, _))| row(lang, *i, e, shown.login_id.clone()))
                .collect();
            (rows, found.page.next_before, None, StatusCode::OK)
        }
        Err(e) if e.status() == StatusCode::FORBIDDEN || e.status() == StatusCode::UNAUTHORIZED => {
            let heading = if lang == Lang::Ja {
                "監査証跡を閲覧する権限がありません"
            } else {
                "No access to the audit trail"
            };
            return message_page(&state, lang, e.status(), heading, &text(lang, &e), "/");
        }
        Err(e) => (Vec::new(), None, Some(text(lang, &e)), e.status()),
    };
    let anomalies = if error.is_none() && form.before.is_none() {
        anomaly_report(&state, &a, &Period::default()).await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let base = [
        ("patient", form.patient.as_str()),
        ("user", form.user.as_str()),
        ("from", form.from.as_str()),
        ("until", form.until.as_str()),
        ("action", form.action.as_str()),
        ("outcome", form.outcome.as_str()),
    ];
    let next_query = next_before
        .map(|b| {
            let b = b.to_string();
            let mut pairs = base.to_vec();
            pairs.push(("before", b.as_str()));
            query_string(&pairs)
        })
        .unwrap_or_default();
    let export_pairs: Vec<(&str, String)> = [
        ("patient", filter.patient.clone()),
        ("user", filter.user.clone()),
        ("from", filter.from.clone()),
        ("until", filter.until.clone()),
        ("action", filter.action.clone()),
        ("outcome", filter.outcome.clone()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let export_query = serde_urlencoded::to_string(&export_pairs).unwrap_or_default();
    let page = AuditPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: VERSION,
        form,
        rows,
        next_before,
        next_query,
        export_query,
        anomalies,
        error,
    };
    render(&page, status, lang, false, state.tls)
}
