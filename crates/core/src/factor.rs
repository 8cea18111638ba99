//! Second factors as stored: TOTP enrollments and recovery-code hashes.

use time::OffsetDateTime;

/// A user's TOTP enrollment (RFC 6238, SHA-1, 30 s, 6 digits).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpRecord {
    /// The shared secret (20 random bytes).
    pub secret: Vec<u8>,
    /// Whether the user has proved possession with a first code (enrollment finished).
    pub confirmed: bool,
    /// The last time step whose code was accepted: a code for this step or an earlier one is
    /// never accepted again.
    pub last_used_step: Option<i64>,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRecord")
            .field("secret", &"***")
            .field("confirmed", &self.confirmed)
            .field("last_used_step", &self.last_used_step)
            .field("created_at", &self.created_at)
            .finish()
    }
}
