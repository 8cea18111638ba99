//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 signatures.
//!
//! A signed note is a text ending in a newline, a blank line, and one or more signature lines
//! `— <key name> base64(key ID ‖ signature)` (em dash U+2014, space). The signature is over the
//! text including its final newline. A key is named by its key name and a 32-bit key ID,
//! `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)[..4]` for Ed25519. Verifier keys are written
//! `<name>+<8 hex digits of the key ID>+base64(0x01 ‖ public key)`, as Go's
//! `golang.org/x/mod/sumdb/note` and the transparency-log tooling write them.
//!
//! Private keys stay in mamori's PKCS#8 form (`mamori-crypto`); signing takes an
//! [`ed25519_dalek::SigningKey`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The signature type byte of Ed25519 in key IDs and verifier keys.
const ALG_ED25519: u8 = 0x01;

/// What starts every signature line: em dash (U+2014), space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// The most signature lines [`open_note`] reads, as Go's `sumdb/note` (the spec asks
/// verifiers to accept at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// Errors signing, reading or verifying notes and verifier keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// A key name is empty or contains a space, a plus sign or a control character.
    #[error(
        "鍵の名前が不正です（空、または空白・「+」・制御文字を含む） / the key name is invalid (empty, or contains a space, '+' or a control character)"
    )]
    InvalidName,
    /// The text to sign does not end in a newline.
    #[error("署名する本文は改行で終わらなければなりません / the text to sign must end with a newline")]
    TextNotTerminated,
    /// The text or note contains an ASCII control character other than newline.
    #[error("改行以外の制御文字が含まれています / the text contains a control character other than newline")]
    ControlCharacter,
    /// The note has no blank line followed by signature lines ending in a newline.
    #[error(
        "署名欄（空行の後の署名行）がありません / the note has no signature block (signature lines after a blank line)"
    )]
    MissingSignatures,
    /// A signature line is not `— <name> <base64>` with at least five decoded bytes.
    #[error("署名行の形式が正しくありません / a signature line is malformed")]
    MalformedSignatureLine,
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("署名が多すぎます（上限100） / the note has too many signatures (more than 100)")]
    TooManySignatures,
    /// A verifier key is not `<name>+<8 hex digits>+<base64>` with a 33-byte Ed25519 key.
    #[error(
        "検証鍵の形式が正しくありません（名前+鍵ID+base64） / the verifier key is malformed (expected name+keyid+base64)"
    )]
    MalformedVerifierKey,
    /// A verifier key names a signature type other than Ed25519.
    #[error(
        "検証鍵の署名方式 {0:#04x} には対応していません（Ed25519 のみ） / unsupported verifier key type {0:#04x} (only Ed25519)"
    )]
    UnsupportedAlgorithm(u8),
    /// A verifier key's ID is not the one its name and public key give.
    #[error("検証鍵の鍵IDが名前と公開鍵に一致しません / the verifier key's ID does not match its name and public key")]
    KeyIdMismatch,
    /// Two different trusted keys share a name and key ID.
    #[error(
        "信頼する鍵 {name}+{key_id:08x} が複数あり区別できません / more than one trusted key is named {name}+{key_id:08x}"
    )]
    AmbiguousVerifier {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
    /// A signature by a trusted key does not verify: the note is refused as a whole.
    #[error(
        "信頼する鍵 {name}+{key_id:08x} の署名が正しくありません / the signature by trusted key {name}+{key_id:08x} does not verify"
    )]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
    /// No signature is by a trusted key.
    #[error("信頼する鍵による署名がありません / the note has no signature by a trusted key")]
    NoTrustedSignature,
}

/// Whether `name` may name a key: non-empty, without Unicode spaces, plus signs or control
/// characters below U+0020.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+' || c < ' ')
}

/// The C2SP key ID of an Ed25519 key: the first four bytes, big-endian, of
/// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`.
#[must_use]
pub fn key_id(name: &str, public_key: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public_key.as_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let (first, _) = digest.split_first_chunk::<4>().unwrap_or((&[0; 4], &[]));
    u32::from_be_bytes(*first)
}

/// A trusted Ed25519 key: its name, key ID and public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    public_key: VerifyingKey,
}

