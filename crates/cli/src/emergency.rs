//! `mamori emergency`: sealed emergency accounts (非常時用アカウント, MDS 11, SDS 57.x) for
//! outages. `seal` creates one and prints its password and TOTP secret once, for a sealed
//! envelope; it is unusable until a second person activates it in mamori. `close`, when normal
//! operation returns, ends every activation, signs the accounts out and re-keys them (new
//! password and TOTP secret, printed for new envelopes), so an opened envelope is worthless.

use crate::datadir;
use crate::serve::open_store;
use crate::terminal::{institution, operator_commit, rfc3339};
use crate::{EmergencyArgs, EmergencyCommand, Failure};
use mamori_core::config::ValidConfig;
use mamori_core::factor::TotpRecord;
use mamori_core::sealed::SealedAccount;
use mamori_core::{Clock, DisplayName, InstitutionId, JobType, LoginId, NewUser, Role, User, UserId};
use mamori_crypto::{OneTimePassword, PasswordHasher, TotpSecret};
use mamori_store::Store;
use serde::Serialize;
use std::sync::Arc;

/// What goes into the envelope.
#[derive(Debug, Serialize)]
struct Envelope {
    login_id: String,
    display_name: String,
    roles: Vec<String>,
    generation: u32,
    password: String,
    totp_secret: String,
    otpauth_uri: String,
}

/// One line of `mamori emergency list`.
#[derive(Debug, Serialize)]
struct ListRow {
    login_id: String,
    display_name: String,
    generation: u32,
    sealed_at: String,
    opened_since_sealed: bool,
    active_until: Option<String>,
    active_used_by: Option<String>,
}

/// `mamori emergency …`
pub async fn command(args: EmergencyArgs) -> Result<(), Failure> {
    let target = match &args.command {
        EmergencyCommand::Seal { target, .. }
        | EmergencyCommand::List { target }
        | EmergencyCommand::Close { target, .. } => target,
    };
    let config = datadir::load_config(&target.data)?;
    let store = open_store(config.get(), &target.data).await?;
    let result = async {
        let inst = institution(&store, target.institution_id).await?;
        run(&args.command, &config, &store, inst, target.json).await
    }
    .await;
    store.close().await;
    result
}

/// Fresh credentials: a random password (stored as argon2id) and a confirmed TOTP secret.
pub(crate) fn credentials(
    config: &ValidConfig,
    now: time::OffsetDateTime,
) -> Result<(OneTimePassword, String, TotpSecret, TotpRecord), Failure> {
    let p = &config.get().password;
    let hasher =
        PasswordHasher::new(p.argon2_memory_kib, p.argon2_iterations, p.argon2_parallelism).map_err(Failure::failed)?;
    let mut rng = rand_core::OsRng;
    let password = OneTimePassword::generate(&mut rng);
    let hash = hasher.hash(password.secret(), &mut rng).map_err(Failure::failed)?;
    let secret = TotpSecret::generate(&mut rng);
    let record =
        TotpRecord { secret: secret.as_bytes().to_vec(), confirmed: true, last_used_step: None, created_at: now };
    Ok((password, hash.as_phc().to_owned(), secret, record))
}

fn envelope(user: &User, generation: u32, password: &OneTimePassword, secret: &TotpSecret) -> Envelope {
    Envelope {
        login_id: user.login_id.to_string(),
        display_name: user.display_name.as_str().to_owned(),
        roles: user.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        generation,
        password: password.secret().expose().to_owned(),
        totp_secret: secret.to_base32(),
        otpauth_uri: secret.otpauth_uri("mamori", user.login_id.as_str()),
    }
}

