//! Failed-login throttling and lockout, kanidm-style: progressive delays of 1, 3, 5 and 10
//! seconds, then a lock until the window has passed since the last failure (or an
//! administrator clears it). Keyed by login ID, so an unknown ID is throttled exactly like a
//! real one and the answers reveal nothing. One counter covers passwords, TOTP, WebAuthn,
//! recovery codes and unlock.

use std::time::Duration;
use time::OffsetDateTime;

/// The delays after the 1st, 2nd, 3rd and 4th consecutive failure.
pub const DELAYS: [Duration; 4] =
    [Duration::from_secs(1), Duration::from_secs(3), Duration::from_secs(5), Duration::from_secs(10)];

/// Lockout settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock the account (the next attempt is refused even with the
    /// right password). Default 5, so the 6th attempt is refused.
    pub threshold: u32,
    /// Failures older than this (since the last one) are forgotten; a lock lasts this long.
    pub window: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self { threshold: 5, window: Duration::from_secs(15 * 60) }
    }
}

/// The throttling state of one login ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    /// The login ID as typed (normalised), known or not.
    pub login_id: String,
    /// Consecutive failures.
    pub failures: u32,
    /// When the last one happened.
    pub last_failure_at: OffsetDateTime,
}

/// Whether an attempt may be checked at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Check it.
    Open,
    /// Too soon after a failure: refuse without checking (and without counting).
    Wait {
        /// When the next attempt will be checked.
        until: OffsetDateTime,
    },
    /// Locked: refuse without checking, even a right password.
    Locked {
        /// When the lock lifts by itself.
        until: OffsetDateTime,
    },
}

/// Decides whether an attempt at `now` may be checked. Pure.
#[must_use]
pub fn gate(throttle: Option<&Throttle>, now: OffsetDateTime, policy: LockoutPolicy) -> Gate {
    let Some(t) = throttle.filter(|t| t.failures > 0 && now < t.last_failure_at + policy.window) else {
        return Gate::Open;
    };
    if t.failures >= policy.threshold {
        return Gate::Locked { until: t.last_failure_at + policy.window };
    }
    let index = usize::try_from(t.failures.saturating_sub(1)).unwrap_or(usize::MAX);
    let delay = DELAYS.get(index).copied().unwrap_or(Duration::from_secs(10));
    let until = t.last_failure_at + delay;
    if now < until { Gate::Wait { until } } else { Gate::Open }
}

/// The state after a checked attempt failed at `now`. Pure.
#[must_use]
pub fn record_failure(
    throttle: Option<&Throttle>,
    login_id: &str,
    now: OffsetDateTime,
    policy: LockoutPolicy,
) -> Throttle {
    let earlier = throttle.filter(|t| now < t.last_failure_at + policy.window).map_or(0, |t| t.failures);
    Throttle { login_id: login_id.to_owned(), failures: earlier.saturating_add(1), last_failure_at: now }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-25 09:00 UTC);

    fn secs(n: i64) -> time::Duration {
        time::Duration::seconds(n)
    }

    #[test]
    fn delays_grow_1_3_5_10_then_the_sixth_attempt_is_locked_out() {
        let policy = LockoutPolicy::default();
        let mut state: Option<Throttle> = None;
        let mut now = T0;
        let expected_waits = [1, 3, 5, 10];
        for (i, wait) in expected_waits.iter().enumerate() {
            assert_eq!(gate(state.as_ref(), now, policy), Gate::Open, "attempt {}", i + 1);
            state = Some(record_failure(state.as_ref(), "yamada", now, policy));
            assert_eq!(
                gate(state.as_ref(), now + secs(*wait) - secs(1), policy),
                Gate::Wait { until: now + secs(*wait) }
            );
            now += secs(*wait);
        }
        // 5th attempt is checked and fails: now locked.
        assert_eq!(gate(state.as_ref(), now, policy), Gate::Open);
        state = Some(record_failure(state.as_ref(), "yamada", now, policy));
        let until = now + time::Duration::minutes(15);
        assert_eq!(gate(state.as_ref(), now + secs(30), policy), Gate::Locked { until });
        assert_eq!(gate(state.as_ref(), until - secs(1), policy), Gate::Locked { until });
        assert_eq!(gate(state.as_ref(), until, policy), Gate::Open, "the lock lifts after the window");
        // After the window the count starts again.
        let next = record_failure(state.as_ref(), "yamada", until, policy);
        assert_eq!(next.failures, 1);
    }

    #[test]
    fn old_failures_are_forgotten_after_the_window() {
        let policy = LockoutPolicy { threshold: 5, window: Duration::from_secs(60) };
        let s = record_failure(None, "a", T0, policy);
        let s = record_failure(Some(&s), "a", T0 + secs(59), policy);
        assert_eq!(s.failures, 2);
        let s = record_failure(Some(&s), "a", T0 + secs(59 + 60), policy);
        assert_eq!(s.failures, 1);
    }
}
