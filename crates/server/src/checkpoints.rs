//! Signed checkpoints of the institutions' logs (C2SP `tlog-checkpoint` in a `signed-note`),
//! their files outside the database, and the offline verification that compares the database
//! with them.
//!
//! The origin of an institution's log is `<host>/<institution-id>` (`ledger.origin_host`);
//! the server's Ed25519 checkpoint key signs every institution's checkpoints under the name
//! `<host>`; its verifier key is `<host>+<key id>+<base64(0x01 ‖ key)>`.

use mamori_core::audit::{AuditEvent, LogHead};
use mamori_core::config::ValidConfig;
use mamori_core::{InstitutionId, Message};
use mamori_crypto::CheckpointKey;
use mamori_ledger::merkle::{Hash, MemoryTree, leaf_hash, root};
use mamori_ledger::{Checkpoint, NodeSource, VerifierKey};
use mamori_store::{Store, StoreError};
use std::path::{Path, PathBuf};

/// How many leaves are read from the store at a time.
const PAGE: u64 = 10_000;

/// The origin line of an institution's log.
#[must_use]
pub fn origin(config: &ValidConfig, institution: InstitutionId) -> String {
    format!("{}/{institution}", config.log_origin_host())
}

/// The verifier key of the server's checkpoint key, in the signed-note format.
///
/// # Errors
/// When the host name is not a valid key name.
pub fn verifier_key(config: &ValidConfig, key: &CheckpointKey) -> Result<VerifierKey, Message> {
    VerifierKey::new(&config.log_origin_host(), key.signing_key().verifying_key())
        .map_err(|e| Message::new(format!("検証鍵を作れません: {e}"), format!("cannot make the verifier key: {e}")))
}

/// Signs a checkpoint of `head`.
///
/// # Errors
/// When the origin or key name is not valid for the formats.
pub fn sign(
    config: &ValidConfig,
    key: &CheckpointKey,
    institution: InstitutionId,
    head: LogHead,
) -> Result<String, Message> {
    let failed = |e: &dyn std::fmt::Display| {
        Message::new(format!("チェックポイントに署名できません: {e}"), format!("cannot sign the checkpoint: {e}"))
    };
    let checkpoint =
        Checkpoint::new(origin(config, institution), head.size, Hash::from_bytes(head.root)).map_err(|e| failed(&e))?;
    checkpoint.sign(&config.log_origin_host(), key.signing_key()).map_err(|e| failed(&e))
}

/// The latest signed checkpoint of an institution's log.
///
/// # Errors
/// Store failures, and [`sign`]'s.
pub async fn latest(
    store: &dyn Store,
    config: &ValidConfig,
    key: &CheckpointKey,
    institution: InstitutionId,
) -> Result<(LogHead, String), CheckpointFailure> {
    let head = store.log_head(institution).await?;
    let note = sign(config, key, institution, head).map_err(CheckpointFailure::Format)?;
    Ok((head, note))
}

/// Why a checkpoint could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointFailure {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The formats refused a name.
    #[error("{}", .0.en)]
    Format(Message),
    /// Writing the file.
    #[error("{0}")]
    Io(String),
}

/// The directory of an institution's checkpoint files.
#[must_use]
pub fn directory(data_dir: &Path, config: &ValidConfig, institution: InstitutionId) -> PathBuf {
    ValidConfig::resolve(data_dir, &config.get().ledger.checkpoint_dir).join(institution.to_string())
}

/// Writes the institution's current checkpoint to `<checkpoint_dir>/<institution>/<size>.txt`
/// (20-digit size, mode 0600, written to a temporary name and renamed), unless a file for that
/// size exists. Returns the head and whether a file was written.
///
/// # Errors
/// Store, signing and file failures.
pub async fn write_file(
    store: &dyn Store,
    config: &ValidConfig,
    key: &CheckpointKey,
    data_dir: &Path,
    institution: InstitutionId,
) -> Result<(LogHead, bool), CheckpointFailure> {
    let (head, note) = latest(store, config, key, institution).await?;
    let dir = directory(data_dir, config, institution);
    let path = dir.join(format!("{:020}.txt", head.size));
    if path.exists() {
        return Ok((head, false));
    }
    let io = |e: std::io::Error| CheckpointFailure::Io(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(&dir).map_err(io)?;
    let tmp = dir.join(format!(".{:020}.tmp", head.size));
    write_private(&tmp, note.as_bytes()).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok((head, true))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Answers a proof algorithm's node requests with a placeholder and records the addresses
/// (the requests depend only on indexes and sizes, never on hash values).
#[derive(Default)]
struct Recorder(std::cell::RefCell<Vec<(u8, u64)>>);

impl NodeSource for Recorder {
    type Error = std::convert::Infallible;
    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        self.0.borrow_mut().push((level, index));
        Ok(Hash::from_bytes([0; 32]))
    }
}

/// The nodes fetched from the store for one computation.
struct Fetched(std::collections::HashMap<(u8, u64), Hash>);

/// A node the store does not have (a damaged log).
#[derive(Debug)]
struct MissingNode;

impl NodeSource for Fetched {
    type Error = MissingNode;
    fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        self.0.get(&(level, index)).copied().ok_or(MissingNode)
    }
}

