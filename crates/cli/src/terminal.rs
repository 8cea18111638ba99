//! `mamori terminal`: the institution's registered terminals (MDS 15) — issue a client
//! certificate as PKCS#12, list, revoke, and require them for login.

use crate::datadir;
use crate::serve::open_store;
use crate::{DataTarget, Failure, TerminalArgs, TerminalCommand};
use mamori_core::terminal::{Terminal, TerminalName};
use mamori_core::{Clock, InstitutionId, TerminalId};
use mamori_crypto::terminal_ca::TerminalCa;
use mamori_store::Store;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where the terminal CA lives inside the data directory.
pub const CA_CERT: &str = "terminals/ca.pem";
/// The CA's private key (mode 0600).
pub const CA_KEY: &str = "terminals/ca-key.pem";
/// How long the CA is valid.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 366 * 24 * 60 * 60);
/// How long a terminal certificate is valid.
const TERMINAL_VALIDITY: Duration = Duration::from_secs(825 * 24 * 60 * 60);

#[derive(Debug, Serialize)]
struct TerminalRow {
    name: String,
    cert_sha256: String,
    issued_at: String,
    revoked_at: Option<String>,
}

/// A time as RFC 3339 for the command line's output.
pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn row(t: &Terminal) -> TerminalRow {
    TerminalRow {
        name: t.name.as_str().to_owned(),
        cert_sha256: t.cert_sha256.clone(),
        issued_at: rfc3339(t.issued_at),
        revoked_at: t.revoked_at.map(rfc3339),
    }
}

/// Appends the operator's action to the institution's audit log inside `tx` and commits: the
/// action and its event are written together or not at all.
pub(crate) async fn operator_commit(
    mut tx: Box<dyn mamori_store::StoreTx + '_>,
    inst: InstitutionId,
    action: &str,
    resource: Option<String>,
) -> Result<(), Failure> {
    let now = mamori_core::clock::to_micros(mamori_server::SystemClock.now());
    mamori_server::audit::append_operator(tx.as_mut(), inst, now, action, resource).await.map_err(Failure::failed)?;
    tx.commit().await.map_err(Failure::failed)
}

/// The institution the command acts on: the one given, or the only one.
pub(crate) async fn institution(
    store: &Arc<dyn Store>,
    given: Option<InstitutionId>,
) -> Result<InstitutionId, Failure> {
    let all = store.institutions().await.map_err(Failure::failed)?;
    match given {
        Some(id) if all.iter().any(|i| i.id == id) => Ok(id),
        Some(id) => Err(Failure::refused(format!("医療機関 {id} はありません / no institution {id} in this database"))),
        None => match all.as_slice() {
            [only] => Ok(only.id),
            [] => Err(Failure::refused(
                "医療機関がありません。mamori init を実行してください / no institution: run mamori init",
            )),
            _ => Err(Failure::refused(
                "医療機関が複数あります。--institution-id で指定してください / several institutions: choose one with --institution-id",
            )),
        },
    }
}

/// Loads the terminal CA, creating it on first use.
fn terminal_ca(dir: &Path, institution_name: &str, clock: &dyn Clock) -> Result<TerminalCa, Failure> {
    let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    if cert_path.exists() {
        let cert = std::fs::read_to_string(&cert_path)
            .map_err(|e| Failure::failed(format!("{}: {e}", cert_path.display())))?;
        let key =
            std::fs::read_to_string(&key_path).map_err(|e| Failure::failed(format!("{}: {e}", key_path.display())))?;
        return TerminalCa::load(&cert, &key).map_err(Failure::failed);
    }
    let now = clock.now();
    let ca = TerminalCa::generate(institution_name, now - Duration::from_secs(3600), now + CA_VALIDITY)
        .map_err(Failure::failed)?;
    datadir::write_private(&key_path, ca.key_pem().expose().as_bytes())
        .map_err(|e| Failure::failed(format!("{}: {e}", key_path.display())))?;
    datadir::write_private(&cert_path, ca.cert_pem().as_bytes())
        .map_err(|e| Failure::failed(format!("{}: {e}", cert_path.display())))?;
    tracing::info!(path = %cert_path.display(), "terminal CA created");
    Ok(ca)
}

/// `mamori terminal …`
pub async fn command(args: TerminalArgs) -> Result<(), Failure> {
    let target = match &args.command {
        TerminalCommand::Issue { target, .. }
        | TerminalCommand::List { target }
        | TerminalCommand::Revoke { target, .. }
        | TerminalCommand::Require { target, .. } => target,
    };
    let config = datadir::load_config(&target.data)?;
    let store = open_store(config.get(), &target.data).await?;
    let result = run(&args.command, target, &store).await;
    store.close().await;
    result
}

