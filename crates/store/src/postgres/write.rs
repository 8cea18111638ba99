//! The mutations a unit of work can hold ([`crate::StoreTx`]), each written once, on one
//! connection that is inside a transaction: the `READ COMMITTED` transaction of a unit of work,
//! or the one a pool-level [`crate::Store`] method opens around a single call. None of them
//! begins, commits or rolls back, and none takes a second connection from the pool.
//!
//! Row locks (`FOR UPDATE`, and the rows an `UPDATE` or upsert changes) are held to the end of
//! the transaction; a conditional `UPDATE` that finds its row locked waits for that transaction
//! to end and then re-checks its condition, so of concurrent single-use attempts exactly one
//! still succeeds.

use super::{BACKEND, get, log_head_row, one_row};
use crate::StoreError;
use crate::error::{
    assessment_write_error, device_insert_error, from_sqlx, institution_data_insert_error, is_foreign_key_violation,
    is_login_id_violation, is_unique_violation, master_entry_insert_error, patient_write_error, record_write_error,
    terminal_insert_error, user_data_insert_error,
};
use crate::rows::{
    EvidenceColumns, check_first_items, counter, created_user, generation, leaf_index_column, status_unchanged,
    stored_time,
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
use sqlx::{PgConnection, Postgres};
use time::OffsetDateTime;
use uuid::Uuid;

/// Inserts the user row and its roles (bootstrap and [`create_user`]).
pub(super) async fn insert_user(
    conn: &mut PgConnection,
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
        .execute(&mut *conn)
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
            .execute(&mut *conn)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) { StoreError::Conflict { what: "role" } } else { from_sqlx(BACKEND, e) }
            })?;
    }
    Ok(())
}

/// The institution's log head, or the empty tree's before its first append.
pub(super) async fn read_log_head<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    institution: Uuid,
) -> Result<LogHead, StoreError> {
    let row = sqlx::query(sql::SELECT_LOG_HEAD)
        .bind(institution)
        .fetch_optional(executor)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    row.map_or_else(|| Ok(log::no_head()), |row| log_head_row(&row)?.into_head())
}

