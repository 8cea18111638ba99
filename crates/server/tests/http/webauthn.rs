//! WebAuthn over the API in process: the parts that need no authenticator (options, refusals,
//! replay). The full ceremony runs in real Chromium with a virtual authenticator (cli tests).

use super::fixture;
use super::session::{Client, PASSWORD, account, login};
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn registration_options_name_the_relying_party_and_need_a_full_session() {
    let fx = fixture("webauthn-options").await;
    let nurse = account(&fx, "hanako", true, false).await;
    let mut anon = Client::new(&fx);
    assert_eq!(anon.post("/api/v1/me/webauthn/register/start", json!({})).await.status, StatusCode::UNAUTHORIZED);
    let mut c = login(&fx, &nurse).await;
    let r = c.post("/api/v1/me/webauthn/register/start", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["publicKey"]["rp"]["id"], "localhost");
    assert_eq!(r.body["publicKey"]["user"]["name"], "hanako");
    assert_eq!(r.body["publicKey"]["authenticatorSelection"]["userVerification"], "required");
    assert!(r.body["publicKey"]["challenge"].as_str().unwrap().len() >= 43);
    assert_eq!(c.get("/api/v1/me/webauthn").await.body, json!([]));
}

#[tokio::test]
async fn answers_without_a_challenge_or_keys_are_refused_and_counted() {
    let fx = fixture("webauthn-refusals").await;
    let nurse = account(&fx, "hanako", true, false).await;
    // A finish with no registration under way.
    let mut c = login(&fx, &nurse).await;
    let fake = json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"attestationObject": "AAAA", "clientDataJSON": "AAAA"}, "extensions": {}});
    let r = c.post("/api/v1/me/webauthn/register/finish", json!({"name": "key", "credential": fake})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(c.get("/api/v1/me/webauthn").await.body.as_array().unwrap().is_empty());

    // Login: the user has no key, so the challenge is refused like any failed step.
    let mut p = Client::new(&fx);
    assert_eq!(
        p.post("/api/v1/session", json!({"login_id": "hanako", "password": PASSWORD})).await.body["next"],
        "totp"
    );
    let r = p.post("/api/v1/session/webauthn/challenge", json!({})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"]["code"], "login_failed");
    assert_eq!(fx.state.store.throttle("hanako").await.unwrap().map(|t| t.failures), Some(1));
    // An assertion with no challenge under way (e.g. a replay) is refused too.
    fx.advance(std::time::Duration::from_secs(2));
    let assertion = json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA", "userHandle": null},
        "extensions": {}});
    let r = p.post("/api/v1/session/webauthn/finish", json!({ "credential": assertion })).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(fx.state.store.throttle("hanako").await.unwrap().map(|t| t.failures), Some(2));
    assert_eq!(p.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn removing_a_key_that_is_not_the_users_is_not_found() {
    let fx = fixture("webauthn-remove").await;
    let nurse = account(&fx, "hanako", true, false).await;
    let other = account(&fx, "taro", true, false).await;
    let credential = mamori_core::factor::WebauthnCredential {
        credential_id: vec![7; 16],
        name: "key".into(),
        credential_json: "{}".into(),
        created_at: fx.clock_now(),
        last_used_at: None,
    };
    fx.state.store.add_webauthn_credential(fx.institution, other.id, &credential).await.unwrap();
    let mut c = login(&fx, &nurse).await;
    let id = "BwcHBwcHBwcHBwcHBwcHBw"; // base64url of sixteen 7s
    assert_eq!(c.send("DELETE", &format!("/api/v1/me/webauthn/{id}"), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(c.send("DELETE", "/api/v1/me/webauthn/not*base64", None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(fx.state.store.webauthn_credentials(fx.institution, other.id).await.unwrap().len(), 1);
    fx.advance(std::time::Duration::from_secs(31));
    let mut o = login(&fx, &other).await;
    assert_eq!(o.send("DELETE", &format!("/api/v1/me/webauthn/{id}"), None).await.status, StatusCode::NO_CONTENT);
    assert!(fx.state.store.webauthn_credentials(fx.institution, other.id).await.unwrap().is_empty());
}
