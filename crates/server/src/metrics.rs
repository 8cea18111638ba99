//! Prometheus text-format metrics. Labels are route templates and status codes only: never a
//! raw path, a query string or anything that could carry patient data.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
struct RouteStats {
    count: u64,
    seconds: f64,
}

/// The clock check's gauges (see [`crate::timecheck`]), when an NTP server is configured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockGauges {
    /// The last measured offset of the NTP server's clock from ours, if any.
    pub offset_seconds: Option<f64>,
    /// Whether the last check succeeded and is recent.
    pub check_ok: bool,
}

/// Counters kept by one server instance (no process-wide registry).
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), RouteStats>>,
    tls_handshake_failures: AtomicU64,
}

impl Metrics {
    /// Counts one request: method, route template (or `unmatched`) and status.
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        if let Ok(mut map) = self.requests.lock() {
            let stats = map.entry((method.to_owned(), route.to_owned(), status)).or_default();
            stats.count += 1;
            stats.seconds += elapsed.as_secs_f64();
        }
    }

    /// Counts a failed or timed-out TLS handshake.
    pub fn tls_handshake_failed(&self) {
        self.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4). `clock` is none while no NTP server is
    /// configured: the clock gauges are then left out rather than reported as failing.
    #[must_use]
    pub fn render(&self, database_up: bool, start_time_unix: i64, clock: Option<ClockGauges>) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP mamori_build_info mamori version.\n# TYPE mamori_build_info gauge");
        let _ = writeln!(out, "mamori_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        let _ = writeln!(
            out,
            "# HELP mamori_start_time_seconds Start time of the server, Unix seconds.\n# TYPE mamori_start_time_seconds gauge"
        );
        let _ = writeln!(out, "mamori_start_time_seconds {start_time_unix}");
        let _ = writeln!(
            out,
            "# HELP mamori_database_up Whether the database answered a ping.\n# TYPE mamori_database_up gauge"
        );
        let _ = writeln!(out, "mamori_database_up {}", u8::from(database_up));
        if let Some(clock) = clock {
            if let Some(offset) = clock.offset_seconds {
                let _ = writeln!(
                    out,
                    "# HELP mamori_clock_offset_seconds Offset of the NTP server's clock from ours at the last good check (positive: ours is behind).\n# TYPE mamori_clock_offset_seconds gauge"
                );
                let _ = writeln!(out, "mamori_clock_offset_seconds {offset:.6}");
            }
            let _ = writeln!(
                out,
                "# HELP mamori_clock_check_ok Whether the last clock check against the NTP server succeeded and is recent.\n# TYPE mamori_clock_check_ok gauge"
            );
            let _ = writeln!(out, "mamori_clock_check_ok {}", u8::from(clock.check_ok));
        }
        let _ = writeln!(
            out,
            "# HELP mamori_tls_handshake_failures_total TLS handshakes that failed or timed out.\n# TYPE mamori_tls_handshake_failures_total counter"
        );
        let _ = writeln!(
            out,
            "mamori_tls_handshake_failures_total {}",
            self.tls_handshake_failures.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP mamori_http_requests_total HTTP requests by method, route template and status.\n# TYPE mamori_http_requests_total counter"
        );
        let map =
            self.requests.lock().map(|m| m.iter().map(|(k, v)| (k.clone(), v.count, v.seconds)).collect::<Vec<_>>());
        let rows = map.unwrap_or_default();
        for ((method, route, status), count, _) in &rows {
            let _ = writeln!(
                out,
                "mamori_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
                escape(method),
                escape(route)
            );
        }
        let _ = writeln!(
            out,
            "# HELP mamori_http_request_duration_seconds_sum Time spent answering, by route template.\n# TYPE mamori_http_request_duration_seconds_sum counter"
        );
        for ((method, route, status), _, seconds) in &rows {
            let _ = writeln!(
                out,
                "mamori_http_request_duration_seconds_sum{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {seconds:.6}",
                escape(method),
                escape(route)
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_counts_requests_by_route_template() {
        let m = Metrics::default();
        m.record("GET", "/healthz", 200, Duration::from_millis(2));
        m.record("GET", "/healthz", 200, Duration::from_millis(3));
        m.record("GET", "unmatched", 404, Duration::from_millis(1));
        m.tls_handshake_failed();
        let text = m.render(true, 1_700_000_000, None);
        assert!(
            text.contains("mamori_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains("route=\"unmatched\",status=\"404\"} 1"), "{text}");
        assert!(text.contains("mamori_tls_handshake_failures_total 1"), "{text}");
        assert!(text.contains("mamori_database_up 1"), "{text}");
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
        assert!(!text.contains("mamori_clock"), "no clock gauges without an NTP server: {text}");
    }

    #[test]
    fn render_shows_the_clock_gauges_when_checked() {
        let m = Metrics::default();
        let text = m.render(true, 0, Some(ClockGauges { offset_seconds: Some(-0.25), check_ok: true }));
        assert!(text.contains("\nmamori_clock_offset_seconds -0.250000\n"), "{text}");
        assert!(text.contains("\nmamori_clock_check_ok 1\n"), "{text}");
        let text = m.render(true, 0, Some(ClockGauges { offset_seconds: None, check_ok: false }));
        assert!(!text.contains("mamori_clock_offset_seconds "), "{text}");
        assert!(text.contains("\nmamori_clock_check_ok 0\n"), "{text}");
    }
}
