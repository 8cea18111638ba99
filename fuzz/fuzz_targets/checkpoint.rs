//! A checkpoint body or signed checkpoint from arbitrary text: parsing never panics, and a
//! body that parses prints back to the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_ledger::{Checkpoint, VerifierKey};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(checkpoint) = Checkpoint::parse_body(text) {
        assert_eq!(checkpoint.to_body(), text);
    }
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    if let Ok(verifier) = VerifierKey::new("localhost", key.verifying_key()) {
        let _ = Checkpoint::open(text, std::slice::from_ref(&verifier));
    }
});
