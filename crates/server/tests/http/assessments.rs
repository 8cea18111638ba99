//! The compliance workbench's assessments over the API: start one for the 保守委託機関編 catalog,
//! work an item (versions kept, a stale change refused), add evidence, read it with live
//! evidence from mamori's own data, and carry it over to the next year with every state reset.

use super::fixture;
use super::session::{account_with, login};
use axum::http::StatusCode;
use mamori_core::{JobType, Role};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn an_institution_assesses_the_checklist_item_by_item() {
    let fx = fixture("assessments").await;
    let admin =
        account_with(&fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    let auditor = account_with(&fx, fx.institution, "kansa", JobType::Auditor, &[Role::Auditor], true, false).await;
    let clerk = account_with(&fx, fx.institution, "jimu", JobType::Clerk, &[Role::Clerk], true, false).await;
    let mut a = login(&fx, &admin).await;
    let r = a
        .post(
            "/api/v1/assessments",
            json!({"catalog": "hoshu-7.0", "title": "2026年度 自己点検", "period_start": "2026-04-01", "period_end": "2027-03-31"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let detail = a.get(&format!("/api/v1/assessments/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    let items = detail.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 52);
    assert!(items.iter().all(|i| i["state"] == "not_started" && i["version"] == 1));
    assert_eq!(detail.body["counts"]["not_started"], 52);
    let live: Vec<&str> = detail.body["live"].as_array().unwrap().iter().map(|l| l["item"].as_str().unwrap()).collect();
    for item in ["hoshu-7.0/9-1", "hoshu-7.0/9-2", "hoshu-7.0/9-4", "hoshu-7.0/10-7"] {
        assert!(live.contains(&item), "{item} in {live:?}");
    }

    // Working an item: a new version each time; a stale change is refused.
    let change = json!({"state": "done", "owner": admin.id.to_string(), "next_review_on": "2027-03-31",
                        "notes": "全利用者が二要素でログイン（mamoriのライブ証跡）", "version": 1});
    let r = a.send("PUT", &format!("/api/v1/assessments/{id}/items/9-4"), Some(change.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!((r.body["version"].as_i64(), r.body["state_ja"].as_str()), (Some(2), Some("対応済")));
    let r = a.send("PUT", &format!("/api/v1/assessments/{id}/items/9-4"), Some(change)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let bad = json!({"state": "finished", "notes": "", "version": 2});
    assert_eq!(
        a.send("PUT", &format!("/api/v1/assessments/{id}/items/9-4"), Some(bad)).await.status,
        StatusCode::BAD_REQUEST
    );
    let history = a.get(&format!("/api/v1/assessments/{id}/items/9-4/history")).await;
    assert_eq!(history.body.as_array().unwrap().len(), 2, "{}", history.body);
    assert_eq!(
        a.send("PUT", &format!("/api/v1/assessments/{id}/items/99-9"), Some(json!({"state": "done", "version": 1})))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Evidence: an https link with its period; a revision; bad input refused.
    let r = a
        .post(
            &format!("/api/v1/assessments/{id}/items/9-4/evidence"),
            json!({"title": "二要素認証の運用規程", "url": "https://intra.example.jp/kitei/2fa.pdf",
                   "effective_on": "2026-04-01", "expires_on": "2027-03-31"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let evidence = r.body["id"].as_str().unwrap().to_owned();
    let r = a
        .post(
            &format!("/api/v1/assessments/{id}/items/9-4/evidence"),
            json!({"title": "二要素認証の運用規程（改訂）", "url": "https://intra.example.jp/kitei/2fa-v2.pdf", "revises": evidence, "revision": 2}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    for bad in [
        json!({"title": "x", "url": "http://intra.example.jp/x"}),
        json!({"title": "", "url": "https://intra.example.jp/x"}),
        json!({"title": "x", "url": "https://intra.example.jp/x", "effective_on": "2026-04-01", "expires_on": "2026-03-01"}),
    ] {
        let r = a.post(&format!("/api/v1/assessments/{id}/items/9-4/evidence"), bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
    }
    let detail = a.get(&format!("/api/v1/assessments/{id}")).await;
    assert_eq!(detail.body["evidence"].as_array().unwrap().len(), 2);

    // Auditors read, do not change; a clerk has no access.
    fx.advance(Duration::from_secs(31));
    let mut au = login(&fx, &auditor).await;
    assert_eq!(au.get(&format!("/api/v1/assessments/{id}")).await.status, StatusCode::OK);
    let r = au
        .send("PUT", &format!("/api/v1/assessments/{id}/items/9-2"), Some(json!({"state": "done", "version": 1})))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut c = login(&fx, &clerk).await;
    assert_eq!(c.get("/api/v1/assessments").await.status, StatusCode::FORBIDDEN);
    // Refusals are in the trail, with who tried.
    for (action, who) in [("compliance.item.update", auditor.id), ("compliance.read", clerk.id)] {
        let q = mamori_core::audit::AuditQuery {
            action: Some(action.into()),
            actor: Some(who),
            outcome: Some(mamori_core::audit::Outcome::Denied),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(fx.state.store.audit_search(fx.institution, &q).await.unwrap().len(), 1, "{action}");
    }

    // The next year's self-inspection starts from this one, every state reset for review.
    let r = a
        .post(
            "/api/v1/assessments",
            json!({"catalog": "hoshu-7.0", "title": "2027年度 自己点検", "period_start": "2027-04-01", "period_end": "2028-03-31", "carry_over": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["carried_from"], id);
    let next = a.get(&format!("/api/v1/assessments/{}", r.body["id"].as_str().unwrap())).await;
    let item = next.body["items"].as_array().unwrap().iter().find(|i| i["item"] == "hoshu-7.0/9-4").unwrap().clone();
    assert_eq!(item["state"], "not_started");
    assert_eq!(item["notes"], "全利用者が二要素でログイン（mamoriのライブ証跡）");
    assert_eq!(a.get("/api/v1/assessments").await.body.as_array().unwrap().len(), 2);
    let r = a
        .post(
            "/api/v1/assessments",
            json!({"catalog": "iso-27001", "title": "x", "period_start": "2027-04-01", "period_end": "2028-03-31"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
