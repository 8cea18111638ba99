//! `mamori master import`: loads master data (drugs, diseases, lab items) from CSV.

use crate::serve::open_store;
use crate::terminal::institution;
use crate::{Failure, MasterArgs, MasterCommand, datadir};
use mamori_core::Clock;
use mamori_core::audit::Actor;
use mamori_server::masters::{ImportError, import};

/// `mamori master …`
#[allow(clippy::print_stdout)]
pub async fn command(args: MasterArgs) -> Result<(), Failure> {
    let MasterCommand::Import { target, file, sample } = args.command;
    let bytes = match (&file, sample) {
        (Some(path), _) => std::fs::read(path).map_err(|e| {
            Failure::refused(format!("{} を読めません（{e}） / cannot read {} ({e})", path.display(), path.display()))
        })?,
        (None, _) => mamori_core::master::SAMPLE_CSV.as_bytes().to_vec(),
    };
    let config = datadir::load_config(&target.data)?;
    let store = open_store(config.get(), &target.data).await?;
    let outcome = async {
        let inst = institution(&store, target.institution_id).await?;
        let now = mamori_server::SystemClock.now();
        import(store.as_ref(), inst, &bytes, Actor::Operator, now).await.map_err(|e| match e {
            ImportError::Refused(m) => Failure::refused(format!(
                "取り込みを中止しました（何も変更していません）: {} / import refused, nothing loaded: {}",
                m.ja, m.en
            )),
            ImportError::Failed(e) => Failure::failed(e),
        })
    }
    .await;
    store.close().await;
    let summary = outcome?;
    if target.json {
        println!("{}", serde_json::to_string(&summary).map_err(Failure::failed)?);
    } else {
        println!(
            "マスタを取り込みました / master imported: {} 行 rows, {} 件追加 added, {} 件変更なし unchanged",
            summary.rows, summary.added, summary.unchanged
        );
    }
    Ok(())
}
