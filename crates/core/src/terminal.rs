//! Registered terminals (MDS 15): PCs that hold a client certificate issued by the
//! institution's terminal CA. When the institution requires it, a login is accepted only over a
//! TLS connection that presented the certificate of a registered, unrevoked terminal.

use crate::{InstitutionId, Message, TerminalId};
use time::OffsetDateTime;

/// A terminal as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    /// Its institution.
    pub institution: InstitutionId,
    /// Its identifier.
    pub id: TerminalId,
    /// Its name, unique in the institution (e.g. `reception-1`).
    pub name: TerminalName,
    /// SHA-256 of its certificate (DER), as colon-separated upper-case hex.
    pub cert_sha256: String,
    /// When it was issued.
    pub issued_at: OffsetDateTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
}

/// A terminal's name: 1–64 characters of ASCII letters, digits, `.`, `_` and `-` (it names a
/// file and a certificate).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TerminalName(String);

impl TerminalName {
    /// Checks and wraps a name.
    ///
    /// # Errors
    /// A bilingual message when the name breaks the rules.
    pub fn parse(raw: &str) -> Result<Self, Message> {
        let ok = (1..=64).contains(&raw.len())
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && !raw.starts_with('.');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Message::new(
                "端末名は1〜64文字の英数字・. _ - にしてください（先頭に . は使えません）。",
                "a terminal name has 1 to 64 characters (A-Z, a-z, 0-9, '.', '_', '-') and does not start with '.'",
            ))
        }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a login over a connection with `client_cert` may proceed, given the institution's
/// setting and the terminal found for that certificate (if any). Pure.
#[must_use]
pub fn login_allowed(required: bool, client_cert: Option<&str>, terminal: Option<&Terminal>) -> bool {
    if !required {
        return true;
    }
    match (client_cert, terminal) {
        (Some(cert), Some(t)) => t.revoked_at.is_none() && t.cert_sha256 == cert,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn terminal(revoked: bool) -> Terminal {
        Terminal {
            institution: InstitutionId::from_uuid(uuid::Uuid::from_u128(1)),
            id: TerminalId::from_uuid(uuid::Uuid::from_u128(2)),
            name: TerminalName::parse("reception-1").unwrap(),
            cert_sha256: "AB:CD".into(),
            issued_at: time::OffsetDateTime::UNIX_EPOCH,
            revoked_at: revoked.then_some(time::OffsetDateTime::UNIX_EPOCH),
        }
    }

    #[test]
    fn only_a_registered_unrevoked_terminal_passes_when_required() {
        assert!(login_allowed(false, None, None));
        assert!(!login_allowed(true, None, None));
        assert!(!login_allowed(true, Some("AB:CD"), None));
        assert!(login_allowed(true, Some("AB:CD"), Some(&terminal(false))));
        assert!(!login_allowed(true, Some("AB:CD"), Some(&terminal(true))));
        assert!(!login_allowed(true, Some("EF:01"), Some(&terminal(false))));
    }

    #[test]
    fn terminal_names_are_checked() {
        assert!(TerminalName::parse("Reception_PC-2").is_ok());
        for bad in ["", ".hidden", "a b", "受付", "../x", &"a".repeat(65)] {
            assert!(TerminalName::parse(bad).is_err(), "{bad}");
        }
    }
}
