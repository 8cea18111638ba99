//! The PostgreSQL backend: `UUID` and `TIMESTAMPTZ` columns, the same statements as SQLite.

use crate::error::{from_sqlx, is_foreign_key_violation, is_unique_violation, one_line, user_data_insert_error};
use crate::rows::{
    AssessmentRow, CategoryRow, DeviceRow, EmergencyGrantRow, EvidenceRow, InstitutionRow, ItemRow, LogHeadRow,
    LogLeafRow, MAX_APPROVAL_QUEUE, MasterEntryRow, PatientRow, RecordRow, RecordVersionRow, ReenrollPassRow,
    RoleGrantRow, SealedAccountRow, SealedActivationRow, SessionRow, TerminalRow, ThrottleRow, TotpRow, UserRow,
    WebauthnChallengeRow, WebauthnCredentialRow, assemble_ledger, assemble_one_user, assemble_role_grants,
    assemble_users, chart_read_limit, chart_versions, counter, log_hash, log_index, master_code_pattern,
    master_search_limit, patient_number_pattern, patient_search_limit, stored_time,
};
use crate::unit::{Unit, in_transaction, step};
use crate::{Store, StoreError, StoreTx, log, sql};
use mamori_core::VendorDisclosureId;
use mamori_core::assessment::{Assessment, Evidence, ItemAssessment};
use mamori_core::audit::{AuditQuery, LogEntry, LogHead, Outcome};
use mamori_core::authz::{Action, Category, CategoryDef};
use mamori_core::config::{Backend, DatabaseUrl};
use mamori_core::emergency::{EmergencyGrantRecord, EmergencyReview};
use mamori_core::factor::{ReenrollPass, TotpRecord, WebauthnCredential, WebauthnPurpose};
use mamori_core::lockout::Throttle;
use mamori_core::master::{MasterCode, MasterEntry, MasterKind};
use mamori_core::patient::{Patient, PatientNumber};
use mamori_core::record::{Content, Device, Record, RecordVersion, VersionState};
use mamori_core::sealed::{SealedAccount, SealedActivation};
use mamori_core::session::SessionRecord;
use mamori_core::terminal::{Terminal, TerminalName};
use mamori_core::vendor::{VendorAnswer, VendorDisclosure, VendorRisk};
use mamori_core::{
    AssessmentId, DeviceId, EmergencyGrantId, Institution, InstitutionId, LoginId, NewUser, PatientId, RecordId, Role,
    User, UserId, UserStatus,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row};
use std::str::FromStr;
use std::time::Duration;
use time::{Date, OffsetDateTime};

