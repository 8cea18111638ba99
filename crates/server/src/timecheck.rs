//! Accurate time (MHLW guideline MDS 5 and 16.1): the server asks the configured NTP server
//! (`time.ntp_server`) for the time every `time.check_interval`, keeps what it found in the
//! [`AppState`], shows it in `/readyz` and `/metrics`, and refuses writes while the clock is out
//! of tolerance or has gone unconfirmed for too long.
//!
//! The packet and the arithmetic are `mamori_core::timecheck` (pure); this module only sends
//! one UDP datagram and waits for one answer. The times T1 and T4 come from the state's clock,
//! so the tests run against a `FixedClock` and a fake server on loopback.
//!
//! Sign-in is never refused for the clock: the login flow (`/api/v1/session…`, `/login…`,
//! `/enroll`, `/unlock`) and logout keep working, so people can sign in and see the problem.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mamori_core::timecheck::{self, Measurement, NtpTimestamp, ReplyError, TimeStatus};
use mamori_core::{Clock, Message};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::net::UdpSocket;

/// How long one query waits for its answer (resolution included).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// The error code of a write refused for the clock.
pub const REFUSAL_CODE: &str = "clock_out_of_tolerance";

/// Why a query gave no measurement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The host name did not resolve.
    #[error("cannot resolve NTP server {server}: {source}")]
    Resolve {
        /// The configured `host:port`.
        server: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The name resolved to no address.
    #[error("NTP server {server} has no address")]
    NoAddress {
        /// The configured `host:port`.
        server: String,
    },
    /// Sending or receiving failed (e.g. the port is closed: ICMP port unreachable).
    #[error("cannot exchange with NTP server {address}: {source}")]
    Io {
        /// The address asked.
        address: SocketAddr,
        /// The socket's error.
        source: std::io::Error,
    },
    /// No answer in time.
    #[error("NTP server {server} did not answer within {} ms", .after.as_millis())]
    Timeout {
        /// The configured `host:port`.
        server: String,
        /// The time waited.
        after: Duration,
    },
    /// The answer was refused.
    #[error("NTP server {address}: {source}")]
    Reply {
        /// The address that answered.
        address: SocketAddr,
        /// Why the reply was refused.
        source: ReplyError,
    },
}

impl QueryError {
    /// The message for a person (without addresses or system error texts, which go to the
    /// log).
    #[must_use]
    pub fn message(&self) -> Message {
        match self {
            Self::Resolve { server, .. } | Self::NoAddress { server } => Message::new(
                format!("NTPサーバー {server} の名前を解決できません。"),
                format!("cannot resolve the NTP server {server}"),
            ),
            Self::Io { .. } => Message::new("NTPサーバーと通信できません。", "cannot reach the NTP server"),
            Self::Timeout { server, after } => Message::new(
                format!("NTPサーバー {server} が{}ミリ秒以内に応答しませんでした。", after.as_millis()),
                format!("the NTP server {server} did not answer within {} ms", after.as_millis()),
            ),
            Self::Reply { source, .. } => source.message(),
        }
    }
}

/// One successful exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    /// Offset and delay.
    pub measurement: Measurement,
    /// The address that answered.
    pub address: SocketAddr,
}

/// Asks `server` (`host:port`) for the time once: resolves it, sends a client-mode request from
/// an ephemeral port of a socket connected to that address (so datagrams from elsewhere are
/// dropped by the kernel), and checks the first answer. T1 and T4 are read from `clock`.
///
/// # Errors
/// [`QueryError`]: resolution, socket, `timeout` (covering resolution and the exchange), or a
/// refused reply.
pub async fn query(server: &str, clock: &dyn Clock, timeout: Duration) -> Result<Exchange, QueryError> {
    match tokio::time::timeout(timeout, exchange(server, clock)).await {
        Ok(result) => result,
        Err(_) => Err(QueryError::Timeout { server: server.to_owned(), after: timeout }),
    }
}

