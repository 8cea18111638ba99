//! The login API end to end, in process, with the clock passed in: password + TOTP, enrollment,
//! recovery codes, lockout, idle lock, lifetime, password change, logout. Nothing sleeps.

use super::{Fixture, fixture, fixture_with};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use mamori_core::factor::TotpRecord;
use mamori_core::{DisplayName, JobType, LoginId, NewUser, Role, UserId};
use mamori_crypto::{Secret, TotpSecret};
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt as _;

pub(super) const PASSWORD: &str = "kesa-no-asa-wa-samui-desu-ne";

/// A browser-like client: keeps the session cookie.
pub(super) struct Client<'a> {
    fx: &'a Fixture,
    pub cookie: Option<String>,
}

pub(super) struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub text: String,
    pub raw: Vec<u8>,
}

impl<'a> Client<'a> {
    pub fn new(fx: &'a Fixture) -> Self {
        Self { fx, cookie: None }
    }

    pub async fn send(&mut self, method: &str, uri: &str, body: Option<Value>) -> Reply {
        match body {
            Some(b) => self.send_bytes(method, uri, Some("application/json"), b.to_string().into_bytes()).await,
            None => self.send_bytes(method, uri, None, Vec::new()).await,
        }
    }

    /// Sends `bytes` as the body with that `Content-Type` (none when `None`).
    pub async fn send_bytes(&mut self, method: &str, uri: &str, content_type: Option<&str>, bytes: Vec<u8>) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        let req = req.body(Body::from(bytes)).unwrap();
        let response = mamori_server::app(self.fx.state.clone()).oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all("set-cookie") {
            let set = set.to_str().unwrap();
            if set.starts_with("__Host-mamori_session=") {
                let pair = set.split(';').next().unwrap().to_owned();
                self.cookie = if pair.ends_with('=') { None } else { Some(pair) };
            }
        }
        let bytes = axum::body::to_bytes(response.into_body(), 64 << 20).await.unwrap();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Reply { status, headers, body, text: String::from_utf8_lossy(&bytes).into_owned(), raw: bytes.to_vec() }
    }

    pub async fn post(&mut self, uri: &str, body: Value) -> Reply {
        self.send("POST", uri, Some(body)).await
    }

    pub async fn get(&mut self, uri: &str) -> Reply {
        self.send("GET", uri, None).await
    }
}

pub(super) struct Account {
    pub id: UserId,
    pub login: &'static str,
    pub totp: Option<TotpSecret>,
}

pub(super) async fn account(fx: &Fixture, login: &'static str, enrolled: bool, change_required: bool) -> Account {
    account_with(fx, fx.institution, login, JobType::Nurse, &[Role::Nurse], enrolled, change_required).await
}

pub(super) async fn account_with(
    fx: &Fixture,
    institution: mamori_core::InstitutionId,
    login: &'static str,
    job: JobType,
    roles: &[Role],
    enrolled: bool,
    change_required: bool,
) -> Account {
    let store = &fx.state.store;
    let hash = fx.state.passwords.hasher.hash(&Secret::new(PASSWORD), &mut rand_core::OsRng).unwrap();
    let id = UserId::generate(&mut rand_core::OsRng);
    let user = NewUser {
        id,
        login_id: LoginId::parse(login).unwrap(),
        display_name: DisplayName::parse("山田 花子").unwrap(),
        job_type: job,
        roles: roles.to_vec(),
        password_hash: hash.as_phc().to_owned(),
        password_change_required: change_required,
        created_at: fx.clock_now(),
    };
    store.create_user(institution, &user).await.unwrap();
    let totp = if enrolled {
        let secret = TotpSecret::generate(&mut rand_core::OsRng);
        let record = TotpRecord {
            secret: secret.as_bytes().to_vec(),
            confirmed: true,
            last_used_step: None,
            created_at: fx.clock_now(),
        };
        store.put_totp(institution, id, &record).await.unwrap();
        Some(secret)
    } else {
        None
    };
    Account { id, login, totp }
}

