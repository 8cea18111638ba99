//! The applicability flowchart (`data/flowcharts/*.toml`): a question tree whose questions are
//! answered YES or NO and whose leaves say whether the 保守委託機関編 applies.
//!
//! A file has a `[flowchart]` header (ID, title, source, the start node, notes) and `[[nodes]]`,
//! each a `question` (with `yes` and `no`, the IDs of the next nodes) or an `outcome` (with
//! `applies`). [`Flowchart::parse`] reads and checks a file; [`Flowchart::walk`] follows answers
//! from the start to an outcome, or to the next question still to be asked.

use crate::{DataError, Source, problem};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The file name of 図1 of the 保守委託機関編 (第7.0版).
pub const FIGURE_1_FILE: &str = "hoshu-7.0-figure-1.toml";

/// 図1 「本編の対象となる医療機関等の判断フローチャート」 of the 保守委託機関編 (第7.0版).
pub const FIGURE_1: &str = include_str!("../data/flowcharts/hoshu-7.0-figure-1.toml");

/// 図1, checked.
///
/// # Errors
/// A [`DataError`] if the shipped file does not hold together (a defect of the shipped data,
/// caught by the tests).
pub fn figure_1() -> Result<Flowchart, DataError> {
    Flowchart::parse(FIGURE_1_FILE, FIGURE_1)
}

/// A flowchart's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowchartMeta {
    /// Stable ID (`hoshu-7.0/figure-1`).
    pub id: String,
    /// Title, as printed.
    pub title: String,
    /// Source.
    pub source: Source,
    /// The ID of the first question.
    pub start: String,
    /// Notes printed with the whole flowchart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A question answered YES or NO.
    Question,
    /// A leaf: whether the 保守委託機関編 applies.
    Outcome,
}

/// A node of a flowchart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Unique within the flowchart.
    pub id: String,
    /// Question or outcome.
    pub kind: NodeKind,
    /// The question as printed, or the outcome's label.
    pub text: String,
    /// Questions: the node that follows YES.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yes: Option<String>,
    /// Questions: the node that follows NO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no: Option<String>,
    /// Outcomes: whether the 保守委託機関編 applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies: Option<bool>,
    /// Notes printed with the node (e.g. the figure's ※1, ※2), or for an outcome the source
    /// sentences it rests on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A flowchart file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flowchart {
    /// Header.
    pub flowchart: FlowchartMeta,
    /// Nodes, the start first by convention.
    pub nodes: Vec<Node>,
}

/// Where a walk through the flowchart has got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// This question has not been answered yet: ask it next.
    Ask(&'a Node),
    /// The answers lead to this outcome.
    Outcome(&'a Node),
}

impl<'a> Step<'a> {
    /// The node reached.
    #[must_use]
    pub const fn node(&self) -> &'a Node {
        match self {
            Self::Ask(node) | Self::Outcome(node) => node,
        }
    }
}

/// Answers that cannot be walked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    /// An answer names a node that is not a question of this flowchart.
    #[error("{0} is not a question of this flowchart")]
    NotAQuestion(String),
    /// A question is answered both YES and NO.
    #[error("question {0} is answered both YES and NO")]
    Conflicting(String),
    /// The flowchart does not hold together (it was built without [`Flowchart::check`]).
    #[error("the flowchart does not hold together: {0}")]
    Broken(String),
}

impl Flowchart {
    /// Parses and checks a flowchart file.
    ///
    /// # Errors
    /// A [`DataError`] naming the file and the problem.
    pub fn parse(file: &str, text: &str) -> Result<Self, DataError> {
        let flowchart: Self = toml::from_str(text).map_err(|e| problem(file, e.to_string()))?;
        flowchart.check(file)?;
        Ok(flowchart)
    }

