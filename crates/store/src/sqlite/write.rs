//! The mutations a unit of work can hold ([`crate::StoreTx`]), each written once, on one
//! connection that is inside a transaction: the `BEGIN IMMEDIATE` of a [`super::SqliteTx`], or
//! the one a pool-level [`crate::Store`] method opens around a single call. None of them
//! begins, commits or rolls back, and none takes a second connection from the pool.
//!
//! The transaction holds SQLite's write lock from its `BEGIN IMMEDIATE` to its end, so every
//! read-then-write below is serialized with every other writer; conditional `UPDATE`s keep
//! their affected-row count as the answer.

use super::{
    BACKEND, date_text, get, get_opt_time, log_head_row, one_row, opt_time_text, time_text, user_insert_error,
    uuid_text,
};
use crate::StoreError;
use crate::error::{
    assessment_write_error, device_insert_error, from_sqlx, institution_data_insert_error, is_foreign_key_violation,
    is_unique_violation, master_entry_insert_error, patient_write_error, record_write_error, terminal_insert_error,
    user_data_insert_error,
};
use crate::rows::{
    EvidenceColumns, check_first_items, counter, created_user, generation, leaf_index_column, status_unchanged,
};
use crate::{log, sql};
use mamori_core::assessment::{Assessment, Evidence, ItemAssessment};
use mamori_core::audit::{LogEntry, LogHead};
use mamori_core::authz::{Action, Category, CategoryDef};
use mamori_core::emergency::{EmergencyGrantRecord, EmergencyReview};
use mamori_core::factor::{ReenrollPass, TotpRecord, WebauthnCredential};
use mamori_core::lockout::Throttle;
use mamori_core::master::MasterEntry;
use mamori_core::patient::Patient;
use mamori_core::record::{Agent, Content, Device, RecordVersion, VersionState};
use mamori_core::sealed::{SealedAccount, SealedActivation};
use mamori_core::session::SessionRecord;
use mamori_core::terminal::{Terminal, TerminalName};
use mamori_core::{DeviceId, EmergencyGrantId, InstitutionId, NewUser, RecordId, Role, User, UserId, UserStatus};
use sqlx::{Sqlite, SqliteConnection};
use time::OffsetDateTime;
use uuid::Uuid;

/// Inserts the user row and its roles (bootstrap and [`create_user`]).
pub(super) async fn insert_user(
    conn: &mut SqliteConnection,
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
        .execute(&mut *conn)
        .await
        .map_err(|e| user_insert_error(&e).unwrap_or_else(|| from_sqlx(BACKEND, e)))?;
    for role in &user.roles {
        sqlx::query(sql::INSERT_USER_ROLE)
            .bind(&institution)
            .bind(&id)
            .bind(role.as_str())
            .execute(&mut *conn)
            .await
            .map_err(
            |e| {
                if is_unique_violation(&e) { StoreError::Conflict { what: "role" } } else { from_sqlx(BACKEND, e) }
            },
        )?;
    }
    Ok(())
}

/// The institution's log head, or the empty tree's before its first append.
pub(super) async fn read_log_head<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    institution: &str,
) -> Result<LogHead, StoreError> {
    let row = sqlx::query(sql::SELECT_LOG_HEAD)
        .bind(institution)
        .fetch_optional(executor)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    row.map_or_else(|| Ok(log::no_head()), |row| log_head_row(&row)?.into_head())
}

