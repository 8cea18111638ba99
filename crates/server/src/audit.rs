//! Writing audit events from request handlers.
//!
//! A middleware gives every request a server-made request id and records where it came from
//! (client IP, terminal certificate) in a task-local [`Origin`], so the step functions need no
//! extra arguments: [`record`] stamps the origin on each event and appends it to the
//! institution's log before the handler's response leaves. If the event cannot be written the
//! request fails (500): an action is never reported as done without its audit event.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use mamori_core::audit::{Actor, AuditEvent, Origin, Outcome};
use mamori_core::{InstitutionId, User};

tokio::task_local! {
    static ORIGIN: Origin;
}

/// The response header carrying the request id (also in every audit event of the request).
pub const REQUEST_ID: &str = "x-request-id";

/// Middleware: a fresh request id and the request's origin for the audit events it writes.
pub async fn with_origin(req: Request, next: Next) -> Response {
    let conn = req.extensions().get::<crate::serve::ConnInfo>().cloned();
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    let request_id = uuid::Builder::from_random_bytes(bytes).into_uuid().to_string();
    let origin = Origin {
        ip: conn.as_ref().map(|c| c.peer.ip().to_string()),
        client_cert_sha256: conn.and_then(|c| c.client_cert_sha256),
        request_id: Some(request_id.clone()),
    };
    let mut response = ORIGIN.scope(origin, next.run(req)).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// The current request's origin (empty outside a request, e.g. in the command line).
#[must_use]
pub fn origin() -> Origin {
    ORIGIN.try_with(Clone::clone).unwrap_or_default()
}

/// The actor for a user: their id and the roles they hold now.
#[must_use]
pub fn actor(user: &User) -> Actor {
    Actor::User { user: user.id, roles: user.roles.clone() }
}

/// A new event by `user` at the state's clock, in the user's institution.
#[must_use]
pub fn by(state: &AppState, user: &User, action: &str, outcome: Outcome) -> AuditEvent {
    AuditEvent::new(user.institution_id, state.clock.now(), actor(user), action, outcome)
}

/// A new event in `institution` by an actor that is not a signed-in user.
#[must_use]
pub fn by_actor(
    state: &AppState,
    institution: InstitutionId,
    actor: Actor,
    action: &str,
    outcome: Outcome,
) -> AuditEvent {
    AuditEvent::new(institution, state.clock.now(), actor, action, outcome)
}

/// Appends the events (all of one institution) to its log, with the request's origin.
///
/// # Errors
/// 500 when an event is malformed or the store fails; the caller's action then fails too.
pub async fn record(state: &AppState, events: Vec<AuditEvent>) -> Result<(), ApiError> {
    record_in(state.store.as_ref(), events).await
}

/// As [`record`], given the store.
///
/// # Errors
/// As [`record`].
pub async fn record_in(store: &dyn mamori_store::Store, events: Vec<AuditEvent>) -> Result<(), ApiError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    append(tx.as_mut(), events).await?;
    tx.commit().await?;
    Ok(())
}

/// Appends events to their institution's log inside `tx`, with the request's origin: the
/// action's own statements in the same transaction and the events are committed together or
/// not at all.
///
/// # Errors
/// 500 when an event is malformed or the store fails; the caller drops the transaction then.
pub async fn append(tx: &mut (dyn mamori_store::StoreTx + '_), events: Vec<AuditEvent>) -> Result<(), ApiError> {
    let Some(first) = events.first() else { return Ok(()) };
    let institution = first.institution;
    let origin = origin();
    let mut entries = Vec::with_capacity(events.len());
    for event in events {
        if event.institution != institution {
            tracing::error!("audit events of two institutions in one append");
            return Err(ApiError::internal());
        }
        let event = AuditEvent { origin: origin.clone(), ..event };
        entries.push(event.entry().map_err(|m| {
            tracing::error!(error = %m.en, "malformed audit event");
            ApiError::internal()
        })?);
    }
    tx.append_log(institution, &entries).await.map_err(|e| {
        tracing::error!(error = %e, "cannot write audit events");
        ApiError::internal()
    })?;
    Ok(())
}

/// Appends one event inside `tx` and commits: the last step of an audited action.
///
/// # Errors
/// As [`append`], and a failed commit (nothing of the action is then written either).
pub async fn commit_with(tx: Box<dyn mamori_store::StoreTx + '_>, event: AuditEvent) -> Result<(), ApiError> {
    let mut tx = tx;
    append(tx.as_mut(), vec![event]).await?;
    tx.commit().await?;
    Ok(())
}

/// Records one event.
///
/// # Errors
/// As [`record`].
pub async fn record_one(state: &AppState, event: AuditEvent) -> Result<(), ApiError> {
    record(state, vec![event]).await
}

/// Records mamori's own action (start, stop) in an institution's log, with stable details.
///
/// # Errors
/// A malformed event or a store failure, as a one-line message for the command line.
pub async fn record_system(
    store: &dyn mamori_store::Store,
    institution: InstitutionId,
    at: time::OffsetDateTime,
    action: &str,
    details: &[(&str, String)],
) -> Result<(), String> {
    let mut event = AuditEvent::new(institution, at, Actor::System, action, Outcome::Allowed);
    for (key, value) in details {
        event = event.detail(key, value.clone());
    }
    let entry = event.entry().map_err(|m| m.en)?;
    store
        .append_log(institution, &[entry])
        .await
        .map(|_| ())
        .map_err(|e| format!("監査ログに記録できません / cannot write the audit event: {e}"))
}

/// Appends an operator's action at the server's command line (no request, no origin) inside
/// `tx`, the transaction of the action itself.
///
/// # Errors
/// A malformed event or a store failure, as a one-line message for the command line.
pub async fn append_operator(
    tx: &mut (dyn mamori_store::StoreTx + '_),
    institution: InstitutionId,
    at: time::OffsetDateTime,
    action: &str,
    resource: Option<String>,
) -> Result<(), String> {
    let mut event = AuditEvent::new(institution, at, Actor::Operator, action, Outcome::Allowed);
    event.resource = resource;
    let entry = event.entry().map_err(|m| m.en)?;
    tx.append_log(institution, &[entry])
        .await
        .map(|_| ())
        .map_err(|e| format!("監査ログに記録できません / cannot write the audit event: {e}"))
}

/// Records an operator's action that changes nothing else (e.g. `mamori init`'s first events).
///
/// # Errors
/// A malformed event or a store failure, as a one-line message for the command line.
pub async fn record_operator(
    store: &dyn mamori_store::Store,
    institution: InstitutionId,
    at: time::OffsetDateTime,
    action: &str,
    resource: Option<String>,
) -> Result<(), String> {
    let mut tx = store.begin().await.map_err(|e| e.to_string())?;
    append_operator(tx.as_mut(), institution, at, action, resource).await?;
    tx.commit().await.map_err(|e| e.to_string())
}
