//! The audit trail over the API: the institution's signed checkpoint, the server's verifier
//! key, and the search for auditors (MDS 4.3.2: only with the read-audit permission; every
//! read of the trail, and every refused attempt, is itself an event).

use crate::audit;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use mamori_core::audit::{AuditEvent, AuditQuery, Outcome};
use mamori_core::authz::{AdminPermission, authorize_admin};
use mamori_core::{Message, PatientId, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

/// The most events one page returns.
const MAX_LIMIT: u32 = 1000;

/// The institution's latest checkpoint: a C2SP tlog-checkpoint signed as a C2SP signed note.
#[utoipa::path(get, path = "/api/v1/ledger/checkpoint", tag = "audit",
    responses(
        (status = 200, description = "The signed checkpoint (origin, size, base64 root, blank line, signature)", content_type = "text/plain", body = String),
        (status = 401, description = "Not signed in", body = crate::error::ErrorEnvelope)
    ))]
pub async fn checkpoint(State(state): State<AppState>, auth: Authenticated) -> Result<Response, ApiError> {
    auth.ready()?;
    let (_, note) = crate::checkpoints::latest(
        state.store.as_ref(),
        &state.config,
        &state.keys.checkpoint,
        auth.user.institution_id,
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "cannot make a checkpoint");
        ApiError::internal()
    })?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}

/// The verifier key of the server's checkpoint key, in the signed-note format.
#[utoipa::path(get, path = "/api/v1/ledger/verifier-key", tag = "audit",
    responses((status = 200, description = "`<name>+<key id>+<base64 key>`", content_type = "text/plain", body = String)))]
pub async fn verifier_key(State(state): State<AppState>) -> Result<Response, ApiError> {
    let key = crate::checkpoints::verifier_key(&state.config, &state.keys.checkpoint).map_err(|m| {
        tracing::error!(error = %m.en, "cannot make the verifier key");
        ApiError::internal()
    })?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{key}\n")).into_response())
}

/// `GET /api/v1/audit/events` filters; every given one narrows the search.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
pub struct EventFilter {
    /// Events about this patient ("who opened patient X").
    pub patient: Option<String>,
    /// Events by this user, by login ID ("what did user Y do").
    pub user: Option<String>,
    /// At or after (RFC 3339).
    pub from: Option<String>,
    /// Before (RFC 3339).
    pub until: Option<String>,
    /// This action (e.g. `login`, `record.read`).
    pub action: Option<String>,
    /// allowed, denied or error.
    pub outcome: Option<String>,
    /// Only events with a log index below this (the previous page's `next_before`).
    pub before: Option<u64>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<u32>,
}

/// One event with its place in the log.
#[derive(Debug, Serialize, ToSchema)]
pub struct IndexedEvent {
    /// Its leaf index in the institution's log.
    pub index: u64,
    /// The acting user's login ID, when the actor is a user.
    pub login_id: Option<String>,
    /// The event as stored (the leaf's canonical JSON).
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// The events.
    pub events: Vec<IndexedEvent>,
    /// Pass as `before` for the next (older) page; null at the end.
    pub next_before: Option<u64>,
}

fn bad(field: &str) -> ApiError {
    ApiError::bad_request(Message::new(format!("{field} の形式が正しくありません。"), format!("{field} is malformed")))
}

fn time_param(raw: Option<&str>, field: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    raw.map(|t| OffsetDateTime::parse(t, &Rfc3339).map_err(|_| bad(field))).transpose()
}

/// The audit trail, newest first (auditors only; the search is itself recorded).
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(EventFilter),
    responses(
        (status = 200, description = "Matching events", body = EventPage),
        (status = 400, description = "A malformed filter", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission to read the audit trail", body = crate::error::ErrorEnvelope)
    ))]
pub async fn events(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(filter): Query<EventFilter>,
) -> Result<Json<EventPage>, ApiError> {
    let found = search(&state, &auth, &filter, "audit.read").await?;
    Ok(Json(found.page))
}

