//! Configuration: a TOML file overlaid with `MAMORI_*` environment variables, then checked
//! against security minimums. Parsing and checking are pure; the caller reads the file and the
//! environment and passes them in.

use crate::Message;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The name of the configuration file inside a data directory.
pub const CONFIG_FILE: &str = "mamori.toml";

/// The default listen address: loopback, HTTPS.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML text does not parse or has unknown or mistyped keys.
    #[error("設定ファイルを読めません: {detail} / the configuration file is invalid: {detail}")]
    Syntax {
        /// What the parser said (keys and positions, never values of secrets).
        detail: String,
    },
    /// An environment variable has a value of the wrong kind.
    #[error(
        "環境変数 {var} の値が不正です（{expected}） / environment variable {var} is invalid (expected {expected})"
    )]
    Env {
        /// The variable's name.
        var: String,
        /// What kind of value it takes.
        expected: &'static str,
    },
    /// A value is below a security minimum or otherwise not allowed.
    #[error("設定 {key}: {} / setting {key}: {}", .message.ja, .message.en)]
    Invalid {
        /// The dotted key, e.g. `password.min_length`.
        key: &'static str,
        /// What is wrong and what to do.
        message: Message,
    },
}

fn invalid(key: &'static str, ja: impl Into<String>, en: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, message: Message::new(ja, en) }
}

/// A duration written in humantime form (`10m`, `30s`, `12h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map(Self)
            .map_err(|_| serde::de::Error::custom("expected a duration such as 30s, 10m or 12h"))
    }
}

/// A database URL. Its password never appears in `Debug`, `Display` or a dump.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a URL (checked by [`Config::validate`]).
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The full URL, password included: for connecting only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Which backend the URL names.
    #[must_use]
    pub fn backend(&self) -> Option<Backend> {
        if self.0.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if self.0.starts_with("postgres://") || self.0.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    /// The URL with any password replaced by `***`.
    #[must_use]
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Replaces the password in `scheme://user:password@host/…` and any `password=` query
/// parameter by `***`.
fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..].find(['/', '?']).map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    let lower = out.to_ascii_lowercase();
    if let Some(p) = lower.find("password=") {
        let value_start = p + "password=".len();
        let value_end = out[value_start..].find('&').map_or(out.len(), |i| value_start + i);
        out.replace_range(value_start..value_end, "***");
    }
    out
}

/// The storage backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded SQLite: the default, one file in the data directory.
    Sqlite,
    /// PostgreSQL: for hosted, many-institution deployments.
    Postgres,
}

impl Backend {
    /// Lower-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Client-certificate authentication (registered terminals, MDS 12.3.1.1 / 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificates are requested.
    #[default]
    Off,
    /// A certificate is requested; if one is sent it must chain to the CA bundle.
    Optional,
    /// A certificate chaining to the CA bundle is required to connect.
    Required,
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// The URL people open, when it differs from `https://{listen}/`.
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { listen: DEFAULT_LISTEN.to_owned(), public_url: None }
    }
}

/// `[tls]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain (relative paths are inside the data directory).
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Lowest TLS version: "1.2" or "1.3".
    pub min_version: String,
    /// Client-certificate authentication.
    pub client_auth: ClientAuth,
    /// PEM bundle of CAs that issue client certificates.
    pub client_ca: Option<PathBuf>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert: PathBuf::from("tls/cert.pem"),
            key: PathBuf::from("tls/key.pem"),
            min_version: "1.2".to_owned(),
            client_auth: ClientAuth::Off,
            client_ca: None,
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://mamori.db` (relative to the data directory) or `postgres://…`.
    pub url: DatabaseUrl,
    /// Largest connection pool.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: DatabaseUrl::new("sqlite://mamori.db"), max_connections: 8 }
    }
}

/// `[session]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Idle time after which the server locks a session (MDS 3).
    pub idle_lock: HumanDuration,
    /// Absolute session lifetime.
    pub lifetime: HumanDuration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_lock: HumanDuration(Duration::from_secs(10 * 60)),
            lifetime: HumanDuration(Duration::from_secs(12 * 60 * 60)),
        }
    }
}

/// `[password]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// Shortest password accepted, in characters.
    pub min_length: usize,
    /// argon2id memory cost in KiB.
    pub argon2_memory_kib: u32,
    /// argon2id iterations.
    pub argon2_iterations: u32,
    /// argon2id lanes.
    pub argon2_parallelism: u32,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self { min_length: 12, argon2_memory_kib: 19_456, argon2_iterations: 2, argon2_parallelism: 1 }
    }
}

/// `[lockout]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockoutConfig {
    /// Consecutive failures that lock an account (the next attempt is refused even with the
    /// right password).
    pub threshold: u32,
    /// How long failures are remembered and a lock lasts.
    pub window: HumanDuration,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self { threshold: 5, window: HumanDuration(Duration::from_secs(15 * 60)) }
    }
}

impl LockoutConfig {
    /// The policy for [`crate::lockout`].
    #[must_use]
    pub fn policy(&self) -> crate::lockout::LockoutPolicy {
        crate::lockout::LockoutPolicy { threshold: self.threshold, window: self.window.0 }
    }
}

/// `[accounts]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountsConfig {
    /// An active account unused this long is flagged in the ledger and the access review.
    pub inactive_after: HumanDuration,
    /// How long an administrator's re-enrollment pass stays valid.
    pub reenroll_pass_ttl: HumanDuration,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            inactive_after: HumanDuration(Duration::from_secs(90 * 24 * 60 * 60)),
            reenroll_pass_ttl: HumanDuration(Duration::from_secs(24 * 60 * 60)),
        }
    }
}

/// `[emergency]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmergencyConfig {
    /// How long an emergency (break-glass) grant lasts.
    pub grant_ttl: HumanDuration,
    /// How long one activation of a sealed emergency account lasts (`mamori emergency close`
    /// ends it earlier).
    pub sealed_account_ttl: HumanDuration,
}