pub(super) async fn append_log(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    entries: &[LogEntry],
) -> Result<LogHead, StoreError> {
    let id = uuid_text(institution.as_uuid());
    if entries.is_empty() {
        let exists: bool = sqlx::query_scalar(sql::INSTITUTION_EXISTS)
            .bind(&id)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        if !exists {
            return Err(StoreError::NotFound { what: "institution" });
        }
        return read_log_head(&mut *conn, &id).await;
    }
    // The write lock is held from reading the head to the end of the transaction, so appends
    // are serialized; an error leaves rows of this call in the transaction, which the caller
    // then drops.
    let (empty_root, empty_frontier) = log::empty_head();
    sqlx::query(sql::INSERT_LOG_HEAD_IF_MISSING)
        .bind(&id)
        .bind(empty_root.as_slice())
        .bind(empty_frontier)
        .execute(&mut *conn)
        .await
        .map_err(|e| institution_data_insert_error(BACKEND, e, "log head"))?;
    let row =
        sqlx::query(sql::SELECT_LOG_HEAD).bind(&id).fetch_one(&mut *conn).await.map_err(|e| from_sqlx(BACKEND, e))?;
    let frontier = log_head_row(&row)?.into_frontier()?;
    let (leaves, head) = log::plan_append(frontier, entries)?;
    for leaf in &leaves {
        let columns = &leaf.entry.columns;
        sqlx::query(sql::INSERT_LOG_LEAF)
            .bind(&id)
            .bind(leaf.idx)
            .bind(leaf.entry.leaf.as_slice())
            .bind(leaf.hash.as_slice())
            .bind(leaf.entry.kind.as_str())
            .bind(time_text(columns.at)?)
            .bind(columns.actor.map(|u| uuid_text(u.as_uuid())))
            .bind(columns.patient.map(|p| uuid_text(p.as_uuid())))
            .bind(columns.action.as_str())
            .bind(columns.outcome.as_str())
            .bind(columns.category.as_deref())
            .execute(&mut *conn)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        for node in &leaf.nodes {
            sqlx::query(sql::INSERT_LOG_NODE)
                .bind(&id)
                .bind(node.level)
                .bind(node.idx)
                .bind(node.hash.as_slice())
                .execute(&mut *conn)
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
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    if result.rows_affected() != 1 {
        return Err(StoreError::Database { detail: "the log head moved during an append".to_owned() });
    }
    head.head()
}

pub(super) async fn create_user(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    user: &NewUser,
) -> Result<User, StoreError> {
    let exists: bool = sqlx::query_scalar(sql::INSTITUTION_EXISTS)
        .bind(uuid_text(institution.as_uuid()))
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    if !exists {
        return Err(StoreError::NotFound { what: "institution" });
    }
    insert_user(conn, institution, user).await?;
    Ok(created_user(institution, user))
}

pub(super) async fn set_password(
    conn: &mut SqliteConnection,
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
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    one_row(&result, "user")
}

pub(super) async fn set_user_status(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    user: UserId,
    status: UserStatus,
) -> Result<(), StoreError> {
    let (institution, user) = (uuid_text(institution.as_uuid()), uuid_text(user.as_uuid()));
    let result = sqlx::query(sql::UPDATE_USER_STATUS)
        .bind(&institution)
        .bind(&user)
        .bind(status.as_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    if result.rows_affected() == 1 {
        return Ok(());
    }
    // Retired is final, so a user found retired now was retired at the UPDATE.
    let current: Option<String> = sqlx::query_scalar(sql::SELECT_USER_STATUS)
        .bind(&institution)
        .bind(&user)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Err(status_unchanged(current))
}

pub(super) async fn set_user_roles(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    user: UserId,
    roles: &[Role],
) -> Result<(), StoreError> {
    let (institution, user) = (uuid_text(institution.as_uuid()), uuid_text(user.as_uuid()));
    // The write lock is held from the check to the end of the transaction.
    sqlx::query(sql::SELECT_USER_EXISTS)
        .bind(&institution)
        .bind(&user)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?
        .ok_or(StoreError::NotFound { what: "user" })?;
    sqlx::query(sql::DELETE_USER_ROLES)
        .bind(&institution)
        .bind(&user)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    for role in roles {
        sqlx::query(sql::INSERT_USER_ROLE)
            .bind(&institution)
            .bind(&user)
            .bind(role.as_str())
            .execute(&mut *conn)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) { StoreError::Conflict { what: "role" } } else { from_sqlx(BACKEND, e) }
            })?;
    }
    Ok(())
}

