//! `mamori demo`: fills an institution with synthetic Japanese patients and records, the same
//! for the same seed, through the same steps the API uses (authorization, versions, the log,
//! audit events): registered patients, drafts finalized by a demo doctor, proxy entries by a
//! demo clerk approved by the doctor, corrections and cancellations with their reasons.
//!
//! The data is synthetic: names, addresses and notes come from tables in [`data`], never from a
//! person. Records are back-dated over about two years (each step runs at the time it would
//! have happened), so the chart has a history; the log still orders them by when they were
//! written.

pub(crate) mod data;

use crate::serve::open_store;
use crate::terminal::{institution, operator_commit};
use crate::{DemoArgs, Failure, datadir};
use indicatif::{ProgressBar, ProgressStyle};
use mamori_core::audit::{AuditEvent, Outcome};
use mamori_core::patient::{Contact, Patient, PatientName, PatientNumber, Sex};
use mamori_core::record::{ContentInput, RecordVersion};
use mamori_core::{Clock, DisplayName, InstitutionId, JobType, LoginId, NewUser, PatientId, Role, User, UserId};
use mamori_server::records::{self, Caller, NewRecord, Target};
use mamori_store::Store;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use time::OffsetDateTime;

/// The demo staff: login ID, display name, job and role.
const STAFF: [(&str, &str, JobType, Role); 2] = [
    ("demo-doctor", "デモ 医師", JobType::Doctor, Role::Doctor),
    ("demo-clerk", "デモ 事務", JobType::Clerk, Role::Clerk),
];

/// What `mamori demo` reports.
#[derive(Debug, Serialize)]
struct Report {
    institution_id: String,
    seed: u64,
    patients: usize,
    records: usize,
    finalized_versions: usize,
    corrected: usize,
    cancelled: usize,
    proxy_approved: usize,
    seconds: f64,
    staff: Vec<StaffCredentials>,
}

/// Credentials of a demo account created now (printed once).
#[derive(Debug, Serialize)]
struct StaffCredentials {
    login_id: String,
    password: String,
    totp_secret: String,
}

/// `mamori demo`.
#[allow(clippy::print_stdout)]
pub async fn command(args: DemoArgs) -> Result<(), Failure> {
    if args.patients == 0 || args.patients > 100_000 {
        return Err(Failure::refused("--patients は 1〜100000 です / --patients is 1 to 100000"));
    }
    if crate::datadir::state(&args.target.data) != crate::datadir::DirState::Occupied {
        let options = crate::init::InitOptions {
            institution: crate::init::DEFAULT_INSTITUTION.to_owned(),
            database: None,
            listen: None,
            tls: None,
        };
        let report =
            crate::init::create(&args.target.data, &options, &mamori_server::SystemClock, &mut rand_core::OsRng)
                .await?;
        report.print(args.target.json);
    }
    let config = datadir::load_config(&args.target.data)?;
    let store = open_store(config.get(), &args.target.data).await?;
    let outcome = fill(&store, &config, &args).await;
    store.close().await;
    let report = outcome?;
    if args.target.json {
        println!("{}", serde_json::to_string(&report).map_err(Failure::failed)?);
    } else {
        println!(
            "デモデータを作成しました / demo data written: 患者 {} 名 patients, 記録 {} 件 records ({} 確定版 finalized versions; 訂正 {} corrected, 取消 {} cancelled, 代行入力承認 {} proxy-approved) in {:.1} s",
            report.patients,
            report.records,
            report.finalized_versions,
            report.corrected,
            report.cancelled,
            report.proxy_approved,
            report.seconds
        );
        for s in &report.staff {
            println!(
                "  デモ職員 / demo staff: {}  初回パスワード / password: {}  TOTP: {}",
                s.login_id, s.password, s.totp_secret
            );
        }
    }
    Ok(())
}

