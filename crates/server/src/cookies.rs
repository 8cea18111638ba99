//! Reading request cookies (one place, so every cookie is parsed the same way).

use axum::http::{HeaderMap, header};

/// The value of cookie `name`, if present, non-empty and at most 64 bytes (every mamori
/// cookie is shorter; anything longer is not ours).
#[must_use]
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty() && v.len() <= 64)
        .map(|(_, v)| v)
}
