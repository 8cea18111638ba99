//! Downloads of an assessment's self-inspection report ([`crate::reports`]): PDF, xlsx in the
//! checklist layout, and OSCAL assessment-results. Each download is an audit event
//! (`compliance.report` with the format); a refusal is a `denied` one.

use crate::assessments::Manager;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::reports::{self, FontPaths, ReportFormat};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use mamori_core::AssessmentId;

async fn download(
    state: &AppState,
    auth: &Authenticated,
    id: &str,
    format: ReportFormat,
) -> Result<Response, ApiError> {
    auth.ready()?;
    let who = Manager::of(auth);
    let id: AssessmentId = id.parse().map_err(|_| ApiError::no_such("点検", "assessment"))?;
    let config = state.config.get();
    let inactive = config.accounts.inactive_after.0;
    let fonts = FontPaths::from(&config.reports);
    let step = reports::report(state.store.as_ref(), &who, state.clock.now(), id, inactive, format, &fonts);
    let bytes = crate::records::guarded(state, auth, "compliance.report", None, None, step).await?;
    let disposition = format!("attachment; filename=\"{}\"", format.file_name(id));
    Ok(([(header::CONTENT_TYPE, format.content_type().to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response())
}

/// The self-inspection report as PDF (typeset with the IPAex fonts).
#[utoipa::path(get, path = "/api/v1/assessments/{id}/report.pdf", tag = "compliance",
    params(("id" = String, Path, description = "The assessment's id")),
    responses((status = 200, description = "The report (the download is audited)", content_type = "application/pdf", body = Vec<u8>),
        (status = 403, description = "No permission to read the workbench", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such assessment", body = crate::error::ErrorEnvelope)))]
pub async fn pdf(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    download(&state, &auth, &id, ReportFormat::Pdf).await
}

/// The self-inspection report as xlsx in the 保守委託機関編 checklist layout (項目区分 / 項番 /
/// 遵守項目 / チェック はい・いいえ / 確認日 / 目標日 …), with the evidence on a second sheet.
#[utoipa::path(get, path = "/api/v1/assessments/{id}/report.xlsx", tag = "compliance",
    params(("id" = String, Path, description = "The assessment's id")),
    responses((status = 200, description = "The checklist (the download is audited)", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 403, description = "No permission to read the workbench", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such assessment", body = crate::error::ErrorEnvelope)))]
pub async fn xlsx(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    download(&state, &auth, &id, ReportFormat::Xlsx).await
}

/// The assessment as OSCAL 1.1.3 assessment-results (one finding per catalog control).
#[utoipa::path(get, path = "/api/v1/assessments/{id}/oscal", tag = "compliance",
    params(("id" = String, Path, description = "The assessment's id")),
    responses((status = 200, description = "OSCAL assessment-results (the download is audited)", content_type = "application/json"),
        (status = 403, description = "No permission to read the workbench", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such assessment", body = crate::error::ErrorEnvelope)))]
pub async fn oscal(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    download(&state, &auth, &id, ReportFormat::Oscal).await
}