#[allow(clippy::print_stdout)]
fn print_envelopes(envelopes: &[Envelope], json: bool) {
    if json {
        println!("{}", serde_json::json!(envelopes));
        return;
    }
    for e in envelopes {
        println!(
            "緊急用アカウント / emergency account: {} （{}） 第{}版 / generation {}",
            e.login_id, e.display_name, e.generation, e.generation
        );
        println!("  パスワード / password: {}", e.password);
        println!("  TOTP シークレット / secret (base32): {}", e.totp_secret);
        println!("  {}", e.otpauth_uri);
    }
    if !envelopes.is_empty() {
        println!("印刷して封筒に封印し、金庫などに保管してください。この表示は一度だけです。");
        println!(
            "Print, seal in an envelope and lock away: this is shown once. The account works only after a second person activates it."
        );
    }
}

#[allow(clippy::print_stdout)]
async fn run(
    command: &EmergencyCommand,
    config: &ValidConfig,
    store: &Arc<dyn Store>,
    inst: InstitutionId,
    json: bool,
) -> Result<(), Failure> {
    let clock = mamori_server::SystemClock;
    let now = mamori_core::clock::to_micros(clock.now());
    match command {
        EmergencyCommand::Seal { login_id, display_name, roles, job_type, .. } => {
            let login_id = LoginId::parse(login_id).map_err(|m| Failure::refused(format!("LOGIN_ID: {m}")))?;
            let display_name =
                DisplayName::parse(display_name).map_err(|m| Failure::refused(format!("--display-name: {m}")))?;
            let job_type: JobType = job_type.parse().map_err(|m| Failure::refused(format!("--job-type: {m}")))?;
            let mut parsed: Vec<Role> = Vec::new();
            for raw in roles {
                let role: Role = raw.parse().map_err(|m| Failure::refused(format!("--role: {m}")))?;
                if matches!(role, Role::SystemAdministrator | Role::Auditor) {
                    return Err(Failure::refused(
                        "緊急用アカウントは診療のためのものです（system_admin / auditor は付けられません） / emergency accounts are for care: system_admin and auditor are refused",
                    ));
                }
                if !parsed.contains(&role) {
                    parsed.push(role);
                }
            }
            if store.find_login(&login_id).await.map_err(Failure::failed)?.is_some() {
                return Err(Failure::refused(format!(
                    "ログインID「{0}」は使用済みです（再利用できません） / login ID '{0}' was used before (never reused)",
                    login_id.as_str()
                )));
            }
            let (password, hash, secret, totp) = credentials(config, now)?;
            let new = NewUser {
                id: UserId::generate(&mut rand_core::OsRng),
                login_id,
                display_name,
                job_type,
                roles: parsed,
                password_hash: hash,
                password_change_required: false,
                created_at: now,
            };
            // The user first, sealed at once: until the TOTP secret is stored it cannot log in
            // (and nobody knows its password before it is printed at the end).
            // The account, its seal, its TOTP secret and the event: one transaction.
            let mut tx = store.begin().await.map_err(Failure::failed)?;
            let user = tx.create_user(inst, &new).await.map_err(Failure::failed)?;
            let account = SealedAccount { institution: inst, user: user.id, generation: 1, sealed_at: now };
            tx.seal_account(&account).await.map_err(Failure::failed)?;
            tx.put_totp(inst, user.id, &totp).await.map_err(Failure::failed)?;
            tracing::warn!(institution = %inst, user = %user.id, "sealed emergency account created");
            operator_commit(tx, inst, "sealed_account.seal", Some(format!("user:{}", user.id))).await?;
            print_envelopes(&[envelope(&user, 1, &password, &secret)], json);
        }
        EmergencyCommand::List { .. } => {
            let users = store.users(inst).await.map_err(Failure::failed)?;
            let activations = store.sealed_activations(inst).await.map_err(Failure::failed)?;
            let mut rows = Vec::new();
            for account in store.sealed_accounts(inst).await.map_err(Failure::failed)? {
                let Some(user) = users.iter().find(|u| u.id == account.user) else { continue };
                let mut used =
                    activations.iter().filter(|a| a.user == account.user && a.generation == account.generation);
                let active = used.clone().find(|a| a.active_at(now));
                rows.push(ListRow {
                    login_id: user.login_id.to_string(),
                    display_name: user.display_name.as_str().to_owned(),
                    generation: account.generation,
                    sealed_at: rfc3339(account.sealed_at),
                    opened_since_sealed: used.next().is_some(),
                    active_until: active.map(|a| rfc3339(a.expires_at)),
                    active_used_by: active.map(|a| a.used_by.clone()),
                });
            }
            if json {
                println!("{}", serde_json::json!(rows));
            } else {
                for r in rows {
                    let state = match (&r.active_until, &r.active_used_by, r.opened_since_sealed) {
                        (Some(until), Some(by), _) => format!("使用中 / in use by {by} until {until}"),
                        (_, _, true) => "開封済み・要 close / opened: run close".to_owned(),
                        _ => "封印中 / sealed".to_owned(),
                    };
                    println!(
                        "  {}  {}  第{}版 / generation {}  {state}",
                        r.login_id, r.display_name, r.generation, r.generation
                    );
                }
            }
        }
        EmergencyCommand::Close { login_id, all, .. } => {
            let users = store.users(inst).await.map_err(Failure::failed)?;
            let activations = store.sealed_activations(inst).await.map_err(Failure::failed)?;
            let accounts = store.sealed_accounts(inst).await.map_err(Failure::failed)?;
            let chosen: Vec<&SealedAccount> = match login_id {
                Some(raw) => {
                    let id = LoginId::parse(raw).map_err(|m| Failure::refused(format!("LOGIN_ID: {m}")))?;
                    let found =
                        users.iter().find(|u| u.login_id == id).and_then(|u| accounts.iter().find(|a| a.user == u.id));
                    vec![found.ok_or_else(|| {
                        Failure::refused(format!(
                            "緊急用アカウント「{0}」はありません / no emergency account '{0}'",
                            id.as_str()
                        ))
                    })?]
                }
                // Every account opened since it was last sealed (or every one with --all).
                None => accounts
                    .iter()
                    .filter(|a| *all || activations.iter().any(|x| x.user == a.user && x.generation == a.generation))
                    .collect(),
            };
            let mut envelopes = Vec::new();
            for account in chosen {
                let Some(user) = users.iter().find(|u| u.id == account.user) else { continue };
                envelopes.push(rekey(config, store, user, now).await?);
            }
            if envelopes.is_empty() && !json {
                println!(
                    "開封された緊急用アカウントはありません / no emergency account was opened (use --all to re-key every one)"
                );
            }
            print_envelopes(&envelopes, json);
        }
    }
    Ok(())
}

