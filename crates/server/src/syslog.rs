//! Forwarding the audit trail to a syslog collector over TLS: RFC 5424 messages (made by
//! `mamori_core::audit::export::to_syslog`) in RFC 5425 octet-counted frames
//! (`MSG-LEN SP SYSLOG-MSG`, §4.3) over one persistent TLS connection.
//!
//! Every `audit.syslog_interval` the forwarder reads each institution's log from its cursor
//! (the index of the next leaf to send, kept in `DATA_DIR/syslog/<institution-id>.cursor`) up
//! to the head, at most [`BATCH`] leaves per institution per round, sends them in index order,
//! flushes, and only then moves the cursor (temporary file, mode 0600, renamed). Delivery is
//! at least once: a crash between the flush and the rename sends those events again; nothing
//! is skipped. On any error the connection is dropped, the error is logged (addresses, paths,
//! indexes — never an event's content or a key) and the next round comes after a capped
//! backoff.
//!
//! RFC 5425 has no acknowledgement, so "sent" means written and flushed into a TLS connection
//! that was open. Two checks narrow the gap: before a round, a kept connection is polled and
//! dropped if the collector closed it; after a TLS 1.3 handshake, the forwarder waits
//! [`SETTLE`] for the collector to refuse its certificate (a TLS 1.3 server does that only
//! after the client's handshake has finished).
//!
//! The TLS client follows [`crate::tls`]: the `ring` provider, AEAD suites, TLS 1.2/1.3 (1.3
//! only when `tls.min_version` says so), the collector verified against `audit.syslog_ca`
//! alone (never the system's roots) under `audit.syslog_server_name`, and an optional client
//! certificate (RFC 5425 §5). The files are read at each new connection, so replaced
//! certificates take effect without a restart.

