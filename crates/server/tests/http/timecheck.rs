//! Accurate time (MDS 5, 16.1): a fake SNTP server on 127.0.0.1 answers relative to the
//! fixture's `FixedClock`; the check's outcome shows in `/readyz` and `/metrics`, and writes
//! (but not signing in) are refused while the clock is out of tolerance or unconfirmed.

use super::session::{Client, account_with, login};
use super::{Fixture, fixture, fixture_with, get, send};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use mamori_core::timecheck::{NtpTimestamp, ReplyError, TimeStatus};
use mamori_core::{Clock, FixedClock, JobType, Role};
use mamori_server::timecheck::{QueryError, check_once, check_once_within, query, spawn_checker};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// How the fake server answers.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// Its clock is the fixture's plus this much.
    Offset(time::Duration),
    /// A correct time, but an originate timestamp that is not our transmit timestamp.
    WrongOriginate,
    /// Never.
    Silent,
}

/// A fake SNTP server on an ephemeral loopback port; `answer` can be changed while it runs.
struct FakeNtp {
    addr: SocketAddr,
    answer: Arc<Mutex<Answer>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeNtp {
    async fn bind() -> (UdpSocket, SocketAddr) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        (socket, addr)
    }

    fn start(socket: UdpSocket, clock: Arc<FixedClock>, answer: Answer) -> Self {
        let addr = socket.local_addr().unwrap();
        let answer = Arc::new(Mutex::new(answer));
        let shared = answer.clone();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((len, from)) = socket.recv_from(&mut buf).await {
                assert_eq!(len, 48, "a request is 48 bytes");
                assert_eq!(buf[0], 0x23, "LI 0, version 4, client mode");
                let mut originate: [u8; 8] = buf[40..48].try_into().unwrap();
                let offset = match *shared.lock().unwrap() {
                    Answer::Silent => continue,
                    Answer::Offset(offset) => offset,
                    Answer::WrongOriginate => {
                        originate[7] ^= 1;
                        time::Duration::ZERO
                    }
                };
                let now = NtpTimestamp::from_time(clock.now() + offset).to_bytes();
                let mut reply = [0u8; 48];
                reply[0] = 0x24; // LI 0, version 4, server mode
                reply[1] = 2; // stratum
                reply[3] = 0xEC; // precision 2^-20 s
                reply[12..16].copy_from_slice(&[127, 0, 0, 1]); // reference ID: the upstream's address
                reply[16..24].copy_from_slice(&now); // reference
                reply[24..32].copy_from_slice(&originate);
                reply[32..40].copy_from_slice(&now); // receive (T2)
                reply[40..48].copy_from_slice(&now); // transmit (T3)
                socket.send_to(&reply, from).await.unwrap();
            }
        });
        Self { addr, answer, task }
    }

    fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }
}

impl Drop for FakeNtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fixture whose `time.ntp_server` is a fake server answering `answer`.
async fn with_fake_ntp(name: &str, answer: Answer) -> (Fixture, FakeNtp) {
    let (socket, addr) = FakeNtp::bind().await;
    let fx = fixture_with(name, |c| c.time.ntp_server = Some(addr.to_string())).await;
    let ntp = FakeNtp::start(socket, fx.clock.clone(), answer);
    (fx, ntp)
}

async fn readyz(fx: &Fixture) -> (StatusCode, Value) {
    let (status, _, body) = send(&fx.state, get("/readyz")).await;
    (status, serde_json::from_str(&body).unwrap())
}

async fn metrics(fx: &Fixture) -> String {
    send(&fx.state, get("/metrics")).await.2
}

fn assert_offset(got: time::Duration, want: time::Duration) {
    assert!((got - want).unsigned_abs() <= Duration::from_millis(1), "offset {got}, expected {want}");
}

