//! Account administration through the API: who may do it, the ledger, status changes, lockout
//! clearing and re-enrollment passes, all inside one institution.

use super::session::{Client, PASSWORD, account, account_with, login};
use super::{Fixture, fixture};
use axum::http::StatusCode;
use mamori_core::{Institution, InstitutionId, InstitutionName, JobType, Role};
use mamori_crypto::TotpSecret;
use serde_json::json;
use std::time::Duration;

async fn admin(fx: &Fixture) -> super::session::Account {
    account_with(fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await
}

#[tokio::test]
async fn an_administrator_creates_an_account_that_logs_in_with_two_factors() {
    let fx = fixture("users-create").await;
    let boss = admin(&fx).await;
    let mut a = login(&fx, &boss).await;
    let r = a
        .post(
            "/api/v1/users",
            json!({"login_id": "suzuki", "display_name": "鈴木 一郎", "job_type": "doctor", "roles": ["doctor"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let otp = r.body["one_time_password"].as_str().unwrap().to_owned();
    assert_eq!(r.body["user"]["status"], "active");
    assert_eq!(r.body["user"]["roles"], json!(["doctor"]));

    // The new account: password, then enrollment, then a one-time password change.
    let mut u = Client::new(&fx);
    let step = u.post("/api/v1/session", json!({"login_id": "suzuki", "password": otp})).await;
    assert_eq!(step.body, json!({"next": "enroll", "password_change_required": true}));
    u.post("/api/v1/session/enroll/totp", json!({})).await;
    let id = fx.state.store.find_login(&mamori_core::LoginId::parse("suzuki").unwrap()).await.unwrap().unwrap().id;
    let secret = TotpSecret::from_bytes(&fx.state.store.totp(fx.institution, id).await.unwrap().unwrap().secret);
    let r = u.post("/api/v1/session/enroll/totp/confirm", json!({ "code": fx.code(&secret) })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Until the one-time password is replaced, administrative APIs are closed even to admins.
    assert_eq!(u.get("/api/v1/me").await.body["password_change_required"], true);

    // Login IDs are never reused.
    let again = a
        .post("/api/v1/users", json!({"login_id": "suzuki", "display_name": "別人", "job_type": "clerk", "roles": []}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["error"]["code"], "login_id_taken");
    // Bad fields are named.
    for (body, field) in [
        (json!({"login_id": "Bad ID", "display_name": "x", "job_type": "doctor", "roles": []}), "login_id"),
        (json!({"login_id": "ok-id", "display_name": "", "job_type": "doctor", "roles": []}), "display_name"),
        (json!({"login_id": "ok-id", "display_name": "x", "job_type": "surgeon", "roles": []}), "job_type"),
        (json!({"login_id": "ok-id", "display_name": "x", "job_type": "doctor", "roles": ["root"]}), "roles"),
    ] {
        let r = a.post("/api/v1/users", body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body["error"]["message_en"].as_str().unwrap().starts_with(field), "{}", r.body);
    }
    assert!(fx.state.store.find_login(&mamori_core::LoginId::parse("ok-id").unwrap()).await.unwrap().is_none());
}

#[tokio::test]
async fn only_roles_with_manage_users_may_administer_accounts() {
    let fx = fixture("users-forbidden").await;
    for (login_id, job, role) in [
        ("doc", JobType::Doctor, Role::Doctor),
        ("aud", JobType::Auditor, Role::Auditor),
        ("clk", JobType::Clerk, Role::Clerk),
    ] {
        let who = account_with(&fx, fx.institution, login_id, job, &[role], true, false).await;
        let mut c = login(&fx, &who).await;
        assert_eq!(c.get("/api/v1/users").await.status, StatusCode::FORBIDDEN, "{login_id}");
        let r = c
            .post(
                "/api/v1/users",
                json!({"login_id": "x-new", "display_name": "x", "job_type": "doctor", "roles": ["doctor"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{login_id}");
        fx.advance(Duration::from_secs(31));
    }
    let mut anon = Client::new(&fx);
    assert_eq!(anon.get("/api/v1/users").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_ledger_lists_everyone_with_review_findings_as_json_and_csv() {
    let fx = fixture("users-ledger").await;
    let boss = admin(&fx).await;
    account_with(&fx, fx.institution, "odd-clerk", JobType::Clerk, &[Role::Clerk, Role::Doctor], false, false).await;
    login(&fx, &boss).await;
    fx.advance(Duration::from_secs(91 * 24 * 3600));
    let mut a2 = login(&fx, &boss).await;
    let r = a2.get("/api/v1/users").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let users = r.body["users"].as_array().unwrap();
    let ids: Vec<&str> = users.iter().map(|u| u["login_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["kanri", "odd-clerk"]);
    assert!(users[0]["last_login_at"].is_string());
    assert_eq!(users[0]["findings"], json!([]));
    assert_eq!(users[1]["findings"], json!(["role_not_for_job_type:doctor", "inactive:91d"]));

    let csv = a2.send("GET", "/api/v1/users/ledger.csv", None).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers.get("content-type").unwrap().to_str().unwrap().starts_with("text/csv"));
}

#[tokio::test]
async fn disabling_and_retiring_end_sessions_and_retired_is_final() {
    let fx = fixture("users-status").await;
    let boss = admin(&fx).await;
    let nurse = account(&fx, "hanako", true, false).await;
    let mut n = login(&fx, &nurse).await;
    let mut a = login(&fx, &boss).await;
    let r = a.post("/api/v1/users/hanako/status", json!({"status": "disabled"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "disabled");
    assert_eq!(n.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED, "the session ended");
    let mut again = Client::new(&fx);
    let r = again.post("/api/v1/session", json!({"login_id": "hanako", "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"]["code"], "account_inactive");

    assert_eq!(a.post("/api/v1/users/hanako/status", json!({"status": "active"})).await.status, StatusCode::OK);
    assert_eq!(a.post("/api/v1/users/hanako/status", json!({"status": "retired"})).await.status, StatusCode::OK);
    let r = a.post("/api/v1/users/hanako/status", json!({"status": "active"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(a.post("/api/v1/users/kanri/status", json!({"status": "disabled"})).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        a.post("/api/v1/users/nobody/status", json!({"status": "disabled"})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        a.post("/api/v1/users/hanako/status", json!({"status": "asleep"})).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn an_administrator_clears_a_lockout() {
    let fx = fixture("users-unlock").await;
    let boss = admin(&fx).await;
    let nurse = account(&fx, "hanako", true, false).await;
    let mut n = Client::new(&fx);
    for delay in [1u64, 3, 5, 10, 0] {
        n.post("/api/v1/session", json!({"login_id": "hanako", "password": "wrong-password"})).await;
        fx.advance(Duration::from_secs(delay));
    }
    let locked = n.post("/api/v1/session", json!({"login_id": "hanako", "password": PASSWORD})).await;
    assert_eq!(locked.body["error"]["code"], "locked_out");
    let mut a = login(&fx, &boss).await;
    assert_eq!(a.send("POST", "/api/v1/users/hanako/unlock", Some(json!({}))).await.status, StatusCode::NO_CONTENT);
    login(&fx, &nurse).await;
}

#[tokio::test]
async fn a_lost_device_is_replaced_with_an_audited_single_use_pass() {
    let fx = fixture("users-reenroll").await;
    let boss = admin(&fx).await;
    let nurse = account(&fx, "hanako", true, false).await;
    let mut a = login(&fx, &boss).await;
    // Re-authentication is required, and a reason.
    let code = fx.code(boss.totp.as_ref().unwrap());
    let no_reason =
        a.post("/api/v1/users/hanako/reenroll", json!({"reason": " ", "password": PASSWORD, "code": code})).await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    let wrong =
        a.post("/api/v1/users/hanako/reenroll", json!({"reason": "紛失", "password": "not-mine", "code": code})).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    fx.advance(Duration::from_secs(31));
    let code = fx.code(boss.totp.as_ref().unwrap());
    let r = a
        .post(
            "/api/v1/users/hanako/reenroll",
            json!({"reason": "スマートフォン紛失", "password": PASSWORD, "code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let pass = r.body["pass"].as_str().unwrap().to_owned();
    let recorded = fx.state.store.reenroll_passes(fx.institution).await.unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].reason, "スマートフォン紛失");
    assert_eq!(recorded[0].issued_by, boss.id);

    // The user: password, then the pass instead of the lost device, then a new enrollment.
    let mut u = Client::new(&fx);
    assert_eq!(
        u.post("/api/v1/session", json!({"login_id": "hanako", "password": PASSWORD})).await.body["next"],
        "totp"
    );
    let r = u.post("/api/v1/session/reenroll", json!({ "code": pass })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["next"], "enroll");
    assert!(fx.state.store.totp(fx.institution, nurse.id).await.unwrap().is_none(), "the old device no longer works");
    u.post("/api/v1/session/enroll/totp", json!({})).await;
    let secret = TotpSecret::from_bytes(&fx.state.store.totp(fx.institution, nurse.id).await.unwrap().unwrap().secret);
    let r = u.post("/api/v1/session/enroll/totp/confirm", json!({ "code": fx.code(&secret) })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // The pass worked once.
    fx.advance(Duration::from_secs(31));
    let mut v = Client::new(&fx);
    v.post("/api/v1/session", json!({"login_id": "hanako", "password": PASSWORD})).await;
    assert_eq!(v.post("/api/v1/session/reenroll", json!({ "code": pass })).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_administrator_cannot_reach_another_institutions_accounts() {
    let fx = fixture("users-tenancy").await;
    let other = Institution {
        id: InstitutionId::generate(&mut rand_core::OsRng),
        name: InstitutionName::parse("別の病院").unwrap(),
        created_at: fx.clock_now(),
    };
    fx.state.store.create_institution(&other).await.unwrap();
    account_with(&fx, other.id, "yoso-nurse", JobType::Nurse, &[Role::Nurse], true, false).await;
    let boss = admin(&fx).await;
    let mut a = login(&fx, &boss).await;
    let ledger = a.get("/api/v1/users").await;
    assert!(!ledger.body.to_string().contains("yoso-nurse"));
    for path in ["/api/v1/users/yoso-nurse/status", "/api/v1/users/yoso-nurse/unlock"] {
        let r = a.post(path, json!({"status": "disabled"})).await;
        assert!(r.status == StatusCode::NOT_FOUND || r.status == StatusCode::BAD_REQUEST, "{path}: {}", r.status);
    }
    let r = a.send("POST", "/api/v1/users/yoso-nurse/unlock", Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_role_with_logon_hours_logs_in_only_inside_them() {
    // The fixture's clock starts on Wednesday 2026-11-25 09:00 UTC = 18:00 JST.
    let fx = super::fixture_with("logon-hours", |c| {
        c.logon_hours.insert(
            "clerk".into(),
            mamori_core::logon_hours::LogonWindow {
                days: vec!["mon".into(), "tue".into(), "wed".into(), "thu".into(), "fri".into()],
                from: "08:00".into(),
                until: "19:00".into(),
            },
        );
    })
    .await;
    let clerk = account_with(&fx, fx.institution, "jimu", JobType::Clerk, &[Role::Clerk], true, false).await;
    let mut open = login(&fx, &clerk).await; // 18:00 JST: inside
    assert_eq!(open.get("/api/v1/me").await.status, StatusCode::OK);
    fx.advance(Duration::from_secs(3600)); // 19:00 JST: outside
    // The open session ends at the window's end: refused once with the reason, then gone.
    let r = open.get("/api/v1/me").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"]["code"], "outside_logon_hours");
    assert_eq!(open.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
    let mut c = Client::new(&fx);
    let r = c.post("/api/v1/session", json!({"login_id": "jimu", "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"]["code"], "outside_logon_hours");
    assert!(c.cookie.is_none());
    // A doctor (no window) is not restricted.
    let doctor = account_with(&fx, fx.institution, "isha", JobType::Doctor, &[Role::Doctor], true, false).await;
    login(&fx, &doctor).await;
}