/// A search's result: the page, and the events parsed (for exports and the page).
pub(crate) struct Found {
    /// The page as the API returns it.
    pub page: EventPage,
    /// The events with their indexes and leaves, newest first.
    pub events: Vec<(u64, AuditEvent, Vec<u8>)>,
}

/// Refuses (and records the refusal) unless the user may read the audit trail.
async fn auditor(state: &AppState, auth: &Authenticated, action: &str) -> Result<(), ApiError> {
    auth.ready()?;
    match authorize_admin(&auth.principal(), auth.user.institution_id, AdminPermission::ReadAudit) {
        Ok(_) => Ok(()),
        Err(denied) => {
            audit::record_one(state, audit::by(state, &auth.user, action, Outcome::Denied)).await?;
            Err(ApiError::denied(denied))
        }
    }
}

/// The search, shared by the API, the exports and the auditor's page; `action` is what the
/// read is recorded as (`audit.read`, `audit.export`).
pub(crate) async fn search(
    state: &AppState,
    auth: &Authenticated,
    filter: &EventFilter,
    action: &str,
) -> Result<Found, ApiError> {
    auditor(state, auth, action).await?;
    let institution = auth.user.institution_id;
    let patient: Option<PatientId> =
        filter.patient.as_deref().map(|p| p.trim().parse().map_err(|_| bad("patient"))).transpose()?;
    let users = state.store.users(institution).await?;
    let actor: Option<UserId> = match filter.user.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(login) => Some(
            users
                .iter()
                .find(|u| u.login_id.as_str() == login)
                .map(|u| u.id)
                .ok_or_else(|| ApiError::no_such("利用者", "user"))?,
        ),
    };
    let outcome = filter.outcome.as_deref().map(|o| Outcome::parse(o).ok_or_else(|| bad("outcome"))).transpose()?;
    if filter.action.as_ref().is_some_and(|a| a.len() > 64) {
        return Err(bad("action"));
    }
    let query = AuditQuery {
        from: time_param(filter.from.as_deref(), "from")?,
        until: time_param(filter.until.as_deref(), "until")?,
        actor,
        patient,
        action: filter.action.clone().filter(|a| !a.is_empty()),
        outcome,
        before_index: filter.before,
        limit: filter.limit.unwrap_or(100).clamp(1, MAX_LIMIT),
    };
    // The read is recorded before the trail leaves the server.
    let mut event = audit::by(state, &auth.user, action, Outcome::Allowed);
    if let Some(p) = patient {
        event = event.patient(p);
    }
    if let Some(a) = actor {
        event = event.detail("filter_user", a.to_string());
    }
    if let Some(a) = &query.action {
        event = event.detail("filter_action", a.clone());
    }
    audit::record_one(state, event).await?;
    let rows = state.store.audit_search(institution, &query).await?;
    let login = |id: UserId| users.iter().find(|u| u.id == id).map(|u| u.login_id.to_string());
    let mut events = Vec::with_capacity(rows.len());
    let mut parsed_all = Vec::with_capacity(rows.len());
    for (index, leaf) in rows {
        let parsed = AuditEvent::from_leaf(&leaf).map_err(|_| ApiError::internal())?;
        let value = serde_json::from_slice(&leaf).map_err(|_| ApiError::internal())?;
        events.push(IndexedEvent { index, login_id: parsed.actor.user().and_then(login), event: value });
        parsed_all.push((index, parsed, leaf));
    }
    let full = u32::try_from(events.len()).unwrap_or(u32::MAX) >= query.limit;
    let next_before = if full { events.last().map(|e| e.index) } else { None };
    Ok(Found { page: EventPage { events, next_before }, events: parsed_all })
}

