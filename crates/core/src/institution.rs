//! Institutions (医療機関): the tenants.

use crate::{InstitutionId, Message};
use time::OffsetDateTime;

/// An institution's name, validated: 1 to 200 characters, no control characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstitutionName(String);

impl InstitutionName {
    /// Longest name accepted, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Checks and wraps a name.
    ///
    /// # Errors
    /// A bilingual message when the name is empty, too long or has control characters.
    pub fn parse(raw: &str) -> Result<Self, Message> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Message::new(
                "医療機関名が空です。名前を指定してください。",
                "the institution name is empty; give a name",
            ));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(Message::new(
                format!("医療機関名が長すぎます（{}文字以内）。", Self::MAX_CHARS),
                format!("the institution name is too long (at most {} characters)", Self::MAX_CHARS),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(Message::new(
                "医療機関名に制御文字は使えません。",
                "the institution name must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An institution as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Institution {
    /// Its identifier; part of the key of every row of its data.
    pub id: InstitutionId,
    /// Its name.
    pub name: InstitutionName,
    /// When it was created (UTC, microseconds).
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn institution_name_is_trimmed_and_checked() {
        assert_eq!(InstitutionName::parse("  まもり診療所 ").map(|n| n.0).ok(), Some("まもり診療所".to_owned()));
        assert!(InstitutionName::parse("   ").is_err());
        assert!(InstitutionName::parse("a\u{7}b").is_err());
        assert!(InstitutionName::parse(&"あ".repeat(201)).is_err());
        assert!(InstitutionName::parse(&"あ".repeat(200)).is_ok());
    }
}
