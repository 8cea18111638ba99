//! The SQLite backend: one file, WAL journal, `synchronous=FULL`, foreign keys on.
//!
//! UUIDs are stored as lower-case hyphenated text and timestamps as UTC text with exactly six
//! fractional digits ([`TIMESTAMP_FORMAT`]), so both round-trip exactly and sort as text.

use crate::error::{
    from_sqlx, institution_data_insert_error, is_foreign_key_violation, is_login_id_violation, is_unique_violation,
    terminal_insert_error, user_data_insert_error,
};
use crate::rows::{
    CategoryRow, EmergencyGrantRow, InstitutionRow, LogHeadRow, LogLeafRow, ReenrollPassRow, RoleGrantRow,
    SealedAccountRow, SealedActivationRow, SessionRow, TerminalRow, ThrottleRow, TotpRow, UserRow,
    WebauthnChallengeRow, WebauthnCredentialRow, assemble_ledger, assemble_one_user, assemble_role_grants,
    assemble_users, counter, created_user, generation, log_hash, log_index, status_unchanged, stored_time,
};
use crate::{Store, StoreError, log, sql};
use mamori_core::audit::{AuditQuery, LogEntry, LogHead, Outcome};
use mamori_core::authz::{Action, Category, CategoryDef};
use mamori_core::config::Backend;
use mamori_core::emergency::{EmergencyGrantRecord, EmergencyReview};
use mamori_core::factor::{ReenrollPass, TotpRecord, WebauthnCredential, WebauthnPurpose};
use mamori_core::lockout::Throttle;
use mamori_core::sealed::{SealedAccount, SealedActivation};
use mamori_core::session::SessionRecord;
use mamori_core::terminal::{Terminal, TerminalName};
use mamori_core::{EmergencyGrantId, Institution, InstitutionId, LoginId, NewUser, Role, User, UserId, UserStatus};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

const BACKEND: Backend = Backend::Sqlite;

/// How long a connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The stored form of a timestamp: `2026-11-25T09:00:00.123456Z`, always UTC.
const TIMESTAMP_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// A store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and applies pending migrations.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be opened, [`StoreError::Migration`]
    /// when the schema cannot be brought up to date.
    pub async fn open(path: &Path, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable {
                backend: BACKEND,
                detail: format!("{}: {}", path.display(), crate::error::one_line(&e.to_string())),
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration { detail: crate::error::one_line(&e.to_string()) })?;
        tracing::debug!(path = %path.display(), "sqlite store opened");
        Ok(Self { pool })
    }

    async fn insert_user(
        tx: &mut sqlx::SqliteConnection,
        institution: InstitutionId,
        user: &NewUser,
    ) -> Result<(), StoreError> {
        let institution = uuid_text(institution.as_uuid());
        let id = uuid_text(user.id.as_uuid());
        sqlx::query(sql::INSERT_USER)
            .bind(&institution)
            .bind(&id)
            .bind(user.login_id.as_str())
            .bind(user.display_name.as_str())
            .bind(user.job_type.as_str())
            .bind(UserStatus::Active.as_str())
            .bind(&user.password_hash)
            .bind(user.password_change_required)
            .bind(time_text(user.created_at)?)
            .execute(&mut *tx)
            .await
            .map_err(|e| user_insert_error(&e).unwrap_or_else(|| from_sqlx(BACKEND, e)))?;
        for role in &user.roles {
            sqlx::query(sql::INSERT_USER_ROLE)
                .bind(&institution)
                .bind(&id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) { StoreError::Conflict { what: "role" } } else { from_sqlx(BACKEND, e) }
                })?;
        }
        Ok(())
    }

    async fn insert_institution(
        conn: &mut sqlx::SqliteConnection,
        institution: &Institution,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_INSTITUTION)
            .bind(uuid_text(institution.id.as_uuid()))
            .bind(institution.name.as_str())
            .bind(time_text(institution.created_at)?)
            .execute(conn)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict { what: "institution ID" }
                } else {
                    from_sqlx(BACKEND, e)
                }
            })?;
        Ok(())
    }
}

fn user_insert_error(e: &sqlx::Error) -> Option<StoreError> {
    if is_login_id_violation(e) {
        Some(StoreError::Conflict { what: "login ID" })
    } else if is_unique_violation(e) {
        Some(StoreError::Conflict { what: "user ID" })
    } else {
        None
    }
}

fn uuid_text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

fn time_text(t: OffsetDateTime) -> Result<String, StoreError> {
    stored_time(t)
        .format(TIMESTAMP_FORMAT)
        .map_err(|e| StoreError::Database { detail: format!("a timestamp cannot be stored: {e}") })
}

fn opt_time_text(t: Option<OffsetDateTime>) -> Result<Option<String>, StoreError> {
    t.map(time_text).transpose()
}

fn get_uuid(row: &SqliteRow, column: &'static str) -> Result<Uuid, StoreError> {
    let text: String = row.try_get(column).map_err(|e| from_sqlx(BACKEND, e))?;
    Uuid::try_parse(&text).map_err(|_| crate::rows::corrupt(column, "not a UUID"))
}

fn get_opt_uuid(row: &SqliteRow, column: &'static str) -> Result<Option<Uuid>, StoreError> {
    let text: Option<String> = row.try_get(column).map_err(|e| from_sqlx(BACKEND, e))?;
    text.map(|text| Uuid::try_parse(&text).map_err(|_| crate::rows::corrupt(column, "not a UUID"))).transpose()
}

fn get_time(row: &SqliteRow, column: &'static str) -> Result<OffsetDateTime, StoreError> {
    let text: String = row.try_get(column).map_err(|e| from_sqlx(BACKEND, e))?;
    PrimitiveDateTime::parse(&text, TIMESTAMP_FORMAT)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| crate::rows::corrupt(column, "not a stored timestamp"))
}

fn get_opt_time(row: &SqliteRow, column: &'static str) -> Result<Option<OffsetDateTime>, StoreError> {
    let text: Option<String> = row.try_get(column).map_err(|e| from_sqlx(BACKEND, e))?;
    text.map(|text| {
        PrimitiveDateTime::parse(&text, TIMESTAMP_FORMAT)
            .map(PrimitiveDateTime::assume_utc)
            .map_err(|_| crate::rows::corrupt(column, "not a stored timestamp"))
    })
    .transpose()
}