pub(super) async fn record_login_success(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    user: UserId,
    at: OffsetDateTime,
) -> Result<(Option<OffsetDateTime>, u32), StoreError> {
    let (institution, user) = (uuid_text(institution.as_uuid()), uuid_text(user.as_uuid()));
    // The write lock is held from the read to the end of the transaction: no failure can slip
    // in between.
    let row = sqlx::query(sql::SELECT_LOGIN_STATE)
        .bind(&institution)
        .bind(&user)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?
        .ok_or(StoreError::NotFound { what: "user" })?;
    let previous = get_opt_time(&row, "last_login_at")?;
    let failures = counter("users.failures_since_login", get(&row, "failures_since_login")?)?;
    sqlx::query(sql::UPDATE_LOGIN_SUCCESS)
        .bind(&institution)
        .bind(&user)
        .bind(time_text(at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok((previous, failures))
}

pub(super) async fn record_login_failure(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    user: UserId,
) -> Result<(), StoreError> {
    let result = sqlx::query(sql::UPDATE_LOGIN_FAILURE)
        .bind(uuid_text(institution.as_uuid()))
        .bind(uuid_text(user.as_uuid()))
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    one_row(&result, "user")
}

pub(super) async fn put_throttle(conn: &mut SqliteConnection, throttle: &Throttle) -> Result<(), StoreError> {
    sqlx::query(sql::UPSERT_THROTTLE)
        .bind(&throttle.login_id)
        .bind(i64::from(throttle.failures))
        .bind(time_text(throttle.last_failure_at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(())
}

pub(super) async fn clear_throttle(conn: &mut SqliteConnection, login_id: &str) -> Result<(), StoreError> {
    sqlx::query(sql::DELETE_THROTTLE).bind(login_id).execute(&mut *conn).await.map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(())
}

pub(super) async fn put_totp(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    user: UserId,
    record: &TotpRecord,
) -> Result<(), StoreError> {
    sqlx::query(sql::UPSERT_TOTP)
        .bind(uuid_text(institution.as_uuid()))
        .bind(uuid_text(user.as_uuid()))
        .bind(record.secret.as_slice())
        .bind(record.confirmed)
        .bind(record.last_used_step)
        .bind(time_text(record.created_at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "TOTP enrollment"))?;
    Ok(())
}

pub(super) async fn confirm_totp(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    user: UserId,
) -> Result<(), StoreError> {
    let result = sqlx::query(sql::CONFIRM_TOTP)
        .bind(uuid_text(institution.as_uuid()))
        .bind(uuid_text(user.as_uuid()))
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    one_row(&result, "TOTP enrollment")
}

pub(super) async fn replace_recovery_codes(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    user: UserId,
    hashes: &[[u8; 32]],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let (institution, user) = (uuid_text(institution.as_uuid()), uuid_text(user.as_uuid()));
    let at = time_text(at)?;
    sqlx::query(sql::SELECT_USER_EXISTS)
        .bind(&institution)
        .bind(&user)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?
        .ok_or(StoreError::NotFound { what: "user" })?;
    sqlx::query(sql::DELETE_RECOVERY_CODES)
        .bind(&institution)
        .bind(&user)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    for hash in hashes {
        sqlx::query(sql::INSERT_RECOVERY_CODE)
            .bind(&institution)
            .bind(&user)
            .bind(hash.as_slice())
            .bind(&at)
            .execute(&mut *conn)
            .await
            .map_err(|e| user_data_insert_error(BACKEND, e, "recovery code"))?;
    }
    Ok(())
}

pub(super) async fn delete_second_factors(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    user: UserId,
) -> Result<bool, StoreError> {
    let (institution, user) = (uuid_text(institution.as_uuid()), uuid_text(user.as_uuid()));
    let totp = sqlx::query(sql::DELETE_TOTP)
        .bind(&institution)
        .bind(&user)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    sqlx::query(sql::DELETE_RECOVERY_CODES)
        .bind(&institution)
        .bind(&user)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    sqlx::query(sql::DELETE_WEBAUTHN_CREDENTIALS)
        .bind(&institution)
        .bind(&user)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(totp.rows_affected() > 0)
}

pub(super) async fn create_reenroll_pass(conn: &mut SqliteConnection, pass: &ReenrollPass) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_REENROLL_PASS)
        .bind(uuid_text(pass.institution.as_uuid()))
        .bind(uuid_text(pass.user.as_uuid()))
        .bind(pass.pass_hash.as_slice())
        .bind(uuid_text(pass.issued_by.as_uuid()))
        .bind(&pass.reason)
        .bind(time_text(pass.issued_at)?)
        .bind(time_text(pass.expires_at)?)
        .bind(opt_time_text(pass.used_at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "re-enrollment pass"))?;
    Ok(())
}

pub(super) async fn use_reenroll_pass(
    conn: &mut SqliteConnection,
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
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn create_session(conn: &mut SqliteConnection, session: &SessionRecord) -> Result<(), StoreError> {
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
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "session token"))?;
    Ok(())
}

pub(super) async fn update_session(conn: &mut SqliteConnection, session: &SessionRecord) -> Result<(), StoreError> {
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
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    one_row(&result, "session")
}

pub(super) async fn delete_session(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    token_hash: &[u8; 32],
) -> Result<(), StoreError> {
    sqlx::query(sql::DELETE_SESSION)
        .bind(uuid_text(institution.as_uuid()))
        .bind(token_hash.as_slice())
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(())
}

pub(super) async fn delete_user_sessions(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    user: UserId,
) -> Result<u64, StoreError> {
    let result = sqlx::query(sql::DELETE_USER_SESSIONS)
        .bind(uuid_text(institution.as_uuid()))
        .bind(uuid_text(user.as_uuid()))
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected())
}

pub(super) async fn add_webauthn_credential(
    conn: &mut SqliteConnection,
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
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "security key"))?;
    Ok(())
}

pub(super) async fn delete_webauthn_credential(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    user: UserId,
    credential_id: &[u8],
) -> Result<bool, StoreError> {
    let result = sqlx::query(sql::DELETE_WEBAUTHN_CREDENTIAL)
        .bind(uuid_text(institution.as_uuid()))
        .bind(uuid_text(user.as_uuid()))
        .bind(credential_id)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn add_terminal(conn: &mut SqliteConnection, terminal: &Terminal) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_TERMINAL)
        .bind(uuid_text(terminal.institution.as_uuid()))
        .bind(uuid_text(terminal.id.as_uuid()))
        .bind(terminal.name.as_str())
        .bind(&terminal.cert_sha256)
        .bind(time_text(terminal.issued_at)?)
        .bind(opt_time_text(terminal.revoked_at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| terminal_insert_error(BACKEND, e))?;
    Ok(())
}

pub(super) async fn revoke_terminal(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    name: &TerminalName,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let result = sqlx::query(sql::REVOKE_TERMINAL)
        .bind(uuid_text(institution.as_uuid()))
        .bind(name.as_str())
        .bind(time_text(at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn set_require_registered_terminal(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    required: bool,
) -> Result<(), StoreError> {
    let result = sqlx::query(sql::UPDATE_REQUIRE_REGISTERED_TERMINAL)
        .bind(uuid_text(institution.as_uuid()))
        .bind(required)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    one_row(&result, "institution")
}

pub(super) async fn delete_sessions_of_certificate(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    cert_sha256: &str,
) -> Result<u64, StoreError> {
    let result = sqlx::query(sql::DELETE_SESSIONS_OF_CERTIFICATE)
        .bind(uuid_text(institution.as_uuid()))
        .bind(cert_sha256)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected())
}

pub(super) async fn create_emergency_grant(
    conn: &mut SqliteConnection,
    grant: &EmergencyGrantRecord,
) -> Result<(), StoreError> {
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
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "emergency grant"))?;
    Ok(())
}

pub(super) async fn review_emergency_grant(
    conn: &mut SqliteConnection,
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
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            // The reviewer is not a user of the institution.
            if is_foreign_key_violation(&e) { StoreError::NotFound { what: "user" } } else { from_sqlx(BACKEND, e) }
        })?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn seal_account(conn: &mut SqliteConnection, account: &SealedAccount) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_SEALED_ACCOUNT)
        .bind(uuid_text(account.institution.as_uuid()))
        .bind(uuid_text(account.user.as_uuid()))
        .bind(i64::from(account.generation))
        .bind(time_text(account.sealed_at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "sealed account"))?;
    Ok(())
}

