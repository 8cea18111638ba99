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

/// A re-enrollment pass (MDS 4.1.2): issued by an administrator, after re-authenticating and
/// stating a reason, for a user who lost or broke their device. Single use, time-limited; using
/// it removes the user's second factors and forces a new enrollment.
#[derive(Clone, PartialEq, Eq)]
pub struct ReenrollPass {
    /// The user's institution.
    pub institution: crate::InstitutionId,
    /// The user it is for.
    pub user: crate::UserId,
    /// SHA-256 of the pass (the pass itself is shown once to the administrator).
    pub pass_hash: [u8; 32],
    /// The administrator who issued it.
    pub issued_by: crate::UserId,
    /// Why (recorded for review).
    pub reason: String,
    /// When it was issued.
    pub issued_at: OffsetDateTime,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
    /// When it was used, if it was.
    pub used_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for ReenrollPass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReenrollPass")
            .field("institution", &self.institution)
            .field("user", &self.user)
            .field("issued_by", &self.issued_by)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .finish_non_exhaustive()
    }
}

/// A registered WebAuthn credential (security key or passkey). The credential itself is kept
/// as the JSON that webauthn-rs serializes (public key, counter, flags): nothing secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnCredential {
    /// The credential ID the authenticator chose (unique).
    pub credential_id: Vec<u8>,
    /// A name the user gave it (e.g. "YubiKey 受付").
    pub name: String,
    /// webauthn-rs's serialized credential.
    pub credential_json: String,
    /// When it was registered.
    pub created_at: OffsetDateTime,
    /// When it was last used to log in.
    pub last_used_at: Option<OffsetDateTime>,
}

/// What a pending WebAuthn ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebauthnPurpose {
    /// Registering a new credential.
    Register,
    /// Logging in with a registered credential.
    Authenticate,
}

impl WebauthnPurpose {
    /// Stable text for storage.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Authenticate => "authenticate",
        }
    }
}