impl VerifierKey {
    /// The verifier key for `public_key` under `name`, with its key ID computed.
    ///
    /// # Errors
    /// [`NoteError::InvalidName`] when `name` is not a valid key name.
    pub fn new(name: &str, public_key: VerifyingKey) -> Result<Self, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName);
        }
        Ok(Self { name: name.to_owned(), key_id: key_id(name, &public_key), public_key })
    }

    /// Reads `<name>+<8 hex digits>+base64(0x01 ‖ 32-byte public key)`.
    ///
    /// # Errors
    /// [`NoteError::MalformedVerifierKey`], [`NoteError::InvalidName`],
    /// [`NoteError::UnsupportedAlgorithm`] or [`NoteError::KeyIdMismatch`].
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        // The name has no '+' and the ID is hex, so the first two '+' delimit them; base64 may
        // contain '+'.
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::MalformedVerifierKey);
        };
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName);
        }
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(NoteError::MalformedVerifierKey);
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| NoteError::MalformedVerifierKey)?;
        let key = STANDARD.decode(key_b64).map_err(|_| NoteError::MalformedVerifierKey)?;
        let Some((&alg, raw)) = key.split_first() else { return Err(NoteError::MalformedVerifierKey) };
        if alg != ALG_ED25519 {
            return Err(NoteError::UnsupportedAlgorithm(alg));
        }
        let raw = <&[u8; 32]>::try_from(raw).map_err(|_| NoteError::MalformedVerifierKey)?;
        let public_key = VerifyingKey::from_bytes(raw).map_err(|_| NoteError::MalformedVerifierKey)?;
        let key = Self::new(name, public_key)?;
        if key.key_id != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(key)
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 public key.
    #[must_use]
    pub fn public_key(&self) -> &VerifyingKey {
        &self.public_key
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = Vec::with_capacity(33);
        key.push(ALG_ED25519);
        key.extend_from_slice(self.public_key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(key))
    }
}

impl FromStr for VerifierKey {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<Self, NoteError> {
        Self::parse(s)
    }
}

/// Checks the note rule shared by texts and whole notes: no ASCII control character other than
/// newline.
fn check_control_characters(text: &str) -> Result<(), NoteError> {
    if text.chars().any(|c| c < ' ' && c != '\n') { Err(NoteError::ControlCharacter) } else { Ok(()) }
}

/// Signs `text` with `signing_key` under the key name `name` and returns the signed note:
/// `text`, a blank line, and the line `— <name> base64(key ID ‖ signature)`.
///
/// The text may contain blank lines (the last blank line of a note is the separator) but must
/// end in a newline and contain no other control character. Ed25519 is deterministic, so the
/// same text and key always give the same note.
///
/// # Errors
/// [`NoteError::InvalidName`], [`NoteError::TextNotTerminated`] or
/// [`NoteError::ControlCharacter`].
pub fn sign_note(text: &str, name: &str, signing_key: &SigningKey) -> Result<String, NoteError> {
    if !is_valid_name(name) {
        return Err(NoteError::InvalidName);
    }
    if !text.ends_with('\n') {
        return Err(NoteError::TextNotTerminated);
    }
    check_control_characters(text)?;
    let id = key_id(name, &signing_key.verifying_key());
    let signature: Signature = signing_key.sign(text.as_bytes());
    let mut blob = Vec::with_capacity(4 + 64);
    blob.extend_from_slice(&id.to_be_bytes());
    blob.extend_from_slice(&signature.to_bytes());
    Ok(format!("{text}\n{SIGNATURE_PREFIX}{name} {}\n", STANDARD.encode(blob)))
}

/// A note whose signatures have been checked: only [`open_note`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    text: String,
    signers: Vec<String>,
}

impl VerifiedNote {
    /// The signed text, including its final newline.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The names of the trusted keys whose signatures verified, in the order of the note, each
    /// once.
    #[must_use]
    pub fn signers(&self) -> &[String] {
        &self.signers
    }

    /// The signed text, consuming the note.
    #[must_use]
    pub fn into_text(self) -> String {
        self.text
    }
}

