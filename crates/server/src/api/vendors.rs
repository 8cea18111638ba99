//! Vendors' disclosures over the API (the steps are [`crate::vendors`]'): list and record them
//! (answers as JSON, or an import file), read one with its answers and risk records, fill a risk
//! in, and download the blank form.
//!
//! The import takes JSON like every other API write (the API refuses bodies that are not
//! `application/json`, which keeps cross-site form posts out): the header fields and the file's
//! bytes in base64 (`file`), CSV or xlsx, told apart by their first bytes. The pages take the
//! same file as a multipart upload. A risk's path names its item by its key within the catalog:
//! `21+21.1+21.2` for `mds-7.0/21+21.1+21.2`.

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use crate::vendors::{self, AnswerEntry, DisclosureView, Listed, NewDisclosure, RiskChange};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use mamori_core::vendor::{VendorAnswer, VendorDisclosure, VendorRisk};
use mamori_core::{Message, VendorDisclosureId};
use serde::{Deserialize, Serialize};
use time::Date;
use utoipa::ToSchema;

use super::assessments::{date, user};
use crate::assessments::Manager;

/// A disclosure as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisclosureSummary {
    /// Its id.
    pub id: String,
    /// The vendor.
    pub vendor: String,
    /// The product.
    pub product: String,
    /// The product's version.
    pub product_version: String,
    /// `mds-7.0` or `sds-7.0`.
    pub catalog: String,
    /// The JAHIS version of the vendor's form.
    pub jahis_version: String,
    /// When it was received.
    pub received_on: String,
    /// Notes.
    pub notes: String,
    /// 1, 2, … per vendor, product and catalog.
    pub generation: u32,
    /// Whether it is the current one (no later generation).
    pub current: bool,
    /// Who recorded it (none: the operator).
    pub entered_by: Option<String>,
    /// When.
    pub entered_at: Option<String>,
    /// How many はい.
    pub yes: usize,
    /// How many いいえ.
    pub no: usize,
    /// How many 対象外.
    pub not_applicable: usize,
    /// Risks not yet filled in.
    pub risks_open: usize,
    /// Risks filled in.
    pub risks_complete: usize,
    /// Risks past their review date.
    pub risks_expired: usize,
}

fn summary(d: &VendorDisclosure, current: bool, answers: [usize; 3], risks: [usize; 3]) -> DisclosureSummary {
    let [yes, no, not_applicable] = answers;
    let [risks_open, risks_complete, risks_expired] = risks;
    DisclosureSummary {
        id: d.id.to_string(),
        vendor: d.vendor.clone(),
        product: d.product.clone(),
        product_version: d.product_version.clone(),
        catalog: d.catalog.clone(),
        jahis_version: d.jahis_version.clone(),
        received_on: d.received_on.to_string(),
        notes: d.notes.clone(),
        generation: d.generation,
        current,
        entered_by: d.entered_by.map(|u| u.to_string()),
        entered_at: super::rfc3339(d.entered_at),
        yes,
        no,
        not_applicable,
        risks_open,
        risks_complete,
        risks_expired,
    }
}

pub(crate) fn listed_summary(l: &Listed) -> DisclosureSummary {
    summary(&l.disclosure, l.current, l.answers, l.risks)
}

/// One answer as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnswerView {
    /// The catalog item's id.
    pub item: String,
    /// Its number as printed.
    pub number: String,
    /// Its text.
    pub text: String,
    /// はい, いいえ or 対象外.
    pub answer: String,
    /// The vendor's remark.
    pub remark: String,
}

/// One risk record (its current version) as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiskView {
    /// The catalog item answered いいえ.
    pub item: String,
    /// The key of the item in the risk's path (`21+21.1+21.2`).
    pub key: String,
    /// Its number as printed.
    pub number: String,
    /// リスク評価.
    pub justification: String,
    /// The owner (user id).
    pub owner: Option<String>,
    /// リスク対応・代替策.
    pub mitigation: String,
    /// When the acceptance is reviewed.
    pub expires_on: Option<String>,
    /// open, complete or expired.
    pub status: String,
    /// 未記入, 記入済 or 期限切れ.
    pub status_ja: String,
    /// Its version.
    pub version: u32,
    /// When it last changed.
    pub changed_at: Option<String>,
}

/// A disclosure with its answers and risks.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisclosureDetail {
    /// The disclosure and its counts.
    pub disclosure: DisclosureSummary,
    /// Every answer, in the catalog's order.
    pub answers: Vec<AnswerView>,
    /// Every risk record, in the catalog's order.
    pub risks: Vec<RiskView>,
}

