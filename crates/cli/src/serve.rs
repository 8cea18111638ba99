//! `mamori serve`: load, check, bind, serve until SIGTERM or Ctrl-C.

use crate::datadir::{self, DirState};
use crate::init::{self, InitOptions};
use crate::{Failure, ServeArgs};
use mamori_core::config::{Config, ValidConfig};
use mamori_crypto::CheckpointKey;
use mamori_server::{Inner, ServerKeys, SystemClock};
use mamori_store::Store;
use std::path::Path;
use std::sync::Arc;

/// Opens (and migrates) the configured database.
pub async fn open_store(config: &Config, data_dir: &Path) -> Result<Arc<dyn Store>, Failure> {
    mamori_store::open(&config.database.url, data_dir, config.database.max_connections).await.map_err(Failure::failed)
}

fn read_file(what_ja: &str, what_en: &str, path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| {
        Failure::failed(format!(
            "{what_ja} {} を読めません（{e}） / cannot read the {what_en} {} ({e})",
            path.display(),
            path.display()
        ))
    })
}

/// Reads the checkpoint signing key named by the configuration.
pub fn load_checkpoint_key(data: &Path, config: &Config) -> Result<CheckpointKey, Failure> {
    let key_path = ValidConfig::resolve(data, &config.keys.checkpoint_signing_key);
    let key_pem = read_file("署名鍵", "checkpoint signing key", &key_path)?;
    CheckpointKey::from_pkcs8_pem(&String::from_utf8_lossy(&key_pem))
        .map_err(|e| Failure::failed(format!("{e} ({})", key_path.display())))
}

/// Writes a checkpoint file of every institution's log that grew since the last one.
async fn write_checkpoints(state: &mamori_server::AppState, data: &Path) {
    let institutions = match state.store.institutions().await {
        Ok(list) => list,
        Err(e) => {
            tracing::error!(error = %e, "cannot list institutions for checkpoints");
            return;
        }
    };
    for institution in institutions {
        let result = mamori_server::checkpoints::write_file(
            state.store.as_ref(),
            &state.config,
            &state.keys.checkpoint,
            data,
            institution.id,
        )
        .await;
        match result {
            Ok((head, true)) => tracing::info!(institution = %institution.id, size = head.size, "checkpoint written"),
            Ok((_, false)) => {}
            Err(e) => tracing::error!(institution = %institution.id, error = %e, "cannot write a checkpoint"),
        }
    }
}

