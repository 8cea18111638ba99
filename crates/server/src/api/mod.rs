//! The JSON endpoints, each described for OpenAPI 3.1 by the same code that routes it.

pub mod applicability;
pub mod assessments;
pub mod audit;
pub mod emergency;
pub mod patients;
pub mod records;
pub mod registers;
pub mod reports;
pub mod roles;
pub mod sealed;
pub mod session;
pub mod users;
pub mod vendors;
pub mod webauthn;

use crate::error::{ApiError, ErrorEnvelope};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::Duration;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A time as RFC 3339 for a JSON answer (`None` only if it cannot be formatted).
pub(crate) fn rfc3339(t: time::OffsetDateTime) -> Option<String> {
    t.format(&time::format_description::well_known::Rfc3339).ok()
}

/// How long readiness waits for the database.
const READY_DB_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mamori API",
        description = "mamori (守り): clinical records built for the MHLW Security Guidelines for Medical Information Systems. JSON requests must carry `Content-Type: application/json`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(ErrorEnvelope))
)]
struct ApiDoc;

/// `GET /healthz` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` while the process answers.
    pub status: &'static str,
    /// The running version.
    pub version: &'static str,
}

/// `GET /readyz` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// `ok` or `unreachable`.
    pub database: &'static str,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// `loaded` (a server cannot start without its keys).
    pub keys: &'static str,
    /// Identifier of the checkpoint signing key (first 8 bytes of SHA-256 of the public key).
    pub checkpoint_key_id: String,
    /// The server clock against the configured NTP server (MDS 5, 16.1).
    pub clock: ClockReadiness,
}

/// The clock part of [`Readiness`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ClockReadiness {
    /// `unchecked` (no `time.ntp_server` configured, or not checked yet), `ok`, `failed` (the
    /// last check failed; not ready once the clock has gone unconfirmed for three check
    /// intervals) or `out_of_tolerance` (beyond `time.max_offset`: writes are refused).
    pub status: &'static str,
    /// The last measured offset of the NTP server's clock from ours, in milliseconds
    /// (positive: ours is behind).
    pub offset_ms: Option<f64>,
    /// The configured NTP server (`host:port`).
    pub server: Option<String>,
    /// When the last check ran (RFC 3339), successful or not.
    pub checked_at: Option<String>,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION") })
}

/// Readiness: the database answers, the keys are loaded and the clock can be trusted.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "Not ready (database unreachable, or the clock out of tolerance or unconfirmed for too long)", body = Readiness)
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let db_ok = database_up(&state).await;
    let time_status = state.time_status();
    let time = &state.config.get().time;
    let health = time_status.health(time.max_offset.0, state.clock.now(), time.max_age());
    let clock = ClockReadiness {
        status: health.as_str(),
        offset_ms: time_status.offset().map(|d| (d.as_seconds_f64() * 1e6).round() / 1e3),
        server: time.ntp_server.clone(),
        checked_at: time_status.checked_at().and_then(rfc3339),
    };
    let ready = db_ok && health.allows_writes();
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        database: if db_ok { "ok" } else { "unreachable" },
        backend: state.store.backend().as_str(),
        keys: "loaded",
        checkpoint_key_id: state.keys.checkpoint.key_id(),
        clock,
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

async fn database_up(state: &AppState) -> bool {
    match tokio::time::timeout(READY_DB_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "database ping failed");
            false
        }
        Err(_) => {
            tracing::warn!("database ping timed out");
            false
        }
    }
}

/// Prometheus metrics (text exposition format; no patient data).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let up = database_up(&state).await;
    let text = state.metrics.render(up, state.started_at.unix_timestamp(), state.clock_gauges());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// This description.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 description of every JSON endpoint", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    match serde_json::to_vec(&openapi()) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(_) => ApiError::internal().into_response(),
    }
}

/// Every JSON route with its description. The router and the OpenAPI document both come from
/// this one list, so they cannot drift apart.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .routes(routes!(session::begin, session::logout))
        .routes(routes!(session::totp))
        .routes(routes!(session::recovery))
        .routes(routes!(session::enroll_totp))
        .routes(routes!(session::confirm_totp))
        .routes(routes!(session::unlock))
        .routes(routes!(session::get_me))
        .routes(routes!(session::change_password))
        .routes(routes!(session::reenroll))
        .routes(routes!(users::create, users::ledger))
        .routes(routes!(users::ledger_csv))
        .routes(routes!(users::set_status))
        .routes(routes!(users::unlock))
        .routes(routes!(users::reenroll))
        .routes(routes!(webauthn::register_start))
        .routes(routes!(webauthn::register_finish))
        .routes(routes!(webauthn::list))
        .routes(routes!(webauthn::remove))
        .routes(routes!(webauthn::login_challenge))
        .routes(routes!(webauthn::login_finish))
        .routes(routes!(emergency::request, emergency::mine))
        .routes(routes!(emergency::queue))
        .routes(routes!(emergency::review))
        .routes(routes!(sealed::list))
        .routes(routes!(audit::checkpoint))
        .routes(routes!(audit::verifier_key))
        .routes(routes!(audit::events))
        .routes(routes!(audit::export))
        .routes(routes!(audit::anomalies))
        .routes(routes!(audit::inclusion))
        .routes(routes!(audit::consistency))
        .routes(routes!(patients::create, patients::search))
        .routes(routes!(patients::read, patients::update))
        .routes(routes!(patients::versions))
        .routes(routes!(records::create, records::chart))
        .routes(routes!(records::history))
        .routes(routes!(records::export))
        .routes(routes!(records::diff_versions))
        .routes(routes!(records::edit_draft))
        .routes(routes!(records::finalize))
        .routes(routes!(records::discard))
        .routes(routes!(records::approve))
        .routes(routes!(records::reject))
        .routes(routes!(records::correct))
        .routes(routes!(records::cancel))
        .routes(routes!(records::approvals))
        .routes(routes!(records::master))
        .routes(routes!(records::add_device, records::devices))
        .routes(routes!(records::revoke_device))
        .routes(routes!(records::device_result))
        .routes(routes!(assessments::list, assessments::start))
        .routes(routes!(assessments::read))
        .routes(routes!(assessments::change_item))
        .routes(routes!(assessments::add_evidence))
        .routes(routes!(assessments::add_evidence_file))
        .routes(routes!(assessments::evidence_file))
        .routes(routes!(assessments::history))
        .routes(routes!(applicability::read, applicability::decide))
        .routes(routes!(roles::categories, roles::add_category))
        .routes(routes!(roles::roles))
        .routes(routes!(roles::set_role))
        .routes(routes!(sealed::activations))
        .routes(routes!(sealed::activate))
        .routes(routes!(registers::registers))
        .routes(routes!(registers::list, registers::create))
        .routes(routes!(registers::read, registers::change))
        .routes(routes!(registers::history))
        .routes(routes!(registers::import))
        .routes(routes!(registers::export))
        .routes(routes!(reports::pdf))
        .routes(routes!(reports::xlsx))
        .routes(routes!(reports::oscal))
        .routes(routes!(vendors::list, vendors::record))
        .routes(routes!(vendors::import))
        .routes(routes!(vendors::template))
        .routes(routes!(vendors::read))
        .routes(routes!(vendors::change_risk))
}

/// The OpenAPI 3.1 document.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}
