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
    /// A registered device sending results (MDS 17).
    Device {
        /// The device.
        device: crate::DeviceId,
    },
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
    /// What the leaf is.
    pub kind: LeafKind,
    /// The searchable columns.
    pub columns: AuditColumns,
}

impl LogEntry {
    /// A record leaf ([`crate::record::RecordVersion::entry`]) with its columns.
    #[must_use]
    pub fn record(leaf: Vec<u8>, columns: AuditColumns) -> Self {
        Self { leaf, kind: LeafKind::Record, columns }
    }
}

/// The kinds of leaf mamori writes: the `kind` field of the leaf and the `kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeafKind {
    /// An audit event ([`AuditEvent`]).
    Audit,
    /// A finalized record version ([`crate::record::RecordVersion`]).
    Record,
}

impl LeafKind {
    /// The stored text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Audit => "audit",
            Self::Record => "record",
        }
    }

    /// The kind of a stored text.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "audit" => Some(Self::Audit),
            "record" => Some(Self::Record),
            _ => None,
        }
    }
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
        Ok(LogEntry { leaf: self.to_leaf()?, kind: LeafKind::Audit, columns: self.columns() })
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

/// UTC time as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (the leaf's and the exports' form).
#[must_use]
pub fn format_micros(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

mod rfc3339_micros {
    use super::Rfc3339;
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_micros(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
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
    fn the_fhir_form_has_the_required_audit_event_fields() {
        let e = event();
        let fhir = export::to_fhir(&e, 7, "mamori@localhost");
        assert_eq!(fhir["resourceType"], "AuditEvent");
        assert_eq!(fhir["id"], "00000000-0000-0000-0000-000000000001-7");
        assert_eq!(fhir["type"]["code"], "110110");
        assert_eq!(fhir["action"], "R");
        assert_eq!(fhir["recorded"], "2026-11-25T09:00:00.123456Z");
        assert_eq!(fhir["outcome"], "0");
        assert_eq!(fhir["agent"][0]["requestor"], true);
        assert_eq!(fhir["agent"][0]["who"]["identifier"]["value"], "00000000-0000-0000-0000-000000000002");
        assert_eq!(fhir["agent"][0]["role"][0]["coding"][0]["code"], "doctor");
        assert_eq!(fhir["source"]["observer"]["display"], "mamori@localhost");
        assert_eq!(fhir["entity"][0]["what"]["identifier"]["value"], "00000000-0000-0000-0000-000000000003");
        let mut login = e.clone();
        login.action = "login".into();
        login.outcome = Outcome::Denied;
        login.patient = None;
        let fhir = export::to_fhir(&login, 0, "m");
        assert_eq!(fhir["type"]["code"], "110114");
        assert_eq!(fhir["subtype"][1]["code"], "110122");
        assert_eq!(fhir["action"], "E");
        assert_eq!(fhir["outcome"], "4");
        assert!(fhir.get("entity").is_none());
    }

    #[test]
    fn the_syslog_form_is_one_rfc5424_line() {
        let mut e = event();
        e.resource = Some("term]inal:\"a\"".into());
        e.origin.request_id = Some("req-1".into());
        let leaf = e.to_leaf().unwrap();
        let line = export::to_syslog(&e, 7, "clinic host", &leaf);
        let expected_head = concat!(
            "<110>1 2026-11-25T09:00:00.123456Z clinic_host mamori - record.read ",
            "[mamori@32473 institution=\"00000000-0000-0000-0000-000000000001\" index=\"7\" outcome=\"allowed\" ",
            "user=\"00000000-0000-0000-0000-000000000002\" patient=\"00000000-0000-0000-0000-000000000003\" ",
            "resource=\"term\\]inal:\\\"a\\\"\" request_id=\"req-1\"] {"
        );
        assert!(line.starts_with(expected_head), "{line}");
        assert!(line.ends_with('}') && !line.contains('\n'));
        e.outcome = Outcome::Denied;
        assert!(export::to_syslog(&e, 7, "h", &leaf).starts_with("<108>1 "));
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

/// FHIR R4 and RFC 5424 forms of an event, for export to other systems.
pub mod export {
    use super::{Actor, AuditEvent, Outcome};
    use serde_json::{Map, Value, json};

    /// DICOM audit event type (DCM, PS3.16 CID 400) for an action.
    fn event_type(action: &str) -> (&'static str, &'static str) {
        let prefix = action.split('.').next().unwrap_or_default();
        match prefix {
            "login" | "logout" | "session" | "reauthenticate" | "password" => ("110114", "User Authentication"),
            "audit" => ("110101", "Audit Log Used"),
            "role" | "category" => ("110136", "Security Roles Changed"),
            "user" | "factor" => ("110137", "User Security Attributes Changed"),
            "emergency" | "sealed_account" => ("110113", "Security Alert"),
            "record" | "patient" => ("110110", "Patient Record"),
            _ => ("110100", "Application Activity"),
        }
    }

    /// FHIR AuditEvent.action: C, R, U, D or E.
    fn fhir_action(action: &str) -> &'static str {
        let verb = action.rsplit('.').next().unwrap_or_default();
        match verb {
            "read" | "search" | "export" | "print" => "R",
            "create" | "add" | "issue" | "grant" | "seal" => "C",
            "status" | "set" | "change" | "unlock" | "review" | "activate" | "close" | "revoke" | "register" => "U",
            "remove" | "delete" => "D",
            _ => "E",
        }
    }

    /// The FHIR R4 `AuditEvent` resource for the event at `index` of its institution's log.
    #[must_use]
    pub fn to_fhir(event: &AuditEvent, index: u64, observer: &str) -> Value {
        let (code, display) = event_type(&event.action);
        let mut subtype = vec![json!({"system": "urn:mamori:audit-action", "code": event.action})];
        if event.action == "login" {
            subtype.push(
                json!({"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110122", "display": "Login"}),
            );
        } else if event.action == "logout" {
            subtype.push(json!({"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110123", "display": "Logout"}));
        }
        let outcome = match event.outcome {
            Outcome::Allowed => "0",
            Outcome::Denied => "4",
            Outcome::Error => "8",
        };
        let who = match &event.actor {
            Actor::User { user, .. } => json!({"identifier": {"system": "urn:mamori:user", "value": user.to_string()}}),
            Actor::Anonymous => json!({"display": "anonymous"}),
            Actor::Operator => json!({"display": "operator"}),
            Actor::System => json!({"display": "mamori"}),
            Actor::Device { device } => {
                json!({"identifier": {"system": "urn:mamori:device", "value": device.to_string()}})
            }
        };
        let mut agent = Map::new();
        agent.insert("who".into(), who);
        agent.insert("requestor".into(), Value::Bool(!matches!(event.actor, Actor::System)));
        if let Actor::User { roles, .. } = &event.actor {
            let roles = roles.iter().map(|r| json!({"coding": [{"system": "urn:mamori:role", "code": r.as_str()}]}));
            agent.insert("role".into(), Value::Array(roles.collect()));
        }
        if let Some(ip) = &event.origin.ip {
            agent.insert("network".into(), json!({"address": ip, "type": "2"}));
        }
        let mut entity = Vec::new();
        if let Some(patient) = event.patient {
            entity.push(json!({
                "what": {"identifier": {"system": "urn:mamori:patient", "value": patient.to_string()}},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
                "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}
            }));
        }
        if let Some(resource) = &event.resource {
            let mut e = Map::new();
            e.insert("what".into(), json!({"identifier": {"system": "urn:mamori:resource", "value": resource}}));
            e.insert(
                "type".into(),
                json!({"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"}),
            );
            if let Some(category) = &event.category {
                e.insert("securityLabel".into(), json!([{"system": "urn:mamori:category", "code": category}]));
            }
            entity.push(Value::Object(e));
        }
        let mut resource = Map::new();
        resource.insert("resourceType".into(), json!("AuditEvent"));
        resource.insert("id".into(), json!(format!("{}-{index}", event.institution)));
        resource.insert(
            "type".into(),
            json!({"system": "http://dicom.nema.org/resources/ontology/DCM", "code": code, "display": display}),
        );
        resource.insert("subtype".into(), Value::Array(subtype));
        resource.insert("action".into(), json!(fhir_action(&event.action)));
        resource.insert("recorded".into(), json!(super::format_micros(event.at)));
        resource.insert("outcome".into(), json!(outcome));
        resource.insert("agent".into(), Value::Array(vec![Value::Object(agent)]));
        resource
            .insert("source".into(), json!({"site": event.institution.to_string(), "observer": {"display": observer}}));
        if !entity.is_empty() {
            resource.insert("entity".into(), Value::Array(entity));
        }
        if let Some(request_id) = &event.origin.request_id {
            resource.insert("extension".into(), json!([{"url": "urn:mamori:request-id", "valueString": request_id}]));
        }
        Value::Object(resource)
    }

    /// An RFC 5424 structured-data parameter value: `"`, `\` and `]` escaped (§6.3.3).
    fn sd_value(raw: &str) -> String {
        let mut out = String::with_capacity(raw.len());
        for c in raw.chars() {
            if matches!(c, '"' | '\\' | ']') {
                out.push('\\');
            }
            out.push(c);
        }
        out
    }

    /// RFC 5424 header fields are printable US-ASCII without spaces (§6): anything else
    /// becomes `_`; empty becomes the NILVALUE `-`; at most `max` characters.
    fn header_field(raw: &str, max: usize) -> String {
        let cleaned: String = raw.chars().take(max).map(|c| if ('!'..='~').contains(&c) { c } else { '_' }).collect();
        if cleaned.is_empty() { "-".to_owned() } else { cleaned }
    }

    /// One RFC 5424 syslog line (no trailing newline) for the event at `index`: facility 13
    /// (log audit), severity informational / warning / error by outcome, APP-NAME `mamori`,
    /// MSGID the action, structured data `mamori@32473` (the documentation enterprise number
    /// of RFC 5612), and the leaf's canonical JSON as the message.
    #[must_use]
    pub fn to_syslog(event: &AuditEvent, index: u64, hostname: &str, leaf: &[u8]) -> String {
        let severity = match event.outcome {
            Outcome::Allowed => 6,
            Outcome::Denied => 4,
            Outcome::Error => 3,
        };
        let pri = 13 * 8 + severity;
        let mut sd = format!(
            "[mamori@32473 institution=\"{}\" index=\"{index}\" outcome=\"{}\"",
            event.institution,
            event.outcome.as_str()
        );
        if let Some(user) = event.actor.user() {
            sd.push_str(&format!(" user=\"{user}\""));
        }
        if let Some(patient) = event.patient {
            sd.push_str(&format!(" patient=\"{patient}\""));
        }
        if let Some(resource) = &event.resource {
            sd.push_str(&format!(" resource=\"{}\"", sd_value(resource)));
        }
        if let Some(ip) = &event.origin.ip {
            sd.push_str(&format!(" ip=\"{}\"", sd_value(ip)));
        }
        if let Some(request_id) = &event.origin.request_id {
            sd.push_str(&format!(" request_id=\"{}\"", sd_value(request_id)));
        }
        sd.push(']');
        format!(
            "<{pri}>1 {} {} mamori - {} {sd} {}",
            super::format_micros(event.at),
            header_field(hostname, 255),
            header_field(&event.action, 32),
            String::from_utf8_lossy(leaf)
        )
    }
}

/// The anomaly report an auditor reviews (MDS 4.3.2 commentary): access outside business
/// hours, repeated refusals, and every use of emergency access. (Opening one's own chart or a
/// same-surname patient's needs patient identities and joins with the records.)
pub mod anomaly {
    use super::{AuditEvent, Outcome};
    use crate::UserId;
    use std::collections::BTreeMap;
    use time::OffsetDateTime;

    /// Business hours in Japan time, `[from, until)` hours, Monday to Saturday.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct BusinessHours {
        /// First hour inside (0–23).
        pub from: u8,
        /// First hour outside (1–24).
        pub until: u8,
    }

    impl Default for BusinessHours {
        fn default() -> Self {
            Self { from: 7, until: 21 }
        }
    }

    /// Who is who, for the same-person checks: a user's display name (family name first) and
    /// a patient's name as written.
    pub struct Names<'a> {
        /// The acting user's display name.
        pub user: &'a dyn Fn(UserId) -> Option<String>,
        /// The patient's (family, given) name as written.
        pub patient: &'a dyn Fn(crate::PatientId) -> Option<(String, String)>,
    }

    impl std::fmt::Debug for Names<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Names")
        }
    }

    /// What kind of pattern.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub enum Kind {
        /// A user opened a chart whose patient has the user's own full name.
        OwnChart,
        /// A user opened a chart whose patient has the user's family name.
        SameSurname,
        /// Emergency access was used (a grant, or a sealed account activated).
        EmergencyAccess,
        /// A user was refused several times.
        RepeatedDenials,
        /// A user acted outside business hours (or on a Sunday).
        AfterHours,
    }

    impl Kind {
        /// Stable text.
        #[must_use]
        pub const fn as_str(self) -> &'static str {
            match self {
                Self::OwnChart => "own_chart",
                Self::SameSurname => "same_surname",
                Self::EmergencyAccess => "emergency_access",
                Self::RepeatedDenials => "repeated_denials",
                Self::AfterHours => "after_hours",
            }
        }
    }

    /// One finding: a kind, the user, how many events and which (at most 50 indexes).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Finding {
        /// The pattern.
        pub kind: Kind,
        /// The user (None for events without a user).
        pub user: Option<UserId>,
        /// How many events.
        pub count: u32,
        /// The first event's time.
        pub first: OffsetDateTime,
        /// The last event's time.
        pub last: OffsetDateTime,
        /// The events' log indexes (first 50).
        pub indexes: Vec<u64>,
    }

    const MAX_INDEXES: usize = 50;

    fn after_hours(at: OffsetDateTime, hours: BusinessHours) -> bool {
        let jst = at.to_offset(time::macros::offset!(+9));
        jst.weekday() == time::Weekday::Sunday || jst.hour() < hours.from || jst.hour() >= hours.until
    }

    /// The family name of a display name written family name first ("山田 花子" → "山田").
    fn family_of(display: &str) -> &str {
        display.split_whitespace().next().unwrap_or_default()
    }

    fn compact(text: &str) -> String {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    }

    /// Finds the patterns in `events` (any order). Actions by mamori itself (idle locks, the
    /// end of a logon window) are not a person's activity and are left out of the hours check.
    /// The same-person checks run when `names` is given.
    #[must_use]
    pub fn find(
        events: &[(u64, AuditEvent)],
        hours: BusinessHours,
        denial_threshold: u32,
        names: Option<&Names<'_>>,
    ) -> Vec<Finding> {
        let mut grouped: BTreeMap<(Kind, Option<UserId>), Finding> = BTreeMap::new();
        let mut add = |kind: Kind, user: Option<UserId>, index: u64, at: OffsetDateTime| {
            let f = grouped.entry((kind, user)).or_insert(Finding {
                kind,
                user,
                count: 0,
                first: at,
                last: at,
                indexes: Vec::new(),
            });
            f.count = f.count.saturating_add(1);
            f.first = f.first.min(at);
            f.last = f.last.max(at);
            if f.indexes.len() < MAX_INDEXES {
                f.indexes.push(index);
            }
        };
        for (index, e) in events {
            let user = e.actor.user();
            if matches!(e.action.as_str(), "emergency.grant" | "sealed_account.activate")
                && e.outcome == Outcome::Allowed
            {
                add(Kind::EmergencyAccess, user, *index, e.at);
            }
            if e.outcome == Outcome::Denied {
                add(Kind::RepeatedDenials, user, *index, e.at);
            }
            if user.is_some() && after_hours(e.at, hours) {
                add(Kind::AfterHours, user, *index, e.at);
            }
            if let (Some(names), Some(u), Some(p), Outcome::Allowed) = (names, user, e.patient, e.outcome)
                && let (Some(display), Some((family, given))) = ((names.user)(u), (names.patient)(p))
            {
                if compact(&display) == compact(&format!("{family}{given}")) {
                    add(Kind::OwnChart, user, *index, e.at);
                } else if !family.trim().is_empty() && family_of(&display) == family.trim() {
                    add(Kind::SameSurname, user, *index, e.at);
                }
            }
        }
        let mut out: Vec<Finding> =
            grouped.into_values().filter(|f| f.kind != Kind::RepeatedDenials || f.count >= denial_threshold).collect();
        for f in &mut out {
            f.indexes.sort_unstable();
        }
        out.sort_by(|a, b| a.kind.cmp(&b.kind).then(b.count.cmp(&a.count)));
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::audit::Actor;
        use crate::{InstitutionId, Role};
        use time::macros::datetime;
        use uuid::Uuid;

        fn ev(user: u128, action: &str, outcome: Outcome, at: OffsetDateTime) -> AuditEvent {
            AuditEvent::new(
                InstitutionId::from_uuid(Uuid::from_u128(1)),
                at,
                Actor::User { user: UserId::from_uuid(Uuid::from_u128(user)), roles: vec![Role::Nurse] },
                action,
                outcome,
            )
        }

        #[test]
        fn patterns_are_grouped_per_user() {
            let day = datetime!(2026-11-25 01:00 UTC); // 10:00 JST, a Wednesday
            let night = datetime!(2026-11-25 14:30 UTC); // 23:30 JST
            let events = vec![
                (0, ev(2, "login", Outcome::Allowed, day)),
                (1, ev(2, "login", Outcome::Allowed, night)),
                (2, ev(2, "audit.read", Outcome::Allowed, night)),
                (3, ev(3, "login.password", Outcome::Denied, day)),
                (4, ev(3, "login.password", Outcome::Denied, day)),
                (5, ev(4, "login.password", Outcome::Denied, day)),
                (6, ev(3, "login.password", Outcome::Denied, day)),
                (7, ev(5, "emergency.grant", Outcome::Allowed, day)),
                (
                    8,
                    AuditEvent::new(
                        InstitutionId::from_uuid(Uuid::from_u128(1)),
                        night,
                        Actor::System,
                        "session.lock",
                        Outcome::Allowed,
                    ),
                ),
            ];
            let found = find(&events, BusinessHours::default(), 3, None);
            let summary: Vec<(&str, Option<u128>, u32, Vec<u64>)> = found
                .iter()
                .map(|f| (f.kind.as_str(), f.user.map(|u| u.as_uuid().as_u128()), f.count, f.indexes.clone()))
                .collect();
            assert_eq!(
                summary,
                [
                    ("emergency_access", Some(5), 1, vec![7]),
                    ("repeated_denials", Some(3), 3, vec![3, 4, 6]),
                    ("after_hours", Some(2), 2, vec![1, 2]),
                ]
            );
            // A Sunday afternoon is outside business hours too.
            let sunday = vec![(0, ev(2, "login", Outcome::Allowed, datetime!(2026-11-29 05:00 UTC)))];
            assert_eq!(
                find(&sunday, BusinessHours::default(), 3, None).first().map(|f| f.kind),
                Some(Kind::AfterHours)
            );
        }

        #[test]
        fn opening_ones_own_or_a_same_surname_chart_is_found() {
            let day = datetime!(2026-11-25 01:00 UTC);
            let patient = |n: u128| crate::PatientId::from_uuid(Uuid::from_u128(n));
            let events = vec![
                (0, ev(2, "record.read", Outcome::Allowed, day).patient(patient(100))),
                (1, ev(2, "record.read", Outcome::Allowed, day).patient(patient(101))),
                (2, ev(2, "record.read", Outcome::Allowed, day).patient(patient(102))),
                (3, ev(3, "record.read", Outcome::Allowed, day).patient(patient(100))),
                (4, ev(2, "record.read", Outcome::Denied, day).patient(patient(100))),
            ];
            let user = |u: UserId| match u.as_uuid().as_u128() {
                2 => Some("山田 花子".to_owned()),
                3 => Some("佐藤 一郎".to_owned()),
                _ => None,
            };
            let patient_name = |p: crate::PatientId| match p.as_uuid().as_u128() {
                100 => Some(("山田".to_owned(), "花子".to_owned())),
                101 => Some(("山田".to_owned(), "太郎".to_owned())),
                102 => Some(("田中".to_owned(), "花子".to_owned())),
                _ => None,
            };
            let names = Names { user: &user, patient: &patient_name };
            let found = find(&events, BusinessHours::default(), 3, Some(&names));
            let summary: Vec<(&str, Option<u128>, Vec<u64>)> = found
                .iter()
                .map(|f| (f.kind.as_str(), f.user.map(|u| u.as_uuid().as_u128()), f.indexes.clone()))
                .collect();
            assert_eq!(summary, [("own_chart", Some(2), vec![0]), ("same_surname", Some(2), vec![1])]);
        }
    }
}
