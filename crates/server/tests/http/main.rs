//! In-process tests of the axum application: the OpenAPI document against the router, the
//! JSON-only API, security headers, pages, readiness and metrics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use mamori_core::config::Config;
use mamori_core::{FixedClock, Institution, InstitutionId, InstitutionName};
use mamori_server::metrics::Metrics;
use mamori_server::{AppState, Inner, ServerKeys, app};
use mamori_store::Store;
use std::sync::Arc;
use tower::ServiceExt as _;

mod applicability;
mod assessments;
mod audit;
mod compliance_pages;
mod emergency;
mod evidence_files;
mod pages;
mod patients;
mod record_pages;
mod records;
mod registers;
mod reports;
mod sealed;
mod session;
mod syslog;
mod timecheck;
mod users;
mod vendors;
mod webauthn;

struct Fixture {
    state: AppState,
    dir: std::path::PathBuf,
    clock: Arc<FixedClock>,
    institution: InstitutionId,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn fixture(name: &str) -> Fixture {
    fixture_with(name, |_| {}).await
}

async fn fixture_with(name: &str, adjust: impl FnOnce(&mut Config)) -> Fixture {
    let dir = std::env::temp_dir().join(format!("mamori-http-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = mamori_store::SqliteStore::open(&dir.join("mamori.db"), 2).await.unwrap();
    fixture_on(Arc::new(store), dir, adjust).await
}

/// The same application on a fresh PostgreSQL database of the cluster named by
/// `MAMORI_TEST_POSTGRES_URL` (None, with a SKIPPED line, when it is unset). Returns the
/// database's name for clean-up.
async fn fixture_on_postgres(name: &str) -> Option<(Fixture, String, String)> {
    use rand_core::RngCore as _;
    use sqlx::Connection as _;
    let Some(server_url) = std::env::var("MAMORI_TEST_POSTGRES_URL").ok().filter(|u| !u.trim().is_empty()) else {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("SKIPPED {name}: MAMORI_TEST_POSTGRES_URL is not set\n").as_bytes(),
        );
        return None;
    };
    let db = format!("mamori_http_{:016x}", rand_core::OsRng.next_u64());
    let mut conn = sqlx::PgConnection::connect(&server_url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}"))).execute(&mut conn).await.unwrap();
    let _ = conn.close().await;
    let (base, query) = server_url.split_once('?').map_or((server_url.as_str(), ""), |(b, q)| (b, q));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    let url = if query.is_empty() { format!("{base}/{db}") } else { format!("{base}/{db}?{query}") };
    let store = mamori_store::PgStore::connect(&mamori_core::config::DatabaseUrl::new(&url), 4).await.unwrap();
    let dir = std::env::temp_dir().join(format!("mamori-http-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Some((fixture_on(Arc::new(store), dir, |_| {}).await, server_url, db))
}

/// Drops a database made by [`fixture_on_postgres`] (best effort).
async fn drop_postgres(server_url: &str, db: &str) {
    use sqlx::Connection as _;
    if let Ok(mut conn) = sqlx::PgConnection::connect(server_url).await {
        let sql = format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)");
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
        let _ = conn.close().await;
    }
}

async fn fixture_on(store: Arc<dyn Store>, dir: std::path::PathBuf, adjust: impl FnOnce(&mut Config)) -> Fixture {
    let now = time::macros::datetime!(2026-11-25 09:00 UTC);
    let institution = Institution {
        id: InstitutionId::generate(&mut rand_core::OsRng),
        name: InstitutionName::parse("試験クリニック").unwrap(),
        created_at: now,
    };
    store.create_institution(&institution).await.unwrap();
    let mut config = Config::default();
    adjust(&mut config);
    let config = config.validate().unwrap();
    let clock = Arc::new(FixedClock::new(now));
    let state = AppState::new(Inner {
        store,
        passwords: mamori_server::auth::Passwords::new(&config.get().password).unwrap(),
        webauthn: mamori_server::auth::webauthn_for("https://localhost:8443/").map(Arc::new),
        config,
        keys: ServerKeys { checkpoint: mamori_crypto::CheckpointKey::generate(&mut rand_core::OsRng) },
        metrics: Arc::new(Metrics::default()),
        clock: clock.clone(),
        tls: true,
        started_at: now,
        files: mamori_server::files::FileStore::new(dir.join("files")),
    });
    Fixture { state, dir, clock, institution: institution.id }
}

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app(state.clone()).oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, headers, String::from_utf8_lossy(&bytes).into_owned())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn every_operation_in_the_openapi_document_is_routed() {
    let fx = fixture("openapi").await;
    let spec = serde_json::to_value(mamori_server::api::openapi()).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1."), "{spec}");
    let paths = spec["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, item) in paths {
        for (method, _) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let body = if method == Method::GET { Body::empty() } else { Body::from("{}") };
            let req = Request::builder()
                .method(method.clone())
                .uri(
                    path.replace("{login_id}", "some-user")
                        .replace("{id}", "some-id")
                        .replace("{version}", "1")
                        .replace("{master}", "drug")
                        .replace("{item}", "9-4")
                        .replace("{evidence}", "some-id")
                        .replace("{revision}", "1")
                        .replace("{kind}", "system"),
                )
                .header("content-type", "application/json")
                .body(body)
                .unwrap();
            let (status, _, text) = send(&fx.state, req).await;
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not routed: {status} {text}"
            );
            documented.push(format!("{method} {path}"));
        }
    }
    documented.sort();
    assert_eq!(
        documented,
        [
            "DELETE /api/v1/me/webauthn/{id}",
            "DELETE /api/v1/session",
            "GET /api/v1/applicability",
            "GET /api/v1/approvals",
            "GET /api/v1/assessments",
            "GET /api/v1/assessments/{id}",
            "GET /api/v1/assessments/{id}/evidence/{evidence}/revisions/{revision}/file",
            "GET /api/v1/assessments/{id}/items/{item}/history",
            "GET /api/v1/assessments/{id}/oscal",
            "GET /api/v1/assessments/{id}/report.pdf",
            "GET /api/v1/assessments/{id}/report.xlsx",
            "GET /api/v1/audit/anomalies",
            "GET /api/v1/audit/events",
            "GET /api/v1/audit/export",
            "GET /api/v1/categories",
            "GET /api/v1/devices",
            "GET /api/v1/emergency-access",
            "GET /api/v1/emergency-access/review",
            "GET /api/v1/emergency-accounts",
            "GET /api/v1/emergency-accounts/activations",
            "GET /api/v1/ledger/checkpoint",
            "GET /api/v1/ledger/consistency",
            "GET /api/v1/ledger/inclusion",
            "GET /api/v1/ledger/verifier-key",
            "GET /api/v1/masters/{master}",
            "GET /api/v1/me",
            "GET /api/v1/me/webauthn",
            "GET /api/v1/openapi.json",
            "GET /api/v1/patients",
            "GET /api/v1/patients/{id}",
            "GET /api/v1/patients/{id}/records",
            "GET /api/v1/patients/{id}/records/export",
            "GET /api/v1/patients/{id}/versions",
            "GET /api/v1/records/{id}",
            "GET /api/v1/records/{id}/diff",
            "GET /api/v1/registers",
            "GET /api/v1/registers/{kind}",
            "GET /api/v1/registers/{kind}/export",
            "GET /api/v1/registers/{kind}/{id}",
            "GET /api/v1/registers/{kind}/{id}/history",
            "GET /api/v1/roles",
            "GET /api/v1/users",
            "GET /api/v1/users/ledger.csv",
            "GET /api/v1/vendor-disclosures",
            "GET /api/v1/vendor-disclosures/template",
            "GET /api/v1/vendor-disclosures/{id}",
            "GET /healthz",
            "GET /metrics",
            "GET /readyz",
            "POST /api/v1/assessments",
            "POST /api/v1/assessments/{id}/items/{item}/evidence",
            "POST /api/v1/assessments/{id}/items/{item}/evidence/file",
            "POST /api/v1/categories",
            "POST /api/v1/device/results",
            "POST /api/v1/devices",
            "POST /api/v1/devices/{id}/revoke",
            "POST /api/v1/emergency-access",
            "POST /api/v1/emergency-access/{id}/review",
            "POST /api/v1/emergency-accounts/{login_id}/activate",
            "POST /api/v1/me/password",
            "POST /api/v1/me/webauthn/register/finish",
            "POST /api/v1/me/webauthn/register/start",
            "POST /api/v1/patients",
            "POST /api/v1/patients/{id}/records",
            "POST /api/v1/records/{id}/cancellations",
            "POST /api/v1/records/{id}/corrections",
            "POST /api/v1/records/{id}/versions/{version}/approve",
            "POST /api/v1/records/{id}/versions/{version}/discard",
            "POST /api/v1/records/{id}/versions/{version}/finalize",
            "POST /api/v1/records/{id}/versions/{version}/reject",
            "POST /api/v1/registers/{kind}",
            "POST /api/v1/registers/{kind}/import",
            "POST /api/v1/session",
            "POST /api/v1/session/enroll/totp",
            "POST /api/v1/session/enroll/totp/confirm",
            "POST /api/v1/session/recovery",
            "POST /api/v1/session/reenroll",
            "POST /api/v1/session/totp",
            "POST /api/v1/session/unlock",
            "POST /api/v1/session/webauthn/challenge",
            "POST /api/v1/session/webauthn/finish",
            "POST /api/v1/users",
            "POST /api/v1/users/{login_id}/reenroll",
            "POST /api/v1/users/{login_id}/status",
            "POST /api/v1/users/{login_id}/unlock",
            "POST /api/v1/vendor-disclosures",
            "POST /api/v1/vendor-disclosures/import",
            "PUT /api/v1/applicability",
            "PUT /api/v1/assessments/{id}/items/{item}",
            "PUT /api/v1/patients/{id}",
            "PUT /api/v1/records/{id}/versions/{version}",
            "PUT /api/v1/registers/{kind}/{id}",
            "PUT /api/v1/roles/{role}",
            "PUT /api/v1/vendor-disclosures/{id}/risks/{item}",
        ]
    );
}

