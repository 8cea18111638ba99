//! Allowed logon days and hours per role (002: ログオン時間の制限), optional. A role without a
//! window is not restricted; a user may log in when any of their roles allows it now. Times are
//! local to the institution (Japan: UTC+9, no daylight saving).

use crate::{Message, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::{OffsetDateTime, Time, UtcOffset, Weekday};

/// One role's window: the days, and the local time from which and until which logins work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogonWindow {
    /// `mon` … `sun`.
    pub days: Vec<String>,
    /// `HH:MM`, inclusive.
    pub from: String,
    /// `HH:MM`, exclusive; earlier than `from` means the window runs past midnight.
    pub until: String,
}

/// The checked form of the `[logon_hours]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogonHours {
    windows: BTreeMap<Role, (Vec<Weekday>, Time, Time)>,
}

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

fn clock_time(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::from_hms(h.parse().ok()?, m.parse().ok()?, 0).ok()
}

/// Japan Standard Time.
pub const JST: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

impl LogonHours {
    /// Checks the configured windows (keys are role names).
    ///
    /// # Errors
    /// A bilingual message naming the role and the bad value.
    pub fn parse(table: &BTreeMap<String, LogonWindow>) -> Result<Self, Message> {
        let mut windows = BTreeMap::new();
        for (role_name, w) in table {
            let bad = |what: &str| {
                Message::new(
                    format!(
                        "logon_hours.{role_name}: {what} が不正です（例: days = [\"mon\", \"tue\"], from = \"08:00\", until = \"20:00\"）。"
                    ),
                    format!(
                        "logon_hours.{role_name}: invalid {what} (e.g. days = [\"mon\", \"tue\"], from = \"08:00\", until = \"20:00\")"
                    ),
                )
            };
            let role: Role = role_name.parse().map_err(|_| bad("role"))?;
            let days = w.days.iter().map(|d| weekday(d)).collect::<Option<Vec<_>>>().ok_or_else(|| bad("days"))?;
            if days.is_empty() {
                return Err(bad("days"));
            }
            let from = clock_time(&w.from).ok_or_else(|| bad("from"))?;
            let until = clock_time(&w.until).ok_or_else(|| bad("until"))?;
            if from == until {
                return Err(bad("until"));
            }
            windows.insert(role, (days, from, until));
        }
        Ok(Self { windows })
    }

    /// Whether someone holding `roles` may log in at `now`.
    #[must_use]
    pub fn allows(&self, roles: &[Role], now: OffsetDateTime) -> bool {
        let local = now.to_offset(JST);
        roles.is_empty() && self.windows.is_empty()
            || roles.iter().any(|role| match self.windows.get(role) {
                None => true,
                Some((days, from, until)) => {
                    let t = local.time();
                    if from < until {
                        days.contains(&local.weekday()) && *from <= t && t < *until
                    } else {
                        // Past midnight: the evening part on a listed day, the morning part on
                        // the day after a listed day.
                        (days.contains(&local.weekday()) && t >= *from)
                            || (days.contains(&local.weekday().previous()) && t < *until)
                    }
                }
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::datetime;

    fn hours(entries: &[(&str, &[&str], &str, &str)]) -> LogonHours {
        let table = entries
            .iter()
            .map(|(role, days, from, until)| {
                (
                    (*role).to_owned(),
                    LogonWindow {
                        days: days.iter().map(|d| (*d).to_owned()).collect(),
                        from: (*from).to_owned(),
                        until: (*until).to_owned(),
                    },
                )
            })
            .collect();
        LogonHours::parse(&table).unwrap()
    }

    #[test]
    fn a_weekday_window_in_japan_time() {
        let h = hours(&[("clerk", &["mon", "tue", "wed", "thu", "fri"], "08:00", "20:00")]);
        // 2026-11-25 is a Wednesday; 23:30 UTC on the 24th is 08:30 JST on the 25th.
        assert!(h.allows(&[Role::Clerk], datetime!(2026-11-24 23:30 UTC)));
        assert!(!h.allows(&[Role::Clerk], datetime!(2026-11-24 22:59 UTC)), "07:59 JST");
        assert!(!h.allows(&[Role::Clerk], datetime!(2026-11-25 11:00 UTC)), "20:00 JST is outside");
        assert!(!h.allows(&[Role::Clerk], datetime!(2026-11-28 03:00 UTC)), "Saturday");
        // Another role without a window is not restricted, and one unrestricted role suffices.
        assert!(h.allows(&[Role::Doctor], datetime!(2026-11-28 03:00 UTC)));
        assert!(h.allows(&[Role::Clerk, Role::Doctor], datetime!(2026-11-28 03:00 UTC)));
    }

    #[test]
    fn a_night_window_runs_past_midnight() {
        let h = hours(&[("nurse", &["fri"], "22:00", "06:00")]);
        assert!(h.allows(&[Role::Nurse], datetime!(2026-11-27 13:30 UTC)), "Fri 22:30 JST");
        assert!(h.allows(&[Role::Nurse], datetime!(2026-11-27 20:00 UTC)), "Sat 05:00 JST");
        assert!(!h.allows(&[Role::Nurse], datetime!(2026-11-27 21:00 UTC)), "Sat 06:00 JST");
        assert!(!h.allows(&[Role::Nurse], datetime!(2026-11-26 13:30 UTC)), "Thu 22:30 JST");
    }

    #[test]
    fn bad_windows_are_refused() {
        let one = |role: &str, days: &[&str], from: &str, until: &str| {
            let w = LogonWindow {
                days: days.iter().map(|d| (*d).to_owned()).collect(),
                from: from.into(),
                until: until.into(),
            };
            LogonHours::parse(&[(role.to_owned(), w)].into_iter().collect())
        };
        assert!(one("janitor", &["mon"], "08:00", "20:00").is_err());
        assert!(one("clerk", &["monday"], "08:00", "20:00").is_err());
        assert!(one("clerk", &[], "08:00", "20:00").is_err());
        assert!(one("clerk", &["mon"], "8:00", "20:00").is_err());
        assert!(one("clerk", &["mon"], "08:00", "24:00").is_err());
        assert!(one("clerk", &["mon"], "08:00", "08:00").is_err());
        assert!(one("clerk", &["mon"], "08:00", "20:00").is_ok());
    }
}
