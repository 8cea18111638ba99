//! The data directory: its state, its configuration, its private files.

use crate::Failure;
use mamori_core::config::{CONFIG_FILE, Config, ValidConfig};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;

/// What is at the data directory's path.
#[derive(Debug, PartialEq, Eq)]
pub enum DirState {
    /// Nothing: `init` may create it.
    Missing,
    /// An empty directory: `init` may fill it.
    Empty,
    /// Something else: `init` must not touch it.
    Occupied,
}

/// Looks at `dir` without changing it.
pub fn state(dir: &Path) -> DirState {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_none() {
                DirState::Empty
            } else {
                DirState::Occupied
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DirState::Missing,
        Err(_) => DirState::Occupied,
    }
}

/// Creates a directory of mode 0700 (and its missing parents, which keep the default mode).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if let Some(parent) = dir.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::DirBuilder::new().mode(0o700).create(dir)
}

/// Writes a new file of mode 0600 (refusing to overwrite one).
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Reads `DIR/mamori.toml`, overlays the `MAMORI_*` environment and checks the result.
pub fn load_config(dir: &Path) -> Result<ValidConfig, Failure> {
    let config = read_config(dir)?;
    config.validate().map_err(Failure::refused)
}

fn read_config(dir: &Path) -> Result<Config, Failure> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::refused(format!(
            "設定ファイル {} を読めません（{e}）。`mamori init` で作成したデータディレクトリを指定してください / cannot read the configuration {} ({e}); point --data at a directory made by `mamori init`",
            path.display(),
            path.display()
        ))
    })?;
    Config::parse(&text, std::env::vars()).map_err(|e| Failure::refused(format!("{} ({})", e, path.display())))
}

/// `mamori config`: prints the effective configuration with secrets redacted.
pub fn show_config(dir: &Path) -> Result<(), Failure> {
    let config = read_config(dir)?;
    let verdict = match config.validate() {
        Ok(_) => "# valid / 有効".to_owned(),
        Err(e) => format!("# INVALID / 無効: {e}"),
    };
    #[allow(clippy::print_stdout)]
    {
        println!("# {} (+ MAMORI_* environment; secrets redacted)\n{verdict}\n", dir.join(CONFIG_FILE).display());
        print!("{}", config.redacted_toml());
    }
    Ok(())
}