use crate::state::AppState;
use mamori_core::InstitutionId;
use mamori_core::audit::AuditEvent;
use mamori_core::audit::export::to_syslog;
use mamori_core::config::ValidConfig;
use mamori_store::StoreError;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Most leaves sent per institution in one round (a round that stops there is followed at
/// once by the next).
pub const BATCH: u64 = 1000;

/// The directory of the cursor files, inside the data directory.
pub const CURSOR_DIR: &str = "syslog";

/// Longest wait for the TCP connection and, separately, the TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for one institution's batch to be written and flushed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a new TLS 1.3 connection is watched for the collector refusing the client's
/// certificate before anything is sent on it.
pub const SETTLE: Duration = Duration::from_millis(300);

/// The longest pause between failed rounds (or the interval, when that is longer).
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How long [`forward_before_exit`] may take.
pub const EXIT_LIMIT: Duration = Duration::from_secs(5);

/// Why a round did not forward everything it should have.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyslogError {
    /// `audit.syslog_tls` is not set.
    #[error("audit.syslog_tls が設定されていません / audit.syslog_tls is not set")]
    NotConfigured,
    /// A configured file could not be read.
    #[error("{what} {} を読めません（{source}） / cannot read the {what} {} ({source})", .path.display(), .path.display())]
    File {
        /// Which setting's file.
        what: &'static str,
        /// The resolved path.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The CA bundle holds no usable certificate.
    #[error("audit.syslog_ca {} に使えるCA証明書がありません / audit.syslog_ca {} holds no usable CA certificate", .0.display(), .0.display())]
    NoCa(PathBuf),
    /// The client certificate file holds no PEM certificate.
    #[error("audit.syslog_client_cert {} にPEMの証明書がありません / audit.syslog_client_cert {} holds no PEM certificate", .0.display(), .0.display())]
    NoClientCertificate(PathBuf),
    /// The client key file holds no PEM private key.
    #[error("audit.syslog_client_key {} にPEMの秘密鍵がありません / audit.syslog_client_key {} holds no PEM private key", .0.display(), .0.display())]
    NoClientKey(PathBuf),
    /// The name to verify is not a DNS name or IP address rustls accepts.
    #[error(
        "収集サーバーの名前 {0} は証明書の検証に使えません / the collector name {0} cannot be verified in a certificate"
    )]
    ServerName(String),
    /// rustls refused the combination (e.g. a key that does not match the certificate).
    #[error("syslog のTLS設定が不正です: {0} / invalid syslog TLS configuration: {0}")]
    Tls(String),
    /// The TCP connection failed (name resolution included).
    #[error(
        "syslog 収集サーバー {collector} に接続できません（{source}） / cannot connect to the syslog collector {collector} ({source})"
    )]
    Connect {
        /// `host:port`.
        collector: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// The TLS handshake failed or the collector refused the connection right after it (an
    /// untrusted or misnamed certificate, on either side).
    #[error(
        "syslog 収集サーバー {collector} とのTLS接続が確立できません（{source}） / TLS with the syslog collector {collector} failed ({source})"
    )]
    Handshake {
        /// `host:port`.
        collector: String,
        /// The TLS or socket error.
        source: std::io::Error,
    },
    /// Writing to the connection failed or the collector had closed it.
    #[error(
        "syslog 収集サーバー {collector} への送信に失敗しました（{source}） / cannot send to the syslog collector {collector} ({source})"
    )]
    Send {
        /// `host:port`.
        collector: String,
        /// The socket's error.
        source: std::io::Error,
    },
    /// A step took too long.
    #[error("syslog 収集サーバー {collector} が{}秒以内に応答しません（{during}） / the syslog collector {collector} did not respond within {} s ({during})", .after.as_secs(), .after.as_secs())]
    Timeout {
        /// `host:port`.
        collector: String,
        /// `connect`, `handshake` or `send`.
        during: &'static str,
        /// The time waited.
        after: Duration,
    },
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored leaf is not a canonical audit event (nothing from it on is sent).
    #[error(
        "医療機関 {institution} の監査ログの葉 {index} を読めません。`mamori verify` で確認してください / leaf {index} of institution {institution}'s log is not a canonical audit event: run `mamori verify`"
    )]
    Leaf {
        /// The institution.
        institution: InstitutionId,
        /// The leaf's index.
        index: u64,
    },
    /// The store returned fewer leaves than its head promises.
    #[error(
        "医療機関 {institution} の監査ログの葉 {index} がありません。`mamori verify` で確認してください / leaf {index} of institution {institution}'s log is missing: run `mamori verify`"
    )]
    Missing {
        /// The institution.
        institution: InstitutionId,
        /// The first index not returned.
        index: u64,
    },
    /// A cursor file could not be read or written.
    #[error("送信位置ファイル {} を扱えません（{detail}） / cannot use the cursor file {} ({detail})", .path.display(), .path.display())]
    Cursor {
        /// The file.
        path: PathBuf,
        /// What went wrong (for a corrupt file: delete it to send the whole log again).
        detail: String,
    },
}

impl SyslogError {
    /// Whether the connection is to be dropped (the error came from it).
    #[must_use]
    pub fn is_transport(&self) -> bool {
        matches!(self, Self::Connect { .. } | Self::Handshake { .. } | Self::Send { .. } | Self::Timeout { .. })
    }
}

/// One open TLS connection to the collector, kept between rounds.
pub struct Connection {
    stream: TlsStream<TcpStream>,
    collector: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("collector", &self.collector).finish_non_exhaustive()
    }
}

