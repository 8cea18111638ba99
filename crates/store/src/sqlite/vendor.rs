//! Vendors' disclosures on SQLite (see [`crate::vendor`]): reads on the pool, and the two
//! mutations a unit of work holds, on its connection.

use super::{BACKEND, date_text, get, get_date, get_opt_date, get_opt_uuid, get_time, get_uuid, time_text, uuid_text};
use crate::StoreError;
use crate::error::{from_sqlx, user_data_insert_error};
use crate::vendor::{self as shared, AnswerRow, DisclosureRow, RiskRow};
use mamori_core::vendor::{VendorAnswer, VendorDisclosure, VendorRisk};
use mamori_core::{InstitutionId, VendorDisclosureId};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Sqlite, SqliteConnection};

fn disclosure_row(row: &SqliteRow) -> Result<DisclosureRow, StoreError> {
    Ok(DisclosureRow {
        institution_id: get_uuid(row, "institution_id")?,
        id: get_uuid(row, "id")?,
        vendor: get(row, "vendor")?,
        product: get(row, "product")?,
        product_version: get(row, "product_version")?,
        catalog: get(row, "catalog")?,
        jahis_version: get(row, "jahis_version")?,
        received_on: get_date(row, "received_on")?,
        notes: get(row, "notes")?,
        generation: get(row, "generation")?,
        entered_by: get_opt_uuid(row, "entered_by")?,
        entered_at: get_time(row, "entered_at")?,
    })
}

fn risk_row(row: &SqliteRow) -> Result<RiskRow, StoreError> {
    Ok(RiskRow {
        institution_id: get_uuid(row, "institution_id")?,
        disclosure_id: get_uuid(row, "disclosure_id")?,
        item: get(row, "item")?,
        justification: get(row, "justification")?,
        owner: get_opt_uuid(row, "owner")?,
        mitigation: get(row, "mitigation")?,
        expires_on: get_opt_date(row, "expires_on")?,
        version: get(row, "version")?,
        changed_by: get_opt_uuid(row, "changed_by")?,
        changed_at: get_time(row, "changed_at")?,
    })
}

pub(super) async fn disclosures(
    pool: &SqlitePool,
    institution: InstitutionId,
) -> Result<Vec<VendorDisclosure>, StoreError> {
    let rows = sqlx::query(shared::SELECT_DISCLOSURES)
        .bind(uuid_text(institution.as_uuid()))
        .fetch_all(pool)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    rows.iter().map(|row| disclosure_row(row)?.into_disclosure()).collect()
}

pub(super) async fn disclosure(
    pool: &SqlitePool,
    institution: InstitutionId,
    id: VendorDisclosureId,
) -> Result<Option<VendorDisclosure>, StoreError> {
    let row = sqlx::query(shared::SELECT_DISCLOSURE)
        .bind(uuid_text(institution.as_uuid()))
        .bind(uuid_text(id.as_uuid()))
        .fetch_optional(pool)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    row.map(|row| disclosure_row(&row)?.into_disclosure()).transpose()
}

pub(super) async fn answers(
    pool: &SqlitePool,
    institution: InstitutionId,
    id: VendorDisclosureId,
) -> Result<Vec<VendorAnswer>, StoreError> {
    let rows = sqlx::query(shared::SELECT_ANSWERS)
        .bind(uuid_text(institution.as_uuid()))
        .bind(uuid_text(id.as_uuid()))
        .fetch_all(pool)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    rows.iter()
        .map(|row| {
            AnswerRow { item: get(row, "item")?, answer: get(row, "answer")?, remark: get(row, "remark")? }
                .into_answer()
        })
        .collect()
}

pub(super) async fn risks(pool: &SqlitePool, institution: InstitutionId) -> Result<Vec<VendorRisk>, StoreError> {
    let rows = sqlx::query(shared::SELECT_RISKS)
        .bind(uuid_text(institution.as_uuid()))
        .fetch_all(pool)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    rows.iter().map(|row| risk_row(row)?.into_risk()).collect()
}

