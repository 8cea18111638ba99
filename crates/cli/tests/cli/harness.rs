//! The one harness for tests that run the real `mamori` binary: temporary data directories,
//! `init`, a served instance on a loopback port, HTTPS clients that trust its certificate.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every environment variable the binary reads, removed so the caller's shell cannot leak in.
const MAMORI_VARS: &[&str] = &[
    "MAMORI_DATA",
    "MAMORI_LOG",
    "MAMORI_LOG_FORMAT",
    "MAMORI_LISTEN",
    "MAMORI_PUBLIC_URL",
    "MAMORI_TLS_CERT",
    "MAMORI_TLS_KEY",
    "MAMORI_TLS_MIN_VERSION",
    "MAMORI_TLS_CLIENT_AUTH",
    "MAMORI_TLS_CLIENT_CA",
    "MAMORI_DATABASE_URL",
    "MAMORI_DATABASE_MAX_CONNECTIONS",
    "MAMORI_IDLE_LOCK",
    "MAMORI_SESSION_LIFETIME",
    "MAMORI_PASSWORD_MIN_LENGTH",
    "MAMORI_ARGON2_MEMORY_KIB",
    "MAMORI_ARGON2_ITERATIONS",
    "MAMORI_ARGON2_PARALLELISM",
    "MAMORI_LOCKOUT_THRESHOLD",
    "MAMORI_LOCKOUT_WINDOW",
    "MAMORI_INACTIVE_AFTER",
    "MAMORI_REENROLL_PASS_TTL",
    "MAMORI_EMERGENCY_GRANT_TTL",
    "MAMORI_CHECKPOINT_SIGNING_KEY",
];

/// The `mamori` binary with a clean environment.
pub fn mamori() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mamori"));
    for var in MAMORI_VARS {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `mamori ARGS` to completion.
pub fn run(args: &[&str]) -> Output {
    mamori().args(args).output().expect("run mamori")
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A temporary directory removed on drop. `path()` itself does not exist until something
/// creates it (so `init` can be pointed at it).
pub struct TempDir {
    root: PathBuf,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("mamori-test-{}-{n}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("temp root");
        Self { root }
    }

    /// A path inside the root that does not exist yet: the data directory.
    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `mamori init --json` into `dir` with extra arguments; the parsed report.
pub fn init_json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["init", "--data", dir.to_str().expect("utf-8 path"), "--json"];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(out.status.success(), "init failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("init --json prints one JSON object")
}

/// A running `mamori serve`.
pub struct Server {
    child: Child,
    pub url: String,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `mamori serve --data DIR --listen 127.0.0.1:0 EXTRA…` with extra environment, and
    /// waits for it to say where it listens.
    pub fn start(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::try_start(dir, extra, env).unwrap_or_else(|(status, err)| panic!("serve exited ({status:?}): {err}"))
    }

    /// Like `start`, but returns the exit status and stderr when the server does not come up.
    pub fn try_start(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Result<Self, (Option<ExitStatus>, String)> {
        let mut cmd = mamori();
        cmd.args(["serve", "--data", dir.to_str().expect("utf-8 path")]);
        if !extra.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn mamori serve");
        let stdout_pipe = child.stdout.take().expect("stdout");
        let stderr_pipe = child.stderr.take().expect("stderr");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let stdout = stdout.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout_pipe).lines().map_while(Result::ok) {
                    if let Some(url) = line.strip_prefix("mamori: listening on ") {
                        let _ = tx.send(url.to_owned());
                    }
                    stdout.lock().expect("lock").push_str(&(line + "\n"));
                }
            });
        }
        {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = String::new();
                let mut reader = BufReader::new(stderr_pipe);
                loop {
                    buf.clear();
                    match reader.read_line(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => stderr.lock().expect("lock").push_str(&buf),
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(url) = rx.recv_timeout(Duration::from_millis(50)) {
                return Ok(Self { child, url, stdout, stderr });
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                let err = stderr.lock().expect("lock").clone();
                return Err((Some(status), err));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let err = stderr.lock().expect("lock").clone();
                return Err((None, err));
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (at most 20 s) for the process to exit.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        self.signal("-TERM")
    }

    /// Sends a signal (`-TERM`, `-INT`) and waits (at most 20 s) for the process to exit.
    pub fn signal(&mut self, signal: &str) -> (ExitStatus, String) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return (status, self.stderr.lock().expect("lock").clone());
            }
            assert!(Instant::now() < deadline, "serve did not stop within 20 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        let hostport = self.url.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
        hostport.parse().expect("listen address")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The TLS versions a test client offers.
#[derive(Debug, Clone, Copy)]
pub enum Versions {
    Both,
    Only12,
    Only13,
}

/// A rustls client configuration trusting the data directory's certificate.
pub fn client_tls(dir: &Path, versions: Versions, client_cert: Option<(&str, &str)>) -> rustls::ClientConfig {
    client_tls_trusting(&dir.join("tls/cert.pem"), versions, client_cert)
}

/// A rustls client configuration trusting the certificate(s) in `cert_file`.
pub fn client_tls_trusting(
    cert_file: &Path,
    versions: Versions,
    client_cert: Option<(&str, &str)>,
) -> rustls::ClientConfig {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(cert_file).expect("certificate file");
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("cert")).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match versions {
        Versions::Both => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Versions::Only12 => &[&rustls::version::TLS12],
        Versions::Only13 => &[&rustls::version::TLS13],
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots);
    match client_cert {
        None => builder.with_no_client_auth(),
        Some((cert_pem, key_pem)) => {
            let certs = rustls_pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("client cert");
            let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("client key");
            builder.with_client_auth_cert(certs, key).expect("client auth")
        }
    }
}

/// An HTTPS client for `dir`'s server.
pub fn https_client(dir: &Path) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(client_tls(dir, Versions::Both, None))
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A plain HTTP client (for `--insecure-http`).
pub fn http_client() -> reqwest::Client {
    // reqwest is built without a default crypto provider: give it a TLS configuration even
    // though this client only speaks plain HTTP.
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder().use_preconfigured_tls(tls).timeout(Duration::from_secs(30)).build().expect("client")
}

/// Reads everything a socket sends until it closes or `timeout` passes.
pub fn read_all(stream: &mut std::net::TcpStream, timeout: Duration) -> Vec<u8> {
    stream.set_read_timeout(Some(timeout)).expect("timeout");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}
