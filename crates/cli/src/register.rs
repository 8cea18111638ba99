//! `mamori register import|export`: the compliance workbench's registers (台帳・一覧) at the
//! command line, as the operator (like `mamori master import`): import a CSV or xlsx file whole
//! (a bad line refuses the file with its number and reason, nothing imported), export a
//! register as CSV (the import's header) or JSON. Both are audit events.

use crate::serve::open_store;
use crate::terminal::institution;
use crate::{Failure, RegisterArgs, RegisterCommand, datadir};
use mamori_core::Clock;
use mamori_core::audit::{Actor, AuditEvent, Outcome};
use mamori_core::register::RegisterKind;
use mamori_server::registers;

fn kind_of(raw: &str) -> Result<RegisterKind, Failure> {
    raw.parse().map_err(|_| {
        let all = RegisterKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
        Failure::refused(format!("台帳「{raw}」はありません（{all}） / no register {raw} ({all})"))
    })
}

/// `mamori register …`
#[allow(clippy::print_stdout)]
pub async fn command(args: RegisterArgs) -> Result<(), Failure> {
    match args.command {
        RegisterCommand::Import { target, kind, file } => {
            let kind = kind_of(&kind)?;
            let bytes = std::fs::read(&file).map_err(|e| {
                Failure::refused(format!(
                    "{} を読めません（{e}） / cannot read {} ({e})",
                    file.display(),
                    file.display()
                ))
            })?;
            let config = datadir::load_config(&target.data)?;
            let store = open_store(config.get(), &target.data).await?;
            let outcome = async {
                let inst = institution(&store, target.institution_id).await?;
                let now = mamori_server::SystemClock.now();
                registers::import_as(store.as_ref(), inst, Actor::Operator, now, kind, &bytes).await.map_err(|e| {
                    if e.status().is_client_error() {
                        let m = e.message();
                        Failure::refused(format!(
                            "取り込みを中止しました（何も変更していません）: {} / import refused, nothing loaded: {}",
                            m.ja, m.en
                        ))
                    } else {
                        Failure::failed(format!("取り込めません / cannot import: {}", e.message().en))
                    }
                })
            }
            .await;
            store.close().await;
            let added = outcome?;
            if target.json {
                println!("{}", serde_json::json!({"kind": kind.as_str(), "added": added}));
            } else {
                println!("{}に取り込みました / imported into {}: {added} 件 entries", kind.label_ja(), kind.as_str());
            }
            Ok(())
        }
        RegisterCommand::Export { target, kind, format } => {
            let kind = kind_of(&kind)?;
            if format != "csv" && format != "json" {
                return Err(Failure::refused("--format は csv か json です / --format is csv or json"));
            }
            let config = datadir::load_config(&target.data)?;
            let store = open_store(config.get(), &target.data).await?;
            let outcome = async {
                let inst = institution(&store, target.institution_id).await?;
                let all = store.register_entries(inst, kind).await.map_err(Failure::failed)?;
                let now = mamori_core::clock::to_micros(mamori_server::SystemClock.now());
                let event = AuditEvent::new(inst, now, Actor::Operator, "compliance.register.read", Outcome::Allowed)
                    .resource(format!("register:{kind}"))
                    .detail("kind", kind.as_str())
                    .detail("export", format.clone());
                let entry = event.entry().map_err(|m| Failure::failed(m.en))?;
                store.append_log(inst, &[entry]).await.map_err(Failure::failed)?;
                Ok::<_, Failure>(all)
            }
            .await;
            store.close().await;
            let all = outcome?;
            if format == "csv" {
                print!("{}", registers::to_csv(kind, &all));
            } else {
                let rows: Vec<serde_json::Value> = all
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "id": e.id.to_string(),
                            "version": e.version,
                            "retired": e.retired,
                            "fields": e.fields,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            }
            Ok(())
        }
    }
}
