//! Benchmark (not a test) of clinical records on the embedded default (SQLite, WAL,
//! synchronous=FULL):
//!
//! 1. **Finalized records per second through the full path**: a progress note written as a
//!    draft and finalized by a doctor through [`mamori_server::records`] (authorization, master
//!    and mix-up checks, the version rows, the record leaf and the audit events in the log, one
//!    durable commit per step), as a ratio of **raw batched SQLite inserts** of the same content
//!    bytes with the same durability (WAL, synchronous=FULL, 100 rows per transaction).
//! 2. **Chart reads per second and p99 latency under 32 concurrent clients** over loopback
//!    HTTP (`GET /api/v1/patients/{id}/records`, each read audited before it is answered).
//!
//! `cargo bench -p mamori-server --bench records` (optionally `-- RECORDS`, default 2000).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::indexing_slicing)]

use mamori_core::audit::Actor;
use mamori_core::authz::{Policy, Principal};
use mamori_core::config::Config;
use mamori_core::patient::{Contact, Patient, PatientName, PatientNumber, Sex};
use mamori_core::record::{ContentInput, RecordKind};
use mamori_core::session::{SessionRecord, SessionStage};
use mamori_core::{
    DisplayName, FixedClock, Institution, InstitutionId, InstitutionName, JobType, LoginId, NewUser, PatientId, Role,
    UserId, UserStatus,
};
use mamori_server::records::{self, Caller, NewRecord, Target};
use mamori_server::{AppState, Inner, ServerKeys};
use mamori_store::Store;
use sqlx::ConnectOptions as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 32;
const READS_PER_CLIENT: usize = 100;
const PATIENTS: usize = 100;

fn main() {
    let records: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(2000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(records));
}

fn note(i: usize) -> serde_json::Value {
    serde_json::json!({
        "s": format!("頭痛と肩こりが続いている。家庭血圧は朝{}台。", 130 + i % 30),
        "o": format!("BP {}/{} mmHg, HR {} 整。胸部聴診異常なし。", 128 + i % 40, 78 + i % 15, 60 + i % 30),
        "a": "本態性高血圧症。コントロールやや不良。",
        "p": "アムロジピン5mg継続。減塩指導。4週後再診。"
    })
}