pub(super) async fn append_log(
    conn: &mut PgConnection,
    institution: InstitutionId,
    entries: &[LogEntry],
) -> Result<LogHead, StoreError> {
    let id = institution.as_uuid();
    if entries.is_empty() {
        let exists: bool = sqlx::query_scalar(sql::INSTITUTION_EXISTS)
            .bind(id)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        if !exists {
            return Err(StoreError::NotFound { what: "institution" });
        }
        return read_log_head(&mut *conn, id).await;
    }
    // The head row exists after this (a concurrent first append waits here for the other's
    // transaction to end); locking it serializes the institution's appends until this
    // transaction ends. An error aborts the transaction, which the caller then drops.
    let (empty_root, empty_frontier) = log::empty_head();
    sqlx::query(sql::INSERT_LOG_HEAD_IF_MISSING)
        .bind(id)
        .bind(empty_root.as_slice())
        .bind(empty_frontier)
        .execute(&mut *conn)
        .await
        .map_err(|e| institution_data_insert_error(BACKEND, e, "log head"))?;
    let row =
        sqlx::query(sql::PG_LOCK_LOG_HEAD).bind(id).fetch_one(&mut *conn).await.map_err(|e| from_sqlx(BACKEND, e))?;
    let frontier = log_head_row(&row)?.into_frontier()?;
    let (leaves, head) = log::plan_append(frontier, entries)?;
    for leaf in &leaves {
        let columns = &leaf.entry.columns;
        sqlx::query(sql::INSERT_LOG_LEAF)
            .bind(id)
            .bind(leaf.idx)
            .bind(leaf.entry.leaf.as_slice())
            .bind(leaf.hash.as_slice())
            .bind(leaf.entry.kind.as_str())
            .bind(stored_time(columns.at))
            .bind(columns.actor.map(|u| u.as_uuid()))
            .bind(columns.patient.map(|p| p.as_uuid()))
            .bind(columns.action.as_str())
            .bind(columns.outcome.as_str())
            .bind(columns.category.as_deref())
            .execute(&mut *conn)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        for node in &leaf.nodes {
            sqlx::query(sql::INSERT_LOG_NODE)
                .bind(id)
                .bind(node.level)
                .bind(node.idx)
                .bind(node.hash.as_slice())
                .execute(&mut *conn)
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
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    if result.rows_affected() != 1 {
        return Err(StoreError::Database { detail: "the log head moved during an append".to_owned() });
    }
    head.head()
}

pub(super) async fn create_user(
    conn: &mut PgConnection,
    institution: InstitutionId,
    user: &NewUser,
) -> Result<User, StoreError> {
    // Institutions are never deleted, so the row cannot vanish before the insert; the
    // foreign key still guards it.
    let exists: bool = sqlx::query_scalar(sql::INSTITUTION_EXISTS)
        .bind(institution.as_uuid())
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
    conn: &mut PgConnection,
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
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    one_row(&result, "user")
}

pub(super) async fn set_user_status(
    conn: &mut PgConnection,
    institution: InstitutionId,
    user: UserId,
    status: UserStatus,
) -> Result<(), StoreError> {
    let (institution, user) = (institution.as_uuid(), user.as_uuid());
    let result = sqlx::query(sql::UPDATE_USER_STATUS)
        .bind(institution)
        .bind(user)
        .bind(status.as_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    if result.rows_affected() == 1 {
        return Ok(());
    }
    // Retired is final, so a user found retired now was retired at the UPDATE.
    let current: Option<String> = sqlx::query_scalar(sql::SELECT_USER_STATUS)
        .bind(institution)
        .bind(user)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Err(status_unchanged(current))
}

pub(super) async fn set_user_roles(
    conn: &mut PgConnection,
    institution: InstitutionId,
    user: UserId,
    roles: &[Role],
) -> Result<(), StoreError> {
    let (institution, user) = (institution.as_uuid(), user.as_uuid());
    // Locks the user row: a concurrent replacement waits, then replaces these roles.
    sqlx::query(sql::PG_LOCK_USER)
        .bind(institution)
        .bind(user)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?
        .ok_or(StoreError::NotFound { what: "user" })?;
    sqlx::query(sql::DELETE_USER_ROLES)
        .bind(institution)
        .bind(user)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    for role in roles {
        sqlx::query(sql::INSERT_USER_ROLE)
            .bind(institution)
            .bind(user)
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

pub(super) async fn record_login_success(
    conn: &mut PgConnection,
    institution: InstitutionId,
    user: UserId,
    at: OffsetDateTime,
) -> Result<(Option<OffsetDateTime>, u32), StoreError> {
    let (institution, user) = (institution.as_uuid(), user.as_uuid());
    // The row stays locked from the read to the end of the transaction: no failure can slip
    // in between.
    let row = sqlx::query(sql::PG_SELECT_LOGIN_STATE_FOR_UPDATE)
        .bind(institution)
        .bind(user)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?
        .ok_or(StoreError::NotFound { what: "user" })?;
    let previous = get(&row, "last_login_at")?;
    let failures = counter("users.failures_since_login", get(&row, "failures_since_login")?)?;
    sqlx::query(sql::UPDATE_LOGIN_SUCCESS)
        .bind(institution)
        .bind(user)
        .bind(stored_time(at))
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok((previous, failures))
}

pub(super) async fn record_login_failure(
    conn: &mut PgConnection,
    institution: InstitutionId,
    user: UserId,
) -> Result<(), StoreError> {
    let result = sqlx::query(sql::UPDATE_LOGIN_FAILURE)
        .bind(institution.as_uuid())
        .bind(user.as_uuid())
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    one_row(&result, "user")
}

pub(super) async fn put_throttle(conn: &mut PgConnection, throttle: &Throttle) -> Result<(), StoreError> {
    sqlx::query(sql::UPSERT_THROTTLE)
        .bind(&throttle.login_id)
        .bind(i64::from(throttle.failures))
        .bind(stored_time(throttle.last_failure_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(())
}

pub(super) async fn clear_throttle(conn: &mut PgConnection, login_id: &str) -> Result<(), StoreError> {
    sqlx::query(sql::DELETE_THROTTLE).bind(login_id).execute(&mut *conn).await.map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(())
}

pub(super) async fn put_totp(
    conn: &mut PgConnection,
    institution: InstitutionId,
    user: UserId,
    record: &TotpRecord,
) -> Result<(), StoreError> {
    sqlx::query(sql::UPSERT_TOTP)
        .bind(institution.as_uuid())
        .bind(user.as_uuid())
        .bind(record.secret.as_slice())
        .bind(record.confirmed)
        .bind(record.last_used_step)
        .bind(stored_time(record.created_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "TOTP enrollment"))?;
    Ok(())
}

pub(super) async fn confirm_totp(
    conn: &mut PgConnection,
    institution: InstitutionId,
    user: UserId,
) -> Result<(), StoreError> {
    let result = sqlx::query(sql::CONFIRM_TOTP)
        .bind(institution.as_uuid())
        .bind(user.as_uuid())
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    one_row(&result, "TOTP enrollment")
}

pub(super) async fn replace_recovery_codes(
    conn: &mut PgConnection,
    institution: InstitutionId,
    user: UserId,
    hashes: &[[u8; 32]],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let (institution, user) = (institution.as_uuid(), user.as_uuid());
    let at = stored_time(at);
    // Locks the user row: a concurrent replacement waits, then deletes these codes too.
    sqlx::query(sql::PG_LOCK_USER)
        .bind(institution)
        .bind(user)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?
        .ok_or(StoreError::NotFound { what: "user" })?;
    sqlx::query(sql::DELETE_RECOVERY_CODES)
        .bind(institution)
        .bind(user)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    for hash in hashes {
        sqlx::query(sql::INSERT_RECOVERY_CODE)
            .bind(institution)
            .bind(user)
            .bind(hash.as_slice())
            .bind(at)
            .execute(&mut *conn)
            .await
            .map_err(|e| user_data_insert_error(BACKEND, e, "recovery code"))?;
    }
    Ok(())
}

pub(super) async fn delete_second_factors(
    conn: &mut PgConnection,
    institution: InstitutionId,
    user: UserId,
) -> Result<bool, StoreError> {
    let (institution, user) = (institution.as_uuid(), user.as_uuid());
    let totp = sqlx::query(sql::DELETE_TOTP)
        .bind(institution)
        .bind(user)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    sqlx::query(sql::DELETE_RECOVERY_CODES)
        .bind(institution)
        .bind(user)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    sqlx::query(sql::DELETE_WEBAUTHN_CREDENTIALS)
        .bind(institution)
        .bind(user)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(totp.rows_affected() > 0)
}

pub(super) async fn create_reenroll_pass(conn: &mut PgConnection, pass: &ReenrollPass) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_REENROLL_PASS)
        .bind(pass.institution.as_uuid())
        .bind(pass.user.as_uuid())
        .bind(pass.pass_hash.as_slice())
        .bind(pass.issued_by.as_uuid())
        .bind(&pass.reason)
        .bind(stored_time(pass.issued_at))
        .bind(stored_time(pass.expires_at))
        .bind(pass.used_at.map(stored_time))
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "re-enrollment pass"))?;
    Ok(())
}

pub(super) async fn use_reenroll_pass(
    conn: &mut PgConnection,
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
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn create_session(conn: &mut PgConnection, session: &SessionRecord) -> Result<(), StoreError> {
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
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "session token"))?;
    Ok(())
}

pub(super) async fn update_session(conn: &mut PgConnection, session: &SessionRecord) -> Result<(), StoreError> {
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
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    one_row(&result, "session")
}

pub(super) async fn delete_session(
    conn: &mut PgConnection,
    institution: InstitutionId,
    token_hash: &[u8; 32],
) -> Result<(), StoreError> {
    sqlx::query(sql::DELETE_SESSION)
        .bind(institution.as_uuid())
        .bind(token_hash.as_slice())
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(())
}

pub(super) async fn delete_user_sessions(
    conn: &mut PgConnection,
    institution: InstitutionId,
    user: UserId,
) -> Result<u64, StoreError> {
    let result = sqlx::query(sql::DELETE_USER_SESSIONS)
        .bind(institution.as_uuid())
        .bind(user.as_uuid())
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected())
}

pub(super) async fn add_webauthn_credential(
    conn: &mut PgConnection,
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
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "security key"))?;
    Ok(())
}

