//! C2SP transparency-log checkpoints (<https://c2sp.org/tlog-checkpoint>): the signed tree
//! head of a log, as the body of a [signed note](crate::note).
//!
//! The body is at least three lines, each ending in a newline: the origin (the log's unique
//! name), the tree size in decimal without leading zeros, and the base64 root hash; any
//! further lines are opaque, non-empty extension lines.

use crate::merkle::Hash;
use crate::note::{self, NoteError, VerifierKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;

/// Errors building, reading or opening a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The origin is empty or contains a newline or another control character.
    #[error(
        "チェックポイントの起点（origin）が不正です（空、または改行・制御文字を含む） / the checkpoint origin is invalid (empty, or contains a newline or control character)"
    )]
    InvalidOrigin,
    /// An extension line is empty or contains a newline or another control character.
    #[error(
        "チェックポイントの拡張行が不正です（空、または改行・制御文字を含む） / a checkpoint extension line is invalid (empty, or contains a newline or control character)"
    )]
    InvalidExtension,
    /// The body is not at least three lines each ending in a newline.
    #[error(
        "チェックポイントの本文は改行で終わる3行以上でなければなりません / a checkpoint body must be at least three lines, each ending in a newline"
    )]
    MissingLines,
    /// The size line is not a decimal `u64` without leading zeros.
    #[error(
        "木の大きさが先頭に0のない10進数ではありません / the tree size is not a decimal number without leading zeros"
    )]
    InvalidSize,
    /// The root line is not the base64 of 32 bytes.
    #[error("根ハッシュが32バイトのbase64ではありません / the root hash is not the base64 of 32 bytes")]
    InvalidRoot,
    /// The checkpoint is of another log.
    #[error(
        "別のログのチェックポイントです（期待 {expected:?}、実際 {found:?}） / the checkpoint is of another log (expected {expected:?}, found {found:?})"
    )]
    OriginMismatch {
        /// The origin asked for.
        expected: String,
        /// The origin of the checkpoint.
        found: String,
    },
    /// The signed note around the checkpoint was refused.
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// Whether `line` can be one line of a note text: non-empty, without newline or other
/// control character.
fn is_valid_line(line: &str) -> bool {
    !line.is_empty() && !line.chars().any(|c| c < ' ')
}

/// The tree head of a log: its origin, size and root hash, plus optional extension lines.
///
/// Always valid: the constructors check the origin and extensions, so [`Checkpoint::to_body`]
/// cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint of the log `origin` at `size` leaves with root `root`.
    ///
    /// The spec recommends a schema-less URL without spaces or `+` as the origin (e.g.
    /// `mamori.example/institution/…`); only the rules it mandates are checked.
    ///
    /// # Errors
    /// [`CheckpointError::InvalidOrigin`] when `origin` is empty or contains a control
    /// character (newline included).
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        let origin = origin.into();
        if !is_valid_line(&origin) {
            return Err(CheckpointError::InvalidOrigin);
        }
        Ok(Self { origin, size, root, extensions: Vec::new() })
    }

    /// The same checkpoint with these extension lines (the spec discourages them: log
    /// monitors cannot audit them).
    ///
    /// # Errors
    /// [`CheckpointError::InvalidExtension`] when a line is empty or contains a control
    /// character.
    pub fn with_extensions(self, extensions: Vec<String>) -> Result<Self, CheckpointError> {
        if !extensions.iter().all(|e| is_valid_line(e)) {
            return Err(CheckpointError::InvalidExtension);
        }
        Ok(Self { extensions, ..self })
    }

    /// The log's origin line.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the tree of that size.
    #[must_use]
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The extension lines, without their newlines.
    #[must_use]
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: `origin\nsize\nbase64(root)\n`, then each extension line and `\n`.
    #[must_use]
    pub fn to_body(&self) -> String {
        let mut body = format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root.as_bytes()));
        for extension in &self.extensions {
            body.push_str(extension);
            body.push('\n');
        }
        body
    }

    /// Reads a note text written as by [`Checkpoint::to_body`]. Only canonical text is
    /// accepted, so `parse_body(text)?.to_body() == text`.
    ///
    /// # Errors
    /// [`CheckpointError::MissingLines`], [`CheckpointError::InvalidOrigin`],
    /// [`CheckpointError::InvalidSize`], [`CheckpointError::InvalidRoot`] or
    /// [`CheckpointError::InvalidExtension`].
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::MissingLines)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(CheckpointError::MissingLines);
        };
        let size = parse_size(size)?;
        let root = STANDARD.decode(root).map_err(|_| CheckpointError::InvalidRoot)?;
        let root = Hash::from_slice(&root).map_err(|_| CheckpointError::InvalidRoot)?;
        Self::new(origin, size, root)?.with_extensions(lines.map(str::to_owned).collect())
    }

    /// The checkpoint as a note signed by `signing_key` under the key name `name` (which the
    /// spec says should be the origin).
    ///
    /// # Errors
    /// [`CheckpointError::Note`] when `name` is not a valid key name.
    pub fn sign(&self, name: &str, signing_key: &SigningKey) -> Result<String, CheckpointError> {
        Ok(note::sign_note(&self.to_body(), name, signing_key)?)
    }

    /// Verifies a signed checkpoint against the trusted keys (see [`note::open_note`]) and
    /// reads its body.
    ///
    /// This does not look at the origin: when one key signs the checkpoints of several logs
    /// (one per institution), use [`Checkpoint::open_for_origin`], or compare
    /// [`Checkpoint::origin`] yourself, so that one log's checkpoint is not taken for
    /// another's.
    ///
    /// # Errors
    /// [`CheckpointError::Note`] when the note is refused, or a body error.
    pub fn open(note: &str, verifiers: &[VerifierKey]) -> Result<Self, CheckpointError> {
        let verified = note::open_note(note, verifiers)?;
        Self::parse_body(verified.text())
    }

    /// [`Checkpoint::open`], and the checkpoint must be of the log `origin`.
    ///
    /// # Errors
    /// As [`Checkpoint::open`], and [`CheckpointError::OriginMismatch`].
    pub fn open_for_origin(note: &str, origin: &str, verifiers: &[VerifierKey]) -> Result<Self, CheckpointError> {
        let checkpoint = Self::open(note, verifiers)?;
        if checkpoint.origin != origin {
            return Err(CheckpointError::OriginMismatch { expected: origin.to_owned(), found: checkpoint.origin });
        }
        Ok(checkpoint)
    }
}