impl Connection {
    /// Whether the collector still holds the connection open: polls a read once without
    /// waiting. The transport is one-way (the collector sends no syslog data back), so end
    /// of stream or an error (a fatal alert, a reset) means it is gone; anything it did send
    /// is discarded.
    async fn is_open(&mut self) -> bool {
        // Let the runtime collect pending socket events (a close that has just arrived) first.
        tokio::task::yield_now().await;
        let stream = &mut self.stream;
        std::future::poll_fn(|cx| {
            let mut bytes = [0u8; 512];
            loop {
                let mut buffer = ReadBuf::new(&mut bytes);
                return match Pin::new(&mut *stream).poll_read(cx, &mut buffer) {
                    Poll::Pending => Poll::Ready(true),
                    Poll::Ready(Ok(())) if buffer.filled().is_empty() => Poll::Ready(false),
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(_)) => Poll::Ready(false),
                };
            }
        })
        .await
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Round {
    /// Events sent (and counted in the cursors).
    pub sent: u64,
    /// Whether an institution has more than [`BATCH`] left: the next round should follow at
    /// once.
    pub behind: bool,
}

/// Builds the TLS client configuration from PEM text: the collector verified against
/// `ca_pem` only; with `client` (certificate chain, key), mutual TLS.
///
/// # Errors
/// [`SyslogError::NoCa`] (with `ca_path`, for the message), [`SyslogError::Tls`].
pub fn client_config_from_pem(
    ca_pem: &[u8],
    ca_path: &Path,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    min_version: &str,
) -> Result<ClientConfig, SyslogError> {
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem).filter_map(Result::ok) {
        roots.add(ca).map_err(|_| SyslogError::NoCa(ca_path.to_path_buf()))?;
    }
    if roots.is_empty() {
        return Err(SyslogError::NoCa(ca_path.to_path_buf()));
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(crate::tls::provider()))
        .with_protocol_versions(crate::tls::versions(min_version))
        .map_err(|e| SyslogError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    match client {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| SyslogError::Tls(e.to_string())),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// Reads `audit.syslog_ca` (and the client certificate and key, when set) from the data
/// directory and builds the TLS client configuration. `serve` can call it at start-up to
/// refuse unreadable files before anything runs.
///
/// # Errors
/// [`SyslogError::NotConfigured`], unreadable or empty files, [`SyslogError::Tls`].
pub fn client_config(config: &ValidConfig, data_dir: &Path) -> Result<ClientConfig, SyslogError> {
    let audit = &config.get().audit;
    let (Some(_), Some(ca)) = (&audit.syslog_tls, &audit.syslog_ca) else {
        return Err(SyslogError::NotConfigured);
    };
    let read = |what: &'static str, path: &Path| {
        let path = ValidConfig::resolve(data_dir, path);
        std::fs::read(&path).map(|bytes| (bytes, path.clone())).map_err(|source| SyslogError::File {
            what,
            path,
            source,
        })
    };
    let (ca_pem, ca_path) = read("audit.syslog_ca", ca)?;
    let client = match (&audit.syslog_client_cert, &audit.syslog_client_key) {
        (Some(cert), Some(key)) => {
            let (cert_pem, cert_path) = read("audit.syslog_client_cert", cert)?;
            let chain: Vec<_> = CertificateDer::pem_slice_iter(&cert_pem).filter_map(Result::ok).collect();
            if chain.is_empty() {
                return Err(SyslogError::NoClientCertificate(cert_path));
            }
            let (key_pem, key_path) = read("audit.syslog_client_key", key)?;
            let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| SyslogError::NoClientKey(key_path))?;
            Some((chain, key))
        }
        _ => None,
    };
    client_config_from_pem(&ca_pem, &ca_path, client, &config.get().tls.min_version)
}

