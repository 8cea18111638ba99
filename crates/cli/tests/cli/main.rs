//! End-to-end tests of the `mamori` binary: init, serve, TLS, refusals.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod browser;
mod harness;

use harness::{TempDir, Versions, http_client, https_client, init_json, mamori, run, stderr};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn listing(dir: &std::path::Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            (e.file_name().to_string_lossy().into_owned(), m.len(), m.modified().unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn help_and_version_describe_every_subcommand() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["init", "serve", "config", "terminal", "emergency", "--log-format"] {
        assert!(text.contains(word), "--help lacks {word}: {text}");
    }
    let out = run(&["--version"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("mamori {}", env!("CARGO_PKG_VERSION")));
    for sub in ["init", "serve", "config"] {
        let out = run(&[sub, "--help"]);
        assert!(out.status.success(), "{sub} --help");
        assert!(String::from_utf8_lossy(&out.stdout).contains("--data"), "{sub} --help names --data");
    }
}

#[test]
fn init_creates_a_private_data_dir_and_reports_the_first_administrator() {
    let tmp = TempDir::new("init");
    let dir = tmp.data();
    let report = init_json(&dir, &["--institution", "まもり内科クリニック"]);
    for key in
        ["institution_id", "admin_login_id", "admin_password", "url", "tls_certificate_sha256", "checkpoint_key_id"]
    {
        assert!(report[key].as_str().is_some_and(|s| !s.is_empty()), "{key} missing in {report}");
    }
    assert_eq!(report["admin_login_id"], "admin");
    assert_eq!(report["institution_name"], "まもり内科クリニック");
    assert_eq!(report["url"], "https://localhost:8443/");
    assert_eq!(report["database"], "sqlite");
    assert_eq!(report["admin_password_change_required"], true);
    assert!(report["admin_password"].as_str().unwrap().len() >= 20);

    assert_eq!(mode(&dir), 0o700, "data dir mode");
    for file in ["mamori.toml", "tls/cert.pem", "tls/key.pem", "keys/checkpoint-ed25519.pem"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file} mode");
    }
    assert!(dir.join("mamori.db").is_file());
    // No staging directory is left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(tmp.root()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("data")]);
    // The password is not in the configuration, nor anywhere on disk in the clear.
    let config = std::fs::read_to_string(dir.join("mamori.toml")).unwrap();
    assert!(!config.contains(report["admin_password"].as_str().unwrap()));
}

fn totp_now(secret_b32: &str) -> String {
    let secret = mamori_crypto::TotpSecret::from_base32(secret_b32).expect("base32 secret");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    secret.code_at(now)
}

#[test]
fn the_first_administrator_logs_in_with_two_factors_and_replaces_the_one_time_password() {
    let tmp = TempDir::new("admin-login");
    let dir = tmp.data();
    let report = init_json(&dir, &[]);
    assert!(report["admin_otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/mamori:admin?secret="));
    let server = harness::Server::start(&dir, &[], &[]);
    let client = https_client(&dir);
    rt().block_on(async {
        let url = |p: &str| format!("{}{p}", server.url);
        let step: serde_json::Value = client
            .post(url("api/v1/session"))
            .json(&serde_json::json!({"login_id": "admin", "password": report["admin_password"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(step, serde_json::json!({"next": "totp", "password_change_required": true}));
        assert_eq!(client.get(url("api/v1/me")).send().await.unwrap().status(), 401);
        let code = totp_now(report["admin_totp_secret"].as_str().unwrap());
        let r = client.post(url("api/v1/session/totp")).json(&serde_json::json!({ "code": code })).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let me: serde_json::Value = client.get(url("api/v1/me")).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["login_id"], "admin");
        assert_eq!(me["roles"], serde_json::json!(["system_admin"]));
        assert_eq!(me["password_change_required"], true);
        let r = client
            .post(url("api/v1/me/password"))
            .json(&serde_json::json!({"current_password": report["admin_password"], "new_password": "haru-no-hi-ni-sakura-ga-saku"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let me: serde_json::Value = client.get(url("api/v1/me")).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["password_change_required"], false);
        assert_eq!(client.delete(url("api/v1/session")).send().await.unwrap().status(), 204);
        assert_eq!(client.get(url("api/v1/me")).send().await.unwrap().status(), 401);
    });
}

#[test]
fn init_refuses_an_existing_data_dir_with_exit_2_and_changes_nothing() {
    let tmp = TempDir::new("init-existing");
    let dir = tmp.data();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::File::create(dir.join("notes.txt")).unwrap().write_all(b"keep me").unwrap();
    let before = listing(&dir);
    let out = run(&["init", "--data", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("既に存在します") && err.contains("already exists"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_eq!(listing(&dir), before);
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "keep me");

    // A second init over a real installation is refused the same way.
    let tmp2 = TempDir::new("init-twice");
    let first = init_json(&tmp2.data(), &[]);
    let before = listing(&tmp2.data());
    let out = run(&["init", "--data", tmp2.data().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(listing(&tmp2.data()), before);
    assert!(first["institution_id"].is_string());
}

#[test]
fn init_refuses_bad_input_and_leaves_nothing_behind() {
    let tmp = TempDir::new("init-bad");
    let dir = tmp.data();
    let cases: &[(&[&str], &str)] =
        &[(&["--institution", "   "], "institution"), (&["--database", "mysql://db/x"], "database.url")];
    for (extra, needle) in cases {
        let mut args = vec!["init", "--data", dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(stderr(&out).contains(needle), "{extra:?}: {}", stderr(&out));
        assert!(!dir.exists(), "{extra:?} left a directory");
        assert_eq!(std::fs::read_dir(tmp.root()).unwrap().count(), 0, "{extra:?} left a staging directory");
    }
}

#[test]
fn init_with_an_unreachable_postgres_fails_clearly_and_leaves_nothing() {
    let tmp = TempDir::new("init-pg-down");
    let dir = tmp.data();
    // Port 1 on loopback: nothing listens there.
    let out = run(&[
        "init",
        "--data",
        dir.to_str().unwrap(),
        "--database",
        "postgres://mamori:hunter2-secret@127.0.0.1:1/mamori",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("postgres"), "{err}");
    assert!(!err.contains("hunter2-secret"), "the password leaked: {err}");
    assert!(!dir.exists());
    assert_eq!(std::fs::read_dir(tmp.root()).unwrap().count(), 0);
}

#[test]
fn serve_answers_over_https_and_stops_gracefully_on_sigterm() {
    let tmp = TempDir::new("serve");
    let dir = tmp.data();
    init_json(&dir, &[]);
    let server = harness::Server::start(&dir, &[], &[]);
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let client = https_client(&dir);
    rt().block_on(async {
        let health = client.get(format!("{}healthz", server.url)).send().await.unwrap();
        assert_eq!(health.status(), 200);
        assert!(health.headers().get("strict-transport-security").is_some());
        let body: serde_json::Value = health.json().await.unwrap();
        assert_eq!(body["status"], "ok");

        let ready = client.get(format!("{}readyz", server.url)).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        let body: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(body["database"], "ok");
        assert_eq!(body["backend"], "sqlite");
        assert_eq!(body["keys"], "loaded");

        let page = client.get(&server.url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("lang=\"ja\"") && html.contains("ようこそ") && html.contains("まもり診療所"), "{html}");

        let metrics = client.get(format!("{}metrics", server.url)).send().await.unwrap().text().await.unwrap();
        assert!(
            metrics.contains("mamori_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"),
            "{metrics}"
        );

        let spec: serde_json::Value =
            client.get(format!("{}api/v1/openapi.json", server.url)).send().await.unwrap().json().await.unwrap();
        assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"), "{spec}");
    });
    let (status, log) = server.terminate();
    assert!(status.success(), "exit {status:?}: {log}");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("mamori stopped"), "{log}");
    // The start and the stop are events; the checkpoint written at shutdown covers them
    // (institution.create, user.create, master.import of the sample master, server.start,
    // server.stop), and the log verifies.
    let report: serde_json::Value =
        serde_json::from_slice(&run(&["checkpoint", "--data", dir.to_str().unwrap(), "--json"]).stdout).unwrap();
    assert_eq!(report["size"], 5, "{report}");
    let institution = std::fs::read_dir(dir.join("checkpoints")).unwrap().next().unwrap().unwrap().path();
    assert!(institution.join("00000000000000000005.txt").exists(), "the shutdown checkpoint");
    assert!(run(&["verify", "--data", dir.to_str().unwrap()]).status.success());
}

#[test]
fn serve_initializes_a_missing_data_dir_first_so_quick_start_is_one_command() {
    let tmp = TempDir::new("quick-start");
    let dir = tmp.data();
    let server = harness::Server::start(&dir, &[], &[]);
    let stdout = server.stdout.lock().unwrap().clone();
    assert!(stdout.contains("admin") && stdout.contains("初回パスワード / one-time password:"), "{stdout}");
    assert_eq!(mode(&dir), 0o700);
    rt().block_on(async {
        let health = https_client(&dir).get(format!("{}healthz", server.url)).send().await.unwrap();
        assert_eq!(health.status(), 200);
    });
    drop(server);
    // The second start uses the existing directory and prints no credentials.
    let server = harness::Server::start(&dir, &[], &[]);
    let stdout = server.stdout.lock().unwrap().clone();
    assert!(!stdout.contains("one-time password"), "{stdout}");
}

#[test]
fn insecure_http_is_refused_off_loopback_and_works_on_loopback() {
    let tmp = TempDir::new("insecure");
    let dir = tmp.data();
    init_json(&dir, &[]);
    let out = run(&["serve", "--data", dir.to_str().unwrap(), "--insecure-http", "--listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("loopback"), "{err}");

    // Via the configuration file too, not only the flag.
    let out = mamori()
        .args(["serve", "--data", dir.to_str().unwrap(), "--insecure-http"])
        .env("MAMORI_LISTEN", "0.0.0.0:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let server = harness::Server::start(&dir, &["--insecure-http"], &[]);
    assert!(server.url.starts_with("http://127.0.0.1:"), "{}", server.url);
    rt().block_on(async {
        let health = http_client().get(format!("{}healthz", server.url)).send().await.unwrap();
        assert_eq!(health.status(), 200);
        assert!(health.headers().get("strict-transport-security").is_none());
    });
}

#[test]
fn serve_refuses_configuration_below_security_minimums() {
    let tmp = TempDir::new("minimums");
    let dir = tmp.data();
    init_json(&dir, &[]);
    // From the environment.
    let out = mamori().args(["serve", "--data", dir.to_str().unwrap()]).env("MAMORI_IDLE_LOCK", "2h").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("session.idle_lock"), "{}", stderr(&out));
    // From the file.
    let config = dir.join("mamori.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("min_length = 12", "min_length = 6")).unwrap();
    let out = run(&["serve", "--data", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("password.min_length") && err.contains("パスワード"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Broken TOML.
    std::fs::write(&config, "[server\nlisten = ").unwrap();
    let out = run(&["serve", "--data", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("mamori.toml"), "{}", stderr(&out));
    // A TLS minimum below 1.2.
    std::fs::write(&config, text.replace("min_version = \"1.2\"", "min_version = \"1.1\"")).unwrap();
    let out = run(&["serve", "--data", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("tls.min_version"), "{}", stderr(&out));
}

#[test]
fn serve_reports_a_bad_listen_address_and_a_port_in_use() {
    let tmp = TempDir::new("listen");
    let dir = tmp.data();
    init_json(&dir, &[]);
    let out = run(&["serve", "--data", dir.to_str().unwrap(), "--listen", "localhost"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--listen"), "{}", stderr(&out));

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["serve", "--data", dir.to_str().unwrap(), "--listen", &addr]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("already in use") && err.contains(&addr), "{err}");
}

#[test]
fn logs_are_json_lines_with_log_format_json() {
    let tmp = TempDir::new("json-logs");
    let dir = tmp.data();
    init_json(&dir, &[]);
    let server = harness::Server::start(&dir, &["--log-format", "json"], &[]);
    rt().block_on(async {
        https_client(&dir).get(format!("{}healthz?patient=secret-query", server.url)).send().await.unwrap();
    });
    let (status, log) = server.terminate();
    assert!(status.success());
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "{log}");
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
    }
    assert!(log.contains("\"route\":\"/healthz\""), "{log}");
    assert!(!log.contains("secret-query"), "query strings must not reach the logs: {log}");
}

#[test]
fn tls_1_1_and_older_are_refused() {
    let tmp = TempDir::new("tls11");
    let dir = tmp.data();
    init_json(&dir, &[]);
    let server = harness::Server::start(&dir, &[], &[]);
    // The control: the same hello saying TLS 1.2 gets a ServerHello.
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.write_all(&client_hello([3, 3])).unwrap();
    let reply = harness::read_all(&mut stream, Duration::from_secs(2));
    assert!(reply.len() > 6 && reply[0] == 0x16 && reply[5] == 2, "TLS 1.2 hello should get a ServerHello: {reply:?}");
    for legacy in [[3u8, 2u8], [3, 1], [3, 0]] {
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        stream.write_all(&client_hello(legacy)).unwrap();
        let reply = harness::read_all(&mut stream, Duration::from_secs(5));
        assert!(reply.len() >= 7, "{legacy:?}: {reply:?}");
        assert_eq!(reply[0], 0x15, "{legacy:?}: expected an alert record, got {reply:?}");
        assert_eq!(reply[5], 2, "fatal");
        assert_eq!(reply[6], 70, "{legacy:?}: expected protocol_version (70), got {reply:?}");
    }
    // TLS 1.2 alone and TLS 1.3 alone both work.
    rt().block_on(async {
        for versions in [Versions::Only12, Versions::Only13] {
            let client = reqwest::Client::builder()
                .use_preconfigured_tls(harness::client_tls(&dir, versions, None))
                .build()
                .unwrap();
            let r = client.get(format!("{}healthz", server.url)).send().await.unwrap();
            assert_eq!(r.status(), 200, "{versions:?}");
        }
    });
}

/// A TLS ClientHello with the given legacy version and no supported_versions extension, as a
/// TLS 1.2 (or older) client sends it. It offers only suites and groups the server supports, so
/// the version is the only thing that can make the server refuse it.
fn client_hello(version: [u8; 2]) -> Vec<u8> {
    fn ext(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
    }
    let mut body = Vec::new();
    body.extend_from_slice(&version);
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // session id
    // ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-RSA-AES128-GCM-SHA256
    let suites = [0xc0u8, 0x2b, 0xc0, 0x2f];
    body.extend_from_slice(&(suites.len() as u16).to_be_bytes());
    body.extend_from_slice(&suites);
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut exts = Vec::new();
    ext(&mut exts, 0x000a, &[0, 4, 0x00, 0x1d, 0x00, 0x17]); // supported_groups: x25519, secp256r1
    ext(&mut exts, 0x000b, &[1, 0]); // ec_point_formats: uncompressed
    ext(&mut exts, 0x000d, &[0, 4, 0x04, 0x03, 0x08, 0x04]); // signature_algorithms
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut handshake = vec![1u8];
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[test]
fn client_certificates_are_required_when_configured() {
    let tmp = TempDir::new("mtls");
    let dir = tmp.data();
    init_json(&dir, &[]);
    // A terminal CA and one registered terminal's certificate.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "clinic terminal CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let term_key = rcgen::KeyPair::generate().unwrap();
    let mut term_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    term_params.distinguished_name.push(rcgen::DnType::CommonName, "reception-pc-1");
    term_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let term = term_params.signed_by(&term_key, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("tls/terminal-ca.pem"), ca.pem()).unwrap();

    let server = harness::Server::start(
        &dir,
        &[],
        &[("MAMORI_TLS_CLIENT_AUTH", "required"), ("MAMORI_TLS_CLIENT_CA", "tls/terminal-ca.pem")],
    );
    rt().block_on(async {
        let anonymous = https_client(&dir).get(format!("{}healthz", server.url)).send().await;
        assert!(anonymous.is_err(), "a client without a certificate was let in");
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(harness::client_tls(
                &dir,
                Versions::Both,
                Some((&term.pem(), &term_key.serialize_pem())),
            ))
            .build()
            .unwrap();
        let r = client.get(format!("{}healthz", server.url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
    });
    drop(server);

    // Required without a CA bundle is refused at start-up.
    let out = mamori()
        .args(["serve", "--data", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .env("MAMORI_TLS_CLIENT_AUTH", "required")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("tls.client_ca"), "{}", stderr(&out));
}

#[test]
fn config_shows_the_effective_settings_with_secrets_redacted() {
    let tmp = TempDir::new("config-show");
    let dir = tmp.data();
    init_json(&dir, &[]);
    let out = mamori()
        .args(["config", "--data", dir.to_str().unwrap()])
        .env("MAMORI_DATABASE_URL", "postgres://mamori:topsecret@db.internal/mamori")
        .env("MAMORI_IDLE_LOCK", "5m")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("topsecret"), "{text}");
    assert!(text.contains("postgres://mamori:***@db.internal/mamori"), "{text}");
    assert!(text.contains("idle_lock = \"5m\""), "{text}");
}

#[test]
fn init_can_use_the_operators_certificate_instead_of_a_self_signed_one() {
    let tmp = TempDir::new("own-cert");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert_file = tmp.root().join("clinic.crt");
    let key_file = tmp.root().join("clinic.key");
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();

    // A key that does not belong to the certificate is refused before anything is written.
    let other_key = tmp.root().join("other.key");
    std::fs::write(&other_key, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let dir = tmp.data();
    let out = run(&[
        "init",
        "--data",
        dir.to_str().unwrap(),
        "--tls-cert",
        cert_file.to_str().unwrap(),
        "--tls-key",
        other_key.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--tls-cert"), "{}", stderr(&out));
    assert!(!dir.exists());
    // --tls-cert alone is a usage error.
    let out = run(&["init", "--data", dir.to_str().unwrap(), "--tls-cert", cert_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.exists());

    let report = init_json(&dir, &["--tls-cert", cert_file.to_str().unwrap(), "--tls-key", key_file.to_str().unwrap()]);
    let expected: String = {
        use sha2::Digest as _;
        sha2::Sha256::digest(cert.der()).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
    };
    assert_eq!(report["tls_certificate_sha256"], expected);
    assert!(!dir.join("tls/cert.pem").exists(), "no self-signed certificate is made");
    let server = harness::Server::start(&dir, &[], &[]);
    rt().block_on(async {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(harness::client_tls_trusting(&cert_file, Versions::Both, None))
            .build()
            .unwrap();
        assert_eq!(client.get(format!("{}healthz", server.url)).send().await.unwrap().status(), 200);
    });
}

#[test]
fn serve_refuses_a_directory_without_configuration_and_an_unreachable_database() {
    let tmp = TempDir::new("no-config");
    let dir = tmp.data();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("something-else.txt"), "not mamori").unwrap();
    let out = run(&["serve", "--data", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("mamori.toml") && err.contains("mamori init"), "{err}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "serve must not initialize a non-empty directory");

    let tmp = TempDir::new("pg-unreachable");
    let dir = tmp.data();
    init_json(&dir, &[]);
    let out = mamori()
        .args(["serve", "--data", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .env("MAMORI_DATABASE_URL", "postgres://mamori:do-not-print-me@127.0.0.1:1/mamori")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("postgres") && !err.contains("do-not-print-me"), "{err}");
}

#[test]
fn ctrl_c_stops_the_server_gracefully_too() {
    let tmp = TempDir::new("sigint");
    let dir = tmp.data();
    init_json(&dir, &[]);
    let mut server = harness::Server::start(&dir, &[], &[]);
    let (status, log) = server.signal("-INT");
    assert!(status.success(), "{status:?}: {log}");
    assert!(log.contains("Ctrl-C received") && log.contains("mamori stopped"), "{log}");
}

#[test]
fn optional_client_certificates_let_both_kinds_of_terminal_in() {
    let tmp = TempDir::new("mtls-optional");
    let dir = tmp.data();
    init_json(&dir, &[]);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("tls/terminal-ca.pem"), ca.pem()).unwrap();
    let term_key = rcgen::KeyPair::generate().unwrap();
    let mut term_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    term_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let term = term_params.signed_by(&term_key, &ca, &ca_key).unwrap();
    // A certificate from a CA the server does not know.
    let rogue_key = rcgen::KeyPair::generate().unwrap();
    let mut rogue_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    rogue_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let rogue = rogue_params.self_signed(&rogue_key).unwrap();

    let server = harness::Server::start(
        &dir,
        &[],
        &[("MAMORI_TLS_CLIENT_AUTH", "optional"), ("MAMORI_TLS_CLIENT_CA", "tls/terminal-ca.pem")],
    );
    rt().block_on(async {
        let url = format!("{}healthz", server.url);
        assert_eq!(https_client(&dir).get(&url).send().await.unwrap().status(), 200, "no certificate");
        let with = |cert: &rcgen::Certificate, key: &rcgen::KeyPair| {
            reqwest::Client::builder()
                .use_preconfigured_tls(harness::client_tls(
                    &dir,
                    Versions::Both,
                    Some((&cert.pem(), &key.serialize_pem())),
                ))
                .build()
                .unwrap()
        };
        assert_eq!(with(&term, &term_key).get(&url).send().await.unwrap().status(), 200, "registered terminal");
        assert!(with(&rogue, &rogue_key).get(&url).send().await.is_err(), "an unknown CA's certificate is refused");
    });
}

/// The PEM key and certificate inside a PKCS#12 file.
fn pkcs12_to_pem(p12: &[u8], password: &str) -> (String, String) {
    use base64::Engine as _;
    let store = p12_keystore::KeyStore::from_pkcs12(p12, password, p12_keystore::Pkcs12ImportPolicy::Relaxed).unwrap();
    let (_, chain) = store.private_key_chain().unwrap();
    let pem = |label: &str, der: &[u8]| {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
    };
    (pem("CERTIFICATE", chain.certs()[0].as_der()), pem("PRIVATE KEY", chain.key().as_der()))
}

#[test]
fn registered_terminals_are_issued_required_and_revoked() {
    let tmp = TempDir::new("terminals");
    let dir = tmp.data();
    let report = init_json(&dir, &[]);
    let d = dir.to_str().unwrap();
    // Requiring terminals before any exists would lock everyone out: refused.
    let out = run(&["terminal", "require", "on", "--data", d]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("issue"), "{}", stderr(&out));

    let p12 = tmp.root().join("reception-1.p12");
    let out = run(&["terminal", "issue", "reception-1", "--data", d, "--out", p12.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let issued: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(mode(&p12), 0o600);
    assert_eq!(mode(&dir.join("terminals/ca-key.pem")), 0o600);
    let password = issued["pkcs12_password"].as_str().unwrap().to_owned();
    let (cert_pem, key_pem) = pkcs12_to_pem(&std::fs::read(&p12).unwrap(), &password);
    // Names are never reused.
    let again =
        run(&["terminal", "issue", "reception-1", "--data", d, "--out", tmp.root().join("x.p12").to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(run(&["terminal", "require", "on", "--data", d]).status.success());

    let server = harness::Server::start(&dir, &[], &[]);
    let login = serde_json::json!({"login_id": "admin", "password": report["admin_password"]});
    rt().block_on(async {
        let url = format!("{}api/v1/session", server.url);
        let anywhere = https_client(&dir);
        let r = anywhere.post(&url).json(&login).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unregistered_terminal");
        let terminal = reqwest::Client::builder()
            .use_preconfigured_tls(harness::client_tls(&dir, Versions::Both, Some((&cert_pem, &key_pem))))
            .build()
            .unwrap();
        let r = terminal.post(&url).json(&login).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    });
    let out = run(&["terminal", "revoke", "reception-1", "--data", d]);
    assert!(out.status.success(), "{}", stderr(&out));
    rt().block_on(async {
        let terminal = reqwest::Client::builder()
            .use_preconfigured_tls(harness::client_tls(&dir, Versions::Both, Some((&cert_pem, &key_pem))))
            .build()
            .unwrap();
        let r = terminal.post(format!("{}api/v1/session", server.url)).json(&login).send().await.unwrap();
        assert_eq!(r.status(), 403, "a revoked terminal is refused");
    });
    let out = run(&["terminal", "list", "--data", d, "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["required"], true);
    assert!(list["terminals"][0]["revoked_at"].is_string());
    assert_eq!(run(&["terminal", "revoke", "reception-1", "--data", d]).status.code(), Some(2));
}

/// `init --database postgres://…` then `serve`, against the throwaway cluster of `.ci/run`.
#[test]
fn postgres_init_then_serve() {
    let Ok(admin_url) = std::env::var("MAMORI_TEST_POSTGRES_URL") else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED postgres_init_then_serve: MAMORI_TEST_POSTGRES_URL is not set (.ci/run sets it)"
        );
        return;
    };
    let db = format!("mamori_cli_{}", std::process::id());
    let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
    let db_url = format!("{base}/{db}");
    rt().block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}"))).execute(&mut conn).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}"))).execute(&mut conn).await.unwrap();
    });
    let tmp = TempDir::new("pg");
    let dir = tmp.data();
    let report = init_json(&dir, &["--database", &db_url]);
    assert_eq!(report["database"], "postgres");
    assert!(!dir.join("mamori.db").exists());

    // A second installation into the same database is refused, and its directory not created.
    let tmp2 = TempDir::new("pg-second");
    let out = run(&["init", "--data", tmp2.data().to_str().unwrap(), "--database", &db_url]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("already holds"), "{}", stderr(&out));
    assert!(!tmp2.data().exists());

    let server = harness::Server::start(&dir, &[], &[]);
    rt().block_on(async {
        let ready: serde_json::Value =
            https_client(&dir).get(format!("{}readyz", server.url)).send().await.unwrap().json().await.unwrap();
        assert_eq!(ready["status"], "ready");
        assert_eq!(ready["backend"], "postgres");
    });
    let (status, _) = server.terminate();
    assert!(status.success());
    rt().block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")))
            .execute(&mut conn)
            .await;
    });
}

/// The page shell in real Chromium: Japanese first, the English switch, the choice remembered.
#[test]
fn browser_page_shell_is_japanese_first_and_switches_to_english() {
    let tmp = TempDir::new("browser");
    let dir = tmp.data();
    init_json(&dir, &["--institution", "まもり眼科"]);
    let server = harness::Server::start(&dir, &[], &[]);
    rt().block_on(async {
        let Some(browser) =
            browser::Browser::start("browser_page_shell_is_japanese_first_and_switches_to_english").await
        else {
            return;
        };
        browser.goto(&server.url).await;
        assert_eq!(browser.title().await, "ようこそ — mamori 守り");
        assert_eq!(browser.text("h1").await, "ようこそ");
        assert!(browser.text("section.card").await.contains("まもり眼科"));
        let png = browser.screenshot_png().await;
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        if let Ok(out) = std::env::var("MAMORI_TEST_SCREENSHOTS") {
            std::fs::write(std::path::Path::new(&out).join("page-shell-ja.png"), &png).unwrap();
        }

        browser.click("a[hreflang=en]").await;
        assert_eq!(browser.wait_for_text("h1", "Welcome").await, "Welcome");
        assert!(browser.text("nav.lang strong").await.contains("English"));
        // The choice is remembered without the query string.
        browser.goto(&server.url).await;
        assert_eq!(browser.text("h1").await, "Welcome");
        browser.click("a[hreflang=ja]").await;
        assert_eq!(browser.wait_for_text("h1", "ようこそ").await, "ようこそ");
        browser.quit().await;
    });
}

/// Login through the real pages in Chromium: password, TOTP code, the forced password change,
/// the idle lock screen (which hides the user's data), and the lockout message.
#[test]
fn browser_login_two_factors_idle_lock_and_lockout() {
    let tmp = TempDir::new("browser-login");
    let dir = tmp.data();
    let report = init_json(&dir, &[]);
    let server = harness::Server::start(&dir, &[], &[("MAMORI_IDLE_LOCK", "6s"), ("MAMORI_LOCKOUT_THRESHOLD", "3")]);
    let shots = std::env::var("MAMORI_TEST_SCREENSHOTS").ok();
    rt().block_on(async {
        let Some(b) = browser::Browser::start("browser_login_two_factors_idle_lock_and_lockout").await else {
            return;
        };
        let shot = |name: &'static str, png: Vec<u8>| {
            if let Some(dir) = &shots {
                std::fs::write(std::path::Path::new(dir).join(name), png).unwrap();
            }
        };
        b.goto(&format!("{}login", server.url)).await;
        assert_eq!(b.text("h1").await, "ログイン");
        b.type_into("#login_id", "admin").await;
        b.type_into("#password", report["admin_password"].as_str().unwrap()).await;
        b.click("#submit").await;
        assert!(b.wait_for_url("/login/code").await.ends_with("/login/code"), "{}", b.url().await);
        shot("login-code.png", b.screenshot_png().await);
        b.type_into("#code", &totp_now(report["admin_totp_secret"].as_str().unwrap())).await;
        b.click("#submit").await;
        // The one-time password must be replaced first.
        assert!(b.wait_for_url("/password").await.ends_with("/password"), "{}", b.url().await);
        b.type_into("#current_password", report["admin_password"].as_str().unwrap()).await;
        b.type_into("#new_password", "password1234").await;
        b.click("#submit").await;
        assert!(
            b.wait_for_text("#error", "推測されやすい").await.contains("推測されやすい"),
            "a weak password is refused with a reason"
        );
        b.type_into("#current_password", report["admin_password"].as_str().unwrap()).await;
        b.type_into("#new_password", "aki-no-sora-wa-takaku-sunde-iru").await;
        b.click("#submit").await;
        assert_eq!(b.wait_for_text("#welcome", "管理者 さん").await, "管理者 さん");
        assert!(b.text("#last-login-at").await.contains("初めて"));
        shot("home.png", b.screenshot_png().await);

        // Idle for longer than the idle lock: the server locks; the page hides everything.
        tokio::time::sleep(Duration::from_millis(6500)).await;
        b.goto(&server.url).await;
        assert_eq!(b.wait_for_text("#locked", "画面をロックしました").await, "画面をロックしました");
        let html = b.source().await;
        assert!(!html.contains("管理者") && !html.contains("admin"), "the lock screen leaks nothing");
        shot("lock.png", b.screenshot_png().await);
        b.click("button.link").await; // log out from the lock screen
        assert!(b.wait_for_url("/login").await.ends_with("/login"), "{}", b.url().await);

        // Lockout: three failures (waiting out the 1 s and 3 s delays), then even the right
        // password is refused with the lockout message.
        for wait in [1100u64, 3100, 0] {
            b.type_into("#login_id", "admin").await;
            b.type_into("#password", "definitely-wrong").await;
            b.click("#submit").await;
            assert!(b.wait_for_text("#error", "正しくありません").await.contains("正しくありません"));
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        b.type_into("#login_id", "admin").await;
        b.type_into("#password", "aki-no-sora-wa-takaku-sunde-iru").await;
        b.click("#submit").await;
        let message = b.wait_for_text("#error", "一時的にログインできません").await;
        assert!(message.contains("一時的にログインできません"), "{message}");
        shot("lockout.png", b.screenshot_png().await);
        b.quit().await;
    });
}

/// The first administrator's first login in the browser: password, code, and the one-time
/// password replaced by `new_password`, ending on the home page.
async fn admin_first_login(b: &browser::Browser, base: &str, report: &serde_json::Value, new_password: &str) {
    let one_time = report["admin_password"].as_str().unwrap();
    let secret = report["admin_totp_secret"].as_str().unwrap();
    first_login(b, base, "admin", one_time, secret, new_password, "管理者 さん").await;
}

/// The first login of an account with a TOTP secret and a one-time password: password, code,
/// the forced password change, then the home page greeting `welcome`.
async fn first_login(
    b: &browser::Browser,
    base: &str,
    login_id: &str,
    one_time: &str,
    totp_secret: &str,
    new_password: &str,
    welcome: &str,
) {
    b.goto(&format!("{base}login")).await;
    b.type_into("#login_id", login_id).await;
    b.type_into("#password", one_time).await;
    b.click("#submit").await;
    let url = b.wait_for_url("/login/code").await;
    assert!(url.ends_with("/login/code"), "{url}: {}", b.source().await);
    b.type_into("#code", &totp_now(totp_secret)).await;
    b.click("#submit").await;
    b.wait_for_url("/password").await;
    b.type_into("#current_password", one_time).await;
    b.type_into("#new_password", new_password).await;
    b.click("#submit").await;
    assert_eq!(b.wait_for_text("#welcome", welcome).await, welcome);
}

/// A security key in real Chromium (a virtual CTAP2 authenticator with user verification):
/// registered from the security-keys page, then used instead of a code at login.
#[test]
fn browser_security_key_registration_and_login() {
    let tmp = TempDir::new("browser-webauthn");
    let dir = tmp.data();
    let report = init_json(&dir, &[]);
    let server = harness::Server::start(&dir, &[], &[]);
    // WebAuthn needs a domain name: the page is opened as https://localhost:PORT/.
    let base = format!("https://localhost:{}/", server.addr().port());
    let shots = std::env::var("MAMORI_TEST_SCREENSHOTS").ok();
    rt().block_on(async {
        let Some(b) = browser::Browser::start("browser_security_key_registration_and_login").await else {
            return;
        };
        let authenticator = b.add_virtual_authenticator().await;
        admin_first_login(&b, &base, &report, "fuyu-no-asa-no-shimo-bashira").await;

        b.click("#keys-link").await;
        b.type_into("#key-name", "受付のキー").await;
        b.click("#register-key").await;
        let keys = b.wait_for_text("#keys", "受付のキー").await;
        assert!(keys.contains("受付のキー"), "the key did not appear: {keys}");
        assert_eq!(b.virtual_credentials(&authenticator).await.len(), 1);
        if let Some(d) = &shots {
            std::fs::write(std::path::Path::new(d).join("security-keys.png"), b.screenshot_png().await).unwrap();
        }
        b.goto(&base).await;
        b.click("#logout").await;
        b.wait_for_url("/login").await;

        // Log in again: password, then the key instead of a code.
        b.goto(&format!("{base}login")).await;
        b.type_into("#login_id", "admin").await;
        b.type_into("#password", "fuyu-no-asa-no-shimo-bashira").await;
        b.click("#submit").await;
        assert!(b.wait_for_url("/login/code").await.ends_with("/login/code"));
        b.click("#webauthn-login").await;
        let url = b.wait_for_url(&format!("localhost:{}/", server.addr().port())).await;
        assert!(url.ends_with('/'), "{url}: {}", b.source().await);
        assert_eq!(b.wait_for_text("#welcome", "管理者 さん").await, "管理者 さん");
        b.quit().await;
    });
}

/// A TOTP code for the step before the current one (accepted as the previous step), so that
/// a later re-authentication in the same 30 s can use the current step's code.
fn totp_previous(secret_b32: &str) -> String {
    let secret = mamori_crypto::TotpSecret::from_base32(secret_b32).expect("base32 secret");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    secret.code_at(now - 30)
}

#[test]
fn sealed_emergency_accounts_are_activated_by_a_second_person_and_closed_with_new_keys() {
    let tmp = TempDir::new("sealed");
    let dir = tmp.data();
    let report = init_json(&dir, &[]);
    let d = dir.to_str().unwrap();
    let out = run(&["emergency", "seal", "kinkyu1", "--display-name", "緊急用1", "--data", d, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sealed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let envelope = sealed[0].clone();
    assert_eq!(envelope["login_id"], "kinkyu1");
    assert_eq!(envelope["generation"], 1);
    assert_eq!(envelope["roles"], serde_json::json!(["doctor"]));
    // Refused, nothing created: a login ID used before, an administrative role.
    let again = run(&["emergency", "seal", "kinkyu1", "--display-name", "x", "--data", d]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    let admin_role =
        run(&["emergency", "seal", "kinkyu2", "--display-name", "x", "--role", "system_admin", "--data", d]);
    assert_eq!(admin_role.status.code(), Some(2));
    let list: serde_json::Value =
        serde_json::from_slice(&run(&["emergency", "list", "--data", d, "--json"]).stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["opened_since_sealed"], false);

    let server = harness::Server::start(&dir, &[], &[]);
    let url = |p: &str| format!("{}{p}", server.url);
    let k_secret = envelope["totp_secret"].as_str().unwrap().to_owned();
    let a_secret = report["admin_totp_secret"].as_str().unwrap().to_owned();
    let envelope_login = serde_json::json!({"login_id": "kinkyu1", "password": envelope["password"]});
    let kinkyu = https_client(&dir);
    rt().block_on(async {
        // The envelope alone does not log in.
        assert_eq!(kinkyu.post(url("api/v1/session")).json(&envelope_login).send().await.unwrap().status(), 200);
        let code = serde_json::json!({ "code": totp_previous(&k_secret) });
        let r = kinkyu.post(url("api/v1/session/totp")).json(&code).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "sealed_account_not_activated");

        // The administrator (after replacing the one-time password) confirms the activation.
        let admin = https_client(&dir);
        let login = serde_json::json!({"login_id": "admin", "password": report["admin_password"]});
        assert_eq!(admin.post(url("api/v1/session")).json(&login).send().await.unwrap().status(), 200);
        let code = serde_json::json!({ "code": totp_previous(&a_secret) });
        assert_eq!(admin.post(url("api/v1/session/totp")).json(&code).send().await.unwrap().status(), 200);
        let new_password = "fuyu-no-yoru-ni-yuki-ga-furu";
        let change = serde_json::json!({"current_password": report["admin_password"], "new_password": new_password});
        assert_eq!(admin.post(url("api/v1/me/password")).json(&change).send().await.unwrap().status(), 204);
        let activate = serde_json::json!({"used_by": "田中 一郎", "reason": "認証基盤の障害", "password": new_password, "code": totp_now(&a_secret)});
        let r = admin.post(url("api/v1/emergency-accounts/kinkyu1/activate")).json(&activate).send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

        // Now the envelope logs in.
        assert_eq!(kinkyu.post(url("api/v1/session")).json(&envelope_login).send().await.unwrap().status(), 200);
        let code = serde_json::json!({ "code": totp_now(&k_secret) });
        let r = kinkyu.post(url("api/v1/session/totp")).json(&code).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        assert_eq!(kinkyu.get(url("api/v1/me")).send().await.unwrap().status(), 200);
    });
    let list: serde_json::Value =
        serde_json::from_slice(&run(&["emergency", "list", "--data", d, "--json"]).stdout).unwrap();
    assert_eq!(list[0]["active_used_by"], "田中 一郎");

    // Normal operation returns: close ends the session and re-keys the account.
    let out = run(&["emergency", "close", "--data", d, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let closed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(closed[0]["login_id"], "kinkyu1");
    assert_eq!(closed[0]["generation"], 2);
    assert_ne!(closed[0]["password"], envelope["password"]);
    rt().block_on(async {
        assert_eq!(kinkyu.get(url("api/v1/me")).send().await.unwrap().status(), 401, "the session ended");
        let r = https_client(&dir).post(url("api/v1/session")).json(&envelope_login).send().await.unwrap();
        assert_eq!(r.status(), 401, "the opened envelope is worthless");
    });
    let list: serde_json::Value =
        serde_json::from_slice(&run(&["emergency", "list", "--data", d, "--json"]).stdout).unwrap();
    assert_eq!(list[0]["generation"], 2);
    assert_eq!(list[0]["opened_since_sealed"], false);
    assert!(list[0]["active_until"].is_null());
    // Nothing opened since: close has nothing to do; an unknown account is refused.
    let out = run(&["emergency", "close", "--data", d, "--json"]);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(), serde_json::json!([]));
    assert_eq!(run(&["emergency", "close", "nobody", "--data", d]).status.code(), Some(2));
}

/// Runs SQL against a data directory's SQLite database, as someone with file access would.
fn tamper(dir: &std::path::Path, statements: &[&'static str]) {
    rt().block_on(async {
        use sqlx::ConnectOptions as _;
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.join("mamori.db"));
        let mut conn = options.connect().await.unwrap();
        for sql in statements {
            sqlx::query(*sql).execute(&mut conn).await.unwrap();
        }
    });
}

#[test]
fn checkpoints_are_signed_written_outside_the_database_and_catch_tampering() {
    let tmp = TempDir::new("checkpoint");
    let dir = tmp.data();
    let report = init_json(&dir, &[]);
    let d = dir.to_str().unwrap();
    let institution = report["institution_id"].as_str().unwrap();
    let out = run(&["checkpoint", "--data", d, "--verifier-key"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let verifier = String::from_utf8(out.stdout).unwrap();
    assert!(verifier.starts_with("localhost+"), "{verifier}");
    let key = mamori_ledger::VerifierKey::parse(verifier.trim()).unwrap();
    // init's own events are the first leaves: the institution, its administrator and the
    // sample master's import.
    assert!(run(&["terminal", "require", "off", "--data", d]).status.success());
    let out = run(&["checkpoint", "--data", d, "--write", "--institution", institution]);
    assert!(out.status.success(), "{}", stderr(&out));
    let note = String::from_utf8(out.stdout).unwrap();
    let checkpoint =
        mamori_ledger::Checkpoint::open_for_origin(&note, &format!("localhost/{institution}"), &[key]).unwrap();
    assert_eq!(checkpoint.size(), 4);
    let file = dir.join(format!("checkpoints/{institution}/00000000000000000004.txt"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), note);
    assert_eq!(mode(&file), 0o600);
    let out = run(&["verify", "--data", d, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let verified: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["institutions"][0]["leaves"], 4);
    assert_eq!(verified["institutions"][0]["checkpoints"], 1);
    // Kept elsewhere, an older checkpoint proves the log only grew (a consistency proof).
    let older = tmp.root().join("older.txt");
    std::fs::copy(&file, &older).unwrap();
    assert!(run(&["terminal", "require", "off", "--data", d]).status.success());
    let out = run(&["verify", "--data", d, "--json", "--checkpoint", older.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let verified: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verified["institutions"][0]["leaves"], 5);
    assert_eq!(verified["institutions"][0]["checkpoints"], 2);
    // A forged checkpoint (its root changed) is reported, not trusted.
    let forged = tmp.root().join("forged.txt");
    let mut lines: Vec<String> = note.lines().map(str::to_owned).collect();
    lines[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned();
    std::fs::write(&forged, lines.join("\n") + "\n").unwrap();
    let out = run(&["verify", "--data", d, "--checkpoint", forged.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("forged.txt"), "{}", String::from_utf8_lossy(&out.stdout));

    // The database refuses to change a leaf; someone with the file drops the guard and edits one.
    rt().block_on(async {
        use sqlx::ConnectOptions as _;
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.join("mamori.db"));
        let mut conn = options.connect().await.unwrap();
        let refused = sqlx::query("UPDATE log_leaves SET leaf = x'00' WHERE idx = 1").execute(&mut conn).await;
        assert!(refused.is_err(), "the trigger refuses updates");
    });
    tamper(
        &dir,
        &[
            "DROP TRIGGER log_leaves_no_update",
            "UPDATE log_leaves SET leaf = CAST(replace(CAST(leaf AS TEXT), 'user.create', 'user.delete') AS BLOB) WHERE idx = 1",
        ],
    );
    let out = run(&["verify", "--data", d]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("leaf 1: content does not match its stored hash"));

    // Emptying the log (a restored or truncated database) is caught by the file outside it.
    tamper(
        &dir,
        &[
            "DROP TRIGGER log_leaves_no_delete",
            "DROP TRIGGER log_nodes_no_delete",
            "DROP TRIGGER IF EXISTS log_heads_never_shrink",
            "DELETE FROM log_leaves",
            "DELETE FROM log_nodes",
            "DELETE FROM log_heads",
        ],
    );
    let out = run(&["verify", "--data", d, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let verified: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verified["ok"], false);
    let problems = verified["institutions"][0]["problems"].to_string();
    assert!(problems.contains("the log had 4 leaves, the database has 0 (truncated)"), "{problems}");
    // And serve refuses to start on it, naming the command that explains.
    let out = run(&["serve", "--data", d, "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("mamori verify"), "{}", stderr(&out));
}

/// The administration page in real Chromium: create an account (roles by checkbox, the
/// one-time password shown once), see it in the ledger, and the audit page refused to a
/// system administrator (no audit permission).
#[test]
fn browser_admin_creates_an_account_on_the_users_page() {
    let tmp = TempDir::new("browser-admin");
    let dir = tmp.data();
    let report = init_json(&dir, &[]);
    let server = harness::Server::start(&dir, &[], &[]);
    let shots = std::env::var("MAMORI_TEST_SCREENSHOTS").ok();
    rt().block_on(async {
        let Some(b) = browser::Browser::start("browser_admin_creates_an_account_on_the_users_page").await else {
            return;
        };
        admin_first_login(&b, &server.url, &report, "natsu-no-umi-wa-aoku-hiroi").await;
        b.click("#admin-users-link").await;
        assert!(b.wait_for_url("/admin/users").await.ends_with("/admin/users"));
        b.type_into("#login_id", "suzuki").await;
        b.type_into("#display_name", "鈴木 一郎").await;
        b.click("input[name=roles][value=doctor]").await;
        b.click("#create").await;
        assert_eq!(b.wait_for_text("#created-login", "suzuki").await, "suzuki");
        let otp = b.text("#one-time-password").await;
        assert!(otp.len() >= 12, "a one-time password is shown: {otp}");
        assert!(b.text("#users").await.contains("鈴木 一郎"));
        if let Some(dir) = &shots {
            std::fs::write(std::path::Path::new(dir).join("admin-users.png"), b.screenshot_png().await).unwrap();
        }
        // The one-time password is not on the page once it is reloaded.
        b.goto(&format!("{}admin/users", server.url)).await;
        assert!(!b.source().await.contains(&otp));
        // A system administrator has no audit permission: refused, and the refusal is logged.
        b.goto(&format!("{}audit", server.url)).await;
        assert!(b.wait_for_text("h1", "権限がありません").await.contains("監査証跡を閲覧する権限がありません"));
        b.quit().await;
    });
}

/// Patients in real Chromium: the administrator creates a clerk on the users page; the clerk
/// signs in (one-time password replaced, TOTP enrolled with the secret from the page), registers
/// a patient at reception and finds her by a kana search of two characters.
#[test]
fn browser_reception_registers_and_finds_a_patient() {
    let tmp = TempDir::new("browser-patients");
    let dir = tmp.data();
    let report = init_json(&dir, &[]);
    let server = harness::Server::start(&dir, &[], &[]);
    let shots = std::env::var("MAMORI_TEST_SCREENSHOTS").ok();
    rt().block_on(async {
        let Some(b) = browser::Browser::start("browser_reception_registers_and_finds_a_patient").await else {
            return;
        };
        // The administrator creates a clerk.
        admin_first_login(&b, &server.url, &report, "haru-no-yoru-no-yume-no-gotoshi").await;
        b.goto(&format!("{}admin/users", server.url)).await;
        b.type_into("#login_id", "uketsuke").await;
        b.type_into("#display_name", "受付 花子").await;
        b.click("#job_type option[value=clerk]").await;
        b.click("input[name=roles][value=clerk]").await;
        b.click("#create").await;
        b.wait_for_text("#created-login", "uketsuke").await;
        let otp = b.text("#one-time-password").await;
        b.goto(&server.url).await;
        b.click("#logout").await;
        b.wait_for_url("/login").await;
        // The clerk's first login: password, enrollment, new password.
        b.type_into("#login_id", "uketsuke").await;
        b.type_into("#password", &otp).await;
        b.click("#submit").await;
        b.wait_for_url("/enroll").await;
        let secret = b.text("#secret").await;
        b.type_into("#code", &totp_now(&secret)).await;
        b.click("#submit").await;
        b.wait_for_text("h1", "リカバリーコード").await;
        b.goto(&format!("{}password", server.url)).await;
        b.type_into("#current_password", &otp).await;
        b.type_into("#new_password", "aki-no-yuhi-ni-teru-yama-momiji").await;
        b.click("#submit").await;
        b.wait_for_text("#welcome", "受付 花子 さん").await;
        // Reception registers a patient and finds her by kana.
        b.click("#patients-link").await;
        b.wait_for_url("/patients").await;
        b.type_into("input[name=number]", "3001").await;
        b.type_into("input[name=family]", "王").await;
        b.type_into("input[name=given]", "林").await;
        b.type_into("input[name=family_kana]", "わん").await;
        b.type_into("input[name=given_kana]", "りん").await;
        b.execute("document.querySelector('input[name=birth_date]').value = '1950-04-01';").await;
        b.click("#register").await;
        let done = b.wait_for_text("#created", "登録しました").await;
        assert!(done.contains("3001（王 林）を登録しました。"), "{done}");
        b.type_into("#q", "りん").await;
        b.click("#search").await;
        assert!(b.wait_for_text("#patients", "ワン リン").await.contains("3001"));
        if let Some(dir) = &shots {
            std::fs::write(std::path::Path::new(dir).join("patients.png"), b.screenshot_png().await).unwrap();
        }
        b.quit().await;
    });
}

/// Saves a screenshot when `MAMORI_TEST_SCREENSHOTS` names a directory.
async fn shot(b: &browser::Browser, name: &str) {
    if let Ok(dir) = std::env::var("MAMORI_TEST_SCREENSHOTS") {
        std::fs::write(std::path::Path::new(&dir).join(name), b.screenshot_png().await).unwrap();
    }
}

/// Records in real Chromium: a doctor opens a patient's chart, writes and finalizes a progress
/// note, corrects it and sees both versions and the difference; a clerk's proxy entry waits in
/// the doctor's approval queue until the doctor approves it. The demo accounts are used.
#[test]
fn browser_doctor_finalizes_and_corrects_a_note_and_approves_a_proxy_entry() {
    let tmp = TempDir::new("browser-records");
    let dir = tmp.data();
    init_json(&dir, &[]);
    let out = run(&["demo", "--data", dir.to_str().unwrap(), "--patients", "3", "--seed", "5", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let demo: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().lines().last().unwrap()).unwrap();
    let staff =
        |login: &str| demo["staff"].as_array().unwrap().iter().find(|s| s["login_id"] == login).unwrap().clone();
    let (doctor, clerk) = (staff("demo-doctor"), staff("demo-clerk"));
    let server = harness::Server::start(&dir, &[], &[]);
    rt().block_on(async {
        let test = "browser_doctor_finalizes_and_corrects_a_note_and_approves_a_proxy_entry";
        let Some(d) = browser::Browser::start(test).await else { return };
        let base = &server.url;
        first_login(
            &d,
            base,
            "demo-doctor",
            doctor["password"].as_str().unwrap(),
            doctor["totp_secret"].as_str().unwrap(),
            "natsu-wa-yoru-tsuki-no-koro-wa-sara-nari",
            "デモ 医師 さん",
        )
        .await;
        // The doctor finds the patient and opens the chart.
        d.goto(&format!("{base}patients?q=D000001")).await;
        d.click("#patients a").await;
        d.click("#open-chart").await;
        d.wait_for_text("#chart-patient", "D000001").await;
        let chart = d.url().await;
        d.click("#new-progress_note").await;
        d.type_into("textarea[name=s]", "昨日から咳と微熱。").await;
        d.type_into("textarea[name=o]", "体温 37.6℃、咽頭発赤あり。").await;
        d.type_into("textarea[name=a]", "急性上気道炎").await;
        d.type_into("textarea[name=p]", "対症療法。3日後に再診。").await;
        d.click("#finalize-new").await;
        assert!(d.wait_for_text("#v1", "37.6").await.contains("確定"));
        // The correction: a new version with its reason; both stay visible.
        d.type_into("#correct-form textarea[name=o]", "体温 38.1℃、咽頭発赤あり。").await;
        d.type_into("#correct-reason", "体温の記載誤り").await;
        d.click("#correct").await;
        let v2 = d.wait_for_text("#v2", "38.1").await;
        assert!(v2.contains("体温の記載誤り"), "{v2}");
        assert!(d.text("#v1").await.contains("37.6"), "the first version is kept");
        let diff = d.text("#diff").await;
        assert!(diff.contains("37.6") && diff.contains("38.1"), "{diff}");
        shot(&d, "record-corrected.png").await;
        d.goto(&chart).await;
        d.wait_for_text("#timeline", "訂正あり").await;

        // The clerk enters a prescription for the doctor (代行入力): it waits for approval.
        let Some(c) = browser::Browser::start(test).await else { return };
        first_login(
            &c,
            base,
            "demo-clerk",
            clerk["password"].as_str().unwrap(),
            clerk["totp_secret"].as_str().unwrap(),
            "haru-wa-akebono-yauyau-shiroku-naryuku",
            "デモ 事務 さん",
        )
        .await;
        c.goto(&chart).await;
        c.click("#new-prescription").await;
        c.type_into("input[name=drug_1]", "SD-0006").await;
        c.type_into("input[name=dose_1]", "2").await;
        c.type_into("input[name=usage_1]", "発熱時 頓用").await;
        c.type_into("input[name=days_1]", "5").await;
        c.execute(
            "const s = document.querySelector('#proxy_for'); \
             for (const o of s.options) { if (o.text.includes('デモ 医師')) { s.value = o.value; } }",
        )
        .await;
        c.click("#submit-proxy").await;
        c.wait_for_url("sent=proxy").await;
        c.wait_for_text("#timeline", "承認待ち").await;
        shot(&c, "proxy-entry-waiting.png").await;
        c.quit().await;

        // The doctor approves it from the queue; the chart no longer shows it waiting.
        d.goto(&format!("{base}approvals")).await;
        d.wait_for_text("#approval-queue", "アセトアミノフェン").await;
        d.click("#approval-queue a.record-link").await;
        d.click("#approve").await;
        let v1 = d.wait_for_text("#v1", "承認").await;
        assert!(v1.contains("デモ 事務") && v1.contains("デモ 医師"), "both people are shown: {v1}");
        d.goto(&format!("{base}approvals")).await;
        assert!(!d.text("#approval-queue").await.contains("アセトアミノフェン"));
        d.goto(&chart).await;
        let timeline = d.wait_for_text("#timeline", "アセトアミノフェン").await;
        assert!(!timeline.contains("承認待ち"), "{timeline}");
        shot(&d, "chart.png").await;
        d.quit().await;
    });
    assert!(run(&["verify", "--data", dir.to_str().unwrap()]).status.success());
}

/// Rows of a table as text, for comparing two databases.
fn dump(dir: &std::path::Path, sql: &'static str) -> Vec<String> {
    rt().block_on(async {
        use sqlx::{ConnectOptions as _, Row as _};
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.join("mamori.db"));
        let mut conn = options.connect().await.unwrap();
        sqlx::query(sql).fetch_all(&mut conn).await.unwrap().iter().map(|r| r.get::<String, _>(0)).collect()
    })
}

/// `mamori demo` fills a new data directory the same way for the same seed, everything it
/// writes verifies, running it twice is refused, and changing one stored byte of a finalized
/// record version (content or metadata) makes `verify` fail naming that record and version.
#[test]
fn demo_data_verifies_and_a_changed_record_version_is_named() {
    let tmp = TempDir::new("demo");
    let (a, b) = (tmp.root().join("a"), tmp.root().join("b"));
    let demo = |dir: &std::path::Path| {
        let out = run(&["demo", "--data", dir.to_str().unwrap(), "--patients", "40", "--seed", "3", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        serde_json::from_str::<serde_json::Value>(text.lines().last().unwrap()).unwrap()
    };
    let report = demo(&a);
    assert_eq!(report["patients"], 40);
    let finalized = report["finalized_versions"].as_u64().unwrap();
    assert!(report["corrected"].as_u64().unwrap() > 0 && report["proxy_approved"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["staff"].as_array().unwrap().len(), 2, "demo accounts with their credentials, once");
    demo(&b);
    let patients = "SELECT number || ' ' || family || ' ' || given || ' ' || family_kana || ' ' || birth_date FROM patients ORDER BY number";
    let contents = "SELECT p.number || ' ' || v.version || ' ' || v.change || ' ' || v.state || ' ' || v.content \
                    FROM record_versions v JOIN records r ON r.id = v.record_id JOIN patients p ON p.id = r.patient_id \
                    ORDER BY p.number, v.entered_at, v.version, v.content";
    assert_eq!(dump(&a, patients), dump(&b, patients), "the same seed, the same patients");
    assert_eq!(dump(&a, contents), dump(&b, contents), "and the same records");
    assert_eq!(dump(&a, patients).len(), 40);

    let d = a.to_str().unwrap();
    let again = run(&["demo", "--data", d, "--patients", "40", "--seed", "3"]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    let out = run(&["verify", "--data", d, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let verified: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verified["institutions"][0]["records"].as_u64(), Some(finalized));

    // The database refuses to change a final version; with the guard dropped, one changed
    // character of the content, then one changed timestamp of another version, are named.
    rt().block_on(async {
        use sqlx::ConnectOptions as _;
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(a.join("mamori.db"));
        let mut conn = options.connect().await.unwrap();
        let refused =
            sqlx::query("UPDATE record_versions SET content = content WHERE state = 'final'").execute(&mut conn).await;
        assert!(refused.is_err(), "the trigger refuses updates of final versions");
        let refused = sqlx::query("DELETE FROM record_versions").execute(&mut conn).await;
        assert!(refused.is_err(), "and deletes");
    });
    let first = dump(
        &a,
        "SELECT record_id || ' version ' || version FROM record_versions WHERE state = 'final' AND content LIKE '%BP%' ORDER BY leaf_index LIMIT 1",
    );
    tamper(
        &a,
        &[
            "DROP TRIGGER record_versions_settled_never_change",
            "DROP TRIGGER record_versions_move_forward",
            "DROP TRIGGER record_versions_keep_what_they_are",
            "UPDATE record_versions SET content = replace(content, 'BP 1', 'BP 2') \
             WHERE (record_id, version) = (SELECT record_id, version FROM record_versions WHERE state = 'final' AND content LIKE '%BP%' ORDER BY leaf_index LIMIT 1)",
        ],
    );
    let out = run(&["verify", "--data", d]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains(&format!("record {}", first[0])), "{} named in {text}", first[0]);
    assert!(text.contains("differs from its leaf"), "{text}");
    let second = dump(
        &a,
        "SELECT record_id || ' version ' || version FROM record_versions WHERE state = 'final' ORDER BY leaf_index DESC LIMIT 1",
    );
    tamper(
        &a,
        &["UPDATE record_versions SET finalized_at = '2020-01-01T00:00:00.000000Z' \
           WHERE (record_id, version) = (SELECT record_id, version FROM record_versions WHERE state = 'final' ORDER BY leaf_index DESC LIMIT 1)"],
    );
    let out = run(&["verify", "--data", d]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(&format!("record {}", second[0])) && text.contains(&format!("record {}", first[0])),
        "{text}"
    );
    // The record's own row (its creation time) and a version's last save are covered too.
    let third = dump(&a, "SELECT id FROM records ORDER BY created_at LIMIT 1");
    let fourth = dump(
        &a,
        "SELECT record_id || ' version ' || version FROM record_versions WHERE state = 'final' ORDER BY leaf_index LIMIT 1 OFFSET 5",
    );
    tamper(
        &a,
        &[
            "DROP TRIGGER records_no_update",
            "UPDATE records SET created_at = '2019-01-01T00:00:00.000000Z' WHERE id = (SELECT id FROM records ORDER BY created_at LIMIT 1)",
            "UPDATE record_versions SET updated_at = '2030-01-01T00:00:00.000000Z' \
             WHERE (record_id, version) = (SELECT record_id, version FROM record_versions WHERE state = 'final' ORDER BY leaf_index LIMIT 1 OFFSET 5)",
        ],
    );
    let text = String::from_utf8_lossy(&run(&["verify", "--data", d]).stdout).into_owned();
    assert!(text.contains(&format!("record {}", third[0])), "{} in {text}", third[0]);
    assert!(text.contains(&format!("record {}", fourth[0])), "{} in {text}", fourth[0]);
}

/// `mamori master import` checks the whole file first: a bad line is refused with its number
/// and reason and nothing is loaded; a good file adds only what changed.
#[test]
fn master_import_refuses_a_bad_file_with_its_line_and_loads_nothing() {
    let tmp = TempDir::new("master");
    let dir = tmp.data();
    init_json(&dir, &[]);
    let d = dir.to_str().unwrap();
    let count = || dump(&dir, "SELECT CAST(count(*) AS TEXT) FROM master_entries")[0].clone();
    let loaded = count();
    assert_eq!(loaded, "36", "the sample master");
    let file = tmp.root().join("master.csv");
    let header = mamori_core::master::CSV_HEADER;
    std::fs::write(&file, format!("{header}\ndrug,X-1,新薬A錠,錠,,2026-04-01,\ndrug,X-2,新薬B錠,錠,,2026/04/01,\n"))
        .unwrap();
    let out = run(&["master", "import", file.to_str().unwrap(), "--data", d]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("line 3"), "{}", stderr(&out));
    assert_eq!(count(), loaded, "nothing half-imported");
    std::fs::write(
        &file,
        format!("{header}\ndrug,X-1,新薬A錠,錠,,2026-04-01,\ndrug,SD-0001,アムロジピン錠5mg,錠,,2020-04-01,\n"),
    )
    .unwrap();
    let out = run(&["master", "import", file.to_str().unwrap(), "--data", d, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((summary["added"].as_u64(), summary["unchanged"].as_u64()), (Some(1), Some(1)), "{summary}");
    let out = run(&["master", "import", file.to_str().unwrap(), "--data", d, "--json"]);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["added"], 0, "the same file twice changes nothing");
    assert!(run(&["verify", "--data", d]).status.success());
}

/// `mamori register import` loads a register file whole as the operator, refuses a bad file
/// with its line and loads nothing, and `mamori register export` gives the file back (CSV with
/// the import's header, or JSON); both are audit events.
#[test]
fn register_import_refuses_a_bad_file_with_its_line_and_loads_nothing() {
    let tmp = TempDir::new("register");
    let dir = tmp.data();
    init_json(&dir, &[]);
    let d = dir.to_str().unwrap();
    let count = || dump(&dir, "SELECT CAST(count(*) AS TEXT) FROM register_entries")[0].clone();
    let file = tmp.root().join("contacts.csv");
    let header = "organization,category,person,phone,email,when,reporting_duty,notes";
    std::fs::write(
        &file,
        format!("{header}\n厚生労働省 医政局,mhlw,,03-0000-0000,,サイバー攻撃で診療に支障,yes,\n警察,fire,,,,,,\n"),
    )
    .unwrap();
    let out = run(&["register", "import", "--kind", "contact", file.to_str().unwrap(), "--data", d]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 3: category"), "{}", stderr(&out));
    assert_eq!(count(), "0", "nothing half-imported");
    let out = run(&["register", "import", "--kind", "ledger", file.to_str().unwrap(), "--data", d]);
    assert_eq!(out.status.code(), Some(2));

    std::fs::write(
        &file,
        format!("{header}\n厚生労働省 医政局,mhlw,,03-0000-0000,,サイバー攻撃で診療に支障,yes,\n都道府県警察 サイバー犯罪相談窓口,police,,,,,はい,\n"),
    )
    .unwrap();
    let out = run(&["register", "import", "--kind", "contact", file.to_str().unwrap(), "--data", d, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["added"], 2, "{summary}");
    assert_eq!(count(), "2");
    assert_eq!(dump(&dir, "SELECT CAST(count(*) AS TEXT) FROM register_entry_versions WHERE author IS NULL")[0], "2");

    let out = run(&["register", "export", "--kind", "contact", "--data", d]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.starts_with(&format!("\u{FEFF}{header}\r\n")), "{csv}");
    assert!(csv.contains("都道府県警察 サイバー犯罪相談窓口,police,,,,,yes,"), "{csv}");
    // The exported CSV imports again as it is.
    std::fs::write(&file, csv.replace("厚生労働省 医政局", "厚生労働省")).unwrap();
    let out = run(&["register", "import", "--kind", "contact", file.to_str().unwrap(), "--data", d]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count(), "4");
    let out = run(&["register", "export", "--kind", "contact", "--format", "json", "--data", d]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 4);
    assert_eq!(rows[0]["fields"]["reporting_duty"], "yes");
    let events = dump(&dir, "SELECT CAST(count(*) AS TEXT) FROM log_leaves WHERE action LIKE 'compliance.register.%'");
    assert_eq!(events[0], "4", "two imports and two exports");
    assert!(run(&["verify", "--data", d]).status.success());
}

/// `mamori catalog list --json` prints every item of the shipped catalogs; `catalog export`
/// writes an OSCAL catalog (validated against the OSCAL models in CI, `.ci/oscal_validate.py`);
/// an unknown catalog or format is refused.
#[test]
fn catalog_list_and_oscal_export() {
    let out = run(&["catalog", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let items: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 52 + 41 + 58);
    for item in items {
        for key in ["catalog", "id", "section", "text"] {
            assert!(item[key].as_str().is_some_and(|v| !v.is_empty()), "{key} in {item}");
        }
    }
    let out = run(&["catalog", "export", "--format", "oscal", "--catalog", "hoshu-7.0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["catalog"]["metadata"]["oscal-version"], "1.1.2");
    let controls: usize =
        doc["catalog"]["groups"].as_array().unwrap().iter().map(|g| g["controls"].as_array().unwrap().len()).sum();
    assert_eq!(controls, 52);
    let out = run(&["catalog", "export", "--catalog", "nist-800-53"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run(&["catalog", "export", "--format", "xml", "--catalog", "hoshu-7.0"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `mamori disclose` answers all 99 MDS/SDS rows (JSON rows with catalog, id, answer,
/// explanation, tests; every はい with tests), writes Markdown and an xlsx workbook, and
/// `--verify-tests` fails when a test behind a はい did not pass in the given output.
#[test]
fn disclose_answers_all_99_rows_and_checks_its_tests() {
    let out = run(&["disclose", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 99);
    for r in rows {
        assert!(["mds-7.0", "sds-7.0"].contains(&r["catalog"].as_str().unwrap()), "{r}");
        assert!(["はい", "いいえ", "対象外"].contains(&r["answer"].as_str().unwrap()), "{r}");
        assert!(!r["explanation"].as_str().unwrap().is_empty());
        if r["answer"] == "はい" {
            assert!(!r["tests"].as_array().unwrap().is_empty(), "{r}");
        }
    }
    let md = run(&["disclose", "--format", "md"]);
    assert!(String::from_utf8(md.stdout).unwrap().contains("| mds-7.0 "));

    let tmp = TempDir::new("disclose");
    std::fs::create_dir_all(tmp.root()).unwrap();
    let xlsx = tmp.root().join("disclosure.xlsx");
    let out = run(&["disclose", "--format", "xlsx", "--out", xlsx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&xlsx).unwrap()).unwrap();
    let mut strings = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("xl/sharedStrings.xml").unwrap(), &mut strings).unwrap();
    assert!(
        strings.contains("確認事項") && strings.contains("対象外"),
        "the header and the answers are in the workbook"
    );
    assert_eq!(run(&["disclose", "--format", "xlsx"]).status.code(), Some(2), "xlsx needs --out");

    // A run in which one cited test failed (and every other is missing) is refused.
    let first = rows.iter().find(|r| r["answer"] == "はい").unwrap();
    let test = first["tests"][0].as_str().unwrap();
    let (target, path) = test.split_once("::").unwrap();
    let output = tmp.root().join("output.txt");
    std::fs::write(
        &output,
        format!("     Running tests/x.rs (target/debug/deps/{target}-0123456789abcdef)\ntest {path} ... FAILED\n"),
    )
    .unwrap();
    let out = run(&["disclose", "--verify-tests", output.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains(&format!("{test}: FAILED")), "{text}");
    assert!(text.contains(": missing"), "{text}");
}

/// The compliance workbench in real Chromium, as a clinic manager does it: settle applicability
/// (図1, with the contract clause), start the self-inspection and work through all 52 items of
/// the 保守委託機関編, each with its state and evidence (links, and a file uploaded from disk and
/// downloaded again byte for byte).
#[test]
fn browser_manager_works_the_compliance_workbench() {
    let tmp = TempDir::new("browser-workbench");
    let dir = tmp.data();
    let report = init_json(&dir, &[]);
    let server = harness::Server::start(&dir, &[], &[]);
    let contract = tmp.root().join("保守契約書.pdf");
    let contract_bytes = b"%PDF-1.4\n% mamori test: maintenance contract, clause 12\n".repeat(50);
    std::fs::write(&contract, &contract_bytes).unwrap();
    rt().block_on(async {
        let test = "browser_manager_works_the_compliance_workbench";
        let Some(b) = browser::Browser::start(test).await else { return };
        let base = &server.url;
        admin_first_login(&b, base, &report, "fuyu-wa-tsutomete-yuki-no-furitaru").await;

        // Applicability: YES needs the contract clause (※2); with it, the 保守委託機関編 applies.
        b.goto(&format!("{base}compliance")).await;
        b.click("#applicability-link").await;
        b.wait_for_url("/compliance/applicability").await;
        b.click("input[name='answer.all-server-security-updates-delegated'][value=yes]").await;
        b.click("#decide").await;
        assert!(b.wait_for_text("#error", "※2").await.contains("契約書"));
        b.click("input[name='answer.all-server-security-updates-delegated'][value=yes]").await;
        b.type_into("#basis", "電子カルテ保守契約書 第12条（セキュリティアップデートは受託者が行う）").await;
        b.click("#decide").await;
        assert!(b.wait_for_text("#outcome", "保守委託機関").await.contains("本編（保守委託機関編）の対象"));
        shot(&b, "workbench-applicability.png").await;

        // The self-inspection: every item worked, each with evidence.
        b.goto(&format!("{base}compliance")).await;
        b.type_into("#title", "2026年度 自己点検").await;
        b.execute("document.querySelector('#period_start').value = '2026-04-01'; document.querySelector('#period_end').value = '2027-03-31';").await;
        b.click("#start").await;
        b.wait_for_text("#assessment-title", "2026年度 自己点検").await;
        let at = b.url().await;
        let keys: Vec<String> = serde_json::from_value(
            b.execute("return Array.from(document.querySelectorAll('section.item')).map(s => s.id.replace('item-', ''));")
                .await,
        )
        .unwrap();
        assert_eq!(keys.len(), 52, "all 52 items of the 保守委託機関編");
        for (n, key) in keys.iter().enumerate() {
            // Item IDs hold dots (1.2-2), so select them by attribute.
            let item = format!("[id='item-{key}']");
            // Most items are done; two are still in progress with a due date; one is not applicable.
            let (state, due) = match n {
                5 | 17 => ("in_progress", "2027-01-31"),
                30 => ("not_applicable", ""),
                _ => ("done", ""),
            };
            b.execute(&format!(
                "const f = document.querySelector(\"{item} form.item-form\"); f.state.value = '{state}'; f.due_on.value = '{due}';"
            ))
            .await;
            b.type_into(&format!("{item} form.item-form textarea[name=notes]"), &format!("項目{key}：確認済み")).await;
            b.click(&format!("{item} .save-item")).await;
            b.wait_for_text(&format!("{item} .state"), match state {
                "done" => "対応済",
                "in_progress" => "対応中",
                _ => "対象外",
            })
            .await;
            if key == "10-1" {
                b.type_into(&format!("{item} form.evidence-file-form input[name=title]"), "保守契約書（写し）").await;
                b.choose_file(&format!("{item} form.evidence-file-form input[type=file]"), &contract).await;
                b.click(&format!("{item} .add-evidence-file")).await;
                b.wait_for_text(&format!("{item} ul.evidence"), "保守契約書.pdf").await;
            } else {
                b.type_into(&format!("{item} form.evidence-form input[name=title]"), &format!("規程 {key}")).await;
                b.type_into(
                    &format!("{item} form.evidence-form input[name=url]"),
                    &format!("https://intra.example.jp/kitei/{key}.pdf"),
                )
                .await;
                b.click(&format!("{item} .add-evidence")).await;
                b.wait_for_text(&format!("{item} ul.evidence"), &format!("規程 {key}")).await;
            }
        }
        b.goto(&at).await;
        let summary = b.text("#assessment-summary").await;
        assert!(summary.contains("対応済 49") && summary.contains("対応中 2") && summary.contains("対象外 1"), "{summary}");
        assert_eq!(b.execute("return document.querySelectorAll('ul.evidence li').length;").await, 52);
        let href: String =
            serde_json::from_value(b.execute("return document.querySelector('a.evidence-file').getAttribute('href');").await)
                .unwrap();
        let (status, _, bytes) = b.fetch(&href).await;
        assert_eq!((status, bytes.len()), (200, contract_bytes.len()));
        assert_eq!(bytes, contract_bytes, "the uploaded file comes back byte for byte");
        shot(&b, "workbench-assessment.png").await;

        // The reports, downloaded from the assessment's page: PDF and the checklist xlsx.
        for (link, magic, media) in [
            ("#report-pdf", &b"%PDF-"[..], "application/pdf"),
            ("#report-xlsx", &b"PK\x03\x04"[..], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ] {
            let href: String = serde_json::from_value(
                b.execute(&format!("return document.querySelector('{link}').getAttribute('href');")).await,
            )
            .unwrap();
            let (status, content_type, bytes) = b.fetch(&href).await;
            assert_eq!((status, content_type.as_str()), (200, media), "{link}");
            assert!(bytes.starts_with(magic) && bytes.len() > 1000, "{link}: {} bytes", bytes.len());
            if link == "#report-xlsx" {
                std::fs::write(tmp.root().join("checklist.xlsx"), &bytes).unwrap();
            }
        }
        let checklist = std::fs::read(tmp.root().join("checklist.xlsx")).unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(checklist)).unwrap();
        let mut strings = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("xl/sharedStrings.xml").unwrap(), &mut strings).unwrap();
        for word in ["確認日", "目標日", "はい", "いいえ", "対象外", "保守契約書（写し）"] {
            assert!(strings.contains(word), "the checklist holds {word}");
        }

        // Vendor A (MDS) on the form: two いいえ, each opening a risk record; one is filled in.
        b.goto(&format!("{base}compliance")).await;
        b.click("#vendors-link").await;
        b.wait_for_url("/compliance/vendors").await;
        b.goto(&format!("{base}compliance/vendors/new?catalog=mds-7.0")).await;
        b.type_into("input[name=vendor]", "株式会社カルテ工房").await;
        b.type_into("input[name=product]", "クラウド電子カルテ").await;
        b.type_into("input[name=jahis_version]", "JAHIS 24-101").await;
        b.execute(
            "document.querySelector('input[name=received_on]').value = '2026-10-01'; \
             const s = Array.from(document.querySelectorAll('#answers select')); \
             s.forEach((e, i) => { e.value = (i === 3 || i === 20) ? 'いいえ' : 'はい'; });",
        )
        .await;
        b.click("#record").await;
        b.wait_for_text("#vendor-title", "株式会社カルテ工房").await;
        assert_eq!(b.execute("return document.querySelectorAll('section.risk').length;").await, 2);
        fill_first_open_risk(&b, "遠隔保守の接続記録は院内で別途保存する").await;
        shot(&b, "workbench-vendor-mds.png").await;

        // Vendor B (SDS) by importing its filled form: the blank form from the page, answered.
        b.goto(&format!("{base}compliance/vendors")).await;
        let (status, _, form) = b.fetch("/compliance/vendors/template?catalog=sds-7.0&format=csv").await;
        assert_eq!(status, 200);
        let form = String::from_utf8(form).unwrap();
        let ids: Vec<&str> = form.trim_start_matches('\u{FEFF}').lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
        assert_eq!(ids.len(), 58, "every SDS row");
        let mut filled = String::from("id,answer,remark\n");
        for (i, id) in ids.iter().enumerate() {
            filled.push_str(&format!("{id},{},\n", if i == 7 { "いいえ" } else { "はい" }));
        }
        let sds = tmp.root().join("sds.csv");
        std::fs::write(&sds, filled).unwrap();
        b.type_into("#import-disclosure input[name=vendor]", "株式会社データ預かり").await;
        b.type_into("#import-disclosure input[name=product]", "外部保存サービス").await;
        b.type_into("#import-disclosure input[name=jahis_version]", "JAHIS 24-102").await;
        b.execute(
            "const f = document.querySelector('#import-disclosure'); f.received_on.value = '2026-10-15'; f.catalog.value = 'sds-7.0';",
        )
        .await;
        b.choose_file("#import-disclosure input[type=file]", &sds).await;
        b.click("#import").await;
        b.wait_for_text("#vendor-title", "株式会社データ預かり").await;
        assert_eq!(b.execute("return document.querySelectorAll('section.risk').length;").await, 1);
        fill_first_open_risk(&b, "バックアップの復元試験を年1回、立会いで行う").await;
        b.goto(&format!("{base}compliance/vendors")).await;
        let list = b.text("#vendor-disclosures").await;
        assert!(list.contains("株式会社カルテ工房") && list.contains("株式会社データ預かり"), "{list}");
        shot(&b, "workbench-vendors.png").await;
        b.quit().await;
    });
}

/// Fills in the first risk record still open on a vendor disclosure's page (justification,
/// owner, mitigation, review date) and waits until it shows as complete.
async fn fill_first_open_risk(b: &browser::Browser, mitigation: &str) {
    let key: String =
        serde_json::from_value(b.execute("return document.querySelector('section.risk.status-open').id;").await)
            .unwrap();
    let risk = format!("[id='{key}']");
    b.type_into(&format!("{risk} textarea[name=justification]"), "代替策により医療機関として許容する").await;
    b.type_into(&format!("{risk} textarea[name=mitigation]"), mitigation).await;
    b.execute(&format!(
        "const f = document.querySelector(\"{risk} form\"); f.owner.selectedIndex = 1; f.expires_on.value = '2027-09-30';"
    ))
    .await;
    b.click(&format!("{risk} .save-risk")).await;
    let state = b.wait_for_text(&format!("{risk} .state"), "記入済").await;
    assert!(state.contains("記入済"), "{state}");
}

/// An assessment of the 保守委託機関編 started straight in the store (there is no CLI command
/// to start one; the API and pages do), by the first administrator, with 9④ done (and a link
/// as its evidence) and 9⑤ 対象外.
fn seed_assessment(dir: &std::path::Path, institution: &str) -> String {
    use mamori_core::assessment::{Assessment, ItemAssessment, ItemState, carry_over};
    rt().block_on(async {
        let store = mamori_store::SqliteStore::open(&dir.join("mamori.db"), 1).await.unwrap();
        let store: &dyn mamori_store::Store = &store;
        let institution: mamori_core::InstitutionId = institution.parse().unwrap();
        let admin =
            store.users(institution).await.unwrap().into_iter().find(|u| u.login_id.as_str() == "admin").unwrap();
        let now = time::OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
        let assessment = Assessment {
            institution,
            id: mamori_core::AssessmentId::generate(&mut rand_core::OsRng),
            catalog: "hoshu-7.0".into(),
            title: "2026年度 自己点検".into(),
            period_start: time::macros::date!(2026 - 04 - 01),
            period_end: time::macros::date!(2027 - 03 - 31),
            carried_from: None,
            created_by: admin.id,
            created_at: now,
        };
        let ids: Vec<String> = mamori_compliance::catalogs()
            .unwrap()
            .into_iter()
            .find(|c| c.catalog.id == "hoshu-7.0")
            .unwrap()
            .items
            .into_iter()
            .map(|i| i.id)
            .collect();
        let items = carry_over(&assessment, &ids, &[]);
        let mut tx = store.begin().await.unwrap();
        tx.create_assessment(&assessment, &items).await.unwrap();
        let first = items.iter().find(|i| i.item == "hoshu-7.0/9-4").unwrap().clone();
        let done = ItemAssessment { state: ItemState::Done, version: 2, ..first };
        assert!(tx.update_item(&done).await.unwrap());
        let first = items.iter().find(|i| i.item == "hoshu-7.0/9-5").unwrap().clone();
        let na =
            ItemAssessment {
                state: ItemState::NotApplicable, notes: "院内にサーバはない".into(), version: 2, ..first
            };
        assert!(tx.update_item(&na).await.unwrap());
        let evidence = mamori_core::assessment::Evidence {
            institution,
            id: mamori_core::EvidenceId::generate(&mut rand_core::OsRng),
            revision: 1,
            assessment: assessment.id,
            item: "hoshu-7.0/9-4".into(),
            title: "二要素認証の運用規程".into(),
            kind: mamori_core::assessment::EvidenceKind::Link { url: "https://intra.example.jp/kitei/2fa.pdf".into() },
            owner: Some(admin.id),
            effective_on: Some(time::macros::date!(2026 - 04 - 01)),
            expires_on: Some(time::macros::date!(2027 - 03 - 31)),
            added_by: admin.id,
            added_at: now,
        };
        tx.add_evidence(&evidence).await.unwrap();
        tx.commit().await.unwrap();
        assessment.id.to_string()
    })
}

#[test]
fn assessment_report_writes_pdf_xlsx_and_oscal_and_refuses_bad_input() {
    let tmp = TempDir::new("report");
    let dir = tmp.data();
    let report = init_json(&dir, &[]);
    let d = dir.to_str().unwrap();
    let id = seed_assessment(&dir, report["institution_id"].as_str().unwrap());
    let out_file = |name: &str| tmp.root().join(name);
    let write = |format: &str, out: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["assessment", "report", "--data", d, "--assessment", &id, "--format", format, "--out"];
        args.push(out.to_str().unwrap());
        args.extend_from_slice(extra);
        run(&args)
    };
    let pdf = out_file("report.pdf");
    let out = write("pdf", &pdf, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-") && bytes.windows(11).any(|w| w == b"IPAexGothic"));
    let xlsx = out_file("report.xlsx");
    assert!(write("xlsx", &xlsx, &[]).status.success());
    assert!(std::fs::read(&xlsx).unwrap().starts_with(b"PK"), "an xlsx is a zip");
    let oscal = out_file("assessment-results.json");
    assert!(write("oscal", &oscal, &[]).status.success());
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&oscal).unwrap()).unwrap();
    let findings = doc["assessment-results"]["results"][0]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 52);
    let done = findings.iter().find(|f| f["target"]["target-id"] == "hoshu-7.0_9-4_smt").unwrap();
    assert_eq!(done["target"]["status"]["state"], "satisfied");
    assert_eq!(done["related-observations"].as_array().unwrap().len(), 2, "the link and the live evidence");
    let na = findings.iter().find(|f| f["target"]["target-id"] == "hoshu-7.0_9-5_smt").unwrap();
    assert_eq!(na["target"]["implementation-status"]["state"], "not-applicable");
    // CI validates this export against the OSCAL models (.ci/run).
    if let Ok(keep) = std::env::var("MAMORI_TEST_OSCAL_OUT") {
        std::fs::copy(&oscal, keep).unwrap();
    }

    // Each report is in the audit trail as the operator's, with its format.
    let formats = rt().block_on(async {
        let store = mamori_store::SqliteStore::open(&dir.join("mamori.db"), 1).await.unwrap();
        let store: &dyn mamori_store::Store = &store;
        let q = mamori_core::audit::AuditQuery {
            action: Some("compliance.report".into()),
            limit: 10,
            ..Default::default()
        };
        let institution = report["institution_id"].as_str().unwrap().parse().unwrap();
        let mut formats: Vec<String> = store
            .audit_search(institution, &q)
            .await
            .unwrap()
            .iter()
            .map(|(_, leaf)| mamori_core::audit::AuditEvent::from_leaf(leaf).unwrap())
            .inspect(|e| assert_eq!(e.actor, mamori_core::audit::Actor::Operator))
            .map(|e| e.detail["format"].clone())
            .collect();
        formats.sort();
        formats
    });
    assert_eq!(formats, ["oscal", "pdf", "xlsx"]);

    // Refusals: exit 2 with a clear message, nothing written.
    let missing = out_file("missing.pdf");
    let out = write("pdf", &missing, &["--gothic-font", "/nonexistent/ipaexg.ttf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent/ipaexg.ttf") && stderr(&out).contains("fonts-ipaexfont"),
        "{}",
        stderr(&out)
    );
    assert!(!missing.exists());
    // The fonts come from [reports] in the configuration (here through its variable).
    let out = harness::mamori()
        .args(["assessment", "report", "--data", d, "--assessment", &id, "--format", "pdf", "--out"])
        .arg(&missing)
        .env("MAMORI_REPORT_MINCHO_FONT", "/nonexistent/env-mincho.ttf")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/env-mincho.ttf"), "{}", stderr(&out));
    assert!(!missing.exists());
    let unknown = "0191a3c0-1111-7000-8000-00000000abcd";
    let out = run(&[
        "assessment",
        "report",
        "--data",
        d,
        "--assessment",
        unknown,
        "--format",
        "xlsx",
        "--out",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no such assessment"), "{}", stderr(&out));
    assert!(!missing.exists());
    let out = write("docx", &missing, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!missing.exists());
}

/// `mamori vendor template` writes the blank form (CSV or xlsx); filled in, it imports with
/// `mamori vendor import`, opening a risk record per いいえ; a bad file is refused with its line
/// and nothing is recorded.
#[test]
fn a_vendor_form_filled_in_imports_and_a_bad_one_records_nothing() {
    let tmp = TempDir::new("vendor");
    let dir = tmp.data();
    init_json(&dir, &[]);
    let d = dir.to_str().unwrap();
    let count = || dump(&dir, "SELECT CAST(count(*) AS TEXT) FROM vendor_disclosures")[0].clone();
    let risks = || dump(&dir, "SELECT CAST(count(*) AS TEXT) FROM vendor_risks")[0].clone();

    // CSV: the form to stdout, filled in (いいえ for the first row), imported.
    let out = run(&["vendor", "template", "--catalog", "mds-7.0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let form = String::from_utf8(out.stdout).unwrap();
    let form = form.trim_start_matches('\u{feff}');
    assert!(form.starts_with("id,number,text,answer,remark\n"));
    let filled: Vec<String> = form
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            0 => l.to_owned(),
            1 => format!("{}いいえ,ネットワーク分離で代替", l.strip_suffix(',').unwrap()),
            _ => format!("{}はい,", l.strip_suffix(',').unwrap()),
        })
        .collect();
    assert_eq!(filled.len(), 42);
    let file = tmp.root().join("mds.csv");
    let import = |file: &std::path::Path, catalog: &str| {
        run(&[
            "vendor",
            "import",
            file.to_str().unwrap(),
            "--vendor",
            "A社",
            "--product",
            "電子カルテ",
            "--catalog",
            catalog,
            "--jahis-version",
            "JAHIS 24-101",
            "--received-on",
            "2026-10-01",
            "--data",
            d,
            "--json",
        ])
    };
    // A bad line first: refused with its number, nothing recorded.
    let mut bad = filled.clone();
    bad[7] = bad[7].replace(",はい,", ",たぶん,");
    std::fs::write(&file, bad.join("\n")).unwrap();
    let out = import(&file, "mds-7.0");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 8: answer:"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("たぶん"), "the value is not echoed");
    assert_eq!((count(), risks()), ("0".to_owned(), "0".to_owned()), "nothing half-imported");
    std::fs::write(&file, filled.join("\n")).unwrap();
    let out = import(&file, "mds-7.0");
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["yes"].as_u64(), summary["no"].as_u64(), summary["risks"].as_u64()),
        (Some(40), Some(1), Some(1))
    );
    assert_eq!((count(), risks()), ("1".to_owned(), "1".to_owned()));
    // The operator recorded it: no user is named, and the event is the operator's.
    assert_eq!(dump(&dir, "SELECT COALESCE(entered_by, 'none') FROM vendor_disclosures"), ["none"]);
    let out = import(&file, "sds-7.0");
    assert_eq!(out.status.code(), Some(2), "an MDS form is not an SDS form: {}", stderr(&out));

    // xlsx: the form written to --out, filled in a spreadsheet, imported.
    let xlsx = tmp.root().join("sds.xlsx");
    let out = run(&["vendor", "template", "--catalog", "sds-7.0", "--format", "xlsx", "--out", xlsx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let header = mamori_core::vendor::TEMPLATE_HEADER;
    let rows =
        mamori_core::table::read(&std::fs::read(&xlsx).unwrap(), mamori_core::table::Format::Xlsx, &header).unwrap();
    assert_eq!(rows.len(), 58);
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in (0u16..).zip(header) {
        sheet.write_string(0, c, h).unwrap();
    }
    for (r, row) in (1u32..).zip(&rows) {
        for c in 0..3u16 {
            sheet.write_string(r, c, row.cell(usize::from(c))).unwrap();
        }
        sheet.write_string(r, 3, if r <= 2 { "いいえ" } else { "対象外" }).unwrap();
    }
    std::fs::write(&xlsx, book.save_to_buffer().unwrap()).unwrap();
    let out = import(&xlsx, "sds-7.0");
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["no"].as_u64(), summary["not_applicable"].as_u64(), summary["risks"].as_u64()),
        (Some(2), Some(56), Some(2))
    );
    assert_eq!((count(), risks()), ("2".to_owned(), "3".to_owned()));
    let out = run(&["vendor", "template", "--catalog", "hoshu-7.0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["vendor", "template", "--catalog", "mds-7.0", "--format", "xlsx"]);
    assert_eq!(out.status.code(), Some(2), "xlsx needs --out");
    assert!(run(&["verify", "--data", d]).status.success());
}