impl Default for EmergencyConfig {
    fn default() -> Self {
        Self {
            grant_ttl: HumanDuration(Duration::from_secs(60 * 60)),
            sealed_account_ttl: HumanDuration(Duration::from_secs(8 * 60 * 60)),
        }
    }
}

/// `[keys]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// PKCS#8 PEM Ed25519 key that signs audit-log checkpoints.
    pub checkpoint_signing_key: PathBuf,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self { checkpoint_signing_key: PathBuf::from("keys/checkpoint-ed25519.pem") }
    }
}

/// `[ledger]`: the tamper-evident log's checkpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// The host name in checkpoint origins (`<host>/<institution-id>`) and the signer's key
    /// name. Default: the host of `server.public_url`, else `localhost`. Keep it stable: a
    /// checkpoint names its origin.
    pub origin_host: Option<String>,
    /// How often `serve` writes a signed checkpoint of each log that grew to
    /// `checkpoint_dir` (outside the database, so truncating the database is detectable).
    pub checkpoint_interval: HumanDuration,
    /// Where checkpoints are written (relative to the data directory).
    pub checkpoint_dir: PathBuf,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            origin_host: None,
            checkpoint_interval: HumanDuration(Duration::from_secs(5 * 60)),
            checkpoint_dir: PathBuf::from("checkpoints"),
        }
    }
}

/// `[time]`: checking the server clock against an NTP server (MHLW guideline MDS 5, 16.1:
/// record and audit timestamps must be accurate).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeConfig {
    /// The NTP server to compare with, as `host:port` (e.g. `ntp.nict.jp:123`). None (the
    /// default): the clock is not checked, and `/readyz` says `unchecked`.
    pub ntp_server: Option<String>,
    /// The largest offset from the NTP server's time at which writes are still accepted.
    pub max_offset: HumanDuration,
    /// How often the clock is checked. After three intervals without a successful check the
    /// clock is no longer trusted (see [`Self::max_age`]).
    pub check_interval: HumanDuration,
}

impl Default for TimeConfig {
    fn default() -> Self {
        Self {
            ntp_server: None,
            max_offset: HumanDuration(Duration::from_secs(1)),
            check_interval: HumanDuration(Duration::from_secs(5 * 60)),
        }
    }
}

impl TimeConfig {
    /// How long the clock may go without a successful check before writes are refused:
    /// three check intervals, so one or two lost datagrams do not stop a clinic.
    #[must_use]
    pub fn max_age(&self) -> Duration {
        self.check_interval.0.saturating_mul(3)
    }
}

/// `[audit]`: forwarding the audit trail to a syslog collector over TLS (RFC 5425 transport
/// of RFC 5424 messages). Off unless `syslog_tls` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The collector, as `host:port` (RFC 5425's port is 6514). None (the default): nothing is
    /// forwarded.
    pub syslog_tls: Option<String>,
    /// PEM bundle of the CAs that verify the collector's certificate (relative paths are
    /// inside the data directory). Required with `syslog_tls`; the system's roots are never
    /// used.
    pub syslog_ca: Option<PathBuf>,
    /// The name verified in the collector's certificate. Default: the host of `syslog_tls`.
    pub syslog_server_name: Option<String>,
    /// PEM certificate chain mamori presents to the collector (mutual TLS, RFC 5425 §5);
    /// with `syslog_client_key`, or neither.
    pub syslog_client_cert: Option<PathBuf>,
    /// PEM private key of `syslog_client_cert`.
    pub syslog_client_key: Option<PathBuf>,
    /// How often new events are forwarded.
    pub syslog_interval: HumanDuration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            syslog_tls: None,
            syslog_ca: None,
            syslog_server_name: None,
            syslog_client_cert: None,
            syslog_client_key: None,
            syslog_interval: HumanDuration(Duration::from_secs(2)),
        }
    }
}

impl AuditConfig {
    /// The name to verify in the collector's certificate: `syslog_server_name`, else the host
    /// of `syslog_tls` (without the brackets of an IPv6 address). None when nothing is
    /// forwarded.
    #[must_use]
    pub fn syslog_server_name(&self) -> Option<String> {
        if let Some(name) = &self.syslog_server_name {
            return Some(name.clone());
        }
        let (host, _port) = self.syslog_tls.as_deref()?.rsplit_once(':')?;
        Some(host.trim_start_matches('[').trim_end_matches(']').to_owned())
    }
}

/// Whether `text` is `host:port` with a host name, an IPv4 address or a bracketed IPv6
/// address, and a port from 1 to 65535.
fn is_host_port(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else {
        return false;
    };
    let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0) && port.chars().all(|c| c.is_ascii_digit());
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        (1..=253).contains(&host.len())
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    port_ok && host_ok
}

/// Debian's `fonts-ipaexfont`: IPAexGothic.
pub const DEBIAN_IPAEX_GOTHIC: &str = "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf";
/// Debian's `fonts-ipaexfont`: IPAexMincho.
pub const DEBIAN_IPAEX_MINCHO: &str = "/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf";

/// `[reports]`: the font files the PDF self-inspection report is typeset with (absolute paths;
/// Debian's `fonts-ipaexfont` by default). Read when a PDF is made; a missing file is an error
/// naming it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// IPAexGothic (headings).
    pub gothic_font: PathBuf,
    /// IPAexMincho (text).
    pub mincho_font: PathBuf,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self { gothic_font: DEBIAN_IPAEX_GOTHIC.into(), mincho_font: DEBIAN_IPAEX_MINCHO.into() }
    }
}

