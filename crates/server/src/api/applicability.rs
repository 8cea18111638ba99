//! Applicability over the API (the steps are [`crate::applicability`]'): read 図1 with the
//! institution's decisions, and record a new decision.

use crate::applicability::{self, Answers};
use crate::assessments::Manager;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use mamori_core::applicability::Decision;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A question of the flowchart.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionView {
    /// Its ID (the key of an answer).
    pub id: String,
    /// The question as printed.
    pub text: String,
    /// The notes printed with it (※1, ※2).
    pub notes: Vec<String>,
}

/// A version of the decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionView {
    /// 1, 2, …
    pub version: u32,
    /// The flowchart answered.
    pub flowchart: String,
    /// Question ID → YES.
    pub answers: BTreeMap<String, bool>,
    /// The outcome's node ID.
    pub outcome: String,
    /// The outcome as printed.
    pub outcome_text: String,
    /// Whether the 保守委託機関編 applies (the institution is a 保守委託機関).
    pub applies: bool,
    /// The contract, terms or SLA clause.
    pub basis: String,
    /// Notes.
    pub notes: String,
    /// Who decided (user id).
    pub decided_by: String,
    /// When.
    pub decided_at: Option<String>,
}

/// The flowchart and the institution's decisions.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicabilityView {
    /// The flowchart's ID.
    pub flowchart: String,
    /// Its title.
    pub title: String,
    /// Its questions.
    pub questions: Vec<QuestionView>,
    /// The current decision.
    pub current: Option<DecisionView>,
    /// Every version, oldest first.
    pub history: Vec<DecisionView>,
}

/// A new decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// Question ID → YES (`true`) or NO.
    pub answers: BTreeMap<String, bool>,
    /// The contract, terms or SLA clause that puts security updates on the vendor (needed for a
    /// YES).
    #[serde(default)]
    pub basis: String,
    /// Notes.
    #[serde(default)]
    pub notes: String,
    /// The current version (0 when there is none).
    pub version: u32,
}

pub(crate) fn decision_view(d: &Decision, chart: &mamori_compliance::flowchart::Flowchart) -> DecisionView {
    DecisionView {
        version: d.version,
        flowchart: d.flowchart.clone(),
        answers: d.answers.clone(),
        outcome: d.outcome.clone(),
        outcome_text: chart.node(&d.outcome).map(|n| n.text.clone()).unwrap_or_default(),
        applies: d.applies,
        basis: d.basis.clone(),
        notes: d.notes.clone(),
        decided_by: d.decided_by.to_string(),
        decided_at: super::rfc3339(d.decided_at),
    }
}

pub(crate) fn view(decisions: &[Decision]) -> Result<ApplicabilityView, ApiError> {
    let chart = applicability::flowchart()?;
    let history: Vec<DecisionView> = decisions.iter().map(|d| decision_view(d, &chart)).collect();
    Ok(ApplicabilityView {
        flowchart: chart.flowchart.id.clone(),
        title: chart.flowchart.title.clone(),
        questions: chart
            .questions()
            .map(|q| QuestionView { id: q.id.clone(), text: q.text.clone(), notes: q.notes.clone() })
            .collect(),
        current: decisions.last().map(|d| decision_view(d, &chart)),
        history,
    })
}

/// 図1 with the institution's decisions.
#[utoipa::path(get, path = "/api/v1/applicability", tag = "compliance",
    responses((status = 200, description = "The flowchart and the decisions", body = ApplicabilityView),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope)))]
pub async fn read(State(state): State<AppState>, auth: Authenticated) -> Result<Json<ApplicabilityView>, ApiError> {
    auth.ready()?;
    let who = Manager::of(&auth);
    let step = applicability::history(state.store.as_ref(), &who, state.clock.now());
    let decisions = crate::records::guarded(&state, &auth, "compliance.applicability.read", None, None, step).await?;
    Ok(Json(view(&decisions)?))
}

/// Records a new decision (the next version).
#[utoipa::path(put, path = "/api/v1/applicability", tag = "compliance", request_body = DecisionInput,
    responses((status = 200, description = "Recorded", body = DecisionView),
        (status = 400, description = "The answers do not reach an outcome, or a YES has no basis", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission", body = crate::error::ErrorEnvelope),
        (status = 409, description = "The decision was changed first", body = crate::error::ErrorEnvelope)))]
pub async fn decide(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(input): ApiJson<DecisionInput>,
) -> Result<Json<DecisionView>, ApiError> {
    auth.ready()?;
    let who = Manager::of(&auth);
    let answers = Answers { answers: input.answers, basis: input.basis, notes: input.notes, version: input.version };
    let step = applicability::decide(state.store.as_ref(), &who, state.clock.now(), answers);
    let d = crate::records::guarded(&state, &auth, "compliance.applicability.decide", None, None, step).await?;
    Ok(Json(decision_view(&d, &applicability::flowchart()?)))
}