async fn exchange(server: &str, clock: &dyn Clock) -> Result<Exchange, QueryError> {
    let address = tokio::net::lookup_host(server)
        .await
        .map_err(|source| QueryError::Resolve { server: server.to_owned(), source })?
        .next()
        .ok_or_else(|| QueryError::NoAddress { server: server.to_owned() })?;
    let io = |source| QueryError::Io { address, source };
    let local: SocketAddr =
        if address.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { (Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = UdpSocket::bind(local).await.map_err(io)?;
    socket.connect(address).await.map_err(io)?;
    let sent = clock.now();
    socket.send(&timecheck::client_request(NtpTimestamp::from_time(sent))).await.map_err(io)?;
    let mut buffer = [0u8; 512];
    let len = socket.recv(&mut buffer).await.map_err(io)?;
    let received = clock.now();
    let packet = buffer.get(..len).unwrap_or_default();
    let measurement =
        timecheck::evaluate(sent, packet, received).map_err(|source| QueryError::Reply { address, source })?;
    Ok(Exchange { measurement, address })
}

/// Checks the clock once against `time.ntp_server` (waiting at most [`QUERY_TIMEOUT`]) and
/// records the outcome in the state. Does nothing without a configured server.
pub async fn check_once(state: &AppState) -> TimeStatus {
    check_once_within(state, QUERY_TIMEOUT).await
}

/// As [`check_once`], waiting at most `timeout` for the answer.
pub async fn check_once_within(state: &AppState, timeout: Duration) -> TimeStatus {
    let Some(server) = state.config.get().time.ntp_server.clone() else {
        return state.time_status();
    };
    let result = query(&server, state.clock.as_ref(), timeout).await;
    let now = state.clock.now();
    let limit = state.config.get().time.max_offset.0;
    match result {
        Ok(exchange) => {
            let Measurement { offset, delay } = exchange.measurement;
            let offset_ms = offset.as_seconds_f64() * 1e3;
            let delay_ms = delay.as_seconds_f64() * 1e3;
            if offset.unsigned_abs() > limit {
                tracing::error!(
                    %server, address = %exchange.address, offset_ms, delay_ms, limit_ms = limit.as_secs_f64() * 1e3,
                    "the server clock is out of tolerance: writes are refused until it is corrected"
                );
            } else {
                tracing::info!(%server, address = %exchange.address, offset_ms, delay_ms, "clock checked");
            }
            state.update_time_status(|_| TimeStatus::succeeded(exchange.measurement, server, now))
        }
        Err(e) => {
            tracing::warn!(%server, error = %e, "clock check failed");
            state.update_time_status(|previous| previous.after_failure(e.message(), now))
        }
    }
}

/// Checks the clock now and every `time.check_interval` until the task is aborted. Without a
/// configured `time.ntp_server` the task ends at once and the status stays `unchecked`.
pub fn spawn_checker(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let time = &state.config.get().time;
        if time.ntp_server.is_none() {
            tracing::info!("time.ntp_server is not set: the server clock is not checked");
            return;
        }
        let mut ticks = tokio::time::interval(time.check_interval.0);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            check_once(&state).await;
        }
    })
}

/// Whether `path` belongs to signing in or out, which stays open whatever the clock says.
#[must_use]
pub fn is_sign_in_path(path: &str) -> bool {
    let under = |prefix: &str| path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    under("/api/v1/session") || under("/login") || matches!(path, "/logout" | "/unlock" | "/enroll")
}

/// Middleware: answers 503 `clock_out_of_tolerance` to a mutating request (`POST`, `PUT`,
/// `PATCH`, `DELETE`) while [`AppState::clock_allows_writes`] refuses — except signing in and
/// out ([`is_sign_in_path`]). API paths get the JSON error; pages get the same message as
/// plain text.
pub async fn refuse_writes_when_clock_off(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let writes = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    if writes
        && !is_sign_in_path(req.uri().path())
        && let Err(message) = state.clock_allows_writes()
    {
        tracing::warn!(method = %req.method(), "write refused: the server clock cannot be trusted");
        audit_refusal(&state, req.headers(), req.method()).await;
        if req.uri().path().starts_with("/api/") {
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, REFUSAL_CODE, message).into_response();
        }
        let text = format!("{}\n{}\n", message.ja, message.en);
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text)
            .into_response();
    }
    next.run(req).await
}

/// Records a signed-in user's refused write as a `denied` event (`clock.write_refused`), so the
/// refusal is in the trail like every other one. Best effort: the refusal stands whether or not
/// the event can be written (the failure is logged).
async fn audit_refusal(state: &AppState, headers: &axum::http::HeaderMap, method: &Method) {
    let Ok(Some(loaded)) = crate::auth::load(state, headers).await else { return };
    let record = loaded.record;
    let Ok(Some(user)) = state.store.user(record.institution, record.user).await else { return };
    let event = crate::audit::by(state, &user, "clock.write_refused", mamori_core::audit::Outcome::Denied)
        .detail("method", method.as_str());
    if let Err(e) = crate::audit::record_one(state, event).await {
        tracing::error!(status = %e.status(), "cannot record the refused write");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_in_and_out_stays_open() {
        for path in [
            "/api/v1/session",
            "/api/v1/session/totp",
            "/api/v1/session/webauthn/finish",
            "/login",
            "/login/code",
            "/login/reenroll",
            "/logout",
            "/unlock",
            "/enroll",
        ] {
            assert!(is_sign_in_path(path), "{path}");
        }
        for path in ["/api/v1/sessions", "/api/v1/users", "/api/v1/me/password", "/loginx", "/admin/users", "/"] {
            assert!(!is_sign_in_path(path), "{path}");
        }
    }

    #[test]
    fn query_errors_tell_people_what_failed_without_system_details() {
        let e = QueryError::Timeout { server: "ntp.example:123".to_owned(), after: Duration::from_secs(2) };
        let m = e.message();
        assert!(m.ja.contains("2000ミリ秒") && m.en.contains("within 2000 ms"), "{m:?}");
        let e = QueryError::Io {
            address: (Ipv4Addr::LOCALHOST, 123).into(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        assert!(!e.message().en.contains("127.0.0.1"), "{:?}", e.message());
        assert!(e.to_string().contains("127.0.0.1:123"), "the log has the address: {e}");
    }
}
