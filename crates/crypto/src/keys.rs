//! The server's Ed25519 key that signs audit-log checkpoints.

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

/// Errors loading or saving a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM is not a PKCS#8 Ed25519 private key.
    #[error("署名鍵を読めません（PKCS#8 Ed25519 PEMではありません） / the signing key is not a PKCS#8 Ed25519 PEM")]
    Malformed,
    /// Encoding failed.
    #[error("署名鍵を書き出せません / cannot encode the signing key")]
    Encode,
}

/// The Ed25519 key that signs checkpoints (tree heads) of the audit log.
pub struct CheckpointKey(SigningKey);

impl CheckpointKey {
    /// A fresh key from `rng`.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Self(SigningKey::generate(rng))
    }

    /// Reads a PKCS#8 PEM private key.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] when the text is not such a key.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem).map(Self).map_err(|_| KeyError::Malformed)
    }

    /// The key as PKCS#8 PEM, for a file of mode 0600.
    ///
    /// # Errors
    /// [`KeyError::Encode`] when encoding fails.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.0.to_pkcs8_pem(LineEnding::LF).map_err(|_| KeyError::Encode)
    }

    /// The 32-byte public key.
    #[must_use]
    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// A short identifier of the public key: the first 8 bytes of its SHA-256, in hex.
    #[must_use]
    pub fn key_id(&self) -> String {
        let digest = Sha256::digest(self.public_key());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The signing key, for the ledger's checkpoint signer.
    #[must_use]
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }
}

impl fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointKey(ed25519, id {})", self.key_id())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ed25519_dalek::{Signer, Verifier};
    use rand_core::OsRng;

    #[test]
    fn a_key_survives_its_pem_and_still_signs() {
        let key = CheckpointKey::generate(&mut OsRng);
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = CheckpointKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        let sig = back.signing_key().sign(b"checkpoint");
        assert!(key.signing_key().verifying_key().verify(b"checkpoint", &sig).is_ok());
        assert!(!format!("{key:?}").contains(pem.lines().nth(1).unwrap_or("")));
        assert!(
            CheckpointKey::from_pkcs8_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err()
        );
    }
}
