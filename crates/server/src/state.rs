//! What every handler can reach: the store, the checked configuration, the keys, the clock.

use crate::metrics::Metrics;
use mamori_core::Clock;
use mamori_core::config::ValidConfig;
use mamori_crypto::CheckpointKey;
use mamori_store::Store;
use std::sync::Arc;
use time::OffsetDateTime;

/// The server's keys, loaded at start-up. A server cannot be built without them, so a running
/// server always has them.
#[derive(Debug)]
pub struct ServerKeys {
    /// Signs audit-log checkpoints.
    pub checkpoint: CheckpointKey,
}

/// Shared state of one server instance. No globals: two instances in one process (as in the
/// tests) share nothing.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Checked configuration.
    pub config: ValidConfig,
    /// Loaded keys.
    pub keys: ServerKeys,
    /// WebAuthn, when the public URL has a domain name (WebAuthn refuses IP addresses).
    pub webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// Password hashing with the configured parameters.
    pub passwords: crate::auth::Passwords,
    /// Request counters.
    pub metrics: Arc<Metrics>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// Whether the server speaks TLS (false only for `--insecure-http` on loopback).
    pub tls: bool,
    /// When this instance started.
    pub started_at: OffsetDateTime,
}

impl AppState {
    /// Bundles the parts.
    #[must_use]
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
