//! `mamori catalog`: the guideline catalogs shipped as data (`mamori_compliance`).

use crate::{CatalogArgs, CatalogCommand, Failure};

/// `mamori catalog …`
#[allow(clippy::print_stdout)]
pub fn command(args: &CatalogArgs) -> Result<(), Failure> {
    let CatalogCommand::List { json, catalog } = &args.command;
    let mut items = mamori_compliance::list().map_err(Failure::failed)?;
    if let Some(only) = catalog {
        let known = mamori_compliance::catalogs().map_err(Failure::failed)?;
        if !known.iter().any(|c| &c.catalog.id == only) {
            let ids: Vec<String> = known.iter().map(|c| c.catalog.id.clone()).collect();
            return Err(Failure::refused(format!(
                "カタログ「{only}」はありません（{}） / no catalog '{only}' (one of: {})",
                ids.join(", "),
                ids.join(", ")
            )));
        }
        items.retain(|i| &i.catalog == only);
    }
    if *json {
        println!("{}", serde_json::to_string(&items).map_err(Failure::failed)?);
    } else {
        for i in &items {
            println!("{}\t{}\t{}", i.id, i.number, i.text);
        }
    }
    Ok(())
}
