//! The PostgreSQL backend: `UUID` and `TIMESTAMPTZ` columns, the same statements as SQLite.

use crate::error::{
    from_sqlx, institution_data_insert_error, is_foreign_key_violation, is_login_id_violation, is_unique_violation,
    one_line, terminal_insert_error, user_data_insert_error,
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
use mamori_core::config::{Backend, DatabaseUrl};
use mamori_core::emergency::{EmergencyGrantRecord, EmergencyReview};
use mamori_core::factor::{ReenrollPass, TotpRecord, WebauthnCredential, WebauthnPurpose};
use mamori_core::lockout::Throttle;
use mamori_core::sealed::{SealedAccount, SealedActivation};
use mamori_core::session::SessionRecord;
use mamori_core::terminal::{Terminal, TerminalName};
use mamori_core::{EmergencyGrantId, Institution, InstitutionId, LoginId, NewUser, Role, User, UserId, UserStatus};
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

const BACKEND: Backend = Backend::Postgres;

/// How long to wait for a connection from the pool (and for the first one at start-up).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// A store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url` and applies pending migrations.
    ///
    /// # Errors
    /// [`StoreError::InvalidUrl`] when the URL does not parse, [`StoreError::Unavailable`] when
    /// the server cannot be reached or refuses the login, [`StoreError::Migration`] when the
    /// schema cannot be brought up to date. No error text contains the password.
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url.expose())
            .map_err(|e| StoreError::InvalidUrl { detail: scrub(url, &format!("{}: {e}", url.redacted())) })?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable {
                backend: BACKEND,
                detail: scrub(url, &format!("{}: {e}", url.redacted())),
            })?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Migration { detail: scrub(url, &e.to_string()) })?;
        tracing::debug!(url = %url.redacted(), "postgres store connected");
        Ok(Self { pool })
    }

    async fn insert_user(
        tx: &mut sqlx::PgConnection,
        institution: InstitutionId,
        user: &NewUser,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_USER)
            .bind(institution.as_uuid())
            .bind(user.id.as_uuid())
            .bind(user.login_id.as_str())
            .bind(user.display_name.as_str())
            .bind(user.job_type.as_str())
            .bind(UserStatus::Active.as_str())
            .bind(&user.password_hash)
            .bind(user.password_change_required)
            .bind(stored_time(user.created_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_login_id_violation(&e) {
                    StoreError::Conflict { what: "login ID" }
                } else if is_unique_violation(&e) {
                    StoreError::Conflict { what: "user ID" }
                } else {
                    from_sqlx(BACKEND, e)
                }
            })?;
        for role in &user.roles {
            sqlx::query(sql::INSERT_USER_ROLE)
                .bind(institution.as_uuid())
                .bind(user.id.as_uuid())
                .bind(role.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) { StoreError::Conflict { what: "role" } } else { from_sqlx(BACKEND, e) }
                })?;
        }
        Ok(())
    }

    async fn insert_institution(conn: &mut sqlx::PgConnection, institution: &Institution) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_INSTITUTION)
            .bind(institution.id.as_uuid())
            .bind(institution.name.as_str())
            .bind(stored_time(institution.created_at))
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

/// Removes the password from `text`, whatever quoted it: the full URL is replaced by its
/// redacted form, and the password itself by `***`.
fn scrub(url: &DatabaseUrl, text: &str) -> String {
    let mut out = one_line(text).replace(url.expose(), &url.redacted());
    if let Some(password) = password_of(url.expose())
        && !password.is_empty()
    {
        out = out.replace(password, "***");
    }
    out
}

/// The password in `scheme://user:password@host…` or in a `password=` parameter.
fn password_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
    {
        return Some(password);
    }
    let query = url.split_once('?').map(|(_, q)| q)?;
    query.split('&').find_map(|kv| kv.strip_prefix("password="))
}

fn get<'r, T>(row: &'r PgRow, column: &'static str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(|e| from_sqlx(BACKEND, e))
}

fn institution_row(row: &PgRow) -> Result<InstitutionRow, StoreError> {
    Ok(InstitutionRow { id: get(row, "id")?, name: get(row, "name")?, created_at: get(row, "created_at")? })
}

