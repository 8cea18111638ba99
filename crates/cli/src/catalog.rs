//! `mamori catalog`: the guideline catalogs shipped as data (`mamori_compliance`).

use crate::{CatalogArgs, CatalogCommand, Failure};

/// `mamori catalog …`
#[allow(clippy::print_stdout)]
pub fn command(args: &CatalogArgs) -> Result<(), Failure> {
    let (json, catalog) = match &args.command {
        CatalogCommand::List { json, catalog } => (json, catalog),
        CatalogCommand::Export { format, catalog } => return export(format, catalog),
    };
    let mut items = mamori_compliance::list().map_err(Failure::failed)?;
    if let Some(only) = catalog {
        find(only)?;
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

fn find(id: &str) -> Result<mamori_compliance::Catalog, Failure> {
    let known = mamori_compliance::catalogs().map_err(Failure::failed)?;
    let ids: Vec<String> = known.iter().map(|c| c.catalog.id.clone()).collect();
    known.into_iter().find(|c| c.catalog.id == id).ok_or_else(|| {
        Failure::refused(format!(
            "カタログ「{id}」はありません（{}） / no catalog '{id}' (one of: {})",
            ids.join(", "),
            ids.join(", ")
        ))
    })
}

/// `mamori catalog export --format oscal --catalog ID`
#[allow(clippy::print_stdout)]
fn export(format: &str, id: &str) -> Result<(), Failure> {
    if format != "oscal" {
        return Err(Failure::refused(format!(
            "形式「{format}」には対応していません（oscal） / unknown format '{format}' (oscal)"
        )));
    }
    let catalog = find(id)?;
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid().hyphenated().to_string();
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(Failure::failed)?;
    let doc = mamori_compliance::oscal::catalog(&catalog, &uuid, &now);
    println!("{}", serde_json::to_string_pretty(&doc).map_err(Failure::failed)?);
    Ok(())
}
