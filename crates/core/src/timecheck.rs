//! Accurate time (MHLW guideline MDS 5 and 16.1: the timestamps of records and audit events
//! must be accurate): the SNTP client arithmetic and the rule that decides whether writes are
//! allowed.
//!
//! Pure: the caller sends and receives the datagrams and passes the times in. The packet
//! format and the formulas are RFC 5905 (NTPv4) §7 and §8, used in the client mode RFC 4330
//! (SNTPv4) describes:
//!
//! - a timestamp is 64 bits, seconds since 1900-01-01 00:00 UTC in the high 32 bits and the
//!   fraction of a second in the low 32 (32.32 fixed point); the era (which 2³²-second period)
//!   is not carried, so a timestamp is turned into a date near a reference time, and two
//!   timestamps are subtracted with wrapping arithmetic (valid within ±68 years);
//! - with T1 our transmit time, T2 the server's receive time, T3 its transmit time and T4 our
//!   receive time, the offset of the server's clock from ours is
//!   θ = ((T2 − T1) + (T3 − T4)) / 2 and the round-trip delay δ = (T4 − T1) − (T3 − T2).
//!   A positive θ means our clock is behind.
//!
//! [`TimeStatus`] is what the server knows about its clock; [`TimeStatus::allows_writes`] is
//! the one rule that stops writes when the clock cannot be trusted.

use crate::Message;
use time::{Duration, OffsetDateTime};

/// Seconds from the NTP epoch (1900-01-01 00:00 UTC) to the Unix epoch (1970-01-01 00:00 UTC):
/// 70 years with 17 leap days, as published in RFC 868 and RFC 5905 (figure 4).
pub const NTP_UNIX_OFFSET_SECS: i64 = 2_208_988_800;

/// The length of an NTP packet without extension fields or MAC.
pub const PACKET_LEN: usize = 48;

/// The protocol version mamori sends.
pub const VERSION: u8 = 4;

const MODE_CLIENT: u8 = 3;
const MODE_SERVER: u8 = 4;
const LEAP_ALARM: u8 = 3;
const NANOS_PER_SEC: i128 = 1_000_000_000;
const ERA_SECS: i128 = 1 << 32;

/// A 64-bit NTP timestamp: seconds since 1900 modulo 2³² (high 32 bits) and a binary fraction
/// of a second (low 32 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// The zero timestamp, which RFC 5905 reserves for "unknown".
    pub const ZERO: Self = Self(0);

    /// The timestamp of `t`. The fraction is rounded up, so that [`Self::to_time`] gives back
    /// exactly `t` (to the nanosecond) for a reference within ±68 years.
    #[must_use]
    pub fn from_time(t: OffsetDateTime) -> Self {
        let nanos = t.unix_timestamp_nanos() + i128::from(NTP_UNIX_OFFSET_SECS) * NANOS_PER_SEC;
        let secs = nanos.div_euclid(NANOS_PER_SEC).rem_euclid(ERA_SECS);
        let sub = nanos.rem_euclid(NANOS_PER_SEC);
        // sub ≤ 10⁹ − 1, so sub · 2³² / 10⁹ ≤ 2³² − 4.29…: its ceiling is below 2³².
        let fraction = ((sub << 32) + NANOS_PER_SEC - 1) / NANOS_PER_SEC;
        // Both parts are within 0..2³² by construction.
        Self((u64::try_from(secs).unwrap_or(0) << 32) | u64::try_from(fraction).unwrap_or(0))
    }

    /// The date this timestamp names in the era nearest `near` (within ±68 years of it).
    #[must_use]
    pub fn to_time(self, near: OffsetDateTime) -> OffsetDateTime {
        near + self.since(Self::from_time(near))
    }

    /// `self − earlier`, with wrapping arithmetic: correct whenever the two are less than 68
    /// years apart, whatever their eras. Rounded down to the nanosecond.
    #[must_use]
    pub fn since(self, earlier: Self) -> Duration {
        let fixed = i128::from(self.0.wrapping_sub(earlier.0).cast_signed());
        // An arithmetic shift rounds towards −∞; |result| < 2³¹ s fits an i64 of nanoseconds.
        let nanos = (fixed * NANOS_PER_SEC) >> 32;
        Duration::nanoseconds(i64::try_from(nanos).unwrap_or(0))
    }

    /// The whole seconds since 1900, modulo 2³².
    #[must_use]
    pub fn seconds(self) -> u32 {
        u32::try_from(self.0 >> 32).unwrap_or(0)
    }

    /// The binary fraction of a second (units of 2⁻³² s).
    #[must_use]
    pub fn fraction(self) -> u32 {
        u32::try_from(self.0 & 0xFFFF_FFFF).unwrap_or(0)
    }

    /// Network byte order, as in the packet.
    #[must_use]
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// From network byte order.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(u64::from_be_bytes(bytes))
    }
}