/// Opens a TLS connection to the configured collector.
///
/// # Errors
/// Configuration files, the server name, connecting, the handshake, and a collector that
/// refuses the connection right after a TLS 1.3 handshake.
pub async fn connect(config: &ValidConfig, data_dir: &Path) -> Result<Connection, SyslogError> {
    let audit = &config.get().audit;
    let collector = audit.syslog_tls.clone().ok_or(SyslogError::NotConfigured)?;
    let tls = client_config(config, data_dir)?;
    let name = audit.syslog_server_name().ok_or(SyslogError::NotConfigured)?;
    let server_name = ServerName::try_from(name.clone()).map_err(|_| SyslogError::ServerName(name))?;
    let timeout = |during| SyslogError::Timeout { collector: collector.clone(), during, after: CONNECT_TIMEOUT };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(collector.as_str()))
        .await
        .map_err(|_| timeout("connect"))?
        .map_err(|source| SyslogError::Connect { collector: collector.clone(), source })?;
    // Each batch is flushed whole; do not hold its last segment back.
    let _ = tcp.set_nodelay(true);
    let handshake = |source| SyslogError::Handshake { collector: collector.clone(), source };
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TlsConnector::from(Arc::new(tls)).connect(server_name, tcp))
        .await
        .map_err(|_| timeout("handshake"))?
        .map_err(handshake)?;
    if stream.get_ref().1.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3) {
        // In TLS 1.3 the client finishes first; a collector that refuses our certificate (or
        // its absence) says so only now.
        let mut byte = [0u8; 1];
        match tokio::time::timeout(SETTLE, stream.read(&mut byte)).await {
            Err(_) | Ok(Ok(1..)) => {}
            Ok(Ok(0)) => return Err(handshake(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(Err(source)) => return Err(handshake(source)),
        }
    }
    Ok(Connection { stream, collector })
}

/// The cursor file of an institution.
#[must_use]
pub fn cursor_path(data_dir: &Path, institution: InstitutionId) -> PathBuf {
    data_dir.join(CURSOR_DIR).join(format!("{institution}.cursor"))
}

/// The index of the next leaf to send: 0 when the file does not exist (the whole log is sent).
///
/// # Errors
/// [`SyslogError::Cursor`] when the file cannot be read or does not hold a number (it is
/// never guessed: delete the file to send the whole log again).
pub fn read_cursor(path: &Path) -> Result<u64, SyslogError> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|_| SyslogError::Cursor { path: path.to_path_buf(), detail: "not a number".to_owned() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(SyslogError::Cursor { path: path.to_path_buf(), detail: e.to_string() }),
    }
}

