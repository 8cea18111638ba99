//! `mamori assessment report`: an assessment's self-inspection report as PDF, xlsx (the
//! checklist layout) or OSCAL assessment-results, written to a file.

use crate::serve::open_store;
use crate::terminal::institution;
use crate::{AssessmentArgs, AssessmentCommand, Failure, datadir};
use mamori_core::Clock;
use mamori_server::reports::{FontPaths, ReportFormat, operator_report};

/// `mamori assessment …`
#[allow(clippy::print_stdout)]
pub async fn command(args: AssessmentArgs) -> Result<(), Failure> {
    let AssessmentCommand::Report { target, assessment, format, out, gothic_font, mincho_font } = args.command;
    let format: ReportFormat = format.parse().map_err(|()| {
        Failure::refused("--format: pdf, xlsx, oscal のいずれかを指定してください / --format: one of pdf, xlsx, oscal")
    })?;
    let config = datadir::load_config(&target.data)?;
    let configured = FontPaths::from(&config.get().reports);
    let fonts = FontPaths {
        gothic: gothic_font.unwrap_or(configured.gothic),
        mincho: mincho_font.unwrap_or(configured.mincho),
    };
    if format == ReportFormat::Pdf {
        for path in [&fonts.gothic, &fonts.mincho] {
            if !path.is_file() {
                return Err(Failure::refused(format!(
                    "フォント {} がありません。fonts-ipaexfont をインストールするか、mamori.toml の [reports] か --gothic-font / --mincho-font で指定してください / the font {} is missing; install fonts-ipaexfont, set [reports] in mamori.toml or pass --gothic-font / --mincho-font",
                    path.display(),
                    path.display()
                )));
            }
        }
    }
    let inactive = config.get().accounts.inactive_after.0;
    let store = open_store(config.get(), &target.data).await?;
    let outcome = async {
        let inst = institution(&store, target.institution_id).await?;
        let now = mamori_server::SystemClock.now();
        operator_report(store.as_ref(), inst, now, assessment, inactive, format, &fonts).await.map_err(|e| {
            let m = e.message();
            if e.status().is_client_error() {
                Failure::refused(format!("{} / {}", m.ja, m.en))
            } else {
                Failure::failed(format!("{} / {}", m.ja, m.en))
            }
        })
    }
    .await;
    store.close().await;
    let bytes = outcome?;
    std::fs::write(&out, &bytes).map_err(|e| {
        Failure::failed(format!("{} に書けません（{e}） / cannot write {} ({e})", out.display(), out.display()))
    })?;
    if target.json {
        println!(
            "{}",
            serde_json::json!({"format": format.as_str(), "out": out.display().to_string(), "bytes": bytes.len()})
        );
    } else {
        println!(
            "{} を書きました（{} バイト） / wrote {} ({} bytes)",
            out.display(),
            bytes.len(),
            out.display(),
            bytes.len()
        );
    }
    Ok(())
}