pub(crate) fn answer_view(a: &VendorAnswer, rows: &[mamori_compliance::Item]) -> AnswerView {
    let row = rows.iter().find(|r| r.id == a.item);
    AnswerView {
        item: a.item.clone(),
        number: row.map(|r| r.number.clone()).unwrap_or_default(),
        text: row.map(|r| r.text.clone()).unwrap_or_default(),
        answer: a.answer.as_str().to_owned(),
        remark: a.remark.clone(),
    }
}

pub(crate) fn risk_view(r: &VendorRisk, rows: &[mamori_compliance::Item], today: Date) -> RiskView {
    let status = r.status(today);
    RiskView {
        item: r.item.clone(),
        key: r.item.split_once('/').map_or(r.item.as_str(), |(_, k)| k).to_owned(),
        number: rows.iter().find(|x| x.id == r.item).map(|x| x.number.clone()).unwrap_or_default(),
        justification: r.justification.clone(),
        owner: r.owner.map(|u| u.to_string()),
        mitigation: r.mitigation.clone(),
        expires_on: r.expires_on.map(|d| d.to_string()),
        status: status.as_str().to_owned(),
        status_ja: status.label_ja().to_owned(),
        version: r.version,
        changed_at: super::rfc3339(r.changed_at),
    }
}

pub(crate) fn detail_of(v: &DisclosureView, today: Date) -> DisclosureDetail {
    let count = |a| v.answers.iter().filter(|x| x.answer == a).count();
    let status = |s| v.risks.iter().filter(|r| r.status(today) == s).count();
    use mamori_core::vendor::{Answer, RiskStatus};
    DisclosureDetail {
        disclosure: summary(
            &v.disclosure,
            v.current,
            [count(Answer::Yes), count(Answer::No), count(Answer::NotApplicable)],
            [status(RiskStatus::Open), status(RiskStatus::Complete), status(RiskStatus::Expired)],
        ),
        answers: v.answers.iter().map(|a| answer_view(a, &v.rows)).collect(),
        risks: v.risks.iter().map(|r| risk_view(r, &v.rows, today)).collect(),
    }
}

/// Today in Japan (JST), for a review date.
pub(crate) fn today(state: &AppState) -> Date {
    state.clock.now().to_offset(time::macros::offset!(+9)).date()
}

/// One answer of `POST /api/v1/vendor-disclosures`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    /// The item's id (`mds-7.0/21+21.1+21.2`) or its number as printed (`21 / 21.1 / 21.2`).
    pub id: String,
    /// はい, いいえ or 対象外 (or yes, no, n/a).
    pub answer: String,
    /// The vendor's remark.
    #[serde(default)]
    pub remark: String,
}

/// `POST /api/v1/vendor-disclosures`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisclosureInput {
    /// The vendor (製造業者・サービス事業者).
    pub vendor: String,
    /// The product or service.
    pub product: String,
    /// The product's version.
    #[serde(default)]
    pub product_version: String,
    /// `mds-7.0` or `sds-7.0`.
    pub catalog: String,
    /// The JAHIS version of the vendor's form (e.g. `JAHIS 24-101`).
    pub jahis_version: String,
    /// When it was received, `YYYY-MM-DD`.
    pub received_on: String,
    /// Notes.
    #[serde(default)]
    pub notes: String,
    /// One answer per row of the catalog.
    pub answers: Vec<AnswerInput>,
}

/// `POST /api/v1/vendor-disclosures/import`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportInput {
    /// The vendor.
    pub vendor: String,
    /// The product or service.
    pub product: String,
    /// The product's version.
    #[serde(default)]
    pub product_version: String,
    /// `mds-7.0` or `sds-7.0`.
    pub catalog: String,
    /// The JAHIS version of the vendor's form.
    pub jahis_version: String,
    /// When it was received, `YYYY-MM-DD`.
    pub received_on: String,
    /// Notes.
    #[serde(default)]
    pub notes: String,
    /// The file (CSV in UTF-8, or xlsx), base64. Header `id,answer,remark` or the blank form's
    /// `id,number,text,answer,remark`.
    pub file: String,
}

/// `PUT /api/v1/vendor-disclosures/{id}/risks/{item}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskInput {
    /// リスク評価: why the いいえ is acceptable, what it means for the clinic.
    #[serde(default)]
    pub justification: String,
    /// The owner's user id.
    pub owner: Option<String>,
    /// リスク対応・代替策.
    #[serde(default)]
    pub mitigation: String,
    /// When the acceptance is reviewed, `YYYY-MM-DD`.
    pub expires_on: Option<String>,
    /// The version being changed.
    pub version: u32,
}

/// `GET /api/v1/vendor-disclosures/template`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TemplateQuery {
    /// `mds-7.0` or `sds-7.0`.
    pub catalog: String,
    /// `csv` (default) or `xlsx`.
    #[serde(default)]
    pub format: Option<String>,
}