/// Finds a demo account, or creates it (credentials returned once).
async fn staff(
    store: &Arc<dyn Store>,
    config: &mamori_core::config::ValidConfig,
    inst: InstitutionId,
    (login, name, job, role): (&str, &str, JobType, Role),
    now: OffsetDateTime,
) -> Result<(User, Option<StaffCredentials>), Failure> {
    let login_id = LoginId::parse(login).map_err(Failure::failed)?;
    if let Some(user) = store.find_login(&login_id).await.map_err(Failure::failed)? {
        if user.institution_id != inst {
            return Err(Failure::refused(format!(
                "ログインID「{login}」は別の医療機関で使われています / login ID '{login}' belongs to another institution"
            )));
        }
        return Ok((user, None));
    }
    let (password, hash, secret, totp) = crate::emergency::credentials(config, now)?;
    let new = NewUser {
        id: UserId::generate(&mut rand_core::OsRng),
        login_id,
        display_name: DisplayName::parse(name).map_err(Failure::failed)?,
        job_type: job,
        roles: vec![role],
        password_hash: hash,
        password_change_required: true,
        created_at: now,
    };
    let mut tx = store.begin().await.map_err(Failure::failed)?;
    let user = tx.create_user(inst, &new).await.map_err(Failure::failed)?;
    tx.put_totp(inst, user.id, &totp).await.map_err(Failure::failed)?;
    operator_commit(tx, inst, "user.create", Some(format!("user:{}", user.id))).await?;
    let credentials = StaffCredentials {
        login_id: login.to_owned(),
        password: password.secret().expose().to_owned(),
        totp_secret: secret.to_base32(),
    };
    Ok((user, Some(credentials)))
}

async fn caller(store: &Arc<dyn Store>, user: User) -> Result<Caller, Failure> {
    let policy = mamori_server::auth::policy_of(store.as_ref(), user.institution_id).await.map_err(Failure::failed)?;
    let principal = mamori_core::authz::Principal {
        institution: user.institution_id,
        user: user.id,
        roles: user.roles.clone(),
        status: user.status,
        emergency_grants: Vec::new(),
        policy,
    };
    Ok(Caller { user, principal })
}

fn step_failed(what: &str, e: &mamori_server::error::ApiError) -> Failure {
    Failure::failed(format!("demo: {what}: {} / {}", e.message().ja, e.message().en))
}

