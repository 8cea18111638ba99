//! mamori's cryptography glue, kept small and reviewable.
//!
//! Each function wraps a maintained crate (argon2, ed25519-dalek, rcgen); nothing here invents
//! a primitive. Randomness is an argument wherever the wrapped crate allows it. `Debug` of every
//! secret prints its kind only.

pub mod keys;
pub mod password;
pub mod strength;
pub mod terminal_ca;
pub mod tls;
pub mod token;
pub mod totp;

pub use keys::{CheckpointKey, KeyError};
pub use password::{OneTimePassword, PasswordError, PasswordHash, PasswordHasher, PasswordVerified, Secret};
pub use tls::{SelfSignedCert, TlsCertError, self_signed_localhost, sha256_fingerprint};
pub use totp::TotpSecret;