/// A client-mode (3), version 4 request whose transmit timestamp is `transmit` (T1). Every
/// other field is zero, as RFC 4330 §5 allows. The server copies `transmit` into its reply's
/// originate field, which is how the reply is matched to this request.
#[must_use]
pub fn client_request(transmit: NtpTimestamp) -> [u8; PACKET_LEN] {
    let mut packet = [0u8; PACKET_LEN];
    if let Some(header) = packet.first_mut() {
        *header = (VERSION << 3) | MODE_CLIENT; // leap indicator 0
    }
    if let Some(field) = packet.get_mut(40..48) {
        field.copy_from_slice(&transmit.to_bytes());
    }
    packet
}

/// Why a server's reply was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// Fewer than 48 bytes.
    #[error("NTPの応答が短すぎます（{len}バイト） / the NTP reply is too short ({len} bytes)")]
    TooShort {
        /// The length received.
        len: usize,
    },
    /// The mode is not 4 (server).
    #[error(
        "NTPの応答がサーバーモードではありません（モード {mode}） / the NTP reply is not in server mode (mode {mode})"
    )]
    NotServerMode {
        /// The mode received.
        mode: u8,
    },
    /// The version is neither 3 nor 4.
    #[error("NTPの応答のバージョン {version} には対応していません / NTP version {version} is not supported")]
    Version {
        /// The version received.
        version: u8,
    },
    /// Stratum 0: a kiss-o'-death packet (the server refuses to serve, e.g. `RATE`, `DENY`).
    #[error("NTPサーバーが応答を拒否しました（{code}） / the NTP server refused to answer ({code})")]
    KissOfDeath {
        /// The kiss code (ASCII letters and digits only; anything else is replaced by `?`).
        code: String,
    },
    /// Stratum 16 or more, or leap indicator 3: the server's own clock is not synchronized.
    #[error("NTPサーバー自身の時刻が同期していません / the NTP server's own clock is not synchronized")]
    Unsynchronized,
    /// The originate timestamp is not the transmit timestamp of our request.
    #[error(
        "NTPの応答がこちらの問い合わせと対応していません（originate が一致しません） / the NTP reply does not answer our request (originate timestamp mismatch)"
    )]
    OriginateMismatch,
    /// The server's receive or transmit timestamp is zero.
    #[error("NTPの応答に時刻が入っていません / the NTP reply carries no time")]
    NoTime,
}

impl ReplyError {
    /// The message for a person.
    #[must_use]
    pub fn message(&self) -> Message {
        let text = self.to_string();
        match text.split_once(" / ") {
            Some((ja, en)) => Message::new(ja, en),
            None => Message::new(text.clone(), text),
        }
    }
}

/// The server's two timestamps from an accepted reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerTimes {
    /// T2: when the server received the request.
    pub receive: NtpTimestamp,
    /// T3: when the server sent the reply.
    pub transmit: NtpTimestamp,
    /// The server's stratum (1–15).
    pub stratum: u8,
}

fn timestamp_at(packet: &[u8], at: usize) -> NtpTimestamp {
    let bytes = packet.get(at..at + 8).and_then(|s| <[u8; 8]>::try_from(s).ok()).unwrap_or_default();
    NtpTimestamp::from_bytes(bytes)
}

/// Checks a reply to the request whose transmit timestamp was `sent` and returns T2 and T3.
///
/// Refused: shorter than 48 bytes; mode other than 4 (server); version other than 3 or 4;
/// stratum 0 (kiss-o'-death) or above 15; leap indicator 3 (alarm: unsynchronized); an
/// originate timestamp other than `sent`; a zero receive or transmit timestamp. Bytes after
/// the first 48 (extension fields, MAC) are ignored.
///
/// # Errors
/// The first [`ReplyError`] that applies.
pub fn parse_reply(packet: &[u8], sent: NtpTimestamp) -> Result<ServerTimes, ReplyError> {
    if packet.len() < PACKET_LEN {
        return Err(ReplyError::TooShort { len: packet.len() });
    }
    let header = packet.first().copied().unwrap_or_default();
    let stratum = packet.get(1).copied().unwrap_or_default();
    let leap = header >> 6;
    let version = (header >> 3) & 0b111;
    let mode = header & 0b111;
    if mode != MODE_SERVER {
        return Err(ReplyError::NotServerMode { mode });
    }
    if version != 3 && version != 4 {
        return Err(ReplyError::Version { version });
    }
    if stratum == 0 {
        let code = packet
            .get(12..16)
            .unwrap_or_default()
            .iter()
            .map(|&b| if b.is_ascii_alphanumeric() { char::from(b) } else { '?' })
            .collect();
        return Err(ReplyError::KissOfDeath { code });
    }
    if stratum > 15 || leap == LEAP_ALARM {
        return Err(ReplyError::Unsynchronized);
    }
    if timestamp_at(packet, 24) != sent {
        return Err(ReplyError::OriginateMismatch);
    }
    let receive = timestamp_at(packet, 32);
    let transmit = timestamp_at(packet, 40);
    if receive == NtpTimestamp::ZERO || transmit == NtpTimestamp::ZERO {
        return Err(ReplyError::NoTime);
    }
    Ok(ServerTimes { receive, transmit, stratum })
}