mod vendor;
mod write;

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

    /// A `READ COMMITTED` transaction: a unit of work, or the transaction of one pool-level
    /// mutation.
    async fn unit(&self) -> Result<Unit<Postgres>, StoreError> {
        let tx = self.pool.begin_with(sql::PG_BEGIN_READ_COMMITTED).await.map_err(|e| from_sqlx(BACKEND, e))?;
        Ok(Unit::new(tx, BACKEND))
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

fn patient_row(row: &PgRow) -> Result<PatientRow, StoreError> {
    Ok(PatientRow {
        institution_id: get(row, "institution_id")?,
        id: get(row, "id")?,
        number: get(row, "number")?,
        family: get(row, "family")?,
        given: get(row, "given")?,
        family_kana: get(row, "family_kana")?,
        given_kana: get(row, "given_kana")?,
        birth_date: get(row, "birth_date")?,
        sex: get(row, "sex")?,
        phone: get(row, "phone")?,
        address: get(row, "address")?,
        version: get(row, "version")?,
        changed_by: get(row, "changed_by")?,
        changed_at: get(row, "changed_at")?,
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

fn record_row(row: &PgRow) -> Result<RecordRow, StoreError> {
    Ok(RecordRow {
        institution_id: get(row, "institution_id")?,
        id: get(row, "id")?,
        patient_id: get(row, "patient_id")?,
        kind: get(row, "kind")?,
        category: get(row, "category")?,
        created_by_user: get(row, "created_by_user")?,
        created_by_device: get(row, "created_by_device")?,
        created_at: get(row, "created_at")?,
    })
}

fn record_version_row(row: &PgRow) -> Result<RecordVersionRow, StoreError> {
    Ok(RecordVersionRow {
        record: record_row(row)?,
        version: get(row, "version")?,
        change: get(row, "change")?,
        state: get(row, "state")?,
        content: get(row, "content")?,
        reason: get(row, "reason")?,
        author_user: get(row, "author_user")?,
        author_device: get(row, "author_device")?,
        proxy_for: get(row, "proxy_for")?,
        entered_at: get(row, "entered_at")?,
        updated_at: get(row, "updated_at")?,
        finalized_by_user: get(row, "finalized_by_user")?,
        finalized_by_device: get(row, "finalized_by_device")?,
        finalized_at: get(row, "finalized_at")?,
        leaf_index: get(row, "leaf_index")?,
        rejected_by: get(row, "rejected_by")?,
        reject_reason: get(row, "reject_reason")?,
    })
}

fn master_entry_row(row: &PgRow) -> Result<MasterEntryRow, StoreError> {
    Ok(MasterEntryRow {
        institution_id: get(row, "institution_id")?,
        master: get(row, "master")?,
        code: get(row, "code")?,
        version: get(row, "version")?,
        name: get(row, "name")?,
        unit: get(row, "unit")?,
        reference_range: get(row, "reference_range")?,
        valid_from: get(row, "valid_from")?,
        valid_to: get(row, "valid_to")?,
        imported_at: get(row, "imported_at")?,
        imported_by: get(row, "imported_by")?,
    })
}

fn device_row(row: &PgRow) -> Result<DeviceRow, StoreError> {
    Ok(DeviceRow {
        institution_id: get(row, "institution_id")?,
        id: get(row, "id")?,
        name: get(row, "name")?,
        token_hash: get(row, "token_hash")?,
        registered_by: get(row, "registered_by")?,
        registered_at: get(row, "registered_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

fn assessment_row(row: &PgRow) -> Result<AssessmentRow, StoreError> {
    Ok(AssessmentRow {
        institution_id: get(row, "institution_id")?,
        id: get(row, "id")?,
        catalog: get(row, "catalog")?,
        title: get(row, "title")?,
        period_start: get(row, "period_start")?,
        period_end: get(row, "period_end")?,
        carried_from: get(row, "carried_from")?,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
    })
}

fn item_row(row: &PgRow) -> Result<ItemRow, StoreError> {
    Ok(ItemRow {
        institution_id: get(row, "institution_id")?,
        assessment_id: get(row, "assessment_id")?,
        item: get(row, "item")?,
        state: get(row, "state")?,
        owner: get(row, "owner")?,
        due_on: get(row, "due_on")?,
        next_review_on: get(row, "next_review_on")?,
        notes: get(row, "notes")?,
        version: get(row, "version")?,
        changed_by: get(row, "changed_by")?,
        changed_at: get(row, "changed_at")?,
    })
}

fn evidence_row(row: &PgRow) -> Result<EvidenceRow, StoreError> {
    Ok(EvidenceRow {
        institution_id: get(row, "institution_id")?,
        id: get(row, "id")?,
        revision: get(row, "revision")?,
        assessment_id: get(row, "assessment_id")?,
        item: get(row, "item")?,
        title: get(row, "title")?,
        kind: get(row, "kind")?,
        file_name: get(row, "file_name")?,
        file_sha256: get(row, "file_sha256")?,
        file_size: get(row, "file_size")?,
        url: get(row, "url")?,
        owner: get(row, "owner")?,
        effective_on: get(row, "effective_on")?,
        expires_on: get(row, "expires_on")?,
        added_by: get(row, "added_by")?,
        added_at: get(row, "added_at")?,
    })
}

/// The versions a statement of [`sql`] selecting record versions read.
fn record_versions(rows: &[PgRow]) -> Result<Vec<RecordVersion>, StoreError> {
    rows.iter().map(|row| record_version_row(row)?.into_version()).collect()
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

    async fn begin(&self) -> Result<Box<dyn StoreTx + '_>, StoreError> {
        Ok(Box::new(self.unit().await?))
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
        write::insert_user(&mut tx, institution.id, admin).await?;
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
        in_transaction!(self, write::create_user(institution, user))
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
        in_transaction!(self, write::set_password(institution, user, password_hash, change_required))
    }

    async fn set_user_status(
        &self,
        institution: InstitutionId,
        user: UserId,
        status: UserStatus,
    ) -> Result<(), StoreError> {
        in_transaction!(self, write::set_user_status(institution, user, status))
    }

    async fn set_user_roles(&self, institution: InstitutionId, user: UserId, roles: &[Role]) -> Result<(), StoreError> {
        in_transaction!(self, write::set_user_roles(institution, user, roles))
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
        in_transaction!(self, write::record_login_success(institution, user, at))
    }

    async fn record_login_failure(&self, institution: InstitutionId, user: UserId) -> Result<(), StoreError> {
        in_transaction!(self, write::record_login_failure(institution, user))
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
        in_transaction!(self, write::put_throttle(throttle))
    }

    async fn clear_throttle(&self, login_id: &str) -> Result<(), StoreError> {
        in_transaction!(self, write::clear_throttle(login_id))
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
        in_transaction!(self, write::put_totp(institution, user, record))
    }

    async fn confirm_totp(&self, institution: InstitutionId, user: UserId) -> Result<(), StoreError> {
        in_transaction!(self, write::confirm_totp(institution, user))
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
        in_transaction!(self, write::replace_recovery_codes(institution, user, hashes, at))
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
        in_transaction!(self, write::delete_second_factors(institution, user))
    }

    async fn create_reenroll_pass(&self, pass: &ReenrollPass) -> Result<(), StoreError> {
        in_transaction!(self, write::create_reenroll_pass(pass))
    }

    async fn use_reenroll_pass(
        &self,
        institution: InstitutionId,
        user: UserId,
        pass_hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        in_transaction!(self, write::use_reenroll_pass(institution, user, pass_hash, at))
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
        in_transaction!(self, write::create_session(session))
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
        in_transaction!(self, write::update_session(session))
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
        in_transaction!(self, write::delete_session(institution, token_hash))
    }

    async fn delete_user_sessions(&self, institution: InstitutionId, user: UserId) -> Result<u64, StoreError> {
        in_transaction!(self, write::delete_user_sessions(institution, user))
    }

    async fn add_webauthn_credential(
        &self,
        institution: InstitutionId,
        user: UserId,
        credential: &WebauthnCredential,
    ) -> Result<(), StoreError> {
        in_transaction!(self, write::add_webauthn_credential(institution, user, credential))
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
        in_transaction!(self, write::delete_webauthn_credential(institution, user, credential_id))
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
        in_transaction!(self, write::add_terminal(terminal))
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
        in_transaction!(self, write::revoke_terminal(institution, name, at))
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
        in_transaction!(self, write::set_require_registered_terminal(institution, required))
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
        in_transaction!(self, write::delete_sessions_of_certificate(institution, cert_sha256))
    }
    async fn create_emergency_grant(&self, grant: &EmergencyGrantRecord) -> Result<(), StoreError> {
        in_transaction!(self, write::create_emergency_grant(grant))
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
        in_transaction!(self, write::review_emergency_grant(institution, id, review))
    }
    async fn seal_account(&self, account: &SealedAccount) -> Result<(), StoreError> {
        in_transaction!(self, write::seal_account(account))
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
        in_transaction!(self, write::create_sealed_activation(activation))
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
        in_transaction!(self, write::close_sealed_account(institution, user, at))
    }

    async fn add_category(&self, category: &CategoryDef) -> Result<(), StoreError> {
        in_transaction!(self, write::add_category(category))
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
        in_transaction!(self, write::set_role_grants(institution, role, grants, changed_by, at))
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
        in_transaction!(self, write::append_log(institution, entries))
    }

    async fn log_head(&self, institution: InstitutionId) -> Result<LogHead, StoreError> {
        write::read_log_head(&self.pool, institution.as_uuid()).await
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

    async fn patient(&self, institution: InstitutionId, id: PatientId) -> Result<Option<Patient>, StoreError> {
        let row = sqlx::query(sql::SELECT_PATIENT)
            .bind(institution.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| patient_row(&row)?.into_patient()).transpose()
    }

    async fn patient_by_number(
        &self,
        institution: InstitutionId,
        number: &PatientNumber,
    ) -> Result<Option<Patient>, StoreError> {
        let row = sqlx::query(sql::SELECT_PATIENT_BY_NUMBER)
            .bind(institution.as_uuid())
            .bind(number.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| patient_row(&row)?.into_patient()).transpose()
    }

    async fn patient_versions(
        &self,
        institution: InstitutionId,
        id: PatientId,
    ) -> Result<Vec<(Patient, Option<String>)>, StoreError> {
        let rows = sqlx::query(sql::SELECT_PATIENT_VERSIONS)
            .bind(institution.as_uuid())
            .bind(id.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| patient_row(row)?.into_version(get(row, "reason")?)).collect()
    }

    async fn search_patients(
        &self,
        institution: InstitutionId,
        key: &str,
        limit: u32,
    ) -> Result<Vec<Patient>, StoreError> {
        let Some(pattern) = patient_number_pattern(key) else { return Ok(Vec::new()) };
        let rows = sqlx::query(sql::PG_SEARCH_PATIENTS)
            .bind(institution.as_uuid())
            .bind(pattern)
            .bind(key)
            .bind(patient_search_limit(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| patient_row(row)?.into_patient()).collect()
    }

    async fn record(&self, institution: InstitutionId, id: RecordId) -> Result<Option<Record>, StoreError> {
        let row = sqlx::query(sql::SELECT_RECORD)
            .bind(institution.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| record_row(&row)?.into_record()).transpose()
    }

    async fn record_version(
        &self,
        institution: InstitutionId,
        record: RecordId,
        version: u32,
    ) -> Result<Option<RecordVersion>, StoreError> {
        let row = sqlx::query(sql::SELECT_RECORD_VERSION)
            .bind(institution.as_uuid())
            .bind(record.as_uuid())
            .bind(i64::from(version))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| record_version_row(&row)?.into_version()).transpose()
    }

    async fn record_versions(
        &self,
        institution: InstitutionId,
        record: RecordId,
    ) -> Result<Vec<RecordVersion>, StoreError> {
        let rows = sqlx::query(sql::SELECT_RECORD_VERSIONS)
            .bind(institution.as_uuid())
            .bind(record.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        record_versions(&rows)
    }

    async fn patient_record_versions(
        &self,
        institution: InstitutionId,
        patient: PatientId,
    ) -> Result<Vec<RecordVersion>, StoreError> {
        let rows = sqlx::query(sql::SELECT_PATIENT_RECORD_VERSIONS)
            .bind(institution.as_uuid())
            .bind(patient.as_uuid())
            .bind(chart_read_limit())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        chart_versions(record_versions(&rows)?)
    }

    async fn approval_queue(
        &self,
        institution: InstitutionId,
        doctor: UserId,
    ) -> Result<Vec<RecordVersion>, StoreError> {
        let rows = sqlx::query(sql::SELECT_APPROVAL_QUEUE)
            .bind(institution.as_uuid())
            .bind(doctor.as_uuid())
            .bind(MAX_APPROVAL_QUEUE)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        record_versions(&rows)
    }

    async fn final_version_count(&self, institution: InstitutionId) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(sql::COUNT_FINAL_VERSIONS)
            .bind(institution.as_uuid())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        log_index("record_versions.count", count)
    }

    async fn master_entry(
        &self,
        institution: InstitutionId,
        master: MasterKind,
        code: &MasterCode,
        day: Date,
    ) -> Result<Option<MasterEntry>, StoreError> {
        let row = sqlx::query(sql::SELECT_MASTER_ENTRY)
            .bind(institution.as_uuid())
            .bind(master.as_str())
            .bind(code.as_str())
            .bind(day)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| master_entry_row(&row)?.into_entry()).transpose()
    }

    async fn master_versions(
        &self,
        institution: InstitutionId,
        master: MasterKind,
        code: &MasterCode,
    ) -> Result<Vec<MasterEntry>, StoreError> {
        let rows = sqlx::query(sql::SELECT_MASTER_VERSIONS)
            .bind(institution.as_uuid())
            .bind(master.as_str())
            .bind(code.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| master_entry_row(row)?.into_entry()).collect()
    }

    async fn search_master(
        &self,
        institution: InstitutionId,
        master: MasterKind,
        key: &str,
        day: Date,
        limit: u32,
    ) -> Result<Vec<MasterEntry>, StoreError> {
        let rows = sqlx::query(sql::PG_SEARCH_MASTER)
            .bind(institution.as_uuid())
            .bind(master.as_str())
            .bind(day)
            .bind(master_code_pattern(key))
            .bind(key)
            .bind(master_search_limit(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| master_entry_row(row)?.into_entry()).collect()
    }

    async fn master_latest(&self, institution: InstitutionId) -> Result<Vec<MasterEntry>, StoreError> {
        let rows = sqlx::query(sql::SELECT_MASTER_LATEST)
            .bind(institution.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| master_entry_row(row)?.into_entry()).collect()
    }

    async fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<Device>, StoreError> {
        let row = sqlx::query(sql::SELECT_DEVICE_BY_TOKEN)
            .bind(token_hash.as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| device_row(&row)?.into_device()).transpose()
    }

    async fn devices(&self, institution: InstitutionId) -> Result<Vec<Device>, StoreError> {
        let rows = sqlx::query(sql::SELECT_DEVICES)
            .bind(institution.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| device_row(row)?.into_device()).collect()
    }
    async fn assessments(&self, institution: InstitutionId) -> Result<Vec<Assessment>, StoreError> {
        let rows = sqlx::query(sql::SELECT_ASSESSMENTS)
            .bind(institution.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| assessment_row(row)?.into_assessment()).collect()
    }

    async fn assessment(&self, institution: InstitutionId, id: AssessmentId) -> Result<Option<Assessment>, StoreError> {
        let row = sqlx::query(sql::SELECT_ASSESSMENT)
            .bind(institution.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| assessment_row(&row)?.into_assessment()).transpose()
    }

    async fn assessment_items(
        &self,
        institution: InstitutionId,
        assessment: AssessmentId,
    ) -> Result<Vec<ItemAssessment>, StoreError> {
        let rows = sqlx::query(sql::SELECT_ASSESSMENT_ITEMS)
            .bind(institution.as_uuid())
            .bind(assessment.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| item_row(row)?.into_item()).collect()
    }

    async fn item_history(
        &self,
        institution: InstitutionId,
        assessment: AssessmentId,
        item: &str,
    ) -> Result<Vec<ItemAssessment>, StoreError> {
        let rows = sqlx::query(sql::SELECT_ITEM_HISTORY)
            .bind(institution.as_uuid())
            .bind(assessment.as_uuid())
            .bind(item)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| item_row(row)?.into_item()).collect()
    }

    async fn evidence(
        &self,
        institution: InstitutionId,
        assessment: AssessmentId,
    ) -> Result<Vec<Evidence>, StoreError> {
        let rows = sqlx::query(sql::SELECT_EVIDENCE)
            .bind(institution.as_uuid())
            .bind(assessment.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| evidence_row(row)?.into_evidence()).collect()
    }

    async fn applicability(
        &self,
        institution: InstitutionId,
    ) -> Result<Vec<mamori_core::applicability::Decision>, StoreError> {
        let rows = sqlx::query(sql::SELECT_APPLICABILITY)
            .bind(institution.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter()
            .map(|row| {
                crate::rows::DecisionRow {
                    institution_id: get(row, "institution_id")?,
                    version: get(row, "version")?,
                    flowchart: get(row, "flowchart")?,
                    answers: get(row, "answers")?,
                    outcome: get(row, "outcome")?,
                    applies: get(row, "applies")?,
                    basis: get(row, "basis")?,
                    notes: get(row, "notes")?,
                    decided_by: get(row, "decided_by")?,
                    decided_at: get(row, "decided_at")?,
                }
                .into_decision()
            })
            .collect()
    }

    async fn register_entries(
        &self,
        institution: InstitutionId,
        kind: mamori_core::register::RegisterKind,
    ) -> Result<Vec<mamori_core::register::RegisterEntry>, StoreError> {
        let rows = sqlx::query(sql::SELECT_REGISTER_ENTRIES)
            .bind(institution.as_uuid())
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| register_row(row)?.into_entry()).collect()
    }

    async fn register_entry(
        &self,
        institution: InstitutionId,
        id: mamori_core::RegisterEntryId,
    ) -> Result<Option<mamori_core::register::RegisterEntry>, StoreError> {
        let row = sqlx::query(sql::SELECT_REGISTER_ENTRY)
            .bind(institution.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        row.map(|row| register_row(&row)?.into_entry()).transpose()
    }

    async fn register_history(
        &self,
        institution: InstitutionId,
        id: mamori_core::RegisterEntryId,
    ) -> Result<Vec<mamori_core::register::RegisterEntry>, StoreError> {
        let rows = sqlx::query(sql::SELECT_REGISTER_HISTORY)
            .bind(institution.as_uuid())
            .bind(id.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(BACKEND, e))?;
        rows.iter().map(|row| register_row(row)?.into_entry()).collect()
    }

    async fn vendor_disclosures(&self, institution: InstitutionId) -> Result<Vec<VendorDisclosure>, StoreError> {
        vendor::disclosures(&self.pool, institution).await
    }

    async fn vendor_disclosure(
        &self,
        institution: InstitutionId,
        id: VendorDisclosureId,
    ) -> Result<Option<VendorDisclosure>, StoreError> {
        vendor::disclosure(&self.pool, institution, id).await
    }

    async fn vendor_answers(
        &self,
        institution: InstitutionId,
        id: VendorDisclosureId,
    ) -> Result<Vec<VendorAnswer>, StoreError> {
        vendor::answers(&self.pool, institution, id).await
    }

    async fn vendor_risks(&self, institution: InstitutionId) -> Result<Vec<VendorRisk>, StoreError> {
        vendor::risks(&self.pool, institution).await
    }

    async fn vendor_risk_history(
        &self,
        institution: InstitutionId,
        id: VendorDisclosureId,
        item: &str,
    ) -> Result<Vec<VendorRisk>, StoreError> {
        vendor::risk_history(&self.pool, institution, id, item).await
    }
}

/// A register entry's version as [`sql::SELECT_REGISTER_ENTRIES`] and the others read it.
fn register_row(row: &PgRow) -> Result<crate::rows::RegisterRow, StoreError> {
    Ok(crate::rows::RegisterRow {
        institution_id: get(row, "institution_id")?,
        id: get(row, "id")?,
        kind: get(row, "kind")?,
        version: get(row, "version")?,
        fields: get(row, "fields")?,
        retired_reason: get(row, "retired_reason")?,
        author: get(row, "author")?,
        at: get(row, "at")?,
    })
}

/// A unit of work on PostgreSQL: a `READ COMMITTED` transaction; [`StoreTx::append_log`] locks
/// the institution's log head (`FOR UPDATE`) until the transaction ends, so appends to one
/// institution's log are serialized.
#[async_trait::async_trait]
impl StoreTx for Unit<Postgres> {
    async fn append_log(&mut self, institution: InstitutionId, entries: &[LogEntry]) -> Result<LogHead, StoreError> {
        step!(self, write::append_log(institution, entries))
    }

    async fn create_user(&mut self, institution: InstitutionId, user: &NewUser) -> Result<User, StoreError> {
        step!(self, write::create_user(institution, user))
    }

    async fn set_password(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        password_hash: &str,
        change_required: bool,
    ) -> Result<(), StoreError> {
        step!(self, write::set_password(institution, user, password_hash, change_required))
    }

    async fn set_user_status(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        status: UserStatus,
    ) -> Result<(), StoreError> {
        step!(self, write::set_user_status(institution, user, status))
    }

    async fn set_user_roles(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        roles: &[Role],
    ) -> Result<(), StoreError> {
        step!(self, write::set_user_roles(institution, user, roles))
    }

    async fn record_login_success(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<(Option<OffsetDateTime>, u32), StoreError> {
        step!(self, write::record_login_success(institution, user, at))
    }

    async fn record_login_failure(&mut self, institution: InstitutionId, user: UserId) -> Result<(), StoreError> {
        step!(self, write::record_login_failure(institution, user))
    }

    async fn put_throttle(&mut self, throttle: &Throttle) -> Result<(), StoreError> {
        step!(self, write::put_throttle(throttle))
    }

    async fn clear_throttle(&mut self, login_id: &str) -> Result<(), StoreError> {
        step!(self, write::clear_throttle(login_id))
    }

    async fn put_totp(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        record: &TotpRecord,
    ) -> Result<(), StoreError> {
        step!(self, write::put_totp(institution, user, record))
    }

    async fn confirm_totp(&mut self, institution: InstitutionId, user: UserId) -> Result<(), StoreError> {
        step!(self, write::confirm_totp(institution, user))
    }

    async fn replace_recovery_codes(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        hashes: &[[u8; 32]],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        step!(self, write::replace_recovery_codes(institution, user, hashes, at))
    }

    async fn delete_second_factors(&mut self, institution: InstitutionId, user: UserId) -> Result<bool, StoreError> {
        step!(self, write::delete_second_factors(institution, user))
    }

    async fn create_reenroll_pass(&mut self, pass: &ReenrollPass) -> Result<(), StoreError> {
        step!(self, write::create_reenroll_pass(pass))
    }

    async fn use_reenroll_pass(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        pass_hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        step!(self, write::use_reenroll_pass(institution, user, pass_hash, at))
    }

    async fn create_session(&mut self, session: &SessionRecord) -> Result<(), StoreError> {
        step!(self, write::create_session(session))
    }

    async fn update_session(&mut self, session: &SessionRecord) -> Result<(), StoreError> {
        step!(self, write::update_session(session))
    }

    async fn delete_session(&mut self, institution: InstitutionId, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        step!(self, write::delete_session(institution, token_hash))
    }

    async fn delete_user_sessions(&mut self, institution: InstitutionId, user: UserId) -> Result<u64, StoreError> {
        step!(self, write::delete_user_sessions(institution, user))
    }

    async fn add_webauthn_credential(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        credential: &WebauthnCredential,
    ) -> Result<(), StoreError> {
        step!(self, write::add_webauthn_credential(institution, user, credential))
    }

    async fn delete_webauthn_credential(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        credential_id: &[u8],
    ) -> Result<bool, StoreError> {
        step!(self, write::delete_webauthn_credential(institution, user, credential_id))
    }

    async fn add_terminal(&mut self, terminal: &Terminal) -> Result<(), StoreError> {
        step!(self, write::add_terminal(terminal))
    }

    async fn revoke_terminal(
        &mut self,
        institution: InstitutionId,
        name: &TerminalName,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        step!(self, write::revoke_terminal(institution, name, at))
    }

    async fn set_require_registered_terminal(
        &mut self,
        institution: InstitutionId,
        required: bool,
    ) -> Result<(), StoreError> {
        step!(self, write::set_require_registered_terminal(institution, required))
    }

    async fn delete_sessions_of_certificate(
        &mut self,
        institution: InstitutionId,
        cert_sha256: &str,
    ) -> Result<u64, StoreError> {
        step!(self, write::delete_sessions_of_certificate(institution, cert_sha256))
    }

    async fn create_emergency_grant(&mut self, grant: &EmergencyGrantRecord) -> Result<(), StoreError> {
        step!(self, write::create_emergency_grant(grant))
    }

    async fn review_emergency_grant(
        &mut self,
        institution: InstitutionId,
        id: EmergencyGrantId,
        review: &EmergencyReview,
    ) -> Result<bool, StoreError> {
        step!(self, write::review_emergency_grant(institution, id, review))
    }

    async fn seal_account(&mut self, account: &SealedAccount) -> Result<(), StoreError> {
        step!(self, write::seal_account(account))
    }

    async fn create_sealed_activation(&mut self, activation: &SealedActivation) -> Result<(), StoreError> {
        step!(self, write::create_sealed_activation(activation))
    }

    async fn close_sealed_account(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<u32, StoreError> {
        step!(self, write::close_sealed_account(institution, user, at))
    }

    async fn add_category(&mut self, category: &CategoryDef) -> Result<(), StoreError> {
        step!(self, write::add_category(category))
    }

    async fn set_role_grants(
        &mut self,
        institution: InstitutionId,
        role: Role,
        grants: &[(Action, Category)],
        changed_by: UserId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        step!(self, write::set_role_grants(institution, role, grants, changed_by, at))
    }

    async fn create_patient(&mut self, patient: &Patient) -> Result<(), StoreError> {
        step!(self, write::create_patient(patient))
    }

    async fn update_patient(&mut self, patient: &Patient, reason: &str) -> Result<bool, StoreError> {
        step!(self, write::update_patient(patient, reason))
    }

    async fn create_record(&mut self, first: &RecordVersion) -> Result<(), StoreError> {
        step!(self, write::create_record(first))
    }

    async fn update_draft(
        &mut self,
        institution: InstitutionId,
        record: RecordId,
        version: u32,
        author: UserId,
        content: &Content,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        step!(self, write::update_draft(institution, record, version, author, content, at))
    }

    async fn discard_draft(
        &mut self,
        institution: InstitutionId,
        record: RecordId,
        version: u32,
        author: UserId,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        step!(self, write::discard_draft(institution, record, version, author, at))
    }

    async fn finalize_version(&mut self, finalized: &RecordVersion, from: VersionState) -> Result<bool, StoreError> {
        step!(self, write::finalize_version(finalized, from))
    }

    async fn reject_version(
        &mut self,
        institution: InstitutionId,
        record: RecordId,
        version: u32,
        doctor: UserId,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        step!(self, write::reject_version(institution, record, version, doctor, reason, at))
    }

    async fn add_version(&mut self, version: &RecordVersion) -> Result<(), StoreError> {
        step!(self, write::add_version(version))
    }

    async fn add_master_entries(&mut self, entries: &[MasterEntry]) -> Result<(), StoreError> {
        step!(self, write::add_master_entries(entries))
    }

    async fn add_device(&mut self, device: &Device) -> Result<(), StoreError> {
        step!(self, write::add_device(device))
    }

    async fn revoke_device(
        &mut self,
        institution: InstitutionId,
        device: DeviceId,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        step!(self, write::revoke_device(institution, device, at))
    }

    async fn create_assessment(&mut self, assessment: &Assessment, items: &[ItemAssessment]) -> Result<(), StoreError> {
        step!(self, write::create_assessment(assessment, items))
    }

    async fn update_item(&mut self, item: &ItemAssessment) -> Result<bool, StoreError> {
        step!(self, write::update_item(item))
    }

    async fn add_evidence(&mut self, evidence: &Evidence) -> Result<(), StoreError> {
        step!(self, write::add_evidence(evidence))
    }

    async fn decide_applicability(
        &mut self,
        decision: &mamori_core::applicability::Decision,
    ) -> Result<(), StoreError> {
        step!(self, write::decide_applicability(decision))
    }

    async fn create_register_entries(
        &mut self,
        entries: &[mamori_core::register::RegisterEntry],
    ) -> Result<(), StoreError> {
        step!(self, write::create_register_entries(entries))
    }

    async fn add_register_version(&mut self, entry: &mamori_core::register::RegisterEntry) -> Result<bool, StoreError> {
        step!(self, write::add_register_version(entry))
    }

    async fn record_vendor_disclosure(
        &mut self,
        disclosure: &VendorDisclosure,
        answers: &[VendorAnswer],
        risks: &[VendorRisk],
    ) -> Result<(), StoreError> {
        step!(self, vendor::record(disclosure, answers, risks))
    }

    async fn update_vendor_risk(&mut self, risk: &VendorRisk) -> Result<bool, StoreError> {
        step!(self, vendor::update_risk(risk))
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.finish().await
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