pub(crate) fn received(raw: &str) -> Result<Date, ApiError> {
    date("received_on", Some(raw))?.ok_or_else(|| {
        ApiError::bad_request(Message::new(
            "received_on: 受領日を入力してください。",
            "received_on: a date is required",
        ))
    })
}

pub(crate) fn disclosure_id(raw: &str) -> Result<VendorDisclosureId, ApiError> {
    raw.parse().map_err(|_| ApiError::no_such("開示書", "vendor disclosure"))
}

/// The institution's vendor disclosures, newest first, with their counts.
#[utoipa::path(get, path = "/api/v1/vendor-disclosures", tag = "compliance",
    responses((status = 200, description = "Disclosures", body = Vec<DisclosureSummary>),
        (status = 403, description = "No permission to read the workbench", body = crate::error::ErrorEnvelope)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<DisclosureSummary>>, ApiError> {
    auth.ready()?;
    let who = Manager::of(&auth);
    let step = vendors::list(state.store.as_ref(), &who, today(&state));
    let all = crate::records::guarded(&state, &auth, "compliance.vendor.read", None, None, step).await?;
    Ok(Json(all.iter().map(listed_summary).collect()))
}

/// Records a vendor's disclosure (every row of the catalog answered); a risk record is opened
/// for every いいえ.
#[utoipa::path(post, path = "/api/v1/vendor-disclosures", tag = "compliance", request_body = DisclosureInput,
    responses((status = 201, description = "Recorded", body = DisclosureSummary),
        (status = 400, description = "A field, a row or an answer is invalid, or rows are missing", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission to manage the workbench", body = crate::error::ErrorEnvelope),
        (status = 409, description = "A disclosure of the same vendor and product was recorded at the same time", body = crate::error::ErrorEnvelope)))]
pub async fn record(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(input): ApiJson<DisclosureInput>,
) -> Result<Response, ApiError> {
    auth.ready()?;
    let who = Manager::of(&auth);
    let step = async {
        let new = NewDisclosure {
            vendor: input.vendor,
            product: input.product,
            product_version: input.product_version,
            catalog: input.catalog,
            jahis_version: input.jahis_version,
            received_on: received(&input.received_on)?,
            notes: input.notes,
        };
        let entries: Vec<AnswerEntry> =
            input.answers.into_iter().map(|a| AnswerEntry { id: a.id, answer: a.answer, remark: a.remark }).collect();
        vendors::record(state.store.as_ref(), &who, state.clock.now(), new, &entries).await
    };
    let r = crate::records::guarded(&state, &auth, "compliance.vendor.record", None, None, step).await?;
    Ok((StatusCode::CREATED, Json(summary(&r.disclosure, true, r.answers, [r.risks.len(), 0, 0]))).into_response())
}

/// Records a vendor's disclosure from a file (CSV or xlsx, base64 in `file`): checked whole, a
/// bad row refused with its line and reason and nothing recorded.
#[utoipa::path(post, path = "/api/v1/vendor-disclosures/import", tag = "compliance", request_body = ImportInput,
    responses((status = 201, description = "Recorded", body = DisclosureSummary),
        (status = 400, description = "A field is invalid, or the file is refused (the line and the reason)", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission to manage the workbench", body = crate::error::ErrorEnvelope),
        (status = 409, description = "A disclosure of the same vendor and product was recorded at the same time", body = crate::error::ErrorEnvelope)))]
pub async fn import(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(input): ApiJson<ImportInput>,
) -> Result<Response, ApiError> {
    auth.ready()?;
    let who = Manager::of(&auth);
    let step = async {
        let bytes = base64::engine::general_purpose::STANDARD.decode(input.file.trim()).map_err(|_| {
            ApiError::bad_request(Message::new("file: base64 で送ってください。", "file: base64, please"))
        })?;
        let new = NewDisclosure {
            vendor: input.vendor,
            product: input.product,
            product_version: input.product_version,
            catalog: input.catalog,
            jahis_version: input.jahis_version,
            received_on: received(&input.received_on)?,
            notes: input.notes,
        };
        vendors::import(state.store.as_ref(), &who, state.clock.now(), new, &bytes).await
    };
    let r = crate::records::guarded(&state, &auth, "compliance.vendor.import", None, None, step).await?;
    Ok((StatusCode::CREATED, Json(summary(&r.disclosure, true, r.answers, [r.risks.len(), 0, 0]))).into_response())
}

