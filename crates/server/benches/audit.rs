//! Benchmark (not a test): audit events appended per second through the append path the
//! request handlers use (canonical encoding, leaf and node hashes, one SQLite transaction per
//! event), and `verify`'s throughput as a ratio of raw SHA-256 over the same leaf bytes.
//!
//! `cargo bench -p mamori-server --bench audit` (optionally `-- EVENTS`, default 5000).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::indexing_slicing)]

use mamori_core::audit::{Actor, AuditEvent, Outcome};
use mamori_core::config::Config;
use mamori_core::{Institution, InstitutionId, InstitutionName, Role, UserId};
use mamori_store::Store as _;
use sha2::Digest as _;
use std::time::Instant;

fn main() {
    let events: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(events));
}

async fn run(events: u64) {
    let dir = std::env::temp_dir().join(format!("mamori-bench-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = mamori_store::SqliteStore::open(&dir.join("mamori.db"), 4).await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    let institution = Institution {
        id: InstitutionId::generate(&mut rand_core::OsRng),
        name: InstitutionName::parse("ベンチマーク診療所").unwrap(),
        created_at: mamori_core::clock::to_micros(now),
    };
    store.create_institution(&institution).await.unwrap();
    let user = UserId::generate(&mut rand_core::OsRng);

    let start = Instant::now();
    for i in 0..events {
        let event = AuditEvent::new(
            institution.id,
            time::OffsetDateTime::now_utc(),
            Actor::User { user, roles: vec![Role::Doctor] },
            "login",
            Outcome::Allowed,
        )
        .detail("factor", "totp")
        .detail("n", i.to_string());
        store.append_log(institution.id, &[event.entry().unwrap()]).await.unwrap();
    }
    let append = start.elapsed();
    println!(
        "append: {events} events in {:.2} s = {:.0} events/s (one transaction each, SQLite WAL, synchronous=FULL)",
        append.as_secs_f64(),
        events as f64 / append.as_secs_f64()
    );

    let config = Config::default().validate().unwrap();
    let key = mamori_crypto::CheckpointKey::generate(&mut rand_core::OsRng);
    let start = Instant::now();
    let report =
        mamori_server::checkpoints::verify(&store, &config, &key, &dir, institution.id, &|_, _| {}).await.unwrap();
    let verify = start.elapsed();
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    let leaves = store.log_leaves(institution.id, 0, events).await.unwrap();
    let bytes: usize = leaves.iter().map(|(_, leaf, _)| leaf.len()).sum();
    let start = Instant::now();
    let mut hasher = sha2::Sha256::new();
    for (_, leaf, _) in &leaves {
        hasher.update(leaf);
    }
    let digest = hasher.finalize();
    let raw = start.elapsed();
    let mb = bytes as f64 / 1e6;
    println!(
        "verify: {} leaves, {:.2} MB in {:.3} s = {:.1} MB/s; raw SHA-256 over the same bytes: {:.4} s = {:.1} MB/s; ratio (verify time / SHA-256 time) = {:.0}x (digest {:02x}{:02x}…)",
        report.leaves,
        mb,
        verify.as_secs_f64(),
        mb / verify.as_secs_f64(),
        raw.as_secs_f64(),
        mb / raw.as_secs_f64(),
        verify.as_secs_f64() / raw.as_secs_f64(),
        digest[0],
        digest[1]
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