fn user_rows(rows: &[PgRow]) -> Result<Vec<UserRow>, StoreError> {
    rows.iter()
        .map(|row| {
            Ok(UserRow {
                institution_id: get(row, "institution_id")?,
                id: get(row, "id")?,
                login_id: get(row, "login_id")?,
                display_name: get(row, "display_name")?,
                job_type: get(row, "job_type")?,
                status: get(row, "status")?,
                password_hash: get(row, "password_hash")?,
                password_change_required: get(row, "password_change_required")?,
                created_at: get(row, "created_at")?,
                last_login_at: get(row, "last_login_at")?,
                role: get(row, "role")?,
            })
        })
        .collect()
}

fn session_row(row: &PgRow) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        token_hash: get(row, "token_hash")?,
        institution_id: get(row, "institution_id")?,
        user_id: get(row, "user_id")?,
        stage: get(row, "stage")?,
        created_at: get(row, "created_at")?,
        last_seen_at: get(row, "last_seen_at")?,
        expires_at: get(row, "expires_at")?,
        locked: get(row, "locked")?,
        csrf_token: get(row, "csrf_token")?,
        previous_login_at: get(row, "previous_login_at")?,
        failures_since_previous: get(row, "failures_since_previous")?,
        client_cert_sha256: get(row, "client_cert_sha256")?,
    })
}

fn reenroll_pass_row(row: &PgRow) -> Result<ReenrollPassRow, StoreError> {
    Ok(ReenrollPassRow {
        institution_id: get(row, "institution_id")?,
        user_id: get(row, "user_id")?,
        pass_hash: get(row, "pass_hash")?,
        issued_by: get(row, "issued_by")?,
        reason: get(row, "reason")?,
        issued_at: get(row, "issued_at")?,
        expires_at: get(row, "expires_at")?,
        used_at: get(row, "used_at")?,
    })
}

fn webauthn_credential_row(row: &PgRow) -> Result<WebauthnCredentialRow, StoreError> {
    Ok(WebauthnCredentialRow {
        credential_id: get(row, "credential_id")?,
        name: get(row, "name")?,
        credential_json: get(row, "credential_json")?,
        created_at: get(row, "created_at")?,
        last_used_at: get(row, "last_used_at")?,
    })
}

