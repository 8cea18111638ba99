//! The PostgreSQL backend: `UUID` and `TIMESTAMPTZ` columns, the same statements as SQLite.

use crate::error::{from_sqlx, is_login_id_violation, is_unique_violation, one_line};
use crate::rows::{InstitutionRow, UserRow, assemble_one_user, assemble_users, created_user, stored_time};
use crate::{Store, StoreError, sql};
use mamori_core::config::{Backend, DatabaseUrl};
use mamori_core::{Institution, InstitutionId, LoginId, NewUser, User, UserId, UserStatus};
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use std::str::FromStr;
use std::time::Duration;

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
                role: get(row, "role")?,
            })
        })
        .collect()
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

    async fn bootstrap(&self, institution: &Institution, admin: &NewUser) -> Result<(), StoreError> {
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
