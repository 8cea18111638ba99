//! The login pages in process: CSRF-protected forms, the same steps as the API, the lock
//! screen that hides everything, Japanese first.

use super::session::{PASSWORD, account};
use super::{Fixture, fixture, fixture_with};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::collections::BTreeMap;
use std::time::Duration;
use tower::ServiceExt as _;

/// A browser-like client with a cookie jar.
struct Browser<'a> {
    fx: &'a Fixture,
    jar: BTreeMap<String, String>,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    html: String,
}

impl Page {
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.html.find(marker).map(|i| i + marker.len()).expect("a form with a CSRF field");
        self.html[start..].split('"').next().unwrap_or_default().to_owned()
    }
}

impl<'a> Browser<'a> {
    fn new(fx: &'a Fixture) -> Self {
        Self { fx, jar: BTreeMap::new() }
    }

    async fn request(&mut self, method: &str, uri: &str, form: Option<&[(&str, &str)]>) -> Page {
        let mut req = Request::builder().method(method).uri(uri);
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", cookies.join("; "));
        }
        let req = match form {
            Some(fields) => {
                let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect();
                req.header("content-type", "application/x-www-form-urlencoded").body(Body::from(body.join("&")))
            }
            None => req.body(Body::empty()),
        }
        .unwrap();
        let response = mamori_server::app(self.fx.state.clone()).oneshot(req).await.unwrap();
        let status = response.status();
        for set in response.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() {
                    self.jar.remove(k);
                } else {
                    self.jar.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Page { status, location, html: String::from_utf8_lossy(&bytes).into_owned() }
    }

    async fn get(&mut self, uri: &str) -> Page {
        self.request("GET", uri, None).await
    }

    async fn post(&mut self, uri: &str, form: &[(&str, &str)]) -> Page {
        self.request("POST", uri, Some(form)).await
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn a_user_logs_in_through_the_pages_and_the_idle_lock_hides_everything() {
    let fx = fixture_with("pages-login", |c| c.session.idle_lock.0 = Duration::from_secs(60)).await;
    let nurse = account(&fx, "hanako", true, false).await;
    let mut b = Browser::new(&fx);
    let form = b.get("/login").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.html.contains("<html lang=\"ja\">") && form.html.contains("ログインID"), "{}", form.html);
    let csrf = form.csrf();
    assert!(b.jar.contains_key("__Host-mamori_csrf"));

    let step = b.post("/login", &[("csrf", &csrf), ("login_id", "hanako"), ("password", PASSWORD)]).await;
    assert_eq!(step.status, StatusCode::SEE_OTHER);
    assert_eq!(step.location.as_deref(), Some("/login/code"));
    let code_form = b.get("/login/code").await;
    let code = fx.code(nurse.totp.as_ref().unwrap());
    let done = b.post("/login/code", &[("csrf", &code_form.csrf()), ("code", &code)]).await;
    assert_eq!(done.location.as_deref(), Some("/"));
    let home = b.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.html.contains("山田 花子 さん") && home.html.contains("今回が初めてのログインです"), "{}", home.html);

    fx.advance(Duration::from_secs(60));
    let locked = b.get("/").await;
    assert_eq!(locked.status, StatusCode::LOCKED);
    assert!(locked.html.contains("画面をロックしました"), "{}", locked.html);
    assert!(
        !locked.html.contains("山田") && !locked.html.contains("hanako"),
        "the lock screen shows nothing: {}",
        locked.html
    );
    assert_eq!(b.get("/password").await.status, StatusCode::LOCKED);