fn terminal_row(row: &PgRow) -> Result<TerminalRow, StoreError> {
    Ok(TerminalRow {
        institution_id: get(row, "institution_id")?,
        id: get(row, "id")?,
        name: get(row, "name")?,
        cert_sha256: get(row, "cert_sha256")?,
        issued_at: get(row, "issued_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

fn emergency_grant_row(row: &PgRow) -> Result<EmergencyGrantRow, StoreError> {
    Ok(EmergencyGrantRow {
        institution_id: get(row, "institution_id")?,
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        patient_id: get(row, "patient_id")?,
        reason: get(row, "reason")?,
        granted_at: get(row, "granted_at")?,
        expires_at: get(row, "expires_at")?,
        reviewed_by: get(row, "reviewed_by")?,
        reviewed_at: get(row, "reviewed_at")?,
        review_note: get(row, "review_note")?,
    })
}

fn sealed_account_row(row: &PgRow) -> Result<SealedAccountRow, StoreError> {
    Ok(SealedAccountRow {
        institution_id: get(row, "institution_id")?,
        user_id: get(row, "user_id")?,
        generation: get(row, "generation")?,
        sealed_at: get(row, "sealed_at")?,
    })
}

fn sealed_activation_row(row: &PgRow) -> Result<SealedActivationRow, StoreError> {
    Ok(SealedActivationRow {
        institution_id: get(row, "institution_id")?,
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        generation: get(row, "generation")?,
        used_by: get(row, "used_by")?,
        reason: get(row, "reason")?,
        confirmed_by: get(row, "confirmed_by")?,
        activated_at: get(row, "activated_at")?,
        expires_at: get(row, "expires_at")?,
        closed_at: get(row, "closed_at")?,
    })
}

fn category_row(row: &PgRow) -> Result<CategoryRow, StoreError> {
    Ok(CategoryRow {
        institution_id: get(row, "institution_id")?,
        name: get(row, "name")?,
        label_ja: get(row, "label_ja")?,
        label_en: get(row, "label_en")?,
        created_at: get(row, "created_at")?,
    })
}

fn role_grant_row(row: &PgRow) -> Result<RoleGrantRow, StoreError> {
    Ok(RoleGrantRow { role: get(row, "role")?, action: get(row, "action")?, category: get(row, "category")? })
}

fn log_head_row(row: &PgRow) -> Result<LogHeadRow, StoreError> {
    Ok(LogHeadRow { size: get(row, "size")?, root: get(row, "root")?, frontier: get(row, "frontier")? })
}

fn log_leaf_row(row: &PgRow) -> Result<LogLeafRow, StoreError> {
    Ok(LogLeafRow { idx: get(row, "idx")?, leaf: get(row, "leaf")?, leaf_hash: get(row, "leaf_hash")? })
}

/// `Ok(())` when a statement keyed by institution and ID changed one row, else `NotFound`.
fn one_row(result: &sqlx::postgres::PgQueryResult, what: &'static str) -> Result<(), StoreError> {
    if result.rows_affected() == 0 { Err(StoreError::NotFound { what }) } else { Ok(()) }
}

#[async_trait::async_trait]
impl Store for PgStore {
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
        let mut tx = self.pool.begin().await.map_err(|e| from_sqlx(BACKEND, e))?;
        // Serializes bootstraps: a concurrent one waits here, then sees the institution.
        sqlx::query(sql::PG_LOCK_INSTITUTIONS).execute(&mut *tx).await.map_err(|e| from_sqlx(BACKEND, e))?;
        let initialized: bool =
            sqlx::query_scalar(sql::ANY_INSTITUTION).fetch_one(&mut *tx).await.map_err(|e| from_sqlx(BACKEND, e))?;
        if initialized {
            return Err(StoreError::AlreadyInitialized);
        }
        Self::insert_institution(&mut tx, institution).await?;
        Self::insert_user(&mut tx, institution.id, admin).await?;
        sqlx::query(sql::UPSERT_TOTP)
            .bind(institution.id.as_uuid())
            .bind(admin.id.as_uuid())
            .bind(admin_totp.secret.as_slice())
            .bind(admin_totp.confirmed)
            .bind(admin_totp.last_used_step)
            .bind(stored_time(admin_totp.created_at))
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
            .bind(id.as_uuid())
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
        let mut tx = self.pool.begin().await.map_err(|e| from_sqlx(BACKEND, e))?;
        // Institutions are never deleted, so the row cannot vanish before the insert; the
        // foreign key still guards it.
        let exists: bool = sqlx::query_scalar(sql::INSTITUTION_EXISTS)
            .bind(institution.as_uuid())
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
            .bind(institution.as_uuid())
            .bind(id.as_uuid())
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
            .bind(institution.as_uuid())
            .bind(login_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        assemble_one_user(user_rows(&rows)?)
    }

    async fn users(&self, institution: InstitutionId) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(sql::SELECT_USERS)
            .bind(institution.as_uuid())
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
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
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
        let (institution, user) = (institution.as_uuid(), user.as_uuid());
        let result = sqlx::query(sql::UPDATE_USER_STATUS)
            .bind(institution)
            .bind(user)
            .bind(status.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        if result.rows_affected() == 1 {
            return Ok(());
        }
        // Retired is final, so a user found retired now was retired at the UPDATE.
        let current: Option<String> = sqlx::query_scalar(sql::SELECT_USER_STATUS)
            .bind(institution)
            .bind(user)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Err(status_unchanged(current))
    }

    async fn set_user_roles(&self, institution: InstitutionId, user: UserId, roles: &[Role]) -> Result<(), StoreError> {
        let (institution, user) = (institution.as_uuid(), user.as_uuid());
        let mut tx = self.pool.begin().await.map_err(|e| from_sqlx(BACKEND, e))?;
        // Locks the user row: a concurrent replacement waits, then replaces these roles.
        sqlx::query(sql::PG_LOCK_USER)
            .bind(institution)
            .bind(user)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?
            .ok_or(StoreError::NotFound { what: "user" })?;
        sqlx::query(sql::DELETE_USER_ROLES)
            .bind(institution)
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        for role in roles {
            sqlx::query(sql::INSERT_USER_ROLE)
                .bind(institution)
                .bind(user)
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
            .bind(institution.as_uuid())
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
        let (institution, user) = (institution.as_uuid(), user.as_uuid());
        let mut tx = self.pool.begin().await.map_err(|e| from_sqlx(BACKEND, e))?;
        // The row stays locked from the read to the commit: no failure can slip in between.
        let row = sqlx::query(sql::PG_SELECT_LOGIN_STATE_FOR_UPDATE)
            .bind(institution)
            .bind(user)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?
            .ok_or(StoreError::NotFound { what: "user" })?;
        let previous = get(&row, "last_login_at")?;
        let failures = counter("users.failures_since_login", get(&row, "failures_since_login")?)?;
        sqlx::query(sql::UPDATE_LOGIN_SUCCESS)
            .bind(institution)
            .bind(user)
            .bind(stored_time(at))
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        tx.commit().await.map_err(|e| from_sqlx(BACKEND, e))?;
        Ok((previous, failures))
    }

    async fn record_login_failure(&self, institution: InstitutionId, user: UserId) -> Result<(), StoreError> {
        let result = sqlx::query(sql::UPDATE_LOGIN_FAILURE)
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
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
                last_failure_at: get(&row, "last_failure_at")?,
            }
            .into_throttle()
        })
        .transpose()
    }

    async fn put_throttle(&self, throttle: &Throttle) -> Result<(), StoreError> {
        sqlx::query(sql::UPSERT_THROTTLE)
            .bind(&throttle.login_id)
            .bind(i64::from(throttle.failures))
            .bind(stored_time(throttle.last_failure_at))
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
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| {
            Ok(TotpRow {
                secret: get(&row, "secret")?,
                confirmed: get(&row, "confirmed")?,
                last_used_step: get(&row, "last_used_step")?,
                created_at: get(&row, "created_at")?,
            }
            .into_totp())
        })
        .transpose()
    }

    async fn put_totp(&self, institution: InstitutionId, user: UserId, record: &TotpRecord) -> Result<(), StoreError> {
        sqlx::query(sql::UPSERT_TOTP)
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
            .bind(record.secret.as_slice())
            .bind(record.confirmed)
            .bind(record.last_used_step)
            .bind(stored_time(record.created_at))
            .execute(&self.pool)
            .await
            .map_err(|e| user_data_insert_error(BACKEND, e, "TOTP enrollment"))?;
        Ok(())
    }

    async fn confirm_totp(&self, institution: InstitutionId, user: UserId) -> Result<(), StoreError> {
        let result = sqlx::query(sql::CONFIRM_TOTP)
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        one_row(&result, "TOTP enrollment")
    }

    async fn use_totp_step(&self, institution: InstitutionId, user: UserId, step: i64) -> Result<bool, StoreError> {
        let result = sqlx::query(sql::USE_TOTP_STEP)
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
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
        let (institution, user) = (institution.as_uuid(), user.as_uuid());
        let at = stored_time(at);
        let mut tx = self.pool.begin().await.map_err(|e| from_sqlx(BACKEND, e))?;
        // Locks the user row: a concurrent replacement waits, then deletes these codes too.
        sqlx::query(sql::PG_LOCK_USER)
            .bind(institution)
            .bind(user)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?
            .ok_or(StoreError::NotFound { what: "user" })?;
        sqlx::query(sql::DELETE_RECOVERY_CODES)
            .bind(institution)
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        for hash in hashes {
            sqlx::query(sql::INSERT_RECOVERY_CODE)
                .bind(institution)
                .bind(user)
                .bind(hash.as_slice())
                .bind(at)
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
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
            .bind(hash.as_slice())
            .bind(stored_time(at))
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(result.rows_affected() == 1)
    }

    async fn unused_recovery_codes(&self, institution: InstitutionId, user: UserId) -> Result<u32, StoreError> {
        let count: i64 = sqlx::query_scalar(sql::COUNT_UNUSED_RECOVERY_CODES)
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        counter("COUNT(user_recovery_codes)", count)
    }

    async fn delete_second_factors(&self, institution: InstitutionId, user: UserId) -> Result<bool, StoreError> {
        let (institution, user) = (institution.as_uuid(), user.as_uuid());
        let mut tx = self.pool.begin().await.map_err(|e| from_sqlx(BACKEND, e))?;
        let totp = sqlx::query(sql::DELETE_TOTP)
            .bind(institution)
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        sqlx::query(sql::DELETE_RECOVERY_CODES)
            .bind(institution)
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        sqlx::query(sql::DELETE_WEBAUTHN_CREDENTIALS)
            .bind(institution)
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        tx.commit().await.map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(totp.rows_affected() > 0)
    }

    async fn create_reenroll_pass(&self, pass: &ReenrollPass) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_REENROLL_PASS)
            .bind(pass.institution.as_uuid())
            .bind(pass.user.as_uuid())
            .bind(pass.pass_hash.as_slice())
            .bind(pass.issued_by.as_uuid())
            .bind(&pass.reason)
            .bind(stored_time(pass.issued_at))
            .bind(stored_time(pass.expires_at))
            .bind(pass.used_at.map(stored_time))
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
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
            .bind(pass_hash.as_slice())
            .bind(stored_time(at))
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(result.rows_affected() == 1)
    }

    async fn reenroll_passes(&self, institution: InstitutionId) -> Result<Vec<ReenrollPass>, StoreError> {
        let rows = sqlx::query(sql::SELECT_REENROLL_PASSES)
            .bind(institution.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| reenroll_pass_row(row)?.into_pass()).collect()
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_SESSION)
            .bind(session.token_hash.as_slice())
            .bind(session.institution.as_uuid())
            .bind(session.user.as_uuid())
            .bind(session.stage.as_str())
            .bind(stored_time(session.created_at))
            .bind(stored_time(session.last_seen_at))
            .bind(stored_time(session.expires_at))
            .bind(session.locked)
            .bind(&session.csrf_token)
            .bind(session.previous_login_at.map(stored_time))
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
            .bind(session.institution.as_uuid())
            .bind(session.token_hash.as_slice())
            .bind(session.stage.as_str())
            .bind(stored_time(session.last_seen_at))
            .bind(stored_time(session.expires_at))
            .bind(session.locked)
            .bind(session.previous_login_at.map(stored_time))
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
            .bind(institution.as_uuid())
            .bind(token_hash.as_slice())
            .bind(stored_time(at))
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(())
    }

    async fn delete_session(&self, institution: InstitutionId, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        sqlx::query(sql::DELETE_SESSION)
            .bind(institution.as_uuid())
            .bind(token_hash.as_slice())
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(())
    }

    async fn delete_user_sessions(&self, institution: InstitutionId, user: UserId) -> Result<u64, StoreError> {
        let result = sqlx::query(sql::DELETE_USER_SESSIONS)
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
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
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
            .bind(credential.credential_id.as_slice())
            .bind(&credential.name)
            .bind(&credential.credential_json)
            .bind(stored_time(credential.created_at))
            .bind(credential.last_used_at.map(stored_time))
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
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
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
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
            .bind(credential_id)
            .bind(credential_json)
            .bind(stored_time(used_at))
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
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
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
            .bind(institution.as_uuid())
            .bind(purpose.as_str())
            .bind(state)
            .bind(stored_time(expires_at))
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
            .bind(institution.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        let Some(row) = row else { return Ok(None) };
        WebauthnChallengeRow {
            purpose: get(&row, "purpose")?,
            state: get(&row, "state")?,
            expires_at: get(&row, "expires_at")?,
        }
        .into_state(purpose, at)
    }

    async fn add_terminal(&self, terminal: &Terminal) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_TERMINAL)
            .bind(terminal.institution.as_uuid())
            .bind(terminal.id.as_uuid())
            .bind(terminal.name.as_str())
            .bind(&terminal.cert_sha256)
            .bind(stored_time(terminal.issued_at))
            .bind(terminal.revoked_at.map(stored_time))
            .execute(&self.pool)
            .await
            .map_err(|e| terminal_insert_error(BACKEND, e))?;
        Ok(())
    }

    async fn terminals(&self, institution: InstitutionId) -> Result<Vec<Terminal>, StoreError> {
        let rows = sqlx::query(sql::SELECT_TERMINALS)
            .bind(institution.as_uuid())
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
            .bind(institution.as_uuid())
            .bind(name.as_str())
            .bind(stored_time(at))
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
            .bind(institution.as_uuid())
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
            .bind(institution.as_uuid())
            .bind(required)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        one_row(&result, "institution")
    }

    async fn require_registered_terminal(&self, institution: InstitutionId) -> Result<bool, StoreError> {
        sqlx::query_scalar(sql::SELECT_REQUIRE_REGISTERED_TERMINAL)
            .bind(institution.as_uuid())
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
            .bind(institution.as_uuid())
            .bind(cert_sha256)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(result.rows_affected())
    }
    async fn create_emergency_grant(&self, grant: &EmergencyGrantRecord) -> Result<(), StoreError> {
        let review = grant.review.as_ref();
        sqlx::query(sql::INSERT_EMERGENCY_GRANT)
            .bind(grant.institution.as_uuid())
            .bind(grant.id.as_uuid())
            .bind(grant.user.as_uuid())
            .bind(grant.patient.as_uuid())
            .bind(&grant.reason)
            .bind(stored_time(grant.granted_at))
            .bind(stored_time(grant.expires_at))
            .bind(review.map(|r| r.reviewed_by.as_uuid()))
            .bind(review.map(|r| stored_time(r.reviewed_at)))
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
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
            .bind(stored_time(at))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| emergency_grant_row(row)?.into_grant()).collect()
    }

    async fn emergency_grants(&self, institution: InstitutionId) -> Result<Vec<EmergencyGrantRecord>, StoreError> {
        let rows = sqlx::query(sql::SELECT_EMERGENCY_GRANTS)
            .bind(institution.as_uuid())
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
            .bind(institution.as_uuid())
            .bind(id.as_uuid())
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
            .bind(institution.as_uuid())
            .bind(id.as_uuid())
            .bind(review.reviewed_by.as_uuid())
            .bind(stored_time(review.reviewed_at))
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
            .bind(account.institution.as_uuid())
            .bind(account.user.as_uuid())
            .bind(i64::from(account.generation))
            .bind(stored_time(account.sealed_at))
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
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| sealed_account_row(&row)?.into_account()).transpose()
    }

    async fn sealed_accounts(&self, institution: InstitutionId) -> Result<Vec<SealedAccount>, StoreError> {
        let rows = sqlx::query(sql::SELECT_SEALED_ACCOUNTS)
            .bind(institution.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| sealed_account_row(row)?.into_account()).collect()
    }

    async fn create_sealed_activation(&self, activation: &SealedActivation) -> Result<(), StoreError> {
        let (institution, user) = (activation.institution.as_uuid(), activation.user.as_uuid());
        // Sealed accounts are never deleted: one found here is still there at the insert, so a
        // foreign-key failure of the insert can only be the confirmer.
        let sealed: bool = sqlx::query_scalar(sql::SEALED_ACCOUNT_EXISTS)
            .bind(institution)
            .bind(user)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        if !sealed {
            return Err(StoreError::NotFound { what: "sealed account" });
        }
        sqlx::query(sql::INSERT_SEALED_ACTIVATION)
            .bind(institution)
            .bind(activation.id.as_uuid())
            .bind(user)
            .bind(i64::from(activation.generation))
            .bind(&activation.used_by)
            .bind(&activation.reason)
            .bind(activation.confirmed_by.as_uuid())
            .bind(stored_time(activation.activated_at))
            .bind(stored_time(activation.expires_at))
            .bind(activation.closed_at.map(stored_time))
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
            .bind(institution.as_uuid())
            .bind(user.as_uuid())
            .bind(stored_time(at))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| sealed_activation_row(&row)?.into_activation()).transpose()
    }

    async fn sealed_activations(&self, institution: InstitutionId) -> Result<Vec<SealedActivation>, StoreError> {
        let rows = sqlx::query(sql::SELECT_SEALED_ACTIVATIONS)
            .bind(institution.as_uuid())
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
        let (institution, user, at) = (institution.as_uuid(), user.as_uuid(), stored_time(at));
        let mut tx = self.pool.begin().await.map_err(|e| from_sqlx(BACKEND, e))?;
        // The re-key locks the account's row: a concurrent close waits, then re-keys again.
        // Any error rolls both statements back.
        let new_generation: i64 = sqlx::query_scalar(sql::BUMP_SEALED_ACCOUNT_GENERATION)
            .bind(institution)
            .bind(user)
            .bind(at)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?
            .ok_or(StoreError::NotFound { what: "sealed account" })?;
        let new_generation = generation("sealed_accounts.generation", new_generation)?;
        sqlx::query(sql::CLOSE_SEALED_ACTIVATIONS)
            .bind(institution)
            .bind(user)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        tx.commit().await.map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(new_generation)
    }

    async fn add_category(&self, category: &CategoryDef) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_CATEGORY)
            .bind(category.institution.as_uuid())
            .bind(category.category.as_str())
            .bind(&category.label_ja)
            .bind(&category.label_en)
            .bind(stored_time(category.created_at))
            .execute(&self.pool)
            .await
            .map_err(|e| institution_data_insert_error(BACKEND, e, "category"))?;
        Ok(())
    }

    async fn categories(&self, institution: InstitutionId) -> Result<Vec<CategoryDef>, StoreError> {
        let rows = sqlx::query(sql::SELECT_CATEGORIES)
            .bind(institution.as_uuid())
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
        let institution = institution.as_uuid();
        let mut tx = self.pool.begin().await.map_err(|e| from_sqlx(BACKEND, e))?;
        // The upsert locks the role's row: a concurrent replacement waits, then replaces these
        // grants. Any error rolls all back, so the old grants are kept.
        sqlx::query(sql::UPSERT_ROLE_POLICY)
            .bind(institution)
            .bind(role.as_str())
            .bind(changed_by.as_uuid())
            .bind(stored_time(at))
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                // `changed_by` is not a user of the institution (nor is there one, for an
                // unknown institution).
                if is_foreign_key_violation(&e) { StoreError::NotFound { what: "user" } } else { from_sqlx(BACKEND, e) }
            })?;
        sqlx::query(sql::DELETE_ROLE_GRANTS)
            .bind(institution)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        for (action, category) in grants {
            sqlx::query(sql::INSERT_ROLE_GRANT)
                .bind(institution)
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
            .bind(institution.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        assemble_role_grants(rows.iter().map(role_grant_row).collect::<Result<_, _>>()?)
    }

    async fn append_log(&self, institution: InstitutionId, entries: &[LogEntry]) -> Result<LogHead, StoreError> {
        let id = institution.as_uuid();
        if entries.is_empty() {
            let exists: bool = sqlx::query_scalar(sql::INSTITUTION_EXISTS)
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| from_sqlx(BACKEND, e))?;
            if !exists {
                return Err(StoreError::NotFound { what: "institution" });
            }
            return self.log_head(institution).await;
        }
        let mut tx = self.pool.begin().await.map_err(|e| from_sqlx(BACKEND, e))?;
        // The head row exists after this (a concurrent first append waits here for the other to
        // commit); locking it serializes the institution's appends until the commit. Any error
        // rolls every row back.
        let (empty_root, empty_frontier) = log::empty_head();
        sqlx::query(sql::INSERT_LOG_HEAD_IF_MISSING)
            .bind(id)
            .bind(empty_root.as_slice())
            .bind(empty_frontier)
            .execute(&mut *tx)
            .await
            .map_err(|e| institution_data_insert_error(BACKEND, e, "log head"))?;
        let row =
            sqlx::query(sql::PG_LOCK_LOG_HEAD).bind(id).fetch_one(&mut *tx).await.map_err(|e| from_sqlx(BACKEND, e))?;
        let frontier = log_head_row(&row)?.into_frontier()?;
        let (leaves, head) = log::plan_append(frontier, entries)?;
        for leaf in &leaves {
            let columns = &leaf.entry.columns;
            sqlx::query(sql::INSERT_LOG_LEAF)
                .bind(id)
                .bind(leaf.idx)
                .bind(leaf.entry.leaf.as_slice())
                .bind(leaf.hash.as_slice())
                .bind(stored_time(columns.at))
                .bind(columns.actor.map(|u| u.as_uuid()))
                .bind(columns.patient.map(|p| p.as_uuid()))
                .bind(columns.action.as_str())
                .bind(columns.outcome.as_str())
                .bind(columns.category.as_deref())
                .execute(&mut *tx)
                .await
                .map_err(|e| from_sqlx(BACKEND, e))?;
            for node in &leaf.nodes {
                sqlx::query(sql::INSERT_LOG_NODE)
                    .bind(id)
                    .bind(node.level)
                    .bind(node.idx)
                    .bind(node.hash.as_slice())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| from_sqlx(BACKEND, e))?;
            }
        }
        let result = sqlx::query(sql::UPDATE_LOG_HEAD)
            .bind(id)
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
            .bind(institution.as_uuid())
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
            .bind(institution.as_uuid())
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
        let id = institution.as_uuid();
        let mut conn = self.pool.acquire().await.map_err(|e| from_sqlx(BACKEND, e))?;
        let mut nodes = Vec::with_capacity(addresses.len());
        for &(level, index) in addresses {
            let Some((level, index)) = log::node_address(level, index) else {
                nodes.push(None);
                continue;
            };
            let hash: Option<Vec<u8>> = sqlx::query_scalar(sql::SELECT_LOG_NODE)
                .bind(id)
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
        // Every optional parameter is bound with its column's type, NULL or not, so
        // PostgreSQL knows each `$n IS NULL` operand's type.
        let rows = sqlx::query(sql::SEARCH_AUDIT_LOG)
            .bind(institution.as_uuid())
            .bind(query.from.map(stored_time))
            .bind(query.until.map(stored_time))
            .bind(query.actor.map(|u| u.as_uuid()))
            .bind(query.patient.map(|p| p.as_uuid()))
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

    #[test]
    fn the_password_is_found_and_scrubbed() {
        let url = DatabaseUrl::new("postgres://mamori:s3cret-pw@db.example:5432/mamori?sslmode=require");
        assert_eq!(password_of(url.expose()), Some("s3cret-pw"));
        let text =
            scrub(&url, "failed for postgres://mamori:s3cret-pw@db.example:5432/mamori?sslmode=require (s3cret-pw)");
        assert!(!text.contains("s3cret-pw"), "{text}");
        assert!(text.contains("postgres://mamori:***@db.example:5432/mamori"), "{text}");
        assert_eq!(password_of("postgres://h/db?user=a&password=x2&sslmode=require"), Some("x2"));
        assert_eq!(password_of("postgres://mamori@h/db"), None);
    }

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable_and_the_password_never_shows() {
        // Port 1 on loopback: nothing listens there, the connection is refused at once.
        let url = DatabaseUrl::new("postgres://mamori:s3cret-pw@127.0.0.1:1/mamori");
        let err = PgStore::connect(&url, 1).await.err();
        assert!(matches!(err, Some(StoreError::Unavailable { backend: Backend::Postgres, .. })), "{err:?}");
        let shown = format!("{err:?} {}", err.as_ref().map(ToString::to_string).unwrap_or_default());
        assert!(!shown.contains("s3cret-pw"), "{shown}");
        let bad = DatabaseUrl::new("postgres://mamori:s3cret-pw@127.0.0.1:notaport/mamori");
        let err = PgStore::connect(&bad, 1).await.err();
        assert!(matches!(err, Some(StoreError::InvalidUrl { .. })), "{err:?}");
        assert!(!format!("{err:?}").contains("s3cret-pw"), "{err:?}");
    }
}