#[tokio::test]
async fn what_the_openapi_document_does_not_list_is_not_routed() {
    let fx = fixture("openapi-reverse").await;
    // Methods the document does not list for a documented path.
    for path in ["/healthz", "/readyz", "/api/v1/openapi.json"] {
        let req = Request::delete(path).body(Body::empty()).unwrap();
        let (status, _, _) = send(&fx.state, req).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "DELETE {path}");
    }
    // Paths under /api/ it does not list.
    for path in ["/api/v1/healthz", "/api/v1", "/api/v2/openapi.json"] {
        let (status, _, body) = send(&fx.state, get(path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "not_found");
    }
}

#[tokio::test]
async fn api_requests_with_a_body_must_be_json() {
    let fx = fixture("json-only").await;
    for content_type in
        [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("multipart/form-data; boundary=x")]
    {
        let mut req = Request::post("/api/v1/openapi.json");
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let (status, _, body) = send(&fx.state, req.body(Body::from("a=b")).unwrap()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type:?}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "unsupported_media_type");
        assert!(v["error"]["message_ja"].as_str().unwrap().contains("application/json"));
        assert!(v["error"]["message_en"].as_str().unwrap().contains("application/json"));
    }
    // Declared JSON passes the guard (and meets the router: GET-only here).
    let req = Request::post("/api/v1/openapi.json").header("content-type", "application/json; charset=utf-8");
    let (status, _, _) = send(&fx.state, req.body(Body::from("{}")).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let fx = fixture("headers").await;
    for path in ["/", "/healthz", "/api/v1/nope", "/nope"] {
        let (_, headers, _) = send(&fx.state, get(path)).await;
        for (name, want) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
            ("strict-transport-security", "max-age=31536000"),
        ] {
            assert_eq!(headers.get(name).map(|v| v.to_str().unwrap()), Some(want), "{name} on {path}");
        }
        let csp = headers.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    }
}

