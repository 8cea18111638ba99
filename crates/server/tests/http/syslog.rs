//! The audit trail forwarded to a syslog collector over TLS (RFC 5425): a collector on
//! 127.0.0.1 (tokio-rustls, certificates made here with rcgen) parses octet-counted frames and
//! keeps the raw bytes; the forwarder is driven one round at a time with `forward_once`.

use super::session::{Client, account_with, login};
use super::{Fixture, fixture_with};
use axum::http::StatusCode;
use mamori_core::audit::{Actor, AuditEvent, Outcome};
use mamori_core::config::{ClientAuth, Config, ConfigError};
use mamori_core::{Institution, InstitutionId, InstitutionName, JobType, Role};
use mamori_server::syslog::{
    BATCH, Connection, Round, SyslogError, cursor_path, forward_once, read_cursor, spawn_forwarder,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A certificate authority made for one test.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate and key (PEM) for `names`, for a server or a client.
    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("client"));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// What a collector received, kept across its restarts.
#[derive(Default)]
struct Received {
    /// Every byte read from every connection, in order.
    raw: Mutex<Vec<u8>>,
    /// The messages, one per frame.
    messages: Mutex<Vec<String>>,
    /// Framing errors (must stay empty).
    problems: Mutex<Vec<String>>,
    /// Completed handshakes, and how many of them came with a client certificate.
    handshakes: AtomicUsize,
    with_client_certificate: AtomicUsize,
    /// Handshakes that failed.
    refused: AtomicUsize,
}

impl Received {
    fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits (at most 5 s) until `count` messages have arrived.
    async fn wait_for(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.messages();
            if got.len() >= count || Instant::now() > deadline {
                assert!(self.problems.lock().unwrap().is_empty(), "{:?}", self.problems.lock().unwrap());
                return got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits (at most 5 s) for `count` refused handshakes.
    async fn wait_refused(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.refused.load(Ordering::SeqCst) < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(self.refused.load(Ordering::SeqCst) >= count, "the collector refused the handshake");
    }
}

/// An RFC 5425 collector on a loopback port.
struct Collector {
    addr: SocketAddr,
    received: Arc<Received>,
    tls: Arc<rustls::ServerConfig>,
    accept: JoinHandle<()>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Collector {
    /// A collector with a certificate for `localhost` from `ca`; with `client_ca`, it requires
    /// a client certificate from that CA.
    async fn start(ca: &Ca, client_ca: Option<&Ca>) -> Self {
        let (cert, key) = ca.issue(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
        let client_ca_pem = client_ca.map(Ca::pem);
        let auth = if client_ca.is_some() { ClientAuth::Required } else { ClientAuth::Off };
        let tls = mamori_server::tls::server_config(
            cert.as_bytes(),
            key.as_bytes(),
            "1.2",
            auth,
            client_ca_pem.as_deref().map(str::as_bytes),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, Arc::new(tls), Arc::default())
    }

    fn serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, received: Arc<Received>) -> Self {
        let addr = listener.local_addr().unwrap();
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
        let (shared, tasks) = (received.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, received) = (acceptor.clone(), shared.clone());
                tasks.lock().unwrap().push(tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        received.refused.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    received.handshakes.fetch_add(1, Ordering::SeqCst);
                    if stream.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty()) {
                        received.with_client_certificate.fetch_add(1, Ordering::SeqCst);
                    }
                    read_frames(BufReader::new(stream), &received).await;
                }));
            }
        });
        Self { addr, received, tls, accept, connections }
    }

    /// Stops listening and closes every connection (their sockets are closed on return).
    async fn stop(self) -> (SocketAddr, Arc<rustls::ServerConfig>, Arc<Received>) {
        self.accept.abort();
        let _ = self.accept.await;
        let connections: Vec<_> = self.connections.lock().unwrap().drain(..).collect();
        for task in connections {
            task.abort();
            let _ = task.await;
        }
        (self.addr, self.tls, self.received)
    }

    /// Listens again on the same port, keeping what was received.
    async fn restart(addr: SocketAddr, tls: Arc<rustls::ServerConfig>, received: Arc<Received>) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        Self::serve(listener, tls, received)
    }
}

