//! A self-signed TLS certificate for a fresh installation on localhost.

use crate::Secret;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use time::OffsetDateTime;

/// Errors making a certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsCertError {
    /// rcgen refused.
    #[error("TLS証明書を作成できません: {0} / cannot create the TLS certificate: {0}")]
    Generate(String),
}

/// A certificate and its private key, both PEM.
#[derive(Debug)]
pub struct SelfSignedCert {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The private key (PKCS#8 PEM).
    pub key_pem: Secret,
    /// SHA-256 of the certificate's DER, as colon-separated hex (what browsers show).
    pub fingerprint: String,
}

/// Makes an ECDSA P-256 certificate for `localhost`, 127.0.0.1 and ::1, valid from
/// `not_before` to `not_after`.
///
/// # Errors
/// [`TlsCertError::Generate`] when rcgen fails.
pub fn self_signed_localhost(
    common_name: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<SelfSignedCert, TlsCertError> {
    let err = |e: rcgen::Error| TlsCertError::Generate(e.to_string());
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "mamori (self-signed)");
    params.distinguished_name = dn;
    params.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().map_err(err)?),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ];
    params.not_before = not_before;
    params.not_after = not_after;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let cert = params.self_signed(&key).map_err(err)?;
    Ok(SelfSignedCert {
        cert_pem: cert.pem(),
        key_pem: Secret::new(key.serialize_pem()),
        fingerprint: sha256_fingerprint(cert.der()),
    })
}

/// SHA-256 of DER bytes as upper-case colon-separated hex.
#[must_use]
pub fn sha256_fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::datetime;

    #[test]
    fn self_signed_certificate_is_pem_with_a_fingerprint() {
        let c = self_signed_localhost("まもり診療所", datetime!(2026-11-25 00:00 UTC), datetime!(2028-11-25 00:00 UTC))
            .unwrap();
        assert!(c.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(c.key_pem.expose().starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(c.fingerprint.len(), 32 * 3 - 1);
    }
}