    /// Checks that node IDs are unique and no text is empty, that the start exists, that every
    /// question has a YES and a NO leading to existing nodes (and no `applies`), that every
    /// outcome has `applies` (and neither YES nor NO), that every node is reachable from the
    /// start, and that there are no cycles.
    ///
    /// # Errors
    /// A [`DataError`].
    pub fn check(&self, file: &str) -> Result<(), DataError> {
        let mut ids = BTreeSet::new();
        for node in &self.nodes {
            if node.id.trim().is_empty() {
                return Err(problem(file, "a node has an empty ID"));
            }
            if !ids.insert(node.id.as_str()) {
                return Err(problem(file, format!("node {} is listed twice", node.id)));
            }
            if node.text.trim().is_empty() {
                return Err(problem(file, format!("node {} has no text", node.id)));
            }
        }
        if !ids.contains(self.flowchart.start.as_str()) {
            return Err(problem(file, format!("the start {} is not a node", self.flowchart.start)));
        }
        // Edges, checked node by node.
        let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for node in &self.nodes {
            let targets = match node.kind {
                NodeKind::Question => {
                    let (Some(yes), Some(no)) = (&node.yes, &node.no) else {
                        return Err(problem(file, format!("question {} needs both yes and no", node.id)));
                    };
                    if node.applies.is_some() {
                        return Err(problem(file, format!("question {} has applies (outcomes only)", node.id)));
                    }
                    for target in [yes, no] {
                        if !ids.contains(target.as_str()) {
                            return Err(problem(
                                file,
                                format!("question {} leads to an unknown node {target}", node.id),
                            ));
                        }
                    }
                    vec![yes.as_str(), no.as_str()]
                }
                NodeKind::Outcome => {
                    if node.yes.is_some() || node.no.is_some() {
                        return Err(problem(file, format!("outcome {} has yes or no (questions only)", node.id)));
                    }
                    if node.applies.is_none() {
                        return Err(problem(
                            file,
                            format!("outcome {} does not say whether the edition applies", node.id),
                        ));
                    }
                    Vec::new()
                }
            };
            next.insert(node.id.as_str(), targets);
        }
        // Every node reachable from the start.
        let mut reached = BTreeSet::from([self.flowchart.start.as_str()]);
        let mut queue = vec![self.flowchart.start.as_str()];
        while let Some(id) = queue.pop() {
            for &target in next.get(id).into_iter().flatten() {
                if reached.insert(target) {
                    queue.push(target);
                }
            }
        }
        if let Some(unreached) = ids.difference(&reached).next() {
            return Err(problem(file, format!("node {unreached} cannot be reached from the start")));
        }
        // No cycles: peel off nodes nothing (left) leads to; whatever cannot be peeled is on a cycle.
        let mut incoming: BTreeMap<&str, usize> = ids.iter().map(|&id| (id, 0)).collect();
        for &target in next.values().flatten() {
            if let Some(count) = incoming.get_mut(target) {
                *count += 1;
            }
        }
        let mut free: Vec<&str> = incoming.iter().filter(|&(_, &count)| count == 0).map(|(&id, _)| id).collect();
        let mut peeled = 0_usize;
        while let Some(id) = free.pop() {
            peeled += 1;
            for &target in next.get(id).into_iter().flatten() {
                if let Some(count) = incoming.get_mut(target) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        free.push(target);
                    }
                }
            }
        }
        if peeled != ids.len() {
            let on_cycle: Vec<&str> = incoming.iter().filter(|&(_, &count)| count > 0).map(|(&id, _)| id).collect();
            return Err(problem(file, format!("the nodes {} form a cycle", on_cycle.join(", "))));
        }
        Ok(())
    }

    /// The node with this ID.
    #[must_use]
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|node| node.id == id)
    }

    /// The questions, in file order.
    pub fn questions(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|node| node.kind == NodeKind::Question)
    }

    /// The outcomes, in file order.
    pub fn outcomes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|node| node.kind == NodeKind::Outcome)
    }

    /// Follows the answers (question ID, YES = `true`) from the start: the outcome they lead to,
    /// or the first question on the way that is not answered yet. Answers to questions off the
    /// path taken are ignored (an earlier answer may have been changed); the order of the answers
    /// does not matter.
    ///
    /// # Errors
    /// [`WalkError::NotAQuestion`] for an answer to an unknown node or an outcome,
    /// [`WalkError::Conflicting`] for a question answered both ways, [`WalkError::Broken`] for a
    /// flowchart that was not checked and does not hold together.
    pub fn walk(&self, answers: &[(String, bool)]) -> Result<Step<'_>, WalkError> {
        let mut given: BTreeMap<&str, bool> = BTreeMap::new();
        for (id, answer) in answers {
            if !self.node(id).is_some_and(|node| node.kind == NodeKind::Question) {
                return Err(WalkError::NotAQuestion(id.clone()));
            }
            if given.insert(id.as_str(), *answer).is_some_and(|earlier| earlier != *answer) {
                return Err(WalkError::Conflicting(id.clone()));
            }
        }
        let mut node = self
            .node(&self.flowchart.start)
            .ok_or_else(|| WalkError::Broken(format!("the start {} is not a node", self.flowchart.start)))?;
        // A checked flowchart has no cycles, so a walk visits each node at most once.
        for _ in 0..self.nodes.len() {
            if node.kind == NodeKind::Outcome {
                return Ok(Step::Outcome(node));
            }
            let Some(&answer) = given.get(node.id.as_str()) else {
                return Ok(Step::Ask(node));
            };
            let target = if answer { &node.yes } else { &node.no };
            let target = target
                .as_deref()
                .ok_or_else(|| WalkError::Broken(format!("question {} has no {}", node.id, yes_no(answer))))?;
            node = self
                .node(target)
                .ok_or_else(|| WalkError::Broken(format!("question {} leads to an unknown node {target}", node.id)))?;
        }
        Err(WalkError::Broken("the walk does not end (a cycle)".to_owned()))
    }
}

const fn yes_no(answer: bool) -> &'static str {
    if answer { "yes" } else { "no" }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    const HEADER: &str = r#"