/// Ends an account's use and re-keys it, in one transaction with its audit event: sessions
/// ended, password and second factors replaced, activations closed, generation raised — all or
/// nothing.
async fn rekey(
    config: &ValidConfig,
    store: &Arc<dyn Store>,
    user: &User,
    now: time::OffsetDateTime,
) -> Result<Envelope, Failure> {
    let (inst, id) = (user.institution_id, user.id);
    let (password, hash, secret, totp) = credentials(config, now)?;
    let mut tx = store.begin().await.map_err(Failure::failed)?;
    let ended = tx.delete_user_sessions(inst, id).await.map_err(Failure::failed)?;
    tx.set_password(inst, id, &hash, false).await.map_err(Failure::failed)?;
    tx.delete_second_factors(inst, id).await.map_err(Failure::failed)?;
    tx.put_totp(inst, id, &totp).await.map_err(Failure::failed)?;
    tx.clear_throttle(&user.login_id.as_str().to_lowercase()).await.map_err(Failure::failed)?;
    let generation = tx.close_sealed_account(inst, id, now).await.map_err(Failure::failed)?;
    operator_commit(tx, inst, "sealed_account.close", Some(format!("user:{id}"))).await?;
    tracing::warn!(institution = %inst, user = %id, generation, sessions_ended = ended, "sealed emergency account closed and re-keyed");
    Ok(envelope(user, generation, &password, &secret))
}