impl Fixture {
    pub(super) fn clock_now(&self) -> time::OffsetDateTime {
        mamori_core::Clock::now(self.clock.as_ref())
    }

    pub(super) fn code(&self, secret: &TotpSecret) -> String {
        secret.code_at(u64::try_from(self.clock_now().unix_timestamp()).unwrap())
    }

    pub(super) fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }
}

pub(super) async fn login<'a>(fx: &'a Fixture, who: &Account) -> Client<'a> {
    let mut c = Client::new(fx);
    let r = c.post("/api/v1/session", json!({"login_id": who.login, "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A user with a security key is offered it first; a TOTP code is accepted either way.
    assert!(r.body["next"] == "totp" || r.body["next"] == "webauthn", "{}", r.body);
    let code = fx.code(who.totp.as_ref().unwrap());
    let r = c.post("/api/v1/session/totp", json!({ "code": code })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    c
}

#[tokio::test]
async fn password_then_totp_gives_a_full_session_and_shows_the_last_login() {
    let fx = fixture("login").await;
    let nurse = account(&fx, "hanako", true, false).await;
    let mut c = Client::new(&fx);
    let r = c.post("/api/v1/session", json!({"login_id": "hanako", "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"next": "totp", "password_change_required": false}));
    let set = r.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(set.starts_with("__Host-mamori_session="), "{set}");
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    let pre_auth = c.cookie.clone();
    // The pre-authentication cookie grants nothing else.
    assert_eq!(c.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);

    fx.advance(Duration::from_secs(20));
    let code = fx.code(nurse.totp.as_ref().unwrap());
    let r = c.post("/api/v1/session/totp", json!({ "code": code })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_ne!(c.cookie, pre_auth, "the session token is replaced at login");
    let me = c.get("/api/v1/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["login_id"], "hanako");
    assert_eq!(me.body["display_name"], "山田 花子");
    assert_eq!(me.body["job_type"], "nurse");
    assert_eq!(me.body["roles"], json!(["nurse"]));
    assert_eq!(me.body["password_change_required"], false);
    assert_eq!(me.body["last_login"], json!({"succeeded_at": null, "failures_since": 0}));

    // The old pre-authentication token is dead.
    let mut stale = Client { fx: &fx, cookie: pre_auth };
    assert_eq!(stale.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);

    // Two failures, then a later login shows the previous login and the failures since.
    let first_login = fx.clock_now();
    fx.advance(Duration::from_secs(3600));
    let mut other = Client::new(&fx);
    assert_eq!(
        other.post("/api/v1/session", json!({"login_id": "hanako", "password": "wrong-password-1"})).await.status,
        StatusCode::UNAUTHORIZED
    );
    fx.advance(Duration::from_secs(2));
    assert_eq!(
        other.post("/api/v1/session", json!({"login_id": "hanako", "password": "wrong-password-2"})).await.status,
        StatusCode::UNAUTHORIZED
    );
    fx.advance(Duration::from_secs(60));
    let mut again = login(&fx, &nurse).await;
    let me = again.get("/api/v1/me").await;
    let shown = me.body["last_login"]["succeeded_at"].as_str().unwrap().to_owned();
    let expected = first_login.format(&time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(shown, expected);
    assert_eq!(me.body["last_login"]["failures_since"], 2);
}

#[tokio::test]
async fn every_login_failure_looks_the_same() {
    let fx = fixture("generic").await;
    account(&fx, "hanako", true, false).await;
    let mut c = Client::new(&fx);
    let unknown = c.post("/api/v1/session", json!({"login_id": "nobody", "password": PASSWORD})).await;
    fx.advance(Duration::from_secs(60));
    let wrong = c.post("/api/v1/session", json!({"login_id": "hanako", "password": "not-the-password"})).await;
    fx.advance(Duration::from_secs(60));
    let invalid_id = c.post("/api/v1/session", json!({"login_id": "Not A Valid ID", "password": PASSWORD})).await;
    for r in [&unknown, &wrong, &invalid_id] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.body, unknown.body);
        assert!(r.headers.get("set-cookie").is_none());
    }
    assert_eq!(unknown.body["error"]["code"], "login_failed");
    assert!(c.cookie.is_none());
}

#[tokio::test]
async fn wrong_expired_and_reused_codes_are_refused() {
    let fx = fixture("codes").await;
    let nurse = account(&fx, "hanako", true, false).await;
    let secret = nurse.totp.as_ref().unwrap();
    let mut c = Client::new(&fx);
    c.post("/api/v1/session", json!({"login_id": "hanako", "password": PASSWORD})).await;
    let now = u64::try_from(fx.clock_now().unix_timestamp()).unwrap();
    let expired = secret.code_at(now - 60);
    let future = secret.code_at(now + 30);
    let current = fx.code(secret);
    let wrong = if current == "000000" { "111111" } else { "000000" };
    let mut wait = 1;
    for bad in [wrong, expired.as_str(), future.as_str()] {
        let r = c.post("/api/v1/session/totp", json!({ "code": bad })).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(r.body["error"]["code"], "login_failed");
        fx.advance(Duration::from_secs(wait));
        wait += 2;
    }
    // The previous step's code still works...
    let previous = secret.code_at(u64::try_from(fx.clock_now().unix_timestamp()).unwrap() - 30);
    let r = c.post("/api/v1/session/totp", json!({ "code": previous })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // ...once: the same code cannot open another session.
    fx.advance(Duration::from_secs(1));
    let mut d = Client::new(&fx);
    d.post("/api/v1/session", json!({"login_id": "hanako", "password": PASSWORD})).await;
    let r = d.post("/api/v1/session/totp", json!({ "code": previous })).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a used code is refused");
}

#[tokio::test]
async fn the_sixth_attempt_is_refused_even_with_the_right_password() {
    let fx = fixture("lockout").await;
    let nurse = account(&fx, "hanako", true, false).await;
    let mut c = Client::new(&fx);
    for (attempt, delay) in [1u64, 3, 5, 10, 0].iter().enumerate() {
        let r = c.post("/api/v1/session", json!({"login_id": "hanako", "password": "wrong-password"})).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {}", attempt + 1);
        if *delay > 0 {
            // Too soon: refused without being checked, with Retry-After.
            let r = c.post("/api/v1/session", json!({"login_id": "hanako", "password": PASSWORD})).await;
            assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(r.headers.get("retry-after").unwrap().to_str().unwrap(), delay.to_string());
            fx.advance(Duration::from_secs(*delay));
        }
    }
    let r = c.post("/api/v1/session", json!({"login_id": "hanako", "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"]["code"], "locked_out");
    assert!(r.body["error"]["message_ja"].as_str().unwrap().contains("15分"), "{}", r.body);
    // An unknown login ID is locked out the same way (nothing tells them apart).
    let mut u = Client::new(&fx);
    for delay in [1u64, 3, 5, 10, 0] {
        u.post("/api/v1/session", json!({"login_id": "ghost", "password": "x-wrong"})).await;
        fx.advance(Duration::from_secs(delay));
    }
    let ghost = u.post("/api/v1/session", json!({"login_id": "ghost", "password": "x-wrong"})).await;
    assert_eq!(ghost.body["error"]["code"], "locked_out");
    // The lock lifts after the window.
    fx.advance(Duration::from_secs(15 * 60));
    login(&fx, &nurse).await;
}

#[tokio::test]
async fn an_idle_session_is_locked_by_the_server_until_unlocked() {
    let fx = fixture_with("idle", |c| c.session.idle_lock.0 = Duration::from_secs(30)).await;
    let nurse = account(&fx, "hanako", true, false).await;
    let mut c = login(&fx, &nurse).await;
    fx.advance(Duration::from_secs(29));
    assert_eq!(c.get("/api/v1/me").await.status, StatusCode::OK, "activity resets the idle timer");
    fx.advance(Duration::from_secs(29));
    assert_eq!(c.get("/api/v1/me").await.status, StatusCode::OK);
    fx.advance(Duration::from_secs(30));
    let r = c.get("/api/v1/me").await;
    assert_eq!(r.status, StatusCode::LOCKED);
    assert_eq!(r.body["error"]["code"], "session_locked");
    assert!(r.body.get("login_id").is_none());
    // Still locked however long one waits, and a wrong unlock does not open it.
    fx.advance(Duration::from_secs(5));
    assert_eq!(c.get("/api/v1/me").await.status, StatusCode::LOCKED);
    let code = fx.code(nurse.totp.as_ref().unwrap());
    let r = c.post("/api/v1/session/unlock", json!({"password": "wrong-password", "code": code})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    fx.advance(Duration::from_secs(31));
    let code = fx.code(nurse.totp.as_ref().unwrap());
    let r = c.post("/api/v1/session/unlock", json!({"password": PASSWORD, "code": code})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(c.get("/api/v1/me").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_session_ends_after_its_absolute_lifetime_and_pre_auth_after_five_minutes() {
    let fx = fixture("lifetime").await;
    let nurse = account(&fx, "hanako", true, false).await;
    let mut c = login(&fx, &nurse).await;
    for _ in 0..12 {
        fx.advance(Duration::from_secs(9 * 60));
        assert_eq!(c.get("/api/v1/me").await.status, StatusCode::OK);
        fx.advance(Duration::from_secs(51 * 60));
        c.get("/api/v1/me").await; // locked after 10 idle minutes: does not extend anything
        let code = fx.code(nurse.totp.as_ref().unwrap());
        c.post("/api/v1/session/unlock", json!({"password": PASSWORD, "code": code})).await;
    }
    assert_eq!(c.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED, "12 h later the session is gone");

    let mut p = Client::new(&fx);
    p.post("/api/v1/session", json!({"login_id": "hanako", "password": PASSWORD})).await;
    fx.advance(Duration::from_secs(5 * 60));
    let code = fx.code(nurse.totp.as_ref().unwrap());
    assert_eq!(p.post("/api/v1/session/totp", json!({ "code": code })).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_new_user_enrolls_totp_and_gets_single_use_recovery_codes() {
    let fx = fixture("enroll").await;
    let new = account(&fx, "taro", false, false).await;
    let mut c = Client::new(&fx);
    let r = c.post("/api/v1/session", json!({"login_id": "taro", "password": PASSWORD})).await;
    assert_eq!(r.body["next"], "enroll");
    assert_eq!(c.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
    // The TOTP step is not available before enrollment.
    assert_eq!(c.post("/api/v1/session/totp", json!({"code": "123456"})).await.status, StatusCode::UNAUTHORIZED);
    fx.advance(Duration::from_secs(1));
    let r = c.post("/api/v1/session/enroll/totp", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let secret_b32 = r.body["secret_base32"].as_str().unwrap();
    assert!(r.body["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/mamori:taro?secret="));
    assert!(r.body["qr_svg"].as_str().unwrap().contains("<svg"));
    let stored = fx.state.store.totp(fx.institution, new.id).await.unwrap().unwrap();
    assert!(!stored.confirmed);
    let secret = TotpSecret::from_bytes(&stored.secret);
    assert_eq!(secret.to_base32(), secret_b32);
    let r = c.post("/api/v1/session/enroll/totp/confirm", json!({ "code": fx.code(&secret) })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let codes: Vec<String> =
        r.body["recovery_codes"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(c.get("/api/v1/me").await.status, StatusCode::OK);
    assert_eq!(fx.state.store.unused_recovery_codes(fx.institution, new.id).await.unwrap(), 10);

    // A recovery code replaces the device once.
    let mut d = Client::new(&fx);
    assert_eq!(d.post("/api/v1/session", json!({"login_id": "taro", "password": PASSWORD})).await.body["next"], "totp");
    let r = d.post("/api/v1/session/recovery", json!({ "code": codes[0].to_uppercase() })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut e = Client::new(&fx);
    e.post("/api/v1/session", json!({"login_id": "taro", "password": PASSWORD})).await;
    assert_eq!(e.post("/api/v1/session/recovery", json!({ "code": codes[0] })).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(fx.state.store.unused_recovery_codes(fx.institution, new.id).await.unwrap(), 9);
}

#[tokio::test]
async fn a_one_time_password_must_be_replaced_by_a_strong_one() {
    let fx = fixture("password").await;
    let admin = account(&fx, "kanri", true, true).await;
    let mut c = Client::new(&fx);
    let r = c.post("/api/v1/session", json!({"login_id": "kanri", "password": PASSWORD})).await;
    assert_eq!(r.body["password_change_required"], true);
    let code = fx.code(admin.totp.as_ref().unwrap());
    c.post("/api/v1/session/totp", json!({ "code": code })).await;
    assert_eq!(c.get("/api/v1/me").await.body["password_change_required"], true);

    let weak =
        c.post("/api/v1/me/password", json!({"current_password": PASSWORD, "new_password": "password1234"})).await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.body["error"]["message_ja"].as_str().unwrap().contains("推測"), "{}", weak.body);
    let short = c.post("/api/v1/me/password", json!({"current_password": PASSWORD, "new_password": "short"})).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    let personal = c
        .post("/api/v1/me/password", json!({"current_password": PASSWORD, "new_password": "kanri-no-himitsu-2026"}))
        .await;
    assert_eq!(personal.status, StatusCode::BAD_REQUEST);
    let wrong = c
        .post(
            "/api/v1/me/password",
            json!({"current_password": "not-it-at-all", "new_password": "natsu-no-yoru-hoshi-ga-kirei"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    fx.advance(Duration::from_secs(2));
    let ok = c
        .post(
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "natsu-no-yoru-hoshi-ga-kirei"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.body);
    assert_eq!(c.get("/api/v1/me").await.body["password_change_required"], false);

    let mut d = Client::new(&fx);
    assert_eq!(
        d.post("/api/v1/session", json!({"login_id": "kanri", "password": PASSWORD})).await.status,
        StatusCode::UNAUTHORIZED
    );
    fx.advance(Duration::from_secs(2));
    let r = d.post("/api/v1/session", json!({"login_id": "kanri", "password": "natsu-no-yoru-hoshi-ga-kirei"})).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_ends_the_session_and_bad_input_is_refused_clearly() {
    let fx = fixture("logout").await;
    let nurse = account(&fx, "hanako", true, false).await;
    let mut c = login(&fx, &nurse).await;
    let r = c.send("DELETE", "/api/v1/session", None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(c.cookie.is_none());
    assert_eq!(c.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);

    let mut b = Client::new(&fx);
    let long = b.post("/api/v1/session", json!({"login_id": "a".repeat(65), "password": "x"})).await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert!(long.body["error"]["message_en"].as_str().unwrap().contains("login_id"));
    let missing = b.post("/api/v1/session", json!({"login_id": "hanako"})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.body["error"]["code"], "invalid_input");
    let extra = b.post("/api/v1/session", json!({"login_id": "hanako", "password": PASSWORD, "admin": true})).await;
    assert_eq!(extra.status, StatusCode::BAD_REQUEST);
    // None of these counted as a failed attempt or opened anything.
    assert!(fx.state.store.throttle("hanako").await.unwrap().is_none());
    assert!(b.cookie.is_none());
}
