//! `mamori init`: a new data directory, all or nothing.
//!
//! Everything is built in a hidden staging directory beside the target and renamed into place
//! at the end, so a failure at any step leaves nothing behind. With PostgreSQL the database is
//! written last, in one transaction, and only if it holds no mamori installation yet.

use crate::datadir::{self, DirState};
use crate::{Failure, InitArgs};
use mamori_core::config::{CONFIG_FILE, ClientAuth, Config, DatabaseUrl, ValidConfig};
use mamori_core::factor::TotpRecord;
use mamori_core::{
    Clock, DisplayName, Institution, InstitutionId, InstitutionName, JobType, LoginId, NewUser, Role, UserId,
};
use mamori_crypto::{CheckpointKey, OneTimePassword, PasswordHasher, TotpSecret, self_signed_localhost};
use rand_core::{CryptoRng, RngCore};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The first institution's name when none is given.
pub const DEFAULT_INSTITUTION: &str = "まもり診療所";
/// The first administrator's login ID.
pub const ADMIN_LOGIN_ID: &str = "admin";
/// How long the self-signed certificate is valid (browsers accept at most 825 days).
const SELF_SIGNED_VALIDITY: Duration = Duration::from_secs(825 * 24 * 60 * 60);

/// What `init` reports: printed once, never logged.
#[derive(Debug, Serialize)]
pub struct InitReport {
    /// The first institution.
    pub institution_id: String,
    /// Its name.
    pub institution_name: String,
    /// The first administrator's login ID.
    pub admin_login_id: String,
    /// The one-time password (must be changed at first login).
    pub admin_password: String,
    /// Whether that password must be changed at first login (always true).
    pub admin_password_change_required: bool,
    /// The administrator's TOTP secret (base32), the second factor from the start.
    pub admin_totp_secret: String,
    /// The same as an `otpauth://` URI (what a QR code would carry).
    pub admin_otpauth_uri: String,
    /// The URL to open.
    pub url: String,
    /// The data directory.
    pub data_dir: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// SHA-256 fingerprint of the TLS certificate, to compare with what the browser shows.
    pub tls_certificate_sha256: String,
    /// Identifier of the checkpoint signing key.
    pub checkpoint_key_id: String,
}

impl InitReport {
    /// Prints the report: JSON, or a few lines for a person.
    #[allow(clippy::print_stdout)]
    pub fn print(&self, json: bool) {
        if json {
            match serde_json::to_string(self) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("mamori: cannot encode the report: {e}"),
            }
            return;
        }
        println!("mamori を初期化しました / mamori initialized: {}", self.data_dir);
        println!("  医療機関 / institution:          {} ({})", self.institution_name, self.institution_id);
        println!("  データベース / database:         {}", self.database);
        println!("  管理者ログインID / admin login:  {}", self.admin_login_id);
        println!("  初回パスワード / one-time password: {}", self.admin_password);
        println!("    （初回ログイン時に変更が必要です / must be changed at first login; shown only once）");
        println!("  二要素認証 TOTP シークレット / TOTP secret: {}", self.admin_totp_secret);
        println!("    （認証アプリに登録してください / add it to an authenticator app: {}）", self.admin_otpauth_uri);
        println!("  URL: {}", self.url);
        println!("  TLS証明書 SHA-256 / certificate SHA-256: {}", self.tls_certificate_sha256);
    }
}

/// What `init` needs besides the directory.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// First institution's name.
    pub institution: String,
    /// Database URL (None: SQLite in the data directory).
    pub database: Option<String>,
    /// Listen address to write into the configuration.
    pub listen: Option<std::net::SocketAddr>,
    /// A certificate chain and key to use instead of a self-signed certificate.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// `mamori init`.
pub async fn command(args: InitArgs) -> Result<(), Failure> {
    let tls = args.tls_cert.zip(args.tls_key);
    let options = InitOptions { institution: args.institution, database: args.database, listen: args.listen, tls };
    let report = create(&args.data, &options, &mamori_server::SystemClock, &mut rand_core::OsRng).await?;
    report.print(args.json);
    Ok(())
}

