//! What every handler can reach: the store, the checked configuration, the keys, the clock.

use crate::metrics::Metrics;
use mamori_core::Clock;
use mamori_core::Message;
use mamori_core::config::ValidConfig;
use mamori_core::timecheck::{ClockHealth, TimeStatus};
use mamori_crypto::CheckpointKey;
use mamori_store::Store;
use std::sync::{Arc, PoisonError, RwLock};
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
pub struct AppState {
    inner: Arc<Inner>,
    /// What the last clock check found (see [`crate::timecheck`]); made by [`AppState::new`],
    /// so the parts in [`Inner`] need not name it.
    time: Arc<RwLock<TimeStatus>>,
}

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
    /// Files kept by mamori (evidence), content-addressed under the data directory.
    pub files: crate::files::FileStore,
}

impl AppState {
    /// Bundles the parts.
    #[must_use]
    pub fn new(inner: Inner) -> Self {
        Self { inner: Arc::new(inner), time: Arc::new(RwLock::new(TimeStatus::Unchecked)) }
    }

    /// What the last clock check found.
    #[must_use]
    pub fn time_status(&self) -> TimeStatus {
        self.time.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replaces the clock status by `change(current)`, under one lock.
    pub fn update_time_status(&self, change: impl FnOnce(&TimeStatus) -> TimeStatus) -> TimeStatus {
        let mut status = self.time.write().unwrap_or_else(PoisonError::into_inner);
        let next = change(&status);
        *status = next.clone();
        next
    }

    /// The verdict on the clock now, under the configured `[time]` limits.
    #[must_use]
    pub fn clock_health(&self) -> ClockHealth {
        let time = &self.config.get().time;
        self.time_status().health(time.max_offset.0, self.clock.now(), time.max_age())
    }

    /// Whether records and audit events may be written now.
    ///
    /// # Errors
    /// What to tell the person whose write is refused.
    pub fn clock_allows_writes(&self) -> Result<(), Message> {
        let time = &self.config.get().time;
        self.time_status().allows_writes(time.max_offset.0, self.clock.now(), time.max_age())
    }

    /// The clock gauges for `/metrics`; none while no NTP server is configured.
    #[must_use]
    pub fn clock_gauges(&self) -> Option<crate::metrics::ClockGauges> {
        self.config.get().time.ntp_server.as_ref()?;
        Some(crate::metrics::ClockGauges {
            offset_seconds: self.time_status().offset().map(time::Duration::as_seconds_f64),
            check_ok: self.clock_health().check_ok(),
        })
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
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
