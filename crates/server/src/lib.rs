//! mamori's HTTP surface: the axum application, TLS and the accept loop.
//!
//! Invariants:
//! - JSON API requests that carry a body (`POST`, `PUT`, `PATCH`) must declare
//!   `Content-Type: application/json`; anything else is refused with 415 before routing. A form
//!   on another site cannot send such a request without a CORS preflight, which mamori never
//!   grants: this is the API's CSRF defence. The one exception is a register import
//!   (`/api/v1/registers/{kind}/import`), whose body is the file itself and whose handler
//!   requires `text/csv` or the xlsx media type, neither of which a cross-site form can send.
//! - Every response carries security headers (CSP, nosniff, frame denial, no-referrer,
//!   `Cache-Control: no-store` unless a static asset says otherwise, HSTS over TLS).
//! - Logs and metrics name the route template, never the raw path or query.

pub mod api;
pub mod applicability;
pub mod assessments;
pub mod audit;
pub mod auth;
pub mod checkpoints;
pub mod cookies;
pub mod error;
pub mod files;
pub mod i18n;
pub mod json;
pub mod masters;
pub mod metrics;
pub mod pages;
pub mod records;
pub mod registers;
pub mod reports;
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

/// Largest request body accepted (1 MiB), but for uploads.
const BODY_LIMIT: usize = 1024 * 1024;
/// Largest upload body accepted: a 20 MiB file and room for a form's other fields.
const UPLOAD_BODY_LIMIT: usize = assessments::MAX_EVIDENCE_FILE + 64 * 1024;
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
        .route("/compliance/applicability", get(pages::compliance::applicability).post(pages::compliance::decide))
        .route("/compliance/registers", get(pages::registers::overview))
        .route("/compliance/registers/{kind}", get(pages::registers::register).post(pages::registers::create))
        .route("/compliance/registers/{kind}/import", post(pages::registers::import))
        .route("/compliance/registers/{kind}/{id}", get(pages::registers::entry).post(pages::registers::change))
        .route("/compliance/registers/{kind}/{id}/retire", post(pages::registers::retire))
        .route("/compliance/{id}", get(pages::compliance::show))
        .route("/compliance/{id}/items/{item}", post(pages::compliance::change_item))
        .route("/compliance/{id}/items/{item}/evidence", post(pages::compliance::add_evidence))
        .route("/compliance/{id}/items/{item}/evidence/file", post(pages::compliance::add_evidence_file))
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
        .layer(middleware::from_fn(limit_body))
        .layer(axum::extract::DefaultBodyLimit::max(UPLOAD_BODY_LIMIT))
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
/// Uploads (files and imports) are the paths ending in `/file` or `/import`.
fn is_upload(path: &str) -> bool {
    path.ends_with("/file") || path.ends_with("/import")
}

/// Refuses a body over the limit for its path (1 MiB; uploads 20 MiB and a little): at once
/// from `Content-Length`, or when the body grows past it.
async fn limit_body(req: Request, next: Next) -> Response {
    let limit = if is_upload(req.uri().path()) { UPLOAD_BODY_LIMIT } else { BODY_LIMIT };
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            mamori_core::Message::new("送信されたデータが大きすぎます。", "the request body is too large"),
        )
        .into_response();
    }
    next.run(req.map(|body| axum::body::Body::new(http_body_util::Limited::new(body, limit)))).await
}

/// API writes carry JSON; uploads carry their bytes under a media type that a cross-site form
/// cannot send (not a form, multipart or text/plain), so that no other site can make a
/// signed-in browser write.
async fn require_json_body(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let write = path.starts_with("/api/") && matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    let content_type = req.headers().get(header::CONTENT_TYPE);
    let accepted = if is_upload(path) { is_upload_media(content_type) } else { is_json(content_type) };
    if write && !accepted && is_upload(path) {
        return ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            mamori_core::Message::new(
                "アップロードはファイルの種類（application/octet-stream、text/csv など）を Content-Type に付けて、本文にファイルだけを送ってください（フォーム形式は受け付けません）。",
                "send an upload as the bare file with its media type (application/octet-stream, text/csv, …), not as a form",
            ),
        )
        .into_response();
    }
    if write && !accepted {
        return ApiError::unsupported_media_type().into_response();
    }
    next.run(req).await
}

fn is_upload_media(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|media| media.trim().to_ascii_lowercase())
        .is_some_and(|media| {
            media.contains('/')
                && !matches!(media.as_str(), "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain")
        })
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

    #[test]
    fn uploads_take_media_types_no_cross_site_form_can_send() {
        assert!(is_upload("/api/v1/assessments/a/items/9-4/evidence/file"));
        assert!(is_upload("/api/v1/registers/asset/import"));
        assert!(!is_upload("/api/v1/assessments"));
        for ok in ["application/octet-stream", "text/csv; charset=utf-8", "application/pdf", "application/json"] {
            assert!(is_upload_media(Some(&HeaderValue::from_static(ok))), "{ok}");
        }
        for refused in ["multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "Text/Plain", "csv"] {
            assert!(!is_upload_media(Some(&HeaderValue::from_static(refused))), "{refused}");
        }
        assert!(!is_upload_media(None));
    }
}
