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
    search(&state, &auth, &filter).await.map(Json)
}

/// The search, shared by the API and the auditor's page.
pub(crate) async fn search(
    state: &AppState,
    auth: &Authenticated,
    filter: &EventFilter,
) -> Result<EventPage, ApiError> {
    auth.ready()?;
    let institution = auth.user.institution_id;
    if let Err(denied) = authorize_admin(&auth.principal(), institution, AdminPermission::ReadAudit) {
        audit::record_one(state, audit::by(state, &auth.user, "audit.read", Outcome::Denied)).await?;
        return Err(ApiError::denied(denied));
    }
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
    let mut event = audit::by(state, &auth.user, "audit.read", Outcome::Allowed);
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
    for (index, leaf) in &rows {
        let parsed = AuditEvent::from_leaf(leaf).map_err(|_| ApiError::internal())?;
        let value = serde_json::from_slice(leaf).map_err(|_| ApiError::internal())?;
        events.push(IndexedEvent { index: *index, login_id: parsed.actor.user().and_then(login), event: value });
    }
    let full = u32::try_from(rows.len()).unwrap_or(u32::MAX) >= query.limit;
    let next_before = if full { rows.last().map(|(i, _)| *i) } else { None };
    Ok(EventPage { events, next_before })
}
