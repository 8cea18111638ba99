//! The audit trail in process: identity actions become events in the institution's log,
//! only auditors read it (and reading it is an event), and the signed checkpoint verifies.

use super::fixture;
use super::session::{Client, PASSWORD, account_with, login};
use axum::http::StatusCode;
use mamori_core::{JobType, Role};
use serde_json::{Value, json};
use std::time::Duration;

const PATIENT: &str = "0b7a3c9e-1111-4222-8333-944455556666";

fn actions(page: &Value) -> Vec<String> {
    page["events"].as_array().unwrap().iter().map(|e| e["event"]["action"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn identity_actions_are_audited_and_only_auditors_read_the_trail() {
    let fx = fixture("audit").await;
    let nurse = account_with(&fx, fx.institution, "kango", JobType::Nurse, &[Role::Nurse], true, false).await;
    let doctor = account_with(&fx, fx.institution, "sato", JobType::Doctor, &[Role::Doctor], true, false).await;
    let auditor = account_with(&fx, fx.institution, "kansa", JobType::Auditor, &[Role::Auditor], true, false).await;

    // A wrong password for a known account is a denied event; for an unknown ID only the
    // throttle counts (there is no institution to log it in).
    let mut c = Client::new(&fx);
    let r = c.post("/api/v1/session", json!({"login_id": "kango", "password": "wrong-password-1"})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    c.post("/api/v1/session", json!({"login_id": "nobody", "password": "wrong-password-1"})).await;
    fx.advance(Duration::from_secs(2));
    let mut n = login(&fx, &nurse).await;
    // The nurse may not read the trail: refused, and the refusal is an event.
    let refused = n.get("/api/v1/audit/events").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let mut d = login(&fx, &doctor).await;
    let r = d.post("/api/v1/emergency-access", json!({"patient_id": PATIENT, "reason": "救急搬送"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(d.send("DELETE", "/api/v1/session", None).await.status, StatusCode::NO_CONTENT);

    fx.advance(Duration::from_secs(30));
    let mut a = login(&fx, &auditor).await;
    // Who opened patient X.
    let page = a.get(&format!("/api/v1/audit/events?patient={PATIENT}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // The auditor's own search is recorded first, as an access about that patient.
    assert_eq!(actions(&page.body), ["audit.read", "emergency.grant"]);
    assert_eq!(page.body["events"][0]["login_id"], "kansa");
    assert_eq!(page.body["events"][1]["login_id"], "sato");
    assert_eq!(page.body["events"][1]["event"]["patient"], PATIENT);
    // What did user Y do: newest first, with the request id of each step.
    let page = a.get("/api/v1/audit/events?user=kango").await;
    assert_eq!(actions(&page.body), ["audit.read", "login", "login.password", "login.password"]);
    let outcomes: Vec<&str> =
        page.body["events"].as_array().unwrap().iter().map(|e| e["event"]["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["denied", "allowed", "allowed", "denied"]);
    assert!(page.body["events"][1]["event"]["origin"]["request_id"].is_string());
    assert_eq!(page.body["events"][1]["event"]["detail"]["factor"], "totp");
    // Filters combine; paging goes backwards.
    let denied = a.get("/api/v1/audit/events?action=login.password&outcome=denied").await;
    assert_eq!(denied.body["events"].as_array().unwrap().len(), 1);
    let first = a.get("/api/v1/audit/events?limit=2").await;
    assert_eq!(first.body["events"].as_array().unwrap().len(), 2);
    let before = first.body["next_before"].as_u64().unwrap();
    let second = a.get(&format!("/api/v1/audit/events?limit=2&before={before}")).await;
    assert!(second.body["events"][0]["index"].as_u64().unwrap() < before);
    // Reading the trail is itself in the trail.
    let reads = a.get("/api/v1/audit/events?action=audit.read&user=kansa").await;
    assert!(reads.body["events"].as_array().unwrap().len() >= 4, "{}", reads.body);
    // Bad filters are refused with a clear message; nothing is searched.
    for bad in ["outcome=maybe", "from=yesterday", "patient=12345", "limit=x"] {
        let r = a.get(&format!("/api/v1/audit/events?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
    }
    assert_eq!(a.get("/api/v1/audit/events?user=ghost").await.status, StatusCode::NOT_FOUND);

    // The signed checkpoint covers every event and verifies with the published key.
    let note = a.get("/api/v1/ledger/checkpoint").await;
    assert_eq!(note.status, StatusCode::OK);
    let key = Client::new(&fx).get("/api/v1/ledger/verifier-key").await.text;
    let key = mamori_ledger::VerifierKey::parse(key.trim()).unwrap();
    assert!(key.name() == "localhost");
    let origin = format!("localhost/{}", fx.institution);
    let checkpoint =
        mamori_ledger::Checkpoint::open_for_origin(&note.text, &origin, std::slice::from_ref(&key)).unwrap();
    let head = fx.state.store.log_head(fx.institution).await.unwrap();
    assert_eq!(checkpoint.size(), head.size);
    let leaves = fx.state.store.log_leaves(fx.institution, 0, head.size).await.unwrap();
    let tree = mamori_ledger::merkle::MemoryTree::from_leaf_hashes(
        leaves.iter().map(|(_, leaf, _)| mamori_ledger::merkle::leaf_hash(leaf)).collect::<Vec<_>>(),
    );
    assert_eq!(mamori_ledger::merkle::root(&tree, head.size).unwrap(), *checkpoint.root());
    // Another origin (another institution's log) is refused with the same note.
    assert!(mamori_ledger::Checkpoint::open_for_origin(&note.text, "localhost/other", &[key]).is_err());
    // The trail needs a session.
    assert_eq!(Client::new(&fx).get("/api/v1/audit/events").await.status, StatusCode::UNAUTHORIZED);
    let _ = PASSWORD;
}
