//! Bilingual user-facing messages: Japanese first, English second.

use std::fmt;

/// A message for a person, in Japanese and in English.
///
/// Messages never carry secrets or patient data: they name the field or the rule that was
/// broken and say what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The Japanese text (shown first).
    pub ja: String,
    /// The English text.
    pub en: String,
}

impl Message {
    /// A message from its two texts.
    pub fn new(ja: impl Into<String>, en: impl Into<String>) -> Self {
        Self { ja: ja.into(), en: en.into() }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / {}", self.ja, self.en)
    }
}