/// Reads a signed note and verifies the signatures of the keys in `verifiers`.
///
/// Following the spec: signatures by unknown keys (name and key ID not both matching a trusted
/// key) are ignored; every signature by a trusted key is verified, and one that fails refuses
/// the whole note; at least one must verify. Notes with more than [`MAX_SIGNATURES`] signature
/// lines, control characters, or malformed signature lines are refused before any signature is
/// checked.
///
/// # Errors
/// [`NoteError::ControlCharacter`], [`NoteError::MissingSignatures`],
/// [`NoteError::TooManySignatures`], [`NoteError::MalformedSignatureLine`],
/// [`NoteError::AmbiguousVerifier`], [`NoteError::InvalidSignature`] or
/// [`NoteError::NoTrustedSignature`].
pub fn open_note(note: &str, verifiers: &[VerifierKey]) -> Result<VerifiedNote, NoteError> {
    check_control_characters(note)?;
    // The text is separated from the signatures by the last blank line.
    let split = note.rfind("\n\n").ok_or(NoteError::MissingSignatures)?;
    let (text, signature_block) = (note.get(..=split), note.get(split + 2..));
    let (Some(text), Some(signature_block)) = (text, signature_block) else {
        return Err(NoteError::MissingSignatures);
    };
    let Some(signature_block) = signature_block.strip_suffix('\n') else {
        return Err(NoteError::MissingSignatures);
    };
    if signature_block.split('\n').count() > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures);
    }

    // Parse every line first, so that a malformed note is refused as such.
    let mut lines = Vec::new();
    for line in signature_block.split('\n') {
        let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or(NoteError::MalformedSignatureLine)?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::MalformedSignatureLine)?;
        if !is_valid_name(name) {
            return Err(NoteError::MalformedSignatureLine);
        }
        let blob = STANDARD.decode(b64).map_err(|_| NoteError::MalformedSignatureLine)?;
        let Some((id, signature)) = blob.split_first_chunk::<4>() else {
            return Err(NoteError::MalformedSignatureLine);
        };
        if signature.is_empty() {
            return Err(NoteError::MalformedSignatureLine);
        }
        lines.push((name, u32::from_be_bytes(*id), signature.to_vec()));
    }

    let mut signers: Vec<String> = Vec::new();
    for (name, id, signature) in lines {
        let mut trusted = verifiers.iter().filter(|v| v.name == name && v.key_id == id);
        let Some(verifier) = trusted.next() else { continue };
        if trusted.any(|other| other.public_key != verifier.public_key) {
            return Err(NoteError::AmbiguousVerifier { name: name.to_owned(), key_id: id });
        }
        let invalid = || NoteError::InvalidSignature { name: name.to_owned(), key_id: id };
        let signature = Signature::from_slice(&signature).map_err(|_| invalid())?;
        verifier.public_key.verify_strict(text.as_bytes(), &signature).map_err(|_| invalid())?;
        if !signers.iter().any(|s| s == name) {
            signers.push(name.to_owned());
        }
    }
    if signers.is_empty() {
        return Err(NoteError::NoTrustedSignature);
    }
    Ok(VerifiedNote { text: text.to_owned(), signers })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    // The example of the golang.org/x/mod/sumdb/note package documentation (the doc comment of
    // golang/mod, sumdb/note/note.go, commit 605edab4323bfdf06a0d8ac68b4b18e9e0df249b): a
    // verifier key, its signer key, and the note signed by it.
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_TEXT: &str =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const GO_SIGNATURE_LINE: &str =
        "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    // The same documentation's second signature, by a key ("EnochRoot") it does not publish.
    const GO_ENOCH_LINE: &str =
        "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    fn go_note() -> String {
        format!("{GO_TEXT}\n{GO_SIGNATURE_LINE}")
    }

    /// The seed of a Go signer key `PRIVATE+KEY+<name>+<id>+base64(0x01 ‖ seed)`.
    fn go_signing_key(skey: &str) -> SigningKey {
        let b64 = skey.splitn(5, '+').nth(4).unwrap();
        let raw = STANDARD.decode(b64).unwrap();
        assert_eq!(raw[0], ALG_ED25519);
        SigningKey::from_bytes(&raw[1..].try_into().unwrap())
    }

    fn go_verifier() -> VerifierKey {
        VerifierKey::parse(GO_VKEY).unwrap()
    }

    #[test]
    fn go_example_note_verifies() {
        let opened = open_note(&go_note(), &[go_verifier()]).unwrap();
        assert_eq!(opened.text(), GO_TEXT);
        assert_eq!(opened.signers(), ["PeterNeumann"]);
    }

    #[test]
    fn signing_with_the_go_example_key_reproduces_its_note() {
        let key = go_signing_key(GO_SKEY);
        assert_eq!(key_id("PeterNeumann", &key.verifying_key()), 0xc74f_20a3);
        assert_eq!(sign_note(GO_TEXT, "PeterNeumann", &key).unwrap(), go_note());
        assert_eq!(VerifierKey::new("PeterNeumann", key.verifying_key()).unwrap().to_string(), GO_VKEY);
    }

    #[test]
    fn verifier_key_parses_and_prints_back() {
        let key = go_verifier();
        assert_eq!(key.name(), "PeterNeumann");
        assert_eq!(key.key_id(), 0xc74f_20a3);
        assert_eq!(key.to_string(), GO_VKEY);
        assert_eq!(GO_VKEY.parse::<VerifierKey>().unwrap(), key);
        // Upper-case hex is read as Go reads it.
        assert_eq!(VerifierKey::parse(&GO_VKEY.replace("c74f20a3", "C74F20A3")).unwrap(), key);
    }

    /// As Go's TestNewVerifier: no proper substring of the key and no key with one byte
    /// changed is accepted.
    #[test]
    fn verifier_key_manglings_are_refused() {
        let b = GO_VKEY.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if (i, j) != (0, b.len()) {
                    let part = std::str::from_utf8(&b[i..j]).unwrap();
                    assert!(VerifierKey::parse(part).is_err(), "accepted {part:?}");
                }
            }
        }
        for i in 0..b.len() {
            let mut changed = b.to_vec();
            changed[i] += 1;
            let changed = String::from_utf8(changed).unwrap();
            assert!(VerifierKey::parse(&changed).is_err(), "accepted {changed:?}");
        }
        // Go's wrong-length key and unknown algorithm, each with a matching key ID.
        assert_eq!(
            VerifierKey::parse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="),
            Err(NoteError::MalformedVerifierKey)
        );
        assert_eq!(
            VerifierKey::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
            Err(NoteError::UnsupportedAlgorithm(0x65))
        );
    }

    #[test]
    fn unknown_signers_are_ignored_and_known_ones_required() {
        let doubly = format!("{}{GO_ENOCH_LINE}", go_note());
        let opened = open_note(&doubly, &[go_verifier()]).unwrap();
        assert_eq!(opened.signers(), ["PeterNeumann"]);

        let enoch_only = format!("{GO_TEXT}\n{GO_ENOCH_LINE}");
        assert_eq!(open_note(&enoch_only, &[go_verifier()]), Err(NoteError::NoTrustedSignature));
        assert_eq!(open_note(&go_note(), &[]), Err(NoteError::NoTrustedSignature));

        // A key that shares the name but not the ID (or the ID but not the name) is another key.
        let other = SigningKey::from_bytes(&[7; 32]);
        let same_name = VerifierKey::new("PeterNeumann", other.verifying_key()).unwrap();
        assert_eq!(open_note(&go_note(), std::slice::from_ref(&same_name)), Err(NoteError::NoTrustedSignature));
        let impostor = go_note().replace("— PeterNeumann", "— PeterNeumannX");
        assert_eq!(open_note(&impostor, &[go_verifier()]), Err(NoteError::NoTrustedSignature));
    }

    #[test]
    fn a_bad_signature_by_a_trusted_key_refuses_the_note() {
        let tampered = go_note().replace("cryptography", "cryptographY");
        assert_eq!(
            open_note(&tampered, &[go_verifier()]),
            Err(NoteError::InvalidSignature { name: "PeterNeumann".into(), key_id: 0xc74f_20a3 })
        );
        // Even when another trusted signature is good.
        let mine = SigningKey::from_bytes(&[9; 32]);
        let mine_key = VerifierKey::new("mamori.example/log", mine.verifying_key()).unwrap();
        let tampered_text = GO_TEXT.replace("cryptography", "cryptographY");
        let both = format!("{}{GO_SIGNATURE_LINE}", sign_note(&tampered_text, "mamori.example/log", &mine).unwrap());
        assert_eq!(open_note(&both, std::slice::from_ref(&mine_key)).unwrap().signers(), ["mamori.example/log"]);
        assert!(matches!(
            open_note(&both, &[mine_key, go_verifier()]),
            Err(NoteError::InvalidSignature { key_id: 0xc74f_20a3, .. })
        ));
    }

    #[test]
    fn malformed_notes_are_refused() {
        let v = [go_verifier()];
        let cases: Vec<(String, NoteError)> = vec![
            (GO_TEXT.to_owned(), NoteError::MissingSignatures),
            (go_note().trim_end_matches('\n').to_owned(), NoteError::MissingSignatures),
            (format!("{}\n", go_note()), NoteError::MissingSignatures),
            (go_note().replace("\n\n", "\n"), NoteError::MissingSignatures),
            (go_note().replace('—', "-"), NoteError::MalformedSignatureLine),
            (go_note().replace("— PeterNeumann ", "— PeterNeumann"), NoteError::MalformedSignatureLine),
            (go_note().replace("— PeterNeumann ", "— Peter+Neumann "), NoteError::MalformedSignatureLine),
            (go_note().replace("— PeterNeumann ", "—  "), NoteError::MalformedSignatureLine),
            (go_note().replace("AM=\n", "AM\n"), NoteError::MalformedSignatureLine),
            (
                format!("{GO_TEXT}\n— PeterNeumann {}\n", STANDARD.encode([1, 2, 3, 4])),
                NoteError::MalformedSignatureLine,
            ),
            (format!("{GO_TEXT}\n— PeterNeumann \n"), NoteError::MalformedSignatureLine),
            (go_note().replace("problem,", "problem,\r"), NoteError::ControlCharacter),
            (go_note().replace("problem,", "problem,\t"), NoteError::ControlCharacter),
        ];
        for (note, want) in cases {
            assert_eq!(open_note(&note, &v), Err(want), "{note:?}");
        }
        // A short signature by the trusted key is a bad signature, not a malformed line.
        let short = format!("{GO_TEXT}\n— PeterNeumann {}\n", STANDARD.encode([0xc7, 0x4f, 0x20, 0xa3, 1]));
        assert!(matches!(open_note(&short, &v), Err(NoteError::InvalidSignature { .. })));
    }

    #[test]
    fn at_most_100_signatures_are_read() {
        let hundred = format!("{}{}", go_note(), GO_ENOCH_LINE.repeat(99));
        assert_eq!(open_note(&hundred, &[go_verifier()]).unwrap().signers(), ["PeterNeumann"]);
        let too_many = format!("{}{}", go_note(), GO_ENOCH_LINE.repeat(100));
        assert_eq!(open_note(&too_many, &[go_verifier()]), Err(NoteError::TooManySignatures));
    }

    #[test]
    fn repeated_and_ambiguous_keys() {
        // The same trusted signature twice is listed once.
        let twice = format!("{}{GO_SIGNATURE_LINE}", go_note());
        assert_eq!(open_note(&twice, &[go_verifier(), go_verifier()]).unwrap().signers(), ["PeterNeumann"]);
        // Two different trusted keys with one name and ID cannot be told apart.
        let ambiguous = VerifierKey { public_key: SigningKey::from_bytes(&[1; 32]).verifying_key(), ..go_verifier() };
        assert!(matches!(
            open_note(&go_note(), &[go_verifier(), ambiguous]),
            Err(NoteError::AmbiguousVerifier { key_id: 0xc74f_20a3, .. })
        ));
    }

    #[test]
    fn sign_refuses_bad_names_and_texts() {
        let key = SigningKey::from_bytes(&[3; 32]);
        for name in ["", "a b", "a+b", "a\u{3000}b", "a\nb", "a\u{1}b"] {
            assert_eq!(sign_note("text\n", name, &key), Err(NoteError::InvalidName), "{name:?}");
            assert_eq!(VerifierKey::new(name, key.verifying_key()), Err(NoteError::InvalidName));
        }
        assert_eq!(sign_note("", "log", &key), Err(NoteError::TextNotTerminated));
        assert_eq!(sign_note("no newline", "log", &key), Err(NoteError::TextNotTerminated));
        assert_eq!(sign_note("tab\there\n", "log", &key), Err(NoteError::ControlCharacter));
    }

    #[test]
    fn sign_and_open_round_trip_texts_with_blank_lines() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let verifier = VerifierKey::new("mamori.example/記録", key.verifying_key()).unwrap();
        assert_eq!(VerifierKey::parse(&verifier.to_string()).unwrap(), verifier);
        for text in ["one line\n", "\n", "a\n\nb\n", "ends blank\n\n", "— looks like a signature\n\n— x y\n"] {
            let note = sign_note(text, verifier.name(), &key).unwrap();
            let opened = open_note(&note, std::slice::from_ref(&verifier)).unwrap();
            assert_eq!(opened.text(), text);
            assert_eq!(opened.signers(), [verifier.name()]);
            assert_eq!(opened.into_text(), text);
        }
    }
}