/// Reads `MSG-LEN SP SYSLOG-MSG` frames (RFC 5425 §4.3) until the connection ends.
async fn read_frames<R: tokio::io::AsyncRead + Unpin>(mut reader: BufReader<R>, received: &Received) {
    loop {
        let mut length = Vec::new();
        match reader.read_until(b' ', &mut length).await {
            Ok(0) | Err(_) if length.is_empty() => return,
            Ok(_) if length.last() == Some(&b' ') => {}
            other => {
                received.problems.lock().unwrap().push(format!("truncated length {length:?}: {other:?}"));
                return;
            }
        }
        received.raw.lock().unwrap().extend_from_slice(&length);
        length.pop();
        // MSG-LEN = NONZERO-DIGIT *DIGIT
        let digits = std::str::from_utf8(&length).unwrap_or("");
        let valid = !digits.is_empty()
            && !digits.starts_with('0')
            && digits.len() <= 9
            && digits.chars().all(|c| c.is_ascii_digit());
        if !valid {
            received.problems.lock().unwrap().push(format!("bad MSG-LEN {digits:?}"));
            return;
        }
        let mut message = vec![0u8; digits.parse().unwrap()];
        if let Err(e) = reader.read_exact(&mut message).await {
            received.problems.lock().unwrap().push(format!("truncated message of {digits} octets: {e}"));
            return;
        }
        received.raw.lock().unwrap().extend_from_slice(&message);
        received.messages.lock().unwrap().push(String::from_utf8(message).unwrap());
    }
}

/// Where the test writes the PEM files, relative to the data directory.
const CA_FILE: &str = "syslog-tls/ca.pem";
const CLIENT_CERT_FILE: &str = "syslog-tls/client.pem";
const CLIENT_KEY_FILE: &str = "syslog-tls/client-key.pem";

/// A fixture forwarding to `collector`, verifying it with `ca` under the name `localhost`;
/// with `client`, presenting that certificate and key.
async fn forwarding(name: &str, collector: SocketAddr, ca: &Ca, client: Option<(String, String)>) -> Fixture {
    forwarding_as(name, collector, Some("localhost"), ca, client).await
}

async fn forwarding_as(
    name: &str,
    collector: SocketAddr,
    server_name: Option<&str>,
    ca: &Ca,
    client: Option<(String, String)>,
) -> Fixture {
    let with_client = client.is_some();
    let fx = fixture_with(name, |c| {
        c.audit.syslog_tls = Some(collector.to_string());
        c.audit.syslog_ca = Some(CA_FILE.into());
        c.audit.syslog_server_name = server_name.map(str::to_owned);
        if with_client {
            c.audit.syslog_client_cert = Some(CLIENT_CERT_FILE.into());
            c.audit.syslog_client_key = Some(CLIENT_KEY_FILE.into());
        }
    })
    .await;
    std::fs::create_dir_all(fx.dir.join("syslog-tls")).unwrap();
    std::fs::write(fx.dir.join(CA_FILE), ca.pem()).unwrap();
    if let Some((cert, key)) = client {
        std::fs::write(fx.dir.join(CLIENT_CERT_FILE), cert).unwrap();
        std::fs::write(fx.dir.join(CLIENT_KEY_FILE), key).unwrap();
    }
    fx
}

async fn round(fx: &Fixture, connection: &mut Option<Connection>) -> Result<Round, SyslogError> {
    forward_once(&fx.state, &fx.dir, connection).await
}

async fn head(fx: &Fixture, institution: InstitutionId) -> u64 {
    fx.state.store.log_head(institution).await.unwrap().size
}