/// `GET /api/v1/audit/export`: the search's filters plus the format.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
pub struct ExportFilter {
    /// `fhir` (a FHIR R4 Bundle of AuditEvent resources), `ndjson` (one AuditEvent per line) or
    /// `syslog` (RFC 5424 lines).
    pub format: Option<String>,
    /// As for `/api/v1/audit/events`.
    pub patient: Option<String>,
    /// As for `/api/v1/audit/events`.
    pub user: Option<String>,
    /// As for `/api/v1/audit/events`.
    pub from: Option<String>,
    /// As for `/api/v1/audit/events`.
    pub until: Option<String>,
    /// As for `/api/v1/audit/events`.
    pub action: Option<String>,
    /// As for `/api/v1/audit/events`.
    pub outcome: Option<String>,
    /// As for `/api/v1/audit/events`.
    pub before: Option<u64>,
    /// As for `/api/v1/audit/events` (1–1000, default 100).
    pub limit: Option<u32>,
}

/// Exports events for other systems (auditors only; the export is itself recorded):
/// FHIR R4 AuditEvent as a Bundle or NDJSON, or RFC 5424 syslog lines.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(ExportFilter),
    responses(
        (status = 200, description = "The events in the chosen format, newest first", content_type = "application/fhir+json", body = String),
        (status = 400, description = "An unknown format or a malformed filter", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission to read the audit trail", body = crate::error::ErrorEnvelope)
    ))]
pub async fn export(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(q): Query<ExportFilter>,
) -> Result<Response, ApiError> {
    let format = q.format.clone().unwrap_or_else(|| "fhir".to_owned());
    if !matches!(format.as_str(), "fhir" | "ndjson" | "syslog") {
        return Err(bad("format"));
    }
    let filter = EventFilter {
        patient: q.patient,
        user: q.user,
        from: q.from,
        until: q.until,
        action: q.action,
        outcome: q.outcome,
        before: q.before,
        limit: q.limit,
    };
    let found = search(&state, &auth, &filter, "audit.export").await?;
    let host = state.config.log_origin_host();
    let observer = format!("mamori@{host}");
    let fhir = |i: u64, e: &AuditEvent| mamori_core::audit::export::to_fhir(e, i, &observer);
    let (content_type, body) = match format.as_str() {
        "syslog" => {
            let mut out = String::new();
            for (i, e, leaf) in &found.events {
                out.push_str(&mamori_core::audit::export::to_syslog(e, *i, &host, leaf));
                out.push('\n');
            }
            ("text/plain; charset=utf-8", out)
        }
        "ndjson" => {
            let mut out = String::new();
            for (i, e, _) in &found.events {
                out.push_str(&fhir(*i, e).to_string());
                out.push('\n');
            }
            ("application/fhir+ndjson", out)
        }
        _ => {
            let entries: Vec<serde_json::Value> = found
                .events
                .iter()
                .map(|(i, e, _)| {
                    serde_json::json!({
                        "fullUrl": format!("urn:mamori:audit:{}:{i}", e.institution),
                        "resource": fhir(*i, e),
                    })
                })
                .collect();
            let bundle = serde_json::json!({
                "resourceType": "Bundle",
                "type": "collection",
                "total": entries.len(),
                "entry": entries,
            });
            ("application/fhir+json", bundle.to_string())
        }
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// `GET /api/v1/audit/anomalies`: the period to look at.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
pub struct Period {
    /// At or after (RFC 3339; default: 7 days ago).
    pub from: Option<String>,
    /// Before (RFC 3339; default: now).
    pub until: Option<String>,
}

/// One anomaly as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnomalyView {
    /// `own_chart`, `same_surname`, `emergency_access`, `repeated_denials` or `after_hours`.
    pub kind: &'static str,
    /// The user's login ID, if a user.
    pub login_id: Option<String>,
    /// How many events.
    pub count: u32,
    /// The first (RFC 3339).
    pub first: String,
    /// The last (RFC 3339).
    pub last: String,
    /// Their log indexes (first 50).
    pub indexes: Vec<u64>,
}

/// Most events the anomaly report reads.
const ANOMALY_SCAN: usize = 20_000;

/// The anomaly report for auditors: opening one's own chart or a same-surname patient's, every
/// use of emergency access, users refused three or more times, and activity outside business
/// hours (07:00–21:00 JST, Monday–Saturday).
#[utoipa::path(get, path = "/api/v1/audit/anomalies", tag = "audit", params(Period),
    responses(
        (status = 200, description = "Findings, by kind", body = Vec<AnomalyView>),
        (status = 400, description = "A malformed period", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission to read the audit trail", body = crate::error::ErrorEnvelope)
    ))]
