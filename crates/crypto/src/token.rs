//! Random bearer secrets: session tokens, CSRF tokens, recovery codes. Only their SHA-256 is
//! stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// 32 random bytes as unpadded base64url (43 characters).
pub fn random_token(rng: &mut (impl RngCore + CryptoRng)) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a session token: the key under which the session is stored.
#[must_use]
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Constant-time equality of two secrets given as text (e.g. a CSRF token).
#[must_use]
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

const RECOVERY_ALPHABET: &[u8; 31] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A recovery code: 16 characters (about 79 bits) in groups of four, e.g. `k7mq-…`.
pub fn recovery_code(rng: &mut (impl RngCore + CryptoRng)) -> String {
    let mut out = String::with_capacity(19);
    let mut produced = 0;
    while produced < 16 {
        let mut byte = [0u8; 1];
        rng.fill_bytes(&mut byte);
        let v = usize::from(byte[0] & 0x1f);
        let Some(c) = RECOVERY_ALPHABET.get(v) else { continue };
        if produced > 0 && produced % 4 == 0 {
            out.push('-');
        }
        out.push(char::from(*c));
        produced += 1;
    }
    out
}

/// The stored form of a recovery code: SHA-256 (domain-separated) of the code with case,
/// spaces and dashes removed, so `K7MQ 2…` and `k7mq-2…` are the same code.
#[must_use]
pub fn recovery_code_hash(code: &str) -> [u8; 32] {
    let normal: String =
        code.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_lowercase()).collect();
    let mut h = Sha256::new();
    h.update(b"mamori recovery code v1\0");
    h.update(normal.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = random_token(&mut OsRng);
        let b = random_token(&mut OsRng);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_ne!(token_hash(&a), token_hash(&b));
        assert!(secrets_equal(&a, &a.clone()));
        assert!(!secrets_equal(&a, &b));
        assert!(!secrets_equal(&a, &a[..42]));
    }

    #[test]
    fn recovery_codes_normalise_before_hashing() {
        let code = recovery_code(&mut OsRng);
        assert_eq!(code.len(), 19, "{code}");
        assert_eq!(recovery_code_hash(&code), recovery_code_hash(&code.to_uppercase().replace('-', " ")));
        assert_ne!(recovery_code_hash(&code), recovery_code_hash(&recovery_code(&mut OsRng)));
    }
}