fn cursor(fx: &Fixture, institution: InstitutionId) -> Option<u64> {
    let path = cursor_path(&fx.dir, institution);
    path.exists().then(|| read_cursor(&path).unwrap())
}

/// A nurse's refused password, then a good login: three events, one of them denied.
async fn some_logins(fx: &Fixture, login_id: &'static str) {
    let nurse = account_with(fx, fx.institution, login_id, JobType::Nurse, &[Role::Nurse], true, false).await;
    let r =
        Client::new(fx).post("/api/v1/session", json!({"login_id": login_id, "password": "wrong-password-1"})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    fx.advance(Duration::from_secs(2));
    login(fx, &nurse).await;
}

/// The frames mamori must have sent for leaves `range` of the institution's log, built here
/// from the stored leaves.
async fn expected(fx: &Fixture, institution: InstitutionId, range: std::ops::Range<u64>) -> (Vec<String>, Vec<u8>) {
    let mut messages = Vec::new();
    let mut raw = Vec::new();
    for (index, leaf, _) in fx.state.store.log_leaves(institution, range.start, range.end).await.unwrap() {
        let event = AuditEvent::from_leaf(&leaf).unwrap();
        let message = mamori_core::audit::export::to_syslog(&event, index, "localhost", &leaf);
        raw.extend_from_slice(format!("{} ", message.len()).as_bytes());
        raw.extend_from_slice(message.as_bytes());
        messages.push(message);
    }
    (messages, raw)
}

/// The `index="N"` of each message about `institution`.
fn indexes(messages: &[String], institution: InstitutionId) -> Vec<u64> {
    let mark = format!("institution=\"{institution}\" index=\"");
    messages
        .iter()
        .filter_map(|m| m.split_once(&mark))
        .map(|(_, rest)| rest.split('"').next().unwrap().parse().unwrap())
        .collect()
}

async fn second_institution(fx: &Fixture, events: usize) -> InstitutionId {
    let other = Institution {
        id: InstitutionId::generate(&mut rand_core::OsRng),
        name: InstitutionName::parse("第二クリニック").unwrap(),
        created_at: fx.clock_now() + Duration::from_secs(60),
    };
    fx.state.store.create_institution(&other).await.unwrap();
    for _ in 0..events {
        mamori_server::audit::record_system(fx.state.store.as_ref(), other.id, fx.clock_now(), "server.start", &[])
            .await
            .unwrap();
    }
    other.id
}

#[tokio::test]
async fn one_round_sends_every_event_in_order_in_exact_frames_and_moves_the_cursors() {
    let ca = Ca::new("syslog test CA");
    let collector = Collector::start(&ca, None).await;
    let fx = forwarding("syslog-order", collector.addr, &ca, None).await;
    some_logins(&fx, "kango").await;
    some_logins(&fx, "yakuzai").await;
    let other = second_institution(&fx, 3).await;
    let (size, other_size) = (head(&fx, fx.institution).await, head(&fx, other).await);
    assert!(size >= 6, "{size}");

    let mut connection = None;
    let sent = round(&fx, &mut connection).await.unwrap();
    assert_eq!(sent, Round { sent: size + other_size, behind: false });
    let messages = collector.received.wait_for(usize::try_from(size + other_size).unwrap()).await;

    // Byte for byte: each frame is the message's octet count, a space and the message; the
    // oldest institution first, each log in index order.
    let (mut want, mut want_raw) = expected(&fx, fx.institution, 0..size).await;
    let (other_want, other_raw) = expected(&fx, other, 0..other_size).await;
    want.extend(other_want);
    want_raw.extend(other_raw);
    assert_eq!(messages, want);
    assert_eq!(*collector.received.raw.lock().unwrap(), want_raw);
    assert_eq!(indexes(&messages, fx.institution), (0..size).collect::<Vec<_>>());
    assert_eq!(indexes(&messages, other), (0..other_size).collect::<Vec<_>>());
    for m in &messages {
        assert!(m.starts_with("<110>1 ") || m.starts_with("<108>1 "), "{m}");
        assert!(m.contains(" localhost mamori - "), "{m}");
    }
    assert!(messages.iter().any(|m| m.starts_with("<108>1 ") && m.contains(" login.password ")), "the refusal");
    assert!(messages.iter().any(|m| m.starts_with("<110>1 ") && m.contains(" login ")), "the login");

    // The cursors hold the heads, in private files.
    assert_eq!(cursor(&fx, fx.institution), Some(size));
    assert_eq!(cursor(&fx, other), Some(other_size));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(cursor_path(&fx.dir, fx.institution)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Nothing new: nothing sent, on the same connection.
    assert_eq!(round(&fx, &mut connection).await.unwrap(), Round::default());
    assert!(connection.is_some());

    // A restart: a new connection, the same cursors. Only the new events go, once.
    drop(connection.take());
    some_logins(&fx, "kensa").await;
    let grown = head(&fx, fx.institution).await;
    let sent = round(&fx, &mut connection).await.unwrap();
    assert_eq!(sent.sent, grown - size);
    let messages = collector.received.wait_for(usize::try_from(grown + other_size).unwrap()).await;
    assert_eq!(indexes(&messages, fx.institution), (0..grown).collect::<Vec<_>>(), "no duplicates, no gaps");
    let (new, _) = expected(&fx, fx.institution, size..grown).await;
    assert_eq!(messages[messages.len() - new.len()..], new[..]);
    assert_eq!(cursor(&fx, fx.institution), Some(grown));
    assert_eq!(collector.received.handshakes.load(Ordering::SeqCst), 2);
    assert_eq!(collector.received.with_client_certificate.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn while_the_collector_is_down_nothing_moves_and_everything_arrives_once_it_is_back() {
    let ca = Ca::new("syslog test CA");
    let collector = Collector::start(&ca, None).await;
    let fx = forwarding("syslog-down", collector.addr, &ca, None).await;
    some_logins(&fx, "kango").await;
    let mut connection = None;
    let first = round(&fx, &mut connection).await.unwrap().sent;
    collector.received.wait_for(usize::try_from(first).unwrap()).await;

    // The collector goes away (its connections close): the kept connection is found closed,
    // a new one is refused, and the cursor stays.
    let (addr, tls, received) = collector.stop().await;
    some_logins(&fx, "yakuzai").await;
    let size = head(&fx, fx.institution).await;
    for _ in 0..2 {
        let failed = round(&fx, &mut connection).await;
        assert!(matches!(failed, Err(SyslogError::Connect { .. })), "{failed:?}");
        assert!(connection.is_none());
        assert_eq!(cursor(&fx, fx.institution), Some(first));
    }
    assert_eq!(received.messages().len(), usize::try_from(first).unwrap());

    // Back on the same port: everything missing arrives, once, in order.
    let collector = Collector::restart(addr, tls, received).await;
    let sent = round(&fx, &mut connection).await.unwrap();
    assert_eq!(sent.sent, size - first);
    let messages = collector.received.wait_for(usize::try_from(size).unwrap()).await;
    assert_eq!(indexes(&messages, fx.institution), (0..size).collect::<Vec<_>>());
    assert_eq!(messages, expected(&fx, fx.institution, 0..size).await.0);
    assert_eq!(cursor(&fx, fx.institution), Some(size));
}

#[tokio::test]
async fn a_collector_not_signed_by_the_configured_ca_or_misnamed_is_refused() {
    let ours = Ca::new("our syslog CA");
    let theirs = Ca::new("someone else's CA");
    let impostor = Collector::start(&theirs, None).await;
    let fx = forwarding("syslog-impostor", impostor.addr, &ours, None).await;
    some_logins(&fx, "kango").await;
    let mut connection = None;
    let refused = round(&fx, &mut connection).await;
    assert!(matches!(refused, Err(SyslogError::Handshake { .. })), "{refused:?}");
    let shown = refused.unwrap_err().to_string();
    assert!(shown.contains("TLS") && !shown.contains("login"), "{shown}");
    impostor.received.wait_refused(1).await;
    assert_eq!(impostor.received.handshakes.load(Ordering::SeqCst), 0);
    assert!(impostor.received.raw.lock().unwrap().is_empty(), "no event was sent");
    assert_eq!(cursor(&fx, fx.institution), None);

    // Signed by the right CA, but for `localhost`, while the name checked is the address.
    let collector = Collector::start(&ours, None).await;
    let fx = forwarding_as("syslog-misnamed", collector.addr, None, &ours, None).await;
    some_logins(&fx, "kango").await;
    let refused = round(&fx, &mut None).await;
    assert!(matches!(refused, Err(SyslogError::Handshake { .. })), "{refused:?}");
    assert!(collector.received.raw.lock().unwrap().is_empty());
    assert_eq!(cursor(&fx, fx.institution), None);
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate_and_a_refused_client_sends_nothing() {
    let ca = Ca::new("syslog test CA");
    let clients = Ca::new("syslog clients CA");
    let collector = Collector::start(&ca, Some(&clients)).await;

    let certificate = clients.issue(&["mamori.example.jp"], ExtendedKeyUsagePurpose::ClientAuth);
    let fx = forwarding("syslog-mtls", collector.addr, &ca, Some(certificate)).await;
    some_logins(&fx, "kango").await;
    let size = head(&fx, fx.institution).await;
    assert_eq!(round(&fx, &mut None).await.unwrap().sent, size);
    collector.received.wait_for(usize::try_from(size).unwrap()).await;
    assert_eq!(collector.received.with_client_certificate.load(Ordering::SeqCst), 1);

    // Without a certificate, or with one the collector does not trust: refused after the TLS
    // 1.3 handshake, and nothing counts as sent.
    let stranger = Ca::new("unknown CA").issue(&["mamori.example.jp"], ExtendedKeyUsagePurpose::ClientAuth);
    for (name, client) in [("syslog-mtls-none", None), ("syslog-mtls-stranger", Some(stranger))] {
        let fx = forwarding(name, collector.addr, &ca, client).await;
        some_logins(&fx, "yakuzai").await;
        let refused = round(&fx, &mut None).await;
        assert!(matches!(refused, Err(SyslogError::Handshake { .. })), "{name}: {refused:?}");
        assert_eq!(cursor(&fx, fx.institution), None, "{name}");
    }
    collector.received.wait_refused(2).await;
    assert_eq!(collector.received.messages().len(), usize::try_from(size).unwrap());
}

#[tokio::test]
async fn a_long_log_goes_in_bounded_batches_and_a_bad_leaf_is_never_skipped() {
    let ca = Ca::new("syslog test CA");
    let collector = Collector::start(&ca, None).await;
    let fx = forwarding("syslog-batches", collector.addr, &ca, None).await;
    let at = fx.clock_now();
    let event = |n: u64| {
        AuditEvent::new(fx.institution, at, Actor::System, "server.start", Outcome::Allowed)
            .detail("n", n.to_string())
            .entry()
            .unwrap()
    };
    let entries: Vec<_> = (0..BATCH + 5).map(event).collect();
    fx.state.store.append_log(fx.institution, &entries).await.unwrap();

    let mut connection = None;
    assert_eq!(round(&fx, &mut connection).await.unwrap(), Round { sent: BATCH, behind: true });
    assert_eq!(cursor(&fx, fx.institution), Some(BATCH));
    assert_eq!(round(&fx, &mut connection).await.unwrap(), Round { sent: 5, behind: false });
    let total = BATCH + 5;
    let messages = collector.received.wait_for(usize::try_from(total).unwrap()).await;
    assert_eq!(indexes(&messages, fx.institution), (0..total).collect::<Vec<_>>());

    // A leaf that is not a canonical event (here: with a space) stops the forwarding there.
    let mut bad = event(1);
    bad.leaf.insert(1, b' ');
    fx.state.store.append_log(fx.institution, &[event(0), bad, event(2)]).await.unwrap();
    for _ in 0..2 {
        let stopped = round(&fx, &mut connection).await;
        assert!(matches!(stopped, Err(SyslogError::Leaf { index, .. }) if index == total + 1), "{stopped:?}");
        assert_eq!(cursor(&fx, fx.institution), Some(total + 1));
        assert!(connection.is_some(), "the connection is fine");
    }
    let messages = collector.received.wait_for(usize::try_from(total + 1).unwrap()).await;
    assert_eq!(indexes(&messages, fx.institution), (0..=total).collect::<Vec<_>>(), "nothing after the bad leaf");
}

#[tokio::test]
async fn the_forwarder_runs_on_its_own_until_aborted() {
    let ca = Ca::new("syslog test CA");
    let collector = Collector::start(&ca, None).await;
    let fx = fixture_with("syslog-task", |c| {
        c.audit.syslog_tls = Some(collector.addr.to_string());
        c.audit.syslog_ca = Some(CA_FILE.into());
        c.audit.syslog_server_name = Some("localhost".to_owned());
        c.audit.syslog_interval = mamori_core::config::HumanDuration(Duration::from_millis(100));
    })
    .await;
    std::fs::create_dir_all(fx.dir.join("syslog-tls")).unwrap();
    std::fs::write(fx.dir.join(CA_FILE), ca.pem()).unwrap();
    let task = spawn_forwarder(fx.state.clone(), fx.dir.clone()).unwrap();
    some_logins(&fx, "kango").await;
    let size = head(&fx, fx.institution).await;
    let messages = collector.received.wait_for(usize::try_from(size).unwrap()).await;
    assert_eq!(indexes(&messages, fx.institution), (0..size).collect::<Vec<_>>());
    task.abort();
    let _ = task.await;

    // Not configured: no task, and a round says why.
    let off = fixture_with("syslog-off", |_| {}).await;
    assert!(spawn_forwarder(off.state.clone(), off.dir.clone()).is_none());
    assert!(matches!(round(&off, &mut None).await, Err(SyslogError::NotConfigured)));
}

#[test]
fn incomplete_syslog_settings_are_refused_with_a_bilingual_message() {
    let refused =
        |text: &str, env: &[(&str, &str)]| match Config::parse(text, env.iter().copied()).map(|c| c.validate()) {
            Ok(Err(ConfigError::Invalid { key, message })) => {
                assert!(!message.ja.is_empty() && !message.en.is_empty(), "{message:?}");
                Some(key)
            }
            _ => None,
        };
    assert_eq!(refused("", &[("MAMORI_SYSLOG_TLS", "syslog.example.jp:6514")]), Some("audit.syslog_ca"));
    let tls = "[audit]\nsyslog_tls = \"syslog.example.jp:6514\"\nsyslog_ca = \"ca.pem\"\n";
    assert_eq!(refused(tls, &[]), None);
    assert_eq!(refused(tls, &[("MAMORI_SYSLOG_CLIENT_CERT", "c.pem")]), Some("audit.syslog_client_key"));
    assert_eq!(refused(tls, &[("MAMORI_SYSLOG_CLIENT_KEY", "k.pem")]), Some("audit.syslog_client_cert"));
    assert_eq!(refused(tls, &[("MAMORI_SYSLOG_INTERVAL", "10ms")]), Some("audit.syslog_interval"));
    assert_eq!(refused(tls, &[("MAMORI_SYSLOG_INTERVAL", "2h")]), Some("audit.syslog_interval"));
    assert_eq!(refused(tls, &[("MAMORI_SYSLOG_TLS", "syslog.example.jp")]), Some("audit.syslog_tls"));
}