/// The whole configuration, as written in `mamori.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`
    pub server: ServerConfig,
    /// `[tls]`
    pub tls: TlsConfig,
    /// `[database]`
    pub database: DatabaseConfig,
    /// `[session]`
    pub session: SessionConfig,
    /// `[password]`
    pub password: PasswordConfig,
    /// `[lockout]`
    pub lockout: LockoutConfig,
    /// `[accounts]`
    pub accounts: AccountsConfig,
    /// `[emergency]`
    pub emergency: EmergencyConfig,
    /// `[logon_hours.ROLE]`: optional windows per role.
    pub logon_hours: std::collections::BTreeMap<String, crate::logon_hours::LogonWindow>,
    /// `[keys]`
    pub keys: KeysConfig,
    /// `[ledger]`
    pub ledger: LedgerConfig,
    /// `[time]`
    pub time: TimeConfig,
    /// `[audit]`
    pub audit: AuditConfig,
    /// `[reports]`
    pub reports: ReportsConfig,
}

/// The kind of value an environment variable carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvKind {
    /// Text, durations and paths.
    Text,
    /// Whole numbers.
    Integer,
}

/// Every `MAMORI_*` variable that overrides a setting: (variable, section, key, kind).
pub const ENV_VARS: &[(&str, &str, &str, EnvKind)] = &[
    ("MAMORI_LISTEN", "server", "listen", EnvKind::Text),
    ("MAMORI_PUBLIC_URL", "server", "public_url", EnvKind::Text),
    ("MAMORI_TLS_CERT", "tls", "cert", EnvKind::Text),
    ("MAMORI_TLS_KEY", "tls", "key", EnvKind::Text),
    ("MAMORI_TLS_MIN_VERSION", "tls", "min_version", EnvKind::Text),
    ("MAMORI_TLS_CLIENT_AUTH", "tls", "client_auth", EnvKind::Text),
    ("MAMORI_TLS_CLIENT_CA", "tls", "client_ca", EnvKind::Text),
    ("MAMORI_DATABASE_URL", "database", "url", EnvKind::Text),
    ("MAMORI_DATABASE_MAX_CONNECTIONS", "database", "max_connections", EnvKind::Integer),
    ("MAMORI_IDLE_LOCK", "session", "idle_lock", EnvKind::Text),
    ("MAMORI_SESSION_LIFETIME", "session", "lifetime", EnvKind::Text),
    ("MAMORI_PASSWORD_MIN_LENGTH", "password", "min_length", EnvKind::Integer),
    ("MAMORI_ARGON2_MEMORY_KIB", "password", "argon2_memory_kib", EnvKind::Integer),
    ("MAMORI_ARGON2_ITERATIONS", "password", "argon2_iterations", EnvKind::Integer),
    ("MAMORI_ARGON2_PARALLELISM", "password", "argon2_parallelism", EnvKind::Integer),
    ("MAMORI_LOCKOUT_THRESHOLD", "lockout", "threshold", EnvKind::Integer),
    ("MAMORI_LOCKOUT_WINDOW", "lockout", "window", EnvKind::Text),
    ("MAMORI_INACTIVE_AFTER", "accounts", "inactive_after", EnvKind::Text),
    ("MAMORI_REENROLL_PASS_TTL", "accounts", "reenroll_pass_ttl", EnvKind::Text),
    ("MAMORI_EMERGENCY_GRANT_TTL", "emergency", "grant_ttl", EnvKind::Text),
    ("MAMORI_SEALED_ACCOUNT_TTL", "emergency", "sealed_account_ttl", EnvKind::Text),
    ("MAMORI_CHECKPOINT_SIGNING_KEY", "keys", "checkpoint_signing_key", EnvKind::Text),
    ("MAMORI_LOG_ORIGIN_HOST", "ledger", "origin_host", EnvKind::Text),
    ("MAMORI_CHECKPOINT_INTERVAL", "ledger", "checkpoint_interval", EnvKind::Text),
    ("MAMORI_CHECKPOINT_DIR", "ledger", "checkpoint_dir", EnvKind::Text),
    ("MAMORI_NTP_SERVER", "time", "ntp_server", EnvKind::Text),
    ("MAMORI_MAX_CLOCK_OFFSET", "time", "max_offset", EnvKind::Text),
    ("MAMORI_TIME_CHECK_INTERVAL", "time", "check_interval", EnvKind::Text),
    ("MAMORI_SYSLOG_TLS", "audit", "syslog_tls", EnvKind::Text),
    ("MAMORI_SYSLOG_CA", "audit", "syslog_ca", EnvKind::Text),
    ("MAMORI_SYSLOG_SERVER_NAME", "audit", "syslog_server_name", EnvKind::Text),
    ("MAMORI_SYSLOG_CLIENT_CERT", "audit", "syslog_client_cert", EnvKind::Text),
    ("MAMORI_SYSLOG_CLIENT_KEY", "audit", "syslog_client_key", EnvKind::Text),
    ("MAMORI_SYSLOG_INTERVAL", "audit", "syslog_interval", EnvKind::Text),
    ("MAMORI_REPORT_GOTHIC_FONT", "reports", "gothic_font", EnvKind::Text),
    ("MAMORI_REPORT_MINCHO_FONT", "reports", "mincho_font", EnvKind::Text),
];

/// OWASP's argon2id minimums (Password Storage Cheat Sheet): memory in KiB for each iteration
/// count, with one lane. More iterations allow less memory; five or more need 7 MiB.
const ARGON2_MIN_MEMORY_BY_ITERATIONS: [(u32, u32); 5] =
    [(1, 47_104), (2, 19_456), (3, 12_288), (4, 9_216), (5, 7_168)];