fn get<'r, T>(row: &'r SqliteRow, column: &'static str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column).map_err(|e| from_sqlx(BACKEND, e))
}

fn institution_row(row: &SqliteRow) -> Result<InstitutionRow, StoreError> {
    Ok(InstitutionRow { id: get_uuid(row, "id")?, name: get(row, "name")?, created_at: get_time(row, "created_at")? })
}

fn user_rows(rows: &[SqliteRow]) -> Result<Vec<UserRow>, StoreError> {
    rows.iter()
        .map(|row| {
            Ok(UserRow {
                institution_id: get_uuid(row, "institution_id")?,
                id: get_uuid(row, "id")?,
                login_id: get(row, "login_id")?,
                display_name: get(row, "display_name")?,
                job_type: get(row, "job_type")?,
                status: get(row, "status")?,
                password_hash: get(row, "password_hash")?,
                password_change_required: get(row, "password_change_required")?,
                created_at: get_time(row, "created_at")?,
                last_login_at: get_opt_time(row, "last_login_at")?,
                role: get(row, "role")?,
            })
        })
        .collect()
}

fn session_row(row: &SqliteRow) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        token_hash: get(row, "token_hash")?,
        institution_id: get_uuid(row, "institution_id")?,
        user_id: get_uuid(row, "user_id")?,
        stage: get(row, "stage")?,
        created_at: get_time(row, "created_at")?,
        last_seen_at: get_time(row, "last_seen_at")?,
        expires_at: get_time(row, "expires_at")?,
        locked: get(row, "locked")?,
        csrf_token: get(row, "csrf_token")?,
        previous_login_at: get_opt_time(row, "previous_login_at")?,
        failures_since_previous: get(row, "failures_since_previous")?,
        client_cert_sha256: get(row, "client_cert_sha256")?,
    })
}

fn reenroll_pass_row(row: &SqliteRow) -> Result<ReenrollPassRow, StoreError> {
    Ok(ReenrollPassRow {
        institution_id: get_uuid(row, "institution_id")?,
        user_id: get_uuid(row, "user_id")?,
        pass_hash: get(row, "pass_hash")?,
        issued_by: get_uuid(row, "issued_by")?,
        reason: get(row, "reason")?,
        issued_at: get_time(row, "issued_at")?,
        expires_at: get_time(row, "expires_at")?,
        used_at: get_opt_time(row, "used_at")?,
    })
}

fn webauthn_credential_row(row: &SqliteRow) -> Result<WebauthnCredentialRow, StoreError> {
    Ok(WebauthnCredentialRow {
        credential_id: get(row, "credential_id")?,
        name: get(row, "name")?,
        credential_json: get(row, "credential_json")?,
        created_at: get_time(row, "created_at")?,
        last_used_at: get_opt_time(row, "last_used_at")?,
    })
}

fn terminal_row(row: &SqliteRow) -> Result<TerminalRow, StoreError> {
    Ok(TerminalRow {
        institution_id: get_uuid(row, "institution_id")?,
        id: get_uuid(row, "id")?,
        name: get(row, "name")?,
        cert_sha256: get(row, "cert_sha256")?,
        issued_at: get_time(row, "issued_at")?,
        revoked_at: get_opt_time(row, "revoked_at")?,
    })
}

fn emergency_grant_row(row: &SqliteRow) -> Result<EmergencyGrantRow, StoreError> {
    Ok(EmergencyGrantRow {
        institution_id: get_uuid(row, "institution_id")?,
        id: get_uuid(row, "id")?,
        user_id: get_uuid(row, "user_id")?,
        patient_id: get_uuid(row, "patient_id")?,
        reason: get(row, "reason")?,
        granted_at: get_time(row, "granted_at")?,
        expires_at: get_time(row, "expires_at")?,
        reviewed_by: get_opt_uuid(row, "reviewed_by")?,
        reviewed_at: get_opt_time(row, "reviewed_at")?,
        review_note: get(row, "review_note")?,
    })
}

fn sealed_account_row(row: &SqliteRow) -> Result<SealedAccountRow, StoreError> {
    Ok(SealedAccountRow {
        institution_id: get_uuid(row, "institution_id")?,
        user_id: get_uuid(row, "user_id")?,
        generation: get(row, "generation")?,
        sealed_at: get_time(row, "sealed_at")?,
    })
}

fn sealed_activation_row(row: &SqliteRow) -> Result<SealedActivationRow, StoreError> {
    Ok(SealedActivationRow {
        institution_id: get_uuid(row, "institution_id")?,
        id: get_uuid(row, "id")?,
        user_id: get_uuid(row, "user_id")?,
        generation: get(row, "generation")?,
        used_by: get(row, "used_by")?,
        reason: get(row, "reason")?,
        confirmed_by: get_uuid(row, "confirmed_by")?,
        activated_at: get_time(row, "activated_at")?,
        expires_at: get_time(row, "expires_at")?,
        closed_at: get_opt_time(row, "closed_at")?,
    })
}

fn category_row(row: &SqliteRow) -> Result<CategoryRow, StoreError> {
    Ok(CategoryRow {
        institution_id: get_uuid(row, "institution_id")?,
        name: get(row, "name")?,
        label_ja: get(row, "label_ja")?,
        label_en: get(row, "label_en")?,
        created_at: get_time(row, "created_at")?,
    })
}

fn role_grant_row(row: &SqliteRow) -> Result<RoleGrantRow, StoreError> {
    Ok(RoleGrantRow { role: get(row, "role")?, action: get(row, "action")?, category: get(row, "category")? })
}

fn log_head_row(row: &SqliteRow) -> Result<LogHeadRow, StoreError> {
    Ok(LogHeadRow { size: get(row, "size")?, root: get(row, "root")?, frontier: get(row, "frontier")? })
}

fn log_leaf_row(row: &SqliteRow) -> Result<LogLeafRow, StoreError> {
    Ok(LogLeafRow { idx: get(row, "idx")?, leaf: get(row, "leaf")?, leaf_hash: get(row, "leaf_hash")? })
}