/// The outcome of one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measurement {
    /// θ: how far the server's clock is ahead of ours (negative: ours is ahead).
    pub offset: Duration,
    /// δ: the round trip, less the server's processing time.
    pub delay: Duration,
}

/// θ and δ from the four timestamps (RFC 5905 §8), computed with wrapping differences so that
/// an era boundary between them does not matter.
#[must_use]
pub fn measure(t1: NtpTimestamp, t2: NtpTimestamp, t3: NtpTimestamp, t4: NtpTimestamp) -> Measurement {
    let offset = (t2.since(t1) + t3.since(t4)) / 2;
    let delay = t4.since(t1) - t3.since(t2);
    Measurement { offset, delay }
}

/// One exchange from our side: `sent` is the time written into the request (T1), `packet` the
/// reply and `received` the time it arrived (T4).
///
/// # Errors
/// As [`parse_reply`].
pub fn evaluate(sent: OffsetDateTime, packet: &[u8], received: OffsetDateTime) -> Result<Measurement, ReplyError> {
    let t1 = NtpTimestamp::from_time(sent);
    let times = parse_reply(packet, t1)?;
    Ok(measure(t1, times.receive, times.transmit, NtpTimestamp::from_time(received)))
}

/// What the server knows about its clock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TimeStatus {
    /// No NTP server is configured (the small clinic's default), or no check has run yet.
    #[default]
    Unchecked,
    /// The last check succeeded.
    Ok {
        /// θ: how far the reference clock is ahead of ours.
        offset: Duration,
        /// δ: the round-trip delay.
        delay: Duration,
        /// When the check ran (our clock).
        checked_at: OffsetDateTime,
        /// The server asked (`host:port` as configured).
        server: String,
    },
    /// The last check failed.
    Failed {
        /// What went wrong (last failure).
        error: Message,
        /// Since when the clock is unconfirmed: the last successful check, or the first
        /// failure when no check has ever succeeded.
        since: OffsetDateTime,
        /// When the last failed check ran.
        failed_at: OffsetDateTime,
        /// The offset the last successful check measured, if any.
        last_offset: Option<Duration>,
    },
}

/// The verdict on the clock at one moment, from [`TimeStatus::health`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockHealth {
    /// No server configured or not checked yet: writes are allowed.
    Unchecked,
    /// The last check is recent and within the limit.
    Ok,
    /// The last check failed, but the clock was confirmed (or the failures began) less than
    /// `max_age` ago and its last known offset is within the limit: writes are still allowed.
    FailedRecently,
    /// The last known offset is beyond the limit.
    OutOfTolerance {
        /// That offset.
        offset: Duration,
    },
    /// The clock has not been confirmed for more than `max_age` (checks fail, or have stopped).
    Unconfirmed {
        /// How long.
        for_longer_than: std::time::Duration,
    },
}

impl ClockHealth {
    /// `unchecked`, `ok`, `failed` or `out_of_tolerance` (an unconfirmed clock is `failed`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unchecked => "unchecked",
            Self::Ok => "ok",
            Self::FailedRecently | Self::Unconfirmed { .. } => "failed",
            Self::OutOfTolerance { .. } => "out_of_tolerance",
        }
    }

    /// Whether records may be written.
    #[must_use]
    pub const fn allows_writes(self) -> bool {
        matches!(self, Self::Unchecked | Self::Ok | Self::FailedRecently)
    }

    /// Whether the last check succeeded (and is recent).
    #[must_use]
    pub const fn check_ok(self) -> bool {
        matches!(self, Self::Ok | Self::OutOfTolerance { .. })
    }
}

impl TimeStatus {
    /// The status after a successful check.
    #[must_use]
    pub fn succeeded(measurement: Measurement, server: impl Into<String>, now: OffsetDateTime) -> Self {
        Self::Ok { offset: measurement.offset, delay: measurement.delay, checked_at: now, server: server.into() }
    }

