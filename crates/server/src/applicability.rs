//! Applicability (適用判断): the institution answers 図1 of the 保守委託機関編 (「すべてのサーバの
//! セキュリティアップデート責任を事業者に委託している」), names the contract or SLA clause its YES rests
//! on (※2), and so records whether it is a 保守委託機関. The answers are walked through the shipped
//! flowchart; the outcome is the flowchart's, never the caller's. Each decision is a new version;
//! none is changed.
//!
//! Deciding needs `ManageCompliance`, reading `ReadCompliance`; both are audit events.

use crate::assessments::Manager;
use crate::audit;
use crate::error::ApiError;
use mamori_compliance::flowchart::{Flowchart, Step, WalkError, figure_1};
use mamori_core::Message;
use mamori_core::applicability::{Decision, check_decision};
use mamori_core::audit::Outcome;
use mamori_core::authz::AdminPermission;
use mamori_store::{Store, StoreError};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// 図1, as shipped.
///
/// # Errors
/// 500 if the shipped flowchart does not load (a defect the compliance tests catch).
pub fn flowchart() -> Result<Flowchart, ApiError> {
    figure_1().map_err(|e| {
        tracing::error!(error = %e, "the shipped flowchart does not load");
        ApiError::internal()
    })
}

/// Every version of the institution's decision, oldest first (recorded as
/// `compliance.applicability.read`).
///
/// # Errors
/// 403 without `ReadCompliance`.
pub async fn history(store: &dyn Store, who: &Manager, now: OffsetDateTime) -> Result<Vec<Decision>, ApiError> {
    who.require(AdminPermission::ReadCompliance)?;
    let decisions = store.applicability(who.institution()).await?;
    let event = who.event(now, "compliance.applicability.read", Outcome::Allowed).resource("applicability");
    audit::record_in(store, vec![event]).await?;
    Ok(decisions)
}

/// What a decision says.
#[derive(Debug, Clone)]
pub struct Answers {
    /// Question ID → YES.
    pub answers: BTreeMap<String, bool>,
    /// The contract, terms or SLA clause.
    pub basis: String,
    /// Notes.
    pub notes: String,
    /// The version this decision replaces (0 for the first).
    pub version: u32,
}

fn bad(ja: String, en: String) -> ApiError {
    ApiError::bad_request(Message::new(ja, en))
}

/// Records a decision: the answers must reach an outcome of 図1, a YES needs its basis, and
/// `version` must be the current version (0 when there is none; otherwise 409).
///
/// # Errors
/// 400, 403, 409.
pub async fn decide(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    input: Answers,
) -> Result<Decision, ApiError> {
    who.require(AdminPermission::ManageCompliance)?;
    let chart = flowchart()?;
    let given: Vec<(String, bool)> = input.answers.iter().map(|(q, a)| (q.clone(), *a)).collect();
    let outcome = match chart.walk(&given) {
        Ok(Step::Outcome(node)) => node,
        Ok(Step::Ask(node)) => {
            return Err(bad(
                format!("answers: 「{}」に「はい」か「いいえ」で答えてください。", node.text),
                format!("answers: answer the question {}", node.id),
            ));
        }
        Err(WalkError::NotAQuestion(_) | WalkError::Conflicting(_)) => {
            return Err(bad(
                "answers: フローチャートにない質問への回答があります。".to_owned(),
                "answers: an answer to a question the flowchart does not have".to_owned(),
            ));
        }
        Err(e @ WalkError::Broken(_)) => {
            tracing::error!(error = %e, "the shipped flowchart does not walk");
            return Err(ApiError::internal());
        }
    };
    // Only the answers on the path walked are kept.
    let mut answers = BTreeMap::new();
    let mut node = chart.node(&chart.flowchart.start);
    while let Some(q) = node.filter(|n| n.kind == mamori_compliance::flowchart::NodeKind::Question) {
        let Some(&yes) = input.answers.get(&q.id) else { break };
        answers.insert(q.id.clone(), yes);
        node = if yes { q.yes.as_deref() } else { q.no.as_deref() }.and_then(|next| chart.node(next));
    }
    let applies = outcome.applies.unwrap_or(false);
    let (basis, notes) = check_decision(&chart.flowchart.id, &answers, &outcome.id, &input.basis, &input.notes)
        .map_err(ApiError::bad_request)?;
    let current = store.applicability(who.institution()).await?.last().map_or(0, |d| d.version);
    let stale = || {
        ApiError::conflict(
            "stale_version",
            Message::new(
                "適用判断は先に更新されています。読み込み直してください。",
                "the decision was changed first; reload it",
            ),
        )
    };
    if input.version != current {
        return Err(stale());
    }
    let decision = Decision {
        institution: who.institution(),
        version: current + 1,
        flowchart: chart.flowchart.id.clone(),
        answers,
        outcome: outcome.id.clone(),
        applies,
        basis,
        notes,
        decided_by: who.user.id,
        decided_at: mamori_core::clock::to_micros(now),
    };
    let mut tx = store.begin().await?;
    tx.decide_applicability(&decision).await.map_err(|e| match e {
        StoreError::Conflict { .. } => stale(),
        other => other.into(),
    })?;
    let event = who
        .event(decision.decided_at, "compliance.applicability.decide", Outcome::Allowed)
        .resource("applicability")
        .detail("version", decision.version.to_string())
        .detail("applies", decision.applies.to_string());
    audit::commit_with(tx, event).await?;
    Ok(decision)
}
