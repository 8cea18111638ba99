//! Password hashing (argon2id) and one-time passwords.

use argon2::password_hash::{PasswordHash as PhcHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::{CryptoRng, RngCore};
use std::fmt;
use zeroize::Zeroizing;

/// Errors from hashing or verifying a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The argon2 parameters are not usable.
    #[error("argon2id のパラメータが不正です / invalid argon2id parameters")]
    Params,
    /// Hashing failed.
    #[error("パスワードをハッシュできません / cannot hash the password")]
    Hash,
    /// The stored hash is not an argon2id PHC string.
    #[error("保存されたパスワードハッシュが不正です / the stored password hash is malformed")]
    MalformedHash,
    /// The password does not match.
    #[error("パスワードが一致しません / the password does not match")]
    Mismatch,
}

/// A secret string (password, one-time password). Zeroized on drop; `Debug` prints nothing of it.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret.
    #[must_use]
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }

    /// The secret text: only for hashing or for showing it once to its owner.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// An argon2id hash in PHC string form.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a stored PHC string after checking that it is argon2id.
    ///
    /// # Errors
    /// [`PasswordError::MalformedHash`] when it is not an argon2id PHC string.
    pub fn from_phc(phc: impl Into<String>) -> Result<Self, PasswordError> {
        let phc = phc.into();
        let parsed = PhcHash::new(&phc).map_err(|_| PasswordError::MalformedHash)?;
        if parsed.algorithm != argon2::ARGON2ID_IDENT {
            return Err(PasswordError::MalformedHash);
        }
        Ok(Self(phc))
    }

    /// The PHC string, for storage.
    #[must_use]
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(argon2id)")
    }
}

/// Proof that a password was checked against a hash and matched. Only [`PasswordHasher::verify`]
/// makes one.
#[derive(Debug)]
pub struct PasswordVerified(());

/// Hashes and verifies passwords with the configured argon2id parameters.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
}

impl PasswordHasher {
    /// A hasher with memory (KiB), iterations and lanes as configured (the config checks them
    /// against OWASP's minimums first).
    ///
    /// # Errors
    /// [`PasswordError::Params`] when argon2 rejects the parameters.
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, PasswordError> {
        let params = Params::new(memory_kib, iterations, parallelism, None).map_err(|_| PasswordError::Params)?;
        Ok(Self { params })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes `password` with a fresh salt from `rng`.
    ///
    /// # Errors
    /// [`PasswordError::Hash`] when argon2 fails.
    pub fn hash(&self, password: &Secret, rng: &mut (impl RngCore + CryptoRng)) -> Result<PasswordHash, PasswordError> {
        let salt = SaltString::generate(rng);
        let phc = self.argon2().hash_password(password.expose().as_bytes(), &salt).map_err(|_| PasswordError::Hash)?;
        Ok(PasswordHash(phc.to_string()))
    }

    /// Checks `password` against `hash` in constant time, using the parameters stored in the
    /// hash (so raising the configured cost does not lock anyone out).
    ///
    /// # Errors
    /// [`PasswordError::Mismatch`] when it does not match.
    pub fn verify(&self, hash: &PasswordHash, password: &Secret) -> Result<PasswordVerified, PasswordError> {
        let parsed = PhcHash::new(&hash.0).map_err(|_| PasswordError::MalformedHash)?;
        self.argon2()
            .verify_password(password.expose().as_bytes(), &parsed)
            .map(|()| PasswordVerified(()))
            .map_err(|_| PasswordError::Mismatch)
    }
}

/// A one-time password for a new account: 20 characters from an alphabet without look-alikes
/// (no 0/o, 1/l/i), in groups of four, about 100 bits of entropy.
#[derive(Debug, Clone)]
pub struct OneTimePassword(Secret);

impl OneTimePassword {
    const ALPHABET: &'static [u8; 32] = b"abcdefghjkmnpqrstuvwxyz23456789-";
    const LEN: usize = 20;

    /// Draws a one-time password from `rng`.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        // 31 usable symbols (the last alphabet entry is the separator); rejection sampling keeps
        // the choice uniform.
        let mut out = String::with_capacity(Self::LEN + Self::LEN / 4);
        let mut produced = 0;
        while produced < Self::LEN {
            let mut byte = [0u8; 1];
            rng.fill_bytes(&mut byte);
            let v = usize::from(byte[0] & 0x1f);
            if v >= 31 {
                continue;
            }
            if produced > 0 && produced % 4 == 0 {
                out.push('-');
            }
            if let Some(c) = Self::ALPHABET.get(v) {
                out.push(char::from(*c));
                produced += 1;
            }
        }
        Self(Secret::new(out))
    }

    /// The password, to hash it and to show it once to the administrator.
    #[must_use]
    pub fn secret(&self) -> &Secret {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use rand_core::OsRng;

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(19_456, 2, 1).unwrap()
    }

    #[test]
    fn hash_then_verify_accepts_the_right_password_only() {
        let h = hasher();
        let hash = h.hash(&Secret::new("correct horse battery staple"), &mut OsRng).unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", hash.as_phc());
        assert!(h.verify(&hash, &Secret::new("correct horse battery staple")).is_ok());
        assert!(matches!(h.verify(&hash, &Secret::new("correct horse battery stapler")), Err(PasswordError::Mismatch)));
    }

    #[test]
    fn verify_uses_the_parameters_stored_in_the_hash() {
        let old = PasswordHasher::new(19_456, 2, 1).unwrap();
        let hash = old.hash(&Secret::new("pw-for-param-change"), &mut OsRng).unwrap();
        let stronger = PasswordHasher::new(47_104, 1, 1).unwrap();
        assert!(stronger.verify(&hash, &Secret::new("pw-for-param-change")).is_ok());
    }

    #[test]
    fn only_argon2id_hashes_are_accepted() {
        assert!(PasswordHash::from_phc("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA").is_err());
        assert!(PasswordHash::from_phc("plaintext").is_err());
        let h = hasher().hash(&Secret::new("x"), &mut OsRng).unwrap();
        assert!(PasswordHash::from_phc(h.as_phc()).is_ok());
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let otp = OneTimePassword::generate(&mut OsRng);
        let shown = format!("{otp:?} {:?}", hasher().hash(otp.secret(), &mut OsRng).unwrap());
        assert!(!shown.contains(otp.secret().expose()), "{shown}");
        assert!(!shown.contains("$argon2id$"), "{shown}");
    }

    #[test]
    fn one_time_passwords_have_the_promised_shape() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let otp = OneTimePassword::generate(&mut OsRng);
            let text = otp.secret().expose().to_owned();
            assert_eq!(text.len(), 24, "{text}");
            let groups: Vec<&str> = text.split('-').collect();
            assert_eq!(groups.len(), 5, "{text}");
            assert!(
                groups.iter().all(|g| g.len() == 4 && g.chars().all(|c| "abcdefghjkmnpqrstuvwxyz23456789".contains(c))),
                "{text}"
            );
            assert!(seen.insert(text));
        }
    }
}