/// Creates a data directory at `dir`. Refuses (exit 2, nothing changed) when `dir` exists and is
/// not an empty directory.
pub async fn create(
    dir: &Path,
    options: &InitOptions,
    clock: &dyn Clock,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<InitReport, Failure> {
    let dir_state = datadir::state(dir);
    if dir_state == DirState::Occupied {
        return Err(Failure::refused(format!(
            "データディレクトリ {} は既に存在します。init は既存のディレクトリを変更しません。新しいパスを指定してください / data directory {} already exists; init never touches an existing one: give a new path",
            dir.display(),
            dir.display()
        )));
    }
    let name =
        InstitutionName::parse(&options.institution).map_err(|m| Failure::refused(format!("--institution: {m}")))?;
    let mut config = Config::default();
    if let Some(url) = &options.database {
        config.database.url = DatabaseUrl::new(url.clone());
    }
    if let Some(listen) = options.listen {
        config.server.listen = listen.to_string();
    }
    let provided_tls = match &options.tls {
        Some((cert, key)) => {
            let provided = check_provided_tls(cert, key)?;
            config.tls.cert = provided.cert_path.clone();
            config.tls.key = provided.key_path.clone();
            Some(provided)
        }
        None => None,
    };
    // The file's own values are checked here; MAMORI_* variables are applied when serving.
    let valid = config.validate().map_err(Failure::refused)?;

    let staging = staging_path(dir, rng);
    datadir::create_private_dir(&staging).map_err(|e| {
        Failure::failed(format!(
            "データディレクトリを作成できません（{e}） / cannot create the data directory {} ({e})",
            dir.display()
        ))
    })?;
    let result = populate(&staging, dir, &valid, name, provided_tls, clock, rng).await;
    let report = match result {
        Ok(report) => report,
        Err(f) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(f);
        }
    };
    // rename(2) replaces an empty directory atomically; anything else was refused above.
    if let Err(e) = std::fs::rename(&staging, dir) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(Failure::failed(format!(
            "データディレクトリを配置できません（{e}） / cannot move the new data directory into place at {} ({e})",
            dir.display()
        )));
    }
    tracing::info!(data_dir = %dir.display(), database = %report.database, "data directory initialized");
    Ok(report)
}

fn staging_path(dir: &Path, rng: &mut impl RngCore) -> PathBuf {
    let name = dir.file_name().map_or_else(|| "mamori".into(), |n| n.to_string_lossy().into_owned());
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    parent.join(format!(".{name}.init-{:08x}", rng.next_u32()))
}

fn io_failure(what: &str, path: &Path, e: &std::io::Error) -> Failure {
    Failure::failed(format!(
        "{what} {} を書き込めません（{e}） / cannot write {} ({e})",
        path.display(),
        path.display()
    ))
}

