//! Every SQL statement the store runs, as static text with numbered parameters (`$1`, `$2`, …),
//! which both SQLite and PostgreSQL accept. The backends bind their own column types.
//!
//! Review rule: every statement that reads or writes an institution's data binds
//! `institution_id` in its `WHERE` clause or its key. The only statements that range over all
//! institutions are the deployment-level ones marked below.

/// Liveness.
pub(crate) const PING: &str = "SELECT 1";

/// Highest applied migration (sqlx's bookkeeping table).
pub(crate) const SCHEMA_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success";

/// Deployment-level: whether any institution exists.
pub(crate) const ANY_INSTITUTION: &str = "SELECT EXISTS (SELECT 1 FROM institutions)";

/// PostgreSQL only: serializes bootstraps (another bootstrap waits, then sees the institution).
/// SQLite gets the same effect from `BEGIN IMMEDIATE`.
pub(crate) const PG_LOCK_INSTITUTIONS: &str = "LOCK TABLE institutions IN SHARE ROW EXCLUSIVE MODE";

/// SQLite only: take the write lock when the transaction starts.
pub(crate) const SQLITE_BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";

pub(crate) const INSERT_INSTITUTION: &str = "INSERT INTO institutions (id, name, created_at) VALUES ($1, $2, $3)";

pub(crate) const SELECT_INSTITUTION: &str = "SELECT id, name, created_at FROM institutions WHERE id = $1";

/// Deployment-level: the list of tenants.
pub(crate) const SELECT_INSTITUTIONS: &str = "SELECT id, name, created_at FROM institutions ORDER BY created_at, id";

pub(crate) const INSTITUTION_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM institutions WHERE id = $1)";

pub(crate) const INSERT_USER: &str = "INSERT INTO users \
     (institution_id, id, login_id, display_name, job_type, status, password_hash, \
      password_change_required, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub(crate) const INSERT_USER_ROLE: &str = "INSERT INTO user_roles (institution_id, user_id, role) VALUES ($1, $2, $3)";

/// The columns [`crate::rows::UserRow`] reads: one row per (user, role), `role` NULL for a user
/// without roles.
macro_rules! select_users {
    ($where_and_order:literal) => {
        concat!(
            "SELECT u.institution_id, u.id, u.login_id, u.display_name, u.job_type, u.status, \
                    u.password_hash, u.password_change_required, u.created_at, r.role \
             FROM users u \
             LEFT JOIN user_roles r \
               ON r.institution_id = u.institution_id AND r.user_id = u.id \
             ",
            $where_and_order
        )
    };
}

pub(crate) const SELECT_USER: &str = select_users!("WHERE u.institution_id = $1 AND u.id = $2 ORDER BY r.role");

pub(crate) const SELECT_USER_BY_LOGIN_ID: &str =
    select_users!("WHERE u.institution_id = $1 AND u.login_id = $2 ORDER BY r.role");

pub(crate) const SELECT_USERS: &str = select_users!("WHERE u.institution_id = $1 ORDER BY u.login_id, u.id, r.role");
