//! `mamori checkpoint` and `mamori verify`: the tamper-evident log from the server's side.
//! `checkpoint` prints an institution's latest signed checkpoint (or the server's verifier key,
//! or writes the checkpoint file now); `verify` checks every institution's log against its
//! leaves and the checkpoint files written outside the database.

use crate::datadir;
use crate::serve::{load_checkpoint_key, open_store};
use crate::terminal::institution;
use crate::{CheckpointArgs, Failure, VerifyArgs};
use mamori_server::checkpoints;

/// `mamori checkpoint`
#[allow(clippy::print_stdout)]
pub async fn checkpoint(args: CheckpointArgs) -> Result<(), Failure> {
    let config = datadir::load_config(&args.target.data)?;
    let key = load_checkpoint_key(&args.target.data, config.get())?;
    if args.verifier_key {
        let verifier = checkpoints::verifier_key(&config, &key).map_err(|m| Failure::failed(m.en))?;
        println!("{verifier}");
        return Ok(());
    }
    let store = open_store(config.get(), &args.target.data).await?;
    let result = async {
        let inst = institution(&store, args.target.institution_id).await?;
        if args.write {
            let (head, written) = checkpoints::write_file(store.as_ref(), &config, &key, &args.target.data, inst)
                .await
                .map_err(Failure::failed)?;
            let dir = checkpoints::directory(&args.target.data, &config, inst);
            tracing::info!(size = head.size, written, dir = %dir.display(), "checkpoint file");
        }
        let (head, note) = checkpoints::latest(store.as_ref(), &config, &key, inst).await.map_err(Failure::failed)?;
        if args.target.json {
            let root: String = head.root.iter().map(|b| format!("{b:02x}")).collect();
            println!("{}", serde_json::json!({ "size": head.size, "root_hex": root, "note": note }));
        } else {
            print!("{note}");
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
}

/// `mamori verify`: exit 0 when every log is intact, 1 with the problems otherwise.
#[allow(clippy::print_stdout)]
pub async fn verify(args: VerifyArgs) -> Result<(), Failure> {
    let config = datadir::load_config(&args.target.data)?;
    let key = load_checkpoint_key(&args.target.data, config.get())?;
    let store = open_store(config.get(), &args.target.data).await?;
    let result = async {
        let institutions = match args.target.institution_id {
            Some(id) => vec![institution(&store, Some(id)).await?],
            None => store.institutions().await.map_err(Failure::failed)?.into_iter().map(|i| i.id).collect(),
        };
        let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let mut reports = Vec::new();
        for inst in institutions {
            bar.set_message(inst.to_string());
            let progress = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            let mut report = checkpoints::verify(store.as_ref(), &config, &key, &args.target.data, inst, &progress)
                .await
                .map_err(Failure::failed)?;
            if let Some(file) = &args.checkpoint {
                check_older(store.as_ref(), &config, &key, inst, file, &mut report).await?;
            }
            reports.push(report);
        }
        bar.finish_and_clear();
        let problems: usize = reports.iter().map(|r| r.problems.len()).sum();
        if args.target.json {
            println!("{}", serde_json::json!({ "ok": problems == 0, "institutions": reports }));
        } else {
            for r in &reports {
                println!(
                    "{}: 葉 {} 件（確定記録 {} 版）・チェックポイント {} 件を検証 / {} leaves ({} finalized record versions) and {} checkpoint files checked",
                    r.institution, r.leaves, r.records, r.checkpoints, r.leaves, r.records, r.checkpoints
                );
                for p in &r.problems {
                    println!("  改ざんの疑い / tampering suspected: {p}");
                }
            }
        }
        if problems == 0 {
            Ok(())
        } else {
            Err(Failure::failed(format!(
                "監査ログの検証で {problems} 件の問題が見つかりました / verification found {problems} problem(s)"
            )))
        }
    }
    .await;
    store.close().await;
    result
}

/// `--checkpoint FILE`: the given (older) checkpoint of this institution's log must open with
/// the server's key, and a consistency proof from its size to the current size, computed from
/// the stored nodes, must lead from its root to the current root (the log only grew).
async fn check_older(
    store: &dyn mamori_store::Store,
    config: &mamori_core::config::ValidConfig,
    key: &mamori_crypto::CheckpointKey,
    institution: mamori_core::InstitutionId,
    file: &std::path::Path,
    report: &mut checkpoints::Verification,
) -> Result<(), Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Failure::refused(format!("{} を読めません / cannot read {}: {e}", file.display(), file.display()))
    })?;
    let origin = checkpoints::origin(config, institution);
    // A checkpoint of another institution's log is not this log's business.
    if text.lines().next() != Some(origin.as_str()) {
        return Ok(());
    }
    let verifier = checkpoints::verifier_key(config, key).map_err(|m| Failure::failed(m.en))?;
    let name = file.display();
    let checkpoint = match mamori_ledger::Checkpoint::open_for_origin(&text, &origin, std::slice::from_ref(&verifier)) {
        Ok(c) => c,
        Err(e) => {
            report.problems.push(format!("checkpoint {name}: {e}"));
            return Ok(());
        }
    };
    let head = store.log_head(institution).await.map_err(Failure::failed)?;
    if checkpoint.size() > head.size {
        report.problems.push(format!(
            "checkpoint {name}: the log had {} leaves, the database has {} (truncated)",
            checkpoint.size(),
            head.size
        ));
        return Ok(());
    }
    let proof = checkpoints::consistency_proof(store, institution, checkpoint.size(), head.size).await;
    let verified = proof.ok().is_some_and(|proof| {
        mamori_ledger::merkle::verify_consistency(
            checkpoint.size(),
            head.size,
            checkpoint.root(),
            &mamori_ledger::Hash::from_bytes(head.root),
            &proof,
        )
        .is_ok()
    });
    if verified {
        report.checkpoints += 1;
    } else {
        report.problems.push(format!(
            "checkpoint {name}: no consistency proof from its {} leaves to the current {} (history rewritten)",
            checkpoint.size(),
            head.size
        ));
    }
    Ok(())
}
