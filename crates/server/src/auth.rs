//! Sessions over HTTP: the cookie, loading and checking the server-side record, the idle lock,
//! and the extractor that hands a handler a fully authenticated user.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use mamori_core::audit::{Actor, Outcome};
use mamori_core::authz::{Policy, Principal};
use mamori_core::session::{SessionRecord, SessionState, evaluate};
use mamori_core::{Message, User};
use mamori_crypto::{PasswordHash, PasswordHasher, Secret};
use std::time::Duration;

/// How long a pre-authentication session (password given, second factor pending) lives.
pub const PRE_AUTH_TTL: Duration = Duration::from_secs(5 * 60);

/// The session cookie's name: with TLS the `__Host-` prefix pins it to this origin, Secure,
/// path `/` and no Domain.
#[must_use]
pub const fn cookie_name(tls: bool) -> &'static str {
    if tls { "__Host-mamori_session" } else { "mamori_session" }
}

/// The `Set-Cookie` value for a session token (HttpOnly, SameSite=Strict, Secure over TLS).
#[must_use]
pub fn set_cookie(token: &str, tls: bool) -> Option<HeaderValue> {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{}={token}; Path=/; HttpOnly; SameSite=Strict{secure}", cookie_name(tls))).ok()
}

/// The `Set-Cookie` value that removes the session cookie.
#[must_use]
pub fn clear_cookie(tls: bool) -> Option<HeaderValue> {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}", cookie_name(tls))).ok()
}

/// The session token from the request's cookies.
#[must_use]
pub fn read_token(headers: &HeaderMap, tls: bool) -> Option<String> {
    crate::cookies::get(headers, cookie_name(tls)).map(str::to_owned)
}

/// Password hashing for logins, with a dummy hash so that an unknown login ID costs as much
/// time as a known one.
#[derive(Debug)]
pub struct Passwords {
    /// The configured hasher.
    pub hasher: PasswordHasher,
    dummy: PasswordHash,
}

impl Passwords {
    /// A hasher with the configured parameters and its dummy hash.
    ///
    /// # Errors
    /// When argon2 refuses the parameters.
    pub fn new(config: &mamori_core::config::PasswordConfig) -> Result<Self, mamori_crypto::PasswordError> {
        let hasher =
            PasswordHasher::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism)?;
        let dummy = hasher.hash(&Secret::new("mamori timing equaliser"), &mut rand_core::OsRng)?;
        Ok(Self { hasher, dummy })
    }

    /// Spends the time of one verification without any account.
    pub fn waste_time(&self, password: &Secret) {
        let _ = self.hasher.verify(&self.dummy, password);
    }
}

/// A request's session, loaded and evaluated.
#[derive(Debug)]
pub struct LoadedSession {
    /// The cookie's token.
    pub token: String,
    /// The stored record.
    pub record: SessionRecord,
    /// Its state now.
    pub state: SessionState,
}

/// Loads the session named by the request's cookie. An expired session is deleted and
/// reported as none.
///
/// # Errors
/// Store failures.
pub async fn load(state: &AppState, headers: &HeaderMap) -> Result<Option<LoadedSession>, ApiError> {
    let Some(token) = read_token(headers, state.tls) else { return Ok(None) };
    let hash = mamori_crypto::token::token_hash(&token);
    let Some(record) = state.store.session(&hash).await? else { return Ok(None) };
    let now = state.clock.now();
    let session_state = evaluate(&record, now, state.config.get().session.idle_lock.0);
    if session_state == SessionState::Expired {
        state.store.delete_session(record.institution, &hash).await?;
        return Ok(None);
    }
    Ok(Some(LoadedSession { token, record, state: session_state }))
}

/// A fully authenticated (two-factor), active, not idle-locked session and its user. Building
/// one counts as activity.
#[derive(Debug)]
pub struct Authenticated {
    /// The cookie's token.
    pub token: String,
    /// The session.
    pub session: SessionRecord,
    /// The user, as stored now.
    pub user: User,
    /// The user's emergency (break-glass) grants active now.
    pub emergency: Vec<mamori_core::emergency::EmergencyGrantRecord>,
    /// For a sealed emergency account: the activation it is used under.
    pub sealed: Option<mamori_core::sealed::SealedActivation>,
    /// The institution's clinical rights per role.
    pub policy: Policy,
}

impl Authenticated {
    /// The banner every page shows while an emergency grant is active (Japanese / English).
    #[must_use]
    pub fn emergency_banner(&self, lang: crate::i18n::Lang, now: time::OffsetDateTime) -> Option<String> {
        if let Some(sealed) = &self.sealed {
            let minutes = ((sealed.expires_at - now).whole_seconds().max(0) + 59) / 60;
            let who = &sealed.used_by;
            return Some(if lang == crate::i18n::Lang::Ja {
                format!(
                    "緊急用アカウントで使用中（使用者: {who}、あと約{minutes}分）。操作はすべて記録され、安全管理責任者が確認します。"
                )
            } else {
                format!(
                    "Emergency account in use (by {who}, about {minutes} min left). Everything is recorded and reviewed by the safety manager."
                )
            });
        }
        let soonest = self.emergency.iter().map(|g| g.expires_at).min()?;
        let minutes = ((soonest - now).whole_seconds().max(0) + 59) / 60;
        let n = self.emergency.len();
        Some(if lang == crate::i18n::Lang::Ja {
            format!("緊急アクセス中（{n}件、あと約{minutes}分）。操作はすべて記録され、安全管理責任者が確認します。")
        } else {
            format!(
                "Emergency access active ({n}, about {minutes} min left). Everything is recorded and reviewed by the safety manager."
            )
        })
    }