async fn run(records: usize) {
    let dir = std::env::temp_dir().join(format!("mamori-bench-records-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store: Arc<dyn Store> = Arc::new(mamori_store::SqliteStore::open(&dir.join("mamori.db"), 8).await.unwrap());
    let now = mamori_core::clock::to_micros(time::OffsetDateTime::now_utc());
    let inst = Institution {
        id: InstitutionId::generate(&mut rand_core::OsRng),
        name: InstitutionName::parse("ベンチマーク診療所").unwrap(),
        created_at: now,
    };
    store.create_institution(&inst).await.unwrap();
    mamori_server::masters::import(
        store.as_ref(),
        inst.id,
        mamori_core::master::SAMPLE_CSV.as_bytes(),
        Actor::Operator,
        now,
    )
    .await
    .unwrap();
    let mut doctors = Vec::new();
    for i in 0..CLIENTS {
        let user = store
            .create_user(
                inst.id,
                &NewUser {
                    id: UserId::generate(&mut rand_core::OsRng),
                    login_id: LoginId::parse(&format!("bench-doctor{i}")).unwrap(),
                    display_name: DisplayName::parse("医師").unwrap(),
                    job_type: JobType::Doctor,
                    roles: vec![Role::Doctor],
                    password_hash: "unused".to_owned(),
                    password_change_required: false,
                    created_at: now,
                },
            )
            .await
            .unwrap();
        doctors.push(user);
    }
    let mut patients = Vec::new();
    for i in 0..PATIENTS {
        let p = Patient {
            institution: inst.id,
            id: PatientId::generate(&mut rand_core::OsRng),
            number: PatientNumber::parse(&format!("B{i:05}")).unwrap(),
            name: PatientName::parse("試験", "太郎", "シケン", "タロウ").unwrap(),
            birth_date: time::macros::date!(1960 - 01 - 01),
            sex: Sex::Male,
            contact: Contact::default(),
            version: 1,
            changed_by: doctors[0].id,
            changed_at: now,
        };
        let mut tx = store.begin().await.unwrap();
        tx.create_patient(&p).await.unwrap();
        tx.commit().await.unwrap();
        patients.push(p.id);
    }
    let caller = Caller {
        principal: Principal {
            institution: inst.id,
            user: doctors[0].id,
            roles: vec![Role::Doctor],
            status: UserStatus::Active,
            emergency_grants: Vec::new(),
            policy: Policy::default(),
        },
        user: doctors[0].clone(),
    };

    // 1. The full path.
    let mut bytes = Vec::with_capacity(records);
    let start = Instant::now();
    for i in 0..records {
        let patient = patients[i % PATIENTS];
        let target = Target { patient, chart: patient };
        let content = ContentInput::parse(RecordKind::ProgressNote, &note(i)).unwrap();
        let t = time::OffsetDateTime::now_utc();
        let new = NewRecord { target, content, category: None, proxy_for: None };
        let draft = records::create(store.as_ref(), &caller, t, new).await.unwrap();
        let done = records::finalize(store.as_ref(), &caller, t, draft.record.id, 1, target).await.unwrap();
        bytes.push(done.content.canonical());
    }
    let full = start.elapsed();
    let full_rate = records as f64 / full.as_secs_f64();
    println!(
        "full path: {records} progress notes drafted and finalized in {:.2} s = {full_rate:.0} finalized records/s (2 durable transactions each)",
        full.as_secs_f64()
    );

    // The baseline: the same bytes, raw batched inserts, same durability.
    let raw_path = dir.join("raw.db");
    let mut raw = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&raw_path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE raw (id INTEGER PRIMARY KEY, content BLOB NOT NULL)").execute(&mut raw).await.unwrap();
    let start = Instant::now();
    for batch in bytes.chunks(100) {
        let mut tx = sqlx::Connection::begin(&mut raw).await.unwrap();
        for b in batch {
            sqlx::query("INSERT INTO raw (content) VALUES (?)").bind(b.as_slice()).execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let raw_time = start.elapsed();
    let raw_rate = records as f64 / raw_time.as_secs_f64();
    println!(
        "raw batched inserts: {records} rows of the same bytes in {:.3} s = {raw_rate:.0} rows/s (100 per transaction, WAL, synchronous=FULL)",
        raw_time.as_secs_f64()
    );
    println!(
        "ratio: the full path runs at {:.4} of raw batched inserts ({:.1}× slower)",
        full_rate / raw_rate,
        raw_rate / full_rate
    );

    // 2. Chart reads over loopback HTTP by 32 clients at once.
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".to_owned();
    let config = config.validate().unwrap();
    let clock = Arc::new(FixedClock::new(now));
    let state = AppState::new(Inner {
        store: store.clone(),
        passwords: mamori_server::auth::Passwords::new(&config.get().password).unwrap(),
        webauthn: None,
        config,
        keys: ServerKeys { checkpoint: mamori_crypto::CheckpointKey::generate(&mut rand_core::OsRng) },
        metrics: Arc::new(mamori_server::metrics::Metrics::default()),
        clock,
        tls: false,
        started_at: now,
        files: mamori_server::files::FileStore::new(std::env::temp_dir().join("mamori-bench-files")),
    });
    let mut cookies = Vec::new();
    for d in &doctors {
        let token = mamori_crypto::token::random_token(&mut rand_core::OsRng);
        let session = SessionRecord {
            token_hash: mamori_crypto::token::token_hash(&token),
            institution: inst.id,
            user: d.id,
            stage: SessionStage::Full,
            created_at: now,
            last_seen_at: now,
            expires_at: now + Duration::from_secs(3600),
            locked: false,
            csrf_token: mamori_crypto::token::random_token(&mut rand_core::OsRng),
            previous_login_at: None,
            failures_since_previous: 0,
            client_cert_sha256: None,
        };
        store.create_session(&session).await.unwrap();
        cookies.push(format!("{}={token}", mamori_server::auth::cookie_name(false)));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, mamori_server::app(state)).await });
    // reqwest is built with rustls and no default provider: plain HTTP still needs one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().build().unwrap();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, cookie) in cookies.into_iter().enumerate() {
        let client = client.clone();
        let patients = patients.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(READS_PER_CLIENT);
            for n in 0..READS_PER_CLIENT {
                let patient = patients[(i * 7 + n * 13) % patients.len()];
                let t = Instant::now();
                let r = client
                    .get(format!("http://{addr}/api/v1/patients/{patient}/records"))
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let entries: serde_json::Value = r.json().await.unwrap();
                assert!(!entries.as_array().unwrap().is_empty());
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    all.sort();
    let p = |q: f64| all[((all.len() as f64 * q).ceil() as usize).saturating_sub(1).min(all.len() - 1)];
    println!(
        "chart reads: {} reads by {CLIENTS} concurrent clients in {:.2} s = {:.0} reads/s; latency p50 {:.1} ms, p99 {:.1} ms ({} records per chart on average; each read audited)",
        all.len(),
        elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64(),
        p(0.50).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
        records / PATIENTS
    );
    let _ = std::fs::remove_dir_all(&dir);
}
