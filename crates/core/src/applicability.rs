//! Applicability (適用判断): the institution's answers to an applicability flowchart (図1 of the
//! 保守委託機関編: 「すべてのサーバのセキュリティアップデート責任を事業者に委託している」), the
//! outcome (whether it is a 保守委託機関, so that the 保守委託機関編 applies), and the basis: the
//! contract, terms or SLA clause that puts the security updates on the vendor. The figure's ※2
//! allows YES only where such a document says so; so a decision with a YES answer needs its basis.
//!
//! Decisions are versioned per institution and never changed: a new answer is the next version.
//! Walking the flowchart (which outcome the answers reach) is `mamori_compliance::flowchart`'s
//! part; this module checks the decision's own fields.

use crate::{InstitutionId, Message, UserId};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Longest basis (characters).
pub const MAX_BASIS: usize = 1000;

/// One version of an institution's applicability decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The institution.
    pub institution: InstitutionId,
    /// 1, 2, …
    pub version: u32,
    /// The flowchart answered (`hoshu-7.0/figure-1`).
    pub flowchart: String,
    /// Each question answered: its ID and YES (`true`) or NO.
    pub answers: BTreeMap<String, bool>,
    /// The outcome's node ID.
    pub outcome: String,
    /// Whether the outcome is that the 保守委託機関編 applies.
    pub applies: bool,
    /// The contract, terms or SLA clause the answers rest on.
    pub basis: String,
    /// Notes.
    pub notes: String,
    /// Who decided.
    pub decided_by: UserId,
    /// When.
    pub decided_at: OffsetDateTime,
}

fn is_node_id(s: &str) -> bool {
    (1..=100).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_flowchart_id(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'/'))
}

/// Checks a decision's fields (the flowchart and node IDs' form, the basis and notes) and returns
/// them normalized (trimmed, `\r\n` as `\n`): at least one answer; a basis of at most
/// [`MAX_BASIS`] characters, required when any answer is YES (※2).
///
/// # Errors
/// A bilingual message naming the field.
pub fn check_decision(
    flowchart: &str,
    answers: &BTreeMap<String, bool>,
    outcome: &str,
    basis: &str,
    notes: &str,
) -> Result<(String, String), Message> {
    if !is_flowchart_id(flowchart) || !is_node_id(outcome) {
        return Err(Message::new(
            "flowchart: フローチャートの指定が正しくありません。",
            "flowchart: not a flowchart node",
        ));
    }
    if answers.is_empty() || answers.keys().any(|q| !is_node_id(q)) {
        return Err(Message::new("answers: 質問に答えてください。", "answers: answer the questions"));
    }
    let basis = basis.replace("\r\n", "\n").trim().to_owned();
    if basis.chars().count() > MAX_BASIS || basis.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Message::new(
            format!("basis: {MAX_BASIS}文字以内で、制御文字を含めないでください。"),
            format!("basis: at most {MAX_BASIS} characters, no control characters"),
        ));
    }
    if basis.is_empty() && answers.values().any(|yes| *yes) {
        return Err(Message::new(
            "basis: 「はい」と答えるには、それを定める契約書・約款・SLA 等の該当箇所を記入してください（図1 ※2）。",
            "basis: a YES answer needs the contract, terms or SLA clause that states it (figure 1, note 2)",
        ));
    }
    let notes = crate::assessment::check_notes(notes)?;
    Ok((basis, notes))
}

/// The answers as stored: canonical JSON (`{"question-id":true}`, keys in order).
#[must_use]
pub fn answers_json(answers: &BTreeMap<String, bool>) -> String {
    serde_json::to_string(answers).unwrap_or_else(|_| "{}".to_owned())
}

/// Parses stored answers.
///
/// # Errors
/// A bilingual message when the text is not an object of question IDs to booleans.
pub fn parse_answers(json: &str) -> Result<BTreeMap<String, bool>, Message> {
    serde_json::from_str(json)
        .map_err(|_| Message::new("answers: 回答の形式が正しくありません。", "answers: not an object of booleans"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn yes() -> BTreeMap<String, bool> {
        BTreeMap::from([("all-server-security-updates-delegated".to_owned(), true)])
    }

    #[test]
    fn a_yes_needs_its_contract_clause() {
        let e = check_decision("hoshu-7.0/figure-1", &yes(), "hoshu-applies", "  ", "").unwrap_err();
        assert!(e.ja.starts_with("basis:") && e.ja.contains("※2"), "{}", e.ja);
        let (basis, notes) =
            check_decision("hoshu-7.0/figure-1", &yes(), "hoshu-applies", " 保守契約書 第12条\r\n", " メモ ").unwrap();
        assert_eq!((basis.as_str(), notes.as_str()), ("保守契約書 第12条", "メモ"));
        let no = BTreeMap::from([("all-server-security-updates-delegated".to_owned(), false)]);
        assert!(check_decision("hoshu-7.0/figure-1", &no, "main-guideline-applies", "", "").is_ok());
    }

    #[test]
    fn malformed_decisions_are_refused() {
        let long = "あ".repeat(MAX_BASIS + 1);
        assert!(check_decision("hoshu-7.0/figure-1", &yes(), "hoshu-applies", &long, "").is_err());
        assert!(check_decision("hoshu-7.0/figure-1", &BTreeMap::new(), "hoshu-applies", "x", "").is_err());
        assert!(check_decision("Figure 1", &yes(), "hoshu-applies", "x", "").is_err());
        let odd = BTreeMap::from([("Q 1".to_owned(), true)]);
        assert!(check_decision("hoshu-7.0/figure-1", &odd, "hoshu-applies", "x", "").is_err());
        assert!(check_decision("hoshu-7.0/figure-1", &yes(), "hoshu-applies", "a\u{7}b", "").is_err());
    }

    #[test]
    fn answers_round_trip_as_canonical_json() {
        let json = answers_json(&yes());
        assert_eq!(json, r#"{"all-server-security-updates-delegated":true}"#);
        assert_eq!(parse_answers(&json).unwrap(), yes());
        assert!(parse_answers(r#"{"q":"yes"}"#).is_err());
    }
}
