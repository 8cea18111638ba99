//! Time as an argument.

use std::sync::Mutex;
use time::OffsetDateTime;

/// A source of the current time. The server passes a system clock; tests pass a [`FixedClock`].
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// Truncates a time to whole microseconds, the precision every store keeps.
#[must_use]
pub fn to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let micros = t.microsecond();
    t.replace_microsecond(micros).unwrap_or(t)
}

/// A clock that stands still until it is moved. For tests.
#[derive(Debug)]
pub struct FixedClock {
    now: Mutex<OffsetDateTime>,
}

impl FixedClock {
    /// A clock showing `now`.
    #[must_use]
    pub fn new(now: OffsetDateTime) -> Self {
        Self { now: Mutex::new(now) }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        if let Ok(mut now) = self.now.lock() {
            *now += by;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.now.lock().map(|t| *t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn fixed_clock_advances_only_when_told() {
        let clock = FixedClock::new(datetime!(2026-11-25 09:00:00 UTC));
        assert_eq!(clock.now(), datetime!(2026-11-25 09:00:00 UTC));
        clock.advance(std::time::Duration::from_secs(90));
        assert_eq!(clock.now(), datetime!(2026-11-25 09:01:30 UTC));
    }

    #[test]
    fn to_micros_drops_nanoseconds() {
        let t = datetime!(2026-11-25 09:00:00.123456789 UTC);
        assert_eq!(to_micros(t), datetime!(2026-11-25 09:00:00.123456 UTC));
    }
}