/// Writes the cursor: a temporary file (mode 0600) synced, then renamed over the old one.
///
/// # Errors
/// [`SyslogError::Cursor`].
pub fn write_cursor(path: &Path, next: u64) -> Result<(), SyslogError> {
    let failed = |e: std::io::Error| SyslogError::Cursor { path: path.to_path_buf(), detail: e.to_string() };
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(failed)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    write_private(&tmp, format!("{next}\n").as_bytes()).map_err(failed)?;
    std::fs::rename(&tmp, path).map_err(failed)?;
    sync_dir(dir);
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    match std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Makes the rename durable (best effort: not every system syncs directories).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Appends one RFC 5425 §4.3 frame: `MSG-LEN SP SYSLOG-MSG`, MSG-LEN the message's length in
/// octets, in decimal.
pub fn push_frame(out: &mut Vec<u8>, message: &str) {
    out.extend_from_slice(message.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(message.as_bytes());
}

/// The pause after `failures` failed rounds in a row: the interval, doubled per further
/// failure, at most [`MAX_BACKOFF`] (or the interval, when that is longer).
#[must_use]
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let cap = interval.max(MAX_BACKOFF);
    let doublings = failures.saturating_sub(1).min(16);
    interval.saturating_mul(1 << doublings).min(cap)
}

/// One round: for every institution, sends the leaves from its cursor towards its head (at
/// most [`BATCH`]) over `connection` (opened, or reopened when the collector closed it) and
/// moves the cursor after each flushed batch. On a connection error `connection` is emptied,
/// so the next round starts a new one.
///
/// # Errors
/// The first failure; the cursors of what was flushed before it have moved, nothing else has.
pub async fn forward_once(
    state: &AppState,
    data_dir: &Path,
    connection: &mut Option<Connection>,
) -> Result<Round, SyslogError> {
    let result = round(state, data_dir, connection).await;
    if let Err(e) = &result
        && e.is_transport()
    {
        *connection = None;
    }
    result
}

async fn round(state: &AppState, data_dir: &Path, connection: &mut Option<Connection>) -> Result<Round, SyslogError> {
    if state.config.get().audit.syslog_tls.is_none() {
        return Err(SyslogError::NotConfigured);
    }
    let host = state.config.log_origin_host();
    let mut done = Round::default();
    for institution in state.store.institutions().await? {
        let institution = institution.id;
        let path = cursor_path(data_dir, institution);
        let head = state.store.log_head(institution).await?.size;
        let mut start = read_cursor(&path)?;
        if start > head {
            // The log is shorter than what was already sent: a database restored from an older
            // backup. Go on from its end (what is added now is new); `mamori verify` tells more.
            tracing::error!(
                %institution, cursor = start, size = head,
                "the audit log is shorter than what was already forwarded to syslog (restored database?): continuing from its end"
            );
            write_cursor(&path, head)?;
            start = head;
        }
        if start == head {
            continue;
        }
        let end = head.min(start.saturating_add(BATCH));
        let (frames, next, unreadable) = make_frames(state, &host, institution, start, end).await?;
        if next > start {
            let open = match connection {
                Some(c) => c.is_open().await,
                None => false,
            };
            if !open {
                *connection = None;
            }
            let conn = match connection {
                Some(c) => c,
                None => connection.insert(connect(&state.config, data_dir).await?),
            };
            send(conn, &frames).await?;
            write_cursor(&path, next)?;
            done.sent += next - start;
        }
        if let Some(e) = unreadable {
            return Err(e);
        }
        done.behind |= end < head;
    }
    Ok(done)
}

/// The frames of leaves `start..end`, the index after the last one made, and why it stopped
/// early (a leaf that is not an event, or a missing one).
async fn make_frames(
    state: &AppState,
    host: &str,
    institution: InstitutionId,
    start: u64,
    end: u64,
) -> Result<(Vec<u8>, u64, Option<SyslogError>), SyslogError> {
    let mut out = Vec::new();
    let mut next = start;
    for (index, leaf, _hash) in state.store.log_leaves(institution, start, end).await? {
        if index != next {
            return Ok((out, next, Some(SyslogError::Missing { institution, index: next })));
        }
        next = index + 1;
        // Record leaves stay in the institution: the collector receives audit events only
        // (the record leaf's own finalization has its `record.*` audit event beside it).
        if mamori_core::audit::leaf_kind(&leaf).as_deref() == Some("record")
            && mamori_core::record::leaf_ref(&leaf).is_ok()
        {
            continue;
        }
        let Ok(event) = AuditEvent::from_leaf(&leaf) else {
            return Ok((out, index, Some(SyslogError::Leaf { institution, index })));
        };
        push_frame(&mut out, &to_syslog(&event, index, host, &leaf));
    }
    let stopped = (next < end).then_some(SyslogError::Missing { institution, index: next });
    Ok((out, next, stopped))
}

async fn send(connection: &mut Connection, frames: &[u8]) -> Result<(), SyslogError> {
    let collector = &connection.collector;
    let stream = &mut connection.stream;
    let write = async {
        stream.write_all(frames).await?;
        stream.flush().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(SyslogError::Send { collector: collector.clone(), source }),
        Err(_) => Err(SyslogError::Timeout { collector: collector.clone(), during: "send", after: WRITE_TIMEOUT }),
    }
}

/// Starts the forwarder: a round now and every `audit.syslog_interval` (at once again while
/// behind; after failures, a capped backoff), until the task is aborted. None when
/// `audit.syslog_tls` is not set.
pub fn spawn_forwarder(state: AppState, data_dir: PathBuf) -> Option<JoinHandle<()>> {
    let audit = &state.config.get().audit;
    let Some(collector) = audit.syslog_tls.clone() else {
        tracing::info!("audit.syslog_tls is not set: the audit trail is not forwarded to syslog");
        return None;
    };
    let interval = audit.syslog_interval.0;
    tracing::info!(%collector, "forwarding the audit trail to syslog over TLS");
    Some(tokio::spawn(async move {
        let mut connection = None;
        let mut failures: u32 = 0;
        loop {
            let pause = match forward_once(&state, &data_dir, &mut connection).await {
                Ok(round) => {
                    if failures > 0 {
                        tracing::info!(%collector, "forwarding to syslog resumed");
                    }
                    failures = 0;
                    if round.sent > 0 {
                        tracing::debug!(%collector, events = round.sent, "audit events forwarded to syslog");
                    }
                    if round.behind { Duration::ZERO } else { interval }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let pause = backoff(interval, failures);
                    tracing::warn!(
                        %collector, error = %e, failures, retry_in_ms = pause.as_millis(),
                        "cannot forward the audit trail to syslog"
                    );
                    pause
                }
            };
            if pause.is_zero() {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(pause).await;
            }
        }
    }))
}

/// At shutdown, after the forwarder was aborted and the last events were appended: one more
/// round on a new connection, within [`EXIT_LIMIT`], so the stop reaches the collector now
/// rather than at the next start. Does nothing when forwarding is off; failures are logged.
pub async fn forward_before_exit(state: &AppState, data_dir: &Path) {
    if state.config.get().audit.syslog_tls.is_none() {
        return;
    }
    let mut connection = None;
    match tokio::time::timeout(EXIT_LIMIT, forward_once(state, data_dir, &mut connection)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the last audit events were not forwarded to syslog (sent at the next start)")
        }
        Err(_) => tracing::warn!("forwarding the last audit events to syslog took too long (sent at the next start)"),
    }
    if let Some(mut c) = connection {
        let _ = tokio::time::timeout(Duration::from_secs(1), c.stream.shutdown()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_the_octet_count_a_space_and_the_message() {
        let mut out = Vec::new();
        push_frame(&mut out, "<110>1 - - - - - - x");
        push_frame(&mut out, "<110>1 - - - - - - 日本");
        assert_eq!(out, "20 <110>1 - - - - - - x25 <110>1 - - - - - - 日本".as_bytes());
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let two = Duration::from_secs(2);
        let got: Vec<u64> = (1..=8).map(|n| backoff(two, n).as_secs()).collect();
        assert_eq!(got, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(two, u32::MAX), MAX_BACKOFF);
        let hour = Duration::from_secs(3600);
        assert_eq!(backoff(hour, 5), hour, "never more than the interval when that is longer than the cap");
        assert_eq!(backoff(Duration::from_millis(100), 1), Duration::from_millis(100));
    }

    #[test]
    fn the_cursor_is_a_private_file_and_a_corrupt_one_is_never_guessed() {
        let dir = std::env::temp_dir().join(format!("mamori-syslog-cursor-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join(CURSOR_DIR).join("x.cursor");
        assert!(matches!(read_cursor(&path), Ok(0)));
        assert!(write_cursor(&path, 42).is_ok());
        assert!(matches!(read_cursor(&path), Ok(42)));
        assert_eq!(std::fs::read_to_string(&path).ok().as_deref(), Some("42\n"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777).ok();
            assert_eq!(mode(&path), Some(0o600));
            assert_eq!(mode(&dir.join(CURSOR_DIR)), Some(0o700));
        }
        assert!(std::fs::write(&path, "forty-two\n").is_ok());
        assert!(matches!(read_cursor(&path), Err(SyslogError::Cursor { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_empty_ca_bundle_is_refused() {
        let refused = client_config_from_pem(b"not pem", Path::new("ca.pem"), None, "1.2");
        assert!(matches!(refused, Err(SyslogError::NoCa(_))), "{refused:?}");
        let shown = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(shown.contains("ca.pem") && shown.contains("CA証明書"), "{shown}");
    }
}
