//! Applicability (図1 of the 保守委託機関編): the manager answers the flowchart's question and
//! names the contract clause behind a YES; the outcome is the flowchart's; decisions are versions,
//! a stale one is refused; auditors read, clerks do not; the page does the same.

use super::record_pages::page_login;
use super::session::{account_with, login};
use super::{Fixture, drop_postgres, fixture, fixture_on_postgres};
use axum::http::StatusCode;
use mamori_core::audit::{AuditQuery, Outcome};
use mamori_core::{JobType, Role};
use serde_json::json;

const Q: &str = "all-server-security-updates-delegated";

async fn the_manager_settles_applicability(fx: &Fixture) {
    let admin =
        account_with(fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    let auditor = account_with(fx, fx.institution, "kansa", JobType::Auditor, &[Role::Auditor], true, false).await;
    let clerk = account_with(fx, fx.institution, "jimu", JobType::Clerk, &[Role::Clerk], true, false).await;
    let mut a = login(fx, &admin).await;
    let r = a.get("/api/v1/applicability").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["flowchart"], "hoshu-7.0/figure-1");
    assert_eq!(r.body["questions"][0]["id"], Q);
    assert!(r.body["questions"][0]["notes"][1].as_str().unwrap().starts_with("※2"));
    assert!(r.body["current"].is_null());

    // Refused, nothing recorded: YES without its contract clause, no answer, an unknown
    // question, a value that is not a boolean.
    for (bad, status) in [
        (json!({"answers": {Q: true}, "basis": "  ", "version": 0}), StatusCode::BAD_REQUEST),
        (json!({"answers": {}, "basis": "", "version": 0}), StatusCode::BAD_REQUEST),
        (json!({"answers": {"is-a-clinic": true}, "basis": "x", "version": 0}), StatusCode::BAD_REQUEST),
        (json!({"answers": {Q: "yes"}, "basis": "x", "version": 0}), StatusCode::BAD_REQUEST),
        (json!({"answers": {Q: false}, "version": 3}), StatusCode::CONFLICT),
    ] {
        let r = a.send("PUT", "/api/v1/applicability", Some(bad.clone())).await;
        assert_eq!(r.status, status, "{bad}: {}", r.text);
    }
    let r = a.send("PUT", "/api/v1/applicability", Some(json!({"answers": {Q: true}, "version": 0}))).await;
    assert!(r.body["error"]["message_ja"].as_str().unwrap().contains("※2"), "{}", r.text);
    assert!(a.get("/api/v1/applicability").await.body["history"].as_array().unwrap().is_empty());

    // NO first; then YES with the clause: the 保守委託機関編 applies.
    let r = a.send("PUT", "/api/v1/applicability", Some(json!({"answers": {Q: false}, "version": 0}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["version"].as_u64(), r.body["applies"].as_bool()), (Some(1), Some(false)));
    let yes = json!({"answers": {Q: true}, "basis": "電子カルテ保守契約書 第12条（OS・ミドルウェアのセキュリティアップデートは受託者が行う）",
                     "notes": "契約書の写しを根拠資料に登録", "version": 1});
    let r = a.send("PUT", "/api/v1/applicability", Some(yes.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["version"].as_u64(), r.body["applies"].as_bool()), (Some(2), Some(true)));
    assert_eq!(r.body["outcome"], "hoshu-applies");
    assert!(r.body["outcome_text"].as_str().unwrap().contains("保守委託機関"));
    assert_eq!(a.send("PUT", "/api/v1/applicability", Some(yes)).await.status, StatusCode::CONFLICT);
    let read = a.get("/api/v1/applicability").await;
    assert_eq!(read.body["current"]["version"], 2);
    assert_eq!(read.body["history"].as_array().unwrap().len(), 2);

    // Auditors read and cannot decide; clerks cannot read. Refusals are in the trail.
    let mut au = login(fx, &auditor).await;
    assert_eq!(au.get("/api/v1/applicability").await.body["current"]["applies"], true);
    let r = au.send("PUT", "/api/v1/applicability", Some(json!({"answers": {Q: false}, "version": 2}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut c = login(fx, &clerk).await;
    assert_eq!(c.get("/api/v1/applicability").await.status, StatusCode::FORBIDDEN);
    for (action, outcome, n) in [
        ("compliance.applicability.decide", Outcome::Allowed, 2),
        ("compliance.applicability.decide", Outcome::Denied, 7),
        ("compliance.applicability.read", Outcome::Denied, 1),
    ] {
        let q = AuditQuery { action: Some(action.into()), outcome: Some(outcome), limit: 20, ..Default::default() };
        assert_eq!(fx.state.store.audit_search(fx.institution, &q).await.unwrap().len(), n, "{action} {outcome:?}");
    }
}

#[tokio::test]
async fn the_manager_settles_applicability_with_its_contract_clause() {
    the_manager_settles_applicability(&fixture("applicability").await).await;
}

#[tokio::test]
async fn postgres_the_manager_settles_applicability_with_its_contract_clause() {
    let Some((fx, url, db)) = fixture_on_postgres("applicability").await else { return };
    the_manager_settles_applicability(&fx).await;
    drop(fx);
    drop_postgres(&url, &db).await;
}

#[tokio::test]
async fn applicability_is_settled_on_its_page() {
    let fx = fixture("applicability-page").await;
    let admin =
        account_with(&fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    let mut b = page_login(&fx, &admin).await;
    assert!(b.get("/compliance").await.html.contains("id=\"applicability-link\""));
    let page = b.get("/compliance/applicability").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("すべてのサーバのセキュリティアップデート責任を事業者に委託している"));
    assert!(page.html.contains("まだ判断していません"));
    let csrf = page.csrf();
    let field = format!("answer.{Q}");
    let missing =
        b.post("/compliance/applicability", &[("csrf", &csrf), ("version", "0"), (&field, "yes"), ("basis", "")]).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.html.contains("※2"), "{}", missing.html);
    let done = b
        .post(
            "/compliance/applicability",
            &[("csrf", &csrf), ("version", "0"), (&field, "yes"), ("basis", "保守契約書 第12条"), ("notes", "")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let page = b.get("/compliance/applicability").await;
    assert!(page.html.contains("class=\"applies\""), "{}", page.html);
    assert!(page.html.contains("保守契約書 第12条"));
    let stale = b.post("/compliance/applicability", &[("csrf", &csrf), ("version", "0"), (&field, "no")]).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    let forged = b.post("/compliance/applicability", &[("csrf", "forged"), ("version", "1"), (&field, "no")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(fx.state.store.applicability(fx.institution).await.unwrap().len(), 1);
}