pub(super) async fn delete_webauthn_credential(
    conn: &mut PgConnection,
    institution: InstitutionId,
    user: UserId,
    credential_id: &[u8],
) -> Result<bool, StoreError> {
    let result = sqlx::query(sql::DELETE_WEBAUTHN_CREDENTIAL)
        .bind(institution.as_uuid())
        .bind(user.as_uuid())
        .bind(credential_id)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn add_terminal(conn: &mut PgConnection, terminal: &Terminal) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_TERMINAL)
        .bind(terminal.institution.as_uuid())
        .bind(terminal.id.as_uuid())
        .bind(terminal.name.as_str())
        .bind(&terminal.cert_sha256)
        .bind(stored_time(terminal.issued_at))
        .bind(terminal.revoked_at.map(stored_time))
        .execute(&mut *conn)
        .await
        .map_err(|e| terminal_insert_error(BACKEND, e))?;
    Ok(())
}

pub(super) async fn revoke_terminal(
    conn: &mut PgConnection,
    institution: InstitutionId,
    name: &TerminalName,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let result = sqlx::query(sql::REVOKE_TERMINAL)
        .bind(institution.as_uuid())
        .bind(name.as_str())
        .bind(stored_time(at))
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn set_require_registered_terminal(
    conn: &mut PgConnection,
    institution: InstitutionId,
    required: bool,
) -> Result<(), StoreError> {
    let result = sqlx::query(sql::UPDATE_REQUIRE_REGISTERED_TERMINAL)
        .bind(institution.as_uuid())
        .bind(required)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    one_row(&result, "institution")
}

pub(super) async fn delete_sessions_of_certificate(
    conn: &mut PgConnection,
    institution: InstitutionId,
    cert_sha256: &str,
) -> Result<u64, StoreError> {
    let result = sqlx::query(sql::DELETE_SESSIONS_OF_CERTIFICATE)
        .bind(institution.as_uuid())
        .bind(cert_sha256)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected())
}

