//! Sealed emergency accounts: unusable until a second person activates them, time-limited,
//! flagged on every page, recorded; and the role/category editor.

use super::fixture;
use super::session::{Client, PASSWORD, account_with, login};
use axum::http::StatusCode;
use mamori_core::sealed::SealedAccount;
use mamori_core::{JobType, Role};
use serde_json::json;
use std::time::Duration;

async fn seal(fx: &super::Fixture, login: &'static str) -> super::session::Account {
    let account = account_with(fx, fx.institution, login, JobType::Doctor, &[Role::Doctor], true, false).await;
    let sealed =
        SealedAccount { institution: fx.institution, user: account.id, generation: 1, sealed_at: fx.clock_now() };
    fx.state.store.seal_account(&sealed).await.unwrap();
    account
}

#[tokio::test]
async fn a_sealed_account_logs_in_only_after_a_second_persons_activation() {
    let fx = fixture("sealed").await;
    let kinkyu = seal(&fx, "kinkyu1").await;
    let nurse = account_with(&fx, fx.institution, "kango", JobType::Nurse, &[Role::Nurse], true, false).await;
    let clerk = account_with(&fx, fx.institution, "jimu", JobType::Clerk, &[Role::Clerk], true, false).await;
    let boss =
        account_with(&fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;

    // The envelope alone is not enough: the right password and code are refused with a
    // reason, and no session is left.
    let mut k = Client::new(&fx);
    let r = k.post("/api/v1/session", json!({"login_id": "kinkyu1", "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = k.post("/api/v1/session/totp", json!({"code": fx.code(kinkyu.totp.as_ref().unwrap())})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "sealed_account_not_activated");
    assert_eq!(k.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);

    // A clerk may not confirm; the nurse may, with her own password and a fresh code.
    fx.advance(Duration::from_secs(30));
    let mut c = login(&fx, &clerk).await;
    let body = |code: String| json!({"used_by": "田中 一郎（医師）", "reason": "電子カルテ認証基盤の障害", "password": PASSWORD, "code": code});
    let r = c.post("/api/v1/emergency-accounts/kinkyu1/activate", body(fx.code(clerk.totp.as_ref().unwrap()))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let mut n = login(&fx, &nurse).await;
    fx.advance(Duration::from_secs(30));
    let listed = n.get("/api/v1/emergency-accounts").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body[0]["login_id"], "kinkyu1");
    assert!(listed.body[0]["active"].is_null());
    // Bad input: no name, unknown account, wrong own password: refused, nothing activated.
    let r = n
        .post(
            "/api/v1/emergency-accounts/kinkyu1/activate",
            json!({"used_by": " ", "reason": "障害", "password": PASSWORD, "code": "000000"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = n.post("/api/v1/emergency-accounts/kango/activate", body(fx.code(nurse.totp.as_ref().unwrap()))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a normal account is not a sealed one");
    let r = n
        .post(
            "/api/v1/emergency-accounts/kinkyu1/activate",
            json!({"used_by": "田中", "reason": "障害", "password": "wrong-password-here", "code": fx.code(nurse.totp.as_ref().unwrap())}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(fx.state.store.sealed_activations(fx.institution).await.unwrap().is_empty());
    fx.advance(Duration::from_secs(31)); // past the throttle's delay, and a new TOTP step
    let r = n.post("/api/v1/emergency-accounts/kinkyu1/activate", body(fx.code(nurse.totp.as_ref().unwrap()))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["confirmed_by"], "kango");
    assert_eq!(r.body["used_by"], "田中 一郎（医師）");
    fx.advance(Duration::from_secs(30));
    let again =
        n.post("/api/v1/emergency-accounts/kinkyu1/activate", body(fx.code(nurse.totp.as_ref().unwrap()))).await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    // Now the envelope logs in, with a red banner naming the user on every page.
    let mut k = login(&fx, &kinkyu).await;
    assert_eq!(k.get("/api/v1/me").await.status, StatusCode::OK);
    let home = k.get("/").await;
    assert!(home.text.contains("緊急用アカウントで使用中（使用者: 田中 一郎（医師）、あと約"), "{}", home.text);
    // A sealed account cannot confirm another one.
    let other = seal(&fx, "kinkyu2").await;
    let _ = other;
    let r = k.post("/api/v1/emergency-accounts/kinkyu2/activate", body(fx.code(kinkyu.totp.as_ref().unwrap()))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The safety manager sees the record.
    let mut a = login(&fx, &boss).await;
    let history = a.get("/api/v1/emergency-accounts/activations").await;
    assert_eq!(history.status, StatusCode::OK);
    assert_eq!(history.body.as_array().unwrap().len(), 1);
    assert_eq!(history.body[0]["reason"], "電子カルテ認証基盤の障害");

    // The activation ends after emergency.sealed_account_ttl (8 h): so does the session.
    fx.advance(Duration::from_secs(8 * 60 * 60));
    assert_eq!(k.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
    let mut k2 = Client::new(&fx);
    k2.post("/api/v1/session", json!({"login_id": "kinkyu1", "password": PASSWORD})).await;
    let r = k2.post("/api/v1/session/totp", json!({"code": fx.code(kinkyu.totp.as_ref().unwrap())})).await;
    assert_eq!(r.body["error"]["code"], "sealed_account_not_activated");
}

#[tokio::test]
async fn an_administrator_adds_a_category_and_grants_it_to_a_role() {
    let fx = fixture("roles").await;
    let boss =
        account_with(&fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    let nurse = account_with(&fx, fx.institution, "kango", JobType::Nurse, &[Role::Nurse], true, false).await;
    let mut a = login(&fx, &boss).await;

    let r = a
        .post(
            "/api/v1/categories",
            json!({"name": "rehab_note", "label_ja": "リハビリ記録", "label_en": "Rehabilitation notes"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let again = a.post("/api/v1/categories", json!({"name": "rehab_note", "label_ja": "x", "label_en": "x"})).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    for bad in [
        json!({"name": "clinical_record", "label_ja": "x", "label_en": "x"}),
        json!({"name": "Rehab", "label_ja": "x", "label_en": "x"}),
        json!({"name": "ok_name", "label_ja": "", "label_en": "x"}),
    ] {
        assert_eq!(a.post("/api/v1/categories", bad.clone()).await.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let cats = a.get("/api/v1/categories").await;
    assert_eq!(cats.body.as_array().unwrap().len(), 7);
    assert_eq!(cats.body[6]["name"], "rehab_note");

    // The nurse role gets read and write on it, on top of what it had.
    let roles = a.get("/api/v1/roles").await;
    let nurse_role = roles.body.as_array().unwrap().iter().find(|r| r["role"] == "nurse").unwrap().clone();
    assert_eq!(nurse_role["customized"], false);
    let mut grants = nurse_role["grants"].as_array().unwrap().clone();
    let before = grants.len();
    grants.push(json!({"action": "read", "category": "rehab_note"}));
    grants.push(json!({"action": "write", "category": "rehab_note"}));
    let r = a.send("PUT", "/api/v1/roles/nurse", Some(json!({ "grants": grants }))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["customized"], true);
    assert_eq!(r.body["grants"].as_array().unwrap().len(), before + 2);

    // Refused: clinical rights for the administrator, unknown category or action, duplicates,
    // an unknown role; and a nurse may not edit roles. Nothing changes.
    let read = |c: &str| json!({"grants": [{"action": "read", "category": c}]});
    assert_eq!(
        a.send("PUT", "/api/v1/roles/system_admin", Some(read("clinical_record"))).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(a.send("PUT", "/api/v1/roles/nurse", Some(read("dental"))).await.status, StatusCode::BAD_REQUEST);
    let dup = json!({"grants": [{"action": "read", "category": "imaging"}, {"action": "read", "category": "imaging"}]});
    assert_eq!(a.send("PUT", "/api/v1/roles/nurse", Some(dup)).await.status, StatusCode::BAD_REQUEST);
    let bad_action = json!({"grants": [{"action": "delete", "category": "imaging"}]});
    assert_eq!(a.send("PUT", "/api/v1/roles/nurse", Some(bad_action)).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.send("PUT", "/api/v1/roles/surgeon", Some(read("imaging"))).await.status, StatusCode::NOT_FOUND);
    let mut n = login(&fx, &nurse).await;
    assert_eq!(n.send("PUT", "/api/v1/roles/nurse", Some(read("imaging"))).await.status, StatusCode::FORBIDDEN);
    assert_eq!(n.get("/api/v1/roles").await.status, StatusCode::FORBIDDEN);
    let stored = fx.state.store.role_grants(fx.institution).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].1.len(), before + 2);

    // The nurse's principal now carries the institution's policy.
    let policy = mamori_server::auth::policy(&fx.state, fx.institution).await.unwrap();
    let rehab = mamori_core::authz::Category::parse("rehab_note").unwrap();
    assert!(policy.clinical(Role::Nurse).contains(&(mamori_core::authz::Action::Write, rehab.clone())));
    assert!(!policy.clinical(Role::Doctor).contains(&(mamori_core::authz::Action::Read, rehab)));
}
