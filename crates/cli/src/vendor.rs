//! `mamori vendor`: vendors' MDS/SDS disclosures at the command line — import a vendor's filled
//! form (CSV or xlsx) for the operator, or write the blank form.

use crate::serve::open_store;
use crate::terminal::institution;
use crate::{Failure, VendorArgs, VendorCommand, datadir};
use mamori_core::Clock;
use mamori_server::error::ApiError;
use mamori_server::vendors::{NewDisclosure, import_as_operator, template_csv, template_xlsx};

fn refused_or_failed(e: &ApiError) -> Failure {
    let m = e.message();
    if e.status().is_client_error() {
        Failure::refused(format!(
            "取り込みを中止しました（何も記録していません）: {} / import refused, nothing recorded: {}",
            m.ja, m.en
        ))
    } else {
        Failure::failed(format!("{} / {}", m.ja, m.en))
    }
}

/// `mamori vendor …`
#[allow(clippy::print_stdout)]
pub async fn command(args: VendorArgs) -> Result<(), Failure> {
    match args.command {
        VendorCommand::Template { catalog, format, out } => {
            let bytes = match format.as_str() {
                "csv" => template_csv(&catalog),
                "xlsx" if out.is_none() => {
                    return Err(Failure::refused("xlsx には --out が必要です / xlsx needs --out"));
                }
                "xlsx" => template_xlsx(&catalog),
                _ => return Err(Failure::refused("--format は csv か xlsx です / --format is csv or xlsx")),
            }
            .map_err(|e| {
                let m = e.message();
                Failure::refused(format!("{} / {}", m.ja, m.en))
            })?;
            match out {
                Some(path) => std::fs::write(&path, bytes).map_err(|e| {
                    Failure::failed(format!(
                        "{} に書けません（{e}） / cannot write {} ({e})",
                        path.display(),
                        path.display()
                    ))
                }),
                None => {
                    use std::io::Write as _;
                    std::io::stdout().write_all(&bytes).map_err(Failure::failed)
                }
            }
        }
        VendorCommand::Import {
            target,
            file,
            vendor,
            product,
            product_version,
            catalog,
            jahis_version,
            received_on,
            notes,
        } => {
            let bytes = std::fs::read(&file).map_err(|e| {
                Failure::refused(format!(
                    "{} を読めません（{e}） / cannot read {} ({e})",
                    file.display(),
                    file.display()
                ))
            })?;
            let received_on = mamori_core::master::parse_date(&received_on)
                .map_err(|m| Failure::refused(format!("--received-on: {} / {}", m.ja, m.en)))?;
            let new = NewDisclosure { vendor, product, product_version, catalog, jahis_version, received_on, notes };
            let config = datadir::load_config(&target.data)?;
            let store = open_store(config.get(), &target.data).await?;
            let outcome = async {
                let inst = institution(&store, target.institution_id).await?;
                let now = mamori_server::SystemClock.now();
                import_as_operator(store.as_ref(), inst, now, new, &bytes).await.map_err(|e| refused_or_failed(&e))
            }
            .await;
            store.close().await;
            let recorded = outcome?;
            let [yes, no, not_applicable] = recorded.answers;
            if target.json {
                let summary = serde_json::json!({
                    "id": recorded.disclosure.id.to_string(),
                    "catalog": recorded.disclosure.catalog,
                    "generation": recorded.disclosure.generation,
                    "yes": yes,
                    "no": no,
                    "not_applicable": not_applicable,
                    "risks": recorded.risks.len(),
                });
                println!("{summary}");
            } else {
                println!(
                    "開示書を記録しました / disclosure recorded: {} （はい {yes}、いいえ {no}、対象外 {not_applicable}、リスク記録 {} 件 / risk records opened）",
                    recorded.disclosure.id,
                    recorded.risks.len()
                );
            }
            Ok(())
        }
    }
}