pub(super) async fn create_emergency_grant(
    conn: &mut PgConnection,
    grant: &EmergencyGrantRecord,
) -> Result<(), StoreError> {
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
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "emergency grant"))?;
    Ok(())
}

pub(super) async fn review_emergency_grant(
    conn: &mut PgConnection,
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
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            // The reviewer is not a user of the institution.
            if is_foreign_key_violation(&e) { StoreError::NotFound { what: "user" } } else { from_sqlx(BACKEND, e) }
        })?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn seal_account(conn: &mut PgConnection, account: &SealedAccount) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_SEALED_ACCOUNT)
        .bind(account.institution.as_uuid())
        .bind(account.user.as_uuid())
        .bind(i64::from(account.generation))
        .bind(stored_time(account.sealed_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "sealed account"))?;
    Ok(())
}

pub(super) async fn create_sealed_activation(
    conn: &mut PgConnection,
    activation: &SealedActivation,
) -> Result<(), StoreError> {
    let (institution, user) = (activation.institution.as_uuid(), activation.user.as_uuid());
    // Sealed accounts are never deleted: one found here is still there at the insert, so a
    // foreign-key failure of the insert can only be the confirmer.
    let sealed: bool = sqlx::query_scalar(sql::SEALED_ACCOUNT_EXISTS)
        .bind(institution)
        .bind(user)
        .fetch_one(&mut *conn)
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
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "sealed activation"))?;
    Ok(())
}

pub(super) async fn close_sealed_account(
    conn: &mut PgConnection,
    institution: InstitutionId,
    user: UserId,
    at: OffsetDateTime,
) -> Result<u32, StoreError> {
    let (institution, user, at) = (institution.as_uuid(), user.as_uuid(), stored_time(at));
    // The re-key locks the account's row until the end of the transaction: a concurrent close
    // waits, then re-keys again.
    let new_generation: i64 = sqlx::query_scalar(sql::BUMP_SEALED_ACCOUNT_GENERATION)
        .bind(institution)
        .bind(user)
        .bind(at)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?
        .ok_or(StoreError::NotFound { what: "sealed account" })?;
    let new_generation = generation("sealed_accounts.generation", new_generation)?;
    sqlx::query(sql::CLOSE_SEALED_ACTIVATIONS)
        .bind(institution)
        .bind(user)
        .bind(at)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(new_generation)
}

