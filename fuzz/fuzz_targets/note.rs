//! Signed notes and verifier keys from arbitrary text: never a panic, and nothing opens
//! without a valid signature of the known key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_ledger::VerifierKey;
use mamori_ledger::note::open_note;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = VerifierKey::parse(text);
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    if let Ok(verifier) = VerifierKey::new("localhost", key.verifying_key()) {
        if let Ok(note) = open_note(text, std::slice::from_ref(&verifier)) {
            assert!(note.signers().iter().any(|s| s == "localhost"));
        }
    }
});