async fn fill(
    store: &Arc<dyn Store>,
    config: &mamori_core::config::ValidConfig,
    args: &DemoArgs,
) -> Result<Report, Failure> {
    let started = Instant::now();
    let inst = institution(store, args.target.institution_id).await?;
    let now = mamori_core::clock::to_micros(mamori_server::SystemClock.now());
    let today = now.to_offset(time::macros::offset!(+9)).date();
    let plan = data::plan(args.patients, args.seed, today);
    if let Some(first) = plan.patients.first() {
        let number = PatientNumber::parse(&first.number).map_err(Failure::failed)?;
        if store.patient_by_number(inst, &number).await.map_err(Failure::failed)?.is_some() {
            return Err(Failure::refused(format!(
                "デモデータ（患者番号 {}）は作成済みです。別の --seed か新しいデータディレクトリを使ってください / demo data (patient {}) is already there: use another --seed or a new data directory",
                first.number, first.number
            )));
        }
    }
    let mut credentials = Vec::new();
    let mut people = Vec::new();
    for member in STAFF {
        let (user, created) = staff(store, config, inst, member, now).await?;
        credentials.extend(created);
        people.push(caller(store, user).await?);
    }
    let [doctor, clerk] = <[Caller; 2]>::try_from(people).map_err(|_| Failure::failed("demo staff"))?;
    let mut report = Report {
        institution_id: inst.to_string(),
        seed: args.seed,
        patients: 0,
        records: 0,
        finalized_versions: 0,
        corrected: 0,
        cancelled: 0,
        proxy_approved: 0,
        seconds: 0.0,
        staff: credentials,
    };
    let bar = if args.target.json {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(u64::try_from(plan.patients.len()).unwrap_or(u64::MAX));
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} 患者 patients ({eta})") {
            bar.set_style(style);
        }
        bar
    };
    let s = store.as_ref();
    for planned in &plan.patients {
        let oldest = planned.records.iter().map(|r| r.days_ago).max().unwrap_or(0);
        let registered_at = now - time::Duration::days(i64::from(oldest) + 1);
        let patient = register(s, &clerk, planned, registered_at).await?;
        report.patients += 1;
        for (i, r) in planned.records.iter().enumerate() {
            // Clinic hours: from 09:00 JST on the day, a few minutes apart.
            let minute = time::Duration::minutes(i64::try_from(i).unwrap_or(0) * 7);
            let day = (now.to_offset(time::macros::offset!(+9)) - time::Duration::days(i64::from(r.days_ago)))
                .replace_time(time::macros::time!(09:00));
            let at = (day + minute).to_offset(time::UtcOffset::UTC).min(now);
            let target = Target { patient: patient.id, chart: patient.id };
            let content =
                ContentInput::parse(r.kind, &r.content).map_err(|m| Failure::failed(format!("demo content: {m}")))?;
            let first: RecordVersion = if r.proxy {
                let new = NewRecord { target, content, category: None, proxy_for: Some(doctor.user.id) };
                let v = records::create(s, &clerk, at, new).await.map_err(|e| step_failed("proxy entry", &e))?;
                let later = (at + time::Duration::minutes(30)).min(now);
                let v = records::approve(s, &doctor, later, v.record.id, 1, target)
                    .await
                    .map_err(|e| step_failed("approve", &e))?;
                report.proxy_approved += 1;
                v
            } else {
                let new = NewRecord { target, content, category: None, proxy_for: None };
                let v = records::create(s, &doctor, at, new).await.map_err(|e| step_failed("draft", &e))?;
                let later = (at + time::Duration::minutes(2)).min(now);
                records::finalize(s, &doctor, later, v.record.id, 1, target)
                    .await
                    .map_err(|e| step_failed("finalize", &e))?
            };
            report.records += 1;
            report.finalized_versions += 1;
            let later = (at + time::Duration::hours(2)).min(now);
            if let Some((corrected, reason)) = &r.correction {
                let content = ContentInput::parse(r.kind, corrected)
                    .map_err(|m| Failure::failed(format!("demo content: {m}")))?;
                records::amend(s, &doctor, later, first.record.id, 1, target, reason, Some(content))
                    .await
                    .map_err(|e| step_failed("correct", &e))?;
                report.corrected += 1;
                report.finalized_versions += 1;
            } else if let Some(reason) = &r.cancel_reason {
                records::amend(s, &doctor, later, first.record.id, 1, target, reason, None)
                    .await
                    .map_err(|e| step_failed("cancel", &e))?;
                report.cancelled += 1;
                report.finalized_versions += 1;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    report.seconds = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    Ok(report)
}

/// Registers a planned patient as the clerk, with the `patient.create` event.
async fn register(
    store: &dyn Store,
    clerk: &Caller,
    planned: &data::PlannedPatient,
    at: OffsetDateTime,
) -> Result<Patient, Failure> {
    let bad = |m: mamori_core::Message| Failure::failed(format!("demo patient: {m}"));
    let patient = Patient {
        institution: clerk.user.institution_id,
        id: PatientId::generate(&mut rand_core::OsRng),
        number: PatientNumber::parse(&planned.number).map_err(bad)?,
        name: PatientName::parse(&planned.family, &planned.given, &planned.family_kana, &planned.given_kana)
            .map_err(bad)?,
        birth_date: planned.birth_date,
        sex: Sex::parse(planned.sex).map_err(bad)?,
        contact: Contact::parse(planned.phone.as_deref(), planned.address.as_deref()).map_err(bad)?,
        version: 1,
        changed_by: clerk.user.id,
        changed_at: mamori_core::clock::to_micros(at),
    };
    let mut tx = store.begin().await.map_err(Failure::failed)?;
    tx.create_patient(&patient).await.map_err(Failure::failed)?;
    let event = AuditEvent::new(
        patient.institution,
        patient.changed_at,
        mamori_server::audit::actor(&clerk.user),
        "patient.create",
        Outcome::Allowed,
    )
    .patient(patient.id)
    .resource(format!("patient:{}", patient.id));
    mamori_server::audit::commit_with(tx, event).await.map_err(|e| step_failed("register", &e))?;
    Ok(patient)
}
