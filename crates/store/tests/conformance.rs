//! The storage conformance suite: every check runs against SQLite (`sqlite::<check>`, a fresh
//! file per test) and PostgreSQL (`postgres::<check>`, a fresh database per test on the server
//! named by `MAMORI_TEST_POSTGRES_URL`; skipped with one line on stderr when it is unset).
//!
//! A check is an `async fn(&dyn Store, &TestDb)`; add it to the `conformance!` list at the end.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use mamori_core::config::{Backend, DatabaseUrl};
use mamori_core::{
    DisplayName, Institution, InstitutionId, InstitutionName, JobType, LoginId, NewUser, Role, User, UserId, UserStatus,
};
use mamori_store::{PgStore, SqliteStore, Store, StoreError};
use rand_core::{OsRng, RngCore};
use sqlx::Connection;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use time::macros::datetime;
use time::{OffsetDateTime, UtcOffset};

/// The number of the newest migration in `migrations/{sqlite,postgres}`.
const LATEST_SCHEMA_VERSION: i64 = 1;

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
    store.bootstrap(&inst, &admin).await.expect("bootstrap");

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
    store.bootstrap(&first, &first_admin).await.expect("first bootstrap");

    let second = institution(&mut rng, "二番目の病院", T0);
    let second_admin = new_user(&mut rng, "admin2", &[Role::SystemAdministrator]);
    let err = store.bootstrap(&second, &second_admin).await;
    assert!(matches!(err, Err(StoreError::AlreadyInitialized)), "{err:?}");
    let err = store.bootstrap(&first, &first_admin).await;
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
    let err = store.bootstrap(&inst, &broken).await;
    assert!(matches!(err, Err(StoreError::Conflict { what: "role" })), "{err:?}");

    assert!(!store.is_initialized().await.expect("is_initialized"));
    assert!(store.institutions().await.expect("institutions").is_empty());
    assert_eq!(store.institution(inst.id).await.expect("institution"), None);
    assert_eq!(store.user(inst.id, broken.id).await.expect("user"), None);
    assert!(store.users(inst.id).await.expect("users").is_empty());

    // Nothing was left behind: the same IDs and login ID bootstrap cleanly.
    let fixed = NewUser { roles: vec![Role::SystemAdministrator], ..broken };
    store.bootstrap(&inst, &fixed).await.expect("bootstrap after the failed one");
    assert_eq!(store.users(inst.id).await.expect("users"), vec![expected(inst.id, &fixed)]);
}

async fn concurrent_bootstraps_initialize_once(store: &dyn Store, _db: &TestDb) {
    let mut rng = rng();
    let (a, b) = (institution(&mut rng, "A病院", T0), institution(&mut rng, "B病院", T0));
    let (admin_a, admin_b) = (
        new_user(&mut rng, "admin-a", &[Role::SystemAdministrator]),
        new_user(&mut rng, "admin-b", &[Role::SystemAdministrator]),
    );
    let (ra, rb) = tokio::join!(store.bootstrap(&a, &admin_a), store.bootstrap(&b, &admin_b));
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
);