/// Runs `compute` over the stored nodes it needs: once to learn the addresses, then, after
/// fetching them, for real.
async fn with_stored_nodes<T, E>(
    store: &dyn Store,
    institution: InstitutionId,
    compute: impl Fn(&dyn Fn(u8, u64) -> Result<Hash, MissingNode>) -> Result<T, E>,
) -> Result<T, CheckpointFailure> {
    let recorder = Recorder::default();
    let _ = compute(&|level, index| Ok(recorder.node(level, index).unwrap_or_else(|never| match never {})));
    let mut addresses = recorder.0.into_inner();
    addresses.sort_unstable();
    addresses.dedup();
    let mut fetched = std::collections::HashMap::new();
    for chunk in addresses.chunks(1000) {
        for (address, node) in chunk.iter().zip(store.log_nodes(institution, chunk).await?) {
            if let Some(hash) = node {
                fetched.insert(*address, Hash::from_bytes(hash));
            }
        }
    }
    let source = Fetched(fetched);
    compute(&|level, index| source.node(level, index))
        .map_err(|_| CheckpointFailure::Io("the stored tree is missing nodes: run mamori verify".to_owned()))
}

/// A [`NodeSource`] over a closure.
struct FnSource<'a>(&'a dyn Fn(u8, u64) -> Result<Hash, MissingNode>);

impl NodeSource for FnSource<'_> {
    type Error = MissingNode;
    fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        (self.0)(level, index)
    }
}