/// One disclosure with every answer (and the row's text) and its risk records.
#[utoipa::path(get, path = "/api/v1/vendor-disclosures/{id}", tag = "compliance",
    params(("id" = String, Path, description = "The disclosure's id")),
    responses((status = 200, description = "The disclosure (the read is audited)", body = DisclosureDetail),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such disclosure", body = crate::error::ErrorEnvelope)))]
pub async fn read(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<DisclosureDetail>, ApiError> {
    auth.ready()?;
    let who = Manager::of(&auth);
    let step = async {
        let id = disclosure_id(&id)?;
        vendors::read(state.store.as_ref(), &who, state.clock.now(), id).await
    };
    let v = crate::records::guarded(&state, &auth, "compliance.vendor.read", None, None, step).await?;
    Ok(Json(detail_of(&v, today(&state))))
}

/// Fills in a risk record (a new version; the old ones are kept).
#[utoipa::path(put, path = "/api/v1/vendor-disclosures/{id}/risks/{item}", tag = "compliance", request_body = RiskInput,
    params(("id" = String, Path, description = "The disclosure's id"), ("item" = String, Path, description = "The item's key in the catalog, e.g. 21+21.1+21.2")),
    responses((status = 200, description = "The new version", body = RiskView),
        (status = 400, description = "A field is invalid", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such disclosure or risk", body = crate::error::ErrorEnvelope),
        (status = 409, description = "Changed by someone first", body = crate::error::ErrorEnvelope)))]
pub async fn change_risk(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, item)): Path<(String, String)>,
    ApiJson(input): ApiJson<RiskInput>,
) -> Result<Json<RiskView>, ApiError> {
    auth.ready()?;
    let who = Manager::of(&auth);
    let step = async {
        let id = disclosure_id(&id)?;
        let change = RiskChange {
            justification: input.justification,
            owner: user("owner", input.owner.as_deref())?,
            mitigation: input.mitigation,
            expires_on: date("expires_on", input.expires_on.as_deref())?,
            version: input.version,
        };
        let full = risk_item(&state, &who, id, &item).await?;
        vendors::change_risk(state.store.as_ref(), &who, state.clock.now(), id, &full, change).await
    };
    let next = crate::records::guarded(&state, &auth, "compliance.vendor.risk", None, None, step).await?;
    let rows = vendors::catalog_rows(next.item.split_once('/').map_or("", |(c, _)| c)).unwrap_or_default();
    Ok(Json(risk_view(&next, &rows, today(&state))))
}

/// The full item ID from a path's key, given the disclosure's catalog (404 for an unknown
/// disclosure).
pub(crate) async fn risk_item(
    state: &AppState,
    who: &Manager,
    id: VendorDisclosureId,
    key: &str,
) -> Result<String, ApiError> {
    let d = state
        .store
        .vendor_disclosure(who.user.institution_id, id)
        .await?
        .ok_or_else(|| ApiError::no_such("開示書", "vendor disclosure"))?;
    Ok(format!("{}/{key}", d.catalog))
}

/// The blank form of a catalog (every row's id, number and text; answer and remark to fill in),
/// as CSV or xlsx. Filled in, it imports unchanged.
#[utoipa::path(get, path = "/api/v1/vendor-disclosures/template", tag = "compliance", params(TemplateQuery),
    responses((status = 200, description = "The blank form", content_type = "text/csv", body = String),
        (status = 400, description = "Not an MDS or SDS catalog, or an unknown format", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope)))]
pub async fn template(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(q): Query<TemplateQuery>,
) -> Result<Response, ApiError> {
    auth.ready()?;
    let who = Manager::of(&auth);
    let step = async {
        mamori_core::authz::authorize_admin(
            &who.principal,
            who.user.institution_id,
            mamori_core::authz::AdminPermission::ReadCompliance,
        )
        .map_err(ApiError::denied)?;
        template_response(&q.catalog, q.format.as_deref().unwrap_or("csv"))
    };
    crate::records::guarded(&state, &auth, "compliance.vendor.read", None, None, step).await
}

/// The blank form as a download (shared with the pages).
///
/// # Errors
/// 400 for an unknown catalog or format.
pub(crate) fn template_response(catalog: &str, format: &str) -> Result<Response, ApiError> {
    let (bytes, content_type, ext) = match format {
        "csv" => (vendors::template_csv(catalog)?, "text/csv; charset=utf-8", "csv"),
        "xlsx" => (
            vendors::template_xlsx(catalog)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        _ => {
            return Err(ApiError::bad_request(Message::new(
                "format: csv か xlsx を指定してください。",
                "format: csv or xlsx",
            )));
        }
    };
    // The catalog is one of two known names, so the file name is safe to put in the header.
    let disposition = format!("attachment; filename=\"{catalog}-form.{ext}\"");
    Ok(([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response())
}