    let wrong = b.post("/unlock", &[("csrf", &locked.csrf()), ("password", "nope-nope"), ("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("正しくありません"), "{}", wrong.html);
    fx.advance(Duration::from_secs(31));
    let code = fx.code(nurse.totp.as_ref().unwrap());
    let unlocked = b.post("/unlock", &[("csrf", &locked.csrf()), ("password", PASSWORD), ("code", &code)]).await;
    assert_eq!(unlocked.location.as_deref(), Some("/"));
    assert_eq!(b.get("/").await.status, StatusCode::OK);

    let out = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location.as_deref(), Some("/login"));
    assert!(!b.jar.contains_key("__Host-mamori_session"));
}

#[tokio::test]
async fn forms_without_their_csrf_token_change_nothing() {
    let fx = fixture("pages-csrf").await;
    account(&fx, "hanako", true, false).await;
    let mut b = Browser::new(&fx);
    let form = b.get("/login").await;
    for csrf in ["", "forged-token-value"] {
        let r = b.post("/login", &[("csrf", csrf), ("login_id", "hanako"), ("password", PASSWORD)]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.html.contains("フォームを受け付けられません"), "{}", r.html);
    }
    // Without the cookie the right token is refused too (another site cannot read it).
    let mut other = Browser::new(&fx);
    let r = other.post("/login", &[("csrf", &form.csrf()), ("login_id", "hanako"), ("password", PASSWORD)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!b.jar.contains_key("__Host-mamori_session") && !other.jar.contains_key("__Host-mamori_session"));
    assert!(fx.state.store.throttle("hanako").await.unwrap().is_none(), "nothing was even checked");
}

#[tokio::test]
async fn a_wrong_password_re_renders_the_form_with_one_generic_message() {
    let fx = fixture("pages-wrong").await;
    account(&fx, "hanako", true, false).await;
    let mut b = Browser::new(&fx);
    let form = b.get("/login").await;
    let r = b.post("/login", &[("csrf", &form.csrf()), ("login_id", "hanako"), ("password", "not-it")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.html.contains("ログインID、パスワードまたは確認コードが正しくありません。"), "{}", r.html);
    assert!(r.html.contains("name=\"login_id\""));
    let en = b.get("/login?lang=en").await;
    fx.advance(Duration::from_secs(2));
    let r = b.post("/login", &[("csrf", &en.csrf()), ("login_id", "nobody"), ("password", "x")]).await;
    assert!(r.html.contains("the login ID, password or code is not correct"), "{}", r.html);
}

#[tokio::test]
async fn a_new_user_enrolls_on_the_page_and_sees_recovery_codes_once() {
    let fx = fixture("pages-enroll").await;
    let new = account(&fx, "taro", false, false).await;
    let mut b = Browser::new(&fx);
    let form = b.get("/login").await;
    let r = b.post("/login", &[("csrf", &form.csrf()), ("login_id", "taro"), ("password", PASSWORD)]).await;
    assert_eq!(r.location.as_deref(), Some("/enroll"));
    let page = b.get("/enroll").await;
    assert!(page.html.contains("<svg") && page.html.contains("id=\"secret\""), "{}", page.html);
    let secret_b32 = page.html.split("<code id=\"secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let secret = mamori_crypto::TotpSecret::from_base32(&secret_b32).unwrap();
    let done = b.post("/enroll", &[("csrf", &page.csrf()), ("code", &fx.code(&secret))]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.html);
    assert_eq!(done.html.matches("<li><code>").count(), 10, "{}", done.html);
    assert_eq!(fx.state.store.unused_recovery_codes(fx.institution, new.id).await.unwrap(), 10);
    assert_eq!(b.get("/").await.status, StatusCode::OK);
}

/// Logs `who` in through the pages.
async fn page_login<'a>(fx: &'a Fixture, who: &super::session::Account) -> Browser<'a> {
    let mut b = Browser::new(fx);
    let form = b.get("/login").await;
    let step = b.post("/login", &[("csrf", &form.csrf()), ("login_id", who.login), ("password", PASSWORD)]).await;
    assert_eq!(step.location.as_deref(), Some("/login/code"), "{}", step.html);
    let code_form = b.get("/login/code").await;
    let code = fx.code(who.totp.as_ref().unwrap());
    let done = b.post("/login/code", &[("csrf", &code_form.csrf()), ("code", &code)]).await;
    assert_eq!(done.location.as_deref(), Some("/"), "{}", done.html);
    b
}

#[tokio::test]
async fn an_administrator_manages_accounts_on_the_page() {
    use mamori_core::{JobType, Role};
    let fx = fixture("pages-admin").await;
    let boss = super::session::account_with(
        &fx,
        fx.institution,
        "kanri",
        JobType::Manager,
        &[Role::SystemAdministrator],
        true,
        false,
    )
    .await;
    let nurse = account(&fx, "hanako", true, false).await;
    let mut b = page_login(&fx, &boss).await;
    let home = b.get("/").await;
    assert!(home.html.contains("id=\"admin-users-link\""), "{}", home.html);
    let page = b.get("/admin/users").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("data-login=\"hanako\"") && page.html.contains("ID台帳をCSVで保存"), "{}", page.html);

    // Create an account with two roles: the one-time password is shown once.
    let csrf = page.csrf();
    let created = b
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("login_id", "suzuki"),
                ("display_name", "鈴木 一郎"),
                ("job_type", "doctor"),
                ("roles", "doctor"),
                ("roles", "nurse"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.html);
    assert!(created.html.contains("id=\"one-time-password\""), "{}", created.html);
    let user = fx.state.store.find_login(&mamori_core::LoginId::parse("suzuki").unwrap()).await.unwrap().unwrap();
    assert_eq!(user.roles, vec![Role::Doctor, Role::Nurse]);
    assert!(user.password_change_required);
    // The review flags a role outside the job type's policy.
    assert!(created.html.contains("role_not_for_job_type:nurse"), "{}", created.html);
    // Refused: a login ID used before, and a form without its token. Nothing changes.
    let again = b
        .post("/admin/users", &[("csrf", &csrf), ("login_id", "suzuki"), ("display_name", "x"), ("job_type", "doctor")])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.html.contains("再利用できません"), "{}", again.html);
    let forged = b
        .post(
            "/admin/users",
            &[("csrf", "forged"), ("login_id", "other"), ("display_name", "x"), ("job_type", "doctor")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(fx.state.store.find_login(&mamori_core::LoginId::parse("other").unwrap()).await.unwrap().is_none());

    // Disable the nurse: her sessions end.
    let mut n = page_login(&fx, &nurse).await;
    assert_eq!(n.get("/").await.status, StatusCode::OK);
    let done = b.post("/admin/users/status", &[("csrf", &csrf), ("login_id", "hanako"), ("status", "disabled")]).await;
    assert_eq!(done.location.as_deref(), Some("/admin/users"));
    assert_eq!(n.get("/").await.location, None, "signed out: the start page, not home");
    assert!(!n.get("/").await.html.contains("山田 花子 さん"));
    // One's own account cannot be changed from the page either.
    let own = b.post("/admin/users/status", &[("csrf", &csrf), ("login_id", "kanri"), ("status", "disabled")]).await;
    assert_eq!(own.status, StatusCode::FORBIDDEN);
    assert!(own.html.contains("自分自身"), "{}", own.html);

    // A nurse has no administration page.
    fx.advance(Duration::from_secs(31));
    let other = account(&fx, "kango2", true, false).await;
    let mut n2 = page_login(&fx, &other).await;
    let refused = n2.get("/admin/users").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!refused.html.contains("hanako"));
}

#[tokio::test]
async fn a_nurse_activates_a_sealed_account_on_the_page() {
    let fx = fixture("pages-sealed").await;
    let nurse = account(&fx, "hanako", true, false).await;
    let kinkyu = super::session::account_with(
        &fx,
        fx.institution,
        "kinkyu1",
        mamori_core::JobType::Doctor,
        &[mamori_core::Role::Doctor],
        true,
        false,
    )
    .await;
    let sealed = mamori_core::sealed::SealedAccount {
        institution: fx.institution,
        user: kinkyu.id,
        generation: 1,
        sealed_at: fx.clock_now(),
    };
    fx.state.store.seal_account(&sealed).await.unwrap();
    let mut b = page_login(&fx, &nurse).await;
    let page = b.get("/emergency-accounts").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("data-login=\"kinkyu1\"") && page.html.contains("有効化を承認する"), "{}", page.html);
    fx.advance(Duration::from_secs(30));
    let code = fx.code(nurse.totp.as_ref().unwrap());
    let done = b
        .post(
            "/emergency-accounts/activate",
            &[
                ("csrf", &page.csrf()),
                ("login_id", "kinkyu1"),
                ("used_by", "田中 一郎"),
                ("reason", "認証サーバー障害"),
                ("password", PASSWORD),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.html);
    assert!(done.html.contains("使用中（使用者: 田中 一郎、承認: hanako"), "{}", done.html);
    // The envelope now logs in, and the banner names the user.
    let mut k = page_login(&fx, &kinkyu).await;
    assert!(k.get("/").await.html.contains("緊急用アカウントで使用中（使用者: 田中 一郎"));
}

#[tokio::test]
async fn the_auditor_searches_the_trail_on_the_page() {
    use mamori_core::{JobType, Role};
    let fx = fixture("pages-audit").await;
    let auditor =
        super::session::account_with(&fx, fx.institution, "kansa", JobType::Auditor, &[Role::Auditor], true, false)
            .await;
    let nurse = account(&fx, "hanako", true, false).await;
    let mut n = page_login(&fx, &nurse).await;
    let refused = n.get("/audit").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.html.contains("監査証跡を閲覧する権限がありません"), "{}", refused.html);
    fx.advance(Duration::from_secs(31));
    let mut a = page_login(&fx, &auditor).await;
    assert!(a.get("/").await.html.contains("id=\"audit-link\""));
    let page = a.get("/audit?user=hanako").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    // The nurse's refused look at the trail, her login, and her password step.
    for action in ["<td>audit.read</td><td class=\"denied\">", "<td>login</td>", "<td>login.password</td>"] {
        assert!(page.html.contains(action), "{action}: {}", page.html);
    }
    assert!(page.html.contains("FHIR (NDJSON)") && page.html.contains("user=hanako"), "{}", page.html);
    // Japan time in the form reads as Japan time.
    let later = a.get("/audit?user=hanako&from=2026-11-25T19%3A00").await;
    assert!(later.html.contains("該当する記録はありません"), "{}", later.html);
    let bad = a.get("/audit?outcome=maybe").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.html.contains("outcome の形式が正しくありません"), "{}", bad.html);
}