pub(super) async fn create_sealed_activation(
    conn: &mut SqliteConnection,
    activation: &SealedActivation,
) -> Result<(), StoreError> {
    let (institution, user) = (uuid_text(activation.institution.as_uuid()), uuid_text(activation.user.as_uuid()));
    // Sealed accounts are never deleted: one found here is still there at the insert, so a
    // foreign-key failure of the insert can only be the confirmer.
    let sealed: bool = sqlx::query_scalar(sql::SEALED_ACCOUNT_EXISTS)
        .bind(&institution)
        .bind(&user)
        .fetch_one(&mut *conn)
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
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "sealed activation"))?;
    Ok(())
}

pub(super) async fn close_sealed_account(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    user: UserId,
    at: OffsetDateTime,
) -> Result<u32, StoreError> {
    let (institution, user) = (uuid_text(institution.as_uuid()), uuid_text(user.as_uuid()));
    let at = time_text(at)?;
    // The write lock is held from the re-key to the end of the transaction.
    let new_generation: i64 = sqlx::query_scalar(sql::BUMP_SEALED_ACCOUNT_GENERATION)
        .bind(&institution)
        .bind(&user)
        .bind(&at)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?
        .ok_or(StoreError::NotFound { what: "sealed account" })?;
    let new_generation = generation("sealed_accounts.generation", new_generation)?;
    sqlx::query(sql::CLOSE_SEALED_ACTIVATIONS)
        .bind(&institution)
        .bind(&user)
        .bind(&at)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(new_generation)
}

pub(super) async fn add_category(conn: &mut SqliteConnection, category: &CategoryDef) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_CATEGORY)
        .bind(uuid_text(category.institution.as_uuid()))
        .bind(category.category.as_str())
        .bind(&category.label_ja)
        .bind(&category.label_en)
        .bind(time_text(category.created_at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| institution_data_insert_error(BACKEND, e, "category"))?;
    Ok(())
}

pub(super) async fn set_role_grants(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    role: Role,
    grants: &[(Action, Category)],
    changed_by: UserId,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let institution = uuid_text(institution.as_uuid());
    // The write lock is held from the upsert to the end of the transaction.
    sqlx::query(sql::UPSERT_ROLE_POLICY)
        .bind(&institution)
        .bind(role.as_str())
        .bind(uuid_text(changed_by.as_uuid()))
        .bind(time_text(at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            // `changed_by` is not a user of the institution (nor is there one, for an unknown
            // institution).
            if is_foreign_key_violation(&e) { StoreError::NotFound { what: "user" } } else { from_sqlx(BACKEND, e) }
        })?;
    sqlx::query(sql::DELETE_ROLE_GRANTS)
        .bind(&institution)
        .bind(role.as_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    for (action, category) in grants {
        sqlx::query(sql::INSERT_ROLE_GRANT)
            .bind(&institution)
            .bind(role.as_str())
            .bind(action.as_str())
            .bind(category.as_str())
            .execute(&mut *conn)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict { what: "role grant" }
                } else {
                    from_sqlx(BACKEND, e)
                }
            })?;
    }
    Ok(())
}

/// A statement's parameters `$1` to `$11` (institution, ID, number, name, birth date, sex,
/// contact), shared by [`sql::INSERT_PATIENT`], [`sql::UPDATE_PATIENT`] and
/// [`sql::INSERT_PATIENT_VERSION`].
fn bind_patient<'q>(
    query: sqlx::query::Query<'q, Sqlite, <Sqlite as sqlx::Database>::Arguments>,
    patient: &Patient,
) -> Result<sqlx::query::Query<'q, Sqlite, <Sqlite as sqlx::Database>::Arguments>, StoreError> {
    Ok(query
        .bind(uuid_text(patient.institution.as_uuid()))
        .bind(uuid_text(patient.id.as_uuid()))
        .bind(patient.number.as_str().to_owned())
        .bind(patient.name.family.clone())
        .bind(patient.name.given.clone())
        .bind(patient.name.family_kana.clone())
        .bind(patient.name.given_kana.clone())
        .bind(date_text(patient.birth_date)?)
        .bind(patient.sex.as_str())
        .bind(patient.contact.phone.clone())
        .bind(patient.contact.address.clone()))
}

