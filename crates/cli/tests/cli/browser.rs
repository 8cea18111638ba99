//! A small WebDriver client for real-Chromium tests: chromedriver on a loopback port, headless
//! Chromium with every background network feature off. Runs when `MAMORI_TEST_CHROMEDRIVER`
//! (and optionally `MAMORI_TEST_CHROMIUM`) are set, as `.ci/run` does.

use serde_json::{Value, json};
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    profile: std::path::PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session, or says why it skipped.
    pub async fn start(test: &str) -> Option<Self> {
        let Ok(driver_path) = std::env::var("MAMORI_TEST_CHROMEDRIVER") else {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: MAMORI_TEST_CHROMEDRIVER is not set (.ci/run installs Chromium and sets it)"
            );
            return None;
        };
        let chromium = std::env::var("MAMORI_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(driver_path)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".to_owned()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = super::harness::http_client();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("mamori-chromium-{}-{port}", std::process::id()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display())
                ]
            }
        }}});
        let created: Value =
            http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session =
            created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_owned();
        Some(Self { driver, base, session, http, profile })
    }

    async fn try_call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        if v["value"].get("error").is_some() { Err(v) } else { Ok(v["value"].clone()) }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        match self.try_call(method, path, body).await {
            Ok(v) => v,
            Err(v) => panic!("WebDriver {path}: {v}"),
        }
    }

    /// The text of the first element matching `css`, or None while the page is changing (no
    /// such element yet, or it went stale).
    async fn try_text(&self, css: &str) -> Option<String> {
        let found = self
            .try_call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
            .await
            .ok()?;
        let id = found[ELEMENT_KEY].as_str()?.to_owned();
        let text = self.try_call(reqwest::Method::GET, &format!("/element/{id}/text"), None).await.ok()?;
        text.as_str().map(str::to_owned)
    }

    /// Opens a URL.
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    /// The page title.
    pub async fn title(&self) -> String {
        self.call(reqwest::Method::GET, "/title", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The visible text of the first element matching a CSS selector (retried for up to 10 s
    /// while the page is still changing).
    pub async fn text(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(text) = self.try_text(css).await {
                return text;
            }
            assert!(Instant::now() < deadline, "no element {css}: {}", self.source().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the first element matching a CSS selector (retried while the page changes).
    pub async fn click(&self, css: &str) {
        self.retry(css, |id| (format!("/element/{id}/click"), json!({}))).await;
    }

    /// Types `text` into the first element matching a CSS selector (retried while the page
    /// changes).
    pub async fn type_into(&self, css: &str, text: &str) {
        self.retry(css, |id| (format!("/element/{id}/clear"), json!({}))).await;
        self.retry(css, |id| (format!("/element/{id}/value"), json!({ "text": text }))).await;
    }

    /// Chooses a local file in the file input matching a CSS selector.
    pub async fn choose_file(&self, css: &str, path: &std::path::Path) {
        let path = path.to_str().unwrap().to_owned();
        self.retry(css, |id| (format!("/element/{id}/value"), json!({ "text": path }))).await;
    }

    /// Fetches a same-origin URL from the page (with the page's cookies) and returns the status,
    /// the `Content-Type` and the body's bytes.
    pub async fn fetch(&self, url: &str) -> (u16, String, Vec<u8>) {
        let script = format!(
            "return fetch({url:?}, {{credentials: 'same-origin'}}).then(r => r.arrayBuffer().then(b => \
             [r.status, r.headers.get('content-type') || '', Array.from(new Uint8Array(b))]));"
        );
        let v = self.execute(&script).await;
        let bytes = v[2].as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u8).collect();
        (v[0].as_u64().unwrap() as u16, v[1].as_str().unwrap().to_owned(), bytes)
    }

    async fn retry(&self, css: &str, action: impl Fn(&str) -> (String, Value)) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .try_call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
                .await;
            if let Ok(found) = found
                && let Some(id) = found[ELEMENT_KEY].as_str()
            {
                let (path, body) = action(id);
                if self.try_call(reqwest::Method::POST, &path, Some(body)).await.is_ok() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "cannot act on {css}: {}", self.source().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page's HTML as the browser has it.
    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// Runs a script in the page (WebDriver "execute script") and returns its value; used
    /// where typing is locale-dependent (a date input).
    pub async fn execute(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": [] }))).await
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// Adds a virtual CTAP2 authenticator with user verification (a security key with a PIN
    /// that the "user" always enters correctly).
    pub async fn add_virtual_authenticator(&self) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/webauthn/authenticator",
                Some(json!({
                    "protocol": "ctap2",
                    "transport": "usb",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserVerified": true
                })),
            )
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The credentials the virtual authenticator holds.
    pub async fn virtual_credentials(&self, authenticator: &str) -> Vec<Value> {
        let v = self
            .call(reqwest::Method::GET, &format!("/webauthn/authenticator/{authenticator}/credentials"), None)
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Waits (up to 10 s) until the first element matching `css` contains `needle`, and returns
    /// its text (the last one seen, when it never does).
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = String::new();
        loop {
            if let Some(text) = self.try_text(css).await {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
            if Instant::now() > deadline {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to 10 s) until the URL ends with `suffix`.
    pub async fn wait_for_url(&self, suffix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.url().await;
            if url.ends_with(suffix) || Instant::now() > deadline {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG screenshot of the viewport.
    pub async fn screenshot_png(&self) -> Vec<u8> {
        use base64::Engine as _;
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap_or_default()).unwrap()
    }

    /// Ends the session and the driver.
    pub async fn quit(mut self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
