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
        let mut reports = Vec::new();
        for inst in institutions {
            reports.push(
                checkpoints::verify(store.as_ref(), &config, &key, &args.target.data, inst)
                    .await
                    .map_err(Failure::failed)?,
            );
        }
        let problems: usize = reports.iter().map(|r| r.problems.len()).sum();
        if args.target.json {
            println!("{}", serde_json::json!({ "ok": problems == 0, "institutions": reports }));
        } else {
            for r in &reports {
                println!(
                    "{}: 葉 {} 件・チェックポイント {} 件を検証 / {} leaves and {} checkpoint files checked",
                    r.institution, r.leaves, r.checkpoints, r.leaves, r.checkpoints
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
