//! Sessions: server-side records, looked up by the SHA-256 of the cookie's token, with a
//! stage (second factor pending, enrollment pending, full) and an idle lock decided here.

use crate::{InstitutionId, UserId};
use std::time::Duration;
use time::OffsetDateTime;

/// How far a session has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionStage {
    /// The password was right; a second factor (TOTP or WebAuthn) is needed. Grants nothing.
    SecondFactor,
    /// The password was right and the account has no second factor yet: it must enroll one
    /// (and change a one-time password) before anything else. Grants nothing else.
    Enroll,
    /// Both factors: a full session.
    Full,
}

impl SessionStage {
    /// Stable text for storage.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SecondFactor => "second_factor",
            Self::Enroll => "enroll",
            Self::Full => "full",
        }
    }

    /// From stored text.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "second_factor" => Some(Self::SecondFactor),
            "enroll" => Some(Self::Enroll),
            "full" => Some(Self::Full),
            _ => None,
        }
    }
}

/// A session as stored. The token itself is never stored, only its SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the cookie token: the key.
    pub token_hash: [u8; 32],
    /// The user's institution.
    pub institution: InstitutionId,
    /// The user.
    pub user: UserId,
    /// How far it has got.
    pub stage: SessionStage,
    /// When it began (the password step).
    pub created_at: OffsetDateTime,
    /// The last request that counted as activity.
    pub last_seen_at: OffsetDateTime,
    /// When it ends whatever happens (absolute lifetime; short for pre-authentication stages).
    pub expires_at: OffsetDateTime,
    /// Whether the server locked it for idleness (cleared only by `unlock`).
    pub locked: bool,
    /// The CSRF token of the session's forms (random; compared in constant time).
    pub csrf_token: String,
    /// The previous successful login, as shown after this login (MDS: last-logon display).
    pub previous_login_at: Option<OffsetDateTime>,
    /// Failed attempts between that previous login and this one.
    pub failures_since_previous: u32,
    /// SHA-256 of the client certificate the session was opened with, if any.
    pub client_cert_sha256: Option<String>,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("institution", &self.institution)
            .field("user", &self.user)
            .field("stage", &self.stage)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .field("expires_at", &self.expires_at)
            .field("locked", &self.locked)
            .finish_non_exhaustive()
    }
}

/// What a session is worth at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Past its absolute lifetime: gone.
    Expired,
    /// Still in a pre-authentication stage.
    Pending(SessionStage),
    /// Fully authenticated but idle-locked: every request answers 423 until `unlock`.
    Locked,
    /// Fully authenticated and active.
    Active,
}

/// Decides a session's state at `now` with the configured idle lock. Pure.
#[must_use]
pub fn evaluate(record: &SessionRecord, now: OffsetDateTime, idle_lock: Duration) -> SessionState {
    if now >= record.expires_at {
        return SessionState::Expired;
    }
    if record.stage != SessionStage::Full {
        return SessionState::Pending(record.stage);
    }
    let idle = now - record.last_seen_at;
    if record.locked || idle >= idle_lock { SessionState::Locked } else { SessionState::Active }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn record(stage: SessionStage) -> SessionRecord {
        let t = datetime!(2026-11-25 09:00 UTC);
        SessionRecord {
            token_hash: [0; 32],
            institution: InstitutionId::from_uuid(uuid::Uuid::from_u128(1)),
            user: UserId::from_uuid(uuid::Uuid::from_u128(2)),
            stage,
            created_at: t,
            last_seen_at: t,
            expires_at: t + time::Duration::hours(12),
            locked: false,
            csrf_token: "csrf".into(),
            previous_login_at: None,
            failures_since_previous: 0,
            client_cert_sha256: None,
        }
    }

    #[test]
    fn a_session_locks_exactly_when_idle_for_the_configured_time() {
        let r = record(SessionStage::Full);
        let idle = Duration::from_secs(600);
        let t = r.last_seen_at;
        assert_eq!(evaluate(&r, t + time::Duration::seconds(599), idle), SessionState::Active);
        assert_eq!(evaluate(&r, t + time::Duration::seconds(600), idle), SessionState::Locked);
        let locked = SessionRecord { locked: true, ..r.clone() };
        assert_eq!(evaluate(&locked, t, idle), SessionState::Locked, "a lock holds until unlock");
        assert_eq!(evaluate(&r, t + time::Duration::hours(12), idle), SessionState::Expired);
    }

    #[test]
    fn pre_authentication_sessions_never_count_as_active() {
        for stage in [SessionStage::SecondFactor, SessionStage::Enroll] {
            let r = record(stage);
            assert_eq!(evaluate(&r, r.created_at, Duration::from_secs(600)), SessionState::Pending(stage));
            assert_eq!(SessionStage::parse(stage.as_str()), Some(stage));
        }
        assert_eq!(SessionStage::parse("admin"), None);
    }
}
