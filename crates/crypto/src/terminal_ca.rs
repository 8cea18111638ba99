//! The institution's terminal CA (MDS 15): it issues one client certificate per registered PC,
//! delivered as a password-protected PKCS#12 file (PBES2, AES-256, HMAC-SHA-256) that Windows,
//! macOS and browsers import.

use crate::Secret;
use crate::tls::sha256_fingerprint;
use p12_keystore::{Certificate as P12Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use time::OffsetDateTime;

/// Errors of the terminal CA.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TerminalCaError {
    /// rcgen refused (key or certificate generation, or a PEM that is not a CA).
    #[error("端末CAの処理に失敗しました: {0} / terminal CA failure: {0}")]
    Certificate(String),
    /// The PKCS#12 file could not be written.
    #[error("PKCS#12ファイルを作成できません: {0} / cannot write the PKCS#12 file: {0}")]
    Pkcs12(String),
}

fn cert_err(e: impl std::fmt::Display) -> TerminalCaError {
    TerminalCaError::Certificate(e.to_string())
}

/// A CA able to sign terminal certificates. `Debug` shows neither key nor certificate.
pub struct TerminalCa {
    key: KeyPair,
    cert: rcgen::Certificate,
}

impl std::fmt::Debug for TerminalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TerminalCa({})", sha256_fingerprint(self.cert.der()))
    }
}

/// A newly issued terminal certificate.
#[derive(Debug)]
pub struct IssuedTerminal {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// SHA-256 of its DER, colon-separated upper-case hex (what the server compares).
    pub fingerprint: String,
    /// The PKCS#12 file: key, certificate and CA certificate.
    pub pkcs12: Vec<u8>,
    /// The PKCS#12 file's password (shown once to whoever installs it).
    pub password: Secret,
}

impl TerminalCa {
    /// A new CA (ECDSA P-256) named after the institution.
    ///
    /// # Errors
    /// When rcgen fails.
    pub fn generate(
        institution: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Self, TerminalCaError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{institution} 端末CA (mamori)"));
        dn.push(DnType::OrganizationName, institution);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.not_before = not_before;
        params.not_after = not_after;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(cert_err)?;
        let cert = params.self_signed(&key).map_err(cert_err)?;
        Ok(Self { key, cert })
    }

    /// The CA from its certificate and key (PEM), as written by [`Self::cert_pem`] and
    /// [`Self::key_pem`].
    ///
    /// # Errors
    /// When either does not parse or the certificate is not a CA.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, TerminalCaError> {
        let key = KeyPair::from_pem(key_pem).map_err(cert_err)?;
        let params = CertificateParams::from_ca_cert_pem(cert_pem).map_err(cert_err)?;
        if !matches!(params.is_ca, IsCa::Ca(_)) {
            return Err(TerminalCaError::Certificate("not a CA certificate".into()));
        }
        // Re-signing the same subject with the same key gives an issuer that verifies the same
        // signatures as the stored certificate.
        let cert = params.self_signed(&key).map_err(cert_err)?;
        Ok(Self { key, cert })
    }

    /// The CA certificate (PEM): the server's client-CA bundle.
    #[must_use]
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA key (PKCS#8 PEM), for a file of mode 0600.
    #[must_use]
    pub fn key_pem(&self) -> Secret {
        Secret::new(self.key.serialize_pem())
    }

    /// Issues a client certificate for terminal `name`, packaged as PKCS#12 with a random
    /// password.
    ///
    /// # Errors
    /// When rcgen or the PKCS#12 writer fails.
    pub fn issue(
        &self,
        name: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        password: Secret,
    ) -> Result<IssuedTerminal, TerminalCaError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = not_before;
        params.not_after = not_after;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(cert_err)?;
        let cert = params.signed_by(&key, &self.cert, &self.key).map_err(cert_err)?;
        let fingerprint = sha256_fingerprint(cert.der());
        let p12_err = |e: p12_keystore::error::Error| TerminalCaError::Pkcs12(e.to_string());
        let chain = PrivateKeyChain::new(
            fingerprint.replace(':', "").into_bytes(),
            PrivateKey::from_der(&key.serialize_der()).map_err(p12_err)?,
            [
                P12Certificate::from_der(cert.der()).map_err(p12_err)?,
                P12Certificate::from_der(self.cert.der()).map_err(p12_err)?,
            ],
        );
        let mut store = KeyStore::new();
        store.add_entry(name, KeyStoreEntry::PrivateKeyChain(chain));
        let pkcs12 = store.writer(password.expose()).write().map_err(p12_err)?;
        Ok(IssuedTerminal { cert_pem: cert.pem(), fingerprint, pkcs12, password })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_reloaded_ca_issues_certificates_that_chain_to_the_stored_one_and_pkcs12_round_trips() {
        let (from, to) = (datetime!(2026-11-25 00:00 UTC), datetime!(2031-11-25 00:00 UTC));
        let ca = TerminalCa::generate("まもり診療所", from, to).unwrap();
        let (cert_pem, key_pem) = (ca.cert_pem(), ca.key_pem());
        let reloaded = TerminalCa::load(&cert_pem, key_pem.expose()).unwrap();
        let issued = reloaded.issue("reception-1", from, to, Secret::new("pkcs12-password")).unwrap();
        assert_eq!(issued.fingerprint.len(), 95);

        // The PKCS#12 opens with its password and holds the key, the leaf and the CA.
        let store = KeyStore::from_pkcs12(&issued.pkcs12, "pkcs12-password", p12_keystore::Pkcs12ImportPolicy::Relaxed)
            .unwrap();
        let (_, chain) = store.private_key_chain().unwrap();
        assert_eq!(chain.certs().len(), 2);
        assert!(KeyStore::from_pkcs12(&issued.pkcs12, "wrong", p12_keystore::Pkcs12ImportPolicy::Relaxed).is_err());

        // The leaf verifies against the CA certificate as first stored (rustls' verifier).
        use rustls_pki_types::pem::PemObject;
        let ca_der = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
        let leaf_der = rustls_pki_types::CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_der).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            std::sync::Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let now = rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_795_600_000));
        assert!(verifier.verify_client_cert(&leaf_der, &[], now).is_ok());
    }
}