/// Writes the version row of `patient` (with `reason`, `None` for the registration).
async fn insert_patient_version(
    conn: &mut SqliteConnection,
    patient: &Patient,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    bind_patient(sqlx::query(sql::INSERT_PATIENT_VERSION), patient)?
        .bind(i64::from(patient.version))
        .bind(reason.map(str::to_owned))
        .bind(uuid_text(patient.changed_by.as_uuid()))
        .bind(time_text(patient.changed_at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| patient_write_error(BACKEND, e))?;
    Ok(())
}

pub(super) async fn create_patient(conn: &mut SqliteConnection, patient: &Patient) -> Result<(), StoreError> {
    bind_patient(sqlx::query(sql::INSERT_PATIENT), patient)?
        .bind(patient.name.search_text())
        .bind(i64::from(patient.version))
        .bind(uuid_text(patient.changed_by.as_uuid()))
        .bind(time_text(patient.changed_at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| patient_write_error(BACKEND, e))?;
    // A version other than 1 has no reason here, which the schema refuses.
    insert_patient_version(conn, patient, None).await
}

pub(super) async fn update_patient(
    conn: &mut SqliteConnection,
    patient: &Patient,
    reason: &str,
) -> Result<bool, StoreError> {
    // The write lock is held from the conditional UPDATE to the end of the transaction.
    let result = bind_patient(sqlx::query(sql::UPDATE_PATIENT), patient)?
        .bind(patient.name.search_text())
        .bind(i64::from(patient.version))
        .bind(uuid_text(patient.changed_by.as_uuid()))
        .bind(time_text(patient.changed_at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| patient_write_error(BACKEND, e))?;
    if result.rows_affected() == 0 {
        return Ok(false);
    }
    insert_patient_version(conn, patient, Some(reason)).await?;
    Ok(true)
}

/// Which reference of a write the institution lacks, after a foreign-key failure (SQLite does
/// not say which key failed): the first of `checks` (what it is, the statement that asks
/// whether it exists, its ID) that does not exist. The failed statement changed nothing and the
/// write lock is still held, so the answer is the one the statement met.
async fn missing_reference(
    conn: &mut SqliteConnection,
    institution: &str,
    checks: &[(&'static str, &'static str, Option<Uuid>)],
) -> Result<StoreError, StoreError> {
    for &(what, statement, id) in checks {
        let Some(id) = id else { continue };
        let exists: bool = sqlx::query_scalar(statement)
            .bind(institution)
            .bind(uuid_text(id))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        if !exists {
            return Ok(StoreError::NotFound { what });
        }
    }
    Ok(StoreError::Database { detail: "a foreign key failed, but every reference exists".to_owned() })
}

/// What a version row refers to besides its record, for [`missing_reference`]: the users it
/// names (author, proxy doctor, finalizer, rejecter), then its devices (author, finalizer).
fn version_references(v: &RecordVersion) -> Vec<(&'static str, &'static str, Option<Uuid>)> {
    let agents = [Some(v.author), v.finalized_by];
    let users = agents
        .iter()
        .map(|a| a.and_then(Agent::user))
        .chain([v.proxy_for, v.rejected.as_ref().map(|(by, _)| *by)])
        .map(|u| ("user", sql::USER_EXISTS, u.map(|u| u.as_uuid())));
    let devices = agents.iter().map(|a| ("device", sql::DEVICE_EXISTS, a.and_then(Agent::device).map(|d| d.as_uuid())));
    users.chain(devices).collect()
}

/// The canonical content of a version as the `content` column holds it.
fn content_text(content: &Content) -> Result<String, StoreError> {
    String::from_utf8(content.canonical())
        .map_err(|_| StoreError::Database { detail: "record content is not UTF-8".to_owned() })
}

/// Writes one version row, as given. A foreign-key failure is looked into: the record (when
/// `check_record`), then the users, then the devices the version names.
async fn insert_record_version(
    conn: &mut SqliteConnection,
    v: &RecordVersion,
    check_record: bool,
) -> Result<(), StoreError> {
    let institution = uuid_text(v.record.institution.as_uuid());
    let result = sqlx::query(sql::INSERT_RECORD_VERSION)
        .bind(&institution)
        .bind(uuid_text(v.record.id.as_uuid()))
        .bind(i64::from(v.version))
        .bind(v.change.as_str())
        .bind(v.state.as_str())
        .bind(content_text(&v.content)?)
        .bind(v.reason.as_deref())
        .bind(v.author.user().map(|u| uuid_text(u.as_uuid())))
        .bind(v.author.device().map(|d| uuid_text(d.as_uuid())))
        .bind(v.proxy_for.map(|u| uuid_text(u.as_uuid())))
        .bind(time_text(v.entered_at)?)
        .bind(time_text(v.updated_at)?)
        .bind(v.finalized_by.and_then(Agent::user).map(|u| uuid_text(u.as_uuid())))
        .bind(v.finalized_by.and_then(Agent::device).map(|d| uuid_text(d.as_uuid())))
        .bind(opt_time_text(v.finalized_at)?)
        .bind(leaf_index_column(v.leaf_index)?)
        .bind(v.rejected.as_ref().map(|(by, _)| uuid_text(by.as_uuid())))
        .bind(v.rejected.as_ref().map(|(_, reason)| reason.as_str()))
        .execute(&mut *conn)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_foreign_key_violation(&e) => {
            let mut checks = Vec::new();
            if check_record {
                checks.push(("record", sql::RECORD_EXISTS, Some(v.record.id.as_uuid())));
            }
            checks.extend(version_references(v));
            Err(missing_reference(conn, &institution, &checks).await?)
        }
        Err(e) => Err(record_write_error(BACKEND, e, "record")),
    }
}

pub(super) async fn create_record(conn: &mut SqliteConnection, first: &RecordVersion) -> Result<(), StoreError> {
    let record = &first.record;
    let institution = uuid_text(record.institution.as_uuid());
    let result = sqlx::query(sql::INSERT_RECORD)
        .bind(&institution)
        .bind(uuid_text(record.id.as_uuid()))
        .bind(uuid_text(record.patient.as_uuid()))
        .bind(record.kind.as_str())
        .bind(record.category.as_str())
        .bind(record.created_by.user().map(|u| uuid_text(u.as_uuid())))
        .bind(record.created_by.device().map(|d| uuid_text(d.as_uuid())))
        .bind(time_text(record.created_at)?)
        .execute(&mut *conn)
        .await;
    match result {
        Ok(_) => {}
        Err(e) if is_foreign_key_violation(&e) => {
            let checks = [
                ("patient", sql::PATIENT_EXISTS, Some(record.patient.as_uuid())),
                ("user", sql::USER_EXISTS, record.created_by.user().map(|u| u.as_uuid())),
                ("device", sql::DEVICE_EXISTS, record.created_by.device().map(|d| d.as_uuid())),
            ];
            return Err(missing_reference(conn, &institution, &checks).await?);
        }
        Err(e) => return Err(record_write_error(BACKEND, e, "record")),
    }
    insert_record_version(conn, first, false).await
}

pub(super) async fn update_draft(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    record: RecordId,
    version: u32,
    author: UserId,
    content: &Content,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let result = sqlx::query(sql::UPDATE_DRAFT)
        .bind(uuid_text(institution.as_uuid()))
        .bind(uuid_text(record.as_uuid()))
        .bind(i64::from(version))
        .bind(uuid_text(author.as_uuid()))
        .bind(content_text(content)?)
        .bind(time_text(at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn discard_draft(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    record: RecordId,
    version: u32,
    author: UserId,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let result = sqlx::query(sql::DISCARD_DRAFT)
        .bind(uuid_text(institution.as_uuid()))
        .bind(uuid_text(record.as_uuid()))
        .bind(i64::from(version))
        .bind(uuid_text(author.as_uuid()))
        .bind(time_text(at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn finalize_version(
    conn: &mut SqliteConnection,
    finalized: &RecordVersion,
    from: VersionState,
) -> Result<bool, StoreError> {
    // A device's data is final on arrival: no device finalizes a draft or approves an entry.
    let Some(Agent::User(finalizer)) = finalized.finalized_by else { return Ok(false) };
    let statement = match from {
        VersionState::Draft => sql::FINALIZE_DRAFT,
        VersionState::PendingApproval => sql::FINALIZE_PENDING,
        _ => return Ok(false),
    };
    // The write lock is held from the conditional UPDATE to the end of the transaction.
    let result = sqlx::query(statement)
        .bind(uuid_text(finalized.record.institution.as_uuid()))
        .bind(uuid_text(finalized.record.id.as_uuid()))
        .bind(i64::from(finalized.version))
        .bind(uuid_text(finalizer.as_uuid()))
        .bind(opt_time_text(finalized.finalized_at)?)
        .bind(leaf_index_column(finalized.leaf_index)?)
        .bind(content_text(&finalized.content)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| record_write_error(BACKEND, e, "user"))?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn reject_version(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    record: RecordId,
    version: u32,
    doctor: UserId,
    reason: &str,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let result = sqlx::query(sql::REJECT_VERSION)
        .bind(uuid_text(institution.as_uuid()))
        .bind(uuid_text(record.as_uuid()))
        .bind(i64::from(version))
        .bind(uuid_text(doctor.as_uuid()))
        .bind(reason)
        .bind(time_text(at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn add_version(conn: &mut SqliteConnection, version: &RecordVersion) -> Result<(), StoreError> {
    insert_record_version(conn, version, true).await
}

pub(super) async fn add_master_entries(conn: &mut SqliteConnection, entries: &[MasterEntry]) -> Result<(), StoreError> {
    for entry in entries {
        let institution = uuid_text(entry.institution.as_uuid());
        let fields = &entry.fields;
        let result = sqlx::query(sql::INSERT_MASTER_ENTRY)
            .bind(&institution)
            .bind(entry.master.as_str())
            .bind(entry.code.as_str())
            .bind(i64::from(entry.version))
            .bind(fields.name.as_str())
            .bind(fields.unit.as_deref())
            .bind(fields.reference_range.as_deref())
            .bind(date_text(fields.valid_from)?)
            .bind(fields.valid_to.map(date_text).transpose()?)
            .bind(time_text(entry.imported_at)?)
            .bind(entry.imported_by.map(|u| uuid_text(u.as_uuid())))
            .execute(&mut *conn)
            .await;
        match result {
            Ok(_) => {}
            Err(e) if is_foreign_key_violation(&e) => {
                let exists: bool = sqlx::query_scalar(sql::INSTITUTION_EXISTS)
                    .bind(&institution)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(|e| from_sqlx(BACKEND, e))?;
                return Err(StoreError::NotFound { what: if exists { "user" } else { "institution" } });
            }
            Err(e) => return Err(master_entry_insert_error(BACKEND, e, "institution")),
        }
    }
    Ok(())
}

pub(super) async fn add_device(conn: &mut SqliteConnection, device: &Device) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_DEVICE)
        .bind(uuid_text(device.institution.as_uuid()))
        .bind(uuid_text(device.id.as_uuid()))
        .bind(device.name.as_str())
        .bind(device.token_hash.as_slice())
        .bind(uuid_text(device.registered_by.as_uuid()))
        .bind(time_text(device.registered_at)?)
        .bind(opt_time_text(device.revoked_at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| device_insert_error(BACKEND, e))?;
    Ok(())
}

pub(super) async fn revoke_device(
    conn: &mut SqliteConnection,
    institution: InstitutionId,
    device: DeviceId,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let result = sqlx::query(sql::REVOKE_DEVICE)
        .bind(uuid_text(institution.as_uuid()))
        .bind(uuid_text(device.as_uuid()))
        .bind(time_text(at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected() == 1)
}

/// A statement's parameters `$1` to `$11` (institution, assessment, item, state, owner, due
/// date, next review, notes, version, author, time), shared by [`sql::INSERT_ASSESSMENT_ITEM`],
/// [`sql::UPDATE_ASSESSMENT_ITEM`] and [`sql::INSERT_ASSESSMENT_ITEM_VERSION`].
fn bind_item<'q>(
    query: sqlx::query::Query<'q, Sqlite, <Sqlite as sqlx::Database>::Arguments>,
    item: &ItemAssessment,
) -> Result<sqlx::query::Query<'q, Sqlite, <Sqlite as sqlx::Database>::Arguments>, StoreError> {
    Ok(query
        .bind(uuid_text(item.institution.as_uuid()))
        .bind(uuid_text(item.assessment.as_uuid()))
        .bind(item.item.clone())
        .bind(item.state.as_str())
        .bind(item.owner.map(|u| uuid_text(u.as_uuid())))
        .bind(item.due_on.map(date_text).transpose()?)
        .bind(item.next_review_on.map(date_text).transpose()?)
        .bind(item.notes.clone())
        .bind(i64::from(item.version))
        .bind(uuid_text(item.changed_by.as_uuid()))
        .bind(time_text(item.changed_at)?))
}

/// What an item row refers to besides its assessment, for [`missing_reference`]: its owner and
/// its author.
fn item_references(item: &ItemAssessment) -> [(&'static str, &'static str, Option<Uuid>); 2] {
    [
        ("user", sql::USER_EXISTS, item.owner.map(|u| u.as_uuid())),
        ("user", sql::USER_EXISTS, Some(item.changed_by.as_uuid())),
    ]
}

/// Writes an item's current row (`current`) or one of its versions. A foreign-key failure is
/// looked into: the assessment (for the current row; a version's item was written first), then
/// the users the item names.
async fn insert_item(conn: &mut SqliteConnection, item: &ItemAssessment, current: bool) -> Result<(), StoreError> {
    let (statement, taken) = if current {
        (sql::INSERT_ASSESSMENT_ITEM, "assessment item")
    } else {
        (sql::INSERT_ASSESSMENT_ITEM_VERSION, "assessment item version")
    };
    let result = bind_item(sqlx::query(statement), item)?.execute(&mut *conn).await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_foreign_key_violation(&e) => {
            let institution = uuid_text(item.institution.as_uuid());
            let mut checks = vec![("assessment", sql::ASSESSMENT_EXISTS, Some(item.assessment.as_uuid()))];
            checks.extend(item_references(item));
            Err(missing_reference(conn, &institution, &checks).await?)
        }
        Err(e) => Err(assessment_write_error(BACKEND, e, taken, "user")),
    }
}

pub(super) async fn create_assessment(
    conn: &mut SqliteConnection,
    assessment: &Assessment,
    items: &[ItemAssessment],
) -> Result<(), StoreError> {
    check_first_items(assessment, items)?;
    let institution = uuid_text(assessment.institution.as_uuid());
    let result = sqlx::query(sql::INSERT_ASSESSMENT)
        .bind(&institution)
        .bind(uuid_text(assessment.id.as_uuid()))
        .bind(assessment.catalog.as_str())
        .bind(assessment.title.as_str())
        .bind(date_text(assessment.period_start)?)
        .bind(date_text(assessment.period_end)?)
        .bind(assessment.carried_from.map(|a| uuid_text(a.as_uuid())))
        .bind(uuid_text(assessment.created_by.as_uuid()))
        .bind(time_text(assessment.created_at)?)
        .execute(&mut *conn)
        .await;
    match result {
        Ok(_) => {}
        Err(e) if is_foreign_key_violation(&e) => {
            let checks = [
                ("user", sql::USER_EXISTS, Some(assessment.created_by.as_uuid())),
                ("assessment", sql::ASSESSMENT_EXISTS, assessment.carried_from.map(|a| a.as_uuid())),
            ];
            return Err(missing_reference(conn, &institution, &checks).await?);
        }
        Err(e) => return Err(assessment_write_error(BACKEND, e, "assessment", "user")),
    }
    for item in items {
        insert_item(conn, item, true).await?;
        insert_item(conn, item, false).await?;
    }
    Ok(())
}

pub(super) async fn update_item(conn: &mut SqliteConnection, item: &ItemAssessment) -> Result<bool, StoreError> {
    // The write lock is held from the conditional UPDATE to the end of the transaction.
    let result = bind_item(sqlx::query(sql::UPDATE_ASSESSMENT_ITEM), item)?.execute(&mut *conn).await;
    let result = match result {
        Ok(result) => result,
        // The key columns do not change: only a user it names can be missing.
        Err(e) => return Err(assessment_write_error(BACKEND, e, "assessment item", "user")),
    };
    if result.rows_affected() == 0 {
        return Ok(false);
    }
    insert_item(conn, item, false).await?;
    Ok(true)
}

pub(super) async fn add_evidence(conn: &mut SqliteConnection, evidence: &Evidence) -> Result<(), StoreError> {
    let institution = uuid_text(evidence.institution.as_uuid());
    let columns = EvidenceColumns::of(&evidence.kind)?;
    let result = sqlx::query(sql::INSERT_EVIDENCE)
        .bind(&institution)
        .bind(uuid_text(evidence.id.as_uuid()))
        .bind(i64::from(evidence.revision))
        .bind(uuid_text(evidence.assessment.as_uuid()))
        .bind(evidence.item.as_str())
        .bind(evidence.title.as_str())
        .bind(columns.kind)
        .bind(columns.file_name)
        .bind(columns.file_sha256)
        .bind(columns.file_size)
        .bind(columns.url)
        .bind(evidence.owner.map(|u| uuid_text(u.as_uuid())))
        .bind(evidence.effective_on.map(date_text).transpose()?)
        .bind(evidence.expires_on.map(date_text).transpose()?)
        .bind(uuid_text(evidence.added_by.as_uuid()))
        .bind(time_text(evidence.added_at)?)
        .execute(&mut *conn)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_foreign_key_violation(&e) => {
            let item_exists: bool = sqlx::query_scalar(sql::ASSESSMENT_ITEM_EXISTS)
                .bind(&institution)
                .bind(uuid_text(evidence.assessment.as_uuid()))
                .bind(evidence.item.as_str())
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| from_sqlx(BACKEND, e))?;
            if !item_exists {
                return Err(StoreError::NotFound { what: "assessment item" });
            }
            let checks = [
                ("user", sql::USER_EXISTS, evidence.owner.map(|u| u.as_uuid())),
                ("user", sql::USER_EXISTS, Some(evidence.added_by.as_uuid())),
            ];
            Err(missing_reference(conn, &institution, &checks).await?)
        }
        Err(e) => Err(assessment_write_error(BACKEND, e, "evidence", "assessment item")),
    }
}

pub(super) async fn decide_applicability(
    conn: &mut SqliteConnection,
    d: &mamori_core::applicability::Decision,
) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_APPLICABILITY)
        .bind(uuid_text(d.institution.as_uuid()))
        .bind(i64::from(d.version))
        .bind(d.flowchart.as_str())
        .bind(mamori_core::applicability::answers_json(&d.answers))
        .bind(d.outcome.as_str())
        .bind(i64::from(d.applies))
        .bind(d.basis.as_str())
        .bind(d.notes.as_str())
        .bind(uuid_text(d.decided_by.as_uuid()))
        .bind(time_text(d.decided_at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| assessment_write_error(BACKEND, e, "applicability decision", "user"))?;
    Ok(())
}

/// Writes one version's row of a register entry. A foreign-key failure can only be its author
/// (the entry's row is written first, or exists).
async fn insert_register_version(
    conn: &mut SqliteConnection,
    entry: &mamori_core::register::RegisterEntry,
) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_REGISTER_VERSION)
        .bind(uuid_text(entry.institution.as_uuid()))
        .bind(uuid_text(entry.id.as_uuid()))
        .bind(i64::from(entry.version))
        .bind(mamori_core::register::to_json(&entry.fields))
        .bind(entry.retired.as_deref())
        .bind(entry.author.map(|u| uuid_text(u.as_uuid())))
        .bind(time_text(entry.at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| crate::error::register_write_error(BACKEND, e, "user"))?;
    Ok(())
}

pub(super) async fn create_register_entries(
    conn: &mut SqliteConnection,
    entries: &[mamori_core::register::RegisterEntry],
) -> Result<(), StoreError> {
    crate::rows::check_register_versions(entries, true)?;
    for entry in entries {
        let institution = uuid_text(entry.institution.as_uuid());
        let result = sqlx::query(sql::INSERT_REGISTER_ENTRY)
            .bind(&institution)
            .bind(uuid_text(entry.id.as_uuid()))
            .bind(entry.kind.as_str())
            .bind(1_i64)
            .bind(false)
            .bind(entry.author.map(|u| uuid_text(u.as_uuid())))
            .bind(time_text(entry.at)?)
            .execute(&mut *conn)
            .await;
        match result {
            Ok(_) => {}
            Err(e) if is_foreign_key_violation(&e) => {
                // SQLite does not say which key failed: the author, else the institution.
                let checks = [("user", sql::USER_EXISTS, entry.author.map(|u| u.as_uuid()))];
                return Err(match missing_reference(conn, &institution, &checks).await? {
                    StoreError::Database { .. } => StoreError::NotFound { what: "institution" },
                    missing => missing,
                });
            }
            Err(e) => return Err(crate::error::register_write_error(BACKEND, e, "user")),
        }
        insert_register_version(conn, entry).await?;
    }
    Ok(())
}

pub(super) async fn add_register_version(
    conn: &mut SqliteConnection,
    entry: &mamori_core::register::RegisterEntry,
) -> Result<bool, StoreError> {
    crate::rows::check_register_versions(std::slice::from_ref(entry), false)?;
    // The write lock is held from the conditional UPDATE to the end of the transaction.
    let result = sqlx::query(sql::UPDATE_REGISTER_ENTRY)
        .bind(uuid_text(entry.institution.as_uuid()))
        .bind(uuid_text(entry.id.as_uuid()))
        .bind(i64::from(entry.version))
        .bind(entry.retired.is_some())
        .bind(entry.kind.as_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    if result.rows_affected() == 0 {
        return Ok(false);
    }
    insert_register_version(conn, entry).await?;
    Ok(true)
}
