//! An assessment as OSCAL 1.1.3 assessment-results (JSON).
//!
//! - `import-ap` names the catalog export the assessment is against (mamori has no separate
//!   assessment plan: the plan is "every control of the catalog"); [`catalog_href`] gives the
//!   file name `mamori catalog export --format oscal` output is kept under in CI.
//! - One result for the assessment's period; `reviewed-controls` selects every item's control
//!   (the catalog export's control IDs, `hoshu-7.0_9-4`).
//! - One finding per item, targeting the control's statement (`hoshu-7.0_9-4_smt`): 対応済 is
//!   `satisfied`; 未着手 and 対応中 are `not-satisfied`; 対象外 is `satisfied` with the
//!   implementation status `not-applicable` (the guideline accepts 対象外 as an answer, 【別紙】:
//!   「はい」または「対象外」であることを確認) and mamori's state as a property, so a reader can
//!   tell the two apart.
//! - One observation per evidence revision (a file by name and SHA-256, a link by its URL) and
//!   one per item with live evidence, each related to its item's finding.
//! - Every UUID is a v5 UUID of the assessment's ID and the object, so the same assessment
//!   always exports the same UUIDs.

use crate::{EvidenceRef, ReportInput, ReportItem, division};
use mamori_compliance::oscal::{NS, token};
use mamori_core::assessment::ItemState;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, Time};
use uuid::Uuid;

/// The OSCAL version written.
pub const OSCAL_VERSION: &str = "1.1.3";

/// The namespace of mamori's v5 UUIDs: the v5 UUID of [`NS`] in the URL namespace.
fn namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, NS.as_bytes())
}

/// The v5 UUID of `what` within the assessment `id`.
fn uuid(id: &str, what: &str) -> String {
    Uuid::new_v5(&namespace(), format!("{id}/{what}").as_bytes()).to_string()
}