#[tokio::test]
async fn the_page_shell_is_japanese_first_and_switches_to_english() {
    let fx = fixture("pages").await;
    let (status, _, html) = send(&fx.state, get("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<html lang=\"ja\">") && html.contains("ようこそ") && html.contains("試験クリニック"),
        "{html}"
    );
    assert!(html.contains("href=\"?lang=en\""), "{html}");

    let (status, headers, html) = send(&fx.state, get("/?lang=en")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<html lang=\"en\">") && html.contains("Welcome"), "{html}");
    let cookie = headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        cookie.starts_with("mamori_lang=en;") && cookie.contains("Secure") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let req = Request::get("/").header("cookie", "mamori_lang=en").body(Body::empty()).unwrap();
    let (_, _, html) = send(&fx.state, req).await;
    assert!(html.contains("Welcome"), "the cookie keeps English: {html}");

    let (status, _, html) = send(&fx.state, get("/no/such/page")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("ページが見つかりません"), "{html}");

    // Names are escaped by the templates.
    let evil = Institution {
        id: InstitutionId::generate(&mut rand_core::OsRng),
        name: InstitutionName::parse("<script>alert(1)</script>").unwrap(),
        created_at: time::macros::datetime!(2026-11-25 10:00 UTC),
    };
    fx.state.store.create_institution(&evil).await.unwrap();
    let (_, _, html) = send(&fx.state, get("/")).await;
    assert!(!html.contains("<script>") && html.contains("script&#62;alert(1)&#60;/script"), "{html}");
}

#[tokio::test]
async fn readiness_follows_the_database() {
    let fx = fixture("ready").await;
    let (status, _, body) = send(&fx.state, get("/readyz")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["checkpoint_key_id"], fx.state.keys.checkpoint.key_id());

    fx.state.store.close().await;
    let (status, _, body) = send(&fx.state, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["database"], "unreachable");
    let (status, _, _) = send(&fx.state, get("/healthz")).await;
    assert_eq!(status, StatusCode::OK, "liveness does not depend on the database");
    let (_, _, metrics) = send(&fx.state, get("/metrics")).await;
    assert!(metrics.contains("mamori_database_up 0"), "{metrics}");
}

#[tokio::test]
async fn metrics_name_route_templates_never_raw_paths() {
    let fx = fixture("metrics").await;
    send(&fx.state, get("/healthz?patient=山田太郎")).await;
    send(&fx.state, get("/patients/0012345/chart")).await;
    send(&fx.state, get("/patients/0012345/nowhere")).await;
    let (status, headers, text) = send(&fx.state, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("content-type").unwrap().to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    assert!(text.contains("route=\"/healthz\",status=\"200\"} 1"), "{text}");
    assert!(text.contains("route=\"/patients/{id}/chart\",status=\"303\"} 1"), "{text}");
    assert!(text.contains("route=\"unmatched\",status=\"404\"} 1"), "{text}");
    assert!(!text.contains("0012345") && !text.contains("山田"), "{text}");
}