pub(super) async fn add_category(conn: &mut PgConnection, category: &CategoryDef) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_CATEGORY)
        .bind(category.institution.as_uuid())
        .bind(category.category.as_str())
        .bind(&category.label_ja)
        .bind(&category.label_en)
        .bind(stored_time(category.created_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| institution_data_insert_error(BACKEND, e, "category"))?;
    Ok(())
}

pub(super) async fn set_role_grants(
    conn: &mut PgConnection,
    institution: InstitutionId,
    role: Role,
    grants: &[(Action, Category)],
    changed_by: UserId,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let institution = institution.as_uuid();
    // The upsert locks the role's row until the end of the transaction: a concurrent
    // replacement waits, then replaces these grants.
    sqlx::query(sql::UPSERT_ROLE_POLICY)
        .bind(institution)
        .bind(role.as_str())
        .bind(changed_by.as_uuid())
        .bind(stored_time(at))
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            // `changed_by` is not a user of the institution (nor is there one, for an
            // unknown institution).
            if is_foreign_key_violation(&e) { StoreError::NotFound { what: "user" } } else { from_sqlx(BACKEND, e) }
        })?;
    sqlx::query(sql::DELETE_ROLE_GRANTS)
        .bind(institution)
        .bind(role.as_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    for (action, category) in grants {
        sqlx::query(sql::INSERT_ROLE_GRANT)
            .bind(institution)
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
    query: sqlx::query::Query<'q, Postgres, <Postgres as sqlx::Database>::Arguments>,
    patient: &Patient,
) -> sqlx::query::Query<'q, Postgres, <Postgres as sqlx::Database>::Arguments> {
    query
        .bind(patient.institution.as_uuid())
        .bind(patient.id.as_uuid())
        .bind(patient.number.as_str().to_owned())
        .bind(patient.name.family.clone())
        .bind(patient.name.given.clone())
        .bind(patient.name.family_kana.clone())
        .bind(patient.name.given_kana.clone())
        .bind(patient.birth_date)
        .bind(patient.sex.as_str())
        .bind(patient.contact.phone.clone())
        .bind(patient.contact.address.clone())
}