pub async fn anomalies(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(period): Query<Period>,
) -> Result<Json<Vec<AnomalyView>>, ApiError> {
    anomaly_report(&state, &auth, &period).await.map(Json)
}

/// The report, shared by the API and the page.
pub(crate) async fn anomaly_report(
    state: &AppState,
    auth: &Authenticated,
    period: &Period,
) -> Result<Vec<AnomalyView>, ApiError> {
    auditor(state, auth, "audit.read").await?;
    let institution = auth.user.institution_id;
    let now = state.clock.now();
    let from = time_param(period.from.as_deref(), "from")?.unwrap_or(now - time::Duration::days(7));
    let until = time_param(period.until.as_deref(), "until")?.unwrap_or(now);
    let event = audit::by(state, &auth.user, "audit.read", Outcome::Allowed).detail("report", "anomalies");
    audit::record_one(state, event).await?;
    let mut events = Vec::new();
    let mut before = None;
    while events.len() < ANOMALY_SCAN {
        let query = AuditQuery {
            from: Some(from),
            until: Some(until),
            before_index: before,
            limit: MAX_LIMIT,
            ..AuditQuery::default()
        };
        let rows = state.store.audit_search(institution, &query).await?;
        let Some((last, _)) = rows.last() else { break };
        before = Some(*last);
        let full = u32::try_from(rows.len()).unwrap_or(u32::MAX) >= MAX_LIMIT;
        for (index, leaf) in rows {
            events.push((index, AuditEvent::from_leaf(&leaf).map_err(|_| ApiError::internal())?));
        }
        if !full {
            break;
        }
    }
    let users = state.store.users(institution).await?;
    // The same-person checks: the users' display names and the names of the patients in
    // these events (at most the first 2000 distinct patients).
    let mut patient_ids: Vec<mamori_core::PatientId> = events.iter().filter_map(|(_, e)| e.patient).collect();
    patient_ids.sort_unstable();
    patient_ids.dedup();
    let mut patient_names = std::collections::HashMap::new();
    for id in patient_ids.into_iter().take(2000) {
        if let Some(p) = state.store.patient(institution, id).await? {
            patient_names.insert(id, (p.name.family, p.name.given));
        }
    }
    let display: std::collections::HashMap<mamori_core::UserId, String> =
        users.iter().map(|u| (u.id, u.display_name.as_str().to_owned())).collect();
    let user_name = |id: mamori_core::UserId| display.get(&id).cloned();
    let patient_name = |id: mamori_core::PatientId| patient_names.get(&id).cloned();
    let names = mamori_core::audit::anomaly::Names { user: &user_name, patient: &patient_name };
    let found = mamori_core::audit::anomaly::find(
        &events,
        mamori_core::audit::anomaly::BusinessHours::default(),
        3,
        Some(&names),
    );
    let fmt = |t: OffsetDateTime| super::rfc3339(t).unwrap_or_default();
    Ok(found
        .into_iter()
        .map(|f| AnomalyView {
            kind: f.kind.as_str(),
            login_id: f.user.and_then(|id| users.iter().find(|u| u.id == id).map(|u| u.login_id.to_string())),
            count: f.count,
            first: fmt(f.first),
            last: fmt(f.last),
            indexes: f.indexes,
        })
        .collect())
}

/// `GET /api/v1/ledger/inclusion`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The leaf's index.
    pub index: u64,
    /// The tree size to prove it in (default: the current size).
    pub size: Option<u64>,
}

/// An inclusion proof (RFC 9162 §2.1.3), hashes in base64.
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProof {
    /// The leaf's index.
    pub index: u64,
    /// The tree size.
    pub size: u64,
    /// SHA-256(0x00 ‖ leaf).
    pub leaf_hash: String,
    /// The root of the tree of `size` leaves.
    pub root: String,
    /// The audit path, from the leaf up.
    pub proof: Vec<String>,
}

