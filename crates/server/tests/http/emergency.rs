//! Emergency (break-glass) access: asked for with a reason, time-limited, flagged on every page,
//! reviewed by someone else.

use super::fixture;
use super::session::{Client, account_with, login};
use axum::http::StatusCode;
use mamori_core::{Institution, InstitutionId, InstitutionName, JobType, Role};
use serde_json::json;
use std::time::Duration;

const PATIENT: &str = "0b7a3c9e-1111-4222-8333-944455556666";

#[tokio::test]
async fn a_doctor_opens_a_chart_in_an_emergency_and_the_safety_manager_reviews_it() {
    let fx = fixture("emergency").await;
    let doctor = account_with(&fx, fx.institution, "sato", JobType::Doctor, &[Role::Doctor], true, false).await;
    let boss =
        account_with(&fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    let clerk = account_with(&fx, fx.institution, "jimu", JobType::Clerk, &[Role::Clerk], true, false).await;

    let mut d = login(&fx, &doctor).await;
    let none = d.post("/api/v1/emergency-access", json!({"patient_id": PATIENT, "reason": "  "})).await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    let bad = d.post("/api/v1/emergency-access", json!({"patient_id": "12345", "reason": "救急搬送"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let r = d
        .post("/api/v1/emergency-access", json!({"patient_id": PATIENT, "reason": "夜間の救急搬送、主治医不在"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["login_id"], "sato");
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(d.get("/api/v1/emergency-access").await.body.as_array().unwrap().len(), 1);
    // Flagged on every page while it lasts.
    let home = d.get("/").await;
    assert!(
        home.text.contains("id=\"emergency-banner\"") && home.text.contains("緊急アクセス中（1件、あと約60分）"),
        "{}",
        home.text
    );

    // A clerk's roles do not allow it.
    fx.advance(Duration::from_secs(31));
    let mut c = login(&fx, &clerk).await;
    let r = c.post("/api/v1/emergency-access", json!({"patient_id": PATIENT, "reason": "急ぎ"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The grant ends after emergency.grant_ttl.
    fx.advance(Duration::from_secs(60 * 60));
    let mut d2 = login(&fx, &doctor).await;
    assert!(d2.get("/api/v1/emergency-access").await.body.as_array().unwrap().is_empty());
    assert!(!d2.get("/").await.text.contains("emergency-banner"));

    // The review: the doctor cannot, the safety manager can, once.
    assert_eq!(d2.get("/api/v1/emergency-access/review").await.status, StatusCode::FORBIDDEN);
    let mut a = login(&fx, &boss).await;
    let queue = a.get("/api/v1/emergency-access/review").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert_eq!(queue.body[0]["reason"], "夜間の救急搬送、主治医不在");
    assert!(queue.body[0]["reviewed_by"].is_null());
    let uri = format!("/api/v1/emergency-access/{id}/review");
    let r = a.post(&uri, json!({"note": "カルテ記載と照合、妥当"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["reviewed_by"], "kanri");
    assert_eq!(a.post(&uri, json!({"note": "again"})).await.status, StatusCode::CONFLICT);
    assert_eq!(
        a.post("/api/v1/emergency-access/not-an-id/review", json!({"note": ""})).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn nobody_reviews_their_own_emergency_access_or_another_institutions() {
    let fx = fixture("emergency-self").await;
    let both = account_with(
        &fx,
        fx.institution,
        "kenmu",
        JobType::Doctor,
        &[Role::Doctor, Role::SystemAdministrator],
        true,
        false,
    )
    .await;
    let mut b = login(&fx, &both).await;
    let r = b.post("/api/v1/emergency-access", json!({"patient_id": PATIENT, "reason": "急変"})).await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = b.post(&format!("/api/v1/emergency-access/{id}/review"), json!({"note": "ok"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"]["code"], "own_grant");

    let other = Institution {
        id: InstitutionId::generate(&mut rand_core::OsRng),
        name: InstitutionName::parse("別院").unwrap(),
        created_at: fx.clock_now(),
    };
    fx.state.store.create_institution(&other).await.unwrap();
    let outsider =
        account_with(&fx, other.id, "yoso", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    fx.advance(Duration::from_secs(31));
    let mut o = login(&fx, &outsider).await;
    assert!(o.get("/api/v1/emergency-access/review").await.body.as_array().unwrap().is_empty());
    assert_eq!(
        o.post(&format!("/api/v1/emergency-access/{id}/review"), json!({"note": "x"})).await.status,
        StatusCode::NOT_FOUND
    );
    let mut anon = Client::new(&fx);
    assert_eq!(anon.get("/api/v1/emergency-access").await.status, StatusCode::UNAUTHORIZED);
}