/// `Ok(())` when a statement keyed by institution and ID changed one row, else `NotFound`.
fn one_row(result: &sqlx::sqlite::SqliteQueryResult, what: &'static str) -> Result<(), StoreError> {
    if result.rows_affected() == 0 { Err(StoreError::NotFound { what }) } else { Ok(()) }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        BACKEND
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(&self.pool).await.map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar(sql::SCHEMA_VERSION).fetch_one(&self.pool).await.map_err(|e| from_sqlx(BACKEND, e))
    }

    async fn is_initialized(&self) -> Result<bool, StoreError> {
        sqlx::query_scalar(sql::ANY_INSTITUTION).fetch_one(&self.pool).await.map_err(|e| from_sqlx(BACKEND, e))
    }

    async fn bootstrap(
        &self,
        institution: &Institution,
        admin: &NewUser,
        admin_totp: &TotpRecord,
    ) -> Result<(), StoreError> {
        // BEGIN IMMEDIATE takes the write lock first, so a concurrent bootstrap waits for this
        // one and then sees the institution.
        let mut tx = self.pool.begin_with(sql::SQLITE_BEGIN_IMMEDIATE).await.map_err(|e| from_sqlx(BACKEND, e))?;
        let initialized: bool =
            sqlx::query_scalar(sql::ANY_INSTITUTION).fetch_one(&mut *tx).await.map_err(|e| from_sqlx(BACKEND, e))?;
        if initialized {
            return Err(StoreError::AlreadyInitialized);
        }
        Self::insert_institution(&mut tx, institution).await?;
        Self::insert_user(&mut tx, institution.id, admin).await?;
        sqlx::query(sql::UPSERT_TOTP)
            .bind(uuid_text(institution.id.as_uuid()))
            .bind(uuid_text(admin.id.as_uuid()))
            .bind(admin_totp.secret.as_slice())
            .bind(admin_totp.confirmed)
            .bind(admin_totp.last_used_step)
            .bind(time_text(admin_totp.created_at)?)
            .execute(&mut *tx)
            .await
            .map_err(|e| user_data_insert_error(BACKEND, e, "TOTP enrollment"))?;
        tx.commit().await.map_err(|e| from_sqlx(BACKEND, e))
    }

    async fn create_institution(&self, institution: &Institution) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(|e| from_sqlx(BACKEND, e))?;
        Self::insert_institution(&mut conn, institution).await
    }

    async fn institution(&self, id: InstitutionId) -> Result<Option<Institution>, StoreError> {
        let row = sqlx::query(sql::SELECT_INSTITUTION)
            .bind(uuid_text(id.as_uuid()))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|r| institution_row(&r)?.into_institution()).transpose()
    }

    async fn institutions(&self) -> Result<Vec<Institution>, StoreError> {
        let rows =
            sqlx::query(sql::SELECT_INSTITUTIONS).fetch_all(&self.pool).await.map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|r| institution_row(r)?.into_institution()).collect()
    }

    async fn create_user(&self, institution: InstitutionId, user: &NewUser) -> Result<User, StoreError> {
        let mut tx = self.pool.begin_with(sql::SQLITE_BEGIN_IMMEDIATE).await.map_err(|e| from_sqlx(BACKEND, e))?;
        let exists: bool = sqlx::query_scalar(sql::INSTITUTION_EXISTS)
            .bind(uuid_text(institution.as_uuid()))
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        if !exists {
            return Err(StoreError::NotFound { what: "institution" });
        }
        Self::insert_user(&mut tx, institution, user).await?;
        tx.commit().await.map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(created_user(institution, user))
    }

    async fn user(&self, institution: InstitutionId, id: UserId) -> Result<Option<User>, StoreError> {
        let rows = sqlx::query(sql::SELECT_USER)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(id.as_uuid()))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        assemble_one_user(user_rows(&rows)?)
    }

    async fn user_by_login_id(
        &self,
        institution: InstitutionId,
        login_id: &LoginId,
    ) -> Result<Option<User>, StoreError> {
        let rows = sqlx::query(sql::SELECT_USER_BY_LOGIN_ID)
            .bind(uuid_text(institution.as_uuid()))
            .bind(login_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        assemble_one_user(user_rows(&rows)?)
    }

    async fn users(&self, institution: InstitutionId) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(sql::SELECT_USERS)
            .bind(uuid_text(institution.as_uuid()))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        assemble_users(user_rows(&rows)?)
    }

    async fn find_login(&self, login_id: &LoginId) -> Result<Option<User>, StoreError> {
        let rows = sqlx::query(sql::SELECT_USER_BY_LOGIN_ID_ANY_INSTITUTION)
            .bind(login_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        assemble_one_user(user_rows(&rows)?)
    }

    async fn set_password(
        &self,
        institution: InstitutionId,
        user: UserId,
        password_hash: &str,
        change_required: bool,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(sql::UPDATE_PASSWORD)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .bind(password_hash)
            .bind(change_required)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        one_row(&result, "user")
    }

    async fn set_user_status(
        &self,
        institution: InstitutionId,
        user: UserId,
        status: UserStatus,
    ) -> Result<(), StoreError> {
        let (institution, user) = (uuid_text(institution.as_uuid()), uuid_text(user.as_uuid()));
        let result = sqlx::query(sql::UPDATE_USER_STATUS)
            .bind(&institution)
            .bind(&user)
            .bind(status.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        if result.rows_affected() == 1 {
            return Ok(());
        }
        // Retired is final, so a user found retired now was retired at the UPDATE.
        let current: Option<String> = sqlx::query_scalar(sql::SELECT_USER_STATUS)
            .bind(&institution)
            .bind(&user)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Err(status_unchanged(current))
    }

    async fn set_user_roles(&self, institution: InstitutionId, user: UserId, roles: &[Role]) -> Result<(), StoreError> {
        let (institution, user) = (uuid_text(institution.as_uuid()), uuid_text(user.as_uuid()));
        let mut tx = self.pool.begin_with(sql::SQLITE_BEGIN_IMMEDIATE).await.map_err(|e| from_sqlx(BACKEND, e))?;
        // The write lock is held from the check to the commit.
        sqlx::query(sql::SELECT_USER_EXISTS)
            .bind(&institution)
            .bind(&user)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?
            .ok_or(StoreError::NotFound { what: "user" })?;
        sqlx::query(sql::DELETE_USER_ROLES)
            .bind(&institution)
            .bind(&user)
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        for role in roles {
            sqlx::query(sql::INSERT_USER_ROLE)
                .bind(&institution)
                .bind(&user)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) { StoreError::Conflict { what: "role" } } else { from_sqlx(BACKEND, e) }
                })?;
        }
        tx.commit().await.map_err(|e| from_sqlx(BACKEND, e))
    }

    async fn user_ledger(&self, institution: InstitutionId) -> Result<Vec<(User, Option<OffsetDateTime>)>, StoreError> {
        let rows = sqlx::query(sql::SELECT_USERS)
            .bind(uuid_text(institution.as_uuid()))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        assemble_ledger(user_rows(&rows)?)
    }

    async fn record_login_success(
        &self,
        institution: InstitutionId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<(Option<OffsetDateTime>, u32), StoreError> {
        let (institution, user) = (uuid_text(institution.as_uuid()), uuid_text(user.as_uuid()));
        // The write lock is held from the read to the commit: no failure can slip in between.
        let mut tx = self.pool.begin_with(sql::SQLITE_BEGIN_IMMEDIATE).await.map_err(|e| from_sqlx(BACKEND, e))?;
        let row = sqlx::query(sql::SELECT_LOGIN_STATE)
            .bind(&institution)
            .bind(&user)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?
            .ok_or(StoreError::NotFound { what: "user" })?;
        let previous = get_opt_time(&row, "last_login_at")?;
        let failures = counter("users.failures_since_login", get(&row, "failures_since_login")?)?;
        sqlx::query(sql::UPDATE_LOGIN_SUCCESS)
            .bind(&institution)
            .bind(&user)
            .bind(time_text(at)?)
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        tx.commit().await.map_err(|e| from_sqlx(BACKEND, e))?;
        Ok((previous, failures))
    }

    async fn record_login_failure(&self, institution: InstitutionId, user: UserId) -> Result<(), StoreError> {
        let result = sqlx::query(sql::UPDATE_LOGIN_FAILURE)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        one_row(&result, "user")
    }

    async fn throttle(&self, login_id: &str) -> Result<Option<Throttle>, StoreError> {
        let row = sqlx::query(sql::SELECT_THROTTLE)
            .bind(login_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| {
            ThrottleRow {
                login_id: get(&row, "login_id")?,
                failures: get(&row, "failures")?,
                last_failure_at: get_time(&row, "last_failure_at")?,
            }
            .into_throttle()
        })
        .transpose()
    }

    async fn put_throttle(&self, throttle: &Throttle) -> Result<(), StoreError> {
        sqlx::query(sql::UPSERT_THROTTLE)
            .bind(&throttle.login_id)
            .bind(i64::from(throttle.failures))
            .bind(time_text(throttle.last_failure_at)?)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(())
    }

    async fn clear_throttle(&self, login_id: &str) -> Result<(), StoreError> {
        sqlx::query(sql::DELETE_THROTTLE)
            .bind(login_id)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(())
    }

    async fn totp(&self, institution: InstitutionId, user: UserId) -> Result<Option<TotpRecord>, StoreError> {
        let row = sqlx::query(sql::SELECT_TOTP)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| {
            Ok(TotpRow {
                secret: get(&row, "secret")?,
                confirmed: get(&row, "confirmed")?,
                last_used_step: get(&row, "last_used_step")?,
                created_at: get_time(&row, "created_at")?,
            }
            .into_totp())
        })
        .transpose()
    }

    async fn put_totp(&self, institution: InstitutionId, user: UserId, record: &TotpRecord) -> Result<(), StoreError> {
        sqlx::query(sql::UPSERT_TOTP)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .bind(record.secret.as_slice())
            .bind(record.confirmed)
            .bind(record.last_used_step)
            .bind(time_text(record.created_at)?)
            .execute(&self.pool)
            .await
            .map_err(|e| user_data_insert_error(BACKEND, e, "TOTP enrollment"))?;
        Ok(())
    }

    async fn confirm_totp(&self, institution: InstitutionId, user: UserId) -> Result<(), StoreError> {
        let result = sqlx::query(sql::CONFIRM_TOTP)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        one_row(&result, "TOTP enrollment")
    }

    async fn use_totp_step(&self, institution: InstitutionId, user: UserId, step: i64) -> Result<bool, StoreError> {
        let result = sqlx::query(sql::USE_TOTP_STEP)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .bind(step)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(result.rows_affected() == 1)
    }

    async fn replace_recovery_codes(
        &self,
        institution: InstitutionId,
        user: UserId,
        hashes: &[[u8; 32]],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (institution, user) = (uuid_text(institution.as_uuid()), uuid_text(user.as_uuid()));
        let at = time_text(at)?;
        let mut tx = self.pool.begin_with(sql::SQLITE_BEGIN_IMMEDIATE).await.map_err(|e| from_sqlx(BACKEND, e))?;
        sqlx::query(sql::SELECT_USER_EXISTS)
            .bind(&institution)
            .bind(&user)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?
            .ok_or(StoreError::NotFound { what: "user" })?;
        sqlx::query(sql::DELETE_RECOVERY_CODES)
            .bind(&institution)
            .bind(&user)
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        for hash in hashes {
            sqlx::query(sql::INSERT_RECOVERY_CODE)
                .bind(&institution)
                .bind(&user)
                .bind(hash.as_slice())
                .bind(&at)
                .execute(&mut *tx)
                .await
                .map_err(|e| user_data_insert_error(BACKEND, e, "recovery code"))?;
        }
        tx.commit().await.map_err(|e| from_sqlx(BACKEND, e))
    }

    async fn use_recovery_code(
        &self,
        institution: InstitutionId,
        user: UserId,
        hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(sql::USE_RECOVERY_CODE)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .bind(hash.as_slice())
            .bind(time_text(at)?)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(result.rows_affected() == 1)
    }

    async fn unused_recovery_codes(&self, institution: InstitutionId, user: UserId) -> Result<u32, StoreError> {
        let count: i64 = sqlx::query_scalar(sql::COUNT_UNUSED_RECOVERY_CODES)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .fetch_one(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        counter("COUNT(user_recovery_codes)", count)
    }

    async fn delete_second_factors(&self, institution: InstitutionId, user: UserId) -> Result<bool, StoreError> {
        let (institution, user) = (uuid_text(institution.as_uuid()), uuid_text(user.as_uuid()));
        let mut tx = self.pool.begin_with(sql::SQLITE_BEGIN_IMMEDIATE).await.map_err(|e| from_sqlx(BACKEND, e))?;
        let totp = sqlx::query(sql::DELETE_TOTP)
            .bind(&institution)
            .bind(&user)
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        sqlx::query(sql::DELETE_RECOVERY_CODES)
            .bind(&institution)
            .bind(&user)
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        sqlx::query(sql::DELETE_WEBAUTHN_CREDENTIALS)
            .bind(&institution)
            .bind(&user)
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        tx.commit().await.map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(totp.rows_affected() > 0)
    }

    async fn create_reenroll_pass(&self, pass: &ReenrollPass) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_REENROLL_PASS)
            .bind(uuid_text(pass.institution.as_uuid()))
            .bind(uuid_text(pass.user.as_uuid()))
            .bind(pass.pass_hash.as_slice())
            .bind(uuid_text(pass.issued_by.as_uuid()))
            .bind(&pass.reason)
            .bind(time_text(pass.issued_at)?)
            .bind(time_text(pass.expires_at)?)
            .bind(opt_time_text(pass.used_at)?)
            .execute(&self.pool)
            .await
            .map_err(|e| user_data_insert_error(BACKEND, e, "re-enrollment pass"))?;
        Ok(())
    }

    async fn use_reenroll_pass(
        &self,
        institution: InstitutionId,
        user: UserId,
        pass_hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(sql::USE_REENROLL_PASS)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .bind(pass_hash.as_slice())
            .bind(time_text(at)?)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(result.rows_affected() == 1)
    }

    async fn reenroll_passes(&self, institution: InstitutionId) -> Result<Vec<ReenrollPass>, StoreError> {
        let rows = sqlx::query(sql::SELECT_REENROLL_PASSES)
            .bind(uuid_text(institution.as_uuid()))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| reenroll_pass_row(row)?.into_pass()).collect()
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_SESSION)
            .bind(session.token_hash.as_slice())
            .bind(uuid_text(session.institution.as_uuid()))
            .bind(uuid_text(session.user.as_uuid()))
            .bind(session.stage.as_str())
            .bind(time_text(session.created_at)?)
            .bind(time_text(session.last_seen_at)?)
            .bind(time_text(session.expires_at)?)
            .bind(session.locked)
            .bind(&session.csrf_token)
            .bind(opt_time_text(session.previous_login_at)?)
            .bind(i64::from(session.failures_since_previous))
            .bind(session.client_cert_sha256.as_deref())
            .execute(&self.pool)
            .await
            .map_err(|e| user_data_insert_error(BACKEND, e, "session token"))?;
        Ok(())
    }

    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(sql::SELECT_SESSION)
            .bind(token_hash.as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| session_row(&row)?.into_session()).transpose()
    }

    async fn update_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        let result = sqlx::query(sql::UPDATE_SESSION)
            .bind(uuid_text(session.institution.as_uuid()))
            .bind(session.token_hash.as_slice())
            .bind(session.stage.as_str())
            .bind(time_text(session.last_seen_at)?)
            .bind(time_text(session.expires_at)?)
            .bind(session.locked)
            .bind(opt_time_text(session.previous_login_at)?)
            .bind(i64::from(session.failures_since_previous))
            .bind(&session.csrf_token)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        one_row(&result, "session")
    }

    async fn touch_session(
        &self,
        institution: InstitutionId,
        token_hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::TOUCH_SESSION)
            .bind(uuid_text(institution.as_uuid()))
            .bind(token_hash.as_slice())
            .bind(time_text(at)?)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(())
    }

    async fn delete_session(&self, institution: InstitutionId, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        sqlx::query(sql::DELETE_SESSION)
            .bind(uuid_text(institution.as_uuid()))
            .bind(token_hash.as_slice())
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(())
    }

    async fn delete_user_sessions(&self, institution: InstitutionId, user: UserId) -> Result<u64, StoreError> {
        let result = sqlx::query(sql::DELETE_USER_SESSIONS)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(result.rows_affected())
    }

    async fn add_webauthn_credential(
        &self,
        institution: InstitutionId,
        user: UserId,
        credential: &WebauthnCredential,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_WEBAUTHN_CREDENTIAL)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .bind(credential.credential_id.as_slice())
            .bind(&credential.name)
            .bind(&credential.credential_json)
            .bind(time_text(credential.created_at)?)
            .bind(opt_time_text(credential.last_used_at)?)
            .execute(&self.pool)
            .await
            .map_err(|e| user_data_insert_error(BACKEND, e, "security key"))?;
        Ok(())
    }

    async fn webauthn_credentials(
        &self,
        institution: InstitutionId,
        user: UserId,
    ) -> Result<Vec<WebauthnCredential>, StoreError> {
        let rows = sqlx::query(sql::SELECT_WEBAUTHN_CREDENTIALS)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| webauthn_credential_row(row)?.into_credential()).collect()
    }

    async fn update_webauthn_credential(
        &self,
        institution: InstitutionId,
        user: UserId,
        credential_id: &[u8],
        credential_json: &str,
        used_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(sql::UPDATE_WEBAUTHN_CREDENTIAL)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .bind(credential_id)
            .bind(credential_json)
            .bind(time_text(used_at)?)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        one_row(&result, "security key")
    }

    async fn delete_webauthn_credential(
        &self,
        institution: InstitutionId,
        user: UserId,
        credential_id: &[u8],
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(sql::DELETE_WEBAUTHN_CREDENTIAL)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .bind(credential_id)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(result.rows_affected() == 1)
    }

    async fn put_webauthn_challenge(
        &self,
        institution: InstitutionId,
        token_hash: &[u8; 32],
        purpose: WebauthnPurpose,
        state: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(sql::UPSERT_WEBAUTHN_CHALLENGE)
            .bind(token_hash.as_slice())
            .bind(uuid_text(institution.as_uuid()))
            .bind(purpose.as_str())
            .bind(state)
            .bind(time_text(expires_at)?)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                // The session went between the SELECT and the insert.
                if is_foreign_key_violation(&e) {
                    StoreError::NotFound { what: "session" }
                } else {
                    from_sqlx(BACKEND, e)
                }
            })?;
        one_row(&result, "session")
    }

    async fn take_webauthn_challenge(
        &self,
        institution: InstitutionId,
        token_hash: &[u8; 32],
        purpose: WebauthnPurpose,
        at: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(sql::TAKE_WEBAUTHN_CHALLENGE)
            .bind(token_hash.as_slice())
            .bind(uuid_text(institution.as_uuid()))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        let Some(row) = row else { return Ok(None) };
        WebauthnChallengeRow {
            purpose: get(&row, "purpose")?,
            state: get(&row, "state")?,
            expires_at: get_time(&row, "expires_at")?,
        }
        .into_state(purpose, at)
    }

    async fn add_terminal(&self, terminal: &Terminal) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_TERMINAL)
            .bind(uuid_text(terminal.institution.as_uuid()))
            .bind(uuid_text(terminal.id.as_uuid()))
            .bind(terminal.name.as_str())
            .bind(&terminal.cert_sha256)
            .bind(time_text(terminal.issued_at)?)
            .bind(opt_time_text(terminal.revoked_at)?)
            .execute(&self.pool)
            .await
            .map_err(|e| terminal_insert_error(BACKEND, e))?;
        Ok(())
    }

    async fn terminals(&self, institution: InstitutionId) -> Result<Vec<Terminal>, StoreError> {
        let rows = sqlx::query(sql::SELECT_TERMINALS)
            .bind(uuid_text(institution.as_uuid()))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| terminal_row(row)?.into_terminal()).collect()
    }

    async fn revoke_terminal(
        &self,
        institution: InstitutionId,
        name: &TerminalName,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(sql::REVOKE_TERMINAL)
            .bind(uuid_text(institution.as_uuid()))
            .bind(name.as_str())
            .bind(time_text(at)?)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(result.rows_affected() == 1)
    }

    async fn terminal_by_fingerprint(
        &self,
        institution: InstitutionId,
        cert_sha256: &str,
    ) -> Result<Option<Terminal>, StoreError> {
        let row = sqlx::query(sql::SELECT_TERMINAL_BY_FINGERPRINT)
            .bind(uuid_text(institution.as_uuid()))
            .bind(cert_sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| terminal_row(&row)?.into_terminal()).transpose()
    }

    async fn set_require_registered_terminal(
        &self,
        institution: InstitutionId,
        required: bool,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(sql::UPDATE_REQUIRE_REGISTERED_TERMINAL)
            .bind(uuid_text(institution.as_uuid()))
            .bind(required)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        one_row(&result, "institution")
    }

    async fn require_registered_terminal(&self, institution: InstitutionId) -> Result<bool, StoreError> {
        sqlx::query_scalar(sql::SELECT_REQUIRE_REGISTERED_TERMINAL)
            .bind(uuid_text(institution.as_uuid()))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?
            .ok_or(StoreError::NotFound { what: "institution" })
    }

    async fn delete_sessions_of_certificate(
        &self,
        institution: InstitutionId,
        cert_sha256: &str,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(sql::DELETE_SESSIONS_OF_CERTIFICATE)
            .bind(uuid_text(institution.as_uuid()))
            .bind(cert_sha256)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(result.rows_affected())
    }
    async fn create_emergency_grant(&self, grant: &EmergencyGrantRecord) -> Result<(), StoreError> {
        let review = grant.review.as_ref();
        sqlx::query(sql::INSERT_EMERGENCY_GRANT)
            .bind(uuid_text(grant.institution.as_uuid()))
            .bind(uuid_text(grant.id.as_uuid()))
            .bind(uuid_text(grant.user.as_uuid()))
            .bind(uuid_text(grant.patient.as_uuid()))
            .bind(&grant.reason)
            .bind(time_text(grant.granted_at)?)
            .bind(time_text(grant.expires_at)?)
            .bind(review.map(|r| uuid_text(r.reviewed_by.as_uuid())))
            .bind(opt_time_text(review.map(|r| r.reviewed_at))?)
            .bind(review.map(|r| r.note.as_str()))
            .execute(&self.pool)
            .await
            .map_err(|e| user_data_insert_error(BACKEND, e, "emergency grant"))?;
        Ok(())
    }

    async fn active_emergency_grants(
        &self,
        institution: InstitutionId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<Vec<EmergencyGrantRecord>, StoreError> {
        let rows = sqlx::query(sql::SELECT_ACTIVE_EMERGENCY_GRANTS)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .bind(time_text(at)?)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| emergency_grant_row(row)?.into_grant()).collect()
    }

    async fn emergency_grants(&self, institution: InstitutionId) -> Result<Vec<EmergencyGrantRecord>, StoreError> {
        let rows = sqlx::query(sql::SELECT_EMERGENCY_GRANTS)
            .bind(uuid_text(institution.as_uuid()))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| emergency_grant_row(row)?.into_grant()).collect()
    }

    async fn emergency_grant(
        &self,
        institution: InstitutionId,
        id: EmergencyGrantId,
    ) -> Result<Option<EmergencyGrantRecord>, StoreError> {
        let row = sqlx::query(sql::SELECT_EMERGENCY_GRANT)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(id.as_uuid()))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| emergency_grant_row(&row)?.into_grant()).transpose()
    }

    async fn review_emergency_grant(
        &self,
        institution: InstitutionId,
        id: EmergencyGrantId,
        review: &EmergencyReview,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(sql::REVIEW_EMERGENCY_GRANT)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(id.as_uuid()))
            .bind(uuid_text(review.reviewed_by.as_uuid()))
            .bind(time_text(review.reviewed_at)?)
            .bind(&review.note)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                // The reviewer is not a user of the institution.
                if is_foreign_key_violation(&e) { StoreError::NotFound { what: "user" } } else { from_sqlx(BACKEND, e) }
            })?;
        Ok(result.rows_affected() == 1)
    }
    async fn seal_account(&self, account: &SealedAccount) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_SEALED_ACCOUNT)
            .bind(uuid_text(account.institution.as_uuid()))
            .bind(uuid_text(account.user.as_uuid()))
            .bind(i64::from(account.generation))
            .bind(time_text(account.sealed_at)?)
            .execute(&self.pool)
            .await
            .map_err(|e| user_data_insert_error(BACKEND, e, "sealed account"))?;
        Ok(())
    }

    async fn sealed_account(
        &self,
        institution: InstitutionId,
        user: UserId,
    ) -> Result<Option<SealedAccount>, StoreError> {
        let row = sqlx::query(sql::SELECT_SEALED_ACCOUNT)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| sealed_account_row(&row)?.into_account()).transpose()
    }

    async fn sealed_accounts(&self, institution: InstitutionId) -> Result<Vec<SealedAccount>, StoreError> {
        let rows = sqlx::query(sql::SELECT_SEALED_ACCOUNTS)
            .bind(uuid_text(institution.as_uuid()))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| sealed_account_row(row)?.into_account()).collect()
    }

    async fn create_sealed_activation(&self, activation: &SealedActivation) -> Result<(), StoreError> {
        let (institution, user) = (uuid_text(activation.institution.as_uuid()), uuid_text(activation.user.as_uuid()));
        // Sealed accounts are never deleted: one found here is still there at the insert, so a
        // foreign-key failure of the insert can only be the confirmer.
        let sealed: bool = sqlx::query_scalar(sql::SEALED_ACCOUNT_EXISTS)
            .bind(&institution)
            .bind(&user)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        if !sealed {
            return Err(StoreError::NotFound { what: "sealed account" });
        }
        sqlx::query(sql::INSERT_SEALED_ACTIVATION)
            .bind(&institution)
            .bind(uuid_text(activation.id.as_uuid()))
            .bind(&user)
            .bind(i64::from(activation.generation))
            .bind(&activation.used_by)
            .bind(&activation.reason)
            .bind(uuid_text(activation.confirmed_by.as_uuid()))
            .bind(time_text(activation.activated_at)?)
            .bind(time_text(activation.expires_at)?)
            .bind(opt_time_text(activation.closed_at)?)
            .execute(&self.pool)
            .await
            .map_err(|e| user_data_insert_error(BACKEND, e, "sealed activation"))?;
        Ok(())
    }

    async fn active_sealed_activation(
        &self,
        institution: InstitutionId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<Option<SealedActivation>, StoreError> {
        let row = sqlx::query(sql::SELECT_ACTIVE_SEALED_ACTIVATION)
            .bind(uuid_text(institution.as_uuid()))
            .bind(uuid_text(user.as_uuid()))
            .bind(time_text(at)?)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| sealed_activation_row(&row)?.into_activation()).transpose()
    }

    async fn sealed_activations(&self, institution: InstitutionId) -> Result<Vec<SealedActivation>, StoreError> {
        let rows = sqlx::query(sql::SELECT_SEALED_ACTIVATIONS)
            .bind(uuid_text(institution.as_uuid()))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| sealed_activation_row(row)?.into_activation()).collect()
    }

    async fn close_sealed_account(
        &self,
        institution: InstitutionId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<u32, StoreError> {
        let (institution, user) = (uuid_text(institution.as_uuid()), uuid_text(user.as_uuid()));
        let at = time_text(at)?;
        // The write lock is held from the re-key to the commit; any error rolls both back.
        let mut tx = self.pool.begin_with(sql::SQLITE_BEGIN_IMMEDIATE).await.map_err(|e| from_sqlx(BACKEND, e))?;
        let new_generation: i64 = sqlx::query_scalar(sql::BUMP_SEALED_ACCOUNT_GENERATION)
            .bind(&institution)
            .bind(&user)
            .bind(&at)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?
            .ok_or(StoreError::NotFound { what: "sealed account" })?;
        let new_generation = generation("sealed_accounts.generation", new_generation)?;
        sqlx::query(sql::CLOSE_SEALED_ACTIVATIONS)
            .bind(&institution)
            .bind(&user)
            .bind(&at)
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        tx.commit().await.map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(new_generation)
    }

    async fn add_category(&self, category: &CategoryDef) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_CATEGORY)
            .bind(uuid_text(category.institution.as_uuid()))
            .bind(category.category.as_str())
            .bind(&category.label_ja)
            .bind(&category.label_en)
            .bind(time_text(category.created_at)?)
            .execute(&self.pool)
            .await
            .map_err(|e| institution_data_insert_error(BACKEND, e, "category"))?;
        Ok(())
    }

    async fn categories(&self, institution: InstitutionId) -> Result<Vec<CategoryDef>, StoreError> {
        let rows = sqlx::query(sql::SELECT_CATEGORIES)
            .bind(uuid_text(institution.as_uuid()))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| category_row(row)?.into_category()).collect()
    }

    async fn set_role_grants(
        &self,
        institution: InstitutionId,
        role: Role,
        grants: &[(Action, Category)],
        changed_by: UserId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let institution = uuid_text(institution.as_uuid());
        // The write lock is held from the upsert to the commit; any error rolls all back, so
        // the old grants are kept.
        let mut tx = self.pool.begin_with(sql::SQLITE_BEGIN_IMMEDIATE).await.map_err(|e| from_sqlx(BACKEND, e))?;
        sqlx::query(sql::UPSERT_ROLE_POLICY)
            .bind(&institution)
            .bind(role.as_str())
            .bind(uuid_text(changed_by.as_uuid()))
            .bind(time_text(at)?)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                // `changed_by` is not a user of the institution (nor is there one, for an
                // unknown institution).
                if is_foreign_key_violation(&e) { StoreError::NotFound { what: "user" } } else { from_sqlx(BACKEND, e) }
            })?;
        sqlx::query(sql::DELETE_ROLE_GRANTS)
            .bind(&institution)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        for (action, category) in grants {
            sqlx::query(sql::INSERT_ROLE_GRANT)
                .bind(&institution)
                .bind(role.as_str())
                .bind(action.as_str())
                .bind(category.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Conflict { what: "role grant" }
                    } else {
                        from_sqlx(BACKEND, e)
                    }
                })?;
        }
        tx.commit().await.map_err(|e| from_sqlx(BACKEND, e))
    }

    async fn role_grants(
        &self,
        institution: InstitutionId,
    ) -> Result<Vec<(Role, Vec<(Action, Category)>)>, StoreError> {
        let rows = sqlx::query(sql::SELECT_ROLE_GRANTS)
            .bind(uuid_text(institution.as_uuid()))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        assemble_role_grants(rows.iter().map(role_grant_row).collect::<Result<_, _>>()?)
    }

    async fn append_log(&self, institution: InstitutionId, entries: &[LogEntry]) -> Result<LogHead, StoreError> {
        let id = uuid_text(institution.as_uuid());
        if entries.is_empty() {
            let exists: bool = sqlx::query_scalar(sql::INSTITUTION_EXISTS)
                .bind(&id)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| from_sqlx(BACKEND, e))?;
            if !exists {
                return Err(StoreError::NotFound { what: "institution" });
            }
            return self.log_head(institution).await;
        }
        // The write lock is held from reading the head to the commit, so appends are
        // serialized; any error rolls every row back.
        let mut tx = self.pool.begin_with(sql::SQLITE_BEGIN_IMMEDIATE).await.map_err(|e| from_sqlx(BACKEND, e))?;
        let (empty_root, empty_frontier) = log::empty_head();
        sqlx::query(sql::INSERT_LOG_HEAD_IF_MISSING)
            .bind(&id)
            .bind(empty_root.as_slice())
            .bind(empty_frontier)
            .execute(&mut *tx)
            .await
            .map_err(|e| institution_data_insert_error(BACKEND, e, "log head"))?;
        let row =
            sqlx::query(sql::SELECT_LOG_HEAD).bind(&id).fetch_one(&mut *tx).await.map_err(|e| from_sqlx(BACKEND, e))?;
        let frontier = log_head_row(&row)?.into_frontier()?;
        let (leaves, head) = log::plan_append(frontier, entries)?;
        for leaf in &leaves {
            let columns = &leaf.entry.columns;
            sqlx::query(sql::INSERT_LOG_LEAF)
                .bind(&id)
                .bind(leaf.idx)
                .bind(leaf.entry.leaf.as_slice())
                .bind(leaf.hash.as_slice())
                .bind(time_text(columns.at)?)
                .bind(columns.actor.map(|u| uuid_text(u.as_uuid())))
                .bind(columns.patient.map(|p| uuid_text(p.as_uuid())))
                .bind(columns.action.as_str())
                .bind(columns.outcome.as_str())
                .bind(columns.category.as_deref())
                .execute(&mut *tx)
                .await
                .map_err(|e| from_sqlx(BACKEND, e))?;
            for node in &leaf.nodes {
                sqlx::query(sql::INSERT_LOG_NODE)
                    .bind(&id)
                    .bind(node.level)
                    .bind(node.idx)
                    .bind(node.hash.as_slice())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| from_sqlx(BACKEND, e))?;
            }
        }
        let result = sqlx::query(sql::UPDATE_LOG_HEAD)
            .bind(&id)
            .bind(head.size)
            .bind(head.root.as_slice())
            .bind(head.frontier.as_slice())
            .bind(head.old_size)
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        if result.rows_affected() != 1 {
            return Err(StoreError::Database { detail: "the log head moved during an append".to_owned() });
        }
        tx.commit().await.map_err(|e| from_sqlx(BACKEND, e))?;
        head.head()
    }

    async fn log_head(&self, institution: InstitutionId) -> Result<LogHead, StoreError> {
        let row = sqlx::query(sql::SELECT_LOG_HEAD)
            .bind(uuid_text(institution.as_uuid()))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map_or_else(|| Ok(log::no_head()), |row| log_head_row(&row)?.into_head())
    }

    async fn log_leaves(
        &self,
        institution: InstitutionId,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, Vec<u8>, [u8; 32])>, StoreError> {
        let Some((start, end)) = log::leaf_range(start, end) else { return Ok(Vec::new()) };
        let rows = sqlx::query(sql::SELECT_LOG_LEAVES)
            .bind(uuid_text(institution.as_uuid()))
            .bind(start)
            .bind(end)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| log_leaf_row(row)?.into_leaf()).collect()
    }

    async fn log_nodes(
        &self,
        institution: InstitutionId,
        addresses: &[(u8, u64)],
    ) -> Result<Vec<Option<[u8; 32]>>, StoreError> {
        log::check_node_count(addresses)?;
        let id = uuid_text(institution.as_uuid());
        let mut conn = self.pool.acquire().await.map_err(|e| from_sqlx(BACKEND, e))?;
        let mut nodes = Vec::with_capacity(addresses.len());
        for &(level, index) in addresses {
            let Some((level, index)) = log::node_address(level, index) else {
                nodes.push(None);
                continue;
            };
            let hash: Option<Vec<u8>> = sqlx::query_scalar(sql::SELECT_LOG_NODE)
                .bind(&id)
                .bind(level)
                .bind(index)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| from_sqlx(BACKEND, e))?;
            nodes.push(hash.map(|h| log_hash("log_nodes.hash", h)).transpose()?);
        }
        Ok(nodes)
    }

    async fn audit_search(
        &self,
        institution: InstitutionId,
        query: &AuditQuery,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let rows = sqlx::query(sql::SEARCH_AUDIT_LOG)
            .bind(uuid_text(institution.as_uuid()))
            .bind(opt_time_text(query.from)?)
            .bind(opt_time_text(query.until)?)
            .bind(query.actor.map(|u| uuid_text(u.as_uuid())))
            .bind(query.patient.map(|p| uuid_text(p.as_uuid())))
            .bind(query.action.as_deref())
            .bind(query.outcome.map(Outcome::as_str))
            .bind(log::before_index(query))
            .bind(log::search_limit(query))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| Ok((log_index("log_leaves.idx", get(row, "idx")?)?, get(row, "leaf")?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_are_fixed_width_utc_text_and_round_trip() {
        let cases = [
            (datetime!(2026-11-25 18:00:00.123456789 +09:00), "2026-11-25T09:00:00.123456Z"),
            (datetime!(2026-11-25 09:00:00 UTC), "2026-11-25T09:00:00.000000Z"),
            (datetime!(1970-01-01 00:00:00.000001 UTC), "1970-01-01T00:00:00.000001Z"),
            (datetime!(9999-12-31 23:59:59.999999 UTC), "9999-12-31T23:59:59.999999Z"),
        ];
        for (t, text) in cases {
            assert_eq!(time_text(t).ok().as_deref(), Some(text));
            let back = PrimitiveDateTime::parse(text, TIMESTAMP_FORMAT).map(PrimitiveDateTime::assume_utc).ok();
            assert_eq!(back, Some(stored_time(t)));
        }
    }
}