#[tokio::test]
async fn reception_registers_and_finds_a_patient_on_the_pages() {
    use mamori_core::{JobType, Role};
    let fx = fixture("pages-patients").await;
    let clerk =
        super::session::account_with(&fx, fx.institution, "uketsuke", JobType::Clerk, &[Role::Clerk], true, false)
            .await;
    let mut b = page_login(&fx, &clerk).await;
    assert!(b.get("/").await.html.contains("id=\"patients-link\""));
    let page = b.get("/patients").await;
    assert_eq!(page.status, StatusCode::OK);
    let form = [
        ("csrf", page.csrf()),
        ("number", "2001".to_owned()),
        ("family", "林".to_owned()),
        ("given", "一".to_owned()),
        ("family_kana", "はやし".to_owned()),
        ("given_kana", "はじめ".to_owned()),
        ("birth_date", "1962-07-15".to_owned()),
        ("sex", "male".to_owned()),
        ("phone", String::new()),
        ("address", String::new()),
    ];
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let created = b.post("/patients", &fields).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.html);
    assert!(created.html.contains("2001（林 一）を登録しました。"), "{}", created.html);
    assert!(created.html.contains("ハヤシ ハジメ"), "{}", created.html);
    // A one-character kana search finds the two-character name; the detail page shows the history.
    let found = b.get("/patients?q=%E3%81%AF%E3%82%84%E3%81%97").await; // はやし
    let id = found.html.split("data-id=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let detail = b.get(&format!("/patients/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.html);
    assert!(detail.html.contains("林 一（ハヤシ ハジメ）") && detail.html.contains("新規登録"), "{}", detail.html);
    // The same number again is refused on the page; nothing new is registered.
    let again = b.post("/patients", &fields).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.html.contains("この患者番号は使われています"), "{}", again.html);
}