#[tokio::test]
async fn the_offset_of_a_server_ahead_of_us_is_measured_and_shown() {
    let ahead = time::Duration::milliseconds(250);
    let (fx, ntp) = with_fake_ntp("time-ok", Answer::Offset(ahead)).await;

    let status = check_once(&fx.state).await;
    let TimeStatus::Ok { offset, delay, checked_at, server } = status else {
        panic!("expected a good check, got {status:?}");
    };
    assert_offset(offset, ahead);
    assert_offset(delay, time::Duration::ZERO);
    assert_eq!(checked_at, fx.clock_now());
    assert_eq!(server, ntp.addr.to_string());
    assert_eq!(fx.state.time_status(), TimeStatus::Ok { offset, delay, checked_at, server });

    let (code, v) = readyz(&fx).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "ready");
    assert_eq!(v["clock"]["status"], "ok");
    assert!((v["clock"]["offset_ms"].as_f64().unwrap() - 250.0).abs() <= 1.0, "{v}");
    assert_eq!(v["clock"]["server"], ntp.addr.to_string());
    assert_eq!(v["clock"]["checked_at"], "2026-11-25T09:00:00Z");
    let text = metrics(&fx).await;
    assert!(text.contains("\nmamori_clock_offset_seconds 0.250000\n"), "{text}");
    assert!(text.contains("\nmamori_clock_check_ok 1\n"), "{text}");

    // The same through `query`, for a server behind us by a fraction of a second.
    ntp.set(Answer::Offset(time::Duration::milliseconds(-1_250)));
    let exchange = query(&ntp.addr.to_string(), fx.clock.as_ref(), Duration::from_secs(2)).await.unwrap();
    assert_offset(exchange.measurement.offset, time::Duration::milliseconds(-1_250));
    assert_eq!(exchange.address, ntp.addr);

    // The checker checks at once when started.
    ntp.set(Answer::Offset(time::Duration::milliseconds(-40)));
    let checker = spawn_checker(fx.state.clone());
    let deadline = Instant::now() + Duration::from_secs(5);
    while fx
        .state
        .time_status()
        .offset()
        .is_none_or(|o| (o + time::Duration::milliseconds(40)).abs() > time::Duration::MILLISECOND)
    {
        assert!(Instant::now() < deadline, "the checker did not check: {:?}", fx.state.time_status());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    checker.abort();
}

