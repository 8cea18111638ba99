//! Audit leaves from arbitrary bytes (a damaged or forged database row): reading never
//! panics, and whatever reads back encodes to exactly the same bytes (one meaning per leaf).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_core::audit::{AuditEvent, leaf_kind};

fuzz_target!(|data: &[u8]| {
    let _ = leaf_kind(data);
    if let Ok(event) = AuditEvent::from_leaf(data) {
        assert_eq!(event.to_leaf().ok().as_deref(), Some(data));
    }
});