/// `GET /api/v1/ledger/consistency`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The older tree size (e.g. from a checkpoint one kept).
    pub from: u64,
    /// The newer tree size (default: the current size).
    pub to: Option<u64>,
}

/// A consistency proof (RFC 9162 §2.1.4), hashes in base64.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProof {
    /// The older size.
    pub from: u64,
    /// The newer size.
    pub to: u64,
    /// The root at `from`.
    pub from_root: String,
    /// The root at `to`.
    pub to_root: String,
    /// The proof.
    pub proof: Vec<String>,
}

fn b64(hash: &mamori_ledger::Hash) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(hash.as_bytes())
}

fn proof_failed(e: &crate::checkpoints::CheckpointFailure) -> ApiError {
    tracing::error!(error = %e, "cannot compute a proof");
    ApiError::internal()
}

fn out_of_range(what: &str) -> ApiError {
    ApiError::bad_request(Message::new(format!("{what} がログの範囲外です。"), format!("{what} is outside the log")))
}

/// Proves that one leaf (event) is in the institution's log, for anyone holding a checkpoint.
#[utoipa::path(get, path = "/api/v1/ledger/inclusion", tag = "audit", params(InclusionQuery),
    responses(
        (status = 200, description = "The proof", body = InclusionProof),
        (status = 400, description = "An index or size outside the log", body = crate::error::ErrorEnvelope),
        (status = 401, description = "Not signed in", body = crate::error::ErrorEnvelope)
    ))]
pub async fn inclusion(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(q): Query<InclusionQuery>,
) -> Result<Json<InclusionProof>, ApiError> {
    auth.ready()?;
    let institution = auth.user.institution_id;
    let head = state.store.log_head(institution).await?;
    let size = q.size.unwrap_or(head.size);
    if size > head.size || q.index >= size {
        return Err(out_of_range("index/size"));
    }
    let store = state.store.as_ref();
    let proof =
        crate::checkpoints::inclusion_proof(store, institution, q.index, size).await.map_err(|e| proof_failed(&e))?;
    let root = crate::checkpoints::root_at(store, institution, size).await.map_err(|e| proof_failed(&e))?;
    let leaf = state.store.log_leaves(institution, q.index, q.index + 1).await?;
    let Some((_, _, leaf_hash)) = leaf.first() else { return Err(out_of_range("index")) };
    Ok(Json(InclusionProof {
        index: q.index,
        size,
        leaf_hash: b64(&mamori_ledger::Hash::from_bytes(*leaf_hash)),
        root: b64(&root),
        proof: proof.iter().map(b64).collect(),
    }))
}

/// Proves that the log only grew between two sizes.
#[utoipa::path(get, path = "/api/v1/ledger/consistency", tag = "audit", params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof", body = ConsistencyProof),
        (status = 400, description = "Sizes outside the log or out of order", body = crate::error::ErrorEnvelope),
        (status = 401, description = "Not signed in", body = crate::error::ErrorEnvelope)
    ))]
pub async fn consistency(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    auth.ready()?;
    let institution = auth.user.institution_id;
    let head = state.store.log_head(institution).await?;
    let to = q.to.unwrap_or(head.size);
    if to > head.size || q.from > to {
        return Err(out_of_range("from/to"));
    }
    let store = state.store.as_ref();
    let proof =
        crate::checkpoints::consistency_proof(store, institution, q.from, to).await.map_err(|e| proof_failed(&e))?;
    let from_root = crate::checkpoints::root_at(store, institution, q.from).await.map_err(|e| proof_failed(&e))?;
    let to_root = crate::checkpoints::root_at(store, institution, to).await.map_err(|e| proof_failed(&e))?;
    Ok(Json(ConsistencyProof {
        from: q.from,
        to,
        from_root: b64(&from_root),
        to_root: b64(&to_root),
        proof: proof.iter().map(b64).collect(),
    }))
}