[flowchart]
id = "t"
title = "t"
start = "q1"

[flowchart.source]
document = "d"
version = "1"
published = "p"
publisher = "p"
file = "f"
"#;

    fn chart(nodes: &str) -> Result<Flowchart, DataError> {
        Flowchart::parse("t.toml", &format!("{HEADER}{nodes}"))
    }

    const TWO_QUESTIONS: &str = r#"
[[nodes]]
id = "q1"
kind = "question"
text = "Q1"
yes = "q2"
no = "out-no"

[[nodes]]
id = "q2"
kind = "question"
text = "Q2"
yes = "out-yes"
no = "out-no"

[[nodes]]
id = "out-yes"
kind = "outcome"
text = "yes"
applies = true

[[nodes]]
id = "out-no"
kind = "outcome"
text = "no"
applies = false
"#;

    fn answers(list: &[(&str, bool)]) -> Vec<(String, bool)> {
        list.iter().map(|(id, a)| ((*id).to_owned(), *a)).collect()
    }

    #[test]
    fn walks_question_by_question() {
        let chart = chart(TWO_QUESTIONS).unwrap();
        assert_eq!(chart.walk(&[]).unwrap(), Step::Ask(chart.node("q1").unwrap()));
        assert_eq!(chart.walk(&answers(&[("q1", true)])).unwrap(), Step::Ask(chart.node("q2").unwrap()));
        let out = chart.walk(&answers(&[("q2", true), ("q1", true)])).unwrap();
        assert_eq!(out, Step::Outcome(chart.node("out-yes").unwrap()));
        // q2's answer is off the path once q1 is NO.
        let out = chart.walk(&answers(&[("q1", false), ("q2", true)])).unwrap();
        assert_eq!(out.node().applies, Some(false));
        assert_eq!(chart.questions().count(), 2);
        assert_eq!(chart.outcomes().count(), 2);
    }

    #[test]
    fn refuses_bad_answers() {
        let chart = chart(TWO_QUESTIONS).unwrap();
        assert_eq!(chart.walk(&answers(&[("out-yes", true)])), Err(WalkError::NotAQuestion("out-yes".to_owned())));
        assert_eq!(chart.walk(&answers(&[("nope", true)])), Err(WalkError::NotAQuestion("nope".to_owned())));
        assert_eq!(chart.walk(&answers(&[("q1", true), ("q1", false)])), Err(WalkError::Conflicting("q1".to_owned())));
        assert!(chart.walk(&answers(&[("q1", true), ("q1", true)])).is_ok());
    }

    #[test]
    fn an_unchecked_cycle_does_not_hang_the_walk() {
        let mut chart = chart(TWO_QUESTIONS).unwrap();
        chart.nodes[1].yes = Some("q1".to_owned());
        assert!(matches!(chart.walk(&answers(&[("q1", true), ("q2", true)])), Err(WalkError::Broken(_))));
    }

    fn refused(nodes: &str, expect: &str) {
        let error = chart(nodes).unwrap_err();
        assert!(error.problem.contains(expect), "{error} (expected {expect:?})");
    }

    #[test]
    fn checks_the_tree() {
        refused(&TWO_QUESTIONS.replace("id = \"q2\"", "id = \"q1\""), "listed twice");
        refused(&TWO_QUESTIONS.replace("id = \"q1\"", "id = \"q0\""), "the start q1 is not a node");
        refused(&TWO_QUESTIONS.replace("yes = \"out-yes\"", "yes = \"nowhere\""), "unknown node nowhere");
        refused(&TWO_QUESTIONS.replace("yes = \"out-yes\"\n", ""), "needs both yes and no");
        refused(
            &TWO_QUESTIONS.replace(
                "no = \"out-no\"\n\n[[nodes]]\nid = \"out-yes\"",
                "applies = true\nno = \"out-no\"\n\n[[nodes]]\nid = \"out-yes\"",
            ),
            "has applies",
        );
        refused(&TWO_QUESTIONS.replace("applies = true", "applies = true\nyes = \"q1\""), "has yes or no");
        refused(&TWO_QUESTIONS.replace("applies = false", ""), "does not say whether");
        refused(&TWO_QUESTIONS.replace("text = \"Q2\"", "text = \" \""), "has no text");
        refused(&TWO_QUESTIONS.replace("yes = \"q2\"", "yes = \"out-yes\""), "q2 cannot be reached");
        refused(
            &TWO_QUESTIONS.replace("yes = \"out-yes\"\nno = \"out-no\"", "yes = \"out-yes\"\nno = \"q1\""),
            "cycle",
        );
        refused(
            &TWO_QUESTIONS.replace("kind = \"outcome\"\ntext = \"no\"", "kind = \"maybe\"\ntext = \"no\""),
            "unknown variant",
        );
        refused(&format!("{TWO_QUESTIONS}\nextra = 1\n"), "unknown field");
    }
}
