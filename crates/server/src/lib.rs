//! mamori's HTTP surface: the axum application, TLS and the accept loop.
//!
//! Invariants:
//! - JSON API requests that carry a body (`POST`, `PUT`, `PATCH`) must declare
//!   `Content-Type: application/json`; anything else is refused with 415 before routing. A form
//!   on another site cannot send such a request without a CORS preflight, which mamori never
//!   grants: this is the API's CSRF defence.
//! - Every response carries security headers (CSP, nosniff, frame denial, no-referrer,
//!   `Cache-Control: no-store` unless a static asset says otherwise, HSTS over TLS).
//! - Logs and metrics name the route template, never the raw path or query.

pub mod api;
pub mod assessments;
pub mod audit;
pub mod auth;
pub mod checkpoints;
pub mod cookies;
pub mod error;
pub mod i18n;
pub mod json;
pub mod masters;
pub mod metrics;
pub mod pages;
pub mod records;
pub mod serve;
pub mod state;
pub mod syslog;
pub mod timecheck;
pub mod tls;
pub mod vendors;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use error::ApiError;
use std::time::{Duration, Instant};
use tower_http::set_header::SetResponseHeaderLayer;

pub use serve::{ConnInfo, run, shutdown_signal};
pub use state::{AppState, Inner, ServerKeys, SystemClock};

/// Largest request body accepted (1 MiB); uploads get their own limit later.
const BODY_LIMIT: usize = 1024 * 1024;
/// Longest time a request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole application.
pub fn app(state: AppState) -> Router {
    let (api, _spec) = api::routes().split_for_parts();
    let mut router = Router::new()
        .merge(api)
        .route("/", get(pages::index))
        .route("/static/mamori.css", get(pages::stylesheet))
        .route("/login", get(pages::login::login_form).post(pages::login::login_submit))
        .route("/login/code", get(pages::login::code_form).post(pages::login::code_submit_totp))
        .route("/login/recovery", post(pages::login::code_submit_recovery))
        .route("/login/reenroll", post(pages::login::reenroll_submit))
        .route("/enroll", get(pages::login::enroll_form).post(pages::login::enroll_submit))
        .route("/unlock", post(pages::login::unlock_submit))
        .route("/password", get(pages::login::password_form).post(pages::login::password_submit))
        .route("/logout", post(pages::login::logout_submit))
        .route("/security-keys", get(pages::login::keys_page))
        .route("/admin/users", get(pages::admin::users).post(pages::admin::create))
        .route("/admin/users/status", post(pages::admin::set_status))
        .route("/emergency-accounts", get(pages::admin::sealed))
        .route("/emergency-accounts/activate", post(pages::admin::activate))
        .route("/audit", get(pages::audit::page))
        .route("/patients", get(pages::patients::list).post(pages::patients::register))
        .route("/compliance", get(pages::compliance::list).post(pages::compliance::start))
        .route("/compliance/{id}", get(pages::compliance::show))
        .route("/compliance/{id}/items/{item}", post(pages::compliance::change_item))
        .route("/compliance/{id}/items/{item}/evidence", post(pages::compliance::add_evidence))
        .route("/compliance/vendors", get(pages::vendors::list).post(pages::vendors::record))
        .route("/compliance/vendors/new", get(pages::vendors::new_form))
        .route("/compliance/vendors/import", post(pages::vendors::import))
        .route("/compliance/vendors/template", get(pages::vendors::template))
        .route("/compliance/vendors/{id}", get(pages::vendors::show))
        .route("/compliance/vendors/{id}/risks/{item}", post(pages::vendors::change_risk))
        .route("/patients/{id}", get(pages::patients::show))
        .route("/patients/{id}/edit", get(pages::patients::edit_form).post(pages::patients::edit_submit))
        .route("/patients/{id}/chart", get(pages::records::chart))
        .route("/patients/{id}/chart/print", get(pages::records::print))
        .route("/patients/{id}/records/new", get(pages::records::new_form))
        .route("/patients/{id}/records", post(pages::records::create))
        .route("/records/{id}", get(pages::records::show))
        .route("/records/{id}/versions/{version}/draft", post(pages::records::save_draft))
        .route("/records/{id}/versions/{version}/finalize", post(pages::records::finalize))
        .route("/records/{id}/versions/{version}/discard", post(pages::records::discard))
        .route("/records/{id}/versions/{version}/approve", post(pages::records::approve))
        .route("/records/{id}/versions/{version}/reject", post(pages::records::reject))
        .route("/records/{id}/correct", post(pages::records::correct))
        .route("/records/{id}/cancel", post(pages::records::cancel))
        .route("/approvals", get(pages::records::approvals))
        .route("/static/webauthn.js", get(pages::webauthn_script))
        .fallback(fallback)
        .layer(middleware::from_fn(require_json_body))
        .layer(middleware::from_fn_with_state(state.clone(), timecheck::refuse_writes_when_clock_off))
        .layer(middleware::from_fn(audit::with_origin))
        .layer(middleware::from_fn_with_state(state.clone(), record_metrics))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    for (name, value) in security_headers(state.tls) {
        router = router.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    router.with_state(state)
}

fn security_headers(tls: bool) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin")),
    ];
    if tls {
        headers.push((header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000")));
    }
    headers
}

async fn fallback(state: State<AppState>, uri: axum::http::Uri, req: Request) -> Response {
    if uri.path().starts_with("/api/") {
        return ApiError::not_found().into_response();
    }
    let (parts, _) = req.into_parts();
    let query = axum::extract::Query::<pages::LangQuery>::try_from_uri(&uri)
        .unwrap_or(axum::extract::Query(pages::LangQuery::default()));
    pages::not_found(state, query, parts.headers).await
}

/// Refuses API requests with a body that is not declared as JSON (415).
async fn require_json_body(req: Request, next: Next) -> Response {
    let needs_json =
        req.uri().path().starts_with("/api/") && matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    if needs_json && !is_json(req.headers().get(header::CONTENT_TYPE)) {
        return ApiError::unsupported_media_type().into_response();
    }
    next.run(req).await
}

fn is_json(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    state.metrics.record(&method, &route, status, elapsed);
    tracing::info!(%method, %route, status, elapsed_ms = elapsed.as_millis(), "request");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_type_is_recognised_with_parameters_only() {
        assert!(is_json(Some(&HeaderValue::from_static("application/json"))));
        assert!(is_json(Some(&HeaderValue::from_static("Application/JSON; charset=utf-8"))));
        assert!(!is_json(Some(&HeaderValue::from_static("text/plain"))));
        assert!(!is_json(Some(&HeaderValue::from_static("application/x-www-form-urlencoded"))));
        assert!(!is_json(Some(&HeaderValue::from_static("application/jsonp"))));
        assert!(!is_json(None));
    }
}
