//! Password strength: length bounds and a maintained guessability estimator (zxcvbn). No
//! composition rules and no forced periodic change (NIST SP 800-63B; the guideline allows a
//! shorter minimum only with a second factor, which every mamori account has).

/// Longest password accepted, in characters (hashing cost stays bounded).
pub const MAX_CHARS: usize = 256;
/// Lowest zxcvbn score accepted (0–4): 3 is "safely unguessable" against online and slow
/// offline attacks.
pub const MIN_SCORE: u8 = 3;

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weakness {
    /// Fewer characters than the configured minimum.
    TooShort {
        /// The minimum.
        min: usize,
    },
    /// More than [`MAX_CHARS`].
    TooLong,
    /// Common, breached-looking or otherwise easy to guess.
    Guessable,
    /// Contains the login ID or the person's name.
    ContainsPersonalData,
}

/// Checks a new password. `personal` lists the login ID, the display name and the like, which
/// must not appear in it and which the estimator treats as known to an attacker.
///
/// # Errors
/// The first [`Weakness`] found.
pub fn check(password: &str, min_chars: usize, personal: &[&str]) -> Result<(), Weakness> {
    let chars = password.chars().count();
    if chars < min_chars {
        return Err(Weakness::TooShort { min: min_chars });
    }
    if chars > MAX_CHARS {
        return Err(Weakness::TooLong);
    }
    let lower = password.to_lowercase();
    if personal.iter().map(|p| p.trim().to_lowercase()).any(|p| p.chars().count() >= 3 && lower.contains(&p)) {
        return Err(Weakness::ContainsPersonalData);
    }
    let score = u8::from(zxcvbn::zxcvbn(password, personal).score());
    if score < MIN_SCORE {
        return Err(Weakness::Guessable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_and_short_passwords_are_refused() {
        assert_eq!(check("short", 12, &[]), Err(Weakness::TooShort { min: 12 }));
        for common in ["password1234", "qwertyuiop123", "123456789012", "iloveyou1234", "Password1234!"] {
            assert_eq!(check(common, 12, &[]), Err(Weakness::Guessable), "{common}");
        }
        assert_eq!(check(&"x".repeat(257), 12, &[]), Err(Weakness::TooLong));
    }

    #[test]
    fn personal_data_is_refused_and_good_passphrases_pass() {
        assert_eq!(check("yamada.taro-2026-spring", 12, &["yamada.taro"]), Err(Weakness::ContainsPersonalData));
        assert_eq!(check("correct horse battery staple", 12, &["admin"]), Ok(()));
        assert_eq!(check("桜の花びら舞う四月の朝に", 12, &[]), Ok(()), "Japanese passphrases count by character");
    }
}