#[tokio::test]
async fn beyond_the_limit_writes_are_refused_but_signing_in_and_out_still_work() {
    let (fx, ntp) = with_fake_ntp("time-off", Answer::Offset(time::Duration::seconds(-5))).await;
    let boss =
        account_with(&fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    let status = check_once(&fx.state).await;
    assert!(matches!(status, TimeStatus::Ok { offset, .. } if offset < time::Duration::seconds(-4)), "{status:?}");

    // Signing in works (password, then the code): people can see the problem.
    let mut admin = login(&fx, &boss).await;
    assert_eq!(admin.get("/api/v1/me").await.status, StatusCode::OK);
    assert_eq!(admin.get("/api/v1/users").await.status, StatusCode::OK, "reading goes on");

    let r = admin
        .post(
            "/api/v1/users",
            json!({"login_id": "suzuki", "display_name": "鈴木 一郎", "job_type": "doctor", "roles": ["doctor"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "clock_out_of_tolerance");
    let ja = r.body["error"]["message_ja"].as_str().unwrap();
    let en = r.body["error"]["message_en"].as_str().unwrap();
    assert!(ja.contains("5.000秒進んで") && ja.contains("書き込みを停止"), "{ja}");
    assert!(en.contains("5.000 s ahead of") && en.contains("system administrator"), "{en}");
    assert!(fx.state.store.find_login(&mamori_core::LoginId::parse("suzuki").unwrap()).await.unwrap().is_none());
    // A clinical record is refused the same way (records are written only on a trusted clock).
    let r = admin
        .post(
            "/api/v1/patients/0b7a3c9e-1111-4222-8333-944455556666/records",
            json!({"chart": "0b7a3c9e-1111-4222-8333-944455556666", "kind": "document", "content": {"title": "t", "body": "b"}}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("clock_out_of_tolerance"))
    );
    // The refusals themselves are in the trail, with who tried.
    let q = mamori_core::audit::AuditQuery {
        action: Some("clock.write_refused".into()),
        actor: Some(boss.id),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(fx.state.store.audit_search(fx.institution, &q).await.unwrap().len(), 2);
    for (method, path) in
        [("PUT", "/api/v1/roles/doctor"), ("DELETE", "/api/v1/me/webauthn/x"), ("PATCH", "/api/v1/users")]
    {
        let r = admin.send(method, path, Some(json!({}))).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{method} {path}: {}", r.text);
    }

    // A page form gets the same message as plain text.
    let req = Request::post("/admin/users")
        .header("cookie", admin.cookie.clone().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("login_id=suzuki"))
        .unwrap();
    let (status, headers, text) = send(&fx.state, req).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/plain"), "{headers:?}");
    assert!(text.starts_with(ja) && text.contains(en), "{text}");

    // Not ready, and the metrics show the offset.
    let (code, v) = readyz(&fx).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!((v["status"].as_str(), v["database"].as_str()), (Some("not_ready"), Some("ok")));
    assert_eq!(v["clock"]["status"], "out_of_tolerance");
    assert!((v["clock"]["offset_ms"].as_f64().unwrap() + 5000.0).abs() <= 1.0, "{v}");
    let text = metrics(&fx).await;
    assert!(text.contains("\nmamori_clock_offset_seconds -5.000000\n"), "{text}");
    assert!(text.contains("\nmamori_clock_check_ok 1\n"), "{text}");

    // Logging out and signing in again still work; a failed sign-in is the usual 401.
    let r = admin.send("DELETE", "/api/v1/session", None).await;
    assert!(r.status.is_success(), "{}: {}", r.status, r.text);
    let mut other = Client::new(&fx);
    let r = other.post("/api/v1/session", json!({"login_id": "kanri", "password": "wrong-password-here"})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    // Past the failed attempt's delay and into the next TOTP step (a code is accepted once).
    fx.advance(Duration::from_secs(30));
    let mut admin = login(&fx, &boss).await;

    // Once the clock is right again, writes go through.
    ntp.set(Answer::Offset(time::Duration::milliseconds(3)));
    assert!(matches!(check_once(&fx.state).await, TimeStatus::Ok { .. }));
    let r = admin
        .post(
            "/api/v1/users",
            json!({"login_id": "suzuki", "display_name": "鈴木 一郎", "job_type": "doctor", "roles": ["doctor"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(readyz(&fx).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_server_that_never_answers_fails_after_the_timeout_and_writes_stop_after_max_age() {
    let (fx, _ntp) = with_fake_ntp("time-silent", Answer::Silent).await;
    let started = Instant::now();
    let status = check_once_within(&fx.state, Duration::from_millis(200)).await;
    assert!(started.elapsed() < Duration::from_secs(2), "the short timeout applies: {:?}", started.elapsed());
    let TimeStatus::Failed { error, since, failed_at, last_offset } = &status else {
        panic!("expected a failure, got {status:?}");
    };
    assert!(error.en.contains("did not answer within 200 ms") && error.ja.contains("200ミリ秒"), "{error:?}");
    assert_eq!((*since, *failed_at, *last_offset), (fx.clock_now(), fx.clock_now(), None));

    // Failed, but within max_age (three check intervals = 15 minutes): still ready, writes go on.
    let (code, v) = readyz(&fx).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["clock"]["status"], "failed");
    assert_eq!(v["clock"]["offset_ms"], Value::Null);
    assert_eq!(v["clock"]["checked_at"], "2026-11-25T09:00:00Z");
    let text = metrics(&fx).await;
    assert!(text.contains("\nmamori_clock_check_ok 0\n") && !text.contains("mamori_clock_offset_seconds "), "{text}");
    let mut anonymous = Client::new(&fx);
    let users = json!({"login_id": "x-new", "display_name": "x", "job_type": "doctor", "roles": []});
    assert_eq!(anonymous.post("/api/v1/users", users.clone()).await.status, StatusCode::UNAUTHORIZED);

    // Unconfirmed for longer than max_age: no longer trusted.
    fx.advance(Duration::from_secs(15 * 60 + 1));
    let (code, v) = readyz(&fx).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!((v["status"].as_str(), v["clock"]["status"].as_str()), (Some("not_ready"), Some("failed")));
    let r = anonymous.post("/api/v1/users", users).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "clock_out_of_tolerance");
    assert!(r.body["error"]["message_en"].as_str().unwrap().contains("for more than 15m"), "{}", r.body);
    let r = anonymous.post("/api/v1/session", json!({"login_id": "nobody", "password": "wrong-password-here"})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "signing in is not refused for the clock: {}", r.text);
}

#[tokio::test]
async fn a_reply_with_the_wrong_originate_timestamp_is_refused() {
    let (fx, ntp) = with_fake_ntp("time-originate", Answer::WrongOriginate).await;
    let refused = query(&ntp.addr.to_string(), fx.clock.as_ref(), Duration::from_secs(2)).await;
    assert!(
        matches!(refused, Err(QueryError::Reply { source: ReplyError::OriginateMismatch, address }) if address == ntp.addr),
        "{refused:?}"
    );
    let status = check_once(&fx.state).await;
    assert!(
        matches!(&status, TimeStatus::Failed { error, .. } if *error == ReplyError::OriginateMismatch.message()),
        "{status:?}"
    );
    assert_eq!(readyz(&fx).await.1["clock"]["status"], "failed");
}

#[tokio::test]
async fn without_a_server_the_clock_is_unchecked_and_writes_are_allowed() {
    let fx = fixture("time-unchecked").await;
    assert_eq!(check_once(&fx.state).await, TimeStatus::Unchecked);
    let checker = spawn_checker(fx.state.clone());
    tokio::time::timeout(Duration::from_secs(1), checker).await.unwrap().unwrap();
    let (code, v) = readyz(&fx).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["clock"], json!({"status": "unchecked", "offset_ms": null, "server": null, "checked_at": null}));
    assert!(!metrics(&fx).await.contains("mamori_clock"));
    fx.advance(Duration::from_secs(400 * 24 * 60 * 60));
    let mut anonymous = Client::new(&fx);
    let r = anonymous
        .post("/api/v1/users", json!({"login_id": "x-new", "display_name": "x", "job_type": "doctor", "roles": []}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
}