impl Config {
    /// Parses `mamori.toml` text and overlays the `MAMORI_*` variables found in `env`.
    ///
    /// # Errors
    /// [`ConfigError::Syntax`] for bad TOML or unknown keys, [`ConfigError::Env`] for a
    /// variable of the wrong kind.
    pub fn parse<I, K, V>(toml_text: &str, env: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut table: toml::Table =
            toml_text.parse().map_err(|e: toml::de::Error| ConfigError::Syntax { detail: one_line(&e.to_string()) })?;
        for (name, value) in env {
            let Some(&(var, section, key, kind)) = ENV_VARS.iter().find(|(v, ..)| *v == name.as_ref()) else {
                continue;
            };
            let value = value.as_ref();
            let item = match kind {
                EnvKind::Text => toml::Value::String(value.to_owned()),
                EnvKind::Integer => toml::Value::Integer(
                    value
                        .trim()
                        .parse()
                        .map_err(|_| ConfigError::Env { var: var.to_owned(), expected: "an integer" })?,
                ),
            };
            let entry = table.entry(section.to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => {
                    t.insert(key.to_owned(), item);
                }
                _ => {
                    return Err(ConfigError::Syntax { detail: format!("[{section}] must be a table") });
                }
            }
        }
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Syntax { detail: one_line(&e.to_string()) })
    }

    /// Checks every value against mamori's security minimums.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first key that is out of bounds and what to do.
    pub fn validate(&self) -> Result<ValidConfig, ConfigError> {
        let listen: SocketAddr = self.server.listen.parse().map_err(|_| {
            invalid(
                "server.listen",
                format!("「{}」はアドレスとして不正です（例: 127.0.0.1:8443）。", self.server.listen),
                format!("'{}' is not an address (e.g. 127.0.0.1:8443)", self.server.listen),
            )
        })?;
        if let Some(url) = &self.server.public_url
            && !url.starts_with("https://")
            && !url.starts_with("http://")
        {
            return Err(invalid(
                "server.public_url",
                "公開URLは https:// で始めてください。",
                "the public URL must start with https://",
            ));
        }
        match self.tls.min_version.as_str() {
            "1.2" | "1.3" => {}
            _ => {
                return Err(invalid(
                    "tls.min_version",
                    "TLSの最低バージョンは 1.2 か 1.3 です（1.1以前は使えません）。",
                    "the lowest TLS version must be 1.2 or 1.3 (1.1 and older are not allowed)",
                ));
            }
        }
        if self.tls.client_auth != ClientAuth::Off && self.tls.client_ca.is_none() {
            return Err(invalid(
                "tls.client_ca",
                "クライアント証明書認証には tls.client_ca（CA証明書のPEM）が必要です。",
                "client-certificate authentication needs tls.client_ca (a PEM CA bundle)",
            ));
        }
        if self.database.url.backend().is_none() {
            return Err(invalid(
                "database.url",
                "データベースURLは sqlite:// か postgres:// で始めてください。",
                "the database URL must start with sqlite:// or postgres://",
            ));
        }
        if !(1..=256).contains(&self.database.max_connections) {
            return Err(invalid(
                "database.max_connections",
                "接続数は1〜256にしてください。",
                "max_connections must be between 1 and 256",
            ));
        }
        let idle = self.session.idle_lock.0;
        if idle < Duration::from_secs(1) || idle > Duration::from_secs(60 * 60) {
            return Err(invalid(
                "session.idle_lock",
                "離席ロックまでの時間は1秒〜60分にしてください（既定10分）。",
                "session.idle_lock must be between 1s and 60m (default 10m)",
            ));
        }
        let lifetime = self.session.lifetime.0;
        if lifetime < idle || lifetime > Duration::from_secs(24 * 60 * 60) {
            return Err(invalid(
                "session.lifetime",
                "セッションの有効期間は離席ロック以上、24時間以下にしてください。",
                "session.lifetime must be at least session.idle_lock and at most 24h",
            ));
        }
        if !(8..=128).contains(&self.password.min_length) {
            return Err(invalid(
                "password.min_length",
                "パスワードの最小文字数は8〜128です（8文字は二要素認証と併用する場合のみガイドラインが認める下限）。",
                "password.min_length must be 8 to 128 (8 is the guideline's floor, allowed only with a second factor)",
            ));
        }
        if !(3..=10).contains(&self.lockout.threshold) {
            return Err(invalid(
                "lockout.threshold",
                "ロックまでの連続失敗回数は3〜10回にしてください（既定5回）。",
                "lockout.threshold must be between 3 and 10 (default 5)",
            ));
        }
        let window = self.lockout.window.0;
        if window < Duration::from_secs(60) || window > Duration::from_secs(24 * 60 * 60) {
            return Err(invalid(
                "lockout.window",
                "ロックの期間は1分〜24時間にしてください（既定15分）。",
                "lockout.window must be between 1m and 24h (default 15m)",
            ));
        }
        let inactive = self.accounts.inactive_after.0;
        if inactive < Duration::from_secs(24 * 60 * 60) || inactive > Duration::from_secs(3 * 366 * 24 * 60 * 60) {
            return Err(invalid(
                "accounts.inactive_after",
                "未使用アカウントとみなす期間は1日〜3年にしてください（既定90日）。",
                "accounts.inactive_after must be between 1d and 3 years (default 90d)",
            ));
        }
        let ttl = self.accounts.reenroll_pass_ttl.0;
        if ttl < Duration::from_secs(60) || ttl > Duration::from_secs(7 * 24 * 60 * 60) {
            return Err(invalid(
                "accounts.reenroll_pass_ttl",
                "再登録パスの有効期間は1分〜7日にしてください（既定24時間）。",
                "accounts.reenroll_pass_ttl must be between 1m and 7d (default 24h)",
            ));
        }
        let grant = self.emergency.grant_ttl.0;
        if grant < Duration::from_secs(5 * 60) || grant > Duration::from_secs(24 * 60 * 60) {
            return Err(invalid(
                "emergency.grant_ttl",
                "緊急アクセスの有効時間は5分〜24時間にしてください（既定60分）。",
                "emergency.grant_ttl must be between 5m and 24h (default 60m)",
            ));
        }
        let every = self.ledger.checkpoint_interval.0;
        if every < Duration::from_secs(10) || every > Duration::from_secs(24 * 60 * 60) {
            return Err(invalid(
                "ledger.checkpoint_interval",
                "チェックポイントの書き出し間隔は10秒〜24時間にしてください（既定5分）。",
                "ledger.checkpoint_interval must be between 10s and 24h (default 5m)",
            ));
        }
        if let Some(host) = &self.ledger.origin_host {
            let ok = (1..=253).contains(&host.len())
                && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if !ok {
                return Err(invalid(
                    "ledger.origin_host",
                    "ledger.origin_host はホスト名（英数字・. - _）にしてください。",
                    "ledger.origin_host must be a host name (letters, digits, '.', '-', '_')",
                ));
            }
        }
        let sealed = self.emergency.sealed_account_ttl.0;
        if sealed < Duration::from_secs(15 * 60) || sealed > Duration::from_secs(72 * 60 * 60) {
            return Err(invalid(
                "emergency.sealed_account_ttl",
                "緊急用アカウントの有効時間は15分〜72時間にしてください（既定8時間）。",
                "emergency.sealed_account_ttl must be between 15m and 72h (default 8h)",
            ));
        }
        if let Some(server) = &self.time.ntp_server
            && !is_host_port(server)
        {
            return Err(invalid(
                "time.ntp_server",
                "time.ntp_server は「ホスト名:ポート番号」の形で指定してください（例: ntp.nict.jp:123）。",
                "time.ntp_server must be host:port (e.g. ntp.nict.jp:123)",
            ));
        }
        let max_offset = self.time.max_offset.0;
        if max_offset < Duration::from_millis(10) || max_offset > Duration::from_secs(60) {
            return Err(invalid(
                "time.max_offset",
                "許容する時刻のずれは10ミリ秒〜60秒にしてください（既定1秒）。",
                "time.max_offset must be between 10ms and 60s (default 1s)",
            ));
        }
        let check = self.time.check_interval.0;
        if check < Duration::from_secs(10) || check > Duration::from_secs(60 * 60) {
            return Err(invalid(
                "time.check_interval",
                "時刻の確認間隔は10秒〜1時間にしてください（既定5分）。",
                "time.check_interval must be between 10s and 1h (default 5m)",
            ));
        }
        if let Some(collector) = &self.audit.syslog_tls {
            if !is_host_port(collector) {
                return Err(invalid(
                    "audit.syslog_tls",
                    "audit.syslog_tls は「ホスト名:ポート番号」の形で指定してください（例: syslog.example.jp:6514）。",
                    "audit.syslog_tls must be host:port (e.g. syslog.example.jp:6514)",
                ));
            }
            if self.audit.syslog_ca.is_none() {
                return Err(invalid(
                    "audit.syslog_ca",
                    "syslog の転送には収集サーバーの証明書を検証する audit.syslog_ca（CA証明書のPEM）が必要です。",
                    "forwarding to syslog needs audit.syslog_ca (a PEM CA bundle that verifies the collector)",
                ));
            }
        }
        if let Some(name) = &self.audit.syslog_server_name {
            let ip = name.parse::<std::net::IpAddr>().is_ok();
            let host = (1..=253).contains(&name.len())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if !ip && !host {
                return Err(invalid(
                    "audit.syslog_server_name",
                    "audit.syslog_server_name はホスト名かIPアドレスにしてください（例: syslog.example.jp）。",
                    "audit.syslog_server_name must be a host name or an IP address (e.g. syslog.example.jp)",
                ));
            }
        }
        match (&self.audit.syslog_client_cert, &self.audit.syslog_client_key) {
            (Some(_), None) => {
                return Err(invalid(
                    "audit.syslog_client_key",
                    "audit.syslog_client_cert には秘密鍵 audit.syslog_client_key も指定してください。",
                    "audit.syslog_client_cert needs its private key in audit.syslog_client_key",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "audit.syslog_client_cert",
                    "audit.syslog_client_key には証明書 audit.syslog_client_cert も指定してください。",
                    "audit.syslog_client_key needs its certificate in audit.syslog_client_cert",
                ));
            }
            _ => {}
        }
        let forward = self.audit.syslog_interval.0;
        if forward < Duration::from_millis(100) || forward > Duration::from_secs(60 * 60) {
            return Err(invalid(
                "audit.syslog_interval",
                "syslog への転送間隔は100ミリ秒〜1時間にしてください（既定2秒）。",
                "audit.syslog_interval must be between 100ms and 1h (default 2s)",
            ));
        }
        crate::logon_hours::LogonHours::parse(&self.logon_hours)
            .map_err(|message| ConfigError::Invalid { key: "logon_hours", message })?;
        let p = &self.password;
        let needed =
            ARGON2_MIN_MEMORY_BY_ITERATIONS.iter().rev().find(|(t, _)| p.argon2_iterations >= *t).map(|(_, m)| *m);
        let memory_ok = needed.is_some_and(|m| p.argon2_memory_kib >= m) && p.argon2_memory_kib <= 4 * 1024 * 1024;
        if !memory_ok || !(1..=16).contains(&p.argon2_parallelism) || p.argon2_iterations > 100 {
            return Err(invalid(
                "password.argon2_*",
                "argon2id のパラメータがOWASPの最低基準を下回っています（例: memory 19456 KiB, iterations 2, parallelism 1）。",
                "argon2id parameters are below OWASP's minimums (e.g. memory 19456 KiB with 2 iterations, parallelism 1)",
            ));
        }
        Ok(ValidConfig { config: self.clone(), listen })
    }

    /// The configuration as TOML for the file itself, database URL in full: the file (mode
    /// 0600) is where the operator keeps it.
    #[must_use]
    pub fn to_file_toml(&self) -> String {
        let mut table = match toml::Table::try_from(self) {
            Ok(t) => t,
            Err(e) => return format!("# cannot write the configuration: {e}\n"),
        };
        if let Some(toml::Value::Table(db)) = table.get_mut("database") {
            db.insert("url".to_owned(), toml::Value::String(self.database.url.expose().to_owned()));
        }
        toml::to_string_pretty(&table).unwrap_or_else(|e| format!("# cannot write the configuration: {e}\n"))
    }

    /// The configuration as TOML with secrets redacted, for `mamori config`.
    #[must_use]
    pub fn redacted_toml(&self) -> String {
        // DatabaseUrl serializes redacted; nothing else here is secret.
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot show the configuration: {e}\n"))
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A configuration that passed [`Config::validate`].
#[derive(Debug, Clone)]
pub struct ValidConfig {
    config: Config,
    listen: SocketAddr,
}

impl ValidConfig {
    /// The checked logon windows.
    #[must_use]
    pub fn logon_hours(&self) -> crate::logon_hours::LogonHours {
        crate::logon_hours::LogonHours::parse(&self.config.logon_hours).unwrap_or_default()
    }

    /// The checked settings.
    #[must_use]
    pub fn get(&self) -> &Config {
        &self.config
    }

    /// The parsed listen address.
    #[must_use]
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// Resolves a configured path against the data directory.
    #[must_use]
    pub fn resolve(data_dir: &Path, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_path_buf() } else { data_dir.join(path) }
    }

    /// The URL people open: `server.public_url`, else the listen address — named `localhost`
    /// when it is loopback, because browsers allow WebAuthn only on domain names and the
    /// self-signed certificate names `localhost`.
    #[must_use]
    pub fn public_url(&self, tls: bool) -> String {
        self.public_url_at(self.listen, tls)
    }

    /// The host name of the log's checkpoint origins and signer (see [`LedgerConfig`]).
    #[must_use]
    pub fn log_origin_host(&self) -> String {
        if let Some(host) = &self.config.ledger.origin_host {
            return host.clone();
        }
        let from_url = self.config.server.public_url.as_deref().and_then(|url| {
            let rest = url.split_once("://").map_or(url, |(_, r)| r);
            let authority = rest.split('/').next().unwrap_or_default();
            let host = authority
                .rsplit_once(':')
                .map_or(authority, |(h, port)| if port.chars().all(|c| c.is_ascii_digit()) { h } else { authority });
            let host = host.trim_start_matches('[').trim_end_matches(']');
            (!host.is_empty()).then(|| host.to_owned())
        });
        from_url.unwrap_or_else(|| "localhost".to_owned())
    }

    /// As [`Self::public_url`], for the address actually bound (e.g. after `--listen …:0`).
    #[must_use]
    pub fn public_url_at(&self, bound: SocketAddr, tls: bool) -> String {
        self.config.server.public_url.clone().unwrap_or_else(|| {
            let scheme = if tls { "https" } else { "http" };
            if bound.ip().is_loopback() {
                format!("{scheme}://localhost:{}/", bound.port())
            } else {
                format!("{scheme}://{bound}/")
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, std::iter::empty::<(&str, &str)>())
    }

    #[test]
    fn defaults_are_valid_and_secure() {
        let cfg = parse("").and_then(|c| c.validate());
        let cfg = cfg.map_err(|e| e.to_string());
        assert!(cfg.is_ok(), "{cfg:?}");
        if let Ok(cfg) = cfg {
            assert_eq!(cfg.listen().to_string(), "127.0.0.1:8443");
            assert_eq!(cfg.get().session.idle_lock.0, Duration::from_secs(600));
            assert_eq!(cfg.get().password.min_length, 12);
            assert_eq!(cfg.get().tls.min_version, "1.2");
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        let cfg = Config::parse(
            "[session]\nidle_lock = \"10m\"\n",
            [("MAMORI_IDLE_LOCK", "30s"), ("MAMORI_PASSWORD_MIN_LENGTH", "14"), ("HOME", "/root")],
        );
        let cfg = cfg.map_err(|e| e.to_string());
        assert!(cfg.is_ok(), "{cfg:?}");
        if let Ok(cfg) = cfg {
            assert_eq!(cfg.session.idle_lock.0, Duration::from_secs(30));
            assert_eq!(cfg.password.min_length, 14);
        }
        let bad = Config::parse("", [("MAMORI_PASSWORD_MIN_LENGTH", "twelve")]);
        assert!(matches!(bad, Err(ConfigError::Env { .. })), "{bad:?}");
    }

    #[test]
    fn unknown_keys_and_bad_types_are_refused() {
        assert!(matches!(parse("[server]\nlisen = \"x\"\n"), Err(ConfigError::Syntax { .. })));
        assert!(matches!(parse("[session]\nidle_lock = \"soon\"\n"), Err(ConfigError::Syntax { .. })));
        assert!(matches!(parse("not toml ="), Err(ConfigError::Syntax { .. })));
    }

    fn refused_key(text: &str) -> Option<&'static str> {
        match parse(text).map(|c| c.validate()) {
            Ok(Err(ConfigError::Invalid { key, .. })) => Some(key),
            _ => None,
        }
    }

    #[test]
    fn values_below_security_minimums_are_refused() {
        assert_eq!(refused_key("[password]\nmin_length = 7\n"), Some("password.min_length"));
        assert_eq!(refused_key("[password]\nargon2_memory_kib = 4096\n"), Some("password.argon2_*"));
        assert_eq!(
            refused_key("[password]\nargon2_memory_kib = 19456\nargon2_iterations = 1\n"),
            Some("password.argon2_*")
        );
        assert_eq!(refused_key("[tls]\nmin_version = \"1.1\"\n"), Some("tls.min_version"));
        assert_eq!(refused_key("[tls]\nclient_auth = \"required\"\n"), Some("tls.client_ca"));
        assert_eq!(refused_key("[session]\nidle_lock = \"2h\"\n"), Some("session.idle_lock"));
        assert_eq!(refused_key("[session]\nlifetime = \"48h\"\n"), Some("session.lifetime"));
        assert_eq!(refused_key("[server]\nlisten = \"localhost\"\n"), Some("server.listen"));
        assert_eq!(refused_key("[database]\nurl = \"mysql://x\"\n"), Some("database.url"));
        assert_eq!(refused_key("[lockout]\nthreshold = 50\n"), Some("lockout.threshold"));
        assert_eq!(
            refused_key("[logon_hours.clerk]\ndays = [\"mon\"]\nfrom = \"8\"\nuntil = \"20:00\"\n"),
            Some("logon_hours")
        );
        assert_eq!(refused_key("[lockout]\nwindow = \"5s\"\n"), Some("lockout.window"));
        assert_eq!(refused_key("[emergency]\nsealed_account_ttl = \"5m\"\n"), Some("emergency.sealed_account_ttl"));
        assert_eq!(refused_key("[emergency]\nsealed_account_ttl = \"4d\"\n"), Some("emergency.sealed_account_ttl"));
        assert_eq!(refused_key("[emergency]\nsealed_account_ttl = \"12h\"\n"), None);
        assert_eq!(refused_key("[ledger]\ncheckpoint_interval = \"1s\"\n"), Some("ledger.checkpoint_interval"));
        assert_eq!(refused_key("[ledger]\norigin_host = \"a b/c\"\n"), Some("ledger.origin_host"));
        assert_eq!(refused_key("[time]\nmax_offset = \"5ms\"\n"), Some("time.max_offset"));
        assert_eq!(refused_key("[time]\nmax_offset = \"2m\"\n"), Some("time.max_offset"));
        assert_eq!(refused_key("[time]\nmax_offset = \"10ms\"\n"), None);
        assert_eq!(refused_key("[time]\nmax_offset = \"60s\"\n"), None);
        assert_eq!(refused_key("[time]\ncheck_interval = \"5s\"\n"), Some("time.check_interval"));
        assert_eq!(refused_key("[time]\ncheck_interval = \"2h\"\n"), Some("time.check_interval"));
        assert_eq!(refused_key("[time]\ncheck_interval = \"10s\"\n"), None);
        assert_eq!(refused_key("[time]\ncheck_interval = \"1h\"\n"), None);
        for bad in
            ["ntp.nict.jp", "ntp.nict.jp:0", "ntp.nict.jp:70000", ":123", "", "ntp nict:123", "::1:123", "[::1]:x"]
        {
            let text = format!("[time]\nntp_server = \"{bad}\"\n");
            assert_eq!(refused_key(&text), Some("time.ntp_server"), "{bad:?}");
        }
        for good in ["ntp.nict.jp:123", "127.0.0.1:123", "[::1]:123", "[2001:db8::1]:10123"] {
            let text = format!("[time]\nntp_server = \"{good}\"\n");
            assert_eq!(refused_key(&text), None, "{good:?}");
        }
    }

    #[test]
    fn the_time_section_defaults_to_unchecked_and_reads_its_environment() {
        let cfg = parse("").map_err(|e| e.to_string());
        assert!(cfg.is_ok(), "{cfg:?}");
        if let Ok(cfg) = cfg {
            assert_eq!(cfg.time.ntp_server, None);
            assert_eq!(cfg.time.max_offset.0, Duration::from_secs(1));
            assert_eq!(cfg.time.check_interval.0, Duration::from_secs(300));
            assert_eq!(cfg.time.max_age(), Duration::from_secs(900));
        }
        let cfg = Config::parse(
            "",
            [
                ("MAMORI_NTP_SERVER", "ntp.nict.jp:123"),
                ("MAMORI_MAX_CLOCK_OFFSET", "250ms"),
                ("MAMORI_TIME_CHECK_INTERVAL", "1m"),
            ],
        )
        .and_then(|c| c.validate())
        .map_err(|e| e.to_string());
        assert!(cfg.is_ok(), "{cfg:?}");
        if let Ok(cfg) = cfg {
            let time = &cfg.get().time;
            assert_eq!(time.ntp_server.as_deref(), Some("ntp.nict.jp:123"));
            assert_eq!(time.max_offset.0, Duration::from_millis(250));
            assert_eq!(time.check_interval.0, Duration::from_secs(60));
            assert_eq!(time.max_age(), Duration::from_secs(180));
        }
        let refused = Config::parse("", [("MAMORI_NTP_SERVER", "ntp.nict.jp")]).map(|c| c.validate().map(|_| ()));
        let text = format!("{refused:?}");
        assert!(matches!(refused, Ok(Err(ConfigError::Invalid { key: "time.ntp_server", .. }))), "{text}");
        if let Ok(Err(e)) = refused {
            let shown = e.to_string();
            assert!(shown.contains("ntp.nict.jp:123") && shown.contains("ホスト名:ポート番号"), "{shown}");
        }
    }

    #[test]
    fn the_audit_section_forwards_nothing_by_default_and_refuses_incomplete_settings() {
        let cfg = parse("").and_then(|c| c.validate()).map_err(|e| e.to_string());
        assert!(cfg.is_ok(), "{cfg:?}");
        if let Ok(cfg) = cfg {
            let audit = &cfg.get().audit;
            assert_eq!(audit.syslog_tls, None);
            assert_eq!(audit.syslog_server_name(), None);
            assert_eq!(audit.syslog_interval.0, Duration::from_secs(2));
        }
        let tls = "[audit]\nsyslog_tls = \"syslog.example.jp:6514\"\n";
        assert_eq!(refused_key(tls), Some("audit.syslog_ca"), "no system roots: a CA is required");
        let with_ca = format!("{tls}syslog_ca = \"syslog/ca.pem\"\n");
        assert_eq!(refused_key(&with_ca), None);
        assert_eq!(
            refused_key(&format!("{with_ca}syslog_client_cert = \"syslog/client.pem\"\n")),
            Some("audit.syslog_client_key")
        );
        assert_eq!(
            refused_key(&format!("{with_ca}syslog_client_key = \"syslog/client-key.pem\"\n")),
            Some("audit.syslog_client_cert")
        );
        assert_eq!(
            refused_key(&format!(
                "{with_ca}syslog_client_cert = \"syslog/client.pem\"\nsyslog_client_key = \"syslog/client-key.pem\"\n"
            )),
            None
        );
        assert_eq!(refused_key("[audit]\nsyslog_interval = \"50ms\"\n"), Some("audit.syslog_interval"));
        assert_eq!(refused_key("[audit]\nsyslog_interval = \"2h\"\n"), Some("audit.syslog_interval"));
        assert_eq!(refused_key("[audit]\nsyslog_interval = \"100ms\"\n"), None);
        assert_eq!(refused_key("[audit]\nsyslog_interval = \"1h\"\n"), None);
        for bad in ["syslog.example.jp", "syslog.example.jp:0", ":6514", "a b:6514", "::1:6514"] {
            let text = format!("[audit]\nsyslog_tls = \"{bad}\"\nsyslog_ca = \"ca.pem\"\n");
            assert_eq!(refused_key(&text), Some("audit.syslog_tls"), "{bad:?}");
        }
        for bad in ["", "a b", "[::1]", "syslog.example.jp:6514"] {
            let text = format!("{with_ca}syslog_server_name = \"{bad}\"\n");
            assert_eq!(refused_key(&text), Some("audit.syslog_server_name"), "{bad:?}");
        }
        let shown = match parse(tls).map(|c| c.validate()) {
            Ok(Err(e)) => e.to_string(),
            other => format!("not refused: {other:?}"),
        };
        assert!(shown.contains("audit.syslog_ca") && shown.contains("CA証明書"), "{shown}");
    }

    #[test]
    fn the_audit_section_reads_its_environment_and_names_the_collector() {
        let cfg = Config::parse(
            "",
            [
                ("MAMORI_SYSLOG_TLS", "[2001:db8::1]:6514"),
                ("MAMORI_SYSLOG_CA", "syslog/ca.pem"),
                ("MAMORI_SYSLOG_CLIENT_CERT", "syslog/client.pem"),
                ("MAMORI_SYSLOG_CLIENT_KEY", "syslog/client-key.pem"),
                ("MAMORI_SYSLOG_INTERVAL", "500ms"),
            ],
        )
        .and_then(|c| c.validate())
        .map_err(|e| e.to_string());
        assert!(cfg.is_ok(), "{cfg:?}");
        if let Ok(cfg) = cfg {
            let audit = &cfg.get().audit;
            assert_eq!(audit.syslog_tls.as_deref(), Some("[2001:db8::1]:6514"));
            assert_eq!(audit.syslog_ca.as_deref(), Some(Path::new("syslog/ca.pem")));
            assert_eq!(audit.syslog_client_key.as_deref(), Some(Path::new("syslog/client-key.pem")));
            assert_eq!(audit.syslog_interval.0, Duration::from_millis(500));
            assert_eq!(audit.syslog_server_name().as_deref(), Some("2001:db8::1"));
        }
        let named = Config::parse(
            "[audit]\nsyslog_tls = \"10.0.0.5:6514\"\nsyslog_ca = \"ca.pem\"\n",
            [("MAMORI_SYSLOG_SERVER_NAME", "syslog.example.jp")],
        )
        .and_then(|c| c.validate())
        .map(|c| c.get().audit.syslog_server_name());
        assert_eq!(named.ok().flatten().as_deref(), Some("syslog.example.jp"));
        let by_host = parse("[audit]\nsyslog_tls = \"syslog.example.jp:6514\"\nsyslog_ca = \"ca.pem\"\n")
            .map(|c| c.audit.syslog_server_name());
        assert_eq!(by_host.ok().flatten().as_deref(), Some("syslog.example.jp"));
    }

    #[test]
    fn the_log_origin_host_comes_from_config_or_the_public_url() {
        let host = |text: &str| match parse(text).map(|c| c.validate()) {
            Ok(Ok(valid)) => valid.log_origin_host(),
            other => format!("refused: {other:?}"),
        };
        assert_eq!(host(""), "localhost");
        assert_eq!(host("[server]\npublic_url = \"https://clinic.example.jp:8443/\"\n"), "clinic.example.jp");
        assert_eq!(host("[server]\npublic_url = \"https://clinic.example.jp/\"\n"), "clinic.example.jp");
        assert_eq!(
            host("[server]\npublic_url = \"https://x.example/\"\n[ledger]\norigin_host = \"log.example.jp\"\n"),
            "log.example.jp"
        );
    }

    #[test]
    fn owasp_argon2_equivalents_are_accepted() {
        for (t, m) in ARGON2_MIN_MEMORY_BY_ITERATIONS {
            let text = format!("[password]\nargon2_memory_kib = {m}\nargon2_iterations = {t}\n");
            assert_eq!(refused_key(&text), None, "t={t} m={m}");
        }
    }

    #[test]
    fn the_database_password_never_shows() {
        let cfg = parse("[database]\nurl = \"postgres://mamori:s3cret-pw@db.example:5432/mamori?sslmode=require\"\n");
        let cfg = cfg.map_err(|e| e.to_string());
        assert!(cfg.is_ok(), "{cfg:?}");
        if let Ok(cfg) = cfg {
            let dump = cfg.redacted_toml();
            assert!(!dump.contains("s3cret-pw"), "{dump}");
            assert!(dump.contains("postgres://mamori:***@db.example:5432/mamori"), "{dump}");
            assert!(!format!("{cfg:?}").contains("s3cret-pw"));
            assert_eq!(cfg.database.url.expose(), "postgres://mamori:s3cret-pw@db.example:5432/mamori?sslmode=require");
            let file = cfg.to_file_toml();
            assert!(file.contains("s3cret-pw"), "the file keeps the real URL: {file}");
            let back = Config::parse(&file, std::iter::empty::<(&str, &str)>()).map(|c| c.database.url);
            assert_eq!(back.ok(), Some(cfg.database.url.clone()));
        }
        assert_eq!(
            redact_url("postgres://h/db?user=a&password=x&sslmode=require"),
            "postgres://h/db?user=a&password=***&sslmode=require"
        );
        assert_eq!(redact_url("sqlite://mamori.db"), "sqlite://mamori.db");
    }
}