/// The root of the institution's log at `size` (at most its current size), from stored nodes.
///
/// # Errors
/// Store failures, or missing nodes.
pub async fn root_at(store: &dyn Store, institution: InstitutionId, size: u64) -> Result<Hash, CheckpointFailure> {
    with_stored_nodes(store, institution, |f| root(&FnSource(f), size)).await
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves, from stored nodes.
///
/// # Errors
/// Store failures, an index or size outside the log, or missing nodes.
pub async fn inclusion_proof(
    store: &dyn Store,
    institution: InstitutionId,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, CheckpointFailure> {
    with_stored_nodes(store, institution, |f| mamori_ledger::merkle::inclusion_proof(&FnSource(f), index, size)).await
}

/// The consistency proof from the tree of `old` leaves to the tree of `new`, from stored nodes.
///
/// # Errors
/// Store failures, sizes outside the log, or missing nodes.
pub async fn consistency_proof(
    store: &dyn Store,
    institution: InstitutionId,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, CheckpointFailure> {
    with_stored_nodes(store, institution, |f| mamori_ledger::merkle::consistency_proof(&FnSource(f), old, new)).await
}

/// The newest checkpoint file of an institution (by size), if any: its name and text.
#[must_use]
pub fn newest_file(data_dir: &Path, config: &ValidConfig, institution: InstitutionId) -> Option<(PathBuf, String)> {
    let dir = directory(data_dir, config, institution);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let path = files.pop()?;
    let text = std::fs::read_to_string(&path).ok()?;
    Some((path, text))
}

/// At start-up: the stored log must still contain the newest written checkpoint.
///
/// # Errors
/// A one-line message naming `mamori verify` when the checkpoint does not open with the
/// server's key, names a larger log than the database holds, or has another root.
pub async fn check_against_newest_file(
    store: &dyn Store,
    config: &ValidConfig,
    key: &CheckpointKey,
    data_dir: &Path,
    institution: InstitutionId,
) -> Result<(), String> {
    let Some((path, text)) = newest_file(data_dir, config, institution) else { return Ok(()) };
    let refuse = |what: &str| {
        format!(
            "監査ログが最後のチェックポイント {} と一致しません（{what}）。`mamori verify` で確認してください / the audit log does not match its last checkpoint {} ({what}): run `mamori verify`",
            path.display(),
            path.display()
        )
    };
    let verifier = verifier_key(config, key).map_err(|m| m.en)?;
    let checkpoint = Checkpoint::open_for_origin(&text, &origin(config, institution), std::slice::from_ref(&verifier))
        .map_err(|e| refuse(&e.to_string()))?;
    let head = store.log_head(institution).await.map_err(|e| e.to_string())?;
    if checkpoint.size() > head.size {
        return Err(refuse(&format!("{} leaves signed, {} stored", checkpoint.size(), head.size)));
    }
    let stored = root_at(store, institution, checkpoint.size()).await.map_err(|e| refuse(&e.to_string()))?;
    if &stored != checkpoint.root() {
        return Err(refuse("different root"));
    }
    Ok(())
}

/// Compares a record leaf with the stored version it names: the version must exist, read back,
/// point to this leaf and make exactly these bytes. Returns the problem, naming the record.
async fn check_record(
    store: &dyn Store,
    institution: InstitutionId,
    index: u64,
    leaf: &[u8],
) -> Result<Option<String>, CheckpointFailure> {
    let Ok(at) = mamori_core::record::leaf_ref(leaf) else {
        return Ok(Some(format!("leaf {index}: not a canonical record leaf")));
    };
    let name = format!("record {} version {}", at.record, at.version);
    if at.institution != institution {
        return Ok(Some(format!("leaf {index}: {name} names another institution")));
    }
    let stored = match store.record_version(institution, at.record, at.version).await {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(Some(format!("{name} (leaf {index}) is missing from the records"))),
        Err(mamori_store::StoreError::Corrupt { .. }) => {
            return Ok(Some(format!("{name} (leaf {index}): the stored version does not read back (changed)")));
        }
        Err(e) => return Err(e.into()),
    };
    if stored.leaf_index != Some(index) {
        return Ok(Some(format!("{name}: stored as leaf {:?}, found at leaf {index}", stored.leaf_index)));
    }
    // A final version's last save is its finalization (the one column not in the leaf).
    if stored.finalized_at != Some(stored.updated_at) {
        return Ok(Some(format!(
            "{name} (leaf {index}): the stored version differs from its leaf (updated_at changed)"
        )));
    }
    match stored.to_leaf() {
        Ok(bytes) if bytes == leaf => Ok(None),
        _ => Ok(Some(format!(
            "{name} (leaf {index}): the stored version differs from its leaf (content or metadata changed)"
        ))),
    }
}

/// What `mamori verify` found for one institution.
#[derive(Debug, Default, serde::Serialize)]
pub struct Verification {
    /// The institution.
    pub institution: String,
    /// Leaves checked.
    pub leaves: u64,
    /// Checkpoint files checked.
    pub checkpoints: u64,
    /// Finalized record versions checked against their leaves.
    pub records: u64,
    /// Every problem found (empty: the log is intact).
    pub problems: Vec<String>,
}

/// Verifies an institution's log from the bottom up: every leaf's bytes against its stored
/// hash and its canonical form (an audit event, or a finalized record version, which must
/// also match the version stored in the records tables byte for byte: any change to a stored
/// version's content or metadata is reported naming the record), the tree built from those leaves against
/// the stored head, every stored perfect-subtree node against the recomputed tree, and every
/// checkpoint file (signature, origin) against the tree at its size — a database truncated or
/// rewritten below a written checkpoint no longer matches it.
///
/// # Errors
/// Store failures (a problem with the data itself is reported in [`Verification::problems`]).
pub async fn verify(
    store: &dyn Store,
    config: &ValidConfig,
    key: &CheckpointKey,
    data_dir: &Path,
    institution: InstitutionId,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Verification, CheckpointFailure> {
    let mut report = Verification { institution: institution.to_string(), ..Verification::default() };
    let head = store.log_head(institution).await?;
    let mut tree = MemoryTree::new();
    let mut start = 0;
    while start < head.size {
        let page = store.log_leaves(institution, start, start.saturating_add(PAGE)).await?;
        if page.is_empty() {
            break;
        }
        let mut expected = start;
        for (index, leaf, stored) in &page {
            if *index != expected {
                let gap = if *index == expected + 1 {
                    format!("leaf {expected} is missing")
                } else {
                    format!("leaves {expected} to {} are missing", index - 1)
                };
                report.problems.push(gap);
            }
            expected = index + 1;
            let hash = leaf_hash(leaf);
            if hash.as_bytes() != stored {
                report.problems.push(format!("leaf {index}: content does not match its stored hash"));
            }
            match mamori_core::audit::leaf_kind(leaf).as_deref() {
                Some("audit") if AuditEvent::from_leaf(leaf).is_ok() => {}
                Some("audit") => report.problems.push(format!("leaf {index}: not a canonical audit event")),
                Some("record") => {
                    report.records += 1;
                    if let Some(problem) = check_record(store, institution, *index, leaf).await? {
                        report.problems.push(problem);
                    }
                }
                _ => report.problems.push(format!("leaf {index}: not a leaf mamori writes")),
            }
            tree.push(hash);
        }
        start = expected;
        progress(start.min(head.size), head.size);
    }
    report.leaves = tree.size();
    if tree.size() != head.size {
        report.problems.push(format!("the head says {} leaves, {} are stored", head.size, tree.size()));
    }
    let recomputed = root(&tree, tree.size()).map_err(|_| CheckpointFailure::Io("tree".into()))?;
    if recomputed.as_bytes() != &head.root {
        report.problems.push("the stored head's root does not match the leaves".to_owned());
    }
    let finals = store.final_version_count(institution).await?;
    if finals != report.records {
        report.problems.push(format!(
            "{finals} finalized record versions are stored, but the log holds {} (a version without its leaf)",
            report.records
        ));
    }
    check_nodes(store, institution, &tree, &mut report).await?;
    check_files(config, key, data_dir, institution, &tree, &mut report)?;
    Ok(report)
}

/// Compares a sample of stored perfect-subtree nodes (every node of the top levels and the
/// rightmost of each level) with the recomputed tree.
async fn check_nodes(
    store: &dyn Store,
    institution: InstitutionId,
    tree: &MemoryTree,
    report: &mut Verification,
) -> Result<(), CheckpointFailure> {
    use mamori_ledger::NodeSource as _;
    let size = tree.size();
    let mut addresses = Vec::new();
    let mut level: u8 = 0;
    while level < 64 && (1u64 << level) <= size {
        let count = size >> level;
        let first = count.saturating_sub(8);
        for index in first..count {
            addresses.push((level, index));
        }
        level += 1;
    }
    for chunk in addresses.chunks(1000) {
        let stored = store.log_nodes(institution, chunk).await?;
        for ((level, index), got) in chunk.iter().zip(stored) {
            let want = tree.node(*level, *index).ok();
            match (got, want) {
                (Some(got), Some(want)) if &got == want.as_bytes() => {}
                _ => report.problems.push(format!("node ({level}, {index}) does not match the leaves")),
            }
        }
    }
    Ok(())
}

fn check_files(
    config: &ValidConfig,
    key: &CheckpointKey,
    data_dir: &Path,
    institution: InstitutionId,
    tree: &MemoryTree,
    report: &mut Verification,
) -> Result<(), CheckpointFailure> {
    let verifier = verifier_key(config, key).map_err(CheckpointFailure::Format)?;
    let dir = directory(data_dir, config, institution);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(()) };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let want_origin = origin(config, institution);
    for path in files {
        report.checkpoints += 1;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let Ok(text) = std::fs::read_to_string(&path) else {
            report.problems.push(format!("checkpoint {name}: unreadable"));
            continue;
        };
        let checkpoint = match Checkpoint::open_for_origin(&text, &want_origin, std::slice::from_ref(&verifier)) {
            Ok(c) => c,
            Err(e) => {
                report.problems.push(format!("checkpoint {name}: {e}"));
                continue;
            }
        };
        if checkpoint.size() > tree.size() {
            report.problems.push(format!(
                "checkpoint {name}: the log had {} leaves, the database has {} (truncated)",
                checkpoint.size(),
                tree.size()
            ));
            continue;
        }
        match root(tree, checkpoint.size()) {
            Ok(r) if &r == checkpoint.root() => {}
            _ => report.problems.push(format!(
                "checkpoint {name}: the database's first {} leaves no longer have the signed root (rewritten)",
                checkpoint.size()
            )),
        }
    }
    Ok(())
}
