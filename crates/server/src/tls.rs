//! The TLS configuration: TLS 1.2 and 1.3 only, AEAD suites only (Mozilla "intermediate",
//! CRYPTREC 高セキュリティ型), optional client-certificate authentication.

use mamori_core::config::ClientAuth;
use rustls::crypto::{CryptoProvider, ring};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file holds no PEM certificate.
    #[error("TLS証明書を読めません（PEMの証明書がありません） / the TLS certificate file holds no PEM certificate")]
    NoCertificate,
    /// The key file holds no PEM private key.
    #[error("TLS秘密鍵を読めません（PEMの秘密鍵がありません） / the TLS key file holds no PEM private key")]
    NoKey,
    /// The client CA bundle holds no usable certificate.
    #[error("クライアント証明書のCAを読めません / the client CA bundle holds no usable certificate")]
    NoClientCa,
    /// rustls refused the combination.
    #[error("TLS設定が不正です: {0} / invalid TLS configuration: {0}")]
    Rustls(String),
}

/// The AEAD-only suites mamori offers, strongest first: Mozilla's "intermediate" list.
#[must_use]
pub fn provider() -> CryptoProvider {
    use ring::cipher_suite as cs;
    CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        kx_groups: vec![ring::kx_group::X25519, ring::kx_group::SECP256R1, ring::kx_group::SECP384R1],
        ..ring::default_provider()
    }
}

/// The protocol versions for a configured minimum ("1.2" or "1.3").
#[must_use]
pub fn versions(min_version: &str) -> &'static [&'static SupportedProtocolVersion] {
    static BOTH: [&SupportedProtocolVersion; 2] = [&rustls::version::TLS13, &rustls::version::TLS12];
    static ONLY_13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    if min_version == "1.3" { &ONLY_13 } else { &BOTH }
}

/// Builds the server's TLS configuration from PEM text.
///
/// # Errors
/// [`TlsError`] naming what could not be read or combined.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    min_version: &str,
    client_auth: ClientAuth,
    client_ca_pem: Option<&[u8]>,
) -> Result<ServerConfig, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem).filter_map(Result::ok).collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| TlsError::NoKey)?;
    let provider = Arc::new(provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions(min_version))
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match client_auth {
        ClientAuth::Off => builder.with_no_client_auth(),
        ClientAuth::Optional | ClientAuth::Required => {
            let mut roots = RootCertStore::empty();
            for ca in CertificateDer::pem_slice_iter(client_ca_pem.unwrap_or_default()).filter_map(Result::ok) {
                roots.add(ca).map_err(|_| TlsError::NoClientCa)?;
            }
            if roots.is_empty() {
                return Err(TlsError::NoClientCa);
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier =
                if client_auth == ClientAuth::Optional { verifier.allow_unauthenticated() } else { verifier };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| TlsError::Rustls(e.to_string()))?)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| TlsError::Rustls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// SHA-256 fingerprint of the first (leaf) certificate in a PEM chain.
#[must_use]
pub fn leaf_fingerprint(cert_pem: &[u8]) -> Option<String> {
    CertificateDer::pem_slice_iter(cert_pem).find_map(Result::ok).map(|leaf| mamori_crypto::sha256_fingerprint(&leaf))
}
