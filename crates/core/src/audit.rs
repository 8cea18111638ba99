//! Audit events (MDS 4.3, SDS 17.3): who did what to which resource, when, where, and whether
//! it was allowed — and their canonical encoding as leaves of the institution's log.
//!
//! **A leaf** is the canonical JSON (RFC 8785 form: object keys sorted, no whitespace, only
//! strings, integers, booleans and null) of one event, tagged `"kind":"audit"`, UTF-8 encoded;
//! it holds identifiers and digests, never patient content. [`AuditEvent::to_leaf`] and
//! [`AuditEvent::from_leaf`] are exact inverses, so the stored bytes are the event and the
//! searchable columns ([`AuditColumns`]) are derived from them.

use crate::authz::Category;
use crate::{InstitutionId, Message, PatientId, Role, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The leaf format's version.
pub const LEAF_VERSION: u32 = 1;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Actor {
    /// A user of the institution, with the roles they held then.
    User {
        /// The user.
        user: UserId,
        /// Their roles at the time.
        roles: Vec<Role>,
    },
    /// Someone who has not proved who they are (a failed login for an unknown ID).
    Anonymous,
    /// The operator at the server's command line (`mamori …`).
    Operator,
    /// mamori itself (a scheduled job, a timeout).
    System,
}

impl Actor {
    /// The user, if the actor is one.
    #[must_use]
    pub fn user(&self) -> Option<UserId> {
        match self {
            Self::User { user, .. } => Some(*user),
            _ => None,
        }
    }
}

/// Whether the action was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Allowed,
    /// Refused by a rule (authorization, authentication, validation).
    Denied,
    /// Failed on the way.
    Error,
}

impl Outcome {
    /// Stable text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Error => "error",
        }
    }

    /// From stable text.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Allowed, Self::Denied, Self::Error].into_iter().find(|o| o.as_str() == s)
    }
}

/// Where the request came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The client IP address.
    pub ip: Option<String>,
    /// SHA-256 of the client (terminal) certificate, if one was presented.
    pub client_cert_sha256: Option<String>,
    /// The request's id (`x-request-id`).
    pub request_id: Option<String>,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// Always `"audit"` (record versions are another kind of leaf).
    pub kind: String,
    /// The leaf format's version ([`LEAF_VERSION`]).
    pub v: u32,
    /// The institution whose log it is in.
    pub institution: InstitutionId,
    /// When (UTC, RFC 3339 with microseconds).
    #[serde(with = "rfc3339_micros")]
    pub at: OffsetDateTime,
    /// Who.
    pub actor: Actor,
    /// What (a stable name such as `login`, `user.create`, `record.read`).
    pub action: String,
    /// On what (`user:<id>`, `terminal:<name>`, `record:<id>`…), if anything.
    pub resource: Option<String>,
    /// The information category, for clinical data.
    pub category: Option<String>,
    /// The patient, if the action concerns one.
    pub patient: Option<PatientId>,
    /// Allowed, denied or error.
    pub outcome: Outcome,
    /// Where from.
    pub origin: Origin,
    /// Stable codes and digests that qualify the event (e.g. `reason_sha256`, `basis`), never
    /// patient content or secrets.
    pub detail: std::collections::BTreeMap<String, String>,
}

/// The columns the store indexes for search, derived from an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditColumns {
    /// When.
    pub at: OffsetDateTime,
    /// The acting user, if any.
    pub actor: Option<UserId>,
    /// The patient, if any.
    pub patient: Option<PatientId>,
    /// The action.
    pub action: String,
    /// The outcome.
    pub outcome: Outcome,
    /// The category, if any.
    pub category: Option<String>,
}

/// A leaf to append: its exact bytes and the columns to index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The leaf's bytes (hashed as `SHA-256(0x00 ‖ leaf)`).
    pub leaf: Vec<u8>,
    /// The searchable columns.
    pub columns: AuditColumns,
}

/// A stable action name: lower-case ASCII letters, digits, `_` and `.`, 1–64 characters.
fn action_ok(action: &str) -> bool {
    (1..=64).contains(&action.len())
        && action.starts_with(|c: char| c.is_ascii_lowercase())
        && action.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
}

impl AuditEvent {
    /// A new event at `at` (truncated to microseconds) with no resource, category, patient,
    /// origin or detail; set those fields as needed.
    #[must_use]
    pub fn new(institution: InstitutionId, at: OffsetDateTime, actor: Actor, action: &str, outcome: Outcome) -> Self {
        Self {
            kind: "audit".to_owned(),
            v: LEAF_VERSION,
            institution,
            at: crate::clock::to_micros(at),
            actor,
            action: action.to_owned(),
            resource: None,
            category: None,
            patient: None,
            outcome,
            origin: Origin::default(),
            detail: std::collections::BTreeMap::new(),
        }
    }

    /// With a category.
    #[must_use]
    pub fn category(mut self, category: &Category) -> Self {
        self.category = Some(category.as_str().to_owned());
        self
    }

    /// With a resource.
    #[must_use]
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// With a patient.
    #[must_use]
    pub fn patient(mut self, patient: PatientId) -> Self {
        self.patient = Some(patient);
        self
    }

    /// With one detail.
    #[must_use]
    pub fn detail(mut self, key: &str, value: impl Into<String>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }

