//! Files kept by mamori (evidence for the compliance workbench), **content-addressed**: a file
//! is stored once under its SHA-256 (`<root>/sha256/ab/abcdef…`), whoever uploads it and however
//! often. The database holds the name, the digest and the size (the `evidence` rows); the file
//! store holds only bytes, never names.
//!
//! A write goes to a temporary file in the same directory, is flushed to disk, and is renamed
//! into place (so a reader never sees half a file), then the directory is flushed. A file that is
//! already there is not written again. A read checks the digest and the size again, so a file
//! changed on disk is reported, not served.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where files are kept.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

/// What can go wrong with the file store.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// No file with that digest.
    #[error("no stored file with that digest")]
    Missing,
    /// The stored bytes no longer have the digest or size they were stored with.
    #[error("the stored file does not match its digest")]
    Corrupt,
    /// The file system failed.
    #[error("file store: {0}")]
    Io(#[from] std::io::Error),
}

/// Lower-case hex of a digest.
#[must_use]
pub fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl FileStore {
    /// A file store rooted at `root` (created on first write).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, digest: &[u8; 32]) -> PathBuf {
        let h = hex(digest);
        let (shard, _) = h.split_at(2);
        self.root.join("sha256").join(shard).join(&h)
    }

    /// Stores `bytes` and returns their SHA-256. Blocking: call it from `spawn_blocking`.
    ///
    /// # Errors
    /// [`FileError::Io`] when the file cannot be written; [`FileError::Corrupt`] when a file
    /// already stored under this digest does not hold these bytes (a damaged store).
    pub fn put(&self, bytes: &[u8]) -> Result<[u8; 32], FileError> {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        let path = self.path_of(&digest);
        if path.exists() {
            self.get(&digest, bytes.len() as u64)?;
            return Ok(digest);
        }
        let dir = path.parent().ok_or(FileError::Missing)?;
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile_in(dir)?;
        tmp.1.write_all(bytes)?;
        tmp.1.sync_all()?;
        drop(tmp.1);
        std::fs::rename(&tmp.0, &path)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(digest)
    }

    /// Reads the file with this digest, checking its size and digest. Blocking.
    ///
    /// # Errors
    /// [`FileError::Missing`], [`FileError::Corrupt`], [`FileError::Io`].
    pub fn get(&self, digest: &[u8; 32], size: u64) -> Result<Vec<u8>, FileError> {
        let bytes = match std::fs::read(self.path_of(digest)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(FileError::Missing),
            Err(e) => return Err(e.into()),
        };
        let actual: [u8; 32] = Sha256::digest(&bytes).into();
        if bytes.len() as u64 != size || !mamori_crypto::token::secrets_equal(&hex(&actual), &hex(digest)) {
            return Err(FileError::Corrupt);
        }
        Ok(bytes)
    }
}

/// A new file (mode 0600 on Unix) with a random name in `dir`.
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use rand_core::RngCore;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut last = None;
    for _ in 0..8 {
        let path = dir.join(format!(".tmp-{:016x}", rand_core::OsRng.next_u64()));
        match options.open(&path) {
            Ok(f) => return Ok((path, f)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no temporary file")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn files_are_stored_once_by_digest_and_checked_on_read() {
        let dir = std::env::temp_dir().join(format!("mamori-files-{}", std::process::id()));
        let store = FileStore::new(&dir);
        let bytes = "運用管理規程 第3版".as_bytes();
        let digest = store.put(bytes).unwrap();
        // SHA-256 of the same bytes, computed independently of the store.
        assert_eq!(hex(&digest), hex(&Sha256::digest(bytes).into()));
        assert_eq!(store.put(bytes).unwrap(), digest);
        assert_eq!(store.get(&digest, bytes.len() as u64).unwrap(), bytes);
        let path = store.path_of(&digest);
        assert!(path.starts_with(dir.join("sha256")));
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1, "no temporary file is left");
        // A wrong size, a changed file, a missing file.
        assert!(matches!(store.get(&digest, 3), Err(FileError::Corrupt)));
        std::fs::write(&path, b"changed").unwrap();
        assert!(matches!(store.get(&digest, bytes.len() as u64), Err(FileError::Corrupt)));
        assert!(matches!(store.put(bytes), Err(FileError::Corrupt)));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(store.get(&digest, bytes.len() as u64), Err(FileError::Missing)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