/// ASCII decimal without sign or leading zeros ("0" alone is the empty tree).
fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    let digits_only = !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (line.len() > 1 && line.starts_with('0')) {
        return Err(CheckpointError::InvalidSize);
    }
    line.parse().map_err(|_| CheckpointError::InvalidSize)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;
    use crate::merkle::{empty_root, leaf_hash};

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[42; 32])
    }

    fn verifier() -> VerifierKey {
        VerifierKey::new("mamori.example/log", key().verifying_key()).unwrap()
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint::new("mamori.example/log", 1234, leaf_hash(b"root")).unwrap()
    }

    /// The example of the spec (C2SP/C2SP, tlog-checkpoint.md): its body parses and prints
    /// back. Its signing key is not published, so only the body is checked.
    #[test]
    fn spec_example_body_parses() {
        let body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let c = Checkpoint::parse_body(body).unwrap();
        assert_eq!(c.origin(), "example.com/behind-the-sofa");
        assert_eq!(c.size(), 20_852_163);
        assert_eq!(STANDARD.encode(c.root().as_bytes()), "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
        assert_eq!(c.to_body(), body);
    }

    /// A real checkpoint of the Go checksum database, signed by sum.golang.org, with that
    /// server's published verifier key, from transparency-dev/formats, log/note_test.go
    /// (TestSumDBNoteParsing, commit 5242c17862d31acd165afafa140ecc973a621469).
    #[test]
    fn go_sumdb_checkpoint_opens() {
        let vkey = VerifierKey::parse("sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8").unwrap();
        let note = "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n\
                    — sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n";
        let c = Checkpoint::open_for_origin(note, "go.sum database tree", std::slice::from_ref(&vkey)).unwrap();
        assert_eq!(c.size(), 6_476_701);
        assert_eq!(c.to_body(), note.split("\n\n").next().unwrap().to_owned() + "\n");
        assert!(matches!(
            Checkpoint::open_for_origin(note, "another log", &[vkey]),
            Err(CheckpointError::OriginMismatch { .. })
        ));
    }

    #[test]
    fn sign_and_open_round_trip() {
        let c = checkpoint();
        let note = c.sign("mamori.example/log", &key()).unwrap();
        assert!(note.starts_with(&format!(
            "mamori.example/log\n1234\n{}\n\n— mamori.example/log ",
            STANDARD.encode(c.root().as_bytes())
        )));
        assert_eq!(Checkpoint::open(&note, &[verifier()]).unwrap(), c);
        assert_eq!(Checkpoint::open_for_origin(&note, "mamori.example/log", &[verifier()]).unwrap(), c);

        let with_ext = c.clone().with_extensions(vec!["ext one".into(), "ext+two".into()]).unwrap();
        let note = with_ext.sign("mamori.example/log", &key()).unwrap();
        assert_eq!(Checkpoint::open(&note, &[verifier()]).unwrap(), with_ext);

        let empty = Checkpoint::new("mamori.example/log", 0, empty_root()).unwrap();
        assert_eq!(empty.to_body(), "mamori.example/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
        assert_eq!(Checkpoint::open(&empty.sign("mamori.example/log", &key()).unwrap(), &[verifier()]).unwrap(), empty);
    }

    #[test]
    fn any_change_to_a_signed_checkpoint_is_refused() {
        let c = checkpoint();
        let note = c.sign("mamori.example/log", &key()).unwrap();
        let root_b64 = STANDARD.encode(c.root().as_bytes());
        let other_root = STANDARD.encode(leaf_hash(b"other").as_bytes());
        let (body, signature_line) = note.split_once("\n\n").unwrap();
        let changed = [
            note.replacen("mamori.example/log\n", "mamori.example/lag\n", 1),
            note.replacen("\n1234\n", "\n1235\n", 1),
            note.replacen(&root_b64, &other_root, 1),
            // The signature, one character at a time over its base64.
            format!("{body}\n\n{}", signature_line.replacen("— mamori.example/log ", "— mamori.example/log A", 1)),
        ];
        for bad in &changed {
            assert!(Checkpoint::open(bad, &[verifier()]).is_err(), "accepted {bad:?}");
        }
        let sig_start = note.rfind(' ').unwrap() + 1;
        for i in sig_start..note.len() - 1 {
            let mut bytes = note.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let bad = String::from_utf8(bytes).unwrap();
            assert!(Checkpoint::open(&bad, &[verifier()]).is_err(), "accepted a changed signature at {i}");
        }
        // A different key, or no key.
        let other = VerifierKey::new("mamori.example/log", SigningKey::from_bytes(&[43; 32]).verifying_key()).unwrap();
        assert!(Checkpoint::open(&note, &[other]).is_err());
        assert!(matches!(Checkpoint::open(&note, &[]), Err(CheckpointError::Note(NoteError::NoTrustedSignature))));
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let root = STANDARD.encode(leaf_hash(b"r").as_bytes());
        let short_root = STANDARD.encode([0u8; 31]);
        let long_root = STANDARD.encode([0u8; 33]);
        let cases: Vec<(String, CheckpointError)> = vec![
            (String::new(), CheckpointError::MissingLines),
            ("log\n".into(), CheckpointError::MissingLines),
            ("log\n5\n".into(), CheckpointError::MissingLines),
            (format!("log\n5\n{root}"), CheckpointError::MissingLines),
            (format!("\n5\n{root}\n"), CheckpointError::InvalidOrigin),
            (format!("lo\rg\n5\n{root}\n"), CheckpointError::InvalidOrigin),
            (format!("log\n\n{root}\n"), CheckpointError::InvalidSize),
            (format!("log\n01\n{root}\n"), CheckpointError::InvalidSize),
            (format!("log\n00\n{root}\n"), CheckpointError::InvalidSize),
            (format!("log\n+5\n{root}\n"), CheckpointError::InvalidSize),
            (format!("log\n-5\n{root}\n"), CheckpointError::InvalidSize),
            (format!("log\n 5\n{root}\n"), CheckpointError::InvalidSize),
            (format!("log\n5.0\n{root}\n"), CheckpointError::InvalidSize),
            (format!("log\n0x5\n{root}\n"), CheckpointError::InvalidSize),
            (format!("log\n18446744073709551616\n{root}\n"), CheckpointError::InvalidSize),
            ("log\n5\nThisIsn'tBase64\n".into(), CheckpointError::InvalidRoot),
            (format!("log\n5\n{}\n", root.trim_end_matches('=')), CheckpointError::InvalidRoot),
            (format!("log\n5\n{}\n", URL_SAFE_ROOT), CheckpointError::InvalidRoot),
            (format!("log\n5\n{short_root}\n"), CheckpointError::InvalidRoot),
            (format!("log\n5\n{long_root}\n"), CheckpointError::InvalidRoot),
            (format!("log\n5\n{root}\n\n"), CheckpointError::InvalidExtension),
            (format!("log\n5\n{root}\next\n\n"), CheckpointError::InvalidExtension),
        ];
        for (body, want) in cases {
            assert_eq!(Checkpoint::parse_body(&body), Err(want), "{body:?}");
        }
        assert_eq!(Checkpoint::parse_body(&format!("log\n18446744073709551615\n{root}\n")).unwrap().size(), u64::MAX);
        assert_eq!(Checkpoint::parse_body(&format!("log\n0\n{root}\n")).unwrap().size(), 0);
    }

    /// A base64url root (`-` and `_` instead of `+` and `/`) is not the standard alphabet.
    const URL_SAFE_ROOT: &str = "-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_8=";

    #[test]
    fn constructors_refuse_invalid_lines() {
        assert_eq!(Checkpoint::new("", 1, empty_root()), Err(CheckpointError::InvalidOrigin));
        assert_eq!(Checkpoint::new("a\nb", 1, empty_root()), Err(CheckpointError::InvalidOrigin));
        assert_eq!(checkpoint().with_extensions(vec![String::new()]), Err(CheckpointError::InvalidExtension));
        assert_eq!(checkpoint().with_extensions(vec!["a\nb".into()]), Err(CheckpointError::InvalidExtension));
        assert!(matches!(checkpoint().sign("bad name", &key()), Err(CheckpointError::Note(NoteError::InvalidName))));
        // Origins may hold spaces (the Go checksum database's does); only control characters are out.
        assert!(Checkpoint::new("go.sum database tree", 1, empty_root()).is_ok());
    }
}