/// Where the catalog export of `catalog` is kept: `oscal-<catalog>.json`, the name CI writes
/// `mamori catalog export --format oscal --catalog <catalog>` to.
#[must_use]
pub fn catalog_href(catalog: &str) -> String {
    format!("oscal-{catalog}.json")
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

/// A day's start (or end) in JST as RFC 3339.
fn jst_day(d: Date, end: bool) -> String {
    let time = if end { Time::from_hms(23, 59, 59).unwrap_or(Time::MIDNIGHT) } else { Time::MIDNIGHT };
    rfc3339(d.with_time(time).assume_offset(time::macros::offset!(+9)))
}

/// Sets a key of a JSON object (the values built here are objects).
fn set(object: &mut Value, key: &str, value: Value) {
    if let Some(o) = object.as_object_mut() {
        o.insert(key.to_owned(), value);
    }
}

fn status(state: ItemState) -> (&'static str, Option<&'static str>) {
    match state {
        ItemState::Done => ("satisfied", None),
        ItemState::NotStarted | ItemState::InProgress => ("not-satisfied", None),
        ItemState::NotApplicable => ("satisfied", Some("not-applicable")),
        // A state added later is not a confirmed satisfied.
        _ => ("not-satisfied", None),
    }
}

fn finding(input: &ReportInput, item: &ReportItem, observations: Vec<Value>) -> Value {
    let a = &input.assessment.id;
    let control = token(&item.id);
    let (state, implementation) = status(item.state);
    let mut target = json!({
        "type": "statement-id",
        "target-id": format!("{control}_smt"),
        "status": {"state": state},
    });
    if let Some(i) = implementation {
        set(&mut target, "implementation-status", json!({"state": i}));
    }
    let mut props = vec![
        json!({"name": "assessment-state", "ns": NS, "value": item.state.as_str()}),
        json!({"name": "label", "value": format!("{} {}", division(item), item.number)}),
    ];
    if let Some(d) = item.due_on {
        props.push(json!({"name": "due-on", "ns": NS, "value": d.to_string()}));
    }
    if let Some(d) = item.checked_on {
        props.push(json!({"name": "checked-on", "ns": NS, "value": d.to_string()}));
    }
    if let Some(d) = item.next_review {
        props.push(json!({"name": "next-review-on", "ns": NS, "value": d.to_string()}));
    }
    let mut f = json!({
        "uuid": uuid(a, &format!("finding/{}", item.id)),
        "title": format!("{} {} {}", division(item), item.number, item.state.label_ja()),
        "description": item.text,
        "props": props,
        "target": target,
        "related-observations": observations
            .iter()
            .filter_map(|o| o.get("uuid").cloned())
            .map(|u| json!({"observation-uuid": u}))
            .collect::<Vec<_>>(),
    });
    if !item.notes.is_empty() {
        set(&mut f, "remarks", json!(item.notes));
    }
    if observations.is_empty()
        && let Some(o) = f.as_object_mut()
    {
        o.remove("related-observations");
    }
    f
}

fn observations(input: &ReportInput, item: &ReportItem) -> Vec<Value> {
    let a = &input.assessment.id;
    let collected = rfc3339(input.generated_at);
    let mut out: Vec<Value> = item
        .evidence
        .iter()
        .map(|e| {
            let mut props = vec![
                json!({"name": "item", "ns": NS, "value": item.id}),
                json!({"name": "revision", "ns": NS, "value": e.revision.to_string()}),
            ];
            if let Some(d) = e.effective {
                props.push(json!({"name": "effective-on", "ns": NS, "value": d.to_string()}));
            }
            if let Some(d) = e.expires {
                props.push(json!({"name": "expires-on", "ns": NS, "value": d.to_string()}));
            }
            let evidence = match &e.kind {
                EvidenceRef::Link { url } => json!({"href": url, "description": e.title}),
                EvidenceRef::File { name, sha256 } => {
                    props.push(json!({"name": "file-name", "ns": NS, "value": name}));
                    props.push(json!({"name": "sha-256", "ns": NS, "value": sha256}));
                    json!({"description": format!("{}（{name}, SHA-256 {sha256}）", e.title)})
                }
            };
            let mut o = json!({
                "uuid": uuid(a, &format!("evidence/{}/{}", e.id, e.revision)),
                "title": e.title,
                "description": format!("{} の根拠資料（第{}版）", item.id, e.revision),
                "props": props,
                "methods": ["EXAMINE"],
                "types": ["control-objective"],
                "relevant-evidence": [evidence],
                "collected": collected,
            });
            if let Some(d) = e.expires {
                set(&mut o, "expires", json!(jst_day(d, true)));
            }
            o
        })
        .collect();
    if !item.live.is_empty() {
        out.push(json!({
            "uuid": uuid(a, &format!("live/{}", item.id)),
            "title": format!("{} mamori のデータによる証跡", item.id),
            "description": item.live.join("\n"),
            "props": [{"name": "item", "ns": NS, "value": item.id}],
            "methods": ["AUTOMATED"],
            "types": ["control-objective"],
            "collected": collected,
        }));
    }
    out
}

/// The report as an OSCAL assessment-results document. `catalog_href` is where the catalog
/// export is (see [`catalog_href`]).
#[must_use]
pub fn oscal_assessment_results(input: &ReportInput, catalog_href: &str) -> Value {
    let a = &input.assessment;
    let party = uuid(&a.id, "party/institution");
    let mut all_observations = Vec::new();
    let mut findings = Vec::new();
    for item in &input.items {
        let obs = observations(input, item);
        findings.push(finding(input, item, obs.clone()));
        all_observations.extend(obs);
    }
    let controls: Vec<Value> = input.items.iter().map(|i| json!({"control-id": token(&i.id)})).collect();
    let mut result = json!({
        "uuid": uuid(&a.id, "result"),
        "title": format!("{}（{} 〜 {}）", a.title, a.period_start, a.period_end),
        "description": format!("{} の自己点検: {}", input.institution_name, a.catalog_title),
        "start": jst_day(a.period_start, false),
        "end": jst_day(a.period_end, true),
        "props": [{"name": "assessment-id", "ns": NS, "value": a.id}],
        "reviewed-controls": {"control-selections": [{"include-controls": controls}]},
        "findings": findings,
    });
    if !all_observations.is_empty() {
        set(&mut result, "observations", json!(all_observations));
    }
    json!({
        "assessment-results": {
            "uuid": uuid(&a.id, "assessment-results"),
            "metadata": {
                "title": format!("{} — {}", a.title, input.institution_name),
                "last-modified": rfc3339(input.generated_at),
                "version": a.id,
                "oscal-version": OSCAL_VERSION,
                "props": [
                    {"name": "catalog-id", "ns": NS, "value": a.catalog},
                    {"name": "assessment-id", "ns": NS, "value": a.id}
                ],
                "roles": [{"id": "assessor", "title": "Assessor"}],
                "parties": [{"uuid": party, "type": "organization", "name": input.institution_name}],
                "responsible-parties": [{"role-id": "assessor", "party-uuids": [party]}]
            },
            "import-ap": {"href": catalog_href},
            "results": [result],
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::sample;

    #[test]
    fn every_item_is_a_finding_on_its_catalog_control_with_the_state_as_status() {
        let input = sample::input();
        let doc = oscal_assessment_results(&input, &catalog_href("hoshu-7.0"));
        let ar = &doc["assessment-results"];
        assert_eq!(ar["metadata"]["oscal-version"], "1.1.3");
        assert_eq!(ar["import-ap"]["href"], "oscal-hoshu-7.0.json");
        let result = &ar["results"][0];
        let controls = result["reviewed-controls"]["control-selections"][0]["include-controls"].as_array().unwrap();
        assert!(controls.iter().any(|c| c["control-id"] == "hoshu-7.0_9-4"));
        assert_eq!(controls.len(), 4);
        let findings = result["findings"].as_array().unwrap();
        let by = |id: &str| findings.iter().find(|f| f["target"]["target-id"] == format!("{id}_smt")).unwrap();
        assert_eq!(by("hoshu-7.0_9-4")["target"]["status"]["state"], "satisfied");
        assert_eq!(by("hoshu-7.0_1.1-1")["target"]["status"]["state"], "not-satisfied", "対応中");
        assert_eq!(by("hoshu-7.0_1.2-1")["target"]["status"]["state"], "not-satisfied", "未着手");
        let na = by("hoshu-7.0_9-5");
        assert_eq!(na["target"]["status"]["state"], "satisfied");
        assert_eq!(na["target"]["implementation-status"]["state"], "not-applicable");
        assert_eq!(na["remarks"], "院内にオンプレミスのサーバはない");
        // Evidence: a file by hash, a link by URL, the live evidence, all tied to 9-4's finding.
        let obs = result["observations"].as_array().unwrap();
        assert_eq!(obs.len(), 3);
        let text = serde_json::to_string(&obs).unwrap();
        assert!(text.contains(&"ab".repeat(32)) && text.contains("https://example.jp/policy.pdf"));
        let related = by("hoshu-7.0_9-4")["related-observations"].as_array().unwrap();
        assert_eq!(related.len(), 3);
        for o in obs {
            assert!(related.iter().any(|r| r["observation-uuid"] == o["uuid"]));
        }
        assert!(by("hoshu-7.0_1.2-1").get("related-observations").is_none(), "no empty arrays (OSCAL minItems 1)");
    }

    #[test]
    fn uuids_are_stable_for_an_assessment_and_differ_between_assessments() {
        let input = sample::input();
        let one = oscal_assessment_results(&input, "x");
        let two = oscal_assessment_results(&input, "x");
        assert_eq!(one, two);
        let ar = &one["assessment-results"];
        let id = ar["uuid"].as_str().unwrap();
        assert_eq!(Uuid::parse_str(id).unwrap().get_version_num(), 5);
        let mut uuids = vec![id.to_owned(), ar["results"][0]["uuid"].as_str().unwrap().to_owned()];
        for f in ar["results"][0]["findings"].as_array().unwrap() {
            uuids.push(f["uuid"].as_str().unwrap().to_owned());
        }
        let n = uuids.len();
        uuids.sort();
        uuids.dedup();
        assert_eq!(uuids.len(), n, "every object has its own UUID");
        let mut other = input.clone();
        other.assessment.id = "0191a3c0-2222-7000-8000-00000000abcd".into();
        let three = oscal_assessment_results(&other, "x");
        assert_ne!(three["assessment-results"]["uuid"], ar["uuid"]);
        // Known answers (computed independently with Python's uuid.uuid5), so a change of the
        // derivation shows: exports made before and after must keep their UUIDs.
        assert_eq!(namespace().to_string(), "4ce17971-6424-583d-b261-e833f3f8fa16");
        assert_eq!(uuid("a", "b"), "a1b10f67-9be1-5572-9c27-04889c8c59ff");
    }
}