    /// The status after a failed check that ran at `now`, following `self`: the clock stays
    /// unconfirmed since the last success (or since the first failure).
    #[must_use]
    pub fn after_failure(&self, error: Message, now: OffsetDateTime) -> Self {
        let (since, last_offset) = match self {
            Self::Unchecked => (now, None),
            Self::Ok { offset, checked_at, .. } => (*checked_at, Some(*offset)),
            Self::Failed { since, last_offset, .. } => (*since, *last_offset),
        };
        Self::Failed { error, since, failed_at: now, last_offset }
    }

    /// The last measured offset, if any.
    #[must_use]
    pub fn offset(&self) -> Option<Duration> {
        match self {
            Self::Unchecked => None,
            Self::Ok { offset, .. } => Some(*offset),
            Self::Failed { last_offset, .. } => *last_offset,
        }
    }

    /// When the last check ran, successful or not.
    #[must_use]
    pub fn checked_at(&self) -> Option<OffsetDateTime> {
        match self {
            Self::Unchecked => None,
            Self::Ok { checked_at, .. } => Some(*checked_at),
            Self::Failed { failed_at, .. } => Some(*failed_at),
        }
    }

    /// The verdict at `now`, with `limit` the largest |offset| allowed and `max_age` how long
    /// the clock may go unconfirmed (e.g. three check intervals).
    ///
    /// - [`Self::Unchecked`] is [`ClockHealth::Unchecked`]: without a configured server there is
    ///   nothing to compare with, and `/readyz` says so.
    /// - A clock unconfirmed for more than `max_age` — the last success (or, with none, the
    ///   first failure) is older — is [`ClockHealth::Unconfirmed`]: it can no longer be trusted.
    /// - Otherwise a last known |offset| above `limit` is [`ClockHealth::OutOfTolerance`],
    ///   even if the latest check failed.
    #[must_use]
    pub fn health(&self, limit: std::time::Duration, now: OffsetDateTime, max_age: std::time::Duration) -> ClockHealth {
        let (confirmed, offset, failed) = match self {
            Self::Unchecked => return ClockHealth::Unchecked,
            Self::Ok { offset, checked_at, .. } => (*checked_at, Some(*offset), false),
            Self::Failed { since, last_offset, .. } => (*since, *last_offset, true),
        };
        if now - confirmed > max_age {
            return ClockHealth::Unconfirmed { for_longer_than: max_age };
        }
        if let Some(offset) = offset
            && offset.unsigned_abs() > limit
        {
            return ClockHealth::OutOfTolerance { offset };
        }
        if failed { ClockHealth::FailedRecently } else { ClockHealth::Ok }
    }

    /// Whether records and audit events may be written now (see [`Self::health`] for the
    /// rule).
    ///
    /// # Errors
    /// The message for the person whose write is refused: what is wrong and what to do.
    pub fn allows_writes(
        &self,
        limit: std::time::Duration,
        now: OffsetDateTime,
        max_age: std::time::Duration,
    ) -> Result<(), Message> {
        match self.health(limit, now, max_age) {
            ClockHealth::Unchecked | ClockHealth::Ok | ClockHealth::FailedRecently => Ok(()),
            ClockHealth::OutOfTolerance { offset } => Err(out_of_tolerance_message(offset, limit)),
            ClockHealth::Unconfirmed { for_longer_than } => Err(unconfirmed_message(for_longer_than)),
        }
    }
}

/// The magnitude in seconds with millisecond precision (`1.234`).
fn seconds_text(d: Duration) -> String {
    format!("{:.3}", d.unsigned_abs().as_secs_f64())
}

fn out_of_tolerance_message(offset: Duration, limit: std::time::Duration) -> Message {
    let amount = seconds_text(offset);
    let limit = humantime::format_duration(limit);
    // θ > 0: the reference is ahead, so our clock is behind.
    let (ja_dir, en_dir) = if offset.is_positive() { ("遅れて", "behind") } else { ("進んで", "ahead of") };
    Message::new(
        format!(
            "サーバーの時刻が基準時刻（NTPサーバー）より{amount}秒{ja_dir}います（許容範囲は±{limit}）。記録の日時を正確に残せないため、書き込みを停止しています。システム管理者に時刻同期の確認を依頼してください。"
        ),
        format!(
            "the server clock is {amount} s {en_dir} the reference time (NTP server; allowed ±{limit}): writes are stopped because record timestamps would be wrong; ask your system administrator to check time synchronization"
        ),
    )
}