#[allow(clippy::print_stdout)]
async fn run(command: &TerminalCommand, args: &DataTarget, store: &Arc<dyn Store>) -> Result<(), Failure> {
    let inst = institution(store, args.institution_id).await?;
    let clock = mamori_server::SystemClock;
    match command {
        TerminalCommand::Issue { name, out, .. } => {
            let name = TerminalName::parse(name).map_err(|m| Failure::refused(format!("NAME: {m}")))?;
            let existing = store.terminals(inst).await.map_err(Failure::failed)?;
            if existing.iter().any(|t| t.name == name) {
                return Err(Failure::refused(format!(
                    "端末名「{0}」は使用済みです（失効後も再利用できません） / terminal name '{0}' was used before (names are never reused)",
                    name.as_str()
                )));
            }
            let out: PathBuf = out.clone().unwrap_or_else(|| PathBuf::from(format!("{}.p12", name.as_str())));
            if out.exists() {
                return Err(Failure::refused(format!(
                    "{} は既に存在します / {} already exists",
                    out.display(),
                    out.display()
                )));
            }
            let institution_name = store
                .institution(inst)
                .await
                .map_err(Failure::failed)?
                .map(|i| i.name.as_str().to_owned())
                .unwrap_or_default();
            let ca = terminal_ca(&args.data, &institution_name, &clock)?;
            let now = clock.now();
            let password = mamori_crypto::OneTimePassword::generate(&mut rand_core::OsRng).secret().clone();
            let issued = ca
                .issue(name.as_str(), now - Duration::from_secs(3600), now + TERMINAL_VALIDITY, password)
                .map_err(Failure::failed)?;
            let terminal = Terminal {
                institution: inst,
                id: TerminalId::generate(&mut rand_core::OsRng),
                name,
                cert_sha256: issued.fingerprint.clone(),
                issued_at: mamori_core::clock::to_micros(now),
                revoked_at: None,
            };
            let mut tx = store.begin().await.map_err(Failure::failed)?;
            tx.add_terminal(&terminal).await.map_err(Failure::failed)?;
            operator_commit(tx, inst, "terminal.issue", Some(format!("terminal:{}", terminal.name.as_str()))).await?;
            datadir::write_private(&out, &issued.pkcs12)
                .map_err(|e| Failure::failed(format!("{}: {e}", out.display())))?;
            if args.json {
                let v = serde_json::json!({
                    "terminal": row(&terminal),
                    "pkcs12_path": out.display().to_string(),
                    "pkcs12_password": issued.password.expose(),
                });
                println!("{v}");
            } else {
                println!("端末を登録しました / terminal registered: {}", terminal.name.as_str());
                println!("  PKCS#12: {}", out.display());
                println!(
                    "  パスワード / password: {}  （インポート時に一度だけ使用 / needed once, to import it）",
                    issued.password.expose()
                );
                println!("  SHA-256: {}", terminal.cert_sha256);
            }
        }
        TerminalCommand::List { .. } => {
            let rows: Vec<TerminalRow> =
                store.terminals(inst).await.map_err(Failure::failed)?.iter().map(row).collect();
            let required = store.require_registered_terminal(inst).await.map_err(Failure::failed)?;
            if args.json {
                println!("{}", serde_json::json!({ "required": required, "terminals": rows }));
            } else {
                println!("登録端末の必須化 / registered terminals required: {}", if required { "on" } else { "off" });
                for r in rows {
                    let state = r
                        .revoked_at
                        .as_deref()
                        .map_or_else(|| "有効 / active".to_owned(), |t| format!("失効 / revoked {t}"));
                    println!("  {}  {}  {}", r.name, r.issued_at, state);
                }
            }
        }
        TerminalCommand::Revoke { name, .. } => {
            let name = TerminalName::parse(name).map_err(|m| Failure::refused(format!("NAME: {m}")))?;
            let terminal = store.terminals(inst).await.map_err(Failure::failed)?.into_iter().find(|t| t.name == name);
            let Some(terminal) = terminal else {
                return Err(Failure::refused(format!("端末「{0}」はありません / no terminal '{0}'", name.as_str())));
            };
            let mut tx = store.begin().await.map_err(Failure::failed)?;
            if !tx.revoke_terminal(inst, &name, clock.now()).await.map_err(Failure::failed)? {
                return Err(Failure::refused(format!(
                    "端末「{0}」は失効済みです / terminal '{0}' is already revoked",
                    name.as_str()
                )));
            }
            let ended =
                tx.delete_sessions_of_certificate(inst, &terminal.cert_sha256).await.map_err(Failure::failed)?;
            operator_commit(tx, inst, "terminal.revoke", Some(format!("terminal:{}", name.as_str()))).await?;
            println!("端末を失効させました / terminal revoked: {} ({ended} session(s) ended)", name.as_str());
        }
        TerminalCommand::Require { mode, .. } => {
            let required = mode == "on";
            if required && store.terminals(inst).await.map_err(Failure::failed)?.iter().all(|t| t.revoked_at.is_some())
            {
                return Err(Failure::refused(
                    "有効な登録端末がありません。先に mamori terminal issue で端末を登録してください / no active terminal: issue one first, or nobody could log in",
                ));
            }
            let mut tx = store.begin().await.map_err(Failure::failed)?;
            tx.set_require_registered_terminal(inst, required).await.map_err(Failure::failed)?;
            operator_commit(tx, inst, if required { "terminal.require_on" } else { "terminal.require_off" }, None)
                .await?;
            println!(
                "登録端末の必須化 / registered terminals required: {} {}",
                mode,
                if required {
                    "（サーバーの再起動でクライアント証明書の要求が有効になります / restart serve if it was started before the CA existed）"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}