    /// With where the request came from.
    #[must_use]
    pub fn origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// The leaf: canonical JSON (keys sorted, no whitespace).
    ///
    /// # Errors
    /// A bilingual message when the event breaks the leaf's rules (an action name that is not
    /// stable text, a kind other than `audit`).
    pub fn to_leaf(&self) -> Result<Vec<u8>, Message> {
        if self.kind != "audit" || self.v != LEAF_VERSION || !action_ok(&self.action) {
            return Err(Message::new("監査イベントの形式が正しくありません。", "the audit event is malformed"));
        }
        // A `Value` keeps object keys in a BTreeMap (serde_json without `preserve_order`), so
        // serializing it sorts every object's keys: the canonical form.
        let value = serde_json::to_value(self)
            .map_err(|_| Message::new("監査イベントを符号化できません。", "cannot encode the audit event"))?;
        serde_json::to_vec(&value)
            .map_err(|_| Message::new("監査イベントを符号化できません。", "cannot encode the audit event"))
    }

    /// Reads a leaf back, refusing any bytes that are not exactly the canonical form of an
    /// event (so a leaf has one meaning).
    ///
    /// # Errors
    /// A bilingual message when the bytes are not a canonical audit leaf.
    pub fn from_leaf(leaf: &[u8]) -> Result<Self, Message> {
        let refused = || Message::new("監査ログの葉を読めません。", "not a canonical audit leaf");
        let event: Self = serde_json::from_slice(leaf).map_err(|_| refused())?;
        if event.to_leaf().map_err(|_| refused())? != leaf {
            return Err(refused());
        }
        Ok(event)
    }

    /// The leaf and its searchable columns.
    ///
    /// # Errors
    /// As [`AuditEvent::to_leaf`].
    pub fn entry(&self) -> Result<LogEntry, Message> {
        Ok(LogEntry { leaf: self.to_leaf()?, columns: self.columns() })
    }

    /// The searchable columns.
    #[must_use]
    pub fn columns(&self) -> AuditColumns {
        AuditColumns {
            at: self.at,
            actor: self.actor.user(),
            patient: self.patient,
            action: self.action.clone(),
            outcome: self.outcome,
            category: self.category.clone(),
        }
    }
}

/// The `kind` of a leaf (`audit`, later `record`), if it is a JSON object that names one.
#[must_use]
pub fn leaf_kind(leaf: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Kind {
        kind: String,
    }
    serde_json::from_slice::<Kind>(leaf).ok().map(|k| k.kind)
}

/// What an auditor asks for: every field narrows the search; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// At or after.
    pub from: Option<OffsetDateTime>,
    /// Before.
    pub until: Option<OffsetDateTime>,
    /// By this user.
    pub actor: Option<UserId>,
    /// About this patient.
    pub patient: Option<PatientId>,
    /// This action.
    pub action: Option<String>,
    /// This outcome.
    pub outcome: Option<Outcome>,
    /// Only leaves with an index below this (paging backwards).
    pub before_index: Option<u64>,
    /// At most this many (1–1000).
    pub limit: u32,
}

/// The log's current tree head as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHead {
    /// How many leaves.
    pub size: u64,
    /// The root hash (SHA-256 of the empty string for an empty log).
    pub root: [u8; 32],
}

mod rfc3339_micros {
    use super::Rfc3339;
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let t = t.to_offset(time::UtcOffset::UTC);
        let text = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        );
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::datetime;
    use uuid::Uuid;

    fn event() -> AuditEvent {
        AuditEvent::new(
            InstitutionId::from_uuid(Uuid::from_u128(1)),
            datetime!(2026-11-25 09:00:00.123456789 UTC),
            Actor::User { user: UserId::from_uuid(Uuid::from_u128(2)), roles: vec![Role::Doctor] },
            "record.read",
            Outcome::Allowed,
        )
        .patient(PatientId::from_uuid(Uuid::from_u128(3)))
        .category(&Category::CLINICAL_RECORD)
        .detail("basis", "role:doctor")
    }

    #[test]
    fn a_leaf_is_canonical_json_with_sorted_keys() {
        let leaf = event().to_leaf().unwrap();
        let text = String::from_utf8(leaf.clone()).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"action":"record.read","actor":{"kind":"user","roles":["doctor"],"user":"00000000-0000-0000-0000-000000000002"},"#,
                r#""at":"2026-11-25T09:00:00.123456Z","category":"clinical_record","detail":{"basis":"role:doctor"},"#,
                r#""institution":"00000000-0000-0000-0000-000000000001","kind":"audit","origin":{"client_cert_sha256":null,"ip":null,"request_id":null},"#,
                r#""outcome":"allowed","patient":"00000000-0000-0000-0000-000000000003","resource":null,"v":1}"#
            )
        );
        assert_eq!(AuditEvent::from_leaf(&leaf).unwrap(), event().clone());
    }

    #[test]
    fn only_the_canonical_bytes_read_back() {
        let leaf = event().to_leaf().unwrap();
        let spaced = String::from_utf8(leaf).unwrap().replacen(":", ": ", 1);
        assert!(AuditEvent::from_leaf(spaced.as_bytes()).is_err());
        let mut bad = event();
        bad.action = "Record Read".into();
        assert!(bad.to_leaf().is_err());
        assert!(AuditEvent::from_leaf(br#"{"kind":"record"}"#).is_err());
    }

    #[test]
    fn columns_follow_the_event() {
        let c = event().columns();
        assert_eq!(c.actor, Some(UserId::from_uuid(Uuid::from_u128(2))));
        assert_eq!(c.action, "record.read");
        assert_eq!(c.outcome, Outcome::Allowed);
        assert_eq!(c.at, datetime!(2026-11-25 09:00:00.123456 UTC));
        assert_eq!(Outcome::parse("denied"), Some(Outcome::Denied));
    }
}