/// `mamori serve`.
pub async fn command(args: ServeArgs) -> Result<(), Failure> {
    if args.insecure_http
        && let Some(listen) = args.listen
    {
        refuse_non_loopback(listen)?;
    }
    if datadir::state(&args.data) != DirState::Occupied {
        let options = InitOptions {
            institution: args.institution.clone(),
            database: args.database.clone(),
            listen: args.listen,
            tls: None,
        };
        let report = init::create(&args.data, &options, &SystemClock, &mut rand_core::OsRng).await?;
        report.print(args.json);
    }
    let mut config = datadir::load_config(&args.data)?.get().clone();
    if let Some(listen) = args.listen {
        config.server.listen = listen.to_string();
    }
    let valid = config.validate().map_err(Failure::refused)?;
    let listen = valid.listen();
    if args.insecure_http {
        refuse_non_loopback(listen)?;
    }
    let config = valid.get();

    let checkpoint = load_checkpoint_key(&args.data, config)?;
    // The syslog collector's CA (and client certificate) must be readable before anything runs.
    if config.audit.syslog_tls.is_some() {
        mamori_server::syslog::client_config(&valid, &args.data).map_err(Failure::refused)?;
    }

    let tls = if args.insecure_http {
        tracing::warn!("serving plain HTTP on loopback: for development only");
        None
    } else {
        let cert = read_file("TLS証明書", "TLS certificate", &ValidConfig::resolve(&args.data, &config.tls.cert))?;
        let key = read_file("TLS秘密鍵", "TLS key", &ValidConfig::resolve(&args.data, &config.tls.key))?;
        // An explicitly configured client CA wins; otherwise, once `mamori terminal issue` has
        // made the terminal CA, its certificates are asked for (optional at the TLS level: the
        // institution's rule decides at login).
        let terminal_ca = args.data.join(crate::terminal::CA_CERT);
        let (client_auth, ca) = match &config.tls.client_ca {
            Some(p) => {
                let bundle = read_file("クライアントCA", "client CA bundle", &ValidConfig::resolve(&args.data, p))?;
                (config.tls.client_auth, Some(bundle))
            }
            None if terminal_ca.exists() => {
                (mamori_core::config::ClientAuth::Optional, Some(read_file("端末CA", "terminal CA", &terminal_ca)?))
            }
            None => (config.tls.client_auth, None),
        };
        let server_config =
            mamori_server::tls::server_config(&cert, &key, &config.tls.min_version, client_auth, ca.as_deref())
                .map_err(Failure::failed)?;
        Some(Arc::new(server_config))
    };

    let store = open_store(config, &args.data).await?;
    if !store.is_initialized().await.map_err(Failure::failed)? {
        return Err(Failure::refused(format!(
            "データベース {} に mamori の医療機関がありません。`mamori init` で作成したデータディレクトリを指定してください / database {} holds no mamori institution; use a data directory made by `mamori init`",
            config.database.url, config.database.url
        )));
    }

    // The stored logs must still hold the newest checkpoints written outside the database.
    for institution in store.institutions().await.map_err(Failure::failed)? {
        if let Err(message) = mamori_server::checkpoints::check_against_newest_file(
            store.as_ref(),
            &valid,
            &checkpoint,
            &args.data,
            institution.id,
        )
        .await
        {
            store.close().await;
            return Err(Failure::failed(message));
        }
    }

    // Every start is in each log, with a digest of the effective configuration (secrets are
    // redacted in its serialization), so a changed configuration shows between two starts.
    let config_text = toml::to_string(config).unwrap_or_default();
    let digest: String = mamori_crypto::token::token_hash(&config_text).iter().map(|b| format!("{b:02x}")).collect();
    let started = mamori_core::clock::to_micros(mamori_core::Clock::now(&SystemClock));
    let institutions: Vec<_> = store.institutions().await.map_err(Failure::failed)?.into_iter().map(|i| i.id).collect();
    for institution in &institutions {
        let details = [("version", env!("CARGO_PKG_VERSION").to_owned()), ("config_sha256", digest.clone())];
        mamori_server::audit::record_system(store.as_ref(), *institution, started, "server.start", &details)
            .await
            .map_err(Failure::failed)?;
    }

    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            Failure::failed(format!(
                "{listen} は既に使用中です。別のアドレスを --listen で指定するか、使用中のプロセスを止めてください / {listen} is already in use: choose another with --listen or stop the process using it"
            ))
        } else {
            Failure::failed(format!("{listen} で待ち受けできません（{e}） / cannot listen on {listen} ({e})"))
        }
    })?;
    let bound = listener.local_addr().map_err(Failure::failed)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let metrics = Arc::new(mamori_server::metrics::Metrics::default());
    let clock = Arc::new(SystemClock);
    let passwords = mamori_server::auth::Passwords::new(&config.password).map_err(Failure::failed)?;
    let public_url = valid.public_url_at(bound, tls.is_some());
    let webauthn = mamori_server::auth::webauthn_for(&public_url).map(Arc::new);
    if webauthn.is_none() {
        tracing::warn!(%public_url, "security keys (WebAuthn) are off: server.public_url has no domain name");
    }
    let state = mamori_server::AppState::new(Inner {
        webauthn,
        store: store.clone(),
        config: valid.clone(),
        keys: ServerKeys { checkpoint },
        passwords,
        metrics: metrics.clone(),
        started_at: mamori_core::Clock::now(clock.as_ref()),
        clock,
        tls: tls.is_some(),
        files: mamori_server::files::FileStore::new(args.data.join("files")),
    });
    let shutdown = mamori_server::shutdown_signal()
        .map_err(|e| Failure::failed(format!("シグナルを受け取れません / cannot install signal handlers: {e}")))?;
    tracing::info!(url = %public_url, backend = store.backend().as_str(), "mamori listening");
    #[allow(clippy::print_stdout)]
    {
        println!("mamori: listening on {scheme}://{bound}/");
    }
    // Signed checkpoints outside the database, now and every `ledger.checkpoint_interval`.
    let writer = {
        let state = state.clone();
        let data = args.data.clone();
        let every = config.ledger.checkpoint_interval.0;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                write_checkpoints(&state, &data).await;
            }
        })
    };
    let clock_checker = mamori_server::timecheck::spawn_checker(state.clone());
    // The audit trail to the syslog collector (`audit.syslog_tls`), now and every `audit.syslog_interval`.
    let syslog_forwarder = mamori_server::syslog::spawn_forwarder(state.clone(), args.data.clone());
    let app = mamori_server::app(state.clone());
    let served = mamori_server::run(listener, tls, app, metrics, shutdown).await.map_err(Failure::failed);
    writer.abort();
    clock_checker.abort();
    if let Some(forwarder) = syslog_forwarder {
        forwarder.abort();
        let _ = forwarder.await;
    }
    // The stop is the last event; the last checkpoint covers it and every drained request's.
    let stopped = mamori_core::clock::to_micros(mamori_core::Clock::now(&SystemClock));
    for institution in &institutions {
        if let Err(e) =
            mamori_server::audit::record_system(store.as_ref(), *institution, stopped, "server.stop", &[]).await
        {
            tracing::error!(error = %e, "cannot record the stop");
        }
    }
    write_checkpoints(&state, &args.data).await;
    mamori_server::syslog::forward_before_exit(&state, &args.data).await;
    served?;
    store.close().await;
    tracing::info!("mamori stopped");
    Ok(())
}

fn refuse_non_loopback(listen: std::net::SocketAddr) -> Result<(), Failure> {
    if listen.ip().is_loopback() {
        Ok(())
    } else {
        Err(Failure::refused(format!(
            "--insecure-http はループバックアドレス（127.0.0.1 / ::1）でのみ使えます: {listen} / --insecure-http is allowed only on a loopback address (127.0.0.1 or ::1), not {listen}"
        )))
    }
}