/// Writes the version row of `patient` (with `reason`, `None` for the registration).
async fn insert_patient_version(
    conn: &mut PgConnection,
    patient: &Patient,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    bind_patient(sqlx::query(sql::INSERT_PATIENT_VERSION), patient)
        .bind(i64::from(patient.version))
        .bind(reason.map(str::to_owned))
        .bind(patient.changed_by.as_uuid())
        .bind(stored_time(patient.changed_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| patient_write_error(BACKEND, e))?;
    Ok(())
}

pub(super) async fn create_patient(conn: &mut PgConnection, patient: &Patient) -> Result<(), StoreError> {
    bind_patient(sqlx::query(sql::INSERT_PATIENT), patient)
        .bind(patient.name.search_text())
        .bind(i64::from(patient.version))
        .bind(patient.changed_by.as_uuid())
        .bind(stored_time(patient.changed_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| patient_write_error(BACKEND, e))?;
    // A version other than 1 has no reason here, which the schema refuses.
    insert_patient_version(conn, patient, None).await
}

pub(super) async fn update_patient(
    conn: &mut PgConnection,
    patient: &Patient,
    reason: &str,
) -> Result<bool, StoreError> {
    // The conditional UPDATE locks the patient's row until the end of the transaction: a
    // concurrent change from the same version waits, re-checks the version and changes nothing.
    let result = bind_patient(sqlx::query(sql::UPDATE_PATIENT), patient)
        .bind(patient.name.search_text())
        .bind(i64::from(patient.version))
        .bind(patient.changed_by.as_uuid())
        .bind(stored_time(patient.changed_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| patient_write_error(BACKEND, e))?;
    if result.rows_affected() == 0 {
        return Ok(false);
    }
    insert_patient_version(conn, patient, Some(reason)).await?;
    Ok(true)
}

/// The canonical content of a version as the `content` column holds it.
fn content_text(content: &Content) -> Result<String, StoreError> {
    String::from_utf8(content.canonical())
        .map_err(|_| StoreError::Database { detail: "record content is not UTF-8".to_owned() })
}

/// Writes one version row, as given. PostgreSQL names the foreign key that failed, so the
/// error says which reference is missing.
async fn insert_record_version(conn: &mut PgConnection, v: &RecordVersion) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_RECORD_VERSION)
        .bind(v.record.institution.as_uuid())
        .bind(v.record.id.as_uuid())
        .bind(i64::from(v.version))
        .bind(v.change.as_str())
        .bind(v.state.as_str())
        .bind(content_text(&v.content)?)
        .bind(v.reason.as_deref())
        .bind(v.author.user().map(|u| u.as_uuid()))
        .bind(v.author.device().map(|d| d.as_uuid()))
        .bind(v.proxy_for.map(|u| u.as_uuid()))
        .bind(stored_time(v.entered_at))
        .bind(stored_time(v.updated_at))
        .bind(v.finalized_by.and_then(Agent::user).map(|u| u.as_uuid()))
        .bind(v.finalized_by.and_then(Agent::device).map(|d| d.as_uuid()))
        .bind(v.finalized_at.map(stored_time))
        .bind(leaf_index_column(v.leaf_index)?)
        .bind(v.rejected.as_ref().map(|(by, _)| by.as_uuid()))
        .bind(v.rejected.as_ref().map(|(_, reason)| reason.as_str()))
        .execute(&mut *conn)
        .await
        .map_err(|e| record_write_error(BACKEND, e, "record"))?;
    Ok(())
}

pub(super) async fn create_record(conn: &mut PgConnection, first: &RecordVersion) -> Result<(), StoreError> {
    let record = &first.record;
    sqlx::query(sql::INSERT_RECORD)
        .bind(record.institution.as_uuid())
        .bind(record.id.as_uuid())
        .bind(record.patient.as_uuid())
        .bind(record.kind.as_str())
        .bind(record.category.as_str())
        .bind(record.created_by.user().map(|u| u.as_uuid()))
        .bind(record.created_by.device().map(|d| d.as_uuid()))
        .bind(stored_time(record.created_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| record_write_error(BACKEND, e, "patient"))?;
    insert_record_version(conn, first).await
}

pub(super) async fn update_draft(
    conn: &mut PgConnection,
    institution: InstitutionId,
    record: RecordId,
    version: u32,
    author: UserId,
    content: &Content,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let result = sqlx::query(sql::UPDATE_DRAFT)
        .bind(institution.as_uuid())
        .bind(record.as_uuid())
        .bind(i64::from(version))
        .bind(author.as_uuid())
        .bind(content_text(content)?)
        .bind(stored_time(at))
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn discard_draft(
    conn: &mut PgConnection,
    institution: InstitutionId,
    record: RecordId,
    version: u32,
    author: UserId,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let result = sqlx::query(sql::DISCARD_DRAFT)
        .bind(institution.as_uuid())
        .bind(record.as_uuid())
        .bind(i64::from(version))
        .bind(author.as_uuid())
        .bind(stored_time(at))
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn finalize_version(
    conn: &mut PgConnection,
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
    // The conditional UPDATE locks the row until the end of the transaction: a concurrent
    // finalization waits, re-checks the state and changes nothing.
    let result = sqlx::query(statement)
        .bind(finalized.record.institution.as_uuid())
        .bind(finalized.record.id.as_uuid())
        .bind(i64::from(finalized.version))
        .bind(finalizer.as_uuid())
        .bind(finalized.finalized_at.map(stored_time))
        .bind(leaf_index_column(finalized.leaf_index)?)
        .bind(content_text(&finalized.content)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| record_write_error(BACKEND, e, "user"))?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn reject_version(
    conn: &mut PgConnection,
    institution: InstitutionId,
    record: RecordId,
    version: u32,
    doctor: UserId,
    reason: &str,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let result = sqlx::query(sql::REJECT_VERSION)
        .bind(institution.as_uuid())
        .bind(record.as_uuid())
        .bind(i64::from(version))
        .bind(doctor.as_uuid())
        .bind(reason)
        .bind(stored_time(at))
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn add_version(conn: &mut PgConnection, version: &RecordVersion) -> Result<(), StoreError> {
    insert_record_version(conn, version).await
}

pub(super) async fn add_master_entries(conn: &mut PgConnection, entries: &[MasterEntry]) -> Result<(), StoreError> {
    for entry in entries {
        let fields = &entry.fields;
        sqlx::query(sql::INSERT_MASTER_ENTRY)
            .bind(entry.institution.as_uuid())
            .bind(entry.master.as_str())
            .bind(entry.code.as_str())
            .bind(i64::from(entry.version))
            .bind(fields.name.as_str())
            .bind(fields.unit.as_deref())
            .bind(fields.reference_range.as_deref())
            .bind(fields.valid_from)
            .bind(fields.valid_to)
            .bind(stored_time(entry.imported_at))
            .bind(entry.imported_by.map(|u| u.as_uuid()))
            .execute(&mut *conn)
            .await
            .map_err(|e| master_entry_insert_error(BACKEND, e, "institution"))?;
    }
    Ok(())
}

pub(super) async fn add_device(conn: &mut PgConnection, device: &Device) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_DEVICE)
        .bind(device.institution.as_uuid())
        .bind(device.id.as_uuid())
        .bind(device.name.as_str())
        .bind(device.token_hash.as_slice())
        .bind(device.registered_by.as_uuid())
        .bind(stored_time(device.registered_at))
        .bind(device.revoked_at.map(stored_time))
        .execute(&mut *conn)
        .await
        .map_err(|e| device_insert_error(BACKEND, e))?;
    Ok(())
}

pub(super) async fn revoke_device(
    conn: &mut PgConnection,
    institution: InstitutionId,
    device: DeviceId,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let result = sqlx::query(sql::REVOKE_DEVICE)
        .bind(institution.as_uuid())
        .bind(device.as_uuid())
        .bind(stored_time(at))
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    Ok(result.rows_affected() == 1)
}

/// A statement's parameters `$1` to `$11` (institution, assessment, item, state, owner, due
/// date, next review, notes, version, author, time), shared by [`sql::INSERT_ASSESSMENT_ITEM`],
/// [`sql::UPDATE_ASSESSMENT_ITEM`] and [`sql::INSERT_ASSESSMENT_ITEM_VERSION`].
fn bind_item<'q>(
    query: sqlx::query::Query<'q, Postgres, <Postgres as sqlx::Database>::Arguments>,
    item: &ItemAssessment,
) -> sqlx::query::Query<'q, Postgres, <Postgres as sqlx::Database>::Arguments> {
    query
        .bind(item.institution.as_uuid())
        .bind(item.assessment.as_uuid())
        .bind(item.item.clone())
        .bind(item.state.as_str())
        .bind(item.owner.map(|u| u.as_uuid()))
        .bind(item.due_on)
        .bind(item.next_review_on)
        .bind(item.notes.clone())
        .bind(i64::from(item.version))
        .bind(item.changed_by.as_uuid())
        .bind(stored_time(item.changed_at))
}

/// Writes an item's current row (`current`) or one of its versions. PostgreSQL names the
/// foreign key that failed, so the error says which reference is missing.
async fn insert_item(conn: &mut PgConnection, item: &ItemAssessment, current: bool) -> Result<(), StoreError> {
    let (statement, taken) = if current {
        (sql::INSERT_ASSESSMENT_ITEM, "assessment item")
    } else {
        (sql::INSERT_ASSESSMENT_ITEM_VERSION, "assessment item version")
    };
    bind_item(sqlx::query(statement), item)
        .execute(&mut *conn)
        .await
        .map_err(|e| assessment_write_error(BACKEND, e, taken, "assessment"))?;
    Ok(())
}

pub(super) async fn create_assessment(
    conn: &mut PgConnection,
    assessment: &Assessment,
    items: &[ItemAssessment],
) -> Result<(), StoreError> {
    check_first_items(assessment, items)?;
    sqlx::query(sql::INSERT_ASSESSMENT)
        .bind(assessment.institution.as_uuid())
        .bind(assessment.id.as_uuid())
        .bind(assessment.catalog.as_str())
        .bind(assessment.title.as_str())
        .bind(assessment.period_start)
        .bind(assessment.period_end)
        .bind(assessment.carried_from.map(|a| a.as_uuid()))
        .bind(assessment.created_by.as_uuid())
        .bind(stored_time(assessment.created_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| assessment_write_error(BACKEND, e, "assessment", "user"))?;
    for item in items {
        insert_item(conn, item, true).await?;
        insert_item(conn, item, false).await?;
    }
    Ok(())
}

pub(super) async fn update_item(conn: &mut PgConnection, item: &ItemAssessment) -> Result<bool, StoreError> {
    // The conditional UPDATE locks the item's row until the end of the transaction: a
    // concurrent change from the same version waits, re-checks the version and changes nothing.
    let result = bind_item(sqlx::query(sql::UPDATE_ASSESSMENT_ITEM), item)
        .execute(&mut *conn)
        .await
        .map_err(|e| assessment_write_error(BACKEND, e, "assessment item", "user"))?;
    if result.rows_affected() == 0 {
        return Ok(false);
    }
    insert_item(conn, item, false).await?;
    Ok(true)
}

pub(super) async fn add_evidence(conn: &mut PgConnection, evidence: &Evidence) -> Result<(), StoreError> {
    let columns = EvidenceColumns::of(&evidence.kind)?;
    sqlx::query(sql::INSERT_EVIDENCE)
        .bind(evidence.institution.as_uuid())
        .bind(evidence.id.as_uuid())
        .bind(i64::from(evidence.revision))
        .bind(evidence.assessment.as_uuid())
        .bind(evidence.item.as_str())
        .bind(evidence.title.as_str())
        .bind(columns.kind)
        .bind(columns.file_name)
        .bind(columns.file_sha256)
        .bind(columns.file_size)
        .bind(columns.url)
        .bind(evidence.owner.map(|u| u.as_uuid()))
        .bind(evidence.effective_on)
        .bind(evidence.expires_on)
        .bind(evidence.added_by.as_uuid())
        .bind(stored_time(evidence.added_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| assessment_write_error(BACKEND, e, "evidence", "assessment item"))?;
    Ok(())
}

pub(super) async fn decide_applicability(
    conn: &mut PgConnection,
    d: &mamori_core::applicability::Decision,
) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_APPLICABILITY)
        .bind(d.institution.as_uuid())
        .bind(i64::from(d.version))
        .bind(d.flowchart.as_str())
        .bind(mamori_core::applicability::answers_json(&d.answers))
        .bind(d.outcome.as_str())
        .bind(d.applies)
        .bind(d.basis.as_str())
        .bind(d.notes.as_str())
        .bind(d.decided_by.as_uuid())
        .bind(stored_time(d.decided_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| assessment_write_error(BACKEND, e, "applicability decision", "user"))?;
    Ok(())
}

/// Writes one version's row of a register entry. PostgreSQL names the foreign key that failed.
async fn insert_register_version(
    conn: &mut PgConnection,
    entry: &mamori_core::register::RegisterEntry,
) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_REGISTER_VERSION)
        .bind(entry.institution.as_uuid())
        .bind(entry.id.as_uuid())
        .bind(i64::from(entry.version))
        .bind(mamori_core::register::to_json(&entry.fields))
        .bind(entry.retired.as_deref())
        .bind(entry.author.map(|u| u.as_uuid()))
        .bind(stored_time(entry.at))
        .execute(&mut *conn)
        .await
        .map_err(|e| crate::error::register_write_error(BACKEND, e, "user"))?;
    Ok(())
}

pub(super) async fn create_register_entries(
    conn: &mut PgConnection,
    entries: &[mamori_core::register::RegisterEntry],
) -> Result<(), StoreError> {
    crate::rows::check_register_versions(entries, true)?;
    for entry in entries {
        sqlx::query(sql::INSERT_REGISTER_ENTRY)
            .bind(entry.institution.as_uuid())
            .bind(entry.id.as_uuid())
            .bind(entry.kind.as_str())
            .bind(1_i64)
            .bind(false)
            .bind(entry.author.map(|u| u.as_uuid()))
            .bind(stored_time(entry.at))
            .execute(&mut *conn)
            .await
            .map_err(|e| crate::error::register_write_error(BACKEND, e, "institution"))?;
        insert_register_version(conn, entry).await?;
    }
    Ok(())
}

pub(super) async fn add_register_version(
    conn: &mut PgConnection,
    entry: &mamori_core::register::RegisterEntry,
) -> Result<bool, StoreError> {
    crate::rows::check_register_versions(std::slice::from_ref(entry), false)?;
    // The conditional UPDATE locks the entry's row until the end of the transaction: a
    // concurrent change from the same version waits, re-checks the version and changes nothing.
    let result = sqlx::query(sql::UPDATE_REGISTER_ENTRY)
        .bind(entry.institution.as_uuid())
        .bind(entry.id.as_uuid())
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