    /// The principal for [`mamori_core::authz::authorize`].
    #[must_use]
    pub fn principal(&self) -> Principal {
        Principal {
            institution: self.user.institution_id,
            user: self.user.id,
            roles: self.user.roles.clone(),
            status: self.user.status,
            emergency_grants: self.emergency.iter().map(mamori_core::emergency::EmergencyGrantRecord::grant).collect(),
            policy: self.policy.clone(),
        }
    }

    /// Whether the user holds an administrative permission (to show or hide links; the
    /// handlers decide with [`mamori_core::authz::authorize_admin`] themselves).
    #[must_use]
    pub fn may(&self, permission: mamori_core::authz::AdminPermission) -> bool {
        mamori_core::authz::authorize_admin(&self.principal(), self.user.institution_id, permission).is_ok()
    }

    /// Refuses (403) while the user still has to replace a one-time password.
    ///
    /// # Errors
    /// 403 `password_change_required`.
    pub fn ready(&self) -> Result<(), ApiError> {
        if self.user.password_change_required {
            Err(ApiError::forbidden(
                "password_change_required",
                Message::new(
                    "初回パスワードを変更してください（POST /api/v1/me/password）。",
                    "change your one-time password first (POST /api/v1/me/password)",
                ),
            ))
        } else {
            Ok(())
        }
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(loaded) = load(state, &parts.headers).await? else { return Err(ApiError::unauthenticated()) };
        if matches!(loaded.state, SessionState::Pending(_) | SessionState::Expired) {
            return Err(ApiError::unauthenticated());
        }
        let record = loaded.record;
        let Some(user) = state.store.user(record.institution, record.user).await? else {
            return Err(ApiError::unauthenticated());
        };
        if user.status != mamori_core::UserStatus::Active {
            state.store.delete_session(record.institution, &record.token_hash).await?;
            return Err(ApiError::unauthenticated());
        }
        let now = state.clock.now();
        if !state.config.logon_hours().allows(&user.roles, now) {
            // The allowed window ended while the session was open (active or locked): end it
            // (002 ①-5).
            let mut tx = state.store.begin().await?;
            tx.delete_session(record.institution, &record.token_hash).await?;
            tracing::info!(institution = %user.institution_id, user = %user.id, "session ended: outside the allowed hours");
            let event =
                crate::audit::by_actor(state, user.institution_id, Actor::System, "session.end", Outcome::Allowed)
                    .resource(format!("user:{}", user.id))
                    .detail("reason", "outside_logon_hours");
            crate::audit::commit_with(tx, event).await?;
            return Err(ApiError::outside_logon_hours());
        }
        if loaded.state == SessionState::Locked {
            if !record.locked {
                let record = SessionRecord { locked: true, ..record };
                let mut tx = state.store.begin().await?;
                tx.update_session(&record).await?;
                tracing::info!(institution = %record.institution, user = %record.user, "session idle-locked");
                let event =
                    crate::audit::by_actor(state, user.institution_id, Actor::System, "session.lock", Outcome::Allowed)
                        .resource(format!("user:{}", user.id));
                crate::audit::commit_with(tx, event).await?;
            }
            return Err(ApiError::session_locked());
        }
        state.store.touch_session(record.institution, &record.token_hash, now).await?;
        let emergency = state.store.active_emergency_grants(record.institution, record.user, now).await?;
        let sealed = state.store.active_sealed_activation(record.institution, record.user, now).await?;
        let policy = policy(state, record.institution).await?;
        Ok(Self {
            token: loaded.token,
            session: SessionRecord { last_seen_at: now, ..record },
            user,
            emergency,
            sealed,
            policy,
        })
    }
}

/// The institution's clinical rights per role: the defaults with the roles it changed.
///
/// # Errors
/// Store failures; a stored grant naming an unknown action or role (which the database's
/// checks prevent) is an internal error.
pub async fn policy(state: &AppState, institution: mamori_core::InstitutionId) -> Result<Policy, ApiError> {
    Ok(policy_of(state.store.as_ref(), institution).await?)
}

/// As [`policy`], given the store (for the command line).
///
/// # Errors
/// Store failures.
pub async fn policy_of(
    store: &dyn mamori_store::Store,
    institution: mamori_core::InstitutionId,
) -> Result<Policy, mamori_store::StoreError> {
    let changed = store.role_grants(institution).await?;
    Ok(Policy::with_overrides(changed.into_iter().map(|(role, grants)| (role, grants.into_iter().collect()))))
}

/// WebAuthn for the URL people open: its host must be a domain name (browsers refuse WebAuthn
/// on IP addresses), which becomes the relying party ID; the origin must match exactly.
#[must_use]
pub fn webauthn_for(public_url: &str) -> Option<webauthn_rs::Webauthn> {
    let url = webauthn_rs::prelude::Url::parse(public_url).ok()?;
    let rp_id = url.domain()?.to_owned();
    webauthn_rs::WebauthnBuilder::new(&rp_id, &url).ok()?.rp_name("mamori").build().ok()
}

#[cfg(test)]
mod tests {
    use super::webauthn_for;

    #[test]
    fn webauthn_needs_a_domain_name() {
        assert!(webauthn_for("https://localhost:8443/").is_some());
        assert!(webauthn_for("https://clinic.example.jp/").is_some());
        assert!(webauthn_for("https://127.0.0.1:8443/").is_none());
        assert!(webauthn_for("https://[::1]:8443/").is_none());
        assert!(webauthn_for("not a url").is_none());
    }
}