async fn populate(
    staging: &Path,
    final_dir: &Path,
    valid: &ValidConfig,
    name: InstitutionName,
    provided_tls: Option<ProvidedTls>,
    clock: &dyn Clock,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<InitReport, Failure> {
    let config = valid.get();
    let now = mamori_core::clock::to_micros(clock.now());

    // Keys first: they need nothing else.
    let tls_fingerprint = match provided_tls {
        Some(provided) => provided.fingerprint,
        None => {
            let cert =
                self_signed_localhost("localhost", now - Duration::from_secs(60 * 60), now + SELF_SIGNED_VALIDITY)
                    .map_err(Failure::failed)?;
            let cert_path = ValidConfig::resolve(staging, &config.tls.cert);
            let key_path = ValidConfig::resolve(staging, &config.tls.key);
            datadir::write_private(&cert_path, cert.cert_pem.as_bytes())
                .map_err(|e| io_failure("TLS証明書", &cert_path, &e))?;
            datadir::write_private(&key_path, cert.key_pem.expose().as_bytes())
                .map_err(|e| io_failure("TLS秘密鍵", &key_path, &e))?;
            cert.fingerprint
        }
    };
    let checkpoint = CheckpointKey::generate(rng);
    let checkpoint_pem = checkpoint.to_pkcs8_pem().map_err(Failure::failed)?;
    let checkpoint_path = ValidConfig::resolve(staging, &config.keys.checkpoint_signing_key);
    datadir::write_private(&checkpoint_path, checkpoint_pem.as_bytes())
        .map_err(|e| io_failure("署名鍵", &checkpoint_path, &e))?;

    let config_text = format!(
        "# mamori configuration, written by `mamori init`. Relative paths are inside this directory.\n\
         # Every key can be overridden by a MAMORI_* environment variable (see docs/configuration.md).\n\
         # Values are checked against security minimums at start-up.\n\n{}",
        config.to_file_toml()
    );
    let config_path = staging.join(CONFIG_FILE);
    datadir::write_private(&config_path, config_text.as_bytes())
        .map_err(|e| io_failure("設定ファイル", &config_path, &e))?;

    // The administrator's one-time password.
    let hasher = PasswordHasher::new(
        config.password.argon2_memory_kib,
        config.password.argon2_iterations,
        config.password.argon2_parallelism,
    )
    .map_err(Failure::failed)?;
    let password = OneTimePassword::generate(rng);
    let hash = hasher.hash(password.secret(), rng).map_err(Failure::failed)?;
    let institution = Institution { id: InstitutionId::generate(rng), name, created_at: now };
    let admin = NewUser {
        id: UserId::generate(rng),
        login_id: LoginId::parse(ADMIN_LOGIN_ID).map_err(Failure::failed)?,
        display_name: DisplayName::parse("管理者").map_err(Failure::failed)?,
        job_type: JobType::Manager,
        roles: vec![Role::SystemAdministrator],
        password_hash: hash.as_phc().to_owned(),
        password_change_required: true,
        created_at: now,
    };

    let totp_secret = TotpSecret::generate(rng);
    let admin_totp =
        TotpRecord { secret: totp_secret.as_bytes().to_vec(), confirmed: true, last_used_step: None, created_at: now };

    // The database last: with PostgreSQL it is the one step outside the staging directory.
    if config.database.url.expose() == mamori_core::config::DatabaseConfig::default().url.expose() {
        // Created empty (a valid SQLite file) so that it, and its -wal/-shm, are mode 0600.
        let db_path = staging.join("mamori.db");
        datadir::write_private(&db_path, b"").map_err(|e| io_failure("データベース", &db_path, &e))?;
    }
    let store = crate::serve::open_store(config, staging).await?;
    let outcome = async {
        if store.is_initialized().await.map_err(Failure::failed)? {
            return Err(Failure::refused(format!(
                "データベース {} には既に mamori が初期化されています。別のデータベースを指定してください / database {} already holds a mamori installation; give another database",
                config.database.url, config.database.url
            )));
        }
        store.bootstrap(&institution, &admin, &admin_totp).await.map_err(Failure::failed)?;
        // The log's first leaves: the installation and its first administrator.
        let store_ref = store.as_ref();
        mamori_server::audit::record_operator(store_ref, institution.id, now, "institution.create", None)
            .await
            .map_err(Failure::failed)?;
        mamori_server::audit::record_operator(
            store_ref,
            institution.id,
            now,
            "user.create",
            Some(format!("user:{}", admin.id)),
        )
        .await
        .map_err(Failure::failed)?;
        // The sample master, so that records can be written at once (a real master is loaded
        // with `mamori master import`).
        mamori_server::masters::import(
            store_ref,
            institution.id,
            mamori_core::master::SAMPLE_CSV.as_bytes(),
            mamori_core::audit::Actor::Operator,
            now,
        )
        .await
        .map(|_| ())
        .map_err(Failure::failed)
    }
    .await;
    store.close().await;
    outcome?;

    Ok(InitReport {
        institution_id: institution.id.to_string(),
        institution_name: institution.name.as_str().to_owned(),
        admin_login_id: admin.login_id.as_str().to_owned(),
        admin_password: password.secret().expose().to_owned(),
        admin_password_change_required: true,
        admin_totp_secret: totp_secret.to_base32(),
        admin_otpauth_uri: totp_secret.otpauth_uri("mamori", ADMIN_LOGIN_ID),
        url: valid.public_url(true),
        data_dir: final_dir.display().to_string(),
        database: config.database.url.backend().map_or("unknown", |b| b.as_str()).to_owned(),
        tls_certificate_sha256: tls_fingerprint,
        checkpoint_key_id: checkpoint.key_id(),
    })
}

/// A certificate the operator brought, checked before anything is written.
#[derive(Debug)]
struct ProvidedTls {
    cert_path: PathBuf,
    key_path: PathBuf,
    fingerprint: String,
}

/// Checks that `cert` and `key` are readable PEM that rustls accepts together; the configuration
/// then refers to them by absolute path, so the operator's renewals take effect on restart.
fn check_provided_tls(cert: &Path, key: &Path) -> Result<ProvidedTls, Failure> {
    let absolute = |p: &Path| {
        std::fs::canonicalize(p).map_err(|e| {
            Failure::refused(format!(
                "ファイル {} を読めません（{e}） / cannot read {} ({e})",
                p.display(),
                p.display()
            ))
        })
    };
    let (cert_path, key_path) = (absolute(cert)?, absolute(key)?);
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| {
            Failure::refused(format!(
                "ファイル {} を読めません（{e}） / cannot read {} ({e})",
                p.display(),
                p.display()
            ))
        })
    };
    let (cert_pem, key_pem) = (read(&cert_path)?, read(&key_path)?);
    mamori_server::tls::server_config(&cert_pem, &key_pem, "1.2", ClientAuth::Off, None)
        .map_err(|e| Failure::refused(format!("--tls-cert/--tls-key: {e}")))?;
    let fingerprint = mamori_server::tls::leaf_fingerprint(&cert_pem)
        .ok_or_else(|| Failure::refused("--tls-cert: 証明書がありません / no certificate in the file"))?;
    Ok(ProvidedTls { cert_path, key_path, fingerprint })
}
