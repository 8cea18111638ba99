//! TOTP (RFC 6238): SHA-1, 30-second steps, 6 digits; the current and the previous step are
//! accepted, never a future one. Replay protection (each code accepted once) is the caller's:
//! [`verify`] returns the step so the store can refuse a step it has already seen.

use rand_core::{CryptoRng, RngCore};
use std::fmt;
use totp_rs::{Algorithm, Builder, Secret as RawSecret, Totp};
use zeroize::Zeroizing;

/// Seconds per step.
pub const STEP_SECONDS: u64 = 30;
/// Digits per code.
pub const DIGITS: u8 = 6;
/// Secret length in bytes (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;

/// A TOTP shared secret. `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(***)")
    }
}

impl TotpSecret {
    /// A fresh secret from `rng`.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rng.fill_bytes(&mut bytes);
        Self(Zeroizing::new(bytes))
    }

    /// A stored secret.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// A secret from its base32 text (as `init --json` prints it).
    #[must_use]
    pub fn from_base32(text: &str) -> Option<Self> {
        let raw = RawSecret::try_from_base32(text.trim()).ok()?;
        Some(Self(Zeroizing::new(raw.as_ref().to_vec())))
    }

    /// The raw bytes, for storage.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Base32 (RFC 4648, no padding), as authenticator apps take it.
    #[must_use]
    pub fn to_base32(&self) -> String {
        RawSecret::from(self.0.to_vec()).to_base32()
    }

    /// The `otpauth://` URI that authenticator apps read from a QR code.
    #[must_use]
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            percent_encode(issuer),
            percent_encode(account),
            self.to_base32(),
            percent_encode(issuer)
        )
    }

    fn totp(&self) -> Totp {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(1)
            .with_step_duration(STEP_SECONDS)
            .with_secret(self.0.to_vec())
            .build_noncompliant()
    }

    /// The code for the step containing `unix_time` (for enrollment screens and tests).
    #[must_use]
    pub fn code_at(&self, unix_time: u64) -> String {
        self.totp().generate(unix_time).to_string()
    }
}

/// Checks `code` at `unix_time`: returns the step it belongs to when it is the code of the
/// current or the previous step. Comparison is constant-time (totp-rs). Spaces are ignored.
#[must_use]
pub fn verify(secret: &TotpSecret, code: &str, unix_time: u64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != usize::from(DIGITS) || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let current = unix_time / STEP_SECONDS;
    let step = secret.totp().check(&code, unix_time)?;
    if step > current {
        return None; // a future step: not accepted
    }
    i64::try_from(step).ok()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 column: the secret is ASCII "12345678901234567890"; the RFC
    /// lists 8-digit codes, whose last six digits are the 6-digit codes.
    const RFC6238_SHA1: [(u64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890")
    }

    #[test]
    fn rfc_6238_known_answers() {
        let secret = rfc_secret();
        for (t, eight) in RFC6238_SHA1 {
            let six = &eight[2..];
            assert_eq!(secret.code_at(t), six, "T={t}");
            assert_eq!(verify(&secret, six, t), Some(i64::try_from(t / 30).unwrap_or(-1)), "T={t}");
        }
    }

    #[test]
    fn the_previous_step_is_accepted_but_not_older_or_future_ones() {
        let secret = rfc_secret();
        let t = 1_234_567_890;
        let previous = secret.code_at(t - 30);
        let older = secret.code_at(t - 60);
        let future = secret.code_at(t + 30);
        assert_eq!(verify(&secret, &previous, t), Some(i64::try_from(t / 30 - 1).unwrap_or(-1)));
        assert_eq!(verify(&secret, &older, t), None);
        assert_eq!(verify(&secret, &future, t), None);
    }

    #[test]
    fn malformed_codes_are_refused() {
        let secret = rfc_secret();
        let t = 59;
        for bad in ["", "12345", "1234567", "abcdef", "28708２", "-28708"] {
            assert_eq!(verify(&secret, bad, t), None, "{bad}");
        }
        assert!(verify(&secret, "287 082", t).is_some(), "spaces are ignored");
    }

    #[test]
    fn otpauth_uri_and_base32() {
        let secret = rfc_secret();
        assert_eq!(secret.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), Some(secret.clone()));
        assert_eq!(TotpSecret::from_base32("not base32!"), None);
        let uri = secret.otpauth_uri("mamori まもり診療所", "admin");
        assert!(uri.starts_with("otpauth://totp/mamori%20%E3%81%BE"), "{uri}");
        assert!(uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&"), "{uri}");
        assert!(uri.ends_with("&algorithm=SHA1&digits=6&period=30"), "{uri}");
        assert_eq!(format!("{secret:?}"), "TotpSecret(***)");
    }
}