fn unconfirmed_message(max_age: std::time::Duration) -> Message {
    let age = humantime::format_duration(max_age);
    Message::new(
        format!(
            "基準時刻（NTPサーバー）との照合が{age}以上できていないため、サーバーの時刻の正確さを確認できません。記録の日時を保証できないため、書き込みを停止しています。システム管理者にNTPサーバーへの接続の確認を依頼してください。"
        ),
        format!(
            "the server clock has not been checked against the reference time (NTP server) for more than {age}: writes are stopped because record timestamps cannot be vouched for; ask your system administrator to check the connection to the NTP server"
        ),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use time::macros::datetime;

    /// 2026-11-25 09:00:00 UTC is Unix 1_795_597_200, NTP 1_795_597_200 + 2_208_988_800 =
    /// 4_004_586_000 = 0xEEB1_2210.
    const NINE_OCLOCK_NTP: u64 = 0xEEB1_2210;

    fn ts(seconds: u64, fraction: u64) -> NtpTimestamp {
        NtpTimestamp((seconds << 32) | fraction)
    }

    fn close(got: Duration, want: Duration) {
        assert!((got - want).unsigned_abs() <= std::time::Duration::from_nanos(2), "got {got}, want {want}");
    }

    /// A reply to a request sent at 09:00:00.5 (T1): the server received it at 09:00:02.75
    /// (T2) and answered at 09:00:02.875 (T3). Written out byte by byte.
    const REPLY: [u8; PACKET_LEN] = [
        0x24, 0x01, 0x00, 0xEC, // LI 0, VN 4, mode 4; stratum 1; poll 0; precision −20
        0x00, 0x00, 0x00, 0x00, // root delay
        0x00, 0x00, 0x00, 0x00, // root dispersion
        b'G', b'P', b'S', 0x00, // reference ID
        0xEE, 0xB1, 0x22, 0x0F, 0x00, 0x00, 0x00, 0x00, // reference: 08:59:59
        0xEE, 0xB1, 0x22, 0x10, 0x80, 0x00, 0x00, 0x00, // originate = our T1, 09:00:00.5
        0xEE, 0xB1, 0x22, 0x12, 0xC0, 0x00, 0x00, 0x00, // receive T2, 09:00:02.75
        0xEE, 0xB1, 0x22, 0x12, 0xE0, 0x00, 0x00, 0x00, // transmit T3, 09:00:02.875
    ];
    const T1: OffsetDateTime = datetime!(2026-11-25 09:00:00.5 UTC);
    const T4: OffsetDateTime = datetime!(2026-11-25 09:00:00.75 UTC);

    #[test]
    fn the_ntp_epoch_is_2208988800_seconds_before_the_unix_epoch() {
        // RFC 868 and RFC 5905: 70 years of which 17 leap years.
        assert_eq!(NTP_UNIX_OFFSET_SECS, 2_208_988_800);
        assert_eq!((70 * 365 + 17) * 86_400, NTP_UNIX_OFFSET_SECS);
        assert_eq!((datetime!(1970-01-01 0:00 UTC) - datetime!(1900-01-01 0:00 UTC)).whole_seconds(), 2_208_988_800);
        let unix = NtpTimestamp::from_time(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(unix, ts(2_208_988_800, 0));
        assert_eq!(unix.to_bytes(), [0x83, 0xAA, 0x7E, 0x80, 0, 0, 0, 0]);
        assert_eq!(NtpTimestamp::from_time(datetime!(1900-01-01 0:00 UTC)), NtpTimestamp::ZERO);
        assert_eq!(NtpTimestamp::from_time(datetime!(2026-11-25 09:00 UTC)), ts(NINE_OCLOCK_NTP, 0));
    }

    #[test]
    fn fractions_are_32_bit_binary_and_round_trip_to_the_nanosecond() {
        let half = NtpTimestamp::from_time(datetime!(2026-11-25 09:00:00.5 UTC));
        assert_eq!((half.seconds(), half.fraction()), (0xEEB1_2210, 0x8000_0000));
        let quarter = NtpTimestamp::from_time(datetime!(2026-11-25 09:00:00.25 UTC));
        assert_eq!(quarter.fraction(), 0x4000_0000);
        // 0.1 s = 429496729.6 units, rounded up.
        assert_eq!(NtpTimestamp::from_time(datetime!(2026-11-25 09:00:00.1 UTC)).fraction(), 0x1999_999A);
        let last = NtpTimestamp::from_time(datetime!(2026-11-25 09:00:00.999_999_999 UTC));
        assert_eq!(last.seconds(), 0xEEB1_2210, "the fraction never carries into the seconds");
        for t in [
            datetime!(2026-11-25 09:00:00.999_999_999 UTC),
            datetime!(2026-11-25 09:00:00.000_000_001 UTC),
            datetime!(2026-11-25 09:00:00.123_456_789 UTC),
            datetime!(1999-12-31 23:59:59.5 UTC),
            datetime!(2040-06-01 12:00:00.000_001 UTC),
        ] {
            let back = NtpTimestamp::from_time(t).to_time(t + Duration::days(365 * 30));
            assert_eq!(back, t);
            assert_eq!(NtpTimestamp::from_bytes(NtpTimestamp::from_time(t).to_bytes()), NtpTimestamp::from_time(t));
        }
    }

    #[test]
    fn the_era_is_the_one_nearest_the_reference() {
        // 2036-02-07 06:28:16 UTC is 2³² seconds after 1900: era 1 begins, the field wraps to 0.
        let wrap = datetime!(2036-02-07 06:28:16 UTC);
        assert_eq!(NtpTimestamp::from_time(wrap), NtpTimestamp::ZERO);
        assert_eq!(NtpTimestamp::ZERO.to_time(datetime!(2036-01-01 0:00 UTC)), wrap);
        assert_eq!(NtpTimestamp::ZERO.to_time(datetime!(1900-01-02 0:00 UTC)), datetime!(1900-01-01 0:00 UTC));
        assert_eq!(ts(0xFFFF_FFFF, 0).to_time(datetime!(2036-03-01 0:00 UTC)), datetime!(2036-02-07 06:28:15 UTC));
        // Differences across the boundary are plain differences.
        let after = NtpTimestamp::from_time(datetime!(2036-02-07 06:28:17 UTC));
        let before = NtpTimestamp::from_time(datetime!(2036-02-07 06:28:15 UTC));
        assert_eq!(after.since(before), Duration::seconds(2));
        assert_eq!(before.since(after), Duration::seconds(-2));
    }

    #[test]
    fn the_request_is_version_4_client_mode_carrying_our_transmit_time() {
        let request = client_request(NtpTimestamp::from_time(T1));
        let mut want = [0u8; PACKET_LEN];
        want[0] = 0x23; // LI 0, VN 4, mode 3
        want[40..48].copy_from_slice(&[0xEE, 0xB1, 0x22, 0x10, 0x80, 0x00, 0x00, 0x00]);
        assert_eq!(request, want);
    }

    #[test]
    fn a_hand_written_reply_gives_the_hand_computed_offset_and_delay() {
        let times = parse_reply(&REPLY, NtpTimestamp::from_time(T1)).unwrap();
        assert_eq!(times.stratum, 1);
        assert_eq!(times.receive, ts(NINE_OCLOCK_NTP + 2, 0xC000_0000));
        assert_eq!(times.transmit, ts(NINE_OCLOCK_NTP + 2, 0xE000_0000));
        // θ = ((2.75 − 0.5) + (2.875 − 0.75)) / 2 = (2.25 + 2.125) / 2 = 2.1875 s
        // δ = (0.75 − 0.5) − (2.875 − 2.75) = 0.25 − 0.125 = 0.125 s
        let m = evaluate(T1, &REPLY, T4).unwrap();
        assert_eq!(m.offset, Duration::microseconds(2_187_500));
        assert_eq!(m.delay, Duration::milliseconds(125));
        // Extension fields after the 48 bytes are ignored.
        let mut longer = REPLY.to_vec();
        longer.extend_from_slice(&[0u8; 20]);
        assert_eq!(evaluate(T1, &longer, T4), Ok(m));
        // Version 3 servers are accepted too.
        let mut v3 = REPLY;
        v3[0] = 0x1C;
        assert_eq!(evaluate(T1, &v3, T4), Ok(m));
    }

    #[test]
    fn offsets_are_signed_and_keep_sub_second_precision() {
        let at = |s: &str| {
            let base = datetime!(2026-11-25 10:00 UTC);
            let secs: f64 = s.parse().unwrap();
            NtpTimestamp::from_time(base + Duration::seconds_f64(secs))
        };
        // Our clock 2 s behind: T1 0, T2 2.100, T3 2.101, T4 0.201.
        // θ = (2.100 + 1.900) / 2 = 2.000, δ = 0.201 − 0.001 = 0.200
        let m = measure(at("0"), at("2.100"), at("2.101"), at("0.201"));
        close(m.offset, Duration::seconds(2));
        close(m.delay, Duration::milliseconds(200));
        // Our clock 3 s ahead: T1 0, T2 −2.950, T3 −2.940, T4 0.110.
        // θ = (−2.950 + −3.050) / 2 = −3.000, δ = 0.110 − 0.010 = 0.100
        let m = measure(at("0"), at("-2.950"), at("-2.940"), at("0.110"));
        close(m.offset, Duration::seconds(-3));
        close(m.delay, Duration::milliseconds(100));
        // Sub-second: T1 0, T2 0.0253, T3 0.0255, T4 0.0010.
        // θ = (0.0253 + 0.0245) / 2 = 0.0249, δ = 0.0010 − 0.0002 = 0.0008
        let m = measure(at("0"), at("0.0253"), at("0.0255"), at("0.0010"));
        close(m.offset, Duration::microseconds(24_900));
        close(m.delay, Duration::microseconds(800));
        // Across the era boundary: T1 06:28:15.5, server 1 s ahead, no delay.
        let t1 = datetime!(2036-02-07 06:28:15.5 UTC);
        let server = NtpTimestamp::from_time(t1 + Duration::SECOND);
        let m = measure(NtpTimestamp::from_time(t1), server, server, NtpTimestamp::from_time(t1));
        assert_eq!(m.offset, Duration::SECOND);
        assert_eq!(m.delay, Duration::ZERO);
    }

    #[test]
    fn malformed_and_unsynchronized_replies_are_refused() {
        let sent = NtpTimestamp::from_time(T1);
        let with = |change: &dyn Fn(&mut [u8; PACKET_LEN])| {
            let mut p = REPLY;
            change(&mut p);
            parse_reply(&p, sent)
        };
        assert_eq!(parse_reply(&REPLY[..47], sent), Err(ReplyError::TooShort { len: 47 }));
        assert_eq!(parse_reply(&[], sent), Err(ReplyError::TooShort { len: 0 }));
        assert_eq!(with(&|p| p[0] = 0x23), Err(ReplyError::NotServerMode { mode: 3 }));
        assert_eq!(with(&|p| p[0] = 0x25), Err(ReplyError::NotServerMode { mode: 5 }));
        assert_eq!(with(&|p| p[0] = 0x14), Err(ReplyError::Version { version: 2 }));
        assert_eq!(with(&|p| p[0] = 0x2C), Err(ReplyError::Version { version: 5 }));
        assert_eq!(with(&|p| p[0] = 0xE4), Err(ReplyError::Unsynchronized), "leap indicator 3");
        assert_eq!(with(&|p| p[1] = 16), Err(ReplyError::Unsynchronized), "stratum 16");
        assert!(with(&|p| p[1] = 15).is_ok(), "stratum 15 is allowed");
        assert_eq!(
            with(&|p| {
                p[1] = 0;
                p[12..16].copy_from_slice(b"RATE");
            }),
            Err(ReplyError::KissOfDeath { code: "RATE".to_owned() })
        );
        assert_eq!(
            with(&|p| {
                p[1] = 0;
                p[12..16].copy_from_slice(b"D\n\"\x00");
            }),
            Err(ReplyError::KissOfDeath { code: "D???".to_owned() }),
            "kiss codes are never passed through unfiltered"
        );
        assert_eq!(with(&|p| p[31] = 1), Err(ReplyError::OriginateMismatch), "one fraction unit off");
        assert_eq!(with(&|p| p[24..32].fill(0)), Err(ReplyError::OriginateMismatch));
        assert_eq!(with(&|p| p[40..48].fill(0)), Err(ReplyError::NoTime), "zero transmit");
        assert_eq!(with(&|p| p[32..40].fill(0)), Err(ReplyError::NoTime), "zero receive");
        for e in [ReplyError::TooShort { len: 3 }, ReplyError::OriginateMismatch, ReplyError::Unsynchronized] {
            let m = e.message();
            assert!(!m.ja.is_empty() && !m.en.is_empty() && !m.ja.contains(" / "), "{m:?}");
        }
    }

    const LIMIT: std::time::Duration = std::time::Duration::from_secs(1);
    const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(15 * 60);
    const CHECKED: OffsetDateTime = datetime!(2026-11-25 09:00 UTC);

    fn ok(offset: Duration) -> TimeStatus {
        TimeStatus::succeeded(Measurement { offset, delay: Duration::milliseconds(3) }, "ntp.example:123", CHECKED)
    }

    fn error() -> Message {
        Message::new("時間切れ", "timed out")
    }

    #[test]
    fn no_configured_server_allows_writes_and_says_unchecked() {
        let s = TimeStatus::default();
        assert_eq!(s, TimeStatus::Unchecked);
        assert_eq!(s.health(LIMIT, CHECKED, MAX_AGE), ClockHealth::Unchecked);
        assert_eq!(s.health(LIMIT, CHECKED, MAX_AGE).as_str(), "unchecked");
        assert_eq!(s.allows_writes(LIMIT, CHECKED + Duration::days(400), MAX_AGE), Ok(()));
        assert_eq!((s.offset(), s.checked_at()), (None, None));
    }

    #[test]
    fn an_offset_within_the_limit_allows_writes_and_one_beyond_refuses_them() {
        let later = CHECKED + Duration::minutes(1);
        for offset in [Duration::ZERO, Duration::milliseconds(500), Duration::SECOND, -Duration::SECOND] {
            assert_eq!(ok(offset).health(LIMIT, later, MAX_AGE), ClockHealth::Ok, "{offset}");
            assert_eq!(ok(offset).allows_writes(LIMIT, later, MAX_AGE), Ok(()));
        }
        let behind = ok(Duration::milliseconds(1_500));
        assert_eq!(
            behind.health(LIMIT, later, MAX_AGE),
            ClockHealth::OutOfTolerance { offset: Duration::milliseconds(1_500) }
        );
        let m = behind.allows_writes(LIMIT, later, MAX_AGE).unwrap_err();
        assert!(m.ja.contains("1.500秒遅れて") && m.ja.contains("±1s") && m.ja.contains("書き込みを停止"), "{m:?}");
        assert!(m.en.contains("1.500 s behind") && m.en.contains("±1s"), "{m:?}");
        let m = ok(Duration::milliseconds(-2_250)).allows_writes(LIMIT, later, MAX_AGE).unwrap_err();
        assert!(m.ja.contains("2.250秒進んで") && m.en.contains("2.250 s ahead of"), "{m:?}");
        assert_eq!(ClockHealth::OutOfTolerance { offset: Duration::SECOND }.as_str(), "out_of_tolerance");
        assert!(behind.health(LIMIT, later, MAX_AGE).check_ok(), "the check itself worked");
    }

    #[test]
    fn a_check_older_than_max_age_no_longer_vouches_for_the_clock() {
        let good = ok(Duration::milliseconds(10));
        assert_eq!(good.allows_writes(LIMIT, CHECKED + MAX_AGE, MAX_AGE), Ok(()));
        let stale = CHECKED + MAX_AGE + Duration::SECOND;
        assert_eq!(good.health(LIMIT, stale, MAX_AGE), ClockHealth::Unconfirmed { for_longer_than: MAX_AGE });
        let m = good.allows_writes(LIMIT, stale, MAX_AGE).unwrap_err();
        assert!(m.ja.contains("15m以上") && m.en.contains("more than 15m"), "{m:?}");
        assert!(!good.health(LIMIT, stale, MAX_AGE).check_ok());
        // A clock stepped back before the last check does not make it stale.
        assert_eq!(good.allows_writes(LIMIT, CHECKED - Duration::hours(1), MAX_AGE), Ok(()));
    }

    #[test]
    fn failures_keep_the_time_of_the_last_success_and_its_offset() {
        let first_failure = CHECKED + Duration::minutes(5);
        let failed = ok(Duration::milliseconds(20)).after_failure(error(), first_failure);
        assert_eq!(
            failed,
            TimeStatus::Failed {
                error: error(),
                since: CHECKED,
                failed_at: first_failure,
                last_offset: Some(Duration::milliseconds(20)),
            }
        );
        assert_eq!(failed.checked_at(), Some(first_failure));
        assert_eq!(failed.offset(), Some(Duration::milliseconds(20)));
        // Within max_age of the last success: still allowed, reported as failed.
        assert_eq!(failed.health(LIMIT, first_failure, MAX_AGE), ClockHealth::FailedRecently);
        assert_eq!(failed.health(LIMIT, first_failure, MAX_AGE).as_str(), "failed");
        assert_eq!(failed.allows_writes(LIMIT, first_failure, MAX_AGE), Ok(()));
        // Further failures keep `since`.
        let again = failed.after_failure(error(), CHECKED + Duration::minutes(10));
        assert!(matches!(again, TimeStatus::Failed { since, .. } if since == CHECKED));
        let late = CHECKED + Duration::minutes(16);
        assert_eq!(again.health(LIMIT, late, MAX_AGE), ClockHealth::Unconfirmed { for_longer_than: MAX_AGE });
        assert!(again.allows_writes(LIMIT, late, MAX_AGE).is_err());
        // A failure after an out-of-tolerance measurement keeps refusing.
        let off = ok(Duration::seconds(5)).after_failure(error(), first_failure);
        assert!(matches!(off.health(LIMIT, first_failure, MAX_AGE), ClockHealth::OutOfTolerance { .. }));
        // With no success ever, the grace period runs from the first failure.
        let never = TimeStatus::Unchecked.after_failure(error(), CHECKED);
        assert!(matches!(never, TimeStatus::Failed { since, last_offset: None, .. } if since == CHECKED));
        assert_eq!(never.allows_writes(LIMIT, CHECKED + MAX_AGE, MAX_AGE), Ok(()));
        assert!(never.allows_writes(LIMIT, CHECKED + MAX_AGE + Duration::SECOND, MAX_AGE).is_err());
        // A success replaces everything.
        assert_eq!(
            TimeStatus::succeeded(Measurement { offset: Duration::ZERO, delay: Duration::ZERO }, "s:123", late)
                .allows_writes(LIMIT, late, MAX_AGE),
            Ok(())
        );
    }
}
