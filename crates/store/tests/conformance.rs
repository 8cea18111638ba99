//! The storage conformance suite: every check runs against SQLite (`sqlite::<check>`, a fresh
//! file per test) and PostgreSQL (`postgres::<check>`, a fresh database per test on the server
//! named by `MAMORI_TEST_POSTGRES_URL`; skipped with one line on stderr when it is unset).
//!
//! A check is an `async fn(&dyn Store, &TestDb)`; add it to the `conformance!` list at the end.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use mamori_core::assessment::{Assessment, Evidence, EvidenceKind, ItemAssessment, ItemState};
use mamori_core::audit::{Actor, AuditColumns, AuditEvent, AuditQuery, LeafKind, LogEntry, LogHead, Outcome};
use mamori_core::authz::{Action, Category, CategoryDef};
use mamori_core::config::{Backend, DatabaseUrl};
use mamori_core::emergency::{EmergencyGrantRecord, EmergencyReview};
use mamori_core::factor::{ReenrollPass, TotpRecord, WebauthnCredential, WebauthnPurpose};
use mamori_core::lockout::Throttle;
use mamori_core::master::{MasterCode, MasterEntry, MasterFields, MasterKind};
use mamori_core::patient::{Contact, Patient, PatientName, PatientNumber, Sex, search_key};
use mamori_core::record::{
    Agent, Body, Change, Content, Device, Document, LabItem, LabResult, Record, RecordKind, RecordVersion, VersionState,
};
use mamori_core::sealed::{SealedAccount, SealedActivation};
use mamori_core::session::{SessionRecord, SessionStage};
use mamori_core::terminal::{Terminal, TerminalName};
use mamori_core::{
    AssessmentId, DeviceId, DisplayName, EmergencyGrantId, EvidenceId, Institution, InstitutionId, InstitutionName,
    JobType, LoginId, NewUser, PatientId, RecordId, Role, SealedActivationId, TerminalId, User, UserId, UserStatus,
};
use mamori_ledger::merkle::{
    self, Frontier, Hash, MemoryTree, NodeSource, consistency_proof, empty_root, inclusion_proof, leaf_hash,
    verify_consistency, verify_inclusion,
};
use mamori_store::{PgStore, SqliteStore, Store, StoreError, StoreTx};
use rand_core::{OsRng, RngCore};
use sqlx::Connection;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime, UtcOffset};

/// The number of the newest migration in `migrations/{sqlite,postgres}`.
const LATEST_SCHEMA_VERSION: i64 = 14;

const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// Where one test's database lives.
#[derive(Debug)]
enum TestDb {
    Sqlite { path: PathBuf },
    Postgres { server_url: String, name: String, url: DatabaseUrl },
}

impl TestDb {
    fn sqlite(check: &str) -> Self {
        let file = format!("mamori-store-{}-{check}-{:016x}.db", std::process::id(), OsRng.next_u64());
        Self::Sqlite { path: std::env::temp_dir().join(file) }
    }

    /// A fresh database on the test server, or `None` (after saying so) when there is none.
    async fn postgres(test: &str) -> Option<Self> {
        let server_url = std::env::var("MAMORI_TEST_POSTGRES_URL").ok().filter(|u| !u.trim().is_empty());
        let Some(server_url) = server_url else {
            // Straight to stderr: the test harness captures eprintln! but not this.
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: MAMORI_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = format!("mamori_test_{:016x}", OsRng.next_u64());
        let mut conn = sqlx::PgConnection::connect(&server_url).await.expect("connect to MAMORI_TEST_POSTGRES_URL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        let _ = conn.close().await;
        let url = DatabaseUrl::new(with_database(&server_url, &name));
        Some(Self::Postgres { server_url, name, url })
    }

    fn backend(&self) -> Backend {
        match self {
            Self::Sqlite { .. } => Backend::Sqlite,
            Self::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Opens (again) the store on this database, running migrations.
    async fn open(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite { path } => Arc::new(SqliteStore::open(path, 4).await.expect("open sqlite")),
            Self::Postgres { url, .. } => Arc::new(PgStore::connect(url, 4).await.expect("connect postgres")),
        }
    }

    /// Best-effort removal of the database.
    async fn remove(&self) {
        match self {
            Self::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Self::Postgres { server_url, name, .. } => {
                if let Ok(mut conn) = sqlx::PgConnection::connect(server_url).await {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(&mut conn).await {
                        let _ = writeln!(std::io::stderr(), "could not drop test database {name}: {e}");
                    }
                    let _ = conn.close().await;
                }
            }
        }
    }
}

/// `base` with its database name replaced by `name`.
fn with_database(base: &str, name: &str) -> String {
    let (scheme, rest) = base.split_once("://").expect("a postgres:// URL");
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// Runs one check on a fresh store, then closes the store and removes the database whether the
/// check passed or panicked.
async fn run<F, Fut>(db: TestDb, check: F)
where
    F: FnOnce(Arc<dyn Store>, Arc<TestDb>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let db = Arc::new(db);
    let store = db.open().await;
    let outcome = tokio::spawn(check(store.clone(), db.clone())).await;
    store.close().await;
    drop(store);
    db.remove().await;
    if let Err(e) = outcome {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("check did not finish: {e}");
    }
}

macro_rules! conformance {
    ($($check:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $check() {
                    let db = super::TestDb::sqlite(stringify!($check));
                    super::run(db, |store, db| async move { super::$check(&*store, &db).await }).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $check() {
                    let Some(db) = super::TestDb::postgres(concat!("postgres::", stringify!($check))).await else {
                        return;
                    };
                    super::run(db, |store, db| async move { super::$check(&*store, &db).await }).await;
                }
            )+
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// xorshift64*: deterministic IDs for tests.
struct TestRng(u64);

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

fn rng() -> TestRng {
    TestRng(0x6d61_6d6f_7269_0001)
}

const T0: OffsetDateTime = datetime!(2026-11-25 09:00:00.123456 UTC);

fn institution(rng: &mut TestRng, name: &str, created_at: OffsetDateTime) -> Institution {
    Institution {
        id: InstitutionId::generate(rng),
        name: InstitutionName::parse(name).expect("a valid name"),
        created_at,
    }
}

fn new_user(rng: &mut TestRng, login_id: &str, roles: &[Role]) -> NewUser {
    NewUser {
        id: UserId::generate(rng),
        login_id: LoginId::parse(login_id).expect("a valid login ID"),
        display_name: DisplayName::parse("山田 太郎").expect("a valid display name"),
        job_type: JobType::Doctor,
        roles: roles.to_vec(),
        password_hash: PASSWORD_HASH.to_owned(),
        password_change_required: true,
        created_at: T0,
    }
}

/// The user a read should return for `new` created in `institution`.
fn expected(institution: InstitutionId, new: &NewUser) -> User {
    let mut roles = new.roles.clone();
    roles.sort();
    User {
        institution_id: institution,
        id: new.id,
        login_id: new.login_id.clone(),
        display_name: new.display_name.clone(),
        job_type: new.job_type,
        roles,
        status: UserStatus::Active,
        password_hash: new.password_hash.clone(),
        password_change_required: new.password_change_required,
        created_at: new.created_at,
    }
}

fn login(id: &str) -> LoginId {
    LoginId::parse(id).expect("a valid login ID")
}

/// Two institutions: A with `alice` (two roles) and `carol`, B with `bob`.
struct Two {
    a: Institution,
    b: Institution,
    alice: User,
    carol: User,
    bob: User,
}

async fn two_institutions(store: &dyn Store, rng: &mut TestRng) -> Two {
    let a = institution(rng, "A病院", T0);
    let b = institution(rng, "B病院", T0);
    store.create_institution(&a).await.expect("create A");
    store.create_institution(&b).await.expect("create B");
    let alice = store.create_user(a.id, &new_user(rng, "alice", &[Role::Doctor, Role::Auditor])).await.expect("alice");
    let carol = store.create_user(a.id, &new_user(rng, "carol", &[Role::Nurse])).await.expect("carol");
    let bob = store.create_user(b.id, &new_user(rng, "bob", &[Role::Clerk])).await.expect("bob");
    Two { a, b, alice, carol, bob }
}

/// A pass for `user`, issued by `issuer` at T0, valid for an hour; `hash` is its hash's bytes.
fn reenroll_pass(user: &User, issuer: &User, hash: u8) -> ReenrollPass {
    ReenrollPass {
        institution: user.institution_id,
        user: user.id,
        pass_hash: [hash; 32],
        issued_by: issuer.id,
        reason: "スマートフォンを紛失したため / lost phone".to_owned(),
        issued_at: T0,
        expires_at: T0 + Duration::hours(1),
        used_at: None,
    }
}

/// Runs one statement on the test database over a connection of its own, outside the store
/// (to show what the schema itself refuses).
async fn execute_outside_the_store(db: &TestDb, statement: &'static str) -> Result<u64, sqlx::Error> {
    match db {
        TestDb::Sqlite { path } => {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
            let result = sqlx::raw_sql(statement).execute(&mut conn).await.map(|r| r.rows_affected());
            let _ = conn.close().await;
            result
        }
        TestDb::Postgres { url, .. } => {
            let mut conn = sqlx::PgConnection::connect(url.expose()).await?;
            let result = sqlx::raw_sql(statement).execute(&mut conn).await.map(|r| r.rows_affected());
            let _ = conn.close().await;
            result
        }
    }
}

fn totp_record(secret_byte: u8) -> TotpRecord {
    TotpRecord { secret: vec![secret_byte; 20], confirmed: false, last_used_step: None, created_at: T0 }
}

/// A session of `user` whose every optional field is set; `token` is its token hash's bytes.
fn session_record(user: &User, token: u8) -> SessionRecord {
    SessionRecord {
        token_hash: [token; 32],
        institution: user.institution_id,
        user: user.id,
        stage: SessionStage::SecondFactor,
        created_at: T0,
        last_seen_at: T0 + Duration::seconds(1),
        expires_at: T0 + Duration::minutes(10),
        locked: false,
        csrf_token: format!("csrf-token-{token:02x}"),
        previous_login_at: Some(datetime!(2026-11-24 18:30:00.000042 UTC)),
        failures_since_previous: 3,
        client_cert_sha256: Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned()),
    }
}

/// A security key registered at `created_at`; its credential ID is `len` bytes `id`.
fn webauthn_credential(id: u8, len: usize, created_at: OffsetDateTime) -> WebauthnCredential {
    WebauthnCredential {
        credential_id: vec![id; len],
        name: format!("YubiKey 受付 {id}"),
        credential_json: format!(r#"{{"cred_id":"{id:02x}","counter":0}}"#),
        created_at,
        last_used_at: None,
    }
}

/// A certificate fingerprint as the server writes it: 32 upper-case hex pairs joined by `:`,
/// every pair `byte`.
fn fingerprint(byte: u8) -> String {
    vec![format!("{byte:02X}"); 32].join(":")
}

fn terminal_name(name: &str) -> TerminalName {
    TerminalName::parse(name).expect("a valid terminal name")
}

/// An unrevoked terminal of `institution` issued at T0, its certificate's fingerprint all `cert`.
fn terminal(rng: &mut TestRng, institution: InstitutionId, name: &str, cert: u8) -> Terminal {
    Terminal {
        institution,
        id: TerminalId::generate(rng),
        name: terminal_name(name),
        cert_sha256: fingerprint(cert),
        issued_at: T0,
        revoked_at: None,
    }
}

/// An unreviewed emergency grant of `user` to a new patient's chart, granted at `granted_at`
/// for an hour.
fn emergency_grant(rng: &mut TestRng, user: &User, granted_at: OffsetDateTime) -> EmergencyGrantRecord {
    EmergencyGrantRecord {
        institution: user.institution_id,
        id: EmergencyGrantId::generate(rng),
        user: user.id,
        patient: PatientId::generate(rng),
        reason: "夜間の救急搬送 / night-time emergency admission".to_owned(),
        granted_at,
        expires_at: granted_at + Duration::hours(1),
        review: None,
    }
}

/// `grant` with `expires_at` instead.
fn expiring(grant: EmergencyGrantRecord, expires_at: OffsetDateTime) -> EmergencyGrantRecord {
    EmergencyGrantRecord { expires_at, ..grant }
}

/// A review by `reviewer` at `reviewed_at`.
fn emergency_review(reviewer: &User, reviewed_at: OffsetDateTime) -> EmergencyReview {
    EmergencyReview { reviewed_by: reviewer.id, reviewed_at, note: "妥当と確認 / justified".to_owned() }
}

/// `user` as a sealed account of its institution, first generation, sealed at `sealed_at`.
fn sealed(user: &User, sealed_at: OffsetDateTime) -> SealedAccount {
    SealedAccount { institution: user.institution_id, user: user.id, generation: 1, sealed_at }
}

/// An open activation of the sealed account `account` (first generation) confirmed by
/// `confirmer` at `activated_at`, for eight hours.
fn sealed_activation(
    rng: &mut TestRng,
    account: &User,
    confirmer: &User,
    activated_at: OffsetDateTime,
) -> SealedActivation {
    SealedActivation {
        institution: account.institution_id,
        id: SealedActivationId::generate(rng),
        user: account.id,
        generation: 1,
        used_by: "山田 花子".to_owned(),
        reason: "電子カルテ停電時の診療継続 / power outage".to_owned(),
        confirmed_by: confirmer.id,
        activated_at,
        expires_at: activated_at + Duration::hours(8),
        closed_at: None,
    }
}

/// `activation` with `expires_at` instead.
fn expiring_activation(activation: SealedActivation, expires_at: OffsetDateTime) -> SealedActivation {
    SealedActivation { expires_at, ..activation }
}

/// Two sealed accounts: `kinkyu1` and `kinkyu2` of institution A (from [`two_institutions`]),
/// sealed at T0.
async fn two_sealed_accounts(store: &dyn Store, rng: &mut TestRng, two: &Two) -> (User, User) {
    let mut accounts = Vec::new();
    for login_id in ["kinkyu1", "kinkyu2"] {
        let user = store.create_user(two.a.id, &new_user(rng, login_id, &[Role::Doctor])).await.expect("user");
        store.seal_account(&sealed(&user, T0)).await.expect("seal");
        accounts.push(user);
    }
    let second = accounts.pop().expect("two");
    (accounts.pop().expect("two"), second)
}

fn category(name: &str) -> Category {
    Category::parse(name).expect("a valid category name")
}

/// A category of `institution` added at T0.
fn category_def(institution: InstitutionId, name: &str) -> CategoryDef {
    CategoryDef {
        institution,
        category: category(name),
        label_ja: format!("区分 {name}"),
        label_en: format!("category {name}"),
        created_at: T0,
    }
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

async fn migrations_apply_and_reopening_is_idempotent(store: &dyn Store, db: &TestDb) {
    assert_eq!(store.schema_version().await.expect("schema version"), LATEST_SCHEMA_VERSION);
    let inst = institution(&mut rng(), "まもり診療所", T0);
    store.create_institution(&inst).await.expect("create institution");
    for _ in 0..2 {
        let again = db.open().await;
        assert_eq!(again.schema_version().await.expect("schema version"), LATEST_SCHEMA_VERSION);
        assert_eq!(again.institutions().await.expect("institutions"), vec![inst.clone()]);
        again.close().await;
    }
    assert_eq!(store.schema_version().await.expect("schema version"), LATEST_SCHEMA_VERSION);
}

async fn ping_answers_and_the_backend_is_named(store: &dyn Store, db: &TestDb) {
    store.ping().await.expect("ping");
    assert_eq!(store.backend(), db.backend());
}

async fn a_fresh_store_is_not_initialized(store: &dyn Store, _db: &TestDb) {
    assert!(!store.is_initialized().await.expect("is_initialized"));
    assert!(store.institutions().await.expect("institutions").is_empty());
    let mut rng = rng();
    store.create_institution(&institution(&mut rng, "まもり診療所", T0)).await.expect("create institution");
    assert!(store.is_initialized().await.expect("is_initialized"));
}

async fn bootstrap_creates_the_institution_and_its_administrator(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let inst = institution(&mut rng, "まもり総合病院", T0);
    let admin = new_user(&mut rng, "admin", &[Role::Auditor, Role::SystemAdministrator]);
    let totp = TotpRecord { confirmed: true, ..totp_record(7) };
    store.bootstrap(&inst, &admin, &totp).await.expect("bootstrap");
    assert_eq!(store.totp(inst.id, admin.id).await.expect("totp"), Some(totp), "the administrator's second factor");

    let want = expected(inst.id, &admin);
    assert_eq!(want.roles, vec![Role::SystemAdministrator, Role::Auditor]);
    assert!(store.is_initialized().await.expect("is_initialized"));
    assert_eq!(store.institution(inst.id).await.expect("institution"), Some(inst.clone()));
    assert_eq!(store.institutions().await.expect("institutions"), vec![inst.clone()]);
    assert_eq!(store.user(inst.id, admin.id).await.expect("user"), Some(want.clone()));
    assert_eq!(store.user_by_login_id(inst.id, &admin.login_id).await.expect("by login"), Some(want.clone()));
    assert_eq!(store.users(inst.id).await.expect("users"), vec![want]);
}

async fn a_second_bootstrap_is_refused_and_changes_nothing(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let first = institution(&mut rng, "一番目の病院", T0);
    let first_admin = new_user(&mut rng, "admin", &[Role::SystemAdministrator]);
    store.bootstrap(&first, &first_admin, &totp_record(7)).await.expect("first bootstrap");

    let second = institution(&mut rng, "二番目の病院", T0);
    let second_admin = new_user(&mut rng, "admin2", &[Role::SystemAdministrator]);
    let err = store.bootstrap(&second, &second_admin, &totp_record(7)).await;
    assert!(matches!(err, Err(StoreError::AlreadyInitialized)), "{err:?}");
    let err = store.bootstrap(&first, &first_admin, &totp_record(7)).await;
    assert!(matches!(err, Err(StoreError::AlreadyInitialized)), "{err:?}");

    assert_eq!(store.institutions().await.expect("institutions"), vec![first.clone()]);
    assert_eq!(store.institution(second.id).await.expect("institution"), None);
    assert_eq!(store.user(second.id, second_admin.id).await.expect("user"), None);
    assert_eq!(store.user_by_login_id(first.id, &second_admin.login_id).await.expect("by login"), None);
    assert_eq!(store.users(first.id).await.expect("users"), vec![expected(first.id, &first_admin)]);
    // The refused bootstrap did not take the login ID either.
    let other = new_user(&mut rng, "admin2", &[]);
    store.create_user(first.id, &other).await.expect("admin2 is still free");
}

async fn bootstrap_is_atomic(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let inst = institution(&mut rng, "まもり診療所", T0);
    // The institution and the user row go in; the repeated role then breaks the key.
    let broken = new_user(&mut rng, "admin", &[Role::SystemAdministrator, Role::Doctor, Role::SystemAdministrator]);
    let err = store.bootstrap(&inst, &broken, &totp_record(7)).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "role" })), "{err:?}");

    assert!(!store.is_initialized().await.expect("is_initialized"));
    assert!(store.institutions().await.expect("institutions").is_empty());
    assert_eq!(store.institution(inst.id).await.expect("institution"), None);
    assert_eq!(store.user(inst.id, broken.id).await.expect("user"), None);
    assert!(store.users(inst.id).await.expect("users").is_empty());

    // A second factor the database refuses (a secret under 16 bytes) fails after the
    // institution, the user and its roles went in: still nothing remains.
    let fixed = NewUser { roles: vec![Role::SystemAdministrator], ..broken };
    let short = TotpRecord { secret: vec![1; 8], ..totp_record(7) };
    assert!(store.bootstrap(&inst, &fixed, &short).await.is_err());
    assert!(!store.is_initialized().await.expect("is_initialized"));
    assert_eq!(store.user(inst.id, fixed.id).await.expect("user"), None);

    // Nothing was left behind: the same IDs and login ID bootstrap cleanly.
    store.bootstrap(&inst, &fixed, &totp_record(7)).await.expect("bootstrap after the failed one");
    assert_eq!(store.users(inst.id).await.expect("users"), vec![expected(inst.id, &fixed)]);
}

async fn concurrent_bootstraps_initialize_once(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let (a, b) = (institution(&mut rng, "A病院", T0), institution(&mut rng, "B病院", T0));
    let (admin_a, admin_b) = (
        new_user(&mut rng, "admin-a", &[Role::SystemAdministrator]),
        new_user(&mut rng, "admin-b", &[Role::SystemAdministrator]),
    );
    let (totp_a, totp_b) = (totp_record(7), totp_record(8));
    let (ra, rb) = tokio::join!(store.bootstrap(&a, &admin_a, &totp_a), store.bootstrap(&b, &admin_b, &totp_b));
    let refused = [&ra, &rb].iter().filter(|r| matches!(r, Err(StoreError::AlreadyInitialized))).count();
    assert!(ra.is_ok() != rb.is_ok() && refused == 1, "exactly one bootstrap must succeed: {ra:?} {rb:?}");
    let winner = if ra.is_ok() { &a } else { &b };
    assert_eq!(store.institutions().await.expect("institutions"), vec![winner.clone()]);
}

async fn fields_round_trip_exactly(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    // Given in JST with nanoseconds: stored as UTC, to the microsecond.
    let inst = institution(
        &mut rng,
        "医療法人社団まもり会　まもり総合病院（内科・小児科）",
        datetime!(2026-11-25 18:00:00.654321999 +09:00),
    );
    store.create_institution(&inst).await.expect("create institution");
    let read = store.institution(inst.id).await.expect("institution").expect("present");
    assert_eq!(read.name, inst.name);
    assert_eq!(read.id, inst.id);
    assert_eq!(read.created_at, datetime!(2026-11-25 09:00:00.654321 UTC));
    assert_eq!(read.created_at.offset(), UtcOffset::UTC);

    let times = [
        datetime!(2026-11-25 09:00:00.000001 UTC),
        datetime!(1999-12-31 23:59:59.999999 UTC),
        datetime!(2000-01-01 00:00:00 UTC),
        datetime!(2038-01-19 03:14:08.5 UTC),
        datetime!(1969-07-20 20:17:40.123456 UTC),
    ];
    let role_sets: [&[Role]; 4] = [&[], &[Role::Doctor], &[Role::Clerk, Role::Auditor], Role::ALL];
    let names = ["山田 太郎", "佐藤 花子", "ＡＢＣ　ｶﾀｶﾅ", "髙橋 﨑", "O'Brien-Smith, Jr."];
    let mut want = Vec::new();
    for (i, job) in JobType::ALL.iter().enumerate() {
        let mut user = new_user(&mut rng, &format!("user{i:02}.{}", job.as_str()), role_sets[i % role_sets.len()]);
        user.job_type = *job;
        user.display_name = DisplayName::parse(names[i % names.len()]).expect("name");
        user.password_change_required = i % 2 == 0;
        user.created_at = times[i % times.len()];
        user.password_hash = format!("{PASSWORD_HASH}{i}");
        let created = store.create_user(inst.id, &user).await.expect("create user");
        let expect = expected(inst.id, &user);
        assert_eq!(created, expect);
        let read = store.user(inst.id, user.id).await.expect("user").expect("present");
        assert_eq!(read, expect);
        assert_eq!(read.display_name.as_str(), names[i % names.len()]);
        assert_eq!(read.password_hash, user.password_hash);
        assert_eq!(read.created_at.offset(), UtcOffset::UTC);
        want.push(expect);
    }
    want.sort_by(|a, b| a.login_id.cmp(&b.login_id));
    assert_eq!(store.users(inst.id).await.expect("users"), want);

    // Nanoseconds are dropped on write, not rounded.
    let mut user = new_user(&mut rng, "nanos", &[]);
    user.created_at = datetime!(2026-11-25 09:00:00.999999999 UTC);
    let created = store.create_user(inst.id, &user).await.expect("create user");
    let read = store.user(inst.id, user.id).await.expect("user").expect("present");
    assert_eq!(created.created_at, datetime!(2026-11-25 09:00:00.999999 UTC));
    assert_eq!(read, created);
}

async fn users_are_invisible_through_another_institution(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let a = institution(&mut rng, "A病院", T0);
    let b = institution(&mut rng, "B病院", T0);
    store.create_institution(&a).await.expect("create A");
    store.create_institution(&b).await.expect("create B");
    let alice = store.create_user(a.id, &new_user(&mut rng, "alice", &[Role::Doctor])).await.expect("alice");
    let bob = store.create_user(b.id, &new_user(&mut rng, "bob", &[Role::Clerk])).await.expect("bob");

    assert_eq!(store.user(b.id, alice.id).await.expect("user"), None);
    assert_eq!(store.user_by_login_id(b.id, &alice.login_id).await.expect("by login"), None);
    assert_eq!(store.users(b.id).await.expect("users"), vec![bob.clone()]);
    assert_eq!(store.user(a.id, bob.id).await.expect("user"), None);
    assert_eq!(store.user_by_login_id(a.id, &bob.login_id).await.expect("by login"), None);
    assert_eq!(store.users(a.id).await.expect("users"), vec![alice.clone()]);

    let unknown = InstitutionId::generate(&mut rng);
    assert_eq!(store.user(unknown, alice.id).await.expect("user"), None);
    assert!(store.users(unknown).await.expect("users").is_empty());
    assert_eq!(store.institution(unknown).await.expect("institution"), None);
}

async fn login_ids_are_unique_across_institutions(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let a = institution(&mut rng, "A病院", T0);
    let b = institution(&mut rng, "B病院", T0);
    store.create_institution(&a).await.expect("create A");
    store.create_institution(&b).await.expect("create B");
    let first = store.create_user(a.id, &new_user(&mut rng, "yamada", &[Role::Doctor])).await.expect("first");

    let elsewhere = new_user(&mut rng, "yamada", &[Role::Clerk]);
    let err = store.create_user(b.id, &elsewhere).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "login ID" })), "{err:?}");
    let same_place = new_user(&mut rng, "yamada", &[]);
    let err = store.create_user(a.id, &same_place).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "login ID" })), "{err:?}");

    assert!(store.users(b.id).await.expect("users").is_empty());
    assert_eq!(store.user(b.id, elsewhere.id).await.expect("user"), None);
    assert_eq!(store.users(a.id).await.expect("users"), vec![first]);
}

async fn creating_a_user_in_an_unknown_institution_is_not_found(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let unknown = InstitutionId::generate(&mut rng);
    let user = new_user(&mut rng, "orphan", &[Role::Doctor]);
    let err = store.create_user(unknown, &user).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "institution" })), "{err:?}");
    assert_eq!(store.user(unknown, user.id).await.expect("user"), None);

    // The failed attempt did not take the login ID.
    let inst = institution(&mut rng, "まもり診療所", T0);
    store.create_institution(&inst).await.expect("create institution");
    store.create_user(inst.id, &user).await.expect("the login ID is still free");
}

async fn duplicate_ids_and_roles_conflict_and_leave_nothing(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let inst = institution(&mut rng, "まもり診療所", T0);
    store.create_institution(&inst).await.expect("create institution");
    let err = store
        .create_institution(&Institution { name: InstitutionName::parse("別名").expect("name"), ..inst.clone() })
        .await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "institution ID" })), "{err:?}");
    assert_eq!(store.institutions().await.expect("institutions"), vec![inst.clone()]);

    let user = store.create_user(inst.id, &new_user(&mut rng, "first", &[Role::Doctor])).await.expect("user");
    let same_id = NewUser { id: user.id, ..new_user(&mut rng, "second", &[]) };
    let err = store.create_user(inst.id, &same_id).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "user ID" })), "{err:?}");

    let twice = new_user(&mut rng, "third", &[Role::Clerk, Role::Clerk]);
    let err = store.create_user(inst.id, &twice).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "role" })), "{err:?}");
    assert_eq!(store.user(inst.id, twice.id).await.expect("user"), None);
    assert_eq!(store.user_by_login_id(inst.id, &login("third")).await.expect("by login"), None);
    assert_eq!(store.users(inst.id).await.expect("users"), vec![user]);
}

async fn lists_are_ordered(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let late = institution(&mut rng, "遅い", datetime!(2027-01-01 00:00:00 UTC));
    let early = institution(&mut rng, "早い", datetime!(2025-01-01 00:00:00 UTC));
    let mut same_a = institution(&mut rng, "同時A", datetime!(2026-01-01 00:00:00.5 UTC));
    let mut same_b = institution(&mut rng, "同時B", datetime!(2026-01-01 00:00:00.5 UTC));
    // The same instant given in another offset still ties and falls back to ID order.
    same_b.created_at = same_b.created_at.to_offset(UtcOffset::from_hms(9, 0, 0).expect("offset"));
    if same_a.id > same_b.id {
        std::mem::swap(&mut same_a, &mut same_b);
    }
    for inst in [&late, &same_b, &early, &same_a] {
        store.create_institution(inst).await.expect("create institution");
    }
    let ids: Vec<_> = store.institutions().await.expect("institutions").iter().map(|i| i.id).collect();
    assert_eq!(ids, vec![early.id, same_a.id, same_b.id, late.id]);

    // Login IDs sort by bytes on both backends: '-' < '.' < '0' < '_' < 'a'.
    let logins = ["b-x", "abc", "a_b", "a.b", "a-b", "a0b", "abcd"];
    for l in logins {
        store.create_user(early.id, &new_user(&mut rng, l, &[])).await.expect("create user");
    }
    let mut want: Vec<String> = logins.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    let got: Vec<String> =
        store.users(early.id).await.expect("users").iter().map(|u| u.login_id.as_str().to_owned()).collect();
    assert_eq!(got, want);
}

async fn find_login_searches_every_institution(store: &dyn Store, _db: &TestDb) {
    let two = two_institutions(store, &mut rng()).await;
    assert_eq!(store.find_login(&two.alice.login_id).await.expect("find alice"), Some(two.alice.clone()));
    assert_eq!(store.find_login(&two.bob.login_id).await.expect("find bob"), Some(two.bob.clone()));
    assert_eq!(store.find_login(&login("nobody")).await.expect("find nobody"), None);
    assert_eq!(two.alice.roles, vec![Role::Doctor, Role::Auditor], "the join folds into one user");
}

async fn set_password_replaces_the_hash_within_its_institution_only(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let new_hash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaG5ld2hhc2g";
    store.set_password(two.a.id, two.alice.id, new_hash, false).await.expect("set password");
    let want = User { password_hash: new_hash.to_owned(), password_change_required: false, ..two.alice.clone() };
    assert_eq!(store.user(two.a.id, two.alice.id).await.expect("user"), Some(want.clone()));
    store.set_password(two.a.id, two.alice.id, PASSWORD_HASH, true).await.expect("set it back");
    assert_eq!(store.user(two.a.id, two.alice.id).await.expect("user"), Some(two.alice.clone()));

    let err = store.set_password(two.b.id, two.alice.id, new_hash, false).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    let err = store.set_password(two.a.id, UserId::generate(&mut rng), new_hash, false).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    assert_eq!(store.user(two.a.id, two.alice.id).await.expect("user"), Some(two.alice.clone()));
    assert_eq!(store.user(two.a.id, two.carol.id).await.expect("user"), Some(two.carol));
    assert_eq!(store.user(two.b.id, two.bob.id).await.expect("user"), Some(two.bob));
}

async fn record_login_success_reports_the_previous_login_and_resets_the_count(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, alice) = (two.a.id, two.alice.id);
    assert_eq!(store.record_login_success(a, alice, T0).await.expect("first login"), (None, 0));

    for _ in 0..3 {
        store.record_login_failure(a, alice).await.expect("failure");
    }
    // Given in JST with nanoseconds: reported next time in UTC, to the microsecond.
    let t1 = datetime!(2026-11-25 19:00:00.777777999 +09:00);
    assert_eq!(store.record_login_success(a, alice, t1).await.expect("second login"), (Some(T0), 3));
    let (previous, failures) = store.record_login_success(a, alice, T0 + Duration::hours(2)).await.expect("third");
    assert_eq!((previous, failures), (Some(datetime!(2026-11-25 10:00:00.777777 UTC)), 0));
    assert_eq!(previous.map(OffsetDateTime::offset), Some(UtcOffset::UTC));

    // Other users keep their own counts.
    store.record_login_failure(a, two.carol.id).await.expect("carol's failure");
    assert_eq!(store.record_login_success(two.b.id, two.bob.id, T0).await.expect("bob"), (None, 0));
    assert_eq!(store.record_login_success(a, two.carol.id, T0).await.expect("carol"), (None, 1));

    let unknown = UserId::generate(&mut rng);
    let err = store.record_login_success(a, unknown, T0).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    let err = store.record_login_failure(a, unknown).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    // The user record itself is untouched by the bookkeeping.
    assert_eq!(store.user(a, alice).await.expect("user"), Some(two.alice));
}

async fn concurrent_login_failures_are_each_counted_once(store: &dyn Store, _db: &TestDb) {
    let two = two_institutions(store, &mut rng()).await;
    let (a, alice) = (two.a.id, two.alice.id);
    let fail = || store.record_login_failure(a, alice);
    let (f1, f2, f3, success, f4, f5, f6) =
        tokio::join!(fail(), fail(), fail(), store.record_login_success(a, alice, T0), fail(), fail(), fail());
    for f in [f1, f2, f3, f4, f5, f6] {
        f.expect("failure");
    }
    let (_, before) = success.expect("success");
    let (previous, after) = store.record_login_success(a, alice, T0 + Duration::seconds(1)).await.expect("again");
    assert_eq!(previous, Some(T0));
    assert_eq!(before + after, 6, "every failure is reported exactly once: {before} + {after}");
}

async fn throttles_are_kept_by_login_id_text(store: &dyn Store, _db: &TestDb) {
    assert_eq!(store.throttle("nobody").await.expect("throttle"), None);
    let first = Throttle { login_id: "nobody".to_owned(), failures: 1, last_failure_at: T0 };
    store.put_throttle(&first).await.expect("put");
    assert_eq!(store.throttle("nobody").await.expect("throttle"), Some(first.clone()));

    let second = Throttle {
        login_id: "nobody".to_owned(),
        failures: 2,
        last_failure_at: datetime!(2026-11-25 18:00:03.123456999 +09:00),
    };
    store.put_throttle(&second).await.expect("upsert");
    let read = store.throttle("nobody").await.expect("throttle").expect("present");
    assert_eq!(read, Throttle { last_failure_at: datetime!(2026-11-25 09:00:03.123456 UTC), ..second });
    assert_eq!(read.last_failure_at.offset(), UtcOffset::UTC);

    // Login IDs that exist or not, and text a login ID could never be, are all just keys.
    let others = [
        Throttle { login_id: "alice".to_owned(), failures: u32::MAX, last_failure_at: T0 },
        Throttle { login_id: "Nobody ".to_owned(), failures: 0, last_failure_at: T0 },
    ];
    for t in &others {
        store.put_throttle(t).await.expect("put other");
    }
    for t in &others {
        assert_eq!(store.throttle(&t.login_id).await.expect("throttle"), Some(t.clone()));
    }

    store.clear_throttle("nobody").await.expect("clear");
    assert_eq!(store.throttle("nobody").await.expect("throttle"), None);
    store.clear_throttle("nobody").await.expect("clearing again is no error");
    assert_eq!(store.throttle("alice").await.expect("throttle"), Some(others[0].clone()));
}

async fn totp_enrollments_round_trip_and_confirm(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, alice) = (two.a.id, two.alice.id);
    assert_eq!(store.totp(a, alice).await.expect("totp"), None);
    let err = store.confirm_totp(a, alice).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "TOTP enrollment" })), "{err:?}");

    let record = totp_record(0x5a);
    store.put_totp(a, alice, &record).await.expect("put");
    assert_eq!(store.totp(a, alice).await.expect("totp"), Some(record.clone()));
    store.confirm_totp(a, alice).await.expect("confirm");
    assert_eq!(store.totp(a, alice).await.expect("totp"), Some(TotpRecord { confirmed: true, ..record.clone() }));
    store.confirm_totp(a, alice).await.expect("confirming twice is no error");

    // Re-enrolling replaces every field.
    let replacement = TotpRecord {
        secret: (0u8..32).collect(),
        confirmed: false,
        last_used_step: Some(59_000_000),
        created_at: datetime!(2026-11-26 18:00:00.000001999 +09:00),
    };
    store.put_totp(a, alice, &replacement).await.expect("replace");
    let read = store.totp(a, alice).await.expect("totp").expect("present");
    assert_eq!(read, TotpRecord { created_at: datetime!(2026-11-26 09:00:00.000001 UTC), ..replacement });
    assert_eq!(store.totp(a, two.carol.id).await.expect("carol has none"), None);

    let err = store.put_totp(a, UserId::generate(&mut rng), &record).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
}

async fn totp_steps_are_accepted_once_and_only_in_increasing_order(store: &dyn Store, _db: &TestDb) {
    let two = two_institutions(store, &mut rng()).await;
    let (a, alice) = (two.a.id, two.alice.id);
    assert!(!store.use_totp_step(a, alice, 100).await.expect("use"), "no enrollment, no code");

    store.put_totp(a, alice, &totp_record(1)).await.expect("put");
    assert!(store.use_totp_step(a, alice, 100).await.expect("use"), "the first code of an enrollment");
    assert_eq!(store.totp(a, alice).await.expect("totp").and_then(|t| t.last_used_step), Some(100));
    assert!(!store.use_totp_step(a, alice, 100).await.expect("use"), "the same step twice");
    assert!(!store.use_totp_step(a, alice, 99).await.expect("use"), "an earlier step");
    assert!(store.use_totp_step(a, alice, 101).await.expect("use"), "the next step");
    assert!(!store.use_totp_step(a, alice, 100).await.expect("use"), "an earlier step after it");
    assert!(store.use_totp_step(a, alice, 59_000_000).await.expect("use"), "a much later step");
    assert!(!store.use_totp_step(a, alice, 59_000_000).await.expect("use"), "the same step twice");
    assert_eq!(store.totp(a, alice).await.expect("totp").and_then(|t| t.last_used_step), Some(59_000_000));
    // Carol has no enrollment of her own.
    assert!(!store.use_totp_step(a, two.carol.id, 59_000_001).await.expect("use"));
}

async fn concurrent_uses_of_one_totp_step_accept_exactly_one(store: &dyn Store, _db: &TestDb) {
    let two = two_institutions(store, &mut rng()).await;
    let (a, alice) = (two.a.id, two.alice.id);
    store.put_totp(a, alice, &totp_record(1)).await.expect("put");
    for step in 1..=20 {
        let (r1, r2, r3, r4) = tokio::join!(
            store.use_totp_step(a, alice, step),
            store.use_totp_step(a, alice, step),
            store.use_totp_step(a, alice, step),
            store.use_totp_step(a, alice, step),
        );
        let accepted = [r1, r2, r3, r4].into_iter().map(|r| r.expect("use")).filter(|ok| *ok).count();
        assert_eq!(accepted, 1, "step {step}");
    }
    assert_eq!(store.totp(a, alice).await.expect("totp").and_then(|t| t.last_used_step), Some(20));
}

async fn recovery_codes_are_used_once_and_replaced_together(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, alice) = (two.a.id, two.alice.id);
    assert_eq!(store.unused_recovery_codes(a, alice).await.expect("count"), 0);
    assert!(!store.use_recovery_code(a, alice, &[1; 32], T0).await.expect("use"), "no codes yet");

    let codes: Vec<[u8; 32]> = (1u8..=10).map(|i| [i; 32]).collect();
    store.replace_recovery_codes(a, alice, &codes, T0).await.expect("replace");
    assert_eq!(store.unused_recovery_codes(a, alice).await.expect("count"), 10);
    assert!(store.use_recovery_code(a, alice, &[3; 32], T0).await.expect("use"), "first use");
    assert!(!store.use_recovery_code(a, alice, &[3; 32], T0).await.expect("use"), "second use");
    assert!(!store.use_recovery_code(a, alice, &[99; 32], T0).await.expect("use"), "unknown code");
    assert!(!store.use_recovery_code(a, two.carol.id, &[4; 32], T0).await.expect("use"), "another user's code");
    assert_eq!(store.unused_recovery_codes(a, alice).await.expect("count"), 9);
    assert_eq!(store.unused_recovery_codes(a, two.carol.id).await.expect("count"), 0);

    let (r1, r2, r3) = tokio::join!(
        store.use_recovery_code(a, alice, &[5; 32], T0),
        store.use_recovery_code(a, alice, &[5; 32], T0),
        store.use_recovery_code(a, alice, &[5; 32], T0),
    );
    let accepted = [r1, r2, r3].into_iter().map(|r| r.expect("use")).filter(|ok| *ok).count();
    assert_eq!(accepted, 1, "concurrent uses of one code");
    assert_eq!(store.unused_recovery_codes(a, alice).await.expect("count"), 8);

    // Replacing removes every old code, used or not.
    store.replace_recovery_codes(a, alice, &[[20; 32], [21; 32]], T0 + Duration::days(1)).await.expect("replace");
    assert_eq!(store.unused_recovery_codes(a, alice).await.expect("count"), 2);
    assert!(!store.use_recovery_code(a, alice, &[1; 32], T0).await.expect("use"), "an old unused code");
    assert!(store.use_recovery_code(a, alice, &[20; 32], T0).await.expect("use"), "a new code");
    assert_eq!(store.unused_recovery_codes(a, alice).await.expect("count"), 1);

    // A repeated hash fails the whole replacement and keeps the old codes.
    let err = store.replace_recovery_codes(a, alice, &[[30; 32], [31; 32], [30; 32]], T0).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "recovery code" })), "{err:?}");
    assert_eq!(store.unused_recovery_codes(a, alice).await.expect("count"), 1);
    assert!(!store.use_recovery_code(a, alice, &[31; 32], T0).await.expect("use"), "nothing was inserted");
    assert!(store.use_recovery_code(a, alice, &[21; 32], T0).await.expect("use"), "the old code still works");

    let err = store.replace_recovery_codes(a, UserId::generate(&mut rng), &codes, T0).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    store.replace_recovery_codes(a, alice, &codes, T0).await.expect("replace");
    store.replace_recovery_codes(a, alice, &[], T0).await.expect("replace with none");
    assert_eq!(store.unused_recovery_codes(a, alice).await.expect("count"), 0);
}

async fn sessions_round_trip_every_field(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    assert_eq!(store.session(&[1; 32]).await.expect("session"), None);

    // Given in JST with nanoseconds: stored in UTC, to the microsecond.
    let full =
        SessionRecord { created_at: datetime!(2026-11-25 18:00:00.123456789 +09:00), ..session_record(&two.alice, 1) };
    store.create_session(&full).await.expect("create");
    let read = store.session(&full.token_hash).await.expect("session").expect("present");
    assert_eq!(read, SessionRecord { created_at: datetime!(2026-11-25 09:00:00.123456 UTC), ..full.clone() });
    assert_eq!(read.created_at.offset(), UtcOffset::UTC);
    let full = read;

    let bare = SessionRecord {
        stage: SessionStage::Enroll,
        locked: true,
        previous_login_at: None,
        failures_since_previous: 0,
        client_cert_sha256: None,
        ..session_record(&two.bob, 2)
    };
    store.create_session(&bare).await.expect("create");
    assert_eq!(store.session(&bare.token_hash).await.expect("session"), Some(bare.clone()));

    // Update changes exactly its fields; created_at, the user and the certificate stay.
    let updated = SessionRecord {
        stage: SessionStage::Full,
        last_seen_at: T0 + Duration::minutes(5),
        expires_at: T0 + Duration::hours(12),
        locked: true,
        previous_login_at: None,
        failures_since_previous: u32::MAX,
        csrf_token: "a-new-csrf-token".to_owned(),
        ..full.clone()
    };
    let mut request = SessionRecord {
        created_at: T0 + Duration::days(3),
        user: two.carol.id,
        client_cert_sha256: None,
        ..updated.clone()
    };
    store.update_session(&request).await.expect("update");
    assert_eq!(store.session(&full.token_hash).await.expect("session"), Some(updated.clone()));
    request.previous_login_at = Some(T0);
    request.locked = false;
    store.update_session(&request).await.expect("update again");
    let updated = SessionRecord { previous_login_at: Some(T0), locked: false, ..updated };
    assert_eq!(store.session(&full.token_hash).await.expect("session"), Some(updated.clone()));

    let at = T0 + Duration::minutes(7);
    store.touch_session(two.a.id, &full.token_hash, at).await.expect("touch");
    let touched = SessionRecord { last_seen_at: at, ..updated };
    assert_eq!(store.session(&full.token_hash).await.expect("session"), Some(touched.clone()));
    store.touch_session(two.a.id, &[9; 32], at).await.expect("touching a missing session is no error");
    let err = store.update_session(&session_record(&two.alice, 9)).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "session" })), "{err:?}");

    let err = store.create_session(&SessionRecord { user: two.carol.id, ..session_record(&two.alice, 1) }).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "session token" })), "{err:?}");
    let stranger = SessionRecord { user: UserId::generate(&mut rng), ..session_record(&two.alice, 3) };
    let err = store.create_session(&stranger).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    assert_eq!(store.session(&stranger.token_hash).await.expect("session"), None);

    store.delete_session(two.b.id, &bare.token_hash).await.expect("delete");
    assert_eq!(store.session(&bare.token_hash).await.expect("session"), None);
    store.delete_session(two.b.id, &bare.token_hash).await.expect("deleting again is no error");
    assert_eq!(store.session(&full.token_hash).await.expect("session"), Some(touched));
}

async fn deleting_a_users_sessions_counts_them(store: &dyn Store, _db: &TestDb) {
    let two = two_institutions(store, &mut rng()).await;
    for token in 1..=3 {
        store.create_session(&session_record(&two.alice, token)).await.expect("alice's session");
    }
    store.create_session(&session_record(&two.carol, 4)).await.expect("carol's session");
    store.create_session(&session_record(&two.bob, 5)).await.expect("bob's session");

    assert_eq!(store.delete_user_sessions(two.a.id, two.alice.id).await.expect("delete"), 3);
    for token in 1..=3 {
        assert_eq!(store.session(&[token; 32]).await.expect("session"), None);
    }
    assert_eq!(store.session(&[4; 32]).await.expect("session"), Some(session_record(&two.carol, 4)));
    assert_eq!(store.session(&[5; 32]).await.expect("session"), Some(session_record(&two.bob, 5)));
    assert_eq!(store.delete_user_sessions(two.a.id, two.alice.id).await.expect("delete"), 0);
}

async fn sessions_cannot_be_changed_through_another_institution(store: &dyn Store, _db: &TestDb) {
    let two = two_institutions(store, &mut rng()).await;
    let session = session_record(&two.alice, 1);
    store.create_session(&session).await.expect("create");

    let through_b = SessionRecord {
        institution: two.b.id,
        stage: SessionStage::Full,
        locked: true,
        csrf_token: "stolen".to_owned(),
        ..session.clone()
    };
    let err = store.update_session(&through_b).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "session" })), "{err:?}");
    store.touch_session(two.b.id, &session.token_hash, T0 + Duration::hours(1)).await.expect("touch");
    store.delete_session(two.b.id, &session.token_hash).await.expect("delete");
    assert_eq!(store.delete_user_sessions(two.b.id, two.alice.id).await.expect("delete"), 0);
    assert_eq!(store.session(&session.token_hash).await.expect("session"), Some(session.clone()));

    // A session cannot name a user of another institution either.
    let err = store.create_session(&SessionRecord { institution: two.b.id, ..session_record(&two.alice, 2) }).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    assert_eq!(store.session(&[2; 32]).await.expect("session"), None);
}

async fn identity_data_is_invisible_through_another_institution(store: &dyn Store, _db: &TestDb) {
    let two = two_institutions(store, &mut rng()).await;
    let (a, b, alice) = (two.a.id, two.b.id, two.alice.id);
    let enrollment = TotpRecord { confirmed: false, last_used_step: Some(10), ..totp_record(7) };
    store.put_totp(a, alice, &enrollment).await.expect("put totp");
    store.replace_recovery_codes(a, alice, &[[1; 32], [2; 32]], T0).await.expect("codes");
    store.record_login_success(a, alice, T0).await.expect("login");
    store.record_login_failure(a, alice).await.expect("failure");

    // Every per-user method, given B's ID and A's user.
    let err = store.set_password(b, alice, PASSWORD_HASH, false).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "set_password: {err:?}");
    let err = store.record_login_success(b, alice, T0 + Duration::hours(1)).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "record_login_success: {err:?}");
    let err = store.record_login_failure(b, alice).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "record_login_failure: {err:?}");
    assert_eq!(store.totp(b, alice).await.expect("totp"), None);
    let err = store.put_totp(b, alice, &totp_record(8)).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "put_totp: {err:?}");
    let err = store.confirm_totp(b, alice).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "TOTP enrollment" })), "confirm_totp: {err:?}");
    assert!(!store.use_totp_step(b, alice, 11).await.expect("use_totp_step"));
    let err = store.replace_recovery_codes(b, alice, &[[3; 32]], T0).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "replace_recovery_codes: {err:?}");
    assert!(!store.use_recovery_code(b, alice, &[1; 32], T0).await.expect("use_recovery_code"));
    assert_eq!(store.unused_recovery_codes(b, alice).await.expect("unused_recovery_codes"), 0);
    assert_eq!(store.delete_user_sessions(b, alice).await.expect("delete_user_sessions"), 0);

    // Nothing of A's changed.
    assert_eq!(store.user(a, alice).await.expect("user"), Some(two.alice.clone()));
    assert_eq!(store.totp(a, alice).await.expect("totp"), Some(enrollment));
    assert_eq!(store.unused_recovery_codes(a, alice).await.expect("count"), 2);
    assert!(store.use_totp_step(a, alice, 11).await.expect("step 11 is still unused"));
    assert_eq!(store.record_login_success(a, alice, T0 + Duration::hours(2)).await.expect("login"), (Some(T0), 1));
}

async fn user_status_changes_round_trip_and_retired_is_final(store: &dyn Store, db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, alice) = (two.a.id, two.alice.id);
    for status in [UserStatus::Disabled, UserStatus::Active, UserStatus::Active, UserStatus::Disabled] {
        store.set_user_status(a, alice, status).await.expect("set status");
        assert_eq!(store.user(a, alice).await.expect("user"), Some(User { status, ..two.alice.clone() }));
    }
    store.set_user_status(a, alice, UserStatus::Retired).await.expect("retire");
    let retired = User { status: UserStatus::Retired, ..two.alice.clone() };
    assert_eq!(store.user(a, alice).await.expect("user"), Some(retired.clone()));

    // Retired is final: every status, retired included, is refused and nothing changes.
    for status in UserStatus::ALL {
        let err = store.set_user_status(a, alice, *status).await;
        assert!(matches!(err, Err(StoreError::Conflict { what: "retired account" })), "{status}: {err:?}");
        assert_eq!(store.user(a, alice).await.expect("user"), Some(retired.clone()));
    }
    // The schema refuses it too, whatever statement tries.
    let outside = execute_outside_the_store(db, "UPDATE users SET status = 'active' WHERE login_id = 'alice'").await;
    assert!(outside.as_ref().is_err_and(|e| e.to_string().contains("a retired account stays retired")), "{outside:?}");
    assert_eq!(store.user(a, alice).await.expect("user"), Some(retired.clone()));

    // The retired account keeps its login ID: nobody gets it, in any institution.
    assert_eq!(store.find_login(&login("alice")).await.expect("find"), Some(retired.clone()));
    for inst in [a, two.b.id] {
        let err = store.create_user(inst, &new_user(&mut rng, "alice", &[])).await;
        assert!(matches!(err, Err(StoreError::Conflict { what: "login ID" })), "{err:?}");
    }

    let err = store.set_user_status(a, UserId::generate(&mut rng), UserStatus::Disabled).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    assert_eq!(store.user(a, two.carol.id).await.expect("user"), Some(two.carol));
    assert_eq!(store.user(two.b.id, two.bob.id).await.expect("user"), Some(two.bob));
}

async fn set_user_roles_replaces_every_role_or_none(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, alice) = (two.a.id, two.alice.id);
    let roles_of = |user: Option<User>| user.map(|u| u.roles);

    store.set_user_roles(a, alice, &[Role::SystemAdministrator, Role::Nurse]).await.expect("set roles");
    assert_eq!(
        store.user(a, alice).await.expect("user"),
        Some(User { roles: vec![Role::Nurse, Role::SystemAdministrator], ..two.alice.clone() })
    );
    store.set_user_roles(a, alice, &[]).await.expect("no roles");
    assert_eq!(roles_of(store.user(a, alice).await.expect("user")), Some(vec![]));
    store.set_user_roles(a, alice, Role::ALL).await.expect("every role");
    assert_eq!(roles_of(store.user(a, alice).await.expect("user")), Some(Role::ALL.to_vec()));
    store.set_user_roles(a, alice, &[Role::Auditor, Role::Doctor]).await.expect("set roles");

    // A repeated role fails after the old roles were deleted and some inserted: all are kept.
    let err = store.set_user_roles(a, alice, &[Role::Clerk, Role::Pharmacist, Role::Clerk]).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "role" })), "{err:?}");
    assert_eq!(store.user(a, alice).await.expect("user"), Some(two.alice.clone()));

    let err = store.set_user_roles(a, UserId::generate(&mut rng), &[Role::Doctor]).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    assert_eq!(store.user(a, two.carol.id).await.expect("user"), Some(two.carol));
    assert_eq!(store.user(two.b.id, two.bob.id).await.expect("user"), Some(two.bob));
}

async fn the_user_ledger_lists_every_status_with_its_last_login(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let ben = store.create_user(a, &new_user(&mut rng, "ben", &[Role::Clerk])).await.expect("ben");
    let zed = store.create_user(a, &new_user(&mut rng, "zed", &[])).await.expect("zed");
    assert_eq!(
        store.user_ledger(a).await.expect("ledger"),
        vec![(two.alice.clone(), None), (ben.clone(), None), (two.carol.clone(), None), (zed.clone(), None)],
        "no one has logged in yet"
    );

    // Given in JST with nanoseconds: reported in UTC, to the microsecond.
    store.record_login_success(a, two.alice.id, datetime!(2026-11-25 19:00:00.777777999 +09:00)).await.expect("login");
    let alice_at = datetime!(2026-11-25 10:00:00.777777 UTC);
    store.record_login_success(a, zed.id, T0).await.expect("login");
    store.record_login_success(a, zed.id, T0 + Duration::days(1)).await.expect("a later login");
    store.set_user_status(a, ben.id, UserStatus::Disabled).await.expect("disable");
    store.set_user_status(a, zed.id, UserStatus::Retired).await.expect("retire");
    let ben = User { status: UserStatus::Disabled, ..ben };
    let zed = User { status: UserStatus::Retired, ..zed };
    let ledger = store.user_ledger(a).await.expect("ledger");
    assert_eq!(
        ledger,
        vec![
            (two.alice.clone(), Some(alice_at)),
            (ben, None),
            (two.carol.clone(), None),
            (zed, Some(T0 + Duration::days(1))),
        ]
    );
    assert_eq!(ledger[0].1.map(OffsetDateTime::offset), Some(UtcOffset::UTC));
    let users: Vec<User> = ledger.into_iter().map(|(user, _)| user).collect();
    assert_eq!(store.users(a).await.expect("users"), users, "the ledger and the user list agree");

    assert_eq!(store.user_ledger(two.b.id).await.expect("ledger"), vec![(two.bob, None)]);
    assert!(store.user_ledger(InstitutionId::generate(&mut rng)).await.expect("ledger").is_empty());
}

async fn deleting_second_factors_removes_the_totp_and_every_recovery_code(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, alice, carol) = (two.a.id, two.alice.id, two.carol.id);
    store.put_totp(a, alice, &TotpRecord { confirmed: true, ..totp_record(1) }).await.expect("alice's totp");
    store.replace_recovery_codes(a, alice, &[[1; 32], [2; 32], [3; 32]], T0).await.expect("alice's codes");
    assert!(store.use_recovery_code(a, alice, &[1; 32], T0).await.expect("use"));
    store.put_totp(a, carol, &totp_record(2)).await.expect("carol's totp");
    store.replace_recovery_codes(a, carol, &[[4; 32], [5; 32]], T0).await.expect("carol's codes");

    assert!(store.delete_second_factors(a, alice).await.expect("delete"), "alice had a TOTP enrollment");
    assert_eq!(store.totp(a, alice).await.expect("totp"), None);
    assert_eq!(store.unused_recovery_codes(a, alice).await.expect("count"), 0);
    assert!(!store.use_recovery_code(a, alice, &[2; 32], T0).await.expect("use"), "a removed code");
    assert!(!store.use_totp_step(a, alice, 1).await.expect("use"), "no enrollment, no code");
    // The used code went too: the same hash can be issued again.
    store.replace_recovery_codes(a, alice, &[[1; 32]], T0).await.expect("reissue");
    assert!(!store.delete_second_factors(a, alice).await.expect("delete again"), "no TOTP enrollment now");
    assert_eq!(store.unused_recovery_codes(a, alice).await.expect("count"), 0, "codes go without a TOTP too");

    // Carol's are untouched; a user the institution does not have has none.
    assert_eq!(store.totp(a, carol).await.expect("totp"), Some(totp_record(2)));
    assert_eq!(store.unused_recovery_codes(a, carol).await.expect("count"), 2);
    assert!(!store.delete_second_factors(a, UserId::generate(&mut rng)).await.expect("delete"));
    // A new enrollment after the deletion works as the first one did.
    store.put_totp(a, alice, &totp_record(3)).await.expect("re-enroll");
    assert!(store.use_totp_step(a, alice, 1).await.expect("use"));
}

async fn reenroll_passes_round_trip_and_are_used_once_before_they_expire(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, alice, carol) = (two.a.id, &two.alice, &two.carol);
    assert!(store.reenroll_passes(a).await.expect("passes").is_empty());

    // Given in JST with nanoseconds: stored in UTC, to the microsecond.
    let first = ReenrollPass {
        issued_at: datetime!(2026-11-25 18:00:00.123456789 +09:00),
        expires_at: datetime!(2026-11-25 19:00:00.123456789 +09:00),
        reason: "理".repeat(500),
        ..reenroll_pass(carol, alice, 1)
    };
    store.create_reenroll_pass(&first).await.expect("create");
    let first = ReenrollPass {
        issued_at: datetime!(2026-11-25 09:00:00.123456 UTC),
        expires_at: datetime!(2026-11-25 10:00:00.123456 UTC),
        ..first
    };
    let second = ReenrollPass { issued_at: T0 + Duration::minutes(1), ..reenroll_pass(alice, carol, 2) };
    store.create_reenroll_pass(&second).await.expect("create");
    let used = ReenrollPass { used_at: Some(T0 + Duration::seconds(30)), ..reenroll_pass(alice, alice, 3) };
    store.create_reenroll_pass(&used).await.expect("create a used one");
    let passes = store.reenroll_passes(a).await.expect("passes");
    assert_eq!(passes, vec![second.clone(), first.clone(), used.clone()], "newest first");
    assert_eq!(passes[1].issued_at.offset(), UtcOffset::UTC);

    // Used once, by its user, in its institution, before it expires.
    let hash = first.pass_hash;
    assert!(!store.use_reenroll_pass(a, alice.id, &hash, T0).await.expect("use"), "another user");
    assert!(!store.use_reenroll_pass(two.b.id, carol.id, &hash, T0).await.expect("use"), "another institution");
    assert!(!store.use_reenroll_pass(a, carol.id, &[9; 32], T0).await.expect("use"), "an unknown pass");
    assert!(!store.use_reenroll_pass(a, carol.id, &hash, first.expires_at).await.expect("use"), "at expiry");
    let err = store.use_reenroll_pass(a, carol.id, &hash, first.expires_at + Duration::hours(1)).await;
    assert!(!err.expect("use"), "after expiry");
    let at = first.expires_at - Duration::microseconds(1);
    assert!(store.use_reenroll_pass(a, carol.id, &hash, at).await.expect("use"), "just before expiry");
    assert!(!store.use_reenroll_pass(a, carol.id, &hash, at).await.expect("use"), "the second use");
    assert!(!store.use_reenroll_pass(a, alice.id, &used.pass_hash, T0).await.expect("use"), "an already used pass");
    let first = ReenrollPass { used_at: Some(at), ..first };
    assert_eq!(store.reenroll_passes(a).await.expect("passes"), vec![second.clone(), first, used]);

    let (r1, r2, r3) = tokio::join!(
        store.use_reenroll_pass(a, alice.id, &second.pass_hash, T0 + Duration::minutes(2)),
        store.use_reenroll_pass(a, alice.id, &second.pass_hash, T0 + Duration::minutes(2)),
        store.use_reenroll_pass(a, alice.id, &second.pass_hash, T0 + Duration::minutes(2)),
    );
    let accepted = [r1, r2, r3].into_iter().map(|r| r.expect("use")).filter(|ok| *ok).count();
    assert_eq!(accepted, 1, "concurrent uses of one pass");

    // Refused: unknown users and issuers, an issuer of another institution, a taken hash.
    for pass in [
        ReenrollPass { user: UserId::generate(&mut rng), ..reenroll_pass(carol, alice, 10) },
        ReenrollPass { issued_by: UserId::generate(&mut rng), ..reenroll_pass(carol, alice, 11) },
        reenroll_pass(carol, &two.bob, 12),
    ] {
        let err = store.create_reenroll_pass(&pass).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    }
    let err = store.create_reenroll_pass(&ReenrollPass { user: alice.id, ..reenroll_pass(carol, alice, 1) }).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "re-enrollment pass" })), "{err:?}");
    // The database keeps a reason of 1 to 500 characters.
    for reason in [String::new(), "理".repeat(501)] {
        let err = store.create_reenroll_pass(&ReenrollPass { reason, ..reenroll_pass(carol, alice, 13) }).await;
        assert!(matches!(err, Err(StoreError::Database { .. })), "{err:?}");
    }
    assert_eq!(store.reenroll_passes(a).await.expect("passes").len(), 3);
}

async fn lifecycle_data_is_invisible_through_another_institution(store: &dyn Store, _db: &TestDb) {
    let two = two_institutions(store, &mut rng()).await;
    let (a, b, alice) = (two.a.id, two.b.id, two.alice.id);
    store.put_totp(a, alice, &totp_record(7)).await.expect("put totp");
    store.replace_recovery_codes(a, alice, &[[1; 32], [2; 32]], T0).await.expect("codes");
    let pass = reenroll_pass(&two.alice, &two.carol, 1);
    store.create_reenroll_pass(&pass).await.expect("pass");

    // Every new method, given B's ID and A's user.
    let err = store.set_user_status(b, alice, UserStatus::Retired).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "set_user_status: {err:?}");
    let err = store.set_user_roles(b, alice, &[Role::SystemAdministrator]).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "set_user_roles: {err:?}");
    assert_eq!(store.user_ledger(b).await.expect("user_ledger"), vec![(two.bob.clone(), None)]);
    assert!(!store.delete_second_factors(b, alice).await.expect("delete_second_factors"));
    for through_b in [
        ReenrollPass { institution: b, ..reenroll_pass(&two.alice, &two.carol, 2) },
        ReenrollPass { institution: b, ..reenroll_pass(&two.alice, &two.bob, 3) },
        ReenrollPass { institution: b, ..reenroll_pass(&two.bob, &two.alice, 4) },
    ] {
        let err = store.create_reenroll_pass(&through_b).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "create_reenroll_pass: {err:?}");
    }
    assert!(!store.use_reenroll_pass(b, alice, &pass.pass_hash, T0).await.expect("use_reenroll_pass"));
    assert!(store.reenroll_passes(b).await.expect("reenroll_passes").is_empty());

    // Nothing of A's changed.
    assert_eq!(store.user(a, alice).await.expect("user"), Some(two.alice.clone()));
    assert_eq!(store.totp(a, alice).await.expect("totp"), Some(totp_record(7)));
    assert_eq!(store.unused_recovery_codes(a, alice).await.expect("count"), 2);
    assert_eq!(store.reenroll_passes(a).await.expect("passes"), vec![pass.clone()]);
    assert!(store.use_reenroll_pass(a, alice, &pass.pass_hash, T0).await.expect("the pass is still unused"));
}

async fn webauthn_credentials_round_trip_every_field_oldest_first(store: &dyn Store, _db: &TestDb) {
    let two = two_institutions(store, &mut rng()).await;
    let (a, alice) = (two.a.id, two.alice.id);
    assert!(store.webauthn_credentials(a, alice).await.expect("credentials").is_empty());

    // The longest ID and name, a used key, times given in JST with nanoseconds: stored in UTC,
    // to the microsecond.
    let late = WebauthnCredential {
        credential_id: (0..=255u8).cycle().take(1023).collect(),
        name: "鍵".repeat(100),
        credential_json: format!(r#"{{"counter":7,"pad":"{}"}}"#, "x".repeat(8000)),
        created_at: datetime!(2026-11-25 19:00:00.123456789 +09:00),
        last_used_at: Some(datetime!(2026-11-25 19:30:00.5 +09:00)),
    };
    store.add_webauthn_credential(a, alice, &late).await.expect("add");
    let late = WebauthnCredential {
        created_at: datetime!(2026-11-25 10:00:00.123456 UTC),
        last_used_at: Some(datetime!(2026-11-25 10:30:00.5 UTC)),
        ..late
    };
    // Two registered at the same instant come in credential-ID order (bytewise).
    let tie_high = webauthn_credential(0xf0, 64, T0 + Duration::minutes(1));
    let tie_low =
        WebauthnCredential { credential_id: vec![0x0f; 65], ..webauthn_credential(2, 1, tie_high.created_at) };
    let early = webauthn_credential(1, 1, T0);
    for credential in [&tie_high, &early, &tie_low] {
        store.add_webauthn_credential(a, alice, credential).await.expect("add");
    }
    let read = store.webauthn_credentials(a, alice).await.expect("credentials");
    assert_eq!(read, vec![early, tie_low, tie_high, late]);
    assert_eq!(read[3].created_at.offset(), UtcOffset::UTC);
    assert_eq!(read[3].last_used_at.map(OffsetDateTime::offset), Some(UtcOffset::UTC));
    assert!(store.webauthn_credentials(a, two.carol.id).await.expect("credentials").is_empty());
    assert!(store.webauthn_credentials(two.b.id, two.bob.id).await.expect("credentials").is_empty());
}

async fn webauthn_credential_ids_are_unique_across_the_deployment(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b, alice, carol, bob) = (two.a.id, two.b.id, two.alice.id, two.carol.id, two.bob.id);
    let key = webauthn_credential(1, 32, T0);
    store.add_webauthn_credential(a, alice, &key).await.expect("add");

    // The same ID again: for the same user, another user, another institution's user.
    for (inst, user) in [(a, alice), (a, carol), (b, bob)] {
        let again = WebauthnCredential { name: "別の鍵".to_owned(), ..key.clone() };
        let err = store.add_webauthn_credential(inst, user, &again).await;
        assert!(matches!(err, Err(StoreError::Conflict { what: "security key" })), "{err:?}");
    }
    // Unknown users: one the institution does not have, one of another institution.
    for (inst, user) in [(a, UserId::generate(&mut rng)), (b, alice), (InstitutionId::generate(&mut rng), alice)] {
        let err = store.add_webauthn_credential(inst, user, &webauthn_credential(2, 32, T0)).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    }
    // The database keeps IDs of 1 to 1023 bytes and names of 1 to 100 characters.
    for bad in [
        WebauthnCredential { credential_id: Vec::new(), ..webauthn_credential(3, 1, T0) },
        webauthn_credential(4, 1024, T0),
        WebauthnCredential { name: String::new(), ..webauthn_credential(5, 32, T0) },
        WebauthnCredential { name: "鍵".repeat(101), ..webauthn_credential(6, 32, T0) },
    ] {
        let err = store.add_webauthn_credential(a, alice, &bad).await;
        assert!(matches!(err, Err(StoreError::Database { .. })), "{err:?}");
    }

    assert_eq!(store.webauthn_credentials(a, alice).await.expect("credentials"), vec![key.clone()]);
    assert!(store.webauthn_credentials(a, carol).await.expect("credentials").is_empty());
    assert!(store.webauthn_credentials(b, bob).await.expect("credentials").is_empty());
    // Once deleted, the ID is free again, for anyone.
    assert!(store.delete_webauthn_credential(a, alice, &key.credential_id).await.expect("delete"));
    store.add_webauthn_credential(b, bob, &key).await.expect("the ID is free again");
    assert_eq!(store.webauthn_credentials(b, bob).await.expect("credentials"), vec![key]);
}

async fn webauthn_credentials_are_updated_and_deleted_by_their_user_only(store: &dyn Store, _db: &TestDb) {
    let two = two_institutions(store, &mut rng()).await;
    let (a, b, alice, carol, bob) = (two.a.id, two.b.id, two.alice.id, two.carol.id, two.bob.id);
    let (k1, k2) = (webauthn_credential(1, 16, T0), webauthn_credential(2, 16, T0 + Duration::seconds(1)));
    let (k3, k4) = (webauthn_credential(3, 16, T0), webauthn_credential(4, 16, T0));
    store.add_webauthn_credential(a, alice, &k1).await.expect("add");
    store.add_webauthn_credential(a, alice, &k2).await.expect("add");
    store.add_webauthn_credential(a, carol, &k3).await.expect("add");
    store.add_webauthn_credential(b, bob, &k4).await.expect("add");

    // Given in JST with nanoseconds: stored in UTC, to the microsecond.
    let json = r#"{"cred_id":"01","counter":42}"#;
    let used = datetime!(2026-11-25 19:00:00.000001999 +09:00);
    store.update_webauthn_credential(a, alice, &k1.credential_id, json, used).await.expect("update");
    let k1 = WebauthnCredential {
        credential_json: json.to_owned(),
        last_used_at: Some(datetime!(2026-11-25 10:00:00.000001 UTC)),
        ..k1
    };
    assert_eq!(store.webauthn_credentials(a, alice).await.expect("credentials"), vec![k1.clone(), k2.clone()]);
    let json = r#"{"cred_id":"01","counter":43}"#;
    let later = T0 + Duration::hours(2);
    store.update_webauthn_credential(a, alice, &k1.credential_id, json, later).await.expect("update again");
    let k1 = WebauthnCredential { credential_json: json.to_owned(), last_used_at: Some(later), ..k1 };
    assert_eq!(store.webauthn_credentials(a, alice).await.expect("credentials"), vec![k1.clone(), k2.clone()]);

    // Not another user's key, not through another institution, not an unknown ID.
    for (inst, user, id) in [
        (a, carol, &k1.credential_id),
        (b, alice, &k1.credential_id),
        (b, bob, &k1.credential_id),
        (a, alice, &k3.credential_id),
        (a, alice, &vec![9; 16]),
    ] {
        let err = store.update_webauthn_credential(inst, user, id, "{}", later + Duration::hours(1)).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "security key" })), "{err:?}");
        assert!(!store.delete_webauthn_credential(inst, user, id).await.expect("delete"));
    }
    assert_eq!(store.webauthn_credentials(a, alice).await.expect("credentials"), vec![k1.clone(), k2.clone()]);

    assert!(store.delete_webauthn_credential(a, alice, &k1.credential_id).await.expect("delete"));
    assert!(!store.delete_webauthn_credential(a, alice, &k1.credential_id).await.expect("delete again"));
    let err = store.update_webauthn_credential(a, alice, &k1.credential_id, "{}", later).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "security key" })), "{err:?}");
    assert_eq!(store.webauthn_credentials(a, alice).await.expect("credentials"), vec![k2]);
    assert_eq!(store.webauthn_credentials(a, carol).await.expect("credentials"), vec![k3]);
    assert_eq!(store.webauthn_credentials(b, bob).await.expect("credentials"), vec![k4]);
}

async fn webauthn_challenges_are_taken_once_for_their_purpose_before_they_expire(store: &dyn Store, _db: &TestDb) {
    use WebauthnPurpose::{Authenticate, Register};
    let two = two_institutions(store, &mut rng()).await;
    let a = two.a.id;
    let session = session_record(&two.alice, 1);
    store.create_session(&session).await.expect("create");
    let token = session.token_hash;
    let expires = T0 + Duration::minutes(5);
    assert_eq!(store.take_webauthn_challenge(a, &token, Register, T0).await.expect("take"), None, "none pending");

    // Taken once (a state as long as webauthn-rs's may be).
    let long = format!(r#"{{"challenge":"{}"}}"#, "c".repeat(10_000));
    store.put_webauthn_challenge(a, &token, Register, &long, expires).await.expect("put");
    assert_eq!(store.take_webauthn_challenge(a, &token, Register, T0).await.expect("take"), Some(long));
    assert_eq!(store.take_webauthn_challenge(a, &token, Register, T0).await.expect("take"), None, "the second take");

    // The other purpose gets nothing, and the challenge is gone.
    store.put_webauthn_challenge(a, &token, Register, "state-2", expires).await.expect("put");
    assert_eq!(store.take_webauthn_challenge(a, &token, Authenticate, T0).await.expect("take"), None);
    assert_eq!(store.take_webauthn_challenge(a, &token, Register, T0).await.expect("take"), None, "gone");
    store.put_webauthn_challenge(a, &token, Authenticate, "state-3", expires).await.expect("put");
    assert_eq!(store.take_webauthn_challenge(a, &token, Register, T0).await.expect("take"), None);
    assert_eq!(store.take_webauthn_challenge(a, &token, Authenticate, T0).await.expect("take"), None, "gone");

    // At expires_at it has expired, and is gone too.
    store.put_webauthn_challenge(a, &token, Authenticate, "state-4", expires).await.expect("put");
    assert_eq!(store.take_webauthn_challenge(a, &token, Authenticate, expires).await.expect("take"), None);
    assert_eq!(store.take_webauthn_challenge(a, &token, Authenticate, T0).await.expect("take"), None, "gone");
    // Given in JST with nanoseconds: compared in UTC, to the microsecond.
    let expires_jst = datetime!(2026-11-25 18:05:00.000001999 +09:00);
    store.put_webauthn_challenge(a, &token, Authenticate, "state-5", expires_jst).await.expect("put");
    let just_before = datetime!(2026-11-25 09:05:00.000000999 UTC);
    let taken = store.take_webauthn_challenge(a, &token, Authenticate, just_before).await.expect("take");
    assert_eq!(taken.as_deref(), Some("state-5"), "just before expiry");

    // A new ceremony replaces the pending one: state, purpose and expiry.
    store.put_webauthn_challenge(a, &token, Register, "old", T0 + Duration::seconds(1)).await.expect("put");
    store.put_webauthn_challenge(a, &token, Register, "new", T0 + Duration::hours(1)).await.expect("replace");
    let at = T0 + Duration::minutes(1);
    assert_eq!(store.take_webauthn_challenge(a, &token, Register, at).await.expect("take").as_deref(), Some("new"));
    assert_eq!(store.take_webauthn_challenge(a, &token, Register, at).await.expect("take"), None, "only the latest");
    store.put_webauthn_challenge(a, &token, Register, "register", expires).await.expect("put");
    store.put_webauthn_challenge(a, &token, Authenticate, "login", expires).await.expect("replace");
    assert_eq!(store.take_webauthn_challenge(a, &token, Register, T0).await.expect("take"), None);
    store.put_webauthn_challenge(a, &token, Register, "register", expires).await.expect("put");
    store.put_webauthn_challenge(a, &token, Authenticate, "login", expires).await.expect("replace");
    let taken = store.take_webauthn_challenge(a, &token, Authenticate, T0).await.expect("take");
    assert_eq!(taken.as_deref(), Some("login"));
    assert_eq!(store.take_webauthn_challenge(a, &token, Register, T0).await.expect("take"), None, "only the latest");
}

async fn webauthn_challenges_go_with_their_session(store: &dyn Store, _db: &TestDb) {
    use WebauthnPurpose::Register;
    let two = two_institutions(store, &mut rng()).await;
    let a = two.a.id;
    let expires = T0 + Duration::minutes(5);
    for session in [session_record(&two.alice, 1), session_record(&two.alice, 2), session_record(&two.carol, 3)] {
        store.create_session(&session).await.expect("create");
        let state = format!("state-{}", session.token_hash[0]);
        store.put_webauthn_challenge(a, &session.token_hash, Register, &state, expires).await.expect("put");
    }

    store.delete_session(a, &[1; 32]).await.expect("delete");
    assert_eq!(store.take_webauthn_challenge(a, &[1; 32], Register, T0).await.expect("take"), None);
    // No ceremony for a session that is gone or never was.
    for token in [[1; 32], [9; 32]] {
        let err = store.put_webauthn_challenge(a, &token, Register, "state", expires).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "session" })), "{err:?}");
        assert_eq!(store.take_webauthn_challenge(a, &token, Register, T0).await.expect("take"), None);
    }
    assert_eq!(store.delete_user_sessions(a, two.alice.id).await.expect("delete"), 1);
    assert_eq!(store.take_webauthn_challenge(a, &[2; 32], Register, T0).await.expect("take"), None);
    // Carol's session and ceremony are untouched.
    let taken = store.take_webauthn_challenge(a, &[3; 32], Register, T0).await.expect("take");
    assert_eq!(taken.as_deref(), Some("state-3"));
}

async fn concurrent_takes_of_one_webauthn_challenge_return_it_once(store: &dyn Store, _db: &TestDb) {
    use WebauthnPurpose::Authenticate;
    let two = two_institutions(store, &mut rng()).await;
    let a = two.a.id;
    let session = session_record(&two.alice, 1);
    store.create_session(&session).await.expect("create");
    let token = session.token_hash;
    for round in 0..5 {
        let state = format!("state-{round}");
        store.put_webauthn_challenge(a, &token, Authenticate, &state, T0 + Duration::minutes(5)).await.expect("put");
        let (r1, r2, r3) = tokio::join!(
            store.take_webauthn_challenge(a, &token, Authenticate, T0),
            store.take_webauthn_challenge(a, &token, Authenticate, T0),
            store.take_webauthn_challenge(a, &token, Authenticate, T0),
        );
        let taken: Vec<String> = [r1, r2, r3].into_iter().filter_map(|r| r.expect("take")).collect();
        assert_eq!(taken, vec![state], "round {round}: exactly one take gets the state");
    }
}

async fn deleting_second_factors_removes_webauthn_credentials_too(store: &dyn Store, _db: &TestDb) {
    let two = two_institutions(store, &mut rng()).await;
    let (a, b, alice, carol, bob) = (two.a.id, two.b.id, two.alice.id, two.carol.id, two.bob.id);
    store.put_totp(a, alice, &TotpRecord { confirmed: true, ..totp_record(1) }).await.expect("alice's totp");
    let (k1, k2) = (webauthn_credential(1, 16, T0), webauthn_credential(2, 16, T0));
    store.add_webauthn_credential(a, alice, &k1).await.expect("add");
    store.add_webauthn_credential(a, alice, &k2).await.expect("add");
    let k3 = webauthn_credential(3, 16, T0);
    store.add_webauthn_credential(a, carol, &k3).await.expect("carol's key (no TOTP)");
    let k4 = webauthn_credential(4, 16, T0);
    store.add_webauthn_credential(b, bob, &k4).await.expect("bob's key");

    assert!(store.delete_second_factors(a, alice).await.expect("delete"), "alice had a TOTP enrollment");
    assert!(store.webauthn_credentials(a, alice).await.expect("credentials").is_empty());
    assert_eq!(store.totp(a, alice).await.expect("totp"), None);
    // A user with security keys only: they go, and the answer is still "no TOTP enrollment".
    assert!(!store.delete_second_factors(a, carol).await.expect("delete"), "carol had no TOTP enrollment");
    assert!(store.webauthn_credentials(a, carol).await.expect("credentials").is_empty());
    // Bob's are untouched; the removed IDs are free again.
    assert_eq!(store.webauthn_credentials(b, bob).await.expect("credentials"), vec![k4]);
    store.add_webauthn_credential(a, alice, &k1).await.expect("re-register");
    assert_eq!(store.webauthn_credentials(a, alice).await.expect("credentials"), vec![k1]);
}

async fn webauthn_data_is_invisible_through_another_institution(store: &dyn Store, _db: &TestDb) {
    use WebauthnPurpose::{Authenticate, Register};
    let two = two_institutions(store, &mut rng()).await;
    let (a, b, alice) = (two.a.id, two.b.id, two.alice.id);
    let key = webauthn_credential(1, 32, T0);
    store.add_webauthn_credential(a, alice, &key).await.expect("add");
    let session = session_record(&two.alice, 1);
    store.create_session(&session).await.expect("create");
    let token = session.token_hash;
    store.put_webauthn_challenge(a, &token, Register, "a-state", T0 + Duration::minutes(5)).await.expect("put");

    // Every new method, given B's ID and A's user or session.
    let err = store.add_webauthn_credential(b, alice, &webauthn_credential(2, 32, T0)).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "add_webauthn_credential: {err:?}");
    assert!(store.webauthn_credentials(b, alice).await.expect("webauthn_credentials").is_empty());
    let err = store.update_webauthn_credential(b, alice, &key.credential_id, "{}", T0).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "security key" })), "update: {err:?}");
    assert!(!store.delete_webauthn_credential(b, alice, &key.credential_id).await.expect("delete"));
    assert!(!store.delete_second_factors(b, alice).await.expect("delete_second_factors"));
    for purpose in [Register, Authenticate] {
        let err = store.put_webauthn_challenge(b, &token, purpose, "b-state", T0 + Duration::hours(1)).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "session" })), "put_webauthn_challenge: {err:?}");
        let taken = store.take_webauthn_challenge(b, &token, purpose, T0).await.expect("take_webauthn_challenge");
        assert_eq!(taken, None);
    }

    // Nothing of A's changed: the key, and the pending ceremony (neither replaced nor taken).
    assert_eq!(store.webauthn_credentials(a, alice).await.expect("credentials"), vec![key]);
    let taken = store.take_webauthn_challenge(a, &token, Register, T0).await.expect("take");
    assert_eq!(taken.as_deref(), Some("a-state"));
}

async fn terminals_round_trip_every_field_ordered_by_name(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    assert!(store.terminals(a).await.expect("terminals").is_empty());

    // The longest name, a revoked terminal, times given in JST with nanoseconds: stored in
    // UTC, to the microsecond.
    let revoked = Terminal {
        name: terminal_name(&"z".repeat(64)),
        issued_at: datetime!(2026-11-25 18:00:00.123456789 +09:00),
        revoked_at: Some(datetime!(2026-11-26 18:00:00.5 +09:00)),
        ..terminal(&mut rng, a, "x", 0xff)
    };
    store.add_terminal(&revoked).await.expect("add");
    let revoked = Terminal {
        issued_at: datetime!(2026-11-25 09:00:00.123456 UTC),
        revoked_at: Some(datetime!(2026-11-26 09:00:00.5 UTC)),
        ..revoked
    };
    // Names sort bytewise: upper case before lower case, '-' before '.' before digits.
    let names = ["reception-1", "Reception_PC-2", "B-desk", "a.desk", "a-desk", "a0", "_x"];
    let mut added = vec![revoked];
    for (i, name) in names.into_iter().enumerate() {
        let t = terminal(&mut rng, a, name, u8::try_from(i).expect("a small index") + 1);
        store.add_terminal(&t).await.expect("add");
        added.push(t);
    }
    added.sort_by(|x, y| x.name.as_str().as_bytes().cmp(y.name.as_str().as_bytes()));
    let read = store.terminals(a).await.expect("terminals");
    assert_eq!(
        read.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["B-desk", "Reception_PC-2", "_x", "a-desk", "a.desk", "a0", "reception-1", &"z".repeat(64)]
    );
    assert_eq!(read, added);
    let last = read.last().expect("the revoked terminal");
    assert_eq!(last.issued_at.offset(), UtcOffset::UTC);
    assert_eq!(last.revoked_at.map(OffsetDateTime::offset), Some(UtcOffset::UTC));
    assert!(store.terminals(b).await.expect("terminals").is_empty());
}

async fn terminal_names_are_never_reused_and_fingerprints_are_unique_across_the_deployment(
    store: &dyn Store,
    _db: &TestDb,
) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    let first = terminal(&mut rng, a, "reception-1", 1);
    store.add_terminal(&first).await.expect("add");

    // The same name with another certificate, before and after revocation.
    let same_name = terminal(&mut rng, a, "reception-1", 2);
    let err = store.add_terminal(&same_name).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "terminal name" })), "{err:?}");
    assert!(store.revoke_terminal(a, &first.name, T0 + Duration::days(1)).await.expect("revoke"));
    let err = store.add_terminal(&same_name).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "terminal name" })), "after revocation: {err:?}");

    // The same certificate under another name, in this institution and in another one.
    for inst in [a, b] {
        let err = store.add_terminal(&terminal(&mut rng, inst, "reception-2", 1)).await;
        assert!(matches!(err, Err(StoreError::Conflict { what: "terminal certificate" })), "{err:?}");
    }
    // The same ID in the same institution.
    let err = store.add_terminal(&Terminal { id: first.id, ..terminal(&mut rng, a, "reception-3", 3) }).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "terminal ID" })), "{err:?}");
    // An unknown institution.
    let unknown = InstitutionId::generate(&mut rng);
    let err = store.add_terminal(&terminal(&mut rng, unknown, "reception-4", 4)).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "institution" })), "{err:?}");
    // The database keeps fingerprints only in the server's form.
    let well_formed = fingerprint(0xbc);
    for bad in [
        well_formed.to_lowercase(),
        well_formed.replace(':', ""),
        well_formed.replacen(':', "", 1) + ":",
        "AB:CD".to_owned(),
        String::new(),
    ] {
        let err = store.add_terminal(&Terminal { cert_sha256: bad.clone(), ..terminal(&mut rng, a, "bad", 5) }).await;
        assert!(matches!(err, Err(StoreError::Database { .. })), "{bad}: {err:?}");
    }

    let first = Terminal { revoked_at: Some(T0 + Duration::days(1)), ..first };
    assert_eq!(store.terminals(a).await.expect("terminals"), vec![first]);
    // A name is per institution: B may use it, with its own certificate.
    let in_b = terminal(&mut rng, b, "reception-1", 2);
    store.add_terminal(&in_b).await.expect("the name is free in B");
    assert_eq!(store.terminals(b).await.expect("terminals"), vec![in_b]);
}

async fn terminals_are_revoked_once(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let (t1, t2) = (terminal(&mut rng, a, "reception-1", 1), terminal(&mut rng, a, "reception-2", 2));
    store.add_terminal(&t1).await.expect("add");
    store.add_terminal(&t2).await.expect("add");

    let at = datetime!(2026-11-26 18:00:00.123456789 +09:00);
    assert!(store.revoke_terminal(a, &t1.name, at).await.expect("revoke"));
    let revoked = Terminal { revoked_at: Some(datetime!(2026-11-26 09:00:00.123456 UTC)), ..t1.clone() };
    assert_eq!(store.terminals(a).await.expect("terminals"), vec![revoked.clone(), t2.clone()]);
    // Again, later: false, and the first revocation time stays.
    assert!(!store.revoke_terminal(a, &t1.name, at + Duration::days(1)).await.expect("revoke again"));
    assert!(!store.revoke_terminal(a, &terminal_name("unknown"), at).await.expect("revoke an unknown name"));
    assert_eq!(store.terminals(a).await.expect("terminals"), vec![revoked, t2.clone()]);

    // Of concurrent revocations exactly one succeeds.
    let (r1, r2, r3, r4) = tokio::join!(
        store.revoke_terminal(a, &t2.name, T0),
        store.revoke_terminal(a, &t2.name, T0),
        store.revoke_terminal(a, &t2.name, T0),
        store.revoke_terminal(a, &t2.name, T0),
    );
    let revoked = [r1, r2, r3, r4].into_iter().map(|r| r.expect("revoke")).filter(|ok| *ok).count();
    assert_eq!(revoked, 1);
}

async fn terminals_are_found_by_fingerprint_revoked_or_not_in_their_institution_only(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    let (t1, t2) = (terminal(&mut rng, a, "reception-1", 0xa1), terminal(&mut rng, b, "reception-1", 2));
    store.add_terminal(&t1).await.expect("add");
    store.add_terminal(&t2).await.expect("add");

    assert_eq!(store.terminal_by_fingerprint(a, &t1.cert_sha256).await.expect("lookup"), Some(t1.clone()));
    assert_eq!(store.terminal_by_fingerprint(b, &t2.cert_sha256).await.expect("lookup"), Some(t2.clone()));
    assert_eq!(store.terminal_by_fingerprint(a, &fingerprint(3)).await.expect("lookup"), None);
    assert_eq!(store.terminal_by_fingerprint(a, &t1.cert_sha256.to_lowercase()).await.expect("lookup"), None);
    // Nothing through another institution, nor through an unknown one.
    assert_eq!(store.terminal_by_fingerprint(b, &t1.cert_sha256).await.expect("lookup"), None);
    assert_eq!(store.terminal_by_fingerprint(a, &t2.cert_sha256).await.expect("lookup"), None);
    let unknown = InstitutionId::generate(&mut rng);
    assert_eq!(store.terminal_by_fingerprint(unknown, &t1.cert_sha256).await.expect("lookup"), None);

    // A revoked terminal is still found (the caller refuses it).
    assert!(store.revoke_terminal(a, &t1.name, T0 + Duration::hours(1)).await.expect("revoke"));
    let revoked = Terminal { revoked_at: Some(T0 + Duration::hours(1)), ..t1.clone() };
    assert_eq!(store.terminal_by_fingerprint(a, &t1.cert_sha256).await.expect("lookup"), Some(revoked));
}

async fn the_registered_terminal_rule_is_off_by_default_and_kept_per_institution(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    for inst in [a, b] {
        assert!(!store.require_registered_terminal(inst).await.expect("rule"), "off by default");
    }

    store.set_require_registered_terminal(a, true).await.expect("turn on");
    assert!(store.require_registered_terminal(a).await.expect("rule"));
    assert!(!store.require_registered_terminal(b).await.expect("rule"), "B's rule is its own");
    store.set_require_registered_terminal(a, true).await.expect("turning on twice is no error");
    assert!(store.require_registered_terminal(a).await.expect("rule"));
    // The institution itself still reads the same.
    assert_eq!(store.institution(a).await.expect("institution"), Some(two.a.clone()));
    assert_eq!(store.institutions().await.expect("institutions"), vec![two.a.clone(), two.b.clone()]);

    store.set_require_registered_terminal(b, true).await.expect("turn on B");
    store.set_require_registered_terminal(a, false).await.expect("turn off A");
    assert!(!store.require_registered_terminal(a).await.expect("rule"));
    assert!(store.require_registered_terminal(b).await.expect("rule"));

    let unknown = InstitutionId::generate(&mut rng);
    let err = store.require_registered_terminal(unknown).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "institution" })), "{err:?}");
    for required in [true, false] {
        let err = store.set_require_registered_terminal(unknown, required).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "institution" })), "{err:?}");
    }
}

async fn a_bootstrapped_institution_does_not_require_registered_terminals(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let inst = institution(&mut rng, "まもり診療所", T0);
    store
        .bootstrap(&inst, &new_user(&mut rng, "admin", &[Role::SystemAdministrator]), &totp_record(1))
        .await
        .expect("bootstrap");
    assert!(!store.require_registered_terminal(inst.id).await.expect("rule"));
}

async fn deleting_the_sessions_of_a_certificate_counts_them(store: &dyn Store, _db: &TestDb) {
    let two = two_institutions(store, &mut rng()).await;
    let (a, b) = (two.a.id, two.b.id);
    let with_cert = |user: &User, token: u8, cert: Option<u8>| SessionRecord {
        client_cert_sha256: cert.map(fingerprint),
        ..session_record(user, token)
    };
    let doomed = [
        with_cert(&two.alice, 1, Some(0xa1)),
        with_cert(&two.alice, 2, Some(0xa1)),
        with_cert(&two.carol, 3, Some(0xa1)),
    ];
    let kept = [
        with_cert(&two.alice, 4, Some(0xa2)),
        with_cert(&two.carol, 5, None),
        with_cert(&two.bob, 6, Some(0xa1)),
        // The same fingerprint in another spelling is another certificate.
        SessionRecord { client_cert_sha256: Some(fingerprint(0xa1).to_lowercase()), ..session_record(&two.alice, 7) },
    ];
    for session in doomed.iter().chain(&kept) {
        store.create_session(session).await.expect("create");
    }

    assert_eq!(store.delete_sessions_of_certificate(a, &fingerprint(0xa1)).await.expect("delete"), 3);
    for session in &doomed {
        assert_eq!(store.session(&session.token_hash).await.expect("session"), None);
    }
    for session in &kept {
        assert_eq!(store.session(&session.token_hash).await.expect("session"), Some(session.clone()));
    }
    assert_eq!(store.delete_sessions_of_certificate(a, &fingerprint(0xa1)).await.expect("delete"), 0);
    assert_eq!(store.delete_sessions_of_certificate(b, &fingerprint(0xa1)).await.expect("delete"), 1);
    assert_eq!(store.session(&[6; 32]).await.expect("session"), None);
}

async fn terminal_data_is_invisible_through_another_institution(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    let t = terminal(&mut rng, a, "reception-1", 1);
    store.add_terminal(&t).await.expect("add");
    store.set_require_registered_terminal(a, true).await.expect("turn on");
    let session = SessionRecord { client_cert_sha256: Some(t.cert_sha256.clone()), ..session_record(&two.alice, 1) };
    store.create_session(&session).await.expect("create");

    // Every new method, given B's ID and A's terminal, certificate or session.
    assert!(store.terminals(b).await.expect("terminals").is_empty());
    assert!(!store.revoke_terminal(b, &t.name, T0).await.expect("revoke_terminal"));
    assert_eq!(store.terminal_by_fingerprint(b, &t.cert_sha256).await.expect("terminal_by_fingerprint"), None);
    assert!(!store.require_registered_terminal(b).await.expect("require_registered_terminal"));
    store.set_require_registered_terminal(b, false).await.expect("set_require_registered_terminal");
    assert_eq!(
        store.delete_sessions_of_certificate(b, &t.cert_sha256).await.expect("delete_sessions_of_certificate"),
        0
    );
    let err = store.add_terminal(&Terminal { institution: b, ..t.clone() }).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "terminal certificate" })), "add_terminal: {err:?}");

    // Nothing of A's changed: the terminal (not revoked), the rule, the session.
    assert_eq!(store.terminals(a).await.expect("terminals"), vec![t.clone()]);
    assert_eq!(store.terminal_by_fingerprint(a, &t.cert_sha256).await.expect("lookup"), Some(t));
    assert!(store.require_registered_terminal(a).await.expect("rule"));
    assert_eq!(store.session(&session.token_hash).await.expect("session"), Some(session));
}

/// Inserts a terminal named `$name` of the institution `00000000-…-0001`, outside the store.
macro_rules! insert_terminal_named {
    ($id:literal, $name:literal) => {
        concat!(
            "INSERT INTO terminals (institution_id, id, name, cert_sha256, issued_at, revoked_at) \
             VALUES ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000",
            $id,
            "', '",
            $name,
            "', '",
            $id,
            ":00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00', \
             '2026-01-01T00:00:00.000000Z', NULL)"
        )
    };
}

async fn the_schema_refuses_malformed_terminal_names(store: &dyn Store, db: &TestDb) {
    let id = "00000000-0000-4000-8000-000000000001".parse::<InstitutionId>().expect("an ID");
    let inst = Institution { id, ..institution(&mut rng(), "まもり診療所", T0) };
    store.create_institution(&inst).await.expect("create");
    // The statement itself is sound: a good name goes in.
    execute_outside_the_store(db, insert_terminal_named!("10", "Reception_PC-2.local")).await.expect("a good name");
    for (statement, why) in [
        (insert_terminal_named!("11", ""), "empty"),
        (insert_terminal_named!("12", ".hidden"), "leading dot"),
        (insert_terminal_named!("13", "a b"), "space"),
        (insert_terminal_named!("14", "../x"), "slash"),
        (insert_terminal_named!("15", "受付"), "not ASCII"),
        (
            insert_terminal_named!("16", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            "65 characters",
        ),
    ] {
        let result = execute_outside_the_store(db, statement).await;
        assert!(result.is_err(), "{why}: {result:?}");
    }
    let names: Vec<String> =
        store.terminals(id).await.expect("terminals").into_iter().map(|t| t.name.as_str().to_owned()).collect();
    assert_eq!(names, ["Reception_PC-2.local"]);
}

async fn emergency_grants_round_trip_every_field_with_and_without_review(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, alice, carol) = (two.a.id, &two.alice, &two.carol);
    assert!(store.emergency_grants(a).await.expect("grants").is_empty());

    // The longest reason, times given in JST with nanoseconds: stored in UTC, to the microsecond.
    let unreviewed = EmergencyGrantRecord {
        reason: "救".repeat(500),
        granted_at: datetime!(2026-11-25 18:00:00.123456789 +09:00),
        expires_at: datetime!(2026-11-25 19:00:00.123456789 +09:00),
        ..emergency_grant(&mut rng, alice, T0)
    };
    store.create_emergency_grant(&unreviewed).await.expect("create");
    let unreviewed = EmergencyGrantRecord {
        granted_at: datetime!(2026-11-25 09:00:00.123456 UTC),
        expires_at: datetime!(2026-11-25 10:00:00.123456 UTC),
        ..unreviewed
    };
    let read = store.emergency_grant(a, unreviewed.id).await.expect("grant");
    assert_eq!(read, Some(unreviewed.clone()));
    let read = read.expect("the grant");
    assert_eq!((read.granted_at.offset(), read.expires_at.offset()), (UtcOffset::UTC, UtcOffset::UTC));

    // Recorded with its review (the longest note).
    let reviewed = EmergencyGrantRecord {
        review: Some(EmergencyReview {
            reviewed_by: carol.id,
            reviewed_at: datetime!(2026-11-26 18:00:00.5 +09:00),
            note: "確".repeat(1000),
        }),
        ..emergency_grant(&mut rng, alice, T0 + Duration::minutes(1))
    };
    store.create_emergency_grant(&reviewed).await.expect("create a reviewed grant");
    let reviewed = EmergencyGrantRecord {
        review: reviewed.review.map(|r| EmergencyReview { reviewed_at: datetime!(2026-11-26 09:00:00.5 UTC), ..r }),
        ..reviewed
    };
    let read = store.emergency_grant(a, reviewed.id).await.expect("grant");
    assert_eq!(read, Some(reviewed.clone()));
    let offset = read.and_then(|g| g.review).map(|r| r.reviewed_at.offset());
    assert_eq!(offset, Some(UtcOffset::UTC));

    // Reviewed afterwards, with an empty note, at a time given in JST with nanoseconds.
    let later = emergency_grant(&mut rng, carol, T0 + Duration::minutes(2));
    store.create_emergency_grant(&later).await.expect("create");
    let review = EmergencyReview {
        reviewed_by: alice.id,
        reviewed_at: datetime!(2026-11-25 19:30:00.000001999 +09:00),
        note: String::new(),
    };
    assert!(store.review_emergency_grant(a, later.id, &review).await.expect("review"));
    let later = EmergencyGrantRecord {
        review: Some(EmergencyReview { reviewed_at: datetime!(2026-11-25 10:30:00.000001 UTC), ..review }),
        ..later
    };
    assert_eq!(store.emergency_grant(a, later.id).await.expect("grant"), Some(later.clone()));

    assert_eq!(store.emergency_grants(a).await.expect("grants"), vec![later, reviewed, unreviewed]);
    assert_eq!(store.emergency_grant(a, EmergencyGrantId::generate(&mut rng)).await.expect("grant"), None);
}

async fn active_emergency_grants_are_the_users_unexpired_ones_soonest_expiry_first(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, alice, carol) = (two.a.id, &two.alice, &two.carol);
    let minutes = |m: i64| T0 + Duration::minutes(m);
    let expired = expiring(emergency_grant(&mut rng, alice, minutes(-120)), minutes(-60));
    let in_30 = expiring(emergency_grant(&mut rng, alice, T0), minutes(30));
    let in_10 = expiring(emergency_grant(&mut rng, alice, minutes(1)), minutes(10));
    // Two with the same expiry (then by ID), and a reviewed one: a review does not end a grant.
    let in_20 = expiring(emergency_grant(&mut rng, alice, minutes(2)), minutes(20));
    let also_in_20 = expiring(emergency_grant(&mut rng, alice, minutes(3)), minutes(20));
    let reviewed = EmergencyGrantRecord {
        review: Some(emergency_review(carol, T0)),
        ..expiring(emergency_grant(&mut rng, alice, T0), minutes(15))
    };
    let carols = emergency_grant(&mut rng, carol, T0);
    let alices = [expired, in_30, in_10, in_20, also_in_20, reviewed];
    for grant in alices.iter().chain([&carols]) {
        store.create_emergency_grant(grant).await.expect("create");
    }

    let active = |at: OffsetDateTime| {
        let mut grants: Vec<_> = alices.iter().filter(|g| g.active_at(at)).cloned().collect();
        grants.sort_by_key(|g| (g.expires_at, g.id));
        grants
    };
    let at_t0 = store.active_emergency_grants(a, alice.id, T0).await.expect("active");
    let expiries: Vec<_> = at_t0.iter().map(|g| g.expires_at).collect();
    assert_eq!(expiries, [minutes(10), minutes(15), minutes(20), minutes(20), minutes(30)]);
    assert!(at_t0[2].id < at_t0[3].id, "the same expiry, by ID");
    let expiry = minutes(10);
    for at in [
        minutes(-90),
        T0,
        expiry - Duration::microseconds(1),
        expiry - Duration::nanoseconds(1),
        expiry,
        expiry + Duration::nanoseconds(999),
        minutes(20),
        minutes(29),
        minutes(30),
        minutes(120),
    ] {
        let read = store.active_emergency_grants(a, alice.id, at).await.expect("active");
        assert_eq!(read, active(at), "at {at}");
    }
    // At its expiry a grant has expired.
    let at_expiry = store.active_emergency_grants(a, alice.id, expiry).await.expect("active");
    let expiries: Vec<_> = at_expiry.iter().map(|g| g.expires_at).collect();
    assert_eq!(expiries, [minutes(15), minutes(20), minutes(20), minutes(30)], "at expiry");
    assert!(store.active_emergency_grants(a, alice.id, minutes(30)).await.expect("active").is_empty());

    // Only the user's own grants.
    assert_eq!(store.active_emergency_grants(a, carol.id, T0).await.expect("active"), vec![carols]);
    let unknown = UserId::generate(&mut rng);
    assert!(store.active_emergency_grants(a, unknown, T0).await.expect("active").is_empty());
}

async fn the_emergency_review_queue_lists_every_grant_newest_first(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, alice, carol) = (two.a.id, &two.alice, &two.carol);
    // Every user's, expired or not, reviewed or not; the same grant time twice (then by ID).
    let mut grants = vec![
        emergency_grant(&mut rng, alice, T0 - Duration::days(3)),
        emergency_grant(&mut rng, carol, T0),
        emergency_grant(&mut rng, alice, T0),
        EmergencyGrantRecord {
            review: Some(emergency_review(carol, T0 + Duration::days(1))),
            ..emergency_grant(&mut rng, alice, T0 - Duration::days(1))
        },
        emergency_grant(&mut rng, carol, T0 + Duration::seconds(1)),
        emergency_grant(&mut rng, alice, T0 - Duration::microseconds(1)),
    ];
    for grant in &grants {
        store.create_emergency_grant(grant).await.expect("create");
    }
    store.create_emergency_grant(&emergency_grant(&mut rng, &two.bob, T0)).await.expect("create B's");
    grants.sort_by_key(|g| (std::cmp::Reverse(g.granted_at), g.id));
    let read = store.emergency_grants(a).await.expect("grants");
    assert_eq!(read, grants);
    assert_eq!(read[0].granted_at, T0 + Duration::seconds(1));
    assert_eq!((read[1].granted_at, read[2].granted_at), (T0, T0));
    assert!(read[1].id < read[2].id, "the same grant time, by ID");
    assert_eq!(read[5].granted_at, T0 - Duration::days(3));
}

async fn emergency_grants_are_reviewed_once_and_never_by_their_own_user(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, alice, carol) = (two.a.id, &two.alice, &two.carol);
    let dave = store.create_user(a, &new_user(&mut rng, "dave", &[Role::SystemAdministrator])).await.expect("dave");
    let grant = emergency_grant(&mut rng, alice, T0);
    store.create_emergency_grant(&grant).await.expect("create");

    // Its own user: false, and the grant stays unreviewed.
    let at = T0 + Duration::hours(2);
    assert!(!store.review_emergency_grant(a, grant.id, &emergency_review(alice, at)).await.expect("review"));
    assert_eq!(store.emergency_grant(a, grant.id).await.expect("grant"), Some(grant.clone()), "self-review");

    // Someone else, after the grant expired: once; the first review stays.
    assert!(store.review_emergency_grant(a, grant.id, &emergency_review(carol, at)).await.expect("review"));
    let later = at + Duration::hours(1);
    for reviewer in [carol, &dave, alice] {
        let again = store.review_emergency_grant(a, grant.id, &emergency_review(reviewer, later)).await;
        assert!(!again.expect("review again"), "{}", reviewer.login_id.as_str());
    }
    let reviewed = EmergencyGrantRecord { review: Some(emergency_review(carol, at)), ..grant.clone() };
    assert_eq!(store.emergency_grant(a, grant.id).await.expect("grant"), Some(reviewed.clone()));
    let unknown = EmergencyGrantId::generate(&mut rng);
    assert!(!store.review_emergency_grant(a, unknown, &emergency_review(carol, at)).await.expect("review"));

    // The reviewer must be a user of the institution; the database keeps notes of at most
    // 1000 characters. Either way the grant stays unreviewed.
    let open = emergency_grant(&mut rng, alice, T0 + Duration::minutes(1));
    store.create_emergency_grant(&open).await.expect("create");
    for reviewer in [UserId::generate(&mut rng), two.bob.id] {
        let review = EmergencyReview { reviewed_by: reviewer, ..emergency_review(carol, at) };
        let err = store.review_emergency_grant(a, open.id, &review).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    }
    let review = EmergencyReview { note: "確".repeat(1001), ..emergency_review(carol, at) };
    let err = store.review_emergency_grant(a, open.id, &review).await;
    assert!(matches!(err, Err(StoreError::Database { .. })), "{err:?}");
    assert_eq!(store.emergency_grant(a, open.id).await.expect("grant"), Some(open.clone()));

    // Of concurrent reviews exactly one succeeds.
    let (by_carol, by_dave) = (emergency_review(carol, at), emergency_review(&dave, at));
    let (r1, r2, r3, r4) = tokio::join!(
        store.review_emergency_grant(a, open.id, &by_carol),
        store.review_emergency_grant(a, open.id, &by_dave),
        store.review_emergency_grant(a, open.id, &by_carol),
        store.review_emergency_grant(a, open.id, &by_dave),
    );
    let accepted = [r1, r2, r3, r4].into_iter().map(|r| r.expect("review")).filter(|ok| *ok).count();
    assert_eq!(accepted, 1);
    let reviewer =
        store.emergency_grant(a, open.id).await.expect("grant").and_then(|g| g.review).map(|r| r.reviewed_by);
    assert!(reviewer == Some(carol.id) || reviewer == Some(dave.id), "{reviewer:?}");
    assert_eq!(store.emergency_grant(a, grant.id).await.expect("grant"), Some(reviewed));
}

async fn emergency_grants_need_a_user_of_their_institution_and_a_new_id(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b, alice, carol) = (two.a.id, two.b.id, &two.alice, &two.carol);
    let grant = emergency_grant(&mut rng, alice, T0);
    store.create_emergency_grant(&grant).await.expect("create");

    // An unknown user, a user of another institution, an unknown institution, a reviewer of
    // another institution.
    for bad in [
        EmergencyGrantRecord { user: UserId::generate(&mut rng), ..emergency_grant(&mut rng, alice, T0) },
        EmergencyGrantRecord { user: two.bob.id, ..emergency_grant(&mut rng, alice, T0) },
        EmergencyGrantRecord { institution: InstitutionId::generate(&mut rng), ..emergency_grant(&mut rng, alice, T0) },
        EmergencyGrantRecord { review: Some(emergency_review(&two.bob, T0)), ..emergency_grant(&mut rng, alice, T0) },
    ] {
        let err = store.create_emergency_grant(&bad).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    }
    // The same ID again, whatever else differs.
    let again = EmergencyGrantRecord { id: grant.id, ..emergency_grant(&mut rng, carol, T0 + Duration::hours(1)) };
    let err = store.create_emergency_grant(&again).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "emergency grant" })), "{err:?}");
    // The database keeps a reason of 1 to 500 characters, an expiry after the grant, a note
    // of at most 1000 characters, and no review by the grant's own user.
    for bad in [
        EmergencyGrantRecord { reason: String::new(), ..emergency_grant(&mut rng, alice, T0) },
        EmergencyGrantRecord { reason: "救".repeat(501), ..emergency_grant(&mut rng, alice, T0) },
        expiring(emergency_grant(&mut rng, alice, T0), T0),
        expiring(emergency_grant(&mut rng, alice, T0), T0 - Duration::microseconds(1)),
        EmergencyGrantRecord {
            review: Some(EmergencyReview { note: "確".repeat(1001), ..emergency_review(carol, T0) }),
            ..emergency_grant(&mut rng, alice, T0)
        },
        EmergencyGrantRecord { review: Some(emergency_review(alice, T0)), ..emergency_grant(&mut rng, alice, T0) },
    ] {
        let err = store.create_emergency_grant(&bad).await;
        assert!(matches!(err, Err(StoreError::Database { .. })), "{err:?}");
    }
    assert_eq!(store.emergency_grants(a).await.expect("grants"), vec![grant.clone()]);

    // An ID is per institution: B may use it for its own grant.
    let in_b = EmergencyGrantRecord { id: grant.id, ..emergency_grant(&mut rng, &two.bob, T0) };
    store.create_emergency_grant(&in_b).await.expect("the ID is free in B");
    assert_eq!(store.emergency_grant(b, grant.id).await.expect("grant"), Some(in_b));
    assert_eq!(store.emergency_grant(a, grant.id).await.expect("grant"), Some(grant));
}

async fn emergency_data_is_invisible_through_another_institution(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b, alice, carol, bob) = (two.a.id, two.b.id, &two.alice, &two.carol, &two.bob);
    let grant = emergency_grant(&mut rng, alice, T0);
    store.create_emergency_grant(&grant).await.expect("create");
    let bobs = emergency_grant(&mut rng, bob, T0);
    store.create_emergency_grant(&bobs).await.expect("create B's");

    // Every new method, given B's ID (or an unknown one) and A's user or grant.
    let unknown = InstitutionId::generate(&mut rng);
    for other in [b, unknown] {
        let through = EmergencyGrantRecord { institution: other, ..emergency_grant(&mut rng, alice, T0) };
        let err = store.create_emergency_grant(&through).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "create_emergency_grant: {err:?}");
        let active = store.active_emergency_grants(other, alice.id, T0).await.expect("active_emergency_grants");
        assert!(active.is_empty());
        assert_eq!(store.emergency_grant(other, grant.id).await.expect("emergency_grant"), None);
        let reviewed = store.review_emergency_grant(other, grant.id, &emergency_review(bob, T0)).await;
        assert!(!reviewed.expect("review_emergency_grant"));
    }
    assert_eq!(store.emergency_grants(b).await.expect("emergency_grants"), vec![bobs.clone()]);
    assert!(store.emergency_grants(unknown).await.expect("emergency_grants").is_empty());
    // And the other way: B's grant through A.
    assert_eq!(store.emergency_grant(a, bobs.id).await.expect("emergency_grant"), None);
    assert!(!store.review_emergency_grant(a, bobs.id, &emergency_review(carol, T0)).await.expect("review"));

    // Nothing changed: each institution sees its own grant, unreviewed.
    assert_eq!(store.emergency_grants(a).await.expect("grants"), vec![grant.clone()]);
    assert_eq!(store.active_emergency_grants(a, alice.id, T0).await.expect("active"), vec![grant.clone()]);
    assert_eq!(store.active_emergency_grants(b, bob.id, T0).await.expect("active"), vec![bobs.clone()]);
    assert_eq!(store.emergency_grant(b, bobs.id).await.expect("grant"), Some(bobs));
    assert!(store.review_emergency_grant(a, grant.id, &emergency_review(carol, T0)).await.expect("still unreviewed"));
}

async fn sealed_accounts_round_trip_oldest_first_and_are_sealed_once(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b, alice, carol) = (two.a.id, two.b.id, &two.alice, &two.carol);
    assert!(store.sealed_accounts(a).await.expect("sealed accounts").is_empty());
    let mut users = Vec::new();
    for login_id in ["kinkyu1", "kinkyu2", "kinkyu3"] {
        users.push(store.create_user(a, &new_user(&mut rng, login_id, &[Role::Doctor])).await.expect("user"));
    }

    // A time given in JST with nanoseconds: stored in UTC, to the microsecond. The largest
    // generation round-trips.
    let first = SealedAccount {
        generation: u32::MAX,
        sealed_at: datetime!(2026-11-25 18:00:00.123456789 +09:00),
        ..sealed(&users[0], T0)
    };
    store.seal_account(&first).await.expect("seal");
    let first = SealedAccount { sealed_at: datetime!(2026-11-25 09:00:00.123456 UTC), ..first };
    let read = store.sealed_account(a, users[0].id).await.expect("sealed account");
    assert_eq!(read, Some(first.clone()));
    assert_eq!(read.map(|s| s.sealed_at.offset()), Some(UtcOffset::UTC));

    // Oldest first, the same time (then by user ID).
    let older = sealed(&users[1], T0 - Duration::days(1));
    let same_time = SealedAccount { generation: 2, ..sealed(&users[2], first.sealed_at) };
    for account in [&older, &same_time] {
        store.seal_account(account).await.expect("seal");
    }
    let mut expected = vec![first.clone(), same_time.clone()];
    expected.sort_by_key(|s| s.user);
    expected.insert(0, older.clone());
    assert_eq!(store.sealed_accounts(a).await.expect("sealed accounts"), expected);
    assert!(store.sealed_accounts(b).await.expect("sealed accounts").is_empty());
    assert_eq!(store.sealed_account(a, alice.id).await.expect("not sealed"), None);

    // Once: sealing again is a conflict, whatever else differs, and changes nothing.
    let again = SealedAccount { generation: 5, ..sealed(&users[1], T0) };
    let err = store.seal_account(&again).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "sealed account" })), "{err:?}");
    assert_eq!(store.sealed_account(a, users[1].id).await.expect("sealed account"), Some(older));

    // A user of the institution: not an unknown one, not one of another institution, not in an
    // unknown institution.
    for bad in [
        SealedAccount { user: UserId::generate(&mut rng), ..sealed(carol, T0) },
        SealedAccount { user: two.bob.id, ..sealed(carol, T0) },
        SealedAccount { institution: InstitutionId::generate(&mut rng), ..sealed(carol, T0) },
    ] {
        let err = store.seal_account(&bad).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    }
    // The database refuses a generation below 1.
    let err = store.seal_account(&SealedAccount { generation: 0, ..sealed(carol, T0) }).await;
    assert!(matches!(err, Err(StoreError::Database { .. })), "{err:?}");
    assert_eq!(store.sealed_account(a, carol.id).await.expect("not sealed"), None);
    assert_eq!(store.sealed_accounts(a).await.expect("sealed accounts"), expected);
}

async fn sealed_activations_round_trip_every_field_newest_first(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, alice, carol) = (two.a.id, &two.alice, &two.carol);
    let (kinkyu1, kinkyu2) = two_sealed_accounts(store, &mut rng, &two).await;
    assert!(store.sealed_activations(a).await.expect("activations").is_empty());

    // The longest name and reason, a later generation, closed, times given in JST with
    // nanoseconds: stored in UTC, to the microsecond.
    let closed = SealedActivation {
        generation: 3,
        used_by: "花".repeat(100),
        reason: "停".repeat(500),
        activated_at: datetime!(2026-11-25 18:00:00.123456789 +09:00),
        expires_at: datetime!(2026-11-26 02:00:00.123456789 +09:00),
        closed_at: Some(datetime!(2026-11-25 18:00:00.123456999 +09:00)),
        ..sealed_activation(&mut rng, &kinkyu1, alice, T0)
    };
    store.create_sealed_activation(&closed).await.expect("create");
    let closed = SealedActivation {
        activated_at: datetime!(2026-11-25 09:00:00.123456 UTC),
        expires_at: datetime!(2026-11-25 17:00:00.123456 UTC),
        closed_at: Some(datetime!(2026-11-25 09:00:00.123456 UTC)),
        ..closed
    };
    let read = store.sealed_activations(a).await.expect("activations");
    assert_eq!(read, vec![closed.clone()]);
    let times = read.iter().flat_map(|x| [Some(x.activated_at), Some(x.expires_at), x.closed_at]).flatten();
    assert!(times.map(OffsetDateTime::offset).all(|o| o == UtcOffset::UTC));

    // Every account's, open, expired or closed, newest first (the same time, then by ID).
    let mut expected = vec![
        closed,
        sealed_activation(&mut rng, &kinkyu2, carol, T0 + Duration::seconds(1)),
        sealed_activation(&mut rng, &kinkyu1, carol, T0 - Duration::days(2)),
        sealed_activation(&mut rng, &kinkyu2, alice, T0),
        sealed_activation(&mut rng, &kinkyu1, carol, T0 - Duration::microseconds(1)),
    ];
    for activation in &expected[1..] {
        store.create_sealed_activation(activation).await.expect("create");
    }
    expected.sort_by_key(|x| (std::cmp::Reverse(x.activated_at), x.id));
    let read = store.sealed_activations(a).await.expect("activations");
    assert_eq!(read, expected);
    assert_eq!(read[0].activated_at, T0 + Duration::seconds(1));
    assert_eq!((read[1].activated_at, read[2].activated_at), (T0, T0));
    assert!(read[1].id < read[2].id, "the same activation time, by ID");
    assert_eq!(read[4].activated_at, T0 - Duration::days(2));
    assert!(store.sealed_activations(two.b.id).await.expect("activations").is_empty());
}

async fn sealed_activations_need_a_sealed_account_a_confirmer_of_its_institution_and_a_new_id(
    store: &dyn Store,
    _db: &TestDb,
) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b, alice, carol, bob) = (two.a.id, two.b.id, &two.alice, &two.carol, &two.bob);
    let (kinkyu, _) = two_sealed_accounts(store, &mut rng, &two).await;
    let activation = sealed_activation(&mut rng, &kinkyu, alice, T0);
    store.create_sealed_activation(&activation).await.expect("create");

    // Not a sealed account of the institution: a user that is not sealed, an unknown user,
    // another institution's user; also when the confirmer is wrong too.
    for bad in [
        SealedActivation { user: carol.id, ..sealed_activation(&mut rng, &kinkyu, alice, T0) },
        SealedActivation { user: UserId::generate(&mut rng), ..sealed_activation(&mut rng, &kinkyu, alice, T0) },
        SealedActivation { user: bob.id, ..sealed_activation(&mut rng, &kinkyu, alice, T0) },
        SealedActivation {
            user: carol.id,
            confirmed_by: UserId::generate(&mut rng),
            ..sealed_activation(&mut rng, &kinkyu, alice, T0)
        },
    ] {
        let err = store.create_sealed_activation(&bad).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "sealed account" })), "{err:?}");
    }
    // A confirmer who is not a user of the institution: unknown, or of another institution.
    for confirmer in [UserId::generate(&mut rng), bob.id] {
        let bad = SealedActivation { confirmed_by: confirmer, ..sealed_activation(&mut rng, &kinkyu, alice, T0) };
        let err = store.create_sealed_activation(&bad).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    }
    // The same ID again, whatever else differs.
    let again = SealedActivation { id: activation.id, ..sealed_activation(&mut rng, &kinkyu, carol, T0) };
    let err = store.create_sealed_activation(&again).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "sealed activation" })), "{err:?}");
    // The database refuses a confirmation by the account itself, an expiry not after the
    // activation, a closing before it, a name not 1 to 100 and a reason not 1 to 500
    // characters, and a generation below 1.
    for bad in [
        sealed_activation(&mut rng, &kinkyu, &kinkyu, T0),
        expiring_activation(sealed_activation(&mut rng, &kinkyu, alice, T0), T0),
        expiring_activation(sealed_activation(&mut rng, &kinkyu, alice, T0), T0 - Duration::microseconds(1)),
        SealedActivation {
            closed_at: Some(T0 - Duration::microseconds(1)),
            ..sealed_activation(&mut rng, &kinkyu, alice, T0)
        },
        SealedActivation { used_by: String::new(), ..sealed_activation(&mut rng, &kinkyu, alice, T0) },
        SealedActivation { used_by: "花".repeat(101), ..sealed_activation(&mut rng, &kinkyu, alice, T0) },
        SealedActivation { reason: String::new(), ..sealed_activation(&mut rng, &kinkyu, alice, T0) },
        SealedActivation { reason: "停".repeat(501), ..sealed_activation(&mut rng, &kinkyu, alice, T0) },
        SealedActivation { generation: 0, ..sealed_activation(&mut rng, &kinkyu, alice, T0) },
    ] {
        let err = store.create_sealed_activation(&bad).await;
        assert!(matches!(err, Err(StoreError::Database { .. })), "{err:?}");
    }
    // Closed when activated is fine.
    let closed_at_once = SealedActivation { closed_at: Some(T0), ..sealed_activation(&mut rng, &kinkyu, carol, T0) };
    store.create_sealed_activation(&closed_at_once).await.expect("closed at its activation");
    let mut expected = vec![activation.clone(), closed_at_once];
    expected.sort_by_key(|x| x.id);
    assert_eq!(store.sealed_activations(a).await.expect("activations"), expected);

    // An ID is per institution: B may use it for its own sealed account.
    store.seal_account(&sealed(bob, T0)).await.expect("seal B's");
    let dave = store.create_user(b, &new_user(&mut rng, "dave", &[Role::Nurse])).await.expect("dave");
    let in_b = SealedActivation { id: activation.id, ..sealed_activation(&mut rng, bob, &dave, T0) };
    store.create_sealed_activation(&in_b).await.expect("the ID is free in B");
    assert_eq!(store.sealed_activations(b).await.expect("activations"), vec![in_b]);
}

async fn the_active_sealed_activation_is_the_latest_open_unexpired_one(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, alice, carol) = (two.a.id, &two.alice, &two.carol);
    let (kinkyu1, kinkyu2) = two_sealed_accounts(store, &mut rng, &two).await;
    let hours = |h: i64| T0 + Duration::hours(h);
    assert_eq!(store.active_sealed_activation(a, kinkyu1.id, T0).await.expect("active"), None);

    // One activation: active from before its activation time up to (not at) its expiry.
    let first = sealed_activation(&mut rng, &kinkyu1, alice, T0);
    store.create_sealed_activation(&first).await.expect("create");
    let expiry = first.expires_at;
    for at in [
        hours(-1),
        T0,
        expiry - Duration::microseconds(1),
        expiry - Duration::nanoseconds(1),
        expiry,
        expiry + Duration::nanoseconds(999),
        hours(9),
    ] {
        let read = store.active_sealed_activation(a, kinkyu1.id, at).await.expect("active");
        assert_eq!(read, first.active_at(at).then(|| first.clone()), "at {at}");
    }
    // At its expiry it has expired.
    assert_eq!(store.active_sealed_activation(a, kinkyu1.id, expiry).await.expect("active"), None);
    let just_before = store.active_sealed_activation(a, kinkyu1.id, expiry - Duration::microseconds(1)).await;
    assert_eq!(just_before.expect("active"), Some(first.clone()));

    // Several open ones: the latest activated; a closed one never, even if later and unexpired.
    let second = sealed_activation(&mut rng, &kinkyu1, carol, hours(1));
    let closed =
        SealedActivation { closed_at: Some(hours(3)), ..sealed_activation(&mut rng, &kinkyu1, alice, hours(2)) };
    for activation in [&second, &closed] {
        store.create_sealed_activation(activation).await.expect("create");
    }
    assert_eq!(store.active_sealed_activation(a, kinkyu1.id, hours(2)).await.expect("active"), Some(second.clone()));
    assert_eq!(store.active_sealed_activation(a, kinkyu1.id, hours(4)).await.expect("active"), Some(second.clone()));
    // Before the second's activation time it is still the latest one open and unexpired.
    assert_eq!(store.active_sealed_activation(a, kinkyu1.id, T0).await.expect("active"), Some(second.clone()));
    // After the second expires, none (the first expired earlier, the third is closed).
    assert_eq!(store.active_sealed_activation(a, kinkyu1.id, hours(9)).await.expect("active"), None);

    // Only the account's own activations.
    assert_eq!(store.active_sealed_activation(a, kinkyu2.id, hours(2)).await.expect("active"), None);
    let other = sealed_activation(&mut rng, &kinkyu2, alice, hours(5));
    store.create_sealed_activation(&other).await.expect("create");
    assert_eq!(store.active_sealed_activation(a, kinkyu2.id, hours(6)).await.expect("active"), Some(other));
    assert_eq!(store.active_sealed_activation(a, kinkyu1.id, hours(6)).await.expect("active"), Some(second));
    let unknown = UserId::generate(&mut rng);
    assert_eq!(store.active_sealed_activation(a, unknown, T0).await.expect("active"), None);
}

async fn closing_a_sealed_account_closes_its_activations_and_raises_its_generation(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, alice, carol) = (two.a.id, &two.alice, &two.carol);
    let (kinkyu1, kinkyu2) = two_sealed_accounts(store, &mut rng, &two).await;
    let hours = |h: i64| T0 + Duration::hours(h);
    // kinkyu1: one closed earlier, one expired but never closed, one open; kinkyu2: one open.
    let closed_earlier =
        SealedActivation { closed_at: Some(hours(-20)), ..sealed_activation(&mut rng, &kinkyu1, alice, hours(-24)) };
    let expired = sealed_activation(&mut rng, &kinkyu1, alice, hours(-12));
    let open = sealed_activation(&mut rng, &kinkyu1, carol, hours(1));
    let others = sealed_activation(&mut rng, &kinkyu2, carol, hours(1));
    for activation in [&closed_earlier, &expired, &open, &others] {
        store.create_sealed_activation(activation).await.expect("create");
    }

    // A time given in JST with nanoseconds: stored in UTC, to the microsecond.
    let at = datetime!(2026-11-25 21:00:00.000001999 +09:00);
    let at_stored = datetime!(2026-11-25 12:00:00.000001 UTC);
    assert_eq!(store.close_sealed_account(a, kinkyu1.id, at).await.expect("close"), 2);
    let account = store.sealed_account(a, kinkyu1.id).await.expect("sealed account");
    assert_eq!(account, Some(SealedAccount { generation: 2, sealed_at: at_stored, ..sealed(&kinkyu1, T0) }));
    assert_eq!(store.active_sealed_activation(a, kinkyu1.id, at).await.expect("active"), None);
    let closed = |x: &SealedActivation| SealedActivation { closed_at: Some(at_stored), ..x.clone() };
    let mut expected = vec![closed_earlier.clone(), closed(&expired), closed(&open), others.clone()];
    expected.sort_by_key(|x| (std::cmp::Reverse(x.activated_at), x.id));
    assert_eq!(store.sealed_activations(a).await.expect("activations"), expected);
    // The other account is untouched.
    assert_eq!(store.sealed_account(a, kinkyu2.id).await.expect("sealed account"), Some(sealed(&kinkyu2, T0)));
    assert_eq!(store.active_sealed_activation(a, kinkyu2.id, hours(2)).await.expect("active"), Some(others));

    // Activated again with the new generation, closed again: generation 3.
    let reopened = SealedActivation { generation: 2, ..sealed_activation(&mut rng, &kinkyu1, alice, hours(4)) };
    store.create_sealed_activation(&reopened).await.expect("create");
    assert_eq!(store.close_sealed_account(a, kinkyu1.id, hours(5)).await.expect("close"), 3);
    let read = store.sealed_activations(a).await.expect("activations");
    let reread = read.iter().find(|x| x.id == reopened.id).cloned();
    assert_eq!(reread, Some(SealedActivation { closed_at: Some(hours(5)), ..reopened.clone() }));
    let first_close = read.iter().find(|x| x.id == open.id).and_then(|x| x.closed_at);
    assert_eq!(first_close, Some(at_stored), "a closed activation keeps its closing time");
    // Closing with nothing open still re-keys.
    assert_eq!(store.close_sealed_account(a, kinkyu1.id, hours(6)).await.expect("close"), 4);
    let account = store.sealed_account(a, kinkyu1.id).await.expect("sealed account").expect("sealed");
    assert_eq!((account.generation, account.sealed_at), (4, hours(6)));

    // Not a sealed account: nothing changes.
    for user in [carol.id, UserId::generate(&mut rng), two.bob.id] {
        let err = store.close_sealed_account(a, user, hours(7)).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "sealed account" })), "{err:?}");
    }
    assert_eq!(store.sealed_account(a, carol.id).await.expect("not sealed"), None);

    // A close before an open activation's time breaks `closed_at >= activated_at`: refused by
    // the database, and the generation stays too (one transaction).
    let later = sealed_activation(&mut rng, &kinkyu2, alice, hours(10));
    store.create_sealed_activation(&later).await.expect("create");
    let before = store.sealed_activations(a).await.expect("activations");
    let err = store.close_sealed_account(a, kinkyu2.id, hours(9)).await;
    assert!(matches!(err, Err(StoreError::Database { .. })), "{err:?}");
    assert_eq!(store.sealed_account(a, kinkyu2.id).await.expect("sealed account"), Some(sealed(&kinkyu2, T0)));
    assert_eq!(store.sealed_activations(a).await.expect("activations"), before);

    // Concurrent closes each re-key once.
    let (r1, r2, r3) = tokio::join!(
        store.close_sealed_account(a, kinkyu1.id, hours(20)),
        store.close_sealed_account(a, kinkyu1.id, hours(20)),
        store.close_sealed_account(a, kinkyu1.id, hours(20)),
    );
    let mut generations = [r1.expect("close"), r2.expect("close"), r3.expect("close")];
    generations.sort_unstable();
    assert_eq!(generations, [5, 6, 7]);
    let account = store.sealed_account(a, kinkyu1.id).await.expect("sealed account").expect("sealed");
    assert_eq!(account.generation, 7);
}

async fn sealed_data_is_invisible_through_another_institution(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b, alice, bob) = (two.a.id, two.b.id, &two.alice, &two.bob);
    let (kinkyu, _) = two_sealed_accounts(store, &mut rng, &two).await;
    let activation = sealed_activation(&mut rng, &kinkyu, alice, T0);
    store.create_sealed_activation(&activation).await.expect("create");
    let dave = store.create_user(b, &new_user(&mut rng, "dave", &[Role::Nurse])).await.expect("dave");
    store.seal_account(&sealed(bob, T0)).await.expect("seal B's");
    let bobs = sealed_activation(&mut rng, bob, &dave, T0);
    store.create_sealed_activation(&bobs).await.expect("create B's");

    // Every new method, given B's ID (or an unknown one) and A's sealed account.
    let unknown = InstitutionId::generate(&mut rng);
    for other in [b, unknown] {
        assert_eq!(store.sealed_account(other, kinkyu.id).await.expect("sealed_account"), None);
        let err = store.seal_account(&SealedAccount { institution: other, ..sealed(alice, T0) }).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "seal_account: {err:?}");
        let through = SealedActivation { institution: other, ..sealed_activation(&mut rng, &kinkyu, &dave, T0) };
        let err = store.create_sealed_activation(&through).await;
        assert!(
            matches!(err, Err(StoreError::NotFound { what: "sealed account" })),
            "create_sealed_activation: {err:?}"
        );
        let active = store.active_sealed_activation(other, kinkyu.id, T0).await.expect("active_sealed_activation");
        assert_eq!(active, None);
        let err = store.close_sealed_account(other, kinkyu.id, T0 + Duration::hours(1)).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "sealed account" })), "close_sealed_account: {err:?}");
    }
    assert_eq!(store.sealed_accounts(b).await.expect("sealed_accounts"), vec![sealed(bob, T0)]);
    assert!(store.sealed_accounts(unknown).await.expect("sealed_accounts").is_empty());
    assert_eq!(store.sealed_activations(b).await.expect("sealed_activations"), vec![bobs.clone()]);
    assert!(store.sealed_activations(unknown).await.expect("sealed_activations").is_empty());
    // And the other way: B's account through A, and a confirmer of B for A's account.
    assert_eq!(store.sealed_account(a, bob.id).await.expect("sealed_account"), None);
    assert_eq!(store.active_sealed_activation(a, bob.id, T0).await.expect("active"), None);
    let err = store.close_sealed_account(a, bob.id, T0 + Duration::hours(1)).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "sealed account" })), "{err:?}");
    let confirmed_by_b = sealed_activation(&mut rng, &kinkyu, &dave, T0);
    let err = store.create_sealed_activation(&confirmed_by_b).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");

    // Nothing changed: each institution sees its own account (first generation) and its own
    // open activation.
    assert_eq!(store.sealed_account(a, kinkyu.id).await.expect("sealed account"), Some(sealed(&kinkyu, T0)));
    assert_eq!(store.sealed_account(b, bob.id).await.expect("sealed account"), Some(sealed(bob, T0)));
    assert_eq!(store.active_sealed_activation(a, kinkyu.id, T0).await.expect("active"), Some(activation.clone()));
    assert_eq!(store.active_sealed_activation(b, bob.id, T0).await.expect("active"), Some(bobs));
    assert_eq!(store.sealed_activations(a).await.expect("activations"), vec![activation]);
}

async fn categories_round_trip_by_name_and_are_added_once_per_institution(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    assert!(store.categories(a).await.expect("categories").is_empty());

    // The longest name and labels, a time given in JST with nanoseconds: stored in UTC, to the
    // microsecond.
    let longest = CategoryDef {
        label_ja: "遺".repeat(50),
        label_en: "g".repeat(50),
        created_at: datetime!(2026-11-25 18:00:00.123456789 +09:00),
        ..category_def(a, &format!("z{}", "9".repeat(39)))
    };
    store.add_category(&longest).await.expect("add");
    let longest = CategoryDef { created_at: datetime!(2026-11-25 09:00:00.123456 UTC), ..longest };
    let read = store.categories(a).await.expect("categories");
    assert_eq!(read, vec![longest.clone()]);
    assert_eq!(read[0].created_at.offset(), UtcOffset::UTC);

    // By name, bytewise: digits before '_' before letters.
    let names = ["genetic_test", "b_x", "b1", "a", "a_1", "dental"];
    let mut added = vec![longest];
    for name in names {
        let def = category_def(a, name);
        store.add_category(&def).await.expect("add");
        added.push(def);
    }
    added.sort_by(|x, y| x.category.as_str().as_bytes().cmp(y.category.as_str().as_bytes()));
    let read = store.categories(a).await.expect("categories");
    let read_names: Vec<_> = read.iter().map(|d| d.category.as_str()).collect();
    assert_eq!(read_names, ["a", "a_1", "b1", "b_x", "dental", "genetic_test", &format!("z{}", "9".repeat(39))]);
    assert_eq!(read, added);

    // Once per institution: the same name again is a conflict (whatever the labels), and
    // changes nothing; another institution may use it.
    let again = CategoryDef { label_ja: "別".to_owned(), ..category_def(a, "dental") };
    let err = store.add_category(&again).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "category" })), "{err:?}");
    assert_eq!(store.categories(a).await.expect("categories"), added);
    let in_b = category_def(b, "dental");
    store.add_category(&in_b).await.expect("the name is free in B");
    assert_eq!(store.categories(b).await.expect("categories"), vec![in_b]);

    // An unknown institution.
    let err = store.add_category(&category_def(InstitutionId::generate(&mut rng), "dental")).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "institution" })), "{err:?}");

    // The database refuses built-in names and labels not 1 to 50 characters.
    for built_in in Category::BUILT_IN {
        let def = CategoryDef { category: built_in.clone(), ..category_def(a, "x") };
        let err = store.add_category(&def).await;
        assert!(matches!(err, Err(StoreError::Database { .. })), "{built_in}: {err:?}");
    }
    for bad in [
        CategoryDef { label_ja: String::new(), ..category_def(a, "bad_label") },
        CategoryDef { label_en: String::new(), ..category_def(a, "bad_label") },
        CategoryDef { label_ja: "遺".repeat(51), ..category_def(a, "bad_label") },
        CategoryDef { label_en: "g".repeat(51), ..category_def(a, "bad_label") },
    ] {
        let err = store.add_category(&bad).await;
        assert!(matches!(err, Err(StoreError::Database { .. })), "{err:?}");
    }
    assert_eq!(store.categories(a).await.expect("categories"), added);
}

async fn role_grants_are_replaced_whole_and_listed_by_role(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, alice, carol) = (two.a.id, &two.alice, &two.carol);
    assert!(store.role_grants(a).await.expect("role grants").is_empty(), "every role follows its defaults");
    store.add_category(&category_def(a, "genetic_test")).await.expect("add");

    // Grants in any order come back sorted by (action, category); roles by role.
    let clerk = [(Action::Print, Category::DOCUMENT), (Action::Read, Category::DOCUMENT)];
    store.set_role_grants(a, Role::Clerk, &clerk, alice.id, T0).await.expect("set clerk");
    let doctor = [
        (Action::Export, Category::CLINICAL_RECORD),
        (Action::Read, category("genetic_test")),
        (Action::Read, Category::CLINICAL_RECORD),
        (Action::Write, Category::CLINICAL_RECORD),
        (Action::Read, Category::PSYCHIATRIC),
    ];
    store.set_role_grants(a, Role::Doctor, &doctor, alice.id, T0).await.expect("set doctor");
    // An empty set is "no clinical right", kept as the role's grants.
    store.set_role_grants(a, Role::Nurse, &[], carol.id, T0).await.expect("set nurse");
    let sorted = |grants: &[(Action, Category)]| {
        let mut grants = grants.to_vec();
        grants.sort();
        grants
    };
    let expected = vec![(Role::Doctor, sorted(&doctor)), (Role::Nurse, vec![]), (Role::Clerk, sorted(&clerk))];
    assert_eq!(store.role_grants(a).await.expect("role grants"), expected);
    assert_eq!(
        expected[0].1,
        [
            (Action::Read, Category::CLINICAL_RECORD),
            (Action::Read, category("genetic_test")),
            (Action::Read, Category::PSYCHIATRIC),
            (Action::Write, Category::CLINICAL_RECORD),
            (Action::Export, Category::CLINICAL_RECORD),
        ]
    );

    // Replacing is whole: the old grants go, the new ones come, even an empty set.
    let doctor_now = [(Action::Read, Category::LAB_RESULT), (Action::Approve, Category::CLINICAL_RECORD)];
    store.set_role_grants(a, Role::Doctor, &doctor_now, carol.id, T0 + Duration::hours(1)).await.expect("replace");
    store.set_role_grants(a, Role::Clerk, &[], alice.id, T0 + Duration::hours(1)).await.expect("replace");
    store.set_role_grants(a, Role::Nurse, &clerk, alice.id, T0 + Duration::hours(1)).await.expect("replace");
    let expected = vec![(Role::Doctor, sorted(&doctor_now)), (Role::Nurse, sorted(&clerk)), (Role::Clerk, vec![])];
    assert_eq!(store.role_grants(a).await.expect("role grants"), expected);

    // A pair twice: a conflict, and the old grants are kept.
    let twice =
        [(Action::Read, Category::IMAGING), (Action::Print, Category::IMAGING), (Action::Read, Category::IMAGING)];
    for role in [Role::Doctor, Role::Technician] {
        let err = store.set_role_grants(a, role, &twice, alice.id, T0 + Duration::hours(2)).await;
        assert!(matches!(err, Err(StoreError::Conflict { what: "role grant" })), "{err:?}");
    }
    // The author must be a user of the institution; the old grants are kept.
    for author in [UserId::generate(&mut rng), two.bob.id] {
        for role in [Role::Doctor, Role::Pharmacist] {
            let err = store.set_role_grants(a, role, &clerk, author, T0 + Duration::hours(2)).await;
            assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
        }
    }
    assert_eq!(store.role_grants(a).await.expect("role grants"), expected, "nothing changed");

    // Concurrent replacements of one role leave one of the sets whole.
    let one = [(Action::Read, Category::IMAGING), (Action::Print, Category::IMAGING)];
    let other = [
        (Action::Read, Category::LAB_RESULT),
        (Action::Write, Category::LAB_RESULT),
        (Action::Read, Category::DOCUMENT),
    ];
    let at = T0 + Duration::hours(3);
    let (r1, r2, r3, r4) = tokio::join!(
        store.set_role_grants(a, Role::Technician, &one, alice.id, at),
        store.set_role_grants(a, Role::Technician, &other, carol.id, at),
        store.set_role_grants(a, Role::Technician, &one, alice.id, at),
        store.set_role_grants(a, Role::Technician, &other, carol.id, at),
    );
    for r in [r1, r2, r3, r4] {
        r.expect("set technician");
    }
    let read = store.role_grants(a).await.expect("role grants");
    let technician = read.iter().find(|(role, _)| *role == Role::Technician).map(|(_, g)| g.clone());
    assert!(technician == Some(sorted(&one)) || technician == Some(sorted(&other)), "{technician:?}");
    let roles: Vec<_> = read.iter().map(|(role, _)| *role).collect();
    assert_eq!(roles, [Role::Doctor, Role::Nurse, Role::Technician, Role::Clerk]);
}

async fn categories_and_role_grants_are_invisible_through_another_institution(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b, alice, bob) = (two.a.id, two.b.id, &two.alice, &two.bob);
    let genetic = category_def(a, "genetic_test");
    store.add_category(&genetic).await.expect("add");
    let grants = [(Action::Read, category("genetic_test"))];
    store.set_role_grants(a, Role::Doctor, &grants, alice.id, T0).await.expect("set");
    store.set_role_grants(b, Role::Clerk, &[], bob.id, T0).await.expect("set B's");

    // Every new method, given B's ID (or an unknown one): A's categories and grants are not
    // there, and A's user cannot change B's (or an unknown institution's) grants.
    let unknown = InstitutionId::generate(&mut rng);
    for other in [b, unknown] {
        assert!(store.categories(other).await.expect("categories").is_empty());
        let err = store.set_role_grants(other, Role::Doctor, &[], alice.id, T0).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "set_role_grants: {err:?}");
    }
    assert_eq!(store.role_grants(b).await.expect("role_grants"), vec![(Role::Clerk, vec![])]);
    assert!(store.role_grants(unknown).await.expect("role_grants").is_empty());
    // And the other way: B's user cannot change A's grants.
    let err = store.set_role_grants(a, Role::Clerk, &[], bob.id, T0).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");

    // Nothing of A's changed.
    assert_eq!(store.categories(a).await.expect("categories"), vec![genetic]);
    assert_eq!(store.role_grants(a).await.expect("role grants"), vec![(Role::Doctor, grants.to_vec())]);
}

/// The migrations as embedded in the store, to build a database at an older schema version.
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Rows as schema version 1 held them; the literals parse on both backends.
const VERSION_1_ROWS: &str = "\
    INSERT INTO institutions (id, name, created_at) \
    VALUES ('00000000-0000-4000-8000-000000000001', '旧病院', '2026-01-01T00:00:00.000000Z'); \
    INSERT INTO users (institution_id, id, login_id, display_name, job_type, status, password_hash, \
                       password_change_required, created_at) \
    VALUES ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', 'olduser', \
            '旧 ユーザー', 'doctor', 'active', 'old-hash', FALSE, '2026-01-01T00:00:00.000000Z');";

/// Rows as schema version 2 held them: an active user who has logged in and a retired one.
const VERSION_2_ROWS: &str = "\
    INSERT INTO institutions (id, name, created_at) \
    VALUES ('00000000-0000-4000-8000-000000000001', '旧病院', '2026-01-01T00:00:00.000000Z'); \
    INSERT INTO users (institution_id, id, login_id, display_name, job_type, status, password_hash, \
                       password_change_required, created_at, last_login_at, failures_since_login) \
    VALUES ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', 'olduser', \
            '旧 ユーザー', 'doctor', 'active', 'old-hash', FALSE, '2026-01-01T00:00:00.000000Z', \
            '2026-01-02T03:04:05.000006Z', 2), \
           ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000003', 'retiree', \
            '退職 ユーザー', 'nurse', 'retired', 'old-hash', FALSE, '2026-01-01T00:00:00.000000Z', \
            NULL, 0);";

/// A new database (on the same server as `db`) migrated to `version` only, holding `rows`.
async fn database_at_version(db: &TestDb, version: i64, rows: &'static str) -> TestDb {
    let old = match db {
        TestDb::Sqlite { .. } => TestDb::sqlite("upgrade"),
        TestDb::Postgres { .. } => TestDb::postgres("upgrade").await.expect("the test server"),
    };
    match &old {
        TestDb::Sqlite { path } => {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.expect("open sqlite");
            SQLITE_MIGRATIONS.run_to(version, &pool).await.expect("migrate to the old version");
            sqlx::raw_sql(rows).execute(&pool).await.expect("old rows");
            pool.close().await;
        }
        TestDb::Postgres { url, .. } => {
            let pool = sqlx::PgPool::connect(url.expose()).await.expect("connect postgres");
            POSTGRES_MIGRATIONS.run_to(version, &pool).await.expect("migrate to the old version");
            sqlx::raw_sql(rows).execute(&pool).await.expect("old rows");
            pool.close().await;
        }
    }
    old
}

/// A session and a TOTP enrollment of `olduser` (from [`VERSION_2_ROWS`]) as schema version 3
/// held them. No byte-string literal parses on both backends, so each gets its own.
macro_rules! version_3_rows {
    ($token_hash:literal, $secret:literal) => {
        concat!(
            "INSERT INTO sessions (token_hash, institution_id, user_id, stage, created_at, last_seen_at, \
                                   expires_at, locked, csrf_token, previous_login_at, \
                                   failures_since_previous, client_cert_sha256) \
             VALUES (",
            $token_hash,
            ", '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', \
                     'second_factor', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', \
                     '2027-01-01T00:00:00.000000Z', FALSE, 'old-csrf', NULL, 0, NULL); \
             INSERT INTO user_totp (institution_id, user_id, secret, confirmed, last_used_step, created_at) \
             VALUES ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', ",
            $secret,
            ", TRUE, NULL, '2026-01-01T00:00:00.000000Z');"
        )
    };
}

const VERSION_3_SQLITE_ROWS: &str = version_3_rows!(
    "X'0303030303030303030303030303030303030303030303030303030303030303'",
    "X'0707070707070707070707070707070707070707'"
);

const VERSION_3_POSTGRES_ROWS: &str = version_3_rows!(
    "decode('0303030303030303030303030303030303030303030303030303030303030303', 'hex')",
    "decode('0707070707070707070707070707070707070707', 'hex')"
);

async fn the_identity_migration_upgrades_an_existing_database(_store: &dyn Store, db: &TestDb) {
    let old = database_at_version(db, 1, VERSION_1_ROWS).await;
    let store = old.open().await;
    assert_eq!(store.schema_version().await.expect("schema version"), LATEST_SCHEMA_VERSION);
    let user = store.find_login(&login("olduser")).await.expect("find").expect("the old user is kept");
    assert_eq!(user.password_hash, "old-hash");
    assert_eq!(store.record_login_success(user.institution_id, user.id, T0).await.expect("login"), (None, 0));
    store.record_login_failure(user.institution_id, user.id).await.expect("failure");
    let later = T0 + Duration::minutes(1);
    assert_eq!(store.record_login_success(user.institution_id, user.id, later).await.expect("login"), (Some(T0), 1));
    store.close().await;
    old.remove().await;
}

async fn the_user_lifecycle_migration_upgrades_a_version_2_database(_store: &dyn Store, db: &TestDb) {
    let old = database_at_version(db, 2, VERSION_2_ROWS).await;
    let store = old.open().await;
    assert_eq!(store.schema_version().await.expect("schema version"), LATEST_SCHEMA_VERSION);
    let user = store.find_login(&login("olduser")).await.expect("find").expect("the old user is kept");
    let retiree = store.find_login(&login("retiree")).await.expect("find").expect("the retired user is kept");
    let inst = user.institution_id;
    assert_eq!(
        store.user_ledger(inst).await.expect("ledger"),
        vec![(user.clone(), Some(datetime!(2026-01-02 03:04:05.000006 UTC))), (retiree.clone(), None)]
    );

    // An account retired before the upgrade is final too, for the store and for the schema.
    let err = store.set_user_status(inst, retiree.id, UserStatus::Active).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "retired account" })), "{err:?}");
    let outside = execute_outside_the_store(&old, "UPDATE users SET status = 'disabled' WHERE login_id = 'retiree'");
    let outside = outside.await;
    assert!(outside.as_ref().is_err_and(|e| e.to_string().contains("a retired account stays retired")), "{outside:?}");
    store.set_user_status(inst, user.id, UserStatus::Disabled).await.expect("the active user can change");

    let pass = reenroll_pass(&user, &user, 1);
    store.create_reenroll_pass(&pass).await.expect("a pass in the new table");
    assert_eq!(store.reenroll_passes(inst).await.expect("passes"), vec![pass.clone()]);
    assert!(store.use_reenroll_pass(inst, user.id, &pass.pass_hash, T0).await.expect("use"));
    assert_eq!(store.record_login_success(inst, user.id, T0).await.expect("login").1, 2, "0002's counter is kept");
    store.close().await;
    old.remove().await;
}

async fn the_webauthn_migration_upgrades_a_version_3_database(_store: &dyn Store, db: &TestDb) {
    use WebauthnPurpose::Authenticate;
    let old = database_at_version(db, 3, VERSION_2_ROWS).await;
    let rows = match old.backend() {
        Backend::Sqlite => VERSION_3_SQLITE_ROWS,
        Backend::Postgres => VERSION_3_POSTGRES_ROWS,
    };
    execute_outside_the_store(&old, rows).await.expect("version 3 rows");
    let store = old.open().await;
    assert_eq!(store.schema_version().await.expect("schema version"), LATEST_SCHEMA_VERSION);
    let user = store.find_login(&login("olduser")).await.expect("find").expect("the old user is kept");
    let inst = user.institution_id;
    let session = store.session(&[3; 32]).await.expect("session").expect("the old session is kept");
    assert_eq!((session.institution, session.user), (inst, user.id));
    assert_eq!(store.totp(inst, user.id).await.expect("totp").map(|t| t.secret), Some(vec![7; 20]));

    // The new tables work with the old rows.
    let key = webauthn_credential(1, 32, T0);
    store.add_webauthn_credential(inst, user.id, &key).await.expect("a key for the old user");
    assert_eq!(store.webauthn_credentials(inst, user.id).await.expect("credentials"), vec![key]);
    let expires = T0 + Duration::minutes(5);
    store.put_webauthn_challenge(inst, &[3; 32], Authenticate, "state", expires).await.expect("put");
    let taken = store.take_webauthn_challenge(inst, &[3; 32], Authenticate, T0).await.expect("take");
    assert_eq!(taken.as_deref(), Some("state"));
    store.put_webauthn_challenge(inst, &[3; 32], Authenticate, "state", expires).await.expect("put");
    store.delete_session(inst, &[3; 32]).await.expect("delete the old session");
    assert_eq!(store.take_webauthn_challenge(inst, &[3; 32], Authenticate, T0).await.expect("take"), None);
    assert!(store.delete_second_factors(inst, user.id).await.expect("delete"), "the old TOTP enrollment");
    assert!(store.webauthn_credentials(inst, user.id).await.expect("credentials").is_empty());
    store.close().await;
    old.remove().await;
}

/// A session of `olduser` (from [`VERSION_2_ROWS`]) opened over a connection with a client
/// certificate, as schema version 4 held it.
macro_rules! version_4_rows {
    ($token_hash:literal) => {
        concat!(
            "INSERT INTO sessions (token_hash, institution_id, user_id, stage, created_at, last_seen_at, \
                                   expires_at, locked, csrf_token, previous_login_at, \
                                   failures_since_previous, client_cert_sha256) \
             VALUES (",
            $token_hash,
            ", '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', \
                     'full', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', \
                     '2027-01-01T00:00:00.000000Z', FALSE, 'old-csrf-4', NULL, 0, \
                     '04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04:04');"
        )
    };
}

const VERSION_4_SQLITE_ROWS: &str =
    version_4_rows!("X'0404040404040404040404040404040404040404040404040404040404040404'");

const VERSION_4_POSTGRES_ROWS: &str =
    version_4_rows!("decode('0404040404040404040404040404040404040404040404040404040404040404', 'hex')");

async fn the_terminal_migration_upgrades_a_version_4_database(_store: &dyn Store, db: &TestDb) {
    let old = database_at_version(db, 4, VERSION_2_ROWS).await;
    let rows = match old.backend() {
        Backend::Sqlite => [VERSION_3_SQLITE_ROWS, VERSION_4_SQLITE_ROWS],
        Backend::Postgres => [VERSION_3_POSTGRES_ROWS, VERSION_4_POSTGRES_ROWS],
    };
    for rows in rows {
        execute_outside_the_store(&old, rows).await.expect("version 4 rows");
    }
    let store = old.open().await;
    assert_eq!(store.schema_version().await.expect("schema version"), LATEST_SCHEMA_VERSION);
    let user = store.find_login(&login("olduser")).await.expect("find").expect("the old user is kept");
    let inst = user.institution_id;
    let institution = store.institution(inst).await.expect("institution").expect("the old institution is kept");
    assert_eq!(institution.name.as_str(), "旧病院");
    assert_eq!(store.institutions().await.expect("institutions"), vec![institution]);
    assert!(!store.require_registered_terminal(inst).await.expect("rule"), "an old institution's rule is off");

    // The new table and column work with the old rows.
    let mut rng = rng();
    let t = terminal(&mut rng, inst, "reception-1", 4);
    store.add_terminal(&t).await.expect("a terminal of the old institution");
    assert_eq!(store.terminal_by_fingerprint(inst, &fingerprint(4)).await.expect("lookup"), Some(t.clone()));
    store.set_require_registered_terminal(inst, true).await.expect("turn on");
    assert!(store.require_registered_terminal(inst).await.expect("rule"));
    assert!(store.revoke_terminal(inst, &t.name, T0).await.expect("revoke"));
    assert_eq!(store.delete_sessions_of_certificate(inst, &fingerprint(4)).await.expect("delete"), 1);
    assert_eq!(store.session(&[4; 32]).await.expect("session"), None);
    assert!(store.session(&[3; 32]).await.expect("session").is_some(), "the session without a certificate stays");
    store.close().await;
    old.remove().await;
}

/// The old institution of [`VERSION_2_ROWS`].
fn old_institution() -> InstitutionId {
    "00000000-0000-4000-8000-000000000001".parse().expect("a UUID")
}

/// An emergency grant of `olduser` (from [`VERSION_2_ROWS`]) granted at 2026-01-01 00:00 UTC,
/// written outside the store with the given ID suffix, expiry and review columns (reviewer,
/// time, note); the literals parse on both backends.
macro_rules! insert_emergency_grant {
    ($id:literal, $expires_at:literal, $review:literal) => {
        concat!(
            "INSERT INTO emergency_grants (institution_id, id, user_id, patient_id, reason, granted_at, \
                                           expires_at, reviewed_by, reviewed_at, review_note) \
             VALUES ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000",
            $id,
            "', '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000099', '救急搬送', \
                     '2026-01-01T00:00:00.000000Z', '",
            $expires_at,
            "', ",
            $review,
            ");"
        )
    };
}

async fn the_schema_refuses_malformed_emergency_grants(_store: &dyn Store, db: &TestDb) {
    let current = database_at_version(db, LATEST_SCHEMA_VERSION, VERSION_2_ROWS).await;
    // Reviewed by `retiree`, a user of the same institution, with an empty note.
    let well_formed = insert_emergency_grant!(
        "10",
        "2026-01-01T01:00:00.000000Z",
        "'00000000-0000-4000-8000-000000000003', '2026-01-02T00:00:00.000000Z', ''"
    );
    execute_outside_the_store(&current, well_formed).await.expect("a well-formed grant");
    for (statement, why) in [
        (insert_emergency_grant!("11", "2026-01-01T00:00:00.000000Z", "NULL, NULL, NULL"), "expires when granted"),
        (insert_emergency_grant!("12", "2025-12-31T23:59:59.999999Z", "NULL, NULL, NULL"), "expires before"),
        (
            insert_emergency_grant!(
                "13",
                "2026-01-01T01:00:00.000000Z",
                "'00000000-0000-4000-8000-000000000003', NULL, NULL"
            ),
            "a reviewer without a time or a note",
        ),
        (
            insert_emergency_grant!("14", "2026-01-01T01:00:00.000000Z", "NULL, '2026-01-02T00:00:00.000000Z', ''"),
            "a review without a reviewer",
        ),
        (insert_emergency_grant!("15", "2026-01-01T01:00:00.000000Z", "NULL, NULL, ''"), "a note alone"),
        (
            insert_emergency_grant!(
                "16",
                "2026-01-01T01:00:00.000000Z",
                "'00000000-0000-4000-8000-000000000002', '2026-01-02T00:00:00.000000Z', ''"
            ),
            "a review by the grant's own user",
        ),
        (
            insert_emergency_grant!(
                "17",
                "2026-01-01T01:00:00.000000Z",
                "'00000000-0000-4000-8000-0000000000ff', '2026-01-02T00:00:00.000000Z', ''"
            ),
            "a reviewer who is not a user of the institution",
        ),
        (insert_emergency_grant!("10", "2026-01-01T01:00:00.000000Z", "NULL, NULL, NULL"), "a repeated ID"),
    ] {
        let result = execute_outside_the_store(&current, statement).await;
        assert!(result.is_err(), "{why}: {result:?}");
    }
    let store = current.open().await;
    let grants = store.emergency_grants(old_institution()).await.expect("grants");
    let reviews: Vec<_> = grants.into_iter().map(|g| g.review.map(|r| (r.reviewed_by.to_string(), r.note))).collect();
    assert_eq!(reviews, [Some(("00000000-0000-4000-8000-000000000003".to_owned(), String::new()))]);
    store.close().await;
    current.remove().await;
}

async fn the_emergency_migration_upgrades_a_version_5_database(_store: &dyn Store, db: &TestDb) {
    let old = database_at_version(db, 5, VERSION_2_ROWS).await;
    let rows = match old.backend() {
        Backend::Sqlite => [VERSION_3_SQLITE_ROWS, VERSION_4_SQLITE_ROWS],
        Backend::Postgres => [VERSION_3_POSTGRES_ROWS, VERSION_4_POSTGRES_ROWS],
    };
    for rows in rows {
        execute_outside_the_store(&old, rows).await.expect("version 5 rows");
    }
    let store = old.open().await;
    assert_eq!(store.schema_version().await.expect("schema version"), LATEST_SCHEMA_VERSION);
    let user = store.find_login(&login("olduser")).await.expect("find").expect("the old user is kept");
    let retiree = store.find_login(&login("retiree")).await.expect("find").expect("the retired user is kept");
    let inst = user.institution_id;
    assert_eq!(inst, old_institution());
    assert!(store.session(&[4; 32]).await.expect("session").is_some(), "the old sessions are kept");
    assert!(store.emergency_grants(inst).await.expect("grants").is_empty());

    // The new table works with the old rows.
    let mut rng = rng();
    let reviewer = store.create_user(inst, &new_user(&mut rng, "safety", &[Role::SystemAdministrator])).await;
    let reviewer = reviewer.expect("a new user of the old institution");
    let grant = emergency_grant(&mut rng, &user, T0);
    store.create_emergency_grant(&grant).await.expect("a grant of the old user");
    assert_eq!(store.active_emergency_grants(inst, user.id, T0).await.expect("active"), vec![grant.clone()]);
    let review = emergency_review(&reviewer, T0 + Duration::hours(2));
    assert!(store.review_emergency_grant(inst, grant.id, &review).await.expect("review"));
    let reviewed = EmergencyGrantRecord { review: Some(review), ..grant };
    let retirees = EmergencyGrantRecord {
        review: Some(emergency_review(&user, T0)),
        ..emergency_grant(&mut rng, &retiree, T0 - Duration::days(1))
    };
    store.create_emergency_grant(&retirees).await.expect("a reviewed grant of the retired user");
    assert_eq!(store.emergency_grants(inst).await.expect("grants"), vec![reviewed, retirees]);
    store.close().await;
    old.remove().await;
}

/// Inserts a category named `$name` of the old institution of [`VERSION_2_ROWS`], outside the
/// store.
macro_rules! insert_category_named {
    ($name:literal) => {
        concat!(
            "INSERT INTO categories (institution_id, name, label_ja, label_en, created_at) \
             VALUES ('00000000-0000-4000-8000-000000000001', '",
            $name,
            "', '区分', 'category', '2026-01-01T00:00:00.000000Z');"
        )
    };
}

/// Marks role `$role` of the old institution of [`VERSION_2_ROWS`] as changed by `$by` (a user
/// ID suffix), outside the store.
macro_rules! insert_role_policy {
    ($role:literal, $by:literal) => {
        concat!(
            "INSERT INTO role_policies (institution_id, role, changed_by, changed_at) \
             VALUES ('00000000-0000-4000-8000-000000000001', '",
            $role,
            "', '00000000-0000-4000-8000-0000000000",
            $by,
            "', '2026-01-01T00:00:00.000000Z');"
        )
    };
}

/// Grants `$action` on `$category` to role `$role` of the old institution of
/// [`VERSION_2_ROWS`], outside the store.
macro_rules! insert_role_grant {
    ($role:literal, $action:literal, $category:literal) => {
        concat!(
            "INSERT INTO role_grants (institution_id, role, action, category) \
             VALUES ('00000000-0000-4000-8000-000000000001', '",
            $role,
            "', '",
            $action,
            "', '",
            $category,
            "');"
        )
    };
}

async fn the_schema_refuses_malformed_categories_and_role_grants(_store: &dyn Store, db: &TestDb) {
    let current = database_at_version(db, LATEST_SCHEMA_VERSION, VERSION_2_ROWS).await;
    // The statements themselves are sound: well-formed rows go in.
    for statement in [
        insert_category_named!("genetic_test"),
        insert_category_named!("a"),
        insert_category_named!("z9______________________________________"),
        insert_role_policy!("doctor", "02"),
        insert_role_policy!("system_admin", "03"),
        insert_role_grant!("doctor", "read", "genetic_test"),
        insert_role_grant!("doctor", "export", "imaging"),
    ] {
        execute_outside_the_store(&current, statement).await.expect(statement);
    }
    for (statement, why) in [
        (insert_category_named!(""), "an empty name"),
        (insert_category_named!("Genetic"), "upper case"),
        (insert_category_named!("9lives"), "a leading digit"),
        (insert_category_named!("_x"), "a leading underscore"),
        (insert_category_named!("genetic-test"), "a hyphen"),
        (insert_category_named!("a b"), "a space"),
        (insert_category_named!("遺伝"), "not ASCII"),
        (insert_category_named!("z9_______________________________________"), "41 characters"),
        (insert_category_named!("imaging"), "a built-in name"),
        (insert_category_named!("clinical_record"), "a built-in name"),
        (insert_category_named!("psychiatric"), "a built-in name"),
        (insert_category_named!("genetic_test"), "a repeated name"),
        (insert_role_policy!("admin", "02"), "an unknown role"),
        (insert_role_policy!("Doctor", "02"), "an unknown role"),
        (insert_role_policy!("nurse", "ff"), "an author who is not a user of the institution"),
        (insert_role_policy!("doctor", "03"), "a repeated role"),
        (insert_role_grant!("doctor", "delete", "imaging"), "an unknown action"),
        (insert_role_grant!("doctor", "READ", "imaging"), "an unknown action"),
        (insert_role_grant!("doctor", "read", "Imaging"), "a malformed category"),
        (insert_role_grant!("doctor", "read", ""), "an empty category"),
        (insert_role_grant!("nurse", "read", "imaging"), "a role that was not changed"),
        (insert_role_grant!("doctor", "read", "genetic_test"), "a repeated grant"),
    ] {
        let result = execute_outside_the_store(&current, statement).await;
        assert!(result.is_err(), "{why}: {result:?}");
    }
    let store = current.open().await;
    let inst = old_institution();
    let names: Vec<String> =
        store.categories(inst).await.expect("categories").into_iter().map(|d| d.category.to_string()).collect();
    assert_eq!(names, ["a", "genetic_test", "z9______________________________________"]);
    let doctor = vec![(Action::Read, category("genetic_test")), (Action::Export, Category::IMAGING)];
    let expected = vec![(Role::Doctor, doctor), (Role::SystemAdministrator, vec![])];
    assert_eq!(store.role_grants(inst).await.expect("role grants"), expected);
    // A role's grants go with its policy row (there is no delete path in the store).
    let deleted = execute_outside_the_store(&current, "DELETE FROM role_policies WHERE role = 'doctor'").await;
    assert_eq!(deleted.expect("delete"), 1);
    let remaining = execute_outside_the_store(&current, "DELETE FROM role_grants").await;
    assert_eq!(remaining.expect("no grants left"), 0);
    store.close().await;
    current.remove().await;
}

/// Seals `olduser` of [`VERSION_2_ROWS`] with generation `$generation`, outside the store.
macro_rules! insert_sealed_account {
    ($user:literal, $generation:literal) => {
        concat!(
            "INSERT INTO sealed_accounts (institution_id, user_id, generation, sealed_at) \
             VALUES ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000",
            $user,
            "', ",
            $generation,
            ", '2026-01-01T00:00:00.000000Z');"
        )
    };
}

/// An activation of the account with user ID suffix `$user`, confirmed by `$by`, activated at
/// 2026-01-01 00:00 UTC, with the given expiry and closing time, outside the store.
macro_rules! insert_sealed_activation {
    ($id:literal, $user:literal, $by:literal, $expires_at:literal, $closed_at:literal) => {
        concat!(
            "INSERT INTO sealed_activations (institution_id, id, user_id, generation, used_by, reason, \
                                             confirmed_by, activated_at, expires_at, closed_at) \
             VALUES ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000",
            $id,
            "', '00000000-0000-4000-8000-0000000000",
            $user,
            "', 1, '山田 花子', '停電', '00000000-0000-4000-8000-0000000000",
            $by,
            "', '2026-01-01T00:00:00.000000Z', '",
            $expires_at,
            "', ",
            $closed_at,
            ");"
        )
    };
}

async fn the_schema_refuses_malformed_sealed_accounts_and_activations(_store: &dyn Store, db: &TestDb) {
    let current = database_at_version(db, LATEST_SCHEMA_VERSION, VERSION_2_ROWS).await;
    // `olduser` (02) is sealed and confirmed by `retiree` (03); the statements are sound.
    for statement in [
        insert_sealed_account!("02", "1"),
        insert_sealed_activation!("10", "02", "03", "2026-01-01T08:00:00.000000Z", "NULL"),
        insert_sealed_activation!("11", "02", "03", "2026-01-01T08:00:00.000000Z", "'2026-01-01T00:00:00.000000Z'"),
    ] {
        execute_outside_the_store(&current, statement).await.expect(statement);
    }
    for (statement, why) in [
        (insert_sealed_account!("03", "0"), "generation 0"),
        (insert_sealed_account!("03", "4294967296"), "a generation beyond a u32"),
        (insert_sealed_account!("ff", "1"), "not a user of the institution"),
        (insert_sealed_account!("02", "2"), "sealed twice"),
        (insert_sealed_activation!("12", "03", "02", "2026-01-01T08:00:00.000000Z", "NULL"), "not a sealed account"),
        (insert_sealed_activation!("13", "02", "02", "2026-01-01T08:00:00.000000Z", "NULL"), "confirmed by itself"),
        (insert_sealed_activation!("14", "02", "ff", "2026-01-01T08:00:00.000000Z", "NULL"), "an unknown confirmer"),
        (insert_sealed_activation!("15", "02", "03", "2026-01-01T00:00:00.000000Z", "NULL"), "expires when activated"),
        (
            insert_sealed_activation!("16", "02", "03", "2026-01-01T08:00:00.000000Z", "'2025-12-31T23:59:59.999999Z'"),
            "closed before it was activated",
        ),
        (insert_sealed_activation!("10", "02", "03", "2026-01-01T08:00:00.000000Z", "NULL"), "a repeated ID"),
    ] {
        let result = execute_outside_the_store(&current, statement).await;
        assert!(result.is_err(), "{why}: {result:?}");
    }
    let store = current.open().await;
    let inst = old_institution();
    let accounts = store.sealed_accounts(inst).await.expect("sealed accounts");
    assert_eq!(
        accounts.iter().map(|s| (s.user.to_string(), s.generation)).collect::<Vec<_>>(),
        [("00000000-0000-4000-8000-000000000002".to_owned(), 1)]
    );
    let activations = store.sealed_activations(inst).await.expect("activations");
    let closed: Vec<_> = activations.iter().map(|x| x.closed_at.is_some()).collect();
    assert_eq!(closed, [false, true], "the same activation time, by ID");
    store.close().await;
    current.remove().await;
}

async fn the_policy_migration_upgrades_a_version_6_database(_store: &dyn Store, db: &TestDb) {
    let old = database_at_version(db, 6, VERSION_2_ROWS).await;
    let rows = match old.backend() {
        Backend::Sqlite => [VERSION_3_SQLITE_ROWS, VERSION_4_SQLITE_ROWS],
        Backend::Postgres => [VERSION_3_POSTGRES_ROWS, VERSION_4_POSTGRES_ROWS],
    };
    for rows in rows {
        execute_outside_the_store(&old, rows).await.expect("version 6 rows");
    }
    let grant = insert_emergency_grant!("10", "2026-01-01T01:00:00.000000Z", "NULL, NULL, NULL");
    execute_outside_the_store(&old, grant).await.expect("a version 6 emergency grant");
    let store = old.open().await;
    assert_eq!(store.schema_version().await.expect("schema version"), LATEST_SCHEMA_VERSION);
    let user = store.find_login(&login("olduser")).await.expect("find").expect("the old user is kept");
    let inst = user.institution_id;
    assert_eq!(inst, old_institution());
    assert!(store.session(&[4; 32]).await.expect("session").is_some(), "the old sessions are kept");
    assert_eq!(store.emergency_grants(inst).await.expect("grants").len(), 1, "the old grant is kept");
    assert!(store.sealed_accounts(inst).await.expect("sealed accounts").is_empty());
    assert!(store.categories(inst).await.expect("categories").is_empty());
    assert!(store.role_grants(inst).await.expect("role grants").is_empty());

    // The new tables work with the old rows.
    let mut rng = rng();
    let confirmer = store.create_user(inst, &new_user(&mut rng, "kakunin", &[Role::Doctor])).await;
    let confirmer = confirmer.expect("a new user of the old institution");
    store.seal_account(&sealed(&user, T0)).await.expect("seal the old user");
    let activation = sealed_activation(&mut rng, &user, &confirmer, T0);
    store.create_sealed_activation(&activation).await.expect("activate");
    assert_eq!(store.active_sealed_activation(inst, user.id, T0).await.expect("active"), Some(activation));
    assert_eq!(store.close_sealed_account(inst, user.id, T0 + Duration::hours(1)).await.expect("close"), 2);
    assert_eq!(store.active_sealed_activation(inst, user.id, T0).await.expect("active"), None);
    let def = category_def(inst, "genetic_test");
    store.add_category(&def).await.expect("a category of the old institution");
    assert_eq!(store.categories(inst).await.expect("categories"), vec![def]);
    let grants = [(Action::Read, category("genetic_test"))];
    store.set_role_grants(inst, Role::Doctor, &grants, user.id, T0).await.expect("changed by the old user");
    assert_eq!(store.role_grants(inst).await.expect("role grants"), vec![(Role::Doctor, grants.to_vec())]);
    store.close().await;
    old.remove().await;
}

// ---------------------------------------------------------------------------------------------
// The institution's tamper-evident log (migration 0008)
// ---------------------------------------------------------------------------------------------

/// A canonical audit event of `institution` by mamori itself, `n` seconds after T0; its detail
/// `n` keeps every leaf distinct.
fn tick(institution: InstitutionId, n: u32) -> AuditEvent {
    AuditEvent::new(institution, T0 + Duration::seconds(n.into()), Actor::System, "system.tick", Outcome::Allowed)
        .detail("n", n.to_string())
}

/// The entries of [`tick`]s `range` of `institution`.
fn ticks(institution: InstitutionId, range: std::ops::Range<u32>) -> Vec<LogEntry> {
    range.map(|n| tick(institution, n).entry().expect("a valid event")).collect()
}

/// A cheap entry (the leaf is not an audit event's JSON: the store does not read leaves).
fn bulk_entry(n: u64) -> LogEntry {
    LogEntry {
        leaf: n.to_be_bytes().to_vec(),
        kind: mamori_core::audit::LeafKind::Audit,
        columns: AuditColumns {
            at: T0,
            actor: None,
            patient: None,
            action: "bulk".to_owned(),
            outcome: Outcome::Allowed,
            category: None,
        },
    }
}

/// The tree of these leaves, built independently of the store and of `Frontier`.
fn reference_tree<'a>(leaves: impl IntoIterator<Item = &'a Vec<u8>>) -> MemoryTree {
    MemoryTree::from_leaf_hashes(leaves.into_iter().map(|leaf| leaf_hash(leaf)))
}

fn reference_head(tree: &MemoryTree) -> LogHead {
    let root = merkle::root(tree, tree.size()).expect("every node of the tree");
    LogHead { size: tree.size(), root: *root.as_bytes() }
}

/// Nodes as the store returned them, as a [`NodeSource`] for the ledger's proofs.
#[derive(Debug, Default)]
struct StoredNodes(std::collections::HashMap<(u8, u64), Hash>);

impl NodeSource for StoredNodes {
    type Error = (u8, u64);

    fn node(&self, level: u8, index: u64) -> Result<Hash, (u8, u64)> {
        self.0.get(&(level, index)).copied().ok_or((level, index))
    }
}

/// Every perfect-subtree node of the institution's tree of `size` leaves, read through
/// `log_nodes` (at most 1000 at a time), checked to be exactly the complete nodes: each is
/// stored, and the next node of each level (not complete yet) is not.
async fn stored_nodes(store: &dyn Store, institution: InstitutionId, size: u64) -> StoredNodes {
    let complete: Vec<(u8, u64)> =
        (0u8..64).flat_map(|level| (0..size.checked_shr(level.into()).unwrap_or(0)).map(move |i| (level, i))).collect();
    let mut nodes = StoredNodes::default();
    for chunk in complete.chunks(1000) {
        let hashes = store.log_nodes(institution, chunk).await.expect("log nodes");
        assert_eq!(hashes.len(), chunk.len());
        for (&address, hash) in chunk.iter().zip(hashes) {
            let hash = hash.unwrap_or_else(|| panic!("node {address:?} of a tree of {size} is stored"));
            nodes.0.insert(address, Hash::from_bytes(hash));
        }
    }
    let incomplete: Vec<(u8, u64)> = (0u8..8).map(|level| (level, size >> level)).collect();
    let hashes = store.log_nodes(institution, &incomplete).await.expect("log nodes");
    assert!(hashes.iter().all(Option::is_none), "no node beyond a tree of {size}: {hashes:?}");
    nodes
}

/// Every leaf of the institution's log, in order.
async fn all_leaves(store: &dyn Store, institution: InstitutionId) -> Vec<(u64, Vec<u8>, [u8; 32])> {
    store.log_leaves(institution, 0, u64::MAX).await.expect("log leaves")
}

async fn log_appends_agree_with_the_reference_tree(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let inst = institution(&mut rng, "まもり診療所", T0);
    store.create_institution(&inst).await.expect("create institution");
    let empty = LogHead { size: 0, root: *empty_root().as_bytes() };
    assert_eq!(empty.root, *Hash::from_hex(EMPTY_SHA256).expect("hex").as_bytes());
    assert_eq!(store.log_head(inst.id).await.expect("head"), empty);
    assert!(all_leaves(store, inst.id).await.is_empty());
    assert_eq!(store.log_nodes(inst.id, &[(0, 0)]).await.expect("nodes"), [None]);

    let mut leaves: Vec<Vec<u8>> = Vec::new();
    let mut next = 0u32;
    for batch in [1u32, 3, 7, 1, 2, 5, 1] {
        let entries = ticks(inst.id, next..next + batch);
        next += batch;
        let old_size = leaves.len() as u64;
        let head = store.append_log(inst.id, &entries).await.expect("append");
        leaves.extend(entries.iter().map(|e| e.leaf.clone()));
        let tree = reference_tree(&leaves);
        assert_eq!(head, reference_head(&tree), "after {} leaves", leaves.len());
        assert_eq!(store.log_head(inst.id).await.expect("head"), head);

        // The batch went in at the old size, in order, each leaf with its hash.
        let stored = store.log_leaves(inst.id, old_size, u64::MAX).await.expect("leaves");
        let expected: Vec<_> =
            (old_size..).zip(&entries).map(|(i, e)| (i, e.leaf.clone(), *leaf_hash(&e.leaf).as_bytes())).collect();
        assert_eq!(stored, expected);

        // Every complete node is stored, equal to the reference tree's.
        let nodes = stored_nodes(store, inst.id, head.size).await;
        for (&(level, index), hash) in &nodes.0 {
            assert_eq!(Ok(*hash), tree.node(level, index), "node ({level}, {index})");
        }
    }
    assert_eq!(leaves.len(), 20);
    let all = all_leaves(store, inst.id).await;
    assert_eq!(all.iter().map(|(i, _, _)| *i).collect::<Vec<_>>(), (0..20).collect::<Vec<_>>());
    assert_eq!(all.iter().map(|(_, leaf, _)| leaf.clone()).collect::<Vec<_>>(), leaves);
    // Every prefix's root follows from the stored nodes as from the reference tree.
    let nodes = stored_nodes(store, inst.id, 20).await;
    for size in 0..=20u64 {
        let prefix = reference_tree(leaves.iter().take(size as usize));
        assert_eq!(merkle::root(&nodes, size).ok(), merkle::root(&prefix, size).ok(), "size {size}");
    }
}

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

async fn log_nodes_serve_inclusion_and_consistency_proofs(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let inst = institution(&mut rng, "まもり診療所", T0);
    store.create_institution(&inst).await.expect("create institution");
    let mut heads = vec![store.log_head(inst.id).await.expect("head")];
    let mut next = 0u32;
    for batch in [1u32, 1, 2, 3, 1, 7, 5] {
        heads.push(store.append_log(inst.id, &ticks(inst.id, next..next + batch)).await.expect("append"));
        next += batch;
    }
    let last = *heads.last().expect("heads");
    assert_eq!(last.size, 20);
    let leaves = all_leaves(store, inst.id).await;
    let nodes = stored_nodes(store, inst.id, last.size).await;
    for head in &heads {
        let root = Hash::from_bytes(head.root);
        // Each leaf is in each head, by a proof built from the stored nodes alone.
        for (index, leaf, hash) in leaves.iter().take(head.size as usize) {
            assert_eq!(Hash::from_bytes(*hash), leaf_hash(leaf));
            let proof = inclusion_proof(&nodes, *index, head.size).expect("inclusion proof");
            verify_inclusion(&leaf_hash(leaf), *index, head.size, &proof, &root)
                .unwrap_or_else(|e| panic!("leaf {index} in the tree of {}: {e}", head.size));
            let wrong = Hash::from_bytes([0xee; 32]);
            assert!(verify_inclusion(&wrong, *index, head.size, &proof, &root).is_err());
        }
        // Each head extends every earlier one.
        for old in heads.iter().filter(|old| old.size <= head.size) {
            let proof = consistency_proof(&nodes, old.size, head.size).expect("consistency proof");
            verify_consistency(old.size, head.size, &Hash::from_bytes(old.root), &root, &proof)
                .unwrap_or_else(|e| panic!("{} extends {}: {e}", head.size, old.size));
        }
    }
}

async fn logs_of_institutions_are_independent_and_invisible_to_each_other(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let (a, b) = (institution(&mut rng, "A病院", T0), institution(&mut rng, "B病院", T0));
    store.create_institution(&a).await.expect("create A");
    store.create_institution(&b).await.expect("create B");
    let unknown = InstitutionId::generate(&mut rng);
    let a_entries = ticks(a.id, 0..5);
    let b_entries = ticks(b.id, 100..103);
    let a_head = store.append_log(a.id, &a_entries).await.expect("append A");
    // The very same leaf bytes in B's log are B's leaf, at B's index.
    let mut b_all = b_entries.clone();
    b_all.push(a_entries[0].clone());
    let b_head = store.append_log(b.id, &b_all).await.expect("append B");
    assert_eq!(a_head, reference_head(&reference_tree(a_entries.iter().map(|e| &e.leaf))));
    assert_eq!(b_head, reference_head(&reference_tree(b_all.iter().map(|e| &e.leaf))));
    assert_eq!(store.log_head(a.id).await.expect("A head"), a_head);
    assert_eq!(store.log_head(b.id).await.expect("B head"), b_head);

    let leaves_of = |leaves: Vec<(u64, Vec<u8>, [u8; 32])>| leaves.into_iter().map(|(_, l, _)| l).collect::<Vec<_>>();
    assert_eq!(leaves_of(all_leaves(store, a.id).await), a_entries.iter().map(|e| e.leaf.clone()).collect::<Vec<_>>());
    assert_eq!(leaves_of(all_leaves(store, b.id).await), b_all.iter().map(|e| e.leaf.clone()).collect::<Vec<_>>());
    // B (4 leaves) has no node where only A (5 leaves) has one, and its nodes are its own.
    assert_eq!(store.log_nodes(b.id, &[(0, 4)]).await.expect("B nodes"), [None]);
    assert!(store.log_nodes(a.id, &[(0, 4)]).await.expect("A nodes")[0].is_some());
    let (a_top, b_top) = (stored_nodes(store, a.id, 5).await, stored_nodes(store, b.id, 4).await);
    assert_ne!(a_top.0.get(&(2, 0)), b_top.0.get(&(2, 0)));
    assert_eq!(b_top.0.get(&(2, 0)).map(|h| *h.as_bytes()), Some(b_head.root));
    let everything = AuditQuery { limit: 1000, ..AuditQuery::default() };
    let a_found = store.audit_search(a.id, &everything).await.expect("search A");
    assert_eq!(a_found.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [4, 3, 2, 1, 0]);
    let b_found = store.audit_search(b.id, &everything).await.expect("search B");
    assert_eq!(b_found.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>()[0], a_entries[0].leaf);
    assert_eq!(b_found.len(), 4);

    // An unknown institution has an empty log and finds nothing.
    assert_eq!(store.log_head(unknown).await.expect("head"), LogHead { size: 0, root: *empty_root().as_bytes() });
    assert!(all_leaves(store, unknown).await.is_empty());
    assert_eq!(store.log_nodes(unknown, &[(0, 0), (1, 0)]).await.expect("nodes"), [None, None]);
    assert!(store.audit_search(unknown, &everything).await.expect("search").is_empty());
    // A's log did not move.
    assert_eq!(store.log_head(a.id).await.expect("A head"), a_head);
}

async fn log_leaves_are_clamped_to_the_size_and_capped_at_ten_thousand(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let inst = institution(&mut rng, "まもり診療所", T0);
    store.create_institution(&inst).await.expect("create institution");
    let entries: Vec<LogEntry> = (0..10_005).map(bulk_entry).collect();
    let head = store.append_log(inst.id, &entries).await.expect("append");
    assert_eq!(head.size, 10_005);
    assert_eq!(head, reference_head(&reference_tree(entries.iter().map(|e| &e.leaf))));

    let indexes = |leaves: Vec<(u64, Vec<u8>, [u8; 32])>| leaves.into_iter().map(|(i, _, _)| i).collect::<Vec<_>>();
    assert_eq!(indexes(store.log_leaves(inst.id, 0, u64::MAX).await.expect("leaves")), (0..10_000).collect::<Vec<_>>());
    assert_eq!(indexes(store.log_leaves(inst.id, 3, 20_000).await.expect("leaves")), (3..10_003).collect::<Vec<_>>());
    assert_eq!(
        indexes(store.log_leaves(inst.id, 10_000, 20_000).await.expect("leaves")),
        (10_000..10_005).collect::<Vec<_>>()
    );
    assert_eq!(indexes(store.log_leaves(inst.id, 9_990, 9_993).await.expect("leaves")), [9_990, 9_991, 9_992]);
    for (start, end) in [(10_005, 10_010), (10_006, u64::MAX), (7, 7), (8, 7), (u64::MAX - 1, u64::MAX), (u64::MAX, 0)]
    {
        assert!(store.log_leaves(inst.id, start, end).await.expect("leaves").is_empty(), "{start}..{end}");
    }
    let leaves = store.log_leaves(inst.id, 42, 43).await.expect("leaves");
    assert_eq!(leaves, [(42, 42u64.to_be_bytes().to_vec(), *leaf_hash(&42u64.to_be_bytes()).as_bytes())]);

    // Searches stop at 1000, and return at least one.
    let search = |limit| AuditQuery { limit, ..AuditQuery::default() };
    let found = store.audit_search(inst.id, &search(u32::MAX)).await.expect("search");
    assert_eq!(found.iter().map(|(i, _)| *i).collect::<Vec<_>>(), (9_005..10_005).rev().collect::<Vec<_>>());
    assert_eq!(store.audit_search(inst.id, &search(1001)).await.expect("search").len(), 1000);
    assert_eq!(
        store.audit_search(inst.id, &search(0)).await.expect("search"),
        [(10_004, entries[10_004].leaf.clone())]
    );
}

async fn log_nodes_answer_in_the_order_asked_and_at_most_a_thousand(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let inst = institution(&mut rng, "まもり診療所", T0);
    store.create_institution(&inst).await.expect("create institution");
    let entries = ticks(inst.id, 0..6);
    store.append_log(inst.id, &entries).await.expect("append");
    let tree = reference_tree(entries.iter().map(|e| &e.leaf));
    let node = |level, index| Some(*tree.node(level, index).expect("reference node").as_bytes());
    let asked = [(1, 2), (0, 5), (2, 1), (0, 6), (64, 0), (255, 0), (0, u64::MAX), (2, 0), (0, 5), (1, 0)];
    assert_eq!(
        store.log_nodes(inst.id, &asked).await.expect("nodes"),
        [node(1, 2), node(0, 5), None, None, None, None, None, node(2, 0), node(0, 5), node(1, 0)]
    );
    assert!(store.log_nodes(inst.id, &[]).await.expect("no nodes").is_empty());
    let thousand: Vec<(u8, u64)> = (0..1000).map(|i| (0, i)).collect();
    let answered = store.log_nodes(inst.id, &thousand).await.expect("a thousand nodes");
    assert_eq!(answered.len(), 1000);
    assert_eq!(answered.iter().filter(|n| n.is_some()).count(), 6);
    let too_many: Vec<(u8, u64)> = (0..1001).map(|i| (0, i)).collect();
    let err = store.log_nodes(inst.id, &too_many).await;
    assert!(matches!(err, Err(StoreError::TooMany { what: "log nodes", max: 1000 })), "{err:?}");
}

/// One audit event for the search checks: by `actor` (or mamori itself), about `patient`,
/// `minutes` after T0.
fn audit_event(
    institution: InstitutionId,
    actor: Option<UserId>,
    patient: Option<PatientId>,
    action: &str,
    outcome: Outcome,
    minutes: i64,
) -> LogEntry {
    let who = actor.map_or(Actor::System, |user| Actor::User { user, roles: vec![Role::Doctor] });
    let mut event = AuditEvent::new(institution, T0 + Duration::minutes(minutes), who, action, outcome);
    if let Some(patient) = patient {
        event = event.patient(patient).category(&Category::CLINICAL_RECORD);
    }
    event.entry().expect("a valid event")
}

/// Whether the leaf at `index` with `columns` matches `query`, as the store's contract says.
fn search_matches(index: u64, columns: &AuditColumns, query: &AuditQuery) -> bool {
    query.from.is_none_or(|from| columns.at >= from)
        && query.until.is_none_or(|until| columns.at < until)
        && query.actor.is_none_or(|actor| columns.actor == Some(actor))
        && query.patient.is_none_or(|patient| columns.patient == Some(patient))
        && query.action.as_ref().is_none_or(|action| &columns.action == action)
        && query.outcome.is_none_or(|outcome| columns.outcome == outcome)
        && query.before_index.is_none_or(|before| index < before)
}

async fn audit_search_filters_by_every_field_newest_first_and_pages(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let inst = two.a.id;
    let (u1, u2) = (two.alice.id, two.carol.id);
    let (p1, p2) = (PatientId::generate(&mut rng), PatientId::generate(&mut rng));
    use Outcome::{Allowed, Denied, Error};
    let specs = [
        (Some(u1), None, "login", Allowed, 0),
        (Some(u1), Some(p1), "record.read", Allowed, 1),
        (Some(u2), Some(p1), "record.read", Denied, 2),
        (None, None, "system.tick", Allowed, 2),
        (Some(u1), Some(p2), "record.write", Allowed, 3),
        (Some(u2), Some(p2), "record.read", Allowed, 5),
        (None, None, "login", Denied, 5),
        (Some(u1), Some(p1), "record.read", Error, 8),
        (Some(u2), None, "login", Allowed, 9),
        (Some(u1), Some(p1), "record.write", Denied, 13),
        (Some(u2), Some(p1), "record.read", Allowed, 21),
        (Some(u1), None, "logout", Allowed, 34),
    ];
    let entries: Vec<LogEntry> = specs
        .iter()
        .map(|&(actor, patient, action, outcome, m)| audit_event(inst, actor, patient, action, outcome, m))
        .collect();
    // Two appends, and B's log holding the same kinds of events (never found through A).
    store.append_log(inst, &entries[..5]).await.expect("append");
    let b_entries: Vec<LogEntry> = specs
        .iter()
        .map(|&(actor, patient, action, outcome, m)| audit_event(two.b.id, actor, patient, action, outcome, m))
        .collect();
    store.append_log(two.b.id, &b_entries).await.expect("append B");
    store.append_log(inst, &entries[5..]).await.expect("append");

    let at = |minutes: i64| T0 + Duration::minutes(minutes);
    let all = AuditQuery { limit: 1000, ..AuditQuery::default() };
    let queries = [
        all.clone(),
        AuditQuery { actor: Some(u1), ..all.clone() },
        AuditQuery { actor: Some(u2), ..all.clone() },
        AuditQuery { actor: Some(two.bob.id), ..all.clone() },
        AuditQuery { patient: Some(p1), ..all.clone() },
        AuditQuery { patient: Some(p2), ..all.clone() },
        AuditQuery { action: Some("record.read".to_owned()), ..all.clone() },
        AuditQuery { action: Some("login".to_owned()), ..all.clone() },
        AuditQuery { action: Some("record".to_owned()), ..all.clone() },
        AuditQuery { outcome: Some(Allowed), ..all.clone() },
        AuditQuery { outcome: Some(Denied), ..all.clone() },
        AuditQuery { outcome: Some(Error), ..all.clone() },
        // `from` is inclusive, `until` exclusive, whatever the offset they are given in.
        AuditQuery { from: Some(at(5)), ..all.clone() },
        AuditQuery { until: Some(at(5)), ..all.clone() },
        AuditQuery { from: Some(at(2)), until: Some(at(9)), ..all.clone() },
        AuditQuery { from: Some(at(5).to_offset(time::macros::offset!(+9))), ..all.clone() },
        AuditQuery { from: Some(at(9)), until: Some(at(9)), ..all.clone() },
        AuditQuery { before_index: Some(5), ..all.clone() },
        AuditQuery { before_index: Some(0), ..all.clone() },
        AuditQuery { before_index: Some(u64::MAX), ..all.clone() },
        // Combinations narrow further.
        AuditQuery { actor: Some(u1), patient: Some(p1), ..all.clone() },
        AuditQuery { actor: Some(u1), patient: Some(p1), action: Some("record.read".to_owned()), ..all.clone() },
        AuditQuery { patient: Some(p1), outcome: Some(Allowed), from: Some(at(2)), ..all.clone() },
        AuditQuery { actor: Some(u2), action: Some("record.read".to_owned()), outcome: Some(Allowed), ..all.clone() },
        AuditQuery { actor: Some(u1), outcome: Some(Denied), before_index: Some(9), ..all.clone() },
        AuditQuery { patient: Some(p2), action: Some("login".to_owned()), ..all.clone() },
        AuditQuery {
            from: Some(at(1)),
            until: Some(at(30)),
            actor: Some(u1),
            patient: Some(p1),
            action: Some("record.write".to_owned()),
            outcome: Some(Denied),
            before_index: Some(10),
            limit: 10,
        },
        // Limits.
        AuditQuery { limit: 3, ..all.clone() },
        AuditQuery { limit: 0, ..all.clone() },
        AuditQuery { limit: 1, actor: Some(u2), ..all.clone() },
    ];
    for query in &queries {
        let limit = query.limit.clamp(1, 1000) as usize;
        let expected: Vec<(u64, Vec<u8>)> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u64, e))
            .filter(|(i, e)| search_matches(*i, &e.columns, query))
            .map(|(i, e)| (i, e.leaf.clone()))
            .rev()
            .take(limit)
            .collect();
        assert_eq!(store.audit_search(inst, query).await.expect("search"), expected, "{query:?}");
    }
    // The oracle is not vacuous: the narrow queries found something and so did the wide ones.
    let count = |query: AuditQuery| async move { store.audit_search(inst, &query).await.expect("search").len() };
    assert_eq!(count(all.clone()).await, 12);
    assert_eq!(count(AuditQuery { actor: Some(u1), patient: Some(p1), ..all.clone() }).await, 3);
    assert_eq!(count(AuditQuery { from: Some(at(5)), ..all.clone() }).await, 7);
    assert_eq!(count(AuditQuery { until: Some(at(5)), ..all.clone() }).await, 5);

    // Paging backwards with `before_index` visits every match once, newest first.
    let mut pages = Vec::new();
    let mut query = AuditQuery { patient: Some(p1), limit: 2, ..AuditQuery::default() };
    loop {
        let page = store.audit_search(inst, &query).await.expect("page");
        let Some(&(last, _)) = page.last() else { break };
        assert!(page.len() <= 2);
        pages.extend(page.into_iter().map(|(i, _)| i));
        query.before_index = Some(last);
    }
    assert_eq!(pages, [10, 9, 7, 2, 1]);
}

async fn appending_nothing_or_to_an_unknown_institution_changes_nothing(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let inst = institution(&mut rng, "まもり診療所", T0);
    store.create_institution(&inst).await.expect("create institution");
    let unknown = InstitutionId::generate(&mut rng);
    let empty = LogHead { size: 0, root: *empty_root().as_bytes() };

    assert_eq!(store.append_log(inst.id, &[]).await.expect("append nothing"), empty);
    for entries in [ticks(unknown, 0..3), Vec::new()] {
        let err = store.append_log(unknown, &entries).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: "institution" })), "{err:?}");
    }
    assert_eq!(store.log_head(unknown).await.expect("head"), empty);
    assert!(all_leaves(store, unknown).await.is_empty());
    assert_eq!(store.log_nodes(unknown, &[(0, 0)]).await.expect("nodes"), [None]);

    let entries = ticks(inst.id, 0..3);
    let head = store.append_log(inst.id, &entries).await.expect("append");
    assert_eq!(store.append_log(inst.id, &[]).await.expect("append nothing"), head);
    assert_eq!(store.log_head(inst.id).await.expect("head"), head);

    // A batch whose third entry the schema refuses leaves nothing behind, not even its first
    // two entries or their nodes; the log then continues at the old size.
    let mut batch = ticks(inst.id, 3..6);
    batch[2].columns.action = "Not An Action".to_owned();
    let err = store.append_log(inst.id, &batch).await;
    assert!(matches!(err, Err(StoreError::Database { .. })), "{err:?}");
    assert_eq!(store.log_head(inst.id).await.expect("head"), head);
    assert_eq!(all_leaves(store, inst.id).await.len(), 3);
    assert_eq!(store.log_nodes(inst.id, &[(0, 3), (0, 4), (2, 0)]).await.expect("nodes"), [None, None, None]);
    let good = ticks(inst.id, 3..6);
    let head = store.append_log(inst.id, &good).await.expect("append");
    let leaves: Vec<Vec<u8>> = entries.iter().chain(&good).map(|e| e.leaf.clone()).collect();
    assert_eq!(head, reference_head(&reference_tree(&leaves)));
    stored_nodes(store, inst.id, 6).await;
}

async fn a_corrupt_stored_frontier_is_reported_and_nothing_is_appended(store: &dyn Store, db: &TestDb) {
    let mut rng = rng();
    let inst = institution(&mut rng, "まもり診療所", T0);
    store.create_institution(&inst).await.expect("create institution");
    let head = store.append_log(inst.id, &ticks(inst.id, 0..3)).await.expect("append");
    // Size 3 needs two hashes; this frontier has none (its length passes the schema's check).
    let corrupt = match db.backend() {
        Backend::Sqlite => "UPDATE log_heads SET frontier = X'0000000000000003'",
        Backend::Postgres => "UPDATE log_heads SET frontier = decode('0000000000000003', 'hex')",
    };
    assert_eq!(execute_outside_the_store(db, corrupt).await.expect("corrupt the frontier"), 1);
    let err = store.append_log(inst.id, &ticks(inst.id, 3..4)).await;
    assert!(matches!(&err, Err(StoreError::Corrupt { detail }) if detail.starts_with("log_heads.frontier")), "{err:?}");
    assert_eq!(store.log_head(inst.id).await.expect("head"), head);
    assert_eq!(all_leaves(store, inst.id).await.len(), 3);
    assert_eq!(store.log_nodes(inst.id, &[(0, 3)]).await.expect("nodes"), [None]);

    // A well-formed frontier of another tree is corrupt too: it does not match the head.
    let other = match db.backend() {
        Backend::Sqlite => concat!(
            "UPDATE log_heads SET frontier = X'0000000000000001",
            "0000000000000000000000000000000000000000000000000000000000000000'"
        ),
        Backend::Postgres => "UPDATE log_heads SET frontier = decode('0000000000000001' || repeat('00', 32), 'hex')",
    };
    assert_eq!(execute_outside_the_store(db, other).await.expect("replace the frontier"), 1);
    let err = store.append_log(inst.id, &ticks(inst.id, 3..4)).await;
    assert!(matches!(&err, Err(StoreError::Corrupt { detail }) if detail.starts_with("log_heads.frontier")), "{err:?}");
    assert_eq!(all_leaves(store, inst.id).await.len(), 3);
}

async fn concurrent_appends_are_serialized_per_institution(_store: &dyn Store, db: &TestDb) {
    let store = db.open().await;
    let mut rng = rng();
    let inst = institution(&mut rng, "まもり診療所", T0);
    store.create_institution(&inst).await.expect("create institution");
    // Eight writers start at once on a log that has no head yet, each appending five entries
    // one at a time.
    let id = inst.id;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..8u32 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut sizes = Vec::new();
            for k in 0..5u32 {
                let entry = tick(id, task * 100 + k).entry().expect("a valid event");
                sizes.push(store.append_log(id, &[entry]).await.expect("append").size);
            }
            sizes
        });
    }
    let mut sizes = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let task_sizes = result.expect("task");
        assert!(task_sizes.is_sorted(), "one writer's appends are in order: {task_sizes:?}");
        sizes.extend(task_sizes);
    }
    sizes.sort_unstable();
    assert_eq!(sizes, (1..=40).collect::<Vec<u64>>(), "every append saw its own new size");

    let head = store.log_head(inst.id).await.expect("head");
    assert_eq!(head.size, 40);
    let leaves = all_leaves(&*store, inst.id).await;
    assert_eq!(leaves.iter().map(|(i, _, _)| *i).collect::<Vec<_>>(), (0..40).collect::<Vec<_>>());
    let mut appended: Vec<Vec<u8>> = (0..8u32)
        .flat_map(|t| (0..5u32).map(move |k| t * 100 + k))
        .map(|n| tick(inst.id, n).to_leaf().expect("leaf"))
        .collect();
    let mut stored: Vec<Vec<u8>> = leaves.iter().map(|(_, leaf, _)| leaf.clone()).collect();
    let tree = reference_tree(&stored);
    assert_eq!(head, reference_head(&tree), "the root is the tree of the leaves in index order");
    let nodes = stored_nodes(&*store, inst.id, 40).await;
    for (&(level, index), hash) in &nodes.0 {
        assert_eq!(Ok(*hash), tree.node(level, index), "node ({level}, {index})");
    }
    appended.sort();
    stored.sort();
    assert_eq!(stored, appended, "every entry exactly once");
    store.close().await;
}

async fn the_log_cannot_be_changed_or_deleted_outside_the_store(store: &dyn Store, db: &TestDb) {
    let mut rng = rng();
    let inst = institution(&mut rng, "まもり診療所", T0);
    store.create_institution(&inst).await.expect("create institution");
    let head = store.append_log(inst.id, &ticks(inst.id, 0..5)).await.expect("append");
    let leaves = all_leaves(store, inst.id).await;
    let mut refused = vec![
        ("UPDATE log_leaves SET action = 'tampered'", "the log is append-only"),
        ("UPDATE log_leaves SET leaf = leaf_hash WHERE idx = 2", "the log is append-only"),
        ("DELETE FROM log_leaves WHERE idx = 4", "the log is append-only"),
        ("DELETE FROM log_leaves", "the log is append-only"),
        ("UPDATE log_nodes SET hash = hash", "the log is append-only"),
        ("UPDATE log_nodes SET idx = idx + 100", "the log is append-only"),
        ("DELETE FROM log_nodes WHERE level = 0", "the log is append-only"),
        ("DELETE FROM log_nodes", "the log is append-only"),
        ("UPDATE log_heads SET size = 0", "the log is append-only"),
        ("DELETE FROM log_heads", ""),
    ];
    if db.backend() == Backend::Postgres {
        refused.extend([
            ("TRUNCATE log_leaves", "the log is append-only"),
            ("TRUNCATE log_nodes", "the log is append-only"),
            ("TRUNCATE log_heads CASCADE", "the log is append-only"),
        ]);
    }
    for (statement, message) in refused {
        let result = execute_outside_the_store(db, statement).await;
        assert!(result.as_ref().is_err_and(|e| e.to_string().contains(message)), "{statement}: {result:?}");
    }
    assert_eq!(store.log_head(inst.id).await.expect("head"), head);
    assert_eq!(all_leaves(store, inst.id).await, leaves);
    stored_nodes(store, inst.id, 5).await;
    // The head itself may be rewritten (appends do), but never to a smaller size.
    assert_eq!(execute_outside_the_store(db, "UPDATE log_heads SET size = size").await.expect("same size"), 1);
}

/// The head and one leaf of the old institution of [`VERSION_2_ROWS`] at index `$idx`, with
/// the given bytes literals and columns, outside the store.
macro_rules! insert_log_leaf {
    ($hash:literal, $idx:literal, $kind:literal, $action:literal, $outcome:literal) => {
        concat!(
            "INSERT INTO log_leaves (institution_id, idx, leaf, leaf_hash, kind, at, actor_id, patient_id, \
                                     action, outcome, category) \
             VALUES ('00000000-0000-4000-8000-000000000001', ",
            $idx,
            ", ",
            $hash,
            ", ",
            $hash,
            ", '",
            $kind,
            "', '2026-01-01T00:00:00.000000Z', NULL, NULL, '",
            $action,
            "', '",
            $outcome,
            "', NULL);"
        )
    };
}

async fn the_schema_refuses_malformed_log_rows(_store: &dyn Store, db: &TestDb) {
    let current = database_at_version(db, LATEST_SCHEMA_VERSION, VERSION_2_ROWS).await;
    let (head, good, refused) = match db.backend() {
        Backend::Sqlite => (
            "INSERT INTO log_heads (institution_id, size, root, frontier) \
             VALUES ('00000000-0000-4000-8000-000000000001', 0, zeroblob(32), zeroblob(8))",
            [
                insert_log_leaf!("zeroblob(32)", "0", "audit", "login", "allowed"),
                insert_log_leaf!("zeroblob(32)", "2", "record", "record.original", "allowed"),
            ],
            [
                (insert_log_leaf!("zeroblob(32)", "0", "audit", "login", "allowed"), "a repeated index"),
                (insert_log_leaf!("zeroblob(32)", "-1", "audit", "login", "allowed"), "a negative index"),
                (insert_log_leaf!("zeroblob(31)", "1", "audit", "login", "allowed"), "a short hash"),
                (insert_log_leaf!("zeroblob(32)", "1", "checkpoint", "login", "allowed"), "an unknown kind"),
                (insert_log_leaf!("zeroblob(32)", "1", "audit", "Login", "allowed"), "a malformed action"),
                (insert_log_leaf!("zeroblob(32)", "1", "audit", "", "allowed"), "an empty action"),
                (insert_log_leaf!("zeroblob(32)", "1", "audit", "login", "maybe"), "an unknown outcome"),
                (
                    "INSERT INTO log_nodes (institution_id, level, idx, hash) \
                     VALUES ('00000000-0000-4000-8000-000000000001', 64, 0, zeroblob(32))",
                    "a level above 63",
                ),
                (
                    "INSERT INTO log_nodes (institution_id, level, idx, hash) \
                     VALUES ('00000000-0000-4000-8000-0000000000ff', 0, 0, zeroblob(32))",
                    "an institution without a head",
                ),
                (
                    "INSERT INTO log_heads (institution_id, size, root, frontier) \
                     VALUES ('00000000-0000-4000-8000-0000000000ff', 0, zeroblob(32), zeroblob(8))",
                    "an unknown institution",
                ),
            ],
        ),
        Backend::Postgres => (
            "INSERT INTO log_heads (institution_id, size, root, frontier) \
             VALUES ('00000000-0000-4000-8000-000000000001', 0, decode(repeat('00', 32), 'hex'), \
                     decode(repeat('00', 8), 'hex'))",
            [
                insert_log_leaf!("decode(repeat('00', 32), 'hex')", "0", "audit", "login", "allowed"),
                insert_log_leaf!("decode(repeat('00', 32), 'hex')", "2", "record", "record.original", "allowed"),
            ],
            [
                (
                    insert_log_leaf!("decode(repeat('00', 32), 'hex')", "0", "audit", "login", "allowed"),
                    "a repeated index",
                ),
                (
                    insert_log_leaf!("decode(repeat('00', 32), 'hex')", "-1", "audit", "login", "allowed"),
                    "a negative index",
                ),
                (insert_log_leaf!("decode(repeat('00', 31), 'hex')", "1", "audit", "login", "allowed"), "a short hash"),
                (
                    insert_log_leaf!("decode(repeat('00', 32), 'hex')", "1", "checkpoint", "login", "allowed"),
                    "an unknown kind",
                ),
                (
                    insert_log_leaf!("decode(repeat('00', 32), 'hex')", "1", "audit", "Login", "allowed"),
                    "a malformed action",
                ),
                (insert_log_leaf!("decode(repeat('00', 32), 'hex')", "1", "audit", "", "allowed"), "an empty action"),
                (
                    insert_log_leaf!("decode(repeat('00', 32), 'hex')", "1", "audit", "login", "maybe"),
                    "an unknown outcome",
                ),
                (
                    "INSERT INTO log_nodes (institution_id, level, idx, hash) \
                     VALUES ('00000000-0000-4000-8000-000000000001', 64, 0, decode(repeat('00', 32), 'hex'))",
                    "a level above 63",
                ),
                (
                    "INSERT INTO log_nodes (institution_id, level, idx, hash) \
                     VALUES ('00000000-0000-4000-8000-0000000000ff', 0, 0, decode(repeat('00', 32), 'hex'))",
                    "an institution without a head",
                ),
                (
                    "INSERT INTO log_heads (institution_id, size, root, frontier) \
                     VALUES ('00000000-0000-4000-8000-0000000000ff', 0, decode(repeat('00', 32), 'hex'), \
                             decode(repeat('00', 8), 'hex'))",
                    "an unknown institution",
                ),
            ],
        ),
    };
    execute_outside_the_store(&current, head).await.expect("a head");
    for statement in good {
        execute_outside_the_store(&current, statement).await.expect(statement);
    }
    for (statement, why) in refused {
        let result = execute_outside_the_store(&current, statement).await;
        assert!(result.is_err(), "{why}: {result:?}");
    }
    current.remove().await;
}

async fn the_log_migration_upgrades_a_version_7_database(_store: &dyn Store, db: &TestDb) {
    let old = database_at_version(db, 7, VERSION_2_ROWS).await;
    let rows = match old.backend() {
        Backend::Sqlite => [VERSION_3_SQLITE_ROWS, VERSION_4_SQLITE_ROWS],
        Backend::Postgres => [VERSION_3_POSTGRES_ROWS, VERSION_4_POSTGRES_ROWS],
    };
    for rows in rows {
        execute_outside_the_store(&old, rows).await.expect("version 7 rows");
    }
    for statement in [insert_category_named!("genetic_test"), insert_sealed_account!("02", "1")] {
        execute_outside_the_store(&old, statement).await.expect("version 7 rows");
    }
    let store = old.open().await;
    assert_eq!(store.schema_version().await.expect("schema version"), LATEST_SCHEMA_VERSION);
    let user = store.find_login(&login("olduser")).await.expect("find").expect("the old user is kept");
    let inst = user.institution_id;
    assert_eq!(inst, old_institution());
    assert!(store.session(&[4; 32]).await.expect("session").is_some(), "the old sessions are kept");
    assert_eq!(store.categories(inst).await.expect("categories").len(), 1, "the old category is kept");
    assert_eq!(store.sealed_accounts(inst).await.expect("sealed accounts").len(), 1, "the old account is kept");
    assert_eq!(store.log_head(inst).await.expect("head"), LogHead { size: 0, root: *empty_root().as_bytes() });

    // The old institution gets a log.
    let login_event = audit_event(inst, Some(user.id), None, "login", Outcome::Allowed, 0);
    let head = store.append_log(inst, std::slice::from_ref(&login_event)).await.expect("append");
    assert_eq!(head, reference_head(&reference_tree([&login_event.leaf])));
    let by_user = AuditQuery { actor: Some(user.id), limit: 10, ..AuditQuery::default() };
    assert_eq!(store.audit_search(inst, &by_user).await.expect("search"), [(0, login_event.leaf.clone())]);
    store.close().await;
    old.remove().await;
}

// ---------------------------------------------------------------------------------------------
// Patients (migration 0009)
// ---------------------------------------------------------------------------------------------

fn patient_name(family: &str, given: &str, family_kana: &str, given_kana: &str) -> PatientName {
    PatientName::parse(family, given, family_kana, given_kana).expect("a valid name")
}

fn patient_number(number: &str) -> PatientNumber {
    PatientNumber::parse(number).expect("a valid patient number")
}

/// Version 1 of a patient of `by`'s institution, registered by `by` at T0, without contact.
fn patient(rng: &mut TestRng, by: &User, number: &str, name: PatientName) -> Patient {
    Patient {
        institution: by.institution_id,
        id: PatientId::generate(rng),
        number: patient_number(number),
        name,
        birth_date: date!(1950 - 04 - 01),
        sex: Sex::Female,
        contact: Contact::default(),
        version: 1,
        changed_by: by.id,
        changed_at: T0,
    }
}

/// Registers `patients` in one unit of work.
async fn register(store: &dyn Store, patients: &[&Patient]) {
    let mut tx = store.begin().await.expect("begin");
    for p in patients {
        tx.create_patient(p).await.expect("create patient");
    }
    tx.commit().await.expect("commit");
}

/// What one unit that registers `patient` answers (the unit is committed only on success).
async fn try_register(store: &dyn Store, patient: &Patient) -> Result<(), StoreError> {
    let mut tx = store.begin().await.expect("begin");
    tx.create_patient(patient).await?;
    tx.commit().await
}

/// What one unit that changes `patient` answers (the unit is committed only on success).
async fn try_update(store: &dyn Store, patient: &Patient, reason: &str) -> Result<bool, StoreError> {
    let mut tx = store.begin().await.expect("begin");
    let changed = tx.update_patient(patient, reason).await?;
    tx.commit().await?;
    Ok(changed)
}

/// The numbers of `patients`, in order.
fn numbers(patients: &[Patient]) -> Vec<&str> {
    patients.iter().map(|p| p.number.as_str()).collect()
}

async fn patients_round_trip_every_field_and_numbers_are_unique_per_institution(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let plain = patient(&mut rng, &two.alice, "00123", patient_name("山田", "花子", "やまだ", "ハナコ"));
    let full = Patient {
        birth_date: date!(2024 - 02 - 29),
        sex: Sex::Other,
        contact: Contact::parse(Some("03-1234-5678"), Some("東京都千代田区千代田1-1")).expect("contact"),
        changed_at: datetime!(2026-11-25 18:30:00.000042 +09:00),
        changed_by: two.carol.id,
        ..patient(&mut rng, &two.alice, "A-9", patient_name("Smith", "Anne", "スミス", "アン"))
    };
    register(store, &[&plain, &full]).await;
    let a = two.a.id;
    let full_stored = Patient { changed_at: datetime!(2026-11-25 09:30:00.000042 UTC), ..full.clone() };
    for (written, stored) in [(&plain, &plain), (&full, &full_stored)] {
        assert_eq!(store.patient(a, written.id).await.expect("patient").as_ref(), Some(stored));
        assert_eq!(store.patient_by_number(a, &written.number).await.expect("by number").as_ref(), Some(stored));
        assert_eq!(store.patient_versions(a, written.id).await.expect("versions"), vec![(stored.clone(), None)]);
    }
    assert_eq!(plain.name.family_kana, "ヤマダ", "kana is kept in katakana");
    assert_eq!(store.patient_by_number(a, &patient_number("00124")).await.expect("by number"), None);

    // The number is unique within the institution, the ID too; the changer is a user of it.
    let same_number = patient(&mut rng, &two.carol, "00123", patient_name("林", "一", "ハヤシ", "ハジメ"));
    let err = try_register(store, &same_number).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "patient number" })), "{err:?}");
    let same_id = Patient { number: patient_number("00999"), ..plain.clone() };
    let err = try_register(store, &same_id).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "patient" })), "{err:?}");
    let by_stranger = Patient { changed_by: two.bob.id, ..patient(&mut rng, &two.alice, "00500", plain.name.clone()) };
    let err = try_register(store, &by_stranger).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    let unknown = InstitutionId::generate(&mut rng);
    let nowhere = Patient { institution: unknown, ..patient(&mut rng, &two.alice, "00501", plain.name.clone()) };
    let err = try_register(store, &nowhere).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    let second_version = Patient { version: 2, ..patient(&mut rng, &two.alice, "00502", plain.name.clone()) };
    assert!(try_register(store, &second_version).await.is_err(), "a patient is registered as version 1");
    for refused in [&same_number, &by_stranger, &second_version] {
        assert_eq!(store.patient(a, refused.id).await.expect("patient"), None, "nothing of a refused unit");
    }
    assert_eq!(store.patient(a, plain.id).await.expect("patient").as_ref(), Some(&plain), "unchanged");

    // Another institution may use the same number.
    let in_b = patient(&mut rng, &two.bob, "00123", patient_name("山田", "太郎", "ヤマダ", "タロウ"));
    register(store, &[&in_b]).await;
    assert_eq!(store.patient_by_number(two.b.id, &in_b.number).await.expect("by number"), Some(in_b.clone()));
    assert_eq!(store.patient_by_number(a, &in_b.number).await.expect("by number"), Some(plain.clone()));
}

async fn patient_changes_are_versioned_and_a_stale_change_changes_nothing(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let v1 = patient(&mut rng, &two.alice, "1001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    let other = patient(&mut rng, &two.alice, "1002", patient_name("林", "一", "ハヤシ", "ハジメ"));
    register(store, &[&v1, &other]).await;

    let v2 = Patient {
        name: patient_name("佐藤", "花子", "サトウ", "ハナコ"),
        contact: Contact::parse(Some("090-0000-0000"), None).expect("contact"),
        version: 2,
        changed_by: two.carol.id,
        changed_at: T0 + Duration::days(1),
        ..v1.clone()
    };
    assert!(try_update(store, &v2, "婚姻による改姓 / married").await.expect("update"));
    assert_eq!(store.patient(a, v1.id).await.expect("patient"), Some(v2.clone()));
    let versions = vec![(v1.clone(), None), (v2.clone(), Some("婚姻による改姓 / married".to_owned()))];
    assert_eq!(store.patient_versions(a, v1.id).await.expect("versions"), versions, "oldest first");
    assert_eq!(store.search_patients(a, &search_key("さとう"), 10).await.expect("search"), vec![v2.clone()]);
    assert!(store.search_patients(a, &search_key("やまだ"), 10).await.expect("search").is_empty(), "the old name");

    // A stale change (from version 1 again), a skipped version and an unknown patient change
    // nothing.
    let stale = Patient { name: patient_name("鈴木", "花子", "スズキ", "ハナコ"), ..v2.clone() };
    assert!(!try_update(store, &stale, "stale").await.expect("update"));
    let skipped = Patient { version: 4, ..stale.clone() };
    assert!(!try_update(store, &skipped, "skipped").await.expect("update"));
    let unknown = Patient { id: PatientId::generate(&mut rng), ..stale.clone() };
    assert!(!try_update(store, &unknown, "unknown").await.expect("update"));
    assert_eq!(store.patient(a, v1.id).await.expect("patient"), Some(v2.clone()));
    assert_eq!(store.patient_versions(a, v1.id).await.expect("versions"), versions);

    // Another patient's number, an unknown changer or a reason of no or too many characters is
    // refused, and nothing changes.
    let v3 = Patient { version: 3, changed_at: T0 + Duration::days(2), ..v2.clone() };
    let taken = Patient { number: other.number.clone(), ..v3.clone() };
    let err = try_update(store, &taken, "番号の訂正").await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "patient number" })), "{err:?}");
    let stranger = Patient { changed_by: two.bob.id, ..v3.clone() };
    let err = try_update(store, &stranger, "番号の訂正").await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    for reason in [String::new(), "あ".repeat(501)] {
        assert!(try_update(store, &v3, &reason).await.is_err(), "reason of {} characters", reason.chars().count());
    }
    assert_eq!(store.patient(a, v1.id).await.expect("patient"), Some(v2.clone()));
    assert_eq!(store.patient_versions(a, v1.id).await.expect("versions"), versions);
    assert_eq!(store.patient(a, other.id).await.expect("patient"), Some(other.clone()));

    // A new number of its own is fine, and a 500-character reason.
    let v3 = Patient { number: patient_number("1003"), ..v3 };
    assert!(try_update(store, &v3, &"あ".repeat(500)).await.expect("update"));
    assert_eq!(store.patient_by_number(a, &patient_number("1003")).await.expect("by number"), Some(v3.clone()));
    assert_eq!(store.patient_by_number(a, &v1.number).await.expect("by number"), None, "the old number is free");
    let listed = store.patient_versions(a, v1.id).await.expect("versions");
    assert_eq!(listed.iter().map(|(p, _)| p.version).collect::<Vec<_>>(), [1, 2, 3]);
}

async fn patients_are_invisible_through_another_institution(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    let p = patient(&mut rng, &two.alice, "7001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    register(store, &[&p]).await;
    let unknown = InstitutionId::generate(&mut rng);
    for other in [b, unknown] {
        assert_eq!(store.patient(other, p.id).await.expect("patient"), None);
        assert_eq!(store.patient_by_number(other, &p.number).await.expect("by number"), None);
        assert!(store.patient_versions(other, p.id).await.expect("versions").is_empty());
        for key in ["7001", "7", "山田", "ヤマダ"] {
            assert!(store.search_patients(other, &search_key(key), 200).await.expect("search").is_empty(), "{key}");
        }
        // A change through the other institution finds no patient (even by one of its users).
        let through = Patient { institution: other, changed_by: two.bob.id, version: 2, ..p.clone() };
        assert!(!try_update(store, &through, "through B").await.expect("update"));
    }
    assert_eq!(store.patient(a, p.id).await.expect("patient"), Some(p.clone()));
    assert_eq!(store.patient_versions(a, p.id).await.expect("versions"), vec![(p, None)]);
}

async fn patients_are_searched_by_number_prefix_and_name_substring(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    let alice = &two.alice;
    let yamada = patient(&mut rng, alice, "P-001", patient_name("山田", "花子", "やまだ", "はなこ"));
    let hayashi = patient(&mut rng, alice, "P-002", patient_name("林", "一", "ハヤシ", "ハジメ"));
    let wang = patient(&mut rng, alice, "P-010", patient_name("王", "林", "ワン", "リン"));
    let smith = patient(&mut rng, alice, "Q-100", patient_name("Smith", "Anne", "スミス", "アン"));
    let percent = patient(&mut rng, alice, "R-1", patient_name("百%", "_子", "モモ", "コ"));
    register(store, &[&smith, &wang, &percent, &hayashi, &yamada]).await;
    let in_b = patient(&mut rng, &two.bob, "P-003", patient_name("山田", "太郎", "ヤマダ", "タロウ"));
    register(store, &[&in_b]).await;

    let search = |key: &'static str, limit: u32| async move {
        store.search_patients(a, &search_key(key), limit).await.expect("search")
    };
    // Number prefixes, by number, whatever the letters' case.
    assert_eq!(numbers(&search("P-0", 200).await), ["P-001", "P-002", "P-010"]);
    assert_eq!(numbers(&search("p-00", 200).await), ["P-001", "P-002"]);
    assert_eq!(numbers(&search("Ｐ－０１", 200).await), ["P-010"], "full-width is narrowed by search_key");
    assert_eq!(search("Q-100", 200).await, vec![smith.clone()]);
    assert!(search("001", 200).await.is_empty(), "a number matches from its start only");
    // One kanji, kana in either script, letters in either width and case.
    assert_eq!(numbers(&search("林", 200).await), ["P-002", "P-010"]);
    assert_eq!(numbers(&search("王", 200).await), ["P-010"]);
    assert_eq!(search("やまだ", 200).await, vec![yamada.clone()]);
    assert_eq!(search("ヤマダ ハナコ", 200).await, vec![yamada.clone()]);
    assert_eq!(numbers(&search("りん", 200).await), ["P-010"]);
    assert_eq!(numbers(&search("ＳＭＩＴＨ", 200).await), ["Q-100"]);
    assert!(search("田中", 200).await.is_empty());
    assert!(search("", 200).await.is_empty(), "an empty key matches nothing");
    // Other institutions' patients are never found.
    assert_eq!(numbers(&search("山田", 200).await), ["P-001"]);
    assert_eq!(numbers(&store.search_patients(b, &search_key("山田"), 200).await.expect("search")), ["P-003"]);
    assert_eq!(numbers(&store.search_patients(b, &search_key("p-0"), 200).await.expect("search")), ["P-003"]);
    // LIKE's wildcards match themselves, in numbers and names.
    assert!(search("p_0", 200).await.is_empty(), "_ is not a wildcard");
    assert!(search("p%1", 200).await.is_empty(), "% is not a wildcard");
    assert_eq!(numbers(&search("%", 200).await), ["R-1"], "only the name with a %");
    assert_eq!(numbers(&search("_", 200).await), ["R-1"], "only the name with a _");
    assert_eq!(numbers(&search("%_", 200).await), ["R-1"]);
    assert!(search("\\", 200).await.is_empty());
    // The limit is clamped to 1–200.
    assert_eq!(numbers(&search("p", 2).await), ["P-001", "P-002"]);
    assert_eq!(numbers(&search("p", 0).await), ["P-001"]);
    let mut many = Vec::new();
    for i in 0..205 {
        many.push(patient(&mut rng, alice, &format!("N{i:04}"), patient_name("鈴木", "一", "スズキ", "イチ")));
    }
    register(store, &many.iter().collect::<Vec<_>>()).await;
    let found = search("すずき", u32::MAX).await;
    assert_eq!(found.len(), 200);
    assert_eq!(found, many[..200].to_vec(), "by number");
    assert_eq!(search("n", 1000).await.len(), 200);
}

async fn patient_versions_cannot_be_changed_or_deleted_outside_the_store(store: &dyn Store, db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let p = patient(&mut rng, &two.alice, "5001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    register(store, &[&p]).await;
    let v2 = Patient { version: 2, name: patient_name("佐藤", "花子", "サトウ", "ハナコ"), ..p.clone() };
    assert!(try_update(store, &v2, "改姓").await.expect("update"));
    let versions = store.patient_versions(two.a.id, p.id).await.expect("versions");
    let mut refused = vec![
        ("UPDATE patient_versions SET family = '鈴木'", "patient versions are append-only"),
        ("UPDATE patient_versions SET reason = 'rewritten' WHERE version = 2", "patient versions are append-only"),
        ("DELETE FROM patient_versions WHERE version = 2", "patient versions are append-only"),
        ("DELETE FROM patient_versions", "patient versions are append-only"),
        ("DELETE FROM patients", ""),
    ];
    if db.backend() == Backend::Postgres {
        refused.extend([
            ("TRUNCATE patient_versions", "patient versions are append-only"),
            ("TRUNCATE patients CASCADE", "patient versions are append-only"),
        ]);
    }
    for (statement, message) in refused {
        let result = execute_outside_the_store(db, statement).await;
        assert!(result.as_ref().is_err_and(|e| e.to_string().contains(message)), "{statement}: {result:?}");
    }
    assert_eq!(store.patient_versions(two.a.id, p.id).await.expect("versions"), versions);
    assert_eq!(store.patient(two.a.id, p.id).await.expect("patient"), Some(v2));
}

async fn a_patient_registered_in_a_dropped_unit_leaves_nothing(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let p = patient(&mut rng, &two.alice, "3001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    let v2 = Patient { version: 2, number: patient_number("3002"), ..p.clone() };

    let mut tx = store.begin().await.expect("begin");
    tx.create_patient(&p).await.expect("create");
    assert!(tx.update_patient(&v2, "訂正").await.expect("update"));
    drop(tx);
    assert_eq!(store.patient(a, p.id).await.expect("patient"), None);
    for number in ["3001", "3002"] {
        assert_eq!(store.patient_by_number(a, &patient_number(number)).await.expect("by number"), None);
    }
    assert!(store.patient_versions(a, p.id).await.expect("versions").is_empty());
    assert!(store.search_patients(a, &search_key("やまだ"), 10).await.expect("search").is_empty());

    // A failed step leaves nothing of its unit either.
    let mut tx = store.begin().await.expect("begin");
    tx.create_patient(&p).await.expect("create");
    let err = tx.create_patient(&Patient { id: PatientId::generate(&mut rng), ..p.clone() }).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "patient number" })), "{err:?}");
    assert!(tx.commit().await.is_err(), "a unit with a failed step does not commit");
    assert_eq!(store.patient(a, p.id).await.expect("patient"), None);

    // The ID and the number are free, and a committed unit keeps both versions.
    let mut tx = store.begin().await.expect("begin");
    tx.create_patient(&p).await.expect("create");
    assert!(tx.update_patient(&v2, "訂正").await.expect("update"));
    tx.commit().await.expect("commit");
    assert_eq!(store.patient(a, p.id).await.expect("patient"), Some(v2.clone()));
    assert_eq!(
        store.patient_versions(a, p.id).await.expect("versions"),
        vec![(p, None), (v2, Some("訂正".to_owned()))]
    );
}

async fn the_patient_migration_upgrades_a_version_8_database(_store: &dyn Store, db: &TestDb) {
    let old = database_at_version(db, 8, VERSION_2_ROWS).await;
    let rows = match old.backend() {
        Backend::Sqlite => [VERSION_3_SQLITE_ROWS, VERSION_4_SQLITE_ROWS],
        Backend::Postgres => [VERSION_3_POSTGRES_ROWS, VERSION_4_POSTGRES_ROWS],
    };
    for rows in rows {
        execute_outside_the_store(&old, rows).await.expect("version 8 rows");
    }
    let store = old.open().await;
    assert_eq!(store.schema_version().await.expect("schema version"), LATEST_SCHEMA_VERSION);
    let user = store.find_login(&login("olduser")).await.expect("find").expect("the old user is kept");
    let inst = user.institution_id;
    assert_eq!(inst, old_institution());
    assert!(store.session(&[4; 32]).await.expect("session").is_some(), "the old sessions are kept");

    // The old institution registers and finds patients.
    let p = patient(&mut rng(), &user, "0001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    register(&*store, &[&p]).await;
    assert_eq!(store.patient(inst, p.id).await.expect("patient"), Some(p.clone()));
    assert_eq!(store.search_patients(inst, &search_key("ハナコ"), 10).await.expect("search"), vec![p]);
    store.close().await;
    old.remove().await;
}

// ---------------------------------------------------------------------------------------------
// Clinical records (migration 0010): records and their versions, master entries, devices
// ---------------------------------------------------------------------------------------------

/// Runs one call in a unit of its own (`$tx`), committed only when the call succeeded.
macro_rules! in_unit {
    ($store:expr, $tx:ident => $call:expr) => {{
        let mut $tx = $store.begin().await.expect("begin");
        let result = $call.await;
        if result.is_ok() {
            $tx.commit().await.expect("commit");
        }
        result
    }};
}

fn document(title: &str, body: &str) -> Content {
    Body::Document(Document { title: title.to_owned(), body: body.to_owned() })
}

/// Version 1 of a new document record of `patient`: a draft of `author`, entered at `at`.
fn draft(rng: &mut TestRng, patient: &Patient, author: &User, at: OffsetDateTime) -> RecordVersion {
    let by = Agent::User(author.id);
    RecordVersion {
        record: Record {
            institution: patient.institution,
            id: RecordId::generate(rng),
            patient: patient.id,
            kind: RecordKind::Document,
            category: Category::DOCUMENT,
            created_by: by,
            created_at: at,
        },
        version: 1,
        change: Change::Original,
        state: VersionState::Draft,
        content: document("診療情報提供書", "ご高診をお願いします。"),
        reason: None,
        author: by,
        proxy_for: None,
        entered_at: at,
        updated_at: at,
        finalized_by: None,
        finalized_at: None,
        rejected: None,
        leaf_index: None,
    }
}

/// A proxy entry (代行入力) of `clerk` for `doctor`, pending approval.
fn proxy_entry(rng: &mut TestRng, patient: &Patient, clerk: &User, doctor: &User, at: OffsetDateTime) -> RecordVersion {
    RecordVersion { state: VersionState::PendingApproval, proxy_for: Some(doctor.id), ..draft(rng, patient, clerk, at) }
}

/// `v` as it is once `by` finalized it at `at` (its leaf index still to be set).
fn finalized(v: &RecordVersion, by: Agent, at: OffsetDateTime) -> RecordVersion {
    RecordVersion {
        state: VersionState::Final,
        finalized_by: Some(by),
        finalized_at: Some(at),
        updated_at: at,
        ..v.clone()
    }
}

/// A lab result `device` sends about `patient` at `at`: final on arrival (leaf index to set).
fn device_result(
    rng: &mut TestRng,
    patient: &Patient,
    device: &Device,
    item: &MasterEntry,
    at: OffsetDateTime,
) -> RecordVersion {
    let by = Agent::Device(device.id);
    let content = Body::LabResult(LabResult {
        collected_on: "2026-11-20".to_owned(),
        items: vec![LabItem { item: item.reference(), value: "6.8".to_owned(), flag: Some("H".to_owned()) }],
    });
    let v = RecordVersion {
        record: Record {
            institution: patient.institution,
            id: RecordId::generate(rng),
            patient: patient.id,
            kind: RecordKind::LabResult,
            category: Category::LAB_RESULT,
            created_by: by,
            created_at: at,
        },
        version: 1,
        change: Change::Original,
        state: VersionState::Draft,
        content,
        reason: None,
        author: by,
        proxy_for: None,
        entered_at: at,
        updated_at: at,
        finalized_by: None,
        finalized_at: None,
        rejected: None,
        leaf_index: None,
    };
    finalized(&v, by, at)
}

/// A later version of final `previous`, by its author: a correction with new content or a
/// cancellation with the same, final at once with its reason (leaf index to set).
fn later_version(previous: &RecordVersion, change: Change, at: OffsetDateTime) -> RecordVersion {
    let content = match change {
        Change::Correction => document("診療情報提供書", "訂正: ご高診をお願いいたします。"),
        _ => previous.content.clone(),
    };
    let v = RecordVersion {
        version: previous.version + 1,
        change,
        state: VersionState::Draft,
        content,
        reason: Some("宛先の誤り / wrong addressee".to_owned()),
        proxy_for: None,
        entered_at: at,
        updated_at: at,
        finalized_by: None,
        finalized_at: None,
        rejected: None,
        leaf_index: None,
        ..previous.clone()
    };
    finalized(&v, v.author, at)
}

/// Appends the leaf of final `v` in `tx`; returns `v` with its leaf index.
async fn with_leaf(tx: &mut (dyn StoreTx + '_), v: RecordVersion) -> RecordVersion {
    let head = tx.append_log(v.record.institution, &[v.entry().expect("a final version")]).await.expect("append");
    RecordVersion { leaf_index: Some(head.size - 1), ..v }
}

/// Creates a record with `first` in one unit (a final one after its leaf), committed only on
/// success; returns the version as written.
async fn try_create_record(store: &dyn Store, first: RecordVersion) -> Result<RecordVersion, StoreError> {
    let mut tx = store.begin().await.expect("begin");
    let first = if first.state == VersionState::Final { with_leaf(&mut *tx, first).await } else { first };
    tx.create_record(&first).await?;
    tx.commit().await?;
    Ok(first)
}

async fn create_record(store: &dyn Store, first: RecordVersion) -> RecordVersion {
    try_create_record(store, first).await.expect("create record")
}

/// Adds final version `v` in one unit, its leaf first; committed only on success.
async fn try_add_version(store: &dyn Store, v: RecordVersion) -> Result<RecordVersion, StoreError> {
    let mut tx = store.begin().await.expect("begin");
    let v = with_leaf(&mut *tx, v).await;
    tx.add_version(&v).await?;
    tx.commit().await?;
    Ok(v)
}

/// Finalizes `v` from `from` as `by` at `at` in one unit: the leaf first, then the conditional
/// UPDATE; committed only when it finalized. Returns the answer and the version as final.
async fn try_finalize(
    store: &dyn Store,
    v: &RecordVersion,
    by: Agent,
    at: OffsetDateTime,
    from: VersionState,
) -> (bool, RecordVersion) {
    let mut tx = store.begin().await.expect("begin");
    let f = with_leaf(&mut *tx, finalized(v, by, at)).await;
    let done = tx.finalize_version(&f, from).await.expect("finalize");
    if done {
        tx.commit().await.expect("commit");
    }
    (done, f)
}

/// A device of `by`'s institution registered by `by` at T0, its token hash `[token; 32]`.
fn device(rng: &mut TestRng, by: &User, name: &str, token: u8) -> Device {
    Device {
        institution: by.institution_id,
        id: DeviceId::generate(rng),
        name: name.to_owned(),
        token_hash: [token; 32],
        registered_by: by.id,
        registered_at: T0,
        revoked_at: None,
    }
}

/// Version `version` of `code` in `institution`'s `master`, valid from `from` to before `to`,
/// loaded by `mamori init` at T0 (no unit, no reference range).
fn master_entry(
    institution: InstitutionId,
    master: MasterKind,
    code: &str,
    version: u32,
    name: &str,
    from: Date,
    to: Option<Date>,
) -> MasterEntry {
    MasterEntry {
        institution,
        master,
        code: MasterCode::parse(code).expect("a valid code"),
        version,
        fields: MasterFields {
            name: name.to_owned(),
            unit: None,
            reference_range: None,
            valid_from: from,
            valid_to: to,
        },
        imported_at: T0,
        imported_by: None,
    }
}

/// HbA1c, version 1 of `institution`'s lab item SL-0001, with unit and reference range.
fn hba1c(institution: InstitutionId, by: Option<UserId>) -> MasterEntry {
    let mut entry = master_entry(institution, MasterKind::LabItem, "SL-0001", 1, "HbA1c", date!(2024 - 04 - 01), None);
    entry.fields.unit = Some("%".to_owned());
    entry.fields.reference_range = Some("4.6-6.2".to_owned());
    entry.imported_by = by;
    entry
}

/// The leaf bytes of the institution's log, in order.
async fn leaf_bytes(store: &dyn Store, institution: InstitutionId) -> Vec<Vec<u8>> {
    all_leaves(store, institution).await.into_iter().map(|(_, leaf, _)| leaf).collect()
}

/// One number a query computes on the test database, outside the store.
async fn count_outside_the_store(db: &TestDb, query: &'static str) -> i64 {
    match db {
        TestDb::Sqlite { path } => {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("connect");
            let n = sqlx::query_scalar(query).fetch_one(&mut conn).await.expect(query);
            let _ = conn.close().await;
            n
        }
        TestDb::Postgres { url, .. } => {
            let mut conn = sqlx::PgConnection::connect(url.expose()).await.expect("connect");
            let n = sqlx::query_scalar(query).fetch_one(&mut conn).await.expect(query);
            let _ = conn.close().await;
            n
        }
    }
}

async fn records_round_trip_in_every_state(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    let p = patient(&mut rng, &two.alice, "1001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    register(store, &[&p]).await;
    let analyzer = device(&mut rng, &two.alice, "検体検査装置1", 1);
    let item = hba1c(a, Some(two.alice.id));
    in_unit!(store, tx => tx.add_device(&analyzer)).expect("device");
    in_unit!(store, tx => tx.add_master_entries(std::slice::from_ref(&item))).expect("master entry");

    // A draft (its times in another offset and finer than a microsecond), a proxy entry and a
    // device's result, final on arrival.
    let odd = datetime!(2026-11-25 17:59:59.999999999 +09:00);
    let written = draft(&mut rng, &p, &two.alice, odd);
    let by_alice = create_record(store, written.clone()).await;
    let micros = datetime!(2026-11-25 08:59:59.999999 UTC);
    let by_alice = RecordVersion {
        record: Record { created_at: micros, ..by_alice.record.clone() },
        entered_at: micros,
        updated_at: micros,
        ..by_alice
    };
    let by_proxy = create_record(store, proxy_entry(&mut rng, &p, &two.carol, &two.alice, T0)).await;
    let from_device =
        create_record(store, device_result(&mut rng, &p, &analyzer, &item, T0 + Duration::minutes(1))).await;
    assert_eq!(from_device.leaf_index, Some(0));

    for v in [&by_alice, &by_proxy, &from_device] {
        let id = v.record.id;
        assert_eq!(store.record(a, id).await.expect("record").as_ref(), Some(&v.record));
        assert_eq!(store.record_version(a, id, 1).await.expect("version").as_ref(), Some(v));
        assert_eq!(store.record_versions(a, id).await.expect("versions"), std::slice::from_ref(v));
        assert_eq!(store.record_version(a, id, 2).await.expect("version"), None);
        // Invisible through another institution (and an unknown one).
        for other in [b, InstitutionId::generate(&mut rng)] {
            assert_eq!(store.record(other, id).await.expect("record"), None);
            assert_eq!(store.record_version(other, id, 1).await.expect("version"), None);
            assert!(store.record_versions(other, id).await.expect("versions").is_empty());
        }
    }
    assert_eq!(by_alice.record.created_at, written.record.created_at - Duration::nanoseconds(999));
    assert_eq!(
        store.patient_record_versions(a, p.id).await.expect("chart"),
        [by_alice.clone(), by_proxy.clone(), from_device.clone()],
        "by the record's creation"
    );
    assert!(store.patient_record_versions(b, p.id).await.expect("chart").is_empty());
    assert_eq!(store.approval_queue(a, two.alice.id).await.expect("queue"), std::slice::from_ref(&by_proxy));
    assert!(store.approval_queue(a, two.carol.id).await.expect("queue").is_empty(), "the clerk approves nothing");
    assert!(store.approval_queue(b, two.alice.id).await.expect("queue").is_empty());
    assert_eq!(store.final_version_count(a).await.expect("count"), 1);
    assert_eq!(store.final_version_count(b).await.expect("count"), 0);
    assert_eq!(leaf_bytes(store, a).await, [from_device.to_leaf().expect("leaf")], "the final version's leaf");
}

async fn drafts_are_edited_and_discarded_by_their_author_only_while_draft(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b, alice, carol) = (two.a.id, two.b.id, two.alice.id, two.carol.id);
    let p = patient(&mut rng, &two.alice, "1001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    register(store, &[&p]).await;
    let v = create_record(store, draft(&mut rng, &p, &two.alice, T0)).await;
    let id = v.record.id;
    let edited = document("診療情報提供書", "ご高診のほど、よろしくお願いいたします。");
    let t1 = T0 + Duration::minutes(5);

    // Only its author, through its institution, that version of that record.
    let unknown = RecordId::generate(&mut rng);
    for (inst, record, version, author) in
        [(a, id, 1, carol), (b, id, 1, alice), (a, id, 2, alice), (a, unknown, 1, alice)]
    {
        let changed = in_unit!(store, tx => tx.update_draft(inst, record, version, author, &edited, t1));
        assert!(!changed.expect("update"));
    }
    assert_eq!(store.record_version(a, id, 1).await.expect("version"), Some(v.clone()));
    assert!(in_unit!(store, tx => tx.update_draft(a, id, 1, alice, &edited, t1)).expect("update"));
    let v = RecordVersion { content: edited.clone(), updated_at: t1, ..v };
    assert_eq!(store.record_version(a, id, 1).await.expect("version"), Some(v.clone()));

    // Discarded by its author only; then it never changes again.
    let t2 = T0 + Duration::minutes(10);
    assert!(!in_unit!(store, tx => tx.discard_draft(a, id, 1, carol, t2)).expect("discard"));
    assert!(!in_unit!(store, tx => tx.discard_draft(b, id, 1, alice, t2)).expect("discard"));
    assert!(in_unit!(store, tx => tx.discard_draft(a, id, 1, alice, t2)).expect("discard"));
    let discarded = RecordVersion { state: VersionState::Discarded, updated_at: t2, ..v };
    assert_eq!(store.record_version(a, id, 1).await.expect("version"), Some(discarded.clone()));
    assert!(!in_unit!(store, tx => tx.discard_draft(a, id, 1, alice, t2)).expect("discard"));
    assert!(!in_unit!(store, tx => tx.update_draft(a, id, 1, alice, &edited, t2)).expect("update"));
    assert!(!try_finalize(store, &discarded, Agent::User(alice), t2, VersionState::Draft).await.0);
    assert_eq!(store.record_version(a, id, 1).await.expect("version"), Some(discarded));
    assert_eq!(store.final_version_count(a).await.expect("count"), 0);
    assert!(all_leaves(store, a).await.is_empty(), "a refused finalization's leaf goes with its unit");

    // A proxy entry is no draft: its clerk neither edits nor discards it.
    let pending = create_record(store, proxy_entry(&mut rng, &p, &two.carol, &two.alice, T0)).await;
    let pid = pending.record.id;
    assert!(!in_unit!(store, tx => tx.update_draft(a, pid, 1, carol, &edited, t1)).expect("update"));
    assert!(!in_unit!(store, tx => tx.discard_draft(a, pid, 1, carol, t1)).expect("discard"));
    assert_eq!(store.record_version(a, pid, 1).await.expect("version"), Some(pending));
}

async fn drafts_are_finalized_once_by_their_author_with_the_content_their_leaf_hashed(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let (alice, carol) = (Agent::User(two.alice.id), Agent::User(two.carol.id));
    let p = patient(&mut rng, &two.alice, "1001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    register(store, &[&p]).await;
    let analyzer = device(&mut rng, &two.alice, "検体検査装置1", 1);
    in_unit!(store, tx => tx.add_device(&analyzer)).expect("device");
    let v = create_record(store, draft(&mut rng, &p, &two.alice, T0)).await;
    let id = v.record.id;
    let t1 = T0 + Duration::minutes(1);

    // Not by another user or a device, not as an approval, not with other content than stored.
    assert!(!try_finalize(store, &v, carol, t1, VersionState::Draft).await.0);
    assert!(!try_finalize(store, &v, Agent::Device(analyzer.id), t1, VersionState::Draft).await.0);
    assert!(!try_finalize(store, &v, alice, t1, VersionState::PendingApproval).await.0);
    assert!(!try_finalize(store, &v, alice, t1, VersionState::Final).await.0);
    let other = RecordVersion { content: document("診療情報提供書", "別の本文"), ..v.clone() };
    assert!(!try_finalize(store, &other, alice, t1, VersionState::Draft).await.0);
    let through_b = RecordVersion { record: Record { institution: two.b.id, ..v.record.clone() }, ..v.clone() };
    assert!(!try_finalize(store, &through_b, Agent::User(two.bob.id), t1, VersionState::Draft).await.0);
    assert_eq!(store.record_version(a, id, 1).await.expect("version"), Some(v.clone()));
    assert!(all_leaves(store, a).await.is_empty());

    let (done, f) = try_finalize(store, &v, alice, t1, VersionState::Draft).await;
    assert!(done);
    assert_eq!(
        (f.state, f.finalized_by, f.finalized_at, f.leaf_index),
        (VersionState::Final, Some(alice), Some(t1), Some(0))
    );
    assert_eq!(store.record_version(a, id, 1).await.expect("version"), Some(f.clone()));
    assert_eq!(leaf_bytes(store, a).await, [f.to_leaf().expect("leaf")]);
    assert_eq!(store.final_version_count(a).await.expect("count"), 1);

    // Final: never again finalized, edited or discarded.
    let t2 = t1 + Duration::minutes(1);
    assert!(!try_finalize(store, &v, alice, t2, VersionState::Draft).await.0);
    assert!(!in_unit!(store, tx => tx.update_draft(a, id, 1, two.alice.id, &v.content, t2)).expect("update"));
    assert!(!in_unit!(store, tx => tx.discard_draft(a, id, 1, two.alice.id, t2)).expect("discard"));
    assert_eq!(store.record_version(a, id, 1).await.expect("version"), Some(f.clone()));
    assert_eq!(leaf_bytes(store, a).await, [f.to_leaf().expect("leaf")]);
}

async fn concurrent_finalizations_of_one_draft_finalize_it_once(_store: &dyn Store, db: &TestDb) {
    let store = db.open().await;
    let mut rng = rng();
    let two = two_institutions(&*store, &mut rng).await;
    let a = two.a.id;
    let p = patient(&mut rng, &two.alice, "1001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    register(&*store, &[&p]).await;
    let v = create_record(&*store, draft(&mut rng, &p, &two.alice, T0)).await;
    let alice = Agent::User(two.alice.id);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 1..=4 {
        let (store, v) = (store.clone(), v.clone());
        tasks.spawn(
            async move { try_finalize(&*store, &v, alice, T0 + Duration::minutes(n), VersionState::Draft).await },
        );
    }
    let mut won = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (done, f) = result.expect("task");
        if done {
            won.push(f);
        }
    }
    assert_eq!(won.len(), 1, "exactly one finalization wins");
    assert_eq!(store.record_version(a, v.record.id, 1).await.expect("version").as_ref(), won.first());
    assert_eq!(leaf_bytes(&*store, a).await, [won[0].to_leaf().expect("leaf")], "only the winner's leaf");
    store.close().await;
}

async fn proxy_entries_are_approved_or_rejected_by_their_doctor_only(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    let (alice, carol) = (Agent::User(two.alice.id), Agent::User(two.carol.id));
    let p = patient(&mut rng, &two.alice, "1001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    register(store, &[&p]).await;
    let first = create_record(store, proxy_entry(&mut rng, &p, &two.carol, &two.alice, T0)).await;
    let second =
        create_record(store, proxy_entry(&mut rng, &p, &two.carol, &two.alice, T0 + Duration::minutes(1))).await;
    assert_eq!(store.approval_queue(a, two.alice.id).await.expect("queue"), [first.clone(), second.clone()]);
    let t = T0 + Duration::hours(1);

    // Approved by its doctor only: not by its clerk, not as a draft.
    assert!(!try_finalize(store, &first, carol, t, VersionState::PendingApproval).await.0);
    assert!(!try_finalize(store, &first, carol, t, VersionState::Draft).await.0);
    assert!(!try_finalize(store, &first, alice, t, VersionState::Draft).await.0);
    let (done, approved) = try_finalize(store, &first, alice, t, VersionState::PendingApproval).await;
    assert!(done);
    assert_eq!((approved.author, approved.proxy_for, approved.finalized_by), (carol, Some(two.alice.id), Some(alice)));
    assert_eq!(store.record_version(a, first.record.id, 1).await.expect("version"), Some(approved.clone()));
    assert!(!try_finalize(store, &first, alice, t, VersionState::PendingApproval).await.0, "approved once");
    assert_eq!(store.approval_queue(a, two.alice.id).await.expect("queue"), std::slice::from_ref(&second));

    // Rejected by its doctor only, with a reason of 1 to 500 characters.
    let sid = second.record.id;
    let reason = "用量の記載が誤っています";
    assert!(!in_unit!(store, tx => tx.reject_version(a, sid, 1, two.carol.id, reason, t)).expect("reject"));
    assert!(!in_unit!(store, tx => tx.reject_version(b, sid, 1, two.alice.id, reason, t)).expect("reject"));
    let approved_id = first.record.id;
    assert!(!in_unit!(store, tx => tx.reject_version(a, approved_id, 1, two.alice.id, reason, t)).expect("reject"));
    for bad in [String::new(), "理".repeat(501)] {
        assert!(in_unit!(store, tx => tx.reject_version(a, sid, 1, two.alice.id, &bad, t)).is_err());
    }
    assert!(in_unit!(store, tx => tx.reject_version(a, sid, 1, two.alice.id, reason, t)).expect("reject"));
    let rejected = RecordVersion {
        state: VersionState::Rejected,
        rejected: Some((two.alice.id, reason.to_owned())),
        updated_at: t,
        ..second.clone()
    };
    assert_eq!(store.record_version(a, sid, 1).await.expect("version"), Some(rejected.clone()));
    assert!(!in_unit!(store, tx => tx.reject_version(a, sid, 1, two.alice.id, reason, t)).expect("reject"));
    assert!(!try_finalize(store, &second, alice, t, VersionState::PendingApproval).await.0);
    assert_eq!(store.record_version(a, sid, 1).await.expect("version"), Some(rejected));
    assert!(store.approval_queue(a, two.alice.id).await.expect("queue").is_empty());
    assert_eq!(store.final_version_count(a).await.expect("count"), 1);
    assert_eq!(leaf_bytes(store, a).await, [approved.to_leaf().expect("leaf")]);
}

async fn corrections_are_final_later_versions_and_a_taken_number_conflicts(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    let p = patient(&mut rng, &two.alice, "1001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    register(store, &[&p]).await;
    let v1 = create_record(store, draft(&mut rng, &p, &two.alice, T0)).await;
    let (done, v1) = try_finalize(store, &v1, Agent::User(two.alice.id), T0, VersionState::Draft).await;
    assert!(done);
    let id = v1.record.id;

    let v2 = try_add_version(store, later_version(&v1, Change::Correction, T0 + Duration::days(1)))
        .await
        .expect("correction");
    assert_eq!(v2.leaf_index, Some(1));
    assert_eq!(store.record_versions(a, id).await.expect("versions"), [v1.clone(), v2.clone()]);

    // Someone corrected it first: the number is taken, and nothing of the unit stays.
    let late = later_version(&v1, Change::Correction, T0 + Duration::days(2));
    let err = try_add_version(store, late).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "record version" })), "{err:?}");
    // A leaf index another version has.
    let shared = RecordVersion { leaf_index: v2.leaf_index, ..later_version(&v2, Change::Cancellation, T0) };
    let err = in_unit!(store, tx => tx.add_version(&shared));
    assert!(matches!(err, Err(StoreError::Conflict { what: "record leaf" })), "{err:?}");
    // An unknown record, or the record through another institution.
    let unknown = RecordVersion {
        record: Record { id: RecordId::generate(&mut rng), ..v2.record.clone() },
        ..later_version(&v2, Change::Cancellation, T0)
    };
    let err = try_add_version(store, unknown).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "record" })), "{err:?}");
    let through_b = RecordVersion {
        record: Record { institution: b, ..v2.record.clone() },
        ..later_version(&v2, Change::Cancellation, T0)
    };
    let err = try_add_version(store, through_b).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "record" })), "{err:?}");
    // An author who is not a user of the institution.
    let stranger = RecordVersion { author: Agent::User(two.bob.id), ..later_version(&v2, Change::Cancellation, T0) };
    let err = try_add_version(store, stranger).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    // The schema refuses a change without a reason, or not final, or numbered 1.
    let no_reason = RecordVersion { reason: None, ..later_version(&v2, Change::Cancellation, T0) };
    assert!(try_add_version(store, no_reason).await.is_err());
    let as_draft = RecordVersion {
        state: VersionState::Draft,
        finalized_by: None,
        finalized_at: None,
        ..later_version(&v2, Change::Correction, T0)
    };
    assert!(in_unit!(store, tx => tx.add_version(&as_draft)).is_err());
    let original = RecordVersion { change: Change::Original, ..later_version(&v2, Change::Correction, T0) };
    assert!(try_add_version(store, original).await.is_err());
    assert_eq!(store.record_versions(a, id).await.expect("versions"), [v1.clone(), v2.clone()]);
    assert_eq!(leaf_bytes(store, a).await.len(), 2, "the refused units' leaves went with them");

    // A cancellation follows.
    let v3 = try_add_version(store, later_version(&v2, Change::Cancellation, T0 + Duration::days(3)))
        .await
        .expect("cancellation");
    assert_eq!(store.record_versions(a, id).await.expect("versions"), [v1.clone(), v2.clone(), v3.clone()]);
    assert_eq!(store.patient_record_versions(a, p.id).await.expect("chart"), [v1, v2, v3]);
    assert_eq!(store.final_version_count(a).await.expect("count"), 3);
}

async fn records_need_a_patient_and_people_of_their_institution(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let p = patient(&mut rng, &two.alice, "1001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    let q = patient(&mut rng, &two.bob, "1001", patient_name("林", "一", "ハヤシ", "ハジメ"));
    register(store, &[&p]).await;
    register(store, &[&q]).await;
    let in_b = device(&mut rng, &two.bob, "B装置", 2);
    in_unit!(store, tx => tx.add_device(&in_b)).expect("device");
    let item = hba1c(a, None);

    let other_patient = {
        let v = draft(&mut rng, &p, &two.alice, T0);
        RecordVersion { record: Record { patient: q.id, ..v.record.clone() }, ..v }
    };
    let unknown_institution = {
        let v = draft(&mut rng, &p, &two.alice, T0);
        RecordVersion { record: Record { institution: InstitutionId::generate(&mut rng), ..v.record.clone() }, ..v }
    };
    let cases = [
        (other_patient, "patient"),
        (unknown_institution, "patient"),
        (draft(&mut rng, &p, &two.bob, T0), "user"),
        (proxy_entry(&mut rng, &p, &two.carol, &two.bob, T0), "user"),
        (proxy_entry(&mut rng, &p, &two.bob, &two.alice, T0), "user"),
        (device_result(&mut rng, &p, &in_b, &item, T0), "device"),
    ];
    let mut refused = Vec::new();
    for (v, what) in cases {
        refused.push(v.record.id);
        let err = try_create_record(store, v).await;
        assert!(matches!(err, Err(StoreError::NotFound { what: w }) if w == what), "{what}: {err:?}");
    }
    // The schema refuses a pending entry without its doctor, a final version without its leaf
    // index, and a first version that is not version 1.
    let no_doctor = RecordVersion { proxy_for: None, ..proxy_entry(&mut rng, &p, &two.carol, &two.alice, T0) };
    let no_leaf = device_result(&mut rng, &p, &in_b, &item, T0);
    let no_leaf = RecordVersion {
        record: Record { created_by: Agent::User(two.alice.id), ..no_leaf.record.clone() },
        author: Agent::User(two.alice.id),
        finalized_by: Some(Agent::User(two.alice.id)),
        ..no_leaf
    };
    let second = RecordVersion { version: 2, ..draft(&mut rng, &p, &two.alice, T0) };
    for v in [no_doctor, no_leaf, second] {
        refused.push(v.record.id);
        assert!(in_unit!(store, tx => tx.create_record(&v)).is_err(), "{v:?}");
    }
    // A record ID is used once.
    let kept = create_record(store, draft(&mut rng, &p, &two.alice, T0)).await;
    let again = RecordVersion { content: document("再", "再"), ..kept.clone() };
    let err = try_create_record(store, again).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "record" })), "{err:?}");

    for id in refused {
        assert_eq!(store.record(a, id).await.expect("record"), None, "nothing of a refused unit");
    }
    assert_eq!(store.patient_record_versions(a, p.id).await.expect("chart"), [kept]);
    assert!(store.patient_record_versions(two.b.id, q.id).await.expect("chart").is_empty());
    assert!(all_leaves(store, a).await.is_empty());
}

async fn final_versions_cannot_be_changed_or_deleted_outside_the_store(store: &dyn Store, db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let p = patient(&mut rng, &two.alice, "1001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    register(store, &[&p]).await;
    let analyzer = device(&mut rng, &two.alice, "検体検査装置1", 1);
    let item = hba1c(a, None);
    in_unit!(store, tx => tx.add_device(&analyzer)).expect("device");
    in_unit!(store, tx => tx.add_master_entries(std::slice::from_ref(&item))).expect("master entry");
    let result = create_record(store, device_result(&mut rng, &p, &analyzer, &item, T0)).await;
    let discarded = create_record(store, draft(&mut rng, &p, &two.alice, T0)).await;
    let did = discarded.record.id;
    assert!(in_unit!(store, tx => tx.discard_draft(a, did, 1, two.alice.id, T0)).expect("discard"));
    let open = create_record(store, draft(&mut rng, &p, &two.alice, T0 + Duration::minutes(1))).await;
    let chart = store.patient_record_versions(a, p.id).await.expect("chart");

    let settled = "a finalized, discarded or rejected version never changes";
    let mut refused = vec![
        ("UPDATE record_versions SET content = '{}' WHERE state = 'final'", settled),
        ("UPDATE record_versions SET updated_at = updated_at WHERE state = 'final'", settled),
        ("UPDATE record_versions SET state = 'draft' WHERE state = 'final'", settled),
        ("UPDATE record_versions SET reason = 'rewritten' WHERE state = 'final'", settled),
        ("UPDATE record_versions SET content = content WHERE state = 'discarded'", settled),
        ("DELETE FROM record_versions WHERE state = 'final'", "clinical records are append-only"),
        ("DELETE FROM record_versions", "clinical records are append-only"),
        ("UPDATE record_versions SET reason = 'why' WHERE state = 'draft'", "a version keeps its record"),
        ("UPDATE record_versions SET version = 2 WHERE state = 'draft'", "a version keeps its record"),
        ("UPDATE record_versions SET state = 'rejected' WHERE state = 'draft'", "a draft becomes final or discarded"),
        ("UPDATE records SET category = 'document'", "clinical records are append-only"),
        ("DELETE FROM records", "clinical records are append-only"),
        ("UPDATE master_entries SET name = 'HbA1c (NGSP)'", "master entries are append-only"),
        ("DELETE FROM master_entries", "master entries are append-only"),
        ("UPDATE devices SET name = '別名'", "a device changes only once, by its revocation"),
        ("DELETE FROM devices", "devices are never deleted"),
    ];
    if db.backend() == Backend::Postgres {
        refused.extend([
            ("TRUNCATE record_versions", "clinical records are append-only"),
            ("TRUNCATE records CASCADE", "clinical records are append-only"),
            ("TRUNCATE master_entries", "master entries are append-only"),
            ("TRUNCATE devices CASCADE", "devices are never deleted"),
        ]);
    }
    for (statement, message) in refused {
        let result = execute_outside_the_store(db, statement).await;
        assert!(result.as_ref().is_err_and(|e| e.to_string().contains(message)), "{statement}: {result:?}");
    }
    assert_eq!(store.patient_record_versions(a, p.id).await.expect("chart"), chart);
    assert_eq!(store.record_version(a, result.record.id, 1).await.expect("version"), Some(result));
    assert_eq!(store.record_version(a, did, 1).await.expect("version").map(|v| v.state), Some(VersionState::Discarded));
    assert_eq!(store.master_latest(a).await.expect("master"), [item]);

    // A draft may change (as the store changes it), and a device be revoked, once.
    let same = "UPDATE record_versions SET content = content WHERE state = 'draft'";
    assert_eq!(execute_outside_the_store(db, same).await.expect("a draft changes"), 1);
    assert_eq!(store.record_version(a, open.record.id, 1).await.expect("version"), Some(open));
    assert!(in_unit!(store, tx => tx.revoke_device(a, analyzer.id, T0 + Duration::days(1))).expect("revoke"));
    let unrevoke = "UPDATE devices SET revoked_at = NULL";
    let result = execute_outside_the_store(db, unrevoke).await;
    assert!(result.as_ref().is_err_and(|e| e.to_string().contains("a device changes only once")), "{result:?}");
    assert!(store.devices(a).await.expect("devices").iter().all(|d| d.revoked_at.is_some()));
}

async fn master_entries_are_versioned_and_found_by_day_code_and_name(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    let drug = |code: &str, name: &str| {
        let mut entry = master_entry(a, MasterKind::Drug, code, 1, name, date!(2024 - 04 - 01), None);
        entry.fields.unit = Some("錠".to_owned());
        entry
    };
    let amlodipine = drug("SD-0001", "アムロジピン錠5mg");
    let loxoprofen = drug("SD-0002", "ロキソプロフェン錠60mg");
    let underscore = drug("SD_X1", "試験薬");
    let v1 = hba1c(a, Some(two.alice.id));
    let v2 = MasterEntry {
        version: 2,
        fields: MasterFields {
            name: "HbA1c（NGSP）".to_owned(),
            valid_from: date!(2026 - 04 - 01),
            ..v1.fields.clone()
        },
        imported_at: T0 + Duration::days(1),
        ..v1.clone()
    };
    let v1 = MasterEntry { fields: MasterFields { valid_to: Some(date!(2026 - 04 - 01)), ..v1.fields.clone() }, ..v1 };
    // A short-lived third version inside the first's period: the highest version valid wins.
    let v3 = MasterEntry {
        version: 3,
        fields: MasterFields {
            name: "HbA1c（暫定）".to_owned(),
            valid_from: date!(2025 - 01 - 01),
            valid_to: Some(date!(2025 - 02 - 01)),
            ..v1.fields.clone()
        },
        ..v1.clone()
    };
    let in_b = MasterEntry { institution: b, imported_by: None, ..v1.clone() };
    let all = [amlodipine.clone(), loxoprofen.clone(), underscore.clone(), v1.clone(), v2.clone(), v3.clone()];
    in_unit!(store, tx => tx.add_master_entries(&all)).expect("master entries");
    in_unit!(store, tx => tx.add_master_entries(std::slice::from_ref(&in_b))).expect("master entries of B");

    // A (master, code, version) is added once; a batch is all or none.
    let fresh = drug("SD-0003", "新薬");
    let err = in_unit!(store, tx => tx.add_master_entries(&[fresh.clone(), v2.clone()]));
    assert!(matches!(err, Err(StoreError::Conflict { what: "master entry" })), "{err:?}");
    let by_stranger = MasterEntry { imported_by: Some(two.bob.id), ..fresh.clone() };
    let err = in_unit!(store, tx => tx.add_master_entries(std::slice::from_ref(&by_stranger)));
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    let nowhere = MasterEntry { institution: InstitutionId::generate(&mut rng), ..fresh.clone() };
    let err = in_unit!(store, tx => tx.add_master_entries(std::slice::from_ref(&nowhere)));
    assert!(matches!(err, Err(StoreError::NotFound { what: "institution" })), "{err:?}");
    assert!(store.master_versions(a, MasterKind::Drug, &fresh.code).await.expect("versions").is_empty());

    // The entry valid on a day: the highest version valid that day.
    let code = v1.code.clone();
    let on = |day: Date| {
        let code = code.clone();
        async move { store.master_entry(a, MasterKind::LabItem, &code, day).await.expect("entry") }
    };
    assert_eq!(on(date!(2024 - 03 - 31)).await, None, "before the first version");
    assert_eq!(on(date!(2024 - 04 - 01)).await, Some(v1.clone()));
    assert_eq!(on(date!(2025 - 01 - 15)).await, Some(v3.clone()));
    assert_eq!(on(date!(2025 - 02 - 01)).await, Some(v1.clone()), "the third has ended");
    assert_eq!(on(date!(2026 - 03 - 31)).await, Some(v1.clone()));
    assert_eq!(on(date!(2026 - 04 - 01)).await, Some(v2.clone()));
    assert_eq!(store.master_entry(a, MasterKind::Drug, &code, date!(2025 - 01 - 15)).await.expect("entry"), None);
    assert_eq!(store.master_entry(b, MasterKind::LabItem, &code, date!(2026 - 04 - 01)).await.expect("entry"), None);
    assert_eq!(
        store.master_versions(a, MasterKind::LabItem, &code).await.expect("versions"),
        [v1.clone(), v2.clone(), v3.clone()]
    );
    assert_eq!(store.master_versions(b, MasterKind::LabItem, &code).await.expect("versions"), [in_b]);

    // The search: a code prefix (case ignored, no wildcards) or a part of the name, one entry
    // per code, by code.
    let day = date!(2025 - 01 - 15);
    let search = |master: MasterKind, key: &'static str, limit: u32| async move {
        store.search_master(a, master, key, day, limit).await.expect("search")
    };
    assert_eq!(search(MasterKind::Drug, "sd-0", 200).await, [amlodipine.clone(), loxoprofen.clone()]);
    assert_eq!(search(MasterKind::Drug, "SD-0002", 200).await, std::slice::from_ref(&loxoprofen));
    assert_eq!(search(MasterKind::Drug, "ロキソ", 200).await, std::slice::from_ref(&loxoprofen));
    assert_eq!(search(MasterKind::Drug, "錠", 200).await, [amlodipine.clone(), loxoprofen.clone()]);
    assert_eq!(search(MasterKind::Drug, "sd_", 200).await, std::slice::from_ref(&underscore), "_ is no wildcard");
    assert!(search(MasterKind::Drug, "%", 200).await.is_empty(), "% is no wildcard");
    assert!(search(MasterKind::Drug, "0001", 200).await.is_empty(), "a code matches from its start");
    assert_eq!(
        search(MasterKind::Drug, "", 200).await,
        [amlodipine.clone(), loxoprofen.clone(), underscore.clone()],
        "an empty key lists the codes"
    );
    assert_eq!(search(MasterKind::Drug, "", 1).await, std::slice::from_ref(&amlodipine));
    assert_eq!(search(MasterKind::Drug, "", 0).await, std::slice::from_ref(&amlodipine), "at least one");
    assert_eq!(search(MasterKind::LabItem, "sl", 200).await, std::slice::from_ref(&v3), "one per code, valid that day");
    assert_eq!(search(MasterKind::LabItem, "HbA1c", 200).await, std::slice::from_ref(&v3));
    assert!(search(MasterKind::Disease, "", 200).await.is_empty());
    assert!(store.search_master(a, MasterKind::Drug, "", date!(2024 - 01 - 01), 200).await.expect("search").is_empty());
    assert!(store.search_master(b, MasterKind::Drug, "", day, 200).await.expect("search").is_empty());
    let later = store.search_master(a, MasterKind::LabItem, "hb", date!(2026 - 05 - 01), 200).await.expect("search");
    assert!(later.is_empty(), "the name is matched as written, the code by prefix");
    let later = store.search_master(a, MasterKind::LabItem, "NGSP", date!(2026 - 05 - 01), 200).await.expect("search");
    assert_eq!(later, std::slice::from_ref(&v2));

    // The latest version of every code, by master (as text) then code.
    assert_eq!(store.master_latest(a).await.expect("latest"), [amlodipine, loxoprofen, underscore, v3]);
    assert_eq!(store.master_latest(InstitutionId::generate(&mut rng)).await.expect("latest"), []);
}

async fn devices_are_registered_found_by_token_and_revoked_once(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    let second = device(&mut rng, &two.alice, "検体検査装置2", 2);
    let first =
        Device { registered_at: T0 + Duration::hours(1), ..device(&mut rng, &two.carol, "検体検査装置1", 1) };
    let in_b = device(&mut rng, &two.bob, "検体検査装置1", 3);
    for d in [&second, &first, &in_b] {
        in_unit!(store, tx => tx.add_device(d)).expect("device");
    }
    assert_eq!(store.devices(a).await.expect("devices"), [first.clone(), second.clone()], "by name");
    assert_eq!(store.devices(b).await.expect("devices"), std::slice::from_ref(&in_b));
    // Found by its token from any institution: the device names its own.
    assert_eq!(store.device_by_token(&[1; 32]).await.expect("device"), Some(first.clone()));
    assert_eq!(store.device_by_token(&[3; 32]).await.expect("device"), Some(in_b.clone()));
    assert_eq!(store.device_by_token(&[9; 32]).await.expect("device"), None);

    // A name is used once in an institution, a token once in the deployment, an ID once; the
    // registrar is a user of the institution.
    let cases = [
        (device(&mut rng, &two.alice, "検体検査装置1", 4), StoreError::Conflict { what: "device" }),
        (device(&mut rng, &two.bob, "B装置", 1), StoreError::Conflict { what: "device" }),
        (
            Device { name: "別名".to_owned(), token_hash: [5; 32], ..first.clone() },
            StoreError::Conflict { what: "device" },
        ),
        (
            Device { registered_by: two.bob.id, ..device(&mut rng, &two.alice, "装置X", 6) },
            StoreError::NotFound { what: "user" },
        ),
        (
            Device { institution: InstitutionId::generate(&mut rng), ..device(&mut rng, &two.alice, "装置Y", 7) },
            StoreError::NotFound { what: "user" },
        ),
    ];
    for (d, want) in cases {
        let err = in_unit!(store, tx => tx.add_device(&d));
        assert_eq!(format!("{err:?}"), format!("{:?}", Err::<(), _>(want)), "{}", d.name);
    }
    assert_eq!(store.devices(a).await.expect("devices"), [first.clone(), second.clone()]);

    // Revoked once, through its own institution only; kept, and still found by its token.
    let at = T0 + Duration::days(1);
    assert!(!in_unit!(store, tx => tx.revoke_device(b, first.id, at)).expect("revoke"));
    assert!(!in_unit!(store, tx => tx.revoke_device(a, DeviceId::generate(&mut rng), at)).expect("revoke"));
    assert!(in_unit!(store, tx => tx.revoke_device(a, first.id, at)).expect("revoke"));
    assert!(!in_unit!(store, tx => tx.revoke_device(a, first.id, at + Duration::days(1))).expect("revoke"));
    let revoked = Device { revoked_at: Some(at), ..first };
    assert_eq!(store.devices(a).await.expect("devices"), [revoked.clone(), second]);
    assert_eq!(store.device_by_token(&[1; 32]).await.expect("device"), Some(revoked));
    // Not before its registration (the schema refuses it).
    assert!(in_unit!(store, tx => tx.revoke_device(b, in_b.id, T0 - Duration::days(1))).is_err());
    assert_eq!(store.devices(b).await.expect("devices"), [in_b]);
}

async fn record_leaves_are_appended_as_such_and_are_not_audit_events(store: &dyn Store, db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let p = patient(&mut rng, &two.alice, "1001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    register(store, &[&p]).await;
    let analyzer = device(&mut rng, &two.alice, "検体検査装置1", 1);
    let item = hba1c(a, None);
    in_unit!(store, tx => tx.add_device(&analyzer)).expect("device");
    store.append_log(a, &ticks(a, 0..1)).await.expect("append");
    let result = create_record(store, device_result(&mut rng, &p, &analyzer, &item, T0)).await;
    let read = audit_event(a, Some(two.alice.id), Some(p.id), "record.read", Outcome::Allowed, 1);
    store.append_log(a, std::slice::from_ref(&read)).await.expect("append");
    assert_eq!(result.leaf_index, Some(1));

    let entry = result.entry().expect("entry");
    assert_eq!(entry.kind, LeafKind::Record);
    assert_eq!(count_outside_the_store(db, "SELECT COUNT(*) FROM log_leaves WHERE kind = 'record'").await, 1);
    assert_eq!(count_outside_the_store(db, "SELECT COUNT(*) FROM log_leaves WHERE kind = 'audit'").await, 2);
    assert_eq!(
        count_outside_the_store(
            db,
            "SELECT COUNT(*) FROM log_leaves WHERE kind = 'record' AND idx = 1 AND action = 'record.original'"
        )
        .await,
        1
    );
    assert_log_is(store, a, &[ticks(a, 0..1)[0].leaf.clone(), entry.leaf.clone(), read.leaf.clone()]).await;

    // The auditor's search finds the audit events only, whatever the filter.
    let everything = AuditQuery { limit: 1000, ..AuditQuery::default() };
    let found = store.audit_search(a, &everything).await.expect("search");
    assert_eq!(found, [(2, read.leaf.clone()), (0, ticks(a, 0..1)[0].leaf.clone())]);
    let about_p = AuditQuery { patient: Some(p.id), ..everything.clone() };
    assert_eq!(store.audit_search(a, &about_p).await.expect("search"), [(2, read.leaf.clone())]);
    let originals = AuditQuery { action: Some("record.original".to_owned()), ..everything };
    assert!(store.audit_search(a, &originals).await.expect("search").is_empty());
}

async fn records_of_a_dropped_unit_leave_nothing(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let p = patient(&mut rng, &two.alice, "1001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    register(store, &[&p]).await;
    let analyzer = device(&mut rng, &two.alice, "検体検査装置1", 1);
    let item = hba1c(a, None);
    let kept = create_record(store, draft(&mut rng, &p, &two.alice, T0)).await;

    let mut tx = store.begin().await.expect("begin");
    tx.add_device(&analyzer).await.expect("device");
    tx.add_master_entries(std::slice::from_ref(&item)).await.expect("master entry");
    let result = with_leaf(&mut *tx, device_result(&mut rng, &p, &analyzer, &item, T0)).await;
    tx.create_record(&result).await.expect("create");
    let edited = document("診療情報提供書", "書きかけ");
    assert!(tx.update_draft(a, kept.record.id, 1, two.alice.id, &edited, T0).await.expect("update"));
    let f = with_leaf(
        &mut *tx,
        finalized(&RecordVersion { content: edited, ..kept.clone() }, Agent::User(two.alice.id), T0),
    )
    .await;
    assert!(tx.finalize_version(&f, VersionState::Draft).await.expect("finalize"));
    drop(tx);

    assert!(store.devices(a).await.expect("devices").is_empty());
    assert_eq!(store.device_by_token(&analyzer.token_hash).await.expect("device"), None);
    assert!(store.master_latest(a).await.expect("master").is_empty());
    assert_eq!(store.record(a, result.record.id).await.expect("record"), None);
    assert_eq!(store.patient_record_versions(a, p.id).await.expect("chart"), [kept]);
    assert_eq!(store.final_version_count(a).await.expect("count"), 0);
    assert!(all_leaves(store, a).await.is_empty());
}

async fn a_patients_chart_answers_at_most_five_thousand_versions(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let p = patient(&mut rng, &two.alice, "1001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    register(store, &[&p]).await;
    let mut tx = store.begin().await.expect("begin");
    let mut written = Vec::new();
    for n in 0..5000 {
        let v = draft(&mut rng, &p, &two.alice, T0 + Duration::seconds(n));
        tx.create_record(&v).await.expect("create");
        written.push(v);
    }
    tx.commit().await.expect("commit");
    assert_eq!(store.patient_record_versions(a, p.id).await.expect("chart"), written, "all of them, oldest first");
    create_record(store, draft(&mut rng, &p, &two.alice, T0)).await;
    let err = store.patient_record_versions(a, p.id).await;
    assert!(
        matches!(err, Err(StoreError::TooMany { what: "record versions", max: 5000 })),
        "{:?}",
        err.map(|v| v.len())
    );
}

/// Hex digits of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs one statement built at run time on the test database, outside the store.
async fn execute_built_outside_the_store(db: &TestDb, statement: String) -> Result<u64, sqlx::Error> {
    match db {
        TestDb::Sqlite { path } => {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
            let result =
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&mut conn).await.map(|r| r.rows_affected());
            let _ = conn.close().await;
            result
        }
        TestDb::Postgres { url, .. } => {
            let mut conn = sqlx::PgConnection::connect(url.expose()).await?;
            let result =
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&mut conn).await.map(|r| r.rows_affected());
            let _ = conn.close().await;
            result
        }
    }
}

async fn the_records_migration_upgrades_a_version_9_database_and_keeps_its_log(_store: &dyn Store, db: &TestDb) {
    let old = database_at_version(db, 9, VERSION_2_ROWS).await;
    let inst = old_institution();
    // Three audit leaves as version 9 held them: the head, the leaves and their nodes.
    let entries: Vec<LogEntry> =
        (0..3).map(|n| audit_event(inst, None, None, "system.tick", Outcome::Allowed, n)).collect();
    let bytes = |b: &[u8]| match old.backend() {
        Backend::Sqlite => format!("X'{}'", hex(b)),
        Backend::Postgres => format!("decode('{}', 'hex')", hex(b)),
    };
    let mut frontier = Frontier::new();
    let mut rows = Vec::new();
    for (idx, entry) in entries.iter().enumerate() {
        let hash = leaf_hash(&entry.leaf);
        let at = entry.columns.at.format(&time::format_description::well_known::Rfc3339).expect("a time");
        rows.push(format!(
            "INSERT INTO log_leaves (institution_id, idx, leaf, leaf_hash, kind, at, actor_id, patient_id, action, \
                                     outcome, category) \
             VALUES ('{}', {idx}, {}, {}, 'audit', '{at}', NULL, NULL, '{}', 'allowed', NULL)",
            inst,
            bytes(&entry.leaf),
            bytes(hash.as_bytes()),
            entry.columns.action
        ));
        for node in frontier.append(hash).expect("append") {
            rows.push(format!(
                "INSERT INTO log_nodes (institution_id, level, idx, hash) VALUES ('{}', {}, {}, {})",
                inst,
                node.level,
                node.index,
                bytes(node.hash.as_bytes())
            ));
        }
    }
    let head = format!(
        "INSERT INTO log_heads (institution_id, size, root, frontier) VALUES ('{}', 3, {}, {})",
        inst,
        bytes(frontier.root().as_bytes()),
        bytes(&frontier.to_bytes())
    );
    for statement in std::iter::once(head).chain(rows) {
        execute_built_outside_the_store(&old, statement).await.expect("version 9 rows");
    }

    let store = old.open().await;
    assert_eq!(store.schema_version().await.expect("schema version"), LATEST_SCHEMA_VERSION);
    let mut leaves = leaves_of(&entries);
    assert_log_is(&*store, inst, &leaves).await;
    let everything = AuditQuery { limit: 1000, ..AuditQuery::default() };
    assert_eq!(store.audit_search(inst, &everything).await.expect("search").len(), 3, "still audit leaves");

    // The old institution's log goes on with a record leaf.
    let user = store.find_login(&login("olduser")).await.expect("find").expect("the old user is kept");
    let p = patient(&mut rng(), &user, "0001", patient_name("山田", "花子", "ヤマダ", "ハナコ"));
    register(&*store, &[&p]).await;
    let v = create_record(&*store, draft(&mut rng(), &p, &user, T0)).await;
    let (done, f) = try_finalize(&*store, &v, Agent::User(user.id), T0, VersionState::Draft).await;
    assert!(done);
    assert_eq!(f.leaf_index, Some(3));
    leaves.push(f.to_leaf().expect("leaf"));
    assert_log_is(&*store, inst, &leaves).await;
    assert_eq!(store.audit_search(inst, &everything).await.expect("search").len(), 3);
    store.close().await;
    old.remove().await;
}

// ---------------------------------------------------------------------------------------------
// Assessments (migration 0011)
// ---------------------------------------------------------------------------------------------

/// An assessment of `by`'s institution of the catalog `hoshu-7.0` for the 2026 fiscal year,
/// started by `by` at `at`.
fn assessment(rng: &mut TestRng, by: &User, title: &str, at: OffsetDateTime) -> Assessment {
    Assessment {
        institution: by.institution_id,
        id: AssessmentId::generate(rng),
        catalog: "hoshu-7.0".to_owned(),
        title: title.to_owned(),
        period_start: date!(2026 - 04 - 01),
        period_end: date!(2027 - 03 - 31),
        carried_from: None,
        created_by: by.id,
        created_at: at,
    }
}

/// Version 1 of `item` of `a`: not started, without owner, dates or notes.
fn first_item(a: &Assessment, item: &str) -> ItemAssessment {
    ItemAssessment {
        institution: a.institution,
        assessment: a.id,
        item: item.to_owned(),
        state: ItemState::NotStarted,
        owner: None,
        due_on: None,
        next_review_on: None,
        notes: String::new(),
        version: 1,
        changed_by: a.created_by,
        changed_at: a.created_at,
    }
}

/// The next version of `item` in `state`, written by `by` a day later.
fn next_version(item: &ItemAssessment, state: ItemState, by: &User) -> ItemAssessment {
    ItemAssessment {
        state,
        version: item.version + 1,
        changed_by: by.id,
        changed_at: item.changed_at + Duration::days(1),
        ..item.clone()
    }
}

fn link(url: &str) -> EvidenceKind {
    EvidenceKind::Link { url: url.to_owned() }
}

fn file(name: &str, byte: u8, size: u64) -> EvidenceKind {
    EvidenceKind::File { name: name.to_owned(), sha256: [byte; 32], size }
}

/// Revision `revision` of the evidence `id` for `item` of `a`, added by `by` `revision`
/// minutes after T0, without owner or dates.
fn evidence(id: EvidenceId, revision: u32, a: &Assessment, item: &str, by: &User, kind: EvidenceKind) -> Evidence {
    Evidence {
        institution: a.institution,
        id,
        revision,
        assessment: a.id,
        item: item.to_owned(),
        title: "情報セキュリティ規程".to_owned(),
        kind,
        owner: None,
        effective_on: None,
        expires_on: None,
        added_by: by.id,
        added_at: T0 + Duration::minutes(i64::from(revision)),
    }
}

/// What one unit that starts `a` with `items` answers (committed only on success).
async fn try_create_assessment(store: &dyn Store, a: &Assessment, items: &[ItemAssessment]) -> Result<(), StoreError> {
    in_unit!(store, tx => tx.create_assessment(a, items))
}

/// What one unit that changes `item` answers (committed only on success).
async fn try_update_item(store: &dyn Store, item: &ItemAssessment) -> Result<bool, StoreError> {
    in_unit!(store, tx => tx.update_item(item))
}

/// What one unit that adds `e` answers (committed only on success).
async fn try_add_evidence(store: &dyn Store, e: &Evidence) -> Result<(), StoreError> {
    in_unit!(store, tx => tx.add_evidence(e))
}

async fn assessments_round_trip_every_field_newest_first_and_start_whole(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let last_year = Assessment {
        catalog: "hoshu-6.0".to_owned(),
        period_start: date!(2025 - 04 - 01),
        period_end: date!(2026 - 03 - 31),
        ..assessment(&mut rng, &two.alice, "2025年度 自己点検", T0 - Duration::days(365))
    };
    let last_item = first_item(&last_year, "hoshu-6.0/9-4");
    try_create_assessment(store, &last_year, std::slice::from_ref(&last_item)).await.expect("create last year");
    let this_year = Assessment {
        carried_from: Some(last_year.id),
        created_at: datetime!(2026-11-25 18:30:00.000042999 +09:00),
        ..assessment(&mut rng, &two.alice, "2026年度 自己点検", T0)
    };
    let full = ItemAssessment {
        state: ItemState::InProgress,
        owner: Some(two.carol.id),
        due_on: Some(date!(2026 - 06 - 30)),
        next_review_on: Some(date!(2027 - 06 - 30)),
        notes: "二要素認証を全員に設定済み\n残り: 委託先\tの確認".to_owned(),
        changed_by: two.carol.id,
        ..first_item(&this_year, "hoshu-7.0/9-4")
    };
    let plain = first_item(&this_year, "hoshu-7.0/1-1");
    let as_given = first_item(&this_year, " 項目　(as given) ");
    let longest = first_item(&this_year, &"あ".repeat(100));
    let items = [full.clone(), plain.clone(), as_given.clone(), longest.clone()];
    try_create_assessment(store, &this_year, &items).await.expect("create");

    // Read back exactly: times in UTC, truncated to the microsecond; items by item, bytewise.
    let stored_at = datetime!(2026-11-25 09:30:00.000042 UTC);
    let this_year_stored = Assessment { created_at: stored_at, ..this_year.clone() };
    let stored = |i: &ItemAssessment| ItemAssessment { changed_at: stored_at, ..i.clone() };
    assert_eq!(store.assessment(a, this_year.id).await.expect("assessment"), Some(this_year_stored.clone()));
    assert_eq!(store.assessment(a, last_year.id).await.expect("assessment"), Some(last_year.clone()));
    assert_eq!(
        store.assessment_items(a, this_year.id).await.expect("items"),
        vec![stored(&as_given), stored(&plain), stored(&full), stored(&longest)]
    );
    assert_eq!(store.item_history(a, this_year.id, &full.item).await.expect("history"), vec![stored(&full)]);
    assert_eq!(
        store.item_history(a, this_year.id, &as_given.item).await.expect("history"),
        vec![stored(&as_given)],
        "an item is kept as given"
    );
    assert!(store.item_history(a, this_year.id, "項目　(as given)").await.expect("history").is_empty());
    assert_eq!(store.assessment_items(a, last_year.id).await.expect("items"), vec![last_item.clone()]);
    assert_eq!(store.assessment(a, AssessmentId::generate(&mut rng)).await.expect("assessment"), None);

    // Newest first, then by ID; an assessment may start with no items.
    let later = T0 + Duration::hours(1);
    let mut twins =
        [assessment(&mut rng, &two.carol, "臨時点検A", later), assessment(&mut rng, &two.carol, "臨時点検B", later)];
    for twin in &twins {
        try_create_assessment(store, twin, &[]).await.expect("create");
    }
    twins.sort_by_key(|t| t.id);
    let listed = vec![twins[0].clone(), twins[1].clone(), this_year_stored.clone(), last_year.clone()];
    assert_eq!(store.assessments(a).await.expect("list"), listed);
    assert!(store.assessment_items(a, twins[0].id).await.expect("items").is_empty());

    // A taken ID conflicts and changes nothing.
    let taken = Assessment { title: "別の点検".to_owned(), ..this_year.clone() };
    let err = try_create_assessment(store, &taken, &[first_item(&taken, "hoshu-7.0/2-1")]).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "assessment" })), "{err:?}");

    // Every refused start leaves nothing of its unit, items written before the refusal included.
    let fresh = |rng: &mut TestRng| assessment(rng, &two.alice, "拒否される点検", T0);
    let refused = fresh(&mut rng);
    let stranger_owner = [
        first_item(&refused, "hoshu-7.0/1-1"),
        ItemAssessment { owner: Some(two.bob.id), ..first_item(&refused, "hoshu-7.0/1-2") },
    ];
    let err = try_create_assessment(store, &refused, &stranger_owner).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    let twice = [first_item(&refused, "hoshu-7.0/1-1"), first_item(&refused, "hoshu-7.0/1-1")];
    let err = try_create_assessment(store, &refused, &twice).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "assessment item" })), "{err:?}");
    let unknown_predecessor = Assessment { carried_from: Some(AssessmentId::generate(&mut rng)), ..refused.clone() };
    let err = try_create_assessment(store, &unknown_predecessor, &[]).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "assessment" })), "{err:?}");
    let by_stranger = Assessment { created_by: two.bob.id, ..refused.clone() };
    let err = try_create_assessment(store, &by_stranger, &[]).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    let nowhere = Assessment { institution: InstitutionId::generate(&mut rng), ..refused.clone() };
    let err = try_create_assessment(store, &nowhere, &[]).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    let second_version = [ItemAssessment { version: 2, ..first_item(&refused, "hoshu-7.0/1-1") }];
    assert!(try_create_assessment(store, &refused, &second_version).await.is_err(), "items start at version 1");
    let elsewhere = [first_item(&twins[0], "hoshu-7.0/1-1")];
    assert!(try_create_assessment(store, &refused, &elsewhere).await.is_err(), "an item of another assessment");
    for bad in ["", "a\nb", "a\u{7}", "a\u{85}b", "a\0b", &"あ".repeat(101)] {
        let items = [first_item(&refused, "hoshu-7.0/1-1"), first_item(&refused, bad)];
        assert!(try_create_assessment(store, &refused, &items).await.is_err(), "item {bad:?}");
    }
    let long_notes = [ItemAssessment { notes: "あ".repeat(4001), ..first_item(&refused, "hoshu-7.0/1-1") }];
    assert!(try_create_assessment(store, &refused, &long_notes).await.is_err(), "notes of 4001 characters");
    for catalog in ["", "Hoshu-7.0", "hoshu 7.0", "hoshu_7.0", &"a".repeat(41)] {
        let bad = Assessment { catalog: catalog.to_owned(), ..refused.clone() };
        assert!(try_create_assessment(store, &bad, &[]).await.is_err(), "catalog {catalog:?}");
    }
    for title in [String::new(), "あ".repeat(101)] {
        let bad = Assessment { title, ..refused.clone() };
        assert!(try_create_assessment(store, &bad, &[]).await.is_err(), "title of {} characters", bad.title.len());
    }
    let backwards = Assessment { period_end: date!(2026 - 03 - 31), ..refused.clone() };
    assert!(try_create_assessment(store, &backwards, &[]).await.is_err(), "a period that ends before it starts");
    assert_eq!(store.assessment(a, refused.id).await.expect("assessment"), None);
    assert!(store.assessment_items(a, refused.id).await.expect("items").is_empty());
    assert!(store.item_history(a, refused.id, "hoshu-7.0/1-1").await.expect("history").is_empty());
    assert_eq!(store.assessments(a).await.expect("list"), listed, "nothing of a refused unit");
    assert_eq!(
        store.assessment_items(a, this_year.id).await.expect("items"),
        vec![stored(&as_given), stored(&plain), stored(&full), stored(&longest)],
        "unchanged"
    );

    // A dropped unit leaves nothing either: the assessment, an item's change, its evidence.
    let dropped = fresh(&mut rng);
    let v1 = first_item(&dropped, "hoshu-7.0/1-1");
    let mut tx = store.begin().await.expect("begin");
    tx.create_assessment(&dropped, std::slice::from_ref(&v1)).await.expect("create");
    assert!(tx.update_item(&next_version(&v1, ItemState::Done, &two.alice)).await.expect("update"));
    let e = evidence(EvidenceId::generate(&mut rng), 1, &dropped, &v1.item, &two.alice, link("https://example.jp/x"));
    tx.add_evidence(&e).await.expect("evidence");
    drop(tx);
    assert_eq!(store.assessment(a, dropped.id).await.expect("assessment"), None);
    assert!(store.assessment_items(a, dropped.id).await.expect("items").is_empty());
    assert!(store.item_history(a, dropped.id, &v1.item).await.expect("history").is_empty());
    assert!(store.evidence(a, dropped.id).await.expect("evidence").is_empty());
    assert_eq!(store.assessments(a).await.expect("list"), listed);
}

async fn item_changes_are_versioned_and_a_stale_change_changes_nothing(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let asm = assessment(&mut rng, &two.alice, "2026年度 自己点検", T0);
    let v1 = first_item(&asm, "hoshu-7.0/9-4");
    let other = first_item(&asm, "hoshu-7.0/9-5");
    try_create_assessment(store, &asm, &[v1.clone(), other.clone()]).await.expect("create");

    let v2 = ItemAssessment {
        owner: Some(two.carol.id),
        due_on: Some(date!(2026 - 06 - 30)),
        notes: "委託先の確認中".to_owned(),
        ..next_version(&v1, ItemState::InProgress, &two.carol)
    };
    assert!(try_update_item(store, &v2).await.expect("update"));
    assert_eq!(store.assessment_items(a, asm.id).await.expect("items"), vec![v2.clone(), other.clone()]);
    let history = vec![v1.clone(), v2.clone()];
    assert_eq!(store.item_history(a, asm.id, &v1.item).await.expect("history"), history, "oldest first");

    // A stale change (from version 1 again), a skipped version, an unknown item or assessment
    // change nothing.
    let stale = ItemAssessment { notes: "上書き".to_owned(), state: ItemState::Done, ..v2.clone() };
    assert!(!try_update_item(store, &stale).await.expect("update"));
    let skipped = ItemAssessment { version: 4, ..stale.clone() };
    assert!(!try_update_item(store, &skipped).await.expect("update"));
    let unknown_item =
        ItemAssessment { item: "hoshu-7.0/99-9".to_owned(), ..next_version(&v1, ItemState::Done, &two.alice) };
    assert!(!try_update_item(store, &unknown_item).await.expect("update"));
    let unknown_assessment = ItemAssessment {
        assessment: AssessmentId::generate(&mut rng),
        ..next_version(&v2, ItemState::Done, &two.alice)
    };
    assert!(!try_update_item(store, &unknown_assessment).await.expect("update"));
    assert_eq!(store.assessment_items(a, asm.id).await.expect("items"), vec![v2.clone(), other.clone()]);
    assert_eq!(store.item_history(a, asm.id, &v1.item).await.expect("history"), history);

    // An owner or author of another institution, or notes too long, are refused, and nothing
    // changes.
    let v3 = next_version(&v2, ItemState::Done, &two.alice);
    let foreign_owner = ItemAssessment { owner: Some(two.bob.id), ..v3.clone() };
    let err = try_update_item(store, &foreign_owner).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    let foreign_author = ItemAssessment { changed_by: two.bob.id, ..v3.clone() };
    let err = try_update_item(store, &foreign_author).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    let long_notes = ItemAssessment { notes: "あ".repeat(4001), ..v3.clone() };
    assert!(try_update_item(store, &long_notes).await.is_err());
    assert_eq!(store.assessment_items(a, asm.id).await.expect("items"), vec![v2.clone(), other.clone()]);
    assert_eq!(store.item_history(a, asm.id, &v1.item).await.expect("history"), history);

    // The next versions, in every state, owner and dates cleared, 4000 characters of notes.
    let v3 = ItemAssessment { notes: "あ".repeat(4000), ..v3 };
    assert!(try_update_item(store, &v3).await.expect("update"));
    let v4 = ItemAssessment {
        owner: None,
        due_on: None,
        next_review_on: Some(date!(2027 - 06 - 30)),
        notes: String::new(),
        ..next_version(&v3, ItemState::NotApplicable, &two.carol)
    };
    assert!(try_update_item(store, &v4).await.expect("update"));
    let v5 = next_version(&v4, ItemState::NotStarted, &two.alice);
    assert!(try_update_item(store, &v5).await.expect("update"));
    assert!(!try_update_item(store, &v5).await.expect("update"), "the same change twice changes once");
    assert_eq!(
        store.item_history(a, asm.id, &v1.item).await.expect("history"),
        vec![v1.clone(), v2.clone(), v3.clone(), v4.clone(), v5.clone()]
    );
    assert_eq!(store.assessment_items(a, asm.id).await.expect("items"), vec![v5, other.clone()]);
    assert_eq!(store.item_history(a, asm.id, &other.item).await.expect("history"), vec![other]);
}

async fn evidence_revisions_are_kept_and_a_taken_revision_conflicts(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let asm = assessment(&mut rng, &two.alice, "2026年度 自己点検", T0);
    let (item, other) = ("hoshu-7.0/9-4", "hoshu-7.0/1-1");
    try_create_assessment(store, &asm, &[first_item(&asm, item), first_item(&asm, other)]).await.expect("create");

    let policy = EvidenceId::generate(&mut rng);
    let r1 = Evidence {
        owner: Some(two.carol.id),
        effective_on: Some(date!(2026 - 04 - 01)),
        expires_on: Some(date!(2027 - 04 - 01)),
        ..evidence(policy, 1, &asm, item, &two.alice, link("https://intra.example.jp/policy.pdf?v=1#p2"))
    };
    let r2 = Evidence {
        title: "情報セキュリティ規程（改訂）".to_owned(),
        added_at: datetime!(2026-11-25 18:30:00.000042999 +09:00),
        ..evidence(policy, 2, &asm, item, &two.carol, file("規程_v2.pdf", 7, 123_456))
    };
    let log = evidence(
        EvidenceId::generate(&mut rng),
        1,
        &asm,
        other,
        &two.alice,
        file("audit.log", 8, u64::try_from(i64::MAX).expect("fits")),
    );
    let empty = evidence(EvidenceId::generate(&mut rng), 1, &asm, other, &two.alice, file("empty.txt", 0, 0));
    for e in [&r1, &r2, &log, &empty] {
        try_add_evidence(store, e).await.expect("add evidence");
    }
    let r2_stored = Evidence { added_at: datetime!(2026-11-25 09:30:00.000042 UTC), ..r2.clone() };
    let mut expected = vec![log.clone(), empty.clone(), r1.clone(), r2_stored.clone()];
    expected[..2].sort_by_key(|e| e.id);
    assert_eq!(store.evidence(a, asm.id).await.expect("evidence"), expected, "by item, ID, then revision");

    // A taken revision conflicts; an unknown item (or an item of an unknown assessment) or a user
    // of another institution is not found; a file too large, an empty title, a plain http link or
    // an expiry not after the day it takes effect are refused.
    let again =
        Evidence { title: "上書き".to_owned(), ..evidence(policy, 2, &asm, item, &two.alice, link("https://x.jp")) };
    let err = try_add_evidence(store, &again).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "evidence" })), "{err:?}");
    let r3 = evidence(policy, 3, &asm, item, &two.alice, link("https://intra.example.jp/policy-v3.pdf"));
    let unknown_item = Evidence { item: "hoshu-7.0/99-9".to_owned(), ..r3.clone() };
    let err = try_add_evidence(store, &unknown_item).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "assessment item" })), "{err:?}");
    let unknown_assessment = Evidence { assessment: AssessmentId::generate(&mut rng), ..r3.clone() };
    let err = try_add_evidence(store, &unknown_assessment).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "assessment item" })), "{err:?}");
    let foreign_owner = Evidence { owner: Some(two.bob.id), ..r3.clone() };
    let err = try_add_evidence(store, &foreign_owner).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    let foreign_author = Evidence { added_by: two.bob.id, ..r3.clone() };
    let err = try_add_evidence(store, &foreign_author).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    let too_large = Evidence { kind: file("huge.bin", 9, u64::MAX), ..r3.clone() };
    assert!(try_add_evidence(store, &too_large).await.is_err(), "a size beyond the column");
    let untitled = Evidence { title: String::new(), ..r3.clone() };
    assert!(try_add_evidence(store, &untitled).await.is_err(), "an empty title");
    let plain_http = Evidence { kind: link("http://intra.example.jp/policy.pdf"), ..r3.clone() };
    assert!(try_add_evidence(store, &plain_http).await.is_err(), "http");
    let long_url = Evidence { kind: link(&format!("https://example.jp/{}", "a".repeat(1990))), ..r3.clone() };
    assert!(try_add_evidence(store, &long_url).await.is_err(), "a URL of more than 2000 characters");
    let backwards =
        Evidence { effective_on: Some(date!(2026 - 04 - 01)), expires_on: Some(date!(2026 - 04 - 01)), ..r3.clone() };
    assert!(try_add_evidence(store, &backwards).await.is_err(), "an expiry not after it takes effect");
    let revision_0 = evidence(EvidenceId::generate(&mut rng), 0, &asm, item, &two.alice, link("https://x.jp"));
    assert!(try_add_evidence(store, &revision_0).await.is_err(), "revisions start at 1");
    assert_eq!(store.evidence(a, asm.id).await.expect("evidence"), expected, "unchanged");

    // The next revision is added.
    try_add_evidence(store, &r3).await.expect("add revision 3");
    expected.push(r3);
    assert_eq!(store.evidence(a, asm.id).await.expect("evidence"), expected);
}

async fn assessments_item_versions_and_evidence_cannot_be_changed_or_deleted_outside_the_store(
    store: &dyn Store,
    db: &TestDb,
) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let asm = assessment(&mut rng, &two.alice, "2026年度 自己点検", T0);
    let v1 = first_item(&asm, "hoshu-7.0/9-4");
    try_create_assessment(store, &asm, std::slice::from_ref(&v1)).await.expect("create");
    let v2 = next_version(&v1, ItemState::Done, &two.carol);
    assert!(try_update_item(store, &v2).await.expect("update"));
    let e = evidence(EvidenceId::generate(&mut rng), 1, &asm, &v1.item, &two.alice, link("https://example.jp/p.pdf"));
    try_add_evidence(store, &e).await.expect("evidence");

    let versions = "assessment item versions are append-only";
    let revisions = "evidence is append-only";
    let mut refused = vec![
        ("UPDATE assessment_item_versions SET notes = 'rewritten'", versions),
        ("UPDATE assessment_item_versions SET state = 'not_started' WHERE version = 2", versions),
        ("DELETE FROM assessment_item_versions WHERE version = 2", versions),
        ("DELETE FROM assessment_item_versions", versions),
        ("UPDATE evidence SET title = '改ざん'", revisions),
        ("UPDATE evidence SET url = 'https://example.jp/other.pdf'", revisions),
        ("DELETE FROM evidence", revisions),
        ("UPDATE assessments SET title = '改ざん'", "assessments are append-only"),
        ("DELETE FROM assessments", "assessments are append-only"),
        ("DELETE FROM assessment_items", "assessment items are never deleted"),
    ];
    if db.backend() == Backend::Postgres {
        refused.extend([
            ("TRUNCATE assessment_item_versions", versions),
            ("TRUNCATE evidence", revisions),
            ("TRUNCATE assessment_items CASCADE", "TRUNCATE on"),
            ("TRUNCATE assessments CASCADE", "TRUNCATE on"),
        ]);
    }
    for (statement, message) in refused {
        let result = execute_outside_the_store(db, statement).await;
        assert!(result.as_ref().is_err_and(|e| e.to_string().contains(message)), "{statement}: {result:?}");
    }
    assert_eq!(store.assessments(a).await.expect("list"), vec![asm.clone()]);
    assert_eq!(store.assessment_items(a, asm.id).await.expect("items"), vec![v2.clone()]);
    assert_eq!(store.item_history(a, asm.id, &v1.item).await.expect("history"), vec![v1.clone(), v2.clone()]);
    assert_eq!(store.evidence(a, asm.id).await.expect("evidence"), vec![e.clone()]);

    // The schema refuses evidence that is not a whole file or a whole link, a plain http link
    // and an expiry not after the day it takes effect, whoever writes it.
    let insert = |revision: u32, kind_columns: &str, dates: &str| {
        format!(
            "INSERT INTO evidence (institution_id, id, revision, assessment_id, item, title, kind, file_name, \
             file_sha256, file_size, url, owner, effective_on, expires_on, added_by, added_at) \
             VALUES ('{a}', '{id}', {revision}, '{asm}', 'hoshu-7.0/9-4', '規程', {kind_columns}, NULL, {dates}, \
             '{alice}', '2026-11-25T09:00:00.000000Z')",
            a = a,
            id = e.id,
            asm = asm.id,
            alice = two.alice.id,
        )
    };
    for (kind_columns, dates) in [
        ("'link', 'policy.pdf', NULL, NULL, 'https://example.jp/p.pdf'", "NULL, NULL"),
        ("'file', 'policy.pdf', NULL, NULL, NULL", "NULL, NULL"),
        ("'link', NULL, NULL, NULL, NULL", "NULL, NULL"),
        ("'link', NULL, NULL, NULL, 'http://example.jp/p.pdf'", "NULL, NULL"),
        ("'link', NULL, NULL, NULL, 'https://'", "NULL, NULL"),
        ("'note', NULL, NULL, NULL, 'https://example.jp/p.pdf'", "NULL, NULL"),
        ("'link', NULL, NULL, NULL, 'https://example.jp/p.pdf'", "'2026-04-01', '2026-03-31'"),
        ("'link', NULL, NULL, NULL, 'https://example.jp/p.pdf'", "'2026-04-01', '2026-04-01'"),
    ] {
        let statement = insert(2, kind_columns, dates);
        assert!(execute_built_outside_the_store(db, statement.clone()).await.is_err(), "{statement}");
    }
    let fine = insert(2, "'link', NULL, NULL, NULL, 'https://example.jp/p.pdf'", "'2026-04-01', '2026-04-02'");
    assert_eq!(execute_built_outside_the_store(db, fine).await.expect("a whole link"), 1);
    assert_eq!(store.evidence(a, asm.id).await.expect("evidence").len(), 2);
}

fn decision(
    institution: InstitutionId,
    version: u32,
    yes: bool,
    basis: &str,
    by: &User,
) -> mamori_core::applicability::Decision {
    mamori_core::applicability::Decision {
        institution,
        version,
        flowchart: "hoshu-7.0/figure-1".into(),
        answers: [("all-server-security-updates-delegated".to_owned(), yes)].into(),
        outcome: if yes { "hoshu-applies" } else { "main-guideline-applies" }.into(),
        applies: yes,
        basis: basis.into(),
        notes: "理事会で確認\n（2026年度）".into(),
        decided_by: by.id,
        decided_at: T0 + Duration::minutes(i64::from(version)),
    }
}

async fn try_decide(store: &dyn Store, d: &mamori_core::applicability::Decision) -> Result<(), StoreError> {
    in_unit!(store, tx => tx.decide_applicability(d))
}

async fn applicability_decisions_are_versioned_kept_and_per_institution(store: &dyn Store, db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    assert_eq!(store.applicability(a).await.expect("none yet"), vec![]);
    let v1 = decision(a, 1, false, "", &two.alice);
    let v2 = decision(a, 2, true, "保守契約書 第12条（セキュリティアップデートは受託者が行う）", &two.carol);
    try_decide(store, &v1).await.expect("v1");
    try_decide(store, &v2).await.expect("v2");
    assert_eq!(store.applicability(a).await.expect("history"), vec![v1.clone(), v2.clone()]);
    // A taken version conflicts and changes nothing.
    let stale = decision(a, 2, false, "", &two.alice);
    assert!(matches!(try_decide(store, &stale).await, Err(StoreError::Conflict { what: "applicability decision" })));
    // The decider must be a user of the institution; another institution sees nothing.
    let foreign = decision(a, 3, false, "", &two.bob);
    assert!(matches!(try_decide(store, &foreign).await, Err(StoreError::NotFound { what: "user" })));
    assert_eq!(store.applicability(b).await.expect("b"), vec![]);
    assert_eq!(store.applicability(a).await.expect("history").len(), 2);
    // Versions cannot be changed or deleted outside the store either.
    let mut refused = vec![
        "UPDATE applicability_decisions SET basis = '改ざん'",
        "UPDATE applicability_decisions SET applies = NOT applies",
        "DELETE FROM applicability_decisions",
    ];
    if db.backend() == Backend::Postgres {
        refused.push("TRUNCATE applicability_decisions");
    }
    for statement in refused {
        let result = execute_outside_the_store(db, statement).await;
        assert!(result.as_ref().is_err_and(|e| e.to_string().contains("append-only")), "{statement}: {result:?}");
    }
    assert_eq!(store.applicability(a).await.expect("history"), vec![v1, v2]);
}

async fn assessments_are_invisible_through_another_institution(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    let asm = assessment(&mut rng, &two.alice, "2026年度 自己点検", T0);
    let v1 = first_item(&asm, "hoshu-7.0/9-4");
    try_create_assessment(store, &asm, std::slice::from_ref(&v1)).await.expect("create");
    let e = evidence(EvidenceId::generate(&mut rng), 1, &asm, &v1.item, &two.alice, link("https://example.jp/p.pdf"));
    try_add_evidence(store, &e).await.expect("evidence");

    let unknown = InstitutionId::generate(&mut rng);
    for other in [b, unknown] {
        assert!(store.assessments(other).await.expect("list").is_empty());
        assert_eq!(store.assessment(other, asm.id).await.expect("assessment"), None);
        assert!(store.assessment_items(other, asm.id).await.expect("items").is_empty());
        assert!(store.item_history(other, asm.id, &v1.item).await.expect("history").is_empty());
        assert!(store.evidence(other, asm.id).await.expect("evidence").is_empty());
        // A change through the other institution finds no item (even by one of its users).
        let through = ItemAssessment { institution: other, ..next_version(&v1, ItemState::Done, &two.bob) };
        assert!(!try_update_item(store, &through).await.expect("update"));
    }
    // Evidence for A's item through B (by B's user) finds no item; B's assessment cannot be
    // carried over from A's.
    let through = Evidence { institution: b, revision: 2, ..e.clone() };
    let through = Evidence { added_by: two.bob.id, ..through };
    let err = try_add_evidence(store, &through).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "assessment item" })), "{err:?}");
    let in_b = Assessment { carried_from: Some(asm.id), ..assessment(&mut rng, &two.bob, "B病院 自己点検", T0) };
    let err = try_create_assessment(store, &in_b, &[]).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "assessment" })), "{err:?}");

    // B's own assessment is B's only; A's is unchanged.
    let in_b = Assessment { carried_from: None, ..in_b };
    try_create_assessment(store, &in_b, &[first_item(&in_b, &v1.item)]).await.expect("create in B");
    assert_eq!(store.assessments(b).await.expect("list"), vec![in_b.clone()]);
    assert_eq!(store.assessment(a, in_b.id).await.expect("assessment"), None);
    assert_eq!(store.assessments(a).await.expect("list"), vec![asm.clone()]);
    assert_eq!(store.assessment_items(a, asm.id).await.expect("items"), vec![v1.clone()]);
    assert_eq!(store.item_history(a, asm.id, &v1.item).await.expect("history"), vec![v1]);
    assert_eq!(store.evidence(a, asm.id).await.expect("evidence"), vec![e]);
}

// ---------------------------------------------------------------------------------------------
// Units of work (`Store::begin`, `StoreTx`): an action and its audit events together
// ---------------------------------------------------------------------------------------------

/// The leaf bytes of `entries`.
fn leaves_of(entries: &[LogEntry]) -> Vec<Vec<u8>> {
    entries.iter().map(|e| e.leaf.clone()).collect()
}

/// The institution's stored leaves (bytes only, in index order), checked to be exactly `expected`
/// and to make up the tree the head and the stored nodes describe.
async fn assert_log_is(store: &dyn Store, institution: InstitutionId, expected: &[Vec<u8>]) {
    let stored: Vec<Vec<u8>> = all_leaves(store, institution).await.into_iter().map(|(_, leaf, _)| leaf).collect();
    assert_eq!(stored, expected, "the leaves, in index order");
    let tree = reference_tree(expected);
    let head = store.log_head(institution).await.expect("head");
    assert_eq!(head, reference_head(&tree), "the root is the tree of the leaves in index order");
    let nodes = stored_nodes(store, institution, head.size).await;
    for (&(level, index), hash) in &nodes.0 {
        assert_eq!(Ok(*hash), tree.node(level, index), "node ({level}, {index})");
    }
}

async fn an_action_and_its_audit_events_are_committed_together(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, carol) = (two.a.id, two.carol.id);
    let earlier = ticks(a, 0..2);
    store.append_log(a, &earlier).await.expect("append");
    let dave = new_user(&mut rng, "dave", &[Role::Clerk]);
    let events = ticks(a, 2..4);

    let mut tx = store.begin().await.expect("begin");
    tx.set_user_status(a, carol, UserStatus::Disabled).await.expect("disable carol");
    assert_eq!(tx.create_user(a, &dave).await.expect("create dave"), expected(a, &dave));
    let head = tx.append_log(a, &events).await.expect("append");
    assert_eq!(head.size, 4, "the events follow the committed leaves");
    tx.commit().await.expect("commit");

    let disabled = User { status: UserStatus::Disabled, ..two.carol.clone() };
    assert_eq!(store.user(a, carol).await.expect("user"), Some(disabled));
    assert_eq!(store.user(a, dave.id).await.expect("user"), Some(expected(a, &dave)));
    assert_eq!(store.log_head(a).await.expect("head"), head);
    assert_log_is(store, a, &leaves_of(&[earlier, events].concat())).await;

    // A unit may be empty; the pool-level methods go on as before.
    store.begin().await.expect("begin").commit().await.expect("commit nothing");
    store.set_user_status(a, carol, UserStatus::Active).await.expect("enable carol");
    assert_eq!(store.user(a, carol).await.expect("user"), Some(two.carol));
}

async fn a_unit_dropped_without_commit_leaves_nothing(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, carol) = (two.a.id, two.carol.id);
    let committed = ticks(a, 0..3);
    let before = store.append_log(a, &committed).await.expect("append");

    let mut tx = store.begin().await.expect("begin");
    tx.set_user_status(a, carol, UserStatus::Disabled).await.expect("disable carol");
    assert_eq!(tx.append_log(a, &ticks(a, 3..8)).await.expect("append").size, 8);
    assert_eq!(tx.append_log(two.b.id, &ticks(two.b.id, 0..2)).await.expect("append to B").size, 2);
    drop(tx);

    assert_eq!(store.user(a, carol).await.expect("user"), Some(two.carol.clone()), "the status is unchanged");
    assert_eq!(store.log_head(a).await.expect("head"), before, "the head is unchanged");
    assert_eq!(store.log_nodes(a, &[(0, 3), (0, 7), (1, 1), (2, 0), (3, 0)]).await.expect("nodes"), [None; 5]);
    assert_log_is(store, a, &leaves_of(&committed)).await;
    assert_log_is(store, two.b.id, &[]).await;

    // Its locks went with it: the log goes on at the old size, through the pool and in a unit.
    let more = ticks(a, 3..5);
    assert_eq!(store.append_log(a, &more).await.expect("append").size, 5);
    let mut tx = store.begin().await.expect("begin");
    let last = ticks(a, 5..6);
    assert_eq!(tx.append_log(a, &last).await.expect("append").size, 6);
    tx.set_user_status(a, carol, UserStatus::Disabled).await.expect("disable carol");
    tx.commit().await.expect("commit");
    assert_eq!(store.user(a, carol).await.expect("user").map(|u| u.status), Some(UserStatus::Disabled));
    assert_log_is(store, a, &leaves_of(&[committed, more, last].concat())).await;
}

async fn a_failed_step_refuses_the_rest_of_its_unit_and_leaves_nothing(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b, carol) = (two.a.id, two.b.id, two.carol.id);
    let committed = ticks(a, 0..2);
    let before = store.append_log(a, &committed).await.expect("append");
    let unchanged = async |store: &dyn Store| {
        assert_eq!(store.user(a, carol).await.expect("user"), Some(two.carol.clone()), "carol is unchanged");
        assert_eq!(store.users(b).await.expect("users"), std::slice::from_ref(&two.bob), "no user was added");
        assert_eq!(store.log_head(a).await.expect("head"), before, "the head is unchanged");
        assert_log_is(store, a, &leaves_of(&committed)).await;
    };

    // The audit event first, then the action fails: a login ID taken in another institution.
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.append_log(a, &ticks(a, 2..4)).await.expect("append").size, 4);
    tx.set_user_status(a, carol, UserStatus::Disabled).await.expect("disable carol");
    let err = tx.create_user(b, &new_user(&mut rng, "alice", &[])).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "login ID" })), "{err:?}");
    // Nothing more can be done in it, and it cannot be committed.
    let later = tx.append_log(a, &ticks(a, 4..5)).await;
    assert!(matches!(later, Err(StoreError::Database { .. })), "{later:?}");
    let later = tx.create_user(b, &new_user(&mut rng, "erin", &[])).await;
    assert!(matches!(later, Err(StoreError::Database { .. })), "{later:?}");
    let commit = tx.commit().await;
    assert!(matches!(commit, Err(StoreError::Database { .. })), "{commit:?}");
    unchanged(store).await;

    // An error that is not the database's (no such user) ends the unit all the same.
    let mut tx = store.begin().await.expect("begin");
    tx.set_user_status(a, carol, UserStatus::Disabled).await.expect("disable carol");
    let err = tx.set_password(a, UserId::generate(&mut rng), PASSWORD_HASH, false).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    let commit = tx.commit().await;
    assert!(matches!(commit, Err(StoreError::Database { .. })), "{commit:?}");
    unchanged(store).await;

    // A step that fails part-way (the schema refuses the third entry after two went in): the
    // unit is dropped and none of it stays, not even those two entries or their nodes.
    let mut tx = store.begin().await.expect("begin");
    tx.set_user_status(a, carol, UserStatus::Disabled).await.expect("disable carol");
    let mut batch = ticks(a, 2..5);
    batch[2].columns.action = "Not An Action".to_owned();
    let err = tx.append_log(a, &batch).await;
    assert!(matches!(err, Err(StoreError::Database { .. })), "{err:?}");
    drop(tx);
    assert_eq!(store.log_nodes(a, &[(0, 2), (0, 3), (1, 1), (2, 0)]).await.expect("nodes"), [None; 4]);
    unchanged(store).await;

    // The store goes on: the log continues at the old size.
    let next = ticks(a, 2..3);
    assert_eq!(store.append_log(a, &next).await.expect("append").size, 3);
    assert_log_is(store, a, &leaves_of(&[committed, next].concat())).await;
}

async fn concurrent_units_appending_to_one_log_are_serialized(_store: &dyn Store, db: &TestDb) {
    let store = db.open().await;
    let mut rng = rng();
    let two = two_institutions(&*store, &mut rng).await;
    let (a, carol) = (two.a.id, two.carol.id);
    let mut expected_leaves: Vec<Vec<u8>> = Vec::new();

    // Two units that surely overlap: the second starts while the first, having appended, is still
    // open (SQLite: the second waits at its BEGIN IMMEDIATE; PostgreSQL: at the head's lock, or
    // on a fresh log at the head's insertion). Once on a log without a head, once with one.
    for round in 0..2u32 {
        let (first_entries, second_entries) =
            (ticks(a, round * 10..round * 10 + 3), ticks(a, round * 10 + 5..round * 10 + 7));
        let (appended, wait_for_it) = tokio::sync::oneshot::channel();
        let first = {
            let (store, entries) = (store.clone(), first_entries.clone());
            tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let head = tx.append_log(a, &entries).await.expect("append");
                appended.send(()).expect("signal");
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                let status = if round == 0 { UserStatus::Disabled } else { UserStatus::Active };
                tx.set_user_status(a, carol, status).await.expect("status");
                tx.commit().await.expect("commit");
                head
            })
        };
        let second = {
            let (store, entries) = (store.clone(), second_entries.clone());
            tokio::spawn(async move {
                wait_for_it.await.expect("signal");
                let mut tx = store.begin().await.expect("begin");
                let head = tx.append_log(a, &entries).await.expect("append");
                tx.commit().await.expect("commit");
                head
            })
        };
        let (first, second) = (first.await.expect("first"), second.await.expect("second"));
        let base = expected_leaves.len() as u64;
        assert_eq!((first.size, second.size), (base + 3, base + 5), "round {round}: the second unit follows the first");
        expected_leaves.extend(leaves_of(&first_entries));
        expected_leaves.extend(leaves_of(&second_entries));
        assert_eq!(second, reference_head(&reference_tree(&expected_leaves)));
    }
    assert_eq!(store.user(a, carol).await.expect("user"), Some(two.carol.clone()));

    // Then many writers at once, each a few units of one to three entries; every third unit is
    // dropped after appending. Each committed unit's entries are contiguous at the index its
    // head says, the dropped ones are nowhere, and the sizes add up.
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..6u32 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut committed = Vec::new();
            for unit in 0..4u32 {
                let first = 1000 + task * 100 + unit * 10;
                let entries = ticks(a, first..first + 1 + (task + unit) % 3);
                let mut tx = store.begin().await.expect("begin");
                let head = tx.append_log(a, &entries).await.expect("append");
                if unit % 3 == 2 {
                    drop(tx);
                } else {
                    tx.commit().await.expect("commit");
                    committed.push((head.size - entries.len() as u64, entries));
                }
            }
            committed
        });
    }
    let mut committed = Vec::new();
    while let Some(result) = tasks.join_next().await {
        committed.extend(result.expect("task"));
    }
    committed.sort_by_key(|(start, _)| *start);
    let mut next = expected_leaves.len() as u64;
    for (start, entries) in &committed {
        assert_eq!(*start, next, "the committed units' entries follow each other without gaps");
        next += entries.len() as u64;
        expected_leaves.extend(leaves_of(entries));
    }
    assert_log_is(&*store, a, &expected_leaves).await;
    store.close().await;
}

async fn one_unit_appends_to_the_logs_of_two_institutions(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, b) = (two.a.id, two.b.id);
    let a_first = ticks(a, 0..2);
    store.append_log(a, &a_first).await.expect("append");

    let (a_events, b_events, a_more) = (ticks(a, 2..4), ticks(b, 0..3), ticks(a, 4..5));
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.append_log(a, &a_events).await.expect("append to A").size, 4);
    assert_eq!(tx.append_log(b, &b_events).await.expect("append to B").size, 3);
    tx.set_user_status(b, two.bob.id, UserStatus::Disabled).await.expect("disable bob");
    let a_head = tx.append_log(a, &a_more).await.expect("append to A again");
    assert_eq!(a_head.size, 5);
    assert_eq!(tx.append_log(b, &[]).await.expect("append nothing to B").size, 3, "the unit sees its own appends");
    tx.commit().await.expect("commit");

    assert_eq!(store.log_head(a).await.expect("head"), a_head);
    assert_log_is(store, a, &leaves_of(&[a_first, a_events, a_more].concat())).await;
    assert_log_is(store, b, &leaves_of(&b_events)).await;
    assert_eq!(store.user(b, two.bob.id).await.expect("user").map(|u| u.status), Some(UserStatus::Disabled));
}

async fn reads_outside_a_unit_see_only_what_it_committed(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (a, carol) = (two.a.id, two.carol.id);
    let committed = ticks(a, 0..1);
    let before = store.append_log(a, &committed).await.expect("append");
    let dave = new_user(&mut rng, "dave", &[Role::Clerk]);
    let events = ticks(a, 1..3);
    let reception = terminal(&mut rng, a, "reception-1", 1);
    let everything = AuditQuery { limit: 1000, ..AuditQuery::default() };

    let mut tx = store.begin().await.expect("begin");
    tx.create_user(a, &dave).await.expect("create dave");
    tx.set_user_status(a, carol, UserStatus::Disabled).await.expect("disable carol");
    tx.add_terminal(&reception).await.expect("add terminal");
    tx.create_session(&session_record(&expected(a, &dave), 7)).await.expect("session");
    let head = tx.append_log(a, &events).await.expect("append");

    // Uncommitted: no reader through the pool sees any of it.
    assert_eq!(store.user_by_login_id(a, &dave.login_id).await.expect("user"), None);
    assert_eq!(store.find_login(&dave.login_id).await.expect("find"), None);
    assert_eq!(store.user(a, carol).await.expect("user"), Some(two.carol.clone()));
    assert!(store.terminals(a).await.expect("terminals").is_empty());
    assert_eq!(store.session(&[7; 32]).await.expect("session"), None);
    assert_eq!(store.log_head(a).await.expect("head"), before);
    assert_eq!(all_leaves(store, a).await.len(), 1);
    assert_eq!(store.log_nodes(a, &[(0, 1), (1, 0)]).await.expect("nodes"), [None, None]);
    assert_eq!(store.audit_search(a, &everything).await.expect("search").len(), 1);

    tx.commit().await.expect("commit");
    assert_eq!(store.user_by_login_id(a, &dave.login_id).await.expect("user"), Some(expected(a, &dave)));
    assert_eq!(store.user(a, carol).await.expect("user").map(|u| u.status), Some(UserStatus::Disabled));
    assert_eq!(store.terminals(a).await.expect("terminals"), [reception]);
    assert!(store.session(&[7; 32]).await.expect("session").is_some());
    assert_eq!(store.log_head(a).await.expect("head"), head);
    assert_eq!(store.audit_search(a, &everything).await.expect("search").len(), 3);
    assert_log_is(store, a, &leaves_of(&[committed, events].concat())).await;
}

async fn pool_writes_wait_for_an_open_unit_and_then_succeed(_store: &dyn Store, db: &TestDb) {
    let store = db.open().await;
    let mut rng = rng();
    let two = two_institutions(&*store, &mut rng).await;
    let (a, alice) = (two.a.id, two.alice.id);
    let mut tx = store.begin().await.expect("begin");
    let unit_events = ticks(a, 0..2);
    tx.append_log(a, &unit_events).await.expect("append");
    tx.record_login_failure(a, alice).await.expect("failure");

    // More pool-level writers than the pool (4 connections, one held by the unit) has
    // connections, each a different kind of single statement or transaction.
    let mut writers = tokio::task::JoinSet::new();
    for n in 0..8u32 {
        let store = store.clone();
        writers.spawn(async move {
            match n % 4 {
                0 => store.append_log(a, &ticks(a, 100 + n..101 + n)).await.map(|_| ()),
                1 => store.record_login_failure(a, alice).await,
                2 => {
                    store.put_throttle(&Throttle { login_id: format!("x{n}"), failures: 1, last_failure_at: T0 }).await
                }
                _ => store.set_password(a, alice, PASSWORD_HASH, false).await,
            }
        });
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    tx.commit().await.expect("commit");
    while let Some(result) = writers.join_next().await {
        result.expect("writer").expect("a pool write after the unit");
    }
    let head = store.log_head(a).await.expect("head");
    assert_eq!(head.size, 4, "the unit's two entries and two writers' one each");
    let leaves = all_leaves(&*store, a).await;
    assert_eq!(leaves_of(&unit_events), leaves.iter().take(2).map(|(_, l, _)| l.clone()).collect::<Vec<_>>());
    // One failure from the unit, two from the writers.
    assert_eq!(store.record_login_success(a, alice, T0).await.expect("success"), (None, 3));
    store.close().await;
}

// Every one of the unit's mutations, through the pool and inside units.

/// Where [`every_mutation`] runs: through the pool (each call its own transaction) or in a unit.
enum Via<'a, 'b> {
    Pool(&'a dyn Store),
    Unit(&'a mut (dyn StoreTx + 'b)),
}

macro_rules! via {
    ($via:expr, $method:ident ( $($arg:expr),* $(,)? )) => {
        match $via {
            Via::Pool(store) => store.$method($($arg),*).await,
            Via::Unit(tx) => tx.$method($($arg),*).await,
        }
        .expect(stringify!($method))
    };
}

/// What [`every_mutation`] starts from: [`two_institutions`] and [`two_sealed_accounts`], with
/// carol's second factors and a re-enrollment pass, sessions of alice (1), carol (2) and bob
/// (3), alice's security key, a terminal, an emergency grant of carol, alice's throttle and two
/// leaves in A's log.
struct Everything {
    two: Two,
    kinkyu1: User,
    kinkyu2: User,
    terminal: Terminal,
    grant: EmergencyGrantRecord,
}

async fn everything(store: &dyn Store) -> Everything {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let (kinkyu1, kinkyu2) = two_sealed_accounts(store, &mut rng, &two).await;
    let (a, alice, carol) = (two.a.id, &two.alice, &two.carol);
    store.put_totp(a, carol.id, &totp_record(1)).await.expect("totp");
    store.replace_recovery_codes(a, carol.id, &[[1; 32], [2; 32]], T0).await.expect("codes");
    store.create_reenroll_pass(&reenroll_pass(carol, alice, 1)).await.expect("pass");
    for (user, token) in [(alice, 1), (carol, 2), (&two.bob, 3)] {
        store.create_session(&session_record(user, token)).await.expect("session");
    }
    store.add_webauthn_credential(a, alice.id, &webauthn_credential(1, 16, T0)).await.expect("key");
    let terminal = terminal(&mut rng, a, "reception-1", 1);
    store.add_terminal(&terminal).await.expect("terminal");
    let grant = emergency_grant(&mut rng, carol, T0);
    store.create_emergency_grant(&grant).await.expect("grant");
    let throttle = Throttle { login_id: "alice".to_owned(), failures: 2, last_failure_at: T0 };
    store.put_throttle(&throttle).await.expect("throttle");
    store.append_log(a, &ticks(a, 0..2)).await.expect("append");
    Everything { two, kinkyu1, kinkyu2, terminal, grant }
}

/// The new user [`every_mutation`] creates.
fn dave() -> NewUser {
    new_user(&mut TestRng(0x6d61_6d6f_7269_0002), "dave", &[Role::Clerk])
}

/// Each of the unit's 32 mutations that also exist at pool level once (the patients' two are
/// unit-only: see `a_patient_registered_in_a_dropped_unit_leaves_nothing`), in an order where
/// each changes something; returns
/// what each answered.
async fn every_mutation(via: &mut Via<'_, '_>, e: &Everything) -> Vec<String> {
    let mut rng = TestRng(0x6d61_6d6f_7269_0003);
    let (a, b) = (e.two.a.id, e.two.b.id);
    let (alice, carol, bob) = (&e.two.alice, &e.two.carol, &e.two.bob);
    let dave = dave();
    let dave_user = expected(a, &dave);
    let later = T0 + Duration::hours(1);
    let answers = [
        format!("{:?}", via!(via, create_user(a, &dave))),
        format!("{:?}", via!(via, set_password(a, dave.id, "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXI$b3RoZXI", false))),
        format!("{:?}", via!(via, set_user_status(a, dave.id, UserStatus::Disabled))),
        format!("{:?}", via!(via, set_user_roles(a, dave.id, &[Role::Nurse, Role::Clerk]))),
        format!("{:?}", via!(via, record_login_failure(a, carol.id))),
        format!("{:?}", via!(via, record_login_success(a, alice.id, later))),
        format!(
            "{:?}",
            via!(via, put_throttle(&Throttle { login_id: "dave".to_owned(), failures: 1, last_failure_at: T0 }))
        ),
        format!("{:?}", via!(via, clear_throttle("alice"))),
        format!("{:?}", via!(via, put_totp(a, dave.id, &totp_record(7)))),
        format!("{:?}", via!(via, confirm_totp(a, dave.id))),
        format!("{:?}", via!(via, replace_recovery_codes(a, dave.id, &[[7; 32], [8; 32], [9; 32]], T0))),
        format!("{:?}", via!(via, delete_second_factors(a, carol.id))),
        format!("{:?}", via!(via, create_reenroll_pass(&reenroll_pass(&dave_user, alice, 7)))),
        format!("{:?}", via!(via, use_reenroll_pass(a, carol.id, &[1; 32], T0 + Duration::minutes(1)))),
        format!(
            "{:?}",
            via!(via, create_session(&SessionRecord { client_cert_sha256: None, ..session_record(&dave_user, 7) }))
        ),
        format!(
            "{:?}",
            via!(
                via,
                update_session(&SessionRecord { stage: SessionStage::Full, locked: true, ..session_record(alice, 1) })
            )
        ),
        format!("{:?}", via!(via, delete_session(a, &[2; 32]))),
        format!("{:?}", via!(via, delete_user_sessions(b, bob.id))),
        format!("{:?}", via!(via, add_webauthn_credential(a, dave.id, &webauthn_credential(7, 32, T0)))),
        format!("{:?}", via!(via, delete_webauthn_credential(a, alice.id, &[1; 16]))),
        format!("{:?}", via!(via, add_terminal(&terminal(&mut rng, a, "reception-2", 2)))),
        format!("{:?}", via!(via, revoke_terminal(a, &e.terminal.name, later))),
        format!("{:?}", via!(via, set_require_registered_terminal(a, true))),
        format!(
            "{:?}",
            via!(
                via,
                delete_sessions_of_certificate(
                    a,
                    session_record(alice, 1).client_cert_sha256.as_deref().unwrap_or_default()
                )
            )
        ),
        format!("{:?}", via!(via, create_emergency_grant(&emergency_grant(&mut rng, &dave_user, T0)))),
        format!("{:?}", via!(via, review_emergency_grant(a, e.grant.id, &emergency_review(alice, later)))),
        format!("{:?}", via!(via, seal_account(&sealed(&dave_user, T0)))),
        format!("{:?}", via!(via, create_sealed_activation(&sealed_activation(&mut rng, &e.kinkyu1, alice, T0)))),
        format!("{:?}", via!(via, close_sealed_account(a, e.kinkyu2.id, later))),
        format!("{:?}", via!(via, add_category(&category_def(a, "genetic_test")))),
        format!(
            "{:?}",
            via!(via, set_role_grants(a, Role::Nurse, &[(Action::Read, category("genetic_test"))], alice.id, T0))
        ),
        format!("{:?}", via!(via, append_log(a, &ticks(a, 2..5)))),
    ];
    answers.into()
}

/// Everything a reader can see of [`everything`] and of what [`every_mutation`] changes.
#[derive(Debug, PartialEq)]
struct Snapshot {
    ledgers: Vec<Vec<(User, Option<OffsetDateTime>)>>,
    throttles: Vec<Option<Throttle>>,
    totp: Vec<Option<TotpRecord>>,
    unused_codes: Vec<u32>,
    passes: Vec<Vec<ReenrollPass>>,
    sessions: Vec<Option<SessionRecord>>,
    keys: Vec<Vec<WebauthnCredential>>,
    terminals: Vec<(Vec<Terminal>, bool)>,
    grants: Vec<Vec<EmergencyGrantRecord>>,
    sealed: Vec<(Vec<SealedAccount>, Vec<SealedActivation>)>,
    categories: Vec<Vec<CategoryDef>>,
    role_grants: Vec<RoleGrants>,
    heads: Vec<LogHead>,
    leaves: Vec<Vec<StoredLeaf>>,
}

/// A role's replaced grants, as [`Store::role_grants`] lists them.
type RoleGrants = Vec<(Role, Vec<(Action, Category)>)>;

/// A leaf as [`Store::log_leaves`] returns it: index, bytes, stored hash.
type StoredLeaf = (u64, Vec<u8>, [u8; 32]);

async fn snapshot(store: &dyn Store, e: &Everything) -> Snapshot {
    let institutions = [e.two.a.id, e.two.b.id];
    let mut s = Snapshot {
        ledgers: Vec::new(),
        throttles: Vec::new(),
        totp: Vec::new(),
        unused_codes: Vec::new(),
        passes: Vec::new(),
        sessions: Vec::new(),
        keys: Vec::new(),
        terminals: Vec::new(),
        grants: Vec::new(),
        sealed: Vec::new(),
        categories: Vec::new(),
        role_grants: Vec::new(),
        heads: Vec::new(),
        leaves: Vec::new(),
    };
    for inst in institutions {
        let ledger = store.user_ledger(inst).await.expect("ledger");
        for (user, _) in &ledger {
            s.totp.push(store.totp(inst, user.id).await.expect("totp"));
            s.unused_codes.push(store.unused_recovery_codes(inst, user.id).await.expect("codes"));
            s.keys.push(store.webauthn_credentials(inst, user.id).await.expect("keys"));
        }
        s.ledgers.push(ledger);
        s.passes.push(store.reenroll_passes(inst).await.expect("passes"));
        let terminals = store.terminals(inst).await.expect("terminals");
        s.terminals.push((terminals, store.require_registered_terminal(inst).await.expect("rule")));
        s.grants.push(store.emergency_grants(inst).await.expect("grants"));
        let accounts = store.sealed_accounts(inst).await.expect("sealed");
        s.sealed.push((accounts, store.sealed_activations(inst).await.expect("activations")));
        s.categories.push(store.categories(inst).await.expect("categories"));
        s.role_grants.push(store.role_grants(inst).await.expect("role grants"));
        s.heads.push(store.log_head(inst).await.expect("head"));
        s.leaves.push(all_leaves(store, inst).await);
    }
    for login_id in ["alice", "dave"] {
        s.throttles.push(store.throttle(login_id).await.expect("throttle"));
    }
    for token in [1, 2, 3, 7] {
        s.sessions.push(store.session(&[token; 32]).await.expect("session"));
    }
    s
}

/// A second database of the same backend as `db`.
async fn sibling(db: &TestDb, check: &str) -> TestDb {
    match db {
        TestDb::Sqlite { .. } => TestDb::sqlite(check),
        TestDb::Postgres { .. } => TestDb::postgres(check).await.expect("the test server"),
    }
}

async fn every_mutation_of_a_unit_is_rolled_back_or_committed_with_it(store: &dyn Store, db: &TestDb) {
    let e = everything(store).await;
    let (a, carol) = (e.two.a.id, e.two.carol.id);
    let before = snapshot(store, &e).await;

    let mut tx = store.begin().await.expect("begin");
    let dropped = every_mutation(&mut Via::Unit(&mut *tx), &e).await;
    drop(tx);
    assert_eq!(snapshot(store, &e).await, before, "a dropped unit changes nothing");
    // carol's failure went with it too (the count is read only by the next success).
    let probe = T0 + Duration::hours(3);
    assert_eq!(store.record_login_success(a, carol, probe).await.expect("success"), (None, 0));

    let mut tx = store.begin().await.expect("begin");
    let committed = every_mutation(&mut Via::Unit(&mut *tx), &e).await;
    tx.commit().await.expect("commit");
    assert_eq!(committed, dropped, "the same answers");
    let after = snapshot(store, &e).await;
    assert_ne!(after, before);

    // The same calls through the pool, on a database with the same start, end the same.
    let other = sibling(db, "every_mutation_pool").await;
    let pool = other.open().await;
    let e_pool = everything(&*pool).await;
    assert_eq!(snapshot(&*pool, &e_pool).await, before, "the same start");
    assert_eq!(pool.record_login_success(a, carol, probe).await.expect("success"), (None, 0));
    let through_pool = every_mutation(&mut Via::Pool(&*pool), &e_pool).await;
    let pool_after = snapshot(&*pool, &e_pool).await;
    pool.close().await;
    other.remove().await;
    assert_eq!(through_pool, committed, "the same answers through the pool");
    assert_eq!(after, pool_after, "the same end through the pool");
}

// ---------------------------------------------------------------------------------------------
// Registers (the compliance workbench's 台帳・一覧)
// ---------------------------------------------------------------------------------------------

/// Version 1 of a new register entry of `kind` with `pairs` as its fields, by `by` (None: an
/// operator's import) at `at`.
fn register_entry(
    rng: &mut TestRng,
    institution: InstitutionId,
    kind: mamori_core::register::RegisterKind,
    pairs: &[(&str, &str)],
    by: Option<UserId>,
    at: OffsetDateTime,
) -> mamori_core::register::RegisterEntry {
    let raw = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    mamori_core::register::RegisterEntry {
        institution,
        id: mamori_core::RegisterEntryId::generate(rng),
        kind,
        version: 1,
        fields: mamori_core::register::check(kind, &raw, &|_| true).expect("fields"),
        retired: None,
        author: by,
        at,
    }
}

async fn registers_are_versioned_retired_and_a_stale_change_changes_nothing(store: &dyn Store, _db: &TestDb) {
    use mamori_core::register::RegisterKind;
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let emr = register_entry(
        &mut rng,
        a,
        RegisterKind::System,
        &[("name", "電子カルテ"), ("vendor", "××システム株式会社"), ("delegated_work", "導入\n運用")],
        Some(two.alice.id),
        T0,
    );
    let net = register_entry(
        &mut rng,
        a,
        RegisterKind::System,
        &[("name", "ネットワーク"), ("vendor", "株式会社■■通信")],
        None,
        T0 + Duration::seconds(1),
    );
    in_unit!(store, tx => tx.create_register_entries(&[emr.clone(), net.clone()])).expect("create");
    assert_eq!(store.register_entries(a, RegisterKind::System).await.expect("list"), vec![emr.clone(), net.clone()]);
    assert_eq!(store.register_entries(a, RegisterKind::Asset).await.expect("list"), vec![]);
    assert_eq!(store.register_entry(a, emr.id).await.expect("entry"), Some(emr.clone()));

    // A change is the next version; a stale one changes nothing.
    let mut v2 = emr.clone();
    v2.version = 2;
    v2.fields.insert("product".into(), "〇〇クラウド電子カルテ".into());
    v2.author = Some(two.carol.id);
    v2.at = T0 + Duration::minutes(5);
    assert!(in_unit!(store, tx => tx.add_register_version(&v2)).expect("change"));
    assert!(!in_unit!(store, tx => tx.add_register_version(&v2)).expect("stale"), "stale");
    assert_eq!(store.register_entry(a, emr.id).await.expect("entry"), Some(v2.clone()));

    // Retiring is a version too; a retired entry takes no further version.
    let retired = mamori_core::register::RegisterEntry {
        version: 3,
        retired: Some("契約終了のため".into()),
        at: T0 + Duration::minutes(6),
        ..v2.clone()
    };
    assert!(in_unit!(store, tx => tx.add_register_version(&retired)).expect("retire"));
    let after = mamori_core::register::RegisterEntry { version: 4, retired: None, ..v2.clone() };
    assert!(!in_unit!(store, tx => tx.add_register_version(&after)).expect("after retire"));
    assert_eq!(store.register_history(a, emr.id).await.expect("history"), vec![emr.clone(), v2, retired.clone()]);
    assert_eq!(store.register_entries(a, RegisterKind::System).await.expect("list"), vec![retired, net.clone()]);

    // Refusals: a taken ID, an unknown author, a first version that is not 1; an import in
    // which one entry fails leaves none of them.
    let fresh = register_entry(&mut rng, a, RegisterKind::Iot, &[("name", "血圧計")], None, T0);
    let taken = in_unit!(store, tx => tx.create_register_entries(&[fresh.clone(), net.clone()]));
    assert!(matches!(taken, Err(StoreError::Conflict { what: "register entry" })), "{taken:?}");
    assert_eq!(store.register_entries(a, RegisterKind::Iot).await.expect("list"), vec![], "all or none");
    let stranger = register_entry(&mut rng, a, RegisterKind::Iot, &[("name", "血圧計")], Some(two.bob.id), T0);
    let unknown = in_unit!(store, tx => tx.create_register_entries(&[stranger]));
    assert!(matches!(unknown, Err(StoreError::NotFound { what: "user" })), "{unknown:?}");
    let second = mamori_core::register::RegisterEntry { version: 2, ..fresh.clone() };
    assert!(matches!(in_unit!(store, tx => tx.create_register_entries(&[second])), Err(StoreError::Database { .. })));
    let elsewhere = InstitutionId::generate(&mut rng);
    let nowhere = register_entry(&mut rng, elsewhere, RegisterKind::Iot, &[("name", "血圧計")], None, T0);
    let unknown = in_unit!(store, tx => tx.create_register_entries(&[nowhere]));
    assert!(matches!(unknown, Err(StoreError::NotFound { what: "institution" })), "{unknown:?}");
    assert_eq!(store.register_entries(a, RegisterKind::Iot).await.expect("list"), vec![]);
}

async fn registers_are_invisible_through_another_institution(store: &dyn Store, _db: &TestDb) {
    use mamori_core::register::RegisterKind;
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let entry = register_entry(
        &mut rng,
        two.a.id,
        RegisterKind::Bcp,
        &[("title", "BCP"), ("version", "1.0"), ("review_due", "2027-03-31")],
        Some(two.alice.id),
        T0,
    );
    in_unit!(store, tx => tx.create_register_entries(std::slice::from_ref(&entry))).expect("create");
    let b = two.b.id;
    assert_eq!(store.register_entries(b, RegisterKind::Bcp).await.expect("list"), vec![]);
    assert_eq!(store.register_entry(b, entry.id).await.expect("entry"), None);
    assert_eq!(store.register_history(b, entry.id).await.expect("history"), vec![]);
    // A change through B (even by B's user) changes nothing in A.
    let through_b =
        mamori_core::register::RegisterEntry { institution: b, version: 2, author: Some(two.bob.id), ..entry.clone() };
    assert!(!in_unit!(store, tx => tx.add_register_version(&through_b)).expect("through B"));
    assert_eq!(store.register_history(two.a.id, entry.id).await.expect("history"), vec![entry]);
}

async fn register_versions_cannot_be_changed_or_deleted_outside_the_store(store: &dyn Store, db: &TestDb) {
    use mamori_core::register::RegisterKind;
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let entry = register_entry(
        &mut rng,
        two.a.id,
        RegisterKind::Contact,
        &[("organization", "厚生労働省"), ("category", "mhlw"), ("reporting_duty", "yes")],
        Some(two.alice.id),
        T0,
    );
    in_unit!(store, tx => tx.create_register_entries(std::slice::from_ref(&entry))).expect("create");
    for statement in [
        "UPDATE register_entry_versions SET fields = '{}'",
        "DELETE FROM register_entry_versions",
        "DELETE FROM register_entries",
        "UPDATE register_entries SET kind = 'bcp'",
    ] {
        assert!(execute_outside_the_store(db, statement).await.is_err(), "{statement}");
    }
    if matches!(db, TestDb::Postgres { .. }) {
        assert!(execute_outside_the_store(db, "TRUNCATE register_entry_versions CASCADE").await.is_err());
    }
    assert_eq!(store.register_history(two.a.id, entry.id).await.expect("history"), vec![entry]);
}

// Vendors' disclosures (MDS/SDS) and their risk records
// ---------------------------------------------------------------------------------------------

/// A disclosure of `by`'s institution: vendor, product and catalog as given, generation
/// `generation`.
fn vendor_disclosure(
    rng: &mut TestRng,
    by: &User,
    vendor: &str,
    catalog: &str,
    generation: u32,
    at: OffsetDateTime,
) -> mamori_core::vendor::VendorDisclosure {
    mamori_core::vendor::VendorDisclosure {
        institution: by.institution_id,
        id: mamori_core::VendorDisclosureId::generate(rng),
        vendor: vendor.to_owned(),
        product: "クラウド電子カルテ".to_owned(),
        product_version: "3.1".to_owned(),
        catalog: catalog.to_owned(),
        jahis_version: "JAHIS 24-101".to_owned(),
        received_on: date!(2026 - 04 - 01),
        notes: "営業担当から受領\n原本は書庫".to_owned(),
        generation,
        entered_by: Some(by.id),
        entered_at: at,
    }
}

fn vendor_answers() -> Vec<mamori_core::vendor::VendorAnswer> {
    use mamori_core::vendor::{Answer, VendorAnswer};
    vec![
        VendorAnswer { item: "mds-7.0/11".into(), answer: Answer::No, remark: "非常時アカウントなし".into() },
        VendorAnswer { item: "mds-7.0/12.1".into(), answer: Answer::Yes, remark: String::new() },
        VendorAnswer { item: "mds-7.0/3".into(), answer: Answer::No, remark: String::new() },
        VendorAnswer { item: "mds-7.0/7".into(), answer: Answer::NotApplicable, remark: "無線LANなし".into() },
    ]
}

async fn try_record_vendor(
    store: &dyn Store,
    d: &mamori_core::vendor::VendorDisclosure,
    answers: &[mamori_core::vendor::VendorAnswer],
    risks: &[mamori_core::vendor::VendorRisk],
) -> Result<(), StoreError> {
    in_unit!(store, tx => tx.record_vendor_disclosure(d, answers, risks))
}

async fn try_update_vendor_risk(store: &dyn Store, r: &mamori_core::vendor::VendorRisk) -> Result<bool, StoreError> {
    in_unit!(store, tx => tx.update_vendor_risk(r))
}

fn filled_risk(r: &mamori_core::vendor::VendorRisk, owner: &User, version: u32) -> mamori_core::vendor::VendorRisk {
    mamori_core::vendor::VendorRisk {
        justification: format!("院内の運用で代替する（版{version}）"),
        owner: Some(owner.id),
        mitigation: "OSの画面ロックを5分に設定".into(),
        expires_on: Some(date!(2027 - 03 - 31)),
        version,
        changed_by: Some(owner.id),
        changed_at: T0 + Duration::minutes(i64::from(version)),
        ..r.clone()
    }
}

async fn vendor_disclosures_round_trip_and_are_recorded_with_answers_and_risks_whole(store: &dyn Store, _db: &TestDb) {
    use mamori_core::vendor::open_risks;
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let first = vendor_disclosure(&mut rng, &two.alice, "A社", "mds-7.0", 1, T0);
    let answers = vendor_answers();
    let risks = open_risks(&first, &answers);
    assert_eq!(risks.len(), 2);
    try_record_vendor(store, &first, &answers, &risks).await.expect("record");
    assert_eq!(store.vendor_disclosure(a, first.id).await.expect("read"), Some(first.clone()));
    let mut by_item = answers.clone();
    by_item.sort_by(|x, y| x.item.cmp(&y.item));
    assert_eq!(store.vendor_answers(a, first.id).await.expect("answers"), by_item);
    let mut stored_risks = risks.clone();
    stored_risks.sort_by(|x, y| x.item.cmp(&y.item));
    assert_eq!(store.vendor_risks(a).await.expect("risks"), stored_risks);
    assert_eq!(
        store.vendor_risk_history(a, first.id, "mds-7.0/3").await.expect("history"),
        vec![stored_risks[1].clone()]
    );

    // A successor keeps the old one; newest first.
    let second = vendor_disclosure(&mut rng, &two.carol, "A社", "mds-7.0", 2, T0 + Duration::days(1));
    try_record_vendor(store, &second, &answers[1..2], &[]).await.expect("record successor");
    assert_eq!(store.vendor_disclosures(a).await.expect("list"), vec![second.clone(), first.clone()]);

    // A taken generation or ID conflicts; an item answered twice conflicts; nothing is left.
    let twin = vendor_disclosure(&mut rng, &two.alice, "A社", "mds-7.0", 2, T0);
    let err = try_record_vendor(store, &twin, &answers[1..2], &[]).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "vendor disclosure" })), "{err:?}");
    let same_id = mamori_core::vendor::VendorDisclosure { generation: 9, ..first.clone() };
    let err = try_record_vendor(store, &same_id, &answers[1..2], &[]).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "vendor disclosure" })), "{err:?}");
    let fresh = vendor_disclosure(&mut rng, &two.alice, "B社", "sds-7.0", 1, T0);
    let twice = [answers[1].clone(), answers[1].clone()];
    // The disclosure row is written before the second answer fails: the whole unit is refused.
    let mut tx = store.begin().await.expect("begin");
    let err = tx.record_vendor_disclosure(&fresh, &twice, &[]).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "vendor answer" })), "{err:?}");
    assert!(tx.commit().await.is_err(), "a unit with a failed step does not commit");
    assert_eq!(store.vendor_disclosure(a, fresh.id).await.expect("read"), None);
    assert!(store.vendor_answers(a, fresh.id).await.expect("answers").is_empty());
    // Risks must be exactly one version 1 per いいえ.
    let fresh_risks = open_risks(&fresh, &answers);
    for bad in [
        Vec::new(),
        fresh_risks[..1].to_vec(),
        vec![fresh_risks[0].clone(), fresh_risks[0].clone()],
        vec![
            fresh_risks[0].clone(),
            mamori_core::vendor::VendorRisk { item: "mds-7.0/12.1".into(), ..fresh_risks[1].clone() },
        ],
        vec![fresh_risks[0].clone(), mamori_core::vendor::VendorRisk { version: 2, ..fresh_risks[1].clone() }],
    ] {
        let err = try_record_vendor(store, &fresh, &answers, &bad).await;
        assert!(matches!(err, Err(StoreError::Database { .. })), "{err:?}");
    }
    assert!(try_record_vendor(store, &fresh, &[], &[]).await.is_err(), "no answers");
    // An author of another institution is not found.
    let by_stranger = mamori_core::vendor::VendorDisclosure { entered_by: Some(two.bob.id), ..fresh.clone() };
    let err = try_record_vendor(store, &by_stranger, &answers[1..2], &[]).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    // The schema refuses what the core rules refuse.
    for bad in [
        mamori_core::vendor::VendorDisclosure { vendor: String::new(), ..fresh.clone() },
        mamori_core::vendor::VendorDisclosure { product: "あ".repeat(101), ..fresh.clone() },
        mamori_core::vendor::VendorDisclosure { catalog: "MDS 7".into(), ..fresh.clone() },
        mamori_core::vendor::VendorDisclosure { jahis_version: String::new(), ..fresh.clone() },
        mamori_core::vendor::VendorDisclosure { generation: 0, ..fresh.clone() },
    ] {
        assert!(try_record_vendor(store, &bad, &answers[1..2], &[]).await.is_err(), "{bad:?}");
    }
    let long_remark = [mamori_core::vendor::VendorAnswer { remark: "あ".repeat(2001), ..answers[1].clone() }];
    assert!(try_record_vendor(store, &fresh, &long_remark, &[]).await.is_err(), "a remark of 2001 characters");
    assert_eq!(store.vendor_disclosure(a, fresh.id).await.expect("read"), None);
    assert_eq!(store.vendor_disclosures(a).await.expect("list").len(), 2);
}

async fn vendor_risk_changes_are_versioned_and_a_stale_change_changes_nothing(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let d = vendor_disclosure(&mut rng, &two.alice, "A社", "mds-7.0", 1, T0);
    let answers = vendor_answers();
    let risks = mamori_core::vendor::open_risks(&d, &answers);
    try_record_vendor(store, &d, &answers, &risks).await.expect("record");
    let v1 = risks[0].clone();
    let v2 = filled_risk(&v1, &two.carol, 2);
    assert!(try_update_vendor_risk(store, &v2).await.expect("update"));
    assert!(!try_update_vendor_risk(store, &v2).await.expect("stale"), "the same version twice");
    let skip = filled_risk(&v1, &two.carol, 4);
    assert!(!try_update_vendor_risk(store, &skip).await.expect("skip"), "a version skipped");
    let no_risk = mamori_core::vendor::VendorRisk { item: "mds-7.0/12.1".into(), ..filled_risk(&v1, &two.carol, 2) };
    assert!(!try_update_vendor_risk(store, &no_risk).await.expect("no such risk"), "a はい has no risk");
    let stranger = filled_risk(&v1, &two.bob, 3);
    let err = try_update_vendor_risk(store, &stranger).await;
    assert!(matches!(err, Err(StoreError::NotFound { what: "user" })), "{err:?}");
    let current = store.vendor_risks(a).await.expect("risks");
    assert_eq!(current.iter().find(|r| r.item == v1.item), Some(&v2));
    assert_eq!(store.vendor_risk_history(a, d.id, &v1.item).await.expect("history"), vec![v1.clone(), v2.clone()]);
}

async fn vendor_rows_cannot_be_changed_or_deleted_outside_the_store(store: &dyn Store, db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let a = two.a.id;
    let d = vendor_disclosure(&mut rng, &two.alice, "A社", "mds-7.0", 1, T0);
    let answers = vendor_answers();
    let risks = mamori_core::vendor::open_risks(&d, &answers);
    try_record_vendor(store, &d, &answers, &risks).await.expect("record");
    let v2 = filled_risk(&risks[0], &two.alice, 2);
    assert!(try_update_vendor_risk(store, &v2).await.expect("update"));
    let mut refused = vec![
        ("UPDATE vendor_disclosures SET vendor = '改ざん'", "vendor disclosures are append-only"),
        ("DELETE FROM vendor_disclosures", "vendor disclosures are append-only"),
        ("UPDATE vendor_answers SET answer = 'yes'", "vendor answers are append-only"),
        ("DELETE FROM vendor_answers", "vendor answers are append-only"),
        ("UPDATE vendor_risk_versions SET justification = '改ざん'", "vendor risk versions are append-only"),
        ("DELETE FROM vendor_risk_versions", "vendor risk versions are append-only"),
        ("DELETE FROM vendor_risks", "vendor risks are never deleted"),
        ("UPDATE vendor_risks SET item = 'mds-7.0/12.1'", "vendor risks keep their key"),
    ];
    if db.backend() == Backend::Postgres {
        refused.extend([
            ("TRUNCATE vendor_risk_versions", "vendor risk versions are append-only"),
            ("TRUNCATE vendor_answers CASCADE", "TRUNCATE on"),
            ("TRUNCATE vendor_disclosures CASCADE", "TRUNCATE on"),
        ]);
    }
    for (statement, message) in refused {
        let result = execute_outside_the_store(db, statement).await;
        assert!(result.as_ref().is_err_and(|e| e.to_string().contains(message)), "{statement}: {result:?}");
    }
    // The schema refuses a risk for an answer that is not いいえ.
    let yes_risk = "INSERT INTO vendor_risks (institution_id, disclosure_id, item, justification, mitigation, version, \
                    changed_by, changed_at) SELECT institution_id, disclosure_id, item, '', '', 1, \
                    (SELECT entered_by FROM vendor_disclosures), (SELECT entered_at FROM vendor_disclosures) \
                    FROM vendor_answers WHERE answer = 'yes'";
    assert!(execute_outside_the_store(db, yes_risk).await.is_err(), "a risk for a はい");
    assert_eq!(store.vendor_disclosures(a).await.expect("list"), vec![d.clone()]);
    assert_eq!(store.vendor_answers(a, d.id).await.expect("answers").len(), answers.len());
    assert_eq!(
        store.vendor_risk_history(a, d.id, &v2.item).await.expect("history"),
        vec![risks[0].clone(), v2.clone()]
    );
}

async fn vendor_disclosures_are_invisible_through_another_institution(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let d = vendor_disclosure(&mut rng, &two.alice, "A社", "mds-7.0", 1, T0);
    let answers = vendor_answers();
    let risks = mamori_core::vendor::open_risks(&d, &answers);
    try_record_vendor(store, &d, &answers, &risks).await.expect("record");
    let b = two.b.id;
    assert!(store.vendor_disclosures(b).await.expect("list").is_empty());
    assert_eq!(store.vendor_disclosure(b, d.id).await.expect("read"), None);
    assert!(store.vendor_answers(b, d.id).await.expect("answers").is_empty());
    assert!(store.vendor_risks(b).await.expect("risks").is_empty());
    assert!(store.vendor_risk_history(b, d.id, &risks[0].item).await.expect("history").is_empty());
    // A change through B, by B's user, changes nothing in A.
    let through_b = mamori_core::vendor::VendorRisk { institution: b, ..filled_risk(&risks[0], &two.bob, 2) };
    assert!(!try_update_vendor_risk(store, &through_b).await.expect("update"));
    // B may record the same vendor and product (its own generation 1).
    let mine = vendor_disclosure(&mut rng, &two.bob, "A社", "mds-7.0", 1, T0);
    try_record_vendor(store, &mine, &answers[1..2], &[]).await.expect("B records its own");
    assert_eq!(store.vendor_disclosures(two.a.id).await.expect("list"), vec![d]);
}

async fn an_operators_disclosure_has_no_author_and_later_risk_versions_need_one(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let two = two_institutions(store, &mut rng).await;
    let d = mamori_core::vendor::VendorDisclosure {
        entered_by: None,
        ..vendor_disclosure(&mut rng, &two.alice, "A社", "sds-7.0", 1, T0)
    };
    let answers = vendor_answers();
    let risks = mamori_core::vendor::open_risks(&d, &answers);
    assert!(risks.iter().all(|r| r.changed_by.is_none()));
    try_record_vendor(store, &d, &answers, &risks).await.expect("record by the operator");
    assert_eq!(store.vendor_disclosure(two.a.id, d.id).await.expect("read"), Some(d.clone()));
    let anonymous = mamori_core::vendor::VendorRisk { changed_by: None, ..filled_risk(&risks[0], &two.alice, 2) };
    assert!(try_update_vendor_risk(store, &anonymous).await.is_err(), "a later version names its user");
    // Risks opened by someone else than the disclosure's author are refused before writing.
    let other = vendor_disclosure(&mut rng, &two.alice, "B社", "sds-7.0", 1, T0);
    let wrong_author: Vec<_> = mamori_core::vendor::open_risks(&other, &answers)
        .into_iter()
        .map(|r| mamori_core::vendor::VendorRisk { changed_by: Some(two.carol.id), ..r })
        .collect();
    let err = try_record_vendor(store, &other, &answers, &wrong_author).await;
    assert!(matches!(err, Err(StoreError::Database { .. })), "{err:?}");
    let history = store.vendor_risk_history(two.a.id, d.id, &risks[0].item).await.expect("history");
    assert_eq!(history, vec![risks[0].clone()]);
}

conformance!(
    migrations_apply_and_reopening_is_idempotent,
    ping_answers_and_the_backend_is_named,
    a_fresh_store_is_not_initialized,
    bootstrap_creates_the_institution_and_its_administrator,
    a_second_bootstrap_is_refused_and_changes_nothing,
    bootstrap_is_atomic,
    concurrent_bootstraps_initialize_once,
    fields_round_trip_exactly,
    users_are_invisible_through_another_institution,
    login_ids_are_unique_across_institutions,
    creating_a_user_in_an_unknown_institution_is_not_found,
    duplicate_ids_and_roles_conflict_and_leave_nothing,
    lists_are_ordered,
    find_login_searches_every_institution,
    set_password_replaces_the_hash_within_its_institution_only,
    record_login_success_reports_the_previous_login_and_resets_the_count,
    concurrent_login_failures_are_each_counted_once,
    throttles_are_kept_by_login_id_text,
    totp_enrollments_round_trip_and_confirm,
    totp_steps_are_accepted_once_and_only_in_increasing_order,
    concurrent_uses_of_one_totp_step_accept_exactly_one,
    recovery_codes_are_used_once_and_replaced_together,
    sessions_round_trip_every_field,
    deleting_a_users_sessions_counts_them,
    sessions_cannot_be_changed_through_another_institution,
    identity_data_is_invisible_through_another_institution,
    the_identity_migration_upgrades_an_existing_database,
    user_status_changes_round_trip_and_retired_is_final,
    set_user_roles_replaces_every_role_or_none,
    the_user_ledger_lists_every_status_with_its_last_login,
    deleting_second_factors_removes_the_totp_and_every_recovery_code,
    reenroll_passes_round_trip_and_are_used_once_before_they_expire,
    lifecycle_data_is_invisible_through_another_institution,
    the_user_lifecycle_migration_upgrades_a_version_2_database,
    webauthn_credentials_round_trip_every_field_oldest_first,
    webauthn_credential_ids_are_unique_across_the_deployment,
    webauthn_credentials_are_updated_and_deleted_by_their_user_only,
    webauthn_challenges_are_taken_once_for_their_purpose_before_they_expire,
    webauthn_challenges_go_with_their_session,
    concurrent_takes_of_one_webauthn_challenge_return_it_once,
    deleting_second_factors_removes_webauthn_credentials_too,
    webauthn_data_is_invisible_through_another_institution,
    the_webauthn_migration_upgrades_a_version_3_database,
    terminals_round_trip_every_field_ordered_by_name,
    terminal_names_are_never_reused_and_fingerprints_are_unique_across_the_deployment,
    terminals_are_revoked_once,
    terminals_are_found_by_fingerprint_revoked_or_not_in_their_institution_only,
    the_registered_terminal_rule_is_off_by_default_and_kept_per_institution,
    a_bootstrapped_institution_does_not_require_registered_terminals,
    deleting_the_sessions_of_a_certificate_counts_them,
    terminal_data_is_invisible_through_another_institution,
    the_schema_refuses_malformed_terminal_names,
    the_terminal_migration_upgrades_a_version_4_database,
    emergency_grants_round_trip_every_field_with_and_without_review,
    active_emergency_grants_are_the_users_unexpired_ones_soonest_expiry_first,
    the_emergency_review_queue_lists_every_grant_newest_first,
    emergency_grants_are_reviewed_once_and_never_by_their_own_user,
    emergency_grants_need_a_user_of_their_institution_and_a_new_id,
    emergency_data_is_invisible_through_another_institution,
    the_schema_refuses_malformed_emergency_grants,
    the_emergency_migration_upgrades_a_version_5_database,
    sealed_accounts_round_trip_oldest_first_and_are_sealed_once,
    sealed_activations_round_trip_every_field_newest_first,
    sealed_activations_need_a_sealed_account_a_confirmer_of_its_institution_and_a_new_id,
    the_active_sealed_activation_is_the_latest_open_unexpired_one,
    closing_a_sealed_account_closes_its_activations_and_raises_its_generation,
    sealed_data_is_invisible_through_another_institution,
    the_schema_refuses_malformed_sealed_accounts_and_activations,
    categories_round_trip_by_name_and_are_added_once_per_institution,
    role_grants_are_replaced_whole_and_listed_by_role,
    categories_and_role_grants_are_invisible_through_another_institution,
    the_schema_refuses_malformed_categories_and_role_grants,
    the_policy_migration_upgrades_a_version_6_database,
    log_appends_agree_with_the_reference_tree,
    log_nodes_serve_inclusion_and_consistency_proofs,
    logs_of_institutions_are_independent_and_invisible_to_each_other,
    log_leaves_are_clamped_to_the_size_and_capped_at_ten_thousand,
    log_nodes_answer_in_the_order_asked_and_at_most_a_thousand,
    audit_search_filters_by_every_field_newest_first_and_pages,
    appending_nothing_or_to_an_unknown_institution_changes_nothing,
    a_corrupt_stored_frontier_is_reported_and_nothing_is_appended,
    concurrent_appends_are_serialized_per_institution,
    the_log_cannot_be_changed_or_deleted_outside_the_store,
    the_schema_refuses_malformed_log_rows,
    the_log_migration_upgrades_a_version_7_database,
    patients_round_trip_every_field_and_numbers_are_unique_per_institution,
    patient_changes_are_versioned_and_a_stale_change_changes_nothing,
    patients_are_invisible_through_another_institution,
    patients_are_searched_by_number_prefix_and_name_substring,
    patient_versions_cannot_be_changed_or_deleted_outside_the_store,
    a_patient_registered_in_a_dropped_unit_leaves_nothing,
    the_patient_migration_upgrades_a_version_8_database,
    records_round_trip_in_every_state,
    drafts_are_edited_and_discarded_by_their_author_only_while_draft,
    drafts_are_finalized_once_by_their_author_with_the_content_their_leaf_hashed,
    concurrent_finalizations_of_one_draft_finalize_it_once,
    proxy_entries_are_approved_or_rejected_by_their_doctor_only,
    corrections_are_final_later_versions_and_a_taken_number_conflicts,
    records_need_a_patient_and_people_of_their_institution,
    final_versions_cannot_be_changed_or_deleted_outside_the_store,
    master_entries_are_versioned_and_found_by_day_code_and_name,
    devices_are_registered_found_by_token_and_revoked_once,
    record_leaves_are_appended_as_such_and_are_not_audit_events,
    records_of_a_dropped_unit_leave_nothing,
    a_patients_chart_answers_at_most_five_thousand_versions,
    the_records_migration_upgrades_a_version_9_database_and_keeps_its_log,
    assessments_round_trip_every_field_newest_first_and_start_whole,
    item_changes_are_versioned_and_a_stale_change_changes_nothing,
    evidence_revisions_are_kept_and_a_taken_revision_conflicts,
    assessments_item_versions_and_evidence_cannot_be_changed_or_deleted_outside_the_store,
    assessments_are_invisible_through_another_institution,
    applicability_decisions_are_versioned_kept_and_per_institution,
    an_action_and_its_audit_events_are_committed_together,
    a_unit_dropped_without_commit_leaves_nothing,
    a_failed_step_refuses_the_rest_of_its_unit_and_leaves_nothing,
    concurrent_units_appending_to_one_log_are_serialized,
    one_unit_appends_to_the_logs_of_two_institutions,
    reads_outside_a_unit_see_only_what_it_committed,
    pool_writes_wait_for_an_open_unit_and_then_succeed,
    every_mutation_of_a_unit_is_rolled_back_or_committed_with_it,
    registers_are_versioned_retired_and_a_stale_change_changes_nothing,
    registers_are_invisible_through_another_institution,
    register_versions_cannot_be_changed_or_deleted_outside_the_store,
    vendor_disclosures_round_trip_and_are_recorded_with_answers_and_risks_whole,
    vendor_risk_changes_are_versioned_and_a_stale_change_changes_nothing,
    vendor_rows_cannot_be_changed_or_deleted_outside_the_store,
    vendor_disclosures_are_invisible_through_another_institution,
    an_operators_disclosure_has_no_author_and_later_risk_versions_need_one,
);
