//! A catalog as an OSCAL 1.1 catalog (JSON): one group per section, one control per item, its
//! text as the `statement` part and its commentary as the `guidance` part.
//!
//! OSCAL IDs are tokens (a letter or `_` first, then letters, digits, `.`, `-`, `_`), so an
//! item's ID `hoshu-7.0/9-4` becomes the control ID `hoshu-7.0_9-4`; the ID as mamori writes it
//! and the number as printed are kept as properties (`mamori-id`, `label`).

use crate::Catalog;
use serde_json::{Value, json};

/// The OSCAL version written.
pub const OSCAL_VERSION: &str = "1.1.2";

/// The namespace of mamori's own properties.
pub const NS: &str = "https://mamori.example/ns/oscal";

/// An OSCAL token from a mamori ID: `/` and anything else outside the token's characters
/// become `_`; a first character that is not a letter or `_` gets a `_` before it.
#[must_use]
pub fn token(id: &str) -> String {
    let mut out: String =
        id.chars().map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    if !out.starts_with(|c: char| c.is_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

/// The catalog as an OSCAL catalog document. `uuid` is the document's UUID (v4, made by the
/// caller from its random source) and `last_modified` an RFC 3339 time.
#[must_use]
pub fn catalog(c: &Catalog, uuid: &str, last_modified: &str) -> Value {
    let groups: Vec<Value> = c
        .sections
        .iter()
        .map(|s| {
            let controls: Vec<Value> = c
                .items
                .iter()
                .filter(|i| i.section == s.number)
                .map(|i| {
                    let id = token(&i.id);
                    let mut parts = vec![json!({"id": format!("{id}_smt"), "name": "statement", "prose": i.text})];
                    if let Some(g) = &i.commentary {
                        parts.push(json!({"id": format!("{id}_gdn"), "name": "guidance", "prose": g}));
                    }
                    let mut props = vec![
                        json!({"name": "label", "value": i.number}),
                        json!({"name": "mamori-id", "ns": NS, "value": i.id}),
                    ];
                    if let Some(g) = &i.guideline_section {
                        props.push(json!({"name": "guideline-section", "ns": NS, "value": g}));
                    }
                    json!({"id": id, "title": format!("{} {}", i.number, first_line(&i.text)), "props": props, "parts": parts})
                })
                .collect();
            json!({
                "id": token(&format!("{}-s{}", c.catalog.id, s.number)),
                "class": "section",
                "title": s.title,
                "props": [{"name": "label", "value": s.number}],
                "controls": controls,
            })
        })
        .collect();
    json!({
        "catalog": {
            "uuid": uuid,
            "metadata": {
                "title": c.catalog.title,
                "last-modified": last_modified,
                "version": c.catalog.source.version,
                "oscal-version": OSCAL_VERSION,
                "props": [
                    {"name": "source-document", "ns": NS, "value": c.catalog.source.document},
                    {"name": "source-published", "ns": NS, "value": c.catalog.source.published},
                    {"name": "catalog-id", "ns": NS, "value": c.catalog.id}
                ],
                "parties": [{"uuid": party_uuid(uuid), "type": "organization", "name": c.catalog.source.publisher}],
                "roles": [{"id": "creator", "title": "Creator"}],
                "responsible-parties": [{"role-id": "creator", "party-uuids": [party_uuid(uuid)]}]
            },
            "groups": groups,
        }
    })
}

/// A control's title: the first line of its text, at most 80 characters.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().chars().take(80).collect()
}

/// The publisher's party UUID: the document's UUID with its last hex digit turned (still a v4
/// UUID, distinct from the document's).
fn party_uuid(uuid: &str) -> String {
    let mut chars: Vec<char> = uuid.chars().collect();
    if let Some(last) = chars.last_mut() {
        *last = if *last == '0' { '1' } else { '0' };
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn ids_become_tokens() {
        assert_eq!(token("hoshu-7.0/9-4"), "hoshu-7.0_9-4");
        assert_eq!(token("mds-7.0/21.1"), "mds-7.0_21.1");
        assert_eq!(token("1-2"), "_1-2");
    }
}