pub(super) async fn risk_history(
    pool: &SqlitePool,
    institution: InstitutionId,
    id: VendorDisclosureId,
    item: &str,
) -> Result<Vec<VendorRisk>, StoreError> {
    let rows = sqlx::query(shared::SELECT_RISK_HISTORY)
        .bind(uuid_text(institution.as_uuid()))
        .bind(uuid_text(id.as_uuid()))
        .bind(item)
        .fetch_all(pool)
        .await
        .map_err(|e| from_sqlx(BACKEND, e))?;
    rows.iter().map(|row| risk_row(row)?.into_risk()).collect()
}

/// Binds `$1` to `$10` of [`shared::INSERT_RISK`], [`shared::UPDATE_RISK`] and
/// [`shared::INSERT_RISK_VERSION`].
fn bind_risk<'q>(
    query: sqlx::query::Query<'q, Sqlite, <Sqlite as sqlx::Database>::Arguments>,
    risk: &VendorRisk,
) -> Result<sqlx::query::Query<'q, Sqlite, <Sqlite as sqlx::Database>::Arguments>, StoreError> {
    Ok(query
        .bind(uuid_text(risk.institution.as_uuid()))
        .bind(uuid_text(risk.disclosure.as_uuid()))
        .bind(risk.item.clone())
        .bind(risk.justification.clone())
        .bind(risk.owner.map(|u| uuid_text(u.as_uuid())))
        .bind(risk.mitigation.clone())
        .bind(risk.expires_on.map(date_text).transpose()?)
        .bind(i64::from(risk.version))
        .bind(risk.changed_by.map(|u| uuid_text(u.as_uuid())))
        .bind(time_text(risk.changed_at)?))
}

/// Writes a risk's current row (`current`) or one of its versions. The recording was checked
/// first, so a foreign key that fails names a user that is not the institution's.
async fn insert_risk(conn: &mut SqliteConnection, risk: &VendorRisk, current: bool) -> Result<(), StoreError> {
    let (statement, taken) = if current {
        (shared::INSERT_RISK, "vendor risk")
    } else {
        (shared::INSERT_RISK_VERSION, "vendor risk version")
    };
    bind_risk(sqlx::query(statement), risk)?
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, taken))?;
    Ok(())
}

pub(super) async fn record(
    conn: &mut SqliteConnection,
    disclosure: &VendorDisclosure,
    answers: &[VendorAnswer],
    risks: &[VendorRisk],
) -> Result<(), StoreError> {
    shared::check_recording(disclosure, answers, risks)?;
    let institution = uuid_text(disclosure.institution.as_uuid());
    let id = uuid_text(disclosure.id.as_uuid());
    sqlx::query(shared::INSERT_DISCLOSURE)
        .bind(&institution)
        .bind(&id)
        .bind(disclosure.vendor.as_str())
        .bind(disclosure.product.as_str())
        .bind(disclosure.product_version.as_str())
        .bind(disclosure.catalog.as_str())
        .bind(disclosure.jahis_version.as_str())
        .bind(date_text(disclosure.received_on)?)
        .bind(disclosure.notes.as_str())
        .bind(i64::from(disclosure.generation))
        .bind(disclosure.entered_by.map(|u| uuid_text(u.as_uuid())))
        .bind(time_text(disclosure.entered_at)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "vendor disclosure"))?;
    for a in answers {
        sqlx::query(shared::INSERT_ANSWER)
            .bind(&institution)
            .bind(&id)
            .bind(a.item.as_str())
            .bind(a.answer.code())
            .bind(a.remark.as_str())
            .execute(&mut *conn)
            .await
            .map_err(|e| user_data_insert_error(BACKEND, e, "vendor answer"))?;
    }
    for r in risks {
        insert_risk(conn, r, true).await?;
        insert_risk(conn, r, false).await?;
    }
    Ok(())
}

pub(super) async fn update_risk(conn: &mut SqliteConnection, risk: &VendorRisk) -> Result<bool, StoreError> {
    // The write lock is held from the conditional UPDATE to the end of the transaction.
    let result = bind_risk(sqlx::query(shared::UPDATE_RISK), risk)?
        .execute(&mut *conn)
        .await
        .map_err(|e| user_data_insert_error(BACKEND, e, "vendor risk"))?;
    if result.rows_affected() == 0 {
        return Ok(false);
    }
    insert_risk(conn, risk, false).await?;
    Ok(true)
}
